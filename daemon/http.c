/* http — see http.h. */
#include "daemon/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"
#include "lib/xalloc.h"

void http_request_release(struct http_request *req)
{
	free(req->method);
	free(req->path);
	free(req->query);
	req->method = req->path = req->query = NULL;
}

int http_request_parse(char *buf, size_t len, struct http_request *req)
{
	const struct http1_limits lim = {HTTP_MAX_HEAD, 64};
	int n;

	req->method = req->path = req->query = NULL;
	req->body = NULL;
	req->body_len = 0;
	n = http1_parse_request(buf, len, &lim, &req->m);
	if (n <= 0) {
		return n == 0 && len >= HTTP_MAX_HEAD ? -431 : n;
	}
	if (req->m.target.len == 1 && req->m.target.ptr[0] == '*') {
		return -400; /* OPTIONS *: nothing here answers it */
	}
	if (http1_normalize_path(buf, &req->m) < 0) {
		return -400;
	}
	if (req->m.body == HTTP1_BODY_CHUNKED) {
		return -411;
	}
	req->method = xstrndup(req->m.method.ptr, req->m.method.len);
	req->path = xstrndup(req->m.path.ptr, req->m.path.len);
	req->query = xstrndup(req->m.query.ptr ? req->m.query.ptr : "", req->m.query.len);
	return n;
}

/*
 * A route ending in '/' matches every path under it (and itself without the
 * '/'); a segment "*" matches any one non-empty segment of the path.
 */
static bool path_matches(const char *route, const char *path)
{
	const char *r = route, *p = path;

	while (*r) {
		if (r[0] == '*' && r > route && r[-1] == '/' && (r[1] == '/' || !r[1])) {
			size_t seg = strcspn(p, "/");

			if (!seg) {
				return false;
			}
			p += seg;
			r++;
			continue;
		}
		if (*r != *p) {
			return r[0] == '/' && !r[1] && !*p;
		}
		r++;
		p++;
	}
	return !*p || r[-1] == '/';
}

const struct http_route *http_route_find(const struct http_route *routes, size_t n,
					 const char *method, const char *path, int *status)
{
	bool path_seen = false;

	for (size_t i = 0; i < n; i++) {
		if (!path_matches(routes[i].path, path)) {
			continue;
		}
		path_seen = true;
		if (!strcmp(routes[i].method, method) ||
		    (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET"))) {
			*status = 0;
			return &routes[i];
		}
	}
	*status = path_seen ? 405 : 404;
	return NULL;
}

int http_body_check(const struct http_route *r, const struct http_request *req)
{
	size_t max = r->max_body ? r->max_body : HTTP_DEFAULT_BODY;

	if (req->m.body == HTTP1_BODY_LENGTH && req->m.content_length > max) {
		return 413;
	}
	return 0;
}

char *http_header_get(const struct http_request *req, const char *name)
{
	struct slice v = http1_header(&req->m, name);
	return v.ptr ? xstrndup(v.ptr, v.len) : NULL;
}

char *http_cookie_get(const struct http_request *req, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < req->m.nr_headers; i++) {
		struct slice rest;

		if (!slice_caseeq_cstr(req->m.headers[i].name, "cookie")) {
			continue;
		}
		rest = req->m.headers[i].value;
		while (rest.len) {
			struct slice c = slice_trim(slice_next(&rest, ';'));
			if (c.len > nl && !memcmp(c.ptr, name, nl) && c.ptr[nl] == '=') {
				return xstrndup(c.ptr + nl + 1, c.len - nl - 1);
			}
		}
	}
	return NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Decodes s[0, len): NULL on a bad escape or a NUL byte. */
static char *form_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= len) {
				goto bad;
			}
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0) {
				goto bad;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0) {
			goto bad;
		}
		out[o++] = (char)c;
	}
	out[o] = 0;
	return out;
bad:
	free(out);
	return NULL;
}

char *http_form_get(const char *s, size_t len, const char *name)
{
	struct slice rest = slice_make(s, len);

	while (rest.len) {
		struct slice pair = slice_next(&rest, '&');
		long eq = slice_find_char(pair, '=');
		struct slice k = eq < 0 ? pair : slice_make(pair.ptr, (size_t)eq);
		char *key = form_decode(k.ptr, k.len);
		bool match = key && !strcmp(key, name);

		free(key);
		if (match) {
			return eq < 0 ? xstrdup("")
				      : form_decode(pair.ptr + eq + 1, pair.len - (size_t)eq - 1);
		}
	}
	return NULL;
}

bool http_is_type(const struct http_request *req, const char *type)
{
	struct slice v = http1_header(&req->m, "content-type");
	long semi;

	if (!v.ptr) {
		return false;
	}
	semi = slice_find_char(v, ';');
	if (semi >= 0) {
		v.len = (size_t)semi;
	}
	return slice_caseeq_cstr(slice_trim(v), type);
}

void http_response_init(struct http_response *resp)
{
	resp->status = 500;
	sbuf_init(&resp->headers, 0);
	sbuf_init(&resp->body, 0);
	resp->type = NULL;
	resp->stream = NULL;
	resp->stream_free = NULL;
	resp->stream_arg = NULL;
}

void http_response_release(struct http_response *resp)
{
	sbuf_release(&resp->headers);
	sbuf_release(&resp->body);
	if (resp->stream_free) {
		resp->stream_free(resp->stream_arg);
	}
	resp->stream = NULL;
	resp->stream_free = NULL;
	resp->stream_arg = NULL;
}

void http_reply(struct http_response *resp, int status, const char *type, const char *body)
{
	resp->status = status;
	resp->type = type;
	sbuf_reset(&resp->body);
	if (body) {
		sbuf_addstr(&resp->body, body);
	}
}

void http_add_header(struct http_response *resp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&resp->headers, fmt, ap);
	va_end(ap);
	sbuf_addstr(&resp->headers, "\r\n");
}

void http_reply_json(struct http_response *resp, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	http_reply(resp, status, "application/json", s ? s : "null");
	sbuf_addch(&resp->body, '\n');
	free(s);
	json_decref(j);
}

json_t *http_body_json(const struct http_request *req)
{
	json_t *j;

	if (!req->body_len) {
		return NULL;
	}
	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 500 ? "Error" : "Internal Server Error";
	}
}

/* Whether headers ("Name: value\r\n" lines) have a line of this name. */
static bool has_header(const struct sbuf *headers, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = headers->buf; l && *l;) {
		const char *eol = strstr(l, "\r\n");

		if (!strncasecmp(l, name, n) && l[n] == ':') {
			return true;
		}
		if (!eol) {
			break;
		}
		l = eol + 2;
	}
	return false;
}

void http_response_render(const struct http_response *resp, bool head_only, bool keep_alive,
			  struct sbuf *out)
{
	sbuf_addf(out, "HTTP/1.1 %d %s\r\n", resp->status, reason(resp->status));
	if (resp->type) {
		sbuf_addf(out, "Content-Type: %s\r\n", resp->type);
	}
	if (!resp->stream) {
		sbuf_addf(out, "Content-Length: %zu\r\n", resp->body.len);
	}
	/* no-store unless the handler says otherwise (the panel's immutable assets) */
	if (!has_header(&resp->headers, "Cache-Control")) {
		sbuf_addstr(out, "Cache-Control: no-store\r\n");
	}
	sbuf_addstr(out, "X-Content-Type-Options: nosniff\r\n");
	sbuf_addstr(out, keep_alive && !resp->stream ? "" : "Connection: close\r\n");
	sbuf_add(out, resp->headers.buf, resp->headers.len);
	sbuf_addstr(out, "\r\n");
	if (!head_only) {
		sbuf_add(out, resp->body.buf, resp->body.len);
	}
}

/* The server side: threads and sockets. */

struct conn {
	struct http_server *srv;
	int fd;
	char peer[64];
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what comes before the deadline into sb: >0 bytes, 0 EOF, -1 error or time out. */
static ssize_t read_some(int fd, struct sbuf *sb, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = {fd, POLLIN, 0};
		int r;

		if (left <= 0) {
			return -1;
		}
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			continue;
		}
		sbuf_grow(sb, 4096);
		for (;;) {
			ssize_t n = recv(fd, sb->buf + sb->len, 4096, 0);
			if (n < 0 && errno == EINTR) {
				continue;
			}
			if (n > 0) {
				sbuf_setlen(sb, sb->len + (size_t)n);
			}
			return n;
		}
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void send_status(int fd, int status, const char *msg)
{
	struct http_response resp;
	struct sbuf out = SBUF_INIT;

	http_response_init(&resp);
	http_reply_json(&resp, status, json_pack("{ss}", "error", msg));
	http_response_render(&resp, false, false, &out);
	(void)write_all(fd, out.buf, out.len);
	sbuf_release(&out);
	http_response_release(&resp);
}

static const char *refusal(int status)
{
	switch (status) {
	case 408:
		return "request not complete in time";
	case 411:
		return "a Content-Length is required (chunked request bodies are not accepted)";
	case 413:
		return "request body too large";
	case 414:
		return "request line too long";
	case 431:
		return "request head too large (16 KiB at most)";
	case 501:
		return "transfer coding not implemented";
	case 505:
		return "only HTTP/1.0 and HTTP/1.1 are spoken here";
	default:
		return "bad request";
	}
}

/* The streamed route for method and path (HEAD as GET), or NULL. */
static const struct http_stream_route *stream_route_find(const struct http_server *srv,
							 const char *method, const char *path)
{
	for (size_t i = 0; i < srv->nstreams; i++) {
		const struct http_stream_route *r = &srv->streams[i];

		if (path_matches(r->path, path) &&
		    (!strcmp(r->method, method) ||
		     (!strcmp(method, "HEAD") && !strcmp(r->method, "GET")))) {
			return r;
		}
	}
	return NULL;
}

/*
 * Reads and drops the rest of a refused body (left bytes after in's first
 * n), so that the client, still sending, reads the answer instead of a
 * reset connection. Bounded by the route's max_body and the body timeout.
 */
static void drain_body(int fd, struct sbuf *in, size_t n, uint64_t left)
{
	uint64_t have = in->len - n;

	left -= have < left ? have : left;
	while (left) {
		sbuf_reset(in);
		if (read_some(fd, in, now_ms() + HTTP_BODY_TIMEOUT_S * 1000) <= 0) {
			return;
		}
		left -= in->len < left ? in->len : left;
	}
}

/*
 * A streamed route's request whose head is the first n bytes of in: feeds
 * its body to the route as it arrives, answers. Whether the connection
 * goes on (in then holds what follows the body).
 */
static bool serve_stream(struct conn *c, const struct http_stream_route *route,
			 struct http_request *req, struct sbuf *in, size_t n, struct sbuf *out)
{
	struct http_response resp;
	uint64_t left = req->m.body == HTTP1_BODY_LENGTH ? req->m.content_length : 0;
	bool keep = (req->m.flags & HTTP1_F_KEEP_ALIVE) != 0, complete = true, refused = false;
	bool drain = false;
	void *st;

	http_response_init(&resp);
	st = route->stream->begin(req, &resp, c->srv->data);
	if (!st) {
		keep = false;
		/* a client waiting for 100 Continue sends no body: nothing to drain */
		drain = !(req->m.flags & HTTP1_F_EXPECT_100);
		goto answer;
	}
	if (left && req->m.flags & HTTP1_F_EXPECT_100 && in->len - n < left) {
		(void)write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	/* what came with the head, then the socket's bytes, in pieces the size of a read */
	while (left) {
		size_t take = in->len - n < left ? in->len - n : (size_t)left;

		if (take) {
			if (!refused && route->stream->data(st, in->buf + n, take) < 0) {
				refused = true;
			}
			left -= take;
			n += take;
		}
		if (refused) {
			/* the answer says why; the rest of the body is read and dropped */
			keep = false;
			drain = true;
			break;
		}
		if (!left) {
			break;
		}
		/* all of in is used: the head and the body fed so far */
		sbuf_reset(in);
		n = 0;
		if (read_some(c->fd, in, now_ms() + HTTP_BODY_TIMEOUT_S * 1000) <= 0) {
			complete = false;
			keep = false;
			break;
		}
	}
	route->stream->end(st, req, &resp, complete);
answer:
	sbuf_reset(out);
	http_response_render(&resp, !strcmp(req->method, "HEAD"), keep, out);
	http_response_release(&resp);
	if (write_all(c->fd, out->buf, out->len) < 0) {
		keep = false;
		drain = false;
	}
	if (drain) {
		drain_body(c->fd, in, n, left);
	}
	if (keep) {
		memmove(in->buf, in->buf + n, in->len - n);
		sbuf_setlen(in, in->len - n);
	}
	return keep;
}

/* Serves one connection's requests until it closes or one of them is refused. */
static void serve_conn(struct conn *c)
{
	struct sbuf in = SBUF_INIT, out = SBUF_INIT;
	size_t prev = 0;

	for (;;) {
		struct http_request req;
		struct http_response resp;
		const struct http_route *route;
		const struct http_stream_route *sroute;
		long long deadline = now_ms() + HTTP_HEAD_TIMEOUT_S * 1000;
		int n = 0, status = 0;
		bool keep;

		/* the head */
		for (;;) {
			ssize_t r;

			if (in.len &&
			    (http1_head_ready(in.buf, in.len, prev) || in.len >= HTTP_MAX_HEAD)) {
				n = http_request_parse(in.buf, in.len, &req);
				if (n != 0) {
					break;
				}
				http_request_release(&req);
			}
			prev = in.len;
			r = read_some(c->fd, &in, deadline);
			if (r <= 0) {
				if (r < 0 && in.len) {
					send_status(c->fd, 408, refusal(408));
				}
				goto out;
			}
		}
		if (n < 0) {
			send_status(c->fd, -n, refusal(-n));
			http_request_release(&req);
			goto out;
		}
		memcpy(req.peer, c->peer, sizeof(req.peer));
		sroute = stream_route_find(c->srv, req.method, req.path);
		if (sroute) {
			struct http_route r = {sroute->method, sroute->path, sroute->max_body,
					       NULL};

			if ((status = http_body_check(&r, &req)) != 0) {
				send_status(c->fd, status, refusal(status));
				http_request_release(&req);
				goto out;
			}
			keep = serve_stream(c, sroute, &req, &in, (size_t)n, &out);
			http_request_release(&req);
			if (!keep) {
				goto out;
			}
			prev = 0;
			continue;
		}
		route =
		    http_route_find(c->srv->routes, c->srv->nroutes, req.method, req.path, &status);
		if (route && (status = http_body_check(route, &req)) != 0) {
			send_status(c->fd, status, refusal(status));
			http_request_release(&req);
			goto out;
		}
		/* the body */
		if (req.m.body == HTTP1_BODY_LENGTH) {
			size_t need = (size_t)n + (size_t)req.m.content_length;

			if (!route) {
				/* nothing will read it: answer, and close */
				req.m.flags &= ~(unsigned)HTTP1_F_KEEP_ALIVE;
			} else {
				deadline = now_ms() + HTTP_BODY_TIMEOUT_S * 1000;
				if (req.m.flags & HTTP1_F_EXPECT_100 && in.len < need) {
					(void)write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
				}
				while (in.len < need) {
					if (read_some(c->fd, &in, deadline) <= 0) {
						send_status(c->fd, 408, refusal(408));
						http_request_release(&req);
						goto out;
					}
				}
				/* a NUL after the body, for parsers of text; the next request's
				 * byte is kept aside */
				char saved = 0;
				sbuf_grow(&in, 1);
				saved = in.buf[need];
				in.buf[need] = 0;
				req.body = in.buf + n;
				req.body_len = (size_t)req.m.content_length;
				http_response_init(&resp);
				route->fn(&req, &resp, c->srv->data);
				in.buf[need] = saved;
				n = (int)need;
				goto answer;
			}
		}
		http_response_init(&resp);
		if (route) {
			req.body = "";
			route->fn(&req, &resp, c->srv->data);
		} else {
			http_reply_json(
			    &resp, status,
			    json_pack("{ss}", "error",
				      status == 405 ? "method not allowed" : "not found"));
		}
	answer:
		keep = (req.m.flags & HTTP1_F_KEEP_ALIVE) != 0 && !resp.stream;
		sbuf_reset(&out);
		http_response_render(&resp, !strcmp(req.method, "HEAD"), keep, &out);
		if (write_all(c->fd, out.buf, out.len) < 0) {
			keep = false;
		} else if (resp.stream && strcmp(req.method, "HEAD")) {
			resp.stream(c->fd, resp.stream_arg);
		}
		http_response_release(&resp);
		http_request_release(&req);
		if (!keep) {
			goto out;
		}
		/* what follows this request stays for the next one */
		memmove(in.buf, in.buf + n, in.len - (size_t)n);
		sbuf_setlen(&in, in.len - (size_t)n);
		prev = 0;
	}
out:
	sbuf_release(&in);
	sbuf_release(&out);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct http_server *srv = c->srv;

	serve_conn(c);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&srv->mu);
	srv->active--;
	pthread_mutex_unlock(&srv->mu);
	/* what a request's store connection and hashing left in the arenas goes back: berthd
	 * idles small */
	malloc_trim(0);
	return NULL;
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t size)
{
	out[0] = 0;
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
			  (socklen_t)size);
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
			  (socklen_t)size);
	}
}

static void *listen_main(void *arg)
{
	struct http_server *srv = arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, HTTP_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(srv->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		struct conn *c;
		pthread_t t;
		bool full;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				usleep(100 * 1000);
			}
			continue;
		}
		pthread_mutex_lock(&srv->mu);
		full = srv->active >= srv->max_conns;
		if (!full) {
			srv->active++;
		}
		pthread_mutex_unlock(&srv->mu);
		if (full) {
			send_status(fd, 503, "too many connections, try again");
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->srv = srv;
		c->fd = fd;
		peer_name(&ss, c->peer, sizeof(c->peer));
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			send_status(fd, 503, "cannot serve now, try again");
			close(fd);
			free(c);
			pthread_mutex_lock(&srv->mu);
			srv->active--;
			pthread_mutex_unlock(&srv->mu);
		}
	}
	return NULL;
}

int http_server_start(struct http_server *srv, const char *addr, struct err *e)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl;
	pthread_attr_t attr;
	pthread_t t;
	int one = 1, r = -1, rc;

	srv->fd = -1;
	if (!colon || colon == addr || !colon[1]) {
		return err_set(e, "invalid address '%s' (expected HOST:PORT)", addr);
	}
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl > 2 && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		return err_set(e, "invalid address '%s' (expected HOST:PORT)", addr);
	}
	memcpy(host, addr, hl);
	host[hl] = 0;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		return err_set(e, "invalid address '%s': %s", addr, gai_strerror(rc));
	}
	srv->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->fd < 0) {
		err_set(e, "cannot open a socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(srv->fd, 128) < 0) {
		err_set(e, "cannot listen on '%s': %s", addr, strerror(errno));
		goto out;
	}
	if (!srv->max_conns) {
		srv->max_conns = HTTP_MAX_CONNS;
	}
	srv->active = 0;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, HTTP_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, listen_main, srv);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		err_set(e, "cannot start the HTTP listener: %s", strerror(rc));
		goto out;
	}
	r = 0;
out:
	if (r < 0 && srv->fd >= 0) {
		close(srv->fd);
		srv->fd = -1;
	}
	freeaddrinfo(ai);
	return r;
}
