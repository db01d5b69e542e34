/*
 * git — an app's bare repository under $BERTHD_STATE_DIR/repos, the push
 * that deploys it, and the app settings a push reads.
 *
 * git-receive-pack: the key needs deploy on the app; admin, or a deploy
 * grant on the name, may create the app with its first push. The repository
 * is created then, with a pre-receive hook that runs `berthd hook
 * pre-receive`, and git receive-pack is exec'd on it (an argv, no shell).
 * berthd's own directory goes in front of PATH so that the hook finds this
 * berthd, and BERTHD_KEY and BERTHD_STATE_DIR reach the hook through the
 * environment.
 *
 * The hook deploys a push of the deploy branch (the app's, else main or
 * master): push_build, then a release through appdeploy, under the app's
 * lock. When either fails it prints " !     " lines and exits 1, and git
 * refuses the push ("pre-receive hook declined"). A push of another branch
 * is taken without a deploy.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/push.h"
#include "daemon/sshcmd.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

static const char hook_text[] = "#!/bin/sh\nexec berthd hook pre-receive\n";

int bd_repo_ensure(struct bd *bd, const char *app, const char *dir, struct err *e)
{
	char *repos = bd_path(bd, "repos"), *hook = NULL;
	struct stat st;
	int r = -1;

	if (mkdir(repos, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", repos, strerror(errno));
		goto out;
	}
	if (stat(dir, &st) < 0) {
		struct run_cmd c = RUN_CMD_INIT;
		strvec_pushv(&c.argv,
			     (const char *[]){"git", "init", "--bare", "--quiet", dir, NULL});
		c.out = RUN_IO_CAPTURE;
		c.err = RUN_IO_CAPTURE;
		if (run_one(&c) < 0) {
			err_set(e, "cannot create the repository of %s: %s", app, c.errbuf.buf);
			run_cmd_release(&c);
			goto out;
		}
		run_cmd_release(&c);
	}
	hook = bd_path(bd, "repos/%s.git/hooks/pre-receive", app);
	if (file_write_atomic(hook, hook_text, sizeof(hook_text) - 1, 0755, e) < 0) {
		goto out;
	}
	r = 0;
out:
	free(repos);
	free(hook);
	return r;
}

/* Puts the directory of this berthd in front of PATH, for the hook. */
static void path_with_self(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *path = getenv("PATH");
	struct sbuf sb = SBUF_INIT;
	char *slash;

	if (n <= 0) {
		return;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash) {
		return;
	}
	*slash = '\0';
	sbuf_addf(&sb, "%s:%s", self, path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	setenv("PATH", sb.buf, 1);
	sbuf_release(&sb);
}

/* Replaces berthd with `git PACK DIR`; returns only on failure. */
static int exec_git(struct bd *bd, const char *pack, const char *dir)
{
	const char *argv[] = {"git", pack, dir, NULL};

	setenv("BERTHD_STATE_DIR", bd->state_dir, 1);
	if (bd->key) {
		setenv("BERTHD_KEY", bd->key, 1);
	} else {
		unsetenv("BERTHD_KEY");
	}
	path_with_self();
	fflush(stdout);
	fflush(stderr);
	store_close(&bd->store);
	execvp(argv[0], (char *const *)argv);
	return bd_fail("cannot run git %s: %s", pack, strerror(errno));
}

int cmd_git_receive_pack(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	const char *app = argv[1];
	char *dir = NULL;
	int rc = 1;

	if (argc != 2 || !sshcmd_valid_app(app)) {
		return bd_fail("invalid repository");
	}
	if (!bd_can(bd, app, BD_DEPLOY)) {
		return bd_fail("permission denied");
	}
	/* stdout is git's protocol from here on: people's lines go to stderr. */
	if (!store_app_exists(&bd->store, app)) {
		fprintf(stderr, "-----> Creating %s...\n", app);
		if (store_app_create(&bd->store, app, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		bd_event(bd, app, "apps:create", NULL);
	}
	dir = bd_path(bd, "repos/%s.git", app);
	if (bd_repo_ensure(bd, app, dir, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	rc = exec_git(bd, "receive-pack", dir);
out:
	free(dir);
	err_release(&e);
	return rc;
}

int cmd_git_upload_pack(struct bd *bd, int argc, const char **argv)
{
	const char *app = argv[1];
	struct stat st;
	char *dir = NULL;
	int rc;

	if (argc != 2 || !sshcmd_valid_app(app)) {
		return bd_fail("invalid repository");
	}
	if (!bd_can(bd, app, BD_READ)) {
		return bd_fail("permission denied");
	}
	dir = bd_path(bd, "repos/%s.git", app);
	if (!store_app_exists(&bd->store, app) || stat(dir, &st) < 0) {
		free(dir);
		bd_fail("App %s does not exist", app);
		return BD_EXIT_NO_APP;
	}
	rc = exec_git(bd, "upload-pack", dir);
	free(dir);
	return rc;
}

static void progress_out(const char *line, void *data)
{
	(void)data;
	printf("%s\n", line);
	fflush(stdout);
}

/*
 * The app of the repository the hook runs in: GIT_DIR (or the cwd) is
 * .../APP.git. GIT_DIR is made absolute on the way ("." from git), so that
 * the build's git commands find the repository from any directory (the
 * push's objects stay reachable through git's quarantine variables).
 */
static char *hook_app(void)
{
	const char *gd = getenv("GIT_DIR");
	char buf[PATH_MAX], *base, *app = NULL;
	size_t n;

	if (!realpath(gd && *gd ? gd : ".", buf)) {
		return NULL;
	}
	setenv("GIT_DIR", buf, 1);
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".git")) {
		app = xstrndup(base, n - 4);
	}
	if (app && !sshcmd_valid_app(app)) {
		free(app);
		app = NULL;
	}
	return app;
}

static bool is_deploy_branch(const struct store_app *a, const char *ref)
{
	if (strncmp(ref, "refs/heads/", 11)) {
		return false;
	}
	ref += 11;
	if (a->branch) {
		return !strcmp(ref, a->branch);
	}
	return !strcmp(ref, "main") || !strcmp(ref, "master");
}

static bool is_zero(const char *rev)
{
	return strspn(rev, "0") == strlen(rev);
}

int bd_build_deploy(struct bd *bd, const struct store_app *a, const char *rev)
{
	struct push_result pr = {0};
	struct push_opts po = {0};
	struct err e = ERR_INIT;
	char *dir = bd_path(bd, "repos/%s.git", a->name);
	int rc = 1;

	po.app = a->name;
	po.git_dir = dir;
	po.rev = rev;
	po.dockerfile = a->dockerfile;
	po.progress = progress_out;
	bd_step(bd, "Building %s from %.12s", a->name, rev);
	if (push_build(&po, &pr, &e) < 0) {
		bd_event(bd, a->name, "build-failed", rev);
		rc = bd_fail_err(&e);
		goto out;
	}
	if (appdeploy_run(bd, a->name, pr.image, pr.version, rev, &pr, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (a->image_source) {
		store_app_set(&bd->store, a->name, STORE_APP_IMAGE_SOURCE, NULL, NULL);
	}
	rc = 0;
out:
	push_result_release(&pr);
	free(dir);
	err_release(&e);
	return rc;
}

/* Builds and deploys rev of app under the app's lock; 0, or 1 (printed). */
static int deploy_push(struct bd *bd, const struct store_app *a, const char *rev)
{
	struct err e = ERR_INIT;
	int lock, rc;

	lock = appdeploy_lock(bd, a->name, "git push", &e);
	rc = lock < 0 ? bd_fail_err(&e) : bd_build_deploy(bd, a, rev);
	appdeploy_unlock(lock);
	err_release(&e);
	return rc;
}

int bd_hook_pre_receive(struct bd *bd)
{
	const char *key = getenv("BERTHD_KEY");
	struct store_app a = {0};
	struct sbuf in = SBUF_INIT;
	struct slice rest;
	char *app = hook_app(), *deploy_rev = NULL;
	int rc = 1;

	bd->key = key && *key ? key : NULL;
	bd->admin = !bd->key;
	if (!app || store_app_get(&bd->store, app, &a, NULL) != 1) {
		rc = bd_fail("this repository is not an app's");
		goto out;
	}
	if (sbuf_read_fd(&in, 0) < 0) {
		rc = bd_fail("cannot read the pushed refs: %s", strerror(errno));
		goto out;
	}
	rest = slice_make(in.buf, in.len);
	while (rest.ptr) {
		struct slice line = slice_next(&rest, '\n'), oldr, newr, ref;
		char *n, *r;

		oldr = slice_next_word(&line);
		newr = slice_next_word(&line);
		ref = slice_trim(line);
		if (!oldr.len || !newr.len || !ref.len) {
			continue;
		}
		n = slice_dup(newr);
		r = slice_dup(ref);
		if (!is_deploy_branch(&a, r)) {
			bd_step(bd, "%s is not the deploy branch (%s): pushed, not deployed", r,
				a.branch ? a.branch : "main or master");
		} else if (is_zero(n)) {
			bd_step(bd, "%s deleted: nothing to deploy", r);
		} else {
			free(deploy_rev);
			deploy_rev = xstrdup(n);
		}
		free(n);
		free(r);
	}
	rc = deploy_rev ? deploy_push(bd, &a, deploy_rev) : 0;
out:
	store_app_release(&a);
	sbuf_release(&in);
	free(app);
	free(deploy_rev);
	return rc;
}

/* An image reference: registry/name:tag@digest characters, not an option. */
static bool valid_image(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 512 || s[0] == '-') {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._/:@-", c))) {
			return false;
		}
	}
	return true;
}

/* Runs `docker image inspect` for image's id, into id (when found). */
static int inspect(const char *image, struct sbuf *id)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, (const char *[]){"docker", "image", "inspect", "--format", "{{.Id}}",
					       "--", image, NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	r = run_one(&c);
	if (r == 0) {
		sbuf_add(id, c.outbuf.buf, c.outbuf.len);
		sbuf_trim(id);
	}
	run_cmd_release(&c);
	return r;
}

/* The image's id in the local dockerd (pulled when missing), into id. 0, or -1. */
static int image_id(struct bd *bd, const char *image, struct sbuf *id, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r = -1;

	if (inspect(image, id) == 0) {
		return 0;
	}
	bd_step(bd, "Pulling %s", image);
	strvec_pushv(&c.argv, (const char *[]){"docker", "pull", "--", image, NULL});
	c.out = RUN_IO_NULL;
	c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		struct slice t = run_tail_lines(&c.errbuf, 3);
		err_set(e, "cannot pull '%s': %.*s", image, (int)t.len, t.ptr);
		goto out;
	}
	if (inspect(image, id) < 0) {
		err_set(e, "image '%s' is not in this host's docker", image);
		goto out;
	}
	r = 0;
out:
	run_cmd_release(&c);
	return r;
}

int cmd_git_from_image(struct bd *bd, int argc, const char **argv)
{
	struct sbuf id = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *hex;
	char *version = NULL;
	int rc = 1, lock = -1;

	if (argc != 3) {
		return bd_usage("git:from-image APP IMAGE");
	}
	if (!valid_image(argv[2])) {
		return bd_fail("invalid image '%s'", argv[2]);
	}
	lock = appdeploy_lock(bd, argv[1], "git:from-image", &e);
	if (lock < 0 || image_id(bd, argv[2], &id, &e) < 0 ||
	    store_app_set(&bd->store, argv[1], STORE_APP_IMAGE_SOURCE, argv[2], &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, argv[1], "git:from-image", argv[2]);
	hex = strchr(id.buf, ':') ? strchr(id.buf, ':') + 1 : id.buf;
	version = xstrndup(hex, 12);
	if (appdeploy_run(bd, argv[1], argv[2], version, NULL, NULL, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	rc = 0;
out:
	appdeploy_unlock(lock);
	sbuf_release(&id);
	free(version);
	err_release(&e);
	return rc;
}

/* A path inside the repository: relative, no "..", plain characters. */
static bool valid_repo_path(const char *p)
{
	size_t n = strlen(p);

	if (!n || n > 255 || p[0] == '/' || p[0] == '-' || strstr(p, "..")) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._/-", c))) {
			return false;
		}
	}
	return true;
}

int cmd_builder_set(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	int rc = 0;

	if ((argc != 3 && argc != 4) || strcmp(argv[2], "dockerfile-path")) {
		return bd_usage("builder:set APP dockerfile-path [PATH] (no PATH: Dockerfile)");
	}
	if (argc == 4 && !valid_repo_path(argv[3])) {
		return bd_fail("invalid dockerfile path '%s' (a path inside the repository)",
			       argv[3]);
	}
	if (store_app_set(&bd->store, argv[1], STORE_APP_DOCKERFILE, argc == 4 ? argv[3] : NULL,
			  &e) < 0) {
		rc = bd_fail_err(&e);
	} else {
		bd_step(bd, "Set dockerfile-path to %s for %s", argc == 4 ? argv[3] : "Dockerfile",
			argv[1]);
		bd_event(bd, argv[1], "builder:set", "dockerfile-path");
	}
	err_release(&e);
	return rc;
}

int cmd_git_set(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	int rc = 0;

	if ((argc != 3 && argc != 4) || strcmp(argv[2], "deploy-branch")) {
		return bd_usage("git:set APP deploy-branch [BRANCH] (no BRANCH: main or master)");
	}
	if (argc == 4 && (!valid_repo_path(argv[3]) || strchr(argv[3], '/') == argv[3])) {
		return bd_fail("invalid branch '%s'", argv[3]);
	}
	if (store_app_set(&bd->store, argv[1], STORE_APP_BRANCH, argc == 4 ? argv[3] : NULL, &e) <
	    0) {
		rc = bd_fail_err(&e);
	} else {
		bd_step(bd, "Set deploy-branch to %s for %s",
			argc == 4 ? argv[3] : "main or master", argv[1]);
		bd_event(bd, argv[1], "git:set", "deploy-branch");
	}
	err_release(&e);
	return rc;
}
