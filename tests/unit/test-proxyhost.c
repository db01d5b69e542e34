/* The proxy container's `docker run` and image name, from proxy.run. */
#include "engine/proxyhost.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "unit.h"

#define IMAGE "berth-proxy:" BERTH_VERSION

/* The argv joined with spaces, for comparing whole command lines. */
static char *run_line(const struct config *cfg)
{
	struct strvec argv = STRVEC_INIT;
	char *s;

	proxyhost_run_argv(cfg, &argv);
	s = strvec_join(&argv, " ");
	strvec_clear(&argv);
	return s;
}

static char *ports_line(const struct config *cfg)
{
	struct strvec argv = STRVEC_INIT;
	char *s;

	proxyhost_ports_argv(cfg, &argv);
	s = strvec_join(&argv, " ");
	strvec_clear(&argv);
	return s;
}

static void test_image(void)
{
	struct config cfg;
	char *s;

	CHECK_STR(proxyhost_image(), IMAGE);
	CHECK(strlen(BERTH_VERSION) > 0);
	config_init(&cfg);
	s = proxyhost_image_for(&cfg);
	CHECK_STR(s, IMAGE);
	free(s);
	cfg.proxy_run.repository = xstrdup("acme/berth-proxy");
	s = proxyhost_image_for(&cfg);
	CHECK_STR(s, "acme/berth-proxy:" BERTH_VERSION);
	free(s);
	cfg.proxy_run.registry = xstrdup("registry.example.com:5000");
	cfg.proxy_run.version = xstrdup("1.2.3");
	s = proxyhost_image_for(&cfg);
	CHECK_STR(s, "registry.example.com:5000/acme/berth-proxy:1.2.3");
	free(s);
	config_release(&cfg);
}

static void test_defaults(void)
{
	struct config cfg;
	char *s;

	config_init(&cfg);
	/* The ports are held by berth-proxy-ports: the proxy publishes none. */
	CHECK(proxyhost_held(&cfg));
	s = run_line(&cfg);
	CHECK_STR(s, "docker run -d --name berth-proxy --network berth --restart unless-stopped "
		     "--log-opt max-size=10m -v "
		     "berth-proxy:/var/lib/berth-proxy --label berth.proxy=1 " IMAGE
		     " berth-proxy run --http-port 80 --https-port 443 --state-dir "
		     "/var/lib/berth-proxy --takeover-if-running --listeners-from "
		     "/var/lib/berth-proxy/listeners.sock");
	free(s);
	s = ports_line(&cfg);
	CHECK_STR(s,
		  "docker run -d --name berth-proxy-ports --network host --restart "
		  "unless-stopped --user 0:0 --cap-drop ALL --cap-add NET_BIND_SERVICE "
		  "--cap-add SETUID --cap-add SETGID --log-opt max-size=10m -v "
		  "berth-proxy:/var/lib/berth-proxy "
		  "--label berth.proxy=1 --label berth.proxy.ports=80,443 " IMAGE
		  " berth-proxy hold --socket /var/lib/berth-proxy/listeners.sock --http-port 80 "
		  "--https-port 443");
	free(s);
	config_release(&cfg);
}

/* One bind_ips address: the holder listens there (an IPv6 one without brackets). */
static void test_held_on_one_address(void)
{
	struct config cfg;
	char *s;

	config_init(&cfg);
	strvec_push(&cfg.proxy_run.bind_ips, "[fd00::2]");
	cfg.proxy_run.http_port = 8080;
	CHECK(proxyhost_held(&cfg));
	s = ports_line(&cfg);
	CHECK_STR(s, "docker run -d --name berth-proxy-ports --network host --restart "
		     "unless-stopped --user 0:0 --cap-drop ALL --cap-add NET_BIND_SERVICE "
		     "--cap-add SETUID --cap-add SETGID --log-opt max-size=10m -v "
		     "berth-proxy:/var/lib/berth-proxy "
		     "--label berth.proxy=1 --label berth.proxy.ports=8080,443,[fd00::2] " IMAGE
		     " berth-proxy hold --socket /var/lib/berth-proxy/listeners.sock --http-port "
		     "8080 --https-port 443 --listen fd00::2");
	free(s);
	config_release(&cfg);
}

static void test_ports_and_bind_ips(void)
{
	struct config cfg;
	char *s;

	config_init(&cfg);
	cfg.proxy_run.http_port = 8080;
	cfg.proxy_run.https_port = 8443;
	cfg.proxy_run.metrics_port = 9090;
	strvec_push(&cfg.proxy_run.bind_ips, "10.0.0.5");
	strvec_push(&cfg.proxy_run.bind_ips, "::1");
	strvec_push(&cfg.proxy_run.bind_ips, "[fd00::2]");
	free(cfg.proxy_run.log_max_size);
	cfg.proxy_run.log_max_size = xstrdup("50m");
	/* Several addresses: the proxy publishes them itself, as Kamal's does. */
	CHECK(!proxyhost_held(&cfg));
	s = run_line(&cfg);
	CHECK_STR(s, "docker run -d --name berth-proxy --network berth --restart unless-stopped "
		     "--log-opt max-size=50m -p 10.0.0.5:8080:8080 -p 10.0.0.5:8443:8443 "
		     "-p [::1]:8080:8080 -p [::1]:8443:8443 -p [fd00::2]:8080:8080 "
		     "-p [fd00::2]:8443:8443 -v berth-proxy:/var/lib/berth-proxy "
		     "--label berth.proxy=1 " IMAGE " berth-proxy run --http-port 8080 "
		     "--https-port 8443 --state-dir /var/lib/berth-proxy --metrics-port 9090");
	free(s);
	config_release(&cfg);
}

/* proxy.run.debug: the proxy logs at debug level (Kamal's kamal-proxy run --debug). */
static void test_debug(void)
{
	struct config cfg;
	char *s;

	config_init(&cfg);
	cfg.proxy_run.debug = 0;
	s = run_line(&cfg);
	CHECK(strstr(s, "--debug") == NULL);
	free(s);
	cfg.proxy_run.debug = 1;
	s = run_line(&cfg);
	CHECK(strstr(s, " berth-proxy run --http-port 80 --https-port 443 --state-dir "
			"/var/lib/berth-proxy --debug --takeover-if-running ") != NULL);
	free(s);
	/* the holder of the ports logs as before */
	s = ports_line(&cfg);
	CHECK(strstr(s, "--debug") == NULL);
	free(s);
	config_release(&cfg);
}

static void test_no_publish_and_options(void)
{
	struct config cfg;
	struct strvec argv = STRVEC_INIT;
	size_t i, img = 0;
	char *s;

	config_init(&cfg);
	cfg.proxy_run.publish = 0;
	CHECK(!proxyhost_held(&cfg));
	config_map_add(&cfg.proxy_run.options, "memory", "512m");
	config_map_add(&cfg.proxy_run.options, "add-host", "a:10.0.0.1");
	config_map_add(&cfg.proxy_run.options, "add-host", "b:10.0.0.2");
	config_map_add(&cfg.proxy_run.options, "read-only", NULL);
	config_map_add(&cfg.proxy_run.options, "env", "X=$(touch /tmp/pwned) 'q'");
	s = run_line(&cfg);
	CHECK_STR(s, "docker run -d --name berth-proxy --network berth --restart unless-stopped "
		     "--log-opt max-size=10m -v berth-proxy:/var/lib/berth-proxy --label "
		     "berth.proxy=1 --memory 512m --add-host a:10.0.0.1 --add-host b:10.0.0.2 "
		     "--read-only --env X=$(touch /tmp/pwned) 'q' " IMAGE
		     " berth-proxy run --http-port 80 --https-port 443 --state-dir "
		     "/var/lib/berth-proxy");
	free(s);
	/* every value is one argument of its own, whatever bytes it holds */
	proxyhost_run_argv(&cfg, &argv);
	for (i = 0; i < argv.nr; i++) {
		if (!strcmp(argv.v[i], IMAGE)) {
			img = i;
		}
	}
	CHECK(img > 0);
	CHECK_STR(argv.v[img - 1], "X=$(touch /tmp/pwned) 'q'");
	CHECK_STR(argv.v[img - 2], "--env");
	CHECK(argv.v[argv.nr] == NULL);
	strvec_clear(&argv);
	config_release(&cfg);
}

static void test_appends(void)
{
	struct config cfg;
	struct strvec argv = STRVEC_INIT;

	config_init(&cfg);
	strvec_push(&argv, "sh");
	proxyhost_run_argv(&cfg, &argv);
	CHECK_STR(argv.v[0], "sh");
	CHECK_STR(argv.v[1], "docker");
	CHECK_STR(argv.v[argv.nr - 1], "/var/lib/berth-proxy/listeners.sock");
	strvec_clear(&argv);
	config_release(&cfg);
}

/* Parses text as a host's answer; returns the progress text or "pending" or "error: ...". */
static char *answer(const char *text, bool *image_ok)
{
	struct proxyhost_answer a;
	struct err e = ERR_INIT;
	struct sbuf out = SBUF_INIT;

	proxyhost_answer_init(&a);
	if (proxyhost_parse_answer(slice_make(text, strlen(text)), IMAGE, &a, &e) < 0) {
		sbuf_addf(&out, "error: %s", err_str(&e));
	} else if (a.pending) {
		sbuf_addstr(&out, "pending");
	} else {
		sbuf_addstr(&out, a.what.buf);
	}
	*image_ok = a.image_ok;
	proxyhost_answer_release(&a);
	err_release(&e);
	return sbuf_detach(&out, NULL);
}

static void test_answers(void)
{
	static const struct {
		const char *text, *want;
		bool image_ok;
	} cases[] = {
	    {"image ok\ncontainer started\n", "berth-proxy started (" IMAGE ")", true},
	    {"image missing\ncontainer pending\n", "pending", false},
	    {"image ok\ncontainer running\n", "berth-proxy is running (" IMAGE ")", true},
	    {"image missing\ncontainer running-other berth-proxy:0.0.1\n",
	     "berth-proxy is running, from another image than " IMAGE
	     " (berth-proxy:0.0.1): a reboot replaces it",
	     false},
	    {"image ok\r\ncontainer  rebooted \n", "berth-proxy rebooted (" IMAGE ")", true},
	    {"image ok\ncontainer replaced\n",
	     "berth-proxy rebooted (" IMAGE "), replaced rather than handed over: new connections "
	     "were refused for a moment",
	     true},
	    {"image ok\ncontainer restarted", "berth-proxy was stopped; started it again", true},
	    {"image ok\ncontainer unpaused\n", "berth-proxy was paused; unpaused it", true},
	    {"motd line\nimage ok\ncontainer restarting\n",
	     "berth-proxy is restarting (it keeps exiting: see its logs)", true},
	    {"image ok\ncontainer running-other a\033[2Jb\n",
	     "berth-proxy is running, from another image than " IMAGE
	     " (a?[2Jb): a reboot replaces it",
	     true},
	    {"", "error: unexpected answer from the proxy check: ''", false},
	    {"image ok\n", "error: unexpected answer from the proxy check: 'image ok?'", false},
	    {"container started\n",
	     "error: unexpected answer from the proxy check: 'container started?'", false},
	    {"image maybe\ncontainer started\n",
	     "error: unexpected answer from the proxy check: 'image maybe?container started?'",
	     false},
	    {"image ok\ncontainer exploded\n",
	     "error: unexpected answer from the proxy check: 'image ok?container exploded?'",
	     false},
	    {"image ok\ncontainer running-other\n",
	     "error: unexpected answer from the proxy check: 'image ok?container "
	     "running-other?'",
	     false},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = !cases[i].image_ok;
		char *got = answer(cases[i].text, &ok);

		CHECK_STR(got, cases[i].want);
		CHECK_INT(ok, cases[i].image_ok);
		free(got);
	}
}

static void test_answer_lines_are_limited(void)
{
	struct sbuf text = SBUF_INIT;
	bool ok;
	char *got;
	int i;

	for (i = 0; i < PROXYHOST_ANSWER_MAX_LINES; i++) {
		sbuf_addstr(&text, "noise\n");
	}
	sbuf_addstr(&text, "image ok\ncontainer started\n");
	got = answer(text.buf, &ok);
	CHECK(!strncmp(got, "error: unexpected answer", 24));
	free(got);
	sbuf_release(&text);
}

static void test_services(void)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *j;

	/* no proxy on the host: nothing */
	CHECK_INT(proxyhost_parse_services(slice_cstr(""), &v, &e), 0);
	CHECK_INT(v.nr, 0);
	CHECK_INT(proxyhost_parse_services(slice_cstr("[]\n"), &v, &e), 0);
	CHECK_INT(v.nr, 0);
	/* list --json */
	CHECK_INT(
	    proxyhost_parse_services(
		slice_cstr("[{\"name\":\"shop-web\",\"hosts\":[\"a\"]},{\"name\":\"blog-web\"}]"),
		&v, &e),
	    0);
	j = strvec_join(&v, ",");
	CHECK_STR(j, "shop-web,blog-web");
	free(j);
	strvec_clear(&v);
	/* the saved state of a stopped proxy */
	CHECK_INT(
	    proxyhost_parse_services(
		slice_cstr("{\n  \"version\": 1,\n  \"services\": [{\"name\": \"a-web\"}]\n}"), &v,
		&e),
	    0);
	CHECK_INT(v.nr, 1);
	CHECK_STR(v.v[0], "a-web");
	strvec_clear(&v);
	/* what is not the proxy's answer is refused, not taken for "nothing" */
	CHECK_INT(proxyhost_parse_services(slice_cstr("Error: no such command"), &v, &e), -1);
	CHECK(strstr(err_str(&e), "not JSON") != NULL);
	err_release(&e);
	CHECK_INT(proxyhost_parse_services(slice_cstr("{\"version\":1}"), &v, &e), -1);
	err_release(&e);
	CHECK_INT(proxyhost_parse_services(slice_cstr("[{\"hosts\":[]}]"), &v, &e), -1);
	CHECK(strstr(err_str(&e), "no name") != NULL);
	err_release(&e);
	strvec_clear(&v);
}

int main(void)
{
	UNIT_RUN(test_services);
	UNIT_RUN(test_image);
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_held_on_one_address);
	UNIT_RUN(test_ports_and_bind_ips);
	UNIT_RUN(test_debug);
	UNIT_RUN(test_no_publish_and_options);
	UNIT_RUN(test_appends);
	UNIT_RUN(test_answers);
	UNIT_RUN(test_answer_lines_are_limited);
	return unit_done();
}
