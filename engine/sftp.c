#include "sftp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"
#include "lib/xalloc.h"

#define MSG_SHOWN_MAX  200  /* bytes of a server's message or stderr line shown */
#define FINISH_DEAD_MS 2000 /* for a child whose end of file was seen: it is exiting */

/* ---- encoding what we send ---- */

static void put_u8(struct sbuf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;

	sbuf_add(b, &c, 1);
}

static void put_u32(struct sbuf *b, uint32_t v)
{
	unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};

	sbuf_add(b, p, 4);
}

static void put_u64(struct sbuf *b, uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b, (uint32_t)v);
}

static void put_bytes(struct sbuf *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	sbuf_add(b, p, n);
}

static void put_str(struct sbuf *b, const char *s)
{
	put_bytes(b, s, strlen(s));
}

/* ATTRS with permissions only, or none (mode 0). */
static void put_mode(struct sbuf *b, unsigned mode)
{
	if (mode) {
		put_u32(b, SFTP_ATTR_PERMISSIONS);
		put_u32(b, mode & 07777);
	} else {
		put_u32(b, 0);
	}
}

/* ---- the parser: untrusted bytes to values ---- */

struct cur {
	const unsigned char *p;
	size_t left;
};

static bool get_u8(struct cur *c, uint8_t *v)
{
	if (c->left < 1) {
		return false;
	}
	*v = c->p[0];
	c->p++;
	c->left--;
	return true;
}

static bool get_u32(struct cur *c, uint32_t *v)
{
	if (c->left < 4) {
		return false;
	}
	*v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 |
	     (uint32_t)c->p[3];
	c->p += 4;
	c->left -= 4;
	return true;
}

static bool get_u64(struct cur *c, uint64_t *v)
{
	uint32_t hi, lo;

	if (c->left < 8) {
		return false;
	}
	get_u32(c, &hi);
	get_u32(c, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

/* A string: its length is checked against the bytes there before anything is taken. */
static bool get_str(struct cur *c, struct slice *s)
{
	uint32_t n;
	struct cur save = *c;

	if (!get_u32(c, &n) || n > c->left) {
		*c = save;
		return false;
	}
	*s = slice_make((const char *)c->p, n);
	c->p += n;
	c->left -= n;
	return true;
}

static int parse_attrs(struct cur *c, struct sftp_attrs *a, struct err *e)
{
	uint32_t count, i;

	memset(a, 0, sizeof(*a));
	if (!get_u32(c, &a->flags)) {
		return err_set(e, "attributes cut short");
	}
	if ((a->flags & SFTP_ATTR_SIZE) && !get_u64(c, &a->size)) {
		return err_set(e, "attributes cut short in the size");
	}
	if ((a->flags & SFTP_ATTR_UIDGID) && (!get_u32(c, &a->uid) || !get_u32(c, &a->gid))) {
		return err_set(e, "attributes cut short in uid and gid");
	}
	if ((a->flags & SFTP_ATTR_PERMISSIONS) && !get_u32(c, &a->mode)) {
		return err_set(e, "attributes cut short in the permissions");
	}
	if ((a->flags & SFTP_ATTR_ACMODTIME) &&
	    (!get_u32(c, &a->atime) || !get_u32(c, &a->mtime))) {
		return err_set(e, "attributes cut short in the times");
	}
	if (a->flags & SFTP_ATTR_EXTENDED) {
		if (!get_u32(c, &count)) {
			return err_set(e, "attributes cut short in the extended count");
		}
		/* each pair takes 8 bytes at least: a count past that is a lie */
		if (count > c->left / 8) {
			return err_set(e, "attributes claim %u extended pairs in %zu bytes", count,
				       c->left);
		}
		for (i = 0; i < count; i++) {
			struct slice k, v;
			if (!get_str(c, &k) || !get_str(c, &v)) {
				return err_set(e, "attributes cut short in extended pair %u", i);
			}
		}
	}
	return 0;
}

int sftp_parse_attrs(struct slice in, struct sftp_attrs *a, size_t *used, struct err *e)
{
	struct cur c = {(const unsigned char *)in.ptr, in.len};

	if (parse_attrs(&c, a, e) < 0) {
		return -1;
	}
	if (used) {
		*used = in.len - c.left;
	}
	return 0;
}

long sftp_packet_len(const unsigned char hdr[4])
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		     (uint32_t)hdr[3];

	return n >= 1 && n <= SFTP_MAX_PACKET ? (long)n : -1;
}

int sftp_parse_version(struct slice pkt, struct sftp_version *v, struct err *e)
{
	struct cur c = {(const unsigned char *)pkt.ptr, pkt.len};
	uint8_t type;

	memset(v, 0, sizeof(*v));
	if (!get_u8(&c, &type) || type != SFTP_FXP_VERSION) {
		return err_set(e, "expected SSH_FXP_VERSION, got packet type %u",
			       pkt.len ? (unsigned)(unsigned char)pkt.ptr[0] : 0u);
	}
	if (!get_u32(&c, &v->version)) {
		return err_set(e, "SSH_FXP_VERSION cut short");
	}
	while (c.left) {
		struct slice name, data;
		if (!get_str(&c, &name) || !get_str(&c, &data)) {
			err_set(e, "SSH_FXP_VERSION: extension %zu cut short", v->nr_exts + 1);
			memset(v, 0, sizeof(*v));
			return -1;
		}
		v->nr_exts++;
		/* "Clients MUST check the version number before attempting to use the extension."
		 */
		if (slice_eq_cstr(name, "posix-rename@openssh.com") && slice_eq_cstr(data, "1")) {
			v->exts |= SFTP_EXT_POSIX_RENAME;
		} else if (slice_eq_cstr(name, "fsync@openssh.com") && slice_eq_cstr(data, "1")) {
			v->exts |= SFTP_EXT_FSYNC;
		} else if (slice_eq_cstr(name, "statvfs@openssh.com") && slice_eq_cstr(data, "2")) {
			v->exts |= SFTP_EXT_STATVFS;
		}
	}
	return 0;
}

int sftp_parse_reply(struct slice pkt, struct sftp_reply *r, struct err *e)
{
	struct cur c = {(const unsigned char *)pkt.ptr, pkt.len};
	uint32_t i;

	memset(r, 0, sizeof(*r));
	if (!get_u8(&c, &r->type) || !get_u32(&c, &r->id)) {
		goto short_;
	}
	switch (r->type) {
	case SFTP_FXP_STATUS:
		if (!get_u32(&c, &r->code)) {
			goto short_;
		}
		/* message and language tag: version 3 has them; an older server may not */
		if (c.left && !get_str(&c, &r->msg)) {
			goto short_;
		}
		break;
	case SFTP_FXP_HANDLE:
		if (!get_str(&c, &r->data)) {
			goto short_;
		}
		if (!r->data.len || r->data.len > SFTP_HANDLE_MAX) {
			err_set(e, "a handle of %zu bytes (1 to %d allowed)", r->data.len,
				SFTP_HANDLE_MAX);
			goto fail;
		}
		break;
	case SFTP_FXP_DATA:
		if (!get_str(&c, &r->data)) {
			goto short_;
		}
		break;
	case SFTP_FXP_NAME:
		if (!get_u32(&c, &r->count)) {
			goto short_;
		}
		/* a name takes 12 bytes at least (two empty strings, attribute flags) */
		if (r->count > c.left / 12) {
			err_set(e, "SSH_FXP_NAME claims %u names in %zu bytes", r->count, c.left);
			goto fail;
		}
		for (i = 0; i < r->count; i++) {
			struct slice name, longname;
			struct sftp_attrs a;
			if (!get_str(&c, &name) || !get_str(&c, &longname) ||
			    parse_attrs(&c, &a, NULL) < 0) {
				err_set(e, "SSH_FXP_NAME cut short in name %u", i);
				goto fail;
			}
			if (i == 0) {
				r->data = name;
				r->attrs = a;
			}
		}
		break;
	case SFTP_FXP_ATTRS:
		if (parse_attrs(&c, &r->attrs, e) < 0) {
			goto fail;
		}
		break;
	case SFTP_FXP_EXTENDED_REPLY:
		r->data = slice_make((const char *)c.p, c.left);
		break;
	default:
		err_set(e, "unexpected packet type %u", r->type);
		goto fail;
	}
	return 0;
short_:
	err_set(e, "packet of type %u cut short (%zu bytes)", r->type, pkt.len);
fail:
	memset(r, 0, sizeof(*r));
	return -1;
}

/* ---- messages ---- */

/* Untrusted bytes for a message: printable ASCII kept, the rest escaped, cut at max. */
static void add_shown(struct sbuf *out, struct slice s, size_t max)
{
	size_t i;

	for (i = 0; i < s.len && i < max; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];
		if (ch >= 0x20 && ch < 0x7f) {
			sbuf_addch(out, ch);
		} else {
			sbuf_addf(out, "\\x%02x", ch);
		}
	}
	if (s.len > max) {
		sbuf_addstr(out, "...");
	}
}

static const char *status_name(uint32_t code)
{
	static const char *const names[] = {
	    "Success",	   "End of file",   "No such file",    "Permission denied",	"Failure",
	    "Bad message", "No connection", "Connection lost", "Operation unsupported",
	};

	return code < sizeof(names) / sizeof(names[0]) ? names[code] : NULL;
}

/* What one operation is, for its messages: "sftp mkdir .berth/x/lock: ...". */
struct op {
	const char *name;
	const char *path;
	const char *path2; /* rename's target, or NULL */
	struct err *e;
};

static int op_fail(const struct op *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int op_fail(const struct op *o, const char *fmt, ...)
{
	struct sbuf msg = SBUF_INIT;
	va_list ap;

	sbuf_addf(&msg, "sftp %s ", o->name);
	add_shown(&msg, slice_cstr(o->path), SFTP_PATH_MAX);
	if (o->path2) {
		sbuf_addstr(&msg, " -> ");
		add_shown(&msg, slice_cstr(o->path2), SFTP_PATH_MAX);
	}
	sbuf_addstr(&msg, ": ");
	va_start(ap, fmt);
	sbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	err_set(o->e, "%s", msg.buf);
	sbuf_release(&msg);
	return -1;
}

/* The server's status as an error: its own words when it gave some. */
static int op_status(const struct op *o, const struct sftp_reply *r)
{
	struct sbuf why = SBUF_INIT;
	const char *name = status_name(r->code);

	if (r->msg.len) {
		add_shown(&why, r->msg, MSG_SHOWN_MAX);
	} else if (name) {
		sbuf_addstr(&why, name);
	} else {
		sbuf_addf(&why, "status %u", r->code);
	}
	op_fail(o, "%s", why.buf);
	sbuf_release(&why);
	return -1;
}

/* ---- the session's I/O ---- */

/*
 * Ends the child: its stdin closed, it has wait_ms to exit before it is
 * ended (SIGTERM, then SIGKILL); KILL_NOW after a timeout.
 */
#define KILL_NOW 1
static void end_child(struct sftp *s, unsigned wait_ms)
{
	if (!s->open) {
		return;
	}
	s->cmd.timeout_ms = wait_ms;
	run_finish(&s->cmd);
	s->open = false;
	s->to = s->from = -1;
}

/* Marks the session broken, with why; later operations fail with it. */
static void breaks(struct sftp *s, bool kill_now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void breaks(struct sftp *s, bool kill_now, const char *fmt, ...)
{
	va_list ap;

	s->broken = true;
	sbuf_reset(&s->why);
	va_start(ap, fmt);
	sbuf_vaddf(&s->why, fmt, ap);
	va_end(ap);
	end_child(s, kill_now ? KILL_NOW : FINISH_DEAD_MS);
}

/* The child went away (end of file, a broken pipe): why, from how it ended and its stderr. */
static void lost(struct sftp *s)
{
	struct sbuf how = SBUF_INIT, line = SBUF_INIT;
	struct slice last;

	end_child(s, FINISH_DEAD_MS);
	run_describe_status(&s->cmd, &how);
	last = slice_trim(run_tail_lines(&s->cmd.errbuf, 1));
	if (last.len) {
		sbuf_addstr(&line, ": ");
		add_shown(&line, last, MSG_SHOWN_MAX);
	}
	breaks(s, false, "the session with %s ended (%s)%s", s->label, how.buf, line.buf);
	sbuf_release(&how);
	sbuf_release(&line);
}

static void timed_out(struct sftp *s)
{
	breaks(s, true, "no answer from %s within %u ms", s->label, s->timeout_ms);
}

/* Waits for fd to be ready until deadline: 1 ready, 0 time is up. */
static int wait_fd(int fd, short events, unsigned long long deadline)
{
	for (;;) {
		unsigned long long now = run_now_ms();
		struct pollfd p = {fd, events, 0};
		int r;

		if (now >= deadline) {
			return 0;
		}
		r = poll(&p, 1, (int)(deadline - now > 60000 ? 60000 : deadline - now));
		if (r > 0) {
			return 1;
		}
		if (r < 0 && errno != EINTR) {
			return 1; /* the read or write says what is wrong */
		}
	}
}

/* Sends all of buf. 0, or -1 with the session broken. */
static int send_all(struct sftp *s, const char *buf, size_t len, unsigned long long deadline)
{
	while (len) {
		ssize_t n = write(s->to, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!wait_fd(s->to, POLLOUT, deadline)) {
				timed_out(s);
				return -1;
			}
			continue;
		}
		lost(s); /* EPIPE: the child is gone */
		return -1;
	}
	return 0;
}

/* Reads exactly len bytes into buf. 0, 1 at end of file before any byte, or -1 (broken). */
static int recv_exact(struct sftp *s, char *buf, size_t len, unsigned long long deadline)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(s->from, buf + got, len - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!wait_fd(s->from, POLLIN, deadline)) {
				timed_out(s);
				return -1;
			}
			continue;
		}
		lost(s);
		return -1;
	}
	return 0;
}

static bool looks_like_text(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\n' || p[i] == '\r' ||
		      p[i] == '\t')) {
			return false;
		}
	}
	return true;
}

/* Receives one packet into s->in (its body, after the length). 0 or -1 (broken). */
static int recv_packet(struct sftp *s, unsigned long long deadline)
{
	unsigned char hdr[4];
	long len;

	if (recv_exact(s, (char *)hdr, 4, deadline) < 0) {
		return -1;
	}
	len = sftp_packet_len(hdr);
	if (len < 0) {
		uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
			     (uint32_t)hdr[2] << 8 | hdr[3];
		if (looks_like_text(hdr, 4)) {
			/* a login shell that prints: show what it printed */
			struct sbuf text = SBUF_INIT, shown = SBUF_INIT;
			sbuf_add(&text, hdr, 4);
			if (wait_fd(s->from, POLLIN, run_now_ms() + 200)) {
				sbuf_read_once(&text, s->from, 76);
			}
			add_shown(&shown, slice_make(text.buf, text.len), 80);
			breaks(s, true,
			       "%s sent text instead of SFTP (\"%s\"): the login shell's startup "
			       "files (~/.bashrc, ~/.profile) must not print anything when the "
			       "shell is not interactive",
			       s->label, shown.buf);
			sbuf_release(&text);
			sbuf_release(&shown);
		} else {
			breaks(s, true, "%s sent a packet of %u bytes (1 to %d allowed)", s->label,
			       n, SFTP_MAX_PACKET);
		}
		return -1;
	}
	sbuf_reset(&s->in);
	sbuf_grow(&s->in, (size_t)len);
	if (recv_exact(s, s->in.buf, (size_t)len, deadline) < 0) {
		return -1;
	}
	sbuf_setlen(&s->in, (size_t)len);
	return 0;
}

/* Starts a request in s->out: room for the length, the type, a new id. */
static void req_begin(struct sftp *s, uint8_t type)
{
	sbuf_reset(&s->out);
	put_u32(&s->out, 0);
	put_u8(&s->out, type);
	if (++s->next_id == 0) {
		s->next_id = 1;
	}
	put_u32(&s->out, s->next_id);
}

static int session_usable(struct sftp *s, const struct op *o)
{
	if (s->broken) {
		return op_fail(o, "%s", s->why.buf);
	}
	if (!s->open) {
		return op_fail(o, "the session is closed");
	}
	return 0;
}

/*
 * Sends the request in s->out and reads its reply into r (slices into s->in,
 * valid until the next request). 0, or -1 with o->e set (the session is then
 * broken: a reply that is not one is not answered around).
 */
static int transact(struct sftp *s, const struct op *o, struct sftp_reply *r)
{
	unsigned long long deadline = run_now_ms() + s->timeout_ms;
	struct err pe = ERR_INIT;
	size_t body = s->out.len - 4;

	if (session_usable(s, o) < 0) {
		return -1;
	}
	s->out.buf[0] = (char)(body >> 24);
	s->out.buf[1] = (char)(body >> 16);
	s->out.buf[2] = (char)(body >> 8);
	s->out.buf[3] = (char)body;
	if (send_all(s, s->out.buf, s->out.len, deadline) < 0 || recv_packet(s, deadline) < 0) {
		return op_fail(o, "%s", s->why.buf);
	}
	if (sftp_parse_reply(slice_make(s->in.buf, s->in.len), r, &pe) < 0) {
		breaks(s, true, "%s sent a bad reply: %s", s->label, err_str(&pe));
		err_release(&pe);
		return op_fail(o, "%s", s->why.buf);
	}
	if (r->id != s->next_id) {
		breaks(s, true, "%s answered request %u when %u was asked", s->label, r->id,
		       s->next_id);
		return op_fail(o, "%s", s->why.buf);
	}
	return 0;
}

/* A reply of a type the request does not have: the server is not to be trusted further. */
static int unexpected(struct sftp *s, const struct op *o, const struct sftp_reply *r)
{
	breaks(s, true, "%s answered with packet type %u, which this request does not have",
	       s->label, r->type);
	return op_fail(o, "%s", s->why.buf);
}

/* For requests answered by STATUS: 0 for OK, SFTP_NOENT, or -1; *code (may be NULL) gets it. */
static int status_reply(struct sftp *s, const struct op *o, uint32_t *code)
{
	struct sftp_reply r;

	if (code) {
		*code = SFTP_FX_FAILURE;
	}
	if (transact(s, o, &r) < 0) {
		return -1;
	}
	if (r.type != SFTP_FXP_STATUS) {
		return unexpected(s, o, &r);
	}
	if (code) {
		*code = r.code;
	}
	if (r.code == SFTP_FX_OK) {
		return 0;
	}
	op_status(o, &r);
	return r.code == SFTP_FX_NO_SUCH_FILE ? SFTP_NOENT : -1;
}

static int check_path(const struct op *o, const char *path)
{
	if (!*path) {
		return op_fail(o, "empty path");
	}
	if (strlen(path) > SFTP_PATH_MAX) {
		return op_fail(o, "path longer than %d bytes", SFTP_PATH_MAX);
	}
	return 0;
}

/* ---- operations, the session's lock held ---- */

static int do_stat(struct sftp *s, uint8_t type, const char *path, struct sftp_attrs *a,
		   struct err *e)
{
	struct op o = {type == SFTP_FXP_STAT ? "stat" : "lstat", path, NULL, e};
	struct sftp_reply r;

	if (check_path(&o, path) < 0) {
		return -1;
	}
	req_begin(s, type);
	put_str(&s->out, path);
	if (transact(s, &o, &r) < 0) {
		return -1;
	}
	if (r.type == SFTP_FXP_ATTRS) {
		if (a) {
			*a = r.attrs;
		}
		return 0;
	}
	if (r.type != SFTP_FXP_STATUS || r.code == SFTP_FX_OK) {
		return unexpected(s, &o, &r);
	}
	op_status(&o, &r);
	return r.code == SFTP_FX_NO_SUCH_FILE ? SFTP_NOENT : -1;
}

int sftp_parse_statvfs(struct slice data, struct sftp_fs *fs)
{
	const unsigned char *p = (const unsigned char *)data.ptr;
	uint64_t v[11];
	size_t i, k;

	if (data.len < sizeof(v)) {
		return -1;
	}
	for (i = 0; i < 11; i++) {
		v[i] = 0;
		for (k = 0; k < 8; k++) {
			v[i] = v[i] << 8 | p[i * 8 + k];
		}
	}
	/* bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax */
	fs->size = v[2] * v[1];
	fs->avail = v[4] * v[1];
	return 0;
}

static int do_statvfs(struct sftp *s, const char *path, struct sftp_fs *fs, struct err *e)
{
	struct op o = {"statvfs", path, NULL, e};
	struct sftp_reply r;

	if (check_path(&o, path) < 0) {
		return -1;
	}
	if (!(s->exts & SFTP_EXT_STATVFS)) {
		return op_fail(&o, "%s does not offer statvfs@openssh.com", s->label);
	}
	req_begin(s, SFTP_FXP_EXTENDED);
	put_str(&s->out, "statvfs@openssh.com");
	put_str(&s->out, path);
	if (transact(s, &o, &r) < 0) {
		return -1;
	}
	if (r.type == SFTP_FXP_EXTENDED_REPLY) {
		if (sftp_parse_statvfs(r.data, fs) < 0) {
			breaks(s, true, "%s sent a statvfs reply cut short", s->label);
			return op_fail(&o, "%s", s->why.buf);
		}
		return 0;
	}
	if (r.type != SFTP_FXP_STATUS || r.code == SFTP_FX_OK) {
		return unexpected(s, &o, &r);
	}
	op_status(&o, &r);
	return r.code == SFTP_FX_NO_SUCH_FILE ? SFTP_NOENT : -1;
}

/*
 * After a FAILURE (OpenSSH's answer for EEXIST, among others): whether path
 * exists. 1 yes (o's error says "File exists"), 0 no (o's error kept), -1 the
 * session failed.
 */
static int exists_now(struct sftp *s, const struct op *o, const char *path, struct sftp_attrs *a)
{
	struct err le = ERR_INIT;
	struct sftp_attrs tmp;
	int r = do_stat(s, SFTP_FXP_LSTAT, path, a ? a : &tmp, &le);

	if (r < 0) {
		err_set(o->e, "%s", err_str(&le));
	}
	err_release(&le);
	if (r == 0) {
		op_fail(o, "File exists");
		return 1;
	}
	return r < 0 ? -1 : 0;
}

static int do_simple(struct sftp *s, const char *name, uint8_t type, const char *path,
		     struct err *e)
{
	struct op o = {name, path, NULL, e};
	struct sftp_attrs a;
	struct err le = ERR_INIT;
	uint32_t code;
	int r;

	if (check_path(&o, path) < 0) {
		return -1;
	}
	req_begin(s, type);
	put_str(&s->out, path);
	r = status_reply(s, &o, &code);
	if (r >= 0 || code != SFTP_FX_FAILURE || s->broken) {
		return r;
	}
	/* OpenSSH says only "Failure" for EISDIR, ENOTEMPTY and ENOTDIR: look, and say which */
	if (do_stat(s, SFTP_FXP_LSTAT, path, &a, &le) == 0 && (a.flags & SFTP_ATTR_PERMISSIONS)) {
		if (type == SFTP_FXP_REMOVE && S_ISDIR(a.mode)) {
			op_fail(&o, "Failure: it is a directory");
		} else if (type == SFTP_FXP_RMDIR && !S_ISDIR(a.mode)) {
			op_fail(&o, "Failure: it is not a directory");
		} else if (type == SFTP_FXP_RMDIR) {
			op_fail(&o, "Failure: is the directory empty?");
		}
	}
	err_release(&le);
	return -1;
}

static int do_mkdir(struct sftp *s, const char *path, unsigned mode, struct sftp_attrs *there,
		    struct err *e)
{
	struct op o = {"mkdir", path, NULL, e};
	uint32_t code;
	int r;

	if (check_path(&o, path) < 0) {
		return -1;
	}
	req_begin(s, SFTP_FXP_MKDIR);
	put_str(&s->out, path);
	put_mode(&s->out, mode ? mode : 0700);
	r = status_reply(s, &o, &code);
	if (r < 0 && code == SFTP_FX_FAILURE && !s->broken) {
		r = exists_now(s, &o, path, there);
		return r > 0 ? SFTP_EXISTS : -1;
	}
	return r;
}

/* Whether attributes say directory; without permissions the server did not say: trusted. */
static bool dir_or_unknown(const struct sftp_attrs *a)
{
	return !(a->flags & SFTP_ATTR_PERMISSIONS) || S_ISDIR(a->mode);
}

/* "a/b/c" -> "a/b"; "a" -> ""; "/a" -> "/". Trailing slashes are dropped first. */
static void parent_of(const char *path, struct sbuf *out)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/') {
		n--;
	}
	while (n && path[n - 1] != '/') {
		n--;
	}
	while (n > 1 && path[n - 1] == '/') {
		n--;
	}
	sbuf_reset(out);
	sbuf_add(out, path, n);
}

static int do_mkdir_p(struct sftp *s, const char *path, unsigned mode, struct err *e)
{
	struct op o = {"mkdir", path, NULL, e};
	struct sftp_attrs a;
	struct sbuf parent = SBUF_INIT;
	int r;

	r = do_stat(s, SFTP_FXP_STAT, path, &a, e);
	if (r == 0) {
		if (!dir_or_unknown(&a)) {
			return op_fail(&o, "exists and is not a directory");
		}
		return 0;
	}
	if (r != SFTP_NOENT) {
		return -1;
	}
	parent_of(path, &parent);
	if (parent.len && strcmp(parent.buf, "/") && strcmp(parent.buf, ".") &&
	    strcmp(parent.buf, path)) {
		r = do_mkdir_p(s, parent.buf, mode, e);
		if (r != 0) {
			sbuf_release(&parent);
			return -1;
		}
	}
	sbuf_release(&parent);
	r = do_mkdir(s, path, mode, &a, e);
	if (r == SFTP_EXISTS) {
		/* made meanwhile by someone else: fine if it is a directory */
		if (!dir_or_unknown(&a)) {
			return op_fail(&o, "exists and is not a directory");
		}
		if (e) {
			err_release(e);
		}
		return 0;
	}
	return r == 0 ? 0 : -1;
}

/* Opens path; handle gets the server's handle. 0, SFTP_NOENT, SFTP_EXISTS (O_EXCL) or -1. */
static int open_file(struct sftp *s, const struct op *o, const char *path, uint32_t pflags,
		     unsigned mode, struct sbuf *handle)
{
	struct sftp_reply r;

	if (check_path(o, path) < 0) {
		return -1;
	}
	req_begin(s, SFTP_FXP_OPEN);
	put_str(&s->out, path);
	put_u32(&s->out, pflags);
	put_mode(&s->out, (pflags & SFTP_FXF_CREAT) ? mode : 0);
	if (transact(s, o, &r) < 0) {
		return -1;
	}
	if (r.type == SFTP_FXP_HANDLE) {
		sbuf_reset(handle);
		sbuf_add(handle, r.data.ptr, r.data.len);
		return 0;
	}
	if (r.type != SFTP_FXP_STATUS || r.code == SFTP_FX_OK) {
		return unexpected(s, o, &r);
	}
	op_status(o, &r);
	if (r.code == SFTP_FX_NO_SUCH_FILE) {
		return SFTP_NOENT;
	}
	if (r.code == SFTP_FX_FAILURE && (pflags & SFTP_FXF_EXCL)) {
		int x = exists_now(s, o, path, NULL);
		return x > 0 ? SFTP_EXISTS : -1;
	}
	return -1;
}

/* Closes a handle. With quiet (cleaning up after an error) its result is not reported. */
static int close_handle(struct sftp *s, const struct op *o, struct sbuf *handle, bool quiet)
{
	struct err ce = ERR_INIT;
	struct op co = {o->name, o->path, o->path2, quiet ? &ce : o->e};
	int r;

	if (quiet && (s->broken || !s->open)) {
		return -1;
	}
	req_begin(s, SFTP_FXP_CLOSE);
	put_bytes(&s->out, handle->buf, handle->len);
	r = status_reply(s, &co, NULL);
	err_release(&ce);
	return r == 0 ? 0 : -1;
}

static int write_handle(struct sftp *s, const struct op *o, struct sbuf *handle, const char *data,
			size_t len)
{
	size_t off = 0;

	/* an empty file needs no write at all */
	while (off < len) {
		size_t n = len - off > SFTP_CHUNK ? SFTP_CHUNK : len - off;
		req_begin(s, SFTP_FXP_WRITE);
		put_bytes(&s->out, handle->buf, handle->len);
		put_u64(&s->out, off);
		put_bytes(&s->out, data + off, n);
		if (status_reply(s, o, NULL) != 0) {
			return -1;
		}
		off += n;
	}
	return 0;
}

/*
 * Reads from off until end of file or until max bytes came, appended to out.
 * *eof says which. 0 or -1.
 */
static int read_handle(struct sftp *s, const struct op *o, struct sbuf *handle, uint64_t off,
		       size_t max, struct sbuf *out, bool *eof)
{
	size_t got = 0;

	*eof = false;
	while (got < max) {
		size_t want = max - got > SFTP_CHUNK ? SFTP_CHUNK : max - got;
		struct sftp_reply r;

		req_begin(s, SFTP_FXP_READ);
		put_bytes(&s->out, handle->buf, handle->len);
		put_u64(&s->out, off);
		put_u32(&s->out, (uint32_t)want);
		if (transact(s, o, &r) < 0) {
			return -1;
		}
		if (r.type == SFTP_FXP_STATUS && r.code == SFTP_FX_EOF) {
			*eof = true;
			return 0;
		}
		if (r.type == SFTP_FXP_STATUS && r.code != SFTP_FX_OK) {
			return op_status(o, &r);
		}
		if (r.type != SFTP_FXP_DATA) {
			return unexpected(s, o, &r);
		}
		/* more than asked, or nothing (which would never end): not a server to trust */
		if (r.data.len > want || !r.data.len) {
			breaks(s, true, "%s sent %zu bytes for a read of %zu", s->label, r.data.len,
			       want);
			return op_fail(o, "%s", s->why.buf);
		}
		sbuf_add(out, r.data.ptr, r.data.len);
		got += r.data.len;
		off += r.data.len;
	}
	return 0;
}

static int do_read_file(struct sftp *s, const char *path, size_t max, struct sbuf *out,
			struct err *e)
{
	struct op o = {"read", path, NULL, e};
	struct sbuf h = SBUF_INIT;
	size_t start = out->len;
	bool eof;
	int r;

	r = open_file(s, &o, path, SFTP_FXF_READ, 0, &h);
	if (r != 0) {
		goto out;
	}
	/* one byte more than max tells a file of max bytes from a longer one */
	r = read_handle(s, &o, &h, 0, max == SIZE_MAX ? max : max + 1, out, &eof);
	if (r == 0 && out->len - start > max) {
		sbuf_setlen(out, start + max);
		op_fail(&o, "the file holds more than %zu bytes", max);
		r = SFTP_TOOBIG;
	}
	if (close_handle(s, &o, &h, r != 0) < 0 && r == 0) {
		r = -1;
	}
out:
	sbuf_release(&h);
	return r;
}

static int do_read_tail(struct sftp *s, const char *path, size_t max, struct sbuf *out, bool *whole,
			struct err *e)
{
	struct op o = {"read", path, NULL, e};
	struct sbuf h = SBUF_INIT;
	struct sftp_reply rep;
	uint64_t from = 0;
	bool eof = false;
	int r;

	if (whole) {
		*whole = false;
	}
	r = open_file(s, &o, path, SFTP_FXF_READ, 0, &h);
	if (r != 0) {
		goto out;
	}
	req_begin(s, SFTP_FXP_FSTAT);
	put_bytes(&s->out, h.buf, h.len);
	r = -1;
	if (transact(s, &o, &rep) < 0) {
		goto out;
	}
	if (rep.type == SFTP_FXP_STATUS && rep.code != SFTP_FX_OK) {
		op_status(&o, &rep);
	} else if (rep.type != SFTP_FXP_ATTRS) {
		unexpected(s, &o, &rep);
	} else if (!(rep.attrs.flags & SFTP_ATTR_SIZE)) {
		op_fail(&o, "%s gave no size", s->label);
	} else {
		size_t before = out->len;
		from = rep.attrs.size > max ? rep.attrs.size - max : 0;
		r = read_handle(s, &o, &h, from, max, out, &eof);
		/* a file of max bytes exactly is whole without the end of file seen */
		eof = eof || out->len - before == rep.attrs.size;
	}
	if (whole) {
		*whole = r == 0 && from == 0 && eof;
	}
	if (close_handle(s, &o, &h, r != 0) < 0 && r == 0) {
		r = -1;
	}
out:
	sbuf_release(&h);
	return r;
}

static int do_rename(struct sftp *s, const struct op *o, const char *from, const char *to,
		     bool replace)
{
	uint32_t code;
	int r;

	if (check_path(o, from) < 0 || check_path(o, to) < 0) {
		return -1;
	}
	if (replace && (s->exts & SFTP_EXT_POSIX_RENAME)) {
		req_begin(s, SFTP_FXP_EXTENDED);
		put_str(&s->out, "posix-rename@openssh.com");
	} else {
		req_begin(s, SFTP_FXP_RENAME);
	}
	put_str(&s->out, from);
	put_str(&s->out, to);
	r = status_reply(s, o, &code);
	/* the draft's rename never replaces: OpenSSH says FAILURE when to exists */
	if (r < 0 && code == SFTP_FX_FAILURE && !s->broken &&
	    (!replace || !(s->exts & SFTP_EXT_POSIX_RENAME))) {
		int x = exists_now(s, o, to, NULL);
		return x > 0 ? SFTP_EXISTS : -1;
	}
	return r;
}

/* A name next to path: "<dir>/.<base>.<random>.tmp", the base cut to keep it short. */
static void temp_name(struct sftp *s, const char *path, struct sbuf *out)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	uint64_t rnd;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		rnd = (uint64_t)getpid() << 32 ^ run_now_ms() ^ (uint64_t)time(NULL) << 20;
	}
	rnd ^= ++s->tmp_counter;
	sbuf_reset(out);
	if (slash) {
		sbuf_add(out, path, (size_t)(slash - path) + 1);
	}
	sbuf_addf(out, ".%.64s.%016llx.tmp", base, (unsigned long long)rnd);
}

static int write_new(struct sftp *s, const struct op *o, const char *path, const void *data,
		     size_t len, unsigned mode, uint32_t pflags, bool sync)
{
	struct sbuf h = SBUF_INIT;
	int r = open_file(s, o, path, SFTP_FXF_WRITE | SFTP_FXF_CREAT | pflags, mode, &h);

	if (r != 0) {
		goto out;
	}
	r = write_handle(s, o, &h, data, len);
	if (r == 0 && sync) {
		req_begin(s, SFTP_FXP_EXTENDED);
		put_str(&s->out, "fsync@openssh.com");
		put_bytes(&s->out, h.buf, h.len);
		r = status_reply(s, o, NULL) == 0 ? 0 : -1;
	}
	if (close_handle(s, o, &h, r != 0) < 0 && r == 0) {
		r = -1;
	}
out:
	sbuf_release(&h);
	return r;
}

static void remove_quietly(struct sftp *s, const char *path)
{
	struct err re = ERR_INIT;

	if (s->open && !s->broken) {
		do_simple(s, "remove", SFTP_FXP_REMOVE, path, &re);
	}
	err_release(&re);
}

static int do_write_file(struct sftp *s, const char *path, const void *data, size_t len,
			 unsigned mode, unsigned flags, struct err *e)
{
	struct op o = {"write", path, NULL, e};
	struct sbuf tmp = SBUF_INIT;
	int r, tries;

	if (!mode) {
		mode = 0600;
	}
	if (check_path(&o, path) < 0) {
		return -1;
	}
	if (!(flags & SFTP_WRITE_ATOMIC)) {
		bool excl = flags & SFTP_WRITE_EXCL;
		r = write_new(s, &o, path, data, len, mode, excl ? SFTP_FXF_EXCL : SFTP_FXF_TRUNC,
			      false);
		if (r < 0 && excl) {
			remove_quietly(s, path); /* ours, half written */
		}
		return r;
	}
	/* atomic: a temporary name of our own (O_EXCL), then renamed over path */
	for (tries = 0;; tries++) {
		temp_name(s, path, &tmp);
		r = write_new(s, &o, tmp.buf, data, len, mode, SFTP_FXF_EXCL,
			      s->exts & SFTP_EXT_FSYNC);
		if (r != SFTP_EXISTS || tries == 3) {
			break;
		}
	}
	if (r != 0) {
		if (r != SFTP_EXISTS && r != SFTP_NOENT) {
			remove_quietly(s, tmp.buf);
		}
		if (r == SFTP_EXISTS) {
			r = op_fail(&o, "could not find a free temporary name");
		}
		goto out;
	}
	if (flags & SFTP_WRITE_EXCL) {
		r = do_rename(s, &o, tmp.buf, path, false);
	} else {
		if (!(s->exts & SFTP_EXT_POSIX_RENAME)) {
			/* not atomic: a server without posix-rename cannot replace a file */
			struct err re = ERR_INIT;
			do_simple(s, "remove", SFTP_FXP_REMOVE, path, &re);
			err_release(&re);
		}
		r = do_rename(s, &o, tmp.buf, path, true);
		if (r == SFTP_NOENT) {
			r = -1; /* the temporary vanished under us */
		}
	}
	if (r != 0) {
		remove_quietly(s, tmp.buf);
	}
out:
	sbuf_release(&tmp);
	return r;
}

static int do_append(struct sftp *s, const char *path, const void *data, size_t len, unsigned mode,
		     struct err *e)
{
	struct op o = {"append", path, NULL, e};

	return write_new(s, &o, path, data, len, mode ? mode : 0600, SFTP_FXF_APPEND, false);
}

static int do_realpath(struct sftp *s, const char *path, struct sbuf *out, struct err *e)
{
	struct op o = {"realpath", path, NULL, e};
	struct sftp_reply r;

	if (check_path(&o, path) < 0) {
		return -1;
	}
	req_begin(s, SFTP_FXP_REALPATH);
	put_str(&s->out, path);
	if (transact(s, &o, &r) < 0) {
		return -1;
	}
	if (r.type == SFTP_FXP_STATUS && r.code != SFTP_FX_OK) {
		op_status(&o, &r);
		return r.code == SFTP_FX_NO_SUCH_FILE ? SFTP_NOENT : -1;
	}
	if (r.type != SFTP_FXP_NAME) {
		return unexpected(s, &o, &r);
	}
	if (r.count < 1 || !r.data.len || r.data.ptr[0] != '/' ||
	    memchr(r.data.ptr, '\0', r.data.len) || r.data.len > SFTP_PATH_MAX) {
		struct sbuf shown = SBUF_INIT;
		add_shown(&shown, r.data, MSG_SHOWN_MAX);
		op_fail(&o, "%s gave \"%s\", not an absolute path", s->label, shown.buf);
		sbuf_release(&shown);
		return -1;
	}
	sbuf_reset(out);
	sbuf_add(out, r.data.ptr, r.data.len);
	return 0;
}

/* ---- the public face: each takes the session's lock ---- */

int sftp_realpath(struct sftp *s, const char *path, struct sbuf *out, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_realpath(s, path, out, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_stat(struct sftp *s, const char *path, struct sftp_attrs *a, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_stat(s, SFTP_FXP_STAT, path, a, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_statvfs(struct sftp *s, const char *path, struct sftp_fs *fs, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_statvfs(s, path, fs, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_lstat(struct sftp *s, const char *path, struct sftp_attrs *a, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_stat(s, SFTP_FXP_LSTAT, path, a, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_mkdir(struct sftp *s, const char *path, unsigned mode, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_mkdir(s, path, mode, NULL, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_mkdir_p(struct sftp *s, const char *path, unsigned mode, struct err *e)
{
	struct op o = {"mkdir", path, NULL, e};
	int r;

	pthread_mutex_lock(&s->lock);
	r = check_path(&o, path);
	if (r == 0) {
		r = do_mkdir_p(s, path, mode, e);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_rmdir(struct sftp *s, const char *path, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_simple(s, "rmdir", SFTP_FXP_RMDIR, path, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_remove(struct sftp *s, const char *path, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_simple(s, "remove", SFTP_FXP_REMOVE, path, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_read_file(struct sftp *s, const char *path, size_t max, struct sbuf *out, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_read_file(s, path, max, out, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_read_tail(struct sftp *s, const char *path, size_t max, struct sbuf *out, bool *whole,
		   struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_read_tail(s, path, max, out, whole, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_write_file(struct sftp *s, const char *path, const void *data, size_t len, unsigned mode,
		    unsigned flags, struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_write_file(s, path, data, len, mode, flags, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_append(struct sftp *s, const char *path, const void *data, size_t len, unsigned mode,
		struct err *e)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_append(s, path, data, len, mode, e);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sftp_rename(struct sftp *s, const char *from, const char *to, struct err *e)
{
	struct op o = {"rename", from, to, e};
	int r;

	pthread_mutex_lock(&s->lock);
	r = do_rename(s, &o, from, to, true);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- opening and closing ---- */

static void session_init(struct sftp *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->timeout_ms = SFTP_TIMEOUT_MS;
	s->why = (struct sbuf)SBUF_INIT;
	s->out = (struct sbuf)SBUF_INIT;
	s->in = (struct sbuf)SBUF_INIT;
	run_cmd_init(&s->cmd);
	s->to = s->from = -1;
}

/* The handshake: INIT with our version, VERSION with the server's and its extensions. */
static int handshake(struct sftp *s, struct err *e)
{
	unsigned long long deadline = run_now_ms() + s->timeout_ms;
	struct sftp_version v;
	struct err pe = ERR_INIT;

	sbuf_reset(&s->out);
	put_u32(&s->out, 5);
	put_u8(&s->out, SFTP_FXP_INIT);
	put_u32(&s->out, SFTP_VERSION);
	if (send_all(s, s->out.buf, s->out.len, deadline) < 0 || recv_packet(s, deadline) < 0) {
		return err_set(e, "sftp: %s", s->why.buf);
	}
	if (sftp_parse_version(slice_make(s->in.buf, s->in.len), &v, &pe) < 0) {
		breaks(s, true, "%s does not speak SFTP: %s", s->label, err_str(&pe));
		err_release(&pe);
		return err_set(e, "sftp: %s", s->why.buf);
	}
	if (v.version != SFTP_VERSION) {
		breaks(s, true, "%s speaks SFTP version %u; berth speaks version %d", s->label,
		       v.version, SFTP_VERSION);
		return err_set(e, "sftp: %s", s->why.buf);
	}
	s->version = v.version;
	s->exts = v.exts;
	return 0;
}

static void session_free(struct sftp *s)
{
	run_cmd_release(&s->cmd);
	sbuf_release(&s->why);
	sbuf_release(&s->out);
	sbuf_release(&s->in);
	free(s->label);
	s->label = NULL;
}

/* Starts the child and shakes hands; on failure the child is finished, s->cmd kept. */
static int start(struct sftp *s, struct run_cmd *cmd, const char *label, struct err *e)
{
	s->cmd = *cmd;
	run_cmd_init(cmd);
	s->label = xstrdup(label);
	s->cmd.timeout_ms = SFTP_CLOSE_WAIT_MS; /* run_finish's wait; also its own process group */
	s->cmd.err = RUN_IO_CAPTURE;
	if (run_start(&s->cmd, &s->to, &s->from) < 0) {
		struct slice why = slice_trim(slice_make(s->cmd.errbuf.buf, s->cmd.errbuf.len));
		return err_set(e, "sftp: cannot start %s: %.*s", label, (int)why.len, why.ptr);
	}
	s->open = true;
	return handshake(s, e);
}

int sftp_start(struct sftp *s, struct run_cmd *cmd, const char *label, struct err *e)
{
	session_init(s);
	if (start(s, cmd, label, e) < 0) {
		end_child(s, KILL_NOW);
		session_free(s);
		pthread_mutex_destroy(&s->lock);
		return -1;
	}
	return 0;
}

int sftp_open(struct sftp *s, struct exec *ex, const char *host, struct err *e)
{
	struct run_cmd cmd = RUN_CMD_INIT;
	struct sbuf label = SBUF_INIT;
	int ret = -1;

	session_init(s);
	if (exec_prepare_subsystem(ex, host, "sftp", &cmd, e) < 0) {
		goto out;
	}
	if (ex->kind == EXEC_LOCAL) {
		sbuf_addstr(&label, "the local sftp-server");
	} else {
		sbuf_addf(&label, "host '%s'", host);
	}
	if (start(s, &cmd, label.buf, e) == 0) {
		ret = 0;
		goto out;
	}
	end_child(s, KILL_NOW);
	/* ssh's own words, when it could not connect or was refused the subsystem */
	if (ex->kind == EXEC_SSH && s->cmd.started && !s->cmd.timed_out) {
		if (slice_find(slice_make(s->cmd.errbuf.buf, s->cmd.errbuf.len),
			       "subsystem request failed") >= 0) {
			err_set(e,
				"sftp: host '%s' has no sftp subsystem: add \"Subsystem sftp "
				"internal-sftp\" (or the path of sftp-server) to its sshd_config",
				host);
		} else if (exec_unreachable(ex, &s->cmd)) {
			exec_explain(ex, host, &s->cmd, e);
		}
	}
	session_free(s);
out:
	if (ret < 0) {
		pthread_mutex_destroy(&s->lock);
	}
	run_cmd_release(&cmd);
	sbuf_release(&label);
	return ret;
}

void sftp_close(struct sftp *s)
{
	if (!s->label) {
		return; /* a failed open, or closed already */
	}
	end_child(s, SFTP_CLOSE_WAIT_MS);
	session_free(s);
	pthread_mutex_destroy(&s->lock);
}
