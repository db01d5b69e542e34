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
 *   4. hosts in batches of boot.limit (all at once without it), the
 *      primary host in the first, boot.wait seconds apart; in a batch every
 *      host and role at once, except that the other roles wait until the
 *      primary role is healthy on the primary host (Kamal's barrier). On
 *      each: the network `berth` and berth-proxy (engine/proxyhost.h), the
 *      role's env file (on stdin, mode 0600), the new container (engine/app.h
 *      names it; a container of that name from an earlier try is renamed
 *      away), then the switch — `berth-proxy deploy` for a proxied role (the
 *      proxy checks health, swaps and drains), the Docker health check or
 *      readiness_delay for the others — in the same ssh command; then the old
 *      containers stop, the release goes into the host's journal and
 *      containers beyond retain_containers are removed;
 *   5. the audit line on every host, the post-deploy hook, the lock released.
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
	unsigned lock_wait_s;	    /* wait this long for a held lock */
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
