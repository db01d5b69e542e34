/*
 * unit.h — the unit tests' small harness. Each test file defines test
 * functions and lists them in main() with UNIT_RUN; every check that fails
 * prints where and why, and each test prints one TAP line:
 *
 *	static void test_grow(void) { CHECK(x == 1); CHECK_STR(s, "a"); }
 *	int main(void) { UNIT_RUN(test_grow); return unit_done(); }
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures_in_test;
static int unit_count;
static int unit_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
			unit_failures_in_test++;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		if (!g_ || !w_ || strcmp(g_, w_)) {                                                \
			printf("#   %s:%d: %s\n#     got:  \"%s\"\n#     want: \"%s\"\n",          \
			       __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");  \
			unit_failures_in_test++;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_INT(got, want)                                                                       \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_) {                                                                    \
			printf("#   %s:%d: %s: got %lld, want %lld\n", __FILE__, __LINE__, #got,   \
			       g_, w_);                                                            \
			unit_failures_in_test++;                                                   \
		}                                                                                  \
	} while (0)

#define UNIT_RUN(fn)                                                                               \
	do {                                                                                       \
		unit_failures_in_test = 0;                                                         \
		fn();                                                                              \
		unit_count++;                                                                      \
		if (unit_failures_in_test) {                                                       \
			unit_failed++;                                                             \
			printf("not ok %d - %s\n", unit_count, #fn);                               \
		} else {                                                                           \
			printf("ok %d - %s\n", unit_count, #fn);                                   \
		}                                                                                  \
		fflush(stdout);                                                                    \
	} while (0)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed ? 1 : 0;
}

#endif
