/*
 * h2 — HTTP/2 client connections (RFC 9113, with libnghttp2), served by the
 * same exchanges as HTTP/1.1: every stream becomes a client of its own, and
 * its request reaches an upstream over a pooled HTTP/1.1 connection with the
 * routing, rollout, pause, buffering, error pages, access log, metrics,
 * X-Forwarded-* headers and timeouts of any other request.
 *
 * A stream's client reads and writes through a conn_io table of this module
 * instead of a socket: it reads its request as an HTTP/1.1 head written from
 * the stream's header fields (":authority" as Host, cookies joined with
 * "; ", "Connection: close": one exchange per stream), then its body, framed
 * by the client's content-length or else chunked as DATA frames arrive (a
 * request without a body gets its head in its read buffer at the start,
 * parsed where it was written); and
 * what the exchange writes back, an HTTP/1.1 response, becomes HEADERS (the
 * status and the end-to-end fields, names lowercased) and DATA frames, the
 * chunked framing decoded. Trailers are dropped both ways. A 100 Continue
 * from the upstream is passed on as an interim HEADERS.
 *
 * Flow control follows the upstream: DATA a stream received counts against
 * its window (64 KiB; the connection's: 1 MiB) until its exchange has read
 * it, so an upload goes as fast as the upstream takes it; a response is
 * read from the upstream as fast as the client's windows let it go, with at
 * most 64 KiB waiting per stream. The connection's own output waits in a
 * buffer of at most 64 KiB; while it is full, nothing more is read from the
 * client.
 *
 * Limits against a hostile client: 128 concurrent streams; a request whose
 * header fields take more than the server's max head gets 431 (and the
 * limit is advertised as SETTINGS_MAX_HEADER_LIST_SIZE); more than 8
 * CONTINUATION frames in a header block, SETTINGS or PING frames whose acks
 * pile up (1000), or more streams that ended early (reset, refused) than
 * 100 plus those that completed, close the connection with GOAWAY
 * (ENHANCE_YOUR_CALM for the resets: CVE-2023-44487). A stream whose
 * response cannot move for the idle timeout (the client keeps its window
 * shut) is reset with CANCEL, ending its exchange; a connection whose
 * socket takes nothing for that long, or that has no stream for that long,
 * is closed. No push, no RFC 8441 (WebSocket stays on HTTP/1.1).
 *
 * A plain connection is handed over (h2_start) when it starts with the
 * client preface and the server runs with h2c (prior knowledge), or when
 * TLS negotiated "h2". On a drain (a handover to a new process) every
 * connection is sent a GOAWAY and closes when its streams are done; when
 * the worker stops, the GOAWAY is all it gets.
 *
 * Internal to the data plane (proxy/worker.h).
 */
#ifndef H2_H
#define H2_H

#include <stddef.h>
#include <stdint.h>

struct client;
struct conn_io;
struct worker;

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/* 1: p[0, len) starts with the whole client preface; 0: it may, more is needed; -1: it does not. */
int h2_preface(const char *p, size_t len);
/*
 * Turns the client connection cl, whose read buffer holds what came so far
 * (the preface first), into an HTTP/2 connection: from then on its events go
 * to h2_event, and client_close(cl) ends every stream (h2_release).
 */
void h2_start(struct client *cl);
/* An epoll event for the HTTP/2 connection that cl carries. */
void h2_event(struct client *cl, uint32_t ev);
/* Ends the HTTP/2 side of cl: each stream's exchange ends; frees it (client_close calls it). */
void h2_release(struct client *cl);
/* At the end of a loop iteration: w's HTTP/2 connections read, drive their streams and write. */
void h2_flush(struct worker *w);
/*
 * A drain (the listeners went to another process): each of w's HTTP/2
 * connections reads what its client sent so far, then gets a GOAWAY naming
 * the last stream read, and closes once those streams are done. A
 * connection handed over later in the drain (its TLS handshake ended then)
 * gets the same at once.
 */
void h2_drain(struct worker *w);
/* The worker stops: a GOAWAY to each of its HTTP/2 connections, as far as the socket takes it. */
void h2_stop(struct worker *w);

/*
 * The I/O table of a stream's client (for tests: a client with it reads and
 * writes a stream, after what its buffer, cl->buf from pos to len, holds).
 */
extern const struct conn_io h2_stream_io;

#endif
