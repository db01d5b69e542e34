/*
 * doctor — `berth doctor`'s checks of this host, from berthd (Beyond Dokku):
 * docker, disk free on / and under Docker's data root, memory headroom, load,
 * clock, ports 80 and 443, log rotation. Admin keys only: it shows host facts.
 *
 * berthd runs in a container, where /, /proc/meminfo's neighbours, the
 * listening sockets and /etc/docker would be the container's. So the probe
 * of engine/doctor (the very script `berth doctor` sends over ssh, judged by
 * the very code) runs through the local executor wrapped in a short-lived
 * helper container on the host's dockerd (bd_doctor_wrap): berthd's own
 * image (the host has it: berthd runs from it), --pid host and --network
 * host (the host's processes and sockets), SYS_PTRACE and DAC_READ_SEARCH
 * (so that ss may read other processes' descriptors and name what holds a
 * port, as root's ssh session does), the host's / mounted read-only on /host, and
 * `chroot /host /usr/bin/env` in front of the probe: the host's own sh, df,
 * ss and docker CLI read the host's own files, and nothing on the host can
 * be written. (env, a path: the image's busybox chroot would run its own
 * applets for a bare "sh" or "date".)
 * The helper is named berthd-doctor-PID, which engine/doctor counts as
 * berth's own (not an app), and it logs nothing (--log-driver none).
 *
 * Output: `berth doctor`'s table for one host (doctor_print), or with
 * --format json (the global flag, or the command's own) `berth doctor
 * --json`'s document. Exit 1 when a check fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/berthd.h"
#include "engine/daemonhost.h"
#include "engine/doctor.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/sbuf.h"

static const char usage[] = "doctor [--format json] [--min-free-disk PCT]";

void bd_doctor_wrap(struct strvec *wrap, const char *image, const char *name)
{
	strvec_pushv(wrap,
		     (const char *[]){"docker",
				      "run",
				      "--rm",
				      "-i",
				      "--pull",
				      "never",
				      "--name",
				      name,
				      "--label",
				      "berth.daemon.doctor=1",
				      "--log-driver",
				      "none",
				      "--cap-add",
				      "SYS_PTRACE",
				      "--cap-add",
				      "DAC_READ_SEARCH",
				      "--pid",
				      "host",
				      "--network",
				      "host",
				      "-v",
				      "/:/host:ro",
				      "-e",
				      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/"
				      "sbin:/bin",
				      "-e",
				      "LC_ALL=C",
				      image,
				      "chroot",
				      "/host",
				      "/usr/bin/env",
				      NULL});
}

int bd_docker_out(const char *const *argv, struct sbuf *out, size_t max)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, argv);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_NULL;
	c.timeout_ms = 30000;
	c.capture_max = max;
	r = run_one(&c);
	if (r == 0 && out) {
		sbuf_add(out, c.outbuf.buf, c.outbuf.len);
		sbuf_trim(out);
	}
	run_cmd_release(&c);
	return r;
}

void bd_helper_image(struct sbuf *image)
{
	char self[256];

	if (gethostname(self, sizeof(self)) == 0) {
		self[sizeof(self) - 1] = '\0';
		if (self[0] != '-' &&
		    bd_docker_out((const char *[]){"docker", "inspect", "--type", "container",
						   "--format", "{{.Image}}", self, NULL},
				  image, 4096) == 0 &&
		    !strncmp(image->buf, "sha256:", 7) && !strchr(image->buf, '\n')) {
			return;
		}
	}
	sbuf_reset(image);
	sbuf_addstr(image, daemonhost_image());
}

/* The host's name as its dockerd says it (printable bytes only), else "localhost". */
static void host_name(struct sbuf *name)
{
	struct sbuf raw = SBUF_INIT;

	if (bd_docker_out((const char *[]){"docker", "info", "--format", "{{.Name}}", NULL}, &raw,
			  4096) == 0) {
		for (size_t i = 0; i < raw.len && i < 253; i++) {
			char c = raw.buf[i];
			sbuf_addch(name, c > 0x20 && c < 0x7f ? c : '?');
		}
	}
	if (!name->len) {
		sbuf_addstr(name, "localhost");
	}
	sbuf_release(&raw);
}

int bd_doctor_probe(unsigned min_free_pct, struct doctor_report *report)
{
	struct sbuf image = SBUF_INIT, host = SBUF_INIT, name = SBUF_INIT;
	struct doctor_opts o = {0};
	enum doctor_status worst;
	struct exec ex;
	const char *hosts[1];

	bd_helper_image(&image);
	host_name(&host);
	sbuf_addf(&name, "%s%ld", DAEMONHOST_DOCTOR_PREFIX, (long)getpid());
	exec_init(&ex, EXEC_LOCAL);
	bd_doctor_wrap(&ex.local_wrap, image.buf, name.buf);
	o.min_free_disk_pct = min_free_pct;
	hosts[0] = host.buf;
	worst = doctor_run(&ex, hosts, 1, &o, report);
	exec_release(&ex);
	sbuf_release(&image);
	sbuf_release(&host);
	sbuf_release(&name);
	return (int)worst;
}

int cmd_doctor(struct bd *bd, int argc, const char **argv)
{
	unsigned min_free = 0;
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json, or text (the default)"),
	    OPT_UINT(0, "min-free-disk", &min_free, "PCT",
		     "fail when less than PCT% of a disk is free (default 10)"),
	    OPT_END(),
	};
	struct doctor_report report;
	enum doctor_status worst;
	int n = bd_opts(argc - 1, argv + 1, opts, usage);

	if (n < 0) {
		return 1;
	}
	if (n > 0 || min_free > 100 ||
	    (format && strcmp(format, "json") && strcmp(format, "text"))) {
		return bd_usage(usage);
	}
	if (format) {
		bd->json = !strcmp(format, "json");
	}
	worst = (enum doctor_status)bd_doctor_probe(min_free, &report);
	if (bd->json) {
		json_t *arr = json_array(), *doc;
		json_array_append_new(arr, doctor_report_json(&report));
		doc = json_pack("{s:s, s:o}", "status", doctor_status_name(worst), "hosts", arr);
		json_dumpf(doc, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(doc);
	} else {
		doctor_print(stdout, &report, 1);
	}
	fflush(stdout);
	doctor_report_release(&report);
	return worst == DOCTOR_FAIL ? 1 : 0;
}
