#include "proxy/route.h"

#include <stdlib.h>
#include <string.h>

#include "proxy/dur.h"
#include "unit.h"

/* prefix: NULL for "/", or one or more prefixes, comma-separated */
static struct service *svc(const char *name, const char *hosts, const char *prefix)
{
	struct service *s = service_new(name);
	struct err e = ERR_INIT;

	if (hosts) {
		struct slice rest = slice_cstr(hosts);

		while (rest.ptr) {
			struct slice h = slice_next(&rest, ',');
			char *d = slice_dup(h);

			strvec_push(&s->hosts, d);
			free(d);
		}
	}
	if (prefix) {
		struct slice rest = slice_cstr(prefix);

		strvec_clear(&s->path_prefixes);
		while (rest.ptr) {
			char *d = slice_dup(slice_next(&rest, ','));

			strvec_push(&s->path_prefixes, d);
			free(d);
		}
	}
	service_add_target(s, target_new("127.0.0.1:1", &e));
	err_release(&e);
	return s;
}

static const char *lookup(const struct route_table *t, const char *host, const char *path)
{
	struct service *s = route_lookup(t, slice_cstr(host), slice_cstr(path));

	return s ? s->name : "(none)";
}

static void test_lookup_order(void)
{
	struct service *s[] = {
	    svc("default", NULL, NULL),
	    svc("api-default", NULL, "/api"),
	    svc("app", "app.example.com", NULL),
	    svc("app-api", "app.example.com", "/api/"),
	    svc("app-api-v2", "app.example.com", "/api/v2"),
	    svc("wild", "*.example.com", NULL),
	    svc("wild-deep", "*.b.example.com", NULL),
	    svc("other", "other.test,second.test", "/x"),
	};
	struct route_table *t = route_table_new(s, 8);

	CHECK_STR(lookup(t, "app.example.com", "/"), "app");
	CHECK_STR(lookup(t, "APP.example.com:8080", "/index"), "app");
	CHECK_STR(lookup(t, "app.example.com.", "/"), "app");
	CHECK_STR(lookup(t, "app.example.com", "/api"), "app-api");
	CHECK_STR(lookup(t, "app.example.com", "/api/users"), "app-api");
	CHECK_STR(lookup(t, "app.example.com", "/apix"), "app");
	CHECK_STR(lookup(t, "app.example.com", "/api/v2/x"), "app-api-v2");
	CHECK_STR(lookup(t, "app.example.com", "/api/v2?q=1"), "app-api-v2");
	CHECK_STR(lookup(t, "x.example.com", "/"), "wild");
	CHECK_STR(lookup(t, "a.b.example.com", "/"), "wild-deep");
	CHECK_STR(lookup(t, "a.c.example.com", "/"), "wild");
	CHECK_STR(lookup(t, "example.com", "/"), "default");
	CHECK_STR(lookup(t, "unknown.test", "/api/x"), "api-default");
	CHECK_STR(lookup(t, "", "/"), "default");
	CHECK_STR(lookup(t, "second.test", "/x/y"), "other");
	/* no prefix of the host's own matches: falls through to the default routes */
	CHECK_STR(lookup(t, "other.test", "/y"), "default");
	CHECK_STR(lookup(t, "[::1]:80", "/"), "default");
	route_table_unref(t);
}

static void test_no_default(void)
{
	struct service *s[] = {svc("only", "a.test", NULL)};
	struct route_table *t = route_table_new(s, 1);

	CHECK_STR(lookup(t, "b.test", "/"), "(none)");
	CHECK_STR(lookup(t, "a.test", "/"), "only");
	route_table_unref(t);
}

static void test_conflicts(void)
{
	struct service *s[] = {svc("a", "a.test,b.test", NULL), svc("d", NULL, NULL),
			       svc("p", "a.test", "/api")};
	struct route_table *t = route_table_new(s, 3);
	struct service *n1 = svc("n1", "B.test", "/"), *n2 = svc("n2", NULL, NULL),
		       *n3 = svc("n3", "a.test", "/other"), *n4 = svc("a", "a.test", NULL),
		       *n5 = svc("n5", "a.test", "/api/");
	const struct service *c;
	const char *host = NULL, *prefix = NULL;

	c = route_table_conflict(t, n1, &host, &prefix);
	CHECK(c && !strcmp(c->name, "a"));
	CHECK_STR(host, "B.test");
	CHECK_STR(prefix, "/");
	c = route_table_conflict(t, n2, &host, &prefix);
	CHECK(c && !strcmp(c->name, "d"));
	CHECK(!route_table_conflict(t, n3, &host, &prefix));
	CHECK(!route_table_conflict(t, n4, &host, &prefix)); /* the same service, redeployed */
	c = route_table_conflict(t, n5, &host, &prefix);
	CHECK(c && !strcmp(c->name, "p"));
	CHECK_STR(prefix, "/api/");
	service_free(n1);
	service_free(n2);
	service_free(n3);
	service_free(n4);
	service_free(n5);
	route_table_unref(t);
}

/* Several path prefixes: a request under any of them goes to the service, on each host. */
static void test_several_prefixes(void)
{
	struct service *s[] = {
	    svc("default", NULL, NULL),
	    svc("api", "app.test,*.wild.test", "/api,/oauth_callback/,/v2"),
	    svc("api-admin", "app.test", "/api/admin"),
	    svc("any-host", NULL, "/metrics,/status"),
	};
	struct route_table *t = route_table_new(s, 4);
	struct service *n1 = svc("n1", "app.test", "/x,/oauth_callback"),
		       *n2 = svc("n2", "other.test", "/api"), *n3 = svc("n3", NULL, "/a,/status/");
	const struct service *c;
	const char *host = NULL, *prefix = NULL;
	struct slice m;

	CHECK_INT(t->nr_routes, 1 + 2 * 3 + 1 + 2);
	CHECK_STR(lookup(t, "app.test", "/api"), "api");
	CHECK_STR(lookup(t, "app.test", "/api/users"), "api");
	CHECK_STR(lookup(t, "app.test", "/oauth_callback"), "api");
	CHECK_STR(lookup(t, "app.test", "/oauth_callback/x?y=1"), "api");
	CHECK_STR(lookup(t, "app.test", "/v2/x"), "api");
	CHECK_STR(lookup(t, "a.wild.test", "/v2"), "api");
	CHECK_STR(lookup(t, "app.test", "/api/admin/x"), "api-admin");
	CHECK_STR(lookup(t, "app.test", "/v2x"), "default");
	CHECK_STR(lookup(t, "app.test", "/"), "default");
	CHECK_STR(lookup(t, "other.test", "/api"), "default");
	CHECK_STR(lookup(t, "other.test", "/status/x"), "any-host");
	CHECK_STR(lookup(t, "app.test", "/metrics"), "any-host");

	/* the prefix a request matched: the longest of the service's, without a trailing '/' */
	m = service_matched_prefix(s[1], slice_cstr("/oauth_callback/x"));
	CHECK_INT((int)m.len, 15);
	CHECK(!memcmp(m.ptr, "/oauth_callback", 15));
	m = service_matched_prefix(s[1], slice_cstr("/v2"));
	CHECK_INT((int)m.len, 3);
	CHECK(!memcmp(m.ptr, "/v2", 3));
	CHECK_INT((int)service_matched_prefix(s[1], slice_cstr("/other")).len, 0);
	CHECK_INT((int)service_matched_prefix(s[0], slice_cstr("/api")).len, 0);

	/* a conflict on any one prefix, named */
	c = route_table_conflict(t, n1, &host, &prefix);
	CHECK(c && !strcmp(c->name, "api"));
	CHECK_STR(host, "app.test");
	CHECK_STR(prefix, "/oauth_callback");
	CHECK(!route_table_conflict(t, n2, &host, &prefix));
	c = route_table_conflict(t, n3, &host, &prefix);
	CHECK(c && !strcmp(c->name, "any-host"));
	CHECK(host == NULL);
	CHECK_STR(prefix, "/status/");
	CHECK(route_same_prefix("/a/", "/a"));
	CHECK(!route_same_prefix("/a", "/ab"));
	service_free(n1);
	service_free(n2);
	service_free(n3);
	route_table_unref(t);
}

static void test_targets_outlive_tables(void)
{
	struct service *a = svc("a", NULL, NULL);
	struct route_table *t1, *t2;
	struct target *tg;

	t1 = route_table_new(&a, 1);
	tg = service_pick(a); /* a request in flight */
	CHECK_INT(atomic_load(&tg->inflight), 1);
	route_publish(t1);
	t2 = route_current();
	CHECK(t2 == t1);
	route_publish(route_table_new(NULL, 0)); /* the service goes away */
	route_table_unref(t2);			 /* the last holder of t1 */
	CHECK_STR(tg->addr, "127.0.0.1:1");	 /* still valid for the request */
	target_done(tg);
	t2 = route_refresh(NULL);
	CHECK_INT(t2->nr_svcs, 0);
	CHECK(route_refresh(t2) == t2);
	route_table_unref(t2);
	route_publish(route_table_new(NULL, 0));
}

static void test_round_robin_skips_unhealthy(void)
{
	struct service *s = svc("rr", NULL, NULL);
	struct err e = ERR_INIT;
	struct target *t2 = target_new("127.0.0.1:2", &e), *got[4];
	int i;

	service_add_target(s, t2);
	for (i = 0; i < 4; i++) {
		got[i] = service_pick(s);
	}
	CHECK(got[0] != got[1] && got[0] == got[2] && got[1] == got[3]);
	for (i = 0; i < 4; i++) {
		target_done(got[i]);
	}
	atomic_store(&t2->healthy, false);
	for (i = 0; i < 4; i++) {
		got[i] = service_pick(s);
		CHECK(got[i] != t2);
		target_done(got[i]);
	}
	/* a retry passes over the target that failed while another is healthy ... */
	atomic_store(&t2->healthy, true);
	for (i = 0; i < 4; i++) {
		got[i] = service_pick_other(s, t2);
		CHECK(got[i] && got[i] != t2);
		target_done(got[i]);
	}
	/* ... and takes it when it is the only healthy one */
	got[0] = service_pick(s);
	got[1] = service_pick(s);
	{
		struct target *other = got[0] == t2 ? got[1] : got[0];

		target_done(got[0]);
		target_done(got[1]);
		atomic_store(&other->healthy, false);
		got[0] = service_pick_other(s, t2);
		CHECK(got[0] == t2);
		target_done(got[0]);
		/* none healthy: the other one before the one that failed */
		atomic_store(&t2->healthy, false);
		got[0] = service_pick_other(s, t2);
		CHECK(got[0] == other);
		target_done(got[0]);
	}
	service_free(s);
	err_release(&e);
}

static void test_rollout_split(void)
{
	struct service *s = svc("ro", NULL, NULL), *d;
	struct err e = ERR_INIT;
	char v[16];
	int i, in = 0;

	CHECK(!service_rollout_wants(s, SLICE_LIT("x"))); /* no rollout targets */
	service_add_rollout_target(s, target_new("127.0.0.1:3", &e));
	CHECK(!service_rollout_wants(s, SLICE_LIT("x"))); /* 0% */
	s->rollout_percent = 100;
	CHECK(service_rollout_wants(s, SLICE_LIT("x")));
	CHECK(!service_rollout_wants(s, SLICE_LIT(""))); /* no cookie: never */
	s->rollout_percent = 30;
	for (i = 0; i < 1000; i++) {
		bool a, b;

		snprintf(v, sizeof(v), "acct-%d", i);
		a = service_rollout_wants(s, slice_cstr(v));
		b = service_rollout_wants(s, slice_cstr(v));
		CHECK(a == b); /* sticky */
		in += a;
	}
	CHECK(in > 200 && in < 400);
	s->rollout_percent = 0;
	strvec_push(&s->rollout_list, "vip");
	CHECK(service_rollout_wants(s, SLICE_LIT("vip")));
	CHECK(!service_rollout_wants(s, SLICE_LIT("vipx")));
	d = service_dup(s);
	CHECK_INT(d->nr_rollout, 1);
	CHECK(d->rollout[0] == s->rollout[0]);
	CHECK(service_rollout_wants(d, SLICE_LIT("vip")));
	service_clear_rollout(d);
	CHECK(!service_rollout_wants(d, SLICE_LIT("vip")));
	service_free(d);
	service_free(s);
	err_release(&e);
}

/* Each class (exact host, wildcard, default) falls through to the next when no prefix matches. */
static void test_lookup_classes(void)
{
	struct service *s[] = {
	    svc("exact-api", "app.test", "/api"),
	    svc("wild", "*.test", NULL),
	    svc("wild-admin", "*.app.test", "/admin"),
	    svc("default-x", NULL, "/x"),
	};
	struct route_table *t = route_table_new(s, 4);

	CHECK_STR(lookup(t, "app.test", "/api/v1"), "exact-api");
	CHECK_STR(lookup(t, "app.test", "/other"), "wild");	    /* exact class: no prefix */
	CHECK_STR(lookup(t, "a.app.test", "/admin"), "wild-admin"); /* longest suffix */
	CHECK_STR(lookup(t, "a.app.test", "/"), "wild");	    /* ... without its prefix */
	CHECK_STR(lookup(t, "test", "/x/1"), "default-x");	    /* "*.test" wants a label */
	CHECK_STR(lookup(t, "other.org", "/x"), "default-x");
	CHECK_STR(lookup(t, "other.org", "/xy"), "(none)"); /* segment boundary */
	CHECK_STR(lookup(t, "APP.TEST.:443", "/api"), "exact-api");
	route_table_unref(t);
}

static void test_pick_pending_and_fallback(void)
{
	struct service *s = svc("p", NULL, NULL);
	struct err e = ERR_INIT;
	struct target *t1 = s->targets[0], *t2 = target_new("127.0.0.1:2", &e), *got;
	struct target *r1 = target_new("127.0.0.1:3", &e);

	service_add_target(s, t2);
	/* restored targets are never picked before a check passes */
	atomic_store(&t1->pending, true);
	atomic_store(&t2->pending, true);
	CHECK(!service_pick(s));
	CHECK_INT(atomic_load(&t1->inflight) + atomic_load(&t2->inflight), 0);
	/* none healthy: an unhealthy one rather than nothing */
	atomic_store(&t2->pending, false);
	atomic_store(&t2->healthy, false);
	got = service_pick(s);
	CHECK(got == t2);
	CHECK_INT(atomic_load(&t2->inflight), 1);
	target_done(got);
	CHECK_INT(atomic_load(&t2->inflight), 0);
	/* the rollout side takes healthy targets only */
	CHECK(!service_pick_rollout(s));
	service_add_rollout_target(s, r1);
	atomic_store(&r1->healthy, false);
	CHECK(!service_pick_rollout(s));
	atomic_store(&r1->healthy, true);
	got = service_pick_rollout(s);
	CHECK(got == r1);
	target_done(got);
	service_free(s);
	err_release(&e);
}

static void test_table_has_target(void)
{
	struct service *s = svc("a", NULL, NULL), *o = svc("b", "b.test", NULL);
	struct service *both[2];
	struct err e = ERR_INIT;
	struct target *m = s->targets[0], *r = target_new("127.0.0.1:4", &e);
	struct target *elsewhere = target_new("127.0.0.1:5", &e);
	struct route_table *t;

	service_add_rollout_target(s, r);
	CHECK(service_has_target(s, m));
	CHECK(service_has_target(s, r));
	CHECK(!service_has_target(s, elsewhere));
	CHECK(!service_has_target(NULL, m));
	both[0] = o;
	both[1] = s;
	t = route_table_new(both, 2);
	CHECK(route_table_has_target(t, m));
	CHECK(route_table_has_target(t, r)); /* a rollout target is routed to as well */
	CHECK(route_table_has_target(t, o->targets[0]));
	CHECK(!route_table_has_target(t, elsewhere));
	route_table_unref(t);
	t = route_table_new(NULL, 0);
	CHECK(!route_table_has_target(t, elsewhere));
	route_table_unref(t);
	target_unref(elsewhere);
	err_release(&e);
}

static void test_service_index(void)
{
	const char *names[ROUTE_MAX_SERVICE_INDEX];
	struct service *a = service_new("idx-a"), *b = service_new("idx-b"), *a2, *d;
	unsigned n;

	CHECK(a->metrics_idx > 0);
	CHECK(a->metrics_idx != b->metrics_idx);
	a2 = service_new("idx-a"); /* redeployed: counts where it left off */
	d = service_dup(b);
	CHECK_INT(a2->metrics_idx, a->metrics_idx);
	CHECK_INT(d->metrics_idx, b->metrics_idx);
	CHECK_INT(route_service_index("idx-b"), b->metrics_idx);
	n = route_service_names(names);
	CHECK(n > b->metrics_idx);
	CHECK_STR(names[0], "");
	CHECK_STR(names[a->metrics_idx], "idx-a");
	CHECK_STR(names[b->metrics_idx], "idx-b");
	service_free(a);
	service_free(b);
	service_free(a2);
	service_free(d);
}

static void test_bad_target(void)
{
	struct err e = ERR_INIT;

	CHECK(!target_new("nocolon", &e));
	CHECK(err_isset(&e));
	err_release(&e);
	CHECK(!target_new(":80", NULL));
}

static void test_durations(void)
{
	uint64_t ms = 0;
	char buf[32];

	CHECK(dur_parse("1s", &ms) && ms == 1000);
	CHECK(dur_parse("500ms", &ms) && ms == 500);
	CHECK(dur_parse("1m30s", &ms) && ms == 90000);
	CHECK(dur_parse("2h", &ms) && ms == 7200000);
	CHECK(dur_parse("1.5s", &ms) && ms == 1500);
	CHECK(dur_parse("30", &ms) && ms == 30000);
	CHECK(!dur_parse("", &ms));
	CHECK(!dur_parse("s", &ms));
	CHECK(!dur_parse("5x", &ms));
	CHECK(!dur_parse("1s5", &ms));
	CHECK(!dur_parse("99999999h", &ms));
	CHECK_STR(dur_format(1500, buf, sizeof(buf)), "1500ms");
	CHECK_STR(dur_format(30000, buf, sizeof(buf)), "30s");
}

int main(void)
{
	UNIT_RUN(test_lookup_order);
	UNIT_RUN(test_no_default);
	UNIT_RUN(test_conflicts);
	UNIT_RUN(test_several_prefixes);
	UNIT_RUN(test_targets_outlive_tables);
	UNIT_RUN(test_round_robin_skips_unhealthy);
	UNIT_RUN(test_rollout_split);
	UNIT_RUN(test_lookup_classes);
	UNIT_RUN(test_pick_pending_and_fallback);
	UNIT_RUN(test_table_has_target);
	UNIT_RUN(test_service_index);
	UNIT_RUN(test_bad_target);
	UNIT_RUN(test_durations);
	return unit_done();
}
