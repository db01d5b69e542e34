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

	run_cmd_release(&c);
	err_release(&e);
	exec_release(&ex);
	rmdir("/tmp/berth-unit-cm");
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

int main(void)
{
	UNIT_RUN(test_quote_round_trip_through_sh);
	UNIT_RUN(test_quote_keeps_safe_words_bare);
	UNIT_RUN(test_ssh_argv);
	UNIT_RUN(test_local_runs_argv_as_is);
	UNIT_RUN(test_explain_unreachable);
	return unit_done();
}
