/*
 * engine/sftp against OpenSSH's real sftp-server, run locally (EXEC_LOCAL)
 * in a temporary directory that stands for the home; and against small
 * fake servers (sh and printf) for what a real one does not do: die in the
 * middle of a request, hang, print text, answer the wrong request.
 */
#include "engine/sftp.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <utime.h>

#include "lib/xalloc.h"
#include "unit.h"

static char dir[] = "/tmp/berth-unit-sftp-XXXXXX";
static struct exec ex;

static bool have_server(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	int ok = exec_prepare_subsystem(&ex, "local", "sftp", &c, NULL);

	run_cmd_release(&c);
	return ok == 0;
}

static void local_path(struct sbuf *sb, const char *name)
{
	sbuf_reset(sb);
	sbuf_addf(sb, "%s/%s", dir, name);
}

static void put_local(const char *name, const char *text, mode_t mode)
{
	struct sbuf p = SBUF_INIT;
	FILE *f;

	local_path(&p, name);
	f = fopen(p.buf, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(p.buf, mode);
	sbuf_release(&p);
}

static void get_local(const char *name, struct sbuf *out)
{
	struct sbuf p = SBUF_INIT;

	sbuf_reset(out);
	local_path(&p, name);
	if (sbuf_read_file(out, p.buf) < 0) {
		sbuf_addstr(out, "(missing)");
	}
	sbuf_release(&p);
}

static unsigned local_mode(const char *name)
{
	struct sbuf p = SBUF_INIT;
	struct stat st;
	unsigned m;

	local_path(&p, name);
	m = lstat(p.buf, &st) == 0 ? (unsigned)st.st_mode : 0;
	sbuf_release(&p);
	return m;
}

/* How many temporaries (".NAME.RANDOM.tmp") the directory has. */
static int hidden_entries(const char *sub)
{
	struct sbuf p = SBUF_INIT;
	struct dirent *d;
	DIR *dd;
	int n = 0;

	local_path(&p, sub);
	dd = opendir(p.buf);
	while (dd && (d = readdir(dd)) != NULL) {
		size_t len = strlen(d->d_name);
		if (d->d_name[0] == '.' && len > 4 && !strcmp(d->d_name + len - 4, ".tmp")) {
			n++;
		}
	}
	if (dd) {
		closedir(dd);
	}
	sbuf_release(&p);
	return n;
}

static bool open_session(struct sftp *s)
{
	struct err e = ERR_INIT;
	int r = sftp_open(s, &ex, "local", &e);

	if (r < 0) {
		printf("#   sftp_open: %s\n", err_str(&e));
	}
	CHECK_INT(r, 0);
	err_release(&e);
	return r == 0;
}

/* statvfs@openssh.com gives what statvfs(3) gives here; /proc files read whole */
static void test_statvfs_and_proc(void)
{
	struct sftp s;
	struct sftp_fs fs;
	struct statvfs want;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	if (!open_session(&s)) {
		return;
	}
	CHECK(s.exts & SFTP_EXT_STATVFS);
	CHECK_INT(sftp_statvfs(&s, ".", &fs, &e), 0);
	CHECK_INT(statvfs(dir, &want), 0);
	CHECK(fs.size == (uint64_t)want.f_blocks * want.f_frsize);
	CHECK(fs.avail > 0 && fs.avail <= fs.size);
	CHECK_INT(sftp_statvfs(&s, "nothing/here", &fs, &e), SFTP_NOENT);
	/* a /proc file says its size is 0, and is read to its end all the same */
	CHECK_INT(sftp_read_file(&s, "/proc/meminfo", 1 << 16, &out, &e), 0);
	CHECK(strstr(out.buf, "MemAvailable:") != NULL);
	sftp_close(&s);
	sbuf_release(&out);
	err_release(&e);
}

static void test_handshake_and_realpath(void)
{
	struct sftp s;
	struct sbuf home = SBUF_INIT;
	struct err e = ERR_INIT;
	char want[PATH_MAX];

	if (!open_session(&s)) {
		return;
	}
	CHECK_INT(s.version, 3);
	CHECK(s.exts & SFTP_EXT_POSIX_RENAME);
	CHECK(s.exts & SFTP_EXT_FSYNC);
	/* the home: where the server started, as an absolute path */
	CHECK(realpath(dir, want) != NULL);
	CHECK_INT(sftp_realpath(&s, ".", &home, &e), 0);
	CHECK_STR(home.buf, want);
	CHECK_INT(sftp_mkdir(&s, "sub", 0, &e), 0);
	CHECK_INT(sftp_realpath(&s, "sub/..//.", &home, &e), 0);
	CHECK_STR(home.buf, want);
	CHECK_INT(sftp_realpath(&s, "nothing/..", &home, &e), SFTP_NOENT);
	sftp_close(&s);
	sbuf_release(&home);
	err_release(&e);
}

static void test_mkdir_is_exclusive(void)
{
	struct sftp s;
	struct sftp_attrs a;
	struct err e = ERR_INIT;

	if (!open_session(&s)) {
		return;
	}
	CHECK_INT(sftp_mkdir(&s, "lock", 0700, &e), 0);
	/* the second one is told, in words too */
	CHECK_INT(sftp_mkdir(&s, "lock", 0700, &e), SFTP_EXISTS);
	CHECK_STR(err_str(&e), "sftp mkdir lock: File exists");
	/* a file in the way is "exists" too */
	put_local("plain", "x", 0600);
	CHECK_INT(sftp_mkdir(&s, "plain", 0700, &e), SFTP_EXISTS);
	CHECK_INT(sftp_stat(&s, "lock", &a, &e), 0);
	CHECK(S_ISDIR(a.mode));
	CHECK_INT(a.mode & 07777, 0700);
	CHECK_INT(local_mode("lock") & 07777, 0700);
	/* no parent */
	CHECK_INT(sftp_mkdir(&s, "nowhere/lock", 0700, &e), SFTP_NOENT);
	CHECK(strstr(err_str(&e), "sftp mkdir nowhere/lock: ") == err_str(&e));

	CHECK_INT(sftp_rmdir(&s, "lock", &e), 0);
	CHECK_INT(sftp_rmdir(&s, "lock", &e), SFTP_NOENT);
	CHECK_INT(local_mode("lock"), 0);
	sftp_close(&s);
	err_release(&e);
}

static void test_mkdir_p(void)
{
	struct sftp s;
	struct err e = ERR_INIT;

	if (!open_session(&s)) {
		return;
	}
	CHECK_INT(sftp_mkdir_p(&s, ".berth/apps/web", 0, &e), 0);
	CHECK(S_ISDIR(local_mode(".berth/apps/web")));
	CHECK_INT(local_mode(".berth") & 07777, 0700);
	CHECK_INT(sftp_mkdir_p(&s, ".berth/apps/web/", 0, &e), 0);
	CHECK_INT(sftp_mkdir_p(&s, ".berth/apps/web", 0, &e), 0);
	put_local("afile", "x", 0600);
	CHECK_INT(sftp_mkdir_p(&s, "afile", 0, &e), -1);
	CHECK(strstr(err_str(&e), "not a directory") != NULL);
	CHECK_INT(sftp_mkdir_p(&s, "afile/sub", 0, &e), -1);
	/* absolute paths as well */
	{
		struct sbuf p = SBUF_INIT;
		local_path(&p, "abs/x/y");
		CHECK_INT(sftp_mkdir_p(&s, p.buf, 0755, &e), 0);
		CHECK(S_ISDIR(local_mode("abs/x/y")));
		sbuf_release(&p);
	}
	sftp_close(&s);
	err_release(&e);
}

static void test_write_atomically(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sbuf got = SBUF_INIT, p = SBUF_INIT;
	struct stat st1, st2;

	if (!open_session(&s)) {
		return;
	}
	CHECK_INT(sftp_mkdir(&s, "w", 0700, &e), 0);
	CHECK_INT(sftp_write_file(&s, "w/holder.json", "{\"id\":1}\n", 9, 0, SFTP_WRITE_ATOMIC, &e),
		  0);
	get_local("w/holder.json", &got);
	CHECK_STR(got.buf, "{\"id\":1}\n");
	CHECK_INT(local_mode("w/holder.json") & 07777, 0600);
	CHECK(S_ISREG(local_mode("w/holder.json")));
	local_path(&p, "w/holder.json");
	CHECK(stat(p.buf, &st1) == 0);

	/* replaced whole: another inode, renamed over the old one; no temporary left */
	CHECK_INT(sftp_write_file(&s, "w/holder.json", "{\"id\":2}\n", 9, 0, SFTP_WRITE_ATOMIC, &e),
		  0);
	get_local("w/holder.json", &got);
	CHECK_STR(got.buf, "{\"id\":2}\n");
	CHECK(stat(p.buf, &st2) == 0);
	CHECK(st1.st_ino != st2.st_ino);
	CHECK_INT(hidden_entries("w"), 0);

	/* a mode of one's own, and an empty file */
	CHECK_INT(sftp_write_file(&s, "w/env", "", 0, 0640, SFTP_WRITE_ATOMIC, &e), 0);
	CHECK_INT(local_mode("w/env") & 07777, 0640);
	get_local("w/env", &got);
	CHECK_STR(got.buf, "");

	/* a missing directory: nothing written, nothing left */
	CHECK_INT(sftp_write_file(&s, "nodir/f", "x", 1, 0, SFTP_WRITE_ATOMIC, &e), SFTP_NOENT);
	CHECK(strstr(err_str(&e), "sftp write nodir/f: ") == err_str(&e));
	sftp_close(&s);
	sbuf_release(&got);
	sbuf_release(&p);
	err_release(&e);
}

static void test_write_exclusive_and_plain(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sbuf got = SBUF_INIT;

	if (!open_session(&s)) {
		return;
	}
	CHECK_INT(sftp_write_file(&s, "x", "first", 5, 0, SFTP_WRITE_EXCL, &e), 0);
	CHECK_INT(sftp_write_file(&s, "x", "second", 6, 0, SFTP_WRITE_EXCL, &e), SFTP_EXISTS);
	CHECK_STR(err_str(&e), "sftp write x: File exists");
	get_local("x", &got);
	CHECK_STR(got.buf, "first");
	CHECK_INT(local_mode("x") & 07777, 0600);

	/* exclusive and atomic: whole, and never over an existing file */
	CHECK_INT(sftp_write_file(&s, "x", "third", 5, 0, SFTP_WRITE_EXCL | SFTP_WRITE_ATOMIC, &e),
		  SFTP_EXISTS);
	get_local("x", &got);
	CHECK_STR(got.buf, "first");
	CHECK_INT(hidden_entries("."), 0);
	CHECK_INT(sftp_write_file(&s, "y", "fourth", 6, 0, SFTP_WRITE_EXCL | SFTP_WRITE_ATOMIC, &e),
		  0);
	get_local("y", &got);
	CHECK_STR(got.buf, "fourth");

	/* plain: truncates, keeps the file's mode */
	put_local("z", "a long old content", 0640);
	CHECK_INT(sftp_write_file(&s, "z", "short", 5, 0600, 0, &e), 0);
	get_local("z", &got);
	CHECK_STR(got.buf, "short");
	CHECK_INT(local_mode("z") & 07777, 0640);
	sftp_close(&s);
	sbuf_release(&got);
	err_release(&e);
}

static void test_append_twice(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sbuf got = SBUF_INIT;

	if (!open_session(&s)) {
		return;
	}
	CHECK_INT(sftp_append(&s, "audit.log", "one\n", 4, 0, &e), 0);
	CHECK_INT(sftp_append(&s, "audit.log", "two\n", 4, 0, &e), 0);
	get_local("audit.log", &got);
	CHECK_STR(got.buf, "one\ntwo\n");
	CHECK_INT(local_mode("audit.log") & 07777, 0600);
	CHECK_INT(sftp_append(&s, "no/audit.log", "x", 1, 0, &e), SFTP_NOENT);
	sftp_close(&s);
	sbuf_release(&got);
	err_release(&e);
}

static void test_read_with_max(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sbuf got = SBUF_INIT, big = SBUF_INIT, p = SBUF_INIT;
	bool whole = true;
	size_t i;
	FILE *f;

	if (!open_session(&s)) {
		return;
	}
	put_local("ten", "0123456789", 0600);
	CHECK_INT(sftp_read_file(&s, "ten", 10, &got, &e), 0);
	CHECK_STR(got.buf, "0123456789");
	sbuf_reset(&got);
	CHECK_INT(sftp_read_file(&s, "ten", 4, &got, &e), SFTP_TOOBIG);
	CHECK_STR(got.buf, "0123");
	CHECK(strstr(err_str(&e), "more than 4 bytes") != NULL);
	sbuf_reset(&got);
	CHECK_INT(sftp_read_file(&s, "missing", 10, &got, &e), SFTP_NOENT);
	CHECK(strstr(err_str(&e), "sftp read missing: No such file") == err_str(&e));
	CHECK_INT(got.len, 0);

	/* the tail */
	CHECK_INT(sftp_read_tail(&s, "ten", 4, &got, &whole, &e), 0);
	CHECK_STR(got.buf, "6789");
	CHECK(!whole);
	sbuf_reset(&got);
	CHECK_INT(sftp_read_tail(&s, "ten", 100, &got, &whole, &e), 0);
	CHECK_STR(got.buf, "0123456789");
	CHECK(whole);
	sbuf_reset(&got);
	whole = false;
	CHECK_INT(sftp_read_tail(&s, "ten", 10, &got, &whole, &e), 0);
	CHECK_STR(got.buf, "0123456789");
	CHECK(whole);
	sbuf_reset(&got);
	CHECK_INT(sftp_read_tail(&s, "missing", 10, &got, &whole, &e), SFTP_NOENT);
	CHECK(!whole);

	/* bigger than a request's chunk, with every byte value */
	for (i = 0; i < 3 * SFTP_CHUNK + 123; i++) {
		char c = (char)(i * 31 + 7);
		sbuf_add(&big, &c, 1);
	}
	local_path(&p, "big");
	f = fopen(p.buf, "w");
	CHECK(f && fwrite(big.buf, 1, big.len, f) == big.len);
	if (f) {
		fclose(f);
	}
	CHECK_INT(sftp_read_file(&s, "big", 1 << 20, &got, &e), 0);
	CHECK(got.len == big.len && !memcmp(got.buf, big.buf, big.len));
	sbuf_reset(&got);
	CHECK_INT(sftp_read_file(&s, "big", big.len, &got, &e), 0);
	CHECK_INT(got.len, big.len);
	sbuf_reset(&got);
	CHECK_INT(sftp_read_tail(&s, "big", SFTP_CHUNK + 5, &got, &whole, &e), 0);
	CHECK(got.len == SFTP_CHUNK + 5 && !memcmp(got.buf, big.buf + big.len - got.len, got.len));

	/* and written back the same, in chunks */
	CHECK_INT(sftp_write_file(&s, "big2", big.buf, big.len, 0, SFTP_WRITE_ATOMIC, &e), 0);
	get_local("big2", &got);
	CHECK(got.len == big.len && !memcmp(got.buf, big.buf, big.len));
	sftp_close(&s);
	sbuf_release(&got);
	sbuf_release(&big);
	sbuf_release(&p);
	err_release(&e);
}

static void test_stat_and_lstat(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sftp_attrs a;
	struct sbuf p = SBUF_INIT, l = SBUF_INIT;
	struct utimbuf ut = {1234567000, 1234567890};

	if (!open_session(&s)) {
		return;
	}
	put_local("st", "12345", 0640);
	local_path(&p, "st");
	CHECK(utime(p.buf, &ut) == 0);
	CHECK_INT(sftp_stat(&s, "st", &a, &e), 0);
	CHECK(a.flags & SFTP_ATTR_ACMODTIME);
	CHECK_INT(a.mtime, 1234567890);
	CHECK_INT(a.size, 5);
	CHECK_INT(a.uid, getuid());
	CHECK(S_ISREG(a.mode));
	CHECK_INT(a.mode & 07777, 0640);

	local_path(&l, "link");
	CHECK(symlink("st", l.buf) == 0);
	CHECK_INT(sftp_lstat(&s, "link", &a, &e), 0);
	CHECK(S_ISLNK(a.mode));
	CHECK_INT(sftp_stat(&s, "link", &a, &e), 0);
	CHECK(S_ISREG(a.mode));

	/* "no such file" is its own answer, and says so */
	CHECK_INT(sftp_stat(&s, "nothing", &a, &e), SFTP_NOENT);
	CHECK_STR(err_str(&e), "sftp stat nothing: No such file");
	CHECK_INT(sftp_lstat(&s, "nothing/deeper", &a, &e), SFTP_NOENT);
	sftp_close(&s);
	sbuf_release(&p);
	sbuf_release(&l);
	err_release(&e);
}

static void test_rename_and_remove(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sbuf got = SBUF_INIT;

	if (!open_session(&s)) {
		return;
	}
	put_local("old", "new content", 0600);
	put_local("target", "old content", 0600);
	CHECK_INT(sftp_rename(&s, "old", "target", &e), 0);
	get_local("target", &got);
	CHECK_STR(got.buf, "new content");
	CHECK_INT(local_mode("old"), 0);
	CHECK_INT(sftp_rename(&s, "old", "target", &e), SFTP_NOENT);
	CHECK_STR(err_str(&e), "sftp rename old -> target: No such file");

	CHECK_INT(sftp_remove(&s, "target", &e), 0);
	CHECK_INT(local_mode("target"), 0);
	CHECK_INT(sftp_remove(&s, "target", &e), SFTP_NOENT);
	/* not a directory */
	CHECK_INT(sftp_mkdir(&s, "d", 0, &e), 0);
	CHECK_INT(sftp_remove(&s, "d", &e), -1);
	CHECK_STR(err_str(&e), "sftp remove d: Failure: it is a directory");
	CHECK(S_ISDIR(local_mode("d")));
	/* nor a non-empty directory with rmdir, nor a file */
	put_local("d/f", "x", 0600);
	CHECK_INT(sftp_rmdir(&s, "d", &e), -1);
	CHECK_STR(err_str(&e), "sftp rmdir d: Failure: is the directory empty?");
	CHECK(S_ISDIR(local_mode("d")));
	/* OpenSSH's server maps ENOTDIR to "no such file" */
	CHECK_INT(sftp_rmdir(&s, "d/f", &e), SFTP_NOENT);
	CHECK(S_ISREG(local_mode("d/f")));
	sftp_close(&s);
	sbuf_release(&got);
	err_release(&e);
}

/* Several threads share one session: every line whole, none lost. */
enum { THREADS = 8, LINES = 25 };

struct worker {
	struct sftp *s;
	int n, failures;
	pthread_t th;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct err e = ERR_INIT;
	struct sftp_attrs a;
	char line[64], name[32];
	int i;

	for (i = 0; i < LINES; i++) {
		int n = snprintf(line, sizeof(line), "thread %d line %d\n", w->n, i);
		if (sftp_append(w->s, "shared.log", line, (size_t)n, 0, &e) != 0) {
			w->failures++;
		}
		snprintf(name, sizeof(name), "t%d", w->n);
		if (sftp_write_file(w->s, name, line, (size_t)n, 0, SFTP_WRITE_ATOMIC, &e) != 0 ||
		    sftp_stat(w->s, name, &a, &e) != 0 || a.size != (uint64_t)n) {
			w->failures++;
		}
	}
	err_release(&e);
	return NULL;
}

static void test_threads_share_a_session(void)
{
	struct sftp s;
	struct worker w[THREADS];
	struct sbuf got = SBUF_INIT;
	char line[64];
	int i, j;

	if (!open_session(&s)) {
		return;
	}
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){&s, i, 0, 0};
		CHECK(pthread_create(&w[i].th, NULL, worker_main, &w[i]) == 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].th, NULL);
		CHECK_INT(w[i].failures, 0);
	}
	get_local("shared.log", &got);
	for (i = 0; i < THREADS; i++) {
		for (j = 0; j < LINES; j++) {
			snprintf(line, sizeof(line), "thread %d line %d\n", i, j);
			CHECK(strstr(got.buf, line) != NULL);
		}
	}
	CHECK_INT(hidden_entries("."), 0);
	sftp_close(&s);
	sbuf_release(&got);
}

/* ---- servers that misbehave ---- */

/* sh's printf of SSH_FXP_VERSION 3, no extensions; INIT (9 bytes) read first. */
#define FAKE_HELLO "head -c 9 >/dev/null; printf '\\000\\000\\000\\005\\002\\000\\000\\000\\003'; "

static int fake_start(struct sftp *s, const char *script, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;

	strvec_pushv(&c.argv, (const char *[]){"sh", "-c", script, NULL});
	return sftp_start(s, &c, "the fake server", e);
}

static void test_server_dies_mid_request(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sftp_attrs a;
	unsigned long long t0;

	/* it reads the start of the request, says why on stderr, and is gone */
	CHECK_INT(fake_start(&s,
			     FAKE_HELLO "head -c 4 >/dev/null; echo 'server: out of luck' >&2; "
					"exit 3",
			     &e),
		  0);
	CHECK_INT(s.exts, 0);
	t0 = run_now_ms();
	CHECK_INT(sftp_stat(&s, "x", &a, &e), -1);
	CHECK(run_now_ms() - t0 < 5000);
	CHECK(strstr(err_str(&e), "sftp stat x: the session with the fake server ended (exited "
				  "with status 3): server: out of luck") == err_str(&e));
	/* and stays broken: at once, with the same reason */
	CHECK_INT(sftp_mkdir(&s, "y", 0, &e), -1);
	CHECK(strstr(err_str(&e), "sftp mkdir y: the session with the fake server ended") ==
	      err_str(&e));
	sftp_close(&s);

	/* half a reply, then gone */
	CHECK_INT(fake_start(&s,
			     FAKE_HELLO "head -c 4 >/dev/null; printf '\\000\\000\\000\\100\\145'",
			     &e),
		  0);
	CHECK_INT(sftp_stat(&s, "x", &a, &e), -1);
	CHECK(strstr(err_str(&e), "ended") != NULL);
	sftp_close(&s);
	err_release(&e);
}

static void test_real_server_killed(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sftp_attrs a;

	if (!open_session(&s)) {
		return;
	}
	CHECK_INT(sftp_stat(&s, ".", &a, &e), 0);
	kill(s.cmd.pid, SIGKILL);
	CHECK_INT(sftp_stat(&s, ".", &a, &e), -1);
	CHECK(strstr(err_str(&e), "sftp stat .: the session with the local sftp-server ended (was "
				  "killed by signal 9)") == err_str(&e));
	sftp_close(&s);
	err_release(&e);
}

static void test_server_that_hangs(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sftp_attrs a;
	unsigned long long t0;

	CHECK_INT(fake_start(&s, FAKE_HELLO "exec sleep 60", &e), 0);
	s.timeout_ms = 300;
	t0 = run_now_ms();
	CHECK_INT(sftp_stat(&s, "x", &a, &e), -1);
	CHECK_STR(err_str(&e), "sftp stat x: no answer from the fake server within 300 ms");
	/* ended, not waited for */
	CHECK(run_now_ms() - t0 < 3000);
	CHECK(!s.open);
	sftp_close(&s);
	err_release(&e);
}

static void test_server_that_is_not_sftp(void)
{
	struct sftp s;
	struct err e = ERR_INIT;
	struct sftp_attrs a;

	/* a login shell that talks */
	CHECK_INT(fake_start(&s, "echo 'Welcome to web-1!'; cat >/dev/null", &e), -1);
	CHECK(strstr(err_str(&e), "the fake server sent text instead of SFTP (\"Welcome to "
				  "web-1!\\x0a\")") != NULL);
	sftp_close(&s); /* harmless after a failed start */

	/* a packet longer than allowed */
	CHECK_INT(fake_start(&s, "printf '\\000\\100\\000\\000\\002'; cat >/dev/null", &e), -1);
	CHECK(strstr(err_str(&e), "a packet of 4194304 bytes") != NULL);

	/* another version */
	CHECK_INT(
	    fake_start(&s,
		       "head -c 9 >/dev/null; printf '\\000\\000\\000\\005\\002\\000\\000\\000"
		       "\\006'; cat >/dev/null",
		       &e),
	    -1);
	CHECK(strstr(err_str(&e), "speaks SFTP version 6") != NULL);

	/* nothing at all */
	CHECK_INT(fake_start(&s, "exit 0", &e), -1);
	CHECK(strstr(err_str(&e), "ended") != NULL);

	/* the answer to another request */
	CHECK_INT(fake_start(&s,
			     FAKE_HELLO "head -c 10 >/dev/null; printf '\\000\\000\\000\\011\\145"
					"\\000\\000\\000\\143\\000\\000\\000\\000'; cat >/dev/null",
			     &e),
		  0);
	CHECK_INT(sftp_stat(&s, "x", &a, &e), -1);
	CHECK(strstr(err_str(&e), "answered request 99 when 1 was asked") != NULL);
	sftp_close(&s);

	/* a program that is not there */
	{
		struct run_cmd c = RUN_CMD_INIT;
		strvec_push(&c.argv, "/nonexistent/sftp-server");
		CHECK_INT(sftp_start(&s, &c, "nothing", &e), -1);
		CHECK(strstr(err_str(&e), "cannot start nothing") != NULL);
	}
	err_release(&e);
}

/*
 * sftp_open over "ssh": a fake ssh first on PATH plays the client, so that
 * what a real one does on failure (exit 255 and a line on stderr) is seen.
 */
static void fake_ssh(const char *bin, const char *script)
{
	struct sbuf p = SBUF_INIT;
	FILE *f;

	sbuf_addf(&p, "%s/ssh", bin);
	f = fopen(p.buf, "w");
	if (f) {
		fprintf(f, "#!/bin/sh\n%s\n", script);
		fclose(f);
	}
	chmod(p.buf, 0755);
	sbuf_release(&p);
}

static void test_open_over_ssh(void)
{
	struct exec sx;
	struct sftp s;
	struct err e = ERR_INIT;
	struct sbuf bin = SBUF_INIT, path = SBUF_INIT, cm = SBUF_INIT, home = SBUF_INIT;
	const char *old = getenv("PATH");
	struct run_cmd c = RUN_CMD_INIT;
	char want[PATH_MAX];

	sbuf_addf(&bin, "%s/fakebin", dir);
	sbuf_addf(&cm, "%s/cm", dir);
	CHECK(mkdir(bin.buf, 0700) == 0);
	sbuf_addf(&path, "%s:%s", bin.buf, old ? old : "/usr/bin:/bin");
	/* before any thread of this test: run takes the child's PATH from environ */
	setenv("PATH", path.buf, 1);
	exec_init(&sx, EXEC_SSH);
	sx.ssh.control_dir = xstrdup(cm.buf);

	fake_ssh(bin.buf, "echo 'subsystem request failed on channel 0' >&2; exit 255");
	CHECK_INT(sftp_open(&s, &sx, "web-1", &e), -1);
	CHECK(strstr(err_str(&e), "sftp: host 'web-1' has no sftp subsystem") == err_str(&e));
	sftp_close(&s);

	fake_ssh(bin.buf, "echo 'ssh: connect to host web-1 port 22: Connection refused' >&2; "
			  "exit 255");
	CHECK_INT(sftp_open(&s, &sx, "web-1", &e), -1);
	CHECK(strstr(err_str(&e),
		     "host 'web-1': cannot connect over ssh: ssh: connect to host "
		     "web-1 port 22: Connection refused; is sshd running") == err_str(&e));

	/* a login shell that prints before the server starts */
	fake_ssh(bin.buf, "echo 'Last login: yesterday'; exec cat >/dev/null");
	CHECK_INT(sftp_open(&s, &sx, "web-1", &e), -1);
	CHECK(strstr(err_str(&e), "host 'web-1' sent text instead of SFTP (\"Last login: "
				  "yesterday\\x0a\")") != NULL);

	/* one that runs the server when asked for the subsystem, as sshd would */
	CHECK_INT(exec_prepare_subsystem(&ex, "local", "sftp", &c, NULL), 0);
	sbuf_addf(&home,
		  "for a; do last2=$last; last=$a; done; "
		  "[ \"$last2 $last\" = 'web-1 sftp' ] || exit 9; cd '%s' && exec %s",
		  dir, c.argv.v[0]);
	fake_ssh(bin.buf, home.buf);
	CHECK_INT(sftp_open(&s, &sx, "web-1", &e), 0);
	CHECK(realpath(dir, want) != NULL);
	CHECK_INT(sftp_realpath(&s, ".", &home, &e), 0);
	CHECK_STR(home.buf, want);
	sftp_close(&s);

	if (old) {
		setenv("PATH", old, 1);
	}
	exec_release(&sx);
	run_cmd_release(&c);
	sbuf_release(&bin);
	sbuf_release(&path);
	sbuf_release(&cm);
	sbuf_release(&home);
	err_release(&e);
}

/* ---- the parser on its own ---- */

static struct slice bytes(const char *p, size_t n)
{
	return slice_make(p, n);
}

static void test_parse(void)
{
	struct sftp_reply r;
	struct sftp_version v;
	struct sftp_attrs a;
	struct err e = ERR_INIT;
	size_t used;

	/* VERSION with extensions: only the known ones at version "1" count */
	static const char ver[] = "\x02\x00\x00\x00\x03"
				  "\x00\x00\x00\x18posix-rename@openssh.com\x00\x00\x00\x01\x31"
				  "\x00\x00\x00\x11\x66sync@openssh.com\x00\x00\x00\x01\x32";
	CHECK_INT(sftp_parse_version(bytes(ver, sizeof(ver) - 1), &v, &e), 0);
	CHECK_INT(v.version, 3);
	CHECK_INT(v.nr_exts, 2);
	CHECK_INT(v.exts, SFTP_EXT_POSIX_RENAME);
	CHECK_INT(sftp_parse_version(bytes(ver, sizeof(ver) - 2), &v, &e), -1);

	/* statvfs's reply: bsize, frsize, blocks, bfree, bavail, ... (eleven uint64) */
	{
		unsigned char sv[88] = {0};
		struct sftp_fs fs;

		sv[8 + 6] = 0x10; /* frsize 0x1000 */
		sv[16 + 7] = 100; /* blocks */
		sv[32 + 7] = 25;  /* bavail */
		CHECK_INT(sftp_parse_statvfs(bytes((const char *)sv, sizeof(sv)), &fs), 0);
		CHECK(fs.size == 100 * 4096);
		CHECK(fs.avail == 25 * 4096);
		CHECK_INT(sftp_parse_statvfs(bytes((const char *)sv, sizeof(sv) - 1), &fs), -1);
	}

	/* STATUS with and without its message */
	static const char st[] = "\x65\x00\x00\x00\x07\x00\x00\x00\x02\x00\x00\x00\x02hi"
				 "\x00\x00\x00\x00";
	CHECK_INT(sftp_parse_reply(bytes(st, sizeof(st) - 1), &r, &e), 0);
	CHECK_INT(r.type, SFTP_FXP_STATUS);
	CHECK_INT(r.id, 7);
	CHECK_INT(r.code, 2);
	CHECK(slice_eq_cstr(r.msg, "hi"));
	CHECK_INT(sftp_parse_reply(bytes(st, 9), &r, &e), 0);
	CHECK_INT(r.msg.len, 0);
	CHECK_INT(sftp_parse_reply(bytes(st, 11), &r, &e), -1);
	CHECK_INT(sftp_parse_reply(bytes(st, 3), &r, &e), -1);

	/* a string longer than the packet */
	static const char dat[] = "\x67\x00\x00\x00\x01\x00\x00\x10\x00xyz";
	CHECK_INT(sftp_parse_reply(bytes(dat, sizeof(dat) - 1), &r, &e), -1);

	/* a handle of 257 bytes */
	{
		struct sbuf h = SBUF_INIT;
		sbuf_add(&h, "\x66\x00\x00\x00\x01\x00\x00\x01\x01", 9);
		for (used = 0; used < 257; used++) {
			sbuf_addch(&h, 'h');
		}
		CHECK_INT(sftp_parse_reply(bytes(h.buf, h.len), &r, &e), -1);
		sbuf_setlen(&h, h.len - 1);
		h.buf[8] = 0; /* 256 */
		CHECK_INT(sftp_parse_reply(bytes(h.buf, h.len), &r, &e), 0);
		CHECK_INT(r.data.len, 256);
		sbuf_release(&h);
	}

	/* NAME: a count the bytes cannot hold is refused before any loop */
	static const char name_lie[] = "\x68\x00\x00\x00\x01\xff\xff\xff\xff"
				       "\x00\x00\x00\x01/\x00\x00\x00\x00\x00\x00\x00\x00";
	CHECK_INT(sftp_parse_reply(bytes(name_lie, sizeof(name_lie) - 1), &r, &e), -1);
	CHECK(strstr(err_str(&e), "claims 4294967295 names") != NULL);
	static const char name_ok[] = "\x68\x00\x00\x00\x01\x00\x00\x00\x01"
				      "\x00\x00\x00\x05/root\x00\x00\x00\x00\x00\x00\x00\x00";
	CHECK_INT(sftp_parse_reply(bytes(name_ok, sizeof(name_ok) - 1), &r, &e), 0);
	CHECK(slice_eq_cstr(r.data, "/root"));
	CHECK_INT(r.count, 1);

	/* ATTRS: every field, and extended pairs counted against the bytes */
	static const char attrs[] = "\x80\x00\x00\x0f"
				    "\x00\x00\x00\x00\x00\x00\x01\x00"
				    "\x00\x00\x03\xe8\x00\x00\x03\xe9"
				    "\x00\x00\x81\xa4"
				    "\x00\x00\x00\x01\x00\x00\x00\x02"
				    "\x00\x00\x00\x01\x00\x00\x00\x01k\x00\x00\x00\x01v";
	CHECK_INT(sftp_parse_attrs(bytes(attrs, sizeof(attrs) - 1), &a, &used, &e), 0);
	CHECK_INT(used, sizeof(attrs) - 1);
	CHECK_INT(a.size, 256);
	CHECK_INT(a.uid, 1000);
	CHECK_INT(a.gid, 1001);
	CHECK_INT(a.mode, 0100644);
	CHECK_INT(a.atime, 1);
	CHECK_INT(a.mtime, 2);
	{
		char lie[sizeof(attrs)];
		memcpy(lie, attrs, sizeof(attrs));
		lie[32] = 0x7f; /* extended count 0x7f000001 */
		CHECK_INT(sftp_parse_attrs(bytes(lie, sizeof(lie) - 1), &a, &used, &e), -1);
	}
	CHECK_INT(sftp_parse_attrs(bytes(attrs, 20), &a, &used, &e), -1);

	/* an unknown type, and packet lengths */
	CHECK_INT(sftp_parse_reply(bytes("\x02\x00\x00\x00\x03", 5), &r, &e), -1);
	CHECK_INT(sftp_packet_len((const unsigned char *)"\x00\x00\x00\x00"), -1);
	CHECK_INT(sftp_packet_len((const unsigned char *)"\x00\x04\x00\x00"), SFTP_MAX_PACKET);
	CHECK_INT(sftp_packet_len((const unsigned char *)"\x00\x04\x00\x01"), -1);
	err_release(&e);
}

static void cleanup(void)
{
	struct run_cmd c = RUN_CMD_INIT;

	chmod(dir, 0700);
	strvec_pushv(&c.argv, (const char *[]){"rm", "-rf", dir, NULL});
	run_one(&c);
	run_cmd_release(&c);
}

int main(void)
{
	alarm(120);
	umask(022);
	if (!mkdtemp(dir)) {
		printf("not ok 1 - mkdtemp\n");
		return 1;
	}
	exec_init(&ex, EXEC_LOCAL);
	ex.local_dir = xstrdup(dir);
	UNIT_RUN(test_parse);
	UNIT_RUN(test_server_dies_mid_request);
	UNIT_RUN(test_server_that_hangs);
	UNIT_RUN(test_server_that_is_not_sftp);
	if (!have_server()) {
		printf("ok - # SKIP no sftp-server on this machine\n");
	} else {
		UNIT_RUN(test_handshake_and_realpath);
		UNIT_RUN(test_statvfs_and_proc);
		UNIT_RUN(test_mkdir_is_exclusive);
		UNIT_RUN(test_mkdir_p);
		UNIT_RUN(test_write_atomically);
		UNIT_RUN(test_write_exclusive_and_plain);
		UNIT_RUN(test_append_twice);
		UNIT_RUN(test_read_with_max);
		UNIT_RUN(test_stat_and_lstat);
		UNIT_RUN(test_rename_and_remove);
		UNIT_RUN(test_threads_share_a_session);
		UNIT_RUN(test_real_server_killed);
		UNIT_RUN(test_open_over_ssh);
	}
	cleanup();
	exec_release(&ex);
	return unit_done();
}
