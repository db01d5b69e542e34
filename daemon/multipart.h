/*
 * multipart — a streaming reader of `multipart/form-data` bodies (RFC 7578,
 * RFC 2046 section 5.1), the way `caprover deploy` uploads an app: a part
 * `sourceFile` holding a tar and a part `gitHash`.
 *
 *	struct multipart m;
 *	if (multipart_init(&m, content_type_header_value, &ops, ctx, NULL, &e) < 0)
 *		...
 *	while ((n = read(fd, buf, sizeof(buf))) > 0)
 *		if (multipart_feed(&m, buf, n, &e) < 0)
 *			...
 *	if (multipart_finish(&m, &e) < 0)
 *		...
 *	multipart_release(&m);
 *
 * The body is fed in chunks of any size (one byte at a time works); a
 * delimiter split across chunks is found all the same. Nothing but one
 * part's headers is kept in memory: a part's bytes go to ops->data as they
 * arrive, in pieces whose boundaries mean nothing.
 *
 * What is accepted: a preamble before the first delimiter and an epilogue
 * after the last (both ignored); transport padding (spaces, tabs) after a
 * delimiter; part headers with any name casing, of which
 * Content-Disposition (`form-data; name="..."; filename="..."`, values as
 * tokens or quoted strings with backslash escapes) and Content-Type are
 * read and others ignored. What is refused, with an error saying where:
 * a Content-Type that is not multipart/form-data or has no boundary, a
 * boundary outside 1..70 characters of RFC 2046's set, a part without
 * Content-Disposition or without a name, a disposition other than
 * form-data, a folded or NUL-holding header line, a delimiter followed by
 * anything but CRLF or "--", a body that ends before the closing
 * delimiter, and anything over the limits.
 */
#ifndef MULTIPART_H
#define MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sbuf.h"

#define MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 */

/* One part, as its headers describe it; valid from ops->begin to ops->end. */
struct multipart_part {
	const char *name;	  /* the form field's name; never NULL */
	const char *filename;	  /* NULL when the part names no file */
	const char *content_type; /* NULL when the part has no Content-Type */
	unsigned index;		  /* 0 for the first part */
};

/*
 * What the reader calls. Each returns 0 to go on or -1 to stop the reader:
 * multipart_feed then returns -1 with the callback's error in e (or, when
 * it set none, one saying the part was refused).
 */
struct multipart_ops {
	int (*begin)(void *ctx, const struct multipart_part *p, struct err *e);
	int (*data)(void *ctx, const struct multipart_part *p, const void *buf, size_t len,
		    struct err *e);
	int (*end)(void *ctx, const struct multipart_part *p, struct err *e);
};

/* Limits; a zero field takes its default. */
struct multipart_limits {
	size_t header_max;  /* one part's header block; default 8 KiB */
	unsigned parts_max; /* default 16 */
	uint64_t total_max; /* the whole body; default 1 GiB */
};

#define MULTIPART_HEADER_MAX_DEFAULT (8 * 1024)
#define MULTIPART_PARTS_MAX_DEFAULT  16
#define MULTIPART_TOTAL_MAX_DEFAULT  (1024ULL * 1024 * 1024)

struct multipart {
	const struct multipart_ops *ops;
	void *ctx;
	struct multipart_limits lim;
	char delim[4 + MULTIPART_BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
	size_t delim_len;
	size_t matched; /* bytes of delim seen and held back */
	int state;
	bool in_part;
	uint64_t total;
	struct sbuf head; /* the current part's header block */
	struct multipart_part part;
	char *name, *filename, *content_type; /* part's fields, owned */
	bool failed;
};

/*
 * Finds the boundary in a Content-Type header value ("multipart/form-data;
 * boundary=..." quoted or not) and copies it to out, which holds
 * MULTIPART_BOUNDARY_MAX + 1 bytes. 0, or -1 with e set.
 */
int multipart_boundary(const char *content_type, char *out, struct err *e);

/*
 * Prepares m to read a body sent with the given Content-Type. lim may be
 * NULL for the defaults. 0, or -1 with e set (m then needs no release).
 */
int multipart_init(struct multipart *m, const char *content_type, const struct multipart_ops *ops,
		   void *ctx, const struct multipart_limits *lim, struct err *e);

/* Reads the next len bytes of the body. 0, or -1 with e set; after -1 every call fails. */
int multipart_feed(struct multipart *m, const void *buf, size_t len, struct err *e);

/* The body ended: 0 when the closing delimiter was seen, else -1 with e set. */
int multipart_finish(struct multipart *m, struct err *e);

void multipart_release(struct multipart *m);

#endif
