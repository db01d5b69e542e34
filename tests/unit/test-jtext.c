#include "lib/jtext.h"

#include "unit.h"

static void test_any_bytes_become_json(void)
{
	json_t *j = jtext_string("caf\xc3\xa9");

	CHECK_STR(json_string_value(j), "caf\xc3\xa9");
	json_decref(j);
	j = jtext_string("bad \xff\xc3 end");
	CHECK_STR(json_string_value(j), "bad ?? end");
	json_decref(j);
	j = jtext_string(NULL);
	CHECK(json_is_null(j));
	json_decref(j);
}

int main(void)
{
	UNIT_RUN(test_any_bytes_become_json);
	return unit_done();
}
