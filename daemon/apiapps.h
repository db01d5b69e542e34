/*
 * apiapps — the JSON API's routes of one app (/api/v1/apps/NAME...) and the
 * jobs its changes start (/api/v1/jobs/ID). Routes (daemon/api.c's table):
 *
 *	GET    /api/v1/apps/NAME		200 the app as GET /api/v1/apps lists it, with
 *						role (the caller's), releases [{version, image,
 *						created, current}] newest first, env [{key}] (names
 *						only: a value is never in any answer) and job (the
 *						app's last {id, action, state}, or null)
 *	POST   /api/v1/apps			{name}: 201 {name}, as apps:create (admins; 409
 *						when it exists)
 *	POST   /api/v1/apps/NAME/rollback	{version}			releases:rollback
 *	POST   /api/v1/apps/NAME/env		{set: {KEY: VALUE}, unset: [KEY]}	config:set,
 *						config:unset (unset first when both)
 *	POST   /api/v1/apps/NAME/domains	{domain}			domains:add
 *	DELETE /api/v1/apps/NAME/domains/DOMAIN					domains:remove
 *	POST   /api/v1/apps/NAME/letsencrypt	{enabled: BOOL}
 *letsencrypt:enable/disable
 *	POST   /api/v1/apps/NAME/scale		{web: N}			ps:scale APP web=N
 *	POST   /api/v1/apps/NAME/deploys	{image}				git:from-image
 *					or a tarball (apiapps_stream)	the build of caprover deploy
 *-t GET    /api/v1/jobs/ID?from=N		{id, app, action, state, lines (the job's output
 *						from line N, 0-based, at most APIAPPS_JOB_LINES),
 *						next}
 * Each change answers 202 {job: ID} once its job runs.
 *
 * Who: an app the user may not read (or that does not exist) answers 404;
 * a change needs the role deployer or admin on the app (a viewer gets 403)
 * and, from a session, the CSRF token and Origin (daemon/apictx.h). A body
 * that is not a JSON object, or a field missing or of the wrong kind,
 * answers 400 naming the field and what was expected; so does a KEY that
 * config:set would refuse, a value it would refuse (a newline, longer than
 * CONFIG_VALUE_MAX), a domain domains:add would refuse, a scale outside
 * 0..APIAPPS_SCALE_MAX — all before any job starts. Every change is an
 * audit event with the keys' names, never a value.
 *
 * Jobs. A change runs in a child process, never on the handler's thread:
 * the handler writes STATE/jobs/ID/ (ID: APIAPPS_JOB_ID_HEX random hex
 * digits; mode 0700) with "app", "action", "status" ("running") and "args"
 * (0600: a JSON array of the commands to run, each an argv array; config
 * values travel there, never in a process's argv), then starts `berthd
 * hook job ID` with its stdout and stderr in "log" (0600). The child reads
 * "args" and removes it first, runs each command of berthd's command table
 * in turn with every right (the handler checked the role; only the
 * commands above are allowed), stopping at the first failure, and writes
 * "status" ("succeeded" or "failed") itself: berthd serve reaps every child
 * without looking. A new job keeps the APIAPPS_JOBS_KEPT newest job
 * directories of its app and removes the rest.
 */
#ifndef APIAPPS_H
#define APIAPPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/berthd.h"
#include "daemon/http.h"
#include "lib/err.h"
#include "lib/strvec.h"

#define APIAPPS_JOB_ID_HEX 32
#define APIAPPS_JOBS_KEPT  20
#define APIAPPS_JOB_LINES  2000
#define APIAPPS_SCALE_MAX  100
#define APIAPPS_MAX_JSON   (256 * 1024)

/*
 * POST /api/v1/apps/..., streamed (in capdeploy_stream_routes): a body of
 * Content-Type application/x-tar or application/gzip to .../deploys is a
 * build context, unpacked as `caprover deploy -t`'s upload is (under the
 * app's upload lock, into STATE/uploads/APP/src-*: capdeploy.h) and built
 * by a job (the action "upload") as that upload is, or deployed as its
 * captain-definition's image says; any other body is a JSON change
 * (APIAPPS_MAX_JSON at most) answered as apiapps_h_change answers it.
 */
extern const struct http_stream apiapps_stream;

/* The handlers (their data is the struct api). */
void apiapps_h_app(const struct http_request *req, struct http_response *resp, void *data);
void apiapps_h_create(const struct http_request *req, struct http_response *resp, void *data);
void apiapps_h_change(const struct http_request *req, struct http_response *resp, void *data);
void apiapps_h_domain_delete(const struct http_request *req, struct http_response *resp,
			     void *data);
void apiapps_h_job(const struct http_request *req, struct http_response *resp, void *data);

/*
 * Starts a job of app (keyed by it: GET /api/v1/jobs/ID is for those who
 * may read app, and admins) running cmds (a JSON array of argv arrays of
 * the commands above; it holds secrets: it goes to a 0600 file only), with
 * lock as its fd 3 unless -1: id gets its ID. 0, or -1 with e set.
 */
struct api;
int apiapps_job_start(const struct api *api, const char *app, const char *action, json_t *cmds,
		      int lock, char id[APIAPPS_JOB_ID_HEX + 1], struct err *e);

/* Whether id is a job's ID (APIAPPS_JOB_ID_HEX lowercase hex digits). */
bool apiapps_valid_job_id(const char *id);

/*
 * Lines from..from+max of the file at path (a missing file: none), each
 * without its '\n' (a last line without one counts; a line is cut at 4096
 * bytes); *next the number of the line after the last given. 0, or -1
 * with e set.
 */
int apiapps_log_lines(const char *path, long long from, size_t max, struct strvec *lines,
		      long long *next, struct err *e);

/*
 * `berthd hook job ID`: the child a change starts. run is berthd's
 * dispatcher of its command table (main.c). Its exit code.
 */
int apiapps_hook_job(struct bd *bd, const char *id,
		     int (*run)(struct bd *bd, int argc, const char **argv));

#endif
