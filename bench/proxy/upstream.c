/*
 * upstream: the fixed upstream behind every proxy in the proxy benchmark.
 *
 *   upstream PORT        listen on 127.0.0.1:PORT (0: the kernel picks);
 *                        prints "port N" once listening
 *
 * One thread, level-triggered epoll, keep-alive, pipelining; every request
 * (GET or HEAD without a body; the benchmark sends nothing else) gets the same
 * 200 with a 2-byte body. It does as little as possible per request so that
 * the proxy in front of it, not the upstream, is what the benchmark measures.
 * It is a benchmark fixture, not a server: a request it cannot frame (head
 * over 8 KiB, a body) closes the connection. SIGTERM or SIGINT stops it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/banned.h"

#define HEAD_MAX  8192
#define MAX_FDS	  65536
#define EVENTS	  256
#define OUT_BATCH 64 /* responses written with one send() */

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
			       "Content-Type: text/plain\r\n"
			       "Content-Length: 2\r\n"
			       "\r\n"
			       "ok";
static const char RESPONSE_CLOSE[] = "HTTP/1.1 200 OK\r\n"
				     "Content-Type: text/plain\r\n"
				     "Content-Length: 2\r\n"
				     "Connection: close\r\n"
				     "\r\n"
				     "ok";

struct conn {
	size_t len;
	char buf[HEAD_MAX];
};

static struct conn *conns[MAX_FDS];
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Case-insensitive search for needle in [p, p+n). */
static const char *find_ci(const char *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++) {
		if (strncasecmp(p + i, needle, k) == 0) {
			return p + i;
		}
	}
	return NULL;
}

/* Does the head [p, p+n) ask for the connection to close after the answer? */
static bool wants_close(const char *p, size_t n)
{
	const char *eol = memchr(p, '\n', n);
	bool http10 = eol && eol - p >= 9 && memcmp(eol - 9, "HTTP/1.0", 8) == 0;

	if (find_ci(p, n, "\nconnection: close")) {
		return true;
	}
	return http10 && !find_ci(p, n, "\nconnection: keep-alive");
}

static void drop(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd]);
	conns[fd] = NULL;
}

/* Sends len bytes in full; the responses are tiny, so a short write is rare. */
static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			struct timeval tv = {.tv_sec = 5};
			fd_set w;

			if (fd >= FD_SETSIZE) {
				return -1;
			}
			FD_ZERO(&w);
			FD_SET(fd, &w);
			if (select(fd + 1, NULL, &w, NULL, &tv) <= 0) {
				return -1;
			}
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads what is there and answers every complete head in it. */
static void serve(int ep, int fd)
{
	struct conn *c = conns[fd];
	static char out[OUT_BATCH * sizeof(RESPONSE)];
	size_t outlen = 0, off = 0;
	bool close_after = false;
	ssize_t n;

	n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n <= 0) {
		drop(ep, fd);
		return;
	}
	c->len += (size_t)n;
	for (;;) {
		const char *end = memmem(c->buf + off, c->len - off, "\r\n\r\n", 4);
		size_t head;

		if (!end) {
			break;
		}
		head = (size_t)(end - (c->buf + off)) + 4;
		close_after = wants_close(c->buf + off, head);
		off += head;
		if (close_after) {
			memcpy(out + outlen, RESPONSE_CLOSE, sizeof(RESPONSE_CLOSE) - 1);
			outlen += sizeof(RESPONSE_CLOSE) - 1;
			break;
		}
		memcpy(out + outlen, RESPONSE, sizeof(RESPONSE) - 1);
		outlen += sizeof(RESPONSE) - 1;
		if (outlen + sizeof(RESPONSE) > sizeof(out)) {
			if (send_all(fd, out, outlen) < 0) {
				drop(ep, fd);
				return;
			}
			outlen = 0;
		}
	}
	if (outlen > 0 && send_all(fd, out, outlen) < 0) {
		drop(ep, fd);
		return;
	}
	if (close_after || (off == 0 && c->len == sizeof(c->buf))) {
		drop(ep, fd);
		return;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct epoll_event evs[EVENTS], ev = {.events = EPOLLIN};
	socklen_t slen = sizeof(sin);
	int lfd = -1, ep = -1, one = 1, rc = 1;
	char *end;
	long port;

	if (argc != 2) {
		fprintf(stderr, "usage: upstream PORT\n");
		return 2;
	}
	port = strtol(argv[1], &end, 10);
	if (*end || port < 0 || port > 65535) {
		fprintf(stderr, "upstream: bad port '%s'\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("upstream: socket");
		goto out;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) < 0) {
		perror("upstream: listen");
		goto out;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("upstream: epoll");
		goto out;
	}
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);

	while (!stopping) {
		int n = epoll_wait(ep, evs, EVENTS, 1000);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd != lfd) {
				if (conns[fd]) {
					serve(ep, fd);
				}
				continue;
			}
			for (;;) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				struct epoll_event cev = {.events = EPOLLIN};

				if (cfd < 0) {
					break;
				}
				if (cfd >= MAX_FDS || !(conns[cfd] = malloc(sizeof(struct conn)))) {
					close(cfd);
					continue;
				}
				conns[cfd]->len = 0;
				setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				cev.data.fd = cfd;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) < 0) {
					drop(ep, cfd);
				}
			}
		}
	}
	rc = 0;
out:
	if (ep >= 0) {
		close(ep);
	}
	if (lfd >= 0) {
		close(lfd);
	}
	return rc;
}
