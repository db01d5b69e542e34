/* api — see api.h. */
#include "daemon/api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/apicharts.h"
#include "daemon/apiapps.h"
#include "daemon/apioneclick.h"
#include "daemon/apictx.h"
#include "daemon/apidata.h"
#include "daemon/apilogs.h"
#include "daemon/apiserver.h"
#include "daemon/capdeploy.h"
#include "daemon/csrf.h"
#include "daemon/loginguard.h"
#include "daemon/panel.h"
#include "daemon/paneloneclick.h"
#include "daemon/store.h"
#include "daemon/totp.h"
#include "daemon/users.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

/* CapRover's answer codes (its CLI's ErrorFactory). */
enum cap_status {
	CAP_OK = 100,
	CAP_NOT_AUTHORIZED = 1102,
	CAP_WRONG_PASSWORD = 1105,
	CAP_TOKEN_INVALID = 1106,
	CAP_ILLEGAL_PARAMETER = 1110,
	CAP_NOT_FOUND = 1111,
	CAP_OTP_REQUIRED = 1114,
	CAP_GENERIC = 1000,
};

static void set_cookie(struct http_response *resp, const char *token)
{
	http_add_header(resp,
			"Set-Cookie: " APICTX_COOKIE
			"=%s; HttpOnly; Secure; SameSite=Strict; Path=/; "
			"Max-Age=%d",
			token, STORE_SESSION_MAX_S);
}

static json_t *user_json(const struct store_user *u)
{
	return json_pack("{ssss}", "user", u->name, "role", u->role);
}

/* Whether the login guard lets the client (and user, may be NULL) try now; else answered 429. */
static bool guard_check(struct apictx *c, const char *user, struct http_response *resp, bool cap)
{
	unsigned wait = 0;

	if (!c->api->guard ||
	    loginguard_check(c->api->guard, c->from, user, (int64_t)time(NULL), &wait)) {
		return true;
	}
	if (cap) {
		struct sbuf d = SBUF_INIT;
		sbuf_addf(&d, "Too many failed logins: try again in %u seconds", wait);
		http_reply_json(resp, 429,
				json_pack("{si ss so}", "status", 1000, "description", d.buf,
					  "data", json_object()));
		sbuf_release(&d);
	} else {
		apictx_fail(resp, 429, "too many failed logins: try again later (Retry-After)");
	}
	http_add_header(resp, "Retry-After: %u", wait);
	return false;
}

static void guard_result(struct apictx *c, const char *user, bool ok)
{
	if (!c->api->guard) {
		return;
	}
	if (ok) {
		loginguard_ok(c->api->guard, c->from, user, (int64_t)time(NULL));
	} else {
		loginguard_fail(c->api->guard, c->from, user, (int64_t)time(NULL));
	}
}

/* ---- /up and /setup ---- */

static void h_up(const struct http_request *req, struct http_response *resp, void *data)
{
	(void)req;
	(void)data;
	http_reply(resp, 200, "text/plain; charset=utf-8", "ok\n");
}

static void setup_page(struct http_response *resp, int status, const char *token, const char *msg)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addstr(&sb, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			 "<title>berth: set-up</title></head><body><main>\n"
			 "<h1>Set up berth</h1>\n");
	if (msg) {
		sbuf_addstr(&sb, "<p role=\"alert\">");
		sbuf_add_markup(&sb, msg);
		sbuf_addstr(&sb, "</p>\n");
	}
	if (token) {
		sbuf_addstr(&sb, "<form method=\"post\" action=\"/setup\">\n"
				 "<input type=\"hidden\" name=\"token\" value=\"");
		sbuf_add_markup(&sb, token);
		sbuf_addf(
		    &sb,
		    "\">\n<p><label for=\"name\">Admin user name</label>\n"
		    "<input id=\"name\" name=\"name\" required autocomplete=\"username\"></p>\n"
		    "<p><label for=\"password\">Password (at least %d characters)</label>\n"
		    "<input id=\"password\" name=\"password\" type=\"password\" required "
		    "minlength=\"%d\" autocomplete=\"new-password\"></p>\n"
		    "<p><button type=\"submit\">Create the admin</button></p>\n</form>\n",
		    USERS_PASSWORD_MIN, USERS_PASSWORD_MIN);
	}
	sbuf_addstr(&sb, "</main></body></html>\n");
	http_reply(resp, status, "text/html; charset=utf-8", sb.buf);
	http_add_header(resp, "Content-Security-Policy: default-src 'none'; form-action 'self'; "
			      "frame-ancestors 'none'");
	sbuf_release(&sb);
}

static void h_setup_get(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	char *token = NULL;

	if (apictx_open(&c, req, resp, data) < 0) {
		goto out;
	}
	if (c.have_admin) {
		setup_page(resp, 403, NULL, "berth is set up already: log in.");
		goto out;
	}
	token = http_form_get(req->query, strlen(req->query), "token");
	if (!token || !*token) {
		setup_page(resp, 400, NULL,
			   "This page needs the set-up link's token: run `berthd panel:setup-link` "
			   "on the server for a new link.");
		goto out;
	}
	setup_page(resp, 200, token, NULL);
out:
	free(token);
	apictx_close(&c);
}

/* A field of a form or JSON body (malloc'd), NULL when absent. */
static char *field(const struct http_request *req, json_t *j, const char *name)
{
	if (j) {
		const char *v = json_string_value(json_object_get(j, name));
		return v ? xstrdup(v) : NULL;
	}
	return http_form_get(req->body, req->body_len, name);
}

static void h_setup_post(const struct http_request *req, struct http_response *resp, void *data)
{
	bool is_json = http_is_type(req, "application/json");
	json_t *j = NULL;
	struct apictx c;
	struct store_user u = {0};
	char *token = NULL, *name = NULL, *pw = NULL, *hash = NULL;
	char h[USERS_TOKEN_HEX + 1], session[USERS_TOKEN_HEX + 1];
	long long now = (long long)time(NULL);
	const char *bad = NULL;
	int status = 400, r;

	if (apictx_open(&c, req, resp, data) < 0 || !guard_check(&c, NULL, resp, false)) {
		goto out;
	}
	if (is_json && !(j = http_body_json(req))) {
		bad = "expected a JSON object as the body";
		goto refuse;
	}
	if (!is_json && !http_is_type(req, "application/x-www-form-urlencoded")) {
		status = 415;
		bad = "expected a form or a JSON body";
		goto refuse;
	}
	token = field(req, j, "token");
	name = field(req, j, "name");
	pw = field(req, j, "password");
	if (c.have_admin) {
		status = 403;
		bad = "berth is set up already: log in";
	} else if (!token || !*token) {
		bad = "token: expected the set-up link's token";
	} else if (!name || !users_valid_name(name)) {
		bad =
		    "name: expected a user name of lowercase letters, digits and . _ @ - (at most "
		    "64)";
	} else if (!pw || strlen(pw) < USERS_PASSWORD_MIN) {
		bad = "password: expected at least 12 characters";
	}
	if (bad) {
		goto refuse;
	}
	/* the slow part outside the transaction, so that it holds the store's lock briefly */
	if (users_hash(pw, &hash, &c.e) < 0) {
		goto fail;
	}
	users_token_hash(token, h);
	if (store_begin(&c.store, &c.e) < 0) {
		goto fail;
	}
	r = store_setup_token_use(&c.store, h, now, &c.e);
	if (r == 0) {
		store_rollback(&c.store);
		guard_result(&c, NULL, false);
		status = 403;
		bad = "invalid, used or expired set-up token: run `berthd panel:setup-link` on the "
		      "server for a new link";
		goto refuse;
	}
	if (r < 0 || (r = users_have_admin(&c.store, &c.e)) < 0) {
		store_rollback(&c.store);
		goto fail;
	}
	if (r > 0) {
		store_rollback(&c.store);
		status = 403;
		bad = "berth is set up already: log in";
		goto refuse;
	}
	if (store_user_add(&c.store, name, hash, "admin", now, &c.e) < 0 ||
	    users_session_start(&c.store, name, now, session, &c.e) < 0 ||
	    store_commit(&c.store, &c.e) < 0) {
		store_rollback(&c.store);
		goto fail;
	}
	guard_result(&c, NULL, true);
	apictx_event(&c, name, NULL, "panel:setup", NULL);
	set_cookie(resp, session);
	if (is_json) {
		u.name = name;
		u.role = (char *)"admin";
		http_reply_json(resp, 201, user_json(&u));
		u.name = u.role = NULL;
	} else {
		http_reply(resp, 303, "text/plain; charset=utf-8", "set up: go to /\n");
		http_add_header(resp, "Location: /");
	}
	goto out;
fail:
	log_error("http: %s", err_str(&c.e));
	apictx_fail(resp, 500, "cannot write berthd's records");
	goto out;
refuse:
	if (is_json) {
		apictx_fail(resp, status, bad);
	} else {
		setup_page(resp, status, status == 400 && token ? token : NULL, bad);
	}
out:
	json_decref(j);
	free(token);
	free(name);
	if (pw) {
		memset(pw, 0, strlen(pw));
	}
	free(pw);
	free(hash);
	apictx_close(&c);
}

/* ---- /api/v1 ---- */

static void h_login(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	char token[USERS_TOKEN_HEX + 1], *old = NULL;
	const char *name, *pw, *otp;
	long long now = (long long)time(NULL);
	json_t *j = NULL;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 || !(j = apictx_json_body(req, resp))) {
		goto out;
	}
	name = json_string_value(json_object_get(j, "name"));
	pw = json_string_value(json_object_get(j, "password"));
	otp = json_string_value(json_object_get(j, "otp"));
	if (!name || !pw) {
		apictx_fail(resp, 400, "expected {\"name\": ..., \"password\": ..., \"otp\": ...}");
		goto out;
	}
	/* while locked, not even the hash is computed */
	if (!guard_check(&c, name, resp, false)) {
		goto out;
	}
	r = users_login(&c.store, name, pw, otp, now, &u, &c.e);
	if (r == 0) {
		guard_result(&c, name, false);
		apictx_fail(resp, 401, "wrong user name or password");
		goto out;
	}
	if (r == USERS_LOGIN_OTP) {
		/*
		 * a wrong code counts; a missing one is the first half of every
		 * two-factor login and guesses nothing (nor does it clear a count)
		 */
		if (otp && *otp) {
			guard_result(&c, name, false);
		}
		http_reply_json(resp, 401,
				json_pack("{ss sb}", "error",
					  otp && *otp ? "wrong or already used one-time code"
						      : "this user needs a one-time code (otp): "
							"from the authenticator app, or a "
							"recovery code",
					  "otp_required", 1));
		goto out;
	}
	/* a new session id at every login; the one the client came with ends */
	old = http_cookie_get(req, APICTX_COOKIE);
	if (r < 0 || (old && users_session_end(&c.store, old, &c.e) < 0) ||
	    users_session_start(&c.store, u.name, now, token, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
		goto out;
	}
	guard_result(&c, name, true);
	apictx_event(&c, u.name, NULL, "panel:login", NULL);
	set_cookie(resp, token);
	http_reply_json(resp, 200, user_json(&u));
out:
	free(old);
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_logout(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	char *tok = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_SESSION) <= 0) {
		goto out;
	}
	tok = http_cookie_get(req, APICTX_COOKIE);
	if (users_session_end(&c.store, tok, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:logout", NULL);
	http_add_header(resp, "Set-Cookie: " APICTX_COOKIE
			      "=; HttpOnly; Secure; SameSite=Strict; Path=/; "
			      "Max-Age=0");
	http_reply_json(resp, 200, json_pack("{sb}", "logged_out", 1));
out:
	free(tok);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_me(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct strvec apps = STRVEC_INIT, roles = STRVEC_INIT;
	char created[32], last[32];
	struct sbuf csrf = SBUF_INIT;
	char *session = NULL;
	json_t *j, *a;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_NO_APP_TOKEN) <= 0) {
		goto out;
	}
	if (apictx_readable_apps(&c, &u, &apps, &roles) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		goto out;
	}
	apictx_iso_time(u.created, created, sizeof(created));
	apictx_iso_time(u.last_login, last, sizeof(last));
	j = user_json(&u);
	json_object_set_new(j, "created", json_string(created));
	json_object_set_new(j, "last_login", u.last_login ? json_string(last) : json_null());
	json_object_set_new(j, "totp", json_boolean(u.totp_secret != NULL));
	a = json_object();
	for (size_t i = 0; i < apps.nr; i++) {
		json_object_set_new(a, apps.v[i], json_string(roles.v[i]));
	}
	json_object_set_new(j, "apps", a);
	session = c.tok.name ? NULL : http_cookie_get(req, APICTX_COOKIE);
	if (session &&
	    csrf_token(&csrf, c.api->csrf_key, sizeof(c.api->csrf_key), session, "api") == 0) {
		json_object_set_new(j, "csrf_token", json_string(csrf.buf));
	}
	http_reply_json(resp, 200, j);
out:
	free(session);
	sbuf_release(&csrf);
	strvec_clear(&apps);
	strvec_clear(&roles);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_apps(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct strvec apps = STRVEC_INIT, roles = STRVEC_INIT;
	json_t *arr = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 || apictx_auth(&c, req, resp, &u, 0) <= 0) {
		goto out;
	}
	if (apictx_readable_apps(&c, &u, &apps, &roles) == 0) {
		apictx_token_limit(&c, &apps, &roles);
	}
	if (err_isset(&c.e) || !(arr = apictx_apps_json(&c, &apps, &roles))) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		goto out;
	}
	http_reply_json(resp, 200, json_pack("{so}", "apps", arr));
out:
	strvec_clear(&apps);
	strvec_clear(&roles);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_users_create(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0}, nu = {0};
	json_t *j = NULL, *apps, *v;
	const char *name, *pw, *role, *app;
	char *hash = NULL;
	struct sbuf what = SBUF_INIT;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_NO_APP_TOKEN) <= 0) {
		goto out;
	}
	if (strcmp(u.role, "admin")) {
		apictx_fail(resp, 403, "permission denied: only an admin creates users");
		goto out;
	}
	if (!(j = apictx_json_body(req, resp))) {
		goto out;
	}
	name = json_string_value(json_object_get(j, "name"));
	pw = json_string_value(json_object_get(j, "password"));
	role = json_string_value(json_object_get(j, "role"));
	apps = json_object_get(j, "apps");
	if (!role) {
		role = "user";
	}
	if (!name || !users_valid_name(name)) {
		apictx_fail(resp, 400,
			    "name: expected a user name of lowercase letters, digits and "
			    ". _ @ - (at most 64)");
		goto out;
	}
	if (!pw || strlen(pw) < USERS_PASSWORD_MIN) {
		apictx_fail(resp, 400, "password: expected at least 12 characters");
		goto out;
	}
	if (strcmp(role, "admin") && strcmp(role, "user")) {
		apictx_fail(resp, 400, "role: expected \"admin\" or \"user\"");
		goto out;
	}
	if (apps && !json_is_object(apps)) {
		apictx_fail(resp, 400,
			    "apps: expected an object {\"APP\": \"deployer\" | \"viewer\"}");
		goto out;
	}
	json_object_foreach(apps, app, v)
	{
		const char *ar = json_string_value(v);
		if (!ar || (strcmp(ar, "deployer") && strcmp(ar, "viewer"))) {
			apictx_fail(resp, 400,
				    "apps: each app's role is \"deployer\" or \"viewer\"");
			goto out;
		}
		if (!store_app_exists(&c.store, app)) {
			apictx_fail(resp, 400, "apps: no such app");
			goto out;
		}
	}
	if ((r = store_user_get(&c.store, name, &nu, &c.e)) != 0) {
		if (r > 0) {
			apictx_fail(resp, 409, "a user of that name exists already");
			goto out;
		}
		goto fail;
	}
	if (users_hash(pw, &hash, &c.e) < 0 || store_begin(&c.store, &c.e) < 0) {
		goto fail;
	}
	if (store_user_add(&c.store, name, hash, role, (long long)time(NULL), &c.e) < 0) {
		store_rollback(&c.store);
		if (strstr(err_str(&c.e), "already exists")) {
			apictx_fail(resp, 409, "a user of that name exists already");
			goto out;
		}
		goto fail;
	}
	json_object_foreach(apps, app, v)
	{
		if (store_user_app_set(&c.store, name, app, json_string_value(v), &c.e) < 0) {
			store_rollback(&c.store);
			goto fail;
		}
	}
	if (store_commit(&c.store, &c.e) < 0) {
		store_rollback(&c.store);
		goto fail;
	}
	sbuf_addf(&what, "%s (%s)", name, role);
	apictx_event(&c, u.name, NULL, "panel:users:create", what.buf);
	http_reply_json(resp, 201, json_pack("{ssss}", "user", name, "role", role));
	goto out;
fail:
	log_error("http: %s", err_str(&c.e));
	apictx_fail(resp, 500, "cannot write berthd's records");
out:
	json_decref(j);
	free(hash);
	sbuf_release(&what);
	store_user_release(&u);
	store_user_release(&nu);
	apictx_close(&c);
}

/* Wipes and frees a secret string. */
static void free_secret(char *p)
{
	if (p) {
		memset(p, 0, strlen(p));
	}
	free(p);
}

/* Whether pw is u's password (a hash's work); answers 403 when not. */
static bool password_again(struct apictx *c, const struct store_user *u, const char *pw,
			   struct http_response *resp)
{
	if (!pw || !users_verify(u->hash, pw)) {
		if (c->api->guard) {
			loginguard_fail(c->api->guard, c->from, u->name, (int64_t)time(NULL));
		}
		apictx_fail(resp, 403, "password: expected the user's current password");
		return false;
	}
	return true;
}

/* POST /api/v1/me/totp {password}: a pending secret. */
static void h_totp_begin(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf secret = SBUF_INIT, uri = SBUF_INIT, account = SBUF_INIT;
	char *root = NULL;
	json_t *j = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_SESSION) <= 0 ||
	    !(j = apictx_json_body(req, resp)) || !guard_check(&c, u.name, resp, false) ||
	    !password_again(&c, &u, json_string_value(json_object_get(j, "password")), resp)) {
		goto out;
	}
	if (u.totp_secret) {
		apictx_fail(resp, 409, "two-factor login is on already: turn it off first");
		goto out;
	}
	/* the account shows which server it is for: NAME@ROOT */
	root = apictx_root_domain(&c);
	sbuf_addf(&account, "%s@%s", u.name, root ? root : "berth");
	if (users_totp_begin(&c.store, u.name, "berth", account.buf, &secret, &uri, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:totp:begin", NULL);
	http_reply_json(
	    resp, 200,
	    json_pack("{ss ss sb}", "secret", secret.buf, "otpauth_uri", uri.buf, "pending", 1));
out:
	if (secret.len) {
		memset(secret.buf, 0, secret.len);
	}
	if (uri.len) {
		memset(uri.buf, 0, uri.len);
	}
	sbuf_release(&secret);
	sbuf_release(&uri);
	sbuf_release(&account);
	free(root);
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

/* POST /api/v1/me/totp/confirm {code}: TOTP on, recovery codes once. */
static void h_totp_confirm(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct totp_recovery rec;
	json_t *j = NULL, *codes;
	int r;

	memset(&rec, 0, sizeof(rec));
	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_SESSION) <= 0 ||
	    !(j = apictx_json_body(req, resp))) {
		goto out;
	}
	if (!u.totp_pending) {
		apictx_fail(resp, 409, "nothing to confirm: POST /api/v1/me/totp first");
		goto out;
	}
	r = users_totp_confirm(&c.store, &u, json_string_value(json_object_get(j, "code")),
			       (long long)time(NULL), &rec, &c.e);
	if (r == 0) {
		apictx_fail(resp, 400,
			    "code: expected the 6-digit code the authenticator app shows");
		goto out;
	}
	if (r < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
		goto out;
	}
	codes = json_array();
	for (size_t i = 0; i < TOTP_RECOVERY_N; i++) {
		json_array_append_new(codes, json_string(rec.code[i]));
	}
	apictx_event(&c, u.name, NULL, "panel:totp:enable", NULL);
	http_reply_json(resp, 200, json_pack("{sb so}", "totp", 1, "recovery_codes", codes));
out:
	memset(&rec, 0, sizeof(rec));
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

/* DELETE /api/v1/me/totp {password, code}: TOTP off. */
static void h_totp_disable(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	json_t *j = NULL;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_SESSION) <= 0 ||
	    !(j = apictx_json_body(req, resp)) || !guard_check(&c, u.name, resp, false) ||
	    !password_again(&c, &u, json_string_value(json_object_get(j, "password")), resp)) {
		goto out;
	}
	if (!u.totp_secret) {
		apictx_fail(resp, 409, "two-factor login is off already");
		goto out;
	}
	r = users_second_factor(&c.store, &u, json_string_value(json_object_get(j, "code")),
				(long long)time(NULL), &c.e);
	if (r == 0) {
		apictx_fail(resp, 403, "code: expected a valid one-time code or recovery code");
		goto out;
	}
	if (r < 0 || store_user_totp_set(&c.store, u.name, NULL, NULL, NULL, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:totp:disable", NULL);
	http_reply_json(resp, 200, json_pack("{sb}", "totp", 0));
out:
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

/* POST /api/v1/me/password {old, new}: ends the user's other sessions and its API tokens stay. */
static void h_password(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	char *hash = NULL, *cookie = NULL, h[USERS_TOKEN_HEX + 1];
	const char *pw;
	json_t *j = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_SESSION) <= 0 ||
	    !(j = apictx_json_body(req, resp)) || !guard_check(&c, u.name, resp, false) ||
	    !password_again(&c, &u, json_string_value(json_object_get(j, "old")), resp)) {
		goto out;
	}
	pw = json_string_value(json_object_get(j, "new"));
	if (!pw || strlen(pw) < USERS_PASSWORD_MIN) {
		apictx_fail(resp, 400, "new: expected at least 12 characters");
		goto out;
	}
	cookie = http_cookie_get(req, APICTX_COOKIE);
	users_token_hash(cookie ? cookie : "", h);
	if (users_hash(pw, &hash, &c.e) < 0 ||
	    store_user_set(&c.store, u.name, STORE_USER_HASH, hash, &c.e) < 0 ||
	    store_session_remove_user(&c.store, u.name, h, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:password", NULL);
	http_reply_json(resp, 200, json_pack("{sb}", "changed", 1));
out:
	free_secret(cookie);
	free(hash);
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- API tokens ---- */

static bool valid_token_name(const char *n)
{
	return n && users_valid_name(n) && strlen(n) <= 64;
}

static void h_tokens_create(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct store_token t = {0};
	char token[USERS_TOKEN_HEX + 1] = "", h[USERS_TOKEN_HEX + 1], *own = NULL;
	const char *role;
	json_t *j = NULL;
	int g = 1;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_SESSION) <= 0 ||
	    !(j = apictx_json_body(req, resp))) {
		goto out;
	}
	t.user = u.name;
	t.name = (char *)json_string_value(json_object_get(j, "name"));
	t.app = (char *)json_string_value(json_object_get(j, "app"));
	role = json_string_value(json_object_get(j, "role"));
	t.created = (long long)time(NULL);
	if (!valid_token_name(t.name)) {
		apictx_fail(resp, 400,
			    "name: expected a token name of lowercase letters, digits and . _ @ -");
		goto out;
	}
	if (!t.app && role) {
		apictx_fail(resp, 400, "role: only an app token (with \"app\") has a role");
		goto out;
	}
	if (t.app) {
		if (strcmp(u.role, "admin")) {
			g = store_user_app_get(&c.store, u.name, t.app, &own, &c.e);
		}
		if (g < 0) {
			goto fail;
		}
		if (g == 0 || !store_app_exists(&c.store, t.app)) {
			apictx_fail(resp, 400, "app: expected an app you have rights on");
			goto out;
		}
		if (!role) {
			role = own ? own : "deployer";
		}
		if (strcmp(role, "deployer") && strcmp(role, "viewer")) {
			apictx_fail(resp, 400, "role: expected \"deployer\" or \"viewer\"");
			goto out;
		}
		if (own && !strcmp(own, "viewer") && strcmp(role, "viewer")) {
			apictx_fail(resp, 403, "role: at most your own rights on the app (viewer)");
			goto out;
		}
		t.role = (char *)role;
	}
	if (users_token(token, &c.e) < 0) {
		goto fail;
	}
	users_token_hash(token, h);
	if (store_token_add(&c.store, h, &t, &c.e) < 0) {
		if (strstr(err_str(&c.e), "already exists")) {
			apictx_fail(resp, 409, "you have a token of that name already");
			goto out;
		}
		goto fail;
	}
	apictx_event(&c, u.name, t.app, "panel:tokens:create", t.name);
	http_reply_json(resp, 201,
			json_pack("{ss ss ss? ss?}", "name", t.name, "token", token, "app", t.app,
				  "role", t.role));
	goto out;
fail:
	log_error("http: %s", err_str(&c.e));
	apictx_fail(resp, 500, "cannot write berthd's records");
out:
	memset(token, 0, sizeof(token));
	free(own);
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_tokens_list(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct store_token *v = NULL;
	size_t n = 0;
	json_t *arr;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_NO_APP_TOKEN) <= 0) {
		goto out;
	}
	if (store_token_list(&c.store, u.name, &v, &n, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[32], used[32];
		apictx_iso_time(v[i].created, created, sizeof(created));
		apictx_iso_time(v[i].last_used, used, sizeof(used));
		json_array_append_new(arr,
				      json_pack("{ss ss ss? ss? ss?}", "name", v[i].name, "created",
						created, "last_used", v[i].last_used ? used : NULL,
						"app", v[i].app, "role", v[i].role));
	}
	http_reply_json(resp, 200, json_pack("{so}", "tokens", arr));
out:
	for (size_t i = 0; i < n; i++) {
		store_token_release(&v[i]);
	}
	free(v);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_tokens_delete(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	const char *name = apictx_path_name(req, "/api/v1/tokens/");
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_NO_APP_TOKEN) <= 0) {
		goto out;
	}
	if (!name || !valid_token_name(name)) {
		apictx_fail(resp, 400, "expected DELETE /api/v1/tokens/NAME");
		goto out;
	}
	r = store_token_remove(&c.store, u.name, name, &c.e);
	if (r < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
	} else if (r == 0) {
		apictx_fail(resp, 404, "no token of that name");
	} else {
		apictx_event(&c, u.name, NULL, "panel:tokens:remove", name);
		http_reply_json(resp, 200, json_pack("{ss}", "removed", name));
	}
out:
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- user admin ---- */

static void h_users_list(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct strvec names = STRVEC_INIT, roles = STRVEC_INIT;
	json_t *arr;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, 0) <= 0) {
		goto out;
	}
	if (store_user_list(&c.store, &names, &roles, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < names.nr; i++) {
		struct store_user x = {0};
		if (store_user_get(&c.store, names.v[i], &x, &c.e) > 0) {
			char created[32], last[32];
			apictx_iso_time(x.created, created, sizeof(created));
			apictx_iso_time(x.last_login, last, sizeof(last));
			json_array_append_new(arr,
					      json_pack("{ss ss ss ss? sb}", "user", x.name, "role",
							x.role, "created", created, "last_login",
							x.last_login ? last : NULL, "totp",
							x.totp_secret != NULL));
		}
		store_user_release(&x);
	}
	http_reply_json(resp, 200, json_pack("{so}", "users", arr));
out:
	strvec_clear(&names);
	strvec_clear(&roles);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_users_delete(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0}, x = {0};
	const char *name = apictx_path_name(req, "/api/v1/users/");
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, APICTX_CHANGE) <= 0) {
		goto out;
	}
	if (!name || !users_valid_name(name)) {
		apictx_fail(resp, 400, "expected DELETE /api/v1/users/NAME");
		goto out;
	}
	if ((r = store_user_get(&c.store, name, &x, &c.e)) == 0) {
		apictx_fail(resp, 404, "no such user");
		goto out;
	}
	if (r > 0 && !strcmp(x.role, "admin") && (r = store_user_admins(&c.store, &c.e)) == 1) {
		apictx_fail(resp, 409, "cannot remove the last admin");
		goto out;
	}
	if (r < 0 || store_user_remove(&c.store, name, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot write berthd's records");
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:users:remove", name);
	http_reply_json(resp, 200, json_pack("{ss}", "removed", name));
out:
	store_user_release(&x);
	store_user_release(&u);
	apictx_close(&c);
}

/* PUT /api/v1/users/NAME {role?, apps?}: apps replaces the grants. */
static void h_users_update(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0}, x = {0};
	const char *name = apictx_path_name(req, "/api/v1/users/"), *role, *app;
	struct sbuf what = SBUF_INIT;
	json_t *j = NULL, *apps, *v;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, APICTX_CHANGE) <= 0 ||
	    !(j = apictx_json_body(req, resp))) {
		goto out;
	}
	role = json_string_value(json_object_get(j, "role"));
	apps = json_object_get(j, "apps");
	if (!name || !users_valid_name(name)) {
		apictx_fail(resp, 400, "expected PUT /api/v1/users/NAME");
		goto out;
	}
	if (role && strcmp(role, "admin") && strcmp(role, "user")) {
		apictx_fail(resp, 400, "role: expected \"admin\" or \"user\"");
		goto out;
	}
	if (apps && !json_is_object(apps)) {
		apictx_fail(resp, 400,
			    "apps: expected an object {\"APP\": \"deployer\" | \"viewer\"}");
		goto out;
	}
	json_object_foreach(apps, app, v)
	{
		const char *ar = json_string_value(v);
		if (!ar || (strcmp(ar, "deployer") && strcmp(ar, "viewer"))) {
			apictx_fail(resp, 400,
				    "apps: each app's role is \"deployer\" or \"viewer\"");
			goto out;
		}
		if (!store_app_exists(&c.store, app)) {
			apictx_fail(resp, 400, "apps: no such app");
			goto out;
		}
	}
	if ((r = store_user_get(&c.store, name, &x, &c.e)) == 0) {
		apictx_fail(resp, 404, "no such user");
		goto out;
	}
	if (r > 0 && role && !strcmp(x.role, "admin") && strcmp(role, "admin") &&
	    (r = store_user_admins(&c.store, &c.e)) == 1) {
		apictx_fail(resp, 409, "cannot take the role of the last admin");
		goto out;
	}
	if (r < 0 || store_begin(&c.store, &c.e) < 0) {
		goto fail;
	}
	if ((role && store_user_set(&c.store, name, STORE_USER_ROLE, role, &c.e) < 0) ||
	    (apps && store_user_apps_clear(&c.store, name, &c.e) < 0)) {
		store_rollback(&c.store);
		goto fail;
	}
	json_object_foreach(apps, app, v)
	{
		if (store_user_app_set(&c.store, name, app, json_string_value(v), &c.e) < 0) {
			store_rollback(&c.store);
			goto fail;
		}
	}
	if (store_commit(&c.store, &c.e) < 0) {
		store_rollback(&c.store);
		goto fail;
	}
	sbuf_addf(&what, "%s (%s)", name, role ? role : x.role);
	apictx_event(&c, u.name, NULL, "panel:users:update", what.buf);
	http_reply_json(resp, 200, json_pack("{ssss}", "user", name, "role", role ? role : x.role));
	goto out;
fail:
	log_error("http: %s", err_str(&c.e));
	apictx_fail(resp, 500, "cannot write berthd's records");
out:
	sbuf_release(&what);
	json_decref(j);
	store_user_release(&x);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- /api/v2: CapRover's envelope ---- */

static void cap_reply(struct http_response *resp, int status, const char *desc, json_t *data)
{
	http_reply_json(resp, 200,
			json_pack("{si ss so}", "status", status, "description", desc, "data",
				  data ? data : json_object()));
}

static void h_cap_login(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	char token[USERS_TOKEN_HEX + 1], *name = NULL;
	const char *pw, *otp;
	long long now = (long long)time(NULL);
	json_t *j = NULL;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0) {
		goto out;
	}
	j = http_body_json(req);
	pw = json_string_value(json_object_get(j, "password"));
	otp = json_string_value(json_object_get(j, "otpToken"));
	if (!pw) {
		cap_reply(resp, CAP_ILLEGAL_PARAMETER, "expected {\"password\": ...}", NULL);
		goto out;
	}
	/* CapRover's CLI names no user: it logs in the first admin */
	r = store_user_first_admin(&c.store, &u, &c.e);
	if (r > 0) {
		name = xstrdup(u.name);
		store_user_release(&u);
	}
	if (r >= 0 && !guard_check(&c, name, resp, true)) {
		goto out;
	}
	if (r > 0) {
		r = users_login(&c.store, name, pw, otp, now, &u, &c.e);
	} else if (r == 0) {
		users_verify_dummy(pw);
	}
	if (r == 0) {
		guard_result(&c, name, false);
		cap_reply(resp, CAP_WRONG_PASSWORD, "Password is incorrect.", NULL);
		goto out;
	}
	if (r == USERS_LOGIN_OTP && (!otp || !*otp)) {
		/* the CLI asks for CAPROVER_OTP_TOKEN on this status; not a failure (see h_login)
		 */
		cap_reply(resp, CAP_OTP_REQUIRED, "Enter OTP token as well", NULL);
		goto out;
	}
	if (r == USERS_LOGIN_OTP) {
		guard_result(&c, name, false);
		cap_reply(resp, CAP_WRONG_PASSWORD, "OTP token is incorrect or was used already.",
			  NULL);
		goto out;
	}
	if (r < 0 || users_session_start(&c.store, u.name, now, token, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		cap_reply(resp, CAP_GENERIC, "cannot write berthd's records", NULL);
		goto out;
	}
	guard_result(&c, name, true);
	apictx_event(&c, u.name, NULL, "panel:login", "caprover");
	cap_reply(resp, CAP_OK, "Login succeeded", json_pack("{ss}", "token", token));
out:
	free(name);
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

/* The admin of the request's x-captain-auth: 1, or 0 / -1 with resp answered. */
static int cap_user(struct apictx *c, const struct http_request *req, struct http_response *resp,
		    struct store_user *u)
{
	char *tok = http_header_get(req, "x-captain-auth");
	int r = users_session_user(&c->store, tok, (long long)time(NULL), u, &c->e);

	free(tok);
	if (r < 0) {
		log_error("http: %s", err_str(&c->e));
		cap_reply(resp, CAP_GENERIC, "cannot read berthd's records", NULL);
	} else if (r == 0) {
		cap_reply(resp, CAP_TOKEN_INVALID, "Auth token is invalid or expired: log in again",
			  NULL);
	} else if (strcmp(u->role, "admin")) {
		cap_reply(resp, CAP_NOT_AUTHORIZED, "Not authorized: this API is for admins", NULL);
		r = 0;
	}
	return r;
}

static void h_cap_info(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	char *root = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 || cap_user(&c, req, resp, &u) <= 0) {
		goto out;
	}
	root = apictx_root_domain(&c);
	cap_reply(resp, CAP_OK, "Captain info retrieved",
		  json_pack("{ss ss sb sb ss}", "rootDomain", root ? root : "", "captainSubDomain",
			    "captain", "hasRootSsl", 1, "forceSsl", 1, "nodeId", "berthd"));
out:
	free(root);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_cap_apps(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct strvec names = STRVEC_INIT;
	json_t *defs = NULL, *arr, *a;
	char *root = NULL;
	size_t i;

	if (apictx_open_setup(&c, req, resp, data) < 0 || cap_user(&c, req, resp, &u) <= 0) {
		goto out;
	}
	if (store_app_list(&c.store, &names, &c.e) < 0 ||
	    !(arr = apictx_apps_json(&c, &names, NULL))) {
		log_error("http: %s", err_str(&c.e));
		cap_reply(resp, CAP_GENERIC, "cannot read berthd's records", NULL);
		goto out;
	}
	root = apictx_root_domain(&c);
	defs = json_array();
	json_array_foreach(arr, i, a)
	{
		json_t *doms = json_array(), *d;
		size_t k;

		json_array_foreach(json_object_get(a, "domains"), k, d)
		{
			json_array_append_new(
			    doms, json_pack("{sO sb}", "publicDomain", d, "hasSsl",
					    json_is_true(json_object_get(a, "letsencrypt"))));
		}
		json_array_append_new(
		    defs,
		    json_pack("{sO sb sb sb sO si so sb sb}", "appName", json_object_get(a, "name"),
			      "isAppBuilding",
			      capdeploy_building(c.api->state_dir,
						 json_string_value(json_object_get(a, "name"))),
			      "hasDefaultSubDomainSsl",
			      json_is_true(json_object_get(a, "letsencrypt")), "hasPersistentData",
			      0, "deployedVersion", json_object_get(a, "version"), "instanceCount",
			      (int)json_integer_value(
				  json_object_get(json_object_get(a, "scale"), "web")),
			      "customDomain", doms, "notExposeAsWebApp", 0, "forceSsl",
			      json_is_true(json_object_get(a, "letsencrypt"))));
	}
	json_decref(arr);
	cap_reply(resp, CAP_OK, "App definitions are retrieved.",
		  json_pack("{so ss ss ss}", "appDefinitions", defs, "rootDomain", root ? root : "",
			    "captainSubDomain", "captain", "defaultNginxConfig", ""));
out:
	free(root);
	strvec_clear(&names);
	store_user_release(&u);
	apictx_close(&c);
}

static void h_cap_other(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};

	if (apictx_open_setup(&c, req, resp, data) < 0 || cap_user(&c, req, resp, &u) <= 0) {
		goto out;
	}
	cap_reply(resp, CAP_NOT_FOUND, "berthd does not have this API route (yet)", NULL);
out:
	store_user_release(&u);
	apictx_close(&c);
}

static void h_not_set_up(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;

	if (apictx_open_setup(&c, req, resp, data) == 0) {
		apictx_fail(resp, 404, "not found");
	}
	apictx_close(&c);
}

const struct http_route api_routes[] = {
    {"GET", "/up", 0, h_up},
    {"GET", "/setup", 0, h_setup_get},
    {"POST", "/setup", 16 * 1024, h_setup_post},
    {"POST", "/api/v1/login", 16 * 1024, h_login},
    {"POST", "/api/v1/logout", 16 * 1024, h_logout},
    {"GET", "/api/v1/me", 0, h_me},
    {"GET", "/api/v1/apps", 0, h_apps},
    /* the panel's charts (daemon/apicharts.h); before any "/api/v1/apps/" or "/apps/" route */
    {"GET", "/api/v1/apps/*/metrics", 0, apicharts_h_metrics},
    {"GET", "/apps/*/charts/", 0, apicharts_h_svg},
    {"GET", "/api/v1/apps/*/logs", 0, apilogs_h_logs},
    {"POST", "/api/v1/apps", 16 * 1024, apiapps_h_create},
    {"GET", "/api/v1/apps/", 0, apiapps_h_app},
    {"POST", "/api/v1/apps/", 256 * 1024, apiapps_h_change},
    {"DELETE", "/api/v1/apps/", 16 * 1024, apiapps_h_domain_delete},
    {"GET", "/api/v1/jobs/", 0, apiapps_h_job},
    /* berthd's datastores (daemon/apidata.h) */
    {"GET", "/api/v1/datastores", 0, apidata_h_datastores},
    {"POST", "/api/v1/oneclick", APIONECLICK_MAX_BODY, apioneclick_h_deploy},
    {"GET", "/api/v1/server", 0, apiserver_h_server},
    {"POST", "/api/v1/server/doctor", 16 * 1024, apiserver_h_doctor},
    {"PUT", "/api/v1/server/domain", 16 * 1024, apiserver_h_domain},
    {"POST", "/api/v1/server/keys", 64 * 1024, apiserver_h_key_add},
    {"POST", "/api/v1/server/keys/", 16 * 1024, apiserver_h_grant},
    {"DELETE", "/api/v1/server/keys/", 16 * 1024, apiserver_h_key_delete},
    {"POST", "/api/v1/users", 16 * 1024, h_users_create},
    {"GET", "/api/v1/users", 0, h_users_list},
    {"DELETE", "/api/v1/users/", 16 * 1024, h_users_delete},
    {"PUT", "/api/v1/users/", 16 * 1024, h_users_update},
    {"POST", "/api/v1/me/totp", 16 * 1024, h_totp_begin},
    {"DELETE", "/api/v1/me/totp", 16 * 1024, h_totp_disable},
    {"POST", "/api/v1/me/totp/confirm", 16 * 1024, h_totp_confirm},
    {"POST", "/api/v1/me/password", 16 * 1024, h_password},
    {"POST", "/api/v1/tokens", 16 * 1024, h_tokens_create},
    {"GET", "/api/v1/tokens", 0, h_tokens_list},
    {"DELETE", "/api/v1/tokens/", 16 * 1024, h_tokens_delete},
    {"POST", "/api/v2/login", 16 * 1024, h_cap_login},
    {"GET", "/api/v2/user/system/info", 0, h_cap_info},
    {"GET", "/api/v2/user/apps/appDefinitions", 0, h_cap_apps},
    /* caprover deploy (daemon/capdeploy.h; its upload is a streamed route there) */
    {"GET", "/api/v2/user/apps/appData/", 0, capdeploy_h_app_data},
    {"POST", "/api/v2/user/apps/appDefinitions/register", 16 * 1024, capdeploy_h_register},
    {"GET", "/api/v2/", 0, h_cap_other},
    {"POST", "/api/v2/", 0, h_cap_other},
    /* the panel's pages (daemon/panel.h); GET "/" also answers what no route above does */
    {"GET", "/login", 0, panel_h_login},
    {"GET", "/apps/", 0, panel_h_app},
    {"GET", "/settings", 0, panel_h_settings},
    /* one-click apps (daemon/paneloneclick.h) */
    {"GET", "/api/v1/oneclick/templates", 0, paneloneclick_h_templates},
    {"POST", "/api/v1/oneclick/form", 4 * ONECLICK_MAX_SIZE, paneloneclick_h_form},
    {"GET", "/oneclick", 0, paneloneclick_h_page},
    {"GET", "/assets/", 0, panel_h_assets},
    {"GET", "/", 0, panel_h_root},
    /* anything else: 403 until set up, then 404 */
    {"POST", "/", 0, h_not_set_up},
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
