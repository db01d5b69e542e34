/*
 * ps:* — an app's processes: how many of each type (scale, report), and
 * stopping, starting and rebuilding them. ps:stop stops every container of
 * the app and records it (store "ps.stopped"): its route stays, stopped in
 * berth-proxy (`berth-proxy stop APP-web`: 503 until the next deploy
 * switches to a new container), and a config change does not start it
 * (appdeploy_redeploy); ps:start deploys the current release again;
 * ps:rebuild builds the current revision again from the app's repository
 * (an image from git:from-image: deploys it again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/push.h"
#include "lib/banned.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

#define SCALE_MAX 100

static bool valid_type(const char *s, size_t n)
{
	if (!n || n > 63 || !(s[0] >= 'a' && s[0] <= 'z')) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return false;
		}
	}
	return true;
}

int cmd_ps_scale(struct bd *bd, int argc, const char **argv)
{
	struct strvec types = STRVEC_INIT, counts = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc = 1;

	if (argc < 2) {
		return bd_usage("ps:scale APP [TYPE=N...]");
	}
	if (argc == 2) {
		/* Dokku shows the scale without changes */
		if (store_scale_list(&bd->store, argv[1], &types, &counts, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		bd_step(bd, "Scaling for %s", argv[1]);
		printf("proctype: qty\n--------: ---\n");
		for (size_t i = 0; i < types.nr; i++) {
			printf("%-8s: %s\n", types.v[i], counts.v[i]);
		}
		rc = 0;
		goto out;
	}
	for (int i = 2; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		uint64_t n;
		char *t;

		if (!eq || !valid_type(argv[i], (size_t)(eq - argv[i])) ||
		    !slice_to_u64(slice_cstr(eq + 1), SCALE_MAX, &n)) {
			rc = bd_fail("invalid scale '%s': expected TYPE=N (N at most %d)", argv[i],
				     SCALE_MAX);
			goto out;
		}
		t = xstrndup(argv[i], (size_t)(eq - argv[i]));
		strvec_push(&types, t);
		strvec_pushf(&counts, "%u", (unsigned)n);
		free(t);
	}
	if (store_begin(&bd->store, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	for (size_t i = 0; i < types.nr; i++) {
		if (store_scale_set(&bd->store, argv[1], types.v[i],
				    (unsigned)strtoul(counts.v[i], NULL, 10), &e) < 0) {
			store_rollback(&bd->store);
			rc = bd_fail_err(&e);
			goto out;
		}
	}
	if (store_commit(&bd->store, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Scaling %s processes", argv[1]);
	for (size_t i = 0; i < types.nr; i++) {
		bd_info(bd, "%s: %s", types.v[i], counts.v[i]);
	}
	bd_event_v(bd, argv[1], "ps:scale", &types);
	rc = 0;
	if (appdeploy_redeploy(bd, argv[1], &e) < 0) {
		rc = bd_fail_err(&e);
	}
out:
	strvec_clear(&types);
	strvec_clear(&counts);
	err_release(&e);
	return rc;
}

int cmd_ps_report(struct bd *bd, int argc, const char **argv)
{
	struct strvec types = STRVEC_INIT, counts = STRVEC_INIT;
	struct store_release cur = {0};
	struct err e = ERR_INIT;
	char *stopped_v = NULL;
	int rc = 0, has, stopped = 0;

	if (argc < 2) {
		return bd_usage("ps:report APP");
	}
	if (store_scale_list(&bd->store, argv[1], &types, &counts, &e) < 0 ||
	    (has = store_release_current(&bd->store, argv[1], &cur, &e)) < 0 ||
	    (stopped = store_prop_get(&bd->store, argv[1], "ps.stopped", &stopped_v, &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		printf("{\"deployed\":%s,\"version\":\"%s\",\"stopped\":%s,\"scale\":{",
		       has ? "true" : "false", has ? cur.version : "",
		       stopped > 0 ? "true" : "false");
		for (size_t i = 0; i < types.nr; i++) {
			printf("%s\"%s\":%s", i ? "," : "", types.v[i], counts.v[i]);
		}
		printf("}}\n");
		goto out;
	}
	printf("=====> %s ps information\n", argv[1]);
	printf("       Deployed:                      %s\n", has ? "true" : "false");
	if (has) {
		printf("       Version:                       %s\n", cur.version);
	}
	printf("       Stopped:                       %s\n", stopped > 0 ? "true" : "false");
	printf("       Processes:                     ");
	if (!types.nr) {
		printf("web=1 (the default)");
	}
	for (size_t i = 0; i < types.nr; i++) {
		printf("%s%s=%s", i ? " " : "", types.v[i], counts.v[i]);
	}
	printf("\n");
out:
	free(stopped_v);
	store_release_release(&cur);
	strvec_clear(&types);
	strvec_clear(&counts);
	err_release(&e);
	return rc;
}

/* The ids of app's running containers (labelled service=APP by the engine). 0, or -1 printed. */
static int running(const char *app, struct strvec *ids)
{
	struct run_cmd ps = RUN_CMD_INIT;
	struct slice rest;
	int r = -1;

	strvec_pushv(&ps.argv, (const char *[]){"docker", "ps", "-q", "--filter", NULL});
	strvec_pushf(&ps.argv, "label=service=%s", app);
	ps.out = RUN_IO_CAPTURE;
	ps.err = RUN_IO_CAPTURE;
	if (run_one(&ps) < 0) {
		struct slice t = run_tail_lines(&ps.errbuf, 3);
		bd_fail("cannot list the containers of %s: %.*s", app, (int)t.len, t.ptr);
		goto out;
	}
	rest = slice_make(ps.outbuf.buf, ps.outbuf.len);
	while (rest.ptr) {
		struct slice id = slice_trim(slice_next(&rest, '\n'));
		if (id.len) {
			strvec_pushf(ids, "%.*s", (int)id.len, id.ptr);
		}
	}
	r = 0;
out:
	run_cmd_release(&ps);
	return r;
}

int cmd_ps_stop(struct bd *bd, int argc, const char **argv)
{
	struct strvec ids = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc = 1, lock = -1;

	if (argc != 2) {
		return bd_usage("ps:stop APP");
	}
	{
		struct store_release cur = {0};
		int has = store_release_current(&bd->store, argv[1], &cur, &e);

		store_release_release(&cur);
		if (has <= 0) {
			rc = has < 0 ? bd_fail_err(&e)
				     : bd_fail("%s has not been deployed", argv[1]);
			goto out;
		}
	}
	lock = appdeploy_lock(bd, argv[1], "ps:stop", &e);
	if (lock < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	/* recorded first: a redeploy meanwhile must not start it again */
	if (store_prop_set(&bd->store, argv[1], "ps.stopped", "1", &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (running(argv[1], &ids) < 0) {
		goto out;
	}
	bd_step(bd, "Stopping %s", argv[1]);
	/*
	 * berth-proxy answers the route with 503 from now on (a deploy ends
	 * that), after the requests in flight are done; an app without web has
	 * no route, and nothing to say
	 */
	{
		struct run_cmd c = RUN_CMD_INIT;

		strvec_pushv(&c.argv, (const char *[]){"docker", "exec", "berth-proxy",
						       "berth-proxy", "stop", NULL});
		strvec_pushf(&c.argv, "%s-web", argv[1]);
		strvec_push(&c.argv, "--drain-timeout=10s");
		c.out = RUN_IO_NULL;
		c.err = RUN_IO_NULL;
		if (run_one(&c) == 0) {
			bd_info(bd, "route %s-web answers 503", argv[1]);
		}
		run_cmd_release(&c);
	}
	rc = 0;
	for (size_t i = 0; i < ids.nr; i++) {
		struct run_cmd c = RUN_CMD_INIT;

		strvec_pushv(&c.argv, (const char *[]){"docker", "stop", ids.v[i], NULL});
		c.out = RUN_IO_NULL;
		c.err = RUN_IO_CAPTURE;
		if (run_one(&c) < 0) {
			struct slice t = run_tail_lines(&c.errbuf, 3);
			rc = bd_fail("cannot stop container %s: %.*s", ids.v[i], (int)t.len, t.ptr);
		} else {
			bd_info(bd, "stopped container %s", ids.v[i]);
		}
		run_cmd_release(&c);
	}
	if (!ids.nr) {
		bd_info(bd, "no container of %s was running", argv[1]);
	}
	bd_event(bd, argv[1], "ps:stop", NULL);
out:
	appdeploy_unlock(lock);
	strvec_clear(&ids);
	err_release(&e);
	return rc;
}

/*
 * ps:start and ps:restart: the current release deployed again, which starts
 * a stopped app too (as Dokku's restart does).
 */
static int redeploy_current(struct bd *bd, int argc, const char **argv, const char *cmd)
{
	struct err e = ERR_INIT;
	int rc = 0, r;

	if (argc != 2) {
		return bd_usage(cmd);
	}
	r = appdeploy_redeploy_any(bd, argv[1], &e);
	if (r < 0) {
		rc = bd_fail_err(&e);
	} else if (r == 1) {
		rc = bd_fail("%s has not been deployed", argv[1]);
	} else {
		bd_event(bd, argv[1], argv[0], NULL);
	}
	err_release(&e);
	return rc;
}

int cmd_ps_start(struct bd *bd, int argc, const char **argv)
{
	return redeploy_current(bd, argc, argv, "ps:start APP");
}

int cmd_ps_restart(struct bd *bd, int argc, const char **argv)
{
	return redeploy_current(bd, argc, argv, "ps:restart APP");
}

static void progress_out(const char *line, void *data)
{
	(void)data;
	printf("%s\n", line);
	fflush(stdout);
}

int cmd_ps_rebuild(struct bd *bd, int argc, const char **argv)
{
	struct store_release cur = {0};
	struct store_app a = {0};
	struct push_result pr = {0};
	struct push_opts po = {0};
	struct err e = ERR_INIT;
	char *dir = NULL;
	int rc = 1, lock = -1, has;

	if (argc != 2) {
		return bd_usage("ps:rebuild APP");
	}
	has = store_release_current(&bd->store, argv[1], &cur, &e);
	if (has <= 0 || store_app_get(&bd->store, argv[1], &a, &e) <= 0) {
		rc = has < 0 || err_isset(&e) ? bd_fail_err(&e)
					      : bd_fail("%s has not been deployed", argv[1]);
		goto out;
	}
	if (!cur.rev) {
		/* an image (git:from-image): nothing to build, deploy it again */
		int r = appdeploy_redeploy_any(bd, argv[1], &e);
		rc = r < 0 ? bd_fail_err(&e) : 0;
		if (!rc) {
			bd_event(bd, argv[1], "ps:rebuild", NULL);
		}
		goto out;
	}
	lock = appdeploy_lock(bd, argv[1], "ps:rebuild", &e);
	if (lock < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	dir = bd_path(bd, "repos/%s.git", argv[1]);
	po.app = argv[1];
	po.git_dir = dir;
	po.rev = cur.rev;
	po.dockerfile = a.dockerfile;
	po.progress = progress_out;
	bd_step(bd, "Rebuilding %s from %.12s", argv[1], cur.rev);
	if (push_build(&po, &pr, &e) < 0) {
		bd_event(bd, argv[1], "build-failed", cur.rev);
		rc = bd_fail_err(&e);
		goto out;
	}
	if (appdeploy_run(bd, argv[1], pr.image, pr.version, cur.rev, &pr, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, argv[1], "ps:rebuild", NULL);
	rc = 0;
out:
	push_result_release(&pr);
	appdeploy_unlock(lock);
	store_release_release(&cur);
	store_app_release(&a);
	free(dir);
	err_release(&e);
	return rc;
}
