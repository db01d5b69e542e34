/*
 * http — berthd's small HTTP/1.1 server for the panel and the API: one
 * listener thread, a thread per connection (at most max_conns at once;
 * beyond that a connection gets 503 and is closed), keep-alive, and a
 * table of routes.
 *
 * It sits behind berth-proxy (which ends TLS and routes berth.ROOT and
 * captain.ROOT to it on the docker network), but parses as if the world
 * wrote to it. Request heads are parsed by proxy/http1.h's strict parser
 * (everything it refuses is refused here with the same status), with a
 * HTTP_MAX_HEAD limit for the request line and headers together, and the
 * path normalized. On top of that:
 *	411  a chunked request body (only Content-Length bodies are read)
 *	413  a body longer than the route's max_body (HTTP_DEFAULT_BODY when 0)
 *	404  no route for the path; 405 a route for the path, not the method
 *	408  a head not complete HTTP_HEAD_TIMEOUT_S after its first byte (or
 *	     the connection idle that long between requests: closed quietly),
 *	     a body not complete HTTP_BODY_TIMEOUT_S after its head (a streamed
 *	     body: no byte of it for HTTP_BODY_TIMEOUT_S)
 * An answer to a refused request closes the connection.
 *
 * Handlers run on connection threads (stacks of HTTP_STACK bytes): they
 * must be thread-safe, open what they need (the store) themselves, and start
 * a child process they wait for only through daemon/reaper.h (berthd serve
 * reaps every child).
 */
#ifndef HTTP_H
#define HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/sbuf.h"
#include "proxy/http1.h"

#define HTTP_MAX_HEAD	    (16 * 1024)
#define HTTP_DEFAULT_BODY   (1024 * 1024)
#define HTTP_MAX_CONNS	    32
#define HTTP_STACK	    (256 * 1024)
#define HTTP_HEAD_TIMEOUT_S 10
#define HTTP_BODY_TIMEOUT_S 30

struct http_request {
	struct http1_msg m; /* its slices point into the connection's buffer */
	char *method;	    /* NUL-terminated copies */
	char *path;	    /* normalized, without the query */
	char *query;	    /* after '?', "" when none */
	const char *body;   /* body_len bytes, NUL-terminated */
	size_t body_len;
	char peer[64]; /* the client's address as the socket says (berth-proxy's) */
};

struct http_response {
	int status;
	struct sbuf headers; /* "Name: value\r\n" lines */
	struct sbuf body;
	const char *type; /* Content-Type; NULL: none */
	/*
	 * A body written as it comes (Server-Sent Events): when set, the head
	 * goes without a length, then stream(fd, stream_arg) writes the body
	 * to the client's socket until it is done or the client is gone, and
	 * the connection closes. stream_free(stream_arg) (may be NULL) runs
	 * after, also when the head could not be sent.
	 */
	void (*stream)(int fd, void *arg);
	void (*stream_free)(void *arg);
	void *stream_arg;
};

typedef void (*http_handler_fn)(const struct http_request *req, struct http_response *resp,
				void *data);

/*
 * A route whose body is streamed to it instead of buffered (an upload of
 * hundreds of MiB): begin sees the head (req->body NULL) and returns the
 * state of this request, or NULL after answering resp itself (the body is
 * then read and dropped, and the connection closes); data gets the body in
 * pieces as they arrive (-1: no more pieces; the rest is read and dropped
 * after the answer, so that a client still sending reads it, and the
 * connection closes); end answers resp, with complete false when the body stopped
 * short (the client went away or was too slow: the answer may not reach
 * it), and frees the state. A request without a body calls begin and end.
 */
struct http_stream {
	void *(*begin)(const struct http_request *req, struct http_response *resp, void *data);
	int (*data)(void *st, const void *buf, size_t len);
	void (*end)(void *st, const struct http_request *req, struct http_response *resp,
		    bool complete);
};

struct http_route {
	const char *method; /* "GET", "POST", ... */
	/* a path ending in '/' matches every path under it; else only itself. A segment that is
	 * a lone '*' matches any one non-empty segment of the path. */
	const char *path;
	size_t max_body; /* 0: HTTP_DEFAULT_BODY */
	http_handler_fn fn;
};

/* A route with a streamed body; the server looks in its table of these first. */
struct http_stream_route {
	const char *method;
	const char *path; /* as http_route's */
	size_t max_body;  /* 0: HTTP_DEFAULT_BODY */
	const struct http_stream *stream;
};

struct http_server {
	const struct http_route *routes;
	size_t nroutes;
	const struct http_stream_route *streams; /* may be NULL */
	size_t nstreams;
	void *data; /* handed to every handler */
	unsigned max_conns;
	int fd;
	pthread_mutex_t mu;
	unsigned active; /* connection threads running */
};

/*
 * Parses a request head from buf[0, len) into req (its strings are
 * malloc'd: http_request_release frees them). Returns the head's length,
 * 0 when it is not complete yet (len below HTTP_MAX_HEAD), or -status.
 */
int http_request_parse(char *buf, size_t len, struct http_request *req);
void http_request_release(struct http_request *req);

/*
 * The route for method and path: NULL with *status 404 or 405 when none.
 * A HEAD request matches a GET route.
 */
const struct http_route *http_route_find(const struct http_route *routes, size_t n,
					 const char *method, const char *path, int *status);

/* The status for a body of this length on route r: 0 when allowed, 413 when too long. */
int http_body_check(const struct http_route *r, const struct http_request *req);

/* The value of a header (the first with this name), as a malloc'd string, or NULL. */
char *http_header_get(const struct http_request *req, const char *name);
/* The value of a cookie, malloc'd, or NULL. */
char *http_cookie_get(const struct http_request *req, const char *name);
/*
 * The value of name in an application/x-www-form-urlencoded string (a
 * query or a form body) of len bytes, decoded ('+' is a space, %XX a byte),
 * malloc'd; NULL when absent or malformed (a bad %-escape, a NUL byte).
 */
char *http_form_get(const char *s, size_t len, const char *name);
/* Whether the request's Content-Type is this media type (parameters ignored). */
bool http_is_type(const struct http_request *req, const char *type);

/* Answers: the status, a header line, a body. */
void http_reply(struct http_response *resp, int status, const char *type, const char *body);
void http_add_header(struct http_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct json_t;
/* Answers with j encoded (it takes j's reference). */
void http_reply_json(struct http_response *resp, int status, struct json_t *j);
/* The body as a JSON object, or NULL when it is not one (or empty). */
struct json_t *http_body_json(const struct http_request *req);

void http_response_init(struct http_response *resp);
void http_response_release(struct http_response *resp);
/*
 * The whole answer, head and body, as it goes on the wire (HEAD: no body).
 * Every answer has X-Content-Type-Options: nosniff, and Cache-Control:
 * no-store unless resp's headers have a Cache-Control of their own.
 */
void http_response_render(const struct http_response *resp, bool head_only, bool keep_alive,
			  struct sbuf *out);

/*
 * Listens on addr ("HOST:PORT", IPv4 or [IPv6]) and starts the listener
 * thread. srv's routes, nroutes, data and max_conns (0: HTTP_MAX_CONNS)
 * are the caller's. 0, or -1 with e set.
 */
int http_server_start(struct http_server *srv, const char *addr, struct err *e);

#endif
