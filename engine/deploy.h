/*
 * deploy — the release engine: puts a version of an app on its hosts and
 * moves traffic to it, for `berth deploy`, `redeploy`, `rollback`, `setup`
 * and `app boot`, and for every later front door (push to deploy, the
 * panel), which call the same function.
 *
 * A deploy goes:
 *
 *   1. the pre-connect hook; the deploy lock on the primary host (the first
 *      host of the primary role), tied to this process so that a killed
 *      deploy leaves a stale lock the next one breaks by itself;
 *   2. the image: built (pre-build hook) unless skip_push, then sent — to a
 *      registry and pulled by the hosts, or without one over SSH, only the
 *      layers a host lacks (engine/transfer.h);
 *   3. the pre-deploy hook; release_command, when configured, once in a
 *      one-off container of the new image on the primary host: a failure
 *      stops here, nothing has changed;
 *   4. with asset_path (engine/app.h), on every host at once before any
 *      boots: the new version's assets copied out of its image and shared
 *      with the version running there (a failure stops here, nothing has
 *      changed); then hosts in batches of boot.limit (all at once without it), the
 *      primary host in the first, boot.wait seconds apart; in a batch every
 *      host at once, a host's roles one after another (all at once with
 *      boot.parallel_roles), and the other roles wait until the primary role
 *      is healthy on the primary host (Kamal's barrier). On each: the network
 *      `berth` and berth-proxy (engine/proxyhost.h), the role's env file (mode
 *      0600), the new container (engine/app.h names it; a container of that
 *      name from an earlier try is renamed away), then the switch —
 *      `berth-proxy deploy` for a proxied role (the proxy checks health, swaps
 *      and drains), the Docker health check or readiness_delay for the others;
 *      a role with instances (config.h) starts them all, the first last, and
 *      its switch names every one as a target, so the proxy moves traffic
 *      only once all are healthy (a role without the proxy waits for each);
 *      then the old containers stop, the release goes into the host's journal
 *      and containers beyond retain_containers are removed. Docker is reached
 *      from here through the host's forwarded socket, the switch through
 *      berth-proxy's, the files through one SFTP session per host (see
 *      README); what cannot be forwarded runs on the host over ssh;
 *   5. the asset files of versions no longer running removed from the hosts
 *      (a failure there is said, and fails nothing); the audit line on every
 *      host, the post-deploy hook, the lock released.
 *
 * If the new container does not become healthy it is stopped, the old one
 * goes on serving (the proxy never switched), and the error holds the new
 * container's last log lines and what the health checks saw — redacted.
 *
 * At any moment the host has the old version serving or the new one: the
 * switch is the proxy's one atomic step, old containers stop only after it,
 * files are written to a temporary name and renamed. So a deploy killed at
 * any step is finished by the next deploy, with no hand repair.
 *
 * No secret is ever in an argv: the env file travels on stdin, the registry
 * password too (engine/registry.h); output shown to the user (container logs,
 * hook output, proxy answers) goes through secrets_redact first.
 *
 * Progress: one line per step per host as it happens, to stdout, or with
 * json one JSON object per line ({"event":"step","host":..,"role":..,
 * "step":..,"ok":true,"ms":..}); a summary of each step's time at the end.
 */
#ifndef DEPLOY_H
#define DEPLOY_H

#include <stdbool.h>

#include "engine/config.h"
#include "engine/exec.h"
#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/strvec.h"

enum deploy_mode {
	DEPLOY_NEW = 0,	     /* deploy / redeploy / setup: run containers of a new version */
	DEPLOY_ROLLBACK = 1, /* start the version's existing containers again */
};

struct deploy_opts {
	enum deploy_mode mode;
	const char *project_dir;    /* NULL: "." */
	const char *version;	    /* NULL: from git (engine/build.h) */
	bool skip_push;		    /* the image is built already: do not build it */
	bool skip_proxy;	    /* redeploy: do not check or start berth-proxy */
	bool force;		    /* boot where the capacity check (engine/preflight.h) says no */
	unsigned lock_wait_s;	    /* wait this long for a held lock */
	bool skip_hooks;	    /* -H: run no hook */
	const struct strvec *roles; /* -r filters (NULL: all) */
	const struct strvec *hosts; /* -h filters (NULL: all) */
	const char *command;	    /* "deploy", "redeploy", "rollback", "setup" (hooks, audit) */
	int verbose;		    /* -v: show every remote command */
	bool quiet;		    /* -q: errors only */
	bool json;		    /* --json: events */
	void (*progress)(const char *line, void *data); /* NULL: stdout */
	void *progress_data;
};

/*
 * Deploys (or rolls back to) a version of cfg's app with the secrets in sec
 * through ex. Returns 0 when every selected host serves the version, or -1
 * with e set: what failed, where, and why.
 */
/*
 * The plan of a deploy: which (host, role) pairs boot, in which batch, and
 * who waits for whom — decided from the config and the -r/-h filters before
 * anything runs, so that it can be shown and tested on its own.
 *
 * Pairs: every role the filters keep, on every host of it they keep; the
 * primary role's first pair first, then in the config's order. Hosts: in the
 * order pairs name them, the first pair's host first. Batches: boot.limit
 * hosts at a time (a percentage rounds up; at least one), in host order; a
 * pair boots in its host's batch. The barrier (Kamal's): when the first pair
 * is of the primary role, it "opens", and every pair of another role waits
 * until it serves. The lock is taken on the primary role's first host (the
 * first host of the config without one), whatever the filters.
 */
struct deploy_plan_pair {
	const char *host;
	const struct config_role *role;
	size_t batch; /* 0: the first */
	bool opens;   /* the pair the others wait for */
	bool waits;   /* held until the opener serves */
};

struct deploy_plan {
	struct deploy_plan_pair *pairs;
	size_t npairs;
	struct strvec hosts; /* boot order */
	size_t nbatches;
	const char *lock_host; /* NULL: no host at all */
};

/* Fills p (released with deploy_plan_release); strings point into cfg. */
void deploy_plan_make(const struct config *cfg, const struct deploy_opts *o, struct deploy_plan *p);
void deploy_plan_release(struct deploy_plan *p);

int deploy_run(const struct config *cfg, const struct secrets *sec, struct exec *ex,
	       const struct deploy_opts *o, struct err *e);

/* A version still on the hosts, for rollback. */
struct deploy_version {
	char *version;
	char *time;	   /* when it was deployed, from the journal; NULL unknown */
	bool current;	   /* serving now */
	size_t hosts_with; /* hosts of the primary role that still have its container */
};
struct deploy_versions {
	struct deploy_version *v; /* newest first */
	size_t nr, alloc;
	size_t hosts; /* hosts of the primary role asked */
};
void deploy_versions_release(struct deploy_versions *vs);
/*
 * Lists the versions whose containers are still on the hosts of the primary
 * role (filtered by o->hosts), newest first, with their journal dates.
 */
int deploy_versions(const struct config *cfg, struct exec *ex, const struct deploy_opts *o,
		    struct deploy_versions *out, struct err *e);

#endif
