/* paneloneclick — see paneloneclick.h. */
#include "daemon/paneloneclick.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/api.h"
#include "daemon/apictx.h"
#include "daemon/panel.h"
#include "daemon/store.h"
#include "engine/scripts.h"
#include "lib/banned.h"
#include "lib/jtext.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define RANDOM_HEX "$$cap_gen_random_hex("

/* ---- the pattern attribute ---- */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int kind(char c)
{
	return c >= 'a' && c <= 'z' ? 0 : c >= 'A' && c <= 'Z' ? 1 : 2;
}

/* Punctuation a regex reads as itself: escaped, it means the same everywhere. */
static bool is_syntax(char c)
{
	return c && strchr("^$\\.*+?()[]{}|/", c) != NULL;
}

/* A class [...] at *p (past its '['): true with *p past its ']' when it qualifies. */
static bool class_ok(const char **p)
{
	const char *s = *p;
	size_t items = 0;

	if (*s == '^') {
		s++;
	}
	for (; *s && *s != ']'; items++) {
		if (*s == '\\') {
			if (!s[1] || !(strchr("dws", s[1]) || is_syntax(s[1]) || s[1] == '-')) {
				return false;
			}
			s += 2;
			continue;
		}
		if ((!is_alnum(*s) && *s != '_' && *s != '.') || (*s == '.' && s[1] == '.')) {
			return false; /* ".." is reserved in a v-flag class */
		}
		/* a range: both ends lowercase letters, uppercase letters or digits */
		if (s[1] == '-') {
			if (!is_alnum(*s) || !is_alnum(s[2]) || s[2] < *s ||
			    kind(*s) != kind(s[2])) {
				return false;
			}
			s += 3;
			continue;
		}
		s++;
	}
	if (*s != ']' || !items) {
		return false;
	}
	*p = s + 1;
	return true;
}

/* A quantifier {N}, {N,} or {N,M} at *p (past its '{'), N and M of at most 3 digits. */
static bool braces_ok(const char **p)
{
	const char *s = *p;
	const char *d = s;
	int min = 0, max;

	while (*s >= '0' && *s <= '9') {
		min = min * 10 + (*s++ - '0');
		if (s - d > 3) {
			return false;
		}
	}
	if (s == d) {
		return false;
	}
	if (*s == ',') {
		s++;
		d = s;
		max = 0;
		while (*s >= '0' && *s <= '9') {
			max = max * 10 + (*s++ - '0');
			if (s - d > 3) {
				return false;
			}
		}
		if (s > d && max < min) {
			return false; /* out of order: an error to both */
		}
	}
	if (*s != '}') {
		return false;
	}
	*p = s + 1;
	return true;
}

char *paneloneclick_pattern(const char *js)
{
	const char *end, *s;
	char *body = NULL;
	int depth = 0;
	bool atom = false; /* what comes last can take a quantifier */
	size_t n;

	if (!js || js[0] != '/' || !(end = strrchr(js, '/')) || end == js || end[1]) {
		return NULL; /* not a literal, or flags */
	}
	n = (size_t)(end - js - 1);
	if (n < 2 || js[1] != '^' || end[-1] != '$' || (n >= 3 && end[-2] == '\\')) {
		return NULL;
	}
	body = xstrndup(js + 1, n);
	body[n - 1] = 0; /* the inside, between ^ and $ */
	for (s = body + 1; *s;) {
		char c = *s;

		if (c == '\\') {
			/* an escaped '|' too: a pattern holds no '|' at all */
			if (!(s[1] &&
			      (strchr("dDwWsS", s[1]) || (is_syntax(s[1]) && s[1] != '|')))) {
				goto no;
			}
			s += 2;
			atom = true;
		} else if (c == '[') {
			s++;
			if (!class_ok(&s)) {
				goto no;
			}
			atom = true;
		} else if (c == '{') {
			s++;
			if (!atom || !braces_ok(&s) || *s == '?') {
				goto no;
			}
			atom = false;
		} else if (c == '(') {
			if (s[1] == '?') {
				goto no;
			}
			depth++;
			s++;
			atom = false;
		} else if (c == ')') {
			if (--depth < 0) {
				goto no;
			}
			s++;
			atom = true;
		} else if (c == '*' || c == '+' || c == '?') {
			if (!atom || s[1] == '?') {
				goto no; /* nothing to repeat, or lazy */
			}
			s++;
			atom = false;
		} else if (is_alnum(c) || c == '_' || c == '.' || c == '-' || c == ',' ||
			   c == ':' || c == '@' || c == '=') {
			s++;
			atom = true;
		} else {
			goto no;
		}
	}
	if (depth) {
		goto no;
	}
	free(body);
	return xstrndup(js + 1, n);
no:
	free(body);
	return NULL;
}

/* ---- a form's field ---- */

void paneloneclick_field(const struct oneclick_var *v, size_t index, struct paneloneclick_field *f)
{
	struct sbuf note = SBUF_INIT;

	memset(f, 0, sizeof(*f));
	f->required = index == 0;
	f->pattern = v->regex ? paneloneclick_pattern(v->regex) : NULL;
	if (!v->def || !*v->def) {
		/* no default: nothing to say */
	} else if (strstr(v->def, RANDOM_HEX)) {
		sbuf_addstr(&note, "Empty: generated at deploy.");
	} else if (v->secret) {
		sbuf_addstr(&note, "Empty: the template's default.");
	} else if (strstr(v->def, "$$cap_")) {
		sbuf_addf(&note, "Empty: %s, filled in at deploy.", v->def);
	} else {
		f->prefill = v->def;
		sbuf_addf(&note, "Default: %s.", v->def);
	}
	f->note = note.len ? sbuf_detach(&note, NULL) : NULL;
	sbuf_release(&note);
}

void paneloneclick_field_release(struct paneloneclick_field *f)
{
	free(f->note);
	free(f->pattern);
	memset(f, 0, sizeof(*f));
}

/* ---- the form as JSON ---- */

json_t *paneloneclick_form_json(const struct oneclick *t)
{
	json_t *vars = json_array(), *svcs = json_array(), *warn = json_array();

	for (size_t i = 0; i < t->nvars; i++) {
		const struct oneclick_var *v = &t->vars[i];
		struct paneloneclick_field f;

		paneloneclick_field(v, i, &f);
		json_array_append_new(
		    vars,
		    json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:o, s:o, s:o}", "id",
			      jtext_string(v->id), "label", jtext_string(v->label), "default",
			      jtext_string(v->def), "description", jtext_string(v->description),
			      "regex", jtext_string(v->regex), "secret", v->secret, "required",
			      f.required, "pattern", jtext_string(f.pattern), "prefill",
			      jtext_string(f.prefill), "note", jtext_string(f.note)));
		paneloneclick_field_release(&f);
	}
	for (size_t i = 0; i < t->nservices; i++) {
		json_array_append_new(svcs, jtext_string(t->services[i].name));
	}
	for (size_t i = 0; i < t->warnings.nr; i++) {
		json_array_append_new(warn, jtext_string(t->warnings.v[i]));
	}
	return json_pack("{s:o, s:o, s:o, s:{s:o, s:o}, s:o, s:o, s:o}", "displayName",
			 jtext_string(t->display_name), "description", jtext_string(t->description),
			 "documentation", jtext_string(t->documentation), "instructions", "start",
			 jtext_string(t->start), "end", jtext_string(t->end), "services", svcs,
			 "warnings", warn, "variables", vars);
}

/* ---- the form as HTML ---- */

void paneloneclick_form_html(struct sbuf *sb, const struct oneclick *t, const char *name)
{
	sbuf_addstr(sb, "<section id=\"oneclick-chosen\" aria-labelledby=\"oneclick-chosen-h\">\n"
			"<h2 id=\"oneclick-chosen-h\" tabindex=\"-1\">");
	sbuf_add_markup(sb, t->display_name ? t->display_name : name ? name : "Your template");
	sbuf_addstr(sb, "</h2>\n");
	if (t->description) {
		sbuf_addstr(sb, "<p class=\"lines\">");
		sbuf_add_markup(sb, t->description);
		sbuf_addstr(sb, "</p>\n");
	}
	if (t->start) {
		sbuf_addstr(sb, "<p class=\"lines hint\">");
		sbuf_add_markup(sb, t->start);
		sbuf_addstr(sb, "</p>\n");
	}
	sbuf_addstr(sb, "<p>Services (each becomes an app): ");
	for (size_t i = 0; i < t->nservices; i++) {
		sbuf_addstr(sb, i ? ", <code>" : "<code>");
		sbuf_add_markup(sb, t->services[i].name);
		sbuf_addstr(sb, "</code>");
	}
	sbuf_addstr(sb, "</p>\n");
	if (t->warnings.nr) {
		sbuf_addstr(sb, "<ul class=\"hint\">\n");
		for (size_t i = 0; i < t->warnings.nr; i++) {
			sbuf_addstr(sb, "<li>");
			sbuf_add_markup(sb, t->warnings.v[i]);
			sbuf_addstr(sb, "</li>\n");
		}
		sbuf_addstr(sb, "</ul>\n");
	}
	sbuf_addstr(sb, "<form id=\"oneclick-form\"");
	if (name) {
		sbuf_addstr(sb, " data-template=\"");
		sbuf_add_markup(sb, name);
		sbuf_addstr(sb, "\"");
	}
	sbuf_addstr(sb, ">\n");
	for (size_t i = 0; i < t->nvars; i++) {
		const struct oneclick_var *v = &t->vars[i];
		struct paneloneclick_field f;

		paneloneclick_field(v, i, &f);
		sbuf_addf(sb, "<p class=\"field\"><label for=\"oc-var-%zu\">", i);
		sbuf_add_markup(sb, v->label);
		sbuf_addf(sb, "</label>\n<span class=\"hint lines\" id=\"oc-var-%zu-hint\">", i);
		if (v->description) {
			sbuf_add_markup(sb, v->description);
			sbuf_addstr(sb, f.note ? " " : "");
		}
		sbuf_add_markup(sb, f.note);
		sbuf_addf(sb, "</span>\n<input id=\"oc-var-%zu\" data-var=\"", i);
		sbuf_add_markup(sb, v->id);
		sbuf_addf(sb, "\" aria-describedby=\"oc-var-%zu-hint\"", i);
		if (v->secret) {
			sbuf_addstr(sb, " type=\"password\" autocomplete=\"new-password\"");
		} else {
			sbuf_addstr(sb, " autocomplete=\"off\" autocapitalize=\"none\" "
					"spellcheck=\"false\"");
		}
		if (f.required) {
			sbuf_addstr(sb, " required");
		}
		if (f.pattern) {
			sbuf_addstr(sb, " pattern=\"");
			sbuf_add_markup(sb, f.pattern);
			sbuf_addstr(sb, "\"");
		}
		if (f.prefill && !v->secret) {
			sbuf_addstr(sb, " value=\"");
			sbuf_add_markup(sb, f.prefill);
			sbuf_addstr(sb, "\"");
		}
		sbuf_addstr(sb, "></p>\n");
		paneloneclick_field_release(&f);
	}
	sbuf_addstr(sb, "<p id=\"oneclick-error\" class=\"error\" role=\"alert\" "
			"tabindex=\"-1\"></p>\n"
			"<p><button type=\"submit\" id=\"oneclick-submit\">Deploy</button></p>\n"
			"</form>\n</section>\n");
}

/* ---- the API ---- */

/* A shipped template's parse; -1 when there is none (or it fails, which tests rule out). */
static int builtin_parse(const char *name, struct oneclick *t, struct err *e)
{
	const char *text = oneclick_builtin(name);

	if (!text) {
		return -1;
	}
	return oneclick_parse(t, name, text, strlen(text), e);
}

void paneloneclick_h_templates(const struct http_request *req, struct http_response *resp,
			       void *data)
{
	struct apictx c;
	struct store_user u = {0};
	json_t *arr = json_array();

	if (apictx_open_setup(&c, req, resp, data) < 0 || apictx_auth(&c, req, resp, &u, 0) <= 0) {
		goto out;
	}
	for (const struct script_file *f = oneclick_builtins(); f->name; f++) {
		struct oneclick t = ONECLICK_INIT;
		struct err e = ERR_INIT;

		if (builtin_parse(f->name, &t, &e) < 0) {
			log_error("http: shipped template %s: %s", f->name, err_str(&e));
		} else {
			json_array_append_new(
			    arr, json_pack("{s:s, s:o, s:o}", "name", f->name, "displayName",
					   jtext_string(t.display_name), "description",
					   jtext_string(t.description)));
		}
		oneclick_release(&t);
		err_release(&e);
	}
	http_reply_json(resp, 200, json_pack("{s:O}", "templates", arr));
out:
	json_decref(arr);
	store_user_release(&u);
	apictx_close(&c);
}

/* A template's error as the API says it: "the template, line N, column C: WHAT". */
static void template_fail(struct http_response *resp, struct err *e)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addstr(&sb, "the template");
	if (e->line) {
		sbuf_addf(&sb, ", line %u", e->line);
		if (e->col) {
			sbuf_addf(&sb, ", column %u", e->col);
		}
	}
	sbuf_addf(&sb, ": %s", e->msg.buf);
	apictx_fail(resp, 400, sb.buf);
	sbuf_release(&sb);
}

void paneloneclick_h_form(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct oneclick t = ONECLICK_INIT;
	struct err e = ERR_INIT;
	json_t *b = NULL, *jt, *jy;
	const char *name, *yaml;

	if (apictx_open_setup(&c, req, resp, data) < 0 || apictx_auth(&c, req, resp, &u, 0) <= 0 ||
	    !(b = apictx_json_body(req, resp))) {
		goto out;
	}
	jt = json_object_get(b, "template");
	jy = json_object_get(b, "yaml");
	name = json_string_value(jt);
	yaml = json_string_value(jy);
	if ((jt && !name) || (jy && !yaml) || !jt == !jy) {
		apictx_fail(resp, 400,
			    "expected {\"template\": NAME} (a shipped template, as GET "
			    "/api/v1/oneclick/templates lists them) or {\"yaml\": TEXT} (a "
			    "one-click app template)");
		goto out;
	}
	if (name) {
		if (!oneclick_builtin(name)) {
			apictx_fail(resp, 404,
				    "template: no shipped template of that name (GET "
				    "/api/v1/oneclick/templates lists them)");
			goto out;
		}
		if (builtin_parse(name, &t, &e) < 0) {
			log_error("http: shipped template %s: %s", name, err_str(&e));
			apictx_fail(resp, 500, "the shipped template does not parse");
			goto out;
		}
	} else if (oneclick_parse(&t, "template", yaml, json_string_length(jy), &e) < 0) {
		template_fail(resp, &e);
		goto out;
	}
	http_reply_json(resp, 200, paneloneclick_form_json(&t));
out:
	oneclick_release(&t);
	err_release(&e);
	json_decref(b);
	store_user_release(&u);
	apictx_close(&c);
}

/* ---- the page ---- */

/* The shipped templates, each a link to its form (NAME: the one shown). */
static void templates_section(struct sbuf *sb, const char *chosen)
{
	sbuf_addstr(sb,
		    "<section id=\"oneclick-templates\" aria-labelledby=\"oneclick-templates-h\">"
		    "\n<h2 id=\"oneclick-templates-h\">Templates</h2>\n"
		    "<ul id=\"template-list\" class=\"items\">\n");
	for (const struct script_file *f = oneclick_builtins(); f->name; f++) {
		struct oneclick t = ONECLICK_INIT;
		struct err e = ERR_INIT;

		if (builtin_parse(f->name, &t, &e) < 0) {
			log_error("http: shipped template %s: %s", f->name, err_str(&e));
		} else {
			bool cur = chosen && !strcmp(chosen, f->name);

			sbuf_addstr(sb, "<li data-template=\"");
			sbuf_add_markup(sb, f->name);
			sbuf_addstr(sb, "\"><span><a href=\"/oneclick?template=");
			sbuf_add_markup(sb, f->name);
			sbuf_addf(sb, "\"%s>", cur ? " aria-current=\"page\"" : "");
			sbuf_add_markup(sb, t.display_name ? t.display_name : f->name);
			sbuf_addstr(sb, "</a>");
			if (t.description) {
				sbuf_addstr(sb, "<br><span class=\"hint\">");
				sbuf_add_markup(sb, t.description);
				sbuf_addstr(sb, "</span>");
			}
			sbuf_addstr(sb, "</span></li>\n");
		}
		oneclick_release(&t);
		err_release(&e);
	}
	sbuf_addstr(sb, "</ul>\n</section>\n");
}

static void paste_section(struct sbuf *sb)
{
	sbuf_addf(sb,
		  "<section id=\"oneclick-paste\" aria-labelledby=\"oneclick-paste-h\">\n"
		  "<h2 id=\"oneclick-paste-h\">Your own template</h2>\n"
		  "<form id=\"oneclick-yaml-form\">\n"
		  "<p class=\"field\"><label for=\"oneclick-file\">A template file (CapRover's "
		  "one-click app format, captainVersion 4)</label>\n"
		  "<input id=\"oneclick-file\" type=\"file\" accept=\".yml,.yaml\"></p>\n"
		  "<p class=\"field\"><label for=\"oneclick-yaml\">or the template's text (at most "
		  "%u KiB)</label>\n"
		  "<textarea id=\"oneclick-yaml\" rows=\"10\" spellcheck=\"false\" "
		  "autocapitalize=\"none\" autocomplete=\"off\"></textarea></p>\n"
		  "<p id=\"oneclick-yaml-error\" class=\"error\" role=\"alert\" "
		  "tabindex=\"-1\"></p>\n"
		  "<p><button type=\"submit\" id=\"oneclick-load\">Show its form</button></p>\n"
		  "</form>\n</section>\n",
		  ONECLICK_MAX_SIZE / 1024);
}

void paneloneclick_h_page(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct sbuf csrf = SBUF_INIT, sb = SBUF_INIT;
	struct oneclick t = ONECLICK_INIT;
	struct err e = ERR_INIT;
	char *name = NULL;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    panel_page_user(&c, req, resp, &u, &csrf) <= 0) {
		goto out;
	}
	if (strcmp(u.role, "admin")) {
		panel_message_page(resp, 403, "Admins only",
				   "Only an admin may deploy one-click apps.", &u, csrf.buf);
		goto out;
	}
	name = http_form_get(req->query, strlen(req->query), "template");
	if (name && !oneclick_builtin(name)) {
		panel_message_page(resp, 404, "No such template",
				   "There is no shipped template of that name.", &u, csrf.buf);
		goto out;
	}
	if (name && builtin_parse(name, &t, &e) < 0) {
		err_set(&c.e, "shipped template %s: %s", name, err_str(&e));
		panel_server_error(&c, resp);
		goto out;
	}
	panel_page_begin(&sb, name && t.display_name ? t.display_name : "One-click apps", csrf.buf,
			 "oneclick", &u);
	sbuf_addstr(&sb, "<main id=\"oneclick\">\n<p class=\"crumbs\"><a href=\"/\">Apps</a></p>\n"
			 "<h1>One-click apps</h1>\n"
			 "<p>Pick a template, or give one of your own; fill in its form, and berth "
			 "makes and deploys its apps.</p>\n");
	if (name) {
		paneloneclick_form_html(&sb, &t, name);
	} else {
		sbuf_addstr(&sb, "<div id=\"oneclick-chosen\" hidden></div>\n");
	}
	sbuf_addstr(&sb, "<section id=\"job\" aria-labelledby=\"job-h\" hidden>\n"
			 "<h2 id=\"job-h\">Deploy</h2>\n<p id=\"job-state\"></p>\n"
			 "<pre id=\"job-log\" aria-live=\"polite\" tabindex=\"0\"></pre>\n"
			 "<ul id=\"oneclick-apps\" class=\"items\" aria-live=\"polite\"></ul>\n"
			 "</section>\n");
	templates_section(&sb, name);
	paste_section(&sb);
	sbuf_addstr(&sb, "</main>\n");
	panel_page_end(&sb);
	panel_page_reply(resp, 200, &sb);
out:
	free(name);
	oneclick_release(&t);
	err_release(&e);
	sbuf_release(&sb);
	sbuf_release(&csrf);
	store_user_release(&u);
	apictx_close(&c);
}
