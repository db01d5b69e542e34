/*
 * preflight — a deploy's capacity check: whether each host has the memory
 * to run the new containers beside the old ones, and room on Docker's data
 * root, before anything starts there. A rollout that would not fit is
 * refused with what it needs and what the host has, instead of letting the
 * kernel kill something half-way (`deploy --force` goes on all the same).
 *
 * What a host has is read without starting anything on it: Docker's data
 * root and the app's running containers from Docker (the docker CLI through
 * exec_prepare_docker), /proc/meminfo, the containers' memory cgroups and
 * the data root's free space (statvfs) through the deploy's SFTP session.
 *
 * What the new containers need, per role booted on the host: the role's
 * memory limit (`options: memory: 1g`) when it has one, else what its
 * running container uses now (as `docker stats` counts it: the cgroup's
 * usage less its inactive file pages), else nothing known. The host keeps
 * free max(64 MiB, 5% of its memory) and max(512 MiB, 2% of the disk) on
 * top. Facts that cannot be read leave the check silent, not failed.
 *
 * The parsers take untrusted bytes (a host's files) and are fuzzed.
 */
#ifndef PREFLIGHT_H
#define PREFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/config.h"
#include "engine/exec.h"
#include "engine/sftp.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/slice.h"

struct preflight_host {
	const char *host;
	uint64_t mem_total, mem_available; /* bytes; 0 unknown */
	uint64_t disk_size, disk_avail;	   /* Docker's data root; 0 unknown */
	char *disk_path;
	uint64_t need_mem;    /* what the new containers will take */
	struct sbuf need_why; /* "web: its memory limit, 1.0 GiB; ..." */
	bool read;	      /* the facts could be asked for at all */
};

void preflight_host_init(struct preflight_host *h, const char *host);
void preflight_host_release(struct preflight_host *h);

/* MemTotal and MemAvailable of /proc/meminfo's text, in bytes (left alone when missing). */
void preflight_parse_meminfo(struct slice text, uint64_t *total, uint64_t *avail);

/* A docker --memory value ("512m", "1g", "1.5G", "1048576", "100k") in bytes; -1 if not one. */
int preflight_parse_mem(const char *s, uint64_t *out);

/*
 * From /proc/PID/cgroup's text, the directory of the process's memory
 * cgroup: "/sys/fs/cgroup/memory/PATH" (v1) or "/sys/fs/cgroup/PATH"
 * (v2, *v2 set). -1 when the text names none.
 */
int preflight_cgroup_dir(struct slice text, struct sbuf *dir, bool *v2);

/*
 * The memory a cgroup uses as `docker stats` counts it: usage (v1's
 * memory.usage_in_bytes, v2's memory.current) less the inactive file pages
 * of memory.stat (total_inactive_file, inactive_file). -1 when usage is not
 * a number.
 */
int preflight_cgroup_usage(struct slice usage, struct slice stat, bool v2, uint64_t *out);

/* The deploy's SFTP session to host, or NULL when it has none (it may wait for it to open). */
typedef struct sftp *(*preflight_sftp_fn)(void *data, const char *host);

/*
 * Reads what host has and what the roles about to boot there need. Docker
 * is asked through ex (here when it can be) first, while the SFTP session
 * may still be opening; then sftp_of(data, host) gives the session, and
 * with none nothing more is read and h->read stays false. Returns 0, or -1
 * with e set when Docker did not answer.
 */
int preflight_read(struct exec *ex, preflight_sftp_fn sftp_of, void *data, const struct config *cfg,
		   const struct config_role *const *roles, size_t nroles, struct preflight_host *h,
		   struct err *e);

/* 0 when the rollout fits (or cannot be judged), 1 when it does not, with why set to say so. */
int preflight_judge(const struct preflight_host *h, struct sbuf *why);

#endif
