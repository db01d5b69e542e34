/*
 * sbuf — a growable byte string.
 *
 * Invariants: buf is never NULL and buf[len] is always '\0', so an sbuf can
 * be handed to any function that wants a C string (it may also hold NUL bytes
 * inside, for binary data; len is the truth). A fresh sbuf points at a shared
 * empty string and allocates on the first write. Allocation failure aborts:
 * no caller has to check for it.
 *
 *	struct sbuf sb = SBUF_INIT;
 *	sbuf_addf(&sb, "%s:%d", host, port);
 *	use(sb.buf);
 *	sbuf_release(&sb);
 */
#ifndef SBUF_H
#define SBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

struct sbuf {
	char *buf;
	size_t len;
	size_t alloc; /* 0 while buf points at the shared empty string */
};

extern char sbuf_empty[];
#define SBUF_INIT                                                                                  \
	{                                                                                          \
		sbuf_empty, 0, 0                                                                   \
	}

void sbuf_init(struct sbuf *sb, size_t hint);
/* Frees the memory and leaves sb as after SBUF_INIT. */
void sbuf_release(struct sbuf *sb);
/* Hands the buffer to the caller (free() it); sb is left empty. Never NULL. */
char *sbuf_detach(struct sbuf *sb, size_t *len);
/* Makes room for at least extra more bytes. */
void sbuf_grow(struct sbuf *sb, size_t extra);
/* Sets the length (must be <= len + available room) and terminates. */
void sbuf_setlen(struct sbuf *sb, size_t len);
static inline void sbuf_reset(struct sbuf *sb)
{
	sbuf_setlen(sb, 0);
}

void sbuf_add(struct sbuf *sb, const void *data, size_t len);
void sbuf_addstr(struct sbuf *sb, const char *s);
void sbuf_addch(struct sbuf *sb, int c);
/*
 * Appends s (NULL: nothing) as text for HTML or XML: & < > " ' as
 * entities, control characters other than tab and newline (which XML 1.0
 * has no place for) as a space.
 */
void sbuf_add_markup(struct sbuf *sb, const char *s);
void sbuf_addf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap);
/* Appends s with JSON string escaping (no surrounding quotes). */
void sbuf_add_json_escaped(struct sbuf *sb, const char *s, size_t len);

/* Removes whitespace at either end. */
void sbuf_trim(struct sbuf *sb);
void sbuf_rtrim(struct sbuf *sb);

/*
 * Appends everything readable from fd until EOF. Returns the number of bytes
 * read, or -1 on error (errno set; what was read stays in sb).
 */
ssize_t sbuf_read_fd(struct sbuf *sb, int fd);
/* Appends one read(2) of up to hint bytes: I/O convention, <0 error, 0 EOF. */
ssize_t sbuf_read_once(struct sbuf *sb, int fd, size_t hint);
/* Appends a whole file. Returns 0, or -1 with errno set. */
int sbuf_read_file(struct sbuf *sb, const char *path);

#endif
