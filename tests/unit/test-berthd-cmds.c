/*
 * Tests for berthd's commands called as functions (daemon/cmd-*.c): input
 * no argv or SSH command line can carry, such as a 10 MB config value.
 * tests/e2e/t0301-berthd-commands.sh runs the binary for the rest.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/ports.h"
#include "daemon/series.h"
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

static void test_port_parsing(void)
{
	static const char *const ok[] = {"http:80:5000", "https:443:3000", "tcp:1:65535",
					 "grpc2:8080:1"};
	static const char *const bad[] = {"",
					  "http",
					  "http:80",
					  "http:80:",
					  ":80:5000",
					  "http::5000",
					  "http:0:5000",
					  "http:80:0",
					  "http:80:65536",
					  "http:080:5000",
					  "http:80:5000:1",
					  "HTTP:80:5000",
					  "http:-80:5000",
					  "http:+80:5000",
					  "http: 80:5000",
					  "toolongsc:80:1",
					  "http:80:5000 ",
					  "http:99999999999:1",
					  "ht-tp:80:1"};
	struct port_map m[PORTS_MAX], one;
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t n = 0, ntcp = 0;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(ports_parse(ok[i], &one, NULL), 0);
	}
	CHECK_INT(ports_parse("https:443:3000", &one, NULL), 0);
	CHECK_STR(one.scheme, "https");
	CHECK_INT(one.host, 443);
	CHECK_INT(one.container, 3000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ports_parse(bad[i], &one, NULL) == 0) {
			printf("# mapping '%s' taken\n", bad[i]);
		}
		CHECK_INT(ports_parse(bad[i], &one, NULL), -1);
	}

	/* berth's rule: 80 and 443 only, one container port */
	CHECK_INT(ports_read("http:80:3000 https:443:3000", m, PORTS_MAX, &n, NULL), 0);
	CHECK_INT(n, 2);
	CHECK_INT(ports_check(m, n, NULL), 0);
	CHECK_INT(ports_container(m, n), 3000);
	ports_format(&sb, m, n);
	CHECK_STR(sb.buf, "http:80:3000 https:443:3000");
	CHECK_INT(ports_read("http:8080:3000", m, PORTS_MAX, &n, NULL), 0);
	CHECK_INT(ports_check(m, n, &e), -1);
	CHECK(strstr(err_str(&e), "berth-proxy serves ports 80 (http) and 443 (https) only") !=
	      NULL);
	err_release(&e);
	CHECK_INT(ports_read("https:80:3000", m, PORTS_MAX, &n, NULL), 0);
	CHECK_INT(ports_check(m, n, NULL), -1);
	CHECK_INT(ports_read("tcp:80:3000", m, PORTS_MAX, &n, NULL), 0);
	CHECK_INT(ports_check(m, n, NULL), -1);
	CHECK_INT(ports_read("http:80:3000 https:443:4000", m, PORTS_MAX, &n, NULL), 0);
	CHECK_INT(ports_check(m, n, NULL), -1);
	CHECK_INT(ports_read("http:80:3000 http:80:4000", m, PORTS_MAX, &n, NULL), 0);
	CHECK_INT(ports_check(m, n, NULL), -1);
	CHECK_INT(ports_read("http:80:3000 bogus", m, PORTS_MAX, &n, NULL), -1);
	CHECK_INT(ports_read("", m, PORTS_MAX, &n, NULL), 0);
	CHECK_INT(n, 0);
	CHECK_INT(ports_container(m, 0), 0);

	/* an image's EXPOSE, as docker image inspect gives .Config.ExposedPorts */
	CHECK_INT(ports_from_exposed("{\"3000/tcp\":{}}", 15, &ntcp), 3000);
	CHECK_INT(ntcp, 1);
	CHECK_INT(ports_from_exposed("null", 4, &ntcp), 0);
	CHECK_INT(ports_from_exposed("{}", 2, &ntcp), 0);
	CHECK_INT(ports_from_exposed("", 0, &ntcp), 0);
	CHECK_INT(ports_from_exposed("{\"53/udp\":{}}", 13, &ntcp), 0);
	CHECK_INT(ntcp, 0);
	{
		const char *j = "{\"4000/tcp\":{},\"3000/tcp\":{},\"9/udp\":{}}";
		CHECK_INT(ports_from_exposed(j, strlen(j), &ntcp), 3000);
		CHECK_INT(ntcp, 2);
		j = "{\"3000/tcp\":{},\"80/tcp\":{}}";
		CHECK_INT(ports_from_exposed(j, strlen(j), &ntcp), 80);
		j = "{\"3000/tcp\":{},\"10000/tcp\":{}}"; /* docker's order: strings */
		CHECK_INT(ports_from_exposed(j, strlen(j), &ntcp), 10000);
		j = "{\"8080\":{}}";
		CHECK_INT(ports_from_exposed(j, strlen(j), &ntcp), 8080);
		j = "{\"0/tcp\":{},\"70000/tcp\":{},\"x/tcp\":{}}";
		CHECK_INT(ports_from_exposed(j, strlen(j), &ntcp), 0);
	}
	sbuf_release(&sb);
}

/* Runs fn with its stdout into out. */
static int capture(struct sbuf *out, int (*fn)(struct bd *, int, const char **), struct bd *bd,
		   int argc, const char **argv)
{
	char path[] = "/tmp/berth-test-out-XXXXXX";
	int fd = mkstemp(path), saved, rc;

	fflush(stdout);
	saved = dup(1);
	dup2(fd, 1);
	rc = fn(bd, argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	sbuf_reset(out);
	sbuf_read_fd(out, fd);
	close(fd);
	unlink(path);
	return rc;
}

static void test_ports_commands(void)
{
	struct bd bd;
	struct sbuf out = SBUF_INIT;
	char *v = NULL;
	unsigned port = 0;

	bd_open(&bd);
	store_app_create(&bd.store, "shop", NULL);
	{
		const char *argv[] = {"ports:set", "shop", "http:80:3000", "https:443:3000", NULL};
		CHECK_INT(cmd_ports_set(&bd, 4, argv), 0);
	}
	CHECK_INT(store_prop_get(&bd.store, "shop", "ports.map", &v, NULL), 1);
	CHECK_STR(v, "http:80:3000 https:443:3000");
	free(v);
	v = NULL;
	CHECK_INT(appdeploy_port(&bd, "shop", NULL, &port, NULL), 1);
	CHECK_INT(port, 3000);
	/* refused: nothing changes */
	{
		const char *bad[][4] = {{"ports:set", "shop", "http:8080:3000", NULL},
					{"ports:set", "shop", "tcp:80:3000", NULL},
					{"ports:set", "shop", "http:80:x", NULL},
					{"ports:add", "shop", "http:80:4000", NULL},
					{"ports:add", "shop", "udp:443:3000", NULL},
					{"ports:remove", "shop", "99999", NULL},
					{"ports:remove", "shop", "http:80", NULL}};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int (*fn)(struct bd *, int, const char **) =
			    !strcmp(bad[i][0], "ports:set")   ? cmd_ports_set
			    : !strcmp(bad[i][0], "ports:add") ? cmd_ports_add
							      : cmd_ports_remove;
			CHECK_INT(fn(&bd, 3, bad[i]), 1);
		}
	}
	CHECK_INT(store_prop_get(&bd.store, "shop", "ports.map", &v, NULL), 1);
	CHECK_STR(v, "http:80:3000 https:443:3000");
	free(v);
	v = NULL;
	{
		const char *argv[] = {"ports:report", "shop", "--format", "json", NULL};
		CHECK_INT(capture(&out, cmd_ports_report, &bd, 4, argv), 0);
		CHECK(strstr(out.buf, "\"ports-map\":\"http:80:3000 https:443:3000\"") != NULL);
		CHECK(strstr(out.buf, "\"container-port\":3000") != NULL);
	}
	{
		const char *argv[] = {"ports:list", "shop", NULL};
		CHECK_INT(capture(&out, cmd_ports_list, &bd, 2, argv), 0);
		CHECK(strstr(out.buf, "-----> Port mappings for shop") != NULL);
		CHECK(strstr(out.buf, "https           443        3000") != NULL);
	}
	{
		const char *argv[] = {"ports:remove", "shop", "443", NULL};
		CHECK_INT(cmd_ports_remove(&bd, 3, argv), 0);
	}
	CHECK_INT(store_prop_get(&bd.store, "shop", "ports.map", &v, NULL), 1);
	CHECK_STR(v, "http:80:3000");
	free(v);
	v = NULL;
	{
		const char *argv[] = {"ports:add", "shop", "https:443:3000", "http:80:3000", NULL};
		CHECK_INT(cmd_ports_add(&bd, 4, argv), 0);
	}
	CHECK_INT(store_prop_get(&bd.store, "shop", "ports.map", &v, NULL), 1);
	CHECK_STR(v, "http:80:3000 https:443:3000");
	free(v);
	v = NULL;
	{
		const char *argv[] = {"ports:remove", "shop", "http:80:3000", "https:443:3000",
				      NULL};
		CHECK_INT(cmd_ports_remove(&bd, 4, argv), 0);
	}
	CHECK_INT(store_prop_get(&bd.store, "shop", "ports.map", &v, NULL), 0);
	{
		const char *argv[] = {"ports:set", "shop", "http:80:4000", NULL};
		CHECK_INT(cmd_ports_set(&bd, 3, argv), 0);
	}
	{
		const char *argv[] = {"ports:clear", "shop", NULL};
		CHECK_INT(cmd_ports_clear(&bd, 2, argv), 0);
	}
	CHECK_INT(store_prop_get(&bd.store, "shop", "ports.map", &v, NULL), 0);
	/* no mapping, no image to ask: 5000 */
	CHECK_INT(appdeploy_port(&bd, "shop", NULL, &port, NULL), 0);
	CHECK_INT(port, 5000);
	{
		const char *argv[] = {"ports:report", "shop", NULL};
		CHECK_INT(capture(&out, cmd_ports_report, &bd, 2, argv), 0);
		CHECK(strstr(out.buf, "=====> shop ports information") != NULL);
		CHECK(strstr(out.buf, "Ports map detected:            http:80:5000") != NULL);
	}
	sbuf_release(&out);
	store_app_destroy(&bd.store, "shop", NULL);
	store_close(&bd.store);
}

static void test_network_settings(void)
{
	static const char *const names_ok[] = {"backend", "db-net", "a.b_c", "0net"};
	static const char *const names_bad[] = {
	    "",	    "berth", "bridge",
	    "host", "none",  "kamal",
	    "-x",   "Net",   "a b",
	    "a/b",  "_x",    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	struct bd bd;
	struct sbuf out = SBUF_INIT;
	char *v = NULL;

	for (size_t i = 0; i < sizeof(names_ok) / sizeof(names_ok[0]); i++) {
		CHECK(network_valid_name(names_ok[i]));
	}
	for (size_t i = 0; i < sizeof(names_bad) / sizeof(names_bad[0]); i++) {
		CHECK(!network_valid_name(names_bad[i]));
	}
	CHECK(network_valid_tld("svc.local"));
	CHECK(network_valid_tld("internal"));
	CHECK(!network_valid_tld(".local"));
	CHECK(!network_valid_tld("a..b"));
	CHECK(!network_valid_tld("A.b"));
	CHECK(!network_valid_tld("a-.b"));

	bd_open(&bd);
	store_app_create(&bd.store, "shop", NULL);
	/* what berth cannot honour is refused, and nothing is stored */
	{
		const char *props[] = {"attach-post-create", "initial-network",
				       "bind-all-interfaces", "bogus"};
		for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
			const char *argv[] = {"network:set", "shop", props[i], "net", NULL};
			CHECK_INT(cmd_network_set(&bd, 4, argv), 1);
		}
	}
	{
		/* a tld without networks to name the app on has no effect: refused */
		const char *argv[] = {"network:set", "shop", "tld", "svc.local", NULL};
		CHECK_INT(cmd_network_set(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"network:set", "shop", "attach-post-deploy", "Bad/Name",
				      NULL};
		CHECK_INT(cmd_network_set(&bd, 4, argv), 1);
	}
	CHECK_INT(store_prop_get(&bd.store, "shop", "network.attach-post-deploy", &v, NULL), 0);
	CHECK_INT(store_prop_get(&bd.store, "shop", "network.tld", &v, NULL), 0);
	{
		const char *argv[] = {"network:report", "shop", "--format", "json", NULL};
		CHECK_INT(capture(&out, cmd_network_report, &bd, 4, argv), 0);
		CHECK(strstr(out.buf, "\"network-attach-post-deploy\":\"\"") != NULL);
		CHECK(strstr(out.buf, "\"network-initial-network\":\"berth\"") != NULL);
	}
	sbuf_release(&out);
	store_app_destroy(&bd.store, "shop", NULL);
	store_close(&bd.store);
}

static void test_letsencrypt_set_args(void)
{
	struct {
		const char *argv[6];		     /* NULL-terminated */
		const char *app, *key, *value, *err; /* err: a part of the error, or NULL */
	} cases[] = {
	    {{"letsencrypt:set", "--global", "email", "ops@example.com"},
	     NULL,
	     "email",
	     "ops@example.com",
	     NULL},
	    {{"letsencrypt:set", "shop", "email", "ops@example.com"},
	     "shop",
	     "email",
	     "ops@example.com",
	     NULL},
	    {{"letsencrypt:set", "--global", "email"}, NULL, "email", NULL, NULL},
	    {{"letsencrypt:set", "--global", "server", "staging"},
	     NULL,
	     "server",
	     "https://acme-staging-v02.api.letsencrypt.org/directory",
	     NULL},
	    {{"letsencrypt:set", "--global", "server", "production"},
	     NULL,
	     "server",
	     "https://acme-v02.api.letsencrypt.org/directory",
	     NULL},
	    {{"letsencrypt:set", "--global", "server", "default"},
	     NULL,
	     "server",
	     "https://acme-v02.api.letsencrypt.org/directory",
	     NULL},
	    {{"letsencrypt:set", "--global", "server", "https://10.0.0.1:14000/dir"},
	     NULL,
	     "server",
	     "https://10.0.0.1:14000/dir",
	     NULL},
	    {{"letsencrypt:set", "--global", "server"}, NULL, "server", NULL, NULL},
	    {{"letsencrypt:set", "--global", "email", "nope"},
	     NULL,
	     NULL,
	     NULL,
	     "expected an email address"},
	    {{"letsencrypt:set", "--global", "email", "a@b.c\n"},
	     NULL,
	     NULL,
	     NULL,
	     "expected an email address"},
	    {{"letsencrypt:set", "--global", "server", "http://ca.test/dir"},
	     NULL,
	     NULL,
	     NULL,
	     "server (production, staging or a URL): directory: expected an https URL"},
	    {{"letsencrypt:set", "--global", "server", "stage"},
	     NULL,
	     NULL,
	     NULL,
	     "expected an https URL"},
	    {{"letsencrypt:set", "--global", "dns-provider", "x"},
	     NULL,
	     NULL,
	     NULL,
	     "the supported keys are email and server"},
	    {{"letsencrypt:set", "--global", "dns-provider-TOKEN", "x"},
	     NULL,
	     NULL,
	     NULL,
	     "berth-proxy has no use for 'dns-provider-TOKEN'"},
	    {{"letsencrypt:set", "shop", "graceperiod", "10"},
	     NULL,
	     NULL,
	     NULL,
	     "berth-proxy has no use for 'graceperiod'"},
	    {{"letsencrypt:set", "--global", "bogus", "x"},
	     NULL,
	     NULL,
	     NULL,
	     "invalid key 'bogus': the supported keys are email and server"},
	    {{"letsencrypt:set", "--global"}, NULL, NULL, NULL, "usage: berthd letsencrypt:set"},
	    {{"letsencrypt:set", "--global", "email", "a@b.c", "x"},
	     NULL,
	     NULL,
	     NULL,
	     "usage: berthd letsencrypt:set"},
	    {{"letsencrypt:set", "Bad_App", "email", "a@b.c"},
	     NULL,
	     NULL,
	     NULL,
	     "expected --global or an app name"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e = ERR_INIT;
		const char *app = "x", *key = "x";
		char *value = NULL;
		int argc = 0, r;

		while (cases[i].argv[argc]) {
			argc++;
		}
		r = letsencrypt_set_args(argc, cases[i].argv, &app, &key, &value, &e);
		if (cases[i].err) {
			CHECK_INT(r, -1);
			CHECK(value == NULL);
			if (!strstr(err_str(&e), cases[i].err)) {
				fprintf(stderr, "# case %zu: %s\n", i, err_str(&e));
			}
			CHECK(strstr(err_str(&e), cases[i].err) != NULL);
		} else {
			CHECK_INT(r, 0);
			if (cases[i].app) {
				CHECK_STR(app, cases[i].app);
			} else {
				CHECK(app == NULL);
			}
			CHECK_STR(key, cases[i].key);
			if (cases[i].value) {
				CHECK_STR(value, cases[i].value);
			} else {
				CHECK(value == NULL);
			}
		}
		free(value);
		err_release(&e);
	}
}

static void test_letsencrypt_set_refuses_and_changes_nothing(void)
{
	struct bd bd;
	char *v = NULL;

	bd_open(&bd);
	store_app_create(&bd.store, "shop", NULL);
	{
		const char *argv[] = {"letsencrypt:set", "--global", "email", "nope", NULL};
		CHECK_INT(cmd_letsencrypt_set(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"letsencrypt:set", "--global", "server", "ftp://x", NULL};
		CHECK_INT(cmd_letsencrypt_set(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"letsencrypt:set", "--global", "graceperiod", "1", NULL};
		CHECK_INT(cmd_letsencrypt_set(&bd, 4, argv), 1);
	}
	{
		/* a missing app: Dokku's exit code, nothing stored */
		const char *argv[] = {"letsencrypt:set", "nosuch", "email", "ops@example.com",
				      NULL};
		CHECK_INT(cmd_letsencrypt_set(&bd, 4, argv), BD_EXIT_NO_APP);
	}
	CHECK_INT(store_setting_get(&bd.store, "letsencrypt.email", &v, NULL), 0);
	CHECK_INT(store_setting_get(&bd.store, "letsencrypt.server", &v, NULL), 0);
	CHECK(v == NULL);
	store_app_destroy(&bd.store, "shop", NULL);
	store_close(&bd.store);
}

/* metrics:report's text and JSON from an app's totals; no value: "-" and null. */
static void test_metrics_report_format(void)
{
	static const double le[5] = {0.005, 0.01, 0.025, 0.05, INFINITY};
	struct series_totals t;
	struct sbuf sb = SBUF_INIT;

	memset(&t, 0, sizeof(t));
	t.nbuckets = 5;
	memcpy(t.le, le, sizeof(le));
	memcpy(t.buckets, (double[]){10, 40, 90, 100, 100}, sizeof(le));
	t.requests[2] = 97;
	t.requests[5] = 3;
	t.upstream_errors = 1;
	t.in_flight = 2;
	t.duration_sum = 1.5;
	t.duration_count = 100;
	metrics_report_format(&sb, "shop", &t, true, false);
	CHECK_STR(sb.buf, "=====> shop metrics (berth-proxy, since it started)\n"
			  "       Service:                       shop-web\n"
			  "       Requests:                      100\n"
			  "       Requests 1xx:                  0\n"
			  "       Requests 2xx:                  97\n"
			  "       Requests 3xx:                  0\n"
			  "       Requests 4xx:                  0\n"
			  "       Requests 5xx:                  3\n"
			  "       Requests other:                0\n"
			  "       Upstream errors:               1\n"
			  "       In flight:                     2\n"
			  "       Latency mean:                  15.0 ms\n"
			  "       Latency p50:                   13.0 ms\n"
			  "       Latency p99:                   47.5 ms\n");
	sbuf_reset(&sb);
	metrics_report_format(&sb, "shop", &t, true, true);
	CHECK_STR(sb.buf, "{\"app\":\"shop\",\"service\":\"shop-web\",\"counted\":true,"
			  "\"requests\":100,\"requests_by_class\":{\"1xx\":0,\"2xx\":97,\"3xx\":0,"
			  "\"4xx\":0,\"5xx\":3,\"other\":0},\"upstream_errors\":1,\"in_flight\":2,"
			  "\"latency_ms\":{\"mean\":15.0,\"p50\":13.0,\"p99\":47.5}}\n");
	memset(&t, 0, sizeof(t));
	sbuf_reset(&sb);
	metrics_report_format(&sb, "shop", &t, false, true);
	CHECK(strstr(sb.buf, "\"counted\":false,\"requests\":0,"));
	CHECK(strstr(sb.buf, "\"latency_ms\":{\"mean\":null,\"p50\":null,\"p99\":null}}"));
	sbuf_reset(&sb);
	metrics_report_format(&sb, "shop", &t, false, false);
	CHECK(strstr(sb.buf, "       Counted:                       nothing yet\n"));
	CHECK(strstr(sb.buf, "       Latency p99:                   -\n"));
	sbuf_release(&sb);
}

/* Usage errors change nothing and reach no docker. */
static void test_metrics_report_usage(void)
{
	struct bd bd;

	bd_open(&bd);
	store_app_create(&bd.store, "mx", NULL);
	{
		const char *argv[] = {"metrics:report", "mx", "--format", "yaml", NULL};
		CHECK_INT(cmd_metrics_report(&bd, 4, argv), 1);
	}
	{
		const char *argv[] = {"metrics:report", "mx", "extra", NULL};
		CHECK_INT(cmd_metrics_report(&bd, 3, argv), 1);
	}
	{
		const char *argv[] = {"metrics:report", NULL};
		CHECK_INT(cmd_metrics_report(&bd, 1, argv), 1);
	}
	store_close(&bd.store);
}

static void test_panel_users(void)
{
	struct bd bd;
	struct store_user u = {0};

	bd_open(&bd);
	CHECK(store_user_add(&bd.store, "root1", "$argon2id$x", "admin", 1, NULL) == 0);
	CHECK(store_user_add(&bd.store, "pat", "$argon2id$x", "user", 2, NULL) == 0);
	CHECK_INT(store_user_totp_set(&bd.store, "pat", NULL, "JBSWY3DPEHPK3PXP", "h1", NULL), 1);
	CHECK(store_session_add(&bd.store, "sess-pat", "pat", 2, NULL) == 0);
	{
		const char *argv[] = {"panel:users", NULL};
		CHECK_INT(cmd_panel_users(&bd, 1, argv), 0);
	}
	{
		const char *argv[] = {"panel:user-reset-2fa", "nobody", NULL};
		CHECK_INT(cmd_panel_user_reset_2fa(&bd, 2, argv), 1);
	}
	{
		const char *argv[] = {"panel:user-reset-2fa", "Bad Name", NULL};
		CHECK_INT(cmd_panel_user_reset_2fa(&bd, 2, argv), 1);
	}
	{
		const char *argv[] = {"panel:user-reset-2fa", "pat", NULL};
		CHECK_INT(cmd_panel_user_reset_2fa(&bd, 2, argv), 0);
	}
	CHECK_INT(store_user_get(&bd.store, "pat", &u, NULL), 1);
	CHECK(u.totp_secret == NULL && u.totp_recovery == NULL);
	store_user_release(&u);
	{
		char *user = NULL;
		CHECK_INT(store_session_get(&bd.store, "sess-pat", 3, &user, NULL), 0);
		free(user);
	}
	/* the last admin stays; others go */
	{
		const char *argv[] = {"panel:user-remove", "root1", NULL};
		CHECK_INT(cmd_panel_user_remove(&bd, 2, argv), 1);
	}
	CHECK_INT(store_user_get(&bd.store, "root1", &u, NULL), 1);
	store_user_release(&u);
	{
		const char *argv[] = {"panel:user-remove", "pat", NULL};
		CHECK_INT(cmd_panel_user_remove(&bd, 2, argv), 0);
		CHECK_INT(cmd_panel_user_remove(&bd, 2, argv), 1);
		CHECK_INT(cmd_panel_user_remove(&bd, 1, argv), 1);
	}
	CHECK_INT(store_user_get(&bd.store, "pat", &u, NULL), 0);
	store_close(&bd.store);
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
	UNIT_RUN(test_port_parsing);
	UNIT_RUN(test_ports_commands);
	UNIT_RUN(test_network_settings);
	UNIT_RUN(test_letsencrypt_set_args);
	UNIT_RUN(test_letsencrypt_set_refuses_and_changes_nothing);
	UNIT_RUN(test_metrics_report_format);
	UNIT_RUN(test_metrics_report_usage);
	UNIT_RUN(test_panel_users);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
