#include "proxy/path.h"

#include <stdlib.h>

#include "unit.h"

/* The normalization of in, or "ERR" when it is refused. */
static const char *norm(const char *in)
{
	static char out[256];
	size_t len = strlen(in), n;

	if (path_normalize(in, len, out, &n) < 0) {
		return "ERR";
	}
	CHECK(n <= len);
	out[n] = '\0';
	return out;
}

static const struct {
	const char *in, *want;
} cases[] = {
    /* already normal */
    {"/", "/"},
    {"/a/b", "/a/b"},
    {"/a/b/", "/a/b/"},
    {"/.well-known/acme", "/.well-known/acme"},
    {"/a..b/c.", "/a..b/c."},
    {"/...", "/..."},
    {"/a/~u_-.x", "/a/~u_-.x"},
    /* duplicate slashes */
    {"//", "/"},
    {"//secret/x", "/secret/x"},
    {"/a//b///c", "/a/b/c"},
    {"/a//", "/a/"},
    /* dot segments (RFC 3986 5.2.4) */
    {"/.", "/"},
    {"/./", "/"},
    {"/a/.", "/a/"},
    {"/a/./b", "/a/b"},
    {"/a/..", "/"},
    {"/a/../", "/"},
    {"/a/b/..", "/a/"},
    {"/a/b/../c", "/a/c"},
    {"/app/../secret/x", "/secret/x"},
    {"/a/b/c/./../../g", "/a/g"},
    {"/a/.//../b", "/b"},
    {"/a//..", "/"},
    /* unreserved characters are decoded, the rest is kept with uppercase hex */
    {"/%73ecret/x", "/secret/x"},
    {"/%41%5a%61%7A%30%39%2D%2E%5F%7E", "/AZaz09-._~"},
    {"/a%2fb", "/a%2Fb"},
    {"/a%2Fb", "/a%2Fb"},
    {"/%c3%a9", "/%C3%A9"},
    {"/%25", "/%25"},
    {"/%2541", "/%2541"},
    {"/%20x", "/%20x"},
    {"/%3f", "/%3F"},
    /* ... before the dot segments are removed */
    {"/app/%2e%2e/secret/x", "/secret/x"},
    {"/app/%2E./secret", "/secret"},
    {"/a/%2e/b", "/a/b"},
    {"/a/%2e%2e%2fb", "/a/..%2Fb"},
    /* refused: climbing above the root, malformed escapes */
    {"/..", "ERR"},
    {"/../x", "ERR"},
    {"/a/../..", "ERR"},
    {"/a/../../x", "ERR"},
    {"//..", "ERR"},
    {"/%2e%2e/x", "ERR"},
    {"/./../x", "ERR"},
    {"/%", "ERR"},
    {"/%4", "ERR"},
    {"/%zz", "ERR"},
    {"/%4g", "ERR"},
    {"/a%", "ERR"},
    {"", "ERR"},
    {"a/b", "ERR"},
};

static void test_normalize(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = norm(cases[i].in);

		if (strcmp(got, cases[i].want)) {
			printf("#   case \"%s\"\n", cases[i].in);
		}
		CHECK_STR(got, cases[i].want);
	}
}

/* Every normalized path is normal, and a second pass changes nothing. */
static void test_idempotent(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char once[256];
		const char *got = norm(cases[i].in);

		if (!strcmp(got, "ERR")) {
			continue;
		}
		memcpy(once, got, strlen(got) + 1);
		CHECK_STR(norm(once), once);
		/* escapes that stay make a path look odd to the quick check, nothing else does */
		if (!strchr(once, '%')) {
			CHECK(path_is_normal(once, strlen(once)));
		}
	}
}

/* In place: the output may be the input. */
static void test_in_place(void)
{
	char buf[] = "/a/%62//./c/../%2e%2e/d%2f";
	size_t n;

	CHECK_INT(path_normalize(buf, strlen(buf), buf, &n), 0);
	buf[n] = '\0';
	CHECK_STR(buf, "/a/d%2F");
}

static void test_is_normal(void)
{
	static const char *const normal[] = {"/",    "/a",   "/a/",  "/a/b.c", "/.x",
					     "/..x", "/x./", "/x..", "/~/-/_", "/a?b"};
	static const char *const odd[] = {"//",	 "/a//b",   "/.",   "/./",   "/a/.",
					  "/..", "/a/../b", "/%41", "/a%2f", "/a/b/.."};
	size_t i;

	for (i = 0; i < sizeof(normal) / sizeof(normal[0]); i++) {
		CHECK(path_is_normal(normal[i], strlen(normal[i])));
	}
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		if (path_is_normal(odd[i], strlen(odd[i]))) {
			printf("#   \"%s\" is said to be normal\n", odd[i]);
			CHECK(0);
		}
	}
	/* a path that passes normalizes to itself */
	for (i = 0; i < sizeof(normal) / sizeof(normal[0]); i++) {
		CHECK_STR(norm(normal[i]), normal[i]);
	}
}

/* Only the bytes given are read: a path cut before its escape ends is refused. */
static void test_bounds(void)
{
	char *p = malloc(4);
	size_t n;
	char out[4];

	memcpy(p, "/a%4", 4);
	CHECK_INT(path_normalize(p, 4, out, &n), -1);
	CHECK_INT(path_normalize(p, 3, out, &n), -1);
	CHECK_INT(path_normalize(p, 2, out, &n), 0);
	CHECK_INT(n, 2);
	CHECK(!path_is_normal(p, 4));
	CHECK(path_is_normal(p, 2));
	free(p);
}

int main(void)
{
	UNIT_RUN(test_normalize);
	UNIT_RUN(test_idempotent);
	UNIT_RUN(test_in_place);
	UNIT_RUN(test_is_normal);
	UNIT_RUN(test_bounds);
	return unit_done();
}
