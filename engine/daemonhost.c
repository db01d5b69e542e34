/* daemonhost — berthd on the servers; see daemonhost.h. */
#include "engine/daemonhost.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/scripts.h"
#include "engine/transfer.h"
#include "lib/banned.h"
#include "lib/run.h"
#include "lib/xalloc.h"

#define CAPTURE_MAX	  (64u * 1024)
#define ANSWER_MAX_LINES  16
#define SCRIPT_TIMEOUT_MS (120u * 1000)
#define MAX_ID		  4294967295ull
#define IMAGE		  "berthd:" BERTH_VERSION

const char *daemonhost_image(void)
{
	return IMAGE;
}

void daemonhost_user_init(struct daemonhost_user *u)
{
	u->uid = u->gid = 0;
	sbuf_init(&u->home, 0);
	u->changed = false;
}

void daemonhost_user_release(struct daemonhost_user *u)
{
	sbuf_release(&u->home);
}

/* Control bytes from a host do not reach the terminal as they are. */
static void add_printable(struct sbuf *sb, struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];

		sbuf_addch(sb, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : c);
	}
}

/* An absolute path that docker's -v and an authorized_keys command take as it is. */
static bool home_ok(struct slice s)
{
	if (!s.len || s.len > DAEMONHOST_HOME_MAX || s.ptr[0] != '/') {
		return false;
	}
	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '.' || c == '_' || c == '-')) {
			return false;
		}
	}
	return true;
}

static bool ends_with(struct slice s, const char *tail)
{
	size_t n = strlen(tail);

	return s.len >= n && !memcmp(s.ptr + s.len - n, tail, n);
}

int daemonhost_parse_user(struct slice out, struct daemonhost_user *u, struct strvec *lines,
			  struct err *e)
{
	struct slice rest = out, line, uid, gid, home;
	bool seen = false, bad = false;
	uint64_t n;

	u->changed = false;
	sbuf_reset(&u->home);
	while (rest.ptr) {
		line = slice_trim(slice_next(&rest, '\n'));
		if (!line.len) {
			continue;
		}
		if (line.len > 4 && !memcmp(line.ptr, "ids ", 4)) {
			struct slice l = slice_make(line.ptr + 4, line.len - 4);
			uint64_t g;

			uid = slice_next_word(&l);
			gid = slice_next_word(&l);
			home = slice_trim(l);
			if (seen || !slice_to_u64(uid, MAX_ID, &n) ||
			    !slice_to_u64(gid, MAX_ID, &g) || !home_ok(home)) {
				bad = true;
				continue;
			}
			u->uid = (unsigned long)n;
			u->gid = (unsigned long)g;
			sbuf_add(&u->home, home.ptr, home.len);
			seen = true;
			continue;
		}
		if (!ends_with(line, ": there") && !ends_with(line, ": in group docker")) {
			u->changed = true;
		}
		if (lines) {
			struct sbuf sb = SBUF_INIT;

			add_printable(&sb, line);
			strvec_push(lines, sb.buf);
			sbuf_release(&sb);
		}
	}
	if (!seen || bad) {
		struct sbuf shown = SBUF_INIT;

		add_printable(&shown, slice_make(out.ptr, out.len > 200 ? 200 : out.len));
		err_set(e, "unexpected answer from the set-up of user '%s': '%s'", DAEMONHOST_USER,
			shown.buf);
		sbuf_release(&shown);
		sbuf_reset(&u->home);
		return -1;
	}
	return 0;
}

void daemonhost_options(const struct daemonhost_user *u, struct sbuf *out)
{
	sbuf_addf(out, "%lu:%lu:%s", u->uid, u->gid, u->home.buf);
}

void daemonhost_run_argv(const struct daemonhost_user *u, const char *image, struct strvec *argv)
{
	struct sbuf opts = SBUF_INIT;

	daemonhost_options(u, &opts);
	strvec_pushv(argv, (const char *const[]){
			       "docker", "run", "-d", "--name", DAEMONHOST_CONTAINER, "--restart",
			       "unless-stopped", "--network", DAEMONHOST_NETWORK, "--log-opt",
			       "max-size=10m", "-v", DAEMONHOST_VOLUME ":" DAEMONHOST_STATE_DIR,
			       "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", NULL});
	strvec_pushf(argv, "%s/.ssh:" DAEMONHOST_STATE_DIR "/ssh", u->home.buf);
	strvec_push(argv, "-e");
	strvec_pushf(argv, "BERTHD_SSH_UID=%lu", u->uid);
	strvec_push(argv, "-e");
	strvec_pushf(argv, "BERTHD_SSH_GID=%lu", u->gid);
	strvec_push(argv, "-e");
	strvec_pushf(argv, "BERTHD_SSH_COMMAND=%s/" DAEMONHOST_SSH_COMMAND, u->home.buf);
	strvec_pushv(argv, (const char *const[]){"--label", DAEMONHOST_LABEL, "--label", NULL});
	strvec_pushf(argv, "berth.daemon.options=%s", opts.buf);
	strvec_pushv(argv, (const char *const[]){image, "berthd", "serve", NULL});
	sbuf_release(&opts);
}

int daemonhost_parse_answer(struct slice out, struct daemonhost_answer *a, struct err *e)
{
	static const struct {
		const char *word, *what;
		bool changed;
	} states[] = {
	    {"started", "started", true},
	    {"replaced", "replaced (another image, or other options)", true},
	    {"running", "is running", false},
	    {"restarted", "was stopped; started it again", true},
	    {"unpaused", "was paused; unpaused it", true},
	    {"restarting", "is restarting (it keeps exiting: see docker logs berthd)", false},
	};
	struct slice rest = out, line, word;
	bool seen_image = false, seen_container = false;
	unsigned nlines = 0;

	a->image_ok = a->pending = a->changed = false;
	a->what = NULL;
	while (rest.ptr && nlines++ < ANSWER_MAX_LINES) {
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
		if (slice_eq_cstr(line, "pending")) {
			a->pending = seen_container = true;
			continue;
		}
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			if (slice_eq_cstr(line, states[i].word)) {
				a->what = states[i].what;
				a->changed = states[i].changed;
				seen_container = true;
				break;
			}
		}
	}
	if (!seen_image || !seen_container || (a->pending && a->image_ok)) {
		struct sbuf shown = SBUF_INIT;

		add_printable(&shown, slice_make(out.ptr, out.len > 200 ? 200 : out.len));
		err_set(e, "unexpected answer from the berthd check: '%s'", shown.buf);
		sbuf_release(&shown);
		a->image_ok = a->pending = a->changed = false;
		a->what = NULL;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ doing it */

enum host_state {
	HOST_FAILED = 0,
	HOST_PENDING, /* the next step is due */
	HOST_DONE,
};

struct host {
	const char *name;
	enum host_state state;
	bool changed;
	struct daemonhost_user user;
	struct daemonhost_answer a;
};

struct boot {
	struct exec *ex;
	const struct daemonhost_opts *o;
	struct host *hs;
	size_t n, nfailed;
	struct sbuf msgs; /* "host 'a': why; host 'b': why" */
	struct sbuf id;	  /* the local image's ID, or "" */
};

static void say(const struct boot *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct boot *b, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	if (!b->o->progress) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	b->o->progress(sb.buf, b->o->data);
	sbuf_release(&sb);
}

static void host_fail(struct boot *b, struct host *h, struct err *he)
{
	h->state = HOST_FAILED;
	if (b->nfailed++) {
		sbuf_addstr(&b->msgs, "; ");
	}
	sbuf_addstr(&b->msgs, err_str(he));
}

/*
 * Runs one script on every host in state HOST_PENDING, each with its own
 * arguments (args_fn fills them), at once; then result_fn looks at each.
 */
typedef void (*args_fn)(struct boot *b, struct host *h, struct strvec *args);
typedef void (*result_fn)(struct boot *b, struct host *h, struct run_cmd *cmd,
			  const struct exec_script *s);

static void round_of(struct boot *b, const char *text, unsigned flags, const char *what,
		     struct slice in, args_fn args, result_fn result)
{
	struct run_cmd *cmds = xcalloc(b->n ? b->n : 1, sizeof(*cmds));
	struct run_cmd **ptrs = xcalloc(b->n ? b->n : 1, sizeof(*ptrs));
	struct strvec *argvs = xcalloc(b->n ? b->n : 1, sizeof(*argvs));
	struct exec_script *ss = xcalloc(b->n ? b->n : 1, sizeof(*ss));
	struct err he = ERR_INIT;
	size_t i, nrun = 0;

	for (i = 0; i < b->n; i++) {
		struct host *h = &b->hs[i];

		run_cmd_init(&cmds[i]);
		strvec_init(&argvs[i]);
		if (h->state != HOST_PENDING) {
			continue;
		}
		args(b, h, &argvs[i]);
		ss[i] = (struct exec_script){
		    .text = text,
		    .name = "berth-daemon",
		    .args = (const char *const *)argvs[i].v,
		    .in = in,
		    .timeout_ms = SCRIPT_TIMEOUT_MS,
		    .capture_max = CAPTURE_MAX,
		    .flags = flags,
		    .what = what,
		};
		if (exec_script_prepare(b->ex, h->name, &ss[i], &cmds[i], &he) < 0) {
			host_fail(b, h, &he);
			err_release(&he);
			continue;
		}
		ptrs[nrun++] = &cmds[i];
	}
	run_all(ptrs, nrun, 16);
	for (i = 0; i < b->n; i++) {
		if (b->hs[i].state == HOST_PENDING && cmds[i].argv.nr) {
			result(b, &b->hs[i], &cmds[i], &ss[i]);
		}
		run_cmd_release(&cmds[i]);
		strvec_clear(&argvs[i]);
	}
	err_release(&he);
	free(cmds);
	free(ptrs);
	free(argvs);
	free(ss);
}

static void user_args(struct boot *b, struct host *h, struct strvec *args)
{
	(void)b;
	(void)h;
	strvec_pushv(
	    args, (const char *const[]){DAEMONHOST_USER, DAEMONHOST_HOME, script_daemon_ssh, NULL});
}

static void user_result(struct boot *b, struct host *h, struct run_cmd *cmd,
			const struct exec_script *s)
{
	struct strvec lines = STRVEC_INIT;
	struct err he = ERR_INIT, pe = ERR_INIT;
	int rc = exec_script_result(b->ex, h->name, s, cmd, &he);
	int parsed = daemonhost_parse_user(slice_make(cmd->outbuf.buf, cmd->outbuf.len), &h->user,
					   &lines, &pe);

	/* what it did say, also when a step failed */
	for (size_t i = 0; i < lines.nr; i++) {
		say(b, "%s: %s", h->name, lines.v[i]);
	}
	h->changed |= h->user.changed;
	if (rc < 0) {
		host_fail(b, h, &he);
	} else if (parsed < 0) {
		err_prefix(&pe, "host '%s'", h->name);
		host_fail(b, h, &pe);
	}
	err_release(&pe);
	strvec_clear(&lines);
	err_release(&he);
}

static void ensure_args(struct boot *b, struct host *h, struct strvec *args)
{
	struct sbuf opts = SBUF_INIT;

	daemonhost_options(&h->user, &opts);
	strvec_pushv(args, (const char *const[]){DAEMONHOST_CONTAINER, IMAGE,
						 b->id.len ? b->id.buf : "-", opts.buf, NULL});
	daemonhost_run_argv(&h->user, IMAGE, args);
	sbuf_release(&opts);
}

static const char *ensure_what(int rc)
{
	switch (rc) {
	case 3:
		return "docker is not there";
	case 5:
		return "cannot remove the old container '" DAEMONHOST_CONTAINER "'";
	case 6:
		return "cannot run the container '" DAEMONHOST_CONTAINER "'";
	case 7:
		return "cannot start the container '" DAEMONHOST_CONTAINER "'";
	case 8:
		return "the name '" DAEMONHOST_CONTAINER "' is taken";
	default:
		return "the berthd check failed";
	}
}

static void ensure_result(struct boot *b, struct host *h, struct run_cmd *cmd,
			  const struct exec_script *s)
{
	struct exec_script named = *s;
	struct err he = ERR_INIT;

	named.what = ensure_what(cmd->status);
	if (exec_script_result(b->ex, h->name, &named, cmd, &he) < 0) {
		host_fail(b, h, &he);
	} else if (daemonhost_parse_answer(slice_make(cmd->outbuf.buf, cmd->outbuf.len), &h->a,
					   &he) < 0) {
		err_prefix(&he, "host '%s'", h->name);
		host_fail(b, h, &he);
	} else if (!h->a.pending) {
		h->state = HOST_DONE;
		h->changed |= h->a.changed;
		say(b, "%s: berthd %s (%s)", h->name, h->a.what, IMAGE);
	}
	err_release(&he);
}

static void key_args(struct boot *b, struct host *h, struct strvec *args)
{
	(void)h;
	strvec_pushv(args, (const char *const[]){DAEMONHOST_CONTAINER, b->o->key_name, NULL});
}

static void key_result(struct boot *b, struct host *h, struct run_cmd *cmd,
		       const struct exec_script *s)
{
	struct err he = ERR_INIT;
	struct slice out = slice_trim(slice_make(cmd->outbuf.buf, cmd->outbuf.len));

	if (exec_script_result(b->ex, h->name, s, cmd, &he) < 0) {
		host_fail(b, h, &he);
	} else {
		struct sbuf sb = SBUF_INIT;

		add_printable(&sb, slice_make(out.ptr, out.len > 300 ? 300 : out.len));
		say(b, "%s: %s", h->name, sb.buf);
		if (!strstr(sb.buf, ": there (")) {
			h->changed = true;
		}
		h->state = HOST_DONE;
		sbuf_release(&sb);
	}
	err_release(&he);
}

static void domain_args(struct boot *b, struct host *h, struct strvec *args)
{
	(void)h;
	strvec_pushv(args, (const char *const[]){DAEMONHOST_CONTAINER, b->o->root_domain, NULL});
}

static void domain_result(struct boot *b, struct host *h, struct run_cmd *cmd,
			  const struct exec_script *s)
{
	struct err he = ERR_INIT;
	struct slice out = slice_trim(slice_make(cmd->outbuf.buf, cmd->outbuf.len));

	if (exec_script_result(b->ex, h->name, s, cmd, &he) < 0) {
		host_fail(b, h, &he);
	} else {
		struct sbuf sb = SBUF_INIT;

		add_printable(&sb, slice_make(out.ptr, out.len > 300 ? 300 : out.len));
		say(b, "%s: %s", h->name, sb.buf);
		h->changed = true;
		h->state = HOST_DONE;
		sbuf_release(&sb);
	}
	err_release(&he);
}

/* Sends the image to the hosts that wait for it; those it cannot reach fail. */
static void send_image(struct boot *b)
{
	struct strvec need = STRVEC_INIT;
	struct transfer_opts to = {0};
	struct transfer_result tr = {0};
	struct err he = ERR_INIT, why = ERR_INIT;
	size_t i, k = 0;

	for (i = 0; i < b->n; i++) {
		if (b->hs[i].state == HOST_PENDING) {
			strvec_push(&need, b->hs[i].name);
		}
	}
	if (!need.nr) {
		goto out;
	}
	if (!b->id.len) {
		for (i = 0; i < b->n; i++) {
			if (b->hs[i].state == HOST_PENDING) {
				err_set(&why,
					"host '%s': the image '%s' is neither on the host nor "
					"here: build it with 'make image'",
					b->hs[i].name, IMAGE);
				host_fail(b, &b->hs[i], &why);
			}
		}
		goto out;
	}
	to.image = IMAGE;
	to.progress = b->o->progress;
	to.progress_data = b->o->data;
	if (transfer_image(b->ex, (const char *const *)need.v, need.nr, &to, &tr, &he) < 0 &&
	    tr.nhosts == 0) {
		for (i = 0; i < b->n; i++) {
			if (b->hs[i].state == HOST_PENDING) {
				err_set(&why, "host '%s': %s", b->hs[i].name, err_str(&he));
				host_fail(b, &b->hs[i], &why);
			}
		}
		goto out;
	}
	for (i = 0; i < b->n && k < tr.nhosts; i++) {
		if (b->hs[i].state != HOST_PENDING) {
			continue;
		}
		if (tr.hosts[k].failed) {
			host_fail(b, &b->hs[i], &tr.hosts[k].err);
		} else {
			b->hs[i].changed = true;
		}
		k++;
	}
out:
	transfer_result_release(&tr);
	strvec_clear(&need);
	err_release(&he);
	err_release(&why);
}

/* Every host not failed becomes due for the next step. */
static void next_step(struct boot *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->hs[i].state != HOST_FAILED) {
			b->hs[i].state = HOST_PENDING;
		}
	}
}

int daemonhost_boot(struct exec *ex, const char *const *hosts, size_t n,
		    const struct daemonhost_opts *o, struct err *e)
{
	struct boot b = {.ex = ex, .o = o, .n = n, .msgs = SBUF_INIT, .id = SBUF_INIT};
	struct err he = ERR_INIT;
	size_t i;
	int ret = 0;

	b.hs = xcalloc(n ? n : 1, sizeof(*b.hs));
	for (i = 0; i < n; i++) {
		b.hs[i].name = hosts[i];
		b.hs[i].state = HOST_PENDING;
		daemonhost_user_init(&b.hs[i].user);
	}
	round_of(&b, script_daemon_host, 0, "cannot set up the user '" DAEMONHOST_USER "'",
		 SLICE_NULL, user_args, user_result);
	next_step(&b);
	transfer_local_image_id(IMAGE, &b.id);
	round_of(&b, script_daemon_ensure, EXEC_SCRIPT_DOCKER, NULL, SLICE_NULL, ensure_args,
		 ensure_result);
	send_image(&b);
	/* the hosts that waited for the image get their container now */
	round_of(&b, script_daemon_ensure, EXEC_SCRIPT_DOCKER, NULL, SLICE_NULL, ensure_args,
		 ensure_result);
	for (i = 0; i < n; i++) {
		if (b.hs[i].state == HOST_PENDING) {
			err_set(&he, "host '%s': the image '%s' is still missing after sending it",
				b.hs[i].name, IMAGE);
			host_fail(&b, &b.hs[i], &he);
		}
	}
	if (o->key_name) {
		next_step(&b);
		round_of(&b, script_daemon_key, EXEC_SCRIPT_DOCKER, "cannot add the key to berthd",
			 o->key, key_args, key_result);
	}
	if (o->root_domain) {
		next_step(&b);
		round_of(&b, script_daemon_domain, EXEC_SCRIPT_DOCKER,
			 "cannot set berthd's root domain", SLICE_NULL, domain_args, domain_result);
	}
	for (i = 0; i < n; i++) {
		if (b.hs[i].state != HOST_FAILED && !b.hs[i].changed) {
			say(&b, "%s: berthd: set up already, nothing changed", b.hs[i].name);
		}
		daemonhost_user_release(&b.hs[i].user);
	}
	if (b.nfailed == 1) {
		ret = err_set(e, "%s", b.msgs.buf);
	} else if (b.nfailed) {
		ret = err_set(e, "%zu of %zu hosts failed: %s", b.nfailed, n, b.msgs.buf);
	}
	err_release(&he);
	sbuf_release(&b.msgs);
	sbuf_release(&b.id);
	free(b.hs);
	return ret;
}
