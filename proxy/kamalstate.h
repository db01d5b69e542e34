/*
 * kamalstate — kamal-proxy's saved routes, read into berth-proxy's state.
 *
 * A server that runs kamal-proxy keeps its routes in kamal-proxy.state (a
 * JSON list of services: name, options, target_options, active_targets...).
 * `berth-proxy import-kamal-state` turns that file into berth-proxy's own
 * state file, so that berth-proxy starts with the same routes and a host
 * moves from one proxy to the other without a deploy (engine/proxyhost.h).
 *
 * Each service keeps its name, hosts, path prefixes, targets, health check
 * (path, port, host, interval, timeout), response timeout, buffering and
 * body limits, logged headers, forwarded headers, cookie scoping, canonical
 * host, client IP header, TLS (with kamal-proxy's redirect setting; its
 * ACME certificates are obtained again: they stay in kamal-proxy's volume),
 * writer affinity and read targets, and a pause or stop. What has no place
 * in berth-proxy is named in a note: certificate files inside kamal-proxy's
 * container, on-demand TLS, error pages, a rollout in progress (its targets
 * are dropped; the active ones serve).
 * Values are checked as a deploy checks them (proxy/control.h); a service
 * that fails a check is left out with a note saying why.
 */
#ifndef KAMALSTATE_H
#define KAMALSTATE_H

#include <stddef.h>

#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

/*
 * Reads kamal-proxy's state (len bytes of untrusted JSON) and writes
 * berth-proxy's state file text into out ({"services": [...]}); notes gets
 * a line per thing not carried over. Returns how many services were
 * carried, or -1 with e set when the text is not a kamal-proxy state.
 */
int kamalstate_convert(const char *text, size_t len, struct sbuf *out, struct strvec *notes,
		       struct err *e);

#endif
