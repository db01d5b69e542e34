/* The state berth keeps on the hosts: lock, audit log, release journal. See hoststate.h. */
#include "engine/hoststate.h"
#include "engine/sftp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "lib/jtext.h"
#include "engine/scripts.h"
#include "lib/banned.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "0.1.0-dev"
#endif

#define STR_(x) #x
#define STR(x)	STR_(x)

/*
 * The scripts (engine/scripts/state-*.sh) take the app directory as $1,
 * then fixed-form arguments: our limits among them, so that the text is
 * the same whatever they are.
 */
#define LINE_MAX_ARG	 STR(HOSTSTATE_LINE_MAX)
#define JOURNAL_TRIM_ARG STR(HOSTSTATE_JOURNAL_TRIM)
#define JOURNAL_KEEP_ARG STR(HOSTSTATE_JOURNAL_KEEP)

/* ---- small helpers ---- */

static void format_time(char *buf, size_t size, long long epoch)
{
	struct tm tm;
	time_t t = (time_t)epoch;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(buf, size, "%lld", epoch);
	}
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(struct sbuf *out, const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], b64[(v >> 6) & 63], b64[v & 63]};
		sbuf_add(out, q, 4);
	}
	if (len - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], '=', '='};
		sbuf_add(out, q, 4);
	} else if (len - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], b64[(v >> 6) & 63], '='};
		sbuf_add(out, q, 4);
	}
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* Strict: length a multiple of 4, padding only at the end. Returns 0 or -1. */
static int base64_decode(struct sbuf *out, const char *s, size_t len)
{
	size_t i;

	if (len % 4) {
		return -1;
	}
	for (i = 0; i < len; i += 4) {
		int a = b64_value(s[i]), b = b64_value(s[i + 1]);
		int c = s[i + 2] == '=' ? -2 : b64_value(s[i + 2]);
		int d = s[i + 3] == '=' ? -2 : b64_value(s[i + 3]);
		unsigned v;

		if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2) ||
		    ((c == -2 || d == -2) && i + 4 != len)) {
			return -1;
		}
		v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)(c < 0 ? 0 : c) << 6 |
		    (unsigned)(d < 0 ? 0 : d);
		sbuf_addch(out, (int)(v >> 16));
		if (c >= 0) {
			sbuf_addch(out, (int)((v >> 8) & 255));
		}
		if (d >= 0) {
			sbuf_addch(out, (int)(v & 255));
		}
	}
	return 0;
}

/* Stores a message: as "message" when it is UTF-8, else as "message_base64". */
static void set_message(json_t *o, const char *msg, size_t len)
{
	json_t *j;

	if (!msg) {
		return;
	}
	j = json_stringn(msg, len);
	if (j) {
		json_object_set_new(o, "message", j);
	} else {
		struct sbuf b = SBUF_INIT;
		base64_encode(&b, (const unsigned char *)msg, len);
		json_object_set_new(o, "message_base64", json_stringn(b.buf, b.len));
		sbuf_release(&b);
	}
}

/* An owned copy of string member k (cut at a NUL inside), or NULL. */
static char *get_str(const json_t *o, const char *k)
{
	const json_t *j = json_object_get(o, k);
	return json_is_string(j) ? xstrdup(json_string_value(j)) : NULL;
}

static long long get_int(const json_t *o, const char *k, long long max)
{
	const json_t *j = json_object_get(o, k);
	long long v = json_is_integer(j) ? (long long)json_integer_value(j) : 0;
	return v < 0 || v > max ? 0 : v;
}

/* Reads "message" or "message_base64" into *msg / *len (owned; NUL-terminated). */
static void get_message(const json_t *o, char **msg, size_t *len)
{
	const json_t *j = json_object_get(o, "message");
	struct sbuf b = SBUF_INIT;

	*msg = NULL;
	*len = 0;
	if (json_is_string(j)) {
		sbuf_add(&b, json_string_value(j), json_string_length(j));
	} else if (json_is_string(j = json_object_get(o, "message_base64"))) {
		if (base64_decode(&b, json_string_value(j), json_string_length(j)) < 0) {
			sbuf_release(&b);
			return;
		}
	} else {
		return;
	}
	*msg = sbuf_detach(&b, len);
}

/* Parses one line as a JSON object; NULL when it is not one. */
static json_t *parse_object(struct slice line, struct err *e)
{
	json_error_t je;
	json_t *j;

	if (line.len > HOSTSTATE_LINE_MAX) {
		err_set(e, "line of %zu bytes is longer than %u", line.len, HOSTSTATE_LINE_MAX);
		return NULL;
	}
	j = json_loadb(line.ptr ? line.ptr : "", line.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
		       &je);
	if (!j) {
		err_set(e, "not JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(e, "not a JSON object");
		return NULL;
	}
	return j;
}

/* Appends bytes for a terminal: control bytes escaped, so a message cannot move the cursor. */
static void add_printable(struct sbuf *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n') {
			sbuf_addstr(out, "\\n");
		} else if (c == '\t') {
			sbuf_addstr(out, "\\t");
		} else if (c == '\\') {
			sbuf_addstr(out, "\\\\");
		} else if (c < 0x20 || c == 0x7f) {
			sbuf_addf(out, "\\x%02x", c);
		} else {
			sbuf_addch(out, c);
		}
	}
}

static void add_age(struct sbuf *out, long long s)
{
	if (s < 60) {
		sbuf_addf(out, "%llds", s);
	} else if (s < 3600) {
		sbuf_addf(out, "%lldm %llds", s / 60, s % 60);
	} else if (s < 86400) {
		sbuf_addf(out, "%lldh %lldm", s / 3600, s % 3600 / 60);
	} else {
		sbuf_addf(out, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	}
}

static void random_id(char *buf, size_t size)
{
	unsigned char r[8];
	size_t i, got = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, r, sizeof(r));
		got = n > 0 ? (size_t)n : 0;
		close(fd);
	}
	if (got < sizeof(r)) {
		unsigned long long x = (unsigned long long)time(NULL) ^
				       ((unsigned long long)getpid() << 32) ^ run_now_ms();
		for (i = 0; i < sizeof(r); i++) {
			r[i] = (unsigned char)(x >> (i * 8));
		}
	}
	for (i = 0; i < sizeof(r) && 2 * i + 2 < size; i++) {
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
	}
}

/* ---- setup ---- */

bool hoststate_name_ok(const char *s)
{
	size_t i;

	if (!s || !*s || *s == '.' || *s == '-' || strlen(s) > HOSTSTATE_NAME_MAX) {
		return false;
	}
	for (i = 0; s[i]; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-')) {
			return false;
		}
	}
	return true;
}

int hoststate_init(struct hoststate *hs, struct exec *ex, const char *run_dir, const char *service,
		   const char *destination, struct err *e)
{
	struct sbuf sb = SBUF_INIT;
	const char *user = getenv("USER");
	struct passwd *pw;
	char host[256];
	size_t len;

	memset(hs, 0, sizeof(*hs));
	hs->ex = ex;
	if (!hoststate_name_ok(service)) {
		return err_set(e, "'%s' cannot name an app: use letters, digits, '_', '.' and '-'",
			       service ? service : "");
	}
	if (destination && !hoststate_name_ok(destination)) {
		return err_set(
		    e, "'%s' cannot name a destination: use letters, digits, '_', '.' and '-'",
		    destination);
	}
	if (!run_dir) {
		run_dir = HOSTSTATE_RUN_DIR;
	}
	len = strlen(run_dir);
	while (len > 1 && run_dir[len - 1] == '/') {
		len--;
	}
	if (!len) {
		return err_set(e, "the run directory is empty");
	}
	hs->service = xstrdup(service);
	hs->destination = destination ? xstrdup(destination) : NULL;
	sbuf_addstr(&sb, service);
	if (destination) {
		sbuf_addf(&sb, "-%s", destination);
	}
	hs->app = sbuf_detach(&sb, NULL);
	sbuf_add(&sb, run_dir, len);
	sbuf_addf(&sb, "%sapps/%s", run_dir[len - 1] == '/' ? "" : "/", hs->app);
	hs->dir = sbuf_detach(&sb, NULL);

	if (!user || !*user) {
		pw = getpwuid(getuid());
		user = pw ? pw->pw_name : "unknown";
	}
	if (gethostname(host, sizeof(host)) < 0) {
		snprintf(host, sizeof(host), "unknown");
	}
	host[sizeof(host) - 1] = '\0';
	hs->machine = xstrdup(host);
	sbuf_addf(&sb, "%s@%s", user, host);
	hs->performer = sbuf_detach(&sb, NULL);
	return 0;
}

void hoststate_release(struct hoststate *hs)
{
	free(hs->service);
	free(hs->destination);
	free(hs->app);
	free(hs->dir);
	free(hs->performer);
	free(hs->machine);
	memset(hs, 0, sizeof(*hs));
}

/*
 * Runs script on host with args after the app directory and in on stdin.
 * Returns the script's exit status, or -1 with e set when it could not run
 * (unreachable host, timeout, a signal).
 */
static int remote(struct hoststate *hs, const char *host, const char *script,
		  const char *const *args, struct slice in, struct run_cmd *c, struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	struct exec_script sc = {
	    .text = script,
	    .name = "berth-state",
	    .in = in,
	    .timeout_ms = hs->timeout_ms ? hs->timeout_ms : 30000,
	    .capture_max = HOSTSTATE_OUTPUT_MAX,
	    .flags = EXEC_SCRIPT_STATUS,
	};
	int ret;

	strvec_push(&argv, hs->dir);
	if (args) {
		strvec_pushv(&argv, args);
	}
	sc.args = (const char *const *)argv.v;
	ret = exec_script(hs->ex, host, &sc, c, e);
	strvec_clear(&argv);
	return ret;
}

/* The SFTP session to host, or NULL. */
static struct sftp *session(struct hoststate *hs, const char *host)
{
	return hs->sftp_of ? hs->sftp_of(hs->sftp_data, host) : NULL;
}

/* "<dir>/<name>" */
static void state_path(struct sbuf *out, const struct hoststate *hs, const char *name)
{
	sbuf_reset(out);
	sbuf_addf(out, "%s/%s", hs->dir, name);
}

/*
 * Takes the lock over SFTP: the app directory made, lock/ made (atomic: of
 * two only one succeeds), holder.json written in it (atomically, 0600).
 * Returns 0 taken, 1 held by someone (the caller looks with the scripts),
 * -1 an error with e set.
 */
static int acquire_sftp(struct hoststate *hs, struct sftp *s, struct slice holder, struct err *e)
{
	struct sbuf lock = SBUF_INIT, file = SBUF_INIT;
	int r, ret = -1;

	if (sftp_mkdir_p(s, hs->dir, 0700, e) < 0) {
		goto out;
	}
	state_path(&lock, hs, "lock");
	r = sftp_mkdir(s, lock.buf, 0700, e);
	if (r == SFTP_EXISTS) {
		err_release(e);
		ret = 1;
		goto out;
	}
	if (r != 0) {
		goto out;
	}
	sbuf_addf(&file, "%s/holder.json", lock.buf);
	if (sftp_write_file(s, file.buf, holder.ptr, holder.len, 0600, SFTP_WRITE_ATOMIC, e) != 0) {
		struct err ignored = ERR_INIT;

		/* nobody may be left holding a lock that says nothing of whose it is */
		sftp_rmdir(s, lock.buf, &ignored);
		err_release(&ignored);
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&lock);
	sbuf_release(&file);
	return ret;
}

/*
 * Releases the lock with that id over SFTP: lock/ renamed away (so that no
 * other berth sees it half removed), then emptied and removed. Returns 0
 * removed, 1 none or not ours, -1 an error with e set.
 */
static int remove_sftp(struct hoststate *hs, struct sftp *s, const char *id, struct err *e)
{
	struct sbuf lock = SBUF_INIT, file = SBUF_INIT, text = SBUF_INIT, away = SBUF_INIT;
	struct sbuf needle = SBUF_INIT;
	char rnd[17];
	int r, ret = -1;

	state_path(&lock, hs, "lock");
	sbuf_addf(&file, "%s/holder.json", lock.buf);
	r = sftp_read_file(s, file.buf, HOSTSTATE_LINE_MAX, &text, e);
	if (r == SFTP_NOENT || r == SFTP_TOOBIG) {
		/* no lock, or one that is not ours as we wrote it: the scripts say which */
		err_release(e);
		ret = 2;
		goto out;
	}
	if (r != 0) {
		goto out;
	}
	sbuf_addf(&needle, "\"id\":\"%s\"", id);
	if (!strstr(text.buf, needle.buf)) {
		ret = 1;
		goto out;
	}
	random_id(rnd, sizeof(rnd));
	sbuf_addf(&away, "%s.broken.%s", lock.buf, rnd);
	r = sftp_rename(s, lock.buf, away.buf, e);
	if (r == SFTP_NOENT) {
		err_release(e);
		ret = 1;
		goto out;
	}
	if (r != 0) {
		goto out;
	}
	sbuf_reset(&file);
	sbuf_addf(&file, "%s/holder.json", away.buf);
	if (sftp_remove(s, file.buf, e) < 0 || sftp_rmdir(s, away.buf, e) < 0) {
		err_prefix(e, "the lock is released, but '%s' is left", away.buf);
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&lock);
	sbuf_release(&file);
	sbuf_release(&text);
	sbuf_release(&away);
	sbuf_release(&needle);
	return ret;
}

/* Appends line to the state file name over SFTP (0600), the app directory made first. */
static int append_sftp(struct hoststate *hs, struct sftp *s, const char *name, struct slice line,
		       struct err *e)
{
	struct sbuf path = SBUF_INIT;
	int ret = -1;

	if (sftp_mkdir_p(s, hs->dir, 0700, e) < 0) {
		goto out;
	}
	state_path(&path, hs, name);
	if (sftp_append(s, path.buf, line.ptr, line.len, 0600, e) != 0) {
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&path);
	return ret;
}

/* Sets e from a script's unexpected exit. Returns -1. */
static int script_failed(struct hoststate *hs, const char *host, const struct run_cmd *c,
			 const char *what, struct err *e)
{
	exec_explain(hs->ex, host, c, e);
	err_prefix(e, "cannot %s in '%s' on '%s'", what, hs->dir, host);
	return -1;
}

/* ---- the lock ---- */

void hoststate_lock_init(struct hoststate_lock *l)
{
	memset(l, 0, sizeof(*l));
	l->age = -1;
}

static void holder_clear(struct hoststate_lock *l)
{
	free(l->id);
	free(l->holder);
	free(l->machine);
	free(l->host);
	free(l->time);
	free(l->berth_version);
	free(l->message);
	l->id = l->holder = l->machine = l->host = l->time = l->berth_version = l->message = NULL;
	l->message_len = 0;
	l->pid = 0;
	l->epoch = 0;
}

void hoststate_lock_release(struct hoststate_lock *l)
{
	holder_clear(l);
	hoststate_lock_init(l);
}

void hoststate_holder_format(struct sbuf *out, const struct hoststate_lock *l)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "id", jtext_string(l->id));
	json_object_set_new(o, "holder", jtext_string(l->holder));
	json_object_set_new(o, "machine", jtext_string(l->machine));
	json_object_set_new(o, "host", jtext_string(l->host));
	if (l->pid > 0) {
		json_object_set_new(o, "pid", json_integer(l->pid));
	}
	json_object_set_new(o, "time", jtext_string(l->time));
	json_object_set_new(o, "epoch", json_integer(l->epoch));
	set_message(o, l->message, l->message_len);
	json_object_set_new(o, "berth", jtext_string(l->berth_version));
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	sbuf_addstr(out, s);
	free(s);
	json_decref(o);
}

int hoststate_holder_parse(struct slice in, struct hoststate_lock *l, struct err *e)
{
	json_t *o = parse_object(slice_trim(in), e);

	holder_clear(l);
	if (!o) {
		err_prefix(e, "holder.json");
		return -1;
	}
	l->id = get_str(o, "id");
	l->holder = get_str(o, "holder");
	l->machine = get_str(o, "machine");
	l->host = get_str(o, "host");
	l->time = get_str(o, "time");
	l->berth_version = get_str(o, "berth");
	l->pid = get_int(o, "pid", INT_MAX);
	l->epoch = get_int(o, "epoch", LLONG_MAX / 2);
	get_message(o, &l->message, &l->message_len);
	json_decref(o);
	return 0;
}

/* Parses "KEY N" into *v (0 when N is empty); false when the line is not that. */
static bool key_number(struct slice line, const char *key, long long *v)
{
	size_t kl = strlen(key);
	uint64_t n = 0;

	if (line.len < kl || memcmp(line.ptr, key, kl) || (line.len > kl && line.ptr[kl] != ' ')) {
		return false;
	}
	line = slice_trim(slice_from(line, kl));
	if (line.len && !slice_to_u64(line, (uint64_t)1 << 40, &n)) {
		return false;
	}
	*v = (long long)n;
	return true;
}

int hoststate_lock_parse_status(struct slice in, struct hoststate_lock *l, struct err *e)
{
	struct slice rest = in, line;
	long long now = 0, mtime = 0;

	hoststate_lock_release(l);
	line = slice_next(&rest, '\n');
	if (!line.ptr || !key_number(line, "now", &now)) {
		return err_set(e, "unexpected answer from the host: no \"now\" line");
	}
	l->host_now = now;
	if (!rest.ptr || !rest.len) {
		return 0;
	}
	line = slice_next(&rest, '\n');
	if (!key_number(line, "mtime", &mtime)) {
		return err_set(e, "unexpected answer from the host: no \"mtime\" line");
	}
	l->held = true;
	if (now && mtime) {
		l->age = now >= mtime ? now - mtime : 0;
	}
	line = slice_next(&rest, '\n');
	if (!line.ptr || !slice_eq_cstr(line, "holder")) {
		return err_set(e, "unexpected answer from the host: no \"holder\" line");
	}
	if (rest.ptr && slice_trim(rest).len) {
		struct err ignored = ERR_INIT;
		/* a holder.json that does not parse leaves a held lock with no holder */
		hoststate_holder_parse(rest, l, &ignored);
		err_release(&ignored);
	}
	return 0;
}

void hoststate_lock_judge(struct hoststate_lock *l, const char *machine)
{
	if (!l->held) {
		l->state = HOSTSTATE_HOLDER_UNKNOWN;
	} else if (!l->id && !l->holder) {
		l->state = HOSTSTATE_HOLDER_BROKEN;
	} else if (l->pid <= 0) {
		l->state = HOSTSTATE_HOLDER_MANUAL;
	} else if (l->machine && machine && !strcmp(l->machine, machine) && l->pid <= INT_MAX) {
		/* pid > 0 here: kill() with 0 or a negative pid would mean a process group */
		l->state = kill((pid_t)l->pid, 0) < 0 && errno == ESRCH ? HOSTSTATE_HOLDER_GONE
									: HOSTSTATE_HOLDER_ALIVE;
	} else {
		l->state = HOSTSTATE_HOLDER_UNKNOWN;
	}
}

bool hoststate_lock_stale(const struct hoststate_lock *l)
{
	return l->held && (l->state == HOSTSTATE_HOLDER_GONE ||
			   (l->state == HOSTSTATE_HOLDER_BROKEN && l->age > 60));
}

static const char *state_name(enum hoststate_holder_state s)
{
	switch (s) {
	case HOSTSTATE_HOLDER_ALIVE:
		return "alive";
	case HOSTSTATE_HOLDER_GONE:
		return "gone";
	case HOSTSTATE_HOLDER_MANUAL:
		return "manual";
	case HOSTSTATE_HOLDER_BROKEN:
		return "broken";
	case HOSTSTATE_HOLDER_UNKNOWN:
		break;
	}
	return "unknown";
}

void hoststate_lock_describe(struct sbuf *out, const struct hoststate_lock *l)
{
	const char *h = l->holder ? l->holder : "an unknown holder";

	if (!l->held) {
		sbuf_addstr(out, "not held");
		return;
	}
	if (l->state == HOSTSTATE_HOLDER_BROKEN) {
		sbuf_addstr(out, "held, but its holder.json is missing or unreadable");
	} else {
		sbuf_addstr(out, "held by ");
		add_printable(out, h, strlen(h));
	}
	if (l->host) {
		sbuf_addstr(out, " on ");
		add_printable(out, l->host, strlen(l->host));
	}
	if (l->time) {
		sbuf_addstr(out, " since ");
		add_printable(out, l->time, strlen(l->time));
	}
	if (l->age >= 0) {
		sbuf_addstr(out, " (");
		add_age(out, l->age);
		sbuf_addstr(out, " ago)");
	}
	if (l->pid > 0) {
		sbuf_addf(out, ", pid %lld", l->pid);
		if (l->state == HOSTSTATE_HOLDER_GONE) {
			sbuf_addstr(out, " (gone: the lock is stale)");
		} else if (l->state == HOSTSTATE_HOLDER_ALIVE) {
			sbuf_addstr(out, " (running)");
		}
	} else if (hoststate_lock_stale(l)) {
		sbuf_addstr(out, " (stale)");
	}
	if (l->message) {
		sbuf_addstr(out, ": ");
		add_printable(out, l->message, l->message_len);
	}
}

json_t *hoststate_lock_json(const struct hoststate_lock *l)
{
	json_t *o = json_object();

	json_object_set_new(o, "held", json_boolean(l->held));
	if (!l->held) {
		return o;
	}
	json_object_set_new(o, "holder", jtext_string(l->holder));
	json_object_set_new(o, "machine", jtext_string(l->machine));
	json_object_set_new(o, "host", jtext_string(l->host));
	json_object_set_new(o, "pid", l->pid > 0 ? json_integer(l->pid) : json_null());
	json_object_set_new(o, "time", jtext_string(l->time));
	json_object_set_new(o, "age", l->age >= 0 ? json_integer(l->age) : json_null());
	json_object_set_new(o, "state", json_string(state_name(l->state)));
	json_object_set_new(o, "stale", json_boolean(hoststate_lock_stale(l)));
	set_message(o, l->message, l->message_len);
	json_object_set_new(o, "berth", jtext_string(l->berth_version));
	json_object_set_new(o, "id", jtext_string(l->id));
	return o;
}

int hoststate_lock_status(struct hoststate *hs, const char *host, struct hoststate_lock *l,
			  struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int st = remote(hs, host, script_state_status, (const char *[]){LINE_MAX_ARG, NULL},
			SLICE_NULL, &c, e),
	    ret = -1;

	if (st < 0) {
		goto out;
	}
	if (st != 0) {
		script_failed(hs, host, &c, "read the lock", e);
		goto out;
	}
	if (hoststate_lock_parse_status(slice_make(c.outbuf.buf, c.outbuf.len), l, e) < 0) {
		err_prefix(e, "host '%s'", host);
		goto out;
	}
	hoststate_lock_judge(l, hs->machine);
	ret = 0;
out:
	run_cmd_release(&c);
	return ret;
}

int hoststate_lock_remove(struct hoststate *hs, const char *host, const char *id,
			  struct hoststate_lock *was, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct hoststate_lock tmp;
	int st, ret = -1;

	hoststate_lock_init(&tmp);
	if (id && (!*id || strspn(id, "0123456789abcdef") != strlen(id))) {
		err_set(e, "'%s' is not a lock id", id);
		goto out;
	}
	/* our own lock, released: over SFTP when there is a session */
	if (id && !was && session(hs, host)) {
		st = remove_sftp(hs, session(hs, host), id, e);
		if (st < 0) {
			err_prefix(e, "cannot release the lock in '%s' on '%s'", hs->dir, host);
			goto out;
		}
		if (st < 2) {
			ret = st;
			goto out;
		}
	}
	st = remote(hs, host, script_state_remove,
		    (const char *[]){id ? id : "", LINE_MAX_ARG, NULL}, SLICE_NULL, &c, e);
	if (st < 0) {
		goto out;
	}
	if (st != 0 && st != 5 && st != 6) {
		script_failed(hs, host, &c, "release the lock", e);
		goto out;
	}
	if (hoststate_lock_parse_status(slice_make(c.outbuf.buf, c.outbuf.len), &tmp, e) < 0) {
		err_prefix(e, "host '%s'", host);
		goto out;
	}
	hoststate_lock_judge(&tmp, hs->machine);
	if (was) {
		hoststate_lock_release(was);
		*was = tmp;
		hoststate_lock_init(&tmp);
	}
	ret = st == 0 ? 0 : 1;
out:
	hoststate_lock_release(&tmp);
	run_cmd_release(&c);
	return ret;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

int hoststate_lock_acquire(struct hoststate *hs, const char *host,
			   const struct hoststate_lock_opts *o, struct hoststate_lock *mine,
			   struct hoststate_lock *other, struct err *e)
{
	unsigned long long deadline = run_now_ms() + (unsigned long long)o->wait_s * 1000;
	struct hoststate_lock me, held;
	struct sbuf holder = SBUF_INIT, desc = SBUF_INIT;
	char id[17] = "", when[32];
	unsigned breaks = 0;
	bool told = false;
	int ret = -1;

	hoststate_lock_init(&me);
	hoststate_lock_init(&held);
	if (o->message_len > HOSTSTATE_MESSAGE_MAX) {
		err_set(e, "the lock message has %zu bytes; at most %u fit", o->message_len,
			HOSTSTATE_MESSAGE_MAX);
		goto out;
	}
	random_id(id, sizeof(id));
	me.held = true;
	me.id = xstrdup(id);
	me.holder = xstrdup(hs->performer);
	me.machine = xstrdup(hs->machine);
	me.host = xstrdup(host);
	me.pid = o->tie_to_process ? (long long)getpid() : 0;
	me.epoch = (long long)time(NULL);
	format_time(when, sizeof(when), me.epoch);
	me.time = xstrdup(when);
	me.berth_version = xstrdup(BERTH_VERSION);
	if (o->message) {
		me.message = xmalloc(o->message_len + 1);
		memcpy(me.message, o->message, o->message_len);
		me.message[o->message_len] = '\0';
		me.message_len = o->message_len;
	}
	hoststate_holder_format(&holder, &me);
	sbuf_addch(&holder, '\n');

	for (;;) {
		struct run_cmd c = RUN_CMD_INIT;
		struct sftp *s = session(hs, host);
		int st;

		if (s) {
			/* the usual case, free over SFTP; a held lock is looked at below */
			st = acquire_sftp(hs, s, slice_make(holder.buf, holder.len), e);
			if (st < 0) {
				err_prefix(e, "cannot take the lock in '%s' on '%s'", hs->dir,
					   host);
				goto out;
			}
			if (st == 0) {
				ret = 0;
				break;
			}
		}
		st = remote(hs, host, script_state_acquire, (const char *[]){LINE_MAX_ARG, NULL},
			    slice_make(holder.buf, holder.len), &c, e);

		if (st == 4 && hoststate_lock_parse_status(slice_make(c.outbuf.buf, c.outbuf.len),
							   &held, e) < 0) {
			err_prefix(e, "host '%s'", host);
			st = -1;
		}
		if (st != 0 && st != 4 && st >= 0) {
			script_failed(hs, host, &c, "take the lock", e);
			st = -1;
		}
		run_cmd_release(&c);
		if (st < 0) {
			goto out;
		}
		if (st == 0) {
			ret = 0;
			break;
		}
		hoststate_lock_judge(&held, hs->machine);
		if (o->break_stale && hoststate_lock_stale(&held) && breaks++ < 3) {
			if (hoststate_lock_remove(hs, host, held.id, NULL, e) < 0) {
				goto out;
			}
			continue;
		}
		if (run_now_ms() < deadline) {
			unsigned long long left = deadline - run_now_ms();
			if (!told && o->on_wait) {
				o->on_wait(&held, o->on_wait_data);
			}
			told = true;
			sleep_ms(left < 1000 ? (unsigned)left : 1000);
			continue;
		}
		hoststate_lock_describe(&desc, &held);
		err_set(e, "the deploy lock of '%s' on '%s' is %s", hs->app, host, desc.buf);
		ret = 1;
		break;
	}
out:
	if (ret == 0 && mine) {
		hoststate_lock_release(mine);
		*mine = me;
		hoststate_lock_init(&me);
	}
	if (ret == 1 && other) {
		hoststate_lock_release(other);
		*other = held;
		hoststate_lock_init(&held);
	}
	hoststate_lock_release(&me);
	hoststate_lock_release(&held);
	sbuf_release(&holder);
	sbuf_release(&desc);
	return ret;
}

/* ---- the audit log ---- */

void hoststate_audit_init(struct hoststate_audit *a)
{
	memset(a, 0, sizeof(*a));
}

void hoststate_audit_release(struct hoststate_audit *a)
{
	size_t i;

	for (i = 0; i < a->nr; i++) {
		struct hoststate_audit_entry *en = &a->v[i];
		free(en->time);
		free(en->performer);
		free(en->destination);
		free(en->host);
		free(en->message);
		free(en->raw);
	}
	free(a->v);
	hoststate_audit_init(a);
}

void hoststate_audit_format(struct sbuf *out, const struct hoststate *hs, const char *host,
			    long long epoch, const char *message, size_t message_len)
{
	json_t *o = json_object();
	char when[32], *s;

	format_time(when, sizeof(when), epoch);
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "epoch", json_integer(epoch));
	json_object_set_new(o, "performer", jtext_string(hs->performer));
	json_object_set_new(o, "destination", jtext_string(hs->destination));
	json_object_set_new(o, "host", jtext_string(host));
	set_message(o, message ? message : "", message ? message_len : 0);
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	sbuf_addstr(out, s);
	sbuf_addch(out, '\n');
	free(s);
	json_decref(o);
}

/* Splits in into lines; calls fn on the last max non-empty ones, counting the rest in *skipped. */
static void each_line(struct slice in, size_t max, size_t *skipped,
		      void (*fn)(struct slice line, void *data), void *data)
{
	struct slice rest = in, line;
	size_t total = 0, i = 0;

	while (rest.ptr && rest.len) {
		line = slice_next(&rest, '\n');
		total += line.len > 0;
	}
	rest = in;
	while (rest.ptr && rest.len) {
		line = slice_next(&rest, '\n');
		if (!line.len) {
			continue;
		}
		if (total - i++ > max || line.len > HOSTSTATE_LINE_MAX) {
			(*skipped)++;
			continue;
		}
		fn(line, data);
	}
}

static void audit_line(struct slice line, void *data)
{
	struct hoststate_audit *a = data;
	struct hoststate_audit_entry *en;
	json_t *o = parse_object(line, NULL);

	XGROW(a->v, a->alloc, a->nr + 1);
	en = &a->v[a->nr++];
	memset(en, 0, sizeof(*en));
	if (!o) {
		en->raw = slice_dup(line);
		return;
	}
	en->time = get_str(o, "time");
	en->epoch = get_int(o, "epoch", LLONG_MAX / 2);
	en->performer = get_str(o, "performer");
	en->destination = get_str(o, "destination");
	en->host = get_str(o, "host");
	get_message(o, &en->message, &en->message_len);
	json_decref(o);
}

void hoststate_audit_parse(struct slice in, struct hoststate_audit *a)
{
	each_line(in, HOSTSTATE_ENTRIES_MAX, &a->skipped, audit_line, a);
}

void hoststate_audit_describe(struct sbuf *out, const struct hoststate_audit_entry *en)
{
	if (en->raw) {
		add_printable(out, en->raw, strlen(en->raw));
		return;
	}
	add_printable(out, en->time ? en->time : "-", strlen(en->time ? en->time : "-"));
	sbuf_addch(out, ' ');
	add_printable(out, en->performer ? en->performer : "-",
		      strlen(en->performer ? en->performer : "-"));
	if (en->destination) {
		sbuf_addstr(out, " [");
		add_printable(out, en->destination, strlen(en->destination));
		sbuf_addch(out, ']');
	}
	sbuf_addch(out, ' ');
	if (en->message) {
		add_printable(out, en->message, en->message_len);
	}
}

json_t *hoststate_audit_json(const struct hoststate_audit_entry *en)
{
	json_t *o = json_object();

	if (en->raw) {
		json_object_set_new(o, "raw", jtext_string(en->raw));
		return o;
	}
	json_object_set_new(o, "time", jtext_string(en->time));
	json_object_set_new(o, "performer", jtext_string(en->performer));
	json_object_set_new(o, "destination", jtext_string(en->destination));
	json_object_set_new(o, "host", jtext_string(en->host));
	set_message(o, en->message, en->message_len);
	return o;
}

int hoststate_audit_append(struct hoststate *hs, const char *const *hosts, size_t nhosts,
			   const char *message, size_t message_len, struct err *e)
{
	struct run_cmd *cmds = xcalloc(nhosts ? nhosts : 1, sizeof(*cmds));
	struct run_cmd **ptrs = xcalloc(nhosts ? nhosts : 1, sizeof(*ptrs));
	struct sbuf *lines = xcalloc(nhosts ? nhosts : 1, sizeof(*lines));
	struct strvec failed = STRVEC_INIT;
	struct err first = ERR_INIT;
	struct exec_script sc = {
	    .text = script_state_audit_append,
	    .name = "berth-state",
	    .timeout_ms = hs->timeout_ms ? hs->timeout_ms : 30000,
	    .capture_max = HOSTSTATE_OUTPUT_MAX,
	};
	long long now = (long long)time(NULL);
	size_t i, n = 0;
	int ret = 0;

	if (message_len > HOSTSTATE_MESSAGE_MAX) {
		ret = err_set(e, "the audit message has %zu bytes; at most %u fit", message_len,
			      HOSTSTATE_MESSAGE_MAX);
		goto out;
	}
	sc.args = (const char *const[]){hs->dir, NULL};
	for (i = 0; i < nhosts; i++) {
		struct run_cmd *c = &cmds[i];

		run_cmd_init(c);
		sbuf_init(&lines[i], 0);
		hoststate_audit_format(&lines[i], hs, hosts[i], now, message, message_len);
		if (session(hs, hosts[i])) {
			struct err se = ERR_INIT;

			/* one request over the open session; nothing to run */
			if (append_sftp(hs, session(hs, hosts[i]), "audit.log",
					slice_make(lines[i].buf, lines[i].len), &se) < 0) {
				if (!err_isset(&first)) {
					err_set(&first, "%s", err_str(&se));
				}
				strvec_push(&failed, hosts[i]);
			}
			err_release(&se);
			c->status = 0;
			c->started = true;
			continue;
		}
		/* each host's line names it: one stdin each */
		sc.in = slice_make(lines[i].buf, lines[i].len);
		if (exec_script_prepare(hs->ex, hosts[i], &sc, c, &first) < 0) {
			c->status = -1;
			continue;
		}
		ptrs[n++] = c;
	}
	run_all(ptrs, n, 16);
	for (i = 0; i < nhosts; i++) {
		struct err he = ERR_INIT;

		if (session(hs, hosts[i])) {
			continue;
		}
		if (cmds[i].started &&
		    exec_script_result(hs->ex, hosts[i], &sc, &cmds[i], &he) == 0) {
			continue;
		}
		if (cmds[i].started && !err_isset(&first)) {
			err_set(&first, "%s", err_str(&he));
		}
		err_release(&he);
		strvec_push(&failed, hosts[i]);
	}
	if (failed.nr) {
		char *list = strvec_join(&failed, "', '");
		ret = err_set(e, "cannot write the audit log on '%s': %s", list, err_str(&first));
		free(list);
	}
out:
	for (i = 0; i < nhosts; i++) {
		run_cmd_release(&cmds[i]);
		sbuf_release(&lines[i]);
	}
	free(cmds);
	free(ptrs);
	free(lines);
	strvec_clear(&failed);
	err_release(&first);
	return ret;
}

int hoststate_audit_read(struct hoststate *hs, const char *host, unsigned n,
			 struct hoststate_audit *a, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	char num[16];
	int st, ret = -1;

	if (!n || n > HOSTSTATE_AUDIT_LINES_MAX) {
		n = n ? HOSTSTATE_AUDIT_LINES_MAX : 1;
	}
	snprintf(num, sizeof(num), "%u", n);
	st = remote(hs, host, script_state_audit_read, (const char *[]){num, NULL}, SLICE_NULL, &c,
		    e);
	if (st < 0) {
		goto out;
	}
	if (st != 0) {
		script_failed(hs, host, &c, "read the audit log", e);
		goto out;
	}
	hoststate_audit_parse(slice_make(c.outbuf.buf, c.outbuf.len), a);
	ret = 0;
out:
	run_cmd_release(&c);
	return ret;
}

/* ---- the release journal ---- */

void hoststate_releases_init(struct hoststate_releases *r)
{
	memset(r, 0, sizeof(*r));
}

void hoststate_release_clear(struct hoststate_release *r)
{
	free(r->time);
	free(r->service);
	free(r->destination);
	free(r->role);
	free(r->version);
	free(r->container);
	free(r->status);
	free(r->performer);
	memset(r, 0, sizeof(*r));
}

void hoststate_releases_release(struct hoststate_releases *r)
{
	size_t i;

	for (i = 0; i < r->nr; i++) {
		hoststate_release_clear(&r->v[i]);
	}
	free(r->v);
	hoststate_releases_init(r);
}

json_t *hoststate_release_json(const struct hoststate_release *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "time", jtext_string(r->time));
	json_object_set_new(o, "epoch", json_integer(r->epoch));
	json_object_set_new(o, "service", jtext_string(r->service));
	json_object_set_new(o, "destination", jtext_string(r->destination));
	json_object_set_new(o, "role", jtext_string(r->role));
	json_object_set_new(o, "version", jtext_string(r->version));
	json_object_set_new(o, "container", jtext_string(r->container));
	json_object_set_new(o, "status", jtext_string(r->status));
	json_object_set_new(o, "performer", jtext_string(r->performer));
	return o;
}

void hoststate_release_format(struct sbuf *out, const struct hoststate_release *r)
{
	json_t *o = hoststate_release_json(r);
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);

	sbuf_addstr(out, s);
	sbuf_addch(out, '\n');
	free(s);
	json_decref(o);
}

struct journal_parse {
	struct hoststate_release *all; /* file order */
	size_t nr, alloc;
	bool ok_only;
	size_t skipped;
};

static void journal_line(struct slice line, void *data)
{
	struct journal_parse *p = data;
	struct hoststate_release r = {0};
	json_t *o = parse_object(line, NULL);

	if (!o) {
		p->skipped++;
		return;
	}
	r.version = get_str(o, "version");
	r.status = get_str(o, "status");
	if (!r.version || !*r.version) {
		p->skipped++;
		goto out;
	}
	if (p->ok_only && (!r.status || strcmp(r.status, "ok"))) {
		goto out;
	}
	r.time = get_str(o, "time");
	r.epoch = get_int(o, "epoch", LLONG_MAX / 2);
	r.service = get_str(o, "service");
	r.destination = get_str(o, "destination");
	r.role = get_str(o, "role");
	r.container = get_str(o, "container");
	r.performer = get_str(o, "performer");
	XGROW(p->all, p->alloc, p->nr + 1);
	p->all[p->nr++] = r;
	memset(&r, 0, sizeof(r));
out:
	hoststate_release_clear(&r);
	json_decref(o);
}

void hoststate_journal_parse(struct slice in, bool ok_only, struct hoststate_releases *out)
{
	struct journal_parse p = {.ok_only = ok_only};
	size_t i, j;

	/* the journal is kept under HOSTSTATE_JOURNAL_TRIM lines: more is not one of ours */
	each_line(in, 2 * HOSTSTATE_JOURNAL_TRIM, &p.skipped, journal_line, &p);
	out->skipped += p.skipped;
	for (i = p.nr; i-- > 0;) {
		bool seen = false;
		for (j = 0; j < out->nr && !seen; j++) {
			seen = !strcmp(out->v[j].version, p.all[i].version);
		}
		if (seen) {
			hoststate_release_clear(&p.all[i]);
			continue;
		}
		XGROW(out->v, out->alloc, out->nr + 1);
		out->v[out->nr++] = p.all[i];
	}
	free(p.all);
}

/*
 * Appends line to the journal over SFTP; past HOSTSTATE_JOURNAL_TRIM lines,
 * the last HOSTSTATE_JOURNAL_KEEP replace it (atomically), as the script does.
 * Lines are counted only once the file is big enough to hold that many.
 */
static int journal_append_sftp(struct hoststate *hs, struct sftp *s, struct slice line,
			       struct err *e)
{
	struct sbuf path = SBUF_INIT, text = SBUF_INIT;
	struct sftp_attrs a;
	size_t nl = 0, i, keep_from = 0;
	int r, ret = -1;

	if (append_sftp(hs, s, "releases.jsonl", line, e) < 0) {
		goto out;
	}
	state_path(&path, hs, "releases.jsonl");
	if (sftp_stat(s, path.buf, &a, e) != 0) {
		goto out;
	}
	/* a journal line is over 64 bytes: fewer bytes than this cannot be too many lines */
	if (a.size < (uint64_t)HOSTSTATE_JOURNAL_TRIM * 64) {
		ret = 0;
		goto out;
	}
	r = sftp_read_file(s, path.buf, HOSTSTATE_OUTPUT_MAX, &text, e);
	if (r != 0 && r != SFTP_TOOBIG) {
		goto out;
	}
	err_release(e);
	for (i = 0; i < text.len; i++) {
		nl += text.buf[i] == '\n';
	}
	if (nl <= HOSTSTATE_JOURNAL_TRIM) {
		ret = 0;
		goto out;
	}
	for (i = 0, nl -= HOSTSTATE_JOURNAL_KEEP; i < text.len && nl; i++) {
		if (text.buf[i] == '\n' && !--nl) {
			keep_from = i + 1;
		}
	}
	if (sftp_write_file(s, path.buf, text.buf + keep_from, text.len - keep_from, 0600,
			    SFTP_WRITE_ATOMIC, e) != 0) {
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&path);
	sbuf_release(&text);
	return ret;
}

int hoststate_journal_append(struct hoststate *hs, const char *host,
			     const struct hoststate_release *r, struct err *e)
{
	struct hoststate_release full = *r;
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf line = SBUF_INIT;
	char when[32];
	int st, ret = -1;

	if (!r->version || !*r->version) {
		return err_set(e, "a release needs a version");
	}
	if (!full.epoch) {
		full.epoch = (long long)time(NULL);
	}
	if (!full.time) {
		format_time(when, sizeof(when), full.epoch);
		full.time = when;
	}
	if (!full.service) {
		full.service = hs->service;
	}
	if (!full.destination) {
		full.destination = hs->destination;
	}
	if (!full.performer) {
		full.performer = hs->performer;
	}
	if (!full.status) {
		full.status = "ok";
	}
	hoststate_release_format(&line, &full);
	if (line.len > HOSTSTATE_LINE_MAX) {
		err_set(e, "the journal line has %zu bytes; at most %u fit", line.len,
			HOSTSTATE_LINE_MAX);
		goto out;
	}
	if (session(hs, host)) {
		ret = journal_append_sftp(hs, session(hs, host), slice_make(line.buf, line.len), e);
		if (ret < 0) {
			err_prefix(e, "cannot write the release journal in '%s' on '%s'", hs->dir,
				   host);
		}
		goto out;
	}
	st = remote(hs, host, script_state_journal_append,
		    (const char *[]){JOURNAL_TRIM_ARG, JOURNAL_KEEP_ARG, NULL},
		    slice_make(line.buf, line.len), &c, e);
	if (st < 0) {
		goto out;
	}
	if (st != 0) {
		script_failed(hs, host, &c, "write the release journal", e);
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&line);
	run_cmd_release(&c);
	return ret;
}

int hoststate_journal_list(struct hoststate *hs, const char *host, bool ok_only,
			   struct hoststate_releases *out, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int st = remote(hs, host, script_state_journal_read,
			(const char *[]){JOURNAL_TRIM_ARG, NULL}, SLICE_NULL, &c, e),
	    ret = -1;

	if (st < 0) {
		goto out;
	}
	if (st != 0) {
		script_failed(hs, host, &c, "read the release journal", e);
		goto out;
	}
	hoststate_journal_parse(slice_make(c.outbuf.buf, c.outbuf.len), ok_only, out);
	ret = 0;
out:
	run_cmd_release(&c);
	return ret;
}
