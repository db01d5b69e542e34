#include "engine/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/sbuf.h"
#include "unit.h"

#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (!strstr(h_, (needle))) {                                                       \
			printf("#   %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,  \
			       h_, (needle));                                                      \
			unit_failures_in_test++;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_LACKS(hay, needle)                                                                   \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (strstr(h_, (needle))) {                                                        \
			printf("#   %s:%d: \"%s\" contains \"%s\"\n", __FILE__, __LINE__, h_,      \
			       (needle));                                                          \
			unit_failures_in_test++;                                                   \
		}                                                                                  \
	} while (0)

/* The project directory of every test: <tmp>/.berth/hooks holds the hooks. */
static char project[64];

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", project, rel);
	unlink(path);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f) {
		return;
	}
	fputs(text, f);
	fclose(f);
	CHECK_INT(chmod(path, mode), 0);
}

static void collect(const char *line, void *data)
{
	struct sbuf *out = data;

	sbuf_addf(out, "%s\n", line);
}

/* A config with just what hooks read. */
static void fake_config(struct config *cfg)
{
	config_init(cfg);
	cfg->service = strdup("hello");
	cfg->destination = strdup("staging");
	cfg->hooks_path = strdup(".berth/hooks");
}

static void start(struct hooks *h, struct config *cfg, const struct secrets *sec, struct sbuf *out)
{
	fake_config(cfg);
	hooks_init(h, cfg, project, sec);
	h->out = collect;
	h->out_data = out;
}

static void test_absent(void)
{
	struct config cfg;
	struct hooks h;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	start(&h, &cfg, NULL, &out);
	CHECK(!hooks_exists(&h, "pre-build"));
	CHECK_INT(hooks_run(&h, "pre-build", &e), 0);
	CHECK(!err_isset(&e));
	CHECK_STR(out.buf, "");
	CHECK_INT(hooks_run(&h, "../pre-build", &e), -1);
	CHECK(err_isset(&e));
	hooks_release(&h);
	config_release(&cfg);
	sbuf_release(&out);
	err_release(&e);
}

static void test_variables(void)
{
	struct config cfg;
	struct hooks h;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;
	char cwd[512];

	write_file(".berth/hooks/pre-deploy",
		   "#!/bin/sh\n"
		   "echo \"svc=$KAMAL_SERVICE ver=$BERTH_VERSION sv=$KAMAL_SERVICE_VERSION\"\n"
		   "echo \"dest=$BERTH_DESTINATION hosts=$KAMAL_HOSTS cmd=$KAMAL_COMMAND\"\n"
		   "echo \"performer=${KAMAL_PERFORMER:+set} at=${BERTH_RECORDED_AT:+set}\"\n"
		   "echo \"roles=${KAMAL_ROLES-unset} from_env=$HOOKS_TEST_OUTER\"\n"
		   "echo \"pwd=$(pwd)\"\n"
		   "echo to-stderr >&2\n",
		   0755);
	setenv("HOOKS_TEST_OUTER", "outer", 1);
	setenv("KAMAL_ROLES", "from-the-environment", 1);
	start(&h, &cfg, NULL, &out);
	hooks_set(&h, "VERSION", "0123456789abcdef");
	hooks_set(&h, "HOSTS", "10.0.0.1,10.0.0.2");
	hooks_set(&h, "COMMAND", "deploy");
	hooks_set(&h, "ROLES", NULL);
	CHECK(hooks_exists(&h, "pre-deploy"));
	CHECK_INT(hooks_run(&h, "pre-deploy", &e), 0);
	CHECK_CONTAINS(out.buf, "running the pre-deploy hook\n");
	CHECK_CONTAINS(out.buf, "hook pre-deploy: svc=hello ver=0123456789abcdef "
				"sv=hello@0123456\n");
	CHECK_CONTAINS(out.buf, "hook pre-deploy: dest=staging hosts=10.0.0.1,10.0.0.2 "
				"cmd=deploy\n");
	CHECK_CONTAINS(out.buf, "hook pre-deploy: performer=set at=set\n");
	CHECK_CONTAINS(out.buf, "hook pre-deploy: roles=unset from_env=outer\n");
	CHECK_CONTAINS(out.buf, "hook pre-deploy: to-stderr\n");
	/* the hook runs in the project directory whatever berth's own is */
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(strcmp(cwd, project) != 0);
	sbuf_reset(&out);
	hooks_set(&h, "VERSION", "v2_uncommitted_1234");
	CHECK_INT(hooks_run(&h, "pre-deploy", &e), 0);
	CHECK_CONTAINS(out.buf, "sv=hello@v2_uncommitted_1234\n");
	hooks_release(&h);
	config_release(&cfg);
	unsetenv("KAMAL_ROLES");
	sbuf_release(&out);
	err_release(&e);
}

static void test_pwd_is_project(void)
{
	struct config cfg;
	struct hooks h;
	struct sbuf out = SBUF_INIT, want = SBUF_INIT;
	struct err e = ERR_INIT;
	char real[512];

	write_file(".berth/hooks/post-deploy", "#!/bin/sh\necho \"pwd=$(pwd -P)\"\n", 0755);
	start(&h, &cfg, NULL, &out);
	CHECK_INT(hooks_run(&h, "post-deploy", &e), 0);
	CHECK(realpath(project, real) != NULL);
	sbuf_addf(&want, "hook post-deploy: pwd=%s\n", real);
	CHECK_CONTAINS(out.buf, want.buf);
	hooks_release(&h);
	config_release(&cfg);
	sbuf_release(&out);
	sbuf_release(&want);
	err_release(&e);
}

static void test_failure(void)
{
	struct config cfg;
	struct hooks h;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *msg;

	write_file(".berth/hooks/pre-build",
		   "#!/bin/sh\n"
		   "i=0; while [ $i -lt 30 ]; do echo \"line $i\"; i=$((i+1)); done\n"
		   "echo 'tests are red' >&2\n"
		   "exit 3\n",
		   0755);
	start(&h, &cfg, NULL, &out);
	CHECK_INT(hooks_run(&h, "pre-build", &e), -1);
	msg = err_str(&e);
	CHECK(!strncmp(msg, "hook 'pre-build' failed (exit 3):\n", 34));
	CHECK_CONTAINS(msg, "\n  line 29\n  tests are red");
	CHECK_LACKS(msg, "line 1\n");
	CHECK_LACKS(msg, "line 20\n");
	CHECK_CONTAINS(msg, "line 21\n");
	err_release(&e);

	/* quiet: nothing shown, but the error still has the last lines */
	sbuf_reset(&out);
	h.quiet = true;
	CHECK_INT(hooks_run(&h, "pre-build", &e), -1);
	CHECK_STR(out.buf, "");
	CHECK_CONTAINS(err_str(&e), "tests are red");
	hooks_release(&h);
	config_release(&cfg);
	sbuf_release(&out);
	err_release(&e);
}

static void test_not_executable(void)
{
	struct config cfg;
	struct hooks h;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	write_file(".berth/hooks/pre-connect", "#!/bin/sh\necho ran\nexit 1\n", 0644);
	start(&h, &cfg, NULL, &out);
	CHECK(hooks_exists(&h, "pre-connect"));
	CHECK_INT(hooks_run(&h, "pre-connect", &e), 0);
	CHECK(!err_isset(&e));
	CHECK_LACKS(out.buf, "ran");
	hooks_release(&h);
	config_release(&cfg);
	sbuf_release(&out);
	err_release(&e);
}

static void test_secret_redacted(void)
{
	struct config cfg;
	struct hooks h;
	struct secrets sec;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *msg;

	secrets_init(&sec);
	secrets_set(&sec, "DB_PASSWORD", "hunter2-very-secret", NULL);
	secrets_set(&sec, "KEY", "line-one-of-key\nline-two-of-key", NULL);
	write_file(".berth/secrets", "DB_PASSWORD=hunter2-very-secret\n", 0600);
	write_file(".berth/hooks/pre-app-boot",
		   "#!/bin/sh\n"
		   ". .berth/secrets\n"
		   "echo \"password is $DB_PASSWORD!\"\n"
		   "echo \"to stderr: $DB_PASSWORD\" >&2\n"
		   "printf 'line-one-of-key\\nline-two-of-key\\n'\n"
		   "exit 1\n",
		   0755);
	start(&h, &cfg, &sec, &out);
	CHECK_INT(hooks_run(&h, "pre-app-boot", &e), -1);
	CHECK_CONTAINS(out.buf, "hook pre-app-boot: password is [REDACTED]!\n");
	CHECK_CONTAINS(out.buf, "hook pre-app-boot: to stderr: [REDACTED]\n");
	CHECK_LACKS(out.buf, "hunter2");
	CHECK_LACKS(out.buf, "line-one-of-key");
	CHECK_LACKS(out.buf, "line-two-of-key");
	msg = err_str(&e);
	CHECK_CONTAINS(msg, "hook 'pre-app-boot' failed (exit 1)");
	CHECK_CONTAINS(msg, "password is [REDACTED]!");
	CHECK_LACKS(msg, "hunter2");
	CHECK_LACKS(msg, "line-two-of-key");
	hooks_release(&h);
	config_release(&cfg);
	secrets_release(&sec);
	sbuf_release(&out);
	err_release(&e);
}

static void test_signal(void)
{
	struct config cfg;
	struct hooks h;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	write_file(".berth/hooks/post-app-boot", "#!/bin/sh\nkill -9 $$\n", 0755);
	start(&h, &cfg, NULL, &out);
	CHECK_INT(hooks_run(&h, "post-app-boot", &e), -1);
	CHECK_STR(err_str(&e), "hook 'post-app-boot' failed (killed by signal 9)");
	hooks_release(&h);
	config_release(&cfg);
	sbuf_release(&out);
	err_release(&e);
}

static void test_default_dir(void)
{
	struct hooks h;
	struct sbuf want = SBUF_INIT;

	/* without a config: .berth/hooks when the project has .berth */
	hooks_init(&h, NULL, project, NULL);
	sbuf_addf(&want, "%s/.berth/hooks", project);
	CHECK_STR(h.dir, want.buf);
	CHECK(hooks_exists(&h, "pre-deploy"));
	hooks_release(&h);
	sbuf_release(&want);
}

static void remove_tree(void)
{
	static const char *const files[] = {
	    ".berth/hooks/pre-deploy",
	    ".berth/hooks/post-deploy",
	    ".berth/hooks/pre-build",
	    ".berth/hooks/pre-connect",
	    ".berth/hooks/pre-app-boot",
	    ".berth/hooks/post-app-boot",
	    ".berth/secrets",
	    ".berth/hooks",
	    ".berth",
	    "",
	};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", project, files[i]);
		if (remove(path) < 0) {
			printf("# cannot remove %s\n", path);
		}
	}
}

int main(void)
{
	char path[256];

	snprintf(project, sizeof(project), "/tmp/berth-hooks-XXXXXX");
	if (!mkdtemp(project)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/.berth", project);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.berth/hooks", project);
	mkdir(path, 0700);

	UNIT_RUN(test_absent);
	UNIT_RUN(test_variables);
	UNIT_RUN(test_pwd_is_project);
	UNIT_RUN(test_failure);
	UNIT_RUN(test_not_executable);
	UNIT_RUN(test_secret_redacted);
	UNIT_RUN(test_signal);
	UNIT_RUN(test_default_dir);
	remove_tree();
	return unit_done();
}
