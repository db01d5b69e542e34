/*
 * capdeploy — `caprover deploy` against berthd: CapRover's upload routes of
 * /api/v2, the build they start, and the app tokens that may call them.
 *
 *	POST /api/v2/user/apps/appData/APP[?detached=1]
 *		multipart/form-data with sourceFile (a tar, maybe gzip'd) and
 *		gitHash; or JSON {captainDefinitionContent, gitHash}. The body
 *		is streamed (at most CAPDEPLOY_MAX_UPLOAD): multipart -> untar
 *		into a fresh directory under the state dir, never whole in
 *		memory. Then capdef_load says what to do: build the directory
 *		with its Dockerfile, or deploy an image (`caprover deploy -i`).
 *		The build runs in a child process, `berthd hook upload`, which
 *		builds and deploys through push_build and appdeploy_run, as a
 *		`git push` does, under the app's lock, its output going to the
 *		app's build log. detached=1 answers 100 "Deploy is started" at
 *		once; without it the answer waits for the end of the build.
 *	GET  /api/v2/user/apps/appData/APP
 *		{isAppBuilding, isBuildFailed, logs: {firstLineNumber, lines}}:
 *		the last CAPDEPLOY_LOG_LINES lines of the last build, in
 *		CapRover's window shape (lines always that many, empty ones
 *		first; firstLineNumber the number of the first, negative while
 *		the log is shorter than the window).
 *
 *	POST /api/v2/user/apps/appDefinitions/register
 *		admins: JSON {appName, hasPersistentData}: creates the app as
 *		apps:create does (1103 when it exists, 1104 a bad name)
 *
 * Who may call the appData routes: an admin's or an app's deployer's session
 * (x-captain-auth; a viewer gets 1102), or the app's token
 * (x-captain-app-token, made by `panel:app-token APP`; the store keeps its
 * SHA-256 as the app's property CAPDEPLOY_TOKEN_PROP), which is good for
 * this app's two routes and nothing else. An app that does not exist
 * answers 1000 "App not found" (apps are created by apps:create); a second
 * upload while one is building answers 1108; a refused upload (a "../x" or
 * a link in the tar, no Dockerfile, a bad captain-definition) answers 1110
 * saying why, and leaves nothing behind.
 *
 * Per app, under STATE/uploads/APP/: "lock" (flock'd by the upload and the
 * build it starts, for their whole life: isAppBuilding is "someone holds
 * it"), "log" (the build's output), "status" ("building", then "ok" or
 * "failed") and the upload's directory "src-XXXXXX" while it builds.
 */
#ifndef CAPDEPLOY_H
#define CAPDEPLOY_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/berthd.h"
#include "daemon/http.h"
#include "daemon/multipart.h"
#include "daemon/untar.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

#define CAPDEPLOY_MAX_UPLOAD   (512ULL * 1024 * 1024)
#define CAPDEPLOY_MAX_JSON     (1024 * 1024)
#define CAPDEPLOY_LOG_LINES    200
#define CAPDEPLOY_GIT_HASH_MAX 64
#define CAPDEPLOY_TOKEN_PROP   "caprover-app-token"

/*
 * The upload pipeline, pure: a multipart body in, the files of its
 * sourceFile part extracted into dir (untar_dir's rules), its gitHash part
 * kept. Other parts are read and dropped.
 */
struct capdeploy_upload {
	struct multipart mp;
	struct untar_dir ud;
	const char *dir;
	bool ud_open, have_source;
	struct sbuf git_hash;
};

/* For a body of this Content-Type into dir (existing, empty). 0, or -1 with e set. */
int capdeploy_upload_init(struct capdeploy_upload *u, const char *content_type, const char *dir,
			  struct err *e);
/* The next len bytes of the body. 0, or -1 with e set (every later call fails). */
int capdeploy_upload_feed(struct capdeploy_upload *u, const void *buf, size_t len, struct err *e);
/* The body ended: 0 when it was whole and had a sourceFile, else -1 with e set. */
int capdeploy_upload_finish(struct capdeploy_upload *u, struct err *e);
void capdeploy_upload_release(struct capdeploy_upload *u);

/*
 * The last n lines of the file at path into lines (in CapRover's window:
 * always n, empty ones first), *first the number of the first (the count
 * of lines minus n). A missing file is an empty log. 0, or -1 with e set.
 */
int capdeploy_log_window(const char *path, size_t n, long long *first, struct strvec *lines,
			 struct err *e);

/*
 * The app's upload lock (STATE/uploads/APP/lock), taken: its fd; -2 when a
 * build holds it, -1 on an error (e says which).
 */
int capdeploy_lock(const char *state_dir, const char *app, struct err *e);
/* Whether a build or change of the app holds its lock now (CapRover's isAppBuilding). */
bool capdeploy_building(const char *state_dir, const char *app);
/* A new empty directory STATE/uploads/APP/src-XXXXXX for an upload: malloc'd, or NULL with e set.
 */
char *capdeploy_new_dir(const char *state_dir, const char *app, struct err *e);

/* The routes (their data is the struct api): the upload, streamed; the status, in api.c's table. */
extern const struct http_stream_route capdeploy_stream_routes[];
extern const size_t capdeploy_nstream_routes;
void capdeploy_h_app_data(const struct http_request *req, struct http_response *resp, void *data);
/* POST /api/v2/user/apps/appDefinitions/register (admins): {appName, hasPersistentData} */
void capdeploy_h_register(const struct http_request *req, struct http_response *resp, void *data);

/*
 * `berthd hook upload APP DIR REV DOCKERFILE GITHASH|-` and `berthd hook
 * upload APP --image IMAGE`: the child the upload route starts (fd 3 its
 * lock). Builds DIR and deploys it (then removes DIR), or deploys IMAGE;
 * writes the status file. Its exit code.
 */
int capdeploy_hook(struct bd *bd, int argc, const char **argv);

/* panel:app-token APP [--revoke]: prints a new token for APP's deploys once, or revokes it. */
int cmd_panel_app_token(struct bd *bd, int argc, const char **argv);

#endif
