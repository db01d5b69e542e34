#include "proxy/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

static bool has_line(const struct sbuf *sb, const char *line)
{
	const char *p = sb->buf;
	size_t n = strlen(line);

	while ((p = strstr(p, line))) {
		if ((p == sb->buf || p[-1] == '\n') && p[n] == '\n') {
			return true;
		}
		p += n;
	}
	return false;
}

/* What is rendered comes in as arguments: the table, the names, the counters of each worker. */
static void test_render(void)
{
	struct metrics *w[2] = {calloc(1, sizeof(struct metrics)),
				calloc(1, sizeof(struct metrics))};
	struct service *s = service_new("web\"1");
	struct err e = ERR_INIT;
	struct route_table *t;
	struct sbuf sb = SBUF_INIT;
	const char *names[ROUTE_MAX_SERVICE_INDEX] = {"", NULL};
	unsigned idx = s->metrics_idx;

	names[idx] = "web\"1";
	service_add_target(s, target_new("127.0.0.1:7", &e));
	atomic_store(&s->targets[0]->inflight, 3);
	t = route_table_new(&s, 1);
	metrics_count(w[0], idx, 200, 3);
	metrics_count(w[1], idx, 204, 30);
	metrics_count(w[1], idx, 503, 20000);
	metrics_count(w[0], 0, 404, 0);
	METRICS_ADD(w[1]->svc[idx].upstream_errors, 2);
	METRICS_ADD(w[0]->log_dropped, 5);
	metrics_render(&sb, t, names, idx + 1, w, 2);
	CHECK(has_line(&sb, "berth_proxy_requests_total{service=\"web\\\"1\",code=\"2xx\"} 2"));
	CHECK(has_line(&sb, "berth_proxy_requests_total{service=\"web\\\"1\",code=\"5xx\"} 1"));
	CHECK(has_line(&sb, "berth_proxy_requests_total{service=\"\",code=\"4xx\"} 1"));
	CHECK(has_line(&sb, "berth_proxy_request_duration_seconds_bucket{service=\"web\\\"1\","
			    "le=\"0.005\"} 1"));
	CHECK(has_line(&sb, "berth_proxy_request_duration_seconds_bucket{service=\"web\\\"1\","
			    "le=\"10\"} 2"));
	CHECK(has_line(&sb, "berth_proxy_request_duration_seconds_bucket{service=\"web\\\"1\","
			    "le=\"+Inf\"} 3"));
	CHECK(
	    has_line(&sb, "berth_proxy_request_duration_seconds_sum{service=\"web\\\"1\"} 20.033"));
	CHECK(has_line(&sb, "berth_proxy_upstream_errors_total{service=\"web\\\"1\"} 2"));
	CHECK(has_line(&sb, "berth_proxy_requests_in_flight{service=\"web\\\"1\"} 3"));
	CHECK(has_line(&sb, "berth_proxy_target_healthy{service=\"web\\\"1\","
			    "target=\"127.0.0.1:7\"} 1"));
	CHECK(has_line(&sb, "berth_proxy_access_log_dropped_total 5"));
	atomic_store(&s->targets[0]->inflight, 0);
	route_table_unref(t);
	sbuf_release(&sb);
	err_release(&e);
	free(w[0]);
	free(w[1]);
}

int main(void)
{
	UNIT_RUN(test_render);
	return unit_done();
}
