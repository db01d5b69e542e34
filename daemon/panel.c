/* panel — see panel.h. */
#include "daemon/panel.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/api.h"
#include "daemon/apictx.h"
#include "daemon/apidata.h"
#include "daemon/apiserver.h"
#include "daemon/certs.h"
#include "daemon/csrf.h"
#include "daemon/dsbackup.h"
#include "daemon/store.h"
#include "daemon/users.h"
#include "engine/scripts.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

/* web/NAME, embedded by scripts/gen-scripts (the Makefile's WEB_SRCS). */
extern const struct script_file panel_asset_files[];

static const struct {
	const char *ext, *type;
} asset_types[] = {
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
};

const char *panel_asset(const char *name, const char **type)
{
	size_t n = strlen(name);

	for (const struct script_file *f = panel_asset_files; f->name; f++) {
		if (strcmp(f->name, name)) {
			continue;
		}
		for (size_t i = 0; i < sizeof(asset_types) / sizeof(asset_types[0]); i++) {
			size_t el = strlen(asset_types[i].ext);
			if (n > el && !strcmp(name + n - el, asset_types[i].ext)) {
				*type = asset_types[i].type;
				return f->text;
			}
		}
	}
	return NULL;
}

void panel_asset_version(const char *text, char out[17])
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/*
 * The headers every page (and redirect) of the panel answers with, on top
 * of http's own (nosniff, Cache-Control: no-store).
 */
static void page_headers(struct http_response *resp)
{
	http_add_header(resp,
			"Content-Security-Policy: default-src 'self'; frame-ancestors 'none'");
	http_add_header(resp, "Referrer-Policy: same-origin");
}

static void redirect(struct http_response *resp, const char *to)
{
	http_reply(resp, 303, "text/plain; charset=utf-8", "see other\n");
	http_add_header(resp, "Location: %s", to);
	page_headers(resp);
}

/* "/assets/NAME?v=HASH" of an embedded asset. */
static void asset_url(struct sbuf *sb, const char *name)
{
	const char *type, *text = panel_asset(name, &type);
	char v[17];

	panel_asset_version(text ? text : "", v);
	sbuf_addf(sb, "/assets/%s?v=%s", name, v);
}

/*
 * The page's head and top bar; main_id names the page's <main> (the skip
 * link's target), u the user (NULL: no bar, the login page).
 */
static void page_begin(struct sbuf *sb, const char *title, const char *csrf, const char *main_id,
		       const struct store_user *u)
{
	sbuf_addstr(sb, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
			"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
			"<meta name=\"csrf-token\" content=\"");
	sbuf_add_markup(sb, csrf);
	sbuf_addstr(sb, "\">\n<title>");
	sbuf_add_markup(sb, title);
	sbuf_addstr(sb, " · berth</title>\n");
	sbuf_addstr(sb, "<link rel=\"icon\" type=\"image/svg+xml\" href=\"");
	asset_url(sb, "favicon.svg");
	sbuf_addstr(sb, "\">\n");
	sbuf_addstr(sb, "<link rel=\"stylesheet\" href=\"");
	asset_url(sb, "panel.css");
	sbuf_addstr(sb, "\">\n<script src=\"");
	asset_url(sb, "panel.js");
	sbuf_addstr(sb, "\" defer></script>\n");
	sbuf_addf(sb, "</head>\n<body>\n<a class=\"skip\" href=\"#%s\">Skip to content</a>\n",
		  main_id);
	if (!u) {
		return;
	}
	sbuf_addstr(sb, "<header class=\"top\">\n<nav aria-label=\"Panel\">\n"
			"<a class=\"brand\" href=\"/\">berth</a>\n"
			"<a id=\"nav-settings\" href=\"/settings\">Settings</a>\n"
			"<span class=\"who\">");
	sbuf_add_markup(sb, u->name);
	sbuf_addstr(sb, " (");
	sbuf_add_markup(sb, u->role);
	sbuf_addstr(sb, ")</span>\n<button id=\"logout\" type=\"button\">Log out</button>\n"
			"</nav>\n</header>\n");
}

static void page_end(struct sbuf *sb)
{
	sbuf_addstr(sb, "</body>\n</html>\n");
}

static void page_reply(struct http_response *resp, int status, struct sbuf *sb)
{
	http_reply(resp, status, "text/html; charset=utf-8", sb->buf);
	page_headers(resp);
}

/* A page that only says msg (404, 500), for the user u (NULL: no top bar). */
static void message_page(struct http_response *resp, int status, const char *title, const char *msg,
			 const struct store_user *u, const char *csrf)
{
	struct sbuf sb = SBUF_INIT;

	page_begin(&sb, title, csrf ? csrf : "", "message", u);
	sbuf_addstr(&sb, "<main id=\"message\">\n<h1>");
	sbuf_add_markup(&sb, title);
	sbuf_addstr(&sb, "</h1>\n<p>");
	sbuf_add_markup(&sb, msg);
	sbuf_addstr(&sb, "</p>\n<p><a href=\"/\">Back to the apps</a></p>\n</main>\n");
	page_end(&sb);
	page_reply(resp, status, &sb);
	sbuf_release(&sb);
}

static void server_error(struct apictx *c, struct http_response *resp)
{
	log_error("http: %s", err_str(&c->e));
	message_page(resp, 500, "Something went wrong", "berthd cannot read its records right now.",
		     NULL, NULL);
}

/*
 * The page's user: 1 with u filled and csrf the session's CSRF token;
 * 0 answered (303 to /login), -1 answered (500). Only a session cookie.
 */
static int page_user(struct apictx *c, const struct http_request *req, struct http_response *resp,
		     struct store_user *u, struct sbuf *csrf)
{
	struct http_response scratch;
	char *session = NULL;
	int r;

	http_response_init(&scratch);
	r = apictx_auth(c, req, &scratch, u, APICTX_SESSION | APICTX_NO_APP_TOKEN);
	http_response_release(&scratch);
	if (r == 0) {
		redirect(resp, "/login");
		goto out;
	}
	if (r < 0) {
		server_error(c, resp);
		goto out;
	}
	session = http_cookie_get(req, APICTX_COOKIE);
	if (!session ||
	    csrf_token(csrf, c->api->csrf_key, sizeof(c->api->csrf_key), session, "api") < 0) {
		store_user_release(u);
		err_set(&c->e, "cannot make the session's CSRF token");
		server_error(c, resp);
		r = -1;
	}
out:
	free(session);
	return r;
}

/* ---- /login ---- */

void panel_h_login(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf sb = SBUF_INIT;
	char *session = NULL;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0) {
		goto out;
	}
	/* logged in already: on to the apps */
	session = http_cookie_get(req, APICTX_COOKIE);
	if (session &&
	    (r = users_session_user(&c.store, session, (long long)time(NULL), &u, &c.e)) != 0) {
		if (r > 0) {
			redirect(resp, "/");
		} else {
			server_error(&c, resp);
		}
		goto out;
	}
	page_begin(&sb, "Log in", "", "login-main", NULL);
	sbuf_addstr(&sb,
		    "<main id=\"login-main\" class=\"narrow\">\n<h1>Log in to berth</h1>\n"
		    "<form id=\"login\" method=\"post\" action=\"/api/v1/login\">\n"
		    "<p class=\"field\"><label for=\"name\">User name</label>\n"
		    "<input id=\"name\" name=\"name\" required autocomplete=\"username\" "
		    "autocapitalize=\"none\" spellcheck=\"false\"></p>\n"
		    "<p class=\"field\"><label for=\"password\">Password</label>\n"
		    "<input id=\"password\" name=\"password\" type=\"password\" required "
		    "autocomplete=\"current-password\"></p>\n"
		    "<p class=\"field\" id=\"otp-row\" hidden><label for=\"otp\">One-time code "
		    "(authenticator app or a recovery code)</label>\n"
		    "<input id=\"otp\" name=\"otp\" inputmode=\"numeric\" "
		    "autocomplete=\"one-time-code\"></p>\n"
		    "<p id=\"login-error\" class=\"error\" role=\"alert\"></p>\n"
		    "<p><button type=\"submit\" id=\"login-submit\">Log in</button></p>\n"
		    "</form>\n</main>\n");
	page_end(&sb);
	page_reply(resp, 200, &sb);
out:
	free(session);
	sbuf_release(&sb);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- / ---- */

/* An app's state in a word, from apictx_app_json's fields. */
static const char *app_state(json_t *a)
{
	if (!json_is_true(json_object_get(a, "deployed"))) {
		return "not deployed";
	}
	return json_is_true(json_object_get(a, "stopped")) ? "stopped" : "running";
}

#define CERT_SOON_DAYS 14 /* an uploaded certificate this close to its end is flagged */

/*
 * The certificates of the apps: an uploaded one (certs:add) with its names
 * and end, flagged when it ends within CERT_SOON_DAYS or has ended; an
 * ACME one is berth-proxy's, renewed by it. The key is read only to check
 * the pair, never shown. 0 or -1 (c->e).
 */
static int certs_section(struct apictx *c, struct sbuf *sb, const struct strvec *apps)
{
	time_t now = time(NULL);
	size_t rows = 0;
	int r = -1;

	sbuf_addstr(sb,
		    "<section id=\"certificates\" aria-labelledby=\"certificates-h\">\n"
		    "<h2 id=\"certificates-h\">Certificates</h2>\n"
		    "<table id=\"certs\" class=\"stack\">\n<thead><tr><th scope=\"col\">App</th>"
		    "<th scope=\"col\">Kind</th><th scope=\"col\">Names</th>"
		    "<th scope=\"col\">Ends</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < apps->nr; i++) {
		char *crt = NULL, *key = NULL, *le = NULL;
		struct certs_info info;
		struct err ce = ERR_INIT;
		int ok =
		    store_prop_get(&c->store, apps->v[i], "certs.crt", &crt, &c->e) >= 0 &&
		    store_prop_get(&c->store, apps->v[i], "certs.key", &key, &c->e) >= 0 &&
		    store_prop_get(&c->store, apps->v[i], "letsencrypt.enabled", &le, &c->e) >= 0;

		if (ok && (crt || le)) {
			sbuf_addstr(sb, "<tr data-cert-app=\"");
			sbuf_add_markup(sb, apps->v[i]);
			sbuf_addstr(sb, "\"><td data-label=\"App\">");
			sbuf_add_markup(sb, apps->v[i]);
			sbuf_addstr(sb, "</td>");
			if (le) {
				sbuf_addstr(sb,
					    "<td data-label=\"Kind\">Let's Encrypt (ACME)</td>"
					    "<td data-label=\"Names\">the app's domains</td>"
					    "<td data-label=\"Ends\">renewed by berth-proxy</td>");
			} else if (certs_check(crt, key, &info, &ce) == 0) {
				char when[32];
				long long days = (long long)(info.not_after - now) / 86400;

				sbuf_addstr(sb, "<td data-label=\"Kind\">uploaded</td>"
						"<td data-label=\"Names\">");
				for (size_t k = 0; k < info.names.nr; k++) {
					sbuf_addstr(sb, k ? ", " : "");
					sbuf_add_markup(sb, info.names.v[k]);
				}
				certs_time(when, sizeof(when), info.not_after);
				sbuf_addf(sb, "</td><td data-label=\"Ends\"%s>%s (",
					  info.not_after <= now || days < CERT_SOON_DAYS
					      ? " class=\"warn\""
					      : "",
					  when);
				if (info.not_after <= now) {
					sbuf_addstr(sb, "ended");
				} else {
					sbuf_addf(sb, "in %lld day%s", days, days == 1 ? "" : "s");
				}
				sbuf_addstr(sb, ")</td>");
				certs_info_release(&info);
			} else {
				sbuf_addstr(
				    sb,
				    "<td data-label=\"Kind\">uploaded</td>"
				    "<td data-label=\"Names\">?</td>"
				    "<td data-label=\"Ends\" class=\"warn\">cannot be read</td>");
			}
			sbuf_addstr(sb, "</tr>\n");
			rows++;
		}
		err_release(&ce);
		if (key) {
			memset(key, 0, strlen(key));
		}
		free(crt);
		free(key);
		free(le);
		if (!ok) {
			goto out;
		}
	}
	sbuf_addstr(sb, "</tbody>\n</table>\n");
	if (!rows) {
		sbuf_addstr(sb, "<p>No app serves HTTPS yet.</p>\n");
	}
	sbuf_addstr(sb, "</section>\n");
	r = 0;
out:
	return r;
}

/*
 * The datastores (postgres:*, redis:*) for admins: each with its linked
 * apps and its last verified backup (KIND:backup), flagged when there is
 * none or it is older than DSBACKUP_STALE_S; what GET /api/v1/datastores
 * answers, never a password. 0 or -1 (c->e).
 */
static int datastores_section(struct apictx *c, struct sbuf *sb)
{
	json_t *j = apidata_datastores_json(&c->store, &c->e), *arr, *d;
	time_t now = time(NULL);
	size_t i;

	if (!j) {
		return -1;
	}
	arr = json_object_get(j, "datastores");
	sbuf_addstr(sb, "<section id=\"datastores\" aria-labelledby=\"datastores-h\">\n"
			"<h2 id=\"datastores-h\">Datastores</h2>\n");
	if (!json_array_size(arr)) {
		sbuf_addstr(sb, "<p id=\"datastores-empty\">No datastores yet (postgres:create, "
				"redis:create).</p>\n</section>\n");
		json_decref(j);
		return 0;
	}
	sbuf_addstr(sb, "<table id=\"datastores-table\" class=\"stack\">\n<caption>The "
			"datastores and their last verified backup (postgres:backup, "
			"redis:backup)</caption>\n<thead><tr><th scope=\"col\">Datastore</th>"
			"<th scope=\"col\">Image</th><th scope=\"col\">Linked apps</th>"
			"<th scope=\"col\">Last verified backup</th></tr></thead>\n<tbody>\n");
	json_array_foreach(arr, i, d)
	{
		const char *kind = json_string_value(json_object_get(d, "kind"));
		const char *name = json_string_value(json_object_get(d, "name"));
		json_t *links = json_object_get(d, "links"),
		       *last = json_object_get(d, "last_backup"), *l;
		size_t k;

		sbuf_addstr(sb, "<tr data-datastore=\"");
		sbuf_add_markup(sb, kind);
		sbuf_addch(sb, ':');
		sbuf_add_markup(sb, name);
		sbuf_addstr(sb, "\"><td data-label=\"Datastore\">");
		sbuf_add_markup(sb, kind);
		sbuf_addch(sb, ' ');
		sbuf_add_markup(sb, name);
		sbuf_addstr(sb, "</td><td data-label=\"Image\">");
		sbuf_add_markup(sb, json_string_value(json_object_get(d, "image")));
		sbuf_addstr(sb, "</td><td data-label=\"Linked apps\">");
		json_array_foreach(links, k, l)
		{
			sbuf_addstr(sb, k ? ", " : "");
			sbuf_add_markup(sb, json_string_value(l));
		}
		sbuf_addstr(sb, json_array_size(links) ? "" : "none");
		if (json_is_object(last)) {
			const char *when = json_string_value(json_object_get(last, "time"));
			struct tm tm = {0};
			long long age = -1;

			if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
				age = (long long)now - (long long)timegm(&tm);
			}
			sbuf_addf(sb, "</td><td data-label=\"Last verified backup\"%s>",
				  age < 0 || age > DSBACKUP_STALE_S ? " class=\"warn\"" : "");
			sbuf_add_markup(sb, when ? when : "?");
			sbuf_addstr(sb, " (snapshot ");
			sbuf_add_markup(sb, json_string_value(json_object_get(last, "snapshot")));
			sbuf_addstr(sb, ")");
			if (age > DSBACKUP_STALE_S) {
				sbuf_addf(sb, ", older than %d days", DSBACKUP_STALE_S / 86400);
			}
			sbuf_addstr(sb, "</td></tr>\n");
		} else {
			sbuf_addstr(sb, "</td><td data-label=\"Last verified backup\" "
					"class=\"warn\">never backed up</td></tr>\n");
		}
	}
	sbuf_addstr(sb, "</tbody>\n</table>\n</section>\n");
	json_decref(j);
	return 0;
}

/*
 * The host, for admins: doctor's last verdicts (daemon/apiserver.h's
 * cached check; a page never runs one), each in words, and "Check now".
 */
static void host_section(struct apictx *c, struct sbuf *sb)
{
	struct err e = ERR_INIT;
	json_t *d = apiserver_doctor_load(c->api->state_dir, &e), *ck;
	size_t i;

	sbuf_addstr(sb, "<section id=\"host\" aria-labelledby=\"host-h\">\n"
			"<h2 id=\"host-h\">Host</h2>\n");
	if (!d) {
		sbuf_addstr(sb, "<p id=\"host-checked\">");
		if (err_isset(&e)) {
			log_error("http: %s", err_str(&e));
			sbuf_addstr(sb, "The last check of the host cannot be read.");
		} else {
			sbuf_addstr(sb, "Not checked yet.");
		}
		sbuf_addstr(sb, "</p>\n");
	} else {
		sbuf_addstr(sb, "<p id=\"host-checked\">Checked at <time datetime=\"");
		sbuf_add_markup(sb, json_string_value(json_object_get(d, "checked_at")));
		sbuf_addstr(sb, "\">");
		sbuf_add_markup(sb, json_string_value(json_object_get(d, "checked_at")));
		sbuf_addstr(sb, "</time>: ");
		sbuf_add_markup(sb, json_string_value(json_object_get(d, "status")));
		sbuf_addstr(sb, "</p>\n<table id=\"host-checks\" class=\"stack\">\n<thead><tr>"
				"<th scope=\"col\">Check</th><th scope=\"col\">Verdict</th>"
				"<th scope=\"col\">Detail</th></tr></thead>\n<tbody>\n");
		json_array_foreach(json_object_get(d, "checks"), i, ck)
		{
			const char *st = json_string_value(json_object_get(ck, "status"));

			sbuf_addstr(sb, "<tr data-check=\"");
			sbuf_add_markup(sb, json_string_value(json_object_get(ck, "name")));
			sbuf_addstr(sb, "\"><td data-label=\"Check\">");
			sbuf_add_markup(sb, json_string_value(json_object_get(ck, "name")));
			/* st is one of ok, warn, fail (apiserver_doctor_load checked it) */
			sbuf_addf(sb,
				  "</td><td data-label=\"Verdict\" class=\"verdict-%s\">%s</td>",
				  st, st);
			sbuf_addstr(sb, "<td data-label=\"Detail\">");
			sbuf_add_markup(sb, json_string_value(json_object_get(ck, "detail")));
			sbuf_addstr(sb, "</td></tr>\n");
		}
		sbuf_addstr(sb, "</tbody>\n</table>\n");
	}
	sbuf_addstr(sb, "<p><button type=\"button\" id=\"host-check\">Check now</button></p>\n"
			"<p id=\"host-msg\" class=\"error\" role=\"alert\"></p>\n"
			"<p id=\"host-note\" role=\"status\"></p>\n</section>\n");
	json_decref(d);
	err_release(&e);
}

static void dashboard(struct apictx *c, const struct store_user *u, const char *csrf,
		      struct http_response *resp)
{
	struct strvec apps = STRVEC_INIT, roles = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;
	size_t shown = 0;

	if (apictx_readable_apps(c, u, &apps, &roles) < 0) {
		server_error(c, resp);
		goto out;
	}
	page_begin(&sb, "Apps", csrf, "dashboard", u);
	sbuf_addstr(&sb, "<main id=\"dashboard\">\n<h1>Apps</h1>\n");
	sbuf_addstr(&sb, "<table id=\"apps\" class=\"stack\">\n<caption class=\"sr-only\">The apps "
			 "you may see</caption>\n<thead><tr><th scope=\"col\">App</th>"
			 "<th scope=\"col\">State</th><th scope=\"col\">Version</th>"
			 "<th scope=\"col\">Your role</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < apps.nr; i++) {
		json_t *a = apictx_app_json(c, apps.v[i]);
		const char *version;

		if (!a) {
			if (err_isset(&c->e)) {
				server_error(c, resp);
				goto out;
			}
			continue; /* destroyed meanwhile */
		}
		version = json_string_value(json_object_get(a, "version"));
		sbuf_addstr(&sb, "<tr data-app=\"");
		sbuf_add_markup(&sb, apps.v[i]);
		sbuf_addstr(&sb, "\"><td data-label=\"App\"><a href=\"/apps/");
		sbuf_add_markup(&sb, apps.v[i]);
		sbuf_addstr(&sb, "\">");
		sbuf_add_markup(&sb, apps.v[i]);
		sbuf_addf(&sb,
			  "</a></td><td data-label=\"State\">%s</td><td data-label=\"Version\">",
			  app_state(a));
		if (version && *version) {
			sbuf_add_markup(&sb, version);
		} else {
			sbuf_addstr(&sb, "none");
		}
		sbuf_addstr(&sb, "</td><td data-label=\"Your role\">");
		sbuf_add_markup(&sb, roles.v[i]);
		sbuf_addstr(&sb, "</td></tr>\n");
		json_decref(a);
		shown++;
	}
	sbuf_addstr(&sb, "</tbody>\n</table>\n");
	if (!shown) {
		sbuf_addstr(&sb, "<p id=\"apps-empty\">No apps yet.</p>\n");
	}
	if (certs_section(c, &sb, &apps) < 0) {
		server_error(c, resp);
		goto out;
	}
	if (!strcmp(u->role, "admin") && datastores_section(c, &sb) < 0) {
		server_error(c, resp);
		goto out;
	}
	if (!strcmp(u->role, "admin")) {
		host_section(c, &sb);
		sbuf_addstr(
		    &sb,
		    "<section id=\"create\" aria-labelledby=\"create-h\">\n"
		    "<h2 id=\"create-h\">Create an app</h2>\n"
		    "<form id=\"app-create\">\n<p class=\"field\"><label for=\"app-name\">Name "
		    "(lowercase letters, digits and -)</label>\n"
		    "<input id=\"app-name\" name=\"name\" required autocomplete=\"off\" "
		    "autocapitalize=\"none\" spellcheck=\"false\"></p>\n"
		    "<p id=\"app-create-error\" class=\"error\" role=\"alert\"></p>\n"
		    "<p><button type=\"submit\" id=\"app-create-submit\">Create</button></p>\n"
		    "</form>\n<p><a id=\"nav-oneclick\" href=\"/oneclick\">One-click apps</a>: "
		    "databases and apps from a template</p>\n</section>\n");
	}
	sbuf_addstr(&sb, "</main>\n");
	page_end(&sb);
	page_reply(resp, 200, &sb);
out:
	sbuf_release(&sb);
	strvec_clear(&apps);
	strvec_clear(&roles);
}

void panel_h_root(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf csrf = SBUF_INIT;

	if (apictx_open_setup(&c, req, resp, data) < 0) {
		goto out;
	}
	if (strcmp(req->path, "/")) {
		apictx_fail(resp, 404, "not found");
		goto out;
	}
	if (page_user(&c, req, resp, &u, &csrf) <= 0) {
		goto out;
	}
	dashboard(&c, &u, csrf.buf, resp);
out:
	sbuf_release(&csrf);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- /apps/NAME ---- */

/* Where panel.js puts a section's refusal (the first .error of the section). */
#define ERROR_P "<p class=\"error\" role=\"alert\"></p>\n"

/* The user's role on app (NULL: none, may not read it); -1 on an error (c->e). */
static int app_role(struct apictx *c, const struct store_user *u, const char *app, char **role)
{
	struct strvec apps = STRVEC_INIT, roles = STRVEC_INIT;

	*role = NULL;
	if (apictx_readable_apps(c, u, &apps, &roles) < 0) {
		return -1;
	}
	for (size_t i = 0; i < apps.nr; i++) {
		if (!strcmp(apps.v[i], app)) {
			*role = xstrdup(roles.v[i]);
			break;
		}
	}
	strvec_clear(&apps);
	strvec_clear(&roles);
	return 0;
}

static void summary(struct sbuf *sb, json_t *a, const char *role)
{
	const char *version = json_string_value(json_object_get(a, "version"));
	const char *image = json_string_value(json_object_get(a, "image"));
	json_t *web = json_object_get(json_object_get(a, "scale"), "web");

	sbuf_addf(sb,
		  "<dl id=\"summary\" class=\"summary\">\n<div><dt>State</dt><dd>%s</dd></div>\n",
		  app_state(a));
	sbuf_addstr(sb, "<div><dt>Version</dt><dd id=\"app-version\">");
	sbuf_add_markup(sb, version && *version ? version : "none");
	sbuf_addstr(sb, "</dd></div>\n<div><dt>Image</dt><dd>");
	sbuf_add_markup(sb, image && *image ? image : "none");
	sbuf_addf(sb,
		  "</dd></div>\n<div><dt>Web processes</dt><dd id=\"app-web\">%lld</dd></div>\n",
		  web ? (long long)json_integer_value(web) : 1LL);
	sbuf_addstr(sb, "<div><dt>Your role</dt><dd>");
	sbuf_add_markup(sb, role);
	sbuf_addstr(sb, "</dd></div>\n</dl>\n");
}

static int versions(struct apictx *c, struct sbuf *sb, const char *app, bool change)
{
	struct store_release *rs = NULL, cur = {0};
	size_t n = 0;
	int has, r = -1;

	if (store_release_list(&c->store, app, &rs, &n, &c->e) < 0 ||
	    (has = store_release_current(&c->store, app, &cur, &c->e)) < 0) {
		goto out;
	}
	sbuf_addstr(sb, "<section id=\"versions\" aria-labelledby=\"versions-h\">\n"
			"<h2 id=\"versions-h\">Versions</h2>\n");
	if (!n) {
		sbuf_addstr(sb, "<p>No release yet: deploy one below.</p>\n");
	} else {
		sbuf_addstr(sb, "<table class=\"stack\">\n<thead><tr><th scope=\"col\">Version</th>"
				"<th scope=\"col\">Image</th><th scope=\"col\">Created</th>"
				"<th scope=\"col\">Status</th>");
		if (change) {
			sbuf_addstr(sb,
				    "<th scope=\"col\"><span class=\"sr-only\">Action</span></th>");
		}
		sbuf_addstr(sb, "</tr></thead>\n<tbody>\n");
	}
	for (size_t i = 0; i < n; i++) {
		bool current = has > 0 && rs[i].id == cur.id;
		char created[32];

		apictx_iso_time(rs[i].time, created, sizeof(created));
		sbuf_addstr(sb, "<tr data-version=\"");
		sbuf_add_markup(sb, rs[i].version);
		sbuf_addf(sb, "\"%s><td data-label=\"Version\">",
			  current ? " class=\"current\"" : "");
		sbuf_add_markup(sb, rs[i].version);
		if (current) {
			sbuf_addstr(sb, " <strong class=\"badge\">current</strong>");
		}
		sbuf_addstr(sb, "</td><td data-label=\"Image\" class=\"mono\">");
		sbuf_add_markup(sb, rs[i].image);
		sbuf_addf(sb,
			  "</td><td data-label=\"Created\"><time datetime=\"%s\">%s</time></td>",
			  created, created);
		sbuf_addstr(sb, "<td data-label=\"Status\">");
		sbuf_add_markup(sb, rs[i].status);
		sbuf_addstr(sb, "</td>");
		if (change) {
			sbuf_addstr(sb, "<td data-label=\"Action\">");
			if (!current) {
				sbuf_addstr(sb, "<button type=\"button\" class=\"rollback\" "
						"data-version=\"");
				sbuf_add_markup(sb, rs[i].version);
				sbuf_addstr(sb, "\">Roll back to ");
				sbuf_add_markup(sb, rs[i].version);
				sbuf_addstr(sb, "</button>");
			}
			sbuf_addstr(sb, "</td>");
		}
		sbuf_addstr(sb, "</tr>\n");
	}
	if (n) {
		sbuf_addstr(sb, "</tbody>\n</table>\n");
	}
	if (change) {
		sbuf_addstr(sb, ERROR_P);
	}
	sbuf_addstr(sb, "</section>\n");
	r = 0;
out:
	store_releases_free(rs, n);
	store_release_release(&cur);
	return r;
}

static int env_section(struct apictx *c, struct sbuf *sb, const char *app, bool change)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	int r = -1;

	/* the store hands values along with the names: they are wiped unread */
	r = store_config_list(&c->store, app, &names, &values, &c->e);
	for (size_t i = 0; i < values.nr; i++) {
		memset(values.v[i], 0, strlen(values.v[i]));
	}
	strvec_clear(&values);
	if (r < 0) {
		goto out;
	}
	sbuf_addstr(sb, "<section id=\"env\" aria-labelledby=\"env-h\">\n"
			"<h2 id=\"env-h\">Environment</h2>\n"
			"<p class=\"hint\">Values are write-only: they are never shown.</p>\n");
	if (!names.nr) {
		sbuf_addstr(sb, "<p>No variables.</p>\n");
	} else {
		sbuf_addstr(sb, "<ul class=\"items\">\n");
	}
	for (size_t i = 0; i < names.nr; i++) {
		sbuf_addstr(sb, "<li data-key=\"");
		sbuf_add_markup(sb, names.v[i]);
		sbuf_addstr(sb, "\"><code>");
		sbuf_add_markup(sb, names.v[i]);
		sbuf_addstr(sb, "</code>");
		if (change) {
			sbuf_addstr(sb, " <button type=\"button\" class=\"env-unset\" data-key=\"");
			sbuf_add_markup(sb, names.v[i]);
			sbuf_addstr(sb, "\">Remove<span class=\"sr-only\"> ");
			sbuf_add_markup(sb, names.v[i]);
			sbuf_addstr(sb, "</span></button>");
		}
		sbuf_addstr(sb, "</li>\n");
	}
	if (names.nr) {
		sbuf_addstr(sb, "</ul>\n");
	}
	if (change) {
		sbuf_addstr(
		    sb, "<form id=\"env-form\">\n<p class=\"field\"><label "
			"for=\"env-key\">Name</label>\n"
			"<input id=\"env-key\" name=\"key\" required autocomplete=\"off\" "
			"autocapitalize=\"characters\" spellcheck=\"false\"></p>\n"
			"<p class=\"field\"><label for=\"env-value\">Value</label>\n"
			"<input id=\"env-value\" name=\"value\" type=\"password\" "
			"autocomplete=\"new-password\"></p>\n"
			"<p><button type=\"submit\" id=\"env-save\">Set and redeploy</button></p>\n"
			"</form>\n" ERROR_P);
	}
	sbuf_addstr(sb, "</section>\n");
	r = 0;
out:
	strvec_clear(&names);
	return r;
}

/* Where the app keeps its data and what it may use (storage:mount, resource:limit): 0 or -1. */
static int resources_section(struct apictx *c, struct sbuf *sb, const char *app)
{
	struct strvec mounts = STRVEC_INIT;
	char *mem = NULL, *cpu = NULL;
	int r = -1;

	if (store_mount_list(&c->store, app, &mounts, &c->e) < 0 ||
	    store_prop_get(&c->store, app, "resource.memory", &mem, &c->e) < 0 ||
	    store_prop_get(&c->store, app, "resource.cpu", &cpu, &c->e) < 0) {
		goto out;
	}
	sbuf_addstr(sb,
		    "<section id=\"resources\" aria-labelledby=\"resources-h\">\n"
		    "<h2 id=\"resources-h\">Volumes and limits</h2>\n<dl>\n<dt>Memory</dt><dd>");
	sbuf_add_markup(sb, mem && *mem ? mem : "no limit");
	sbuf_addstr(sb, "</dd>\n<dt>CPUs</dt><dd>");
	sbuf_add_markup(sb, cpu && *cpu ? cpu : "no limit");
	sbuf_addstr(sb, "</dd>\n</dl>\n");
	if (!mounts.nr) {
		sbuf_addstr(sb, "<p>No volumes.</p>\n");
	} else {
		sbuf_addstr(sb, "<ul id=\"volumes\">\n");
		for (size_t i = 0; i < mounts.nr; i++) {
			sbuf_addstr(sb, "<li><code>");
			sbuf_add_markup(sb, mounts.v[i]);
			sbuf_addstr(sb, "</code></li>\n");
		}
		sbuf_addstr(sb, "</ul>\n");
	}
	sbuf_addstr(sb, "</section>\n");
	r = 0;
out:
	strvec_clear(&mounts);
	free(mem);
	free(cpu);
	return r;
}

static void domains_section(struct sbuf *sb, json_t *a, bool change)
{
	json_t *doms = json_object_get(a, "domains"), *d;
	bool le = json_is_true(json_object_get(a, "letsencrypt"));
	size_t i;

	sbuf_addstr(sb, "<section id=\"domains\" aria-labelledby=\"domains-h\">\n"
			"<h2 id=\"domains-h\">Domains</h2>\n");
	if (!json_array_size(doms)) {
		sbuf_addstr(sb, "<p>No domains.</p>\n");
	} else {
		sbuf_addstr(sb, "<ul class=\"items\">\n");
	}
	json_array_foreach(doms, i, d)
	{
		const char *name = json_string_value(d);

		sbuf_addstr(sb, "<li data-domain=\"");
		sbuf_add_markup(sb, name);
		sbuf_addstr(sb, "\"><span class=\"mono\">");
		sbuf_add_markup(sb, name);
		sbuf_addstr(sb, "</span>");
		if (change) {
			sbuf_addstr(sb, " <button type=\"button\" class=\"domain-remove\" "
					"data-domain=\"");
			sbuf_add_markup(sb, name);
			sbuf_addstr(sb, "\">Remove<span class=\"sr-only\"> ");
			sbuf_add_markup(sb, name);
			sbuf_addstr(sb, "</span></button>");
		}
		sbuf_addstr(sb, "</li>\n");
	}
	if (json_array_size(doms)) {
		sbuf_addstr(sb, "</ul>\n");
	}
	if (change) {
		sbuf_addf(sb,
			  "<form id=\"domain-form\">\n<p class=\"field\"><label "
			  "for=\"domain\">Domain</label>\n"
			  "<input id=\"domain\" name=\"domain\" required autocomplete=\"off\" "
			  "autocapitalize=\"none\" spellcheck=\"false\" "
			  "placeholder=\"www.example.com\"></p>\n"
			  "<p><button type=\"submit\" id=\"domain-add\">Add</button></p>\n</form>\n"
			  "<p class=\"check\"><input type=\"checkbox\" id=\"https\"%s>\n"
			  "<label for=\"https\">HTTPS with a Let's Encrypt "
			  "certificate</label></p>\n" ERROR_P,
			  le ? " checked" : "");
	} else {
		sbuf_addf(sb, "<p>HTTPS with Let's Encrypt: %s</p>\n", le ? "on" : "off");
	}
	sbuf_addstr(sb, "</section>\n");
}

static void deploy_section(struct sbuf *sb, json_t *a)
{
	json_t *web = json_object_get(json_object_get(a, "scale"), "web");

	sbuf_addstr(
	    sb, "<section id=\"deploy\" aria-labelledby=\"deploy-h\">\n<h2 "
		"id=\"deploy-h\">Deploy</h2>\n"
		"<form id=\"deploy-form\">\n"
		"<p class=\"field\"><label for=\"deploy-file\">A build context: a .tar, .tar.gz or "
		".tgz "
		"with a Dockerfile or captain-definition</label>\n"
		"<input id=\"deploy-file\" name=\"file\" type=\"file\" "
		"accept=\".tar,.tar.gz,.tgz\"></p>\n"
		"<p class=\"field\"><label for=\"deploy-image\">or an image</label>\n"
		"<input id=\"deploy-image\" name=\"image\" autocomplete=\"off\" "
		"autocapitalize=\"none\" "
		"spellcheck=\"false\" placeholder=\"registry.example.com/app:1.2\"></p>\n"
		"<p class=\"field\"><label for=\"deploy-git\">or a git repository</label>\n"
		"<input id=\"deploy-git\" name=\"git_url\" type=\"url\" autocomplete=\"off\" "
		"spellcheck=\"false\" placeholder=\"https://git.example.com/team/app.git\"></p>\n"
		"<p class=\"field\"><label for=\"deploy-ref\">its branch, tag or commit (default: "
		"its default branch)</label>\n"
		"<input id=\"deploy-ref\" name=\"ref\" autocomplete=\"off\" "
		"spellcheck=\"false\"></p>\n"
		"<p id=\"deploy-error\" class=\"error\" role=\"alert\"></p>\n"
		"<p><button type=\"submit\" id=\"deploy-submit\">Deploy</button></p>\n</form>\n");
	sbuf_addf(
	    sb,
	    "<form id=\"scale-form\">\n<p class=\"field\"><label for=\"scale-web\">Web "
	    "processes</label>\n<input id=\"scale-web\" name=\"web\" type=\"number\" min=\"0\" "
	    "max=\"100\" required value=\"%lld\"></p>\n"
	    "<p><button type=\"submit\" id=\"scale-save\">Scale</button></p>\n</form>\n"
	    "</section>\n",
	    web ? (long long)json_integer_value(web) : 1LL);
	sbuf_addstr(sb,
		    "<section id=\"job\" aria-labelledby=\"job-h\">\n<h2 id=\"job-h\">Job</h2>\n"
		    "<p id=\"job-state\"></p>\n"
		    "<pre id=\"job-log\" aria-live=\"polite\" tabindex=\"0\"></pre>\n"
		    "</section>\n");
}

/* The app's traffic over the last hour, drawn by berthd (daemon/apicharts.h): no script. */
static void charts_section(struct sbuf *sb, const char *app)
{
	static const struct {
		const char *file, *alt;
	} charts[] = {
	    {"requests", "Requests per second over the last hour"},
	    {"latency", "Latency, p50 and p99, over the last hour"},
	    {"errors", "Server errors and upstream errors per second over the last hour"},
	};

	sbuf_addstr(sb, "<section id=\"charts\" aria-labelledby=\"charts-h\">\n"
			"<h2 id=\"charts-h\">Traffic</h2>\n");
	for (size_t i = 0; i < sizeof(charts) / sizeof(charts[0]); i++) {
		sbuf_addstr(sb, "<figure><img src=\"/apps/");
		sbuf_add_markup(sb, app);
		sbuf_addf(sb,
			  "/charts/%s.svg\" alt=\"%s\" width=\"640\" height=\"240\" "
			  "loading=\"lazy\"></figure>\n",
			  charts[i].file, charts[i].alt);
	}
	sbuf_addstr(sb, "</section>\n");
}

/* Live logs (daemon/apilogs.h) for every reader: a search, and the lines as they come. */
static void logs_section(struct sbuf *sb)
{
	sbuf_addstr(sb, "<section id=\"logs\" aria-labelledby=\"logs-h\">\n"
			"<h2 id=\"logs-h\">Logs</h2>\n"
			"<form id=\"logs-form\" role=\"search\">\n"
			"<p class=\"field\"><label for=\"logs-q\">Only lines holding</label>\n"
			"<input id=\"logs-q\" name=\"q\" type=\"search\" autocomplete=\"off\" "
			"spellcheck=\"false\"></p>\n"
			"<p><button type=\"submit\" id=\"logs-follow\">Follow the logs</button>\n"
			"<button type=\"button\" id=\"logs-stop\" hidden>Stop</button></p>\n"
			"</form>\n"
			"<p id=\"logs-state\" role=\"status\"></p>\n"
			"<pre id=\"logs-out\" tabindex=\"0\"></pre>\n"
			"</section>\n");
}

void panel_h_app(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf csrf = SBUF_INIT, sb = SBUF_INIT;
	const char *name;
	char *role = NULL;
	json_t *a = NULL;
	bool change;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    page_user(&c, req, resp, &u, &csrf) <= 0) {
		goto out;
	}
	name = apictx_path_name(req, "/apps/");
	if (name && app_role(&c, &u, name, &role) < 0) {
		server_error(&c, resp);
		goto out;
	}
	if (role && !(a = apictx_app_json(&c, name)) && err_isset(&c.e)) {
		server_error(&c, resp);
		goto out;
	}
	if (!a) {
		/* the same answer whether it does not exist or may not be read */
		message_page(resp, 404, "No such app",
			     "There is no app of that name that you may see.", &u, csrf.buf);
		goto out;
	}
	change = strcmp(role, "viewer") != 0;
	page_begin(&sb, name, csrf.buf, "app", &u);
	sbuf_addstr(&sb, "<main id=\"app\" data-app=\"");
	sbuf_add_markup(&sb, name);
	sbuf_addstr(&sb, "\">\n<p class=\"crumbs\"><a href=\"/\">Apps</a></p>\n<h1>");
	sbuf_add_markup(&sb, name);
	sbuf_addstr(&sb, "</h1>\n");
	summary(&sb, a, role);
	if (versions(&c, &sb, name, change) < 0 || env_section(&c, &sb, name, change) < 0) {
		server_error(&c, resp);
		goto out;
	}
	domains_section(&sb, a, change);
	if (resources_section(&c, &sb, name) < 0) {
		server_error(&c, resp);
		goto out;
	}
	if (change) {
		deploy_section(&sb, a);
	}
	charts_section(&sb, name);
	logs_section(&sb);
	sbuf_addstr(&sb, "</main>\n");
	page_end(&sb);
	page_reply(resp, 200, &sb);
out:
	json_decref(a);
	free(role);
	sbuf_release(&sb);
	sbuf_release(&csrf);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- /settings ---- */

static void twofa_section(struct sbuf *sb, const struct store_user *u)
{
	sbuf_addstr(sb, "<section id=\"twofa\" aria-labelledby=\"twofa-h\">\n"
			"<h2 id=\"twofa-h\">Two-factor login</h2>\n");
	if (u->totp_secret) {
		sbuf_addstr(sb, "<p id=\"totp-on\">On: logins need a code from the authenticator "
				"app (or a recovery code).</p>\n");
	} else {
		sbuf_addstr(
		    sb,
		    "<p id=\"totp-off\">Off. Turn it on with an authenticator app.</p>\n"
		    "<form id=\"totp-begin-form\">\n<p class=\"field\"><label "
		    "for=\"totp-password\">"
		    "Your password</label>\n<input id=\"totp-password\" type=\"password\" required "
		    "autocomplete=\"current-password\"></p>\n"
		    "<p><button type=\"submit\" id=\"totp-begin\">Turn on two-factor login</button>"
		    "</p>\n</form>\n"
		    "<div id=\"totp-pending\" hidden>\n<p>Add this key to the authenticator app, "
		    "then "
		    "give the code it shows.</p>\n"
		    "<p>Key: <code id=\"totp-secret\"></code></p>\n"
		    "<p>URI: <code id=\"totp-uri\" class=\"wrap\"></code></p>\n"
		    "<form id=\"totp-confirm-form\">\n<p class=\"field\"><label "
		    "for=\"totp-code\">Code "
		    "from the app</label>\n<input id=\"totp-code\" inputmode=\"numeric\" "
		    "autocomplete=\"one-time-code\" required></p>\n"
		    "<p><button type=\"submit\" id=\"totp-confirm\">Confirm</button></p>\n</form>\n"
		    "</div>\n"
		    "<div id=\"totp-done\" hidden>\n<p>Two-factor login is on. Keep these recovery "
		    "codes somewhere safe: each works once, and they are not shown again.</p>\n"
		    "<ul id=\"recovery-codes\" class=\"mono\"></ul>\n</div>\n");
	}
	sbuf_addstr(sb, "<p id=\"twofa-msg\" class=\"error\" role=\"alert\"></p>\n</section>\n");
}

static void password_section(struct sbuf *sb)
{
	sbuf_addf(sb,
		  "<section id=\"password\" aria-labelledby=\"password-h\">\n"
		  "<h2 id=\"password-h\">Password</h2>\n<form id=\"password-form\">\n"
		  "<p class=\"field\"><label for=\"password-old\">Current password</label>\n"
		  "<input id=\"password-old\" type=\"password\" required "
		  "autocomplete=\"current-password\"></p>\n"
		  "<p class=\"field\"><label for=\"password-new\">New password (at least %d "
		  "characters)</label>\n<input id=\"password-new\" type=\"password\" required "
		  "minlength=\"%d\" autocomplete=\"new-password\"></p>\n"
		  "<p id=\"password-msg\" role=\"status\"></p>\n"
		  "<p><button type=\"submit\" id=\"password-submit\">Change the password</button>"
		  "</p>\n</form>\n</section>\n",
		  USERS_PASSWORD_MIN, USERS_PASSWORD_MIN);
}

static int tokens_section(struct apictx *c, struct sbuf *sb, const struct store_user *u)
{
	struct store_token *v = NULL;
	size_t n = 0;

	if (store_token_list(&c->store, u->name, &v, &n, &c->e) < 0) {
		return -1;
	}
	sbuf_addstr(sb, "<section id=\"tokens\" aria-labelledby=\"tokens-h\">\n"
			"<h2 id=\"tokens-h\">API tokens</h2>\n");
	if (!n) {
		sbuf_addstr(sb, "<p id=\"token-list\">No tokens.</p>\n");
	} else {
		sbuf_addstr(sb, "<table id=\"token-list\" class=\"stack\">\n<thead><tr>"
				"<th scope=\"col\">Name</th><th scope=\"col\">App</th>"
				"<th scope=\"col\">Created</th><th scope=\"col\">Last used</th>"
				"<th scope=\"col\"><span class=\"sr-only\">Action</span></th>"
				"</tr></thead>\n<tbody>\n");
	}
	for (size_t i = 0; i < n; i++) {
		char created[32], used[32];

		apictx_iso_time(v[i].created, created, sizeof(created));
		apictx_iso_time(v[i].last_used, used, sizeof(used));
		sbuf_addstr(sb, "<tr data-token=\"");
		sbuf_add_markup(sb, v[i].name);
		sbuf_addstr(sb, "\"><td data-label=\"Name\">");
		sbuf_add_markup(sb, v[i].name);
		sbuf_addstr(sb, "</td><td data-label=\"App\">");
		if (v[i].app) {
			sbuf_add_markup(sb, v[i].app);
			sbuf_addstr(sb, " (");
			sbuf_add_markup(sb, v[i].role);
			sbuf_addstr(sb, ")");
		} else {
			sbuf_addstr(sb, "all of yours");
		}
		sbuf_addf(sb,
			  "</td><td data-label=\"Created\">%s</td><td data-label=\"Last used\">%s"
			  "</td><td data-label=\"Action\"><button type=\"button\" "
			  "class=\"token-revoke\" data-token=\"",
			  created, v[i].last_used ? used : "never");
		sbuf_add_markup(sb, v[i].name);
		sbuf_addstr(sb, "\">Revoke<span class=\"sr-only\"> ");
		sbuf_add_markup(sb, v[i].name);
		sbuf_addstr(sb, "</span></button></td></tr>\n");
		store_token_release(&v[i]);
	}
	free(v);
	if (n) {
		sbuf_addstr(sb, "</tbody>\n</table>\n");
	}
	sbuf_addstr(
	    sb,
	    "<form id=\"token-form\">\n<p class=\"field\"><label for=\"token-name\">Name</label>\n"
	    "<input id=\"token-name\" required autocomplete=\"off\" autocapitalize=\"none\" "
	    "spellcheck=\"false\"></p>\n"
	    "<p class=\"field\"><label for=\"token-app\">Only for the app (empty: all of "
	    "yours)</label>\n<input id=\"token-app\" autocomplete=\"off\" autocapitalize=\"none\" "
	    "spellcheck=\"false\"></p>\n"
	    "<p class=\"field\"><label for=\"token-role\">Role on that app</label>\n"
	    "<select id=\"token-role\"><option value=\"\">as yours</option>"
	    "<option value=\"deployer\">deployer</option><option value=\"viewer\">viewer</option>"
	    "</select></p>\n"
	    "<p><button type=\"submit\" id=\"token-create\">Create a token</button></p>\n</form>\n"
	    "<div id=\"token-new\" hidden>\n<p>The new token, shown this once:</p>\n"
	    "<p><code id=\"token-value\" class=\"wrap\"></code></p>\n</div>\n"
	    "<p id=\"tokens-msg\" class=\"error\" role=\"alert\"></p>\n</section>\n");
	return 0;
}

static int users_section(struct apictx *c, struct sbuf *sb, const struct store_user *me)
{
	struct strvec names = STRVEC_INIT, roles = STRVEC_INIT;
	int r = -1;

	if (store_user_list(&c->store, &names, &roles, &c->e) < 0) {
		goto out;
	}
	sbuf_addstr(sb, "<section id=\"users\" aria-labelledby=\"users-h\">\n"
			"<h2 id=\"users-h\">Users</h2>\n"
			"<table id=\"user-list\" class=\"stack\">\n<thead><tr>"
			"<th scope=\"col\">Name</th><th scope=\"col\">Role</th>"
			"<th scope=\"col\">Two-factor</th><th scope=\"col\">Last login</th>"
			"<th scope=\"col\"><span class=\"sr-only\">Action</span></th>"
			"</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < names.nr; i++) {
		struct store_user x = {0};
		char last[32];
		int g = store_user_get(&c->store, names.v[i], &x, &c->e);

		if (g < 0) {
			goto out;
		}
		if (g == 0) {
			continue; /* removed meanwhile */
		}
		apictx_iso_time(x.last_login, last, sizeof(last));
		sbuf_addstr(sb, "<tr data-user=\"");
		sbuf_add_markup(sb, x.name);
		sbuf_addstr(sb, "\"><td data-label=\"Name\">");
		sbuf_add_markup(sb, x.name);
		sbuf_addstr(sb, "</td><td data-label=\"Role\">");
		sbuf_add_markup(sb, x.role);
		sbuf_addf(sb,
			  "</td><td data-label=\"Two-factor\">%s</td>"
			  "<td data-label=\"Last login\">%s</td><td data-label=\"Action\">",
			  x.totp_secret ? "on" : "off", x.last_login ? last : "never");
		if (strcmp(x.name, me->name)) {
			sbuf_addstr(sb,
				    "<button type=\"button\" class=\"user-delete\" data-user=\"");
			sbuf_add_markup(sb, x.name);
			sbuf_addstr(sb, "\">Remove<span class=\"sr-only\"> ");
			sbuf_add_markup(sb, x.name);
			sbuf_addstr(sb, "</span></button>");
		}
		sbuf_addstr(sb, "</td></tr>\n");
		store_user_release(&x);
	}
	sbuf_addf(
	    sb,
	    "</tbody>\n</table>\n<form id=\"user-form\">\n<h3>Add a user</h3>\n"
	    "<p class=\"field\"><label for=\"user-name\">Name</label>\n"
	    "<input id=\"user-name\" required autocomplete=\"off\" autocapitalize=\"none\" "
	    "spellcheck=\"false\"></p>\n"
	    "<p class=\"field\"><label for=\"user-password\">Password (at least %d "
	    "characters)</label>\n<input id=\"user-password\" type=\"password\" required "
	    "minlength=\"%d\" autocomplete=\"new-password\"></p>\n"
	    "<p class=\"field\"><label for=\"user-role\">Role</label>\n<select id=\"user-role\">"
	    "<option value=\"user\">user (the apps granted below)</option>"
	    "<option value=\"admin\">admin (everything)</option></select></p>\n"
	    "<p class=\"field\"><label for=\"user-apps\">Apps, as APP:deployer or APP:viewer, "
	    "separated by spaces</label>\n<input id=\"user-apps\" autocomplete=\"off\" "
	    "autocapitalize=\"none\" spellcheck=\"false\"></p>\n"
	    "<p><button type=\"submit\" id=\"user-create\">Add the user</button></p>\n</form>\n"
	    "<p id=\"users-msg\" class=\"error\" role=\"alert\"></p>\n</section>\n",
	    USERS_PASSWORD_MIN, USERS_PASSWORD_MIN);
	r = 0;
out:
	strvec_clear(&names);
	strvec_clear(&roles);
	return r;
}

/*
 * The server, for admins: the root domain the panel lives under and the
 * SSH keys that reach berthd with their rights, each changed here through
 * /api/v1/server (daemon/apiserver.h) as `domains:set-global` and
 * `ssh-keys:*` change them over SSH (a key's line is never shown, its
 * fingerprint is). 0 or -1.
 */
static int server_section(struct apictx *c, struct sbuf *sb)
{
	struct store_key *ks = NULL;
	size_t n = 0;
	char *root = apictx_root_domain(c);
	int r = -1;

	if (store_key_list(&c->store, &ks, &n, &c->e) < 0) {
		goto out;
	}
	sbuf_addstr(sb, "<section id=\"server\" aria-labelledby=\"server-h\">\n"
			"<h2 id=\"server-h\">Server</h2>\n<dl id=\"server-domain\">\n"
			"<dt>Root domain</dt><dd>");
	if (root && *root) {
		sbuf_add_markup(sb, root);
		sbuf_addstr(sb, " (the panel: <code>berth.");
		sbuf_add_markup(sb, root);
		sbuf_addstr(sb, "</code>)");
	} else {
		sbuf_addstr(sb, "none");
	}
	sbuf_addstr(sb, "</dd>\n</dl>\n<form id=\"root-domain-form\">\n"
			"<p class=\"field\"><label for=\"root-domain\">New root domain</label>\n"
			"<input id=\"root-domain\" required autocomplete=\"off\" "
			"autocapitalize=\"none\" spellcheck=\"false\" value=\"");
	sbuf_add_markup(sb, root ? root : "");
	sbuf_addstr(
	    sb,
	    "\"></p>\n<p class=\"hint\">Apps without domains of their own are then reached as "
	    "APP.DOMAIN from their next deploy (deploy them again to move them now), and the "
	    "panel at berth.DOMAIN: open it there afterwards.</p>\n"
	    "<p><button type=\"submit\" id=\"root-domain-save\">Set the root domain</button></p>\n"
	    "</form>\n<p id=\"domain-msg\" class=\"error\" role=\"alert\"></p>\n"
	    "<p id=\"domain-note\" role=\"status\"></p>\n"
	    "<h3>SSH keys</h3>\n"
	    "<p>They push and run commands over SSH (<code>ssh-keys:*</code> there).</p>\n"
	    "<table id=\"ssh-keys\" class=\"stack\">\n<thead><tr><th scope=\"col\">Name</th>"
	    "<th scope=\"col\">Fingerprint</th><th scope=\"col\">Rights</th>"
	    "<th scope=\"col\"><span class=\"sr-only\">Action</span></th>"
	    "</tr></thead>\n<tbody>\n");
	if (!n) {
		sbuf_addstr(sb, "<tr><td colspan=\"4\">No SSH keys.</td></tr>\n");
	}
	for (size_t i = 0; i < n; i++) {
		struct strvec apps = STRVEC_INIT, rights = STRVEC_INIT;

		if (!ks[i].admin &&
		    store_right_list(&c->store, ks[i].name, &apps, &rights, &c->e) < 0) {
			strvec_clear(&apps);
			strvec_clear(&rights);
			goto out;
		}
		sbuf_addstr(sb, "<tr data-key-name=\"");
		sbuf_add_markup(sb, ks[i].name);
		sbuf_addstr(sb, "\"><td data-label=\"Name\">");
		sbuf_add_markup(sb, ks[i].name);
		sbuf_addstr(sb, "</td><td data-label=\"Fingerprint\"><code>");
		sbuf_add_markup(sb, ks[i].fingerprint);
		sbuf_addstr(sb, "</code></td><td data-label=\"Rights\">");
		if (ks[i].admin) {
			sbuf_addstr(sb, "admin");
		} else if (!apps.nr) {
			sbuf_addstr(sb, "none");
		}
		for (size_t k = 0; k < apps.nr; k++) {
			sbuf_addstr(sb, k ? ", " : "");
			sbuf_add_markup(sb, apps.v[k]);
			sbuf_addstr(sb, ": ");
			sbuf_add_markup(sb, rights.v[k]);
			sbuf_addstr(sb, " <button type=\"button\" class=\"grant-revoke\" "
					"data-key-name=\"");
			sbuf_add_markup(sb, ks[i].name);
			sbuf_addstr(sb, "\" data-app=\"");
			sbuf_add_markup(sb, apps.v[k]);
			sbuf_addstr(sb, "\">Revoke<span class=\"sr-only\"> ");
			sbuf_add_markup(sb, apps.v[k]);
			sbuf_addstr(sb, "</span></button>");
		}
		sbuf_addstr(sb, "</td><td data-label=\"Action\"><button type=\"button\" "
				"class=\"key-remove\" data-key-name=\"");
		sbuf_add_markup(sb, ks[i].name);
		sbuf_addstr(sb, "\">Remove<span class=\"sr-only\"> ");
		sbuf_add_markup(sb, ks[i].name);
		sbuf_addstr(sb, "</span></button></td></tr>\n");
		strvec_clear(&apps);
		strvec_clear(&rights);
	}
	sbuf_addstr(
	    sb,
	    "</tbody>\n</table>\n<form id=\"key-form\">\n<h3>Add an SSH key</h3>\n"
	    "<p class=\"field\"><label for=\"key-name\">Name (letters, digits, _ - . @)</label>\n"
	    "<input id=\"key-name\" required autocomplete=\"off\" autocapitalize=\"none\" "
	    "spellcheck=\"false\"></p>\n"
	    "<p class=\"field\"><label for=\"key-text\">Public key (one line, such as "
	    "ssh-ed25519 AAAA...)</label>\n<textarea id=\"key-text\" required rows=\"3\" "
	    "spellcheck=\"false\"></textarea></p>\n"
	    "<p class=\"check\"><input id=\"key-admin\" type=\"checkbox\">\n<label "
	    "for=\"key-admin\">Admin (every app; else only the rights granted)</label></p>\n"
	    "<p><button type=\"submit\" id=\"key-add\">Add the key</button></p>\n</form>\n"
	    "<form id=\"grant-form\">\n<h3>Grant a key a right on an app</h3>\n"
	    "<p class=\"field\"><label for=\"grant-key\">Key</label>\n"
	    "<input id=\"grant-key\" required autocomplete=\"off\" autocapitalize=\"none\" "
	    "spellcheck=\"false\"></p>\n"
	    "<p class=\"field\"><label for=\"grant-app\">App</label>\n"
	    "<input id=\"grant-app\" required autocomplete=\"off\" autocapitalize=\"none\" "
	    "spellcheck=\"false\"></p>\n"
	    "<p class=\"field\"><label for=\"grant-right\">Right</label>\n"
	    "<select id=\"grant-right\"><option value=\"deploy\">deploy (push, change)</option>"
	    "<option value=\"read\">read</option></select></p>\n"
	    "<p><button type=\"submit\" id=\"grant-add\">Grant</button></p>\n</form>\n"
	    "<p id=\"keys-msg\" class=\"error\" role=\"alert\"></p>\n"
	    "<p id=\"keys-note\" role=\"status\"></p>\n</section>\n");
	r = 0;
out:
	store_keys_free(ks, n);
	free(root);
	return r;
}

void panel_h_settings(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf csrf = SBUF_INIT, sb = SBUF_INIT;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    page_user(&c, req, resp, &u, &csrf) <= 0) {
		goto out;
	}
	page_begin(&sb, "Settings", csrf.buf, "settings", &u);
	sbuf_addstr(&sb, "<main id=\"settings\">\n<h1>Settings</h1>\n");
	twofa_section(&sb, &u);
	password_section(&sb);
	if (tokens_section(&c, &sb, &u) < 0 ||
	    (!strcmp(u.role, "admin") &&
	     (users_section(&c, &sb, &u) < 0 || server_section(&c, &sb) < 0))) {
		server_error(&c, resp);
		goto out;
	}
	sbuf_addstr(&sb, "</main>\n");
	page_end(&sb);
	page_reply(resp, 200, &sb);
out:
	sbuf_release(&sb);
	sbuf_release(&csrf);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- /assets/NAME ---- */

void panel_h_assets(const struct http_request *req, struct http_response *resp, void *data)
{
	const char *name = apictx_path_name(req, "/assets/"), *type = NULL, *text;

	(void)data;
	text = name ? panel_asset(name, &type) : NULL;
	if (!text) {
		http_reply(resp, 404, "text/plain; charset=utf-8", "no such asset\n");
		return;
	}
	http_reply(resp, 200, type, text);
	http_add_header(resp, "Cache-Control: public, max-age=31536000, immutable");
}

/* ---- the frame, for the pages of other files ---- */

int panel_page_user(struct apictx *c, const struct http_request *req, struct http_response *resp,
		    struct store_user *u, struct sbuf *csrf)
{
	return page_user(c, req, resp, u, csrf);
}

void panel_page_begin(struct sbuf *sb, const char *title, const char *csrf, const char *main_id,
		      const struct store_user *u)
{
	page_begin(sb, title, csrf, main_id, u);
}

void panel_page_end(struct sbuf *sb)
{
	page_end(sb);
}

void panel_page_reply(struct http_response *resp, int status, struct sbuf *sb)
{
	page_reply(resp, status, sb);
}

void panel_message_page(struct http_response *resp, int status, const char *title, const char *msg,
			const struct store_user *u, const char *csrf)
{
	message_page(resp, status, title, msg, u, csrf);
}

void panel_server_error(struct apictx *c, struct http_response *resp)
{
	server_error(c, resp);
}
