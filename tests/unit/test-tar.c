#include "lib/tar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

/* The archive is what GNU tar reads back: names, modes and bytes. */
static void test_roundtrip(void)
{
	struct sbuf t = SBUF_INIT, big = SBUF_INIT;
	char dir[] = "/tmp/berth-unit-tar-XXXXXX", cmd[256], buf[64];
	FILE *f;
	size_t i;

	CHECK_INT(tar_add_dir(&t, "pages", 0755), 0);
	CHECK_INT(tar_add_dir(&t, "pages/svc", 0755), 0);
	CHECK_INT(tar_add_file(&t, "pages/svc/503.html", "<p>down</p>\n", 12, 0644), 0);
	for (i = 0; i < 1000; i++) {
		sbuf_addch(&big, (char)('a' + i % 26));
	}
	CHECK_INT(tar_add_file(&t, "pages/svc/500.html", big.buf, big.len, 0600), 0);
	CHECK_INT(tar_add_file(&t, "pages/empty", "", 0, 0644), 0);
	CHECK_INT(tar_add_file(&t, "", "x", 1, 0644), -1);
	{
		char longname[TAR_NAME_MAX + 2];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		CHECK_INT(tar_add_dir(&t, longname, 0755), -1);
	}
	tar_finish(&t);
	CHECK_INT(t.len % 512, 0);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(cmd, sizeof(cmd), "%s/a.tar", dir);
	f = fopen(cmd, "wb");
	CHECK(f && fwrite(t.buf, 1, t.len, f) == t.len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && tar -xf a.tar", dir);
	CHECK_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/pages/svc/503.html", dir);
	f = fopen(cmd, "rb");
	CHECK(f != NULL);
	memset(buf, 0, sizeof(buf));
	CHECK_INT(fread(buf, 1, sizeof(buf), f), 12);
	CHECK_STR(buf, "<p>down</p>\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "test \"$(stat -c %%a %s/pages/svc/500.html)\" = 600 && "
		 "test \"$(wc -c <%s/pages/svc/500.html)\" = 1000 && "
		 "test -f %s/pages/empty",
		 dir, dir, dir);
	CHECK_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	sbuf_release(&t);
	sbuf_release(&big);
}

int main(void)
{
	UNIT_RUN(test_roundtrip);
	return unit_done();
}
