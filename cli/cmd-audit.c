/*
 * berth audit: the last lines of the audit log of every host.
 *
 *	berth audit [-n LINES] [--json]
 *
 * Messages are shown with control bytes escaped; --json gives each line as
 * stored, with the host it came from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/hoststate.h"
#include "lib/banned.h"
#include "lib/log.h"

static const char usage[] = "berth audit [-n LINES] [-h HOSTS] [--json]";

int cmd_audit(int argc, const char **argv)
{
	static unsigned lines = 50;
	const struct opt own[] = {
	    OPT_UINT('n', "lines", &lines, "N", "how many of the last lines (default 50)"),
	    OPT_END(),
	};
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	struct cli_state st;
	size_t i, k, width = 0;
	int nops, ret = 2;
	bool setup = false;

	nops = cli_parse(argc, argv,
			 (const struct opt *const[]){own, cli_state_opts, cli_exec_opts, NULL}, 0,
			 usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops) {
		log_error("audit takes no arguments, got '%s'\nusage: %s", argv[0], usage);
		goto out;
	}
	if (!lines || lines > HOSTSTATE_AUDIT_LINES_MAX) {
		log_error("-n takes 1 to %u lines", HOSTSTATE_AUDIT_LINES_MAX);
		goto out;
	}
	setup = true;
	if (cli_state_setup(&st) < 0) {
		goto out;
	}
	ret = 0;
	for (i = 0; i < st.hosts.nr; i++) {
		size_t l = strlen(st.hosts.v[i]);
		width = l > width ? l : width;
	}
	for (i = 0; i < st.hosts.nr; i++) {
		struct hoststate_audit a;

		hoststate_audit_init(&a);
		if (hoststate_audit_read(&st.hs, st.hosts.v[i], lines, &a, &e) < 0) {
			log_error("%s", err_str(&e));
			ret = 1;
			continue;
		}
		for (k = 0; k < a.nr; k++) {
			if (cli_g.json) {
				json_t *j = hoststate_audit_json(&a.v[k]);
				json_object_set_new(j, "from", json_string(st.hosts.v[i]));
				cli_print_json(j);
				continue;
			}
			sbuf_reset(&sb);
			hoststate_audit_describe(&sb, &a.v[k]);
			if (st.hosts.nr > 1) {
				printf("%-*s | %s\n", (int)width, st.hosts.v[i], sb.buf);
			} else {
				printf("%s\n", sb.buf);
			}
		}
		if (a.skipped) {
			log_warn("host '%s': %zu audit lines were too long to show", st.hosts.v[i],
				 a.skipped);
		}
		hoststate_audit_release(&a);
	}
out:
	if (setup) {
		cli_state_release(&st);
	}
	sbuf_release(&sb);
	err_release(&e);
	return ret;
}
