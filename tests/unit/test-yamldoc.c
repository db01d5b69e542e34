#include "lib/yamldoc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sbuf.h"
#include "unit.h"

static struct yaml_node *load(const char *text)
{
	struct err e = ERR_INIT;
	struct yaml_node *n = NULL;

	if (yaml_load("t.yml", text, strlen(text), &n, &e) < 0) {
		printf("#   unexpected error: %s\n", err_str(&e));
		n = NULL;
	}
	err_release(&e);
	return n;
}

/* The error for text, or "" when it loaded; in a static buffer. */
static const char *load_error(const char *text, size_t len)
{
	static char buf[512];
	struct err e = ERR_INIT;
	struct yaml_node *n = NULL;

	buf[0] = 0;
	if (yaml_load("t.yml", text, len, &n, &e) < 0) {
		snprintf(buf, sizeof(buf), "%s", err_str(&e));
		if (n) {
			snprintf(buf, sizeof(buf), "error but a tree too");
		}
	}
	yaml_node_free(n);
	err_release(&e);
	return buf;
}

/* The scalar that "k: TEXT" gives, in a tree the caller frees. */
static struct yaml_node *value_of(const char *text, struct yaml_node **root)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addf(&sb, "k: %s\n", text);
	*root = load(sb.buf);
	sbuf_release(&sb);
	return yaml_get(*root, "k");
}

/*
 * Plain scalars as Psych 4 (YAML 1.1) resolves them; the text is what Ruby's
 * to_s gives. Checked against Ruby 3.1's Psych.
 */
static const struct {
	const char *in;
	enum yaml_kind kind;
	const char *text;
} plain[] = {
    {"~", YAML_NULL, ""},
    {"null", YAML_NULL, ""},
    {"Null", YAML_NULL, ""},
    {"NULL", YAML_NULL, ""},
    {"nUll", YAML_NULL, ""},
    {"yes", YAML_BOOL, "true"},
    {"Yes", YAML_BOOL, "true"},
    {"YES", YAML_BOOL, "true"},
    {"true", YAML_BOOL, "true"},
    {"True", YAML_BOOL, "true"},
    {"on", YAML_BOOL, "true"},
    {"On", YAML_BOOL, "true"},
    {"no", YAML_BOOL, "false"},
    {"No", YAML_BOOL, "false"},
    {"false", YAML_BOOL, "false"},
    {"FALSE", YAML_BOOL, "false"},
    {"off", YAML_BOOL, "false"},
    {"OFF", YAML_BOOL, "false"},
    {"y", YAML_STR, "y"},
    {"n", YAML_STR, "n"},
    {"Y", YAML_STR, "Y"},
    {"yess", YAML_STR, "yess"},
    {"nil", YAML_STR, "nil"},
    {"0", YAML_INT, "0"},
    {"-0", YAML_INT, "0"},
    {"00", YAML_INT, "0"},
    {"42", YAML_INT, "42"},
    {"+12", YAML_INT, "12"},
    {"-12", YAML_INT, "-12"},
    {"1_000", YAML_INT, "1000"},
    {"40_000_000", YAML_INT, "40000000"},
    {"1,000", YAML_INT, "1000"},
    {"1__000", YAML_STR, "1__000"},
    {"1_000_", YAML_STR, "1_000_"},
    {"0755", YAML_INT, "493"},
    {"0_7", YAML_INT, "7"},
    {"09", YAML_STR, "09"},
    {"0o755", YAML_STR, "0o755"},
    {"0x1F", YAML_INT, "31"},
    {"-0x1F", YAML_INT, "-31"},
    {"0xF_F", YAML_INT, "255"},
    {"0X1F", YAML_STR, "0X1F"},
    {"0b101", YAML_INT, "5"},
    {"-0b11", YAML_INT, "-3"},
    {"9223372036854775807", YAML_INT, "9223372036854775807"},
    {"-9223372036854775808", YAML_INT, "-9223372036854775808"},
    {"9223372036854775808", YAML_STR, "9223372036854775808"},
    {"1:30", YAML_INT, "5400"},
    {"-1:30", YAML_INT, "-1800"},
    {"1:30:15", YAML_INT, "5415"},
    {"1:30.5", YAML_FLOAT, "5430.0"},
    {"80:80", YAML_STR, "80:80"},
    {"1.5", YAML_FLOAT, "1.5"},
    {"1.0", YAML_FLOAT, "1.0"},
    {".5", YAML_FLOAT, "0.5"},
    {"-.5", YAML_FLOAT, "-0.5"},
    {"5.", YAML_FLOAT, "5.0"},
    {"1_000.5", YAML_FLOAT, "1000.5"},
    {"1.5e+3", YAML_FLOAT, "1500.0"},
    {"1.5E-3", YAML_FLOAT, "0.0015"},
    {"1.5e3", YAML_STR, "1.5e3"},
    {"1e3", YAML_STR, "1e3"},
    {"1e+3", YAML_STR, "1e+3"},
    {"12.5_5", YAML_STR, "12.5_5"},
    {"1.0e+16", YAML_FLOAT, "1.0e+16"},
    {"0.0001", YAML_FLOAT, "0.0001"},
    {"0.00001", YAML_FLOAT, "1.0e-05"},
    {"-0.0", YAML_FLOAT, "-0.0"},
    {".inf", YAML_FLOAT, "Infinity"},
    {".Inf", YAML_FLOAT, "Infinity"},
    {"+.inf", YAML_FLOAT, "Infinity"},
    {"-.inf", YAML_FLOAT, "-Infinity"},
    {".nan", YAML_FLOAT, "NaN"},
    {".NaN", YAML_FLOAT, "NaN"},
    {"inf", YAML_STR, "inf"},
    {".", YAML_STR, "."},
    {"+.", YAML_STR, "+."},
    {"2024-01-01", YAML_STR, "2024-01-01"},
    {"2001-12-14t21:59:43.10-05:00", YAML_STR, "2001-12-14t21:59:43.10-05:00"},
    {":sym", YAML_STR, ":sym"},
    {"123abc", YAML_STR, "123abc"},
    {"hello world", YAML_STR, "hello world"},
};

static void test_plain_scalars(void)
{
	size_t i;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		struct yaml_node *root, *v = value_of(plain[i].in, &root);

		if (!v) {
			printf("#   no value for '%s'\n", plain[i].in);
			unit_failures_in_test++;
			yaml_node_free(root);
			continue;
		}
		if (v->kind != plain[i].kind) {
			printf("#   '%s': got %s, want %s\n", plain[i].in, yaml_kind_name(v->kind),
			       yaml_kind_name(plain[i].kind));
			unit_failures_in_test++;
		}
		CHECK_STR(yaml_text(v), plain[i].text);
		CHECK_STR(v->str, plain[i].in);
		CHECK(!v->quoted);
		yaml_node_free(root);
	}
}

static void test_resolved_values(void)
{
	struct yaml_node *root, *v;

	v = value_of("0x1F", &root);
	CHECK_INT(v->i, 31);
	yaml_node_free(root);
	v = value_of("1.5e+3", &root);
	CHECK(v->f == 1500.0);
	yaml_node_free(root);
	v = value_of("-.inf", &root);
	CHECK(isinf(v->f) && v->f < 0);
	yaml_node_free(root);
	v = value_of(".nan", &root);
	CHECK(isnan(v->f));
	yaml_node_free(root);
	v = value_of("Off", &root);
	CHECK(v->kind == YAML_BOOL && !v->b);
	yaml_node_free(root);
	v = value_of("", &root);
	CHECK(v->kind == YAML_NULL);
	CHECK_STR(v->str, "");
	yaml_node_free(root);
	/* Ruby's Float() refuses what is left of ".e+1", so Psych fails on it */
	CHECK_STR(load_error("k: .e+1\n", 8), "t.yml:1:4: invalid float '.e+1'");
}

static void test_quoted_and_block_scalars(void)
{
	struct yaml_node *n = load("a: \"yes\"\n"
				   "b: '123'\n"
				   "c: \"~\"\n"
				   "d: \"tab\\there\\u00e9\"\n"
				   "e: 'it''s'\n"
				   "lit: |\n"
				   "  one\n"
				   "  two\n"
				   "\n"
				   "strip: |-\n"
				   "  one\n"
				   "\n"
				   "keep: |+\n"
				   "  one\n"
				   "\n"
				   "fold: >\n"
				   "  one\n"
				   "  two\n"
				   "\n"
				   "  three\n"
				   "num: |\n"
				   "  42\n"
				   "ind: |2\n"
				   "   x\n"
				   "last: end\n");

	CHECK(n && n->kind == YAML_MAP);
	if (!n) {
		return;
	}
	CHECK(yaml_get(n, "a")->kind == YAML_STR);
	CHECK_STR(yaml_get(n, "a")->str, "yes");
	CHECK(yaml_get(n, "a")->quoted);
	CHECK(yaml_get(n, "b")->kind == YAML_STR);
	CHECK_STR(yaml_text(yaml_get(n, "b")), "123");
	CHECK(yaml_get(n, "c")->kind == YAML_STR);
	CHECK_STR(yaml_get(n, "d")->str, "tab\there\xc3\xa9");
	CHECK_STR(yaml_get(n, "e")->str, "it's");
	CHECK_STR(yaml_get(n, "lit")->str, "one\ntwo\n");
	CHECK(yaml_get(n, "lit")->quoted);
	CHECK_STR(yaml_get(n, "strip")->str, "one");
	CHECK_STR(yaml_get(n, "keep")->str, "one\n\n");
	CHECK_STR(yaml_get(n, "fold")->str, "one two\nthree\n");
	CHECK(yaml_get(n, "num")->kind == YAML_STR);
	CHECK_STR(yaml_get(n, "num")->str, "42\n");
	CHECK_STR(yaml_get(n, "ind")->str, " x\n");
	CHECK_STR(yaml_get(n, "last")->str, "end");
	yaml_node_free(n);
}

static void test_nul_escape(void)
{
	struct yaml_node *n = load("a: \"x\\0y\"\n");

	CHECK(n != NULL);
	if (n) {
		CHECK_INT(yaml_get(n, "a")->len, 3);
		CHECK_INT(memcmp(yaml_get(n, "a")->str, "x\0y", 4), 0);
	}
	yaml_node_free(n);
}

static void test_flow_collections(void)
{
	struct yaml_node *n = load("{hosts: [a, 'b', 3], opts: {x: yes, y: [], z: {}}, e: }");
	struct yaml_node *h, *o;

	CHECK(n && n->kind == YAML_MAP);
	if (!n) {
		return;
	}
	h = yaml_get(n, "hosts");
	CHECK(h && h->kind == YAML_SEQ);
	CHECK_INT(h->nr_items, 3);
	CHECK_STR(h->items[1]->str, "b");
	CHECK(h->items[2]->kind == YAML_INT);
	o = yaml_get(n, "opts");
	CHECK(yaml_get(o, "x")->kind == YAML_BOOL);
	CHECK(yaml_get(o, "y")->kind == YAML_SEQ && yaml_get(o, "y")->nr_items == 0);
	CHECK(yaml_get(o, "z")->kind == YAML_MAP && yaml_get(o, "z")->nr_pairs == 0);
	CHECK(yaml_get(n, "e")->kind == YAML_NULL);
	yaml_node_free(n);
}

static void test_tags(void)
{
	struct yaml_node *n = load("s: !!str 123\n"
				   "i: !!int \"12\"\n"
				   "f: !!float 1\n"
				   "g: !!float 1e3\n"
				   "b: !!bool yes\n"
				   "z: !!null ''\n"
				   "p: ! 123\n"
				   "l: !!seq [1]\n"
				   "m: !!map {a: 1}\n"
				   "t: !!timestamp 2024-01-01\n"
				   "v: !<tag:yaml.org,2002:str> 7\n");

	CHECK(n != NULL);
	if (!n) {
		return;
	}
	CHECK(yaml_get(n, "s")->kind == YAML_STR);
	CHECK_STR(yaml_get(n, "s")->str, "123");
	CHECK(yaml_get(n, "i")->kind == YAML_INT && yaml_get(n, "i")->i == 12);
	CHECK(yaml_get(n, "f")->kind == YAML_FLOAT && yaml_get(n, "f")->f == 1.0);
	CHECK_STR(yaml_text(yaml_get(n, "f")), "1.0");
	CHECK(yaml_get(n, "g")->kind == YAML_FLOAT && yaml_get(n, "g")->f == 1000.0);
	CHECK(yaml_get(n, "b")->kind == YAML_BOOL && yaml_get(n, "b")->b);
	CHECK(yaml_get(n, "z")->kind == YAML_NULL);
	CHECK(yaml_get(n, "p")->kind == YAML_INT);
	CHECK(yaml_get(n, "l")->kind == YAML_SEQ);
	CHECK(yaml_get(n, "m")->kind == YAML_MAP);
	CHECK(yaml_get(n, "t")->kind == YAML_STR);
	CHECK(yaml_get(n, "v")->kind == YAML_STR);
	yaml_node_free(n);

	CHECK_STR(load_error("a: !!int abc\n", 13),
		  "t.yml:1:4: 'abc' is not an integer, as its tag '!!int' says");
	CHECK_STR(load_error("a: !!bool 1\n", 12),
		  "t.yml:1:4: '1' is not a boolean, as its tag '!!bool' says");
	CHECK_STR(load_error("a: !!float x\n", 13),
		  "t.yml:1:4: 'x' is not a float, as its tag '!!float' says");
	CHECK_STR(load_error("a: !secret x\n", 13),
		  "t.yml:1:4: unsupported tag '!secret' on a scalar");
	CHECK_STR(load_error("a: !!str {b: 1}\n", 16),
		  "t.yml:1:4: unsupported tag '!!str' on a mapping");
	CHECK_STR(load_error("a: !!map [1]\n", 13), "t.yml:1:4: unsupported tag '!!map' on a list");
}

static void test_anchors_and_aliases(void)
{
	struct yaml_node *n = load("base: &b\n"
				   "  image: app\n"
				   "  ports: [80, 443]\n"
				   "name: &n web\n"
				   "copy: *b\n"
				   "who: *n\n"
				   "list: [*n, *n]\n"
				   "n2: &n other\n"
				   "again: *n\n");
	struct yaml_node *c;

	CHECK(n != NULL);
	if (!n) {
		return;
	}
	c = yaml_get(n, "copy");
	CHECK(c && c->kind == YAML_MAP);
	CHECK_STR(yaml_get(c, "image")->str, "app");
	CHECK_INT(yaml_get(c, "ports")->items[1]->i, 443);
	/* a copy, not the same nodes */
	CHECK(c != yaml_get(n, "base"));
	CHECK(yaml_get(c, "image") != yaml_get(yaml_get(n, "base"), "image"));
	/* the copy keeps where it was written: the anchor */
	CHECK_INT(yaml_get(c, "image")->line, 2);
	CHECK_INT(yaml_get(c, "image")->col, 10);
	CHECK_STR(yaml_get(n, "who")->str, "web");
	CHECK_INT(yaml_get(n, "list")->nr_items, 2);
	/* a redefined anchor: the later one wins */
	CHECK_STR(yaml_get(n, "again")->str, "other");
	yaml_node_free(n);

	/* an anchor whose node is later dropped as a duplicate still works */
	n = load("a: &x 1\na: 2\nb: *x\n");
	CHECK(n && yaml_get(n, "a")->i == 2 && yaml_get(n, "b")->i == 1);
	yaml_node_free(n);

	CHECK_STR(load_error("a: *nope\n", 9),
		  "t.yml:1:4: alias '*nope' has no anchor '&nope' before it");
	CHECK_STR(load_error("a: &r [1, *r]\n", 14),
		  "t.yml:1:11: alias '*r' is inside the node it refers to");
}

static void test_merge_keys(void)
{
	struct yaml_node *n = load("defaults: &defaults\n"
				   "  image: app\n"
				   "  hosts: [a, b]\n"
				   "  env: {A: 1}\n"
				   "other: &other\n"
				   "  image: other\n"
				   "  extra: yes\n"
				   "  hosts: [c]\n"
				   "one:\n"
				   "  <<: *defaults\n"
				   "  image: mine\n"
				   "before:\n"
				   "  image: mine\n"
				   "  <<: *defaults\n"
				   "many:\n"
				   "  <<: [*other, *defaults]\n"
				   "  env: {B: 2}\n"
				   "inline:\n"
				   "  <<: {x: 1, y: 2}\n"
				   "  y: 3\n"
				   "quoted:\n"
				   "  \"<<\": *defaults\n"
				   "tagged:\n"
				   "  !!merge <<: *defaults\n");
	struct yaml_node *m;

	CHECK(n != NULL);
	if (!n) {
		return;
	}
	m = yaml_get(n, "one");
	CHECK_INT(m->nr_pairs, 3);
	CHECK_STR(yaml_get(m, "image")->str, "mine");
	CHECK_INT(yaml_get(m, "hosts")->nr_items, 2);
	CHECK_STR(m->pairs[0].key->str, "image");
	CHECK(yaml_get(m, "<<") == NULL);

	/* as in Psych (Hash#merge!), a "<<" written after a key overrides it */
	m = yaml_get(n, "before");
	CHECK_STR(yaml_get(m, "image")->str, "app");
	CHECK_INT(m->nr_pairs, 3);

	/* in a list of merges, the earlier mapping wins */
	m = yaml_get(n, "many");
	CHECK_STR(yaml_get(m, "image")->str, "other");
	CHECK_INT(yaml_get(m, "hosts")->nr_items, 1);
	CHECK(yaml_get(m, "extra")->b);
	CHECK(yaml_get(yaml_get(m, "env"), "A") == NULL);
	CHECK_INT(yaml_get(yaml_get(m, "env"), "B")->i, 2);
	CHECK_INT(m->nr_pairs, 4);
	/* as in Psych's order: the last mapping's keys first */
	CHECK_STR(m->pairs[0].key->str, "image");
	CHECK_STR(m->pairs[1].key->str, "hosts");
	CHECK_STR(m->pairs[2].key->str, "env");
	CHECK_STR(m->pairs[3].key->str, "extra");

	m = yaml_get(n, "inline");
	CHECK_INT(yaml_get(m, "x")->i, 1);
	CHECK_INT(yaml_get(m, "y")->i, 3);

	/* a quoted "<<" is an ordinary key */
	m = yaml_get(n, "quoted");
	CHECK_INT(m->nr_pairs, 1);
	CHECK(yaml_get(m, "<<") && yaml_get(m, "<<")->kind == YAML_MAP);
	m = yaml_get(n, "tagged");
	CHECK_STR(yaml_get(m, "image")->str, "app");
	yaml_node_free(n);

	CHECK_STR(
	    load_error("a: &s x\nb:\n  <<: *s\n", 20),
	    "t.yml:1:4: merge key '<<' wants a mapping or a list of mappings, found a string");
	CHECK_STR(load_error("b:\n  <<: [{a: 1}, 2]\n", 21),
		  "t.yml:2:16: merge key '<<' wants a list of mappings, found an integer in it");
}

static void test_duplicate_keys(void)
{
	struct yaml_node *n = load("a: 1\nb: 2\na: 3\n1: int\n0x1: hex\n\"1\": str\n");

	CHECK(n != NULL);
	if (!n) {
		return;
	}
	CHECK_INT(n->nr_pairs, 4);
	CHECK_STR(n->pairs[0].key->str, "a");
	CHECK_INT(yaml_get(n, "a")->i, 3);
	/* 1 and 0x1 are one key; "1" is another */
	CHECK_STR(n->pairs[2].value->str, "hex");
	CHECK_STR(yaml_get(n, "1")->str, "str");
	/* the key keeps its first spelling, as a Ruby hash does */
	CHECK_STR(n->pairs[2].key->str, "1");
	CHECK(yaml_get(n, "0x1") == NULL);
	yaml_node_free(n);

	/* .nan is one key too (NaN is not equal to itself in C) */
	n = load(".nan: 1\n.NaN: 2\nx: {.nan: a, <<: {.nan: b}}\n");
	CHECK(n && n->nr_pairs == 2);
	if (n) {
		CHECK_INT(n->pairs[0].value->i, 2);
		CHECK_STR(yaml_get(n, "x")->pairs[0].value->str, "b");
	}
	yaml_node_free(n);
}

static void test_locations(void)
{
	struct yaml_node *n = load("# comment\n"
				   "servers:\n"
				   "  web:\n"
				   "    hosts:\n"
				   "      - 10.0.0.1\n"
				   "      - \"10.0.0.2\"\n"
				   "  \xc3\xa9t\xc3\xa9: {x: [1, 2]}\n");
	struct yaml_node *h;

	CHECK(n != NULL);
	if (!n) {
		return;
	}
	CHECK_STR(n->file, "t.yml");
	CHECK_INT(n->line, 2);
	CHECK_INT(n->col, 1);
	CHECK_INT(n->pairs[0].key->line, 2);
	h = yaml_get(yaml_get(yaml_get(n, "servers"), "web"), "hosts");
	CHECK_INT(h->line, 5);
	CHECK_INT(h->col, 7);
	CHECK_INT(h->items[1]->line, 6);
	CHECK_INT(h->items[1]->col, 9);
	/* columns count characters, not bytes */
	h = yaml_get(yaml_get(yaml_get(n, "servers"), "\xc3\xa9t\xc3\xa9"), "x");
	CHECK_INT(h->items[1]->line, 7);
	CHECK_INT(h->items[1]->col, 16);
	yaml_node_free(n);
}

static void test_file_name_outlives_caller(void)
{
	char *name = strdup("config/deploy.yml");
	struct err e = ERR_INIT;
	struct yaml_node *n = NULL, *m = NULL;

	CHECK_INT(yaml_load(name, "a: 1\n", 5, &n, &e), 0);
	CHECK_INT(yaml_load(name, "b: 1\n", 5, &m, &e), 0);
	free(name);
	CHECK_STR(n->file, "config/deploy.yml");
	CHECK_STR(n->pairs[0].value->file, "config/deploy.yml");
	/* kept once */
	CHECK(n->file == m->file);
	yaml_node_free(n);
	yaml_node_free(m);
	CHECK_INT(yaml_load(NULL, "a: 1\n", 5, &n, &e), 0);
	CHECK(n->file == NULL);
	yaml_node_free(n);
	err_release(&e);
}

static void test_errors(void)
{
	CHECK_STR(load_error("a: b: c\n", 8),
		  "t.yml:1:5: mapping values are not allowed in this context");
	CHECK_STR(load_error("a:\n  b: 1\n c: 2\n", 16),
		  "t.yml:3:2: did not find expected key (while parsing a block mapping at line 1, "
		  "column 1)");
	CHECK_STR(
	    load_error("a: [1, 2\nb: 3\n", 14),
	    "t.yml:2:2: did not find expected ',' or ']' (while parsing a flow sequence at line "
	    "1, column 4)");
	CHECK_STR(
	    load_error("a: \"abc\n", 8),
	    "t.yml:2:1: found unexpected end of stream (while scanning a quoted scalar at line "
	    "1, column 4)");
	CHECK_STR(load_error("a: 1\nb: \x80\n", 9),
		  "t.yml:2:4: invalid leading UTF-8 octet (0x80)");
	CHECK_STR(load_error("a: 1\n\tb: 2\n", 11),
		  "t.yml:2:1: found a tab character that violates indentation (while scanning a "
		  "plain scalar at line 1, column 4)");
}

static void test_limits(void)
{
	struct sbuf sb = SBUF_INIT;
	char *big;
	int i;

	/* the billion laughs: every level multiplies by ten */
	sbuf_addstr(&sb, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < 9; i++) {
		int j;

		sbuf_addf(&sb, "%c: &%c [", 'a' + i, 'a' + i);
		for (j = 0; j < 10; j++) {
			sbuf_addf(&sb, "%s*%c", j ? ", " : "", 'a' + i - 1);
		}
		sbuf_addstr(&sb, "]\n");
	}
	CHECK_STR(load_error(sb.buf, sb.len),
		  "t.yml:5:32: alias '*d' would expand the document past 100000 nodes");

	sbuf_reset(&sb);
	for (i = 0; i < YAML_MAX_DEPTH + 1; i++) {
		sbuf_addch(&sb, '[');
	}
	CHECK_STR(load_error(sb.buf, sb.len),
		  "t.yml:1:257: lists and mappings nest too deep (limit 256)");

	sbuf_reset(&sb);
	sbuf_addch(&sb, '[');
	for (i = 0; i < YAML_MAX_NODES; i++) {
		sbuf_addstr(&sb, "1,");
	}
	sbuf_addch(&sb, ']');
	CHECK(strstr(load_error(sb.buf, sb.len),
		     "document is too big: more than 100000 nodes, aliases expanded"));

	/* few nodes, but a lot of text once expanded */
	sbuf_reset(&sb);
	sbuf_addstr(&sb, "a: &a \"");
	for (i = 0; i < 4096; i++) {
		sbuf_addch(&sb, 'x');
	}
	sbuf_addstr(&sb, "\"\nb: [");
	for (i = 0; i < 10000; i++) {
		sbuf_addstr(&sb, "*a,");
	}
	sbuf_addstr(&sb, "]\n");
	CHECK_STR(
	    load_error(sb.buf, sb.len),
	    "t.yml:2:24572: alias '*a' would expand the document past 33554432 bytes of text");
	sbuf_release(&sb);

	big = malloc((size_t)YAML_MAX_SIZE + 1);
	memset(big, 'a', (size_t)YAML_MAX_SIZE + 1);
	CHECK_STR(load_error(big, (size_t)YAML_MAX_SIZE + 1),
		  "t.yml: document is too large (8388609 bytes, limit 8388608)");
	free(big);
}

static void test_documents(void)
{
	struct yaml_node *n = load("");

	CHECK(n && n->kind == YAML_NULL);
	CHECK_STR(yaml_text(n), "");
	yaml_node_free(n);
	n = load("# only a comment\n");
	CHECK(n && n->kind == YAML_NULL);
	yaml_node_free(n);
	n = load("---\n...\n");
	CHECK(n && n->kind == YAML_NULL);
	yaml_node_free(n);
	/* only the first document is read, what follows is not even parsed */
	n = load("a: 1\n---\nb: [\n");
	CHECK(n && n->kind == YAML_MAP && n->nr_pairs == 1);
	yaml_node_free(n);
	n = load("- 1\n- two\n");
	CHECK(n && n->kind == YAML_SEQ && n->nr_items == 2);
	yaml_node_free(n);
}

static void test_get_text_kind(void)
{
	struct yaml_node *n = load("a: 1\n1: one\nl: [x]\n");

	CHECK(yaml_get(n, "missing") == NULL);
	CHECK(yaml_get(yaml_get(n, "l"), "x") == NULL);
	CHECK(yaml_get(NULL, "a") == NULL);
	CHECK(yaml_get(n, NULL) == NULL);
	CHECK_STR(yaml_get(n, "1")->str, "one");
	CHECK(yaml_text(yaml_get(n, "l")) == NULL);
	CHECK(yaml_text(n) == NULL);
	CHECK(yaml_text(NULL) == NULL);
	CHECK_STR(yaml_kind_name(YAML_NULL), "null");
	CHECK_STR(yaml_kind_name(YAML_BOOL), "a boolean");
	CHECK_STR(yaml_kind_name(YAML_INT), "an integer");
	CHECK_STR(yaml_kind_name(YAML_FLOAT), "a float");
	CHECK_STR(yaml_kind_name(YAML_STR), "a string");
	CHECK_STR(yaml_kind_name(YAML_SEQ), "a list");
	CHECK_STR(yaml_kind_name(YAML_MAP), "a mapping");
	yaml_node_free(n);
}

static char *json_of(const struct yaml_node *n)
{
	json_t *j = yaml_to_json(n);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(j);
	return s;
}

static void test_clone(void)
{
	struct yaml_node *n = load("a: {b: [1, 2.5, x, ~, yes]}\nc: 0x10\n"), *c = yaml_clone(n);
	char *before = json_of(n), *after;

	CHECK(c != n);
	CHECK(yaml_get(c, "a") != yaml_get(n, "a"));
	yaml_node_free(n);
	after = json_of(c);
	CHECK_STR(after, before);
	CHECK_STR(yaml_text(yaml_get(c, "c")), "16");
	CHECK_STR(yaml_get(c, "c")->str, "0x10");
	CHECK_INT(yaml_get(c, "c")->line, 2);
	free(before);
	free(after);
	yaml_node_free(c);
	CHECK(yaml_clone(NULL) == NULL);
}

static void test_merge(void)
{
	struct err e = ERR_INIT;
	struct yaml_node *base = NULL, *over = NULL, *m;
	const char *b = "service: app\n"
			"servers:\n"
			"  web: [a, b]\n"
			"  job: {hosts: [c], cmd: run}\n"
			"env:\n"
			"  clear: {A: 1, B: 2}\n"
			"proxy: {ssl: true}\n";
	const char *o = "servers:\n"
			"  web: [z]\n"
			"  job: {cmd: work}\n"
			"env:\n"
			"  clear: {B: 3, C: 4}\n"
			"proxy: off\n"
			"new: {x: 1}\n";
	char *sb, *so, *s;

	CHECK_INT(yaml_load("deploy.yml", b, strlen(b), &base, &e), 0);
	CHECK_INT(yaml_load("deploy.staging.yml", o, strlen(o), &over, &e), 0);
	sb = json_of(base);
	so = json_of(over);
	m = yaml_merge(base, over);
	s = json_of(m);
	CHECK_STR(s, "{\"service\":\"app\",\"servers\":{\"web\":[\"z\"],\"job\":{\"hosts\":[\"c\"],"
		     "\"cmd\":\"work\"}},\"env\":{\"clear\":{\"A\":1,\"B\":3,\"C\":4}},\"proxy\":"
		     "false,\"new\":{\"x\":1}}");
	free(s);
	/* the inputs are unchanged */
	s = json_of(base);
	CHECK_STR(s, sb);
	free(s);
	s = json_of(over);
	CHECK_STR(s, so);
	free(s);
	/* every value says where it came from */
	CHECK_STR(yaml_get(m, "service")->file, "deploy.yml");
	CHECK_STR(yaml_get(yaml_get(m, "servers"), "web")->file, "deploy.staging.yml");
	CHECK_INT(yaml_get(yaml_get(m, "servers"), "web")->line, 2);
	CHECK_STR(yaml_get(yaml_get(yaml_get(m, "servers"), "job"), "hosts")->file, "deploy.yml");
	CHECK_STR(yaml_get(yaml_get(yaml_get(m, "servers"), "job"), "cmd")->file,
		  "deploy.staging.yml");
	CHECK_STR(yaml_get(yaml_get(m, "env"), "clear")->file, "deploy.yml");
	CHECK_STR(yaml_get(m, "new")->file, "deploy.staging.yml");
	yaml_node_free(base);
	/* the result owns its nodes */
	CHECK_STR(yaml_get(m, "service")->str, "app");
	yaml_node_free(m);

	/* anything but two mappings: over replaces; NULL means the other side */
	m = yaml_merge(over, NULL);
	s = json_of(m);
	CHECK_STR(s, so);
	free(s);
	yaml_node_free(m);
	m = yaml_merge(NULL, over);
	CHECK(m && m->kind == YAML_MAP);
	yaml_node_free(m);
	CHECK_INT(yaml_load("x.yml", "[1]", 3, &base, &e), 0);
	m = yaml_merge(over, base);
	CHECK(m && m->kind == YAML_SEQ);
	yaml_node_free(m);
	yaml_node_free(base);
	CHECK(yaml_merge(NULL, NULL) == NULL);
	yaml_node_free(over);
	free(sb);
	free(so);
	err_release(&e);
}

static void test_to_json(void)
{
	struct yaml_node *n = load("s: text\n"
				   "i: 0755\n"
				   "f: 1.5\n"
				   "inf: -.inf\n"
				   "nan: .nan\n"
				   "b: on\n"
				   "z: ~\n"
				   "l: [1, \"2\"]\n"
				   "1: int key\n"
				   "~: null key\n"
				   "? [a, b]\n"
				   ": list key\n"
				   "u: \"\\u00e9\"\n");
	char *s = json_of(n);

	CHECK_STR(s, "{\"s\":\"text\",\"i\":493,\"f\":1.5,\"inf\":\"-Infinity\",\"nan\":\"NaN\","
		     "\"b\":true,\"z\":null,\"l\":[1,\"2\"],\"1\":\"int key\",\"\":\"null key\","
		     "\"[\\\"a\\\",\\\"b\\\"]\":\"list key\",\"u\":\"\xc3\xa9\"}");
	free(s);
	yaml_node_free(n);

	/* keys inside keys are written once, not quoted again at every level */
	n = load("? {[x]: 1}\n: v\n");
	s = json_of(n);
	CHECK_STR(s, "{\"{[\\\"x\\\"]:1}\":\"v\"}");
	free(s);
	yaml_node_free(n);
	CHECK(yaml_to_json(NULL) == NULL);
}

int main(void)
{
	UNIT_RUN(test_plain_scalars);
	UNIT_RUN(test_resolved_values);
	UNIT_RUN(test_quoted_and_block_scalars);
	UNIT_RUN(test_nul_escape);
	UNIT_RUN(test_flow_collections);
	UNIT_RUN(test_tags);
	UNIT_RUN(test_anchors_and_aliases);
	UNIT_RUN(test_merge_keys);
	UNIT_RUN(test_duplicate_keys);
	UNIT_RUN(test_locations);
	UNIT_RUN(test_file_name_outlives_caller);
	UNIT_RUN(test_errors);
	UNIT_RUN(test_limits);
	UNIT_RUN(test_documents);
	UNIT_RUN(test_get_text_kind);
	UNIT_RUN(test_clone);
	UNIT_RUN(test_merge);
	UNIT_RUN(test_to_json);
	return unit_done();
}
