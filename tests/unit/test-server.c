/*
 * The decisions of proxy/server.c that need no sockets: when a failed
 * request may be sent again, and which inactivity timeout a relay is under.
 * The .c file is included (as h2o tests its proxy) so its static functions
 * are reachable without widening its API.
 */
#include "proxy/server.c"

#include "unit.h"

static void test_retry_stale_only_what_cannot_run_twice(void)
{
	struct retry_facts f = {.retryable = true, .reused = true};

	/* Nothing written on a stale pooled connection: any method goes again. */
	CHECK_INT(retry_choice(&f), RETRY_STALE);
	/* Written and not idempotent (a POST): the app may have read it. */
	f.wrote = true;
	CHECK_INT(retry_choice(&f), 0);
	/* Written, idempotent: again. */
	f.idempotent = true;
	CHECK_INT(retry_choice(&f), RETRY_STALE);
	/* Once only. */
	f.used = RETRY_STALE;
	CHECK_INT(retry_choice(&f), 0);
}

static void test_retry_never_after_an_answer_or_a_streamed_body(void)
{
	struct retry_facts f = {.retryable = true, .reused = true, .idempotent = true};

	f.answered = true;
	CHECK_INT(retry_choice(&f), 0);
	f.answered = false;
	f.retryable = false;
	CHECK_INT(retry_choice(&f), 0);
}

static void test_retry_other_target(void)
{
	struct retry_facts f = {.retryable = true, .multi = true, .connect_failed = true};

	/* Not connected: nothing reached the app, whatever the method. */
	CHECK_INT(retry_choice(&f), RETRY_OTHER);
	f.used = RETRY_OTHER;
	CHECK_INT(retry_choice(&f), 0);
	/* A new connection that ended without an answer: idempotent requests only. */
	f = (struct retry_facts){.retryable = true, .multi = true, .wrote = true};
	CHECK_INT(retry_choice(&f), 0);
	f.idempotent = true;
	CHECK_INT(retry_choice(&f), RETRY_OTHER);
	/* A single target: nowhere else to go. */
	f.multi = false;
	CHECK_INT(retry_choice(&f), 0);
}

static struct server_config cfg = {.read_timeout_ms = 5000};
static struct worker w = {.cfg = &cfg};
static struct client cl = {.w = &w};

static struct exch relay(enum rq_state rq, enum rs_state rs)
{
	struct exch x = {.cl = &cl, .rq = rq, .rs = rs};

	x.target_timeout = 1000;
	x.client_timeout = 2000;
	return x;
}

static void test_relay_waits_for_whoever_blocks_it(void)
{
	struct exch x;
	unsigned kind = 99;

	/* The request on its way: the client's body, or the upstream taking it. */
	x = relay(RQ_BODY, RS_HEAD);
	CHECK_INT(relay_waits_for(&x, &kind), 5000);
	CHECK_INT(kind, METRICS_TIMEOUT_CLIENT_READ);
	x.rq_bend = 10;
	CHECK_INT(relay_waits_for(&x, &kind), 1000);
	CHECK_INT(kind, METRICS_TIMEOUT_UPSTREAM_WRITE);
	x = relay(RQ_CONNECT, RS_HEAD);
	CHECK_INT(relay_waits_for(&x, &kind), 1000);
	CHECK_INT(kind, METRICS_TIMEOUT_UPSTREAM_WRITE);
	x = relay(RQ_HEAD, RS_HEAD);
	CHECK_INT(relay_waits_for(&x, &kind), 1000);
	CHECK_INT(kind, METRICS_TIMEOUT_UPSTREAM_WRITE);

	/* All sent: the response head, then its body, from the upstream. */
	x = relay(RQ_DONE, RS_HEAD);
	CHECK_INT(relay_waits_for(&x, &kind), 1000);
	CHECK_INT(kind, METRICS_TIMEOUT_UPSTREAM_READ);
	x = relay(RQ_DONE, RS_BODY);
	CHECK_INT(relay_waits_for(&x, &kind), 1000);
	CHECK_INT(kind, METRICS_TIMEOUT_UPSTREAM_READ);

	/* Bytes the client has not taken. */
	x.rs_bend = 100;
	CHECK_INT(relay_waits_for(&x, &kind), 2000);
	CHECK_INT(kind, METRICS_TIMEOUT_CLIENT_WRITE);
	x = relay(RQ_DONE, RS_HEADW);
	CHECK_INT(relay_waits_for(&x, &kind), 2000);
	CHECK_INT(kind, METRICS_TIMEOUT_CLIENT_WRITE);
}

static void test_relay_step_is_the_shortest_of_the_phase(void)
{
	struct exch x = relay(RQ_BODY, RS_HEAD);

	CHECK_INT(relay_step(&x), 1000);
	x.target_timeout = 0; /* none: the read timeout still counts */
	CHECK_INT(relay_step(&x), 5000);
	x.rq_complete = true;
	CHECK_INT(relay_step(&x), 0);
	x = relay(RQ_DONE, RS_BODY);
	x.target_timeout = 3000;
	CHECK_INT(relay_step(&x), 2000);
	x.client_timeout = 0;
	CHECK_INT(relay_step(&x), 3000);
	x.target_timeout = 0;
	CHECK_INT(relay_step(&x), 0);
}

/* The hand-written numbers and addresses of the headers every request gets. */
static void test_request_header_numbers(void)
{
	struct client c;
	char buf[INET6_ADDRSTRLEN], ip[INET6_ADDRSTRLEN];

	CHECK_INT(put_dec(buf, 0), 1);
	CHECK(!memcmp(buf, "0", 1));
	CHECK_INT(put_dec(buf, 18446744073709551615ull), 20);
	CHECK(!memcmp(buf, "18446744073709551615", 20));
	CHECK_INT(put_hex16(buf, 0xab01ull), 16);
	CHECK(!memcmp(buf, "000000000000ab01", 16));
	memset(&c, 0, sizeof(cl));
	c.peer.v4.sin_family = AF_INET;
	inet_pton(AF_INET, "10.200.0.255", &c.peer.v4.sin_addr);
	client_ip(&c, ip, sizeof(ip));
	CHECK_STR(ip, "10.200.0.255");
	inet_pton(AF_INET, "0.0.0.0", &c.peer.v4.sin_addr);
	client_ip(&c, ip, sizeof(ip));
	CHECK_STR(ip, "0.0.0.0");
	c.peer.v6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &c.peer.v6.sin6_addr);
	client_ip(&c, ip, sizeof(ip));
	CHECK_STR(ip, "::1");
}

int main(void)
{
	UNIT_RUN(test_retry_stale_only_what_cannot_run_twice);
	UNIT_RUN(test_retry_never_after_an_answer_or_a_streamed_body);
	UNIT_RUN(test_retry_other_target);
	UNIT_RUN(test_relay_waits_for_whoever_blocks_it);
	UNIT_RUN(test_relay_step_is_the_shortest_of_the_phase);
	UNIT_RUN(test_request_header_numbers);
	return unit_done();
}
