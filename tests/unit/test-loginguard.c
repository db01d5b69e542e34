/* Tests for daemon/loginguard.c: login backoff per address and per user. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "daemon/loginguard.h"
#include "unit.h"

#define T0 1700000000

/* Fails n times at now from ip as user. */
static void fail_n(struct loginguard *g, const char *ip, const char *user, int64_t now, int n)
{
	for (int i = 0; i < n; i++) {
		loginguard_fail(g, ip, user, now);
	}
}

static void test_backoff_doubles_to_the_cap(void)
{
	struct loginguard g;
	unsigned w = 0;
	int64_t now = T0;
	unsigned want = 1;

	loginguard_init(&g, 16);
	CHECK(loginguard_check(&g, "192.0.2.1", "ana", now, &w));
	fail_n(&g, "192.0.2.1", "ana", now, 4);
	CHECK(loginguard_check(&g, "192.0.2.1", "ana", now, &w));
	loginguard_fail(&g, "192.0.2.1", "ana", now);
	CHECK(!loginguard_check(&g, "192.0.2.1", "ana", now, &w));
	CHECK_INT(w, 1);
	/* each failure after the wait doubles it: 2, 4, ... up to 15 min */
	for (int i = 0; i < 14; i++) {
		now += want;
		CHECK(loginguard_check(&g, "192.0.2.1", "ana", now, &w));
		loginguard_fail(&g, "192.0.2.1", "ana", now);
		want = want * 2 > LOGINGUARD_MAX_WAIT ? LOGINGUARD_MAX_WAIT : want * 2;
		w = 0;
		CHECK(!loginguard_check(&g, "192.0.2.1", "ana", now, &w));
		CHECK_INT(w, want);
		CHECK(!loginguard_check(&g, "192.0.2.1", "ana", now + want - 1, &w));
		CHECK_INT(w, 1);
	}
	CHECK_INT(want, 900);
	/* either key alone is refused: another user from the address, the user from elsewhere */
	CHECK(!loginguard_check(&g, "192.0.2.1", "bo", now, &w));
	CHECK(!loginguard_check(&g, "198.51.100.7", "ana", now, &w));
	CHECK(!loginguard_check(&g, "198.51.100.7", "ANA", now, &w));
	CHECK(loginguard_check(&g, "198.51.100.7", "bo", now, &w));
	/* unknown parts are not checked */
	CHECK(loginguard_check(&g, NULL, "bo", now, &w));
	CHECK(!loginguard_check(&g, NULL, "ana", now, &w));
	CHECK(!loginguard_check(&g, "192.0.2.1", NULL, now, &w));
	CHECK(loginguard_check(&g, NULL, NULL, now, &w));
	loginguard_release(&g);
}

static void test_quiet_forgets(void)
{
	struct loginguard g;
	unsigned w = 0;

	loginguard_init(&g, 16);
	/* 4 failures, then 15 quiet minutes: the count starts over */
	fail_n(&g, "192.0.2.1", "ana", T0, 4);
	loginguard_fail(&g, "192.0.2.1", "ana", T0 + LOGINGUARD_WINDOW);
	CHECK(loginguard_check(&g, "192.0.2.1", "ana", T0 + LOGINGUARD_WINDOW, &w));
	/* ... but not one second less */
	fail_n(&g, "192.0.2.2", "bo", T0, 4);
	loginguard_fail(&g, "192.0.2.2", "bo", T0 + LOGINGUARD_WINDOW - 1);
	CHECK(!loginguard_check(&g, "192.0.2.2", "bo", T0 + LOGINGUARD_WINDOW - 1, &w));
	CHECK_INT(w, 1);
	/* a wait counts as activity: the quiet starts when it ends */
	fail_n(&g, "192.0.2.3", "cy", T0, 15);
	CHECK(!loginguard_check(&g, "192.0.2.3", "cy", T0, &w));
	CHECK_INT(w, 900);
	CHECK(loginguard_check(&g, "192.0.2.3", "cy", T0 + 900, &w));
	loginguard_fail(&g, "192.0.2.3", "cy", T0 + 900 + LOGINGUARD_WINDOW - 1);
	CHECK(!loginguard_check(&g, "192.0.2.3", "cy", T0 + 900 + LOGINGUARD_WINDOW - 1, &w));
	CHECK_INT(w, 900);
	/* a clock that went back does not make a wait longer than the longest */
	CHECK(!loginguard_check(&g, "192.0.2.3", "cy", T0, &w));
	CHECK_INT(w, 900);
	loginguard_release(&g);
}

static void test_success_clears_the_user_only(void)
{
	struct loginguard g;
	unsigned w = 0;

	loginguard_init(&g, 16);
	fail_n(&g, "192.0.2.1", "ana", T0, 4);
	loginguard_ok(&g, "192.0.2.1", "Ana", T0);
	/* the user starts over; the address has one try left */
	loginguard_fail(&g, "192.0.2.9", "ana", T0);
	CHECK(loginguard_check(&g, "192.0.2.9", "ana", T0, &w));
	loginguard_fail(&g, "192.0.2.1", "bo", T0);
	CHECK(!loginguard_check(&g, "192.0.2.1", "cy", T0, &w));
	CHECK(loginguard_check(&g, "192.0.2.9", "ana", T0, &w));
	/* a locked user is unlocked by a success (the caller checked first) */
	fail_n(&g, "203.0.113.5", "dee", T0, 5);
	CHECK(!loginguard_check(&g, "203.0.113.6", "dee", T0, &w));
	loginguard_ok(&g, "203.0.113.6", "dee", T0);
	CHECK(loginguard_check(&g, "203.0.113.6", "dee", T0, &w));
	CHECK(!loginguard_check(&g, "203.0.113.5", "dee", T0, &w));
	loginguard_ok(&g, NULL, NULL, T0);
	loginguard_release(&g);
}

static void test_keys(void)
{
	unsigned char a[17], b[17];
	struct loginguard g;
	unsigned w = 0;

	loginguard_ip_key("192.0.2.1", a);
	CHECK_INT(a[0], 4);
	CHECK(a[1] == 192 && a[2] == 0 && a[3] == 2 && a[4] == 1 && a[5] == 0);
	loginguard_ip_key("::ffff:192.0.2.1", b);
	CHECK(!memcmp(a, b, sizeof(a)));
	loginguard_ip_key("2001:db8:1:2::1", a);
	loginguard_ip_key("2001:db8:1:2:ffff:eeee:dddd:cccc", b);
	CHECK_INT(a[0], 6);
	CHECK(!memcmp(a, b, sizeof(a)));
	loginguard_ip_key("2001:db8:1:3::1", b);
	CHECK(memcmp(a, b, sizeof(a)));
	loginguard_ip_key("not an address", a);
	loginguard_ip_key("not an address!", b);
	CHECK(a[0] == 0 && b[0] == 0 && memcmp(a, b, sizeof(a)));

	/* one host rotating through its /64 is one key */
	loginguard_init(&g, 16);
	for (int i = 0; i < 5; i++) {
		char ip[64];

		snprintf(ip, sizeof(ip), "2001:db8:0:7::%x", i + 1);
		loginguard_fail(&g, ip, NULL, T0);
	}
	CHECK(!loginguard_check(&g, "2001:db8::7:0:0:0:abcd", NULL, T0, &w));
	CHECK(loginguard_check(&g, "2001:db8:0:8::1", NULL, T0, &w));
	loginguard_release(&g);
}

static void test_bounded_table(void)
{
	struct loginguard g;
	unsigned w = 0;
	char ip[32];

	loginguard_init(&g, 4);
	/* a locked address is the freshest: new addresses push out others */
	fail_n(&g, "192.0.2.1", "root", T0, 5);
	for (int i = 0; i < 100; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		loginguard_fail(&g, ip, NULL, T0);
	}
	CHECK(!loginguard_check(&g, "192.0.2.1", NULL, T0, &w));
	/* ... and cannot push out a user name: users have their own table */
	CHECK(!loginguard_check(&g, NULL, "root", T0, &w));
	loginguard_release(&g);

	/* the slot quiet the longest goes first */
	loginguard_init(&g, 4);
	for (int i = 1; i <= 5; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		fail_n(&g, ip, NULL, T0 + i, 4); /* .5 pushes out .1 */
	}
	loginguard_fail(&g, "198.51.100.2", NULL, T0 + 6);
	CHECK(!loginguard_check(&g, "198.51.100.2", NULL, T0 + 6, &w));
	loginguard_fail(&g, "198.51.100.1", NULL, T0 + 6); /* pushes out .3 */
	CHECK(loginguard_check(&g, "198.51.100.1", NULL, T0 + 6, &w));
	fail_n(&g, "198.51.100.3", NULL, T0 + 6, 4);
	CHECK(loginguard_check(&g, "198.51.100.3", NULL, T0 + 6, &w));
	CHECK_INT(g.ip.n, 4);
	loginguard_release(&g);
}

static struct loginguard shared;

static void *hammer(void *arg)
{
	char ip[32];
	unsigned w;

	for (int i = 0; i < 500; i++) {
		snprintf(ip, sizeof(ip), "10.%d.0.%d", (int)(long)arg, i % 50);
		loginguard_fail(&shared, ip, "target", T0);
		loginguard_check(&shared, ip, "target", T0, &w);
		loginguard_ok(&shared, ip, "other", T0);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[4];
	unsigned w = 0;

	loginguard_init(&shared, 64);
	for (long i = 0; i < 4; i++) {
		CHECK(pthread_create(&t[i], NULL, hammer, (void *)i) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
	}
	CHECK(!loginguard_check(&shared, NULL, "target", T0, &w));
	CHECK_INT(w, LOGINGUARD_MAX_WAIT);
	loginguard_release(&shared);
}

int main(void)
{
	UNIT_RUN(test_backoff_doubles_to_the_cap);
	UNIT_RUN(test_quiet_forgets);
	UNIT_RUN(test_success_clears_the_user_only);
	UNIT_RUN(test_keys);
	UNIT_RUN(test_bounded_table);
	UNIT_RUN(test_threads);
	return unit_done();
}
