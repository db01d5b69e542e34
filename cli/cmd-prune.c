/*
 * berth prune all|images|containers: free the hosts of what old releases
 * left, as `kamal prune` does.
 *
 *	containers  stopped containers of each role beyond the newest
 *	            retain_containers (default 5), so that rollback still has them
 *	images      dangling images labelled service=<service>, and tagged images
 *	            of the app's repository past the newest retain_containers
 *	            that no container uses
 *	all         containers, then images
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/appctl.h"
#include "lib/log.h"
#include "lib/banned.h"

static const char usage[] =
    "berth prune all|images|containers [-r ROLES] [-h HOSTS] [-d DEST] [-c FILE]";

static int prune_run(struct exec *ex, struct appctl_jobs *jobs)
{
	struct sbuf errors = SBUF_INIT;
	int ret = 0;

	if (appctl_run(ex, jobs, 0, &errors) < 0) {
		log_error("%s", errors.len ? errors.buf : "a command failed");
		ret = 1;
	}
	sbuf_release(&errors);
	return ret;
}

static int prune_containers(struct config *cfg, struct exec *ex, long long keep)
{
	struct appctl_jobs jobs;
	size_t i;
	int ret;

	appctl_jobs_init(&jobs, cfg, &cli_g.roles, &cli_g.hosts, true);
	for (i = 0; i < jobs.nr; i++) {
		appctl_prune_containers_argv(&jobs.v[i].argv, cfg, jobs.v[i].role->name, keep);
	}
	ret = prune_run(ex, &jobs);
	if (!ret) {
		log_info("pruned stopped containers of '%s' beyond the newest %lld per role",
			 cfg->service, keep);
	}
	appctl_jobs_release(&jobs);
	return ret;
}

static int prune_images(struct config *cfg, struct exec *ex, long long keep)
{
	struct appctl_jobs jobs;
	size_t i;
	int ret;

	/* images belong to the host, not to a role */
	appctl_jobs_init(&jobs, cfg, NULL, &cli_g.hosts, false);
	for (i = 0; i < jobs.nr; i++) {
		appctl_prune_dangling_argv(&jobs.v[i].argv, cfg);
	}
	ret = prune_run(ex, &jobs);
	for (i = 0; !ret && i < jobs.nr; i++) {
		strvec_clear(&jobs.v[i].argv);
		appctl_prune_tagged_argv(&jobs.v[i].argv, cfg, keep);
	}
	if (!ret) {
		ret = prune_run(ex, &jobs);
	}
	if (!ret) {
		log_info("pruned the unused images of '%s' beyond the newest %lld", cfg->service,
			 keep);
	}
	appctl_jobs_release(&jobs);
	return ret;
}

int cmd_prune(int argc, const char **argv)
{
	struct config_opts co = {0};
	struct config cfg;
	struct exec ex;
	struct err e = ERR_INIT;
	struct strvec hosts = STRVEC_INIT;
	const char *sub;
	long long keep;
	int n, ret = 2;

	config_init(&cfg);
	exec_init(&ex, EXEC_SSH);
	n = cli_parse(argc, argv, NULL, 0, usage);
	if (n < 0) {
		ret = n == -2 ? 0 : 2;
		goto out;
	}
	if (n != 1 || (strcmp(argv[0], "all") && strcmp(argv[0], "images") &&
		       strcmp(argv[0], "containers"))) {
		log_error("usage: %s", usage);
		goto out;
	}
	sub = argv[0];
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	ret = 1;
	if (config_load(&cfg, &co, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&cfg, &ex);
	if (!config_role_hosts(&cfg, &cli_g.roles, &cli_g.hosts, &hosts)) {
		log_error("no hosts of '%s' match -r/-h", cfg.file);
		goto out;
	}
	keep = cfg.retain_containers > 0 ? cfg.retain_containers : 5;
	ret = 0;
	if (strcmp(sub, "images")) {
		ret = prune_containers(&cfg, &ex, keep);
	}
	if (!ret && strcmp(sub, "containers")) {
		ret = prune_images(&cfg, &ex, keep);
	}
out:
	strvec_clear(&hosts);
	err_release(&e);
	exec_release(&ex);
	config_release(&cfg);
	return ret;
}
