#include "proxy/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proxy/route.h"
#include "lib/banned.h"

/* Upper bounds of the duration buckets, in ms; the last bucket is +Inf. */
static const uint64_t bucket_ms[METRICS_BUCKETS - 1] = {5,   10,   25,	 50,   100,  250,
							500, 1000, 2500, 5000, 10000};
static const char *const bucket_le[METRICS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"};

static const char *const timeout_kinds[METRICS_TIMEOUT_KINDS] = {"client_read", "client_write",
								 "upstream_read", "upstream_write"};

void metrics_count(struct metrics *m, unsigned svc, unsigned status, uint64_t dur_ms)
{
	struct metrics_svc *s = &m->svc[svc < METRICS_MAX_SERVICES ? svc : 0];
	unsigned b = 0;

	while (b < METRICS_BUCKETS - 1 && dur_ms > bucket_ms[b]) {
		b++;
	}
	METRICS_ADD(s->status[status >= 100 && status < 600 ? status / 100 : 0], 1);
	METRICS_ADD(s->bucket[b], 1);
	METRICS_ADD(s->dur_sum_ms, dur_ms);
}

static uint64_t ld(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* A label value: backslash, double quote and newline escaped. */
static void add_label(struct sbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"') {
			sbuf_addch(sb, '\\');
			sbuf_addch(sb, *s);
		} else if (*s == '\n') {
			sbuf_addstr(sb, "\\n");
		} else {
			sbuf_addch(sb, *s);
		}
	}
}

static void add_svc_label(struct sbuf *sb, const char *metric, const char *name)
{
	sbuf_addf(sb, "%s{service=\"", metric);
	add_label(sb, name);
	sbuf_addch(sb, '"');
}

void metrics_render(struct sbuf *sb, const struct route_table *tbl, const char *const *names,
		    unsigned n, struct metrics *const *workers, unsigned nr)
{
	static const char *const classes[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
	unsigned i, j, w;
	uint64_t dropped = 0, hs = 0, hs_failed = 0;

	if (n > METRICS_MAX_SERVICES) {
		n = METRICS_MAX_SERVICES;
	}
	sbuf_addstr(sb, "# HELP berth_proxy_requests_total Requests answered, by service and "
			"status class.\n# TYPE berth_proxy_requests_total counter\n");
	for (i = 0; i < n; i++) {
		for (j = 0; j < 6; j++) {
			uint64_t v = 0;

			for (w = 0; w < nr; w++) {
				v += ld(&workers[w]->svc[i].status[j]);
			}
			if (v) {
				add_svc_label(sb, "berth_proxy_requests_total", names[i]);
				sbuf_addf(sb, ",code=\"%s\"} %llu\n", classes[j],
					  (unsigned long long)v);
			}
		}
	}
	sbuf_addstr(sb, "# HELP berth_proxy_request_duration_seconds Time from the request head "
			"to the end of the response.\n"
			"# TYPE berth_proxy_request_duration_seconds histogram\n");
	for (i = 0; i < n; i++) {
		uint64_t cum = 0, sum = 0, b[METRICS_BUCKETS] = {0};

		for (w = 0; w < nr; w++) {
			sum += ld(&workers[w]->svc[i].dur_sum_ms);
			for (j = 0; j < METRICS_BUCKETS; j++) {
				b[j] += ld(&workers[w]->svc[i].bucket[j]);
			}
		}
		for (j = 0; j < METRICS_BUCKETS; j++) {
			cum += b[j];
		}
		if (!cum) {
			continue;
		}
		cum = 0;
		for (j = 0; j < METRICS_BUCKETS; j++) {
			cum += b[j];
			add_svc_label(sb, "berth_proxy_request_duration_seconds_bucket", names[i]);
			sbuf_addf(sb, ",le=\"%s\"} %llu\n", bucket_le[j], (unsigned long long)cum);
		}
		add_svc_label(sb, "berth_proxy_request_duration_seconds_sum", names[i]);
		sbuf_addf(sb, "} %llu.%03llu\n", (unsigned long long)(sum / 1000),
			  (unsigned long long)(sum % 1000));
		add_svc_label(sb, "berth_proxy_request_duration_seconds_count", names[i]);
		sbuf_addf(sb, "} %llu\n", (unsigned long long)cum);
	}
	sbuf_addstr(sb, "# HELP berth_proxy_upstream_errors_total Upstream connections refused, "
			"reset, timed out or answering garbage.\n"
			"# TYPE berth_proxy_upstream_errors_total counter\n");
	for (i = 0; i < n; i++) {
		uint64_t v = 0;

		for (w = 0; w < nr; w++) {
			v += ld(&workers[w]->svc[i].upstream_errors);
		}
		if (v || (i && route_table_find(tbl, names[i]))) {
			add_svc_label(sb, "berth_proxy_upstream_errors_total", names[i]);
			sbuf_addf(sb, "} %llu\n", (unsigned long long)v);
		}
	}
	sbuf_addstr(sb, "# HELP berth_proxy_timeouts_total Relays closed after no progress for "
			"their timeout, by what they waited for.\n"
			"# TYPE berth_proxy_timeouts_total counter\n");
	for (i = 0; i < n; i++) {
		bool listed = i && route_table_find(tbl, names[i]);

		for (j = 0; j < METRICS_TIMEOUT_KINDS; j++) {
			uint64_t v = 0;

			for (w = 0; w < nr; w++) {
				v += ld(&workers[w]->svc[i].timeouts[j]);
			}
			if (v || listed) {
				add_svc_label(sb, "berth_proxy_timeouts_total", names[i]);
				sbuf_addf(sb, ",kind=\"%s\"} %llu\n", timeout_kinds[j],
					  (unsigned long long)v);
			}
		}
	}
	sbuf_addstr(sb, "# HELP berth_proxy_requests_in_flight Requests and tunnels in progress.\n"
			"# TYPE berth_proxy_requests_in_flight gauge\n");
	for (i = 0; i < tbl->nr_svcs; i++) {
		const struct service *s = tbl->svcs[i];
		long v = 0;

		for (j = 0; j < s->nr_targets; j++) {
			v += atomic_load(&s->targets[j]->inflight);
		}
		sbuf_addstr(sb, "berth_proxy_requests_in_flight{service=\"");
		add_label(sb, s->name);
		sbuf_addf(sb, "\"} %ld\n", v);
	}
	sbuf_addstr(sb, "# HELP berth_proxy_target_healthy Whether a target takes requests (1) or "
			"is out after failed checks (0).\n"
			"# TYPE berth_proxy_target_healthy gauge\n");
	for (i = 0; i < tbl->nr_svcs; i++) {
		const struct service *s = tbl->svcs[i];

		for (j = 0; j < s->nr_targets; j++) {
			sbuf_addstr(sb, "berth_proxy_target_healthy{service=\"");
			add_label(sb, s->name);
			sbuf_addstr(sb, "\",target=\"");
			add_label(sb, s->targets[j]->addr);
			sbuf_addf(sb, "\"} %d\n", atomic_load(&s->targets[j]->healthy) ? 1 : 0);
		}
	}
	for (w = 0; w < nr; w++) {
		dropped += ld(&workers[w]->log_dropped);
		hs += ld(&workers[w]->tls_handshakes);
		hs_failed += ld(&workers[w]->tls_handshake_failures);
	}
	sbuf_addf(sb,
		  "# HELP berth_proxy_access_log_dropped_total Access log lines dropped because "
		  "the log could not keep up.\n# TYPE berth_proxy_access_log_dropped_total "
		  "counter\nberth_proxy_access_log_dropped_total %llu\n",
		  (unsigned long long)dropped);
	sbuf_addf(sb,
		  "# HELP berth_proxy_tls_handshakes_total TLS handshakes completed.\n"
		  "# TYPE berth_proxy_tls_handshakes_total counter\n"
		  "berth_proxy_tls_handshakes_total %llu\n"
		  "# HELP berth_proxy_tls_handshake_failures_total TLS handshakes that failed or "
		  "did not finish within the read timeout.\n"
		  "# TYPE berth_proxy_tls_handshake_failures_total counter\n"
		  "berth_proxy_tls_handshake_failures_total %llu\n",
		  (unsigned long long)hs, (unsigned long long)hs_failed);
}

/* The workers' counters, set once before the metrics thread starts. */
static struct metrics *const *scrape_workers;
static unsigned scrape_nr;

static void serve_one(int fd)
{
	struct sbuf body = SBUF_INIT, head = SBUF_INIT;
	struct timeval tv = {2, 0};
	const char *names[ROUTE_MAX_SERVICE_INDEX];
	struct route_table *tbl = NULL;
	char req[1024];
	size_t off = 0;

	/* The request itself does not matter; read what came, briefly. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (recv(fd, req, sizeof(req), 0) <= 0) {
		goto out;
	}
	tbl = route_current();
	metrics_render(&body, tbl, names, route_service_names(names), scrape_workers, scrape_nr);
	sbuf_addf(&head,
		  "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		  body.len);
	sbuf_add(&head, body.buf, body.len);
	while (off < head.len) {
		ssize_t n = send(fd, head.buf + off, head.len - off, MSG_NOSIGNAL);

		if (n <= 0) {
			break;
		}
		off += (size_t)n;
	}
out:
	close(fd);
	route_table_unref(tbl);
	sbuf_release(&body);
	sbuf_release(&head);
}

static void *metrics_thread(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED) {
				struct timespec ts = {0, 100000000};

				nanosleep(&ts, NULL);
			}
			continue;
		}
		serve_one(fd);
	}
	return NULL;
}

int metrics_start(unsigned port, struct metrics *const *workers, unsigned nr, struct err *e)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	pthread_t th;
	int fd, one = 1;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return err_set(e, "socket: %s", strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		err_set(e, "cannot listen on 127.0.0.1 port %u for metrics: %s", port,
			strerror(errno));
		close(fd);
		return -1;
	}
	if (!port) {
		socklen_t len = sizeof(sa);

		getsockname(fd, (struct sockaddr *)&sa, &len);
		port = ntohs(sa.sin_port);
	}
	scrape_workers = workers;
	scrape_nr = nr;
	if (pthread_create(&th, NULL, metrics_thread, (void *)(intptr_t)fd)) {
		close(fd);
		return err_set(e, "cannot start a thread");
	}
	pthread_detach(th);
	return (int)port;
}
