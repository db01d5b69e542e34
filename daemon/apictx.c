/* apictx — see apictx.h. */
#include "daemon/apictx.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "daemon/api.h"
#include "daemon/csrf.h"
#include "daemon/users.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

static void client_addr(const struct http_request *req, char *out, size_t size)
{
	char *xff = http_header_get(req, "x-forwarded-for");
	const char *last = xff ? strrchr(xff, ',') : NULL;
	const char *a = xff ? (last ? last + 1 : xff) : req->peer;

	while (*a == ' ' || *a == '\t') {
		a++;
	}
	snprintf(out, size, "%s", *a ? a : req->peer);
	free(xff);
}

void apictx_fail(struct http_response *resp, int status, const char *msg)
{
	http_reply_json(resp, status, json_pack("{ss}", "error", msg));
}

/*
 * A connection's thread keeps its store open from one request to the next
 * (keep-alive): opening SQLite, its pragmas and the schema's check cost more
 * than most requests. It is closed when the thread ends, and never kept
 * inside a transaction, or for another directory or database file.
 */
struct kept_store {
	struct store store;
	char *dir;
	dev_t dev;
	ino_t ino;
};
static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void kept_free(void *p)
{
	struct kept_store *k = p;

	if (k) {
		store_close(&k->store);
		free(k->dir);
		free(k);
	}
}

static void kept_init(void)
{
	if (pthread_key_create(&kept_key, kept_free) != 0) {
		log_warn("http: no per-thread key: each request opens the store");
	}
}

/* The thread's kept store for dir into *s (1), else 0. */
static int kept_take(struct store *s, const char *dir)
{
	struct kept_store *k;
	struct stat st;
	int r = 0;

	pthread_once(&kept_once, kept_init);
	k = pthread_getspecific(kept_key);
	if (!k) {
		return 0;
	}
	pthread_setspecific(kept_key, NULL);
	if (!strcmp(k->dir, dir) && stat(k->store.path, &st) == 0 && st.st_dev == k->dev &&
	    st.st_ino == k->ino) {
		*s = k->store;
		k->store = (struct store)STORE_INIT;
		r = 1;
	}
	kept_free(k);
	return r;
}

/* Keeps s for the thread's next request (or closes it); s is closed either way. */
static void kept_put(struct store *s, const char *dir)
{
	struct kept_store *k;
	struct stat st;

	pthread_once(&kept_once, kept_init);
	if (!s->db || !dir || store_in_transaction(s) || stat(s->path, &st) < 0 ||
	    pthread_getspecific(kept_key)) {
		store_close(s);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->store = *s;
	k->dir = xstrdup(dir);
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	if (pthread_setspecific(kept_key, k) != 0) {
		kept_free(k);
	}
	*s = (struct store)STORE_INIT;
}

/* Opens the store: 0, or -1 with resp answered (500). */
int apictx_open(struct apictx *c, const struct http_request *req, struct http_response *resp,
		void *data)
{
	const struct api *api = data;

	c->store = (struct store)STORE_INIT;
	memset(&c->tok, 0, sizeof(c->tok));
	c->api = api;
	err_init(&c->e);
	client_addr(req, c->from, sizeof(c->from));
	if ((!kept_take(&c->store, api->state_dir) &&
	     store_open(&c->store, api->state_dir, &c->e) < 0) ||
	    (c->have_admin = users_have_admin(&c->store, &c->e)) < 0) {
		log_error("http: %s", err_str(&c->e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		return -1;
	}
	return 0;
}

void apictx_close(struct apictx *c)
{
	store_token_release(&c->tok);
	kept_put(&c->store, c->api ? c->api->state_dir : NULL);
	err_release(&c->e);
}

/* Opens the store, and refuses (403) while berthd is not set up: 0 or -1 (answered). */
int apictx_open_setup(struct apictx *c, const struct http_request *req, struct http_response *resp,
		      void *data)
{
	if (apictx_open(c, req, resp, data) < 0) {
		return -1;
	}
	if (!c->have_admin) {
		apictx_fail(resp, 403, APICTX_NOT_SET_UP);
		return -1;
	}
	return 0;
}

void apictx_event(struct apictx *c, const char *user, const char *app, const char *action,
		  const char *what)
{
	struct sbuf who = SBUF_INIT, names = SBUF_INIT;
	struct err e = ERR_INIT;

	sbuf_addf(&who, "user:%s", user);
	if (what) {
		sbuf_addf(&names, "%s ", what);
	}
	sbuf_addf(&names, "from %s", c->from);
	if (store_event_add(&c->store, who.buf, app, action, names.buf, &e) < 0) {
		log_error("http: %s", err_str(&e));
	}
	sbuf_release(&who);
	sbuf_release(&names);
	err_release(&e);
}

char *apictx_root_domain(struct apictx *c)
{
	char *root = NULL;

	if (store_setting_get(&c->store, "global-domain", &root, &c->e) < 0) {
		log_error("http: %s", err_str(&c->e));
	}
	return root;
}

/* Whether a session's change comes with its CSRF token and from berthd's own origin. */
static const char *csrf_refusal(struct apictx *c, const struct http_request *req,
				const char *session)
{
	char *tok = http_header_get(req, "x-csrf-token");
	char *origin = http_header_get(req, "origin"), *root = NULL;
	const char *why = NULL;
	struct sbuf o1 = SBUF_INIT, o2 = SBUF_INIT;

	if (!origin) {
		origin = http_header_get(req, "referer");
	}
	if (!tok || !csrf_verify(c->api->csrf_key, sizeof(c->api->csrf_key), session, "api", tok,
				 strlen(tok))) {
		why = "missing or wrong X-CSRF-Token header: send the csrf_token of GET /api/v1/me";
		goto out;
	}
	root = apictx_root_domain(c);
	if (root) {
		sbuf_addf(&o1, "https://berth.%s", root);
		sbuf_addf(&o2, "https://captain.%s", root);
	}
	if (!root || !origin ||
	    !(csrf_origin_ok(origin, strlen(origin), o1.buf) ||
	      csrf_origin_ok(origin, strlen(origin), o2.buf))) {
		why = "the Origin (or Referer) header is not the panel's own https://berth.ROOT";
	}
out:
	free(tok);
	free(origin);
	free(root);
	sbuf_release(&o1);
	sbuf_release(&o2);
	return why;
}

/*
 * The user of the request: an API token (Authorization: Bearer) or the
 * session cookie, as flags allow. 1 (u filled; c->tok set for a token),
 * 0 (answered 401/403), -1 (answered 500).
 */
int apictx_auth(struct apictx *c, const struct http_request *req, struct http_response *resp,
		struct store_user *u, unsigned flags)
{
	char *authz = http_header_get(req, "authorization"), *tok = NULL;
	char bearer[USERS_TOKEN_HEX + 1], h[USERS_TOKEN_HEX + 1];
	long long now = (long long)time(NULL);
	const char *why;
	int r;

	memset(u, 0, sizeof(*u));
	if (authz) {
		r = 0;
		if (users_bearer(authz, strlen(authz), bearer)) {
			users_token_hash(bearer, h);
			r = store_token_get(&c->store, h, now, &c->tok, &c->e);
		}
		if (r > 0 && (r = store_user_get(&c->store, c->tok.user, u, &c->e)) == 0) {
			store_token_release(&c->tok);
		}
		if (r == 0) {
			apictx_fail(resp, 401,
				    "invalid API token (expected Authorization: Bearer TOKEN)");
		} else if (r > 0 && (flags & APICTX_SESSION)) {
			apictx_fail(resp, 403,
				    "an API token cannot do this: log in with the password");
			r = 0;
		} else if (r > 0 && c->tok.app && (flags & APICTX_NO_APP_TOKEN)) {
			apictx_fail(resp, 403, "this API token is for one app only");
			r = 0;
		}
	} else {
		tok = http_cookie_get(req, APICTX_COOKIE);
		r = users_session_user(&c->store, tok, now, u, &c->e);
		if (r == 0) {
			apictx_fail(resp, 401, "not logged in (POST /api/v1/login)");
		} else if (r > 0 && (flags & APICTX_CHANGE) && (why = csrf_refusal(c, req, tok))) {
			apictx_fail(resp, 403, why);
			r = 0;
		}
	}
	if (r < 0) {
		log_error("http: %s", err_str(&c->e));
		apictx_fail(resp, 500, "cannot read berthd's records");
	}
	if (r <= 0) {
		store_user_release(u);
	}
	memset(bearer, 0, sizeof(bearer));
	if (authz) {
		memset(authz, 0, strlen(authz));
	}
	free(authz);
	free(tok);
	return r;
}

/* The admin of the request (1), else 0/-1 with resp answered. */
int apictx_auth_admin(struct apictx *c, const struct http_request *req, struct http_response *resp,
		      struct store_user *u, unsigned flags)
{
	int r = apictx_auth(c, req, resp, u, flags | APICTX_NO_APP_TOKEN);

	if (r > 0 && strcmp(u->role, "admin")) {
		apictx_fail(resp, 403, "permission denied: only an admin manages users");
		store_user_release(u);
		r = 0;
	}
	return r;
}

/* A POST's JSON object body: NULL with resp answered (415 or 400). */
json_t *apictx_json_body(const struct http_request *req, struct http_response *resp)
{
	json_t *j;

	if (!http_is_type(req, "application/json")) {
		apictx_fail(resp, 415, "expected a JSON body (Content-Type: application/json)");
		return NULL;
	}
	j = http_body_json(req);
	if (!j) {
		apictx_fail(resp, 400, "expected a JSON object as the body");
	}
	return j;
}

void apictx_iso_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The apps u may read; roles[i] is u's role on apps[i] ("admin" for an admin). */
int apictx_readable_apps(struct apictx *c, const struct store_user *u, struct strvec *apps,
			 struct strvec *roles)
{
	struct strvec all = STRVEC_INIT;
	int r = -1;

	if (store_app_list(&c->store, &all, &c->e) < 0) {
		goto out;
	}
	for (size_t i = 0; i < all.nr; i++) {
		char *role = NULL;
		int g = 1;

		if (strcmp(u->role, "admin")) {
			g = store_user_app_get(&c->store, u->name, all.v[i], &role, &c->e);
		}
		if (g < 0) {
			goto out;
		}
		if (g > 0) {
			strvec_push(apps, all.v[i]);
			strvec_push(roles, role ? role : "admin");
		}
		free(role);
	}
	r = 0;
out:
	strvec_clear(&all);
	return r;
}

/* One app as apps:report --format json and ps:report --format json describe it. */
json_t *apictx_app_json(struct apictx *c, const char *name)
{
	struct store_app a = {0};
	struct store_release cur = {0};
	struct strvec types = STRVEC_INIT, counts = STRVEC_INIT, doms = STRVEC_INIT;
	char created[32], *stopped = NULL, *le = NULL;
	json_t *j = NULL, *scale, *d;
	int has, st, les;

	if (store_app_get(&c->store, name, &a, &c->e) != 1 ||
	    (has = store_release_current(&c->store, name, &cur, &c->e)) < 0 ||
	    store_scale_list(&c->store, name, &types, &counts, &c->e) < 0 ||
	    store_domain_list(&c->store, name, &doms, &c->e) < 0 ||
	    (st = store_prop_get(&c->store, name, "ps.stopped", &stopped, &c->e)) < 0 ||
	    (les = store_prop_get(&c->store, name, "letsencrypt.enabled", &le, &c->e)) < 0) {
		goto out;
	}
	apictx_iso_time(a.created, created, sizeof(created));
	scale = json_object();
	for (size_t i = 0; i < types.nr; i++) {
		json_object_set_new(scale, types.v[i], json_integer(atoll(counts.v[i])));
	}
	d = json_array();
	for (size_t i = 0; i < doms.nr; i++) {
		json_array_append_new(d, json_string(doms.v[i]));
	}
	j = json_pack("{ss ss ss sb ss ss sb so so sb}", "name", a.name, "created", created,
		      "deploy_source", a.image_source ? "image" : "git", "deployed", has > 0,
		      "version", has > 0 ? cur.version : "", "image", has > 0 ? cur.image : "",
		      "stopped", st > 0, "scale", scale, "domains", d, "letsencrypt", les > 0);
out:
	store_app_release(&a);
	store_release_release(&cur);
	strvec_clear(&types);
	strvec_clear(&counts);
	strvec_clear(&doms);
	free(stopped);
	free(le);
	return j;
}

/*
 * The apps of names as JSON objects, with "role": roles[i] when roles is
 * given; NULL with c->e set on an error.
 */
json_t *apictx_apps_json(struct apictx *c, const struct strvec *names, const struct strvec *roles)
{
	json_t *arr = json_array();
	/* one snapshot for every app's reads (each read alone takes and drops one) */
	bool snap = false;

	if (names->nr > 1 && !store_in_transaction(&c->store)) {
		struct err e = ERR_INIT;
		snap = store_read_begin(&c->store, &e) == 0; /* else: each read alone */
		err_release(&e);
	}
	for (size_t i = 0; i < names->nr; i++) {
		json_t *a = apictx_app_json(c, names->v[i]);
		if (!a) {
			if (!err_isset(&c->e)) {
				continue; /* destroyed meanwhile */
			}
			if (snap) {
				store_rollback(&c->store);
			}
			json_decref(arr);
			return NULL;
		}
		if (roles) {
			json_object_set_new(a, "role", json_string(roles->v[i]));
		}
		json_array_append_new(arr, a);
	}
	if (snap) {
		store_rollback(&c->store);
	}
	return arr;
}

/* What an app token leaves of the user's apps: its app, at most its role. */
void apictx_token_limit(struct apictx *c, struct strvec *apps, struct strvec *roles)
{
	struct strvec a = STRVEC_INIT, r = STRVEC_INIT;

	if (!c->tok.app) {
		return;
	}
	for (size_t i = 0; i < apps->nr; i++) {
		if (!strcmp(apps->v[i], c->tok.app)) {
			strvec_push(&a, apps->v[i]);
			/* viewer < deployer < admin */
			strvec_push(&r, !strcmp(roles->v[i], "viewer") ? "viewer" : c->tok.role);
		}
	}
	strvec_clear(apps);
	strvec_clear(roles);
	*apps = a;
	*roles = r;
}

/* The NAME of PREFIX/NAME, or NULL when the path is not that. */
const char *apictx_path_name(const struct http_request *req, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *name = req->path + n;

	if (strncmp(req->path, prefix, n) || !*name || strchr(name, '/')) {
		return NULL;
	}
	return name;
}
