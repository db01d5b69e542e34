#include "engine/build.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/run.h"
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

	CHECK_INT(load_text(&cfg, "service: shop\nimage: shop\nservers: [a1]\n", "prod", &e), 0);
	build_argv(&argv, &cfg, "abc");
	j = strvec_join(&argv, " ");
	CHECK_STR(j, "docker build -t shop:abc --label service=shop .");
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

int main(void)
{
	UNIT_RUN(test_version_string);
	UNIT_RUN(test_argv);
	UNIT_RUN(test_version_git);
	return unit_done();
}
