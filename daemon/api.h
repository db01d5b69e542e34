/*
 * api — what berthd answers over HTTP (daemon/http.h): the first-run
 * set-up, the panel's JSON API (/api/v1) and the part of CapRover's
 * (/api/v2) that its CLI needs to log in and list apps.
 *
 *	GET  /up			200 "ok" (berth-proxy's health check)
 *	GET  /setup?token=T		the set-up form (HTML)
 *	POST /setup			form or JSON {token, name, password}: creates the
 *					first admin, burns the token, starts a session
 *	POST /api/v1/login		JSON {name, password, otp?}: a new session cookie
 *					(the one sent along ends), {user, role}
 *	POST /api/v1/logout		ends the session
 *	GET  /api/v1/me			{user, role, created, last_login, totp, apps,
 *					csrf_token (a session's)}
 *	GET  /api/v1/apps		the apps the user may read, with apps:report's and
 *					ps:report's --format json fields
 *	GET  /api/v1/apps/NAME		one app, its releases, env keys, last job
 *	POST /api/v1/apps		(admin) {name}: a new app
 *	POST /api/v1/apps/NAME/ACTION	rollback, env, domains, letsencrypt, scale,
 *					deploys: 202 {job}; DELETE .../domains/DOMAIN
 *	GET  /api/v1/jobs/ID?from=N	a job's state and output lines
 *					(these: daemon/apiapps.h)
 *	POST /api/v1/me/totp		{password}: a pending {secret, otpauth_uri}
 *	POST /api/v1/me/totp/confirm	{code}: TOTP on, {recovery_codes} shown once
 *	DELETE /api/v1/me/totp		{password, code}: TOTP off
 *	POST /api/v1/me/password	{old, new}: ends the user's other sessions
 *	POST /api/v1/tokens		{name, app?, role?}: a new API token, shown once
 *	GET  /api/v1/tokens		{tokens: [{name, created, last_used, app, role}]}
 *	DELETE /api/v1/tokens/NAME	revokes one
 *	POST /api/v1/users		(admin) JSON {name, password, role, apps}: a new user
 *	GET  /api/v1/users		(admin) {users: [{user, role, created, last_login, totp}]}
 *	PUT  /api/v1/users/NAME		(admin) {role?, apps?}: apps replaces the grants
 *	DELETE /api/v1/users/NAME	(admin) never the last admin
 *	POST /api/v2/login		CapRover: {password, otpToken?}: the first admin's
 *					session token in data.token
 *	GET  /api/v2/user/system/info	CapRover: rootDomain, captainSubDomain, ...
 *	GET  /api/v2/user/apps/appDefinitions	CapRover: the apps
 *	GET  /api/v1/oneclick/templates	the shipped one-click app templates
 *	POST /api/v1/oneclick/form	{template | yaml}: the form a template asks for
 *					(these and GET /oneclick: daemon/paneloneclick.h)
 *	GET  /login, /, /apps/NAME, /settings, /oneclick, /assets/NAME
 *					the panel's pages and assets (daemon/panel.h)
 *
 * Until the first admin exists every route but /up, /setup and /assets/ answers 403
 * with a message pointing at the set-up link (`berthd panel:setup-link`).
 *
 * Sessions: the cookie "berth_session" (HttpOnly, Secure, SameSite=Strict,
 * Path=/) for /api/v1, the header x-captain-auth for /api/v2; the same
 * berthd session tokens (daemon/users.h). /api/v1 also takes an API token
 * (Authorization: Bearer TOKEN): an app token sees its app only, with at
 * most its role and the user's; it cannot reach /me, /users, /tokens'
 * changes or a password. Bodies to /api/v1 must be JSON (Content-Type
 * application/json): a form of another site cannot send one.
 *
 * CSRF: a change (not GET) authenticated by the session cookie needs
 * X-CSRF-Token, the csrf_token of GET /api/v1/me (daemon/csrf.h, bound to
 * that session, the key random per process), and an Origin or Referer of
 * https://berth.ROOT or https://captain.ROOT; else 403.
 *
 * Logins (v1, v2, POST /setup): one process-wide loginguard (api.guard)
 * per client address and user name; while it waits, 429 with Retry-After
 * (v2: its envelope, status 1000) before any password is hashed. A wrong
 * password or code, or a wrong set-up token, counts; a login that only
 * lacks its second factor does not. A wrong password answers the same
 * whether the user exists or not, after the same work. A user with TOTP
 * gives a code (each step once: the last accepted step is stored first)
 * or a recovery code (used up); else 401 {"error", "otp_required": true}.
 *
 * /api/v2 answers HTTP 200 with CapRover's envelope {status, description,
 * data}: 100 success, 1105 wrong password or code, 1106 a missing,
 * invalid or expired token, 1102 not an admin, 1114 a second factor needed
 * (the CLI then asks for CAPROVER_OTP_TOKEN), 1111 a route berthd does
 * not have.
 *
 * Every change is an event (store.h) by "user:NAME" with "from ADDRESS",
 * never a secret:
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
	const char *job_program; /* what a job runs as `PROGRAM hook job ID`; NULL: berthd itself */
};

/* The route table; each route's data is the struct api. */
extern const struct http_route api_routes[];
extern const size_t api_nroutes;

#endif
