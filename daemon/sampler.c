#include "daemon/sampler.h"

#include <errno.h>
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
#include "lib/sbuf.h"
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

size_t sampler_forget_gone(struct series *s, const char *state_dir,
			   bool (*exists)(void *arg, const char *app), void *arg)
{
	struct strvec names = STRVEC_INIT;
	struct sbuf path = SBUF_INIT;
	size_t gone = 0;

	series_names(s, &names);
	for (size_t i = 0; i < names.nr; i++) {
		if (exists(arg, names.v[i])) {
			continue;
		}
		series_forget(s, names.v[i]);
		sbuf_reset(&path);
		apicharts_path(&path, state_dir, names.v[i]);
		if (unlink(path.buf) < 0 && errno != ENOENT) {
			log_warn("sampler: cannot remove %s: %s", path.buf, strerror(errno));
		}
		gone++;
	}
	strvec_clear(&names);
	sbuf_release(&path);
	return gone;
}

/* Whether berthd's store has app (an unreadable store: yes, so nothing is lost). */
static bool store_has(void *arg, const char *app)
{
	struct err e = ERR_INIT;
	int r = store_app_get(arg, app, NULL, &e);

	err_release(&e);
	return r != 0;
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
	bool failing = false, save_failing = false, opened = false;
	struct store st;
	struct err se = ERR_INIT;

	/* ends with serve, even when serve could not say so */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	series_init(&s, sampler_capacity(interval), SAMPLER_MAX_APPS);
	if (store_open(&st, state_dir, &se) < 0) {
		log_warn("sampler: %s; destroyed apps' points are kept", err_str(&se));
	} else {
		opened = true;
	}
	err_release(&se);
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
		if (opened) {
			sampler_forget_gone(&s, state_dir, store_has, &st);
		}
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
	if (opened) {
		store_close(&st);
	}
	return 1;
}
