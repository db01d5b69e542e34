/*
 * doctor — what a careful operator checks on a server before a release,
 * read and judged rather than dumped.
 *
 * One probe per host: a fixed script (no user data in it) sent on stdin to
 * the host's `sh -s`, which prints sections ("@@berth NAME") of what Docker,
 * /proc, df and ss report. doctor_parse() reads that output — untrusted
 * bytes, so it is fuzzed — into facts; doctor_evaluate() turns the facts into
 * checks, each ok, warn or fail, with a sentence a person can act on.
 */
#ifndef DOCTOR_H
#define DOCTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "engine/exec.h"
#include "lib/sbuf.h"
#include "lib/slice.h"

enum doctor_status {
	DOCTOR_OK = 0,
	DOCTOR_WARN = 1,
	DOCTOR_FAIL = 2,
};

struct doctor_container {
	char *name;
	char *image;
	char *state;  /* running, exited, restarting, ... */
	char *status; /* "Up 3 minutes (healthy)" */
	char *ports;  /* "0.0.0.0:80->80/tcp, :::80->80/tcp" */
	uint64_t mem; /* bytes in use, from docker stats; 0 unknown */
	char *log_driver;
	char *log_max_size;
};

struct doctor_mount {
	char *path; /* the path asked about: "/" or Docker's data root */
	char *mounted_on;
	char *filesystem;
	uint64_t size, avail; /* bytes */
};

struct doctor_listener {
	unsigned port;
	char *addr;
	char *process; /* NULL when unknown */
	long pid;      /* 0 when unknown */
};

struct doctor_df_row {
	char *type; /* Images, Containers, Local Volumes, Build Cache */
	char *size;
	char *reclaimable;
};

/* What the probe saw; everything may be missing (zero / NULL). */
struct doctor_facts {
	double remote_time; /* seconds since the epoch; 0 unknown */
	double uptime;
	double load[3];
	bool have_load;
	unsigned ncpu;
	uint64_t mem_total, mem_available; /* bytes */

	int docker_rc;	    /* exit status of `docker info`; -1 unknown */
	char *docker_error; /* why Docker did not answer */
	char *docker_version;
	char *docker_root;
	char *logging_driver;
	char *storage_driver;
	unsigned containers_total, containers_running;

	struct doctor_container *ctrs;
	size_t nr_ctrs, alloc_ctrs;
	struct doctor_mount mounts[2];
	size_t nr_mounts;
	struct doctor_listener *listeners;
	size_t nr_listeners, alloc_listeners;
	bool listeners_unnamed; /* no ss on the host: processes cannot be named */
	struct doctor_df_row df[8];
	size_t nr_df;
	char *daemon_log_driver;
	char *daemon_max_size;
	bool probe_complete; /* the script ran to its end */
};

struct doctor_check {
	const char *name;
	enum doctor_status status;
	struct sbuf detail;
};

#define DOCTOR_MAX_CHECKS 40 /* the host's own, and one per accessory backed up there */

struct doctor_report {
	char *host;
	struct doctor_check checks[DOCTOR_MAX_CHECKS];
	size_t nr_checks;
	enum doctor_status worst;
	double skew;	   /* remote clock minus local, seconds */
	double skew_error; /* half the round trip: how sure the skew is */
	bool have_skew;
	unsigned long connect_ms;
};

struct doctor_opts {
	unsigned min_free_disk_pct; /* fail below this share free; 0: 10 */
	double max_skew;	    /* warn above this many seconds; 0: 1 */
	size_t max_parallel;	    /* hosts probed at once; 0: 16 */
};

void doctor_facts_init(struct doctor_facts *f);
void doctor_facts_release(struct doctor_facts *f);
/* Reads the probe's output. Never fails: what cannot be read stays unknown. */
void doctor_parse(struct slice out, struct doctor_facts *f);

void doctor_report_init(struct doctor_report *r, const char *host);
void doctor_report_release(struct doctor_report *r);
/* Adds a check; returns its detail buffer to write into. */
struct sbuf *doctor_add(struct doctor_report *r, const char *name, enum doctor_status st);
/* Judges the facts into r's checks. */
void doctor_evaluate(const struct doctor_facts *f, const struct doctor_opts *o,
		     struct doctor_report *r);

/*
 * Probes every host (at most o->max_parallel at once) and fills reports[i]
 * for hosts[i]; a host that cannot be reached gets one failed "ssh" check
 * saying why. Returns the worst status over all hosts.
 */
enum doctor_status doctor_run(struct exec *ex, const char *const *hosts, size_t nhosts,
			      const struct doctor_opts *o, struct doctor_report *reports);

/*
 * The reports as `berth doctor` prints them: per host "HOST  ready" (or
 * "ready, with warnings", "NOT READY"), then a line per check; colours when
 * out is a terminal.
 */
void doctor_print(FILE *out, const struct doctor_report *reports, size_t n);

/* {"host":..., "status":..., "checks":[{"name","status","detail"}...]} */
json_t *doctor_report_json(const struct doctor_report *r);
const char *doctor_status_name(enum doctor_status st);

/* "1.5 GiB"-style sizes, and parsing of Docker's "12.5MiB" / "1.2GB" */
void doctor_add_size(struct sbuf *sb, uint64_t bytes);
bool doctor_parse_size(struct slice s, uint64_t *bytes);

#endif
