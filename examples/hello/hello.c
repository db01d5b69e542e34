/*
 * hello — the sample app berth deploys in `make demo`: a tiny static web
 * server.
 *
 *	GET /     "hello from <version>"
 *	GET /up   200 once the app is ready (berth-proxy's health check), 503 before
 *
 * The version is BERTH_VERSION (berth sets it in every app container), else
 * HELLO_VERSION (the image's build arg), else "dev". PORT sets the port
 * (3000). HELLO_TOKEN is the example secret (from .berth/secrets): the app
 * only says whether it got it. HELLO_WARMUP_MS makes /up answer 503 for that long after the start,
 * as an app that loads things first would.
 *
 * On SIGTERM (docker stop) it stops accepting, answers the connections that
 * already arrived, and exits 0: no request that reached it is dropped.
 *
 * One connection at a time, one request per connection ("Connection: close"):
 * the proxy in front keeps the clients' connections, so this is all the app
 * needs to be. Build it static so the image can be FROM scratch:
 *	cc -O2 -static -o hello hello.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX 8192 /* bytes of request head read; more is a 431 */

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What hello understands of a request: its method and path. */
struct request {
	char method[8];
	char path[256];
};

/*
 * Parses the request line of buf (len bytes): "METHOD SP PATH SP HTTP/1.x".
 * Returns the HTTP status to answer with: 0 when the request is fine, else
 * 400, 414 (path too long) or 505. Reads only inside buf.
 */
static int parse_request(const char *buf, size_t len, struct request *r)
{
	size_t i = 0, n;

	for (n = 0; i < len && buf[i] >= 'A' && buf[i] <= 'Z'; i++, n++) {
		if (n + 1 >= sizeof(r->method)) {
			return 400;
		}
		r->method[n] = buf[i];
	}
	r->method[n] = '\0';
	if (!n || i >= len || buf[i++] != ' ') {
		return 400;
	}
	for (n = 0; i < len && buf[i] > ' ' && buf[i] < 0x7f; i++, n++) {
		if (n + 1 >= sizeof(r->path)) {
			return 414;
		}
		r->path[n] = buf[i];
	}
	r->path[n] = '\0';
	if (!n || i >= len || buf[i++] != ' ') {
		return 400;
	}
	if (len - i < 8 || memcmp(buf + i, "HTTP/1.", 7)) {
		return 400;
	}
	if (buf[i + 7] != '0' && buf[i + 7] != '1') {
		return 505;
	}
	i += 8;
	if (i >= len || (buf[i] != '\r' && buf[i] != '\n')) {
		return 400;
	}
	return 0;
}

/* The path without its query string equals want. */
static int path_is(const char *path, const char *want)
{
	size_t n = strlen(want);

	return !strncmp(path, want, n) && (path[n] == '\0' || path[n] == '?');
}

static void send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return; /* the client is gone */
		}
		p += n;
		len -= (size_t)n;
	}
}

static void respond(int fd, int status, const char *reason, const char *body, int head_only)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, reason, strlen(body));
	send_all(fd, head, (size_t)n);
	if (!head_only) {
		send_all(fd, body, strlen(body));
	}
}

/* Reads a request head from fd and answers it. */
static void serve(int fd, const char *version, long long ready_at)
{
	char buf[REQUEST_MAX], body[320];
	struct request r;
	size_t len = 0;
	int status, head, complete = 0;

	while (!complete && len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return; /* gone, or too slow (SO_RCVTIMEO) */
		}
		len += (size_t)n;
		complete = memmem(buf, len, "\r\n\r\n", 4) || memmem(buf, len, "\n\n", 2);
	}
	if (!complete) {
		respond(fd, 431, "Request Header Fields Too Large", "request head too large\n", 0);
		return;
	}
	status = parse_request(buf, len, &r);
	if (status) {
		respond(fd, status, status == 414 ? "URI Too Long" : "Bad Request", "bad request\n",
			0);
		return;
	}
	head = !strcmp(r.method, "HEAD");
	if (!head && strcmp(r.method, "GET")) {
		respond(fd, 405, "Method Not Allowed", "only GET and HEAD\n", 0);
	} else if (path_is(r.path, "/up")) {
		if (now_ms() < ready_at) {
			respond(fd, 503, "Service Unavailable", "warming up\n", head);
		} else {
			respond(fd, 200, "OK", "ok\n", head);
		}
	} else if (path_is(r.path, "/")) {
		snprintf(body, sizeof(body), "hello from %s\n", version);
		respond(fd, 200, "OK", body, head);
	} else {
		respond(fd, 404, "Not Found", "not found\n", head);
	}
}

static int listen_on(int port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	int fd, one = 1, zero = 0;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)); /* IPv4 too */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#ifndef HELLO_NO_MAIN
int main(void)
{
	const char *version = getenv("BERTH_VERSION");
	const char *port_env = getenv("PORT"), *warmup = getenv("HELLO_WARMUP_MS");
	struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: accept() returns */
	struct timeval tv = {.tv_sec = 5};
	int port = port_env ? atoi(port_env) : 3000, lfd, fd;
	long long ready_at;

	if (!version || !*version) {
		version = getenv("HELLO_VERSION");
	}
	if (!version || !*version) {
		version = "dev";
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "hello: PORT must be 1..65535\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(port);
	if (lfd < 0) {
		fprintf(stderr, "hello: cannot listen on port %d: %s\n", port, strerror(errno));
		return 1;
	}
	ready_at = now_ms() + (warmup ? atoll(warmup) : 0);
	/* a secret reaches the app as a variable; say that it did, never what it is */
	printf("hello %s listening on port %d (HELLO_TOKEN %s)\n", version, port,
	       getenv("HELLO_TOKEN") ? "set" : "not set");
	fflush(stdout);

	while (!stopping) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			continue; /* EINTR from SIGTERM, or a client that left early */
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		serve(fd, version, ready_at);
		close(fd);
	}

	/* SIGTERM: answer what is already queued, then go */
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		serve(fd, version, ready_at);
		close(fd);
	}
	close(lfd);
	printf("hello %s stopped\n", version);
	return 0;
}
#endif
