#include "lib/err.h"

#include "unit.h"

static void test_location_and_prefix(void)
{
	struct err e = ERR_INIT;

	CHECK(!err_isset(&e));
	CHECK_INT(err_setat(&e, "config/deploy.yml", 12, 3, "%s: expected a duration, got \"%s\"",
			    "proxy.healthcheck.interval", "fast"),
		  -1);
	CHECK(err_isset(&e));
	CHECK_STR(err_str(&e), "config/deploy.yml:12:3: proxy.healthcheck.interval: expected a "
			       "duration, got \"fast\"");
	err_set(&e, "connection refused");
	err_prefix(&e, "host '%s'", "web-1");
	CHECK_STR(err_str(&e), "host 'web-1': connection refused");
	err_setat(&e, "f", 2, 0, "x");
	CHECK_STR(err_str(&e), "f:2: x");
	err_release(&e);
	CHECK(!err_isset(&e));
	CHECK_INT(err_set(NULL, "ignored"), -1);
}

int main(void)
{
	UNIT_RUN(test_location_and_prefix);
	return unit_done();
}
