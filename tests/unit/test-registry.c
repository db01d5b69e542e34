#include "engine/registry.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "lib/yamldoc.h"
#include "unit.h"

static void test_credentials(void)
{
	struct config_registry r = {0};
	struct secrets sec;
	struct err e = ERR_INIT;
	const char *u = NULL, *p = NULL;

	secrets_init(&sec);
	CHECK_INT(registry_credentials(&r, &sec, &u, &p, &e), -1);
	CHECK(strstr(err_str(&e), "registry.username") != NULL);
	err_release(&e);
	r.username = "deploy";
	r.password = "REG_PW";
	r.password_secret = true;
	CHECK_INT(registry_credentials(&r, &sec, &u, &p, &e), -1);
	CHECK_STR(err_str(&e),
		  "registry.password: secret 'REG_PW' is not set in the secrets files");
	err_release(&e);
	CHECK_INT(registry_credentials(&r, NULL, &u, &p, &e), -1);
	err_release(&e);
	secrets_set(&sec, "REG_PW", "hunter2-secret", NULL);
	CHECK_INT(registry_credentials(&r, &sec, &u, &p, &e), 0);
	CHECK_STR(u, "deploy");
	CHECK_STR(p, "hunter2-secret");
	r.username = "REG_USER";
	r.username_secret = true;
	CHECK_INT(registry_credentials(&r, &sec, &u, &p, &e), -1);
	err_release(&e);
	secrets_set(&sec, "REG_USER", "bot", NULL);
	CHECK_INT(registry_credentials(&r, &sec, &u, &p, &e), 0);
	CHECK_STR(u, "bot");
	r.password = "literal";
	r.password_secret = false;
	CHECK_INT(registry_credentials(&r, &sec, &u, &p, &e), 0);
	CHECK_STR(p, "literal");
	secrets_release(&sec);
}

static void test_argv(void)
{
	struct strvec v = STRVEC_INIT;
	char *j;

	registry_login_argv(&v, "127.0.0.1:5000", "bot");
	j = strvec_join(&v, " ");
	CHECK_STR(j, "docker login 127.0.0.1:5000 -u bot --password-stdin");
	free(j);
	strvec_clear(&v);
	registry_login_argv(&v, NULL, "bot");
	j = strvec_join(&v, " ");
	CHECK_STR(j, "docker login -u bot --password-stdin");
	free(j);
	strvec_clear(&v);
	registry_logout_argv(&v, "ghcr.io");
	j = strvec_join(&v, " ");
	CHECK_STR(j, "docker logout ghcr.io");
	free(j);
	strvec_clear(&v);
}

static void test_local(void)
{
	struct config_registry r = {0};
	struct config cfg;

	CHECK_INT(registry_local_port(&r), 0);
	r.server = "localhost:5555";
	CHECK_INT(registry_local_port(&r), 5555);
	r.server = "localhost:1";
	CHECK_INT(registry_local_port(&r), 1);
	/* Kamal's rule: localhost with a port, nothing else */
	r.server = "localhost";
	CHECK_INT(registry_local_port(&r), 0);
	r.server = "localhost:";
	CHECK_INT(registry_local_port(&r), 0);
	r.server = "localhost:0";
	CHECK_INT(registry_local_port(&r), 0);
	r.server = "localhost:65536";
	CHECK_INT(registry_local_port(&r), 0);
	r.server = "localhost:5555/x";
	CHECK_INT(registry_local_port(&r), 0);
	r.server = "127.0.0.1:5000";
	CHECK_INT(registry_local_port(&r), 0);
	r.server = "localhost.example:5000";
	CHECK_INT(registry_local_port(&r), 0);

	CHECK_INT(registry_ref_local_port("localhost:5555/shop:abc"), 5555);
	CHECK_INT(registry_ref_local_port("localhost:5555"), 0);
	CHECK_INT(registry_ref_local_port("127.0.0.1:5000/shop:abc"), 0);
	CHECK_INT(registry_ref_local_port("shop:abc"), 0);
	CHECK_INT(registry_ref_local_port("localhost/shop:abc"), 0);

	/* a local registry is one images go through, with no login */
	config_init(&cfg);
	CHECK(!registry_configured(&cfg));
	cfg.registry.server = xstrdup("localhost:5555");
	CHECK(registry_local(&cfg));
	CHECK(registry_configured(&cfg));
	config_release(&cfg);
}

static void test_local_argv(void)
{
	struct strvec v = STRVEC_INIT;

	registry_setup_argv(&v, 5555, "registry:3");
	CHECK_INT(v.nr, 7);
	CHECK_STR(v.v[0], "sh");
	CHECK_STR(v.v[4], "berth-docker-registry");
	CHECK_STR(v.v[5], "registry:3");
	CHECK_STR(v.v[6], "5555");
	/* published on the loopback only, labelled with its port, restarted with dockerd */
	CHECK(strstr(v.v[2], "-p \"127.0.0.1:$port:5000\"") != NULL);
	CHECK(strstr(v.v[2], "--label \"berth.registry=$port\"") != NULL);
	CHECK(strstr(v.v[2], "--restart unless-stopped") != NULL);
	strvec_clear(&v);
	registry_remove_argv(&v);
	CHECK_INT(v.nr, 5);
	CHECK_STR(v.v[4], "berth-docker-registry");
	strvec_clear(&v);

	CHECK_STR(REGISTRY_LOCAL_CONTAINER, "berth-docker-registry");
	unsetenv("BERTH_REGISTRY_IMAGE");
	CHECK_STR(registry_local_image(), "registry:3");
	setenv("BERTH_REGISTRY_IMAGE", "mirror.example/registry:2", 1);
	CHECK_STR(registry_local_image(), "mirror.example/registry:2");
	unsetenv("BERTH_REGISTRY_IMAGE");
}

static void test_forward_argv(void)
{
	struct strvec v = STRVEC_INIT;
	char *j;

	strvec_pushv(&v,
		     (const char *[]){"ssh", "-o", "ControlMaster=auto", "-l", "root", "-T", "--",
				      "h1", "docker pull --quiet localhost:5555/a:1", NULL});
	registry_forward_argv(&v, 5555);
	j = strvec_join(&v, " ");
	/* ssh takes the first value of an option: ours come before exec's */
	CHECK_STR(j, "ssh -o ControlMaster=no -o ControlPath=none -o ExitOnForwardFailure=yes "
		     "-R 127.0.0.1:5555:127.0.0.1:5555 -o ControlMaster=auto -l root -T -- h1 "
		     "docker pull --quiet localhost:5555/a:1");
	free(j);
	strvec_clear(&v);
	/* --local: the registry is here already */
	strvec_pushv(&v, (const char *[]){"docker", "pull", "x", NULL});
	registry_forward_argv(&v, 5555);
	j = strvec_join(&v, " ");
	CHECK_STR(j, "docker pull x");
	free(j);
	strvec_clear(&v);
}

int main(void)
{
	UNIT_RUN(test_credentials);
	UNIT_RUN(test_argv);
	UNIT_RUN(test_local);
	UNIT_RUN(test_local_argv);
	UNIT_RUN(test_forward_argv);
	return unit_done();
}
