/*
 * yaml — YAML documents as trees of nodes that remember where they were
 * written, read with libyaml and resolved the way Ruby's Psych (YAML 1.1)
 * resolves them, so a Kamal config means the same thing here as there.
 *
 * Plain (unquoted) scalars resolve as YAML 1.1 / Psych do:
 *   null:   "", "~", "null", "Null", "NULL"
 *   bool:   yes/no, true/false, on/off, in any case ("Yes", "OFF"); "y"/"n" stay strings
 *   int:    decimal with "_" separators (40_000_000), 0x hex, 0 octal (0755), 0b binary, signs
 *   float:  1.5, 1e3, .5, ".inf", "-.inf", ".nan"
 *   else:   string (dates and times too)
 * Quoted scalars and block scalars ("|", ">") are always strings. "!!str"
 * and the other standard tags force their type.
 *
 * Anchors, aliases and "<<" merge keys (a mapping or a list of mappings;
 * keys written in the mapping itself win) are resolved while loading, so
 * the tree has no aliases left. Documents that would expand past a node
 * limit are refused (no billion laughs). Duplicate keys in one mapping: the
 * last one wins, as in Psych.
 *
 * Every node carries the file, line and column (1-based) where it starts,
 * so config errors can point at it: config/deploy.yml:12:3.
 */
#ifndef YAML_H
#define YAML_H

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
	const char *file; /* not owned: shared by every node of a document */
	unsigned line, col;
	/* scalars: the text as written (quotes removed, escapes applied), NUL-terminated */
	char *str;
	size_t len;
	bool quoted;   /* a quoted or block scalar */
	bool b;        /* YAML_BOOL */
	long long i;   /* YAML_INT */
	double f;      /* YAML_FLOAT */
	/* YAML_SEQ */
	struct yaml_node **items;
	size_t nr_items;
	/* YAML_MAP, in document order, merge keys already applied */
	struct yaml_pair *pairs;
	size_t nr_pairs;
};

/*
 * Parses the first document of buf. file is used in node locations and in
 * errors ("config/deploy.yml:3:5: mapping values are not allowed here").
 * An empty document gives a YAML_NULL node. Returns 0 and the tree in *out,
 * or -1 with e set.
 */
int yaml_load(const char *file, const char *buf, size_t len, struct yaml_node **out,
	      struct err *e);
/* Frees a tree (NULL is fine). */
void yaml_free(struct yaml_node *n);

/* The value of key in a mapping (the scalar key's text), or NULL. */
struct yaml_node *yaml_get(const struct yaml_node *map, const char *key);
/* "a string", "an integer", "a list", ... for error messages. */
const char *yaml_kind_name(enum yaml_kind k);
/* The scalar as text, whatever it resolved to ("40000000", "true"); NULL for lists and maps. */
const char *yaml_text(const struct yaml_node *n);

/* A deep copy. */
struct yaml_node *yaml_clone(const struct yaml_node *n);
/*
 * Deep-merges over onto base, as Kamal merges a destination file over
 * deploy.yml: mappings merge key by key (recursively), anything else in
 * over — lists included — replaces what base had. Returns a new tree; the
 * inputs are unchanged.
 */
struct yaml_node *yaml_merge(const struct yaml_node *base, const struct yaml_node *over);

/* The tree as JSON (scalars keep their resolved types). */
json_t *yaml_to_json(const struct yaml_node *n);

#endif
