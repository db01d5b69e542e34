/*
 * appdeploy — an app of berthd's records, put on this host through
 * daemon/release.h; and the per-app lock that keeps two deploys of one app
 * apart.
 *
 * The spec is built from the store: config vars (the roles' secret env),
 * domains (none: APP.<global domain> when one is set), process scale (the
 * store's count for a type, else what the revision says, else web=1 and
 * every other type 0), and what the revision says about how it runs (its
 * Procfile and app.json, from push_read; an image from git:from-image runs
 * its own command as "web", unless the app's properties APPDEPLOY_PROP_TYPE
 * and APPDEPLOY_PROP_CMD say which one process type it is and what it runs:
 * oneclick:deploy's services not exposed as web apps run as "worker",
 * without berth-proxy), and web's container port (daemon/ports.h: the
 * app's ports:set mapping, else the image's EXPOSE, else 5000).
 *
 * Every deploy is recorded in the store's releases: "deploying", then
 * "deployed" or "failed". A version label is used once per app: a second
 * deploy of one revision (a config change) is "<version>-<release id>".
 *
 * The lock is flock on $BERTHD_STATE_DIR/locks/APP.lock, which also says
 * who holds it; a second taker waits, saying who that is. It goes with the
 * process, so a killed deploy leaves no lock behind.
 */
#ifndef APPDEPLOY_H
#define APPDEPLOY_H

/* Images of an app kept after a deploy: those of its newest deployed releases (as many as the
 * engine keeps containers, retain_containers). */
#define APPDEPLOY_KEEP_IMAGES 5
/*
 * How long a redeploy or a rollback waits for its release's commit to be
 * in the app's repository (push_opts.wait_ms): the push that made it may
 * still be between giving up the lock and git moving its objects in.
 */
#define APPDEPLOY_REV_WAIT_MS 15000

/* How an app without a revision (an image, a build of dockerfile lines) runs: its one process
 * type (unset: web) and command (unset: the image's), app properties. */
#define APPDEPLOY_PROP_TYPE "image.process-type"
#define APPDEPLOY_PROP_CMD  "image.command"

#include "daemon/berthd.h"
#include "daemon/push.h"
#include "daemon/release.h"

struct appdeploy {
	struct release_spec spec;
	struct strvec env_names, env_values, domains;
	struct release_proc *procs;
	struct strvec proc_strs; /* the strings procs point at */
	struct strvec mounts;	 /* storage:mount */
	struct strvec aliases;	 /* the property network.aliases, split */
	char *state_dir;
};

/*
 * Fills d->spec for app from the store, image and version; pr: what the
 * revision says (NULL: an image's own command as web). 0, or -1 with e set.
 */
int appdeploy_spec(struct bd *bd, const char *app, const char *image, const char *version,
		   const struct push_result *pr, struct appdeploy *d, struct err *e);
void appdeploy_release(struct appdeploy *d);

/*
 * web's container port for app running image (daemon/ports.h): the app's
 * ports:set mapping, else the image's EXPOSEd TCP port (asking the host's
 * dockerd; image NULL: not asked), else 5000. Returns 1 (the mapping),
 * 2 (EXPOSE), 0 (the default), or -1 with e set.
 */
int appdeploy_port(struct bd *bd, const char *app, const char *image, unsigned *port,
		   struct err *e);
/* The same without the mapping: 2 (EXPOSE) or 0 (5000). */
int appdeploy_detect_port(struct bd *bd, const char *app, const char *image, unsigned *port);

/*
 * Connects app's running containers to the networks of its network:set
 * attach-post-deploy (cmd-network.c), each with the alias APP.TYPE; after
 * every deploy and rollback. A failure is said, and fails nothing (the new
 * release serves already).
 */
void appdeploy_attach_networks(struct bd *bd, const char *app);

/* A version label not used yet by app: base, or base-N. Malloc'd. */
char *appdeploy_version(struct bd *bd, const char *app, const char *base);

/*
 * Deploys image as a new release of app and records it (rev: the git
 * revision, or NULL). Progress on stdout. 0, or -1 with e set (the release
 * recorded as failed).
 */
int appdeploy_run(struct bd *bd, const char *app, const char *image, const char *base_version,
		  const char *rev, const struct push_result *pr, struct err *e);

/*
 * After a change to config, domains or scale: deploys the current release
 * again when the app has one (taking the app's lock). 0 deployed, 1 nothing
 * deployed yet (nothing to do), 2 the app is stopped (ps:stop; nothing
 * started, a line says so), -1 with e set.
 */
int appdeploy_redeploy(struct bd *bd, const char *app, struct err *e);

/* appdeploy_redeploy even when the app is stopped (ps:start, ps:restart, ps:rebuild). */
int appdeploy_redeploy_any(struct bd *bd, const char *app, struct err *e);

/*
 * The ids of app's running containers (the engine's: labelled service=APP),
 * as docker lists them, newest first. With type, only that process type's:
 * every instance of it (roles TYPE, TYPE-2, ...; web's are all role web,
 * from the second labelled instance=N), or with instance > 0 that one (1:
 * TYPE, 2: TYPE-2 or web's instance=2). 0, or -1 with e set.
 */
int appdeploy_containers(const char *app, const char *type, unsigned instance, struct strvec *ids,
			 struct err *e);

/*
 * Takes app's lock for action ("git push", "config:set"...), waiting when
 * someone holds it. Returns the lock's descriptor (appdeploy_unlock it), or
 * -1 with e set.
 */
int appdeploy_lock(struct bd *bd, const char *app, const char *action, struct err *e);
void appdeploy_unlock(int fd);

#endif
