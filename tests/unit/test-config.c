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

#include "engine/erb.h"
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

/* Sets the variables of the case's `env` file; their names go to names. */
static void case_env(const char *dir, struct strvec *names)
{
	struct sbuf envf = SBUF_INIT;
	struct slice rest, line;

	if (read_file(dir, "env", &envf)) {
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
			strvec_push(names, kv);
			free(kv);
		}
	}
	sbuf_release(&envf);
}

static void case_env_unset(struct strvec *names)
{
	size_t i;

	for (i = 0; i < names->nr; i++) {
		unsetenv(names->v[i]);
	}
	strvec_clear(names);
}

/* Whether ruby can render ERB here (cases named *needs-ruby* need it). */
static bool have_ruby(void)
{
	static int have = -1;

	if (have < 0) {
		struct sbuf out = SBUF_INIT;
		struct erb_ctx ctx = {0};

		have = erb_render_ruby("probe", "", 0, &ctx, &out, NULL) == 0;
		sbuf_release(&out);
	}
	return have;
}

static void run_case(const char *name)
{
	struct sbuf dir = SBUF_INIT, dest = SBUF_INIT, want = SBUF_INIT;
	struct sbuf got = SBUF_INIT;
	struct strvec names = STRVEC_INIT;
	struct config_opts o = {0};
	struct err e = ERR_INIT;
	struct secrets sec;
	struct config cfg;
	bool update = getenv("BERTH_UPDATE_CASES") != NULL, want_error;
	int r;

	sbuf_addf(&dir, "%s/%s", CASES, name);
	if (strstr(name, "needs-ruby") && strncmp(name, "err-", 4) && !have_ruby()) {
		printf("# %s: skipped, ruby is not installed\n", name);
		goto out;
	}
	case_env(dir.buf, &names);
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
		json_t *j = config_to_json(&cfg);
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
	case_env_unset(&names);
	err_release(&e);
	sbuf_release(&dir);
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

/*
 * Every ERB file of the corpus (the .yml files with tags in config/ of every case), rendered by
 * berth's own evaluator and by Ruby's ERB as Kamal runs it, must come out
 * byte for byte the same: what Kamal's YAML parser sees is what berth's
 * sees. Cases named *needs-ruby* are rendered by ruby on purpose and are
 * left out; a file that fails in both is fine (the error cases). Skipped
 * when ruby is not installed.
 */
static void test_corpus_vs_ruby(void)
{
	struct strvec cases = STRVEC_INIT;
	struct dirent *d;
	DIR *dir = opendir(CASES);
	size_t i, compared = 0;

	if (!dir) {
		unit_failures_in_test++;
		return;
	}
	while ((d = readdir(dir))) {
		if (d->d_name[0] != '.' && !strstr(d->d_name, "needs-ruby")) {
			strvec_push(&cases, d->d_name);
		}
	}
	closedir(dir);
	if (!have_ruby()) {
		printf("# skipped: ruby is not installed\n");
		goto out;
	}
	{
		/* cases load .env files: Kamal has the dotenv gem, a bare ruby may not */
		struct sbuf o = SBUF_INIT;
		struct erb_ctx pctx = {0};
		const char *probe = "<% require \"dotenv\" %>";
		int r = erb_render_ruby("probe", probe, strlen(probe), &pctx, &o, NULL);
		sbuf_release(&o);
		if (r < 0) {
			printf("# skipped: ruby has no dotenv gem (apt-get install ruby-dotenv)\n");
			goto out;
		}
	}
	for (i = 0; i < cases.nr; i++) {
		struct sbuf cdir = SBUF_INIT, dest = SBUF_INIT, confdir = SBUF_INIT;
		struct strvec names = STRVEC_INIT;
		struct erb_ctx ctx = {.no_ruby = true, .cmd_timeout_ms = 20000};
		DIR *cd;

		sbuf_addf(&cdir, "%s/%s", CASES, cases.v[i]);
		case_env(cdir.buf, &names);
		if (read_file(cdir.buf, "dest", &dest)) {
			sbuf_trim(&dest);
			ctx.destination = dest.buf;
		}
		ctx.dir = cdir.buf;
		sbuf_addf(&confdir, "%s/config", cdir.buf);
		cd = opendir(confdir.buf);
		while (cd && (d = readdir(cd))) {
			struct sbuf src = SBUF_INIT, got = SBUF_INIT, want = SBUF_INIT;
			struct err e = ERR_INIT, re = ERR_INIT;
			size_t n = strlen(d->d_name);
			char file[300];
			int r1, r2;

			/* a file without a tag renders as itself in both */
			if (n < 5 || strcmp(d->d_name + n - 4, ".yml") ||
			    !read_file(confdir.buf, d->d_name, &src) || !strstr(src.buf, "<%")) {
				sbuf_release(&src);
				continue;
			}
			snprintf(file, sizeof(file), "config/%s", d->d_name);
			r1 = erb_render(file, src.buf, src.len, &ctx, &got, &e);
			r2 = erb_render_ruby(file, src.buf, src.len, &ctx, &want, &re);
			if ((r1 < 0) != (r2 < 0) ||
			    (r1 == 0 &&
			     (got.len != want.len || memcmp(got.buf, want.buf, got.len)))) {
				printf("#   %s/%s: berth and ruby differ\n", cases.v[i], file);
				if (r1 < 0 || r2 < 0) {
					printf("#     berth: %s\n#     ruby:  %s\n",
					       r1 < 0 ? err_str(&e) : "rendered",
					       r2 < 0 ? err_str(&re) : "rendered");
				} else {
					show_diff(file, got.buf, want.buf);
				}
				unit_failures_in_test++;
			}
			compared++;
			sbuf_release(&src);
			sbuf_release(&got);
			sbuf_release(&want);
			err_release(&e);
			err_release(&re);
		}
		if (cd) {
			closedir(cd);
		}
		case_env_unset(&names);
		sbuf_release(&cdir);
		sbuf_release(&confdir);
		sbuf_release(&dest);
	}
	printf("# %zu ERB files rendered by berth and by ruby\n", compared);
	CHECK(compared >= 15);
out:
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

	CHECK_INT(
	    load_text(&cfg,
		      "service: s\nimage: i\nservers:\n  web: [a1, a2]\n"
		      "  workers:\n    hosts: [a2, b1]\n  cron: [c1]\nbuilder: {arch: amd64}\n",
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

/* What a config leaves out is Kamal's default, named once (CONFIG_DEFAULT_*). */
static void test_defaults(void)
{
	struct config cfg;
	struct err e = ERR_INIT;

	CHECK_INT(load_text(&cfg,
			    "service: s\nimage: i\nservers: [a1]\nproxy: {}\n"
			    "builder: {arch: amd64}\n",
			    &e),
		  0);
	CHECK_INT(cfg.retain_containers, 5);
	CHECK_INT(cfg.retain_containers, CONFIG_DEFAULT_RETAIN_CONTAINERS);
	CHECK_INT(cfg.readiness_delay, CONFIG_DEFAULT_READINESS_DELAY);
	CHECK_INT(cfg.deploy_timeout, CONFIG_DEFAULT_DEPLOY_TIMEOUT);
	CHECK_INT(cfg.drain_timeout, CONFIG_DEFAULT_DRAIN_TIMEOUT);
	CHECK_INT(cfg.stop_timeout, -1);
	CHECK_INT(cfg.proxy.response_timeout, CONFIG_DEFAULT_RESPONSE_TIMEOUT);
	CHECK_STR(cfg.proxy.healthcheck_path, CONFIG_DEFAULT_HEALTHCHECK_PATH);
	CHECK_INT(cfg.proxy.healthcheck_interval, CONFIG_DEFAULT_HEALTHCHECK_INTERVAL);
	CHECK_INT(cfg.proxy.healthcheck_timeout, CONFIG_DEFAULT_HEALTHCHECK_TIMEOUT);
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
		      "  config: [c1, c2]\n  log_level: debug\nbuilder: {arch: amd64}\n",
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
	fputs("service: abs\nimage: abs\nservers: [h1]\nbuilder: {arch: amd64}\n", f);
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

/* minimum_version: an older berth refuses the config, naming both versions; equal or newer loads */
static void test_minimum_version(void)
{
	static const char base[] =
	    "service: app\nimage: a\nservers: [h]\nbuilder: {arch: amd64}\nminimum_version: ";
	struct sbuf text = SBUF_INIT, want = SBUF_INIT;
	struct config cfg;
	struct err e = ERR_INIT;

	sbuf_addf(&text, "%s%s\n", base, "999.2");
	CHECK_INT(load_text(&cfg, text.buf, &e), -1);
	sbuf_addf(&want,
		  "t.yml:5:18: minimum_version: this config needs Kamal 999.2 or newer, and berth "
		  "%s reads configs as Kamal " CONFIG_KAMAL_VERSION " does",
		  BERTH_VERSION);
	CHECK_STR(err_str(&e), want.buf);
	config_release(&cfg);
	err_release(&e);

	/* Kamal's own configs name Kamal releases: the one berth reads as loads */
	sbuf_reset(&text);
	sbuf_addf(&text, "%s\"%s\"\n", base, CONFIG_KAMAL_VERSION);
	CHECK_INT(load_text(&cfg, text.buf, &e), 0);
	config_release(&cfg);
	sbuf_reset(&text);
	sbuf_addf(&text, "%s%s\n", base, "2.3.0");
	CHECK_INT(load_text(&cfg, text.buf, &e), 0);
	config_release(&cfg);
	sbuf_reset(&text);
	sbuf_addf(&text, "%s%s\n", base, "0.0.10");
	CHECK_INT(load_text(&cfg, text.buf, &e), 0);
	CHECK_STR(cfg.minimum_version, "0.0.10");
	config_release(&cfg);
	err_release(&e);
	sbuf_release(&text);
	sbuf_release(&want);
}

/* config_docs lists the keys of the loader's own tables, by section */
static void test_docs(void)
{
	struct sbuf sb = SBUF_INIT;

	CHECK_INT(config_docs(&sb, "ssh"), 0);
	CHECK(!strncmp(sb.buf, "ssh  # ", 7));
	CHECK(strstr(sb.buf, "\n  key_data\n") && strstr(sb.buf, "\n  forward_agent\n"));
	sbuf_reset(&sb);
	CHECK_INT(config_docs(&sb, "proxy"), 0);
	CHECK(strstr(sb.buf, "\nproxy.run  # ") && strstr(sb.buf, "\nproxy.healthcheck  # "));
	sbuf_reset(&sb);
	CHECK_INT(config_docs(&sb, NULL), 0);
	CHECK(strstr(sb.buf, "configuration  # ") == sb.buf);
	CHECK(strstr(sb.buf, "\n  minimum_version\n") && strstr(sb.buf, "\n  hooks_output\n"));
	CHECK(strstr(sb.buf, "\naccessory  # "));
	sbuf_reset(&sb);
	CHECK_INT(config_docs(&sb, "nope"), -1);
	CHECK_INT(config_docs(&sb, "prox"), -1);
	sbuf_release(&sb);
}

int main(void)
{
	UNIT_RUN(test_absolute_config_file);
	UNIT_RUN(test_match);
	UNIT_RUN(test_suggest);
	UNIT_RUN(test_role_hosts);
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_exec_setup);
	UNIT_RUN(test_json_to_yaml);
	UNIT_RUN(test_minimum_version);
	UNIT_RUN(test_docs);
	UNIT_RUN(test_corpus_vs_ruby);
	run_corpus();
	return unit_done();
}
