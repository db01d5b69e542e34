/*
 * HTTP/2 connections are the proxy's other exposed input: arbitrary bytes
 * (after the client preface) go into a server session, in two pieces, through
 * an in-memory socket; each stream's client reads its request as HTTP/1.1
 * and, by its stream id, answers whole, answers half and fails, or never
 * answers (then the connection is closed under it). The request it reads
 * must end where its head says, or be refused by the HTTP/1.1 parser.
 * The .c file is included and server.c's part is played here.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h2.c"

#include "fuzz-http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sbuf to_server;
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

#define MAX_CLIENTS 512

static struct client *clients[MAX_CLIENTS];
static int nr_clients;

struct client *client_new(struct worker *w, int fd, const struct conn_io *io)
{
	struct client *cl = xcalloc(1, sizeof(*cl));

	FUZZ_CHECK(nr_clients < MAX_CLIENTS);
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

/* A connection that ends gently: its session is gone, as it is after the linger. */
void client_linger(struct client *cl)
{
	cl->lingering = true;
}

static void respond(struct client *cl, const char *resp)
{
	struct iovec v = {(void *)resp, strlen(resp)};

	cl->c.io->writev(&cl->c, &v, 1);
}

/* The exchange: reads the request, then answers as the stream id says. */
void client_drive(struct client *cl)
{
	struct h2_stream *s = cl->c.io_data;
	static struct http1_msg m;
	char buf[4096];
	ssize_t n;
	int r;

	/* The connection itself, lingering after its end: nothing to answer. */
	if ((cl->c.flags & CONN_F_DEAD) || cl->lingering) {
		return;
	}
	while ((n = cl->c.io->read(&cl->c, buf, sizeof(buf))) > 0) {
		if (!cl->buf) {
			cl->buf = xmalloc(1);
		}
		cl->buf = xrealloc(cl->buf, cl->len + (size_t)n);
		memcpy(cl->buf + cl->len, buf, (size_t)n);
		cl->len += (size_t)n;
	}
	if (n < 0 && errno != EAGAIN) {
		client_close(cl);
		return;
	}
	if (cl->x || !cl->len) {
		return;
	}
	r = http1_parse_request(cl->buf, cl->len, NULL, &m);
	if (r == 0) {
		return;
	}
	cl->x = (struct exch *)cl; /* answered: only a marker */
	if (r > 0) {
		FUZZ_CHECK((size_t)r <= cl->len);
	}
	switch (s->id % 3) {
	case 0:
		respond(cl, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n"
			    "3\r\nabc\r\n0\r\n\r\n");
		cl->c.io->shutdown(&cl->c);
		client_close(cl);
		break;
	case 1:
		respond(cl, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
			    "Content-Length: 10\r\n\r\nhalf");
		client_close(cl);
		break;
	default:
		break;
	}
}

void buf_put(struct worker *w, char *b, size_t cap)
{
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server_config cfg = {.max_head = 4096, .idle_timeout_ms = 1000};
	struct worker w;
	struct client *cl;
	size_t cut = size ? data[0] % (size + 1) : 0;
	int i, round;

	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	w.timers = (struct timer_heap)TIMER_HEAP_INIT;
	w.now = 1000;
	dlist_init(&w.h2_conns);
	dlist_init(&w.h2_dirty);
	sbuf_init(&to_server, 0);
	ts_pos = 0;
	nr_clients = 0;
	cl = client_new(&w, 100, &mem_io);
	h2_start(cl);
	sbuf_addstr(&to_server, H2_PREFACE);
	sbuf_add(&to_server, data, cut);
	for (round = 0; round < 2 && !(cl->c.flags & CONN_F_DEAD) && cl->h2; round++) {
		h2_event(cl, EPOLLIN | EPOLLOUT);
		h2_flush(&w);
		sbuf_add(&to_server, data + cut, size - cut);
		/* The idle timer: stalled streams are reset. */
		w.now += 2000;
		timer_run(&w.timers, w.now);
	}
	client_close(cl);
	for (i = 0; i < nr_clients; i++) {
		free(clients[i]->buf);
		free(clients[i]);
	}
	timer_heap_release(&w.timers);
	sbuf_release(&to_server);
	return 0;
}
