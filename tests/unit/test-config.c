/*
 * The config corpus: every directory under tests/config/cases/ is a small
 * project (config/deploy.yml, maybe a destination file, secrets files, an
 * `env` file of KEY=VALUE lines to use as the environment and a `dest` file
 * naming the destination) with the exact result it must give: expected.json
 * (config_to_json) or expected-error.txt (the error line).
 *
 * BERTH_UPDATE_CASES=1 writes what berth gives into the cases instead of
 * comparing, for a new case; read what it wrote before committing it.
 */
#include "engine/config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/exec.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "lib/yamldoc.h"
#include "unit.h"

#define CASES "tests/config/cases"

static bool read_file(const char *dir, const char *name, struct sbuf *out)
{
	struct sbuf p = SBUF_INIT;
	bool ok;

	sbuf_addf(&p, "%s/%s", dir, name);
	ok = sbuf_read_file(out, p.buf) == 0;
	sbuf_release(&p);
	return ok;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	struct sbuf p = SBUF_INIT;
	FILE *f;

	sbuf_addf(&p, "%s/%s", dir, name);
	f = fopen(p.buf, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	sbuf_release(&p);
}

/* Prints the first line where got and want differ, as a diff would. */
static void show_diff(const char *name, const char *got, const char *want)
{
	unsigned line = 1;
	const char *g = got, *w = want, *ge, *we;

	while (*g || *w) {
		ge = strchr(g, '\n');
		we = strchr(w, '\n');
		ge = ge ? ge : g + strlen(g);
		we = we ? we : w + strlen(w);
		if (ge - g != we - w || memcmp(g, w, (size_t)(ge - g))) {
			printf("#   %s: differs at line %u\n#   - %.*s\n#   + %.*s\n", name, line,
			       (int)(we - w), w, (int)(ge - g), g);
			return;
		}
		g = *ge ? ge + 1 : ge;
		w = *we ? we + 1 : we;
		line++;
	}
}

static void run_case(const char *name)
{
	struct sbuf dir = SBUF_INIT, envf = SBUF_INIT, dest = SBUF_INIT, want = SBUF_INIT;
	struct sbuf got = SBUF_INIT;
	struct strvec names = STRVEC_INIT;
	struct config_opts o = {0};
	struct err e = ERR_INIT;
	struct secrets sec;
	struct config cfg;
	bool update = getenv("BERTH_UPDATE_CASES") != NULL, want_error;
	struct slice rest, line;
	size_t i;
	int r;

	sbuf_addf(&dir, "%s/%s", CASES, name);
	if (read_file(dir.buf, "env", &envf)) {
		rest = slice_make(envf.buf, envf.len);
		while (rest.ptr) {
			char *kv;

			line = slice_next(&rest, '\n');
			if (!line.len || line.ptr[0] == '#' || slice_find_char(line, '=') < 0) {
				continue;
			}
			kv = slice_dup(line);
			*strchr(kv, '=') = '\0';
			setenv(kv, kv + strlen(kv) + 1, 1);
			strvec_push(&names, kv);
			free(kv);
		}
	}
	if (read_file(dir.buf, "dest", &dest)) {
		sbuf_trim(&dest);
		o.destination = dest.buf;
	}
	want_error = read_file(dir.buf, "expected-error.txt", &want);
	if (!want_error && !read_file(dir.buf, "expected.json", &want) && !update) {
		printf("#   %s: no expected.json or expected-error.txt\n", name);
		unit_failures_in_test++;
		goto out;
	}
	o.project_dir = dir.buf;
	o.load_secrets = true;
	config_init(&cfg);
	secrets_init(&sec);
	r = config_load(&cfg, &o, &sec, &e);
	if (r < 0) {
		sbuf_addf(&got, "%s\n", err_str(&e));
	} else {
		json_t *j = config_to_json(&cfg, &sec);
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		sbuf_addf(&got, "%s\n", s);
		free(s);
		json_decref(j);
	}
	if (update) {
		write_file(dir.buf, r < 0 ? "expected-error.txt" : "expected.json", got.buf);
	} else if (want_error && r == 0) {
		printf("#   %s: loaded, but must fail with: %s", name, want.buf);
		unit_failures_in_test++;
	} else if (!want_error && r < 0) {
		printf("#   %s: failed: %s", name, got.buf);
		unit_failures_in_test++;
	} else if (strcmp(got.buf, want.buf)) {
		show_diff(name, got.buf, want.buf);
		unit_failures_in_test++;
	}
	config_release(&cfg);
	secrets_release(&sec);
out:
	for (i = 0; i < names.nr; i++) {
		unsetenv(names.v[i]);
	}
	strvec_clear(&names);
	err_release(&e);
	sbuf_release(&dir);
	sbuf_release(&envf);
	sbuf_release(&dest);
	sbuf_release(&want);
	sbuf_release(&got);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_corpus(void)
{
	struct strvec cases = STRVEC_INIT;
	struct dirent *d;
	DIR *dir = opendir(CASES);
	size_t i;

	if (!dir) {
		printf("not ok - cannot open %s (run from the top of the tree)\n", CASES);
		unit_failed++;
		return;
	}
	while ((d = readdir(dir))) {
		if (d->d_name[0] != '.') {
			strvec_push(&cases, d->d_name);
		}
	}
	closedir(dir);
	qsort(cases.v, cases.nr, sizeof(*cases.v), cmp_str);
	for (i = 0; i < cases.nr; i++) {
		unit_failures_in_test = 0;
		run_case(cases.v[i]);
		unit_count++;
		if (unit_failures_in_test) {
			unit_failed++;
			printf("not ok %d - case %s\n", unit_count, cases.v[i]);
		} else {
			printf("ok %d - case %s\n", unit_count, cases.v[i]);
		}
		fflush(stdout);
	}
	if (cases.nr < 40) {
		printf("not ok - only %zu cases in %s\n", cases.nr, CASES);
		unit_failed++;
	}
	strvec_clear(&cases);
}

static void test_match(void)
{
	CHECK(config_match("web-*", "web-1"));
	CHECK(config_match("*", ""));
	CHECK(config_match("*.example.com", "a.b.example.com"));
	CHECK(config_match("a*b*c", "axxbyyc"));
	CHECK(!config_match("a*b*c", "axxbyy"));
	CHECK(!config_match("web", "web-1"));
	CHECK(config_match("10.0.0.*", "10.0.0.12"));
}

static void test_suggest(void)
{
	static const char *const keys[] = {"healthcheck", "hosts", "host", "app_port", NULL};

	CHECK_STR(config_suggest("helthcheck", keys), "healthcheck");
	CHECK_STR(config_suggest("app-port", keys), "app_port");
	CHECK_STR(config_suggest("hots", keys), "hosts");
	CHECK(config_suggest("zzzzzzzz", keys) == NULL);
}

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

static void test_role_hosts(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct strvec out = STRVEC_INIT, roles = STRVEC_INIT, hosts = STRVEC_INIT;

	CHECK_INT(load_text(&cfg,
			    "service: s\nimage: i\nservers:\n  web: [a1, a2]\n"
			    "  workers:\n    hosts: [a2, b1]\n  cron: [c1]\n",
			    &e),
		  0);
	CHECK_INT(config_role_hosts(&cfg, NULL, NULL, &out), 4);
	strvec_clear(&out);
	strvec_push(&roles, "w*");
	CHECK_INT(config_role_hosts(&cfg, &roles, NULL, &out), 3);
	strvec_clear(&out);
	strvec_push(&hosts, "a*");
	CHECK_INT(config_role_hosts(&cfg, &roles, &hosts, &out), 2);
	CHECK_STR(out.v[0], "a1");
	CHECK_STR(out.v[1], "a2");
	CHECK(config_role(&cfg, "cron") != NULL);
	CHECK(config_role(&cfg, "nope") == NULL);
	strvec_clear(&out);
	strvec_clear(&roles);
	strvec_clear(&hosts);
	config_release(&cfg);
	err_release(&e);
}

static void test_exec_setup(void)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct exec ex;

	CHECK_INT(
	    load_text(&cfg,
		      "service: s\nimage: i\nservers: [h]\nssh:\n  user: app\n  port: \"2222\"\n"
		      "  proxy: root@jump\n  keys: [k1, k2]\n  keys_only: true\n"
		      "  config: [c1, c2]\n  log_level: debug\n",
		      &e),
	    0);
	exec_init(&ex, EXEC_SSH);
	config_exec_setup(&cfg, &ex);
	CHECK_STR(ex.ssh.user, "app");
	CHECK_INT(ex.ssh.port, 2222);
	CHECK_STR(ex.ssh.proxy, "root@jump");
	CHECK_INT(ex.ssh.keys.nr, 2);
	CHECK(ex.ssh.keys_only);
	CHECK_INT(ex.ssh.configs.nr, 2);
	CHECK_INT(ex.ssh.use_config, 1);
	CHECK_INT(ex.ssh.log_level, 1);
	exec_release(&ex);
	config_release(&cfg);
	err_release(&e);
}

static void test_json_to_yaml(void)
{
	struct sbuf sb = SBUF_INIT;
	json_t *j = json_loads("{\"a\": \"yes\", \"b\": [1, \"x y\", {\"c\": true, \"d\": []}], "
			       "\"e\": {}, \"f\": {\"g\": null, \"h\": \"/up\"}}",
			       JSON_PRESERVE_ORDER, NULL);

	config_json_to_yaml(&sb, j);
	CHECK_STR(sb.buf, "a: \"yes\"\nb:\n- 1\n- \"x y\"\n- c: true\n  d: []\ne: {}\nf:\n"
			  "  g: null\n  h: /up\n");
	json_decref(j);
	sbuf_release(&sb);
}

/* -c with an absolute path reads that file, wherever the project is */
static void test_absolute_config_file(void)
{
	char dir[] = "/tmp/berth-unit-cfg.XXXXXX", path[64];
	struct config cfg;
	struct config_opts o = {0};
	struct err e = ERR_INIT;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/deploy.yml", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("service: abs\nimage: abs\nservers: [h1]\n", f);
	fclose(f);
	config_init(&cfg);
	o.project_dir = "tests/config/no-such-dir";
	o.config_file = path;
	CHECK_INT(config_load(&cfg, &o, NULL, &e), 0);
	CHECK_STR(cfg.service, "abs");
	config_release(&cfg);
	err_release(&e);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	UNIT_RUN(test_absolute_config_file);
	UNIT_RUN(test_match);
	UNIT_RUN(test_suggest);
	UNIT_RUN(test_role_hosts);
	UNIT_RUN(test_exec_setup);
	UNIT_RUN(test_json_to_yaml);
	run_corpus();
	return unit_done();
}
