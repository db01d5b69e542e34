#include "daemon/series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

struct series_app {
	char *name;
	struct series_point *ring; /* capacity points; the oldest at head once full */
	unsigned head, n;
	bool have_prev;
	int64_t prev_t;
	struct series_totals prev;
};

void series_service_name(struct sbuf *sb, const char *app)
{
	sbuf_addf(sb, "%s-web", app);
}

/* A bucket bound as berth-proxy writes it: "+Inf" or digits with an optional fraction. */
static bool bound(const char *s, double *out)
{
	double v = 0, scale = 1;
	bool digits = false, frac = false;

	if (!strcmp(s, "+Inf")) {
		*out = INFINITY;
		return true;
	}
	for (; *s; s++) {
		if (*s == '.' && !frac) {
			frac = true;
		} else if (*s >= '0' && *s <= '9') {
			if (frac) {
				scale /= 10;
				v += (*s - '0') * scale;
			} else {
				v = v * 10 + (*s - '0');
			}
			digits = true;
		} else {
			return false;
		}
	}
	*out = v;
	return digits;
}

/* A counter's value: a negative or non-finite one counts as 0. */
static double counted(double v)
{
	return isfinite(v) && v > 0 ? v : 0;
}

int series_totals_of(const struct promtext *p, const char *service, struct series_totals *t)
{
	static const char *const classes[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
	bool found = false, bad_hist = false;
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < p->nr; i++) {
		const struct promtext_sample *s = &p->samples[i];
		const char *svc = promtext_label(s, "service"), *l;
		double v = counted(s->value);
		unsigned j;

		if (!svc || strcmp(svc, service)) {
			continue;
		}
		found = true;
		if (!strcmp(s->name, "berth_proxy_requests_total")) {
			l = promtext_label(s, "code");
			for (j = 0; l && j < 6; j++) {
				if (!strcmp(l, classes[j])) {
					t->requests[j] = v;
				}
			}
		} else if (!strcmp(s->name, "berth_proxy_request_duration_seconds_bucket")) {
			double le;

			l = promtext_label(s, "le");
			if (!l || !bound(l, &le) || t->nbuckets == SERIES_MAX_BUCKETS ||
			    (t->nbuckets && le <= t->le[t->nbuckets - 1])) {
				bad_hist = true;
				continue;
			}
			t->le[t->nbuckets] = le;
			t->buckets[t->nbuckets++] = v;
		} else if (!strcmp(s->name, "berth_proxy_request_duration_seconds_sum")) {
			t->duration_sum = v;
		} else if (!strcmp(s->name, "berth_proxy_request_duration_seconds_count")) {
			t->duration_count = v;
		} else if (!strcmp(s->name, "berth_proxy_upstream_errors_total")) {
			t->upstream_errors = v;
		} else if (!strcmp(s->name, "berth_proxy_requests_in_flight")) {
			t->in_flight = v;
		}
	}
	if (bad_hist || (t->nbuckets && !isinf(t->le[t->nbuckets - 1]))) {
		t->nbuckets = 0;
	}
	return found ? 1 : 0;
}

double series_requests(const struct series_totals *t)
{
	double n = 0;
	unsigned i;

	for (i = 0; i < 6; i++) {
		n += t->requests[i];
	}
	return n;
}

/* cur - prev, or cur when the counter was reset */
static double delta(double prev, double cur)
{
	return cur >= prev ? cur - prev : cur;
}

double series_quantile(const struct series_totals *prev, const struct series_totals *cur, double q)
{
	double d[SERIES_MAX_BUCKETS], rank, start, below;
	unsigned i, n = cur->nbuckets;

	if (n < 2 || !(q > 0 && q < 1)) {
		return NAN;
	}
	if (prev && prev->nbuckets) {
		if (prev->nbuckets != n || memcmp(prev->le, cur->le, n * sizeof(double))) {
			return NAN;
		}
		if (cur->buckets[n - 1] < prev->buckets[n - 1]) {
			prev = NULL; /* reset: cur counts from the restart */
		}
	} else {
		prev = NULL;
	}
	for (i = 0; i < n; i++) {
		d[i] = prev ? cur->buckets[i] - prev->buckets[i] : cur->buckets[i];
		/* counts that go down across buckets are a torn scrape: keep them monotonic */
		if (d[i] < 0 || (i && d[i] < d[i - 1])) {
			d[i] = i ? d[i - 1] : 0;
		}
	}
	if (!(d[n - 1] > 0)) {
		return NAN;
	}
	rank = q * d[n - 1];
	for (i = 0; i < n - 1 && d[i] < rank; i++) {
	}
	if (i == n - 1) {
		return cur->le[n - 2];
	}
	if (i == 0 && cur->le[0] <= 0) {
		return cur->le[0];
	}
	start = i ? cur->le[i - 1] : 0;
	below = i ? d[i - 1] : 0;
	return start + (cur->le[i] - start) * (rank - below) / (d[i] - below);
}

void series_init(struct series *s, unsigned capacity, size_t max_apps)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->capacity = capacity ? capacity : 1;
	s->max_apps = max_apps;
}

void series_release(struct series *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		free(s->apps[i].name);
		free(s->apps[i].ring);
	}
	free(s->apps);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
}

static struct series_app *find(struct series *s, const char *app)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		if (!strcmp(s->apps[i].name, app)) {
			return &s->apps[i];
		}
	}
	return NULL;
}

static void push(struct series *s, struct series_app *a, const struct series_point *pt)
{
	if (a->n < s->capacity) {
		a->ring[(a->head + a->n++) % s->capacity] = *pt;
	} else {
		a->ring[a->head] = *pt;
		a->head = (a->head + 1) % s->capacity;
	}
}

int series_add(struct series *s, const char *app, int64_t now, const struct series_totals *t)
{
	struct series_point pt = {now, NAN, NAN, NAN, NAN, NAN, NAN};
	struct series_app *a;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (!(a = find(s, app))) {
		if (s->nr == s->max_apps) {
			r = -1;
			goto out;
		}
		XGROW(s->apps, s->alloc, s->nr + 1);
		a = &s->apps[s->nr++];
		memset(a, 0, sizeof(*a));
		a->name = xstrdup(app);
		a->ring = xcalloc(s->capacity, sizeof(*a->ring));
	}
	if (a->n && now <= a->prev_t) {
		goto out;
	}
	if (t && a->have_prev) {
		const struct series_totals *p = &a->prev;
		double dt = (double)(now - a->prev_t), req = 0, err5 = 0, up;
		unsigned i;

		for (i = 0; i < 6; i++) {
			req += delta(p->requests[i], t->requests[i]);
		}
		err5 = delta(p->requests[5], t->requests[5]);
		up = delta(p->upstream_errors, t->upstream_errors);
		pt.rps = req / dt;
		pt.err_rps = err5 / dt;
		pt.upstream_rps = up / dt;
		pt.err_pct = req > 0 ? 100.0 * err5 / req : NAN;
		pt.p50_ms = series_quantile(p, t, 0.5) * 1000;
		pt.p99_ms = series_quantile(p, t, 0.99) * 1000;
	}
	push(s, a, &pt);
	a->have_prev = t != NULL;
	a->prev_t = now;
	if (t) {
		a->prev = *t;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

size_t series_get(struct series *s, const char *app, struct series_point *out, size_t max)
{
	struct series_app *a;
	size_t i, n = 0;

	pthread_mutex_lock(&s->lock);
	if ((a = find(s, app))) {
		for (i = 0; i < a->n && n < max; i++) {
			out[n++] = a->ring[(a->head + i) % s->capacity];
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

void series_forget(struct series *s, const char *app)
{
	struct series_app *a;

	pthread_mutex_lock(&s->lock);
	if ((a = find(s, app))) {
		free(a->name);
		free(a->ring);
		*a = s->apps[--s->nr];
	}
	pthread_mutex_unlock(&s->lock);
}

size_t series_names(struct series *s, struct strvec *names)
{
	size_t i, n;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr; i++) {
		strvec_push(names, s->apps[i].name);
	}
	n = s->nr;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* The app of a web service "APP-web" (APP of [a-z0-9-], starting with a letter) into app. */
static bool app_of_service(const char *svc, struct sbuf *app)
{
	size_t n = strlen(svc);

	if (n < 5 || strcmp(svc + n - 4, "-web") || !(svc[0] >= 'a' && svc[0] <= 'z') ||
	    strspn(svc, "abcdefghijklmnopqrstuvwxyz0123456789-") != n) {
		return false;
	}
	sbuf_reset(app);
	sbuf_add(app, svc, n - 4);
	return true;
}

int series_add_scrape(struct series *s, const char *text, size_t len, int64_t now, struct err *e)
{
	struct promtext p = PROMTEXT_INIT;
	struct strvec seen = STRVEC_INIT, known = STRVEC_INIT;
	struct sbuf app = SBUF_INIT;
	struct series_totals t;
	size_t i, j;
	int r = 0;

	if (text && promtext_parse(&p, text, len, e) < 0) {
		r = -1;
	}
	for (i = 0; i < p.nr; i++) {
		const char *svc = promtext_label(&p.samples[i], "service");
		bool dup = false;

		if (!svc || !app_of_service(svc, &app)) {
			continue;
		}
		for (j = 0; j < seen.nr && !dup; j++) {
			dup = !strcmp(seen.v[j], app.buf);
		}
		if (dup) {
			continue;
		}
		strvec_push(&seen, app.buf);
		series_totals_of(&p, svc, &t);
		series_add(s, app.buf, now, &t);
	}
	series_names(s, &known);
	for (i = 0; i < known.nr; i++) {
		bool found = false;

		for (j = 0; j < seen.nr && !found; j++) {
			found = !strcmp(seen.v[j], known.v[i]);
		}
		if (!found) {
			series_add(s, known.v[i], now, NULL);
		}
	}
	promtext_release(&p);
	strvec_clear(&seen);
	strvec_clear(&known);
	sbuf_release(&app);
	return r;
}
