/*
 * app — how berth names and starts an app's containers on a host.
 *
 * Every front door and every command that touches app containers takes its
 * names, labels and docker argv from here, so that a container started by
 * `berth deploy` is found again by `berth app stop`, `rollback` or the panel.
 * The names follow Kamal's, so Kamal users recognise them:
 *
 *	role name	<service>-<role>[-<destination>]            "shop-web-staging"
 *	container	<role name>-<version>                       "shop-web-staging-3f2a9c1"
 *	image		[<registry server>/]<image>:<version>       "ghcr.io/acme/shop:3f2a9c1"
 *	labels		service=<service> role=<role> destination=<destination> version=<version>
 *			(destination= with an empty value without one, as Kamal does, so
 *			that filters tell a plain deploy's containers from a destination's)
 *	network		berth (every app container and berth-proxy join it)
 *	proxy service	the role name (what `berth-proxy deploy` is told)
 *	env file	<run dir>/apps/<app>/env/<role>.env, mode 0600 (see engine/hoststate.h)
 *
 * The env file holds the role's whole environment, clear and secret, one
 * NAME=value per line as `docker run --env-file` reads it; it reaches the
 * host on stdin (never in argv) and docker reads it there. Docker's env files
 * cannot hold a newline in a value: newlines are written as the two bytes
 * "\n", as Kamal does.
 *
 * All functions here are pure (no I/O): they append to the caller's buffers.
 */
#ifndef APP_H
#define APP_H

#include <stdbool.h>

#include "engine/config.h"
#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

#define APP_NETWORK	    "berth"
#define APP_PROXY_CONTAINER "berth-proxy"
#define APP_VERSION_MAX	    128 /* a version: [A-Za-z0-9_.-], not starting with '.' or '-' */

/* Whether v may be a version (it becomes part of container and image names). */
bool app_version_ok(const char *v);

/* "<service>-<role>[-<destination>]". */
void app_role_name(struct sbuf *out, const struct config *cfg, const char *role);
/* "<service>-<role>[-<destination>]-<version>". */
void app_container_name(struct sbuf *out, const struct config *cfg, const char *role,
			const char *version);
/* "[<registry server>/]<image>" (no tag). */
void app_image_repo(struct sbuf *out, const struct config *cfg);
/* "[<registry server>/]<image>:<version>". */
void app_image_ref(struct sbuf *out, const struct config *cfg, const char *version);
/* The env file of role, relative to the ssh user's home (or absolute with an absolute
 * run_directory). */
void app_env_path(struct sbuf *out, const struct config *cfg, const char *role);

/*
 * The env file's text for role: clear values, then each secret from sec
 * (under its container name). Returns 0, or -1 with e set when a secret is
 * missing (the error names it, never a value) or a name is not a valid
 * environment name.
 */
int app_env_file(struct sbuf *out, const struct config_role *role, const struct secrets *sec,
		 struct err *e);

/*
 * The `docker ps`/`docker container ls` filters that select the
 * containers of role (all roles when role is NULL) of this service and
 * destination: "--filter" "label=service=S" ... appended to argv.
 */
void app_filter_argv(struct strvec *argv, const struct config *cfg, const char *role);

/*
 * Splits a command line as a POSIX shell would split words, without any
 * expansion: single quotes, double quotes (with \\ \" \$ \` escapes) and
 * backslashes. Used for `cmd:` and `release_command`, which Kamal hands to
 * the remote shell as text: berth passes words, so no shell ever reads them.
 * Returns 0, or -1 with e set on an unterminated quote or an empty line.
 */
int app_split_words(const char *line, struct strvec *out, struct err *e);

struct app_run {
	const char *version;
	const char *env_file; /* path on the host (absolute) */
	const char *host;     /* the host's name as configured, for BERTH_HOST */
	bool detach;	      /* -d, restart policy, log options: an app container */
	const char *name;     /* --name; NULL: app_container_name */
	const char *cmd;      /* command line; NULL: the role's cmd (or the image's) */
};

/*
 * The argv of `docker run` for role's container: name, network, labels,
 * restart policy and log rotation (max-size 10m unless the config's
 * logging says otherwise), env file, volumes, the role's options, the image
 * and the command split into words. Returns 0, or -1 with e set (a cmd that
 * does not split).
 */
int app_run_argv(struct strvec *argv, const struct config *cfg, const struct config_role *role,
		 const struct app_run *r, struct err *e);

/*
 * The argv of `docker exec berth-proxy berth-proxy deploy ...` that
 * switches role's proxy service to target ("container:port") with the
 * role's proxy settings (hosts, path prefixes, health check, timeouts).
 */
void app_proxy_deploy_argv(struct strvec *argv, const struct config *cfg,
			   const struct config_role *role, const char *target);

#endif
