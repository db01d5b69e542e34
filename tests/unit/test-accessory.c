/*
 * engine/accessory.h's pure parts: where an accessory runs (tags, roles,
 * -r/-h), how its port is published, its names and paths, its env file and
 * the docker run argv.
 */
#include "engine/accessory.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static const char yml[] =
    "service: shop\nimage: acme/shop\n"
    "servers:\n"
    "  web:\n    hosts: [a1, {a2: [db, fast]}]\n"
    "  jobs:\n    hosts: [{b1: fast}, a2]\n"
    "builder: {arch: amd64}\n"
    "run_directory: /run/b\n"
    "logging:\n  options:\n    max-size: 5m\n"
    "accessories:\n"
    "  db:\n"
    "    image: postgres:16\n"
    "    tag: db\n"
    "    port: 5432\n"
    "    cmd: postgres -c 'shared_buffers=1GB'\n"
    "    env:\n      clear: {PGUSER: app}\n      secret: [PGPASSWORD]\n"
    "    volumes: [/srv/backup:/backup]\n"
    "    files:\n"
    "      - config/pg.conf:/etc/pg.conf:ro\n"
    "      - {local: config/key, remote: /etc/key, mode: '0400'}\n"
    "    directories:\n      data: /var/lib/postgresql/data\n      /srv/logs: /logs\n"
    "    options: {restart: always, cpus: 2, init: true}\n"
    "    labels: {team: data}\n"
    "  cache:\n"
    "    service: redis\n"
    "    image: redis:7\n"
    "    registry: {server: reg.example, username: u, password: p}\n"
    "    tags: [fast]\n"
    "    network: private\n"
    "    port: '0.0.0.0:6379:6379'\n"
    "  search:\n"
    "    image: search:1\n"
    "    roles: [jobs, web]\n";

static char *joined(struct strvec *v)
{
	char *j = strvec_join(v, "|");

	strvec_clear(v);
	return j;
}

static void test_placement(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec out = STRVEC_INIT, roles = STRVEC_INIT, hosts = STRVEC_INIT;
	char *j;

	CHECK_INT(load_text(&cfg, yml, &e), 0);
	if (cfg.nr_accessories != 3) {
		printf("#   %s\n", err_str(&e));
		CHECK(0);
		return;
	}
	/* tag: the hosts of servers that carry it, each once */
	CHECK_INT(accessory_hosts(&cfg, config_accessory(&cfg, "db"), NULL, NULL, &out), 1);
	j = joined(&out);
	CHECK_STR(j, "a2");
	free(j);
	CHECK_INT(accessory_hosts(&cfg, config_accessory(&cfg, "cache"), NULL, NULL, &out), 2);
	j = joined(&out);
	CHECK_STR(j, "a2|b1");
	free(j);
	/* roles: their hosts, in the config's order of roles given */
	CHECK_INT(accessory_hosts(&cfg, config_accessory(&cfg, "search"), NULL, NULL, &out), 3);
	j = joined(&out);
	CHECK_STR(j, "b1|a2|a1");
	free(j);
	/* -h and -r narrow them */
	strvec_push(&hosts, "a*");
	CHECK_INT(accessory_hosts(&cfg, config_accessory(&cfg, "search"), NULL, &hosts, &out), 2);
	j = joined(&out);
	CHECK_STR(j, "a2|a1");
	free(j);
	strvec_push(&roles, "jobs");
	CHECK_INT(accessory_hosts(&cfg, config_accessory(&cfg, "search"), &roles, NULL, &out), 2);
	j = joined(&out);
	CHECK_STR(j, "b1|a2");
	free(j);
	CHECK_INT(accessory_hosts(&cfg, config_accessory(&cfg, "cache"), &roles, &hosts, &out), 1);
	j = joined(&out);
	CHECK_STR(j, "a2");
	free(j);
	CHECK(config_accessory(&cfg, "nope") == NULL);
	strvec_clear(&roles);
	strvec_clear(&hosts);
	config_release(&cfg);
	err_release(&e);
}

static void publish(const char *port, const char *want, int want_wide)
{
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	bool wide = !want_wide;

	if (!want) {
		CHECK_INT(accessory_publish(&sb, port, &wide, &e), -1);
		CHECK(strstr(err_str(&e), port) != NULL);
	} else {
		CHECK_INT(accessory_publish(&sb, port, &wide, &e), 0);
		CHECK_STR(sb.buf, want);
		CHECK_INT(wide, want_wide);
	}
	sbuf_release(&sb);
	err_release(&e);
}

static void test_publish(void)
{
	/* no address: loopback only (berth's default, not Kamal's) */
	publish("3000:3000", "127.0.0.1:3000:3000", 0);
	publish("3000", "127.0.0.1:3000:3000", 0);
	publish("8080:80/udp", "127.0.0.1:8080:80/udp", 0);
	publish("7000-7002:7000-7002", "127.0.0.1:7000-7002:7000-7002", 0);
	/* an address is kept; beyond loopback it is wide */
	publish("127.0.0.1:5432:5432", "127.0.0.1:5432:5432", 0);
	publish("127.0.0.2:5432:5432", "127.0.0.2:5432:5432", 0);
	publish("0.0.0.0:5432:5432", "0.0.0.0:5432:5432", 1);
	publish("10.0.0.5:5432:5432", "10.0.0.5:5432:5432", 1);
	publish("[::1]:5432:5432", "[::1]:5432:5432", 0);
	publish("[::]:5432:5432", "[::]:5432:5432", 1);
	publish(":5432:5432", ":5432:5432", 1);
	/* what docker would refuse */
	publish("10.0.0.5:5432", NULL, 0);
	publish("::1:5432:5432", NULL, 0);
	publish("[::1:5432:5432", NULL, 0);
	publish("a:b", NULL, 0);
	publish("http", NULL, 0);
	publish("5432:", NULL, 0);
}

static void test_names(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	const struct config_accessory *db, *cache;

	CHECK_INT(load_text(&cfg, yml, &e), 0);
	db = config_accessory(&cfg, "db");
	cache = config_accessory(&cfg, "cache");
	if (!db || !cache) {
		CHECK(0);
		return;
	}
	CHECK_STR(db->service, "shop-db");
	CHECK_STR(cache->service, "redis");
	CHECK_STR(accessory_network(db), "berth");
	CHECK_STR(accessory_network(cache), "private");
	accessory_image(&sb, db);
	CHECK_STR(sb.buf, "postgres:16");
	sbuf_reset(&sb);
	accessory_image(&sb, cache);
	CHECK_STR(sb.buf, "reg.example/redis:7");
	sbuf_reset(&sb);
	accessory_env_path(&sb, &cfg, db);
	CHECK_STR(sb.buf, "/run/b/apps/shop/env/accessories/db.env");
	sbuf_reset(&sb);
	accessory_file_path(&sb, db, &db->files.v[0]);
	CHECK_STR(sb.buf, "shop-db/etc/pg.conf");
	sbuf_reset(&sb);
	accessory_dir_path(&sb, db, &db->directories.v[0]);
	CHECK_STR(sb.buf, "shop-db/data");
	sbuf_reset(&sb);
	accessory_dir_path(&sb, db, &db->directories.v[1]);
	CHECK_STR(sb.buf, "/srv/logs");
	CHECK_INT(accessory_check(db, &e), 0);
	sbuf_release(&sb);
	config_release(&cfg);
	err_release(&e);
}

static void test_check(void)
{
	static const char *const bad[] = {
	    "    service: '../x'\n",
	    "    files: ['a:/../../etc/passwd']\n",
	    "    directories: ['../../home:/x']\n",
	    NULL,
	};
	size_t i;

	for (i = 0; bad[i]; i++) {
		struct config cfg;
		struct err e = ERR_INIT;
		struct sbuf y = SBUF_INIT;

		sbuf_addf(&y,
			  "service: shop\nimage: acme/shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
			  "accessories:\n  db:\n    image: pg\n    host: a1\n%s",
			  bad[i]);
		CHECK_INT(load_text(&cfg, y.buf, &e), 0);
		if (cfg.nr_accessories == 1) {
			CHECK_INT(accessory_check(&cfg.accessories[0], &e), -1);
		} else {
			printf("#   %s\n", err_str(&e));
			CHECK(0);
		}
		config_release(&cfg);
		err_release(&e);
		sbuf_release(&y);
	}
}

static void test_env_file(void)
{
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;

	CHECK_INT(load_text(&cfg, yml, &e), 0);
	secrets_init(&sec);
	CHECK_INT(accessory_env_file(&sb, config_accessory(&cfg, "db"), &sec, &e), -1);
	CHECK(strstr(err_str(&e), "PGPASSWORD") != NULL);
	CHECK(strstr(err_str(&e), "accessory 'db'") != NULL);
	err_release(&e);
	sbuf_reset(&sb);
	secrets_set(&sec, "PGPASSWORD", "two\nlines", "s");
	CHECK_INT(accessory_env_file(&sb, config_accessory(&cfg, "db"), &sec, &e), 0);
	CHECK_STR(sb.buf, "PGUSER=app\nPGPASSWORD=two\\nlines\n");
	sbuf_release(&sb);
	secrets_release(&sec);
	config_release(&cfg);
	err_release(&e);
}

static void test_run_argv(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec v = STRVEC_INIT;
	struct accessory_run r = {0};
	char *j;

	CHECK_INT(load_text(&cfg, yml, &e), 0);
	r.host = "a2";
	r.home = "/root";
	CHECK_INT(accessory_run_argv(&v, &cfg, config_accessory(&cfg, "db"), &r, &e), 0);
	j = joined(&v);
	CHECK_STR(j, "docker|run|--detach|--name|shop-db|--restart=always|--network=berth|"
		     "--log-opt=max-size=5m|--publish=127.0.0.1:5432:5432|"
		     "--env=BERTH_HOST=a2|--env=KAMAL_HOST=a2|"
		     "--env-file=/run/b/apps/shop/env/accessories/db.env|"
		     "--volume=/srv/backup:/backup|"
		     "--volume=/root/shop-db/etc/pg.conf:/etc/pg.conf:ro|"
		     "--volume=/root/shop-db/etc/key:/etc/key|"
		     "--volume=/root/shop-db/data:/var/lib/postgresql/data|"
		     "--volume=/srv/logs:/logs|"
		     "--label=service=shop-db|--label=team=data|--cpus=2|--init|"
		     "postgres:16|postgres|-c|shared_buffers=1GB");
	free(j);
	/* exec's one-off container: no name, port, restart, labels; its command */
	r.cmd = "psql -c 'select 1'";
	CHECK_INT(accessory_run_argv(&v, &cfg, config_accessory(&cfg, "db"), &r, &e), 0);
	j = joined(&v);
	CHECK_STR(j, "docker|run|--rm|--network=berth|"
		     "--env=BERTH_HOST=a2|--env=KAMAL_HOST=a2|"
		     "--env-file=/run/b/apps/shop/env/accessories/db.env|"
		     "--volume=/srv/backup:/backup|"
		     "--volume=/root/shop-db/etc/pg.conf:/etc/pg.conf:ro|"
		     "--volume=/root/shop-db/etc/key:/etc/key|"
		     "--volume=/root/shop-db/data:/var/lib/postgresql/data|"
		     "--volume=/srv/logs:/logs|--cpus=2|--init|"
		     "postgres:16|psql|-c|select 1");
	free(j);
	/* the default restart policy; the env file under a relative run directory; a wide port */
	free(cfg.run_directory);
	cfg.run_directory = NULL;
	r.cmd = NULL;
	r.home = "/home/deploy/";
	CHECK_INT(accessory_run_argv(&v, &cfg, config_accessory(&cfg, "cache"), &r, &e), 0);
	j = joined(&v);
	CHECK_STR(j, "docker|run|--detach|--name|redis|--restart=unless-stopped|--network=private|"
		     "--log-opt=max-size=5m|--publish=0.0.0.0:6379:6379|"
		     "--env=BERTH_HOST=a2|--env=KAMAL_HOST=a2|"
		     "--env-file=/home/deploy/.berth/apps/shop/env/accessories/cache.env|"
		     "--label=service=redis|reg.example/redis:7");
	free(j);
	config_release(&cfg);
	err_release(&e);
}

static void test_other_argv(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec v = STRVEC_INIT;
	char *j;

	CHECK_INT(load_text(&cfg, yml, &e), 0);
	accessory_ps_argv(&v, config_accessory(&cfg, "db"), true, "{{.Names}}");
	j = joined(&v);
	CHECK_STR(j, "docker|ps|--all|--filter|label=service=shop-db|--format|{{.Names}}");
	free(j);
	accessory_remove_argv(&v, config_accessory(&cfg, "cache"), true, true);
	CHECK_INT(v.nr, 7);
	CHECK_STR(v.v[3], "accessory-remove");
	CHECK_STR(v.v[4], "redis");
	CHECK_STR(v.v[5], "reg.example/redis:7");
	CHECK_STR(v.v[6], "redis");
	strvec_clear(&v);
	/* reboot keeps the image and the directory */
	accessory_remove_argv(&v, config_accessory(&cfg, "cache"), false, false);
	CHECK_STR(v.v[5], "");
	CHECK_STR(v.v[6], "");
	strvec_clear(&v);
	config_release(&cfg);
	err_release(&e);
}

static void test_file_content(void)
{
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	char dir[] = "/tmp/berth-acc-XXXXXX";
	struct config_accessory_path p = {0};
	FILE *f;

	CHECK_INT(load_text(&cfg, yml, &e), 0);
	secrets_init(&sec);
	secrets_set(&sec, "PGPASSWORD", "pw1", "s");
	CHECK(mkdtemp(dir) != NULL);
	sbuf_addf(&sb, "%s/a.conf.erb", dir);
	f = fopen(sb.buf, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("user=<%= ENV[\"PGUSER\"] %> pw=<%= ENV.fetch(\"PGPASSWORD\") %>\n", f);
		fclose(f);
	}
	p.local = (char *)"a.conf.erb";
	p.remote = (char *)"/etc/a.conf";
	sbuf_reset(&sb);
	CHECK_INT(accessory_file_content(&sb, dir, config_accessory(&cfg, "db"), &p, &sec, &e), 0);
	CHECK_STR(sb.buf, "user=app pw=pw1\n");
	sbuf_reset(&sb);
	p.local = (char *)"missing.conf";
	CHECK_INT(accessory_file_content(&sb, dir, config_accessory(&cfg, "db"), &p, &sec, &e), -1);
	CHECK(strstr(err_str(&e), "missing.conf") != NULL);
	sbuf_reset(&sb);
	sbuf_addf(&sb, "%s/a.conf.erb", dir);
	remove(sb.buf);
	rmdir(dir);
	sbuf_release(&sb);
	secrets_release(&sec);
	config_release(&cfg);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_placement);
	UNIT_RUN(test_publish);
	UNIT_RUN(test_names);
	UNIT_RUN(test_check);
	UNIT_RUN(test_env_file);
	UNIT_RUN(test_run_argv);
	UNIT_RUN(test_other_argv);
	UNIT_RUN(test_file_content);
	return unit_done();
}
