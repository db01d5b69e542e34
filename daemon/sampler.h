/*
 * sampler — `berthd hook sampler [--interval SECONDS]`, the process that
 * records every app's traffic for the panel's charts (daemon/apicharts.h).
 *
 * berthd serve starts it at boot and again, after a pause, when it exits;
 * it is a process of its own so that the children it runs are its own to
 * reap (serve reaps every child it has with waitpid(-1)). Every interval
 * (default SAMPLER_INTERVAL seconds; `berthd serve --sample-interval` for
 * tests) it reads this host's berth-proxy's counters with `docker exec
 * berth-proxy berth-proxy metrics` (a bounded run), adds them to its series
 * (daemon/series.h: the difference from the previous sample makes a point;
 * a failed read, a gap) and writes each app's points of the last hour to
 * STATE/metrics/APP.json (apicharts_save: whole, or not at all).
 *
 * A proxy that is not running, or too old for the metrics command, is
 * logged once; the sampler keeps trying quietly and says when it reads the
 * counters again. Apps berthd no longer has are dropped at each sample
 * (sampler_forget_gone, asking berthd's store). It ends when serve does (SIGTERM from serve, or its
 * parent gone).
 */
#ifndef SAMPLER_H
#define SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/series.h"
#include "lib/err.h"

#define SAMPLER_INTERVAL     10	  /* seconds between samples by default */
#define SAMPLER_MAX_INTERVAL 3600 /* seconds between samples at most */
#define SAMPLER_MAX_APPS     1000 /* apps recorded at most */

/* A sample interval, "1" to "3600" seconds, into *out: 0, or -1 with e set. */
int sampler_interval_parse(const char *s, unsigned *out, struct err *e);

/* How many points an hour holds at this interval (the series' capacity). */
unsigned sampler_capacity(unsigned interval);

/*
 * Writes the points of every app s keeps, those after now - an hour, to
 * its file under state_dir. 0, or -1 with e set (the first failure; the
 * other apps are still written).
 */
int sampler_save_all(struct series *s, const char *state_dir, int64_t now, struct err *e);

/*
 * Forgets every app s keeps that exists(arg, app) says berthd no longer has
 * (a destroyed app: berth-proxy may still count its route until it goes),
 * and removes its file under state_dir, so that a new app of that name
 * starts without the old one's points. Returns how many were forgotten.
 */
size_t sampler_forget_gone(struct series *s, const char *state_dir,
			   bool (*exists)(void *arg, const char *app), void *arg);

/* `berthd hook sampler`: samples every interval seconds until it is stopped. Returns 1. */
int sampler_run(const char *state_dir, unsigned interval);

#endif
