/*
 * xalloc — allocation that cannot fail. Out of memory is not something the
 * CLI or a control path can recover from, so these abort with a message;
 * the proxy's hot path uses its own pools instead.
 */
#ifndef XALLOC_H
#define XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Grows *arr (of *alloc elements of size sz) to hold at least n elements. */
void xgrow(void **arr, size_t *alloc, size_t n, size_t sz);
#define XGROW(arr, alloc, n) xgrow((void **)&(arr), &(alloc), (n), sizeof(*(arr)))
/* Prints "fatal: ..." to stderr and aborts: for broken invariants only. */
void xdie(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
