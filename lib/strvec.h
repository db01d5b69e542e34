/*
 * strvec — a NULL-terminated vector of owned strings: an argv.
 *
 * v always ends with NULL (also when empty), so v.v can be passed to execvp.
 * Every string pushed is copied; strvec_clear frees them all.
 */
#ifndef STRVEC_H
#define STRVEC_H

#include <stddef.h>

struct strvec {
	char **v;
	size_t nr;
	size_t alloc;
};

extern const char *strvec_empty_array[];
#define STRVEC_INIT                                                                                \
	{                                                                                          \
		(char **)strvec_empty_array, 0, 0                                                  \
	}

void strvec_init(struct strvec *sv);
void strvec_push(struct strvec *sv, const char *s);
void strvec_pushf(struct strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Pushes every string of a NULL-terminated array. */
void strvec_pushv(struct strvec *sv, const char *const *v);
/* Frees every string; sv is left empty and usable. */
void strvec_clear(struct strvec *sv);
/* Joins the strings with sep, for messages (a malloc'd string). */
char *strvec_join(const struct strvec *sv, const char *sep);

#endif
