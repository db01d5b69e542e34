/*
 * apioneclick — the JSON API's deploy of a one-click app template
 * (daemon/oneclick.h, daemon/ocinstall.h). Route (daemon/api.c's table):
 *
 *	POST /api/v1/oneclick	{"template": NAME} (one of berthd's, oneclick:list)
 *				or {"yaml": TEXT} (a template of its own), and
 *				"values": {"$$cap_appname": APP, "$$cap_ID": VALUE, ...}
 *				(ids with or without "$$cap_"; strings)
 *		202 {"job": ID, "apps": [names, in deploy order]}
 *
 * Everything is checked before the job starts, as oneclick:deploy checks
 * it: a body of another shape, a template that does not parse (its line),
 * a value failing its validRegex, an unknown variable, an app of the plan
 * that exists already: 400 {"error": ...} naming the field, the line, the
 * variable or the app. Only an admin deploys templates (403 otherwise); from
 * a session, the CSRF token and Origin too (daemon/apictx.h).
 *
 * Then ONE job (daemon/apiapps.h) runs `oneclick:deploy` in-process, of the
 * app named by appname (GET /api/v1/jobs/ID shows its state and output):
 * the template's text and the values travel in the job's 0600 args file
 * (the text as --yaml), never in a process's argv; the audit event names
 * the template and the job, never a value.
 */
#ifndef APIONECLICK_H
#define APIONECLICK_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/http.h"
#include "daemon/oneclick.h"
#include "lib/err.h"

#define APIONECLICK_MAX_BODY (ONECLICK_MAX_SIZE + 256 * 1024)

/* A request's body, read (pointers into the JSON document it came from). */
struct apioneclick_req {
	const char *template; /* a shipped template's name, or NULL */
	const char *yaml;     /* or the template's text */
	struct oneclick_value *values;
	size_t nvalues;
};

/*
 * Reads body (a JSON object) into r: exactly one of template and yaml, a
 * string; values an object of strings (at most ONECLICK_MAX_VARS). 0, or
 * -1 with e naming the field and what was expected (r then empty). r's
 * strings live as long as body.
 */
int apioneclick_parse(json_t *body, struct apioneclick_req *r, struct err *e);
void apioneclick_req_release(struct apioneclick_req *r);

/* POST /api/v1/oneclick (its data is the struct api). */
void apioneclick_h_deploy(const struct http_request *req, struct http_response *resp, void *data);

#endif
