/*
 * berth backup: an accessory's backups (engine/backup.h), on its hosts.
 *
 *	berth backup now ACCESSORY              snapshot, verify it, forget per keep
 *	berth backup list ACCESSORY             snapshots: time, size, verified
 *	berth backup verify ACCESSORY [SNAPSHOT]  restore into scratch and compare
 *	berth backup restore ACCESSORY [SNAPSHOT] [-y]
 *	berth backup schedule ACCESSORY         install or refresh its scheduler
 *
 * schedule brings the accessory's scheduler (engine/backup.h) in line with
 * the config: installed or refreshed with a schedule, removed without
 * one; accessory boot, reboot and upgrade do the same, accessory remove
 * and remove take it away (cli_backup_schedule). list shows the
 * scheduler's state and its next run.
 *
 * restore says what it overwrites and asks (-y: does not; off a terminal it
 * refuses without -y), and takes the deploy lock as accessory commands do.
 * -h and -r narrow the hosts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/accessory.h"
#include "engine/backup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

static const char usage[] =
    "berth backup now|list|schedule ACCESSORY\n"
    "       berth backup verify|restore ACCESSORY [SNAPSHOT]\n"
    "       (each with [-h HOSTS] [-r ROLES] [-d DEST] [-c FILE] [-y] [-v|-q])";

static const struct opt backup_opts[] = {
    OPT_END(),
};

static void say(const char *line)
{
	if (!cli_g.quiet) {
		printf("%s\n", line);
		fflush(stdout);
	}
}

/* The question restore asks: the hosts and what restoring changes on each. */
static void restore_question(struct sbuf *q, const struct config_accessory *a,
			     const struct strvec *hosts, const struct strvec *homes,
			     const char *snapshot)
{
	size_t i;

	sbuf_addf(q, "restore accessory '%s' from %s%s", a->name,
		  snapshot ? "snapshot " : "its newest snapshot", snapshot ? snapshot : "");
	if (!backup_is_db(a)) {
		sbuf_addf(q, ": container %s is stopped and started again", a->service);
	}
	for (i = 0; i < hosts->nr; i++) {
		sbuf_addf(q, "\non %s, ", hosts->v[i]);
		backup_restore_effect(q, a, homes->v[i]);
	}
	sbuf_addstr(q, "\nrestore it?");
}

static void utc(char *buf, size_t size, long long epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (epoch < 0 || !gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm)) {
		snprintf(buf, size, "never");
	}
}

/* "scheduled "0 3 * * *": scheduler running, next run ..." */
static void print_scheduler(const struct config_accessory *a, const struct backup_snapshots *s)
{
	long long next = -1;
	char when[40];

	if (!a->backup.schedule) {
		printf("not scheduled (scheduler %s)\n", s->scheduler);
		return;
	}
	backup_judge(a->backup.schedule, s->now, s->installed, -1, NULL, &next);
	utc(when, sizeof(when), next);
	printf("scheduled \"%s\" (UTC): scheduler %s, next run %s\n", a->backup.schedule,
	       s->scheduler, when);
}

static void print_list(const struct config_accessory *a, const char *host,
		       const struct backup_snapshots *s, bool several)
{
	size_t i;

	if (several) {
		printf("%s:\n", host);
	}
	if (!s->nr) {
		printf("no snapshots\n");
		print_scheduler(a, s);
		return;
	}
	printf("%-10s %-20s %12s  %s\n", "ID", "TIME", "SIZE", "VERIFIED");
	for (i = 0; i < s->nr; i++) {
		const struct backup_snapshot *b = &s->v[i];
		char size[32], when[21];

		if (b->size >= 0) {
			snprintf(size, sizeof(size), "%lld", b->size);
		} else {
			snprintf(size, sizeof(size), "?");
		}
		/* "2026-01-01T03:00:00.123+00:00" to the second */
		snprintf(when, sizeof(when), "%.19s", b->time);
		printf("%-10s %-20s %12s  %s%s%s\n", b->id, when, size,
		       b->verified == 1	  ? "yes"
		       : b->verified == 0 ? "no"
					  : "not yet",
		       b->verified == 0 && b->why ? ": " : "",
		       b->verified == 0 && b->why ? b->why : "");
	}
	/* after the table: what reads the rows below a host's name finds them first */
	print_scheduler(a, s);
}

int cmd_backup(int argc, const char **argv)
{
	static const char *const subs[] = {"now", "list", "verify", "restore", "schedule", NULL};
	struct config cfg;
	struct secrets sec;
	struct exec ex;
	struct accessory_ctx ac;
	struct hoststate hs;
	struct backup_ctx bc = {0};
	struct config_opts co = {0};
	struct strvec hosts = STRVEC_INIT, homes = STRVEC_INIT;
	const struct config_accessory *a;
	struct err e = ERR_INIT;
	const char *sub, *name, *snapshot = NULL;
	bool have_hs = false, changes;
	size_t i;
	int nops, ret = 2;

	ret = cli_subcommand(argc, argv, subs, "a backup", usage, &sub);
	if (ret != 1) {
		return ret;
	}
	ret = 2;
	nops =
	    cli_parse(argc - 1, argv + 1, (const struct opt *const[]){backup_opts, NULL}, 0, usage);
	if (nops < 0) {
		return nops == -2 ? 0 : 2;
	}
	if (nops < 1) {
		log_error("name an accessory\nusage: %s", usage);
		return 2;
	}
	name = argv[1];
	if (nops > 2 || (nops == 2 && (!strcmp(sub, "now") || !strcmp(sub, "list") ||
				       !strcmp(sub, "schedule")))) {
		log_error("unexpected argument '%s'\nusage: %s", argv[nops], usage);
		return 2;
	}
	if (nops == 2) {
		snapshot = argv[2];
	}
	changes = !strcmp(sub, "restore");
	config_init(&cfg);
	secrets_init(&sec);
	exec_init(&ex, EXEC_SSH);
	accessory_ctx_init(&ac, &cfg, &ex);
	ret = 1;
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	co.load_secrets = true;
	if (config_load(&cfg, &co, &sec, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&cfg, &ex);
	if (cli_config_loaded(&cfg, &ex) < 0) {
		goto out;
	}
	a = config_accessory(&cfg, name);
	if (!a) {
		log_error("no accessory '%s' in %s", name, cfg.file ? cfg.file : "the config");
		goto out;
	}
	if (!a->has_backup) {
		log_error("accessory '%s' has no backup section in %s (accessories.%s.backup)",
			  name, cfg.file ? cfg.file : "the config", name);
		goto out;
	}
	if (accessory_check(a, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (!accessory_hosts(&cfg, a, &cli_g.roles, &cli_g.hosts, &hosts)) {
		log_error("no host of accessory '%s' matches -h/-r", a->name);
		goto out;
	}
	if (hoststate_init(&hs, &ex, cfg.run_directory, cfg.service, cfg.destination, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	have_hs = true;
	ac.sec = &sec;
	ac.roles = &cli_g.roles;
	ac.hosts = &cli_g.hosts;
	ac.lock_wait_s = cli_g.lock_wait;
	ac.quiet = cli_g.quiet;
	if (!strcmp(sub, "schedule")) {
		struct sbuf what = SBUF_INIT;

		sbuf_addf(&what, "backup schedule %s", a->name);
		if (accessory_lock(&ac, what.buf, &e) < 0) {
			log_error("%s", err_str(&e));
		} else {
			ret = cli_backup_schedule(&ac, a, false) < 0 ? 1 : 0;
		}
		sbuf_release(&what);
		goto out;
	}
	if ((!strcmp(sub, "now") || changes) && accessory_homes(&ac, &hosts, &homes, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (changes) {
		struct sbuf q = SBUF_INIT, what = SBUF_INIT;
		bool yes;
		int r;

		restore_question(&q, a, &hosts, &homes, snapshot);
		yes = cli_confirm(q.buf);
		sbuf_release(&q);
		if (!yes) {
			log_error("nothing restored");
			goto out;
		}
		sbuf_addf(&what, "backup restore %s", a->name);
		r = accessory_lock(&ac, what.buf, &e);
		sbuf_release(&what);
		if (r < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
	}
	bc.cfg = &cfg;
	bc.sec = &sec;
	bc.ex = &ex;
	bc.app_dir = hs.dir;
	bc.say = say;
	ret = 0;
	for (i = 0; i < hosts.nr; i++) {
		const char *h = hosts.v[i];
		int r = 0;

		bc.home = homes.nr > i ? homes.v[i] : NULL;
		if (!strcmp(sub, "now")) {
			r = backup_now(&bc, a, h, NULL, &e);
		} else if (!strcmp(sub, "verify")) {
			r = backup_verify(&bc, a, h, snapshot, &e);
		} else if (!strcmp(sub, "restore")) {
			struct strvec one = STRVEC_INIT;
			struct sbuf msg = SBUF_INIT;

			r = backup_restore(&bc, a, h, snapshot, &e);
			strvec_push(&one, h);
			sbuf_addf(&msg, "backup restore %s%s%s%s", a->name, snapshot ? " " : "",
				  snapshot ? snapshot : "", r == 0 ? "" : " failed");
			accessory_audit(&ac, &one, msg.buf);
			sbuf_release(&msg);
			strvec_clear(&one);
		} else {
			struct backup_snapshots s = {0};

			r = backup_list(&bc, a, h, &s, &e);
			if (r == 0) {
				print_list(a, h, &s, hosts.nr > 1);
			}
			backup_snapshots_release(&s);
		}
		if (r < 0) {
			secrets_redact(&sec, &e.msg);
			log_error("%s", err_str(&e));
			err_release(&e);
			ret = 1;
		}
	}
out:
	accessory_ctx_release(&ac);
	if (have_hs) {
		hoststate_release(&hs);
	}
	strvec_clear(&hosts);
	strvec_clear(&homes);
	err_release(&e);
	exec_release(&ex);
	secrets_release(&sec);
	config_release(&cfg);
	return ret;
}

int cli_backup_before(struct accessory_ctx *c, const struct config_accessory *a, struct err *e)
{
	struct backup_ctx bc = {0};
	struct hoststate hs;
	struct strvec hosts = STRVEC_INIT, homes = STRVEC_INIT;
	bool have_hs = false;
	size_t i;
	int ret = -1;

	if (!a->has_backup || !accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts)) {
		ret = 0;
		goto out;
	}
	if (!c->have_hs) {
		if (hoststate_init(&hs, c->ex, c->cfg->run_directory, c->cfg->service,
				   c->cfg->destination, e) < 0) {
			goto out;
		}
		have_hs = true;
	}
	if (accessory_homes(c, &hosts, &homes, e) < 0) {
		goto out;
	}
	bc.cfg = c->cfg;
	bc.sec = c->sec;
	bc.ex = c->ex;
	bc.app_dir = have_hs ? hs.dir : c->hs.dir;
	bc.say = say;
	for (i = 0; i < hosts.nr; i++) {
		bc.home = homes.v[i];
		if (backup_now(&bc, a, hosts.v[i], NULL, e) < 0) {
			if (c->sec) {
				secrets_redact(c->sec, &e->msg);
			}
			err_prefix(e,
				   "accessory '%s': not upgraded, the backup before it failed "
				   "(--no-backup upgrades without one)",
				   a->name);
			goto out;
		}
	}
	ret = 0;
out:
	if (have_hs) {
		hoststate_release(&hs);
	}
	strvec_clear(&hosts);
	strvec_clear(&homes);
	return ret;
}

int cli_backup_schedule(struct accessory_ctx *c, const struct config_accessory *a, bool remove)
{
	struct backup_ctx bc = {0};
	struct hoststate hs;
	struct strvec hosts = STRVEC_INIT, homes = STRVEC_INIT;
	struct err e = ERR_INIT;
	bool have_hs = false, install = !remove && a->has_backup && a->backup.schedule;
	size_t i;
	int ret = -1;

	if (!accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts)) {
		ret = 0;
		goto out;
	}
	if (!c->have_hs) {
		if (hoststate_init(&hs, c->ex, c->cfg->run_directory, c->cfg->service,
				   c->cfg->destination, &e) < 0) {
			goto out;
		}
		have_hs = true;
	}
	if (install && accessory_homes(c, &hosts, &homes, &e) < 0) {
		goto out;
	}
	bc.cfg = c->cfg;
	bc.sec = c->sec;
	bc.ex = c->ex;
	bc.app_dir = have_hs ? hs.dir : c->hs.dir;
	ret = 0;
	for (i = 0; i < hosts.nr; i++) {
		struct sbuf what = SBUF_INIT;
		int r;

		bc.home = install ? homes.v[i] : NULL;
		r = install ? backup_schedule_install(&bc, a, hosts.v[i], &what, &e)
			    : backup_schedule_remove(&bc, a, hosts.v[i], &what, &e);
		if (r < 0) {
			if (c->sec) {
				secrets_redact(c->sec, &e.msg);
			}
			log_error("%s", err_str(&e));
			err_release(&e);
			ret = -1;
		} else if (!c->quiet && strcmp(what.buf, "none") && strcmp(what.buf, "unchanged")) {
			printf("%s: backup scheduler of '%s' %s\n", hosts.v[i], a->name, what.buf);
		} else if (install) {
			log_info("%s: backup scheduler of '%s' %s", hosts.v[i], a->name, what.buf);
		}
		sbuf_release(&what);
	}
out:
	if (ret < 0 && e.msg.len) {
		log_error("%s", err_str(&e));
	}
	if (have_hs) {
		hoststate_release(&hs);
	}
	strvec_clear(&hosts);
	strvec_clear(&homes);
	err_release(&e);
	return ret;
}
