/*
 * berth build deliver: put a local image on servers.
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
#include "engine/exec.h"
#include "engine/transfer.h"
#include "lib/banned.h"
#include "lib/log.h"

static const char usage[] = "berth build deliver IMAGE -h HOSTS [--parallel N] [--cache-dir DIR]";

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

int cmd_build(int argc, const char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "deliver")) {
		return build_deliver(argc - 1, argv + 1);
	}
	log_error("usage: %s", usage);
	return 2;
}
