/*
 * hold — berth-proxy's listening sockets, kept by a process that never
 * accepts from them and hands them to every proxy that asks.
 *
 * On the servers this runs in a container on the host's network (engine/
 * proxyhost.h), and the proxy runs in a container of its own on the Docker
 * network: the proxy container can then be replaced (a new one takes the
 * sockets over from the old, proxy/handoff.h) and the two come back in any
 * order after dockerd restarts, while the host's ports never close. When no
 * proxy runs, connections wait in the accept queue instead of being refused.
 *
 * A proxy asks on the holder's unix socket with the same conversation as a
 * handover (proxy/handoff.h): "handoff\0", then the listeners arrive; its
 * "go" is answered "x 0" at once, since the holder never accepted.
 */
#ifndef HOLD_H
#define HOLD_H

#include "lib/err.h"

struct hold_opts {
	const char *listen;	 /* numeric address; NULL: 0.0.0.0, and :: where there is IPv6 */
	unsigned http_port;	 /* 0: none */
	unsigned https_port;	 /* 0: none */
	unsigned count;		 /* sockets per port, one per proxy worker (SO_REUSEPORT) */
	const char *socket_path; /* where proxies ask; made 0600, replacing a stale one */
};

/*
 * Binds the listeners, then, when root, becomes the owner of the socket's
 * directory (root is for ports below 1024 only), binds the socket, and hands the listeners to every
 * process that asks, one at a time, until SIGINT or SIGTERM (which the
 * caller has blocked). Returns 0 when told to stop, or -1 with e set when
 * a socket cannot be made.
 */
int hold_run(const struct hold_opts *o, struct err *e);

#endif
