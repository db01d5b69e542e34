/*
 * promtext — a strict reader of Prometheus' text exposition format (0.0.4),
 * as berth-proxy's metrics endpoint writes it (proxy/metrics.h).
 *
 * The text is another process's output: read as untrusted, within limits,
 * and refused whole on the first line that is not one of:
 *	(empty line)
 *	# anything			HELP, TYPE and comments, skipped
 *	NAME VALUE [TIMESTAMP]
 *	NAME{LABEL="V",...} VALUE [TIMESTAMP]
 * NAME is [a-zA-Z_:][a-zA-Z0-9_:]*, LABEL [a-zA-Z_][a-zA-Z0-9_]* (each at
 * most once per sample, a trailing comma allowed); V may hold \\, \" and
 * \n escapes and no NUL or raw newline. VALUE is a decimal with an optional
 * fraction and exponent, or +Inf, -Inf, NaN; TIMESTAMP an integer, ignored.
 * Fields are separated by one or more spaces or tabs; no carriage returns.
 * The last line needs no newline.
 *
 * Limits: PROMTEXT_MAX_BYTES of text, PROMTEXT_MAX_LINE bytes a line,
 * PROMTEXT_MAX_SAMPLES samples, PROMTEXT_MAX_LABELS labels a sample.
 * Numbers are read without the C library's locale.
 */
#ifndef PROMTEXT_H
#define PROMTEXT_H

#include <stddef.h>

#include "lib/err.h"

#define PROMTEXT_MAX_BYTES   (4u << 20)
#define PROMTEXT_MAX_LINE    4096
#define PROMTEXT_MAX_SAMPLES 50000
#define PROMTEXT_MAX_LABELS  8

struct promtext_label {
	char *name, *value; /* owned; value unescaped */
};

struct promtext_sample {
	char *name; /* owned */
	struct promtext_label labels[PROMTEXT_MAX_LABELS];
	unsigned nlabels;
	double value;
};

struct promtext {
	struct promtext_sample *samples;
	size_t nr, alloc;
};

#define PROMTEXT_INIT                                                                              \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void promtext_init(struct promtext *p);
/* Frees the samples; p is empty (and usable) again. */
void promtext_release(struct promtext *p);

/*
 * Reads text (len bytes, not NUL-terminated) into p, which must be empty.
 * Returns 0, or -1 with e set ("metrics:LINE:COL: what was expected") and p
 * empty.
 */
int promtext_parse(struct promtext *p, const char *text, size_t len, struct err *e);

/* The value of label name in s, or NULL. */
const char *promtext_label(const struct promtext_sample *s, const char *name);

#endif
