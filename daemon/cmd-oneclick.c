/*
 * oneclick:* — CapRover's one-click app templates from the command line,
 * until the panel shows them (daemon/oneclick.h): the shipped templates,
 * a template's form, and the plan a filled form gives. Read-only: nothing
 * is created or deployed, so any key may run them.
 *
 * A template is one of berthd's (by name) or "-": a template on stdin. A
 * plan never shows a secret: values made by $$cap_gen_random_hex and of
 * password-like variables and environment keys print as "***".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/berthd.h"
#include "daemon/oneclick.h"
#include "engine/scripts.h"
#include "lib/banned.h"
#include "lib/xalloc.h"

/* Prints s under prefix, line by line, control bytes (a template's, untrusted) as '?'. */
static void put_text(const char *first, const char *prefix, const char *s)
{
	fputs(first, stdout);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n') {
			fputc('\n', stdout);
			fputs(prefix, stdout);
		} else {
			fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stdout);
		}
	}
	fputc('\n', stdout);
}

/* A JSON string, or null (NULL, or bytes that are not UTF-8). */
static json_t *jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;

	return j ? j : json_null();
}

static void put_json(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(doc);
}

/* The template named by arg: shipped, or "-" (stdin). 0, or 1 (printed). */
static int load(const char *arg, struct sbuf *text, const char **file)
{
	char buf[65536];
	const char *t;
	ssize_t n;

	if (strcmp(arg, "-")) {
		t = oneclick_builtin(arg);
		if (!t) {
			return bd_fail("no template '%s' (see oneclick:list, or give - and the "
				       "template on stdin)",
				       arg);
		}
		sbuf_addstr(text, t);
		*file = arg;
		return 0;
	}
	*file = "stdin";
	if (isatty(0)) {
		return bd_fail("expected a template on stdin: ssh berth@HOST oneclick:show - < "
			       "app.yml");
	}
	while ((n = read(0, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return bd_fail("cannot read stdin: %s", strerror(errno));
		}
		if (text->len + (size_t)n > ONECLICK_MAX_SIZE) {
			return bd_fail("stdin is larger than %u bytes: expected a one-click app "
				       "template",
				       ONECLICK_MAX_SIZE);
		}
		sbuf_add(text, buf, (size_t)n);
	}
	return 0;
}

/* Loads and parses; warnings on stderr. 0, or 1 (printed). */
static int open_template(const char *arg, struct oneclick *t)
{
	struct sbuf text = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *file = NULL;
	int rc = load(arg, &text, &file);

	if (!rc && oneclick_parse(t, file, text.buf, text.len, &e) < 0) {
		rc = bd_fail_err(&e);
	}
	for (size_t i = 0; !rc && i < t->warnings.nr; i++) {
		fprintf(stderr, " !     warning: %s:%s\n", file, t->warnings.v[i]);
	}
	sbuf_release(&text);
	err_release(&e);
	return rc;
}

int cmd_oneclick_list(struct bd *bd, int argc, const char **argv)
{
	if (argc != 1) {
		return bd_usage("oneclick:list");
	}
	json_t *arr = json_array();

	if (!bd->json) {
		bd_heading(bd, "One-click app templates");
	}
	for (const struct script_file *f = oneclick_builtins(); f->name; f++) {
		struct oneclick t = ONECLICK_INIT;
		struct err e = ERR_INIT;

		if (oneclick_parse(&t, f->name, f->text, strlen(f->text), &e) < 0) {
			xdie("shipped template %s: %s", f->name, err_str(&e)); /* unit-tested */
		}
		if (bd->json) {
			json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "name", f->name,
							     "display_name", jstr(t.display_name),
							     "description", jstr(t.description)));
		} else {
			printf("       %-16s %s%s%s\n", f->name,
			       t.display_name ? t.display_name : f->name, t.description ? ": " : "",
			       t.description ? t.description : "");
		}
		oneclick_release(&t);
		err_release(&e);
	}
	if (bd->json) {
		put_json(arr);
	} else {
		json_decref(arr);
	}
	return 0;
}

/* The form as JSON, for a UI to render. */
static json_t *form_json(const struct oneclick *t)
{
	json_t *vars = json_array(), *svcs = json_array(), *warn = json_array();

	for (size_t i = 0; i < t->nvars; i++) {
		const struct oneclick_var *v = &t->vars[i];

		json_array_append_new(vars,
				      json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:b}", "id",
						v->id + strlen("$$cap_"), "label", jstr(v->label),
						"description", jstr(v->description), "default",
						jstr(v->def), "valid_regex", jstr(v->regex),
						"required", i == 0, "secret", v->secret));
	}
	for (size_t i = 0; i < t->nservices; i++) {
		json_array_append_new(svcs, jstr(t->services[i].name));
	}
	for (size_t i = 0; i < t->warnings.nr; i++) {
		json_array_append_new(warn, jstr(t->warnings.v[i]));
	}
	return json_pack("{s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o}", "display_name",
			 jstr(t->display_name), "description", jstr(t->description),
			 "documentation", jstr(t->documentation), "is_official", t->official,
			 "instructions_start", jstr(t->start), "variables", vars, "services", svcs,
			 "warnings", warn);
}

int cmd_oneclick_show(struct bd *bd, int argc, const char **argv)
{
	struct oneclick t = ONECLICK_INIT;
	int rc;

	if (argc != 2) {
		return bd_usage("oneclick:show NAME|-");
	}
	rc = open_template(argv[1], &t);
	if (rc) {
		return rc;
	}
	if (bd->json) {
		put_json(form_json(&t));
		oneclick_release(&t);
		return 0;
	}
	bd_heading(bd, "%s", t.display_name ? t.display_name : argv[1]);
	if (t.description) {
		put_text("       ", "       ", t.description);
	}
	if (t.documentation) {
		put_text("       documentation: ", "       ", t.documentation);
	}
	if (t.start) {
		put_text("       ", "       ", t.start);
	}
	bd_step(bd, "Variables (give them to oneclick:plan as NAME=VALUE)");
	for (size_t i = 0; i < t.nvars; i++) {
		const struct oneclick_var *v = &t.vars[i];

		printf("       %s\n", v->id + strlen("$$cap_"));
		put_text("           label:       ", "                        ", v->label);
		if (v->description) {
			put_text("           description: ", "                        ",
				 v->description);
		}
		if (!i) {
			printf("           required:    yes\n");
		}
		if (v->def) {
			put_text("           default:     ", "                        ", v->def);
		}
		if (v->regex) {
			put_text("           must match:  ", "                        ", v->regex);
		}
		if (v->secret) {
			printf("           secret:      yes (shown as ***)\n");
		}
	}
	bd_step(bd, "Services");
	for (size_t i = 0; i < t.nservices; i++) {
		const struct oneclick_service *s = &t.services[i];

		put_text("       ", "       ", s->name);
	}
	oneclick_release(&t);
	return 0;
}

static void print_app(const struct oneclick_app *a)
{
	if (a->web) {
		printf("=====> %s: web app, container port %u behind berth-proxy%s\n", a->name,
		       a->http_port, a->websocket ? " (websockets)" : "");
	} else {
		printf("=====> %s: service, not exposed (no proxy)\n", a->name);
	}
	if (a->image.v) {
		put_text("       image:       ", "                    ", a->image.shown);
	}
	for (size_t i = 0; i < a->ndockerfile; i++) {
		put_text(i ? "                    " : "       dockerfile:  ",
			 "                    ", a->dockerfile[i].shown);
	}
	for (size_t i = 0; i < a->depends_on.nr; i++) {
		printf("       depends on:  %s\n", a->depends_on.v[i]);
	}
	for (size_t i = 0; i < a->nenv; i++) {
		printf("%s%s=", i ? "                    " : "       env:         ", a->env[i].key);
		put_text(a->env[i].value.secret ? "(secret) " : "", "", a->env[i].value.shown);
	}
	for (size_t i = 0; i < a->volumes.nr; i++) {
		printf("       volume:      %s\n", a->volumes.v[i]);
	}
	if (a->restart) {
		printf("       restart:     %s\n", a->restart);
	}
	if (a->hostname) {
		printf("       hostname:    %s\n", a->hostname);
	}
	if (a->command.v) {
		put_text("       command:     ", "                    ", a->command.shown);
	}
}

/* The plan as JSON: every value as shown (secrets masked), flagged. */
static json_t *plan_json(const struct oneclick_plan *p)
{
	json_t *apps = json_array();

	for (size_t i = 0; i < p->napps; i++) {
		const struct oneclick_app *a = &p->apps[i];
		json_t *env = json_array(), *df = json_array(), *vols = json_array(),
		       *deps = json_array();

		for (size_t k = 0; k < a->nenv; k++) {
			json_array_append_new(env, json_pack("{s:o, s:o, s:b}", "key",
							     jstr(a->env[k].key), "value",
							     jstr(a->env[k].value.shown), "secret",
							     a->env[k].value.secret));
		}
		for (size_t k = 0; k < a->ndockerfile; k++) {
			json_array_append_new(df, jstr(a->dockerfile[k].shown));
		}
		for (size_t k = 0; k < a->volumes.nr; k++) {
			json_array_append_new(vols, jstr(a->volumes.v[k]));
		}
		for (size_t k = 0; k < a->depends_on.nr; k++) {
			json_array_append_new(deps, jstr(a->depends_on.v[k]));
		}
		json_array_append_new(
		    apps,
		    json_pack("{s:o, s:b, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "name", jstr(a->name), "web", a->web, "http_port", (int)a->http_port,
			      "websocket", a->websocket, "image", jstr(a->image.shown),
			      "dockerfile_lines", df, "env", env, "volumes", vols, "depends_on",
			      deps, "restart", jstr(a->restart), "hostname", jstr(a->hostname),
			      "command", jstr(a->command.shown)));
	}
	return json_pack("{s:o, s:o}", "apps", apps, "instructions_end", jstr(p->end.shown));
}

int cmd_oneclick_plan(struct bd *bd, int argc, const char **argv)
{
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value *vals = NULL;
	struct strvec keys = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *domain = NULL;
	int rc;

	if (argc < 2) {
		return bd_usage("oneclick:plan NAME|- appname=APP [NAME=VALUE...]");
	}
	vals = xcalloc((size_t)argc, sizeof(*vals));
	for (int i = 2; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i]) {
			rc =
			    bd_fail("invalid argument '%s': expected NAME=VALUE (see oneclick:show "
				    "%s)",
				    argv[i], argv[1]);
			goto out;
		}
		strvec_push(&keys, "");
		free(keys.v[keys.nr - 1]);
		keys.v[keys.nr - 1] = xstrndup(argv[i], (size_t)(eq - argv[i]));
		vals[i - 2].value = eq + 1;
	}
	for (size_t i = 0; i < keys.nr; i++) {
		vals[i].id = keys.v[i];
	}
	rc = open_template(argv[1], &t);
	if (rc) {
		goto out;
	}
	if (store_setting_get(&bd->store, "global-domain", &domain, &e) < 0 ||
	    oneclick_fill(&t, domain, vals, keys.nr, &p, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		put_json(plan_json(&p));
		goto out;
	}
	bd_step(bd, "Plan for %s: %zu app%s, in deploy order (nothing is deployed)",
		t.display_name ? t.display_name : argv[1], p.napps, p.napps == 1 ? "" : "s");
	for (size_t i = 0; i < p.napps; i++) {
		print_app(&p.apps[i]);
	}
	if (p.end.v) {
		bd_step(bd, "When deployed");
		put_text("       ", "       ", p.end.shown);
	}
out:
	oneclick_plan_release(&p);
	oneclick_release(&t);
	strvec_clear(&keys);
	free(vals);
	free(domain);
	err_release(&e);
	return rc;
}
