/*
 * control — the control socket, and the switch behind `berth-proxy deploy`.
 *
 * The proxy listens on a unix socket (mode 0600). A client sends its
 * arguments as NUL-terminated strings and shuts down its side; the proxy
 * answers with lines "o TEXT" (for stdout), "e TEXT" (for stderr) and a
 * last line "x STATUS" (the exit status). Each connection is served by its
 * own thread, never by a worker's event loop; changes to the routing table
 * are made one at a time.
 *
 * deploy: health-checks every new target (GET of the health path until a
 * 200, within the deploy timeout), then publishes the new table, then waits
 * until the old targets' requests in flight are done (up to the drain
 * timeout). A target that does not become healthy changes nothing, and the
 * answer says what its checks saw. Every change is written to the state
 * file atomically (temp file, fsync, rename) and restored at start: every
 * saved service is published at once, its targets pending (proxy/route.h)
 * until a health check passes, so a target that is down at restart gets
 * no request until it is healthy (a service with no target proven yet
 * answers 503).
 *
 * pause/stop publish the service in that state (a deploy or resume ends
 * it), then wait up to their drain timeout for the requests in flight.
 * deploy closes the tunnels to the old targets at the end of its drain
 * timeout; remove closes the removed service's tunnels at once.
 *
 * rollout deploy health-checks a second set of targets (and returns once
 * they are healthy; they are checked on, and an unhealthy one is passed
 * over for the main targets) and adds them to a
 * service (at the percentage it had, 0 at first); rollout set changes the
 * percentage and the list of split values; rollout stop drops them. A
 * deploy of the main targets keeps the rollout. Dropped rollout targets are
 * drained like old targets.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include "lib/err.h"

/* The state directory to use when none is given: $XDG_STATE_HOME/berth-proxy, ~/.local/state/...,
 * or /var/lib/berth-proxy. A malloc'd string. */
char *control_default_state_dir(void);

/*
 * Restores the state in state_dir (creating the directory), then serves the
 * control socket at socket_path from a thread of its own. Returns 0, or -1
 * with e set.
 */
int control_start(const char *socket_path, const char *state_dir, struct err *e);

/* Runs a control command (argv[0] is its name) against the proxy. Returns the exit status. */
int control_client(const char *socket_path, int argc, const char **argv);

#endif
