/*
 * ports — an app's port mappings (ports:*, Dokku's SCHEME:HOST:CONTAINER)
 * and the container port its web process listens on.
 *
 * Dokku maps host ports to container ports through its proxy. On berth the
 * one thing on the host's ports is berth-proxy, which serves 80 (http) and
 * 443 (https) and routes each app to one container port; so a mapping is
 * http:80:C or https:443:C, and every mapping of an app names the same C.
 *
 * The web container port, as Dokku picks it:
 *	1. the app's mappings (ports:set / ports:add), when it has any;
 *	2. else the image's EXPOSEd TCP ports: one, that one; several, 80
 *	   when it is one of them (what Dokku's port-80 listener reaches),
 *	   else the first in docker's order (Dokku maps each to the same
 *	   host port, which berth-proxy cannot listen on: ports:set picks);
 *	3. else 5000.
 * The web process gets PORT set to it, unless a config var sets PORT.
 *
 * Stored as the app property "ports.map": the mappings, space-separated,
 * in the order given.
 */
#ifndef PORTS_H
#define PORTS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/sbuf.h"

#define PORTS_DEFAULT 5000u
#define PORTS_MAX     16 /* mappings of one app */

struct port_map {
	char scheme[8]; /* "http", "https" (parsed: any [a-z0-9]{1,7}) */
	unsigned host, container;
};

/*
 * Reads "SCHEME:HOST:CONTAINER" (decimal ports 1-65535, no sign, no
 * leading zero, scheme lowercase letters and digits). Syntax alone:
 * 0, or -1 with e set.
 */
int ports_parse(const char *s, struct port_map *m, struct err *e);

/*
 * berth's rule over a whole set: http:80 or https:443 only, one container
 * port for all, no host port twice, at most PORTS_MAX. 0, or -1 with e set
 * (saying that berth-proxy serves 80 and 443 only).
 */
int ports_check(const struct port_map *m, size_t n, struct err *e);

/* Parses the stored form (space-separated) into m (at most max). -1 with e set. */
int ports_read(const char *stored, struct port_map *m, size_t max, size_t *n, struct err *e);

/* The stored form of m: "http:80:3000 https:443:3000". */
void ports_format(struct sbuf *out, const struct port_map *m, size_t n);

/* The container port of the set (0: none). */
unsigned ports_container(const struct port_map *m, size_t n);

/*
 * The port an image's docker `.Config.ExposedPorts` JSON ("{\"3000/tcp\":{}}",
 * "null", "{}") gives by the rule above: 0 when it exposes no TCP port or
 * cannot be read; *ntcp: how many TCP ports it exposes.
 */
unsigned ports_from_exposed(const char *json, size_t len, size_t *ntcp);

#endif
