/* appdeploy — see appdeploy.h. */
#include "daemon/appdeploy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/ports.h"
#include "daemon/release.h"
#include "lib/banned.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

static const char *keep(struct appdeploy *d, const char *s)
{
	if (!s) {
		return NULL;
	}
	strvec_push(&d->proc_strs, s);
	return d->proc_strs.v[d->proc_strs.nr - 1];
}

void appdeploy_release(struct appdeploy *d)
{
	strvec_clear(&d->env_names);
	strvec_clear(&d->env_values);
	strvec_clear(&d->domains);
	strvec_clear(&d->proc_strs);
	strvec_clear(&d->mounts);
	strvec_clear(&d->aliases);
	free(d->procs);
	free(d->state_dir);
	memset(d, 0, sizeof(*d));
}

static void progress_out(const char *line, void *data)
{
	(void)data;
	printf("%s\n", line);
	fflush(stdout);
}

/* A property of app kept in d (NULL when not set); -1 with e set. */
static int prop(struct bd *bd, const char *app, const char *name, struct appdeploy *d,
		const char **out, struct err *e)
{
	char *v = NULL;
	int r = store_prop_get(&bd->store, app, name, &v, e);

	*out = r == 1 ? keep(d, v) : NULL;
	free(v);
	return r < 0 ? -1 : 0;
}

/*
 * TLS (cmd-certs.c): letsencrypt:enable's ACME certificate over certs:add's
 * (Dokku's rule: letsencrypt replaces the custom certificate); neither
 * without domains (berth-proxy serves TLS per host name), saying so.
 */
static int spec_tls(struct bd *bd, const char *app, struct appdeploy *d, struct err *e)
{
	const char *acme, *crt, *key;

	if (prop(bd, app, "letsencrypt.enabled", d, &acme, e) < 0 ||
	    prop(bd, app, "certs.crt", d, &crt, e) < 0 ||
	    prop(bd, app, "certs.key", d, &key, e) < 0) {
		return -1;
	}
	if (!acme && !(crt && key)) {
		return 0;
	}
	if (!d->domains.nr) {
		printf(" !     %s has no domains: served over plain HTTP (HTTPS needs a domain: "
		       "domains:add)\n",
		       app);
		return 0;
	}
	if (acme) {
		d->spec.ssl_acme = true;
	} else {
		d->spec.ssl_certificate_pem = crt;
		d->spec.ssl_private_key_pem = key;
	}
	return 0;
}

/* What checks:*, resource:*, storage:*, certs:* and letsencrypt:* set over the revision's word. */
static int spec_props(struct bd *bd, const char *app, struct appdeploy *d, struct err *e)
{
	const char *path, *disabled, *aliases;
	bool others = false, all_off = true;

	if (prop(bd, app, "checks.path.web", d, &path, e) < 0 ||
	    prop(bd, app, "checks.disabled", d, &disabled, e) < 0 ||
	    prop(bd, app, "resource.memory", d, &d->spec.memory, e) < 0 ||
	    prop(bd, app, "resource.cpu", d, &d->spec.cpus, e) < 0 ||
	    store_mount_list(&bd->store, app, &d->mounts, e) < 0) {
		return -1;
	}
	if (path) {
		d->spec.check.path = path;
	}
	d->spec.mounts = &d->mounts;
	/* the app's more names (oneclick:deploy's srv-captain--APP): on berth from the start */
	if (prop(bd, app, "network.aliases", d, &aliases, e) < 0) {
		return -1;
	}
	for (const char *a = aliases; a && *a;) {
		size_t n = strcspn(a, " ");

		if (n) {
			strvec_pushf(&d->aliases, "%.*s", (int)n, a);
		}
		a += n + (a[n] == ' ');
	}
	d->spec.aliases = &d->aliases;
	/* no readiness delay when every running type without the proxy has its checks off */
	for (size_t i = 0; disabled && i < d->spec.nprocs; i++) {
		const struct release_proc *p = &d->procs[i];
		size_t n = strlen(p->type);
		const char *at = disabled;
		bool off = false;

		if (!p->scale || !strcmp(p->type, "web")) {
			continue;
		}
		others = true;
		while (*at) {
			const char *comma = strchr(at, ',');
			size_t len = comma ? (size_t)(comma - at) : strlen(at);

			off |= len == n && !strncmp(at, p->type, n);
			at += len + (comma ? 1 : 0);
		}
		all_off &= off;
	}
	d->spec.no_uptime = others && all_off;
	return spec_tls(bd, app, d, e);
}

/*
 * The TCP ports image EXPOSEs, by ports.h's rule (0: none, or no dockerd to
 * ask); *ntcp: how many.
 */
static unsigned exposed_port(const char *image, size_t *ntcp)
{
	struct run_cmd c = RUN_CMD_INIT;
	unsigned port = 0;

	*ntcp = 0;
	strvec_pushv(&c.argv, (const char *[]){"docker", "image", "inspect", "--format",
					       "{{json .Config.ExposedPorts}}", "--", image, NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_NULL;
	if (run_one(&c) == 0) {
		port = ports_from_exposed(c.outbuf.buf ? c.outbuf.buf : "", c.outbuf.len, ntcp);
	}
	run_cmd_release(&c);
	return port;
}

int appdeploy_detect_port(struct bd *bd, const char *app, const char *image, unsigned *port)
{
	size_t ntcp = 0;
	unsigned p = image ? exposed_port(image, &ntcp) : 0;

	*port = PORTS_DEFAULT;
	if (!p) {
		return 0;
	}
	*port = p;
	if (ntcp > 1) {
		bd_info(bd,
			"%s exposes %zu TCP ports: web listens on %u (pick another: ports:set %s "
			"http:80:PORT)",
			image, ntcp, p, app);
	}
	return 2;
}

int appdeploy_port(struct bd *bd, const char *app, const char *image, unsigned *port, struct err *e)
{
	struct port_map m[PORTS_MAX];
	char *map = NULL;
	size_t n = 0;
	int r = store_prop_get(&bd->store, app, "ports.map", &map, e);

	*port = PORTS_DEFAULT;
	if (r < 0) {
		return -1;
	}
	if (r == 1 && ports_read(map, m, PORTS_MAX, &n, e) < 0) {
		free(map);
		return -1;
	}
	free(map);
	if (n) {
		*port = ports_container(m, n);
		return 1;
	}
	return appdeploy_detect_port(bd, app, image, port);
}

int appdeploy_spec(struct bd *bd, const char *app, const char *image, const char *version,
		   const struct push_result *pr, struct appdeploy *d, struct err *e)
{
	struct strvec types = STRVEC_INIT, counts = STRVEC_INIT;
	char *global = NULL;
	size_t n = 0;
	int r = -1;

	memset(d, 0, sizeof(*d));
	strvec_init(&d->env_names);
	strvec_init(&d->env_values);
	strvec_init(&d->domains);
	strvec_init(&d->proc_strs);
	strvec_init(&d->mounts);
	strvec_init(&d->aliases);
	if (store_config_list(&bd->store, app, &d->env_names, &d->env_values, e) < 0 ||
	    store_domain_list(&bd->store, app, &d->domains, e) < 0 ||
	    store_scale_list(&bd->store, app, &types, &counts, e) < 0 ||
	    store_setting_get(&bd->store, "global-domain", &global, e) < 0) {
		goto out;
	}
	if (!d->domains.nr && global) {
		strvec_pushf(&d->domains, "%s.%s", app, global);
	}
	/*
	 * The processes: the revision's, else one type (the app's properties say which and its
	 * command; web and the image's own command by default).
	 */
	n = pr && pr->nprocs ? pr->nprocs : 1;
	d->procs = xcalloc(n + types.nr, sizeof(*d->procs));
	for (size_t i = 0; i < n; i++) {
		struct release_proc *p = &d->procs[i];
		if (pr && pr->nprocs) {
			p->type = keep(d, pr->procs[i].type);
			p->cmd = keep(d, pr->procs[i].cmd);
			p->scale = pr->procs[i].scale;
		} else {
			if (prop(bd, app, APPDEPLOY_PROP_TYPE, d, &p->type, e) < 0 ||
			    prop(bd, app, APPDEPLOY_PROP_CMD, d, &p->cmd, e) < 0) {
				goto out;
			}
			if (!p->type) {
				p->type = keep(d, "web");
			}
			p->scale = 1;
		}
		for (size_t j = 0; j < types.nr; j++) {
			if (!strcmp(types.v[j], p->type)) {
				p->scale = (unsigned)strtoul(counts.v[j], NULL, 10);
			}
		}
	}
	d->spec.nprocs = n;
	d->state_dir = xstrdup(bd->state_dir);
	d->spec.app = app;
	d->spec.image = image;
	d->spec.version = version;
	d->spec.env_names = &d->env_names;
	d->spec.env_values = &d->env_values;
	d->spec.domains = &d->domains;
	d->spec.procs = d->procs;
	d->spec.state_dir = d->state_dir;
	d->spec.progress = progress_out;
	if (pr) {
		d->spec.check = pr->check;
		d->spec.release_cmd = keep(d, pr->release_cmd);
		d->spec.predeploy = keep(d, pr->predeploy);
		d->spec.postdeploy = keep(d, pr->postdeploy);
		d->spec.check.path = keep(d, pr->check.path);
	}
	if (spec_props(bd, app, d, e) < 0 || appdeploy_port(bd, app, image, &d->spec.port, e) < 0) {
		goto out;
	}
	r = 0;
out:
	if (r < 0) {
		appdeploy_release(d);
	}
	strvec_clear(&types);
	strvec_clear(&counts);
	free(global);
	return r;
}

char *appdeploy_version(struct bd *bd, const char *app, const char *base)
{
	struct store_release *rs = NULL;
	struct sbuf sb = SBUF_INIT;
	size_t n = 0;
	bool used = false;
	long long next = 1;

	store_release_list(&bd->store, app, &rs, &n, NULL);
	for (size_t i = 0; i < n; i++) {
		used |= !strcmp(rs[i].version, base);
		if (rs[i].id >= next) {
			next = rs[i].id + 1;
		}
	}
	sbuf_addstr(&sb, base);
	if (used) {
		sbuf_addf(&sb, "-%lld", next);
	}
	store_releases_free(rs, n);
	return sbuf_detach(&sb, NULL);
}

/*
 * The engine runs <repo>:<version>: an image under another name (a redeploy's
 * new version label, an image from git:from-image) is tagged
 * berthd/<app>:<version> first, so that a rollback finds it by that name too.
 * The name to deploy, malloc'd; NULL with e set when docker could not tag it.
 */
static char *tag_for(const char *app, const char *image, const char *version, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf ref = SBUF_INIT;

	sbuf_addf(&ref, "berthd/%s:%s", app, version);
	if (!strcmp(ref.buf, image)) {
		return sbuf_detach(&ref, NULL);
	}
	strvec_pushv(&c.argv, (const char *[]){"docker", "tag", image, ref.buf, NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		sbuf_trim(&c.errbuf);
		err_set(e, "cannot tag '%s' as '%s': %s", image, ref.buf,
			c.errbuf.len ? c.errbuf.buf : "docker failed");
		sbuf_release(&ref);
		run_cmd_release(&c);
		return NULL;
	}
	run_cmd_release(&c);
	return sbuf_detach(&ref, NULL);
}

static bool in_list(const struct strvec *v, const char *s)
{
	for (size_t i = 0; i < v->nr; i++) {
		if (!strcmp(v->v[i], s)) {
			return true;
		}
	}
	return false;
}

/*
 * Removes the app's images (berthd/APP:*) past the retention: those of
 * every release but the newest APPDEPLOY_KEEP_IMAGES deployed ones. `docker
 * rmi` without -f, so an image a container still uses stays (the engine
 * keeps as many stopped containers for rollbacks). A failure is said, and
 * fails nothing.
 */
static void prune_images(struct bd *bd, const char *app)
{
	struct store_release *rs = NULL;
	struct run_cmd ls = RUN_CMD_INIT;
	struct strvec keep = STRVEC_INIT;
	struct sbuf repo = SBUF_INIT;
	struct err e = ERR_INIT;
	struct slice rest;
	size_t n = 0, removed = 0;

	if (store_release_list(&bd->store, app, &rs, &n, &e) < 0) {
		goto out;
	}
	for (size_t i = 0; i < n && keep.nr < APPDEPLOY_KEEP_IMAGES; i++) {
		if (!strcmp(rs[i].status, "deployed") && !in_list(&keep, rs[i].image)) {
			strvec_push(&keep, rs[i].image);
		}
	}
	sbuf_addf(&repo, "berthd/%s", app);
	strvec_pushv(&ls.argv, (const char *[]){"docker", "images", "--format",
						"{{.Repository}}:{{.Tag}}", repo.buf, NULL});
	ls.out = RUN_IO_CAPTURE;
	ls.err = RUN_IO_CAPTURE;
	if (run_one(&ls) < 0) {
		goto out;
	}
	rest = slice_make(ls.outbuf.buf, ls.outbuf.len);
	while (rest.ptr) {
		struct slice line = slice_trim(slice_next(&rest, '\n'));
		struct run_cmd rm = RUN_CMD_INIT;
		char *ref;

		if (!line.len) {
			continue;
		}
		ref = slice_dup(line);
		if (!in_list(&keep, ref) && !strstr(ref, ":<none>")) {
			strvec_pushv(&rm.argv, (const char *[]){"docker", "rmi", ref, NULL});
			rm.out = RUN_IO_NULL;
			rm.err = RUN_IO_CAPTURE;
			removed += run_one(&rm) == 0;
			run_cmd_release(&rm);
		}
		free(ref);
	}
	if (removed) {
		bd_info(bd, "removed %zu image(s) of %s past the newest %d releases", removed, app,
			APPDEPLOY_KEEP_IMAGES);
	}
out:
	store_releases_free(rs, n);
	run_cmd_release(&ls);
	strvec_clear(&keep);
	sbuf_release(&repo);
	err_release(&e);
}

/* Whether web runs (the domains route to it). */
static bool has_web(const struct release_spec *s)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		if (!strcmp(s->procs[i].type, "web") && s->procs[i].scale) {
			return true;
		}
	}
	return false;
}

int appdeploy_run(struct bd *bd, const char *app, const char *image, const char *base_version,
		  const char *rev, const struct push_result *pr, struct err *e)
{
	struct appdeploy d;
	char *version = appdeploy_version(bd, app, base_version);
	char *tagged = tag_for(app, image, version, e);
	long long id = 0;
	int r = -1;

	if (!tagged) {
		free(version);
		return -1;
	}
	image = tagged;
	if (appdeploy_spec(bd, app, image, version, pr, &d, e) < 0) {
		free(version);
		free(tagged);
		return -1;
	}
	if (store_release_add(&bd->store, app, version, image, rev, "deploying", &id, e) < 0) {
		goto out;
	}
	bd_step(bd, "Deploying %s (version %s, image %s)", app, version, image);
	if (release_deploy(&d.spec, e) < 0) {
		store_release_set_status(&bd->store, id, "failed", NULL);
		bd_event(bd, app, "deploy-failed", version);
		goto out;
	}
	if (store_release_set_status(&bd->store, id, "deployed", e) < 0) {
		goto out;
	}
	/* a deploy starts the app: it is no longer stopped */
	store_prop_set(&bd->store, app, "ps.stopped", NULL, NULL);
	bd_event(bd, app, "deploy", version);
	appdeploy_attach_networks(bd, app);
	bd_step(bd, "Application deployed: %s %s", app, version);
	prune_images(bd, app);
	for (size_t i = 0; has_web(&d.spec) && i < d.domains.nr; i++) {
		bd_info(bd, "%s://%s",
			d.spec.ssl_acme || d.spec.ssl_certificate_pem ? "https" : "http",
			d.domains.v[i]);
	}
	r = 0;
out:
	appdeploy_release(&d);
	free(version);
	free(tagged);
	return r;
}

/* The base of a redeploy's version: the current one without an earlier "-N". */
static char *base_of(const struct store_release *cur)
{
	const char *dash = cur->rev ? strchr(cur->version, '-') : NULL;
	return dash ? xstrndup(cur->version, (size_t)(dash - cur->version)) : xstrdup(cur->version);
}

static int redeploy(struct bd *bd, const char *app, bool any, struct err *e)
{
	struct store_release cur = {0};
	struct push_result pr = {0};
	struct push_opts po = {0};
	char *git_dir = NULL, *base = NULL;
	int lock = -1, r = -1, found;

	lock = appdeploy_lock(bd, app, "redeploy", e);
	if (lock < 0) {
		return -1;
	}
	if (!any) {
		char *stopped = NULL;
		int st = store_prop_get(&bd->store, app, "ps.stopped", &stopped, e);

		free(stopped);
		if (st != 0) {
			r = st < 0 ? -1 : 2;
			if (st > 0) {
				bd_step(bd,
					"%s is stopped (ps:stop): the change takes effect at "
					"ps:start",
					app);
			}
			goto out;
		}
	}
	found = store_release_current(&bd->store, app, &cur, e);
	if (found <= 0) {
		r = found < 0 ? -1 : 1;
		goto out;
	}
	if (cur.rev) {
		git_dir = bd_path(bd, "repos/%s.git", app);
		po.app = app;
		po.git_dir = git_dir;
		po.rev = cur.rev;
		po.wait_ms = APPDEPLOY_REV_WAIT_MS;
		if (push_read(&po, &pr, e) < 0) {
			goto out;
		}
	}
	base = base_of(&cur);
	r = appdeploy_run(bd, app, cur.image, base, cur.rev, cur.rev ? &pr : NULL, e);
out:
	if (cur.rev) {
		push_result_release(&pr);
	}
	store_release_release(&cur);
	free(git_dir);
	free(base);
	appdeploy_unlock(lock);
	return r;
}

int appdeploy_redeploy(struct bd *bd, const char *app, struct err *e)
{
	return redeploy(bd, app, false, e);
}

int appdeploy_redeploy_any(struct bd *bd, const char *app, struct err *e)
{
	return redeploy(bd, app, true, e);
}

int appdeploy_containers(const char *app, const char *type, unsigned instance, struct strvec *ids,
			 struct err *e)
{
	struct run_cmd ps = RUN_CMD_INIT;
	char *want = type && instance ? release_role_name(type, instance) : NULL;
	struct slice rest;
	int r = -1;

	strvec_pushv(&ps.argv,
		     (const char *[]){"docker", "ps", "--format",
				      "{{.ID}} {{.Label \"role\"}} {{.Label \"instance\"}}",
				      "--filter", NULL});
	strvec_pushf(&ps.argv, "label=service=%s", app);
	ps.out = RUN_IO_CAPTURE;
	ps.err = RUN_IO_CAPTURE;
	if (run_one(&ps) < 0) {
		struct slice t = run_tail_lines(&ps.errbuf, 3);

		err_set(e, "cannot list the containers of %s: %.*s", app, (int)t.len, t.ptr);
		goto out;
	}
	rest = slice_make(ps.outbuf.buf, ps.outbuf.len);
	while (rest.ptr) {
		struct slice line = slice_trim(slice_next(&rest, '\n'));
		struct slice id = slice_next(&line, ' ');
		char *role = line.ptr ? slice_dup(slice_trim(slice_next(&line, ' '))) : xstrdup("");
		uint64_t inst = 0;
		bool match;

		/* web's instances are one role (the engine's instances), labelled instance=N */
		if (line.ptr && !slice_to_u64(slice_trim(line), UINT32_MAX, &inst)) {
			inst = 0;
		}
		if (!type) {
			match = true;
		} else if (!want) {
			match = release_role_is(role, type);
		} else {
			match = (!strcmp(role, want) && inst <= 1) ||
				(instance > 1 && !strcmp(role, type) && inst == instance);
		}
		if (id.len && match) {
			strvec_pushf(ids, "%.*s", (int)id.len, id.ptr);
		}
		free(role);
	}
	r = 0;
out:
	free(want);
	run_cmd_release(&ps);
	return r;
}

int appdeploy_lock(struct bd *bd, const char *app, const char *action, struct err *e)
{
	char *dir = bd_path(bd, "locks"), *path = bd_path(bd, "locks/%s.lock", app);
	struct sbuf who = SBUF_INIT;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(e, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			err_set(e, "cannot lock '%s': %s", path, strerror(errno));
			goto fail;
		}
		lseek(fd, 0, SEEK_SET);
		sbuf_read_fd(&who, fd);
		sbuf_trim(&who);
		bd_step(bd, "Waiting for %s's lock, held by %s", app,
			who.len ? who.buf : "another deploy");
		if (flock(fd, LOCK_EX) < 0) {
			err_set(e, "cannot lock '%s': %s", path, strerror(errno));
			goto fail;
		}
	}
	sbuf_reset(&who);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	sbuf_addf(&who, "%s (%s, pid %ld, since %s)\n", bd->key ? bd->key : "root", action,
		  (long)getpid(), when);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, who.buf, who.len, 0) < 0) {
		err_set(e, "cannot write '%s': %s", path, strerror(errno));
		goto fail;
	}
	goto out;
fail:
	close(fd);
	fd = -1;
out:
	sbuf_release(&who);
	free(dir);
	free(path);
	return fd;
}

void appdeploy_unlock(int fd)
{
	if (fd >= 0) {
		if (ftruncate(fd, 0) < 0) {
			/* the next holder writes over it anyway */
		}
		close(fd);
	}
}
