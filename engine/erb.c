/*
 * erb — three steps: the template is cut into text and tag segments (as
 * Ruby's ERB scanner does, trim mode "-"), the segments are parsed into one
 * tree (so nothing runs when any part of the file does not parse), and the
 * tree is evaluated into the output.
 */
#include "erb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/run.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define SUPPORTED                                                                                  \
	"berth evaluates ENV[...], ENV.fetch(...), literals, ||, &&, ==, if/unless, backticks "    \
	"and File.read"
#define DEFAULT_TIMEOUT_MS 30000
#define QUOTE_MAX	   80

/* ---------------------------------------------------------------- segments */

enum seg_kind {
	SEG_TEXT,
	SEG_CODE, /* <% ... %> */
	SEG_OUT,  /* <%= ... %> */
};

struct seg {
	enum seg_kind kind;
	char *s; /* owned; text with <%% resolved, or code with %%> resolved */
	size_t len;
	unsigned line; /* where the segment starts */
};

struct segs {
	struct seg *v;
	size_t nr, alloc;
};

static void segs_push(struct segs *ss, enum seg_kind kind, struct sbuf *sb, unsigned line)
{
	struct seg *s;

	XGROW(ss->v, ss->alloc, ss->nr + 1);
	s = &ss->v[ss->nr++];
	s->kind = kind;
	s->s = sbuf_detach(sb, &s->len);
	s->line = line;
}

static void segs_release(struct segs *ss)
{
	size_t i;

	for (i = 0; i < ss->nr; i++) {
		free(ss->v[i].s);
	}
	free(ss->v);
	ss->v = NULL;
	ss->nr = ss->alloc = 0;
}

static bool at(const char *src, size_t len, size_t i, const char *lit)
{
	size_t n = strlen(lit);

	return i <= len && len - i >= n && !memcmp(src + i, lit, n);
}

/*
 * Cuts src into segments the way Ruby's ERB does with trim_mode "-". Outside
 * a tag: "<%%" is a literal "<%", "<%=" opens an output tag, "<%#" a comment,
 * "<%" and "<%-" a code tag (blanks before "<%-" go when nothing else is
 * before it on its line). Inside a tag: "%%>" is a literal "%>", and the tag
 * ends at the first "%>", or "-%>" which also eats a newline after it.
 */
static int split_segments(const char *file, const char *src, size_t len, struct segs *ss,
			  struct err *e)
{
	struct sbuf text = SBUF_INIT, code = SBUF_INIT;
	size_t i = 0, text_start = 0;
	unsigned line = 1, text_line = 1;
	int ret = -1;

	while (i < len) {
		enum seg_kind kind;
		bool comment = false;
		unsigned tag_line;
		size_t j;

		if (src[i] != '<' || !at(src, len, i, "<%")) {
			if (src[i] == '\n') {
				line++;
			}
			sbuf_addch(&text, src[i++]);
			continue;
		}
		if (at(src, len, i, "<%%")) {
			sbuf_add(&text, "<%", 2);
			i += 3;
			continue;
		}
		if (at(src, len, i, "<%-")) {
			kind = SEG_CODE;
			/* blanks from the start of the line to the tag go too */
			j = i;
			while (j > text_start && (src[j - 1] == ' ' || src[j - 1] == '\t')) {
				j--;
			}
			if (j == 0 || src[j - 1] == '\n') {
				sbuf_setlen(&text, text.len - (i - j));
			}
			i += 3;
		} else if (at(src, len, i, "<%=")) {
			kind = SEG_OUT;
			i += 3;
		} else if (at(src, len, i, "<%#")) {
			kind = SEG_CODE;
			comment = true;
			i += 3;
		} else {
			kind = SEG_CODE;
			i += 2;
		}
		if (text.len) {
			segs_push(ss, SEG_TEXT, &text, text_line);
		}
		tag_line = line;
		sbuf_reset(&code);
		for (;;) {
			if (i >= len) {
				err_setat(e, file, tag_line, 0,
					  "unterminated ERB tag: '<%%' without a closing '%%>'");
				goto out;
			}
			if (at(src, len, i, "%%>")) {
				sbuf_add(&code, "%>", 2);
				i += 3;
				continue;
			}
			if (at(src, len, i, "-%>")) {
				i += 3;
				if (at(src, len, i, "\n")) {
					i += 1;
					line++;
				} else if (at(src, len, i, "\r\n")) {
					i += 2;
					line++;
				}
				break;
			}
			if (at(src, len, i, "%>")) {
				i += 2;
				break;
			}
			if (src[i] == '\n') {
				line++;
			}
			sbuf_addch(&code, src[i++]);
		}
		if (!comment) {
			segs_push(ss, kind, &code, tag_line);
		}
		text_start = i;
		text_line = line;
	}
	if (text.len) {
		segs_push(ss, SEG_TEXT, &text, text_line);
	}
	ret = 0;
out:
	sbuf_release(&text);
	sbuf_release(&code);
	return ret;
}

/* ------------------------------------------------------------------- lexer */

enum tok_kind {
	T_EOF,
	T_TEXT,	  /* a text segment */
	T_OUT,	  /* the start of a <%= tag */
	T_TAGEND, /* the end of any tag */
	T_NL,
	T_SEMI,
	T_INT,
	T_IDENT,   /* lowercase name, maybe ending in ? or ! */
	T_CONST,   /* capitalized name */
	T_DSTR,	   /* " or %Q( or %(: the parser reads the body */
	T_SSTR,	   /* ' or %q( */
	T_XSTR,	   /* ` or %x( */
	T_LPAREN,  /* ( */
	T_RPAREN,  /* ) */
	T_LBRACK,  /* [ */
	T_RBRACK,  /* ] */
	T_LBRACE,  /* { */
	T_RBRACE,  /* } */
	T_COMMA,   /* , */
	T_DOT,	   /* . */
	T_SAFEDOT, /* &. */
	T_QUESTION,
	T_COLON,
	T_OROR,
	T_ANDAND,
	T_BANG,
	T_EQ,	  /* == */
	T_NE,	  /* != */
	T_ASSIGN, /* = */
	T_PLUS,
	T_MINUS,
	T_OTHER, /* anything else: an operator or character berth does not evaluate */
};

struct tok {
	enum tok_kind kind;
	const char *p; /* the token's bytes in its segment */
	size_t len;
	unsigned line;
	long long ival;	 /* T_INT */
	char open, term; /* string tokens: the delimiters (open is 0 unless it nests) */
	struct seg *seg;
};

struct lexer {
	struct segs *ss;
	size_t si;    /* current segment */
	size_t pos;   /* offset in a code segment */
	bool started; /* T_OUT or the first token of the current tag was given */
	unsigned line;
};

static struct seg *lx_seg(struct lexer *lx)
{
	return lx->si < lx->ss->nr ? &lx->ss->v[lx->si] : NULL;
}

/* The next raw byte of the current tag, or -1 at its end. */
static int lx_peekc(struct lexer *lx, size_t ahead)
{
	struct seg *s = lx_seg(lx);

	if (!s || s->kind == SEG_TEXT || lx->pos + ahead >= s->len) {
		return -1;
	}
	return (unsigned char)s->s[lx->pos + ahead];
}

static int lx_getc(struct lexer *lx)
{
	int c = lx_peekc(lx, 0);

	if (c >= 0) {
		lx->pos++;
		if (c == '\n') {
			lx->line++;
		}
	}
	return c;
}

static bool is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}
static bool is_const_start(int c)
{
	return c >= 'A' && c <= 'Z';
}
static bool is_ident_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}
static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static const char *closer(int c)
{
	switch (c) {
	case '(':
		return ")";
	case '[':
		return "]";
	case '{':
		return "}";
	case '<':
		return ">";
	default:
		return NULL;
	}
}

/* Skips blanks, backslash-newlines and # comments (up to the newline). */
static void lx_skip_blanks(struct lexer *lx)
{
	for (;;) {
		int c = lx_peekc(lx, 0);

		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			lx_getc(lx);
		} else if (c == '\\' && lx_peekc(lx, 1) == '\n') {
			lx_getc(lx);
			lx_getc(lx);
		} else if (c == '#') {
			while ((c = lx_peekc(lx, 0)) >= 0 && c != '\n') {
				lx_getc(lx);
			}
		} else {
			return;
		}
	}
}

/*
 * Whether the code after the next newlines (and blanks and comments)
 * continues with ".method": Ruby's leading-dot method chains.
 */
static bool lx_leading_dot_follows(struct lexer *lx)
{
	struct seg *s = lx_seg(lx);
	size_t i;

	if (!s || s->kind == SEG_TEXT) {
		return false;
	}
	for (i = lx->pos; i < s->len;) {
		char c = s->s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
		} else if (c == '#') {
			while (i < s->len && s->s[i] != '\n') {
				i++;
			}
		} else if (c == '.') {
			return !(i + 1 < s->len && s->s[i + 1] == '.');
		} else if (c == '&') {
			return i + 1 < s->len && s->s[i + 1] == '.';
		} else {
			return false;
		}
	}
	return false;
}

static int lx_number(struct lexer *lx, struct tok *t, const char *file, struct err *e)
{
	unsigned long long v = 0;
	unsigned base = 10;
	int c;

	if (lx_peekc(lx, 0) == '0' && is_digit(lx_peekc(lx, 1))) {
		base = 8;
	} else if (lx_peekc(lx, 0) == '0' && is_ident_start(lx_peekc(lx, 1) | 0x20)) {
		return err_setat(
		    e, file, t->line, 0,
		    "unsupported ERB: a non-decimal integer — write integers in decimal");
	}
	while ((c = lx_peekc(lx, 0)) >= 0 && (is_digit(c) || c == '_')) {
		lx_getc(lx);
		if (c == '_') {
			continue;
		}
		if ((unsigned)(c - '0') >= base) {
			return err_setat(e, file, t->line, 0, "invalid octal digit '%c'", c);
		}
		if (v > ((unsigned long long)INT64_MAX - (unsigned)(c - '0')) / base) {
			return err_setat(e, file, t->line, 0, "integer literal too large");
		}
		v = v * base + (unsigned)(c - '0');
	}
	if (c == '.' && is_digit(lx_peekc(lx, 1))) {
		return err_setat(e, file, t->line, 0,
				 "unsupported ERB: floating point numbers — %s; quote the number "
				 "as a string",
				 SUPPORTED);
	}
	t->kind = T_INT;
	t->ival = (long long)v;
	return 0;
}

/*
 * Reads the next token. Strings are not read here: the lexer stops right
 * after their opening delimiter and the parser reads the body (it holds
 * #{...} code).
 */
static int lx_next(struct lexer *lx, struct tok *t, const char *file, struct err *e)
{
	struct seg *s;
	int c, c1;

	memset(t, 0, sizeof(*t));
	s = lx_seg(lx);
	if (!s) {
		t->kind = T_EOF;
		t->line = lx->line;
		return 0;
	}
	t->seg = s;
	if (s->kind == SEG_TEXT) {
		t->kind = T_TEXT;
		t->p = s->s;
		t->len = s->len;
		t->line = s->line;
		lx->si++;
		lx->line = s->line;
		return 0;
	}
	if (!lx->started) {
		lx->started = true;
		lx->pos = 0;
		lx->line = s->line;
		if (s->kind == SEG_OUT) {
			t->kind = T_OUT;
			t->p = s->s;
			t->line = s->line;
			return 0;
		}
	}
	lx_skip_blanks(lx);
	t->line = lx->line;
	t->p = s->s + lx->pos;
	t->len = 1;
	c = lx_peekc(lx, 0);
	c1 = lx_peekc(lx, 1);
	if (c < 0) {
		t->kind = T_TAGEND;
		t->len = 0;
		/* the line where the tag ends, for the text after it */
		lx->si++;
		lx->started = false;
		return 0;
	}
	if (is_digit(c)) {
		if (lx_number(lx, t, file, e) < 0) {
			return -1;
		}
		t->len = (size_t)(s->s + lx->pos - t->p);
		return 0;
	}
	if (is_ident_start(c) || is_const_start(c)) {
		t->kind = is_const_start(c) ? T_CONST : T_IDENT;
		while (is_ident_char(lx_peekc(lx, 0))) {
			lx_getc(lx);
		}
		c = lx_peekc(lx, 0);
		if (t->kind == T_IDENT && (c == '?' || c == '!') && lx_peekc(lx, 1) != '=') {
			lx_getc(lx);
		}
		t->len = (size_t)(s->s + lx->pos - t->p);
		return 0;
	}
	lx_getc(lx);
	switch (c) {
	case '\n':
		t->kind = T_NL;
		return 0;
	case ';':
		t->kind = T_SEMI;
		return 0;
	case '"':
		t->kind = T_DSTR;
		t->term = '"';
		return 0;
	case '\'':
		t->kind = T_SSTR;
		t->term = '\'';
		return 0;
	case '`':
		t->kind = T_XSTR;
		t->term = '`';
		return 0;
	case '%': {
		/* %x(...), %Q(...), %q(...), %(...) */
		int kindc = 0, d;
		if (c1 == 'x' || c1 == 'Q' || c1 == 'q') {
			kindc = c1;
			d = lx_peekc(lx, 1);
		} else {
			d = c1;
		}
		if (d > ' ' && d < 127 && !is_ident_char(d) && (kindc || closer(d))) {
			if (kindc) {
				lx_getc(lx);
			}
			lx_getc(lx);
			t->kind = kindc == 'x' ? T_XSTR : kindc == 'q' ? T_SSTR : T_DSTR;
			t->term = closer(d) ? closer(d)[0] : (char)d;
			t->open = closer(d) ? (char)d : 0;
			t->len = (size_t)(s->s + lx->pos - t->p);
			return 0;
		}
		t->kind = T_OTHER;
		return 0;
	}
	case '(':
		t->kind = T_LPAREN;
		return 0;
	case ')':
		t->kind = T_RPAREN;
		return 0;
	case '[':
		t->kind = T_LBRACK;
		return 0;
	case ']':
		t->kind = T_RBRACK;
		return 0;
	case '{':
		t->kind = T_LBRACE;
		return 0;
	case '}':
		t->kind = T_RBRACE;
		return 0;
	case ',':
		t->kind = T_COMMA;
		return 0;
	case '?':
		t->kind = T_QUESTION;
		return 0;
#define TWO(k)                                                                                     \
	do {                                                                                       \
		t->kind = (k);                                                                     \
		lx_getc(lx);                                                                       \
		t->len = 2;                                                                        \
	} while (0)
	case '+':
		if (c1 == '=') {
			TWO(T_OTHER);
		} else {
			t->kind = T_PLUS;
		}
		return 0;
	case '-':
		if (c1 == '=' || c1 == '>') {
			TWO(T_OTHER);
		} else {
			t->kind = T_MINUS;
		}
		return 0;
	case '.':
		if (c1 == '.') {
			TWO(T_OTHER);
		} else {
			t->kind = T_DOT;
		}
		return 0;
	case ':':
		if (c1 == ':') {
			TWO(T_OTHER);
		} else {
			t->kind = T_COLON;
		}
		return 0;
	case '|':
		if (c1 == '|') {
			TWO(T_OROR);
		} else {
			t->kind = T_OTHER;
		}
		return 0;
	case '&':
		if (c1 == '&') {
			TWO(T_ANDAND);
		} else if (c1 == '.') {
			TWO(T_SAFEDOT);
		} else {
			t->kind = T_OTHER;
		}
		return 0;
	case '!':
		if (c1 == '=') {
			TWO(T_NE);
		} else if (c1 == '~') {
			TWO(T_OTHER);
		} else {
			t->kind = T_BANG;
		}
		return 0;
	case '=':
		if (c1 == '=') {
			TWO(T_EQ);
		} else if (c1 == '~' || c1 == '>') {
			TWO(T_OTHER);
		} else {
			t->kind = T_ASSIGN;
		}
		return 0;
#undef TWO
	default:
		t->kind = T_OTHER;
		/* keep a whole UTF-8 sequence together for the message */
		while ((c & 0xc0) == 0xc0 && (lx_peekc(lx, 0) & 0xc0) == 0x80) {
			lx_getc(lx);
		}
		t->len = (size_t)(s->s + lx->pos - t->p);
		return 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ nodes */

enum node_kind {
	N_SEQ,	/* statements */
	N_TEXT, /* str: template text */
	N_OUT,	/* kid 0: the value to print */
	N_IF,	/* cond, then, [else] */
	N_NIL,
	N_TRUE,
	N_FALSE,
	N_INT,	  /* ival */
	N_STR,	  /* parts: N_LIT or expressions; a literal is N_LIT alone */
	N_LIT,	  /* str */
	N_CMD,	  /* parts, like N_STR */
	N_CONST,  /* str: ENV or File, before its method is known */
	N_ENV,	  /* ENV[key] */
	N_FETCH,  /* ENV.fetch(key [, default]); flag: default is a block */
	N_KEYP,	  /* ENV.key?(key) */
	N_FREAD,  /* File.read(path) */
	N_FEXIST, /* File.exist?(path) */
	N_OR,
	N_AND,
	N_NOT,
	N_EQ,
	N_NE,
	N_ADD,
	N_NEG,
	N_CALL,	 /* str: method; kid 0: receiver; then arguments; flag: &. */
	N_INDEX, /* receiver, index */
};

struct node {
	enum node_kind kind;
	unsigned line;
	unsigned depth;
	bool flag;
	long long ival;
	char *str; /* owned */
	size_t len;
	const char *src; /* the expression's code, for messages (in a segment) */
	size_t srclen;
	struct node **kid;
	size_t nkid, akid;
};

static struct node *node_new(enum node_kind kind, unsigned line)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = line;
	n->depth = 1;
	return n;
}

static void node_free(struct node *n)
{
	size_t i;

	if (!n) {
		return;
	}
	for (i = 0; i < n->nkid; i++) {
		node_free(n->kid[i]);
	}
	free(n->kid);
	free(n->str);
	free(n);
}

static void node_setstr(struct node *n, const char *p, size_t len)
{
	free(n->str);
	n->str = xmalloc(len + 1);
	if (len) {
		memcpy(n->str, p, len);
	}
	n->str[len] = '\0';
	n->len = len;
}

/* ------------------------------------------------------------------ parser */

struct parser {
	struct lexer lx;
	struct tok cur;
	bool have;
	const char *file;
	struct err *e;
	unsigned depth;
	const char *last_end; /* end of the last token taken, for node sources */
	struct seg *last_seg;
};

/* The code of the tag that tok is in, trimmed and shortened, for messages. */
static void quote_code(struct sbuf *sb, const struct seg *s, const char *from, size_t len)
{
	struct slice q;
	size_t i;

	if (!s) {
		return;
	}
	q = from ? slice_make(from, len) : slice_make(s->s, s->len);
	q = slice_trim(q);
	for (i = 0; i < q.len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)q.ptr[i];
		sbuf_addch(sb, c < ' ' || c == 127 ? ' ' : c);
	}
	if (q.len > QUOTE_MAX) {
		sbuf_addstr(sb, "...");
	}
}

/* "unsupported ERB: 'code' — what; hint". Returns -1. */
static int unsupported(struct parser *p, const struct tok *t, const char *what, const char *hint)
{
	struct sbuf q = SBUF_INIT;

	quote_code(&q, t->seg, NULL, 0);
	err_setat(p->e, p->file, t->line, 0, "unsupported ERB: '%s' — %s%s%s%s", q.buf,
		  what ? what : "", what ? "; " : "", SUPPORTED, hint ? hint : "");
	sbuf_release(&q);
	return -1;
}

static int syntax(struct parser *p, const struct tok *t, const char *msg)
{
	struct sbuf q = SBUF_INIT;

	quote_code(&q, t->seg, NULL, 0);
	err_setat(p->e, p->file, t->line, 0, "invalid ERB: '%s': %s", q.buf, msg);
	sbuf_release(&q);
	return -1;
}

static struct tok *peek(struct parser *p)
{
	if (!p->have) {
		if (lx_next(&p->lx, &p->cur, p->file, p->e) < 0) {
			return NULL;
		}
		p->have = true;
	}
	return &p->cur;
}

static void take(struct parser *p)
{
	if (p->cur.kind != T_TAGEND && p->cur.kind != T_TEXT) {
		p->last_end = p->cur.p + p->cur.len;
		p->last_seg = p->cur.seg;
	}
	p->have = false;
}

static bool is_word(const struct tok *t, const char *w)
{
	return t->kind == T_IDENT && slice_eq_cstr(slice_make(t->p, t->len), w);
}

static int skip_nl(struct parser *p)
{
	struct tok *t;

	while ((t = peek(p)) && t->kind == T_NL) {
		take(p);
	}
	return t ? 0 : -1;
}

/* Adds kid to n; kid belongs to n from then on, and is freed when this fails. */
static int add_kid(struct parser *p, struct node *n, struct node *kid)
{
	if (kid->depth + 1 > 2 * ERB_MAX_DEPTH) {
		node_free(kid);
		return err_setat(p->e, p->file, n->line, 0,
				 "ERB nested too deeply (more than %d levels)", 2 * ERB_MAX_DEPTH);
	}
	XGROW(n->kid, n->akid, n->nkid + 1);
	n->kid[n->nkid++] = kid;
	if (kid->depth + 1 > n->depth) {
		n->depth = kid->depth + 1;
	}
	return 0;
}

static struct node *node2(struct parser *p, enum node_kind kind, unsigned line, struct node *a,
			  struct node *b)
{
	struct node *n = node_new(kind, line);

	if (a && add_kid(p, n, a) < 0) {
		node_free(b);
		goto fail;
	}
	if (b && add_kid(p, n, b) < 0) {
		goto fail;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

/* Records where the node's code starts and ends, for messages. */
static void set_src(struct parser *p, struct node *n, const char *start, struct seg *seg)
{
	if (n && start && p->last_seg == seg && p->last_end >= start) {
		n->src = start;
		n->srclen = (size_t)(p->last_end - start);
	}
}

static struct node *parse_expr(struct parser *p);
static struct node *parse_stmt_expr(struct parser *p);
static struct node *parse_stmts(struct parser *p);

static void add_utf8(struct sbuf *sb, unsigned long cp)
{
	if (cp < 0x80) {
		sbuf_addch(sb, (int)cp);
	} else if (cp < 0x800) {
		sbuf_addch(sb, (int)(0xc0 | (cp >> 6)));
		sbuf_addch(sb, (int)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sbuf_addch(sb, (int)(0xe0 | (cp >> 12)));
		sbuf_addch(sb, (int)(0x80 | ((cp >> 6) & 0x3f)));
		sbuf_addch(sb, (int)(0x80 | (cp & 0x3f)));
	} else {
		sbuf_addch(sb, (int)(0xf0 | (cp >> 18)));
		sbuf_addch(sb, (int)(0x80 | ((cp >> 12) & 0x3f)));
		sbuf_addch(sb, (int)(0x80 | ((cp >> 6) & 0x3f)));
		sbuf_addch(sb, (int)(0x80 | (cp & 0x3f)));
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c |= 0x20;
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* Reads the escape after a backslash in a double-quoted string. */
static int read_escape(struct parser *p, const struct tok *t, struct sbuf *lit)
{
	struct lexer *lx = &p->lx;
	int c = lx_getc(lx), d;
	unsigned long cp = 0;
	int i;

	switch (c) {
	case 'n':
		sbuf_addch(lit, '\n');
		break;
	case 't':
		sbuf_addch(lit, '\t');
		break;
	case 'r':
		sbuf_addch(lit, '\r');
		break;
	case 's':
		sbuf_addch(lit, ' ');
		break;
	case 'e':
		sbuf_addch(lit, 27);
		break;
	case 'a':
		sbuf_addch(lit, 7);
		break;
	case 'b':
		sbuf_addch(lit, 8);
		break;
	case 'f':
		sbuf_addch(lit, 12);
		break;
	case 'v':
		sbuf_addch(lit, 11);
		break;
	case '\n':
		break; /* a backslash-newline joins lines */
	case 'x':
		for (i = 0; i < 2 && (d = hexval(lx_peekc(lx, 0))) >= 0; i++) {
			lx_getc(lx);
			cp = cp * 16 + (unsigned)d;
		}
		if (!i) {
			return syntax(p, t, "invalid hex escape");
		}
		sbuf_addch(lit, (int)cp);
		break;
	case 'u':
		if (lx_peekc(lx, 0) == '{') {
			lx_getc(lx);
			for (i = 0; i < 6 && (d = hexval(lx_peekc(lx, 0))) >= 0; i++) {
				lx_getc(lx);
				cp = cp * 16 + (unsigned)d;
			}
			if (!i || lx_getc(lx) != '}') {
				return syntax(p, t, "invalid Unicode escape");
			}
		} else {
			for (i = 0; i < 4 && (d = hexval(lx_peekc(lx, 0))) >= 0; i++) {
				lx_getc(lx);
				cp = cp * 16 + (unsigned)d;
			}
			if (i != 4) {
				return syntax(p, t, "invalid Unicode escape");
			}
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return syntax(p, t, "invalid Unicode escape");
		}
		add_utf8(lit, cp);
		break;
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		cp = (unsigned)(c - '0');
		for (i = 1; i < 3 && (d = lx_peekc(lx, 0)) >= '0' && d <= '7'; i++) {
			lx_getc(lx);
			cp = cp * 8 + (unsigned)(d - '0');
		}
		sbuf_addch(lit, (int)(cp & 0xff));
		break;
	case -1:
		return syntax(p, t, "unterminated string (a tag ends at the first '%>')");
	default:
		/* \" \\ \# \` and any other character stand for themselves */
		sbuf_addch(lit, c);
		break;
	}
	return 0;
}

static int flush_lit(struct parser *p, struct node *n, struct sbuf *lit, unsigned line)
{
	struct node *l;

	if (!lit->len) {
		return 0;
	}
	l = node_new(N_LIT, line);
	node_setstr(l, lit->buf, lit->len);
	sbuf_reset(lit);
	return add_kid(p, n, l);
}

/*
 * Reads the body of a string whose opening token t was just taken: a
 * double-quoted one (escapes, #{...}) unless single, which knows only \\ and
 * an escaped delimiter. Gives an N_STR (or N_CMD) of parts.
 */
static struct node *parse_string(struct parser *p, const struct tok *t, enum node_kind kind,
				 bool single)
{
	struct lexer *lx = &p->lx;
	struct sbuf lit = SBUF_INIT;
	struct node *n = node_new(kind, t->line);
	unsigned nest = 0, lit_line = t->line;
	int c;

	for (;;) {
		c = lx_getc(lx);
		if (c < 0) {
			syntax(p, t, "unterminated string (a tag ends at the first '%>')");
			goto fail;
		}
		if (c == t->term && !nest) {
			break;
		}
		if (t->open && c == t->open) {
			nest++;
		} else if (t->open && c == t->term) {
			nest--;
		}
		if (c == '\\') {
			int d = lx_peekc(lx, 0);
			if (single) {
				if (d == '\\' || d == t->term || (t->open && d == t->open)) {
					sbuf_addch(&lit, lx_getc(lx));
				} else {
					sbuf_addch(&lit, '\\');
				}
			} else if (d == t->term || (t->open && d == t->open)) {
				sbuf_addch(&lit, lx_getc(lx));
			} else if (read_escape(p, t, &lit) < 0) {
				goto fail;
			}
		} else if (c == '#' && !single && lx_peekc(lx, 0) == '{') {
			struct node *x;
			struct tok *r;

			lx_getc(lx);
			if (flush_lit(p, n, &lit, lit_line) < 0) {
				goto fail;
			}
			if (p->depth++ > ERB_MAX_DEPTH) {
				err_setat(p->e, p->file, t->line, 0,
					  "ERB nested too deeply (more than %d levels)",
					  ERB_MAX_DEPTH);
				goto fail;
			}
			if (skip_nl(p) < 0 || !(r = peek(p))) {
				goto fail;
			}
			if (r->kind == T_RBRACE) {
				take(p);
				p->depth--;
				continue;
			}
			x = parse_stmt_expr(p);
			p->depth--;
			if (!x) {
				goto fail;
			}
			if (add_kid(p, n, x) < 0) {
				goto fail;
			}
			if (skip_nl(p) < 0 || !(r = peek(p))) {
				goto fail;
			}
			if (r->kind != T_RBRACE) {
				syntax(p, r, "expected '}' to close '#{'");
				goto fail;
			}
			take(p); /* the lexer stands right after the '}' */
			lit_line = lx->line;
		} else if (c == '#' && !single &&
			   (lx_peekc(lx, 0) == '$' || lx_peekc(lx, 0) == '@') &&
			   (is_ident_char(lx_peekc(lx, 1)) || lx_peekc(lx, 1) == '@')) {
			/* Ruby would interpolate a variable here ("#$HOME" is the global $HOME) */
			unsupported(p, t, "\"#$name\" and \"#@name\" interpolate Ruby variables",
				    "; write \\# for a literal #, or #{ENV[\"NAME\"]}");
			goto fail;
		} else {
			sbuf_addch(&lit, c);
		}
		if (lit.len > ERB_MAX_OUTPUT) {
			err_setat(p->e, p->file, t->line, 0, "string literal too long");
			goto fail;
		}
	}
	if (flush_lit(p, n, &lit, lit_line) < 0) {
		goto fail;
	}
	p->last_end = lx_seg(lx) ? lx_seg(lx)->s + lx->pos : p->last_end;
	p->last_seg = lx_seg(lx);
	sbuf_release(&lit);
	return n;
fail:
	sbuf_release(&lit);
	node_free(n);
	return NULL;
}

/* Argument lists: "(a, b)", or "a, b" without parentheses when a is a string. */
static int parse_args(struct parser *p, struct node *call, bool parens)
{
	struct tok *t;

	if (parens) {
		take(p); /* ( */
		if (skip_nl(p) < 0 || !(t = peek(p))) {
			return -1;
		}
		if (t->kind == T_RPAREN) {
			take(p);
			return 0;
		}
	}
	for (;;) {
		struct node *a = parse_expr(p);
		if (!a) {
			return -1;
		}
		if (add_kid(p, call, a) < 0) {
			return -1;
		}
		if ((parens && skip_nl(p) < 0) || !(t = peek(p))) {
			return -1;
		}
		if (t->kind == T_COMMA) {
			take(p);
			if (skip_nl(p) < 0) {
				return -1;
			}
			continue;
		}
		if (!parens) {
			return 0;
		}
		if (t->kind != T_RPAREN) {
			return syntax(p, t, "expected ')' or ',' in the argument list");
		}
		take(p);
		return 0;
	}
}

static bool starts_string(const struct tok *t)
{
	return t->kind == T_DSTR || t->kind == T_SSTR || t->kind == T_XSTR;
}

struct method {
	const char *name;
	int min, max; /* arguments */
};

/* Every method of String, Array, Integer and nil that berth evaluates. */
static const struct method methods[] = {
    {"strip", 0, 0},	{"lstrip", 0, 0},      {"rstrip", 0, 0},    {"chomp", 0, 1},
    {"split", 0, 1},	{"to_s", 0, 0},	       {"to_i", 0, 0},	    {"upcase", 0, 0},
    {"downcase", 0, 0}, {"empty?", 0, 0},      {"nil?", 0, 0},	    {"length", 0, 0},
    {"size", 0, 0},	{"start_with?", 1, 8}, {"end_with?", 1, 8}, {"include?", 1, 1},
    {"first", 0, 0},	{"last", 0, 0},	       {"join", 0, 1},
};

static const struct method *find_method(struct slice name)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (slice_eq_cstr(name, methods[i].name)) {
			return &methods[i];
		}
	}
	return NULL;
}

static const char *method_hint(struct slice name)
{
	if (slice_eq_cstr(name, "present?")) {
		return "; present? is Rails, not Ruby: write !x.to_s.empty? or x.to_s != \"\"";
	}
	if (slice_eq_cstr(name, "blank?")) {
		return "; blank? is Rails, not Ruby: write x.to_s.empty?";
	}
	if (slice_eq_cstr(name, "presence")) {
		return "; presence is Rails, not Ruby: write ENV.fetch(\"NAME\", \"default\")";
	}
	if (slice_eq_cstr(name, "each") || slice_eq_cstr(name, "map") ||
	    slice_eq_cstr(name, "times") || slice_eq_cstr(name, "each_with_index")) {
		return "; loops are not evaluated: write the YAML out";
	}
	return "; methods: strip lstrip rstrip chomp split to_s to_i upcase downcase empty? nil? "
	       "length size start_with? end_with? include? first last join [i]";
}

/* x.name(args): ENV and File methods become their own nodes. */
static struct node *parse_call(struct parser *p, struct node *recv, const struct tok *dot,
			       const char *start, struct seg *seg)
{
	struct tok name, *t;
	struct node *n = NULL;
	struct slice nm;
	const struct method *m = NULL;
	int min = 0, max = 0;

	take(p); /* . or &. */
	if (skip_nl(p) < 0 || !(t = peek(p))) {
		goto fail;
	}
	if (t->kind != T_IDENT && t->kind != T_CONST) {
		syntax(p, t, "expected a method name after '.'");
		goto fail;
	}
	name = *t;
	take(p);
	nm = slice_make(name.p, name.len);
	if (recv->kind == N_CONST && !strcmp(recv->str, "ENV")) {
		if (slice_eq_cstr(nm, "fetch")) {
			n = node_new(N_FETCH, recv->line);
			min = 1, max = 2;
		} else if (slice_eq_cstr(nm, "key?") || slice_eq_cstr(nm, "has_key?") ||
			   slice_eq_cstr(nm, "include?") || slice_eq_cstr(nm, "member?")) {
			n = node_new(N_KEYP, recv->line);
			min = max = 1;
		} else if (slice_eq_cstr(nm, "[]")) {
			n = node_new(N_ENV, recv->line);
			min = max = 1;
		} else {
			unsupported(p, &name, "ENV has no other methods here",
				    "; write ENV[\"NAME\"] or ENV.fetch(\"NAME\", \"default\")");
			goto fail;
		}
	} else if (recv->kind == N_CONST) {
		if (slice_eq_cstr(nm, "read")) {
			n = node_new(N_FREAD, recv->line);
			min = max = 1;
		} else if (slice_eq_cstr(nm, "exist?")) {
			n = node_new(N_FEXIST, recv->line);
			min = max = 1;
		} else {
			unsupported(p, &name, "File has no other methods here",
				    "; write File.read(\"path\") or File.exist?(\"path\")");
			goto fail;
		}
	} else {
		m = find_method(nm);
		if (!m) {
			unsupported(p, &name, NULL, method_hint(nm));
			goto fail;
		}
		n = node_new(N_CALL, name.line);
		node_setstr(n, name.p, name.len);
		n->flag = dot->kind == T_SAFEDOT;
		min = m->min;
		max = m->max;
		if (add_kid(p, n, recv) < 0) {
			node_free(n);
			return NULL;
		}
		recv = NULL;
	}
	node_free(recv);
	recv = NULL;
	if (!(t = peek(p))) {
		goto fail;
	}
	if (t->kind == T_LPAREN) {
		if (parse_args(p, n, true) < 0) {
			goto fail;
		}
	} else if (starts_string(t) && max > 0) {
		if (parse_args(p, n, false) < 0) {
			goto fail;
		}
	}
	if (!(t = peek(p))) {
		goto fail;
	}
	if (t->kind == T_LBRACE || is_word(t, "do")) {
		struct node *b;
		if (n->kind != N_FETCH || t->kind != T_LBRACE) {
			unsupported(p, t, "blocks are not evaluated", NULL);
			goto fail;
		}
		/* ENV.fetch("X") { default }: the default is only evaluated when needed */
		take(p);
		if (skip_nl(p) < 0 || !(t = peek(p))) {
			goto fail;
		}
		if (t->kind == T_OTHER && *t->p == '|') {
			unsupported(p, t, "block parameters are not evaluated",
				    "; write ENV.fetch(\"NAME\") { \"default\" }");
			goto fail;
		}
		if (!(b = parse_stmt_expr(p))) {
			goto fail;
		}
		if (add_kid(p, n, b) < 0) {
			goto fail;
		}
		if (skip_nl(p) < 0 || !(t = peek(p))) {
			goto fail;
		}
		if (t->kind != T_RBRACE) {
			syntax(p, t, "expected '}' to close the block");
			goto fail;
		}
		take(p);
		if (n->nkid != 2) {
			syntax(p, t, "give ENV.fetch a default or a block, not both");
			goto fail;
		}
		n->flag = true;
	}
	{
		int nargs = (int)n->nkid - (n->kind == N_CALL ? 1 : 0);
		if (nargs < min || nargs > max) {
			struct sbuf m2 = SBUF_INIT;
			sbuf_addf(&m2, "'%.*s' takes %d", (int)nm.len, nm.ptr, min);
			if (max != min) {
				sbuf_addf(&m2, " to %d", max);
			}
			sbuf_addf(&m2, " argument%s, got %d", max == 1 && min == 1 ? "" : "s",
				  nargs);
			syntax(p, &name, m2.buf);
			sbuf_release(&m2);
			goto fail;
		}
	}
	set_src(p, n, start, seg);
	return n;
fail:
	node_free(recv);
	node_free(n);
	return NULL;
}

static struct node *parse_primary(struct parser *p);

/* primary, then .method(args) and [index] */
static struct node *parse_postfix(struct parser *p)
{
	struct tok *t = peek(p);
	const char *start;
	struct seg *seg;
	struct node *n;

	if (!t) {
		return NULL;
	}
	start = t->p;
	seg = t->seg;
	if (!(n = parse_primary(p))) {
		return NULL;
	}
	for (;;) {
		if (!(t = peek(p))) {
			goto fail;
		}
		if (t->kind == T_NL && lx_leading_dot_follows(&p->lx)) {
			if (skip_nl(p) < 0 || !(t = peek(p))) {
				goto fail;
			}
		}
		if (t->kind == T_DOT || t->kind == T_SAFEDOT) {
			struct tok dot = *t;
			if (!(n = parse_call(p, n, &dot, start, seg))) {
				return NULL;
			}
			continue;
		}
		if (t->kind == T_LBRACK && t->p == p->last_end) {
			struct node *idx;
			struct tok lb = *t;
			take(p);
			if (skip_nl(p) < 0 || !(idx = parse_expr(p))) {
				goto fail;
			}
			if (skip_nl(p) < 0 || !(t = peek(p))) {
				node_free(idx);
				goto fail;
			}
			if (t->kind != T_RBRACK) {
				node_free(idx);
				syntax(p, t, "expected ']'");
				goto fail;
			}
			take(p);
			if (n->kind == N_CONST && !strcmp(n->str, "File")) {
				node_free(idx);
				unsupported(p, &lb, NULL, NULL);
				goto fail;
			}
			if (n->kind == N_CONST) {
				node_free(n);
				n = node2(p, N_ENV, lb.line, idx, NULL);
			} else {
				n = node2(p, N_INDEX, lb.line, n, idx);
			}
			if (!n) {
				return NULL;
			}
			set_src(p, n, start, seg);
			continue;
		}
		break;
	}
	if (n->kind == N_CONST) {
		struct tok here = *t;
		here.line = n->line;
		unsupported(p, &here, "ENV and File are used through their methods",
			    "; write ENV[\"NAME\"] or File.read(\"path\")");
		goto fail;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

static struct node *parse_primary(struct parser *p)
{
	struct tok *t = peek(p), tk;
	struct node *n;
	struct slice w;

	if (!t) {
		return NULL;
	}
	tk = *t;
	w = slice_make(tk.p, tk.len);
	switch (tk.kind) {
	case T_INT:
		take(p);
		n = node_new(N_INT, tk.line);
		n->ival = tk.ival;
		return n;
	case T_DSTR:
		take(p);
		return parse_string(p, &tk, N_STR, false);
	case T_SSTR:
		take(p);
		return parse_string(p, &tk, N_STR, true);
	case T_XSTR:
		take(p);
		return parse_string(p, &tk, N_CMD, false);
	case T_LPAREN:
		take(p);
		if (skip_nl(p) < 0 || !(t = peek(p))) {
			return NULL;
		}
		if (t->kind == T_RPAREN) {
			take(p);
			return node_new(N_NIL, tk.line);
		}
		if (p->depth++ > ERB_MAX_DEPTH) {
			err_setat(p->e, p->file, tk.line, 0,
				  "ERB nested too deeply (more than %d levels)", ERB_MAX_DEPTH);
			return NULL;
		}
		n = parse_stmt_expr(p);
		p->depth--;
		if (!n) {
			return NULL;
		}
		if (skip_nl(p) < 0 || !(t = peek(p))) {
			node_free(n);
			return NULL;
		}
		if (t->kind != T_RPAREN) {
			node_free(n);
			syntax(p, t, "expected ')'");
			return NULL;
		}
		take(p);
		return n;
	case T_CONST:
		take(p);
		if (slice_eq_cstr(w, "ENV") || slice_eq_cstr(w, "File")) {
			n = node_new(N_CONST, tk.line);
			node_setstr(n, tk.p, tk.len);
			return n;
		}
		if (slice_eq_cstr(w, "Rails")) {
			unsupported(p, &tk, "Rails is not loaded",
				    "; write ENV[\"RAILS_ENV\"] instead");
		} else {
			unsupported(p, &tk, "constants other than ENV and File are not evaluated",
				    NULL);
		}
		return NULL;
	case T_IDENT:
		take(p);
		if (slice_eq_cstr(w, "nil")) {
			return node_new(N_NIL, tk.line);
		}
		if (slice_eq_cstr(w, "true")) {
			return node_new(N_TRUE, tk.line);
		}
		if (slice_eq_cstr(w, "false")) {
			return node_new(N_FALSE, tk.line);
		}
		if (slice_eq_cstr(w, "if") || slice_eq_cstr(w, "unless")) {
			unsupported(p, &tk, "if inside an expression is not evaluated",
				    "; write cond ? a : b, or put if/unless in its own <% %> tag");
			return NULL;
		}
		if (slice_eq_cstr(w, "not") || slice_eq_cstr(w, "and") || slice_eq_cstr(w, "or")) {
			unsupported(p, &tk, "not/and/or are not evaluated", "; write !, && or ||");
			return NULL;
		}
		if ((t = peek(p)) && t->kind == T_ASSIGN) {
			unsupported(p, &tk, "variables are not evaluated",
				    "; repeat the expression where it is used");
			return NULL;
		}
		unsupported(p, &tk, "variables and helper methods are not evaluated", NULL);
		return NULL;
	case T_EOF:
	case T_TAGEND:
	case T_NL:
	case T_SEMI:
	case T_TEXT:
	case T_OUT:
		syntax(p, &tk, "expected an expression");
		return NULL;
	default:
		if (tk.kind == T_OTHER && (*tk.p == '@' || *tk.p == '$')) {
			unsupported(p, &tk, "variables are not evaluated", NULL);
			return NULL;
		}
		if (tk.kind == T_LBRACK || tk.kind == T_LBRACE || tk.kind == T_COLON) {
			unsupported(p, &tk, "arrays, hashes and symbols are not evaluated", NULL);
			return NULL;
		}
		{
			struct sbuf m = SBUF_INIT;
			sbuf_addf(&m, "'%.*s' is not evaluated", (int)tk.len, tk.p);
			unsupported(p, &tk, m.buf, NULL);
			sbuf_release(&m);
		}
		return NULL;
	}
}

static struct node *parse_unary(struct parser *p)
{
	struct tok *t = peek(p), tk;
	struct node *n;

	if (!t) {
		return NULL;
	}
	tk = *t;
	if (tk.kind != T_BANG && tk.kind != T_MINUS) {
		return parse_postfix(p);
	}
	take(p);
	if (p->depth++ > ERB_MAX_DEPTH) {
		err_setat(p->e, p->file, tk.line, 0, "ERB nested too deeply (more than %d levels)",
			  ERB_MAX_DEPTH);
		return NULL;
	}
	if (tk.kind == T_MINUS && (t = peek(p)) && t->kind == T_INT && t->p == tk.p + 1) {
		/* -1 is a literal (and -1.to_s is (-1).to_s) */
		p->cur.ival = -p->cur.ival;
		n = parse_postfix(p);
	} else {
		n = parse_unary(p);
		if (n) {
			n = node2(p, tk.kind == T_BANG ? N_NOT : N_NEG, tk.line, n, NULL);
		}
	}
	p->depth--;
	return n;
}

static struct node *parse_add(struct parser *p)
{
	struct node *l = parse_unary(p), *r;
	struct tok *t;

	while (l && (t = peek(p)) && t->kind == T_PLUS) {
		unsigned line = t->line;
		take(p);
		if (skip_nl(p) < 0 || !(r = parse_unary(p))) {
			node_free(l);
			return NULL;
		}
		l = node2(p, N_ADD, line, l, r);
	}
	return l;
}

static bool is_unsupported_op(const struct tok *t)
{
	return t->kind == T_MINUS ||
	       (t->kind == T_OTHER && strchr("*/%<>=!~^&|", *t->p) && *t->p != '\0');
}

static struct node *parse_eq(struct parser *p)
{
	struct node *l = parse_add(p), *r;
	struct tok *t;

	if (!l || !(t = peek(p))) {
		node_free(l);
		return NULL;
	}
	if (t->kind == T_EQ || t->kind == T_NE) {
		enum node_kind k = t->kind == T_EQ ? N_EQ : N_NE;
		unsigned line = t->line;
		take(p);
		if (skip_nl(p) < 0 || !(r = parse_add(p))) {
			node_free(l);
			return NULL;
		}
		l = node2(p, k, line, l, r);
		if (!l || !(t = peek(p))) {
			node_free(l);
			return NULL;
		}
	}
	if (is_unsupported_op(t)) {
		struct sbuf m = SBUF_INIT;
		sbuf_addf(&m, "the operator '%.*s' is not evaluated", (int)t->len, t->p);
		unsupported(p, t, m.buf, NULL);
		sbuf_release(&m);
		node_free(l);
		return NULL;
	}
	return l;
}

static struct node *parse_binary(struct parser *p, enum tok_kind op)
{
	struct node *l = op == T_OROR ? parse_binary(p, T_ANDAND) : parse_eq(p), *r;
	struct tok *t;

	while (l && (t = peek(p)) && t->kind == op) {
		unsigned line = t->line;
		take(p);
		if (skip_nl(p) < 0) {
			node_free(l);
			return NULL;
		}
		r = op == T_OROR ? parse_binary(p, T_ANDAND) : parse_eq(p);
		if (!r) {
			node_free(l);
			return NULL;
		}
		l = node2(p, op == T_OROR ? N_OR : N_AND, line, l, r);
	}
	return l;
}

/* c ? a : b */
static struct node *parse_expr(struct parser *p)
{
	struct node *c = NULL, *a = NULL, *b = NULL, *n;
	struct tok *t;
	unsigned line;

	if (p->depth++ > ERB_MAX_DEPTH) {
		t = peek(p);
		err_setat(p->e, p->file, t ? t->line : 0, 0,
			  "ERB nested too deeply (more than %d levels)", ERB_MAX_DEPTH);
		goto fail;
	}
	if (!(c = parse_binary(p, T_OROR)) || !(t = peek(p))) {
		goto fail;
	}
	if (t->kind != T_QUESTION) {
		p->depth--;
		return c;
	}
	line = t->line;
	take(p);
	if (skip_nl(p) < 0 || !(a = parse_expr(p)) || skip_nl(p) < 0 || !(t = peek(p))) {
		goto fail;
	}
	if (t->kind != T_COLON) {
		syntax(p, t, "expected ':' in 'cond ? a : b'");
		goto fail;
	}
	take(p);
	if (skip_nl(p) < 0 || !(b = parse_expr(p))) {
		goto fail;
	}
	n = node2(p, N_IF, line, c, a);
	c = a = NULL;
	if (!n) {
		goto fail;
	}
	if (add_kid(p, n, b) < 0) {
		b = NULL;
		node_free(n);
		goto fail;
	}
	p->depth--;
	return n;
fail:
	node_free(a);
	node_free(b);
	node_free(c);
	p->depth--;
	return NULL;
}

/* expr, then any "if cond" / "unless cond" modifiers */
static struct node *parse_stmt_expr(struct parser *p)
{
	struct node *n = parse_expr(p), *c;
	struct tok *t;

	while (n && (t = peek(p)) && (is_word(t, "if") || is_word(t, "unless"))) {
		bool unless = is_word(t, "unless");
		unsigned line = t->line;
		take(p);
		if (!(c = parse_expr(p))) {
			node_free(n);
			return NULL;
		}
		if (unless && !(c = node2(p, N_NOT, line, c, NULL))) {
			node_free(n);
			return NULL;
		}
		n = node2(p, N_IF, line, c, n);
	}
	return n;
}

static bool ends_stmt(const struct tok *t)
{
	return t->kind == T_NL || t->kind == T_SEMI || t->kind == T_TAGEND || t->kind == T_EOF;
}

/* if/unless cond [then] stmts {elsif cond stmts} [else stmts] end */
static struct node *parse_if(struct parser *p)
{
	struct tok *t = peek(p), open = *t;
	struct node *top = NULL, *cur = NULL, *c, *body;
	bool unless = is_word(t, "unless");

	take(p);
	if (p->depth++ > ERB_MAX_DEPTH) {
		err_setat(p->e, p->file, open.line, 0,
			  "ERB nested too deeply (more than %d levels)", ERB_MAX_DEPTH);
		goto fail;
	}
	for (;;) {
		struct node *n;
		unsigned line = peek(p) ? p->cur.line : 0;
		if (!(c = parse_expr(p))) {
			goto fail;
		}
		if (unless && !(c = node2(p, N_NOT, line, c, NULL))) {
			goto fail;
		}
		if (!(t = peek(p))) {
			node_free(c);
			goto fail;
		}
		if (is_word(t, "then")) {
			take(p);
		} else if (!ends_stmt(t)) {
			node_free(c);
			syntax(p, t, "expected the end of the condition");
			goto fail;
		}
		if (!(body = parse_stmts(p))) {
			node_free(c);
			goto fail;
		}
		if (!(n = node2(p, N_IF, line, c, body))) {
			goto fail;
		}
		if (!top) {
			top = n;
		} else if (add_kid(p, cur, n) < 0) {
			goto fail;
		}
		cur = n;
		if (!(t = peek(p))) {
			goto fail;
		}
		if (is_word(t, "elsif") && !unless) {
			take(p);
			continue;
		}
		if (is_word(t, "else")) {
			take(p);
			if (!(body = parse_stmts(p))) {
				goto fail;
			}
			if (add_kid(p, cur, body) < 0) {
				goto fail;
			}
			if (!(t = peek(p))) {
				goto fail;
			}
		}
		if (is_word(t, "end")) {
			take(p);
			break;
		}
		if (t->kind == T_EOF) {
			err_setat(p->e, p->file, open.line, 0,
				  "'%s' without a matching '<%% end %%>'",
				  unless ? "unless" : "if");
		} else {
			syntax(p, t,
			       unless ? "expected 'end' to close the 'unless'"
				      : "expected 'end' to close the 'if'");
		}
		goto fail;
	}
	p->depth--;
	return top;
fail:
	node_free(top);
	p->depth--;
	return NULL;
}

/* Statements up to elsif/else/end (left for the caller) or the end of the file. */
static struct node *parse_stmts(struct parser *p)
{
	struct node *seq = node_new(N_SEQ, p->lx.line), *n;
	struct tok *t;

	for (;;) {
		if (!(t = peek(p))) {
			goto fail;
		}
		switch (t->kind) {
		case T_EOF:
			return seq;
		case T_NL:
		case T_SEMI:
		case T_TAGEND:
			take(p);
			continue;
		case T_TEXT:
			n = node_new(N_TEXT, t->line);
			node_setstr(n, t->p, t->len);
			take(p);
			break;
		case T_OUT: {
			struct tok out = *t;
			take(p);
			if (skip_nl(p) < 0 || !(t = peek(p))) {
				goto fail;
			}
			if (t->kind == T_TAGEND) {
				take(p);
				continue; /* <%= %> prints nothing */
			}
			if (!(n = parse_stmt_expr(p))) {
				goto fail;
			}
			if (skip_nl(p) < 0 || !(t = peek(p))) {
				node_free(n);
				goto fail;
			}
			if (t->kind != T_TAGEND) {
				node_free(n);
				syntax(p, t, "expected '%>' after the expression");
				goto fail;
			}
			take(p);
			if (!(n = node2(p, N_OUT, out.line, n, NULL))) {
				goto fail;
			}
			break;
		}
		default:
			if (is_word(t, "elsif") || is_word(t, "else") || is_word(t, "end")) {
				return seq;
			}
			if (is_word(t, "if") || is_word(t, "unless")) {
				n = parse_if(p);
			} else if (is_word(t, "while") || is_word(t, "until") ||
				   is_word(t, "for") || is_word(t, "case") || is_word(t, "def") ||
				   is_word(t, "begin")) {
				unsupported(p, t, "loops, case and definitions are not evaluated",
					    NULL);
				goto fail;
			} else {
				n = parse_stmt_expr(p);
			}
			if (!n) {
				goto fail;
			}
			if (!(t = peek(p))) {
				node_free(n);
				goto fail;
			}
			if (!ends_stmt(t) && !is_word(t, "end") && !is_word(t, "else") &&
			    !is_word(t, "elsif")) {
				struct sbuf m = SBUF_INIT;
				sbuf_addf(&m, "'%.*s' is not evaluated here", (int)t->len, t->p);
				unsupported(p, t, m.buf, NULL);
				sbuf_release(&m);
				node_free(n);
				goto fail;
			}
			break;
		}
		if (add_kid(p, seq, n) < 0) {
			goto fail;
		}
	}
fail:
	node_free(seq);
	return NULL;
}

static struct node *parse_template(struct parser *p)
{
	struct node *root = parse_stmts(p);
	struct tok *t;

	if (!root) {
		return NULL;
	}
	if (!(t = peek(p))) {
		node_free(root);
		return NULL;
	}
	if (t->kind != T_EOF) {
		syntax(p, t, "'end', 'else' or 'elsif' without a matching if or unless");
		node_free(root);
		return NULL;
	}
	return root;
}

/* ---------------------------------------------------------------- values */

enum val_kind {
	V_NIL,
	V_BOOL,
	V_INT,
	V_STR,
	V_ARR,
};

struct val {
	enum val_kind kind;
	bool b;
	long long i;
	struct sbuf s;
	struct val *a;
	size_t n;
};

static void val_init(struct val *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = V_NIL;
	sbuf_init(&v->s, 0);
}

static void val_release(struct val *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		val_release(&v->a[i]);
	}
	free(v->a);
	sbuf_release(&v->s);
	val_init(v);
}

static void val_move(struct val *dst, struct val *src)
{
	val_release(dst);
	*dst = *src;
	val_init(src);
}

static const char *val_type(const struct val *v)
{
	switch (v->kind) {
	case V_NIL:
		return "nil";
	case V_BOOL:
		return v->b ? "true" : "false";
	case V_INT:
		return "Integer";
	case V_STR:
		return "String";
	case V_ARR:
		return "Array";
	}
	return "?";
}

static bool truthy(const struct val *v)
{
	return !(v->kind == V_NIL || (v->kind == V_BOOL && !v->b));
}

static bool val_eq(const struct val *a, const struct val *b)
{
	size_t i;

	if (a->kind != b->kind) {
		return false;
	}
	switch (a->kind) {
	case V_NIL:
		return true;
	case V_BOOL:
		return a->b == b->b;
	case V_INT:
		return a->i == b->i;
	case V_STR:
		return a->s.len == b->s.len && !memcmp(a->s.buf, b->s.buf, a->s.len);
	case V_ARR:
		if (a->n != b->n) {
			return false;
		}
		for (i = 0; i < a->n; i++) {
			if (!val_eq(&a->a[i], &b->a[i])) {
				return false;
			}
		}
		return true;
	}
	return false;
}

/* Length of a valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned long cp;

	if (s[0] < 0x80) {
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2, cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

/* String#inspect, as Array#to_s shows its strings. */
static void inspect_str(struct sbuf *sb, const char *s, size_t n)
{
	size_t i = 0;

	sbuf_addch(sb, '"');
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t l;
		switch (c) {
		case '"':
		case '\\':
			sbuf_addch(sb, '\\');
			sbuf_addch(sb, c);
			i++;
			continue;
		case '#':
			if (i + 1 < n && (s[i + 1] == '{' || s[i + 1] == '$' || s[i + 1] == '@')) {
				sbuf_addch(sb, '\\');
			}
			sbuf_addch(sb, '#');
			i++;
			continue;
		case '\n':
			sbuf_addstr(sb, "\\n");
			i++;
			continue;
		case '\t':
			sbuf_addstr(sb, "\\t");
			i++;
			continue;
		case '\r':
			sbuf_addstr(sb, "\\r");
			i++;
			continue;
		case 12:
			sbuf_addstr(sb, "\\f");
			i++;
			continue;
		case 11:
			sbuf_addstr(sb, "\\v");
			i++;
			continue;
		case 8:
			sbuf_addstr(sb, "\\b");
			i++;
			continue;
		case 7:
			sbuf_addstr(sb, "\\a");
			i++;
			continue;
		case 27:
			sbuf_addstr(sb, "\\e");
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			sbuf_addf(sb, "\\u%04X", c);
			i++;
		} else if ((l = utf8_len((const unsigned char *)s + i, n - i))) {
			sbuf_add(sb, s + i, l);
			i += l;
		} else {
			sbuf_addf(sb, "\\x%02X", c);
			i++;
		}
	}
	sbuf_addch(sb, '"');
}

/* to_s. */
static void val_to_s(const struct val *v, struct sbuf *sb)
{
	size_t i;

	switch (v->kind) {
	case V_NIL:
		break;
	case V_BOOL:
		sbuf_addstr(sb, v->b ? "true" : "false");
		break;
	case V_INT:
		sbuf_addf(sb, "%lld", v->i);
		break;
	case V_STR:
		sbuf_add(sb, v->s.buf, v->s.len);
		break;
	case V_ARR:
		sbuf_addch(sb, '[');
		for (i = 0; i < v->n; i++) {
			if (i) {
				sbuf_addstr(sb, ", ");
			}
			if (v->a[i].kind == V_STR) {
				inspect_str(sb, v->a[i].s.buf, v->a[i].s.len);
			} else if (v->a[i].kind == V_NIL) {
				sbuf_addstr(sb, "nil");
			} else {
				val_to_s(&v->a[i], sb);
			}
		}
		sbuf_addch(sb, ']');
		break;
	}
}

/* -------------------------------------------------------------- evaluator */

struct render {
	const struct erb_ctx *ctx;
	const char *file;
	struct err *e;
	struct sbuf *out;
	size_t out_start;
};

static const char *env_lookup(struct render *r, const char *name)
{
	if (r->ctx && r->ctx->getenv) {
		return r->ctx->getenv(name, r->ctx->data);
	}
	return getenv(name);
}

/* 'code' of a node, for messages. */
static void quote_node(struct sbuf *sb, const struct node *n)
{
	struct slice q;
	size_t i;

	if (!n->src) {
		sbuf_addstr(sb, "expression");
		return;
	}
	q = slice_trim(slice_make(n->src, n->srclen));
	sbuf_addch(sb, '\'');
	for (i = 0; i < q.len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)q.ptr[i];
		sbuf_addch(sb, c < ' ' || c == 127 ? ' ' : c);
	}
	if (q.len > QUOTE_MAX) {
		sbuf_addstr(sb, "...");
	}
	sbuf_addch(sb, '\'');
}

static int too_long(struct render *r, const struct node *n)
{
	return err_setat(r->e, r->file, n->line, 0, "ERB value larger than %u bytes",
			 ERB_MAX_OUTPUT);
}

static int eval(struct render *r, const struct node *n, struct val *out);

static void set_str(struct val *v, const char *s, size_t len)
{
	val_release(v);
	v->kind = V_STR;
	sbuf_add(&v->s, s, len);
}

/* Evaluates n into a string (as "#{}" does: to_s). */
static int eval_to_s(struct render *r, const struct node *n, struct sbuf *sb)
{
	struct val v;
	int ret;

	val_init(&v);
	ret = eval(r, n, &v);
	if (!ret) {
		val_to_s(&v, sb);
	}
	val_release(&v);
	if (!ret && sb->len > ERB_MAX_OUTPUT) {
		ret = too_long(r, n);
	}
	return ret;
}

/* Evaluates n, which must give a String (ENV keys, paths). */
static int eval_string_arg(struct render *r, const struct node *n, const char *what, struct val *v)
{
	if (eval(r, n, v) < 0) {
		return -1;
	}
	if (v->kind != V_STR) {
		return err_setat(r->e, r->file, n->line, 0,
				 "%s: no implicit conversion of %s into String", what, val_type(v));
	}
	if (memchr(v->s.buf, '\0', v->s.len)) {
		return err_setat(r->e, r->file, n->line, 0, "%s: string contains a NUL byte", what);
	}
	return 0;
}

static const char *run_dir(struct render *r)
{
	return r->ctx && r->ctx->dir && *r->ctx->dir ? r->ctx->dir : NULL;
}

static int eval_cmd(struct render *r, const struct node *n, struct val *out)
{
	struct sbuf cmd = SBUF_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	unsigned timeout;
	size_t i;
	int ret = -1;

	for (i = 0; i < n->nkid; i++) {
		if (eval_to_s(r, n->kid[i], &cmd) < 0) {
			goto out;
		}
	}
	if (r->ctx && r->ctx->no_commands) {
		err_setat(r->e, r->file, n->line, 0, "ERB command not run here: `%s`", cmd.buf);
		goto out;
	}
	if (memchr(cmd.buf, '\0', cmd.len)) {
		err_setat(r->e, r->file, n->line, 0, "ERB command contains a NUL byte");
		goto out;
	}
	timeout = r->ctx && r->ctx->cmd_timeout_ms ? r->ctx->cmd_timeout_ms : DEFAULT_TIMEOUT_MS;
	strvec_pushv(&c.argv, (const char *[]){"sh", "-c", cmd.buf, NULL});
	c.dir = run_dir(r);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_INHERIT;
	c.timeout_ms = timeout;
	c.capture_max = ERB_MAX_CMD_OUTPUT;
	run_one(&c); /* like Ruby's backticks, a failing command still gives its output */
	if (!c.started) {
		struct sbuf why = SBUF_INIT;
		run_describe_status(&c, &why);
		err_setat(r->e, r->file, n->line, 0, "ERB command `%s` %s", cmd.buf, why.buf);
		sbuf_release(&why);
		goto out;
	}
	if (c.timed_out) {
		err_setat(r->e, r->file, n->line, 0, "ERB command `%s` timed out after %u ms",
			  cmd.buf, timeout);
		goto out;
	}
	if (c.truncated) {
		err_setat(r->e, r->file, n->line, 0, "ERB command `%s` printed more than %u bytes",
			  cmd.buf, ERB_MAX_CMD_OUTPUT);
		goto out;
	}
	set_str(out, c.outbuf.buf, c.outbuf.len);
	ret = 0;
out:
	run_cmd_release(&c);
	sbuf_release(&cmd);
	return ret;
}

/* Reads a regular file of at most max bytes. Returns 0, or -1 with errno set (EFBIG). */
static int read_bounded(const char *path, size_t max, struct sbuf *sb)
{
	struct stat st;
	int fd, ret = -1, saved;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	for (;;) {
		ssize_t n = sbuf_read_once(sb, fd, 65536);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			goto out;
		}
		if (n == 0) {
			break;
		}
		if (sb->len > max) {
			errno = EFBIG;
			goto out;
		}
	}
	ret = 0;
out:
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

static void file_path(struct render *r, const struct val *v, struct sbuf *path)
{
	const char *dir = run_dir(r);

	if (dir && v->s.buf[0] != '/') {
		sbuf_addstr(path, dir);
		if (path->len && path->buf[path->len - 1] != '/') {
			sbuf_addch(path, '/');
		}
	}
	sbuf_add(path, v->s.buf, v->s.len);
}

static int eval_file(struct render *r, const struct node *n, struct val *out)
{
	struct sbuf path = SBUF_INIT, data = SBUF_INIT;
	struct val v;
	struct stat st;
	int ret = -1;

	val_init(&v);
	if (eval_string_arg(r, n->kid[0], n->kind == N_FREAD ? "File.read" : "File.exist?", &v) <
	    0) {
		goto out;
	}
	file_path(r, &v, &path);
	if (n->kind == N_FEXIST) {
		val_release(out);
		out->kind = V_BOOL;
		out->b = !stat(path.buf, &st);
		ret = 0;
		goto out;
	}
	if (read_bounded(path.buf, ERB_MAX_FILE, &data) < 0) {
		if (errno == EFBIG) {
			err_setat(r->e, r->file, n->line, 0,
				  "File.read: '%s' is larger than %u bytes", v.s.buf, ERB_MAX_FILE);
		} else if (errno == EINVAL) {
			err_setat(r->e, r->file, n->line, 0,
				  "File.read: '%s' is not a regular file", v.s.buf);
		} else {
			err_setat(r->e, r->file, n->line, 0, "File.read: cannot read '%s': %s",
				  v.s.buf, strerror(errno));
		}
		goto out;
	}
	set_str(out, data.buf, data.len);
	ret = 0;
out:
	sbuf_release(&path);
	sbuf_release(&data);
	val_release(&v);
	return ret;
}

static int eval_env(struct render *r, const struct node *n, struct val *out)
{
	struct val key, def;
	const char *s;
	int ret = -1;

	val_init(&key);
	val_init(&def);
	if (eval_string_arg(r, n->kid[0],
			    n->kind == N_ENV	? "ENV[]"
			    : n->kind == N_KEYP ? "ENV.key?"
						: "ENV.fetch",
			    &key) < 0) {
		goto out;
	}
	/* Ruby evaluates a default argument (not a block) before the call */
	if (n->kind == N_FETCH && n->nkid == 2 && !n->flag && eval(r, n->kid[1], &def) < 0) {
		goto out;
	}
	s = env_lookup(r, key.s.buf);
	if (n->kind == N_KEYP) {
		val_release(out);
		out->kind = V_BOOL;
		out->b = s != NULL;
	} else if (s) {
		set_str(out, s, strlen(s));
	} else if (n->kind == N_ENV) {
		val_release(out);
	} else if (n->nkid == 2 && n->flag) {
		if (eval(r, n->kid[1], out) < 0) {
			goto out;
		}
	} else if (n->nkid == 2) {
		val_move(out, &def);
	} else {
		err_setat(r->e, r->file, n->line, 0,
			  "ENV.fetch: environment variable '%s' is not set; set it, or give a "
			  "default: ENV.fetch(\"%s\", \"value\")",
			  key.s.buf, key.s.buf);
		goto out;
	}
	if (out->kind == V_STR && out->s.len > ERB_MAX_OUTPUT) {
		too_long(r, n);
		goto out;
	}
	ret = 0;
out:
	val_release(&key);
	val_release(&def);
	return ret;
}

static bool is_space_ruby(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' ||
	       c == '\0';
}

static void push_str(struct val *arr, const char *s, size_t len)
{
	arr->a = xrealloc(arr->a, (arr->n + 1) * sizeof(*arr->a));
	val_init(&arr->a[arr->n]);
	set_str(&arr->a[arr->n], s, len);
	arr->n++;
}

/* String#split: on whitespace runs (sep nil or " "), else on the string sep. */
static void split(const struct val *s, const struct val *sep, struct val *out)
{
	const char *p = s->s.buf, *end = s->s.buf + s->s.len;
	struct val arr;

	val_init(&arr);
	arr.kind = V_ARR;
	if (!sep || sep->kind == V_NIL || (sep->s.len == 1 && sep->s.buf[0] == ' ')) {
		while (p < end) {
			const char *w;
			while (p < end && is_space_ruby((unsigned char)*p)) {
				p++;
			}
			if (p == end) {
				break;
			}
			w = p;
			while (p < end && !is_space_ruby((unsigned char)*p)) {
				p++;
			}
			push_str(&arr, w, (size_t)(p - w));
		}
	} else if (!sep->s.len) {
		while (p < end) {
			size_t l = utf8_len((const unsigned char *)p, (size_t)(end - p));
			if (!l) {
				l = 1;
			}
			push_str(&arr, p, l);
			p += l;
		}
	} else {
		while (p <= end) {
			const char *hit = memmem(p, (size_t)(end - p), sep->s.buf, sep->s.len);
			if (!hit) {
				push_str(&arr, p, (size_t)(end - p));
				break;
			}
			push_str(&arr, p, (size_t)(hit - p));
			p = hit + sep->s.len;
		}
		/* trailing empty fields go */
		while (arr.n && !arr.a[arr.n - 1].s.len) {
			val_release(&arr.a[--arr.n]);
		}
	}
	val_move(out, &arr);
}

/* String#to_i: leading blanks, a sign, digits with single underscores; else 0. */
static int str_to_i(const struct val *s, long long *out)
{
	const char *p = s->s.buf, *end = s->s.buf + s->s.len;
	unsigned long long v = 0;
	bool neg = false;

	while (p < end && is_space_ruby((unsigned char)*p)) {
		p++;
	}
	if (p < end && (*p == '+' || *p == '-')) {
		neg = *p == '-';
		p++;
	}
	for (; p < end; p++) {
		if (*p == '_' && p + 1 < end && is_digit(p[1]) && p > s->s.buf && is_digit(p[-1])) {
			continue;
		}
		if (!is_digit((unsigned char)*p)) {
			break;
		}
		if (v > ((unsigned long long)INT64_MAX + 1 - (unsigned)(*p - '0')) / 10) {
			return -1;
		}
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (!neg && v > (unsigned long long)INT64_MAX) {
		return -1;
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

static size_t utf8_count(const char *s, size_t n)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			count++;
		}
	}
	return count;
}

static int no_method(struct render *r, const struct node *n, const struct val *recv)
{
	struct sbuf q = SBUF_INIT;
	const char *hint = "";

	quote_node(&q, n);
	if (recv->kind == V_NIL) {
		hint = "; ENV[\"NAME\"] is nil when NAME is unset: write ENV.fetch(\"NAME\", "
		       "\"default\") or (ENV[\"NAME\"] || \"default\")";
	}
	err_setat(r->e, r->file, n->line, 0, "undefined method '%s' for %s in %s%s", n->str,
		  val_type(recv), q.buf, hint);
	sbuf_release(&q);
	return -1;
}

static int arg_type(struct render *r, const struct node *n, const struct val *arg,
		    enum val_kind want, bool nil_ok)
{
	if (arg->kind == want || (nil_ok && arg->kind == V_NIL)) {
		return 0;
	}
	return err_setat(r->e, r->file, n->line, 0, "%s: no implicit conversion of %s into %s",
			 n->str, val_type(arg), want == V_STR ? "String" : "Integer");
}

static int call_str(struct render *r, const struct node *n, struct val *recv, struct val *args,
		    size_t nargs, struct val *out)
{
	const char *name = n->str;
	struct sbuf *s = &recv->s;
	size_t i, b = 0, e = s->len;

	if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
		if (name[0] != 'r') {
			while (b < e && is_space_ruby((unsigned char)s->buf[b])) {
				b++;
			}
		}
		if (name[0] != 'l') {
			while (e > b && is_space_ruby((unsigned char)s->buf[e - 1])) {
				e--;
			}
		}
		set_str(out, s->buf + b, e - b);
	} else if (!strcmp(name, "chomp")) {
		if (nargs && args[0].kind != V_NIL) {
			if (arg_type(r, n, &args[0], V_STR, false) < 0) {
				return -1;
			}
			if (!args[0].s.len) {
				while (e > 0 && s->buf[e - 1] == '\n') {
					e--;
					if (e > 0 && s->buf[e - 1] == '\r') {
						e--;
					}
				}
			} else if (args[0].s.len == 1 && args[0].s.buf[0] == '\n') {
				goto newline;
			} else if (e >= args[0].s.len && !memcmp(s->buf + e - args[0].s.len,
								 args[0].s.buf, args[0].s.len)) {
				e -= args[0].s.len;
			}
		} else if (!nargs) {
		newline:
			if (e > 0 && s->buf[e - 1] == '\n') {
				e--;
				if (e > 0 && s->buf[e - 1] == '\r') {
					e--;
				}
			} else if (e > 0 && s->buf[e - 1] == '\r') {
				e--;
			}
		}
		set_str(out, s->buf, e);
	} else if (!strcmp(name, "split")) {
		if (nargs && arg_type(r, n, &args[0], V_STR, true) < 0) {
			return -1;
		}
		split(recv, nargs ? &args[0] : NULL, out);
	} else if (!strcmp(name, "to_s")) {
		val_move(out, recv);
	} else if (!strcmp(name, "to_i")) {
		long long v;
		if (str_to_i(recv, &v) < 0) {
			return err_setat(r->e, r->file, n->line, 0, "to_i: integer out of range");
		}
		val_release(out);
		out->kind = V_INT;
		out->i = v;
	} else if (!strcmp(name, "upcase") || !strcmp(name, "downcase")) {
		bool up = name[0] == 'u';
		for (i = 0; i < s->len; i++) {
			char c = s->buf[i];
			if (up && c >= 'a' && c <= 'z') {
				s->buf[i] = (char)(c - 32);
			} else if (!up && c >= 'A' && c <= 'Z') {
				s->buf[i] = (char)(c + 32);
			}
		}
		val_move(out, recv);
	} else if (!strcmp(name, "empty?")) {
		val_release(out);
		out->kind = V_BOOL;
		out->b = !s->len;
	} else if (!strcmp(name, "length") || !strcmp(name, "size")) {
		val_release(out);
		out->kind = V_INT;
		out->i = (long long)utf8_count(s->buf, s->len);
	} else if (!strcmp(name, "start_with?") || !strcmp(name, "end_with?") ||
		   !strcmp(name, "include?")) {
		bool hit = false;
		for (i = 0; i < nargs; i++) {
			const struct sbuf *a = &args[i].s;
			if (arg_type(r, n, &args[i], V_STR, false) < 0) {
				return -1;
			}
			if (name[0] == 's') {
				hit = hit || (a->len <= s->len && !memcmp(s->buf, a->buf, a->len));
			} else if (name[0] == 'e') {
				hit = hit || (a->len <= s->len &&
					      !memcmp(s->buf + s->len - a->len, a->buf, a->len));
			} else {
				hit = hit || !a->len || memmem(s->buf, s->len, a->buf, a->len);
			}
		}
		val_release(out);
		out->kind = V_BOOL;
		out->b = hit;
	} else {
		return no_method(r, n, recv);
	}
	return 0;
}

static int call_arr(struct render *r, const struct node *n, struct val *recv, struct val *args,
		    size_t nargs, struct val *out)
{
	const char *name = n->str;
	size_t i;

	if (!strcmp(name, "first") || !strcmp(name, "last")) {
		if (!recv->n) {
			val_release(out);
			return 0;
		}
		val_move(out, &recv->a[name[0] == 'f' ? 0 : recv->n - 1]);
	} else if (!strcmp(name, "join")) {
		struct val s;
		if (nargs && arg_type(r, n, &args[0], V_STR, true) < 0) {
			return -1;
		}
		val_init(&s);
		s.kind = V_STR;
		for (i = 0; i < recv->n; i++) {
			if (i && nargs && args[0].kind == V_STR) {
				sbuf_add(&s.s, args[0].s.buf, args[0].s.len);
			}
			val_to_s(&recv->a[i], &s.s);
			if (s.s.len > ERB_MAX_OUTPUT) {
				val_release(&s);
				return too_long(r, n);
			}
		}
		val_move(out, &s);
	} else if (!strcmp(name, "empty?")) {
		val_release(out);
		out->kind = V_BOOL;
		out->b = !recv->n;
	} else if (!strcmp(name, "length") || !strcmp(name, "size")) {
		val_release(out);
		out->kind = V_INT;
		out->i = (long long)recv->n;
	} else if (!strcmp(name, "to_s")) {
		struct val s;
		val_init(&s);
		s.kind = V_STR;
		val_to_s(recv, &s.s);
		val_move(out, &s);
	} else if (!strcmp(name, "include?")) {
		bool hit = false;
		for (i = 0; i < recv->n && !hit; i++) {
			hit = val_eq(&recv->a[i], &args[0]);
		}
		val_release(out);
		out->kind = V_BOOL;
		out->b = hit;
	} else {
		return no_method(r, n, recv);
	}
	return 0;
}

static int eval_call(struct render *r, const struct node *n, struct val *out)
{
	struct val recv, args[8];
	size_t nargs = n->nkid - 1, i;
	int ret = -1;

	val_init(&recv);
	for (i = 0; i < 8; i++) {
		val_init(&args[i]);
	}
	if (nargs > 8) {
		return err_setat(r->e, r->file, n->line, 0, "too many arguments");
	}
	if (eval(r, n->kid[0], &recv) < 0) {
		goto out;
	}
	if (n->flag && recv.kind == V_NIL) {
		/* x&.m is nil when x is */
		val_release(out);
		ret = 0;
		goto out;
	}
	for (i = 0; i < nargs; i++) {
		if (eval(r, n->kid[i + 1], &args[i]) < 0) {
			goto out;
		}
	}
	if (!strcmp(n->str, "nil?")) {
		bool isnil = recv.kind == V_NIL;
		val_release(out);
		out->kind = V_BOOL;
		out->b = isnil;
		ret = 0;
		goto out;
	}
	switch (recv.kind) {
	case V_STR:
		ret = call_str(r, n, &recv, args, nargs, out);
		break;
	case V_ARR:
		ret = call_arr(r, n, &recv, args, nargs, out);
		break;
	case V_NIL:
	case V_INT:
	case V_BOOL:
		if (!strcmp(n->str, "to_s")) {
			struct val s;
			val_init(&s);
			s.kind = V_STR;
			val_to_s(&recv, &s.s);
			val_move(out, &s);
			ret = 0;
		} else if (!strcmp(n->str, "to_i") && recv.kind != V_BOOL) {
			long long v = recv.kind == V_INT ? recv.i : 0;
			val_release(out);
			out->kind = V_INT;
			out->i = v;
			ret = 0;
		} else {
			ret = no_method(r, n, &recv);
		}
		break;
	}
out:
	val_release(&recv);
	for (i = 0; i < 8; i++) {
		val_release(&args[i]);
	}
	return ret;
}

static int eval_index(struct render *r, const struct node *n, struct val *out)
{
	struct val recv, idx;
	int ret = -1;
	long long i;

	val_init(&recv);
	val_init(&idx);
	if (eval(r, n->kid[0], &recv) < 0 || eval(r, n->kid[1], &idx) < 0) {
		goto out;
	}
	if (recv.kind != V_ARR) {
		struct sbuf q = SBUF_INIT;
		quote_node(&q, n);
		err_setat(r->e, r->file, n->line, 0, "undefined method '[]' for %s in %s",
			  val_type(&recv), q.buf);
		sbuf_release(&q);
		goto out;
	}
	if (idx.kind != V_INT) {
		err_setat(r->e, r->file, n->line, 0,
			  "[]: no implicit conversion of %s into Integer", val_type(&idx));
		goto out;
	}
	i = idx.i < 0 ? (long long)recv.n + idx.i : idx.i;
	if (i < 0 || i >= (long long)recv.n) {
		val_release(out);
	} else {
		val_move(out, &recv.a[i]);
	}
	ret = 0;
out:
	val_release(&recv);
	val_release(&idx);
	return ret;
}

static int eval_add(struct render *r, const struct node *n, struct val *out)
{
	struct val a, b;
	int ret = -1;

	val_init(&a);
	val_init(&b);
	if (eval(r, n->kid[0], &a) < 0 || eval(r, n->kid[1], &b) < 0) {
		goto out;
	}
	if (a.kind == V_STR && b.kind == V_STR) {
		sbuf_add(&a.s, b.s.buf, b.s.len);
		if (a.s.len > ERB_MAX_OUTPUT) {
			too_long(r, n);
			goto out;
		}
		val_move(out, &a);
	} else if (a.kind == V_INT && b.kind == V_INT) {
		long long v;
		if (__builtin_add_overflow(a.i, b.i, &v)) {
			err_setat(r->e, r->file, n->line, 0, "integer out of range");
			goto out;
		}
		val_release(out);
		out->kind = V_INT;
		out->i = v;
	} else if (a.kind == V_STR) {
		err_setat(r->e, r->file, n->line, 0,
			  "String + %s: no implicit conversion of %s into String", val_type(&b),
			  val_type(&b));
		goto out;
	} else if (a.kind == V_INT) {
		err_setat(r->e, r->file, n->line, 0,
			  "Integer + %s: %s can't be coerced into Integer", val_type(&b),
			  val_type(&b));
		goto out;
	} else {
		struct sbuf q = SBUF_INIT;
		quote_node(&q, n);
		err_setat(r->e, r->file, n->line, 0, "undefined method '+' for %s in %s",
			  val_type(&a), q.buf);
		sbuf_release(&q);
		goto out;
	}
	ret = 0;
out:
	val_release(&a);
	val_release(&b);
	return ret;
}

static int emit(struct render *r, const struct node *n, const char *s, size_t len)
{
	if (r->out->len - r->out_start + len > ERB_MAX_OUTPUT) {
		return err_setat(r->e, r->file, n->line, 0, "ERB output larger than %u bytes",
				 ERB_MAX_OUTPUT);
	}
	sbuf_add(r->out, s, len);
	return 0;
}

static int eval(struct render *r, const struct node *n, struct val *out)
{
	struct val a;
	size_t i;
	int ret = 0;

	val_init(&a);
	switch (n->kind) {
	case N_SEQ:
		for (i = 0; i < n->nkid && !ret; i++) {
			ret = eval(r, n->kid[i], &a);
			val_release(&a);
		}
		val_release(out);
		break;
	case N_TEXT:
		ret = emit(r, n, n->str, n->len);
		val_release(out);
		break;
	case N_OUT: {
		struct sbuf s = SBUF_INIT;
		ret = eval_to_s(r, n->kid[0], &s);
		if (!ret) {
			ret = emit(r, n, s.buf, s.len);
		}
		sbuf_release(&s);
		val_release(out);
		break;
	}
	case N_IF:
		if ((ret = eval(r, n->kid[0], &a)) < 0) {
			break;
		}
		if (truthy(&a)) {
			ret = eval(r, n->kid[1], out);
		} else if (n->nkid > 2) {
			ret = eval(r, n->kid[2], out);
		} else {
			val_release(out);
		}
		break;
	case N_NIL:
		val_release(out);
		break;
	case N_TRUE:
	case N_FALSE:
		val_release(out);
		out->kind = V_BOOL;
		out->b = n->kind == N_TRUE;
		break;
	case N_INT:
		val_release(out);
		out->kind = V_INT;
		out->i = n->ival;
		break;
	case N_LIT:
		set_str(out, n->str, n->len);
		break;
	case N_STR: {
		struct val s;
		val_init(&s);
		s.kind = V_STR;
		for (i = 0; i < n->nkid && !ret; i++) {
			ret = eval_to_s(r, n->kid[i], &s.s);
			if (!ret && s.s.len > ERB_MAX_OUTPUT) {
				ret = too_long(r, n);
			}
		}
		if (!ret) {
			val_move(out, &s);
		}
		val_release(&s);
		break;
	}
	case N_CMD:
		ret = eval_cmd(r, n, out);
		break;
	case N_ENV:
	case N_FETCH:
	case N_KEYP:
		ret = eval_env(r, n, out);
		break;
	case N_FREAD:
	case N_FEXIST:
		ret = eval_file(r, n, out);
		break;
	case N_OR:
	case N_AND:
		if ((ret = eval(r, n->kid[0], out)) < 0) {
			break;
		}
		if (truthy(out) == (n->kind == N_AND)) {
			ret = eval(r, n->kid[1], out);
		}
		break;
	case N_NOT:
		if ((ret = eval(r, n->kid[0], &a)) < 0) {
			break;
		}
		val_release(out);
		out->kind = V_BOOL;
		out->b = !truthy(&a);
		break;
	case N_EQ:
	case N_NE: {
		struct val b;
		val_init(&b);
		if ((ret = eval(r, n->kid[0], &a)) == 0 && (ret = eval(r, n->kid[1], &b)) == 0) {
			bool eq = val_eq(&a, &b);
			val_release(out);
			out->kind = V_BOOL;
			out->b = n->kind == N_EQ ? eq : !eq;
		}
		val_release(&b);
		break;
	}
	case N_ADD:
		ret = eval_add(r, n, out);
		break;
	case N_NEG:
		if ((ret = eval(r, n->kid[0], &a)) < 0) {
			break;
		}
		if (a.kind != V_INT || a.i == INT64_MIN) {
			struct sbuf q = SBUF_INIT;
			quote_node(&q, n->kid[0]);
			ret = err_setat(r->e, r->file, n->line, 0,
					"undefined method '-@' for %s in %s", val_type(&a), q.buf);
			sbuf_release(&q);
			break;
		}
		val_release(out);
		out->kind = V_INT;
		out->i = -a.i;
		break;
	case N_CALL:
		ret = eval_call(r, n, out);
		break;
	case N_INDEX:
		ret = eval_index(r, n, out);
		break;
	case N_CONST:
		ret = err_setat(r->e, r->file, n->line, 0, "unsupported ERB: '%s'", n->str);
		break;
	}
	val_release(&a);
	return ret;
}

/* ------------------------------------------------------------------ entry */

int erb_render(const char *file, const char *src, size_t len, const struct erb_ctx *ctx,
	       struct sbuf *out, struct err *e)
{
	struct segs ss = {0};
	struct parser p;
	struct render r;
	struct node *root = NULL;
	struct val v;
	int ret = -1;

	val_init(&v);
	if (!file) {
		file = "-";
	}
	if (len > ERB_MAX_INPUT) {
		err_setat(e, file, 0, 0, "ERB template larger than %u bytes", ERB_MAX_INPUT);
		goto out;
	}
	if (split_segments(file, src, len, &ss, e) < 0) {
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.lx.ss = &ss;
	p.lx.line = 1;
	p.file = file;
	p.e = e;
	if (!(root = parse_template(&p))) {
		if (!err_isset(e)) {
			err_setat(e, file, 0, 0, "invalid ERB");
		}
		goto out;
	}
	r.ctx = ctx;
	r.file = file;
	r.e = e;
	r.out = out;
	r.out_start = out->len;
	ret = eval(&r, root, &v);
out:
	val_release(&v);
	node_free(root);
	segs_release(&ss);
	return ret;
}
