/* releases and releases:rollback — an app's deploys, and going back to one. */
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/sbuf.h"

static void when(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_releases(struct bd *bd, int argc, const char **argv)
{
	struct store_release *rs = NULL;
	struct err e = ERR_INIT;
	size_t n = 0;
	int rc = 0;
	bool current_seen = false;

	if (argc != 2) {
		return bd_usage("releases APP");
	}
	if (store_release_list(&bd->store, argv[1], &rs, &n, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		struct sbuf sb = SBUF_INIT;
		sbuf_addch(&sb, '[');
		for (size_t i = 0; i < n; i++) {
			char t[32];
			when(rs[i].time, t, sizeof(t));
			sbuf_addf(&sb, "%s{\"id\":%lld,\"version\":\"", i ? "," : "", rs[i].id);
			sbuf_add_json_escaped(&sb, rs[i].version, strlen(rs[i].version));
			sbuf_addstr(&sb, "\",\"image\":\"");
			sbuf_add_json_escaped(&sb, rs[i].image, strlen(rs[i].image));
			sbuf_addf(&sb, "\",\"time\":\"%s\",\"status\":\"%s\",\"rev\":%s%s%s}", t,
				  rs[i].status, rs[i].rev ? "\"" : "",
				  rs[i].rev ? rs[i].rev : "null", rs[i].rev ? "\"" : "");
		}
		sbuf_addstr(&sb, "]\n");
		fputs(sb.buf, stdout);
		sbuf_release(&sb);
		goto out;
	}
	printf("=====> %s releases\n", argv[1]);
	if (!n) {
		printf("       (none yet: git push berth@HOST:%s main)\n", argv[1]);
	}
	for (size_t i = 0; i < n; i++) {
		char t[32];
		bool current = !current_seen && !strcmp(rs[i].status, "deployed");
		current_seen |= current;
		when(rs[i].time, t, sizeof(t));
		printf("%-4lld %-20s %s  %-10s %s%s\n", rs[i].id, rs[i].version, t, rs[i].status,
		       rs[i].image, current ? "  (current)" : "");
	}
out:
	store_releases_free(rs, n);
	err_release(&e);
	return rc;
}

/*
 * Whether two releases run the same code: the same pushed revision, or the
 * same image. A redeploy after config:set or ps:scale is a release of the
 * same code, so a rollback without VERSION goes past it to other code.
 */
static bool same_code(const struct store_release *a, const struct store_release *b)
{
	if (a->rev || b->rev) {
		return a->rev && b->rev && !strcmp(a->rev, b->rev);
	}
	return !strcmp(a->image, b->image);
}

/* The release to go back to: version's, else the newest deployed one of other code. */
static int pick_target(struct store_release *rs, size_t n, const char *version)
{
	const struct store_release *cur = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(rs[i].status, "deployed")) {
			continue;
		}
		if (version) {
			if (!strcmp(rs[i].version, version)) {
				return (int)i;
			}
		} else if (!cur) {
			cur = &rs[i];
		} else if (!same_code(&rs[i], cur)) {
			return (int)i;
		}
	}
	return -1;
}

int cmd_releases_rollback(struct bd *bd, int argc, const char **argv)
{
	struct store_release *rs = NULL;
	struct push_result pr = {0};
	struct push_opts po = {0};
	struct appdeploy d;
	struct err e = ERR_INIT;
	char *git_dir = NULL;
	size_t n = 0;
	int rc = 1, lock = -1, t;
	bool have_pr = false, have_spec = false;

	if (argc != 2 && argc != 3) {
		return bd_usage("releases:rollback APP [VERSION]");
	}
	lock = appdeploy_lock(bd, argv[1], "releases:rollback", &e);
	if (lock < 0 || store_release_list(&bd->store, argv[1], &rs, &n, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	t = pick_target(rs, n, argc == 3 ? argv[2] : NULL);
	if (t < 0) {
		rc = argc == 3 ? bd_fail("%s has no deployed release '%s' (see: releases %s)",
					 argv[1], argv[2], argv[1])
			       : bd_fail("%s has no earlier release to go back to", argv[1]);
		goto out;
	}
	if (rs[t].rev) {
		git_dir = bd_path(bd, "repos/%s.git", argv[1]);
		po.app = argv[1];
		po.git_dir = git_dir;
		po.rev = rs[t].rev;
		po.wait_ms = APPDEPLOY_REV_WAIT_MS;
		if (push_read(&po, &pr, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		have_pr = true;
	}
	if (appdeploy_spec(bd, argv[1], rs[t].image, rs[t].version, have_pr ? &pr : NULL, &d, &e) <
	    0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	have_spec = true;
	bd_step(bd, "Rolling %s back to %s", argv[1], rs[t].version);
	if (release_rollback(&d.spec, &e) < 0) {
		bd_event(bd, argv[1], "rollback-failed", rs[t].version);
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_release_add(&bd->store, argv[1], rs[t].version, rs[t].image, rs[t].rev,
			      "deployed", NULL, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	/* a rollback starts the app, as a deploy does: it is no longer stopped */
	store_prop_set(&bd->store, argv[1], "ps.stopped", NULL, NULL);
	bd_event(bd, argv[1], "releases:rollback", rs[t].version);
	appdeploy_attach_networks(bd, argv[1]);
	bd_step(bd, "%s is serving %s", argv[1], rs[t].version);
	rc = 0;
out:
	if (have_spec) {
		appdeploy_release(&d);
	}
	if (have_pr) {
		push_result_release(&pr);
	}
	appdeploy_unlock(lock);
	store_releases_free(rs, n);
	free(git_dir);
	err_release(&e);
	return rc;
}
