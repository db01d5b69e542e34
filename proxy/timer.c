#include "proxy/timer.h"

#include <stdlib.h>

#include "lib/xalloc.h"
#include "lib/banned.h"

static void place(struct timer_heap *h, size_t i, struct timer *t)
{
	h->v[i] = t;
	t->idx = i + 1;
}

static void sift_up(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->v[parent]->at <= t->at) {
			break;
		}
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = l;

		if (l >= h->nr) {
			break;
		}
		if (r < h->nr && h->v[r]->at < h->v[l]->at) {
			min = r;
		}
		if (t->at <= h->v[min]->at) {
			break;
		}
		place(h, i, h->v[min]);
		i = min;
	}
	place(h, i, t);
}

void timer_arm(struct timer_heap *h, struct timer *t, uint64_t at)
{
	size_t i;

	if (t->idx) {
		uint64_t old = t->at;

		t->at = at;
		i = t->idx - 1;
		if (at < old) {
			sift_up(h, i);
		} else if (at > old) {
			sift_down(h, i);
		}
		return;
	}
	XGROW(h->v, h->alloc, h->nr + 1);
	t->at = at;
	i = h->nr++;
	place(h, i, t);
	sift_up(h, i);
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
	size_t i;
	struct timer *last;

	if (!t->idx) {
		return;
	}
	i = t->idx - 1;
	t->idx = 0;
	last = h->v[--h->nr];
	if (i == h->nr) {
		return;
	}
	place(h, i, last);
	if (i > 0 && h->v[(i - 1) / 2]->at > last->at) {
		sift_up(h, i);
	} else {
		sift_down(h, i);
	}
}

uint64_t timer_next(const struct timer_heap *h)
{
	return h->nr ? h->v[0]->at : UINT64_MAX;
}

size_t timer_run(struct timer_heap *h, uint64_t now)
{
	size_t n = 0;

	while (h->nr && h->v[0]->at <= now) {
		struct timer *t = h->v[0];

		timer_cancel(h, t);
		n++;
		t->fn(t);
	}
	return n;
}

void timer_heap_release(struct timer_heap *h)
{
	size_t i;

	for (i = 0; i < h->nr; i++) {
		h->v[i]->idx = 0;
	}
	free(h->v);
	h->v = NULL;
	h->nr = h->alloc = 0;
}
