/*
 * appctl — what the commands that look at and steer an app's containers on
 * its hosts share (`berth app ...`, `prune`, `details`): the list of
 * (host, role) jobs that -r/-h select, the docker argv of each question, and
 * a runner that puts them on the hosts in parallel.
 *
 * Containers and images are found by the labels and names of engine/app.h.
 * Where a command needs a shell on the host (a pipe through grep, a loop
 * over docker's answer), the script is a fixed string in this file and every
 * value from the config or the command line reaches it as a positional
 * argument ("$1", "$@"), never pasted into the script's text.
 *
 * The argv builders are pure; appctl_run and appctl_find run commands.
 */
#ifndef APPCTL_H
#define APPCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/config.h"
#include "engine/exec.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

/* One command on one host, about one role of the app (or all its roles). */
struct appctl_job {
	const char *host;		/* owned by the config */
	const struct config_role *role; /* NULL: every role of the app on host */
	const char *label;  /* in the prefix when there is no role (an accessory's name) */
	struct strvec argv; /* the remote command */
	struct run_cmd cmd;
	char *prefix;	 /* "host | " or "host web | ", aligned over the jobs */
	char *container; /* what appctl_find found; NULL: none */
	bool skip;	 /* appctl_run leaves it out */
};

struct appctl_jobs {
	struct appctl_job *v;
	size_t nr, alloc;
};

/*
 * Fills jobs with the (host, role) pairs of cfg whose role matches one of
 * roles and whose host matches one of hosts (config_match patterns; NULL or
 * empty: all). With per_role false and no role filter, one job per host with
 * role NULL instead. Returns the number of jobs.
 */
size_t appctl_jobs_init(struct appctl_jobs *jobs, const struct config *cfg,
			const struct strvec *roles, const struct strvec *hosts, bool per_role);
void appctl_jobs_release(struct appctl_jobs *jobs);
/* Appends a job on host (role and label may be NULL); appctl_jobs_prefix after the last. */
struct appctl_job *appctl_jobs_add(struct appctl_jobs *jobs, const char *host,
				   const struct config_role *role, const char *label);
/* Sets every job's prefix: "host role | " (or "host label | "), aligned over the jobs. */
void appctl_jobs_prefix(struct appctl_jobs *jobs);

enum appctl_run_flags {
	APPCTL_CAPTURE = 1 << 0, /* keep stdout in cmd.outbuf instead of showing it */
	APPCTL_STDIN = 1 << 1,	 /* one job: it reads berth's stdin (interactive) */
};

/*
 * Runs every job not skipped, in parallel. Shown output is prefixed with the
 * job's prefix when more than one job runs, and passes through untouched for
 * one. A job that fails is described in errors (one line per job, from
 * exec_explain, or for a script as exec_script_result says it). Returns 0
 * when every job exited 0, else -1.
 */
int appctl_run(struct exec *ex, struct appctl_jobs *jobs, unsigned flags, struct sbuf *errors);

/*
 * Sets each job's container to the name of the newest container of its
 * role on its host (running ones only when running), or NULL when it has
 * none. Replaces the jobs' argv. Returns 0, or -1 with errors set when a host
 * could not be asked.
 */
int appctl_find(struct exec *ex, const struct config *cfg, struct appctl_jobs *jobs, bool running,
		struct sbuf *errors);
/* The same for the version label of the newest running container (into container). */
int appctl_find_version(struct exec *ex, const struct config *cfg, struct appctl_jobs *jobs,
			struct sbuf *errors);

/* docker ps [-a] FILTERS [--format FORMAT] (format NULL: docker's table). */
void appctl_ps_argv(struct strvec *argv, const struct config *cfg, const char *role, bool all,
		    const char *format);
/* docker ps that prints the newest container's FORMAT (running ones only when running). */
void appctl_newest_argv(struct strvec *argv, const struct config *cfg, const char *role,
			bool running, const char *format);
/* docker image ls REPO (the app's image repository). */
void appctl_images_argv(struct strvec *argv, const struct config *cfg);

/* How `app logs` reads a container's log. */
struct appctl_logs {
	long lines;	   /* --tail N; <0: all */
	const char *since; /* --since; NULL: none */
	bool follow;
	bool timestamps;
	const char *grep; /* only lines that hold this pattern (grep's basic regex) */
};
void appctl_logs_argv(struct strvec *argv, const char *container, const struct appctl_logs *o);

/* Stops (gracefully) and removes every container of the app (of role; NULL: all). */
void appctl_remove_containers_argv(struct strvec *argv, const struct config *cfg, const char *role);
/* Removes every image of the app's repository. */
void appctl_remove_images_argv(struct strvec *argv, const struct config *cfg);
/* Removes the stopped containers of role beyond the newest keep. */
void appctl_prune_containers_argv(struct strvec *argv, const struct config *cfg, const char *role,
				  long long keep);
/*
 * Removes, on the host, role's asset files (engine/app.h) of the versions
 * that no container of the role has any more, but those changed in the last
 * APPCTL_ASSETS_MIN_AGE minutes (a deploy may be putting them in place).
 * Prints "removed VERSION" for each.
 */
#define APPCTL_ASSETS_MIN_AGE "60"
void appctl_prune_assets_argv(struct strvec *argv, const struct config *cfg, const char *role);
/* docker image prune --force --filter label=service=S: dangling images of the app. */
void appctl_prune_dangling_argv(struct strvec *argv, const struct config *cfg);
/* Removes the tagged images of the app's repository that no container uses, past the newest keep.
 */
void appctl_prune_tagged_argv(struct strvec *argv, const struct config *cfg, long long keep);
/* Prints the running containers of role of versions other than the newest's; with stop, stops them
 * too. */
void appctl_stale_argv(struct strvec *argv, const struct config *cfg, const char *role, bool stop);
/* docker exec berth-proxy berth-proxy stop|resume ROLE-NAME [--message M]. */
void appctl_proxy_argv(struct strvec *argv, const struct config *cfg, const char *role,
		       const char *verb, const char *message);

/* argv ("docker run ..." or "docker exec ...") with --interactive (and --tty with tty) after its
 * first two words. */
void appctl_make_interactive(struct strvec *argv, bool tty);

/* Whether s can be a container name as docker prints it ([A-Za-z0-9][A-Za-z0-9_.-]*). */
bool appctl_name_ok(const char *s);

#endif
