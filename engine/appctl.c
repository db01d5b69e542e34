#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine/app.h"
#include "engine/appctl.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "engine/scripts.h"
#include "lib/banned.h"

struct appctl_job *appctl_jobs_add(struct appctl_jobs *jobs, const char *host,
				   const struct config_role *role, const char *label)
{
	struct appctl_job *j;

	XGROW(jobs->v, jobs->alloc, jobs->nr + 1);
	j = &jobs->v[jobs->nr++];
	memset(j, 0, sizeof(*j));
	j->host = host;
	j->role = role;
	j->label = label;
	strvec_init(&j->argv);
	run_cmd_init(&j->cmd);
	return j;
}

static const char *job_label(const struct appctl_job *j)
{
	return j->role ? j->role->name : j->label;
}

void appctl_jobs_prefix(struct appctl_jobs *jobs)
{
	size_t i, width = 0;

	for (i = 0; i < jobs->nr; i++) {
		size_t l = strlen(jobs->v[i].host) +
			   (job_label(&jobs->v[i]) ? strlen(job_label(&jobs->v[i])) + 1 : 0);
		width = l > width ? l : width;
	}
	for (i = 0; i < jobs->nr; i++) {
		struct sbuf sb = SBUF_INIT;

		sbuf_addstr(&sb, jobs->v[i].host);
		if (job_label(&jobs->v[i])) {
			sbuf_addf(&sb, " %s", job_label(&jobs->v[i]));
		}
		while (sb.len < width) {
			sbuf_addch(&sb, ' ');
		}
		sbuf_addstr(&sb, " | ");
		free(jobs->v[i].prefix);
		jobs->v[i].prefix = sbuf_detach(&sb, NULL);
	}
}

size_t appctl_jobs_init(struct appctl_jobs *jobs, const struct config *cfg,
			const struct strvec *roles, const struct strvec *hosts, bool per_role)
{
	bool by_role = per_role || (roles && roles->nr);
	size_t i, k, m;

	memset(jobs, 0, sizeof(*jobs));
	for (i = 0; i < cfg->nr_roles; i++) {
		const struct config_role *r = &cfg->roles[i];

		if (!config_match_any(roles, r->name)) {
			continue;
		}
		for (k = 0; k < r->nr_hosts; k++) {
			const char *h = r->hosts[k].name;
			bool seen = false;

			if (!config_match_any(hosts, h)) {
				continue;
			}
			for (m = 0; !by_role && m < jobs->nr; m++) {
				seen = seen || !strcmp(jobs->v[m].host, h);
			}
			if (!seen) {
				appctl_jobs_add(jobs, h, by_role ? r : NULL, NULL);
			}
		}
	}
	appctl_jobs_prefix(jobs);
	return jobs->nr;
}

void appctl_jobs_release(struct appctl_jobs *jobs)
{
	size_t i;

	for (i = 0; i < jobs->nr; i++) {
		strvec_clear(&jobs->v[i].argv);
		run_cmd_release(&jobs->v[i].cmd);
		free(jobs->v[i].prefix);
		free(jobs->v[i].container);
	}
	free(jobs->v);
	memset(jobs, 0, sizeof(*jobs));
}

int appctl_run(struct exec *ex, struct appctl_jobs *jobs, unsigned flags, struct sbuf *errors)
{
	struct run_cmd **ptrs = xcalloc(jobs->nr ? jobs->nr : 1, sizeof(*ptrs));
	struct err e = ERR_INIT;
	size_t i, nrun = 0, nlive = 0;
	int ret = 0;

	for (i = 0; i < jobs->nr; i++) {
		nlive += !jobs->v[i].skip;
	}
	for (i = 0; i < jobs->nr; i++) {
		struct appctl_job *j = &jobs->v[i];
		struct run_cmd *c = &j->cmd;

		if (j->skip) {
			continue;
		}
		run_cmd_release(c);
		run_cmd_init(c);
		if (flags & APPCTL_CAPTURE) {
			c->out = RUN_IO_CAPTURE;
			c->capture_max = 1024 * 1024;
		} else if (nlive == 1) {
			c->out = RUN_IO_INHERIT;
		} else {
			c->out = RUN_IO_STREAM;
			c->prefix = j->prefix;
		}
		c->err = flags & APPCTL_CAPTURE ? RUN_IO_CAPTURE : RUN_IO_CAPTURE | RUN_IO_STREAM;
		c->prefix = nlive > 1 ? j->prefix : NULL;
		if (flags & APPCTL_STDIN) {
			c->flags |= RUN_F_STDIN_INHERIT;
		}
		if (exec_prepare(ex, j->host, (const char *const *)j->argv.v, c, &e) < 0) {
			sbuf_addf(errors, "%s%s", errors->len ? "\n" : "", err_str(&e));
			c->status = 2;
			ret = -1;
			continue;
		}
		if (log_get_level() >= LOG_DEBUG) {
			char *line = strvec_join(&j->argv, " ");

			log_debug("run on %s: %s", j->host, line);
			free(line);
		}
		ptrs[nrun++] = c;
	}
	run_all(ptrs, nrun, 16);
	for (i = 0; i < jobs->nr; i++) {
		struct appctl_job *j = &jobs->v[i];
		struct run_cmd *c = &j->cmd;

		if (j->skip || !c->argv.nr || c->status == 0) {
			continue;
		}
		ret = -1;
		if (j->argv.nr > 2 && !strcmp(j->argv.v[0], "sh") && !strcmp(j->argv.v[1], "-c")) {
			/* one of our scripts: its text would say nothing, its exit and stderr do */
			exec_script_result(ex, j->host, &(const struct exec_script){0}, c, &e);
		} else {
			exec_explain(ex, j->host, c, &e);
		}
		sbuf_addf(errors, "%s%s%s%s", errors->len ? "\n" : "", err_str(&e),
			  j->role    ? " (role "
			  : j->label ? " ("
				     : "",
			  job_label(j) ? job_label(j) : "");
		if (job_label(j)) {
			sbuf_addch(errors, ')');
		}
	}
	err_release(&e);
	free(ptrs);
	return ret;
}

bool appctl_name_ok(const char *s)
{
	if (!*s || !isalnum((unsigned char)*s)) {
		return false;
	}
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s)) {
			return false;
		}
	}
	return true;
}

/* Runs each job's argv captured and keeps its first line in container when check accepts it. */
static int find_with(struct exec *ex, struct appctl_jobs *jobs, struct sbuf *errors,
		     bool (*check)(const char *))
{
	size_t i;
	int ret = appctl_run(ex, jobs, APPCTL_CAPTURE, errors);

	for (i = 0; i < jobs->nr; i++) {
		struct appctl_job *j = &jobs->v[i];
		struct slice s = slice_make(j->cmd.outbuf.buf, j->cmd.outbuf.len), line;

		if (j->skip) {
			continue;
		}
		free(j->container);
		j->container = NULL;
		if (j->cmd.status != 0) {
			continue;
		}
		line = slice_trim(slice_next(&s, '\n'));
		if (line.len && line.len <= 255) {
			char *v = slice_dup(line);

			if (check(v)) {
				j->container = v;
			} else {
				free(v);
			}
		}
	}
	return ret;
}

static bool name_ok(const char *v)
{
	return appctl_name_ok(v);
}

static bool version_ok(const char *v)
{
	return app_version_ok(v);
}

int appctl_find(struct exec *ex, const struct config *cfg, struct appctl_jobs *jobs, bool running,
		struct sbuf *errors)
{
	size_t i;

	for (i = 0; i < jobs->nr; i++) {
		strvec_clear(&jobs->v[i].argv);
		appctl_newest_argv(&jobs->v[i].argv, cfg,
				   jobs->v[i].role ? jobs->v[i].role->name : NULL, running,
				   "{{.Names}}");
	}
	return find_with(ex, jobs, errors, name_ok);
}

int appctl_find_version(struct exec *ex, const struct config *cfg, struct appctl_jobs *jobs,
			struct sbuf *errors)
{
	size_t i;

	for (i = 0; i < jobs->nr; i++) {
		strvec_clear(&jobs->v[i].argv);
		appctl_newest_argv(&jobs->v[i].argv, cfg,
				   jobs->v[i].role ? jobs->v[i].role->name : NULL, true,
				   "{{.Label \"version\"}}");
	}
	return find_with(ex, jobs, errors, version_ok);
}

void appctl_ps_argv(struct strvec *argv, const struct config *cfg, const char *role, bool all,
		    const char *format)
{
	strvec_pushv(argv, (const char *[]){"docker", "ps", NULL});
	if (all) {
		strvec_push(argv, "--all");
	}
	app_filter_argv(argv, cfg, role);
	if (format) {
		strvec_pushv(argv, (const char *[]){"--format", format, NULL});
	}
}

void appctl_newest_argv(struct strvec *argv, const struct config *cfg, const char *role,
			bool running, const char *format)
{
	strvec_pushv(argv, (const char *[]){"docker", "ps", "--latest", NULL});
	if (running) {
		strvec_pushv(argv, (const char *[]){"--filter", "status=running", NULL});
	} else {
		strvec_push(argv, "--all");
	}
	app_filter_argv(argv, cfg, role);
	strvec_pushv(argv, (const char *[]){"--format", format, NULL});
}

void appctl_images_argv(struct strvec *argv, const struct config *cfg)
{
	struct sbuf repo = SBUF_INIT;

	app_image_repo(&repo, cfg);
	strvec_pushv(argv, (const char *[]){"docker", "image", "ls", repo.buf, NULL});
	sbuf_release(&repo);
}

void appctl_logs_argv(struct strvec *argv, const char *container, const struct appctl_logs *o)
{
	if (o->grep) {
		strvec_pushv(
		    argv, (const char *[]){"sh", "-c", script_app_logs_grep, "sh", o->grep, NULL});
	} else {
		strvec_pushv(argv, (const char *[]){"docker", "logs", NULL});
	}
	if (o->timestamps) {
		strvec_push(argv, "--timestamps");
	}
	if (o->lines >= 0) {
		strvec_pushf(argv, "--tail=%ld", o->lines);
	}
	if (o->since) {
		strvec_pushf(argv, "--since=%s", o->since);
	}
	if (o->follow) {
		strvec_push(argv, "--follow");
	}
	strvec_pushv(argv, (const char *[]){"--", container, NULL});
}

void appctl_remove_containers_argv(struct strvec *argv, const struct config *cfg, const char *role)
{
	strvec_pushv(argv, (const char *[]){"sh", "-c", script_app_remove_containers, "sh", NULL});
	app_filter_argv(argv, cfg, role);
}

void appctl_remove_images_argv(struct strvec *argv, const struct config *cfg)
{
	struct sbuf repo = SBUF_INIT;

	app_image_repo(&repo, cfg);
	strvec_pushv(argv,
		     (const char *[]){"sh", "-c", script_app_remove_images, "sh", repo.buf, NULL});
	sbuf_release(&repo);
}

void appctl_prune_containers_argv(struct strvec *argv, const struct config *cfg, const char *role,
				  long long keep)
{
	strvec_pushv(argv, (const char *[]){"sh", "-c", script_app_prune_containers, "sh", NULL});
	strvec_pushf(argv, "%lld", keep);
	app_filter_argv(argv, cfg, role);
}

void appctl_prune_assets_argv(struct strvec *argv, const struct config *cfg, const char *role)
{
	struct sbuf dir = SBUF_INIT;

	app_assets_dir(&dir, cfg, role);
	strvec_pushv(argv,
		     (const char *[]){"sh", "-c", script_deploy_assets, "berth-assets", "clean",
				      dir.buf, "all", APPCTL_ASSETS_MIN_AGE, "", NULL});
	app_filter_argv(argv, cfg, role);
	sbuf_release(&dir);
}

void appctl_prune_dangling_argv(struct strvec *argv, const struct config *cfg)
{
	strvec_pushv(argv,
		     (const char *[]){"docker", "image", "prune", "--force", "--filter", NULL});
	strvec_pushf(argv, "label=service=%s", cfg->service);
}

void appctl_prune_tagged_argv(struct strvec *argv, const struct config *cfg, long long keep)
{
	struct sbuf repo = SBUF_INIT;

	app_image_repo(&repo, cfg);
	strvec_pushv(argv,
		     (const char *[]){"sh", "-c", script_app_prune_tagged, "sh", repo.buf, NULL});
	strvec_pushf(argv, "%lld", keep);
	sbuf_release(&repo);
}

void appctl_stale_argv(struct strvec *argv, const struct config *cfg, const char *role, bool stop)
{
	strvec_pushv(argv,
		     (const char *[]){"sh", "-c", script_app_stale, "sh", stop ? "1" : "0", NULL});
	app_filter_argv(argv, cfg, role);
}

void appctl_proxy_argv(struct strvec *argv, const struct config *cfg, const char *role,
		       const char *verb, const char *message)
{
	struct sbuf name = SBUF_INIT;

	app_role_name(&name, cfg, role);
	strvec_pushv(argv, (const char *[]){"docker", "exec", APP_PROXY_CONTAINER, "berth-proxy",
					    verb, name.buf, NULL});
	if (message) {
		strvec_pushf(argv, "--message=%s", message);
	}
	sbuf_release(&name);
}

void appctl_make_interactive(struct strvec *argv, bool tty)
{
	struct strvec v = STRVEC_INIT;
	size_t i;

	for (i = 0; i < argv->nr; i++) {
		strvec_push(&v, argv->v[i]);
		if (i == 1) {
			strvec_push(&v, "--interactive");
			if (tty) {
				strvec_push(&v, "--tty");
			}
		}
	}
	strvec_clear(argv);
	*argv = v;
}
