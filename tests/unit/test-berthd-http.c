/*
 * Tests for berthd's HTTP server pieces (daemon/http.c): request heads,
 * limits, routing, cookies and forms; and, over a real socket, the server
 * answering, keeping a connection alive and refusing what it must.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/http.h"
#include "lib/sbuf.h"
#include "unit.h"

/* Parses a copy of s: the result, and req released. */
static int parse(const char *s)
{
	struct http_request req;
	char *buf = strdup(s);
	int n = http_request_parse(buf, strlen(buf), &req);

	http_request_release(&req);
	free(buf);
	return n;
}

static void test_parse(void)
{
	const char *get = "GET /api/v1/apps?x=1 HTTP/1.1\r\nHost: berth.example.test\r\n"
			  "Cookie: a=1; berth_session=abc; b=2\r\n\r\n";
	struct http_request req;
	char *buf = strdup(get), *v;
	int n = http_request_parse(buf, strlen(buf), &req);

	CHECK_INT(n, strlen(get));
	CHECK_STR(req.method, "GET");
	CHECK_STR(req.path, "/api/v1/apps");
	CHECK_STR(req.query, "x=1");
	v = http_cookie_get(&req, "berth_session");
	CHECK_STR(v, "abc");
	free(v);
	CHECK(http_cookie_get(&req, "berth") == NULL);
	v = http_header_get(&req, "HOST");
	CHECK_STR(v, "berth.example.test");
	free(v);
	http_request_release(&req);
	free(buf);

	/* incomplete, then the limits and refusals */
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: x\r\n"), 0);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), -411);
	CHECK_INT(
	    parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
	    -400);
	CHECK_INT(parse("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), -505);
	CHECK_INT(parse("GET / HTTP/1.1\nHost: x\n\n"), -400);
	CHECK_INT(parse("GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"), -400);
	CHECK_INT(parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\n\r\n"), -400); /* no Host */
	{
		struct sbuf big = SBUF_INIT;
		sbuf_addstr(&big, "GET / HTTP/1.1\r\nHost: x\r\nX-Long: ");
		while (big.len < HTTP_MAX_HEAD + 10) {
			sbuf_addch(&big, 'a');
		}
		CHECK_INT(parse(big.buf), -431);
		sbuf_addstr(&big, "\r\n\r\n");
		CHECK_INT(parse(big.buf), -431);
		sbuf_release(&big);
	}
}

static void h_dummy(const struct http_request *req, struct http_response *resp, void *data)
{
	(void)data;
	http_reply_json(
	    resp, 200,
	    json_pack("{ss s:s#}", "path", req->path, "body", req->body, (int)req->body_len));
}

/* A streamed route: counts the body's bytes and pieces; an 'X' in it stops the reading. */
struct counted {
	size_t bytes, pieces;
	bool refused;
};

static void *s_begin(const struct http_request *req, struct http_response *resp, void *data)
{
	(void)data;
	if (strcmp(req->query, "")) {
		http_reply_json(resp, 403, json_pack("{ss}", "error", "refused at the head"));
		return NULL;
	}
	return calloc(1, sizeof(struct counted));
}

static int s_data(void *st, const void *buf, size_t len)
{
	struct counted *c = st;

	c->bytes += len;
	c->pieces++;
	if (memchr(buf, 'X', len)) {
		c->refused = true;
		return -1;
	}
	return 0;
}

static void s_end(void *st, const struct http_request *req, struct http_response *resp,
		  bool complete)
{
	struct counted *c = st;

	(void)req;
	http_reply_json(resp, c->refused ? 400 : 200,
			json_pack("{sI sb}", "bytes", (json_int_t)c->bytes, "complete", complete));
	free(c);
}

static const struct http_stream counter = {s_begin, s_data, s_end};

static const struct http_route routes[] = {
    {"GET", "/up", 0, h_dummy},
    {"POST", "/api/v1/login", 8, h_dummy},
    {"GET", "/api/v2/", 0, h_dummy},
};

static const struct http_stream_route streams[] = {
    {"POST", "/upload", 3 * 1024 * 1024, &counter},
};

static void test_routes(void)
{
	int st;
	const struct http_route *r;

	r = http_route_find(routes, 3, "GET", "/up", &st);
	CHECK(r == &routes[0] && st == 0);
	r = http_route_find(routes, 3, "HEAD", "/up", &st);
	CHECK(r == &routes[0]);
	CHECK(!http_route_find(routes, 3, "GET", "/up/x", &st) && st == 404);
	CHECK(!http_route_find(routes, 3, "GET", "/upx", &st) && st == 404);
	CHECK(!http_route_find(routes, 3, "GET", "/api/v1/login", &st) && st == 405);
	CHECK(http_route_find(routes, 3, "GET", "/api/v2/user/x", &st) == &routes[2]);
	CHECK(http_route_find(routes, 3, "GET", "/api/v2", &st) == &routes[2]);
	CHECK(!http_route_find(routes, 3, "GET", "/api/v2x", &st));
}

static void test_route_wildcards(void)
{
	static const struct http_route w[] = {
	    {"GET", "/api/v1/apps/*/metrics", 0, NULL},
	    {"GET", "/apps/*/charts/", 0, NULL},
	    {"GET", "/api/v1/apps/", 0, NULL},
	};
	int st;

	CHECK(http_route_find(w, 3, "GET", "/api/v1/apps/hello/metrics", &st) == &w[0]);
	CHECK(http_route_find(w, 3, "GET", "/api/v1/apps/hello", &st) == &w[2]);
	CHECK(http_route_find(w, 3, "GET", "/api/v1/apps/hello/metricsx", &st) == &w[2]);
	CHECK(http_route_find(w, 3, "GET", "/api/v1/apps//metrics", &st) == &w[2]);
	CHECK(http_route_find(w, 3, "GET", "/api/v1/apps/a/b/metrics", &st) == &w[2]);
	CHECK(http_route_find(w, 3, "GET", "/apps/hello/charts/requests.svg", &st) == &w[1]);
	CHECK(http_route_find(w, 3, "GET", "/apps/hello/charts", &st) == &w[1]);
	CHECK(!http_route_find(w, 3, "GET", "/apps/hello", &st) && st == 404);
	CHECK(!http_route_find(w, 3, "GET", "/apps//charts/x", &st) && st == 404);
	CHECK(!http_route_find(w, 3, "POST", "/api/v1/apps/x/metrics", &st) && st == 405);
}

static void test_forms(void)
{
	const char *f = "token=a%2Bb&name=al+ice&empty=&flag&bad=%zz&nul=%00";
	char *v;

	v = http_form_get(f, strlen(f), "token");
	CHECK_STR(v, "a+b");
	free(v);
	v = http_form_get(f, strlen(f), "name");
	CHECK_STR(v, "al ice");
	free(v);
	v = http_form_get(f, strlen(f), "empty");
	CHECK_STR(v, "");
	free(v);
	v = http_form_get(f, strlen(f), "flag");
	CHECK_STR(v, "");
	free(v);
	CHECK(http_form_get(f, strlen(f), "bad") == NULL);
	CHECK(http_form_get(f, strlen(f), "nul") == NULL);
	CHECK(http_form_get(f, strlen(f), "missing") == NULL);
	CHECK(http_form_get("a=%4", 4, "a") == NULL);
	CHECK(http_form_get("a=%", 3, "a") == NULL);
}

/* A server on 127.0.0.1 at an ephemeral port; the port. */
static int start(struct http_server *srv)
{
	struct err e = ERR_INIT;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(srv, 0, sizeof(*srv));
	srv->routes = routes;
	srv->nroutes = 3;
	srv->streams = streams;
	srv->nstreams = 1;
	srv->max_conns = 2;
	CHECK(http_server_start(srv, "127.0.0.1:0", &e) == 0);
	err_release(&e);
	getsockname(srv->fd, (struct sockaddr *)&sa, &sl);
	return ntohs(sa.sin_port);
}

static int dial(int port)
{
	struct sockaddr_in sa = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Sends s, reads until the peer closes or want bytes of answers contain `until`. */
static void exchange(int fd, const char *s, const char *until, struct sbuf *out)
{
	if (s) {
		CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	}
	for (;;) {
		char b[4096];
		ssize_t n;
		if (until && strstr(out->buf, until)) {
			break;
		}
		n = read(fd, b, sizeof(b));
		if (n <= 0) {
			break;
		}
		sbuf_add(out, b, (size_t)n);
	}
}

/* Waits (bounded) until the threads of the connections closed so far are gone. */
static void idle(struct http_server *srv)
{
	for (int i = 0; i < 500; i++) {
		unsigned active;
		pthread_mutex_lock(&srv->mu);
		active = srv->active;
		pthread_mutex_unlock(&srv->mu);
		if (!active) {
			break;
		}
		usleep(10 * 1000);
	}
}

/* A streamed body above HTTP_DEFAULT_BODY, over the route's limit, refused midway, at the head. */
static void test_stream(struct http_server *srv, int port)
{
	const size_t big = 2 * 1024 * 1024 + 7;
	struct sbuf out = SBUF_INIT, req = SBUF_INIT;
	char *body = malloc(big);
	int fd;

	memset(body, 'a', big);
	idle(srv);
	fd = dial(port);
	sbuf_addf(&req, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", big);
	CHECK(write(fd, req.buf, req.len) == (ssize_t)req.len);
	for (size_t off = 0; off < big;) {
		ssize_t w = write(fd, body + off, big - off > 100000 ? 100000 : big - off);
		CHECK(w > 0);
		if (w <= 0) {
			break;
		}
		off += (size_t)w;
	}
	/* the connection stays: a second request follows on it */
	exchange(fd, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n", "\"path\":\"/up\"", &out);
	CHECK(strstr(out.buf, "{\"bytes\":2097159,\"complete\":true}") != NULL);
	CHECK(strstr(out.buf, "{\"path\":\"/up\",\"body\":\"\"}") != NULL);
	close(fd);
	/* over the route's 3 MiB: 413 before any byte is read */
	idle(srv);
	fd = dial(port);
	sbuf_reset(&out);
	exchange(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3145729\r\n\r\n", NULL,
		 &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 413 ", 13));
	close(fd);
	/* the route stops reading: it answers, and the connection closes */
	idle(srv);
	fd = dial(port);
	sbuf_reset(&out);
	sbuf_reset(&req);
	sbuf_addstr(&req, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\naaXaa");
	sbuf_add(&req, body, 95);
	exchange(fd, req.buf, NULL, &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 400 ", 13));
	CHECK(strstr(out.buf, "Connection: close") != NULL);
	close(fd);
	/* refused at the head: the body is not read */
	idle(srv);
	fd = dial(port);
	sbuf_reset(&out);
	sbuf_reset(&req);
	sbuf_addstr(&req, "POST /upload?no HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
	sbuf_add(&req, body, 100);
	exchange(fd, req.buf, NULL, &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 403 ", 13));
	close(fd);
	free(body);
	sbuf_release(&out);
	sbuf_release(&req);
}

static void test_server(void)
{
	static struct http_server srv;
	struct sbuf out = SBUF_INIT;
	int port = start(&srv), fd, fd2, fd3;

	/* two requests on one connection, the second pipelined with a body */
	fd = dial(port);
	exchange(fd,
		 "GET /up HTTP/1.1\r\nHost: x\r\n\r\n"
		 "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		 "\"body\":\"hello\"", &out);
	CHECK(strstr(out.buf, "HTTP/1.1 200 OK\r\n") != NULL);
	CHECK(strstr(out.buf, "{\"path\":\"/up\",\"body\":\"\"}") != NULL);
	CHECK(strstr(out.buf, "{\"path\":\"/api/v1/login\",\"body\":\"hello\"}") != NULL);
	/* a body over the route's limit: 413, and the connection closes */
	sbuf_reset(&out);
	exchange(fd, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789",
		 NULL, &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 413 ", 13));
	CHECK(strstr(out.buf, "Connection: close") != NULL);
	close(fd);
	/* 404, 405, 411 */
	fd = dial(port);
	sbuf_reset(&out);
	exchange(fd, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 404 ", 13));
	close(fd);
	fd = dial(port);
	sbuf_reset(&out);
	exchange(fd, "DELETE /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 405 ", 13));
	close(fd);
	fd = dial(port);
	sbuf_reset(&out);
	exchange(fd, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		 NULL, &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 411 ", 13));
	close(fd);
	test_stream(&srv, port);
	/* beyond max_conns (2): 503 at once, once the threads of the connections above are gone */
	idle(&srv);
	fd = dial(port);
	fd2 = dial(port);
	sbuf_reset(&out);
	exchange(fd, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n", "}\n", &out);
	sbuf_reset(&out);
	exchange(fd2, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n", "}\n", &out);
	fd3 = dial(port);
	sbuf_reset(&out);
	exchange(fd3, NULL, NULL, &out);
	CHECK(!strncmp(out.buf, "HTTP/1.1 503 ", 13));
	close(fd);
	close(fd2);
	close(fd3);
	sbuf_release(&out);
}

int main(void)
{
	UNIT_RUN(test_parse);
	UNIT_RUN(test_routes);
	UNIT_RUN(test_route_wildcards);
	UNIT_RUN(test_forms);
	UNIT_RUN(test_server);
	return unit_done();
}
