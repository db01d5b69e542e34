#include "proxy/health.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proxy/route.h"
#include "lib/banned.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int health_check(const struct target *t, const char *path, const char *host, unsigned port,
		 uint64_t timeout_ms, struct sbuf *why)
{
	struct sockaddr_storage sa = t->sa;
	struct sbuf req = SBUF_INIT;
	char buf[512];
	size_t got = 0;
	uint64_t deadline = now_ms() + timeout_ms;
	int fd, rc = -1;
	unsigned status = 0;

	sbuf_reset(why);
	fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sbuf_addf(why, "socket: %s", strerror(errno));
		goto out;
	}
	if (port && sa.ss_family == AF_INET) {
		((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
	} else if (port && sa.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
	}
	if (connect(fd, (const struct sockaddr *)&sa, t->salen) < 0 && errno != EINPROGRESS) {
		sbuf_addf(why, "cannot connect: %s", strerror(errno));
		goto out;
	}
	sbuf_addf(&req,
		  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: berth-proxy\r\n"
		  "Connection: close\r\n\r\n",
		  path, host ? host : t->addr);
	{
		size_t off = 0;

		while (off < req.len) {
			struct pollfd p = {fd, POLLOUT, 0};
			uint64_t now = now_ms();
			ssize_t n;

			if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0) {
				sbuf_addf(why, "timed out connecting after %llums",
					  (unsigned long long)timeout_ms);
				goto out;
			}
			n = send(fd, req.buf + off, req.len - off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					continue;
				}
				sbuf_addf(why, "cannot connect: %s", strerror(errno));
				goto out;
			}
			off += (size_t)n;
		}
	}
	while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
		struct pollfd p = {fd, POLLIN, 0};
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0) {
			sbuf_addf(why, "no answer within %llums", (unsigned long long)timeout_ms);
			goto out;
		}
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			continue;
		}
		if (n <= 0) {
			sbuf_addf(why, "connection closed without an answer");
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*1[01] %3u", &status) != 1) {
		sbuf_addf(why, "not an HTTP response");
		goto out;
	}
	if (status != 200) {
		sbuf_addf(why, "status %u", status);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
	}
	sbuf_release(&req);
	return rc;
}

/*
 * Whether t, a target of s, needs active checks: when s balances over it
 * (two or more targets), when it is a rollout target (the main targets
 * stand in for an unhealthy one), or while it is pending.
 */
static bool needs_checks(const struct service *s, const struct target *t)
{
	size_t j;

	for (j = 0; j < s->nr_rollout; j++) {
		if (s->rollout[j] == t) {
			return true;
		}
	}
	for (j = 0; j < s->nr_readers; j++) {
		if (s->readers[j] == t) {
			return true;
		}
	}
	for (j = 0; j < s->nr_targets; j++) {
		if (s->targets[j] == t) {
			return s->nr_targets > 1 || atomic_load(&t->pending);
		}
	}
	return false;
}

/* The first service of tbl for which t needs checks, or NULL. */
static const struct service *balancing(const struct route_table *tbl, const struct target *t)
{
	size_t i;

	for (i = 0; i < tbl->nr_svcs; i++) {
		if (needs_checks(tbl->svcs[i], t)) {
			return tbl->svcs[i];
		}
	}
	return NULL;
}

/* What to check next, from the current table; false when t needs no checks any more. */
static bool next_check(struct target *t, char **path, char **host, unsigned *port,
		       uint64_t *interval, uint64_t *timeout, char **svc)
{
	struct route_table *tbl = route_current();
	const struct service *s = balancing(tbl, t);

	free(*path);
	free(*svc);
	free(*host);
	*path = *svc = *host = NULL;
	if (s) {
		*path = xstrdup(s->o.health_path);
		*host = s->o.health_host ? xstrdup(s->o.health_host) : NULL;
		*port = s->o.health_port;
		*svc = xstrdup(s->name);
		*interval = s->o.health_interval_ms ? s->o.health_interval_ms : 1000;
		*timeout = s->o.health_timeout_ms ? s->o.health_timeout_ms : 5000;
	}
	route_table_unref(tbl);
	return s != NULL;
}

static void *checker_thread(void *arg)
{
	struct target *t = arg;
	struct sbuf why = SBUF_INIT;
	char *path = NULL, *svc = NULL, *host = NULL;
	unsigned port = 0;
	uint64_t interval = 1000, timeout = 5000;

	/* The deploy that brought t in has just checked it: wait an interval. A pending
	 * target (restored) has not been: check it at once. */
	next_check(t, &path, &host, &port, &interval, &timeout, &svc);
	for (bool first = true;; first = false) {
		struct timespec ts = {(time_t)(interval / 1000), (long)(interval % 1000) * 1000000};
		bool ok, was;

		if (!first || !atomic_load(&t->pending)) {
			nanosleep(&ts, NULL);
		}
		if (!next_check(t, &path, &host, &port, &interval, &timeout, &svc)) {
			atomic_store(&t->checked, false);
			/* A table published meanwhile may need t again, with no one to start us. */
			if (!next_check(t, &path, &host, &port, &interval, &timeout, &svc) ||
			    atomic_exchange(&t->checked, true)) {
				break;
			}
		}
		ok = !health_check(t, path, host, port, timeout, &why);
		was = atomic_exchange(&t->healthy, ok);
		if (ok && atomic_exchange(&t->pending, false)) {
			log_info("target '%s' of service '%s' is healthy", t->addr, svc);
			continue;
		}
		if (was && !ok) {
			log_warn("target '%s' of service '%s' is out: GET %s: %s", t->addr, svc,
				 path, why.buf);
		} else if (!was && ok) {
			log_info("target '%s' of service '%s' is healthy again", t->addr, svc);
		}
	}
	/* Nothing balances over t now: with one target, health is not consulted. */
	atomic_store(&t->healthy, true);
	free(path);
	free(svc);
	free(host);
	sbuf_release(&why);
	target_unref(t);
	return NULL;
}

void health_watch(const struct route_table *tbl)
{
	size_t i, j;

	for (i = 0; i < tbl->nr_svcs; i++) {
		const struct service *s = tbl->svcs[i];

		for (j = 0; j < s->nr_targets + s->nr_rollout + s->nr_readers; j++) {
			struct target *t = j < s->nr_targets ? s->targets[j]
					   : j < s->nr_targets + s->nr_rollout
					       ? s->rollout[j - s->nr_targets]
					       : s->readers[j - s->nr_targets - s->nr_rollout];
			pthread_t th;

			if (!needs_checks(s, t) || atomic_exchange(&t->checked, true)) {
				continue;
			}
			if (pthread_create(&th, NULL, checker_thread, target_ref(t))) {
				log_error("cannot start a health checker for '%s'", t->addr);
				atomic_store(&t->checked, false);
				target_unref(t);
				continue;
			}
			pthread_detach(th);
		}
	}
}
