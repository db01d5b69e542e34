/*
 * apictx — what every handler of berthd's HTTP side (daemon/api.h) starts
 * and ends with: the store opened for the request, the client's address,
 * the user of the request (a session cookie or an API token, with the
 * CSRF check on changes), and the small answers and readings the JSON API
 * and the panel share.
 *
 * A handler opens (apictx_open_setup: 403 until berthd is set up), checks
 * the user (apictx_auth), does its work and closes (apictx_close), every
 * refusal answered on resp already. Internal to daemon/.
 */
#ifndef APICTX_H
#define APICTX_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon/http.h"
#include "daemon/store.h"
#include "lib/err.h"
#include "lib/strvec.h"

struct api;

/* The session cookie (HttpOnly, Secure, SameSite=Strict, Path=/). */
#define APICTX_COOKIE "berth_session"
#define APICTX_NOT_SET_UP                                                                          \
	"berthd is not set up yet: open the one-time set-up link that `berthd panel:setup-link` "  \
	"prints on the server (or `berth server bootstrap --daemon --root-domain DOMAIN`)"

/* The request's state: the store open, and whether berthd is set up. */
struct apictx {
	struct store store;
	int have_admin;
	char from[64]; /* the client's address (the last X-Forwarded-For, berth-proxy's) */
	struct err e;
	const struct api *api;
	/* set by apictx_auth(): the API token the request came with (name NULL: a session) */
	struct store_token tok;
};

/* What a route needs of the request's credentials (apictx_auth()). */
enum apictx_flags {
	APICTX_CHANGE = 1 << 0,	      /* a change: a session needs the CSRF token and Origin */
	APICTX_NO_APP_TOKEN = 1 << 1, /* about the user, not an app: an app token is refused */
	APICTX_SESSION = 1 << 2,      /* only a session (a password's business), no API token */
};

/* Answers {"error": msg} with status. */
void apictx_fail(struct http_response *resp, int status, const char *msg);

/* Opens the store (data: the struct api): 0, or -1 with resp answered (500). */
int apictx_open(struct apictx *c, const struct http_request *req, struct http_response *resp,
		void *data);
/* As apictx_open, and refuses (403) while berthd is not set up. */
int apictx_open_setup(struct apictx *c, const struct http_request *req, struct http_response *resp,
		      void *data);
void apictx_close(struct apictx *c);

/*
 * The user of the request: an API token (Authorization: Bearer) or the
 * session cookie, as flags (enum apictx_flags) allow. 1 (u filled; c->tok
 * set for a token), 0 (answered 401/403), -1 (answered 500).
 */
int apictx_auth(struct apictx *c, const struct http_request *req, struct http_response *resp,
		struct store_user *u, unsigned flags);
/* As apictx_auth, and only an admin (else 403); never an app token. */
int apictx_auth_admin(struct apictx *c, const struct http_request *req, struct http_response *resp,
		      struct store_user *u, unsigned flags);

/* An audit event "user:USER APP ACTION [WHAT ]from ADDR" (a failure is logged). */
void apictx_event(struct apictx *c, const char *user, const char *app, const char *action,
		  const char *what);

/* The root domain (setting global-domain), malloc'd; NULL when none. */
char *apictx_root_domain(struct apictx *c);

/* A POST's JSON object body: NULL with resp answered (415 or 400). */
json_t *apictx_json_body(const struct http_request *req, struct http_response *resp);

/* t (seconds since the epoch) as 2006-01-02T15:04:05Z. */
void apictx_iso_time(long long t, char *buf, size_t len);

/* The apps u may read; roles[i] is u's role on apps[i] ("admin" for an admin). 0 or -1 (c->e). */
int apictx_readable_apps(struct apictx *c, const struct store_user *u, struct strvec *apps,
			 struct strvec *roles);
/* What an app token (c->tok.app) leaves of apps and roles: its app, at most its role. */
void apictx_token_limit(struct apictx *c, struct strvec *apps, struct strvec *roles);

/*
 * One app as apps:report --format json and ps:report --format json
 * describe it; NULL when it does not exist (or with c->e set on an error).
 */
json_t *apictx_app_json(struct apictx *c, const char *name);
/* The apps of names, with "role": roles[i] when roles is given; NULL with c->e set. */
json_t *apictx_apps_json(struct apictx *c, const struct strvec *names, const struct strvec *roles);

/* The NAME of PREFIX/NAME in the request's path, or NULL when the path is not that. */
const char *apictx_path_name(const struct http_request *req, const char *prefix);

#endif
