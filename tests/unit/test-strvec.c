#include "lib/strvec.h"

#include <stdlib.h>

#include "unit.h"

static void test_push_and_join(void)
{
	struct strvec sv = STRVEC_INIT;
	char *j;

	CHECK(sv.v[0] == NULL);
	strvec_push(&sv, "docker");
	strvec_pushf(&sv, "--name=%s-%d", "web", 3);
	strvec_pushv(&sv, (const char *[]){"a b", "", NULL});
	CHECK_INT(sv.nr, 4);
	CHECK(sv.v[4] == NULL);
	j = strvec_join(&sv, "|");
	CHECK_STR(j, "docker|--name=web-3|a b|");
	free(j);
	strvec_clear(&sv);
	CHECK_INT(sv.nr, 0);
	CHECK(sv.v[0] == NULL);
	strvec_push(&sv, "again");
	CHECK_STR(sv.v[0], "again");
	strvec_clear(&sv);
}

int main(void)
{
	UNIT_RUN(test_push_and_join);
	return unit_done();
}
