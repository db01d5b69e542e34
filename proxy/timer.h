/*
 * timer — a binary min-heap of deadlines, one per worker.
 *
 * Every connection carries a few timers (header read, idle, target); arming,
 * re-arming and cancelling are O(log n) and never allocate once the heap has
 * grown to the number of live timers. Times are milliseconds on the caller's
 * clock (berth-proxy reads CLOCK_MONOTONIC once per loop iteration).
 *
 *	struct timer_heap h = TIMER_HEAP_INIT;
 *	struct timer t = TIMER_INIT(on_expire);
 *	timer_arm(&h, &t, now + 1000);
 *	...
 *	timer_run(&h, now);        // calls on_expire for every deadline <= now
 *	timer_heap_release(&h);
 *
 * A timer is owned by whoever embeds it; the heap only points at it, so a
 * timer must be cancelled before its memory is freed.
 */
#ifndef TIMER_H
#define TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer;
typedef void (*timer_fn)(struct timer *t);

struct timer {
	uint64_t at; /* deadline, ms */
	size_t idx;  /* position in the heap + 1; 0 while not armed */
	timer_fn fn; /* called once when the deadline passes; the timer is disarmed first */
};

#define TIMER_INIT(f)                                                                              \
	{                                                                                          \
		0, 0, (f)                                                                          \
	}

struct timer_heap {
	struct timer **v;
	size_t nr, alloc;
};

#define TIMER_HEAP_INIT                                                                            \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

static inline bool timer_armed(const struct timer *t)
{
	return t->idx != 0;
}
/* Arms t for deadline at, or moves it there if it is armed already. */
void timer_arm(struct timer_heap *h, struct timer *t, uint64_t at);
/* Disarms t; nothing happens if it is not armed. */
void timer_cancel(struct timer_heap *h, struct timer *t);
/* The earliest deadline, or UINT64_MAX when no timer is armed. */
uint64_t timer_next(const struct timer_heap *h);
/* Runs every timer whose deadline is <= now, earliest first. Returns how many ran. */
size_t timer_run(struct timer_heap *h, uint64_t now);
void timer_heap_release(struct timer_heap *h);

#endif
