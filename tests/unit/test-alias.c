/*
 * cli/alias.c, included whole (it is part of the command, not of the
 * library the unit tests link): an alias's words and the rest of the command
 * line reach the command, which parses them in place as every command does.
 */
#include "unit.h"

#include "cli/alias.c"

static bool interactive, reuse;
static char got[4][64];
static int got_n;

static int fake_exec(int argc, const char **argv)
{
	static const struct opt own[] = {
	    OPT_BOOL('i', "interactive", &interactive, "interactive"),
	    OPT_BOOL(0, "reuse", &reuse, "reuse"),
	    OPT_END(),
	};
	struct err e = ERR_INIT;
	int n, i;

	n = opt_parse(argc, argv, (const struct opt *const[]){own, NULL}, 0, &e);
	err_release(&e);
	for (i = 0; i < n && i < 4; i++) {
		snprintf(got[i], sizeof(got[i]), "%s", argv[i]);
	}
	got_n = n;
	return 7;
}

static const struct cli_cmd cmds[] = {
    {"exec", fake_exec, 0, "exec"},
};

static void reset(void)
{
	interactive = reuse = false;
	got_n = -1;
	memset(got, 0, sizeof(got));
}

/* Options before the operand: the in-place parse must not make the alias free a string twice. */
static void test_options_before_operand(void)
{
	reset();
	CHECK_INT(cli_alias_run(cmds, 1, "console",
				"exec --interactive --reuse \"bin/rails console\"", 0, NULL),
		  7);
	CHECK(interactive && reuse);
	CHECK_INT(got_n, 1);
	CHECK_STR(got[0], "bin/rails console");
}

/* The rest of the command line follows the alias's words, options among operands. */
static void test_rest_appended(void)
{
	const char *rest[] = {"a", "--reuse", "b", "-i", NULL};

	reset();
	CHECK_INT(cli_alias_run(cmds, 1, "x", "exec -i one", 4, rest), 7);
	CHECK(interactive && reuse);
	CHECK_INT(got_n, 3);
	CHECK_STR(got[0], "one");
	CHECK_STR(got[1], "a");
	CHECK_STR(got[2], "b");
}

static void test_errors(void)
{
	reset();
	CHECK_INT(cli_alias_run(cmds, 1, "x", "nope --reuse", 0, NULL), 2);
	CHECK_INT(cli_alias_run(cmds, 1, "x", "exec \"unterminated", 0, NULL), 2);
	CHECK_INT(cli_alias_run(cmds, 1, "x", "", 0, NULL), 2);
	CHECK_INT(got_n, -1);
}

int main(void)
{
	log_setup(LOG_ERROR, 0, NULL);
	UNIT_RUN(test_options_before_operand);
	UNIT_RUN(test_rest_appended);
	UNIT_RUN(test_errors);
	return unit_done();
}
