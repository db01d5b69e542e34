/*
 * accesslog — the access log's JSON lines (the fields are listed at
 * server_config.access_log_fd in proxy/server.h).
 *
 * A line is built in two steps: the request's fields when its head is
 * parsed (they point into the read buffer, which is reused later), then
 * the rest when the exchange ends. Each worker has a struct accesslog of
 * its own: lines go to its buffer, written with one write() per loop
 * iteration (accesslog_flush); when the log's reader does not keep up,
 * lines beyond 4 MiB are dropped and counted (the worker's
 * access_log_dropped metric).
 *
 * Values are JSON strings with quotes, backslashes and control bytes
 * escaped, and bytes above 0x7e as \u00XX: header values may carry
 * obs-text, which is not UTF-8.
 */
#ifndef ACCESSLOG_H
#define ACCESSLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/sbuf.h"
#include "lib/slice.h"

struct http1_msg;
struct service;
struct target;

struct accesslog {
	struct sbuf buf;	       /* lines not written yet */
	int fd;			       /* the log */
	atomic_uint_fast64_t *dropped; /* counts the lines dropped */
	uint64_t time_ms;	       /* the time that time shows */
	char time[64];
};

/*
 * Once, before the workers start: the request and response headers to log
 * (NULL-terminated lists, or NULL), and fd made non-blocking when it is a
 * pipe or a socket.
 */
void accesslog_setup(int fd, const char *const *req_headers, const char *const *resp_headers);
/* A worker's log, written to fd; dropped lines are counted in *dropped. */
void accesslog_init(struct accesslog *lg, int fd, atomic_uint_fast64_t *dropped);
void accesslog_release(struct accesslog *lg);
/*
 * The request's fields of a line, from m, into sb (reset first): the run's
 * headers, then svc's (deploy --log-request-header) that the run does not
 * log. svc may be NULL. tls: the request came over TLS (the "scheme" field
 * says "https").
 */
void accesslog_request(struct sbuf *sb, const struct http1_msg *m, const struct service *svc,
		       struct slice rid, const char *ip, bool tls);
/*
 * The names of svc's response headers to log (deploy --log-response-header)
 * that the run does not log, into names (reset first), each ending with a
 * NUL: kept by the exchange, as the service may be gone when the response
 * comes. svc may be NULL.
 */
void accesslog_response_names(struct sbuf *names, const struct service *svc);
/* The response's headers to log, from m, appended to sb: the run's, then names (may be NULL). */
void accesslog_response(struct sbuf *sb, const struct http1_msg *m, const struct sbuf *names);
/*
 * Appends a whole line to lg's buffer: the time (wall_ms, milliseconds
 * since the epoch), the fields, the target (may be NULL) and the numbers.
 */
void accesslog_line(struct accesslog *lg, uint64_t wall_ms, const struct sbuf *fields,
		    const struct target *t, unsigned status, uint64_t in, uint64_t out,
		    uint64_t dur);
/* Writes what lg's buffer holds, with one write(); what the log does not take now waits. */
void accesslog_flush(struct accesslog *lg);

#endif
