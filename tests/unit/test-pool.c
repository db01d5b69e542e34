/*
 * The upstream connection pool, on real loopback sockets: the .c file is
 * included (as h2o tests its proxy) to reach the idle timer and the event
 * handler of a pooled connection.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proxy/pool.c"

#include "unit.h"

static int drives;

/* The pool's connections in use drive their client; here they only count. */
void client_drive(struct client *cl)
{
	drives++;
}

struct fixture {
	struct worker w;
	int lfd;
	char addr[32];
};

static void setup(struct fixture *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	memset(&f->w, 0, sizeof(f->w));
	f->w.epfd = epoll_create1(EPOLL_CLOEXEC);
	f->w.timers = (struct timer_heap)TIMER_HEAP_INIT;
	f->w.now = 1000;
	dlist_init(&f->w.idle);
	atomic_init(&f->w.stop, false);
	/* A listener the connections are made to; they wait in its backlog. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f->lfd, 16) < 0 ||
	    getsockname(f->lfd, (struct sockaddr *)&sa, &len) < 0) {
		perror("listen");
		exit(1);
	}
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", ntohs(sa.sin_port));
}

static struct target *target(struct fixture *f)
{
	return target_new(f->addr, NULL);
}

/* Closes what is left and frees the closed connections, as a worker does. */
static void teardown(struct fixture *f)
{
	while (f->w.idle.next != &f->w.idle) {
		pool_close(container_of(f->w.idle.next, struct upstream, link));
	}
	while (f->w.dead_ups) {
		struct upstream *up = f->w.dead_ups;

		f->w.dead_ups = up->next_dead;
		free(up);
	}
	timer_heap_release(&f->w.timers);
	close(f->w.epfd);
	close(f->lfd);
}

static bool dead(const struct upstream *up)
{
	return up->c.flags & CONN_F_DEAD;
}

static void test_take_put(void)
{
	struct fixture f;
	struct target *a, *b;
	struct upstream *ua, *ub;

	setup(&f);
	a = target(&f);
	b = target(&f);
	CHECK(!pool_take(&f.w, a));
	ua = pool_connect(&f.w, a);
	ub = pool_connect(&f.w, b);
	CHECK(ua && ub && ua->t == a && !ua->reused);
	pool_put(&f.w, ua);
	pool_put(&f.w, ub);
	CHECK(ua->pooled && timer_armed(&ua->tm));
	/* by target, not by address: b has the same address as a */
	CHECK(pool_take(&f.w, a) == ua);
	CHECK(ua->reused && !ua->pooled && !timer_armed(&ua->tm));
	CHECK(!pool_take(&f.w, a));
	CHECK(pool_take(&f.w, b) == ub);
	pool_close(ua);
	pool_close(ub);
	CHECK(dead(ua) && dead(ub));
	pool_close(ua); /* twice is harmless */
	target_unref(a);
	target_unref(b);
	teardown(&f);
}

static void test_most_recent_first(void)
{
	struct fixture f;
	struct target *a;
	struct upstream *u1, *u2;

	setup(&f);
	a = target(&f);
	u1 = pool_connect(&f.w, a);
	u2 = pool_connect(&f.w, a);
	pool_put(&f.w, u1);
	pool_put(&f.w, u2);
	CHECK(pool_take(&f.w, a) == u2);
	CHECK(pool_take(&f.w, a) == u1);
	pool_close(u1);
	pool_close(u2);
	target_unref(a);
	teardown(&f);
}

/* Past POOL_MAX_IDLE pooled connections, the least recently used is closed. */
static void test_idle_cap(void)
{
	struct fixture f;
	struct target *a;
	struct upstream *ups[POOL_MAX_IDLE + 1];
	size_t i;

	setup(&f);
	a = target(&f);
	for (i = 0; i <= POOL_MAX_IDLE; i++) {
		ups[i] = pool_connect(&f.w, a);
		CHECK(ups[i] != NULL);
		pool_put(&f.w, ups[i]);
	}
	CHECK_INT(f.w.nr_idle, POOL_MAX_IDLE);
	CHECK(dead(ups[0]) && !ups[0]->pooled);
	CHECK(!dead(ups[1]) && !dead(ups[POOL_MAX_IDLE]));
	CHECK(pool_take(&f.w, a) == ups[POOL_MAX_IDLE]);
	CHECK_INT(f.w.nr_idle, POOL_MAX_IDLE - 1);
	pool_close(ups[POOL_MAX_IDLE]);
	CHECK_INT(f.w.nr_idle, POOL_MAX_IDLE - 1);
	target_unref(a);
	teardown(&f);
}

static void test_idle_timeout(void)
{
	struct fixture f;
	struct target *a;
	struct upstream *up;

	setup(&f);
	a = target(&f);
	up = pool_connect(&f.w, a);
	pool_put(&f.w, up);
	timer_run(&f.w.timers, f.w.now + POOL_IDLE_MS - 1);
	CHECK(!dead(up));
	timer_run(&f.w.timers, f.w.now + POOL_IDLE_MS);
	CHECK(dead(up) && !up->pooled && !up->t);
	CHECK(f.w.dead_ups == up);
	CHECK(!pool_take(&f.w, a));
	CHECK_INT(atomic_load(&a->refs), 1); /* the connection let its target go */
	target_unref(a);
	teardown(&f);
}

static void test_put_while_stopping(void)
{
	struct fixture f;
	struct target *a;
	struct upstream *up;

	setup(&f);
	a = target(&f);
	up = pool_connect(&f.w, a);
	atomic_store(&f.w.stop, true);
	pool_put(&f.w, up);
	CHECK(dead(up));
	CHECK(!pool_take(&f.w, a));
	target_unref(a);
	teardown(&f);
}

static void test_events(void)
{
	struct fixture f;
	struct target *a;
	struct upstream *busy, *idle;
	struct client cl;
	struct exch x;

	setup(&f);
	a = target(&f);
	busy = pool_connect(&f.w, a);
	idle = pool_connect(&f.w, a);
	memset(&x, 0, sizeof(x));
	x.cl = &cl;
	busy->x = &x;
	pool_put(&f.w, idle);
	drives = 0;
	busy->c.h.fn(&busy->c.h, EPOLLIN);
	CHECK_INT(drives, 1);
	CHECK(!dead(busy) && (busy->c.flags & CONN_F_CAN_READ));
	/* a pooled connection that turns readable was closed by the upstream */
	idle->c.h.fn(&idle->c.h, EPOLLOUT);
	CHECK(!dead(idle));
	idle->c.h.fn(&idle->c.h, EPOLLIN | EPOLLRDHUP);
	CHECK(dead(idle));
	CHECK_INT(drives, 1);
	busy->x = NULL;
	pool_close(busy);
	target_unref(a);
	teardown(&f);
}

/* Only targets that left the table lose their pooled connections; rollout targets stay. */
static void test_sweep_keeps_routed_targets(void)
{
	struct fixture f;
	struct target *main_t, *rollout_t, *gone;
	struct upstream *um, *ur, *ug;
	struct service *s = service_new("app");
	struct route_table *tbl;

	setup(&f);
	main_t = target(&f);
	rollout_t = target(&f);
	gone = target(&f);
	service_add_target(s, target_ref(main_t));
	service_add_rollout_target(s, target_ref(rollout_t));
	tbl = route_table_new(&s, 1);
	um = pool_connect(&f.w, main_t);
	ur = pool_connect(&f.w, rollout_t);
	ug = pool_connect(&f.w, gone);
	pool_put(&f.w, um);
	pool_put(&f.w, ur);
	pool_put(&f.w, ug);
	f.w.tbl = tbl;
	pool_sweep(&f.w);
	CHECK(!dead(um));
	CHECK(!dead(ur));
	CHECK(dead(ug));
	CHECK(pool_take(&f.w, rollout_t) == ur);
	pool_close(ur);
	route_table_unref(tbl);
	target_unref(main_t);
	target_unref(rollout_t);
	target_unref(gone);
	teardown(&f);
}

int main(void)
{
	UNIT_RUN(test_take_put);
	UNIT_RUN(test_most_recent_first);
	UNIT_RUN(test_idle_cap);
	UNIT_RUN(test_idle_timeout);
	UNIT_RUN(test_put_while_stopping);
	UNIT_RUN(test_events);
	UNIT_RUN(test_sweep_keeps_routed_targets);
	return unit_done();
}
