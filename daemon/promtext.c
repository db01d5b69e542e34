#include "daemon/promtext.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

/* A cursor over one line. */
struct cur {
	const char *s;
	size_t len, pos;
	unsigned line;
	struct err *e;
};

static int fail(struct cur *c, const char *what)
{
	return err_setat(c->e, "metrics", c->line, (unsigned)c->pos + 1, "expected %s", what);
}

static int peek(const struct cur *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static bool is_alpha_(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

static size_t skip_blanks(struct cur *c)
{
	size_t start = c->pos;

	while (is_blank(peek(c))) {
		c->pos++;
	}
	return c->pos - start;
}

/* A metric name (colons allowed) or a label name (not): a malloc'd copy, or NULL. */
static char *name(struct cur *c, bool colons)
{
	size_t start = c->pos;

	if (!(is_alpha_(peek(c)) || (colons && peek(c) == ':'))) {
		return NULL;
	}
	while (is_alpha_(peek(c)) || is_digit(peek(c)) || (colons && peek(c) == ':')) {
		c->pos++;
	}
	return xstrndup(c->s + start, c->pos - start);
}

/* A quoted label value, unescaped into sb. */
static int label_value(struct cur *c, struct sbuf *sb)
{
	if (peek(c) != '"') {
		return fail(c, "'\"' to open a label value");
	}
	c->pos++;
	for (;;) {
		int ch = peek(c);

		if (ch < 0) {
			return fail(c, "'\"' to close the label value");
		}
		if (ch == '\0') {
			return fail(c, "no NUL byte in a label value");
		}
		c->pos++;
		if (ch == '"') {
			return 0;
		}
		if (ch == '\\') {
			ch = peek(c);
			if (ch == '\\' || ch == '"') {
				sbuf_addch(sb, ch);
			} else if (ch == 'n') {
				sbuf_addch(sb, '\n');
			} else {
				return fail(c, "an escape \\\\, \\\" or \\n");
			}
			c->pos++;
			continue;
		}
		sbuf_addch(sb, ch);
	}
}

static int labels(struct cur *c, struct promtext_sample *s)
{
	struct sbuf v = SBUF_INIT;
	int r = -1;

	c->pos++; /* '{' */
	while (peek(c) != '}') {
		size_t start = c->pos;
		char *n = name(c, false);
		unsigned i;

		if (!n) {
			fail(c, "a label name or '}'");
			goto out;
		}
		for (i = 0; i < s->nlabels; i++) {
			if (!strcmp(s->labels[i].name, n)) {
				free(n);
				c->pos = start;
				fail(c, "each label once");
				goto out;
			}
		}
		if (s->nlabels == PROMTEXT_MAX_LABELS) {
			free(n);
			c->pos = start;
			fail(c, "at most 8 labels");
			goto out;
		}
		s->labels[s->nlabels++].name = n;
		if (peek(c) != '=') {
			fail(c, "'=' after the label name");
			goto out;
		}
		c->pos++;
		sbuf_reset(&v);
		if (label_value(c, &v) < 0) {
			goto out;
		}
		s->labels[s->nlabels - 1].value = xstrndup(v.buf, v.len);
		if (peek(c) == ',') {
			c->pos++;
		} else if (peek(c) != '}') {
			fail(c, "',' or '}' after a label");
			goto out;
		}
	}
	c->pos++;
	r = 0;
out:
	sbuf_release(&v);
	return r;
}

static bool word_is(const struct cur *c, const char *w)
{
	size_t n = strlen(w);

	return c->len - c->pos >= n && !memcmp(c->s + c->pos, w, n);
}

/* A sample value: decimal digits, fraction and exponent read without the locale. */
static int value(struct cur *c, double *out)
{
	double v = 0, scale = 1;
	bool neg = false, digits = false;
	int exp = 0, esign = 1, ch;

	if (word_is(c, "+Inf") || word_is(c, "-Inf")) {
		*out = c->s[c->pos] == '-' ? -INFINITY : INFINITY;
		c->pos += 4;
		return 0;
	}
	if (word_is(c, "NaN")) {
		*out = NAN;
		c->pos += 3;
		return 0;
	}
	if (peek(c) == '-' || peek(c) == '+') {
		neg = peek(c) == '-';
		c->pos++;
	}
	while (is_digit(ch = peek(c))) {
		v = v * 10 + (ch - '0');
		digits = true;
		c->pos++;
	}
	if (peek(c) == '.') {
		c->pos++;
		while (is_digit(ch = peek(c))) {
			scale /= 10;
			v += (ch - '0') * scale;
			digits = true;
			c->pos++;
		}
	}
	if (!digits) {
		return fail(c, "a number, +Inf, -Inf or NaN");
	}
	if (peek(c) == 'e' || peek(c) == 'E') {
		c->pos++;
		if (peek(c) == '-' || peek(c) == '+') {
			esign = peek(c) == '-' ? -1 : 1;
			c->pos++;
		}
		if (!is_digit(peek(c))) {
			return fail(c, "digits of an exponent");
		}
		while (is_digit(ch = peek(c))) {
			if (exp < 1000) {
				exp = exp * 10 + (ch - '0');
			}
			c->pos++;
		}
		v *= pow(10, esign * exp);
	}
	*out = neg ? -v : v;
	return 0;
}

static void sample_release(struct promtext_sample *s)
{
	unsigned i;

	for (i = 0; i < s->nlabels; i++) {
		free(s->labels[i].name);
		free(s->labels[i].value);
	}
	free(s->name);
	memset(s, 0, sizeof(*s));
}

static int sample_line(struct cur *c, struct promtext_sample *s)
{
	if (!(s->name = name(c, true))) {
		return fail(c, "a metric name, a comment or an empty line");
	}
	if (peek(c) == '{' && labels(c, s) < 0) {
		return -1;
	}
	if (!skip_blanks(c)) {
		return fail(c, "a blank before the value");
	}
	if (value(c, &s->value) < 0) {
		return -1;
	}
	if (c->pos == c->len) {
		return 0;
	}
	if (!skip_blanks(c)) {
		return fail(c, "a blank after the value");
	}
	if (peek(c) == '-') {
		c->pos++;
	}
	if (!is_digit(peek(c))) {
		return fail(c, "a timestamp or the end of the line");
	}
	while (is_digit(peek(c))) {
		c->pos++;
	}
	skip_blanks(c);
	if (c->pos != c->len) {
		return fail(c, "the end of the line");
	}
	return 0;
}

void promtext_init(struct promtext *p)
{
	memset(p, 0, sizeof(*p));
}

void promtext_release(struct promtext *p)
{
	size_t i;

	for (i = 0; i < p->nr; i++) {
		sample_release(&p->samples[i]);
	}
	free(p->samples);
	promtext_init(p);
}

int promtext_parse(struct promtext *p, const char *text, size_t len, struct err *e)
{
	struct cur c = {.e = e};
	size_t off = 0;

	if (len > PROMTEXT_MAX_BYTES) {
		return err_set(e, "metrics: expected at most %u bytes, got %zu", PROMTEXT_MAX_BYTES,
			       len);
	}
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - text) : len;
		struct promtext_sample s;

		c.s = text + off;
		c.len = end - off;
		c.pos = 0;
		c.line++;
		off = nl ? end + 1 : len;
		if (c.len > PROMTEXT_MAX_LINE) {
			err_setat(e, "metrics", c.line, 1, "expected lines of at most %u bytes",
				  PROMTEXT_MAX_LINE);
			goto fail;
		}
		if (memchr(c.s, '\r', c.len)) {
			c.pos = (size_t)((const char *)memchr(c.s, '\r', c.len) - c.s);
			fail(&c, "lines ending in '\\n' alone");
			goto fail;
		}
		if (!c.len || c.s[0] == '#') {
			continue;
		}
		if (p->nr == PROMTEXT_MAX_SAMPLES) {
			err_setat(e, "metrics", c.line, 1, "expected at most %u samples",
				  PROMTEXT_MAX_SAMPLES);
			goto fail;
		}
		memset(&s, 0, sizeof(s));
		if (sample_line(&c, &s) < 0) {
			sample_release(&s);
			goto fail;
		}
		XGROW(p->samples, p->alloc, p->nr + 1);
		p->samples[p->nr++] = s;
	}
	return 0;
fail:
	promtext_release(p);
	return -1;
}

const char *promtext_label(const struct promtext_sample *s, const char *n)
{
	unsigned i;

	for (i = 0; i < s->nlabels; i++) {
		if (!strcmp(s->labels[i].name, n)) {
			return s->labels[i].value;
		}
	}
	return NULL;
}
