/*
 * berth build push|pull|details|deliver: the app's image.
 *
 *	berth build push [--version V]    docker build here, then push to the registry
 *	berth build pull [--version V]    docker pull on the hosts (after docker login)
 *	berth build details               how the image is built, and the local docker
 *	berth build deliver IMAGE -h H    send an image over ssh, without a registry
 *
 * The version is git's (engine/build.h) unless --version says otherwise.
 *
 * build deliver: put a local image on servers.
 *
 *	berth build deliver myapp:v2 -h web-1,web-2
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
    "berth build push|pull|details [--version V] [-d DEST] [-c FILE]\n"
    "       berth build deliver IMAGE -h HOSTS [--parallel N] [--cache-dir DIR]";

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
	size_t i;
	int nops, ret = 2;

	exec_init(&ex, EXEC_SSH);
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
	exec_release(&ex);
	if (cli_exec_setup(&ex) < 0) {
		goto out;
	}
	if (!cli_g.hosts.nr && ex.kind != EXEC_LOCAL) {
		log_error("no hosts given: use -h HOSTS\nusage: %s", usage);
		goto out;
	}
	if (ex.kind == EXEC_LOCAL && !cli_g.hosts.nr) {
		strvec_push(&cli_g.hosts, "localhost");
	}
	o.image = argv[0];
	o.cache_dir = cache_dir;
	o.max_parallel = parallel;
	o.progress = print_progress;
	ret =
	    transfer_image(&ex, (const char *const *)cli_g.hosts.v, cli_g.hosts.nr, &o, &r, &e) < 0
		? 1
		: 0;
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
	exec_release(&ex);
	return ret;
}

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
	static const char *version;
	const struct opt own[] = {
	    OPT_STRING(0, "version", &version, "VERSION",
		       "the image's version (default: git's HEAD, with a suffix when dirty)"),
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

static int build_details(int argc, const char **argv)
{
	struct build_ctx b;
	struct strvec av = STRVEC_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	char *line = NULL;
	int ret;

	if (build_setup(&b, argc, argv, false, &ret) < 0) {
		goto out;
	}
	build_argv(&av, &b.cfg, b.version.len ? b.version.buf : "VERSION");
	line = strvec_join(&av, " ");
	printf("image:    %s\nregistry: %s\nbuild:    %s\n", b.ref.buf,
	       registry_configured(&b.cfg)
		   ? (b.cfg.registry.server ? b.cfg.registry.server : "docker hub")
		   : "none (images go over ssh)",
	       line);
	fflush(stdout);
	strvec_pushv(&c.argv,
		     (const char *[]){"docker", "version", "--format",
				      "docker:   client {{.Client.Version}}, server "
				      "{{.Server.Version}} ({{.Server.Os}}/{{.Server.Arch}})",
				      NULL});
	ret = run_one(&c) < 0 ? 1 : 0;
out:
	free(line);
	strvec_clear(&av);
	run_cmd_release(&c);
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
	log_error("usage: %s", usage);
	return 2;
}
