/*
 * server — berth-proxy's data plane: worker threads, each with its own
 * epoll loop, SO_REUSEPORT listener, timers, buffer free list and upstream
 * connection pool. Workers share nothing on the hot path but the read-only
 * routing table (proxy/route.h) and the targets' counters.
 *
 * A client connection carries HTTP/1.1 requests, one exchange at a time
 * (pipelined requests wait in the read buffer and are answered in order).
 * An exchange forwards the request head, rewritten with writev from slices
 * of the read buffer plus the few headers the proxy adds, streams the body
 * both ways (Content-Length, chunked framing passed through, responses
 * delimited by the end of the connection), and gives the upstream
 * connection back to the pool when both messages are complete. Upstream
 * connections speak HTTP/1.1 whatever the client's version; an HTTP/1.0
 * client (which knows no chunked framing) gets a chunked response as its
 * data alone, delimited by the close of the connection.
 *
 * Request headers whose names hold '_' are not forwarded (a name that
 * CGI-style folding would turn into another, e.g. "X_Forwarded_For").
 *
 * Targets are taken round robin, healthy ones first (proxy/health.h). A
 * connection to a target that is refused marks the target unhealthy when
 * its service has others, and a request still whole in the buffer with
 * nothing back yet is sent again, once: on a new connection when a pooled
 * one turns out closed; on another target when the connection could not be
 * made, or, for an idempotent request without a body, when it ended without
 * an answer.
 *
 * --buffer-requests (service_opts.buffer_requests): a request whose body is
 * chunked or not all in the first read is read whole before a target is
 * chosen, so a slow upload holds no app connection and no target's
 * in-flight count. The body is held in memory up to 1 MiB, beyond that in
 * a temporary file in $TMPDIR (default /tmp) that has no name from the
 * start (O_TMPFILE), so a slow client costs little memory; the limit is
 * --max-request-body, or 1 GiB without one (413 beyond). The upstream gets
 * it with a Content-Length (a chunked body decoded, trailers dropped);
 * "Expect: 100-continue" is answered by the proxy. Its bytes must keep
 * coming within the read timeout (408). Writing that file is the one place
 * a worker touches the disk, which the page cache normally absorbs; a
 * buffered request is not sent again on another target.
 *
 * A request with "Connection: upgrade" is forwarded with its Upgrade header;
 * when the upstream answers 101 the pair of connections becomes a byte
 * tunnel both ways (WebSocket and other upgrades), which lasts until either
 * side closes, its target is retired (server_close_tunnels), or no byte
 * moved either way for idle_timeout_ms (then both sides are closed). A tunnel
 * counts in its target's inflight requests.
 *
 * Errors answered without contacting an upstream: 400 malformed, 404 no
 * service, 408 header timeout, 413 body over the limit, 431 head too big,
 * 501/505 from the parser; from the upstream side: 502 when it cannot be
 * reached or answers garbage, 504 when it does not answer within the target
 * timeout, 503 when the service is stopped (with its stop message as the
 * body when it has one); 500 when a buffered body cannot be written to its
 * temporary file. A service deployed with --error-pages answers these with
 * its own pages (proxy/errpages.h).
 *
 * A request for a paused service is held as it is, unparsed, in its
 * client's buffer; every new routing table releases the held requests,
 * which look their service up again (a resume or a deploy lets them through,
 * a table where the service is still paused holds them again, keeping their
 * deadline), and one held longer than the service's max pause gets 504.
 * A client that hangs up while its request is held gives it up (logged as
 * 499): nothing is sent upstream for it.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct target;

struct server_config {
	const char *listen_addr; /* numeric; NULL: 0.0.0.0 */
	unsigned http_port;	 /* 0: any; set to the bound port by server_start */
	unsigned workers;
	uint64_t read_timeout_ms; /* a request head must arrive within this */
	uint64_t idle_timeout_ms; /* an idle keep-alive connection or tunnel is closed after this */
	size_t max_head;	  /* 431 beyond */
	/*
	 * The access log: one JSON line per request (request_id, service,
	 * target, method, host, path, query, client_addr, status, bytes_in,
	 * bytes_out, duration_ms, and "req_NAME"/"resp_NAME" for the headers
	 * named here, lowercase with '-' as '_'), or -1 for none. Each worker
	 * appends to a buffer of its own and writes it with one write() per
	 * loop iteration; a pipe is made non-blocking, and when the reader does
	 * not keep up, lines beyond 4 MiB are dropped (and counted).
	 */
	int access_log_fd;
	const char *const *log_req_headers; /* NULL-terminated, may be NULL */
	const char *const *log_resp_headers;
};

/* Binds the listeners and starts the workers. Returns 0, or -1 with e set. */
int server_start(struct server_config *cfg, struct err *e);
/* Wakes every worker so it picks up a newly published routing table at once. */
void server_wake(void);
/*
 * Wakes every worker and waits (up to 2 s) until each runs with the current
 * table: from then on no new request can take a target the table dropped.
 */
void server_sync(void);
/*
 * Retires t: every worker closes the tunnels (upgraded connections) to it
 * at its next event. For the end of a drain: requests in flight are left to
 * finish, but a tunnel would never end by itself. Returns at once; t's
 * inflight count drops as the tunnels close.
 */
void server_close_tunnels(struct target *t);
struct metrics;
/* The workers' counters (for the metrics endpoint): sets *out, returns how many. */
unsigned server_metrics(struct metrics *const **out);
/* Stops the workers and waits for them; open connections are closed. */
void server_stop(void);

#endif
