#include "daemon/svgchart.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/*
 * Compares sb with the golden file tests/unit/golden/NAME. With
 * BERTH_UPDATE_GOLDEN=1 in the environment, writes it instead (then look
 * at the picture before committing it).
 */
static void check_golden(const struct sbuf *sb, const char *name)
{
	struct sbuf path = SBUF_INIT, want = SBUF_INIT;

	sbuf_addf(&path, "tests/unit/golden/%s", name);
	if (getenv("BERTH_UPDATE_GOLDEN")) {
		FILE *f = fopen(path.buf, "w");

		CHECK(f && fwrite(sb->buf, 1, sb->len, f) == sb->len);
		if (f) {
			fclose(f);
		}
	}
	CHECK_INT(sbuf_read_file(&want, path.buf), 0);
	if (want.len != sb->len || memcmp(want.buf, sb->buf, sb->len)) {
		printf("#   %s differs from what was drawn:\n%s", path.buf, sb->buf);
		CHECK(!"golden file matches");
	}
	sbuf_release(&path);
	sbuf_release(&want);
}

static void test_step(void)
{
	CHECK(svgchart_step(10, 4) == 5);
	CHECK(svgchart_step(100, 4) == 50);
	CHECK(svgchart_step(8, 4) == 2);
	CHECK(svgchart_step(7, 4) == 2);
	CHECK(fabs(svgchart_step(1, 4) - 0.5) < 1e-12);
	CHECK(fabs(svgchart_step(0.3, 4) - 0.1) < 1e-12);
	CHECK(svgchart_step(4, 4) == 1);
	CHECK(svgchart_step(0, 4) == 1);
	CHECK(svgchart_step(NAN, 4) == 1);
}

static void num_is(double v, unsigned dec, const char *want)
{
	struct sbuf sb = SBUF_INIT;

	svgchart_num(&sb, v, dec);
	CHECK_STR(sb.buf, want);
	sbuf_release(&sb);
}

/* Always '.', whatever LC_NUMERIC says (when a comma locale is there to try). */
static void test_num(void)
{
	static const char *const commas[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"};
	unsigned i;

	for (i = 0; i < 3 && !setlocale(LC_NUMERIC, commas[i]); i++) {
	}
	num_is(1.25, 1, "1.3");
	num_is(0.5, 2, "0.50");
	num_is(-2.5, 1, "-2.5");
	num_is(-0.04, 1, "0.0");
	num_is(1234.5, 0, "1235");
	num_is(NAN, 1, "-");
	num_is(INFINITY, 1, "-");
	num_is(1e300, 0, "1000000000000");
	setlocale(LC_NUMERIC, "C");
}

/* WCAG's relative luminance and contrast ratio against white. */
static double channel(unsigned v)
{
	double c = v / 255.0;

	return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static void test_contrast(void)
{
	unsigned i, r, g, b;

	for (i = 0; i < SVGCHART_MAX_LINES; i++) {
		double l;

		CHECK(sscanf(svgchart_colour(i), "#%2x%2x%2x", &r, &g, &b) == 3);
		l = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
		CHECK((1.05) / (l + 0.05) >= 4.5);
	}
}

/* Two minutes of p50 and p99 every 10 s, with a failed scrape and a point alone. */
static void test_latency(void)
{
	int64_t t[13];
	double p50[13] = {NAN, 12, 13.5, 11, 12, NAN, 14, NAN, 12.5, 13, 12, 11.5, 12};
	double p99[13] = {NAN, 80, 95, 120, 88, NAN, 140, NAN, 90, 85, 240.5, 99, 101};
	struct svgchart_line lines[] = {{"p50", p50}, {"p99", p99}};
	struct svgchart c = {.width = 480,
			     .height = 200,
			     .title = "shop: latency",
			     .unit = "ms",
			     .t = t,
			     .n = 13,
			     .lines = lines,
			     .nlines = 2};
	struct sbuf sb = SBUF_INIT, again = SBUF_INIT;
	unsigned i;

	for (i = 0; i < 13; i++) {
		t[i] = 1700000000 + 10 * i; /* 22:13:20 UTC */
	}
	t[12] += 30; /* three samples missed: a gap in time */
	svgchart_render(&sb, &c);
	check_golden(&sb, "svgchart-latency.svg");
	svgchart_render(&again, &c);
	CHECK_STR(again.buf, sb.buf);
	CHECK(strstr(sb.buf, "role=\"img\" aria-label=\"shop: latency\""));
	CHECK(strstr(sb.buf, "<desc>From 22:13 to 22:15 UTC. p50: last 12.0 ms."));
	CHECK(strstr(sb.buf, "p99: last 101.0 ms."));
	CHECK(!strstr(sb.buf, "<script"));
	sbuf_release(&sb);
	sbuf_release(&again);
}

/* Requests per second over an hour, one line; text that needs escaping. */
static void test_requests(void)
{
	int64_t t[360];
	double rps[360];
	struct svgchart_line lines[] = {{"<all> & \"ok\"", rps}};
	struct svgchart c = {.width = 640,
			     .height = 240,
			     .title = "R&D's <app>",
			     .desc = "Requests per second, \"all\" of them",
			     .unit = "req/s",
			     .t = t,
			     .n = 360,
			     .lines = lines,
			     .nlines = 1};
	struct sbuf sb = SBUF_INIT;
	unsigned i;

	for (i = 0; i < 360; i++) {
		t[i] = 1700000000 + 10 * i;
		rps[i] = (i % 60) * 0.25 + (i > 300 ? 3 : 0);
	}
	svgchart_render(&sb, &c);
	check_golden(&sb, "svgchart-requests.svg");
	CHECK(strstr(sb.buf, "aria-label=\"R&amp;D&#39;s &lt;app&gt;\""));
	CHECK(strstr(sb.buf, "&lt;all&gt; &amp; &quot;ok&quot;"));
	CHECK(!strstr(sb.buf, "<all>"));
	sbuf_release(&sb);
}

/* No samples yet: axes, a 0..1 scale and a desc that says so. */
static void test_empty(void)
{
	struct svgchart_line lines[] = {{"5xx", NULL}};
	struct svgchart c = {
	    .width = 10, .height = 10, .title = "errors", .unit = "%", .lines = lines, .nlines = 1};
	struct sbuf sb = SBUF_INIT;

	svgchart_render(&sb, &c);
	check_golden(&sb, "svgchart-empty.svg");
	CHECK(strstr(sb.buf, "width=\"160\" height=\"100\""));
	CHECK(strstr(sb.buf, "<desc>No samples yet.</desc>"));
	sbuf_release(&sb);
}

int main(void)
{
	UNIT_RUN(test_step);
	UNIT_RUN(test_num);
	UNIT_RUN(test_contrast);
	UNIT_RUN(test_latency);
	UNIT_RUN(test_requests);
	UNIT_RUN(test_empty);
	return unit_done();
}
