/* capdeploy — see capdeploy.h. */
#include "daemon/capdeploy.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/apiapps.h"
#include "daemon/appdeploy.h"
#include "daemon/capdef.h"
#include "daemon/push.h"
#include "daemon/sshcmd.h"
#include "daemon/store.h"
#include "daemon/users.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/xalloc.h"

extern char **environ;

#define PREFIX "/api/v2/user/apps/appData/"

/* CapRover's answer codes (its CLI's ErrorFactory). */
enum {
	CAP_OK = 100,
	CAP_GENERIC = 1000,
	CAP_NOT_AUTHORIZED = 1102,
	CAP_ALREADY_EXIST = 1103,
	CAP_BAD_NAME = 1104,
	CAP_TOKEN_INVALID = 1106,
	CAP_ILLEGAL_OPERATION = 1108,
	CAP_BUILD_ERROR = 1109,
	CAP_ILLEGAL_PARAMETER = 1110,
};

/* ---- the upload pipeline ---------------------------------------------------------------- */

static int up_begin(void *ctx, const struct multipart_part *p, struct err *e)
{
	struct capdeploy_upload *u = ctx;

	if (!strcmp(p->name, "sourceFile")) {
		if (u->have_source) {
			return err_set(e, "sourceFile: given twice");
		}
		u->have_source = true;
		if (untar_dir_open(&u->ud, u->dir, NULL, e) < 0) {
			return -1;
		}
		u->ud_open = true;
	} else if (!strcmp(p->name, "gitHash")) {
		sbuf_reset(&u->git_hash);
	}
	return 0;
}

static int up_data(void *ctx, const struct multipart_part *p, const void *buf, size_t len,
		   struct err *e)
{
	struct capdeploy_upload *u = ctx;

	if (!strcmp(p->name, "sourceFile")) {
		if (untar_dir_feed(&u->ud, buf, len, e) < 0) {
			err_prefix(e, "sourceFile");
			return -1;
		}
	} else if (!strcmp(p->name, "gitHash")) {
		if (u->git_hash.len + len > CAPDEPLOY_GIT_HASH_MAX) {
			return err_set(e, "gitHash: longer than %d bytes", CAPDEPLOY_GIT_HASH_MAX);
		}
		sbuf_add(&u->git_hash, buf, len);
	}
	return 0;
}

static int up_end(void *ctx, const struct multipart_part *p, struct err *e)
{
	struct capdeploy_upload *u = ctx;

	if (!strcmp(p->name, "sourceFile") && untar_dir_finish(&u->ud, e) < 0) {
		err_prefix(e, "sourceFile");
		return -1;
	}
	return 0;
}

static const struct multipart_ops up_ops = {up_begin, up_data, up_end};

int capdeploy_upload_init(struct capdeploy_upload *u, const char *content_type, const char *dir,
			  struct err *e)
{
	struct multipart_limits lim = {0, 0, CAPDEPLOY_MAX_UPLOAD};

	memset(u, 0, sizeof(*u));
	u->dir = dir;
	u->ud.fd = -1;
	u->ud.dirfd = -1;
	sbuf_init(&u->git_hash, 0);
	if (multipart_init(&u->mp, content_type ? content_type : "", &up_ops, u, &lim, e) < 0) {
		sbuf_release(&u->git_hash);
		return -1;
	}
	return 0;
}

int capdeploy_upload_feed(struct capdeploy_upload *u, const void *buf, size_t len, struct err *e)
{
	return multipart_feed(&u->mp, buf, len, e);
}

int capdeploy_upload_finish(struct capdeploy_upload *u, struct err *e)
{
	if (multipart_finish(&u->mp, e) < 0) {
		return -1;
	}
	if (!u->have_source) {
		return err_set(e, "no sourceFile part (expected a tar of the app)");
	}
	return 0;
}

void capdeploy_upload_release(struct capdeploy_upload *u)
{
	multipart_release(&u->mp);
	if (u->ud_open) {
		untar_dir_release(&u->ud);
		u->ud_open = false;
	}
	sbuf_release(&u->git_hash);
}

/* ---- the build log ------------------------------------------------------------------------ */

int capdeploy_log_window(const char *path, size_t n, long long *first, struct strvec *lines,
			 struct err *e)
{
	char **ring = xcalloc(n ? n : 1, sizeof(*ring));
	struct sbuf line = SBUF_INIT;
	long long count = 0;
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = -1;
	ssize_t r;

	if (fd < 0 && errno != ENOENT) {
		err_set(e, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	/* every line passes; the ring keeps the last n */
	while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			err_set(e, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != '\n') {
				if (line.len < 4096) {
					sbuf_addch(&line, buf[i]);
				}
				continue;
			}
			if (n) {
				free(ring[count % (long long)n]);
				ring[count % (long long)n] = sbuf_detach(&line, NULL);
			}
			sbuf_reset(&line);
			count++;
		}
	}
	if (line.len && n) {
		free(ring[count % (long long)n]);
		ring[count % (long long)n] = sbuf_detach(&line, NULL);
		count++;
	}
	*first = count - (long long)n;
	for (long long i = count - (long long)n; i < count; i++) {
		strvec_push(lines, i < 0 ? "" : ring[i % (long long)n]);
	}
	ret = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(ring[i]);
	}
	free(ring);
	sbuf_release(&line);
	if (fd >= 0) {
		close(fd);
	}
	return ret;
}

/* ---- the routes ------------------------------------------------------------------------------ */

static void cap_reply(struct http_response *resp, int status, const char *desc, json_t *data)
{
	http_reply_json(resp, 200,
			json_pack("{si ss so}", "status", status, "description", desc, "data",
				  data ? data : json_object()));
}

/* A request to an app's routes: who calls, for which app, with the store open. */
struct call {
	struct store store;
	const char *state_dir;
	char app[64];
	char who[128]; /* "user:NAME" or "app-token" */
	char from[64];
	struct err e;
};

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

/* Whether token is app's: its SHA-256 is the app's property. */
static bool app_token_ok(struct call *c, const char *token)
{
	char want[USERS_TOKEN_HEX + 1];
	char *have = NULL;
	bool ok = false;

	if (strlen(token) != USERS_TOKEN_HEX ||
	    store_prop_get(&c->store, c->app, CAPDEPLOY_TOKEN_PROP, &have, &c->e) != 1) {
		goto out;
	}
	users_token_hash(token, want);
	/* both are hashes of the same length: a plain compare leaks nothing of the token */
	ok = !strcmp(have, want);
out:
	free(have);
	return ok;
}

/*
 * Opens the store and checks the caller for the app of the path: 0, or -1
 * with resp answered (and the store closed).
 */
static int call_open(struct call *c, const struct http_request *req, struct http_response *resp,
		     const struct api *api)
{
	const char *name = req->path + strlen(PREFIX);
	struct store_user u = {0};
	char *tok = NULL, *apptok = NULL, *role = NULL;
	int r, ret = -1;

	c->store = (struct store)STORE_INIT;
	c->state_dir = api->state_dir;
	err_init(&c->e);
	client_addr(req, c->from, sizeof(c->from));
	if (strncmp(req->path, PREFIX, strlen(PREFIX)) || !sshcmd_valid_app(name) ||
	    strlen(name) >= sizeof(c->app)) {
		cap_reply(resp, CAP_ILLEGAL_PARAMETER,
			  "expected " PREFIX "APP with an app name ([a-z][a-z0-9-]*)", NULL);
		return -1;
	}
	snprintf(c->app, sizeof(c->app), "%s", name);
	if (store_open(&c->store, api->state_dir, &c->e) < 0) {
		log_error("http: %s", err_str(&c->e));
		cap_reply(resp, CAP_GENERIC, "cannot read berthd's records", NULL);
		goto out;
	}
	apptok = http_header_get(req, "x-captain-app-token");
	tok = http_header_get(req, "x-captain-auth");
	if (apptok && *apptok) {
		if (!store_app_exists(&c->store, c->app) || !app_token_ok(c, apptok)) {
			cap_reply(resp, CAP_NOT_AUTHORIZED,
				  "Not authorized: the app token is not this app's", NULL);
			goto out;
		}
		snprintf(c->who, sizeof(c->who), "app-token");
	} else {
		r = users_session_user(&c->store, tok, (long long)time(NULL), &u, &c->e);
		if (r < 0) {
			log_error("http: %s", err_str(&c->e));
			cap_reply(resp, CAP_GENERIC, "cannot read berthd's records", NULL);
			goto out;
		}
		if (r == 0) {
			cap_reply(resp, CAP_TOKEN_INVALID,
				  "Auth token is invalid or expired: log in again", NULL);
			goto out;
		}
		if (strcmp(u.role, "admin") &&
		    (store_user_app_get(&c->store, u.name, c->app, &role, &c->e) != 1 ||
		     strcmp(role, "deployer"))) {
			cap_reply(
			    resp, CAP_NOT_AUTHORIZED,
			    "Not authorized: deploying this app needs an admin or its deployer",
			    NULL);
			goto out;
		}
		snprintf(c->who, sizeof(c->who), "user:%s", u.name);
	}
	if (!store_app_exists(&c->store, c->app)) {
		struct sbuf msg = SBUF_INIT;
		sbuf_addf(&msg, "App not found: %s (create it with apps:create first)", c->app);
		cap_reply(resp, CAP_GENERIC, msg.buf, NULL);
		sbuf_release(&msg);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		store_close(&c->store);
		err_release(&c->e);
	}
	free(tok);
	free(apptok);
	free(role);
	store_user_release(&u);
	return ret;
}

static void call_close(struct call *c)
{
	store_close(&c->store);
	err_release(&c->e);
}

/* STATE/uploads/APP[/name], malloc'd. */
static char *app_path(const char *state_dir, const char *app, const char *name)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addf(&sb, "%s/uploads/%s", state_dir, app);
	if (name) {
		sbuf_addf(&sb, "/%s", name);
	}
	return sbuf_detach(&sb, NULL);
}

/* Opens (creating) the app's upload lock: the fd, or -1. */
static int lock_open(const char *state_dir, const char *app)
{
	char *dir = app_path(state_dir, app, NULL), *path = app_path(state_dir, app, "lock");
	char *up = xstrdup(dir);
	int fd;

	*strrchr(up, '/') = 0;
	(void)mkdir(up, 0700);
	(void)mkdir(dir, 0700);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(up);
	free(dir);
	free(path);
	return fd;
}

int capdeploy_lock(const char *state_dir, const char *app, struct err *e)
{
	int fd = lock_open(state_dir, app), i;

	if (fd < 0) {
		return err_set(e, "cannot open the app's upload lock: %s", strerror(errno));
	}
	/* a status check (GET) holds it shared for an instant: try a few times */
	for (i = 0; i < 10 && flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		usleep(20 * 1000);
	}
	if (i == 10) {
		close(fd);
		err_set(e, "a build of this app is already running: wait until it ends");
		return -2;
	}
	return fd;
}

/* Whether someone holds the app's upload lock. */
bool capdeploy_building(const char *state_dir, const char *app)
{
	int fd = lock_open(state_dir, app);
	bool held = false;

	if (fd >= 0) {
		held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
	}
	return held;
}

static void write_status(const char *state_dir, const char *app, const char *status)
{
	char *path = app_path(state_dir, app, "status");
	struct err e = ERR_INIT;

	if (file_write_atomic(path, status, strlen(status), 0600, &e) < 0) {
		log_error("capdeploy: %s", err_str(&e));
	}
	err_release(&e);
	free(path);
}

/* Whether the app's last build failed (not "ok" and not running). */
static bool build_failed(const char *state_dir, const char *app)
{
	char *path = app_path(state_dir, app, "status");
	struct sbuf sb = SBUF_INIT;
	bool failed = false;

	if (sbuf_read_file(&sb, path) == 0) {
		sbuf_trim(&sb);
		failed = strcmp(sb.buf, "ok") != 0;
	}
	sbuf_release(&sb);
	free(path);
	return failed;
}

void capdeploy_h_app_data(const struct http_request *req, struct http_response *resp, void *data)
{
	struct call c;
	struct strvec lines = STRVEC_INIT;
	long long first = 0;
	char *log = NULL;
	json_t *arr;
	bool busy;

	if (call_open(&c, req, resp, data) < 0) {
		return;
	}
	log = app_path(c.state_dir, c.app, "log");
	busy = capdeploy_building(c.state_dir, c.app);
	if (capdeploy_log_window(log, CAPDEPLOY_LOG_LINES, &first, &lines, &c.e) < 0) {
		log_error("capdeploy: %s", err_str(&c.e));
		cap_reply(resp, CAP_GENERIC, "cannot read the build log", NULL);
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < lines.nr; i++) {
		json_t *l = json_string(lines.v[i]);
		json_array_append_new(arr, l ? l : json_string("(a line that is not UTF-8)"));
	}
	cap_reply(resp, CAP_OK, "App build status retrieved",
		  json_pack("{sb sb s{sI so}}", "isAppBuilding", busy, "isBuildFailed",
			    !busy && build_failed(c.state_dir, c.app), "logs", "firstLineNumber",
			    (json_int_t)first, "lines", arr));
out:
	strvec_clear(&lines);
	free(log);
	call_close(&c);
}

void capdeploy_h_register(const struct http_request *req, struct http_response *resp, void *data)
{
	const struct api *api = data;
	struct store st = STORE_INIT;
	struct store_user u = {0};
	struct err e = ERR_INIT;
	struct sbuf names = SBUF_INIT, who = SBUF_INIT;
	char *tok = http_header_get(req, "x-captain-auth");
	char from[64];
	json_t *j = http_body_json(req);
	const char *app = json_string_value(json_object_get(j, "appName"));
	int r;

	client_addr(req, from, sizeof(from));
	if (store_open(&st, api->state_dir, &e) < 0 ||
	    (r = users_session_user(&st, tok, (long long)time(NULL), &u, &e)) < 0) {
		log_error("http: %s", err_str(&e));
		cap_reply(resp, CAP_GENERIC, "cannot read berthd's records", NULL);
		goto out;
	}
	if (r == 0) {
		cap_reply(resp, CAP_TOKEN_INVALID, "Auth token is invalid or expired: log in again",
			  NULL);
		goto out;
	}
	if (strcmp(u.role, "admin")) {
		cap_reply(resp, CAP_NOT_AUTHORIZED, "Not authorized: this API is for admins", NULL);
		goto out;
	}
	if (!app) {
		cap_reply(resp, CAP_ILLEGAL_PARAMETER, "expected JSON {appName, hasPersistentData}",
			  NULL);
		goto out;
	}
	if (!sshcmd_valid_app(app)) {
		cap_reply(resp, CAP_BAD_NAME,
			  "App name is not valid: [a-z][a-z0-9-]*, at most 63 characters", NULL);
		goto out;
	}
	if (store_app_exists(&st, app)) {
		cap_reply(resp, CAP_ALREADY_EXIST, "App already exists", NULL);
		goto out;
	}
	if (store_app_create(&st, app, &e) < 0) {
		log_error("http: %s", err_str(&e));
		cap_reply(resp, CAP_GENERIC, "cannot write berthd's records", NULL);
		goto out;
	}
	sbuf_addf(&who, "user:%s", u.name);
	sbuf_addf(&names, "from %s", from);
	if (store_event_add(&st, who.buf, app, "apps:create", names.buf, &e) < 0) {
		log_error("http: %s", err_str(&e));
	}
	cap_reply(resp, CAP_OK, "App Definition Saved", NULL);
out:
	json_decref(j);
	free(tok);
	sbuf_release(&names);
	sbuf_release(&who);
	store_user_release(&u);
	store_close(&st);
	err_release(&e);
}

/* An upload in progress. */
struct upload {
	struct call c;
	int lock;
	bool multipart, detached, failed;
	char *dir; /* the upload's directory (multipart; or JSON with a definition to build) */
	struct capdeploy_upload up;
	bool up_open;
	struct sbuf json; /* a JSON body */
	struct err e;	  /* why the upload is refused */
};

static void upload_free(struct upload *u)
{
	if (u->up_open) {
		capdeploy_upload_release(&u->up);
	}
	if (u->dir) {
		struct err e = ERR_INIT;
		(void)file_remove_tree(u->dir, &e);
		err_release(&e);
		free(u->dir);
	}
	if (u->lock >= 0) {
		close(u->lock);
	}
	sbuf_release(&u->json);
	err_release(&u->e);
	call_close(&u->c);
	free(u);
}

char *capdeploy_new_dir(const char *state_dir, const char *app, struct err *e)
{
	char *tmpl = app_path(state_dir, app, "src-XXXXXX");

	if (!mkdtemp(tmpl)) {
		err_set(e, "cannot make a directory for the upload: %s", strerror(errno));
		free(tmpl);
		return NULL;
	}
	return tmpl;
}

static void *up_stream_begin(const struct http_request *req, struct http_response *resp, void *data)
{
	struct upload *u = xcalloc(1, sizeof(*u));
	char *ct = NULL, *det = http_form_get(req->query, strlen(req->query), "detached");
	int i;

	u->lock = -1;
	sbuf_init(&u->json, 0);
	err_init(&u->e);
	if (call_open(&u->c, req, resp, data) < 0) {
		err_init(&u->c.e);
		u->c.store = (struct store)STORE_INIT;
		goto refuse;
	}
	u->detached = det && strcmp(det, "") && strcmp(det, "0") && strcmp(det, "false");
	u->lock = lock_open(u->c.state_dir, u->c.app);
	if (u->lock < 0) {
		cap_reply(resp, CAP_GENERIC, "cannot open the app's upload lock", NULL);
		goto refuse;
	}
	/* a status check (GET) holds it shared for an instant: try a few times */
	for (i = 0; i < 10 && flock(u->lock, LOCK_EX | LOCK_NB) < 0; i++) {
		usleep(20 * 1000);
	}
	if (i == 10) {
		cap_reply(resp, CAP_ILLEGAL_OPERATION,
			  "A build of this app is already running: wait until it ends", NULL);
		goto refuse;
	}
	if (http_is_type(req, "multipart/form-data")) {
		u->multipart = true;
		ct = http_header_get(req, "content-type");
		if (!(u->dir = capdeploy_new_dir(u->c.state_dir, u->c.app, &u->e)) ||
		    capdeploy_upload_init(&u->up, ct, u->dir, &u->e) < 0) {
			u->failed = true;
		} else {
			u->up_open = true;
		}
	} else if (!http_is_type(req, "application/json")) {
		cap_reply(resp, CAP_ILLEGAL_PARAMETER,
			  "expected multipart/form-data (sourceFile, gitHash) or JSON "
			  "{captainDefinitionContent, gitHash}",
			  NULL);
		goto refuse;
	}
	free(ct);
	free(det);
	return u;
refuse:
	free(ct);
	free(det);
	upload_free(u);
	return NULL;
}

static int up_stream_data(void *st, const void *buf, size_t len)
{
	struct upload *u = st;

	if (u->failed) {
		return -1;
	}
	if (u->multipart) {
		if (capdeploy_upload_feed(&u->up, buf, len, &u->e) < 0) {
			u->failed = true;
			return -1;
		}
		return 0;
	}
	if (u->json.len + len > CAPDEPLOY_MAX_JSON) {
		err_set(&u->e, "a JSON body is at most %d bytes", CAPDEPLOY_MAX_JSON);
		u->failed = true;
		return -1;
	}
	sbuf_add(&u->json, buf, len);
	return 0;
}

/* Whether s is a commit's hash as git writes it (40 lowercase hex digits). */
static bool is_git_hash(const char *s)
{
	size_t n = strlen(s);

	if (n != 40) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* Starts `berthd hook upload APP ARGS...` with its output in the log and the lock as fd 3. */
static int spawn_build(struct upload *u, const char *const *args, struct err *e)
{
	char *log = app_path(u->c.state_dir, u->c.app, "log");
	char self[4096];
	struct strvec argv = STRVEC_INIT;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int rc, ret = -1;

	if (n <= 0) {
		free(log);
		return err_set(e, "cannot find berthd's own program: %s", strerror(errno));
	}
	self[n] = 0;
	strvec_push(&argv, self);
	strvec_push(&argv, "hook");
	strvec_push(&argv, "upload");
	strvec_push(&argv, u->c.app);
	for (size_t i = 0; args[i]; i++) {
		strvec_push(&argv, args[i]);
	}
	write_status(u->c.state_dir, u->c.app, "building");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_adddup2(&fa, u->lock, 3);
	/* berthd serve reaps it, as every child; the status file says how it ended */
	rc = posix_spawn(&pid, self, &fa, NULL, argv.v, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		write_status(u->c.state_dir, u->c.app, "failed");
		err_set(e, "cannot start the build: %s", strerror(rc));
		goto out;
	}
	ret = 0;
out:
	strvec_clear(&argv);
	free(log);
	return ret;
}

static void event(struct upload *u, const char *what)
{
	struct sbuf names = SBUF_INIT;
	struct err e = ERR_INIT;

	sbuf_addf(&names, "%s from %s", what, u->c.from);
	if (store_event_add(&u->c.store, u->c.who, u->c.app, "caprover:deploy", names.buf, &e) <
	    0) {
		log_error("capdeploy: %s", err_str(&e));
	}
	sbuf_release(&names);
	err_release(&e);
}

/* Waits until the build holding the lock ends: whether it deployed. */
static bool wait_build(struct upload *u)
{
	/* the child holds the lock (fd 3) until it exits; BUILD_TIMEOUT bounds it */
	int fd = lock_open(u->c.state_dir, u->c.app);
	bool ok;

	if (fd < 0) {
		return false;
	}
	(void)flock(fd, LOCK_SH);
	close(fd);
	ok = !build_failed(u->c.state_dir, u->c.app);
	return ok;
}

static void up_stream_end(void *st, const struct http_request *req, struct http_response *resp,
			  bool complete)
{
	struct upload *u = st;
	struct capdef d = CAPDEF_INIT;
	struct sbuf msg = SBUF_INIT;
	json_t *j = NULL;
	const char *git_hash = "", *def;
	char rev[USERS_TOKEN_HEX + 1];
	int rc;

	(void)req;
	if (!complete) {
		goto out;
	}
	if (u->failed) {
		goto refused;
	}
	if (u->multipart) {
		if (capdeploy_upload_finish(&u->up, &u->e) < 0) {
			goto refused;
		}
		git_hash = u->up.git_hash.buf;
		rc = capdef_load(u->dir, NULL, &d, &u->e);
	} else {
		j = json_loadb(u->json.buf, u->json.len, JSON_REJECT_DUPLICATES, NULL);
		def = json_string_value(json_object_get(j, "captainDefinitionContent"));
		if (!def) {
			err_set(&u->e, "expected JSON {captainDefinitionContent, gitHash}");
			goto refused;
		}
		if (json_string_value(json_object_get(j, "gitHash"))) {
			git_hash = json_string_value(json_object_get(j, "gitHash"));
		}
		rc = capdef_parse(def, strlen(def), &d, &u->e);
		if (rc == 0 && d.kind == CAPDEF_BUILD) {
			/* lines without files: a directory holding the definition alone */
			capdef_release(&d);
			if (!(u->dir = capdeploy_new_dir(u->c.state_dir, u->c.app, &u->e))) {
				goto refused;
			}
			sbuf_addf(&msg, "%s/" CAPDEF_FILE, u->dir);
			rc = file_write_atomic(msg.buf, def, strlen(def), 0644, &u->e);
			sbuf_reset(&msg);
			if (rc == 0) {
				rc = capdef_load(u->dir, NULL, &d, &u->e);
			}
		}
	}
	if (rc < 0) {
		goto refused;
	}
	if (*git_hash && !is_git_hash(git_hash)) {
		err_set(&u->e, "gitHash: expected a commit's 40 hex digits");
		goto refused;
	}
	if (d.kind == CAPDEF_IMAGE) {
		rc = spawn_build(u, (const char *[]){"--image", d.image, NULL}, &u->e);
		event(u, d.image);
	} else {
		if (*git_hash) {
			snprintf(rev, sizeof(rev), "%s", git_hash);
		} else if (users_token(rev, &u->e) < 0) {
			goto refused;
		}
		rev[40] = 0;
		rc = spawn_build(
		    u,
		    (const char *[]){u->dir, rev, d.dockerfile, *git_hash ? git_hash : "-", NULL},
		    &u->e);
		if (rc == 0) {
			/* the build owns the directory now, and removes it */
			free(u->dir);
			u->dir = NULL;
		}
		event(u, *git_hash ? git_hash : "upload");
	}
	if (rc < 0) {
		log_error("capdeploy: %s", err_str(&u->e));
		cap_reply(resp, CAP_GENERIC, err_str(&u->e), NULL);
		goto out;
	}
	close(u->lock);
	u->lock = -1;
	if (u->detached) {
		cap_reply(resp, CAP_OK, "Deploy is started", NULL);
	} else if (wait_build(u)) {
		cap_reply(resp, CAP_OK, "Deploy is done", NULL);
	} else {
		cap_reply(resp, CAP_BUILD_ERROR, "Build or deploy failed: see the build log", NULL);
	}
	goto out;
refused:
	sbuf_addf(&msg, "Upload refused: %s", err_str(&u->e));
	cap_reply(resp, CAP_ILLEGAL_PARAMETER, msg.buf, NULL);
out:
	json_decref(j);
	capdef_release(&d);
	sbuf_release(&msg);
	upload_free(u);
}

static const struct http_stream upload_stream = {up_stream_begin, up_stream_data, up_stream_end};

const struct http_stream_route capdeploy_stream_routes[] = {
    {"POST", PREFIX, CAPDEPLOY_MAX_UPLOAD, &upload_stream},
    /* the JSON API's changes of an app, a tarball to deploy among them (daemon/apiapps.h) */
    {"POST", "/api/v1/apps/", CAPDEPLOY_MAX_UPLOAD, &apiapps_stream},
};
const size_t capdeploy_nstream_routes =
    sizeof(capdeploy_stream_routes) / sizeof(capdeploy_stream_routes[0]);

/* ---- the build, in its own process ------------------------------------------------------- */

static void progress_out(const char *line, void *data)
{
	(void)data;
	printf("%s\n", line);
	fflush(stdout);
}

int capdeploy_hook(struct bd *bd, int argc, const char **argv)
{
	struct push_result pr = {0};
	struct push_opts po = {0};
	struct store_app a = {0};
	struct err e = ERR_INIT;
	const char *app = argc > 0 ? argv[0] : "";
	bool image = argc == 3 && !strcmp(argv[1], "--image");
	int lock = -1, rc = 1;

	/* fd 3 is the upload lock: held to the end, not handed to what runs below */
	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	bd->admin = true;
	if ((!image && argc != 5) || !sshcmd_valid_app(app) ||
	    store_app_get(&bd->store, app, &a, NULL) != 1) {
		rc = bd_fail("usage: berthd hook upload APP DIR REV DOCKERFILE GITHASH|- "
			     "(or APP --image IMAGE), for an app that exists");
		goto out;
	}
	if (image) {
		rc = cmd_git_from_image(bd, 3, (const char *[]){"git:from-image", app, argv[2]});
		goto out;
	}
	lock = appdeploy_lock(bd, app, "caprover deploy", &e);
	if (lock < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	po.app = app;
	po.src_dir = argv[1];
	po.rev = argv[2];
	po.dockerfile = argv[3];
	po.progress = progress_out;
	bd_step(bd, "Building %s from an upload%s%s", app, strcmp(argv[4], "-") ? " of " : "",
		strcmp(argv[4], "-") ? argv[4] : "");
	if (push_build(&po, &pr, &e) < 0) {
		bd_event(bd, app, "build-failed", strcmp(argv[4], "-") ? argv[4] : "upload");
		rc = bd_fail_err(&e);
		goto out;
	}
	if (appdeploy_run(bd, app, pr.image, pr.version, strcmp(argv[4], "-") ? argv[4] : NULL, &pr,
			  &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (a.image_source) {
		store_app_set(&bd->store, app, STORE_APP_IMAGE_SOURCE, NULL, NULL);
	}
	rc = 0;
out:
	appdeploy_unlock(lock);
	if (!image && argc == 5 && sshcmd_valid_app(app)) {
		struct err re = ERR_INIT;
		(void)file_remove_tree(argv[1], &re);
		err_release(&re);
	}
	if (sshcmd_valid_app(app)) {
		write_status(bd->state_dir, app, rc == 0 ? "ok" : "failed");
	}
	push_result_release(&pr);
	store_app_release(&a);
	err_release(&e);
	return rc;
}

/* ---- panel:app-token ----------------------------------------------------------------------- */

int cmd_panel_app_token(struct bd *bd, int argc, const char **argv)
{
	char token[USERS_TOKEN_HEX + 1], hash[USERS_TOKEN_HEX + 1];
	struct err e = ERR_INIT;
	bool revoke = argc == 3 && !strcmp(argv[2], "--revoke");
	int rc = 1;

	if (argc != 2 && !revoke) {
		return bd_usage("panel:app-token APP [--revoke]");
	}
	if (revoke) {
		if (store_prop_set(&bd->store, argv[1], CAPDEPLOY_TOKEN_PROP, NULL, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		bd_event(bd, argv[1], "panel:app-token", "revoked");
		bd_step(bd, "App token of %s revoked", argv[1]);
		rc = 0;
		goto out;
	}
	if (users_token(token, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	users_token_hash(token, hash);
	if (store_prop_set(&bd->store, argv[1], CAPDEPLOY_TOKEN_PROP, hash, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, argv[1], "panel:app-token", "created");
	bd_step(bd,
		"App token of %s (shown once; `caprover deploy --appToken TOKEN` deploys "
		"this app alone):",
		argv[1]);
	printf("%s\n", token);
	rc = 0;
out:
	err_release(&e);
	return rc;
}
