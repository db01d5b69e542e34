#include "engine/registry.h"

#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	UNIT_RUN(test_credentials);
	UNIT_RUN(test_argv);
	return unit_done();
}
