/*
 * Tests for daemon/ocinstall.c (what oneclick:deploy decides before it
 * creates anything, and the names of an install's network, aliases and
 * volumes) and daemon/apioneclick.c's reading of POST /api/v1/oneclick.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/apioneclick.h"
#include "daemon/ocinstall.h"
#include "daemon/store.h"
#include "engine/scripts.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/test-ocinstall-XXXXXX";

static void test_names(void)
{
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	char longname[64];

	CHECK(ocinstall_network(&sb, "shop", &e) == 0);
	CHECK_STR(sb.buf, "oneclick-shop");
	sbuf_reset(&sb);
	memset(longname, 'a', 63);
	longname[63] = 0;
	CHECK(ocinstall_network(&sb, longname, &e) < 0);
	CHECK(strstr(err_str(&e), "too long for the install's network") != NULL);
	sbuf_reset(&sb);
	ocinstall_aliases(&sb, "shop-db");
	CHECK_STR(sb.buf, "srv-captain--shop-db shop-db");
	sbuf_reset(&sb);
	ocinstall_volume(&sb, "shop", "shop-db-data");
	CHECK_STR(sb.buf, "shop_shop-db-data");
	sbuf_reset(&sb);
	ocinstall_mount(&sb, "shop", "shop-db-data:/var/lib/postgresql/data");
	CHECK_STR(sb.buf, "shop_shop-db-data:/var/lib/postgresql/data");
	/* two installs never name one volume alike: app names hold no '_' */
	sbuf_reset(&sb);
	ocinstall_volume(&sb, "a-b", "data");
	CHECK_STR(sb.buf, "a-b_data");
	sbuf_reset(&sb);
	ocinstall_volume(&sb, "a", "b-data");
	CHECK_STR(sb.buf, "a_b-data");
	sbuf_release(&sb);
	err_release(&e);
}

/* Prepares yml with vals in a fresh store; expects an error holding want (NULL: success). */
static bool prepare(struct store *s, const char *yml, const struct oneclick_value *vals, size_t n,
		    const char *want, struct ocinstall *in)
{
	struct err e = ERR_INIT;
	int r = ocinstall_prepare(in, s, "t.yml", yml, strlen(yml), vals, n, &e);
	bool ok = want ? r < 0 && strstr(err_str(&e), want) : r == 0;

	if (!ok) {
		printf("#   expected %s%s, got '%s'\n", want ? "an error with " : "success",
		       want ? want : "", err_isset(&e) ? err_str(&e) : "(none)");
	}
	err_release(&e);
	return ok;
}

static const char cmd_yml[] = "captainVersion: 4\n"
			      "services:\n"
			      "  $$cap_appname:\n"
			      "    image: busybox\n"
			      "    command: %s\n"
			      "    environment:\n"
			      "      %s: %s\n"
			      "caproverOneClickApp:\n"
			      "  variables:\n"
			      "    - id: $$cap_pass\n"
			      "      label: Password\n"
			      "      defaultValue: $$cap_gen_random_hex(16)\n";

static bool check_yml(struct store *s, const char *cmd, const char *key, const char *value,
		      const char *want)
{
	struct ocinstall in = OCINSTALL_INIT;
	struct oneclick_value v[] = {{"appname", "app1"}};
	struct sbuf yml = SBUF_INIT;
	bool ok;

	sbuf_addf(&yml, cmd_yml, cmd, key, value);
	ok = prepare(s, yml.buf, v, 1, want, &in);
	ocinstall_release(&in);
	sbuf_release(&yml);
	return ok;
}

static void test_prepare(void)
{
	struct store s = STORE_INIT;
	struct ocinstall in = OCINSTALL_INIT;
	struct oneclick_value ok[] = {{"appname", "shop"}, {"app_image", "busybox:1.36"}};
	struct oneclick_value bad[] = {{"$$cap_appname", "shop"}, {"app_image", "Bad Image"}};
	struct oneclick_value weak[] = {
	    {"appname", "shop"}, {"app_image", "busybox"}, {"db_password", "short"}};
	const char *app_pg = oneclick_builtin("app-postgres");

	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(store_setting_set(&s, "global-domain", "lab.test", NULL) == 0);
	CHECK(prepare(&s, app_pg, ok, 2, NULL, &in));
	CHECK_STR(in.install, "shop");
	CHECK_STR(in.network.buf, "oneclick-shop");
	CHECK(in.p.napps == 2);
	CHECK_STR(in.p.apps[0].name, "shop-db");
	CHECK(!in.p.apps[0].web);
	CHECK(in.p.apps[1].web && in.p.apps[1].http_port == 3000);
	ocinstall_release(&in);
	/* a value failing its validRegex: the variable named; a secret's value never shown */
	CHECK(prepare(&s, app_pg, bad, 2, "app_image", &in));
	ocinstall_release(&in);
	CHECK(prepare(&s, app_pg, weak, 3, "db_password", &in));
	ocinstall_release(&in);
	CHECK(prepare(&s, app_pg, weak, 3, "the value given does not match", &in));
	ocinstall_release(&in);
	/* an app of the plan that exists: named, before anything is made */
	CHECK(store_app_create(&s, "shop-db", NULL) == 0);
	CHECK(prepare(&s, app_pg, ok, 2, "app shop-db exists already", &in));
	ocinstall_release(&in);
	CHECK(prepare(&s, "captainVersion: 3\n", ok, 2, "t.yml:1", &in));
	ocinstall_release(&in);
	/* what a deploy could not carry, or only by showing a secret */
	CHECK(check_yml(&s, "sh -c 'echo \"$PASS\"'", "PASS", "$$cap_pass", NULL));
	CHECK(check_yml(&s, "redis-server --requirepass $$cap_pass", "X", "1",
			"service app1: its command holds a secret"));
	CHECK(check_yml(&s, "sh -c 'unterminated", "X", "1", "service app1: command"));
	CHECK(check_yml(&s, "true", "BAD-KEY", "1", "'BAD-KEY' is not a variable name"));
	CHECK(check_yml(&s, "true", "9X", "1", "'9X' is not a variable name"));
	store_close(&s);
}

static void test_dockerfile_secret_refused(void)
{
	struct store s = STORE_INIT;
	struct ocinstall in = OCINSTALL_INIT;
	struct oneclick_value v[] = {{"appname", "site"}};
	static const char yml[] = "captainVersion: 4\n"
				  "services:\n"
				  "  $$cap_appname:\n"
				  "    caproverExtra:\n"
				  "      dockerfileLines:\n"
				  "        - FROM busybox\n"
				  "        - ENV TOKEN=$$cap_gen_random_hex(8)\n";

	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(prepare(&s, yml, v, 1, "service site: dockerfile line 2 holds a secret", &in));
	ocinstall_release(&in);
	store_close(&s);
}

/* Parses a body's JSON text; expects an error holding want (NULL: success). */
static bool body(const char *text, const char *want, struct apioneclick_req *r, json_t **j)
{
	struct err e = ERR_INIT;
	bool ok;
	int rc;

	*j = json_loads(text, JSON_ALLOW_NUL, NULL);
	rc = apioneclick_parse(*j, r, &e);
	ok = want ? rc < 0 && strstr(err_str(&e), want) : rc == 0;
	if (!ok) {
		printf("#   %s: expected %s%s, got '%s'\n", text,
		       want ? "an error with " : "success", want ? want : "",
		       err_isset(&e) ? err_str(&e) : "(none)");
	}
	err_release(&e);
	return ok;
}

static void test_api_body(void)
{
	struct apioneclick_req r;
	json_t *j;

	CHECK(body("{\"template\": \"redis\", \"values\": {\"$$cap_appname\": \"r1\", "
		   "\"redis_version\": \"7\"}}",
		   NULL, &r, &j));
	CHECK_STR(r.template, "redis");
	CHECK(r.yaml == NULL && r.nvalues == 2);
	CHECK_STR(r.values[0].id, "$$cap_appname");
	CHECK_STR(r.values[0].value, "r1");
	CHECK_STR(r.values[1].id, "redis_version");
	apioneclick_req_release(&r);
	json_decref(j);
	CHECK(body("{\"yaml\": \"captainVersion: 4\", \"values\": {}}", NULL, &r, &j));
	CHECK_STR(r.yaml, "captainVersion: 4");
	apioneclick_req_release(&r);
	json_decref(j);
	CHECK(body("{\"values\": {}}", "expected one of template", &r, &j));
	json_decref(j);
	CHECK(body("{\"template\": \"a\", \"yaml\": \"b\", \"values\": {}}", "expected one of", &r,
		   &j));
	json_decref(j);
	CHECK(body("{\"template\": 3, \"values\": {}}", "template: expected", &r, &j));
	json_decref(j);
	CHECK(body("{\"yaml\": [], \"values\": {}}", "yaml: expected", &r, &j));
	json_decref(j);
	CHECK(body("{\"template\": \"redis\"}", "values: expected an object", &r, &j));
	json_decref(j);
	CHECK(body("{\"template\": \"redis\", \"values\": {\"$$cap_x\": 1}}",
		   "values.$$cap_x: expected a string", &r, &j));
	json_decref(j);
	CHECK(body("{\"template\": \"redis\", \"values\": {\"x\": \"a\\u0000b\"}}",
		   "values.x: expected a string", &r, &j));
	json_decref(j);
	CHECK(body("[1]", "expected a JSON object", &r, &j));
	json_decref(j);
}

int main(void)
{
	char *rm;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_names);
	UNIT_RUN(test_prepare);
	UNIT_RUN(test_dockerfile_secret_refused);
	UNIT_RUN(test_api_body);
	rm = malloc(strlen(dir) + 16);
	snprintf(rm, strlen(dir) + 16, "rm -rf %s", dir);
	if (system(rm)) {
		/* a temporary directory left behind */
	}
	free(rm);
	return unit_done();
}
