#include "proxy/conn.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "lib/banned.h"

/* Plain TCP: the I/O table a TLS layer will stand in for. */
static ssize_t plain_read(struct conn *c, void *buf, size_t len)
{
	return read(c->fd, buf, len);
}
static ssize_t plain_writev(struct conn *c, const struct iovec *iov, int nr)
{
	return writev(c->fd, iov, nr);
}
static void plain_shutdown(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
}
static void plain_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
}
const struct conn_io conn_io_plain = {plain_read, plain_writev, plain_shutdown, plain_close, NULL};

void conn_watch(int epfd, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = &c->h};

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		xdie("epoll_ctl: %s", strerror(errno));
	}
}

void conn_set_events(struct conn *c, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		c->flags |= CONN_F_CAN_READ;
	}
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		c->flags |= CONN_F_HUP;
	}
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		c->flags |= CONN_F_CAN_WRITE;
	}
	/* TLS: an operation that waited for the other direction can go on now. */
	if ((c->flags & CONN_F_READ_WANTS_OUT) && (c->flags & CONN_F_CAN_WRITE)) {
		c->flags = (c->flags & ~CONN_F_READ_WANTS_OUT) | CONN_F_CAN_READ;
	}
	if ((c->flags & CONN_F_WRITE_WANTS_IN) && (c->flags & CONN_F_CAN_READ)) {
		c->flags = (c->flags & ~CONN_F_WRITE_WANTS_IN) | CONN_F_CAN_WRITE;
	}
}

void conn_blocked(struct conn *c, unsigned asked)
{
	unsigned waits = c->io->waits ? c->io->waits(c) : asked;

	if (!waits) {
		waits = asked;
	}
	/* The operation cannot go on until then, whatever epoll said of its own direction. */
	c->flags &= ~(asked | waits);
	if (waits != asked) {
		c->flags |=
		    asked == CONN_F_CAN_READ ? CONN_F_READ_WANTS_OUT : CONN_F_WRITE_WANTS_IN;
	}
}

/* 1 when all was written, 0 when the socket is full, -1 on error. */
int iovq_write(struct conn *c, struct iovq *q)
{
	while (q->i < q->nr) {
		ssize_t n = c->io->writev(c, q->v + q->i, q->nr - q->i);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN) {
				conn_blocked(c, CONN_F_CAN_WRITE);
				return 0;
			}
			return -1;
		}
		q->written += (size_t)n;
		while (n > 0) {
			struct iovec *v = &q->v[q->i];

			if ((size_t)n >= v->iov_len) {
				n -= (ssize_t)v->iov_len;
				q->i++;
			} else {
				v->iov_base = (char *)v->iov_base + n;
				v->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 1;
}

/* >0 bytes written, 0 socket full, -1 error. */
ssize_t conn_write(struct conn *c, const char *p, size_t len)
{
	struct iovec v = {(void *)p, len};

	for (;;) {
		ssize_t n = c->io->writev(c, &v, 1);

		if (n >= 0) {
			return n;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN) {
			conn_blocked(c, CONN_F_CAN_WRITE);
			return 0;
		}
		return -1;
	}
}

/* >0 bytes read, 0 end of stream, -1 error, -2 nothing now. */
ssize_t conn_read(struct conn *c, char *p, size_t len)
{
	for (;;) {
		ssize_t n = c->io->read(c, p, len);

		if (n > 0 && (size_t)n < len && !(c->flags & CONN_F_HUP)) {
			/*
			 * A short read from a TCP socket emptied its receive queue.
			 * Edge-triggered epoll reports the next bytes when they
			 * arrive, so the read that would only say EAGAIN is saved:
			 * one syscall less per request. Not after a hang-up, when
			 * the end of the stream is still to be read. A short TLS
			 * read means the same (proxy/tls.h), and says what it
			 * waits for: OpenSSL holds no decrypted byte back then.
			 */
			conn_blocked(c, CONN_F_CAN_READ);
		}
		if (n >= 0) {
			return n;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN) {
			conn_blocked(c, CONN_F_CAN_READ);
			return -2;
		}
		return -1;
	}
}

ssize_t conn_sendfile(struct conn *c, int fd, off_t *off, size_t len)
{
	char buf[16384];
	struct iovec v;
	ssize_t n;

	if (c->io == &conn_io_plain) {
		return sendfile(c->fd, fd, off, len);
	}
	/* After EAGAIN the same bytes are read again: a layer that must be given them again (TLS)
	 * gets them. */
	n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), *off);
	if (n <= 0) {
		return n;
	}
	v = (struct iovec){buf, (size_t)n};
	n = c->io->writev(c, &v, 1);
	if (n > 0) {
		*off += n;
	}
	return n;
}
