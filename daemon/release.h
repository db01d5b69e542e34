/*
 * release — berthd's way into the release engine: puts an app described by
 * berthd's records on this host with engine/deploy.h, through the local
 * executor (berthd runs on the server), and berth-proxy on the same host.
 * Push to deploy, SSH commands (config:set, ps:scale, releases:rollback) and
 * the panel all end here, so they switch traffic exactly as `berth deploy`
 * does: health-gated, zero failed requests, the old version serving when
 * anything fails.
 *
 * An app of berthd is one engine "service" named after the app, one role per
 * process type (Procfile): "web" is the primary role, behind berth-proxy,
 * with PORT set; the others run without the proxy. Config vars are the
 * roles' secret env (a 0600 env file written from memory, never in argv).
 *
 * Progress and errors go to the progress callback as lines for people; a
 * push shows them to the pusher.
 *
 * How a spec becomes the engine's config: the tree that config/deploy.yml
 * would give is made from the spec and read by the engine's own loader
 * (config_from_yaml), so every default and check is `berth deploy`'s:
 *   service      the app; image: spec->image without its ":<version>" tag,
 *                which must be spec->version (the image is in this host's
 *                dockerd: no registry, and nothing is sent)
 *   servers      one role per instance of a process type with scale > 0, on
 *                the one host "localhost": TYPE, TYPE-2, ... TYPE-N; but web
 *                is one role with instances: N (engine/config.h), N
 *                containers behind berth-proxy that the engine switches to
 *                at once (containers APP-web-V, APP-web.2-V, ...)
 *   web          primary, proxy {hosts: domains, app_port: port (5000 when 0),
 *                healthcheck: {path: check.path or "/", interval: check.wait_s,
 *                timeout: check.timeout_s}, ssl: true (ssl_acme) or
 *                {certificate_pem: RELEASE_TLS_CERT, private_key_pem:
 *                RELEASE_TLS_KEY} (a certificate)}, env PORT=port unless a config
 *                var sets PORT; without web the first process type that runs
 *                is primary; the others have no proxy
 *   env          the config vars, as secrets: the role's env file, mode 0600
 *   timeouts     deploy_timeout = attempts * (wait + timeout) when attempts
 *                is set; readiness_delay (how long a role without the proxy
 *                must run to count as started) = uptime when set
 *   run_directory  state_dir + "/run" (absolute)
 *   release_command  release_cmd
 *   options      every role: memory and cpus (resource:limit) as docker's
 *                --memory and --cpus
 *   volumes      mounts (storage:mount), on every role
 *   options      network-alias: aliases, on every role (names on berth)
 *   readiness_delay  0 when no_uptime (checks:disable of the types without
 *                the proxy: they count as started once they run); web's
 *                switch is always gated by berth-proxy's health check
 * predeploy runs before the engine starts (a failure: nothing changed),
 * release_cmd inside it before the switch, postdeploy after the switch (a
 * failure: the error says that the new version serves); each once, in a
 * one-off container of the new image with the primary role's env, its
 * command split into words (engine/app.h: no shell reads it). No hooks run.
 * Both functions need berth-proxy's image (berth-proxy:VERSION) in this
 * host's dockerd: without it the error says so.
 */
#ifndef RELEASE_H
#define RELEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/strvec.h"

/* The secrets that carry a certs:add certificate and key to berth-proxy. */
#define RELEASE_TLS_CERT "BERTHD_TLS_CERTIFICATE_PEM"
#define RELEASE_TLS_KEY	 "BERTHD_TLS_PRIVATE_KEY_PEM"

/* One process type: a Procfile line. */
struct release_proc {
	const char *type; /* "web", "worker", ... */
	const char *cmd;  /* NULL: the image's own command */
	unsigned scale;	  /* 0: not running */
};

/* app.json's healthchecks for web (Dokku's names); zeros: berth's defaults. */
struct release_check {
	const char *path; /* NULL: "/up" as berth-proxy's default, or "/" */
	unsigned attempts, wait_s, timeout_s, uptime_s;
};

struct release_spec {
	const char *app;		/* the app's name: [a-z][a-z0-9-]* */
	const char *image;		/* the image to run, present in the host's dockerd */
	const char *version;		/* the version label: [A-Za-z0-9_.-] */
	const struct strvec *env_names; /* config vars: names and values, in the same order */
	const struct strvec *env_values;
	const struct strvec *domains; /* hosts routed to web by berth-proxy */
	const struct release_proc *procs;
	size_t nprocs;
	struct release_check check;
	const char *release_cmd;     /* Procfile `release`: once, before the switch; NULL none */
	const char *predeploy;	     /* app.json scripts.dokku.predeploy; NULL none */
	const char *postdeploy;	     /* app.json scripts.dokku.postdeploy; NULL none */
	const char *state_dir;	     /* where the engine's run directory lives on this host */
	const char *memory;	     /* resource:limit --memory, docker's syntax; NULL: none */
	const char *cpus;	     /* resource:limit --cpu; NULL: none */
	const struct strvec *mounts; /* storage:mount "HOST:CONTAINER"; NULL: none */
	/* more names of every role's containers on the network berth, from their start
	 * (docker run --network-alias); NULL: none */
	const struct strvec *aliases;
	bool no_uptime; /* checks:disable of the types without the proxy */
	unsigned port;	/* web's container port (daemon/ports.h); 0: 5000 */
	/*
	 * TLS of web (needs domains): ssl_acme, berth-proxy's ACME certificate
	 * (proxy.ssl: true); else ssl_certificate_pem and ssl_private_key_pem,
	 * that certificate (proxy.ssl: {certificate_pem, private_key_pem},
	 * secrets RELEASE_TLS_CERT and RELEASE_TLS_KEY: on stdin to the proxy,
	 * never in argv); neither: plain HTTP.
	 */
	bool ssl_acme;
	const char *ssl_certificate_pem, *ssl_private_key_pem;
	void (*progress)(const char *line, void *data);
	void *progress_data;
};

/* How many containers of p run: its scale. */
unsigned release_instances(const struct release_proc *p);

/* The engine role of instance (1-based) of type: "worker", "worker-2", ... */
char *release_role_name(const char *type, unsigned instance);

/* Whether role (a container's role label) is an instance of type. */
bool release_role_is(const char *role, const char *type);

/*
 * Deploys spec: the new version serves when this returns 0; -1 with e set
 * (the new container's last lines and the checks' answers in it) and the
 * old version still serving otherwise.
 */
int release_deploy(const struct release_spec *spec, struct err *e);

/*
 * Starts an earlier version of spec->app again (spec->version), through the
 * proxy, as `berth rollback` does: 0, or -1 with e set.
 */
int release_rollback(const struct release_spec *spec, struct err *e);

#endif
