/*
 * api — what berthd answers over HTTP (daemon/http.h): the first-run
 * set-up, the panel's JSON API (/api/v1) and the part of CapRover's
 * (/api/v2) that its CLI needs to log in and list apps.
 *
 *	GET  /up			200 "ok" (berth-proxy's health check)
 *	GET  /setup?token=T		the set-up form (HTML)
 *	POST /setup			form or JSON {token, name, password}: creates the
 *					first admin, burns the token, starts a session
 *	POST /api/v1/login		JSON {name, password}: session cookie, {user, role}
 *	POST /api/v1/logout		ends the session
 *	GET  /api/v1/me			{user, role, created, last_login, apps}
 *	GET  /api/v1/apps		the apps the user may read, with apps:report's and
 *					ps:report's --format json fields
 *	POST /api/v1/users		(admin) JSON {name, password, role, apps}: a new user
 *	POST /api/v2/login		CapRover: {password, otpToken?}: the first admin's
 *					session token in data.token
 *	GET  /api/v2/user/system/info	CapRover: rootDomain, captainSubDomain, ...
 *	GET  /api/v2/user/apps/appDefinitions	CapRover: the apps
 *
 * Until the first admin exists every route but /up and /setup answers 403
 * with a message pointing at the set-up link (`berthd panel:setup-link`).
 *
 * Sessions: the cookie "berth_session" (HttpOnly, Secure, SameSite=Strict,
 * Path=/) for /api/v1, the header x-captain-auth for /api/v2; the same
 * berthd session tokens (daemon/users.h). POSTs to /api/v1 must be JSON
 * (Content-Type application/json): a form of another site cannot send one.
 * A wrong password answers the same whether the user exists or not, after
 * the same work. /api/v2 answers HTTP 200 with CapRover's envelope
 * {status, description, data}: 100 success, 1105 wrong password, 1106 a
 * missing, invalid or expired token, 1102 not an admin, 1114 a second
 * factor needed (a user with a TOTP secret: refused until TOTP is checked
 * here), 1111 a route berthd does not have.
 *
 * Every change is an event (store.h) by "user:NAME" with "from ADDRESS":
 * the client's address as berth-proxy sets it (the last X-Forwarded-For
 * entry), else the peer's.
 */
#ifndef API_H
#define API_H

#include <stddef.h>

#include "daemon/csrf.h"
#include "daemon/http.h"
#include "daemon/loginguard.h"

struct api {
	const char *state_dir;		      /* where berthd.db is */
	struct loginguard *guard;	      /* the process's login backoff; NULL: none */
	unsigned char csrf_key[CSRF_KEY_LEN]; /* the process's CSRF key (csrf_key_new) */
};

/* The route table; each route's data is the struct api. */
extern const struct http_route api_routes[];
extern const size_t api_nroutes;

#endif
