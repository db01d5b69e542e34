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

/* Whether the config names a registry to log in to (registry.username is set). */
bool registry_configured(const struct config *cfg);

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

/* docker login on this machine. Returns 0, or -1 with e set. */
int registry_login_local(const struct config *cfg, const struct secrets *sec, struct err *e);
/* docker login on hosts[0..n) through ex. Returns 0, or -1 with e set. */
int registry_login(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   const struct secrets *sec, struct err *e);

/* docker logout here, or on the hosts. Returns 0, or -1 with e set. */
int registry_logout_local(const struct config *cfg, struct err *e);
int registry_logout(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		    struct err *e);

/* `docker pull image_ref` on the hosts. Returns 0, or -1 with e set. */
int registry_pull(struct exec *ex, const char *const *hosts, size_t n, const char *image_ref,
		  struct err *e);
/*
 * `docker push image_ref` from this machine; docker's output is shown at log
 * level debug (-v), else kept for e. Returns 0, or -1 with e set.
 */
int registry_push_local(const char *image_ref, struct err *e);

#endif
