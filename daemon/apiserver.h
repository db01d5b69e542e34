/*
 * apiserver — the JSON API of the server itself, for admins (daemon/api.c's
 * table), and the host's check that it and the dashboard read:
 *
 *	GET    /api/v1/server			{domain (the root domain, or null), doctor
 *						(the last check of the host, or null when none
 *						ran yet), keys [{name, fingerprint, admin,
 *						rights {APP: "deploy" | "read"}}]}
 *	POST   /api/v1/server/doctor		checks the host now, in the background: 202
 *						{started: true, checked_at: the last check's, or
 *						null}; GET /api/v1/server shows the new one when
 *						its checked_at changes
 *	PUT    /api/v1/server/domain		{domain}: as domains:set-global; 200 {domain,
 *						panel (its new address), note}
 *	POST   /api/v1/server/keys		{name, key (one public key line), admin (bool,
 *						default false)}: as ssh-keys:add; 201 {name,
 *						fingerprint, admin}; 409 when the name is taken
 *	DELETE /api/v1/server/keys/NAME		as ssh-keys:remove
 *	POST   /api/v1/server/keys/NAME/grants	{app, right: "deploy" | "read"}: as
 *						ssh-keys:grant NAME APP RIGHT
 *	DELETE /api/v1/server/keys/NAME/grants/APP	as ssh-keys:revoke NAME APP
 *
 * Who: an admin user (any other user 403, an app token 403), and for a
 * change from a session the CSRF token and Origin (daemon/apictx.h). A body
 * that is not a JSON object, or a field missing or of the wrong kind, or a
 * value the SSH command would refuse (the same check: daemon/berthd.h's
 * bd_key_*, bd_domains_set_global) answers 400 naming what was expected; a
 * key or app that does not exist 404; nothing is changed then. Every
 * change is an audit event (who and from where, names only; never a key's
 * line).
 *
 * The domain: apps without domains of their own are reached as
 * APP.DOMAIN from their next deploy (a release carries its routes); the
 * panel moves to berth.DOMAIN at once when berthd routes it itself
 * (BERTHD_PANEL_ROUTE=1, as domains:set-global does): the route is
 * re-registered by a child, `berthd hook panel-route`, never on the
 * request's thread.
 *
 * The host's check. `berthd hook doctor` runs doctor's probe (cmd-doctor.c:
 * bd_doctor_probe, seconds long) and writes STATE/APISERVER_DOCTOR_FILE
 * (0644, whole or not at all; it holds no secret): `berthd doctor --format
 * json`'s report of the host ({host, status, checks [{name, status ("ok",
 * "warn" or "fail"), detail}]}) with checked_at (UTC, ISO 8601) in front.
 * berthd serve keeps one running that checks every --doctor-interval
 * seconds (APISERVER_DOCTOR_INTERVAL by default); POST .../doctor starts
 * one with --once. Runs take turns (a lock on STATE/doctor.lock).
 */
#ifndef APISERVER_H
#define APISERVER_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon/http.h"
#include "lib/err.h"

#define APISERVER_DOCTOR_FILE	      "doctor.json"
#define APISERVER_DOCTOR_INTERVAL     600   /* seconds between checks of the host by default */
#define APISERVER_DOCTOR_MAX_INTERVAL 86400 /* at most a day */

/* The handlers (their data is the struct api). */
void apiserver_h_server(const struct http_request *req, struct http_response *resp, void *data);
void apiserver_h_doctor(const struct http_request *req, struct http_response *resp, void *data);
void apiserver_h_domain(const struct http_request *req, struct http_response *resp, void *data);
void apiserver_h_key_add(const struct http_request *req, struct http_response *resp, void *data);
void apiserver_h_grant(const struct http_request *req, struct http_response *resp, void *data);
void apiserver_h_key_delete(const struct http_request *req, struct http_response *resp, void *data);

/*
 * The key's name of the path /api/v1/server/keys/NAME (want_grants false),
 * or of .../NAME/grants (app NULL) or .../NAME/grants/APP (APP into app),
 * %HH escapes decoded, into name: whether the path is that (a segment
 * empty, a broken escape or one that decodes to a control byte or '/' is
 * not). Untrusted input: tests/fuzz/fuzz-apiserver.c.
 */
struct sbuf;
bool apiserver_key_path(const char *path, bool want_grants, struct sbuf *name, struct sbuf *app);

/* A doctor interval, "off" (0: none) or "10" to "86400" seconds, into *out: 0, or -1 (e set). */
int apiserver_doctor_interval_parse(const char *s, unsigned *out, struct err *e);

/*
 * The last check of the host, from state_dir's APISERVER_DOCTOR_FILE:
 * {checked_at, status, checks [{name, status, detail}]} with only those
 * fields, checked (a check of another shape is left out); NULL when there
 * is none (no file yet) or e set when it cannot be read.
 */
json_t *apiserver_doctor_load(const char *state_dir, struct err *e);

/*
 * `berthd hook doctor [--interval SECONDS | --once]`: checks the host and
 * writes the file, once, or every interval seconds until it is stopped
 * (SIGTERM, or its parent gone). 0, or 1 (a failure, printed).
 */
int apiserver_hook_doctor(const char *state_dir, unsigned interval, bool once);

#endif
