/*
 * berth build push|pull|details|deliver|create|remove|dev: the app's image.
 *
 *	berth build push [--version V]    docker build here, then push to the registry
 *	berth build pull [--version V]    docker pull on the hosts (after docker login)
 *	berth build details               how the image is built, and the local docker
 *	berth build deliver IMAGE [-h H]  send an image over ssh, without a registry
 *	berth build create | remove       the buildx builder the config asks for (Kamal 2's)
 *	berth build dev [--output registry] [--deliver]
 *	                                  the working tree as it is, tagged VERSION-dirty
 *
 * How the image is built — plain docker build, docker buildx on a builder of
 * berth's, a remote builder, the clean git clone — is engine/build.h's.
 *
 * The version is git's (engine/build.h) unless --version says otherwise.
 *
 * build deliver: put a local image on servers.
 *
 *	berth build deliver myapp:v2 -h web-1,web-2
 *
 * In a project the hosts are the config's (narrowed with -r, -h, -p).
 *
 * Kamal's `build deliver` pushes to a registry and pulls on the hosts; this
 * one needs no registry: the image goes over SSH and each host gets only the
 * layers it does not have yet (engine/transfer.h). One progress line per host
 * per layer, then a summary of the bytes sent against the image's size.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/app.h"
#include "engine/build.h"
#include "engine/exec.h"
#include "engine/registry.h"
#include "engine/transfer.h"
#include "lib/banned.h"
#include "lib/log.h"

static const char usage[] =
    "berth build push|pull|details|create|remove [--version V] [--no-cache] [-d DEST] [-c FILE]\n"
    "       berth build dev [--output docker|registry] [--deliver] [--version V] [--no-cache]\n"
    "       berth build deliver IMAGE -h HOSTS [--parallel N] [--cache-dir DIR]\n"
    "\n"
    "    push         build the image (a clean git clone of HEAD unless builder.context says),\n"
    "                 then push it to the registry; without one it stays here\n"
    "    pull         docker pull of the image on the hosts (a local registry: over ssh)\n"
    "    deliver      send a local image to the hosts over ssh, only the layers they lack\n"
    "    details      how the image is built: the builder, the build line, the local docker\n"
    "    create       the docker buildx builder the config needs (several arches, a cache, a\n"
    "                 driver, a remote for some arches); nothing for a plain docker build\n"
    "    remove       that builder (and its docker context for a remote)\n"
    "    dev          the working tree as it is, uncommitted files too, tagged VERSION-dirty:\n"
    "                 kept here, pushed (--output registry), or put on the hosts (--deliver)";

static void print_progress(const char *line, void *data)
{
	(void)data;
	if (!cli_g.quiet) {
		printf("%s\n", line);
		fflush(stdout);
	}
}

static int build_deliver(int argc, const char **argv)
{
	static unsigned parallel;
	static const char *cache_dir;
	const struct opt own[] = {
	    OPT_UINT(0, "parallel", &parallel, "N", "transfers at once (default 8)"),
	    OPT_STRING(0, "cache-dir", &cache_dir, "DIR",
		       "layer cache on the hosts (default: next to Docker's data root)"),
	    OPT_END(),
	};
	struct transfer_opts o = {0};
	struct transfer_result r = {0};
	struct sbuf sent = SBUF_INIT, size = SBUF_INIT;
	struct err e = ERR_INIT;
	struct exec ex;
	struct config cfg;
	struct strvec hosts = STRVEC_INIT;
	size_t i;
	int nops, ret = 2;

	exec_init(&ex, EXEC_SSH);
	config_init(&cfg);
	nops =
	    cli_parse(argc, argv, (const struct opt *const[]){own, cli_exec_opts, NULL}, 0, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops != 1) {
		log_error("expected one image\nusage: %s", usage);
		goto out;
	}
	/* the config's hosts in a project, else -h */
	if (cli_hosts_setup(&ex, &cfg, &hosts) < 0) {
		ret = 1;
		goto out;
	}
	o.image = argv[0];
	o.cache_dir = cache_dir;
	o.max_parallel = parallel;
	o.progress = print_progress;
	ret = transfer_image(&ex, (const char *const *)hosts.v, hosts.nr, &o, &r, &e) < 0 ? 1 : 0;
	for (i = 0; i < r.nhosts; i++) {
		if (r.hosts[i].failed) {
			log_error("%s", err_str(&r.hosts[i].err));
		}
	}
	if (r.nhosts) {
		transfer_human_size(&sent, r.bytes_sent);
		transfer_human_size(&size, r.image_size);
		if (!cli_g.quiet) {
			printf("delivered %s to %zu of %zu hosts: sent %s (%" PRIu64
			       " bytes) for an image of %s (%" PRIu64 " bytes, %zu layers)\n",
			       o.image, r.nhosts - r.nfailed, r.nhosts, sent.buf, r.bytes_sent,
			       size.buf, r.image_size, r.nlayers);
		}
	}
	if (ret) {
		log_error("%s", err_str(&e));
	}
out:
	transfer_result_release(&r);
	sbuf_release(&sent);
	sbuf_release(&size);
	err_release(&e);
	strvec_clear(&hosts);
	config_release(&cfg);
	exec_release(&ex);
	return ret;
}

static const char *opt_output;
static bool opt_deliver;

struct build_ctx {
	struct config cfg;
	struct secrets sec;
	struct exec ex;
	struct sbuf version, ref;
};

/* Loads the config (with secrets when a registry needs them) and finds the version. */
static int build_setup(struct build_ctx *b, int argc, const char **argv, bool need_version,
		       int *ret)
{
	static bool no_cache;
	const char *version;
	const struct opt own[] = {
	    OPT_BOOL(0, "no-cache", &no_cache, "push, dev: build without docker's build cache"),
	    OPT_STRING(0, "output", &opt_output, "docker|registry",
		       "dev: keep the image here (docker, the default) or push it (registry)"),
	    OPT_BOOL(0, "deliver", &opt_deliver,
		     "dev: put the image on the hosts (through the registry, or over ssh)"),
	    OPT_END(),
	};
	struct config_opts co = {0};
	struct err e = ERR_INIT;
	int n, r = -1;

	config_init(&b->cfg);
	secrets_init(&b->sec);
	exec_init(&b->ex, EXEC_SSH);
	sbuf_init(&b->version, 0);
	sbuf_init(&b->ref, 0);
	*ret = 2;
	n = cli_parse(argc, argv, (const struct opt *const[]){own, NULL}, 0, usage);
	if (n < 0) {
		*ret = n == -2 ? 0 : 2;
		goto out;
	}
	if (n) {
		log_error("unexpected argument '%s'\nusage: %s", argv[0], usage);
		goto out;
	}
	*ret = 1;
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	co.load_secrets = true;
	if (config_load(&b->cfg, &co, &b->sec, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&b->cfg, &b->ex);
	if (cli_config_loaded(&b->cfg, &b->ex) < 0) {
		goto out;
	}
	b->cfg.builder.no_cache = no_cache;
	version = cli_g.version;
	if (version) {
		if (!app_version_ok(version)) {
			log_error("'%s' cannot be a version: use letters, digits, '_', '.' and '-'",
				  version);
			goto out;
		}
		sbuf_addstr(&b->version, version);
	} else if (build_version(&b->version, NULL, &e) < 0) {
		if (need_version) {
			log_error("%s", err_str(&e));
			goto out;
		}
		sbuf_reset(&b->version); /* details: shown as VERSION */
	}
	app_image_ref(&b->ref, &b->cfg, b->version.len ? b->version.buf : "VERSION");
	r = 0;
out:
	err_release(&e);
	return r;
}

static void build_teardown(struct build_ctx *b)
{
	sbuf_release(&b->version);
	sbuf_release(&b->ref);
	exec_release(&b->ex);
	secrets_release(&b->sec);
	config_release(&b->cfg);
}

static int build_push(int argc, const char **argv)
{
	struct build_ctx b;
	struct err e = ERR_INIT;
	int ret;

	if (build_setup(&b, argc, argv, true, &ret) < 0) {
		goto out;
	}
	ret = 1;
	log_info("building %s", b.ref.buf);
	if (build_image(&b.cfg, b.version.buf, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (!registry_configured(&b.cfg)) {
		log_info("no registry in '%s': the image stays here ('berth build deliver %s -h "
			 "HOSTS' sends it over ssh)",
			 b.cfg.file, b.ref.buf);
	} else {
		log_info("pushing %s", b.ref.buf);
		if (registry_login_local(&b.cfg, &b.sec, &e) < 0 ||
		    registry_push_local(b.ref.buf, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
	}
	printf("%s\n", b.ref.buf);
	ret = 0;
out:
	err_release(&e);
	build_teardown(&b);
	return ret;
}

static int build_pull(int argc, const char **argv)
{
	struct build_ctx b;
	struct strvec hosts = STRVEC_INIT;
	struct err e = ERR_INIT;
	int ret;

	if (build_setup(&b, argc, argv, true, &ret) < 0) {
		goto out;
	}
	ret = 1;
	if (!registry_configured(&b.cfg)) {
		log_error("'%s' names no registry to pull from: 'berth build deliver' sends an "
			  "image over ssh",
			  b.cfg.file);
		goto out;
	}
	if (!config_role_hosts(&b.cfg, &cli_g.roles, &cli_g.hosts, &hosts)) {
		log_error("no hosts of '%s' match -r/-h", b.cfg.file);
		goto out;
	}
	if (registry_login(&b.ex, (const char *const *)hosts.v, hosts.nr, &b.cfg, &b.sec, &e) < 0 ||
	    registry_pull(&b.ex, (const char *const *)hosts.v, hosts.nr, b.ref.buf, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	log_info("pulled %s on %zu host%s", b.ref.buf, hosts.nr, hosts.nr == 1 ? "" : "s");
	ret = 0;
out:
	strvec_clear(&hosts);
	err_release(&e);
	build_teardown(&b);
	return ret;
}

/* The plan of b's config on this machine; -1 after printing why not. */
static int plan(struct build_ctx *b, struct build_plan *p)
{
	struct err e = ERR_INIT;
	int r = build_plan_make(p, &b->cfg, build_local_arch(), &e);

	if (r < 0) {
		log_error("%s", err_str(&e));
	}
	err_release(&e);
	return r;
}

/* "docker build here", "docker buildx on berth-local-docker-container (...)", ... */
static void describe_builder(struct sbuf *out, const struct build_plan *p)
{
	if (!p->buildx) {
		sbuf_addf(out, "docker build %s%s%s", p->remote ? "on " : "here",
			  p->remote ? p->remote : "",
			  p->remote ? " (DOCKER_HOST; the image comes back here)" : "");
		return;
	}
	sbuf_addf(out, "docker buildx, builder %s (driver %s", p->builder, p->driver);
	if (p->hybrid) {
		sbuf_addf(out, ", %s here, %s on %s", p->local_platforms.buf,
			  p->remote_platforms.buf, p->remote);
	} else if (p->remote) {
		sbuf_addf(out, ", on %s", p->remote);
	}
	sbuf_addf(out, "): %s", p->why.buf);
}

static int build_details(int argc, const char **argv)
{
	struct build_ctx b;
	struct build_plan p;
	struct strvec av = STRVEC_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf how = SBUF_INIT;
	char *line = NULL;
	int ret;

	build_plan_init(&p);
	if (build_setup(&b, argc, argv, false, &ret) < 0) {
		goto out;
	}
	if (plan(&b, &p) < 0) {
		ret = 1;
		goto out;
	}
	describe_builder(&how, &p);
	if (p.buildx) {
		build_buildx_argv(&av, &b.cfg, &p, b.ref.buf, p.push ? "registry" : "docker",
				  b.cfg.builder.context ? b.cfg.builder.context : ".");
	} else {
		build_argv(&av, &b.cfg, b.version.len ? b.version.buf : "VERSION");
	}
	line = strvec_join(&av, " ");
	printf("image:    %s\nregistry: %s\nbuilder:  %s\ncontext:  %s\nbuild:    %s\n", b.ref.buf,
	       registry_local(&b.cfg) ? "local (" REGISTRY_LOCAL_CONTAINER " here)"
	       : registry_configured(&b.cfg)
		   ? (b.cfg.registry.server ? b.cfg.registry.server : "docker hub")
		   : "none (images go over ssh)",
	       how.buf,
	       b.cfg.builder.context ? b.cfg.builder.context
				     : "a clean git clone of HEAD (the tree as it is outside git)",
	       line);
	fflush(stdout);
	strvec_pushv(&c.argv,
		     (const char *[]){"docker", "version", "--format",
				      "docker:   client {{.Client.Version}}, server "
				      "{{.Server.Version}} ({{.Server.Os}}/{{.Server.Arch}})",
				      NULL});
	ret = run_one(&c) < 0 ? 1 : 0;
	if (p.buildx) {
		struct err e = ERR_INIT;
		struct sbuf v = SBUF_INIT;

		if (build_buildx_check(&v, p.why.buf, &e) < 0) {
			printf("buildx:   missing (%s)\n", err_str(&e));
		} else {
			printf("buildx:   %s\n", v.buf);
		}
		sbuf_release(&v);
		err_release(&e);
	}
out:
	free(line);
	strvec_clear(&av);
	run_cmd_release(&c);
	sbuf_release(&how);
	build_plan_release(&p);
	build_teardown(&b);
	return ret;
}

/* Runs argv here, output kept; true when it exited 0. */
static bool quiet_ok(const char *const *argv, const char *docker_host, struct sbuf *out)
{
	struct run_cmd c = RUN_CMD_INIT;
	bool ok;

	strvec_pushv(&c.argv, argv);
	if (docker_host) {
		strvec_pushf(&c.env, "DOCKER_HOST=%s", docker_host);
	}
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	c.timeout_ms = 60000;
	if (log_get_level() >= LOG_DEBUG) {
		char *line = strvec_join(&c.argv, " ");

		log_debug("run: %s", line);
		free(line);
	}
	ok = run_one(&c) == 0;
	if (out) {
		sbuf_addstr(out, ok ? c.outbuf.buf : c.errbuf.len ? c.errbuf.buf : c.outbuf.buf);
		sbuf_trim(out);
	}
	run_cmd_release(&c);
	return ok;
}

/* build create | remove: the builder of the plan. */
static int build_builder(int argc, const char **argv, bool create)
{
	struct build_ctx b;
	struct build_plan p;
	struct strvec steps[BUILD_MAX_STEPS] = {STRVEC_INIT, STRVEC_INIT, STRVEC_INIT};
	struct sbuf said = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t n = 0, i;
	int ret;

	build_plan_init(&p);
	if (build_setup(&b, argc, argv, false, &ret) < 0) {
		goto out;
	}
	ret = 1;
	if (plan(&b, &p) < 0) {
		goto out;
	}
	if (!p.buildx) {
		if (!create) {
			log_info("nothing to remove: berth builds with plain docker build%s%s",
				 p.remote ? " on " : "", p.remote ? p.remote : "");
		} else if (!p.remote) {
			log_info(
			    "nothing to create: berth builds with plain docker build here (no "
			    "builder.arch of several platforms, cache or driver asks for buildx)");
		} else if (!quiet_ok((const char *[]){"docker", "version", "--format",
						      "{{.Server.Version}}", NULL},
				     p.remote, &said)) {
			log_error("the remote builder %s does not answer as docker: %s", p.remote,
				  said.buf);
			goto out;
		} else {
			log_info("nothing to create: berth builds with plain docker build on %s "
				 "(docker %s answers there)",
				 p.remote, said.buf);
		}
		ret = 0;
		goto out;
	}
	if (build_buildx_check(NULL, p.why.buf, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	log_debug("using builder: %s", p.builder);
	if (quiet_ok((const char *[]){"docker", "buildx", "inspect", p.builder, NULL}, NULL,
		     NULL)) {
		if (create) {
			log_info("the builder %s is there already", p.builder);
			ret = 0;
			goto out;
		}
	} else if (!create) {
		if (p.context &&
		    quiet_ok((const char *[]){"docker", "context", "inspect", p.context, NULL},
			     NULL, NULL)) {
			n = build_remove_argvs(&p, steps);
			if (n == 2 && !quiet_ok((const char *const *)steps[1].v, NULL, &said)) {
				log_error("cannot remove the docker context %s: %s", p.context,
					  said.buf);
				goto out;
			}
		}
		log_info("no builder %s here", p.builder);
		ret = 0;
		goto out;
	}
	n = create ? build_create_argvs(&p, steps) : build_remove_argvs(&p, steps);
	for (i = 0; i < n; i++) {
		sbuf_reset(&said);
		if (!quiet_ok((const char *const *)steps[i].v, NULL, &said)) {
			char *line = strvec_join(&steps[i], " ");

			log_error("%s failed: %s", line, said.buf);
			free(line);
			goto out;
		}
	}
	log_info("%s the builder %s%s%s", create ? "created" : "removed", p.builder,
		 p.context ? " and the docker context " : "", p.context ? p.context : "");
	ret = 0;
out:
	for (i = 0; i < BUILD_MAX_STEPS; i++) {
		strvec_clear(&steps[i]);
	}
	sbuf_release(&said);
	err_release(&e);
	build_plan_release(&p);
	build_teardown(&b);
	return ret;
}

/* build dev: the working tree, tagged VERSION-dirty; kept, pushed or delivered. */
static int build_dev(int argc, const char **argv)
{
	struct build_ctx b;
	struct build_opts o = {0};
	struct strvec hosts = STRVEC_INIT;
	struct sbuf tag = SBUF_INIT;
	struct err e = ERR_INIT;
	int ret;

	if (build_setup(&b, argc, argv, true, &ret) < 0) {
		goto out;
	}
	ret = 1;
	if (opt_output && strcmp(opt_output, "docker") && strcmp(opt_output, "registry")) {
		log_error("--output '%s': expected docker (kept here) or registry (pushed)",
			  opt_output);
		goto out;
	}
	if (opt_deliver && !config_role_hosts(&b.cfg, &cli_g.roles, &cli_g.hosts, &hosts)) {
		log_error("no hosts of '%s' match -r/-h", b.cfg.file);
		goto out;
	}
	o.version = b.version.buf;
	o.tag_suffix = "-dirty";
	o.working_tree = true;
	/* delivering through a registry pushes first */
	o.output = opt_output					? opt_output
		   : opt_deliver && registry_configured(&b.cfg) ? "registry"
								: "docker";
	sbuf_addf(&tag, "%s-dirty", b.ref.buf);
	log_info("building %s from the working tree", tag.buf);
	if (build_image_opts(&b.cfg, &o, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (!strcmp(o.output, "registry") && !o.pushed) {
		if (registry_login_local(&b.cfg, &b.sec, &e) < 0 ||
		    registry_push_local(tag.buf, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		log_info("pushed %s", tag.buf);
	}
	if (opt_deliver) {
		const char *const *hv = (const char *const *)hosts.v;

		if (registry_configured(&b.cfg)) {
			if (registry_login(&b.ex, hv, hosts.nr, &b.cfg, &b.sec, &e) < 0 ||
			    registry_pull(&b.ex, hv, hosts.nr, tag.buf, &e) < 0) {
				log_error("%s", err_str(&e));
				goto out;
			}
			log_info("pulled %s on %zu host%s", tag.buf, hosts.nr,
				 hosts.nr == 1 ? "" : "s");
		} else {
			struct transfer_opts to = {0};
			struct transfer_result tr = {0};
			size_t i;

			to.image = tag.buf;
			if (transfer_image(&b.ex, hv, hosts.nr, &to, &tr, &e) < 0) {
				for (i = 0; i < tr.nhosts; i++) {
					if (tr.hosts[i].failed) {
						log_error("%s", err_str(&tr.hosts[i].err));
					}
				}
				log_error("%s", err_str(&e));
				transfer_result_release(&tr);
				goto out;
			}
			log_info("sent %s to %zu host%s over ssh", tag.buf, hosts.nr,
				 hosts.nr == 1 ? "" : "s");
			transfer_result_release(&tr);
		}
	}
	printf("%s\n", tag.buf);
	ret = 0;
out:
	strvec_clear(&hosts);
	sbuf_release(&tag);
	err_release(&e);
	build_teardown(&b);
	return ret;
}

int cmd_build(int argc, const char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "deliver")) {
		return build_deliver(argc - 1, argv + 1);
	}
	if (argc >= 1 && !strcmp(argv[0], "push")) {
		return build_push(argc - 1, argv + 1);
	}
	if (argc >= 1 && !strcmp(argv[0], "pull")) {
		return build_pull(argc - 1, argv + 1);
	}
	if (argc >= 1 && !strcmp(argv[0], "details")) {
		return build_details(argc - 1, argv + 1);
	}
	if (argc >= 1 && (!strcmp(argv[0], "create") || !strcmp(argv[0], "remove"))) {
		return build_builder(argc - 1, argv + 1, !strcmp(argv[0], "create"));
	}
	if (argc >= 1 && !strcmp(argv[0], "dev")) {
		return build_dev(argc - 1, argv + 1);
	}
	if (argc >= 1 && !strcmp(argv[0], "--help")) {
		printf("usage: %s\n", usage);
		return 0;
	}
	log_error("usage: %s", usage);
	return 2;
}
