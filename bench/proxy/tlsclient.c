/*
 * tlsclient: TLS handshakes per second, the load shape of the proxy
 * benchmark that neither wrk nor h2load makes.
 *
 *   tlsclient PORT SNI SECONDS THREADS new|resume
 *
 * Each of THREADS threads, for SECONDS, in a loop: connects to
 * 127.0.0.1:PORT, makes a TLS handshake with SNI as the server name (new: a
 * full handshake every time; resume: offering the session the previous
 * connection of the thread was given, so every handshake but the first of a
 * thread is a resumption when the server allows it), sends one
 * "GET / HTTP/1.1" with "Connection: close", reads the answer to the end and
 * checks that it is a 200, then closes. Prints
 *
 *   handshakes N resumed N errors N seconds S
 *
 * where handshakes counts the connections whose answer was a 200. The
 * client verifies no certificate: what is measured is the server's cost.
 * Only 127.0.0.1 is ever contacted; every socket has a 5 s timeout, so no
 * run can hang.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"

static int port;
static const char *sni;
static double seconds;
static bool resume;
static SSL_CTX *ctx;
static atomic_long ok_count, resumed_count, error_count;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0) {
		return -1;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One connection: handshake, request, answer. Returns 1 for a 200, 0 otherwise. */
static int one(SSL_SESSION **sess, bool *reused)
{
	char req[256], buf[4096];
	size_t got = 0;
	int fd, n, ret = 0;
	SSL *ssl = NULL;

	*reused = false;
	if ((fd = dial()) < 0) {
		return 0;
	}
	if (!(ssl = SSL_new(ctx))) {
		goto out;
	}
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, sni);
	if (resume && *sess) {
		SSL_set_session(ssl, *sess);
	}
	if (SSL_connect(ssl) != 1) {
		goto out;
	}
	n = snprintf(req, sizeof(req),
		     "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench\r\nConnection: close\r\n\r\n",
		     sni);
	if (SSL_write(ssl, req, n) != n) {
		goto out;
	}
	/* Connection: close: the answer ends with the connection */
	for (;;) {
		n = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got));
		if (n <= 0) {
			break;
		}
		if (resume && got == 0) {
			/*
			 * The server's session tickets came before the answer:
			 * keep the session now, before a close without
			 * close_notify makes OpenSSL mark it not resumable.
			 */
			SSL_SESSION *s = SSL_get1_session(ssl);

			if (s) {
				SSL_SESSION_free(*sess);
				*sess = s;
			}
		}
		got += (size_t)n;
		if (got == sizeof(buf) - 1) {
			got = 12; /* keep the status line: only its code is read */
		}
	}
	buf[got] = '\0';
	ret = got >= 12 && !strncmp(buf, "HTTP/1.1 200", 12);
	*reused = SSL_session_reused(ssl);
	/* done with it: freeing an SSL not shut down would mark its session not resumable */
	SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	if (resume && ret) {
		/* a ticket that came with or after the answer is the one to offer next */
		SSL_SESSION *s = SSL_get1_session(ssl);

		if (s && SSL_SESSION_is_resumable(s)) {
			SSL_SESSION_free(*sess);
			*sess = s;
		} else {
			SSL_SESSION_free(s);
		}
	}
out:
	if (ssl) {
		SSL_free(ssl);
	}
	close(fd);
	return ret;
}

static void *loop(void *arg)
{
	SSL_SESSION *sess = NULL;
	double end = now() + seconds;
	bool reused;

	(void)arg;
	while (now() < end) {
		if (one(&sess, &reused)) {
			atomic_fetch_add(&ok_count, 1);
			if (reused) {
				atomic_fetch_add(&resumed_count, 1);
			}
		} else {
			atomic_fetch_add(&error_count, 1);
			ERR_clear_error();
		}
	}
	SSL_SESSION_free(sess);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[64];
	int threads, i;
	double t0;

	if (argc != 6 || (strcmp(argv[5], "new") && strcmp(argv[5], "resume"))) {
		fprintf(stderr, "usage: tlsclient PORT SNI SECONDS THREADS new|resume\n");
		return 2;
	}
	port = atoi(argv[1]);
	sni = argv[2];
	seconds = atof(argv[3]);
	threads = atoi(argv[4]);
	resume = !strcmp(argv[5], "resume");
	if (port <= 0 || port > 65535 || seconds <= 0 || seconds > 600 || threads < 1 ||
	    threads > 64) {
		fprintf(stderr, "tlsclient: bad arguments\n");
		return 2;
	}
	if (!(ctx = SSL_CTX_new(TLS_client_method()))) {
		fprintf(stderr, "tlsclient: cannot make a TLS context\n");
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	t0 = now();
	for (i = 0; i < threads; i++) {
		pthread_create(&th[i], NULL, loop, NULL);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
	}
	printf("handshakes %ld resumed %ld errors %ld seconds %.3f\n", atomic_load(&ok_count),
	       atomic_load(&resumed_count), atomic_load(&error_count), now() - t0);
	SSL_CTX_free(ctx);
	return atomic_load(&error_count) ? 1 : 0;
}
