/* hold — the listening sockets, kept and handed to every proxy that asks (proxy/hold.h). */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proxy/handoff.h"
#include "proxy/hold.h"
#include "proxy/server.h"
#include "lib/banned.h"

#define HOLD_IO_MS 5000 /* a proxy that says nothing for this long is let go */

static int unix_listen(const char *path, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		return err_set(e, "socket path '%s' is too long", path);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return err_set(e, "socket: %s", strerror(errno));
	}
	/* What is left of an earlier holder that stopped: nobody answers there. */
	unlink(path);
	old = umask(077);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		umask(old);
		err_set(e, "cannot listen on '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

/* One proxy's request: its word, the listeners, its "go", our "x 0". */
static void serve_one(int fd, const struct server_listener *ls, size_t n)
{
	struct timeval tv = {HOLD_IO_MS / 1000, 0};
	char word[sizeof("handoff")];
	size_t got = 0;
	uint64_t drain_ms;
	struct err e = ERR_INIT;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(word)) {
		ssize_t r = read(fd, word + got, sizeof(word) - got);

		if (r <= 0) {
			goto out;
		}
		got += (size_t)r;
	}
	if (memcmp(word, "handoff", sizeof(word))) {
		static const char no[] = "e this is berth-proxy's holder of listeners: it only "
					 "hands them over\nx 1\n";

		(void)!write(fd, no, sizeof(no) - 1);
		goto out;
	}
	if (handoff_send(fd, ls, n, &e) < 0) {
		log_warn("%s", err_str(&e));
		goto out;
	}
	if (handoff_wait_go(fd, &drain_ms) == 1) {
		(void)!write(fd, "x 0\n", 4);
		log_info("a proxy took the listeners");
	}
out:
	err_release(&e);
	close(fd);
}

/*
 * Started as root to bind ports below 1024 on the host's network, where
 * Docker does not open them to other users: once they are bound, root goes,
 * for the owner of the directory of the socket (the proxy's own user, which
 * can then connect to it).
 */
static int drop_root(const char *socket_path, struct err *e)
{
	char *dir = xstrdup(socket_path);
	struct stat st;
	int rc = 0;

	if (geteuid() != 0) {
		goto out;
	}
	if (stat(dirname(dir), &st) < 0) {
		rc = err_set(e, "cannot look at the directory of '%s': %s", socket_path,
			     strerror(errno));
		goto out;
	}
	if (st.st_uid == 0) {
		goto out;
	}
	if (setgroups(0, NULL) < 0 || setgid(st.st_gid) < 0 || setuid(st.st_uid) < 0) {
		rc = err_set(e, "cannot become user %u: %s", (unsigned)st.st_uid, strerror(errno));
	}
out:
	free(dir);
	return rc;
}

int hold_run(const struct hold_opts *o, struct err *e)
{
	unsigned ports[2] = {o->http_port, o->https_port};
	const char *kinds[2] = {"http", "https"};
	unsigned count = o->count ? o->count : 1, k, i;
	struct server_listener *ls = xcalloc((size_t)count * 4, sizeof(*ls));
	size_t n = 0, n6 = 0, j;
	bool v6 = true;
	sigset_t stop;
	int sfd = -1, sigfd = -1, rc = -1;

	if ((size_t)count * 4 > HANDOFF_MAX_FDS) {
		err_set(e, "%u sockets per port are too many (at most %d)", count,
			HANDOFF_MAX_FDS / 4);
		goto out;
	}
	for (k = 0; k < 2; k++) {
		for (i = 0; ports[k] && i < count; i++) {
			ls[n].fd = server_listen_on(o->listen, ports[k], false, e);
			if (ls[n].fd < 0) {
				goto out;
			}
			memcpy(ls[n].kind, kinds[k], strlen(kinds[k]) + 1);
			n++;
		}
	}
	/*
	 * Without an address, every one: IPv6 too, as Docker publishes ports,
	 * unless the host has none. The proxy serves them with a worker each.
	 */
	for (k = 0; !o->listen && v6 && k < 2; k++) {
		for (i = 0; ports[k] && i < count; i++) {
			ls[n].fd = server_listen_on("::", ports[k], true, e);
			if (ls[n].fd < 0 && !n6 &&
			    (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
				log_info("no IPv6 here: holding IPv4 only");
				v6 = false;
				break;
			}
			if (ls[n].fd < 0) {
				goto out;
			}
			memcpy(ls[n].kind, kinds[k], strlen(kinds[k]) + 1);
			n++;
			n6++;
		}
	}
	if (!n) {
		err_set(e, "no port to hold: give --http-port or --https-port");
		goto out;
	}
	if (drop_root(o->socket_path, e) < 0) {
		goto out;
	}
	sfd = unix_listen(o->socket_path, e);
	if (sfd < 0) {
		goto out;
	}
	if (o->http_port && o->https_port) {
		log_info("holding ports %u and %u (%s), %u socket(s) each; proxies take them at "
			 "'%s'",
			 o->http_port, o->https_port, n6 ? "IPv4 and IPv6" : "IPv4", count,
			 o->socket_path);
	} else {
		log_info("holding port %u (%s), %u socket(s); proxies take them at '%s'",
			 o->http_port ? o->http_port : o->https_port, n6 ? "IPv4 and IPv6" : "IPv4",
			 count, o->socket_path);
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	/* The caller blocked them: they arrive here, as readable bytes. */
	sigfd = signalfd(-1, &stop, SFD_CLOEXEC);
	if (sigfd < 0) {
		err_set(e, "signalfd: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
				      {.fd = sigfd, .events = POLLIN}};
		int cfd;

		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			err_set(e, "poll: %s", strerror(errno));
			goto out;
		}
		if (p[1].revents) {
			break;
		}
		if (!p[0].revents) {
			continue;
		}
		cfd = accept4(sfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0) {
			serve_one(cfd, ls, n);
		}
	}
	log_info("berth-proxy hold: stopping");
	unlink(o->socket_path);
	rc = 0;
out:
	if (sigfd >= 0) {
		close(sigfd);
	}
	if (sfd >= 0) {
		close(sfd);
	}
	for (j = 0; j < n; j++) {
		close(ls[j].fd);
	}
	free(ls);
	return rc;
}
