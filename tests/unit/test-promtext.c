#include "daemon/promtext.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/series.h"
#include "proxy/metrics.h"
#include "unit.h"

static int parse(struct promtext *p, const char *s, struct err *e)
{
	return promtext_parse(p, s, strlen(s), e);
}

/* A scrape as berth-proxy writes it (metrics_render) reads back to the counters counted. */
static void test_real_scrape(void)
{
	struct metrics *w[2] = {calloc(1, sizeof(struct metrics)),
				calloc(1, sizeof(struct metrics))};
	struct service *s = service_new("shop-web");
	struct err e = ERR_INIT;
	struct route_table *t;
	struct sbuf sb = SBUF_INIT;
	struct promtext p = PROMTEXT_INIT;
	struct series_totals tot;
	const char *names[ROUTE_MAX_SERVICE_INDEX] = {"", NULL};
	unsigned idx = s->metrics_idx;

	names[idx] = "shop-web";
	service_add_target(s, target_new("10.0.0.2:5000", &e));
	atomic_store(&s->targets[0]->inflight, 2);
	t = route_table_new(&s, 1);
	metrics_count(w[0], idx, 200, 3);     /* <= 5 ms */
	metrics_count(w[1], idx, 204, 30);    /* <= 50 ms */
	metrics_count(w[1], idx, 302, 30);    /* <= 50 ms */
	metrics_count(w[0], idx, 503, 20000); /* +Inf */
	metrics_count(w[0], idx, 404, 7);     /* <= 10 ms */
	metrics_count(w[0], 0, 404, 0);	      /* no service */
	METRICS_ADD(w[1]->svc[idx].upstream_errors, 2);
	metrics_render(&sb, t, names, idx + 1, w, 2);

	CHECK_INT(promtext_parse(&p, sb.buf, sb.len, &e), 0);
	CHECK(p.nr > 20);
	CHECK_INT(series_totals_of(&p, "shop-web", &tot), 1);
	CHECK(tot.requests[2] == 2 && tot.requests[3] == 1 && tot.requests[4] == 1 &&
	      tot.requests[5] == 1 && tot.requests[0] == 0);
	CHECK(series_requests(&tot) == 5);
	CHECK_INT(tot.nbuckets, METRICS_BUCKETS);
	CHECK(tot.le[0] == 0.005 && tot.le[3] == 0.05 && isinf(tot.le[11]));
	CHECK(tot.buckets[0] == 1 && tot.buckets[1] == 2 && tot.buckets[3] == 4 &&
	      tot.buckets[10] == 4 && tot.buckets[11] == 5);
	CHECK(fabs(tot.duration_sum - 20.07) < 1e-9);
	CHECK(tot.duration_count == 5);
	CHECK(tot.upstream_errors == 2);
	CHECK(tot.in_flight == 2);
	CHECK_INT(series_totals_of(&p, "other-web", &tot), 0);
	CHECK_INT(series_totals_of(&p, "", &tot), 1);
	CHECK(tot.requests[4] == 1);

	atomic_store(&s->targets[0]->inflight, 0);
	route_table_unref(t);
	promtext_release(&p);
	sbuf_release(&sb);
	err_release(&e);
	free(w[0]);
	free(w[1]);
}

static void test_grammar(void)
{
	struct promtext p = PROMTEXT_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(parse(&p,
			"# HELP x a help\n# TYPE x counter\n\nx 1\n"
			"y{a=\"q\\\"\\\\\\n\",b=\"\",} -2.5e3 1700000000000\n"
			"z_total\t\t+Inf\nw NaN\nv{c=\"é,}\"} .5",
			&e),
		  0);
	CHECK_INT(p.nr, 5);
	if (p.nr == 5) {
		CHECK_STR(p.samples[0].name, "x");
		CHECK(p.samples[0].value == 1);
		CHECK_INT(p.samples[1].nlabels, 2);
		CHECK_STR(promtext_label(&p.samples[1], "a"), "q\"\\\n");
		CHECK_STR(promtext_label(&p.samples[1], "b"), "");
		CHECK(promtext_label(&p.samples[1], "c") == NULL);
		CHECK(p.samples[1].value == -2500);
		CHECK(isinf(p.samples[2].value) && p.samples[2].value > 0);
		CHECK(isnan(p.samples[3].value));
		CHECK_STR(promtext_label(&p.samples[4], "c"), "é,}");
		CHECK(p.samples[4].value == 0.5);
	}
	promtext_release(&p);
	CHECK_INT(p.nr, 0);
	err_release(&e);
}

static void rejects_n(const char *text, size_t len, const char *want)
{
	struct promtext p = PROMTEXT_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(promtext_parse(&p, text, len, &e), -1);
	CHECK_STR(err_str(&e), want);
	CHECK_INT(p.nr, 0);
	CHECK(p.samples == NULL);
	err_release(&e);
}

static void rejects(const char *text, const char *want)
{
	rejects_n(text, strlen(text), want);
}

static void test_rejects(void)
{
	rejects("a 1\n9x 1\n", "metrics:2:1: expected a metric name, a comment or an empty line");
	rejects("a{b=\"c\"}1\n", "metrics:1:9: expected a blank before the value");
	rejects("a{b=c} 1\n", "metrics:1:5: expected '\"' to open a label value");
	rejects("a{b=\"c} 1\n", "metrics:1:10: expected '\"' to close the label value");
	rejects("a{b=\"\\t\"} 1\n", "metrics:1:7: expected an escape \\\\, \\\" or \\n");
	rejects("a{b=\"1\",b=\"2\"} 1\n", "metrics:1:9: expected each label once");
	rejects("a{b=\"1\" c=\"2\"} 1\n", "metrics:1:8: expected ',' or '}' after a label");
	rejects("a{=\"1\"} 1\n", "metrics:1:3: expected a label name or '}'");
	rejects("a 1x\n", "metrics:1:4: expected a blank after the value");
	rejects("a one\n", "metrics:1:3: expected a number, +Inf, -Inf or NaN");
	rejects("a 1e\n", "metrics:1:5: expected digits of an exponent");
	rejects("a 1 12x\n", "metrics:1:7: expected the end of the line");
	rejects("a 1 x\n", "metrics:1:5: expected a timestamp or the end of the line");
	rejects("a 1\r\n", "metrics:1:4: expected lines ending in '\\n' alone");
	rejects_n("a{b=\"\0\"} 1", 10, "metrics:1:6: expected no NUL byte in a label value");
	rejects("a{a=\"\",b=\"\",c=\"\",d=\"\",e=\"\",f=\"\",g=\"\",h=\"\",i=\"\"} 1",
		"metrics:1:43: expected at most 8 labels");
}

static void test_limits(void)
{
	struct promtext p = PROMTEXT_INIT;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	unsigned i;

	sbuf_addstr(&sb, "a{b=\"");
	for (i = 0; i < PROMTEXT_MAX_LINE; i++) {
		sbuf_addch(&sb, 'x');
	}
	sbuf_addstr(&sb, "\"} 1\n");
	CHECK_INT(promtext_parse(&p, sb.buf, sb.len, &e), -1);
	CHECK_STR(err_str(&e), "metrics:1:1: expected lines of at most 4096 bytes");
	sbuf_reset(&sb);
	for (i = 0; i <= PROMTEXT_MAX_SAMPLES; i++) {
		sbuf_addstr(&sb, "a 1\n");
	}
	CHECK_INT(promtext_parse(&p, sb.buf, sb.len, &e), -1);
	CHECK_STR(err_str(&e), "metrics:50001:1: expected at most 50000 samples");
	CHECK_INT(promtext_parse(&p, sb.buf, PROMTEXT_MAX_BYTES + 1, &e), -1);
	CHECK(p.nr == 0);
	sbuf_release(&sb);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_real_scrape);
	UNIT_RUN(test_grammar);
	UNIT_RUN(test_rejects);
	UNIT_RUN(test_limits);
	return unit_done();
}
