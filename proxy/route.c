#include "proxy/route.h"

#include <ctype.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "proxy/errpages.h"
#include "lib/banned.h"

struct target *target_new(const char *addr, struct err *e)
{
	struct addrinfo hints = {0}, *res = NULL;
	struct target *t = NULL;
	const char *colon;
	char *host = NULL;
	int rc;

	colon = strrchr(addr, ':');
	if (!colon || !colon[1] || colon == addr) {
		err_set(e, "target '%s': expected HOST:PORT", addr);
		goto out;
	}
	if (addr[0] == '[' && colon[-1] == ']') {
		host = xstrndup(addr + 1, (size_t)(colon - addr - 2));
	} else {
		host = xstrndup(addr, (size_t)(colon - addr));
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		err_set(e, "target '%s': %s", addr, gai_strerror(rc));
		goto out;
	}
	t = xcalloc(1, sizeof(*t));
	atomic_init(&t->refs, 1);
	atomic_init(&t->inflight, 0);
	atomic_init(&t->tunnels, 0);
	atomic_init(&t->healthy, true);
	atomic_init(&t->retired, false);
	atomic_init(&t->checked, false);
	atomic_init(&t->pending, false);
	t->addr = xstrdup(addr);
	memcpy(&t->sa, res->ai_addr, res->ai_addrlen);
	t->salen = res->ai_addrlen;
out:
	if (res) {
		freeaddrinfo(res);
	}
	free(host);
	return t;
}

struct target *target_ref(struct target *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void target_unref(struct target *t)
{
	if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	free(t->addr);
	free(t);
}

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[ROUTE_MAX_SERVICE_INDEX] = {""};
static unsigned nr_names = 1; /* 0: no service */

unsigned route_service_index(const char *name)
{
	unsigned i, idx = 0;

	pthread_mutex_lock(&names_lock);
	for (i = 1; i < nr_names; i++) {
		if (!strcmp(names[i], name)) {
			idx = i;
			goto out;
		}
	}
	if (nr_names < ROUTE_MAX_SERVICE_INDEX) {
		names[nr_names] = xstrdup(name);
		idx = nr_names++;
	}
out:
	pthread_mutex_unlock(&names_lock);
	return idx;
}

unsigned route_service_names(const char **out)
{
	unsigned n;

	pthread_mutex_lock(&names_lock);
	n = nr_names;
	memcpy(out, names, n * sizeof(*out));
	pthread_mutex_unlock(&names_lock);
	return n;
}

void service_opts_copy(struct service_opts *dst, const struct service_opts *src)
{
	*dst = *src;
	dst->health_path = xstrdup(src->health_path);
	dst->health_host = src->health_host ? xstrdup(src->health_host) : NULL;
	dst->canonical_host = src->canonical_host ? xstrdup(src->canonical_host) : NULL;
	dst->client_ip_header = src->client_ip_header ? xstrdup(src->client_ip_header) : NULL;
	dst->tls_cert_path = src->tls_cert_path ? xstrdup(src->tls_cert_path) : NULL;
	dst->tls_key_path = src->tls_key_path ? xstrdup(src->tls_key_path) : NULL;
	dst->tls_issuer = src->tls_issuer ? xstrdup(src->tls_issuer) : NULL;
	dst->tls_issuer_target = src->tls_issuer_target ? target_ref(src->tls_issuer_target) : NULL;
	strvec_init(&dst->log_req_headers);
	strvec_pushv(&dst->log_req_headers, (const char *const *)src->log_req_headers.v);
	strvec_init(&dst->log_resp_headers);
	strvec_pushv(&dst->log_resp_headers, (const char *const *)src->log_resp_headers.v);
	strvec_init(&dst->exclude_metrics);
	strvec_pushv(&dst->exclude_metrics, (const char *const *)src->exclude_metrics.v);
}

void service_opts_release(struct service_opts *o)
{
	free(o->health_path);
	free(o->health_host);
	free(o->canonical_host);
	free(o->client_ip_header);
	free(o->tls_cert_path);
	free(o->tls_key_path);
	free(o->tls_issuer);
	if (o->tls_issuer_target) {
		target_unref(o->tls_issuer_target);
	}
	o->tls_issuer = NULL;
	o->tls_issuer_target = NULL;
	o->health_path = o->health_host = o->canonical_host = o->client_ip_header = NULL;
	o->tls_cert_path = o->tls_key_path = NULL;
	strvec_clear(&o->log_req_headers);
	strvec_clear(&o->log_resp_headers);
	strvec_clear(&o->exclude_metrics);
}

struct service *service_new(const char *name)
{
	struct service *s = xcalloc(1, sizeof(*s));

	s->name = xstrdup(name);
	strvec_init(&s->hosts);
	strvec_init(&s->path_prefixes);
	strvec_push(&s->path_prefixes, "/");
	s->o.health_path = xstrdup("/up");
	s->o.health_interval_ms = 1000;
	s->o.health_timeout_ms = 5000;
	s->o.deploy_timeout_ms = 30000;
	s->o.drain_timeout_ms = 30000;
	s->o.target_timeout_ms = 30000;
	s->o.client_timeout_ms = 60000;
	s->o.strip_prefix = true;
	s->o.writer_affinity_ms = 1000;
	s->o.buffer_memory = 1 << 20;
	strvec_init(&s->o.log_req_headers);
	strvec_init(&s->o.log_resp_headers);
	strvec_init(&s->o.exclude_metrics);
	s->max_pause_ms = 30000;
	s->metrics_idx = route_service_index(name);
	strvec_init(&s->rollout_list);
	atomic_init(&s->rollout_rr, 0);
	atomic_init(&s->rr, 0);
	atomic_init(&s->read_rr, 0);
	return s;
}

struct service *service_dup(const struct service *s)
{
	struct service *d = xcalloc(1, sizeof(*d));
	size_t i;

	d->name = xstrdup(s->name);
	strvec_init(&d->hosts);
	strvec_pushv(&d->hosts, (const char *const *)s->hosts.v);
	strvec_init(&d->path_prefixes);
	strvec_pushv(&d->path_prefixes, (const char *const *)s->path_prefixes.v);
	service_opts_copy(&d->o, &s->o);
	d->state = s->state;
	d->stop_message = s->stop_message ? xstrdup(s->stop_message) : NULL;
	d->pages = errpages_ref(s->pages);
	if (s->stop_page) {
		d->stop_page = xmalloc(s->stop_page_len + 1);
		memcpy(d->stop_page, s->stop_page, s->stop_page_len + 1);
		d->stop_page_len = s->stop_page_len;
	}
	d->max_pause_ms = s->max_pause_ms;
	d->metrics_idx = s->metrics_idx;
	strvec_init(&d->rollout_list);
	strvec_pushv(&d->rollout_list, (const char *const *)s->rollout_list.v);
	d->rollout_percent = s->rollout_percent;
	for (i = 0; i < s->nr_rollout; i++) {
		service_add_rollout_target(d, target_ref(s->rollout[i]));
	}
	atomic_init(&d->rollout_rr, atomic_load(&s->rollout_rr));
	for (i = 0; i < s->nr_targets; i++) {
		service_add_target(d, target_ref(s->targets[i]));
	}
	atomic_init(&d->rr, atomic_load(&s->rr));
	for (i = 0; i < s->nr_readers; i++) {
		service_add_reader(d, target_ref(s->readers[i]));
	}
	atomic_init(&d->read_rr, atomic_load(&s->read_rr));
	return d;
}

void service_free(struct service *s)
{
	size_t i;

	if (!s) {
		return;
	}
	for (i = 0; i < s->nr_targets; i++) {
		target_unref(s->targets[i]);
	}
	free(s->targets);
	for (i = 0; i < s->nr_readers; i++) {
		target_unref(s->readers[i]);
	}
	free(s->readers);
	service_clear_rollout(s);
	strvec_clear(&s->hosts);
	strvec_clear(&s->path_prefixes);
	service_opts_release(&s->o);
	free(s->stop_message);
	errpages_unref(s->pages);
	free(s->stop_page);
	free(s->name);
	free(s);
}

void service_render_stop_page(struct service *s)
{
	free(s->stop_page);
	s->stop_page = NULL;
	s->stop_page_len = 0;
	if (s->state == SERVICE_STOPPED && s->pages) {
		s->stop_page = errpages_render(s->pages, 503, s->stop_message, &s->stop_page_len);
	}
}

void service_add_target(struct service *s, struct target *t)
{
	s->targets = xrealloc(s->targets, (s->nr_targets + 1) * sizeof(*s->targets));
	s->targets[s->nr_targets++] = t;
}

void service_add_reader(struct service *s, struct target *t)
{
	s->readers = xrealloc(s->readers, (s->nr_readers + 1) * sizeof(*s->readers));
	s->readers[s->nr_readers++] = t;
}

void service_add_rollout_target(struct service *s, struct target *t)
{
	s->rollout = xrealloc(s->rollout, (s->nr_rollout + 1) * sizeof(*s->rollout));
	s->rollout[s->nr_rollout++] = t;
}

void service_clear_rollout(struct service *s)
{
	size_t i;

	for (i = 0; i < s->nr_rollout; i++) {
		target_unref(s->rollout[i]);
	}
	free(s->rollout);
	s->rollout = NULL;
	s->nr_rollout = 0;
	s->rollout_percent = 0;
	strvec_clear(&s->rollout_list);
}

bool service_rollout_wants(const struct service *s, struct slice v)
{
	uint32_t h = 0x811c9dc5;
	size_t i;

	if (!s->nr_rollout || !v.len) {
		return false;
	}
	for (i = 0; i < s->rollout_list.nr; i++) {
		if (slice_eq_cstr(v, s->rollout_list.v[i])) {
			return true;
		}
	}
	/* FNV-1a: a value always lands in the same one of 100 buckets. */
	for (i = 0; i < v.len; i++) {
		h = (h ^ (unsigned char)v.ptr[i]) * 0x01000193;
	}
	return h % 100 < s->rollout_percent;
}

/*
 * A healthy target, round robin; else (unless healthy_only) any that is not
 * pending. avoid (may be NULL) is taken only when no other target would be.
 */
static struct target *pick(struct target **v, size_t n, atomic_uint *rr, bool healthy_only,
			   const struct target *avoid)
{
	struct target *t = NULL, *fallback = NULL, *avoided = NULL;
	size_t i;
	unsigned start;

	if (!n) {
		return NULL;
	}
	start = atomic_fetch_add_explicit(rr, 1, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		struct target *c = v[(start + i) % n];

		if (atomic_load_explicit(&c->pending, memory_order_relaxed)) {
			continue;
		}
		if (c == avoid) {
			avoided = c;
			continue;
		}
		if (atomic_load_explicit(&c->healthy, memory_order_relaxed)) {
			t = c;
			break;
		}
		if (!fallback) {
			fallback = c;
		}
	}
	if (!t && avoided && atomic_load_explicit(&avoided->healthy, memory_order_relaxed)) {
		t = avoided;
	}
	if (!t && !healthy_only) {
		t = fallback ? fallback : avoided;
	}
	if (!t) {
		return NULL;
	}
	target_ref(t);
	atomic_fetch_add_explicit(&t->inflight, 1, memory_order_relaxed);
	return t;
}

struct target *service_pick(struct service *s)
{
	return pick(s->targets, s->nr_targets, &s->rr, false, NULL);
}

struct target *service_pick_other(struct service *s, const struct target *avoid)
{
	return pick(s->targets, s->nr_targets, &s->rr, false, avoid);
}

struct target *service_pick_rollout(struct service *s)
{
	return pick(s->rollout, s->nr_rollout, &s->rollout_rr, true, NULL);
}

struct target *service_pick_reader(struct service *s)
{
	return pick(s->readers, s->nr_readers, &s->read_rr, true, NULL);
}

void target_done(struct target *t)
{
	atomic_fetch_sub_explicit(&t->inflight, 1, memory_order_release);
	target_unref(t);
}

bool service_has_target(const struct service *s, const struct target *t)
{
	size_t i;

	for (i = 0; s && i < s->nr_targets; i++) {
		if (s->targets[i] == t) {
			return true;
		}
	}
	for (i = 0; s && i < s->nr_rollout; i++) {
		if (s->rollout[i] == t) {
			return true;
		}
	}
	for (i = 0; s && i < s->nr_readers; i++) {
		if (s->readers[i] == t) {
			return true;
		}
	}
	return false;
}

/* The length of prefix p that is matched: without trailing '/'s, 0 for "/" (every path). */
static size_t prefix_len(const char *p)
{
	size_t plen = strlen(p);

	while (plen > 1 && p[plen - 1] == '/') {
		plen--;
	}
	return plen == 1 ? 0 : plen;
}

/* Whether path falls under the prefix p[0..plen) on a segment boundary. */
static bool under_prefix(struct slice path, const char *p, size_t plen)
{
	if (!plen) {
		return true;
	}
	if (path.len < plen || memcmp(path.ptr, p, plen)) {
		return false;
	}
	return path.len == plen || path.ptr[plen] == '/' || path.ptr[plen] == '?';
}

struct slice service_matched_prefix(const struct service *s, struct slice path)
{
	struct slice best = slice_make(s->path_prefixes.v[0], 0);
	size_t i;

	for (i = 0; i < s->path_prefixes.nr; i++) {
		const char *p = s->path_prefixes.v[i];
		size_t plen = prefix_len(p);

		if (plen > best.len && under_prefix(path, p, plen)) {
			best = slice_make(p, plen);
		}
	}
	return best;
}

/* Routes sorted so that the first match wins: exact hosts, wildcards by
 * length, default; within each, longer prefixes first. */
static int route_rank(const struct route *r)
{
	return !r->host ? 2 : r->wildcard ? 1 : 0;
}

static int route_cmp(const void *a, const void *b)
{
	const struct route *x = a, *y = b;
	int rx = route_rank(x), ry = route_rank(y);

	if (rx != ry) {
		return rx - ry;
	}
	if (rx == 1 && strlen(x->host) != strlen(y->host)) {
		return strlen(x->host) > strlen(y->host) ? -1 : 1;
	}
	if (x->prefix_len != y->prefix_len) {
		return x->prefix_len > y->prefix_len ? -1 : 1;
	}
	return 0;
}

struct route_table *route_table_new(struct service **svcs, size_t nr)
{
	struct route_table *t = xcalloc(1, sizeof(*t));
	size_t i, j, k, n = 0;

	atomic_init(&t->refs, 1);
	t->nr_svcs = nr;
	t->svcs = xcalloc(nr ? nr : 1, sizeof(*t->svcs));
	for (i = 0; i < nr; i++) {
		t->svcs[i] = svcs[i];
		n += (svcs[i]->hosts.nr ? svcs[i]->hosts.nr : 1) * svcs[i]->path_prefixes.nr;
	}
	t->routes = xcalloc(n ? n : 1, sizeof(*t->routes));
	for (i = 0; i < nr; i++) {
		struct service *s = svcs[i];

		for (k = 0; k < s->path_prefixes.nr; k++) {
			const char *p = s->path_prefixes.v[k];
			size_t plen = prefix_len(p);

			for (j = 0; j < (s->hosts.nr ? s->hosts.nr : 1); j++) {
				struct route *r = &t->routes[t->nr_routes++];
				const char *h = s->hosts.nr ? s->hosts.v[j] : NULL;

				r->svc = s;
				r->prefix = p;
				r->prefix_len = plen;
				if (h && h[0] == '*' && h[1] == '.') {
					r->host = h + 1;
					r->wildcard = true;
				} else {
					r->host = h;
				}
			}
		}
	}
	qsort(t->routes, t->nr_routes, sizeof(*t->routes), route_cmp);
	return t;
}

void route_table_unref(struct route_table *t)
{
	size_t i;

	if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	for (i = 0; i < t->nr_svcs; i++) {
		service_free(t->svcs[i]);
	}
	free(t->svcs);
	free(t->routes);
	free(t);
}

struct service *route_table_find(const struct route_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nr_svcs; i++) {
		if (!strcmp(t->svcs[i]->name, name)) {
			return t->svcs[i];
		}
	}
	return NULL;
}

bool route_table_has_target(const struct route_table *t, const struct target *tg)
{
	size_t i;

	for (i = 0; i < t->nr_svcs; i++) {
		if (service_has_target(t->svcs[i], tg)) {
			return true;
		}
	}
	return false;
}

bool route_same_prefix(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 1 && a[la - 1] == '/') {
		la--;
	}
	while (lb > 1 && b[lb - 1] == '/') {
		lb--;
	}
	return la == lb && !memcmp(a, b, la);
}

/* The first of s's prefixes that o has too, or NULL. */
static const char *shared_prefix(const struct service *o, const struct service *s)
{
	size_t i, j;

	for (i = 0; i < s->path_prefixes.nr; i++) {
		for (j = 0; j < o->path_prefixes.nr; j++) {
			if (route_same_prefix(o->path_prefixes.v[j], s->path_prefixes.v[i])) {
				return s->path_prefixes.v[i];
			}
		}
	}
	return NULL;
}

const struct service *route_table_conflict(const struct route_table *t, const struct service *s,
					   const char **host, const char **prefix)
{
	size_t i, j, k;

	for (i = 0; i < t->nr_svcs; i++) {
		const struct service *o = t->svcs[i];
		const char *p;

		if (!strcmp(o->name, s->name) || !(p = shared_prefix(o, s))) {
			continue;
		}
		*prefix = p;
		if (!o->hosts.nr && !s->hosts.nr) {
			*host = NULL;
			return o;
		}
		for (j = 0; j < o->hosts.nr; j++) {
			for (k = 0; k < s->hosts.nr; k++) {
				if (!strcasecmp(o->hosts.v[j], s->hosts.v[k])) {
					*host = s->hosts.v[k];
					return o;
				}
			}
		}
	}
	return NULL;
}

static bool host_eq(struct slice h, const char *want)
{
	size_t n = strlen(want);

	return h.len == n && !strncasecmp(h.ptr, want, n);
}

static bool host_has_suffix(struct slice h, const char *suffix)
{
	size_t n = strlen(suffix);

	return h.len > n && !strncasecmp(h.ptr + h.len - n, suffix, n);
}

struct service *route_lookup(const struct route_table *t, struct slice host, struct slice path)
{
	size_t i;

	/* Strip the port: "[v6]:80" or "name:80". */
	if (host.len && host.ptr[0] == '[') {
		long end = slice_find_char(host, ']');

		if (end > 0) {
			host.len = (size_t)end + 1;
		}
	} else {
		long colon = slice_find_char(host, ':');

		if (colon >= 0) {
			host.len = (size_t)colon;
		}
	}
	if (host.len && host.ptr[host.len - 1] == '.') {
		host.len--;
	}
	for (i = 0; i < t->nr_routes; i++) {
		const struct route *r = &t->routes[i];
		bool hit;

		if (!r->host) {
			hit = true;
		} else if (r->wildcard) {
			hit = host_has_suffix(host, r->host);
		} else {
			hit = host_eq(host, r->host);
		}
		if (hit && under_prefix(path, r->prefix, r->prefix_len)) {
			return r->svc;
		}
	}
	return NULL;
}

static _Atomic(struct route_table *) current;
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

static struct route_table *empty_table(void)
{
	return route_table_new(NULL, 0);
}

void route_publish(struct route_table *t)
{
	struct route_table *old;

	pthread_mutex_lock(&publish_lock);
	old = atomic_exchange_explicit(&current, t, memory_order_acq_rel);
	pthread_mutex_unlock(&publish_lock);
	route_table_unref(old);
}

struct route_table *route_current(void)
{
	struct route_table *t;

	pthread_mutex_lock(&publish_lock);
	t = atomic_load_explicit(&current, memory_order_acquire);
	if (!t) {
		t = empty_table();
		atomic_store_explicit(&current, t, memory_order_release);
	}
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&publish_lock);
	return t;
}

struct route_table *route_refresh(struct route_table *cached)
{
	struct route_table *t;

	if (cached && atomic_load_explicit(&current, memory_order_acquire) == cached) {
		return cached;
	}
	t = route_current();
	route_table_unref(cached);
	return t;
}
