#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/accessory.h"
#include "engine/app.h"
#include "engine/erb.h"
#include "engine/proxyhost.h"
#include "engine/registry.h"
#include "engine/scripts.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define DEFAULT_FILE_MODE "0600"

/* ---- names ---- */

const char *accessory_network(const struct config_accessory *a)
{
	return a->network && *a->network ? a->network : APP_NETWORK;
}

void accessory_image(struct sbuf *out, const struct config_accessory *a)
{
	if (a->has_registry && a->registry.server && *a->registry.server) {
		sbuf_addf(out, "%s/", a->registry.server);
	}
	sbuf_addstr(out, a->image);
}

void accessory_env_path(struct sbuf *out, const struct config *cfg,
			const struct config_accessory *a)
{
	struct sbuf role = SBUF_INIT;

	/* the app's env directory, accessories/ in it (Kamal's layout) */
	sbuf_addf(&role, "accessories/%s", a->name);
	app_env_path(out, cfg, role.buf);
	sbuf_release(&role);
}

void accessory_file_path(struct sbuf *out, const struct config_accessory *a,
			 const struct config_accessory_path *p)
{
	sbuf_addf(out, "%s%s", a->service, p->remote);
}

void accessory_dir_path(struct sbuf *out, const struct config_accessory *a,
			const struct config_accessory_path *p)
{
	if (p->local[0] == '/') {
		sbuf_addstr(out, p->local);
	} else {
		sbuf_addf(out, "%s/%s", a->service, p->local);
	}
}

/* A path under the accessory's directory: no "..", which would leave it. */
static bool inside(const char *path)
{
	const char *p = path;

	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && !strncmp(p, "..", 2)) {
			return false;
		}
		p += n;
		p += *p == '/';
	}
	return true;
}

int accessory_check(const struct config_accessory *a, struct err *e)
{
	size_t i;

	if (!appctl_name_ok(a->name)) {
		return err_set(e,
			       "accessory '%s': its name must be letters, digits, '_', '.' and '-'",
			       a->name);
	}
	if (!appctl_name_ok(a->service)) {
		return err_set(e,
			       "accessory '%s': service '%s' cannot be a container name (letters, "
			       "digits, '_', '.' and '-', starting with a letter or digit)",
			       a->name, a->service);
	}
	for (i = 0; i < a->files.nr; i++) {
		if (!inside(a->files.v[i].remote)) {
			return err_set(e, "accessory '%s': file '%s' would leave its directory",
				       a->name, a->files.v[i].remote);
		}
	}
	for (i = 0; i < a->directories.nr; i++) {
		if (a->directories.v[i].local[0] != '/' && !inside(a->directories.v[i].local)) {
			return err_set(e,
				       "accessory '%s': directory '%s' would leave its directory",
				       a->name, a->directories.v[i].local);
		}
	}
	return 0;
}

static bool on_role(const struct config *cfg, const struct strvec *roles, const char *host)
{
	size_t i, k;

	for (i = 0; i < cfg->nr_roles; i++) {
		if (!config_match_any(roles, cfg->roles[i].name)) {
			continue;
		}
		for (k = 0; k < cfg->roles[i].nr_hosts; k++) {
			if (!strcmp(cfg->roles[i].hosts[k].name, host)) {
				return true;
			}
		}
	}
	return false;
}

size_t accessory_hosts(const struct config *cfg, const struct config_accessory *a,
		       const struct strvec *roles, const struct strvec *hosts, struct strvec *out)
{
	size_t i, k, n = 0;

	for (i = 0; i < a->hosts.nr; i++) {
		const char *h = a->hosts.v[i];

		if (!config_match_any(hosts, h)) {
			continue;
		}
		if (roles && roles->nr && !on_role(cfg, roles, h)) {
			continue;
		}
		for (k = 0; k < out->nr && strcmp(out->v[k], h); k++) {
		}
		if (k == out->nr) {
			strvec_push(out, h);
			n++;
		}
	}
	return n;
}

/* Whether addr (without brackets) is a loopback address. */
static bool loopback(const char *addr, size_t len)
{
	return (len >= 4 && !strncmp(addr, "127.", 4)) || (len == 3 && !strncmp(addr, "::1", 3)) ||
	       (len == 9 && !strncmp(addr, "localhost", 9));
}

/* "HOST_PORT:CONTAINER_PORT[/proto]": digits and ranges on both sides. */
static bool ports_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t n;

	if (!colon || colon == s || strchr(colon + 1, ':')) {
		return false;
	}
	if (strspn(s, "0123456789-") != (size_t)(colon - s)) {
		return false;
	}
	n = strspn(colon + 1, "0123456789-");
	return n && (!colon[1 + n] || colon[1 + n] == '/');
}

int accessory_publish(struct sbuf *out, const char *port, bool *wide, struct err *e)
{
	const char *rest = port, *addr = NULL;
	size_t alen = 0;
	bool w = false;

	if (port[0] == '[') {
		const char *end = strchr(port, ']');

		if (!end || end[1] != ':') {
			return err_set(e, "port '%s': expected [IPV6]:HOST_PORT:CONTAINER_PORT",
				       port);
		}
		addr = port + 1;
		alen = (size_t)(end - addr);
		rest = end + 2;
	} else {
		const char *c1 = strchr(port, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 && strchr(c2 + 1, ':')) {
			return err_set(
			    e, "port '%s': write an IPv6 address in brackets ([::1]:5432:5432)",
			    port);
		}
		if (c2) {
			addr = port;
			alen = (size_t)(c1 - port);
			rest = c1 + 1;
		} else if (!c1) {
			/* "3000" (the config makes it "3000:3000"; a caller may not have) */
			if (!*port || strspn(port, "0123456789") != strlen(port)) {
				return err_set(e, "port '%s': expected a port number", port);
			}
			sbuf_addf(out, "%s:%s:%s", ACCESSORY_BIND, port, port);
			if (wide) {
				*wide = false;
			}
			return 0;
		}
	}
	if (!ports_ok(rest)) {
		return err_set(e,
			       "port '%s': expected HOST_PORT:CONTAINER_PORT, with an address in "
			       "front or not (127.0.0.1:5432:5432)",
			       port);
	}
	if (!addr) {
		sbuf_addf(out, "%s:%s", ACCESSORY_BIND, rest);
	} else {
		/* an empty address is every interface, as docker reads it */
		w = !loopback(addr, alen);
		sbuf_addstr(out, port);
	}
	if (wide) {
		*wide = w;
	}
	return 0;
}

int accessory_env_file(struct sbuf *out, const struct config_accessory *a,
		       const struct secrets *sec, struct err *e)
{
	if (app_env_text(out, &a->env, sec, e) < 0) {
		err_prefix(e, "accessory '%s'", a->name);
		return -1;
	}
	return 0;
}

/* "<home>/<rel>", or rel itself when it is absolute. */
static void host_abs(struct sbuf *out, const char *home, const char *rel)
{
	if (rel[0] == '/' || !home) {
		sbuf_addstr(out, rel);
	} else {
		sbuf_addf(out, "%s%s%s", home, home[strlen(home) - 1] == '/' ? "" : "/", rel);
	}
}

static void push_mount(struct strvec *argv, const char *home, const char *rel,
		       const struct config_accessory_path *p)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addstr(&sb, "--volume=");
	host_abs(&sb, home, rel);
	sbuf_addf(&sb, ":%s", p->remote);
	if (p->options) {
		sbuf_addf(&sb, ":%s", p->options);
	}
	strvec_push(argv, sb.buf);
	sbuf_release(&sb);
}

int accessory_run_argv(struct strvec *argv, const struct config *cfg,
		       const struct config_accessory *a, const struct accessory_run *r,
		       struct err *e)
{
	const struct config_logging *lg = &cfg->logging;
	const char *restart = config_map_get(&a->options, "restart");
	const char *cmd = r->cmd ? r->cmd : a->cmd;
	struct sbuf sb = SBUF_INIT;
	size_t i;
	int ret = -1;

	strvec_pushv(argv, (const char *[]){"docker", "run", NULL});
	if (r->cmd) {
		strvec_push(argv, "--rm");
	} else {
		strvec_pushv(argv, (const char *[]){"--detach", "--name", a->service, NULL});
		strvec_pushf(argv, "--restart=%s", restart ? restart : "unless-stopped");
	}
	strvec_pushf(argv, "--network=%s", accessory_network(a));
	if (!r->cmd) {
		if (lg->driver) {
			strvec_pushf(argv, "--log-driver=%s", lg->driver);
		}
		if (lg->options.nr) {
			for (i = 0; i < lg->options.nr; i++) {
				strvec_pushf(argv, "--log-opt=%s=%s", lg->options.v[i].key,
					     lg->options.v[i].value ? lg->options.v[i].value : "");
			}
		} else if (!lg->driver || !strcmp(lg->driver, "json-file") ||
			   !strcmp(lg->driver, "local")) {
			strvec_push(argv, "--log-opt=max-size=10m");
		}
		if (a->port) {
			sbuf_addstr(&sb, "--publish=");
			if (accessory_publish(&sb, a->port, NULL, e) < 0) {
				err_prefix(e, "accessory '%s'", a->name);
				goto out;
			}
			strvec_push(argv, sb.buf);
			sbuf_reset(&sb);
		}
	}
	if (r->host) {
		strvec_pushf(argv, "--env=BERTH_HOST=%s", r->host);
		strvec_pushf(argv, "--env=KAMAL_HOST=%s", r->host);
	}
	accessory_env_path(&sb, cfg, a);
	{
		struct sbuf p = SBUF_INIT;

		sbuf_addstr(&p, "--env-file=");
		host_abs(&p, r->home, sb.buf);
		strvec_push(argv, p.buf);
		sbuf_release(&p);
	}
	sbuf_reset(&sb);
	for (i = 0; i < a->volumes.nr; i++) {
		strvec_pushf(argv, "--volume=%s", a->volumes.v[i]);
	}
	for (i = 0; i < a->files.nr; i++) {
		sbuf_reset(&sb);
		accessory_file_path(&sb, a, &a->files.v[i]);
		push_mount(argv, r->home, sb.buf, &a->files.v[i]);
	}
	for (i = 0; i < a->directories.nr; i++) {
		sbuf_reset(&sb);
		accessory_dir_path(&sb, a, &a->directories.v[i]);
		push_mount(argv, r->home, sb.buf, &a->directories.v[i]);
	}
	if (!r->cmd) {
		strvec_pushf(argv, "--label=service=%s", a->service);
		for (i = 0; i < a->labels.nr; i++) {
			if (strcmp(a->labels.v[i].key, "service")) {
				strvec_pushf(argv, "--label=%s=%s", a->labels.v[i].key,
					     a->labels.v[i].value ? a->labels.v[i].value : "");
			}
		}
	}
	for (i = 0; i < a->options.nr; i++) {
		const struct config_pair *p = &a->options.v[i];

		if (!strcmp(p->key, "restart")) {
			continue;
		}
		if (p->value) {
			strvec_pushf(argv, "--%s=%s", p->key, p->value);
		} else {
			strvec_pushf(argv, "--%s", p->key);
		}
	}
	sbuf_reset(&sb);
	accessory_image(&sb, a);
	strvec_push(argv, sb.buf);
	if (cmd && app_split_words(cmd, argv, e) < 0) {
		err_prefix(e, "accessory '%s': cmd", a->name);
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&sb);
	return ret;
}

void accessory_ps_argv(struct strvec *argv, const struct config_accessory *a, bool all,
		       const char *format)
{
	strvec_pushv(argv, (const char *[]){"docker", "ps", NULL});
	if (all) {
		strvec_push(argv, "--all");
	}
	strvec_push(argv, "--filter");
	strvec_pushf(argv, "label=service=%s", a->service);
	if (format) {
		strvec_pushv(argv, (const char *[]){"--format", format, NULL});
	}
}

void accessory_remove_argv(struct strvec *argv, const struct config_accessory *a, bool image,
			   bool dir)
{
	struct sbuf sb = SBUF_INIT;

	if (image) {
		accessory_image(&sb, a);
	}
	strvec_pushv(argv, (const char *[]){"sh", "-c", script_accessory_remove, "accessory-remove",
					    a->service, sb.buf, dir ? a->service : "", NULL});
	sbuf_release(&sb);
}

struct erb_env_data {
	const struct config_accessory *a;
	const struct secrets *sec;
};

/* What an accessory's ERB file sees in ENV: its env (clear, then secret), then ours. */
static const char *erb_getenv(const char *name, void *data)
{
	const struct erb_env_data *d = data;
	const char *v = config_map_get(&d->a->env.clear, name);
	size_t i;

	if (v) {
		return v;
	}
	for (i = 0; i < d->a->env.secret_names.nr; i++) {
		if (!strcmp(d->a->env.secret_names.v[i], name) && d->sec &&
		    (v = secrets_get(d->sec, d->a->env.secret_keys.v[i]))) {
			return v;
		}
	}
	return getenv(name);
}

int accessory_file_content(struct sbuf *out, const char *project_dir,
			   const struct config_accessory *a, const struct config_accessory_path *p,
			   const struct secrets *sec, struct err *e)
{
	struct sbuf path = SBUF_INIT, src = SBUF_INIT;
	size_t n = strlen(p->local);
	int ret = -1;

	if (p->local[0] == '/' || !project_dir) {
		sbuf_addstr(&path, p->local);
	} else {
		sbuf_addf(&path, "%s/%s", project_dir, p->local);
	}
	if (sbuf_read_file(&src, path.buf) < 0) {
		err_set(e, "accessory '%s': cannot read file '%s'", a->name, p->local);
		goto out;
	}
	if (n > 4 && !strcmp(p->local + n - 4, ".erb")) {
		struct erb_env_data d = {a, sec};
		struct erb_ctx ctx = {0};

		ctx.dir = project_dir;
		ctx.getenv = erb_getenv;
		ctx.data = &d;
		if (erb_render(p->local, src.buf, src.len, &ctx, out, e) < 0) {
			err_prefix(e, "accessory '%s'", a->name);
			goto out;
		}
	} else {
		sbuf_add(out, src.buf, src.len);
	}
	ret = 0;
out:
	sbuf_release(&path);
	sbuf_release(&src);
	return ret;
}

/* ---- on the hosts ---- */

static bool has(const struct strvec *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->nr; i++) {
		if (!strcmp(sv->v[i], s)) {
			return true;
		}
	}
	return false;
}

void accessory_ctx_init(struct accessory_ctx *c, const struct config *cfg, struct exec *ex)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->ex = ex;
	hoststate_lock_init(&c->mine);
	strvec_init(&c->warned);
}

void accessory_ctx_release(struct accessory_ctx *c)
{
	accessory_unlock(c);
	if (c->have_hs) {
		hoststate_release(&c->hs);
		c->have_hs = false;
	}
	hoststate_lock_release(&c->mine);
	strvec_clear(&c->warned);
}

static int hs_setup(struct accessory_ctx *c, struct err *e)
{
	if (c->have_hs) {
		return 0;
	}
	if (hoststate_init(&c->hs, c->ex, c->cfg->run_directory, c->cfg->service,
			   c->cfg->destination, e) < 0) {
		return -1;
	}
	c->have_hs = true;
	return 0;
}

/* Where a deploy takes the lock: the primary role's first host, else the config's first. */
static const char *lock_host(const struct config *cfg)
{
	const struct config_role *r = config_role(cfg, cfg->primary_role);
	size_t i;

	if (r && r->nr_hosts) {
		return r->hosts[0].name;
	}
	for (i = 0; i < cfg->nr_roles; i++) {
		if (cfg->roles[i].nr_hosts) {
			return cfg->roles[i].hosts[0].name;
		}
	}
	for (i = 0; i < cfg->nr_accessories; i++) {
		if (cfg->accessories[i].hosts.nr) {
			return cfg->accessories[i].hosts.v[0];
		}
	}
	return NULL;
}

static void on_lock_wait(const struct hoststate_lock *held, void *data)
{
	struct sbuf sb = SBUF_INIT;

	hoststate_lock_describe(&sb, held);
	log_info("waiting for the deploy lock: %s", sb.buf);
	sbuf_release(&sb);
}

int accessory_lock(struct accessory_ctx *c, const char *what, struct err *e)
{
	struct hoststate_lock_opts lo = {0};
	struct hoststate_lock other;
	int r;

	if (c->locked) {
		return 0;
	}
	c->lock_host = lock_host(c->cfg);
	if (!c->lock_host) {
		return err_set(e, "no host to take the deploy lock on");
	}
	if (hs_setup(c, e) < 0) {
		return -1;
	}
	lo.message = what;
	lo.message_len = strlen(what);
	lo.tie_to_process = true;
	lo.break_stale = true;
	lo.wait_s = c->lock_wait_s;
	lo.on_wait = on_lock_wait;
	hoststate_lock_init(&other);
	hoststate_lock_release(&c->mine);
	hoststate_lock_init(&c->mine);
	r = hoststate_lock_acquire(&c->hs, c->lock_host, &lo, &c->mine, &other, e);
	hoststate_lock_release(&other);
	if (r == 0) {
		c->locked = true;
		return 0;
	}
	if (r > 0) {
		err_prefix(e, "cannot %s", what);
	}
	return -1;
}

void accessory_unlock(struct accessory_ctx *c)
{
	struct err e = ERR_INIT;

	if (!c->locked) {
		return;
	}
	if (hoststate_lock_remove(&c->hs, c->lock_host, c->mine.id, NULL, &e) < 0) {
		log_warn("%s", err_str(&e));
	}
	c->locked = false;
	err_release(&e);
}

void accessory_audit(struct accessory_ctx *c, const struct strvec *hosts, const char *message)
{
	struct err e = ERR_INIT;

	if (!hosts->nr) {
		return;
	}
	if (hs_setup(c, &e) < 0 ||
	    hoststate_audit_append(&c->hs, (const char *const *)hosts->v, hosts->nr, message,
				   strlen(message), &e) < 0) {
		log_warn("the audit log: %s", err_str(&e));
	}
	err_release(&e);
}

/*
 * Runs script on every host with args and stdin in; *outs (may be NULL)
 * gets each host's first line of output, in order. Returns 0, or -1 with
 * e naming every host that failed.
 */
static int script_hosts(struct accessory_ctx *c, const struct strvec *hosts, const char *script,
			const char *name, const struct strvec *args, struct slice in,
			const char *what, struct strvec *outs, struct err *e)
{
	const struct exec_script s = {
	    .text = script,
	    .name = name,
	    .args = args ? (const char *const *)args->v : NULL,
	    .in = in,
	    .what = what,
	};
	struct run_cmd *cmds;
	struct sbuf errs = SBUF_INIT;
	struct err he = ERR_INIT;
	size_t i;
	int ret = 0;

	if (!hosts->nr) {
		return 0;
	}
	if (log_get_level() >= LOG_DEBUG) {
		char *line = args ? strvec_join(args, " ") : xstrdup("");

		for (i = 0; i < hosts->nr; i++) {
			log_debug("run on %s: sh -c '<%s>' %s", hosts->v[i], name, line);
		}
		free(line);
	}
	cmds = xcalloc(hosts->nr, sizeof(*cmds));
	exec_script_hosts(c->ex, (const char *const *)hosts->v, hosts->nr, &s, 0, cmds);
	for (i = 0; i < hosts->nr; i++) {
		if (exec_script_result(c->ex, hosts->v[i], &s, &cmds[i], &he) < 0) {
			sbuf_addf(&errs, "%s%s", errs.len ? "\n" : "", err_str(&he));
			err_release(&he);
			ret = -1;
		} else if (outs) {
			struct slice o = slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len);
			char *line = slice_dup(slice_trim(slice_next(&o, '\n')));

			strvec_push(outs, line);
			free(line);
		}
		run_cmd_release(&cmds[i]);
	}
	free(cmds);
	if (ret < 0) {
		err_set(e, "%s", errs.buf);
	}
	sbuf_release(&errs);
	return ret;
}

int accessory_homes(struct accessory_ctx *c, const struct strvec *hosts, struct strvec *homes,
		    struct err *e)
{
	size_t i;

	if (script_hosts(c, hosts, script_accessory_dirs, "accessory-dirs", NULL,
			 slice_make(NULL, 0), "cannot find the home directory", homes, e) < 0) {
		return -1;
	}
	for (i = 0; i < homes->nr; i++) {
		if (homes->v[i][0] != '/') {
			return err_set(e, "host '%s': the home directory is '%s', not a path",
				       hosts->v[i], homes->v[i]);
		}
	}
	return 0;
}

static void jobs_for(struct accessory_ctx *c, const struct config_accessory *a,
		     const struct strvec *hosts, struct appctl_jobs *jobs)
{
	size_t i;

	memset(jobs, 0, sizeof(*jobs));
	for (i = 0; i < hosts->nr; i++) {
		appctl_jobs_add(jobs, hosts->v[i], NULL,
				c->cfg->nr_accessories > 1 ? a->name : NULL);
	}
	appctl_jobs_prefix(jobs);
}

static int jobs_run(struct accessory_ctx *c, struct appctl_jobs *jobs, unsigned flags,
		    struct err *e)
{
	struct sbuf errors = SBUF_INIT;
	int ret = 0;

	if (appctl_run(c->ex, jobs, flags, &errors) < 0) {
		err_set(e, "%s", errors.len ? errors.buf : "a command failed");
		ret = -1;
	}
	sbuf_release(&errors);
	return ret;
}

int accessory_run_jobs(struct accessory_ctx *c, const struct config_accessory *a,
		       void (*build)(struct appctl_job *j, const struct config_accessory *a,
				     void *data),
		       void *data, unsigned flags, struct err *e)
{
	struct strvec hosts = STRVEC_INIT;
	struct appctl_jobs jobs;
	size_t i;
	int ret;

	accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
	jobs_for(c, a, &hosts, &jobs);
	for (i = 0; i < jobs.nr; i++) {
		build(&jobs.v[i], a, data);
	}
	ret = jobs_run(c, &jobs, flags, e);
	appctl_jobs_release(&jobs);
	strvec_clear(&hosts);
	return ret;
}

static int login(struct accessory_ctx *c, const struct config_accessory *a,
		 const struct strvec *hosts, struct err *e)
{
	if (!a->has_registry || !hosts->nr) {
		return 0;
	}
	if (registry_login_hosts(c->ex, (const char *const *)hosts->v, hosts->nr, &a->registry,
				 c->sec, e) < 0) {
		err_prefix(e, "accessory '%s': docker login", a->name);
		return -1;
	}
	return 0;
}

/* Shows line for host, as "host | line" (with the accessory's name when there are several). */
static void say(struct accessory_ctx *c, const struct config_accessory *a, const char *host,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(struct accessory_ctx *c, const struct config_accessory *a, const char *host,
		const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	if (c->quiet) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	printf("%s%s%s | %s\n", host, c->cfg->nr_accessories > 1 ? " " : "",
	       c->cfg->nr_accessories > 1 ? a->name : "", sb.buf);
	fflush(stdout);
	sbuf_release(&sb);
}

/*
 * a's proxy: section acted on, as Kamal does: berth-proxy (booted where it
 * does not run) routes it to a's container on each of hosts, once the
 * container answers its health check.
 */
static int proxy_route(struct accessory_ctx *c, const struct config_accessory *a,
		       const struct strvec *hosts, struct err *e)
{
	struct appctl_jobs jobs;
	struct sbuf target = SBUF_INIT, names = SBUF_INIT;
	size_t i;
	int ret = -1;

	if (!a->proxy.enabled || !hosts->nr) {
		return 0;
	}
	if (strcmp(accessory_network(a), APP_NETWORK)) {
		return err_set(e,
			       "accessory '%s': its proxy cannot reach it on the network '%s' "
			       "(berth-proxy is on '%s': leave network: out)",
			       a->name, accessory_network(a), APP_NETWORK);
	}
	if (a->proxy.ssl_certificate_pem) {
		return err_set(e,
			       "accessory '%s': proxy.ssl with a certificate from secrets is taken "
			       "for the app's roles only; ssl: true orders one for it (ACME)",
			       a->name);
	}
	if (proxyhost_boot_as_kept(c->ex, (const char *const *)hosts->v, hosts->nr, c->cfg, NULL,
				   NULL, e) < 0) {
		err_prefix(e, "accessory '%s': berth-proxy", a->name);
		return -1;
	}
	sbuf_addf(&target, "%s:%lld", a->service, a->proxy.app_port > 0 ? a->proxy.app_port : 80);
	jobs_for(c, a, hosts, &jobs);
	for (i = 0; i < jobs.nr; i++) {
		app_proxy_service_argv(&jobs.v[i].argv, c->cfg, &a->proxy, a->service, target.buf,
				       NULL);
	}
	if (jobs_run(c, &jobs, APPCTL_CAPTURE, e) < 0) {
		err_prefix(e, "accessory '%s': berth-proxy deploy", a->name);
		goto out;
	}
	for (i = 0; i < a->proxy.hosts.nr; i++) {
		sbuf_addf(&names, "%s%s", i ? ", " : "", a->proxy.hosts.v[i]);
	}
	for (i = 0; i < jobs.nr; i++) {
		say(c, a, jobs.v[i].host, "berth-proxy sends %s to %s",
		    names.len ? names.buf : "every host name", target.buf);
	}
	ret = 0;
out:
	appctl_jobs_release(&jobs);
	sbuf_release(&target);
	sbuf_release(&names);
	return ret;
}

/* a's route taken out of berth-proxy on hosts (where there is one); nothing fails. */
static void proxy_unroute(struct accessory_ctx *c, const struct config_accessory *a,
			  const struct strvec *hosts)
{
	struct appctl_jobs jobs;
	struct err e = ERR_INIT;
	size_t i;

	if (!a->proxy.enabled || !hosts->nr) {
		return;
	}
	jobs_for(c, a, hosts, &jobs);
	for (i = 0; i < jobs.nr; i++) {
		strvec_pushv(&jobs.v[i].argv,
			     (const char *[]){"docker", "exec", APP_PROXY_CONTAINER, "berth-proxy",
					      "remove", a->service, NULL});
	}
	/* no proxy there, or no such route: nothing to take out */
	jobs_run(c, &jobs, APPCTL_CAPTURE, &e);
	err_release(&e);
	appctl_jobs_release(&jobs);
}

int accessory_boot(struct accessory_ctx *c, const struct config_accessory *a, struct strvec *booted,
		   struct err *e)
{
	struct strvec hosts = STRVEC_INIT, todo = STRVEC_INIT, args = STRVEC_INIT,
		      homes = STRVEC_INIT, up = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT, env = SBUF_INIT, skipped = SBUF_INIT;
	struct appctl_jobs jobs = {0};
	size_t i;
	int ret = -1;

	if (accessory_check(a, e) < 0) {
		goto out;
	}
	accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
	if (!hosts.nr) {
		ret = 0;
		goto out;
	}
	/* where a container of it exists already: left as it is (Kamal's) */
	jobs_for(c, a, &hosts, &jobs);
	for (i = 0; i < jobs.nr; i++) {
		strvec_pushv(&jobs.v[i].argv, (const char *[]){"docker", "ps", "--all", "--quiet",
							       "--filter", NULL});
		strvec_pushf(&jobs.v[i].argv, "label=service=%s", a->service);
	}
	if (jobs_run(c, &jobs, APPCTL_CAPTURE, e) < 0) {
		goto out;
	}
	for (i = 0; i < jobs.nr; i++) {
		if (jobs.v[i].cmd.outbuf.len) {
			sbuf_addf(&skipped, "%s%s", skipped.len ? ", " : "", jobs.v[i].host);
		} else {
			strvec_push(&todo, jobs.v[i].host);
		}
	}
	appctl_jobs_release(&jobs);
	if (skipped.len) {
		log_warn(
		    "skipping '%s' on %s: a container %s exists already (`berth accessory reboot "
		    "%s` replaces it)",
		    a->name, skipped.buf, a->service, a->name);
	}
	if (!todo.nr) {
		ret = 0;
		goto out;
	}
	if (a->port) {
		bool wide = false;

		if (accessory_publish(&sb, a->port, &wide, e) < 0) {
			err_prefix(e, "accessory '%s'", a->name);
			goto out;
		}
		if (wide && !has(&c->warned, a->name)) {
			log_warn(
			    "accessory '%s': port '%s' is published beyond this host's loopback: "
			    "anyone who reaches the host reaches it (without an address berth "
			    "binds it to " ACCESSORY_BIND ")",
			    a->name, a->port);
			strvec_push(&c->warned, a->name);
		}
		sbuf_reset(&sb);
	}
	if (accessory_env_file(&env, a, c->sec, e) < 0) {
		goto out;
	}
	if (login(c, a, &todo, e) < 0) {
		goto out;
	}
	/* its directory, its directories (mode and owner), and each host's home */
	strvec_pushv(&args, (const char *[]){a->service, "", "", NULL});
	for (i = 0; i < a->directories.nr; i++) {
		const struct config_accessory_path *p = &a->directories.v[i];

		sbuf_reset(&sb);
		accessory_dir_path(&sb, a, p);
		strvec_pushv(&args, (const char *[]){sb.buf, p->mode ? p->mode : "",
						     p->owner ? p->owner : "", NULL});
	}
	if (script_hosts(c, &todo, script_accessory_dirs, "accessory-dirs", &args,
			 slice_make(NULL, 0), "cannot make the accessory's directories", &homes,
			 e) < 0) {
		goto out;
	}
	/* the env file, as the app's is written */
	strvec_clear(&args);
	sbuf_reset(&sb);
	accessory_env_path(&sb, c->cfg, a);
	strvec_push(&args, sb.buf);
	if (script_hosts(c, &todo, script_deploy_env, "deploy-env", &args,
			 slice_make(env.buf, env.len), "cannot write the env file", NULL, e) < 0) {
		goto out;
	}
	/* the files, each on stdin */
	for (i = 0; i < a->files.nr; i++) {
		const struct config_accessory_path *p = &a->files.v[i];
		struct sbuf content = SBUF_INIT;
		int r;

		if (accessory_file_content(&content, c->project_dir, a, p, c->sec, e) < 0) {
			sbuf_release(&content);
			goto out;
		}
		strvec_clear(&args);
		sbuf_reset(&sb);
		accessory_file_path(&sb, a, p);
		strvec_pushv(&args, (const char *[]){sb.buf, p->mode ? p->mode : DEFAULT_FILE_MODE,
						     p->owner ? p->owner : "", NULL});
		r = script_hosts(c, &todo, script_accessory_file, "accessory-file", &args,
				 slice_make(content.buf, content.len), "cannot write a file", NULL,
				 e);
		sbuf_release(&content);
		if (r < 0) {
			err_prefix(e, "accessory '%s': file '%s'", a->name, p->local);
			goto out;
		}
	}
	/* the container */
	jobs_for(c, a, &todo, &jobs);
	for (i = 0; i < jobs.nr; i++) {
		struct accessory_run r = {0};

		r.host = jobs.v[i].host;
		r.home = homes.v[i];
		strvec_pushv(&jobs.v[i].argv,
			     (const char *[]){"sh", "-c", script_accessory_run, "accessory-run",
					      accessory_network(a), ACCESSORY_UP_WAIT_S, NULL});
		if (accessory_run_argv(&jobs.v[i].argv, c->cfg, a, &r, e) < 0) {
			goto out;
		}
	}
	ret = jobs_run(c, &jobs, APPCTL_CAPTURE, e);
	for (i = 0; i < jobs.nr; i++) {
		struct appctl_job *j = &jobs.v[i];

		if (j->cmd.status == 0) {
			strvec_push(&up, j->host);
			struct slice o = slice_make(j->cmd.outbuf.buf, j->cmd.outbuf.len);
			struct slice line = slice_trim(slice_next(&o, '\n'));
			struct slice id = slice_next(&line, ' ');

			say(c, a, j->host, "%s booted (container %.*s%s)", a->service,
			    (int)(id.len > 12 ? 12 : id.len), id.ptr,
			    slice_eq_cstr(slice_trim(line), "healthy") ? ", healthy" : "");
			if (booted) {
				strvec_push(booted, j->host);
			}
		}
	}
	if (ret < 0) {
		err_prefix(e, "accessory '%s'", a->name);
	} else if (proxy_route(c, a, &up, e) < 0) {
		ret = -1;
	}
out:
	appctl_jobs_release(&jobs);
	strvec_clear(&up);
	strvec_clear(&hosts);
	strvec_clear(&todo);
	strvec_clear(&args);
	strvec_clear(&homes);
	sbuf_release(&sb);
	sbuf_release(&env);
	sbuf_release(&skipped);
	return ret;
}

int accessory_pull(struct accessory_ctx *c, const struct config_accessory *a, struct err *e)
{
	struct strvec hosts = STRVEC_INIT;
	struct sbuf image = SBUF_INIT;
	int ret = 0;

	accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
	accessory_image(&image, a);
	if (hosts.nr &&
	    (login(c, a, &hosts, e) < 0 ||
	     registry_pull(c->ex, (const char *const *)hosts.v, hosts.nr, image.buf, e) < 0)) {
		err_prefix(e, "accessory '%s'", a->name);
		ret = -1;
	}
	strvec_clear(&hosts);
	sbuf_release(&image);
	return ret;
}

int accessory_start_stop(struct accessory_ctx *c, const struct config_accessory *a, bool start,
			 struct err *e)
{
	struct strvec hosts = STRVEC_INIT, up = STRVEC_INIT;
	struct appctl_jobs jobs;
	size_t i;
	int ret;

	accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
	if (!start) {
		/* out of the proxy first: no request finds it stopped */
		proxy_unroute(c, a, &hosts);
	}
	jobs_for(c, a, &hosts, &jobs);
	for (i = 0; i < jobs.nr; i++) {
		strvec_pushv(&jobs.v[i].argv,
			     (const char *[]){"docker", "container", start ? "start" : "stop",
					      a->service, NULL});
	}
	ret = jobs_run(c, &jobs, APPCTL_CAPTURE, e);
	for (i = 0; i < jobs.nr; i++) {
		if (jobs.v[i].cmd.status == 0) {
			say(c, a, jobs.v[i].host, "%s %s", a->service,
			    start ? "started" : "stopped");
			strvec_push(&up, jobs.v[i].host);
		}
	}
	if (ret < 0) {
		err_prefix(e, "accessory '%s'", a->name);
	} else if (start && proxy_route(c, a, &up, e) < 0) {
		ret = -1;
	}
	strvec_clear(&up);
	appctl_jobs_release(&jobs);
	strvec_clear(&hosts);
	return ret;
}

int accessory_remove(struct accessory_ctx *c, const struct config_accessory *a, bool all,
		     struct err *e)
{
	struct strvec hosts = STRVEC_INIT;
	struct appctl_jobs jobs;
	size_t i;
	int ret;

	if (accessory_check(a, e) < 0) {
		return -1;
	}
	accessory_hosts(c->cfg, a, c->roles, c->hosts, &hosts);
	proxy_unroute(c, a, &hosts);
	jobs_for(c, a, &hosts, &jobs);
	for (i = 0; i < jobs.nr; i++) {
		accessory_remove_argv(&jobs.v[i].argv, a, all, all);
	}
	ret = jobs_run(c, &jobs, APPCTL_CAPTURE, e);
	for (i = 0; i < jobs.nr; i++) {
		struct slice o = slice_make(jobs.v[i].cmd.outbuf.buf, jobs.v[i].cmd.outbuf.len);

		while (jobs.v[i].cmd.status == 0 && o.len) {
			struct slice line = slice_next(&o, '\n');

			if (line.len) {
				say(c, a, jobs.v[i].host, "%.*s", (int)line.len, line.ptr);
			}
		}
	}
	if (ret < 0) {
		err_prefix(e, "accessory '%s'", a->name);
	}
	appctl_jobs_release(&jobs);
	strvec_clear(&hosts);
	return ret;
}
