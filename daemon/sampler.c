#include "daemon/sampler.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "daemon/apicharts.h"
#include "daemon/berthd.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

int sampler_interval_parse(const char *s, unsigned *out, struct err *e)
{
	unsigned long v;

	if (!s || !*s || strlen(s) > 4 || strspn(s, "0123456789") != strlen(s) ||
	    (v = strtoul(s, NULL, 10)) < 1 || v > SAMPLER_MAX_INTERVAL) {
		return err_set(e, "expected a sample interval in seconds from 1 to %u, got '%s'",
			       SAMPLER_MAX_INTERVAL, s ? s : "");
	}
	*out = (unsigned)v;
	return 0;
}

unsigned sampler_capacity(unsigned interval)
{
	unsigned n = APICHARTS_WINDOW / (interval ? interval : 1) + 1;

	return n > APICHARTS_MAX_POINTS ? APICHARTS_MAX_POINTS : n;
}

int sampler_save_all(struct series *s, const char *state_dir, int64_t now, struct err *e)
{
	struct strvec names = STRVEC_INIT;
	struct series_point *p = xcalloc(s->capacity + 1, sizeof(*p));
	struct err one = ERR_INIT;
	int r = 0;

	series_names(s, &names);
	for (size_t i = 0; i < names.nr; i++) {
		size_t n = series_get(s, names.v[i], p, s->capacity), from = 0;

		while (from < n && p[from].t <= now - APICHARTS_WINDOW) {
			from++;
		}
		if (apicharts_save(state_dir, names.v[i], p + from, n - from, &one) < 0 && !r) {
			r = err_set(e, "%s", err_str(&one));
		}
		err_release(&one);
	}
	strvec_clear(&names);
	free(p);
	return r;
}

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	stopping = sig;
}

int sampler_run(const char *state_dir, unsigned interval)
{
	struct series s;
	struct sigaction sa = {0};
	pid_t parent = getppid();
	bool failing = false, save_failing = false;

	/* ends with serve, even when serve could not say so */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	series_init(&s, sampler_capacity(interval), SAMPLER_MAX_APPS);
	log_info("sampler: berth-proxy's metrics every %us, into %s/metrics", interval, state_dir);
	while (!stopping && getppid() == parent) {
		unsigned long long start = run_now_ms(), end = start + 1000ull * interval;
		int64_t now = (int64_t)time(NULL);
		struct err e = ERR_INIT;

		if (metrics_sample(&s, now, &e) < 0) {
			if (!failing) {
				log_warn("sampler: %s; trying again every %us, quietly",
					 err_str(&e), interval);
			}
			failing = true;
		} else if (failing) {
			log_info("sampler: berth-proxy's metrics read again");
			failing = false;
		}
		err_release(&e);
		if (sampler_save_all(&s, state_dir, now, &e) < 0) {
			if (!save_failing) {
				log_error("sampler: %s", err_str(&e));
			}
			save_failing = true;
		} else {
			save_failing = false;
		}
		err_release(&e);
		for (unsigned long long t = run_now_ms(); !stopping && t < end; t = run_now_ms()) {
			unsigned long long left = end - t;

			usleep(left > 200 ? 200000 : (useconds_t)(left * 1000));
		}
	}
	series_release(&s);
	return 1;
}
