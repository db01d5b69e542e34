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

#include <jansson.h>

#include "engine/hoststate.h"
#include "engine/proxyhost.h"
#include "engine/transfer.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "engine/scripts.h"
#include "lib/banned.h"

#ifndef BERTH_VERSION
#error "BERTH_VERSION comes from the file VERSION, through the Makefile"
#endif

/* Where kamal-proxy keeps its routes in its container (Kamal mounts a volume there). */
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

bool proxyhost_held(const struct config *cfg)
{
	return cfg->proxy_run.publish != 0 && cfg->proxy_run.bind_ips.nr <= 1;
}

static void push_log_opt(struct strvec *argv, const struct config_proxy_run *r)
{
	strvec_push(argv, "--log-opt");
	strvec_pushf(argv, "max-size=%s",
		     r->log_max_size && *r->log_max_size ? r->log_max_size : "10m");
}

/* What the holder holds, as its label says: "80,443" or "80,443,BIND_IP". */
static void ports_label(const struct config *cfg, struct sbuf *sb)
{
	const struct config_proxy_run *r = &cfg->proxy_run;

	sbuf_addf(sb, "%lld,%lld", r->http_port, r->https_port);
	if (r->bind_ips.nr) {
		sbuf_addf(sb, ",%s", r->bind_ips.v[0]);
	}
}

void proxyhost_ports_argv(const struct config *cfg, struct strvec *argv)
{
	const struct config_proxy_run *r = &cfg->proxy_run;
	char *image = proxyhost_image_for(cfg);
	struct sbuf label = SBUF_INIT;

	/* Root to bind ports below 1024 on the host's network, and nothing else: it drops it. */
	strvec_pushv(
	    argv, (const char *const[]){
		      "docker",	   "run",	 "-d",	      "--name",		PROXYHOST_PORTS,
		      "--network", "host",	 "--restart", "unless-stopped", "--user",
		      "0:0",	   "--cap-drop", "ALL",	      "--cap-add",	"NET_BIND_SERVICE",
		      "--cap-add", "SETUID",	 "--cap-add", "SETGID",		NULL});
	push_log_opt(argv, r);
	ports_label(cfg, &label);
	strvec_pushv(argv, (const char *const[]){"-v", PROXYHOST_VOLUME ":" PROXYHOST_STATE_DIR,
						 "--label", PROXYHOST_LABEL, "--label", NULL});
	strvec_pushf(argv, "berth.proxy.ports=%s", label.buf);
	strvec_pushv(argv, (const char *const[]){image, "berth-proxy", "hold", "--socket",
						 PROXYHOST_HOLDER, "--http-port", NULL});
	strvec_pushf(argv, "%lld", r->http_port);
	strvec_push(argv, "--https-port");
	strvec_pushf(argv, "%lld", r->https_port);
	if (r->bind_ips.nr) {
		const char *ip = r->bind_ips.v[0];
		size_t len = strlen(ip);

		/* "[::1]" as Kamal's config may write it: the holder wants the address alone. */
		strvec_push(argv, "--listen");
		if (len > 2 && ip[0] == '[' && ip[len - 1] == ']') {
			strvec_pushf(argv, "%.*s", (int)len - 2, ip + 1);
		} else {
			strvec_push(argv, ip);
		}
	}
	sbuf_release(&label);
	free(image);
}

void proxyhost_run_argv(const struct config *cfg, struct strvec *argv)
{
	const struct config_proxy_run *r = &cfg->proxy_run;
	char *image = proxyhost_image_for(cfg);
	bool held = proxyhost_held(cfg);
	size_t i;

	strvec_pushv(argv, (const char *const[]){
			       "docker", "run", "-d", "--name", PROXYHOST_CONTAINER, "--network",
			       PROXYHOST_NETWORK, "--restart", "unless-stopped", NULL});
	push_log_opt(argv, r);
	if (r->publish != 0 && !held) {
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
	/* proxy.run.debug, as Kamal starts kamal-proxy with --debug */
	if (r->debug > 0) {
		strvec_push(argv, "--debug");
	}
	if (held) {
		strvec_pushv(argv,
			     (const char *const[]){"--takeover-if-running", "--listeners-from",
						   PROXYHOST_HOLDER, NULL});
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
 * Sets he to why cmd failed on host, as exec_script says it: ssh's words
 * when the host was not reached, else what was being done, the exit and
 * the last lines the host said.
 */
static void host_failed(const struct exec *ex, const char *host, const struct run_cmd *cmd,
			const char *what, struct err *he)
{
	const struct exec_script s = {.what = what};

	if (exec_script_result(ex, host, &s, cmd, he) == 0) {
		err_set(he, "host '%s': %s", host, what);
	}
}

/*
 * Runs script with args on every host (a Docker-only script: here when the
 * host's dockerd is forwarded), output captured (up to CAPTURE_MAX), and
 * waits for all. A host that cannot be named fails alone (not started).
 */
static void run_hosts(struct exec *ex, const char *const *hosts, size_t n, const char *script,
		      const char *const *args, unsigned timeout_ms, struct run_cmd *cmds)
{
	const struct exec_script s = {
	    .text = script,
	    .name = "berth-proxy",
	    .args = args,
	    .timeout_ms = timeout_ms,
	    .capture_max = CAPTURE_MAX,
	    .flags = EXEC_SCRIPT_DOCKER,
	};

	exec_script_hosts(ex, hosts, n, &s, 0, cmds);
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
		} else if (slice_eq_cstr(word, "took-over-kamal")) {
			sbuf_addf(
			    &a->what,
			    "berth-proxy started (%s) with kamal-proxy's routes, and took its "
			    "ports; kamal-proxy is stopped, not removed",
			    image);
		} else if (slice_eq_cstr(word, "replaced")) {
			sbuf_addf(
			    &a->what,
			    "berth-proxy rebooted (%s), replaced rather than handed over: new "
			    "connections were refused for a moment",
			    image);
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
	case 8:
		return "the new container '" PROXYHOST_CONTAINER
		       "' did not take over; the old one serves on";
	case 9:
		return "cannot run the container '" PROXYHOST_PORTS "' that holds the ports";
	case 10:
		return "cannot take the ports over from kamal-proxy; it serves on";
	default:
		return "the proxy check failed";
	}
}

/* One round of the ensure script on the hosts of hs whose state is ENSURE_PENDING. */
static void ensure_round(struct exec *ex, struct ensure_host *hs, size_t n, const char *mode,
			 const char *image, const char *id, const char *plabel,
			 const struct strvec *ports, const struct strvec *run, struct outcome *o)
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
	strvec_pushv(&argv, (const char *const[]){mode, PROXYHOST_NETWORK, PROXYHOST_CONTAINER,
						  image, id, PROXYHOST_PORTS, plabel, NULL});
	strvec_pushf(&argv, "%zu", ports->nr);
	strvec_pushv(&argv, (const char *const[]){PROXYHOST_VOLUME, PROXYHOST_STATE_DIR, NULL});
	if (ports->nr) {
		strvec_pushv(&argv, (const char *const *)ports->v);
	}
	strvec_pushv(&argv, (const char *const *)run->v);
	run_hosts(ex, names, m, script_proxy_ensure, (const char *const *)argv.v, ENSURE_TIMEOUT_MS,
		  cmds);
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

static int ensure(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		  const char *mode, proxyhost_progress_fn progress, void *data, struct err *e)
{
	struct ensure_host *hs = xcalloc(n ? n : 1, sizeof(*hs));
	struct outcome o = {n, 0, SBUF_INIT};
	struct strvec run = STRVEC_INIT, need = STRVEC_INIT, ports = STRVEC_INIT;
	struct sbuf id = SBUF_INIT, plabel = SBUF_INIT;
	struct err he = ERR_INIT;
	char *image = proxyhost_image_for(cfg);
	bool ours = !strcmp(image, proxyhost_image());
	const char *id_arg;
	size_t i;
	int ret;

	proxyhost_run_argv(cfg, &run);
	ports_label(cfg, &plabel);
	if (proxyhost_held(cfg)) {
		proxyhost_ports_argv(cfg, &ports);
	}
	if (ours) {
		transfer_local_image_id(image, &id);
	}
	for (i = 0; i < n; i++) {
		hs[i].name = hosts[i];
		hs[i].state = ENSURE_PENDING;
		proxyhost_answer_init(&hs[i].a);
	}
	/* our image must be there, as this very ID when we have it here to send */
	id_arg = !ours ? "" : id.len ? id.buf : "-";
	ensure_round(ex, hs, n, mode, image, id_arg, plabel.buf, &ports, &run, &o);

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
				if (ex->kind == EXEC_LOCAL) {
					/* the host's dockerd is this machine's: none to send from
					 */
					err_set(&he,
						"host '%s': the image '%s' is not in this host's "
						"dockerd: load it there (docker load), or boot the "
						"proxy on this host with 'berth proxy boot' from a "
						"machine that has it",
						hs[i].name, image);
				} else {
					err_set(&he,
						"host '%s': the image '%s' is neither on the host "
						"nor here: build it with 'make image'",
						hs[i].name, image);
				}
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
		ensure_round(ex, hs, n, mode, image, id_arg, plabel.buf, &ports, &run, &o);
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
	strvec_clear(&ports);
	sbuf_release(&id);
	sbuf_release(&plabel);
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
static int simple(struct exec *ex, const char *const *hosts, size_t n, const char *script,
		  const char *const *args, const char *what, const char *done,
		  proxyhost_progress_fn progress, void *data, struct err *e)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct outcome o = {n, 0, SBUF_INIT};
	struct err he = ERR_INIT;
	size_t i;

	run_hosts(ex, hosts, n, script, args, CONTROL_TIMEOUT_MS, cmds);
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
	return simple(ex, hosts, n, script_proxy_start,
		      (const char *const[]){PROXYHOST_PORTS, PROXYHOST_CONTAINER, NULL},
		      "cannot start '" PROXYHOST_CONTAINER "'", "berth-proxy started", progress,
		      data, e);
}

int proxyhost_stop(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   proxyhost_progress_fn progress, void *data, struct err *e)
{
	(void)cfg;
	return simple(ex, hosts, n, script_proxy_stop,
		      (const char *const[]){PROXYHOST_PORTS, PROXYHOST_CONTAINER, NULL},
		      "cannot stop '" PROXYHOST_CONTAINER "'", "berth-proxy stopped", progress,
		      data, e);
}

int proxyhost_parse_services(struct slice out, struct strvec *names, struct err *e)
{
	struct slice t = slice_trim(out);
	json_error_t je;
	json_t *root, *arr, *v;
	size_t i;
	int ret = -1;

	if (!t.len) {
		return 0;
	}
	root = json_loadb(t.ptr, t.len, 0, &je);
	if (!root) {
		return err_set(e, "the proxy's list of services is not JSON: %s", je.text);
	}
	arr = json_is_object(root) ? json_object_get(root, "services") : root;
	if (!json_is_array(arr)) {
		err_set(e, "the proxy's list of services is not a list");
		goto out;
	}
	json_array_foreach(arr, i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));

		if (!name || !*name) {
			err_set(e, "a service in the proxy's list has no name");
			goto out;
		}
		strvec_push(names, name);
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int proxyhost_services(struct exec *ex, const char *const *hosts, size_t n, struct strvec *names,
		       struct err *e)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct outcome o = {n, 0, SBUF_INIT};
	struct err he = ERR_INIT;
	size_t i;

	run_hosts(ex, hosts, n, script_proxy_services,
		  (const char *const[]){PROXYHOST_CONTAINER,
					PROXYHOST_STATE_DIR "/berth-proxy.json", NULL},
		  CONTROL_TIMEOUT_MS, cmds);
	for (i = 0; i < n; i++) {
		if (cmds[i].status != 0) {
			host_failed(ex, hosts[i], &cmds[i], "cannot list what berth-proxy serves",
				    &he);
			outcome_fail(&o, &he);
		} else if (proxyhost_parse_services(
			       slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len), &names[i], &he) <
			   0) {
			struct err he2 = ERR_INIT;

			err_set(&he2, "host '%s': %s", hosts[i], err_str(&he));
			outcome_fail(&o, &he2);
			err_release(&he2);
			strvec_clear(&names[i]);
		}
		run_cmd_release(&cmds[i]);
	}
	err_release(&he);
	free(cmds);
	return outcome_finish(&o, e);
}

int proxyhost_remove(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		     unsigned flags, proxyhost_progress_fn progress, void *data, struct err *e)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct outcome o = {n, 0, SBUF_INIT};
	struct err he = ERR_INIT;
	struct sbuf what = SBUF_INIT;
	char *image = proxyhost_image_for(cfg);
	size_t i;

	run_hosts(ex, hosts, n, script_proxy_remove,
		  (const char *const[]){PROXYHOST_CONTAINER, image,
					flags & PROXYHOST_F_IMAGE ? PROXYHOST_LABEL : "",
					flags & PROXYHOST_F_VOLUME ? PROXYHOST_VOLUME : "",
					PROXYHOST_PORTS, PROXYHOST_CONTAINER "-old", NULL},
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
		if (slice_find(slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len),
			       "ports removed") >= 0) {
			sbuf_addstr(&what, ", removed the ports container '" PROXYHOST_PORTS "'");
		}
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
	run_hosts(ex, hosts, n, script_proxy_containers,
		  (const char *const[]){PROXYHOST_CONTAINER, NULL}, DETAILS_TIMEOUT_MS, cmds);
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
	struct exec_script sc = {
	    .text = script_proxy_logs,
	    .name = "berth-proxy",
	    .timeout_ms = lo->timeout_ms ? lo->timeout_ms : EXEC_SCRIPT_NO_TIMEOUT,
	    .capture_max = CAPTURE_MAX,
	};
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
	/* following: the hosts' stdin, open for as long as berth runs (see script_proxy_logs) */
	if (lo->follow) {
		if (pipe2(alive, O_CLOEXEC) < 0) {
			err_set(e, "cannot make a pipe: %s", strerror(errno));
			goto out;
		}
		sbuf_addf(&in_path, "/dev/fd/%d", alive[0]);
	}
	strvec_pushv(&argv, (const char *const[]){
				PROXYHOST_CONTAINER, lo->grep && !lo->follow ? lo->grep : "",
				lo->follow ? "follow" : "", "docker", "logs", NULL});
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
	sc.args = (const char *const *)argv.v;

	for (i = 0; i < n; i++, ninit++) {
		run_cmd_init(&cmds[i]);
		ls[i].host = hosts[i];
		ls[i].re = local_grep ? &re : NULL;
		ls[i].progress = progress;
		ls[i].data = data;
		sbuf_init(&ls[i].buf, 0);
		cmds[i].out = RUN_IO_STREAM;
		cmds[i].on_line = on_log_line;
		cmds[i].on_line_data = &ls[i];
		cmds[i].in_file = in_path.len ? in_path.buf : NULL;
		if (exec_script_prepare(ex, hosts[i], &sc, &cmds[i], &he) < 0) {
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

/* ---- boot_config ---- */

void proxyhost_boot_config_path(struct sbuf *out, const struct config *cfg)
{
	sbuf_addf(out, "%s/proxy/boot_config.json",
		  cfg->run_directory ? cfg->run_directory : HOSTSTATE_RUN_DIR);
}

int proxyhost_boot_config_fetch(struct exec *ex, const struct config *cfg, const char *const *hosts,
				size_t n, struct strvec *stored)
{
	struct run_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
	struct sbuf path = SBUF_INIT;
	struct exec_script sc = {.text = script_proxy_boot_config_get};
	size_t i;
	int nkept = 0;

	proxyhost_boot_config_path(&path, cfg);
	sc.args = (const char *const[]){path.buf, NULL};
	exec_script_hosts(ex, hosts, n, &sc, 16, cmds);
	for (i = 0; i < n; i++) {
		sbuf_trim(&cmds[i].outbuf);
		if (cmds[i].status != 0) {
			sbuf_reset(&cmds[i].outbuf);
		}
		strvec_push(stored, cmds[i].outbuf.buf);
		nkept += cmds[i].outbuf.len > 0;
		run_cmd_release(&cmds[i]);
	}
	sbuf_release(&path);
	free(cmds);
	return nkept;
}

static int boot_config_port(json_t *v, long long *out)
{
	if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 65536) {
		*out = json_integer_value(v);
		return 0;
	}
	return -1;
}

static void boot_config_string(char **field, json_t *v)
{
	if (json_is_string(v)) {
		free(*field);
		*field = xstrdup(json_string_value(v));
	}
}

int proxyhost_boot_config_apply(struct config_proxy_run *r, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL), *v;
	const char *key;
	size_t i;
	int ret = -1;

	if (!json_is_object(j)) {
		goto out;
	}
	if (json_is_boolean(v = json_object_get(j, "publish"))) {
		r->publish = json_is_true(v);
	}
	if (json_is_boolean(v = json_object_get(j, "debug"))) {
		r->debug = json_is_true(v);
	}
	if ((v = json_object_get(j, "http_port")) && boot_config_port(v, &r->http_port) < 0) {
		goto out;
	}
	if ((v = json_object_get(j, "https_port")) && boot_config_port(v, &r->https_port) < 0) {
		goto out;
	}
	if ((v = json_object_get(j, "metrics_port")) && boot_config_port(v, &r->metrics_port) < 0) {
		goto out;
	}
	boot_config_string(&r->log_max_size, json_object_get(j, "log_max_size"));
	boot_config_string(&r->registry, json_object_get(j, "registry"));
	boot_config_string(&r->repository, json_object_get(j, "repository"));
	boot_config_string(&r->version, json_object_get(j, "version"));
	if (json_is_array(v = json_object_get(j, "bind_ips"))) {
		json_t *ip;

		strvec_clear(&r->bind_ips);
		json_array_foreach(v, i, ip)
		{
			if (json_is_string(ip)) {
				strvec_push(&r->bind_ips, json_string_value(ip));
			}
		}
	}
	if (json_is_object(v = json_object_get(j, "options"))) {
		json_t *ov;

		json_object_foreach(v, key, ov)
		{
			config_map_set(&r->options, key, json_string_value(ov));
		}
	}
	ret = 0;
out:
	json_decref(j);
	return ret;
}

int proxyhost_boot_as_kept(struct exec *ex, const char *const *hosts, size_t n,
			   const struct config *cfg, proxyhost_progress_fn progress, void *data,
			   struct err *e)
{
	struct strvec stored = STRVEC_INIT, plain = STRVEC_INIT;
	size_t i;
	int ret = 0;

	if (proxyhost_boot_config_fetch(ex, cfg, hosts, n, &stored) == 0) {
		ret = proxyhost_boot(ex, hosts, n, cfg, progress, data, e);
		goto out;
	}
	for (i = 0; i < n && ret == 0; i++) {
		/* the boot only reads the config: a shallow copy with its own proxy.run */
		struct config hc = *cfg;

		if (!stored.v[i][0]) {
			strvec_push(&plain, hosts[i]);
			continue;
		}
		config_proxy_run_copy(&hc.proxy_run, &cfg->proxy_run);
		if (proxyhost_boot_config_apply(&hc.proxy_run, stored.v[i], strlen(stored.v[i])) <
		    0) {
			err_set(e,
				"host '%s': its boot_config is not one ('berth proxy boot_config "
				"reset' removes it)",
				hosts[i]);
			ret = -1;
		} else {
			ret = proxyhost_boot(ex, hosts + i, 1, &hc, progress, data, e);
		}
		config_proxy_run_release(&hc.proxy_run);
	}
	if (ret == 0 && plain.nr) {
		ret = proxyhost_boot(ex, (const char *const *)plain.v, plain.nr, cfg, progress,
				     data, e);
	}
out:
	strvec_clear(&stored);
	strvec_clear(&plain);
	return ret;
}
