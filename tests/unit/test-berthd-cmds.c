/*
 * Tests for berthd's commands called as functions (daemon/cmd-*.c): input
 * no argv or SSH command line can carry, such as a 10 MB config value.
 * tests/e2e/t0301-berthd-commands.sh runs the binary for the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/berthd.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-cmds-XXXXXX";

static void bd_open(struct bd *bd)
{
	memset(bd, 0, sizeof(*bd));
	bd->state_dir = dir;
	bd->admin = true;
	bd->quiet = true;
	CHECK(store_open(&bd->store, dir, NULL) == 0);
}

static char *config_dump(struct bd *bd, const char *app)
{
	struct strvec n = STRVEC_INIT, v = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;

	store_config_list(&bd->store, app, &n, &v, NULL);
	for (size_t i = 0; i < n.nr; i++) {
		sbuf_addf(&sb, "%s=%s\n", n.v[i], v.v[i]);
	}
	strvec_clear(&n);
	strvec_clear(&v);
	return sbuf_detach(&sb, NULL);
}

static void test_config_set_refuses_and_changes_nothing(void)
{
	struct bd bd;
	struct sbuf big = SBUF_INIT;
	char *before, *after;

	bd_open(&bd);
	store_app_create(&bd.store, "web", NULL);
	{
		const char *argv[] = {"config:set", "--no-restart", "web", "A=1", NULL};
		CHECK_INT(cmd_config_set(&bd, 4, argv), 0);
	}
	before = config_dump(&bd, "web");
	CHECK_STR(before, "A=1\n");

	/* 10 MB in one value */
	sbuf_addstr(&big, "BIG=");
	while (big.len < 10 * 1024 * 1024) {
		sbuf_addstr(&big, "0123456789abcdef");
	}
	{
		const char *argv[] = {"config:set", "web", "A=2", big.buf, NULL};
		CHECK_INT(cmd_config_set(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"config:set", "web", "A=3", "NOEQUALS", NULL};
		CHECK_INT(cmd_config_set(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"config:set", "web", "A=4", "B=two\nlines", NULL};
		CHECK_INT(cmd_config_set(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"config:set", "--encoded", "web", "A=bm90IGJhc2U2NA", NULL};
		CHECK_INT(cmd_config_set(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"config:set", "web", "=empty-name", NULL};
		CHECK_INT(cmd_config_set(&bd, 3, argv), 1);
	}
	after = config_dump(&bd, "web");
	CHECK_STR(after, before);
	free(before);
	free(after);
	sbuf_release(&big);
	store_app_destroy(&bd.store, "web", NULL);
	store_close(&bd.store);
}

static void test_events_hold_names_never_values(void)
{
	struct bd bd;
	struct store_event *evs = NULL;
	size_t n = 0;
	bool leaked = false, named = false;

	bd_open(&bd);
	bd.key = "alice";
	store_app_create(&bd.store, "api", NULL);
	{
		const char *argv[] = {"config:set",
				      "--no-restart",
				      "api",
				      "TOKEN=t0p-s3cret",
				      "DB_URL=postgres://u:pw@db/x",
				      NULL};
		CHECK_INT(cmd_config_set(&bd, 5, argv), 0);
	}
	{
		const char *argv[] = {"config:unset", "--no-restart", "api", "TOKEN", NULL};
		CHECK_INT(cmd_config_unset(&bd, 4, argv), 0);
	}
	CHECK(store_event_list(&bd.store, 0, 0, &evs, &n, NULL) == 0);
	for (size_t i = 0; i < n; i++) {
		if (evs[i].names &&
		    (strstr(evs[i].names, "s3cret") || strstr(evs[i].names, "pw@"))) {
			leaked = true;
		}
		if (!strcmp(evs[i].action, "config:set") && evs[i].names &&
		    !strcmp(evs[i].names, "TOKEN,DB_URL") && evs[i].key &&
		    !strcmp(evs[i].key, "alice")) {
			named = true;
		}
	}
	CHECK(!leaked);
	CHECK(named);
	store_events_free(evs, n);
	store_app_destroy(&bd.store, "api", NULL);
	store_close(&bd.store);
}

static void test_rights(void)
{
	struct bd bd;

	bd_open(&bd);
	store_key_add(&bd.store, "r", "SHA256:r", "ssh-ed25519 AAAA", false, NULL);
	store_right_grant(&bd.store, "r", "web", "read", NULL);
	store_right_grant(&bd.store, "r", "api", "deploy", NULL);
	bd.admin = false;
	bd.key = "r";
	CHECK(bd_can(&bd, "web", BD_READ));
	CHECK(!bd_can(&bd, "web", BD_DEPLOY));
	CHECK(bd_can(&bd, "api", BD_READ));
	CHECK(bd_can(&bd, "api", BD_DEPLOY));
	CHECK(!bd_can(&bd, "other", BD_READ));
	bd.key = NULL; /* no key and not admin: nothing */
	CHECK(!bd_can(&bd, "web", BD_READ));
	bd.admin = true;
	CHECK(bd_can(&bd, "other", BD_DEPLOY));
	store_key_remove(&bd.store, "r", NULL);
	store_close(&bd.store);
}

static void test_resource_and_mount_syntax(void)
{
	static const char *const mem_ok[] = {"6m",  "512m",    "512M",	   "1g",
					     "1G",  "1.5g",    "512mb",	   "512MiB",
					     "1 g", "7000000", "7000000b", "1t"};
	static const char *const mem_bad[] = {"",    "5m",  "1",    "m",     "12x", "-1",  "1.5.5",
					      "1.g", "1gg", "512 ", " 512m", "0",   "1e9", "1k"};
	static const char *const cpu_ok[] = {"1", "0.5", "2", "16", "0.01"};
	static const char *const cpu_bad[] = {"",   "0",   "0.0", "-1",	 "1.",
					      ".5", "1,5", "two", "2000"};
	static const char *const mount_ok[] = {"/srv/data:/data", "/a:/b", "/var/lib/x.y:/x..y"};
	static const char *const mount_bad[] = {"data:/data", "/data:data",   "/a:/b:ro",
						"/a:/b,ro",   "/a/../etc:/x", "/a:/b/..",
						"/a/./b:/c",  "/a",	      ":/b",
						"/a:",	      "/a b:/c",      "/a\"b:/c",
						"/a:/b\n"};

	for (size_t i = 0; i < sizeof(mem_ok) / sizeof(mem_ok[0]); i++) {
		CHECK(resource_valid_memory(mem_ok[i]));
	}
	for (size_t i = 0; i < sizeof(mem_bad) / sizeof(mem_bad[0]); i++) {
		if (resource_valid_memory(mem_bad[i])) {
			printf("# memory '%s' taken\n", mem_bad[i]);
		}
		CHECK(!resource_valid_memory(mem_bad[i]));
	}
	for (size_t i = 0; i < sizeof(cpu_ok) / sizeof(cpu_ok[0]); i++) {
		CHECK(resource_valid_cpus(cpu_ok[i]));
	}
	for (size_t i = 0; i < sizeof(cpu_bad) / sizeof(cpu_bad[0]); i++) {
		CHECK(!resource_valid_cpus(cpu_bad[i]));
	}
	for (size_t i = 0; i < sizeof(mount_ok) / sizeof(mount_ok[0]); i++) {
		CHECK(storage_valid_mount(mount_ok[i]));
	}
	for (size_t i = 0; i < sizeof(mount_bad) / sizeof(mount_bad[0]); i++) {
		if (storage_valid_mount(mount_bad[i])) {
			printf("# mount '%s' taken\n", mount_bad[i]);
		}
		CHECK(!storage_valid_mount(mount_bad[i]));
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_config_set_refuses_and_changes_nothing);
	UNIT_RUN(test_events_hold_names_never_values);
	UNIT_RUN(test_rights);
	UNIT_RUN(test_resource_and_mount_syntax);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
