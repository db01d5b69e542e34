/*
 * route — services, targets and the routing table that workers read.
 *
 * A routing table is built whole, never edited: a change builds a new table
 * (copying the services that stay) and publishes it with one atomic pointer
 * store. Workers pick the new table up at their next event with
 * route_refresh(); a table is freed when its last holder lets go of it.
 *
 * Targets (an upstream HOST:PORT) outlive tables: a target is shared by
 * every table that routes to it, and every request in flight holds a
 * reference to the target that took it, so a request finishes on the
 * version that took it even after a switch. target->inflight counts those
 * requests; a deploy waits for the old targets' counts to reach zero.
 *
 * Matching: the request's host (without a port, case-insensitive) selects
 * routes with that exact host, else the wildcard routes ("*.example.com"
 * matches "a.example.com" and "a.b.example.com", the longest suffix wins),
 * else the routes with no host; within each of these classes the longest
 * path prefix that matches the path on a segment boundary wins ("/api"
 * matches "/api" and "/api/x", not "/apix"), and a class with no matching
 * prefix falls through to the next.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"
#include "lib/slice.h"
#include "lib/strvec.h"

struct target {
	atomic_long refs;
	atomic_long inflight; /* requests and tunnels in progress */
	atomic_long tunnels;  /* of which tunnels */
	atomic_bool healthy;
	atomic_bool retired; /* drained and dropped: tunnels to it are closed */
	atomic_bool checked; /* an active health checker runs for it (proxy/health.h) */
	/*
	 * Not proven healthy yet (restored at start): never picked until a
	 * health check passes, which clears it.
	 */
	atomic_bool pending;
	char *addr; /* "host:port", as given */
	struct sockaddr_storage sa;
	socklen_t salen;
};

/* Resolves addr ("host:port", "[v6]:port"). Returns a target with one reference, or NULL. */
struct target *target_new(const char *addr, struct err *e);
struct target *target_ref(struct target *t);
void target_unref(struct target *t);

enum service_state {
	SERVICE_RUNNING = 0,
	SERVICE_PAUSED = 1,
	SERVICE_STOPPED = 2,
};

struct errpages;

struct service_opts {
	char *health_path; /* owned; "/up" by default */
	uint64_t health_interval_ms, health_timeout_ms;
	uint64_t deploy_timeout_ms, drain_timeout_ms, target_timeout_ms;
	uint64_t max_body; /* 0: no limit */
	/*
	 * Trust the X-Forwarded-* headers a request comes with (another proxy
	 * is in front): the client's address is appended to X-Forwarded-For,
	 * X-Forwarded-Proto and -Host are kept. Else all three are replaced.
	 */
	bool forward_headers;
	/* The target sees the path without path_prefix ("/app/x" as "/x"); the default. */
	bool strip_prefix;
	/* A request body is read whole before a target is contacted (proxy/server.h). */
	bool buffer_requests;
};

struct service {
	char *name;
	struct strvec hosts; /* empty: the default service for any host */
	char *path_prefix;   /* "/" when none */
	struct target **targets;
	size_t nr_targets;
	struct service_opts o;
	enum service_state state;
	char *stop_message;	/* NULL unless stopped with a message */
	struct errpages *pages; /* deploy --error-pages (proxy/errpages.h): referenced, or NULL */
	char *stop_page;	/* while stopped, its 503 page with the stop message; or NULL */
	size_t stop_page_len;
	uint64_t max_pause_ms; /* while paused: a held request gets 504 after this */
	atomic_uint rr;	       /* round robin position */
	unsigned metrics_idx;  /* metrics_service_index(name) */
	/*
	 * A rollout: a second set of targets that takes the requests whose
	 * split value (the "berth-rollout" or "kamal-rollout" cookie, which the
	 * app sets, e.g. to an account id) is in rollout_list or hashes into
	 * the first rollout_percent of 100 buckets; so a client sticks to one
	 * side. Requests without the cookie stay on the main targets.
	 */
	struct target **rollout;
	size_t nr_rollout;
	unsigned rollout_percent;
	struct strvec rollout_list;
	atomic_uint rollout_rr;
};

/* An empty service with kamal-proxy's default options. */
struct service *service_new(const char *name);
/* A copy that shares the targets (they are referenced again). */
struct service *service_dup(const struct service *s);
void service_free(struct service *s);
/* Renders (or drops) stop_page after a change of state, stop message or pages. */
void service_render_stop_page(struct service *s);
/* Adds a target (takes the caller's reference). */
void service_add_target(struct service *s, struct target *t);
/* Adds a rollout target (takes the caller's reference). */
void service_add_rollout_target(struct service *s, struct target *t);
/* Drops the rollout (its targets are unreferenced). */
void service_clear_rollout(struct service *s);
/* Whether a request whose split value is v goes to the rollout targets. */
bool service_rollout_wants(const struct service *s, struct slice v);
/*
 * The next target in round robin order, preferring healthy ones, with a
 * reference and inflight counted; NULL when the service has none but
 * pending ones. Release with target_done().
 */
struct target *service_pick(struct service *s);
/*
 * The same over the rollout targets, healthy ones only: NULL when none is
 * (the request then goes to the main targets).
 */
struct target *service_pick_rollout(struct service *s);
void target_done(struct target *t);

struct route {
	const char *host; /* lowercase; NULL for the default routes */
	bool wildcard;	  /* host is the suffix ".example.com" */
	const char *prefix;
	size_t prefix_len;
	struct service *svc;
};

struct route_table {
	atomic_long refs;
	struct service **svcs;
	size_t nr_svcs;
	struct route *routes;
	size_t nr_routes;
};

/* Builds a table owning the services of svcs (the array is copied). One reference. */
struct route_table *route_table_new(struct service **svcs, size_t nr);
void route_table_unref(struct route_table *t);
struct service *route_table_find(const struct route_table *t, const char *name);
/*
 * Whether s (not in t, or replacing the service of the same name) would take
 * a host and path prefix that another service of t owns. Returns that
 * service, or NULL.
 */
const struct service *route_table_conflict(const struct route_table *t, const struct service *s,
					   const char **host);
/* The service for a request, or NULL. host may carry a port; path is the request's path. */
struct service *route_lookup(const struct route_table *t, struct slice host, struct slice path);

/* Publishes t as the current table (takes the caller's reference). */
void route_publish(struct route_table *t);
/* The current table, referenced (release with route_table_unref); never NULL. */
struct route_table *route_current(void);
/*
 * For workers: returns the current table, swapping the reference held in
 * cached (which may be NULL) when a new one was published. Cheap when
 * nothing changed: one atomic load.
 */
struct route_table *route_refresh(struct route_table *cached);

#endif
