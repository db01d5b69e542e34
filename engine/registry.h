/*
 * registry — the container registry of config/deploy.yml: logging docker in
 * and out here and on the hosts, pushing the app's image from here and
 * pulling it there.
 *
 *	if (registry_configured(&cfg) &&
 *	    registry_login(&ex, hosts, n, &cfg, &sec, &e) == 0 &&
 *	    registry_pull(&ex, hosts, n, ref, &e) == 0)
 *		...
 *
 * The password (registry.password, or the secret it names when it is given
 * as a list: `password: [KAMAL_REGISTRY_PASSWORD]`) reaches `docker login` on
 * its stdin (--password-stdin), never in argv, here or on a host. No message
 * quotes it; command output is redacted before it is shown.
 *
 * Functions that act on several hosts run them in parallel and go on when one
 * fails; e then names every host that failed and why, one per line.
 *
 * A local registry (Kamal 2's): registry.server "localhost:PORT" is a
 * registry container that berth runs
 * on this machine, `berth-docker-registry` (Kamal's is kamal-docker-registry:
 * both can live side by side), publishing 127.0.0.1:PORT. There is nothing to
 * log in to: registry_login_local makes sure the container runs, and
 * registry_login on hosts does nothing. A host pulls through an ssh remote
 * forward of its own 127.0.0.1:PORT to this machine's, held by the very ssh
 * command that runs `docker pull` (registry_pull), so the registry is never
 * reachable from anywhere else and nothing is left open afterwards.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/config.h"
#include "engine/exec.h"
#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/strvec.h"

/*
 * Whether images go through a registry: the config names one to log in to
 * (registry.username is set), or a local one (registry_local).
 */
bool registry_configured(const struct config *cfg);

/* The container of the local registry, and the image it runs (BERTH_REGISTRY_IMAGE wins). */
#define REGISTRY_LOCAL_CONTAINER "berth-docker-registry"
#define REGISTRY_LOCAL_IMAGE	 "registry:3"

/*
 * The port of a local registry: registry.server is "localhost:PORT", as
 * Kamal has it (not 127.0.0.1: Kamal takes that for a registry to log in
 * to, and pulls through it would meet whatever listens on the hosts' own
 * 127.0.0.1). 0 when the registry is not local.
 */
unsigned registry_local_port(const struct config_registry *r);
static inline bool registry_local(const struct config *cfg)
{
	return registry_local_port(&cfg->registry) != 0;
}

/* The image the local registry runs: $BERTH_REGISTRY_IMAGE, else REGISTRY_LOCAL_IMAGE. */
const char *registry_local_image(void);

/*
 * The argv that makes sure the local registry runs on this machine (pure):
 *	sh -c SCRIPT berth-registry CONTAINER IMAGE PORT
 * The script starts a stopped container, runs a new one
 *	docker run --detach --restart unless-stopped -p 127.0.0.1:PORT:5000
 *	    --name CONTAINER --label berth.registry=PORT IMAGE
 * when there is none, and prints one word: "running", "started" or "created";
 * a container that publishes another port is refused ("port OTHER", exit 3).
 */
void registry_setup_argv(struct strvec *argv, unsigned port, const char *image);
/* The same for removal: "removed" or "absent". */
void registry_remove_argv(struct strvec *argv);

/*
 * Makes sure the local registry container runs here; *what (may be NULL)
 * gets "running", "started" or "created". Returns 0, or -1 with e set.
 */
int registry_setup_local(const struct config *cfg, const char **what, struct err *e);
/* Stops and removes it; *removed (may be NULL) says whether there was one. Returns 0 or -1. */
int registry_remove_local(bool *removed, struct err *e);

/*
 * Rewrites an ssh argv from exec_prepare so that it holds a remote forward
 * of the host's 127.0.0.1:port to this machine's while its command runs:
 *	ssh -o ControlMaster=no -o ControlPath=none -o ExitOnForwardFailure=yes
 *	    -R 127.0.0.1:PORT:127.0.0.1:PORT ...the rest as it was
 * (its own connection: a forward asked through a shared master outlives
 * the command). An argv that is not ssh's is left as it is.
 */
void registry_forward_argv(struct strvec *argv, unsigned port);

/*
 * The username and password of r: the values, or the secrets they name
 * (owned by sec). Returns 0, or -1 with e set: no username, or a named
 * secret missing from sec (NULL sec: every secret is missing).
 */
int registry_credentials(const struct config_registry *r, const struct secrets *sec,
			 const char **user, const char **password, struct err *e);

/* `docker login [SERVER] -u USER --password-stdin` (no server: Docker Hub). */
void registry_login_argv(struct strvec *argv, const char *server, const char *user);
/* `docker logout [SERVER]`. */
void registry_logout_argv(struct strvec *argv, const char *server);

/*
 * docker login on this machine; for a local registry, registry_setup_local.
 * Returns 0, or -1 with e set.
 */
int registry_login_local(const struct config *cfg, const struct secrets *sec, struct err *e);
/* docker login on hosts[0..n) through ex (nothing for a local registry). Returns 0 or -1. */
int registry_login(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   const struct secrets *sec, struct err *e);

/* docker login on hosts[0..n) with registry r (an accessory's own). Returns 0 or -1. */
int registry_login_hosts(struct exec *ex, const char *const *hosts, size_t n,
			 const struct config_registry *r, const struct secrets *sec, struct err *e);

/* docker logout here, or on the hosts. Returns 0, or -1 with e set. */
int registry_logout_local(const struct config *cfg, struct err *e);
int registry_logout(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		    struct err *e);

/*
 * `docker pull image_ref` on the hosts; an image of a local registry
 * ("localhost:PORT/...") through the forward of registry_forward_argv.
 * Returns 0, or -1 with e set.
 */
int registry_pull(struct exec *ex, const char *const *hosts, size_t n, const char *image_ref,
		  struct err *e);
/* The port of a local registry that image_ref names ("localhost:PORT/NAME..."), else 0. */
unsigned registry_ref_local_port(const char *image_ref);
/*
 * `docker push image_ref` from this machine; docker's output is shown at log
 * level debug (-v), else kept for e. An image the build pushed itself
 * (registry_note_pushed: docker buildx to a registry) is not pushed again.
 * Returns 0, or -1 with e set.
 */
int registry_push_local(const char *image_ref, struct err *e);
/* Notes that image_ref is in its registry already, pushed by the build (for this process). */
void registry_note_pushed(const char *image_ref);

#endif
