/*
 * metrics:report — an app's traffic as this host's berth-proxy counted it
 * since it started: requests by status class, upstream errors, requests in
 * flight, and the mean, p50 and p99 latency (daemon/series.h's quantiles).
 *
 * berth-proxy prints its metrics with its control command `berth-proxy
 * metrics` (the text its --metrics-port would serve, with or without that
 * port); berthd runs it in the proxy's container with `docker exec`, bounded
 * in time and in size.
 * The text is read strictly (daemon/promtext.h); the app's numbers are
 * those of its web role's service, "APP-web".
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/berthd.h"
#include "daemon/promtext.h"
#include "daemon/series.h"
#include "daemon/svgchart.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/banned.h"

#define PROXY_CONTAINER "berth-proxy"

static const char *const classes[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

/* A latency in ms, or null. */
static void add_ms(struct sbuf *sb, double s, bool json)
{
	if (!isfinite(s)) {
		sbuf_addstr(sb, json ? "null" : "-");
		return;
	}
	svgchart_num(sb, s * 1000, 1);
	if (!json) {
		sbuf_addstr(sb, " ms");
	}
}

void metrics_report_format(struct sbuf *sb, const char *app, const struct series_totals *t,
			   bool found, bool json)
{
	double mean = t->duration_count > 0 ? t->duration_sum / t->duration_count : NAN;
	double p50 = series_quantile(NULL, t, 0.5), p99 = series_quantile(NULL, t, 0.99);
	struct sbuf svc = SBUF_INIT;
	unsigned i;

	series_service_name(&svc, app);
	if (json) {
		/* app names are [a-z][a-z0-9-]*: nothing to escape */
		sbuf_addf(sb,
			  "{\"app\":\"%s\",\"service\":\"%s\",\"counted\":%s,\"requests\":%.0f,",
			  app, svc.buf, found ? "true" : "false", series_requests(t));
		sbuf_addstr(sb, "\"requests_by_class\":{");
		for (i = 1; i <= 6; i++) {
			sbuf_addf(sb, "%s\"%s\":%.0f", i > 1 ? "," : "", classes[i % 6],
				  t->requests[i % 6]);
		}
		sbuf_addf(sb, "},\"upstream_errors\":%.0f,\"in_flight\":%.0f,\"latency_ms\":{",
			  t->upstream_errors, t->in_flight);
		sbuf_addstr(sb, "\"mean\":");
		add_ms(sb, mean, true);
		sbuf_addstr(sb, ",\"p50\":");
		add_ms(sb, p50, true);
		sbuf_addstr(sb, ",\"p99\":");
		add_ms(sb, p99, true);
		sbuf_addstr(sb, "}}\n");
		goto out;
	}
	sbuf_addf(sb, "=====> %s metrics (berth-proxy, since it started)\n", app);
	sbuf_addf(sb, "       %-31s%s\n", "Service:", svc.buf);
	if (!found) {
		sbuf_addf(sb, "       %-31s%s\n", "Counted:", "nothing yet");
	}
	sbuf_addf(sb, "       %-31s%.0f\n", "Requests:", series_requests(t));
	for (i = 1; i <= 6; i++) {
		char label[32];

		snprintf(label, sizeof(label), "Requests %s:", classes[i % 6]);
		sbuf_addf(sb, "       %-31s%.0f\n", label, t->requests[i % 6]);
	}
	sbuf_addf(sb, "       %-31s%.0f\n", "Upstream errors:", t->upstream_errors);
	sbuf_addf(sb, "       %-31s%.0f\n", "In flight:", t->in_flight);
	sbuf_addf(sb, "       %-31s", "Latency mean:");
	add_ms(sb, mean, false);
	sbuf_addf(sb, "\n       %-31s", "Latency p50:");
	add_ms(sb, p50, false);
	sbuf_addf(sb, "\n       %-31s", "Latency p99:");
	add_ms(sb, p99, false);
	sbuf_addch(sb, '\n');
out:
	sbuf_release(&svc);
}

/* Runs argv with stdout captured into out (at most max bytes); 0, or -1 with e set. */
static int capture(const char *const *argv, size_t max, unsigned timeout_ms, struct sbuf *out,
		   struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, argv);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	c.timeout_ms = timeout_ms;
	c.capture_max = max;
	r = run_one(&c);
	if (r < 0) {
		struct sbuf how = SBUF_INIT;
		struct slice tail = run_tail_lines(&c.errbuf, 3);

		run_describe_status(&c, &how);
		err_set(e, "%s %s %s: %.*s", argv[0], argv[1], how.buf, (int)tail.len, tail.ptr);
		sbuf_release(&how);
	} else if (c.truncated) {
		r = err_set(e, "%s %s: more than %zu bytes of output", argv[0], argv[1], max);
	} else {
		sbuf_add(out, c.outbuf.buf, c.outbuf.len);
	}
	run_cmd_release(&c);
	return r;
}

/* berth-proxy's metrics text on this host into out; 0, or -1 with e set. */
static int scrape(struct sbuf *out, unsigned timeout_ms, struct err *e)
{
	if (capture(
		(const char *[]){"docker", "exec", PROXY_CONTAINER, "berth-proxy", "metrics", NULL},
		PROMTEXT_MAX_BYTES, timeout_ms, out, e) < 0) {
		err_prefix(e,
			   "cannot read the metrics of berth-proxy on this host (not running, or "
			   "older than its `metrics` command: `berth proxy reboot` updates it)");
		return -1;
	}
	return 0;
}

int metrics_sample(struct series *s, int64_t now, struct err *e)
{
	struct sbuf text = SBUF_INIT;
	int r;

	if (scrape(&text, 10000, e) < 0) {
		series_add_scrape(s, NULL, 0, now, NULL);
		r = -1;
	} else {
		r = series_add_scrape(s, text.buf, text.len, now, e);
	}
	sbuf_release(&text);
	return r;
}

int cmd_metrics_report(struct bd *bd, int argc, const char **argv)
{
	static const char usage[] = "metrics:report APP [--format json]";
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json or text"),
	    OPT_END(),
	};
	struct sbuf text = SBUF_INIT, svc = SBUF_INIT, report = SBUF_INIT;
	struct promtext p = PROMTEXT_INIT;
	struct series_totals t;
	struct err e = ERR_INIT;
	int n = bd_opts(argc - 1, argv + 1, opts, usage), rc = 1, found;

	if (n < 0) {
		return 1;
	}
	if (n != 1 || (format && strcmp(format, "json") && strcmp(format, "text"))) {
		return bd_usage(usage);
	}
	if (format) {
		bd->json = !strcmp(format, "json");
	}
	if (scrape(&text, 30000, &e) < 0 || promtext_parse(&p, text.buf, text.len, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	series_service_name(&svc, argv[1]);
	found = series_totals_of(&p, svc.buf, &t);
	metrics_report_format(&report, argv[1], &t, found, bd->json);
	fwrite(report.buf, 1, report.len, stdout);
	rc = 0;
out:
	promtext_release(&p);
	sbuf_release(&text);
	sbuf_release(&svc);
	sbuf_release(&report);
	err_release(&e);
	return rc;
}
