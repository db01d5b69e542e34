/*
 * erb — three steps: the template is cut into text and tag segments (as
 * Ruby's ERB scanner does, trim mode "-"), the segments are parsed into one
 * tree (so nothing runs when any part of the file does not parse), and the
 * tree is evaluated into the output. Ruby that the parser or the evaluator
 * does not know marks the error "unsupported", and erb_render() hands the
 * whole file to ruby instead (the last part of this file).
 */
#include "erb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/secrets.h"
#include "lib/run.h"
#include "lib/slice.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "lib/yamldoc.h"
#include "lib/banned.h"

#define SUPPORTED                                                                                  \
	"berth evaluates ENV, literals, variables, arrays, hashes, blocks, if/unless/case, "       \
	"begin/rescue, backticks, File, YAML, JSON and Dotenv"
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
 * before it on its line, or since the previous tag). Inside a tag: "%%>" is a literal "%>", and the
 * tag ends at the first "%>", or "-%>" which also eats a newline after it.
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
			text_start = i; /* a token of Ruby's scanner, like a tag */
			continue;
		}
		if (at(src, len, i, "<%-")) {
			kind = SEG_CODE;
			/* blanks from the start of the line to the tag go too */
			j = i;
			while (j > text_start && (src[j - 1] == ' ' || src[j - 1] == '\t')) {
				j--;
			}
			/*
			 * Ruby's scanner anchors "^" at its own position too, so blanks
			 * right after the previous tag go as well as those at a line start
			 */
			if (j == 0 || j == text_start || src[j - 1] == '\n') {
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
	T_FLOAT,
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
	T_PIPE,	    /* | */
	T_ROCKET,   /* => */
	T_SYM,	    /* :name (p, len include the colon) */
	T_LABEL,    /* name: (len excludes the colon) */
	T_WORDS,    /* %w( ... ): the parser reads the body */
	T_LT,	    /* < */
	T_GT,	    /* > */
	T_LE,	    /* <= */
	T_GE,	    /* >= */
	T_STAR,	    /* * */
	T_SLASH,    /* / (after a value) */
	T_PERCENT,  /* % (after a value) */
	T_ORASSIGN, /* ||= */
	T_OPASSIGN, /* += -= *= */
	T_OTHER,    /* anything else: an operator or character berth does not evaluate */
};

struct tok {
	enum tok_kind kind;
	const char *p; /* the token's bytes in its segment */
	size_t len;
	unsigned line;
	long long ival;	 /* T_INT */
	double fval;	 /* T_FLOAT */
	char open, term; /* string tokens: the delimiters (open is 0 unless it nests) */
	struct seg *seg;
};

struct lexer {
	struct segs *ss;
	size_t si;    /* current segment */
	size_t pos;   /* offset in a code segment */
	bool started; /* T_OUT or the first token of the current tag was given */
	/* the last token ends a value: "/" and "% " are operators, not literals */
	bool after_value;
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
	if ((c == '.' && is_digit(lx_peekc(lx, 1))) ||
	    ((c == 'e' || c == 'E') && base == 10 &&
	     (is_digit(lx_peekc(lx, 1)) ||
	      ((lx_peekc(lx, 1) == '-' || lx_peekc(lx, 1) == '+') && is_digit(lx_peekc(lx, 2)))))) {
		/* a Float: digits [. digits] [e [sign] digits] */
		struct sbuf f = SBUF_INIT;
		sbuf_addf(&f, "%llu", v);
		if (c == '.') {
			sbuf_addch(&f, lx_getc(lx));
			while ((c = lx_peekc(lx, 0)) >= 0 && (is_digit(c) || c == '_')) {
				lx_getc(lx);
				if (c != '_') {
					sbuf_addch(&f, c);
				}
			}
		}
		if ((c == 'e' || c == 'E') &&
		    (is_digit(lx_peekc(lx, 1)) ||
		     ((lx_peekc(lx, 1) == '-' || lx_peekc(lx, 1) == '+') &&
		      is_digit(lx_peekc(lx, 2))))) {
			sbuf_addch(&f, lx_getc(lx));
			sbuf_addch(&f, lx_getc(lx));
			while ((c = lx_peekc(lx, 0)) >= 0 && is_digit(c)) {
				sbuf_addch(&f, lx_getc(lx));
			}
		}
		t->kind = T_FLOAT;
		t->fval = strtod(f.buf, NULL);
		sbuf_release(&f);
		return 0;
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
static int lx_next1(struct lexer *lx, struct tok *t, const char *file, struct err *e)
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
		/* "name: value" in a hash or an argument list (not "a ? b : c", not "A::B") */
		if (lx_peekc(lx, 0) == ':' && lx_peekc(lx, 1) != ':' && t->p[t->len - 1] != '?') {
			lx_getc(lx);
			t->kind = T_LABEL;
		}
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
		/* %x(...), %Q(...), %q(...), %w(...), %(...) */
		int kindc = 0, d;
		if (lx->after_value && (c1 == ' ' || c1 == '\t' || c1 == '=')) {
			if (c1 == '=') {
				lx_getc(lx);
				t->kind = T_OTHER;
				t->len = 2;
			} else {
				t->kind = T_PERCENT;
			}
			return 0;
		}
		if (c1 == 'x' || c1 == 'Q' || c1 == 'q' || c1 == 'w' || c1 == 'i') {
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
			t->kind = kindc == 'x'			 ? T_XSTR
				  : kindc == 'q'		 ? T_SSTR
				  : kindc == 'w' || kindc == 'i' ? T_WORDS
								 : T_DSTR;
			t->term = closer(d) ? closer(d)[0] : (char)d;
			t->open = closer(d) ? (char)d : 0;
			t->ival = kindc; /* %w or %i */
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
			TWO(T_OPASSIGN);
		} else {
			t->kind = T_PLUS;
		}
		return 0;
	case '-':
		if (c1 == '=') {
			TWO(T_OPASSIGN);
		} else if (c1 == '>') {
			TWO(T_OTHER);
		} else {
			t->kind = T_MINUS;
		}
		return 0;
	case '*':
		if (c1 == '=') {
			TWO(T_OPASSIGN);
		} else if (c1 == '*') {
			TWO(T_OTHER);
		} else {
			t->kind = T_STAR;
		}
		return 0;
	case '/':
		t->kind = lx->after_value && c1 != '=' ? T_SLASH : T_OTHER;
		return 0;
	case '<':
		if (c1 == '=' && lx_peekc(lx, 1) != '>') {
			TWO(T_LE);
		} else if (c1 == '=' || c1 == '<') {
			TWO(T_OTHER);
		} else {
			t->kind = T_LT;
		}
		return 0;
	case '>':
		if (c1 == '=') {
			TWO(T_GE);
		} else if (c1 == '>') {
			TWO(T_OTHER);
		} else {
			t->kind = T_GT;
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
		} else if (is_ident_start(c1) || is_const_start(c1)) {
			t->kind = T_SYM;
			while (is_ident_char(lx_peekc(lx, 0))) {
				lx_getc(lx);
			}
			c = lx_peekc(lx, 0);
			if ((c == '?' || c == '!') && lx_peekc(lx, 1) != '=') {
				lx_getc(lx);
			}
			t->len = (size_t)(s->s + lx->pos - t->p);
		} else {
			t->kind = T_COLON;
		}
		return 0;
	case '|':
		if (c1 == '|' && lx_peekc(lx, 1) == '=') {
			lx_getc(lx);
			lx_getc(lx);
			t->kind = T_ORASSIGN;
			t->len = 3;
		} else if (c1 == '|') {
			TWO(T_OROR);
		} else {
			t->kind = T_PIPE;
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
		if (c1 == '=' && lx_peekc(lx, 1) == '=') {
			TWO(T_OTHER);
			lx_getc(lx);
			t->len = 3;
		} else if (c1 == '=') {
			TWO(T_EQ);
		} else if (c1 == '>') {
			TWO(T_ROCKET);
		} else if (c1 == '~') {
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

static int lx_next(struct lexer *lx, struct tok *t, const char *file, struct err *e)
{
	if (lx_next1(lx, t, file, e) < 0) {
		return -1;
	}
	switch (t->kind) {
	case T_INT:
	case T_FLOAT:
	case T_IDENT:
	case T_CONST:
	case T_RPAREN:
	case T_RBRACK:
	case T_RBRACE:
	case T_SYM:
		lx->after_value = true;
		break;
	default:
		lx->after_value = false;
		break;
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
	N_FLOAT,  /* fval */
	N_STR,	  /* parts: N_LIT or expressions; a literal is N_LIT alone */
	N_LIT,	  /* str */
	N_CMD,	  /* parts, like N_STR */
	N_CONST,  /* str: ENV or File, before its method is known */
	N_ENV,	  /* ENV[key] */
	N_ENVSET, /* ENV[key] = value; flag: ||= */
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
	N_CALL,	  /* str: method; kid 0: receiver; then arguments; flag: &. */
	N_INDEX,  /* receiver, index */
	N_VAR,	  /* str: a local variable */
	N_ASSIGN, /* str: the variable; kid 0: the value; flag: ||= */
	N_ARRAY,  /* the elements */
	N_HASH,	  /* key, value, key, value... */
	N_SYM,	  /* str */
	N_WORDS,  /* %w(): kids are N_LIT */
	N_BINOP,  /* str: "-", "*", "/", "%", "<", ">", "<=", ">=" */
	N_FUNC,	  /* str: a method of Kernel (format, require...); kids: arguments */
	N_BLOCK,  /* ival: parameters (N_PARAM kids first, then the body) */
	N_PARAM,  /* str: the name, or kids: (a, b) */
	N_BEGIN,  /* body, rescue [, else]; str: the "=> name" or NULL */
	N_CASE,	  /* subject or NULL-kind N_NIL with flag, then N_WHEN..., [else] */
	N_WHEN,	  /* values..., body last */
};

struct node {
	enum node_kind kind;
	unsigned line;
	unsigned depth;
	bool flag;
	long long ival;
	double fval;
	char *str; /* owned */
	size_t len;
	const char *src; /* the expression's code, for messages (in a segment) */
	size_t srclen;
	struct node **kid;
	size_t nkid, akid;
	struct node *blk; /* N_CALL: its block (N_BLOCK), or NULL */
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
	node_free(n->blk);
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
	/* the local variables assigned so far, as Ruby's parser knows them */
	char **locals;
	size_t nlocals, alocals;
	bool unsupported; /* the error is Ruby that berth does not evaluate */
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
	p->unsupported = true;
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
	lx->after_value = true;
	p->last_end = lx_seg(lx) ? lx_seg(lx)->s + lx->pos : p->last_end;
	p->last_seg = lx_seg(lx);
	sbuf_release(&lit);
	return n;
fail:
	sbuf_release(&lit);
	node_free(n);
	return NULL;
}

/* Reads the body of %w(...) or %i(...) (t was just taken): words (or symbols) split on blanks. */
static struct node *parse_words(struct parser *p, const struct tok *t)
{
	struct lexer *lx = &p->lx;
	struct sbuf w = SBUF_INIT;
	struct node *n = node_new(N_WORDS, t->line), *l;
	unsigned nest = 0;
	int c;

	for (;;) {
		c = lx_getc(lx);
		if (c < 0) {
			syntax(p, t, "unterminated %w() (a tag ends at the first '%>')");
			goto fail;
		}
		if (c == t->term && !nest) {
			c = ' ';
		} else if (t->open && c == t->open) {
			nest++;
		} else if (t->open && c == t->term) {
			nest--;
		} else if (c == '\\' && lx_peekc(lx, 0) >= 0) {
			sbuf_addch(&w, lx_getc(lx));
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (w.len) {
				l = node_new(t->ival == 'i' ? N_SYM : N_LIT, t->line);
				node_setstr(l, w.buf, w.len);
				sbuf_reset(&w);
				if (add_kid(p, n, l) < 0) {
					goto fail;
				}
			}
			if (c == ' ' && !nest && lx->pos && lx_seg(lx)->s[lx->pos - 1] == t->term) {
				break;
			}
			continue;
		}
		sbuf_addch(&w, c);
	}
	lx->after_value = true;
	p->last_end = lx_seg(lx) ? lx_seg(lx)->s + lx->pos : p->last_end;
	p->last_seg = lx_seg(lx);
	sbuf_release(&w);
	return n;
fail:
	sbuf_release(&w);
	node_free(n);
	return NULL;
}

static bool starts_string(const struct tok *t)
{
	return t->kind == T_DSTR || t->kind == T_SSTR || t->kind == T_XSTR;
}

/* The first token of an argument given without parentheses (a string, a symbol, name:). */
static bool starts_bare_arg(const struct tok *t)
{
	return starts_string(t) || t->kind == T_SYM || t->kind == T_LABEL;
}

static const struct method *find_method(struct slice name);

/* "&:name" as the last argument: the block { |x| x.name } */
static int parse_block_pass(struct parser *p, struct node *call)
{
	struct tok amp = *peek(p), *t;
	struct node *blk, *param, *body, *var;

	take(p);
	if (!(t = peek(p))) {
		return -1;
	}
	if (t->kind != T_SYM || call->blk || !find_method(slice_make(t->p + 1, t->len - 1))) {
		return unsupported(p, &amp, "a block argument other than &:method", NULL);
	}
	blk = node_new(N_BLOCK, t->line);
	param = node_new(N_PARAM, t->line);
	node_setstr(param, "&", 1); /* a name no Ruby variable has */
	var = node_new(N_VAR, t->line);
	node_setstr(var, "&", 1);
	body = node_new(N_CALL, t->line);
	node_setstr(body, t->p + 1, t->len - 1);
	take(p);
	if (add_kid(p, body, var) < 0 || add_kid(p, blk, param) < 0) {
		node_free(body);
		node_free(blk);
		return -1;
	}
	blk->ival = 1;
	if (add_kid(p, blk, body) < 0) {
		node_free(blk);
		return -1;
	}
	call->blk = blk;
	if (blk->depth + 1 > call->depth) {
		call->depth = blk->depth + 1;
	}
	return 0;
}

/*
 * Argument lists: "(a, b)", or "a, b" without parentheses when a is a string
 * or a symbol. "name: value" arguments are gathered into a Hash, the last
 * argument, as Ruby passes them.
 */
static int parse_args(struct parser *p, struct node *call, bool parens)
{
	struct node *kw = NULL;
	struct tok *t;
	int ret = -1;

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
		struct node *a;

		if (!(t = peek(p))) {
			goto out;
		}
		if (t->kind == T_OTHER && t->len == 1 && *t->p == '&') {
			if (parse_block_pass(p, call) < 0) {
				goto out;
			}
		} else if (t->kind == T_LABEL) {
			struct node *k = node_new(N_SYM, t->line);
			node_setstr(k, t->p, t->len);
			take(p);
			if (!kw) {
				kw = node_new(N_HASH, t->line);
			}
			if (add_kid(p, kw, k) < 0 || skip_nl(p) < 0 || !(a = parse_expr(p))) {
				goto out;
			}
			if (add_kid(p, kw, a) < 0) {
				goto out;
			}
		} else {
			if (!(a = parse_expr(p)) || !(t = peek(p))) {
				node_free(a);
				goto out;
			}
			if (t->kind == T_ROCKET) {
				/* f("k" => v): the pairs make one Hash, as in Ruby */
				struct node *v;
				take(p);
				if (!kw) {
					kw = node_new(N_HASH, t->line);
				}
				if (add_kid(p, kw, a) < 0 || skip_nl(p) < 0 ||
				    !(v = parse_expr(p)) || add_kid(p, kw, v) < 0) {
					goto out;
				}
			} else if (add_kid(p, call, a) < 0) {
				goto out;
			}
		}
		if ((parens && skip_nl(p) < 0) || !(t = peek(p))) {
			goto out;
		}
		if (t->kind == T_COMMA) {
			take(p);
			if (skip_nl(p) < 0) {
				goto out;
			}
			continue;
		}
		if (!parens) {
			break;
		}
		if (t->kind != T_RPAREN) {
			syntax(p, t, "expected ')' or ',' in the argument list");
			goto out;
		}
		take(p);
		break;
	}
	if (kw) {
		ret = add_kid(p, call, kw);
		kw = NULL;
		goto out;
	}
	ret = 0;
out:
	node_free(kw);
	return ret;
}

enum blk_use {
	BLK_NO,	 /* takes no block */
	BLK_OPT, /* a block or none */
	BLK_REQ, /* needs a block */
};

struct method {
	const char *name;
	int min, max; /* arguments */
	enum blk_use blk;
};

/* Every method of String, Array, Hash, Integer and nil that berth evaluates. */
static const struct method methods[] = {
    {"strip", 0, 0, BLK_NO},
    {"lstrip", 0, 0, BLK_NO},
    {"rstrip", 0, 0, BLK_NO},
    {"chomp", 0, 1, BLK_NO},
    {"split", 0, 1, BLK_NO},
    {"to_s", 0, 0, BLK_NO},
    {"to_i", 0, 0, BLK_NO},
    {"to_str", 0, 0, BLK_NO},
    {"to_sym", 0, 0, BLK_NO},
    {"to_f", 0, 0, BLK_NO},
    {"lines", 0, 0, BLK_NO},
    {"chars", 0, 0, BLK_NO},
    {"upcase", 0, 0, BLK_NO},
    {"downcase", 0, 0, BLK_NO},
    {"capitalize", 0, 0, BLK_NO},
    {"empty?", 0, 0, BLK_NO},
    {"nil?", 0, 0, BLK_NO},
    {"length", 0, 0, BLK_NO},
    {"size", 0, 0, BLK_NO},
    {"start_with?", 1, 8, BLK_NO},
    {"end_with?", 1, 8, BLK_NO},
    {"include?", 1, 1, BLK_NO},
    {"gsub", 2, 2, BLK_NO},
    {"sub", 2, 2, BLK_NO},
    {"delete_prefix", 1, 1, BLK_NO},
    {"delete_suffix", 1, 1, BLK_NO},
    {"freeze", 0, 0, BLK_NO},
    {"dup", 0, 0, BLK_NO},
    {"inspect", 0, 0, BLK_NO},
    {"first", 0, 1, BLK_NO},
    {"last", 0, 1, BLK_NO},
    {"join", 0, 1, BLK_NO},
    {"each", 0, 0, BLK_REQ},
    {"each_pair", 0, 0, BLK_REQ},
    {"each_with_index", 0, 0, BLK_OPT},
    {"map", 0, 0, BLK_REQ},
    {"collect", 0, 0, BLK_REQ},
    {"flat_map", 0, 0, BLK_REQ},
    {"select", 0, 0, BLK_REQ},
    {"filter", 0, 0, BLK_REQ},
    {"reject", 0, 0, BLK_REQ},
    {"filter_map", 0, 0, BLK_REQ},
    {"find", 0, 0, BLK_REQ},
    {"detect", 0, 0, BLK_REQ},
    {"sort_by", 0, 0, BLK_REQ},
    {"transform_values", 0, 0, BLK_REQ},
    {"any?", 0, 1, BLK_OPT},
    {"all?", 0, 1, BLK_OPT},
    {"none?", 0, 1, BLK_OPT},
    {"count", 0, 1, BLK_OPT},
    {"compact", 0, 0, BLK_NO},
    {"uniq", 0, 0, BLK_NO},
    {"sort", 0, 0, BLK_NO},
    {"reverse", 0, 0, BLK_NO},
    {"flatten", 0, 0, BLK_NO},
    {"to_a", 0, 0, BLK_NO},
    {"to_h", 0, 0, BLK_NO},
    {"min", 0, 0, BLK_NO},
    {"max", 0, 0, BLK_NO},
    {"sum", 0, 0, BLK_NO},
    {"keys", 0, 0, BLK_NO},
    {"values", 0, 0, BLK_NO},
    {"fetch", 1, 2, BLK_OPT},
    {"key?", 1, 1, BLK_NO},
    {"has_key?", 1, 1, BLK_NO},
    {"dig", 1, 8, BLK_NO},
    {"merge", 0, 8, BLK_NO},
    {"take", 1, 1, BLK_NO},
    {"drop", 1, 1, BLK_NO},
    {"zero?", 0, 0, BLK_NO},
    {"times", 0, 0, BLK_OPT},
    /* ActiveSupport's, which Kamal loads */
    {"present?", 0, 0, BLK_NO},
    {"blank?", 0, 0, BLK_NO},
    {"presence", 0, 0, BLK_NO},
    {"squish", 0, 0, BLK_NO},
};

/* Methods of constants (ENV's are nodes of their own). */
static const struct {
	const char *recv, *name;
	int min, max;
} const_methods[] = {
    {"File", "file?", 1, 1},	      {"File", "directory?", 1, 1},
    {"File", "join", 1, 8},	      {"YAML", "load_file", 1, 2},
    {"YAML", "safe_load_file", 1, 2}, {"YAML", "unsafe_load_file", 1, 2},
    {"YAML", "load", 1, 2},	      {"YAML", "safe_load", 1, 2},
    {"YAML", "unsafe_load", 1, 2},    {"JSON", "parse", 1, 2},
    {"Dotenv", "load", 0, 8},	      {"Dotenv", "overload", 0, 8},
    {"Dotenv", "load!", 0, 8},	      {"Dotenv", "overload!", 0, 8},
};

/* Kernel methods called without a receiver. */
static const struct method funcs[] = {
    {"format", 1, 16, BLK_NO},
    {"sprintf", 1, 16, BLK_NO},
    {"require", 1, 1, BLK_NO},
    {"raise", 0, 2, BLK_NO},
};

static const struct method *find_in(const struct method *tab, size_t n, struct slice name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (slice_eq_cstr(name, tab[i].name)) {
			return &tab[i];
		}
	}
	return NULL;
}

static const struct method *find_method(struct slice name)
{
	return find_in(methods, sizeof(methods) / sizeof(methods[0]), name);
}

static bool is_local(struct parser *p, struct slice name)
{
	size_t i;

	for (i = p->nlocals; i-- > 0;) {
		if (slice_eq_cstr(name, p->locals[i])) {
			return true;
		}
	}
	return false;
}

static void add_local(struct parser *p, struct slice name)
{
	if (!is_local(p, name)) {
		XGROW(p->locals, p->alocals, p->nlocals + 1);
		p->locals[p->nlocals++] = slice_dup(name);
	}
}

static void drop_locals(struct parser *p, size_t mark)
{
	while (p->nlocals > mark) {
		free(p->locals[--p->nlocals]);
	}
}

/* One block parameter: a name, or "(a, b)". */
static struct node *parse_param(struct parser *p)
{
	struct tok *t = peek(p), tk;
	struct node *n;

	if (!t) {
		return NULL;
	}
	tk = *t;
	if (tk.kind == T_IDENT) {
		take(p);
		n = node_new(N_PARAM, tk.line);
		node_setstr(n, tk.p, tk.len);
		add_local(p, slice_make(tk.p, tk.len));
		return n;
	}
	if (tk.kind != T_LPAREN) {
		unsupported(p, &tk, "block parameters other than names and (a, b)", NULL);
		return NULL;
	}
	take(p);
	n = node_new(N_PARAM, tk.line);
	for (;;) {
		struct node *k = parse_param(p);
		if (!k || add_kid(p, n, k) < 0 || !(t = peek(p))) {
			goto fail;
		}
		if (t->kind == T_COMMA) {
			take(p);
			continue;
		}
		if (t->kind != T_RPAREN) {
			syntax(p, t, "expected ')' in the block parameters");
			goto fail;
		}
		take(p);
		return n;
	}
fail:
	node_free(n);
	return NULL;
}

/*
 * "{ |a, b| body }" or "do |a, b| body end" (the opening token is next).
 * Parameters are locals of the block only; the body may span tags and text.
 */
static struct node *parse_block(struct parser *p)
{
	struct tok *t = peek(p), open = *t;
	struct node *b = node_new(N_BLOCK, open.line), *body;
	size_t mark = p->nlocals;
	bool brace = open.kind == T_LBRACE;

	take(p);
	if (p->depth++ > ERB_MAX_DEPTH) {
		err_setat(p->e, p->file, open.line, 0,
			  "ERB nested too deeply (more than %d levels)", ERB_MAX_DEPTH);
		goto fail;
	}
	if (!(t = peek(p))) {
		goto fail;
	}
	if (t->kind == T_OROR) {
		take(p); /* || : no parameters */
	} else if (t->kind == T_PIPE) {
		take(p);
		for (;;) {
			struct node *k = parse_param(p);
			if (!k || add_kid(p, b, k) < 0 || !(t = peek(p))) {
				goto fail;
			}
			b->ival++;
			if (t->kind == T_COMMA) {
				take(p);
				continue;
			}
			if (t->kind != T_PIPE) {
				syntax(p, t, "expected '|' after the block parameters");
				goto fail;
			}
			take(p);
			break;
		}
	}
	if (!(body = parse_stmts(p)) || add_kid(p, b, body) < 0 || !(t = peek(p))) {
		goto fail;
	}
	if (brace ? t->kind != T_RBRACE : !is_word(t, "end")) {
		if (t->kind == T_EOF) {
			err_setat(p->e, p->file, open.line, 0, "a block without a matching '%s'",
				  brace ? "}" : "<% end %>");
		} else {
			syntax(p, t,
			       brace ? "expected '}' to close the block"
				     : "expected 'end' to close the block");
		}
		goto fail;
	}
	take(p);
	drop_locals(p, mark);
	p->depth--;
	return b;
fail:
	drop_locals(p, mark);
	p->depth--;
	node_free(b);
	return NULL;
}

/* Whether the token after the next one (a '{') is a '|': a block with parameters. */
static bool peek2_is_pipe(struct parser *p)
{
	struct lexer save = p->lx;
	struct tok t2;
	bool pipe;

	if (lx_next(&p->lx, &t2, p->file, NULL) < 0) {
		p->lx = save;
		return false;
	}
	pipe = t2.kind == T_PIPE;
	p->lx = save;
	return pipe;
}

/* Gives n its block when one follows and the method takes one. */
static int maybe_block(struct parser *p, struct node *n, enum blk_use blk)
{
	struct tok *t = peek(p);

	if (!t) {
		return -1;
	}
	if (n->blk && blk == BLK_NO) {
		return unsupported(p, t, "a block here is not evaluated", NULL);
	}
	if (t->kind != T_LBRACE && !is_word(t, "do")) {
		return 0;
	}
	if (blk == BLK_NO) {
		return unsupported(p, t, "a block here is not evaluated", NULL);
	}
	if (n->blk) {
		return syntax(p, t, "both a block argument and a block given");
	}
	if (!(n->blk = parse_block(p))) {
		return -1;
	}
	if (n->blk->depth + 1 > n->depth) {
		n->depth = n->blk->depth + 1;
	}
	return 0;
}

static int check_arity(struct parser *p, const struct node *n, const struct tok *name, int min,
		       int max)
{
	int nargs = (int)n->nkid - (n->kind == N_CALL ? 1 : 0);
	struct sbuf m = SBUF_INIT;

	if (nargs >= min && nargs <= max) {
		return 0;
	}
	sbuf_addf(&m, "'%.*s' takes %d", (int)name->len, name->p, min);
	if (max != min) {
		sbuf_addf(&m, " to %d", max);
	}
	sbuf_addf(&m, " argument%s, got %d", max == 1 && min == 1 ? "" : "s", nargs);
	syntax(p, name, m.buf);
	sbuf_release(&m);
	return -1;
}

/* x.name(args) and its block: ENV and File methods become their own nodes. */
static struct node *parse_call(struct parser *p, struct node *recv, const struct tok *dot,
			       const char *start, struct seg *seg)
{
	struct tok name, *t;
	struct node *n = NULL;
	struct slice nm;
	const struct method *m = NULL;
	int min = 0, max = 0;
	enum blk_use blk = BLK_NO;

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
	} else if (recv->kind == N_CONST && !strcmp(recv->str, "File") &&
		   (slice_eq_cstr(nm, "read") || slice_eq_cstr(nm, "exist?"))) {
		n = node_new(slice_eq_cstr(nm, "read") ? N_FREAD : N_FEXIST, recv->line);
		min = max = 1;
	} else if (recv->kind == N_CONST) {
		size_t i;
		for (i = 0; i < sizeof(const_methods) / sizeof(const_methods[0]); i++) {
			if (!strcmp(recv->str, const_methods[i].recv) &&
			    slice_eq_cstr(nm, const_methods[i].name)) {
				break;
			}
		}
		if (i == sizeof(const_methods) / sizeof(const_methods[0])) {
			struct sbuf m2 = SBUF_INIT;
			sbuf_addf(&m2, "%s.%.*s is not evaluated", recv->str, (int)nm.len, nm.ptr);
			unsupported(p, &name, m2.buf, NULL);
			sbuf_release(&m2);
			goto fail;
		}
		n = node_new(N_CALL, name.line);
		node_setstr(n, name.p, name.len);
		min = const_methods[i].min;
		max = const_methods[i].max;
		if (add_kid(p, n, recv) < 0) {
			node_free(n);
			return NULL;
		}
		recv = NULL;
	} else {
		m = find_method(nm);
		if (!m) {
			struct sbuf m2 = SBUF_INIT;
			sbuf_addf(&m2, "the method '%.*s' is not evaluated", (int)nm.len, nm.ptr);
			unsupported(p, &name, m2.buf, NULL);
			sbuf_release(&m2);
			goto fail;
		}
		n = node_new(N_CALL, name.line);
		node_setstr(n, name.p, name.len);
		n->flag = dot->kind == T_SAFEDOT;
		min = m->min;
		max = m->max;
		blk = m->blk;
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
	if (t->kind == T_LPAREN && t->p == p->last_end) {
		if (parse_args(p, n, true) < 0) {
			goto fail;
		}
	} else if (starts_bare_arg(t) && max > 0) {
		if (parse_args(p, n, false) < 0) {
			goto fail;
		}
	}
	if (!(t = peek(p))) {
		goto fail;
	}
	if (n->kind == N_FETCH && (is_word(t, "do") || (t->kind == T_LBRACE && peek2_is_pipe(p)))) {
		/* ENV.fetch("X") { |name| ... }: the block gets the name */
		if (maybe_block(p, n, BLK_OPT) < 0) {
			goto fail;
		}
		if (n->nkid != 1) {
			syntax(p, t, "give ENV.fetch a default or a block, not both");
			goto fail;
		}
	} else if (n->kind == N_FETCH && t->kind == T_LBRACE) {
		struct node *b;
		/* ENV.fetch("X") { default }: the default is only evaluated when needed */
		take(p);
		if (skip_nl(p) < 0 || !(t = peek(p))) {
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
	} else if (maybe_block(p, n, blk) < 0) {
		goto fail;
	}
	if (check_arity(p, n, &name, min, max) < 0) {
		goto fail;
	}
	if (blk == BLK_REQ && !n->blk) {
		unsupported(p, &name, "this method is evaluated with a block only", NULL);
		goto fail;
	}
	set_src(p, n, start, seg);
	return n;
fail:
	node_free(recv);
	node_free(n);
	return NULL;
}

static struct node *parse_primary(struct parser *p);
static struct node *parse_rhs(struct parser *p);

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
			if (n->kind == N_CONST && strcmp(n->str, "ENV")) {
				node_free(idx);
				unsupported(p, &lb, NULL, NULL);
				goto fail;
			}
			if (n->kind == N_CONST && (t = peek(p)) &&
			    (t->kind == T_ASSIGN || t->kind == T_ORASSIGN)) {
				/* ENV["X"] = v, ENV["X"] ||= v: for the template and its commands
				 */
				struct node *v;
				bool orassign = t->kind == T_ORASSIGN;
				node_free(n);
				take(p);
				if (skip_nl(p) < 0 || !(v = parse_rhs(p))) {
					node_free(idx);
					return NULL;
				}
				if (!(n = node2(p, N_ENVSET, lb.line, idx, v))) {
					return NULL;
				}
				n->flag = orassign;
			} else if (n->kind == N_CONST) {
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
		unsupported(p, &here, "constants are used through their methods",
			    "; write ENV[\"NAME\"] or File.read(\"path\")");
		goto fail;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

/* [a, b] (the '[' is next) */
static struct node *parse_array(struct parser *p)
{
	struct tok *t = peek(p);
	struct node *n = node_new(N_ARRAY, t->line), *x;

	take(p);
	for (;;) {
		if (skip_nl(p) < 0 || !(t = peek(p))) {
			goto fail;
		}
		if (t->kind == T_RBRACK) {
			take(p);
			return n;
		}
		if (!(x = parse_expr(p)) || add_kid(p, n, x) < 0 || skip_nl(p) < 0 ||
		    !(t = peek(p))) {
			goto fail;
		}
		if (t->kind == T_COMMA) {
			take(p);
		} else if (t->kind != T_RBRACK) {
			syntax(p, t, "expected ',' or ']' in the array");
			goto fail;
		}
	}
fail:
	node_free(n);
	return NULL;
}

/* { k => v, name: v } (the '{' is next) */
static struct node *parse_hash(struct parser *p)
{
	struct tok *t = peek(p);
	struct node *n = node_new(N_HASH, t->line), *k, *v;

	take(p);
	for (;;) {
		if (skip_nl(p) < 0 || !(t = peek(p))) {
			goto fail;
		}
		if (t->kind == T_RBRACE) {
			take(p);
			return n;
		}
		if (t->kind == T_LABEL) {
			k = node_new(N_SYM, t->line);
			node_setstr(k, t->p, t->len);
			take(p);
		} else {
			if (!(k = parse_expr(p))) {
				goto fail;
			}
			if (!(t = peek(p))) {
				node_free(k);
				goto fail;
			}
			if (t->kind != T_ROCKET) {
				node_free(k);
				syntax(p, t, "expected '=>' in the hash");
				goto fail;
			}
			take(p);
		}
		if (add_kid(p, n, k) < 0 || skip_nl(p) < 0 || !(v = parse_expr(p)) ||
		    add_kid(p, n, v) < 0 || skip_nl(p) < 0 || !(t = peek(p))) {
			goto fail;
		}
		if (t->kind == T_COMMA) {
			take(p);
		} else if (t->kind != T_RBRACE) {
			syntax(p, t, "expected ',' or '}' in the hash");
			goto fail;
		}
	}
fail:
	node_free(n);
	return NULL;
}

/* The right side of an assignment: an expression, maybe with a rescue modifier. */
static struct node *parse_rhs(struct parser *p)
{
	struct node *n = parse_expr(p), *r;
	struct tok *t;

	if (n && (t = peek(p)) && is_word(t, "rescue")) {
		unsigned line = t->line;
		take(p);
		if (!(r = parse_expr(p))) {
			node_free(n);
			return NULL;
		}
		n = node2(p, N_BEGIN, line, n, r);
	}
	return n;
}

/* name = value, name ||= value, name += value (name was just taken) */
static struct node *parse_assign(struct parser *p, const struct tok *name)
{
	struct tok op = *peek(p);
	struct node *n, *v;

	take(p);
	add_local(p, slice_make(name->p, name->len));
	if (skip_nl(p) < 0 || !(v = parse_rhs(p))) {
		return NULL;
	}
	if (op.kind == T_OPASSIGN) {
		struct node *var = node_new(N_VAR, name->line);
		node_setstr(var, name->p, name->len);
		if (*op.p == '+') {
			v = node2(p, N_ADD, op.line, var, v);
		} else {
			v = node2(p, N_BINOP, op.line, var, v);
			if (v) {
				node_setstr(v, op.p, 1);
			}
		}
		if (!v) {
			return NULL;
		}
	}
	if (!(n = node2(p, N_ASSIGN, name->line, v, NULL))) {
		return NULL;
	}
	node_setstr(n, name->p, name->len);
	n->flag = op.kind == T_ORASSIGN;
	return n;
}

static struct node *parse_if(struct parser *p);
static struct node *parse_case(struct parser *p);
static struct node *parse_begin(struct parser *p);

static const char *const known_consts[] = {"ENV", "File", "YAML", "Psych", "JSON", "Dotenv"};

static struct node *parse_primary(struct parser *p)
{
	struct tok *t = peek(p), tk;
	struct node *n;
	struct slice w;
	size_t i;

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
	case T_FLOAT:
		take(p);
		n = node_new(N_FLOAT, tk.line);
		n->fval = tk.fval;
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
	case T_WORDS:
		take(p);
		return parse_words(p, &tk);
	case T_SYM:
		take(p);
		n = node_new(N_SYM, tk.line);
		node_setstr(n, tk.p + 1, tk.len - 1);
		return n;
	case T_LBRACK:
		return parse_array(p);
	case T_LBRACE:
		return parse_hash(p);
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
		for (i = 0; i < sizeof(known_consts) / sizeof(known_consts[0]); i++) {
			if (slice_eq_cstr(w, known_consts[i])) {
				n = node_new(N_CONST, tk.line);
				/* Psych is YAML */
				node_setstr(n, i == 3 ? "YAML" : tk.p, i == 3 ? 4 : tk.len);
				return n;
			}
		}
		if (slice_eq_cstr(w, "Rails")) {
			unsupported(p, &tk, "Rails is not loaded",
				    "; write ENV[\"RAILS_ENV\"] instead");
		} else {
			unsupported(p, &tk, "this constant is not evaluated", NULL);
		}
		return NULL;
	case T_IDENT: {
		const struct method *f;

		/* if, case and begin give values: x = if c then a else b end */
		if (slice_eq_cstr(w, "if") || slice_eq_cstr(w, "unless")) {
			return parse_if(p);
		}
		if (slice_eq_cstr(w, "case")) {
			return parse_case(p);
		}
		if (slice_eq_cstr(w, "begin")) {
			return parse_begin(p);
		}
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
		if (!(t = peek(p))) {
			return NULL;
		}
		if (t->kind == T_ASSIGN || t->kind == T_ORASSIGN || t->kind == T_OPASSIGN) {
			return parse_assign(p, &tk);
		}
		if (is_local(p, w)) {
			n = node_new(N_VAR, tk.line);
			node_setstr(n, tk.p, tk.len);
			return n;
		}
		f = find_in(funcs, sizeof(funcs) / sizeof(funcs[0]), w);
		if (f) {
			n = node_new(N_FUNC, tk.line);
			node_setstr(n, tk.p, tk.len);
			if (t->kind == T_LPAREN && t->p == p->last_end) {
				if (parse_args(p, n, true) < 0) {
					node_free(n);
					return NULL;
				}
			} else if (starts_bare_arg(t) ||
				   (t->kind == T_IDENT && tk.p + tk.len < t->p &&
				    is_local(p, slice_make(t->p, t->len)))) {
				if (parse_args(p, n, false) < 0) {
					node_free(n);
					return NULL;
				}
			}
			if (check_arity(p, n, &tk, f->min, f->max) < 0) {
				node_free(n);
				return NULL;
			}
			return n;
		}
		unsupported(p, &tk, "variables and helper methods are not evaluated", NULL);
		return NULL;
	}
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
			unsupported(p, &tk, "instance and global variables are not evaluated",
				    NULL);
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
	if (tk.kind == T_MINUS && (t = peek(p)) && (t->kind == T_INT || t->kind == T_FLOAT) &&
	    t->p == tk.p + 1) {
		/* -1 is a literal (and -1.to_s is (-1).to_s) */
		p->cur.ival = -p->cur.ival;
		p->cur.fval = -p->cur.fval;
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

/* Left-associative binary operators of one precedence level. */
static struct node *parse_level(struct parser *p, int level);

static bool level_has(int level, enum tok_kind k)
{
	switch (level) {
	case 0:
		return k == T_STAR || k == T_SLASH || k == T_PERCENT;
	case 1:
		return k == T_PLUS || k == T_MINUS;
	case 2:
		return k == T_LT || k == T_GT || k == T_LE || k == T_GE;
	default:
		return k == T_EQ || k == T_NE;
	}
}

static struct node *parse_level(struct parser *p, int level)
{
	struct node *l = level ? parse_level(p, level - 1) : parse_unary(p), *r;
	struct tok *t;

	while (l && (t = peek(p)) && level_has(level, t->kind)) {
		struct tok op = *t;
		enum node_kind k = op.kind == T_PLUS ? N_ADD
				   : op.kind == T_EQ ? N_EQ
				   : op.kind == T_NE ? N_NE
						     : N_BINOP;
		take(p);
		if (skip_nl(p) < 0 || !(r = level ? parse_level(p, level - 1) : parse_unary(p))) {
			node_free(l);
			return NULL;
		}
		if (!(l = node2(p, k, op.line, l, r))) {
			return NULL;
		}
		if (k == N_BINOP) {
			node_setstr(l, op.p, op.len);
		}
		if (level == 3) {
			break; /* a == b == c is not Ruby */
		}
	}
	if (l && level == 3 && (t = peek(p)) && t->kind == T_OTHER &&
	    strchr("*/%<>=!~^&|", *t->p)) {
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
	struct node *l = op == T_OROR ? parse_binary(p, T_ANDAND) : parse_level(p, 3), *r;
	struct tok *t;

	while (l && (t = peek(p)) && t->kind == op) {
		unsigned line = t->line;
		take(p);
		if (skip_nl(p) < 0) {
			node_free(l);
			return NULL;
		}
		r = op == T_OROR ? parse_binary(p, T_ANDAND) : parse_level(p, 3);
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

/* not expr, and expr */
static struct node *parse_not(struct parser *p)
{
	struct tok *t = peek(p);
	struct node *n;

	if (t && is_word(t, "not")) {
		unsigned line = t->line;
		take(p);
		if (p->depth++ > ERB_MAX_DEPTH) {
			err_setat(p->e, p->file, line, 0,
				  "ERB nested too deeply (more than %d levels)", ERB_MAX_DEPTH);
			return NULL;
		}
		n = parse_not(p);
		p->depth--;
		return n ? node2(p, N_NOT, line, n, NULL) : NULL;
	}
	return parse_rhs(p);
}

/* expr, then and/or, then any "if cond" / "unless cond" / "rescue x" modifiers */
static struct node *parse_stmt_expr(struct parser *p)
{
	struct node *n = parse_not(p), *c;
	struct tok *t;

	while (n && (t = peek(p)) && (is_word(t, "and") || is_word(t, "or"))) {
		bool and = is_word(t, "and");
		unsigned line = t->line;
		take(p);
		if (skip_nl(p) < 0 || !(c = parse_not(p))) {
			node_free(n);
			return NULL;
		}
		n = node2(p, and? N_AND : N_OR, line, n, c);
	}
	while (n && (t = peek(p)) &&
	       (is_word(t, "if") || is_word(t, "unless") || is_word(t, "rescue"))) {
		bool unless = is_word(t, "unless");
		unsigned line = t->line;
		if (is_word(t, "rescue")) {
			take(p);
			if (!(c = parse_expr(p))) {
				node_free(n);
				return NULL;
			}
			n = node2(p, N_BEGIN, line, n, c);
			continue;
		}
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

/* Words that end a list of statements: the caller reads them. */
static bool ends_body(const struct tok *t)
{
	return t->kind == T_EOF || t->kind == T_RBRACE || is_word(t, "elsif") ||
	       is_word(t, "else") || is_word(t, "end") || is_word(t, "when") ||
	       is_word(t, "rescue") || is_word(t, "ensure");
}

/* Skips newlines, ';' and tag ends (but no text): between "case x" and "when". */
static int skip_code_breaks(struct parser *p)
{
	struct tok *t;

	while ((t = peek(p)) && (t->kind == T_NL || t->kind == T_SEMI || t->kind == T_TAGEND)) {
		take(p);
	}
	return t ? 0 : -1;
}

static int expect_end(struct parser *p, const struct tok *open, const char *what)
{
	struct tok *t = peek(p);

	if (!t) {
		return -1;
	}
	if (is_word(t, "end")) {
		take(p);
		return 0;
	}
	if (t->kind == T_EOF) {
		return err_setat(p->e, p->file, open->line, 0,
				 "'%s' without a matching '<%% end %%>'", what);
	}
	{
		struct sbuf m = SBUF_INIT;
		sbuf_addf(&m, "expected 'end' to close the '%s'", what);
		syntax(p, t, m.buf);
		sbuf_release(&m);
	}
	return -1;
}

/* begin body [rescue [Class, ...] [=> name] body] [else body] end */
static struct node *parse_begin(struct parser *p)
{
	struct tok open = *peek(p), *t;
	struct node *n = node_new(N_BEGIN, open.line), *body;

	take(p);
	if (p->depth++ > ERB_MAX_DEPTH) {
		err_setat(p->e, p->file, open.line, 0,
			  "ERB nested too deeply (more than %d levels)", ERB_MAX_DEPTH);
		goto fail;
	}
	if (!(body = parse_stmts(p)) || add_kid(p, n, body) < 0 || !(t = peek(p))) {
		goto fail;
	}
	if (is_word(t, "rescue")) {
		take(p);
		/* the classes rescued are not told apart: every error of the code is rescued */
		while ((t = peek(p)) && (t->kind == T_CONST || t->kind == T_COMMA ||
					 (t->kind == T_OTHER && t->len == 2 && t->p[0] == ':'))) {
			take(p);
		}
		if (!t) {
			goto fail;
		}
		if (t->kind == T_ROCKET) {
			take(p);
			if (!(t = peek(p))) {
				goto fail;
			}
			if (t->kind != T_IDENT) {
				syntax(p, t, "expected a name after 'rescue =>'");
				goto fail;
			}
			node_setstr(n, t->p, t->len);
			add_local(p, slice_make(t->p, t->len));
			take(p);
		}
		if (!(t = peek(p))) {
			goto fail;
		}
		if (is_word(t, "then")) {
			take(p);
		}
		if (!(body = parse_stmts(p)) || add_kid(p, n, body) < 0 || !(t = peek(p))) {
			goto fail;
		}
	} else {
		/* no rescue: errors go on */
		n->flag = true;
		if (add_kid(p, n, node_new(N_SEQ, open.line)) < 0) {
			goto fail;
		}
	}
	if (is_word(t, "rescue") || is_word(t, "ensure")) {
		unsupported(p, t, "a second rescue, or ensure, is not evaluated", NULL);
		goto fail;
	}
	if (is_word(t, "else")) {
		take(p);
		if (!(body = parse_stmts(p)) || add_kid(p, n, body) < 0) {
			goto fail;
		}
	}
	if (expect_end(p, &open, "begin") < 0) {
		goto fail;
	}
	p->depth--;
	return n;
fail:
	p->depth--;
	node_free(n);
	return NULL;
}

/* case [subject] when a, b [then] body ... [else body] end */
static struct node *parse_case(struct parser *p)
{
	struct tok open = *peek(p), *t;
	struct node *n = node_new(N_CASE, open.line), *x;

	take(p);
	if (p->depth++ > ERB_MAX_DEPTH) {
		err_setat(p->e, p->file, open.line, 0,
			  "ERB nested too deeply (more than %d levels)", ERB_MAX_DEPTH);
		goto fail;
	}
	if (!(t = peek(p))) {
		goto fail;
	}
	if (ends_stmt(t) || is_word(t, "when")) {
		x = node_new(N_NIL, open.line);
		x->flag = true; /* no subject: each "when" is a condition */
	} else if (!(x = parse_stmt_expr(p))) {
		goto fail;
	}
	if (add_kid(p, n, x) < 0 || skip_code_breaks(p) < 0 || !(t = peek(p))) {
		goto fail;
	}
	if (!is_word(t, "when")) {
		syntax(p, t, "expected 'when' after 'case'");
		goto fail;
	}
	while ((t = peek(p)) && is_word(t, "when")) {
		struct node *w = node_new(N_WHEN, t->line), *body;
		take(p);
		if (add_kid(p, n, w) < 0) {
			goto fail;
		}
		for (;;) {
			if (!(x = parse_expr(p)) || add_kid(p, w, x) < 0 || !(t = peek(p))) {
				goto fail;
			}
			w->ival++;
			if (t->kind != T_COMMA) {
				break;
			}
			take(p);
			if (skip_nl(p) < 0) {
				goto fail;
			}
		}
		if (is_word(t, "then")) {
			take(p);
		} else if (!ends_stmt(t)) {
			syntax(p, t, "expected 'then' or a new line after 'when'");
			goto fail;
		}
		if (!(body = parse_stmts(p)) || add_kid(p, w, body) < 0) {
			goto fail;
		}
	}
	if (!t) {
		goto fail;
	}
	if (is_word(t, "else")) {
		struct node *body;
		take(p);
		if (!(body = parse_stmts(p)) || add_kid(p, n, body) < 0) {
			goto fail;
		}
	}
	if (expect_end(p, &open, "case") < 0) {
		goto fail;
	}
	p->depth--;
	return n;
fail:
	p->depth--;
	node_free(n);
	return NULL;
}

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
/* Statements up to a word that ends them (left for the caller) or the end of the file. */
static struct node *parse_stmts(struct parser *p)
{
	struct node *seq = node_new(N_SEQ, p->lx.line), *n;
	struct tok *t;

	for (;;) {
		if (!(t = peek(p))) {
			goto fail;
		}
		switch (t->kind) {
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
				if (t->kind == T_LBRACE || is_word(t, "do")) {
					unsupported(p, t, "a block in '<%=' is not evaluated",
						    NULL);
				} else {
					syntax(p, t, "expected '%>' after the expression");
				}
				goto fail;
			}
			take(p);
			if (!(n = node2(p, N_OUT, out.line, n, NULL))) {
				goto fail;
			}
			break;
		}
		default:
			if (ends_body(t)) {
				return seq;
			}
			if (is_word(t, "if") || is_word(t, "unless")) {
				n = parse_if(p);
			} else if (is_word(t, "begin")) {
				n = parse_begin(p);
			} else if (is_word(t, "case")) {
				n = parse_case(p);
			} else if (is_word(t, "while") || is_word(t, "until") ||
				   is_word(t, "for") || is_word(t, "def") || is_word(t, "next") ||
				   is_word(t, "break") || is_word(t, "return")) {
				unsupported(p, t, "loops, jumps and definitions are not evaluated",
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
			if (!ends_stmt(t) && !ends_body(t)) {
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
		syntax(p, t,
		       t->kind == T_RBRACE ? "'}' without a matching '{'"
					   : "'end', 'else', 'elsif', 'when' or 'rescue' without a "
					     "matching if, unless, case, begin or block");
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
	V_FLOAT,
	V_STR,
	V_SYM,
	V_ARR,
	V_HASH,
};

/*
 * A Ruby value. Values are copied, not shared: a variable, an element and a
 * result each own theirs (templates are small, and no value is ever mutated
 * in place where another could see it).
 */
struct val {
	enum val_kind kind;
	bool b;
	long long i;
	double f;
	struct sbuf s; /* String, Symbol (its name), Float (its to_s) */
	struct val *a; /* Array: n elements; Hash: n / 2 pairs, key then value */
	size_t n, alloc;
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

static void val_copy(struct val *dst, const struct val *src)
{
	struct val c;
	size_t i;

	val_init(&c);
	c.kind = src->kind;
	c.b = src->b;
	c.i = src->i;
	c.f = src->f;
	sbuf_add(&c.s, src->s.buf, src->s.len);
	if (src->n) {
		c.a = xcalloc(src->n, sizeof(*c.a));
		for (i = 0; i < src->n; i++) {
			val_init(&c.a[i]);
			val_copy(&c.a[i], &src->a[i]);
		}
		c.n = c.alloc = src->n;
	}
	val_move(dst, &c);
}

/* What copying v costs, in evaluation steps: its elements, and a step per 4 KiB of text. */
static unsigned long val_weight(const struct val *v)
{
	unsigned long w = v->s.len / 4096;
	size_t i;

	for (i = 0; i < v->n; i++) {
		w += 1 + val_weight(&v->a[i]);
	}
	return w;
}

/* Appends a copy of x (or x itself, moved, when move) to the Array or Hash v. */
static void val_push(struct val *v, struct val *x, bool move)
{
	XGROW(v->a, v->alloc, v->n + 1);
	val_init(&v->a[v->n]);
	if (move) {
		val_move(&v->a[v->n], x);
	} else {
		val_copy(&v->a[v->n], x);
	}
	v->n++;
}

static void set_kind(struct val *v, enum val_kind k)
{
	val_release(v);
	v->kind = k;
}

static void set_bool(struct val *v, bool b)
{
	set_kind(v, V_BOOL);
	v->b = b;
}

static void set_int(struct val *v, long long i)
{
	set_kind(v, V_INT);
	v->i = i;
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
	case V_FLOAT:
		return "Float";
	case V_STR:
		return "String";
	case V_SYM:
		return "Symbol";
	case V_ARR:
		return "Array";
	case V_HASH:
		return "Hash";
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

	if (a->kind == V_INT && b->kind == V_FLOAT) {
		return (double)a->i == b->f;
	}
	if (a->kind == V_FLOAT && b->kind == V_INT) {
		return a->f == (double)b->i;
	}
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
	case V_FLOAT:
		return a->f == b->f;
	case V_STR:
	case V_SYM:
		return a->s.len == b->s.len && !memcmp(a->s.buf, b->s.buf, a->s.len);
	case V_ARR:
	case V_HASH:
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

/* The value of key in the Hash h, or NULL. */
static struct val *hash_get(const struct val *h, const struct val *key)
{
	size_t i;

	for (i = 0; i + 1 < h->n; i += 2) {
		if (val_eq(&h->a[i], key) && h->a[i].kind == key->kind) {
			return &h->a[i + 1];
		}
	}
	return NULL;
}

/* Sets key to value in the Hash h (a new key goes last, as in Ruby); both are moved. */
static void hash_set(struct val *h, struct val *key, struct val *value)
{
	struct val *old = hash_get(h, key);

	if (old) {
		val_move(old, value);
		val_release(key);
		return;
	}
	val_push(h, key, true);
	val_push(h, value, true);
}

/*
 * The shortest decimal digits that read back as |f| (finite): digits[0..nd)
 * with the first one at 10^exp.
 */
static void shortest_digits(double f, char digits[32], int *nd_out, int *exp_out)
{
	char buf[64];
	int p, nd = 0;
	const char *s;

	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, fabs(f));
		if (strtod(buf, NULL) == fabs(f)) {
			break;
		}
	}
	for (s = buf; *s && *s != 'e'; s++) {
		if (is_digit(*s) && nd < 31) {
			digits[nd++] = *s;
		}
	}
	*exp_out = *s == 'e' ? atoi(s + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0') {
		nd--;
	}
	*nd_out = nd;
}

/*
 * |f| with prec decimals, from the shortest digits of f. Returns -1 when
 * those digits end in a 5 right after the cut ("%.2f" % 2.345): Ruby's dtoa
 * rounds such near-ties in ways that neither C's printf nor a rule on the
 * digits reproduces (2.345 gives "2.34", 0.005 gives "0.01").
 */
static int fixed_digits(double f, int prec, struct sbuf *sb)
{
	char d[32], keep[400];
	int nd, exp, k, i, n;
	bool up;

	shortest_digits(f, d, &nd, &exp);
	if (f == 0) {
		exp = 0;
	}
	k = exp + 1 + prec; /* digits kept */
	if (k > (int)sizeof(keep) - 2) {
		k = (int)sizeof(keep) - 2;
	}
	n = 0;
	for (i = 0; i < k; i++) {
		keep[n++] = i < nd ? d[i] : '0';
	}
	up = false;
	if (k >= 0 && k < nd) {
		bool rest = false;
		for (i = k + 1; i < nd; i++) {
			rest |= d[i] != '0';
		}
		if (d[k] == '5' && !rest) {
			return -1;
		}
		up = d[k] > '5' || (d[k] == '5' && rest);
	}
	if (k < 0) {
		n = 0;
	}
	for (i = n - 1; up && i >= 0; i--) {
		up = keep[i] == '9';
		keep[i] = up ? '0' : (char)(keep[i] + 1);
	}
	if (up) {
		memmove(keep + 1, keep, (size_t)n);
		keep[0] = '1';
		n++;
	}
	/* n digits, the last prec of them after the point */
	if (n <= prec) {
		sbuf_addch(sb, '0');
	} else {
		sbuf_add(sb, keep, (size_t)(n - prec));
	}
	if (prec > 0) {
		sbuf_addch(sb, '.');
		for (i = 0; i < prec - n; i++) {
			sbuf_addch(sb, '0');
		}
		sbuf_add(sb, keep + (n > prec ? n - prec : 0), (size_t)(n < prec ? n : prec));
	}
	return 0;
}

/* Float#to_s: the shortest digits that read back as f; exponent form outside 1e-4...1e16. */
static void float_to_s(double f, struct sbuf *sb)
{
	char digits[32];
	int exp = 0, nd = 0, i;

	if (isnan(f)) {
		sbuf_addstr(sb, "NaN");
		return;
	}
	if (isinf(f)) {
		sbuf_addstr(sb, f < 0 ? "-Infinity" : "Infinity");
		return;
	}
	shortest_digits(f, digits, &nd, &exp);
	if (signbit(f)) {
		sbuf_addch(sb, '-');
	}
	if (exp >= 16 || exp < -4) {
		sbuf_addch(sb, digits[0]);
		sbuf_addch(sb, '.');
		if (nd > 1) {
			sbuf_add(sb, digits + 1, (size_t)nd - 1);
		} else {
			sbuf_addch(sb, '0');
		}
		sbuf_addf(sb, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
	} else if (exp < 0) {
		sbuf_addstr(sb, "0.");
		for (i = -1; i > exp; i--) {
			sbuf_addch(sb, '0');
		}
		sbuf_add(sb, digits, (size_t)nd);
	} else {
		for (i = 0; i <= exp; i++) {
			sbuf_addch(sb, i < nd ? digits[i] : '0');
		}
		sbuf_addch(sb, '.');
		if (nd > exp + 1) {
			sbuf_add(sb, digits + exp + 1, (size_t)(nd - exp - 1));
		} else {
			sbuf_addch(sb, '0');
		}
	}
}

static void set_float(struct val *v, double f)
{
	set_kind(v, V_FLOAT);
	v->f = f;
	float_to_s(f, &v->s);
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

static bool sym_plain(const struct sbuf *s)
{
	size_t i;

	if (!s->len || !(is_ident_start((unsigned char)s->buf[0]) ||
			 is_const_start((unsigned char)s->buf[0]))) {
		return false;
	}
	for (i = 1; i < s->len; i++) {
		int c = (unsigned char)s->buf[i];
		if (!is_ident_char(c) && !(i == s->len - 1 && (c == '?' || c == '!' || c == '='))) {
			return false;
		}
	}
	return true;
}

static void val_to_s(const struct val *v, struct sbuf *sb);

/* inspect, as Ruby 3.1 writes it (Array#to_s and Hash#to_s are inspect). */
static void val_inspect(const struct val *v, struct sbuf *sb)
{
	size_t i;

	switch (v->kind) {
	case V_NIL:
		sbuf_addstr(sb, "nil");
		break;
	case V_STR:
		inspect_str(sb, v->s.buf, v->s.len);
		break;
	case V_SYM:
		sbuf_addch(sb, ':');
		if (sym_plain(&v->s)) {
			sbuf_add(sb, v->s.buf, v->s.len);
		} else {
			inspect_str(sb, v->s.buf, v->s.len);
		}
		break;
	case V_ARR:
		sbuf_addch(sb, '[');
		for (i = 0; i < v->n; i++) {
			if (i) {
				sbuf_addstr(sb, ", ");
			}
			val_inspect(&v->a[i], sb);
		}
		sbuf_addch(sb, ']');
		break;
	case V_HASH:
		sbuf_addch(sb, '{');
		for (i = 0; i + 1 < v->n; i += 2) {
			if (i) {
				sbuf_addstr(sb, ", ");
			}
			val_inspect(&v->a[i], sb);
			sbuf_addstr(sb, "=>");
			val_inspect(&v->a[i + 1], sb);
		}
		sbuf_addch(sb, '}');
		break;
	default:
		val_to_s(v, sb);
		break;
	}
}

/* to_s. */
static void val_to_s(const struct val *v, struct sbuf *sb)
{
	switch (v->kind) {
	case V_NIL:
		break;
	case V_BOOL:
		sbuf_addstr(sb, v->b ? "true" : "false");
		break;
	case V_INT:
		sbuf_addf(sb, "%lld", v->i);
		break;
	case V_FLOAT:
	case V_STR:
	case V_SYM:
		sbuf_add(sb, v->s.buf, v->s.len);
		break;
	case V_ARR:
	case V_HASH:
		val_inspect(v, sb);
		break;
	}
}

/* -------------------------------------------------------------- evaluator */

struct var {
	char *name;
	struct val v;
};

/* A variable of the template's ENV set or unset over the environment. */
struct envvar {
	char *name;
	char *value; /* NULL: unset */
};

struct render {
	const struct erb_ctx *ctx;
	const char *file;
	struct err *e;
	struct sbuf *out;
	size_t out_start;
	struct var *vars; /* local variables, innermost last */
	size_t nvars, avars;
	struct envvar *env; /* what the template sees in ENV over the environment */
	size_t nenv, aenv;
	unsigned long steps;
	bool fatal;	  /* the error is a limit of berth's: rescue does not catch it */
	bool unsupported; /* the error is Ruby that berth does not evaluate */
};

static struct envvar *env_find(struct render *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nenv; i++) {
		if (!strcmp(r->env[i].name, name)) {
			return &r->env[i];
		}
	}
	return NULL;
}

static const char *env_lookup(struct render *r, const char *name)
{
	struct envvar *ev = env_find(r, name);

	if (ev) {
		return ev->value;
	}
	if (r->ctx && r->ctx->getenv) {
		return r->ctx->getenv(name, r->ctx->data);
	}
	return getenv(name);
}

/* ENV[name] = value, for the template and the commands it runs; value NULL unsets. */
static void env_set(struct render *r, const char *name, const char *value)
{
	struct envvar *ev = env_find(r, name);

	if (!ev) {
		XGROW(r->env, r->aenv, r->nenv + 1);
		ev = &r->env[r->nenv++];
		ev->name = xstrdup(name);
		ev->value = NULL;
	}
	free(ev->value);
	ev->value = value ? xstrdup(value) : NULL;
}

/* The variables set in ENV, for a child's environment ("NAME=value", or "NAME" to unset). */
static void env_export(struct render *r, struct strvec *env)
{
	size_t i;

	for (i = 0; i < r->nenv; i++) {
		if (r->env[i].value) {
			strvec_pushf(env, "%s=%s", r->env[i].name, r->env[i].value);
		} else {
			strvec_push(env, r->env[i].name);
		}
	}
}

static struct val *var_find(struct render *r, const char *name)
{
	size_t i;

	for (i = r->nvars; i-- > 0;) {
		if (!strcmp(r->vars[i].name, name)) {
			return &r->vars[i].v;
		}
	}
	return NULL;
}

/* A new variable in the innermost scope; v is moved. */
static void var_push(struct render *r, const char *name, struct val *v)
{
	XGROW(r->vars, r->avars, r->nvars + 1);
	r->vars[r->nvars].name = xstrdup(name);
	val_init(&r->vars[r->nvars].v);
	val_move(&r->vars[r->nvars].v, v);
	r->nvars++;
}

static void vars_pop(struct render *r, size_t mark)
{
	while (r->nvars > mark) {
		r->nvars--;
		free(r->vars[r->nvars].name);
		val_release(&r->vars[r->nvars].v);
	}
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
	r->fatal = true;
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

/* v must be a String without NUL bytes (ENV keys, paths). */
static int eval_string_arg_val(struct render *r, const struct node *n, const char *what,
			       const struct val *v)
{
	if (v->kind != V_STR) {
		return err_setat(r->e, r->file, n->line, 0,
				 "%s: no implicit conversion of %s into String", what, val_type(v));
	}
	if (memchr(v->s.buf, '\0', v->s.len)) {
		return err_setat(r->e, r->file, n->line, 0, "%s: string contains a NUL byte", what);
	}
	return 0;
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
	env_export(r, &c.env);
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

static int call_block(struct render *r, const struct node *blk, struct val *args, size_t nargs,
		      struct val *out);

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
	} else if (n->blk) {
		if (call_block(r, n->blk, &key, 1, out) < 0) {
			goto out;
		}
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

static int eval_envset(struct render *r, const struct node *n, struct val *out)
{
	struct val key, v;
	const char *cur;
	int ret = -1;

	val_init(&key);
	val_init(&v);
	if (eval_string_arg(r, n->kid[0], "ENV[]=", &key) < 0) {
		goto out;
	}
	cur = env_lookup(r, key.s.buf);
	if (n->flag && cur) {
		set_str(out, cur, strlen(cur));
		ret = 0;
		goto out;
	}
	if (eval(r, n->kid[1], &v) < 0) {
		goto out;
	}
	if (v.kind != V_NIL && eval_string_arg_val(r, n->kid[1], "ENV[]=", &v) < 0) {
		goto out;
	}
	env_set(r, key.s.buf, v.kind == V_NIL ? NULL : v.s.buf);
	val_move(out, &v);
	ret = 0;
out:
	val_release(&key);
	val_release(&v);
	return ret;
}

static bool is_space_ruby(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' ||
	       c == '\0';
}

static void push_str(struct val *arr, const char *s, size_t len)
{
	XGROW(arr->a, arr->alloc, arr->n + 1);
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
	/* past ERB_MAX_ITEMS the caller's check fails: no need to go on */
	if (!sep || sep->kind == V_NIL || (sep->s.len == 1 && sep->s.buf[0] == ' ')) {
		while (p < end && arr.n <= ERB_MAX_ITEMS) {
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
		while (p < end && arr.n <= ERB_MAX_ITEMS) {
			size_t l = utf8_len((const unsigned char *)p, (size_t)(end - p));
			if (!l) {
				l = 1;
			}
			push_str(&arr, p, l);
			p += l;
		}
	} else {
		while (p <= end && arr.n <= ERB_MAX_ITEMS) {
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
	/* Ruby may well have it: only nil's missing methods are sure to be errors */
	r->unsupported = recv->kind != V_NIL;
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

/*
 * String#gsub and #sub with a String pattern. In the replacement, \\0 and
 * \\& are the match, \\\\ a backslash and \\1..\\9 empty (a String
 * pattern has no groups), as in Ruby.
 */
static int str_sub(struct render *r, const struct node *n, const struct val *s,
		   const struct val *pat, const struct val *rep, bool global, struct val *out)
{
	struct val res;
	const char *p = s->s.buf, *end = s->s.buf + s->s.len;
	size_t i;

	val_init(&res);
	res.kind = V_STR;
	while (p <= end) {
		const char *hit =
		    pat->s.len ? memmem(p, (size_t)(end - p), pat->s.buf, pat->s.len) : p;
		if (!hit) {
			break;
		}
		sbuf_add(&res.s, p, (size_t)(hit - p));
		for (i = 0; i < rep->s.len;) {
			const char *bs = memchr(rep->s.buf + i, '\\', rep->s.len - i);
			size_t run = bs ? (size_t)(bs - rep->s.buf) - i : rep->s.len - i;
			char d;

			/* text up to the next backslash goes as it is */
			sbuf_add(&res.s, rep->s.buf + i, run);
			i += run;
			if (i + 1 >= rep->s.len) {
				sbuf_add(&res.s, rep->s.buf + i, rep->s.len - i);
				break;
			}
			d = rep->s.buf[i + 1];
			if (d == '0' || d == '&') {
				sbuf_add(&res.s, hit, pat->s.len);
			} else if (d == '\\') {
				sbuf_addch(&res.s, '\\');
			} else if (d == '`') {
				sbuf_add(&res.s, s->s.buf, (size_t)(hit - s->s.buf));
			} else if (d == '\'') {
				const char *after = hit + pat->s.len;
				sbuf_add(&res.s, after, (size_t)(end - after));
			} else if (!is_digit(d) && d != '+') {
				sbuf_add(&res.s, rep->s.buf + i, 2); /* not an escape: kept */
			}
			i += 2;
		}
		if (res.s.len > ERB_MAX_OUTPUT) {
			val_release(&res);
			return too_long(r, n);
		}
		p = hit + pat->s.len;
		if (!pat->s.len) {
			/* an empty pattern matches before every character */
			if (p < end) {
				size_t l = utf8_len((const unsigned char *)p, (size_t)(end - p));
				l = l ? l : 1;
				sbuf_add(&res.s, p, l);
				p += l;
			} else {
				p++;
			}
		}
		if (!global) {
			break;
		}
	}
	if (p < end) {
		sbuf_add(&res.s, p, (size_t)(end - p));
	}
	val_move(out, &res);
	return 0;
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
	} else if (!strcmp(name, "gsub") || !strcmp(name, "sub")) {
		if (arg_type(r, n, &args[0], V_STR, false) < 0 ||
		    arg_type(r, n, &args[1], V_STR, false) < 0) {
			return -1;
		}
		return str_sub(r, n, recv, &args[0], &args[1], name[0] == 'g', out);
	} else if (!strcmp(name, "delete_prefix") || !strcmp(name, "delete_suffix")) {
		const struct sbuf *a = &args[0].s;
		if (arg_type(r, n, &args[0], V_STR, false) < 0) {
			return -1;
		}
		if (name[7] == 'p' && a->len <= s->len && !memcmp(s->buf, a->buf, a->len)) {
			b = a->len;
		} else if (name[7] == 's' && a->len <= s->len &&
			   !memcmp(s->buf + s->len - a->len, a->buf, a->len)) {
			e = s->len - a->len;
		}
		set_str(out, s->buf + b, e - b);
	} else if (!strcmp(name, "capitalize")) {
		for (i = 0; i < s->len; i++) {
			char c = s->buf[i];
			if (!i && c >= 'a' && c <= 'z') {
				s->buf[i] = (char)(c - 32);
			} else if (i && c >= 'A' && c <= 'Z') {
				s->buf[i] = (char)(c + 32);
			}
		}
		val_move(out, recv);
	} else if (!strcmp(name, "to_sym")) {
		recv->kind = V_SYM;
		val_move(out, recv);
	} else if (!strcmp(name, "lines")) {
		/* each line keeps its "\n" */
		struct val arr;
		val_init(&arr);
		arr.kind = V_ARR;
		for (b = 0; b < s->len && arr.n <= ERB_MAX_ITEMS; b = e) {
			const char *nl = memchr(s->buf + b, '\n', s->len - b);
			e = nl ? (size_t)(nl - s->buf) + 1 : s->len;
			push_str(&arr, s->buf + b, e - b);
		}
		val_move(out, &arr);
	} else if (!strcmp(name, "chars")) {
		struct val none;
		val_init(&none);
		set_str(&none, "", 0);
		split(recv, &none, out); /* split("") is by character */
		val_release(&none);
	} else if (!strcmp(name, "to_str")) {
		val_move(out, recv);
	} else {
		return no_method(r, n, recv);
	}
	return 0;
}

static int call_block(struct render *r, const struct node *blk, struct val *args, size_t nargs,
		      struct val *out);

/* Yields x (copied) to n's block; the block's value goes to out. */
static int yield1(struct render *r, const struct node *n, const struct val *x, struct val *out)
{
	struct val a;
	int ret;

	val_init(&a);
	val_copy(&a, x);
	ret = call_block(r, n->blk, &a, 1, out);
	val_release(&a);
	return ret;
}

/* [k, v] of the Hash h's pair at i. */
static void hash_pair(const struct val *h, size_t i, struct val *pair)
{
	set_kind(pair, V_ARR);
	val_push(pair, &h->a[i], false);
	val_push(pair, &h->a[i + 1], false);
}

/* Compares a and b as <=> does; -2 when they do not compare (Ruby's ArgumentError). */
static int val_cmp(const struct val *a, const struct val *b)
{
	double x, y;

	if ((a->kind == V_INT || a->kind == V_FLOAT) && (b->kind == V_INT || b->kind == V_FLOAT)) {
		if (a->kind == V_INT && b->kind == V_INT) {
			return a->i < b->i ? -1 : a->i > b->i;
		}
		x = a->kind == V_INT ? (double)a->i : a->f;
		y = b->kind == V_INT ? (double)b->i : b->f;
		return x < y ? -1 : x > y;
	}
	if ((a->kind == V_STR && b->kind == V_STR) || (a->kind == V_SYM && b->kind == V_SYM)) {
		size_t l = a->s.len < b->s.len ? a->s.len : b->s.len;
		int c = memcmp(a->s.buf, b->s.buf, l);
		if (c) {
			return c < 0 ? -1 : 1;
		}
		return a->s.len < b->s.len ? -1 : a->s.len > b->s.len;
	}
	if (a->kind == V_ARR && b->kind == V_ARR) {
		size_t i;
		for (i = 0; i < a->n && i < b->n; i++) {
			int c = val_cmp(&a->a[i], &b->a[i]);
			if (c) {
				return c;
			}
		}
		return a->n < b->n ? -1 : a->n > b->n;
	}
	return -2;
}

static int cmp_failed(struct render *r, const struct node *n, const struct val *a,
		      const struct val *b)
{
	return err_setat(r->e, r->file, n->line, 0, "comparison of %s with %s failed", val_type(a),
			 val_type(b));
}

/* Sorts v->a[0..count) by keys[] (a stable insertion sort: templates sort a few items). */
static int sort_by_keys(struct render *r, const struct node *n, struct val *items, struct val *keys,
			size_t count)
{
	size_t i, j;

	for (i = 1; i < count; i++) {
		for (j = i; j > 0; j--) {
			int c = val_cmp(&keys[j - 1], &keys[j]);
			struct val t;
			if (c == -2) {
				return cmp_failed(r, n, &keys[j - 1], &keys[j]);
			}
			if (c <= 0) {
				break;
			}
			t = keys[j - 1], keys[j - 1] = keys[j], keys[j] = t;
			t = items[j - 1], items[j - 1] = items[j], items[j] = t;
		}
	}
	return 0;
}

static int join(struct render *r, const struct node *n, const struct val *arr,
		const struct val *sep, struct sbuf *sb, unsigned depth)
{
	size_t i;

	if (depth > ERB_MAX_DEPTH) {
		return err_setat(r->e, r->file, n->line, 0, "join: recursive array");
	}
	for (i = 0; i < arr->n; i++) {
		if (i && sep && sep->kind == V_STR) {
			sbuf_add(sb, sep->s.buf, sep->s.len);
		}
		if (arr->a[i].kind == V_ARR) {
			if (join(r, n, &arr->a[i], sep, sb, depth + 1) < 0) {
				return -1;
			}
		} else {
			val_to_s(&arr->a[i], sb);
		}
		if (sb->len > ERB_MAX_OUTPUT) {
			return too_long(r, n);
		}
	}
	return 0;
}

static void flatten(const struct val *arr, struct val *res, unsigned depth)
{
	size_t i;

	for (i = 0; i < arr->n; i++) {
		if (arr->a[i].kind == V_ARR && depth < ERB_MAX_DEPTH) {
			flatten(&arr->a[i], res, depth + 1);
		} else {
			val_push(res, &arr->a[i], false);
		}
	}
}

/*
 * Enumerable methods over the items of an Array, or the [k, v] pairs of a
 * Hash (is_hash): what they give is an Array, or a Hash for select and
 * reject on a Hash.
 */
static int call_enum(struct render *r, const struct node *n, struct val *recv, bool is_hash,
		     struct val *args, size_t nargs, struct val *out, bool *done)
{
	const char *name = n->str;
	size_t i, step = is_hash ? 2 : 1, count = is_hash ? recv->n / 2 : recv->n;
	struct val res, item, got;
	int ret = -1;

	static const char *const loops[] = {
	    "each",   "each_pair", "each_with_index", "map",	    "collect", "flat_map",
	    "select", "filter",	   "reject",	      "filter_map", "find",    "detect",
	    "any?",   "all?",	   "none?",	      "count",	    "sort_by", "transform_values"};

	val_init(&res);
	val_init(&item);
	val_init(&got);
	*done = false;
	for (i = 0; i < sizeof(loops) / sizeof(loops[0]) && !*done; i++) {
		*done = !strcmp(name, loops[i]);
	}
	if (!*done || (!is_hash && !strcmp(name, "transform_values"))) {
		*done = false;
		return 0;
	}
	for (i = 0; i < recv->n; i += step) {
		/* the item this round: an element, or a [k, v] pair */
		if (is_hash) {
			hash_pair(recv, i, &item);
		} else {
			val_copy(&item, &recv->a[i]);
		}
		if (!strcmp(name, "each") || !strcmp(name, "each_pair")) {
			if (call_block(r, n->blk, &item, 1, &got) < 0) {
				goto out;
			}
		} else if (!strcmp(name, "each_with_index")) {
			struct val two[2];
			val_init(&two[0]);
			val_init(&two[1]);
			val_move(&two[0], &item);
			set_int(&two[1], (long long)(i / step));
			if (n->blk) {
				ret = call_block(r, n->blk, two, 2, &got);
			} else {
				/* without a block: [[item, 0], ...], for .each_with_index.map */
				struct val pair;
				val_init(&pair);
				pair.kind = V_ARR;
				val_push(&pair, &two[0], true);
				val_push(&pair, &two[1], true);
				val_push(&res, &pair, true);
				ret = 0;
			}
			val_release(&two[0]);
			val_release(&two[1]);
			if (ret < 0) {
				goto out;
			}
			ret = -1;
		} else if (!strcmp(name, "map") || !strcmp(name, "collect") ||
			   !strcmp(name, "flat_map") || !strcmp(name, "filter_map")) {
			if (yield1(r, n, &item, &got) < 0) {
				goto out;
			}
			if (name[0] == 'f' && name[1] == 'l' && got.kind == V_ARR) {
				size_t j;
				for (j = 0; j < got.n; j++) {
					val_push(&res, &got.a[j], false);
				}
			} else if (name[0] != 'f' || name[1] == 'l' || truthy(&got)) {
				val_push(&res, &got, true);
			}
		} else if (!strcmp(name, "select") || !strcmp(name, "filter") ||
			   !strcmp(name, "reject")) {
			if (yield1(r, n, &item, &got) < 0) {
				goto out;
			}
			if (truthy(&got) == (name[0] != 'r')) {
				if (is_hash) {
					val_push(&res, &recv->a[i], false);
					val_push(&res, &recv->a[i + 1], false);
				} else {
					val_push(&res, &item, false);
				}
			}
		} else if (!strcmp(name, "find") || !strcmp(name, "detect")) {
			if (yield1(r, n, &item, &got) < 0) {
				goto out;
			}
			if (truthy(&got)) {
				val_move(out, &item);
				ret = 0;
				goto out;
			}
		} else if (!strcmp(name, "any?") || !strcmp(name, "all?") ||
			   !strcmp(name, "none?") || !strcmp(name, "count")) {
			bool hit;
			if (nargs) {
				hit = val_eq(&args[0], &item);
			} else if (n->blk) {
				if (yield1(r, n, &item, &got) < 0) {
					goto out;
				}
				hit = truthy(&got);
			} else {
				hit = name[0] == 'c' || truthy(&item);
			}
			if (name[0] == 'c') {
				res.i += hit;
			} else if ((name[1] == 'n' && hit) || (name[1] == 'l' && !hit) ||
				   (name[0] == 'n' && hit)) {
				/* any? found one, all? found a miss, none? found one */
				set_bool(out, name[1] == 'n' ? true : false);
				ret = 0;
				goto out;
			}
		} else if (!strcmp(name, "sort_by")) {
			if (yield1(r, n, &item, &got) < 0) {
				goto out;
			}
			val_push(&res, &got, true);
		} else {
			/* transform_values, on a Hash */
			if (yield1(r, n, &recv->a[i + 1], &got) < 0) {
				goto out;
			}
			val_push(&res, &recv->a[i], false);
			val_push(&res, &got, true);
		}
		val_release(&got);
	}
	/* after the loop: what the method gives */
	if (!strcmp(name, "each") || !strcmp(name, "each_pair") ||
	    (!strcmp(name, "each_with_index") && n->blk)) {
		val_move(out, recv);
	} else if (!strcmp(name, "find") || !strcmp(name, "detect")) {
		val_release(out);
	} else if (!strcmp(name, "any?") || !strcmp(name, "none?") || !strcmp(name, "all?")) {
		set_bool(out, name[1] != 'n');
	} else if (!strcmp(name, "count")) {
		set_int(out, res.i);
	} else if (!strcmp(name, "sort_by")) {
		struct val items;
		val_init(&items);
		items.kind = V_ARR;
		for (i = 0; i < recv->n; i += step) {
			if (is_hash) {
				hash_pair(recv, i, &item);
				val_push(&items, &item, true);
			} else {
				val_push(&items, &recv->a[i], false);
			}
		}
		if (sort_by_keys(r, n, items.a, res.a, count) < 0) {
			val_release(&items);
			goto out;
		}
		val_move(out, &items);
	} else {
		/* select, filter, reject and transform_values of a Hash give a Hash */
		bool gives_hash = !strcmp(name, "select") || !strcmp(name, "filter") ||
				  !strcmp(name, "reject") || !strcmp(name, "transform_values");
		res.kind = is_hash && gives_hash ? V_HASH : V_ARR;
		val_move(out, &res);
	}
	ret = 0;
out:
	val_release(&res);
	val_release(&item);
	val_release(&got);
	return ret;
}

static int index_arg(struct render *r, const struct node *n, const struct val *arg, long long *i)
{
	if (arg->kind != V_INT) {
		return err_setat(r->e, r->file, n->line, 0,
				 "%s: no implicit conversion of %s into Integer", n->str,
				 val_type(arg));
	}
	*i = arg->i;
	return 0;
}

/* Methods of Array and Hash that are not loops. */
static int call_coll(struct render *r, const struct node *n, struct val *recv, struct val *args,
		     size_t nargs, struct val *out)
{
	const char *name = n->str;
	bool is_hash = recv->kind == V_HASH;
	size_t i, count = is_hash ? recv->n / 2 : recv->n;
	struct val res;
	bool done;
	long long k = 0;

	if (call_enum(r, n, recv, is_hash, args, nargs, out, &done) < 0) {
		return -1;
	}
	if (done) {
		return 0;
	}
	val_init(&res);
	res.kind = V_ARR;
	if (!strcmp(name, "empty?")) {
		set_bool(out, !recv->n);
	} else if (!strcmp(name, "length") || !strcmp(name, "size")) {
		set_int(out, (long long)count);
	} else if (!strcmp(name, "to_s") || !strcmp(name, "inspect")) {
		val_to_s(recv, &res.s);
		res.kind = V_STR;
		val_move(out, &res);
	} else if (!strcmp(name, "include?") || !strcmp(name, "key?") ||
		   !strcmp(name, "has_key?")) {
		bool hit = false;
		if (is_hash) {
			hit = hash_get(recv, &args[0]) != NULL;
		} else if (name[0] == 'i') {
			for (i = 0; i < recv->n && !hit; i++) {
				hit = val_eq(&recv->a[i], &args[0]);
			}
		} else {
			return no_method(r, n, recv);
		}
		set_bool(out, hit);
	} else if (!strcmp(name, "first") || !strcmp(name, "last") || !strcmp(name, "take") ||
		   !strcmp(name, "drop")) {
		struct val all;
		size_t from, to;
		val_init(&all);
		if (is_hash) {
			all.kind = V_ARR;
			for (i = 0; i + 1 < recv->n; i += 2) {
				struct val pair;
				val_init(&pair);
				hash_pair(recv, i, &pair);
				val_push(&all, &pair, true);
			}
		} else {
			val_move(&all, recv);
		}
		if (!nargs) {
			if (all.n) {
				val_move(out, &all.a[name[0] == 'f' ? 0 : all.n - 1]);
			} else {
				val_release(out);
			}
			val_release(&all);
			return 0;
		}
		if (index_arg(r, n, &args[0], &k) < 0) {
			val_release(&all);
			return -1;
		}
		if (k < 0) {
			val_release(&all);
			return err_setat(r->e, r->file, n->line, 0, "%s: negative array size",
					 name);
		}
		from = 0, to = all.n;
		if (name[0] == 'f' || name[0] == 't') {
			to = (size_t)k < all.n ? (size_t)k : all.n;
		} else if (name[0] == 'l') {
			from = (size_t)k < all.n ? all.n - (size_t)k : 0;
		} else {
			from = (size_t)k < all.n ? (size_t)k : all.n;
		}
		for (i = from; i < to; i++) {
			val_push(&res, &all.a[i], true);
		}
		val_release(&all);
		val_move(out, &res);
	} else if (!strcmp(name, "to_a") && is_hash) {
		for (i = 0; i + 1 < recv->n; i += 2) {
			struct val pair;
			val_init(&pair);
			hash_pair(recv, i, &pair);
			val_push(&res, &pair, true);
		}
		val_move(out, &res);
	} else if (!strcmp(name, "to_a") || (!strcmp(name, "to_h") && is_hash)) {
		val_move(out, recv);
	} else if (!strcmp(name, "to_h")) {
		res.kind = V_HASH;
		for (i = 0; i < recv->n; i++) {
			struct val key, value;
			if (recv->a[i].kind != V_ARR || recv->a[i].n != 2) {
				val_release(&res);
				return err_setat(r->e, r->file, n->line, 0,
						 "to_h: wrong element type %s at %zu (expected "
						 "array of 2 elements)",
						 val_type(&recv->a[i]), i);
			}
			val_init(&key);
			val_init(&value);
			val_move(&key, &recv->a[i].a[0]);
			val_move(&value, &recv->a[i].a[1]);
			hash_set(&res, &key, &value);
		}
		val_move(out, &res);
	} else if (!strcmp(name, "keys") || !strcmp(name, "values")) {
		if (!is_hash) {
			return no_method(r, n, recv);
		}
		for (i = name[0] == 'k' ? 0 : 1; i < recv->n; i += 2) {
			val_push(&res, &recv->a[i], false);
		}
		val_move(out, &res);
	} else if (!strcmp(name, "fetch")) {
		struct val *hit = NULL;
		if (is_hash) {
			hit = hash_get(recv, &args[0]);
		} else {
			if (index_arg(r, n, &args[0], &k) < 0) {
				return -1;
			}
			k = k < 0 ? (long long)recv->n + k : k;
			hit = k >= 0 && k < (long long)recv->n ? &recv->a[k] : NULL;
		}
		if (hit) {
			val_move(out, hit);
		} else if (n->blk) {
			return yield1(r, n, &args[0], out);
		} else if (nargs == 2) {
			val_move(out, &args[1]);
		} else {
			struct sbuf q = SBUF_INIT;
			val_inspect(&args[0], &q);
			if (is_hash) {
				err_setat(r->e, r->file, n->line, 0, "key not found: %s", q.buf);
			} else {
				err_setat(r->e, r->file, n->line, 0,
					  "index %s outside of array bounds: %lld...%zu", q.buf,
					  -(long long)recv->n, recv->n);
			}
			sbuf_release(&q);
			return -1;
		}
	} else if (!strcmp(name, "dig")) {
		struct val cur;
		val_init(&cur);
		val_move(&cur, recv);
		for (i = 0; i < nargs && cur.kind != V_NIL; i++) {
			struct val *hit = NULL;
			if (cur.kind == V_HASH) {
				hit = hash_get(&cur, &args[i]);
			} else if (cur.kind == V_ARR) {
				if (index_arg(r, n, &args[i], &k) < 0) {
					val_release(&cur);
					return -1;
				}
				k = k < 0 ? (long long)cur.n + k : k;
				hit = k >= 0 && k < (long long)cur.n ? &cur.a[k] : NULL;
			} else {
				err_setat(r->e, r->file, n->line, 0, "%s does not have #dig method",
					  val_type(&cur));
				val_release(&cur);
				return -1;
			}
			if (hit) {
				struct val t;
				val_init(&t);
				val_move(&t, hit);
				val_move(&cur, &t);
			} else {
				val_release(&cur);
			}
		}
		val_move(out, &cur);
	} else if (!strcmp(name, "merge")) {
		if (!is_hash) {
			return no_method(r, n, recv);
		}
		for (i = 0; i < nargs; i++) {
			size_t j;
			if (args[i].kind != V_HASH) {
				return err_setat(r->e, r->file, n->line, 0,
						 "merge: no implicit conversion of %s into Hash",
						 val_type(&args[i]));
			}
			for (j = 0; j + 1 < args[i].n; j += 2) {
				struct val key, value;
				val_init(&key);
				val_init(&value);
				val_move(&key, &args[i].a[j]);
				val_move(&value, &args[i].a[j + 1]);
				hash_set(recv, &key, &value);
			}
		}
		val_move(out, recv);
	} else if (is_hash) {
		return no_method(r, n, recv);
	} else if (!strcmp(name, "join")) {
		if (nargs && arg_type(r, n, &args[0], V_STR, true) < 0) {
			return -1;
		}
		res.kind = V_STR;
		if (join(r, n, recv, nargs ? &args[0] : NULL, &res.s, 0) < 0) {
			val_release(&res);
			return -1;
		}
		val_move(out, &res);
	} else if (!strcmp(name, "compact") || !strcmp(name, "uniq")) {
		for (i = 0; i < recv->n; i++) {
			size_t j;
			bool seen = false;
			if (name[0] == 'c' && recv->a[i].kind == V_NIL) {
				continue;
			}
			for (j = 0; name[0] == 'u' && j < res.n && !seen; j++) {
				seen = val_eq(&res.a[j], &recv->a[i]) &&
				       res.a[j].kind == recv->a[i].kind;
			}
			if (!seen) {
				val_push(&res, &recv->a[i], false);
			}
		}
		val_move(out, &res);
	} else if (!strcmp(name, "reverse")) {
		for (i = recv->n; i-- > 0;) {
			val_push(&res, &recv->a[i], false);
		}
		val_move(out, &res);
	} else if (!strcmp(name, "flatten")) {
		flatten(recv, &res, 0);
		val_move(out, &res);
	} else if (!strcmp(name, "sort")) {
		struct val keys;
		val_init(&keys);
		val_copy(&keys, recv);
		if (sort_by_keys(r, n, recv->a, keys.a, recv->n) < 0) {
			val_release(&keys);
			return -1;
		}
		val_release(&keys);
		val_move(out, recv);
	} else if (!strcmp(name, "min") || !strcmp(name, "max")) {
		size_t best = 0;
		for (i = 1; i < recv->n; i++) {
			int c = val_cmp(&recv->a[i], &recv->a[best]);
			if (c == -2) {
				return cmp_failed(r, n, &recv->a[i], &recv->a[best]);
			}
			if ((name[1] == 'i' && c < 0) || (name[1] == 'a' && c > 0)) {
				best = i;
			}
		}
		if (recv->n) {
			val_move(out, &recv->a[best]);
		} else {
			val_release(out);
		}
	} else if (!strcmp(name, "sum")) {
		long long sum = 0;
		for (i = 0; i < recv->n; i++) {
			if (recv->a[i].kind != V_INT) {
				r->unsupported = recv->a[i].kind == V_FLOAT;
				return err_setat(r->e, r->file, n->line, 0,
						 "sum: %s can't be coerced into Integer",
						 val_type(&recv->a[i]));
			}
			if (__builtin_add_overflow(sum, recv->a[i].i, &sum)) {
				return err_setat(r->e, r->file, n->line, 0, "integer out of range");
			}
		}
		set_int(out, sum);
	} else {
		return no_method(r, n, recv);
	}
	return 0;
}

/* Binds a block parameter (a name, or (a, b) taking an Array apart) to a copy of v. */
static void bind_param(struct render *r, const struct node *param, const struct val *v)
{
	struct val c;
	size_t i;

	val_init(&c);
	if (param->str) {
		val_copy(&c, v);
		var_push(r, param->str, &c);
		return;
	}
	for (i = 0; i < param->nkid; i++) {
		if (v->kind == V_ARR) {
			bind_param(r, param->kid[i], i < v->n ? &v->a[i] : &c);
		} else {
			bind_param(r, param->kid[i], i == 0 ? v : &c);
		}
	}
}

/*
 * Runs a block with args, as a Ruby block takes them: one Array given to a
 * block of several parameters is taken apart. Parameters and the variables
 * the body makes are the block's own; the body's last value goes to out.
 */
static int call_block(struct render *r, const struct node *blk, struct val *args, size_t nargs,
		      struct val *out)
{
	size_t np = (size_t)blk->ival, mark = r->nvars, i;
	struct val nil;
	int ret;

	val_init(&nil);
	if (nargs == 1 && np > 1 && args[0].kind == V_ARR) {
		nargs = args[0].n;
		args = args[0].a;
	}
	for (i = 0; i < np; i++) {
		bind_param(r, blk->kid[i], i < nargs ? &args[i] : &nil);
	}
	ret = eval(r, blk->kid[np], out);
	vars_pop(r, mark);
	return ret;
}

/* A libyaml tree as Ruby values (Psych's types; keys as Symbols when sym). */
static void yaml_to_val(const struct yaml_node *y, bool sym, struct val *out)
{
	size_t i;

	switch (y->kind) {
	case YAML_NULL:
		val_release(out);
		break;
	case YAML_BOOL:
		set_bool(out, y->b);
		break;
	case YAML_INT:
		set_int(out, y->i);
		break;
	case YAML_FLOAT:
		set_kind(out, V_FLOAT);
		out->f = y->f;
		sbuf_addstr(&out->s, yaml_text(y));
		break;
	case YAML_STR:
		set_str(out, y->str, y->len);
		break;
	case YAML_SEQ:
		set_kind(out, V_ARR);
		for (i = 0; i < y->nr_items; i++) {
			struct val x;
			val_init(&x);
			yaml_to_val(y->items[i], sym, &x);
			val_push(out, &x, true);
		}
		break;
	case YAML_MAP:
		set_kind(out, V_HASH);
		for (i = 0; i < y->nr_pairs; i++) {
			struct val k, v;
			val_init(&k);
			val_init(&v);
			yaml_to_val(y->pairs[i].key, false, &k);
			if (sym && k.kind == V_STR) {
				k.kind = V_SYM;
			}
			yaml_to_val(y->pairs[i].value, sym, &v);
			hash_set(out, &k, &v);
		}
		break;
	}
}

static void json_to_val(const json_t *j, bool sym, struct val *out)
{
	const char *key;
	json_t *x;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		set_kind(out, V_HASH);
		json_object_foreach((json_t *)j, key, x)
		{
			struct val k, v;
			val_init(&k);
			val_init(&v);
			set_str(&k, key, strlen(key));
			if (sym) {
				k.kind = V_SYM;
			}
			json_to_val(x, sym, &v);
			hash_set(out, &k, &v);
		}
		break;
	case JSON_ARRAY:
		set_kind(out, V_ARR);
		json_array_foreach(j, i, x)
		{
			struct val v;
			val_init(&v);
			json_to_val(x, sym, &v);
			val_push(out, &v, true);
		}
		break;
	case JSON_STRING:
		set_str(out, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		set_int(out, (long long)json_integer_value(j));
		break;
	case JSON_REAL:
		set_float(out, json_real_value(j));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		set_bool(out, json_is_true(j));
		break;
	case JSON_NULL:
		val_release(out);
		break;
	}
}

/* Whether the trailing "name: true" options (a Hash) ask for symbolize_names. */
static bool opt_symbolize(const struct val *args, size_t nargs)
{
	struct val key, *v;
	bool on;

	if (!nargs || args[nargs - 1].kind != V_HASH) {
		return false;
	}
	val_init(&key);
	set_str(&key, "symbolize_names", 15);
	key.kind = V_SYM;
	v = hash_get(&args[nargs - 1], &key);
	on = v && truthy(v);
	val_release(&key);
	return on;
}

/* Reads a file for YAML.load_file or Dotenv.load: 0, or -1 with errno (ENOENT...). */
static int read_project_file(struct render *r, const struct val *name, struct sbuf *data)
{
	struct sbuf path = SBUF_INIT;
	int ret;

	file_path(r, name, &path);
	ret = read_bounded(path.buf, ERB_MAX_FILE, data);
	sbuf_release(&path);
	return ret;
}

static int file_error(struct render *r, const struct node *n, const char *what,
		      const struct val *name)
{
	if (errno == EFBIG) {
		r->fatal = true;
		return err_setat(r->e, r->file, n->line, 0, "%s: '%s' is larger than %u bytes",
				 what, name->s.buf, ERB_MAX_FILE);
	}
	return err_setat(r->e, r->file, n->line, 0, "%s: cannot read '%s': %s", what, name->s.buf,
			 strerror(errno));
}

/*
 * Dotenv.load(files...) (".env" without files): each file that exists, read
 * with berth's dotenv reader, sets in ENV the names that are not set yet (all
 * of them for overload). The "!" forms fail on a missing file. Gives the
 * Hash of what the files hold.
 */
static int dotenv_load(struct render *r, const struct node *n, struct val *args, size_t nargs,
		       struct val *out)
{
	bool overload = n->str[0] == 'o', bang = n->str[n->len - 1] == '!';
	struct val files, res;
	size_t i, j;
	int ret = -1;

	val_init(&files);
	val_init(&res);
	files.kind = V_ARR;
	res.kind = V_HASH;
	if (!nargs) {
		struct val dflt;
		val_init(&dflt);
		set_str(&dflt, ".env", 4);
		val_push(&files, &dflt, true);
	}
	for (i = 0; i < nargs; i++) {
		if (args[i].kind == V_ARR) {
			flatten(&args[i], &files, 0);
		} else {
			val_push(&files, &args[i], false);
		}
	}
	for (i = 0; i < files.n; i++) {
		struct sbuf data = SBUF_INIT;
		struct secrets sec;
		unsigned flags = r->ctx && r->ctx->no_commands ? SECRETS_F_NO_COMMANDS : 0;

		if (eval_string_arg_val(r, n, "Dotenv.load", &files.a[i]) < 0) {
			goto out;
		}
		if (read_project_file(r, &files.a[i], &data) < 0) {
			sbuf_release(&data);
			if (errno == ENOENT && !bang) {
				continue;
			}
			file_error(r, n, "Dotenv.load", &files.a[i]);
			goto out;
		}
		secrets_init(&sec);
		if (secrets_parse_dotenv_flags(&sec, files.a[i].s.buf, data.buf, data.len,
					       run_dir(r), flags, r->e) < 0) {
			secrets_release(&sec);
			sbuf_release(&data);
			goto out;
		}
		for (j = 0; j < sec.names.nr; j++) {
			struct val k, v;
			const char *name = sec.names.v[j], *value = sec.values.v[j];
			if (overload || !env_lookup(r, name)) {
				env_set(r, name, value);
			}
			val_init(&k);
			val_init(&v);
			set_str(&k, name, strlen(name));
			set_str(&v, value, strlen(value));
			hash_set(&res, &k, &v);
		}
		secrets_release(&sec);
		sbuf_release(&data);
	}
	val_move(out, &res);
	ret = 0;
out:
	val_release(&files);
	val_release(&res);
	return ret;
}

/* File.*, YAML.*, JSON.parse, Dotenv.* */
static int call_const(struct render *r, const struct node *n, struct val *args, size_t nargs,
		      struct val *out)
{
	const char *c = n->kid[0]->str, *name = n->str;
	size_t i;

	if (!strcmp(c, "Dotenv")) {
		return dotenv_load(r, n, args, nargs, out);
	}
	if (!strcmp(c, "File") && !strcmp(name, "join")) {
		struct val res;
		val_init(&res);
		res.kind = V_STR;
		for (i = 0; i < nargs; i++) {
			if (arg_type(r, n, &args[i], V_STR, false) < 0) {
				val_release(&res);
				return -1;
			}
			if (i && !(res.s.len && res.s.buf[res.s.len - 1] == '/') &&
			    !(args[i].s.len && args[i].s.buf[0] == '/')) {
				sbuf_addch(&res.s, '/');
			} else if (i && res.s.len && res.s.buf[res.s.len - 1] == '/' &&
				   args[i].s.len && args[i].s.buf[0] == '/') {
				sbuf_setlen(&res.s, res.s.len - 1);
			}
			sbuf_add(&res.s, args[i].s.buf, args[i].s.len);
		}
		val_move(out, &res);
		return 0;
	}
	if (!strcmp(c, "File")) {
		struct sbuf path = SBUF_INIT;
		struct stat st;
		bool ok;
		if (eval_string_arg_val(r, n, name, &args[0]) < 0) {
			return -1;
		}
		file_path(r, &args[0], &path);
		ok = !stat(path.buf, &st) &&
		     (name[0] == 'f' ? S_ISREG(st.st_mode) : S_ISDIR(st.st_mode));
		sbuf_release(&path);
		set_bool(out, ok);
		return 0;
	}
	if (!strcmp(c, "YAML") || !strcmp(c, "JSON")) {
		struct sbuf data = SBUF_INIT;
		bool sym = opt_symbolize(args, nargs);
		int ret = -1;

		if (arg_type(r, n, &args[0], V_STR, false) < 0) {
			return -1;
		}
		if (strstr(name, "_file")) {
			if (eval_string_arg_val(r, n, name, &args[0]) < 0) {
				return -1;
			}
			if (read_project_file(r, &args[0], &data) < 0) {
				sbuf_release(&data);
				return file_error(r, n, "YAML.load_file", &args[0]);
			}
		} else {
			sbuf_add(&data, args[0].s.buf, args[0].s.len);
		}
		if (c[0] == 'Y') {
			struct yaml_node *y = NULL;
			const char *what = strstr(name, "_file") ? args[0].s.buf : "(string)";
			struct err ye = ERR_INIT;
			if (yaml_load(what, data.buf, data.len, &y, &ye) < 0) {
				err_setat(r->e, r->file, n->line, 0, "YAML.%s: %s", name,
					  err_str(&ye));
			} else if (y->kind == YAML_NULL && !data.len) {
				set_bool(out, false); /* Psych gives false for an empty document */
				ret = 0;
			} else {
				yaml_to_val(y, sym, out);
				ret = 0;
			}
			yaml_node_free(y);
			err_release(&ye);
		} else {
			json_error_t je;
			json_t *j = json_loadb(data.buf, data.len, JSON_DECODE_ANY, &je);
			if (!j) {
				err_setat(r->e, r->file, n->line, 0, "JSON.parse: %s at line %d",
					  je.text, je.line);
			} else {
				json_to_val(j, sym, out);
				json_decref(j);
				ret = 0;
			}
		}
		sbuf_release(&data);
		return ret;
	}
	r->unsupported = true;
	return err_setat(r->e, r->file, n->line, 0, "unsupported ERB: %s.%s", c, name);
}

/* The digits of v in base, with at least prec of them. */
static void int_digits(unsigned long long v, unsigned base, bool upper, int prec, struct sbuf *sb)
{
	char tmp[72];
	int len = 0;

	do {
		tmp[len++] = (upper ? "0123456789ABCDEF" : "0123456789abcdef")[v % base];
		v /= base;
	} while (v);
	while (len < prec && len < (int)sizeof(tmp)) {
		tmp[len++] = '0';
	}
	while (len) {
		sbuf_addch(sb, tmp[--len]);
	}
}

/* Integer(x) as %d takes it: Integers, Floats (floored) and Strings of digits. */
static int fmt_int(struct render *r, const struct node *n, const struct val *v, long long *out)
{
	if (v->kind == V_INT) {
		*out = v->i;
		return 0;
	}
	if (v->kind == V_FLOAT && v->f > -9.2e18 && v->f < 9.2e18) {
		*out = (long long)floor(v->f);
		return 0;
	}
	if (v->kind == V_STR) {
		const char *p = v->s.buf;
		size_t i = 0;
		if (p[i] == '-' || p[i] == '+') {
			i++;
		}
		if (i < v->s.len && strspn(p + i, "0123456789_") == v->s.len - i &&
		    str_to_i(v, out) == 0) {
			return 0;
		}
		return err_setat(r->e, r->file, n->line, 0, "invalid value for Integer(): \"%s\"",
				 v->s.buf);
	}
	return err_setat(r->e, r->file, n->line, 0, "can't convert %s into Integer", val_type(v));
}

/* Kernel#format: %s %p %d %i %u %x %X %o %b %f %e %g %c %%, with flags, width and precision. */
static int format(struct render *r, const struct node *n, const struct val *fmt,
		  const struct val *args, size_t nargs, struct val *out)
{
	const char *p = fmt->s.buf, *end = fmt->s.buf + fmt->s.len;
	struct sbuf res = SBUF_INIT, piece = SBUF_INIT;
	size_t next = 0;
	int ret = -1;

	while (p < end) {
		bool left = false, zero = false, plus = false, space = false;
		int width = 0, prec = -1;
		const struct val *arg;
		char conv;

		if (*p != '%') {
			sbuf_addch(&res, *p++);
			continue;
		}
		p++;
		for (; p < end && strchr("-0+ #", *p); p++) {
			left |= *p == '-';
			zero |= *p == '0';
			plus |= *p == '+';
			space |= *p == ' ';
		}
		for (; p < end && is_digit(*p) && width < 100000; p++) {
			width = width * 10 + (*p - '0');
		}
		if (p < end && *p == '.') {
			prec = 0;
			for (p++; p < end && is_digit(*p) && prec < 100000; p++) {
				prec = prec * 10 + (*p - '0');
			}
		}
		if (p >= end) {
			err_setat(r->e, r->file, n->line, 0, "format: incomplete format specifier");
			goto out;
		}
		conv = *p++;
		if (conv == '%') {
			sbuf_addch(&res, '%');
			continue;
		}
		if (!strchr("spdiuxXobfeEgGc", conv)) {
			r->unsupported = true;
			err_setat(r->e, r->file, n->line, 0,
				  "unsupported ERB: the format directive '%%%c'", conv);
			goto out;
		}
		if (next >= nargs) {
			err_setat(r->e, r->file, n->line, 0, "format: too few arguments");
			goto out;
		}
		arg = &args[next++];
		sbuf_reset(&piece);
		if (conv == 's' || conv == 'p') {
			if (conv == 's') {
				val_to_s(arg, &piece);
			} else {
				val_inspect(arg, &piece);
			}
			if (prec >= 0 && (size_t)prec < piece.len) {
				sbuf_setlen(&piece, (size_t)prec);
			}
			zero = false;
		} else if (conv == 'c') {
			if (arg->kind == V_STR && arg->s.len &&
			    utf8_len((const unsigned char *)arg->s.buf, arg->s.len) != arg->s.len) {
				/* Ruby versions differ on "%c" % "ab": ask ruby */
				r->unsupported = true;
				err_setat(r->e, r->file, n->line, 0,
					  "unsupported ERB: %%c of a longer String");
				goto out;
			}
			if (arg->kind == V_STR && arg->s.len) {
				size_t l = utf8_len((const unsigned char *)arg->s.buf, arg->s.len);
				sbuf_add(&piece, arg->s.buf, l ? l : 1);
			} else if (arg->kind == V_INT && arg->i >= 0 && arg->i < 0x110000) {
				add_utf8(&piece, (unsigned long)arg->i);
			} else {
				err_setat(r->e, r->file, n->line, 0, "%%c requires a character");
				goto out;
			}
			zero = false;
		} else if (strchr("feEgG", conv)) {
			double d;
			if (arg->kind == V_INT) {
				d = (double)arg->i;
			} else if (arg->kind == V_FLOAT) {
				d = arg->f;
			} else {
				r->unsupported = arg->kind == V_STR;
				err_setat(r->e, r->file, n->line, 0, "can't convert %s into Float",
					  val_type(arg));
				goto out;
			}
			if (prec < 0) {
				prec = 6;
			}
			if (prec > 100) {
				prec = 100;
			}
			if (conv != 'f' || !isfinite(d)) {
				/* Ruby rounds its own way (see fixed_digits): ask ruby */
				r->unsupported = true;
				err_setat(r->e, r->file, n->line, 0,
					  "unsupported ERB: %%%c of a Float", conv);
				goto out;
			}
			if (signbit(d)) {
				sbuf_addch(&piece, '-');
			} else if (plus || space) {
				sbuf_addch(&piece, plus ? '+' : ' ');
			}
			if (fixed_digits(d, prec, &piece) < 0) {
				r->unsupported = true;
				err_setat(
				    r->e, r->file, n->line, 0,
				    "unsupported ERB: %%f of a Float that ends in 5 where it is "
				    "cut");
				goto out;
			}
		} else {
			long long v;
			unsigned base = conv == 'x' || conv == 'X' ? 16
					: conv == 'o'		   ? 8
					: conv == 'b'		   ? 2
								   : 10;
			unsigned long long mag;
			if (fmt_int(r, n, arg, &v) < 0) {
				goto out;
			}
			mag = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
			if (v < 0 && base != 10 && !plus && !space) {
				/* Ruby writes negative hex as "..f" two's complement */
				r->unsupported = true;
				err_setat(r->e, r->file, n->line, 0,
					  "unsupported ERB: a negative number in %%%c", conv);
				goto out;
			}
			if (v < 0) {
				sbuf_addch(&piece, '-');
			} else if (plus || space) {
				sbuf_addch(&piece, plus ? '+' : ' ');
			}
			int_digits(mag, base, conv == 'X', prec, &piece);
			if (prec >= 0) {
				zero = false;
			}
		}
		if ((int)piece.len < width) {
			size_t pad = (size_t)width - piece.len, sign = 0;
			if (left) {
				while (pad--) {
					sbuf_addch(&piece, ' ');
				}
			} else if (zero) {
				sign = piece.len && strchr("+- ", piece.buf[0]) ? 1 : 0;
				sbuf_add(&res, piece.buf, sign);
				while (pad--) {
					sbuf_addch(&res, '0');
				}
				sbuf_add(&res, piece.buf + sign, piece.len - sign);
				sbuf_reset(&piece);
			} else {
				while (pad--) {
					sbuf_addch(&res, ' ');
				}
			}
		}
		sbuf_add(&res, piece.buf, piece.len);
		if (res.len > ERB_MAX_OUTPUT) {
			too_long(r, n);
			goto out;
		}
	}
	set_str(out, res.buf, res.len);
	ret = 0;
out:
	sbuf_release(&res);
	sbuf_release(&piece);
	return ret;
}

/* format, sprintf, require, raise */
static int call_func(struct render *r, const struct node *n, struct val *args, size_t nargs,
		     struct val *out)
{
	static const char *const requires[] = {"dotenv", "dotenv/load", "json", "yaml",
					       "erb",	 "psych",	"set"};
	size_t i;

	if (!strcmp(n->str, "format") || !strcmp(n->str, "sprintf")) {
		if (arg_type(r, n, &args[0], V_STR, false) < 0) {
			return -1;
		}
		return format(r, n, &args[0], args + 1, nargs - 1, out);
	}
	if (!strcmp(n->str, "raise")) {
		struct sbuf m = SBUF_INIT;
		if (nargs) {
			val_to_s(&args[nargs - 1], &m);
		} else {
			sbuf_addstr(&m, "unhandled exception");
		}
		err_setat(r->e, r->file, n->line, 0, "%s", m.buf);
		sbuf_release(&m);
		return -1;
	}
	/* require */
	if (arg_type(r, n, &args[0], V_STR, false) < 0) {
		return -1;
	}
	for (i = 0; i < sizeof(requires) / sizeof(requires[0]); i++) {
		if (!strcmp(args[0].s.buf, requires[i])) {
			break;
		}
	}
	if (i == sizeof(requires) / sizeof(requires[0])) {
		r->unsupported = true;
		return err_setat(r->e, r->file, n->line, 0,
				 "unsupported ERB: require \"%s\" — berth knows dotenv, json, "
				 "yaml and erb",
				 args[0].s.buf);
	}
	if (!strcmp(args[0].s.buf, "dotenv/load")) {
		/* as the gem does: load .env into ENV when it is required */
		return dotenv_load(r, n, NULL, 0, out);
	}
	set_bool(out, true);
	return 0;
}

/* The length of the Unicode White_Space character at s ([[:space:]] in Ruby), or 0. */
static size_t uspace_len(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	if (n >= 1 && (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r'))) {
		return 1;
	}
	if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0)) {
		return 2;
	}
	if (n >= 3 && u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) {
		return 3; /* U+1680 */
	}
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 &&
	    (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf)) {
		return 3; /* U+2000..U+200A, U+2028, U+2029, U+202F */
	}
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) {
		return 3; /* U+205F */
	}
	if (n >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) {
		return 3; /* U+3000 */
	}
	return 0;
}

/* ActiveSupport's Object#blank?: nil, false, empty collections and blank strings. */
static bool val_blank(const struct val *v)
{
	size_t i, l;

	switch (v->kind) {
	case V_NIL:
		return true;
	case V_BOOL:
		return !v->b;
	case V_STR:
		for (i = 0; i < v->s.len; i += l) {
			if (!(l = uspace_len(v->s.buf + i, v->s.len - i))) {
				return false;
			}
		}
		return true;
	case V_SYM:
		return !v->s.len;
	case V_ARR:
	case V_HASH:
		return !v->n;
	default:
		return false;
	}
}

/* ActiveSupport's String#squish: runs of white space become one space, none at the ends. */
static void squish(const struct val *s, struct val *out)
{
	struct val res;
	size_t i = 0, l;
	bool gap = false;

	val_init(&res);
	res.kind = V_STR;
	while (i < s->s.len) {
		if ((l = uspace_len(s->s.buf + i, s->s.len - i))) {
			gap = true;
			i += l;
			continue;
		}
		if (gap && res.s.len) {
			sbuf_addch(&res.s, ' ');
		}
		gap = false;
		sbuf_addch(&res.s, s->s.buf[i++]);
	}
	val_move(out, &res);
}

/* Integer#times: the block for 0...n, or without one [0, ..., n - 1]. */
static int int_times(struct render *r, const struct node *n, struct val *recv, struct val *out)
{
	struct val res, i, got;
	long long k;
	int ret = -1;

	val_init(&res);
	val_init(&i);
	val_init(&got);
	res.kind = V_ARR;
	if (!n->blk && recv->i > (long long)ERB_MAX_ITEMS) {
		r->fatal = true;
		return err_setat(r->e, r->file, n->line, 0,
				 "ERB Array or Hash of more than %u elements", ERB_MAX_ITEMS);
	}
	for (k = 0; k < recv->i; k++) {
		set_int(&i, k);
		if (!n->blk) {
			val_push(&res, &i, false);
		} else if (call_block(r, n->blk, &i, 1, &got) < 0) {
			goto out;
		}
	}
	if (n->blk) {
		val_move(out, recv);
	} else {
		val_move(out, &res);
	}
	ret = 0;
out:
	val_release(&res);
	val_release(&i);
	val_release(&got);
	return ret;
}

/* String#to_f: a leading decimal number ("1_000.5e2kg"), else 0.0. */
static double str_to_f(const struct val *v)
{
	const char *p = v->s.buf, *end = v->s.buf + v->s.len;
	struct sbuf num = SBUF_INIT;
	double f;

	while (p < end && is_space_ruby((unsigned char)*p)) {
		p++;
	}
	if (p < end && (*p == '+' || *p == '-')) {
		sbuf_addch(&num, *p++);
	}
	for (; p < end && (is_digit(*p) || (*p == '_' && p + 1 < end && is_digit(p[1]) && num.len &&
					    is_digit(num.buf[num.len - 1])));
	     p++) {
		if (*p != '_') {
			sbuf_addch(&num, *p);
		}
	}
	if (p + 1 < end && *p == '.' && is_digit(p[1])) {
		sbuf_addch(&num, *p++);
		while (p < end && is_digit(*p)) {
			sbuf_addch(&num, *p++);
		}
	}
	if (p + 1 < end && (*p == 'e' || *p == 'E') && num.len &&
	    (is_digit(p[1]) || (p + 2 < end && (p[1] == '-' || p[1] == '+') && is_digit(p[2])))) {
		sbuf_addch(&num, *p++);
		sbuf_addch(&num, *p++);
		while (p < end && is_digit(*p)) {
			sbuf_addch(&num, *p++);
		}
	}
	f = num.len ? strtod(num.buf, NULL) : 0.0;
	sbuf_release(&num);
	return f;
}

static int eval_call(struct render *r, const struct node *n, struct val *out)
{
	struct val recv, args[17];
	size_t nargs = n->nkid - 1, i;
	int ret = -1;

	val_init(&recv);
	for (i = 0; i < 17; i++) {
		val_init(&args[i]);
	}
	if (n->kind == N_FUNC) {
		nargs = n->nkid;
	}
	if (nargs > 16) {
		return err_setat(r->e, r->file, n->line, 0, "too many arguments");
	}
	if (n->kind == N_CALL && n->kid[0]->kind != N_CONST && eval(r, n->kid[0], &recv) < 0) {
		goto out;
	}
	if (n->flag && recv.kind == V_NIL) {
		/* x&.m is nil when x is */
		val_release(out);
		ret = 0;
		goto out;
	}
	for (i = 0; i < nargs; i++) {
		if (eval(r, n->kid[n->kind == N_FUNC ? i : i + 1], &args[i]) < 0) {
			goto out;
		}
	}
	if (n->kind == N_FUNC) {
		ret = call_func(r, n, args, nargs, out);
		goto out;
	}
	if (n->kid[0]->kind == N_CONST) {
		ret = call_const(r, n, args, nargs, out);
		goto out;
	}
	if (!strcmp(n->str, "nil?")) {
		set_bool(out, recv.kind == V_NIL);
		ret = 0;
		goto out;
	}
	if (!strcmp(n->str, "to_f") && recv.kind != V_BOOL && recv.kind != V_SYM &&
	    recv.kind != V_ARR && recv.kind != V_HASH) {
		set_float(out, recv.kind == V_STR     ? str_to_f(&recv)
			       : recv.kind == V_INT   ? (double)recv.i
			       : recv.kind == V_FLOAT ? recv.f
						      : 0.0);
		ret = 0;
		goto out;
	}
	if (!strcmp(n->str, "freeze") || !strcmp(n->str, "dup")) {
		val_move(out, &recv);
		ret = 0;
		goto out;
	}
	if (!strcmp(n->str, "present?") || !strcmp(n->str, "blank?")) {
		set_bool(out, val_blank(&recv) == (n->str[0] == 'b'));
		ret = 0;
		goto out;
	}
	if (!strcmp(n->str, "presence")) {
		if (val_blank(&recv)) {
			val_release(out);
		} else {
			val_move(out, &recv);
		}
		ret = 0;
		goto out;
	}
	if (!strcmp(n->str, "squish") && recv.kind == V_STR) {
		squish(&recv, out);
		ret = 0;
		goto out;
	}
	if (!strcmp(n->str, "inspect") && recv.kind != V_ARR && recv.kind != V_HASH) {
		struct val s;
		val_init(&s);
		s.kind = V_STR;
		val_inspect(&recv, &s.s);
		val_move(out, &s);
		ret = 0;
		goto out;
	}
	switch (recv.kind) {
	case V_STR:
		ret = call_str(r, n, &recv, args, nargs, out);
		break;
	case V_ARR:
	case V_HASH:
		ret = call_coll(r, n, &recv, args, nargs, out);
		break;
	case V_NIL:
	case V_INT:
	case V_FLOAT:
	case V_BOOL:
	case V_SYM:
		if (!strcmp(n->str, "to_s")) {
			struct val s;
			val_init(&s);
			s.kind = V_STR;
			val_to_s(&recv, &s.s);
			val_move(out, &s);
			ret = 0;
		} else if (!strcmp(n->str, "to_i") && (recv.kind == V_NIL || recv.kind == V_INT)) {
			set_int(out, recv.kind == V_INT ? recv.i : 0);
			ret = 0;
		} else if (!strcmp(n->str, "to_i") && recv.kind == V_FLOAT && recv.f > -9.2e18 &&
			   recv.f < 9.2e18) {
			set_int(out, (long long)recv.f);
			ret = 0;
		} else if (!strcmp(n->str, "to_a") && recv.kind == V_NIL) {
			set_kind(out, V_ARR);
			ret = 0;
		} else if (!strcmp(n->str, "to_sym") && recv.kind == V_SYM) {
			val_move(out, &recv);
			ret = 0;
		} else if (!strcmp(n->str, "times") && recv.kind == V_INT) {
			ret = int_times(r, n, &recv, out);
		} else if (!strcmp(n->str, "zero?") && recv.kind == V_INT) {
			set_bool(out, recv.i == 0);
			ret = 0;
		} else if ((!strcmp(n->str, "length") || !strcmp(n->str, "size")) &&
			   recv.kind == V_SYM) {
			set_int(out, (long long)utf8_count(recv.s.buf, recv.s.len));
			ret = 0;
		} else {
			ret = no_method(r, n, &recv);
		}
		break;
	}
out:
	val_release(&recv);
	for (i = 0; i < 17; i++) {
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
	if (recv.kind == V_HASH) {
		struct val *hit = hash_get(&recv, &idx);
		if (hit) {
			val_move(out, hit);
		} else {
			val_release(out);
		}
		ret = 0;
		goto out;
	}
	if (recv.kind != V_ARR) {
		struct sbuf q = SBUF_INIT;
		quote_node(&q, n);
		err_setat(r->e, r->file, n->line, 0, "undefined method '[]' for %s in %s",
			  val_type(&recv), q.buf);
		sbuf_release(&q);
		/* String#[] and friends: Ruby has them */
		r->unsupported = recv.kind != V_NIL;
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
			r->unsupported = true; /* Ruby has big integers */
			err_setat(r->e, r->file, n->line, 0, "integer out of range");
			goto out;
		}
		set_int(out, v);
	} else if ((a.kind == V_INT || a.kind == V_FLOAT) &&
		   (b.kind == V_INT || b.kind == V_FLOAT)) {
		set_float(out, (a.kind == V_INT ? (double)a.i : a.f) +
				   (b.kind == V_INT ? (double)b.i : b.f));
	} else if (a.kind == V_ARR && b.kind == V_ARR) {
		size_t i;
		if (a.n + b.n > ERB_MAX_ITEMS) {
			too_long(r, n);
			goto out;
		}
		for (i = 0; i < b.n; i++) {
			val_push(&a, &b.a[i], true);
		}
		val_move(out, &a);
	} else if (a.kind == V_STR || a.kind == V_ARR) {
		err_setat(r->e, r->file, n->line, 0,
			  "%s + %s: no implicit conversion of %s into %s", val_type(&a),
			  val_type(&b), val_type(&b), val_type(&a));
		goto out;
	} else if (a.kind == V_INT || a.kind == V_FLOAT) {
		err_setat(r->e, r->file, n->line, 0, "%s + %s: %s can't be coerced into %s",
			  val_type(&a), val_type(&b), val_type(&b), val_type(&a));
		goto out;
	} else {
		struct sbuf q = SBUF_INIT;
		quote_node(&q, n);
		err_setat(r->e, r->file, n->line, 0, "undefined method '+' for %s in %s",
			  val_type(&a), q.buf);
		sbuf_release(&q);
		r->unsupported = a.kind != V_NIL;
		goto out;
	}
	ret = 0;
out:
	val_release(&a);
	val_release(&b);
	return ret;
}

/* - * / % < > <= >= */
static int eval_binop(struct render *r, const struct node *n, struct val *out)
{
	struct val a, b;
	const char *op = n->str;
	int ret = -1;

	val_init(&a);
	val_init(&b);
	if (eval(r, n->kid[0], &a) < 0 || eval(r, n->kid[1], &b) < 0) {
		goto out;
	}
	if (op[0] == '<' || op[0] == '>') {
		int c = val_cmp(&a, &b);
		if (c == -2 || a.kind == V_ARR) {
			if (a.kind == V_NIL || a.kind == V_BOOL || a.kind == V_HASH ||
			    a.kind == V_ARR) {
				err_setat(r->e, r->file, n->line, 0, "undefined method '%s' for %s",
					  op, val_type(&a));
			} else {
				cmp_failed(r, n, &a, &b);
			}
			goto out;
		}
		set_bool(out, op[0] == '<' ? (op[1] ? c <= 0 : c < 0) : (op[1] ? c >= 0 : c > 0));
	} else if (op[0] == '%' && a.kind == V_STR) {
		if (b.kind == V_ARR) {
			ret = format(r, n, &a, b.a, b.n, out);
		} else {
			ret = format(r, n, &a, &b, 1, out);
		}
		goto out;
	} else if (op[0] == '*' && a.kind == V_STR && b.kind == V_INT) {
		struct val res;
		long long i;
		if (b.i < 0) {
			err_setat(r->e, r->file, n->line, 0, "negative argument");
			goto out;
		}
		if (a.s.len && (unsigned long long)b.i > ERB_MAX_OUTPUT / a.s.len) {
			too_long(r, n);
			goto out;
		}
		val_init(&res);
		res.kind = V_STR;
		for (i = 0; i < b.i; i++) {
			sbuf_add(&res.s, a.s.buf, a.s.len);
		}
		val_move(out, &res);
	} else if (a.kind == V_INT && b.kind == V_INT) {
		long long v = 0;
		bool of = false;
		switch (op[0]) {
		case '-':
			of = __builtin_sub_overflow(a.i, b.i, &v);
			break;
		case '*':
			of = __builtin_mul_overflow(a.i, b.i, &v);
			break;
		default:
			if (!b.i) {
				err_setat(r->e, r->file, n->line, 0, "divided by 0");
				goto out;
			}
			if (a.i == INT64_MIN && b.i == -1) {
				of = true;
				break;
			}
			/* Ruby floors: -7 / 2 is -4 and -7 % 2 is 1 */
			v = op[0] == '/' ? a.i / b.i : a.i % b.i;
			if ((a.i % b.i) && ((a.i < 0) != (b.i < 0))) {
				v = op[0] == '/' ? v - 1 : v + b.i;
			}
			break;
		}
		if (of) {
			r->unsupported = true; /* Ruby has big integers */
			err_setat(r->e, r->file, n->line, 0, "integer out of range");
			goto out;
		}
		set_int(out, v);
	} else if ((a.kind == V_INT || a.kind == V_FLOAT) &&
		   (b.kind == V_INT || b.kind == V_FLOAT) && op[0] != '%') {
		double x = a.kind == V_INT ? (double)a.i : a.f;
		double y = b.kind == V_INT ? (double)b.i : b.f;
		set_float(out, op[0] == '-' ? x - y : op[0] == '*' ? x * y : x / y);
	} else {
		struct sbuf q = SBUF_INIT;
		quote_node(&q, n);
		err_setat(r->e, r->file, n->line, 0,
			  "undefined method '%s' for %s, or %s given, in %s", op, val_type(&a),
			  val_type(&b), q.buf);
		sbuf_release(&q);
		r->unsupported = a.kind != V_NIL;
		goto out;
	}
	ret = 0;
out:
	val_release(&a);
	val_release(&b);
	return ret;
}

/*
 * begin/rescue and "x rescue y": an error of the body (not one of berth's
 * limits, nor Ruby that berth does not evaluate) runs the rescue part, with
 * "=> name" set to the message. What the body wrote before the error stays
 * written, as in Ruby.
 */
static int eval_begin(struct render *r, const struct node *n, struct val *out)
{
	int ret = eval(r, n->kid[0], out);

	if (ret < 0 && !n->flag && !r->fatal && !r->unsupported) {
		if (n->str) {
			struct val msg, *v;
			val_init(&msg);
			set_str(&msg, r->e->msg.buf, r->e->msg.len);
			if ((v = var_find(r, n->str))) {
				val_move(v, &msg);
			} else {
				var_push(r, n->str, &msg);
			}
		}
		err_release(r->e);
		err_init(r->e);
		return eval(r, n->kid[1], out);
	}
	if (ret == 0 && n->nkid > 2) {
		return eval(r, n->kid[2], out);
	}
	return ret;
}

static int eval_case(struct render *r, const struct node *n, struct val *out)
{
	struct val subj, x;
	bool bare = n->kid[0]->kind == N_NIL && n->kid[0]->flag;
	size_t i, j;
	int ret = -1;

	val_init(&subj);
	val_init(&x);
	if (!bare && eval(r, n->kid[0], &subj) < 0) {
		goto out;
	}
	for (i = 1; i < n->nkid; i++) {
		const struct node *w = n->kid[i];
		if (w->kind != N_WHEN) {
			ret = eval(r, w, out); /* else */
			goto out;
		}
		for (j = 0; j < (size_t)w->ival; j++) {
			if (eval(r, w->kid[j], &x) < 0) {
				goto out;
			}
			if (bare ? truthy(&x) : val_eq(&x, &subj)) {
				ret = eval(r, w->kid[w->nkid - 1], out);
				goto out;
			}
		}
	}
	val_release(out);
	ret = 0;
out:
	val_release(&subj);
	val_release(&x);
	return ret;
}

static int emit(struct render *r, const struct node *n, const char *s, size_t len)
{
	if (r->out->len - r->out_start + len > ERB_MAX_OUTPUT) {
		r->fatal = true;
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
	if (++r->steps > ERB_MAX_STEPS) {
		r->fatal = true;
		return err_setat(r->e, r->file, n->line, 0,
				 "ERB evaluation took more than %u steps", ERB_MAX_STEPS);
	}
	switch (n->kind) {
	case N_SEQ:
		/* the value of the last statement (a block's value) */
		val_release(out);
		for (i = 0; i < n->nkid && !ret; i++) {
			ret = eval(r, n->kid[i], out);
		}
		break;
	case N_VAR: {
		struct val *v = var_find(r, n->str);
		if (v) {
			/* a copy costs its size: loops over big values end at the step limit */
			r->steps += val_weight(v);
			val_copy(out, v);
		} else {
			val_release(out); /* assigned in code that did not run: nil */
		}
		break;
	}
	case N_ASSIGN: {
		struct val *v = var_find(r, n->str);
		if (n->flag && v && truthy(v)) {
			val_copy(out, v);
			break;
		}
		if ((ret = eval(r, n->kid[0], &a)) < 0) {
			break;
		}
		val_copy(out, &a);
		if ((v = var_find(r, n->str))) {
			val_move(v, &a);
		} else {
			var_push(r, n->str, &a);
		}
		break;
	}
	case N_ARRAY:
	case N_WORDS:
	case N_HASH: {
		struct val res;
		val_init(&res);
		res.kind = n->kind == N_HASH ? V_HASH : V_ARR;
		for (i = 0; i < n->nkid && !ret; i++) {
			if ((ret = eval(r, n->kid[i], &a)) < 0) {
				break;
			}
			if (n->kind == N_HASH && i % 2) {
				struct val k;
				val_init(&k);
				val_move(&k, &res.a[res.n - 1]);
				val_release(&res.a[--res.n]);
				hash_set(&res, &k, &a);
			} else {
				val_push(&res, &a, true);
			}
			if (res.n > ERB_MAX_ITEMS) {
				ret = too_long(r, n);
			}
		}
		if (!ret) {
			val_move(out, &res);
		}
		val_release(&res);
		break;
	}
	case N_SYM:
		set_str(out, n->str, n->len);
		out->kind = V_SYM;
		break;
	case N_BINOP:
		ret = eval_binop(r, n, out);
		break;
	case N_FUNC:
		ret = eval_call(r, n, out);
		break;
	case N_BEGIN:
		ret = eval_begin(r, n, out);
		break;
	case N_CASE:
		ret = eval_case(r, n, out);
		break;
	case N_BLOCK:
	case N_PARAM:
	case N_WHEN:
		abort(); /* evaluated by their parents */
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
	case N_FLOAT:
		set_float(out, n->fval);
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
	case N_ENVSET:
		ret = eval_envset(r, n, out);
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
		if (a.kind == V_FLOAT) {
			set_float(out, -a.f);
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
	if (!ret && out->kind == V_STR) {
		/* making text costs its size: chains of gsub or * end at the step limit */
		r->steps += out->s.len / 64;
	} else if (!ret && (out->kind == V_ARR || out->kind == V_HASH)) {
		r->steps += out->n;
		if (out->n > ERB_MAX_ITEMS) {
			r->fatal = true;
			ret =
			    err_setat(r->e, r->file, n->line, 0,
				      "ERB Array or Hash of more than %u elements", ERB_MAX_ITEMS);
		}
	}
	val_release(&a);
	return ret;
}
/* ------------------------------------------------------------------ ruby */

/*
 * Renders the template as Kamal does, with Ruby's own ERB: Kamal's
 * ERB.new(template, trim_mode: "-").result, in a binding of its own. The
 * gems Kamal has loaded are loaded when they are installed (dotenv, and
 * ActiveSupport's present?, blank? and squish). The rendered text goes to
 * a copy of stdout; the template's own puts and system() write to stderr, as
 * they would write to Kamal's terminal, not into the YAML. No local variable
 * of the script leaks into the template's binding: those of a block are the
 * block's own.
 */
static const char ruby_script[] =
    "require \"erb\"; require \"yaml\"; require \"json\"\n"
    "begin; require \"dotenv\"; rescue LoadError; end\n"
    "begin; require \"active_support\"; require \"active_support/core_ext/object/blank\"\n"
    "require \"active_support/core_ext/string/filters\"\n"
    "rescue LoadError; end\n"
    "STDOUT.dup.tap do |out|\n"
    "  STDOUT.reopen(STDERR)\n"
    "  erb = ERB.new(STDIN.binmode.read.force_encoding(\"UTF-8\"), trim_mode: \"-\")\n"
    "  erb.filename = ARGV[0]\n"
    "  out.binmode.write(erb.result)\n"
    "end\n";

/* The ruby to run: BERTH_RUBY from the template's environment, else `ruby` on PATH. */
static char *find_ruby(const struct erb_ctx *ctx)
{
	const char *ruby = NULL, *path;
	struct render r0;
	char *found = NULL;

	memset(&r0, 0, sizeof(r0));
	r0.ctx = ctx;
	ruby = env_lookup(&r0, "BERTH_RUBY");
	if (!ruby || !*ruby) {
		ruby = "ruby";
	}
	if (strchr(ruby, '/')) {
		return access(ruby, X_OK) ? NULL : xstrdup(ruby);
	}
	path = getenv("PATH");
	while (path && !found) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		struct sbuf p = SBUF_INIT;
		sbuf_add(&p, len ? path : ".", len ? len : 1);
		sbuf_addf(&p, "/%s", ruby);
		if (!access(p.buf, X_OK)) {
			found = sbuf_detach(&p, NULL);
		}
		sbuf_release(&p);
		path = colon ? colon + 1 : NULL;
	}
	return found;
}

static void destination_env(const struct erb_ctx *ctx, struct render *r)
{
	const char *d = ctx ? ctx->destination : NULL;

	/* Kamal sets ENV["KAMAL_DESTINATION"] = destination first: nil unsets it */
	env_set(r, "KAMAL_DESTINATION", d);
	env_set(r, "BERTH_DESTINATION", d);
}

struct erb_env {
	struct envvar *v;
	size_t n, alloc;
};

struct erb_env *erb_env_new(void)
{
	return xcalloc(1, sizeof(struct erb_env));
}

void erb_env_free(struct erb_env *env)
{
	size_t i;

	if (!env) {
		return;
	}
	for (i = 0; i < env->n; i++) {
		free(env->v[i].name);
		free(env->v[i].value);
	}
	free(env->v);
	free(env);
}

/* The variables earlier templates set, over the destination's. */
static void env_inherit(const struct erb_ctx *ctx, struct render *r)
{
	size_t i;

	for (i = 0; ctx && ctx->env && i < ctx->env->n; i++) {
		env_set(r, ctx->env->v[i].name, ctx->env->v[i].value);
	}
}

/* Keeps what this template set for the next one. */
static void env_keep(const struct erb_ctx *ctx, struct render *r)
{
	struct erb_env *env = ctx ? ctx->env : NULL;
	size_t i;

	if (!env) {
		return;
	}
	for (i = 0; i < env->n; i++) {
		free(env->v[i].name);
		free(env->v[i].value);
	}
	free(env->v);
	env->v = r->env;
	env->n = r->nenv;
	env->alloc = r->aenv;
	r->env = NULL;
	r->nenv = r->aenv = 0;
}

static void env_free(struct render *r)
{
	size_t i;

	for (i = 0; i < r->nenv; i++) {
		free(r->env[i].name);
		free(r->env[i].value);
	}
	free(r->env);
	r->env = NULL;
	r->nenv = r->aenv = 0;
}

int erb_render_ruby(const char *file, const char *src, size_t len, const struct erb_ctx *ctx,
		    struct sbuf *out, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct render r;
	char *ruby = NULL;
	unsigned timeout;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	if (!file) {
		file = "-";
	}
	if (!(ruby = find_ruby(ctx))) {
		err_setat(e, file, 0, 0, "ruby is not installed");
		goto out;
	}
	destination_env(ctx, &r);
	env_inherit(ctx, &r);
	timeout = ctx && ctx->cmd_timeout_ms ? ctx->cmd_timeout_ms : DEFAULT_TIMEOUT_MS;
	strvec_pushv(&c.argv, (const char *[]){ruby, "-e", ruby_script, file, NULL});
	env_export(&r, &c.env);
	c.dir = ctx && ctx->dir && *ctx->dir ? ctx->dir : NULL;
	c.in_mem = slice_make(src, len);
	c.out = RUN_IO_CAPTURE;
	/* shown as it comes (prompts, warnings), and kept for the message */
	c.err = RUN_IO_CAPTURE | RUN_IO_STREAM;
	c.timeout_ms = timeout;
	c.capture_max = ERB_MAX_OUTPUT;
	run_one(&c);
	if (!c.started) {
		struct sbuf why = SBUF_INIT;
		run_describe_status(&c, &why);
		err_setat(e, file, 0, 0, "%s %s", ruby, why.buf);
		sbuf_release(&why);
		goto out;
	}
	if (c.timed_out) {
		err_setat(e, file, 0, 0, "ruby took more than %u ms to render it", timeout);
		goto out;
	}
	if (c.truncated) {
		err_setat(e, file, 0, 0, "ruby rendered more than %u bytes", ERB_MAX_OUTPUT);
		goto out;
	}
	if (c.status != 0) {
		/* Ruby's message comes first: "config/deploy.yml:3:in `<main>': ... (KeyError)" */
		struct slice first = slice_make(c.errbuf.buf, c.errbuf.len);
		const char *nl = memchr(first.ptr, '\n', first.len);
		if (nl) {
			first.len = (size_t)(nl - first.ptr);
		}
		err_set(e, "%s: ruby could not render it: %.*s", file, (int)first.len,
			first.ptr ? first.ptr : "");
		goto out;
	}
	sbuf_add(out, c.outbuf.buf, c.outbuf.len);
	ret = 0;
out:
	free(ruby);
	env_free(&r);
	run_cmd_release(&c);
	return ret;
}

/* ------------------------------------------------------------------ entry */

/* Berth's own evaluation: parse all, then run. *unsupported tells why it failed. */
static int render_native(const char *file, const char *src, size_t len, const struct erb_ctx *ctx,
			 struct sbuf *out, struct err *e, bool *unsupported)
{
	struct segs ss = {0};
	struct parser p;
	struct render r;
	struct node *root = NULL;
	struct val v;
	int ret = -1;

	val_init(&v);
	memset(&p, 0, sizeof(p));
	memset(&r, 0, sizeof(r));
	if (split_segments(file, src, len, &ss, e) < 0) {
		goto out;
	}
	p.lx.ss = &ss;
	p.lx.line = 1;
	p.file = file;
	p.e = e;
	if (!(root = parse_template(&p))) {
		if (!err_isset(e)) {
			err_setat(e, file, 0, 0, "invalid ERB");
		}
		*unsupported = p.unsupported;
		goto out;
	}
	r.ctx = ctx;
	r.file = file;
	r.e = e;
	r.out = out;
	r.out_start = out->len;
	destination_env(ctx, &r);
	env_inherit(ctx, &r);
	ret = eval(&r, root, &v);
	if (ret < 0) {
		*unsupported = r.unsupported;
	} else {
		env_keep(ctx, &r);
	}
out:
	vars_pop(&r, 0);
	free(r.vars);
	env_free(&r);
	drop_locals(&p, 0);
	free(p.locals);
	val_release(&v);
	node_free(root);
	segs_release(&ss);
	return ret;
}

int erb_render(const char *file, const char *src, size_t len, const struct erb_ctx *ctx,
	       struct sbuf *out, struct err *e)
{
	size_t start = out->len;
	bool unsupported = false;
	char *ruby;

	if (!file) {
		file = "-";
	}
	if (len > ERB_MAX_INPUT) {
		return err_setat(e, file, 0, 0, "ERB template larger than %u bytes", ERB_MAX_INPUT);
	}
	if (!render_native(file, src, len, ctx, out, e, &unsupported)) {
		return 0;
	}
	if (!unsupported || (ctx && (ctx->no_commands || ctx->no_ruby))) {
		return -1;
	}
	sbuf_setlen(out, start);
	ruby = find_ruby(ctx);
	if (!ruby) {
		struct sbuf m = SBUF_INIT;
		sbuf_addstr(&m, err_str(e));
		err_set(e,
			"%s; this file needs Ruby: install ruby (apt-get install ruby) and berth "
			"renders it with Ruby's ERB, as Kamal does",
			m.buf);
		sbuf_release(&m);
		return -1;
	}
	free(ruby);
	err_release(e);
	err_init(e);
	return erb_render_ruby(file, src, len, ctx, out, e);
}
