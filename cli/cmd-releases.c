/*
 * berth releases: the release journal of each host, newest first, one line
 * per version — what `rollback` chooses from.
 *
 *	berth releases [--all] [--json]
 *	berth releases record --role ROLE --version VERSION [--container NAME] [--status ok]
 *
 * `record` appends a release to the journal of the hosts, as a deploy does;
 * it is there for scripts and tests. Without --all only releases whose
 * status is "ok" are listed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/hoststate.h"
#include "lib/banned.h"
#include "lib/log.h"

static const char usage[] =
    "berth releases [--all] [--json] | releases record --role ROLE --version VERSION "
    "[--container NAME] [--status STATUS]";

static int list(struct cli_state *st, bool all)
{
	size_t i, k;
	int ret = 0;

	for (i = 0; i < st->hosts.nr; i++) {
		struct hoststate_releases rs;
		struct err e = ERR_INIT;

		hoststate_releases_init(&rs);
		if (hoststate_journal_list(&st->hs, st->hosts.v[i], !all, &rs, &e) < 0) {
			log_error("%s", err_str(&e));
			ret = 1;
		}
		if (!cli_g.json && st->hosts.nr > 1) {
			printf("%s:\n", st->hosts.v[i]);
		}
		for (k = 0; k < rs.nr; k++) {
			const struct hoststate_release *r = &rs.v[k];
			if (cli_g.json) {
				json_t *j = hoststate_release_json(r);
				json_object_set_new(j, "from", json_string(st->hosts.v[i]));
				cli_print_json(j);
				continue;
			}
			printf("%s%-24s %-20s %-8s %-6s %s\n", st->hosts.nr > 1 ? "  " : "",
			       r->version, r->time ? r->time : "-", r->role ? r->role : "-",
			       r->status ? r->status : "-", r->container ? r->container : "-");
		}
		hoststate_releases_release(&rs);
		err_release(&e);
	}
	return ret;
}

int cmd_releases(int argc, const char **argv)
{
	static const char *role, *version, *container, *status;
	static bool all;
	const struct opt own[] = {
	    OPT_BOOL(0, "all", &all, "also releases that did not finish (status other than ok)"),
	    OPT_STRING(0, "role", &role, "ROLE", "record: the role"),
	    OPT_STRING(0, "version", &version, "VERSION", "record: the version"),
	    OPT_STRING(0, "container", &container, "NAME", "record: the container"),
	    OPT_STRING(0, "status", &status, "STATUS", "record: ok (default), failed, ..."),
	    OPT_END(),
	};
	struct cli_state st;
	int nops, ret = 2;
	bool setup = false;
	size_t i;

	nops = cli_parse(argc, argv,
			 (const struct opt *const[]){own, cli_state_opts, cli_exec_opts, NULL}, 0,
			 usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops > 1 || (nops == 1 && strcmp(argv[0], "record"))) {
		log_error("usage: %s", usage);
		goto out;
	}
	if (nops == 1 && (!role || !version)) {
		log_error("record needs --role and --version");
		goto out;
	}
	setup = true;
	if (cli_state_setup(&st) < 0) {
		goto out;
	}
	if (!nops) {
		ret = list(&st, all);
		goto out;
	}
	ret = 0;
	for (i = 0; i < st.hosts.nr; i++) {
		struct hoststate_release r = {0};
		struct err e = ERR_INIT;

		r.role = (char *)role;
		r.version = (char *)version;
		r.container = (char *)container;
		r.status = (char *)status;
		if (hoststate_journal_append(&st.hs, st.hosts.v[i], &r, &e) < 0) {
			log_error("%s", err_str(&e));
			ret = 1;
		}
		err_release(&e);
	}
out:
	if (setup) {
		cli_state_release(&st);
	}
	return ret;
}
