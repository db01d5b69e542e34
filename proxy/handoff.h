/*
 * handoff — a new berth-proxy process takes the listening sockets of the
 * running one, over its control socket, so that an upgrade or a restart
 * loses no connection: the sockets are the same kernel objects, so the
 * connections already waiting in their accept queues carry over.
 *
 * The conversation, on one control connection (proxy/control.h):
 *
 *	new → old   "handoff\0"           (not followed by a shutdown: the
 *	                                   connection stays open both ways)
 *	old → new   "L KIND KIND ...\n"   with the listeners' fds in one
 *	                                   SCM_RIGHTS message, in that order;
 *	                                   or a refusal: "e WHY\n" "x 1\n"
 *	new → old   "go DRAIN_MS\n"       once the new process serves them
 *	old → new   "x 0\n"               once no worker of the old process
 *	                                   will accept again
 *
 * The new process closing the connection before "go" (it failed, or it
 * died) ends the handover: the old one goes on as before. A listener kind
 * is a word of the server (struct server_listener): "http" or "https"; a kind
 * the new process does not know is passed to it all the same, and it
 * decides (proxy/main.c closes it with a warning). At most
 * HANDOFF_MAX_FDS listeners travel.
 *
 * Both sides block: the old side runs on a control connection's thread,
 * the new side before its workers start.
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "proxy/server.h"

#define HANDOFF_MAX_FDS 253 /* the kernel's limit for one SCM_RIGHTS message */

/* The new process's side of a handover in progress. */
struct handoff {
	int fd; /* the control connection; -1 when none */
	struct server_listener *ls;
	size_t nr;
};

void handoff_init(struct handoff *h);
/* Closes the connection (which ends the handover when "go" was not sent) and the fds left in ls. */
void handoff_release(struct handoff *h);

/*
 * Connects to the proxy at socket_path and takes its listeners into h->ls
 * (fds close-on-exec). Returns 0, or -1 with e set: the proxy cannot be
 * reached, refused (e has its reason), or answered something else.
 */
int handoff_take(struct handoff *h, const char *socket_path, struct err *e);

/*
 * Tells the old proxy to stop accepting and to drain for up to drain_ms,
 * and waits until it has stopped accepting. 0, or -1 with e set.
 */
int handoff_finish(struct handoff *h, uint64_t drain_ms, struct err *e);

/*
 * The old process's side, on the control connection fd that asked: sends
 * the n listeners. 0, or -1 with e set.
 */
int handoff_send(int fd, const struct server_listener *ls, size_t n, struct err *e);
/*
 * Waits for the new process's word: 1 and *drain_ms set on "go", 0 when it
 * closed the connection (or said something else): the handover is off.
 */
int handoff_wait_go(int fd, uint64_t *drain_ms);

#endif
