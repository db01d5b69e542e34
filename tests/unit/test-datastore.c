/* Tests for daemon/datastore.c: the records of berthd's datastores. */
#include <stdlib.h>
#include <string.h>

#include "daemon/datastore.h"
#include "daemon/store.h"
#include "lib/run.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-datastore-XXXXXX";

static void test_add_get_list_remove(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct datastore d = {0};
	struct strvec names = STRVEC_INIT;

	CHECK(store_open(&s, dir, &e) == 0);
	/* a store without the tables reads as one without datastores */
	CHECK(datastore_get(&s, "postgres", "db", &d, &e) == 0);
	CHECK(datastore_list(&s, "postgres", &names, &e) == 0);
	CHECK_INT(names.nr, 0);
	CHECK(datastore_add(&s, "postgres", "db", "postgres:16", "pw1", &e) == 0);
	CHECK(datastore_add(&s, "postgres", "api", "postgres:15", "pw2", &e) == 0);
	CHECK(datastore_add(&s, "redis", "db", "redis:7", "pw3", &e) == 0);
	CHECK(datastore_add(&s, "postgres", "db", "other", "pw4", &e) < 0);
	CHECK_STR(err_str(&e), "postgres service 'db' already exists");
	CHECK(datastore_get(&s, "postgres", "db", &d, &e) == 1);
	CHECK_STR(d.kind, "postgres");
	CHECK_STR(d.name, "db");
	CHECK_STR(d.image, "postgres:16");
	CHECK_STR(d.password, "pw1");
	CHECK(d.created > 0);
	datastore_release(&d);
	CHECK(datastore_get(&s, "redis", "db", NULL, &e) == 1);
	CHECK(datastore_list(&s, "postgres", &names, &e) == 0);
	CHECK_INT(names.nr, 2);
	CHECK_STR(names.v[0], "api");
	CHECK_STR(names.v[1], "db");
	strvec_clear(&names);
	CHECK(datastore_remove(&s, "postgres", "db", &e) == 0);
	CHECK(datastore_get(&s, "postgres", "db", NULL, &e) == 0);
	CHECK(datastore_get(&s, "redis", "db", NULL, &e) == 1);
	store_close(&s);
	err_release(&e);
}

static void test_links(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct strvec apps = STRVEC_INIT;

	CHECK(store_open(&s, dir, &e) == 0);
	CHECK(datastore_add(&s, "postgres", "links", "postgres:16", "pw", &e) == 0);
	CHECK_INT(datastore_link(&s, "postgres", "links", "web", &e), 1);
	CHECK_INT(datastore_link(&s, "postgres", "links", "web", &e), 0);
	CHECK_INT(datastore_link(&s, "postgres", "links", "api", &e), 1);
	CHECK(datastore_links(&s, "postgres", "links", &apps, &e) == 0);
	CHECK_INT(apps.nr, 2);
	CHECK_STR(apps.v[0], "api");
	CHECK_STR(apps.v[1], "web");
	strvec_clear(&apps);
	CHECK_INT(datastore_unlink(&s, "postgres", "links", "api", &e), 1);
	CHECK_INT(datastore_unlink(&s, "postgres", "links", "api", &e), 0);
	/* removing the service takes its links */
	CHECK(datastore_remove(&s, "postgres", "links", &e) == 0);
	CHECK(datastore_add(&s, "postgres", "links", "postgres:16", "pw", &e) == 0);
	CHECK(datastore_links(&s, "postgres", "links", &apps, &e) == 0);
	CHECK_INT(apps.nr, 0);
	store_close(&s);
	err_release(&e);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_add_get_list_remove);
	UNIT_RUN(test_links);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
