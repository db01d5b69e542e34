#include "proxy/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"

/* A layer of its own (as TLS is): it takes at most 'room' bytes, then says EAGAIN. */
static char got[65536];
static size_t got_len, room;

static ssize_t fake_read(struct conn *c, void *buf, size_t len)
{
	errno = EAGAIN;
	return -1;
}

static ssize_t fake_writev(struct conn *c, const struct iovec *iov, int nr)
{
	size_t n = 0;
	int i;

	for (i = 0; i < nr && room; i++) {
		size_t take = iov[i].iov_len < room ? iov[i].iov_len : room;

		memcpy(got + got_len, iov[i].iov_base, take);
		got_len += take;
		room -= take;
		n += take;
	}
	if (!n) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)n;
}

static void fake_shutdown(struct conn *c)
{
}

static void fake_close(struct conn *c)
{
}

/* What the layer says an operation that said EAGAIN waits for (TLS: maybe the other way). */
static unsigned fake_waits_for;

static unsigned fake_waits(const struct conn *c)
{
	return fake_waits_for;
}

static const struct conn_io fake_io = {fake_read, fake_writev, fake_shutdown, fake_close,
				       fake_waits};

static int tmpfile_with(const char *data, size_t len)
{
	char path[] = "/tmp/test-conn-XXXXXX";
	int fd = mkstemp(path);

	unlink(path);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror("tmpfile");
		exit(1);
	}
	return fd;
}

/* A spooled body through a layer without sendfile: read from the file, resumed where it stopped. */
static void test_sendfile_through_a_layer(void)
{
	static char data[40000];
	struct conn c = {.fd = -1, .io = &fake_io};
	off_t off = 0;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (char)('a' + i % 26);
	}
	fd = tmpfile_with(data, sizeof(data));
	got_len = 0;
	room = 1000;
	CHECK_INT(conn_sendfile(&c, fd, &off, sizeof(data)), 1000);
	CHECK_INT(off, 1000);
	CHECK_INT(conn_sendfile(&c, fd, &off, sizeof(data) - 1000), -1);
	CHECK_INT(errno, EAGAIN);
	CHECK_INT(off, 1000);
	while (off < (off_t)sizeof(data)) {
		room = 30000;
		CHECK(conn_sendfile(&c, fd, &off, sizeof(data) - (size_t)off) > 0);
	}
	CHECK_INT(got_len, sizeof(data));
	CHECK(!memcmp(got, data, sizeof(data)));
	close(fd);
}

static void test_plain_socket(void)
{
	struct conn a = {.io = &conn_io_plain}, b = {.io = &conn_io_plain};
	struct iovq q;
	char buf[64];
	off_t off = 2;
	int sv[2], fd;

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	a.fd = sv[0];
	b.fd = sv[1];
	iovq_reset(&q);
	iovq_push(&q, "GET ", 4);
	iovq_push(&q, "/ HTTP/1.1\r\n", 12);
	CHECK_INT(iovq_write(&a, &q), 1);
	CHECK_INT(q.total, 16);
	CHECK_INT(conn_write(&a, "x", 1), 1);
	fd = tmpfile_with("..body", 6);
	CHECK_INT(conn_sendfile(&a, fd, &off, 4), 4);
	CHECK_INT(off, 6);
	CHECK_INT(conn_read(&b, buf, sizeof(buf)), 21);
	CHECK(!memcmp(buf, "GET / HTTP/1.1\r\nxbody", 21));
	CHECK_INT(conn_read(&b, buf, sizeof(buf)), -2); /* nothing now */
	CHECK(!(b.flags & CONN_F_CAN_READ));
	a.io->shutdown(&a);
	CHECK_INT(conn_read(&b, buf, sizeof(buf)), 0);
	close(fd);
	a.io->close(&a);
	b.io->close(&b);
	CHECK_INT(a.fd, -1);
}

/*
 * A read that waits for the socket to be writable (TLS sending its part
 * first) must be retried on EPOLLOUT, though epoll says nothing of input.
 */
static void test_blocked_the_other_way(void)
{
	struct conn c = {.fd = -1, .io = &fake_io, .flags = CONN_F_CAN_READ | CONN_F_CAN_WRITE};
	char buf[16];

	fake_waits_for = CONN_F_CAN_WRITE;
	CHECK_INT(conn_read(&c, buf, sizeof(buf)), -2);
	CHECK_INT(c.flags & (CONN_F_CAN_READ | CONN_F_CAN_WRITE), 0);
	conn_set_events(&c, EPOLLOUT);
	CHECK(c.flags & CONN_F_CAN_READ);
	CHECK(c.flags & CONN_F_CAN_WRITE);
	CHECK(!(c.flags & CONN_F_READ_WANTS_OUT));

	/* a write that waits for input: EPOLLIN lets it go on */
	fake_waits_for = CONN_F_CAN_READ;
	room = 0;
	CHECK_INT(conn_write(&c, "x", 1), 0);
	CHECK_INT(c.flags & (CONN_F_CAN_READ | CONN_F_CAN_WRITE), 0);
	conn_set_events(&c, EPOLLIN);
	CHECK(c.flags & CONN_F_CAN_WRITE);
	CHECK(c.flags & CONN_F_CAN_READ);

	/* the usual case: only the flag of the operation goes */
	fake_waits_for = CONN_F_CAN_READ;
	CHECK_INT(conn_read(&c, buf, sizeof(buf)), -2);
	CHECK(!(c.flags & CONN_F_CAN_READ));
	CHECK(c.flags & CONN_F_CAN_WRITE);
	conn_set_events(&c, EPOLLOUT);
	CHECK(!(c.flags & CONN_F_CAN_READ));
	fake_waits_for = 0;
}

int main(void)
{
	UNIT_RUN(test_sendfile_through_a_layer);
	UNIT_RUN(test_plain_socket);
	UNIT_RUN(test_blocked_the_other_way);
	return unit_done();
}
