#include "sbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"
#include "xalloc.h"

char sbuf_empty[1];

void sbuf_init(struct sbuf *sb, size_t hint)
{
	sb->buf = sbuf_empty;
	sb->len = 0;
	sb->alloc = 0;
	if (hint) {
		sbuf_grow(sb, hint);
	}
}

void sbuf_release(struct sbuf *sb)
{
	if (sb->alloc) {
		free(sb->buf);
	}
	sbuf_init(sb, 0);
}

char *sbuf_detach(struct sbuf *sb, size_t *len)
{
	char *res;

	if (!sb->alloc) {
		sbuf_grow(sb, 0);
	}
	res = sb->buf;
	if (len) {
		*len = sb->len;
	}
	sbuf_init(sb, 0);
	return res;
}

void sbuf_grow(struct sbuf *sb, size_t extra)
{
	size_t want;

	if (extra > SIZE_MAX - sb->len - 1) {
		xdie("sbuf: size overflow");
	}
	want = sb->len + extra + 1;
	if (sb->alloc >= want) {
		return;
	}
	size_t nalloc = sb->alloc ? sb->alloc : 64;
	while (nalloc < want) {
		nalloc = nalloc < SIZE_MAX / 2 ? nalloc * 2 : want;
	}
	if (sb->alloc) {
		sb->buf = xrealloc(sb->buf, nalloc);
	} else {
		sb->buf = xmalloc(nalloc);
		sb->buf[0] = '\0';
	}
	sb->alloc = nalloc;
}

void sbuf_setlen(struct sbuf *sb, size_t len)
{
	if (!sb->alloc) {
		if (len) {
			xdie("sbuf: setlen beyond allocation");
		}
		return;
	}
	if (len >= sb->alloc) {
		xdie("sbuf: setlen beyond allocation");
	}
	sb->len = len;
	sb->buf[len] = '\0';
}

void sbuf_add(struct sbuf *sb, const void *data, size_t len)
{
	if (!len) {
		return;
	}
	/* The usual case, room enough, without the calls: the proxy adds a dozen pieces per
	 * request. */
	if (len >= sb->alloc - sb->len) {
		sbuf_grow(sb, len);
	}
	memmove(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void sbuf_addstr(struct sbuf *sb, const char *s)
{
	sbuf_add(sb, s, strlen(s));
}

void sbuf_addch(struct sbuf *sb, int c)
{
	sbuf_grow(sb, 1);
	sb->buf[sb->len] = (char)c;
	sbuf_setlen(sb, sb->len + 1);
}

void sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	sbuf_grow(sb, 64);
	va_copy(cp, ap);
	n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, cp);
	va_end(cp);
	if (n < 0) {
		xdie("sbuf: bad format '%s'", fmt);
	}
	if ((size_t)n >= sb->alloc - sb->len) {
		sbuf_grow(sb, (size_t)n);
		n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
	}
	sbuf_setlen(sb, sb->len + (size_t)n);
}

void sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

void sbuf_add_json_escaped(struct sbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			sbuf_add(sb, "\\\"", 2);
			break;
		case '\\':
			sbuf_add(sb, "\\\\", 2);
			break;
		case '\n':
			sbuf_add(sb, "\\n", 2);
			break;
		case '\r':
			sbuf_add(sb, "\\r", 2);
			break;
		case '\t':
			sbuf_add(sb, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				sbuf_add(sb, u, sizeof(u));
			} else {
				sbuf_addch(sb, c);
			}
		}
	}
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void sbuf_rtrim(struct sbuf *sb)
{
	size_t n = sb->len;

	while (n && is_space(sb->buf[n - 1])) {
		n--;
	}
	if (n != sb->len) {
		sbuf_setlen(sb, n);
	}
}

void sbuf_trim(struct sbuf *sb)
{
	size_t skip = 0;

	sbuf_rtrim(sb);
	while (skip < sb->len && is_space(sb->buf[skip])) {
		skip++;
	}
	if (skip) {
		memmove(sb->buf, sb->buf + skip, sb->len - skip);
		sbuf_setlen(sb, sb->len - skip);
	}
}

ssize_t sbuf_read_once(struct sbuf *sb, int fd, size_t hint)
{
	ssize_t n;

	sbuf_grow(sb, hint ? hint : 4096);
	n = read(fd, sb->buf + sb->len, sb->alloc - sb->len - 1);
	if (n > 0) {
		sbuf_setlen(sb, sb->len + (size_t)n);
	}
	return n;
}

ssize_t sbuf_read_fd(struct sbuf *sb, int fd)
{
	size_t start = sb->len;
	ssize_t n;

	for (;;) {
		n = sbuf_read_once(sb, fd, 8192);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -1;
		}
		if (n == 0) {
			break;
		}
	}
	return (ssize_t)(sb->len - start);
}

int sbuf_read_file(struct sbuf *sb, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = -1, saved;

	if (fd < 0) {
		return -1;
	}
	if (sbuf_read_fd(sb, fd) >= 0) {
		ret = 0;
	}
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

void sbuf_add_markup(struct sbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			sbuf_addstr(sb, "&amp;");
			break;
		case '<':
			sbuf_addstr(sb, "&lt;");
			break;
		case '>':
			sbuf_addstr(sb, "&gt;");
			break;
		case '"':
			sbuf_addstr(sb, "&quot;");
			break;
		case '\'':
			sbuf_addstr(sb, "&#39;");
			break;
		default:
			sbuf_addch(sb,
				   (unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' ? ' ' : *s);
		}
	}
}
