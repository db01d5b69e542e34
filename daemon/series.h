/*
 * series — an app's traffic over time, from successive scrapes of
 * berth-proxy's metrics (daemon/promtext.h): requests per second, errors
 * per second and their share, and the p50 and p99 latency.
 *
 * berth-proxy counts an app under its web role's service, "APP-web"
 * (daemon/release.h: the engine's service is the app, its proxied role
 * web). series_totals_of() gathers that service's counters from one
 * scrape; series_add() turns the difference from the app's previous
 * scrape into one point:
 *	rps	requests (every status class) per second
 *	err_rps	5xx answers per second (what clients saw fail)
 *	upstream_rps	upstream errors per second (refused, reset, garbage,
 *		timed out). Not added to err_rps: berth-proxy counts an upstream
 *		error it answers with 502 or 504 in both, and one a retry hid
 *		in the second alone; a sum would count most of them twice
 *	err_pct	err_rps as a share of rps, in percent (NaN without requests)
 *	p50_ms, p99_ms	quantiles of the request durations, from the
 *		histogram buckets' differences with linear interpolation inside
 *		the bucket, as Prometheus' histogram_quantile() does: in the
 *		+Inf bucket, the largest finite bound; NaN without requests
 * A counter that went down was reset (the proxy restarted): its difference
 * is its new value, as Prometheus' rate() takes it. A missing scrape and
 * the app's first one give a gap: a point whose values are NaN. A scrape
 * no later than the app's previous one is ignored.
 *
 * Memory is bounded: each app keeps a ring of the capacity given at init
 * (one sample every 10 s for an hour: 360), and at most max_apps apps are
 * kept (an app past that is not recorded; series_forget() drops one).
 * Thread-safe: every call takes the series' mutex. Time is the caller's
 * (now, Unix seconds), so tests set it.
 */
#ifndef SERIES_H
#define SERIES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/promtext.h"
#include "lib/sbuf.h"

#define SERIES_MAX_BUCKETS 32
#define SERIES_INTERVAL	   10  /* seconds between samples berthd takes */
#define SERIES_CAPACITY	   360 /* samples kept: an hour */

/* One app's counters in one scrape. Status classes: [0] other, [1..5] 1xx..5xx. */
struct series_totals {
	double requests[6];
	double le[SERIES_MAX_BUCKETS];	    /* bucket upper bounds, ascending, in s; +Inf last */
	double buckets[SERIES_MAX_BUCKETS]; /* cumulative counts */
	unsigned nbuckets;
	double duration_sum, duration_count; /* seconds, requests */
	double upstream_errors;
	double in_flight;
};

struct series_point {
	int64_t t; /* Unix seconds */
	double rps, err_rps, upstream_rps, err_pct, p50_ms, p99_ms;
};

struct series_app; /* private */

struct series {
	pthread_mutex_t lock;
	struct series_app *apps;
	size_t nr, alloc, max_apps;
	unsigned capacity;
};

/* berth-proxy's service of app's web: "APP-web", appended to sb. */
void series_service_name(struct sbuf *sb, const char *app);

/*
 * Gathers the counters of service from p into t (zeroed first). Returns 1
 * when p has any sample of service, 0 when none. A histogram whose bounds
 * are not ascending, or has more than SERIES_MAX_BUCKETS buckets, is
 * left out (nbuckets 0).
 */
int series_totals_of(const struct promtext *p, const char *service, struct series_totals *t);

/* The sum of t's requests over every status class. */
double series_requests(const struct series_totals *t);

/*
 * The q-quantile (0 < q < 1) of the requests counted between prev and
 * cur (prev NULL: since the start), in seconds; NaN when none was
 * counted or the buckets differ in bounds. A reset (fewer requests in cur)
 * takes cur's buckets alone.
 */
double series_quantile(const struct series_totals *prev, const struct series_totals *cur, double q);

void series_init(struct series *s, unsigned capacity, size_t max_apps);
void series_release(struct series *s);

/*
 * Records app's scrape at now: t, or NULL when the scrape failed or the
 * app had no samples (a gap). Returns 0, or -1 when app is not kept
 * (max_apps reached).
 */
int series_add(struct series *s, const char *app, int64_t now, const struct series_totals *t);

/*
 * Copies app's points, oldest first, into out (at most max); returns how
 * many were copied (0 for an unknown app).
 */
size_t series_get(struct series *s, const char *app, struct series_point *out, size_t max);

/* Drops app's points (a destroyed app). */
void series_forget(struct series *s, const char *app);

/* Appends the names of the apps kept to names; returns how many. */
struct strvec;
size_t series_names(struct series *s, struct strvec *names);

/*
 * Records one scrape's text (len bytes; NULL: the scrape failed) at now for
 * every app whose web service ("APP-web", APP of [a-z0-9-]) has samples in it,
 * and a gap for every app kept that has none. Returns 0, or -1 with e set
 * when the text is not the format (every app kept then gets a gap).
 */
int series_add_scrape(struct series *s, const char *text, size_t len, int64_t now, struct err *e);

#endif
