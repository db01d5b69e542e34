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

int main(void)
{
	UNIT_RUN(test_mixed);
	UNIT_RUN(test_errors);
	UNIT_RUN(test_stop_at_operand);
	return unit_done();
}
