/*
 * berth server exec: run a command on servers.
 *
 *	berth server exec -h web-1,web-2 -- docker ps --format '{{.Names}}'
 *
 * Every argument reaches the remote program as it was given. A single
 * argument with spaces in it is a shell command line, as Kamal's
 * `server exec "docker ps | grep web"` is: it runs as `sh -c LINE`.
 * On one host the command's output and exit status pass through untouched;
 * on several, lines are prefixed with their host and the hosts run in
 * parallel (--parallel, default 16).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/exec.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char usage[] =
    "berth server exec [-h HOSTS | --local] [--parallel N] -- COMMAND [ARG...]";

/* Runs the prepared commands, at most parallel at once; returns the exit status for berth. */
static int run_on_hosts(struct exec *ex, struct run_cmd *cmds, size_t n, unsigned parallel)
{
	struct run_cmd **ptrs = xcalloc(n, sizeof(*ptrs));
	struct err e = ERR_INIT;
	size_t i, nrun = 0;
	int ret = 0;

	for (i = 0; i < n; i++) {
		if (cmds[i].argv.nr) {
			ptrs[nrun++] = &cmds[i];
		}
	}
	run_all(ptrs, nrun, parallel ? parallel : 16);
	for (i = 0; i < n; i++) {
		if (cmds[i].status == 0) {
			continue;
		}
		if (!cmds[i].argv.nr) {
			ret = n == 1 ? 2 : 1; /* refused before it ran; already said why */
			continue;
		}
		if (exec_unreachable(ex, &cmds[i]) || !cmds[i].started) {
			exec_explain(ex, cli_g.hosts.v[i], &cmds[i], &e);
			log_error("%s", err_str(&e));
		} else if (n > 1) {
			log_error("host '%s': the command exited with status %d", cli_g.hosts.v[i],
				  cmds[i].status);
		}
		/* one host: its own exit status; several: 1 when any failed */
		ret = n == 1 ? cmds[i].status : 1;
	}
	err_release(&e);
	free(ptrs);
	return ret;
}

static int server_exec(int argc, const char **argv)
{
	static unsigned parallel;
	static bool interactive;
	const struct opt own[] = {
	    OPT_UINT(0, "parallel", &parallel, "N", "hosts at once (default 16)"),
	    OPT_BOOL('i', "interactive", &interactive, "pass berth's stdin on (one host)"),
	    OPT_END(),
	};
	struct strvec remote = STRVEC_INIT, prefixes = STRVEC_INIT;
	struct run_cmd *cmds = NULL;
	struct err e = ERR_INIT;
	struct exec ex;
	size_t i, n = 0, width = 0;
	int nops, ret = 2;

	exec_init(&ex, EXEC_SSH);
	nops = cli_parse(argc, argv, (const struct opt *const[]){own, cli_exec_opts, NULL},
			 OPT_F_STOP_AT_OPERAND, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (!nops) {
		log_error("no command given\nusage: %s", usage);
		goto out;
	}
	exec_release(&ex);
	if (cli_exec_setup(&ex) < 0) {
		goto out;
	}
	if (nops == 1 && strpbrk(argv[0], " \t\n|;&<>$")) {
		strvec_pushv(&remote, (const char *[]){"sh", "-c", argv[0], NULL});
	} else {
		for (i = 0; i < (size_t)nops; i++) {
			strvec_push(&remote, argv[i]);
		}
	}
	n = cli_g.hosts.nr;
	if (interactive && n > 1) {
		log_error("-i passes stdin to one host; %zu were given", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		size_t l = strlen(cli_g.hosts.v[i]);
		width = l > width ? l : width;
	}
	for (i = 0; i < n; i++) {
		strvec_pushf(&prefixes, "%-*s | ", (int)width, cli_g.hosts.v[i]);
	}
	cmds = xcalloc(n, sizeof(*cmds));
	for (i = 0; i < n; i++) {
		struct run_cmd *c = &cmds[i];

		run_cmd_init(c);
		if (n == 1) {
			/* one host: its bytes pass through untouched */
			c->out = RUN_IO_INHERIT;
			c->flags = interactive ? RUN_F_STDIN_INHERIT : 0;
		} else {
			c->out = RUN_IO_STREAM;
			c->prefix = prefixes.v[i];
		}
		c->err = RUN_IO_CAPTURE | RUN_IO_STREAM;
		if (exec_prepare(&ex, cli_g.hosts.v[i], (const char *const *)remote.v, c, &e) < 0) {
			log_error("%s", err_str(&e));
			c->status = 2;
			continue;
		}
		if (cli_g.verbose) {
			char *line = strvec_join(&c->argv, " ");
			log_debug("run: %s", line);
			free(line);
		}
	}
	ret = run_on_hosts(&ex, cmds, n, parallel);
out:
	for (i = 0; cmds && i < n; i++) {
		run_cmd_release(&cmds[i]);
	}
	free(cmds);
	strvec_clear(&remote);
	strvec_clear(&prefixes);
	err_release(&e);
	exec_release(&ex);
	return ret;
}

int cmd_server(int argc, const char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "exec")) {
		return server_exec(argc - 1, argv + 1);
	}
	log_error("usage: %s", usage);
	return 2;
}
