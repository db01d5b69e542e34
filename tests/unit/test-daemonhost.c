/* berthd's container on a host: its `docker run`, and what hosts answer. */
#include "engine/daemonhost.h"

#include <stdlib.h>
#include <string.h>

#include "lib/strvec.h"
#include "unit.h"

static struct slice S(const char *s) {
	return slice_make(s, strlen(s));
}

static void
test_image(void)
{
	CHECK_STR(daemonhost_image(), "berthd:" BERTH_VERSION);
}

static void test_run_argv(void)
{
	struct daemonhost_user u;
	struct strvec argv = STRVEC_INIT;
	struct sbuf opts = SBUF_INIT;
	char *line;

	daemonhost_user_init(&u);
	u.uid = 999;
	u.gid = 995;
	sbuf_addstr(&u.home, "/home/berth");
	daemonhost_options(&u, &opts);
	CHECK_STR(opts.buf, "999:995:/home/berth");
	daemonhost_run_argv(&u, "berthd:1.2.3", &argv);
	line = strvec_join(&argv, " ");
	CHECK_STR(line, "docker run -d --name berthd --restart unless-stopped --network berth "
			"--log-opt max-size=10m -v berthd:/var/lib/berthd "
			"-v /var/run/docker.sock:/var/run/docker.sock "
			"-v /home/berth/.ssh:/var/lib/berthd/ssh -e BERTHD_SSH_UID=999 "
			"-e BERTHD_SSH_GID=995 -e BERTHD_SSH_COMMAND=/home/berth/berthd-ssh "
			"--label berth.daemon=1 --label berth.daemon.options=999:995:/home/berth "
			"berthd:1.2.3 berthd serve");
	free(line);
	strvec_clear(&argv);
	sbuf_release(&opts);
	daemonhost_user_release(&u);
}

static void test_parse_user(void)
{
	struct daemonhost_user u;
	struct strvec lines = STRVEC_INIT;
	struct err e = ERR_INIT;

	daemonhost_user_init(&u);
	/* a second run: everything there */
	CHECK_INT(daemonhost_parse_user(S("user berth: there\nuser berth: in group docker\n"
					  "directory /home/berth: there\n"
					  "forced command /home/berth/berthd-ssh: there\n"
					  "ids 999 995 /home/berth\n"),
					&u, &lines, &e),
		  0);
	CHECK_INT(u.uid, 999);
	CHECK_INT(u.gid, 995);
	CHECK_STR(u.home.buf, "/home/berth");
	CHECK(!u.changed);
	CHECK_INT(lines.nr, 4);
	CHECK_STR(lines.v[3], "forced command /home/berth/berthd-ssh: there");
	strvec_clear(&lines);

	/* a first run; control bytes do not reach the terminal */
	CHECK_INT(daemonhost_parse_user(S("user berth: made\x1b[2J\nids 0 0 /srv/berth_x-1.d\n"),
					&u, &lines, &e),
		  0);
	CHECK(u.changed);
	CHECK_STR(lines.v[0], "user berth: made?[2J");
	CHECK_STR(u.home.buf, "/srv/berth_x-1.d");
	strvec_clear(&lines);

	/* no ids, or ids that are not */
	CHECK_INT(daemonhost_parse_user(S("user berth: there\n"), &u, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "unexpected answer") != NULL);
	CHECK_INT(daemonhost_parse_user(S("ids 999 995 home/berth\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S("ids 999 995 /home/a b\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S("ids 999 995 /home/a:/etc\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S("ids 999 995 /home/\"x\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S("ids -1 995 /home/berth\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S("ids 99999999999 995 /home/berth\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S("ids 999 995\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S("ids 1 1 /a\nids 2 2 /b\n"), &u, NULL, &e), -1);
	CHECK_INT(daemonhost_parse_user(S(""), &u, NULL, &e), -1);
	err_release(&e);
	daemonhost_user_release(&u);
}

static void test_parse_answer(void)
{
	struct daemonhost_answer a;
	struct err e = ERR_INIT;

	CHECK_INT(daemonhost_parse_answer(S("image ok\ncontainer running\n"), &a, &e), 0);
	CHECK(a.image_ok && !a.pending && !a.changed);
	CHECK_STR(a.what, "is running");
	CHECK_INT(daemonhost_parse_answer(S("image ok\ncontainer started\n"), &a, &e), 0);
	CHECK(a.changed);
	CHECK_STR(a.what, "started");
	CHECK_INT(daemonhost_parse_answer(S("image ok\ncontainer replaced\n"), &a, &e), 0);
	CHECK(a.changed);
	CHECK_INT(daemonhost_parse_answer(S("image ok\ncontainer restarted\n"), &a, &e), 0);
	CHECK(a.changed);
	CHECK_INT(daemonhost_parse_answer(S("image ok\ncontainer restarting\n"), &a, &e), 0);
	CHECK(!a.changed);
	CHECK_INT(daemonhost_parse_answer(S("image missing\ncontainer pending\n"), &a, &e), 0);
	CHECK(!a.image_ok && a.pending && !a.what);
	/* noise before the answer is skipped */
	CHECK_INT(daemonhost_parse_answer(S("warning: x\nimage ok\n\ncontainer unpaused"), &a, &e),
		  0);
	CHECK_STR(a.what, "was paused; unpaused it");

	CHECK_INT(daemonhost_parse_answer(S("image ok\n"), &a, &e), -1);
	CHECK(strstr(err_str(&e), "unexpected answer from the berthd check") != NULL);
	CHECK_INT(daemonhost_parse_answer(S("container running\n"), &a, &e), -1);
	CHECK_INT(daemonhost_parse_answer(S("image ok\ncontainer exploded\n"), &a, &e), -1);
	CHECK_INT(daemonhost_parse_answer(S("image ok\ncontainer pending\n"), &a, &e), -1);
	CHECK_INT(daemonhost_parse_answer(S("image maybe\ncontainer running\n"), &a, &e), -1);
	CHECK(!a.image_ok && !a.what);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_image);
	UNIT_RUN(test_run_argv);
	UNIT_RUN(test_parse_user);
	UNIT_RUN(test_parse_answer);
	return unit_done();
}
