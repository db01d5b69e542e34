/*
 * berth registry login|logout: docker login to the config's registry here
 * and on every host, as `kamal registry` does.
 *
 *	berth registry login [-L|--skip-local] [-R|--skip-remote]
 *	berth registry logout [-L] [-R]
 *
 * The password (registry.password, or the secret it names) reaches docker on
 * stdin, never in argv (engine/registry.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/registry.h"
#include "lib/log.h"
#include "lib/banned.h"

static const char usage[] = "berth registry login|logout [-L|--skip-local] [-R|--skip-remote] "
			    "[-r ROLES] [-h HOSTS] [-d DEST] [-c FILE]";

int cmd_registry(int argc, const char **argv)
{
	static bool skip_local, skip_remote;
	const struct opt own[] = {
	    OPT_BOOL('L', "skip-local", &skip_local, "not on this machine"),
	    OPT_BOOL('R', "skip-remote", &skip_remote, "not on the hosts"),
	    OPT_END(),
	};
	struct config_opts co = {0};
	struct config cfg;
	struct secrets sec;
	struct exec ex;
	struct err e = ERR_INIT;
	struct strvec hosts = STRVEC_INIT;
	bool login;
	int n, ret = 2;

	config_init(&cfg);
	secrets_init(&sec);
	exec_init(&ex, EXEC_SSH);
	n = cli_parse(argc, argv, (const struct opt *const[]){own, NULL}, 0, usage);
	if (n < 0) {
		ret = n == -2 ? 0 : 2;
		goto out;
	}
	if (n != 1 || (strcmp(argv[0], "login") && strcmp(argv[0], "logout"))) {
		log_error("usage: %s", usage);
		goto out;
	}
	login = !strcmp(argv[0], "login");
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	co.load_secrets = login;
	ret = 1;
	if (config_load(&cfg, &co, login ? &sec : NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&cfg, &ex);
	if (!registry_configured(&cfg)) {
		log_error("'%s' names no registry: set registry.server, username and password",
			  cfg.file);
		goto out;
	}
	if (!skip_remote && !config_role_hosts(&cfg, &cli_g.roles, &cli_g.hosts, &hosts)) {
		log_error("no hosts of '%s' match -r/-h", cfg.file);
		goto out;
	}
	ret = 0;
	if (!skip_local) {
		if ((login ? registry_login_local(&cfg, &sec, &e)
			   : registry_logout_local(&cfg, &e)) < 0) {
			log_error("%s", err_str(&e));
			ret = 1;
		} else {
			log_info("%s %s here", login ? "logged in to" : "logged out of",
				 cfg.registry.server ? cfg.registry.server : "docker hub");
		}
	}
	if (!skip_remote) {
		if ((login ? registry_login(&ex, (const char *const *)hosts.v, hosts.nr, &cfg, &sec,
					    &e)
			   : registry_logout(&ex, (const char *const *)hosts.v, hosts.nr, &cfg,
					     &e)) < 0) {
			log_error("%s", err_str(&e));
			ret = 1;
		} else {
			log_info("%s %s on %zu host%s", login ? "logged in to" : "logged out of",
				 cfg.registry.server ? cfg.registry.server : "docker hub", hosts.nr,
				 hosts.nr == 1 ? "" : "s");
		}
	}
out:
	strvec_clear(&hosts);
	err_release(&e);
	exec_release(&ex);
	secrets_release(&sec);
	config_release(&cfg);
	return ret;
}
