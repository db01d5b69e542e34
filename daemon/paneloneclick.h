/*
 * paneloneclick — the panel's one-click apps (daemon/oneclick.h): the
 * shipped templates, the form a template asks for, and the page an admin
 * fills it on. Routes (daemon/api.c's table):
 *
 *	GET  /api/v1/oneclick/templates	any user: {templates: [{name, displayName,
 *					description}]}, the shipped ones
 *	POST /api/v1/oneclick/form	any user: {template: NAME} or {yaml: TEXT}:
 *					200 the form (paneloneclick_form_json); 400
 *					{error} for a bad body or a template that does
 *					not parse ("the template, line N, column C: ..."),
 *					404 {error} for no shipped template of that name
 *	GET  /oneclick[?template=NAME]	admins (a page; others: a 403 page): the
 *					shipped templates, a textarea and a file input
 *					for one's own, and NAME's form rendered here; a
 *					pasted template's form is built by panel.js from
 *					POST /api/v1/oneclick/form, from the same fields
 *
 * The form sends POST /api/v1/oneclick {template | yaml, values: {ID:
 * VALUE}} (daemon/apioneclick.c), a value only for a field not left empty
 * (an empty one takes the default), and follows the job it starts.
 *
 * A field: its label, its description and what an empty field gives
 * (paneloneclick_field), the default prefilled when it is plain text (not
 * for a secret, and not one with a $$cap_ variable in it: those are made
 * at deploy: $$cap_gen_random_hex is never generated here), type=password
 * for a secret, and the validRegex as an HTML pattern only when it means
 * the same in the browser (paneloneclick_pattern); berthd checks every
 * value again in any case. Every text of a template is escaped on the
 * page and is JSON text in the answers. Internal to daemon/.
 */
#ifndef PANELONECLICK_H
#define PANELONECLICK_H

#include <jansson.h>

#include "daemon/http.h"
#include "daemon/oneclick.h"
#include "lib/sbuf.h"

/* Route handlers (api_routes[]); the data is the struct api. */
void paneloneclick_h_templates(const struct http_request *req, struct http_response *resp,
			       void *data);
void paneloneclick_h_form(const struct http_request *req, struct http_response *resp, void *data);
void paneloneclick_h_page(const struct http_request *req, struct http_response *resp, void *data);

/*
 * The JavaScript regex literal js (a validRegex) as the value of an HTML
 * pattern attribute, malloc'd, when the browser reads it as berthd does;
 * else NULL. Only a literal without flags, anchored by ^ and $ at its ends,
 * made of letters, digits, '_', \d \w \s \D \W \S, escaped punctuation,
 * groups without '?', plain quantifiers and classes of letters, digits,
 * ranges, '_', '.', and such escapes qualifies: no alternation, nothing
 * a browser's pattern (compiled with the v flag) reads otherwise or refuses.
 */
char *paneloneclick_pattern(const char *js);

/* What the form shows of a variable besides its label and description. */
struct paneloneclick_field {
	const char *prefill; /* the input's value: the default, or NULL */
	char *note;	     /* what an empty field gives (malloc'd), or NULL */
	char *pattern;	     /* paneloneclick_pattern of its regex, or NULL */
	bool required;	     /* $$cap_appname */
};
void paneloneclick_field(const struct oneclick_var *v, size_t index, struct paneloneclick_field *f);
void paneloneclick_field_release(struct paneloneclick_field *f);

/*
 * The form of t as JSON: {displayName, description, documentation,
 * instructions: {start, end}, services: [names as written], warnings,
 * variables: [{id, label, default (as written), description, regex,
 * secret, required, pattern, prefill, note}]}; absent texts are null.
 */
json_t *paneloneclick_form_json(const struct oneclick *t);

/*
 * The form of t as HTML (a <section id="oneclick-chosen">), every text
 * escaped; name is the shipped template's (the form's data-template), or
 * NULL for a pasted one.
 */
void paneloneclick_form_html(struct sbuf *sb, const struct oneclick *t, const char *name);

#endif
