/*
 * berth proxy boot|reboot|start|stop|restart|details|logs|remove: the
 * berth-proxy container on the servers, with Kamal's names and meanings.
 *
 *	berth proxy boot                  # network, image and container, where missing
 *	berth proxy reboot -y [--rolling] # a new container from the current image
 *	berth proxy logs -n 50 -g 404 -f
 *	berth proxy remove [--force] [--volume]
 *	berth proxy boot_config set --http-port 8080 | get | reset
 *
 * boot_config is Kamal 2's: how the proxy container starts, kept on each
 * host (in the run directory, proxy/boot_config.json) rather than in the
 * config, over which it wins for `proxy boot` and `proxy reboot` on that
 * host. Its keys are proxy.run's (http_port, publish, bind_ips, ...).
 * Kamal itself now prefers proxy.run in the config, and so does berth.
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
#include "lib/log.h"
#include "lib/xalloc.h"
#include "engine/scripts.h"
#include "lib/banned.h"

static const char usage[] =
    "berth proxy boot | reboot [--rolling] | start | stop | restart | details\n"
    "       | logs [-n LINES] [-s SINCE] [-g GREP] [-f] [-T] | remove [--force] [--volume]\n"
    "       | boot_config set [--http-port N] [--https-port N] [--[no-]publish]\n"
    "         [--publish-host-ip IP] [--log-max-size S] [--registry R] [--repository R]\n"
    "         [--image-version V] [--metrics-port N] [--debug] [--docker-options K=V]\n"
    "       | boot_config get | boot_config reset\n"
    "\n"
    "    boot         network, image and containers on the hosts, whatever is missing\n"
    "    reboot       a new container from the current image; routes stay (-y; --rolling)\n"
    "    start        start the ports holder and the proxy containers\n"
    "    stop         stop the proxy, then the ports holder\n"
    "    restart      stop, then start\n"
    "    details      the containers on each host\n"
    "    logs         the proxy's log on each host (Kamal's -n -s -g -f -T)\n"
    "    remove       berth-proxy and berth-proxy-ports, and their images; refused while an\n"
    "                 app's route is on a host's proxy (named) unless --force; --volume: routes\n"
    "    boot_config  how the proxy starts, kept on each host (Kamal 2's): set, get, reset";

struct proxy_ctx {
	struct exec ex;
	struct config cfg;
	bool have_cfg;
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
		if (cli_config_loaded(&c->cfg, &c->ex) < 0) {
			goto out;
		}
		config_role_hosts(&c->cfg, &cli_g.roles, &cli_g.hosts, &c->hosts);
		if (!c->hosts.nr) {
			log_error("no hosts in '%s' match -h/-r", file);
			goto out;
		}
		c->have_cfg = true;
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
static int reboot_batch(struct proxy_ctx *c, const struct config *cfg, const char *const *hosts,
			size_t n, struct err *e)
{
	struct hooks h;
	struct strvec hv = STRVEC_INIT;
	char *joined;
	int ret = -1;

	hooks_init(&h, cfg, NULL, NULL);
	h.quiet = cli_g.quiet;
	for (size_t i = 0; i < n; i++) {
		strvec_push(&hv, hosts[i]);
	}
	joined = strvec_join(&hv, ",");
	hooks_set(&h, "HOSTS", joined);
	hooks_set(&h, "COMMAND", "proxy");
	hooks_set(&h, "SUBCOMMAND", "reboot");
	if ((!cli_g.skip_hooks && hooks_run(&h, "pre-proxy-reboot", e) < 0) ||
	    proxyhost_reboot(&c->ex, hosts, n, cfg, print_progress, NULL, e) < 0 ||
	    (!cli_g.skip_hooks && hooks_run(&h, "post-proxy-reboot", e) < 0)) {
		goto out;
	}
	ret = 0;
out:
	free(joined);
	strvec_clear(&hv);
	hooks_release(&h);
	return ret;
}

/* ---- boot_config: proxy.run kept on the hosts ---- */

static struct {
	bool publish, debug;
	struct strvec bind_ips, docker_options;
	unsigned http_port, https_port, metrics_port;
	const char *log_max_size, *registry, *repository, *image_version;
} bc = {.publish = true, .bind_ips = STRVEC_INIT, .docker_options = STRVEC_INIT};

static const struct opt boot_config_opts[] = {
    OPT_BOOL(0, "publish", &bc.publish, "boot_config set: publish the ports (--no-publish: not)"),
    OPT_STRING_LIST(0, "publish-host-ip", &bc.bind_ips, "IP",
		    "boot_config set: publish on this address (repeatable)"),
    OPT_UINT(0, "http-port", &bc.http_port, "N", "boot_config set: the HTTP port (80)"),
    OPT_UINT(0, "https-port", &bc.https_port, "N", "boot_config set: the HTTPS port (443)"),
    OPT_STRING(0, "log-max-size", &bc.log_max_size, "SIZE",
	       "boot_config set: the proxy's log size (10m)"),
    OPT_STRING(0, "registry", &bc.registry, "HOST", "boot_config set: the image's registry"),
    OPT_STRING(0, "repository", &bc.repository, "NAME", "boot_config set: the image's repository"),
    OPT_STRING(0, "image-version", &bc.image_version, "V", "boot_config set: the image's tag"),
    OPT_UINT(0, "metrics-port", &bc.metrics_port, "N", "boot_config set: Prometheus metrics"),
    OPT_BOOL(0, "debug", &bc.debug, "boot_config set: the proxy logs more"),
    OPT_STRING_LIST(0, "docker-options", &bc.docker_options, "OPTION=VALUE",
		    "boot_config set: a docker run option (repeatable)"),
    OPT_END(),
};

/* What `boot_config set` writes: the proxy.run keys given, as JSON. */
static json_t *boot_config_json(void)
{
	json_t *j = json_object(), *a, *o;
	size_t i;

	if (!bc.publish) {
		json_object_set_new(j, "publish", json_false());
	}
	if (bc.bind_ips.nr) {
		a = json_array();
		for (i = 0; i < bc.bind_ips.nr; i++) {
			json_array_append_new(a, json_string(bc.bind_ips.v[i]));
		}
		json_object_set_new(j, "bind_ips", a);
	}
	if (bc.http_port) {
		json_object_set_new(j, "http_port", json_integer(bc.http_port));
	}
	if (bc.https_port) {
		json_object_set_new(j, "https_port", json_integer(bc.https_port));
	}
	if (bc.metrics_port) {
		json_object_set_new(j, "metrics_port", json_integer(bc.metrics_port));
	}
	if (bc.debug) {
		json_object_set_new(j, "debug", json_true());
	}
	if (bc.log_max_size) {
		json_object_set_new(j, "log_max_size", json_string(bc.log_max_size));
	}
	if (bc.registry) {
		json_object_set_new(j, "registry", json_string(bc.registry));
	}
	if (bc.repository) {
		json_object_set_new(j, "repository", json_string(bc.repository));
	}
	if (bc.image_version) {
		json_object_set_new(j, "version", json_string(bc.image_version));
	}
	if (bc.docker_options.nr) {
		o = json_object();
		for (i = 0; i < bc.docker_options.nr; i++) {
			char *k = xstrdup(bc.docker_options.v[i]), *eq = strchr(k, '=');

			if (eq) {
				*eq = '\0';
			}
			json_object_set_new(o, k, eq ? json_string(eq + 1) : json_null());
			free(k);
		}
		json_object_set_new(j, "options", o);
	}
	return j;
}

/* Runs script (sh -c, with the file's path as $1) on every host; stdin from in. */
static int boot_config_run(struct proxy_ctx *c, const char *script, struct slice in,
			   struct run_cmd *cmds)
{
	struct sbuf path = SBUF_INIT;
	struct exec_script sc = {.text = script, .in = in};
	struct err e = ERR_INIT;
	size_t i;
	int ret = 0;

	proxyhost_boot_config_path(&path, &c->cfg);
	sc.args = (const char *const[]){path.buf, NULL};
	exec_script_hosts(&c->ex, (const char *const *)c->hosts.v, c->hosts.nr, &sc, 16, cmds);
	for (i = 0; i < c->hosts.nr; i++) {
		if (exec_script_result(&c->ex, c->hosts.v[i], &sc, &cmds[i], &e) < 0) {
			log_error("%s", err_str(&e));
			err_release(&e);
			ret = -1;
		}
	}
	sbuf_release(&path);
	err_release(&e);
	return ret;
}

static int boot_config(struct proxy_ctx *c, const char *verb)
{
	struct run_cmd *cmds = xcalloc(c->hosts.nr, sizeof(*cmds));
	char *text = NULL;
	size_t i;
	int ret = 1;

	if (!strcmp(verb, "set")) {
		json_t *j = boot_config_json();

		text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
		if (boot_config_run(c, script_proxy_boot_config_set, slice_cstr(text), cmds) == 0) {
			for (i = 0; i < c->hosts.nr; i++) {
				printf("%s: boot_config %s\n", c->hosts.v[i], text);
			}
			ret = 0;
		}
	} else if (!strcmp(verb, "get")) {
		if (boot_config_run(c, script_proxy_boot_config_get, SLICE_NULL, cmds) == 0) {
			for (i = 0; i < c->hosts.nr; i++) {
				sbuf_trim(&cmds[i].outbuf);
				printf("%s: %s\n", c->hosts.v[i],
				       cmds[i].outbuf.len ? cmds[i].outbuf.buf
							  : "none (proxy.run of the config)");
			}
			ret = 0;
		}
	} else if (!strcmp(verb, "reset")) {
		if (boot_config_run(c, script_proxy_boot_config_reset, SLICE_NULL, cmds) == 0) {
			for (i = 0; i < c->hosts.nr; i++) {
				printf("%s: boot_config reset (proxy.run of the config)\n",
				       c->hosts.v[i]);
			}
			ret = 0;
		}
	} else {
		log_error("'%s' is not a boot_config command: set, get or reset", verb);
		ret = 2;
	}
	for (i = 0; i < c->hosts.nr; i++) {
		run_cmd_release(&cmds[i]);
	}
	free(cmds);
	free(text);
	return ret;
}

/*
 * boot or reboot host i with its stored boot_config over the config's
 * proxy.run: a config of its own, read again.
 */
static int boot_one(struct proxy_ctx *c, size_t i, const char *stored, bool reboot, struct err *e)
{
	const char *const *hosts = (const char *const *)c->hosts.v + i;
	struct config hc;
	int r = -1;

	config_init(&hc);
	if (c->have_cfg) {
		struct config_opts o = {0};

		o.config_file = cli_g.config_file;
		o.destination = cli_g.destination;
		if (config_load(&hc, &o, NULL, e) < 0) {
			goto out;
		}
	}
	if (proxyhost_boot_config_apply(&hc.proxy_run, stored, strlen(stored)) < 0) {
		err_set(e,
			"host '%s': its boot_config is not one ('berth proxy boot_config reset')",
			c->hosts.v[i]);
		goto out;
	}
	r = reboot ? reboot_batch(c, &hc, hosts, 1, e)
		   : proxyhost_boot(&c->ex, hosts, 1, &hc, print_progress, NULL, e);
out:
	config_release(&hc);
	return r;
}

/*
 * proxy remove: refused while the proxy of a host still serves an app
 * (its `list` names a service), naming them, unless force.
 */
static int remove_proxy(struct proxy_ctx *c, const char *const *hosts, size_t n, bool force,
			bool volume, struct err *e)
{
	struct strvec *names = xcalloc(n ? n : 1, sizeof(*names));
	struct sbuf in_use = SBUF_INIT;
	struct err le = ERR_INIT;
	size_t i, nused = 0;
	int r = -1;

	for (i = 0; i < n; i++) {
		strvec_init(&names[i]);
	}
	if (proxyhost_services(&c->ex, hosts, n, names, &le) < 0) {
		if (!force) {
			err_set(e,
				"%s; not removing berth-proxy without knowing what it serves "
				"(--force removes it all the same)",
				err_str(&le));
			goto out;
		}
		log_warn("%s", err_str(&le));
	}
	for (i = 0; i < n; i++) {
		char *joined;

		if (!names[i].nr) {
			continue;
		}
		joined = strvec_join(&names[i], ", ");
		sbuf_addf(&in_use, "%s%s: %s", nused++ ? "; " : "", hosts[i], joined);
		free(joined);
	}
	if (nused && !force) {
		err_set(e,
			"not removing berth-proxy: apps still use it (%s); 'berth remove' them "
			"first, or --force removes the proxy all the same",
			in_use.buf);
		goto out;
	}
	if (nused) {
		log_warn("removing berth-proxy with --force, though apps still use it (%s)",
			 in_use.buf);
	}
	r = proxyhost_remove(&c->ex, hosts, n, &c->cfg,
			     PROXYHOST_F_IMAGE | (volume ? PROXYHOST_F_VOLUME : 0), print_progress,
			     NULL, e);
out:
	for (i = 0; i < n; i++) {
		strvec_clear(&names[i]);
	}
	free(names);
	sbuf_release(&in_use);
	err_release(&le);
	return r;
}

int cmd_proxy(int argc, const char **argv)
{
	static bool rolling, follow, skip_timestamps, volume, force;
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
	    OPT_BOOL(0, "force", &force, "remove: even while apps still use the proxy"),
	    OPT_END(),
	};
	struct proxy_ctx c;
	struct err e = ERR_INIT;
	struct strvec stored = STRVEC_INIT;
	const char *sub;
	const char *const *hosts;
	size_t n, i;
	int nops, ret = 2, r = 0, nstored = 0;

	memset(&c, 0, sizeof(c));
	exec_init(&c.ex, EXEC_SSH);
	config_init(&c.cfg);
	strvec_init(&c.hosts);
	nops = cli_parse(argc, argv,
			 (const struct opt *const[]){own, boot_config_opts, cli_exec_opts, NULL}, 0,
			 usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops != 1 && !(nops == 2 && !strcmp(argv[0], "boot_config"))) {
		log_error("usage: %s", usage);
		goto out;
	}
	sub = argv[0];
	if (strcmp(sub, "boot") && strcmp(sub, "reboot") && strcmp(sub, "start") &&
	    strcmp(sub, "stop") && strcmp(sub, "restart") && strcmp(sub, "details") &&
	    strcmp(sub, "logs") && strcmp(sub, "remove") && strcmp(sub, "boot_config")) {
		log_error("'%s' is not a proxy command\nusage: %s", sub, usage);
		goto out;
	}
	if (setup(&c) < 0) {
		goto out;
	}
	hosts = (const char *const *)c.hosts.v;
	n = c.hosts.nr;
	ret = 1;
	if (!strcmp(sub, "boot_config")) {
		ret = boot_config(&c, argv[1]);
		goto out;
	}
	if (!strcmp(sub, "reboot") &&
	    !cli_confirm("This will cause a brief outage on each host. Are you sure?")) {
		log_error("not rebooted");
		goto out;
	}
	/* a boot_config kept on a host wins over proxy.run there: those hosts one by one */
	if (!strcmp(sub, "boot") || !strcmp(sub, "reboot")) {
		nstored = proxyhost_boot_config_fetch(&c.ex, &c.cfg, (const char *const *)c.hosts.v,
						      c.hosts.nr, &stored);
	}
	if (nstored > 0) {
		for (i = 0; i < n && r == 0; i++) {
			if (stored.v[i][0]) {
				r = boot_one(&c, i, stored.v[i], !strcmp(sub, "reboot"), &e);
			} else if (!strcmp(sub, "reboot")) {
				r = reboot_batch(&c, &c.cfg, hosts + i, 1, &e);
			} else {
				r = proxyhost_boot(&c.ex, hosts + i, 1, &c.cfg, print_progress,
						   NULL, &e);
			}
		}
	} else if (!strcmp(sub, "boot")) {
		r = proxyhost_boot(&c.ex, hosts, n, &c.cfg, print_progress, NULL, &e);
	} else if (!strcmp(sub, "reboot")) {
		for (i = 0; i < n && r == 0; i += rolling ? 1 : n) {
			r = reboot_batch(&c, &c.cfg, hosts + i, rolling ? 1 : n, &e);
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
		r = remove_proxy(&c, hosts, n, force, volume, &e);
	}
	if (r < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	ret = 0;
out:
	strvec_clear(&stored);
	strvec_clear(&c.hosts);
	config_release(&c.cfg);
	exec_release(&c.ex);
	err_release(&e);
	return ret;
}
