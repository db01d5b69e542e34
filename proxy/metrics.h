/*
 * metrics — per-worker counters, summed when Prometheus scrapes them.
 *
 * Each worker owns one struct metrics and is the only one to write it: a
 * counter is bumped with a relaxed load and store (plain moves on x86-64,
 * no lock prefix, no shared cache line), and the scraper reads every
 * worker's counters with relaxed loads. A scrape may see a worker's
 * counters a few requests apart from one another; never a torn value.
 *
 * Services are counted under a small index that a name keeps for the life
 * of the process (so a deploy, which builds a new service, keeps counting
 * where the old one left off); index 0 is for requests no service took.
 * Past METRICS_MAX_SERVICES names, services share index 0.
 *
 * metrics_start() serves GET /metrics (any path, in fact) on 127.0.0.1:port
 * from a thread of its own, in Prometheus' text format:
 *	berth_proxy_requests_total{service,code="2xx"}    counter
 *	berth_proxy_request_duration_seconds{service}     histogram
 *	berth_proxy_requests_in_flight{service}           gauge (requests and tunnels)
 *	berth_proxy_upstream_errors_total{service}        counter (refused, reset,
 *	                                                  garbage, timed out)
 *	berth_proxy_target_healthy{service,target}        gauge, 1 or 0
 *	berth_proxy_access_log_dropped_total              counter
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sbuf.h"

#define METRICS_MAX_SERVICES 256
#define METRICS_BUCKETS	     12 /* the last is +Inf */

struct metrics_svc {
	atomic_uint_fast64_t status[6]; /* [1..5]: 1xx..5xx; [0]: anything else */
	atomic_uint_fast64_t bucket[METRICS_BUCKETS];
	atomic_uint_fast64_t dur_sum_ms;
	atomic_uint_fast64_t upstream_errors;
};

struct metrics {
	struct metrics_svc svc[METRICS_MAX_SERVICES];
	atomic_uint_fast64_t log_dropped;
};

#define METRICS_ADD(c, n)                                                                          \
	atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (n),        \
			      memory_order_relaxed)

/* The index for a service name (registered on first use; thread-safe). */
unsigned metrics_service_index(const char *name);

/* Counts one answered request. */
void metrics_count(struct metrics *m, unsigned svc, unsigned status, uint64_t dur_ms);

/* Appends the text exposition of the workers' counters (nr of them) to sb. */
void metrics_render(struct sbuf *sb, struct metrics *const *workers, unsigned nr);

/* Serves the metrics on 127.0.0.1:port (0: any) from a thread. Returns the port, or -1 with
 * e set. */
int metrics_start(unsigned port, struct err *e);

#endif
