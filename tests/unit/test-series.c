#include "daemon/series.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "lib/strvec.h"
#include "unit.h"

#define CHECK_NEAR(got, want) CHECK(fabs((got) - (want)) < 1e-9)

/* Buckets of 5, 10, 25, 50 ms and +Inf with cumulative counts c. */
static void hist(struct series_totals *t, const double c[5])
{
	static const double le[5] = {0.005, 0.01, 0.025, 0.05, INFINITY};

	memset(t, 0, sizeof(*t));
	t->nbuckets = 5;
	memcpy(t->le, le, sizeof(le));
	memcpy(t->buckets, c, 5 * sizeof(double));
	t->requests[2] = c[4];
}

/*
 * Worked by hand for the counts 10, 30, 50, 10, 0 in the buckets:
 * p50: rank 50 falls in (10 ms, 25 ms], 10 of its 50 above the 40
 * below: 10 + 15 * 10/50 = 13 ms. p99: rank 99 in (25 ms, 50 ms], 9 of 10:
 * 25 + 25 * 9/10 = 47.5 ms. p10: rank 10 in [0, 5 ms]: 5 ms.
 */
static void test_quantile(void)
{
	struct series_totals zero, cur, prev, other;

	hist(&zero, (double[]){0, 0, 0, 0, 0});
	hist(&cur, (double[]){10, 40, 90, 100, 100});
	CHECK_NEAR(series_quantile(&zero, &cur, 0.5), 0.013);
	CHECK_NEAR(series_quantile(NULL, &cur, 0.5), 0.013);
	CHECK_NEAR(series_quantile(&zero, &cur, 0.99), 0.0475);
	CHECK_NEAR(series_quantile(&zero, &cur, 0.1), 0.005);
	/* differences from an earlier scrape give the same */
	hist(&prev, (double[]){5, 10, 20, 30, 30});
	hist(&cur, (double[]){15, 50, 110, 130, 130});
	CHECK_NEAR(series_quantile(&prev, &cur, 0.5), 0.013);
	CHECK_NEAR(series_quantile(&prev, &cur, 0.99), 0.0475);
	/* a reset (the proxy restarted): the new counts alone */
	hist(&prev, (double[]){100, 200, 300, 400, 400});
	hist(&cur, (double[]){10, 40, 90, 100, 100});
	CHECK_NEAR(series_quantile(&prev, &cur, 0.5), 0.013);
	/* in the +Inf bucket: the largest finite bound */
	hist(&cur, (double[]){0, 0, 0, 90, 100});
	CHECK_NEAR(series_quantile(&zero, &cur, 0.99), 0.05);
	/* nothing counted, other bounds, a bad q: no value */
	CHECK(isnan(series_quantile(&cur, &cur, 0.5)));
	other = cur;
	other.le[1] = 0.02;
	CHECK(isnan(series_quantile(&other, &cur, 0.5)));
	CHECK(isnan(series_quantile(NULL, &cur, 1)));
	cur.nbuckets = 0;
	CHECK(isnan(series_quantile(NULL, &cur, 0.5)));
}

static void test_service_name(void)
{
	struct sbuf sb = SBUF_INIT;

	series_service_name(&sb, "shop");
	CHECK_STR(sb.buf, "shop-web");
	sbuf_release(&sb);
}

static void test_points(void)
{
	struct series s;
	struct series_totals a, b, c, d;
	struct series_point pt[8];
	size_t n;

	series_init(&s, 4, 8);
	hist(&a, (double[]){0, 0, 0, 0, 0});
	a.requests[2] = 100;
	hist(&b, (double[]){10, 40, 90, 100, 100});
	b.requests[2] = 180;
	b.requests[5] = 20;
	b.upstream_errors = 1;
	CHECK_INT(series_add(&s, "shop", 1000, &a), 0);
	CHECK_INT(series_add(&s, "shop", 1010, &b), 0);
	CHECK_INT(series_add(&s, "shop", 1010, &a), 0); /* not later: ignored */
	n = series_get(&s, "shop", pt, 8);
	CHECK_INT(n, 2);
	CHECK(pt[0].t == 1000 && isnan(pt[0].rps) && isnan(pt[0].p50_ms));
	CHECK(pt[1].t == 1010);
	CHECK_NEAR(pt[1].rps, 10);
	CHECK_NEAR(pt[1].err_rps, 2);
	CHECK_NEAR(pt[1].upstream_rps, 0.1);
	CHECK_NEAR(pt[1].err_pct, 20);
	CHECK_NEAR(pt[1].p50_ms, 13);
	CHECK_NEAR(pt[1].p99_ms, 47.5);

	/* a failed scrape, then one with nothing to compare to: gaps */
	CHECK_INT(series_add(&s, "shop", 1020, NULL), 0);
	CHECK_INT(series_add(&s, "shop", 1030, &b), 0);
	/* the proxy restarted: its counters start again from 0 */
	hist(&c, (double[]){1, 4, 9, 10, 10});
	c.requests[2] = 40;
	c.requests[5] = 10;
	CHECK_INT(series_add(&s, "shop", 1040, &c), 0);
	n = series_get(&s, "shop", pt, 8);
	CHECK_INT(n, 4); /* the capacity: the oldest went */
	CHECK(pt[0].t == 1010 && pt[1].t == 1020 && pt[2].t == 1030 && pt[3].t == 1040);
	CHECK(isnan(pt[1].rps) && isnan(pt[2].rps));
	CHECK_NEAR(pt[3].rps, 5);
	CHECK_NEAR(pt[3].err_rps, 1);
	CHECK_NEAR(pt[3].err_pct, 20);
	CHECK_NEAR(pt[3].upstream_rps, 0);
	CHECK_NEAR(pt[3].p50_ms, 13);

	/* no requests: rates of 0, no share or quantile */
	d = c;
	CHECK_INT(series_add(&s, "shop", 1050, &d), 0);
	n = series_get(&s, "shop", pt, 8);
	CHECK(pt[n - 1].rps == 0 && isnan(pt[n - 1].err_pct) && isnan(pt[n - 1].p99_ms));

	CHECK_INT(series_get(&s, "nope", pt, 8), 0);
	series_forget(&s, "shop");
	CHECK_INT(series_get(&s, "shop", pt, 8), 0);
	series_release(&s);
}

static void test_max_apps(void)
{
	struct series s;
	struct series_point pt;

	series_init(&s, 2, 1);
	CHECK_INT(series_add(&s, "a", 1, NULL), 0);
	CHECK_INT(series_add(&s, "b", 1, NULL), -1);
	CHECK_INT(series_get(&s, "b", &pt, 1), 0);
	series_forget(&s, "a");
	CHECK_INT(series_add(&s, "b", 1, NULL), 0);
	series_release(&s);
}

static struct series shared;

static void *adder(void *arg)
{
	const char *app = arg;
	struct series_totals t;
	int64_t i;

	hist(&t, (double[]){1, 2, 3, 4, 4});
	for (i = 1; i <= 2000; i++) {
		t.requests[2] += 10;
		series_add(&shared, app, i, &t);
	}
	return NULL;
}

/* Two threads (the sampler, a reader or another sampler) on one series. */
static void test_threads(void)
{
	pthread_t a, b;
	struct series_point pt[16];
	size_t n;

	series_init(&shared, 16, 4);
	pthread_create(&a, NULL, adder, "x");
	pthread_create(&b, NULL, adder, "y");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	n = series_get(&shared, "x", pt, 16);
	CHECK_INT(n, 16);
	CHECK(pt[15].t == 2000 && pt[15].rps == 10);
	CHECK_INT(series_get(&shared, "y", pt, 16), 16);
	series_release(&shared);
}

/* Scrapes as text: every APP-web service is an app; one gone or a bad scrape gives gaps. */
static void test_scrape(void)
{
	static const char first[] =
	    "berth_proxy_requests_total{service=\"shop-web\",code=\"2xx\"} 100\n"
	    "berth_proxy_requests_total{service=\"blog-web\",code=\"2xx\"} 5\n"
	    "berth_proxy_requests_total{service=\"Bad-web\",code=\"2xx\"} 5\n"
	    "berth_proxy_requests_total{service=\"shop-worker\",code=\"2xx\"} 5\n"
	    "berth_proxy_requests_total{service=\"\",code=\"4xx\"} 5\n";
	static const char second[] =
	    "berth_proxy_requests_total{service=\"shop-web\",code=\"2xx\"} 150\n"
	    "berth_proxy_requests_total{service=\"shop-web\",code=\"5xx\"} 10\n"
	    "berth_proxy_upstream_errors_total{service=\"shop-web\"} 0\n";
	struct series s;
	struct series_point pt[4];
	struct strvec names = STRVEC_INIT;
	struct err e = ERR_INIT;

	series_init(&s, 4, 8);
	CHECK_INT(series_add_scrape(&s, first, strlen(first), 100, &e), 0);
	CHECK_INT(series_names(&s, &names), 2);
	CHECK(names.nr == 2 && !strcmp(names.v[0], "shop") && !strcmp(names.v[1], "blog"));
	CHECK_INT(series_add_scrape(&s, second, strlen(second), 110, &e), 0);
	CHECK_INT(series_get(&s, "shop", pt, 4), 2);
	CHECK_NEAR(pt[1].rps, 6);
	CHECK_NEAR(pt[1].err_rps, 1);
	CHECK_INT(series_get(&s, "blog", pt, 4), 2);
	CHECK(pt[1].t == 110 && isnan(pt[1].rps));
	CHECK_INT(series_add_scrape(&s, "x y\n", 4, 120, &e), -1);
	CHECK_STR(err_str(&e), "metrics:1:3: expected a number, +Inf, -Inf or NaN");
	CHECK_INT(series_add_scrape(&s, NULL, 0, 130, &e), 0);
	CHECK_INT(series_get(&s, "shop", pt, 4), 4);
	CHECK(pt[2].t == 120 && isnan(pt[2].rps) && pt[3].t == 130 && isnan(pt[3].rps));
	strvec_clear(&names);
	err_release(&e);
	series_release(&s);
}

int main(void)
{
	UNIT_RUN(test_quantile);
	UNIT_RUN(test_service_name);
	UNIT_RUN(test_points);
	UNIT_RUN(test_max_apps);
	UNIT_RUN(test_threads);
	UNIT_RUN(test_scrape);
	return unit_done();
}
