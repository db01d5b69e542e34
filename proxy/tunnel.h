/*
 * tunnel — upgraded connections: after a 101 to a request that asked for
 * an upgrade (WebSocket and others), the client and upstream connections
 * carry bytes both ways, each way pumped through one buffer, until either
 * side closes (the other side is then shut down for writing once what was
 * read is written, and the exchange ends when both ways are shut), an error,
 * the target is retired, or the idle timeout (server.c arms it). A tunnel
 * counts in its target's inflight and tunnels counts.
 *
 * Internal to the data plane (proxy/worker.h).
 */
#ifndef TUNNEL_H
#define TUNNEL_H

struct exch;
struct target;
struct worker;

/* RS_TUNNEL: moves what can be moved both ways. 1 progress, 0 blocked, -1 the client was closed. */
int tunnel_step(struct exch *x);
/*
 * Marks t retired and tells every worker; each closes its tunnels to t in
 * tunnel_close_retired() (the caller wakes the workers). Thread-safe.
 */
void tunnel_retire(struct target *t);
/* In a worker's loop: closes w's tunnels to retired targets, when one was retired since last time.
 */
void tunnel_close_retired(struct worker *w);

#endif
