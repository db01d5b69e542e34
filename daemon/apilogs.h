/*
 * apilogs — an app's live logs for the panel and the API, as Server-Sent
 * Events:
 *
 *	GET /api/v1/apps/NAME/logs[?tail=N][&q=TEXT]
 *
 * For a user who may read the app (daemon/apictx.h): the last N lines
 * (default 100, at most 10000) of the output of the app's containers, then
 * what they print, each line an event `data: LINE`, until the client goes.
 * With q, only the lines that hold TEXT (ASCII case ignored). A comment
 * line every APILOGS_KEEPALIVE_S keeps berth-proxy and browsers from
 * taking a quiet stream for a dead one; `event: end` says the output ended
 * (the containers went). The lines come from `berthd logs APP -n N -t`, a
 * child in a process group of its own (daemon/reaper.h), ended with its
 * group when the client goes. An unknown app or one the user may not read:
 * 404, as for GET /api/v1/apps/NAME.
 */
#ifndef APILOGS_H
#define APILOGS_H

#include "daemon/http.h"

#define APILOGS_KEEPALIVE_S 15
#define APILOGS_TAIL_MAX    10000
#define APILOGS_LINE_MAX    8192 /* longer lines are cut */

void apilogs_h_logs(const struct http_request *req, struct http_response *resp, void *data);

/*
 * Appends the events of the complete lines at the start of buf[0, len) that
 * hold q (NULL or "": every line) to out; returns how many bytes it used
 * (the rest is a line not complete yet; a line of APILOGS_LINE_MAX bytes
 * without its end is cut there and used whole). A CR at a line's end is
 * dropped, other control bytes become spaces.
 */
size_t apilogs_events(const char *buf, size_t len, const char *q, struct sbuf *out);

#endif
