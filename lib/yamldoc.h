/*
 * yamldoc — YAML documents as trees of nodes that remember where they were
 * written, read with libyaml and resolved the way Ruby's Psych (YAML 1.1)
 * resolves them, so a Kamal config means the same thing here as there.
 *
 * (The file is not called yaml.h because libyaml's header is <yaml.h>, and
 * the free function is not yaml_free() because libyaml exports a yaml_free()
 * of its own, which ours would replace inside the library.)
 *
 * Plain (unquoted) scalars resolve as Psych does:
 *   null:   "", "~", "null" in any case ("Null", "NULL")
 *   bool:   yes/no, true/false, on/off, in any case ("Yes", "OFF"); "y"/"n" stay strings
 *   int:    decimal with "_" or "," separators (40_000_000, 1,000), 0x hex, 0 octal
 *           (0755 is 493), 0b binary, signs; and Psych's base 60: "1:30" is 5400,
 *           "1:30:15" is 5415 (so quote times). "0o755" and "0X1F" stay strings.
 *           Integers that do not fit in 64 bits stay strings.
 *   float:  a "." is required and an exponent needs its sign: 1.5, .5, 1., 1.5e+3,
 *           ".inf", "-.inf", ".nan" (any case); "1e3" and "1.5e3" stay strings
 *   else:   string (dates, times and ":symbols" too)
 * Quoted scalars and block scalars ("|", ">") are always strings. Tags:
 * "!!str" makes a string; "!!int", "!!float", "!!bool" and "!!null" resolve
 * the text and fail unless it is of that type ("!!float 1" is 1.0); "!!seq",
 * "!!map" (and "!!omap", "!!set", "!!pairs", "!!timestamp" as list, map and
 * string) are accepted; "!" resolves like a plain scalar; any other tag is an
 * error.
 *
 * Anchors, aliases and "<<" merge keys (a mapping or a list of mappings,
 * merged where the "<<" stands, as Psych's Hash#merge! does: it overrides
 * keys written before it and keys written after it override it; in a list
 * the earlier mappings win) are resolved while loading, so the tree has no
 * aliases left. Documents that would expand past YAML_MAX_NODES nodes or
 * YAML_MAX_TEXT bytes of text are refused (no billion laughs); so are
 * recursive aliases. Duplicate keys in one
 * mapping: the last one wins, as in Psych; keys are equal when they resolve
 * to the same value (1 and 0x1 are one key, "1" and 1 are two).
 *
 * Where berth is stricter than Psych, on purpose: a quoted "<<" is an
 * ordinary key; "<<" with anything but
 * mappings, tags that do not fit their text ("!!int abc"), unknown tags and
 * recursive aliases are errors where Psych would quietly keep a string, a
 * literal "<<" key or an object.
 *
 * Every node carries the file, line and column (1-based, columns count
 * characters) where it starts, so config errors can point at it:
 * config/deploy.yml:12:3. Values copied from an anchor keep the anchor's
 * location, where they were written.
 *
 * Nodes are made only by yaml_load(), yaml_clone() and yaml_merge() (a
 * scalar's storage holds more than str), and are freed with yaml_node_free().
 */
#ifndef YAMLDOC_H
#define YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"

enum yaml_kind {
	YAML_NULL = 0,
	YAML_BOOL,
	YAML_INT,
	YAML_FLOAT,
	YAML_STR,
	YAML_SEQ,
	YAML_MAP,
};

struct yaml_node;

struct yaml_pair {
	struct yaml_node *key; /* a scalar for every config berth reads, but any node */
	struct yaml_node *value;
};

struct yaml_node {
	enum yaml_kind kind;
	/* not owned: file names are kept (once each) for the life of the process */
	const char *file;
	unsigned line, col;
	/*
	 * scalars: the text as written (quotes removed, escapes applied),
	 * NUL-terminated; len counts bytes, and a "\0" escape can make it more
	 * than strlen(str). NULL for lists and maps.
	 */
	char *str;
	size_t len;
	bool quoted; /* a quoted or block scalar */
	bool b;	     /* YAML_BOOL */
	long long i; /* YAML_INT */
	double f;    /* YAML_FLOAT */
	/* YAML_SEQ */
	struct yaml_node **items;
	size_t nr_items;
	/* YAML_MAP, in document order, merge keys already applied */
	struct yaml_pair *pairs;
	size_t nr_pairs;
};

/*
 * Limits: input bytes; nodes and bytes of scalar text once aliases are
 * expanded (each anchored node counts twice: it is kept for its aliases);
 * nesting of lists and mappings.
 */
#define YAML_MAX_SIZE  (8u << 20)
#define YAML_MAX_NODES 100000
#define YAML_MAX_TEXT  (32u << 20)
#define YAML_MAX_DEPTH 256

/*
 * Parses the first document of buf (what follows it is not read, as in
 * Psych). file (may be NULL) is used in node locations and in errors
 * ("config/deploy.yml:3:5: mapping values are not allowed in this context");
 * the caller keeps its string. An empty document gives a YAML_NULL node.
 * Returns 0 and the tree in *out, or -1 with e set.
 */
int yaml_load(const char *file, const char *buf, size_t len, struct yaml_node **out, struct err *e);
/* Frees a tree (NULL is fine). */
void yaml_node_free(struct yaml_node *n);

/*
 * The value of key in a mapping, matching scalar keys by the text as
 * written (a string key first, then any other scalar), or NULL; NULL for
 * anything but a mapping.
 */
struct yaml_node *yaml_get(const struct yaml_node *map, const char *key);
/* "a string", "an integer", "a list", ... for error messages. */
const char *yaml_kind_name(enum yaml_kind k);
/*
 * The scalar as text, whatever it resolved to, as Ruby's to_s writes it:
 * 40_000_000 gives "40000000", Yes "true", ~ "", 1.5e+3 "1500.0", .inf
 * "Infinity". Strings are str. NULL for lists and maps. Owned by the node.
 */
const char *yaml_text(const struct yaml_node *n);

/* A deep copy (NULL gives NULL). */
struct yaml_node *yaml_clone(const struct yaml_node *n);
/*
 * Deep-merges over onto base, as Kamal merges a destination file over
 * deploy.yml: mappings merge key by key (recursively), anything else in
 * over — lists included — replaces what base had (a YAML_NULL over, as an
 * empty file gives, replaces base too: check for it first if that is not
 * what you want). Each node of the result keeps the location where its
 * value was written; a mapping merged from both keeps base's. Either side
 * may be NULL (the result is a copy of the other). Returns a new tree; the
 * inputs are unchanged.
 */
struct yaml_node *yaml_merge(const struct yaml_node *base, const struct yaml_node *over);

/*
 * The tree as JSON (scalars keep their resolved types; .inf and .nan, which
 * JSON cannot hold, become the strings "Infinity", "-Infinity", "NaN"; keys
 * become their yaml_text(), lists and maps used as keys their compact JSON).
 * Returns a new reference, or NULL for a NULL node.
 */
json_t *yaml_to_json(const struct yaml_node *n);

#endif
