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
	uint64_t deploy_timeout_ms, drain_timeout_ms;
	/* Relay inactivity (proxy/server.h), 0 for none: the upstream's silence while a
	 * response is awaited or streamed; a client that takes none of its response. */
	uint64_t target_timeout_ms, client_timeout_ms;
	uint64_t max_body; /* 0: no limit */
	/*
	 * Trust the X-Forwarded-* headers a request comes with (another proxy
	 * is in front): the client's address is appended to X-Forwarded-For,
	 * X-Forwarded-Proto and -Host are kept. Else all three are replaced.
	 */
	bool forward_headers;
	/* The target sees the path without the prefix it matched ("/app/x" as "/x"). */
	bool strip_prefix;
	/* A request body is read whole before a target is contacted (proxy/spool.h). */
	bool buffer_requests;
	/*
	 * Health checks: to this port of a target's address instead of its own
	 * (0: the target's), with this Host header (NULL: the target's address).
	 */
	unsigned health_port;
	char *health_host; /* owned, or NULL */
	/* Requests for the service's other hosts are redirected (301) to this one; or NULL. */
	char *canonical_host;
	/* The header holding the client's address (another proxy in front sets it); or NULL. */
	char *client_ip_header;
	/* Headers added to the access log for this service's requests (as the run's ones). */
	struct strvec log_req_headers, log_resp_headers;
	/* Requests whose path is one of these are not counted in the metrics. */
	struct strvec exclude_metrics;
	/* With a path prefix: the Path of the cookies responses set is scoped under it. */
	bool scope_cookies;
	/*
	 * Read targets (service->readers): how long after a write request a
	 * client sticks to the writers (the "kamal-writer" cookie); whether
	 * WebSocket requests may go to read targets.
	 */
	uint64_t writer_affinity_ms;
	bool read_websockets;
	/*
	 * --buffer-responses: a response is read whole before it is sent (but
	 * an event stream, which is never whole); beyond max_response_body
	 * bytes of body (0: no limit) it is answered with 502 instead. A
	 * buffered body, request or response, beyond buffer_memory bytes goes
	 * to a temporary file.
	 */
	bool buffer_responses;
	uint64_t buffer_memory, max_response_body;
	/*
	 * deploy --tls: served over HTTPS for its hosts, with the certificate
	 * of the files below, or else one from ACME (proxy/certs.h).
	 * tls_redirect: a plain-HTTP request gets 301 to its https:// URL.
	 * hsts_max_age_s: HTTPS responses carry Strict-Transport-Security
	 * (0: they do not).
	 */
	bool tls, tls_redirect;
	char *tls_cert_path, *tls_key_path; /* owned; NULL: ACME */
	uint64_t hsts_max_age_s;
	/*
	 * deploy --tls-issuer: this host follows the role's issuer, whose
	 * plain-HTTP address this is ("http://HOST:PORT", owned): it never
	 * orders a certificate, fetches the issuer's sealed one (proxy/certs.h)
	 * into the files above, and relays the CA's HTTP-01 requests for its
	 * hosts to tls_issuer_target (referenced).
	 */
	char *tls_issuer;
	struct target *tls_issuer_target;
};

/* A deep copy of src into dst (whose old contents are not freed). */
void service_opts_copy(struct service_opts *dst, const struct service_opts *src);
/* Frees what o owns. */
void service_opts_release(struct service_opts *o);

struct service {
	char *name;
	struct strvec hosts; /* empty: the default service for any host */
	/*
	 * Normalized, never empty ("/" when none): requests under any of them
	 * go to the service, on each of its hosts (every host takes every prefix).
	 */
	struct strvec path_prefixes;
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
	unsigned metrics_idx;  /* route_service_index(name) */
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
	/*
	 * Read targets (deploy --read-target): GET and HEAD requests (not
	 * WebSocket ones unless o.read_websockets) of a client with no live
	 * writer cookie go to them; others, and every request when none is
	 * healthy, go to the main targets (the writers).
	 */
	struct target **readers;
	size_t nr_readers;
	atomic_uint read_rr;
};

/*
 * Services are counted (proxy/metrics.h) under a small index that a name
 * keeps for the life of the process, so a deploy, which builds a new
 * service, keeps counting where the old one left off. Index 0 is for
 * requests no service took; past ROUTE_MAX_SERVICE_INDEX names, services
 * share index 0.
 */
#define ROUTE_MAX_SERVICE_INDEX 256
/* The index for a service name (registered on first use; thread-safe). */
unsigned route_service_index(const char *name);
/*
 * The names registered so far, by index (names[0] is ""), into names
 * (room for ROUTE_MAX_SERVICE_INDEX); returns how many. The strings live
 * as long as the process.
 */
unsigned route_service_names(const char **names);

/* An empty service with kamal-proxy's default options. */
struct service *service_new(const char *name);
/* A copy that shares the targets (they are referenced again). */
struct service *service_dup(const struct service *s);
void service_free(struct service *s);
/* Renders (or drops) stop_page after a change of state, stop message or pages. */
void service_render_stop_page(struct service *s);
/* Adds a target (takes the caller's reference). */
void service_add_target(struct service *s, struct target *t);
/* Adds a read target (takes the caller's reference). */
void service_add_reader(struct service *s, struct target *t);
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
/* The same, passing over avoid while another target would do: a retry on another target. */
struct target *service_pick_other(struct service *s, const struct target *avoid);
/*
 * The same over the rollout targets, healthy ones only: NULL when none is
 * (the request then goes to the main targets).
 */
struct target *service_pick_rollout(struct service *s);
/* The same over the read targets, healthy ones only: NULL when none is. */
struct target *service_pick_reader(struct service *s);
void target_done(struct target *t);
/* Whether t is one of s's targets, main, rollout or read. s may be NULL (false). */
bool service_has_target(const struct service *s, const struct target *t);
/*
 * The one of s's path prefixes that path (normalized, as route_lookup takes
 * it) falls under on a segment boundary, the longest when several do: the
 * prefix a request routed to s matched. Without its trailing '/'s; empty
 * for "/" and when none does.
 */
struct slice service_matched_prefix(const struct service *s, struct slice path);
/* Whether two path prefixes are the same but for trailing '/'s ("/api" and "/api/"). */
bool route_same_prefix(const char *a, const char *b);

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
 * Whether a service of t routes to tg, as a main, rollout or read target: what
 * decides that a pooled connection or a target's drain outlives a switch.
 */
bool route_table_has_target(const struct route_table *t, const struct target *tg);
/*
 * Whether s (not in t, or replacing the service of the same name) would take
 * a host and path prefix that another service of t owns. Returns that
 * service, or NULL; *host is the host (s's spelling; NULL when neither has
 * any) and *prefix the prefix (s's) they both want.
 */
const struct service *route_table_conflict(const struct route_table *t, const struct service *s,
					   const char **host, const char **prefix);
/*
 * The service for a request, or NULL. host may carry a port; path is the
 * request's path, normalized (proxy/path.h), as prefixes are: else
 * "/app/../secret" would match "/app".
 */
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
