#include "engine/hoststate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "unit.h"

static void test_names(void)
{
	CHECK(hoststate_name_ok("app"));
	CHECK(hoststate_name_ok("my-app_2.x"));
	CHECK(!hoststate_name_ok(""));
	CHECK(!hoststate_name_ok(NULL));
	CHECK(!hoststate_name_ok("-app"));
	CHECK(!hoststate_name_ok(".."));
	CHECK(!hoststate_name_ok("a/b"));
	CHECK(!hoststate_name_ok("a b"));
	CHECK(!hoststate_name_ok("a$(x)"));
}

static void test_init(void)
{
	struct hoststate hs;
	struct exec ex;
	struct err e = ERR_INIT;

	exec_init(&ex, EXEC_LOCAL);
	CHECK_INT(hoststate_init(&hs, &ex, NULL, "app", NULL, &e), 0);
	CHECK_STR(hs.dir, ".berth/apps/app");
	CHECK_STR(hs.app, "app");
	CHECK(strchr(hs.performer, '@') != NULL);
	hoststate_release(&hs);
	CHECK_INT(hoststate_init(&hs, &ex, "/srv/state//", "app", "staging", &e), 0);
	CHECK_STR(hs.dir, "/srv/state/apps/app-staging");
	CHECK_STR(hs.app, "app-staging");
	hoststate_release(&hs);
	CHECK_INT(hoststate_init(&hs, &ex, NULL, "../x", NULL, &e), -1);
	CHECK(strstr(err_str(&e), "cannot name an app") != NULL);
	hoststate_release(&hs);
	CHECK_INT(hoststate_init(&hs, &ex, NULL, "app", "a/b", &e), -1);
	hoststate_release(&hs);
	err_release(&e);
	exec_release(&ex);
}

static void roundtrip_message(const char *msg, size_t len, const char *want_key)
{
	struct hoststate_lock l, back;
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;

	hoststate_lock_init(&l);
	hoststate_lock_init(&back);
	l.held = true;
	l.id = xstrdup("00ff");
	l.holder = xstrdup("me@here");
	l.machine = xstrdup("here");
	l.host = xstrdup("web-1");
	l.pid = 42;
	l.time = xstrdup("2024-05-01T12:00:00Z");
	l.epoch = 1714564800;
	l.berth_version = xstrdup("1.0");
	l.message = xmalloc(len + 1);
	memcpy(l.message, msg, len);
	l.message[len] = '\0';
	l.message_len = len;
	hoststate_holder_format(&sb, &l);
	CHECK(!memchr(sb.buf, '\n', sb.len));
	CHECK(strstr(sb.buf, want_key) != NULL);
	CHECK_INT(hoststate_holder_parse(slice_make(sb.buf, sb.len), &back, &e), 0);
	CHECK_INT(back.message_len, len);
	CHECK(back.message && !memcmp(back.message, msg, len));
	CHECK_STR(back.id, "00ff");
	CHECK_STR(back.holder, "me@here");
	CHECK_STR(back.host, "web-1");
	CHECK_INT(back.pid, 42);
	CHECK_INT(back.epoch, 1714564800);
	CHECK_STR(back.berth_version, "1.0");
	hoststate_lock_release(&l);
	hoststate_lock_release(&back);
	sbuf_release(&sb);
	err_release(&e);
}

static void test_holder_roundtrip(void)
{
	static const char odd[] = "it's \"quoted\"\n$(rm -rf /) `x` \\ \x1b[31m";
	static const char bin[] = "\xff\xfe nul:\0 end";

	roundtrip_message("deploying", 9, "\"message\":\"deploying\"");
	roundtrip_message(odd, sizeof(odd) - 1, "\"message\":");
	roundtrip_message("caf\xc3\xa9", 5, "\"message\":\"caf\\u00E9\"");
	roundtrip_message(bin, sizeof(bin) - 1, "\"message_base64\":");
	roundtrip_message("\xff", 1, "\"message_base64\":\"/w==\"");
	roundtrip_message("\xff\xfe", 2, "\"message_base64\":\"//4=\"");
	roundtrip_message("", 0, "\"message\":\"\"");
}

static void test_holder_parse_bad(void)
{
	struct hoststate_lock l;
	struct err e = ERR_INIT;

	hoststate_lock_init(&l);
	CHECK_INT(hoststate_holder_parse(SLICE_LIT("not json"), &l, &e), -1);
	CHECK(strstr(err_str(&e), "holder.json") != NULL);
	CHECK_INT(hoststate_holder_parse(SLICE_LIT("[1,2]"), &l, &e), -1);
	CHECK_INT(hoststate_holder_parse(SLICE_LIT("{\"id\":\"a\",\"id\":\"b\"}"), &l, &e), -1);
	/* wrong types and out-of-range numbers are ignored, not trusted */
	CHECK_INT(
	    hoststate_holder_parse(
		SLICE_LIT("{\"holder\":1,\"pid\":-5,\"epoch\":\"x\",\"message_base64\":\"@@\"}"),
		&l, &e),
	    0);
	CHECK(l.holder == NULL);
	CHECK_INT(l.pid, 0);
	CHECK_INT(l.epoch, 0);
	CHECK(l.message == NULL);
	CHECK_INT(hoststate_holder_parse(SLICE_LIT("{\"pid\":99999999999}"), &l, &e), 0);
	CHECK_INT(l.pid, 0);
	hoststate_lock_release(&l);
	err_release(&e);
}

static void test_parse_status(void)
{
	struct hoststate_lock l;
	struct err e = ERR_INIT;

	hoststate_lock_init(&l);
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 1000\n"), &l, &e), 0);
	CHECK(!l.held);
	CHECK_INT(l.host_now, 1000);
	CHECK_INT(hoststate_lock_parse_status(
		      SLICE_LIT("now 1000\nmtime 700\nholder\n{\"holder\":\"a@b\",\"id\":\"1\"}"),
		      &l, &e),
		  0);
	CHECK(l.held);
	CHECK_INT(l.age, 300);
	CHECK_STR(l.holder, "a@b");
	/* a lock directory without a holder: held, holder unknown */
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 1000\nmtime 900\nholder\n"), &l, &e),
		  0);
	CHECK(l.held);
	CHECK(l.holder == NULL);
	hoststate_lock_judge(&l, "m");
	CHECK_INT(l.state, HOSTSTATE_HOLDER_BROKEN);
	CHECK(hoststate_lock_stale(&l)); /* 100 s without holder.json */
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 1000\nmtime 990\nholder\n{x"), &l, &e),
		  0);
	hoststate_lock_judge(&l, "m");
	CHECK(!hoststate_lock_stale(&l)); /* 10 s: its writer may still be at it */
	/* mtime unknown, or in the future */
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 1000\nmtime \nholder\n"), &l, &e), 0);
	CHECK_INT(l.age, -1);
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 10\nmtime 20\nholder\n"), &l, &e), 0);
	CHECK_INT(l.age, 0);
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT(""), &l, &e), -1);
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("nowx 1\n"), &l, &e), -1);
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 1\nmtime 2\n"), &l, &e), -1);
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 1\ngarbage\n"), &l, &e), -1);
	CHECK_INT(hoststate_lock_parse_status(SLICE_LIT("now 99999999999999999999\n"), &l, &e), -1);
	hoststate_lock_release(&l);
	err_release(&e);
}

static void test_judge(void)
{
	struct hoststate_lock l;
	struct sbuf sb = SBUF_INIT;
	pid_t child = fork();

	if (child == 0) {
		_exit(0);
	}
	waitpid(child, NULL, 0); /* child is gone now */
	hoststate_lock_init(&l);
	l.held = true;
	l.holder = xstrdup("u@m");
	l.machine = xstrdup("m");
	l.pid = getpid();
	hoststate_lock_judge(&l, "m");
	CHECK_INT(l.state, HOSTSTATE_HOLDER_ALIVE);
	CHECK(!hoststate_lock_stale(&l));
	l.pid = child;
	hoststate_lock_judge(&l, "m");
	CHECK_INT(l.state, HOSTSTATE_HOLDER_GONE);
	CHECK(hoststate_lock_stale(&l));
	l.age = 3725;
	l.message = xstrdup("line1\nline2\x1b");
	l.message_len = strlen(l.message);
	hoststate_lock_describe(&sb, &l);
	CHECK(strstr(sb.buf, "held by u@m") != NULL);
	CHECK(strstr(sb.buf, "(1h 2m ago)") != NULL);
	CHECK(strstr(sb.buf, "gone") != NULL);
	CHECK(strstr(sb.buf, ": line1\\nline2\\x1b") != NULL);
	CHECK(!strchr(sb.buf, '\n'));
	hoststate_lock_judge(&l, "other-machine");
	CHECK_INT(l.state, HOSTSTATE_HOLDER_UNKNOWN);
	CHECK(!hoststate_lock_stale(&l));
	l.pid = 0;
	hoststate_lock_judge(&l, "m");
	CHECK_INT(l.state, HOSTSTATE_HOLDER_MANUAL);
	CHECK(!hoststate_lock_stale(&l));
	hoststate_lock_release(&l);
	sbuf_release(&sb);
}

static void test_audit_lines(void)
{
	struct hoststate hs;
	struct hoststate_audit a;
	struct sbuf sb = SBUF_INIT, d = SBUF_INIT;
	struct err e = ERR_INIT;
	struct exec ex;
	char big[HOSTSTATE_LINE_MAX + 10];

	exec_init(&ex, EXEC_LOCAL);
	hoststate_audit_init(&a);
	CHECK_INT(hoststate_init(&hs, &ex, NULL, "app", "prod", &e), 0);
	hoststate_audit_format(&sb, &hs, "web-1", 1714564800, "deployed \"v2\"\n", 14);
	CHECK(sb.len && sb.buf[sb.len - 1] == '\n');
	CHECK(memchr(sb.buf, '\n', sb.len) == sb.buf + sb.len - 1);
	CHECK(strstr(sb.buf, "\"time\":\"2024-05-01T12:00:00Z\"") != NULL);
	sbuf_addstr(&sb, "\nthis is not json\n");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sbuf_addstr(&sb, big);
	sbuf_addch(&sb, '\n');
	hoststate_audit_format(&sb, &hs, "web-2", 1714564801, "\xff", 1);
	hoststate_audit_parse(slice_make(sb.buf, sb.len), &a);
	CHECK_INT(a.nr, 3);
	CHECK_INT(a.skipped, 1);
	if (a.nr == 3) {
		CHECK_STR(a.v[0].host, "web-1");
		CHECK_STR(a.v[0].destination, "prod");
		CHECK_STR(a.v[0].performer, hs.performer);
		CHECK_INT(a.v[0].message_len, 14);
		CHECK(!memcmp(a.v[0].message, "deployed \"v2\"\n", 14));
		CHECK_STR(a.v[1].raw, "this is not json");
		CHECK_INT(a.v[2].message_len, 1);
		CHECK(a.v[2].message && a.v[2].message[0] == '\xff');
		hoststate_audit_describe(&d, &a.v[0]);
		CHECK(strstr(d.buf, "2024-05-01T12:00:00Z ") == d.buf);
		CHECK(strstr(d.buf, " [prod] deployed \"v2\"\\n") != NULL);
	}
	hoststate_audit_release(&a);
	hoststate_release(&hs);
	sbuf_release(&sb);
	sbuf_release(&d);
	err_release(&e);
	exec_release(&ex);
}

static void add_release(struct sbuf *sb, const char *version, const char *status, long long t)
{
	struct hoststate_release r = {0};

	r.version = (char *)version;
	r.status = (char *)status;
	r.role = (char *)"web";
	r.service = (char *)"app";
	r.epoch = t;
	hoststate_release_format(sb, &r);
}

static void test_journal(void)
{
	struct hoststate_releases rs;
	struct sbuf sb = SBUF_INIT;

	hoststate_releases_init(&rs);
	add_release(&sb, "v1", "ok", 1);
	add_release(&sb, "v2", "ok", 2);
	sbuf_addstr(&sb, "{broken\n{\"status\":\"ok\"}\n\n");
	add_release(&sb, "v1", "ok", 3);
	add_release(&sb, "v3", "failed", 4);
	hoststate_journal_parse(slice_make(sb.buf, sb.len), false, &rs);
	CHECK_INT(rs.nr, 3);
	CHECK_INT(rs.skipped, 2);
	if (rs.nr == 3) {
		CHECK_STR(rs.v[0].version, "v3");
		CHECK_STR(rs.v[1].version, "v1");
		CHECK_INT(rs.v[1].epoch, 3);
		CHECK_STR(rs.v[2].version, "v2");
		CHECK_STR(rs.v[2].role, "web");
		CHECK(rs.v[2].destination == NULL);
	}
	hoststate_releases_release(&rs);
	hoststate_journal_parse(slice_make(sb.buf, sb.len), true, &rs);
	CHECK_INT(rs.nr, 2);
	if (rs.nr == 2) {
		CHECK_STR(rs.v[0].version, "v1");
		CHECK_STR(rs.v[1].version, "v2");
	}
	hoststate_releases_release(&rs);
	sbuf_release(&sb);
}

/* The scripts themselves, run on this machine with the local executor. */
static void test_local_scripts(void)
{
	char dir[] = "/tmp/berth-hoststate-XXXXXX";
	struct hoststate hs;
	struct hoststate_lock mine, other, st;
	struct hoststate_lock_opts o = {0};
	struct hoststate_audit a;
	struct hoststate_releases rs;
	struct hoststate_release r = {0};
	struct err e = ERR_INIT;
	struct exec ex;
	struct sbuf path = SBUF_INIT;
	struct stat sbst;
	static const char msg[] = "it's \"x\"\n$(touch /tmp/pwned) \xff";
	const char *hosts[] = {"local", "local"};

	exec_init(&ex, EXEC_LOCAL);
	hoststate_lock_init(&mine);
	hoststate_lock_init(&other);
	hoststate_lock_init(&st);
	hoststate_audit_init(&a);
	hoststate_releases_init(&rs);
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(hoststate_init(&hs, &ex, dir, "app", NULL, &e), 0);

	CHECK_INT(hoststate_lock_status(&hs, "local", &st, &e), 0);
	CHECK(!st.held);
	o.message = msg;
	o.message_len = sizeof(msg) - 1;
	CHECK_INT(hoststate_lock_acquire(&hs, "local", &o, &mine, &other, &e), 0);
	CHECK(mine.id != NULL);
	sbuf_addf(&path, "%s/apps/app/lock", dir);
	CHECK_INT(stat(path.buf, &sbst), 0);
	CHECK_INT(sbst.st_mode & 077, 0);
	CHECK_INT(hoststate_lock_acquire(&hs, "local", &o, NULL, &other, &e), 1);
	CHECK(strstr(err_str(&e), "is held by") != NULL);
	CHECK_STR(other.id, mine.id);
	CHECK_INT(other.message_len, sizeof(msg) - 1);
	CHECK(other.message && !memcmp(other.message, msg, sizeof(msg) - 1));
	CHECK_INT(other.state, HOSTSTATE_HOLDER_MANUAL);
	CHECK_INT(hoststate_lock_status(&hs, "local", &st, &e), 0);
	CHECK(st.held);
	CHECK(st.age >= 0);
	/* not ours: left alone */
	CHECK_INT(hoststate_lock_remove(&hs, "local", "abcdef", NULL, &e), 1);
	CHECK_INT(hoststate_lock_remove(&hs, "local", "$(x)", NULL, &e), -1);
	CHECK_INT(hoststate_lock_remove(&hs, "local", mine.id, &st, &e), 0);
	CHECK_STR(st.id, mine.id);
	CHECK_INT(hoststate_lock_remove(&hs, "local", NULL, NULL, &e), 1);

	/* a lock tied to this process, then broken as stale once its pid is faked dead */
	o.tie_to_process = true;
	CHECK_INT(hoststate_lock_acquire(&hs, "local", &o, &mine, NULL, &e), 0);
	CHECK_INT(hoststate_lock_status(&hs, "local", &st, &e), 0);
	CHECK_INT(st.state, HOSTSTATE_HOLDER_ALIVE);
	CHECK_INT(hoststate_lock_remove(&hs, "local", NULL, NULL, &e), 0);

	CHECK_INT(hoststate_audit_append(&hs, hosts, 2, msg, sizeof(msg) - 1, &e), 0);
	CHECK_INT(hoststate_audit_read(&hs, "local", 1, &a, &e), 0);
	CHECK_INT(a.nr, 1);
	if (a.nr == 1) {
		CHECK_INT(a.v[0].message_len, sizeof(msg) - 1);
	}
	CHECK(access("/tmp/pwned", F_OK) < 0);

	r.role = (char *)"web";
	r.version = (char *)"v1";
	CHECK_INT(hoststate_journal_append(&hs, "local", &r, &e), 0);
	r.version = (char *)"v2";
	CHECK_INT(hoststate_journal_append(&hs, "local", &r, &e), 0);
	CHECK_INT(hoststate_journal_list(&hs, "local", true, &rs, &e), 0);
	CHECK_INT(rs.nr, 2);
	if (rs.nr == 2) {
		CHECK_STR(rs.v[0].version, "v2");
		CHECK_STR(rs.v[0].service, "app");
		CHECK_STR(rs.v[0].status, "ok");
	}

	hoststate_releases_release(&rs);
	hoststate_audit_release(&a);
	hoststate_lock_release(&mine);
	hoststate_lock_release(&other);
	hoststate_lock_release(&st);
	hoststate_release(&hs);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		CHECK_INT(run_one(&rm), 0);
		run_cmd_release(&rm);
	}
	sbuf_release(&path);
	err_release(&e);
	exec_release(&ex);
}

int main(void)
{
	UNIT_RUN(test_names);
	UNIT_RUN(test_init);
	UNIT_RUN(test_holder_roundtrip);
	UNIT_RUN(test_holder_parse_bad);
	UNIT_RUN(test_parse_status);
	UNIT_RUN(test_judge);
	UNIT_RUN(test_audit_lines);
	UNIT_RUN(test_journal);
	UNIT_RUN(test_local_scripts);
	return unit_done();
}
