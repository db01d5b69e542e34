#include "engine/exec.h"

#include <stdlib.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "unit.h"

static const char *const nasty[] = {
    "plain",
    "two words",
    "it's",
    "\"double\"",
    "$HOME ${X} $(id) `id`",
    "a;b && c || d | e > f < g",
    "line1\nline2\n",
    "tab\there",
    "",
    "'",
    "\\back\\slash\\",
    "*?[a-z]{x,y}~!#%^",
    "=starts-with-equals",
    "~root",
    "-n",
    "\x01\x7f\xc3\xa9 utf-8 é",
    NULL,
};

/* Quote, let a real sh parse the line, and get every argument back byte for byte. */
static void test_quote_round_trip_through_sh(void)
{
	struct sbuf line = SBUF_INIT, script = SBUF_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	size_t i, off = 0;

	exec_quote_argv(&line, nasty);
	sbuf_addstr(&script, "printf '%s\\0' ");
	sbuf_addstr(&script, line.buf);
	strvec_pushv(&c.argv, (const char *[]){"sh", "-c", script.buf, NULL});
	c.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), 0);
	for (i = 0; nasty[i]; i++) {
		size_t n = strlen(nasty[i]);
		CHECK(off + n < c.outbuf.len + 1);
		if (off + n >= c.outbuf.len + 1) {
			break;
		}
		if (memcmp(c.outbuf.buf + off, nasty[i], n) || c.outbuf.buf[off + n] != '\0') {
			printf("#   argument %zu came back different\n", i);
			CHECK(0);
		}
		off += n + 1;
	}
	CHECK_INT(off, c.outbuf.len);
	run_cmd_release(&c);
	sbuf_release(&line);
	sbuf_release(&script);
}

static void test_quote_keeps_safe_words_bare(void)
{
	struct sbuf sb = SBUF_INIT;

	exec_quote_argv(&sb,
			(const char *[]){"docker", "ps", "--format={{json .}}", "a-b/c.d:e", NULL});
	CHECK_STR(sb.buf, "docker ps '--format={{json .}}' a-b/c.d:e");
	sbuf_release(&sb);
}

static const char *find_after(const struct strvec *av, const char *opt)
{
	size_t i;

	for (i = 0; i + 1 < av->nr; i++) {
		if (!strcmp(av->v[i], opt)) {
			return av->v[i + 1];
		}
	}
	return NULL;
}

static bool has_arg(const struct strvec *v, const char *a)
{
	size_t i;

	for (i = 0; i < v->nr; i++) {
		if (!strcmp(v->v[i], a)) {
			return true;
		}
	}
	return false;
}

static void test_ssh_argv(void)
{
	struct exec ex;
	struct run_cmd c = RUN_CMD_INIT;
	struct err e = ERR_INIT;

	exec_init(&ex, EXEC_SSH);
	ex.ssh.control_dir = xstrdup("/tmp/berth-unit-cm");
	ex.ssh.user = xstrdup("deploy");
	ex.ssh.port = 2200;
	ex.ssh.proxy = xstrdup("root@bastion");
	strvec_push(&ex.ssh.keys, "/k/id_ed25519");
	ex.ssh.keys_only = true;
	CHECK_INT(exec_prepare(&ex, "10.0.0.5", (const char *[]){"echo", "a b", NULL}, &c, &e), 0);
	CHECK_STR(c.argv.v[0], "ssh");
	CHECK_STR(find_after(&c.argv, "-l"), "deploy");
	CHECK_STR(find_after(&c.argv, "-p"), "2200");
	CHECK_STR(find_after(&c.argv, "-J"), "root@bastion");
	CHECK_STR(find_after(&c.argv, "-i"), "/k/id_ed25519");
	CHECK_STR(find_after(&c.argv, "--"), "10.0.0.5");
	CHECK_STR(c.argv.v[c.argv.nr - 1], "echo 'a b'");
	CHECK(!has_arg(&c.argv, "ForwardAgent=yes"));
	ex.ssh.forward_agent = true;
	CHECK_INT(exec_prepare(&ex, "10.0.0.5", (const char *[]){"true", NULL}, &c, &e), 0);
	CHECK(has_arg(&c.argv, "ForwardAgent=yes"));
	ex.ssh.forward_agent = false;

	/* Docker commands: on the host unless asked to run here */
	CHECK_INT(
	    exec_prepare_docker(&ex, "10.0.0.5", (const char *[]){"docker", "ps", NULL}, &c, &e),
	    0);
	CHECK_STR(c.argv.v[0], "ssh");
	CHECK_STR(c.argv.v[c.argv.nr - 1], "docker ps");
	CHECK_INT(c.env.nr, 0);

	/* user and port in the host win */
	CHECK_INT(exec_prepare(&ex, "ops@[fd00::1]:2222", (const char *[]){"true", NULL}, &c, &e),
		  0);
	CHECK_STR(find_after(&c.argv, "-l"), "ops");
	CHECK_STR(find_after(&c.argv, "-p"), "2222");
	CHECK_STR(find_after(&c.argv, "--"), "fd00::1");
	CHECK_INT(exec_prepare(&ex, "fd00::2", (const char *[]){"true", NULL}, &c, &e), 0);
	CHECK_STR(find_after(&c.argv, "--"), "fd00::2");
	CHECK_STR(find_after(&c.argv, "-p"), "2200");

	/* nothing that ssh could read as an option */
	CHECK_INT(exec_prepare(&ex, "-oProxyCommand=id", (const char *[]){"true", NULL}, &c, &e),
		  -1);
	CHECK(strstr(err_str(&e), "invalid host '-oProxyCommand=id'") != NULL);
	CHECK_INT(exec_prepare(&ex, "-l@h", (const char *[]){"true", NULL}, &c, &e), -1);
	CHECK_INT(exec_prepare(&ex, "a b", (const char *[]){"true", NULL}, &c, &e), -1);
	CHECK_INT(exec_prepare(&ex, "h:99999", (const char *[]){"true", NULL}, &c, &e), -1);
	CHECK(strstr(err_str(&e), "invalid port") != NULL);
	/* an err still set from an earlier failure does not fail the next one */
	CHECK_INT(exec_prepare(&ex, "10.0.0.6", (const char *[]){"true", NULL}, &c, &e), 0);
	CHECK_STR(find_after(&c.argv, "--"), "10.0.0.6");

	run_cmd_release(&c);
	err_release(&e);
	exec_release(&ex);
	rmdir("/tmp/berth-unit-cm");
}

static long strvec_find(const struct strvec *av, const char *s)
{
	size_t i;

	for (i = 0; i < av->nr; i++) {
		if (!strcmp(av->v[i], s)) {
			return (long)i;
		}
	}
	return -1;
}

static void test_subsystem_argv(void)
{
	struct exec ex;
	struct run_cmd c = RUN_CMD_INIT, plain = RUN_CMD_INIT;
	struct err e = ERR_INIT;
	size_t i;

	exec_init(&ex, EXEC_SSH);
	ex.ssh.control_dir = xstrdup("/tmp/berth-unit-cm");
	ex.ssh.user = xstrdup("deploy");
	ex.ssh.port = 2200;
	strvec_push(&ex.ssh.keys, "/k/id_ed25519");
	CHECK_INT(exec_prepare_subsystem(&ex, "web-1", "sftp", &c, &e), 0);
	CHECK_INT(exec_prepare(&ex, "web-1", (const char *[]){"true", NULL}, &plain, &e), 0);
	/* the same connection settings as a command (ControlPath, user, port, key) ... */
	CHECK_STR(c.argv.v[0], "ssh");
	CHECK_STR(find_after(&c.argv, "-l"), "deploy");
	CHECK_STR(find_after(&c.argv, "-p"), "2200");
	CHECK_STR(find_after(&c.argv, "-i"), "/k/id_ed25519");
	for (i = 0; i + 1 < plain.argv.nr; i++) {
		if (!strcmp(plain.argv.v[i], "-o") && !strncmp(plain.argv.v[i + 1], "Control", 7)) {
			CHECK(strvec_find(&c.argv, plain.argv.v[i + 1]) >= 0);
		}
	}
	/* ... then -s, the host and the subsystem's name instead of a command line */
	CHECK_STR(find_after(&c.argv, "-s"), "--");
	CHECK_STR(find_after(&c.argv, "--"), "web-1");
	CHECK_STR(c.argv.v[c.argv.nr - 1], "sftp");
	CHECK(strvec_find(&c.argv, "-T") >= 0);
	CHECK(strvec_find(&c.argv, "ClearAllForwardings=yes") >= 0);

	CHECK_INT(exec_prepare_subsystem(&ex, "-oProxyCommand=id", "sftp", &c, &e), -1);
	CHECK_INT(exec_prepare_subsystem(&ex, "web-1", "-oProxyCommand=id", &c, &e), -1);
	CHECK(strstr(err_str(&e), "invalid ssh subsystem name") != NULL);
	CHECK_INT(exec_prepare_subsystem(&ex, "web-1", "sftp x", &c, &e), -1);
	exec_release(&ex);

	/* locally: OpenSSH's sftp-server itself, in local_dir */
	exec_init(&ex, EXEC_LOCAL);
	ex.local_dir = xstrdup("/tmp");
	if (exec_prepare_subsystem(&ex, "local", "sftp", &c, &e) == 0) {
		CHECK_INT(c.argv.nr, 1);
		CHECK(strstr(c.argv.v[0], "sftp-server") != NULL);
		CHECK_STR(c.dir, "/tmp");
	} else {
		CHECK(strstr(err_str(&e), "no sftp-server") != NULL);
	}
	CHECK_INT(exec_prepare_subsystem(&ex, "local", "other", &c, &e), -1);
	/* and local commands run there too */
	run_cmd_release(&plain);
	CHECK_INT(exec_prepare(&ex, "local", (const char *[]){"pwd", NULL}, &plain, &e), 0);
	plain.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&plain), 0);
	CHECK_STR(plain.outbuf.buf, "/tmp\n");
	run_cmd_release(&c);
	run_cmd_release(&plain);
	err_release(&e);
	exec_release(&ex);
	rmdir("/tmp/berth-unit-cm");
}

/* local_wrap: every argv runs under the wrapper's words (berthd's doctor helper) */
static void test_local_wrap(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct err e = ERR_INIT;
	struct exec ex;

	exec_init(&ex, EXEC_LOCAL);
	strvec_pushv(&ex.local_wrap, (const char *[]){"env", "WRAPPED=yes", NULL});
	CHECK_INT(
	    exec_prepare(&ex, "h", (const char *[]){"sh", "-c", "echo $WRAPPED", NULL}, &c, &e), 0);
	CHECK_INT(c.argv.nr, 5);
	CHECK_STR(c.argv.v[0], "env");
	CHECK_STR(c.argv.v[2], "sh");
	c.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), 0);
	CHECK_STR(c.outbuf.buf, "yes\n");
	run_cmd_release(&c);
	exec_release(&ex);
	CHECK_INT(ex.local_wrap.nr, 0);
	exec_release(&ex);
	err_release(&e);
}

static void test_local_runs_argv_as_is(void)
{
	struct exec ex;
	struct run_cmd c = RUN_CMD_INIT;

	exec_init(&ex, EXEC_LOCAL);
	CHECK_INT(exec_prepare(&ex, "local", (const char *[]){"printf", "%s|", "a b", "$X", NULL},
			       &c, NULL),
		  0);
	c.out = RUN_IO_CAPTURE;
	CHECK_INT(run_one(&c), 0);
	CHECK_STR(c.outbuf.buf, "a b|$X|");
	run_cmd_release(&c);
	exec_release(&ex);
}

static void test_explain_unreachable(void)
{
	struct exec ex;
	struct run_cmd c = RUN_CMD_INIT;
	struct err e = ERR_INIT;

	exec_init(&ex, EXEC_SSH);
	c.started = true;
	c.status = 255;
	sbuf_addstr(&c.errbuf, "ssh: connect to host 10.0.0.9 port 22: Connection refused\r\n");
	CHECK(exec_unreachable(&ex, &c));
	exec_explain(&ex, "10.0.0.9", &c, &e);
	CHECK_STR(err_str(&e), "host '10.0.0.9': cannot connect over ssh: ssh: connect to host "
			       "10.0.0.9 port 22: Connection refused; is sshd running on the host, "
			       "and on this port (ssh.port)?");
	sbuf_reset(&c.errbuf);
	c.status = 2;
	strvec_push(&c.argv, "docker ps");
	sbuf_addstr(&c.errbuf, "a\nb\nc\nd\n");
	exec_explain(&ex, "h", &c, &e);
	CHECK_STR(err_str(&e), "host 'h': 'docker ps' exited with status 2:\nb\nc\nd");
	run_cmd_release(&c);
	err_release(&e);
	exec_release(&ex);
}

/* exec_script with the local executor: arguments, stdin, $0, and its answers. */
static void test_script_runs_and_answers(void)
{
	struct exec ex;
	struct run_cmd c = RUN_CMD_INIT;
	struct err e = ERR_INIT;
	struct exec_script s = {
	    .text = "printf '%s|' \"$0\" \"$@\"; cat; exit \"$1\"",
	    .name = "berth-test",
	    .args = (const char *const[]){"0", "a b", "$X", NULL},
	    .in = SLICE_LIT("in\n"),
	};

	exec_init(&ex, EXEC_LOCAL);
	CHECK_INT(exec_script(&ex, "local", &s, &c, &e), 0);
	CHECK_STR(c.outbuf.buf, "berth-test|0|a b|$X|in\n");
	CHECK(!err_isset(&e));
	run_cmd_release(&c);

	/* with EXEC_SCRIPT_STATUS an exit below 128 is the answer */
	s.args = (const char *const[]){"4", NULL};
	s.flags = EXEC_SCRIPT_STATUS;
	run_cmd_init(&c);
	CHECK_INT(exec_script(&ex, "local", &s, &c, &e), 4);
	CHECK(!err_isset(&e));
	run_cmd_release(&c);
	exec_release(&ex);
}

/* A failed script is "host 'H': WHAT: EXIT: STDERR", never its own text. */
static void test_script_error_texts(void)
{
	struct exec ex;
	struct run_cmd c = RUN_CMD_INIT;
	struct err e = ERR_INIT;
	struct exec_script s = {
	    .text = "echo out; echo 'no such container' >&2; exit 3",
	    .what = "cannot start 'berth-proxy'",
	};

	exec_init(&ex, EXEC_LOCAL);
	CHECK_INT(exec_script(&ex, "web-1", &s, &c, &e), -1);
	CHECK_STR(err_str(&e), "host 'web-1': cannot start 'berth-proxy': exited with status 3: "
			       "no such container");
	run_cmd_release(&c);

	/* several lines of stderr: the last EXEC_SCRIPT_TAIL_LINES, on lines of their own */
	s.text = "for i in 1 2 3 4 5 6 7; do echo \"line $i\" >&2; done; exit 1";
	s.what = NULL;
	run_cmd_init(&c);
	CHECK_INT(exec_script(&ex, "web-1", &s, &c, &e), -1);
	CHECK_STR(err_str(&e), "host 'web-1': exited with status 1:\nline 3\nline 4\nline "
			       "5\nline 6\nline 7");
	run_cmd_release(&c);

	/* nothing on stderr; a status past 127 is a failure even with EXEC_SCRIPT_STATUS */
	s.text = "kill -TERM $$";
	s.flags = EXEC_SCRIPT_STATUS;
	s.what = "cannot read the lock";
	run_cmd_init(&c);
	CHECK_INT(exec_script(&ex, "h", &s, &c, &e), -1);
	CHECK_STR(err_str(&e), "host 'h': cannot read the lock: was killed by signal 15");
	run_cmd_release(&c);

	s.text = "sleep 5";
	s.timeout_ms = 50;
	run_cmd_init(&c);
	CHECK_INT(exec_script(&ex, "h", &s, &c, &e), -1);
	CHECK_STR(err_str(&e), "host 'h': cannot read the lock: timed out after 50 ms");
	run_cmd_release(&c);

	/* a host that cannot be reached: ssh's words, as exec_explain says them */
	exec_release(&ex);
	exec_init(&ex, EXEC_SSH);
	run_cmd_init(&c);
	c.started = true;
	c.status = 255;
	sbuf_addstr(&c.errbuf, "ssh: Could not resolve hostname nope: Name or service not known\n");
	CHECK_INT(exec_script_result(&ex, "nope", &s, &c, &e), -1);
	CHECK(!strncmp(err_str(&e), "host 'nope': cannot connect over ssh: ssh: Could not resolve",
		       60));
	run_cmd_release(&c);
	err_release(&e);
	exec_release(&ex);
}

/* exec_script_hosts: every host at once, each with its own result. */
static void test_script_hosts(void)
{
	struct exec ex;
	struct run_cmd cmds[2];
	struct err e = ERR_INIT;
	const char *hosts[] = {"a", "b"};
	const struct exec_script s = {.text = "echo \"$1\"; [ \"$PWD\" = / ] || exit 2",
				      .args = (const char *const[]){"hi", NULL}};

	exec_init(&ex, EXEC_LOCAL);
	ex.local_dir = xstrdup("/");
	exec_script_hosts(&ex, hosts, 2, &s, 0, cmds);
	for (size_t i = 0; i < 2; i++) {
		CHECK_INT(exec_script_result(&ex, hosts[i], &s, &cmds[i], &e), 0);
		CHECK_STR(cmds[i].outbuf.buf, "hi\n");
		run_cmd_release(&cmds[i]);
	}
	err_release(&e);
	exec_release(&ex);
}

int main(void)
{
	UNIT_RUN(test_quote_round_trip_through_sh);
	UNIT_RUN(test_quote_keeps_safe_words_bare);
	UNIT_RUN(test_ssh_argv);
	UNIT_RUN(test_subsystem_argv);
	UNIT_RUN(test_local_runs_argv_as_is);
	UNIT_RUN(test_local_wrap);
	UNIT_RUN(test_explain_unreachable);
	UNIT_RUN(test_script_runs_and_answers);
	UNIT_RUN(test_script_error_texts);
	UNIT_RUN(test_script_hosts);
	return unit_done();
}
