/*
 * opt — command-line options, described by a table.
 *
 * Each command declares its options next to its code; the parser fills the
 * variables they point at and leaves the operands in order:
 *
 *	static const char *dest;
 *	static bool json;
 *	struct opt opts[] = {
 *		OPT_STRING('d', "destination", &dest, "NAME", "use config/deploy.NAME.yml"),
 *		OPT_BOOL(0, "json", &json, "print JSON"),
 *		OPT_END(),
 *	};
 *	argc = opt_parse(argc, argv, opts, &err);   // -1 on a bad option
 *
 * Short options take their value as "-dNAME" or "-d NAME", long ones as
 * "--destination=NAME" or "--destination NAME". OPT_LIST appends to a
 * strvec and splits the value on commas ("-h a,b -h c" gives a, b, c);
 * OPT_STRING_LIST appends each value whole ("-e A=1,2").
 * A boolean also takes "--NAME=true" and "--NAME=false" (as Go's flag
 * package, which kamal-proxy's users know, spells it).
 * OPT_UINT_OPTIONAL takes its number as "--NAME=N" or "--NAME N" (when the
 * next word is a number), and is set to its default when given alone
 * ("--lock-wait" waits the default time, "--lock-wait 60" a minute).
 * "--" ends the options; everything after it is an operand.
 * With OPT_F_STOP_AT_OPERAND parsing stops at the first operand (for
 * commands that pass the rest on, such as "server exec").
 */
#ifndef OPT_H
#define OPT_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"
#include "strvec.h"

enum opt_type {
	OPT_T_END = 0,
	OPT_T_BOOL,	     /* bool *; "--no-NAME" sets false */
	OPT_T_COUNT,	     /* int *, incremented each time (-v -v) */
	OPT_T_STRING,	     /* const char **, pointing into argv */
	OPT_T_LIST,	     /* struct strvec *, comma-separated values appended */
	OPT_T_STRING_LIST,   /* struct strvec *, each value appended whole */
	OPT_T_UINT,	     /* unsigned *, decimal */
	OPT_T_UINT_OPTIONAL, /* unsigned *, decimal; alone: the opt's dflt */
};

enum opt_parse_flags {
	OPT_F_STOP_AT_OPERAND = 1 << 0,
};

struct opt {
	enum opt_type type;
	char short_name; /* 0: none */
	const char *long_name;
	void *value;
	const char *arg_help; /* "NAME" in "-d, --destination NAME" */
	const char *help;
	unsigned dflt; /* OPT_T_UINT_OPTIONAL: the value when none is given */
};

#define OPT_BOOL(s, l, v, h)                                                                       \
	{                                                                                          \
		OPT_T_BOOL, (s), (l), (v), NULL, (h), 0                                            \
	}
#define OPT_COUNT(s, l, v, h)                                                                      \
	{                                                                                          \
		OPT_T_COUNT, (s), (l), (v), NULL, (h), 0                                           \
	}
#define OPT_STRING(s, l, v, a, h)                                                                  \
	{                                                                                          \
		OPT_T_STRING, (s), (l), (v), (a), (h), 0                                           \
	}
#define OPT_LIST(s, l, v, a, h)                                                                    \
	{                                                                                          \
		OPT_T_LIST, (s), (l), (v), (a), (h), 0                                             \
	}
#define OPT_STRING_LIST(s, l, v, a, h)                                                             \
	{                                                                                          \
		OPT_T_STRING_LIST, (s), (l), (v), (a), (h), 0                                      \
	}
#define OPT_UINT(s, l, v, a, h)                                                                    \
	{                                                                                          \
		OPT_T_UINT, (s), (l), (v), (a), (h), 0                                             \
	}
#define OPT_UINT_OPTIONAL(s, l, v, a, d, h)                                                        \
	{                                                                                          \
		OPT_T_UINT_OPTIONAL, (s), (l), (v), (a), (h), (d)                                  \
	}
#define OPT_END()                                                                                  \
	{                                                                                          \
		OPT_T_END, 0, NULL, NULL, NULL, NULL, 0                                            \
	}

/*
 * Parses argv[0..argc) (argv[0] is an operand like any other, not skipped)
 * against one or more tables (tables is NULL-terminated). Operands are moved
 * to the front of argv, in order; returns their number, or -1 with e set
 * ("unknown option '--x'", "option '--port' expects a number, got 'x'").
 * argv is rewritten in place: past the operands its slots hold stale
 * pointers, some of them twice, so a caller that owns the strings keeps its
 * own list of them and hands opt_parse a copy of the pointers.
 */
int opt_parse(int argc, const char **argv, const struct opt *const *tables, unsigned flags,
	      struct err *e);
/* Prints the options of the tables, one per line, aligned. */
void opt_usage(FILE *out, const struct opt *const *tables);

#endif
