#include "lib/sbuf.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

static void test_empty_is_terminated(void)
{
	struct sbuf sb = SBUF_INIT;

	CHECK(sb.buf != NULL);
	CHECK_INT(sb.len, 0);
	CHECK_STR(sb.buf, "");
	sbuf_release(&sb);
	CHECK_STR(sb.buf, "");
}

static void test_add_and_grow(void)
{
	struct sbuf sb = SBUF_INIT;
	int i;

	for (i = 0; i < 1000; i++) {
		sbuf_addch(&sb, 'a' + i % 26);
	}
	CHECK_INT(sb.len, 1000);
	CHECK_INT(sb.buf[1000], 0);
	CHECK(sb.alloc > 1000);
	sbuf_reset(&sb);
	sbuf_addstr(&sb, "host");
	sbuf_addf(&sb, ":%d/%s", 22, "x");
	CHECK_STR(sb.buf, "host:22/x");
	sbuf_add(&sb, "\0z", 2);
	CHECK_INT(sb.len, 11);
	sbuf_release(&sb);
}

static void test_addf_long(void)
{
	struct sbuf sb = SBUF_INIT;
	char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	sbuf_addf(&sb, "<%s>", big);
	CHECK_INT(sb.len, 5001);
	CHECK_INT(sb.buf[0], '<');
	CHECK_INT(sb.buf[5000], '>');
	sbuf_release(&sb);
}

static void test_detach(void)
{
	struct sbuf sb = SBUF_INIT;
	size_t len;
	char *s;

	s = sbuf_detach(&sb, &len);
	CHECK_STR(s, "");
	CHECK_INT(len, 0);
	free(s);
	sbuf_addstr(&sb, "abc");
	s = sbuf_detach(&sb, &len);
	CHECK_STR(s, "abc");
	CHECK_INT(len, 3);
	CHECK_STR(sb.buf, "");
	free(s);
}

static void test_trim(void)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addstr(&sb, " \t hello world \n\n");
	sbuf_trim(&sb);
	CHECK_STR(sb.buf, "hello world");
	CHECK_INT(sb.len, 11);
	sbuf_reset(&sb);
	sbuf_addstr(&sb, "   ");
	sbuf_trim(&sb);
	CHECK_INT(sb.len, 0);
	sbuf_release(&sb);
}

static void test_json_escape(void)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_add_json_escaped(&sb, "a\"b\\c\n\x01\x7f", 8);
	CHECK_STR(sb.buf, "a\\\"b\\\\c\\n\\u0001\\u007f");
	sbuf_release(&sb);
}

static void test_read_file(void)
{
	struct sbuf sb = SBUF_INIT;
	char path[] = "/tmp/berth-unit-sbuf-XXXXXX";
	int fd = mkstemp(path);
	char data[20000];

	memset(data, 'x', sizeof(data));
	CHECK(fd >= 0);
	CHECK(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
	close(fd);
	CHECK_INT(sbuf_read_file(&sb, path), 0);
	CHECK_INT(sb.len, sizeof(data));
	unlink(path);
	CHECK_INT(sbuf_read_file(&sb, path), -1);
	CHECK_INT(sb.len, sizeof(data));
	sbuf_release(&sb);
}

int main(void)
{
	UNIT_RUN(test_empty_is_terminated);
	UNIT_RUN(test_add_and_grow);
	UNIT_RUN(test_addf_long);
	UNIT_RUN(test_detach);
	UNIT_RUN(test_trim);
	UNIT_RUN(test_json_escape);
	UNIT_RUN(test_read_file);
	return unit_done();
}
