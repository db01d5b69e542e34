/* berth doctor: is every server fit for a release? */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/accessory.h"
#include "engine/backup.h"
#include "engine/doctor.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char usage[] =
    "berth doctor [-r ROLES] [-h HOSTS | --local] [--json] [--min-free-disk PCT]";

/*
 * A "backup" check per accessory backed up on a host of reports: the age
 * of its last verified backup and its scheduler (engine/backup.h,
 * backup_health). Returns the worst status added.
 */
static enum doctor_status backup_checks(struct exec *ex, const struct config *cfg,
					struct doctor_report *reports, size_t n)
{
	enum doctor_status worst = DOCTOR_OK;
	struct backup_ctx bc = {0};
	struct hoststate hs;
	struct err e = ERR_INIT;
	size_t i, k, j;

	for (i = 0; i < cfg->nr_accessories && !cfg->accessories[i].has_backup; i++) {
	}
	if (i == cfg->nr_accessories) {
		return DOCTOR_OK;
	}
	if (hoststate_init(&hs, ex, cfg->run_directory, cfg->service, cfg->destination, &e) < 0) {
		log_error("%s", err_str(&e));
		err_release(&e);
		return DOCTOR_FAIL;
	}
	bc.cfg = cfg;
	bc.ex = ex;
	bc.app_dir = hs.dir;
	for (i = 0; i < cfg->nr_accessories; i++) {
		const struct config_accessory *a = &cfg->accessories[i];
		struct strvec hosts = STRVEC_INIT;

		if (!a->has_backup) {
			continue;
		}
		accessory_hosts(cfg, a, NULL, &cli_g.hosts, &hosts);
		for (k = 0; k < hosts.nr; k++) {
			struct doctor_report *r = NULL;
			struct backup_status st;
			struct sbuf raw = SBUF_INIT, line = SBUF_INIT;
			enum doctor_status s = DOCTOR_FAIL;

			for (j = 0; j < n && !r; j++) {
				if (!strcmp(reports[j].host, hosts.v[k])) {
					r = &reports[j];
				}
			}
			/* an unreachable host already failed; a full report has no room */
			if (!r || (r->worst == DOCTOR_FAIL && r->nr_checks == 1) ||
			    r->nr_checks >= DOCTOR_MAX_CHECKS) {
				continue;
			}
			if (backup_status(&bc, a, hosts.v[k], &raw, &st, &e) < 0) {
				sbuf_addf(&line, "%s: %s", a->name, err_str(&e));
				err_release(&e);
			} else {
				s = backup_health(a, &st, &line) ? DOCTOR_FAIL : DOCTOR_OK;
			}
			sbuf_addstr(doctor_add(r, "backup", s), line.buf);
			if (s > worst) {
				worst = s;
			}
			sbuf_release(&raw);
			sbuf_release(&line);
		}
		strvec_clear(&hosts);
	}
	hoststate_release(&hs);
	return worst;
}

int cmd_doctor(int argc, const char **argv)
{
	static unsigned min_free, parallel;
	const struct opt own[] = {
	    OPT_UINT(0, "min-free-disk", &min_free, "PCT",
		     "fail when less than PCT% of a disk is free (default 10)"),
	    OPT_UINT(0, "parallel", &parallel, "N", "hosts checked at once (default 16)"),
	    OPT_END(),
	};
	struct doctor_report *reports = NULL;
	struct doctor_opts o = {0};
	enum doctor_status worst;
	struct exec ex;
	struct config cfg;
	struct strvec hosts = STRVEC_INIT;
	size_t i, n;
	int ret = 2, nops;

	exec_init(&ex, EXEC_SSH);
	config_init(&cfg);
	nops =
	    cli_parse(argc, argv, (const struct opt *const[]){own, cli_exec_opts, NULL}, 0, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops > 0) {
		log_error("doctor takes no arguments, got '%s'", argv[0]);
		goto out;
	}
	if (cli_hosts_setup(&ex, &cfg, &hosts) < 0) {
		ret = 1;
		goto out;
	}
	/* the accessories' hosts too, as Kamal's all_hosts has them (-r: the roles' only) */
	for (i = 0; !cli_g.roles.nr && i < cfg.nr_accessories; i++) {
		accessory_hosts(&cfg, &cfg.accessories[i], NULL, &cli_g.hosts, &hosts);
	}
	o.min_free_disk_pct = min_free;
	o.max_parallel = parallel;
	n = hosts.nr;
	reports = xcalloc(n, sizeof(*reports));
	worst = doctor_run(&ex, (const char *const *)hosts.v, n, &o, reports);
	if (!cli_g.roles.nr) {
		enum doctor_status b = backup_checks(&ex, &cfg, reports, n);

		worst = b > worst ? b : worst;
	}
	if (cli_g.json) {
		json_t *arr = json_array();
		for (i = 0; i < n; i++) {
			json_array_append_new(arr, doctor_report_json(&reports[i]));
		}
		json_t *doc =
		    json_pack("{s:s, s:o}", "status", doctor_status_name(worst), "hosts", arr);
		json_dumpf(doc, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(doc);
	} else {
		doctor_print(stdout, reports, n);
	}
	ret = worst == DOCTOR_FAIL ? 1 : 0;
	for (i = 0; i < n; i++) {
		doctor_report_release(&reports[i]);
	}
	free(reports);
out:
	strvec_clear(&hosts);
	config_release(&cfg);
	exec_release(&ex);
	return ret;
}
