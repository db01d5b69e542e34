#include "engine/appctl.h"

#include <stdlib.h>
#include <string.h>

#include "engine/scripts.h"
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

static const char yml[] =
    "service: shop\nimage: acme/shop\n"
    "servers:\n  web: [a1, a2]\n  jobs:\n    hosts: [a2, b1]\n"
    "registry:\n  server: reg:5000\n  username: u\n  password: p\nbuilder: {arch: amd64}\n";

static void check_argv(struct strvec *v, const char *want)
{
	char *j = strvec_join(v, "|");

	CHECK_STR(j, want);
	free(j);
	strvec_clear(v);
}

static void test_jobs(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct appctl_jobs jobs;
	struct strvec roles = STRVEC_INIT, hosts = STRVEC_INIT;

	CHECK_INT(load_text(&cfg, yml, NULL, &e), 0);
	CHECK_INT(appctl_jobs_init(&jobs, &cfg, NULL, NULL, true), 4);
	CHECK_STR(jobs.v[0].host, "a1");
	CHECK_STR(jobs.v[0].role->name, "web");
	CHECK_STR(jobs.v[0].prefix, "a1 web  | ");
	CHECK_STR(jobs.v[3].prefix, "b1 jobs | ");
	appctl_jobs_release(&jobs);
	/* per host: a2 once */
	CHECK_INT(appctl_jobs_init(&jobs, &cfg, NULL, NULL, false), 3);
	CHECK(jobs.v[1].role == NULL);
	CHECK_STR(jobs.v[1].prefix, "a2 | ");
	appctl_jobs_release(&jobs);
	strvec_push(&roles, "jobs");
	strvec_push(&hosts, "a*");
	CHECK_INT(appctl_jobs_init(&jobs, &cfg, &roles, &hosts, false), 1);
	CHECK_STR(jobs.v[0].host, "a2");
	CHECK_STR(jobs.v[0].role->name, "jobs");
	/* jobs added by hand (an accessory's): the label stands where the role would */
	appctl_jobs_add(&jobs, "host-1", NULL, "db");
	appctl_jobs_add(&jobs, "h2", NULL, NULL);
	appctl_jobs_prefix(&jobs);
	CHECK_STR(jobs.v[0].prefix, "a2 jobs   | ");
	CHECK_STR(jobs.v[1].prefix, "host-1 db | ");
	CHECK_STR(jobs.v[2].prefix, "h2        | ");
	appctl_jobs_release(&jobs);
	strvec_clear(&roles);
	strvec_clear(&hosts);
	config_release(&cfg);
}

static void test_argv(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec v = STRVEC_INIT;
	struct appctl_logs o = {.lines = 10, .timestamps = true};

	CHECK_INT(load_text(&cfg, yml, "prod", &e), 0);
	appctl_ps_argv(&v, &cfg, "web", true, NULL);
	check_argv(&v, "docker|ps|--all|--filter|label=service=shop|--filter|label=role=web|"
		       "--filter|label=destination=prod");
	appctl_newest_argv(&v, &cfg, NULL, true, "{{.Names}}");
	check_argv(&v, "docker|ps|--latest|--filter|status=running|--filter|label=service=shop|"
		       "--filter|label=destination=prod|--format|{{.Names}}");
	appctl_images_argv(&v, &cfg);
	check_argv(&v, "docker|image|ls|reg:5000/acme/shop");
	appctl_logs_argv(&v, "c1", &o);
	check_argv(&v, "docker|logs|--timestamps|--tail=10|--|c1");
	o.grep = "$(rm -rf /); 'x";
	o.lines = -1;
	o.since = "10m";
	o.follow = true;
	o.timestamps = false;
	appctl_logs_argv(&v, "c1", &o);
	CHECK_STR(v.v[0], "sh");
	CHECK(strstr(v.v[2], "rm -rf") == NULL);
	CHECK_STR(v.v[3], "sh");
	CHECK_STR(v.v[4], "$(rm -rf /); 'x");
	CHECK_STR(v.v[5], "--since=10m");
	CHECK_STR(v.v[6], "--follow");
	CHECK_STR(v.v[8], "c1");
	strvec_clear(&v);
	appctl_proxy_argv(&v, &cfg, "web", "stop", "back soon");
	check_argv(&v,
		   "docker|exec|berth-proxy|berth-proxy|stop|shop-web-prod|--message=back soon");
	appctl_proxy_argv(&v, &cfg, "web", "resume", NULL);
	check_argv(&v, "docker|exec|berth-proxy|berth-proxy|resume|shop-web-prod");
	appctl_prune_containers_argv(&v, &cfg, "jobs", 5);
	CHECK_STR(v.v[4], "5");
	CHECK_STR(v.v[6], "label=service=shop");
	CHECK_STR(v.v[8], "label=role=jobs");
	strvec_clear(&v);
	/* the assets script, its arguments after it: the role's directory, versions of any
	 * container kept, an hour's grace, then the role's filters */
	appctl_prune_assets_argv(&v, &cfg, "jobs");
	CHECK_STR(v.v[0], "sh");
	CHECK_STR(v.v[2], script_deploy_assets);
	CHECK_STR(v.v[4], "clean");
	CHECK_STR(v.v[5], ".berth/apps/shop-prod/assets/jobs");
	CHECK_STR(v.v[6], "all");
	CHECK_STR(v.v[7], "60");
	CHECK_STR(v.v[8], "");
	CHECK_STR(v.v[10], "label=service=shop");
	CHECK_STR(v.v[12], "label=role=jobs");
	CHECK_STR(v.v[14], "label=destination=prod");
	CHECK_INT(v.nr, 15);
	strvec_clear(&v);
	appctl_prune_tagged_argv(&v, &cfg, 3);
	CHECK_STR(v.v[4], "reg:5000/acme/shop");
	CHECK_STR(v.v[5], "3");
	strvec_clear(&v);
	appctl_prune_dangling_argv(&v, &cfg);
	check_argv(&v, "docker|image|prune|--force|--filter|label=service=shop");
	appctl_stale_argv(&v, &cfg, "web", true);
	CHECK_STR(v.v[4], "1");
	strvec_clear(&v);
	appctl_remove_images_argv(&v, &cfg);
	CHECK_STR(v.v[4], "reg:5000/acme/shop");
	strvec_clear(&v);
	config_release(&cfg);
	CHECK(appctl_name_ok("shop-web-v1.2_x"));
	CHECK(!appctl_name_ok("-x"));
	CHECK(!appctl_name_ok("a b"));
	CHECK(!appctl_name_ok(""));
	CHECK(!appctl_name_ok("a;b"));
}

int main(void)
{
	UNIT_RUN(test_jobs);
	UNIT_RUN(test_argv);
	return unit_done();
}
