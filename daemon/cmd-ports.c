/*
 * ports:* — an app's port mappings, Dokku's SCHEME:HOST:CONTAINER
 * (daemon/ports.h): which container port berth-proxy sends the app's web
 * traffic to, and the PORT its web process gets. berth-proxy is the one
 * thing on the host's ports, so the host side is 80 (http) or 443 (https)
 * and both name one container port. A change deploys the current release
 * again (zero downtime) when the app has one. Dokku's older names
 * proxy:ports, proxy:ports-add, -set, -remove, -clear are the same commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/ports.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/sbuf.h"

/* The app's mappings from the store. 0, or 1 printed. */
static int load(struct bd *bd, const char *app, struct port_map *m, size_t *n)
{
	struct err e = ERR_INIT;
	char *map = NULL;
	int r = store_prop_get(&bd->store, app, "ports.map", &map, &e), rc = 0;

	*n = 0;
	if (r < 0 || (r == 1 && ports_read(map, m, PORTS_MAX, n, &e) < 0)) {
		rc = bd_fail_err(&e);
	}
	free(map);
	err_release(&e);
	return rc;
}

/* Checks m, stores it (none: unset), deploys again. The exit code. */
static int save(struct bd *bd, const char *app, const char *cmd, const struct port_map *m, size_t n)
{
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	char *old = NULL;
	int rc = 1, r;

	if (ports_check(m, n, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	ports_format(&sb, m, n);
	if (store_prop_get(&bd->store, app, "ports.map", &old, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_prop_set(&bd->store, app, "ports.map", n ? sb.buf : NULL, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, app, cmd, n ? sb.buf : NULL);
	if (n) {
		bd_step(bd, "Setting port mappings for %s: %s", app, sb.buf);
	} else {
		bd_step(bd, "Clearing port mappings for %s (the image's EXPOSE, else 5000)", app);
	}
	r = appdeploy_redeploy(bd, app, &e);
	if (r < 0) {
		/* the old version serves on: so does its mapping */
		store_prop_set(&bd->store, app, "ports.map", old, NULL);
		err_prefix(&e, "the port mappings of %s stay %s", app, old ? old : "unset");
		rc = bd_fail_err(&e);
		goto out;
	}
	if (r == 1) {
		bd_info(bd, "takes effect at the first deploy of %s", app);
	}
	rc = 0;
out:
	free(old);
	sbuf_release(&sb);
	err_release(&e);
	return rc;
}

/* Parses argv[2..argc) into m after the n already there. 0, or 1 printed. */
static int parse_args(int argc, const char **argv, struct port_map *m, size_t *n)
{
	struct err e = ERR_INIT;
	int rc = 0;

	for (int i = 2; i < argc && !rc; i++) {
		struct port_map p;
		bool dup = false;

		if (ports_parse(argv[i], &p, &e) < 0) {
			rc = bd_fail_err(&e);
			break;
		}
		for (size_t j = 0; j < *n; j++) {
			dup |= m[j].host == p.host && m[j].container == p.container &&
			       !strcmp(m[j].scheme, p.scheme);
		}
		if (dup) {
			continue;
		}
		if (*n >= PORTS_MAX) {
			rc = bd_fail("too many port mappings (at most %d)", PORTS_MAX);
			break;
		}
		m[(*n)++] = p;
	}
	err_release(&e);
	return rc;
}

int cmd_ports_set(struct bd *bd, int argc, const char **argv)
{
	struct port_map m[PORTS_MAX];
	size_t n = 0;
	int rc;

	if (argc < 3) {
		return bd_usage("ports:set APP SCHEME:HOST:CONTAINER...");
	}
	rc = parse_args(argc, argv, m, &n);
	return rc ? rc : save(bd, argv[1], "ports:set", m, n);
}

int cmd_ports_add(struct bd *bd, int argc, const char **argv)
{
	struct port_map m[PORTS_MAX];
	size_t n = 0;
	int rc;

	if (argc < 3) {
		return bd_usage("ports:add APP SCHEME:HOST:CONTAINER...");
	}
	rc = load(bd, argv[1], m, &n);
	if (!rc) {
		rc = parse_args(argc, argv, m, &n);
	}
	return rc ? rc : save(bd, argv[1], "ports:add", m, n);
}

int cmd_ports_remove(struct bd *bd, int argc, const char **argv)
{
	struct port_map m[PORTS_MAX];
	struct err e = ERR_INIT;
	size_t n = 0;
	int rc;

	if (argc < 3) {
		return bd_usage("ports:remove APP HOST|SCHEME:HOST:CONTAINER...");
	}
	rc = load(bd, argv[1], m, &n);
	for (int i = 2; i < argc && !rc; i++) {
		struct port_map p = {{0}, 0, 0};
		bool host_only = !strchr(argv[i], ':');

		if (host_only) {
			char buf[32];

			snprintf(buf, sizeof(buf), "x:%s:1", argv[i]);
			if (strlen(argv[i]) > 5 || ports_parse(buf, &p, &e) < 0) {
				rc = bd_fail("invalid host port '%s': a number from 1 to 65535",
					     argv[i]);
				break;
			}
		} else if (ports_parse(argv[i], &p, &e) < 0) {
			rc = bd_fail_err(&e);
			break;
		}
		for (size_t j = 0; j < n;) {
			if (m[j].host == p.host &&
			    (host_only ||
			     (m[j].container == p.container && !strcmp(m[j].scheme, p.scheme)))) {
				memmove(&m[j], &m[j + 1], (n - j - 1) * sizeof(m[0]));
				n--;
			} else {
				j++;
			}
		}
	}
	err_release(&e);
	return rc ? rc : save(bd, argv[1], "ports:remove", m, n);
}

int cmd_ports_clear(struct bd *bd, int argc, const char **argv)
{
	if (argc != 2) {
		return bd_usage("ports:clear APP");
	}
	return save(bd, argv[1], "ports:clear", NULL, 0);
}

/* What the app serves on without mappings: its current release's EXPOSE, else 5000. */
static unsigned detected(struct bd *bd, const char *app)
{
	struct store_release cur = {0};
	unsigned port = PORTS_DEFAULT;

	if (store_release_current(&bd->store, app, &cur, NULL) == 1) {
		struct bd quiet = *bd;

		quiet.quiet = true;
		appdeploy_detect_port(&quiet, app, cur.image, &port);
	}
	store_release_release(&cur);
	return port;
}

int cmd_ports_list(struct bd *bd, int argc, const char **argv)
{
	struct port_map m[PORTS_MAX];
	size_t n = 0;
	int rc;

	if (argc != 2) {
		return bd_usage("ports:list APP");
	}
	rc = load(bd, argv[1], m, &n);
	if (rc) {
		return rc;
	}
	if (!n) {
		m[0] = (struct port_map){"http", 80, detected(bd, argv[1])};
		n = 1;
		if (!bd->json) {
			bd_info(bd, "no port mappings set for %s: these are detected", argv[1]);
		}
	}
	if (bd->json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"scheme\":\"%s\",\"host_port\":%u,\"container_port\":%u}",
			       i ? "," : "", m[i].scheme, m[i].host, m[i].container);
		}
		printf("]\n");
		return 0;
	}
	printf("-----> Port mappings for %s\n", argv[1]);
	printf("    -----> scheme  host port  container port\n");
	for (size_t i = 0; i < n; i++) {
		printf("    %-15s %-10u %u\n", m[i].scheme, m[i].host, m[i].container);
	}
	return 0;
}

int cmd_ports_report(struct bd *bd, int argc, const char **argv)
{
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json or text"),
	    OPT_END(),
	};
	static const char usage[] = "ports:report APP [--format json]";
	struct port_map m[PORTS_MAX];
	struct sbuf map = SBUF_INIT;
	size_t n = 0;
	unsigned det;
	int k = bd_opts(argc - 1, argv + 1, opts, usage), rc;
	bool json = bd->json;

	if (k < 0) {
		return 1;
	}
	if (k != 1) {
		return bd_usage(usage);
	}
	if (format && strcmp(format, "json") && strcmp(format, "text")) {
		return bd_fail("unknown format '%s' (json or text)", format);
	}
	if (format) {
		json = !strcmp(format, "json");
	}
	rc = load(bd, argv[1], m, &n);
	if (rc) {
		return rc;
	}
	ports_format(&map, m, n);
	det = detected(bd, argv[1]);
	if (json) {
		/* mappings were checked when set: letters, digits and ':' */
		printf("{\"ports-map\":\"%s\",\"ports-map-detected\":\"http:80:%u\","
		       "\"container-port\":%u}\n",
		       map.buf ? map.buf : "", det, n ? ports_container(m, n) : det);
	} else {
		printf("=====> %s ports information\n", argv[1]);
		printf("       Ports map:                     %s\n", map.buf ? map.buf : "");
		printf("       Ports map detected:            http:80:%u\n", det);
		printf("       Container port:                %u\n",
		       n ? ports_container(m, n) : det);
	}
	sbuf_release(&map);
	return 0;
}
