/* push — see push.h. */
#include "daemon/push.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "banned.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

#define VERSION_LEN 12
/* the last lines of a build kept for its error */
#define BUILD_TAIL_LINES   20
#define CHECK_MAX_SECONDS  3600
#define CHECK_MAX_ATTEMPTS 1000
#define SCALE_MAX	   100
/* a build that runs longer than this is stuck: the push must end */
#define BUILD_TIMEOUT_MS (60u * 60 * 1000)

static void free_procs(struct release_proc *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)p[i].type);
		free((char *)p[i].cmd);
	}
	free(p);
}

void push_result_release(struct push_result *r)
{
	free(r->image);
	free(r->version);
	free_procs(r->procs, r->nprocs);
	free(r->release_cmd);
	free((char *)r->check.path);
	free(r->predeploy);
	free(r->postdeploy);
	free_procs(r->formation, r->nformation);
	memset(r, 0, sizeof(*r));
}

/* ---- Procfile -------------------------------------------------------------------------- */

static bool type_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static struct release_proc *proc_find(struct release_proc *p, size_t n, const char *type)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(p[i].type, type)) {
			return &p[i];
		}
	}
	return NULL;
}

int push_parse_procfile(const char *file, const char *text, size_t len, struct push_result *r,
			struct err *e)
{
	struct slice rest = slice_make(text, len);
	struct release_proc *procs = NULL;
	size_t nprocs = 0, alloc = 0, i;
	char *release = NULL;
	unsigned lineno = 0, release_line = 0;
	int ret = -1;

	if (len > PUSH_MAX_PROCFILE) {
		err_setat(e, file, 0, 0, "larger than %d bytes", PUSH_MAX_PROCFILE);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		err_setat(e, file, 0, 0, "a NUL byte: not a text file");
		goto out;
	}
	while (rest.ptr) {
		struct slice line = slice_trim(slice_next(&rest, '\n'));
		struct slice type, cmd;
		char *t;

		lineno++;
		if (!line.len || line.ptr[0] == '#') {
			continue;
		}
		for (i = 0; i < line.len && type_char(line.ptr[i]); i++) {
		}
		if (!i || i >= line.len || line.ptr[i] != ':') {
			err_setat(e, file, lineno, 0,
				  "expected \"TYPE: COMMAND\" (TYPE of letters, digits, '_' and "
				  "'-')");
			goto out;
		}
		type = slice_make(line.ptr, i);
		cmd = slice_trim(slice_from(line, i + 1));
		if (type.len > PUSH_MAX_TYPE) {
			err_setat(e, file, lineno, 0, "process type longer than %d characters",
				  PUSH_MAX_TYPE);
			goto out;
		}
		t = slice_dup(type);
		if (!cmd.len) {
			err_setat(e, file, lineno, 0, "process type '%s' has no command", t);
			free(t);
			goto out;
		}
		if (!strcmp(t, "release")) {
			if (release) {
				err_setat(e, file, lineno, 0,
					  "process type 'release' again (first on line %u)",
					  release_line);
				free(t);
				goto out;
			}
			release = slice_dup(cmd);
			release_line = lineno;
			free(t);
			continue;
		}
		if (proc_find(procs, nprocs, t)) {
			err_setat(e, file, lineno, 0, "process type '%s' is defined twice", t);
			free(t);
			goto out;
		}
		if (nprocs >= PUSH_MAX_TYPES) {
			err_setat(e, file, lineno, 0, "more than %d process types", PUSH_MAX_TYPES);
			free(t);
			goto out;
		}
		xgrow((void **)&procs, &alloc, nprocs + 1, sizeof(*procs));
		procs[nprocs].type = t;
		procs[nprocs].cmd = slice_dup(cmd);
		procs[nprocs].scale = !strcmp(t, "web") ? 1 : 0;
		nprocs++;
	}
	free_procs(r->procs, r->nprocs);
	free(r->release_cmd);
	r->procs = procs;
	r->nprocs = nprocs;
	r->release_cmd = release;
	procs = NULL;
	nprocs = 0;
	release = NULL;
	ret = 0;
out:
	free_procs(procs, nprocs);
	free(release);
	return ret;
}

/* ---- app.json -------------------------------------------------------------------------- */

static int key_error(struct err *e, const char *file, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_error(struct err *e, const char *file, const char *key, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	err_setat(e, file, 0, 0, "%s: %s", key, sb.buf);
	sbuf_release(&sb);
	return -1;
}

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* A string at key (NULL and null: none); an empty one is none too. */
static int get_string(const json_t *j, const char *file, const char *key, char **out, struct err *e)
{
	if (!j || json_is_null(j)) {
		return 0;
	}
	if (!json_is_string(j)) {
		return key_error(e, file, key, "expected a string, found %s", json_kind(j));
	}
	if (strlen(json_string_value(j)) != json_string_length(j)) {
		return key_error(e, file, key, "a NUL byte in the string");
	}
	free(*out);
	*out = json_string_length(j) ? xstrdup(json_string_value(j)) : NULL;
	return 0;
}

static int get_uint(const json_t *j, const char *file, const char *key, unsigned max, unsigned *out,
		    struct err *e)
{
	json_int_t v;

	if (!j || json_is_null(j)) {
		return 0;
	}
	if (!json_is_integer(j)) {
		return key_error(e, file, key, "expected a whole number, found %s", json_kind(j));
	}
	v = json_integer_value(j);
	if (v < 0 || v > (json_int_t)max) {
		return key_error(e, file, key, "expected a number from 0 to %u, found %lld", max,
				 (long long)v);
	}
	*out = (unsigned)v;
	return 0;
}

/* Dokku's healthcheck keys that berth-proxy's check has no use for */
static const char *const check_ignored[] = {
    "name", "initialDelay", "content", "port", "scheme", "warn", "listening", "command", NULL,
};

static int parse_check(const json_t *c, const char *file, const char *key, struct release_check *ck,
		       struct err *e)
{
	struct sbuf k = SBUF_INIT;
	const char *name;
	const json_t *v;
	char *type = NULL, *path = NULL;
	int ret = -1;
	size_t i;

	if (!json_is_object(c)) {
		key_error(e, file, key, "expected an object, found %s", json_kind(c));
		goto out;
	}
	json_object_foreach((json_t *)c, name, v)
	{
		sbuf_reset(&k);
		sbuf_addf(&k, "%s.%s", key, name);
		if (!strcmp(name, "type")) {
			if (get_string(v, file, k.buf, &type, e) < 0) {
				goto out;
			}
			if (type && strcmp(type, "startup")) {
				key_error(e, file, k.buf,
					  "expected \"startup\", found \"%s\" (berth-proxy runs "
					  "startup checks only)",
					  type);
				goto out;
			}
		} else if (!strcmp(name, "path")) {
			if (get_string(v, file, k.buf, &path, e) < 0) {
				goto out;
			}
			if (path && (path[0] != '/' || strpbrk(path, " \t\r\n"))) {
				key_error(e, file, k.buf,
					  "expected a path starting with '/' and without spaces");
				goto out;
			}
		} else if (!strcmp(name, "attempts")) {
			if (get_uint(v, file, k.buf, CHECK_MAX_ATTEMPTS, &ck->attempts, e) < 0) {
				goto out;
			}
		} else if (!strcmp(name, "wait")) {
			if (get_uint(v, file, k.buf, CHECK_MAX_SECONDS, &ck->wait_s, e) < 0) {
				goto out;
			}
		} else if (!strcmp(name, "timeout")) {
			if (get_uint(v, file, k.buf, CHECK_MAX_SECONDS, &ck->timeout_s, e) < 0) {
				goto out;
			}
		} else if (!strcmp(name, "uptime")) {
			if (get_uint(v, file, k.buf, CHECK_MAX_SECONDS, &ck->uptime_s, e) < 0) {
				goto out;
			}
		} else {
			for (i = 0; check_ignored[i] && strcmp(check_ignored[i], name); i++) {
			}
			if (!check_ignored[i]) {
				key_error(e, file, k.buf, "unknown healthcheck key");
				goto out;
			}
		}
	}
	free((char *)ck->path);
	ck->path = path;
	path = NULL;
	ret = 0;
out:
	free(type);
	free(path);
	sbuf_release(&k);
	return ret;
}

static int parse_checks(const json_t *hc, const char *file, struct release_check *out,
			struct err *e)
{
	struct sbuf k = SBUF_INIT;
	const json_t *web, *c;
	size_t i;
	bool taken = false;
	int ret = -1;

	if (!hc || json_is_null(hc)) {
		return 0;
	}
	if (!json_is_object(hc)) {
		return key_error(e, file, "healthchecks", "expected an object, found %s",
				 json_kind(hc));
	}
	web = json_object_get(hc, "web");
	if (!web || json_is_null(web)) {
		return 0;
	}
	if (!json_is_array(web)) {
		return key_error(e, file, "healthchecks.web", "expected a list, found %s",
				 json_kind(web));
	}
	json_array_foreach(web, i, c)
	{
		struct release_check ck = {0};

		sbuf_reset(&k);
		sbuf_addf(&k, "healthchecks.web[%zu]", i);
		if (parse_check(c, file, k.buf, &ck, e) < 0) {
			free((char *)ck.path);
			goto out;
		}
		if (!taken && ck.path) {
			free((char *)out->path);
			*out = ck;
			taken = true;
		} else {
			free((char *)ck.path);
		}
	}
	ret = 0;
out:
	sbuf_release(&k);
	return ret;
}

static int parse_formation(const json_t *f, const char *file, struct push_result *r, struct err *e)
{
	struct sbuf k = SBUF_INIT;
	const char *type;
	const json_t *v;
	int ret = -1;

	if (!f || json_is_null(f)) {
		return 0;
	}
	if (!json_is_object(f)) {
		return key_error(e, file, "formation", "expected an object, found %s",
				 json_kind(f));
	}
	json_object_foreach((json_t *)f, type, v)
	{
		unsigned q = 1;
		size_t i, n = strlen(type);

		sbuf_reset(&k);
		sbuf_addf(&k, "formation.%s", type);
		for (i = 0; i < n && type_char(type[i]); i++) {
		}
		if (!n || i < n || n > PUSH_MAX_TYPE) {
			key_error(e, file, k.buf, "not a process type name");
			goto out;
		}
		if (!json_is_object(v)) {
			key_error(e, file, k.buf, "expected an object, found %s", json_kind(v));
			goto out;
		}
		sbuf_addstr(&k, ".quantity");
		if (get_uint(json_object_get(v, "quantity"), file, k.buf, SCALE_MAX, &q, e) < 0) {
			goto out;
		}
		if (r->nformation >= PUSH_MAX_TYPES) {
			key_error(e, file, "formation", "more than %d process types",
				  PUSH_MAX_TYPES);
			goto out;
		}
		r->formation = xrealloc(r->formation, (r->nformation + 1) * sizeof(*r->formation));
		r->formation[r->nformation].type = xstrdup(type);
		r->formation[r->nformation].cmd = NULL;
		r->formation[r->nformation].scale = q;
		r->nformation++;
	}
	ret = 0;
out:
	sbuf_release(&k);
	return ret;
}

int push_parse_app_json(const char *file, const char *text, size_t len, struct push_result *r,
			struct err *e)
{
	json_error_t je;
	json_t *root = NULL, *scripts, *dokku;
	struct push_result n = {0};
	int ret = -1;

	if (len > PUSH_MAX_APP_JSON) {
		err_setat(e, file, 0, 0, "larger than %d bytes", PUSH_MAX_APP_JSON);
		goto out;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_setat(e, file, je.line > 0 ? (unsigned)je.line : 0,
			  je.column > 0 ? (unsigned)je.column : 0, "%s", je.text);
		goto out;
	}
	if (!json_is_object(root)) {
		err_setat(e, file, 0, 0, "expected an object at the top, found %s",
			  json_kind(root));
		goto out;
	}
	scripts = json_object_get(root, "scripts");
	if (scripts && !json_is_null(scripts)) {
		if (!json_is_object(scripts)) {
			key_error(e, file, "scripts", "expected an object, found %s",
				  json_kind(scripts));
			goto out;
		}
		dokku = json_object_get(scripts, "dokku");
		if (dokku && !json_is_null(dokku)) {
			if (!json_is_object(dokku)) {
				key_error(e, file, "scripts.dokku", "expected an object, found %s",
					  json_kind(dokku));
				goto out;
			}
			if (get_string(json_object_get(dokku, "predeploy"), file,
				       "scripts.dokku.predeploy", &n.predeploy, e) < 0 ||
			    get_string(json_object_get(dokku, "postdeploy"), file,
				       "scripts.dokku.postdeploy", &n.postdeploy, e) < 0) {
				goto out;
			}
		}
	}
	if (parse_checks(json_object_get(root, "healthchecks"), file, &n.check, e) < 0 ||
	    parse_formation(json_object_get(root, "formation"), file, &n, e) < 0) {
		goto out;
	}
	/* all or nothing: r changes only when the whole file is good */
	free(r->predeploy);
	free(r->postdeploy);
	free((char *)r->check.path);
	free_procs(r->formation, r->nformation);
	r->predeploy = n.predeploy;
	r->postdeploy = n.postdeploy;
	r->check = n.check;
	r->formation = n.formation;
	r->nformation = n.nformation;
	memset(&n, 0, sizeof(n));
	ret = 0;
out:
	push_result_release(&n);
	json_decref(root);
	return ret;
}

/* ---- reading a revision ---------------------------------------------------------------- */

static void say(const struct push_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct push_opts *o, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (o->progress) {
		o->progress(sb.buf, o->progress_data);
	}
	sbuf_release(&sb);
}

static bool app_name_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (!n || n > 63 || s[0] < 'a' || s[0] > 'z') {
		return false;
	}
	for (i = 1; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-')) {
			return false;
		}
	}
	return true;
}

static bool rev_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n < VERSION_LEN || n > 64) {
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* git_show for an upload: the file path of o->src_dir (a regular file, not a link). */
static int dir_show(const struct push_opts *o, const char *path, size_t max, struct sbuf *out,
		    struct err *e)
{
	struct sbuf full = SBUF_INIT;
	struct stat st;
	int fd, ret = -1;

	sbuf_addf(&full, "%s/%s", o->src_dir, path);
	fd = open(full.buf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
		if (ret < 0) {
			err_set(e, "cannot read '%s' of the upload: %s", path, strerror(errno));
		}
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "'%s' of the upload is not a file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err_set(e, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	if (sbuf_read_fd(out, fd) < 0) {
		err_set(e, "cannot read '%s' of the upload: %s", path, strerror(errno));
		goto out;
	}
	ret = 1;
out:
	if (fd >= 0) {
		close(fd);
	}
	sbuf_release(&full);
	return ret;
}

/*
 * The file path of revision o->rev into out: 1 when it is there, 0 when the
 * revision has no such file, -1 with e set when git failed otherwise.
 */
static int git_show(const struct push_opts *o, const char *path, size_t max, struct sbuf *out,
		    struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf st = SBUF_INIT;
	int ret = -1;

	if (o->src_dir) {
		return dir_show(o, path, max, out, e);
	}

	strvec_pushv(&c.argv, (const char *[]){"git", "--git-dir", o->git_dir, "show", NULL});
	strvec_pushf(&c.argv, "%s:%s", o->rev, path);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	c.capture_max = max + 1;
	c.timeout_ms = 60 * 1000;
	if (run_one(&c) == 0) {
		if (c.truncated || c.outbuf.len > max) {
			err_set(e, "%s: larger than %zu bytes", path, max);
			goto out;
		}
		sbuf_add(out, c.outbuf.buf, c.outbuf.len);
		ret = 1;
		goto out;
	}
	/* "fatal: path 'P' does not exist in 'REV'" (or "exists on disk, but not in") */
	if (c.status == 128 && (strstr(c.errbuf.buf, "does not exist in") ||
				strstr(c.errbuf.buf, "exists on disk, but not in"))) {
		ret = 0;
		goto out;
	}
	run_describe_status(&c, &st);
	sbuf_rtrim(&c.errbuf);
	err_set(e, "cannot read '%s' of %s: git show %s%s%s", path, o->rev, st.buf,
		c.errbuf.len ? ": " : "", c.errbuf.buf);
out:
	sbuf_release(&st);
	run_cmd_release(&c);
	return ret;
}

/*
 * Whether o->rev names a commit of the repository: 0, or -1 with e set.
 * A push's objects reach the repository only after its pre-receive hook
 * has ended, a moment after the push gave up the app's lock: a change that
 * took the lock from it may look for the commit in between. So a missing
 * commit is looked for again, every 100 ms for up to o->wait_ms.
 */
static int git_commit(const struct push_opts *o, struct err *e)
{
	const struct timespec pause = {0, 100 * 1000 * 1000};
	int waited_ms = 0, ret;

	for (;;) {
		struct run_cmd c = RUN_CMD_INIT;

		strvec_pushv(&c.argv, (const char *[]){"git", "--git-dir", o->git_dir, "cat-file",
						       "-e", NULL});
		strvec_pushf(&c.argv, "%s^{commit}", o->rev);
		c.out = RUN_IO_NULL;
		c.err = RUN_IO_CAPTURE;
		c.timeout_ms = 60 * 1000;
		ret = run_one(&c) < 0 ? -1 : 0;
		if (ret < 0 && waited_ms >= o->wait_ms) {
			sbuf_rtrim(&c.errbuf);
			err_set(e, "no commit %s in '%s'%s%s", o->rev, o->git_dir,
				c.errbuf.len ? ": " : "", c.errbuf.buf);
		}
		run_cmd_release(&c);
		if (ret == 0 || waited_ms >= o->wait_ms) {
			return ret;
		}
		nanosleep(&pause, NULL);
		waited_ms += 100;
	}
}

/* Sets the scale of formation's types on procs. */
static int apply_formation(struct push_result *r, struct err *e)
{
	size_t i;

	for (i = 0; i < r->nformation; i++) {
		struct release_proc *p = proc_find(r->procs, r->nprocs, r->formation[i].type);

		if (!p) {
			return err_set(
			    e, "app.json: formation.%s: no such process type in the Procfile",
			    r->formation[i].type);
		}
		p->scale = r->formation[i].scale;
	}
	return 0;
}

int push_read(const struct push_opts *o, struct push_result *r, struct err *e)
{
	struct sbuf text = SBUF_INIT, sb = SBUF_INIT;
	int rc, ret = -1;

	memset(r, 0, sizeof(*r));
	if (!app_name_ok(o->app)) {
		err_set(e, "'%s' is not an app name: [a-z][a-z0-9-]*, at most 63 characters",
			o->app ? o->app : "");
		goto out;
	}
	if (!rev_ok(o->rev)) {
		err_set(e, "'%s' is not a revision (hex digits of a commit)", o->rev ? o->rev : "");
		goto out;
	}
	if (!o->src_dir && git_commit(o, e) < 0) {
		goto out;
	}
	r->version = xstrndup(o->rev, VERSION_LEN);
	sbuf_addf(&sb, "berthd/%s:%s", o->app, r->version);
	r->image = sbuf_detach(&sb, NULL);
	rc = git_show(o, "Procfile", PUSH_MAX_PROCFILE, &text, e);
	if (rc < 0 || (rc > 0 && push_parse_procfile("Procfile", text.buf, text.len, r, e) < 0)) {
		goto out;
	}
	if (rc == 0) {
		r->procs = xcalloc(1, sizeof(*r->procs));
		r->procs[0].type = xstrdup("web");
		r->procs[0].scale = 1;
		r->nprocs = 1;
	}
	sbuf_reset(&text);
	rc = git_show(o, "app.json", PUSH_MAX_APP_JSON, &text, e);
	if (rc < 0 || (rc > 0 && push_parse_app_json("app.json", text.buf, text.len, r, e) < 0)) {
		goto out;
	}
	if (apply_formation(r, e) < 0) {
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		push_result_release(r);
	}
	sbuf_release(&text);
	sbuf_release(&sb);
	return ret;
}

/* ---- building ------------------------------------------------------------------------ */

struct build_out {
	const struct push_opts *o;
	struct strvec tail; /* the last BUILD_TAIL_LINES lines, oldest first */
	struct sbuf line;
};

static void build_line(struct run_cmd *cmd, int fd, struct slice line, void *data)
{
	struct build_out *b = data;
	char *s;

	(void)cmd;
	(void)fd;
	if (line.len && line.ptr[line.len - 1] == '\r') {
		line.len--;
	}
	s = slice_dup(line);
	if (b->tail.nr == BUILD_TAIL_LINES) {
		free(b->tail.v[0]);
		memmove(b->tail.v, b->tail.v + 1, (b->tail.nr - 1) * sizeof(*b->tail.v));
		b->tail.nr--;
		b->tail.v[b->tail.nr] = NULL;
	}
	strvec_push(&b->tail, s);
	sbuf_reset(&b->line);
	sbuf_addf(&b->line, "       %s", s);
	if (b->o->progress) {
		b->o->progress(b->line.buf, b->o->progress_data);
	}
	free(s);
}

/* docker build of an upload: its directory is the context. 0, or -1 with e set. */
static int build_dir(const struct push_opts *o, struct push_result *r, const char *dockerfile,
		     struct build_out *b, struct err *e)
{
	struct run_cmd docker = RUN_CMD_INIT;
	struct sbuf st = SBUF_INIT;
	int ret = -1;

	strvec_pushv(&docker.argv, (const char *[]){"docker", "build", NULL});
	strvec_pushf(&docker.argv, "--file=%s/%s", o->src_dir, dockerfile);
	strvec_pushf(&docker.argv, "--tag=%s", r->image);
	strvec_pushf(&docker.argv, "--label=berthd.app=%s", o->app);
	strvec_pushf(&docker.argv, "--label=berthd.revision=%s", o->rev);
	strvec_pushv(&docker.argv, (const char *[]){"--", o->src_dir, NULL});
	strvec_push(&docker.env, "DOCKER_BUILDKIT=0");
	docker.out = RUN_IO_STREAM;
	docker.err = RUN_IO_STREAM;
	docker.on_line = build_line;
	docker.on_line_data = b;
	docker.timeout_ms = BUILD_TIMEOUT_MS;
	if (run_one(&docker) < 0) {
		char *tail = strvec_join(&b->tail, "\n");

		run_describe_status(&docker, &st);
		err_set(e, "the build of %s %s failed: docker build %s%s%s", o->app, r->version,
			st.buf, b->tail.nr ? "; its last lines:\n" : "", tail);
		free(tail);
		goto out;
	}
	say(o, "-----> Built %s", r->image);
	ret = 0;
out:
	sbuf_release(&st);
	run_cmd_release(&docker);
	return ret;
}

int push_build(const struct push_opts *o, struct push_result *r, struct err *e)
{
	struct run_cmd git = RUN_CMD_INIT, docker = RUN_CMD_INIT;
	struct build_out b = {o, STRVEC_INIT, SBUF_INIT};
	struct sbuf st = SBUF_INIT, in = SBUF_INIT, out = SBUF_INIT;
	const char *dockerfile = o->dockerfile && *o->dockerfile ? o->dockerfile : "Dockerfile";
	int to_git = -1, from_git = -1, rc, ret = -1;
	bool git_started = false;

	if (push_read(o, r, e) < 0) {
		goto out;
	}
	if (git_show(o, dockerfile, PUSH_MAX_APP_JSON, &out, e) <= 0) {
		if (!err_isset(e)) {
			err_set(e, "no '%s' in %s: berthd builds apps from a Dockerfile",
				dockerfile, r->version);
		}
		goto out;
	}
	say(o, "-----> Building %s from %s", o->app, dockerfile);
	if (o->src_dir) {
		rc = build_dir(o, r, dockerfile, &b, e);
		ret = rc;
		goto out;
	}
	/* the revision's tree as a tar, piped into docker build's context */
	strvec_pushv(&git.argv, (const char *[]){"git", "--git-dir", o->git_dir, "archive",
						 "--format=tar", o->rev, NULL});
	git.capture_max = 64 * 1024;
	if (run_start(&git, &to_git, &from_git) < 0) {
		sbuf_rtrim(&git.errbuf);
		err_set(e, "cannot start git archive: %s", git.errbuf.buf);
		goto out;
	}
	git_started = true;
	strvec_pushv(&docker.argv,
		     (const char *[]){"docker", "build", "-f", dockerfile, "-t", r->image, NULL});
	strvec_pushf(&docker.argv, "--label=berthd.app=%s", o->app);
	strvec_pushf(&docker.argv, "--label=berthd.revision=%s", o->rev);
	strvec_push(&docker.argv, "-");
	strvec_push(&docker.env, "DOCKER_BUILDKIT=0");
	/*
	 * git's stdout is docker's stdin: the pipe's read end, opened again by
	 * its /dev/fd name (a new, blocking file description of the same pipe)
	 */
	sbuf_addf(&in, "/dev/fd/%d", from_git);
	docker.in_file = in.buf;
	docker.out = RUN_IO_STREAM;
	docker.err = RUN_IO_STREAM;
	docker.on_line = build_line;
	docker.on_line_data = &b;
	docker.timeout_ms = BUILD_TIMEOUT_MS;
	rc = run_one(&docker);
	/* git ends once docker has read it all; run_finish drains what is left otherwise */
	if (run_finish(&git) < 0) {
		run_describe_status(&git, &st);
		sbuf_rtrim(&git.errbuf);
		err_set(e, "cannot read revision %s: git archive %s: %s", r->version, st.buf,
			git.errbuf.buf);
		goto out;
	}
	git_started = false;
	if (rc < 0) {
		char *tail = strvec_join(&b.tail, "\n");

		run_describe_status(&docker, &st);
		err_set(e, "the build of %s %s failed: docker build %s%s%s", o->app, r->version,
			st.buf, b.tail.nr ? "; its last lines:\n" : "", tail);
		free(tail);
		goto out;
	}
	say(o, "-----> Built %s", r->image);
	ret = 0;
out:
	if (git_started) {
		run_finish(&git);
	}
	if (ret < 0) {
		push_result_release(r);
	}
	run_cmd_release(&git);
	run_cmd_release(&docker);
	strvec_clear(&b.tail);
	sbuf_release(&b.line);
	sbuf_release(&st);
	sbuf_release(&in);
	sbuf_release(&out);
	return ret;
}
