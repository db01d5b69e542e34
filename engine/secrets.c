#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/vault.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define REDACTED	 "[REDACTED]"
#define REDACT_MIN	 4
#define REDACT_MAX_LINES 1024
#define MAX_CMD_NESTING	 32
#define MAX_CMD_IN_ERROR 60

static void wipe(void *p, size_t n)
{
	if (p && n) {
		explicit_bzero(p, n);
	}
}

static void wipe_sbuf(struct sbuf *sb)
{
	if (sb->alloc) {
		wipe(sb->buf, sb->alloc);
	}
	sbuf_release(sb);
}

static void wipe_strvec(struct strvec *sv)
{
	size_t i;

	for (i = 0; i < sv->nr; i++) {
		wipe(sv->v[i], strlen(sv->v[i]));
	}
	strvec_clear(sv);
}

void secrets_init(struct secrets *s)
{
	strvec_init(&s->names);
	strvec_init(&s->values);
	strvec_init(&s->files);
	s->bytes = 0;
}

void secrets_release(struct secrets *s)
{
	wipe_strvec(&s->values);
	strvec_clear(&s->names);
	strvec_clear(&s->files);
	s->bytes = 0;
}

static long find(const struct secrets *s, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < s->names.nr; i++) {
		if (!strncmp(s->names.v[i], name, len) && !s->names.v[i][len]) {
			return (long)i;
		}
	}
	return -1;
}

const char *secrets_get(const struct secrets *s, const char *name)
{
	long i = find(s, name, strlen(name));

	return i < 0 ? NULL : s->values.v[i];
}

void secrets_set(struct secrets *s, const char *name, const char *value, const char *file)
{
	long i = find(s, name, strlen(name));

	if (i < 0) {
		strvec_push(&s->names, name);
		strvec_push(&s->values, value);
		strvec_push(&s->files, file ? file : "");
		s->bytes += strlen(value);
		return;
	}
	s->bytes -= strlen(s->values.v[i]);
	wipe(s->values.v[i], strlen(s->values.v[i]));
	free(s->values.v[i]);
	s->values.v[i] = xstrdup(value);
	s->bytes += strlen(value);
	free(s->files.v[i]);
	s->files.v[i] = xstrdup(file ? file : "");
}

/* --- the dotenv parser --- */

struct parser {
	struct secrets *s;
	const char *file;
	const char *dir;
	unsigned flags;
	/* loading a project's files: KAMAL_DESTINATION and BERTH_DESTINATION are the
	 * destination (unset without one), whatever the environment says */
	bool dest_known;
	const char *destination;
	struct err *e;
	/* the text, line ends already made '\n' */
	const char *p;
	size_t len, pos;
	unsigned line;	   /* of pos */
	unsigned key_line; /* where the current entry started, for messages */
	const char *key;   /* the current entry's key, for messages */
};

static int at(const struct parser *ps, size_t pos)
{
	return pos < ps->len ? (unsigned char)ps->p[pos] : -1;
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static bool is_key_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_var_char(int c)
{
	return is_key_start(c) || (c >= '0' && c <= '9');
}

static bool is_key_char(int c)
{
	return is_var_char(c) || c == '.';
}

static void skip_blanks(struct parser *ps)
{
	while (is_blank(at(ps, ps->pos))) {
		ps->pos++;
	}
}

static void skip_to_eol(struct parser *ps)
{
	while (ps->pos < ps->len && ps->p[ps->pos] != '\n') {
		ps->pos++;
	}
}

/* Errors about the current entry: "file:line: KEY: msg". */
__attribute__((format(printf, 2, 3))) static int entry_error(struct parser *ps, const char *fmt,
							     ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (ps->key) {
		err_setat(ps->e, ps->file, ps->key_line, 0, "%s: %s", ps->key, sb.buf);
	} else {
		err_setat(ps->e, ps->file, ps->key_line, 0, "%s", sb.buf);
	}
	sbuf_release(&sb);
	return -1;
}

/* Describes a character for "found ..." without quoting more than that character. */
static void describe_char(struct sbuf *sb, int c)
{
	if (c < 0) {
		sbuf_addstr(sb, "the end of the file");
	} else if (c == '\n') {
		sbuf_addstr(sb, "the end of the line");
	} else if (c > ' ' && c < 0x7f && c != '\'') {
		sbuf_addf(sb, "'%c'", c);
	} else if (c == '\'') {
		sbuf_addstr(sb, "\"'\"");
	} else if (c == ' ' || c == '\t') {
		sbuf_addstr(sb, c == ' ' ? "a space" : "a tab");
	} else {
		sbuf_addf(sb, "a byte 0x%02x", (unsigned)c);
	}
}

static bool is_dest_var(const char *name)
{
	return !strcmp(name, "KAMAL_DESTINATION") || !strcmp(name, "BERTH_DESTINATION");
}

static const char *lookup(struct parser *ps, const char *name)
{
	const char *v = secrets_get(ps->s, name);

	if (!v && ps->dest_known && is_dest_var(name)) {
		v = ps->destination;
	} else if (!v && !(ps->flags & SECRETS_F_NO_ENVIRON)) {
		v = getenv(name);
	}
	return v ? v : "";
}

static int skip_quoted_in_cmd(struct parser *ps, int q, bool multiline, unsigned nesting);

/*
 * Finds the end of a command that starts at ps->pos (just after "$("): the
 * matching ')', with the shell's quotes and nested parentheses understood.
 * Leaves ps->pos on that ')'.
 */
static int skip_cmd(struct parser *ps, bool multiline, unsigned nesting)
{
	unsigned depth = 1;

	if (nesting > MAX_CMD_NESTING) {
		return entry_error(ps, "commands nested too deeply");
	}
	while (ps->pos < ps->len) {
		int c = at(ps, ps->pos);
		if (c == '\n') {
			if (!multiline) {
				break;
			}
			ps->line++;
		} else if (c == '\\') {
			if (at(ps, ps->pos + 1) == '\n') {
				if (!multiline) {
					break;
				}
				ps->line++;
			}
			ps->pos += at(ps, ps->pos + 1) < 0 ? 1 : 2;
			continue;
		} else if (c == '\'' || c == '"' || c == '`') {
			if (skip_quoted_in_cmd(ps, c, multiline, nesting) < 0) {
				return -1;
			}
			continue;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (!--depth) {
				return 0;
			}
		}
		ps->pos++;
	}
	return entry_error(ps, "unterminated \"$(\": no matching ')'%s",
			   multiline ? "" : " on the line");
}

/* Skips a quoted part of a command, from its opening quote q to after its closing one. */
static int skip_quoted_in_cmd(struct parser *ps, int q, bool multiline, unsigned nesting)
{
	ps->pos++;
	while (ps->pos < ps->len) {
		int c = at(ps, ps->pos);
		if (c == q) {
			ps->pos++;
			return 0;
		}
		if (c == '\n') {
			if (!multiline) {
				break;
			}
			ps->line++;
		} else if (q != '\'' && c == '\\') {
			if (at(ps, ps->pos + 1) == '\n') {
				if (!multiline) {
					break;
				}
				ps->line++;
			}
			ps->pos += at(ps, ps->pos + 1) < 0 ? 1 : 2;
			continue;
		} else if (q == '"' && c == '$' && at(ps, ps->pos + 1) == '(') {
			ps->pos += 2;
			if (skip_cmd(ps, multiline, nesting + 1) < 0) {
				return -1;
			}
		}
		ps->pos++;
	}
	return entry_error(ps, "unterminated quote in \"$(...)\"");
}

static void describe_cmd(struct sbuf *sb, const char *cmd)
{
	size_t n = strlen(cmd), i;

	sbuf_addch(sb, '\'');
	for (i = 0; i < n && i < MAX_CMD_IN_ERROR; i++) {
		sbuf_addch(sb, cmd[i] == '\n' || cmd[i] == '\t' ? ' ' : cmd[i]);
	}
	if (n > MAX_CMD_IN_ERROR) {
		sbuf_addstr(sb, "...");
	}
	sbuf_addch(sb, '\'');
}

/* Ruby's chomp: one trailing "\n", "\r\n" or "\r" goes. */
static void chomp(struct sbuf *sb)
{
	if (sb->len && sb->buf[sb->len - 1] == '\n') {
		sb->len--;
		if (sb->len && sb->buf[sb->len - 1] == '\r') {
			sb->len--;
		}
	} else if (sb->len && sb->buf[sb->len - 1] == '\r') {
		sb->len--;
	}
	if (sb->alloc) {
		sb->buf[sb->len] = '\0';
	}
}

/* Is cmd `kamal secrets ...` or `berth secrets ...`? */
static bool is_secrets_cmd(const char *cmd)
{
	size_t n;

	cmd += strspn(cmd, " \t\n");
	if (strncmp(cmd, "kamal", 5) && strncmp(cmd, "berth", 5)) {
		return false;
	}
	cmd += 5;
	n = strspn(cmd, " \t\n");
	if (!n || strncmp(cmd + n, "secrets", 7)) {
		return false;
	}
	cmd += n + 7;
	return *cmd == ' ' || *cmd == '\t' || *cmd == '\n';
}

/*
 * $NAME and ${NAME} pasted into the text, as dotenv does to a command before
 * Kamal splits it into words: \$NAME stays "$NAME"; "$(" is left alone.
 */
static void paste_vars(struct parser *ps, const char *cmd, struct sbuf *out)
{
	const char *p = cmd;

	while (*p) {
		bool escaped = p[0] == '\\' && p[1] == '$' && p[2] != '(';
		const char *d = escaped ? p + 1 : p, *q, *name;
		char *var;

		if (*d != '$' || d[1] == '(') {
			sbuf_addch(out, *p++);
			continue;
		}
		q = d + 1;
		if (*q == '{') {
			q++;
		}
		name = q;
		while (is_var_char((unsigned char)*q)) {
			q++;
		}
		var = xstrndup(name, (size_t)(q - name));
		if (*q == '}') {
			q++;
		}
		if (escaped || !*var) {
			sbuf_add(out, d, (size_t)(q - d));
		} else {
			sbuf_addstr(out, lookup(ps, var));
		}
		free(var);
		p = q;
	}
}

/* $(kamal secrets fetch|extract ...): berth's own implementation, in this process. */
static int run_inline(struct parser *ps, const char *cmd, struct sbuf *v)
{
	struct sbuf text = SBUF_INIT, out = SBUF_INIT, msg = SBUF_INIT;
	struct strvec words = STRVEC_INIT;
	struct err e = ERR_INIT;
	size_t i;
	int ret = -1;

	paste_vars(ps, cmd, &text);
	if (vault_shell_split(text.buf, &words, &e) < 0 || words.nr < 2) {
		goto fail;
	}
	free(words.v[0]);
	memmove(words.v, words.v + 1, words.nr * sizeof(*words.v));
	words.nr--;
	if (vault_run_inline(&words, &out, &e) < 0) {
		goto fail;
	}
	chomp(&out);
	if (memchr(out.buf, '\0', out.len) || out.len > SECRETS_MAX_VALUE) {
		err_set(&e, "its result is not a value berth can keep");
		goto fail;
	}
	sbuf_add(v, out.buf, out.len);
	ret = 0;
	goto out;
fail:
	describe_cmd(&msg, cmd);
	entry_error(ps, "command %s: %s", msg.buf, err_isset(&e) ? err_str(&e) : "no command");
out:
	for (i = 0; i < words.nr; i++) {
		explicit_bzero(words.v[i], strlen(words.v[i]));
	}
	strvec_clear(&words);
	wipe_sbuf(&text);
	wipe_sbuf(&out);
	sbuf_release(&msg);
	err_release(&e);
	return ret;
}

/*
 * Runs `sh -c cmd` with the keys so far in its environment; appends its stdout
 * to v. As Kamal, its exit status is not looked at: files rely on
 * $(op read ... 2>/dev/null) giving "" when the item is not there.
 */
static int run_command(struct parser *ps, const char *cmd, struct sbuf *v)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf msg = SBUF_INIT;
	size_t i;
	int ret = -1;

	if (ps->flags & SECRETS_F_NO_COMMANDS) {
		return entry_error(ps, "command substitution \"$(...)\" is not allowed here");
	}
	if (is_secrets_cmd(cmd)) {
		return run_inline(ps, cmd, v);
	}
	strvec_pushv(&c.argv, (const char *[]){"sh", "-c", cmd, NULL});
	if (ps->dest_known && ps->destination) {
		strvec_pushf(&c.env, "KAMAL_DESTINATION=%s", ps->destination);
		strvec_pushf(&c.env, "BERTH_DESTINATION=%s", ps->destination);
	} else if (ps->dest_known) {
		strvec_pushv(&c.env,
			     (const char *[]){"KAMAL_DESTINATION", "BERTH_DESTINATION", NULL});
	}
	for (i = 0; i < ps->s->names.nr; i++) {
		strvec_pushf(&c.env, "%s=%s", ps->s->names.v[i], ps->s->values.v[i]);
	}
	c.dir = ps->dir;
	c.flags = RUN_F_STDIN_INHERIT;
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_INHERIT;
	/* room for trailing newlines; a command that prints without end is stopped */
	c.capture_max = SECRETS_MAX_VALUE + 4096;
	if (run_one(&c) < 0 && !c.truncated && !c.started) {
		/* the output may hold a secret: say how it ended, never what it printed */
		describe_cmd(&msg, cmd);
		sbuf_addch(&msg, ' ');
		run_describe_status(&c, &msg);
		entry_error(ps, "command %s", msg.buf);
		goto out;
	}
	if (c.status && !c.truncated) {
		describe_cmd(&msg, cmd);
		sbuf_addch(&msg, ' ');
		run_describe_status(&c, &msg);
		log_debug("%s:%u: %s: command %s; its output is used all the same", ps->file,
			  ps->key_line, ps->key ? ps->key : "", msg.buf);
	}
	if (!c.truncated) {
		chomp(&c.outbuf);
	}
	if (memchr(c.outbuf.buf, '\0', c.outbuf.len)) {
		describe_cmd(&msg, cmd);
		entry_error(ps, "command %s printed a NUL byte", msg.buf);
		goto out;
	}
	if (c.outbuf.len > SECRETS_MAX_VALUE) {
		describe_cmd(&msg, cmd);
		entry_error(ps, "command %s printed more than %d bytes", msg.buf,
			    SECRETS_MAX_VALUE);
		goto out;
	}
	sbuf_add(v, c.outbuf.buf, c.outbuf.len);
	ret = 0;
out:
	wipe_sbuf(&c.outbuf);
	wipe_strvec(&c.env);
	run_cmd_release(&c);
	sbuf_release(&msg);
	return ret;
}

/* Expands what starts with the '$' at ps->pos into v. */
static int expand(struct parser *ps, struct sbuf *v, bool multiline)
{
	int c = at(ps, ps->pos + 1);
	size_t start;
	char *name;
	int ret;

	if (c == '(') {
		char *cmd;
		ps->pos += 2;
		start = ps->pos;
		if (skip_cmd(ps, multiline, 0) < 0) {
			return -1;
		}
		cmd = xstrndup(ps->p + start, ps->pos - start);
		ps->pos++; /* the ')' */
		ret = run_command(ps, cmd, v);
		free(cmd);
		return ret;
	}
	if (c == '{') {
		start = ps->pos + 2;
		ps->pos = start;
		while (is_var_char(at(ps, ps->pos))) {
			ps->pos++;
		}
		if (ps->pos == start || at(ps, ps->pos) != '}') {
			return entry_error(ps, "expected \"${NAME}\" with NAME made of letters, "
					       "digits and '_'");
		}
		name = xstrndup(ps->p + start, ps->pos - start);
		ps->pos++;
		sbuf_addstr(v, lookup(ps, name));
		free(name);
		return 0;
	}
	if (is_var_char(c)) {
		start = ps->pos + 1;
		ps->pos = start;
		while (is_var_char(at(ps, ps->pos))) {
			ps->pos++;
		}
		name = xstrndup(ps->p + start, ps->pos - start);
		sbuf_addstr(v, lookup(ps, name));
		free(name);
		return 0;
	}
	sbuf_addch(v, '$');
	ps->pos++;
	return 0;
}

static int check_value_size(struct parser *ps, const struct sbuf *v)
{
	if (v->len > SECRETS_MAX_VALUE) {
		return entry_error(ps, "value longer than %d bytes", SECRETS_MAX_VALUE);
	}
	return 0;
}

/* After a closing quote: blanks, then maybe a comment, then the end of the line. */
static int end_of_quoted(struct parser *ps)
{
	int c;

	skip_blanks(ps);
	c = at(ps, ps->pos);
	if (c == '#') {
		skip_to_eol(ps);
		c = at(ps, ps->pos);
	}
	if (c >= 0 && c != '\n') {
		return entry_error(ps, "expected the end of the line after the closing quote, "
				       "found more text");
	}
	return 0;
}

static int single_quoted(struct parser *ps, struct sbuf *v)
{
	ps->pos++;
	for (;;) {
		int c = at(ps, ps->pos);
		if (c < 0) {
			return entry_error(ps, "unterminated single-quoted value");
		}
		ps->pos++;
		if (c == '\'') {
			break;
		}
		if (c == '\\' && at(ps, ps->pos) == '\'') {
			sbuf_addch(v, '\\');
			c = '\'';
			ps->pos++;
		}
		if (c == '\n') {
			ps->line++;
		}
		sbuf_addch(v, c);
	}
	if (check_value_size(ps, v) < 0) {
		return -1;
	}
	return end_of_quoted(ps);
}

static int double_quoted(struct parser *ps, struct sbuf *v)
{
	ps->pos++;
	for (;;) {
		int c = at(ps, ps->pos);
		if (c < 0) {
			return entry_error(ps, "unterminated double-quoted value");
		}
		if (c == '"') {
			ps->pos++;
			break;
		}
		if (c == '$') {
			if (expand(ps, v, true) < 0) {
				return -1;
			}
		} else if (c == '\\') {
			c = at(ps, ps->pos + 1);
			if (c < 0) {
				return entry_error(ps, "unterminated double-quoted value");
			}
			ps->pos += 2;
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case '\n':
				ps->line++;
				break;
			default:
				break;
			}
			sbuf_addch(v, c);
		} else {
			if (c == '\n') {
				ps->line++;
			}
			sbuf_addch(v, c);
			ps->pos++;
		}
		if (check_value_size(ps, v) < 0) {
			return -1;
		}
	}
	return end_of_quoted(ps);
}

/* An unquoted value: up to the end of the line or a " #" comment, trimmed. */
static int unquoted(struct parser *ps, struct sbuf *v, bool after_blank)
{
	size_t keep = 0; /* v's length without trailing literal blanks */

	for (;;) {
		int c = at(ps, ps->pos);
		if (c < 0 || c == '\n') {
			break;
		}
		if (c == '#' && after_blank) {
			skip_to_eol(ps);
			break;
		}
		after_blank = false;
		if (is_blank(c)) {
			after_blank = true;
			sbuf_addch(v, c);
			ps->pos++;
			continue;
		}
		if (c == '$') {
			if (expand(ps, v, false) < 0) {
				return -1;
			}
		} else if (c == '\\' && at(ps, ps->pos + 1) >= 0 && at(ps, ps->pos + 1) != '\n') {
			sbuf_addch(v, at(ps, ps->pos + 1));
			ps->pos += 2;
		} else {
			sbuf_addch(v, c);
			ps->pos++;
		}
		keep = v->len;
		if (check_value_size(ps, v) < 0) {
			return -1;
		}
	}
	sbuf_setlen(v, keep);
	return 0;
}

/* "export A B": every name must be set already (as dotenv checks). */
static int export_check(struct parser *ps)
{
	for (;;) {
		size_t start;
		char *name;
		int c;

		skip_blanks(ps);
		c = at(ps, ps->pos);
		if (c < 0 || c == '\n' || c == '#') {
			skip_to_eol(ps);
			return 0;
		}
		start = ps->pos;
		if (!is_key_start(c)) {
			break;
		}
		while (is_key_char(at(ps, ps->pos))) {
			ps->pos++;
		}
		if (!is_blank(at(ps, ps->pos)) && at(ps, ps->pos) >= 0 && at(ps, ps->pos) != '\n') {
			break;
		}
		name = xstrndup(ps->p + start, ps->pos - start);
		if (!secrets_get(ps->s, name)) {
			err_setat(ps->e, ps->file, ps->key_line, 0, "'%s' is exported but not set",
				  name);
			free(name);
			return -1;
		}
		free(name);
	}
	return err_setat(ps->e, ps->file, ps->key_line, 0,
			 "expected KEY=VALUE or \"export KEY...\", found an invalid key name");
}

/* Does the rest of the line have an '='? (For a better message; never quoted.) */
static bool line_has_eq(const struct parser *ps)
{
	size_t i;

	for (i = ps->pos; i < ps->len && ps->p[i] != '\n'; i++) {
		if (ps->p[i] == '=') {
			return true;
		}
	}
	return false;
}

static int bad_line(struct parser *ps, size_t key_start)
{
	struct sbuf sb = SBUF_INIT;
	int c = at(ps, ps->pos);

	if (ps->pos == key_start && !line_has_eq(ps)) {
		sbuf_addstr(&sb, "a line without '='");
	} else if (ps->pos == key_start && c == '=') {
		sbuf_addstr(&sb, "an empty key name");
	} else if (ps->pos == key_start) {
		sbuf_addstr(&sb, "a key name starting with ");
		describe_char(&sb, c);
	} else if (!line_has_eq(ps)) {
		sbuf_addstr(&sb, "a line without '='");
	} else {
		describe_char(&sb, c);
		sbuf_addstr(&sb, " in the key name");
	}
	err_setat(ps->e, ps->file, ps->key_line, 0, "expected KEY=VALUE, found %s", sb.buf);
	sbuf_release(&sb);
	return -1;
}

/* One entry, from the first non-blank character of a line that is not a comment. */
static int entry(struct parser *ps, struct sbuf *v)
{
	size_t key_start = ps->pos;
	bool exported = false, after_blank;
	char *key = NULL;
	int c, ret = -1;

	if (ps->len - ps->pos > 6 && !memcmp(ps->p + ps->pos, "export", 6) &&
	    is_blank(at(ps, ps->pos + 6))) {
		size_t save = ps->pos;
		ps->pos += 6;
		skip_blanks(ps);
		if (at(ps, ps->pos) == '=' || at(ps, ps->pos) == ':') {
			ps->pos = save; /* a key named "export" */
		} else {
			exported = true;
			key_start = ps->pos;
		}
	}
	if (!is_key_start(at(ps, ps->pos))) {
		return bad_line(ps, key_start);
	}
	while (is_key_char(at(ps, ps->pos))) {
		ps->pos++;
	}
	key = xstrndup(ps->p + key_start, ps->pos - key_start);
	skip_blanks(ps);
	c = at(ps, ps->pos);
	if (c == '=') {
		ps->pos++;
	} else if (c == ':' && is_blank(at(ps, ps->pos + 1))) {
		ps->pos++;
	} else if (exported && (c < 0 || c == '\n' || c == '#' || is_key_start(c))) {
		ps->pos = key_start;
		ret = export_check(ps);
		goto out;
	} else {
		if (is_blank(at(ps, ps->pos - 1))) {
			ps->pos--; /* report the blank inside the key */
		}
		ret = bad_line(ps, key_start);
		goto out;
	}
	ps->key = key;
	after_blank = is_blank(at(ps, ps->pos));
	skip_blanks(ps);
	sbuf_reset(v);
	c = at(ps, ps->pos);
	if (c == '\'') {
		ret = single_quoted(ps, v);
	} else if (c == '"') {
		ret = double_quoted(ps, v);
	} else {
		ret = unquoted(ps, v, after_blank);
	}
	if (ret < 0) {
		goto out;
	}
	if (memchr(v->buf, '\0', v->len)) {
		ret = entry_error(ps, "value holds a NUL byte");
		goto out;
	}
	if (ps->s->bytes + v->len > SECRETS_MAX_TOTAL) {
		ret = entry_error(ps, "secrets larger than %d bytes in all", SECRETS_MAX_TOTAL);
		goto out;
	}
	secrets_set(ps->s, key, v->buf, ps->file);
	ret = 0;
out:
	ps->key = NULL;
	free(key);
	return ret;
}

/* A copy of the text with \r\n and \r made \n; fails on NUL bytes and too many lines. */
static int normalize(struct parser *ps, const char *buf, size_t len, struct sbuf *out)
{
	unsigned line = 1;
	size_t i = 0;

	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) {
		i = 3; /* a UTF-8 byte order mark */
	}
	sbuf_grow(out, len - i);
	for (; i < len; i++) {
		char c = buf[i];
		if (c == '\0') {
			return err_setat(ps->e, ps->file, line, 0, "found a NUL byte");
		}
		if (c == '\r') {
			if (i + 1 < len && buf[i + 1] == '\n') {
				i++;
			}
			c = '\n';
		}
		if (c == '\n' && ++line > SECRETS_MAX_LINES && i + 1 < len) {
			return err_setat(ps->e, ps->file, 0, 0, "more than %d lines",
					 SECRETS_MAX_LINES);
		}
		sbuf_addch(out, c);
	}
	return 0;
}

static int parse_text(struct secrets *s, const char *file, const char *buf, size_t len,
		      const char *dir, unsigned flags, bool dest_known, const char *destination,
		      struct err *e)
{
	struct parser ps = {0};
	struct sbuf text = SBUF_INIT, v = SBUF_INIT;
	int ret = -1;

	ps.s = s;
	ps.file = file ? file : "secrets";
	ps.dir = dir;
	ps.flags = flags;
	ps.dest_known = dest_known;
	ps.destination = destination;
	ps.e = e;
	if (len > SECRETS_MAX_FILE) {
		err_setat(e, ps.file, 0, 0, "larger than %d bytes", SECRETS_MAX_FILE);
		goto out;
	}
	if (normalize(&ps, buf, len, &text) < 0) {
		goto out;
	}
	ps.p = text.buf;
	ps.len = text.len;
	ps.line = 1;
	while (ps.pos < ps.len) {
		int c;
		skip_blanks(&ps);
		c = at(&ps, ps.pos);
		ps.key_line = ps.line;
		if (c == '#') {
			skip_to_eol(&ps);
		} else if (c >= 0 && c != '\n' && entry(&ps, &v) < 0) {
			goto out;
		}
		/* at the end of a line (or of the text) now */
		if (at(&ps, ps.pos) == '\n') {
			ps.pos++;
			ps.line++;
		}
	}
	ret = 0;
out:
	wipe_sbuf(&v);
	wipe_sbuf(&text);
	return ret;
}

int secrets_parse_dotenv_flags(struct secrets *s, const char *file, const char *buf, size_t len,
			       const char *dir, unsigned flags, struct err *e)
{
	return parse_text(s, file, buf, len, dir, flags, false, NULL, e);
}

int secrets_parse_dotenv(struct secrets *s, const char *file, const char *buf, size_t len,
			 const char *dir, struct err *e)
{
	return secrets_parse_dotenv_flags(s, file, buf, len, dir, 0, e);
}

/* --- files --- */

static bool valid_destination(const char *d)
{
	const char *p;

	if (!*d || *d == '.') {
		return false;
	}
	for (p = d; *p; p++) {
		if (!is_var_char((unsigned char)*p) && *p != '-' && *p != '.') {
			return false;
		}
	}
	return true;
}

/*
 * Reads and parses one file on its own (its $NAMEs see its own keys and the
 * environment, not another file's), then sets its keys in s; a missing file
 * is fine.
 */
static int load_file(struct secrets *s, const char *path, const char *dir, const char *destination,
		     struct err *e)
{
	struct sbuf buf = SBUF_INIT;
	struct secrets one;
	struct stat st;
	size_t i;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			return 0;
		}
		return err_set(e, "cannot open '%s': %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		err_set(e, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "'%s' is not a regular file", path);
		goto out;
	}
	if (st.st_size > SECRETS_MAX_FILE) {
		err_setat(e, path, 0, 0, "larger than %d bytes", SECRETS_MAX_FILE);
		goto out;
	}
	sbuf_grow(&buf, (size_t)st.st_size + 1);
	if (sbuf_read_fd(&buf, fd) < 0) {
		err_set(e, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	secrets_init(&one);
	ret = parse_text(&one, path, buf.buf, buf.len, dir, 0, true, destination, e);
	/* on an error too: s then holds the pairs before the failing line, as documented */
	for (i = 0; i < one.names.nr; i++) {
		secrets_set(s, one.names.v[i], one.values.v[i], one.files.v[i]);
	}
	secrets_release(&one);
out:
	close(fd);
	wipe_sbuf(&buf);
	return ret;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int secrets_load_path(struct secrets *s, const char *secrets_path, const char *destination,
		      const char *dir, struct err *e)
{
	struct sbuf path = SBUF_INIT;
	int ret = -1;

	if (destination && !valid_destination(destination)) {
		err_set(e,
			"invalid destination '%s': use letters, digits, '_', '-' and '.' "
			"(not first)",
			destination);
		goto out;
	}
	sbuf_addf(&path, "%s-common", secrets_path);
	if (load_file(s, path.buf, dir, destination, e) < 0) {
		goto out;
	}
	sbuf_reset(&path);
	sbuf_addstr(&path, secrets_path);
	if (destination) {
		sbuf_addf(&path, ".%s", destination);
	}
	if (load_file(s, path.buf, dir, destination, e) < 0) {
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&path);
	return ret;
}

int secrets_load(struct secrets *s, const char *project_dir, const char *destination, struct err *e)
{
	struct sbuf base = SBUF_INIT, path = SBUF_INIT;
	bool here = !project_dir || !*project_dir || !strcmp(project_dir, ".");
	int ret;

	if (!here) {
		sbuf_addstr(&base, project_dir);
		if (base.buf[base.len - 1] != '/') {
			sbuf_addch(&base, '/');
		}
	}
	sbuf_addf(&path, "%s.berth", base.buf);
	sbuf_addstr(&base, is_dir(path.buf) ? ".berth/secrets" : ".kamal/secrets");
	ret = secrets_load_path(s, base.buf, destination, here ? NULL : project_dir, e);
	sbuf_release(&base);
	sbuf_release(&path);
	return ret;
}

/* --- redaction --- */

/* Patterns grouped by first byte, longest first within a group. */
static int pattern_order(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;
	unsigned char fx = (unsigned char)x->ptr[0], fy = (unsigned char)y->ptr[0];

	if (fx != fy) {
		return fx < fy ? -1 : 1;
	}
	if (x->len != y->len) {
		return x->len < y->len ? 1 : -1;
	}
	return memcmp(x->ptr, y->ptr, x->len);
}

static void add_pattern(struct slice **pats, size_t *n, size_t *alloc, struct slice p)
{
	XGROW(*pats, *alloc, *n + 1);
	(*pats)[(*n)++] = p;
}

/*
 * What to look for: each value, and each line of a value that has several
 * (at most REDACT_MAX_LINES of those in all, so that a huge value cannot make
 * every redaction slow). Sorted by pattern_order, without duplicates.
 */
static size_t redact_patterns(const struct secrets *s, struct slice **out)
{
	struct slice *pats = NULL;
	size_t n = 0, alloc = 0, lines = 0, i, j;

	for (i = 0; i < s->values.nr; i++) {
		struct slice v = slice_cstr(s->values.v[i]), rest = v;
		bool multiline = memchr(v.ptr, '\n', v.len) != NULL;
		if (v.len >= REDACT_MIN) {
			add_pattern(&pats, &n, &alloc, v);
		}
		while (multiline && rest.ptr && lines < REDACT_MAX_LINES) {
			struct slice line = slice_next(&rest, '\n');
			if (line.len && line.ptr[line.len - 1] == '\r') {
				line.len--;
			}
			if (line.len >= REDACT_MIN) {
				add_pattern(&pats, &n, &alloc, line);
				lines++;
			}
		}
	}
	if (n) {
		qsort(pats, n, sizeof(*pats), pattern_order);
		for (i = 1, j = 1; i < n; i++) {
			if (pattern_order(&pats[i], &pats[j - 1])) {
				pats[j++] = pats[i];
			}
		}
		n = j;
	}
	*out = pats;
	return n;
}

void secrets_redact(const struct secrets *s, struct sbuf *text)
{
	struct sbuf out = SBUF_INIT;
	struct slice *pats;
	size_t first[257]; /* pats[first[c] .. first[c + 1]) start with byte c */
	size_t n, j, pos = 0;
	bool changed = false;
	unsigned c;

	n = redact_patterns(s, &pats);
	if (!n) {
		goto out;
	}
	for (c = 0, j = 0; c < 256; c++) {
		first[c] = j;
		while (j < n && (unsigned char)pats[j].ptr[0] == c) {
			j++;
		}
	}
	first[256] = n;
	while (pos < text->len) {
		const char *p = text->buf + pos;
		size_t rest = text->len - pos, end;
		c = (unsigned char)*p;
		for (j = first[c], end = first[c + 1]; j < end; j++) {
			if (pats[j].len <= rest && !memcmp(p, pats[j].ptr, pats[j].len)) {
				break;
			}
		}
		if (j < end) {
			sbuf_addstr(&out, REDACTED);
			pos += pats[j].len;
			changed = true;
		} else {
			sbuf_addch(&out, *p);
			pos++;
		}
	}
	if (changed) {
		/* the old text held secrets: wipe it before it goes */
		wipe(text->buf, text->len);
		sbuf_release(text);
		*text = out;
		out = (struct sbuf)SBUF_INIT;
	}
out:
	wipe_sbuf(&out);
	free(pats);
}
