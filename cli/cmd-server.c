/*
 * berth server exec: run a command on servers.
 *
 *	berth server exec -h web-1,web-2 -- docker ps --format '{{.Names}}'
 *
 * In a project the hosts and the ssh settings come from config/deploy.yml
 * (narrowed with -r, -h and -p), as Kamal's do; elsewhere -h names them.
 *
 * Every argument reaches the remote program as it was given. A single
 * argument with spaces in it is a shell command line, as Kamal's
 * `server exec "docker ps | grep web"` is: it runs as `sh -c LINE`.
 * On one host the command's output and exit status pass through untouched;
 * on several, lines are prefixed with their host and the hosts run in
 * parallel (--parallel, default 16).
 *
 * berth server bootstrap: readies hosts for berth (docker, log rotation, a
 * deploy user, the run directory, keys-only sshd on request); with
 * --daemon also for push to deploy: berth-proxy, the berth user and its
 * forced command, and the container berthd (engine/daemonhost.h), plus an
 * admin key of berthd with --key, and with --root-domain berthd's global
 * domain, which puts the panel at https://berth.DOMAIN/ (printing its
 * one-time set-up link while it has no admin). Every step is safe to take
 * again.
 *
 *	berth server bootstrap -h web-1 --daemon --key ~/.ssh/id_ed25519.pub \
 *		--root-domain example.com
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/backup.h"
#include "engine/config.h"
#include "engine/daemonhost.h"
#include "engine/exec.h"
#include "engine/hoststate.h"
#include "engine/proxyhost.h"
#include "engine/scripts.h"
#include "engine/transfer.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

static const char usage[] =
    "berth server exec [-r ROLES] [-h HOSTS | --local] [--parallel N] -- COMMAND [ARG...]\n"
    "       berth server bootstrap [--user NAME] [--no-password-login] [-r ROLES] [-h HOSTS]\n"
    "                              [--daemon [--key FILE [--key-name NAME]] [--root-domain "
    "DOMAIN]]";

/* Runs the prepared commands, at most parallel at once; returns the exit status for berth. */
static int run_on_hosts(struct exec *ex, const struct strvec *hosts, struct run_cmd *cmds, size_t n,
			unsigned parallel)
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
			exec_explain(ex, hosts->v[i], &cmds[i], &e);
			log_error("%s", err_str(&e));
		} else if (n > 1) {
			log_error("host '%s': the command exited with status %d", hosts->v[i],
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
	struct strvec remote = STRVEC_INIT, prefixes = STRVEC_INIT, hosts = STRVEC_INIT;
	struct run_cmd *cmds = NULL;
	struct err e = ERR_INIT;
	struct exec ex;
	struct config cfg;
	size_t i, n = 0, width = 0;
	int nops, ret = 2;

	exec_init(&ex, EXEC_SSH);
	config_init(&cfg);
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
	if (cli_hosts_setup(&ex, &cfg, &hosts) < 0) {
		ret = 1;
		goto out;
	}
	if (nops == 1 && strpbrk(argv[0], " \t\n|;&<>$")) {
		strvec_pushv(&remote, (const char *[]){"sh", "-c", argv[0], NULL});
	} else {
		for (i = 0; i < (size_t)nops; i++) {
			strvec_push(&remote, argv[i]);
		}
	}
	n = hosts.nr;
	if (interactive && n > 1) {
		log_error("-i passes stdin to one host; %zu were given", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		size_t l = strlen(hosts.v[i]);
		width = l > width ? l : width;
	}
	for (i = 0; i < n; i++) {
		strvec_pushf(&prefixes, "%-*s | ", (int)width, hosts.v[i]);
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
		if (exec_prepare(&ex, hosts.v[i], (const char *const *)remote.v, c, &e) < 0) {
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
	ret = run_on_hosts(&ex, &hosts, cmds, n, parallel);
out:
	for (i = 0; cmds && i < n; i++) {
		run_cmd_release(&cmds[i]);
	}
	free(cmds);
	strvec_clear(&remote);
	strvec_clear(&prefixes);
	strvec_clear(&hosts);
	err_release(&e);
	exec_release(&ex);
	config_release(&cfg);
	return ret;
}

/* A name useradd takes on every distribution: [a-z_][a-z0-9_-]{0,31}. */
static bool user_name_ok(const char *s)
{
	size_t i;

	if (!((*s >= 'a' && *s <= 'z') || *s == '_')) {
		return false;
	}
	for (i = 1; s[i]; i++) {
		if (i > 31 || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
				s[i] == '_' || s[i] == '-')) {
			return false;
		}
	}
	return true;
}

/* A key name berthd takes: letters, digits, "_-.@", at most 64, not starting with "-" or ".". */
static bool key_name_ok(const char *s)
{
	size_t i;

	if (!*s || *s == '-' || *s == '.') {
		return false;
	}
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (i >= 64 ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '@')) {
			return false;
		}
	}
	return true;
}

/* A root domain for berthd: dot-separated labels of a-z, 0-9 and '-' (not at their ends). */
static bool root_domain_ok(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (!n || n > 253) {
		return false;
	}
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];

		if (c == '.' || c == 0) {
			if (!label || s[i - 1] == '-') {
				return false;
			}
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			   (c == '-' && label)) {
			if (++label > 63) {
				return false;
			}
		} else {
			return false;
		}
	}
	return true;
}

/*
 * Reads the public key of --key: one line "TYPE BASE64 [COMMENT]" (berthd
 * checks the rest), at most 16 KiB. 0, or -1 having said why.
 */
static int read_public_key(const char *path, struct sbuf *key)
{
	struct slice rest, line;
	size_t nlines = 0;

	if (sbuf_read_file(key, path) < 0) {
		log_error("cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	if (key->len > 16384 || memchr(key->buf, '\0', key->len)) {
		log_error(
		    "'%s' is not a public key (ssh-keygen writes one to ~/.ssh/id_ed25519.pub)",
		    path);
		return -1;
	}
	rest = slice_make(key->buf, key->len);
	while (rest.ptr) {
		line = slice_trim(slice_next(&rest, '\n'));
		nlines += line.len && line.ptr[0] != '#';
	}
	if (nlines != 1 || strstr(key->buf, "PRIVATE KEY")) {
		log_error("'%s' is not one public key (a .pub file, as ssh-keygen writes)", path);
		return -1;
	}
	return 0;
}

static void print_progress(const char *line, void *data)
{
	(void)data;
	printf("%s\n", line);
	fflush(stdout);
}

/*
 * berth-backup:VERSION on the hosts, for berthd's postgres:backup and
 * redis:backup, sent as berth-proxy's image is (only the layers a host
 * lacks) when it is here; when it is not, a note says so and nothing
 * fails. Returns 0, or 1 having said why.
 */
static int send_backup_image(struct exec *ex, const char *const *hosts, size_t n)
{
	struct transfer_opts to = {0};
	struct transfer_result tr = {0};
	struct sbuf id = SBUF_INIT;
	struct err e = ERR_INIT;
	int ret = 0;

	transfer_local_image_id(backup_image(), &id);
	if (!id.len) {
		printf("%s is not here (make image builds it): berthd's postgres:backup and "
		       "redis:backup need it on the hosts\n",
		       backup_image());
		goto out;
	}
	to.image = backup_image();
	to.progress = print_progress;
	if (transfer_image(ex, hosts, n, &to, &tr, &e) < 0) {
		if (tr.nhosts == 0) {
			log_error("cannot send %s: %s", backup_image(), err_str(&e));
		}
		for (size_t i = 0; i < tr.nhosts; i++) {
			if (tr.hosts[i].failed) {
				log_error("host '%s': cannot send %s: %s", hosts[i], backup_image(),
					  err_str(&tr.hosts[i].err));
			}
		}
		ret = 1;
	}
out:
	transfer_result_release(&tr);
	sbuf_release(&id);
	err_release(&e);
	return ret;
}

/*
 * berthd on the hosts where the bootstrap went well: the network and
 * berth-proxy (proxyhost), then the berth user and the container berthd
 * (daemonhost), and berth-backup's image. Returns 0, or 1 having said why.
 */
static int bootstrap_daemon(struct exec *ex, const struct config *cfg, const char *const *hosts,
			    size_t n, const char *key_name, const struct sbuf *key,
			    const char *root_domain)
{
	struct daemonhost_opts o = {0};
	struct err e = ERR_INIT;
	int ret = 0;
	size_t i;

	if (!n) {
		return 0;
	}
	if (proxyhost_boot(ex, hosts, n, cfg, print_progress, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		ret = 1;
	}
	o.progress = print_progress;
	o.root_domain = root_domain;
	if (key_name) {
		o.key_name = key_name;
		o.key = slice_make(key->buf, key->len);
	}
	if (daemonhost_boot(ex, hosts, n, &o, &e) < 0) {
		log_error("%s", err_str(&e));
		ret = 1;
	}
	if (send_backup_image(ex, hosts, n)) {
		ret = 1;
	}
	if (!ret && !key_name) {
		printf("Add the first key to berthd, on each host:\n");
		for (i = 0; i < n; i++) {
			printf(
			    "    cat ~/.ssh/id_ed25519.pub | ssh %s%s docker exec -i berthd berthd "
			    "ssh-keys:add admin\n",
			    strchr(hosts[i], '@') ? "" : "root@", hosts[i]);
		}
		printf("(or run bootstrap again with --key ~/.ssh/id_ed25519.pub); then\n"
		       "    ssh %s@HOST apps:create APP, and git push %s@HOST:APP main\n",
		       DAEMONHOST_USER, DAEMONHOST_USER);
	}
	err_release(&e);
	return ret;
}

/*
 * berth server bootstrap: docker, log rotation, the deploy user, berth's
 * run directory and (asked) keys-only sshd on every host; see
 * engine/scripts/server-bootstrap.sh. With --daemon, then berthd (and
 * berth-proxy) on the hosts where that went well, and an admin key with
 * --key.
 */
static int server_bootstrap(int argc, const char **argv)
{
	struct config cfg;
	struct exec ex;
	struct err e = ERR_INIT;
	struct strvec hosts = STRVEC_INIT, prefixes = STRVEC_INIT;
	struct run_cmd *cmds = NULL, **ptrs = NULL;
	size_t i, n = 0, width = 0;
	int nops, ret = 2;

	const char *user = "deploy", *run_dir, *key_file = NULL, *key_name = NULL,
		   *root_domain = NULL;
	bool no_passwords = false, with_daemon = false;
	struct strvec ok = STRVEC_INIT;
	struct sbuf key = SBUF_INIT;
	const struct opt own[] = {
	    OPT_STRING(0, "user", &user, "NAME", "the deploy user to make (default deploy)"),
	    OPT_BOOL(0, "no-password-login", &no_passwords, "turn sshd's password logins off"),
	    OPT_BOOL(0, "daemon", &with_daemon, "also berthd (push to deploy) and berth-proxy"),
	    OPT_STRING(0, "key", &key_file, "FILE", "with --daemon: add this public key to berthd"),
	    OPT_STRING(0, "key-name", &key_name, "NAME", "the name of that key (default admin)"),
	    OPT_STRING(0, "root-domain", &root_domain, "DOMAIN",
		       "with --daemon: apps are APP.DOMAIN, the panel https://berth.DOMAIN/ "
		       "(prints its set-up link)"),
	    OPT_END(),
	};

	config_init(&cfg);
	exec_init(&ex, EXEC_SSH);
	nops =
	    cli_parse(argc, argv, (const struct opt *const[]){own, cli_exec_opts, NULL}, 0, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops) {
		log_error("unexpected argument '%s'\nusage: %s", argv[0], usage);
		goto out;
	}
	if (!user_name_ok(user)) {
		log_error(
		    "--user '%s' is not a user name (a lowercase letter or _, then up to 31 of "
		    "a-z, 0-9, _ and -)",
		    user);
		goto out;
	}
	if ((key_file || key_name || root_domain) && !with_daemon) {
		log_error("--key, --key-name and --root-domain go with --daemon\nusage: %s", usage);
		goto out;
	}
	if (root_domain && !root_domain_ok(root_domain)) {
		log_error("--root-domain '%s' is not a domain name (like example.com: letters, "
			  "digits, '-' and dots)",
			  root_domain);
		goto out;
	}
	if (key_name && !key_file) {
		log_error("--key-name names the key of --key, and no --key was given");
		goto out;
	}
	if (key_file && !key_name) {
		key_name = "admin";
	}
	if (key_name && !key_name_ok(key_name)) {
		log_error("--key-name '%s' is not a key name (letters, digits, '_', '-', '.' and "
			  "'@', at most 64, not starting with '-' or '.')",
			  key_name);
		goto out;
	}
	if (key_file && read_public_key(key_file, &key) < 0) {
		goto out;
	}
	ret = 1;
	if (cli_hosts_setup(&ex, &cfg, &hosts) < 0) {
		goto out;
	}
	run_dir = cfg.run_directory ? cfg.run_directory : HOSTSTATE_RUN_DIR;
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
				 (const char *[]){"sh", "-c", script_server_bootstrap,
						  "berth-bootstrap", user, run_dir,
						  no_passwords ? "off" : "keep", NULL},
				 &cmds[i], &e) < 0) {
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
		} else if (cmds[i].argv.nr) {
			strvec_push(&ok, hosts.v[i]);
		}
	}
	if (with_daemon && bootstrap_daemon(&ex, &cfg, (const char *const *)ok.v, ok.nr, key_name,
					    &key, root_domain)) {
		ret = 1;
	}
out:
	for (i = 0; cmds && i < hosts.nr; i++) {
		run_cmd_release(&cmds[i]);
	}
	free(cmds);
	free(ptrs);
	strvec_clear(&hosts);
	strvec_clear(&prefixes);
	strvec_clear(&ok);
	sbuf_release(&key);
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
