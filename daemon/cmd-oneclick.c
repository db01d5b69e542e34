/*
 * oneclick:* — CapRover's one-click app templates from the command line
 * (daemon/oneclick.h): the shipped templates, a template's form, and the
 * plan a filled form gives (read-only: any key may run them); and
 * oneclick:deploy, which creates and deploys the plan's apps (admins).
 *
 * A template is one of berthd's (by name) or "-": a template on stdin (or,
 * for the JSON API's jobs, the text of --yaml: daemon/apioneclick.h). A
 * plan never shows a secret: values made by $$cap_gen_random_hex and of
 * password-like variables and environment keys print as "***".
 *
 * oneclick:deploy NAME|- appname=APP [ID=VALUE...]. Everything is checked
 * before anything is created (daemon/ocinstall.h: the template, each value
 * against its validRegex, no app of the plan exists, the install's network
 * is not someone else's). Then, for each service in plan order (its
 * depends_on first), as the SSH commands would do it:
 *	apps:create		the app, one audit event each
 *	config:set --no-restart	its environment: in the store, no deploy per var;
 *				the values go to the containers' 0600 env files only
 *	storage:mount		its named volumes, "INSTALL_NAME:/PATH"
 *	ports:set		web: http:80:containerHttpPort
 *	network:set		attach-post-deploy oneclick-INSTALL (created once, a
 *				network of berthd's), with the aliases srv-captain--APP
 *				and APP next to Dokku's APP.TYPE
 *	git:from-image		an image (pulled when the host lacks it); or the build of
 *				dockerfileLines as a CapRover upload's is built
 *				(capdeploy: push_build of a directory holding the
 *				Dockerfile alone), deployed as an image is
 * A service with notExposeAsWebApp runs as the process type "worker"
 * (appdeploy.h's APPDEPLOY_PROP_TYPE, kept for every later redeploy):
 * release.h runs a type other than web without berth-proxy, so it gets no
 * route and no domain, and its health is that its container stays up for
 * the engine's readiness delay. Its command (or the image's) is the
 * worker's command. That keeps the deploy one engine release like any
 * other app's (ps:*, config:set, releases:rollback all work), where a
 * separate "no proxy" flag would have to be taught to every one of them.
 * A web service runs as web with its command, if any.
 *
 * The first service that fails stops the deploy: its error is the engine's
 * (the new container's last lines), the apps deployed before it stay as
 * they are (said so). Last, the template's instructions.end, filled, its
 * secrets as "***". Networks are joined right after each deploy, so the
 * aliases are also every container's names on the network berth from its
 * start (appdeploy's network.aliases: docker run --network-alias): a web
 * app that needs its database to pass its first health check finds it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/capdef.h"
#include "daemon/capdeploy.h"
#include "daemon/oneclick.h"
#include "daemon/ocinstall.h"
#include "daemon/ports.h"
#include "daemon/push.h"
#include "daemon/users.h"
#include "engine/scripts.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/opt.h"
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

/* The template named by arg: shipped, or "-" (yaml when given, else stdin). 0, or 1 (printed). */
static int load(const char *arg, const char *yaml, struct sbuf *text, const char **file)
{
	char buf[65536];
	const char *t;
	ssize_t n;

	if (yaml) {
		if (strcmp(arg, "-")) {
			return bd_fail("--yaml is the template: give - as its name, not '%s'", arg);
		}
		if (strlen(yaml) > ONECLICK_MAX_SIZE) {
			return bd_fail("the template is larger than %u bytes", ONECLICK_MAX_SIZE);
		}
		sbuf_addstr(text, yaml);
		*file = "template";
		return 0;
	}
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
	int rc = load(arg, NULL, &text, &file);

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

/*
 * argv[2..argc) as NAME=VALUE into vals (as many as argc - 2; ids in keys,
 * values pointing into argv). 0, or 1 (printed, naming the argument, which
 * holds no '=' and so no value).
 */
static int parse_values(int argc, const char **argv, struct strvec *keys,
			struct oneclick_value *vals)
{
	for (int i = 2; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i]) {
			return bd_fail(
			    "invalid argument '%s': expected NAME=VALUE (see oneclick:show "
			    "%s)",
			    argv[i], argv[1]);
		}
		strvec_push(keys, "");
		free(keys->v[keys->nr - 1]);
		keys->v[keys->nr - 1] = xstrndup(argv[i], (size_t)(eq - argv[i]));
		vals[i - 2].value = eq + 1;
	}
	for (size_t i = 0; i < keys->nr; i++) {
		vals[i].id = keys->v[i];
	}
	return 0;
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
	rc = parse_values(argc, argv, &keys, vals);
	if (rc) {
		goto out;
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

/* ---- oneclick:deploy ------------------------------------------------------------------------ */

static void progress_out(const char *line, void *data)
{
	(void)data;
	printf("%s\n", line);
	fflush(stdout);
}

/* Builds a's dockerfile lines and deploys the image, under the app's lock. 0, or -1 with e set. */
static int deploy_lines(struct bd *bd, const struct oneclick_app *a, struct err *e)
{
	struct push_result pr = {0};
	struct push_opts po = {0};
	struct sbuf text = SBUF_INIT, path = SBUF_INIT;
	char rev[USERS_TOKEN_HEX + 1];
	char *dir = NULL;
	int lock = -1, up = -1, r = -1;

	for (size_t i = 0; i < a->ndockerfile; i++) {
		sbuf_addf(&text, "%s\n", a->dockerfile[i].v);
	}
	lock = appdeploy_lock(bd, a->name, "oneclick:deploy", e);
	if (lock < 0) {
		goto out;
	}
	/* the app's upload lock, as a CapRover upload's build holds it (its directory made) */
	up = capdeploy_lock(bd->state_dir, a->name, e);
	if (up < 0) {
		goto out;
	}
	if (!(dir = capdeploy_new_dir(bd->state_dir, a->name, e))) {
		goto out;
	}
	sbuf_addf(&path, "%s/" CAPDEF_DOCKERFILE, dir);
	if (file_write_atomic(path.buf, text.buf, text.len, 0600, e) < 0 ||
	    users_token(rev, e) < 0) {
		goto out;
	}
	rev[40] = 0;
	po.app = a->name;
	po.src_dir = dir;
	po.rev = rev;
	po.dockerfile = CAPDEF_DOCKERFILE;
	po.progress = progress_out;
	bd_step(bd, "Building %s from the template's dockerfile lines", a->name);
	if (push_build(&po, &pr, e) < 0) {
		bd_event(bd, a->name, "build-failed", "oneclick");
		goto out;
	}
	/* how it runs is the app's (APPDEPLOY_PROP_*), as for an image: the same at a redeploy */
	r = appdeploy_run(bd, a->name, pr.image, pr.version, NULL, NULL, e);
out:
	if (dir) {
		struct err re = ERR_INIT;
		(void)file_remove_tree(dir, &re);
		err_release(&re);
	}
	if (up >= 0) {
		close(up);
	}
	appdeploy_unlock(lock);
	push_result_release(&pr);
	sbuf_release(&text);
	sbuf_release(&path);
	free(dir);
	return r;
}

/* Records what a's app is (config, volumes, port, network, process) in the store. 0, or -1. */
static int set_up_app(struct bd *bd, const struct ocinstall *in, const struct oneclick_app *a,
		      struct err *e)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;
	int r = -1;

	for (size_t i = 0; i < a->nenv; i++) {
		strvec_push(&names, a->env[i].key);
		strvec_push(&values, a->env[i].value.v);
	}
	if (names.nr) {
		if (store_config_set(&bd->store, a->name, &names, &values, e) < 0) {
			goto out;
		}
		bd_event_v(bd, a->name, "config:set", &names);
		bd_step(bd, "Setting config vars");
		for (size_t i = 0; i < names.nr; i++) {
			bd_info(bd, "%s%s", names.v[i], a->env[i].value.secret ? " (secret)" : "");
		}
	}
	for (size_t i = 0; i < a->volumes.nr; i++) {
		sbuf_reset(&sb);
		ocinstall_mount(&sb, in->install, a->volumes.v[i]);
		if (store_mount_add(&bd->store, a->name, sb.buf, e) < 0) {
			goto out;
		}
		bd_step(bd, "Mounting volume %s", sb.buf);
		bd_event(bd, a->name, "storage:mount", NULL);
	}
	if (a->web) {
		struct port_map m = {"http", 80, a->http_port};

		sbuf_reset(&sb);
		if (ports_check(&m, 1, e) < 0) {
			goto out;
		}
		ports_format(&sb, &m, 1);
		if (store_prop_set(&bd->store, a->name, "ports.map", sb.buf, e) < 0) {
			goto out;
		}
		bd_step(bd, "Setting port mappings for %s: %s", a->name, sb.buf);
		bd_event(bd, a->name, "ports:set", sb.buf);
	} else {
		if (store_prop_set(&bd->store, a->name, APPDEPLOY_PROP_TYPE, OCINSTALL_WORKER, e) <
		    0) {
			goto out;
		}
		bd_step(bd, "%s is not exposed as a web app: it runs as %s, without berth-proxy",
			a->name, OCINSTALL_WORKER);
	}
	if (a->command.v &&
	    store_prop_set(&bd->store, a->name, APPDEPLOY_PROP_CMD, a->command.v, e) < 0) {
		goto out;
	}
	sbuf_reset(&sb);
	ocinstall_aliases(&sb, a->name);
	if (store_prop_set(&bd->store, a->name, "network.attach-post-deploy", in->network.buf, e) <
		0 ||
	    store_prop_set(&bd->store, a->name, "network.aliases", sb.buf, e) < 0) {
		goto out;
	}
	bd_step(bd, "Setting attach-post-deploy of %s to %s (as %s)", a->name, in->network.buf,
		sb.buf);
	bd_event(bd, a->name, "network:set", "attach-post-deploy");
	r = 0;
out:
	strvec_clear(&names);
	strvec_clear(&values);
	sbuf_release(&sb);
	return r;
}

static const char deploy_usage[] = "oneclick:deploy NAME|- appname=APP [VAR=VALUE...]";

int cmd_oneclick_deploy(struct bd *bd, int argc, const char **argv)
{
	const char *yaml = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "yaml", &yaml, "TEXT", "the template's text (the JSON API's jobs)"),
	    OPT_END(),
	};
	struct ocinstall in = OCINSTALL_INIT;
	struct oneclick_value *vals = NULL;
	struct strvec keys = STRVEC_INIT;
	struct sbuf text = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *file = NULL;
	size_t done = 0;
	int n = bd_opts(argc - 1, argv + 1, opts, deploy_usage), rc = 1, kind;

	if (n < 0) {
		goto out;
	}
	if (n < 2) {
		rc = bd_usage(deploy_usage);
		goto out;
	}
	argc = n + 1;
	vals = xcalloc((size_t)argc, sizeof(*vals));
	rc = parse_values(argc, argv, &keys, vals);
	if (!rc) {
		rc = load(argv[1], yaml, &text, &file);
	}
	if (rc) {
		goto out;
	}
	if (ocinstall_prepare(&in, &bd->store, file, text.buf, text.len, vals, keys.nr, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	for (size_t i = 0; i < in.t.warnings.nr; i++) {
		fprintf(stderr, " !     warning: %s:%s\n", file, in.t.warnings.v[i]);
	}
	kind = network_kind(in.network.buf);
	if (kind == 2) {
		rc = bd_fail("network %s exists and is not one of berthd's: nothing was created",
			     in.network.buf);
		goto out;
	}
	bd_step(bd, "Deploying %s: %zu app%s, in this order:",
		in.t.display_name      ? in.t.display_name
		: strcmp(argv[1], "-") ? argv[1]
				       : "the template",
		in.p.napps, in.p.napps == 1 ? "" : "s");
	for (size_t i = 0; i < in.p.napps; i++) {
		bd_info(bd, "%s (%s)", in.p.apps[i].name,
			in.p.apps[i].web ? "web" : OCINSTALL_WORKER);
	}
	if (!kind &&
	    cmd_network_create(bd, 2, (const char *[]){"network:create", in.network.buf, NULL})) {
		goto out;
	}
	for (done = 0; done < in.p.napps; done++) {
		const struct oneclick_app *a = &in.p.apps[done];

		bd_step(bd, "Creating %s...", a->name);
		if (store_app_create(&bd->store, a->name, &e) < 0) {
			goto failed;
		}
		bd_event(bd, a->name, "apps:create", "oneclick");
		if (set_up_app(bd, &in, a, &e) < 0) {
			goto failed;
		}
		if (a->image.v) {
			if (cmd_git_from_image(
				bd, 3,
				(const char *[]){"git:from-image", a->name, a->image.v, NULL})) {
				err_set(&e, "its image %s did not deploy (above)", a->image.v);
				goto failed;
			}
		} else if (deploy_lines(bd, a, &e) < 0) {
			goto failed;
		}
	}
	if (in.p.end.v) {
		bd_step(bd, "%s is deployed", in.install);
		put_text("       ", "       ", in.p.end.shown);
	}
	rc = 0;
	goto out;
failed:
	rc = bd_fail("service %s failed: %s", in.p.apps[done].name, err_str(&e));
	if (done) {
		fprintf(stderr, " !     the apps deployed before it are left as they are:");
		for (size_t i = 0; i < done; i++) {
			fprintf(stderr, " %s", in.p.apps[i].name);
		}
		fprintf(stderr, " (apps:destroy APP --force removes one)\n");
	}
	if (store_app_exists(&bd->store, in.p.apps[done].name)) {
		fprintf(stderr, " !     %s is created, not deployed", in.p.apps[done].name);
	} else {
		fprintf(stderr, " !     %s is not created", in.p.apps[done].name);
	}
	fprintf(stderr, "; the later services are not created\n");
out:
	ocinstall_release(&in);
	strvec_clear(&keys);
	free(vals);
	if (text.len) {
		memset(text.buf, 0, text.len);
	}
	sbuf_release(&text);
	err_release(&e);
	return rc;
}
