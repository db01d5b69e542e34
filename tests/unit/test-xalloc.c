#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

static void test_dup_and_grow(void)
{
	char *s = xstrndup("abcdef", 3);
	int *arr = NULL;
	size_t alloc = 0, i;

	CHECK_STR(s, "abc");
	free(s);
	s = xstrdup("");
	CHECK_STR(s, "");
	free(s);
	for (i = 0; i < 1000; i++) {
		XGROW(arr, alloc, i + 1);
		arr[i] = (int)i;
	}
	CHECK(alloc >= 1000);
	CHECK_INT(arr[999], 999);
	free(arr);
	s = xcalloc(0, 0);
	CHECK(s != NULL);
	free(s);
}

int main(void)
{
	UNIT_RUN(test_dup_and_grow);
	return unit_done();
}
