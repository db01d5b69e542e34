#include "lib/opt.h"

#include "unit.h"

static const char *dest;
static bool json, yes;
static int verbose;
static unsigned port;
static struct strvec hosts = STRVEC_INIT;

static const struct opt globals[] = {
    OPT_STRING('d', "destination", &dest, "NAME", "destination"),
    OPT_LIST('h', "hosts", &hosts, "HOSTS", "hosts"),
    OPT_COUNT('v', "verbose", &verbose, "more"),
    OPT_BOOL(0, "json", &json, "json"),
    OPT_BOOL('y', "yes", &yes, "yes"),
    OPT_END(),
};
static const struct opt cmd[] = {
    OPT_UINT('p', "port", &port, "N", "port"),
    OPT_END(),
};

static void reset(void)
{
	dest = NULL;
	json = yes = false;
	verbose = 0;
	port = 0;
	strvec_clear(&hosts);
}

static void test_mixed(void)
{
	const char *argv[] = {
	    "-d", "staging", "a", "--hosts=h1,h2", "-vvy", "-hh3", "--json", "--port", "22", "b",
	    "--", "-x",	     NULL};
	const struct opt *const tables[] = {globals, cmd, NULL};
	struct err e = ERR_INIT;
	int n;

	reset();
	n = opt_parse(12, argv, tables, 0, &e);
	CHECK_INT(n, 3);
	CHECK_STR(argv[0], "a");
	CHECK_STR(argv[1], "b");
	CHECK_STR(argv[2], "-x");
	CHECK(argv[3] == NULL);
	CHECK_STR(dest, "staging");
	CHECK_INT(hosts.nr, 3);
	CHECK_STR(hosts.v[2], "h3");
	CHECK_INT(verbose, 2);
	CHECK(yes && json);
	CHECK_INT(port, 22);
	err_release(&e);
}

static void test_errors(void)
{
	const struct opt *const tables[] = {globals, cmd, NULL};
	struct err e = ERR_INIT;
	const char *a1[] = {"--nope", NULL};
	const char *a2[] = {"--port", "x", NULL};
	const char *a3[] = {"-d", NULL};
	const char *a4[] = {"--json=1", NULL};
	const char *a5[] = {"--no-json", NULL};
	const char *a6[] = {"--json=true", NULL};
	const char *a7[] = {"--json=false", NULL};
	const char *a8[] = {"--no-json=false", NULL};

	reset();
	CHECK_INT(opt_parse(1, a1, tables, 0, &e), -1);
	CHECK_STR(err_str(&e), "unknown option '--nope'");
	CHECK_INT(opt_parse(2, a2, tables, 0, &e), -1);
	CHECK_STR(err_str(&e), "option '--port' expects a number, got 'x'");
	CHECK_INT(opt_parse(1, a3, tables, 0, &e), -1);
	CHECK_STR(err_str(&e), "option '-d' needs a value (NAME)");
	CHECK_INT(opt_parse(1, a4, tables, 0, &e), -1);
	json = true;
	CHECK_INT(opt_parse(1, a5, tables, 0, &e), 0);
	CHECK(!json);
	CHECK_INT(opt_parse(1, a6, tables, 0, &e), 0);
	CHECK(json);
	CHECK_INT(opt_parse(1, a7, tables, 0, &e), 0);
	CHECK(!json);
	CHECK_INT(opt_parse(1, a8, tables, 0, &e), -1);
	CHECK_STR(err_str(&e), "option '--no-json' takes no value");
	err_release(&e);
}

static void test_stop_at_operand(void)
{
	const struct opt *const tables[] = {globals, NULL};
	const char *argv[] = {"-h", "x", "printf", "-v", "%s", NULL};

	reset();
	CHECK_INT(opt_parse(5, argv, tables, OPT_F_STOP_AT_OPERAND, NULL), 3);
	CHECK_STR(argv[0], "printf");
	CHECK_STR(argv[1], "-v");
	CHECK_INT(verbose, 0);
	strvec_clear(&hosts);
}

/* A number that may be left out: alone it takes its default; a next word that is a number is its
 * value. */
static void test_uint_optional(void)
{
	static unsigned wait;
	static const struct opt own[] = {
	    OPT_UINT_OPTIONAL(0, "lock-wait", &wait, "SECONDS", 900, "wait"),
	    OPT_UINT_OPTIONAL('w', NULL, &wait, "SECONDS", 900, "wait"),
	    OPT_END(),
	};
	const struct opt *const tables[] = {own, globals, NULL};
	const char *a1[] = {"--lock-wait", NULL};
	const char *a2[] = {"--lock-wait", "60", "v1", NULL};
	const char *a3[] = {"--lock-wait", "v1", "--json", NULL};
	const char *a4[] = {"--lock-wait=7", NULL};
	const char *a5[] = {"--lock-wait=x", NULL};
	const char *a6[] = {"-w", "-y", NULL};
	const char *a7[] = {"-w5", NULL};
	struct err e = ERR_INIT;

	reset();
	CHECK_INT(opt_parse(1, a1, tables, 0, &e), 0);
	CHECK_INT(wait, 900);
	wait = 0;
	CHECK_INT(opt_parse(3, a2, tables, 0, &e), 1);
	CHECK_INT(wait, 60);
	CHECK_STR(a2[0], "v1");
	wait = 0;
	CHECK_INT(opt_parse(3, a3, tables, 0, &e), 1);
	CHECK_INT(wait, 900);
	CHECK_STR(a3[0], "v1");
	CHECK(json);
	CHECK_INT(opt_parse(1, a4, tables, 0, &e), 0);
	CHECK_INT(wait, 7);
	CHECK_INT(opt_parse(1, a5, tables, 0, &e), -1);
	CHECK_STR(err_str(&e), "option '--lock-wait' expects a number, got 'x'");
	wait = 0;
	CHECK_INT(opt_parse(2, a6, tables, 0, &e), 0);
	CHECK_INT(wait, 900);
	CHECK(yes);
	CHECK_INT(opt_parse(1, a7, tables, 0, &e), 0);
	CHECK_INT(wait, 5);
	err_release(&e);
}

static void test_string_list(void)
{
	static struct strvec env = STRVEC_INIT;
	static const struct opt own[] = {
	    OPT_STRING_LIST('e', "env", &env, "KEY=VALUE", "env"),
	    OPT_END(),
	};
	const struct opt *const tables[] = {own, NULL};
	const char *a[] = {"-e", "A=1,2", "--env=B=x y", "-eC=", NULL};

	CHECK_INT(opt_parse(4, a, tables, 0, NULL), 0);
	CHECK_INT(env.nr, 3);
	CHECK_STR(env.v[0], "A=1,2");
	CHECK_STR(env.v[1], "B=x y");
	CHECK_STR(env.v[2], "C=");
	strvec_clear(&env);
}

int main(void)
{
	UNIT_RUN(test_mixed);
	UNIT_RUN(test_errors);
	UNIT_RUN(test_stop_at_operand);
	UNIT_RUN(test_uint_optional);
	UNIT_RUN(test_string_list);
	return unit_done();
}
