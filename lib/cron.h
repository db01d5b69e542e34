/*
 * cron — a schedule in cron's five-field syntax, and the times it names.
 *
 *   minute hour day-of-month month day-of-week
 *
 * Each field is `*`, a number, a range `a-b`, either with a step (`/15`
 * after `*` is every 15th, `1-30/2`, `5/10` meaning 5 to the field's end), or
 * a comma-separated list of those; months and days may be named (`jan`-`dec`, `sun`-`sat`, any
 * case); a day of week of 7 is Sunday, as 0 is. `@yearly` (`@annually`),
 * `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for
 * their usual lines; `@reboot` is refused, as it names no time. Day of
 * month and day of week follow Vixie cron's rule: when both are restricted
 * (neither starts with `*`), a day matching either is taken; otherwise a
 * day must match both.
 *
 * Times are seconds since the epoch, read in UTC: a schedule means the same
 * on every host, whatever its time zone. Pure; safe from any thread.
 */
#ifndef CRON_H
#define CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct cron {
	uint64_t minutes;	   /* bit m: minute m, 0-59 */
	uint32_t hours;		   /* bit h: 0-23 */
	uint32_t mdays;		   /* bit d: day d of the month, 1-31 */
	uint16_t months;	   /* bit m: 1-12 */
	uint8_t wdays;		   /* bit d: 0 Sunday .. 6 Saturday */
	bool mday_star, wday_star; /* the field started with '*' */
};

/*
 * Reads text into c. -1 with e naming the field, the part of it at fault
 * and what was expected, when it is not a schedule.
 */
int cron_parse(struct cron *c, const char *text, struct err *e);

/*
 * The first whole minute after t that c names, or -1 when there is none in
 * the next eight years (`0 0 30 2 *`: February has no 30th).
 */
int64_t cron_next(const struct cron *c, int64_t t);

/* The last whole minute at or before t that c names, or -1 when none in the eight years before. */
int64_t cron_prev(const struct cron *c, int64_t t);

/* Whether c names the minute that t falls in. */
bool cron_matches(const struct cron *c, int64_t t);

#endif
