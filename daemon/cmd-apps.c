/* apps:* — create, destroy, list, rename and report apps, in Dokku's shapes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/sshcmd.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

int cmd_apps_create(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	int rc = 0;

	if (argc != 2) {
		return bd_usage("apps:create APP");
	}
	bd_step(bd, "Creating %s...", argv[1]);
	if (store_app_create(&bd->store, argv[1], &e) < 0) {
		rc = bd_fail_err(&e);
	} else {
		bd_event(bd, argv[1], "apps:create", NULL);
	}
	err_release(&e);
	return rc;
}

/* Removes a path and everything under it (the app's repository). */
static int remove_tree(const char *path)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, (const char *[]){"rm", "-rf", "--", path, NULL});
	c.out = RUN_IO_NULL;
	r = run_one(&c);
	run_cmd_release(&c);
	return r;
}

/* Runs argv with its output dropped: 0 when it exited with 0, else -1. */
static int run_quiet(const char *const *argv)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, argv);
	c.out = RUN_IO_NULL;
	c.err = RUN_IO_CAPTURE;
	r = run_one(&c);
	run_cmd_release(&c);
	return r;
}

/*
 * Takes app off the host: its route in berth-proxy (the web role's service,
 * "APP-web"), then its images (berthd/APP:*), so that a destroyed app leaves
 * neither a route to nothing nor images filling the disk.
 */
static void remove_route_and_images(struct bd *bd, const char *app)
{
	struct sbuf svc = SBUF_INIT, repo = SBUF_INIT;

	sbuf_addf(&svc, "%s-web", app);
	if (run_quiet((const char *[]){"docker", "exec", "berth-proxy", "berth-proxy", "remove",
				       svc.buf, NULL}) == 0) {
		bd_info(bd, "removed route %s", svc.buf);
	}
	sbuf_addf(&repo, "berthd/%s", app);
	if (run_quiet((const char *[]){"sh", "-c",
				       "ids=$(docker images -q \"$1\" | sort -u); "
				       "[ -z \"$ids\" ] || docker rmi -f $ids",
				       "berthd-rmi", repo.buf, NULL}) == 0) {
		bd_info(bd, "removed images %s", repo.buf);
	}
	sbuf_release(&svc);
	sbuf_release(&repo);
}

/* Removes the containers the engine started for app (labelled service=APP). */
static void remove_containers(struct bd *bd, const char *app)
{
	struct run_cmd ps = RUN_CMD_INIT;
	struct slice rest;

	strvec_push(&ps.argv, "docker");
	strvec_pushv(&ps.argv, (const char *[]){"ps", "-aq", "--filter", NULL});
	strvec_pushf(&ps.argv, "label=service=%s", app);
	ps.out = RUN_IO_CAPTURE;
	ps.err = RUN_IO_CAPTURE;
	if (run_one(&ps) == 0) {
		rest = slice_make(ps.outbuf.buf, ps.outbuf.len);
		while (rest.ptr) {
			struct slice id = slice_trim(slice_next(&rest, '\n'));
			struct run_cmd rm = RUN_CMD_INIT;
			char *s;
			if (!id.len) {
				continue;
			}
			s = slice_dup(id);
			strvec_pushv(&rm.argv, (const char *[]){"docker", "rm", "-f", s, NULL});
			rm.out = RUN_IO_NULL;
			rm.err = RUN_IO_CAPTURE;
			if (run_one(&rm) == 0) {
				bd_info(bd, "removed container %s", s);
			}
			run_cmd_release(&rm);
			free(s);
		}
	}
	run_cmd_release(&ps);
}

int cmd_apps_destroy(struct bd *bd, int argc, const char **argv)
{
	bool force = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "force", &force, "do not ask for the app's name"),
	    OPT_END(),
	};
	static const char usage[] = "apps:destroy APP [--force]";
	struct err e = ERR_INIT;
	struct sbuf answer = SBUF_INIT;
	char *repo = NULL, *metrics = NULL;
	int n = bd_opts(argc - 1, argv + 1, opts, usage), rc = 1, lock = -1;
	const char *app = argv[1];

	if (n < 0) {
		goto out;
	}
	if (n != 1) {
		rc = bd_usage(usage);
		goto out;
	}
	if (!force) {
		char buf[256];
		fprintf(stderr,
			" !     WARNING: Potentially Destructive Action\n"
			" !     This command will destroy app %s.\n"
			" !     To proceed, type \"%s\"\n\n> ",
			app, app);
		fflush(stderr);
		if (fgets(buf, sizeof(buf), stdin)) {
			sbuf_addstr(&answer, buf);
		}
		sbuf_trim(&answer);
		if (strcmp(answer.buf, app)) {
			rc = bd_fail("Confirmation did not match %s. Aborted.", app);
			goto out;
		}
	}
	lock = appdeploy_lock(bd, app, "apps:destroy", &e);
	if (lock < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Destroying %s (including all add-ons)", app);
	if (store_release_current(&bd->store, app, NULL, NULL) == 1) {
		remove_containers(bd, app);
		remove_route_and_images(bd, app);
	}
	if (store_app_destroy(&bd->store, app, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	repo = bd_path(bd, "repos/%s.git", app);
	remove_tree(repo);
	/* its charts' points (daemon/sampler.h): a new app of that name starts with none */
	metrics = bd_path(bd, "metrics/%s.json", app);
	if (unlink(metrics) < 0 && errno != ENOENT) {
		bd_info(bd, "cannot remove %s: %s", metrics, strerror(errno));
	}
	bd_event(bd, app, "apps:destroy", NULL);
	rc = 0;
out:
	appdeploy_unlock(lock);
	sbuf_release(&answer);
	err_release(&e);
	free(repo);
	free(metrics);
	return rc;
}

int cmd_apps_list(struct bd *bd, int argc, const char **argv)
{
	struct strvec names = STRVEC_INIT;
	struct err e = ERR_INIT;
	size_t shown = 0;
	int rc = 0;

	(void)argc;
	(void)argv;
	if (store_app_list(&bd->store, &names, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		putchar('[');
	} else {
		bd_heading(bd, "My Apps");
	}
	for (size_t i = 0; i < names.nr; i++) {
		if (!bd_can(bd, names.v[i], BD_READ)) {
			continue;
		}
		if (bd->json) {
			printf("%s\"%s\"", shown ? "," : "", names.v[i]);
		} else {
			printf("%s\n", names.v[i]);
		}
		shown++;
	}
	if (bd->json) {
		puts("]");
	} else if (!shown) {
		printf("You haven't deployed any applications yet\n");
	}
out:
	strvec_clear(&names);
	err_release(&e);
	return rc;
}

int cmd_apps_rename(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	char *from = NULL, *to = NULL;
	int rc = 1, lock = -1;

	if (argc != 3) {
		return bd_usage("apps:rename OLD NEW");
	}
	if (!sshcmd_valid_app(argv[2])) {
		return bd_fail("invalid app name '%s'", argv[2]);
	}
	if (!bd_can(bd, argv[2], BD_DEPLOY)) {
		return bd_fail("permission denied");
	}
	lock = appdeploy_lock(bd, argv[1], "apps:rename", &e);
	if (lock < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_release_current(&bd->store, argv[1], NULL, NULL) == 1) {
		rc = bd_fail("%s is deployed: its containers and routes carry its name; destroy it "
			     "and push again under the new name",
			     argv[1]);
		goto out;
	}
	if (store_app_rename(&bd->store, argv[1], argv[2], &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	from = bd_path(bd, "repos/%s.git", argv[1]);
	to = bd_path(bd, "repos/%s.git", argv[2]);
	if (rename(from, to) < 0 && errno != ENOENT) {
		rc = bd_fail("cannot rename '%s': %s", from, strerror(errno));
		goto out;
	}
	bd_event(bd, argv[2], "apps:rename", argv[1]);
	bd_step(bd, "Renaming %s to %s... done", argv[1], argv[2]);
	rc = 0;
out:
	appdeploy_unlock(lock);
	free(from);
	free(to);
	err_release(&e);
	return rc;
}

static void when(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_apps_report(struct bd *bd, int argc, const char **argv)
{
	struct store_app a = {0};
	struct store_release cur = {0};
	struct strvec doms = STRVEC_INIT;
	struct err e = ERR_INIT;
	char created[32], *repo = NULL;
	struct stat st;
	int rc = 0, has;

	if (argc < 2) {
		return bd_usage("apps:report APP");
	}
	if (store_app_get(&bd->store, argv[1], &a, &e) != 1 ||
	    (has = store_release_current(&bd->store, argv[1], &cur, &e)) < 0 ||
	    store_domain_list(&bd->store, argv[1], &doms, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	when(a.created, created, sizeof(created));
	repo = bd_path(bd, "repos/%s.git", a.name);
	if (bd->json) {
		printf("{\"name\":\"%s\",\"created\":\"%s\",\"deploy_source\":\"%s\","
		       "\"deployed\":%s,\"version\":\"%s\",\"image\":\"",
		       a.name, created, a.image_source ? "image" : "git", has ? "true" : "false",
		       has ? cur.version : "");
		if (has) {
			struct sbuf sb = SBUF_INIT;
			sbuf_add_json_escaped(&sb, cur.image, strlen(cur.image));
			fputs(sb.buf, stdout);
			sbuf_release(&sb);
		}
		printf("\"}\n");
		goto out;
	}
	printf("=====> %s app information\n", a.name);
	printf("       App created at:                %s\n", created);
	printf("       App deploy source:             %s\n", a.image_source ? "image" : "git");
	printf("       App deploy branch:             %s\n", a.branch ? a.branch : "main");
	printf("       App dockerfile path:           %s\n",
	       a.dockerfile ? a.dockerfile : "Dockerfile");
	printf("       App dir:                       %s\n",
	       stat(repo, &st) == 0 ? repo : "(nothing pushed yet)");
	printf("       App deployed:                  %s\n", has ? "true" : "false");
	if (has) {
		printf("       App version:                   %s\n", cur.version);
		printf("       App image:                     %s\n", cur.image);
	}
	printf("       App domains:                   ");
	for (size_t i = 0; i < doms.nr; i++) {
		printf("%s%s", i ? " " : "", doms.v[i]);
	}
	printf("\n");
out:
	store_app_release(&a);
	store_release_release(&cur);
	strvec_clear(&doms);
	err_release(&e);
	free(repo);
	return rc;
}

int cmd_apps_exists(struct bd *bd, int argc, const char **argv)
{
	(void)bd;
	(void)argc;
	(void)argv;
	/* dispatch has answered 20 when the app does not exist */
	return 0;
}
