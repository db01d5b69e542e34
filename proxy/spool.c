#include "proxy/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proxy/errpages.h"
#include "proxy/worker.h"
#include "lib/banned.h"

/*
 * --buffer-requests: the head built so far (all but its last CRLF) is
 * copied, so the client's buffer can take the body; the body is read in
 * RQ_BUFFER before any upstream is chosen.
 */
void spool_start(struct exch *x, struct service *svc, size_t head_len, bool rollout,
		 uint64_t timeout_ms)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	struct spool *rb = xcalloc(1, sizeof(*rb));
	int i;

	sbuf_init(&rb->head, x->q_up.total + 64);
	sbuf_init(&rb->mem, 0);
	for (i = 0; i < x->q_up.nr; i++) {
		sbuf_add(&rb->head, x->q_up.v[i].iov_base, x->q_up.v[i].iov_len);
	}
	iovq_reset(&x->q_up);
	/*
	 * The target is chosen when the body is in: an upload as slow as it
	 * likes holds no target's in-flight count (which a deploy drains).
	 */
	target_done(x->t);
	x->t = NULL;
	rb->fd = -1;
	rb->svc = xstrdup(svc->name);
	rb->rollout = rollout;
	rb->mem_max = svc->o.buffer_memory;
	rb->timeout_ms = timeout_ms;
	if ((w->msg.flags & HTTP1_F_EXPECT_100) && !x->client_10) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		/* Small, on a socket with nothing queued: a failure shows at the next read. */
		if (conn_write(&cl->c, cont, sizeof(cont) - 1) == (ssize_t)sizeof(cont) - 1) {
			x->bytes_out += sizeof(cont) - 1;
		}
	}
	x->rb = rb;
	x->pages = errpages_ref(svc->pages);
	x->rq = RQ_BUFFER;
	cl->pos += head_len;
	x->bytes_in = head_len;
	cl->x = x;
	cl->tmode = TM_BODY;
	timer_arm(&w->timers, &cl->tm, w->now + timeout_ms);
}

struct spool *spool_new(uint64_t mem_max)
{
	struct spool *rb = xcalloc(1, sizeof(*rb));

	sbuf_init(&rb->head, 0);
	sbuf_init(&rb->mem, 0);
	rb->fd = -1;
	rb->mem_max = mem_max;
	return rb;
}

/* Adds body bytes to rb: in memory up to rb->mem_max, then in a temporary file. 0 or -1. */
int spool_add(struct spool *rb, const char *p, size_t len)
{
	if (rb->fd < 0 && rb->mem.len + len <= rb->mem_max) {
		sbuf_add(&rb->mem, p, len);
		rb->size += len;
		return 0;
	}
	if (rb->fd < 0) {
		const char *dir = getenv("TMPDIR");

		if (!dir || !*dir) {
			dir = "/tmp";
		}
		rb->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (rb->fd < 0) {
			log_warn("cannot buffer a body in '%s': %s", dir, strerror(errno));
			return -1;
		}
		if (spool_add(rb, rb->mem.buf, rb->mem.len) < 0) {
			return -1;
		}
		rb->size -= rb->mem.len;
		sbuf_release(&rb->mem);
	}
	while (len) {
		ssize_t n = write(rb->fd, p, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			log_warn("cannot buffer a body: %s",
				 n < 0 ? strerror(errno) : "short write");
			return -1;
		}
		p += n;
		len -= (size_t)n;
		rb->size += (uint64_t)n;
	}
	return 0;
}

/* The whole body is in: the request goes to a target of its service (looked up again). */
static int buffer_done(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	struct spool *rb = x->rb;
	struct service *svc = route_table_find(w->tbl, rb->svc);
	char len[48];

	timer_cancel(&w->timers, &cl->tm);
	cl->tmode = TM_NONE;
	if (!svc || !svc->nr_targets) {
		return exch_fail(x, svc ? 503 : 404);
	}
	if (x->rq_body == HTTP1_BODY_CHUNKED) {
		snprintf(len, sizeof(len), "Content-Length: %llu\r\n",
			 (unsigned long long)rb->size);
		sbuf_addstr(&rb->head, len);
	}
	sbuf_addstr(&rb->head, "\r\n");
	iovq_push(&x->q_up, rb->head.buf, rb->head.len);
	if (rb->fd < 0) {
		iovq_push(&x->q_up, rb->mem.buf, rb->mem.len);
	}
	x->rq_complete = rb->fd < 0;
	x->target_timeout = svc->o.target_timeout_ms;
	x->client_timeout = svc->o.client_timeout_ms;
	x->multi = svc->nr_targets > 1;
	if (rb->rollout && svc->nr_rollout) {
		x->t = service_pick_rollout(svc);
		x->multi = x->t && svc->nr_rollout > 1;
	}
	if (!x->t) {
		x->t = service_pick(svc);
	}
	if (!x->t) {
		return exch_fail(x, 503);
	}
	return exch_connect(x);
}

/* RQ_BUFFER: reads the body into x->rb (a chunked one decoded), within the limit. */
int spool_step(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	size_t avail = cl->len - cl->pos, data;
	char *p = cl->buf + cl->pos;
	ssize_t n;
	long taken;
	bool done;

	if (avail) {
		if (x->rq_body == HTTP1_BODY_CHUNKED) {
			taken = http1_chunked_decode(&x->rq_ch, p, avail, &data);
			if (taken < 0) {
				return exch_fail(x, 400);
			}
			done = x->rq_ch.done;
		} else {
			taken = (long)(x->rq_left < avail ? x->rq_left : avail);
			x->rq_left -= (uint64_t)taken;
			data = (size_t)taken;
			done = !x->rq_left;
		}
		if (x->max_body && x->rb->size + data > x->max_body) {
			return exch_fail(x, 413);
		}
		if (spool_add(x->rb, p, data) < 0) {
			return exch_fail(x, 500);
		}
		cl->pos += (size_t)taken;
		x->bytes_in += (uint64_t)taken;
		if (done) {
			return buffer_done(x);
		}
		timer_arm(&w->timers, &cl->tm, w->now + x->rb->timeout_ms);
	}
	if (!(cl->c.flags & CONN_F_CAN_READ)) {
		return avail > 0;
	}
	cl->pos = cl->len = 0;
	n = conn_read(&cl->c, cl->buf, cl->cap);
	if (n == -2) {
		return avail > 0;
	}
	if (n <= 0) {
		return exch_fail(x, 0);
	}
	cl->len = (size_t)n;
	return 1;
}

/* RQ_FILE: the buffered body from its temporary file to the upstream. */
int spool_send(struct exch *x)
{
	struct upstream *up = x->up;
	struct spool *rb = x->rb;
	off_t off = (off_t)rb->sent;
	ssize_t n;

	if (!(up->c.flags & CONN_F_CAN_WRITE)) {
		return 0;
	}
	n = conn_sendfile(&up->c, rb->fd, &off,
			  rb->size - rb->sent > (1 << 20) ? (1 << 20) : rb->size - rb->sent);
	if (n < 0 && errno == EAGAIN) {
		conn_blocked(&up->c, CONN_F_CAN_WRITE);
		return 0;
	}
	if (n < 0 && errno == EINTR) {
		return 1;
	}
	if (n <= 0) {
		return exch_fail(x, 502);
	}
	rb->sent = (uint64_t)off;
	if (rb->sent == rb->size) {
		x->rq_complete = true;
		x->rq = RQ_DONE;
	}
	return 1;
}

void spool_free(struct spool *rb)
{
	if (!rb) {
		return;
	}
	sbuf_release(&rb->head);
	sbuf_release(&rb->mem);
	if (rb->fd >= 0) {
		close(rb->fd);
	}
	free(rb->svc);
	free(rb);
}
