/*
 * daemon/release: what engine config an app of berthd becomes. The file is
 * included whole, so that its pure part (spec to config) is tested without
 * a dockerd.
 */
#include "daemon/release.c"

#include "unit.h"

struct fixture {
	struct strvec names, values, domains;
	struct release_proc procs[3];
	struct release_spec s;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	strvec_init(&f->names);
	strvec_init(&f->values);
	strvec_init(&f->domains);
	strvec_push(&f->names, "DATABASE_URL");
	strvec_push(&f->values, "postgres://u:p@db/x");
	strvec_push(&f->domains, "shop.example.com");
	strvec_push(&f->domains, "www.shop.example.com");
	f->procs[0] = (struct release_proc){"web", NULL, 1};
	f->procs[1] = (struct release_proc){"worker", "bin/worker --queue a", 1};
	f->procs[2] = (struct release_proc){"Clock_2-x", "bin/clock", 0};
	f->s.app = "shop";
	f->s.image = "berthd/shop:0123456789ab";
	f->s.version = "0123456789ab";
	f->s.env_names = &f->names;
	f->s.env_values = &f->values;
	f->s.domains = &f->domains;
	f->s.procs = f->procs;
	f->s.nprocs = 3;
	f->s.state_dir = "/var/lib/berthd";
}

static void fixture_release(struct fixture *f)
{
	strvec_clear(&f->names);
	strvec_clear(&f->values);
	strvec_clear(&f->domains);
}

static int make(struct fixture *f, struct config *cfg, struct secrets *sec, struct err *e)
{
	config_release(cfg);
	config_init(cfg);
	secrets_release(sec);
	return spec_config(&f->s, cfg, sec, e);
}

static void test_roles(void)
{
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	const struct config_role *web, *worker;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	CHECK_STR(cfg.service, "shop");
	CHECK_STR(cfg.image, "berthd/shop");
	CHECK_STR(cfg.primary_role, "web");
	CHECK_STR(cfg.run_directory, "/var/lib/berthd/run");
	CHECK(cfg.release_command == NULL);
	CHECK(!cfg.registry.server);
	CHECK_INT(cfg.nr_roles, 2); /* clock has scale 0 */
	web = config_role(&cfg, "web");
	worker = config_role(&cfg, "worker");
	CHECK(web && worker && !config_role(&cfg, "Clock_2-x"));
	if (!web || !worker) {
		goto out;
	}
	CHECK_INT(web->nr_hosts, 1);
	CHECK_STR(web->hosts[0].name, "localhost");
	CHECK(web->cmd == NULL);
	CHECK(web->proxy.enabled);
	CHECK_INT(web->proxy.app_port, 5000);
	CHECK_INT(web->proxy.hosts.nr, 2);
	CHECK_STR(web->proxy.hosts.v[1], "www.shop.example.com");
	CHECK_STR(web->proxy.healthcheck_path, "/");
	CHECK_STR(config_map_get(&web->env.clear, "PORT"), "5000");
	CHECK_INT(web->env.secret_names.nr, 1);
	CHECK_STR(web->env.secret_names.v[0], "DATABASE_URL");
	CHECK_STR(secrets_get(&sec, "DATABASE_URL"), "postgres://u:p@db/x");
	CHECK_STR(worker->cmd, "bin/worker --queue a");
	CHECK(!worker->proxy.enabled);
	CHECK(config_map_get(&worker->env.clear, "PORT") == NULL);
	CHECK_INT(worker->env.secret_names.nr, 1);
out:
	err_release(&e);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

static void test_check_and_release(void)
{
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	const struct config_role *web;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	f.s.check = (struct release_check){"/health", 5, 2, 3, 4};
	f.s.release_cmd = "bin/migrate";
	strvec_push(&f.names, "PORT");
	strvec_push(&f.values, "8080");
	strvec_clear(&f.domains); /* no domain: every host name goes to web */
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	CHECK(web != NULL);
	if (web) {
		CHECK_STR(web->proxy.healthcheck_path, "/health");
		CHECK_INT(web->proxy.healthcheck_interval, 2);
		CHECK_INT(web->proxy.healthcheck_timeout, 3);
		CHECK_INT(web->proxy.hosts.nr, 0);
		/* the app's own PORT wins: no clear PORT beside the secret */
		CHECK(config_map_get(&web->env.clear, "PORT") == NULL);
	}
	CHECK_INT(cfg.deploy_timeout, 25); /* 5 attempts, 2 s apart, 3 s each */
	CHECK_INT(cfg.readiness_delay, 4);
	CHECK_STR(cfg.release_command, "bin/migrate");
	err_release(&e);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

static void test_no_web(void)
{
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	f.procs[0].scale = 0;
	f.procs[2].scale = 2;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	CHECK_STR(cfg.primary_role, "worker");
	CHECK_INT(cfg.nr_roles, 3); /* worker, and the clock's two instances */
	CHECK(config_role(&cfg, "worker") && !config_role(&cfg, "worker")->proxy.enabled);
	CHECK(config_role(&cfg, "Clock_2-x") && !config_role(&cfg, "Clock_2-x")->proxy.enabled);
	CHECK(config_role(&cfg, "Clock_2-x-2") && !config_role(&cfg, "Clock_2-x-2")->proxy.enabled);
	if (config_role(&cfg, "Clock_2-x-2")) {
		CHECK_STR(config_role(&cfg, "Clock_2-x-2")->cmd, "bin/clock");
	}
	err_release(&e);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

/* A type scaled to N runs N roles, TYPE, TYPE-2...; web one role of N instances. */
static void test_instances(void)
{
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	char *name;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	f.procs[0].scale = 3;
	f.procs[1].scale = 3;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	CHECK_INT(cfg.nr_roles, 4);
	CHECK(config_role(&cfg, "web") && !config_role(&cfg, "web-2"));
	if (config_role(&cfg, "web")) {
		CHECK_INT(config_role(&cfg, "web")->instances, 3);
		CHECK(config_role(&cfg, "web")->proxy.enabled);
	}
	if (config_role(&cfg, "worker-2")) {
		CHECK_INT(config_role(&cfg, "worker-2")->instances, 1);
	}
	CHECK(config_role(&cfg, "worker") && config_role(&cfg, "worker-2") &&
	      config_role(&cfg, "worker-3") && !config_role(&cfg, "worker-4"));
	if (config_role(&cfg, "worker-3")) {
		CHECK_STR(config_role(&cfg, "worker-3")->cmd, "bin/worker --queue a");
		CHECK_INT(config_role(&cfg, "worker-3")->env.secret_names.nr, 1);
	}
	CHECK_INT(release_instances(&f.procs[0]), 3);
	CHECK_INT(release_instances(&f.procs[1]), 3);
	name = release_role_name("worker", 1);
	CHECK_STR(name, "worker");
	free(name);
	name = release_role_name("worker", 12);
	CHECK_STR(name, "worker-12");
	free(name);
	CHECK(release_role_is("worker", "worker"));
	CHECK(release_role_is("worker-2", "worker"));
	CHECK(release_role_is("worker-12", "worker"));
	CHECK(!release_role_is("worker-1", "worker"));
	CHECK(!release_role_is("worker-0", "worker"));
	CHECK(!release_role_is("worker-x", "worker"));
	CHECK(!release_role_is("worker-", "worker"));
	CHECK(!release_role_is("workers", "worker"));
	CHECK(!release_role_is("work", "worker"));
	/* a type named like another's instance cannot run beside it */
	f.procs[2] = (struct release_proc){"worker-2", "bin/other", 1};
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	CHECK_STR(err_str(&e), "process type 'worker-2' has the name of an instance of "
			       "'worker': scale 'worker' to 1 or rename the type");
	err_release(&e);
	f.procs[1].scale = 1;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	err_release(&e);
	/* nor beside web's instances, which logs -p web and enter web.2 tell apart alike */
	f.procs[2] = (struct release_proc){"web-2", "bin/other", 1};
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	err_release(&e);
	/* web=1: no instances key, the config of a single container */
	f.procs[0].scale = 1;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	CHECK_INT(config_role(&cfg, "web")->instances, 1);
	err_release(&e);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

static void test_errors(void)
{
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	f.s.image = "berthd/shop:other";
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	CHECK_STR(err_str(&e), "image 'berthd/shop:other' is not tagged with the version "
			       "'0123456789ab'");
	f.s.image = "berthd/shop:0123456789ab";
	f.s.state_dir = "var/lib/berthd";
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	CHECK_STR(err_str(&e), "state directory 'var/lib/berthd' is not an absolute path");
	f.s.state_dir = "/var/lib/berthd";
	f.procs[0].scale = f.procs[1].scale = 0;
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	CHECK_STR(err_str(&e),
		  "no process type of shop runs: scale one of them up (ps:scale web=1)");
	f.procs[0].scale = 1;
	strvec_push(&f.names, "LONELY");
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	CHECK_STR(err_str(&e), "config vars: as many names as values expected");
	err_release(&e);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

/* resource:limit, storage:mount and checks:disable reach every role. */
static void test_limits_mounts_uptime(void)
{
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	struct strvec mounts = STRVEC_INIT;
	struct strvec aliases = STRVEC_INIT;
	const struct config_role *web, *worker;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	CHECK(web && !web->options.nr);
	CHECK_INT(cfg.volumes.nr, 0);
	CHECK_INT(cfg.readiness_delay, CONFIG_DEFAULT_READINESS_DELAY);

	strvec_push(&mounts, "/srv/data:/data");
	strvec_push(&mounts, "/srv/up loads:/app/uploads");
	f.s.memory = "512m";
	f.s.cpus = "0.5";
	f.s.mounts = &mounts;
	f.s.no_uptime = true;
	f.s.check.uptime_s = 9;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	web = config_role(&cfg, "web");
	worker = config_role(&cfg, "worker");
	CHECK(web && worker);
	if (web && worker) {
		CHECK_STR(config_map_get(&web->options, "memory"), "512m");
		CHECK_STR(config_map_get(&web->options, "cpus"), "0.5");
		CHECK_STR(config_map_get(&worker->options, "memory"), "512m");
		CHECK_STR(config_map_get(&worker->options, "cpus"), "0.5");
	}
	CHECK_INT(cfg.volumes.nr, 2);
	if (cfg.volumes.nr == 2) {
		CHECK_STR(cfg.volumes.v[0], "/srv/data:/data");
		CHECK_STR(cfg.volumes.v[1], "/srv/up loads:/app/uploads");
	}
	CHECK_INT(cfg.readiness_delay, 0);

	/* memory alone: no cpus option */
	f.s.cpus = NULL;
	f.s.no_uptime = false;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	CHECK(web && config_map_get(&web->options, "cpus") == NULL);
	CHECK_INT(cfg.readiness_delay, 9);

	/* more names on berth: one --network-alias each, on every role */
	f.s.memory = NULL;
	strvec_push(&aliases, "srv-captain--shop-db");
	strvec_push(&aliases, "shop-db");
	f.s.aliases = &aliases;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	worker = config_role(&cfg, "worker");
	CHECK(worker != NULL);
	if (worker) {
		size_t n = 0;

		for (size_t i = 0; i < worker->options.nr; i++) {
			if (!strcmp(worker->options.v[i].key, "network-alias")) {
				CHECK_STR(worker->options.v[i].value,
					  n ? "shop-db" : "srv-captain--shop-db");
				n++;
			}
		}
		CHECK_INT((int)n, 2);
		CHECK(config_map_get(&worker->options, "memory") == NULL);
	}
	strvec_clear(&aliases);
	err_release(&e);
	strvec_clear(&mounts);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

/* ports:set or the image's EXPOSE: berth-proxy's app_port and web's PORT follow the spec's port */
static void test_port(void)
{
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	const struct config_role *web, *worker;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	f.s.port = 3000;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	worker = config_role(&cfg, "worker");
	CHECK(web && worker);
	if (web && worker) {
		CHECK_INT(web->proxy.app_port, 3000);
		CHECK_STR(config_map_get(&web->env.clear, "PORT"), "3000");
		CHECK(config_map_get(&worker->env.clear, "PORT") == NULL);
	}
	/* a config var PORT is never overridden; the proxy still targets the port */
	strvec_push(&f.names, "PORT");
	strvec_push(&f.values, "4000");
	f.s.port = 4000;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	CHECK(web != NULL);
	if (web) {
		CHECK_INT(web->proxy.app_port, 4000);
		CHECK(config_map_get(&web->env.clear, "PORT") == NULL);
		CHECK_STR(secrets_get(&sec, "PORT"), "4000");
	}
	/* 0 or out of range: Dokku's 5000 */
	f.s.port = 70000;
	strvec_clear(&f.names);
	strvec_clear(&f.values);
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	CHECK(web != NULL);
	if (web) {
		CHECK_INT(web->proxy.app_port, 5000);
		CHECK_STR(config_map_get(&web->env.clear, "PORT"), "5000");
	}
	err_release(&e);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

/* certs:add's certificate: proxy.ssl a map of two secrets; letsencrypt: ssl true, over it. */
static void test_ssl(void)
{
	static const char crt[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	static const char key[] = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
	struct fixture f;
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	const struct config_role *web, *worker;
	json_t *tree;
	char *dump;

	fixture_init(&f);
	config_init(&cfg);
	secrets_init(&sec);
	/* neither: plain HTTP */
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	CHECK(web && !web->proxy.ssl);

	f.s.ssl_certificate_pem = crt;
	f.s.ssl_private_key_pem = key;
	tree = spec_tree(&f.s, "berthd/shop", "/var/lib/berthd/run");
	dump = json_dumps(
	    json_object_get(
		json_object_get(json_object_get(json_object_get(tree, "servers"), "web"), "proxy"),
		"ssl"),
	    JSON_SORT_KEYS | JSON_COMPACT);
	CHECK_STR(dump, "{\"certificate_pem\":\"" RELEASE_TLS_CERT
			"\",\"private_key_pem\":\"" RELEASE_TLS_KEY "\"}");
	free(dump);
	/* the PEMs are in no part of the tree */
	dump = json_dumps(tree, JSON_COMPACT);
	CHECK(dump && !strstr(dump, "MIIE") && !strstr(dump, "MIIB"));
	free(dump);
	json_decref(tree);
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	web = config_role(&cfg, "web");
	worker = config_role(&cfg, "worker");
	CHECK(web && worker);
	if (web && worker) {
		CHECK(web->proxy.ssl);
		CHECK_STR(web->proxy.ssl_certificate_pem, RELEASE_TLS_CERT);
		CHECK_STR(web->proxy.ssl_private_key_pem, RELEASE_TLS_KEY);
		CHECK(!worker->proxy.ssl);
	}
	CHECK_STR(secrets_get(&sec, RELEASE_TLS_CERT), crt);
	CHECK_STR(secrets_get(&sec, RELEASE_TLS_KEY), key);

	/* letsencrypt replaces the certificate: ssl true, no certificate secrets */
	f.s.ssl_acme = true;
	CHECK_INT(make(&f, &cfg, &sec, &e), 0);
	web = config_role(&cfg, "web");
	CHECK(web && web->proxy.ssl && !web->proxy.ssl_certificate_pem);
	CHECK(secrets_get(&sec, RELEASE_TLS_KEY) == NULL);

	/* no domains: the engine's own error */
	strvec_clear(&f.domains);
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	CHECK(strstr(err_str(&e), "expected a host to enable TLS") != NULL);
	err_release(&e);

	/* a config var may not take the certificate's secret name */
	f.s.ssl_acme = false;
	strvec_push(&f.domains, "shop.example.com");
	strvec_push(&f.names, RELEASE_TLS_KEY);
	strvec_push(&f.values, "x");
	CHECK_INT(make(&f, &cfg, &sec, &e), -1);
	CHECK_STR(err_str(&e),
		  "config var " RELEASE_TLS_KEY ": the name is berthd's own (certs:add)");
	err_release(&e);
	secrets_release(&sec);
	config_release(&cfg);
	fixture_release(&f);
}

int main(void)
{
	UNIT_RUN(test_roles);
	UNIT_RUN(test_check_and_release);
	UNIT_RUN(test_no_web);
	UNIT_RUN(test_instances);
	UNIT_RUN(test_errors);
	UNIT_RUN(test_limits_mounts_uptime);
	UNIT_RUN(test_port);
	UNIT_RUN(test_ssl);
	return unit_done();
}
