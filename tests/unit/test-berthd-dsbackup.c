/*
 * Tests for the backups of berthd's datastores (daemon/dsbackup.c and the
 * records in daemon/datastore.c): the engine config made for a service,
 * the host paths read from berthd's own mounts, the helper's argv, the
 * list's output and what the store keeps. The lab test
 * tests/e2e/t0325-berthd-datastore-backup.sh runs the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/berthd.h"
#include "daemon/datastore.h"
#include "daemon/dsbackup.h"
#include "daemon/store.h"
#include "engine/backup.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-dsbackup-XXXXXX";

static bool has_pair(const struct strvec *v, const char *a, const char *b)
{
	for (size_t i = 0; i + 1 < v->nr; i++) {
		if (!strcmp(v->v[i], a) && !strcmp(v->v[i + 1], b)) {
			return true;
		}
	}
	return false;
}

static bool has_word(const struct strvec *v, const char *a)
{
	for (size_t i = 0; i < v->nr; i++) {
		if (!strcmp(v->v[i], a)) {
			return true;
		}
	}
	return false;
}

static void test_config_of_a_service(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	const struct config_accessory *a;
	struct backup_run r = {0};
	struct strvec argv = STRVEC_INIT;

	config_init(&cfg);
	CHECK_INT(dsbackup_config(&cfg, "postgres", "shop", "postgres:16",
				  "/var/lib/docker/volumes/berthd/_data/backups/postgres-shop", &e),
		  0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	CHECK_INT(cfg.nr_accessories, 1);
	if (cfg.nr_accessories != 1) {
		goto out;
	}
	a = &cfg.accessories[0];
	CHECK_STR(a->name, "postgres-shop");
	CHECK_STR(a->service, "berthd-postgres-shop");
	CHECK_STR(a->image, "postgres:16");
	CHECK(a->has_backup);
	CHECK_STR(a->backup.kind, "postgres");
	CHECK(backup_is_db(a));
	CHECK_INT(a->backup.target, CONFIG_BACKUP_DIR);
	CHECK_STR(a->backup.to, "/var/lib/docker/volumes/berthd/_data/backups/postgres-shop");
	CHECK_STR(a->backup.password, DSBACKUP_SECRET);
	CHECK(!a->backup.schedule);
	CHECK_INT(a->hosts.nr, 1);
	CHECK_STR(a->hosts.v[0], DSBACKUP_HOST);
	/* the engine's own argv: the repository mounted, no network, the secrets on a tmpfs */
	r.op = BACKUP_OP_BACKUP;
	r.host = DSBACKUP_HOST;
	CHECK_INT(backup_db_argv(&argv, a, &r, &e), 0);
	CHECK(has_pair(&argv, "--volume",
		       "/var/lib/docker/volumes/berthd/_data/backups/postgres-shop:/repo"));
	CHECK(has_pair(&argv, "--network", "none"));
	CHECK(has_word(&argv, backup_image()));
	CHECK(has_word(&argv, "berthd-postgres-shop"));
out:
	strvec_clear(&argv);
	config_release(&cfg);
	err_release(&e);
}

static void test_config_of_redis_and_bad_input(void)
{
	struct config cfg;
	struct err e = ERR_INIT;

	config_init(&cfg);
	CHECK_INT(dsbackup_config(&cfg, "redis", "cache", "redis:7", "/srv/b/redis-cache", &e), 0);
	CHECK(cfg.nr_accessories == 1 && !strcmp(cfg.accessories[0].backup.kind, "redis"));
	config_release(&cfg);
	/* a repository the engine would not mount: refused with where and why */
	config_init(&cfg);
	CHECK_INT(dsbackup_config(&cfg, "redis", "cache", "redis:7", "relative/dir", &e), -1);
	CHECK(strstr(err_str(&e), "cannot make the backup settings of redis service 'cache'"));
	config_release(&cfg);
	err_release(&e);
}

static void test_host_paths(void)
{
	struct sbuf state = SBUF_INIT, sock = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *ok = "[{\"Type\":\"volume\",\"Name\":\"berthd\",\"Source\":"
			 "\"/var/lib/docker/volumes/berthd/_data\",\"Destination\":\"/var/lib/"
			 "berthd\"},{\"Type\":\"bind\",\"Source\":\"/run/d.sock\",\"Destination\":"
			 "\"/var/run/docker.sock\"}]";

	sbuf_addstr(&sock, "/var/run/docker.sock");
	CHECK_INT(
	    dsbackup_host_paths(slice_make(ok, strlen(ok)), "/var/lib/berthd", &state, &sock, &e),
	    0);
	CHECK_STR(state.buf, "/var/lib/docker/volumes/berthd/_data");
	CHECK_STR(sock.buf, "/run/d.sock");
	/* no such mount, a path that cannot be mounted, not JSON: errors that say so */
	CHECK_INT(dsbackup_host_paths(slice_make(ok, strlen(ok)), "/state", &state, &sock, &e), -1);
	CHECK(strstr(err_str(&e), "'/state' is not a mount"));
	{
		const char *bad = "[{\"Source\":\"/a b,c\",\"Destination\":\"/var/lib/berthd\"}]";
		CHECK_INT(dsbackup_host_paths(slice_make(bad, strlen(bad)), "/var/lib/berthd",
					      &state, &sock, &e),
			  -1);
		CHECK(strstr(err_str(&e), "cannot be mounted"));
	}
	CHECK_INT(dsbackup_host_paths(slice_make("{", 1), "/var/lib/berthd", &state, &sock, &e),
		  -1);
	CHECK_INT(dsbackup_host_paths(slice_make("{}", 2), "/var/lib/berthd", &state, &sock, &e),
		  -1);
	CHECK_STR(state.buf, "/var/lib/docker/volumes/berthd/_data");
	sbuf_release(&state);
	sbuf_release(&sock);
	err_release(&e);
}

static void test_wrap_argv(void)
{
	struct strvec w = STRVEC_INIT;

	dsbackup_wrap_argv(&w, "sha256:abc", "berthd-backup-7", "/v/backups", "/run/d.sock");
	CHECK_STR(w.v[0], "docker");
	CHECK_STR(w.v[1], "run");
	CHECK(has_pair(&w, "--name", "berthd-backup-7"));
	CHECK(has_pair(&w, "-v", "/v/backups:/v/backups"));
	CHECK(has_pair(&w, "-v", "/run/d.sock:/var/run/docker.sock"));
	CHECK(has_pair(&w, "-e", "HOME=/v/backups"));
	CHECK(has_pair(&w, "-w", "/v/backups"));
	CHECK(has_pair(&w, "--network", "none"));
	CHECK_STR(w.v[w.nr - 1], "sha256:abc");
	strvec_clear(&w);
}

static void test_list_output(void)
{
	struct backup_snapshots s = {0};
	struct err e = ERR_INIT;
	struct sbuf out = SBUF_INIT;
	const char *restic =
	    "[{\"time\":\"2026-01-01T03:00:00.1Z\",\"short_id\":\"1a2b3c4d\","
	    "\"id\":\"1a2b3c4d00000000000000000000000000000000000000000000000000000000\","
	    "\"paths\":[\"/data\"]},"
	    "{\"time\":\"2026-01-02T03:00:00.1Z\",\"short_id\":\"5e6f7a8b\","
	    "\"id\":\"5e6f7a8b00000000000000000000000000000000000000000000000000000000\","
	    "\"paths\":[\"/data\"]}]";
	char *state;
	struct backup_result r = {"now", 1767236400, "1a2b3c4d", 1234, true, NULL};
	json_t *j;
	char *js;

	state = backup_state_update(slice_make("", 0), "postgres-shop", &r);
	CHECK_INT(backup_parse_snapshots(slice_make(restic, strlen(restic)),
					 slice_make(state, strlen(state)), &s, &e),
		  0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	CHECK_INT(s.nr, 2);
	dsbackup_list_text(&out, "postgres", "shop", &s);
	CHECK(strstr(out.buf, "=====> shop backups\n"));
	/* newest first */
	CHECK(strstr(out.buf, "5e6f7a8b") && strstr(out.buf, "1a2b3c4d") &&
	      strstr(out.buf, "5e6f7a8b") < strstr(out.buf, "1a2b3c4d"));
	CHECK(strstr(out.buf, "1234  yes\n"));
	CHECK(strstr(out.buf, "not tried\n"));
	j = dsbackup_list_json(&s);
	js = json_dumps(j, JSON_COMPACT);
	CHECK(js && strstr(js, "\"id\":\"1a2b3c4d\""));
	CHECK(js && strstr(js, "\"size\":1234,\"verified\":true"));
	CHECK(js && strstr(js, "\"verified\":null"));
	free(js);
	json_decref(j);
	backup_snapshots_release(&s);
	sbuf_reset(&out);
	memset(&s, 0, sizeof(s));
	dsbackup_list_text(&out, "redis", "cache", &s);
	CHECK_STR(out.buf, "There are no backups of redis service cache\n");
	free(state);
	sbuf_release(&out);
	err_release(&e);
}

static void test_store_keeps_password_and_last(void)
{
	struct store st;
	struct err e = ERR_INIT;
	char *pw = NULL, *snap = NULL;
	long long t;

	CHECK(store_open(&st, dir, NULL) == 0);
	CHECK_INT(datastore_add(&st, "postgres", "shop", "postgres:16", "dbpw", &e), 0);
	/* none yet; made once, then kept */
	CHECK_INT(datastore_backup_password(&st, "postgres", "shop", NULL, &pw, &e), 0);
	CHECK(!pw);
	CHECK_INT(datastore_backup_password(&st, "postgres", "shop", "first", &pw, &e), 1);
	CHECK_STR(pw, "first");
	free(pw);
	CHECK_INT(datastore_backup_password(&st, "postgres", "shop", "second", &pw, &e), 1);
	CHECK_STR(pw, "first");
	free(pw);
	CHECK_INT(datastore_backup_last(&st, "postgres", "shop", &t, &snap, &e), 0);
	CHECK_INT(t, -1);
	CHECK_INT(datastore_backup_verified(&st, "postgres", "shop", 1767236400, "1a2b3c4d", &e),
		  0);
	CHECK_INT(datastore_backup_last(&st, "postgres", "shop", &t, &snap, &e), 1);
	CHECK_INT(t, 1767236400);
	CHECK_STR(snap, "1a2b3c4d");
	free(snap);
	/* without a password there is no backup to record */
	CHECK_INT(datastore_backup_verified(&st, "redis", "x", 1, "1a2b3c4d", &e), -1);
	/* removing the service removes its backups' records */
	CHECK_INT(datastore_remove(&st, "postgres", "shop", &e), 0);
	CHECK_INT(datastore_backup_password(&st, "postgres", "shop", NULL, &pw, &e), 0);
	CHECK_INT(datastore_backup_last(&st, "postgres", "shop", &t, &snap, &e), 0);
	store_close(&st);
	err_release(&e);
}

/* The commands' refusals that come before any docker: nothing recorded. */
static void test_commands_refuse_bad_input(void)
{
	struct bd bd;
	char *pw = NULL;

	memset(&bd, 0, sizeof(bd));
	bd.state_dir = dir;
	bd.admin = true;
	bd.quiet = true;
	CHECK(store_open(&bd.store, dir, NULL) == 0);
	{
		const char *argv[] = {"postgres:backup", "nope", NULL};
		CHECK_INT(cmd_datastore_backup(&bd, 2, argv), 1);
	}
	{
		const char *argv[] = {"redis:backup", "Bad_Name", NULL};
		CHECK_INT(cmd_datastore_backup(&bd, 2, argv), 1);
	}
	{
		const char *argv[] = {"postgres:backup", NULL};
		CHECK_INT(cmd_datastore_backup(&bd, 1, argv), 1);
	}
	{
		const char *argv[] = {"postgres:backup", "a", "b", NULL};
		CHECK_INT(cmd_datastore_backup(&bd, 3, argv), 1);
	}
	{
		const char *argv[] = {"postgres:backup-restore", "shop", "latest", "--force", NULL};
		CHECK_INT(cmd_datastore_backup_restore(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"postgres:backup-restore", "shop", NULL};
		CHECK_INT(cmd_datastore_backup_restore(&bd, 2, argv), 1);
	}
	{
		const char *argv[] = {"postgres:backup-list", "shop", "--format", "xml", NULL};
		CHECK_INT(cmd_datastore_backup_list(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"postgres:backup-verify", "shop", "a", "b", NULL};
		CHECK_INT(cmd_datastore_backup_verify(&bd, 4, argv), 1);
	}
	CHECK_INT(datastore_backup_password(&bd.store, "postgres", "nope", NULL, &pw, NULL), 0);
	CHECK_INT(datastore_backup_password(&bd.store, "redis", "Bad_Name", NULL, &pw, NULL), 0);
	store_close(&bd.store);
}

static void test_iso_time(void)
{
	char buf[32];

	dsbackup_iso_time(1767236400, buf, sizeof(buf));
	CHECK_STR(buf, "2026-01-01T03:00:00Z");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_config_of_a_service);
	UNIT_RUN(test_config_of_redis_and_bad_input);
	UNIT_RUN(test_host_paths);
	UNIT_RUN(test_wrap_argv);
	UNIT_RUN(test_list_output);
	UNIT_RUN(test_store_keeps_password_and_last);
	UNIT_RUN(test_iso_time);
	UNIT_RUN(test_commands_refuse_bad_input);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
