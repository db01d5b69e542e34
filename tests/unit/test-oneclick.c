/*
 * Tests for daemon/oneclick.c: CapRover v4 templates parsed, their
 * validRegex literals translated, the form filled into a plan.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/oneclick.h"
#include "engine/scripts.h"
#include "lib/sbuf.h"
#include "unit.h"

static int parse(struct oneclick *t, const char *yml, struct err *e)
{
	return oneclick_parse(t, "t.yml", yml, strlen(yml), e);
}

/* Parses yml and expects an error containing want; returns whether it did. */
static bool parse_fails(const char *yml, const char *want)
{
	struct oneclick t = ONECLICK_INIT;
	struct err e = ERR_INIT;
	bool ok = parse(&t, yml, &e) < 0 && strstr(err_str(&e), want);

	if (!ok) {
		printf("#   expected an error with '%s', got '%s'\n", want,
		       err_isset(&e) ? err_str(&e) : "(none)");
	}
	CHECK(t.nvars == 0 && t.nservices == 0);
	oneclick_release(&t);
	err_release(&e);
	return ok;
}

static const struct oneclick_env *env_named(const struct oneclick_app *a, const char *key)
{
	for (size_t i = 0; a && i < a->nenv; i++) {
		if (!strcmp(a->env[i].key, key)) {
			return &a->env[i];
		}
	}
	return NULL;
}

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n) {
		return false;
	}
	for (; *s; s++) {
		if (!strchr("0123456789abcdef", *s)) {
			return false;
		}
	}
	return true;
}

static void test_shipped_templates_parse(void)
{
	size_t n = 0;

	for (const struct script_file *f = oneclick_builtins(); f->name; f++, n++) {
		struct oneclick t = ONECLICK_INIT;
		struct err e = ERR_INIT;

		if (oneclick_parse(&t, f->name, f->text, strlen(f->text), &e) < 0) {
			printf("#   %s: %s\n", f->name, err_str(&e));
			CHECK(0);
		}
		CHECK(t.display_name && t.description && t.end);
		CHECK(t.nvars >= 2);
		CHECK_STR(t.vars[0].id, "$$cap_appname");
		CHECK(t.warnings.nr == 0);
		oneclick_release(&t);
		err_release(&e);
	}
	CHECK(n >= 3);
	CHECK(oneclick_builtin("postgres") && oneclick_builtin("redis") &&
	      oneclick_builtin("static-site"));
	CHECK(!oneclick_builtin("nope"));
}

static void test_postgres_plan(void)
{
	const char *yml = oneclick_builtin("postgres");
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v[] = {{"appname", "pg"}, {"$$cap_postgres_user", "bob"}};
	const struct oneclick_env *pw, *user;
	struct err e = ERR_INIT;

	CHECK(oneclick_parse(&t, "postgres", yml, strlen(yml), &e) == 0);
	CHECK(oneclick_fill(&t, NULL, v, 2, &p, &e) == 0);
	CHECK_INT(p.napps, 1);
	CHECK_STR(p.apps[0].name, "pg");
	CHECK(!p.apps[0].web);
	CHECK_STR(p.apps[0].image.v, "postgres:16");
	CHECK_INT(p.apps[0].volumes.nr, 1);
	CHECK_STR(p.apps[0].volumes.v[0], "pg-data:/var/lib/postgresql/data");
	pw = env_named(&p.apps[0], "POSTGRES_PASSWORD");
	user = env_named(&p.apps[0], "POSTGRES_USER");
	CHECK(pw && pw->value.secret && is_hex(pw->value.v, 32));
	CHECK_STR(pw ? pw->value.shown : NULL, "***");
	CHECK(user && !user->value.secret);
	CHECK_STR(user ? user->value.v : NULL, "bob");
	/* the password in the instructions is the same one, and masked there */
	CHECK(p.end.secret && strstr(p.end.v, pw ? pw->value.v : "?"));
	CHECK(strstr(p.end.shown, "postgres://bob:***@pg:5432/app"));
	oneclick_plan_release(&p);
	oneclick_release(&t);
	err_release(&e);
}

static void test_app_postgres_order_and_port(void)
{
	const char *yml = oneclick_builtin("app-postgres");
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v[] = {{"appname", "shop"},
				     {"app_image", "ghcr.io/me/shop:1"},
				     {"app_port", "8080"},
				     {"db_password", "s3cretpassword"}};
	const struct oneclick_env *url;
	struct err e = ERR_INIT;

	CHECK(oneclick_parse(&t, "app-postgres", yml, strlen(yml), &e) == 0);
	CHECK(oneclick_fill(&t, "example.com", v, 4, &p, &e) == 0);
	CHECK_INT(p.napps, 2);
	/* the database first: the app depends on it */
	CHECK_STR(p.apps[0].name, "shop-db");
	CHECK_STR(p.apps[1].name, "shop");
	CHECK(p.apps[1].web && p.apps[1].http_port == 8080);
	CHECK_INT(p.apps[1].depends_on.nr, 1);
	CHECK_STR(p.apps[1].depends_on.v[0], "shop-db");
	url = env_named(&p.apps[1], "DATABASE_URL");
	CHECK_STR(url ? url->value.v : NULL, "postgres://app:s3cretpassword@shop-db:5432/app");
	CHECK_STR(url ? url->value.shown : NULL, "postgres://app:***@shop-db:5432/app");
	CHECK(strstr(p.end.v, "http://shop.example.com/"));
	oneclick_plan_release(&p);

	/* without a global domain, $$cap_root_domain cannot be filled */
	CHECK(oneclick_fill(&t, NULL, v, 4, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "domains:set-global"));
	/* a port that is not one */
	v[2].value = "99999";
	CHECK(oneclick_fill(&t, "example.com", v, 4, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "containerHttpPort"));
	/* app_image has no default and must match */
	CHECK(oneclick_fill(&t, "example.com", v, 1, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "app_image (App image): '' does not match"));
	CHECK(p.napps == 0 && !p.apps);
	oneclick_release(&t);
	err_release(&e);
}

static void test_static_site_dockerfile(void)
{
	const char *yml = oneclick_builtin("static-site");
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v[] = {{"appname", "site"}, {"site_title", "Hi"}};
	struct err e = ERR_INIT;

	CHECK(oneclick_parse(&t, "static-site", yml, strlen(yml), &e) == 0);
	CHECK(oneclick_fill(&t, "example.com", v, 2, &p, &e) == 0);
	CHECK(p.apps[0].web && p.apps[0].http_port == 80 && !p.apps[0].image.v);
	CHECK_INT(p.apps[0].ndockerfile, 2);
	CHECK_STR(p.apps[0].dockerfile[0].v, "FROM nginx:1.27-alpine");
	CHECK(strstr(p.apps[0].dockerfile[1].v, "'Hi' 'Hi'"));
	oneclick_plan_release(&p);
	/* a quote would break out of the RUN line: the template's regex refuses it */
	v[1].value = "it's";
	CHECK(oneclick_fill(&t, "example.com", v, 2, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "site_title (Site title): 'it's' does not match"));
	oneclick_release(&t);
	err_release(&e);
}

static void test_variables_form(void)
{
	const char *yml = "captainVersion: 4\n"
			  "services:\n"
			  "  $$cap_appname:\n"
			  "    image: busybox:$$cap_tag\n"
			  "caproverOneClickApp:\n"
			  "  variables:\n"
			  "    - id: $$cap_tag\n"
			  "      label: Tag\n"
			  "      defaultValue: '1.36'\n"
			  "      description: the tag\n"
			  "      validRegex: /^([^\\s^\\/])+$/\n"
			  "    - id: $$cap_api_key\n"
			  "      label: API key\n"
			  "    - id: $$cap_seed\n"
			  "      label: Seed\n"
			  "      defaultValue: $$cap_gen_random_hex(8)\n";
	struct oneclick t = ONECLICK_INIT;
	struct err e = ERR_INIT;

	CHECK(parse(&t, yml, &e) == 0);
	CHECK_INT(t.nvars, 4);
	CHECK_STR(t.vars[0].id, "$$cap_appname");
	CHECK_STR(t.vars[1].id, "$$cap_tag");
	CHECK_STR(t.vars[1].label, "Tag");
	CHECK_STR(t.vars[1].def, "1.36");
	CHECK_STR(t.vars[1].description, "the tag");
	CHECK_STR(t.vars[1].regex, "/^([^\\s^\\/])+$/");
	CHECK_STR(t.vars[1].ere, "^([^[:space:]^/])+$");
	CHECK(!t.vars[1].secret);
	CHECK(t.vars[2].secret && !t.vars[2].def && !t.vars[2].regex);
	CHECK(t.vars[3].secret);
	oneclick_release(&t);
	err_release(&e);
}

static void test_values_as_written(void)
{
	const char *yml = "captainVersion: 4\n"
			  "services:\n"
			  "  $$cap_appname:\n"
			  "    image: x:$$cap_v\n"
			  "    environment: {MODE: 0755, ON: yes}\n"
			  "    caproverExtra: {notExposeAsWebApp: True, containerHttpPort: 8080}\n"
			  "caproverOneClickApp:\n"
			  "  variables: [{id: $$cap_v, label: V, defaultValue: 1.10}]\n";
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v[] = {{"appname", "app"}};
	struct err e = ERR_INIT;

	CHECK(parse(&t, yml, &e) == 0);
	CHECK(oneclick_fill(&t, NULL, v, 1, &p, &e) == 0);
	CHECK_STR(p.apps[0].image.v, "x:1.10");
	CHECK_STR(p.apps[0].env[0].value.v, "0755");
	CHECK_STR(p.apps[0].env[1].value.v, "yes");
	CHECK(!p.apps[0].web);
	oneclick_plan_release(&p);
	oneclick_release(&t);
	CHECK(parse_fails(
	    "captainVersion: 4\nservices: {a: {image: x, caproverExtra: "
	    "{websocketSupport: yes}}}\n",
	    "t.yml:2:60: services.a.caproverExtra.websocketSupport: expected true or false, "
	    "got 'yes'"));

	/* a secret never goes into what is shown as it is: names, volumes, ports */
	CHECK(parse(&t,
		    "captainVersion: 4\nservices:\n  $$cap_appname:\n    image: x\n"
		    "    volumes: ['$$cap_appname-$$cap_gen_random_hex(4):/d']\n",
		    &e) == 0);
	CHECK(oneclick_fill(&t, NULL, v, 1, &p, &e) < 0);
	CHECK(
	    strstr(err_str(&e), "a secret (a random value or a password-like variable) cannot go"));
	oneclick_release(&t);
	err_release(&e);
}

static void test_regex_translation(void)
{
	static const struct {
		const char *js, *ere;
	} ok[] = {
	    {"/.{1,}/", ".{1,}"},
	    {"/^([^\\s^\\/])+$/", "^([^[:space:]^/])+$"},
	    {"/^(true|false)$/", "^(true|false)$"},
	    {"/^\\d+$/", "^[0-9]+$"},
	    {"/^\\w{3,}\\S*\\D?\\W$/", "^[A-Za-z0-9_]{3,}[^[:space:]]*[^0-9]?[^A-Za-z0-9_]$"},
	    {"/^[\\w-.]+@([\\w-]+\\.)+[\\w-]{2,4}$/",
	     "^[A-Za-z0-9_.-]+@([A-Za-z0-9_-]+\\.)+[A-Za-z0-9_-]{2,4}$"},
	    {"/^(?:https?):\\/\\/.+$/", "^(https?)://.+$"},
	    {"/[\\]\\-a]/", "[]a-]"},
	    {"/a{b/", "a\\{b"},
	    {"/^[a-z0-9]+$/gi", "^[a-z0-9]+$"},
	};
	static const char *const bad[] = {
	    "abc",
	    "/abc",
	    "/abc/m",
	    "/(?=a)b/",
	    "/(?<n>a)/",
	    "/a*?/",
	    "/a{2}?/",
	    "/\\bfoo/",
	    "/(a)\\1/",
	    "/[\\S]/",
	    "/[]/",
	    "/\\x41/",
	    "/(a/",
	    "/[[:alpha:]]/",
	    /* JavaScript refuses these too; glibc would expand them without end */
	    "/a++/",
	    "/(*a)/",
	    "/*a/",
	    "/a|*b/",
	    "/(a{3,4}){3,4}/",
	    "/((a{9}))+{9}/",
	    "/a{1500}b{600}/",
	};
	struct err e = ERR_INIT;
	bool icase;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *ere = oneclick_regex_translate(ok[i].js, &icase, &e);

		if (!ere) {
			printf("#   %s: %s\n", ok[i].js, err_str(&e));
		}
		CHECK_STR(ere, ok[i].ere);
		free(ere);
	}
	free(oneclick_regex_translate("/x/", &icase, &e));
	CHECK(!icase);
	free(oneclick_regex_translate("/x/i", &icase, &e));
	CHECK(icase);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *ere = oneclick_regex_translate(bad[i], &icase, &e);

		if (ere) {
			printf("#   %s: translated to %s\n", bad[i], ere);
		}
		CHECK(!ere);
		CHECK(err_isset(&e) && strstr(err_str(&e), bad[i]));
		free(ere);
	}
	err_release(&e);
}

/* What the translations match is what JavaScript's RegExp.test() would say. */
static void test_regex_matches(void)
{
	static const struct {
		const char *js, *s;
		bool match;
	} cases[] = {
	    {"/.{1,}/", "x", true},
	    {"/.{1,}/", "", false},
	    {"/^([^\\s^\\/])+$/", "16-alpine", true},
	    {"/^([^\\s^\\/])+$/", "a b", false},
	    {"/^([^\\s^\\/])+$/", "a/b", false},
	    {"/^([^\\s^\\/])+$/", "a^b", false},
	    {"/.{12,}/", "0123456789ab", true},
	    {"/.{12,}/", "short", false},
	    {"/^(true|false)$/", "true", true},
	    {"/^(true|false)$/", "yes", false},
	    {"/^[\\w-.]+@([\\w-]+\\.)+[\\w-]{2,4}$/", "a.b-c@x-y.example.org", true},
	    {"/^[\\w-.]+@([\\w-]+\\.)+[\\w-]{2,4}$/", "a b@x.org", false},
	    {"/^abc$/i", "ABC", true},
	    {"/^\\d{1,5}$/", "3000", true},
	    {"/^\\d{1,5}$/", "3000x", false},
	};
	struct err e = ERR_INIT;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool icase;
		char *ere = oneclick_regex_translate(cases[i].js, &icase, &e);
		regex_t re;

		CHECK(ere != NULL);
		if (!ere) {
			continue;
		}
		CHECK(regcomp(&re, ere, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) == 0);
		if ((regexec(&re, cases[i].s, 0, NULL, 0) == 0) != cases[i].match) {
			printf("#   %s on '%s': want %s\n", cases[i].js, cases[i].s,
			       cases[i].match ? "a match" : "none");
			CHECK(0);
		}
		regfree(&re);
		free(ere);
	}
	err_release(&e);
}

static void test_untranslatable_regex_refused(void)
{
	CHECK(parse_fails("captainVersion: 4\n"
			  "services:\n"
			  "  $$cap_appname: {image: x}\n"
			  "caproverOneClickApp:\n"
			  "  variables:\n"
			  "    - id: $$cap_x\n"
			  "      label: X\n"
			  "      validRegex: /^(?!admin).+$/\n",
			  "t.yml:8:19: caproverOneClickApp.variables[0].validRegex: regex "
			  "/^(?!admin).+$/: lookarounds"));
}

static void test_random_hex_per_occurrence(void)
{
	const char *yml = "captainVersion: 4\n"
			  "services:\n"
			  "  $$cap_appname:\n"
			  "    image: x\n"
			  "    environment:\n"
			  "      A: $$cap_gen_random_hex(16)\n"
			  "      B: $$cap_gen_random_hex(16)\n"
			  "      C: $$cap_pw\n"
			  "      D: x-$$cap_pw-$$cap_gen_random_hex(1)\n"
			  "      E: $$cap_gen_random_hex(256)\n"
			  "caproverOneClickApp:\n"
			  "  variables:\n"
			  "    - id: $$cap_pw\n"
			  "      label: pw\n"
			  "      defaultValue: $$cap_gen_random_hex(20)\n";
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v[] = {{"appname", "app"}};
	const struct oneclick_env *a, *b, *c, *d, *ee;
	struct err e = ERR_INIT;

	CHECK(parse(&t, yml, &e) == 0);
	CHECK(oneclick_fill(&t, NULL, v, 1, &p, &e) == 0);
	a = env_named(&p.apps[0], "A");
	b = env_named(&p.apps[0], "B");
	c = env_named(&p.apps[0], "C");
	d = env_named(&p.apps[0], "D");
	ee = env_named(&p.apps[0], "E");
	CHECK(a && b && c && d && ee);
	if (a && b && c && d && ee) {
		CHECK(is_hex(a->value.v, 16) && is_hex(b->value.v, 16));
		/* a fresh value at each occurrence, as CapRover does */
		CHECK(strcmp(a->value.v, b->value.v));
		/* a variable's random default is made once: the same everywhere it is used */
		CHECK(is_hex(c->value.v, 20));
		CHECK(!strncmp(d->value.v + 2, c->value.v, 20) && strlen(d->value.v) == 24);
		CHECK_STR(d->value.shown, "x-***-***");
		CHECK(a->value.secret && c->value.secret && d->value.secret);
		CHECK(is_hex(ee->value.v, 256));
	}
	oneclick_plan_release(&p);
	oneclick_release(&t);

	/* N out of range */
	CHECK(parse(&t,
		    "captainVersion: 4\nservices:\n  $$cap_appname:\n    image: x\n"
		    "    environment: {A: $$cap_gen_random_hex(257)}\n",
		    &e) == 0);
	CHECK(oneclick_fill(&t, NULL, v, 1, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "N from 1 to 256"));
	oneclick_release(&t);
	err_release(&e);
}

static void test_fill_errors(void)
{
	const char *yml =
	    "captainVersion: 4\n"
	    "services:\n"
	    "  $$cap_appname:\n"
	    "    image: x:$$cap_tag\n"
	    "    environment:\n"
	    "      DB_PASSWORD: $$cap_pw\n"
	    "caproverOneClickApp:\n"
	    "  variables:\n"
	    "    - {id: $$cap_tag, label: Tag, defaultValue: '1', validRegex: '/^\\d+$/'}\n"
	    "    - {id: $$cap_pw, label: Password, validRegex: '/.{8,}/'}\n";
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v[3];
	struct err e = ERR_INIT;

	CHECK(parse(&t, yml, &e) == 0);
	CHECK(oneclick_fill(&t, NULL, NULL, 0, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "appname is required"));
	v[0] = (struct oneclick_value){"appname", "Bad_Name"};
	CHECK(oneclick_fill(&t, NULL, v, 1, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "invalid app name 'Bad_Name'"));
	v[0].value = "ok";
	v[1] = (struct oneclick_value){"tag", "latest"};
	v[2] = (struct oneclick_value){"pw", "longenough"};
	CHECK(oneclick_fill(&t, NULL, v, 3, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "tag (Tag): 'latest' does not match /^\\d+$/"));
	/* a secret's value is never in an error */
	v[1].value = "2";
	v[2].value = "short";
	CHECK(oneclick_fill(&t, NULL, v, 3, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "pw (Password): the value given does not match"));
	CHECK(!strstr(err_str(&e), "short"));
	v[2] = (struct oneclick_value){"nope", "x"};
	CHECK(oneclick_fill(&t, NULL, v, 3, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "'nope' is not a variable of the template (its variables: "
				  "appname, tag, pw)"));
	v[2] = (struct oneclick_value){"tag", "3"};
	CHECK(oneclick_fill(&t, NULL, v, 3, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "tag is given twice"));
	v[2] = (struct oneclick_value){"pw", "two\nlines!!"};
	CHECK(oneclick_fill(&t, NULL, v, 3, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "expected one line"));
	/* a user's value is taken as it is, even when it looks like a variable */
	v[2].value = "$$cap_tag-password";
	CHECK(oneclick_fill(&t, NULL, v, 3, &p, &e) == 0);
	CHECK_STR(p.apps[0].env[0].value.v, "$$cap_tag-password");
	CHECK_STR(p.apps[0].env[0].value.shown, "***");
	CHECK_STR(p.apps[0].image.v, "x:2");
	oneclick_plan_release(&p);
	oneclick_release(&t);

	/* a $$cap_ of no variable is left over: an error */
	CHECK(parse(&t,
		    "captainVersion: 4\nservices:\n  $$cap_appname:\n    image: x:$$cap_version\n",
		    &e) == 0);
	CHECK(oneclick_fill(&t, NULL, v, 1, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "services.$$cap_appname: $$cap_version is not a variable"));
	oneclick_release(&t);
	err_release(&e);
}

static void test_cycle_refused(void)
{
	CHECK(parse_fails("captainVersion: 4\n"
			  "services:\n"
			  "  $$cap_appname:\n"
			  "    image: x\n"
			  "    depends_on: [$$cap_appname-b]\n"
			  "  $$cap_appname-b:\n"
			  "    image: y\n"
			  "    depends_on: [$$cap_appname-c]\n"
			  "  $$cap_appname-c:\n"
			  "    image: z\n"
			  "    depends_on: [$$cap_appname]\n",
			  "depends_on makes a cycle among $$cap_appname, $$cap_appname-b, "
			  "$$cap_appname-c"));
	CHECK(parse_fails("captainVersion: 4\n"
			  "services:\n"
			  "  $$cap_appname:\n"
			  "    image: x\n"
			  "    depends_on: [$$cap_appname-db]\n",
			  "t.yml:3: services.$$cap_appname.depends_on: '$$cap_appname-db' is not "
			  "another service"));
}

static void test_unknown_keys_named_with_line(void)
{
	CHECK(parse_fails("captainVersion: 4\n"
			  "services:\n"
			  "  $$cap_appname:\n"
			  "    image: x\n"
			  "    networks: [a]\n",
			  "t.yml:5:5: services.$$cap_appname: unknown key 'networks' (expected one "
			  "of: image,"));
	CHECK(parse_fails("captainVersion: 4\n"
			  "services:\n"
			  "  app: {image: x, caproverExtra: {containerPort: 80}}\n",
			  "t.yml:3:35: services.app.caproverExtra: unknown key 'containerPort'"));
	CHECK(parse_fails("captainVersion: 4\nversion: '3'\nservices: {a: {image: x}}\n",
			  "t.yml:2:1: template: unknown key 'version'"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: x}}\n"
			  "caproverOneClickApp:\n  variables:\n    - {id: $$cap_x, lable: X}\n",
			  "t.yml:5:21: caproverOneClickApp.variables[0]: unknown key 'lable'"));
	CHECK(parse_fails("captainVersion: 3\nservices: {a: {image: x}}\n",
			  "t.yml:1:17: captainVersion: expected 4"));
	CHECK(parse_fails("services: {a: {image: x}}\n", "captainVersion: expected 4"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {restart: always}}\n",
			  "services.a: expected an image or caproverExtra.dockerfileLines"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: x}}\ncaproverOneClickApp:\n"
			  "  variables: [{id: $$cap_appname, label: A}]\n",
			  "$$cap_appname is built in"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: x}}\ncaproverOneClickApp:\n"
			  "  variables: [{id: 'cap x', label: A}]\n",
			  "expected $$cap_ and a name"));
	CHECK(parse_fails("captainVersion: 4\nservices: [a]\n", "services: expected a mapping"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: x, environment: {'': 1}}}\n",
			  "t.yml:2:40: services.a.environment: a variable needs a name"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: [x]}}\n",
			  "t.yml:2:23: services.a.image: expected a string, got a list"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: x, environment: [A=1]}}\n",
			  "services.a.environment: expected a mapping KEY: VALUE"));
}

static void test_host_path_volume_refused(void)
{
	CHECK(
	    parse_fails("captainVersion: 4\n"
			"services:\n"
			"  $$cap_appname:\n"
			"    image: x\n"
			"    volumes:\n"
			"      - /var/run/docker.sock:/var/run/docker.sock\n",
			"t.yml:6:9: services.$$cap_appname.volumes: '/var/run/docker.sock:/var/run/"
			"docker.sock' mounts a host path: only named volumes (NAME:/PATH)"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: x, volumes: ['./data:/d']}}\n",
			  "mounts a host path"));
	CHECK(parse_fails("captainVersion: 4\nservices: {a: {image: x, volumes: [data]}}\n",
			  "expected a named volume NAME:/PATH, got 'data'"));
}

static void test_ports_ignored_with_warning(void)
{
	struct oneclick t = ONECLICK_INIT;
	struct err e = ERR_INIT;

	CHECK(parse(&t,
		    "captainVersion: 4\nservices:\n  a:\n    image: x\n    ports: ['8080:80']\n",
		    &e) == 0);
	CHECK_INT(t.warnings.nr, 1);
	CHECK(t.warnings.nr && strstr(t.warnings.v[0], "5: services.a.ports ignored"));
	oneclick_release(&t);
	err_release(&e);
}

static void test_plan_size_bounded(void)
{
	struct sbuf yml = SBUF_INIT;
	struct oneclick t = ONECLICK_INIT;
	struct oneclick_plan p = {0};
	struct oneclick_value v[] = {{"appname", "app"}};
	struct err e = ERR_INIT;

	sbuf_addstr(&yml, "captainVersion: 4\nservices:\n  a:\n    image: x\n    environment:\n");
	for (int i = 0; i < 400; i++) {
		sbuf_addf(&yml, "      A%d: $$cap_big\n", i);
	}
	sbuf_addstr(&yml,
		    "caproverOneClickApp:\n  variables:\n    - id: $$cap_big\n      label: B\n"
		    "      defaultValue: ");
	for (int i = 0; i < 16000; i++) {
		sbuf_addch(&yml, 'x');
	}
	sbuf_addch(&yml, '\n');
	CHECK(oneclick_parse(&t, "t.yml", yml.buf, yml.len, &e) == 0);
	CHECK(oneclick_fill(&t, NULL, v, 1, &p, &e) < 0);
	CHECK(strstr(err_str(&e), "the filled template grows past 4194304 bytes"));
	oneclick_release(&t);
	sbuf_release(&yml);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_shipped_templates_parse);
	UNIT_RUN(test_postgres_plan);
	UNIT_RUN(test_app_postgres_order_and_port);
	UNIT_RUN(test_static_site_dockerfile);
	UNIT_RUN(test_variables_form);
	UNIT_RUN(test_values_as_written);
	UNIT_RUN(test_regex_translation);
	UNIT_RUN(test_regex_matches);
	UNIT_RUN(test_untranslatable_regex_refused);
	UNIT_RUN(test_random_hex_per_occurrence);
	UNIT_RUN(test_fill_errors);
	UNIT_RUN(test_cycle_refused);
	UNIT_RUN(test_unknown_keys_named_with_line);
	UNIT_RUN(test_host_path_volume_refused);
	UNIT_RUN(test_ports_ignored_with_warning);
	UNIT_RUN(test_plan_size_bounded);
	return unit_done();
}
