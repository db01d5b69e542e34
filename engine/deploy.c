#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "engine/app.h"
#include "engine/build.h"
#include "engine/deploy.h"
#include "engine/hooks.h"
#include "engine/hoststate.h"
#include "engine/preflight.h"
#include "engine/proxyhost.h"
#include "engine/registry.h"
#include "engine/sftp.h"
#include "engine/transfer.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/tar.h"
#include "lib/xalloc.h"
#include "proxy/control.h"
#include "proxy/errpages.h"
#include "engine/scripts.h"
#include "lib/banned.h"

#define STEP_TIMEOUT_MS	   (120u * 1000)
#define ASSETS_TIMEOUT_MS  (600u * 1000) /* copying an image's assets out, on a host */
#define LOG_LINES_ON_ERROR 30
#define OUTPUT_MAX	   (1u << 20)

/*
 * The scripts run on the hosts are engine/scripts/deploy-*.sh. Their text
 * is constant; everything that varies is a positional argument, quoted by
 * exec.
 */

struct step_stat {
	const char *name;
	unsigned count;
	uint64_t total_ms, max_ms;
};

/* A host's SFTP session for the state files (sftp_of); opened once, by whoever asks first. */
struct fsess {
	char *host;
	pthread_mutex_t mu;
	int state; /* 0 not tried yet, 1 open, -1 could not be opened: scripts write the files */
	struct sftp s;
	pthread_t warm;
	bool warming;
	/* berth-proxy's control socket, forwarded here (control_of) */
	int ctl_state; /* 0 not tried yet, 1 forwarded, -1 not: the switch runs docker exec */
	char *ctl;
};

struct dctx {
	const struct config *cfg;
	const struct secrets *sec;
	struct exec *ex;
	const struct deploy_opts *o;
	struct hoststate hs;
	struct hooks hooks;
	const char *version;
	char *image;
	pthread_mutex_t mu;
	/*
	 * Other roles wait until the primary role is healthy on its first host
	 * (Kamal's barrier): 0 while it boots, 1 once it serves, -1 if it failed.
	 */
	int barrier_state;
	pthread_cond_t barrier_cond;
	const struct config_role *primary;
	const char *primary_host;
	struct step_stat steps[24];
	size_t nsteps;
	/*
	 * Roles whose hosts share one ACME certificate: role name, then the
	 * issuer's secret (hex), which followers read on their deploy's stdin.
	 * The secrets are redacted from whatever is shown, like the app's.
	 */
	struct strvec tls_secrets;
	struct secrets redactions;
	/* one SFTP session per host, when Docker is reached from here too */
	struct fsess *fs;
	size_t nfs;
	/* error_pages_path's pages, in the proxies' volume: --error-pages (NULL: none) */
	char *error_pages;
};

/* secrets_redact with the app's secrets and this deploy's own (the TLS secrets). */
static void redact(struct dctx *c, struct sbuf *text)
{
	secrets_redact(c->sec, text);
	if (c->redactions.names.nr) {
		secrets_redact(&c->redactions, text);
	}
}

struct pair {
	const char *host;
	const struct config_role *role;
	struct err err;
	bool done, failed;
	bool opens; /* the primary role on the primary host: other roles wait for it */
	bool waits; /* held at the barrier until the opener serves */
	size_t batch;
	char *assets_vol; /* the new container's asset volume on the host (absolute); NULL: none */
};

/*
 * Work that runs beside the main line of a deploy (one more ssh command in
 * flight: an audit line, the journal) so that the steps people wait for are
 * not held up by bookkeeping.
 */
struct bg {
	pthread_t th;
	bool started;
	int rc;
	struct err err;
	int (*fn)(struct dctx *c, void *arg, struct err *e);
	struct dctx *c;
	void *arg;
};

static void *bg_main(void *p)
{
	struct bg *b = p;

	b->rc = b->fn(b->c, b->arg, &b->err);
	return NULL;
}

static void bg_start(struct bg *b, struct dctx *c, int (*fn)(struct dctx *, void *, struct err *),
		     void *arg)
{
	memset(b, 0, sizeof(*b));
	err_init(&b->err);
	b->fn = fn;
	b->c = c;
	b->arg = arg;
	if (pthread_create(&b->th, NULL, bg_main, b) == 0) {
		b->started = true;
	} else {
		bg_main(b);
	}
}

/* Waits for b; returns its result, with its error moved to e (may be NULL). */
static int bg_join(struct bg *b, struct err *e)
{
	int rc;

	if (b->started) {
		pthread_join(b->th, NULL);
		b->started = false;
	}
	rc = b->rc;
	if (rc < 0 && e) {
		err_set(e, "%s", err_str(&b->err));
	}
	err_release(&b->err);
	return rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void say(struct dctx *c, const char *line)
{
	if (c->o->progress) {
		c->o->progress(line, c->o->progress_data);
	} else {
		printf("%s\n", line);
		fflush(stdout);
	}
}

/*
 * One step's line: "lab-h1 web: booted shop-web-v2 (0.4 s)", or a JSON
 * event. Also counts the step's time for the summary.
 */
static void step(struct dctx *c, const char *host, const char *role, const char *name, bool ok,
		 uint64_t ms, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void step(struct dctx *c, const char *host, const char *role, const char *name, bool ok,
		 uint64_t ms, const char *fmt, ...)
{
	struct sbuf msg = SBUF_INIT, line = SBUF_INIT;
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	sbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	redact(c, &msg);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->nsteps && strcmp(c->steps[i].name, name); i++) {
	}
	if (i == c->nsteps && c->nsteps < sizeof(c->steps) / sizeof(c->steps[0])) {
		c->steps[c->nsteps++].name = name;
	}
	if (i < c->nsteps) {
		c->steps[i].count++;
		c->steps[i].total_ms += ms;
		if (ms > c->steps[i].max_ms) {
			c->steps[i].max_ms = ms;
		}
	}
	if (c->o->json) {
		json_t *j = json_pack("{s:s, s:s?, s:s?, s:s, s:b, s:I, s:s}", "event", "step",
				      "host", host, "role", role, "step", name, "ok", ok, "ms",
				      (json_int_t)ms, "message", msg.buf);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		if (s) {
			say(c, s);
		}
		free(s);
		json_decref(j);
	} else if (!c->o->quiet || !ok) {
		if (host) {
			sbuf_addf(&line, "%s%s%s: ", host, role ? " " : "", role ? role : "");
		}
		sbuf_add(&line, (msg).buf, (msg).len);
		if (ms >= 1) {
			sbuf_addf(&line, " (%.1f s)", (double)ms / 1000.0);
		}
		say(c, line.buf);
	}
	pthread_mutex_unlock(&c->mu);
	sbuf_release(&msg);
	sbuf_release(&line);
}

static void note(struct dctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct dctx *c, const char *fmt, ...)
{
	struct sbuf msg = SBUF_INIT;
	va_list ap;

	if (c->o->quiet) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	redact(c, &msg);
	pthread_mutex_lock(&c->mu);
	if (c->o->json) {
		json_t *j = json_pack("{s:s, s:s}", "event", "note", "message", msg.buf);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		if (s) {
			say(c, s);
		}
		free(s);
		json_decref(j);
	} else {
		say(c, msg.buf);
	}
	pthread_mutex_unlock(&c->mu);
	sbuf_release(&msg);
}

/*
 * With -v: "HOST $ WHERE LEAD ARGV", secrets redacted. where says how the
 * command reaches the host ("" over ssh); lead stands for a script's text.
 */
static void show(struct dctx *c, const char *host, const char *where, const char *lead,
		 const char *const *argv)
{
	struct sbuf sb = SBUF_INIT;

	if (!c->o->verbose || c->o->json) {
		return;
	}
	sbuf_addf(&sb, "%s%s", where, lead);
	if (argv) {
		exec_quote_argv(&sb, argv);
	}
	redact(c, &sb);
	pthread_mutex_lock(&c->mu);
	fprintf(stderr, "%s $ %s\n", host, sb.buf);
	pthread_mutex_unlock(&c->mu);
	sbuf_release(&sb);
}

#define VIA_DOCKER  "(here, docker of the host) "
#define VIA_CONTROL "(here, berth-proxy's control socket of the host) "
#define SCRIPT_LEAD "sh -c '<berth script>' "

/*
 * Runs one of the scripts above on host as `sh -c SCRIPT berth ARGS...`,
 * with in on stdin; out (may be NULL) gets stdout, which on_line (may be
 * NULL) also sees line by line as it comes. With -v the command is shown,
 * secrets redacted, as "sh -c '<berth script>' ARGS": the text is fixed and
 * long. On a failure e says why: the ssh error, or the script's exit and
 * last lines (its text would say nothing to a user).
 */
static int script_on(struct dctx *c, const char *host, bool docker, const char *script,
		     const struct strvec *args, struct slice in, unsigned timeout_ms,
		     run_line_fn on_line, void *data, struct sbuf *out, struct err *e)
{
	const struct exec_script sc = {
	    .text = script,
	    .args = args ? (const char *const *)args->v : NULL,
	    .in = in,
	    .timeout_ms = timeout_ms ? timeout_ms : STEP_TIMEOUT_MS,
	    .capture_max = OUTPUT_MAX,
	    .flags = docker ? EXEC_SCRIPT_DOCKER : 0,
	};
	struct run_cmd cmd = RUN_CMD_INIT;
	int ret = -1;

	cmd.out = on_line ? RUN_IO_CAPTURE | RUN_IO_STREAM : RUN_IO_CAPTURE;
	cmd.on_line = on_line;
	cmd.on_line_data = data;
	if (exec_script_prepare(c->ex, host, &sc, &cmd, e) < 0) {
		goto out;
	}
	show(c, host, cmd.env.nr ? VIA_DOCKER : "", SCRIPT_LEAD "berth ", sc.args);
	run_one(&cmd);
	if (exec_script_result(c->ex, host, &sc, &cmd, e) < 0) {
		goto out;
	}
	if (out) {
		sbuf_add(out, cmd.outbuf.buf, cmd.outbuf.len);
	}
	ret = 0;
out:
	run_cmd_release(&cmd);
	return ret;
}

/* A script on host (over ssh, or here for the local executor). */
static int remote_script(struct dctx *c, const char *host, const char *script,
			 const struct strvec *args, struct slice in, unsigned timeout_ms,
			 run_line_fn on_line, void *data, struct sbuf *out, struct err *e)
{
	return script_on(c, host, false, script, args, in, timeout_ms, on_line, data, out, e);
}

/*
 * A script that only talks to host's dockerd: run here against its
 * forwarded socket when it can be (exec_prepare_docker), else on the host.
 */
static int docker_script(struct dctx *c, const char *host, const char *script,
			 const struct strvec *args, struct slice in, unsigned timeout_ms,
			 run_line_fn on_line, void *data, struct sbuf *out, struct err *e)
{
	return script_on(c, host, true, script, args, in, timeout_ms, on_line, data, out, e);
}

struct boot_lines {
	struct dctx *c;
	struct pair *p;
	const char *name;
	uint64_t t0, started_ms;
	bool started;
};

/* Each line of the boot command's output: "berth-started" ends the boot step. */
static void boot_line(struct run_cmd *cmd, int fd, struct slice line, void *data)
{
	struct boot_lines *bl = data;

	(void)cmd;
	if (fd == 1 && !bl->started && slice_eq_cstr(line, "berth-started")) {
		bl->started = true;
		bl->started_ms = now_ms();
		step(bl->c, bl->p->host, bl->p->role->name, "boot", true, bl->started_ms - bl->t0,
		     "started %s", bl->name);
	}
}

static unsigned deploy_timeout_s(const struct config *cfg)
{
	return cfg->deploy_timeout > 0 ? (unsigned)cfg->deploy_timeout
				       : CONFIG_DEFAULT_DEPLOY_TIMEOUT;
}

static unsigned drain_timeout_s(const struct config *cfg)
{
	return cfg->drain_timeout >= 0 ? (unsigned)cfg->drain_timeout
				       : CONFIG_DEFAULT_DRAIN_TIMEOUT;
}

/*
 * Appends to e the last log lines and health answers of the new containers
 * names[0..shown) (those the failure is about), and stops every one of names
 * (the others started for the same switch).
 */
static void diagnose(struct dctx *c, const char *host, const struct strvec *names, size_t shown,
		     struct err *e)
{
	struct strvec args = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, msg = SBUF_INIT;
	struct err e2 = ERR_INIT;

	strvec_pushf(&args, "%d", LOG_LINES_ON_ERROR);
	strvec_pushf(&args, "%zu", shown);
	strvec_pushv(&args, (const char *const *)names->v);
	if (docker_script(c, host, script_deploy_fail, &args, SLICE_NULL, 30000, NULL, NULL, &out,
			  &e2) == 0 &&
	    shown) {
		sbuf_addf(&msg, "%s\n", err_str(e));
		sbuf_add(&msg, (out).buf, (out).len);
		sbuf_rtrim(&msg);
		redact(c, &msg);
		err_release(e);
		err_set(e, "%s", msg.buf);
	}
	strvec_clear(&args);
	sbuf_release(&out);
	sbuf_release(&msg);
	err_release(&e2);
}

/*
 * names reordered so that those the switch's error names as targets
 * ("'NAME:PORT'") come first: returns how many it names, or all of them
 * when it names none.
 */
static size_t named_first(struct strvec *names, const char *msg)
{
	struct sbuf pat = SBUF_INIT;
	size_t i, k = 0;

	for (i = 0; i < names->nr; i++) {
		sbuf_reset(&pat);
		sbuf_addf(&pat, "'%s:", names->v[i]);
		if (strstr(msg, pat.buf)) {
			char *t = names->v[k];

			names->v[k++] = names->v[i];
			names->v[i] = t;
		}
	}
	sbuf_release(&pat);
	return k ? k : names->nr;
}

struct journal_arg {
	const char *host;
	const struct hoststate_release *rel;
};

static int journal_task(struct dctx *c, void *arg, struct err *e)
{
	struct journal_arg *j = arg;

	return hoststate_journal_append(&c->hs, j->host, j->rel, e);
}

struct audit_arg {
	const struct strvec *hosts;
	const struct sbuf *msg;
};

static int audit_task(struct dctx *c, void *arg, struct err *e)
{
	struct audit_arg *a = arg;

	return hoststate_audit_append(&c->hs, (const char *const *)a->hosts->v, a->hosts->nr,
				      a->msg->buf, a->msg->len, e);
}

struct proxies_arg {
	const struct pair *pairs;
	size_t npairs;
};

static int boot_proxies(struct dctx *c, const struct pair *pairs, size_t npairs, struct err *e);

static int proxies_task(struct dctx *c, void *arg, struct err *e)
{
	struct proxies_arg *a = arg;

	return boot_proxies(c, a->pairs, a->npairs, e);
}

static void barrier_set(struct dctx *c, int state)
{
	pthread_mutex_lock(&c->mu);
	if (c->barrier_state == 0) {
		c->barrier_state = state;
		pthread_cond_broadcast(&c->barrier_cond);
	}
	pthread_mutex_unlock(&c->mu);
}

/* For a role other than the primary: waits for the barrier; 0 open, -1 failed. */
static int barrier_wait(struct dctx *c, struct pair *p)
{
	int state;

	if (!p->waits) {
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	state = c->barrier_state;
	pthread_mutex_unlock(&c->mu);
	if (state == 0) {
		note(c, "%s %s: waiting for %s to be healthy on %s", p->host, p->role->name,
		     c->primary->name, c->primary_host);
	}
	pthread_mutex_lock(&c->mu);
	while (c->barrier_state == 0) {
		pthread_cond_wait(&c->barrier_cond, &c->mu);
	}
	state = c->barrier_state;
	pthread_mutex_unlock(&c->mu);
	if (state < 0) {
		return err_set(&p->err, "not booted: %s did not become healthy on %s",
			       c->primary->name, c->primary_host);
	}
	return 0;
}

/* The TLS secret of a role that shares its certificate; NULL for others. */
static const char *tls_secret(struct dctx *c, const struct config_role *role)
{
	size_t i;

	for (i = 0; i + 1 < c->tls_secrets.nr; i += 2) {
		if (!strcmp(c->tls_secrets.v[i], role->name)) {
			return c->tls_secrets.v[i + 1];
		}
	}
	return NULL;
}

/*
 * For each role whose hosts share one ACME certificate: the secret from
 * the proxy of its issuer (made there the first time), one ssh round trip
 * per role. 0, or -1 with e set.
 */
static int fetch_tls_secrets(struct dctx *c, const struct pair *pairs, size_t npairs, struct err *e)
{
	size_t i, k;

	for (i = 0; i < npairs; i++) {
		const struct config_role *role = pairs[i].role;
		struct strvec args = STRVEC_INIT;
		struct sbuf out = SBUF_INIT, name = SBUF_INIT;
		const char *issuer = role->nr_hosts ? role->hosts[0].name : NULL;
		int rc;

		for (k = 0; k < i && pairs[k].role != role; k++) {
		}
		if (k < i || !app_proxy_tls_shared(role) || tls_secret(c, role) || !issuer) {
			continue;
		}
		app_proxy_tls_secret_argv(&args, c->cfg, role);
		rc = docker_script(c, issuer, "exec \"$@\"", &args, SLICE_NULL, 0, NULL, NULL, &out,
				   e);
		sbuf_trim(&out);
		if (!rc) {
			sbuf_addf(&name, "proxy TLS secret of %s", role->name);
			secrets_set(&c->redactions, name.buf, out.buf, NULL);
		}
		if (!rc && out.len != 64) {
			redact(c, &out);
			rc = err_set(e, "host '%s': the proxy printed no TLS secret for %s: %s",
				     issuer, role->name, out.buf);
		}
		if (!rc) {
			strvec_push(&c->tls_secrets, role->name);
			strvec_push(&c->tls_secrets, out.buf);
		} else {
			err_prefix(e, "cannot share the certificate of %s between its hosts",
				   role->name);
		}
		memset(out.buf, 0, out.len);
		sbuf_release(&out);
		sbuf_release(&name);
		strvec_clear(&args);
		if (rc) {
			return -1;
		}
	}
	return 0;
}

/*
 * The SFTP session to host (hoststate's sftp_of): opened at the first call,
 * which the others wait for; NULL when there is none (then the state files
 * are written by scripts over ssh, as without sessions).
 */
/* The host's session entry, or NULL for a host the deploy has none for. */
static struct fsess *fsess_of(struct dctx *c, const char *host)
{
	size_t i;

	for (i = 0; i < c->nfs; i++) {
		if (!strcmp(c->fs[i].host, host)) {
			return &c->fs[i];
		}
	}
	return NULL;
}

static struct sftp *sftp_of(void *data, const char *host)
{
	struct dctx *c = data;
	struct fsess *f = fsess_of(c, host);

	if (!f) {
		return NULL;
	}
	pthread_mutex_lock(&f->mu);
	if (!f->state) {
		struct err e = ERR_INIT;

		/* the connection first, one ssh at a time per host (exec_connect) */
		f->state =
		    exec_connect(c->ex, host, &e) == 0 && sftp_open(&f->s, c->ex, host, &e) == 0
			? 1
			: -1;
		if (f->state < 0) {
			log_debug("%s; the state files are written by scripts", err_str(&e));
		}
		err_release(&e);
	}
	pthread_mutex_unlock(&f->mu);
	return f->state > 0 ? &f->s : NULL;
}

struct warm_arg {
	struct dctx *c;
	const char *host;
};

static void *warm_thread(void *arg)
{
	struct warm_arg *w = arg;

	sftp_of(w->c, w->host);
	free(w);
	return NULL;
}

/*
 * One SFTP session per host, opened at once in the background (the login
 * shell that starts sftp-server may take a while), when Docker is reached
 * from here: then a deploy starts no process on a host but sftp-server.
 */
static void sessions_start(struct dctx *c, const struct strvec *hosts)
{
	size_t i;

	if (c->ex->kind != EXEC_SSH || !c->ex->docker_here) {
		return;
	}
	c->fs = xcalloc(hosts->nr ? hosts->nr : 1, sizeof(*c->fs));
	for (i = 0; i < hosts->nr; i++) {
		c->fs[i].host = xstrdup(hosts->v[i]);
		pthread_mutex_init(&c->fs[i].mu, NULL);
	}
	c->nfs = hosts->nr;
	c->hs.sftp_of = sftp_of;
	c->hs.sftp_data = c;
	for (i = 0; i < c->nfs; i++) {
		struct warm_arg *w = xcalloc(1, sizeof(*w));

		w->c = c;
		w->host = c->fs[i].host;
		c->fs[i].warming = pthread_create(&c->fs[i].warm, NULL, warm_thread, w) == 0;
		if (!c->fs[i].warming) {
			free(w);
		}
	}
}

static void sessions_end(struct dctx *c)
{
	size_t i;

	for (i = 0; i < c->nfs; i++) {
		if (c->fs[i].warming) {
			pthread_join(c->fs[i].warm, NULL);
		}
		if (c->fs[i].state > 0) {
			sftp_close(&c->fs[i].s);
		}
		pthread_mutex_destroy(&c->fs[i].mu);
		free(c->fs[i].host);
		free(c->fs[i].ctl);
	}
	free(c->fs);
	c->fs = NULL;
	c->nfs = 0;
	c->hs.sftp_of = NULL;
}

struct envw_arg {
	const char *host, *path;
	struct slice data;
};

static int envw_task(struct dctx *c, void *arg, struct err *e)
{
	struct envw_arg *a = arg;
	struct strvec args = STRVEC_INIT;
	struct sftp *s = sftp_of(c, a->host);
	int rc;

	if (s) {
		struct sbuf dir = SBUF_INIT;
		const char *slash = strrchr(a->path, '/');

		sbuf_add(&dir, a->path, slash ? (size_t)(slash - a->path) : 0);
		rc = (dir.len && sftp_mkdir_p(s, dir.buf, 0700, e) < 0) ||
			     sftp_write_file(s, a->path, a->data.ptr, a->data.len, 0600,
					     SFTP_WRITE_ATOMIC, e) != 0
			 ? -1
			 : 0;
		sbuf_release(&dir);
		return rc;
	}
	strvec_push(&args, a->path);
	rc = remote_script(c, a->host, script_deploy_env, &args, a->data, 0, NULL, NULL, NULL, e);
	strvec_clear(&args);
	return rc;
}

/* One docker command here against host's forwarded dockerd; its output appended to out. */
static int docker_here(struct dctx *c, const char *host, const char *const *argv, struct slice in,
		       unsigned timeout_ms, struct sbuf *out, struct sbuf *errout)
{
	struct run_cmd cmd = RUN_CMD_INIT;
	struct err e = ERR_INIT;
	int rc = -1;

	if (exec_prepare_docker(c->ex, host, argv, &cmd, &e) < 0) {
		sbuf_addf(errout, "%s\n", err_str(&e));
		goto out;
	}
	/* a script's text is fixed and long: its name stands for it */
	if (!strcmp(argv[0], "sh") && argv[1] && !strcmp(argv[1], "-c") && argv[2]) {
		show(c, host, VIA_DOCKER, SCRIPT_LEAD, argv + 3);
	} else {
		show(c, host, VIA_DOCKER, "", argv);
	}
	cmd.in_mem = in;
	cmd.out = RUN_IO_CAPTURE;
	cmd.err = RUN_IO_CAPTURE;
	cmd.timeout_ms = timeout_ms ? timeout_ms : STEP_TIMEOUT_MS;
	cmd.capture_max = OUTPUT_MAX;
	rc = run_one(&cmd);
	if (out) {
		sbuf_add(out, cmd.outbuf.buf, cmd.outbuf.len);
	}
	sbuf_add(errout, cmd.errbuf.buf, cmd.errbuf.len);
	if (rc < 0 && !cmd.errbuf.len) {
		run_describe_status(&cmd, errout);
		sbuf_addch(errout, '\n');
	}
out:
	run_cmd_release(&cmd);
	err_release(&e);
	return rc;
}

static void ignore_line(char kind, struct slice line, void *data)
{
	(void)kind;
	(void)line;
	(void)data;
}

/*
 * berth-proxy's control socket on host, forwarded here: the switch is then
 * one request over the ssh connection, where `docker exec` would start a
 * process in the proxy's container. Found through Docker (the volume the
 * proxy keeps it in), checked with a `list`. NULL when it cannot be (the ssh
 * user may not reach Docker's volumes): then docker exec.
 */
static const char *control_of(struct dctx *c, const char *host)
{
	struct fsess *f = fsess_of(c, host);
	const char *ret;

	if (!f) {
		return NULL;
	}
	pthread_mutex_lock(&f->mu);
	if (!f->ctl_state) {
		struct sbuf mp = SBUF_INIT, errout = SBUF_INIT, local = SBUF_INIT;
		struct err e = ERR_INIT;

		f->ctl_state = -1;
		if (docker_here(c, host,
				(const char *[]){"docker", "volume", "inspect", "--format",
						 "{{.Mountpoint}}", PROXYHOST_VOLUME, NULL},
				SLICE_NULL, 30000, &mp, &errout) == 0) {
			sbuf_trim(&mp);
			sbuf_addstr(&mp, "/" PROXYHOST_CONTROL);
		}
		if (mp.len && mp.buf[0] == '/' &&
		    exec_forward(c->ex, host, mp.buf, &local, &e) == 0 &&
		    control_call(local.buf, 1, (const char *[]){"list", NULL}, SLICE_NULL, 10000,
				 ignore_line, NULL, &e) == 0) {
			f->ctl = sbuf_detach(&local, NULL);
			f->ctl_state = 1;
		} else {
			log_debug(
			    "host '%s': berth-proxy's control socket cannot be reached through "
			    "ssh (%s); the switch runs docker exec",
			    host, err_isset(&e) ? err_str(&e) : errout.buf);
		}
		sbuf_release(&mp);
		sbuf_release(&errout);
		sbuf_release(&local);
		err_release(&e);
	}
	ret = f->ctl_state > 0 ? f->ctl : NULL;
	pthread_mutex_unlock(&f->mu);
	return ret;
}

struct switch_lines {
	struct sbuf *out, *errout;
};

static void switch_line(char kind, struct slice line, void *data)
{
	struct switch_lines *sl = data;
	struct sbuf *to = kind == 'o' ? sl->out : sl->errout;

	sbuf_add(to, line.ptr, line.len);
	sbuf_addch(to, '\n');
}

/*
 * The switch of boot_here: `berth-proxy deploy` over the forwarded control
 * socket when there is one, else the command sw as it is (docker exec).
 */
static int switch_here(struct dctx *c, const char *host, const struct strvec *sw, struct slice in,
		       unsigned timeout_ms, struct sbuf *out, struct sbuf *errout)
{
	const char *ctl = NULL;
	size_t i, k = 0;
	int rc;

	/* "docker exec [-i] berth-proxy berth-proxy deploy ...": the command starts at "deploy" */
	for (i = 0; i + 1 < sw->nr && k < 2; i++) {
		k += !strcmp(sw->v[i], APP_PROXY_CONTAINER);
	}
	if (sw->nr > 2 && !strcmp(sw->v[0], "docker") && !strcmp(sw->v[1], "exec") && k == 2) {
		ctl = control_of(c, host);
	}
	if (ctl) {
		struct switch_lines sl = {out, errout};
		struct err e = ERR_INIT;

		show(c, host, VIA_CONTROL, "", (const char *const *)sw->v + i);
		rc = control_call(ctl, (int)(sw->nr - i), (const char **)sw->v + i,
				  in.len ? in : SLICE_NULL, timeout_ms, switch_line, &sl, &e);
		if (rc < 0) {
			sbuf_addf(errout, "error: %s\n", err_str(&e));
		}
		err_release(&e);
		return rc == 0 ? 0 : -1;
	}
	return docker_here(c, host, (const char *const *)sw->v, in, timeout_ms, out, errout);
}

/*
 * What script_deploy_boot does, with Docker reached from here (exec_docker_here):
 * the env file goes to the host (envpath, may be NULL) while the container
 * starts with the same bytes on the docker CLI's stdin (run reads them with
 * --env-file /dev/stdin); a name taken by an earlier try is renamed away and
 * a missing network created, then the start is tried again; then the switch
 * (sw, may be empty) with swin on its stdin. bl (may be NULL) says whether
 * the container started; e gets the failing step's last lines.
 */
static int boot_here(struct dctx *c, struct pair *p, const char *name, const char *envpath,
		     struct slice envfile, const struct strvec *run, const struct strvec *sw,
		     struct slice swin, unsigned timeout_ms, struct boot_lines *bl,
		     struct sbuf *out, struct err *e)
{
	struct sbuf errout = SBUF_INIT, tmp = SBUF_INIT;
	struct envw_arg ea = {p->host, envpath, envfile};
	struct bg envw;
	bool envw_started = false;
	int ret = -1, try;

	if (envpath) {
		bg_start(&envw, c, envw_task, &ea);
		envw_started = true;
	}
	for (try = 0;; try++) {
		sbuf_reset(&errout);
		if (docker_here(c, p->host, (const char *const *)run->v, envfile, timeout_ms, out,
				&errout) == 0) {
			break;
		}
		if (try < 2 && name && *name && strstr(errout.buf, "is already in use")) {
			sbuf_reset(&tmp);
			sbuf_addf(&tmp, "%s_replaced_%llu", name, (unsigned long long)now_ms());
			docker_here(c, p->host,
				    (const char *[]){"docker", "rename", name, tmp.buf, NULL},
				    SLICE_NULL, 0, NULL, &tmp);
			continue;
		}
		sbuf_reset(&tmp);
		sbuf_addf(&tmp, "network %s not found", APP_NETWORK);
		if (try < 2 && strstr(errout.buf, tmp.buf)) {
			sbuf_reset(&tmp);
			docker_here(
			    c, p->host,
			    (const char *[]){"docker", "network", "create", APP_NETWORK, NULL},
			    SLICE_NULL, 0, NULL, &tmp);
			continue;
		}
		{
			struct slice tail = slice_trim(run_tail_lines(&errout, 5));

			err_set(e, "host '%s': %.*s", p->host, (int)tail.len, tail.ptr);
		}
		goto out;
	}
	if (envw_started) {
		envw_started = false;
		if (bg_join(&envw, e) < 0) {
			/* started, not switched: the failure path stops it */
			if (bl) {
				bl->started = true;
			}
			err_prefix(e, "the env file was not written");
			goto out;
		}
	}
	if (bl) {
		boot_line(NULL, 1, slice_cstr("berth-started"), bl);
	}
	if (sw->nr) {
		sbuf_reset(&errout);
		if (switch_here(c, p->host, sw, swin, timeout_ms, out, &errout) < 0) {
			struct slice tail = slice_trim(run_tail_lines(&errout, 5));

			err_set(e, "host '%s': %.*s", p->host, (int)tail.len, tail.ptr);
			goto out;
		}
	}
	ret = 0;
out:
	if (envw_started) {
		bg_join(&envw, NULL);
	}
	sbuf_release(&errout);
	sbuf_release(&tmp);
	return ret;
}

/* The first line of an error, for a step's line. */
static int first_line_len(const char *msg)
{
	const char *nl = strchr(msg, '\n');

	return nl ? (int)(nl - msg) : (int)strlen(msg);
}

/* "prepare" or "clean", then the role's asset directory: the script's first arguments. */
static void assets_args(struct dctx *c, const struct config_role *role, const char *what,
			struct strvec *args)
{
	struct sbuf dir = SBUF_INIT;

	app_assets_dir(&dir, c->cfg, role->name);
	strvec_push(args, what);
	strvec_push(args, dir.buf);
	sbuf_release(&dir);
}

/*
 * asset_path on p's host, before anything boots (engine/app.h): the new
 * version's assets copied out of its image (a rollback's, out of the image
 * of the container it starts again) and shared with the version running
 * there; p->assets_vol gets the volume the new container mounts. Returns 0,
 * or -1 with p->err set.
 */
static int assets_prepare(struct dctx *c, struct pair *p)
{
	const struct config *cfg = c->cfg;
	struct strvec args = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT, out = SBUF_INIT, shared = SBUF_INIT;
	const char *vol = NULL, *s;
	unsigned long files = 0;
	uint64_t t0 = now_ms();
	int ret = -1;

	assets_args(c, p->role, "prepare", &args);
	strvec_push(&args, c->version);
	app_asset_path(p->role, &sb, NULL);
	strvec_push(&args, sb.buf);
	strvec_push(&args, c->image);
	sbuf_reset(&sb);
	if (c->o->mode == DEPLOY_ROLLBACK) {
		app_container_name(&sb, cfg, p->role->name, c->version);
	}
	strvec_push(&args, sb.buf);
	sbuf_reset(&sb);
	app_assets_container(&sb, cfg, p->role->name);
	strvec_push(&args, sb.buf);
	app_filter_argv(&args, cfg, p->role->name);
	if (remote_script(c, p->host, script_deploy_assets, &args, SLICE_NULL, ASSETS_TIMEOUT_MS,
			  NULL, NULL, &out, &p->err) < 0) {
		err_prefix(&p->err, "the assets of %s were not put in place; nothing was switched",
			   c->version);
		goto out;
	}
	for (s = out.buf; s && *s;) {
		char *nl = strchr(s, '\n');

		if (nl) {
			*nl = '\0';
		}
		if (!strncmp(s, "files ", 6)) {
			files = strtoul(s + 6, NULL, 10);
		} else if (!strncmp(s, "shared ", 7)) {
			sbuf_addf(&shared, "%s%s", shared.len ? ", " : "", s + 7);
		} else if (!strncmp(s, "volume ", 7)) {
			vol = s + 7;
		} else if (!strncmp(s, "note: ", 6)) {
			note(c, "%s %s: %s", p->host, p->role->name, s + 6);
		}
		s = nl ? nl + 1 : NULL;
	}
	/* docker's --volume takes "SOURCE:TARGET[:OPTIONS]" */
	if (!vol || vol[0] != '/' || strchr(vol, ':') || strchr(vol, ',')) {
		err_set(&p->err,
			"host '%s': the assets of %s were not put in place (no volume docker can "
			"mount: '%s'); nothing was switched",
			p->host, c->version, vol ? vol : "");
		goto out;
	}
	p->assets_vol = xstrdup(vol);
	step(c, p->host, p->role->name, "assets", true, now_ms() - t0,
	     "%lu asset file(s) of %s in place%s%s", files, c->version,
	     shared.len ? ", shared with " : "", shared.buf);
	ret = 0;
out:
	strvec_clear(&args);
	sbuf_release(&sb);
	sbuf_release(&out);
	sbuf_release(&shared);
	return ret;
}

/*
 * After the switches: the asset files of the versions that no container of
 * p's role runs on its host any more leave it (a rollback copies them out of
 * the image again). A failure is said, and changes nothing: the new version
 * serves. Returns 0 (it never fails the deploy).
 */
static int assets_clean(struct dctx *c, struct pair *p)
{
	struct strvec args = STRVEC_INIT;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;
	uint64_t t0 = now_ms();
	unsigned removed = 0;
	const char *s;

	assets_args(c, p->role, "clean", &args);
	strvec_pushv(&args, (const char *[]){"running", "0", c->version, NULL});
	app_filter_argv(&args, c->cfg, p->role->name);
	if (remote_script(c, p->host, script_deploy_assets, &args, SLICE_NULL, 0, NULL, NULL, &out,
			  &e) < 0) {
		step(c, p->host, p->role->name, "assets-cleanup", false, now_ms() - t0,
		     "the assets of old versions stay: %.*s", first_line_len(err_str(&e)),
		     err_str(&e));
	} else {
		for (s = out.buf; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
			removed += !strncmp(s, "removed ", 8);
		}
		step(c, p->host, p->role->name, "assets-cleanup", true, now_ms() - t0,
		     "the assets of %u old version(s) removed", removed);
	}
	strvec_clear(&args);
	sbuf_release(&out);
	err_release(&e);
	return 0;
}

struct assets_job {
	struct dctx *c;
	struct pair *p;
	int (*fn)(struct dctx *c, struct pair *p);
	pthread_t th;
	bool started;
	int rc;
};

static void *assets_thread(void *arg)
{
	struct assets_job *j = arg;

	j->rc = j->fn(j->c, j->p);
	return NULL;
}

/*
 * fn for every pair whose role has an asset_path and that did not fail, all
 * at once: assets_prepare before the boots, assets_clean after them (for the
 * pairs that booted). Returns how many failed (their pairs marked failed).
 */
static size_t assets_all(struct dctx *c, struct pair *pairs, size_t npairs,
			 int (*fn)(struct dctx *c, struct pair *p))
{
	struct assets_job *jobs = xcalloc(npairs ? npairs : 1, sizeof(*jobs));
	size_t i, n = 0, failed = 0;

	for (i = 0; i < npairs; i++) {
		if (app_assets(pairs[i].role) && !pairs[i].failed &&
		    (fn != assets_clean || pairs[i].done)) {
			jobs[n].c = c;
			jobs[n].fn = fn;
			jobs[n++].p = &pairs[i];
		}
	}
	for (i = 0; i < n; i++) {
		jobs[i].started =
		    n > 1 && pthread_create(&jobs[i].th, NULL, assets_thread, &jobs[i]) == 0;
		if (!jobs[i].started) {
			assets_thread(&jobs[i]);
		}
	}
	for (i = 0; i < n; i++) {
		struct pair *p = jobs[i].p;

		if (jobs[i].started) {
			pthread_join(jobs[i].th, NULL);
		}
		if (jobs[i].rc < 0) {
			const char *msg = err_str(&p->err);

			p->failed = p->done = true;
			failed++;
			step(c, p->host, p->role->name, "failed", false, 0, "%.*s",
			     first_line_len(msg), msg);
		}
	}
	free(jobs);
	return failed;
}

/*
 * Instance k (from 2) of p's role: started (a rollback: started again,
 * unless fresh: then run from the version's image, as a rollback to a
 * version that ran fewer instances needs) before the first, which carries
 * the switch. Behind the proxy it only starts (the first's switch checks it
 * with the others); else it must become ready like the first. Returns 0,
 * or -1 with e set and *started saying whether its container runs.
 */
static int boot_instance(struct dctx *c, struct pair *p, unsigned k, bool fresh, bool here,
			 const char *envp, struct slice env, const char *name, unsigned timeout_ms,
			 bool *started, struct err *e)
{
	const struct config *cfg = c->cfg;
	const struct config_role *role = p->role;
	struct strvec args = STRVEC_INIT, run = STRVEC_INIT, sw = STRVEC_INIT;
	struct sbuf out = SBUF_INIT;
	struct boot_lines bl = {0};
	struct app_run ar = {0};
	bool rollback = c->o->mode == DEPLOY_ROLLBACK && !fresh;
	int rc, ret = -1;

	*started = false;
	if (rollback) {
		strvec_pushv(&run, (const char *[]){"docker", "start", name, NULL});
	} else {
		ar.version = c->version;
		ar.env_file = here ? "/dev/stdin" : envp;
		ar.host = p->host;
		ar.detach = true;
		ar.assets_dir = p->assets_vol;
		ar.instance = k;
		if (app_run_argv(&run, cfg, role, &ar, e) < 0) {
			goto out;
		}
	}
	if (!role->proxy.enabled) {
		strvec_pushv(&sw,
			     (const char *[]){"sh", "-c", script_deploy_wait, "berth", name, NULL});
		strvec_pushf(&sw, "%lld",
			     cfg->readiness_delay >= 0 ? cfg->readiness_delay
						       : CONFIG_DEFAULT_READINESS_DELAY);
		strvec_pushf(&sw, "%u", deploy_timeout_s(cfg));
	}
	strvec_pushv(&args, (const char *[]){rollback ? "" : envp, rollback ? "" : name,
					     APP_NETWORK, "", NULL});
	strvec_pushf(&args, "%zu", run.nr);
	strvec_pushv(&args, (const char *const *)run.v);
	strvec_pushv(&args, (const char *const *)sw.v);
	bl.c = c;
	bl.p = p;
	bl.name = name;
	bl.t0 = now_ms();
	if (here) {
		rc = boot_here(c, p, name, rollback ? NULL : envp, rollback ? SLICE_NULL : env,
			       &run, &sw, SLICE_NULL, timeout_ms, &bl, &out, e);
	} else {
		rc =
		    remote_script(c, p->host, script_deploy_boot, &args,
				  rollback ? SLICE_NULL : env, timeout_ms, boot_line, &bl, &out, e);
	}
	*started = bl.started;
	if (rc < 0) {
		if (!bl.started) {
			err_prefix(e, "%s did not start", name);
		} else {
			err_prefix(e, "%s did not become ready; the old version goes on", name);
		}
		goto out;
	}
	if (!role->proxy.enabled) {
		step(c, p->host, role->name, "ready", true, now_ms() - bl.started_ms, "%s is ready",
		     name);
	}
	ret = 0;
out:
	strvec_clear(&args);
	strvec_clear(&run);
	strvec_clear(&sw);
	sbuf_release(&out);
	return ret;
}

/*
 * Boots role on host: env file, container (each of the role's instances, the
 * first last), switch (the proxy's to all of them at once), old ones
 * stopped, journal.
 */
static int boot_one(struct dctx *c, struct pair *p)
{
	const struct config *cfg = c->cfg;
	const struct config_role *role = p->role;
	struct sbuf name = SBUF_INIT, envp = SBUF_INIT, env = SBUF_INIT, out = SBUF_INIT;
	struct sbuf target = SBUF_INIT, issuer = SBUF_INIT, list = SBUF_INIT;
	struct sbuf envx = SBUF_INIT, envpx = SBUF_INIT; /* a rollback's instances made anew */
	struct strvec args = STRVEC_INIT, run = STRVEC_INIT, sw = STRVEC_INIT;
	struct strvec names = STRVEC_INIT, targets = STRVEC_INIT;
	const char *secret = tls_secret(c, p->role);
	unsigned n = role->instances > 1 ? (unsigned)role->instances : 1, k;
	size_t env_len;
	unsigned timeout_ms;
	bool here, started;
	int rc;
	struct app_run ar = {0};
	struct hoststate_release rel = {0};
	struct journal_arg jarg;
	struct boot_lines bl = {0};
	struct bg journal;
	bool journal_started = false;
	uint64_t t0;
	int ret = -1;

	app_container_name(&name, cfg, role->name, c->version);
	for (k = 1; k <= n; k++) {
		struct sbuf sb = SBUF_INIT;

		app_instance_name(&sb, cfg, role->name, c->version, k);
		strvec_push(&names, sb.buf);
		sbuf_addf(&list, "%s%s", k > 1 ? ", " : "", sb.buf);
		sbuf_release(&sb);
	}
	if (barrier_wait(c, p) < 0) {
		goto out;
	}
	here = exec_docker_here(c->ex, p->host);
	timeout_ms = (deploy_timeout_s(cfg) + drain_timeout_s(cfg) + 120) * 1000;
	/* the boot command (n words), then the switch or readiness command */
	if (c->o->mode == DEPLOY_ROLLBACK) {
		strvec_pushv(&run, (const char *[]){"docker", "start", name.buf, NULL});
	} else {
		app_env_path(&envp, cfg, role->name);
		if (app_env_file(&env, cfg, role, p->host, c->sec, &p->err) < 0) {
			goto out;
		}
		ar.version = c->version;
		/* here, the docker CLI reads the env file's bytes on its stdin */
		ar.env_file = here ? "/dev/stdin" : envp.buf;
		ar.host = p->host;
		ar.detach = true;
		ar.assets_dir = p->assets_vol;
		if (app_run_argv(&run, cfg, role, &ar, &p->err) < 0) {
			goto out;
		}
	}
	env_len = env.len;
	/* the other instances first: the first's switch moves traffic to them all */
	for (k = 2; k <= n; k++) {
		int r = boot_instance(c, p, k, false, here, envp.buf, slice_make(env.buf, env_len),
				      names.v[k - 1], timeout_ms, &started, &p->err);

		if (r < 0 && c->o->mode == DEPLOY_ROLLBACK && !started &&
		    strstr(err_str(&p->err), "No such container")) {
			/* the version ran fewer instances: this one is made from its image */
			err_release(&p->err);
			if (!envx.len &&
			    app_env_file(&envx, cfg, role, p->host, c->sec, &p->err) < 0) {
				goto out;
			}
			if (!envpx.len) {
				app_env_path(&envpx, cfg, role->name);
			}
			r = boot_instance(c, p, k, true, here, envpx.buf,
					  slice_make(envx.buf, envx.len), names.v[k - 1],
					  timeout_ms, &started, &p->err);
		}
		if (r < 0) {
			struct strvec tried = STRVEC_INIT;

			/* the one that failed (shown when it runs), and those before it */
			strvec_push(&tried, names.v[k - 1]);
			for (unsigned j = 2; j < k; j++) {
				strvec_push(&tried, names.v[j - 1]);
			}
			diagnose(c, p->host, &tried, started ? 1 : 0, &p->err);
			strvec_clear(&tried);
			goto out;
		}
	}
	strvec_push(&args, c->o->mode == DEPLOY_ROLLBACK ? "" : envp.buf);
	strvec_push(&args, c->o->mode == DEPLOY_ROLLBACK ? "" : name.buf);
	strvec_push(&args, APP_NETWORK);
	/* a follower of the role's issuer: any host but the first */
	if (secret && role->proxy.enabled && strcmp(p->host, role->hosts[0].name)) {
		app_proxy_tls_issuer(&issuer, cfg, role);
	}
	if (app_proxy_tls_pem_needed(role)) {
		/* the env file, then the certificate and key the switch reads */
		strvec_pushf(&args, "%zu", env.len);
		if (app_proxy_tls_pem(&env, role, c->sec, &p->err) < 0) {
			goto out;
		}
	} else if (issuer.len) {
		/* the env file, then the secret that opens the issuer's certificate */
		strvec_pushf(&args, "%zu", env.len);
		sbuf_addf(&env, "%s\n", secret);
	} else {
		strvec_push(&args, "");
	}
	strvec_pushf(&args, "%zu", run.nr);
	strvec_pushv(&args, (const char *const *)run.v);
	if (role->proxy.enabled) {
		for (k = 1; k <= n; k++) {
			sbuf_reset(&target);
			sbuf_addf(&target, "%s:%lld", names.v[k - 1],
				  role->proxy.app_port > 0 ? role->proxy.app_port : 80);
			strvec_push(&targets, target.buf);
		}
		app_proxy_deploy_argv_targets(&sw, cfg, role, &targets,
					      issuer.len ? issuer.buf : NULL);
		if (c->error_pages) {
			strvec_pushf(&sw, "--error-pages=%s", c->error_pages);
		}
	} else {
		strvec_pushv(
		    &sw, (const char *[]){"sh", "-c", script_deploy_wait, "berth", name.buf, NULL});
		strvec_pushf(&sw, "%lld",
			     cfg->readiness_delay >= 0 ? cfg->readiness_delay
						       : CONFIG_DEFAULT_READINESS_DELAY);
		strvec_pushf(&sw, "%u", deploy_timeout_s(cfg));
	}
	strvec_pushv(&args, (const char *const *)sw.v);
	bl.c = c;
	bl.p = p;
	bl.name = name.buf;
	bl.t0 = t0 = now_ms();
	if (here) {
		rc = boot_here(c, p, name.buf, c->o->mode == DEPLOY_ROLLBACK ? NULL : envp.buf,
			       slice_make(env.buf, env_len), &run, &sw,
			       slice_make(env.buf + env_len, env.len - env_len), timeout_ms, &bl,
			       &out, &p->err);
	} else {
		rc = remote_script(c, p->host, script_deploy_boot, &args,
				   slice_make(env.buf, env.len), timeout_ms, boot_line, &bl, &out,
				   &p->err);
	}
	if (rc < 0) {
		size_t shown;

		if (!bl.started) {
			err_prefix(&p->err, "%s did not start", name.buf);
			if (n > 1) {
				diagnose(c, p->host, &names, 0, &p->err);
			}
			goto out;
		}
		if (role->proxy.enabled) {
			err_prefix(&p->err,
				   "the switch to %s failed; traffic stays on the old version",
				   list.buf);
		} else {
			err_prefix(&p->err, "%s did not become ready; the old version goes on",
				   name.buf);
		}
		/* the containers the proxy's checks failed on are shown; every new one stops */
		shown = role->proxy.enabled ? named_first(&names, err_str(&p->err)) : 1;
		diagnose(c, p->host, &names, shown, &p->err);
		goto out;
	}
	t0 = bl.started_ms ? bl.started_ms : t0;
	if (p->opens) {
		barrier_set(c, 1);
	}
	if (role->proxy.enabled) {
		step(c, p->host, role->name, "switch", true, now_ms() - t0, "traffic moved to %s",
		     list.buf);
	} else {
		step(c, p->host, role->name, "ready", true, now_ms() - t0, "%s is ready", name.buf);
	}

	t0 = now_ms();
	rel.role = role->name;
	rel.version = (char *)c->version;
	rel.container = name.buf;
	rel.status = "ok";
	rel.service = cfg->service;
	rel.destination = cfg->destination;
	jarg.host = p->host;
	jarg.rel = &rel;
	bg_start(&journal, c, journal_task, &jarg);
	journal_started = true;
	strvec_clear(&args);
	sbuf_reset(&out);
	/* every new container, one a line: the role's others stop */
	sbuf_reset(&target);
	for (k = 0; k < names.nr; k++) {
		sbuf_addf(&target, "%s%s", k ? "\n" : "", names.v[k]);
	}
	strvec_push(&args, target.buf);
	/* retain_containers counts versions: each has n containers */
	strvec_pushf(&args, "%lld",
		     (cfg->retain_containers > 0 ? cfg->retain_containers - 1
						 : CONFIG_DEFAULT_RETAIN_CONTAINERS - 1LL) *
			 (long long)n);
	strvec_pushf(&args, "%lld",
		     role->stop_timeout >= 0 ? role->stop_timeout : CONFIG_DEFAULT_STOP_TIMEOUT);
	app_filter_argv(&args, cfg, role->name);
	if (docker_script(c, p->host, script_deploy_finish, &args, SLICE_NULL, 0, NULL, NULL, &out,
			  &p->err) < 0) {
		err_prefix(&p->err, "%s serves, but stopping the old containers failed", list.buf);
		goto out;
	}
	journal_started = false;
	if (bg_join(&journal, &p->err) < 0) {
		err_prefix(&p->err, "%s serves, but the journal was not written", list.buf);
		goto out;
	}
	{
		unsigned stopped = 0, removed = 0;
		const char *s = out.buf;

		while (s && *s) {
			stopped += !strncmp(s, "stopped ", 8);
			removed += !strncmp(s, "removed ", 8);
			s = strchr(s, '\n');
			s = s ? s + 1 : NULL;
		}
		step(c, p->host, role->name, "finish", true, now_ms() - t0,
		     "%u old container(s) stopped, %u pruned", stopped, removed);
	}
	ret = 0;
out:
	if (journal_started) {
		bg_join(&journal, NULL);
	}
	if (ret < 0 && p->opens) {
		barrier_set(c, -1);
	}
	if (ret < 0) {
		p->failed = true;
		const char *msg = err_str(&p->err);
		const char *nl = strchr(msg, '\n');

		step(c, p->host, role->name, "failed", false, 0, "%.*s",
		     nl ? (int)(nl - msg) : (int)strlen(msg), msg);
	}
	p->done = true;
	sbuf_release(&name);
	sbuf_release(&envp);
	sbuf_release(&env);
	sbuf_release(&out);
	sbuf_release(&target);
	sbuf_release(&issuer);
	sbuf_release(&list);
	sbuf_release(&envx);
	sbuf_release(&envpx);
	strvec_clear(&args);
	strvec_clear(&run);
	strvec_clear(&sw);
	strvec_clear(&names);
	strvec_clear(&targets);
	return ret;
}

struct worker {
	struct dctx *c;
	struct pair **ps; /* booted one after another: a host's roles, or one pair */
	size_t n;
	pthread_t th;
};

static void boot_seq(struct dctx *c, struct pair **ps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i && ps[i - 1]->failed) {
			/* as Kamal does: a host's roles stop at the first that failed */
			err_set(&ps[i]->err, "not booted: %s failed before it on this host",
				ps[i - 1]->role->name);
			ps[i]->failed = ps[i]->done = true;
			if (ps[i]->opens) {
				barrier_set(c, -1);
			}
			continue;
		}
		boot_one(c, ps[i]);
	}
}

static void *boot_thread(void *arg)
{
	struct worker *w = arg;

	boot_seq(w->c, w->ps, w->n);
	return NULL;
}

/*
 * Boots pairs[0..n) at once, one thread per host; a host's roles one after
 * another (Kamal's boot.parallel_roles: false), or each in its own thread
 * with boot.parallel_roles. Returns the number that failed.
 */
static size_t boot_batch(struct dctx *c, struct pair *pairs, size_t n)
{
	struct worker *ws = xcalloc(n, sizeof(*ws));
	size_t i, k, nw = 0, failed = 0;

	for (i = 0; i < n; i++) {
		/* a new worker, unless one boots this host's roles in turn */
		for (k = 0; !c->cfg->boot_parallel_roles && k < nw &&
			    strcmp(ws[k].ps[0]->host, pairs[i].host);
		     k++) {
		}
		if (c->cfg->boot_parallel_roles || k == nw) {
			k = nw++;
			ws[k].c = c;
			/* room for every later pair of the host, in order */
			ws[k].ps = xcalloc(n - i, sizeof(*ws[k].ps));
		}
		ws[k].ps[ws[k].n++] = &pairs[i];
	}
	for (k = 0; k < nw; k++) {
		if (nw == 1 || pthread_create(&ws[k].th, NULL, boot_thread, &ws[k]) != 0) {
			ws[k].th = 0;
			boot_seq(c, ws[k].ps, ws[k].n);
		}
	}
	for (k = 0; k < nw; k++) {
		if (ws[k].th) {
			pthread_join(ws[k].th, NULL);
		}
		free(ws[k].ps);
	}
	for (i = 0; i < n; i++) {
		failed += pairs[i].failed;
	}
	free(ws);
	return failed;
}

void deploy_plan_release(struct deploy_plan *p)
{
	free(p->pairs);
	strvec_clear(&p->hosts);
	memset(p, 0, sizeof(*p));
	strvec_init(&p->hosts);
}

void deploy_plan_make(const struct config *cfg, const struct deploy_opts *o, struct deploy_plan *p)
{
	const struct config_role *primary = config_role(cfg, cfg->primary_role);
	size_t i, j, k, alloc = 0, limit, nhosts;
	bool barrier = false;

	memset(p, 0, sizeof(*p));
	strvec_init(&p->hosts);
	for (i = 0; i < cfg->nr_roles; i++) {
		const struct config_role *r = &cfg->roles[i];

		if (!config_match_any(o->roles, r->name)) {
			continue;
		}
		for (j = 0; j < r->nr_hosts; j++) {
			const char *h = r->hosts[j].name;

			if (!config_match_any(o->hosts, h)) {
				continue;
			}
			for (k = 0; k < p->hosts.nr && strcmp(p->hosts.v[k], h); k++) {
			}
			if (k == p->hosts.nr) {
				strvec_push(&p->hosts, h);
			}
			XGROW(p->pairs, alloc, p->npairs + 1);
			memset(&p->pairs[p->npairs], 0, sizeof(*p->pairs));
			p->pairs[p->npairs].host = h;
			p->pairs[p->npairs].role = r;
			p->npairs++;
		}
	}
	/* the lock: the primary role's first host, else the first host of any role */
	if (primary && primary->nr_hosts) {
		p->lock_host = primary->hosts[0].name;
	}
	for (i = 0; i < cfg->nr_roles && !p->lock_host; i++) {
		if (cfg->roles[i].nr_hosts) {
			p->lock_host = cfg->roles[i].hosts[0].name;
		}
	}
	if (!p->npairs) {
		return;
	}
	/* the primary role's first pair goes first, and its host */
	for (i = 0; primary && i < p->npairs; i++) {
		if (p->pairs[i].role == primary) {
			struct deploy_plan_pair t = p->pairs[i];

			memmove(&p->pairs[1], &p->pairs[0], i * sizeof(*p->pairs));
			p->pairs[0] = t;
			break;
		}
	}
	for (i = 1; i < p->hosts.nr; i++) {
		if (!strcmp(p->hosts.v[i], p->pairs[0].host)) {
			char *h = p->hosts.v[i];

			memmove(&p->hosts.v[1], &p->hosts.v[0], i * sizeof(*p->hosts.v));
			p->hosts.v[0] = h;
			break;
		}
	}
	/* the barrier */
	if (primary && p->pairs[0].role == primary) {
		for (i = 1; i < p->npairs; i++) {
			p->pairs[i].waits = p->pairs[i].role != primary;
			barrier = barrier || p->pairs[i].waits;
		}
		p->pairs[0].opens = true;
	}
	/* the batches */
	nhosts = p->hosts.nr;
	limit = nhosts;
	if (cfg->boot_limit > 0) {
		limit = cfg->boot_limit_percent ? (nhosts * (size_t)cfg->boot_limit + 99) / 100
						: (size_t)cfg->boot_limit;
		limit = limit ? limit : 1;
	}
	p->nbatches = (nhosts + limit - 1) / limit;
	for (i = 0; i < p->npairs; i++) {
		for (k = 0; strcmp(p->hosts.v[k], p->pairs[i].host); k++) {
		}
		p->pairs[i].batch = k / limit;
	}
}

static void transfer_progress(const char *line, void *data)
{
	struct dctx *c = data;

	if (c->o->verbose) {
		note(c, "%s", line);
	}
}

static int run_hook(struct dctx *c, const char *name, struct err *e);

/* Builds the image here (and pushes it to the registry, when there is one). */
static int build(struct dctx *c, struct err *e)
{
	uint64_t t0;

	if (run_hook(c, "pre-build", e) < 0) {
		return -1;
	}
	t0 = now_ms();
	if (build_image(c->cfg, c->version, c->o->project_dir, e) < 0) {
		return -1;
	}
	step(c, NULL, NULL, "build", true, now_ms() - t0, "built %s", c->image);
	if (registry_configured(c->cfg)) {
		t0 = now_ms();
		if (registry_login_local(c->cfg, c->sec, e) < 0 ||
		    registry_push_local(c->image, e) < 0) {
			return -1;
		}
		step(c, NULL, NULL, "push", true, now_ms() - t0, "pushed %s", c->image);
	}
	return 0;
}

/*
 * The local executor without a registry: the host's dockerd is this
 * machine's, where the image was built (berthd builds on the server), so
 * nothing is sent; one `docker image inspect` says that it is there.
 */
static int local_image(struct dctx *c, struct err *e)
{
	struct run_cmd cmd = RUN_CMD_INIT;
	uint64_t t0 = now_ms();
	int ret = 0;

	strvec_pushv(&cmd.argv, (const char *[]){"docker", "image", "inspect", "--format",
						 "{{.Id}}", c->image, NULL});
	cmd.out = RUN_IO_NULL;
	cmd.err = RUN_IO_CAPTURE;
	cmd.capture_max = 64 * 1024;
	cmd.timeout_ms = 60 * 1000;
	if (run_one(&cmd) < 0) {
		struct slice tail;

		sbuf_rtrim(&cmd.errbuf);
		tail = run_tail_lines(&cmd.errbuf, 1);

		ret = err_set(e,
			      "the image '%s' is not in this host's dockerd (the local executor "
			      "sends no image: build it here first)%s%.*s",
			      c->image, tail.len ? ": " : "", (int)tail.len, tail.ptr);
	} else {
		step(c, NULL, NULL, "image", true, now_ms() - t0, "%s is here", c->image);
	}
	run_cmd_release(&cmd);
	return ret;
}

/* Puts the image on the hosts that lack it. */
static int ship_image(struct dctx *c, const struct strvec *hosts, struct err *e)
{
	struct transfer_opts to = {0};
	struct transfer_result tr = {0};
	struct sbuf sent = SBUF_INIT;
	uint64_t t0 = now_ms();
	int ret = -1;
	size_t i;

	if (c->ex->kind == EXEC_LOCAL && !registry_configured(c->cfg)) {
		return local_image(c, e);
	}
	if (registry_configured(c->cfg)) {
		if (registry_login(c->ex, (const char *const *)hosts->v, hosts->nr, c->cfg, c->sec,
				   e) < 0 ||
		    registry_pull(c->ex, (const char *const *)hosts->v, hosts->nr, c->image, e) <
			0) {
			return -1;
		}
		step(c, NULL, NULL, "image", true, now_ms() - t0, "%s pulled on %zu host(s)",
		     c->image, hosts->nr);
		return 0;
	}
	to.image = c->image;
	to.progress = transfer_progress;
	to.progress_data = c;
	if (transfer_image(c->ex, (const char *const *)hosts->v, hosts->nr, &to, &tr, e) < 0) {
		for (i = 0; i < tr.nhosts; i++) {
			if (tr.hosts[i].failed) {
				step(c, hosts->v[i], NULL, "image", false, 0, "%s",
				     err_str(&tr.hosts[i].err));
			}
		}
		goto out;
	}
	transfer_human_size(&sent, tr.bytes_sent);
	step(c, NULL, NULL, "image", true, now_ms() - t0, "%s on %zu host(s), %s sent", c->image,
	     hosts->nr, sent.buf);
	ret = 0;
out:
	transfer_result_release(&tr);
	sbuf_release(&sent);
	return ret;
}

/* Runs release_command once on host, in a one-off container of the new image. */
static int release_command(struct dctx *c, const char *host, const struct config_role *role,
			   struct err *e)
{
	const struct config *cfg = c->cfg;
	struct sbuf envp = SBUF_INIT, env = SBUF_INIT, name = SBUF_INIT, out = SBUF_INIT;
	struct strvec args = STRVEC_INIT, run = STRVEC_INIT, none = STRVEC_INIT;
	struct app_run ar = {0};
	struct pair p = {0};
	uint64_t t0 = now_ms();
	bool here;
	int rc, ret = -1;

	app_env_path(&envp, cfg, role->name);
	if (app_env_file(&env, cfg, role, host, c->sec, e) < 0) {
		goto out;
	}
	sbuf_addf(&name, "%s-release-%s", cfg->service, c->version);
	here = exec_docker_here(c->ex, host);
	ar.version = c->version;
	ar.env_file = here ? "/dev/stdin" : envp.buf;
	ar.host = host;
	ar.name = name.buf;
	ar.cmd = cfg->release_command;
	if (app_run_argv(&run, cfg, role, &ar, e) < 0) {
		goto out;
	}
	/* the boot script with no switch after it */
	strvec_pushv(&args, (const char *[]){envp.buf, name.buf, APP_NETWORK, "", NULL});
	strvec_pushf(&args, "%zu", run.nr);
	strvec_pushv(&args, (const char *const *)run.v);
	p.host = host;
	p.role = role;
	if (here) {
		rc = boot_here(c, &p, name.buf, envp.buf, slice_make(env.buf, env.len), &run, &none,
			       SLICE_NULL, (deploy_timeout_s(cfg) + 600) * 1000, NULL, &out, e);
	} else {
		rc = remote_script(c, host, script_deploy_boot, &args, slice_make(env.buf, env.len),
				   (deploy_timeout_s(cfg) + 600) * 1000, NULL, NULL, &out, e);
	}
	if (rc < 0) {
		err_prefix(e, "release_command failed on %s; nothing was switched", host);
		/* its last lines are the job's own output: it may print a secret */
		sbuf_addstr(&out, err_str(e));
		redact(c, &out);
		err_release(e);
		err_set(e, "%s", out.buf);
		goto out;
	}
	sbuf_rtrim(&out);
	if (out.len >= 13 && !strcmp(out.buf + out.len - 13, "berth-started")) {
		sbuf_setlen(&out, out.len - 13);
		sbuf_rtrim(&out);
	}
	if (out.len && !c->o->quiet) {
		redact(c, &out);
		note(c, "%s", out.buf);
	}
	step(c, host, role->name, "release_command", true, now_ms() - t0,
	     "release_command succeeded");
	ret = 0;
out:
	sbuf_release(&envp);
	sbuf_release(&env);
	sbuf_release(&name);
	sbuf_release(&out);
	strvec_clear(&args);
	strvec_clear(&run);
	return ret;
}

/* "4xx.html" or "5xx.html", the names Kamal takes from error_pages_path */
static bool error_page_name(const char *n)
{
	return (n[0] == '4' || n[0] == '5') && n[1] >= '0' && n[1] <= '9' && n[2] >= '0' &&
	       n[2] <= '9' && !strcmp(n + 3, ".html");
}

/*
 * error_pages_path, as Kamal does it: its 4xx.html and 5xx.html go to every
 * host's berth-proxy, in a directory of this version in the proxy's volume
 * (`docker cp` of a tar made here: no process on the host), and the switch
 * names that directory with --error-pages. None there: nothing is sent.
 */
static int send_error_pages(struct dctx *c, const struct pair *pairs, size_t npairs, struct err *e)
{
	const struct config *cfg = c->cfg;
	struct sbuf dir = SBUF_INIT, tar = SBUF_INIT, path = SBUF_INIT, body = SBUF_INIT;
	struct sbuf name = SBUF_INIT, out = SBUF_INIT;
	struct strvec hosts = STRVEC_INIT, args = STRVEC_INIT;
	struct dirent *d;
	DIR *dp = NULL;
	size_t i, k, nfiles = 0;
	int ret = -1;

	if (!cfg->error_pages_path || !*cfg->error_pages_path) {
		return 0;
	}
	if (cfg->error_pages_path[0] != '/') {
		sbuf_addf(&dir, "%s/", c->o->project_dir ? c->o->project_dir : ".");
	}
	sbuf_addstr(&dir, cfg->error_pages_path);
	dp = opendir(dir.buf);
	if (!dp) {
		err_set(e, "error_pages_path: cannot read '%s': %s", dir.buf, strerror(errno));
		goto out;
	}
	sbuf_addf(&name, "error_pages/%s/%s", c->hs.app, c->version);
	if (tar_add_dir(&tar, "error_pages", 0755) < 0 ||
	    (sbuf_reset(&path), sbuf_addf(&path, "error_pages/%s", c->hs.app),
	     tar_add_dir(&tar, path.buf, 0755) < 0) ||
	    tar_add_dir(&tar, name.buf, 0755) < 0) {
		err_set(
		    e, "error_pages_path: the service's name is too long for the pages' directory");
		goto out;
	}
	while ((d = readdir(dp))) {
		if (!error_page_name(d->d_name)) {
			continue;
		}
		sbuf_reset(&path);
		sbuf_addf(&path, "%s/%s", dir.buf, d->d_name);
		sbuf_reset(&body);
		if (sbuf_read_file(&body, path.buf) < 0) {
			err_set(e, "error_pages_path: cannot read '%s': %s", path.buf,
				strerror(errno));
			goto out;
		}
		if (body.len > ERRPAGES_MAX_SIZE) {
			err_set(
			    e, "error_pages_path: '%s' has %zu bytes; berth-proxy reads at most %d",
			    path.buf, body.len, ERRPAGES_MAX_SIZE);
			goto out;
		}
		sbuf_reset(&path);
		sbuf_addf(&path, "%s/%s", name.buf, d->d_name);
		tar_add_file(&tar, path.buf, body.buf, body.len, 0644);
		nfiles++;
	}
	if (!nfiles) {
		ret = 0;
		goto out;
	}
	tar_finish(&tar);
	for (i = 0; i < npairs; i++) {
		for (k = 0; k < hosts.nr && strcmp(hosts.v[k], pairs[i].host); k++) {
		}
		if (pairs[i].role->proxy.enabled && k == hosts.nr) {
			strvec_push(&hosts, pairs[i].host);
		}
	}
	strvec_push(&args, APP_PROXY_CONTAINER ":" PROXYHOST_STATE_DIR);
	for (i = 0; i < hosts.nr; i++) {
		if (docker_script(c, hosts.v[i], "exec docker cp - \"$1\"", &args,
				  slice_make(tar.buf, tar.len), 0, NULL, NULL, &out, e) < 0) {
			err_prefix(e, "the error pages of error_pages_path were not sent");
			goto out;
		}
	}
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/%s", PROXYHOST_STATE_DIR, name.buf);
	c->error_pages = sbuf_detach(&path, NULL);
	note(c, "%zu error page(s) of %s sent to %zu host(s)", nfiles, cfg->error_pages_path,
	     hosts.nr);
	ret = 0;
out:
	if (dp) {
		closedir(dp);
	}
	sbuf_release(&dir);
	sbuf_release(&tar);
	sbuf_release(&path);
	sbuf_release(&body);
	sbuf_release(&name);
	sbuf_release(&out);
	strvec_clear(&hosts);
	strvec_clear(&args);
	return ret;
}

static void hook_line(const char *line, void *data)
{
	struct dctx *c = data;

	note(c, "%s", line);
}

/* Runs a hook; its failure stops the deploy (e says why). */
static int run_hook(struct dctx *c, const char *name, struct err *e)
{
	uint64_t t0 = now_ms();

	const char *level;

	if (c->o->skip_hooks || !hooks_exists(&c->hooks, name)) {
		return 0;
	}
	/* hooks_output, per hook or for all; -q and -v win over it, as in Kamal */
	level = config_map_get(&c->cfg->hooks_output, name);
	if (!level) {
		level = config_map_get(&c->cfg->hooks_output, "*");
	}
	c->hooks.quiet = c->o->quiet || (!c->o->verbose && level && !strcmp(level, "quiet"));
	if (hooks_run(&c->hooks, name, e) < 0) {
		return -1;
	}
	step(c, NULL, NULL, "hooks", true, now_ms() - t0, "hook %s done", name);
	return 0;
}

static void proxy_progress(const char *line, void *data)
{
	struct dctx *c = data;

	note(c, "%s", line);
}

/* Makes sure berth-proxy runs on the hosts of the proxied roles. */
/*
 * Takes out of hosts those where Docker is reached from here and berth-proxy
 * runs as this config would boot it: its image, and its port holder running
 * when it takes its sockets from one. One docker command each, at once,
 * where proxyhost_boot asks a few; the others go through proxyhost_boot.
 */
static void proxies_running(struct dctx *c, struct strvec *hosts)
{
	struct run_cmd *cmds = xcalloc(hosts->nr ? hosts->nr : 1, sizeof(*cmds));
	struct run_cmd **ptrs = xcalloc(hosts->nr ? hosts->nr : 1, sizeof(*ptrs));
	struct strvec left = STRVEC_INIT;
	char *image = proxyhost_image_for(c->cfg);
	struct sbuf want = SBUF_INIT;
	size_t i, n = 0;

	for (i = 0; i < hosts->nr; i++) {
		run_cmd_init(&cmds[i]);
		if (!exec_docker_here(c->ex, hosts->v[i]) ||
		    exec_prepare_docker(
			c->ex, hosts->v[i],
			(const char *[]){"docker", "container", "inspect", "--format",
					 "{{.Name}} {{.State.Status}} {{.Config.Image}} "
					 "{{json .Config.Cmd}}",
					 PROXYHOST_CONTAINER, PROXYHOST_PORTS, NULL},
			&cmds[i], NULL) < 0) {
			continue;
		}
		cmds[i].out = RUN_IO_CAPTURE;
		cmds[i].err = RUN_IO_NULL;
		cmds[i].capture_max = 1 << 16;
		cmds[i].timeout_ms = 30000;
		ptrs[n++] = &cmds[i];
	}
	run_all(ptrs, n, 0);
	sbuf_addf(&want, "/%s running %s ", PROXYHOST_CONTAINER, image);
	for (i = 0; i < hosts->nr; i++) {
		/* the holder is missing (inspect fails) or down: the full check mends it */
		const char *out = cmds[i].outbuf.buf;
		bool held = strstr(out, "--listeners-from") != NULL;
		struct sbuf holder = SBUF_INIT;
		bool ok;

		sbuf_addf(&holder, "\n/%s running ", PROXYHOST_PORTS);
		ok = cmds[i].started && !strncmp(out, want.buf, want.len) &&
		     (!held || (cmds[i].status == 0 && strstr(out, holder.buf)));
		if (!ok) {
			strvec_push(&left, hosts->v[i]);
		}
		sbuf_release(&holder);
		run_cmd_release(&cmds[i]);
	}
	strvec_clear(hosts);
	strvec_pushv(hosts, (const char *const *)left.v);
	strvec_clear(&left);
	sbuf_release(&want);
	free(image);
	free(cmds);
	free(ptrs);
}

static int boot_proxies(struct dctx *c, const struct pair *pairs, size_t npairs, struct err *e)
{
	struct strvec ph = STRVEC_INIT;
	uint64_t t0 = now_ms();
	size_t i, k, nproxied;
	int ret = 0;

	for (i = 0; i < npairs; i++) {
		if (!pairs[i].role->proxy.enabled) {
			continue;
		}
		for (k = 0; k < ph.nr && strcmp(ph.v[k], pairs[i].host); k++) {
		}
		if (k == ph.nr) {
			strvec_push(&ph, pairs[i].host);
		}
	}
	nproxied = ph.nr;
	proxies_running(c, &ph);
	if (ph.nr) {
		ret = proxyhost_boot_as_kept(c->ex, (const char *const *)ph.v, ph.nr, c->cfg,
					     c->o->verbose ? proxy_progress : NULL, c, e);
	}
	if (nproxied && ret == 0) {
		step(c, NULL, NULL, "proxy", true, now_ms() - t0, "berth-proxy runs on %zu host(s)",
		     nproxied);
	}
	strvec_clear(&ph);
	return ret;
}

struct preflight_arg {
	const struct pair *pairs;
	size_t npairs;
	const struct strvec *hosts;
	struct preflight_host *ph; /* one per host */
};

struct preflight_one {
	struct dctx *c;
	struct preflight_arg *a;
	size_t i; /* the host's index */
	pthread_t t;
	bool started;
};

/* One host's facts, on a thread of its own. */
static void *preflight_thread(void *arg)
{
	struct preflight_one *o = arg;
	struct preflight_arg *a = o->a;
	const char *host = a->hosts->v[o->i];
	const struct config_role **roles = xcalloc(a->npairs ? a->npairs : 1, sizeof(*roles));
	struct err le = ERR_INIT;
	size_t k, n;

	for (k = n = 0; k < a->npairs; k++) {
		if (!strcmp(a->pairs[k].host, host)) {
			roles[n++] = a->pairs[k].role;
		}
	}
	/* a host that cannot be asked is not judged: the boot says what is wrong */
	if (preflight_read(o->c->ex, sftp_of, o->c, o->c->cfg, roles, n, &a->ph[o->i], &le) < 0) {
		log_debug("capacity of %s not known: %s", host, err_str(&le));
	}
	err_release(&le);
	free(roles);
	return NULL;
}

/*
 * Reads what each host has and what its new containers need
 * (engine/preflight.h), every host at once. Only with the deploy's SFTP
 * sessions: without them there is nothing to read the facts with.
 */
static int preflight_task(struct dctx *c, void *arg, struct err *e)
{
	struct preflight_arg *a = arg;
	struct preflight_one *v;
	size_t i;

	(void)e;
	if (!c->nfs || !a->hosts->nr) {
		return 0;
	}
	v = xcalloc(a->hosts->nr, sizeof(*v));
	for (i = 0; i < a->hosts->nr; i++) {
		v[i] = (struct preflight_one){.c = c, .a = a, .i = i};
		v[i].started = pthread_create(&v[i].t, NULL, preflight_thread, &v[i]) == 0;
		if (!v[i].started) {
			preflight_thread(&v[i]);
		}
	}
	for (i = 0; i < a->hosts->nr; i++) {
		if (v[i].started) {
			pthread_join(v[i].t, NULL);
		}
	}
	free(v);
	return 0;
}

/* Whether the new containers fit on every host; -1 with e saying where they do not. */
static int preflight_check(struct dctx *c, struct preflight_arg *a, uint64_t t0, struct err *e)
{
	struct sbuf why = SBUF_INIT, all = SBUF_INIT;
	size_t i, nread = 0;
	int ret = 0;

	for (i = 0; i < a->hosts->nr; i++) {
		nread += a->ph[i].read;
		if (preflight_judge(&a->ph[i], &why)) {
			sbuf_addf(&all, "%s%s", all.len ? "\n" : "", why.buf);
		}
	}
	if (all.len) {
		err_set(e,
			"the new containers do not fit beside the old ones; nothing was started "
			"(--force deploys all the same):\n%s",
			all.buf);
		ret = -1;
	} else if (nread) {
		step(c, NULL, NULL, "capacity", true, now_ms() - t0,
		     "memory and disk enough on %zu host(s)", nread);
	}
	sbuf_release(&why);
	sbuf_release(&all);
	return ret;
}

/* Builds (unless skip_push) and sends the image: arg is the hosts. */
static int ship_task(struct dctx *c, void *arg, struct err *e)
{
	if (!c->o->skip_push && build(c, e) < 0) {
		return -1;
	}
	return ship_image(c, arg, e);
}

static void on_lock_wait(const struct hoststate_lock *held, void *data)
{
	struct dctx *c = data;
	struct sbuf sb = SBUF_INIT;

	hoststate_lock_describe(&sb, held);
	note(c, "waiting for the deploy lock: %s", sb.buf);
	sbuf_release(&sb);
}

static void summary(struct dctx *c, uint64_t total_ms)
{
	struct sbuf sb = SBUF_INIT;
	size_t i;

	if (c->o->quiet) {
		return;
	}
	if (c->o->json) {
		json_t *steps = json_array();

		for (i = 0; i < c->nsteps; i++) {
			json_array_append_new(
			    steps, json_pack("{s:s, s:i, s:I, s:I}", "step", c->steps[i].name,
					     "count", (int)c->steps[i].count, "total_ms",
					     (json_int_t)c->steps[i].total_ms, "max_ms",
					     (json_int_t)c->steps[i].max_ms));
		}
		json_t *j = json_pack("{s:s, s:s, s:I, s:o}", "event", "summary", "version",
				      c->version, "ms", (json_int_t)total_ms, "steps", steps);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		if (s) {
			say(c, s);
		}
		free(s);
		json_decref(j);
		return;
	}
	sbuf_addf(&sb, "%-16s %5s %9s %9s", "step", "count", "slowest", "total");
	say(c, sb.buf);
	for (i = 0; i < c->nsteps; i++) {
		sbuf_reset(&sb);
		sbuf_addf(&sb, "%-16s %5u %8.1fs %8.1fs", c->steps[i].name, c->steps[i].count,
			  (double)c->steps[i].max_ms / 1000.0,
			  (double)c->steps[i].total_ms / 1000.0);
		say(c, sb.buf);
	}
	sbuf_release(&sb);
}

int deploy_run(const struct config *cfg, const struct secrets *sec, struct exec *ex,
	       const struct deploy_opts *o, struct err *e)
{
	struct dctx c = {0};
	struct pair *pairs = NULL;
	struct strvec hosts = STRVEC_INIT;
	struct hoststate_lock mine, other;
	struct hoststate_lock_opts lo = {0};
	struct sbuf sb = SBUF_INIT, msg = SBUF_INIT, version = SBUF_INIT;
	struct deploy_plan plan;
	const char *primary;
	bool locked = false, hooks_inited = false, audit_started = false;
	bool audit_start_started = false;
	struct audit_arg aa_end, aa_start;
	struct bg audit_end, audit_start;
	size_t npairs = 0, i, failed = 0;
	uint64_t start = now_ms();
	int ret = -1;

	hoststate_lock_init(&mine);
	hoststate_lock_init(&other);
	deploy_plan_make(cfg, o, &plan);
	primary = plan.lock_host;
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.barrier_cond, NULL);
	strvec_init(&c.tls_secrets);
	secrets_init(&c.redactions);
	c.cfg = cfg;
	c.sec = sec;
	c.ex = ex;
	c.o = o;
	/* threads write to pipes of children that may be gone: never die of it */
	signal(SIGPIPE, SIG_IGN);
	/* Docker reached from here through the ssh connection; BERTH_DOCKER_HERE=0 turns it off */
	{
		const char *dh = getenv("BERTH_DOCKER_HERE");

		ex->docker_here = !dh || strcmp(dh, "0");
	}
	if (hoststate_init(&c.hs, ex, cfg->run_directory, cfg->service, cfg->destination, e) < 0) {
		goto out_nohs;
	}
	if (o->version) {
		sbuf_addstr(&version, o->version);
	} else if (build_version(&version, o->project_dir, e) < 0) {
		goto out;
	}
	if (!app_version_ok(version.buf)) {
		err_set(e, "'%s' cannot be a version: use letters, digits, '_', '.' and '-'",
			version.buf);
		goto out;
	}
	c.version = version.buf;
	app_image_ref(&sb, cfg, c.version);
	c.image = sbuf_detach(&sb, NULL);
	if (!plan.npairs || !primary) {
		err_set(e, "no hosts to deploy to (check servers: and the -r/-h filters)");
		goto out;
	}
	npairs = plan.npairs;
	pairs = xcalloc(npairs, sizeof(*pairs));
	for (i = 0; i < npairs; i++) {
		pairs[i].host = plan.pairs[i].host;
		pairs[i].role = plan.pairs[i].role;
		pairs[i].opens = plan.pairs[i].opens;
		pairs[i].waits = plan.pairs[i].waits;
		pairs[i].batch = plan.pairs[i].batch;
		err_init(&pairs[i].err);
	}
	strvec_pushv(&hosts, (const char *const *)plan.hosts.v);
	c.primary = config_role(cfg, cfg->primary_role);
	c.primary_host = pairs[0].host;
	sessions_start(&c, &hosts);
	hooks_init(&c.hooks, cfg, o->project_dir, sec);
	hooks_inited = true;
	c.hooks.quiet = o->quiet;
	c.hooks.out = hook_line;
	c.hooks.out_data = &c;
	hooks_set(&c.hooks, "VERSION", c.version);
	hooks_set(&c.hooks, "COMMAND", o->command ? o->command : "deploy");
	{
		char *hl = strvec_join(&hosts, ",");
		struct strvec roles = STRVEC_INIT;

		hooks_set(&c.hooks, "HOSTS", hl);
		free(hl);
		for (i = 0; i < npairs; i++) {
			size_t k;

			for (k = 0; k < roles.nr && strcmp(roles.v[k], pairs[i].role->name); k++) {
			}
			if (k == roles.nr) {
				strvec_push(&roles, pairs[i].role->name);
			}
		}
		hl = strvec_join(&roles, ",");
		hooks_set(&c.hooks, "ROLES", hl);
		free(hl);
		strvec_clear(&roles);
	}
	if (run_hook(&c, "pre-connect", e) < 0) {
		goto out;
	}

	/* the lock */
	sbuf_addf(&msg, "%s %s", o->command ? o->command : "deploy", c.version);
	lo.message = msg.buf;
	lo.message_len = msg.len;
	lo.tie_to_process = true;
	lo.break_stale = true;
	lo.wait_s = o->lock_wait_s;
	lo.on_wait = on_lock_wait;
	lo.on_wait_data = &c;
	/*
	 * The proxies and the image are made ready while the lock is taken:
	 * both are safe beside another deploy, and neither moves traffic.
	 */
	{
		struct proxies_arg pa = {pairs, npairs};
		struct preflight_arg pfa = {pairs, npairs, &hosts, NULL};
		struct bg proxies, ship, pf;
		/* new containers beside the old: not for a rollback, which must not be held */
		bool check = o->mode == DEPLOY_NEW && !o->force;
		uint64_t t0 = now_ms();
		int r, rc = 0;

		if (!o->skip_proxy) {
			bg_start(&proxies, &c, proxies_task, &pa);
		}
		if (o->mode == DEPLOY_NEW) {
			bg_start(&ship, &c, ship_task, &hosts);
		}
		if (check) {
			pfa.ph = xcalloc(hosts.nr ? hosts.nr : 1, sizeof(*pfa.ph));
			for (i = 0; i < hosts.nr; i++) {
				preflight_host_init(&pfa.ph[i], hosts.v[i]);
			}
			bg_start(&pf, &c, preflight_task, &pfa);
		}
		r = hoststate_lock_acquire(&c.hs, primary, &lo, &mine, &other, e);
		if (r == 0) {
			locked = true;
			step(&c, primary, NULL, "lock", true, now_ms() - t0, "deploy lock taken");
		} else if (r > 0) {
			err_prefix(e, "cannot %s", o->command ? o->command : "deploy");
		}
		if (o->mode == DEPLOY_NEW && bg_join(&ship, r == 0 ? e : NULL) < 0) {
			rc = -1;
		}
		if (!o->skip_proxy && bg_join(&proxies, r == 0 && rc == 0 ? e : NULL) < 0) {
			rc = -1;
		}
		if (check) {
			bg_join(&pf, NULL);
			if (r == 0 && rc == 0 && preflight_check(&c, &pfa, t0, e) < 0) {
				rc = -1;
			}
			for (i = 0; i < hosts.nr; i++) {
				preflight_host_release(&pfa.ph[i]);
			}
			free(pfa.ph);
		}
		if (r != 0 || rc < 0) {
			goto out;
		}
	}
	aa_start.hosts = &hosts;
	aa_start.msg = &msg;
	bg_start(&audit_start, &c, audit_task, &aa_start);
	audit_start_started = true;
	if (run_hook(&c, "pre-deploy", e) < 0) {
		goto out;
	}
	if (o->mode == DEPLOY_NEW && cfg->release_command) {
		const struct config_role *pr = pairs[0].role;

		if (release_command(&c, pairs[0].host, pr, e) < 0) {
			goto out;
		}
	}

	if (run_hook(&c, "pre-app-boot", e) < 0) {
		goto out;
	}
	if (!o->skip_proxy && fetch_tls_secrets(&c, pairs, npairs, e) < 0) {
		goto out;
	}
	if (send_error_pages(&c, pairs, npairs, e) < 0) {
		goto out;
	}
	/*
	 * asset_path: on every host before any boots, as Kamal does (a page
	 * from a host that switched first may ask one that did not yet)
	 */
	failed = assets_all(&c, pairs, npairs, assets_prepare);
	/*
	 * Hosts in batches of boot.limit, the primary host in the first; in a
	 * batch every host and role at once, other roles held at the barrier
	 * until the primary role is healthy on the primary host.
	 */
	{
		size_t b;

		for (b = 0; b < plan.nbatches && !failed; b++) {
			size_t nb = 0, k;
			struct pair *batch = xcalloc(npairs, sizeof(*batch));
			size_t *idx = xcalloc(npairs, sizeof(*idx));

			for (i = 0; i < npairs; i++) {
				if (pairs[i].batch == b && !pairs[i].done) {
					batch[nb] = pairs[i];
					idx[nb++] = i;
				}
			}
			if (nb) {
				failed += boot_batch(&c, batch, nb);
			}
			for (k = 0; k < nb; k++) {
				pairs[idx[k]] = batch[k];
			}
			free(batch);
			free(idx);
			if (!failed && b + 1 < plan.nbatches && cfg->boot_wait > 0) {
				note(&c, "waiting %llds before the next hosts (boot.wait)",
				     cfg->boot_wait);
				sleep((unsigned)cfg->boot_wait);
			}
		}
		failed = 0;
	}
	/* the assets of versions gone, once every switch is done (none where it failed) */
	assets_all(&c, pairs, npairs, assets_clean);
	for (i = 0; i < npairs; i++) {
		if (pairs[i].failed) {
			failed++;
		}
	}
	if (failed) {
		sbuf_reset(&sb);
		for (i = 0; i < npairs; i++) {
			if (pairs[i].failed) {
				sbuf_addf(&sb, "%s%s %s: %s", sb.len ? "\n" : "", pairs[i].host,
					  pairs[i].role->name, err_str(&pairs[i].err));
			}
		}
		err_set(e, "%s of %s failed:\n%s", o->command ? o->command : "deploy", c.version,
			sb.buf);
		sbuf_reset(&msg);
		sbuf_addf(&msg, "%s %s failed", o->command ? o->command : "deploy", c.version);
	} else {
		sbuf_reset(&msg);
		sbuf_addf(&msg, "%s %s done", o->command ? o->command : "deploy", c.version);
		ret = 0;
	}
	/* the audit line goes while the hooks run and the lock is released */
	bg_join(&audit_start, NULL);
	audit_start_started = false;
	aa_end.hosts = &hosts;
	aa_end.msg = &msg;
	bg_start(&audit_end, &c, audit_task, &aa_end);
	audit_started = true;
	if (!ret && run_hook(&c, "post-app-boot", e) < 0) {
		ret = -1;
	}
	if (!ret) {
		char rt[32];

		snprintf(rt, sizeof(rt), "%llu",
			 (unsigned long long)((now_ms() - start + 500) / 1000));
		hooks_set(&c.hooks, "RUNTIME", rt);
		if (run_hook(&c, "post-deploy", e) < 0) {
			ret = -1;
		}
	}
	if (!ret) {
		step(&c, NULL, NULL, "done", true, now_ms() - start, "%s %s on %zu host(s)",
		     o->mode == DEPLOY_ROLLBACK ? "rolled back to" : "deployed", c.version,
		     hosts.nr);
		summary(&c, now_ms() - start);
	}
out:
	if (ret < 0 && o->json && err_isset(e)) {
		step(&c, NULL, NULL, "failed", false, now_ms() - start, "%s", err_str(e));
	}
	if (locked) {
		struct err le = ERR_INIT;

		if (hoststate_lock_remove(&c.hs, primary, mine.id, NULL, &le) < 0) {
			log_warn("%s", err_str(&le));
		}
		err_release(&le);
	}
	if (audit_started) {
		bg_join(&audit_end, NULL);
	}
	if (audit_start_started) {
		bg_join(&audit_start, NULL);
	}
	sessions_end(&c);
	hoststate_release(&c.hs);
	if (hooks_inited) {
		hooks_release(&c.hooks);
	}
out_nohs:
	for (i = 0; i < npairs; i++) {
		err_release(&pairs[i].err);
		free(pairs[i].assets_vol);
	}
	free(pairs);
	free(c.image);
	free(c.error_pages);
	strvec_clear(&hosts);
	deploy_plan_release(&plan);
	hoststate_lock_release(&mine);
	hoststate_lock_release(&other);
	sbuf_release(&sb);
	sbuf_release(&msg);
	sbuf_release(&version);
	strvec_clear(&c.tls_secrets);
	secrets_release(&c.redactions);
	pthread_cond_destroy(&c.barrier_cond);
	pthread_mutex_destroy(&c.mu);
	return ret;
}

void deploy_versions_release(struct deploy_versions *vs)
{
	size_t i;

	for (i = 0; i < vs->nr; i++) {
		free(vs->v[i].version);
		free(vs->v[i].time);
	}
	free(vs->v);
	memset(vs, 0, sizeof(*vs));
}

static struct deploy_version *version_get(struct deploy_versions *vs, const char *v, size_t *alloc)
{
	size_t i;

	for (i = 0; i < vs->nr; i++) {
		if (!strcmp(vs->v[i].version, v)) {
			return &vs->v[i];
		}
	}
	XGROW(vs->v, *alloc, vs->nr + 1);
	memset(&vs->v[vs->nr], 0, sizeof(vs->v[0]));
	vs->v[vs->nr].version = xstrdup(v);
	return &vs->v[vs->nr++];
}

static int by_time_desc(const void *a, const void *b)
{
	const struct deploy_version *x = a, *y = b;

	if (!x->time || !y->time) {
		return x->time ? -1 : y->time ? 1 : 0;
	}
	return strcmp(y->time, x->time);
}

int deploy_versions(const struct config *cfg, struct exec *ex, const struct deploy_opts *o,
		    struct deploy_versions *out, struct err *e)
{
	struct dctx c = {0};
	const struct config_role *pr = config_role(cfg, cfg->primary_role);
	struct hoststate_releases rels;
	struct strvec args = STRVEC_INIT;
	struct sbuf outb = SBUF_INIT, prefix = SBUF_INIT;
	size_t i, j, alloc = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	hoststate_releases_init(&rels);
	c.cfg = cfg;
	c.ex = ex;
	c.o = o;
	pthread_mutex_init(&c.mu, NULL);
	if (!pr || !pr->nr_hosts) {
		err_set(e, "the primary role '%s' has no hosts", cfg->primary_role);
		goto out_nohs;
	}
	if (hoststate_init(&c.hs, ex, cfg->run_directory, cfg->service, cfg->destination, e) < 0) {
		goto out_nohs;
	}
	app_filter_argv(&args, cfg, pr->name);
	app_role_name(&prefix, cfg, pr->name);
	for (i = 0; i < pr->nr_hosts; i++) {
		const char *h = pr->hosts[i].name;
		const char *s;

		if (!config_match_any(o->hosts, h)) {
			continue;
		}
		out->hosts++;
		sbuf_reset(&outb);
		if (docker_script(&c, h, script_deploy_list, &args, SLICE_NULL, 0, NULL, NULL,
				  &outb, e) < 0) {
			goto out;
		}
		for (s = outb.buf; s && *s;) {
			const char *nl = strchr(s, '\n');
			size_t len = nl ? (size_t)(nl - s) : strlen(s);
			char *line = xstrndup(s, len);
			char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

			if (sp1 && sp2) {
				*sp1 = *sp2 = '\0';
				/* only the containers berth named for that version */
				if (*line && app_version_ok(line) &&
				    !strncmp(sp2 + 1, prefix.buf, prefix.len) &&
				    !strcmp(sp2 + 1 + prefix.len + 1, line)) {
					struct deploy_version *v = version_get(out, line, &alloc);

					v->hosts_with++;
					if (!strcmp(sp1 + 1, "running")) {
						v->current = true;
					}
				}
			}
			free(line);
			s = nl ? nl + 1 : NULL;
		}
	}
	if (hoststate_journal_list(&c.hs, pr->hosts[0].name, true, &rels, e) < 0) {
		goto out;
	}
	for (i = 0; i < out->nr; i++) {
		for (j = 0; j < rels.nr; j++) {
			if (rels.v[j].version && !strcmp(rels.v[j].version, out->v[i].version)) {
				out->v[i].time = rels.v[j].time ? xstrdup(rels.v[j].time) : NULL;
				break;
			}
		}
	}
	/* a version never recorded as deployed (one that failed its checks) is no rollback target
	 */
	for (i = j = 0; i < out->nr; i++) {
		if (out->v[i].time || out->v[i].current) {
			out->v[j++] = out->v[i];
		} else {
			free(out->v[i].version);
		}
	}
	out->nr = j;
	qsort(out->v, out->nr, sizeof(out->v[0]), by_time_desc);
	ret = 0;
out:
	hoststate_release(&c.hs);
out_nohs:
	if (ret < 0) {
		deploy_versions_release(out);
	}
	hoststate_releases_release(&rels);
	strvec_clear(&args);
	sbuf_release(&outb);
	sbuf_release(&prefix);
	pthread_mutex_destroy(&c.mu);
	return ret;
}
