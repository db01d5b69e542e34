#include "engine/deploy.h"

#include <string.h>

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

/* "host/role/batch[/opens][/waits]" of every pair, joined by spaces */
static void plan_text(struct sbuf *out, const struct deploy_plan *p)
{
	size_t i;

	sbuf_reset(out);
	for (i = 0; i < p->npairs; i++) {
		sbuf_addf(out, "%s%s/%s/%zu%s%s", i ? " " : "", p->pairs[i].host,
			  p->pairs[i].role->name, p->pairs[i].batch,
			  p->pairs[i].opens ? "/opens" : "", p->pairs[i].waits ? "/waits" : "");
	}
}

#define BASE                                                                                       \
	"service: s\nimage: s\nbuilder: {arch: amd64}\nservers:\n  web: [h1, h2, h3]\n  "          \
	"worker:\n    hosts: [h2]\n"                                                               \
	"    cmd: run\n"

/* plan of config text with the filters; checks pairs, hosts, batches and the lock host */
static void check_plan(const char *text, const char *roles, const char *hosts, const char *pairs,
		       const char *order, size_t nbatches, const char *lock)
{
	struct config cfg;
	struct deploy_opts o = {0};
	struct deploy_plan p;
	struct strvec rf = STRVEC_INIT, hf = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	char *joined;

	CHECK_INT(load_text(&cfg, text, &e), 0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	if (roles) {
		strvec_push(&rf, roles);
		o.roles = &rf;
	}
	if (hosts) {
		strvec_push(&hf, hosts);
		o.hosts = &hf;
	}
	deploy_plan_make(&cfg, &o, &p);
	plan_text(&sb, &p);
	CHECK_STR(sb.buf, pairs);
	joined = strvec_join(&p.hosts, " ");
	CHECK_STR(joined, order);
	free(joined);
	CHECK_INT(p.nbatches, nbatches);
	CHECK_STR(p.lock_host ? p.lock_host : "(none)", lock);
	deploy_plan_release(&p);
	config_release(&cfg);
	strvec_clear(&rf);
	strvec_clear(&hf);
	sbuf_release(&sb);
	err_release(&e);
}

static void test_plan_all_at_once(void)
{
	check_plan(BASE, NULL, NULL, "h1/web/0/opens h2/web/0 h3/web/0 h2/worker/0/waits",
		   "h1 h2 h3", 1, "h1");
}

static void test_plan_batches(void)
{
	check_plan(BASE "boot:\n  limit: 1\n", NULL, NULL,
		   "h1/web/0/opens h2/web/1 h3/web/2 h2/worker/1/waits", "h1 h2 h3", 3, "h1");
	/* a percentage rounds up: half of three hosts is two */
	check_plan(BASE "boot:\n  limit: 50%\n", NULL, NULL,
		   "h1/web/0/opens h2/web/0 h3/web/1 h2/worker/0/waits", "h1 h2 h3", 2, "h1");
	/* and is at least one host */
	check_plan(BASE "boot:\n  limit: 1%\n", NULL, NULL,
		   "h1/web/0/opens h2/web/1 h3/web/2 h2/worker/1/waits", "h1 h2 h3", 3, "h1");
	check_plan(BASE "boot:\n  limit: 10\n", NULL, NULL,
		   "h1/web/0/opens h2/web/0 h3/web/0 h2/worker/0/waits", "h1 h2 h3", 1, "h1");
}

static void test_plan_filters(void)
{
	/* the worker alone: nobody to wait for; the lock stays on the primary's host */
	check_plan(BASE, "worker", NULL, "h2/worker/0", "h2", 1, "h1");
	/* one host: its roles, the web first, the worker waiting for it */
	check_plan(BASE, NULL, "h2", "h2/web/0/opens h2/worker/0/waits", "h2", 1, "h1");
	check_plan(BASE, NULL, "h3", "h3/web/0/opens", "h3", 1, "h1");
	/* nothing left */
	check_plan(BASE, NULL, "h9", "", "", 0, "h1");
}

static void test_plan_primary_role(void)
{
	/* the primary role's first pair first, and its host first in the batches */
	check_plan(BASE "primary_role: worker\nboot:\n  limit: 1\n", NULL, NULL,
		   "h2/worker/0/opens h1/web/1/waits h2/web/0/waits h3/web/2/waits", "h2 h1 h3", 3,
		   "h2");
}

int main(void)
{
	UNIT_RUN(test_plan_all_at_once);
	UNIT_RUN(test_plan_batches);
	UNIT_RUN(test_plan_filters);
	UNIT_RUN(test_plan_primary_role);
	return unit_done();
}
