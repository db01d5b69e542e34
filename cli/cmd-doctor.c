/* berth doctor: is every server fit for a release? */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/doctor.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char usage[] = "berth doctor [-h HOSTS | --local] [--json] [--min-free-disk PCT]";

static void print_table(const struct doctor_report *reports, size_t n)
{
	const char *bold = log_color(stdout, "\033[1m"), *reset = log_color(stdout, "\033[0m");
	const char *colors[] = {log_color(stdout, "\033[32m"), log_color(stdout, "\033[33m"),
				log_color(stdout, "\033[31m")};
	static const char *const words[] = {"ok", "WARN", "FAIL"};
	size_t i, j;

	for (i = 0; i < n; i++) {
		const struct doctor_report *r = &reports[i];
		printf("%s%s%s  %s%s%s\n", bold, r->host, reset, colors[r->worst],
		       r->worst == DOCTOR_OK	 ? "ready"
		       : r->worst == DOCTOR_WARN ? "ready, with warnings"
						 : "NOT READY",
		       reset);
		for (j = 0; j < r->nr_checks; j++) {
			const struct doctor_check *c = &r->checks[j];
			printf("  %s%-4s%s  %-9s  %s\n", colors[c->status], words[c->status], reset,
			       c->name, c->detail.buf);
		}
		if (i + 1 < n) {
			printf("\n");
		}
	}
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
	size_t i, n;
	int ret = 2, nops;

	exec_init(&ex, EXEC_SSH);
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
	exec_release(&ex);
	if (cli_exec_setup(&ex) < 0) {
		goto out;
	}
	o.min_free_disk_pct = min_free;
	o.max_parallel = parallel;
	n = cli_g.hosts.nr;
	reports = xcalloc(n, sizeof(*reports));
	worst = doctor_run(&ex, (const char *const *)cli_g.hosts.v, n, &o, reports);
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
		print_table(reports, n);
	}
	ret = worst == DOCTOR_FAIL ? 1 : 0;
	for (i = 0; i < n; i++) {
		doctor_report_release(&reports[i]);
	}
	free(reports);
out:
	exec_release(&ex);
	return ret;
}
