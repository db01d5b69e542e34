/*
 * berth details: what runs on every host of the app — berth-proxy and the
 * app's containers — one docker ps line each, prefixed with the host; then
 * each accessory's container on its hosts.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/app.h"
#include "engine/appctl.h"
#include "lib/log.h"
#include "engine/scripts.h"
#include "lib/banned.h"

static const char usage[] = "berth details [-r ROLES] [-h HOSTS] [-d DEST] [-c FILE]";

int cmd_details(int argc, const char **argv)
{
	struct config_opts co = {0};
	struct config cfg;
	struct exec ex;
	struct err e = ERR_INIT;
	struct appctl_jobs jobs = {0};
	struct sbuf errors = SBUF_INIT;
	struct strvec hosts = STRVEC_INIT;
	size_t i;
	int n, ret = 2;

	config_init(&cfg);
	exec_init(&ex, EXEC_SSH);
	n = cli_parse(argc, argv, NULL, 0, usage);
	if (n < 0) {
		ret = n == -2 ? 0 : 2;
		goto out;
	}
	if (n) {
		log_error("unexpected argument '%s'\nusage: %s", argv[0], usage);
		goto out;
	}
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	ret = 1;
	if (config_load(&cfg, &co, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&cfg, &ex);
	if (cli_config_loaded(&cfg, &ex) < 0) {
		goto out;
	}
	/* -r and -h pick the hosts; each shows every container of the app */
	if (!config_role_hosts(&cfg, &cli_g.roles, &cli_g.hosts, &hosts) ||
	    !appctl_jobs_init(&jobs, &cfg, NULL, &hosts, false)) {
		log_error("no hosts of '%s' match -r/-h", cfg.file);
		goto out;
	}
	for (i = 0; i < jobs.nr; i++) {
		strvec_pushv(&jobs.v[i].argv, (const char *[]){"sh", "-c", script_details, "sh",
							       APP_PROXY_CONTAINER, NULL});
		app_filter_argv(&jobs.v[i].argv, &cfg, NULL);
	}
	ret = 0;
	if (appctl_run(&ex, &jobs, 0, &errors) < 0) {
		log_error("%s", errors.buf);
		ret = 1;
	}
	/* the accessories: docker ps of each on its hosts */
	if (cli_accessories_details(&cfg, &ex) < 0) {
		ret = 1;
	}
out:
	appctl_jobs_release(&jobs);
	strvec_clear(&hosts);
	sbuf_release(&errors);
	err_release(&e);
	exec_release(&ex);
	config_release(&cfg);
	return ret;
}
