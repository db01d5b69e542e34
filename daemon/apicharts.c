#include "daemon/apicharts.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "daemon/api.h"
#include "daemon/apictx.h"
#include "daemon/svgchart.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

void apicharts_path(struct sbuf *sb, const char *state_dir, const char *app)
{
	sbuf_addf(sb, "%s/metrics/%s.json", state_dir, app);
}

/* ,"name":v with v a number (3 decimals, no locale) or null. */
static void add_value(struct sbuf *sb, const char *name, double v)
{
	sbuf_addf(sb, ",\"%s\":", name);
	if (isfinite(v)) {
		svgchart_num(sb, v, 3);
	} else {
		sbuf_addstr(sb, "null");
	}
}

void apicharts_points_json(struct sbuf *sb, const struct series_point *p, size_t n)
{
	sbuf_addstr(sb, "{\"points\":[");
	for (size_t i = 0; i < n; i++) {
		sbuf_addf(sb, "%s{\"t\":%lld", i ? "," : "", (long long)p[i].t);
		add_value(sb, "rps", p[i].rps);
		add_value(sb, "errors_5xx", p[i].err_rps);
		add_value(sb, "upstream_errors", p[i].upstream_rps);
		add_value(sb, "p50_ms", p[i].p50_ms);
		add_value(sb, "p99_ms", p[i].p99_ms);
		sbuf_addch(sb, '}');
	}
	sbuf_addstr(sb, "]}\n");
}

/* A point's value: a number (not negative), or null (NaN). 0, or -1 when it is neither. */
static int value_of(json_t *pt, const char *name, double *v)
{
	json_t *j = json_object_get(pt, name);

	if (json_is_null(j)) {
		*v = NAN;
		return 0;
	}
	if (!json_is_number(j) || !isfinite(json_number_value(j)) || json_number_value(j) < 0) {
		return -1;
	}
	*v = json_number_value(j);
	return 0;
}

int apicharts_points_parse(const char *text, size_t len, int64_t now, struct series_point **out,
			   size_t *n, struct err *e)
{
	json_error_t je;
	json_t *root = NULL, *arr, *pt;
	struct series_point *p = NULL;
	size_t i, kept = 0;
	int64_t last = INT64_MIN;
	int r = -1;

	*out = NULL;
	*n = 0;
	if (len > APICHARTS_MAX_BYTES) {
		err_set(e, "metrics points: more than %u bytes", APICHARTS_MAX_BYTES);
		goto out;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(e, "metrics points:%d:%d: %s", je.line, je.column, je.text);
		goto out;
	}
	arr = json_object_get(root, "points");
	if (!json_is_object(root) || !json_is_array(arr)) {
		err_set(e, "metrics points: expected an object with a \"points\" array");
		goto out;
	}
	if (json_array_size(arr) > APICHARTS_MAX_POINTS) {
		err_set(e, "metrics points: more than %u points", APICHARTS_MAX_POINTS);
		goto out;
	}
	p = xcalloc(json_array_size(arr) + 1, sizeof(*p));
	json_array_foreach(arr, i, pt)
	{
		struct series_point q = {0};
		json_t *t = json_object_get(pt, "t");

		if (!json_is_object(pt) || !json_is_integer(t) || json_integer_value(t) <= last ||
		    value_of(pt, "rps", &q.rps) < 0 || value_of(pt, "errors_5xx", &q.err_rps) < 0 ||
		    value_of(pt, "upstream_errors", &q.upstream_rps) < 0 ||
		    value_of(pt, "p50_ms", &q.p50_ms) < 0 ||
		    value_of(pt, "p99_ms", &q.p99_ms) < 0) {
			err_set(
			    e,
			    "metrics points: point %zu: expected {\"t\": a time after the point "
			    "before, \"rps\", \"errors_5xx\", \"upstream_errors\", \"p50_ms\", "
			    "\"p99_ms\": a number or null}",
			    i);
			goto out;
		}
		q.t = last = json_integer_value(t);
		if (q.t <= now - APICHARTS_WINDOW) {
			continue;
		}
		q.err_pct = q.rps > 0 && isfinite(q.err_rps) ? 100 * q.err_rps / q.rps : NAN;
		p[kept++] = q;
	}
	if (kept) {
		*out = p;
		*n = kept;
		p = NULL;
	}
	r = 0;
out:
	free(p);
	json_decref(root);
	return r;
}

int apicharts_save(const char *state_dir, const char *app, const struct series_point *p, size_t n,
		   struct err *e)
{
	struct sbuf path = SBUF_INIT, text = SBUF_INIT;
	int r = -1;

	sbuf_addf(&path, "%s/metrics", state_dir);
	if (mkdir(path.buf, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", path.buf, strerror(errno));
		goto out;
	}
	sbuf_reset(&path);
	apicharts_path(&path, state_dir, app);
	apicharts_points_json(&text, p, n);
	r = file_write_atomic(path.buf, text.buf, text.len, 0600, e);
out:
	sbuf_release(&path);
	sbuf_release(&text);
	return r;
}

int apicharts_load(const char *state_dir, const char *app, int64_t now, struct series_point **out,
		   size_t *n, struct err *e)
{
	struct sbuf path = SBUF_INIT, text = SBUF_INIT;
	int r = -1;

	*out = NULL;
	*n = 0;
	apicharts_path(&path, state_dir, app);
	if (sbuf_read_file(&text, path.buf) < 0) {
		r = errno == ENOENT ? 0
				    : err_set(e, "cannot read '%s': %s", path.buf, strerror(errno));
		goto out;
	}
	r = apicharts_points_parse(text.buf, text.len, now, out, n, e);
	if (r < 0) {
		err_prefix(e, "'%s'", path.buf);
	}
out:
	sbuf_release(&path);
	sbuf_release(&text);
	return r;
}

/* Whether any point has a request rate: traffic was recorded. */
static bool any_traffic(const struct series_point *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (isfinite(p[i].rps)) {
			return true;
		}
	}
	return false;
}

int apicharts_svg(struct sbuf *sb, const char *app, const char *which, const struct series_point *p,
		  size_t n)
{
	struct sbuf title = SBUF_INIT;
	int64_t *t = xcalloc(n + 1, sizeof(*t));
	double *a = xcalloc(n + 1, sizeof(*a)), *b = xcalloc(n + 1, sizeof(*b));
	struct svgchart_line lines[2] = {{NULL, a}, {NULL, b}};
	struct svgchart c = {.width = 640, .height = 240, .t = t, .lines = lines};
	bool traffic = any_traffic(p, n);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		t[i] = p[i].t;
		if (!strcmp(which, "requests")) {
			a[i] = p[i].rps;
		} else if (!strcmp(which, "latency")) {
			a[i] = p[i].p50_ms;
			b[i] = p[i].p99_ms;
		} else {
			a[i] = p[i].err_rps;
			b[i] = p[i].upstream_rps;
		}
	}
	if (!strcmp(which, "requests")) {
		sbuf_addf(&title, "%s: requests per second", app);
		lines[0].label = "requests";
		c.unit = "req/s";
		c.nlines = 1;
	} else if (!strcmp(which, "latency")) {
		sbuf_addf(&title, "%s: latency", app);
		lines[0].label = "p50";
		lines[1].label = "p99";
		c.unit = "ms";
		c.nlines = 2;
	} else if (!strcmp(which, "errors")) {
		sbuf_addf(&title, "%s: errors per second", app);
		lines[0].label = "5xx answers";
		lines[1].label = "upstream errors";
		c.unit = "req/s";
		c.nlines = 2;
	} else {
		r = -1;
		goto out;
	}
	if (!traffic) {
		sbuf_addstr(&title, " (" APICHARTS_NO_DATA ")");
		c.desc = "No traffic recorded yet: berthd samples berth-proxy's counters every few "
			 "seconds, and a chart needs two samples with the app's requests.";
	}
	c.title = title.buf;
	c.n = n;
	svgchart_render(sb, &c);
out:
	sbuf_release(&title);
	free(t);
	free(a);
	free(b);
	return r;
}

/*
 * The app of the request's path (PREFIX/NAME/...), checked: it exists and
 * u may read it. NULL with resp answered (404).
 */
static char *readable_app(struct apictx *c, const struct store_user *u, const char *path,
			  const char *prefix, struct http_response *resp)
{
	struct strvec apps = STRVEC_INIT, roles = STRVEC_INIT;
	const char *s = path + strlen(prefix);
	size_t len = strcspn(s, "/");
	char *app = NULL;

	if (strncmp(path, prefix, strlen(prefix)) || !len) {
		apictx_fail(resp, 404, "no such app");
		goto out;
	}
	app = xstrndup(s, len);
	if (apictx_readable_apps(c, u, &apps, &roles) < 0) {
		log_error("http: %s", err_str(&c->e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		goto fail;
	}
	apictx_token_limit(c, &apps, &roles);
	for (size_t i = 0; i < apps.nr; i++) {
		if (!strcmp(apps.v[i], app)) {
			goto out;
		}
	}
	apictx_fail(resp, 404, "no such app (or not one you may read)");
fail:
	free(app);
	app = NULL;
out:
	strvec_clear(&apps);
	strvec_clear(&roles);
	return app;
}

/* The points of app's file at now: 0, or -1 with resp answered (500). */
static int load_points(struct apictx *c, const char *app, struct series_point **p, size_t *n,
		       struct http_response *resp)
{
	if (apicharts_load(c->api->state_dir, app, (int64_t)time(NULL), p, n, &c->e) < 0) {
		log_error("http: %s", err_str(&c->e));
		apictx_fail(resp, 500, "cannot read the app's metrics");
		return -1;
	}
	return 0;
}

void apicharts_h_metrics(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct series_point *p = NULL;
	struct sbuf body = SBUF_INIT;
	char *app = NULL;
	size_t n = 0;

	if (apictx_open_setup(&c, req, resp, data) < 0 || apictx_auth(&c, req, resp, &u, 0) <= 0 ||
	    !(app = readable_app(&c, &u, req->path, "/api/v1/apps/", resp)) ||
	    load_points(&c, app, &p, &n, resp) < 0) {
		goto out;
	}
	apicharts_points_json(&body, p, n);
	http_reply(resp, 200, "application/json", body.buf);
out:
	free(p);
	free(app);
	sbuf_release(&body);
	store_user_release(&u);
	apictx_close(&c);
}

void apicharts_h_svg(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct series_point *p = NULL;
	struct sbuf body = SBUF_INIT, which = SBUF_INIT;
	const char *file;
	char *app = NULL;
	size_t n = 0, len;

	if (apictx_open_setup(&c, req, resp, data) < 0 || apictx_auth(&c, req, resp, &u, 0) <= 0 ||
	    !(app = readable_app(&c, &u, req->path, "/apps/", resp))) {
		goto out;
	}
	/* /apps/NAME/charts/WHICH.svg */
	file = req->path + strlen("/apps/") + strlen(app);
	if (strncmp(file, "/charts/", 8) || (len = strlen(file + 8)) <= 4 ||
	    strcmp(file + 8 + len - 4, ".svg")) {
		apictx_fail(resp, 404, "no such chart (requests.svg, latency.svg or errors.svg)");
		goto out;
	}
	sbuf_add(&which, file + 8, len - 4);
	if (strcmp(which.buf, "requests") && strcmp(which.buf, "latency") &&
	    strcmp(which.buf, "errors")) {
		apictx_fail(resp, 404, "no such chart (requests.svg, latency.svg or errors.svg)");
		goto out;
	}
	if (load_points(&c, app, &p, &n, resp) < 0) {
		goto out;
	}
	apicharts_svg(&body, app, which.buf, p, n);
	http_reply(resp, 200, "image/svg+xml", body.buf);
	http_add_header(resp,
			"Content-Security-Policy: default-src 'none'; frame-ancestors 'none'");
out:
	free(p);
	free(app);
	sbuf_release(&body);
	sbuf_release(&which);
	store_user_release(&u);
	apictx_close(&c);
}
