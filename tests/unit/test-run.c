#include "lib/run.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
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

/* Reads exactly n bytes from a non-blocking fd within ms; returns how many came. */
static size_t read_exact(int fd, char *buf, size_t n, int ms)
{
	unsigned long long deadline = run_now_ms() + (unsigned)ms;
	size_t got = 0;

	while (got < n) {
		unsigned long long now = run_now_ms();
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0) {
			break;
		}
		r = read(fd, buf + got, n - got);
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		got += (size_t)r;
	}
	return got;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		struct pollfd pf = {fd, POLLOUT, 0};
		ssize_t r = write(fd, p, n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
			poll(&pf, 1, 1000);
			continue;
		}
		if (r <= 0) {
			return false;
		}
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static void test_start_talk_finish(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	char buf[16] = {0};
	int to, from;

	argv_of(&c, (const char *[]){"sh", "-c", "echo starting >&2; exec cat", NULL});
	c.timeout_ms = 5000;
	CHECK_INT(run_start(&c, &to, &from), 0);
	CHECK(to >= 0 && from >= 0);
	CHECK(write_all(to, "ping\n", 5));
	CHECK_INT(read_exact(from, buf, 5, 5000), 5);
	CHECK_STR(buf, "ping\n");
	CHECK(write_all(to, "pong\n", 5));
	CHECK_INT(read_exact(from, buf, 5, 5000), 5);
	CHECK_STR(buf, "pong\n");
	/* cat sees end of file on stdin and exits 0 */
	CHECK_INT(run_finish(&c), 0);
	CHECK_INT(c.status, 0);
	CHECK(!c.timed_out);
	CHECK_STR(c.errbuf.buf, "starting\n");
	CHECK_INT(c.fd_in, -1);
	CHECK_INT(c.fd_out, -1);
	/* a second finish only says the same */
	CHECK_INT(run_finish(&c), 0);
	run_cmd_release(&c);
}

static void test_start_stderr_never_blocks(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	char buf[8] = {0};
	int to, from;

	/* 1 MB on stderr before a word on stdout: only a reader of stderr lets it through */
	argv_of(&c, (const char *[]){"sh", "-c",
				     "head -c 1000000 /dev/zero | tr '\\0' x >&2; echo tail >&2; "
				     "echo done; cat >/dev/null",
				     NULL});
	c.capture_max = 1000;
	c.timeout_ms = 5000;
	CHECK_INT(run_start(&c, &to, &from), 0);
	CHECK_INT(read_exact(from, buf, 5, 10000), 5);
	CHECK_STR(buf, "done\n");
	CHECK_INT(run_finish(&c), 0);
	/* the newest bytes are kept */
	CHECK_INT(c.errbuf.len, 1000);
	CHECK(c.truncated);
	CHECK(c.errbuf.len >= 5 && !strcmp(c.errbuf.buf + c.errbuf.len - 5, "tail\n"));
	run_cmd_release(&c);
}

static void test_finish_ends_a_child_that_stays(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf why = SBUF_INIT;
	int to, from;

	/* it never reads stdin: closing it does not end it */
	argv_of(&c, (const char *[]){"sleep", "30", NULL});
	c.timeout_ms = 200;
	CHECK_INT(run_start(&c, &to, &from), 0);
	CHECK_INT(run_finish(&c), -1);
	CHECK(c.timed_out);
	CHECK_INT(c.status, 128 + 15);
	CHECK(c.elapsed_ms < 2000);
	run_describe_status(&c, &why);
	CHECK_STR(why.buf, "timed out after 200 ms");
	sbuf_release(&why);
	run_cmd_release(&c);
}

static void test_start_missing_program(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	int to = 5, from = 5;

	argv_of(&c, (const char *[]){"berth-no-such-program", NULL});
	CHECK_INT(run_start(&c, &to, &from), -1);
	CHECK_INT(to, -1);
	CHECK_INT(from, -1);
	CHECK_INT(c.status, 127);
	CHECK(!c.started);
	CHECK(strstr(c.errbuf.buf, "berth-no-such-program") != NULL);
	CHECK_INT(run_finish(&c), -1);
	run_cmd_release(&c);
}

static void test_path_search_and_env_in_parent(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	char dir[] = "/tmp/berth-unit-path-XXXXXX";
	struct sbuf prog = SBUF_INIT;
	FILE *f;

	/* a program found through the PATH the command itself sets, and a script without #! */
	CHECK(mkdtemp(dir) != NULL);
	sbuf_addf(&prog, "%s/berth-unit-prog", dir);
	f = fopen(prog.buf, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("echo \"script $1 $BERTH_UNIT_X\"\n", f);
		fclose(f);
	}
	CHECK(chmod(prog.buf, 0755) == 0);
	argv_of(&c, (const char *[]){"berth-unit-prog", "arg", NULL});
	strvec_pushf(&c.env, "PATH=/nonexistent:%s:/usr/bin:/bin", dir);
	strvec_push(&c.env, "BERTH_UNIT_X=1");
	strvec_push(&c.env, "BERTH_UNIT_X"); /* later entries win: unset */
	strvec_push(&c.env, "BERTH_UNIT_X=2");
	c.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), 0);
	CHECK_STR(c.outbuf.buf, "script arg 2\n");
	run_cmd_release(&c);

	/* not executable: EACCES, as execvp says */
	CHECK(chmod(prog.buf, 0644) == 0);
	argv_of(&c, (const char *[]){"berth-unit-prog", NULL});
	strvec_pushf(&c.env, "PATH=%s", dir);
	c.err = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), -1);
	CHECK_INT(c.status, 127);
	CHECK(strstr(c.errbuf.buf, "Permission denied") != NULL);
	run_cmd_release(&c);
	unlink(prog.buf);
	rmdir(dir);
	sbuf_release(&prog);
}

/* "pipe:[N]" of one of our fds. */
static void fd_identity(int fd, char *out, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

static int count_lines(const char *text, const char *line)
{
	size_t n = strlen(line);
	int count = 0;
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n') {
			count++;
		}
		p += n;
	}
	return count;
}

static void test_children_inherit_no_pipe_ends(void)
{
	struct run_cmd a = RUN_CMD_INIT, b = RUN_CMD_INIT;
	char to_id[64], from_id[64];
	const char *list = "for f in /proc/$$/fd/*; do readlink \"$f\"; done; true";
	char buf[4096] = {0};
	int to, from;

	argv_of(&a, (const char *[]){"sh", "-c",
				     "for f in /proc/$$/fd/*; do readlink \"$f\"; done; "
				     "echo end; exec cat >/dev/null",
				     NULL});
	a.timeout_ms = 5000;
	CHECK_INT(run_start(&a, &to, &from), 0);
	fd_identity(to, to_id, sizeof(to_id));
	fd_identity(from, from_id, sizeof(from_id));
	read_exact(from, buf, sizeof(buf) - 1, 1000);
	/* the child has its stdin's read end and stdout's write end, and not ours */
	CHECK_INT(count_lines(buf, to_id), 1);
	CHECK_INT(count_lines(buf, from_id), 1);

	/* another child, started while a's pipes are open, has none of them */
	argv_of(&b, (const char *[]){"sh", "-c", list, NULL});
	b.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&b), 0);
	CHECK_INT(count_lines(b.outbuf.buf, to_id), 0);
	CHECK_INT(count_lines(b.outbuf.buf, from_id), 0);
	CHECK_INT(run_finish(&a), 0);
	CHECK(!a.timed_out);
	run_cmd_release(&a);
	run_cmd_release(&b);
}

/*
 * Many threads start commands at once, each holding a long-lived child open
 * meanwhile. Were a pipe end inherited by another thread's child, a cat would
 * never see the end of its stdin and its finish would time out.
 */
enum { THREADS = 12, ROUNDS = 15 };

struct worker {
	int n;
	int failures;
	pthread_t th;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run_cmd keep = RUN_CMD_INIT;
	char payload[70000], want[64], got[64];
	int to, from, r;

	memset(payload, 'a' + w->n, sizeof(payload));
	argv_of(&keep, (const char *[]){"cat", NULL});
	keep.timeout_ms = 10000;
	if (run_start(&keep, &to, &from) < 0) {
		w->failures++;
		return NULL;
	}
	for (r = 0; r < ROUNDS; r++) {
		struct run_cmd c = RUN_CMD_INIT, s = RUN_CMD_INIT;
		int sto, sfrom;

		/* stdin from memory, bigger than a pipe's buffer */
		argv_of(&c, (const char *[]){"cat", NULL});
		c.in_mem = slice_make(payload, sizeof(payload));
		c.out = RUN_IO_CAPTURE;
		c.timeout_ms = 20000;
		if (run_one(&c) < 0 || c.outbuf.len != sizeof(payload) ||
		    memcmp(c.outbuf.buf, payload, sizeof(payload))) {
			w->failures++;
		}
		run_cmd_release(&c);

		/* the environment of this command only */
		argv_of(&c, (const char *[]){"sh", "-c", "printf %s \"$BERTH_T\"", NULL});
		strvec_pushf(&c.env, "BERTH_T=%d-%d", w->n, r);
		c.out = RUN_IO_CAPTURE;
		snprintf(want, sizeof(want), "%d-%d", w->n, r);
		if (run_one(&c) < 0 || strcmp(c.outbuf.buf, want)) {
			w->failures++;
		}
		run_cmd_release(&c);

		/* a short session of our own */
		argv_of(&s, (const char *[]){"cat", NULL});
		s.timeout_ms = 10000;
		if (run_start(&s, &sto, &sfrom) < 0) {
			w->failures++;
			continue;
		}
		memset(got, 0, sizeof(got));
		if (!write_all(sto, want, strlen(want)) ||
		    read_exact(sfrom, got, strlen(want), 10000) != strlen(want) ||
		    strcmp(got, want)) {
			w->failures++;
		}
		if (run_finish(&s) < 0 || s.timed_out) {
			w->failures++;
		}
		run_cmd_release(&s);

		/* and the long one still answers */
		memset(got, 0, sizeof(got));
		if (!write_all(to, want, strlen(want)) ||
		    read_exact(from, got, strlen(want), 10000) != strlen(want) ||
		    strcmp(got, want)) {
			w->failures++;
		}
	}
	if (run_finish(&keep) < 0 || keep.timed_out) {
		w->failures++;
	}
	run_cmd_release(&keep);
	return NULL;
}

static void test_many_threads_at_once(void)
{
	struct worker w[THREADS];
	unsigned long long start = run_now_ms();
	int i;

	for (i = 0; i < THREADS; i++) {
		w[i].n = i;
		w[i].failures = 0;
		CHECK(pthread_create(&w[i].th, NULL, worker_main, &w[i]) == 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].failures) {
			printf("#   thread %d: %d failures\n", i, w[i].failures);
		}
		CHECK_INT(w[i].failures, 0);
	}
	printf("#   %d threads x %d rounds in %llu ms\n", THREADS, ROUNDS, run_now_ms() - start);
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
	/* a hang (a pipe end held by the wrong child) fails the run instead of stalling it */
	alarm(120);
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
	UNIT_RUN(test_start_talk_finish);
	UNIT_RUN(test_start_stderr_never_blocks);
	UNIT_RUN(test_finish_ends_a_child_that_stays);
	UNIT_RUN(test_start_missing_program);
	UNIT_RUN(test_path_search_and_env_in_parent);
	UNIT_RUN(test_children_inherit_no_pipe_ends);
	UNIT_RUN(test_many_threads_at_once);
	return unit_done();
}
