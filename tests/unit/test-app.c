#include "engine/app.h"

#include <string.h>

#include "lib/yamldoc.h"
#include "unit.h"

static int load_text(struct config *cfg, const char *text, const char *dest, struct err *e)
{
	struct yaml_node *root = NULL;
	int r;

	config_init(cfg);
	if (yaml_load("t.yml", text, strlen(text), &root, e) < 0) {
		return -1;
	}
	r = config_from_yaml(cfg, root, "t.yml", "tests/config/no-such-dir", dest, NULL, e);
	yaml_node_free(root);
	return r;
}

static void check_words(const char *line, const char *joined)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *j;

	CHECK_INT(app_split_words(line, &v, &e), 0);
	j = strvec_join(&v, "|");
	CHECK_STR(j, joined);
	free(j);
	strvec_clear(&v);
	err_release(&e);
}

static void test_split_words(void)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;

	check_words("bin/rails db:migrate", "bin/rails|db:migrate");
	check_words("  sh -c 'echo $HOME; ls'  ", "sh|-c|echo $HOME; ls");
	check_words("echo \"a \\\"b\\\" \\$c\" d\\ e", "echo|a \"b\" $c|d e");
	check_words("a''b \"\"", "ab|");
	check_words("x\\\ny", "xy");
	CHECK_INT(app_split_words("echo 'open", &v, &e), -1);
	CHECK(strstr(err_str(&e), "unterminated single quote") != NULL);
	err_release(&e);
	CHECK_INT(app_split_words("echo \"open", &v, &e), -1);
	err_release(&e);
	CHECK_INT(app_split_words("   ", &v, &e), -1);
	err_release(&e);
	CHECK_INT(app_split_words("a\\", &v, &e), -1);
	CHECK_INT(v.nr, 0);
	err_release(&e);
	strvec_clear(&v);
}

static void test_names(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: acme/shop\nservers: [a1]\n"
			    "registry:\n  server: reg.example:5000\n  username: u\n"
			    "  password: [PW]\n",
			    "staging", &e),
		  0);
	app_role_name(&sb, &cfg, "web");
	CHECK_STR(sb.buf, "shop-web-staging");
	sbuf_reset(&sb);
	app_container_name(&sb, &cfg, "web", "abc123");
	CHECK_STR(sb.buf, "shop-web-staging-abc123");
	sbuf_reset(&sb);
	app_image_ref(&sb, &cfg, "abc123");
	CHECK_STR(sb.buf, "reg.example:5000/acme/shop:abc123");
	sbuf_reset(&sb);
	app_env_path(&sb, &cfg, "web");
	CHECK_STR(sb.buf, ".berth/apps/shop-staging/env/web.env");
	sbuf_release(&sb);
	config_release(&cfg);
	CHECK(app_version_ok("3f2a9c1_uncommitted_1a2b"));
	CHECK(app_version_ok("v1.2.3"));
	CHECK(!app_version_ok("-rf"));
	CHECK(!app_version_ok(""));
	CHECK(!app_version_ok("a b"));
	CHECK(!app_version_ok("a/b"));
}

static void test_env_file(void)
{
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers: [a1]\n"
			    "env:\n  clear:\n    MODE: prod\n  secret: [DB_PASSWORD, "
			    "KEY:OTHER]\n",
			    NULL, &e),
		  0);
	secrets_init(&sec);
	strvec_push(&sec.names, "DB_PASSWORD");
	strvec_push(&sec.values, "line1\nline2");
	strvec_push(&sec.files, "f");
	CHECK_INT(app_env_file(&sb, &cfg.roles[0], &sec, &e), -1);
	CHECK_STR(err_str(&e), "env.secret: secret 'OTHER' is not set in the secrets files");
	err_release(&e);
	strvec_push(&sec.names, "OTHER");
	strvec_push(&sec.values, "s3cr3t");
	strvec_push(&sec.files, "f");
	sbuf_reset(&sb);
	CHECK_INT(app_env_file(&sb, &cfg.roles[0], &sec, &e), 0);
	CHECK_STR(sb.buf, "MODE=prod\nDB_PASSWORD=line1\\nline2\nKEY=s3cr3t\n");
	sbuf_release(&sb);
	secrets_release(&sec);
	config_release(&cfg);
}

static void test_run_argv(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT;
	struct app_run r = {.version = "v2",
			    .env_file = "/root/.berth/apps/shop/env/web.env",
			    .host = "h1",
			    .detach = true};
	char *j;

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers:\n  web: [a1]\n  job:\n"
			    "    hosts: [a2]\n    cmd: bin/jobs --queue 'a b'\n"
			    "    options:\n      memory: 512m\n      init: true\n"
			    "volumes: [\"/data:/data\"]\n",
			    NULL, &e),
		  0);
	CHECK_INT(app_run_argv(&argv, &cfg, config_role(&cfg, "job"), &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker run --detach --restart unless-stopped --name shop-job-v2 --network "
		     "berth --env=BERTH_VERSION=v2 --env=BERTH_HOST=h1 "
		     "--env-file=/root/.berth/apps/shop/env/web.env --log-opt=max-size=10m "
		     "--volume=/data:/data --label=service=shop --label=role=job "
		     "--label=destination= --label=version=v2 --memory=512m --init shop:v2 "
		     "bin/jobs --queue a b");
	free(j);
	strvec_clear(&argv);
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80");
	j = strvec_join(&argv, " ");
	CHECK(strstr(j,
		     "docker exec berth-proxy berth-proxy deploy shop-web --target=shop-web-v2:80 "
		     "--health-check-path=/up") == j);
	free(j);
	strvec_clear(&argv);
	app_filter_argv(&argv, &cfg, "web");
	j = strvec_join(&argv, " ");
	CHECK_STR(
	    j, "--filter label=service=shop --filter label=role=web --filter label=destination=");
	free(j);
	strvec_clear(&argv);
	config_release(&cfg);
}

int main(void)
{
	UNIT_RUN(test_split_words);
	UNIT_RUN(test_names);
	UNIT_RUN(test_env_file);
	UNIT_RUN(test_run_argv);
	return unit_done();
}
