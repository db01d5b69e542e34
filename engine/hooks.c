/* The project's hook scripts, run with Kamal's variables and redacted output. See hooks.h. */
#include "engine/hooks.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define PERFORMER_MAX  1024
#define GIT_TIMEOUT_MS 5000

/* What the line handler needs while one hook runs. */
struct hook_run {
	struct hooks *h;
	const char *hook;
	char *tail[HOOKS_TAIL_LINES]; /* the last lines, redacted; a ring */
	size_t tail_next, tail_nr;
	struct sbuf line;
};

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* path made absolute against base (the current directory when NULL or "."). */
static char *absolute(const char *base, const char *path)
{
	struct sbuf sb = SBUF_INIT;
	char *cwd;

	if (path && path[0] == '/') {
		return xstrdup(path);
	}
	if (base && base[0] == '/') {
		sbuf_addstr(&sb, base);
	} else {
		cwd = getcwd(NULL, 0);
		sbuf_addstr(&sb, cwd ? cwd : ".");
		free(cwd);
		if (base && *base && strcmp(base, ".")) {
			sbuf_addf(&sb, "/%s", base);
		}
	}
	while (sb.len > 1 && sb.buf[sb.len - 1] == '/') {
		sbuf_setlen(&sb, sb.len - 1);
	}
	if (path && *path && strcmp(path, ".")) {
		sbuf_addf(&sb, "/%s", path);
	}
	return sbuf_detach(&sb, NULL);
}

void hooks_init(struct hooks *h, const struct config *cfg, const char *project_dir,
		const struct secrets *sec)
{
	const char *hooks_path = cfg ? cfg->hooks_path : NULL;
	char *berth;

	memset(h, 0, sizeof(*h));
	strvec_init(&h->env);
	h->sec = sec;
	h->project_dir = absolute(project_dir, NULL);
	if (!hooks_path) {
		berth = absolute(h->project_dir, ".berth");
		hooks_path = is_dir(berth) ? ".berth/hooks" : ".kamal/hooks";
		free(berth);
	}
	h->dir = absolute(h->project_dir, hooks_path);
	if (cfg) {
		hooks_set(h, "SERVICE", cfg->service);
		hooks_set(h, "DESTINATION", cfg->destination);
	}
}

void hooks_release(struct hooks *h)
{
	free(h->dir);
	free(h->project_dir);
	strvec_clear(&h->env);
	memset(h, 0, sizeof(*h));
}

/* The index in env of "NAME=..." or "NAME", or -1. */
static long env_find(const struct strvec *env, const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; i < env->nr; i++) {
		if (!strncmp(env->v[i], name, n) && (env->v[i][n] == '=' || !env->v[i][n])) {
			return (long)i;
		}
	}
	return -1;
}

static void env_put(struct strvec *env, const char *prefix, const char *name, const char *value)
{
	struct sbuf sb = SBUF_INIT;
	long i;

	sbuf_addf(&sb, "%s%s", prefix, name);
	i = env_find(env, sb.buf);
	if (value) {
		sbuf_addf(&sb, "=%s", value);
	}
	if (i < 0) {
		strvec_push(env, sb.buf);
		sbuf_release(&sb);
		return;
	}
	free(env->v[i]);
	env->v[i] = sbuf_detach(&sb, NULL);
}

static const char *env_value(const struct hooks *h, const char *name)
{
	struct sbuf sb = SBUF_INIT;
	const char *v = NULL;
	long i;

	sbuf_addf(&sb, "BERTH_%s", name);
	i = env_find(&h->env, sb.buf);
	if (i >= 0 && h->env.v[i][sb.len] == '=') {
		v = h->env.v[i] + sb.len + 1;
	}
	sbuf_release(&sb);
	return v;
}

static void set_one(struct hooks *h, const char *name, const char *value)
{
	env_put(&h->env, "BERTH_", name, value);
	env_put(&h->env, "KAMAL_", name, value);
}

void hooks_set(struct hooks *h, const char *name, const char *value)
{
	struct sbuf sv = SBUF_INIT;
	const char *service;

	set_one(h, name, value);
	if (strcmp(name, "VERSION") && strcmp(name, "SERVICE")) {
		return;
	}
	/* Kamal's service_version: the service, and the version shortened as a git sha */
	service = env_value(h, "SERVICE");
	value = env_value(h, "VERSION");
	if (service) {
		sbuf_addstr(&sv, service);
	}
	if (value) {
		size_t n = strlen(value);
		if (!strchr(value, '_') && n > 7) {
			n = 7;
		}
		sbuf_addf(&sv, "%s%.*s", service ? "@" : "", (int)n, value);
	}
	set_one(h, "SERVICE_VERSION", sv.len ? sv.buf : NULL);
	sbuf_release(&sv);
}

static bool valid_name(const char *hook)
{
	return *hook && hook[0] != '.' && !strchr(hook, '/');
}

static char *hook_path(const struct hooks *h, const char *hook)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addf(&sb, "%s/%s", h->dir, hook);
	return sbuf_detach(&sb, NULL);
}

bool hooks_exists(const struct hooks *h, const char *hook)
{
	struct stat st;
	char *path;
	bool ok;

	if (!valid_name(hook)) {
		return false;
	}
	path = hook_path(h, hook);
	ok = stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
	free(path);
	return ok;
}

/* Kamal's performer: the git user's email, else the login name. */
static void work_out_performer(struct hooks *h)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct passwd *pw;
	const char *who = NULL;

	strvec_pushv(&c.argv, (const char *[]){"git", "config", "user.email", NULL});
	c.dir = h->project_dir;
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_NULL;
	c.capture_max = PERFORMER_MAX;
	c.timeout_ms = GIT_TIMEOUT_MS;
	if (run_one(&c) == 0) {
		sbuf_trim(&c.outbuf);
		if (c.outbuf.len && !memchr(c.outbuf.buf, '\n', c.outbuf.len)) {
			who = c.outbuf.buf;
		}
	}
	if (!who) {
		pw = getpwuid(getuid());
		who = pw ? pw->pw_name : "unknown";
	}
	hooks_set(h, "PERFORMER", who);
	run_cmd_release(&c);
}

static void emit(struct hooks *h, int fd, const char *line)
{
	struct sbuf sb = SBUF_INIT;

	if (h->out) {
		h->out(line, h->out_data);
		return;
	}
	sbuf_addf(&sb, "%s\n", line);
	/* one write per line, so that lines of parallel writers never mix */
	if (write(fd, sb.buf, sb.len) < 0) {
		/* nobody is reading: the hook's result still counts */
	}
	sbuf_release(&sb);
}

static void on_line(struct run_cmd *cmd, int fd, struct slice line, void *data)
{
	struct hook_run *r = data;
	size_t n;

	(void)cmd;
	sbuf_reset(&r->line);
	sbuf_add(&r->line, line.ptr, line.len);
	if (r->h->sec) {
		secrets_redact(r->h->sec, &r->line);
	}
	/* cut only after redaction, so a secret at the cut is never half shown */
	if (r->line.len > HOOKS_LINE_MAX) {
		sbuf_setlen(&r->line, HOOKS_LINE_MAX);
	}
	free(r->tail[r->tail_next]);
	r->tail[r->tail_next] = xstrdup(r->line.buf);
	r->tail_next = (r->tail_next + 1) % HOOKS_TAIL_LINES;
	if (r->tail_nr < HOOKS_TAIL_LINES) {
		r->tail_nr++;
	}
	if (r->h->quiet) {
		return;
	}
	n = r->line.len;
	sbuf_reset(&r->line);
	sbuf_addf(&r->line, "hook %s: ", r->hook);
	/* the redacted line is in tail already: take it from there */
	sbuf_add(&r->line, r->tail[(r->tail_next + HOOKS_TAIL_LINES - 1) % HOOKS_TAIL_LINES], n);
	emit(r->h, fd, r->line.buf);
}

static void add_tail(struct hook_run *r, struct sbuf *out)
{
	size_t i, at = (r->tail_next + HOOKS_TAIL_LINES - r->tail_nr) % HOOKS_TAIL_LINES;

	for (i = 0; i < r->tail_nr; i++) {
		sbuf_addf(out, "\n  %s", r->tail[(at + i) % HOOKS_TAIL_LINES]);
	}
}

static void recorded_at(struct strvec *env)
{
	char buf[32];
	struct tm tm;
	time_t t = time(NULL);

	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		return;
	}
	strvec_pushf(env, "BERTH_RECORDED_AT=%s", buf);
	strvec_pushf(env, "KAMAL_RECORDED_AT=%s", buf);
}

int hooks_run(struct hooks *h, const char *hook, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct hook_run r = {.h = h, .hook = hook, .line = SBUF_INIT};
	struct sbuf msg = SBUF_INIT, how = SBUF_INIT;
	struct stat st;
	char *path = NULL;
	size_t i;
	int ret = -1;

	if (!valid_name(hook)) {
		err_set(e, "'%s' is not a hook name", hook);
		goto out;
	}
	path = hook_path(h, hook);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			ret = 0;
		} else {
			err_set(e, "cannot read hook '%s': %s", path, strerror(errno));
		}
		goto out;
	}
	if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111) || access(path, X_OK) < 0) {
		log_warn("hook '%s' is not executable, skipped (chmod +x '%s' to run it)", hook,
			 path);
		ret = 0;
		goto out;
	}
	if (env_find(&h->env, "BERTH_PERFORMER") < 0) {
		work_out_performer(h);
	}

	strvec_push(&c.argv, path);
	if (env_find(&h->env, "BERTH_RECORDED_AT") < 0) {
		recorded_at(&c.env);
	}
	for (i = 0; i < h->env.nr; i++) {
		strvec_push(&c.env, h->env.v[i]);
	}
	c.dir = h->project_dir;
	c.out = RUN_IO_STREAM;
	c.err = RUN_IO_STREAM;
	c.on_line = on_line;
	c.on_line_data = &r;
	c.timeout_ms = h->timeout_ms;
	if (!h->quiet) {
		sbuf_addf(&msg, "running the %s hook", hook);
		emit(h, 1, msg.buf);
	}
	if (run_one(&c) == 0) {
		ret = 0;
		goto out;
	}
	sbuf_reset(&msg);
	if (!c.started) {
		run_describe_status(&c, &how);
		sbuf_addf(&msg, "hook '%s' %s", hook, how.buf);
	} else if (c.timed_out) {
		sbuf_addf(&msg, "hook '%s' failed (timed out after %u ms)", hook, c.timeout_ms);
	} else if (c.status > 128) {
		sbuf_addf(&msg, "hook '%s' failed (killed by signal %d)", hook, c.status - 128);
	} else {
		sbuf_addf(&msg, "hook '%s' failed (exit %d)", hook, c.status);
	}
	if (c.started && r.tail_nr) {
		sbuf_addch(&msg, ':');
		add_tail(&r, &msg);
	}
	err_set(e, "%s", msg.buf);
out:
	for (i = 0; i < HOOKS_TAIL_LINES; i++) {
		free(r.tail[i]);
	}
	sbuf_release(&r.line);
	sbuf_release(&msg);
	sbuf_release(&how);
	free(path);
	run_cmd_release(&c);
	return ret;
}
