#include <stdlib.h>
#include <time.h>

#include "lib/cron.h"

#include "unit.h"

/* "YYYY-MM-DD HH:MM" in UTC as seconds. */
static int64_t at(const char *s)
{
	struct tm tm = {0};

	sscanf(s, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static int64_t next_of(const char *expr, const char *from)
{
	struct cron c;
	struct err e = ERR_INIT;
	int64_t r = -2;

	if (cron_parse(&c, expr, &e) == 0) {
		r = cron_next(&c, at(from));
	} else {
		printf("#   %s: %s\n", expr, err_str(&e));
	}
	err_release(&e);
	return r;
}

static int64_t prev_of(const char *expr, const char *from)
{
	struct cron c;
	int64_t r = -2;

	if (cron_parse(&c, expr, NULL) == 0) {
		r = cron_prev(&c, at(from));
	}
	return r;
}

static void test_next(void)
{
	CHECK(next_of("0 3 * * *", "2026-12-05 21:40") == at("2026-12-06 03:00"));
	CHECK(next_of("0 3 * * *", "2026-12-06 02:59") == at("2026-12-06 03:00"));
	/* strictly after: the minute itself is not next */
	CHECK(next_of("0 3 * * *", "2026-12-06 03:00") == at("2026-12-07 03:00"));
	CHECK(next_of("*/15 * * * *", "2026-12-05 21:40") == at("2026-12-05 21:45"));
	CHECK(next_of("30 23 31 12 *", "2026-12-31 23:31") == at("2027-12-31 23:30"));
	CHECK(next_of("0 0 29 2 *", "2026-03-01 00:00") == at("2028-02-29 00:00"));
	CHECK(next_of("0 0 30 2 *", "2026-03-01 00:00") == -1);
	/* either day rule: the 1st or a Monday (2026-12-07 is a Monday) */
	CHECK(next_of("0 0 1 * mon", "2026-12-05 00:00") == at("2026-12-07 00:00"));
	/* with * in one, both: Mondays only */
	CHECK(next_of("0 0 * * 1", "2026-12-05 00:00") == at("2026-12-07 00:00"));
	CHECK(next_of("0 0 * * 7", "2026-12-05 00:00") == at("2026-12-06 00:00"));
	CHECK(next_of("@weekly", "2026-12-05 00:00") == at("2026-12-06 00:00"));
	CHECK(next_of("@monthly", "2026-12-05 00:00") == at("2027-01-01 00:00"));
	CHECK(next_of("@hourly", "2026-12-05 10:00") == at("2026-12-05 11:00"));
	CHECK(next_of("5/20 1-3 * JAN-mar *", "2026-12-05 00:00") == at("2027-01-01 01:05"));
	CHECK(next_of("0 12 * * sat,sun", "2026-12-07 00:00") == at("2026-12-12 12:00"));
}

static void test_prev(void)
{
	CHECK(prev_of("0 3 * * *", "2026-12-05 21:40") == at("2026-12-05 03:00"));
	/* at or before: the minute itself is prev */
	CHECK(prev_of("0 3 * * *", "2026-12-05 03:00") == at("2026-12-05 03:00"));
	CHECK(prev_of("0 3 * * *", "2026-12-05 02:59") == at("2026-12-04 03:00"));
	CHECK(prev_of("0 0 1 1 *", "2026-12-05 00:00") == at("2026-01-01 00:00"));
	CHECK(prev_of("59 23 * * sun", "2026-12-05 00:00") == at("2026-11-29 23:59"));
	CHECK(prev_of("0 0 29 2 *", "2026-03-01 00:00") == at("2024-02-29 00:00"));
	CHECK(prev_of("0 0 30 2 *", "2026-03-01 00:00") == -1);
}

/* next and prev agree with a scan minute by minute, for many schedules and times */
static void test_against_a_scan(void)
{
	static const char *const exprs[] = {
	    "*/7 */5 * * *", "0 0 1,15 * 3",   "15 10-14/2 * * mon-fri", "0 0 31 * *",
	    "1 2 3 4 *",     "*/30 * 2-4 * 0", "0 */6 * feb,aug sat",	 "59 23 L * *",
	};
	size_t i;
	unsigned seed = 7;

	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct cron c;
		int k;

		if (cron_parse(&c, exprs[i], NULL) < 0) {
			CHECK(!strcmp(exprs[i], "59 23 L * *")); /* "L" is refused, not guessed */
			continue;
		}
		for (k = 0; k < 20; k++) {
			int64_t t = at("2026-01-01 00:00") +
				    (int64_t)(rand_r(&seed) % (400 * 86400)),
				n = cron_next(&c, t), p = cron_prev(&c, t), s;

			for (s = (t / 60 + 1) * 60; !cron_matches(&c, s); s += 60) {
			}
			CHECK(n == s);
			for (s = t / 60 * 60; !cron_matches(&c, s); s -= 60) {
			}
			CHECK(p == s);
		}
	}
}

static void test_errors_name_the_field(void)
{
	static const struct {
		const char *expr, *want;
	} cases[] = {
	    {"0 3 * *", "expected five fields"},
	    {"0 3 * * * *", "expected five fields"},
	    {"60 3 * * *", "minute '60' is not one: expected *, a number from 0 to 59"},
	    {"0 24 * * *", "hour '24'"},
	    {"0 3 0 * *", "day of month '0'"},
	    {"0 3 * 13 *", "month '13' is not one: expected *, a number from 1 to 12 or a month"},
	    {"0 3 * * fri-mon", "day of week 'fri-mon'"},
	    {"*/0 * * * *", "minute '*/0'"},
	    {"1,,2 * * * *", "minute"},
	    {"@reboot", "expected five fields"},
	    {"", "expected five fields"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cron c;
		struct err e = ERR_INIT;

		CHECK(cron_parse(&c, cases[i].expr, &e) == -1);
		if (!strstr(err_str(&e), cases[i].want)) {
			printf("#   '%s': %s\n", cases[i].expr, err_str(&e));
			CHECK(!"the error names what is wrong");
		}
		err_release(&e);
	}
}

int main(void)
{
	UNIT_RUN(test_next);
	UNIT_RUN(test_prev);
	UNIT_RUN(test_against_a_scan);
	UNIT_RUN(test_errors_name_the_field);
	return unit_done();
}
