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
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "proxy/accesslog.h"
#include "proxy/acme.h"
#include "proxy/certs.h"
#include "proxy/conn.h"
#include "proxy/errpages.h"
#include "proxy/h2.h"
#include "proxy/http1.h"
#include "proxy/metrics.h"
#include "proxy/pool.h"
#include "proxy/route.h"
#include "proxy/spool.h"
#include "proxy/steer.h"
#include "proxy/timer.h"
#include "proxy/tls.h"
#include "proxy/tunnel.h"
#include "proxy/worker.h"
#include "lib/banned.h"

/*
 * The most the free lists hold, whatever was used: enough for the exchanges
 * of a few HTTP/2 connections' streams (128 each) to come and go without an
 * mmap and a munmap apiece; lists_trim() gives back what a burst left.
 */
#define MAX_FREE_BUFS  1024
#define MAX_FREE_EXCH  1024
#define FREE_FLOOR     16   /* buffers and exchanges a worker keeps however quiet it is */
#define TRIM_MS	       1000 /* how often the free lists are fitted to what was used */
#define TRIM_CONNS     1024 /* closed since the busiest moment: give the heap back */
#define MAX_EVENTS     256
#define LINGER_MS      2000
#define DRAIN_FRESH_MS 2000 /* a handover: a connection's first request may come this late */
/* ms: out of descriptors, accept again after this (or a close) */
#define ACCEPT_RETRY 100

#define STATIC_IOV(s) (s), (sizeof(s) - 1)

static struct worker *workers;
static unsigned nr_workers;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Buffers and exchanges are mapped, not taken from malloc: a burst of
 * connections would leave them interleaved on the heap with the small
 * structs of the connections that stay open, and those would pin the heap's
 * pages long after the burst. A mapping goes back to the kernel when it is
 * unmapped, and costs only the pages that were touched. The free lists keep
 * the steady state free of system calls, and lists_trim() fits them to what
 * was used lately.
 */
static void *map_get(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		xdie("out of memory: %s", strerror(errno));
	}
	return p;
}

static void lists_trim_soon(struct worker *w)
{
	if (!timer_armed(&w->trim_tm)) {
		timer_arm(&w->timers, &w->trim_tm, w->now + TRIM_MS);
	}
}

char *buf_get(struct worker *w)
{
	char *b = w->free_bufs;

	if (++w->bufs_used > w->bufs_peak) {
		w->bufs_peak = w->bufs_used;
	}
	if (b) {
		memcpy(&w->free_bufs, b, sizeof(void *));
		w->nr_free_bufs--;
		return b;
	}
	return map_get(BUF_SIZE);
}

/* b came from buf_get() when cap is BUF_SIZE, else from malloc (a long request head). */
void buf_put(struct worker *w, char *b, size_t cap)
{
	if (!b) {
		return;
	}
	if (cap != BUF_SIZE) {
		free(b);
		return;
	}
	w->bufs_used--;
	if (w->nr_free_bufs >= MAX_FREE_BUFS) {
		munmap(b, BUF_SIZE);
		return;
	}
	memcpy(b, &w->free_bufs, sizeof(void *));
	w->free_bufs = b;
	w->nr_free_bufs++;
	if (w->nr_free_bufs > FREE_FLOOR) {
		lists_trim_soon(w);
	}
}

static void exch_unmap(struct exch *x)
{
	sbuf_release(&x->lg);
	sbuf_release(&x->xff);
	sbuf_release(&x->lgr);
	sbuf_release(&x->ctx);
	sbuf_release(&x->ck);
	munmap(x, sizeof(*x));
}

/*
 * Every TRIM_MS while the free lists hold more than FREE_FLOOR: they keep
 * what was in use at the busiest moment since the last time, less what is
 * in use now (the most that may be asked for again soon), so the memory of
 * a burst goes back once it is over. When many connections closed, the heap
 * that held them is given back too (malloc keeps it otherwise).
 */
static void lists_trim(struct timer *t)
{
	struct worker *w = container_of(t, struct worker, trim_tm);
	unsigned keep;

	keep = w->bufs_peak - w->bufs_used;
	keep = keep < FREE_FLOOR ? FREE_FLOOR : keep;
	while (w->nr_free_bufs > keep) {
		char *b = w->free_bufs;

		memcpy(&w->free_bufs, b, sizeof(void *));
		w->nr_free_bufs--;
		munmap(b, BUF_SIZE);
	}
	keep = w->exch_peak - w->exch_used;
	keep = keep < FREE_FLOOR ? FREE_FLOOR : keep;
	while (w->nr_free_exch > keep) {
		struct exch *x = w->free_exch;

		w->free_exch = x->next_free;
		w->nr_free_exch--;
		exch_unmap(x);
	}
	w->bufs_peak = w->bufs_used;
	w->exch_peak = w->exch_used;
	if (w->conns_peak - w->conns >= TRIM_CONNS) {
		malloc_trim(0);
	}
	w->conns_peak = w->conns;
	if (w->nr_free_bufs > FREE_FLOOR || w->nr_free_exch > FREE_FLOOR) {
		lists_trim_soon(w);
	}
}

/* A connection opened on w (free_dead() counts those that closed), for lists_trim(). */
static void conns_opened(struct worker *w)
{
	if (++w->conns > w->conns_peak) {
		w->conns_peak = w->conns;
	}
}

static struct exch *exch_get(struct worker *w)
{
	struct exch *x = w->free_exch;

	if (++w->exch_used > w->exch_peak) {
		w->exch_peak = w->exch_used;
	}
	if (x) {
		w->free_exch = x->next_free;
		w->nr_free_exch--;
	} else {
		x = map_get(sizeof(*x));
		sbuf_init(&x->lg, 0);
		sbuf_init(&x->xff, 0);
		sbuf_init(&x->lgr, 0);
		sbuf_init(&x->ctx, 0);
		sbuf_init(&x->ck, 0);
	}
	/* Everything up to the queues starts zeroed; the queues are reset as used. */
	memset(x, 0, offsetof(struct exch, q_up));
	iovq_reset(&x->q_up);
	iovq_reset(&x->q_cl);
	return x;
}

static void exch_put(struct worker *w, struct exch *x)
{
	w->exch_used--;
	if (w->nr_free_exch >= MAX_FREE_EXCH) {
		exch_unmap(x);
		return;
	}
	x->next_free = w->free_exch;
	w->free_exch = x;
	w->nr_free_exch++;
	if (w->nr_free_exch > FREE_FLOOR) {
		lists_trim_soon(w);
	}
}

/* Client connections */

static const char *status_text(unsigned status)
{
	switch (status) {
	case 200:
		return "OK";
	case 301:
		return "Moved Permanently";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
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

void client_close(struct client *cl)
{
	struct worker *w = cl->w;

	if (cl->c.flags & CONN_F_DEAD) {
		return;
	}
	if (cl->h2) {
		h2_release(cl);
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
	dlist_del(&cl->clink);
	atomic_fetch_sub_explicit(&w->nr_clients, 1, memory_order_relaxed);
	cl->c.io->close(&cl->c);
	cl->c.flags |= CONN_F_DEAD;
	cl->next_dead = w->dead_clients;
	w->dead_clients = cl;
}

/*
 * Answers with an error of ours (or a redirect, or an ACME answer) and
 * closes: the response is written at once (the socket's buffer is empty at
 * this point); what it does not take (a large error page) is kept in
 * cl->out and written as the client reads. Then the connection lingers
 * until the client has read it, so that unread request bytes do not turn
 * the close into a reset that loses the response. extra: header lines
 * (each ending in CRLF) or NULL; nl: a newline ends the body.
 */
static void client_answer_with(struct client *cl, unsigned status, const char *extra,
			       size_t extra_len, const char *ctype, const char *body,
			       size_t bodylen, bool nl)
{
	struct worker *w = cl->w;
	char msg[320];
	struct iovec v[5];
	size_t want, off, i;
	ssize_t n;
	int hlen;

	if (cl->parked) {
		dlist_del(&cl->plink);
		cl->parked = false;
	}
	hlen = snprintf(msg, sizeof(msg),
			"HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s", status,
			status_text(status), ctype, bodylen + nl,
			status == 405 ? "Allow: " HTTP1_ALLOW "\r\n" : "");
	v[0] = (struct iovec){msg, (size_t)hlen};
	v[1] = (struct iovec){(void *)(extra ? extra : ""), extra_len};
	v[2] = (struct iovec){"Connection: close\r\n\r\n", 21};
	v[3] = (struct iovec){(void *)body, bodylen};
	v[4] = (struct iovec){"\n", nl};
	want = (size_t)hlen + extra_len + 21 + bodylen + nl;
	do {
		n = cl->c.io->writev(&cl->c, v, 5);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		conn_blocked(&cl->c, CONN_F_CAN_WRITE);
		n = 0;
	}
	if (n < 0) {
		client_close(cl);
		return;
	}
	if ((size_t)n < want) {
		cl->out = xmalloc(want - (size_t)n);
		cl->out_pos = cl->out_len = 0;
		for (i = 0, off = (size_t)n; i < 5; i++) {
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

void client_linger(struct client *cl)
{
	struct worker *w = cl->w;

	cl->c.io->shutdown(&cl->c);
	cl->lingering = true;
	cl->pos = cl->len = 0;
	cl->tmode = TM_LINGER;
	timer_arm(&w->timers, &cl->tm, w->now + LINGER_MS);
}

static void client_answer(struct client *cl, unsigned status, const char *ctype, const char *body,
			  size_t bodylen, bool nl)
{
	client_answer_with(cl, status, NULL, 0, ctype, body, bodylen, nl);
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

/*
 * Whether m's path, as the service's targets see it without the path
 * prefix it matched (kamal-proxy's rule, whether or not the prefix is
 * stripped), is under one of its --exclude-metrics-path.
 */
static bool metrics_excluded(const struct service *svc, const struct http1_msg *m)
{
	struct slice path = m->path, pfx;

	if (!svc->o.exclude_metrics.nr) {
		return false;
	}
	pfx = service_matched_prefix(svc, path);
	if (pfx.len) {
		path = slice_from(path, pfx.len);
		if (!path.len) {
			path = slice_make("/", 1);
		}
	}
	return steer_path_excluded(path, &svc->o.exclude_metrics);
}

/*
 * The client's address from the service's --client-ip-header into ip, when
 * the request has one that looks like an address (hex digits, '.' and ':',
 * as long as ip can hold): what a proxy in front says. Else false.
 */
static bool header_ip(const struct service *svc, const struct http1_msg *m, char *ip, size_t len)
{
	struct slice v;
	size_t i;

	if (!svc->o.client_ip_header) {
		return false;
	}
	v = slice_trim(http1_header(m, svc->o.client_ip_header));
	if (!v.ptr || !v.len || v.len >= len) {
		return false;
	}
	for (i = 0; i < v.len; i++) {
		char c = v.ptr[i];

		if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ||
		      c == '.' || c == ':')) {
			return false;
		}
	}
	memcpy(ip, v.ptr, v.len);
	ip[v.len] = '\0';
	return true;
}

static void client_count(struct client *cl, const struct service *svc, unsigned status);

/*
 * Answers 301 to where steer_redirect() said, with the request's path and
 * query, and closes (as kamal-proxy does); counted and logged as 301.
 */
static void client_redirect(struct client *cl, const struct service *svc,
			    const struct steer_redirect *to)
{
	const struct http1_msg *m = &cl->w->msg;
	struct sbuf loc = SBUF_INIT;

	sbuf_addf(&loc, "Location: %s://", to->https ? "https" : "http");
	sbuf_add(&loc, to->host.ptr, to->host.len);
	if (to->keep_port && to->port.len) {
		sbuf_addch(&loc, ':');
		sbuf_add(&loc, to->port.ptr, to->port.len);
	} else if (to->https && !to->keep_port && cl->w->cfg->https_port != 443) {
		/* from HTTP to HTTPS: the proxy's HTTPS port, unless it is the default */
		sbuf_addf(&loc, ":%u", cl->w->cfg->https_port);
	}
	sbuf_add(&loc, m->path.ptr, m->path.len);
	if (m->query.ptr) {
		sbuf_addch(&loc, '?');
		sbuf_add(&loc, m->query.ptr, m->query.len);
	}
	sbuf_addstr(&loc, "\r\n");
	client_count(cl, svc, 301);
	client_answer_with(cl, 301, loc.buf, loc.len, "text/plain; charset=utf-8",
			   "301 Moved Permanently", 21, true);
	sbuf_release(&loc);
}

/* Whether a request carries a writer cookie that is still live at now_ms. */
static bool writer_cookie_live(const struct http1_msg *m, uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < m->nr_headers; i++) {
		struct slice v;

		if (slice_caseeq_cstr(m->headers[i].name, "cookie") &&
		    steer_cookie(m->headers[i].value, STEER_WRITER_COOKIE, &v) &&
		    steer_writer_live(v, now_ms)) {
			return true;
		}
	}
	return false;
}

/*
 * Header text made on every request, without printf: its format parsing
 * was a tenth of the instructions of a plain request. Each returns the
 * bytes it wrote at p; the caller has room for them.
 */
static size_t put_mem(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return n;
}

#define PUT_LIT(p, s) put_mem((p), (s), sizeof(s) - 1)

static size_t put_dec(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++) {
		p[i] = tmp[n - 1 - i];
	}
	return n;
}

/* 16 lowercase hex digits, zeros in front. */
static size_t put_hex16(char *p, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--) {
		p[i] = digits[v & 15];
		v >>= 4;
	}
	return 16;
}

static void client_ip(const struct client *cl, char *ip, size_t len)
{
	ip[0] = '\0';
	if (cl->peer.sa.sa_family == AF_INET && len >= INET_ADDRSTRLEN) {
		const unsigned char *b = (const unsigned char *)&cl->peer.v4.sin_addr;
		size_t n = 0;

		for (int i = 0; i < 4; i++) {
			n += put_dec(ip + n, b[i]);
			ip[n++] = i < 3 ? '.' : '\0';
		}
	} else if (cl->peer.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &cl->peer.v6.sin6_addr, ip, (socklen_t)len);
	}
}

/* Counts and logs a request that ended before any exchange began; w->msg describes it. */
static void client_count(struct client *cl, const struct service *svc, unsigned status)
{
	struct worker *w = cl->w;

	if (!svc || !metrics_excluded(svc, &w->msg)) {
		metrics_count(w->mt, svc ? svc->metrics_idx : 0, status, 0);
	}
	if (w->cfg->access_log_fd >= 0) {
		char ip[INET6_ADDRSTRLEN];
		const struct http1_msg *m = &w->msg;

		client_ip(cl, ip, sizeof(ip));
		accesslog_request(&w->scratch, m, svc, http1_header(m, "x-request-id"), ip,
				  cl->tls);
		accesslog_line(&w->log, w->now + w->wall_off, &w->scratch, NULL, status,
			       m->head_len, 0, 0);
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

	if (http1_parse_request(cl->buf + cl->pos, cl->len - cl->pos, &w->lim, &w->msg) > 0 &&
	    !http1_normalize_path(cl->buf + cl->pos, &w->msg)) {
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

		if (!x->no_metrics) {
			metrics_count(w->mt, x->svc_idx, status, dur);
		}
		if (w->cfg->access_log_fd >= 0) {
			accesslog_line(&w->log, w->now + w->wall_off, &x->lg, x->t, status,
				       x->bytes_in, x->bytes_out, dur);
		}
	}

	if (x->up) {
		x->up->x = NULL;
		if (reuse) {
			pool_put(w, x->up);
		} else {
			pool_close(x->up);
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
	spool_free(x->rb);
	spool_free(x->rsb);
	if (cl->tmode == TM_RELAY || cl->tmode == TM_TUNNEL || cl->tmode == TM_BODY) {
		timer_cancel(&w->timers, &cl->tm);
		cl->tmode = TM_NONE;
	}
	buf_put(w, x->ubuf, x->ucap);
	cl->x = NULL;
	exch_put(w, x);
}

/* Ends the exchange with an error: ours when nothing was sent yet, else a close. -1. */
int exch_fail(struct exch *x, unsigned status)
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

/* What is known of an attempt that failed, for retry_choice(). */
struct retry_facts {
	bool retryable;	     /* the request is still whole in the client's buffer */
	bool answered;	     /* some of a response came back */
	bool reused;	     /* the connection came from the pool */
	bool connect_failed; /* the connection could not be made */
	bool wrote;	     /* some of the request was written: the app may have seen it */
	bool idempotent;     /* see struct exch */
	bool multi;	     /* the service has other targets */
	unsigned used;	     /* enum retry_flags already used */
};

/*
 * Retries are for requests still whole in the client's buffer, once, and only
 * while nothing came back:
 * - a pooled connection that the upstream had closed fails on first use: the
 *   request goes again on a new connection, unless it is not idempotent and
 *   some of it was written (the app may have read it just before closing: a
 *   POST must not run twice);
 * - a connection that could not be made (the target is down: it is marked so
 *   when the service has others) sent nothing: the request goes to another
 *   target;
 * - a new connection that ended without an answer may have reached the app:
 *   only an idempotent request goes again.
 * Returns the enum retry_flags to take, or 0 for none.
 */
static unsigned retry_choice(const struct retry_facts *f)
{
	if (!f->retryable || f->answered) {
		return 0;
	}
	if (f->reused && !f->connect_failed && !(f->used & RETRY_STALE) &&
	    (f->idempotent || !f->wrote)) {
		return RETRY_STALE;
	}
	if (f->multi && (f->connect_failed || f->idempotent) && !(f->used & RETRY_OTHER)) {
		return RETRY_OTHER;
	}
	return 0;
}

/* An attempt failed: the request starts again when retry_choice() allows it (2), else 502. */
static int upstream_failed(struct exch *x, bool connect_failed)
{
	struct client *cl = x->cl;
	struct retry_facts f = {
	    .retryable = x->retryable,
	    .answered = x->ulen || x->resp_started,
	    .reused = x->up && x->up->reused,
	    .connect_failed = connect_failed,
	    .wrote = x->q_up.written > 0 || (x->rq != RQ_CONNECT && x->rq != RQ_HEAD),
	    .idempotent = x->idempotent,
	    .multi = x->multi,
	    .used = x->retry,
	};
	unsigned again;

	if (connect_failed && x->multi &&
	    atomic_exchange_explicit(&x->t->healthy, false, memory_order_relaxed)) {
		log_warn("target '%s' is out: cannot connect", x->t->addr);
	}
	again = retry_choice(&f);
	if (again) {
		size_t start = x->req_start;

		METRICS_ADD(cl->w->mt->svc[x->svc_idx].upstream_errors, 1);
		cl->retry = (unsigned char)(x->retry | again);
		/* a target that failed under a request is passed over by its retry */
		cl->avoid = again == RETRY_OTHER ? x->t : NULL;
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
 * The request line, with the path prefix it matched (of the service's
 * prefixes) taken off the path when the service strips it ("/app/x?q" as
 * "/x?q", "/app" as "/"). The method's space is pushed with it: a
 * normalized target does not follow it (proxy/http1.h).
 */
static void push_request_line(struct iovq *q, const struct http1_msg *m, const struct service *svc)
{
	const char *end = m->target.ptr + m->target.len;
	size_t plen = svc->o.strip_prefix ? service_matched_prefix(svc, m->path).len : 0;
	struct slice rest;

	if (!plen || (m->path.len > plen && m->path.ptr[plen] != '/')) {
		iovq_push(q, m->method.ptr, m->method.len + 1);
		iovq_push(q, m->target.ptr, m->target.len);
		return;
	}
	iovq_push(q, m->method.ptr, m->method.len + 1);
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
 * The inactivity timeouts of an exchange with an upstream, as nginx's
 * client_body_timeout, send_timeout and proxy_read_timeout: while the
 * request is on its way, the client's read timeout while the relay waits for
 * more of its body, the target timeout while the upstream does not take it;
 * once it has all been sent, the target timeout while the upstream sends
 * nothing (the response head, or more of its body), the client timeout while
 * the client takes nothing. So a slow upload is not cut by the target
 * timeout, which starts when the request is all sent.
 *
 * Progress is recorded in x->active from the loop's clock, and the timer is
 * not moved with it: it is armed once for the shortest timeout of the phase
 * (relay_arm) and on expiry (relay_expire) looks at what the relay waits for
 * and how long it has; if it still has time the timer is armed again.
 */

static uint64_t min_timeout(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* What the relay waits for now (enum metrics_timeout) and how long it may (0: no limit). */
static uint64_t relay_waits_for(const struct exch *x, unsigned *kind)
{
	if (x->rq != RQ_DONE) {
		if (x->rq == RQ_BODY && x->rq_bpos == x->rq_bend && !x->rq_complete) {
			*kind = METRICS_TIMEOUT_CLIENT_READ;
			return x->cl->w->cfg->read_timeout_ms;
		}
		*kind = METRICS_TIMEOUT_UPSTREAM_WRITE;
		return x->target_timeout;
	}
	if (x->rs == RS_INTERIM || x->rs == RS_HEADW || x->rs == RS_FILE ||
	    (x->rs == RS_BODY && x->rs_bpos < x->rs_bend)) {
		*kind = METRICS_TIMEOUT_CLIENT_WRITE;
		return x->client_timeout;
	}
	*kind = METRICS_TIMEOUT_UPSTREAM_READ;
	return x->target_timeout;
}

/* The shortest timeout that can apply in the relay's phase (0: none). */
static uint64_t relay_step(const struct exch *x)
{
	if (x->rq != RQ_DONE) {
		return x->rq_complete
			   ? x->target_timeout
			   : min_timeout(x->target_timeout, x->cl->w->cfg->read_timeout_ms);
	}
	return min_timeout(x->target_timeout, x->client_timeout);
}

/* At the start of a phase: the timer, unless it is due sooner already. */
static void relay_arm(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	uint64_t step = relay_step(x), at = x->active + step;

	if (!step) {
		return;
	}
	if (cl->tmode != TM_RELAY || !timer_armed(&cl->tm) || at < cl->tm.at) {
		cl->tmode = TM_RELAY;
		timer_arm(&w->timers, &cl->tm, at);
	}
}

/* The timer passed: the exchange ends when what it waits for took too long, else waits on. */
static void relay_expire(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	unsigned kind;
	uint64_t tmo = relay_waits_for(x, &kind), step, at = UINT64_MAX;

	if (tmo && w->now - x->active >= tmo) {
		unsigned status = 0;

		METRICS_ADD(w->mt->svc[x->svc_idx].timeouts[kind], 1);
		if (kind == METRICS_TIMEOUT_CLIENT_READ) {
			status = 408;
		} else if (kind != METRICS_TIMEOUT_CLIENT_WRITE) {
			status = 504; /* a close once the head was sent, and an upstream error */
		}
		exch_fail(x, status);
		return;
	}
	if (tmo) {
		at = x->active + tmo;
	}
	/* What the relay waits for may change to one with a shorter timeout: look again. */
	step = relay_step(x);
	if (step && w->now + step < at) {
		at = w->now + step;
	}
	if (at != UINT64_MAX) {
		cl->tmode = TM_RELAY;
		timer_arm(&w->timers, &cl->tm, at);
	}
}

/*
 * Takes a connection to x->t, pooled or new, for x, whose request is ready
 * to go. 1, or what upstream_failed() says when none could be made.
 */
int exch_connect(struct exch *x)
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
		x->up = pool_connect(w, x->t);
		if (!x->up &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			/* The proxy is out of descriptors, not the target: it stays in. */
			return exch_fail(x, 503);
		}
		if (!x->up) {
			return upstream_failed(x, true);
		}
		conns_opened(w);
	}
	x->up->x = x;
	x->rq = x->up->connecting ? RQ_CONNECT : RQ_HEAD;
	x->active = w->now;
	relay_arm(x);
	return 1;
}

/* Ends the wait of a request head: it is answered now. */
static void client_head_done(struct client *cl)
{
	struct worker *w = cl->w;

	if (cl->tmode == TM_HEAD || cl->tmode == TM_IDLE || cl->tmode == TM_PAUSE) {
		timer_cancel(&w->timers, &cl->tm);
		cl->tmode = TM_NONE;
	}
}

/* GET /.well-known/acme-challenge/TOKEN of a token the ACME client put in the store: true. */
static bool acme_answer(struct client *cl)
{
	static const char pfx[] = "/.well-known/acme-challenge/";
	struct worker *w = cl->w;
	const struct http1_msg *m = &w->msg;
	struct sbuf body = SBUF_INIT;
	bool ok = false;

	if (m->path.len <= sizeof(pfx) - 1 || memcmp(m->path.ptr, pfx, sizeof(pfx) - 1) ||
	    !acme_store_http_answer(w->cfg->acme, m->path, &body)) {
		goto out;
	}
	client_head_done(cl);
	client_count(cl, NULL, 200);
	client_answer(cl, 200, "text/plain", body.buf, body.len, false);
	ok = true;
out:
	sbuf_release(&body);
	return ok;
}

/*
 * GET /.well-known/berth-proxy/tls/SERVICE on the issuer: the service's
 * certificate, sealed for the followers (proxy/certs.h); true when answered.
 */
static bool tls_share_answer(struct client *cl)
{
	static const char pfx[] = "/.well-known/berth-proxy/tls/";
	struct worker *w = cl->w;
	const struct http1_msg *m = &w->msg;
	struct sbuf body = SBUF_INIT;
	bool ok = false;

	if (m->path.len <= sizeof(pfx) - 1 || memcmp(m->path.ptr, pfx, sizeof(pfx) - 1) ||
	    !slice_eq_cstr(m->method, "GET") ||
	    !certs_sealed(slice_from(m->path, sizeof(pfx) - 1), &body)) {
		goto out;
	}
	client_head_done(cl);
	client_count(cl, NULL, 200);
	client_answer(cl, 200, "application/octet-stream", body.buf, body.len, false);
	ok = true;
out:
	sbuf_release(&body);
	return ok;
}

/* Whether a request is the CA's HTTP-01 check, which a follower relays to its issuer. */
static bool is_acme_challenge(const struct http1_msg *m)
{
	static const char pfx[] = "/.well-known/acme-challenge/";

	return m->path.len > sizeof(pfx) - 1 && !memcmp(m->path.ptr, pfx, sizeof(pfx) - 1);
}

static void exch_start_in(struct client *cl, size_t head_len, struct route_table **relay_tbl);

/* relay_tbl: the followers' table, when a request needed it; held until the exchange started. */
static void exch_start(struct client *cl, size_t head_len)
{
	struct route_table *relay_tbl = NULL;

	exch_start_in(cl, head_len, &relay_tbl);
	route_table_unref(relay_tbl);
}

static void exch_start_in(struct client *cl, size_t head_len, struct route_table **relay_tbl)
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
	bool fwd, keep_proto = false, keep_host = false, buffer, set_writer = false, relay;
	uint64_t limit;
	long n;

	/* ACME's HTTP-01 check comes before routing: the name may have no service yet. */
	if (!cl->tls && w->cfg->acme && (acme_answer(cl) || tls_share_answer(cl))) {
		return;
	}
	/*
	 * A follower: the CA checks the issuer's order, whichever host its DNS
	 * points at; from the start of the follower's deploy, so the hosts
	 * come from certs, not from the routing table.
	 */
	svc = NULL;
	relay = false;
	if (!cl->tls && is_acme_challenge(m) && (*relay_tbl = certs_relay_table())) {
		svc = route_lookup(*relay_tbl, m->host, m->path);
		relay = svc && svc->o.tls_issuer_target;
	}
	if (!relay) {
		svc = route_lookup(w->tbl, m->host, m->path);
	}
	/*
	 * A plain-HTTP request to a service with TLS and its redirect (when
	 * there is an HTTPS listener to send it to), or for another host than
	 * the canonical one: 301.
	 */
	if (svc && !relay && (svc->o.canonical_host || (svc->o.tls && svc->o.tls_redirect))) {
		struct steer_redirect to;

		if (steer_redirect(cl->tls, svc->o.tls && svc->o.tls_redirect && w->cfg->tls,
				   svc->o.canonical_host, m->host, &to)) {
			client_head_done(cl);
			client_redirect(cl, svc, &to);
			return;
		}
	}
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
	cl->used = true;
	client_head_done(cl);
	if (!svc || (!svc->nr_targets && !relay)) {
		client_reject(cl, svc, 404, NULL);
		return;
	}
	if (svc->state == SERVICE_STOPPED && !relay) {
		client_reject(cl, svc, 503, svc->stop_message);
		return;
	}
	limit = svc->o.max_body ? svc->o.max_body : svc->o.buffer_requests ? SPOOL_MAX : 0;
	if (limit && m->body == HTTP1_BODY_LENGTH && m->content_length > limit) {
		client_reject(cl, svc, 413, NULL);
		return;
	}
	/* A body that is not all here yet, or is chunked: read it whole first. */
	buffer =
	    svc->o.buffer_requests && !(m->flags & HTTP1_F_UPGRADE) &&
	    (m->body == HTTP1_BODY_CHUNKED ||
	     (m->body == HTTP1_BODY_LENGTH && m->content_length > cl->len - cl->pos - head_len));
	multi = svc->nr_targets > 1;
	if (relay) {
		/* held as a picked target is, and let go by target_done() */
		t = target_ref(svc->o.tls_issuer_target);
		atomic_fetch_add_explicit(&t->inflight, 1, memory_order_relaxed);
		multi = false;
	}
	/*
	 * Reads go to a healthy read target unless the client wrote within the
	 * writer affinity (its cookie says until when); a write sets that cookie.
	 */
	if (svc->nr_readers && !relay) {
		bool ws =
		    (m->flags & HTTP1_F_UPGRADE) && slice_caseeq_cstr(m->upgrade, "websocket");

		if (!steer_is_read(m->method, ws, svc->o.read_websockets)) {
			set_writer = svc->o.writer_affinity_ms > 0;
		} else if (!writer_cookie_live(m, w->now + w->wall_off)) {
			t = service_pick_reader(svc);
			multi = t && svc->nr_readers > 1;
		}
	}
	/* A rollout target only when one is healthy; else the main targets take the request. */
	if (!t && svc->nr_rollout && service_rollout_wants(svc, rollout_value(m))) {
		t = service_pick_rollout(svc);
		multi = t && svc->nr_rollout > 1;
	}
	if (!t) {
		t = cl->avoid ? service_pick_other(svc, cl->avoid) : service_pick(svc);
	}
	cl->avoid = NULL;
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
	x->client_timeout = svc->o.client_timeout_ms;
	x->max_body = limit;
	x->is_head = slice_eq_cstr(m->method, "HEAD");
	x->multi = multi;
	x->no_metrics = metrics_excluded(svc, m);
	x->buffer_resp = svc->o.buffer_responses;
	x->resp_max = svc->o.max_response_body;
	x->buf_mem = svc->o.buffer_memory;
	x->set_writer = set_writer;
	x->writer_ms = svc->o.writer_affinity_ms;
	x->hsts_max_age_s = cl->tls ? svc->o.hsts_max_age_s : 0;
	if (svc->o.scope_cookies && service_matched_prefix(svc, m->path).len) {
		struct slice pfx = service_matched_prefix(svc, m->path);

		/* under the prefix the request matched, as kamal-proxy scopes them */
		x->scope = true;
		sbuf_reset(&x->ctx);
		sbuf_add(&x->ctx, pfx.ptr, pfx.len);
		sbuf_addch(&x->ctx, '\0');
		if (m->host.len) {
			sbuf_add(&x->ctx, m->host.ptr, m->host.len);
		}
	}
	if (w->cfg->access_log_fd >= 0) {
		accesslog_response_names(&x->lgr, svc);
	}
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
	if (!header_ip(svc, m, ip, sizeof(ip))) {
		client_ip(cl, ip, sizeof(ip));
	}
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
	/* At most 26 + 41 + 48 + 28 bytes: x->add has room. */
	addlen = 0;
	if (!keep_proto) {
		addlen += cl->tls ? PUT_LIT(x->add, "X-Forwarded-Proto: https\r\n")
				  : PUT_LIT(x->add, "X-Forwarded-Proto: http\r\n");
	}
	addlen += PUT_LIT(x->add + addlen, "X-Request-Start: t=");
	addlen += put_dec(x->add + addlen, w->now + w->wall_off);
	addlen += PUT_LIT(x->add + addlen, "\r\n");
	if (!have_rid) {
		addlen += PUT_LIT(x->add + addlen, "X-Request-ID: ");
		rid = slice_make(x->add + addlen, 32);
		addlen += put_hex16(x->add + addlen, w->rid_hi);
		addlen += put_hex16(x->add + addlen, ++w->rid_ctr);
		addlen += PUT_LIT(x->add + addlen, "\r\n");
	}
	if (w->cfg->access_log_fd >= 0) {
		accesslog_request(&x->lg, m, svc, rid, ip, cl->tls);
	}
	if (m->body == HTTP1_BODY_CHUNKED && !buffer) {
		addlen += PUT_LIT(x->add + addlen, "Transfer-Encoding: chunked\r\n");
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
		spool_start(x, svc, head_len,
			    svc->nr_rollout && service_rollout_wants(svc, rollout_value(m)),
			    w->cfg->read_timeout_ms);
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
		return spool_step(x);
	case RQ_FILE:
		return spool_send(x);
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
	if (cl->tmode == TM_RELAY) {
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
	if (w->cfg->access_log_fd >= 0) {
		accesslog_response(&x->lg, m, &x->lgr);
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
 * A response header that x rewrites or drops: a Set-Cookie scoped under
 * the path prefix (its new line goes to x->ck, which is sent after the
 * headers), or the app's X-Writer-Affinity (not sent on; "false" says the
 * response sets no writer cookie). True when h is not to be sent as it is.
 */
static bool resp_cookie_header(struct exch *x, const struct http1_header *h, bool *opt_out)
{
	if (x->set_writer && slice_caseeq_cstr(h->name, "x-writer-affinity")) {
		*opt_out |= slice_caseeq_cstr(slice_trim(h->value), "false");
		return true;
	}
	if (x->scope && slice_caseeq_cstr(h->name, "set-cookie")) {
		size_t plen = strlen(x->ctx.buf);
		struct slice host = slice_make(x->ctx.buf + plen + 1, x->ctx.len - plen - 1);
		struct sbuf v = SBUF_INIT;
		bool done = steer_scope_cookie(h->value, x->ctx.buf, host, &v);

		if (done) {
			sbuf_addstr(&x->ck, "Set-Cookie: ");
			sbuf_add(&x->ck, v.buf, v.len);
			sbuf_addstr(&x->ck, "\r\n");
		}
		sbuf_release(&v);
		return done;
	}
	return false;
}

/* Whether a buffered response's body has gone over the service's max response body. */
static bool rs_spool_over(const struct exch *x)
{
	uint64_t data = x->rs_body == HTTP1_BODY_CHUNKED ? x->rs_ch.total : x->rsb->size;

	return x->resp_max && data > x->resp_max;
}

/* The whole buffered response is in: its head and body go to the client. */
static int rs_spool_done(struct exch *x)
{
	struct spool *rb = x->rsb;
	struct iovq *q = &x->q_cl;

	iovq_reset(q);
	iovq_push(q, rb->head.buf, rb->head.len);
	if (rb->fd < 0 && rb->mem.len) {
		iovq_push(q, rb->mem.buf, rb->mem.len);
	}
	x->resp_started = true;
	x->rs = RS_HEADW;
	return 1;
}

/*
 * --buffer-responses: the head built for the client (x->q_cl) is kept
 * aside, and the body, starting with the `out` bytes at body, is read whole
 * (RS_SPOOL) before anything is sent; so until then an error is still
 * ours to answer (502). used: the bytes of x->ubuf the head and those took.
 */
static int rs_spool_start(struct exch *x, const char *body, size_t used, size_t out, bool done)
{
	struct spool *rb = spool_new(x->buf_mem);
	int i;

	for (i = 0; i < x->q_cl.nr; i++) {
		sbuf_add(&rb->head, x->q_cl.v[i].iov_base, x->q_cl.v[i].iov_len);
	}
	iovq_reset(&x->q_cl);
	x->rsb = rb;
	if (spool_add(rb, body, out) < 0 || rs_spool_over(x)) {
		return exch_fail(x, 502);
	}
	x->upos += used;
	x->rs_complete = done;
	x->rs = RS_SPOOL;
	return done ? rs_spool_done(x) : 1;
}

/* RS_SPOOL: reads more of a buffered response's body. */
static int rs_spool_step(struct exch *x)
{
	struct upstream *up = x->up;
	size_t out;
	bool done;
	ssize_t n;
	long taken;

	if (!(up->c.flags & CONN_F_CAN_READ)) {
		return 0;
	}
	n = conn_read(&up->c, x->ubuf, x->ucap);
	if (n == -2) {
		return 0;
	}
	if (n == 0 && x->rs_body == HTTP1_BODY_EOF) {
		x->up_eof = true;
		x->rs_complete = true;
		x->upos = x->ulen = 0;
		return rs_spool_done(x);
	}
	if (n <= 0) {
		return exch_fail(x, 502);
	}
	x->ulen = (size_t)n;
	taken = rs_body_take(x, x->ubuf, x->ulen, &out, &done);
	if (taken < 0 || spool_add(x->rsb, x->ubuf, out) < 0 || rs_spool_over(x)) {
		return exch_fail(x, 502);
	}
	x->upos = (size_t)taken;
	x->rs_complete = done;
	return done ? rs_spool_done(x) : 1;
}

/* RS_FILE: a buffered response's body from its temporary file to the client. */
static int rs_spool_send(struct exch *x)
{
	struct client *cl = x->cl;
	struct spool *rb = x->rsb;
	off_t off = (off_t)rb->sent;
	ssize_t n;

	if (!(cl->c.flags & CONN_F_CAN_WRITE)) {
		return 0;
	}
	n = conn_sendfile(&cl->c, rb->fd, &off,
			  rb->size - rb->sent > (1 << 20) ? (1 << 20) : rb->size - rb->sent);
	if (n < 0 && errno == EAGAIN) {
		cl->c.flags &= ~CONN_F_CAN_WRITE;
		return 0;
	}
	if (n < 0 && errno == EINTR) {
		return 1;
	}
	if (n <= 0) {
		return exch_fail(x, 0);
	}
	x->bytes_out += (uint64_t)off - rb->sent;
	rb->sent = (uint64_t)off;
	if (rb->sent == rb->size) {
		x->rs = RS_DONE;
	}
	return 1;
}

static int rs_parse(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	struct http1_msg *m = &w->msg;
	const char *head, *head_end;
	struct iovq *q = &x->q_cl;
	size_t i, addlen = 0, out;
	bool done, close, writer_opt_out = false, buffered;
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
	x->status = m->status;
	if (w->cfg->access_log_fd >= 0) {
		accesslog_response(&x->lg, m, &x->lgr);
	}
	x->rs_body = m->body;
	x->rs_left = m->content_length;
	x->resp_ka = m->flags & HTTP1_F_KEEP_ALIVE;
	/* An HTTP/1.0 client knows no chunked framing: it gets the data, delimited by the close. */
	x->dechunk = x->client_10 && m->body == HTTP1_BODY_CHUNKED;
	close = !x->client_ka || m->body == HTTP1_BODY_EOF || x->dechunk || x->rq != RQ_DONE ||
		atomic_load_explicit(&w->stop, memory_order_relaxed) ||
		atomic_load_explicit(&w->draining, memory_order_relaxed);
	x->close_client = close;

	iovq_reset(q);
	iovq_push(q, STATIC_IOV("HTTP/1.1"));
	iovq_push(q, head + 8, (size_t)(line_end(head, head_end) - head - 8));
	sbuf_reset(&x->ck);
	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		if (http1_is_hop_by_hop(m, h->name)) {
			continue;
		}
		if ((x->scope || x->set_writer) && resp_cookie_header(x, h, &writer_opt_out)) {
			continue;
		}
		iovq_push(q, h->name.ptr, (size_t)(line_end(h->name.ptr, head_end) - h->name.ptr));
	}
	if (x->set_writer && !writer_opt_out) {
		uint64_t now = w->now + w->wall_off;

		sbuf_addf(&x->ck,
			  "Set-Cookie: " STEER_WRITER_COOKIE
			  "=%llu; Path=/; Max-Age=%llu; HttpOnly\r\n",
			  (unsigned long long)(now + x->writer_ms),
			  (unsigned long long)((x->writer_ms + 999) / 1000 + 1));
	}
	if (x->ck.len) {
		iovq_push(q, x->ck.buf, x->ck.len);
	}
	if (m->body == HTTP1_BODY_CHUNKED && !x->dechunk) {
		addlen += PUT_LIT(x->radd + addlen, "Transfer-Encoding: chunked\r\n");
	}
	if (close) {
		addlen += PUT_LIT(x->radd + addlen, "Connection: close\r\n");
	} else if (x->client_10) {
		addlen += PUT_LIT(x->radd + addlen, "Connection: keep-alive\r\n");
	}
	if (x->hsts_max_age_s) {
		addlen += (size_t)snprintf(x->radd + addlen, sizeof(x->radd) - addlen,
					   "Strict-Transport-Security: max-age=%llu\r\n",
					   (unsigned long long)x->hsts_max_age_s);
	}
	addlen += PUT_LIT(x->radd + addlen, "\r\n");
	iovq_push(q, x->radd, addlen);
	buffered = x->buffer_resp && steer_buffers_response(http1_header(m, "content-type"));
	if (buffered && x->resp_max && m->body == HTTP1_BODY_LENGTH &&
	    m->content_length > x->resp_max) {
		return exch_fail(x, 502);
	}
	taken = rs_body_take(x, x->ubuf + x->upos + r, x->ulen - x->upos - (size_t)r, &out, &done);
	if (taken < 0) {
		return exch_fail(x, 502);
	}
	if (buffered) {
		return rs_spool_start(x, head_end, (size_t)r + (size_t)taken, out, done);
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
			x->rs = x->tunnel		    ? RS_TUNNEL
				: x->rsb && x->rsb->fd >= 0 ? RS_FILE
				: x->rs_complete	    ? RS_DONE
							    : RS_BODY;
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
	case RS_SPOOL:
		return rs_spool_step(x);
	case RS_FILE:
		return rs_spool_send(x);
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
			if (x->rq == RQ_DONE) {
				/* All sent: from now on the target timeout counts. */
				x->active = cl->w->now;
				relay_arm(x);
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
				cl->unread = x->rq != RQ_DONE;
			}
			exch_end(x, reuse);
			return 1;
		}
		if (!a && !b) {
			return 0;
		}
		x->active = cl->w->now;
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
	case TM_RELAY:
		if (cl->x) {
			relay_expire(cl->x);
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
			METRICS_ADD(
			    cl->w->mt->svc[cl->x->svc_idx].timeouts[METRICS_TIMEOUT_CLIENT_READ],
			    1);
			exch_fail(cl->x, 408);
		}
		break;
	case TM_HANDSHAKE:
		METRICS_ADD(cl->w->mt->tls_handshake_failures, 1);
		client_close(cl);
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
	/* A handover: the connection's last response is written, the new process takes the next. */
	if (atomic_load_explicit(&w->draining, memory_order_relaxed)) {
		if (!cl->used) {
			/*
			 * It connected before the handover and has not sent
			 * its first request yet: the client may be sending it
			 * now, and a fresh connection closed under it is an
			 * error it will not retry. It gets a short while.
			 */
			if (cl->tmode != TM_IDLE) {
				cl->tmode = TM_IDLE;
				timer_arm(&w->timers, &cl->tm,
					  w->now + (w->cfg->idle_timeout_ms < DRAIN_FRESH_MS
							? w->cfg->idle_timeout_ms
							: DRAIN_FRESH_MS));
			}
			return;
		}
		if (cl->tls && !cl->handshaking) {
			/*
			 * Over TLS a close_notify says that nothing was cut off.
			 * Then the connection lingers until the client closes: a
			 * request it sent meanwhile would turn a close into a
			 * reset, which can overtake the close_notify, and the
			 * client could no longer tell that it may send it again.
			 */
			client_linger(cl);
			return;
		}
		client_close(cl);
		return;
	}
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

/*
 * One step of a TLS handshake, on the readiness it waits for. true once it
 * is done and the connection carries HTTP/1.1 through c.io.
 */
static bool client_handshake(struct client *cl)
{
	struct worker *w = cl->w;
	unsigned waits = tls_conn_waits(&cl->c);
	const char *alpn;

	if (waits && !(cl->c.flags & waits)) {
		return false;
	}
	switch (tls_handshake(&cl->c)) {
	case TLS_HS_WANT_READ:
		cl->c.flags &= ~CONN_F_CAN_READ;
		return false;
	case TLS_HS_WANT_WRITE:
		cl->c.flags &= ~CONN_F_CAN_WRITE;
		return false;
	case TLS_HS_FAILED:
		METRICS_ADD(w->mt->tls_handshake_failures, 1);
		log_debug("TLS handshake failed: %s", tls_conn_error(&cl->c));
		client_close(cl);
		return false;
	case TLS_HS_DONE:
		break;
	}
	METRICS_ADD(w->mt->tls_handshakes, 1);
	cl->handshaking = false;
	timer_cancel(&w->timers, &cl->tm);
	cl->tmode = TM_NONE;
	alpn = tls_conn_alpn(&cl->c);
	if (!strcmp(alpn, "acme-tls/1")) {
		/* A TLS-ALPN-01 check: the handshake was all of it. */
		client_close(cl);
		return false;
	}
	if (!strcmp(alpn, "h2")) {
		/* HTTP/2 has a layer of its own; its first frames may be in OpenSSL already. */
		cl->c.flags |= CONN_F_CAN_READ;
		h2_start(cl);
		return false;
	}
	/* The client's first request may have come with its Finished: OpenSSL holds it. */
	cl->c.flags |= CONN_F_CAN_READ;
	return true;
}

void client_drive(struct client *cl)
{
	struct worker *w = cl->w;

	for (;;) {
		if (cl->c.flags & CONN_F_DEAD) {
			return;
		}
		if (cl->handshaking) {
			if (!client_handshake(cl)) {
				return;
			}
			continue;
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
				/*
				 * An answer given before the request's body was all
				 * read (a refused upload): a close now would reset the
				 * connection under the client still sending, and it
				 * would see the reset, not the answer. The rest is read
				 * and dropped, for a while.
				 */
				if (cl->unread && cl->c.io != &h2_stream_io) {
					cl->closing = cl->unread = false;
					client_linger(cl);
					continue;
				}
				/*
				 * Over TLS the end of a response is told by
				 * close_notify: without it a client cannot tell a
				 * response delimited by the close from a cut one.
				 * An HTTP/2 stream's end says the same.
				 */
				if (cl->tls || cl->c.io == &h2_stream_io) {
					cl->c.io->shutdown(&cl->c);
				}
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
			/* A close_notify the socket did not take at the shutdown. */
			if (cl->tls && !cl->out && (cl->c.flags & tls_conn_waits(&cl->c)) &&
			    tls_conn_flush(&cl->c) < 0 && errno == EAGAIN) {
				conn_blocked(&cl->c, CONN_F_CAN_WRITE);
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
		if (cl->len > cl->pos && w->cfg->h2c && !cl->used) {
			int p = h2_preface(cl->buf + cl->pos, cl->len - cl->pos);

			if (p > 0) {
				h2_start(cl);
				return;
			}
			cl->used = p < 0;
		}
		if (cl->len > cl->pos && !(w->cfg->h2c && !cl->used)) {
			int n = http1_parse_request(cl->buf + cl->pos, cl->len - cl->pos, &w->lim,
						    &w->msg);

			if (n > 0 && http1_normalize_path(cl->buf + cl->pos, &w->msg) < 0) {
				n = -400;
			}
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
	if (cl->h2) {
		h2_event(cl, ev);
		return;
	}
	conn_set_events(&cl->c, ev);
	if (ev & EPOLLERR) {
		client_close(cl);
		return;
	}
	client_drive(cl);
}

struct client *client_new(struct worker *w, int fd, const struct conn_io *io)
{
	struct client *cl = xcalloc(1, sizeof(*cl));

	conns_opened(w);
	cl->c.h.fn = client_event;
	cl->c.fd = fd;
	cl->c.io = io;
	cl->c.flags = CONN_F_CAN_READ | CONN_F_CAN_WRITE;
	cl->w = w;
	cl->tm = (struct timer)TIMER_INIT(client_timeout);
	/* An HTTP/2 stream counts as a client too: a drain waits for it. */
	dlist_add(&w->clients, &cl->clink);
	atomic_fetch_add_explicit(&w->nr_clients, 1, memory_order_relaxed);
	return cl;
}

/* Accepts what lfd has; tls: the HTTPS listener's, which start with a handshake. false when
 * descriptors ran out. */
static bool accept_from(struct worker *w, int lfd, bool tls)
{
	for (;;) {
		struct client *cl;
		union {
			struct sockaddr sa;
			struct sockaddr_in v4;
			struct sockaddr_in6 v6;
		} peer;
		socklen_t sl = sizeof(peer);
		int fd, one = 1;

		fd = accept4(lfd, &peer.sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno == EAGAIN) {
				return true;
			}
			if (!w->accept_full) {
				log_warn("accept: %s; clients wait until a connection closes",
					 strerror(errno));
			}
			return false;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cl = client_new(w, fd, &conn_io_plain);
		memcpy(&cl->peer, &peer, sizeof(peer));
		if (tls) {
			if (tls_conn_attach(w->cfg->tls, &cl->c) < 0) {
				METRICS_ADD(w->mt->tls_handshake_failures, 1);
				client_close(cl);
				continue;
			}
			cl->tls = cl->handshaking = true;
			/* The handshake has the read timeout to finish, as a request head has. */
			cl->tmode = TM_HANDSHAKE;
			timer_arm(&w->timers, &cl->tm, w->now + w->cfg->read_timeout_ms);
		}
		conn_watch(w->epfd, &cl->c);
		client_drive(cl);
	}
}

/*
 * Accepts until the queues are empty, of both listeners (HTTP and HTTPS).
 * When descriptors run out the rest wait in the queue; the listeners are
 * edge-triggered, so no event would come for them until another client
 * arrives: they are accepted again when the worker closes a connection, or
 * after ACCEPT_RETRY (a descriptor freed by another process).
 */
static void listener_accept(struct worker *w)
{
	bool ok = true;

	/* After a handover the listeners are another process's (-1 here), even for an event
	 * fetched before they were dropped. */
	if (w->lfd >= 0 && !accept_from(w, w->lfd, false)) {
		ok = false;
	}
	if (w->tlfd >= 0 && !accept_from(w, w->tlfd, true)) {
		ok = false;
	}
	w->accept_full = !ok;
	if (!ok) {
		timer_arm(&w->timers, &w->accept_tm, w->now + ACCEPT_RETRY);
	}
}

static void listener_event(struct handler *h, uint32_t ev)
{
	listener_accept(container_of(h, struct worker, lh));
}

static void tls_listener_event(struct handler *h, uint32_t ev)
{
	listener_accept(container_of(h, struct worker, tlh));
}

static void accept_retry(struct timer *t)
{
	struct worker *w = container_of(t, struct worker, accept_tm);

	if (w->accept_full) {
		listener_accept(w);
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

/*
 * A handover asked w to stop accepting: the listener leaves the epoll set
 * before its fd is closed (an fd closed while the socket lives on in
 * another process would stay in the set), then the idle connections go
 * (an HTTP/2 one once its streams are done).
 */
static void stop_accepting(struct worker *w)
{
	struct dlist *n, *next;

	if (w->lfd >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->lfd, NULL);
		close(w->lfd);
		w->lfd = -1;
	}
	if (w->tlfd >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->tlfd, NULL);
		close(w->tlfd);
		w->tlfd = -1;
	}
	timer_cancel(&w->timers, &w->accept_tm);
	w->accept_full = false;
	atomic_store_explicit(&w->draining, true, memory_order_release);
	for (n = w->clients.next; n != &w->clients; n = next) {
		struct client *cl = container_of(n, struct client, clink);

		next = n->next;
		if (cl->x || cl->parked || cl->lingering || cl->len > cl->pos || cl->h2 ||
		    !cl->used) {
			continue; /* busy, or its first request may be on the way (client_wait) */
		}
		/*
		 * One last read: a request that arrived with its event not yet
		 * handled is served (with Connection: close); client_wait closes
		 * the connection when nothing came. Its neighbours in the list
		 * stay put, since a client only removes itself.
		 */
		cl->c.flags |= CONN_F_CAN_READ;
		client_drive(cl);
	}
	/* HTTP/2 connections are told with a GOAWAY; their streams finish. */
	h2_drain(w);
}

/*
 * The drain time of a handover is up: the connections still open are cut
 * when the process exits. A TLS one is told so with close_notify first,
 * unless its response is delimited by the close (there close_notify would
 * pass a cut response off as a whole one).
 */
static void drain_end(struct worker *w)
{
	struct dlist *n;

	for (n = w->clients.next; n != &w->clients; n = n->next) {
		struct client *cl = container_of(n, struct client, clink);
		const struct exch *x = cl->x;

		/* An HTTP/2 stream ends with its connection, which h2_stop told already. */
		if (!cl->tls || cl->handshaking || cl->lingering || cl->c.io == &h2_stream_io ||
		    (x && !x->tunnel && (x->rs_body == HTTP1_BODY_EOF || x->dechunk))) {
			continue;
		}
		cl->c.io->shutdown(&cl->c);
	}
}

static void free_dead(struct worker *w)
{
	while (w->dead_clients) {
		struct client *cl = w->dead_clients;

		w->dead_clients = cl->next_dead;
		free(cl);
		w->conns--;
	}
	while (w->dead_ups) {
		struct upstream *up = w->dead_ups;

		w->dead_ups = up->next_dead;
		free(up);
		w->conns--;
	}
	if (w->conns_peak - w->conns >= TRIM_CONNS) {
		lists_trim_soon(w); /* many closed: the heap they used can go back */
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
		if (w->h2_dirty.next != &w->h2_dirty) {
			timeout = 0; /* HTTP/2 connections have more to do (proxy/h2.h) */
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
		if (atomic_load_explicit(&w->stop_accept, memory_order_acquire) &&
		    !atomic_load_explicit(&w->draining, memory_order_relaxed)) {
			stop_accepting(w);
		}
		tunnel_close_retired(w);
		for (i = 0; i < n; i++) {
			struct handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
		timer_run(&w->timers, w->now);
		h2_flush(w);
		if (w->log.buf.len) {
			accesslog_flush(&w->log);
		}
		if (w->accept_full && (w->dead_clients || w->dead_ups)) {
			/* Descriptors were closed: clients waiting in the queue can have them. */
			listener_accept(w);
		}
		free_dead(w);
	}
	h2_stop(w);
	if (atomic_load_explicit(&w->draining, memory_order_relaxed)) {
		drain_end(w);
	}
	free(evs);
	return NULL;
}

static int listen_socket(const struct server_config *cfg, unsigned port, struct err *e)
{
	return server_listen_on(cfg->listen_addr, port, false, e);
}

int server_listen_on(const char *addr, unsigned port, bool v6only, struct err *e)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	socklen_t len;
	int fd, one = 1, defer = 1;

	if (!addr) {
		addr = "0.0.0.0";
	}
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
	if (v6only && sa.sa.sa_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, &sa.sa, len) < 0 || listen(fd, 4096) < 0) {
		int saved = errno;

		err_set(e, "cannot listen on '%s' port %u: %s", addr, port, strerror(errno));
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

bool server_port_busy(const struct server_config *cfg)
{
	const char *addr = cfg->listen_addr ? cfg->listen_addr : "0.0.0.0";
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	socklen_t len;
	bool busy;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	if (!cfg->http_port) {
		return false;
	}
	if (inet_pton(AF_INET, addr, &sa.v4.sin_addr) == 1) {
		sa.v4.sin_family = AF_INET;
		sa.v4.sin_port = htons((uint16_t)cfg->http_port);
		len = sizeof(sa.v4);
	} else if (inet_pton(AF_INET6, addr, &sa.v6.sin6_addr) == 1) {
		sa.v6.sin6_family = AF_INET6;
		sa.v6.sin6_port = htons((uint16_t)cfg->http_port);
		len = sizeof(sa.v6);
	} else {
		return false;
	}
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return false;
	}
	/* SO_REUSEADDR lets a port in TIME_WAIT be taken, not one that is listened on. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	busy = bind(fd, &sa.sa, len) < 0 && errno == EADDRINUSE;
	close(fd);
	return busy;
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

unsigned server_metrics(struct metrics *const **out)
{
	static struct metrics **all; /* built once, on the first call */
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

#define MAX_INHERIT 1024

int server_start(struct server_config *cfg, struct err *e)
{
	static int http[MAX_INHERIT], https[MAX_INHERIT];
	unsigned i, nr_http = 0, nr_https = 0, most;
	struct timespec rt;
	uint64_t wall_off;

	clock_gettime(CLOCK_REALTIME, &rt);
	wall_off = (uint64_t)rt.tv_sec * 1000 + (uint64_t)rt.tv_nsec / 1000000 - mono_ms();
	for (i = 0; i < cfg->nr_inherit; i++) {
		if (!strcmp(cfg->inherit[i].kind, "http") && nr_http < MAX_INHERIT) {
			http[nr_http++] = cfg->inherit[i].fd;
		} else if (cfg->tls && !strcmp(cfg->inherit[i].kind, "https") &&
			   nr_https < MAX_INHERIT) {
			https[nr_https++] = cfg->inherit[i].fd;
		}
	}
	most = nr_http > nr_https ? nr_http : nr_https;
	if (most) {
		if (cfg->workers && cfg->workers != most) {
			log_info(
			    "serving the %u listeners taken over with as many workers (not %u)",
			    most, cfg->workers);
		}
		cfg->workers = most;
	}
	if (nr_http) {
		cfg->http_port = bound_port(http[0]);
	}
	if (nr_https) {
		unsigned port = bound_port(https[0]);

		if (cfg->https_port && cfg->https_port != port) {
			log_warn("serving HTTPS on port %u, taken over (not %u)", port,
				 cfg->https_port);
		}
		cfg->https_port = port;
	}
	nr_workers = cfg->workers ? cfg->workers : 1;
	accesslog_setup(cfg->access_log_fd, cfg->log_req_headers, cfg->log_resp_headers);
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
		dlist_init(&w->clients);
		dlist_init(&w->h2_conns);
		dlist_init(&w->h2_dirty);
		w->mt = xcalloc(1, sizeof(*w->mt));
		accesslog_init(&w->log, cfg->access_log_fd, &w->mt->log_dropped);
		sbuf_init(&w->scratch, 0);
		atomic_init(&w->stop, false);
		if (getrandom(&w->rid_hi, sizeof(w->rid_hi), 0) != sizeof(w->rid_hi)) {
			w->rid_hi = (uint64_t)rt.tv_nsec ^ ((uint64_t)i << 56);
		}
		/*
		 * Listeners taken over of a kind: one per worker, and a worker
		 * beyond their number has none of that kind (a socket of ours
		 * would join their SO_REUSEPORT group and take a share).
		 */
		w->lfd = w->tlfd = -1;
		if (nr_http) {
			w->lfd = i < nr_http ? http[i] : -1;
		} else {
			w->lfd = listen_socket(cfg, cfg->http_port, e);
			if (w->lfd < 0) {
				return -1;
			}
			if (!cfg->http_port) {
				cfg->http_port = bound_port(w->lfd);
			}
		}
		if (nr_https) {
			w->tlfd = i < nr_https ? https[i] : -1;
		} else if (cfg->tls) {
			w->tlfd = listen_socket(cfg, cfg->https_port, e);
			if (w->tlfd < 0) {
				return -1;
			}
			if (!cfg->https_port) {
				cfg->https_port = bound_port(w->tlfd);
			}
		}
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->epfd < 0 || w->efd < 0) {
			return err_set(e, "epoll: %s", strerror(errno));
		}
		w->lh.fn = listener_event;
		w->accept_tm = (struct timer)TIMER_INIT(accept_retry);
		w->trim_tm = (struct timer)TIMER_INIT(lists_trim);
		w->eh.fn = wake_event;
		if (w->lfd >= 0) {
			add_handler(w, w->lfd, &w->lh, EPOLLIN | EPOLLET);
		}
		if (w->tlfd >= 0) {
			w->tlh.fn = tls_listener_event;
			add_handler(w, w->tlfd, &w->tlh, EPOLLIN | EPOLLET);
		}
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
	tunnel_retire(t);
	server_wake();
}

size_t server_listeners(struct server_listener *out, size_t max)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < nr_workers; i++) {
		if (workers[i].lfd >= 0) {
			if (n < max) {
				memcpy(out[n].kind, "http", sizeof("http"));
				out[n].fd = workers[i].lfd;
			}
			n++;
		}
		if (workers[i].tlfd >= 0) {
			if (n < max) {
				memcpy(out[n].kind, "https", sizeof("https"));
				out[n].fd = workers[i].tlfd;
			}
			n++;
		}
	}
	return n;
}

void server_stop_accepting(void)
{
	unsigned i;

	for (i = 0; i < nr_workers; i++) {
		atomic_store_explicit(&workers[i].stop_accept, true, memory_order_release);
	}
	server_wake();
	for (i = 0; i < nr_workers; i++) {
		while (!atomic_load_explicit(&workers[i].draining, memory_order_acquire)) {
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
		}
	}
}

unsigned server_open_clients(void)
{
	unsigned i, n = 0;

	for (i = 0; i < nr_workers; i++) {
		n += atomic_load_explicit(&workers[i].nr_clients, memory_order_relaxed);
	}
	return n;
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
		if (workers[i].lfd >= 0) {
			close(workers[i].lfd);
		}
		if (workers[i].tlfd >= 0) {
			close(workers[i].tlfd);
		}
	}
}
