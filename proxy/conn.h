/*
 * conn — a non-blocking socket watched by a worker's epoll, with the few
 * I/O operations the proxy needs behind a small table, so a TLS layer can
 * slot in under a connection without the HTTP code changing.
 *
 * Sockets are registered once, edge-triggered, for input and output;
 * CONN_F_CAN_READ / CONN_F_CAN_WRITE remember what epoll last said, and are
 * cleared when an operation returns EAGAIN. Interest never changes, so no
 * epoll_ctl call is made after the first.
 *
 * The HTTP code moves bytes only through conn_read(), conn_write(),
 * iovq_write() and the table's operations, never with read()/write() on a
 * client's or an upstream's descriptor: a second struct conn_io (TLS)
 * then serves it unchanged.
 */
#ifndef CONN_H
#define CONN_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lib/xalloc.h"
#include "proxy/http1.h"

struct conn;

/* What epoll calls: the first member of every watched object. */
struct handler {
	void (*fn)(struct handler *h, uint32_t events);
};

struct conn_io {
	/* I/O convention: >0 bytes, 0 end of stream, <0 error with errno (EAGAIN: not now). */
	ssize_t (*read)(struct conn *c, void *buf, size_t len);
	ssize_t (*writev)(struct conn *c, const struct iovec *iov, int nr);
	/* Stops sending (after a final response); the peer sees the end of the stream. */
	void (*shutdown)(struct conn *c);
	void (*close)(struct conn *c);
	/*
	 * After EAGAIN from read or writev: CONN_F_CAN_READ or CONN_F_CAN_WRITE,
	 * the readiness the operation waits for. NULL: the one it asked for (TCP);
	 * TLS may read only once it could write, and write once it could read.
	 */
	unsigned (*waits)(const struct conn *c);
};

enum conn_flags {
	CONN_F_CAN_READ = 1 << 0,
	CONN_F_CAN_WRITE = 1 << 1,
	CONN_F_DEAD = 1 << 2, /* closed; memory freed at the end of the loop iteration */
	CONN_F_HUP = 1 << 3,  /* epoll said the peer hung up (or an error): read to the end */
	/* A read waits for the socket to be writable (TLS): EPOLLOUT makes it CAN_READ too. */
	CONN_F_READ_WANTS_OUT = 1 << 4,
	/* A write waits for the socket to be readable (TLS): EPOLLIN makes it CAN_WRITE too. */
	CONN_F_WRITE_WANTS_IN = 1 << 5,
};

struct conn {
	struct handler h;
	int fd;
	unsigned flags;
	const struct conn_io *io;
	void *io_data; /* the TLS session (proxy/tls.h), or NULL */
};

/* Plain TCP. */
extern const struct conn_io conn_io_plain;

/* Registers c with the epoll instance epfd, once for good (dies when the kernel refuses). */
void conn_watch(int epfd, struct conn *c);
/* Notes what an epoll event says about c in its CONN_F_* flags. */
void conn_set_events(struct conn *c, uint32_t ev);
/*
 * Notes that an operation (asked: CONN_F_CAN_READ for a read, CONN_F_CAN_WRITE
 * for a write) said EAGAIN: clears the flags of the readiness it waits for
 * (the table's waits()), so that the next epoll event of that kind lets it
 * go on. Every caller of the table's read and writev that sees EAGAIN calls it.
 */
void conn_blocked(struct conn *c, unsigned asked);

/* >0 bytes read, 0 end of stream, -1 error, -2 nothing now (CONN_F_CAN_READ cleared). */
ssize_t conn_read(struct conn *c, char *p, size_t len);
/* >0 bytes written, 0 socket full (CONN_F_CAN_WRITE cleared), -1 error. */
ssize_t conn_write(struct conn *c, const char *p, size_t len);
/*
 * Sends up to len bytes of the file fd from *off (advanced by what was
 * sent), for a body spooled to a file: with sendfile(2) on a plain socket,
 * else read into a buffer and written through the table's writev. The
 * table's convention: >0 bytes, <0 with errno (EAGAIN: the socket is full).
 */
ssize_t conn_sendfile(struct conn *c, int fd, off_t *off, size_t len);

#define IOVQ_MAX (HTTP1_MAX_HEADERS + 24) /* a request head's lines and what the proxy adds */

/*
 * A queue of slices written with writev, resumed after a partial write.
 * Pushing is inline: it runs a dozen times per request.
 */
struct iovq {
	struct iovec v[IOVQ_MAX];
	int nr, i;
	size_t total;	/* bytes pushed */
	size_t written; /* bytes written so far */
};

static inline void iovq_reset(struct iovq *q)
{
	q->nr = q->i = 0;
	q->total = q->written = 0;
}

/* Appends a slice, merged with the previous one when they touch. */
static inline void iovq_push(struct iovq *q, const void *p, size_t len)
{
	struct iovec *last = q->nr ? &q->v[q->nr - 1] : NULL;

	if (!len) {
		return;
	}
	q->total += len;
	if (last && (const char *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
		return;
	}
	if (q->nr == IOVQ_MAX) {
		xdie("iovq overflow");
	}
	q->v[q->nr++] = (struct iovec){(void *)p, len};
}

/* Writes what q holds: 1 when all was written, 0 when the socket is full, -1 on error. */
int iovq_write(struct conn *c, struct iovq *q);

#endif
