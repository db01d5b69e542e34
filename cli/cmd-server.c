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
#include <unistd.h>

#include "cli/cli.h"
#include "engine/config.h"
#include "engine/exec.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char usage[] =
    "berth server exec [-h HOSTS | --local] [--parallel N] -- COMMAND [ARG...]\n"
    "       berth server bootstrap [-r ROLES] [-h HOSTS]";

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

/*
 * Makes sure docker is on the host: when it is missing, installs the
 * distribution's package on Debian and Ubuntu (as root, or with sudo that
 * needs no password), starts it, and lets a non-root ssh user use it. Fixed
 * text: nothing from the config or the command line is in it.
 */
static const char bootstrap_script[] =
    "if command -v docker >/dev/null 2>&1; then echo \"docker is there: $(docker --version)\"; "
    "exit 0; fi\n"
    "ID=; ID_LIKE=; [ -r /etc/os-release ] && . /etc/os-release\n"
    "case \" $ID $ID_LIKE \" in *' debian '*|*' ubuntu '*) ;; *)\n"
    "  echo \"docker is missing and this is not Debian or Ubuntu ($ID): install docker by "
    "hand\" >&2; exit 1;; esac\n"
    "if [ \"$(id -u)\" = 0 ]; then s=; "
    "elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then s='sudo -n'; "
    "else echo 'docker is missing, and the ssh user is not root and has no sudo without a "
    "password: install docker by hand' >&2; exit 1; fi\n"
    "echo 'docker is missing: installing the docker.io package'\n"
    "export DEBIAN_FRONTEND=noninteractive\n"
    "$s apt-get update -qq >/dev/null && $s apt-get install -y -qq docker.io >/dev/null || exit\n"
    "if command -v systemctl >/dev/null 2>&1; then $s systemctl enable --now docker >/dev/null "
    "2>&1 || true; fi\n"
    "[ -z \"$s\" ] || $s usermod -aG docker \"$(id -un)\"\n"
    "echo \"docker installed: $(docker --version)\"\n";

static int server_bootstrap(int argc, const char **argv)
{
	const char *file = cli_g.config_file ? cli_g.config_file : "config/deploy.yml";
	struct config cfg;
	struct exec ex;
	struct err e = ERR_INIT;
	struct strvec hosts = STRVEC_INIT, prefixes = STRVEC_INIT;
	struct run_cmd *cmds = NULL, **ptrs = NULL;
	size_t i, n = 0, width = 0;
	int nops, ret = 2;

	config_init(&cfg);
	exec_init(&ex, EXEC_SSH);
	nops = cli_parse(argc, argv, (const struct opt *const[]){cli_exec_opts, NULL}, 0, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops) {
		log_error("unexpected argument '%s'\nusage: %s", argv[0], usage);
		goto out;
	}
	ret = 1;
	if (cli_g.config_file || access(file, F_OK) == 0) {
		struct config_opts co = {0};

		co.config_file = cli_g.config_file;
		co.destination = cli_g.destination;
		if (config_load(&cfg, &co, NULL, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		config_exec_setup(&cfg, &ex);
		if (!config_role_hosts(&cfg, &cli_g.roles, &cli_g.hosts, &hosts)) {
			log_error("no hosts of '%s' match -r/-h", file);
			goto out;
		}
	} else {
		exec_release(&ex);
		if (cli_exec_setup(&ex) < 0) {
			goto out;
		}
		strvec_pushv(&hosts, (const char *const *)cli_g.hosts.v);
	}
	for (i = 0; i < hosts.nr; i++) {
		size_t l = strlen(hosts.v[i]);
		width = l > width ? l : width;
	}
	cmds = xcalloc(hosts.nr, sizeof(*cmds));
	ptrs = xcalloc(hosts.nr, sizeof(*ptrs));
	for (i = 0; i < hosts.nr; i++) {
		strvec_pushf(&prefixes, "%-*s | ", (int)width, hosts.v[i]);
	}
	ret = 0;
	for (i = 0; i < hosts.nr; i++) {
		run_cmd_init(&cmds[i]);
		cmds[i].out = RUN_IO_STREAM;
		cmds[i].err = RUN_IO_CAPTURE | RUN_IO_STREAM;
		cmds[i].prefix = prefixes.v[i];
		if (exec_prepare(&ex, hosts.v[i],
				 (const char *[]){"sh", "-c", bootstrap_script, NULL}, &cmds[i],
				 &e) < 0) {
			log_error("%s", err_str(&e));
			ret = 1;
			continue;
		}
		ptrs[n++] = &cmds[i];
	}
	run_all(ptrs, n, 16);
	for (i = 0; i < hosts.nr; i++) {
		if (cmds[i].argv.nr && cmds[i].status != 0) {
			exec_explain(&ex, hosts.v[i], &cmds[i], &e);
			log_error("%s", err_str(&e));
			ret = 1;
		}
	}
out:
	for (i = 0; cmds && i < hosts.nr; i++) {
		run_cmd_release(&cmds[i]);
	}
	free(cmds);
	free(ptrs);
	strvec_clear(&hosts);
	strvec_clear(&prefixes);
	err_release(&e);
	exec_release(&ex);
	config_release(&cfg);
	return ret;
}

int cmd_server(int argc, const char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "bootstrap")) {
		return server_bootstrap(argc - 1, argv + 1);
	}
	if (argc >= 1 && !strcmp(argv[0], "exec")) {
		return server_exec(argc - 1, argv + 1);
	}
	log_error("usage: %s", usage);
	return 2;
}
