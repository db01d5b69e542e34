#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/cron.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

/* How far next and prev look: long enough for 29 February, even across 2100. */
#define CRON_HORIZON ((int64_t)8 * 366 * 86400)

struct field {
	const char *name;
	int lo, hi;
	const char *const *names; /* names of lo.., or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
					  "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},	      {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day of week", 0, 7, day_names},
};

static const struct {
	const char *name, *line;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},	  {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* A number or a name of f at *p (advanced past it) into *v; -1 when there is none. */
static int value(const struct field *f, const char **p, int *v)
{
	const char *s = *p;
	long n = 0;
	int i;

	if (isdigit((unsigned char)*s)) {
		while (isdigit((unsigned char)*s) && n < 1000) {
			n = n * 10 + (*s++ - '0');
		}
		if (isdigit((unsigned char)*s)) {
			return -1;
		}
		*v = (int)n;
		*p = s;
		return 0;
	}
	for (i = 0; f->names && f->names[i]; i++) {
		if (!strncasecmp(s, f->names[i], 3) && !isalpha((unsigned char)s[3])) {
			*v = f->lo + i;
			*p = s + 3;
			return 0;
		}
	}
	return -1;
}

/* One field's text (len bytes at s) into the bits of *out. */
static int parse_field(const struct field *f, const char *s, size_t len, uint64_t *out,
		       struct err *e)
{
	char *text = xstrndup(s, len), *item, *next;
	int ret = -1;

	*out = 0;
	for (item = text; item; item = next) {
		const char *p = item;
		int a, b, step = 1, v;

		next = strchr(item, ',');
		if (next) {
			*next++ = '\0';
		}
		if (*p == '*') {
			a = f->lo;
			b = f->hi;
			p++;
		} else {
			if (value(f, &p, &a) < 0) {
				goto bad;
			}
			b = a;
			if (*p == '-') {
				p++;
				if (value(f, &p, &b) < 0) {
					goto bad;
				}
			} else if (*p == '/') {
				b = f->hi; /* "5/10": from 5 to the end, as cron reads it */
			}
		}
		if (*p == '/') {
			p++;
			if (!isdigit((unsigned char)*p) || value(&fields[0], &p, &step) < 0 ||
			    step < 1) {
				goto bad;
			}
		}
		if (*p || a < f->lo || b > f->hi || a > b) {
			goto bad;
		}
		for (v = a; v <= b; v += step) {
			/* day of week 7 is Sunday, as 0 */
			*out |= (uint64_t)1 << (f->hi == 7 && v == 7 ? 0 : v);
		}
		continue;
	bad:
		err_set(e,
			"%s '%s' is not one: expected *, a number from %d to %d%s, a range a-b, "
			"either with a /step, or a list of those",
			f->name, item, f->lo, f->hi,
			f->names ? (f->names == month_names ? " or a month's name (jan)"
							    : " or a day's name (mon)")
				 : "");
		goto out;
	}
	if (!*out) {
		err_set(e, "%s is empty: expected *, a number, a range or a list", f->name);
		goto out;
	}
	ret = 0;
out:
	free(text);
	return ret;
}

int cron_parse(struct cron *c, const char *text, struct err *e)
{
	const char *p = text, *start[5];
	size_t len[5], n = 0, i;
	uint64_t bits[5];

	memset(c, 0, sizeof(*c));
	while (isspace((unsigned char)*p)) {
		p++;
	}
	if (*p == '@') {
		size_t l = strcspn(p, " \t\r\n");

		for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
			if (strlen(macros[i].name) == l && !strncasecmp(p, macros[i].name, l) &&
			    !p[l + strspn(p + l, " \t\r\n")]) {
				return cron_parse(c, macros[i].line, e);
			}
		}
		return err_set(e,
			       "schedule '%s' is not one: expected five fields (minute hour "
			       "day-of-month month day-of-week) or @hourly, @daily, @weekly, "
			       "@monthly, @yearly",
			       text);
	}
	while (*p) {
		if (n == 5) {
			n++;
			break;
		}
		start[n] = p;
		len[n] = strcspn(p, " \t\r\n");
		p += len[n++];
		while (isspace((unsigned char)*p)) {
			p++;
		}
	}
	if (n != 5) {
		return err_set(e,
			       "schedule '%s' is not one: expected five fields (minute hour "
			       "day-of-month month day-of-week), as \"0 3 * * *\" for 03:00 "
			       "every day",
			       text);
	}
	for (i = 0; i < 5; i++) {
		if (parse_field(&fields[i], start[i], len[i], &bits[i], e) < 0) {
			err_prefix(e, "schedule '%s'", text);
			return -1;
		}
	}
	c->minutes = bits[0];
	c->hours = (uint32_t)bits[1];
	c->mdays = (uint32_t)bits[2];
	c->months = (uint16_t)bits[3];
	c->wdays = (uint8_t)bits[4];
	c->mday_star = start[2][0] == '*';
	c->wday_star = start[4][0] == '*';
	return 0;
}

static bool day_matches(const struct cron *c, const struct tm *tm)
{
	bool md = c->mdays >> tm->tm_mday & 1, wd = c->wdays >> tm->tm_wday & 1;

	if (!c->mday_star && !c->wday_star) {
		return md || wd;
	}
	return md && wd;
}

static int64_t to_time(struct tm *tm)
{
	return (int64_t)timegm(tm);
}

bool cron_matches(const struct cron *c, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		return false;
	}
	return (c->months >> (tm.tm_mon + 1) & 1) && day_matches(c, &tm) &&
	       (c->hours >> tm.tm_hour & 1) && (c->minutes >> tm.tm_min & 1);
}

int64_t cron_next(const struct cron *c, int64_t t)
{
	int64_t at = (t >= 0 ? t / 60 : (t - 59) / 60) * 60 + 60, end = at + CRON_HORIZON;

	while (at <= end) {
		time_t tt = (time_t)at;
		struct tm tm;

		if (!gmtime_r(&tt, &tm)) {
			return -1;
		}
		if (!(c->months >> (tm.tm_mon + 1) & 1)) {
			/* the first minute of the next month */
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!day_matches(c, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!(c->hours >> tm.tm_hour & 1)) {
			tm.tm_hour++;
			tm.tm_min = tm.tm_sec = 0;
		} else if (!(c->minutes >> tm.tm_min & 1)) {
			tm.tm_min++;
			tm.tm_sec = 0;
		} else {
			return at;
		}
		at = to_time(&tm);
	}
	return -1;
}

int64_t cron_prev(const struct cron *c, int64_t t)
{
	int64_t at = (t >= 0 ? t / 60 : (t - 59) / 60) * 60, end = at - CRON_HORIZON;

	while (at >= end) {
		time_t tt = (time_t)at;
		struct tm tm;

		if (!gmtime_r(&tt, &tm)) {
			return -1;
		}
		/* each step goes to the start of the unit that does not match, then a minute back
		 */
		if (!(c->months >> (tm.tm_mon + 1) & 1)) {
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!day_matches(c, &tm)) {
			tm.tm_hour = tm.tm_min = 0;
		} else if (!(c->hours >> tm.tm_hour & 1)) {
			tm.tm_min = 0;
		} else if (!(c->minutes >> tm.tm_min & 1)) {
			/* this minute only */
		} else {
			return at;
		}
		tm.tm_sec = 0;
		at = to_time(&tm) - 60;
	}
	return -1;
}
