/*
 * scripts/gen-scripts: every embedded script is its file's bytes after the
 * header, whatever bytes they are (tests/unit/scripts/ holds files made to
 * be hard to escape), and every script of engine/scripts/ says what it does.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "engine/scripts.h"
#include "lib/sbuf.h"

#include "unit.h"

extern const struct script_file test_script_files[];
/* the same files embedded with GEN_KEEP_HEADER=1 */
extern const struct script_file test_whole_files[];

/* The file's bytes after its header: its first comment lines and the blank lines after them. */
static size_t body_start(const struct sbuf *sb)
{
	size_t at = 0;
	bool saw = false;

	while (at < sb->len) {
		const char *nl = memchr(sb->buf + at, '\n', sb->len - at);
		size_t end = nl ? (size_t)(nl - sb->buf) + 1 : sb->len;

		if (sb->buf[at] == '#') {
			saw = true;
		} else if (!(saw && sb->buf[at] == '\n')) {
			break;
		}
		at = end;
	}
	return at;
}

/* Each script of table is dir/NAME.sh's body, byte for byte; returns how many there are. */
static size_t check_table(const struct script_file *table, const char *dir, bool want_header)
{
	struct sbuf path = SBUF_INIT, file = SBUF_INIT;
	size_t n;

	for (n = 0; table[n].name; n++) {
		size_t at;

		sbuf_reset(&path);
		sbuf_addf(&path, "%s/%s.sh", dir, table[n].name);
		sbuf_reset(&file);
		if (sbuf_read_file(&file, path.buf) < 0) {
			printf("#   cannot read '%s'\n", path.buf);
			CHECK(0);
			continue;
		}
		at = body_start(&file);
		if (strlen(table[n].text) != file.len - at ||
		    memcmp(table[n].text, file.buf + at, file.len - at)) {
			printf("#   '%s' is not embedded as it is\n", path.buf);
			CHECK(0);
		}
		if (want_header && (file.len < 2 || file.buf[0] != '#' || !at)) {
			printf("#   '%s' has no header comment\n", path.buf);
			CHECK(0);
		}
	}
	sbuf_release(&path);
	sbuf_release(&file);
	return n;
}

static const char *text_of(const struct script_file *table, const char *name)
{
	for (; table->name; table++) {
		if (!strcmp(table->name, name)) {
			return table->text;
		}
	}
	return NULL;
}

static void test_escaping_round_trips(void)
{
	const struct script_file *t = test_script_files;

	CHECK_INT(check_table(t, "tests/unit/scripts", false), 4);
	/* what the header rule leaves, spelled out */
	CHECK_STR(text_of(t, "gen-empty"), "");
	CHECK_STR(text_of(t, "gen-no-newline"), "exit 0");
	CHECK_STR(text_of(t, "gen-no-header"), "\necho first line blank, no header\n");
	CHECK_STR(text_of(t, "gen-escape"),
		  "a=\"quoted \\\"inner\\\" 'single'\"\n"
		  "b=\\\\ c=\\\\\\\\ d=\\n e=\\\"\n"
		  "printf '%s %d %% %%s\\\\n' \"$a\" 1\n"
		  "echo \"$HOME ${x:-y} $(date) `id` $1 $@ $?\"\n"
		  "echo \"?\?) ?\?( ?\?/ ?\?= trigraphs stay\"\n"
		  "\n"
		  "# a comment in the body stays\n"
		  "tab\there cr\r bell\a del\177 utf8 \303\251 high \377\n"
		  "\n");
}

/* With GEN_KEEP_HEADER=1 every text is its whole file, header comment and all. */
static void test_whole_files_kept(void)
{
	struct sbuf path = SBUF_INIT, file = SBUF_INIT;
	size_t n;

	for (n = 0; test_whole_files[n].name; n++) {
		const char *text = test_whole_files[n].text;

		sbuf_reset(&path);
		sbuf_addf(&path, "tests/unit/scripts/%s.sh", test_whole_files[n].name);
		sbuf_reset(&file);
		CHECK(sbuf_read_file(&file, path.buf) >= 0);
		if (strlen(text) != file.len || memcmp(text, file.buf, file.len)) {
			printf("#   '%s' is not embedded whole\n", path.buf);
			CHECK(0);
		}
	}
	CHECK_INT(n, 4);
	CHECK(!strncmp(text_of(test_whole_files, "gen-escape"), "#", 1));
	sbuf_release(&path);
	sbuf_release(&file);
}

static void test_engine_scripts_embedded(void)
{
	CHECK(check_table(script_files, "engine/scripts", true) > 30);
	CHECK(!strncmp(script_deploy_env, "set -e\ncd\n", 10));
}

int main(void)
{
	UNIT_RUN(test_escaping_round_trips);
	UNIT_RUN(test_whole_files_kept);
	UNIT_RUN(test_engine_scripts_embedded);
	return unit_done();
}
