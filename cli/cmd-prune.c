/*
 * berth prune all|images|containers|builder|volumes: free the hosts of what
 * old releases and builds left, as `kamal prune` does.
 *
 *	containers  stopped containers of each role beyond the newest
 *	            retain_containers (default 5), so that rollback still has them;
 *	            then the asset files (asset_path) of versions no container of
 *	            the role has any more, unless changed in the last hour
 *	images      dangling images labelled service=<service>, and tagged images
 *	            of the app's repository past the newest retain_containers
 *	            that no container uses
 *	builder     build cache unused for a week (engine/scripts/prune-builder.sh)
 *	all         containers, images, then builder
 *	volumes     only when asked by name, never in all: dangling anonymous
 *	            volumes (engine/scripts/prune-volumes.sh), listed with their
 *	            size, removed after a yes (-y; refused off a terminal without)
 *
 * --retain N keeps N instead of retain_containers.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/app.h"
#include "engine/appctl.h"
#include "engine/scripts.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

static const char usage[] =
    "berth prune all|images|containers|builder [--retain N] [-r ROLES] [-h HOSTS] [-d DEST] "
    "[-c FILE]\n"
    "       berth prune volumes [-y] [-r ROLES] [-h HOSTS] [-d DEST] [-c FILE]";

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
	size_t i, n;
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
	/* what a deploy left of the versions gone: a failed one's assets */
	for (i = 0, n = 0; !ret && i < jobs.nr; i++) {
		struct appctl_job *j = &jobs.v[i];

		strvec_clear(&j->argv);
		j->skip = !app_assets(j->role);
		if (!j->skip) {
			appctl_prune_assets_argv(&j->argv, cfg, j->role->name);
			n++;
		}
	}
	if (!ret && n) {
		ret = prune_run(ex, &jobs);
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

/* One job per host of the app (-r/-h narrow), each running script with args. */
static void host_jobs(struct appctl_jobs *jobs, const struct config *cfg, const char *name,
		      const char *script, const char *const *args)
{
	size_t i;

	appctl_jobs_init(jobs, cfg, NULL, &cli_g.hosts, false);
	for (i = 0; i < jobs->nr; i++) {
		strvec_pushv(&jobs->v[i].argv, (const char *[]){"sh", "-c", script, name, NULL});
		strvec_pushv(&jobs->v[i].argv, args);
	}
}

static int prune_builder(struct config *cfg, struct exec *ex)
{
	struct appctl_jobs jobs;
	int ret;

	host_jobs(&jobs, cfg, "prune-builder", script_prune_builder, (const char *[]){NULL});
	ret = prune_run(ex, &jobs);
	if (!ret) {
		log_info("pruned build cache unused for a week");
	}
	appctl_jobs_release(&jobs);
	return ret;
}

static int prune_volumes(struct config *cfg, struct exec *ex)
{
	struct appctl_jobs jobs;
	struct sbuf errors = SBUF_INIT, question = SBUF_INIT;
	size_t i, total = 0;
	int ret = 1;

	host_jobs(&jobs, cfg, "prune-volumes", script_prune_volumes,
		  (const char *[]){"list", NULL});
	if (appctl_run(ex, &jobs, APPCTL_CAPTURE, &errors) < 0) {
		log_error("%s", errors.len ? errors.buf : "a command failed");
		goto out;
	}
	for (i = 0; i < jobs.nr; i++) {
		struct appctl_job *j = &jobs.v[i];
		struct sbuf *o = &j->cmd.outbuf;
		char *line, *save = NULL;
		char *text = xstrndup(o->buf ? o->buf : "", o->len);

		strvec_clear(&j->argv);
		strvec_pushv(&j->argv, (const char *[]){"sh", "-c", script_prune_volumes,
							"prune-volumes", "remove", NULL});
		j->skip = true;
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *sp = strchr(line, ' ');

			printf("%s | %s\n", j->host, line);
			if (sp) {
				*sp = 0;
			}
			strvec_push(&j->argv, line);
			j->skip = false;
			total++;
		}
		free(text);
	}
	if (!total) {
		log_info("no dangling anonymous volumes");
		ret = 0;
		goto out;
	}
	fflush(stdout);
	sbuf_addf(&question, "Remove these %zu volume%s and the data in them?", total,
		  total == 1 ? "" : "s");
	if (!cli_confirm(question.buf)) {
		log_error("nothing removed");
		goto out;
	}
	sbuf_reset(&errors);
	if (appctl_run(ex, &jobs, 0, &errors) < 0) {
		log_error("%s", errors.len ? errors.buf : "a command failed");
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&question);
	sbuf_release(&errors);
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
	static unsigned retain = UINT_MAX; /* not given */
	const struct opt own[] = {
	    OPT_UINT(0, "retain", &retain, "N",
		     "keep the newest N containers and images (default: retain_containers)"),
	    OPT_END(),
	};
	long long keep;
	int n, ret = 2;

	config_init(&cfg);
	exec_init(&ex, EXEC_SSH);
	n = cli_parse(argc, argv, (const struct opt *const[]){own, NULL}, 0, usage);
	if (n < 0) {
		ret = n == -2 ? 0 : 2;
		goto out;
	}
	if (n != 1 ||
	    (strcmp(argv[0], "all") && strcmp(argv[0], "images") && strcmp(argv[0], "containers") &&
	     strcmp(argv[0], "builder") && strcmp(argv[0], "volumes"))) {
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
	if (cli_config_loaded(&cfg, &ex) < 0) {
		goto out;
	}
	if (!config_role_hosts(&cfg, &cli_g.roles, &cli_g.hosts, &hosts)) {
		log_error("no hosts of '%s' match -r/-h", cfg.file);
		goto out;
	}
	if (retain == 0) {
		log_error("--retain: keep at least 1 (the running container)");
		goto out;
	}
	keep = retain != UINT_MAX	   ? retain
	       : cfg.retain_containers > 0 ? cfg.retain_containers
					   : CONFIG_DEFAULT_RETAIN_CONTAINERS;
	ret = 0;
	if (!strcmp(sub, "volumes")) {
		ret = prune_volumes(&cfg, &ex);
		goto out;
	}
	if (!strcmp(sub, "all") || !strcmp(sub, "containers")) {
		ret = prune_containers(&cfg, &ex, keep);
	}
	if (!ret && (!strcmp(sub, "all") || !strcmp(sub, "images"))) {
		ret = prune_images(&cfg, &ex, keep);
	}
	if (!ret && (!strcmp(sub, "all") || !strcmp(sub, "builder"))) {
		ret = prune_builder(&cfg, &ex);
	}
out:
	strvec_clear(&hosts);
	err_release(&e);
	exec_release(&ex);
	config_release(&cfg);
	return ret;
}
