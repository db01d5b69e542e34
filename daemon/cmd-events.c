/*
 * events — what was done, by which key, to which app: names only (config var
 * names, domains, versions), never a value. With -t, follows new events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/opt.h"

#define EVENTS_SHOWN 100

static long long show(struct bd *bd, const char *app, long long after, size_t limit, int *rc)
{
	struct store_event *evs = NULL;
	struct err e = ERR_INIT;
	size_t n = 0;

	if (store_event_list(&bd->store, after, limit, &evs, &n, &e) < 0) {
		*rc = bd_fail_err(&e);
		err_release(&e);
		return after;
	}
	for (size_t i = 0; i < n; i++) {
		char t[32];
		time_t tt = (time_t)evs[i].time;
		struct tm tm;

		after = evs[i].id;
		if (app ? !evs[i].app || strcmp(evs[i].app, app)
			: !bd->admin && (!evs[i].app || !bd_can(bd, evs[i].app, BD_READ))) {
			continue;
		}
		gmtime_r(&tt, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s %s %s %s%s%s\n", t, evs[i].key ? evs[i].key : "root",
		       evs[i].app ? evs[i].app : "-", evs[i].action, evs[i].names ? " " : "",
		       evs[i].names ? evs[i].names : "");
	}
	fflush(stdout);
	store_events_free(evs, n);
	err_release(&e);
	return after;
}

int cmd_events(struct bd *bd, int argc, const char **argv)
{
	bool tail = false;
	struct opt opts[] = {
	    OPT_BOOL('t', "tail", &tail, "follow new events"),
	    OPT_END(),
	};
	static const char usage[] = "events [-t] [APP]";
	int n = bd_opts(argc - 1, argv + 1, opts, usage), rc = 0;
	const char *app;
	long long after;

	if (n < 0) {
		return 1;
	}
	if (n > 1) {
		return bd_usage(usage);
	}
	app = n == 1 ? argv[1] : NULL;
	if (app && !bd_can(bd, app, BD_READ)) {
		return bd_fail("permission denied");
	}
	after = show(bd, app, 0, EVENTS_SHOWN, &rc);
	while (tail && !rc) {
		sleep(1);
		after = show(bd, app, after, 0, &rc);
	}
	return rc;
}
