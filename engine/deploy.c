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
#include "engine/proxyhost.h"
#include "engine/registry.h"
#include "engine/transfer.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define STEP_TIMEOUT_MS	   (120u * 1000)
#define LOG_LINES_ON_ERROR 30
#define OUTPUT_MAX	   (1u << 20)

/*
 * The scripts run on the hosts. Their text is constant; everything that
 * varies is a positional argument, quoted by exec. `cd` first: paths are
 * relative to the ssh user's home, also for the local executor.
 */

/*
 * $1 env file ("" for none), $2 container name ("" for none), $3 network,
 * $4 n, then the boot command (n words), then the switch command. Writes
 * stdin to the env file (0600, atomically); runs the boot command, and when
 * it fails because the network is missing or the name is taken (an earlier
 * try of the same version) creates the network or renames that container
 * away, and tries again; passes on its output and says "berth-started"; then
 * runs the switch (the proxy's deploy, or the readiness wait; none for
 * release_command). One ssh round trip for all; the
 * usual case runs one docker command before the switch.
 */
static const char boot_script[] =
    "set -e\n"
    "cd\n"
    "envf=$1 name=$2 net=$3 n=$4\n"
    "shift 4\n"
    "if [ -n \"$envf\" ]; then\n"
    "  (umask 077 && mkdir -p \"${envf%/*}\" && cat >\"$envf.tmp\" && mv -f \"$envf.tmp\" "
    "\"$envf\")\n"
    "fi\n"
    "first() {\n"
    "  k=$1 total=$(($# - 1)) i=0\n"
    "  shift\n"
    "  for a do\n"
    "    if [ $i -lt $k ]; then set -- \"$@\" \"$a\"; fi\n"
    "    i=$((i + 1))\n"
    "  done\n"
    "  shift $total\n"
    "  \"$@\"\n"
    "}\n"
    "try=0\n"
    "until out=$(first \"$n\" \"$@\" 2>&1); do\n"
    "  try=$((try + 1))\n"
    "  case $try:$out in\n"
    "  [12]:*\"is already in use\"*)\n"
    "    [ -n \"$name\" ] && docker rename \"$name\" \"${name}_replaced_$(date +%s%N)\" ;;\n"
    "  [12]:*\"network $net not found\"*)\n"
    "    docker network create \"$net\" >/dev/null 2>&1 || docker network inspect \"$net\" "
    ">/dev/null ;;\n"
    "  *)\n"
    "    echo \"$out\" >&2\n"
    "    exit 1 ;;\n"
    "  esac\n"
    "done\n"
    "if [ -n \"$out\" ]; then printf '%s\\n' \"$out\"; fi\n"
    "echo berth-started\n"
    "shift \"$n\"\n"
    "exec \"$@\"\n";

/*
 * $1 container, $2 readiness delay, $3 timeout (seconds): waits for the
 * Docker health check when the image or options define one, else for the
 * delay, then checks the container still runs and never restarted.
 */
static const char wait_script[] =
    "name=$1 delay=$2 timeout=$3\n"
    "hc=$(docker inspect -f '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "
    "\"$name\") || exit 1\n"
    "if [ -n \"$hc\" ] && [ \"$hc\" != \"[NONE]\" ]; then\n"
    "  i=0\n"
    "  while :; do\n"
    "    s=$(docker inspect -f '{{.State.Health.Status}}' \"$name\") || exit 1\n"
    "    case $s in\n"
    "    healthy) echo healthy; exit 0 ;;\n"
    "    unhealthy) echo \"the Docker health check says unhealthy\" >&2; exit 4 ;;\n"
    "    esac\n"
    "    i=$((i + 1))\n"
    "    if [ $i -gt $((timeout * 4)) ]; then\n"
    "      echo \"the Docker health check says '$s' after ${timeout}s\" >&2\n"
    "      exit 4\n"
    "    fi\n"
    "    sleep 0.25\n"
    "  done\n"
    "fi\n"
    "sleep \"$delay\"\n"
    "r=$(docker inspect -f '{{.State.Running}} {{.RestartCount}}' \"$name\") || exit 1\n"
    "if [ \"$r\" != \"true 0\" ]; then\n"
    "  echo \"the container is not running steadily after ${delay}s (running, restarts: $r)\" "
    ">&2\n"
    "  exit 4\n"
    "fi\n"
    "echo running\n";

/* $1 container: its last log lines and health-check answers, then stops it. */
static const char fail_script[] =
    "name=$1 lines=$2\n"
    "echo \"--- last $lines log lines of $name ---\"\n"
    "docker logs --tail \"$lines\" \"$name\" 2>&1\n"
    "h=$(docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}"
    "exit {{.ExitCode}}: {{.Output}}{{end}}{{end}}' \"$name\" 2>/dev/null)\n"
    "if [ -n \"$h\" ]; then echo \"--- Docker health checks ---\"; echo \"$h\"; fi\n"
    "docker stop -t 1 \"$name\" >/dev/null 2>&1 || true\n";

/*
 * $1 new container, $2 exited containers to keep, $3 stop timeout, then
 * the docker ps filters of the role: stops the role's other running
 * containers and removes the oldest exited ones.
 */
static const char finish_script[] =
    "name=$1 keep=$2 stop_t=$3\n"
    "shift 3\n"
    "old=$(docker ps \"$@\" --format '{{.Names}}' | grep -vxF \"$name\")\n"
    "if [ -n \"$old\" ]; then\n"
    "  docker stop -t \"$stop_t\" $old >/dev/null || exit 1\n"
    "  for c in $old; do echo \"stopped $c\"; done\n"
    "fi\n"
    "gone=$(docker ps -a \"$@\" --filter status=exited --filter status=created "
    "--format '{{.Names}}' | tail -n +$((keep + 1)))\n"
    "if [ -n \"$gone\" ]; then\n"
    "  docker rm $gone >/dev/null || exit 1\n"
    "  for c in $gone; do echo \"removed $c\"; done\n"
    "fi\n"
    "exit 0\n";

/* The filters, then: "version state name" of every container of the role. */
static const char list_script[] =
    "docker ps -a \"$@\" --format '{{.Label \"version\"}} {{.State}} {{.Names}}'\n";

struct step_stat {
	const char *name;
	unsigned count;
	uint64_t total_ms, max_ms;
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
	bool barrier;
	int barrier_state;
	pthread_cond_t barrier_cond;
	const struct config_role *primary;
	const char *primary_host;
	struct step_stat steps[16];
	size_t nsteps;
};

struct pair {
	const char *host;
	const struct config_role *role;
	struct err err;
	bool done, failed;
	bool opens; /* the primary role on the primary host: other roles wait for it */
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
	secrets_redact(c->sec, &msg);
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
	secrets_redact(c->sec, &msg);
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
 * Runs argv on host with in on stdin; out (may be NULL) gets stdout. On a
 * failure e says why (exec_explain: the ssh error or the exit and stderr).
 */
/*
 * Runs one of the scripts above on host as `sh -c SCRIPT berth ARGS...`,
 * with in on stdin; out (may be NULL) gets stdout, which on_line (may be
 * NULL) also sees line by line as it comes. With -v the command is shown,
 * secrets redacted, as "sh -c '<berth script>' ARGS": the text is fixed and
 * long. On a failure e says why: the ssh error, or the script's exit and
 * last lines (its text would say nothing to a user).
 */
static int remote_script(struct dctx *c, const char *host, const char *script,
			 const struct strvec *args, struct slice in, unsigned timeout_ms,
			 run_line_fn on_line, void *data, struct sbuf *out, struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	struct run_cmd cmd = RUN_CMD_INIT;
	struct sbuf sb = SBUF_INIT;
	int ret = -1;

	strvec_pushv(&argv, (const char *[]){"sh", "-c", script, "berth", NULL});
	if (args) {
		strvec_pushv(&argv, (const char *const *)args->v);
	}
	if (exec_prepare(c->ex, host, (const char *const *)argv.v, &cmd, e) < 0) {
		goto out;
	}
	if (c->o->verbose && !c->o->json) {
		sbuf_addstr(&sb, "sh -c '<berth script>' berth ");
		exec_quote_argv(&sb, (const char *const *)argv.v + 4);
		secrets_redact(c->sec, &sb);
		pthread_mutex_lock(&c->mu);
		fprintf(stderr, "%s $ %s\n", host, sb.buf);
		pthread_mutex_unlock(&c->mu);
		sbuf_reset(&sb);
	}
	cmd.in_mem = in;
	cmd.out = on_line ? RUN_IO_CAPTURE | RUN_IO_STREAM : RUN_IO_CAPTURE;
	cmd.on_line = on_line;
	cmd.on_line_data = data;
	cmd.err = RUN_IO_CAPTURE;
	cmd.timeout_ms = timeout_ms ? timeout_ms : STEP_TIMEOUT_MS;
	cmd.capture_max = OUTPUT_MAX;
	if (run_one(&cmd) < 0) {
		if (exec_unreachable(c->ex, &cmd)) {
			exec_explain(c->ex, host, &cmd, e);
		} else {
			struct slice tail = slice_trim(run_tail_lines(&cmd.errbuf, 5));

			run_describe_status(&cmd, &sb);
			err_set(e, "host '%s': %s%s%.*s", host, sb.buf, tail.len ? ":\n" : "",
				(int)tail.len, tail.ptr);
		}
		goto out;
	}
	if (out) {
		sbuf_add(out, cmd.outbuf.buf, cmd.outbuf.len);
	}
	ret = 0;
out:
	run_cmd_release(&cmd);
	strvec_clear(&argv);
	sbuf_release(&sb);
	return ret;
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
	return cfg->deploy_timeout > 0 ? (unsigned)cfg->deploy_timeout : 30;
}

static unsigned drain_timeout_s(const struct config *cfg)
{
	return cfg->drain_timeout >= 0 ? (unsigned)cfg->drain_timeout : 30;
}

/* Appends the new container's logs and health answers to e, and stops it. */
static void diagnose(struct dctx *c, const char *host, const char *name, struct err *e)
{
	struct strvec args = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, msg = SBUF_INIT;
	struct err e2 = ERR_INIT;

	strvec_push(&args, name);
	strvec_pushf(&args, "%d", LOG_LINES_ON_ERROR);
	if (remote_script(c, host, fail_script, &args, SLICE_NULL, 30000, NULL, NULL, &out, &e2) ==
	    0) {
		sbuf_addf(&msg, "%s\n", err_str(e));
		sbuf_add(&msg, (out).buf, (out).len);
		sbuf_rtrim(&msg);
		secrets_redact(c->sec, &msg);
		err_release(e);
		err_set(e, "%s", msg.buf);
	}
	strvec_clear(&args);
	sbuf_release(&out);
	sbuf_release(&msg);
	err_release(&e2);
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

	if (!c->barrier || p->opens || p->role == c->primary) {
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

/* Boots role on host: env file, container, switch, old ones stopped, journal. */
static int boot_one(struct dctx *c, struct pair *p)
{
	const struct config *cfg = c->cfg;
	const struct config_role *role = p->role;
	struct sbuf name = SBUF_INIT, envp = SBUF_INIT, env = SBUF_INIT, out = SBUF_INIT;
	struct sbuf target = SBUF_INIT;
	struct strvec args = STRVEC_INIT, run = STRVEC_INIT;
	struct app_run ar = {0};
	struct hoststate_release rel = {0};
	struct journal_arg jarg;
	struct boot_lines bl = {0};
	struct bg journal;
	bool journal_started = false;
	uint64_t t0;
	int ret = -1;

	app_container_name(&name, cfg, role->name, c->version);
	if (barrier_wait(c, p) < 0) {
		goto out;
	}
	/* the boot command (n words), then the switch or readiness command */
	if (c->o->mode == DEPLOY_ROLLBACK) {
		strvec_pushv(&run, (const char *[]){"docker", "start", name.buf, NULL});
	} else {
		app_env_path(&envp, cfg, role->name);
		if (app_env_file(&env, role, c->sec, &p->err) < 0) {
			goto out;
		}
		ar.version = c->version;
		ar.env_file = envp.buf;
		ar.host = p->host;
		ar.detach = true;
		if (app_run_argv(&run, cfg, role, &ar, &p->err) < 0) {
			goto out;
		}
	}
	strvec_push(&args, c->o->mode == DEPLOY_ROLLBACK ? "" : envp.buf);
	strvec_push(&args, c->o->mode == DEPLOY_ROLLBACK ? "" : name.buf);
	strvec_push(&args, APP_NETWORK);
	strvec_pushf(&args, "%zu", run.nr);
	strvec_pushv(&args, (const char *const *)run.v);
	if (role->proxy.enabled) {
		sbuf_addf(&target, "%s:%lld", name.buf,
			  role->proxy.app_port > 0 ? role->proxy.app_port : 80);
		app_proxy_deploy_argv(&args, cfg, role, target.buf);
	} else {
		strvec_pushv(&args,
			     (const char *[]){"sh", "-c", wait_script, "berth", name.buf, NULL});
		strvec_pushf(&args, "%lld", cfg->readiness_delay >= 0 ? cfg->readiness_delay : 7);
		strvec_pushf(&args, "%u", deploy_timeout_s(cfg));
	}
	bl.c = c;
	bl.p = p;
	bl.name = name.buf;
	bl.t0 = t0 = now_ms();
	if (remote_script(c, p->host, boot_script, &args, slice_make(env.buf, env.len),
			  (deploy_timeout_s(cfg) + drain_timeout_s(cfg) + 120) * 1000, boot_line,
			  &bl, &out, &p->err) < 0) {
		if (!bl.started) {
			err_prefix(&p->err, "%s did not start", name.buf);
			goto out;
		}
		if (role->proxy.enabled) {
			err_prefix(&p->err,
				   "the switch to %s failed; traffic stays on the old version",
				   name.buf);
		} else {
			err_prefix(&p->err, "%s did not become ready; the old version goes on",
				   name.buf);
		}
		diagnose(c, p->host, name.buf, &p->err);
		goto out;
	}
	t0 = bl.started_ms ? bl.started_ms : t0;
	if (p->opens) {
		barrier_set(c, 1);
	}
	if (role->proxy.enabled) {
		step(c, p->host, role->name, "switch", true, now_ms() - t0, "traffic moved to %s",
		     name.buf);
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
	strvec_push(&args, name.buf);
	strvec_pushf(&args, "%lld",
		     cfg->retain_containers > 0 ? cfg->retain_containers - 1 : (long long)4);
	strvec_pushf(&args, "%lld", role->stop_timeout >= 0 ? role->stop_timeout : 10);
	app_filter_argv(&args, cfg, role->name);
	if (remote_script(c, p->host, finish_script, &args, SLICE_NULL, 0, NULL, NULL, &out,
			  &p->err) < 0) {
		err_prefix(&p->err, "%s serves, but stopping the old containers failed", name.buf);
		goto out;
	}
	journal_started = false;
	if (bg_join(&journal, &p->err) < 0) {
		err_prefix(&p->err, "%s serves, but the journal was not written", name.buf);
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
	strvec_clear(&args);
	strvec_clear(&run);
	return ret;
}

struct worker {
	struct dctx *c;
	struct pair *p;
	pthread_t th;
};

static void *boot_thread(void *arg)
{
	struct worker *w = arg;

	boot_one(w->c, w->p);
	return NULL;
}

/* Boots pairs[0..n) at once, one thread each. Returns the number that failed. */
static size_t boot_batch(struct dctx *c, struct pair *pairs, size_t n)
{
	struct worker *ws = xcalloc(n, sizeof(*ws));
	size_t i, failed = 0;

	for (i = 0; i < n; i++) {
		ws[i].c = c;
		ws[i].p = &pairs[i];
		if (n == 1 || pthread_create(&ws[i].th, NULL, boot_thread, &ws[i]) != 0) {
			ws[i].th = 0;
			boot_one(c, &pairs[i]);
		}
	}
	for (i = 0; i < n; i++) {
		if (ws[i].th) {
			pthread_join(ws[i].th, NULL);
		}
		failed += pairs[i].failed;
	}
	free(ws);
	return failed;
}

/*
 * The (host, role) pairs the deploy covers, the primary role's first one
 * first, then host by host.
 */
static void collect_pairs(const struct config *cfg, const struct deploy_opts *o, struct pair **out,
			  size_t *nr, struct strvec *hosts)
{
	size_t i, j, k, alloc = 0;
	const struct config_role *primary = config_role(cfg, cfg->primary_role);

	*out = NULL;
	*nr = 0;
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
			for (k = 0; k < hosts->nr && strcmp(hosts->v[k], h); k++) {
			}
			if (k == hosts->nr) {
				strvec_push(hosts, h);
			}
			XGROW(*out, alloc, *nr + 1);
			memset(&(*out)[*nr], 0, sizeof(**out));
			(*out)[*nr].host = h;
			(*out)[*nr].role = r;
			err_init(&(*out)[*nr].err);
			(*nr)++;
		}
	}
	/* the primary role's first pair goes first */
	for (i = 0; primary && i < *nr; i++) {
		if ((*out)[i].role == primary) {
			struct pair t = (*out)[i];

			memmove(&(*out)[1], &(*out)[0], i * sizeof(**out));
			(*out)[0] = t;
			break;
		}
	}
}

/* The primary host: the first host of the primary role, else the first host. */
static const char *primary_host(const struct config *cfg)
{
	const struct config_role *r = config_role(cfg, cfg->primary_role);
	size_t i;

	if (r && r->nr_hosts) {
		return r->hosts[0].name;
	}
	for (i = 0; i < cfg->nr_roles; i++) {
		if (cfg->roles[i].nr_hosts) {
			return cfg->roles[i].hosts[0].name;
		}
	}
	return NULL;
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

/* Puts the image on the hosts that lack it. */
static int ship_image(struct dctx *c, const struct strvec *hosts, struct err *e)
{
	struct transfer_opts to = {0};
	struct transfer_result tr = {0};
	struct sbuf sent = SBUF_INIT;
	uint64_t t0 = now_ms();
	int ret = -1;
	size_t i;

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
	struct strvec args = STRVEC_INIT, run = STRVEC_INIT;
	struct app_run ar = {0};
	uint64_t t0 = now_ms();
	int ret = -1;

	app_env_path(&envp, cfg, role->name);
	if (app_env_file(&env, role, c->sec, e) < 0) {
		goto out;
	}
	sbuf_addf(&name, "%s-release-%s", cfg->service, c->version);
	ar.version = c->version;
	ar.env_file = envp.buf;
	ar.host = host;
	ar.name = name.buf;
	ar.cmd = cfg->release_command;
	if (app_run_argv(&run, cfg, role, &ar, e) < 0) {
		goto out;
	}
	/* the boot script with no switch after it */
	strvec_pushv(&args, (const char *[]){envp.buf, name.buf, APP_NETWORK, NULL});
	strvec_pushf(&args, "%zu", run.nr);
	strvec_pushv(&args, (const char *const *)run.v);
	if (remote_script(c, host, boot_script, &args, slice_make(env.buf, env.len),
			  (deploy_timeout_s(cfg) + 600) * 1000, NULL, NULL, &out, e) < 0) {
		err_prefix(e, "release_command failed on %s; nothing was switched", host);
		/* its last lines are the job's own output: it may print a secret */
		sbuf_addstr(&out, err_str(e));
		secrets_redact(c->sec, &out);
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
		secrets_redact(c->sec, &out);
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

static void hook_line(const char *line, void *data)
{
	struct dctx *c = data;

	note(c, "%s", line);
}

/* Runs a hook; its failure stops the deploy (e says why). */
static int run_hook(struct dctx *c, const char *name, struct err *e)
{
	uint64_t t0 = now_ms();

	if (!hooks_exists(&c->hooks, name)) {
		return 0;
	}
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
static int boot_proxies(struct dctx *c, const struct pair *pairs, size_t npairs, struct err *e)
{
	struct strvec ph = STRVEC_INIT;
	uint64_t t0 = now_ms();
	size_t i, k;
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
	if (ph.nr) {
		ret = proxyhost_boot(c->ex, (const char *const *)ph.v, ph.nr, c->cfg,
				     c->o->verbose ? proxy_progress : NULL, c, e);
		if (ret == 0) {
			step(c, NULL, NULL, "proxy", true, now_ms() - t0,
			     "berth-proxy runs on %zu host(s)", ph.nr);
		}
	}
	strvec_clear(&ph);
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
	const char *primary = primary_host(cfg);
	bool locked = false, hooks_inited = false, audit_started = false;
	bool audit_start_started = false;
	struct audit_arg aa_end, aa_start;
	struct bg audit_end, audit_start;
	size_t npairs = 0, i, failed = 0;
	uint64_t start = now_ms();
	int ret = -1;

	hoststate_lock_init(&mine);
	hoststate_lock_init(&other);
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.barrier_cond, NULL);
	c.cfg = cfg;
	c.sec = sec;
	c.ex = ex;
	c.o = o;
	/* threads write to pipes of children that may be gone: never die of it */
	signal(SIGPIPE, SIG_IGN);
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
	collect_pairs(cfg, o, &pairs, &npairs, &hosts);
	if (!npairs || !primary) {
		err_set(e, "no hosts to deploy to (check servers: and the -r/-h filters)");
		goto out;
	}
	/* the first pair's host boots in the first batch */
	for (i = 1; i < hosts.nr; i++) {
		if (!strcmp(hosts.v[i], pairs[0].host)) {
			char *h = hosts.v[i];

			memmove(&hosts.v[1], &hosts.v[0], i * sizeof(*hosts.v));
			hosts.v[0] = h;
			break;
		}
	}
	c.primary = config_role(cfg, cfg->primary_role);
	c.primary_host = pairs[0].host;
	if (pairs[0].role == c.primary) {
		pairs[0].opens = true;
		for (i = 1; i < npairs; i++) {
			c.barrier = c.barrier || pairs[i].role != c.primary;
		}
	}
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
		struct bg proxies, ship;
		uint64_t t0 = now_ms();
		int r, rc = 0;

		if (!o->skip_proxy) {
			bg_start(&proxies, &c, proxies_task, &pa);
		}
		if (o->mode == DEPLOY_NEW) {
			bg_start(&ship, &c, ship_task, &hosts);
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
	/*
	 * Hosts in batches of boot.limit, the primary host in the first; in a
	 * batch every host and role at once, other roles held at the barrier
	 * until the primary role is healthy on the primary host.
	 */
	{
		size_t nhosts = hosts.nr, limit = nhosts, hi = 0;

		if (cfg->boot_limit > 0) {
			limit = cfg->boot_limit_percent
				    ? (nhosts * (size_t)cfg->boot_limit + 99) / 100
				    : (size_t)cfg->boot_limit;
			if (!limit) {
				limit = 1;
			}
		}
		while (hi < nhosts && !failed) {
			/* the pairs of the next `limit` hosts */
			size_t nb = 0, k;
			struct pair *batch = xcalloc(npairs, sizeof(*batch));
			size_t *idx = xcalloc(npairs, sizeof(*idx));

			for (k = 0; k < limit && hi < nhosts; k++, hi++) {
				for (i = 0; i < npairs; i++) {
					if (!strcmp(pairs[i].host, hosts.v[hi]) && !pairs[i].done) {
						batch[nb] = pairs[i];
						idx[nb++] = i;
					}
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
			if (!failed && hi < nhosts && cfg->boot_wait > 0) {
				note(&c, "waiting %llds before the next hosts (boot.wait)",
				     cfg->boot_wait);
				sleep((unsigned)cfg->boot_wait);
			}
		}
		failed = 0;
	}
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
	hoststate_release(&c.hs);
	if (hooks_inited) {
		hooks_release(&c.hooks);
	}
out_nohs:
	for (i = 0; i < npairs; i++) {
		err_release(&pairs[i].err);
	}
	free(pairs);
	free(c.image);
	strvec_clear(&hosts);
	hoststate_lock_release(&mine);
	hoststate_lock_release(&other);
	sbuf_release(&sb);
	sbuf_release(&msg);
	sbuf_release(&version);
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
		if (remote_script(&c, h, list_script, &args, SLICE_NULL, 0, NULL, NULL, &outb, e) <
		    0) {
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
