/*
 * apicharts — an app's traffic over the last hour, for the panel: the
 * points berthd's sampler (daemon/sampler.h) keeps in STATE/metrics/APP.json,
 * and the routes that show them.
 *
 *	GET /api/v1/apps/NAME/metrics
 *		200 {"points":[{"t", "rps", "errors_5xx", "upstream_errors",
 *		     "p50_ms", "p99_ms"}, ...]}, oldest first: t in Unix seconds,
 *		the rest per second or in ms, null for a gap (no scrape, or no
 *		request for the latencies); {"points":[]} before the first sample
 *	GET /apps/NAME/charts/requests.svg	requests/s
 *	GET /apps/NAME/charts/latency.svg	p50 and p99 in ms
 *	GET /apps/NAME/charts/errors.svg	5xx answers/s and upstream errors/s
 *		200 image/svg+xml (daemon/svgchart.h), with nosniff and no-store;
 *		with no traffic recorded yet, a chart that says so in its title
 *		and desc
 * Both for a user (session or API token) who may read the app; an app that
 * does not exist or that the user may not read is 404 {"error"}, a chart
 * that is not one of the three 404 too; no credentials 401 (apictx_auth).
 *
 * The file is berthd's own, written whole by the sampler
 * (apicharts_save: a temporary file renamed over it); still it is read
 * strictly, and points older than an hour are not shown.
 */
#ifndef APICHARTS_H
#define APICHARTS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/http.h"
#include "daemon/series.h"
#include "lib/err.h"
#include "lib/sbuf.h"

#define APICHARTS_WINDOW     3600	/* seconds of points shown */
#define APICHARTS_MAX_POINTS 3600	/* points in a file at most (one a second for an hour) */
#define APICHARTS_MAX_BYTES  (1u << 20) /* a file's size at most */
#define APICHARTS_NO_DATA    "no traffic recorded yet"

/* STATE_DIR/metrics/APP.json, appended to sb. */
void apicharts_path(struct sbuf *sb, const char *state_dir, const char *app);

/* {"points":[...]} of p[0..n), as the route answers and the file holds, appended to sb. */
void apicharts_points_json(struct sbuf *sb, const struct series_point *p, size_t n);

/*
 * Reads a file's text (len bytes) into *out (malloc'd; NULL when none) and
 * *n: the points with t after now - APICHARTS_WINDOW, their err_pct worked
 * out again. Returns 0, or -1 with e set when the text is not the format
 * (an object with "points", each point an object with an integer t,
 * ascending, and a number or null for each value) or has more than
 * APICHARTS_MAX_POINTS points.
 */
int apicharts_points_parse(const char *text, size_t len, int64_t now, struct series_point **out,
			   size_t *n, struct err *e);

/* Writes app's points to its file, whole (a temporary file renamed); 0, or -1 with e set. */
int apicharts_save(const char *state_dir, const char *app, const struct series_point *p, size_t n,
		   struct err *e);

/*
 * Reads app's file as apicharts_points_parse does; a missing file is no
 * point. 0, or -1 with e set.
 */
int apicharts_load(const char *state_dir, const char *app, int64_t now, struct series_point **out,
		   size_t *n, struct err *e);

/*
 * Appends chart `which` ("requests", "latency" or "errors") of app's
 * points to sb. Returns 0, or -1 for another name (sb untouched).
 */
int apicharts_svg(struct sbuf *sb, const char *app, const char *which, const struct series_point *p,
		  size_t n);

/* The routes (the struct api as data). */
void apicharts_h_metrics(const struct http_request *req, struct http_response *resp, void *data);
void apicharts_h_svg(const struct http_request *req, struct http_response *resp, void *data);

#endif
