/*
 * berth-proxy on the servers: boot, reboot, start, stop, remove, details
 * and logs of the `berth-proxy` container, on many hosts at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/proxyhost.h"
#include "engine/transfer.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#ifndef BERTH_VERSION
#error "BERTH_VERSION comes from the file VERSION, through the Makefile"
#endif

#define ENSURE_TIMEOUT_MS  300000 /* docker run may pull a registry image */
#define CONTROL_TIMEOUT_MS 120000 /* start, stop (its grace time), remove */
#define DETAILS_TIMEOUT_MS 60000
#define CAPTURE_MAX	   (64u << 10)

const char *proxyhost_image(void)
{
	return "berth-proxy:" BERTH_VERSION;
}

char *proxyhost_image_for(const struct config *cfg)
{
	const struct config_proxy_run *r = &cfg->proxy_run;
	struct sbuf sb = SBUF_INIT;

	if (!r->repository || !*r->repository) {
		return xstrdup(proxyhost_image());
	}
	if (r->registry && *r->registry) {
		sbuf_addf(&sb, "%s/", r->registry);
	}
	sbuf_addf(&sb, "%s:%s", r->repository,
		  r->version && *r->version ? r->version : BERTH_VERSION);
	return sbuf_detach(&sb, NULL);
}

/* "-p" "[IP:]PORT:PORT"; an IPv6 address goes in brackets, as docker wants it. */
static void push_publish(struct strvec *argv, const char *ip, long long port)
{
	strvec_push(argv, "-p");
	if (!ip || !*ip) {
		strvec_pushf(argv, "%lld:%lld", port, port);
	} else if (strchr(ip, ':') && ip[0] != '[') {
		strvec_pushf(argv, "[%s]:%lld:%lld", ip, port, port);
	} else {
		strvec_pushf(argv, "%s:%lld:%lld", ip, port, port);
	}
}

void proxyhost_run_argv(const struct config *cfg, struct strvec *argv)
{
	const struct config_proxy_run *r = &cfg->proxy_run;
	char *image = proxyhost_image_for(cfg);
	size_t i;

	strvec_pushv(argv, (const char *const[]){
			       "docker", "run", "-d", "--name", PROXYHOST_CONTAINER, "--network",
			       PROXYHOST_NETWORK, "--restart", "unless-stopped", NULL});
	strvec_push(argv, "--log-opt");
	strvec_pushf(argv, "max-size=%s",
		     r->log_max_size && *r->log_max_size ? r->log_max_size : "10m");
	if (r->publish != 0) {
		if (!r->bind_ips.nr) {
			push_publish(argv, NULL, r->http_port);
			push_publish(argv, NULL, r->https_port);
		}
		for (i = 0; i < r->bind_ips.nr; i++) {
			push_publish(argv, r->bind_ips.v[i], r->http_port);
			push_publish(argv, r->bind_ips.v[i], r->https_port);
		}
	}
	strvec_pushv(argv, (const char *const[]){"-v", PROXYHOST_VOLUME ":" PROXYHOST_STATE_DIR,
						 "--label", PROXYHOST_LABEL, NULL});
	for (i = 0; i < r->options.nr; i++) {
		strvec_pushf(argv, "--%s", r->options.v[i].key);
		if (r->options.v[i].value) {
			strvec_push(argv, r->options.v[i].value);
		}
	}
	strvec_pushv(argv, (const char *const[]){image, "berth-proxy", "run", "--http-port", NULL});
	strvec_pushf(argv, "%lld", r->http_port);
	strvec_push(argv, "--https-port");
	strvec_pushf(argv, "%lld", r->https_port);
	strvec_pushv(argv, (const char *const[]){"--state-dir", PROXYHOST_STATE_DIR, NULL});
	if (r->metrics_port >= 0) {
		strvec_push(argv, "--metrics-port");
		strvec_pushf(argv, "%lld", r->metrics_port);
	}
	free(image);
}

/* ------------------------------------------------------------ per-host results */

/* What went wrong on which hosts, summed up into one err at the end. */
struct outcome {
	size_t nhosts, nfailed;
	struct sbuf msgs; /* "host 'a': why; host 'b': why" */
};

static void outcome_fail(struct outcome *o, struct err *he)
{
	if (o->nfailed++) {
		sbuf_addstr(&o->msgs, "; ");
	}
	sbuf_addstr(&o->msgs, err_str(he));
}

/* Returns 0 when no host failed, else -1 with e set. Releases o. */
static int outcome_finish(struct outcome *o, struct err *e)
{
	int ret = 0;

	if (o->nfailed == 1) {
		ret = err_set(e, "%s", o->msgs.buf);
	} else if (o->nfailed) {
		ret = err_set(e, "%zu of %zu hosts failed: %s", o->nfailed, o->nhosts, o->msgs.buf);
	}
	sbuf_release(&o->msgs);
	return ret;
}

static void say(proxyhost_progress_fn progress, void *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(proxyhost_progress_fn progress, void *data, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	if (!progress) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	progress(sb.buf, data);
	sbuf_release(&sb);
}

/*
 * Sets he to why cmd failed on host: ssh's words when the host was not
 * reached, else what was being done and the last lines the host said.
 */
static void host_failed(const struct exec *ex, const char *host, const struct run_cmd *cmd,
			const char *what, struct err *he)
{
	struct sbuf how = SBUF_INIT;
	struct slice tail = slice_trim(run_tail_lines(&cmd->errbuf, 3));

	if (exec_unreachable(ex, cmd) || !cmd->started) {
		exec_explain(ex, host, cmd, he);
	} else if (tail.len) {
		err_set(he, "host '%s': %s: %.*s", host, what, (int)tail.len, tail.ptr);
	} else {
		run_describe_status(cmd, &how);
		err_set(he, "host '%s': %s: the command %s", host, what, how.buf);
	}
	sbuf_release(&how);
}

/*
 * Runs argv on every host, output captured (up to CAPTURE_MAX), and waits
 * for all. A host that cannot be named fails alone (status 127, not started).
 */
static void run_hosts(struct exec *ex, const char *const *hosts, size_t n, const char *const *argv,
		      unsigned timeout_ms, struct run_cmd *cmds)
{
	struct run_cmd **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
	struct err he = ERR_INIT;
	size_t i, nrun = 0;

	for (i = 0; i < n; i++) {
		run_cmd_init(&cmds[i]);
		cmds[i].out = RUN_IO_CAPTURE;
		cmds[i].err = RUN_IO_CAPTURE;
		cmds[i].capture_max = CAPTURE_MAX;
		cmds[i].timeout_ms = timeout_ms;
		if (exec_prepare(ex, hosts[i], argv, &cmds[i], &he) < 0) {
			cmds[i].status = 127;
			sbuf_addf(&cmds[i].errbuf, "%s\n", err_str(&he));
			continue;
		}
		ptrs[nrun++] = &cmds[i];
	}
	run_all(ptrs, nrun, 0);
	err_release(&he);
	free(ptrs);
}

/* ------------------------------------------------------------ boot and reboot */

/* Control bytes from a host do not reach the terminal as they are. */
static void add_printable(struct sbuf *sb, struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];

		sbuf_addch(sb, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : c);
	}
}

/*
 * Makes sure of the network, says whether the image is there, and gets the
 * container going when it can. $1 "boot" or "reboot", $2 network, $3
 * container, $4 image, $5 the image ID the host must have ("-": any ID, but
 * the image must be there; "": anything, docker run may pull it); the rest
 * is the `docker run` argv. Answers:
 *   image ok | image missing
 *   container started | restarted | unpaused | running | running-other IMAGE
 *            | restarting | pending (the image must come first) | rebooted
 */
static const char ensure_script[] =
    "mode=$1 net=$2 name=$3 image=$4 id=$5; shift 5\n"
    "command -v docker >/dev/null 2>&1 || { echo 'docker is not installed' >&2; exit 3; }\n"
    "docker network inspect \"$net\" >/dev/null 2>&1 ||\n"
    "  docker network create \"$net\" >/dev/null 2>&1 ||\n"
    "  docker network inspect \"$net\" >/dev/null || exit 4\n"
    "have=$(docker image inspect --format '{{.Id}}' \"$image\" 2>/dev/null) || have=\n"
    "case $id in\n"
    "'') img=1 ;;\n"
    "-) id=; if [ -n \"$have\" ]; then img=1; else img=0; fi ;;\n"
    "*) if [ \"$have\" = \"$id\" ]; then img=1; else img=0; fi ;;\n"
    "esac\n"
    "if [ $img = 1 ]; then echo 'image ok'; else echo 'image missing'; fi\n"
    "st=$(docker container inspect --format '{{.State.Status}} {{.Image}} {{.Config.Image}}' "
    "\"$name\" 2>/dev/null) || st=absent\n"
    "if [ \"$mode\" = reboot ] && [ \"$st\" != absent ]; then\n"
    "  [ $img = 1 ] || { echo 'container pending'; exit 0; }\n"
    "  docker container stop \"$name\" >/dev/null && docker container rm \"$name\" >/dev/null || "
    "exit 5\n"
    "  \"$@\" >/dev/null || exit 6\n"
    "  echo 'container rebooted'; exit 0\n"
    "fi\n"
    "case $st in\n"
    "absent)\n"
    "  [ $img = 1 ] || { echo 'container pending'; exit 0; }\n"
    "  \"$@\" >/dev/null || exit 6\n"
    "  echo 'container started' ;;\n"
    "running\\ *)\n"
    "  if [ -n \"$id\" ] && [ \"${st#running $id }\" = \"$st\" ]; then\n"
    "    echo \"container running-other ${st##* }\"\n"
    "  else echo 'container running'; fi ;;\n"
    "paused\\ *) docker container unpause \"$name\" >/dev/null || exit 7; echo 'container "
    "unpaused' ;;\n"
    "restarting\\ *) echo 'container restarting' ;;\n"
    "*) docker container start \"$name\" >/dev/null || exit 7; echo 'container restarted' ;;\n"
    "esac\n";

enum ensure_state {
	ENSURE_FAILED = 0,
	ENSURE_PENDING, /* waits for the image */
	ENSURE_DONE,
};

struct ensure_host {
	const char *name;
	enum ensure_state state;
	struct proxyhost_answer a;
};

void proxyhost_answer_init(struct proxyhost_answer *a)
{
	a->image_ok = false;
	a->pending = false;
	sbuf_init(&a->what, 0);
}

void proxyhost_answer_release(struct proxyhost_answer *a)
{
	sbuf_release(&a->what);
}

int proxyhost_parse_answer(struct slice out, const char *image, struct proxyhost_answer *a,
			   struct err *e)
{
	struct slice rest = out, line, word;
	bool seen_image = false, seen_container = false;
	unsigned nlines = 0;

	a->image_ok = a->pending = false;
	sbuf_reset(&a->what);
	while (rest.ptr && nlines++ < PROXYHOST_ANSWER_MAX_LINES) {
		line = slice_trim(slice_next(&rest, '\n'));
		word = slice_next_word(&line);
		line = slice_trim(line);
		if (slice_eq_cstr(word, "image") && !seen_image) {
			seen_image = slice_eq_cstr(line, "ok") || slice_eq_cstr(line, "missing");
			a->image_ok = slice_eq_cstr(line, "ok");
			continue;
		}
		if (!slice_eq_cstr(word, "container") || seen_container) {
			continue;
		}
		seen_container = true;
		word = slice_next_word(&line);
		line = slice_trim(line);
		if (slice_eq_cstr(word, "pending")) {
			a->pending = true;
		} else if (slice_eq_cstr(word, "started")) {
			sbuf_addf(&a->what, "berth-proxy started (%s)", image);
		} else if (slice_eq_cstr(word, "rebooted")) {
			sbuf_addf(&a->what, "berth-proxy rebooted (%s)", image);
		} else if (slice_eq_cstr(word, "restarted")) {
			sbuf_addstr(&a->what, "berth-proxy was stopped; started it again");
		} else if (slice_eq_cstr(word, "unpaused")) {
			sbuf_addstr(&a->what, "berth-proxy was paused; unpaused it");
		} else if (slice_eq_cstr(word, "running")) {
			sbuf_addf(&a->what, "berth-proxy is running (%s)", image);
		} else if (slice_eq_cstr(word, "running-other") && line.len) {
			sbuf_addf(&a->what, "berth-proxy is running, from another image than %s (",
				  image);
			add_printable(&a->what, slice_make(line.ptr, line.len > PROXYHOST_MAX_IMAGE
									 ? PROXYHOST_MAX_IMAGE
									 : line.len));
			sbuf_addstr(&a->what, "): a reboot replaces it");
		} else if (slice_eq_cstr(word, "restarting")) {
			sbuf_addstr(&a->what,
				    "berth-proxy is restarting (it keeps exiting: see its logs)");
		} else {
			seen_container = false;
		}
	}
	if (!seen_image || !seen_container) {
		struct sbuf shown = SBUF_INIT;

		add_printable(&shown, slice_make(out.ptr, out.len > 200 ? 200 : out.len));
		err_set(e, "unexpected answer from the proxy check: '%s'", shown.buf);
		sbuf_release(&shown);
		a->image_ok = a->pending = false;
		sbuf_reset(&a->what);
		return -1;
	}
	return 0;
}

static const char *ensure_what(int rc)
{
	switch (rc) {
	case 3:
		return "docker is not there";
	case 4:
		return "cannot create the network '" PROXYHOST_NETWORK "'";
	case 5:
		return "cannot stop and remove the container '" PROXYHOST_CONTAINER "'";
	case 6:
		return "cannot run the container '" PROXYHOST_CONTAINER "'";
	case 7:
		return "cannot start the container '" PROXYHOST_CONTAINER "'";
	default:
		return "the proxy check failed";
	}
}

/* One round of the ensure script on the hosts of hs whose state is ENSURE_PENDING. */
static void ensure_round(struct exec *ex, struct ensure_host *hs, size_t n, const char *mode,
			 const char *image, const char *id, const struct strvec *run,
			 struct outcome *o)
{
	const char **names = xcalloc(n ? n : 1, sizeof(*names));
	size_t *idx = xcalloc(n ? n : 1, sizeof(*idx));
	struct run_cmd *cmds;
	struct strvec argv = STRVEC_INIT;
	struct err he = ERR_INIT;
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		if (hs[i].state == ENSURE_PENDING) {
			idx[m] = i;
			names[m++] = hs[i].name;
		}
	}
	cmds = xcalloc(m ? m : 1, sizeof(*cmds));
	strvec_pushv(&argv, (const char *const[]){"sh", "-c", ensure_script, "berth-proxy", mode,
						  PROXYHOST_NETWORK, PROXYHOST_CONTAINER, image, id,
						  NULL});
	strvec_pushv(&argv, (const char *const *)run->v);
	run_hosts(ex, names, m, (const char *const *)argv.v, ENSURE_TIMEOUT_MS, cmds);
	for (i = 0; i < m; i++) {
		struct ensure_host *h = &hs[idx[i]];

		err_release(&he);
		if (cmds[i].status != 0) {
			host_failed(ex, h->name, &cmds[i], ensure_what(cmds[i].status), &he);
		} else if (proxyhost_parse_answer(
			       slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len), image, &h->a,
			       &he) == 0) {
			h->state = h->a.pending ? ENSURE_PENDING : ENSURE_DONE;
			continue;
		} else {
			err_prefix(&he, "host '%s'", h->name);
		}
		h->state = ENSURE_FAILED;
		outcome_fail(o, &he);
	}
	for (i = 0; i < m; i++) {
		run_cmd_release(&cmds[i]);
	}
	err_release(&he);
	strvec_clear(&argv);
	free(cmds);
	free(names);
	free(idx);
}

/* The local image's ID into id, or "" when there is none here. */
static void local_image_id(const char *image, struct sbuf *id)
{
	struct run_cmd c = RUN_CMD_INIT;

	strvec_pushv(&c.argv, (const char *const[]){"docker", "image", "inspect", "--format",
						    "{{.Id}}", image, NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_NULL;
	c.capture_max = 4096;
	c.timeout_ms = 60000;
	sbuf_reset(id);
	if (run_one(&c) == 0) {
		struct slice s = slice_trim(slice_make(c.outbuf.buf, c.outbuf.len));

		if (transfer_valid_digest(s)) {
			sbuf_add(id, s.ptr, s.len);
		}
	}
	run_cmd_release(&c);
}

static int ensure(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		  const char *mode, proxyhost_progress_fn progress, void *data, struct err *e)
{
	struct ensure_host *hs = xcalloc(n ? n : 1, sizeof(*hs));
	struct outcome o = {n, 0, SBUF_INIT};
	struct strvec run = STRVEC_INIT, need = STRVEC_INIT;
	struct sbuf id = SBUF_INIT;
	struct err he = ERR_INIT;
	char *image = proxyhost_image_for(cfg);
	bool ours = !strcmp(image, proxyhost_image());
	const char *id_arg;
	size_t i;
	int ret;

	proxyhost_run_argv(cfg, &run);
	if (ours) {
		local_image_id(image, &id);
	}
	for (i = 0; i < n; i++) {
		hs[i].name = hosts[i];
		hs[i].state = ENSURE_PENDING;
		proxyhost_answer_init(&hs[i].a);
	}
	/* our image must be there, as this very ID when we have it here to send */
	id_arg = !ours ? "" : id.len ? id.buf : "-";
	ensure_round(ex, hs, n, mode, image, id_arg, &run, &o);

	for (i = 0; i < n; i++) {
		if (hs[i].state != ENSURE_FAILED && !hs[i].a.image_ok) {
			strvec_push(&need, hs[i].name);
		}
	}
	if (need.nr) {
		struct transfer_opts to = {0};
		struct transfer_result tr = {0};

		to.image = image;
		to.progress = progress;
		to.progress_data = data;
		if (!id.len) {
			/* not here either: nothing can be sent */
			for (i = 0; i < n; i++) {
				if (hs[i].state == ENSURE_FAILED || hs[i].a.image_ok) {
					continue;
				}
				err_set(
				    &he,
				    "host '%s': the image '%s' is neither on the host nor here: "
				    "build it with 'make image'",
				    hs[i].name, image);
				hs[i].state = ENSURE_FAILED;
				outcome_fail(&o, &he);
			}
		} else if (transfer_image(ex, (const char *const *)need.v, need.nr, &to, &tr, &he) <
			       0 &&
			   tr.nhosts == 0) {
			/* it could not even start: every host that needed it fails for that */
			struct err why = ERR_INIT;

			for (i = 0; i < n; i++) {
				if (hs[i].state != ENSURE_FAILED && !hs[i].a.image_ok) {
					hs[i].state = ENSURE_FAILED;
					err_set(&why, "host '%s': %s", hs[i].name, err_str(&he));
					outcome_fail(&o, &why);
				}
			}
			err_release(&why);
		} else {
			size_t k = 0;

			for (i = 0; i < n && k < tr.nhosts; i++) {
				if (hs[i].state == ENSURE_FAILED || hs[i].a.image_ok) {
					continue;
				}
				if (tr.hosts[k].failed) {
					hs[i].state = ENSURE_FAILED;
					outcome_fail(&o, &tr.hosts[k].err);
				}
				k++;
			}
		}
		transfer_result_release(&tr);
		/* the hosts that waited for the image get their container now */
		ensure_round(ex, hs, n, mode, image, id_arg, &run, &o);
	}
	for (i = 0; i < n; i++) {
		if (hs[i].state == ENSURE_DONE) {
			say(progress, data, "%s: %s", hs[i].name, hs[i].a.what.buf);
		} else if (hs[i].state == ENSURE_PENDING) {
			/* the image arrived but the host still says it lacks it */
			err_set(&he, "host '%s': the image '%s' is still missing after sending it",
				hs[i].name, image);
			outcome_fail(&o, &he);
		}
		proxyhost_answer_release(&hs[i].a);
	}
	ret = outcome_finish(&o, e);
	err_release(&he);
	strvec_clear(&run);
	strvec_clear(&need);
	sbuf_release(&id);
	free(image);
	free(hs);
	return ret;
}

int proxyhost_boot(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   proxyhost_progress_fn progress, void *data, struct err *e)
{
	return ensure(ex, hosts, n, cfg, "boot", progress, data, e);
}

int proxyhost_reboot(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		     proxyhost_progress_fn progress, void *data, struct err *e)
{
	return ensure(ex, hosts, n, cfg, "reboot", progress, data, e);
}

/* ------------------------------------------------------------ start, stop, remove */

/*
 * Runs argv on every host; a host that exits 0 gets the progress line
 * "HOST: done", a failing one adds to the outcome with what.
 */
static int simple(struct exec *ex, const char *const *hosts, size_t n, const char *const *argv,
		  const char *what, const char *done, proxyhost_progress_fn progress, void *data,
		  struct err *e)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct outcome o = {n, 0, SBUF_INIT};
	struct err he = ERR_INIT;
	size_t i;

	run_hosts(ex, hosts, n, argv, CONTROL_TIMEOUT_MS, cmds);
	for (i = 0; i < n; i++) {
		if (cmds[i].status == 0) {
			say(progress, data, "%s: %s", hosts[i], done);
		} else {
			host_failed(ex, hosts[i], &cmds[i], what, &he);
			outcome_fail(&o, &he);
		}
		run_cmd_release(&cmds[i]);
	}
	err_release(&he);
	free(cmds);
	return outcome_finish(&o, e);
}

int proxyhost_start(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		    proxyhost_progress_fn progress, void *data, struct err *e)
{
	(void)cfg;
	return simple(
	    ex, hosts, n,
	    (const char *const[]){"docker", "container", "start", PROXYHOST_CONTAINER, NULL},
	    "cannot start '" PROXYHOST_CONTAINER "'", "berth-proxy started", progress, data, e);
}

int proxyhost_stop(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   proxyhost_progress_fn progress, void *data, struct err *e)
{
	(void)cfg;
	return simple(
	    ex, hosts, n,
	    (const char *const[]){"docker", "container", "stop", PROXYHOST_CONTAINER, NULL},
	    "cannot stop '" PROXYHOST_CONTAINER "'", "berth-proxy stopped", progress, data, e);
}

/* $1 container, $2 image, $3 label of our images ("": keep images), $4 volume ("": keep it). */
static const char remove_script[] =
    "name=$1 image=$2 label=$3 vol=$4\n"
    "if docker container inspect \"$name\" >/dev/null 2>&1; then\n"
    "  docker container stop \"$name\" >/dev/null && docker container rm \"$name\" >/dev/null || "
    "exit 1\n"
    "  echo 'container removed'\n"
    "else echo 'container absent'; fi\n"
    "if [ -n \"$label\" ]; then\n"
    "  docker image rm \"$image\" >/dev/null 2>&1\n"
    "  docker image prune --all --force --filter \"label=$label\" >/dev/null || exit 1\n"
    "  echo 'images removed'\n"
    "fi\n"
    "if [ -n \"$vol\" ] && docker volume inspect \"$vol\" >/dev/null 2>&1; then\n"
    "  docker volume rm \"$vol\" >/dev/null || exit 1\n"
    "  echo 'volume removed'\n"
    "fi\n";

int proxyhost_remove(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		     unsigned flags, proxyhost_progress_fn progress, void *data, struct err *e)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct outcome o = {n, 0, SBUF_INIT};
	struct err he = ERR_INIT;
	struct sbuf what = SBUF_INIT;
	char *image = proxyhost_image_for(cfg);
	size_t i;

	run_hosts(ex, hosts, n,
		  (const char *const[]){"sh", "-c", remove_script, "berth-proxy",
					PROXYHOST_CONTAINER, image,
					flags & PROXYHOST_F_IMAGE ? PROXYHOST_LABEL : "",
					flags & PROXYHOST_F_VOLUME ? PROXYHOST_VOLUME : "", NULL},
		  CONTROL_TIMEOUT_MS, cmds);
	for (i = 0; i < n; i++) {
		if (cmds[i].status != 0) {
			host_failed(ex, hosts[i], &cmds[i], "cannot remove berth-proxy", &he);
			outcome_fail(&o, &he);
			run_cmd_release(&cmds[i]);
			continue;
		}
		sbuf_reset(&what);
		sbuf_addstr(&what, slice_find(slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len),
					      "container removed") >= 0
				       ? "removed the berth-proxy container"
				       : "no berth-proxy container");
		if (flags & PROXYHOST_F_IMAGE) {
			sbuf_addstr(&what, ", removed its images");
		}
		if (slice_find(slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len),
			       "volume removed") >= 0) {
			sbuf_addstr(&what, ", removed the volume '" PROXYHOST_VOLUME "'");
		}
		say(progress, data, "%s: %s", hosts[i], what.buf);
		run_cmd_release(&cmds[i]);
	}
	sbuf_release(&what);
	err_release(&he);
	free(image);
	free(cmds);
	return outcome_finish(&o, e);
}

/* ------------------------------------------------------------ details and logs */

int proxyhost_details(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		      proxyhost_progress_fn progress, void *data, struct err *e)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct outcome o = {n, 0, SBUF_INIT};
	struct err he = ERR_INIT;
	struct sbuf line = SBUF_INIT;
	size_t i;

	(void)cfg;
	run_hosts(ex, hosts, n,
		  (const char *const[]){"docker", "ps", "--all", "--no-trunc", "--filter",
					"name=^" PROXYHOST_CONTAINER "$", "--format",
					"{{.Names}} {{.Image}} {{.Status}} {{.Ports}}", NULL},
		  DETAILS_TIMEOUT_MS, cmds);
	for (i = 0; i < n; i++) {
		struct slice rest = slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len), l;
		unsigned nlines = 0;

		if (cmds[i].status != 0) {
			host_failed(ex, hosts[i], &cmds[i], "cannot list containers", &he);
			outcome_fail(&o, &he);
			run_cmd_release(&cmds[i]);
			continue;
		}
		while (rest.ptr && nlines < PROXYHOST_ANSWER_MAX_LINES) {
			l = slice_trim(slice_next(&rest, '\n'));
			if (!l.len) {
				continue;
			}
			nlines++;
			sbuf_reset(&line);
			sbuf_addf(&line, "%s: ", hosts[i]);
			add_printable(&line, l);
			if (progress) {
				progress(line.buf, data);
			}
		}
		if (!nlines) {
			say(progress, data, "%s: no %s container", hosts[i], PROXYHOST_CONTAINER);
		}
		run_cmd_release(&cmds[i]);
	}
	sbuf_release(&line);
	err_release(&he);
	free(cmds);
	return outcome_finish(&o, e);
}

/*
 * $1 container, $2 a grep pattern or "", $3 "follow" or ""; the rest is the
 * `docker logs` argv. The log's own stdout and stderr both come out on
 * stdout.
 *
 * Following, nothing else tells the remote side that berth went away (no
 * terminal, so no SIGHUP; and a multiplexed connection outlives berth), and
 * `docker logs --follow` would run there for good. So berth keeps the
 * command's stdin open while it lives, and the script ends the follower
 * when stdin ends. (Background jobs get /dev/null as stdin: fd 3 keeps
 * the real one.) The grep pattern is applied here when following.
 */
static const char logs_script[] = "name=$1 g=$2 f=$3; shift 3\n"
				  "docker container inspect \"$name\" >/dev/null || exit 1\n"
				  "if [ -z \"$f\" ]; then\n"
				  "  [ -n \"$g\" ] || exec \"$@\" 2>&1\n"
				  "  \"$@\" 2>&1 | grep -e \"$g\"\n"
				  "  [ $? -le 1 ]; exit\n"
				  "fi\n"
				  "exec 3<&0\n"
				  "\"$@\" 2>&1 &\n"
				  "p=$!\n"
				  "{ while read -r _ <&3; do :; done; kill $p 2>/dev/null; } &\n"
				  "w=$!\n"
				  "wait $p; r=$?\n"
				  "kill $w 2>/dev/null\n"
				  "exit $r\n";

struct logs_line {
	const char *host;
	const regex_t *re; /* following with a grep pattern: applied here */
	proxyhost_progress_fn progress;
	void *data;
	struct sbuf buf;
};

static void on_log_line(struct run_cmd *cmd, int fd, struct slice line, void *data)
{
	struct logs_line *l = data;

	(void)cmd;
	(void)fd;
	sbuf_reset(&l->buf);
	if (l->re) {
		sbuf_add(&l->buf, line.ptr, line.len);
		if (regexec(l->re, l->buf.buf, 0, NULL, 0) != 0) {
			return;
		}
		sbuf_reset(&l->buf);
	}
	sbuf_addf(&l->buf, "%s: ", l->host);
	add_printable(&l->buf, line);
	if (l->progress) {
		l->progress(l->buf.buf, l->data);
	}
}

int proxyhost_logs(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   const struct proxyhost_logs_opts *lo, proxyhost_progress_fn progress, void *data,
		   struct err *e)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct run_cmd **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
	struct logs_line *ls = xcalloc(n ? n : 1, sizeof(*ls));
	struct outcome o = {n, 0, SBUF_INIT};
	struct strvec argv = STRVEC_INIT;
	struct sbuf in_path = SBUF_INIT;
	struct err he = ERR_INIT;
	bool local_grep = lo->follow && lo->grep && *lo->grep;
	int alive[2] = {-1, -1};
	regex_t re;
	size_t i, nrun = 0, ninit = 0;
	int ret = -1;

	(void)cfg;
	if (local_grep && regcomp(&re, lo->grep, REG_NOSUB) != 0) {
		err_set(e, "'%s' is not a valid regular expression", lo->grep);
		local_grep = false;
		goto out;
	}
	/* following: the hosts' stdin, open for as long as berth runs (see logs_script) */
	if (lo->follow) {
		if (pipe2(alive, O_CLOEXEC) < 0) {
			err_set(e, "cannot make a pipe: %s", strerror(errno));
			goto out;
		}
		sbuf_addf(&in_path, "/dev/fd/%d", alive[0]);
	}
	strvec_pushv(&argv, (const char *const[]){
				"sh", "-c", logs_script, "berth-proxy", PROXYHOST_CONTAINER,
				lo->grep && !lo->follow ? lo->grep : "", lo->follow ? "follow" : "",
				"docker", "logs", NULL});
	if (lo->timestamps) {
		strvec_push(&argv, "--timestamps");
	}
	if (lo->since && *lo->since) {
		strvec_pushv(&argv, (const char *const[]){"--since", lo->since, NULL});
	}
	if (lo->lines) {
		strvec_push(&argv, "--tail");
		strvec_pushf(&argv, "%u", lo->lines);
	}
	if (lo->follow) {
		strvec_push(&argv, "--follow");
	}
	strvec_push(&argv, PROXYHOST_CONTAINER);

	for (i = 0; i < n; i++, ninit++) {
		run_cmd_init(&cmds[i]);
		ls[i].host = hosts[i];
		ls[i].re = local_grep ? &re : NULL;
		ls[i].progress = progress;
		ls[i].data = data;
		sbuf_init(&ls[i].buf, 0);
		cmds[i].out = RUN_IO_STREAM;
		cmds[i].err = RUN_IO_CAPTURE;
		cmds[i].capture_max = CAPTURE_MAX;
		cmds[i].on_line = on_log_line;
		cmds[i].on_line_data = &ls[i];
		cmds[i].timeout_ms = lo->timeout_ms;
		cmds[i].in_file = in_path.len ? in_path.buf : NULL;
		if (exec_prepare(ex, hosts[i], (const char *const *)argv.v, &cmds[i], &he) < 0) {
			outcome_fail(&o, &he);
			continue;
		}
		ptrs[nrun++] = &cmds[i];
	}
	run_all(ptrs, nrun, 0);
	for (i = 0; i < nrun; i++) {
		struct run_cmd *c = ptrs[i];
		const char *host = ((struct logs_line *)c->on_line_data)->host;

		if (c->status != 0) {
			host_failed(ex, host, c,
				    "cannot read the logs of '" PROXYHOST_CONTAINER "'", &he);
			outcome_fail(&o, &he);
		}
	}
	ret = outcome_finish(&o, e);
out:
	for (i = 0; i < ninit; i++) {
		run_cmd_release(&cmds[i]);
		sbuf_release(&ls[i].buf);
	}
	for (i = 0; i < 2; i++) {
		if (alive[i] >= 0) {
			close(alive[i]);
		}
	}
	if (local_grep) {
		regfree(&re);
	}
	sbuf_release(&o.msgs);
	sbuf_release(&in_path);
	strvec_clear(&argv);
	err_release(&he);
	free(ptrs);
	free(ls);
	free(cmds);
	return ret;
}
