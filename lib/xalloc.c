#include "xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

void xdie(const char *fmt, ...)
{
	va_list ap;

	fputs("fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		xdie("out of memory allocating %zu bytes", n);
	}
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p) {
		xdie("out of memory allocating %zu x %zu bytes", nmemb, size);
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		xdie("out of memory allocating %zu bytes", n);
	}
	return q;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

void xgrow(void **arr, size_t *alloc, size_t n, size_t sz)
{
	size_t na;

	if (n <= *alloc) {
		return;
	}
	na = *alloc ? *alloc : 8;
	while (na < n) {
		na *= 2;
	}
	if (na > SIZE_MAX / sz) {
		xdie("array size overflow");
	}
	*arr = xrealloc(*arr, na * sz);
	*alloc = na;
}
