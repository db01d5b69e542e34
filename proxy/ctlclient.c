/*
 * control — the client's half of the control socket's protocol
 * (proxy/control.h): `berth-proxy deploy ...` and the other commands, and
 * control_call for berth and berthd. Apart from the proxy's own half so
 * that a program that only talks to a proxy links none of it.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "proxy/control.h"
#include "lib/banned.h"

/* Whether the command named by argv reads the client's standard input. */
static bool wants_stdin(int argc, const char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			continue;
		}
		/* The key goes over the socket, never through an argv. */
		if (!strcmp(argv[i], "--tls-certificate-stdin") ||
		    !strcmp(argv[i], "--tls-certificate-stdin=true") ||
		    !strcmp(argv[i], "--tls-secret-stdin") ||
		    !strcmp(argv[i], "--tls-secret-stdin=true")) {
			return true;
		}
	}
	return false;
}

int control_call(const char *socket_path, int argc, const char **argv, struct slice in,
		 unsigned timeout_ms, control_line_fn on_line, void *data, struct err *e)
{
	uint64_t deadline = timeout_ms ? run_now_ms() + timeout_ms : 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sbuf req = SBUF_INIT, resp = SBUF_INIT;
	struct slice rest, line;
	int fd = -1, i, rc = -1;
	bool ended = false;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		err_set(e, "control socket path '%s' is too long", socket_path);
		goto out;
	}
	for (i = 0; i < argc; i++) {
		if (argv[i][0] == CONTROL_STDIN_MARK) {
			err_set(e, "an argument cannot start with the byte 0x01");
			goto out;
		}
		sbuf_add(&req, argv[i], strlen(argv[i]) + 1);
	}
	if (in.ptr) {
		if (in.len > CONTROL_MAX_STDIN) {
			err_set(e, "the standard input is over %d KiB: not a certificate and a key",
				CONTROL_MAX_STDIN / 1024);
			goto out;
		}
		sbuf_addch(&req, CONTROL_STDIN_MARK);
		sbuf_add(&req, in.ptr, in.len);
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	/*
	 * A proxy that has just started listens on its socket only once its
	 * restored routes are healthy (up to HOLDER_RESTORE_MS): a command given
	 * meanwhile waits for it, as it would for a busy proxy.
	 */
	for (uint64_t until = run_now_ms() + CONTROL_CONNECT_WAIT_MS;;) {
		int err;

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			break;
		}
		err = errno;
		if (fd >= 0) {
			close(fd);
			fd = -1;
		}
		if ((err != ECONNREFUSED && err != ENOENT) || run_now_ms() >= until ||
		    (deadline && run_now_ms() >= deadline)) {
			err_set(
			    e,
			    "cannot reach berth-proxy at '%s': %s; is 'berth-proxy run' running?",
			    socket_path, strerror(err));
			goto out;
		}
		poll(NULL, 0, 100);
	}
	if (send(fd, req.buf, req.len, MSG_NOSIGNAL) != (ssize_t)req.len) {
		err_set(e, "cannot talk to berth-proxy: %s", strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	/* lines as they come */
	for (;;) {
		ssize_t n;
		long nl;

		if (deadline) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			uint64_t now = run_now_ms();

			if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0) {
				err_set(e, "berth-proxy did not answer within %u ms", timeout_ms);
				rc = -1;
				goto out;
			}
		}
		n = sbuf_read_once(&resp, fd, 4096);

		while ((nl = slice_find_char(slice_make(resp.buf, resp.len), '\n')) >= 0) {
			line = slice_make(resp.buf, (size_t)nl);
			if (line.len >= 2 && (line.ptr[0] == 'o' || line.ptr[0] == 'e')) {
				on_line(line.ptr[0], slice_from(line, 2), data);
			} else if (line.len >= 2 && line.ptr[0] == 'x') {
				uint64_t v = 1;

				rest = slice_from(line, 2);
				slice_to_u64(rest, 255, &v);
				rc = (int)v;
				ended = true;
			}
			memmove(resp.buf, resp.buf + nl + 1, resp.len - (size_t)nl - 1);
			sbuf_setlen(&resp, resp.len - (size_t)nl - 1);
		}
		if (n <= 0) {
			break;
		}
	}
	if (!ended) {
		err_set(e, "berth-proxy closed the control connection without an answer");
		rc = -1;
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	sbuf_release(&req);
	sbuf_release(&resp);
	return rc;
}

/* A line of the answer, to stdout or stderr as the proxy says. */
static void print_line(char kind, struct slice line, void *data)
{
	(void)data;
	if (kind == 'o') {
		printf("%.*s\n", (int)line.len, line.ptr);
		fflush(stdout);
	} else {
		fprintf(stderr, "%.*s\n", (int)line.len, line.ptr);
	}
}

int control_client(const char *socket_path, int argc, const char **argv)
{
	struct sbuf in = SBUF_INIT;
	struct err e = ERR_INIT;
	bool with_in = wants_stdin(argc, argv);
	int rc = 1;

	if (with_in) {
		while (in.len <= CONTROL_MAX_STDIN) {
			ssize_t n = sbuf_read_once(&in, STDIN_FILENO, 4096);

			if (n < 0) {
				log_error("cannot read the standard input: %s", strerror(errno));
				goto out;
			}
			if (!n) {
				break;
			}
		}
	}
	/* an empty input is still one: the command says it reads it */
	rc =
	    control_call(socket_path, argc, argv, with_in ? slice_make(in.buf, in.len) : SLICE_NULL,
			 0, print_line, NULL, &e);
	if (rc < 0) {
		log_error("%s", err_str(&e));
		rc = 1;
	}
out:
	sbuf_release(&in);
	err_release(&e);
	return rc;
}
