/*
 * logs and ps:restart — an app's running containers: their output, and
 * starting them again. The containers are the engine's, found by the
 * labels it gives them (service=APP, role=TYPE).
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
	struct run_cmd ps = RUN_CMD_INIT;
	struct run_cmd **cmds = NULL;
	struct slice rest;
	size_t n = 0, alloc = 0;
	int rc = 1, nops = bd_opts(argc - 1, argv + 1, opts, logs_usage);

	if (nops < 0) {
		goto out;
	}
	if (nops != 1 || lines > LOGS_LINES_MAX) {
		rc = bd_usage(logs_usage);
		goto out;
	}
	strvec_pushv(&ps.argv, (const char *[]){"docker", "ps", "-q", "--filter", NULL});
	strvec_pushf(&ps.argv, "label=service=%s", argv[1]);
	if (type) {
		strvec_push(&ps.argv, "--filter");
		strvec_pushf(&ps.argv, "label=role=%s", type);
	}
	ps.out = RUN_IO_CAPTURE;
	ps.err = RUN_IO_CAPTURE;
	if (run_one(&ps) < 0) {
		struct slice t = run_tail_lines(&ps.errbuf, 3);
		rc = bd_fail("cannot list the containers of %s: %.*s", argv[1], (int)t.len, t.ptr);
		goto out;
	}
	rest = slice_make(ps.outbuf.buf, ps.outbuf.len);
	while (rest.ptr) {
		struct slice id = slice_trim(slice_next(&rest, '\n'));
		struct run_cmd *c;
		char *s;

		if (!id.len) {
			continue;
		}
		XGROW(cmds, alloc, n + 1);
		c = xcalloc(1, sizeof(*c));
		run_cmd_init(c);
		s = slice_dup(id);
		strvec_pushv(&c->argv, (const char *[]){"docker", "logs", "--tail", NULL});
		strvec_pushf(&c->argv, "%u", lines);
		if (tail) {
			strvec_push(&c->argv, "--follow");
		}
		strvec_push(&c->argv, s);
		free(s);
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
	run_cmd_release(&ps);
	return rc;
}
