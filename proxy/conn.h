/*
 * conn — a non-blocking socket watched by a worker's epoll, with the few
 * I/O operations the proxy needs behind a small table, so a TLS layer can
 * slot in under a connection without the HTTP code changing.
 *
 * Sockets are registered once, edge-triggered, for input and output;
 * CONN_F_CAN_READ / CONN_F_CAN_WRITE remember what epoll last said, and are
 * cleared when an operation returns EAGAIN. Interest never changes, so no
 * epoll_ctl call is made after the first.
 */
#ifndef CONN_H
#define CONN_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

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
};

enum conn_flags {
	CONN_F_CAN_READ = 1 << 0,
	CONN_F_CAN_WRITE = 1 << 1,
	CONN_F_DEAD = 1 << 2, /* closed; memory freed at the end of the loop iteration */
	CONN_F_HUP = 1 << 3,  /* epoll said the peer hung up (or an error): read to the end */
};

struct conn {
	struct handler h;
	int fd;
	unsigned flags;
	const struct conn_io *io;
	void *io_data; /* the TLS session, later */
};

/* Plain TCP. */
extern const struct conn_io conn_io_plain;

#endif
