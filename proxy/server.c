#include "proxy/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "proxy/conn.h"
#include "proxy/errpages.h"
#include "proxy/http1.h"
#include "proxy/metrics.h"
#include "proxy/route.h"
#include "proxy/timer.h"
#include "lib/banned.h"

#define BUF_SIZE      16384
#define MAX_FREE_BUFS 256
#define MAX_FREE_EXCH 64
#define IOVQ_MAX      (HTTP1_MAX_HEADERS + 24)
#define MAX_EVENTS    256
#define POOL_IDLE_MS  30000
#define LINGER_MS     2000
#define LOG_MAX	      (4 << 20)	   /* access log bytes a worker keeps when the reader lags */
#define BUFFER_MEMORY (1 << 20)	   /* a buffered body beyond this goes to a temporary file */
#define BUFFER_MAX    (1ULL << 30) /* largest buffered body without --max-request-body */

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))
#define STATIC_IOV(s)		      (s), (sizeof(s) - 1)

/* Plain TCP: the I/O table a TLS layer will stand in for. */
static ssize_t plain_read(struct conn *c, void *buf, size_t len)
{
	return read(c->fd, buf, len);
}
static ssize_t plain_writev(struct conn *c, const struct iovec *iov, int nr)
{
	return writev(c->fd, iov, nr);
}
static void plain_shutdown(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
}
static void plain_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
}
const struct conn_io conn_io_plain = {plain_read, plain_writev, plain_shutdown, plain_close};

struct dlist {
	struct dlist *prev, *next;
};
static void dlist_init(struct dlist *l)
{
	l->prev = l->next = l;
}
static void dlist_add(struct dlist *head, struct dlist *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}
static void dlist_del(struct dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* A queue of slices written with writev, resumed after a partial write. */
struct iovq {
	struct iovec v[IOVQ_MAX];
	int nr, i;
	size_t total; /* bytes pushed */
};

static void iovq_reset(struct iovq *q)
{
	q->nr = q->i = 0;
	q->total = 0;
}

/* Appends a slice, merged with the previous one when they touch. */
static void iovq_push(struct iovq *q, const void *p, size_t len)
{
	struct iovec *last = q->nr ? &q->v[q->nr - 1] : NULL;

	if (!len) {
		return;
	}
	q->total += len;
	if (last && (const char *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
		return;
	}
	if (q->nr == IOVQ_MAX) {
		xdie("iovq overflow");
	}
	q->v[q->nr++] = (struct iovec){(void *)p, len};
}

/* 1 when all was written, 0 when the socket is full, -1 on error. */
static int iovq_write(struct conn *c, struct iovq *q)
{
	while (q->i < q->nr) {
		ssize_t n = c->io->writev(c, q->v + q->i, q->nr - q->i);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN) {
				c->flags &= ~CONN_F_CAN_WRITE;
				return 0;
			}
			return -1;
		}
		while (n > 0) {
			struct iovec *v = &q->v[q->i];

			if ((size_t)n >= v->iov_len) {
				n -= (ssize_t)v->iov_len;
				q->i++;
			} else {
				v->iov_base = (char *)v->iov_base + n;
				v->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 1;
}

/* >0 bytes written, 0 socket full, -1 error. */
static ssize_t conn_write(struct conn *c, const char *p, size_t len)
{
	struct iovec v = {(void *)p, len};

	for (;;) {
		ssize_t n = c->io->writev(c, &v, 1);

		if (n >= 0) {
			return n;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN) {
			c->flags &= ~CONN_F_CAN_WRITE;
			return 0;
		}
		return -1;
	}
}

/* >0 bytes read, 0 end of stream, -1 error, -2 nothing now. */
static ssize_t conn_read(struct conn *c, char *p, size_t len)
{
	for (;;) {
		ssize_t n = c->io->read(c, p, len);

		if (n > 0 && (size_t)n < len && c->io == &conn_io_plain &&
		    !(c->flags & CONN_F_HUP)) {
			/*
			 * A short read from a TCP socket emptied its receive queue.
			 * Edge-triggered epoll reports the next bytes when they
			 * arrive, so the read that would only say EAGAIN is saved:
			 * one syscall less per request. Not after a hang-up, when
			 * the end of the stream is still to be read.
			 */
			c->flags &= ~CONN_F_CAN_READ;
		}
		if (n >= 0) {
			return n;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN) {
			c->flags &= ~CONN_F_CAN_READ;
			return -2;
		}
		return -1;
	}
}

enum tmode {
	TM_NONE = 0,
	TM_IDLE,   /* between requests */
	TM_HEAD,   /* a request head is arriving */
	TM_TARGET, /* waiting for the upstream's response head */
	TM_LINGER, /* after an error response, until the client goes away */
	TM_PAUSE,  /* a request held while its service is paused (max pause) */
	TM_TUNNEL, /* a tunnel: closed when no byte moved either way for the idle timeout */
	TM_BODY,   /* a buffered request body is arriving: the next bytes within the read timeout */
};

struct worker;
struct exch;

struct client {
	struct conn c;
	struct worker *w;
	struct timer tm;
	unsigned char tmode;
	bool closing, lingering;
	unsigned char retry; /* enum retry_flags: the request starts again, after these */
	bool parked;	     /* its request is held (service paused), in worker->parked */
	struct dlist plink;
	char *buf; /* NULL while idle */
	size_t cap, pos, len;
	char *out; /* the rest of an error response the socket did not take at once */
	size_t out_pos, out_len;
	struct exch *x;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} peer;
	struct client *next_dead;
};

struct upstream {
	struct conn c;
	struct worker *w;
	struct target *t; /* referenced */
	struct exch *x;	  /* NULL while pooled */
	struct timer tm;  /* idle in the pool */
	struct dlist link;
	bool connecting, reused, pooled;
	struct upstream *next_dead;
};

enum retry_flags {
	RETRY_STALE = 1 << 0, /* again on a new connection: the pooled one was closed */
	RETRY_OTHER = 1 << 1, /* again on another target */
};

enum rq_state { RQ_CONNECT, RQ_HEAD, RQ_BODY, RQ_BUFFER, RQ_FILE, RQ_DONE };

/* A request whose body is read whole before the upstream is contacted (--buffer-requests). */
struct rqbuf {
	struct sbuf head; /* the rewritten head, without its last CRLF */
	struct sbuf mem;  /* the body, while it is small */
	int fd;		  /* else the body is in this unlinked temporary file, or -1 */
	uint64_t size, sent;
	char *svc; /* the service's name: it is looked up again when the body is in */
	bool rollout;
};
enum rs_state { RS_HEAD, RS_INTERIM, RS_HEADW, RS_BODY, RS_DONE, RS_TUNNEL };

struct exch {
	struct client *cl;
	struct upstream *up;
	struct target *t;
	struct errpages *pages; /* the service's, referenced: for an error of ours */
	struct rqbuf *rb;	/* a buffered request, or NULL */
	uint64_t target_timeout, max_body;
	enum rq_state rq;
	enum rs_state rs;
	size_t req_start;
	unsigned char retry; /* enum retry_flags already used */
	bool retryable, is_head, client_ka, client_10, resp_ka, resp_started;
	bool rq_complete, rs_complete, rs_need_more, close_client, up_eof;
	bool dechunk; /* a chunked response to an HTTP/1.0 client: data only, then close */
	/* Upgrade: the request asked for one; tunnel: the upstream agreed (101) and the
	 * connections now carry bytes both ways; *_eof: that side has finished sending,
	 * *_shut: the other side was told so. */
	bool upgrade, tunnel, tn_cl_eof, tn_up_eof, tn_cl_shut, tn_up_shut;
	uint64_t tn_active;	     /* when bytes last moved through the tunnel */
	bool multi;		     /* the service has other targets to retry on */
	bool idempotent;	     /* GET, HEAD, OPTIONS, PUT, DELETE or TRACE without a body */
	struct dlist tlink;	     /* in worker->tunnels while tunnel */
	bool restarting;	     /* ended to start again (a retry): not counted */
	unsigned svc_idx;	     /* metrics_service_index of its service */
	unsigned status, log_status; /* the upstream's; ours when we answered */
	uint64_t start_ms, bytes_in, bytes_out;
	enum http1_body rq_body, rs_body;
	uint64_t rq_left, rs_left;
	struct http1_chunked rq_ch, rs_ch;
	size_t rq_bpos, rq_bend; /* request body bytes in the client's buffer, to write */
	char *ubuf;		 /* the upstream's bytes */
	size_t ucap, upos, ulen;
	size_t rs_bpos, rs_bend; /* response body bytes in ubuf, to write */
	struct iovq q_up, q_cl;
	char add[256];
	char radd[96];
	struct sbuf lg;	 /* the access log fields known before the end (when logging) */
	struct sbuf xff; /* the X-Forwarded-For line, with --forward-headers */
	struct exch *next_free;
};

struct worker {
	struct handler lh, eh;
	unsigned id;
	int epfd, lfd, efd;
	pthread_t th;
	uint64_t now, wall_off;
	struct timer_heap timers;
	struct route_table *tbl;
	struct dlist idle;    /* pooled upstream connections, most recent first */
	struct dlist tunnels; /* exchanges that became tunnels */
	struct dlist parked;  /* clients whose request waits for a paused service */
	unsigned tunnel_gen;  /* the last tunnel_close_gen acted on */
	void *free_bufs;
	unsigned nr_free_bufs;
	struct exch *free_exch;
	unsigned nr_free_exch;
	struct client *dead_clients;
	struct upstream *dead_ups;
	struct http1_msg msg;
	struct http1_limits lim;
	const struct server_config *cfg;
	_Atomic(struct route_table *) using; /* the table of the last iteration */
	uint64_t rid_hi, rid_ctr;
	struct metrics *mt;
	struct sbuf log;      /* access log lines not written yet */
	struct sbuf scratch;  /* for the log lines of requests without an exchange */
	uint64_t log_time_ms; /* the time that log_time shows */
	char log_time[64];
	atomic_bool stop;
};

static struct worker *workers;
static unsigned nr_workers;
/* Bumped when targets were retired: workers then close the tunnels to them. */
static atomic_uint tunnel_close_gen;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *buf_get(struct worker *w)
{
	char *b = w->free_bufs;

	if (b) {
		memcpy(&w->free_bufs, b, sizeof(void *));
		w->nr_free_bufs--;
		return b;
	}
	return xmalloc(BUF_SIZE);
}

static void buf_put(struct worker *w, char *b, size_t cap)
{
	if (!b) {
		return;
	}
	if (cap != BUF_SIZE || w->nr_free_bufs >= MAX_FREE_BUFS) {
		free(b);
		return;
	}
	memcpy(b, &w->free_bufs, sizeof(void *));
	w->free_bufs = b;
	w->nr_free_bufs++;
}

static struct exch *exch_get(struct worker *w)
{
	struct exch *x = w->free_exch;

	if (x) {
		w->free_exch = x->next_free;
		w->nr_free_exch--;
	} else {
		x = xmalloc(sizeof(*x));
		sbuf_init(&x->lg, 0);
		sbuf_init(&x->xff, 0);
	}
	/* Everything up to the queues starts zeroed; the queues are reset as used. */
	memset(x, 0, offsetof(struct exch, q_up));
	iovq_reset(&x->q_up);
	iovq_reset(&x->q_cl);
	return x;
}

static void exch_put(struct worker *w, struct exch *x)
{
	if (w->nr_free_exch >= MAX_FREE_EXCH) {
		sbuf_release(&x->lg);
		sbuf_release(&x->xff);
		free(x);
		return;
	}
	x->next_free = w->free_exch;
	w->free_exch = x;
	w->nr_free_exch++;
}

static void watch(struct worker *w, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = &c->h};

	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		xdie("epoll_ctl: %s", strerror(errno));
	}
}

static void set_flags_from(struct conn *c, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		c->flags |= CONN_F_CAN_READ;
	}
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		c->flags |= CONN_F_HUP;
	}
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		c->flags |= CONN_F_CAN_WRITE;
	}
}

/* Upstream connections */

static void upstream_close(struct upstream *up)
{
	struct worker *w = up->w;

	if (up->c.flags & CONN_F_DEAD) {
		return;
	}
	if (up->pooled) {
		dlist_del(&up->link);
		up->pooled = false;
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
	upstream_close(container_of(t, struct upstream, tm));
}

static void client_drive(struct client *cl);

static void upstream_event(struct handler *h, uint32_t ev)
{
	struct upstream *up = container_of(h, struct upstream, c.h);

	if (up->c.flags & CONN_F_DEAD) {
		return;
	}
	set_flags_from(&up->c, ev);
	if (up->x) {
		client_drive(up->x->cl);
		return;
	}
	/* A pooled connection that becomes readable was closed by the upstream (or
	 * sent bytes nobody asked for): it cannot carry another request. */
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		upstream_close(up);
	}
}

static struct upstream *upstream_connect(struct worker *w, struct target *t)
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
			close(fd);
			target_unref(up->t);
			free(up);
			return NULL;
		}
		up->connecting = true;
	} else {
		up->c.flags = CONN_F_CAN_WRITE;
	}
	watch(w, &up->c);
	return up;
}

static struct upstream *pool_take(struct worker *w, struct target *t)
{
	struct dlist *l;

	for (l = w->idle.next; l != &w->idle; l = l->next) {
		struct upstream *up = container_of(l, struct upstream, link);

		if (up->t == t) {
			dlist_del(&up->link);
			up->pooled = false;
			timer_cancel(&w->timers, &up->tm);
			up->reused = true;
			return up;
		}
	}
	return NULL;
}

static void pool_put(struct worker *w, struct upstream *up)
{
	if (atomic_load(&w->stop)) {
		upstream_close(up);
		return;
	}
	up->x = NULL;
	up->pooled = true;
	dlist_add(&w->idle, &up->link);
	timer_arm(&w->timers, &up->tm, w->now + POOL_IDLE_MS);
}

static bool table_has_target(const struct route_table *t, const struct target *tg)
{
	size_t i, j;

	for (i = 0; i < t->nr_svcs; i++) {
		for (j = 0; j < t->svcs[i]->nr_targets; j++) {
			if (t->svcs[i]->targets[j] == tg) {
				return true;
			}
		}
	}
	return false;
}

/* After a switch, pooled connections to targets that left the table are closed. */
static void pool_sweep(struct worker *w)
{
	struct dlist *l, *next;

	for (l = w->idle.next; l != &w->idle; l = next) {
		struct upstream *up = container_of(l, struct upstream, link);

		next = l->next;
		if (!table_has_target(w->tbl, up->t)) {
			upstream_close(up);
		}
	}
}

/* Client connections */

static const char *status_text(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

static void client_release_buf(struct client *cl)
{
	buf_put(cl->w, cl->buf, cl->cap);
	cl->buf = NULL;
	cl->cap = cl->pos = cl->len = 0;
}

static void exch_end(struct exch *x, bool reuse);

static void client_close(struct client *cl)
{
	struct worker *w = cl->w;

	if (cl->c.flags & CONN_F_DEAD) {
		return;
	}
	if (cl->x) {
		exch_end(cl->x, false);
	}
	if (cl->parked) {
		dlist_del(&cl->plink);
		cl->parked = false;
	}
	timer_cancel(&w->timers, &cl->tm);
	client_release_buf(cl);
	free(cl->out);
	cl->out = NULL;
	cl->c.io->close(&cl->c);
	cl->c.flags |= CONN_F_DEAD;
	cl->next_dead = w->dead_clients;
	w->dead_clients = cl;
}

/*
 * Answers with an error of ours and closes: the response is written at once
 * (the socket's buffer is empty at this point); what it does not take (a
 * large error page) is kept in cl->out and written as the client reads.
 * Then the connection lingers until the client has read it, so that unread
 * request bytes do not turn the close into a reset that loses the response.
 * nl: a newline ends the body.
 */
static void client_answer(struct client *cl, unsigned status, const char *ctype, const char *body,
			  size_t bodylen, bool nl)
{
	struct worker *w = cl->w;
	char msg[320];
	struct iovec v[3];
	size_t want, off, i;
	ssize_t n;
	int hlen;

	if (cl->parked) {
		dlist_del(&cl->plink);
		cl->parked = false;
	}
	hlen = snprintf(msg, sizeof(msg),
			"HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			"Connection: close\r\n\r\n",
			status, status_text(status), ctype, bodylen + nl);
	v[0] = (struct iovec){msg, (size_t)hlen};
	v[1] = (struct iovec){(void *)body, bodylen};
	v[2] = (struct iovec){"\n", nl};
	want = (size_t)hlen + bodylen + nl;
	do {
		n = cl->c.io->writev(&cl->c, v, 3);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		cl->c.flags &= ~CONN_F_CAN_WRITE;
		n = 0;
	}
	if (n < 0) {
		client_close(cl);
		return;
	}
	if ((size_t)n < want) {
		cl->out = xmalloc(want - (size_t)n);
		cl->out_pos = cl->out_len = 0;
		for (i = 0, off = (size_t)n; i < 3; i++) {
			if (off >= v[i].iov_len) {
				off -= v[i].iov_len;
				continue;
			}
			memcpy(cl->out + cl->out_len, (char *)v[i].iov_base + off,
			       v[i].iov_len - off);
			cl->out_len += v[i].iov_len - off;
			off = 0;
		}
	} else {
		cl->c.io->shutdown(&cl->c);
	}
	cl->lingering = true;
	cl->pos = cl->len = 0;
	cl->tmode = TM_LINGER;
	timer_arm(&w->timers, &cl->tm, w->now + LINGER_MS);
	client_drive(cl);
}

/* Our own text: body and a newline, or "STATUS Reason". */
static void client_error_msg(struct client *cl, unsigned status, const char *body)
{
	char text[64];

	if (!body) {
		snprintf(text, sizeof(text), "%u %s", status, status_text(status));
		body = text;
	}
	client_answer(cl, status, "text/plain; charset=utf-8", body, strlen(body), true);
}

/*
 * The service's error page for status (deploy --error-pages) when it has
 * one, else ours: stop_page (the rendered 503 of a stopped service) first.
 */
static void client_error_page(struct client *cl, unsigned status, const struct errpages *pages,
			      const char *stop_page, size_t stop_len, const char *plain)
{
	static const char html[] = "text/html; charset=utf-8";
	const struct errpage *pg;

	if (stop_page) {
		client_answer(cl, status, html, stop_page, stop_len, false);
		return;
	}
	pg = errpages_find(pages, status);
	if (pg) {
		client_answer(cl, status, html, pg->body, pg->len, false);
		return;
	}
	client_error_msg(cl, status, plain);
}

static void client_error(struct client *cl, unsigned status)
{
	client_error_msg(cl, status, NULL);
}

/* Access log and metrics */

/* The headers to log: their names, and the JSON text before each value
 * (",\"req_user_agent\":\""). */
static struct strvec log_req_names = STRVEC_INIT, log_req_keys = STRVEC_INIT;
static struct strvec log_resp_names = STRVEC_INIT, log_resp_keys = STRVEC_INIT;

/* JSON string content: quotes, backslashes and control bytes escaped, bytes above 0x7e as
 * \u00XX (header values may carry obs-text, which is not UTF-8). */
static void json_add(struct sbuf *sb, const char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			continue;
		}
		sbuf_add(sb, p + run, i - run);
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};

			sbuf_add(sb, e, 2);
		} else {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			sbuf_add(sb, u, 6);
		}
		run = i + 1;
	}
	sbuf_add(sb, p + run, len - run);
}

/* key is the text before the value: ",\"name\":\"". */
static void json_field(struct sbuf *sb, const char *key, struct slice v)
{
	sbuf_addstr(sb, key);
	json_add(sb, v.ptr, v.len);
	sbuf_addch(sb, '"');
}

static void client_ip(const struct client *cl, char *ip, size_t len)
{
	ip[0] = '\0';
	if (cl->peer.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &cl->peer.v4.sin_addr, ip, (socklen_t)len);
	} else if (cl->peer.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &cl->peer.v6.sin6_addr, ip, (socklen_t)len);
	}
}

/* The request's fields of a log line, from m, into sb (reset first). */
static void log_request(struct sbuf *sb, const struct http1_msg *m, const struct service *svc,
			struct slice rid, const char *ip)
{
	size_t i;

	sbuf_reset(sb);
	json_field(sb, "\"request_id\":\"", rid);
	json_field(sb, ",\"service\":\"", slice_cstr(svc ? svc->name : ""));
	json_field(sb, ",\"method\":\"", m->method);
	json_field(sb, ",\"host\":\"", m->host);
	json_field(sb, ",\"path\":\"", m->path);
	json_field(sb, ",\"query\":\"", m->query);
	json_field(sb, ",\"client_addr\":\"", slice_cstr(ip));
	for (i = 0; i < log_req_keys.nr; i++) {
		struct slice v = http1_header(m, log_req_names.v[i]);

		if (v.ptr) {
			json_field(sb, log_req_keys.v[i], v);
		}
	}
}

/* The response's headers to log, from m, appended to sb. */
static void log_response(struct sbuf *sb, const struct http1_msg *m)
{
	size_t i;

	for (i = 0; i < log_resp_keys.nr; i++) {
		struct slice v = http1_header(m, log_resp_names.v[i]);

		if (v.ptr) {
			json_field(sb, log_resp_keys.v[i], v);
		}
	}
}

static const char *log_now(struct worker *w)
{
	uint64_t ms = w->now + w->wall_off;

	if (ms != w->log_time_ms || !w->log_time[0]) {
		time_t secs = (time_t)(ms / 1000);
		struct tm tm;

		gmtime_r(&secs, &tm);
		snprintf(w->log_time, sizeof(w->log_time), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (unsigned)(ms % 1000));
		w->log_time_ms = ms;
	}
	return w->log_time;
}

static void log_line(struct worker *w, const struct sbuf *fields, const struct target *t,
		     unsigned status, uint64_t in, uint64_t out, uint64_t dur)
{
	struct sbuf *l = &w->log;

	if (l->len > LOG_MAX) {
		METRICS_ADD(w->mt->log_dropped, 1);
		return;
	}
	sbuf_addstr(l, "{\"time\":\"");
	sbuf_addstr(l, log_now(w));
	sbuf_addstr(l, "\",");
	sbuf_add(l, fields->buf, fields->len);
	json_field(l, ",\"target\":\"", slice_cstr(t ? t->addr : ""));
	sbuf_addf(l, ",\"status\":%u,\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_ms\":%llu}\n",
		  status, (unsigned long long)in, (unsigned long long)out, (unsigned long long)dur);
}

/* One write per loop iteration; what the log cannot take now stays for the next. */
static void log_flush(struct worker *w)
{
	ssize_t n = write(w->cfg->access_log_fd, w->log.buf, w->log.len);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			return;
		}
		n = (ssize_t)w->log.len; /* a log that cannot be written is dropped */
	}
	if ((size_t)n >= w->log.len) {
		sbuf_reset(&w->log);
		return;
	}
	memmove(w->log.buf, w->log.buf + n, w->log.len - (size_t)n);
	sbuf_setlen(&w->log, w->log.len - (size_t)n);
}

/* Counts and logs a request that ended before any exchange began; w->msg describes it. */
static void client_count(struct client *cl, const struct service *svc, unsigned status)
{
	struct worker *w = cl->w;

	metrics_count(w->mt, svc ? svc->metrics_idx : 0, status, 0);
	if (w->cfg->access_log_fd >= 0) {
		char ip[INET6_ADDRSTRLEN];
		const struct http1_msg *m = &w->msg;

		client_ip(cl, ip, sizeof(ip));
		log_request(&w->scratch, m, svc, http1_header(m, "x-request-id"), ip);
		log_line(w, &w->scratch, NULL, status, m->head_len, 0, 0);
	}
}

/* Answers a request with an error of ours before any exchange began, counting and logging it;
 * w->msg describes the request. */
static void client_reject(struct client *cl, const struct service *svc, unsigned status,
			  const char *body)
{
	client_count(cl, svc, status);
	if (!svc) {
		client_error_msg(cl, status, body);
		return;
	}
	client_error_page(cl, status, svc->pages,
			  status == 503 && svc->state == SERVICE_STOPPED ? svc->stop_page : NULL,
			  svc->stop_page_len, body);
}

/* The service of the request held in cl's buffer, which w->msg describes again (for the log). */
static const struct service *held_service(struct client *cl)
{
	struct worker *w = cl->w;

	if (http1_parse_request(cl->buf + cl->pos, cl->len - cl->pos, &w->lim, &w->msg) > 0) {
		return route_lookup(w->tbl, w->msg.host, w->msg.path);
	}
	memset(&w->msg, 0, sizeof(w->msg));
	return NULL;
}

/* Exchanges */

static void exch_end(struct exch *x, bool reuse)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;

	if (!x->restarting) {
		unsigned status = x->log_status ? x->log_status : x->status ? x->status : 499;
		uint64_t dur = w->now - x->start_ms;

		metrics_count(w->mt, x->svc_idx, status, dur);
		if (w->cfg->access_log_fd >= 0) {
			log_line(w, &x->lg, x->t, status, x->bytes_in, x->bytes_out, dur);
		}
	}

	if (x->up) {
		x->up->x = NULL;
		if (reuse) {
			pool_put(w, x->up);
		} else {
			upstream_close(x->up);
		}
	}
	if (x->tunnel) {
		dlist_del(&x->tlink);
		atomic_fetch_sub_explicit(&x->t->tunnels, 1, memory_order_relaxed);
	}
	if (x->t) {
		target_done(x->t);
	}
	errpages_unref(x->pages);
	if (x->rb) {
		sbuf_release(&x->rb->head);
		sbuf_release(&x->rb->mem);
		if (x->rb->fd >= 0) {
			close(x->rb->fd);
		}
		free(x->rb->svc);
		free(x->rb);
	}
	if (cl->tmode == TM_TARGET || cl->tmode == TM_TUNNEL || cl->tmode == TM_BODY) {
		timer_cancel(&w->timers, &cl->tm);
		cl->tmode = TM_NONE;
	}
	buf_put(w, x->ubuf, x->ucap);
	cl->x = NULL;
	exch_put(w, x);
}

/* Ends the exchange with an error: ours when nothing was sent yet, else a close. -1. */
static int exch_fail(struct exch *x, unsigned status)
{
	struct client *cl = x->cl;
	struct errpages *pages = x->pages;
	bool started = x->resp_started;

	if (status == 502 || status == 504) {
		METRICS_ADD(cl->w->mt->svc[x->svc_idx].upstream_errors, 1);
	}
	if (status && !started) {
		x->log_status = status;
	}
	x->pages = NULL; /* the answer below may use them */
	exch_end(x, false);
	if (status && !started) {
		client_error_page(cl, status, pages, NULL, 0, NULL);
	} else {
		client_close(cl);
	}
	errpages_unref(pages);
	return -1;
}

/*
 * A pooled connection that the upstream had closed fails on first use; the
 * request is sent again on a new connection when it is still whole in the
 * client's buffer and nothing came back. 2: the exchange restarts.
 */
/*
 * Retries are for requests still whole in the client's buffer, once, and only
 * while nothing came back:
 * - a pooled connection that the upstream had closed fails on first use: the
 *   request goes again on a new connection;
 * - a connection that could not be made (the target is down: it is marked so
 *   when the service has others) sent nothing: the request goes to another
 *   target;
 * - a new connection that ended without an answer may have reached the app:
 *   only an idempotent request goes again.
 * connect_failed: the connection could not be made. 2: the exchange restarts.
 */
static int upstream_failed(struct exch *x, bool connect_failed)
{
	struct client *cl = x->cl;
	unsigned again = 0;

	if (connect_failed && x->multi &&
	    atomic_exchange_explicit(&x->t->healthy, false, memory_order_relaxed)) {
		log_warn("target '%s' is out: cannot connect", x->t->addr);
	}
	if (x->retryable && !x->ulen && !x->resp_started) {
		if (x->up && x->up->reused && !connect_failed && !(x->retry & RETRY_STALE)) {
			again = RETRY_STALE;
		} else if (x->multi && (connect_failed || x->idempotent) &&
			   !(x->retry & RETRY_OTHER)) {
			again = RETRY_OTHER;
		}
	}
	if (again) {
		size_t start = x->req_start;

		METRICS_ADD(cl->w->mt->svc[x->svc_idx].upstream_errors, 1);
		cl->retry = (unsigned char)(x->retry | again);
		x->restarting = true;
		exch_end(x, false);
		cl->pos = start;
		return 2;
	}
	return exch_fail(x, 502);
}

/* How many of avail bytes at p belong to the body; -1 on bad framing. */
static long body_take(enum http1_body type, uint64_t *left, struct http1_chunked *ch, const char *p,
		      size_t avail, bool *done)
{
	long n;

	switch (type) {
	case HTTP1_BODY_LENGTH:
		n = (long)(*left < avail ? *left : avail);
		*left -= (uint64_t)n;
		*done = !*left;
		return n;
	case HTTP1_BODY_CHUNKED:
		if (!avail) {
			*done = ch->done;
			return 0;
		}
		n = http1_chunked_feed(ch, p, avail);
		*done = ch->done;
		return n;
	case HTTP1_BODY_EOF:
		*done = false;
		return (long)avail;
	case HTTP1_BODY_NONE:
	default:
		*done = true;
		return 0;
	}
}

/*
 * body_take for the response: the same, except that for a client that
 * cannot take chunked framing the data is moved to the front of p and
 * *out says how much of it to send. Returns the bytes consumed, or -1.
 */
static long rs_body_take(struct exch *x, char *p, size_t avail, size_t *out, bool *done)
{
	long n;

	if (!x->dechunk) {
		n = body_take(x->rs_body, &x->rs_left, &x->rs_ch, p, avail, done);
		*out = n > 0 ? (size_t)n : 0;
		return n;
	}
	n = http1_chunked_decode(&x->rs_ch, p, avail, out);
	*done = x->rs_ch.done;
	return n;
}

enum fwd_header {
	FWD_NONE = 0,
	FWD_FOR,
	FWD_PROTO,
	FWD_HOST,
	FWD_START, /* X-Request-Start: always ours */
};

static enum fwd_header fwd_header(struct slice name)
{
	if (name.len < 12 || (name.ptr[0] | 0x20) != 'x') {
		return FWD_NONE;
	}
	if (slice_caseeq_cstr(name, "x-forwarded-for")) {
		return FWD_FOR;
	}
	if (slice_caseeq_cstr(name, "x-forwarded-proto")) {
		return FWD_PROTO;
	}
	if (slice_caseeq_cstr(name, "x-forwarded-host")) {
		return FWD_HOST;
	}
	return slice_caseeq_cstr(name, "x-request-start") ? FWD_START : FWD_NONE;
}

/*
 * The request line, with the service's path prefix taken off the path when
 * it strips it ("/app/x?q" as "/x?q", "/app" as "/").
 */
static void push_request_line(struct iovq *q, const struct http1_msg *m, const struct service *svc)
{
	const char *end = m->target.ptr + m->target.len;
	size_t plen = strlen(svc->path_prefix);
	struct slice rest;

	while (plen > 1 && svc->path_prefix[plen - 1] == '/') {
		plen--;
	}
	if (!svc->o.strip_prefix || plen <= 1 || m->path.len < plen ||
	    memcmp(m->path.ptr, svc->path_prefix, plen) ||
	    (m->path.len > plen && m->path.ptr[plen] != '/')) {
		iovq_push(q, m->method.ptr, (size_t)(end - m->method.ptr));
		return;
	}
	iovq_push(q, m->method.ptr, (size_t)(m->path.ptr - m->method.ptr));
	rest = slice_make(m->path.ptr + plen, (size_t)(end - m->path.ptr - plen));
	if (!rest.len || rest.ptr[0] != '/') {
		iovq_push(q, STATIC_IOV("/"));
	}
	iovq_push(q, rest.ptr, rest.len);
}

static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : end;
}

/* The value of the rollout cookie ("berth-rollout" or "kamal-rollout"), or an empty slice. */
static struct slice rollout_value(const struct http1_msg *m)
{
	size_t i;

	for (i = 0; i < m->nr_headers; i++) {
		struct slice rest = m->headers[i].value;

		if (!slice_caseeq_cstr(m->headers[i].name, "cookie")) {
			continue;
		}
		while (rest.len) {
			long semi = slice_find_char(rest, ';');
			struct slice pair = semi < 0 ? rest : slice_make(rest.ptr, (size_t)semi);
			long eq;

			rest = semi < 0 ? slice_make(rest.ptr + rest.len, 0)
					: slice_from(rest, (size_t)semi + 1);
			while (pair.len && pair.ptr[0] == ' ') {
				pair = slice_from(pair, 1);
			}
			eq = slice_find_char(pair, '=');
			if (eq < 0) {
				continue;
			}
			if (slice_eq_cstr(slice_make(pair.ptr, (size_t)eq), "berth-rollout") ||
			    slice_eq_cstr(slice_make(pair.ptr, (size_t)eq), "kamal-rollout")) {
				struct slice v = slice_from(pair, (size_t)eq + 1);

				while (v.len && v.ptr[v.len - 1] == ' ') {
					v.len--;
				}
				if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"') {
					v = slice_make(v.ptr + 1, v.len - 2);
				}
				return v;
			}
		}
	}
	return slice_make("", 0);
}

static bool is_idempotent(struct slice method)
{
	switch (method.len) {
	case 3:
		return slice_eq_cstr(method, "GET") || slice_eq_cstr(method, "PUT");
	case 4:
		return slice_eq_cstr(method, "HEAD");
	case 5:
		return slice_eq_cstr(method, "TRACE");
	case 6:
		return slice_eq_cstr(method, "DELETE");
	case 7:
		return slice_eq_cstr(method, "OPTIONS");
	default:
		return false;
	}
}

/*
 * Takes a connection to x->t, pooled or new, for x, whose request is ready
 * to go. 1, or what upstream_failed() says when none could be made.
 */
static int exch_connect(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;

	if (!cl->retry) {
		x->up = pool_take(w, x->t);
	} else {
		x->retry = cl->retry;
		cl->retry = 0;
	}
	if (!x->up) {
		x->up = upstream_connect(w, x->t);
		if (!x->up) {
			return upstream_failed(x, true);
		}
	}
	x->up->x = x;
	x->rq = x->up->connecting ? RQ_CONNECT : RQ_HEAD;
	if (x->target_timeout) {
		cl->tmode = TM_TARGET;
		timer_arm(&w->timers, &cl->tm, w->now + x->target_timeout);
	}
	return 1;
}

/*
 * --buffer-requests: the head built so far (all but its last CRLF) is
 * copied, so the client's buffer can take the body; the body is read in
 * RQ_BUFFER before any upstream is chosen.
 */
static void buffer_start(struct exch *x, struct service *svc, size_t head_len)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	struct rqbuf *rb = xcalloc(1, sizeof(*rb));
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
	rb->rollout = svc->nr_rollout && service_rollout_wants(svc, rollout_value(&w->msg));
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
	timer_arm(&w->timers, &cl->tm, w->now + w->cfg->read_timeout_ms);
}

/* Adds body bytes to rb: in memory up to BUFFER_MEMORY, then in a temporary file. 0 or -1. */
static int buffer_add(struct rqbuf *rb, const char *p, size_t len)
{
	if (rb->fd < 0 && rb->mem.len + len <= BUFFER_MEMORY) {
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
			log_warn("cannot buffer a request body in '%s': %s", dir, strerror(errno));
			return -1;
		}
		if (buffer_add(rb, rb->mem.buf, rb->mem.len) < 0) {
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
			log_warn("cannot buffer a request body: %s",
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
	struct rqbuf *rb = x->rb;
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
static int buffer_step(struct exch *x)
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
		if (buffer_add(x->rb, p, data) < 0) {
			return exch_fail(x, 500);
		}
		cl->pos += (size_t)taken;
		x->bytes_in += (uint64_t)taken;
		if (done) {
			return buffer_done(x);
		}
		timer_arm(&w->timers, &cl->tm, w->now + w->cfg->read_timeout_ms);
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

/* RQ_FILE: the buffered body from its temporary file to the upstream (a plain socket). */
static int file_step(struct exch *x)
{
	struct upstream *up = x->up;
	struct rqbuf *rb = x->rb;
	off_t off = (off_t)rb->sent;
	ssize_t n;

	if (!(up->c.flags & CONN_F_CAN_WRITE)) {
		return 0;
	}
	n = sendfile(up->c.fd, rb->fd, &off,
		     rb->size - rb->sent > (1 << 20) ? (1 << 20) : rb->size - rb->sent);
	if (n < 0 && errno == EAGAIN) {
		up->c.flags &= ~CONN_F_CAN_WRITE;
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

static void exch_start(struct client *cl, size_t head_len)
{
	struct worker *w = cl->w;
	struct http1_msg *m = &w->msg;
	const char *head = cl->buf + cl->pos, *head_end = head + head_len;
	struct service *svc;
	struct target *t = NULL;
	struct exch *x;
	struct iovq *q;
	char ip[INET6_ADDRSTRLEN] = "";
	bool have_rid = false, done, multi;
	struct slice rid = SLICE_NULL;
	size_t i, addlen;
	bool fwd, keep_proto = false, keep_host = false, buffer;
	uint64_t limit;
	long n;

	svc = route_lookup(w->tbl, m->host, m->path);
	if (svc && svc->state == SERVICE_PAUSED) {
		/* Held, untouched in the buffer, until a new table is published (resume, a
		 * deploy) or the max pause passes; the deadline is kept across re-parking. */
		cl->parked = true;
		dlist_add(&w->parked, &cl->plink);
		if (cl->tmode != TM_PAUSE) {
			cl->tmode = TM_PAUSE;
			timer_arm(&w->timers, &cl->tm, w->now + svc->max_pause_ms);
		}
		return;
	}
	if (cl->tmode == TM_HEAD || cl->tmode == TM_IDLE || cl->tmode == TM_PAUSE) {
		timer_cancel(&w->timers, &cl->tm);
		cl->tmode = TM_NONE;
	}
	if (!svc || !svc->nr_targets) {
		client_reject(cl, svc, 404, NULL);
		return;
	}
	if (svc->state == SERVICE_STOPPED) {
		client_reject(cl, svc, 503, svc->stop_message);
		return;
	}
	limit = svc->o.max_body ? svc->o.max_body : svc->o.buffer_requests ? BUFFER_MAX : 0;
	if (limit && m->body == HTTP1_BODY_LENGTH && m->content_length > limit) {
		client_reject(cl, svc, 413, NULL);
		return;
	}
	/* A body that is not all here yet, or is chunked: read it whole first. */
	buffer =
	    svc->o.buffer_requests && !(m->flags & HTTP1_F_UPGRADE) &&
	    (m->body == HTTP1_BODY_CHUNKED ||
	     (m->body == HTTP1_BODY_LENGTH && m->content_length > cl->len - cl->pos - head_len));
	/* A rollout target only when one is healthy; else the main targets take the request. */
	multi = svc->nr_targets > 1;
	if (svc->nr_rollout && service_rollout_wants(svc, rollout_value(m))) {
		t = service_pick_rollout(svc);
		multi = t && svc->nr_rollout > 1;
	}
	if (!t) {
		t = service_pick(svc);
	}
	if (!t) {
		/* Its targets were restored and none has passed a health check yet. */
		client_reject(cl, svc, 503, NULL);
		return;
	}
	x = exch_get(w);
	x->t = t;
	x->cl = cl;
	x->svc_idx = svc->metrics_idx;
	x->start_ms = w->now;
	x->req_start = cl->pos;
	x->target_timeout = svc->o.target_timeout_ms;
	x->max_body = limit;
	x->is_head = slice_eq_cstr(m->method, "HEAD");
	x->multi = multi;
	x->idempotent =
	    (m->body == HTTP1_BODY_NONE || (m->body == HTTP1_BODY_LENGTH && !m->content_length)) &&
	    is_idempotent(m->method);
	x->client_ka = m->flags & HTTP1_F_KEEP_ALIVE;
	x->client_10 = m->minor == 0;
	x->rq_body = m->body;
	x->rq_left = m->content_length;
	http1_chunked_init(&x->rq_ch);
	http1_chunked_init(&x->rs_ch);

	/*
	 * The request line and the headers that stay, as slices of the buffer.
	 * Upstream connections always speak HTTP/1.1 (so they stay pooled, HTTP/1.0
	 * clients included); a 1.0 request without Host gets the target's.
	 */
	q = &x->q_up;
	push_request_line(q, m, svc);
	iovq_push(q, STATIC_IOV(" HTTP/1.1\r\n"));
	if (!(m->flags & HTTP1_F_HAS_HOST)) {
		iovq_push(q, STATIC_IOV("Host: "));
		iovq_push(q, x->t->addr, strlen(x->t->addr));
		iovq_push(q, STATIC_IOV("\r\n"));
	}
	/*
	 * X-Forwarded-*: replaced, unless the service trusts them, when the
	 * client's address is appended to X-Forwarded-For (all of its lines,
	 * joined) and -Proto and -Host are kept as they came.
	 */
	fwd = svc->o.forward_headers;
	client_ip(cl, ip, sizeof(ip));
	sbuf_reset(&x->xff);
	sbuf_addstr(&x->xff, "X-Forwarded-For: ");
	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *h = &m->headers[i];
		enum fwd_header f;

		/*
		 * Names with '_' are dropped: CGI-style servers and many frameworks
		 * fold '-' and '_' into one, so "X_Forwarded_For" would reach the
		 * app as the X-Forwarded-For that the proxy sets.
		 */
		if (http1_is_hop_by_hop(m, h->name) || slice_find_char(h->name, '_') >= 0) {
			continue;
		}
		/* The proxy answers the Expect of a request it buffers itself. */
		if (buffer && (m->flags & HTTP1_F_EXPECT_100) &&
		    slice_caseeq_cstr(h->name, "expect")) {
			continue;
		}
		f = fwd_header(h->name);
		if (f == FWD_FOR && fwd && h->value.len) {
			sbuf_add(&x->xff, h->value.ptr, h->value.len);
			sbuf_addstr(&x->xff, ", ");
		}
		if (f == FWD_PROTO && fwd) {
			keep_proto = true;
		} else if (f == FWD_HOST && fwd) {
			keep_host = true;
		} else if (f) {
			continue;
		}
		if (!have_rid && slice_caseeq_cstr(h->name, "x-request-id")) {
			have_rid = true;
			rid = h->value;
		}
		iovq_push(q, h->name.ptr, (size_t)(line_end(h->name.ptr, head_end) - h->name.ptr));
	}
	sbuf_addstr(&x->xff, ip);
	sbuf_addstr(&x->xff, "\r\n");
	iovq_push(q, x->xff.buf, x->xff.len);
	addlen = (size_t)snprintf(x->add, sizeof(x->add), "%sX-Request-Start: t=%llu\r\n",
				  keep_proto ? "" : "X-Forwarded-Proto: http\r\n",
				  (unsigned long long)(w->now + w->wall_off));
	if (!have_rid) {
		rid = slice_make(x->add + addlen + 14, 32);
		addlen += (size_t)snprintf(
		    x->add + addlen, sizeof(x->add) - addlen, "X-Request-ID: %016llx%016llx\r\n",
		    (unsigned long long)w->rid_hi, (unsigned long long)++w->rid_ctr);
	}
	if (w->cfg->access_log_fd >= 0) {
		log_request(&x->lg, m, svc, rid, ip);
	}
	if (m->body == HTTP1_BODY_CHUNKED && !buffer) {
		addlen += (size_t)snprintf(x->add + addlen, sizeof(x->add) - addlen,
					   "Transfer-Encoding: chunked\r\n");
	}
	iovq_push(q, x->add, addlen);
	/* Connection and Upgrade are hop-by-hop: an upgrade is asked for again, of our own. */
	if (m->flags & HTTP1_F_UPGRADE) {
		x->upgrade = true;
		iovq_push(q, STATIC_IOV("Connection: upgrade\r\nUpgrade: "));
		iovq_push(q, m->upgrade.ptr, m->upgrade.len);
		iovq_push(q, STATIC_IOV("\r\n"));
	}
	if (m->host.len && !keep_host) {
		iovq_push(q, STATIC_IOV("X-Forwarded-Host: "));
		iovq_push(q, m->host.ptr, m->host.len);
		iovq_push(q, STATIC_IOV("\r\n"));
	}
	if (buffer) {
		buffer_start(x, svc, head_len);
		return;
	}
	iovq_push(q, STATIC_IOV("\r\n"));

	/* The part of the body that came with the head. */
	n = body_take(x->rq_body, &x->rq_left, &x->rq_ch, head_end, cl->len - cl->pos - head_len,
		      &done);
	if (n < 0 || (x->max_body && x->rq_ch.total > x->max_body)) {
		target_done(x->t);
		exch_put(w, x);
		client_reject(cl, svc, n < 0 ? 400 : 413, NULL);
		return;
	}
	iovq_push(q, head_end, (size_t)n);
	x->pages = errpages_ref(svc->pages);
	cl->pos += head_len + (size_t)n;
	x->bytes_in = head_len + (size_t)n;
	x->rq_complete = done;
	x->retryable = done;
	cl->x = x;
	exch_connect(x);
}

/* Steps return 0 when blocked, 1 on progress, 2 when the exchange restarted, -1 when the
 * client was closed. */
static int rq_step(struct exch *x)
{
	struct upstream *up = x->up;
	struct client *cl = x->cl;
	bool done;
	ssize_t n;
	long taken;
	int r;

	switch (x->rq) {
	case RQ_BUFFER:
		return buffer_step(x);
	case RQ_FILE:
		return file_step(x);
	case RQ_CONNECT: {
		int err = 0;
		socklen_t l = sizeof(err);

		if (!(up->c.flags & CONN_F_CAN_WRITE)) {
			return 0;
		}
		if (getsockopt(up->c.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
			return upstream_failed(x, true);
		}
		up->connecting = false;
		x->rq = RQ_HEAD;
		return 1;
	}
	case RQ_HEAD:
		r = iovq_write(&up->c, &x->q_up);
		if (r < 0) {
			return upstream_failed(x, false);
		}
		if (!r) {
			return 0;
		}
		x->rq = x->rq_complete ? RQ_DONE : x->rb ? RQ_FILE : RQ_BODY;
		return 1;
	case RQ_BODY:
		if (x->rq_bpos < x->rq_bend) {
			n = conn_write(&up->c, cl->buf + x->rq_bpos, x->rq_bend - x->rq_bpos);
			if (n < 0) {
				return exch_fail(x, 502);
			}
			x->rq_bpos += (size_t)n;
			return n > 0;
		}
		if (x->rq_complete) {
			x->rq = RQ_DONE;
			return 1;
		}
		if (!(cl->c.flags & CONN_F_CAN_READ)) {
			return 0;
		}
		/* Everything in the buffer was body and has been sent. */
		cl->pos = cl->len = 0;
		n = conn_read(&cl->c, cl->buf, cl->cap);
		if (n == -2) {
			return 0;
		}
		if (n <= 0) {
			return exch_fail(x, 0);
		}
		cl->len = (size_t)n;
		x->retryable = false;
		taken = body_take(x->rq_body, &x->rq_left, &x->rq_ch, cl->buf, cl->len, &done);
		if (taken < 0) {
			return exch_fail(x, 400);
		}
		if (x->max_body && x->rq_ch.total > x->max_body) {
			return exch_fail(x, 413);
		}
		x->rq_bpos = 0;
		x->rq_bend = (size_t)taken;
		x->bytes_in += (size_t)taken;
		cl->pos = (size_t)taken;
		x->rq_complete = done;
		return 1;
	case RQ_DONE:
		break;
	}
	return 0;
}

/*
 * A 101 to a request that asked for an upgrade (and has sent all of its
 * body): the response head goes to the client with the upgrade named again,
 * and from then on the two connections are a tunnel. Anything else that
 * answers 101 is not to be trusted: 502.
 */
static int rs_switch(struct exch *x, int head_len)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	struct http1_msg *m = &w->msg;
	const char *head = x->ubuf + x->upos, *head_end = head + head_len;
	struct iovq *q = &x->q_cl;
	size_t i;

	if (!x->upgrade || x->rq != RQ_DONE || !(m->flags & HTTP1_F_UPGRADE)) {
		return exch_fail(x, 502);
	}
	if (cl->tmode == TM_TARGET) {
		timer_cancel(&w->timers, &cl->tm);
		cl->tmode = TM_NONE;
	}
	iovq_reset(q);
	iovq_push(q, STATIC_IOV("HTTP/1.1"));
	iovq_push(q, head + 8, (size_t)(line_end(head, head_end) - head - 8));
	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		if (http1_is_hop_by_hop(m, h->name)) {
			continue;
		}
		iovq_push(q, h->name.ptr, (size_t)(line_end(h->name.ptr, head_end) - h->name.ptr));
	}
	iovq_push(q, STATIC_IOV("Connection: upgrade\r\nUpgrade: "));
	iovq_push(q, m->upgrade.ptr, m->upgrade.len);
	iovq_push(q, STATIC_IOV("\r\n\r\n"));
	/* What the upstream sent after its head already belongs to the tunnel. */
	iovq_push(q, head_end, x->ulen - x->upos - (size_t)head_len);
	x->upos = x->ulen;
	x->status = 101;
	if (log_resp_keys.nr && w->cfg->access_log_fd >= 0) {
		log_response(&x->lg, m);
	}
	x->tunnel = true;
	x->resp_started = true;
	x->close_client = true;
	/* A tunnel idle both ways for the keep-alive idle timeout is closed on both sides. */
	x->tn_active = w->now;
	cl->tmode = TM_TUNNEL;
	timer_arm(&w->timers, &cl->tm, w->now + w->cfg->idle_timeout_ms);
	dlist_add(&w->tunnels, &x->tlink);
	atomic_fetch_add_explicit(&x->t->tunnels, 1, memory_order_relaxed);
	x->rs = RS_HEADW;
	return 1;
}

/*
 * Moves bytes one way through a tunnel: from src into buf[*pos, *len), then
 * to dst. On the end of src's stream (once buf is empty) dst is shut down
 * for writing. 1 on progress, 0 when blocked, -1 on an error.
 */
static int tunnel_pump(struct worker *w, struct conn *src, struct conn *dst, char **buf,
		       size_t *cap, size_t *pos, size_t *len, bool *eof, bool *shut,
		       uint64_t *count)
{
	ssize_t n;

	if (*pos < *len) {
		if (!(dst->flags & CONN_F_CAN_WRITE)) {
			return 0;
		}
		n = conn_write(dst, *buf + *pos, *len - *pos);
		if (n < 0) {
			return -1;
		}
		*pos += (size_t)n;
		*count += (uint64_t)n;
		return n > 0;
	}
	if (*eof) {
		if (!*shut) {
			dst->io->shutdown(dst);
			*shut = true;
			return 1;
		}
		return 0;
	}
	if (!(src->flags & CONN_F_CAN_READ)) {
		return 0;
	}
	if (!*buf) {
		*buf = buf_get(w);
		*cap = BUF_SIZE;
	}
	*pos = *len = 0;
	n = conn_read(src, *buf, *cap);
	if (n == -2) {
		return 0;
	}
	if (n < 0) {
		return -1;
	}
	if (!n) {
		*eof = true;
	}
	*len = (size_t)n;
	return 1;
}

static int tunnel_step(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	int a, b;

	a = tunnel_pump(w, &cl->c, &x->up->c, &cl->buf, &cl->cap, &cl->pos, &cl->len, &x->tn_cl_eof,
			&x->tn_up_shut, &x->bytes_in);
	b = a < 0 ? -1
		  : tunnel_pump(w, &x->up->c, &cl->c, &x->ubuf, &x->ucap, &x->upos, &x->ulen,
				&x->tn_up_eof, &x->tn_cl_shut, &x->bytes_out);
	if (a < 0 || b < 0 || (x->tn_up_shut && x->tn_cl_shut)) {
		return exch_fail(x, 0);
	}
	if (a || b) {
		x->tn_active = w->now;
	}
	return a || b;
}

static int rs_parse(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	struct http1_msg *m = &w->msg;
	const char *head, *head_end;
	struct iovq *q = &x->q_cl;
	size_t i, addlen = 0, out;
	bool done, close;
	long taken;
	int r;

	r = http1_parse_response(x->ubuf + x->upos, x->ulen - x->upos, &w->lim,
				 x->is_head ? SLICE_LIT("HEAD") : SLICE_LIT("GET"), m);
	if (!r) {
		if (x->ulen - x->upos >= x->ucap) {
			return exch_fail(x, 502);
		}
		x->rs_need_more = true;
		return 1;
	}
	if (r < 0) {
		return exch_fail(x, 502);
	}
	head = x->ubuf + x->upos;
	head_end = head + r;
	if (m->status == 101) {
		return rs_switch(x, r);
	}
	if (m->status < 200) {
		x->upos += (size_t)r;
		if (m->status == 100 && !x->client_10) {
			iovq_reset(q);
			iovq_push(q, STATIC_IOV("HTTP/1.1 100 Continue\r\n\r\n"));
			x->rs = RS_INTERIM;
		}
		return 1;
	}
	if (cl->tmode == TM_TARGET) {
		timer_cancel(&w->timers, &cl->tm);
		cl->tmode = TM_NONE;
	}
	x->status = m->status;
	if (log_resp_keys.nr && w->cfg->access_log_fd >= 0) {
		log_response(&x->lg, m);
	}
	x->rs_body = m->body;
	x->rs_left = m->content_length;
	x->resp_ka = m->flags & HTTP1_F_KEEP_ALIVE;
	/* An HTTP/1.0 client knows no chunked framing: it gets the data, delimited by the close. */
	x->dechunk = x->client_10 && m->body == HTTP1_BODY_CHUNKED;
	close = !x->client_ka || m->body == HTTP1_BODY_EOF || x->dechunk || x->rq != RQ_DONE ||
		atomic_load_explicit(&w->stop, memory_order_relaxed);
	x->close_client = close;

	iovq_reset(q);
	iovq_push(q, STATIC_IOV("HTTP/1.1"));
	iovq_push(q, head + 8, (size_t)(line_end(head, head_end) - head - 8));
	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		if (http1_is_hop_by_hop(m, h->name)) {
			continue;
		}
		iovq_push(q, h->name.ptr, (size_t)(line_end(h->name.ptr, head_end) - h->name.ptr));
	}
	if (m->body == HTTP1_BODY_CHUNKED && !x->dechunk) {
		addlen += (size_t)snprintf(x->radd + addlen, sizeof(x->radd) - addlen,
					   "Transfer-Encoding: chunked\r\n");
	}
	if (close) {
		addlen += (size_t)snprintf(x->radd + addlen, sizeof(x->radd) - addlen,
					   "Connection: close\r\n");
	} else if (x->client_10) {
		addlen += (size_t)snprintf(x->radd + addlen, sizeof(x->radd) - addlen,
					   "Connection: keep-alive\r\n");
	}
	addlen += (size_t)snprintf(x->radd + addlen, sizeof(x->radd) - addlen, "\r\n");
	iovq_push(q, x->radd, addlen);
	taken = rs_body_take(x, x->ubuf + x->upos + r, x->ulen - x->upos - (size_t)r, &out, &done);
	if (taken < 0) {
		return exch_fail(x, 502);
	}
	iovq_push(q, head_end, out);
	x->upos += (size_t)r + (size_t)taken;
	x->rs_complete = done;
	x->rs = RS_HEADW;
	x->resp_started = true;
	return 1;
}

static int rs_step(struct exch *x)
{
	struct upstream *up = x->up;
	struct client *cl = x->cl;
	size_t out;
	bool done;
	ssize_t n;
	long taken;
	int r;

	if (x->rq == RQ_BUFFER) {
		return 0; /* no upstream yet */
	}
	switch (x->rs) {
	case RS_HEAD:
		if (x->ulen > x->upos && !x->rs_need_more) {
			return rs_parse(x);
		}
		if (x->rq == RQ_CONNECT || !(up->c.flags & CONN_F_CAN_READ)) {
			return 0;
		}
		if (!x->ubuf) {
			x->ubuf = buf_get(cl->w);
			x->ucap = BUF_SIZE;
		}
		if (x->upos && x->upos == x->ulen) {
			x->upos = x->ulen = 0;
		} else if (x->upos) {
			memmove(x->ubuf, x->ubuf + x->upos, x->ulen - x->upos);
			x->ulen -= x->upos;
			x->upos = 0;
		}
		n = conn_read(&up->c, x->ubuf + x->ulen, x->ucap - x->ulen);
		if (n == -2) {
			return 0;
		}
		if (n <= 0) {
			return upstream_failed(x, false);
		}
		x->ulen += (size_t)n;
		x->rs_need_more = false;
		return 1;
	case RS_INTERIM:
		r = iovq_write(&cl->c, &x->q_cl);
		if (r < 0) {
			return exch_fail(x, 0);
		}
		if (r) {
			x->bytes_out += x->q_cl.total;
			x->rs = RS_HEAD;
		}
		return r;
	case RS_HEADW:
		r = iovq_write(&cl->c, &x->q_cl);
		if (r < 0) {
			return exch_fail(x, 0);
		}
		if (r) {
			x->bytes_out += x->q_cl.total;
			x->rs = x->tunnel ? RS_TUNNEL : x->rs_complete ? RS_DONE : RS_BODY;
		}
		return r;
	case RS_BODY:
		if (x->rs_bpos < x->rs_bend) {
			n = conn_write(&cl->c, x->ubuf + x->rs_bpos, x->rs_bend - x->rs_bpos);
			if (n < 0) {
				return exch_fail(x, 0);
			}
			x->rs_bpos += (size_t)n;
			x->bytes_out += (size_t)n;
			return n > 0;
		}
		if (x->rs_complete) {
			x->rs = RS_DONE;
			return 1;
		}
		if (!(up->c.flags & CONN_F_CAN_READ)) {
			return 0;
		}
		x->upos = x->ulen = 0;
		n = conn_read(&up->c, x->ubuf, x->ucap);
		if (n == -2) {
			return 0;
		}
		if (n == 0 && x->rs_body == HTTP1_BODY_EOF) {
			x->up_eof = true;
			x->rs_complete = true;
			x->rs = RS_DONE;
			return 1;
		}
		if (n <= 0) {
			return exch_fail(x, 0);
		}
		x->ulen = (size_t)n;
		taken = rs_body_take(x, x->ubuf, x->ulen, &out, &done);
		if (taken < 0) {
			return exch_fail(x, 0);
		}
		x->rs_bpos = 0;
		x->rs_bend = out;
		x->upos = (size_t)taken;
		x->rs_complete = done;
		return 1;
	case RS_TUNNEL:
		return tunnel_step(x);
	case RS_DONE:
		break;
	}
	return 0;
}

/* 1: the exchange is over and the client lives on; 0: blocked; -1: the client was closed. */
static int exch_drive(struct exch *x)
{
	struct client *cl = x->cl;

	for (;;) {
		int a = 0, b = 0;
		bool reuse;

		if (x->rq != RQ_DONE) {
			a = rq_step(x);
			if (a < 0 || a == 2) {
				return a < 0 ? -1 : 1;
			}
		}
		if (x->rs != RS_DONE) {
			b = rs_step(x);
			if (b < 0 || b == 2) {
				return b < 0 ? -1 : 1;
			}
		}
		if (x->rs == RS_DONE) {
			reuse = x->rq == RQ_DONE && x->resp_ka && !x->up_eof &&
				x->rs_body != HTTP1_BODY_EOF && x->upos == x->ulen;
			if (x->close_client || x->rq != RQ_DONE) {
				cl->closing = true;
			}
			exch_end(x, reuse);
			return 1;
		}
		if (!a && !b) {
			return 0;
		}
	}
}

static void client_timeout(struct timer *t)
{
	struct client *cl = container_of(t, struct client, tm);
	enum tmode mode = cl->tmode;

	cl->tmode = TM_NONE;
	switch (mode) {
	case TM_HEAD:
		client_error(cl, 408);
		break;
	case TM_TARGET:
		if (cl->x && !cl->x->resp_started) {
			exch_fail(cl->x, 504);
		}
		break;
	case TM_PAUSE:
		client_reject(cl, held_service(cl), 504, NULL);
		break;
	case TM_TUNNEL: {
		struct worker *w = cl->w;
		uint64_t idle = w->cfg->idle_timeout_ms;

		/* The timer is armed once; activity only moves tn_active, checked here. */
		if (cl->x && w->now - cl->x->tn_active < idle) {
			cl->tmode = TM_TUNNEL;
			timer_arm(&w->timers, &cl->tm, cl->x->tn_active + idle);
		} else if (cl->x) {
			exch_fail(cl->x, 0);
		} else {
			client_close(cl);
		}
		break;
	}
	case TM_BODY:
		if (cl->x) {
			exch_fail(cl->x, 408);
		}
		break;
	case TM_IDLE:
	case TM_LINGER:
	case TM_NONE:
	default:
		client_close(cl);
		break;
	}
}

/* Nothing to do until the client sends more: arm the right timer, drop idle buffers. */
static void client_wait(struct client *cl)
{
	struct worker *w = cl->w;

	if (cl->len > cl->pos) {
		if (cl->tmode != TM_HEAD) {
			cl->tmode = TM_HEAD;
			timer_arm(&w->timers, &cl->tm, w->now + w->cfg->read_timeout_ms);
		}
		return;
	}
	client_release_buf(cl);
	if (cl->tmode != TM_IDLE) {
		cl->tmode = TM_IDLE;
		timer_arm(&w->timers, &cl->tm, w->now + w->cfg->idle_timeout_ms);
	}
}

/* Reads more of a request head. false when the client is gone or has nothing now. */
static bool client_read_head(struct client *cl)
{
	struct worker *w = cl->w;
	ssize_t n;

	if (!cl->buf) {
		cl->buf = buf_get(w);
		cl->cap = BUF_SIZE;
		cl->pos = cl->len = 0;
	}
	if (cl->pos == cl->len) {
		cl->pos = cl->len = 0;
	}
	if (cl->len == cl->cap) {
		if (cl->pos) {
			memmove(cl->buf, cl->buf + cl->pos, cl->len - cl->pos);
			cl->len -= cl->pos;
			cl->pos = 0;
		} else {
			/* A head longer than the usual buffer: room for the largest allowed. */
			size_t cap = w->cfg->max_head + 1;
			char *big = xmalloc(cap);

			memcpy(big, cl->buf, cl->len);
			buf_put(w, cl->buf, cl->cap);
			cl->buf = big;
			cl->cap = cap;
		}
	}
	n = conn_read(&cl->c, cl->buf + cl->len, cl->cap - cl->len);
	if (n == -2) {
		return true;
	}
	if (n <= 0) {
		client_close(cl);
		return false;
	}
	cl->len += (size_t)n;
	return true;
}

static void client_drive(struct client *cl)
{
	struct worker *w = cl->w;

	for (;;) {
		if (cl->c.flags & CONN_F_DEAD) {
			return;
		}
		if (cl->parked) {
			/*
			 * A client that hangs up while its request is held gives
			 * its request up (499, as nginx logs it): nothing is sent
			 * upstream for it when the service resumes.
			 */
			if (cl->c.flags & CONN_F_HUP) {
				client_count(cl, held_service(cl), 499);
				client_close(cl);
			}
			return;
		}
		if (cl->x) {
			if (exch_drive(cl->x) <= 0) {
				return;
			}
			if (cl->closing) {
				client_close(cl);
				return;
			}
			continue;
		}
		if (cl->lingering) {
			char junk[4096];
			ssize_t n;

			while (cl->out && (cl->c.flags & CONN_F_CAN_WRITE)) {
				n = conn_write(&cl->c, cl->out + cl->out_pos,
					       cl->out_len - cl->out_pos);
				if (n < 0) {
					client_close(cl);
					return;
				}
				cl->out_pos += (size_t)n;
				if (cl->out_pos == cl->out_len) {
					free(cl->out);
					cl->out = NULL;
					cl->c.io->shutdown(&cl->c);
				}
			}
			while (cl->c.flags & CONN_F_CAN_READ) {
				n = conn_read(&cl->c, junk, sizeof(junk));
				if (n == -2) {
					return;
				}
				if (n <= 0) {
					client_close(cl);
					return;
				}
			}
			return;
		}
		if (cl->len > cl->pos) {
			int n = http1_parse_request(cl->buf + cl->pos, cl->len - cl->pos, &w->lim,
						    &w->msg);

			if (n > 0) {
				exch_start(cl, (size_t)n);
				continue;
			}
			if (n < 0) {
				client_error(cl, (unsigned)-n);
				return;
			}
			if (cl->len - cl->pos > w->cfg->max_head) {
				client_error(cl, 431);
				return;
			}
		}
		if (!(cl->c.flags & CONN_F_CAN_READ)) {
			client_wait(cl);
			return;
		}
		if (!client_read_head(cl)) {
			return;
		}
	}
}

static void client_event(struct handler *h, uint32_t ev)
{
	struct client *cl = container_of(h, struct client, c.h);

	if (cl->c.flags & CONN_F_DEAD) {
		return;
	}
	set_flags_from(&cl->c, ev);
	if (ev & EPOLLERR) {
		client_close(cl);
		return;
	}
	client_drive(cl);
}

static void listener_event(struct handler *h, uint32_t ev)
{
	struct worker *w = container_of(h, struct worker, lh);

	for (;;) {
		struct client *cl;
		union {
			struct sockaddr sa;
			struct sockaddr_in v4;
			struct sockaddr_in6 v6;
		} peer;
		socklen_t sl = sizeof(peer);
		int fd, one = 1;

		fd = accept4(w->lfd, &peer.sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno != EAGAIN) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cl = xcalloc(1, sizeof(*cl));
		cl->c.h.fn = client_event;
		cl->c.fd = fd;
		cl->c.io = &conn_io_plain;
		cl->c.flags = CONN_F_CAN_READ | CONN_F_CAN_WRITE;
		cl->w = w;
		cl->tm = (struct timer)TIMER_INIT(client_timeout);
		memcpy(&cl->peer, &peer, sizeof(peer));
		watch(w, &cl->c);
		client_drive(cl);
	}
}

static void wake_event(struct handler *h, uint32_t ev)
{
	struct worker *w = container_of(h, struct worker, eh);
	uint64_t v;

	if (read(w->efd, &v, sizeof(v)) < 0) {
		return;
	}
}

/* A new table: every held request looks its service up again (and may be held again). */
static void release_parked(struct worker *w)
{
	struct dlist list;

	if (w->parked.next == &w->parked) {
		return;
	}
	/* Move them aside first: a request still paused is parked again, on w->parked. */
	list = w->parked;
	list.next->prev = &list;
	list.prev->next = &list;
	dlist_init(&w->parked);
	while (list.next != &list) {
		struct client *cl = container_of(list.next, struct client, plink);

		dlist_del(&cl->plink);
		cl->parked = false;
		client_drive(cl);
	}
}

static void close_retired_tunnels(struct worker *w)
{
	struct dlist *l, *next;

	w->tunnel_gen = atomic_load_explicit(&tunnel_close_gen, memory_order_acquire);
	for (l = w->tunnels.next; l != &w->tunnels; l = next) {
		struct exch *x = container_of(l, struct exch, tlink);

		next = l->next;
		if (atomic_load_explicit(&x->t->retired, memory_order_relaxed)) {
			exch_fail(x, 0);
		}
	}
}

static void free_dead(struct worker *w)
{
	while (w->dead_clients) {
		struct client *cl = w->dead_clients;

		w->dead_clients = cl->next_dead;
		free(cl);
	}
	while (w->dead_ups) {
		struct upstream *up = w->dead_ups;

		w->dead_ups = up->next_dead;
		free(up);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event *evs = xcalloc(MAX_EVENTS, sizeof(*evs));

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		uint64_t next = timer_next(&w->timers);
		struct route_table *t;
		int timeout = -1, n, i;

		if (next != UINT64_MAX) {
			timeout = next <= w->now	    ? 0
				  : next - w->now > INT_MAX ? INT_MAX
							    : (int)(next - w->now);
		}
		n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout);
		w->now = mono_ms();
		t = route_refresh(w->tbl);
		if (t != w->tbl) {
			w->tbl = t;
			pool_sweep(w);
			release_parked(w);
		}
		atomic_store_explicit(&w->using, t, memory_order_release);
		if (atomic_load_explicit(&tunnel_close_gen, memory_order_acquire) !=
		    w->tunnel_gen) {
			close_retired_tunnels(w);
		}
		for (i = 0; i < n; i++) {
			struct handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
		timer_run(&w->timers, w->now);
		if (w->log.len) {
			log_flush(w);
		}
		free_dead(w);
	}
	free(evs);
	return NULL;
}

static int listen_socket(const struct server_config *cfg, unsigned port, struct err *e)
{
	const char *addr = cfg->listen_addr ? cfg->listen_addr : "0.0.0.0";
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	socklen_t len;
	int fd, one = 1, defer = 1;

	memset(&sa, 0, sizeof(sa));
	if (inet_pton(AF_INET, addr, &sa.v4.sin_addr) == 1) {
		sa.v4.sin_family = AF_INET;
		sa.v4.sin_port = htons((uint16_t)port);
		len = sizeof(sa.v4);
	} else if (inet_pton(AF_INET6, addr, &sa.v6.sin6_addr) == 1) {
		sa.v6.sin6_family = AF_INET6;
		sa.v6.sin6_port = htons((uint16_t)port);
		len = sizeof(sa.v6);
	} else {
		return err_set(e, "listen address '%s' is not a numeric address", addr);
	}
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return err_set(e, "socket: %s", strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	if (bind(fd, &sa.sa, len) < 0 || listen(fd, 4096) < 0) {
		err_set(e, "cannot listen on '%s' port %u: %s", addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void add_handler(struct worker *w, int fd, struct handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		xdie("epoll_ctl: %s", strerror(errno));
	}
}

static void log_keys(struct strvec *keys, struct strvec *out_names, const char *prefix,
		     const char *const *names)
{
	for (; names && *names; names++) {
		struct sbuf sb = SBUF_INIT;
		const char *p;

		sbuf_addf(&sb, ",\"%s", prefix);
		for (p = *names; *p; p++) {
			unsigned char c = (unsigned char)*p;

			if (c == '-') {
				sbuf_addch(&sb, '_');
			} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
				sbuf_addch(&sb, c);
			} else if (c >= 'A' && c <= 'Z') {
				sbuf_addch(&sb, c + 32);
			}
		}
		sbuf_addstr(&sb, "\":\"");
		strvec_push(keys, sb.buf);
		strvec_push(out_names, *names);
		sbuf_release(&sb);
	}
}

unsigned server_metrics(struct metrics *const **out)
{
	static struct metrics **all; /* asked by the metrics thread only */
	unsigned i;

	if (!all && nr_workers) {
		struct metrics **a = xcalloc(nr_workers, sizeof(*a));

		for (i = 0; i < nr_workers; i++) {
			a[i] = workers[i].mt;
		}
		all = a;
	}
	*out = all;
	return all ? nr_workers : 0;
}

int server_start(struct server_config *cfg, struct err *e)
{
	struct timespec rt;
	unsigned i;
	uint64_t wall_off;

	clock_gettime(CLOCK_REALTIME, &rt);
	wall_off = (uint64_t)rt.tv_sec * 1000 + (uint64_t)rt.tv_nsec / 1000000 - mono_ms();
	nr_workers = cfg->workers ? cfg->workers : 1;
	log_keys(&log_req_keys, &log_req_names, "req_", cfg->log_req_headers);
	log_keys(&log_resp_keys, &log_resp_names, "resp_", cfg->log_resp_headers);
	if (cfg->access_log_fd >= 0) {
		struct stat st;

		/* A pipe or socket must not stall a worker: what it cannot take waits. */
		if (!fstat(cfg->access_log_fd, &st) &&
		    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
			int fl = fcntl(cfg->access_log_fd, F_GETFL);

			if (fl >= 0) {
				fcntl(cfg->access_log_fd, F_SETFL, fl | O_NONBLOCK);
			}
		}
	}
	workers = xcalloc(nr_workers, sizeof(*workers));
	for (i = 0; i < nr_workers; i++) {
		struct worker *w = &workers[i];

		w->id = i;
		w->cfg = cfg;
		w->lim.max_head = cfg->max_head;
		w->wall_off = wall_off;
		w->now = mono_ms();
		dlist_init(&w->idle);
		dlist_init(&w->tunnels);
		dlist_init(&w->parked);
		w->mt = xcalloc(1, sizeof(*w->mt));
		sbuf_init(&w->log, 0);
		sbuf_init(&w->scratch, 0);
		atomic_init(&w->stop, false);
		if (getrandom(&w->rid_hi, sizeof(w->rid_hi), 0) != sizeof(w->rid_hi)) {
			w->rid_hi = (uint64_t)rt.tv_nsec ^ ((uint64_t)i << 56);
		}
		w->lfd = listen_socket(cfg, cfg->http_port, e);
		if (w->lfd < 0) {
			return -1;
		}
		if (!cfg->http_port) {
			cfg->http_port = bound_port(w->lfd);
		}
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->epfd < 0 || w->efd < 0) {
			return err_set(e, "epoll: %s", strerror(errno));
		}
		w->lh.fn = listener_event;
		w->eh.fn = wake_event;
		add_handler(w, w->lfd, &w->lh, EPOLLIN | EPOLLET);
		add_handler(w, w->efd, &w->eh, EPOLLIN | EPOLLET);
		w->tbl = route_current();
	}
	for (i = 0; i < nr_workers; i++) {
		int rc = pthread_create(&workers[i].th, NULL, worker_main, &workers[i]);

		if (rc) {
			return err_set(e, "cannot start a worker: %s", strerror(rc));
		}
	}
	return 0;
}

void server_wake(void)
{
	uint64_t one = 1;
	unsigned i;

	for (i = 0; i < nr_workers; i++) {
		if (write(workers[i].efd, &one, sizeof(one)) < 0) {
			continue;
		}
	}
}

void server_sync(void)
{
	struct route_table *cur = route_current();
	uint64_t deadline = mono_ms() + 2000;
	unsigned i;

	server_wake();
	for (i = 0; i < nr_workers; i++) {
		while (atomic_load_explicit(&workers[i].using, memory_order_acquire) != cur &&
		       mono_ms() < deadline) {
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
		}
	}
	route_table_unref(cur);
}

void server_close_tunnels(struct target *t)
{
	atomic_store(&t->retired, true);
	atomic_fetch_add(&tunnel_close_gen, 1);
	server_wake();
}

void server_stop(void)
{
	unsigned i;

	for (i = 0; i < nr_workers; i++) {
		atomic_store(&workers[i].stop, true);
	}
	server_wake();
	for (i = 0; i < nr_workers; i++) {
		pthread_join(workers[i].th, NULL);
		close(workers[i].lfd);
	}
}
