#include "lib/yamldoc.h"

#include <yaml.h>

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"
#include "lib/banned.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

/*
 * File names. Nodes point at them and outlive any one load (clones, merged
 * trees), so each distinct name is kept once for the life of the process.
 */
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static char **names;
static size_t nr_names, alloc_names;

static const char *intern_file(const char *file)
{
	const char *r = NULL;
	size_t i;

	if (!file) {
		return NULL;
	}
	pthread_mutex_lock(&names_lock);
	for (i = 0; i < nr_names; i++) {
		if (!strcmp(names[i], file)) {
			r = names[i];
			goto out;
		}
	}
	XGROW(names, alloc_names, nr_names + 1);
	names[nr_names] = xstrdup(file);
	r = names[nr_names++];
out:
	pthread_mutex_unlock(&names_lock);
	return r;
}

/*
 * Numbers are read and written in the C locale whatever the process's
 * locale is: "1.5" means one and a half in every config.
 */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c_locale) {
		xdie("cannot create the C locale");
	}
}

static double strtod_c(const char *s, char **end)
{
	pthread_once(&c_locale_once, c_locale_init);
	return strtod_l(s, end, c_locale);
}

/* Nodes */

static struct yaml_node *node_new(enum yaml_kind kind, const char *file, unsigned line,
				  unsigned col)
{
	struct yaml_node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->file = file;
	n->line = line;
	n->col = col;
	return n;
}

/*
 * A scalar's str holds the text as written, a NUL, and for integers and
 * floats the canonical text (yaml_text) and another NUL.
 */
static size_t scalar_size(const struct yaml_node *n)
{
	size_t sz = n->len + 1;

	if (n->kind == YAML_INT || n->kind == YAML_FLOAT) {
		sz += strlen(n->str + n->len + 1) + 1;
	}
	return sz;
}

static void set_canonical(struct yaml_node *n, const char *text)
{
	size_t tl = strlen(text);

	n->str = xrealloc(n->str, n->len + 1 + tl + 1);
	memcpy(n->str + n->len + 1, text, tl + 1);
}

void yaml_node_free(struct yaml_node *n)
{
	size_t i;

	if (!n) {
		return;
	}
	for (i = 0; i < n->nr_items; i++) {
		yaml_node_free(n->items[i]);
	}
	free(n->items);
	for (i = 0; i < n->nr_pairs; i++) {
		yaml_node_free(n->pairs[i].key);
		yaml_node_free(n->pairs[i].value);
	}
	free(n->pairs);
	free(n->str);
	free(n);
}

struct yaml_node *yaml_clone(const struct yaml_node *n)
{
	struct yaml_node *c;
	size_t i;

	if (!n) {
		return NULL;
	}
	c = xmalloc(sizeof(*c));
	*c = *n;
	c->items = NULL;
	c->pairs = NULL;
	if (n->str) {
		size_t sz = scalar_size(n);

		c->str = xmalloc(sz);
		memcpy(c->str, n->str, sz);
	}
	if (n->nr_items) {
		c->items = xcalloc(n->nr_items, sizeof(*c->items));
		for (i = 0; i < n->nr_items; i++) {
			c->items[i] = yaml_clone(n->items[i]);
		}
	}
	if (n->nr_pairs) {
		c->pairs = xcalloc(n->nr_pairs, sizeof(*c->pairs));
		for (i = 0; i < n->nr_pairs; i++) {
			c->pairs[i].key = yaml_clone(n->pairs[i].key);
			c->pairs[i].value = yaml_clone(n->pairs[i].value);
		}
	}
	return c;
}

static size_t node_count(const struct yaml_node *n)
{
	size_t i, c = 1;

	if (!n) {
		return 0;
	}
	for (i = 0; i < n->nr_items; i++) {
		c += node_count(n->items[i]);
	}
	for (i = 0; i < n->nr_pairs; i++) {
		c += node_count(n->pairs[i].key) + node_count(n->pairs[i].value);
	}
	return c;
}

const char *yaml_kind_name(enum yaml_kind k)
{
	switch (k) {
	case YAML_NULL:
		return "null";
	case YAML_BOOL:
		return "a boolean";
	case YAML_INT:
		return "an integer";
	case YAML_FLOAT:
		return "a float";
	case YAML_STR:
		return "a string";
	case YAML_SEQ:
		return "a list";
	case YAML_MAP:
		return "a mapping";
	}
	return "an unknown value";
}

const char *yaml_text(const struct yaml_node *n)
{
	if (!n) {
		return NULL;
	}
	switch (n->kind) {
	case YAML_NULL:
		return "";
	case YAML_BOOL:
		return n->b ? "true" : "false";
	case YAML_INT:
	case YAML_FLOAT:
		return n->str + n->len + 1;
	case YAML_STR:
		return n->str;
	case YAML_SEQ:
	case YAML_MAP:
		break;
	}
	return NULL;
}

/* Key equality: the same kind and the same resolved value, as Ruby's hash keys. */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t node_hash(const struct yaml_node *n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;
	double f;

	if (!n) {
		return h;
	}
	h = hash_bytes(h, &n->kind, sizeof(n->kind));
	switch (n->kind) {
	case YAML_NULL:
		break;
	case YAML_BOOL:
		h = hash_bytes(h, &n->b, sizeof(n->b));
		break;
	case YAML_INT:
		h = hash_bytes(h, &n->i, sizeof(n->i));
		break;
	case YAML_FLOAT:
		f = n->f == 0 ? 0 : isnan(n->f) ? NAN : n->f;
		h = hash_bytes(h, &f, sizeof(f));
		break;
	case YAML_STR:
		h = hash_bytes(h, n->str, n->len);
		break;
	case YAML_SEQ:
		for (i = 0; i < n->nr_items; i++) {
			uint64_t c = node_hash(n->items[i]);

			h = hash_bytes(h, &c, sizeof(c));
		}
		break;
	case YAML_MAP:
		for (i = 0; i < n->nr_pairs; i++) {
			uint64_t c[2] = {node_hash(n->pairs[i].key), node_hash(n->pairs[i].value)};

			h = hash_bytes(h, c, sizeof(c));
		}
		break;
	}
	return h;
}

static bool node_equal(const struct yaml_node *a, const struct yaml_node *b)
{
	size_t i;

	if (!a || !b) {
		return a == b;
	}
	if (a->kind != b->kind) {
		return false;
	}
	switch (a->kind) {
	case YAML_NULL:
		return true;
	case YAML_BOOL:
		return a->b == b->b;
	case YAML_INT:
		return a->i == b->i;
	case YAML_FLOAT:
		/* .nan is one key, as Float::NAN is one object to Ruby */
		return a->f == b->f || (isnan(a->f) && isnan(b->f));
	case YAML_STR:
		return a->len == b->len && !memcmp(a->str, b->str, a->len);
	case YAML_SEQ:
		if (a->nr_items != b->nr_items) {
			return false;
		}
		for (i = 0; i < a->nr_items; i++) {
			if (!node_equal(a->items[i], b->items[i])) {
				return false;
			}
		}
		return true;
	case YAML_MAP:
		if (a->nr_pairs != b->nr_pairs) {
			return false;
		}
		for (i = 0; i < a->nr_pairs; i++) {
			if (!node_equal(a->pairs[i].key, b->pairs[i].key) ||
			    !node_equal(a->pairs[i].value, b->pairs[i].value)) {
				return false;
			}
		}
		return true;
	}
	return false;
}

/*
 * An open-addressing index of positions in some array, by hash; the caller
 * says what equal means. Keeps mappings with many keys linear to build.
 */
struct idx_slot {
	uint64_t h;
	size_t pos1; /* position + 1; 0 = empty */
};

struct idx {
	struct idx_slot *slots;
	size_t cap, nr;
};

typedef bool idx_eq_fn(const void *ctx, size_t pos, const void *key);

static size_t idx_find(const struct idx *x, uint64_t h, idx_eq_fn *eq, const void *ctx,
		       const void *key)
{
	size_t i;

	if (!x->cap) {
		return SIZE_MAX;
	}
	for (i = h & (x->cap - 1); x->slots[i].pos1; i = (i + 1) & (x->cap - 1)) {
		if (x->slots[i].h == h && eq(ctx, x->slots[i].pos1 - 1, key)) {
			return x->slots[i].pos1 - 1;
		}
	}
	return SIZE_MAX;
}

static void idx_put(struct idx_slot *slots, size_t cap, uint64_t h, size_t pos1)
{
	size_t i;

	for (i = h & (cap - 1); slots[i].pos1; i = (i + 1) & (cap - 1)) {
		;
	}
	slots[i].h = h;
	slots[i].pos1 = pos1;
}

static void idx_add(struct idx *x, uint64_t h, size_t pos)
{
	if ((x->nr + 1) * 2 > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16, i;
		struct idx_slot *slots = xcalloc(cap, sizeof(*slots));

		for (i = 0; i < x->cap; i++) {
			if (x->slots[i].pos1) {
				idx_put(slots, cap, x->slots[i].h, x->slots[i].pos1);
			}
		}
		free(x->slots);
		x->slots = slots;
		x->cap = cap;
	}
	idx_put(x->slots, x->cap, h, pos + 1);
	x->nr++;
}

static void idx_release(struct idx *x)
{
	free(x->slots);
	x->slots = NULL;
	x->cap = x->nr = 0;
}

static bool pair_key_eq(const void *ctx, size_t pos, const void *key)
{
	const struct yaml_pair *pairs = ctx;

	return node_equal(pairs[pos].key, key);
}

/* Numbers, as Psych reads them and Ruby writes them */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_word(const char *s, size_t len, const char *w)
{
	return strlen(w) == len && !strncasecmp(s, w, len);
}

/* Ruby's Float#to_s: shortest digits that read back, "1500.0", "1.0e+16". */
static void format_float(double f, char *out, size_t size)
{
	char buf[64], digits[32], back[64];
	int p, exp = 0, decpt, nd = 0, i;
	const char *s;
	struct sbuf sb = SBUF_INIT;

	if (isnan(f)) {
		snprintf(out, size, "NaN");
		return;
	}
	if (isinf(f)) {
		snprintf(out, size, "%s", f < 0 ? "-Infinity" : "Infinity");
		return;
	}
	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, fabs(f));
		nd = 0;
		for (s = buf; *s && *s != 'e'; s++) {
			if (is_digit(*s) && nd < (int)sizeof(digits) - 1) {
				digits[nd++] = *s;
			}
		}
		digits[nd] = 0;
		exp = *s == 'e' ? atoi(s + 1) : 0;
		snprintf(back, sizeof(back), "%c.%se%d", digits[0], digits + 1, exp);
		if (strtod_c(back, NULL) == fabs(f)) {
			break;
		}
	}
	while (nd > 1 && digits[nd - 1] == '0') {
		digits[--nd] = 0;
	}
	if (f == 0) {
		exp = 0;
	}
	decpt = exp + 1;
	if (signbit(f)) {
		sbuf_addch(&sb, '-');
	}
	if (decpt > 0 && decpt <= 16) {
		for (i = 0; i < decpt; i++) {
			sbuf_addch(&sb, i < nd ? digits[i] : '0');
		}
		sbuf_addch(&sb, '.');
		if (nd > decpt) {
			sbuf_addstr(&sb, digits + decpt);
		} else {
			sbuf_addch(&sb, '0');
		}
	} else if (decpt <= 0 && decpt > -4) {
		sbuf_addstr(&sb, "0.");
		for (i = 0; i < -decpt; i++) {
			sbuf_addch(&sb, '0');
		}
		sbuf_addstr(&sb, digits);
	} else {
		sbuf_addch(&sb, digits[0]);
		sbuf_addch(&sb, '.');
		sbuf_addstr(&sb, nd > 1 ? digits + 1 : "0");
		sbuf_addf(&sb, "e%+03d", decpt - 1);
	}
	snprintf(out, size, "%s", sb.buf);
	sbuf_release(&sb);
}

static void set_int(struct yaml_node *n, long long v)
{
	char buf[32];

	n->kind = YAML_INT;
	n->i = v;
	snprintf(buf, sizeof(buf), "%lld", v);
	set_canonical(n, buf);
}

static void set_float(struct yaml_node *n, double v)
{
	char buf[64];

	n->kind = YAML_FLOAT;
	n->f = v;
	format_float(v, buf, sizeof(buf));
	set_canonical(n, buf);
}

/* Accumulates digit d in base into *acc (a magnitude); false on overflow. */
static bool acc_digit(unsigned long long *acc, unsigned base, unsigned d)
{
	if (*acc > (ULLONG_MAX - d) / base) {
		return false;
	}
	*acc = *acc * base + d;
	return true;
}

/* A magnitude and a sign as a long long; false when it does not fit. */
static bool signed_value(unsigned long long mag, bool neg, long long *out)
{
	if (neg) {
		if (mag > (unsigned long long)LLONG_MAX + 1) {
			return false;
		}
		*out = mag == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)mag;
		return true;
	}
	if (mag > LLONG_MAX) {
		return false;
	}
	*out = (long long)mag;
	return true;
}

static int hex_value(char c)
{
	if (is_digit(c)) {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/*
 * Psych's integers: [-+]? then 0b[01_,]+, 0[0-7_,]+, 0x[0-9a-fA-F_,]+ (each
 * with at least one digit), or a decimal whose "_" and "," each sit before a
 * digit. Returns 1 with *out, 0 when s is not such an integer, -1 when it is
 * but does not fit.
 */
static int parse_int(const char *s, size_t len, long long *out)
{
	unsigned long long mag = 0;
	unsigned base = 10;
	bool neg = false, any = false;
	size_t i = 0;

	if (i < len && (s[i] == '-' || s[i] == '+')) {
		neg = s[i] == '-';
		i++;
	}
	if (i >= len || !is_digit(s[i])) {
		return 0;
	}
	if (s[i] == '0' && i + 1 < len) {
		if (s[i + 1] == 'b') {
			base = 2;
			i += 2;
		} else if (s[i + 1] == 'x') {
			base = 16;
			i += 2;
		} else {
			base = 8;
			i += 1;
		}
		for (; i < len; i++) {
			int d = hex_value(s[i]);

			if (s[i] == '_' || s[i] == ',') {
				continue;
			}
			if (d < 0 || (unsigned)d >= base) {
				return 0;
			}
			if (!acc_digit(&mag, base, (unsigned)d)) {
				return -1;
			}
			any = true;
		}
		if (!any) {
			return 0;
		}
	} else if (s[i] == '0') {
		i++; /* a lone 0 */
	} else {
		for (; i < len; i++) {
			if ((s[i] == '_' || s[i] == ',') && i + 1 < len && is_digit(s[i + 1])) {
				continue;
			}
			if (!is_digit(s[i])) {
				return 0;
			}
			if (!acc_digit(&mag, 10, (unsigned)(s[i] - '0'))) {
				return -1;
			}
		}
	}
	if (!signed_value(mag, neg, out)) {
		return -1;
	}
	return 1;
}

/*
 * Psych's base 60: [-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}, and with a
 * fraction \.[0-9_]* after the last part for floats. Returns the number of
 * parts (2 or 3) and sets *is_float, or 0 when s is not one.
 */
static int match_base60(const char *s, size_t len, bool *is_float)
{
	size_t i = 0;
	int parts = 1;

	if (i < len && (s[i] == '-' || s[i] == '+')) {
		i++;
	}
	if (i >= len || !is_digit(s[i])) {
		return 0;
	}
	while (i < len && (is_digit(s[i]) || s[i] == '_')) {
		i++;
	}
	while (i < len && s[i] == ':') {
		size_t start = ++i;

		while (i < len && is_digit(s[i]) && i - start < 2) {
			i++;
		}
		if (i == start || (i - start == 2 && s[start] > '5')) {
			return 0;
		}
		if (++parts > 3) {
			return 0;
		}
	}
	if (parts < 2) {
		return 0;
	}
	*is_float = false;
	if (i < len && s[i] == '.') {
		*is_float = true;
		for (i++; i < len && (is_digit(s[i]) || s[i] == '_'); i++) {
			;
		}
	}
	return i == len ? parts : 0;
}

/*
 * Ruby's String#to_f / #to_i on one part of a base 60 number: a sign, digits
 * with single "_" between them, and for to_f a fraction. Copies what Ruby
 * would read into buf (without "_").
 */
static void ruby_number_prefix(const char *s, size_t len, bool fraction, char *buf, size_t size)
{
	size_t i = 0, o = 0;

	if (i < len && (s[i] == '-' || s[i] == '+') && o + 1 < size) {
		buf[o++] = s[i++];
	}
	while (i < len && o + 1 < size) {
		if (is_digit(s[i])) {
			buf[o++] = s[i++];
		} else if (s[i] == '_' && i > 0 && is_digit(s[i - 1]) && i + 1 < len &&
			   is_digit(s[i + 1])) {
			i++;
		} else if (fraction && s[i] == '.' && i + 1 < len && is_digit(s[i + 1])) {
			buf[o++] = s[i++];
			fraction = false;
		} else {
			break;
		}
	}
	buf[o] = 0;
}

/* Returns 1 and sets n, 0 when not base 60, -1 when it does not fit in an integer. */
static int resolve_base60(struct yaml_node *n)
{
	static const long long mult[2][3] = {{3600, 60, 0}, {3600, 60, 1}};
	bool is_float;
	int parts = match_base60(n->str, n->len, &is_float), k = 0;
	const char *s = n->str, *end = n->str + n->len;
	long long isum = 0;
	double fsum = 0;

	if (!parts) {
		return 0;
	}
	while (s <= end && k < parts) {
		const char *colon = memchr(s, ':', (size_t)(end - s));
		size_t plen = colon ? (size_t)(colon - s) : (size_t)(end - s);
		long long m = mult[parts - 2][k];
		char buf[64];

		ruby_number_prefix(s, plen, is_float, buf, sizeof(buf));
		if (is_float) {
			fsum += strtod_c(buf, NULL) * (double)m;
		} else {
			unsigned long long mag = 0;
			bool neg = buf[0] == '-';
			long long v, t;
			const char *d;

			for (d = buf + (buf[0] == '-' || buf[0] == '+'); *d; d++) {
				if (!acc_digit(&mag, 10, (unsigned)(*d - '0'))) {
					return -1;
				}
			}
			if (!signed_value(mag, neg, &v) || __builtin_mul_overflow(v, m, &t) ||
			    __builtin_add_overflow(isum, t, &isum)) {
				return -1;
			}
		}
		s += plen + 1;
		k++;
	}
	if (is_float) {
		set_float(n, fsum);
	} else {
		set_int(n, isum);
	}
	return 1;
}

/*
 * Psych's floats: [-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?, then
 * Ruby's Float() of it without "_", "," and a "." before the exponent or at
 * the end. Returns 1 with *out, 0 when s is not one, -1 when Ruby's Float()
 * would refuse it (no digits at all: ".e+1").
 */
static int parse_float(const char *s, size_t len, double *out)
{
	struct sbuf sb = SBUF_INIT;
	size_t i = 0;
	bool digits = false;
	int r = 0;

	if (i < len && (s[i] == '-' || s[i] == '+')) {
		i++;
	}
	if (i < len && is_digit(s[i])) {
		while (i < len && (is_digit(s[i]) || s[i] == '_' || s[i] == ',')) {
			digits |= is_digit(s[i]);
			i++;
		}
	}
	if (i >= len || s[i] != '.') {
		return 0;
	}
	for (i++; i < len && is_digit(s[i]); i++) {
		digits = true;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t d;

		if (++i >= len || (s[i] != '-' && s[i] != '+')) {
			return 0;
		}
		for (d = ++i; i < len && is_digit(s[i]); i++) {
			;
		}
		if (i == d) {
			return 0;
		}
	}
	if (i != len) {
		return 0;
	}
	if (!digits) {
		/* "." "+." stay strings; ".e+1" is what Ruby's Float() refuses */
		r = len <= 2 ? 0 : -1;
		goto out;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '_' || s[i] == ',') {
			continue;
		}
		if (s[i] == '.' && (i + 1 == len || s[i + 1] == 'e' || s[i + 1] == 'E')) {
			continue;
		}
		sbuf_addch(&sb, s[i]);
	}
	*out = strtod_c(sb.buf, NULL);
	r = 1;
out:
	sbuf_release(&sb);
	return r;
}

/*
 * Ruby's Float() on text Psych left a string, for "!!float 1e3": a sign,
 * digits with single "_" between them, an optional fraction and exponent.
 */
static bool ruby_float(const char *s, size_t len, double *out)
{
	struct sbuf sb = SBUF_INIT;
	size_t i = 0;
	bool ok = false, mant = false;

	if (i < len && (s[i] == '-' || s[i] == '+')) {
		sbuf_addch(&sb, s[i++]);
	}
	for (; i < len; i++) {
		if (is_digit(s[i])) {
			sbuf_addch(&sb, s[i]);
			mant = true;
		} else if (s[i] == '_' && mant && i + 1 < len && is_digit(s[i + 1])) {
			continue;
		} else {
			break;
		}
	}
	if (!mant) {
		goto out;
	}
	if (i < len && s[i] == '.') {
		bool frac = false;

		sbuf_addch(&sb, s[i++]);
		for (; i < len; i++) {
			if (is_digit(s[i])) {
				sbuf_addch(&sb, s[i]);
				frac = true;
			} else if (s[i] == '_' && frac && i + 1 < len && is_digit(s[i + 1])) {
				continue;
			} else {
				break;
			}
		}
		if (!frac) {
			goto out;
		}
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		bool exp = false;

		sbuf_addch(&sb, s[i++]);
		if (i < len && (s[i] == '-' || s[i] == '+')) {
			sbuf_addch(&sb, s[i++]);
		}
		for (; i < len && is_digit(s[i]); i++) {
			sbuf_addch(&sb, s[i]);
			exp = true;
		}
		if (!exp) {
			goto out;
		}
	}
	if (i != len) {
		goto out;
	}
	*out = strtod_c(sb.buf, NULL);
	ok = true;
out:
	sbuf_release(&sb);
	return ok;
}

/*
 * Resolves a plain scalar (n->str) as Psych's ScalarScanner#tokenize does,
 * minus the types we keep as strings (dates, times, symbols). Returns 0, or
 * -1 for the text Psych itself fails on.
 */
static int resolve_plain(struct yaml_node *n)
{
	const char *s = n->str;
	size_t len = n->len;
	long long iv;
	double fv;
	int r;

	n->kind = YAML_STR;
	if (!len) {
		n->kind = YAML_NULL;
		return 0;
	}
	if (memchr(s, '\n', len) || memchr(s, '\0', len)) {
		return 0;
	}
	if (len <= 5) {
		if (is_word(s, len, "~") || is_word(s, len, "null")) {
			n->kind = YAML_NULL;
			return 0;
		}
		if (is_word(s, len, "yes") || is_word(s, len, "true") || is_word(s, len, "on")) {
			n->kind = YAML_BOOL;
			n->b = true;
			return 0;
		}
		if (is_word(s, len, "no") || is_word(s, len, "false") || is_word(s, len, "off")) {
			n->kind = YAML_BOOL;
			n->b = false;
			return 0;
		}
		if (is_word(s, len, ".inf") || is_word(s, len, "+.inf")) {
			set_float(n, INFINITY);
			return 0;
		}
		if (is_word(s, len, "-.inf")) {
			set_float(n, -INFINITY);
			return 0;
		}
		if (is_word(s, len, ".nan")) {
			set_float(n, NAN);
			return 0;
		}
	}
	r = resolve_base60(n);
	if (r) {
		if (r < 0) {
			n->kind = YAML_STR; /* too big for us; Ruby would make a Bignum */
		}
		return 0;
	}
	r = parse_float(s, len, &fv);
	if (r < 0) {
		return -1;
	}
	if (r > 0) {
		set_float(n, fv);
		return 0;
	}
	if (parse_int(s, len, &iv) > 0) {
		set_int(n, iv);
	}
	return 0;
}

/* Loading */

struct anchor {
	char *name;
	struct yaml_node *node; /* a private copy; NULL while the node is being read */
	size_t nodes, bytes;	/* what a copy of it costs */
};

struct loader {
	yaml_parser_t parser;
	const char *file;
	const char *buf;
	size_t len;
	struct err *e;
	size_t nodes, bytes; /* made so far, aliases expanded */
	struct anchor *anchors;
	size_t nr_anchors, alloc_anchors;
	struct idx anchor_idx;
};

static bool anchor_eq(const void *ctx, size_t pos, const void *key)
{
	const struct anchor *a = ctx;

	return !strcmp(a[pos].name, key);
}

static uint64_t name_hash(const char *name)
{
	return hash_bytes(0xcbf29ce484222325ULL, name, strlen(name));
}

static struct anchor *anchor_find(struct loader *L, const char *name)
{
	size_t pos = idx_find(&L->anchor_idx, name_hash(name), anchor_eq, L->anchors, name);

	return pos == SIZE_MAX ? NULL : &L->anchors[pos];
}

/* Defines (or redefines: the later one wins) an anchor; node NULL marks it open. */
static void anchor_set(struct loader *L, const char *name, struct yaml_node *node, size_t nodes,
		       size_t bytes)
{
	struct anchor *a = anchor_find(L, name);

	if (!a) {
		XGROW(L->anchors, L->alloc_anchors, L->nr_anchors + 1);
		a = &L->anchors[L->nr_anchors];
		a->name = xstrdup(name);
		a->node = NULL;
		idx_add(&L->anchor_idx, name_hash(name), L->nr_anchors++);
	}
	yaml_node_free(a->node);
	a->node = node;
	a->nodes = nodes;
	a->bytes = bytes;
}

/* What is over the limits if nodes and bytes were added: NULL if nothing. */
static const char *over_budget(const struct loader *L, size_t nodes, size_t bytes, char *buf,
			       size_t size)
{
	if (nodes > YAML_MAX_NODES - L->nodes) {
		snprintf(buf, size, "%d nodes", YAML_MAX_NODES);
		return buf;
	}
	if (bytes > YAML_MAX_TEXT - L->bytes) {
		snprintf(buf, size, "%u bytes of text", YAML_MAX_TEXT);
		return buf;
	}
	return NULL;
}

/* Counts new nodes against the limits (aliases would multiply them). */
static int count_nodes(struct loader *L, size_t nodes, size_t bytes, unsigned line, unsigned col)
{
	char buf[64];
	const char *over = over_budget(L, nodes, bytes, buf, sizeof(buf));

	if (over) {
		return err_setat(L->e, L->file, line, col,
				 "document is too big: more than %s, aliases expanded", over);
	}
	L->nodes += nodes;
	L->bytes += bytes;
	return 0;
}

static size_t node_bytes(const struct yaml_node *n)
{
	size_t i, c;

	if (!n) {
		return 0;
	}
	c = n->len;
	for (i = 0; i < n->nr_items; i++) {
		c += node_bytes(n->items[i]);
	}
	for (i = 0; i < n->nr_pairs; i++) {
		c += node_bytes(n->pairs[i].key) + node_bytes(n->pairs[i].value);
	}
	return c;
}

/* Keeps a copy of node under its anchor, for the aliases that follow. */
static int anchor_close(struct loader *L, const char *name, const struct yaml_node *node)
{
	size_t nodes = node_count(node), bytes = node_bytes(node);

	if (count_nodes(L, nodes, bytes, node->line, node->col) < 0) {
		return -1;
	}
	anchor_set(L, name, yaml_clone(node), nodes, bytes);
	return 0;
}

static void loader_release(struct loader *L)
{
	size_t i;

	for (i = 0; i < L->nr_anchors; i++) {
		free(L->anchors[i].name);
		yaml_node_free(L->anchors[i].node);
	}
	free(L->anchors);
	idx_release(&L->anchor_idx);
	yaml_parser_delete(&L->parser);
}

/* Line and column of a byte offset, for reader errors (which have no mark). */
static void offset_location(const struct loader *L, size_t off, unsigned *line, unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	if (off > L->len) {
		off = L->len;
	}
	for (i = 0; i < off; i++) {
		if (L->buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)L->buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int parser_error(struct loader *L)
{
	const yaml_parser_t *p = &L->parser;
	const char *problem = p->problem ? p->problem : "cannot parse the document";
	unsigned line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return err_setat(L->e, L->file, 0, 0, "out of memory while reading YAML");
	case YAML_READER_ERROR:
		offset_location(L, p->problem_offset, &line, &col);
		if (p->problem_value >= 0) {
			return err_setat(L->e, L->file, line, col, "%s (0x%02x)", problem,
					 (unsigned)p->problem_value);
		}
		return err_setat(L->e, L->file, line, col, "%s", problem);
	default:
		line = (unsigned)p->problem_mark.line + 1;
		col = (unsigned)p->problem_mark.column + 1;
		if (p->context) {
			return err_setat(L->e, L->file, line, col, "%s (%s at line %u, column %u)",
					 problem, p->context, (unsigned)p->context_mark.line + 1,
					 (unsigned)p->context_mark.column + 1);
		}
		return err_setat(L->e, L->file, line, col, "%s", problem);
	}
}

static int next_event(struct loader *L, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&L->parser, ev)) {
		return parser_error(L);
	}
	return 0;
}

static bool tag_is(const char *tag, const char *name)
{
	size_t pl = strlen(TAG_PREFIX);

	return tag && !strncmp(tag, TAG_PREFIX, pl) && !strcmp(tag + pl, name);
}

/* "!!int" for the standard tags, as they are usually written. */
static void tag_display(const char *tag, char *buf, size_t size)
{
	size_t pl = strlen(TAG_PREFIX);

	if (!strncmp(tag, TAG_PREFIX, pl)) {
		snprintf(buf, size, "!!%s", tag + pl);
	} else {
		snprintf(buf, size, "%s", tag);
	}
}

static int unsupported_tag(struct loader *L, const char *tag, unsigned line, unsigned col,
			   const char *what)
{
	char t[128];

	tag_display(tag, t, sizeof(t));
	return err_setat(L->e, L->file, line, col, "unsupported tag '%s' on %s", t, what);
}

static int load_node(struct loader *L, yaml_event_t *ev, unsigned depth, struct yaml_node **out);

static int load_scalar(struct loader *L, const yaml_event_t *ev, struct yaml_node **out)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *anchor = (const char *)ev->data.scalar.anchor;
	struct yaml_node *n;
	char t[128];
	enum yaml_kind want;
	int ret = -1;

	n = node_new(YAML_STR, L->file, (unsigned)ev->start_mark.line + 1,
		     (unsigned)ev->start_mark.column + 1);
	n->len = ev->data.scalar.length;
	n->str = xmalloc(n->len + 1);
	memcpy(n->str, ev->data.scalar.value, n->len);
	n->str[n->len] = 0;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
		    ev->data.scalar.style != YAML_ANY_SCALAR_STYLE;
	if (count_nodes(L, 1, n->len, n->line, n->col) < 0) {
		goto out;
	}

	if (!tag || !strcmp(tag, "!")) {
		/* Psych resolves text tagged "!" as if it were plain */
		if (n->quoted && !tag) {
			goto done;
		}
		want = YAML_STR;
	} else if (tag_is(tag, "str") || tag_is(tag, "timestamp") || tag_is(tag, "merge")) {
		goto done;
	} else if (tag_is(tag, "int")) {
		want = YAML_INT;
	} else if (tag_is(tag, "float")) {
		want = YAML_FLOAT;
	} else if (tag_is(tag, "bool")) {
		want = YAML_BOOL;
	} else if (tag_is(tag, "null")) {
		want = YAML_NULL;
	} else {
		unsupported_tag(L, tag, n->line, n->col, "a scalar");
		goto out;
	}
	if (resolve_plain(n) < 0) {
		err_setat(L->e, L->file, n->line, n->col, "invalid float '%s'", n->str);
		goto out;
	}
	if (!tag || !strcmp(tag, "!")) {
		goto done;
	}
	if (want == YAML_FLOAT && n->kind == YAML_INT) {
		set_float(n, (double)n->i);
	} else if (want == YAML_FLOAT && n->kind == YAML_STR) {
		double f;

		if (ruby_float(n->str, n->len, &f)) {
			set_float(n, f);
		}
	}
	if (n->kind != want) {
		tag_display(tag, t, sizeof(t));
		err_setat(L->e, L->file, n->line, n->col, "'%s' is not %s, as its tag '%s' says",
			  n->str, yaml_kind_name(want), t);
		goto out;
	}
done:
	if (anchor && anchor_close(L, anchor, n) < 0) {
		goto out;
	}
	*out = n;
	n = NULL;
	ret = 0;
out:
	yaml_node_free(n);
	return ret;
}

static int load_alias(struct loader *L, const yaml_event_t *ev, struct yaml_node **out)
{
	const char *name = (const char *)ev->data.alias.anchor;
	unsigned line = (unsigned)ev->start_mark.line + 1,
		 col = (unsigned)ev->start_mark.column + 1;
	struct anchor *a = anchor_find(L, name);
	const char *over;
	char buf[64];

	if (!a) {
		return err_setat(L->e, L->file, line, col,
				 "alias '*%s' has no anchor '&%s' before it", name, name);
	}
	if (!a->node) {
		return err_setat(L->e, L->file, line, col,
				 "alias '*%s' is inside the node it refers to", name);
	}
	over = over_budget(L, a->nodes, a->bytes, buf, sizeof(buf));
	if (over) {
		return err_setat(L->e, L->file, line, col,
				 "alias '*%s' would expand the document past %s", name, over);
	}
	L->nodes += a->nodes;
	L->bytes += a->bytes;
	*out = yaml_clone(a->node);
	return 0;
}

static int check_depth(struct loader *L, unsigned depth, const yaml_event_t *ev)
{
	if (depth >= YAML_MAX_DEPTH) {
		return err_setat(L->e, L->file, (unsigned)ev->start_mark.line + 1,
				 (unsigned)ev->start_mark.column + 1,
				 "lists and mappings nest too deep (limit %d)", YAML_MAX_DEPTH);
	}
	return 0;
}

static int load_seq(struct loader *L, const yaml_event_t *ev, unsigned depth,
		    struct yaml_node **out)
{
	const char *tag = (const char *)ev->data.sequence_start.tag;
	const char *anchor = (const char *)ev->data.sequence_start.anchor;
	struct yaml_node *n;
	size_t alloc = 0;
	int ret = -1;

	n = node_new(YAML_SEQ, L->file, (unsigned)ev->start_mark.line + 1,
		     (unsigned)ev->start_mark.column + 1);
	if (check_depth(L, depth, ev) < 0 || count_nodes(L, 1, n->len, n->line, n->col) < 0) {
		goto out;
	}
	if (tag && strcmp(tag, "!") && !tag_is(tag, "seq") && !tag_is(tag, "omap") &&
	    !tag_is(tag, "pairs")) {
		unsupported_tag(L, tag, n->line, n->col, "a list");
		goto out;
	}
	if (anchor) {
		anchor_set(L, anchor, NULL, 0, 0);
	}
	for (;;) {
		yaml_event_t child;

		if (next_event(L, &child) < 0) {
			goto out;
		}
		if (child.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&child);
			break;
		}
		XGROW(n->items, alloc, n->nr_items + 1);
		n->items[n->nr_items] = NULL;
		if (load_node(L, &child, depth + 1, &n->items[n->nr_items]) < 0) {
			goto out;
		}
		n->nr_items++;
	}
	if (anchor && anchor_close(L, anchor, n) < 0) {
		goto out;
	}
	*out = n;
	n = NULL;
	ret = 0;
out:
	yaml_node_free(n);
	return ret;
}

/* The raw pairs of a mapping, as written, before merge keys and duplicates. */
struct rawmap {
	struct yaml_pair *pairs;
	bool *merge;	 /* the pair is a "<<" merge key */
	bool *key_taken; /* moved into the result */
	bool *val_taken;
	size_t nr, alloc, alloc_flags[3];
};

static void rawmap_release(struct rawmap *m)
{
	size_t i;

	for (i = 0; i < m->nr; i++) {
		if (!m->key_taken[i]) {
			yaml_node_free(m->pairs[i].key);
		}
		if (!m->val_taken[i]) {
			yaml_node_free(m->pairs[i].value);
		}
	}
	free(m->pairs);
	free(m->merge);
	free(m->key_taken);
	free(m->val_taken);
}

struct mapbuild {
	struct yaml_node *map; /* the result's pairs go here */
	size_t alloc;
	struct idx out_idx; /* keys of map->pairs */
};

static void append_pair(struct mapbuild *b, struct yaml_node *key, struct yaml_node *value)
{
	struct yaml_node *m = b->map;

	XGROW(m->pairs, b->alloc, m->nr_pairs + 1);
	m->pairs[m->nr_pairs].key = key;
	m->pairs[m->nr_pairs].value = value;
	idx_add(&b->out_idx, node_hash(key), m->nr_pairs);
	m->nr_pairs++;
}

/*
 * Sets key to value as Ruby's Hash#[]= does: a key already there keeps its
 * place and takes the new value. Takes value; takes key only when it is new
 * (returns true then).
 */
static bool set_pair(struct mapbuild *b, struct yaml_node *key, struct yaml_node *value)
{
	size_t o = idx_find(&b->out_idx, node_hash(key), pair_key_eq, b->map->pairs, key);

	if (o != SIZE_MAX) {
		yaml_node_free(b->map->pairs[o].value);
		b->map->pairs[o].value = value;
		return false;
	}
	append_pair(b, key, value);
	return true;
}

/* Merges the pairs of one source mapping (moving them out of it), as Hash#merge! does. */
static void merge_source(struct mapbuild *b, struct yaml_node *src)
{
	size_t i;

	for (i = 0; i < src->nr_pairs; i++) {
		struct yaml_pair *p = &src->pairs[i];

		if (set_pair(b, p->key, p->value)) {
			p->key = NULL;
		}
		p->value = NULL;
	}
}

/*
 * Builds map's pairs from the raw ones in document order, as Psych does:
 * a key written again keeps its first place and takes the later value, and
 * "<<" merges in place with Hash#merge!, so it overrides keys written before
 * it and is overridden by keys written after it; in a list of merges the
 * earlier mappings win.
 */
static int build_map(struct loader *L, struct yaml_node *map, struct rawmap *raw)
{
	struct mapbuild b = {.map = map};
	size_t r, i;
	int ret = -1;

	for (r = 0; r < raw->nr; r++) {
		struct yaml_node *v = raw->pairs[r].value;

		if (!raw->merge[r]) {
			raw->key_taken[r] = set_pair(&b, raw->pairs[r].key, v);
			raw->val_taken[r] = true;
			continue;
		}
		if (v->kind == YAML_MAP) {
			merge_source(&b, v);
			continue;
		}
		if (v->kind != YAML_SEQ) {
			err_setat(L->e, L->file, v->line, v->col,
				  "merge key '<<' wants a mapping or a list of mappings, found %s",
				  yaml_kind_name(v->kind));
			goto out;
		}
		for (i = 0; i < v->nr_items; i++) {
			if (v->items[i]->kind != YAML_MAP) {
				err_setat(L->e, L->file, v->items[i]->line, v->items[i]->col,
					  "merge key '<<' wants a list of mappings, found %s in it",
					  yaml_kind_name(v->items[i]->kind));
				goto out;
			}
		}
		for (i = v->nr_items; i-- > 0;) {
			merge_source(&b, v->items[i]);
		}
	}
	ret = 0;
out:
	idx_release(&b.out_idx);
	return ret;
}

static bool is_merge_key(const yaml_event_t *ev)
{
	const char *tag;

	if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		return false;
	}
	tag = (const char *)ev->data.scalar.tag;
	if (tag && !tag_is(tag, "merge")) {
		return false;
	}
	return ev->data.scalar.length == 2 && !memcmp(ev->data.scalar.value, "<<", 2);
}

static void rawmap_grow(struct rawmap *m)
{
	XGROW(m->pairs, m->alloc, m->nr + 1);
	XGROW(m->merge, m->alloc_flags[0], m->nr + 1);
	XGROW(m->key_taken, m->alloc_flags[1], m->nr + 1);
	XGROW(m->val_taken, m->alloc_flags[2], m->nr + 1);
	m->pairs[m->nr].key = m->pairs[m->nr].value = NULL;
	m->merge[m->nr] = m->key_taken[m->nr] = m->val_taken[m->nr] = false;
}

static int load_map(struct loader *L, const yaml_event_t *ev, unsigned depth,
		    struct yaml_node **out)
{
	const char *tag = (const char *)ev->data.mapping_start.tag;
	const char *anchor = (const char *)ev->data.mapping_start.anchor;
	struct rawmap raw = {0};
	struct yaml_node *n;
	int ret = -1;

	n = node_new(YAML_MAP, L->file, (unsigned)ev->start_mark.line + 1,
		     (unsigned)ev->start_mark.column + 1);
	if (check_depth(L, depth, ev) < 0 || count_nodes(L, 1, n->len, n->line, n->col) < 0) {
		goto out;
	}
	if (tag && strcmp(tag, "!") && !tag_is(tag, "map") && !tag_is(tag, "set")) {
		unsupported_tag(L, tag, n->line, n->col, "a mapping");
		goto out;
	}
	if (anchor) {
		anchor_set(L, anchor, NULL, 0, 0);
	}
	for (;;) {
		yaml_event_t kev, vev;

		if (next_event(L, &kev) < 0) {
			goto out;
		}
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		rawmap_grow(&raw);
		raw.merge[raw.nr] = is_merge_key(&kev);
		/* counted now, so that a failure below frees what was read */
		raw.nr++;
		if (load_node(L, &kev, depth + 1, &raw.pairs[raw.nr - 1].key) < 0) {
			goto out;
		}
		if (next_event(L, &vev) < 0) {
			goto out;
		}
		if (load_node(L, &vev, depth + 1, &raw.pairs[raw.nr - 1].value) < 0) {
			goto out;
		}
	}
	if (build_map(L, n, &raw) < 0) {
		goto out;
	}
	if (anchor && anchor_close(L, anchor, n) < 0) {
		goto out;
	}
	*out = n;
	n = NULL;
	ret = 0;
out:
	rawmap_release(&raw);
	yaml_node_free(n);
	return ret;
}

/* Reads the node that starts with ev, and deletes ev. */
static int load_node(struct loader *L, yaml_event_t *ev, unsigned depth, struct yaml_node **out)
{
	int ret;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		ret = load_alias(L, ev, out);
		break;
	case YAML_SCALAR_EVENT:
		ret = load_scalar(L, ev, out);
		break;
	case YAML_SEQUENCE_START_EVENT:
		ret = load_seq(L, ev, depth, out);
		break;
	case YAML_MAPPING_START_EVENT:
		ret = load_map(L, ev, depth, out);
		break;
	default:
		ret = err_setat(L->e, L->file, (unsigned)ev->start_mark.line + 1,
				(unsigned)ev->start_mark.column + 1, "unexpected YAML event %d",
				(int)ev->type);
		break;
	}
	yaml_event_delete(ev);
	return ret;
}

int yaml_load(const char *file, const char *buf, size_t len, struct yaml_node **out, struct err *e)
{
	struct loader L = {0};
	struct yaml_node *root = NULL;
	yaml_event_t ev;
	int ret = -1;

	*out = NULL;
	L.file = intern_file(file);
	L.buf = buf ? buf : "";
	L.len = buf ? len : 0;
	L.e = e;
	if (L.len > YAML_MAX_SIZE) {
		return err_setat(e, L.file, 0, 0, "document is too large (%zu bytes, limit %u)",
				 L.len, YAML_MAX_SIZE);
	}
	if (!yaml_parser_initialize(&L.parser)) {
		return err_setat(e, L.file, 0, 0, "out of memory while reading YAML");
	}
	yaml_parser_set_input_string(&L.parser, (const unsigned char *)L.buf, L.len);

	if (next_event(&L, &ev) < 0) {
		goto out;
	}
	yaml_event_delete(&ev); /* the stream's start */
	if (next_event(&L, &ev) < 0) {
		goto out;
	}
	if (ev.type == YAML_STREAM_END_EVENT) {
		root = node_new(YAML_NULL, L.file, (unsigned)ev.start_mark.line + 1,
				(unsigned)ev.start_mark.column + 1);
		root->str = xstrdup("");
		yaml_event_delete(&ev);
		goto done;
	}
	yaml_event_delete(&ev); /* the document's start */
	if (next_event(&L, &ev) < 0) {
		goto out;
	}
	if (load_node(&L, &ev, 0, &root) < 0) {
		goto out;
	}
	/* the document's end; what follows it is not read */
	if (next_event(&L, &ev) < 0) {
		goto out;
	}
	yaml_event_delete(&ev);
done:
	*out = root;
	root = NULL;
	ret = 0;
out:
	yaml_node_free(root);
	loader_release(&L);
	return ret;
}

/* Lookups, merging, JSON */

struct yaml_node *yaml_get(const struct yaml_node *map, const char *key)
{
	size_t i, klen;
	int pass;

	if (!map || map->kind != YAML_MAP || !key) {
		return NULL;
	}
	klen = strlen(key);
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < map->nr_pairs; i++) {
			const struct yaml_node *k = map->pairs[i].key;

			if (!k || !k->str || (pass == 0) != (k->kind == YAML_STR)) {
				continue;
			}
			if (k->len == klen && !memcmp(k->str, key, klen)) {
				return map->pairs[i].value;
			}
		}
	}
	return NULL;
}

/* Merges over into dst, a mapping the caller owns. */
static void merge_into(struct yaml_node *dst, const struct yaml_node *over)
{
	struct idx x = {0};
	size_t i, alloc = dst->nr_pairs;

	for (i = 0; i < dst->nr_pairs; i++) {
		idx_add(&x, node_hash(dst->pairs[i].key), i);
	}
	for (i = 0; i < over->nr_pairs; i++) {
		const struct yaml_pair *op = &over->pairs[i];
		uint64_t h = node_hash(op->key);
		size_t o = idx_find(&x, h, pair_key_eq, dst->pairs, op->key);
		struct yaml_pair *dp;

		if (o == SIZE_MAX) {
			XGROW(dst->pairs, alloc, dst->nr_pairs + 1);
			dst->pairs[dst->nr_pairs].key = yaml_clone(op->key);
			dst->pairs[dst->nr_pairs].value = yaml_clone(op->value);
			idx_add(&x, h, dst->nr_pairs++);
			continue;
		}
		dp = &dst->pairs[o];
		if (dp->value && op->value && dp->value->kind == YAML_MAP &&
		    op->value->kind == YAML_MAP) {
			merge_into(dp->value, op->value);
			continue;
		}
		/* the key too, so that key and value point at the same file */
		yaml_node_free(dp->key);
		yaml_node_free(dp->value);
		dp->key = yaml_clone(op->key);
		dp->value = yaml_clone(op->value);
	}
	idx_release(&x);
}

struct yaml_node *yaml_merge(const struct yaml_node *base, const struct yaml_node *over)
{
	struct yaml_node *r;

	if (!base || !over || base->kind != YAML_MAP || over->kind != YAML_MAP) {
		return yaml_clone(over ? over : base);
	}
	r = yaml_clone(base);
	merge_into(r, over);
	return r;
}

/*
 * A list or mapping used as a key, as compact JSON-like text. Written from
 * the tree, not from yaml_to_json(), so that keys inside keys are not quoted
 * again at every level (which would double the text each time).
 */
static void render_key(struct sbuf *sb, const struct yaml_node *n)
{
	size_t i;

	if (!n) {
		sbuf_addstr(sb, "null");
		return;
	}
	switch (n->kind) {
	case YAML_NULL:
		sbuf_addstr(sb, "null");
		break;
	case YAML_STR:
		sbuf_addch(sb, '"');
		sbuf_add_json_escaped(sb, n->str, n->len);
		sbuf_addch(sb, '"');
		break;
	case YAML_BOOL:
	case YAML_INT:
	case YAML_FLOAT:
		sbuf_addstr(sb, yaml_text(n));
		break;
	case YAML_SEQ:
		sbuf_addch(sb, '[');
		for (i = 0; i < n->nr_items; i++) {
			if (i) {
				sbuf_addch(sb, ',');
			}
			render_key(sb, n->items[i]);
		}
		sbuf_addch(sb, ']');
		break;
	case YAML_MAP:
		sbuf_addch(sb, '{');
		for (i = 0; i < n->nr_pairs; i++) {
			if (i) {
				sbuf_addch(sb, ',');
			}
			render_key(sb, n->pairs[i].key);
			sbuf_addch(sb, ':');
			render_key(sb, n->pairs[i].value);
		}
		sbuf_addch(sb, '}');
		break;
	}
}

/* Sets obj[key's text] = v (taking v, even on failure). */
static int set_key(json_t *obj, const struct yaml_node *k, json_t *v)
{
	struct sbuf sb = SBUF_INIT;
	int r;

	if (k && k->kind == YAML_STR) {
		return json_object_setn_new(obj, k->str, k->len, v);
	}
	if (k && yaml_text(k)) {
		return json_object_set_new(obj, yaml_text(k), v);
	}
	render_key(&sb, k);
	r = json_object_setn_new(obj, sb.buf, sb.len, v);
	sbuf_release(&sb);
	return r;
}

json_t *yaml_to_json(const struct yaml_node *n)
{
	json_t *j = NULL, *c;
	size_t i;

	if (!n) {
		return NULL;
	}
	switch (n->kind) {
	case YAML_NULL:
		return json_null();
	case YAML_BOOL:
		return json_boolean(n->b);
	case YAML_INT:
		return json_integer(n->i);
	case YAML_FLOAT:
		if (isfinite(n->f)) {
			return json_real(n->f);
		}
		return json_string(yaml_text(n));
	case YAML_STR:
		return json_stringn(n->str, n->len);
	case YAML_SEQ:
		j = json_array();
		for (i = 0; j && i < n->nr_items; i++) {
			c = yaml_to_json(n->items[i]);
			if (!c || json_array_append_new(j, c) < 0) {
				goto fail;
			}
		}
		return j;
	case YAML_MAP:
		j = json_object();
		for (i = 0; j && i < n->nr_pairs; i++) {
			c = yaml_to_json(n->pairs[i].value);
			if (!c || set_key(j, n->pairs[i].key, c) < 0) {
				goto fail;
			}
		}
		return j;
	}
	return NULL;
fail:
	json_decref(j);
	return NULL;
}
