/*
 * berth proxy boot|reboot|start|stop|restart|details|logs|remove: the
 * berth-proxy container on the servers, with Kamal's names and meanings.
 *
 *	berth proxy boot                  # network, image and container, where missing
 *	berth proxy reboot -y [--rolling] # a new container from the current image
 *	berth proxy logs -n 50 -g 404 -f
 *	berth proxy remove [--volume]
 *
 * The hosts are every role's hosts in config/deploy.yml, narrowed with -h
 * and -r. Without a config, -h names the hosts and the --ssh-* flags say how
 * to reach them; the proxy then runs with proxy.run's defaults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/config.h"
#include "engine/exec.h"
#include "engine/hooks.h"
#include "engine/proxyhost.h"
#include "lib/banned.h"
#include "lib/log.h"

static const char usage[] =
    "berth proxy boot | reboot [--rolling] | start | stop | restart | details\n"
    "       | logs [-n LINES] [-s SINCE] [-g GREP] [-f] [-T] | remove [--volume]";

struct proxy_ctx {
	struct exec ex;
	struct config cfg;
	struct strvec hosts;
};

static void print_progress(const char *line, void *data)
{
	(void)data;
	if (!cli_g.quiet) {
		printf("%s\n", line);
		fflush(stdout);
	}
}

/* The config (or proxy.run's defaults) and the hosts; -1 after printing an error. */
static int setup(struct proxy_ctx *c)
{
	const char *file = cli_g.config_file ? cli_g.config_file : "config/deploy.yml";
	struct err e = ERR_INIT;
	int ret = -1;

	if (cli_g.config_file || access(file, F_OK) == 0) {
		struct config_opts o = {0};

		o.config_file = cli_g.config_file;
		o.destination = cli_g.destination;
		if (config_load(&c->cfg, &o, NULL, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		config_exec_setup(&c->cfg, &c->ex);
		config_role_hosts(&c->cfg, &cli_g.roles, &cli_g.hosts, &c->hosts);
		if (!c->hosts.nr) {
			log_error("no hosts in '%s' match -h/-r", file);
			goto out;
		}
	} else {
		exec_release(&c->ex);
		if (cli_exec_setup(&c->ex) < 0) {
			goto out;
		}
		strvec_pushv(&c->hosts, (const char *const *)cli_g.hosts.v);
	}
	ret = 0;
out:
	err_release(&e);
	return ret;
}

/*
 * Reboots hosts[0..n) at once. Kept apart so that the pre-proxy-reboot and
 * post-proxy-reboot hooks can run around each batch.
 */
static int reboot_batch(struct proxy_ctx *c, const char *const *hosts, size_t n, struct err *e)
{
	struct hooks h;
	struct strvec hv = STRVEC_INIT;
	char *joined;
	int ret = -1;

	hooks_init(&h, &c->cfg, NULL, NULL);
	h.quiet = cli_g.quiet;
	for (size_t i = 0; i < n; i++) {
		strvec_push(&hv, hosts[i]);
	}
	joined = strvec_join(&hv, ",");
	hooks_set(&h, "HOSTS", joined);
	hooks_set(&h, "COMMAND", "proxy");
	hooks_set(&h, "SUBCOMMAND", "reboot");
	if (hooks_run(&h, "pre-proxy-reboot", e) < 0 ||
	    proxyhost_reboot(&c->ex, hosts, n, &c->cfg, print_progress, NULL, e) < 0 ||
	    hooks_run(&h, "post-proxy-reboot", e) < 0) {
		goto out;
	}
	ret = 0;
out:
	free(joined);
	strvec_clear(&hv);
	hooks_release(&h);
	return ret;
}

int cmd_proxy(int argc, const char **argv)
{
	static bool rolling, follow, skip_timestamps, volume;
	static unsigned lines;
	static const char *since, *grep;
	const struct opt own[] = {
	    OPT_BOOL(0, "rolling", &rolling, "reboot: one host at a time"),
	    OPT_UINT('n', "lines", &lines, "N", "logs: the last N lines (default 100)"),
	    OPT_STRING('s', "since", &since, "TIME", "logs: since a time or for a duration (5m)"),
	    OPT_STRING('g', "grep", &grep, "REGEX", "logs: only lines that match"),
	    OPT_BOOL('f', "follow", &follow, "logs: keep following"),
	    OPT_BOOL('T', "skip-timestamps", &skip_timestamps, "logs: without docker's timestamps"),
	    OPT_BOOL(0, "volume", &volume, "remove: also the volume that keeps the routes"),
	    OPT_END(),
	};
	struct proxy_ctx c;
	struct err e = ERR_INIT;
	const char *sub;
	const char *const *hosts;
	size_t n, i;
	int nops, ret = 2, r = 0;

	memset(&c, 0, sizeof(c));
	exec_init(&c.ex, EXEC_SSH);
	config_init(&c.cfg);
	strvec_init(&c.hosts);
	nops =
	    cli_parse(argc, argv, (const struct opt *const[]){own, cli_exec_opts, NULL}, 0, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops != 1) {
		log_error("usage: %s", usage);
		goto out;
	}
	sub = argv[0];
	if (strcmp(sub, "boot") && strcmp(sub, "reboot") && strcmp(sub, "start") &&
	    strcmp(sub, "stop") && strcmp(sub, "restart") && strcmp(sub, "details") &&
	    strcmp(sub, "logs") && strcmp(sub, "remove")) {
		log_error("'%s' is not a proxy command\nusage: %s", sub, usage);
		goto out;
	}
	if (setup(&c) < 0) {
		goto out;
	}
	hosts = (const char *const *)c.hosts.v;
	n = c.hosts.nr;
	ret = 1;
	if (!strcmp(sub, "boot")) {
		r = proxyhost_boot(&c.ex, hosts, n, &c.cfg, print_progress, NULL, &e);
	} else if (!strcmp(sub, "reboot")) {
		if (!cli_confirm("This will cause a brief outage on each host. Are you sure?")) {
			log_error("not rebooted");
			goto out;
		}
		for (i = 0; i < n && r == 0; i += rolling ? 1 : n) {
			r = reboot_batch(&c, hosts + i, rolling ? 1 : n, &e);
		}
	} else if (!strcmp(sub, "start")) {
		r = proxyhost_start(&c.ex, hosts, n, &c.cfg, print_progress, NULL, &e);
	} else if (!strcmp(sub, "stop")) {
		r = proxyhost_stop(&c.ex, hosts, n, &c.cfg, print_progress, NULL, &e);
	} else if (!strcmp(sub, "restart")) {
		r = proxyhost_stop(&c.ex, hosts, n, &c.cfg, print_progress, NULL, &e);
		if (r == 0) {
			r = proxyhost_start(&c.ex, hosts, n, &c.cfg, print_progress, NULL, &e);
		}
	} else if (!strcmp(sub, "details")) {
		r = proxyhost_details(&c.ex, hosts, n, &c.cfg, print_progress, NULL, &e);
	} else if (!strcmp(sub, "logs")) {
		struct proxyhost_logs_opts lo = {0};

		lo.since = since;
		lo.grep = grep;
		lo.lines = lines ? lines : since || grep ? 0 : 100;
		lo.follow = follow;
		lo.timestamps = !skip_timestamps;
		r = proxyhost_logs(&c.ex, hosts, n, &c.cfg, &lo, print_progress, NULL, &e);
	} else {
		r = proxyhost_remove(&c.ex, hosts, n, &c.cfg,
				     PROXYHOST_F_IMAGE | (volume ? PROXYHOST_F_VOLUME : 0),
				     print_progress, NULL, &e);
	}
	if (r < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	ret = 0;
out:
	strvec_clear(&c.hosts);
	config_release(&c.cfg);
	exec_release(&c.ex);
	err_release(&e);
	return ret;
}
