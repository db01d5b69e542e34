/*
 * accessory — Kamal's accessories on the hosts: the services an app uses
 * (a database, a cache) that run beside it and that a deploy never touches.
 *
 * An accessory of config/deploy.yml (engine/config.h, `accessories:`) runs
 * as one container per host, named and labelled as Kamal names them:
 *
 *	container	<service>-<name>, or the accessory's own `service:`  "shop-db"
 *	label		service=<container name> (and the config's labels)
 *	network		the accessory's `network:`, else the app's (APP_NETWORK),
 *			so the app reaches it by the container's name
 *	image		[<accessory registry server>/]<image>
 *	directory	~/<container name>/ on the host (Kamal's): uploaded files
 *			at ~/<name>/<path in the container>, relative `directories`
 *			at ~/<name>/<local>; absolute ones where they say
 *	env file	<run dir>/apps/<app>/env/accessories/<name>.env, mode 0600,
 *			clear and secret values, written as the app's env file is
 *			(engine/app.h: the text on stdin, never in an argv)
 *	port		`port` published on 127.0.0.1 unless the config gives an
 *			address ("0.0.0.0:5432:5432": published so, with a warning)
 *
 * The deploy's names never match these (its containers carry the app's
 * service label with a destination label), so `berth deploy`, `prune` and
 * `app` never stop, restart or remove an accessory.
 *
 * The argv builders are pure (the unit tests call them); the operations
 * run on the hosts through exec, in parallel, each host's failure reported
 * in e as "host 'H': ...". Every script they run is one of
 * engine/scripts/accessory-*.sh (or deploy-env.sh for the env file); every
 * value reaches it as an argument or on stdin.
 */
#ifndef ACCESSORY_H
#define ACCESSORY_H

#include <stdbool.h>

#include "engine/appctl.h"
#include "engine/config.h"
#include "engine/exec.h"
#include "engine/hoststate.h"
#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

/* The address a port without one is published on. */
#define ACCESSORY_BIND "127.0.0.1"
/*
 * How long boot waits, in seconds, for a new container with a health check
 * to be healthy (engine/scripts/accessory-run.sh): a database's first start
 * initialises its data, and Docker's first check comes after one interval.
 */
#define ACCESSORY_UP_WAIT_S "180"

/* ---- names (pure) ---- */

/* The network it joins: `network:`, else the app's. */
const char *accessory_network(const struct config_accessory *a);
/* "[<registry server>/]<image>". */
void accessory_image(struct sbuf *out, const struct config_accessory *a);
/* The env file's path (relative to the ssh user's home, or absolute with an absolute run dir). */
void accessory_env_path(struct sbuf *out, const struct config *cfg,
			const struct config_accessory *a);
/* Where file p goes on the host, relative to the home: "<service><remote>". */
void accessory_file_path(struct sbuf *out, const struct config_accessory *a,
			 const struct config_accessory_path *p);
/* Directory p on the host: absolute as given, else "<service>/<local>" (relative to the home). */
void accessory_dir_path(struct sbuf *out, const struct config_accessory *a,
			const struct config_accessory_path *p);
/*
 * Whether a's names can be used on a host: the container name a docker
 * name that is also a safe directory name, the accessory's name a file name.
 * Returns 0, or -1 with e set.
 */
int accessory_check(const struct config_accessory *a, struct err *e);

/*
 * The hosts a runs on (a->hosts, in order) that the filters keep: with
 * roles (-r), only hosts of a matching role; with hosts (-h), only hosts
 * matching one of them (config_match patterns; NULL or empty: all).
 * Appends to out; returns the number appended.
 */
size_t accessory_hosts(const struct config *cfg, const struct config_accessory *a,
		       const struct strvec *roles, const struct strvec *hosts, struct strvec *out);

/*
 * docker's --publish value for port (as the config keeps it: "3000:3000",
 * "8080:80/udp", "IP:HOST:CONTAINER", "[::1]:HOST:CONTAINER"): a port with
 * no address is bound to ACCESSORY_BIND. *wide (may be NULL) says whether
 * the address is not a loopback one (0.0.0.0, ::, a public address).
 * Returns 0, or -1 with e set for a port docker would not take.
 */
int accessory_publish(struct sbuf *out, const char *port, bool *wide, struct err *e);

/*
 * The env file's text: clear values, then secrets from sec, as
 * app_env_file writes the app's. Returns 0, or -1 with e set (a missing
 * secret, by name; a bad variable name).
 */
int accessory_env_file(struct sbuf *out, const struct config_accessory *a,
		       const struct secrets *sec, struct err *e);

/* How a container of a starts. */
struct accessory_run {
	const char *host; /* as configured: BERTH_HOST and KAMAL_HOST */
	const char *home; /* the ssh user's home on host (absolute): mounts, env file */
	/*
	 * A one-off container for exec: --rm, no name, no port, no restart
	 * policy; cmd replaces the accessory's. NULL: the accessory's own
	 * container (--detach, --restart, --publish, its cmd).
	 */
	const char *cmd;
};

/*
 * The argv of `docker run` for a: name, restart policy (options.restart,
 * else unless-stopped), network, log rotation (the config's logging, else
 * max-size 10m), the port (accessory_publish), BERTH_HOST/KAMAL_HOST, the
 * env file, volumes (volumes, then files and directories mounted), labels,
 * the other options, the image, and cmd split into words. Returns 0, or
 * -1 with e set.
 */
int accessory_run_argv(struct strvec *argv, const struct config *cfg,
		       const struct config_accessory *a, const struct accessory_run *r,
		       struct err *e);

/* docker ps [--all] --filter label=service=<container name> [--format F]. */
void accessory_ps_argv(struct strvec *argv, const struct config_accessory *a, bool all,
		       const char *format);
/*
 * Stops and removes a's container, then (with image) its image when no
 * container uses it, then (with dir) its directory on the host.
 */
void accessory_remove_argv(struct strvec *argv, const struct config_accessory *a, bool image,
			   bool dir);

/*
 * The file p's bytes as they go to the host: read from project_dir (NULL:
 * "."), rendered as ERB when its name ends in ".erb" (as Kamal does, with
 * the accessory's env, clear and secret, in ENV). Returns 0, or -1 with e set.
 */
int accessory_file_content(struct sbuf *out, const char *project_dir,
			   const struct config_accessory *a, const struct config_accessory_path *p,
			   const struct secrets *sec, struct err *e);

/* ---- on the hosts ---- */

struct accessory_ctx {
	const struct config *cfg;
	const struct secrets *sec; /* boot, reboot, upgrade: env file, files, registry login */
	struct exec *ex;
	const char *project_dir;	    /* NULL: "." */
	const struct strvec *roles, *hosts; /* -r/-h; NULL: all */
	unsigned lock_wait_s;		    /* wait this long for a held deploy lock */
	bool quiet;
	/* what accessory_lock set up */
	struct hoststate hs;
	struct hoststate_lock mine;
	const char *lock_host;
	bool have_hs, locked;
	struct strvec warned; /* accessories whose wide port was warned about */
};

void accessory_ctx_init(struct accessory_ctx *c, const struct config *cfg, struct exec *ex);
/* Releases the lock when it is held, and everything c holds. */
void accessory_ctx_release(struct accessory_ctx *c);

/*
 * Takes the deploy lock (the app's, on the primary role's first host, as a
 * deploy takes it: tied to this process, a stale one broken, lock_wait_s
 * waited for) with message what ("accessory boot db"). Returns 0, or -1
 * with e set (held by someone: e says who).
 */
int accessory_lock(struct accessory_ctx *c, const char *what, struct err *e);
void accessory_unlock(struct accessory_ctx *c);
/* Appends message to the audit log of hosts (failures are warnings). */
void accessory_audit(struct accessory_ctx *c, const struct strvec *hosts, const char *message);

/*
 * Boots a on its hosts where no container of it exists yet (the others are
 * skipped, said on stderr, as Kamal skips them): registry login, the
 * network, its directories, the env file, the files, then docker run, and
 * a wait until the container runs and, with a health check, is healthy
 * (ACCESSORY_UP_WAIT_S); one that is not is left for inspection, and e says
 * why, with its health check's answers and last log lines.
 * *booted (may be NULL) gets the hosts where it started. Returns 0, or -1
 * with e set.
 */
int accessory_boot(struct accessory_ctx *c, const struct config_accessory *a, struct strvec *booted,
		   struct err *e);
/* docker pull of a's image on its hosts (registry login first). */
int accessory_pull(struct accessory_ctx *c, const struct config_accessory *a, struct err *e);
/* docker start|stop of a's container on its hosts. */
int accessory_start_stop(struct accessory_ctx *c, const struct config_accessory *a, bool start,
			 struct err *e);
/* Removes the container (and with all, the image and the directory) on a's hosts. */
int accessory_remove(struct accessory_ctx *c, const struct config_accessory *a, bool all,
		     struct err *e);
/*
 * Runs one command per host of a, in parallel, output shown as app
 * commands show it ("host name | " in front when several run).
 * build fills the argv of a host's job. Returns 0, or -1 with e set.
 */
int accessory_run_jobs(struct accessory_ctx *c, const struct config_accessory *a,
		       void (*build)(struct appctl_job *j, const struct config_accessory *a,
				     void *data),
		       void *data, unsigned flags, struct err *e);

/* The home of the ssh user on each of hosts (absolute), into homes (same order). */
int accessory_homes(struct accessory_ctx *c, const struct strvec *hosts, struct strvec *homes,
		    struct err *e);

#endif
