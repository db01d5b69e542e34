/*
 * pool — a worker's upstream connections: made, closed, and kept for reuse.
 *
 * Each worker keeps its own pool (worker->idle, most recently used first),
 * so taking and giving back a connection needs no lock. A connection goes
 * back to the pool only when both messages of its exchange were complete
 * and the upstream kept it alive; it is closed there after 30 s idle, or
 * when POOL_MAX_IDLE newer ones are pooled after it, when
 * the upstream closes it (a pooled connection that becomes readable cannot
 * carry another request), when the worker stops, and when a new routing
 * table no longer routes to its target, counting main and rollout targets
 * alike (route_table_has_target).
 *
 * A connection taken from the pool is marked reused: when it fails before
 * anything came back, the exchange may be sent again on a new connection
 * (proxy/server.h says when).
 *
 * Internal to the data plane (proxy/worker.h).
 */
#ifndef POOL_H
#define POOL_H

/*
 * Idle connections a worker keeps, all targets together; past it the least
 * recently used is closed (nginx's `keepalive` bounds the same).
 */
#define POOL_MAX_IDLE 256

struct target;
struct upstream;
struct worker;

/*
 * A new connection to t (connecting in the background), watched by w's
 * epoll; its events drive the client of the exchange it carries. NULL with
 * errno set when no socket could be made (EMFILE: the proxy is out of
 * descriptors) or the connection was refused at once.
 */
struct upstream *pool_connect(struct worker *w, struct target *t);
/* Closes up, pooled or in use; freed at the end of the loop iteration. Idempotent. */
void pool_close(struct upstream *up);
/* A pooled connection to t (the most recently pooled one), or NULL. */
struct upstream *pool_take(struct worker *w, struct target *t);
/* Keeps up, whose exchange is done, for the next request to its target (closes it when w stops). */
void pool_put(struct worker *w, struct upstream *up);
/* After w picked up a new table: closes the pooled connections to targets it has no more. */
void pool_sweep(struct worker *w);

#endif
