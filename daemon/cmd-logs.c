/*
 * logs and ps:restart — an app's running containers: their output, and
 * starting them again. The containers are the engine's, found by the
 * labels it gives them (service=APP, role=TYPE or TYPE-N, web's instances role=web
 * instance=N: appdeploy_containers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

#define LOGS_LINES_MAX 100000

static const char logs_usage[] = "logs APP [-n LINES] [-t] [-p TYPE]";

int cmd_logs(struct bd *bd, int argc, const char **argv)
{
	unsigned lines = 100;
	bool tail = false;
	const char *type = NULL;
	struct opt opts[] = {
	    OPT_UINT('n', "num", &lines, "LINES", "how many lines (default 100)"),
	    OPT_BOOL('t', "tail", &tail, "follow the output"),
	    OPT_STRING('p', "ps", &type, "TYPE", "only this process type"),
	    OPT_END(),
	};
	struct strvec ids = STRVEC_INIT;
	struct err e = ERR_INIT;
	struct run_cmd **cmds = NULL;
	size_t n = 0, alloc = 0;
	int rc = 1, nops = bd_opts(argc - 1, argv + 1, opts, logs_usage);

	if (nops < 0) {
		goto out;
	}
	if (nops != 1 || lines > LOGS_LINES_MAX) {
		rc = bd_usage(logs_usage);
		goto out;
	}
	if (appdeploy_containers(argv[1], type, 0, &ids, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	for (size_t i = 0; i < ids.nr; i++) {
		struct run_cmd *c;

		XGROW(cmds, alloc, n + 1);
		c = xcalloc(1, sizeof(*c));
		run_cmd_init(c);
		strvec_pushv(&c->argv, (const char *[]){"docker", "logs", "--tail", NULL});
		strvec_pushf(&c->argv, "%u", lines);
		if (tail) {
			strvec_push(&c->argv, "--follow");
		}
		strvec_push(&c->argv, ids.v[i]);
		cmds[n++] = c;
	}
	if (!n) {
		rc = bd_fail("%s has no running containers%s%s", argv[1], type ? " of type " : "",
			     type ? type : "");
		goto out;
	}
	run_all(cmds, n, 0);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++) {
		run_cmd_release(cmds[i]);
		free(cmds[i]);
	}
	free(cmds);
	strvec_clear(&ids);
	err_release(&e);
	return rc;
}
