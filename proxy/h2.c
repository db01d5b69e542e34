#include "proxy/h2.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "proxy/conn.h"
#include "proxy/http1.h"
#include "proxy/server.h"
#include "proxy/timer.h"
#include "proxy/worker.h"
#include "lib/banned.h"

#define H2_MAX_STREAMS	 128
#define H2_STREAM_WINDOW 65535
#define H2_CONN_WINDOW	 (1 << 20)
#define H2_OUT_CAP	 65536 /* response bytes waiting per stream */
#define H2_SOCK_CAP	 65536 /* frames waiting for the socket */
#define H2_RESET_BUDGET	 100   /* streams ended early, beyond those that completed */
#define H2_MAX_CONT	 8     /* CONTINUATION frames after a HEADERS */
#define H2_MAX_ACKS	 1000  /* SETTINGS and PING acks waiting to go */
#define H2_RUN_ROUNDS	 16    /* read, drive, write rounds per loop iteration */
#define H2_NOTICE_MS	 1000  /* a drain: the final GOAWAY follows the first at most this late */

struct h2_stream;

struct h2_conn {
	struct client *cl; /* the connection's own client: its socket, peer and worker */
	struct worker *w;
	nghttp2_session *sess;
	struct timer tm;
	struct dlist link;  /* in worker->h2_conns */
	struct dlist dlink; /* in worker->h2_dirty while dirty */
	struct dlist streams;
	struct dlist pending; /* streams whose client has something to do */
	struct sbuf ob;	      /* frames for the socket */
	size_t ob_pos;
	struct sbuf early; /* what the client sent before the hand-over, to feed first */
	uint64_t active;   /* when bytes last moved on the socket */
	unsigned nr_streams, aborted, completed;
	bool dirty, calm, closing;
	bool running, again; /* in conn_run; something more to do in it */
	bool drain;	     /* a drain: GOAWAY once what came is read */
	bool noticed, pong;  /* the first GOAWAY and a PING went; the PING came back */
	bool drained;	     /* the final GOAWAY went */
	uint64_t noticed_at;
};

enum h2_rs { H2_RS_HEAD, H2_RS_BODY, H2_RS_DONE };

/* The request's pseudo-fields kept for its request line and Host. */
enum h2_pseudo { H2_PS_METHOD, H2_PS_PATH, H2_PS_AUTHORITY, H2_PS_N };

struct h2_field {
	size_t off, len; /* in h2_stream.pseudo */
	bool set;
};

struct h2_stream {
	struct h2_conn *h;
	struct client *cl; /* NULL once its client is closed */
	int32_t id;
	struct dlist link, plink;
	bool in_pending;
	/* the request, as HTTP/1.1 bytes for the client to read */
	struct sbuf pseudo; /* the values of ps, one after the other */
	struct h2_field ps[H2_PS_N];
	struct sbuf cookies; /* cookie crumbs, joined with "; " */
	size_t hdr_bytes;
	bool has_cl, too_big, started;
	bool line_done; /* the request line is in `in`: the fields' lines follow it */
	bool has_host;
	struct sbuf in;
	size_t in_pos;
	size_t unconsumed; /* DATA bytes in `in` not yet given back to flow control */
	bool chunked, in_eof;
	/* the response, from the HTTP/1.1 bytes the exchange writes */
	enum h2_rs rs;
	bool is_head;
	struct sbuf rhead;
	enum http1_body body;
	uint64_t left;
	struct http1_chunked ch;
	struct sbuf out;
	size_t out_pos;
	bool out_eof;	/* the body is whole: END_STREAM after out */
	bool out_shut;	/* the client said the response is whole */
	bool submitted; /* the final HEADERS are queued */
	bool deferred;	/* nghttp2 waits for out */
	bool end_sent;	/* END_STREAM went out */
	bool closed;	/* nghttp2 closed the stream */
	bool reset;	/* it ended before its response: reads and writes fail */
	bool we_reset;	/* the reset was ours (not the client's doing) */
	uint64_t moved; /* when its response last moved */
};

static _Thread_local struct http1_msg rs_msg;

int h2_preface(const char *p, size_t len)
{
	size_t n = sizeof(H2_PREFACE) - 1;

	if (memcmp(p, H2_PREFACE, len < n ? len : n)) {
		return -1;
	}
	return len >= n;
}

/* Streams */

static void conn_dirty(struct h2_conn *h)
{
	if (h->running) {
		h->again = true;
		return;
	}
	if (!h->dirty && !h->closing) {
		h->dirty = true;
		dlist_add(&h->w->h2_dirty, &h->dlink);
	}
}

/* s's client has something to do: it is driven after the session's callbacks returned. */
static void stream_pend(struct h2_stream *s, unsigned flags)
{
	if (!s->cl) {
		return;
	}
	s->cl->c.flags |= flags;
	if (!s->in_pending) {
		s->in_pending = true;
		dlist_add(&s->h->pending, &s->plink);
	}
	conn_dirty(s->h);
}

static void stream_free(struct h2_stream *s)
{
	if (s->in_pending) {
		dlist_del(&s->plink);
	}
	dlist_del(&s->link);
	s->h->nr_streams--;
	sbuf_release(&s->pseudo);
	sbuf_release(&s->cookies);
	sbuf_release(&s->in);
	sbuf_release(&s->rhead);
	sbuf_release(&s->out);
	free(s);
}

/* Gives n bytes of s's DATA back to flow control. */
static void stream_consume(struct h2_stream *s, size_t n)
{
	if (!n) {
		return;
	}
	if (n > s->unconsumed) {
		n = s->unconsumed;
	}
	s->unconsumed -= n;
	nghttp2_session_consume_connection(s->h->sess, n);
	if (!s->closed) {
		nghttp2_session_consume_stream(s->h->sess, s->id, n);
	}
	conn_dirty(s->h);
}

static ssize_t data_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2_stream *s = src->ptr;
	size_t avail = s->out.len - s->out_pos, n = avail < len ? avail : len;
	bool was_full = avail >= H2_OUT_CAP;

	memcpy(buf, s->out.buf + s->out_pos, n);
	s->out_pos += n;
	if (s->out_pos == s->out.len) {
		s->out_pos = 0;
		sbuf_reset(&s->out);
	}
	if (n) {
		s->moved = s->h->w->now;
		if (was_full || s->out.len - s->out_pos < H2_OUT_CAP) {
			stream_pend(s, CONN_F_CAN_WRITE);
		}
	}
	if (s->out_eof && s->out_pos == s->out.len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (!n) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* Queues the final response head of rs_msg for s; false when it cannot be sent. */
static bool submit_head(struct h2_stream *s, const struct http1_msg *m)
{
	nghttp2_nv nv[HTTP1_MAX_HEADERS + 1];
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = data_read};
	char status[3], small[1024], *names = small;
	size_t i, nr = 1, total = 0, off = 0;
	unsigned code = m->status % 1000;
	int rc;

	for (i = 0; i < m->nr_headers; i++) {
		total += m->headers[i].name.len;
	}
	/* The lowercased names: those of most heads fit on the stack. */
	if (total > sizeof(small)) {
		names = xmalloc(total);
	}
	status[0] = (char)('0' + code / 100);
	status[1] = (char)('0' + code / 10 % 10);
	status[2] = (char)('0' + code % 10);
	nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *hd = &m->headers[i];
		size_t k;

		/* Connection-specific fields have no place in HTTP/2 (RFC 9113 8.2.2). */
		if (http1_header_is_hop(m, i) || slice_caseeq_cstr(hd->name, "keep-alive") ||
		    slice_caseeq_cstr(hd->name, "proxy-connection")) {
			continue;
		}
		for (k = 0; k < hd->name.len; k++) {
			char c = hd->name.ptr[k];

			names[off + k] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
		}
		nv[nr++] = (nghttp2_nv){(uint8_t *)names + off, (uint8_t *)hd->value.ptr,
					hd->name.len, hd->value.len, NGHTTP2_NV_FLAG_NONE};
		off += hd->name.len;
	}
	if (m->status < 200) {
		rc = nghttp2_submit_headers(s->h->sess, NGHTTP2_FLAG_NONE, s->id, NULL, nv, nr,
					    NULL);
	} else {
		rc = nghttp2_submit_response(s->h->sess, s->id, nv, nr,
					     s->body == HTTP1_BODY_NONE ? NULL : &prd);
		s->submitted = !rc;
		if (!rc && s->body == HTTP1_BODY_NONE) {
			s->end_sent = true; /* END_STREAM rides on the HEADERS */
		}
	}
	if (names != small) {
		free(names);
	}
	conn_dirty(s->h);
	return !rc;
}

/* Response body bytes p[0, n) as the exchange frames them: their data goes to s->out. */
static long body_feed(struct h2_stream *s, const char *p, size_t n)
{
	size_t take, base, data;
	long used;

	switch (s->body) {
	case HTTP1_BODY_LENGTH:
		take = s->left < n ? (size_t)s->left : n;
		sbuf_add(&s->out, p, take);
		s->left -= take;
		s->out_eof = !s->left;
		return (long)n;
	case HTTP1_BODY_CHUNKED:
		base = s->out.len;
		sbuf_add(&s->out, p, n);
		used = http1_chunked_decode(&s->ch, s->out.buf + base, n, &data);
		if (used < 0) {
			sbuf_setlen(&s->out, base);
			return -1;
		}
		sbuf_setlen(&s->out, base + data);
		s->out_eof = s->ch.done;
		return (long)n;
	case HTTP1_BODY_EOF:
		sbuf_add(&s->out, p, n);
		return (long)n;
	case HTTP1_BODY_NONE:
	default:
		return (long)n;
	}
}

/* Parses the heads gathered in s->rhead; what follows the final one is body. 0, or -1. */
static int head_feed(struct h2_stream *s)
{
	struct http1_msg *m = &rs_msg;

	for (;;) {
		int r = http1_parse_response(s->rhead.buf, s->rhead.len, NULL,
					     s->is_head ? SLICE_LIT("HEAD") : SLICE_LIT("GET"), m);
		size_t rest;

		if (!r) {
			return s->rhead.len > (1u << 20) ? -1 : 0;
		}
		if (r < 0) {
			return -1;
		}
		if (m->status < 200) {
			if (m->status == 100 && !submit_head(s, m)) {
				return -1;
			}
			rest = s->rhead.len - (size_t)r;
			memmove(s->rhead.buf, s->rhead.buf + r, rest);
			sbuf_setlen(&s->rhead, rest);
			continue;
		}
		s->body = m->body;
		s->left = m->content_length;
		http1_chunked_init(&s->ch);
		s->out_eof = m->body == HTTP1_BODY_NONE;
		if (!submit_head(s, m)) {
			return -1;
		}
		s->rs = H2_RS_BODY;
		if (body_feed(s, s->rhead.buf + r, s->rhead.len - (size_t)r) < 0) {
			return -1;
		}
		sbuf_release(&s->rhead);
		return 0;
	}
}

static ssize_t st_read(struct conn *c, void *buf, size_t len)
{
	struct h2_stream *s = c->io_data;
	size_t avail = s->in.len - s->in_pos, n = avail < len ? avail : len;

	if (n) {
		memcpy(buf, s->in.buf + s->in_pos, n);
		s->in_pos += n;
		if (s->in_pos == s->in.len) {
			s->in_pos = 0;
			sbuf_reset(&s->in);
			stream_consume(s, s->unconsumed);
		} else {
			stream_consume(s, n);
		}
		return (ssize_t)n;
	}
	if (s->out_shut) {
		return 0;
	}
	if (s->reset) {
		errno = ECONNRESET;
		return -1;
	}
	errno = EAGAIN;
	return -1;
}

static ssize_t st_writev(struct conn *c, const struct iovec *iov, int nr)
{
	struct h2_stream *s = c->io_data;
	size_t took = 0;
	int i;

	if (s->reset || s->out_shut || s->h->closing) {
		errno = EPIPE;
		return -1;
	}
	if (s->rs == H2_RS_HEAD && !s->rhead.alloc) {
		size_t all = 0;

		/* A head comes in one writev: one allocation for it. */
		for (i = 0; i < nr; i++) {
			all += iov[i].iov_len;
		}
		sbuf_grow(&s->rhead, all < H2_OUT_CAP ? all : H2_OUT_CAP);
	}
	for (i = 0; i < nr; i++) {
		const char *p = iov[i].iov_base;
		size_t n = iov[i].iov_len, room;

		if (s->rs == H2_RS_HEAD) {
			sbuf_add(&s->rhead, p, n);
			took += n;
			if (head_feed(s) < 0) {
				errno = EPROTO;
				return -1;
			}
			continue;
		}
		if (s->out.len - s->out_pos >= H2_OUT_CAP) {
			break;
		}
		room = H2_OUT_CAP - (s->out.len - s->out_pos);
		if (n > room) {
			n = room;
		}
		if (body_feed(s, p, n) < 0) {
			errno = EPROTO;
			return -1;
		}
		took += n;
		if (n < iov[i].iov_len) {
			break;
		}
	}
	if (s->deferred && (s->out.len > s->out_pos || s->out_eof)) {
		s->deferred = false;
		nghttp2_session_resume_data(s->h->sess, s->id);
	}
	if (took) {
		s->moved = s->h->w->now;
		conn_dirty(s->h);
		return (ssize_t)took;
	}
	errno = EAGAIN;
	return -1;
}

/* The response is whole: a body delimited by the end ends here. */
static void st_shutdown(struct conn *c)
{
	struct h2_stream *s = c->io_data;

	if (s->out_shut || s->reset || s->h->closing) {
		return;
	}
	s->out_shut = true;
	if (s->rs == H2_RS_BODY && s->body == HTTP1_BODY_EOF) {
		s->out_eof = true;
	}
	if (s->deferred && s->out_eof) {
		s->deferred = false;
		nghttp2_session_resume_data(s->h->sess, s->id);
	}
	/* The client's read gives 0 from now on. */
	s->cl->c.flags |= CONN_F_CAN_READ;
	conn_dirty(s->h);
}

/* The client is gone: a response that is not whole is cut off with a reset. */
static void st_close(struct conn *c)
{
	struct h2_stream *s = c->io_data;
	struct h2_conn *h = s->h;

	s->cl = NULL;
	c->io_data = NULL;
	if (s->in_pending) {
		dlist_del(&s->plink);
		s->in_pending = false;
	}
	if (h->closing) {
		return;
	}
	if (s->closed) {
		stream_free(s);
		return;
	}
	if (!s->submitted || !s->out_eof) {
		s->we_reset = !s->reset;
		nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id,
					  s->reset ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
	}
	/* Request bytes nobody will read free their window. */
	stream_consume(s, s->unconsumed);
	s->in_pos = 0;
	sbuf_release(&s->in);
	conn_dirty(h);
}

const struct conn_io h2_stream_io = {st_read, st_writev, st_shutdown, st_close, NULL};

/* Session callbacks: they only record; clients are driven after the session returns. */

static struct h2_stream *stream_of(nghttp2_session *sess, int32_t id)
{
	return nghttp2_session_get_stream_user_data(sess, id);
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	s = xcalloc(1, sizeof(*s));
	s->h = h;
	s->id = f->hd.stream_id;
	sbuf_init(&s->pseudo, 0);
	sbuf_init(&s->cookies, 0);
	sbuf_init(&s->in, 0);
	sbuf_init(&s->rhead, 0);
	sbuf_init(&s->out, 0);
	dlist_add(&h->streams, &s->link);
	dlist_init(&s->plink);
	h->nr_streams++;
	s->moved = h->w->now;
	nghttp2_session_set_stream_user_data(sess, s->id, s);
	return 0;
}

static void pseudo_set(struct h2_stream *s, enum h2_pseudo i, const uint8_t *v, size_t len)
{
	s->ps[i] = (struct h2_field){s->pseudo.len, len, true};
	sbuf_add(&s->pseudo, v, len);
}

/* Adds the value of a pseudo-field to s->in. */
static void pseudo_add(struct h2_stream *s, enum h2_pseudo i)
{
	sbuf_add(&s->in, s->pseudo.buf + s->ps[i].off, s->ps[i].len);
}

/*
 * The pseudo-fields come first (nghttp2 checks it), so at the first other
 * field, or at the end of the block, the request line and Host from
 * :authority go into s->in, and the other fields' lines follow them there.
 */
static void head_begin(struct h2_stream *s)
{
	if (s->line_done) {
		return;
	}
	s->line_done = true;
	if (!s->ps[H2_PS_METHOD].set || !s->ps[H2_PS_PATH].set) {
		return; /* stream_start refuses it */
	}
	sbuf_grow(&s->in, s->pseudo.len + 256);
	pseudo_add(s, H2_PS_METHOD);
	sbuf_addch(&s->in, ' ');
	pseudo_add(s, H2_PS_PATH);
	sbuf_add(&s->in, " HTTP/1.1\r\n", 11);
	if (s->ps[H2_PS_AUTHORITY].set) {
		sbuf_add(&s->in, "Host: ", 6);
		pseudo_add(s, H2_PS_AUTHORITY);
		sbuf_add(&s->in, "\r\n", 2);
	}
}

/* A field name is lit (lowercase: nghttp2 refuses others); the length is compared first. */
#define name_is(name, len, lit)                                                                    \
	((len) == sizeof(lit) - 1 && !memcmp((name), (lit), sizeof(lit) - 1))

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s = stream_of(sess, f->hd.stream_id);

	/* Trailers (a second HEADERS) are dropped. */
	if (!s || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	s->hdr_bytes += namelen + valuelen + 4;
	if (s->too_big || s->hdr_bytes > h->w->cfg->max_head) {
		s->too_big = true;
		return 0;
	}
	if (namelen && name[0] == ':') {
		/* nghttp2 checked the pseudo-fields: each once, before the others. */
		if (name_is(name, namelen, ":method")) {
			pseudo_set(s, H2_PS_METHOD, value, valuelen);
		} else if (name_is(name, namelen, ":path")) {
			pseudo_set(s, H2_PS_PATH, value, valuelen);
		} else if (name_is(name, namelen, ":authority")) {
			pseudo_set(s, H2_PS_AUTHORITY, value, valuelen);
		}
		return 0;
	}
	if (name_is(name, namelen, "cookie")) {
		if (s->cookies.len) {
			sbuf_addstr(&s->cookies, "; ");
		}
		sbuf_add(&s->cookies, value, valuelen);
		return 0;
	}
	head_begin(s);
	/* :authority wins over host (RFC 9113 8.3.1); host is used without one. */
	if (name_is(name, namelen, "host")) {
		if (!s->ps[H2_PS_AUTHORITY].set && !s->has_host) {
			s->has_host = true;
			sbuf_add(&s->in, "Host: ", 6);
			sbuf_add(&s->in, value, valuelen);
			sbuf_add(&s->in, "\r\n", 2);
		}
		return 0;
	}
	if (name_is(name, namelen, "content-length")) {
		s->has_cl = true;
	}
	sbuf_add(&s->in, name, namelen);
	sbuf_add(&s->in, ": ", 2);
	sbuf_add(&s->in, value, valuelen);
	sbuf_add(&s->in, "\r\n", 2);
	return 0;
}

/* Answers s with an error of this module (no exchange: the request was not read). */
static void stream_answer(struct h2_stream *s, unsigned status, const char *body)
{
	struct http1_msg *m = &rs_msg;
	char head[128];

	snprintf(head, sizeof(head),
		 "HTTP/1.1 %u Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
		 "content-length: %zu\r\n\r\n",
		 status, strlen(body));
	if (http1_parse_response(head, strlen(head), NULL, SLICE_LIT("GET"), m) <= 0) {
		return;
	}
	s->body = HTTP1_BODY_LENGTH;
	s->left = 0;
	sbuf_addstr(&s->out, body);
	s->out_eof = true;
	s->rs = H2_RS_DONE;
	s->out_shut = true;
	submit_head(s, m);
}

/* The request's header block is whole: its client is made, reading the head built here. */
static void stream_start(struct h2_conn *h, struct h2_stream *s, bool end)
{
	const struct h2_field *method = &s->ps[H2_PS_METHOD];
	struct client *cl;

	s->started = true;
	head_begin(s);
	if (s->too_big) {
		sbuf_release(&s->in);
		stream_answer(s, 431, "431 Request Header Fields Too Large\n");
		return;
	}
	if (!method->set || !s->ps[H2_PS_PATH].set) {
		sbuf_release(&s->in);
		nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id,
					  NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	s->is_head = method->len == 4 && !memcmp(s->pseudo.buf + method->off, "HEAD", 4);
	if (s->cookies.len) {
		sbuf_addstr(&s->in, "cookie: ");
		sbuf_add(&s->in, s->cookies.buf, s->cookies.len);
		sbuf_addstr(&s->in, "\r\n");
	}
	/* A body of unknown length goes chunked, each DATA frame a chunk. */
	s->chunked = !end && !s->has_cl;
	sbuf_addstr(&s->in, s->chunked ? "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
				       : "Connection: close\r\n\r\n");
	sbuf_release(&s->pseudo);
	sbuf_release(&s->cookies);
	s->in_eof = end;

	cl = client_new(h->w, -1, &h2_stream_io);
	cl->c.io_data = s;
	cl->used = true;
	/*
	 * A request without a body is its head alone: the client parses it
	 * where it was built instead of reading a copy into a buffer of its
	 * own (a malloc'd one, which buf_put frees). One that fits the usual
	 * buffer only: a longer head takes the usual way to its 431.
	 */
	if (end && s->in.len < BUF_SIZE) {
		cl->buf = sbuf_detach(&s->in, &cl->len);
		cl->cap = cl->len;
	}
	cl->tls = h->cl->tls; /* X-Forwarded-Proto, HSTS and the log say https */
	memcpy(&cl->peer, &h->cl->peer, sizeof(cl->peer));
	s->cl = cl;
	stream_pend(s, CONN_F_CAN_READ | CONN_F_CAN_WRITE);
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s = f->hd.stream_id ? stream_of(sess, f->hd.stream_id) : NULL;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) {
		h->pong = true; /* the only PING we send is a drain's */
		return 0;
	}
	if (!s) {
		return 0;
	}
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (!s->started) {
			stream_start(h, s, end);
			return 0;
		}
		break;
	case NGHTTP2_DATA:
		break;
	default:
		return 0;
	}
	if (end && !s->in_eof) {
		s->in_eof = true;
		if (s->chunked && s->cl) {
			sbuf_addstr(&s->in, "0\r\n\r\n");
		}
		stream_pend(s, CONN_F_CAN_READ);
	}
	return 0;
}

static int on_data(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
		   size_t len, void *ud)
{
	struct h2_stream *s = stream_of(sess, id);

	if (!s || !len) {
		return 0;
	}
	s->unconsumed += len;
	if (!s->cl) {
		/* Nobody reads it: its window opens again at once. */
		stream_consume(s, len);
		return 0;
	}
	if (s->chunked) {
		sbuf_addf(&s->in, "%zx\r\n", len);
		sbuf_add(&s->in, data, len);
		sbuf_addstr(&s->in, "\r\n");
	} else {
		sbuf_add(&s->in, data, len);
	}
	stream_pend(s, CONN_F_CAN_READ);
	return 0;
}

static int on_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct h2_stream *s;

	if (!f->hd.stream_id || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		return 0;
	}
	s = stream_of(sess, f->hd.stream_id);
	if (!s) {
		return 0;
	}
	s->end_sent = true;
	/* The response is whole while the request is not: the client need not send the rest. */
	if (!s->in_eof) {
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s = stream_of(sess, id);

	if (!s) {
		return 0;
	}
	s->closed = true;
	if (s->end_sent && s->submitted) {
		h->completed++;
	} else if (!s->we_reset) {
		/* Reset by the client (or refused) before its answer: rapid reset counts these. */
		h->aborted++;
		if (h->aborted > H2_RESET_BUDGET + h->completed) {
			h->calm = true;
		}
	}
	if (!s->cl) {
		stream_free(s);
		return 0;
	}
	if (!s->end_sent) {
		/* A request not read yet is dropped: no exchange starts for it. */
		s->reset = true;
		s->in_pos = 0;
		sbuf_reset(&s->in);
		stream_pend(s, CONN_F_CAN_READ | CONN_F_CAN_WRITE | CONN_F_HUP);
	}
	return 0;
}

/* Connections */

static void conn_timeout(struct timer *t);

static nghttp2_session_callbacks *session_cbs; /* the same for every session, made once */

static void callbacks_init(void)
{
	if (nghttp2_session_callbacks_new(&session_cbs)) {
		xdie("out of memory");
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(session_cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(session_cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(session_cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(session_cbs, on_data);
	nghttp2_session_callbacks_set_on_frame_send_callback(session_cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(session_cbs, on_stream_close);
}

static nghttp2_session_callbacks *callbacks(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, callbacks_init);
	return session_cbs;
}

void h2_start(struct client *cl)
{
	struct worker *w = cl->w;
	struct h2_conn *h = xcalloc(1, sizeof(*h));
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)w->cfg->max_head},
	};

	h->cl = cl;
	h->w = w;
	h->active = w->now;
	/* A connection whose handshake ended after a drain began gets its GOAWAY too. */
	h->drain = atomic_load_explicit(&w->draining, memory_order_relaxed);
	dlist_init(&h->streams);
	dlist_init(&h->pending);
	dlist_init(&h->dlink);
	sbuf_init(&h->ob, 0);
	sbuf_init(&h->early, 0);
	h->tm = (struct timer)TIMER_INIT(conn_timeout);
	if (nghttp2_option_new(&opt)) {
		xdie("out of memory");
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_continuations(opt, H2_MAX_CONT);
	nghttp2_option_set_max_outbound_ack(opt, H2_MAX_ACKS);
	if (nghttp2_session_server_new2(&h->sess, callbacks(), h, opt)) {
		xdie("out of memory");
	}
	nghttp2_option_del(opt);
	nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);

	/* What came with the preface is fed first; the client's buffer is not needed again. */
	if (cl->buf) {
		sbuf_add(&h->early, cl->buf + cl->pos, cl->len - cl->pos);
	}
	buf_put(w, cl->buf, cl->cap);
	cl->buf = NULL;
	cl->cap = cl->pos = cl->len = 0;
	timer_cancel(&w->timers, &cl->tm);
	cl->tmode = TM_NONE;
	cl->h2 = h;
	dlist_add(&w->h2_conns, &h->link);
	timer_arm(&w->timers, &h->tm, w->now + w->cfg->idle_timeout_ms / 2 + 1);
	conn_dirty(h);
}

void h2_release(struct client *cl)
{
	struct h2_conn *h = cl->h2;
	struct worker *w = cl->w;
	struct dlist *n, *next;

	if (!h) {
		return;
	}
	h->closing = true;
	for (n = h->streams.next; n != &h->streams; n = n->next) {
		struct h2_stream *s = container_of(n, struct h2_stream, link);

		if (s->cl) {
			client_close(s->cl);
		}
	}
	nghttp2_session_del(h->sess);
	for (n = h->streams.next; n != &h->streams; n = next) {
		next = n->next;
		stream_free(container_of(n, struct h2_stream, link));
	}
	if (h->dirty) {
		dlist_del(&h->dlink);
	}
	dlist_del(&h->link);
	timer_cancel(&w->timers, &h->tm);
	sbuf_release(&h->ob);
	sbuf_release(&h->early);
	cl->h2 = NULL;
	free(h);
}

/* Ends the connection: h is freed. */
static void conn_close(struct h2_conn *h)
{
	client_close(h->cl);
}

/*
 * Ends the connection after its last frames went (a GOAWAY among them):
 * h is freed and the client lingers, so that frames it sent meanwhile do
 * not turn the close into a reset that overtakes the GOAWAY.
 */
static void conn_linger(struct h2_conn *h)
{
	struct client *cl = h->cl;

	h2_release(cl);
	client_linger(cl);
	client_drive(cl);
}

/* Feeds bytes to the session. false when the connection must end. */
static bool conn_recv(struct h2_conn *h, const char *p, size_t n)
{
	ssize_t r = nghttp2_session_mem_recv(h->sess, (const uint8_t *)p, n);

	if (r < 0) {
		/* A GOAWAY says why, as far as the socket takes it before the close. */
		if (r == NGHTTP2_ERR_FLOODED || r == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
			nghttp2_session_terminate_session(h->sess, NGHTTP2_ENHANCE_YOUR_CALM);
		} else if (r != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
			nghttp2_session_terminate_session(h->sess, NGHTTP2_PROTOCOL_ERROR);
		}
		return false;
	}
	if (h->calm) {
		nghttp2_session_terminate_session(h->sess, NGHTTP2_ENHANCE_YOUR_CALM);
	}
	return true;
}

/* Moves frames from the session to the socket. -1: the socket failed. */
static int conn_send(struct h2_conn *h)
{
	struct conn *c = &h->cl->c;

	for (;;) {
		const uint8_t *p;
		ssize_t n;

		while (h->ob.len - h->ob_pos < H2_SOCK_CAP) {
			n = nghttp2_session_mem_send(h->sess, &p);
			if (n <= 0) {
				break;
			}
			sbuf_add(&h->ob, p, (size_t)n);
		}
		if (h->ob_pos == h->ob.len) {
			return 0;
		}
		if (!(c->flags & CONN_F_CAN_WRITE)) {
			return 0;
		}
		n = conn_write(c, h->ob.buf + h->ob_pos, h->ob.len - h->ob_pos);
		if (n < 0) {
			return -1;
		}
		if (!n) {
			return 0;
		}
		h->active = h->w->now;
		h->ob_pos += (size_t)n;
		if (h->ob_pos == h->ob.len) {
			/* An idle connection keeps no buffer: it costs its session alone. */
			h->ob_pos = 0;
			if (h->nr_streams) {
				sbuf_reset(&h->ob);
			} else {
				sbuf_release(&h->ob);
			}
		}
	}
}

/*
 * Reads, drives the streams and writes until nothing moves (or a bounded
 * number of rounds: the rest waits for the next iteration).
 */
static void conn_run(struct h2_conn *h)
{
	struct conn *c = &h->cl->c;
	char buf[16384];
	bool fail = false;
	int round;

	h->running = true;
	for (round = 0; round < H2_RUN_ROUNDS; round++) {
		bool moved = false;

		h->again = false;
		if (h->early.len) {
			fail = !conn_recv(h, h->early.buf, h->early.len);
			sbuf_release(&h->early);
			moved = true;
		}
		while (!fail && (c->flags & CONN_F_CAN_READ) &&
		       nghttp2_session_want_read(h->sess) && h->ob.len - h->ob_pos < H2_SOCK_CAP) {
			ssize_t n = conn_read(c, buf, sizeof(buf));

			if (n == -2) {
				break;
			}
			if (n <= 0) {
				conn_close(h);
				return;
			}
			h->active = h->w->now;
			moved = true;
			fail = !conn_recv(h, buf, (size_t)n);
		}
		/*
		 * A drain goes as RFC 9113 6.8 says: a first GOAWAY that refuses
		 * nothing, and a PING. Streams the client opened before it read
		 * that are served, as an HTTP/1.1 request already in the buffer
		 * is. Once the PING is back (or H2_NOTICE_MS passed) the final
		 * GOAWAY names the last stream read; the client sends later ones
		 * again elsewhere.
		 */
		if (!fail && h->drain && !h->noticed) {
			h->noticed = true;
			h->noticed_at = h->w->now;
			nghttp2_submit_shutdown_notice(h->sess);
			nghttp2_submit_ping(h->sess, NGHTTP2_FLAG_NONE, NULL);
			timer_arm(&h->w->timers, &h->tm, h->w->now + H2_NOTICE_MS);
			moved = true;
		}
		if (!fail && h->noticed && !h->drained &&
		    (h->pong || h->w->now - h->noticed_at >= H2_NOTICE_MS)) {
			h->drained = true;
			nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(h->sess),
					      NGHTTP2_NO_ERROR, NULL, 0);
			moved = true;
		}
		while (!fail && h->pending.next != &h->pending) {
			struct h2_stream *s =
			    container_of(h->pending.next, struct h2_stream, plink);
			struct client *scl = s->cl;

			dlist_del(&s->plink);
			s->in_pending = false;
			moved = true;
			if (scl) {
				client_drive(scl);
			}
		}
		if (conn_send(h) < 0) {
			conn_close(h);
			return;
		}
		if (fail || (!moved && !h->again)) {
			break;
		}
	}
	h->running = false;
	if (fail) {
		conn_close(h);
		return;
	}
	if (!nghttp2_session_want_read(h->sess) && !nghttp2_session_want_write(h->sess) &&
	    h->ob_pos == h->ob.len) {
		conn_linger(h);
		return;
	}
	/* The rest waits for the next loop iteration, which does not block for it. */
	if (h->again || round == H2_RUN_ROUNDS) {
		conn_dirty(h);
	}
}

void h2_event(struct client *cl, uint32_t ev)
{
	struct h2_conn *h = cl->h2;

	conn_set_events(&cl->c, ev);
	if (ev & EPOLLERR) {
		conn_close(h);
		return;
	}
	conn_dirty(h);
}

void h2_flush(struct worker *w)
{
	struct dlist list;

	if (w->h2_dirty.next == &w->h2_dirty) {
		return;
	}
	/* Those made dirty while these run wait for the next loop iteration. */
	list = w->h2_dirty;
	list.next->prev = &list;
	list.prev->next = &list;
	dlist_init(&w->h2_dirty);
	while (list.next != &list) {
		struct h2_conn *h = container_of(list.next, struct h2_conn, dlink);

		dlist_del(&h->dlink);
		h->dirty = false;
		conn_run(h);
	}
}

/*
 * Every half idle timeout: a stream whose response has not moved for the
 * idle timeout is reset; the connection is closed when its socket took
 * nothing for that long while frames waited, or when it had no stream.
 */
static void conn_timeout(struct timer *t)
{
	struct h2_conn *h = container_of(t, struct h2_conn, tm);
	struct worker *w = h->w;
	uint64_t idle = w->cfg->idle_timeout_ms;
	struct dlist *n;

	if (h->noticed && !h->drained) {
		conn_dirty(h); /* no PING came back: the final GOAWAY goes anyway */
	}
	if (w->now - h->active >= idle && (h->ob_pos < h->ob.len || !h->nr_streams)) {
		if (!h->nr_streams) {
			nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(h->sess),
					      NGHTTP2_NO_ERROR, NULL, 0);
			if (conn_send(h) == 0 && h->ob_pos == h->ob.len) {
				conn_linger(h);
				return;
			}
		}
		conn_close(h);
		return;
	}
	for (n = h->streams.next; n != &h->streams; n = n->next) {
		struct h2_stream *s = container_of(n, struct h2_stream, link);

		/* Its response is stuck behind the client's window. */
		if (!s->closed && !s->we_reset && s->out_pos < s->out.len &&
		    w->now - s->moved >= idle) {
			s->we_reset = true;
			nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id,
						  NGHTTP2_CANCEL);
			conn_dirty(h);
		}
	}
	timer_arm(&w->timers, &h->tm, w->now + idle / 2 + 1);
}

void h2_drain(struct worker *w)
{
	struct dlist *n;

	for (n = w->h2_conns.next; n != &w->h2_conns; n = n->next) {
		struct h2_conn *h = container_of(n, struct h2_conn, link);

		h->drain = true;
		h->cl->c.flags |= CONN_F_CAN_READ; /* one last read, as for HTTP/1.1 */
		conn_dirty(h);
	}
}

void h2_stop(struct worker *w)
{
	struct dlist *n;

	for (n = w->h2_conns.next; n != &w->h2_conns; n = n->next) {
		struct h2_conn *h = container_of(n, struct h2_conn, link);

		nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(h->sess),
				      NGHTTP2_NO_ERROR, NULL, 0);
		h->cl->c.flags |= CONN_F_CAN_WRITE;
		conn_send(h);
	}
}
