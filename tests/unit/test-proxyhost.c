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
	s = run_line(&cfg);
	CHECK_STR(s, "docker run -d --name berth-proxy --network berth --restart unless-stopped "
		     "--log-opt max-size=10m -p 80:80 -p 443:443 -v "
		     "berth-proxy:/var/lib/berth-proxy --label berth.proxy=1 " IMAGE
		     " berth-proxy run --http-port 80 --https-port 443 --state-dir "
		     "/var/lib/berth-proxy");
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

static void test_no_publish_and_options(void)
{
	struct config cfg;
	struct strvec argv = STRVEC_INIT;
	size_t i, img = 0;
	char *s;

	config_init(&cfg);
	cfg.proxy_run.publish = 0;
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
	CHECK_STR(argv.v[argv.nr - 1], "/var/lib/berth-proxy");
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

int main(void)
{
	UNIT_RUN(test_image);
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_ports_and_bind_ips);
	UNIT_RUN(test_no_publish_and_options);
	UNIT_RUN(test_appends);
	UNIT_RUN(test_answers);
	UNIT_RUN(test_answer_lines_are_limited);
	return unit_done();
}
