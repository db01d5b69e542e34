#include "lib/run.h"

#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

static void argv_of(struct run_cmd *c, const char *const *v)
{
	strvec_pushv(&c->argv, v);
}

static void test_capture_and_status(void)
{
	struct run_cmd c = RUN_CMD_INIT;

	argv_of(&c, (const char *[]){"sh", "-c", "echo out; echo err >&2; exit 3", NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), -1);
	CHECK_INT(c.status, 3);
	CHECK_STR(c.outbuf.buf, "out\n");
	CHECK_STR(c.errbuf.buf, "err\n");
	run_cmd_release(&c);
}

static void test_capture_max_stops_a_flood(void)
{
	struct run_cmd c = RUN_CMD_INIT;

	argv_of(&c, (const char *[]){"yes", NULL});
	c.out = RUN_IO_CAPTURE;
	c.capture_max = 1000;
	c.timeout_ms = 60000; /* only a safety net: the closed pipe ends it */
	CHECK_INT(run_one(&c), -1);
	CHECK(c.truncated);
	CHECK(!c.timed_out);
	CHECK_INT(c.outbuf.len, 1000);
	CHECK_INT(c.status, 128 + 13); /* SIGPIPE */
	run_cmd_release(&c);

	argv_of(&c, (const char *[]){"echo", "short", NULL});
	c.out = RUN_IO_CAPTURE;
	c.capture_max = 1000;
	CHECK_INT(run_one(&c), 0);
	CHECK(!c.truncated);
	CHECK_STR(c.outbuf.buf, "short\n");
	run_cmd_release(&c);
}

static void test_stdin_from_memory_is_exact(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	size_t n = 3 * 1024 * 1024, i;
	char *data = malloc(n);

	/* bigger than a pipe buffer, with NUL bytes: fed while output is read */
	for (i = 0; i < n; i++) {
		data[i] = (char)(i * 7);
	}
	argv_of(&c, (const char *[]){"cat", NULL});
	c.in_mem = slice_make(data, n);
	c.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), 0);
	CHECK_INT(c.outbuf.len, n);
	CHECK(c.outbuf.len == n && !memcmp(c.outbuf.buf, data, n));
	run_cmd_release(&c);
	free(data);
}

static void test_stdin_from_file_and_env_and_dir(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	char path[] = "/tmp/berth-unit-run-XXXXXX";
	int fd = mkstemp(path);

	CHECK(write(fd, "from file\n", 10) == 10);
	close(fd);
	setenv("BERTH_UNIT_GONE", "x", 1);
	argv_of(&c, (const char *[]){"sh", "-c",
				     "cat; echo \"$BERTH_UNIT_A|${BERTH_UNIT_GONE-unset}\"; pwd",
				     NULL});
	strvec_push(&c.env, "BERTH_UNIT_A=a b");
	strvec_push(&c.env, "BERTH_UNIT_GONE");
	c.in_file = path;
	c.dir = "/";
	c.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), 0);
	CHECK_STR(c.outbuf.buf, "from file\na b|unset\n/\n");
	unlink(path);
	run_cmd_release(&c);
}

static void test_missing_program(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf why = SBUF_INIT;

	argv_of(&c, (const char *[]){"berth-no-such-program", NULL});
	c.err = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), -1);
	CHECK_INT(c.status, 127);
	run_describe_status(&c, &why);
	CHECK(strstr(why.buf, "No such file") != NULL);
	sbuf_release(&why);
	run_cmd_release(&c);
}

static void test_timeout_kills_group(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf why = SBUF_INIT;

	/* the grandchild holds stdout open: the whole group must go */
	argv_of(&c, (const char *[]){"sh", "-c", "sleep 30 & sleep 30; echo never", NULL});
	c.out = RUN_IO_CAPTURE;
	c.timeout_ms = 300;
	CHECK_INT(run_one(&c), -1);
	CHECK(c.timed_out);
	CHECK_STR(c.outbuf.buf, "");
	run_describe_status(&c, &why);
	CHECK_STR(why.buf, "timed out after 300 ms");
	sbuf_release(&why);
	run_cmd_release(&c);
}

struct lines {
	struct sbuf got;
};

static void on_line(struct run_cmd *cmd, int fd, struct slice line, void *data)
{
	struct lines *l = data;

	sbuf_addf(&l->got, "%s%d:", cmd->prefix, fd);
	sbuf_add(&l->got, line.ptr, line.len);
	sbuf_addch(&l->got, '\n');
}

static void test_stream_lines_with_prefix(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct lines l = {SBUF_INIT};

	argv_of(&c, (const char *[]){"sh", "-c", "printf 'a\\nb'; printf 'c\\r\\n' >&2", NULL});
	c.out = RUN_IO_STREAM | RUN_IO_CAPTURE;
	c.err = RUN_IO_STREAM;
	c.prefix = "[h1] ";
	c.on_line = on_line;
	c.on_line_data = &l;
	CHECK_INT(run_one(&c), 0);
	/* stdout and stderr interleave by arrival; check each line is whole */
	CHECK(strstr(l.got.buf, "[h1] 1:a\n") != NULL);
	CHECK(strstr(l.got.buf, "[h1] 1:b\n") != NULL);
	CHECK(strstr(l.got.buf, "[h1] 2:c\n") != NULL);
	CHECK_STR(c.outbuf.buf, "a\nb");
	sbuf_release(&l.got);
	run_cmd_release(&c);
}

static void test_parallel_bound(void)
{
	enum { N = 6 };
	struct run_cmd cs[N], *p[N];
	char dir[] = "/tmp/berth-unit-par-XXXXXX";
	int i;

	CHECK(mkdtemp(dir) != NULL);
	/* each child records how many are running at once in a shared dir */
	for (i = 0; i < N; i++) {
		run_cmd_init(&cs[i]);
		p[i] = &cs[i];
		strvec_pushv(
		    &cs[i].argv,
		    (const char *[]){"sh", "-c",
				     "touch \"$D/$I\"; ls \"$D\" | wc -l; sleep 0.2; rm \"$D/$I\"",
				     NULL});
		strvec_pushf(&cs[i].env, "D=%s", dir);
		strvec_pushf(&cs[i].env, "I=%d", i);
		cs[i].out = RUN_IO_CAPTURE;
	}
	CHECK_INT(run_all(p, N, 2), 0);
	for (i = 0; i < N; i++) {
		CHECK_INT(cs[i].status, 0);
		CHECK(atoi(cs[i].outbuf.buf) >= 1 && atoi(cs[i].outbuf.buf) <= 2);
		run_cmd_release(&cs[i]);
	}
	rmdir(dir);
}

static void test_parallel_all_at_once(void)
{
	enum { N = 4 };
	struct run_cmd cs[N], *p[N];
	char dir[] = "/tmp/berth-unit-par-XXXXXX";
	int i, most = 0;

	CHECK(mkdtemp(dir) != NULL);
	/* with no bound all four run at once: the last to start sees all four */
	for (i = 0; i < N; i++) {
		run_cmd_init(&cs[i]);
		p[i] = &cs[i];
		strvec_pushv(&cs[i].argv,
			     (const char *[]){
				 "sh", "-c",
				 "touch \"$D/$I\"; sleep 0.5; ls \"$D\" | wc -l; exit $X", NULL});
		strvec_pushf(&cs[i].env, "D=%s", dir);
		strvec_pushf(&cs[i].env, "I=%d", i);
		strvec_pushf(&cs[i].env, "X=%d", i == 2 ? 5 : 0);
		cs[i].out = RUN_IO_CAPTURE;
	}
	CHECK_INT(run_all(p, N, 0), -1);
	CHECK_INT(cs[2].status, 5);
	CHECK_INT(cs[1].status, 0);
	for (i = 0; i < N; i++) {
		if (atoi(cs[i].outbuf.buf) > most) {
			most = atoi(cs[i].outbuf.buf);
		}
		run_cmd_release(&cs[i]);
	}
	CHECK_INT(most, N);
	for (i = 0; i < N; i++) {
		char f[64];
		snprintf(f, sizeof(f), "%s/%d", dir, i);
		unlink(f);
	}
	rmdir(dir);
}

static void test_tail_lines(void)
{
	struct sbuf sb = SBUF_INIT;
	struct slice t;

	sbuf_addstr(&sb, "1\n2\n3\n4\n\n");
	t = run_tail_lines(&sb, 2);
	CHECK(slice_eq_cstr(t, "3\n4"));
	t = run_tail_lines(&sb, 10);
	CHECK(slice_eq_cstr(t, "1\n2\n3\n4"));
	sbuf_release(&sb);
}

int main(void)
{
	UNIT_RUN(test_capture_and_status);
	UNIT_RUN(test_capture_max_stops_a_flood);
	UNIT_RUN(test_stdin_from_memory_is_exact);
	UNIT_RUN(test_stdin_from_file_and_env_and_dir);
	UNIT_RUN(test_missing_program);
	UNIT_RUN(test_timeout_kills_group);
	UNIT_RUN(test_stream_lines_with_prefix);
	UNIT_RUN(test_parallel_bound);
	UNIT_RUN(test_parallel_all_at_once);
	UNIT_RUN(test_tail_lines);
	return unit_done();
}
