#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <openssl/evp.h>

#include "engine/app.h"
#include "engine/build.h"
#include "engine/registry.h"
#include "engine/secrets.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

void build_version_string(struct sbuf *out, const char *head, bool dirty, const char *diff,
			  size_t diff_len)
{
	struct slice h = slice_trim(slice_cstr(head));

	sbuf_add(out, h.ptr, h.len);
	if (dirty) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0, i;

		if (!EVP_Digest(diff, diff_len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 6) {
			xdie("sha256 failed");
		}
		sbuf_addstr(out, "_uncommitted_");
		for (i = 0; i < 6; i++) {
			sbuf_addf(out, "%02x", md[i]);
		}
	}
}

/* Runs `git -C dir ARGS...` and keeps its output; returns run_one's result. */
static int git_capture(struct run_cmd *c, const char *dir, const char *const *args)
{
	strvec_pushv(&c->argv, (const char *[]){"git", "-C", dir, NULL});
	strvec_pushv(&c->argv, args);
	c->out = RUN_IO_CAPTURE;
	c->err = RUN_IO_CAPTURE;
	return run_one(c);
}

int build_version(struct sbuf *out, const char *project_dir, struct err *e)
{
	const char *dir = project_dir && *project_dir ? project_dir : ".";
	struct run_cmd head = RUN_CMD_INIT, status = RUN_CMD_INIT, diff = RUN_CMD_INIT;
	int ret = -1;

	if (git_capture(&head, dir, (const char *[]){"rev-parse", "--verify", "HEAD", NULL}) < 0) {
		if (head.status == 127) {
			err_set(e, "cannot run git to find the version: give it with --version");
		} else {
			err_set(e,
				"'%s' is not a git repository with a commit: give the version with "
				"--version",
				dir);
		}
		goto out;
	}
	sbuf_trim(&head.outbuf);
	if (!head.outbuf.len || strspn(head.outbuf.buf, "0123456789abcdef") != head.outbuf.len) {
		err_set(e, "git rev-parse HEAD in '%s' did not print a commit", dir);
		goto out;
	}
	if (git_capture(&status, dir, (const char *[]){"status", "--porcelain", NULL}) < 0) {
		err_set(e, "git status failed in '%s'", dir);
		goto out;
	}
	if (status.outbuf.len) {
		diff.capture_max = BUILD_DIFF_MAX;
		if (git_capture(
			&diff, dir,
			(const char *[]){"diff", "--no-ext-diff", "--binary", "HEAD", NULL}) < 0) {
			err_set(e,
				diff.truncated ? "the uncommitted changes in '%s' are too large "
						 "to hash: commit them or give --version"
					       : "git diff failed in '%s'",
				dir);
			goto out;
		}
	}
	build_version_string(out, head.outbuf.buf, status.outbuf.len > 0, diff.outbuf.buf,
			     diff.outbuf.len);
	ret = 0;
out:
	run_cmd_release(&head);
	run_cmd_release(&status);
	run_cmd_release(&diff);
	return ret;
}

void build_argv(struct strvec *argv, const struct config *cfg, const char *version)
{
	const struct config_builder *b = &cfg->builder;
	struct sbuf sb = SBUF_INIT;
	size_t i;

	strvec_pushv(argv, (const char *[]){"docker", "build", "-t", NULL});
	app_image_ref(&sb, cfg, version);
	strvec_push(argv, sb.buf);
	strvec_push(argv, "--label");
	strvec_pushf(argv, "service=%s", cfg->service);
	if (b->arch.nr) {
		sbuf_reset(&sb);
		for (i = 0; i < b->arch.nr; i++) {
			sbuf_addf(&sb, "%slinux/%s", i ? "," : "", b->arch.v[i]);
		}
		strvec_pushv(argv, (const char *[]){"--platform", sb.buf, NULL});
	}
	if (b->dockerfile) {
		strvec_pushv(argv, (const char *[]){"--file", b->dockerfile, NULL});
	}
	for (i = 0; i < b->args.nr; i++) {
		const char *v = b->args.v[i].value;

		strvec_push(argv, "--build-arg");
		/* a blank value goes as the name alone, as Kamal passes it: docker then takes
		 * the variable from the environment, else the Dockerfile's default */
		if (!v || !v[strspn(v, " \t\n\r\f\v")]) {
			strvec_push(argv, b->args.v[i].key);
		} else {
			strvec_pushf(argv, "%s=%s", b->args.v[i].key, v);
		}
	}
	if (b->target) {
		strvec_pushv(argv, (const char *[]){"--target", b->target, NULL});
	}
	if (b->no_cache) {
		strvec_push(argv, "--no-cache");
	}
	for (i = 0; i < b->secrets.nr; i++) {
		strvec_push(argv, "--secret");
		strvec_pushf(argv, "id=%s,env=%s", b->secrets.v[i], b->secrets.v[i]);
	}
	strvec_push(argv, b->context ? b->context : ".");
	sbuf_release(&sb);
}

/* Reads the project's secrets files (cfg->secrets_path and the destination's) into all. */
static int project_secrets(const struct config *cfg, const char *dir, struct secrets *all,
			   struct err *e)
{
	struct sbuf path = SBUF_INIT;
	int ret;

	if (cfg->secrets_path && cfg->secrets_path[0] != '/' && strcmp(dir, ".")) {
		sbuf_addf(&path, "%s/%s", dir, cfg->secrets_path);
	} else {
		sbuf_addstr(&path, cfg->secrets_path ? cfg->secrets_path : ".kamal/secrets");
	}
	ret = secrets_load_path(all, path.buf, cfg->destination, dir, e);
	sbuf_release(&path);
	return ret;
}

/* The builder's secrets from all into env as NAME=value; keeps them in kept for redaction. */
static int build_secrets(const struct config *cfg, const struct secrets *all, struct strvec *env,
			 struct secrets *kept, struct err *e)
{
	size_t i;

	for (i = 0; i < cfg->builder.secrets.nr; i++) {
		const char *name = cfg->builder.secrets.v[i];
		const char *v = secrets_get(all, name);

		if (!v) {
			return err_set(
			    e, "builder.secrets: secret '%s' is not set in the secrets files",
			    name);
		}
		strvec_pushf(env, "%s=%s", name, v);
		secrets_set(kept, name, v, NULL);
	}
	return 0;
}

/* ---- the plan ---- */

void build_plan_init(struct build_plan *p)
{
	memset(p, 0, sizeof(*p));
	sbuf_init(&p->why, 0);
	sbuf_init(&p->platforms, 0);
	sbuf_init(&p->local_platforms, 0);
	sbuf_init(&p->remote_platforms, 0);
}

void build_plan_release(struct build_plan *p)
{
	sbuf_release(&p->why);
	sbuf_release(&p->platforms);
	sbuf_release(&p->local_platforms);
	sbuf_release(&p->remote_platforms);
	free(p->driver);
	free(p->builder);
	free(p->context);
	free(p->remote);
	build_plan_init(p);
}

const char *build_local_arch(void)
{
	static char machine[sizeof(((struct utsname *)0)->machine)];
	struct utsname u;

	if (uname(&u) < 0) {
		return "amd64";
	}
	if (!strcmp(u.machine, "x86_64")) {
		return "amd64";
	}
	if (!strcmp(u.machine, "aarch64") || !strcmp(u.machine, "arm64")) {
		return "arm64";
	}
	snprintf(machine, sizeof(machine), "%s", u.machine);
	return machine;
}

static void add_platform(struct sbuf *sb, const char *arch)
{
	sbuf_addf(sb, "%slinux/%s", sb->len ? "," : "", arch);
}

/* builder.remote with every byte but [a-z0-9_-] made '-', as Kamal names its builders */
static void remote_suffix(struct sbuf *out, const char *remote, bool local_registry)
{
	const char *r;

	for (r = remote; *r; r++) {
		bool ok =
		    (*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '_' || *r == '-';

		sbuf_addch(out, ok ? *r : '-');
	}
	if (local_registry) {
		sbuf_addstr(out, "-local-registry");
	}
}

int build_plan_make(struct build_plan *p, const struct config *cfg, const char *local_arch,
		    struct err *e)
{
	const struct config_builder *b = &cfg->builder;
	const char *driver = b->driver;
	bool docker_driver = driver && !strcmp(driver, "docker");
	bool local_disabled = b->local == 0;
	struct sbuf sb = SBUF_INIT;
	size_t i;
	int ret = -1;

	build_plan_release(p);
	p->local_registry = registry_local(cfg);
	p->nplatforms = (unsigned)b->arch.nr;
	for (i = 0; i < b->arch.nr; i++) {
		bool here = !local_disabled && (!b->remote || !strcmp(b->arch.v[i], local_arch));

		add_platform(&p->platforms, b->arch.v[i]);
		add_platform(here ? &p->local_platforms : &p->remote_platforms, b->arch.v[i]);
	}
	if (b->remote) {
		/* no arch named: the remote builds it all when `local: false`, else this machine */
		p->local = b->arch.nr ? p->local_platforms.len > 0 : !local_disabled;
		if (b->arch.nr ? p->remote_platforms.len > 0 : local_disabled) {
			p->remote = xstrdup(b->remote);
		}
	} else {
		if (local_disabled) {
			err_set(e, "builder.local: false needs a builder.remote to build on");
			goto out;
		}
		p->local = true;
	}
	p->hybrid = p->local && p->remote;
	if (docker_driver) {
		if (b->remote) {
			err_set(e, "builder.driver: docker cannot build on a builder.remote (Kamal "
				   "refuses it too): use the default docker-container driver");
			goto out;
		}
		if (b->cache_type) {
			err_set(e,
				"builder.driver: docker cannot use builder.cache (Kamal refuses it "
				"too): use the default docker-container driver");
			goto out;
		}
		if (b->arch.nr > 1) {
			err_set(e, "builder.driver: docker cannot build several arches (Kamal "
				   "refuses it too): use the default docker-container driver");
			goto out;
		}
	}
	if (p->local_registry && p->remote && strncmp(p->remote, "ssh://", 6)) {
		err_set(e,
			"a local registry with a builder.remote needs an ssh:// remote, as Kamal "
			"does (e.g. ssh://user@host); found '%s'",
			p->remote);
		goto out;
	}
	/* what only buildx does */
	if (b->arch.nr > 1) {
		sbuf_addf(&p->why, "building for %zu platforms (builder.arch: %s)", b->arch.nr,
			  p->platforms.buf);
	} else if (b->cache_type) {
		sbuf_addf(&p->why, "building with a cache (builder.cache: %s)", b->cache_type);
	} else if (driver && !docker_driver) {
		sbuf_addf(&p->why, "building with the %s driver (builder.driver)", driver);
	} else if (p->hybrid) {
		sbuf_addstr(&p->why, "building here and on builder.remote at once");
	}
	p->buildx = p->why.len > 0;
	if (!p->buildx) {
		ret = 0;
		goto out;
	}
	if (p->nplatforms > 1 && !registry_configured(cfg)) {
		err_set(e,
			"%s, but there is no registry to push the multi-platform image to: docker "
			"cannot load one here to send over ssh; name a registry (registry.server, "
			"localhost:PORT for a local one) or build one arch",
			p->why.buf);
		goto out;
	}
	if (p->nplatforms > 1 && p->local_registry && p->remote) {
		err_set(e,
			"%s on a builder.remote, with a local registry: berth pushes to a local "
			"registry from this machine only; build here, or use a remote registry",
			p->why.buf);
		goto out;
	}
	p->driver = xstrdup(driver ? driver : "docker-container");
	if (!strncmp(p->driver, "cloud", 5)) {
		/* Kamal's: "cloud ORG/NAME" is the builder cloud-ORG-NAME */
		for (i = 0; p->driver[i]; i++) {
			sbuf_addch(&sb,
				   p->driver[i] == ' ' || p->driver[i] == '/' ? '-' : p->driver[i]);
		}
	} else if (p->hybrid) {
		sbuf_addf(&sb, "berth-hybrid-%s-", p->driver);
		remote_suffix(&sb, p->remote, p->local_registry);
	} else if (p->remote) {
		sbuf_addstr(&sb, "berth-remote-");
		remote_suffix(&sb, p->remote, p->local_registry);
	} else {
		sbuf_addf(&sb, "berth-local-%s%s", p->local_registry ? "registry-" : "", p->driver);
	}
	p->builder = sbuf_detach(&sb, NULL);
	if (p->remote) {
		sbuf_addf(&sb, "%s-context", p->builder);
		p->context = sbuf_detach(&sb, NULL);
	}
	/* several platforms cannot be loaded here: the build pushes them */
	p->push =
	    registry_configured(cfg) && (p->nplatforms > 1 || !p->local_registry || !p->remote);
	ret = 0;
out:
	sbuf_release(&sb);
	return ret;
}

static const char *cache_image(const struct config *cfg, struct sbuf *tmp)
{
	if (cfg->builder.cache_image) {
		return cfg->builder.cache_image;
	}
	sbuf_addf(tmp, "%s-build-cache", cfg->image ? cfg->image : cfg->service);
	return tmp->buf;
}

static void cache_ref(struct sbuf *out, const struct config *cfg)
{
	struct sbuf tmp = SBUF_INIT;

	sbuf_addstr(out, "type=registry,ref=");
	if (cfg->registry.server && *cfg->registry.server) {
		sbuf_addf(out, "%s/", cfg->registry.server);
	}
	sbuf_addstr(out, cache_image(cfg, &tmp));
	sbuf_release(&tmp);
}

void build_cache_from(struct sbuf *out, const struct config *cfg)
{
	const char *t = cfg->builder.cache_type, *o = cfg->builder.cache_options;

	if (!t) {
		return;
	}
	if (!strcmp(t, "gha")) {
		/* only what reading the cache needs, as Kamal keeps */
		sbuf_addstr(out, "type=gha");
		while (o && *o) {
			size_t n = strcspn(o, ",");

			if ((n >= 4 && !strncmp(o, "url=", 4)) ||
			    (n >= 7 && !strncmp(o, "url_v2=", 7)) ||
			    (n >= 6 && !strncmp(o, "token=", 6)) ||
			    (n >= 6 && !strncmp(o, "scope=", 6)) ||
			    (n >= 8 && !strncmp(o, "timeout=", 8))) {
				sbuf_addch(out, ',');
				sbuf_add(out, o, n);
			}
			o += n + (o[n] == ',');
		}
	} else {
		cache_ref(out, cfg);
	}
}

void build_cache_to(struct sbuf *out, const struct config *cfg)
{
	const char *t = cfg->builder.cache_type, *o = cfg->builder.cache_options;

	if (!t) {
		return;
	}
	if (!strcmp(t, "gha")) {
		sbuf_addstr(out, "type=gha");
	} else {
		cache_ref(out, cfg);
	}
	if (o && *o) {
		sbuf_addf(out, ",%s", o);
	}
}

void build_buildx_argv(struct strvec *argv, const struct config *cfg, const struct build_plan *p,
		       const char *tag, const char *output, const char *context)
{
	const struct config_builder *b = &cfg->builder;
	struct sbuf sb = SBUF_INIT;
	size_t i;

	strvec_pushv(argv, (const char *[]){"docker", "buildx", "build", NULL});
	strvec_pushf(argv, "--output=type=%s", output);
	if (p->platforms.len) {
		strvec_pushv(argv, (const char *[]){"--platform", p->platforms.buf, NULL});
	}
	if (p->builder) {
		strvec_pushv(argv, (const char *[]){"--builder", p->builder, NULL});
	}
	strvec_pushv(argv, (const char *[]){"-t", tag, "--label", NULL});
	strvec_pushf(argv, "service=%s", cfg->service);
	if (b->cache_type) {
		build_cache_to(&sb, cfg);
		strvec_pushv(argv, (const char *[]){"--cache-to", sb.buf, NULL});
		sbuf_reset(&sb);
		build_cache_from(&sb, cfg);
		strvec_pushv(argv, (const char *[]){"--cache-from", sb.buf, NULL});
	}
	for (i = 0; i < b->args.nr; i++) {
		strvec_push(argv, "--build-arg");
		strvec_pushf(argv, "%s=%s", b->args.v[i].key,
			     b->args.v[i].value ? b->args.v[i].value : "");
	}
	for (i = 0; i < b->secrets.nr; i++) {
		strvec_push(argv, "--secret");
		strvec_pushf(argv, "id=%s,env=%s", b->secrets.v[i], b->secrets.v[i]);
	}
	if (b->dockerfile) {
		strvec_pushv(argv, (const char *[]){"--file", b->dockerfile, NULL});
	}
	if (b->target) {
		strvec_pushv(argv, (const char *[]){"--target", b->target, NULL});
	}
	if (b->ssh) {
		strvec_pushv(argv, (const char *[]){"--ssh", b->ssh, NULL});
	}
	if (b->provenance) {
		strvec_pushv(argv, (const char *[]){"--provenance", b->provenance, NULL});
	}
	if (b->sbom) {
		strvec_pushv(argv, (const char *[]){"--sbom", b->sbom, NULL});
	}
	if (b->no_cache) {
		strvec_push(argv, "--no-cache");
	}
	strvec_push(argv, context);
	sbuf_release(&sb);
}

size_t build_create_argvs(const struct build_plan *p, struct strvec argvs[BUILD_MAX_STEPS])
{
	size_t n = 0;

	if (!p->buildx || !p->builder) {
		return 0;
	}
	if (!strncmp(p->driver, "cloud", 5)) {
		strvec_pushv(&argvs[n++], (const char *[]){"docker", "buildx", "create", "--driver",
							   p->driver, NULL});
		return n;
	}
	if (p->local) {
		strvec_pushv(&argvs[n], (const char *[]){"docker", "buildx", "create", NULL});
		if (p->hybrid && p->local_platforms.len) {
			strvec_pushv(&argvs[n],
				     (const char *[]){"--platform", p->local_platforms.buf, NULL});
		}
		strvec_pushv(&argvs[n], (const char *[]){"--name", p->builder, NULL});
		strvec_pushf(&argvs[n], "--driver=%s", p->driver);
		if (p->local_registry) {
			strvec_pushv(&argvs[n],
				     (const char *[]){"--driver-opt", "network=host", NULL});
		}
		n++;
	}
	if (p->remote) {
		strvec_pushv(&argvs[n], (const char *[]){"docker", "context", "create", p->context,
							 "--description", NULL});
		strvec_pushf(&argvs[n], "%s host", p->builder);
		strvec_push(&argvs[n], "--docker");
		strvec_pushf(&argvs[n], "host=%s", p->remote);
		n++;
		strvec_pushv(&argvs[n], (const char *[]){"docker", "buildx", "create", NULL});
		if (p->hybrid) {
			if (p->remote_platforms.len) {
				strvec_pushv(
				    &argvs[n],
				    (const char *[]){"--platform", p->remote_platforms.buf, NULL});
			}
			strvec_push(&argvs[n], "--append");
		}
		strvec_pushv(&argvs[n], (const char *[]){"--name", p->builder, NULL});
		if (p->local_registry) {
			strvec_pushv(&argvs[n],
				     (const char *[]){"--driver-opt", "network=host", NULL});
		}
		strvec_push(&argvs[n], p->context);
		n++;
	}
	return n;
}

size_t build_remove_argvs(const struct build_plan *p, struct strvec argvs[BUILD_MAX_STEPS])
{
	size_t n = 0;

	if (!p->buildx || !p->builder) {
		return 0;
	}
	strvec_pushv(&argvs[n++], (const char *[]){"docker", "buildx", "rm", p->builder, NULL});
	if (p->context) {
		strvec_pushv(&argvs[n++],
			     (const char *[]){"docker", "context", "rm", p->context, NULL});
	}
	return n;
}

int build_buildx_check(struct sbuf *version, const char *what, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int ret = 0;

	strvec_pushv(&c.argv, (const char *[]){"docker", "buildx", "version", NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	c.timeout_ms = 30000;
	if (run_one(&c) < 0) {
		const struct sbuf *sb = c.errbuf.len ? &c.errbuf : &c.outbuf;
		struct slice said = slice_trim(slice_make(sb->buf, sb->len));
		long nl = slice_find_char(said, '\n');

		if (nl >= 0) {
			said = slice_trim(
			    slice_make(said.ptr, (size_t)nl)); /* "docker: unknown command: ..." */
		}

		if (!c.started) {
			err_set(e,
				"%s: that needs docker buildx, and there is no docker here to run",
				what);
		} else {
			err_set(
			    e,
			    "%s: that needs docker buildx, which this machine's docker lacks "
			    "('docker buildx version': %.*s): install Docker's buildx plugin (the "
			    "docker-buildx-plugin package of Docker's apt repository, or the "
			    "docker-buildx binary in ~/.docker/cli-plugins/)",
			    what, (int)(said.len ? said.len : 6), said.len ? said.ptr : "failed");
		}
		ret = -1;
	} else if (version) {
		struct slice l =
		    slice_trim(c.outbuf.len ? run_tail_lines(&c.outbuf, 1) : slice_make(NULL, 0));

		sbuf_add(version, l.ptr, l.len);
	}
	run_cmd_release(&c);
	return ret;
}

/* ---- the clean clone ---- */

/* Runs git -C dir ARGS, output kept; on failure sets e with what git said. */
static int git_run(struct run_cmd *c, const char *dir, const char *const *args, struct err *e)
{
	if (git_capture(c, dir, args) == 0) {
		return 0;
	}
	if (e) {
		struct slice tail = slice_trim(run_tail_lines(&c->errbuf, 3));
		char *line = strvec_join(&c->argv, " ");

		err_set(e, "%s failed%s%.*s", line, tail.len ? ": " : "", (int)tail.len, tail.ptr);
		free(line);
	}
	return -1;
}

static int mkdirs(const char *path)
{
	struct sbuf sb = SBUF_INIT;
	size_t i;
	int ret = 0;

	sbuf_addstr(&sb, path);
	for (i = 1; i <= sb.len && ret == 0; i++) {
		if (sb.buf[i] == '/' || sb.buf[i] == '\0') {
			char c = sb.buf[i];

			sb.buf[i] = '\0';
			if (mkdir(sb.buf, 0700) < 0 && errno != EEXIST) {
				ret = -1;
			}
			sb.buf[i] = c;
		}
	}
	sbuf_release(&sb);
	return ret;
}

/* Clones root into clone_dir (its basename inside), or resets the clone there to rev. */
static int clone_or_reset(const char *root, const char *clone_dir, const char *repo_dir,
			  const char *rev, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct stat st;
	int ret = -1;

	if (stat(repo_dir, &st) == 0) {
		const char *const steps[][8] = {
		    {"remote", "set-url", "origin", root, NULL},
		    {"fetch", "--quiet", "origin", NULL},
		    {"reset", "--quiet", "--hard", rev, NULL},
		    {"clean", "-fdxq", NULL},
		    {"submodule", "--quiet", "update", "--init", NULL},
		    {"gc", "--auto", "--quiet", NULL},
		};
		size_t i;

		log_debug("resetting the clone in '%s' to %s", repo_dir, rev);
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			run_cmd_release(&c);
			run_cmd_init(&c);
			if (git_run(&c, repo_dir, steps[i], e) < 0) {
				goto out;
			}
		}
	} else {
		if (mkdirs(clone_dir) < 0) {
			err_set(e, "cannot create '%s': %s", clone_dir, strerror(errno));
			goto out;
		}
		log_debug("cloning '%s' into '%s'", root, clone_dir);
		if (git_run(
			&c, clone_dir,
			(const char *[]){"clone", "--quiet", "--recurse-submodules", root, NULL},
			e) < 0) {
			goto out;
		}
		run_cmd_release(&c);
		run_cmd_init(&c);
		if (git_run(&c, repo_dir, (const char *[]){"reset", "--quiet", "--hard", rev, NULL},
			    e) < 0) {
			goto out;
		}
	}
	/* Kamal's check: clean, and on the commit */
	run_cmd_release(&c);
	run_cmd_init(&c);
	if (git_run(&c, repo_dir, (const char *[]){"status", "--porcelain", NULL}, e) < 0) {
		goto out;
	}
	if (c.outbuf.len) {
		err_set(e, "the clone in '%s' is not clean: %s", repo_dir, c.outbuf.buf);
		goto out;
	}
	run_cmd_release(&c);
	run_cmd_init(&c);
	if (git_run(&c, repo_dir, (const char *[]){"rev-parse", "HEAD", NULL}, e) < 0) {
		goto out;
	}
	sbuf_trim(&c.outbuf);
	if (strcmp(c.outbuf.buf, rev)) {
		err_set(e, "the clone in '%s' is on %s, not %s", repo_dir, c.outbuf.buf, rev);
		goto out;
	}
	ret = 0;
out:
	run_cmd_release(&c);
	return ret;
}

int build_clone(struct sbuf *build_dir, struct sbuf *uncommitted, const struct config *cfg,
		const char *project_dir, struct err *e)
{
	const char *dir = project_dir && *project_dir ? project_dir : ".";
	struct run_cmd top = RUN_CMD_INIT, head = RUN_CMD_INIT, status = RUN_CMD_INIT;
	struct sbuf clone_dir = SBUF_INIT, repo_dir = SBUF_INIT;
	char abs[PATH_MAX];
	const char *tmp = getenv("TMPDIR"), *base, *rel;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	struct err ce = ERR_INIT;
	int ret = -1;

	if (git_capture(&top, dir, (const char *[]){"rev-parse", "--show-toplevel", NULL}) < 0) {
		ret = 1;
		goto out;
	}
	sbuf_trim(&top.outbuf);
	if (git_run(&head, dir, (const char *[]){"rev-parse", "--verify", "HEAD", NULL}, e) < 0) {
		err_prefix(e,
			   "no commit to build from a clean clone (builder.context: . builds the "
			   "tree as it is)");
		goto out;
	}
	sbuf_trim(&head.outbuf);
	if (git_run(&status, dir, (const char *[]){"status", "--porcelain", "--", ".", NULL}, e) <
	    0) {
		goto out;
	}
	if (uncommitted) {
		sbuf_add(uncommitted, status.outbuf.buf, status.outbuf.len);
	}
	if (!realpath(dir, abs)) {
		err_set(e, "cannot resolve '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (!EVP_Digest(abs, strlen(abs), md, &mdlen, EVP_sha256(), NULL) || mdlen < 7) {
		xdie("sha256 failed");
	}
	sbuf_addf(&clone_dir, "%s/berth-clones/%s-", tmp && *tmp == '/' ? tmp : "/tmp",
		  cfg->service);
	for (i = 0; i < 7; i++) {
		sbuf_addf(&clone_dir, "%02x", md[i]);
	}
	clone_dir.buf[clone_dir.len - 1] = '\0'; /* 13 hex digits, as Kamal's [0..12] */
	clone_dir.len--;
	base = strrchr(top.outbuf.buf, '/');
	base = base ? base + 1 : top.outbuf.buf;
	sbuf_addf(&repo_dir, "%s/%s", clone_dir.buf, base);
	rel = abs + strlen(top.outbuf.buf);
	if (strncmp(abs, top.outbuf.buf, top.outbuf.len) || (*rel && *rel != '/')) {
		rel = ""; /* a symlinked path git resolved otherwise: the repository's top */
	}
	if (clone_or_reset(top.outbuf.buf, clone_dir.buf, repo_dir.buf, head.outbuf.buf, &ce) < 0) {
		/* as Kamal: start again from nothing, once */
		struct run_cmd rm = RUN_CMD_INIT;

		log_warn("the clone to build from was not usable (%s): cloning again",
			 err_str(&ce));
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", "--", clone_dir.buf, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
		err_release(&ce);
		if (clone_or_reset(top.outbuf.buf, clone_dir.buf, repo_dir.buf, head.outbuf.buf,
				   e) < 0) {
			err_prefix(e, "cannot make a clean clone to build from");
			goto out;
		}
	}
	sbuf_addf(build_dir, "%s%s", repo_dir.buf, rel);
	ret = 0;
out:
	err_release(&ce);
	run_cmd_release(&top);
	run_cmd_release(&head);
	run_cmd_release(&status);
	sbuf_release(&clone_dir);
	sbuf_release(&repo_dir);
	return ret;
}

/* ---- building ---- */

/* " M Dockerfile\n?? new" indented, for a warning */
static void indent_lines(struct sbuf *out, const struct sbuf *in)
{
	struct slice s = slice_make(in->buf, in->len);

	while (s.len && (s.ptr[s.len - 1] == '\n' || s.ptr[s.len - 1] == ' ')) {
		s.len--;
	}
	size_t i;

	sbuf_addstr(out, "  ");
	for (i = 0; i < s.len; i++) {
		sbuf_addch(out, s.ptr[i]);
		if (s.ptr[i] == '\n') {
			sbuf_addstr(out, "  ");
		}
	}
}

/* Runs c (argv, env, dir set), shown at -v, kept otherwise; e from its tail on failure. */
static int run_build_cmd(struct run_cmd *c, const char *what, const struct secrets *kept,
			 struct err *e)
{
	struct sbuf how = SBUF_INIT;
	int ret = 0;

	if (log_get_level() >= LOG_DEBUG) {
		char *line = strvec_join(&c->argv, " ");

		log_debug("run%s%s: %s", c->dir ? " in " : "", c->dir ? c->dir : "", line);
		free(line);
		c->out = RUN_IO_INHERIT;
		c->err = RUN_IO_INHERIT;
	} else {
		c->out = RUN_IO_CAPTURE;
		c->err = RUN_IO_CAPTURE;
		c->capture_max = 16 * 1024 * 1024;
	}
	if (run_one(c) < 0) {
		struct slice tail;

		secrets_redact(kept, &c->errbuf);
		secrets_redact(kept, &c->outbuf);
		tail = run_tail_lines(c->errbuf.len ? &c->errbuf : &c->outbuf, 20);
		run_describe_status(c, &how);
		if (!c->started) {
			err_set(e, "cannot run docker to %s: %s", what, how.buf);
		} else if (tail.len) {
			err_set(e, "%s %s:\n%.*s", what, how.buf, (int)tail.len, tail.ptr);
		} else {
			err_set(e, "%s %s", what, how.buf);
		}
		ret = -1;
	}
	sbuf_release(&how);
	return ret;
}

int build_image_opts(const struct config *cfg, struct build_opts *o, struct err *e)
{
	const char *dir = o->project_dir && *o->project_dir ? o->project_dir : ".";
	const char *context = cfg->builder.context ? cfg->builder.context : ".";
	struct run_cmd c = RUN_CMD_INIT;
	struct build_plan p;
	struct secrets kept, all;
	struct sbuf tag = SBUF_INIT, build_dir = SBUF_INIT, dirty = SBUF_INIT, what = SBUF_INIT;
	const char *output;
	size_t i;
	int ret = -1, r;

	secrets_init(&kept);
	secrets_init(&all);
	build_plan_init(&p);
	o->pushed = false;
	if (!app_version_ok(o->version)) {
		err_set(e, "'%s' cannot be a version: use letters, digits, '_', '.' and '-'",
			o->version);
		goto out;
	}
	app_image_ref(&tag, cfg, o->version);
	if (o->tag_suffix) {
		sbuf_addstr(&tag, o->tag_suffix);
	}
	if (build_plan_make(&p, cfg, build_local_arch(), e) < 0) {
		goto out;
	}
	if (p.buildx && build_buildx_check(NULL, p.why.buf, e) < 0) {
		goto out;
	}
	if (o->output && strcmp(o->output, "docker") && strcmp(o->output, "registry")) {
		err_set(e, "--output '%s': berth builds to docker (this machine) or registry",
			o->output);
		goto out;
	}
	if (o->output && !strcmp(o->output, "registry") && !registry_configured(cfg)) {
		err_set(e, "--output registry: '%s' names no registry", cfg->file);
		goto out;
	}
	/* where the build runs: a clean clone of HEAD, unless told otherwise */
	if (!o->working_tree && !cfg->builder.context) {
		r = build_clone(&build_dir, &dirty, cfg, dir, e);
		if (r < 0) {
			goto out;
		}
		if (r == 0 && dirty.len) {
			sbuf_addstr(&what,
				    "building from a clean git clone of HEAD, so these "
				    "uncommitted changes are not in the image (builder.context: "
				    ". builds the tree as it is):\n");
			indent_lines(&what, &dirty);
			log_warn("%s", what.buf);
		}
	} else {
		struct run_cmd st = RUN_CMD_INIT;

		if (git_capture(&st, dir,
				(const char *[]){"status", "--porcelain", "--", ".", NULL}) == 0 &&
		    st.outbuf.len) {
			sbuf_addstr(&what, "building with uncommitted changes:\n");
			indent_lines(&what, &st.outbuf);
			log_warn("%s", what.buf);
		}
		run_cmd_release(&st);
	}
	if (!build_dir.len) {
		sbuf_addstr(&build_dir, dir);
	}
	output = p.buildx ? (o->output ? o->output : p.push ? "registry" : "docker") : NULL;
	/* a buildx push needs the registry ready first: logged in, or the local one running */
	if (cfg->builder.secrets.nr || (output && !strcmp(output, "registry"))) {
		if (project_secrets(cfg, dir, &all, e) < 0) {
			goto out;
		}
	}
	if (cfg->builder.secrets.nr) {
		if (build_secrets(cfg, &all, &c.env, &kept, e) < 0) {
			goto out;
		}
		/* build secrets need BuildKit; otherwise docker's own default stands */
		if (!p.buildx) {
			strvec_push(&c.env, "DOCKER_BUILDKIT=1");
		}
	}
	if (output && !strcmp(output, "registry") && registry_login_local(cfg, &all, e) < 0) {
		goto out;
	}
	c.dir = build_dir.buf;
	sbuf_reset(&what);
	if (p.buildx) {
		build_buildx_argv(&c.argv, cfg, &p, tag.buf, output, context);
		if (p.remote) {
			strvec_push(&c.env, "BUILDKIT_NO_CLIENT_TOKEN=1");
		}
		/* a builder that is not there yet is made first, as Kamal's build does */
		{
			struct run_cmd in = RUN_CMD_INIT;

			strvec_pushv(&in.argv, (const char *[]){"docker", "buildx", "inspect",
								p.builder, NULL});
			in.out = RUN_IO_CAPTURE;
			in.err = RUN_IO_CAPTURE;
			if (run_one(&in) < 0) {
				struct strvec steps[BUILD_MAX_STEPS] = {STRVEC_INIT, STRVEC_INIT,
									STRVEC_INIT};
				size_t n = build_create_argvs(&p, steps);

				log_info("creating the builder %s", p.builder ? p.builder : "");
				for (i = 0; i < n && ret == -1; i++) {
					struct run_cmd s = RUN_CMD_INIT;

					strvec_pushv(&s.argv, (const char *const *)steps[i].v);
					if (run_build_cmd(&s, "creating the builder", &kept, e) <
					    0) {
						ret = -2;
					}
					run_cmd_release(&s);
				}
				for (i = 0; i < BUILD_MAX_STEPS; i++) {
					strvec_clear(&steps[i]);
				}
				if (ret == -2) {
					run_cmd_release(&in);
					ret = -1;
					goto out;
				}
			}
			run_cmd_release(&in);
		}
		sbuf_addf(&what, "docker buildx build of '%s'", tag.buf);
		if (run_build_cmd(&c, what.buf, &kept, e) < 0) {
			goto out;
		}
		if (!strcmp(output, "registry")) {
			o->pushed = true;
			registry_note_pushed(tag.buf);
		}
	} else {
		build_argv(&c.argv, cfg, o->version);
		if (o->tag_suffix) {
			free(c.argv.v[3]);
			c.argv.v[3] = xstrdup(tag.buf);
		}
		if (p.remote) {
			/* on the remote docker; the image comes back here */
			strvec_pushf(&c.env, "DOCKER_HOST=%s", p.remote);
			log_info("building %s on %s", tag.buf, p.remote);
		}
		sbuf_addf(&what, "docker build of '%s'%s%s", tag.buf, p.remote ? " on " : "",
			  p.remote ? p.remote : "");
		if (run_build_cmd(&c, what.buf, &kept, e) < 0) {
			goto out;
		}
		if (p.remote) {
			struct run_cmd back = RUN_CMD_INIT;

			strvec_pushv(&back.argv,
				     (const char *[]){"sh", "-c",
						      "DOCKER_HOST=\"$1\" docker save \"$2\" | "
						      "docker load -q >/dev/null",
						      "berth-build", p.remote, tag.buf, NULL});
			sbuf_reset(&what);
			sbuf_addf(&what, "bringing '%s' back from %s", tag.buf, p.remote);
			if (run_build_cmd(&back, what.buf, &kept, e) < 0) {
				run_cmd_release(&back);
				goto out;
			}
			run_cmd_release(&back);
		}
	}
	ret = 0;
out:
	for (i = 0; i < c.env.nr; i++) {
		explicit_bzero(c.env.v[i], strlen(c.env.v[i]));
	}
	run_cmd_release(&c);
	secrets_release(&kept);
	secrets_release(&all);
	build_plan_release(&p);
	sbuf_release(&tag);
	sbuf_release(&build_dir);
	sbuf_release(&dirty);
	sbuf_release(&what);
	return ret;
}

int build_image(const struct config *cfg, const char *version, const char *project_dir,
		struct err *e)
{
	struct build_opts o = {0};

	o.version = version;
	o.project_dir = project_dir;
	return build_image_opts(cfg, &o, e);
}
