/* apiapps — see apiapps.h. */
#include "daemon/apiapps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/apictx.h"
#include "daemon/gitsync.h"
#include "daemon/capdef.h"
#include "daemon/capdeploy.h"
#include "daemon/sshcmd.h"
#include "daemon/users.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

extern char **environ;

#define APPS_PREFIX "/api/v1/apps/"
#define JOBS_PREFIX "/api/v1/jobs/"

/* The commands a job may run: what the routes start, nothing else. */
static const char *const job_commands[] = {
    "releases:rollback",
    "config:set",
    "config:unset",
    "domains:add",
    "domains:remove",
    "letsencrypt:enable",
    "letsencrypt:disable",
    "ps:scale",
    "git:from-image",
    "git:sync",
    /* a tarball's build: capdeploy_hook's arguments */
    "upload",
    /* POST /api/v1/oneclick (daemon/apioneclick.h): its app is the install's appname */
    "oneclick:deploy",
};

bool apiapps_valid_job_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n != APIAPPS_JOB_ID_HEX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* STATE/jobs[/ID[/name]], malloc'd. */
static char *job_path(const char *state_dir, const char *id, const char *name)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addf(&sb, "%s/jobs", state_dir);
	if (id) {
		sbuf_addf(&sb, "/%s", id);
	}
	if (name) {
		sbuf_addf(&sb, "/%s", name);
	}
	return sbuf_detach(&sb, NULL);
}

/* A small file of a job, trimmed, malloc'd; NULL when it cannot be read. */
static char *job_read(const char *state_dir, const char *id, const char *name)
{
	char *path = job_path(state_dir, id, name);
	struct sbuf sb = SBUF_INIT;
	char *r = NULL;

	if (sbuf_read_file(&sb, path) >= 0) {
		sbuf_trim(&sb);
		r = sbuf_detach(&sb, NULL);
	}
	sbuf_release(&sb);
	free(path);
	return r;
}

static int job_write(const char *state_dir, const char *id, const char *name, const char *value,
		     mode_t mode, struct err *e)
{
	char *path = job_path(state_dir, id, name);
	int r = file_write_atomic(path, value, strlen(value), mode, e);

	free(path);
	return r;
}

int apiapps_log_lines(const char *path, long long from, size_t max, struct strvec *lines,
		      long long *next, struct err *e)
{
	struct sbuf line = SBUF_INIT;
	long long count = 0;
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = -1;
	ssize_t r;

	if (from < 0) {
		from = 0;
	}
	if (fd < 0 && errno != ENOENT) {
		err_set(e, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	while (fd >= 0 && lines->nr < max && (r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			err_set(e, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		for (ssize_t i = 0; i < r && lines->nr < max; i++) {
			if (buf[i] != '\n') {
				if (count >= from && line.len < 4096) {
					sbuf_addch(&line, buf[i]);
				}
				continue;
			}
			if (count >= from) {
				strvec_push(lines, line.buf);
			}
			sbuf_reset(&line);
			count++;
		}
	}
	/* a last line without its '\n' yet: a job still writing it; given once complete */
	*next = count > from ? count : from;
	ret = 0;
out:
	sbuf_release(&line);
	if (fd >= 0) {
		close(fd);
	}
	return ret;
}

/* ---- who may do what ---------------------------------------------------------------------- */

/* u's role on app (malloc'd in *role): 1, 0 (may not read it, or no such app), -1 (c->e). */
static int role_on(struct apictx *c, const struct store_user *u, const char *app, char **role)
{
	struct strvec apps = STRVEC_INIT, roles = STRVEC_INIT;
	int r = 0;

	*role = NULL;
	if (apictx_readable_apps(c, u, &apps, &roles) < 0) {
		r = -1;
		goto out;
	}
	apictx_token_limit(c, &apps, &roles);
	for (size_t i = 0; i < apps.nr; i++) {
		if (!strcmp(apps.v[i], app)) {
			*role = xstrdup(roles.v[i]);
			r = 1;
			break;
		}
	}
out:
	strvec_clear(&apps);
	strvec_clear(&roles);
	return r;
}

static void fail_500(struct apictx *c, struct http_response *resp)
{
	log_error("http: %s", err_str(&c->e));
	apictx_fail(resp, 500, "cannot read berthd's records");
}

/* ---- jobs ------------------------------------------------------------------------------------ */

/* The job directories of app (IDs), oldest first. */
static void job_list(const char *state_dir, const char *app, struct strvec *ids)
{
	char *dir = job_path(state_dir, NULL, NULL);
	DIR *d = opendir(dir);
	struct dirent *de;
	struct {
		char id[APIAPPS_JOB_ID_HEX + 1];
		long long t;
	} *v = NULL;
	size_t n = 0, cap = 0;

	while (d && (de = readdir(d))) {
		char *a, *p;
		struct stat st;

		if (!apiapps_valid_job_id(de->d_name)) {
			continue;
		}
		a = job_read(state_dir, de->d_name, "app");
		p = job_path(state_dir, de->d_name, "app");
		if (a && !strcmp(a, app) && stat(p, &st) == 0) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			memcpy(v[n].id, de->d_name,
			       sizeof(v[n].id)); /* a valid ID: 32 digits and NUL */
			v[n].t = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
			n++;
		}
		free(a);
		free(p);
	}
	if (d) {
		closedir(d);
	}
	/* a few dozen at most: insertion sort by the time "app" was written */
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && v[j - 1].t > v[j].t; j--) {
			char tid[APIAPPS_JOB_ID_HEX + 1];
			long long tt = v[j].t;
			memcpy(tid, v[j].id, sizeof(tid));
			memcpy(v[j].id, v[j - 1].id, sizeof(tid));
			v[j].t = v[j - 1].t;
			memcpy(v[j - 1].id, tid, sizeof(tid));
			v[j - 1].t = tt;
		}
	}
	for (size_t i = 0; i < n; i++) {
		strvec_push(ids, v[i].id);
	}
	free(v);
	free(dir);
}

/* Removes app's job directories but the newest keep. */
static void job_prune(const char *state_dir, const char *app, size_t keep)
{
	struct strvec ids = STRVEC_INIT;

	job_list(state_dir, app, &ids);
	for (size_t i = 0; i + keep < ids.nr; i++) {
		char *p = job_path(state_dir, ids.v[i], NULL);
		struct err e = ERR_INIT;
		if (file_remove_tree(p, &e) < 0) {
			log_error("http: %s", err_str(&e));
		}
		err_release(&e);
		free(p);
	}
	strvec_clear(&ids);
}

/* The app's last job as {id, action, state}, or null. */
static json_t *last_job(const char *state_dir, const char *app)
{
	struct strvec ids = STRVEC_INIT;
	json_t *j = json_null();

	job_list(state_dir, app, &ids);
	if (ids.nr) {
		const char *id = ids.v[ids.nr - 1];
		char *action = job_read(state_dir, id, "action");
		char *status = job_read(state_dir, id, "status");
		json_decref(j);
		j = json_pack("{ss ss ss}", "id", id, "action", action ? action : "", "state",
			      status ? status : "failed");
		free(action);
		free(status);
	}
	strvec_clear(&ids);
	return j;
}

int apiapps_job_start(const struct api *api, const char *app, const char *action, json_t *cmds,
		      int lock, char id[APIAPPS_JOB_ID_HEX + 1], struct err *e)
{
	char tok[USERS_TOKEN_HEX + 1], self[4096];
	char *jobs = job_path(api->state_dir, NULL, NULL), *dir = NULL, *log = NULL, *args = NULL;
	const char *prog = api->job_program;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none;
	pid_t pid;
	int rc, ret = -1;

	if (users_token(tok, e) < 0) {
		goto out;
	}
	memcpy(id, tok, APIAPPS_JOB_ID_HEX);
	id[APIAPPS_JOB_ID_HEX] = 0;
	dir = job_path(api->state_dir, id, NULL);
	log = job_path(api->state_dir, id, "log");
	if ((mkdir(jobs, 0700) < 0 && errno != EEXIST) || mkdir(dir, 0700) < 0) {
		err_set(e, "cannot make the job's directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	args = json_dumps(cmds, JSON_COMPACT);
	if (!args || job_write(api->state_dir, id, "args", args, 0600, e) < 0 ||
	    job_write(api->state_dir, id, "action", action, 0600, e) < 0 ||
	    job_write(api->state_dir, id, "status", "running", 0600, e) < 0 ||
	    job_write(api->state_dir, id, "app", app, 0600, e) < 0) {
		if (!args) {
			err_set(e, "cannot encode the job's arguments");
		}
		goto out;
	}
	if (!prog) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0) {
			err_set(e, "cannot find berthd's own program: %s", strerror(errno));
			goto out;
		}
		self[n] = 0;
		prog = self;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (lock >= 0) {
		posix_spawn_file_actions_adddup2(&fa, lock, 3);
	}
	/* the handler's thread blocks berthd serve's signals: the job takes them again */
	posix_spawnattr_init(&sa);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK);
	/* berthd serve reaps it, as every child; the job's status file says how it ended */
	rc = posix_spawn(&pid, prog, &fa, &sa,
			 (char *const[]){(char *)prog, "hook", "job", id, NULL}, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		(void)job_write(api->state_dir, id, "status", "failed", 0600, e);
		err_set(e, "cannot start the job: %s", strerror(rc));
		goto out;
	}
	job_prune(api->state_dir, app, APIAPPS_JOBS_KEPT);
	ret = 0;
out:
	if (ret < 0 && dir) {
		struct err re = ERR_INIT;
		(void)file_remove_tree(dir, &re);
		err_release(&re);
	}
	if (args) {
		memset(args, 0, strlen(args));
		free(args);
	}
	memset(tok, 0, sizeof(tok));
	free(jobs);
	free(dir);
	free(log);
	return ret;
}

/* ---- GET /api/v1/apps/NAME ------------------------------------------------------------------ */

static json_t *releases_json(struct apictx *c, const char *app, const char *current)
{
	struct store_release *rs = NULL;
	size_t n = 0;
	json_t *arr;

	if (store_release_list(&c->store, app, &rs, &n, &c->e) < 0) {
		return NULL;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[32];
		apictx_iso_time(rs[i].time, created, sizeof(created));
		json_array_append_new(arr, json_pack("{ss ss ss ss sb}", "version", rs[i].version,
						     "image", rs[i].image ? rs[i].image : "",
						     "created", created, "status",
						     rs[i].status ? rs[i].status : "", "current",
						     current && !strcmp(rs[i].version, current)));
	}
	store_releases_free(rs, n);
	return arr;
}

/* The env's names alone: a value never leaves the store here. */
static json_t *env_json(struct apictx *c, const char *app)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	json_t *arr = NULL;

	if (store_config_list(&c->store, app, &names, &values, &c->e) < 0) {
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < names.nr; i++) {
		json_array_append_new(arr, json_pack("{ss}", "key", names.v[i]));
	}
out:
	for (size_t i = 0; i < values.nr; i++) {
		memset(values.v[i], 0, strlen(values.v[i]));
	}
	strvec_clear(&names);
	strvec_clear(&values);
	return arr;
}

/*
 * The app's volumes (storage:list's "HOST:CONTAINER" mounts) and limits
 * (resource:limit's memory and cpu, "" when none) into j: 0, or -1 (c->e).
 */
static int volumes_limits_json(struct apictx *c, const char *app, json_t *j)
{
	struct strvec mounts = STRVEC_INIT;
	char *mem = NULL, *cpu = NULL;
	json_t *vols;
	int r = -1;

	if (store_mount_list(&c->store, app, &mounts, &c->e) < 0 ||
	    store_prop_get(&c->store, app, "resource.memory", &mem, &c->e) < 0 ||
	    store_prop_get(&c->store, app, "resource.cpu", &cpu, &c->e) < 0) {
		goto out;
	}
	vols = json_array();
	for (size_t i = 0; i < mounts.nr; i++) {
		const char *colon = strrchr(mounts.v[i], ':');
		json_t *v = colon ? json_pack("{ss% ss}", "host", mounts.v[i],
					      (size_t)(colon - mounts.v[i]), "container", colon + 1)
				  : NULL;

		if (v) {
			json_array_append_new(vols, v);
		}
	}
	json_object_set_new(j, "volumes", vols);
	json_object_set_new(j, "limits",
			    json_pack("{ss ss}", "memory", mem ? mem : "", "cpu", cpu ? cpu : ""));
	r = 0;
out:
	strvec_clear(&mounts);
	free(mem);
	free(cpu);
	return r;
}

void apiapps_h_app(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u;
	const char *name;
	char *role = NULL;
	json_t *j = NULL, *rels, *env;
	int r;

	if (apictx_open_setup(&c, req, resp, data) < 0) {
		goto out_close;
	}
	if (apictx_auth(&c, req, resp, &u, 0) <= 0) {
		goto out_close;
	}
	name = apictx_path_name(req, APPS_PREFIX);
	r = name && sshcmd_valid_app(name) ? role_on(&c, &u, name, &role) : 0;
	if (r < 0) {
		fail_500(&c, resp);
		goto out;
	}
	if (r == 0 || !(j = apictx_app_json(&c, name))) {
		if (err_isset(&c.e)) {
			fail_500(&c, resp);
		} else {
			apictx_fail(resp, 404, "no such app (or you may not read it)");
		}
		goto out;
	}
	rels = releases_json(&c, name, json_string_value(json_object_get(j, "version")));
	env = rels ? env_json(&c, name) : NULL;
	if (!rels || !env) {
		json_decref(rels);
		fail_500(&c, resp);
		goto out;
	}
	json_object_set_new(j, "role", json_string(role));
	json_object_set_new(j, "releases", rels);
	json_object_set_new(j, "env", env);
	json_object_set_new(j, "job", last_job(c.api->state_dir, name));
	if (volumes_limits_json(&c, name, j) < 0) {
		fail_500(&c, resp);
		goto out;
	}
	http_reply_json(resp, 200, j);
	j = NULL;
out:
	json_decref(j);
	free(role);
	store_user_release(&u);
out_close:
	apictx_close(&c);
}

/* ---- POST /api/v1/apps ------------------------------------------------------------------------
 */

/* The user who creates an app, from the request's head: 0 (open), or -1 answered (closed). */
static int create_open(struct apictx *c, struct store_user *u, const struct http_request *req,
		       struct http_response *resp, void *data)
{
	if (apictx_open_setup(c, req, resp, data) < 0) {
		goto fail;
	}
	if (apictx_auth(c, req, resp, u, APICTX_CHANGE | APICTX_NO_APP_TOKEN) <= 0) {
		goto fail;
	}
	if (strcmp(u->role, "admin")) {
		apictx_fail(resp, 403, "permission denied: only an admin creates apps");
		store_user_release(u);
		goto fail;
	}
	if (!http_is_type(req, "application/json")) {
		apictx_fail(resp, 415, "expected a JSON body (Content-Type: application/json)");
		store_user_release(u);
		goto fail;
	}
	return 0;
fail:
	apictx_close(c);
	return -1;
}

/* Creates the app the body b names (NULL: not a JSON object): the answer. */
static void create_run(struct apictx *c, struct store_user *u, json_t *b,
		       struct http_response *resp)
{
	const char *name = json_string_value(json_object_get(b, "name"));

	if (!b) {
		apictx_fail(resp, 400, "expected a JSON object as the body");
	} else if (!name || !sshcmd_valid_app(name)) {
		apictx_fail(resp, 400,
			    "name: expected an app name (lowercase letters, digits and '-', "
			    "starting with a letter)");
	} else if (store_app_exists(&c->store, name)) {
		apictx_fail(resp, 409, "an app of that name exists");
	} else if (store_app_create(&c->store, name, &c->e) < 0) {
		fail_500(c, resp);
	} else {
		apictx_event(c, u->name, name, "apps:create", NULL);
		http_reply_json(resp, 201, json_pack("{ss}", "name", name));
	}
}

void apiapps_h_create(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u;
	json_t *b;

	if (create_open(&c, &u, req, resp, data) < 0) {
		return;
	}
	b = http_body_json(req);
	create_run(&c, &u, b, resp);
	json_decref(b);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- the changes --------------------------------------------------------------------------- */

/* A change being checked: its app, its commands, its job's action and its event's names. */
struct change {
	char app[64];
	json_t *cmds;	    /* [[argv...], ...] */
	const char *action; /* the job's (and the event's) */
	struct sbuf what;   /* the event's names: never a value */
};

/* One command [argv...] appended to ch->cmds, from a NULL-ended list. */
static json_t *cmd_add(struct change *ch, const char *const *argv)
{
	json_t *a = json_array();

	for (size_t i = 0; argv[i]; i++) {
		json_array_append_new(a, json_string(argv[i]));
	}
	json_array_append_new(ch->cmds, a);
	return a;
}

static int bad(struct http_response *resp, const char *msg)
{
	apictx_fail(resp, 400, msg);
	return -1;
}

static int plan_rollback(struct change *ch, json_t *b, struct http_response *resp)
{
	const char *v = json_string_value(json_object_get(b, "version"));

	if (!v || !*v || strlen(v) > 128) {
		return bad(resp, "version: expected the version of a release (a string, as GET "
				 "/api/v1/apps/NAME lists them)");
	}
	cmd_add(ch, (const char *[]){"releases:rollback", ch->app, v, NULL});
	sbuf_addstr(&ch->what, v);
	ch->action = "releases:rollback";
	return 0;
}

static int plan_env(struct change *ch, json_t *b, struct http_response *resp)
{
	json_t *set = json_object_get(b, "set"), *unset = json_object_get(b, "unset"), *v, *cmd;
	const char *k;
	size_t i;
	struct sbuf pair = SBUF_INIT, msg = SBUF_INIT;
	int r = -1;

	if (set && !json_is_object(set)) {
		bad(resp, "set: expected an object {KEY: VALUE, ...} of strings");
		goto out;
	}
	if (unset && !json_is_array(unset)) {
		bad(resp, "unset: expected an array [KEY, ...] of strings");
		goto out;
	}
	if (!json_object_size(set) && !json_array_size(unset)) {
		bad(resp, "set or unset: expected at least one KEY to set or unset");
		goto out;
	}
	json_array_foreach(unset, i, v)
	{
		const char *name = json_string_value(v);
		if (!name || !config_valid_name(name, strlen(name))) {
			bad(resp, "unset: expected config names (letters, digits and '_', not "
				  "starting with a digit)");
			goto out;
		}
	}
	json_object_foreach(set, k, v)
	{
		const char *val = json_string_value(v);
		if (!config_valid_name(k, strlen(k))) {
			bad(resp, "set: a KEY is not a config name (expected letters, digits and "
				  "'_', not starting with a digit)");
			goto out;
		}
		if (!val || strlen(val) != json_string_length(v)) {
			sbuf_addf(&msg, "set.%s: expected a string without NUL bytes", k);
			bad(resp, msg.buf);
			goto out;
		}
		if (json_string_length(v) > CONFIG_VALUE_MAX || strchr(val, '\n')) {
			sbuf_addf(&msg,
				  "set.%s: expected a value of at most %d bytes, without a "
				  "newline",
				  k, CONFIG_VALUE_MAX);
			bad(resp, msg.buf);
			goto out;
		}
	}
	if (json_array_size(unset)) {
		/* with a set after it, one deploy for both */
		cmd = cmd_add(ch, (const char *[]){"config:unset", NULL});
		if (json_object_size(set)) {
			json_array_append_new(cmd, json_string("--no-restart"));
		}
		json_array_append_new(cmd, json_string(ch->app));
		json_array_foreach(unset, i, v)
		{
			json_array_append(cmd, v);
			sbuf_addf(&ch->what, "%s%s", ch->what.len ? "," : "", json_string_value(v));
		}
		ch->action = "config:unset";
	}
	if (json_object_size(set)) {
		cmd = cmd_add(ch, (const char *[]){"config:set", ch->app, NULL});
		json_object_foreach(set, k, v)
		{
			sbuf_reset(&pair);
			sbuf_addf(&pair, "%s=%s", k, json_string_value(v));
			json_array_append_new(cmd, json_string(pair.buf));
			sbuf_addf(&ch->what, "%s%s", ch->what.len ? "," : "", k);
		}
		ch->action = "config:set";
	}
	r = 0;
out:
	if (pair.buf) {
		memset(pair.buf, 0, pair.len);
	}
	sbuf_release(&pair);
	sbuf_release(&msg);
	return r;
}

static int plan_domain(struct change *ch, const char *d, bool add, struct http_response *resp)
{
	char *dom = d ? xstrdup(d) : NULL;
	int r = -1;

	if (!dom || !domains_valid_name(dom)) {
		bad(resp, "domain: expected a host name like app.example.com (\"*.\" allowed "
			  "in front)");
		goto out;
	}
	cmd_add(ch, (const char *[]){add ? "domains:add" : "domains:remove", ch->app, dom, NULL});
	sbuf_addstr(&ch->what, dom);
	ch->action = add ? "domains:add" : "domains:remove";
	r = 0;
out:
	free(dom);
	return r;
}

static int plan_letsencrypt(struct change *ch, json_t *b, struct http_response *resp)
{
	json_t *en = json_object_get(b, "enabled");

	if (!json_is_boolean(en)) {
		return bad(resp, "enabled: expected true or false");
	}
	ch->action = json_is_true(en) ? "letsencrypt:enable" : "letsencrypt:disable";
	cmd_add(ch, (const char *[]){ch->action, ch->app, NULL});
	return 0;
}

static int plan_scale(struct change *ch, json_t *b, struct http_response *resp)
{
	json_t *w = json_object_get(b, "web");
	char arg[32];

	if (!json_is_integer(w) || json_integer_value(w) < 0 ||
	    json_integer_value(w) > APIAPPS_SCALE_MAX) {
		return bad(resp, "web: expected a whole number from 0 to 100");
	}
	snprintf(arg, sizeof(arg), "web=%lld", (long long)json_integer_value(w));
	cmd_add(ch, (const char *[]){"ps:scale", ch->app, arg, NULL});
	sbuf_addstr(&ch->what, arg);
	ch->action = "ps:scale";
	return 0;
}

static int plan_deploy(struct change *ch, json_t *b, struct http_response *resp)
{
	const char *img = json_string_value(json_object_get(b, "image"));
	const char *url = json_string_value(json_object_get(b, "git_url"));
	json_t *refv = json_object_get(b, "ref");
	const char *ref = json_string_value(refv);

	if (url || json_object_get(b, "git_url")) {
		struct err e = ERR_INIT;
		struct sbuf msg = SBUF_INIT;
		int r = 0;

		if (!url || gitsync_check_url(url, &e) < 0) {
			sbuf_addf(&msg, "git_url: %s",
				  err_isset(&e)
				      ? err_str(&e)
				      : "expected the https, http or git URL of a repository");
			r = -1;
		} else if ((refv && !ref) || (ref && gitsync_check_ref(ref, &e) < 0)) {
			sbuf_addf(&msg, "ref: %s",
				  err_isset(&e) ? err_str(&e) : "expected a branch, tag or commit");
			r = -1;
		}
		if (r < 0) {
			r = bad(resp, msg.buf);
			sbuf_release(&msg);
			err_release(&e);
			return r;
		}
		/* the URL may carry a token: it goes only to the job's 0600 file; the audit redacts
		 * it */
		cmd_add(ch, (const char *[]){"git:sync", "--build", ch->app, url, ref, NULL});
		gitsync_redact_url(&ch->what, url);
		if (ref) {
			sbuf_addf(&ch->what, " %s", ref);
		}
		ch->action = "git:sync";
		return 0;
	}
	if (!img || !*img || strlen(img) > 512 || img[0] == '-' || strpbrk(img, " \t\r\n")) {
		return bad(resp, "image: expected an image reference like registry/name:tag");
	}
	cmd_add(ch, (const char *[]){"git:from-image", ch->app, img, NULL});
	sbuf_addstr(&ch->what, img);
	ch->action = "git:from-image";
	return 0;
}

/* A change's request, checked: its user, app, role and action (the rest of the path). */
struct chreq {
	struct apictx c;
	struct store_user u;
	char app[64];
	const char *rest; /* after APP/ in the path (req->path lives as long as the request) */
	int (*plan)(struct change *, json_t *, struct http_response *);
	bool is_delete;
};

static int plan_domain_add(struct change *ch, json_t *b, struct http_response *resp)
{
	return plan_domain(ch, json_string_value(json_object_get(b, "domain")), true, resp);
}

/*
 * Opens r for a change of the app of the path, read from the request's
 * head alone (a streamed body's head is gone by its end): the user, a role
 * of deployer or admin, a route that exists. 0 (r open: chreq_close), or
 * -1 with resp answered (closed).
 */
static int chreq_open(struct chreq *r, const struct http_request *req, struct http_response *resp,
		      void *data, bool is_delete)
{
	const char *p = req->path + strlen(APPS_PREFIX), *slash;
	char *role = NULL;
	int g, ret = -1;
	bool authed = false;

	memset(r, 0, sizeof(*r));
	r->is_delete = is_delete;
	if (apictx_open_setup(&r->c, req, resp, data) < 0 ||
	    apictx_auth(&r->c, req, resp, &r->u, APICTX_CHANGE) <= 0) {
		goto out;
	}
	authed = true;
	slash = strncmp(req->path, APPS_PREFIX, strlen(APPS_PREFIX)) ? NULL : strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= sizeof(r->app)) {
		apictx_fail(resp, 404, "no such route (expected /api/v1/apps/NAME/ACTION)");
		goto out;
	}
	snprintf(r->app, sizeof(r->app), "%.*s", (int)(slash - p), p);
	r->rest = slash + 1;
	g = sshcmd_valid_app(r->app) ? role_on(&r->c, &r->u, r->app, &role) : 0;
	if (g < 0) {
		fail_500(&r->c, resp);
		goto out;
	}
	if (g == 0 || !store_app_exists(&r->c.store, r->app)) {
		apictx_fail(resp, 404, "no such app (or you may not read it)");
		goto out;
	}
	if (strcmp(role, "deployer") && strcmp(role, "admin")) {
		apictx_fail(
		    resp, 403,
		    "permission denied: changing this app needs the role deployer or admin");
		goto out;
	}
	if (is_delete) {
		if (strncmp(r->rest, "domains/", 8) || !r->rest[8] || strchr(r->rest + 8, '/')) {
			apictx_fail(resp, 404,
				    "no such route (expected DELETE "
				    "/api/v1/apps/NAME/domains/DOMAIN)");
			goto out;
		}
	} else if (!strcmp(r->rest, "rollback")) {
		r->plan = plan_rollback;
	} else if (!strcmp(r->rest, "env")) {
		r->plan = plan_env;
	} else if (!strcmp(r->rest, "letsencrypt")) {
		r->plan = plan_letsencrypt;
	} else if (!strcmp(r->rest, "scale")) {
		r->plan = plan_scale;
	} else if (!strcmp(r->rest, "deploys")) {
		r->plan = plan_deploy;
	} else if (!strcmp(r->rest, "domains")) {
		r->plan = plan_domain_add;
	} else {
		apictx_fail(resp, 404,
			    "no such route (expected /api/v1/apps/NAME/ followed by "
			    "rollback, env, domains, letsencrypt, scale or deploys)");
		goto out;
	}
	ret = 0;
out:
	free(role);
	if (ret < 0) {
		if (authed) {
			store_user_release(&r->u);
		}
		apictx_close(&r->c);
	}
	return ret;
}

static void chreq_close(struct chreq *r)
{
	store_user_release(&r->u);
	apictx_close(&r->c);
}

/* Plans r's change from b (the body; NULL for a DELETE) and starts its job: the answer. */
static void chreq_run(struct chreq *r, json_t *b, struct http_response *resp)
{
	struct change ch = {.cmds = json_array()};
	char id[APIAPPS_JOB_ID_HEX + 1];

	sbuf_init(&ch.what, 0);
	snprintf(ch.app, sizeof(ch.app), "%s", r->app);
	if (r->is_delete ? plan_domain(&ch, r->rest + 8, false, resp) < 0
			 : r->plan(&ch, b, resp) < 0) {
		goto out;
	}
	if (apiapps_job_start(r->c.api, ch.app, ch.action, ch.cmds, -1, id, &r->c.e) < 0) {
		log_error("http: %s", err_str(&r->c.e));
		apictx_fail(resp, 500, "cannot start the job");
		goto out;
	}
	sbuf_addf(&ch.what, "%sjob %s", ch.what.len ? " " : "", id);
	apictx_event(&r->c, r->u.name, ch.app, ch.action, ch.what.buf);
	http_reply_json(resp, 202, json_pack("{ss}", "job", id));
out:
	json_decref(ch.cmds); /* its strings are the body's values: gone with it */
	sbuf_release(&ch.what);
}

static void change(const struct http_request *req, struct http_response *resp, void *data,
		   bool is_delete)
{
	struct chreq r;
	json_t *b = NULL;

	if (chreq_open(&r, req, resp, data, is_delete) < 0) {
		return;
	}
	if (is_delete || (b = apictx_json_body(req, resp))) {
		chreq_run(&r, b, resp);
	}
	json_decref(b);
	chreq_close(&r);
}

void apiapps_h_change(const struct http_request *req, struct http_response *resp, void *data)
{
	change(req, resp, data, false);
}

void apiapps_h_domain_delete(const struct http_request *req, struct http_response *resp, void *data)
{
	change(req, resp, data, true);
}

/* ---- POST /api/v1/apps/NAME/..., streamed: a tarball to build, or a JSON change ---------- */

/* A request to the streamed route: a tarball being unpacked, or a JSON body being kept. */
struct upload {
	struct chreq r;
	bool open, tar, failed, too_big;
	bool create; /* POST /api/v1/apps (the prefix's route matches it too) */
	int lock;
	char *dir;
	struct untar_dir ud;
	bool ud_open;
	struct sbuf body;
	struct err e;
};

static void upload_free(struct upload *t)
{
	if (t->ud_open) {
		untar_dir_release(&t->ud);
	}
	if (t->dir) {
		struct err e = ERR_INIT;
		(void)file_remove_tree(t->dir, &e);
		err_release(&e);
		free(t->dir);
	}
	if (t->lock >= 0) {
		close(t->lock);
	}
	if (t->open) {
		if (t->create) {
			store_user_release(&t->r.u);
			apictx_close(&t->r.c);
		} else {
			chreq_close(&t->r);
		}
	}
	sbuf_release(&t->body);
	err_release(&t->e);
	free(t);
}

static void *upload_begin(const struct http_request *req, struct http_response *resp, void *data)
{
	struct upload *t = xcalloc(1, sizeof(*t));

	t->lock = -1;
	sbuf_init(&t->body, 0);
	err_init(&t->e);
	t->tar = http_is_type(req, "application/x-tar") || http_is_type(req, "application/gzip");
	if (!strcmp(req->path, "/api/v1/apps")) {
		t->create = true;
		t->tar = false;
		if (create_open(&t->r.c, &t->r.u, req, resp, data) < 0) {
			goto refuse;
		}
		t->open = true;
		return t;
	}
	if (chreq_open(&t->r, req, resp, data, false) < 0) {
		goto refuse;
	}
	t->open = true;
	if (!t->tar) {
		if (!http_is_type(req, "application/json")) {
			apictx_fail(resp, 415,
				    "expected a JSON body (Content-Type: application/json), or a "
				    "tarball (application/x-tar, application/gzip) to deploy");
			goto refuse;
		}
		return t;
	}
	if (strcmp(t->r.rest, "deploys")) {
		apictx_fail(resp, 415,
			    "a tarball goes to POST /api/v1/apps/NAME/deploys; other changes are "
			    "JSON (Content-Type: application/json)");
		goto refuse;
	}
	t->lock = capdeploy_lock(t->r.c.api->state_dir, t->r.app, &t->e);
	if (t->lock < 0) {
		apictx_fail(resp, t->lock == -2 ? 409 : 500, err_str(&t->e));
		t->lock = -1;
		goto refuse;
	}
	if (!(t->dir = capdeploy_new_dir(t->r.c.api->state_dir, t->r.app, &t->e)) ||
	    untar_dir_open(&t->ud, t->dir, NULL, &t->e) < 0) {
		log_error("http: %s", err_str(&t->e));
		apictx_fail(resp, 500, "cannot unpack the upload");
		goto refuse;
	}
	t->ud_open = true;
	return t;
refuse:
	upload_free(t);
	return NULL;
}

static int upload_data(void *st, const void *buf, size_t len)
{
	struct upload *t = st;

	if (!t->tar) {
		if (t->body.len + len > APIAPPS_MAX_JSON) {
			t->too_big = true;
			return -1;
		}
		sbuf_add(&t->body, buf, len);
		return 0;
	}
	if (untar_dir_feed(&t->ud, buf, len, &t->e) < 0) {
		t->failed = true;
		return -1;
	}
	return 0;
}

/* The end of a tarball: unpacked whole, its job started. */
static void upload_tar_end(struct upload *t, struct http_response *resp)
{
	struct capdef d = CAPDEF_INIT;
	struct sbuf msg = SBUF_INIT;
	char rev[USERS_TOKEN_HEX + 1], id[APIAPPS_JOB_ID_HEX + 1];
	json_t *cmds = json_array();
	const char *action;

	if (t->failed || untar_dir_finish(&t->ud, &t->e) < 0 ||
	    capdef_load(t->dir, NULL, &d, &t->e) < 0) {
		sbuf_addf(&msg, "the tarball: %s", err_str(&t->e));
		apictx_fail(resp, 400, msg.buf);
		goto out;
	}
	if (d.kind == CAPDEF_IMAGE) {
		json_array_append_new(cmds,
				      json_pack("[sss]", "git:from-image", t->r.app, d.image));
		action = "git:from-image";
	} else {
		if (users_token(rev, &t->e) < 0) {
			fail_500(&t->r.c, resp);
			goto out;
		}
		rev[40] = 0;
		json_array_append_new(cmds, json_pack("[ssssss]", "upload", t->r.app, t->dir, rev,
						      d.dockerfile, "-"));
		action = "upload";
	}
	if (apiapps_job_start(t->r.c.api, t->r.app, action, cmds, t->lock, id, &t->e) < 0) {
		log_error("http: %s", err_str(&t->e));
		apictx_fail(resp, 500, "cannot start the job");
		goto out;
	}
	if (d.kind != CAPDEF_IMAGE) {
		/* the job builds it, and removes it */
		free(t->dir);
		t->dir = NULL;
	}
	sbuf_addf(&msg, "%s job %s", d.kind == CAPDEF_IMAGE ? d.image : "tarball", id);
	apictx_event(&t->r.c, t->r.u.name, t->r.app, action, msg.buf);
	http_reply_json(resp, 202, json_pack("{ss}", "job", id));
out:
	json_decref(cmds);
	capdef_release(&d);
	sbuf_release(&msg);
}

static void upload_end(void *st, const struct http_request *req, struct http_response *resp,
		       bool complete)
{
	struct upload *t = st;
	json_t *b;

	(void)req; /* its head is gone: chreq_open read what it needed */
	if (!complete) {
		goto out;
	}
	if (t->tar) {
		upload_tar_end(t, resp);
		goto out;
	}
	if (t->too_big) {
		apictx_fail(resp, 413, "a JSON body of at most 256 KiB");
		goto out;
	}
	b = t->body.len ? json_loadb(t->body.buf, t->body.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (t->create) {
		create_run(&t->r.c, &t->r.u, json_is_object(b) ? b : NULL, resp);
	} else if (!json_is_object(b)) {
		apictx_fail(resp, 400, "expected a JSON object as the body");
	} else {
		chreq_run(&t->r, b, resp);
	}
	json_decref(b);
	memset(t->body.buf, 0, t->body.len);
out:
	upload_free(t);
}

const struct http_stream apiapps_stream = {upload_begin, upload_data, upload_end};

/* ---- GET /api/v1/jobs/ID ------------------------------------------------------------------- */

void apiapps_h_job(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u;
	struct strvec lines = STRVEC_INIT;
	const char *id;
	char *app = NULL, *action = NULL, *status = NULL, *role = NULL, *from_s = NULL, *log = NULL;
	long long from = 0, next = 0;
	json_t *arr;
	int r = 0;

	if (apictx_open_setup(&c, req, resp, data) < 0) {
		goto out_close;
	}
	if (apictx_auth(&c, req, resp, &u, 0) <= 0) {
		goto out_close;
	}
	id = apictx_path_name(req, JOBS_PREFIX);
	if (id && apiapps_valid_job_id(id) &&
	    (app = job_read(c.api->state_dir, id, "app")) != NULL && sshcmd_valid_app(app)) {
		r = role_on(&c, &u, app, &role);
		/* an admin reads every job: a one-click install's app may not exist yet */
		if (r == 0 && !strcmp(u.role, "admin") && !c.tok.app) {
			r = 1;
		}
	}
	if (r < 0) {
		fail_500(&c, resp);
		goto out;
	}
	if (r == 0) {
		apictx_fail(resp, 404, "no such job (or you may not read its app)");
		goto out;
	}
	from_s = http_form_get(req->query, strlen(req->query), "from");
	if (from_s) {
		char *end;
		errno = 0;
		from = strtoll(from_s, &end, 10);
		if (!*from_s || *end || errno || from < 0) {
			apictx_fail(resp, 400, "from: expected a line number (0 or more)");
			goto out;
		}
	}
	action = job_read(c.api->state_dir, id, "action");
	status = job_read(c.api->state_dir, id, "status");
	log = job_path(c.api->state_dir, id, "log");
	if (apiapps_log_lines(log, from, APIAPPS_JOB_LINES, &lines, &next, &c.e) < 0) {
		fail_500(&c, resp);
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < lines.nr; i++) {
		json_t *l = json_string(lines.v[i]);
		json_array_append_new(arr, l ? l : json_string("(a line that is not UTF-8)"));
	}
	http_reply_json(resp, 200,
			json_pack("{ss ss ss ss so sI}", "id", id, "app", app, "action",
				  action ? action : "", "state", status ? status : "failed",
				  "lines", arr, "next", (json_int_t)next));
out:
	strvec_clear(&lines);
	free(app);
	free(action);
	free(status);
	free(role);
	free(from_s);
	free(log);
	store_user_release(&u);
out_close:
	apictx_close(&c);
}

/* ---- berthd hook job ID ------------------------------------------------------------------- */

static bool job_command_ok(json_t *cmd, const char *app)
{
	const char *name = json_string_value(json_array_get(cmd, 0));
	bool known = false, has_app = false;
	size_t i;
	json_t *v;

	for (i = 0; name && i < sizeof(job_commands) / sizeof(job_commands[0]); i++) {
		known |= !strcmp(name, job_commands[i]);
	}
	json_array_foreach(cmd, i, v)
	{
		if (!json_is_string(v)) {
			return false;
		}
		has_app |= i > 0 && !strcmp(json_string_value(v), app);
		/* oneclick:deploy names its app as appname=APP */
		has_app |= i > 0 && !strcmp(name ? name : "", "oneclick:deploy") &&
			   !strncmp(json_string_value(v), "appname=", 8) &&
			   !strcmp(json_string_value(v) + 8, app);
	}
	return known && has_app;
}

/* Whether an "upload" command builds a directory of app's uploads: upload APP DIR REV FILE -. */
static bool upload_ok(struct bd *bd, const char *app, int argc, const char **argv)
{
	char *dir = bd_path(bd, "uploads/%s/src-", app);
	bool ok = argc == 6 && !strcmp(argv[1], app) && !strncmp(argv[2], dir, strlen(dir)) &&
		  !strchr(argv[2] + strlen(dir), '/') && !strcmp(argv[5], "-");

	free(dir);
	return ok;
}

int apiapps_hook_job(struct bd *bd, const char *id,
		     int (*run)(struct bd *bd, int argc, const char **argv))
{
	struct sbuf raw = SBUF_INIT;
	char *path = NULL, *app = NULL;
	json_t *cmds = NULL, *cmd;
	struct err e = ERR_INIT;
	size_t i;
	int rc = 1;

	bd->admin = true;
	/* the log is read while the job runs: a line at a time */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!apiapps_valid_job_id(id)) {
		rc = bd_fail("usage: berthd hook job ID (a job that berthd serve started)");
		goto out;
	}
	path = job_path(bd->state_dir, id, "args");
	/* read once and gone: the values in it are secrets */
	if (sbuf_read_file(&raw, path) < 0) {
		rc = bd_fail("job %s: cannot read its arguments: %s", id, strerror(errno));
		goto status;
	}
	(void)unlink(path);
	cmds = json_loadb(raw.buf, raw.len, 0, NULL);
	memset(raw.buf, 0, raw.len);
	app = job_read(bd->state_dir, id, "app");
	if (!json_is_array(cmds) || !json_array_size(cmds) || !app || !sshcmd_valid_app(app)) {
		rc = bd_fail("job %s: its arguments are not a list of commands", id);
		goto status;
	}
	json_array_foreach(cmds, i, cmd)
	{
		if (!json_is_array(cmd) || !job_command_ok(cmd, app)) {
			rc = bd_fail("job %s: a command a job may not run", id);
			goto status;
		}
	}
	json_array_foreach(cmds, i, cmd)
	{
		size_t n = json_array_size(cmd);
		const char **argv = xcalloc(n + 1, sizeof(*argv));

		for (size_t k = 0; k < n; k++) {
			argv[k] = json_string_value(json_array_get(cmd, k));
		}
		/* an argv in memory: the values never reach a process's argv */
		if (!strcmp(argv[0], "upload")) {
			rc = upload_ok(bd, app, (int)n, argv)
				 ? capdeploy_hook(bd, (int)n - 1, argv + 1)
				 : bd_fail("job %s: not an upload of its app", id);
		} else {
			rc = run(bd, (int)n, argv);
		}
		free(argv);
		fflush(stdout);
		fflush(stderr);
		if (rc != 0) {
			break;
		}
	}
status:
	if (job_write(bd->state_dir, id, "status", rc == 0 ? "succeeded" : "failed", 0600, &e) <
	    0) {
		fprintf(stderr, " !     %s\n", err_str(&e));
	}
out:
	if (cmds) {
		json_array_foreach(cmds, i, cmd)
		{
			json_t *v;
			size_t k;
			json_array_foreach(cmd, k, v)
			{
				if (json_is_string(v)) {
					memset((char *)json_string_value(v), 0,
					       json_string_length(v));
				}
			}
		}
	}
	json_decref(cmds);
	sbuf_release(&raw);
	free(path);
	free(app);
	err_release(&e);
	return rc;
}
