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
 * data alone, delimited by the close of the connection. An HTTPS
 * connection whose client chose "h2" in ALPN, or (server_config.h2c) a
 * plain one that opens with the HTTP/2 preface, speaks HTTP/2 instead, and
 * each of its streams is a client of its own that carries one exchange
 * (proxy/h2.h).
 *
 * Request headers whose names hold '_' are not forwarded (a name that
 * CGI-style folding would turn into another, e.g. "X_Forwarded_For").
 *
 * Targets are taken round robin, healthy ones first (proxy/health.h). A
 * connection to a target that is refused marks the target unhealthy when
 * its service has others, and a request still whole in the buffer with
 * nothing back yet is sent again, once: on a new connection when a pooled
 * one turns out closed (unless it is not idempotent and some of it was
 * written: the app may have read it before closing, and a POST must not run
 * twice; that is 502); on another target when the connection could not be
 * made, or, for an idempotent request without a body, when it ended without
 * an answer.
 *
 * A relay that makes no progress is closed on both sides (and counted in
 * berth_proxy_timeouts_total): while the request is on its way, after the
 * read timeout when the client sends no more of its body (408), after the
 * service's target timeout when the upstream takes none of it; once it is
 * all sent, after the target timeout when the upstream sends nothing (504
 * before the response head, else a close), after the service's client
 * timeout when the client takes none of the response.
 *
 * When descriptors run out, clients wait in the listen queue and are
 * accepted as soon as the worker closes a connection (or 100 ms later).
 * Read buffers and exchanges go back to the worker's free lists when a
 * connection goes idle; the lists are bounded and fitted every second to
 * what was in use, so an idle keep-alive connection costs its small struct.
 *
 * --buffer-requests (service_opts.buffer_requests): a request whose body is
 * chunked or not all in the first read is read whole before a target is
 * chosen, in memory or a temporary file (proxy/spool.h); the limit is
 * --max-request-body, or 1 GiB without one (413 beyond).
 *
 * --buffer-responses (service_opts.buffer_responses): a response (but an
 * event stream) is read whole, in memory or a temporary file (proxy/spool.h),
 * before its head is sent; over --max-response-body, or when the upstream
 * fails meanwhile, the client gets 502 instead.
 *
 * A service's options decide, through proxy/steer.h: a request for a host
 * other than its --canonical-host gets 301 there (and the connection is
 * closed); a read (GET, HEAD) goes to a healthy read target unless the
 * client's writer cookie is live, a write to the main targets with a new
 * writer cookie; a Set-Cookie is scoped under the path prefix
 * (--scope-cookie-paths); --client-ip-header gives the address
 * X-Forwarded-For and the log carry; requests under an
 * --exclude-metrics-path are logged, not counted.
 *
 * A request with "Connection: upgrade" is forwarded with its Upgrade header;
 * when the upstream answers 101 the pair of connections becomes a byte
 * tunnel both ways (WebSocket and other upgrades), which lasts until either
 * side closes, its target is retired (server_close_tunnels), or no byte
 * moved either way for idle_timeout_ms (then both sides are closed). A tunnel
 * counts in its target's inflight requests (proxy/tunnel.h).
 *
 * HTTPS (server_config.tls): each worker has a second listener; a
 * connection accepted there handshakes first, step by step on readiness
 * events, and is closed when the handshake fails or does not finish within
 * the read timeout; then it is an ordinary client whose bytes go through
 * conn_io_tls (ALPN offers http/1.1; an "h2" connection would be handed off
 * where the handshake ends, in client_handshake). Its requests carry
 * X-Forwarded-Proto: https (unless the service trusts the incoming one),
 * its responses Strict-Transport-Security when the service has an HSTS max
 * age, and a response that ends the connection ends with close_notify. On
 * plain HTTP, GET /.well-known/acme-challenge/TOKEN is answered from the
 * ACME store (server_config.acme) before routing, and GET
 * /.well-known/berth-proxy/tls/SERVICE with the service's sealed
 * certificate when this host issues it for others (certs_sealed); a
 * follower's service (tls_issuer_target) sends other
 * /.well-known/acme-challenge/ requests for its hosts to the issuer, as a
 * picked target; a request for a service with TLS and its redirect gets 301
 * to https://HOST[:PORT]/PATH?QUERY.
 *
 * Errors answered without contacting an upstream: 400 malformed, 404 no
 * service, 408 header timeout, 413 body over the limit, 431 head too big,
 * 501/505 from the parser; from the upstream side: 502 when it cannot be
 * reached or answers garbage, 504 when it does not answer within the target
 * timeout, 503 when the service is stopped or the proxy has no descriptor
 * left to connect with (with its stop message as the
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
 *
 * The data plane's files: server.c (workers, listener, the client and
 * exchange state machines), conn (socket I/O behind the conn_io table),
 * pool (upstream connections), spool (buffered request bodies), tunnel
 * (upgraded connections), h2 (HTTP/2 connections, each stream a client
 * of its own) and accesslog; pool, spool, tunnel and h2 share
 * server.c's structs through proxy/worker.h, which is internal to them.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct target;
struct tls_server;
struct acme_store;

/*
 * A listening socket and what it serves ("http" or "https"; more kinds may
 * come, so a handover carries a list of these rather than a fixed set).
 */
struct server_listener {
	char kind[8];
	int fd;
};

struct server_config {
	const char *listen_addr; /* numeric; NULL: 0.0.0.0 */
	unsigned http_port;	 /* 0: any; set to the bound port by server_start */
	/*
	 * HTTPS: with tls set, each worker has a second listener on https_port
	 * (0: any; set to the bound port) whose connections are TLS.
	 */
	struct tls_server *tls;
	unsigned https_port;
	/* HTTP-01 answers for GET /.well-known/acme-challenge/TOKEN on plain HTTP, or NULL. */
	struct acme_store *acme;
	unsigned workers;
	uint64_t read_timeout_ms; /* a request head must arrive within this */
	uint64_t idle_timeout_ms; /* an idle keep-alive connection or tunnel is closed after this */
	size_t max_head;	  /* 431 beyond */
	/*
	 * The access log: one JSON line per request (request_id, service,
	 * target, method, host, path, query, client_addr, scheme ("http" or
	 * "https"), status, bytes_in, bytes_out, duration_ms, and
	 * "req_NAME"/"resp_NAME" for the headers named here, lowercase with '-' as '_'), or -1 for
	 * none. Each worker appends to a buffer of its own and writes it with one write() per loop
	 * iteration; a pipe is made non-blocking, and when the reader does not keep up, lines
	 * beyond 4 MiB are dropped (and counted).
	 */
	int access_log_fd;
	const char *const *log_req_headers; /* NULL-terminated, may be NULL */
	const char *const *log_resp_headers;
	/*
	 * Listeners taken over from a running proxy (proxy/handoff.h), or
	 * none. With "http" ones, server_start binds nothing for HTTP: each
	 * worker serves one of them (workers is set to their number, since
	 * every one of a SO_REUSEPORT group must be served: a listener nobody
	 * accepts on would keep the connections the kernel hashes to it), and
	 * http_port is set to their port. "https" ones are served the same way
	 * when tls is set (https_port is set to their port; with none, HTTPS is
	 * bound afresh); workers is the larger of the two numbers, and a worker
	 * beyond one kind's number has no listener of that kind. Kinds it does
	 * not serve are left alone (the caller owns them).
	 */
	const struct server_listener *inherit;
	size_t nr_inherit;
	/* HTTP/2 with prior knowledge on the plain listener: a connection that starts with the
	 * client preface (proxy/h2.h) */
	bool h2c;
};

/*
 * Whether something listens on cfg's HTTP port (and address) already: a
 * bind without SO_REUSEPORT is refused. Port 0 is never busy.
 */
bool server_port_busy(const struct server_config *cfg);
/*
 * A listening TCP socket on addr (numeric; NULL: 0.0.0.0) and port, as the
 * workers' are made: non-blocking, close-on-exec, SO_REUSEPORT, deferred
 * accept; v6only: an IPv6 address takes no IPv4 clients (so that 0.0.0.0
 * can be bound beside it). The fd, or -1 with e set and errno kept.
 */
int server_listen_on(const char *addr, unsigned port, bool v6only, struct err *e);
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
/*
 * The listeners (per worker its "http" one and, with HTTPS, its "https"
 * one), for a handover: sets up to max of out, returns how many there are.
 * The fds stay the server's.
 */
size_t server_listeners(struct server_listener *out, size_t max);
/*
 * The end of a handover, once another process serves the same listeners:
 * every worker takes its listener out of its epoll set and drops its fd
 * (the socket lives on in the other process; nothing is shut down, so the
 * connections waiting in the accept queue are the other process's to
 * take). Returns when no worker will call accept() again. From then on
 * every response ends with "Connection: close", an idle keep-alive
 * connection is closed (after one last read, so a request already sent is
 * served), and the rest run until they end: requests in flight, streamed
 * responses, tunnels. (A request that leaves its client just as its idle
 * connection is closed is lost with it, as at any keep-alive close; HTTP
 * clients send it again on a new connection, RFC 9112 section 9.3.1.)
 * An idle TLS connection gets close_notify and lingers until the client
 * closes (as after an error of ours); at server_stop after a drain the TLS
 * ones still open get close_notify too, unless their response is delimited
 * by the close.
 */
void server_stop_accepting(void);
/* The client connections still open (a drain is over at 0). */
unsigned server_open_clients(void);
/* Stops the workers and waits for them; open connections are closed. */
void server_stop(void);

#endif
