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
 *	instance K	<service>-<role>.<K>[-<destination>]-<version>  "shop-web.2-staging-3f2a9c1"
 *			(K from 2, a role with instances: the first is the container
 *			above; a role name has no '.', so no name of another role or
 *			version can be the same)
 *	image		[<registry server>/]<image>:<version>       "ghcr.io/acme/shop:3f2a9c1"
 *	labels		service=<service> role=<role> destination=<destination> version=<version>
 *			(and instance=<K> on instance K from 2)
 *			(destination= with an empty value without one, as Kamal does, so
 *			that filters tell a plain deploy's containers from a destination's)
 *	network		berth (every app container and berth-proxy join it)
 *	proxy service	the role name (what `berth-proxy deploy` is told)
 *	env file	<run dir>/apps/<app>/env/<role>.env, mode 0600 (see engine/hoststate.h)
 *	assets		<run dir>/apps/<app>/assets/<role>/extracted/<version>/  the image's
 *			asset_path, copied out; .../volumes/<version>/  what the container of
 *			that version mounts at asset_path (see below)
 *
 * The env file holds the role's whole environment, clear and secret, one
 * NAME=value per line as `docker run --env-file` reads it; it reaches the
 * host on stdin (never in argv) and docker reads it there. Docker's env files
 * cannot hold a newline in a value: newlines are written as the two bytes
 * "\n", as Kamal does.
 *
 * asset_path (Kamal's asset bridging, for roles behind the proxy): while the
 * old and the new version both serve, a page of either may ask either
 * container for its fingerprinted assets. So before a version boots, each
 * host gets the image's files under asset_path (extracted/<version>), and the
 * version's volume holds them and the files of the version running now (none
 * overwritten), and the running version's volume gets the new ones: both
 * containers find both. The container mounts its volume at asset_path;
 * the volumes of versions no longer running go after the deploy. The
 * script engine/scripts/deploy-assets.sh does it on the host (deploy.c).
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
/* The container of instance (1-based; 0 counts as 1) of role: app_container_name for the first. */
void app_instance_name(struct sbuf *out, const struct config *cfg, const char *role,
		       const char *version, unsigned instance);
/*
 * The version in name when it is the container of one of role's instances
 * (app_instance_name, instance 1 to role->instances): a pointer into name,
 * with *instance set; else NULL.
 */
const char *app_instance_version(const struct config *cfg, const struct config_role *role,
				 const char *name, unsigned *instance);
/* "[<registry server>/]<image>" (no tag). */
void app_image_repo(struct sbuf *out, const struct config *cfg);
/* "[<registry server>/]<image>:<version>". */
void app_image_ref(struct sbuf *out, const struct config *cfg, const char *version);
/* The env file of role, relative to the ssh user's home (or absolute with an absolute
 * run_directory). */
void app_env_path(struct sbuf *out, const struct config *cfg, const char *role);

/*
 * Whether role's containers mount an asset volume: an asset_path (the role's,
 * else the root's; config.h) on a role behind the proxy, as Kamal bridges
 * assets only there.
 */
bool app_assets(const struct config_role *role);
/* role's asset_path split: the path in the container, and the mount options ("ro", "z") if any. */
void app_asset_path(const struct config_role *role, struct sbuf *path, struct sbuf *options);
/* "<run dir>/apps/<app>/assets/<role>": relative to the ssh user's home, or absolute. */
void app_assets_dir(struct sbuf *out, const struct config *cfg, const char *role);
/* "<role name>_assets": the container, created and never started, that assets are copied from. */
void app_assets_container(struct sbuf *out, const struct config *cfg, const char *role);

/*
 * The env file's text for role on host: clear values, then each secret from
 * sec (under its container name). The env of each tag host has (env.tags,
 * in the order of the host's tags) is merged over the role's, a name set
 * there replacing the role's, clear or secret. Returns 0, or -1 with e set
 * when a secret is missing (the error names it, never a value) or a name is
 * not a valid environment name.
 */
int app_env_file(struct sbuf *out, const struct config *cfg, const struct config_role *role,
		 const char *host, const struct secrets *sec, struct err *e);

/*
 * The env file's text for env alone (clear values, then secrets from sec),
 * written as app_env_file writes a role's: for an accessory. Returns 0, or
 * -1 with e set.
 */
int app_env_text(struct sbuf *out, const struct config_env *env, const struct secrets *sec,
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
	const char *host;     /* the host's name as configured, for BERTH_HOST and KAMAL_HOST */
	bool detach;	      /* -d, restart policy, log options: an app container */
	const char *name;     /* --name; NULL: app_container_name */
	const char *cmd;      /* command line; NULL: the role's cmd (or the image's) */
	bool background; /* a one-off left running: --detach, without --rm or a restart policy */
	const struct strvec *env; /* KEY=VALUE set after the env file (app exec -e); may be NULL */
	/* the version's asset volume on the host (absolute), mounted at asset_path when the role
	 * has one (app_assets); NULL: none */
	const char *assets_dir;
	/* from 2: that instance of the role (app_instance_name, and the label instance=N); 0 or
	 * 1: the first, labelled as ever */
	unsigned instance;
};

/*
 * The argv of `docker run` for role's container: name, network, labels,
 * restart policy and log rotation (max-size 10m unless the config's
 * logging says otherwise), env file, volumes (the asset volume after the
 * config's, "--volume=DIR:PATH[:OPTIONS]"), the role's options, the image
 * and the command split into words. Returns 0, or -1 with e set (a cmd that
 * does not split).
 */
int app_run_argv(struct strvec *argv, const struct config *cfg, const struct config_role *role,
		 const struct app_run *r, struct err *e);

/*
 * The argv of `docker exec berth-proxy berth-proxy deploy ...` that
 * switches role's proxy service to target ("container:port") with the
 * role's proxy settings as Kamal passes them to kamal-proxy (hosts, every
 * path prefix, health check, timeouts, buffering, logged headers).
 * issuer ("HOST:PORT", see app_proxy_tls_issuer) makes this host a
 * follower of the issuer's certificate: --tls-issuer and
 * --tls-secret-stdin, the secret read from stdin; NULL: the host orders its
 * own (ACME) or serves the one from secrets.
 */
void app_proxy_deploy_argv(struct strvec *argv, const struct config *cfg,
			   const struct config_role *role, const char *target, const char *issuer);
/*
 * The same with several targets (a role's instances): the proxy checks them
 * all and switches to them at once, balancing over them. targets->nr >= 1.
 */
void app_proxy_deploy_argv_targets(struct strvec *argv, const struct config *cfg,
				   const struct config_role *role, const struct strvec *targets,
				   const char *issuer);
/*
 * The same for any proxy service: p's settings, the service's name (an
 * accessory's container name for its proxy: section, as Kamal names it).
 */
void app_proxy_service_argv(struct strvec *argv, const struct config *cfg,
			    const struct config_proxy *p, const char *service, const char *target,
			    const char *issuer);

/*
 * Whether role's hosts share one ACME certificate: proxy.ssl without a
 * certificate from secrets, on more than one host. The role's first host
 * (the issuer) orders it; the others follow it (berth-proxy's
 * --tls-issuer), with the secret that `app_proxy_tls_secret_argv` prints on
 * the issuer passed on their deploy's stdin.
 */
bool app_proxy_tls_shared(const struct config_role *role);
/* The issuer's host (role's first) and its proxy's plain-HTTP port, "HOST:PORT", appended. */
void app_proxy_tls_issuer(struct sbuf *out, const struct config *cfg,
			  const struct config_role *role);
/* `docker exec berth-proxy berth-proxy tls-secret SERVICE`: prints (and makes) the secret. */
void app_proxy_tls_secret_argv(struct strvec *argv, const struct config *cfg,
			       const struct config_role *role);

/*
 * Whether role's proxy serves a certificate of its own (proxy.ssl with
 * certificate_pem and private_key_pem): then the deploy command above reads
 * the certificate chain and the key from its stdin (--tls-certificate-stdin)
 * and berth-proxy stores them in its state directory, mode 0600, so they
 * never appear in an argv.
 */
bool app_proxy_tls_pem_needed(const struct config_role *role);
/*
 * Appends the PEM text that deploy reads then: the secret named by
 * certificate_pem, then the one named by private_key_pem. Returns 0, or -1
 * with e set when either secret is missing.
 */
int app_proxy_tls_pem(struct sbuf *out, const struct config_role *role, const struct secrets *sec,
		      struct err *e);

#endif
