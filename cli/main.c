/*
 * berth — deploy web apps to your own servers with zero downtime.
 *
 * The one table of commands. A command word may have a sub-word
 * ("server exec"); the group's function reads it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/app.h"
#include "lib/banned.h"
#include "lib/log.h"

#ifndef BERTH_VERSION
#error "BERTH_VERSION comes from the file VERSION, through the Makefile"
#endif

static const struct cli_cmd commands[] = {
    {"accessory", cmd_accessory, 0,
     "services beside the app: accessory boot|reboot|start|stop|details|logs|exec|remove"},
    {"app", cmd_app, 0, "the app's containers: details, logs, exec, start, stop, remove..."},
    {"audit", cmd_audit, 0, "show the audit log of the hosts"},
    {"backup", cmd_backup, 0,
     "an accessory's backups, verified by restoring them: backup now|list|verify|restore|schedule"},
    {"build", cmd_build, 0,
     "the app's image: build push|pull|dev|details, create|remove the builder, deliver"},
    {"config", cmd_config, CMD_NEED_CONFIG,
     "show the config as berth reads it (no secret is read)"},
    {"deploy", cmd_deploy, 0, "deploy the app: build, ship, switch traffic host by host"},
    {"details", cmd_details, 0, "what runs on the hosts: berth-proxy and the app's containers"},
    {"docs", cmd_docs, 0, "the config keys berth reads, by section (docs SECTION: one)"},
    {"doctor", cmd_doctor, 0, "check servers before a release: docker, disk, memory, ports..."},
    {"init", cmd_init, 0, "write a starting config/deploy.yml, .berth/secrets and hooks"},
    {"lock", cmd_lock, 0, "show, take or release the deploy lock (lock status|acquire|release)"},
    {"proxy", cmd_proxy, 0, "berth-proxy on the servers (proxy boot|reboot|start|stop|logs|...)"},
    {"prune", cmd_prune, 0, "remove old containers and images (prune all|images|containers)"},
    {"redeploy", cmd_redeploy, 0, "deploy without checking the proxy (after a first deploy)"},
    {"registry", cmd_registry, 0,
     "the registry: a local one (setup|remove), docker login|logout here and on hosts"},
    {"releases", cmd_releases, 0, "list the releases recorded on the hosts, newest first"},
    {"remove", cmd_remove, 0, "remove the app from its hosts: routes, containers, images, state"},
    {"rollback", cmd_rollback, 0, "serve a version still on the hosts again"},
    {"secrets", cmd_secrets, 0, "secrets from a password manager (secrets fetch|extract|print)"},
    {"server", cmd_server, 0, "run a command on servers (server exec)"},
    {"setup", cmd_setup, 0, "first deploy: start the proxy and deploy the app"},
    {"version", cmd_version, 0, "show berth's version"},
};

struct cli_globals cli_g = {.hosts = STRVEC_INIT, .roles = STRVEC_INIT};

const struct opt cli_global_opts[] = {
    OPT_STRING('c', "config-file", &cli_g.config_file, "FILE",
	       "config file (default config/deploy.yml)"),
    OPT_STRING('d', "destination", &cli_g.destination, "NAME",
	       "destination: also read config/deploy.NAME.yml"),
    OPT_LIST('h', "hosts", &cli_g.hosts, "HOSTS", "only these hosts (comma-separated)"),
    OPT_LIST('r', "roles", &cli_g.roles, "ROLES", "only these roles (comma-separated)"),
    OPT_BOOL('p', "primary", &cli_g.primary, "only the primary host (of the first role of -r)"),
    OPT_COUNT('v', "verbose", &cli_g.verbose, "show more (every remote command)"),
    OPT_BOOL('q', "quiet", &cli_g.quiet, "show only errors"),
    OPT_BOOL(0, "json", &cli_g.json, "print JSON for machines"),
    OPT_BOOL('y', "yes", &cli_g.yes, "answer yes to every question"),
    OPT_BOOL('H', "skip-hooks", &cli_g.skip_hooks, "do not run hooks"),
    OPT_STRING(0, "version", &cli_g.version, "VERSION",
	       "the app version to act on (deploy, app boot/exec, build; default: git's HEAD "
	       "or the running one)"),
    OPT_UINT_OPTIONAL(0, "lock-wait", &cli_g.lock_wait, "SECONDS", 900,
		      "wait for a deploy lock someone holds (default 900 s; else fail at once)"),
    OPT_UINT(0, "lock-wait-timeout", &cli_g.lock_wait_timeout, "SECONDS",
	     "with --lock-wait: how long to wait"),
    OPT_UINT(0, "lock-wait-interval", &cli_g.lock_wait_interval, "SECONDS",
	     "accepted for Kamal; berth looks at the lock every second"),
    OPT_BOOL(0, "help", &cli_g.help, "show this help"),
    OPT_END(),
};

int cli_parse(int argc, const char **argv, const struct opt *const *own, unsigned flags,
	      const char *usage)
{
	const struct opt *tables[8];
	struct err e = ERR_INIT;
	size_t nt = 0;
	int n;

	while (own && *own && nt < 6) {
		tables[nt++] = *own++;
	}
	tables[nt++] = cli_global_opts;
	tables[nt] = NULL;
	n = opt_parse(argc, argv, tables, flags, &e);

	if (n < 0) {
		log_error("%s", err_str(&e));
		fprintf(stderr, "usage: %s\n", usage);
		err_release(&e);
		return -1;
	}
	if (cli_g.lock_wait && cli_g.lock_wait_timeout) {
		cli_g.lock_wait = cli_g.lock_wait_timeout;
	}
	log_setup(cli_g.quiet	  ? LOG_ERROR
		  : cli_g.verbose ? LOG_DEBUG
				  : LOG_INFO,
		  cli_g.json ? LOG_F_JSON : 0, NULL);
	if (cli_g.help) {
		printf("usage: %s\n\n", usage);
		opt_usage(stdout, tables);
		return -2;
	}
	return n;
}

int cli_subcommand(int argc, const char **argv, const char *const *subs, const char *what,
		   const char *usage, const char **sub)
{
	size_t i;

	if (argc < 1 || argv[0][0] == '-') {
		if (argc >= 1 && !strcmp(argv[0], "--help")) {
			printf("usage: %s\n", usage);
			return 0;
		}
		log_error("usage: %s", usage);
		return 2;
	}
	for (i = 0; subs[i] && strcmp(subs[i], argv[0]); i++) {
	}
	if (!subs[i]) {
		log_error("'%s' is not %s command\nusage: %s", argv[0], what, usage);
		return 2;
	}
	*sub = argv[0];
	return 1;
}

int cli_command_words(const char **ops, int nops, const char *usage, struct sbuf *line,
		      struct strvec *words)
{
	struct err e = ERR_INIT;
	int ret = 0;

	if (!nops) {
		log_error("no command given\nusage: %s", usage);
		return 2;
	}
	if (nops == 1) {
		sbuf_addstr(line, ops[0]);
	} else {
		exec_quote_argv(line, ops);
	}
	if (app_split_words(line->buf, words, &e) < 0) {
		log_error("%s", err_str(&e));
		ret = 2;
	}
	err_release(&e);
	return ret;
}

int cli_config_loaded(const struct config *cfg, struct exec *ex)
{
	const struct config_role *r = NULL;
	size_t i;

	for (i = 0; i < cfg->warnings.nr; i++) {
		log_warn("%s", cfg->warnings.v[i]);
	}
	if (cli_ssh_agent_setup(cfg, ex) < 0) {
		return -1;
	}
	if (!cli_g.primary) {
		return 0;
	}
	for (i = 0; i < cfg->nr_roles && !r; i++) {
		if (cli_g.roles.nr && config_match_any(&cli_g.roles, cfg->roles[i].name)) {
			r = &cfg->roles[i];
		}
	}
	if (!r) {
		r = config_role(cfg, cfg->primary_role);
	}
	strvec_clear(&cli_g.hosts);
	if (r && r->nr_hosts) {
		strvec_push(&cli_g.hosts, r->hosts[0].name);
	}
	return 0;
}

int cmd_version(int argc, const char **argv)
{
	int n = cli_parse(argc, argv, NULL, 0, "berth version");

	if (n < 0) {
		return n == -2 ? 0 : 2;
	}
	printf("%s\n", BERTH_VERSION);
	return 0;
}

bool cli_confirm(const char *question)
{
	char answer[16];

	if (cli_g.yes) {
		return true;
	}
	if (!isatty(0)) {
		log_error("%s: say yes with -y (no terminal to ask on)", question);
		return false;
	}
	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!fgets(answer, sizeof(answer), stdin)) {
		return false;
	}
	return answer[0] == 'y' || answer[0] == 'Y';
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: berth COMMAND [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!(commands[i].flags & CMD_HIDDEN)) {
			fprintf(out, "    %-12s %s\n", commands[i].name, commands[i].help);
		}
	}
	fprintf(out, "\noptions every command takes:\n");
	opt_usage(out, (const struct opt *const[]){cli_global_opts, NULL});
	fprintf(out, "\n'berth COMMAND --help' tells more about a command\n");
}

/*
 * An alias of the config: the config is read as -c/-d on the command line
 * say, without secrets; an alias cannot name another alias.
 */
static int run_alias(int argc, const char **argv)
{
	struct config cfg;
	struct config_opts co = {0};
	struct err e = ERR_INIT;
	const char *alias = NULL;
	int k, ret = 2;

	config_init(&cfg);
	for (k = 2; k + 1 < argc; k++) {
		if (!strcmp(argv[k], "-c") || !strcmp(argv[k], "--config-file")) {
			co.config_file = argv[k + 1];
		} else if (!strcmp(argv[k], "-d") || !strcmp(argv[k], "--destination")) {
			co.destination = argv[k + 1];
		}
	}
	if ((co.config_file || access("config/deploy.yml", F_OK) == 0) &&
	    config_load(&cfg, &co, NULL, &e) == 0) {
		alias = config_map_get(&cfg.aliases, argv[1]);
	}
	if (!alias) {
		log_error("'%s' is not a berth command%s; see 'berth --help'", argv[1],
			  err_isset(&e) ? " (and the config, which may name aliases, did not load)"
					: "");
		goto out;
	}
	ret = cli_alias_run(commands, sizeof(commands) / sizeof(commands[0]), argv[1], alias,
			    argc - 2, argv + 2);
out:
	err_release(&e);
	config_release(&cfg);
	return ret;
}

int main(int argc, const char **argv)
{
	size_t i;

	/* Once, for every thread: a child or peer gone is an error on write, not a signal
	 * (lib/run.h; run never saves and restores it, which would race between threads). */
	signal(SIGPIPE, SIG_IGN);
	log_setup(LOG_INFO, 0, NULL);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		return cmd_version(0, argv + 2);
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			return commands[i].fn(argc - 2, argv + 2);
		}
	}
	return run_alias(argc, argv);
}
