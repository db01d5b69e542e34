/*
 * A backup's schedule comes from the config: any bytes must parse or fail
 * with a message, and a schedule that parses names only minutes it matches,
 * next after the time asked, prev at or before it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cron c;
	struct err e = ERR_INIT;
	char *text = malloc(size + 1);
	int64_t t = 1796500000, n, p;
	int r;

	memcpy(text, data, size);
	text[size] = '\0';
	r = cron_parse(&c, text, &e);
	if ((r < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (r == 0) {
		n = cron_next(&c, t);
		p = cron_prev(&c, t);
		if ((n != -1 && (n <= t || n % 60 || !cron_matches(&c, n))) ||
		    (p != -1 && (p > t || p % 60 || !cron_matches(&c, p))) ||
		    (n != -1 && cron_prev(&c, n) != n)) {
			__builtin_trap();
		}
	}
	err_release(&e);
	free(text);
	return 0;
}
