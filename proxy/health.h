/*
 * health — health checks of targets: the one-off check a deploy waits on,
 * and the active checks that take a service's unhealthy targets out of
 * rotation and put them back.
 *
 * A target's `healthy` flag is what service_pick() prefers. It is cleared
 * by a failed active check or by the data plane when a connection to the
 * target is refused (a passive failure), and set again only by a passing
 * active check. Active checks run, one thread per target, for the targets
 * of services with two or more targets (with one target there is nothing
 * to prefer), for rollout targets (an unhealthy one is passed over for the
 * main targets), and for pending targets (restored at start, not used
 * until a check passes: their first check is at once), each at its
 * service's health path, port, host, interval and timeout; read targets
 * (deploy --read-target) are checked as rollout targets are (one that is
 * unhealthy is passed over for the writers); a checker ends when its
 * target leaves the routing table or no longer needs checks.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdint.h>

#include "lib/sbuf.h"

struct target;
struct route_table;

/*
 * One GET of path on t, within timeout_ms: at port of t's address (0: t's
 * own port), with host as its Host header (NULL: t's address). 0 when it
 * answered 200; else -1 with what was seen in why (reset first).
 */
int health_check(const struct target *t, const char *path, const char *host, unsigned port,
		 uint64_t timeout_ms, struct sbuf *why);

/* Starts a checker for every target of t that needs one and has none. */
void health_watch(const struct route_table *t);

#endif
