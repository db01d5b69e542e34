/*
 * berth registry setup|remove|login|logout: the config's registry here and
 * on every host, as `kamal registry` does.
 *
 *	berth registry setup [-L|--skip-local] [-R|--skip-remote]
 *	berth registry remove [-L] [-R]
 *	berth registry login [-L] [-R]
 *	berth registry logout [-L] [-R]
 *
 * setup logs docker in here and on the hosts; with a local registry
 * (registry.server: localhost:PORT) it runs the registry container
 * berth-docker-registry here instead, which the hosts pull from through
 * ssh (engine/registry.h). remove logs out, or removes that container with
 * its images. login and logout refuse a local registry, as Kamal's do.
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

static const char usage[] =
    "berth registry setup|remove|login|logout [-L|--skip-local] [-R|--skip-remote]\n"
    "       [-r ROLES] [-h HOSTS] [-d DEST] [-c FILE]\n"
    "\n"
    "    setup        a local registry (localhost:PORT): its container " REGISTRY_LOCAL_CONTAINER
    "\n"
    "                 here, which hosts pull from over ssh; else docker login here and on hosts\n"
    "    remove       a local registry: its container and images; else docker logout everywhere\n"
    "    login        docker login here (-L skips) and on the hosts (-R skips), password on stdin\n"
    "    logout       docker logout here and on the hosts";

/* setup|remove of a local registry: the container here, nothing on the hosts. */
static int local_registry(const struct config *cfg, bool setup, bool skip_local)
{
	struct err e = ERR_INIT;
	const char *what = NULL;
	bool removed = false;
	unsigned port = registry_local_port(&cfg->registry);
	int ret = 1;

	if (skip_local) {
		log_info("the local registry is on this machine: nothing to do with -L");
		return 0;
	}
	if (setup ? registry_setup_local(cfg, &what, &e) : registry_remove_local(&removed, &e)) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (setup) {
		log_info("local registry %s: %s (%s) on 127.0.0.1:%u%s",
			 !strcmp(what, "running") ? "already running" : what,
			 REGISTRY_LOCAL_CONTAINER, registry_local_image(), port,
			 "; the hosts pull from it over ssh");
	} else {
		log_info("%s", removed ? "removed the local registry " REGISTRY_LOCAL_CONTAINER
				       : "no local registry container " REGISTRY_LOCAL_CONTAINER
					 " here");
	}
	ret = 0;
out:
	err_release(&e);
	return ret;
}

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
	bool login, setup, local;
	const char *sub;
	int n, ret = 2;

	config_init(&cfg);
	secrets_init(&sec);
	exec_init(&ex, EXEC_SSH);
	n = cli_parse(argc, argv, (const struct opt *const[]){own, NULL}, 0, usage);
	if (n < 0) {
		ret = n == -2 ? 0 : 2;
		goto out;
	}
	if (n != 1 || (strcmp(argv[0], "login") && strcmp(argv[0], "logout") &&
		       strcmp(argv[0], "setup") && strcmp(argv[0], "remove"))) {
		log_error("usage: %s", usage);
		goto out;
	}
	sub = argv[0];
	setup = !strcmp(sub, "setup");
	login = setup || !strcmp(sub, "login");
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	co.load_secrets = login;
	ret = 1;
	if (config_load(&cfg, &co, login ? &sec : NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&cfg, &ex);
	if (cli_config_loaded(&cfg, &ex) < 0) {
		goto out;
	}
	local = registry_local(&cfg);
	if (local && !setup && strcmp(sub, "remove")) {
		log_error("'%s' names a local registry (%s): there is nothing to log %s; 'berth "
			  "registry %s' %s it",
			  cfg.file, cfg.registry.server, login ? "in to" : "out of",
			  login ? "setup" : "remove", login ? "runs" : "removes");
		goto out;
	}
	if (local) {
		ret = local_registry(&cfg, setup, skip_local);
		goto out;
	}
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
