/*
 * berth accessory: Kamal's accessories (engine/accessory.h) on their hosts.
 *
 *	berth accessory boot NAME|all        start it where no container of it exists
 *	berth accessory reboot NAME|all      pull, remove the container, boot again
 *	berth accessory upgrade NAME|all     the same, said as a restart (--rolling: host by host),
 *	                                     after a verified backup when it has backups
 *(--no-backup) berth accessory start|stop|restart NAME|all berth accessory details NAME|all docker
 *ps of it on each host berth accessory logs NAME|all [-f] [-n N] [-s SINCE] [-g GREP] [-T] berth
 *accessory exec NAME [-i] [--reuse] CMD [ARG...] berth accessory remove NAME|all [-y]  container,
 *image and its directory (asks first)
 *
 * The commands that change hosts take the deploy lock as a deploy does and
 * write their line to the audit log of the hosts they acted on. -h and -r
 * narrow the hosts. `berth setup`, `details` and `remove` call the
 * functions at the end of this file.
 *
 * An accessory with a backup schedule has a scheduler on its hosts
 * (engine/backup.h): boot, reboot, upgrade and setup install or refresh it
 * (and take it away when the schedule is gone), remove and `berth remove`
 * take it away first, details shows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/accessory.h"
#include "engine/app.h"
#include "engine/appctl.h"
#include "engine/backup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

static const char usage[] =
    "berth accessory boot|reboot|start|stop|restart|details|remove NAME|all\n"
    "       berth accessory upgrade NAME|all [--rolling] [--no-backup]\n"
    "       berth accessory logs NAME|all [-f] [-n LINES] [-s SINCE] [-g GREP] [-T]\n"
    "       berth accessory exec NAME [-i] [--reuse] CMD [ARG...]\n"
    "       (each with [-h HOSTS] [-r ROLES] [-d DEST] [-c FILE] [-y] [-v|-q] [--lock-wait S])";

static bool opt_follow, opt_skip_ts, opt_interactive, opt_reuse, opt_rolling, opt_no_backup;
static const char *opt_lines, *opt_since, *opt_grep;

static const struct opt acc_opts[] = {
    OPT_BOOL('f', "follow", &opt_follow, "logs: follow the log"),
    OPT_STRING('n', "lines", &opt_lines, "N",
	       "logs: the last N lines (default 100, all with --since or --grep)"),
    OPT_STRING('s', "since", &opt_since, "SINCE", "logs: since a time or a duration (10m)"),
    OPT_STRING('g', "grep", &opt_grep, "PATTERN", "logs: only lines matching PATTERN"),
    OPT_BOOL('T', "skip-timestamps", &opt_skip_ts, "logs: without docker's timestamps"),
    OPT_BOOL('i', "interactive", &opt_interactive, "exec: with a terminal, on the first host"),
    OPT_BOOL(0, "reuse", &opt_reuse, "exec: in the running container, not a new one"),
    OPT_BOOL(0, "rolling", &opt_rolling, "upgrade: one host at a time"),
    OPT_BOOL(0, "no-backup", &opt_no_backup, "upgrade: without the backup taken first"),
    OPT_END(),
};

/* The accessories NAME means ("all": every one), or -1 after saying why. */
static int pick(const struct config *cfg, const char *name, const struct config_accessory **out,
		size_t *n)
{
	const struct config_accessory *a;
	struct sbuf names = SBUF_INIT;
	size_t i;

	*n = 0;
	if (!cfg->nr_accessories) {
		log_error("'%s' has no accessories", cfg->file ? cfg->file : "the config");
		return -1;
	}
	if (!strcmp(name, "all")) {
		for (i = 0; i < cfg->nr_accessories; i++) {
			out[(*n)++] = &cfg->accessories[i];
		}
		return 0;
	}
	a = config_accessory(cfg, name);
	if (a) {
		out[(*n)++] = a;
		return 0;
	}
	for (i = 0; i < cfg->nr_accessories; i++) {
		sbuf_addf(&names, "%s%s", i ? ", " : "", cfg->accessories[i].name);
	}
	log_error("no accessory '%s' in %s (accessories: %s, or all)", name,
		  cfg->file ? cfg->file : "the config", names.buf);
	sbuf_release(&names);
	return -1;
}

/* "on h1, h2" for a's hosts in c. */
static void hosts_of(struct sbuf *out, const struct accessory_ctx *c,
		     const struct config_accessory *a)
{
	struct strvec hosts = STRVEC_INIT;
	char *list;

	accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
	list = strvec_join(&hosts, ", ");
	sbuf_addstr(out, hosts.nr ? list : "no host (-h/-r leave none)");
	free(list);
	strvec_clear(&hosts);
}

/*
 * The question `remove` asks before anything goes: what, on which hosts,
 * and the directories (its data) by name.
 */
static void remove_question(struct sbuf *q, const struct accessory_ctx *c,
			    const struct config_accessory *const *as, size_t n, bool ask)
{
	struct sbuf img = SBUF_INIT;
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct config_accessory *a = as[i];

		sbuf_reset(&img);
		accessory_image(&img, a);
		sbuf_addf(q, "%saccessory '%s' on ", i ? "\n" : "", a->name);
		hosts_of(q, c, a);
		sbuf_addf(q, ": container %s, image %s (when unused), and its directory ~/%s",
			  a->service, img.buf, a->service);
		for (k = 0; k < a->directories.nr; k++) {
			if (a->directories.v[k].local[0] != '/') {
				sbuf_addf(q, "%s~/%s/%s", k ? ", " : " with its data in ",
					  a->service, a->directories.v[k].local);
			}
		}
		sbuf_addstr(q, ", deleted for good");
	}
	if (ask) {
		sbuf_addf(q, "\nremove %s?", n == 1 ? "it" : "them");
	}
	sbuf_release(&img);
}

static void audit(struct accessory_ctx *c, const struct config_accessory *a, const char *verb,
		  bool ok)
{
	struct strvec hosts = STRVEC_INIT;
	struct sbuf msg = SBUF_INIT;

	accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
	sbuf_addf(&msg, "accessory %s %s%s", verb, a->name, ok ? "" : " failed");
	accessory_audit(c, &hosts, msg.buf);
	sbuf_release(&msg);
	strvec_clear(&hosts);
}

static void build_ps(struct appctl_job *j, const struct config_accessory *a, void *data)
{
	accessory_ps_argv(&j->argv, a, true, NULL);
}

static void build_logs(struct appctl_job *j, const struct config_accessory *a, void *data)
{
	appctl_logs_argv(&j->argv, a->service, data);
}

/* pull, the container removed, booted again: reboot and upgrade, on the hosts of c */
static int reboot(struct accessory_ctx *c, const struct config_accessory *a, struct err *e)
{
	if (accessory_pull(c, a, e) < 0 || accessory_remove(c, a, false, e) < 0 ||
	    accessory_boot(c, a, NULL, e) < 0) {
		return -1;
	}
	return 0;
}

static void build_scheduler_ps(struct appctl_job *j, const struct config_accessory *a, void *data)
{
	struct sbuf f = SBUF_INIT;

	sbuf_addstr(&f, "name=^");
	backup_scheduler_name(&f, a);
	sbuf_addch(&f, '$');
	strvec_pushv(&j->argv, (const char *[]){"docker", "ps", "--all", "--filter", f.buf, NULL});
	sbuf_release(&f);
}

static int act_one(struct accessory_ctx *c, const char *sub, const struct config_accessory *a,
		   struct err *e);

/*
 * act, and then the backup scheduler brought in line: boot, reboot and
 * upgrade install or refresh it (or take it away when the schedule is
 * gone), remove takes it away, details shows it.
 */
static int act(struct accessory_ctx *c, const char *sub, const struct config_accessory *a,
	       struct err *e)
{
	bool boots = !strcmp(sub, "boot") || !strcmp(sub, "reboot") || !strcmp(sub, "upgrade");

	if (!strcmp(sub, "remove") && cli_backup_schedule(c, a, true) < 0) {
		return err_set(e, "accessory '%s': its backup scheduler cannot be removed",
			       a->name);
	}
	if (act_one(c, sub, a, e) < 0) {
		return -1;
	}
	if (boots && cli_backup_schedule(c, a, false) < 0) {
		return err_set(
		    e, "accessory '%s': its backup scheduler is not in line with the config",
		    a->name);
	}
	if (!strcmp(sub, "details") && a->has_backup && a->backup.schedule) {
		return accessory_run_jobs(c, a, build_scheduler_ps, NULL, 0, e);
	}
	return 0;
}

static int act_one(struct accessory_ctx *c, const char *sub, const struct config_accessory *a,
		   struct err *e)
{
	if (!strcmp(sub, "boot")) {
		return accessory_boot(c, a, NULL, e);
	}
	if (!strcmp(sub, "reboot")) {
		return reboot(c, a, e);
	}
	if (!strcmp(sub, "upgrade")) {
		struct strvec hosts = STRVEC_INIT, one = STRVEC_INIT;
		const struct strvec *saved = c->hosts;
		struct sbuf on = SBUF_INIT;
		size_t i;
		int ret = 0;

		hosts_of(&on, c, a);
		log_info("upgrading '%s' onto its image: it restarts on %s", a->name, on.buf);
		sbuf_release(&on);
		/* its data backed up and verified first, when it has backups */
		if (!opt_no_backup && cli_backup_before(c, a, e) < 0) {
			return -1;
		}
		if (!opt_rolling) {
			return reboot(c, a, e);
		}
		accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
		for (i = 0; i < hosts.nr && !ret; i++) {
			strvec_clear(&one);
			strvec_push(&one, hosts.v[i]);
			c->hosts = &one;
			log_info("upgrading '%s' on %s: it restarts", a->name, hosts.v[i]);
			ret = reboot(c, a, e);
		}
		c->hosts = saved;
		strvec_clear(&hosts);
		strvec_clear(&one);
		return ret;
	}
	if (!strcmp(sub, "start") || !strcmp(sub, "stop")) {
		return accessory_start_stop(c, a, !strcmp(sub, "start"), e);
	}
	if (!strcmp(sub, "restart")) {
		return accessory_start_stop(c, a, false, e) < 0
			   ? -1
			   : accessory_start_stop(c, a, true, e);
	}
	if (!strcmp(sub, "remove")) {
		return accessory_remove(c, a, true, e);
	}
	if (!strcmp(sub, "details")) {
		return accessory_run_jobs(c, a, build_ps, NULL, 0, e);
	}
	/* logs */
	{
		struct appctl_logs o = {0};

		o.lines = opt_since || opt_grep ? -1 : 100;
		if (opt_lines) {
			o.lines = strtol(opt_lines, NULL, 10);
		}
		o.since = opt_since;
		o.follow = opt_follow;
		o.timestamps = !opt_skip_ts;
		o.grep = opt_grep;
		return accessory_run_jobs(c, a, build_logs, &o, 0, e);
	}
}

static int acc_exec(struct accessory_ctx *c, const struct config_accessory *a, int nops,
		    const char **ops)
{
	struct strvec words = STRVEC_INIT, hosts = STRVEC_INIT, homes = STRVEC_INIT;
	struct sbuf line = SBUF_INIT, errors = SBUF_INIT;
	struct appctl_jobs jobs = {0};
	struct err e = ERR_INIT;
	size_t i;
	int ret = 1;

	if (cli_command_words(ops, nops, usage, &line, &words)) {
		ret = 2;
		goto out;
	}
	if (accessory_check(a, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (!accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts)) {
		log_error("no host of accessory '%s' matches -h/-r", a->name);
		goto out;
	}
	if (opt_interactive && hosts.nr > 1) {
		/* one host: the first */
		while (hosts.nr > 1) {
			free(hosts.v[--hosts.nr]);
			hosts.v[hosts.nr] = NULL;
		}
		log_info("interactive: on '%s'", hosts.v[0]);
	}
	if (!opt_reuse && accessory_homes(c, &hosts, &homes, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	for (i = 0; i < hosts.nr; i++) {
		appctl_jobs_add(&jobs, hosts.v[i], NULL, NULL);
	}
	appctl_jobs_prefix(&jobs);
	for (i = 0; i < jobs.nr; i++) {
		struct appctl_job *j = &jobs.v[i];

		if (opt_reuse) {
			strvec_pushv(&j->argv,
				     (const char *[]){"docker", "exec", a->service, NULL});
			strvec_pushv(&j->argv, (const char *const *)words.v);
		} else {
			struct accessory_run r = {0};

			r.host = j->host;
			r.home = homes.v[i];
			r.cmd = line.buf;
			if (accessory_run_argv(&j->argv, c->cfg, a, &r, &e) < 0) {
				log_error("%s", err_str(&e));
				goto out;
			}
		}
		if (opt_interactive) {
			appctl_make_interactive(&j->argv, isatty(0));
		}
	}
	/* a terminal only when there is one: -i also serves piped input */
	c->ex->tty = opt_interactive && isatty(0);
	ret = 0;
	if (appctl_run(c->ex, &jobs, opt_interactive ? APPCTL_STDIN : 0, &errors) < 0) {
		ret = 1;
		/* one job: its own exit status */
		if (jobs.nr == 1 && jobs.v[0].cmd.started &&
		    !exec_unreachable(c->ex, &jobs.v[0].cmd)) {
			ret = jobs.v[0].cmd.status;
		} else {
			log_error("%s", errors.buf);
		}
	}
out:
	appctl_jobs_release(&jobs);
	strvec_clear(&words);
	strvec_clear(&hosts);
	strvec_clear(&homes);
	sbuf_release(&line);
	sbuf_release(&errors);
	err_release(&e);
	return ret;
}

static bool changes_hosts(const char *sub)
{
	return strcmp(sub, "details") && strcmp(sub, "logs") && strcmp(sub, "exec");
}

int cmd_accessory(int argc, const char **argv)
{
	static const char *const subs[] = {"boot",    "reboot",	 "start", "stop",
					   "restart", "details", "logs",  "exec",
					   "remove",  "upgrade", NULL};
	const struct config_accessory **as = NULL;
	struct config cfg;
	struct secrets sec;
	struct exec ex;
	struct accessory_ctx c;
	struct config_opts co = {0};
	struct err e = ERR_INIT;
	const char *sub, *name;
	size_t i, n = 0;
	int nops, ret = 2;
	bool is_exec;

	ret = cli_subcommand(argc, argv, subs, "an accessory", usage, &sub);
	if (ret != 1) {
		return ret;
	}
	ret = 2;
	is_exec = !strcmp(sub, "exec");
	nops = cli_parse(argc - 1, argv + 1, (const struct opt *const[]){acc_opts, NULL},
			 is_exec ? OPT_F_STOP_AT_OPERAND : 0, usage);
	if (nops < 0) {
		return nops == -2 ? 0 : 2;
	}
	if (is_exec && nops > 1) {
		/* options between NAME and the command */
		int rest =
		    cli_parse(nops - 1, argv + 2, (const struct opt *const[]){acc_opts, NULL},
			      OPT_F_STOP_AT_OPERAND, usage);

		if (rest < 0) {
			return rest == -2 ? 0 : 2;
		}
		nops = rest + 1;
	}
	if (nops < 1) {
		log_error("name an accessory, or all\nusage: %s", usage);
		return 2;
	}
	name = argv[1];
	if (!is_exec && nops > 1) {
		log_error("unexpected argument '%s'\nusage: %s", argv[2], usage);
		return 2;
	}
	if (opt_lines) {
		char *end;
		unsigned long v = strtoul(opt_lines, &end, 10);

		if (!*opt_lines || *end || v > 1000000) {
			log_error("-n expects a number of lines, got '%s'", opt_lines);
			return 2;
		}
	}
	config_init(&cfg);
	secrets_init(&sec);
	exec_init(&ex, EXEC_SSH);
	accessory_ctx_init(&c, &cfg, &ex);
	ret = 1;
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	/* the env file and an accessory's registry need the secrets */
	co.load_secrets = !strcmp(sub, "boot") || !strcmp(sub, "reboot") || !strcmp(sub, "upgrade");
	if (config_load(&cfg, &co, &sec, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&cfg, &ex);
	if (cli_config_loaded(&cfg, &ex) < 0) {
		goto out;
	}
	as = xcalloc(cfg.nr_accessories + 1, sizeof(*as));
	if (pick(&cfg, name, as, &n) < 0) {
		goto out;
	}
	if (is_exec && n != 1) {
		log_error("exec runs in one accessory: name it");
		ret = 2;
		goto out;
	}
	c.sec = &sec;
	c.roles = &cli_g.roles;
	c.hosts = &cli_g.hosts;
	c.lock_wait_s = cli_g.lock_wait;
	c.quiet = cli_g.quiet;
	if (is_exec) {
		ret = acc_exec(&c, as[0], nops - 1, argv + 2);
		goto out;
	}
	if (!strcmp(sub, "remove")) {
		struct sbuf q = SBUF_INIT;
		bool yes;

		remove_question(&q, &c, as, n, true);
		yes = cli_confirm(q.buf);
		sbuf_release(&q);
		if (!yes) {
			log_error("nothing removed");
			goto out;
		}
	}
	if (changes_hosts(sub)) {
		struct sbuf what = SBUF_INIT;
		int r;

		sbuf_addf(&what, "accessory %s %s", sub, name);
		r = accessory_lock(&c, what.buf, &e);
		sbuf_release(&what);
		if (r < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
	}
	ret = 0;
	for (i = 0; i < n; i++) {
		int r = act(&c, sub, as[i], &e);

		if (changes_hosts(sub)) {
			audit(&c, as[i], sub, r == 0);
		}
		if (r < 0) {
			secrets_redact(&sec, &e.msg);
			log_error("%s", err_str(&e));
			err_release(&e);
			ret = 1;
		}
	}
out:
	accessory_ctx_release(&c);
	free(as);
	err_release(&e);
	exec_release(&ex);
	secrets_release(&sec);
	config_release(&cfg);
	return ret;
}

/* ---- for setup, details and remove ---- */

int cli_accessories_boot(const struct config *cfg, const struct secrets *sec, struct exec *ex)
{
	struct accessory_ctx c;
	struct err e = ERR_INIT;
	size_t i;
	int ret = 0;

	if (!cfg->nr_accessories) {
		return 0;
	}
	accessory_ctx_init(&c, cfg, ex);
	c.sec = sec;
	c.roles = &cli_g.roles;
	c.hosts = &cli_g.hosts;
	c.lock_wait_s = cli_g.lock_wait;
	c.quiet = cli_g.quiet;
	if (accessory_lock(&c, "accessory boot all", &e) < 0) {
		log_error("%s", err_str(&e));
		ret = -1;
	}
	for (i = 0; !ret && i < cfg->nr_accessories; i++) {
		int r = accessory_boot(&c, &cfg->accessories[i], NULL, &e);

		if (r == 0 && cli_backup_schedule(&c, &cfg->accessories[i], false) < 0) {
			r = err_set(&e,
				    "accessory '%s': its backup scheduler is not in line with "
				    "the config",
				    cfg->accessories[i].name);
		}

		audit(&c, &cfg->accessories[i], "boot", r == 0);
		if (r < 0) {
			secrets_redact(sec, &e.msg);
			log_error("%s", err_str(&e));
			ret = -1;
		}
	}
	accessory_ctx_release(&c);
	err_release(&e);
	return ret;
}

int cli_accessories_details(const struct config *cfg, struct exec *ex)
{
	struct accessory_ctx c;
	struct err e = ERR_INIT;
	size_t i;
	int ret = 0;

	accessory_ctx_init(&c, cfg, ex);
	c.roles = &cli_g.roles;
	c.hosts = &cli_g.hosts;
	for (i = 0; i < cfg->nr_accessories; i++) {
		if (accessory_run_jobs(&c, &cfg->accessories[i], build_ps, NULL, 0, &e) < 0) {
			log_error("%s", err_str(&e));
			err_release(&e);
			ret = -1;
		}
	}
	accessory_ctx_release(&c);
	return ret;
}

void cli_accessories_question(struct sbuf *q, const struct config *cfg)
{
	const struct config_accessory **as;
	struct accessory_ctx c;
	size_t i, n = 0;

	if (!cfg->nr_accessories) {
		return;
	}
	as = xcalloc(cfg->nr_accessories, sizeof(*as));
	accessory_ctx_init(&c, cfg, NULL);
	c.hosts = &cli_g.hosts;
	/* the accessories on the hosts -h leaves */
	for (i = 0; i < cfg->nr_accessories; i++) {
		struct strvec hosts = STRVEC_INIT;

		if (accessory_hosts(cfg, &cfg->accessories[i], NULL, c.hosts, &hosts)) {
			as[n++] = &cfg->accessories[i];
		}
		strvec_clear(&hosts);
	}
	if (n) {
		sbuf_addch(q, '\n');
		remove_question(q, &c, as, n, false);
	}
	accessory_ctx_release(&c);
	free(as);
}

int cli_accessories_remove(const struct config *cfg, struct exec *ex)
{
	struct accessory_ctx c;
	struct err e = ERR_INIT;
	size_t i;
	int ret = 0;

	if (!cfg->nr_accessories) {
		return 0;
	}
	accessory_ctx_init(&c, cfg, ex);
	c.hosts = &cli_g.hosts;
	c.lock_wait_s = cli_g.lock_wait;
	c.quiet = cli_g.quiet;
	if (accessory_lock(&c, "accessory remove all", &e) < 0) {
		log_error("%s", err_str(&e));
		ret = -1;
	}
	for (i = 0; !ret && i < cfg->nr_accessories; i++) {
		int r = cli_backup_schedule(&c, &cfg->accessories[i], true) < 0
			    ? err_set(&e, "accessory '%s': its backup scheduler cannot be removed",
				      cfg->accessories[i].name)
			    : accessory_remove(&c, &cfg->accessories[i], true, &e);

		audit(&c, &cfg->accessories[i], "remove", r == 0);
		if (r < 0) {
			log_error("%s", err_str(&e));
			err_release(&e);
			ret = -1;
		}
	}
	accessory_ctx_release(&c);
	return ret;
}
