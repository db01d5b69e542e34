/*
 * steer — the decisions a service's options make about one request or
 * response, as pure functions of their inputs (no I/O, no clock, no global
 * state), so each is unit-tested and, where it reads untrusted bytes,
 * fuzzed. The data plane (proxy/server.c) gathers the inputs and acts.
 *
 * - Redirects: whether a request is answered with a 301, and to which
 *   scheme and host (--canonical-host; the TLS redirect joins here).
 * - The read/write split (--read-target): which requests may go to read
 *   targets, and whether a client's writer cookie still holds it on the
 *   writers.
 * - Cookie values of a request's Cookie header, by name.
 * - Cookie path scoping (--scope-cookie-paths): a Set-Cookie value with its
 *   Path moved under the service's path prefix.
 * - Paths left out of the metrics (--exclude-metrics-path).
 * - Which responses are read whole (--buffer-responses).
 */
#ifndef STEER_H
#define STEER_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/strvec.h"

/* The cookie that keeps a client on the writers after a write (kamal-proxy's name). */
#define STEER_WRITER_COOKIE "kamal-writer"

struct steer_redirect {
	bool https;	   /* the scheme to send the client to */
	struct slice host; /* the host (without a port) */
	bool keep_port;	   /* the request's port goes with it (the scheme did not change) */
	struct slice port; /* the request's port, without ':' (empty: none) */
};

/*
 * Whether a request that came over https (or not), for host (its Host
 * header: a name, "[v6]", either with ":port"; may be empty), is to be
 * redirected: to https when tls_redirect and it came over http; to
 * canonical (may be NULL) when that is not its host (compared without the
 * port, case-insensitively, a final '.' ignored). A request with no host
 * is not redirected to a canonical host (there is nothing to correct).
 * When true, *to says where; the Location is to->https ? "https" : "http",
 * "://", to->host, ":" to->port when to->keep_port and a port was given,
 * then the request's path and query.
 */
bool steer_redirect(bool https, bool tls_redirect, const char *canonical, struct slice host,
		    struct steer_redirect *to);

/*
 * Whether a request may go to read targets: GET or HEAD, and not a
 * WebSocket upgrade unless websockets_ok.
 */
bool steer_is_read(struct slice method, bool websocket, bool websockets_ok);

/*
 * The value of cookie `name` in one Cookie header value ("a=1; b=2"), its
 * quotes taken off: true and *v set, or false when it is not there.
 */
bool steer_cookie(struct slice header, const char *name, struct slice *v);

/*
 * Whether a writer cookie's value (the time it ends, in milliseconds since
 * the epoch, in digits) is still live at now_ms. Anything else is not.
 */
bool steer_writer_live(struct slice v, uint64_t now_ms);

/*
 * Scopes a Set-Cookie value under prefix (a normalized path prefix other
 * than "/"): its Path attribute (the last one, as user agents take it),
 * without its '/'s at either end, goes below prefix ("Path=/" and no Path
 * at all give prefix itself; "Path=/a" gives prefix "/a"). A cookie with a
 * Domain attribute other than host (the request's host, port and a leading
 * '.' of the Domain ignored, case-insensitively) is left alone, as is a
 * value that has no "name=" before its first ';'. Returns true with the
 * new value in out (reset first), else false.
 */
bool steer_scope_cookie(struct slice value, const char *prefix, struct slice host,
			struct sbuf *out);

/*
 * Whether a service that buffers responses buffers one of this
 * Content-Type (the header's value; may be empty): all but an event stream
 * ("text/event-stream", any case, parameters ignored), which is never
 * whole and would never be sent.
 */
bool steer_buffers_response(struct slice content_type);

/*
 * Whether path (normalized, as the target sees it: without the service's
 * prefix when that is stripped) is one of paths or under one on a segment
 * boundary ("/up" covers "/up" and "/up/x", not "/upx").
 */
bool steer_path_excluded(struct slice path, const struct strvec *paths);

#endif
