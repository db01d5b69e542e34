#include "proxy/dur.h"

#include <stdio.h>
#include <string.h>

#include "lib/banned.h"

#define DUR_MAX (24ULL * 3600 * 1000)

bool dur_parse(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	bool any = false;

	if (!s || !*s) {
		return false;
	}
	while (*s) {
		uint64_t n = 0, frac = 0, frac_div = 1, unit;
		bool digits = false;

		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (uint64_t)(*s++ - '0');
			digits = true;
			if (n > DUR_MAX) {
				return false;
			}
		}
		if (*s == '.') {
			s++;
			while (*s >= '0' && *s <= '9') {
				if (frac_div < 1000000) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					frac_div *= 10;
				}
				s++;
				digits = true;
			}
		}
		if (!digits) {
			return false;
		}
		if (!strncmp(s, "ms", 2)) {
			unit = 1;
			s += 2;
		} else if (*s == 's') {
			unit = 1000;
			s++;
		} else if (*s == 'm') {
			unit = 60 * 1000;
			s++;
		} else if (*s == 'h') {
			unit = 3600 * 1000;
			s++;
		} else if (!*s && !any) {
			unit = 1000; /* a bare number: seconds */
		} else {
			return false;
		}
		total += n * unit + frac * unit / frac_div;
		if (total > DUR_MAX) {
			return false;
		}
		any = true;
	}
	*ms = total;
	return true;
}

const char *dur_format(uint64_t ms, char *buf, size_t len)
{
	if (ms % 1000) {
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	} else {
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	}
	return buf;
}
