/*
 * client: the two load shapes of the proxy benchmark that wrk does not make.
 *
 *   client count PORT CONNS REQUESTS SECONDS
 *       sends REQUESTS keep-alive GET / requests to 127.0.0.1:PORT over CONNS
 *       connections, one at a time on each, and checks every answer is a 200;
 *       prints "requests N errors N reconnects N"
 *   client idle PORT CONNS WINDOW SECONDS
 *       opens CONNS connections, at most WINDOW of them busy at once, sends
 *       one GET / on each and reads the answer, then holds them all idle;
 *       prints "ready N errors N" once every connection is answered (or has
 *       failed), then waits for SIGTERM, and before exiting prints "open N":
 *       how many connections the server still held open
 *
 * Both give up after SECONDS whatever happens, so no run can hang. Answers are
 * framed by Content-Length or a chunked body; the exit status is 0 only when
 * nothing failed. Only 127.0.0.1 is ever contacted.
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
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"

#define BUF_CAP	 8192
#define EVENTS	 256
#define MAX_CONN 60000

static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\n\r\n";

enum state { S_NEW, S_CONNECTING, S_SENDING, S_READING, S_IDLE, S_DONE };

struct conn {
	int fd;
	enum state state;
	size_t sent, len;
	char *buf;
};

struct run {
	bool idle_mode;
	int port, nconns, window;
	long target; /* requests to complete (count mode) */
	long started, completed, errors, reconnects;
	int busy, opened;
	int ep;
	struct conn *conns;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
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

/*
 * Is buf a complete answer? Returns 1 when complete (with *ok set when it is
 * a 200 and *keep when the connection may be reused), 0 when more bytes are
 * needed, -1 when it cannot be framed.
 */
static int response_done(const char *buf, size_t len, bool *ok, bool *keep)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	size_t head;
	const char *cl;

	if (!end) {
		return len >= BUF_CAP ? -1 : 0;
	}
	head = (size_t)(end - buf) + 4;
	*ok = len >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 && memcmp(buf + 8, " 200", 4) == 0;
	*keep = !find_ci(buf, head, "\nconnection: close");
	cl = find_ci(buf, head, "\ncontent-length:");
	if (cl) {
		long n = strtol(cl + 16, NULL, 10);

		if (n < 0 || (size_t)n > BUF_CAP - head) {
			return -1;
		}
		return len >= head + (size_t)n ? 1 : 0;
	}
	if (find_ci(buf, head, "\ntransfer-encoding: chunked")) {
		return memmem(buf + head, len - head, "0\r\n\r\n", 5) ? 1 : 0;
	}
	*keep = false; /* framed by the end of the connection */
	return 0;
}

static void conn_close(struct run *r, struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
}

/* Opens c's connection (or reopens it) and starts sending the request. */
static int conn_start(struct run *r, struct conn *c)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN};
	int one = 1;

	if (c->fd < 0) {
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			return -1;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((unsigned short)r->port);
		if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
		    errno != EINPROGRESS) {
			conn_close(r, c);
			return -1;
		}
		ev.data.ptr = c;
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			conn_close(r, c);
			return -1;
		}
		r->opened++;
	} else {
		ev.data.ptr = c;
		epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	c->state = S_SENDING;
	c->sent = 0;
	c->len = 0;
	r->started++;
	return 0;
}

/* Starts more work while there is some to start and room in the window. */
static void fill(struct run *r)
{
	for (int i = 0; i < r->nconns && r->busy < r->window; i++) {
		struct conn *c = &r->conns[i];

		if (c->state != S_NEW) {
			continue;
		}
		if (!r->idle_mode && r->started >= r->target) {
			return;
		}
		if (conn_start(r, c) < 0) {
			r->errors++;
			c->state = S_DONE;
			continue;
		}
		r->busy++;
	}
}

/* One request on c has finished (ok or not): what c does next. */
static void finished(struct run *r, struct conn *c, bool ok, bool keep)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	r->completed++;
	if (!ok) {
		r->errors++;
	}
	if (r->idle_mode) {
		r->busy--;
		c->state = ok && keep ? S_IDLE : S_DONE;
		if (c->state == S_IDLE) {
			epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
		} else {
			conn_close(r, c);
		}
		return;
	}
	if (r->started >= r->target) {
		r->busy--;
		c->state = S_DONE;
		conn_close(r, c);
		return;
	}
	if (!keep) {
		conn_close(r, c);
		r->reconnects++;
	}
	if (conn_start(r, c) < 0) {
		r->errors++;
		r->busy--;
		c->state = S_DONE;
	}
}

static void failed(struct run *r, struct conn *c)
{
	r->errors++;
	r->completed++;
	r->busy--;
	c->state = S_DONE;
	conn_close(r, c);
}

static void on_event(struct run *r, struct conn *c, unsigned events)
{
	if (c->state == S_SENDING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		ssize_t n =
		    send(c->fd, REQUEST + c->sent, sizeof(REQUEST) - 1 - c->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			return;
		}
		if (n <= 0) {
			failed(r, c);
			return;
		}
		c->sent += (size_t)n;
		if (c->sent == sizeof(REQUEST) - 1) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

			c->state = S_READING;
			epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		return;
	}
	if (c->state == S_READING) {
		bool ok = false, keep = false;
		ssize_t n = recv(c->fd, c->buf + c->len, BUF_CAP - c->len, 0);
		int done;

		if (n < 0 && errno == EAGAIN) {
			return;
		}
		if (n <= 0) {
			failed(r, c);
			return;
		}
		c->len += (size_t)n;
		done = response_done(c->buf, c->len, &ok, &keep);
		if (done < 0) {
			failed(r, c);
		} else if (done > 0) {
			finished(r, c, ok, keep);
		}
	}
	/* Events on an idle connection (the server closing it) are counted at the end. */
}

/* How many idle connections has the server not closed? */
static int count_open(struct run *r)
{
	int open = 0;

	for (int i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];
		char b;

		if (c->state != S_IDLE || c->fd < 0) {
			continue;
		}
		if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN) {
			open++;
		}
	}
	return open;
}

static int usage(void)
{
	fprintf(stderr, "usage: client count PORT CONNS REQUESTS SECONDS\n"
			"       client idle PORT CONNS WINDOW SECONDS\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct run r = {.ep = -1};
	struct epoll_event evs[EVENTS];
	long port, nconns, third, seconds;
	double deadline;
	bool ready_said = false;
	int rc = 1;

	if (argc != 6 || !parse_long(argv[2], 1, 65535, &port) ||
	    !parse_long(argv[3], 1, MAX_CONN, &nconns) ||
	    !parse_long(argv[4], 1, 1000000000, &third) ||
	    !parse_long(argv[5], 1, 3600, &seconds)) {
		return usage();
	}
	if (strcmp(argv[1], "idle") == 0) {
		r.idle_mode = true;
		r.window = (int)third;
	} else if (strcmp(argv[1], "count") == 0) {
		r.target = third;
		r.window = (int)nconns;
	} else {
		return usage();
	}
	r.port = (int)port;
	r.nconns = (int)nconns;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	r.conns = calloc((size_t)r.nconns, sizeof(*r.conns));
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!r.conns || r.ep < 0) {
		perror("client");
		goto out;
	}
	for (int i = 0; i < r.nconns; i++) {
		r.conns[i].fd = -1;
		r.conns[i].buf = malloc(BUF_CAP);
		if (!r.conns[i].buf) {
			perror("client");
			goto out;
		}
	}
	deadline = now_s() + (double)seconds;
	fill(&r);
	while (!stopping && now_s() < deadline) {
		int n;

		if (r.busy == 0) {
			if (!r.idle_mode) {
				break;
			}
			if (!ready_said) {
				printf("ready %d errors %ld\n", r.opened, r.errors);
				fflush(stdout);
				ready_said = true;
			}
		}
		n = epoll_wait(r.ep, evs, EVENTS, 200);
		for (int i = 0; i < n; i++) {
			on_event(&r, evs[i].data.ptr, evs[i].events);
		}
		fill(&r);
	}
	if (r.idle_mode) {
		if (!ready_said) {
			printf("not ready: %d of %d answered, errors %ld\n",
			       (int)r.completed - (int)r.errors, r.nconns, r.errors);
		}
		printf("open %d\n", count_open(&r));
		rc = ready_said && r.errors == 0 ? 0 : 1;
	} else {
		printf("requests %ld errors %ld reconnects %ld\n", r.completed - r.errors, r.errors,
		       r.reconnects);
		rc = r.completed == r.target && r.errors == 0 ? 0 : 1;
	}
	fflush(stdout);
out:
	if (r.conns) {
		for (int i = 0; i < r.nconns; i++) {
			conn_close(&r, &r.conns[i]);
			free(r.conns[i].buf);
		}
		free(r.conns);
	}
	if (r.ep >= 0) {
		close(r.ep);
	}
	return rc;
}
