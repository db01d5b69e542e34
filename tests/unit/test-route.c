#include "proxy/route.h"

#include <stdlib.h>

#include "proxy/dur.h"
#include "unit.h"

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
		free(s->path_prefix);
		s->path_prefix = strdup(prefix);
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
	const char *host = NULL;

	c = route_table_conflict(t, n1, &host);
	CHECK(c && !strcmp(c->name, "a"));
	CHECK_STR(host, "B.test");
	c = route_table_conflict(t, n2, &host);
	CHECK(c && !strcmp(c->name, "d"));
	CHECK(!route_table_conflict(t, n3, &host));
	CHECK(!route_table_conflict(t, n4, &host)); /* the same service, redeployed */
	c = route_table_conflict(t, n5, &host);
	CHECK(c && !strcmp(c->name, "p"));
	service_free(n1);
	service_free(n2);
	service_free(n3);
	service_free(n4);
	service_free(n5);
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
	UNIT_RUN(test_targets_outlive_tables);
	UNIT_RUN(test_round_robin_skips_unhealthy);
	UNIT_RUN(test_rollout_split);
	UNIT_RUN(test_bad_target);
	UNIT_RUN(test_durations);
	return unit_done();
}
