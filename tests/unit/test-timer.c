#include "proxy/timer.h"

#include <stdlib.h>

#include "unit.h"

static int fired[64];
static int nr_fired;
static struct timer timers[64];

static void on_fire(struct timer *t)
{
	fired[nr_fired++] = (int)(t - timers);
}

static void test_runs_in_deadline_order(void)
{
	struct timer_heap h = TIMER_HEAP_INIT;
	static const uint64_t at[] = {50, 10, 40, 20, 30, 10, 60};
	size_t i;

	nr_fired = 0;
	for (i = 0; i < 7; i++) {
		timers[i] = (struct timer)TIMER_INIT(on_fire);
		timer_arm(&h, &timers[i], at[i]);
	}
	CHECK_INT(timer_next(&h), 10);
	CHECK_INT(timer_run(&h, 9), 0);
	CHECK_INT(timer_run(&h, 35), 4);
	CHECK_INT(nr_fired, 4);
	CHECK(fired[0] == 1 || fired[0] == 5);
	CHECK(fired[1] == 1 || fired[1] == 5);
	CHECK_INT(fired[2], 3);
	CHECK_INT(fired[3], 4);
	CHECK(!timer_armed(&timers[1]));
	CHECK(timer_armed(&timers[0]));
	CHECK_INT(timer_next(&h), 40);
	timer_heap_release(&h);
	CHECK(!timer_armed(&timers[0]));
}

static void test_cancel_and_rearm(void)
{
	struct timer_heap h = TIMER_HEAP_INIT;
	size_t i;

	nr_fired = 0;
	for (i = 0; i < 10; i++) {
		timers[i] = (struct timer)TIMER_INIT(on_fire);
		timer_arm(&h, &timers[i], 100 + i);
	}
	timer_cancel(&h, &timers[0]);
	timer_cancel(&h, &timers[5]);
	timer_cancel(&h, &timers[5]);	/* twice is harmless */
	timer_arm(&h, &timers[9], 1);	/* earlier */
	timer_arm(&h, &timers[1], 500); /* later */
	CHECK_INT(timer_next(&h), 1);
	CHECK_INT(timer_run(&h, 200), 7);
	CHECK_INT(fired[0], 9);
	CHECK_INT(fired[1], 2);
	CHECK_INT(fired[6], 8);
	CHECK_INT(timer_run(&h, 1000), 1);
	CHECK_INT(fired[7], 1);
	CHECK_INT(timer_next(&h), UINT64_MAX);
	timer_heap_release(&h);
}

/* Against a plain array, with random arms, re-arms and cancels. */
static void test_random_against_model(void)
{
	struct timer_heap h = TIMER_HEAP_INIT;
	uint64_t model[64];
	bool armed[64] = {false};
	unsigned seed = 12345;
	int round, i;

	for (i = 0; i < 64; i++) {
		timers[i] = (struct timer)TIMER_INIT(on_fire);
	}
	for (round = 0; round < 5000; round++) {
		int k = (int)(rand_r(&seed) % 64), op = (int)(rand_r(&seed) % 3);
		uint64_t min = UINT64_MAX;

		if (op < 2) {
			model[k] = rand_r(&seed) % 1000;
			armed[k] = true;
			timer_arm(&h, &timers[k], model[k]);
		} else {
			armed[k] = false;
			timer_cancel(&h, &timers[k]);
		}
		for (i = 0; i < 64; i++) {
			if (armed[i] && model[i] < min) {
				min = model[i];
			}
		}
		if (timer_next(&h) != min) {
			CHECK_INT(timer_next(&h), min);
			break;
		}
	}
	nr_fired = 0;
	timer_run(&h, UINT64_MAX - 1);
	for (i = 1; i < nr_fired; i++) {
		CHECK(model[fired[i - 1]] <= model[fired[i]]);
	}
	timer_heap_release(&h);
}

int main(void)
{
	UNIT_RUN(test_runs_in_deadline_order);
	UNIT_RUN(test_cancel_and_rearm);
	UNIT_RUN(test_random_against_model);
	return unit_done();
}
