#include "lib/slice.h"

#include <stdlib.h>

#include "unit.h"

static void test_compare(void)
{
	struct slice s = SLICE_LIT("Content-Length");

	CHECK(slice_eq_cstr(s, "Content-Length"));
	CHECK(!slice_eq_cstr(s, "content-length"));
	CHECK(slice_caseeq_cstr(s, "content-length"));
	CHECK(!slice_caseeq_cstr(s, "content-lengt"));
	CHECK(slice_starts_with(s, "Content"));
	CHECK(!slice_starts_with(SLICE_LIT("Con"), "Content"));
	CHECK(slice_ends_with(s, "Length"));
	CHECK_INT(slice_find_char(s, '-'), 7);
	CHECK_INT(slice_find_char(s, '!'), -1);
	CHECK_INT(slice_find(s, "Len"), 8);
	CHECK_INT(slice_find(s, "Lenx"), -1);
	CHECK(slice_eq(SLICE_NULL, SLICE_LIT("")));
}

static void test_trim_and_from(void)
{
	struct slice s = slice_trim(SLICE_LIT("  a b \r\n"));
	char *d = slice_dup(s);

	CHECK_STR(d, "a b");
	free(d);
	CHECK_INT(slice_from(SLICE_LIT("abc"), 1).len, 2);
	CHECK_INT(slice_from(SLICE_LIT("abc"), 9).len, 0);
}

static void test_next(void)
{
	struct slice rest = SLICE_LIT("a,,b,"), f;
	const char *want[] = {"a", "", "b", ""};
	int i = 0;

	while (rest.ptr) {
		f = slice_next(&rest, ',');
		CHECK(i < 4);
		if (i < 4) {
			CHECK(slice_eq_cstr(f, want[i]));
		}
		i++;
	}
	CHECK_INT(i, 4);
}

static void test_next_word(void)
{
	struct slice rest = SLICE_LIT("  /dev/vda \t 252G  16G "), w;
	int n = 0;

	while ((w = slice_next_word(&rest)).ptr) {
		n++;
		if (n == 2) {
			CHECK(slice_eq_cstr(w, "252G"));
		}
	}
	CHECK_INT(n, 3);
}

static void test_numbers(void)
{
	uint64_t v = 0;
	double d = 0;

	CHECK(slice_to_u64(SLICE_LIT("12345"), UINT64_MAX, &v));
	CHECK_INT(v, 12345);
	CHECK(!slice_to_u64(SLICE_LIT(""), UINT64_MAX, &v));
	CHECK(!slice_to_u64(SLICE_LIT("12a"), UINT64_MAX, &v));
	CHECK(!slice_to_u64(SLICE_LIT("-1"), UINT64_MAX, &v));
	CHECK(slice_to_u64(SLICE_LIT("18446744073709551615"), UINT64_MAX, &v));
	CHECK(!slice_to_u64(SLICE_LIT("18446744073709551616"), UINT64_MAX, &v));
	CHECK(!slice_to_u64(SLICE_LIT("256"), 255, &v));
	CHECK(slice_to_u64(SLICE_LIT("255"), 255, &v));
	CHECK(slice_to_double(SLICE_LIT("0.25"), &d));
	CHECK(d > 0.2499 && d < 0.2501);
	CHECK(slice_to_double(SLICE_LIT("3"), &d));
	CHECK(!slice_to_double(SLICE_LIT("."), &d));
	CHECK(!slice_to_double(SLICE_LIT("1.2.3"), &d));
}

int main(void)
{
	UNIT_RUN(test_compare);
	UNIT_RUN(test_trim_and_from);
	UNIT_RUN(test_next);
	UNIT_RUN(test_next_word);
	UNIT_RUN(test_numbers);
	return unit_done();
}
