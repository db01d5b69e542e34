/*
 * Tests for the charts' points (daemon/apicharts.h: their JSON, the file
 * read back strictly, the SVG of each chart) and the sampler's pure parts
 * (daemon/sampler.h: its interval, and the files it writes from scrapes).
 * The routes are tested over a socket in test-berthd-api.c.
 */
#include "daemon/apicharts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/sampler.h"
#include "lib/run.h"
#include "lib/strvec.h"
#include "unit.h"

static void test_json(void)
{
	struct series_point p[2] = {
	    {100, 2.5, 0.5, 0, 20, 12.25, 40},
	    {110, 1.0 / 3, NAN, NAN, NAN, NAN, NAN},
	};
	struct sbuf sb = SBUF_INIT;

	apicharts_points_json(&sb, NULL, 0);
	CHECK_STR(sb.buf, "{\"points\":[]}\n");
	sbuf_reset(&sb);
	apicharts_points_json(&sb, p, 2);
	CHECK_STR(sb.buf, "{\"points\":[{\"t\":100,\"rps\":2.500,\"errors_5xx\":0.500,"
			  "\"upstream_errors\":0.000,\"p50_ms\":12.250,\"p99_ms\":40.000},"
			  "{\"t\":110,\"rps\":0.333,\"errors_5xx\":null,\"upstream_errors\":null,"
			  "\"p50_ms\":null,\"p99_ms\":null}]}\n");
	sbuf_release(&sb);
}

static void test_parse(void)
{
	static const char ok[] =
	    "{\"points\":[{\"t\":100,\"rps\":9,\"errors_5xx\":0,\"upstream_errors\":0,"
	    "\"p50_ms\":1,\"p99_ms\":2},"
	    "{\"t\":4000,\"rps\":4,\"errors_5xx\":1,\"upstream_errors\":0.5,\"p50_ms\":null,"
	    "\"p99_ms\":3},"
	    "{\"t\":4010,\"rps\":null,\"errors_5xx\":null,\"upstream_errors\":null,"
	    "\"p50_ms\":null,\"p99_ms\":null}]}";
	static const struct {
		const char *text, *err;
	} bad[] = {
	    {"", "metrics points:1:0: '[' or '{' expected near end of file"},
	    {"[]", "metrics points: expected an object with a \"points\" array"},
	    {"{\"points\":{}}", "metrics points: expected an object with a \"points\" array"},
	    {"{\"points\":[7]}", NULL},
	    {"{\"points\":[{\"t\":1.5}]}", NULL},
	    {"{\"points\":[{\"t\":1,\"rps\":1,\"errors_5xx\":0,\"upstream_errors\":0,"
	     "\"p50_ms\":1}]}",
	     NULL},
	    {"{\"points\":[{\"t\":1,\"rps\":-1,\"errors_5xx\":0,\"upstream_errors\":0,"
	     "\"p50_ms\":1,\"p99_ms\":1}]}",
	     NULL},
	    {"{\"points\":[{\"t\":1,\"rps\":\"1\",\"errors_5xx\":0,\"upstream_errors\":0,"
	     "\"p50_ms\":1,\"p99_ms\":1}]}",
	     NULL},
	    {"{\"points\":[{\"t\":5,\"rps\":1,\"errors_5xx\":0,\"upstream_errors\":0,"
	     "\"p50_ms\":1,\"p99_ms\":1},{\"t\":5,\"rps\":1,\"errors_5xx\":0,"
	     "\"upstream_errors\":0,\"p50_ms\":1,\"p99_ms\":1}]}",
	     "metrics points: point 1: expected {\"t\": a time after the point before, \"rps\", "
	     "\"errors_5xx\", \"upstream_errors\", \"p50_ms\", \"p99_ms\": a number or null}"},
	};
	struct series_point *p;
	struct sbuf many = SBUF_INIT;
	size_t n;
	struct err e = ERR_INIT;

	CHECK_INT(apicharts_points_parse(ok, strlen(ok), 4020, &p, &n, &e), 0);
	CHECK_INT(n, 2); /* t 100 is more than an hour before 4020 */
	CHECK(p[0].t == 4000 && p[0].rps == 4 && p[0].err_rps == 1 && p[0].upstream_rps == 0.5);
	CHECK(isnan(p[0].p50_ms) && p[0].p99_ms == 3 && p[0].err_pct == 25);
	CHECK(p[1].t == 4010 && isnan(p[1].rps) && isnan(p[1].err_pct));
	free(p);
	CHECK_INT(apicharts_points_parse(ok, strlen(ok), 9000, &p, &n, &e), 0);
	CHECK(n == 0 && p == NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(apicharts_points_parse(bad[i].text, strlen(bad[i].text), 10, &p, &n, &e),
			  -1);
		CHECK(p == NULL && n == 0);
		if (bad[i].err) {
			CHECK_STR(err_str(&e), bad[i].err);
		} else {
			CHECK(!strncmp(err_str(&e), "metrics points: point 0: expected", 33));
		}
		err_release(&e);
	}
	sbuf_addstr(&many, "{\"points\":[");
	for (unsigned i = 0; i <= APICHARTS_MAX_POINTS; i++) {
		sbuf_addf(&many,
			  "%s{\"t\":%u,\"rps\":1,\"errors_5xx\":0,\"upstream_errors\":0,"
			  "\"p50_ms\":1,\"p99_ms\":1}",
			  i ? "," : "", i + 1);
	}
	sbuf_addstr(&many, "]}");
	CHECK_INT(apicharts_points_parse(many.buf, many.len, 10, &p, &n, &e), -1);
	CHECK_STR(err_str(&e), "metrics points: more than 3600 points");
	err_release(&e);
	sbuf_release(&many);
}

static void test_svg(void)
{
	struct series_point p[3] = {
	    {1000, 2, 0.5, 0.25, 25, 10, 20},
	    {1010, 4, 0, 0, 0, 11, 30},
	    {1020, 3, 1, 0, 33, 12, 25},
	};
	struct series_point quiet[2] = {
	    {1000, NAN, NAN, NAN, NAN, NAN, NAN},
	    {1010, NAN, NAN, NAN, NAN, NAN, NAN},
	};
	struct sbuf sb = SBUF_INIT, again = SBUF_INIT;

	CHECK_INT(apicharts_svg(&sb, "shop", "requests", p, 3), 0);
	CHECK(!strncmp(sb.buf, "<svg ", 5));
	CHECK(strstr(sb.buf, "<title>shop: requests per second</title>"));
	CHECK(strstr(sb.buf, "<path d=\"M"));
	CHECK(strstr(sb.buf, "req/s"));
	CHECK(!strstr(sb.buf, APICHARTS_NO_DATA));
	CHECK_INT(apicharts_svg(&again, "shop", "requests", p, 3), 0);
	CHECK_STR(again.buf, sb.buf);
	sbuf_reset(&sb);
	CHECK_INT(apicharts_svg(&sb, "shop", "latency", p, 3), 0);
	CHECK(strstr(sb.buf, "<title>shop: latency</title>"));
	CHECK(strstr(sb.buf, ">p50<") && strstr(sb.buf, ">p99<"));
	sbuf_reset(&sb);
	CHECK_INT(apicharts_svg(&sb, "shop", "errors", p, 3), 0);
	CHECK(strstr(sb.buf, ">5xx answers<") && strstr(sb.buf, ">upstream errors<"));
	sbuf_reset(&sb);
	CHECK_INT(apicharts_svg(&sb, "shop", "requests", NULL, 0), 0);
	CHECK(strstr(sb.buf, "<title>shop: requests per second (no traffic recorded yet)</title>"));
	CHECK(strstr(sb.buf, "<desc>No traffic recorded yet"));
	CHECK(strstr(sb.buf, "</svg>"));
	sbuf_reset(&sb);
	CHECK_INT(apicharts_svg(&sb, "shop", "latency", quiet, 2), 0);
	CHECK(strstr(sb.buf, "(no traffic recorded yet)</title>"));
	sbuf_reset(&sb);
	CHECK_INT(apicharts_svg(&sb, "shop", "cpu", p, 3), -1);
	CHECK_INT(sb.len, 0);
	sbuf_release(&sb);
	sbuf_release(&again);
}

static void test_interval(void)
{
	static const char *const bad[] = {"", "0", "3601", "-1", "1s", " 5", "99999", "00000"};
	struct err e = ERR_INIT;
	unsigned v = 0;

	CHECK_INT(sampler_interval_parse("1", &v, &e), 0);
	CHECK_INT(v, 1);
	CHECK_INT(sampler_interval_parse("3600", &v, &e), 0);
	CHECK_INT(v, 3600);
	CHECK_INT(sampler_interval_parse("010", &v, &e), 0);
	CHECK_INT(v, 10);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		CHECK_INT(sampler_interval_parse(bad[i], &v, &e), -1);
		CHECK_INT(v, 7);
	}
	CHECK_STR(err_str(&e), "expected a sample interval in seconds from 1 to 3600, got '00000'");
	err_release(&e);
	CHECK_INT(sampler_capacity(10), 361);
	CHECK_INT(sampler_capacity(1), 3600);
	CHECK_INT(sampler_capacity(3600), 2);
}

/* Scrapes into a series, the files written, and read back as the routes read them. */
static bool only_shop(void *arg, const char *app)
{
	(void)arg;
	return !strcmp(app, "shop");
}

static void test_save_all(void)
{
	static const char first[] =
	    "berth_proxy_requests_total{service=\"shop-web\",code=\"2xx\"} 100\n"
	    "berth_proxy_requests_total{service=\"blog-web\",code=\"2xx\"} 5\n";
	static const char second[] =
	    "berth_proxy_requests_total{service=\"shop-web\",code=\"2xx\"} 150\n"
	    "berth_proxy_requests_total{service=\"shop-web\",code=\"5xx\"} 10\n";
	char dir[] = "/tmp/berth-test-charts-XXXXXX";
	struct series s;
	struct series_point *p;
	struct sbuf path = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	series_init(&s, sampler_capacity(10), SAMPLER_MAX_APPS);
	CHECK_INT(series_add_scrape(&s, first, strlen(first), 10000, &e), 0);
	CHECK_INT(series_add_scrape(&s, second, strlen(second), 10010, &e), 0);
	CHECK_INT(sampler_save_all(&s, dir, 10010, &e), 0);
	CHECK_INT(apicharts_load(dir, "shop", 10010, &p, &n, &e), 0);
	CHECK_INT(n, 2);
	CHECK(n == 2 && isnan(p[0].rps) && p[1].t == 10010 && p[1].rps == 6 && p[1].err_rps == 1);
	free(p);
	CHECK_INT(apicharts_load(dir, "blog", 10010, &p, &n, &e), 0);
	CHECK_INT(n, 2);
	CHECK(n == 2 && isnan(p[1].rps));
	free(p);
	/* an hour on, the old points are not written again */
	CHECK_INT(series_add_scrape(&s, second, strlen(second), 13700, &e), 0);
	CHECK_INT(sampler_save_all(&s, dir, 13700, &e), 0);
	CHECK_INT(apicharts_load(dir, "shop", 13700, &p, &n, &e), 0);
	CHECK_INT(n, 1);
	free(p);
	apicharts_path(&path, dir, "shop");
	CHECK(access(path.buf, R_OK) == 0);
	/* no file yet: no point */
	CHECK_INT(apicharts_load(dir, "nope", 13700, &p, &n, &e), 0);
	CHECK(n == 0 && p == NULL);
	/* a destroyed app is forgotten, its file removed; the others stay */
	CHECK_INT(sampler_forget_gone(&s, dir, only_shop, NULL), 1);
	CHECK_INT(sampler_forget_gone(&s, dir, only_shop, NULL), 0);
	CHECK(access(path.buf, R_OK) == 0);
	sbuf_reset(&path);
	apicharts_path(&path, dir, "blog");
	CHECK(access(path.buf, F_OK) < 0 && errno == ENOENT);
	CHECK_INT(sampler_save_all(&s, dir, 13710, &e), 0);
	CHECK(access(path.buf, F_OK) < 0);
	{
		struct strvec kept = STRVEC_INIT;
		CHECK_INT(series_names(&s, &kept), 1);
		CHECK(kept.nr == 1 && !strcmp(kept.v[0], "shop"));
		strvec_clear(&kept);
	}
	series_release(&s);
	sbuf_release(&path);
	err_release(&e);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
}

int main(void)
{
	UNIT_RUN(test_json);
	UNIT_RUN(test_parse);
	UNIT_RUN(test_svg);
	UNIT_RUN(test_interval);
	UNIT_RUN(test_save_all);
	return unit_done();
}
