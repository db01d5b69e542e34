/*
 * git:sync — Dokku's `git:sync [--build|--build-if-changes] APP REPOSITORY
 * [GIT_REF]`: fetches GIT_REF of REPOSITORY (the remote's default branch
 * without one) into the app's repository and points the app's deploy
 * branch at it; with --build it then builds and deploys that revision as a
 * push does (bd_build_deploy: the same "-----> " lines; a failed build or
 * health check leaves the old version serving, exit 1, and the branch where
 * it was), and --build-if-changes does so only when the revision is not the
 * one deployed. With either, an app that does not exist is created, as a
 * first push creates it (BD_NEW_APP: admin, or a deploy grant on the name);
 * without, the app must exist. The whole runs under the app's lock.
 *
 * What the client gives is checked first (daemon/gitsync.h); nothing
 * changes when it is refused. git runs inside berthd (its container on a
 * server) as an argv, never through a shell.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/gitsync.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

static const char usage[] = "git:sync [--build|--build-if-changes] APP REPOSITORY [GIT_REF]";

#define FETCH_TIMEOUT_MS (10 * 60 * 1000)

/* Runs a plain git command on the repository; its trimmed stdout into out (may be NULL). */
static int git_in(const char *dir, const char *const *args, struct sbuf *out)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, (const char *[]){"git", "--git-dir", dir, NULL});
	strvec_pushv(&c.argv, args);
	strvec_pushv(&c.env, (const char *[]){"GIT_DIR", "GIT_WORK_TREE", NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	r = run_one(&c);
	if (r == 0 && out) {
		sbuf_add(out, c.outbuf.buf, c.outbuf.len);
		sbuf_trim(out);
	}
	run_cmd_release(&c);
	return r;
}

/* Fetches (see gitsync_fetch_cmd); 0, or -1 with e holding git's last lines, redacted. */
static int fetch(const char *dir, const char *url, const char *ref, bool all, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf why = SBUF_INIT;
	int r;

	gitsync_fetch_cmd(&c, dir, url, ref, all);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	c.capture_max = 64 * 1024;
	c.timeout_ms = FETCH_TIMEOUT_MS;
	r = run_one(&c);
	if (r < 0) {
		struct slice t = run_tail_lines(&c.errbuf, 4);
		if (c.timed_out) {
			sbuf_addstr(&why, "timed out");
		} else if (t.len) {
			gitsync_redact_text(&why, t.ptr, t.len, url);
		} else {
			sbuf_addf(&why, "git fetch exited with status %d", c.status);
		}
		err_set(e, "%s", why.buf);
	}
	sbuf_release(&why);
	run_cmd_release(&c);
	return r;
}

/* Drops the refs a fetch of everything left under GITSYNC_NAMESPACE. */
static void drop_namespace(const char *dir)
{
	struct sbuf refs = SBUF_INIT;
	char *line, *save = NULL;

	if (git_in(dir,
		   (const char *[]){"for-each-ref", "--format=%(refname)", GITSYNC_NAMESPACE, NULL},
		   &refs) == 0) {
		for (line = strtok_r(refs.buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			git_in(dir, (const char *[]){"update-ref", "-d", line, NULL}, NULL);
		}
	}
	sbuf_release(&refs);
}

/*
 * Fetches ref (NULL: HEAD) of url into dir and resolves it to a commit, into rev. A ref that
 * looks like a commit and is no ref of the remote is looked for among every branch and tag
 * (servers need not hand out a commit by its name). 0, or -1 with e set.
 */
static int fetch_rev(const char *dir, const char *url, const char *ref, struct sbuf *rev,
		     struct err *e)
{
	struct sbuf spec = SBUF_INIT;
	int r = -1;

	if (fetch(dir, url, ref, false, e) == 0) {
		r = git_in(dir,
			   (const char *[]){"rev-parse", "--verify", "--quiet",
					    "FETCH_HEAD^{commit}", NULL},
			   rev);
		if (r < 0) {
			err_set(e, "%s is not a commit", ref ? ref : "the remote's HEAD");
		}
		goto out;
	}
	if (!ref || !gitsync_is_hex(ref)) {
		goto out;
	}
	err_release(e);
	if (fetch(dir, url, NULL, true, e) == 0) {
		sbuf_addf(&spec, "%s^{commit}", ref);
		r = git_in(
		    dir, (const char *[]){"rev-parse", "--verify", "--quiet", spec.buf, NULL}, rev);
		if (r < 0) {
			err_set(e, "no commit %s in the repository's branches and tags", ref);
		}
	}
	drop_namespace(dir);
out:
	sbuf_release(&spec);
	return r;
}

/* The branch a sync updates: the app's deploy branch, else main (master when only it is there). */
static char *deploy_branch(const struct store_app *a, const char *dir)
{
	if (a->branch) {
		return xstrdup(a->branch);
	}
	if (git_in(dir,
		   (const char *[]){"rev-parse", "--verify", "--quiet", "refs/heads/main", NULL},
		   NULL) < 0 &&
	    git_in(dir,
		   (const char *[]){"rev-parse", "--verify", "--quiet", "refs/heads/master", NULL},
		   NULL) == 0) {
		return xstrdup("master");
	}
	return xstrdup("main");
}

/* Points refs/heads/BRANCH of dir at rev. 0, or 1 (printed). */
static int update_branch(struct bd *bd, const char *app, const char *dir, const char *branch,
			 const char *rev)
{
	struct sbuf ref = SBUF_INIT;
	int rc = 0;

	sbuf_addf(&ref, "refs/heads/%s", branch);
	if (git_in(dir, (const char *[]){"update-ref", ref.buf, rev, NULL}, NULL) < 0) {
		rc = bd_fail("cannot update %s of %s", branch, app);
	} else {
		bd_step(bd, "%s of %s is now %.12s", branch, app, rev);
	}
	sbuf_release(&ref);
	return rc;
}

/* Whether rev is what app serves now. */
static bool deployed(struct bd *bd, const char *app, const char *rev)
{
	struct store_release r = {0};
	bool same = false;

	if (store_release_current(&bd->store, app, &r, NULL) == 1) {
		same = r.rev && !strcmp(r.rev, rev);
	}
	store_release_release(&r);
	return same;
}

int cmd_git_sync(struct bd *bd, int argc, const char **argv)
{
	bool build = false, if_changes = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "build", &build, "build and deploy the revision"),
	    OPT_BOOL(0, "build-if-changes", &if_changes, "only when it is not deployed already"),
	    OPT_END(),
	};
	struct store_app a = {0};
	struct sbuf shown = SBUF_INIT, shown_ref = SBUF_INIT, rev = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *app, *url, *ref;
	char *dir = NULL, *branch = NULL;
	int n = bd_opts(argc - 1, argv + 1, opts, usage), rc = 1, lock = -1;

	if (n < 0) {
		goto out;
	}
	if (n < 2 || n > 3) {
		rc = bd_usage(usage);
		goto out;
	}
	app = argv[1];
	url = argv[2];
	ref = n == 3 ? argv[3] : NULL;
	gitsync_redact_url(&shown, url);
	if (gitsync_check_url(url, &e) < 0) {
		rc = bd_fail("invalid repository '%s': %s", shown.buf, err_str(&e));
		goto out;
	}
	if (ref && gitsync_check_ref(ref, &e) < 0) {
		gitsync_redact_url(&shown_ref, ref); /* printable bytes only */
		rc = bd_fail("invalid git ref '%s': %s", shown_ref.buf, err_str(&e));
		goto out;
	}
	build = build || if_changes;
	if (!store_app_exists(&bd->store, app) && !build) {
		bd_fail("App %s does not exist", app);
		rc = BD_EXIT_NO_APP;
		goto out;
	}
	lock = appdeploy_lock(bd, app, "git:sync", &e);
	if (lock < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!store_app_exists(&bd->store, app)) {
		bd_step(bd, "Creating %s...", app);
		if (store_app_create(&bd->store, app, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		bd_event(bd, app, "apps:create", NULL);
	}
	dir = bd_path(bd, "repos/%s.git", app);
	if (bd_repo_ensure(bd, app, dir, &e) < 0 || store_app_get(&bd->store, app, &a, &e) != 1) {
		rc = err_isset(&e) ? bd_fail_err(&e) : bd_fail("App %s does not exist", app);
		goto out;
	}
	bd_step(bd, "Fetching %s at %s", shown.buf, ref ? ref : "its default branch");
	if (fetch_rev(dir, url, ref, &rev, &e) < 0) {
		bd_fail("cannot fetch %s from %s:", ref ? ref : "the default branch", shown.buf);
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, app, "git:sync", shown.buf);
	branch = deploy_branch(&a, dir);
	if (!build) {
		rc = update_branch(bd, app, dir, branch, rev.buf);
		goto out;
	}
	if (if_changes && deployed(bd, app, rev.buf)) {
		bd_step(bd, "%.12s is deployed already: nothing to build", rev.buf);
		rc = update_branch(bd, app, dir, branch, rev.buf);
		goto out;
	}
	/* as a push: the branch moves once the revision serves */
	rc = bd_build_deploy(bd, &a, rev.buf);
	if (rc == 0) {
		rc = update_branch(bd, app, dir, branch, rev.buf);
	}
out:
	appdeploy_unlock(lock);
	store_app_release(&a);
	sbuf_release(&shown);
	sbuf_release(&shown_ref);
	sbuf_release(&rev);
	free(dir);
	free(branch);
	err_release(&e);
	return rc;
}
