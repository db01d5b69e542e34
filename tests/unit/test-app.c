#include "engine/app.h"

#include <string.h>

#include "lib/xalloc.h"
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

	CHECK_INT(
	    load_text(&cfg,
		      "service: shop\nimage: acme/shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
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
			    "service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
			    "env:\n  clear:\n    MODE: prod\n  secret: [DB_PASSWORD, "
			    "KEY:OTHER]\n",
			    NULL, &e),
		  0);
	secrets_init(&sec);
	strvec_push(&sec.names, "DB_PASSWORD");
	strvec_push(&sec.values, "line1\nline2");
	strvec_push(&sec.files, "f");
	CHECK_INT(app_env_file(&sb, &cfg, &cfg.roles[0], "a1", &sec, &e), -1);
	CHECK_STR(err_str(&e), "env.secret: secret 'OTHER' is not set in the secrets files");
	err_release(&e);
	strvec_push(&sec.names, "OTHER");
	strvec_push(&sec.values, "s3cr3t");
	strvec_push(&sec.files, "f");
	sbuf_reset(&sb);
	CHECK_INT(app_env_file(&sb, &cfg, &cfg.roles[0], "a1", &sec, &e), 0);
	CHECK_STR(sb.buf, "MODE=prod\nDB_PASSWORD=line1\\nline2\nKEY=s3cr3t\n");
	sbuf_release(&sb);
	secrets_release(&sec);
	config_release(&cfg);
}

/* env.tags: a tagged host gets its tags' env over the role's, in the order of its tags */
static void test_env_file_tags(void)
{
	struct config cfg;
	struct secrets sec;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers:\n  web:\n    - a1\n"
			    "    - a2: monitor\n    - a3: [monitor, ro]\n"
			    "env:\n  clear:\n    MODE: prod\n    USER: app\n  secret: [PW]\n"
			    "  tags:\n    monitor:\n      USER: monitoring\n"
			    "    ro:\n      clear:\n        USER: readonly\n      secret: "
			    "[PW:RO_PW]\nbuilder: {arch: amd64}\n",
			    NULL, &e),
		  0);
	secrets_init(&sec);
	secrets_set(&sec, "PW", "main", "f");
	secrets_set(&sec, "RO_PW", "ro", "f");
	CHECK_INT(app_env_file(&sb, &cfg, &cfg.roles[0], "a1", &sec, &e), 0);
	CHECK_STR(sb.buf, "MODE=prod\nUSER=app\nPW=main\n");
	sbuf_reset(&sb);
	CHECK_INT(app_env_file(&sb, &cfg, &cfg.roles[0], "a2", &sec, &e), 0);
	CHECK_STR(sb.buf, "MODE=prod\nPW=main\nUSER=monitoring\n");
	sbuf_reset(&sb);
	CHECK_INT(app_env_file(&sb, &cfg, &cfg.roles[0], "a3", &sec, &e), 0);
	CHECK_STR(sb.buf, "MODE=prod\nUSER=readonly\nPW=ro\n");
	sbuf_release(&sb);
	secrets_release(&sec);
	config_release(&cfg);
	err_release(&e);
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
			    "volumes: [\"/data:/data\"]\nbuilder: {arch: amd64}\n",
			    NULL, &e),
		  0);
	CHECK_INT(app_run_argv(&argv, &cfg, config_role(&cfg, "job"), &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker run --detach --restart unless-stopped --name shop-job-v2 --network "
		     "berth --env=BERTH_VERSION=v2 --env=BERTH_HOST=h1 --env=KAMAL_VERSION=v2 "
		     "--env=KAMAL_HOST=h1 --env=KAMAL_CONTAINER_NAME=shop-job-v2 "
		     "--env=KAMAL_SERVICE=shop "
		     "--env-file=/root/.berth/apps/shop/env/web.env --log-opt=max-size=10m "
		     "--volume=/data:/data --label=service=shop --label=role=job "
		     "--label=destination= --label=version=v2 --memory=512m --init shop:v2 "
		     "bin/jobs --queue a b");
	free(j);
	strvec_clear(&argv);
	/* with a destination, and a one-off's own name */
	cfg.destination = xstrdup("staging");
	r.name = "shop-job-exec-v2-1";
	r.detach = false;
	CHECK_INT(app_run_argv(&argv, &cfg, config_role(&cfg, "job"), &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, " --env=KAMAL_CONTAINER_NAME=shop-job-exec-v2-1 "
			"--env=KAMAL_DESTINATION=staging --env=KAMAL_SERVICE=shop ") != NULL);
	free(j);
	strvec_clear(&argv);
	free(cfg.destination);
	cfg.destination = NULL;
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80", NULL);
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

/* asset_path: per role, only behind the proxy; its paths on the host and its mount */
static void test_assets(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT, opts = SBUF_INIT;
	struct app_run r = {
	    .version = "v2", .env_file = "/dev/stdin", .host = "h1", .detach = true};
	const struct config_role *web, *admin, *api, *job;
	char *j;

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nasset_path: /app/public/assets\n"
			    "proxy: {host: shop.test}\nservers:\n  web: [a1]\n"
			    "  admin:\n    hosts: [a2]\n    proxy: {host: admin.test}\n"
			    "    asset_path: /admin/packs:ro,z\n"
			    "  api:\n    hosts: [a3]\n    proxy: {host: api.test}\n"
			    "    asset_path: \"\"\n"
			    "  job:\n    hosts: [a4]\n    cmd: bin/jobs\n"
			    "volumes: [\"/data:/data\"]\nbuilder: {arch: amd64}\n",
			    NULL, &e),
		  0);
	web = config_role(&cfg, "web");
	admin = config_role(&cfg, "admin");
	api = config_role(&cfg, "api");
	job = config_role(&cfg, "job");
	/* the root's, the role's own, turned off, and a role without the proxy */
	CHECK(app_assets(web));
	CHECK(app_assets(admin));
	CHECK(!app_assets(api));
	CHECK(!app_assets(job));
	app_asset_path(web, &sb, &opts);
	CHECK_STR(sb.buf, "/app/public/assets");
	CHECK_INT(opts.len, 0);
	sbuf_reset(&sb);
	app_asset_path(admin, &sb, &opts);
	CHECK_STR(sb.buf, "/admin/packs");
	CHECK_STR(opts.buf, "ro,z");
	sbuf_reset(&sb);
	/* beside the env files, per role; absolute with an absolute run_directory */
	app_assets_dir(&sb, &cfg, "web");
	CHECK_STR(sb.buf, ".berth/apps/shop/assets/web");
	sbuf_reset(&sb);
	cfg.destination = xstrdup("staging");
	free(cfg.run_directory);
	cfg.run_directory = xstrdup("/var/lib/berth/");
	app_assets_dir(&sb, &cfg, "admin");
	CHECK_STR(sb.buf, "/var/lib/berth/apps/shop-staging/assets/admin");
	sbuf_reset(&sb);
	app_env_path(&sb, &cfg, "admin");
	CHECK_STR(sb.buf, "/var/lib/berth/apps/shop-staging/env/admin.env");
	sbuf_reset(&sb);
	/* the copying container: no version gives that name */
	app_assets_container(&sb, &cfg, "web");
	CHECK_STR(sb.buf, "shop-web-staging_assets");
	sbuf_reset(&sb);
	free(cfg.destination);
	cfg.destination = NULL;

	/* the volume is mounted after the config's, with the role's options */
	r.assets_dir = "/root/.berth/apps/shop/assets/web/volumes/v2";
	CHECK_INT(app_run_argv(&argv, &cfg, web, &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, " --volume=/data:/data "
			"--volume=/root/.berth/apps/shop/assets/web/volumes/v2:/app/public/assets "
			"--label=service=shop ") != NULL);
	free(j);
	strvec_clear(&argv);
	r.assets_dir = "/root/.berth/apps/shop/assets/admin/volumes/v2";
	CHECK_INT(app_run_argv(&argv, &cfg, admin, &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j,
		     " --volume=/root/.berth/apps/shop/assets/admin/volumes/v2:/admin/packs:ro,z "
		     "--label=service=shop ") != NULL);
	free(j);
	strvec_clear(&argv);
	/* no volume without one, nor for a role that has no assets */
	r.assets_dir = NULL;
	CHECK_INT(app_run_argv(&argv, &cfg, web, &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "/app/public/assets") == NULL);
	free(j);
	strvec_clear(&argv);
	r.assets_dir = "/x/volumes/v2";
	CHECK_INT(app_run_argv(&argv, &cfg, job, &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "/x/volumes/v2") == NULL);
	free(j);
	strvec_clear(&argv);
	sbuf_release(&sb);
	sbuf_release(&opts);
	config_release(&cfg);
	err_release(&e);
}

static void test_proxy_tls(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT;
	struct secrets sec;
	struct sbuf sb = SBUF_INIT;
	char *j;

	/* without ssl, X-Forwarded-* are trusted (Kamal's default) and no TLS flag goes out */
	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n",
			    NULL, &e),
		  0);
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80", NULL);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, " --forward-headers=true") != NULL);
	CHECK(strstr(j, "--tls") == NULL);
	CHECK(!app_proxy_tls_pem_needed(config_role(&cfg, "web")));
	free(j);
	strvec_clear(&argv);
	config_release(&cfg);

	/* ssl: true asks for a certificate; forward_headers stays off unless set */
	CHECK_INT(
	    load_text(&cfg,
		      "service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
		      "proxy:\n  host: shop.example.com\n  ssl: true\n  ssl_redirect: false\n",
		      NULL, &e),
	    0);
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80", NULL);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "docker exec berth-proxy berth-proxy deploy shop-web ") == j);
	CHECK(strstr(j, " --tls --tls-redirect=false ") != NULL);
	CHECK(strstr(j, " --forward-headers=false") != NULL);
	CHECK(strstr(j, "--tls-certificate-stdin") == NULL);
	free(j);
	strvec_clear(&argv);
	config_release(&cfg);

	/* a certificate from secrets travels on stdin, never in the argv */
	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
			    "proxy:\n  host: shop.example.com\n  forward_headers: true\n"
			    "  ssl:\n    certificate_pem: CERT_PEM\n    private_key_pem: KEY_PEM\n",
			    NULL, &e),
		  0);
	CHECK(app_proxy_tls_pem_needed(config_role(&cfg, "web")));
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80", NULL);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "docker exec -i berth-proxy berth-proxy deploy shop-web ") == j);
	CHECK(strstr(j, " --tls --tls-certificate-stdin ") != NULL);
	CHECK(strstr(j, " --forward-headers=true") != NULL);
	CHECK(strstr(j, "BEGIN") == NULL);
	free(j);
	strvec_clear(&argv);
	secrets_init(&sec);
	secrets_set(&sec, "CERT_PEM", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----",
		    "f");
	CHECK_INT(app_proxy_tls_pem(&sb, config_role(&cfg, "web"), &sec, &e), -1);
	CHECK_STR(err_str(&e),
		  "proxy.ssl.private_key_pem: the secret 'KEY_PEM' is not set in any secrets file");
	err_release(&e);
	secrets_set(&sec, "KEY_PEM", "-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n",
		    "f");
	sbuf_reset(&sb);
	CHECK_INT(app_proxy_tls_pem(&sb, config_role(&cfg, "web"), &sec, &e), 0);
	CHECK_STR(sb.buf, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
			  "-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n");
	sbuf_release(&sb);
	secrets_release(&sec);
	/* an issuer is ignored for a certificate from secrets: every host has it */
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80",
			      "10.0.0.1:80");
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "--tls-issuer") == NULL);
	CHECK(!app_proxy_tls_shared(config_role(&cfg, "web")));
	free(j);
	strvec_clear(&argv);
	config_release(&cfg);
}

static void test_proxy_tls_hosts(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;
	char *j;

	/* one host: it orders its own certificate, as before */
	CHECK_INT(
	    load_text(&cfg,
		      "service: shop\nimage: shop\nservers: [10.0.0.1]\nbuilder: {arch: amd64}\n"
		      "proxy:\n  host: shop.example.com\n  ssl: true\n",
		      NULL, &e),
	    0);
	CHECK(!app_proxy_tls_shared(config_role(&cfg, "web")));
	config_release(&cfg);

	/* two hosts: the first issues, the other follows it on the proxy's plain port */
	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers: [10.0.0.1, 10.0.0.2]\nbuilder: "
			    "{arch: amd64}\n"
			    "proxy:\n  host: shop.example.com\n  ssl: true\n"
			    "  run:\n    http_port: 8080\n",
			    NULL, &e),
		  0);
	CHECK(app_proxy_tls_shared(config_role(&cfg, "web")));
	app_proxy_tls_issuer(&sb, &cfg, config_role(&cfg, "web"));
	CHECK_STR(sb.buf, "10.0.0.1:8080");
	/* the issuer's own deploy: no issuer, no stdin */
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80", NULL);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "docker exec berth-proxy berth-proxy deploy shop-web ") == j);
	CHECK(strstr(j, " --tls ") != NULL);
	CHECK(strstr(j, "--tls-issuer") == NULL);
	CHECK(strstr(j, "--tls-secret-stdin") == NULL);
	free(j);
	strvec_clear(&argv);
	/* a follower: the issuer's address in the argv, the secret on stdin */
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, "web"), "shop-web-v2:80", sb.buf);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "docker exec -i berth-proxy berth-proxy deploy shop-web ") == j);
	CHECK(strstr(j, " --tls --tls-issuer=http://10.0.0.1:8080 --tls-secret-stdin ") != NULL);
	free(j);
	strvec_clear(&argv);
	app_proxy_tls_secret_argv(&argv, &cfg, config_role(&cfg, "web"));
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker exec berth-proxy berth-proxy tls-secret shop-web");
	free(j);
	strvec_clear(&argv);
	sbuf_release(&sb);
	config_release(&cfg);
	err_release(&e);
}

/* The argv after "deploy shop-web --target=shop-web-v2:80": the options Kamal would pass. */
static char *deploy_opts(const char *yml, const char *role)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT;
	char *j = NULL;

	if (load_text(&cfg, yml, NULL, &e) < 0) {
		printf("# %s\n", err_str(&e));
		err_release(&e);
		return xstrdup("(config error)");
	}
	app_proxy_deploy_argv(&argv, &cfg, config_role(&cfg, role), "shop-web-v2:80", NULL);
	j = strvec_join(&argv, " ");
	strvec_clear(&argv);
	config_release(&cfg);
	return j;
}

/* proxy.path_prefix(es), buffering and logging reach berth-proxy as Kamal passes them. */
static void test_proxy_deploy_keys(void)
{
	char *j;

	/* the defaults: requests and responses buffered, Kamal's three request headers logged */
	j = deploy_opts("service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n",
			"web");
	CHECK(strstr(j, " --path-prefix") == NULL);
	CHECK(strstr(j, " --forward-headers=true --buffer-requests --buffer-responses "
			"--log-request-header=Cache-Control --log-request-header=Last-Modified "
			"--log-request-header=User-Agent") != NULL);
	CHECK(strstr(j, "--buffer-memory") == NULL);
	CHECK(strstr(j, "--max-request-body") == NULL);
	CHECK(strstr(j, "--max-response-body") == NULL);
	CHECK(strstr(j, "--log-response-header") == NULL);
	free(j);

	/* every prefix, in order; a comma-separated path_prefix is several */
	j = deploy_opts("service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
			"proxy:\n  path_prefix: /api,/oauth_callback\n  strip_path_prefix: false\n",
			"web");
	CHECK(strstr(j, " --path-prefix=/api --path-prefix=/oauth_callback "
			"--strip-path-prefix=false ") != NULL);
	free(j);
	j = deploy_opts("service: shop\nimage: shop\nservers:\n  web:\n    hosts: [a1]\n"
			"    proxy:\n      path_prefixes: [/v1, /v2]\n"
			"builder: {arch: amd64}\nproxy:\n  path_prefix: /api\n",
			"web");
	CHECK(strstr(j, " --path-prefix=/v1 --path-prefix=/v2 --health-check-path=/up") != NULL);
	free(j);

	/* buffering as set, limits of 0 included (Kamal passes them); headers as set */
	j = deploy_opts("service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
			"proxy:\n  buffering:\n    memory: 2_000_000\n    max_request_body: 0\n"
			"    max_response_body: 5000\n"
			"  logging:\n    request_headers: [X-Trace]\n"
			"    response_headers: [X-Request-ID, X-Runtime]\n",
			"web");
	CHECK(strstr(j, " --buffer-requests --buffer-responses --buffer-memory=2000000 "
			"--max-request-body=0 --max-response-body=5000 "
			"--log-request-header=X-Trace --log-response-header=X-Request-ID "
			"--log-response-header=X-Runtime") != NULL);
	CHECK(strstr(j, "Cache-Control") == NULL);
	free(j);

	/* buffering off: said so; a limit without its buffering is left out, as kamal-proxy
	 * ignores it; no request header logged when the list is empty */
	j = deploy_opts("service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n"
			"proxy:\n  buffering:\n    requests: false\n    responses: false\n"
			"    max_request_body: 10\n    max_response_body: 20\n"
			"  logging:\n    request_headers: []\n",
			"web");
	CHECK(strstr(j, " --buffer-requests=false --buffer-responses=false") != NULL);
	CHECK(strstr(j, "--max-") == NULL);
	CHECK(strstr(j, "--log-request-header") == NULL);
	free(j);
}

/* instances: from the second, their own name and label; one switch to every target */
static void test_instances(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT, targets = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;
	struct app_run r = {.version = "v2", .env_file = "/e/web.env", .detach = true};
	char *j;

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers:\n  web:\n    hosts: [a1]\n"
			    "    instances: 3\nbuilder: {arch: amd64}\n",
			    NULL, &e),
		  0);
	CHECK_INT(config_role(&cfg, "web")->instances, 3);
	app_instance_name(&sb, &cfg, "web", "v2", 1);
	CHECK_STR(sb.buf, "shop-web-v2");
	sbuf_reset(&sb);
	app_instance_name(&sb, &cfg, "web", "v2", 0);
	CHECK_STR(sb.buf, "shop-web-v2");
	sbuf_reset(&sb);
	app_instance_name(&sb, &cfg, "web", "v2", 3);
	CHECK_STR(sb.buf, "shop-web.3-v2");
	sbuf_reset(&sb);
	cfg.destination = xstrdup("staging");
	app_instance_name(&sb, &cfg, "web", "v2", 2);
	CHECK_STR(sb.buf, "shop-web.2-staging-v2");
	free(cfg.destination);
	cfg.destination = NULL;

	{
		unsigned k = 0;
		const struct config_role *web = config_role(&cfg, "web");

		CHECK_STR(app_instance_version(&cfg, web, "shop-web-v2", &k), "v2");
		CHECK_INT(k, 1);
		CHECK_STR(app_instance_version(&cfg, web, "shop-web.3-v1.2-x", &k), "v1.2-x");
		CHECK_INT(k, 3);
		CHECK(app_instance_version(&cfg, web, "shop-web.4-v2", &k) == NULL);
		CHECK(app_instance_version(&cfg, web, "shop-web-", &k) == NULL);
		CHECK(app_instance_version(&cfg, web, "shop-job-v2", &k) == NULL);
		CHECK(app_instance_version(&cfg, web, "shop-web_replaced_1", &k) == NULL);
	}
	/* the first instance's argv is the one of a role without instances */
	CHECK_INT(app_run_argv(&argv, &cfg, config_role(&cfg, "web"), &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "--name shop-web-v2 ") != NULL);
	CHECK(strstr(j, "instance=") == NULL);
	free(j);
	strvec_clear(&argv);
	r.instance = 2;
	CHECK_INT(app_run_argv(&argv, &cfg, config_role(&cfg, "web"), &r, &e), 0);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "--name shop-web.2-v2 ") != NULL);
	CHECK(strstr(j, "--env=KAMAL_CONTAINER_NAME=shop-web.2-v2 ") != NULL);
	CHECK(strstr(j, "--label=role=web --label=destination= --label=version=v2 "
			"--label=instance=2 ") != NULL);
	free(j);
	strvec_clear(&argv);

	strvec_pushv(&targets, (const char *[]){"shop-web-v2:80", "shop-web.2-v2:80",
						"shop-web.3-v2:80", NULL});
	app_proxy_deploy_argv_targets(&argv, &cfg, config_role(&cfg, "web"), &targets, NULL);
	j = strvec_join(&argv, " ");
	CHECK(strstr(j, "docker exec berth-proxy berth-proxy deploy shop-web "
			"--target=shop-web-v2:80 --target=shop-web.2-v2:80 "
			"--target=shop-web.3-v2:80 --health-check-path=/up") == j);
	free(j);
	strvec_clear(&argv);
	/* one target: app_proxy_deploy_argv's argv */
	strvec_clear(&targets);
	strvec_push(&targets, "shop-web-v2:80");
	app_proxy_deploy_argv_targets(&argv, &cfg, config_role(&cfg, "web"), &targets, NULL);
	j = strvec_join(&argv, " ");
	{
		struct strvec one = STRVEC_INIT;
		char *k;

		app_proxy_deploy_argv(&one, &cfg, config_role(&cfg, "web"), "shop-web-v2:80", NULL);
		k = strvec_join(&one, " ");
		CHECK_STR(j, k);
		free(k);
		strvec_clear(&one);
	}
	free(j);
	strvec_clear(&argv);
	strvec_clear(&targets);
	sbuf_release(&sb);
	config_release(&cfg);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_split_words);
	UNIT_RUN(test_names);
	UNIT_RUN(test_env_file);
	UNIT_RUN(test_env_file_tags);
	UNIT_RUN(test_run_argv);
	UNIT_RUN(test_assets);
	UNIT_RUN(test_proxy_tls);
	UNIT_RUN(test_proxy_tls_hosts);
	UNIT_RUN(test_proxy_deploy_keys);
	UNIT_RUN(test_instances);
	return unit_done();
}
