#include "engine/build.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/run.h"
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

static void test_version_string(void)
{
	struct sbuf sb = SBUF_INIT;

	build_version_string(&sb, "0123456789abcdef0123456789abcdef01234567\n", false, NULL, 0);
	CHECK_STR(sb.buf, "0123456789abcdef0123456789abcdef01234567");
	sbuf_reset(&sb);
	/* sha256("") = e3b0c44298fc1c14... */
	build_version_string(&sb, "abc123", true, "", 0);
	CHECK_STR(sb.buf, "abc123_uncommitted_e3b0c44298fc");
	sbuf_reset(&sb);
	/* sha256("abc") = ba7816bf8f01cfea... */
	build_version_string(&sb, " abc123 ", true, "abc", 3);
	CHECK_STR(sb.buf, "abc123_uncommitted_ba7816bf8f01");
	sbuf_release(&sb);
}

static void test_argv(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT;
	char *j;

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: acme/shop\nservers: [a1]\n"
			    "registry:\n  server: reg.example:5000\n  username: u\n"
			    "  password: [PW]\n"
			    "builder:\n  arch: amd64\n  dockerfile: Dockerfile.prod\n"
			    "  context: app\n  target: release\n"
			    "  args:\n    RUBY: '3.3'\n  secrets: [GITHUB_TOKEN]\n",
			    NULL, &e),
		  0);
	build_argv(&argv, &cfg, "v1");
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker build -t reg.example:5000/acme/shop:v1 --label service=shop "
		     "--platform linux/amd64 --file Dockerfile.prod --build-arg RUBY=3.3 "
		     "--target release --secret id=GITHUB_TOKEN,env=GITHUB_TOKEN app");
	free(j);
	strvec_clear(&argv);
	config_release(&cfg);

	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers: [a1]\nbuilder: {arch: amd64}\n",
			    "prod", &e),
		  0);
	build_argv(&argv, &cfg, "abc");
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker build -t shop:abc --label service=shop --platform linux/amd64 .");
	free(j);
	strvec_clear(&argv);
	/* deploy --no-cache */
	cfg.builder.no_cache = true;
	build_argv(&argv, &cfg, "abc");
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker build -t shop:abc --label service=shop --platform linux/amd64 "
		     "--no-cache .");
	free(j);
	strvec_clear(&argv);
	config_release(&cfg);

	/* a blank or missing value goes as the name alone, as Kamal's --build-arg FOO: docker
	 * takes it from the environment, else the Dockerfile's default */
	CHECK_INT(
	    load_text(&cfg,
		      "service: shop\nimage: shop\nservers: [a1]\n"
		      "builder:\n  arch: [amd64, arm64]\n"
		      "  args:\n    EMPTY: \"\"\n    NONE:\n    BLANK: \"  \"\n    DEBUG: false\n"
		      "    JOBS: 0\n",
		      NULL, &e),
	    0);
	build_argv(&argv, &cfg, "abc");
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker build -t shop:abc --label service=shop --platform "
		     "linux/amd64,linux/arm64 --build-arg EMPTY --build-arg NONE --build-arg BLANK "
		     "--build-arg DEBUG=false --build-arg JOBS=0 .");
	free(j);
	strvec_clear(&argv);
	config_release(&cfg);
	err_release(&e);
}

static int sh(const char *dir, const char *script)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, (const char *[]){"sh", "-c", script, NULL});
	c.dir = dir;
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	r = run_one(&c);
	if (r < 0) {
		printf("# %s: %s%s\n", script, c.outbuf.buf, c.errbuf.buf);
	}
	run_cmd_release(&c);
	return r;
}

/* build_version on a real git repository: clean, dirty, and the same changes again. */
static void test_version_git(void)
{
	char dir[] = "/tmp/berth-test-build-XXXXXX";
	struct sbuf v = SBUF_INIT, v2 = SBUF_INIT, cmd = SBUF_INIT;
	struct err e = ERR_INIT;

	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	CHECK_INT(build_version(&v, dir, &e), -1);
	CHECK(strstr(err_str(&e), "--version") != NULL);
	err_release(&e);
	if (sh(dir, "git init -q . && echo a >f && git add f && "
		    "git -c user.name=t -c user.email=t@t commit -qm one") < 0) {
		CHECK(0);
		goto out;
	}
	sbuf_reset(&v);
	CHECK_INT(build_version(&v, dir, &e), 0);
	CHECK_INT(v.len, 40);
	CHECK(strchr(v.buf, '_') == NULL);
	CHECK_INT(sh(dir, "echo b >f"), 0);
	CHECK_INT(build_version(&v2, dir, &e), 0);
	CHECK_INT(v2.len, 40 + strlen("_uncommitted_") + 12);
	CHECK(!strncmp(v2.buf, v.buf, 40));
	CHECK(strstr(v2.buf, "_uncommitted_") != NULL);
	sbuf_reset(&v);
	CHECK_INT(build_version(&v, dir, &e), 0);
	CHECK_STR(v.buf, v2.buf);
	CHECK_INT(sh(dir, "echo c >f"), 0);
	sbuf_reset(&v);
	CHECK_INT(build_version(&v, dir, &e), 0);
	CHECK(strcmp(v.buf, v2.buf) != 0);
out:
	sbuf_addf(&cmd, "rm -rf '%s'", dir);
	sh("/", cmd.buf);
	sbuf_release(&cmd);
	sbuf_release(&v);
	sbuf_release(&v2);
	err_release(&e);
}

/* plan for text (a config), on an amd64 machine; the joined argv of the build, or the error */
static void plan_of(const char *builder, const char *extra, struct build_plan *p, struct err *e,
		    int want)
{
	struct config cfg;
	struct sbuf text = SBUF_INIT;

	sbuf_addf(&text, "service: shop\nimage: acme/shop\nservers: [a1]\n%s%s", extra ? extra : "",
		  builder);
	if (load_text(&cfg, text.buf, NULL, e) < 0) {
		printf("# config: %s\n", err_str(e));
		CHECK(0);
		goto out;
	}
	CHECK_INT(build_plan_make(p, &cfg, "amd64", e), want);
out:
	config_release(&cfg);
	sbuf_release(&text);
}

static const char reg[] = "registry:\n  server: reg.example\n  username: u\n  password: p\n";

static void test_plan(void)
{
	struct build_plan p;
	struct err e = ERR_INIT;

	build_plan_init(&p);
	/* nothing asks for buildx: plain docker build */
	plan_of("builder:\n  arch: amd64\n", NULL, &p, &e, 0);
	CHECK(!p.buildx && p.local && !p.remote);
	plan_of("builder:\n  arch: arm64\n  remote: ssh://root@arm\n", NULL, &p, &e, 0);
	CHECK(!p.buildx && !p.local);
	CHECK_STR(p.remote, "ssh://root@arm");
	CHECK_STR(p.remote_platforms.buf, "linux/arm64");
	/* the remote is only for the arches this machine is not */
	plan_of("builder:\n  arch: amd64\n  remote: ssh://root@arm\n", NULL, &p, &e, 0);
	CHECK(!p.buildx && p.local && !p.remote);
	plan_of("builder:\n  arch: amd64\n  remote: ssh://root@b\n  local: false\n", NULL, &p, &e,
		0);
	CHECK(!p.buildx && !p.local);
	CHECK_STR(p.remote, "ssh://root@b");
	plan_of("builder:\n  arch: amd64\n  driver: docker\n", NULL, &p, &e, 0);
	CHECK(!p.buildx);

	/* several platforms: buildx, the local builder, pushed by the build */
	plan_of("builder:\n  arch: [amd64, arm64]\n", reg, &p, &e, 0);
	CHECK(p.buildx && p.push && !p.hybrid);
	CHECK_STR(p.why.buf, "building for 2 platforms (builder.arch: linux/amd64,linux/arm64)");
	CHECK_STR(p.builder, "berth-local-docker-container");
	CHECK_STR(p.platforms.buf, "linux/amd64,linux/arm64");
	/* ... and a remote for the arch that is not this machine's: hybrid */
	plan_of("builder:\n  arch: [amd64, arm64]\n  remote: ssh://docker@arm.example:2222\n", reg,
		&p, &e, 0);
	CHECK(p.buildx && p.hybrid);
	CHECK_STR(p.builder, "berth-hybrid-docker-container-ssh---docker-arm-example-2222");
	CHECK_STR(p.context, "berth-hybrid-docker-container-ssh---docker-arm-example-2222-context");
	CHECK_STR(p.local_platforms.buf, "linux/amd64");
	CHECK_STR(p.remote_platforms.buf, "linux/arm64");
	/* a cache, a driver */
	plan_of("builder:\n  arch: amd64\n  cache:\n    type: gha\n", NULL, &p, &e, 0);
	CHECK(p.buildx && !p.push);
	CHECK_STR(p.why.buf, "building with a cache (builder.cache: gha)");
	plan_of("builder:\n  arch: amd64\n  driver: docker-container\n", NULL, &p, &e, 0);
	CHECK_STR(p.why.buf, "building with the docker-container driver (builder.driver)");
	plan_of("builder:\n  arch: arm64\n  remote: ssh://b\n  driver: docker-container\n", NULL,
		&p, &e, 0);
	CHECK_STR(p.builder, "berth-remote-ssh---b");
	CHECK_STR(p.context, "berth-remote-ssh---b-context");
	plan_of("builder:\n  arch: amd64\n  driver: cloud acme/fast\n", reg, &p, &e, 0);
	CHECK_STR(p.builder, "cloud-acme-fast");
	/* a local registry: the builder is named for it */
	plan_of("builder:\n  arch: amd64\n  driver: docker-container\n",
		"registry:\n  server: localhost:5555\n", &p, &e, 0);
	CHECK_STR(p.builder, "berth-local-registry-docker-container");
	CHECK(p.local_registry && p.push);
	/* a remote with a local registry: loaded here, then pushed from here */
	plan_of("builder:\n  arch: arm64\n  remote: ssh://root@arm\n  driver: docker-container\n",
		"registry:\n  server: localhost:5555\n", &p, &e, 0);
	CHECK_STR(p.builder, "berth-remote-ssh---root-arm-local-registry");
	CHECK(p.local_registry && !p.push);
	plan_of("builder:\n  arch: [amd64, arm64]\n  remote: ssh://root@arm\n",
		"registry:\n  server: localhost:5555\n", &p, &e, -1);
	CHECK(strstr(err_str(&e), "pushes to a local registry from this machine only") != NULL);
	err_release(&e);

	/* Kamal's refusals, and what berth cannot do */
	plan_of("builder:\n  arch: [amd64, arm64]\n  driver: docker\n", reg, &p, &e, -1);
	CHECK(strstr(err_str(&e), "driver: docker cannot build several arches") != NULL);
	err_release(&e);
	plan_of("builder:\n  arch: amd64\n  driver: docker\n  remote: ssh://b\n", NULL, &p, &e, -1);
	err_release(&e);
	plan_of("builder:\n  arch: amd64\n  driver: docker\n  cache:\n    type: gha\n", NULL, &p,
		&e, -1);
	err_release(&e);
	plan_of("builder:\n  arch: amd64\n  local: false\n", NULL, &p, &e, -1);
	CHECK(strstr(err_str(&e), "needs a builder.remote") != NULL);
	err_release(&e);
	plan_of("builder:\n  arch: [amd64, arm64]\n", NULL, &p, &e, -1);
	CHECK(strstr(err_str(&e), "no registry to push the multi-platform image to") != NULL);
	err_release(&e);
	plan_of("builder:\n  arch: arm64\n  remote: tcp://b:2375\n",
		"registry:\n  server: localhost:5555\n", &p, &e, -1);
	CHECK(strstr(err_str(&e), "needs an ssh:// remote") != NULL);
	err_release(&e);
	build_plan_release(&p);
}

static void test_buildx_argv(void)
{
	struct build_plan p;
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec argv = STRVEC_INIT,
		      steps[BUILD_MAX_STEPS] = {STRVEC_INIT, STRVEC_INIT, STRVEC_INIT};
	struct sbuf sb = SBUF_INIT;
	size_t n, i;
	char *j;

	build_plan_init(&p);
	CHECK_INT(
	    load_text(&cfg,
		      "service: shop\nimage: acme/shop\nservers: [a1]\n"
		      "registry:\n  server: reg.example:5000\n  username: u\n  password: p\n"
		      "builder:\n  arch: [amd64, arm64]\n  dockerfile: Dockerfile.prod\n"
		      "  args:\n    RUBY: '3.3'\n  secrets: [GITHUB_TOKEN]\n  target: release\n"
		      "  ssh: default=$SSH_AUTH_SOCK\n  provenance: mode=max\n  sbom: 'true'\n"
		      "  cache:\n    type: registry\n    options: mode=max\n",
		      NULL, &e),
	    0);
	CHECK_INT(build_plan_make(&p, &cfg, "amd64", &e), 0);
	build_buildx_argv(&argv, &cfg, &p, "reg.example:5000/acme/shop:v1", "registry", ".");
	j = strvec_join(&argv, " ");
	CHECK_STR(j,
		  "docker buildx build --output=type=registry --platform linux/amd64,linux/arm64 "
		  "--builder berth-local-docker-container -t reg.example:5000/acme/shop:v1 "
		  "--label service=shop "
		  "--cache-to type=registry,ref=reg.example:5000/acme/shop-build-cache,mode=max "
		  "--cache-from type=registry,ref=reg.example:5000/acme/shop-build-cache "
		  "--build-arg RUBY=3.3 --secret id=GITHUB_TOKEN,env=GITHUB_TOKEN "
		  "--file Dockerfile.prod --target release --ssh default=$SSH_AUTH_SOCK "
		  "--provenance mode=max --sbom true .");
	free(j);
	strvec_clear(&argv);
	n = build_create_argvs(&p, steps);
	CHECK_INT(n, 1);
	j = strvec_join(&steps[0], " ");
	CHECK_STR(j, "docker buildx create --name berth-local-docker-container "
		     "--driver=docker-container");
	free(j);
	strvec_clear(&steps[0]);
	n = build_remove_argvs(&p, steps);
	CHECK_INT(n, 1);
	j = strvec_join(&steps[0], " ");
	CHECK_STR(j, "docker buildx rm berth-local-docker-container");
	free(j);
	strvec_clear(&steps[0]);
	config_release(&cfg);

	/* hybrid: the local builder with this arch, the remote appended with the other */
	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers: [a1]\n"
			    "registry:\n  server: reg.example\n  username: u\n  password: p\n"
			    "builder:\n  arch: [amd64, arm64]\n  remote: ssh://root@arm\n"
			    "  cache:\n    type: gha\n    options: url=http://c,token=t,mode=max\n",
			    NULL, &e),
		  0);
	CHECK_INT(build_plan_make(&p, &cfg, "amd64", &e), 0);
	n = build_create_argvs(&p, steps);
	CHECK_INT(n, 3);
	j = strvec_join(&steps[0], " ");
	CHECK_STR(j, "docker buildx create --platform linux/amd64 --name "
		     "berth-hybrid-docker-container-ssh---root-arm "
		     "--driver=docker-container");
	free(j);
	j = strvec_join(&steps[1], " ");
	CHECK_STR(j, "docker context create "
		     "berth-hybrid-docker-container-ssh---root-arm-context "
		     "--description berth-hybrid-docker-container-ssh---root-arm host "
		     "--docker host=ssh://root@arm");
	free(j);
	j = strvec_join(&steps[2], " ");
	CHECK_STR(j, "docker buildx create --platform linux/arm64 --append --name "
		     "berth-hybrid-docker-container-ssh---root-arm "
		     "berth-hybrid-docker-container-ssh---root-arm-context");
	free(j);
	for (i = 0; i < n; i++) {
		strvec_clear(&steps[i]);
	}
	n = build_remove_argvs(&p, steps);
	CHECK_INT(n, 2);
	CHECK_STR(steps[1].v[2], "rm");
	CHECK_STR(steps[1].v[3], p.context);
	for (i = 0; i < n; i++) {
		strvec_clear(&steps[i]);
	}
	/* gha: cache-from keeps only what reading needs */
	build_cache_from(&sb, &cfg);
	CHECK_STR(sb.buf, "type=gha,url=http://c,token=t");
	sbuf_reset(&sb);
	build_cache_to(&sb, &cfg);
	CHECK_STR(sb.buf, "type=gha,url=http://c,token=t,mode=max");
	sbuf_reset(&sb);
	config_release(&cfg);

	/* a plain build makes no builder */
	CHECK_INT(load_text(&cfg,
			    "service: shop\nimage: shop\nservers: [a1]\nbuilder:\n  arch: amd64\n",
			    NULL, &e),
		  0);
	CHECK_INT(build_plan_make(&p, &cfg, "amd64", &e), 0);
	CHECK_INT(build_create_argvs(&p, steps), 0);
	CHECK_INT(build_remove_argvs(&p, steps), 0);
	build_cache_from(&sb, &cfg);
	CHECK_INT(sb.len, 0);
	config_release(&cfg);
	build_plan_release(&p);
	sbuf_release(&sb);
	err_release(&e);
}

/* build_clone: the committed tree at HEAD, reused and reset on the next build */
static void test_clone(void)
{
	char dir[] = "/tmp/berth-test-clone-XXXXXX";
	char tmp[] = "/tmp/berth-test-clones-XXXXXX";
	struct sbuf bd = SBUF_INIT, dirty = SBUF_INIT, cmd = SBUF_INIT, f = SBUF_INIT;
	struct config cfg;
	struct err e = ERR_INIT;
	const char *old_tmp = getenv("TMPDIR");

	config_init(&cfg);
	cfg.service = xstrdup("shop");
	if (!mkdtemp(dir) || !mkdtemp(tmp)) {
		CHECK(0);
		return;
	}
	setenv("TMPDIR", tmp, 1);
	/* not in git: built as it is */
	CHECK_INT(build_clone(&bd, &dirty, &cfg, dir, &e), 1);
	if (sh(dir, "git init -q . && mkdir app && echo one >app/f && git add app && "
		    "git -c user.name=t -c user.email=t@t commit -qm one && echo dirty >app/f && "
		    "echo new >app/untracked") < 0) {
		CHECK(0);
		goto out;
	}
	sbuf_addf(&f, "%s/app", dir);
	CHECK_INT(build_clone(&bd, &dirty, &cfg, f.buf, &e), 0);
	CHECK(!strncmp(bd.buf, tmp, strlen(tmp)));
	CHECK(strstr(bd.buf, "/berth-clones/shop-") != NULL);
	CHECK(bd.len > 4 && !strcmp(bd.buf + bd.len - 4, "/app"));
	CHECK(strstr(dirty.buf, " M app/f") != NULL);
	CHECK(strstr(dirty.buf, "?? app/untracked") != NULL);
	CHECK_INT(sh(bd.buf, "test \"$(cat f)\" = one && test ! -e untracked"), 0);
	/* a new commit: the same clone, reset to it */
	CHECK_INT(
	    sh(dir, "echo two >app/f && git -c user.name=t -c user.email=t@t commit -qam two"), 0);
	sbuf_reset(&cmd);
	sbuf_addstr(&cmd, bd.buf);
	sbuf_reset(&bd);
	sbuf_reset(&dirty);
	CHECK_INT(sh(cmd.buf, "echo junk >junk"), 0);
	CHECK_INT(build_clone(&bd, &dirty, &cfg, f.buf, &e), 0);
	CHECK_STR(bd.buf, cmd.buf);
	CHECK_INT(sh(bd.buf, "test \"$(cat f)\" = two && test ! -e junk"), 0);
	CHECK(strstr(dirty.buf, "untracked") != NULL);
	CHECK(strstr(dirty.buf, " M app/f") == NULL);
out:
	if (old_tmp) {
		setenv("TMPDIR", old_tmp, 1);
	} else {
		unsetenv("TMPDIR");
	}
	sbuf_reset(&cmd);
	sbuf_addf(&cmd, "rm -rf '%s' '%s'", dir, tmp);
	sh("/", cmd.buf);
	sbuf_release(&cmd);
	sbuf_release(&bd);
	sbuf_release(&dirty);
	sbuf_release(&f);
	err_release(&e);
	config_release(&cfg);
}

int main(void)
{
	UNIT_RUN(test_version_string);
	UNIT_RUN(test_argv);
	UNIT_RUN(test_version_git);
	UNIT_RUN(test_plan);
	UNIT_RUN(test_buildx_argv);
	UNIT_RUN(test_clone);
	return unit_done();
}
