/*
 * berth app: look at and steer the app's containers on its hosts, as
 * Kamal's `kamal app` does.
 *
 *	berth app containers | images | details     what is on the hosts
 *	berth app version                           the version each role runs
 *	berth app stale_containers [--stop]         running containers of older versions
 *	berth app start | stop                      the newest container of each role
 *	                                            (with instances: every one of its version)
 *	berth app logs [-f] [-n N] [-s SINCE] [-g GREP] [--container NAME]
 *	berth app exec [-i] [--reuse] [--detach] [-e K=V] [--version V] CMD [ARG...]
 *	berth app remove                            every container and image of the app
 *	berth app maintenance [-m MESSAGE] [--drain-timeout S] | live
 *	                                            proxied roles answer 503, or serve again
 *
 * -r and -h pick the roles and hosts (patterns with '*'). Output from
 * several hosts is prefixed with "host role | ".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/app.h"
#include "engine/appctl.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

static const char usage[] =
    "berth app boot [--version V] | containers|images|details|version|start|stop|remove|live\n"
    "       berth app stale_containers [--stop]\n"
    "       berth app logs [-f] [-n LINES] [-s SINCE] [-g GREP] [-T] [--container NAME]\n"
    "       berth app exec [-i] [--reuse] [--detach] [-e KEY=VALUE] [--version VERSION] CMD "
    "[ARG...]\n"
    "       berth app maintenance [-m MESSAGE] [--drain-timeout SECONDS]\n"
    "       (each with [-r ROLES] [-h HOSTS] [-d DEST] [-c FILE] [-y] [-v|-q|--json])";

static bool opt_stop, opt_follow, opt_skip_ts, opt_interactive, opt_reuse, opt_detach;
static struct strvec opt_env = STRVEC_INIT;
static unsigned opt_drain_timeout;
static const char *opt_lines, *opt_since, *opt_grep, *opt_container, *opt_message;

static const struct opt app_opts[] = {
    OPT_BOOL(0, "stop", &opt_stop, "stale_containers: stop them too"),
    OPT_BOOL('f', "follow", &opt_follow, "logs: follow the log"),
    OPT_STRING('n', "lines", &opt_lines, "N",
	       "logs: the last N lines (default 100, all with --since or --grep)"),
    OPT_STRING('s', "since", &opt_since, "SINCE", "logs: since a time or a duration (10m)"),
    OPT_STRING('g', "grep", &opt_grep, "PATTERN", "logs: only lines matching PATTERN"),
    OPT_BOOL('T', "skip-timestamps", &opt_skip_ts, "logs: without docker's timestamps"),
    OPT_STRING(0, "container", &opt_container, "NAME", "logs: this container, not the newest"),
    OPT_STRING(0, "container-id", &opt_container, "NAME", "logs: the same as --container"),
    OPT_BOOL('i', "interactive", &opt_interactive, "exec: with a terminal, on one host"),
    OPT_BOOL(0, "reuse", &opt_reuse, "exec: in the running container, not a new one"),
    OPT_BOOL(0, "detach", &opt_detach, "exec: start the command and leave it running"),
    OPT_STRING_LIST('e', "env", &opt_env, "KEY=VALUE",
		    "exec: set this in the command's environment"),
    OPT_STRING('m', "message", &opt_message, "MESSAGE", "maintenance: what the 503 page says"),
    OPT_UINT(0, "drain-timeout", &opt_drain_timeout, "SECONDS",
	     "maintenance: how long requests in flight may take (default: drain_timeout)"),
    OPT_END(),
};

struct app_ctx {
	struct config cfg;
	struct exec ex;
	struct appctl_jobs jobs;
	struct sbuf errors;
};

static int app_load(struct app_ctx *c, bool per_role)
{
	struct config_opts co = {0};
	struct err e = ERR_INIT;
	int ret = -1;

	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	if (config_load(&c->cfg, &co, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&c->cfg, &c->ex);
	if (cli_config_loaded(&c->cfg, &c->ex) < 0) {
		goto out;
	}
	if (!appctl_jobs_init(&c->jobs, &c->cfg, &cli_g.roles, &cli_g.hosts, per_role)) {
		log_error("no hosts of '%s' match -r/-h", c->cfg.file ? c->cfg.file : "the config");
		goto out;
	}
	ret = 0;
out:
	err_release(&e);
	return ret;
}

/* One job per host: the later jobs on a host already seen are skipped. */
static void one_per_host(struct appctl_jobs *jobs)
{
	size_t i, k;

	for (i = 0; i < jobs->nr; i++) {
		for (k = 0; k < i; k++) {
			if (!jobs->v[k].skip && !strcmp(jobs->v[k].host, jobs->v[i].host)) {
				jobs->v[i].skip = true;
			}
		}
	}
}

static const char *role_of(const struct appctl_job *j)
{
	return j->role ? j->role->name : NULL;
}

/* Runs the jobs; 0, or 1 after printing what failed. */
static int run_jobs(struct app_ctx *c, unsigned flags)
{
	if (appctl_run(&c->ex, &c->jobs, flags, &c->errors) < 0) {
		log_error("%s", c->errors.len ? c->errors.buf : "a command failed");
		return 1;
	}
	return 0;
}

static int report_find(struct app_ctx *c, int r)
{
	if (r < 0) {
		log_error("%s", c->errors.buf);
		sbuf_reset(&c->errors);
		return 1;
	}
	return 0;
}

static int app_list(struct app_ctx *c, const char *sub)
{
	size_t i;

	if (!strcmp(sub, "images")) {
		one_per_host(&c->jobs);
	}
	for (i = 0; i < c->jobs.nr; i++) {
		struct appctl_job *j = &c->jobs.v[i];

		if (!strcmp(sub, "containers")) {
			appctl_ps_argv(&j->argv, &c->cfg, role_of(j), true, NULL);
		} else if (!strcmp(sub, "details")) {
			appctl_ps_argv(&j->argv, &c->cfg, role_of(j), false, NULL);
		} else if (!strcmp(sub, "images")) {
			appctl_images_argv(&j->argv, &c->cfg);
		} else {
			appctl_stale_argv(&j->argv, &c->cfg, role_of(j), opt_stop);
		}
	}
	return run_jobs(c, 0);
}

static int app_version(struct app_ctx *c)
{
	int ret = report_find(c, appctl_find_version(&c->ex, &c->cfg, &c->jobs, &c->errors));
	json_t *arr = cli_g.json ? json_array() : NULL;
	size_t i;

	for (i = 0; i < c->jobs.nr; i++) {
		struct appctl_job *j = &c->jobs.v[i];

		if (j->cmd.status != 0) {
			continue;
		}
		if (arr) {
			json_t *o = json_object();

			json_object_set_new(o, "host", json_string(j->host));
			json_object_set_new(o, "role", json_string(j->role->name));
			json_object_set_new(o, "version",
					    j->container ? json_string(j->container) : json_null());
			json_array_append_new(arr, o);
		} else if (c->jobs.nr == 1) {
			printf("%s\n", j->container ? j->container : "(nothing running)");
		} else {
			printf("%s%s\n", j->prefix,
			       j->container ? j->container : "(nothing running)");
		}
	}
	if (arr) {
		cli_print_json(arr);
	}
	return ret;
}

static int app_start_stop(struct app_ctx *c, bool start)
{
	size_t i, none = 0;
	int ret = report_find(c, appctl_find(&c->ex, &c->cfg, &c->jobs, !start, &c->errors));

	for (i = 0; i < c->jobs.nr; i++) {
		struct appctl_job *j = &c->jobs.v[i];

		strvec_clear(&j->argv);
		if (j->cmd.status != 0) {
			j->skip = true;
			continue;
		}
		if (!j->container) {
			log_info("%s%s", c->jobs.nr > 1 ? j->prefix : "",
				 start ? "no container of this role to start"
				       : "no running container of this role");
			j->skip = true;
			none++;
			continue;
		}
		strvec_pushv(&j->argv, (const char *[]){"docker", start ? "start" : "stop", NULL});
		if (!start && j->role->stop_timeout >= 0) {
			strvec_pushf(&j->argv, "--time=%lld", j->role->stop_timeout);
		}
		strvec_push(&j->argv, j->container);
		/* a role with instances: every container of the newest's version */
		if (j->role->instances > 1) {
			unsigned k, inst = 0;
			const char *v = app_instance_version(&c->cfg, j->role, j->container, &inst);

			for (k = 1; v && k <= (unsigned)j->role->instances; k++) {
				struct sbuf n = SBUF_INIT;

				app_instance_name(&n, &c->cfg, j->role->name, v, k);
				if (k != inst) {
					strvec_push(&j->argv, n.buf);
				}
				sbuf_release(&n);
			}
		}
	}
	if (run_jobs(c, 0)) {
		ret = 1;
	}
	if (start && none == c->jobs.nr) {
		ret = 1;
	}
	return ret;
}

static int app_logs(struct app_ctx *c)
{
	struct appctl_logs o = {0};
	size_t i;
	int ret = 0;

	o.lines = opt_since || opt_grep ? -1 : 100;
	if (opt_lines) {
		char *end;
		unsigned long n = strtoul(opt_lines, &end, 10);

		if (!*opt_lines || *end || n > 1000000) {
			log_error("-n expects a number of lines, got '%s'", opt_lines);
			return 2;
		}
		o.lines = (long)n;
	}
	o.since = opt_since;
	o.follow = opt_follow;
	o.timestamps = !opt_skip_ts;
	o.grep = opt_grep;
	if (opt_container) {
		for (i = 0; i < c->jobs.nr; i++) {
			c->jobs.v[i].container = xstrdup(opt_container);
		}
	} else {
		/* the newest running container, else the newest one (it may have crashed) */
		ret = report_find(c, appctl_find(&c->ex, &c->cfg, &c->jobs, true, &c->errors));
		for (i = 0; i < c->jobs.nr; i++) {
			c->jobs.v[i].skip = c->jobs.v[i].container || c->jobs.v[i].cmd.status;
		}
		ret |= report_find(c, appctl_find(&c->ex, &c->cfg, &c->jobs, false, &c->errors));
		for (i = 0; i < c->jobs.nr; i++) {
			c->jobs.v[i].skip = false;
		}
	}
	for (i = 0; i < c->jobs.nr; i++) {
		struct appctl_job *j = &c->jobs.v[i];

		strvec_clear(&j->argv);
		if (!j->container) {
			log_info("%sno container of this role", c->jobs.nr > 1 ? j->prefix : "");
			j->skip = true;
			continue;
		}
		appctl_logs_argv(&j->argv, j->container, &o);
	}
	return run_jobs(c, 0) | ret;
}

static int app_exec(struct app_ctx *c, int nops, const char **ops)
{
	struct strvec words = STRVEC_INIT;
	struct sbuf line = SBUF_INIT, sb = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t i, chosen = 0;
	int ret = 1;

	if (cli_command_words(ops, nops, usage, &line, &words)) {
		ret = 2;
		goto out;
	}
	if (cli_g.version && !app_version_ok(cli_g.version)) {
		log_error("'%s' cannot be a version", cli_g.version);
		ret = 2;
		goto out;
	}
	if (opt_detach && (opt_interactive || opt_reuse)) {
		log_error("--detach starts a new container and leaves it: not with %s",
			  opt_interactive ? "--interactive" : "--reuse");
		ret = 2;
		goto out;
	}
	for (i = 0; i < opt_env.nr; i++) {
		/* Kamal's hash option spells it KEY:VALUE */
		char *eq = strchr(opt_env.v[i], '='), *colon = strchr(opt_env.v[i], ':');

		if (!eq && colon) {
			*colon = '=';
			eq = colon;
		}
		if (!eq || eq == opt_env.v[i]) {
			log_error("-e '%s': expected KEY=VALUE", opt_env.v[i]);
			ret = 2;
			goto out;
		}
	}
	if (opt_interactive) {
		/* one host: the first of the primary role among the chosen ones */
		for (i = 0; i < c->jobs.nr; i++) {
			if (!strcmp(c->jobs.v[i].role->name, c->cfg.primary_role)) {
				chosen = i;
				break;
			}
		}
		for (i = 0; i < c->jobs.nr; i++) {
			c->jobs.v[i].skip = i != chosen;
		}
		if (c->jobs.nr > 1) {
			log_info("interactive: on '%s' (role %s)", c->jobs.v[chosen].host,
				 c->jobs.v[chosen].role->name);
		}
	}
	if (opt_reuse) {
		ret = report_find(c, appctl_find(&c->ex, &c->cfg, &c->jobs, true, &c->errors));
	} else if (!cli_g.version) {
		ret = report_find(c, appctl_find_version(&c->ex, &c->cfg, &c->jobs, &c->errors));
	} else {
		ret = 0;
	}
	for (i = 0; i < c->jobs.nr; i++) {
		struct appctl_job *j = &c->jobs.v[i];

		strvec_clear(&j->argv);
		if (j->skip) {
			continue;
		}
		if (cli_g.version) {
			free(j->container);
			j->container = xstrdup(cli_g.version);
		}
		if (j->cmd.status != 0 || !j->container) {
			if (!j->cmd.status) {
				log_error("%sno running container of role '%s' on '%s'%s",
					  c->jobs.nr > 1 ? j->prefix : "", j->role->name, j->host,
					  opt_reuse ? "" : ": give the version with --version");
			}
			j->skip = true;
			ret = 1;
			continue;
		}
		if (opt_reuse) {
			strvec_pushv(&j->argv, (const char *[]){"docker", "exec", NULL});
			for (size_t k = 0; k < opt_env.nr; k++) {
				strvec_pushf(&j->argv, "--env=%s", opt_env.v[k]);
			}
			strvec_push(&j->argv, j->container);
			strvec_pushv(&j->argv, (const char *const *)words.v);
		} else {
			struct app_run r = {0};
			struct sbuf name = SBUF_INIT;

			sbuf_reset(&sb);
			app_env_path(&sb, &c->cfg, j->role->name);
			app_role_name(&name, &c->cfg, j->role->name);
			sbuf_addf(&name, "-exec-%s-%lx", j->container,
				  (unsigned long)getpid() ^ (unsigned long)i);
			r.version = j->container;
			r.env_file = sb.buf;
			r.host = j->host;
			r.name = name.buf;
			r.cmd = line.buf;
			r.background = opt_detach;
			r.env = &opt_env;
			if (app_run_argv(&j->argv, &c->cfg, j->role, &r, &e) < 0) {
				log_error("%s", err_str(&e));
				j->skip = true;
				ret = 1;
			}
			sbuf_release(&name);
		}
		if (opt_interactive) {
			appctl_make_interactive(&j->argv, isatty(0));
		}
	}
	/* a terminal only when there is one: -i also serves piped input */
	c->ex.tty = opt_interactive && isatty(0);
	if (run_jobs(c, opt_interactive ? APPCTL_STDIN : 0)) {
		ret = 1;
		/* one job: its own exit status */
		for (i = 0; i < c->jobs.nr; i++) {
			if (!c->jobs.v[i].skip && c->jobs.v[i].cmd.started &&
			    !exec_unreachable(&c->ex, &c->jobs.v[i].cmd) &&
			    (opt_interactive || c->jobs.nr == 1)) {
				ret = c->jobs.v[i].cmd.status;
			}
		}
	}
out:
	strvec_clear(&words);
	sbuf_release(&line);
	sbuf_release(&sb);
	err_release(&e);
	return ret;
}

static int app_remove(struct app_ctx *c)
{
	struct sbuf q = SBUF_INIT;
	size_t i, nhosts = 0;
	int ret = 1;

	one_per_host(&c->jobs);
	for (i = 0; i < c->jobs.nr; i++) {
		nhosts += !c->jobs.v[i].skip;
	}
	sbuf_addf(&q, "remove every container%s of '%s' on %zu host%s",
		  cli_g.roles.nr ? "" : " and image", c->cfg.service, nhosts,
		  nhosts == 1 ? "" : "s");
	if (!cli_confirm(q.buf)) {
		goto out;
	}
	/* with -r only those roles' containers go; the image is shared by every role */
	for (i = 0; i < c->jobs.nr; i++) {
		appctl_remove_containers_argv(&c->jobs.v[i].argv, &c->cfg, role_of(&c->jobs.v[i]));
	}
	if (run_jobs(c, 0)) {
		goto out;
	}
	if (!cli_g.roles.nr) {
		for (i = 0; i < c->jobs.nr; i++) {
			strvec_clear(&c->jobs.v[i].argv);
			appctl_remove_images_argv(&c->jobs.v[i].argv, &c->cfg);
		}
		if (run_jobs(c, 0)) {
			goto out;
		}
	}
	log_info("removed the containers%s of '%s' on %zu host%s",
		 cli_g.roles.nr ? "" : " and images", c->cfg.service, nhosts,
		 nhosts == 1 ? "" : "s");
	ret = 0;
out:
	sbuf_release(&q);
	return ret;
}

static int app_proxy(struct app_ctx *c, bool maintenance)
{
	size_t i, n = 0;

	for (i = 0; i < c->jobs.nr; i++) {
		struct appctl_job *j = &c->jobs.v[i];

		if (!j->role->proxy.enabled) {
			j->skip = true;
			continue;
		}
		n++;
		appctl_proxy_argv(&j->argv, &c->cfg, j->role->name, maintenance ? "stop" : "resume",
				  maintenance ? opt_message : NULL);
		if (maintenance) {
			/* Kamal's default: the config's drain_timeout */
			strvec_pushf(&j->argv, "--drain-timeout=%llus",
				     opt_drain_timeout ? (unsigned long long)opt_drain_timeout
				     : c->cfg.drain_timeout > 0
					 ? (unsigned long long)c->cfg.drain_timeout
					 : (unsigned long long)CONFIG_DEFAULT_DRAIN_TIMEOUT);
		}
	}
	if (!n) {
		log_error("none of the chosen roles is behind the proxy");
		return 1;
	}
	return run_jobs(c, 0);
}

int cmd_app(int argc, const char **argv)
{
	static const char *const subs[] = {
	    "containers",  "images", "details", "version", "stale_containers",
	    "start",	   "stop",   "logs",	"exec",	   "remove",
	    "maintenance", "live",   NULL};
	struct app_ctx c;
	const char *sub;
	int nops, ret = 2;
	bool per_role;

	if (argc >= 1 && !strcmp(argv[0], "boot")) {
		return cmd_app_boot(argc - 1, argv + 1);
	}
	ret = cli_subcommand(argc, argv, subs, "an app", usage, &sub);
	if (ret != 1) {
		return ret;
	}
	ret = 2;
	nops = cli_parse(argc - 1, argv + 1, (const struct opt *const[]){app_opts, NULL},
			 !strcmp(sub, "exec") ? OPT_F_STOP_AT_OPERAND : 0, usage);
	if (nops < 0) {
		return nops == -2 ? 0 : 2;
	}
	if (nops && strcmp(sub, "exec")) {
		log_error("unexpected argument '%s'\nusage: %s", argv[1], usage);
		return 2;
	}
	memset(&c, 0, sizeof(c));
	config_init(&c.cfg);
	exec_init(&c.ex, EXEC_SSH);
	sbuf_init(&c.errors, 0);
	per_role = strcmp(sub, "containers") && strcmp(sub, "images") && strcmp(sub, "details") &&
		   strcmp(sub, "remove");
	if (app_load(&c, per_role) < 0) {
		ret = 1;
		goto out;
	}
	if (!strcmp(sub, "containers") || !strcmp(sub, "images") || !strcmp(sub, "details") ||
	    !strcmp(sub, "stale_containers")) {
		ret = app_list(&c, sub);
	} else if (!strcmp(sub, "version")) {
		ret = app_version(&c);
	} else if (!strcmp(sub, "start") || !strcmp(sub, "stop")) {
		ret = app_start_stop(&c, !strcmp(sub, "start"));
	} else if (!strcmp(sub, "logs")) {
		ret = app_logs(&c);
	} else if (!strcmp(sub, "exec")) {
		ret = app_exec(&c, nops, argv + 1);
	} else if (!strcmp(sub, "remove")) {
		ret = app_remove(&c);
	} else {
		ret = app_proxy(&c, !strcmp(sub, "maintenance"));
	}
out:
	appctl_jobs_release(&c.jobs);
	sbuf_release(&c.errors);
	exec_release(&c.ex);
	config_release(&c.cfg);
	return ret;
}
