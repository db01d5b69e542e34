/*
 * metrics — per-worker counters, summed when Prometheus scrapes them.
 *
 * Each worker owns one struct metrics and is the only one to write it: a
 * counter is bumped with a relaxed load and store (plain moves on x86-64,
 * no lock prefix, no shared cache line), and the scraper reads every
 * worker's counters with relaxed loads. A scrape may see a worker's
 * counters a few requests apart from one another; never a torn value.
 *
 * Services are counted under their route_service_index() (proxy/route.h):
 * a name keeps its index for the life of the process; index 0 is for
 * requests no service took.
 *
 * metrics_render() is given all it renders: the routing table, the service
 * names by index and the workers' counters; the module reaches into no
 * other. metrics_start() serves GET /metrics (any path, in fact) on 127.0.0.1:port
 * from a thread of its own, in Prometheus' text format:
 *	berth_proxy_requests_total{service,code="2xx"}    counter
 *	berth_proxy_request_duration_seconds{service}     histogram
 *	berth_proxy_requests_in_flight{service}           gauge (requests and tunnels)
 *	berth_proxy_upstream_errors_total{service}        counter (refused, reset,
 *	                                                  garbage, timed out)
 *	berth_proxy_timeouts_total{service,kind}          counter: a relay closed after no
 *	                                                  progress (kind: client_read,
 *	                                                  client_write, upstream_read,
 *	                                                  upstream_write)
 *	berth_proxy_target_healthy{service,target}        gauge, 1 or 0
 *	berth_proxy_access_log_dropped_total              counter
 *	berth_proxy_tls_handshakes_total                  counter (completed)
 *	berth_proxy_tls_handshake_failures_total          counter (failed or timed out)
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sbuf.h"
#include "proxy/route.h"

#define METRICS_MAX_SERVICES ROUTE_MAX_SERVICE_INDEX
#define METRICS_BUCKETS	     12 /* the last is +Inf */

/* What a relay waited for when its inactivity timeout passed. */
enum metrics_timeout {
	METRICS_TIMEOUT_CLIENT_READ = 0,    /* the rest of the request body */
	METRICS_TIMEOUT_CLIENT_WRITE = 1,   /* the client to take more of the response */
	METRICS_TIMEOUT_UPSTREAM_READ = 2,  /* the response (head or more of its body) */
	METRICS_TIMEOUT_UPSTREAM_WRITE = 3, /* the upstream to take more of the request */
	METRICS_TIMEOUT_KINDS = 4,
};

struct metrics_svc {
	atomic_uint_fast64_t status[6]; /* [1..5]: 1xx..5xx; [0]: anything else */
	atomic_uint_fast64_t bucket[METRICS_BUCKETS];
	atomic_uint_fast64_t dur_sum_ms;
	atomic_uint_fast64_t upstream_errors;
	atomic_uint_fast64_t timeouts[METRICS_TIMEOUT_KINDS];
};

struct metrics {
	struct metrics_svc svc[METRICS_MAX_SERVICES];
	atomic_uint_fast64_t log_dropped;
	atomic_uint_fast64_t tls_handshakes, tls_handshake_failures;
};

#define METRICS_ADD(c, n)                                                                          \
	atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (n),        \
			      memory_order_relaxed)

/* Counts one answered request. */
void metrics_count(struct metrics *m, unsigned svc, unsigned status, uint64_t dur_ms);

/*
 * Appends the text exposition to sb: the counters of the workers (nr of
 * them) summed, labelled with names (nr_names of them, by service index),
 * and the in-flight and health gauges of tbl's services.
 */
void metrics_render(struct sbuf *sb, const struct route_table *tbl, const char *const *names,
		    unsigned nr_names, struct metrics *const *workers, unsigned nr);

/*
 * Serves the metrics of workers (nr of them, which outlive the server) on
 * 127.0.0.1:port (0: any) from a thread, with the current routing table.
 * Returns the port, or -1 with e set.
 */
int metrics_start(unsigned port, struct metrics *const *workers, unsigned nr, struct err *e);

#endif
