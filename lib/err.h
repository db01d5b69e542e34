/*
 * err — an error value that says where and what.
 *
 * Parsers and anything that can fail for a reason the user must read take a
 * `struct err *` (which may be NULL when the caller does not care). The
 * message follows git's style: lowercase, no final period, subjects quoted.
 * When a location is known it is printed first, as compilers do:
 *
 *	config/deploy.yml:12:3: proxy.healthcheck.interval: expected a duration like "1s", got
 *"fast"
 *
 *	struct err e = ERR_INIT;
 *	if (parse(..., &e) < 0)
 *		fprintf(stderr, "error: %s\n", err_str(&e));
 *	err_release(&e);
 */
#ifndef ERR_H
#define ERR_H

#include <stdbool.h>

#include "sbuf.h"

struct err {
	char *file;	  /* owned; NULL when the error has no location */
	unsigned line;	  /* 1-based; 0 = unknown */
	unsigned col;	  /* 1-based; 0 = unknown */
	struct sbuf msg;  /* the message, without the location */
	struct sbuf full; /* scratch for err_str() */
	bool set;
};

#define ERR_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0, SBUF_INIT, SBUF_INIT, false                                            \
	}

void err_init(struct err *e);
void err_release(struct err *e);

/* Sets the message (replacing any earlier one). Returns -1, for `return err_set(...)`. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets message and location. file may be NULL; line/col 0 mean unknown. Returns -1. */
int err_setat(struct err *e, const char *file, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Puts context in front of the message: err_prefix(e, "host '%s'", h) gives "host 'h': msg". */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool err_isset(const struct err *e)
{
	return e && e->set;
}
/* "file:line:col: message" (parts that are unknown are left out). Valid until e changes. */
const char *err_str(struct err *e);

#endif
