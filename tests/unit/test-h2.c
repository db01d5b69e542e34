/*
 * HTTP/2 streams as HTTP/1.1 clients: a real nghttp2 client session talks
 * to h2.c through an in-memory socket, and the test plays the exchange,
 * reading each stream's request as HTTP/1.1 bytes and writing a response
 * as an upstream would. The .c file is included (as h2o tests its proxy)
 * and server.c's part is played here.
 */
#include <stdio.h>
#include <string.h>

#include "proxy/h2.c"

#include "unit.h"

/* The connection's socket, in memory. */
static struct sbuf to_server, to_client;
static size_t ts_pos;

static ssize_t mem_read(struct conn *c, void *buf, size_t len)
{
	size_t n = to_server.len - ts_pos < len ? to_server.len - ts_pos : len;

	if (!n) {
		errno = EAGAIN;
		return -1;
	}
	memcpy(buf, to_server.buf + ts_pos, n);
	ts_pos += n;
	return (ssize_t)n;
}

static ssize_t mem_writev(struct conn *c, const struct iovec *iov, int nr)
{
	ssize_t n = 0;
	int i;

	for (i = 0; i < nr; i++) {
		sbuf_add(&to_client, iov[i].iov_base, iov[i].iov_len);
		n += (ssize_t)iov[i].iov_len;
	}
	return n;
}

static void mem_shutdown(struct conn *c)
{
}

static void mem_close(struct conn *c)
{
}

static const struct conn_io mem_io = {mem_read, mem_writev, mem_shutdown, mem_close, NULL};

/* server.c's part: stream clients are kept for the test to act on. */
static struct client *clients[16];
static int nr_clients;

struct client *client_new(struct worker *w, int fd, const struct conn_io *io)
{
	struct client *cl = xcalloc(1, sizeof(*cl));

	cl->w = w;
	cl->c.fd = fd;
	cl->c.io = io;
	cl->c.flags = CONN_F_CAN_READ | CONN_F_CAN_WRITE;
	clients[nr_clients++] = cl;
	return cl;
}

void client_close(struct client *cl)
{
	if (cl->c.flags & CONN_F_DEAD) {
		return;
	}
	if (cl->h2) {
		h2_release(cl);
	}
	cl->c.io->close(&cl->c);
	cl->c.flags |= CONN_F_DEAD;
}

void client_drive(struct client *cl)
{
}

void client_linger(struct client *cl)
{
	cl->lingering = true;
}

void buf_put(struct worker *w, char *b, size_t cap)
{
	free(b);
}

/* The client's side: a real nghttp2 client session. */
struct seen {
	struct sbuf head, body;
	bool closed;
	uint32_t code;
};

static int c_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
		    const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct seen *r = ud;

	sbuf_add(&r->head, name, namelen);
	sbuf_addstr(&r->head, ": ");
	sbuf_add(&r->head, value, valuelen);
	sbuf_addch(&r->head, '\n');
	return 0;
}

static int c_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		  void *ud)
{
	sbuf_add(&((struct seen *)ud)->body, data, len);
	return 0;
}

/* The GOAWAYs the client read: their last stream ids, in order. */
static int32_t goaways[4];
static int nr_goaways;

static int c_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	if (f->hd.type == NGHTTP2_GOAWAY && nr_goaways < 4) {
		goaways[nr_goaways++] = f->goaway.last_stream_id;
	}
	return 0;
}

static int c_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct seen *r = ud;

	r->closed = true;
	r->code = code;
	return 0;
}

struct fixture {
	struct server_config cfg;
	struct worker w;
	struct client *cl; /* the connection */
	nghttp2_session *peer;
	struct seen seen;
};

static void setup(struct fixture *f)
{
	nghttp2_session_callbacks *cbs;

	memset(f, 0, sizeof(*f));
	f->cfg.max_head = 4096;
	f->cfg.idle_timeout_ms = 60000;
	f->w.cfg = &f->cfg;
	f->w.timers = (struct timer_heap)TIMER_HEAP_INIT;
	f->w.now = 1000;
	dlist_init(&f->w.h2_conns);
	dlist_init(&f->w.h2_dirty);
	sbuf_init(&to_server, 0);
	sbuf_init(&to_client, 0);
	ts_pos = 0;
	nr_clients = 0;
	nr_goaways = 0;
	sbuf_init(&f->seen.head, 0);
	sbuf_init(&f->seen.body, 0);
	f->cl = client_new(&f->w, 100, &mem_io);
	h2_start(f->cl);

	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_on_header_callback(cbs, c_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, c_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, c_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, c_frame);
	nghttp2_session_client_new(&f->peer, cbs, &f->seen);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(f->peer, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void teardown(struct fixture *f)
{
	int i;

	client_close(f->cl);
	for (i = 0; i < nr_clients; i++) {
		free(clients[i]->buf);
		free(clients[i]);
	}
	nghttp2_session_del(f->peer);
	timer_heap_release(&f->w.timers);
	sbuf_release(&to_server);
	sbuf_release(&to_client);
	sbuf_release(&f->seen.head);
	sbuf_release(&f->seen.body);
}

/* Moves frames both ways until neither side has more to say. */
static void pump(struct fixture *f)
{
	int i;

	for (i = 0; i < 8; i++) {
		const uint8_t *p;
		ssize_t n;

		while ((n = nghttp2_session_mem_send(f->peer, &p)) > 0) {
			sbuf_add(&to_server, p, (size_t)n);
		}
		if (!(f->cl->c.flags & CONN_F_DEAD) && f->cl->h2) {
			h2_event(f->cl, EPOLLIN | EPOLLOUT);
			h2_flush(&f->w);
		}
		if (to_client.len) {
			CHECK(nghttp2_session_mem_recv(f->peer, (const uint8_t *)to_client.buf,
						       to_client.len) == (ssize_t)to_client.len);
			sbuf_reset(&to_client);
		}
	}
}

/* What the stream's client reads: its request as HTTP/1.1, the part handed over in its buffer
 * first. */
static void read_all(struct client *cl, struct sbuf *out)
{
	char buf[256];
	ssize_t n;

	if (cl->len > cl->pos) {
		sbuf_add(out, cl->buf + cl->pos, cl->len - cl->pos);
		cl->pos = cl->len;
	}
	while ((n = cl->c.io->read(&cl->c, buf, sizeof(buf))) > 0) {
		sbuf_add(out, buf, (size_t)n);
	}
}

static void respond(struct client *cl, const char *resp)
{
	struct iovec v = {(void *)resp, strlen(resp)};

	CHECK(cl->c.io->writev(&cl->c, &v, 1) == (ssize_t)strlen(resp));
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE \
	}

static void test_preface(void)
{
	CHECK(h2_preface(H2_PREFACE, sizeof(H2_PREFACE) - 1) == 1);
	CHECK(h2_preface(H2_PREFACE "more", sizeof(H2_PREFACE) + 3) == 1);
	CHECK(h2_preface("PRI * HT", 8) == 0);
	CHECK(h2_preface("", 0) == 0);
	CHECK(h2_preface("GET / HTTP/1.1\r\n", 16) == -1);
	CHECK(h2_preface("PRI * HTTP/1.1\r\n", 16) == -1);
}

static void test_get(void)
{
	struct fixture f;
	struct sbuf req = SBUF_INIT;
	nghttp2_nv nv[] = {NV(":method", "GET"),  NV(":scheme", "http"),
			   NV(":path", "/p?q=1"), NV(":authority", "web.test"),
			   NV("cookie", "a=1"),	  NV("user-agent", "t"),
			   NV("cookie", "b=2")};

	setup(&f);
	CHECK(nghttp2_submit_request(f.peer, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, NULL) ==
	      1);
	pump(&f);
	CHECK(nr_clients == 2);
	read_all(clients[1], &req);
	CHECK_STR(req.buf, "GET /p?q=1 HTTP/1.1\r\nHost: web.test\r\nuser-agent: t\r\n"
			   "cookie: a=1; b=2\r\nConnection: close\r\n\r\n");
	/* The exchange's response, chunked, with the fields HTTP/2 has no place for. */
	respond(clients[1], "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			    "Transfer-Encoding: chunked\r\nConnection: close\r\nX-App: 1\r\n\r\n"
			    "5\r\nhello\r\n");
	respond(clients[1], "6\r\n world\r\n0\r\nx-trailer: dropped\r\n\r\n");
	clients[1]->c.io->shutdown(&clients[1]->c);
	client_close(clients[1]);
	pump(&f);
	CHECK_STR(f.seen.head.buf, ":status: 200\ncontent-type: text/plain\nx-app: 1\n");
	CHECK_STR(f.seen.body.buf, "hello world");
	CHECK(f.seen.closed && f.seen.code == NGHTTP2_NO_ERROR);
	/* Idle again: the connection holds no buffer of frames. */
	CHECK(f.cl->h2->nr_streams == 0 && f.cl->h2->ob.alloc == 0);
	sbuf_release(&req);
	teardown(&f);
}

/* Host: :authority wins over a host field (RFC 9113 8.3.1), used without one. */
static void test_host(void)
{
	struct fixture f;
	struct sbuf req = SBUF_INIT, req2 = SBUF_INIT;
	nghttp2_nv nv[] = {NV(":method", "HEAD"), NV(":scheme", "http"), NV(":path", "/a"),
			   NV("host", "one.test"), NV("x-a", "1")};
	nghttp2_nv nv2[] = {NV(":path", "/b"), NV(":method", "GET"), NV(":scheme", "http"),
			    NV(":authority", "auth.test"), NV("host", "other.test")};

	setup(&f);
	nghttp2_submit_request(f.peer, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, NULL);
	nghttp2_submit_request(f.peer, NULL, nv2, sizeof(nv2) / sizeof(nv2[0]), NULL, NULL);
	pump(&f);
	CHECK(nr_clients == 3);
	read_all(clients[1], &req);
	read_all(clients[2], &req2);
	CHECK_STR(req.buf,
		  "HEAD /a HTTP/1.1\r\nHost: one.test\r\nx-a: 1\r\nConnection: close\r\n\r\n");
	CHECK_STR(req2.buf, "GET /b HTTP/1.1\r\nHost: auth.test\r\nConnection: close\r\n\r\n");
	CHECK(((struct h2_stream *)clients[1]->c.io_data)->is_head);
	CHECK(!((struct h2_stream *)clients[2]->c.io_data)->is_head);
	sbuf_release(&req);
	sbuf_release(&req2);
	teardown(&f);
}

static ssize_t body_src(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			nghttp2_data_source *src, void *ud)
{
	memcpy(buf, "hello", 5);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return 5;
}

static void test_body_unknown_length(void)
{
	struct fixture f;
	struct sbuf req = SBUF_INIT;
	nghttp2_nv nv[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/echo"),
			   NV(":authority", "web.test")};
	nghttp2_data_provider prd = {.read_callback = body_src};

	setup(&f);
	nghttp2_submit_request(f.peer, NULL, nv, sizeof(nv) / sizeof(nv[0]), &prd, NULL);
	pump(&f);
	CHECK(nr_clients == 2);
	read_all(clients[1], &req);
	CHECK_STR(req.buf, "POST /echo HTTP/1.1\r\nHost: web.test\r\n"
			   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
			   "5\r\nhello\r\n0\r\n\r\n");
	/* A HEAD-less response delimited by the end of the connection ends with the shutdown. */
	respond(clients[1], "HTTP/1.1 200 OK\r\n\r\nall of it");
	pump(&f);
	CHECK(!f.seen.closed);
	clients[1]->c.io->shutdown(&clients[1]->c);
	client_close(clients[1]);
	pump(&f);
	CHECK_STR(f.seen.body.buf, "all of it");
	CHECK(f.seen.closed && f.seen.code == NGHTTP2_NO_ERROR);
	sbuf_release(&req);
	teardown(&f);
}

static size_t big_left;

static ssize_t big_src(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		       nghttp2_data_source *src, void *ud)
{
	size_t n = len < big_left ? len : big_left;

	memset(buf, 'x', n);
	big_left -= n;
	if (!big_left) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	}
	return (ssize_t)n;
}

/* An upload goes only as fast as the exchange reads it: the window opens as it does. */
static void test_upload_follows_reader(void)
{
	struct fixture f;
	struct sbuf req = SBUF_INIT;
	nghttp2_nv nv[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/echo"),
			   NV(":authority", "web.test"), NV("content-length", "300000")};
	nghttp2_data_provider prd = {.read_callback = big_src};
	struct h2_stream *s;
	int i;

	setup(&f);
	big_left = 300000;
	nghttp2_submit_request(f.peer, NULL, nv, sizeof(nv) / sizeof(nv[0]), &prd, NULL);
	pump(&f);
	CHECK(nr_clients == 2);
	s = clients[1]->c.io_data;
	/* Nobody read yet: no more than the stream's window came. */
	CHECK(s->in.len - s->in_pos <= H2_STREAM_WINDOW + 200);
	CHECK(big_left > 0);
	for (i = 0; i < 100 && (big_left || s->in.len > s->in_pos); i++) {
		read_all(clients[1], &req);
		pump(&f);
		CHECK(s->in.len - s->in_pos <= H2_STREAM_WINDOW);
	}
	CHECK(!big_left);
	read_all(clients[1], &req);
	CHECK(req.len > 300000 && !memcmp(req.buf + req.len - 5, "xxxxx", 5));
	CHECK(strstr(req.buf, "content-length: 300000\r\n") != NULL);
	sbuf_release(&req);
	teardown(&f);
}

static void test_cut_off(void)
{
	struct fixture f;
	nghttp2_nv nv[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"),
			   NV(":authority", "web.test")};

	setup(&f);
	nghttp2_submit_request(f.peer, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, NULL);
	pump(&f);
	respond(clients[1], "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
	pump(&f);
	CHECK(!f.seen.closed);
	/* The upstream failed: the client learns that the response is not whole. */
	client_close(clients[1]);
	pump(&f);
	CHECK_STR(f.seen.body.buf, "half");
	CHECK(f.seen.closed && f.seen.code == NGHTTP2_INTERNAL_ERROR);
	teardown(&f);
}

static void test_too_big(void)
{
	struct fixture f;
	static char big[5000];
	nghttp2_nv nv[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"),
			   NV(":authority", "web.test"), NV("x-big", "")};

	memset(big, 'a', sizeof(big) - 1);
	nv[4].value = (uint8_t *)big;
	nv[4].valuelen = sizeof(big) - 1;
	setup(&f);
	nghttp2_submit_request(f.peer, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, NULL);
	pump(&f);
	CHECK(nr_clients == 1); /* no exchange for it */
	CHECK(!strncmp(f.seen.head.buf, ":status: 431\n", 13));
	CHECK(f.seen.closed);
	teardown(&f);
}

/* A field that would smuggle a line into the HTTP/1.1 head is refused, never forwarded. */
static void test_injection(void)
{
	struct fixture f;
	nghttp2_nv nv[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"),
			   NV(":authority", "web.test"), NV("x-a", "1\r\nX-Injected: 1")};
	nghttp2_nv nv2[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"),
			    NV(":authority", "web.test\r\nX-Injected: 1")};

	setup(&f);
	nghttp2_submit_request(f.peer, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, NULL);
	nghttp2_submit_request(f.peer, NULL, nv2, sizeof(nv2) / sizeof(nv2[0]), NULL, NULL);
	pump(&f);
	CHECK(nr_clients == 1);
	CHECK(f.seen.closed && f.seen.code == NGHTTP2_PROTOCOL_ERROR);
	teardown(&f);
}

/*
 * A drain: a first GOAWAY refuses nothing, so a stream the client opened
 * while it was on its way is served; the final one, after the PING came
 * back, names it. Then the connection lingers rather than closing at once.
 */
static void test_drain(void)
{
	struct fixture f;
	nghttp2_nv nv[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"),
			   NV(":authority", "web.test")};

	setup(&f);
	CHECK(nghttp2_submit_request(f.peer, NULL, nv, 4, NULL, NULL) == 1);
	pump(&f);
	CHECK(nr_clients == 2);
	h2_drain(&f.w);
	/* In flight when the drain began. */
	CHECK(nghttp2_submit_request(f.peer, NULL, nv, 4, NULL, NULL) == 3);
	pump(&f);
	CHECK(nr_goaways == 2);
	CHECK(goaways[0] == INT32_MAX);
	CHECK(goaways[1] == 3);
	CHECK(nr_clients == 3);
	respond(clients[1], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	client_close(clients[1]);
	CHECK(!f.cl->lingering);
	respond(clients[2], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	client_close(clients[2]);
	pump(&f);
	CHECK_STR(f.seen.body.buf, "okok");
	CHECK(f.cl->h2 == NULL && f.cl->lingering && !(f.cl->c.flags & CONN_F_DEAD));
	teardown(&f);
}

int main(void)
{
	UNIT_RUN(test_preface);
	UNIT_RUN(test_get);
	UNIT_RUN(test_host);
	UNIT_RUN(test_body_unknown_length);
	UNIT_RUN(test_upload_follows_reader);
	UNIT_RUN(test_cut_off);
	UNIT_RUN(test_too_big);
	UNIT_RUN(test_injection);
	UNIT_RUN(test_drain);
	return unit_done();
}
