/* Tests for daemon/store.c: berthd's records in SQLite. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/store.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-store-XXXXXX";

static void open_fresh(struct store *s)
{
	struct err e = ERR_INIT;
	CHECK(store_open(s, dir, &e) == 0);
	err_release(&e);
}

static void test_open_creates_0600_wal(void)
{
	struct store s = STORE_INIT;
	struct stat st;
	struct sbuf p = SBUF_INIT;

	open_fresh(&s);
	sbuf_addf(&p, "%s/berthd.db", dir);
	CHECK(stat(p.buf, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	store_close(&s);
	/* opening again keeps the records and the schema */
	open_fresh(&s);
	CHECK(s.db != NULL);
	store_close(&s);
	sbuf_release(&p);
}

static void test_apps(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct store_app a = {0};
	struct strvec names = STRVEC_INIT;

	open_fresh(&s);
	CHECK(store_app_create(&s, "web", &e) == 0);
	CHECK(store_app_create(&s, "api", &e) == 0);
	CHECK(store_app_create(&s, "web", &e) < 0);
	CHECK_STR(err_str(&e), "app 'web' already exists");
	CHECK(store_app_list(&s, &names, &e) == 0);
	CHECK_INT(names.nr, 2);
	CHECK_STR(names.v[0], "api");
	CHECK(store_app_set(&s, "web", STORE_APP_BRANCH, "deploy", &e) == 0);
	CHECK(store_app_get(&s, "web", &a, &e) == 1);
	CHECK_STR(a.branch, "deploy");
	CHECK(a.dockerfile == NULL);
	CHECK(a.created > 0);
	store_app_release(&a);
	CHECK(store_app_get(&s, "nope", &a, &e) == 0);
	CHECK(store_app_set(&s, "nope", STORE_APP_BRANCH, "x", &e) < 0);
	store_app_destroy(&s, "web", &e);
	store_app_destroy(&s, "api", &e);
	CHECK(!store_app_exists(&s, "web"));
	strvec_clear(&names);
	err_release(&e);
	store_close(&s);
}

static void test_config_and_rename(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct strvec n = STRVEC_INIT, v = STRVEC_INIT, gn = STRVEC_INIT, gv = STRVEC_INIT;
	char *val = NULL;

	open_fresh(&s);
	CHECK(store_app_create(&s, "one", &e) == 0);
	strvec_push(&n, "B");
	strvec_push(&v, "$(rm -rf /); `x` 'q' \"d\"");
	strvec_push(&n, "A");
	strvec_push(&v, "1");
	CHECK(store_config_set(&s, "one", &n, &v, &e) == 0);
	CHECK(store_config_get(&s, "one", "B", &val, &e) == 1);
	CHECK_STR(val, "$(rm -rf /); `x` 'q' \"d\"");
	free(val);
	val = NULL;
	CHECK(store_config_list(&s, "one", &gn, &gv, &e) == 0);
	CHECK_INT(gn.nr, 2);
	CHECK_STR(gn.v[0], "A");
	CHECK_STR(gv.v[0], "1");
	CHECK(store_domain_add(&s, "one", "one.example.com", &e) == 0);
	CHECK(store_scale_set(&s, "one", "web", 2, &e) == 0);
	CHECK(store_app_rename(&s, "one", "two", &e) == 0);
	CHECK(!store_app_exists(&s, "one"));
	CHECK(store_config_get(&s, "two", "A", &val, &e) == 1);
	CHECK_STR(val, "1");
	free(val);
	strvec_clear(&gn);
	CHECK(store_domain_list(&s, "two", &gn, &e) == 0);
	CHECK_INT(gn.nr, 1);
	strvec_clear(&n);
	strvec_push(&n, "A");
	CHECK(store_config_unset(&s, "two", &n, &e) == 0);
	CHECK(store_config_get(&s, "two", "A", NULL, &e) == 0);
	CHECK(store_app_destroy(&s, "two", &e) == 0);
	/* destroying takes the config with it */
	CHECK(store_config_get(&s, "two", "B", NULL, &e) == 0);
	strvec_clear(&n);
	strvec_clear(&v);
	strvec_clear(&gn);
	strvec_clear(&gv);
	err_release(&e);
	store_close(&s);
}

static void test_domains_scale(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct strvec d = STRVEC_INIT, t = STRVEC_INIT, c = STRVEC_INIT;

	open_fresh(&s);
	store_app_create(&s, "d", &e);
	CHECK(store_domain_add(&s, "d", "b.example", &e) == 0);
	CHECK(store_domain_add(&s, "d", "a.example", &e) == 0);
	CHECK(store_domain_add(&s, "d", "a.example", &e) == 0);
	CHECK(store_domain_remove(&s, "d", "b.example", &e) == 1);
	CHECK(store_domain_remove(&s, "d", "b.example", &e) == 0);
	strvec_push(&d, "x.example");
	strvec_push(&d, "y.example");
	CHECK(store_domain_set(&s, "d", &d, &e) == 0);
	strvec_clear(&d);
	CHECK(store_domain_list(&s, "d", &d, &e) == 0);
	CHECK_INT(d.nr, 2);
	CHECK_STR(d.v[0], "x.example");
	CHECK(store_scale_set(&s, "d", "worker", 3, &e) == 0);
	CHECK(store_scale_set(&s, "d", "web", 1, &e) == 0);
	CHECK(store_scale_set(&s, "d", "worker", 0, &e) == 0);
	CHECK(store_scale_list(&s, "d", &t, &c, &e) == 0);
	CHECK_INT(t.nr, 2);
	CHECK_STR(t.v[1], "worker");
	CHECK_STR(c.v[1], "0");
	store_app_destroy(&s, "d", &e);
	strvec_clear(&d);
	strvec_clear(&t);
	strvec_clear(&c);
	err_release(&e);
	store_close(&s);
}

static void test_releases(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct store_release r = {0}, *rs = NULL;
	long long id1 = 0, id2 = 0;
	size_t n = 0;

	open_fresh(&s);
	store_app_create(&s, "r", &e);
	CHECK(store_release_current(&s, "r", &r, &e) == 0);
	CHECK(store_release_add(&s, "r", "aaa", "berthd/r:aaa", NULL, "deploying", &id1, &e) == 0);
	CHECK(store_release_set_status(&s, id1, "deployed", &e) == 0);
	CHECK(store_release_add(&s, "r", "bbb", "berthd/r:bbb",
				"0123456789abcdef0123456789abcdef01234567", "failed", &id2,
				&e) == 0);
	CHECK(id2 > id1);
	CHECK(store_release_current(&s, "r", &r, &e) == 1);
	CHECK_STR(r.version, "aaa");
	CHECK_STR(r.image, "berthd/r:aaa");
	store_release_release(&r);
	CHECK(store_release_find(&s, "r", "bbb", &r, &e) == 1);
	CHECK_STR(r.status, "failed");
	CHECK_STR(r.rev, "0123456789abcdef0123456789abcdef01234567");
	store_release_release(&r);
	CHECK(store_release_list(&s, "r", &rs, &n, &e) == 0);
	CHECK_INT(n, 2);
	CHECK_STR(rs[0].version, "bbb");
	store_releases_free(rs, n);
	store_app_destroy(&s, "r", &e);
	CHECK(store_release_list(&s, "r", &rs, &n, &e) == 0);
	CHECK_INT(n, 0);
	store_releases_free(rs, n);
	err_release(&e);
	store_close(&s);
}

static void test_keys_rights(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct store_key k = {0}, *ks = NULL;
	char *name = NULL, *right = NULL;
	size_t n = 0;

	open_fresh(&s);
	CHECK(store_key_add(&s, "alice", "SHA256:a", "ssh-ed25519 AAAA", true, &e) == 0);
	CHECK(store_key_add(&s, "alice", "SHA256:b", "ssh-ed25519 BBBB", false, &e) < 0);
	CHECK_STR(err_str(&e), "key name 'alice' is already in use");
	err_release(&e);
	CHECK(store_key_add(&s, "bob", "SHA256:a", "ssh-ed25519 AAAA", false, &e) < 0);
	CHECK_STR(err_str(&e), "this key is already added as 'alice'");
	err_release(&e);
	CHECK(store_key_add(&s, "bob", "SHA256:b", "ssh-ed25519 BBBB", false, &e) == 0);
	CHECK(store_key_get(&s, "bob", &k, &e) == 1);
	CHECK(!k.admin);
	CHECK_STR(k.line, "ssh-ed25519 BBBB");
	store_key_release(&k);
	CHECK(store_key_by_fingerprint(&s, "SHA256:b", &name, &e) == 1);
	CHECK_STR(name, "bob");
	free(name);
	CHECK(store_right_grant(&s, "bob", "web", "read", &e) == 0);
	CHECK(store_right_grant(&s, "bob", "web", "deploy", &e) == 0);
	CHECK(store_right_get(&s, "bob", "web", &right, &e) == 1);
	CHECK_STR(right, "deploy");
	free(right);
	CHECK(store_right_revoke(&s, "bob", "web", &e) == 0);
	CHECK(store_right_get(&s, "bob", "web", NULL, &e) == 0);
	CHECK(store_right_grant(&s, "bob", "api", "read", &e) == 0);
	CHECK(store_key_remove(&s, "bob", &e) == 1);
	CHECK(store_key_remove(&s, "bob", &e) == 0);
	/* a key's rights go with it: a new key of that name starts with none */
	CHECK(store_right_get(&s, "bob", "api", NULL, &e) == 0);
	CHECK(store_key_set_admin(&s, "alice", false, &e) == 0);
	CHECK(store_key_list(&s, &ks, &n, &e) == 0);
	CHECK_INT(n, 1);
	CHECK(!ks[0].admin);
	store_keys_free(ks, n);
	store_key_remove(&s, "alice", &e);
	err_release(&e);
	store_close(&s);
}

static void test_events_settings(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct store_event *evs = NULL;
	char *v = NULL;
	size_t n = 0;

	open_fresh(&s);
	CHECK(store_event_add(&s, NULL, "web", "config:set", "A,B", &e) == 0);
	CHECK(store_event_add(&s, "alice", "web", "domains:add", "web.example", &e) == 0);
	CHECK(store_event_add(&s, "alice", NULL, "ssh-keys:add", "bob", &e) == 0);
	CHECK(store_event_list(&s, 0, 2, &evs, &n, &e) == 0);
	CHECK_INT(n, 2);
	CHECK_STR(evs[0].action, "domains:add");
	CHECK_STR(evs[1].action, "ssh-keys:add");
	CHECK(evs[1].app == NULL);
	store_events_free(evs, n);
	CHECK(store_event_list(&s, 0, 0, &evs, &n, &e) == 0);
	CHECK_INT(n, 3);
	CHECK(evs[0].key == NULL);
	CHECK_STR(evs[0].names, "A,B");
	store_events_free(evs, n);
	CHECK(store_setting_get(&s, "global-domain", &v, &e) == 0);
	CHECK(store_setting_set(&s, "global-domain", "example.com", &e) == 0);
	CHECK(store_setting_get(&s, "global-domain", &v, &e) == 1);
	CHECK_STR(v, "example.com");
	free(v);
	CHECK(store_setting_set(&s, "global-domain", NULL, &e) == 0);
	CHECK(store_setting_get(&s, "global-domain", NULL, &e) == 0);
	err_release(&e);
	store_close(&s);
}

/* Writers in several processes at once wait for each other instead of failing. */
static void test_concurrent_writers(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct store_event *evs = NULL;
	size_t n = 0, before;
	pid_t pids[4];
	int failed = 0;

	open_fresh(&s);
	CHECK(store_event_list(&s, 0, 0, &evs, &n, &e) == 0);
	store_events_free(evs, n);
	before = n;
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct store c = STORE_INIT;
			int bad = store_open(&c, dir, NULL) < 0;
			for (int j = 0; !bad && j < 50; j++) {
				bad = store_event_add(&c, "k", "app", "x", "n", NULL) < 0;
			}
			store_close(&c);
			_exit(bad);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st = 0;
		waitpid(pids[i], &st, 0);
		failed += !WIFEXITED(st) || WEXITSTATUS(st);
	}
	CHECK_INT(failed, 0);
	CHECK(store_event_list(&s, 0, 0, &evs, &n, &e) == 0);
	CHECK_INT(n - before, 200);
	store_events_free(evs, n);
	err_release(&e);
	store_close(&s);
}

static void test_newer_schema_refused(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct sbuf sub = SBUF_INIT;
	char *msg = NULL;

	sbuf_addf(&sub, "%s/newer", dir);
	CHECK(store_open(&s, sub.buf, &e) == 0);
	store_begin(&s, &e);
	CHECK(s.db != NULL);
	/* as a later berthd would leave it */
	store_commit(&s, &e);
	sqlite3_exec(s.db, "PRAGMA user_version = 99", NULL, NULL, &msg);
	store_close(&s);
	CHECK(store_open(&s, sub.buf, &e) < 0);
	CHECK(strstr(err_str(&e), "newer than this berthd") != NULL);
	err_release(&e);
	sbuf_release(&sub);
}

/* app properties and mounts: set, replaced, removed, and carried by rename and destroy. */
static void test_props_and_mounts(void)
{
	struct store s;
	struct strvec m = STRVEC_INIT;
	char *v = NULL;

	open_fresh(&s);
	CHECK_INT(store_app_create(&s, "pa", NULL), 0);
	CHECK_INT(store_prop_get(&s, "pa", "resource.memory", &v, NULL), 0);
	CHECK(v == NULL);
	CHECK_INT(store_prop_set(&s, "pa", "resource.memory", "256m", NULL), 0);
	CHECK_INT(store_prop_set(&s, "pa", "resource.memory", "512m", NULL), 0);
	CHECK_INT(store_prop_get(&s, "pa", "resource.memory", &v, NULL), 1);
	CHECK_STR(v, "512m");
	free(v);
	CHECK_INT(store_mount_add(&s, "pa", "/b:/b", NULL), 1);
	CHECK_INT(store_mount_add(&s, "pa", "/a:/a", NULL), 1);
	CHECK_INT(store_mount_add(&s, "pa", "/a:/a", NULL), 0);
	CHECK_INT(store_app_rename(&s, "pa", "pb", NULL), 0);
	CHECK_INT(store_prop_get(&s, "pa", "resource.memory", &v, NULL), 0);
	CHECK_INT(store_prop_get(&s, "pb", "resource.memory", &v, NULL), 1);
	free(v);
	CHECK_INT(store_mount_list(&s, "pb", &m, NULL), 0);
	CHECK_INT(m.nr, 2);
	if (m.nr == 2) {
		CHECK_STR(m.v[0], "/a:/a");
		CHECK_STR(m.v[1], "/b:/b");
	}
	CHECK_INT(store_mount_remove(&s, "pb", "/a:/a", NULL), 1);
	CHECK_INT(store_mount_remove(&s, "pb", "/a:/a", NULL), 0);
	CHECK_INT(store_prop_set(&s, "pb", "resource.memory", NULL, NULL), 0);
	CHECK_INT(store_prop_get(&s, "pb", "resource.memory", &v, NULL), 0);
	CHECK_INT(store_prop_set(&s, "pb", "ps.stopped", "1", NULL), 0);
	CHECK_INT(store_app_destroy(&s, "pb", NULL), 0);
	CHECK_INT(store_app_create(&s, "pb", NULL), 0);
	CHECK_INT(store_prop_get(&s, "pb", "ps.stopped", &v, NULL), 0);
	strvec_clear(&m);
	CHECK_INT(store_mount_list(&s, "pb", &m, NULL), 0);
	CHECK_INT(m.nr, 0);
	strvec_clear(&m);
	store_close(&s);
}

/*
 * A second connection opened in the same process leaves the first one's
 * locks alone: another process that opens and closes the file must not
 * take itself for the last user and delete the WAL (berthd serve holds a
 * connection while its HTTP threads open theirs).
 */
static void test_second_open_keeps_locks(void)
{
	struct store a = STORE_INIT, b = STORE_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf wal = SBUF_INIT;
	char *v = NULL;
	struct stat st;

	CHECK(store_open(&a, dir, NULL) == 0);
	CHECK(store_setting_set(&a, "k", "v1", NULL) == 0);
	CHECK(store_open(&b, dir, NULL) == 0);
	store_close(&b);
	if (access("/usr/bin/sqlite3", X_OK) == 0) {
		strvec_pushv(&c.argv, (const char *[]){"sqlite3", a.path, "PRAGMA user_version", NULL});
		c.out = RUN_IO_CAPTURE;
		c.err = RUN_IO_CAPTURE;
		CHECK(run_one(&c) == 0);
		sbuf_addf(&wal, "%s-wal", a.path);
		CHECK(stat(wal.buf, &st) == 0);
	}
	CHECK(store_setting_set(&a, "k", "v2", NULL) == 0);
	CHECK(store_open(&b, dir, NULL) == 0);
	CHECK_INT(store_setting_get(&b, "k", &v, NULL), 1);
	CHECK_STR(v, "v2");
	free(v);
	store_close(&b);
	store_close(&a);
	run_cmd_release(&c);
	sbuf_release(&wal);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_open_creates_0600_wal);
	UNIT_RUN(test_apps);
	UNIT_RUN(test_config_and_rename);
	UNIT_RUN(test_domains_scale);
	UNIT_RUN(test_releases);
	UNIT_RUN(test_keys_rights);
	UNIT_RUN(test_events_settings);
	UNIT_RUN(test_concurrent_writers);
	UNIT_RUN(test_newer_schema_refused);
	UNIT_RUN(test_props_and_mounts);
	UNIT_RUN(test_second_open_keeps_locks);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
