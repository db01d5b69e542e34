/*
 * spool — request bodies read whole before a target is chosen
 * (--buffer-requests, service_opts.buffer_requests), and the store that
 * also holds response bodies read whole (--buffer-responses).
 *
 * A request whose body is chunked or not all in the first read is spooled:
 * a slow upload then holds no app connection and no target's in-flight
 * count (which a deploy drains). The body is held in memory up to the
 * service's --buffer-memory (1 MiB by default),
 * beyond that in a temporary file in $TMPDIR (default /tmp) that has no
 * name from the start (O_TMPFILE), so a slow client costs little memory;
 * the limit is --max-request-body, or SPOOL_MAX without one (413 beyond).
 * The upstream gets it with a Content-Length (a chunked body decoded,
 * trailers dropped); "Expect: 100-continue" is answered by the proxy. Its
 * bytes must keep coming within the read timeout (408). Writing that file
 * is the one place a worker touches the disk, which the page cache normally
 * absorbs; 500 when it cannot be written. When the body is in, the service
 * is looked up again by name (404 or 503 when it went away or has no
 * target) and a target picked then; a spooled request is not sent again on
 * another target.
 *
 * The steps follow the exchange convention of server.c: 0 blocked, 1
 * progress, 2 the exchange restarted, -1 the client was closed.
 *
 * Internal to the data plane (proxy/worker.h).
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sbuf.h"

#define SPOOL_MAX (1ULL << 30) /* largest spooled body without --max-request-body */

struct exch;
struct service;

/* A request whose body is read whole before the upstream is contacted (--buffer-requests). */
struct spool {
	struct sbuf head; /* the rewritten head, without its last CRLF */
	struct sbuf mem;  /* the body, while it is small */
	int fd;		  /* else the body is in this unlinked temporary file, or -1 */
	uint64_t size, sent;
	char *svc; /* the service's name: it is looked up again when the body is in */
	bool rollout;
	uint64_t mem_max;    /* the service's buffer_memory */
	uint64_t timeout_ms; /* the next bytes are due within this (else 408) */
};

/*
 * Starts spooling x's body: the head built so far in x->q_up (all but its
 * last CRLF) is copied, the target x took is let go, and x waits in
 * RQ_BUFFER. rollout: the request goes to the service's rollout targets;
 * timeout_ms: the read timeout, armed again whenever bytes come.
 */
void spool_start(struct exch *x, struct service *svc, size_t head_len, bool rollout,
		 uint64_t timeout_ms);
/*
 * A store for a response body read whole (--buffer-responses): in memory up
 * to mem_max bytes, then in a temporary file, as a request's. head holds
 * the response head for the client.
 */
struct spool *spool_new(uint64_t mem_max);
/* Adds len bytes at p to rb. 0, or -1 when the temporary file cannot be made or written. */
int spool_add(struct spool *rb, const char *p, size_t len);
/* RQ_BUFFER: reads more of the body; when it is whole, picks a target and connects. */
int spool_step(struct exch *x);
/* RQ_FILE: sends more of a body spooled to a file to the upstream. */
int spool_send(struct exch *x);
/* Frees rb (NULL: nothing), closing its file. */
void spool_free(struct spool *rb);

#endif
