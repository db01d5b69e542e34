#include "proxy/pool.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "proxy/worker.h"
#include "lib/banned.h"

#define POOL_IDLE_MS 30000

void pool_close(struct upstream *up)
{
	struct worker *w = up->w;

	if (up->c.flags & CONN_F_DEAD) {
		return;
	}
	if (up->pooled) {
		dlist_del(&up->link);
		up->pooled = false;
		w->nr_idle--;
	}
	timer_cancel(&w->timers, &up->tm);
	up->c.io->close(&up->c);
	target_unref(up->t);
	up->t = NULL;
	up->c.flags |= CONN_F_DEAD;
	up->next_dead = w->dead_ups;
	w->dead_ups = up;
}

static void upstream_idle_timeout(struct timer *t)
{
	pool_close(container_of(t, struct upstream, tm));
}

static void upstream_event(struct handler *h, uint32_t ev)
{
	struct upstream *up = container_of(h, struct upstream, c.h);

	if (up->c.flags & CONN_F_DEAD) {
		return;
	}
	conn_set_events(&up->c, ev);
	if (up->x) {
		client_drive(up->x->cl);
		return;
	}
	/* A pooled connection that becomes readable was closed by the upstream (or
	 * sent bytes nobody asked for): it cannot carry another request. */
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		pool_close(up);
	}
}

struct upstream *pool_connect(struct worker *w, struct target *t)
{
	struct upstream *up;
	int fd, one = 1;

	fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	up = xcalloc(1, sizeof(*up));
	up->c.h.fn = upstream_event;
	up->c.fd = fd;
	up->c.io = &conn_io_plain;
	up->w = w;
	up->t = target_ref(t);
	up->tm = (struct timer)TIMER_INIT(upstream_idle_timeout);
	dlist_init(&up->link);
	if (connect(fd, (struct sockaddr *)&t->sa, t->salen) < 0) {
		if (errno != EINPROGRESS) {
			int err = errno;

			close(fd);
			target_unref(up->t);
			free(up);
			errno = err;
			return NULL;
		}
		up->connecting = true;
	} else {
		up->c.flags = CONN_F_CAN_WRITE;
	}
	conn_watch(w->epfd, &up->c);
	return up;
}

struct upstream *pool_take(struct worker *w, struct target *t)
{
	struct dlist *l;

	for (l = w->idle.next; l != &w->idle; l = l->next) {
		struct upstream *up = container_of(l, struct upstream, link);

		if (up->t == t) {
			dlist_del(&up->link);
			up->pooled = false;
			w->nr_idle--;
			timer_cancel(&w->timers, &up->tm);
			up->reused = true;
			return up;
		}
	}
	return NULL;
}

void pool_put(struct worker *w, struct upstream *up)
{
	if (atomic_load(&w->stop)) {
		pool_close(up);
		return;
	}
	up->x = NULL;
	up->pooled = true;
	dlist_add(&w->idle, &up->link);
	w->nr_idle++;
	timer_arm(&w->timers, &up->tm, w->now + POOL_IDLE_MS);
	/* After a burst the app need not keep thousands open: the least recently used goes. */
	if (w->nr_idle > POOL_MAX_IDLE) {
		pool_close(container_of(w->idle.prev, struct upstream, link));
	}
}

/* After a switch, pooled connections to targets that left the table are closed. */
void pool_sweep(struct worker *w)
{
	struct dlist *l, *next;

	for (l = w->idle.next; l != &w->idle; l = next) {
		struct upstream *up = container_of(l, struct upstream, link);

		next = l->next;
		if (!route_table_has_target(w->tbl, up->t)) {
			pool_close(up);
		}
	}
}
