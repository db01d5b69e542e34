/*
 * engine/backup.h's pure parts: restic's forget flags, what a backup
 * covers, the docker run argv of each step (no password in it), the
 * repository and ssh command of each target, the secrets' stdin, the state
 * file and the snapshot list; the steps of a backup and the scheduled job
 * written from them (quoting), the crontab line, the runs file, the age
 * rule and the host's status.
 */
#include "engine/backup.h"

#include <stdlib.h>
#include <string.h>

#include "engine/scripts.h"
#include "engine/secrets.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/yamldoc.h"
#include "unit.h"

static int load_text(struct config *cfg, const char *text, struct err *e)
{
	struct yaml_node *root = NULL;
	int r;

	config_init(cfg);
	if (yaml_load("t.yml", text, strlen(text), &root, e) < 0) {
		return -1;
	}
	r = config_from_yaml(cfg, root, "t.yml", "tests/config/no-such-dir", NULL, NULL, e);
	yaml_node_free(root);
	return r;
}

static const char yml[] = "service: shop\nimage: acme/shop\n"
			  "servers: [a1]\n"
			  "builder: {arch: amd64}\n"
			  "accessories:\n"
			  "  db:\n"
			  "    image: postgres:16\n"
			  "    host: a2\n"
			  "    volumes: [pgsock:/run/pg, /srv/logs:/logs:ro]\n"
			  "    directories:\n      data: /var/lib/pg\n      /srv/wal: /wal\n"
			  "    x-backup:\n"
			  "      schedule: '0 3 * * *'\n"
			  "      keep: {daily: 7, monthly: 6}\n"
			  "      to: /srv/backups/db\n"
			  "      password: BACKUP_PASSWORD\n";

static size_t find(const struct strvec *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->nr; i++) {
		if (!strcmp(v->v[i], s)) {
			return i;
		}
	}
	return (size_t)-1;
}

static void test_forget_flags(void)
{
	struct config_backup b = {0};
	struct strvec v = STRVEC_INIT;
	char *s;

	backup_forget_flags(&v, &b);
	CHECK_INT(v.nr, 0);
	b.keep_daily = 7;
	b.keep_weekly = 0;
	b.keep_monthly = 6;
	backup_forget_flags(&v, &b);
	s = strvec_join(&v, " ");
	CHECK_STR(s, "--keep-daily 7 --keep-monthly 6");
	free(s);
	strvec_clear(&v);
}

static void test_sources(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec src = STRVEC_INIT, dst = STRVEC_INIT;
	const struct config_accessory *a;

	CHECK(load_text(&cfg, yml, &e) == 0);
	a = config_accessory(&cfg, "db");
	CHECK(a && a->has_backup);
	if (a) {
		backup_sources(a, "/home/deploy", &src, &dst);
		CHECK_INT(src.nr, 4);
		CHECK_INT(dst.nr, 4);
		if (src.nr == 4 && dst.nr == 4) {
			CHECK_STR(src.v[0], "/home/deploy/shop-db/data");
			CHECK_STR(dst.v[0], "/var/lib/pg");
			CHECK_STR(src.v[1], "/srv/wal");
			CHECK_STR(dst.v[1], "/wal");
			CHECK_STR(src.v[2], "pgsock");
			CHECK_STR(dst.v[2], "/run/pg");
			CHECK_STR(src.v[3], "/srv/logs");
			CHECK_STR(dst.v[3], "/logs");
		}
	}
	strvec_clear(&src);
	strvec_clear(&dst);
	err_release(&e);
	config_release(&cfg);
}

static void test_docker_argv(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec v = STRVEC_INIT;
	const struct config_accessory *a;
	struct backup_run r = {0};
	size_t i;

	CHECK(load_text(&cfg, yml, &e) == 0);
	a = config_accessory(&cfg, "db");
	if (!a) {
		goto out;
	}
	r.op = BACKUP_OP_BACKUP;
	r.home = "/root";
	r.host = "a2";
	CHECK(backup_docker_argv(&v, a, &r, &e) == 0);
	CHECK_STR(v.v[0], "docker");
	CHECK(find(&v, "-i") != (size_t)-1);
	CHECK(find(&v, "/srv/backups/db:/repo") != (size_t)-1);
	CHECK(find(&v, "BERTH_REPOSITORY=/repo") != (size_t)-1);
	CHECK(find(&v, "BERTH_HOST=a2") == (size_t)-1);
	CHECK_STR(v.v[find(&v, "--network") + 1], "none");
	CHECK(find(&v, "type=bind,source=/root/shop-db/data,target=/data/var/lib/pg,readonly") !=
	      (size_t)-1);
	CHECK(find(&v, "type=volume,source=pgsock,target=/data/run/pg,readonly") != (size_t)-1);
	CHECK(find(&v, "/run/berth:rw,nosuid,nodev,noexec,size=1m,mode=0700") != (size_t)-1);
	CHECK(find(&v, backup_image()) != (size_t)-1);
	CHECK(find(&v, script_backup_restic) != (size_t)-1);
	CHECK_STR(v.v[v.nr - 2], "backup");
	CHECK_STR(v.v[v.nr - 1], "db");
	/* nothing of the password's, not even its name */
	for (i = 0; i < v.nr; i++) {
		CHECK(!strstr(v.v[i], "BACKUP_PASSWORD"));
	}
	strvec_clear(&v);

	r.op = BACKUP_OP_RESTORE;
	r.snapshot = "1a2b3c4d";
	CHECK(backup_docker_argv(&v, a, &r, &e) == 0);
	CHECK(find(&v, "type=bind,source=/root/shop-db/data,target=/data/var/lib/pg") !=
	      (size_t)-1);
	CHECK_STR(v.v[v.nr - 5], "1a2b3c4d");
	CHECK_STR(v.v[v.nr - 4], "var/lib/pg");
	CHECK_STR(v.v[v.nr - 1], "logs");
	strvec_clear(&v);

	r.op = BACKUP_OP_VERIFY;
	r.snapshot = NULL;
	CHECK(backup_docker_argv(&v, a, &r, &e) == 0);
	CHECK_STR(v.v[v.nr - 1], "latest");
	CHECK(find(&v, "--mount") == (size_t)-1);
	strvec_clear(&v);

	r.op = BACKUP_OP_FORGET;
	CHECK(backup_docker_argv(&v, a, &r, &e) == 0);
	CHECK_STR(v.v[v.nr - 5], "forget");
	CHECK_STR(v.v[v.nr - 4], "--keep-daily");
	CHECK_STR(v.v[v.nr - 1], "6");
	strvec_clear(&v);

	/* nothing to back up is said, not an empty snapshot */
	{
		struct config_accessory bare = *a;

		bare.directories.nr = 0;
		bare.volumes.nr = 0;
		r.op = BACKUP_OP_BACKUP;
		CHECK(backup_docker_argv(&v, &bare, &r, &e) < 0);
		CHECK(strstr(err_str(&e), "no directories or volumes") != NULL);
		strvec_clear(&v);
	}

	/* a snapshot is hex: never an option for restic */
	r.op = BACKUP_OP_VERIFY;
	r.snapshot = "--password=x";
	CHECK(backup_docker_argv(&v, a, &r, &e) < 0);
	CHECK(strstr(err_str(&e), "not a snapshot ID") != NULL);
out:
	strvec_clear(&v);
	err_release(&e);
	config_release(&cfg);
}

static const char yml_targets[] = "service: shop\nimage: acme/shop\n"
				  "servers: [a1]\n"
				  "builder: {arch: amd64}\n"
				  "accessories:\n"
				  "  db:\n"
				  "    image: postgres:16\n"
				  "    host: a2\n"
				  "    directories: [data:/var/lib/pg]\n"
				  "    x-backup:\n"
				  "      to: ssh://10.0.0.9/srv/backups/db\n"
				  "      ssh_key: BACKUP_SSH_KEY\n"
				  "      password: BACKUP_PASSWORD\n"
				  "  files:\n"
				  "    image: minio:1\n"
				  "    host: a2\n"
				  "    directories: [data:/data]\n"
				  "    x-backup:\n"
				  "      to: s3://shop-backups/files/\n"
				  "      endpoint: http://10.0.0.5:9000/\n"
				  "      password: FILES_PASSWORD\n"
				  "  cache:\n"
				  "    image: redis:7\n"
				  "    host: a2\n"
				  "    directories: [data:/data]\n"
				  "    x-backup:\n"
				  "      to: s3://shop-cache\n"
				  "      access_key_id: CACHE_KEY_ID\n"
				  "      secret_access_key: CACHE_SECRET\n"
				  "      password: CACHE_PASSWORD\n"
				  "  six:\n"
				  "    image: redis:7\n"
				  "    host: a2\n"
				  "    directories: [data:/data]\n"
				  "    x-backup:\n"
				  "      to: ssh://backup_1@[fd00::9]:2222/b\n"
				  "      ssh_key: K\n"
				  "      password: P\n";

static void test_targets(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec v = STRVEC_INIT;
	struct sbuf s = SBUF_INIT;
	const struct config_accessory *db, *files, *cache, *six;
	struct backup_run r = {0};

	CHECK(load_text(&cfg, yml_targets, &e) == 0);
	db = config_accessory(&cfg, "db");
	files = config_accessory(&cfg, "files");
	cache = config_accessory(&cfg, "cache");
	six = config_accessory(&cfg, "six");
	if (!db || !files || !cache || !six) {
		CHECK(0);
		goto out;
	}
	/* ssh: user root and port 22 unless given; restic's "//" before an absolute path */
	CHECK_INT(db->backup.target, CONFIG_BACKUP_SSH);
	backup_repository(&s, &db->backup);
	CHECK_STR(s.buf, "sftp://root@10.0.0.9:22//srv/backups/db");
	sbuf_reset(&s);
	backup_repository(&s, &six->backup);
	CHECK_STR(s.buf, "sftp://backup_1@[fd00::9]:2222//b");
	sbuf_reset(&s);
	backup_sftp_command(&s, &six->backup);
	CHECK_STR(
	    s.buf,
	    "ssh -F /dev/null -i /run/berth/ssh_key -o IdentitiesOnly=yes -o BatchMode=yes "
	    "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/run/known_hosts "
	    "-o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=30 -o ServerAliveInterval=30 "
	    "-p 2222 -l "
	    "backup_1 fd00::9 -s sftp");
	sbuf_reset(&s);
	/* s3: the endpoint's trailing slash and the prefix's dropped; AWS without one */
	backup_repository(&s, &files->backup);
	CHECK_STR(s.buf, "s3:http://10.0.0.5:9000/shop-backups/files");
	sbuf_reset(&s);
	backup_repository(&s, &cache->backup);
	CHECK_STR(s.buf, "s3:s3.amazonaws.com/shop-cache");
	sbuf_reset(&s);

	/* remote targets: the host's network, no /repo mount, the ssh command for sftp */
	r.op = BACKUP_OP_BACKUP;
	r.home = "/root";
	r.host = "a2";
	CHECK(backup_docker_argv(&v, db, &r, &e) == 0);
	CHECK_STR(v.v[find(&v, "--network") + 1], "host");
	/* the accessory's hosts may share it: each host's snapshots are its own */
	CHECK(find(&v, "BERTH_HOST=a2") != (size_t)-1);
	CHECK(find(&v, "--volume") == (size_t)-1);
	CHECK(find(&v, "BERTH_REPOSITORY=sftp://root@10.0.0.9:22//srv/backups/db") != (size_t)-1);
	sbuf_addstr(&s, "BERTH_SFTP_COMMAND=");
	backup_sftp_command(&s, &db->backup);
	CHECK(find(&v, s.buf) != (size_t)-1);
	sbuf_reset(&s);
	strvec_clear(&v);
	r.op = BACKUP_OP_SNAPSHOTS;
	CHECK(backup_docker_argv(&v, files, &r, &e) == 0);
	CHECK_STR(v.v[find(&v, "--network") + 1], "host");
	CHECK(find(&v, "--volume") == (size_t)-1);
	CHECK(find(&v, "BERTH_REPOSITORY=s3:http://10.0.0.5:9000/shop-backups/files") !=
	      (size_t)-1);
	CHECK(find(&v, "BERTH_HOST=a2") != (size_t)-1);
	for (size_t i = 0; i < v.nr; i++) {
		CHECK(strncmp(v.v[i], "BERTH_SFTP_COMMAND=", 19));
	}
	strvec_clear(&v);
	r.host = "a,2";
	CHECK(backup_docker_argv(&v, files, &r, &e) < 0);
	CHECK(strstr(err_str(&e), "(a comma)") != NULL);
out:
	strvec_clear(&v);
	sbuf_release(&s);
	err_release(&e);
	config_release(&cfg);
}

static void test_secrets_stdin(void)
{
	static const char key[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl bnNz\n"
				  "-----END OPENSSH PRIVATE KEY-----\n";
	struct config cfg;
	struct err e = ERR_INIT;
	struct secrets sec;
	struct sbuf s = SBUF_INIT, want = SBUF_INIT;
	const struct config_accessory *db, *files, *cache;

	secrets_init(&sec);
	CHECK(load_text(&cfg, yml_targets, &e) == 0);
	db = config_accessory(&cfg, "db");
	files = config_accessory(&cfg, "files");
	cache = config_accessory(&cfg, "cache");
	if (!db || !files || !cache) {
		CHECK(0);
		goto out;
	}
	/* a missing secret is named, and nothing is written */
	CHECK(backup_secrets_stdin(&s, db, &sec, &e) < 0);
	CHECK(strstr(err_str(&e), "password secret 'BACKUP_PASSWORD' is not set") != NULL);
	secrets_set(&sec, "BACKUP_PASSWORD", "pw with\nnewline", "t");
	CHECK(backup_secrets_stdin(&s, db, &sec, &e) < 0);
	CHECK(strstr(err_str(&e), "ssh_key secret 'BACKUP_SSH_KEY' is not set") != NULL);
	CHECK_INT(s.len, 0);
	secrets_set(&sec, "BACKUP_SSH_KEY", key, "t");
	CHECK(backup_secrets_stdin(&s, db, &sec, &e) == 0);
	sbuf_addf(&want, "berth-backup-secrets 1\npassword 15\nssh_key %zu\n\npw with\nnewline%s",
		  strlen(key), key);
	CHECK_INT(s.len, want.len);
	CHECK(s.len == want.len && !memcmp(s.buf, want.buf, s.len));
	sbuf_reset(&s);

	/* S3: AWS's names unless others are given */
	secrets_set(&sec, "FILES_PASSWORD", "fp", "t");
	CHECK(backup_secrets_stdin(&s, files, &sec, &e) < 0);
	CHECK(strstr(err_str(&e), "access_key_id secret 'AWS_ACCESS_KEY_ID' is not set") != NULL);
	secrets_set(&sec, "AWS_ACCESS_KEY_ID", "AKID", "t");
	secrets_set(&sec, "AWS_SECRET_ACCESS_KEY", "SECRET/KEY", "t");
	sbuf_reset(&s);
	CHECK(backup_secrets_stdin(&s, files, &sec, &e) == 0);
	CHECK_STR(s.buf, "berth-backup-secrets 1\npassword 2\naws_access_key_id 4\n"
			 "aws_secret_access_key 10\n\nfpAKIDSECRET/KEY");
	sbuf_reset(&s);
	secrets_set(&sec, "CACHE_PASSWORD", "cp", "t");
	CHECK(backup_secrets_stdin(&s, cache, &sec, &e) < 0);
	CHECK(strstr(err_str(&e), "access_key_id secret 'CACHE_KEY_ID' is not set") != NULL);
	secrets_set(&sec, "CACHE_KEY_ID", "ck", "t");
	secrets_set(&sec, "CACHE_SECRET", "cs", "t");
	sbuf_reset(&s);
	CHECK(backup_secrets_stdin(&s, cache, &sec, &e) == 0);
	CHECK_STR(s.buf, "berth-backup-secrets 1\npassword 2\naws_access_key_id 2\n"
			 "aws_secret_access_key 2\n\ncpckcs");
out:
	sbuf_release(&s);
	sbuf_release(&want);
	secrets_release(&sec);
	err_release(&e);
	config_release(&cfg);
}

static const char yml_pg[] = "service: shop\nimage: acme/shop\n"
			     "servers: [a1]\n"
			     "builder: {arch: amd64}\n"
			     "accessories:\n"
			     "  db:\n"
			     "    image: postgres:16\n"
			     "    host: a2\n"
			     "    backup:\n"
			     "      kind: postgres\n"
			     "      to: /srv/backups/db\n"
			     "      password: BACKUP_PASSWORD\n";

static void test_kinds(void)
{
	static const char *const kinds[] = {"volume", "postgres", "mysql", "redis"};
	struct config cfg;
	struct err e = ERR_INIT;
	struct sbuf text = SBUF_INIT;
	const struct config_accessory *a;
	size_t i;

	for (i = 0; i < 4; i++) {
		CHECK(config_backup_kind_parse(kinds[i]) == (int)i);
	}
	CHECK(config_backup_kind_parse("Postgres") == -1);
	CHECK(config_backup_kind_parse("mongodb") == -1);
	CHECK(config_backup_kind_parse("") == -1);

	for (i = 1; i < 4; i++) {
		sbuf_reset(&text);
		sbuf_addstr(&text, yml_pg);
		sbuf_reset(&text);
		sbuf_addf(&text, "%.*s%s\n%s", (int)(strstr(yml_pg, "postgres\n      to") - yml_pg),
			  yml_pg, kinds[i], strstr(yml_pg, "      to"));
		CHECK(load_text(&cfg, text.buf, &e) == 0);
		a = config_accessory(&cfg, "db");
		CHECK(a && a->backup.kind_id == (enum config_backup_kind)i && backup_is_db(a));
		CHECK(a && !strcmp(a->backup.kind, kinds[i]));
		config_release(&cfg);
	}
	/* no kind is volume */
	CHECK(load_text(&cfg, yml, &e) == 0);
	a = config_accessory(&cfg, "db");
	CHECK(a && a->backup.kind_id == CONFIG_BACKUP_VOLUME && !backup_is_db(a));
	config_release(&cfg);

	sbuf_reset(&text);
	sbuf_addf(&text, "%.*smongodb\n%s", (int)(strstr(yml_pg, "postgres\n      to") - yml_pg),
		  yml_pg, strstr(yml_pg, "      to"));
	CHECK(load_text(&cfg, text.buf, &e) < 0);
	CHECK(strstr(err_str(&e), "expected volume, postgres, mysql or redis") != NULL);
	config_release(&cfg);
	err_release(&e);
	sbuf_release(&text);
}

static void test_db_argv(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec v = STRVEC_INIT;
	const struct config_accessory *a;
	struct backup_run r = {0};
	size_t i;

	CHECK(load_text(&cfg, yml_pg, &e) == 0);
	a = config_accessory(&cfg, "db");
	if (!a) {
		goto out;
	}
	/* the berth-backup container mounts nothing of the accessory's: the host script adds the
	 * staging directory */
	r.op = BACKUP_OP_BACKUP;
	r.home = "/root";
	CHECK(backup_docker_argv(&v, a, &r, &e) == 0);
	CHECK(find(&v, "--mount") == (size_t)-1);
	CHECK_STR(v.v[v.nr - 2], "backup");
	CHECK_STR(v.v[v.nr - 1], "db");
	strvec_clear(&v);

	/* verify and restore only extract: the dump is checked by loading it */
	r.op = BACKUP_OP_RESTORE;
	r.snapshot = "1a2b3c4d";
	CHECK(backup_docker_argv(&v, a, &r, &e) == 0);
	CHECK_STR(v.v[v.nr - 2], "extract");
	CHECK_STR(v.v[v.nr - 1], "1a2b3c4d");
	strvec_clear(&v);

	r.op = BACKUP_OP_VERIFY;
	r.snapshot = NULL;
	CHECK(backup_db_argv(&v, a, &r, &e) == 0);
	CHECK_STR(v.v[0], "sh");
	CHECK_STR(v.v[1], "-c");
	CHECK(v.v[2] == script_backup_db || !strcmp(v.v[2], script_backup_db));
	CHECK_STR(v.v[3], "berth-backup-db");
	CHECK_STR(v.v[4], "verify");
	CHECK_STR(v.v[5], "postgres");
	CHECK_STR(v.v[6], "shop-db");
	CHECK_STR(v.v[7], "postgres:16");
	CHECK_STR(v.v[8], script_backup_db_in);
	CHECK_STR(v.v[9], "docker");
	CHECK_STR(v.v[10], "run");
	CHECK_STR(v.v[v.nr - 2], "extract");
	CHECK_STR(v.v[v.nr - 1], "latest");
	for (i = 0; i < v.nr; i++) {
		CHECK(!strstr(v.v[i], "BACKUP_PASSWORD"));
	}
	strvec_clear(&v);

	/* forget and the snapshot list are restic's alone */
	r.op = BACKUP_OP_FORGET;
	CHECK(backup_db_argv(&v, a, &r, &e) < 0);
	strvec_clear(&v);
	r.op = BACKUP_OP_VERIFY;
	r.snapshot = "-x";
	CHECK(backup_db_argv(&v, a, &r, &e) < 0);
	CHECK(strstr(err_str(&e), "not a snapshot ID") != NULL);
out:
	strvec_clear(&v);
	err_release(&e);
	config_release(&cfg);
}

static void test_record_diff(void)
{
	struct sbuf why = SBUF_INIT;
	const char *same = "checking 1a2b3c4d\n"
			   "expect\ttable\tapp\tpublic.items\t5000\n"
			   "expect\ttable\tapp\tpublic.\"Odd Name\"\t0\n"
			   "got\ttable\tapp\tpublic.\"Odd Name\"\t0\n"
			   "got\ttable\tapp\tpublic.items\t5000\n";

	CHECK(backup_record_diff(slice_cstr(same), &why) == 0);
	CHECK(backup_record_diff(slice_cstr(""), &why) == 0);

	CHECK(backup_record_diff(slice_cstr("expect\ttable\tapp\tpublic.items\t5000\n"
					    "got\ttable\tapp\tpublic.items\t4999\n"),
				 &why) == 1);
	CHECK_STR(why.buf, "table app.public.items has 4999 rows after loading the dump, 5000 when "
			   "dumped");
	CHECK(backup_record_diff(slice_cstr("expect\ttable\tshop\titems\t3\n"
					    "expect\ttable\tshop\tlog\t2\n"
					    "got\ttable\tshop\titems\t3\n"),
				 &why) == 1);
	CHECK_STR(why.buf, "table shop.log (2 rows when dumped) is missing after loading the dump");

	/* redis: keys per database, and the sampled values */
	CHECK(backup_record_diff(slice_cstr("expect\tkeys\tdb0\t10\n"
					    "got\tkeys\tdb0\t9\n"),
				 &why) == 1);
	CHECK_STR(why.buf, "database db0 has 9 keys without expiry after loading, 10 when saved");
	CHECK(backup_record_diff(slice_cstr("expect\tkeys\tdb0\t10\n"
					    "got\tkeys\tdb0\t10\n"
					    "got\tkeys\tdb5\t1\n"),
				 &why) == 1);
	CHECK_STR(why.buf, "database db5 has 1 keys without expiry after loading, no when saved");
	CHECK(backup_record_diff(slice_cstr("expect\tvalue\t123-4\tuser:1\n"
					    "got\tvalue\t999-4\tuser:1\n"),
				 &why) == 1);
	CHECK_STR(why.buf, "key 'user:1' differs from when it was saved");
	CHECK(backup_record_diff(slice_cstr("expect\tvalue\t123-4\tkey with\ttab\x01\n"), &why) ==
	      1);
	CHECK_STR(why.buf, "key 'key with.tab?' is missing after loading");

	/* lines that are not a record's are skipped, never read past */
	CHECK(backup_record_diff(slice_cstr("expect\n\texpect\ttable\ngot\ttable\tx\n"
					    "expect\ttable\tnotab"),
				 &why) == 0);
	sbuf_release(&why);
}

static void test_restore_effect(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct sbuf s = SBUF_INIT;
	const struct config_accessory *a;

	CHECK(load_text(&cfg, yml_pg, &e) == 0);
	a = config_accessory(&cfg, "db");
	if (a) {
		backup_restore_effect(&s, a, "/root");
		CHECK(strstr(s.buf, "in container shop-db, every database but postgres") != NULL);
	}
	config_release(&cfg);
	sbuf_reset(&s);
	CHECK(load_text(&cfg, yml, &e) == 0);
	a = config_accessory(&cfg, "db");
	if (a) {
		backup_restore_effect(&s, a, "/root");
		CHECK_STR(s.buf, "overwriting: /root/shop-db/data, /srv/wal, pgsock, /srv/logs");
	}
	config_release(&cfg);
	err_release(&e);
	sbuf_release(&s);
}

static void test_state(void)
{
	struct backup_result r = {"now", 1767236400, "1a2b3c4d", 1234, true, NULL};
	struct backup_result bad = {"verify", 1767240000, "1a2b3c4d", -1, false, "damaged"};
	char *s1, *s2, *s3;
	struct sbuf p = SBUF_INIT;

	backup_state_path(&p, ".berth/apps/shop", "db");
	CHECK_STR(p.buf, ".berth/apps/shop/backups/db.json");
	sbuf_release(&p);

	s1 = backup_state_update(slice_make("not json", 8), "db", &r);
	CHECK_STR(
	    s1, "{\"accessory\":\"db\",\"last\":{\"op\":\"now\",\"time\":\"2026-01-01T03:00:00Z\","
		"\"epoch\":1767236400,\"snapshot\":\"1a2b3c4d\",\"verified\":true,\"why\":null},"
		"\"last_verified\":{\"time\":\"2026-01-01T03:00:00Z\",\"epoch\":1767236400,"
		"\"snapshot\":\"1a2b3c4d\"},\"snapshots\":{\"1a2b3c4d\":{\"size\":1234,"
		"\"time\":\"2026-01-01T03:00:00Z\",\"epoch\":1767236400,\"verified\":true,"
		"\"why\":null}}}");
	/* a failed verify: last says so, last_verified stays, the size is kept */
	s2 = backup_state_update(slice_make(s1, strlen(s1)), "db", &bad);
	CHECK(strstr(s2, "\"last\":{\"op\":\"verify\"") != NULL);
	CHECK(strstr(s2, "\"last_verified\":{\"time\":\"2026-01-01T03:00:00Z\"") != NULL);
	CHECK(strstr(s2, "\"1a2b3c4d\":{\"size\":1234,") != NULL);
	CHECK(strstr(s2, "\"verified\":false,\"why\":\"damaged\"}}") != NULL);

	/* the list: restic's snapshots with what the state says */
	{
		const char *rj = "[{\"time\":\"2026-01-01T03:00:00.5Z\",\"short_id\":\"1a2b3c4d\"},"
				 "{\"time\":\"2026-01-02T03:00:00Z\",\"short_id\":\"99aa88bb\"}]\n";
		struct backup_snapshots l = {0};
		struct err e = ERR_INIT;

		CHECK(backup_parse_snapshots(slice_make(rj, strlen(rj)), slice_make(s2, strlen(s2)),
					     &l, &e) == 0);
		CHECK_INT(l.nr, 2);
		if (l.nr == 2) {
			CHECK_STR(l.v[0].id, "1a2b3c4d");
			CHECK_INT(l.v[0].size, 1234);
			CHECK_INT(l.v[0].verified, 0);
			CHECK_STR(l.v[0].why, "damaged");
			CHECK_INT(l.v[1].verified, -1);
			CHECK_INT(l.v[1].size, -1);
		}
		backup_snapshots_release(&l);
		CHECK(backup_parse_snapshots(slice_make("{}", 2), slice_make(NULL, 0), &l, &e) < 0);
		CHECK(
		    backup_parse_snapshots(slice_make("[{\"short_id\":\"-x\",\"time\":\"t\"}]", 31),
					   slice_make(NULL, 0), &l, &e) < 0);
		backup_snapshots_release(&l);
		err_release(&e);
	}
	s3 = backup_state_update(slice_make(NULL, 0), "db",
				 &(struct backup_result){"now", 1, NULL, -1, false, "no space"});
	CHECK(strstr(s3, "\"snapshots\":{}") != NULL);
	CHECK(strstr(s3, "last_verified") == NULL);
	free(s1);
	free(s2);
	free(s3);
}

static void test_steps(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct backup_steps s = {0};
	const struct config_accessory *a;
	size_t i, k;

	CHECK(load_text(&cfg, yml, &e) == 0);
	a = config_accessory(&cfg, "db");
	if (!a) {
		goto out;
	}
	CHECK(backup_now_steps(&s, a, "/root", "a2", "/root/.berth/apps/shop/backups/db.json",
			       &e) == 0);
	CHECK_INT(s.nr, 3);
	if (s.nr != 3) {
		goto out;
	}
	CHECK_INT(s.v[0].op, BACKUP_OP_BACKUP);
	CHECK_INT(s.v[1].op, BACKUP_OP_VERIFY);
	CHECK_INT(s.v[2].op, BACKUP_OP_FORGET);
	CHECK_STR(s.v[0].args.v[0], "backup");
	CHECK_STR(s.v[0].args.v[1], "shop-db");
	CHECK_STR(s.v[0].args.v[2], "/srv/backups/db");
	CHECK_STR(s.v[0].args.v[3], "/root/.berth/apps/shop/backups/db.json");
	CHECK_STR(s.v[0].args.v[4], "docker");
	CHECK(s.v[0].script == script_backup_run);
	CHECK_INT(s.v[0].snapshot_arg, -1);
	/* verify takes the snapshot the backup reports, filled in later */
	CHECK_INT(s.v[1].snapshot_arg, (int)s.v[1].args.nr - 1);
	CHECK_STR(s.v[1].args.v[s.v[1].args.nr - 1], "latest");
	CHECK_STR(s.v[2].args.v[s.v[2].args.nr - 1], "6");
	for (i = 0; i < s.nr; i++) {
		for (k = 0; k < s.v[i].args.nr; k++) {
			CHECK(strstr(s.v[i].args.v[k], "BACKUP_PASSWORD") == NULL);
		}
	}
	backup_steps_release(&s);
	/* nothing kept: nothing forgotten */
	free(cfg.accessories[0].backup.to);
	cfg.accessories[0].backup.keep_daily = cfg.accessories[0].backup.keep_monthly = 0;
	cfg.accessories[0].backup.to = xstrdup("/srv/b");
	CHECK(backup_now_steps(&s, a, "/root", "a2", "db.json", &e) == 0);
	CHECK_INT(s.nr, 2);
	backup_steps_release(&s);
	config_release(&cfg);

	/* a database kind's steps run backup-db.sh around the container, the snapshot still last */
	CHECK(load_text(&cfg, yml_pg, &e) == 0);
	a = config_accessory(&cfg, "db");
	if (!a) {
		goto out;
	}
	CHECK(backup_now_steps(&s, a, "/root", "a2", "db.json", &e) == 0);
	CHECK(s.nr >= 2);
	if (s.nr >= 2) {
		CHECK_STR(s.v[0].args.v[0], "db-backup");
		CHECK_STR(s.v[0].args.v[4], "sh");
		CHECK_STR(s.v[0].args.v[6], script_backup_db);
		CHECK_STR(s.v[1].args.v[0], "db-verify");
		CHECK_INT(s.v[1].snapshot_arg, (int)s.v[1].args.nr - 1);
		CHECK_STR(s.v[1].args.v[s.v[1].args.nr - 1], "latest");
		CHECK_STR(s.v[1].args.v[s.v[1].args.nr - 2], "extract");
	}
out:
	backup_steps_release(&s);
	err_release(&e);
	config_release(&cfg);
}

/* Runs text with sh, and what follows it; stdout. */
static char *sh_out(const char *text, const char *then)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf s = SBUF_INIT;
	char *out;

	sbuf_addf(&s, "%s\n%s", text, then);
	strvec_pushv(&c.argv, (const char *[]){"sh", "-c", s.buf, NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	CHECK(run_one(&c) == 0);
	out = xstrdup(c.outbuf.buf);
	run_cmd_release(&c);
	sbuf_release(&s);
	return out;
}

static void test_job_text(void)
{
	static const char *const odd[] = {
	    "verify", "it's", "$(touch /tmp/nope)", "`id`", "a b\n\tc", "\"q\"\\", "latest", NULL};
	struct backup_steps s = {0};
	struct backup_job_paths p = {"/home/o'neil $HOME", "/b/d b.secret", "/b/db.runs"};
	struct sbuf text = SBUF_INIT, want = SBUF_INIT;
	struct err e = ERR_INIT;
	char *out;
	size_t i;

	XGROW(s.v, s.alloc, 2);
	s.nr = 2;
	memset(s.v, 0, 2 * sizeof(*s.v));
	s.v[0].op = BACKUP_OP_BACKUP;
	s.v[0].script = script_backup_run;
	s.v[0].snapshot_arg = -1;
	strvec_pushv(&s.v[0].args, (const char *[]){"backup", "x", NULL});
	s.v[1].op = BACKUP_OP_VERIFY;
	/* a step of another script: its text in the job itself */
	s.v[1].script = "printf '<%s>' \"$0\"; printf '[%s]' \"$@\"";
	strvec_pushv(&s.v[1].args, (const char *const *)odd);
	s.v[1].snapshot_arg = 6;
	CHECK(backup_job_text(&text, &s, &p, &e) == 0);
	CHECK(!strncmp(text.buf, "#!/bin/sh\n", 10));
	CHECK(strstr(text.buf, script_backup_job) != NULL);
	/* the start of the job (its steps), run with the steps' script replaced */
	text.len -= strlen(script_backup_job);
	text.buf[text.len] = '\0';
	out = sh_out(text.buf, "run='printf \"[%s]\" \"$@\"'; snap=1a2b3c4d; step_verify; echo; "
			       "step_forget; printf '%s|%s|%s' \"$HOME\" \"$secret\" \"$runs\"");
	sbuf_addstr(&want, "<berth-backup>");
	for (i = 0; i < 6; i++) {
		sbuf_addf(&want, "[%s]", odd[i]);
	}
	sbuf_addstr(&want, "[1a2b3c4d]\n/home/o'neil $HOME|/b/d b.secret|/b/db.runs");
	CHECK_STR(out, want.buf);
	free(out);
	/* a verify step is needed */
	s.nr = 1;
	CHECK(backup_job_text(&text, &s, &p, &e) < 0);
	s.nr = 2;
	backup_steps_release(&s);
	sbuf_release(&text);
	sbuf_release(&want);
	err_release(&e);
}

static void test_crontab_line(void)
{
	static const struct {
		const char *schedule, *want;
	} cases[] = {
	    {"* * * * *", "* * * * * sh /b/db.job"},
	    {"0 3 * * *", "0 3 * * * sh /b/db.job"},
	    {"*/15 1-2 * * *", "0,15,30,45 1,2 * * * sh /b/db.job"},
	    {"@daily", "0 0 * * * sh /b/db.job"},
	    {"0 0 1,15 * mon", "0 0 1,15 * 1 sh /b/db.job"},
	    {"0 0 1-31 * mon", "0 0 * * * sh /b/db.job"},
	    {"0 0 * * mon-fri", "0 0 * * 1,2,3,4,5 sh /b/db.job"},
	    {"0 0 */2 jan 7", NULL},
	    {"0 0 1 * */2", NULL},
	    {"61 * * * *", NULL},
	};
	struct err e = ERR_INIT;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbuf l = SBUF_INIT;
		int r = backup_crontab_line(&l, cases[i].schedule, "/b/db.job", &e);

		if (cases[i].want) {
			CHECK_INT(r, 0);
			CHECK_STR(l.buf, cases[i].want);
		} else {
			CHECK_INT(r, -1);
		}
		sbuf_release(&l);
		err_release(&e);
	}
	{
		struct sbuf l = SBUF_INIT;

		CHECK(backup_crontab_line(&l, "5 4 * * *", "/h/it's/db.job", &e) == 0);
		CHECK_STR(l.buf, "5 4 * * * sh '/h/it'\\''s/db.job'");
		sbuf_release(&l);
		/* crond reads % as the end of the command */
		CHECK(backup_crontab_line(&l, "5 4 * * *", "/h/50%/db.job", &e) < 0);
		err_release(&e);
		sbuf_release(&l);
	}
}

static void test_runs(void)
{
	static const char runs[] =
	    "1767236400 schedule 1a2b3c4d 1234 1 -\n"
	    "1767240000 schedule - -1 0 cannot pause 'shop-db'\n"
	    "\n"
	    "1767240060 schedule 1a2b3c4d 12 1\n" /* no why */
	    "17672400600000 schedule - -1 0 x\n"  /* epoch too long */
	    "1767240060 Schedule - -1 0 x\n"
	    "1767240060 schedule -x -1 0 x\n"
	    "1767240060 schedule - 5 2 x\n"
	    "1767240060 schedule - -1 1 verified nothing\n"
	    "1767240060 schedule - -1 0 tab\there\n"
	    "1767240060  schedule - -1 0 two spaces\n"
	    "1767243600 schedule 5e6f7a8b -1 0 snapshot 5e6f7a8b does not verify";
	struct backup_run_lines l = {0};
	struct backup_last last;
	size_t bad = 0;
	char *st;

	backup_parse_runs(slice_make(runs, strlen(runs)), &l, &bad);
	CHECK_INT(l.nr, 3);
	CHECK_INT(bad, 8);
	if (l.nr == 3) {
		CHECK(l.v[0].epoch == 1767236400);
		CHECK_STR(l.v[0].op, "schedule");
		CHECK_STR(l.v[0].snapshot, "1a2b3c4d");
		CHECK(l.v[0].size == 1234);
		CHECK(l.v[0].verified);
		CHECK_STR(l.v[0].why, "");
		CHECK_STR(l.v[1].snapshot, "");
		CHECK(l.v[1].size == -1);
		CHECK_STR(l.v[1].why, "cannot pause 'shop-db'");
		CHECK_STR(l.v[2].why, "snapshot 5e6f7a8b does not verify");
	}
	backup_run_lines_release(&l);

	/* merged into a state whose own last result is newer: it stays the last */
	{
		struct backup_result manual = {"now", 1767250000, "9c9c9c9c", 50, true, NULL};
		char *s0 = backup_state_update(slice_make(NULL, 0), "db", &manual);

		st = backup_state_merge_runs(slice_make(s0, strlen(s0)),
					     slice_make(runs, strlen(runs)), "db");
		backup_state_last(slice_make(st, strlen(st)), &last);
		CHECK(last.verified_epoch == 1767250000);
		CHECK_STR(last.snapshot, "9c9c9c9c");
		CHECK(last.last_epoch == 1767250000 && last.last_ok);
		CHECK(strstr(st, "\"1a2b3c4d\":{\"size\":1234") != NULL);
		CHECK(strstr(st, "\"5e6f7a8b\":{") != NULL);
		free(st);
		free(s0);
	}
	/* with no state: the runs make it */
	st = backup_state_merge_runs(slice_make(NULL, 0), slice_make(runs, strlen(runs)), "db");
	backup_state_last(slice_make(st, strlen(st)), &last);
	CHECK(last.verified_epoch == 1767236400);
	CHECK_STR(last.snapshot, "1a2b3c4d");
	CHECK(last.last_epoch == 1767243600 && !last.last_ok);
	CHECK_STR(last.why, "snapshot 5e6f7a8b does not verify");
	free(st);
	backup_state_last(slice_make("[1]", 3), &last);
	CHECK(last.verified_epoch == -1 && last.last_epoch == -1);

	/* only the last BACKUP_RUNS_KEEP lines count */
	{
		struct sbuf many = SBUF_INIT;
		size_t i;

		for (i = 0; i < BACKUP_RUNS_KEEP + 5; i++) {
			sbuf_addf(&many, "%zu schedule - -1 0 -\n", 1000 + i);
		}
		backup_parse_runs(slice_make(many.buf, many.len), &l, &bad);
		CHECK_INT(l.nr, BACKUP_RUNS_KEEP);
		CHECK(l.nr && l.v[0].epoch == 1005);
		CHECK_INT(bad, 0);
		backup_run_lines_release(&l);
		sbuf_release(&many);
	}
}

static void test_judge(void)
{
	/* 2026-01-02T10:00:00Z; the runs of "0 3 * * *" before it: Jan 2 and Jan 1, 03:00 */
	const long long now = 1767348000, jan1_3 = 1767236400, jan2_3 = jan1_3 + 86400;
	long long due, next;

	CHECK_INT(backup_judge("0 3 * * *", now, 0, jan1_3 + 300, &due, &next), 0);
	CHECK(due == jan1_3);
	CHECK(next == jan2_3 + 86400);
	/* the run of Jan 2 may still be going: Jan 1's is enough */
	CHECK_INT(backup_judge("0 3 * * *", now, 0, jan1_3, NULL, NULL), 0);
	CHECK_INT(backup_judge("0 3 * * *", now, 0, jan1_3 - 1, NULL, NULL), 1);
	/* none at all: a failure once a whole interval passed since the scheduler came */
	CHECK_INT(backup_judge("0 3 * * *", now, 0, -1, NULL, NULL), 1);
	CHECK_INT(backup_judge("0 3 * * *", now, jan1_3 - 3600, -1, NULL, NULL), 1);
	CHECK_INT(backup_judge("0 3 * * *", now, jan1_3 + 60, -1, &due, NULL), 0);
	CHECK(due == -1);
	/* every minute: the one before the last minute */
	CHECK_INT(backup_judge("* * * * *", now + 30, 0, now - 60, &due, &next), 0);
	CHECK(due == now - 60 && next == now + 60);
	CHECK_INT(backup_judge("* * * * *", now + 30, 0, now - 61, NULL, NULL), 1);
	CHECK_INT(backup_judge("nonsense", now, 0, -1, NULL, NULL), -1);
	CHECK_INT(backup_judge(NULL, now, 0, -1, NULL, NULL), -1);
}

static void test_status(void)
{
	static const char ok[] = "berth-backup-status 1\nnow 1767348000\nscheduler running "
				 "1767300000\nstate 2\n{}runs 35\n1767236400 schedule 1a2b3c4d 5 "
				 "1 -\n";
	struct backup_status st;
	struct err e = ERR_INIT;
	struct config cfg;
	const struct config_accessory *a;
	struct sbuf line = SBUF_INIT;

	CHECK(backup_parse_status(slice_make(ok, strlen(ok)), &st, &e) == 0);
	CHECK(st.now == 1767348000);
	CHECK_STR(st.scheduler, "running");
	CHECK(st.installed == 1767300000);
	CHECK(slice_eq_cstr(st.state, "{}"));
	CHECK(slice_eq_cstr(st.runs, "1767236400 schedule 1a2b3c4d 5 1 -\n"));
	{
		static const char none[] = "berth-backup-status 1\nnow 5\nscheduler none -\nstate "
					   "0\nruns 0\n";

		CHECK(backup_parse_status(slice_make(none, strlen(none)), &st, &e) == 0);
		CHECK_STR(st.scheduler, "none");
		CHECK(st.installed == -1);
	}
	{
		static const char *const bad[] = {
		    "",
		    "berth-backup-status 2\n",
		    "berth-backup-status 1\nnow x\n",
		    "berth-backup-status 1\nnow 5\nscheduler RUN -\nstate 0\nruns 0\n",
		    "berth-backup-status 1\nnow 5\nscheduler none -\nstate 9\n{}runs 0\n",
		    "berth-backup-status 1\nnow 5\nscheduler none -\nstate 0\n",
		    "berth-backup-status 1\nnow 5\nscheduler none 1x\nstate 0\nruns 0\n",
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CHECK(backup_parse_status(slice_make(bad[i], strlen(bad[i])), &st, &e) < 0);
			err_release(&e);
		}
	}

	/* health: verified within the schedule, the scheduler running */
	CHECK(load_text(&cfg, yml, &e) == 0);
	a = config_accessory(&cfg, "db");
	if (!a) {
		goto out;
	}
	CHECK(backup_parse_status(slice_make(ok, strlen(ok)), &st, &e) == 0);
	CHECK_INT(backup_health(a, &st, &line), 0);
	CHECK(strstr(line.buf, "db: last verified backup 31h ago (snapshot 1a2b3c4d)") != NULL);
	CHECK(strstr(line.buf, "next run 2026-01-03T03:00:00Z, in 17h") != NULL);
	/* the scheduler stopped */
	memcpy(st.scheduler, "exited", 7);
	sbuf_reset(&line);
	CHECK_INT(backup_health(a, &st, &line), 2);
	CHECK(strstr(line.buf, "the backup scheduler is exited") != NULL);
	/* a day later, nothing newer: too old */
	memcpy(st.scheduler, "running", 8);
	st.now += 86400;
	sbuf_reset(&line);
	CHECK_INT(backup_health(a, &st, &line), 2);
	CHECK(strstr(line.buf, "older than the schedule allows: the run at 2026-01-02T03:00:00Z") !=
	      NULL);
out:
	sbuf_release(&line);
	err_release(&e);
	config_release(&cfg);
}

int main(void)
{
	UNIT_RUN(test_forget_flags);
	UNIT_RUN(test_sources);
	UNIT_RUN(test_docker_argv);
	UNIT_RUN(test_targets);
	UNIT_RUN(test_secrets_stdin);
	UNIT_RUN(test_state);
	UNIT_RUN(test_kinds);
	UNIT_RUN(test_db_argv);
	UNIT_RUN(test_record_diff);
	UNIT_RUN(test_restore_effect);
	UNIT_RUN(test_steps);
	UNIT_RUN(test_job_text);
	UNIT_RUN(test_crontab_line);
	UNIT_RUN(test_runs);
	UNIT_RUN(test_judge);
	UNIT_RUN(test_status);
	return unit_done();
}
