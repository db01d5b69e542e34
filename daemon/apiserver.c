/* apiserver — see apiserver.h. */
#include "daemon/apiserver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/apictx.h"
#include "daemon/berthd.h"
#include "daemon/sshcmd.h"
#include "engine/doctor.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

/* ---- the host's check ---------------------------------------------------------------------- */

int apiserver_doctor_interval_parse(const char *s, unsigned *out, struct err *e)
{
	unsigned long v;

	if (s && !strcmp(s, "off")) {
		*out = 0;
		return 0;
	}
	if (!s || !*s || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s) ||
	    (v = strtoul(s, NULL, 10)) < 10 || v > APISERVER_DOCTOR_MAX_INTERVAL) {
		return err_set(
		    e,
		    "expected \"off\" or a doctor interval in seconds from 10 to %u, got "
		    "'%s'",
		    APISERVER_DOCTOR_MAX_INTERVAL, s ? s : "");
	}
	*out = (unsigned)v;
	return 0;
}

static bool valid_status(const char *s)
{
	return s && (!strcmp(s, "ok") || !strcmp(s, "warn") || !strcmp(s, "fail"));
}

json_t *apiserver_doctor_load(const char *state_dir, struct err *e)
{
	struct sbuf path = SBUF_INIT, text = SBUF_INIT;
	json_t *doc = NULL, *out = NULL, *checks, *c;
	const char *at, *st;
	size_t i;

	sbuf_addf(&path, "%s/%s", state_dir, APISERVER_DOCTOR_FILE);
	if (sbuf_read_file(&text, path.buf) < 0) {
		if (errno != ENOENT) {
			err_set(e, "cannot read '%s': %s", path.buf, strerror(errno));
		}
		goto out;
	}
	doc = json_loadb(text.buf, text.len, 0, NULL);
	at = json_string_value(json_object_get(doc, "checked_at"));
	st = json_string_value(json_object_get(doc, "status"));
	if (!json_is_object(doc) || !at || !valid_status(st) ||
	    !json_is_array(json_object_get(doc, "checks"))) {
		err_set(e, "'%s' is not a report of doctor's", path.buf);
		goto out;
	}
	checks = json_array();
	json_array_foreach(json_object_get(doc, "checks"), i, c)
	{
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *cst = json_string_value(json_object_get(c, "status"));
		const char *detail = json_string_value(json_object_get(c, "detail"));

		if (name && valid_status(cst)) {
			json_array_append_new(checks,
					      json_pack("{ss ss ss}", "name", name, "status", cst,
							"detail", detail ? detail : ""));
		}
	}
	out = json_pack("{ss ss so}", "checked_at", at, "status", st, "checks", checks);
out:
	json_decref(doc);
	sbuf_release(&path);
	sbuf_release(&text);
	return out;
}

/* One check of the host into the file: 0, or -1 with e set. */
static int doctor_once(const char *state_dir, struct err *e)
{
	struct doctor_report report;
	struct sbuf path = SBUF_INIT;
	char at[32];
	json_t *doc, *rep;
	char *text = NULL;
	int r = -1;

	(void)bd_doctor_probe(0, &report);
	apictx_iso_time((long long)time(NULL), at, sizeof(at));
	/* checked_at first, then `berthd doctor --format json`'s report of the host */
	doc = json_pack("{ss}", "checked_at", at);
	rep = doctor_report_json(&report);
	json_object_update(doc, rep);
	json_decref(rep);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	sbuf_addf(&path, "%s/%s", state_dir, APISERVER_DOCTOR_FILE);
	if (!text) {
		err_set(e, "cannot encode doctor's report");
	} else if (file_write_atomic(path.buf, text, strlen(text), 0644, e) == 0) {
		log_info("doctor: %s: %s", doctor_status_name(report.worst), path.buf);
		r = 0;
	}
	free(text);
	json_decref(doc);
	sbuf_release(&path);
	doctor_report_release(&report);
	return r;
}

int apiserver_hook_doctor(const char *state_dir, unsigned interval, bool once)
{
	struct sbuf lock_path = SBUF_INIT;
	pid_t parent = getppid();
	int lock, rc = 0;

	if (!once) {
		/*
		 * ends with serve, even when serve could not say so; SIGTERM ends it at
		 * once (the file is replaced whole or not at all, the lock is the kernel's)
		 */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		log_info("doctor: checks the host every %us, into %s/%s", interval, state_dir,
			 APISERVER_DOCTOR_FILE);
	}
	sbuf_addf(&lock_path, "%s/doctor.lock", state_dir);
	lock = open(lock_path.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0) {
		rc = bd_fail("cannot open '%s': %s", lock_path.buf, strerror(errno));
		goto out;
	}
	while (once || getppid() == parent) {
		unsigned long long end = run_now_ms() + 1000ull * interval;
		struct err e = ERR_INIT;

		/* a run at a time: a check asked for waits for the one under way, then runs */
		while (flock(lock, LOCK_EX) < 0 && errno == EINTR) {
		}
		if (doctor_once(state_dir, &e) < 0) {
			rc = once ? bd_fail_err(&e) : (log_error("doctor: %s", err_str(&e)), 0);
		}
		flock(lock, LOCK_UN);
		err_release(&e);
		if (once) {
			break;
		}
		for (unsigned long long t = run_now_ms(); t < end && getppid() == parent;
		     t = run_now_ms()) {
			unsigned long long left = end - t;

			usleep(left > 200 ? 200000 : (useconds_t)(left * 1000));
		}
	}
	close(lock);
out:
	sbuf_release(&lock_path);
	return rc;
}

/*
 * Starts `PROGRAM hook WORD [ARG]` (PROGRAM: api->job_program, else berthd
 * itself) with stdin from /dev/null and serve's output; berthd serve reaps
 * it, as every child. 0, or -1 with e set.
 */
static int start_hook(const struct api *api, const char *word, const char *arg, struct err *e)
{
	char self[4096];
	const char *prog = api->job_program;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none;
	pid_t pid;
	int rc;

	if (!prog) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0) {
			return err_set(e, "cannot find berthd's own program: %s", strerror(errno));
		}
		self[n] = 0;
		prog = self;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* the handler's thread blocks berthd serve's signals: the child takes them again */
	posix_spawnattr_init(&sa);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, prog, &fa, &sa,
			 (char *const[]){(char *)prog, "hook", (char *)word, (char *)arg, NULL},
			 environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		return err_set(e, "cannot start `berthd hook %s`: %s", word, strerror(rc));
	}
	return 0;
}

/* ---- the handlers -------------------------------------------------------------------------- */

static void fail_500(struct apictx *c, struct http_response *resp, const char *what)
{
	log_error("http: %s", err_str(&c->e));
	apictx_fail(resp, 500, what);
}

/* The keys with their rights, as GET /api/v1/server lists them; NULL with c->e set. */
static json_t *keys_json(struct apictx *c)
{
	struct store_key *ks = NULL;
	size_t n = 0;
	json_t *arr = NULL;

	if (store_key_list(&c->store, &ks, &n, &c->e) < 0) {
		return NULL;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		struct strvec apps = STRVEC_INIT, rights = STRVEC_INIT;
		json_t *r = json_object();

		if (store_right_list(&c->store, ks[i].name, &apps, &rights, &c->e) < 0) {
			json_decref(r);
			json_decref(arr);
			arr = NULL;
			strvec_clear(&apps);
			strvec_clear(&rights);
			break;
		}
		for (size_t k = 0; k < apps.nr; k++) {
			json_object_set_new(r, apps.v[k], json_string(rights.v[k]));
		}
		json_array_append_new(arr, json_pack("{ss ss sb so}", "name", ks[i].name,
						     "fingerprint", ks[i].fingerprint, "admin",
						     ks[i].admin, "rights", r));
		strvec_clear(&apps);
		strvec_clear(&rights);
	}
	store_keys_free(ks, n);
	return arr;
}

void apiserver_h_server(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	json_t *keys = NULL, *doctor;
	char *root = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, 0) <= 0) {
		goto out;
	}
	root = apictx_root_domain(&c);
	if (err_isset(&c.e) || !(keys = keys_json(&c))) {
		fail_500(&c, resp, "cannot read berthd's records");
		goto out;
	}
	doctor = apiserver_doctor_load(c.api->state_dir, &c.e);
	if (err_isset(&c.e)) {
		/* the rest is still worth showing */
		log_error("http: %s", err_str(&c.e));
		err_release(&c.e);
	}
	http_reply_json(resp, 200,
			json_pack("{s:s? s:o s:o}", "domain", root, "doctor",
				  doctor ? doctor : json_null(), "keys", keys));
	keys = NULL;
out:
	json_decref(keys);
	free(root);
	store_user_release(&u);
	apictx_close(&c);
}

void apiserver_h_doctor(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	json_t *last = NULL, *at;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, APICTX_CHANGE) <= 0) {
		goto out;
	}
	last = apiserver_doctor_load(c.api->state_dir, &c.e);
	err_release(&c.e);
	if (start_hook(c.api, "doctor", "--once", &c.e) < 0) {
		fail_500(&c, resp, "cannot start doctor's check of the host");
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:doctor", NULL);
	at = json_object_get(last, "checked_at");
	http_reply_json(resp, 202,
			json_pack("{s:b s:O}", "started", 1, "checked_at", at ? at : json_null()));
out:
	json_decref(last);
	store_user_release(&u);
	apictx_close(&c);
}

void apiserver_h_domain(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf panel = SBUF_INIT, note = SBUF_INIT;
	const char *d;
	char *domain = NULL;
	const char *route = getenv("BERTHD_PANEL_ROUTE");
	bool routes = route && !strcmp(route, "1");
	json_t *j = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, APICTX_CHANGE) <= 0 ||
	    !(j = apictx_json_body(req, resp))) {
		goto out;
	}
	d = json_string_value(json_object_get(j, "domain"));
	if (!d) {
		apictx_fail(resp, 400, "domain: expected a host name like example.com");
		goto out;
	}
	domain = xstrdup(d);
	if (bd_domains_set_global(&c.store, domain, &c.e) < 0) {
		/* a refusal names the domain and what was expected; a store error is ours */
		if (strncmp(err_str(&c.e), "invalid domain", 14)) {
			fail_500(&c, resp, "cannot write berthd's records");
		} else {
			apictx_fail(resp, 400, err_str(&c.e));
		}
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:domains:set-global", domain);
	if (routes && start_hook(c.api, "panel-route", NULL, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		routes = false;
	}
	sbuf_addf(&panel, "https://berth.%s/", domain);
	sbuf_addf(&note,
		  "Apps without domains of their own are reached as APP.%s from their next "
		  "deploy (deploy them again to move them now). ",
		  domain);
	if (routes) {
		sbuf_addf(&note, "The panel moves to berth.%s now: open it there.", domain);
	} else {
		sbuf_addf(&note,
			  "The panel is reached at berth.%s once berth-proxy routes that name to "
			  "berthd (berthd routes it itself only when it runs in its container).",
			  domain);
	}
	http_reply_json(
	    resp, 200,
	    json_pack("{ss ss ss}", "domain", domain, "panel", panel.buf, "note", note.buf));
out:
	free(domain);
	json_decref(j);
	sbuf_release(&panel);
	sbuf_release(&note);
	store_user_release(&u);
	apictx_close(&c);
}

void apiserver_h_key_add(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	const char *name, *key;
	json_t *j = NULL, *admin;
	char *fp = NULL;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, APICTX_CHANGE) <= 0 ||
	    !(j = apictx_json_body(req, resp))) {
		goto out;
	}
	name = json_string_value(json_object_get(j, "name"));
	key = json_string_value(json_object_get(j, "key"));
	admin = json_object_get(j, "admin");
	if (!name) {
		apictx_fail(resp, 400,
			    "name: expected the key's name (letters, digits, '_', '-', "
			    "'.', '@')");
		goto out;
	}
	if (!key) {
		apictx_fail(resp, 400,
			    "key: expected one public key line (such as ssh-ed25519 "
			    "AAAA...)");
		goto out;
	}
	if (admin && !json_is_boolean(admin)) {
		apictx_fail(resp, 400, "admin: expected true or false");
		goto out;
	}
	if ((r = store_key_get(&c.store, name, NULL, &c.e)) != 0) {
		if (r < 0) {
			fail_500(&c, resp, "cannot read berthd's records");
		} else {
			apictx_fail(resp, 409, "a key of this name exists already");
		}
		goto out;
	}
	if ((r = bd_key_add(&c.store, c.api->state_dir, name, key, strlen(key), json_is_true(admin),
			    &fp, &c.e)) < 0) {
		if (r == -2) {
			fail_500(&c, resp,
				 "cannot write the SSH keys' file; the key was not added");
		} else {
			/* the key's checks and the store's refusal of a key added twice */
			apictx_fail(resp, 400, err_str(&c.e));
		}
		goto out;
	}
	apictx_event(&c, u.name, NULL, "panel:ssh-keys:add", name);
	http_reply_json(
	    resp, 201,
	    json_pack("{ss ss sb}", "name", name, "fingerprint", fp, "admin", json_is_true(admin)));
out:
	free(fp);
	json_decref(j);
	store_user_release(&u);
	apictx_close(&c);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/*
 * The n bytes of a path segment at p onto out, %HH decoded (a browser's
 * encodeURIComponent writes '@' as %40): false when an escape is broken
 * or decodes to a byte a name never holds (a control byte, '/').
 */
static bool add_segment(struct sbuf *out, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n || (hi = hexval(p[i + 1])) < 0 ||
			    (lo = hexval(p[i + 2])) < 0) {
				return false;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || c == '/') {
			return false;
		}
		sbuf_addch(out, (char)c);
	}
	return true;
}

bool apiserver_key_path(const char *path, bool want_grants, struct sbuf *name, struct sbuf *app)
{
	const char *prefix = "/api/v1/server/keys/", *p = path + strlen(prefix), *slash;

	if (strncmp(path, prefix, strlen(prefix)) || !*p) {
		return false;
	}
	slash = strchr(p, '/');
	if (!add_segment(name, p, slash ? (size_t)(slash - p) : strlen(p)) || !name->len) {
		return false;
	}
	if (!slash) {
		return !want_grants;
	}
	if (!want_grants || strncmp(slash, "/grants", 7)) {
		return false;
	}
	p = slash + 7;
	if (!*p) {
		return app == NULL;
	}
	if (*p != '/' || !app || !p[1] || strchr(p + 1, '/')) {
		return false;
	}
	return add_segment(app, p + 1, strlen(p + 1)) && app->len;
}

/* POST /api/v1/server/keys/NAME/grants {app, right} */
void apiserver_h_grant(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf name = SBUF_INIT, what = SBUF_INIT;
	const char *app, *right;
	json_t *j = NULL;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, APICTX_CHANGE) <= 0) {
		goto out;
	}
	if (!apiserver_key_path(req->path, true, &name, NULL)) {
		apictx_fail(resp, 404, "expected POST /api/v1/server/keys/NAME/grants");
		goto out;
	}
	if (!(j = apictx_json_body(req, resp))) {
		goto out;
	}
	app = json_string_value(json_object_get(j, "app"));
	right = json_string_value(json_object_get(j, "right"));
	if (!app || !sshcmd_valid_app(app)) {
		apictx_fail(resp, 400, "app: expected an app's name");
		goto out;
	}
	if (!right || (strcmp(right, "deploy") && strcmp(right, "read"))) {
		apictx_fail(resp, 400, "right: expected \"deploy\" or \"read\"");
		goto out;
	}
	if (!store_app_exists(&c.store, app)) {
		apictx_fail(resp, 404, "no such app");
		goto out;
	}
	if ((r = bd_key_grant(&c.store, name.buf, app, right, &c.e)) <= 0) {
		if (r < 0) {
			fail_500(&c, resp, "cannot write berthd's records");
		} else {
			apictx_fail(resp, 404, "no such key");
		}
		goto out;
	}
	sbuf_addf(&what, "%s,%s,%s", name.buf, app, right);
	apictx_event(&c, u.name, app, "panel:ssh-keys:grant", what.buf);
	http_reply_json(resp, 200,
			json_pack("{ss ss ss}", "name", name.buf, "app", app, "right", right));
out:
	json_decref(j);
	sbuf_release(&name);
	sbuf_release(&what);
	store_user_release(&u);
	apictx_close(&c);
}

/* DELETE /api/v1/server/keys/NAME, or .../NAME/grants/APP */
void apiserver_h_key_delete(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf name = SBUF_INIT, app = SBUF_INIT, what = SBUF_INIT;
	bool grant;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, APICTX_CHANGE) <= 0) {
		goto out;
	}
	/* NAME alone, or NAME/grants/APP: a key may well be called "grants" */
	grant = !strncmp(req->path, "/api/v1/server/keys/", 20) && strchr(req->path + 20, '/');
	if (!apiserver_key_path(req->path, grant, &name, grant ? &app : NULL)) {
		apictx_fail(resp, 404,
			    "expected DELETE /api/v1/server/keys/NAME or .../NAME/grants/APP");
		goto out;
	}
	r = grant ? bd_key_revoke(&c.store, name.buf, app.buf, &c.e)
		  : bd_key_remove(&c.store, c.api->state_dir, name.buf, &c.e);
	if (r <= 0) {
		if (r < 0) {
			fail_500(&c, resp, "cannot write berthd's records");
		} else {
			apictx_fail(resp, 404, "no such key");
		}
		goto out;
	}
	if (grant) {
		sbuf_addf(&what, "%s,%s", name.buf, app.buf);
		apictx_event(&c, u.name, app.buf, "panel:ssh-keys:revoke", what.buf);
		http_reply_json(resp, 200,
				json_pack("{ss ss}", "name", name.buf, "revoked", app.buf));
	} else {
		apictx_event(&c, u.name, NULL, "panel:ssh-keys:remove", name.buf);
		http_reply_json(resp, 200, json_pack("{ss}", "removed", name.buf));
	}
out:
	sbuf_release(&name);
	sbuf_release(&app);
	sbuf_release(&what);
	store_user_release(&u);
	apictx_close(&c);
}
