/* daemon/push: the Procfile and app.json parsers, and reading a revision of a real repository. */
#include "daemon/push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static int procfile(const char *text, struct push_result *r, struct err *e)
{
	return push_parse_procfile("Procfile", text, strlen(text), r, e);
}

static int app_json(const char *text, struct push_result *r, struct err *e)
{
	return push_parse_app_json("app.json", text, strlen(text), r, e);
}

static void test_procfile(void)
{
	struct push_result r = {0};
	struct err e = ERR_INIT;

	CHECK_INT(procfile("# processes\n"
			   "web: /testapp --port 5000\r\n"
			   "\n"
			   "  worker:bundle exec sidekiq  \n"
			   "release: rake db:migrate\n"
			   "clock_2-x: clock",
			   &r, &e),
		  0);
	CHECK_INT(r.nprocs, 3);
	CHECK_STR(r.procs[0].type, "web");
	CHECK_STR(r.procs[0].cmd, "/testapp --port 5000");
	CHECK_INT(r.procs[0].scale, 1);
	CHECK_STR(r.procs[1].type, "worker");
	CHECK_STR(r.procs[1].cmd, "bundle exec sidekiq");
	CHECK_INT(r.procs[1].scale, 0);
	CHECK_STR(r.procs[2].type, "clock_2-x");
	CHECK_STR(r.release_cmd, "rake db:migrate");
	/* a command may hold colons */
	CHECK_INT(procfile("web: app --listen 0.0.0.0:5000\n", &r, &e), 0);
	CHECK_INT(r.nprocs, 1);
	CHECK_STR(r.procs[0].cmd, "app --listen 0.0.0.0:5000");
	CHECK(r.release_cmd == NULL);
	/* an empty Procfile: no process */
	CHECK_INT(procfile("\n# nothing\n", &r, &e), 0);
	CHECK_INT(r.nprocs, 0);
	push_result_release(&r);
	err_release(&e);
}

static void test_procfile_errors(void)
{
	struct push_result r = {0};
	struct err e = ERR_INIT;

	CHECK_INT(procfile("web: a\nworker: b\nweb: c\n", &r, &e), -1);
	CHECK_STR(err_str(&e), "Procfile:3: process type 'web' is defined twice");
	CHECK_INT(r.nprocs, 0); /* r untouched on failure */
	CHECK_INT(procfile("web: a\nrelease: x\n\nrelease: y\n", &r, &e), -1);
	CHECK_STR(err_str(&e), "Procfile:4: process type 'release' again (first on line 2)");
	CHECK_INT(procfile("web a\n", &r, &e), -1);
	CHECK_STR(err_str(&e),
		  "Procfile:1: expected \"TYPE: COMMAND\" (TYPE of letters, digits, '_' and '-')");
	CHECK_INT(procfile("w.b: a\n", &r, &e), -1);
	CHECK_INT(e.line, 1);
	CHECK_INT(procfile(": a\n", &r, &e), -1);
	CHECK_INT(procfile("\n\nweb:   \n", &r, &e), -1);
	CHECK_STR(err_str(&e), "Procfile:3: process type 'web' has no command");
	CHECK_INT(push_parse_procfile("Procfile", "web: a\0b\n", 9, &r, &e), -1);
	CHECK_INT(procfile("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234: x\n",
			   &r, &e),
		  -1);
	CHECK_STR(err_str(&e), "Procfile:1: process type longer than 63 characters");
	push_result_release(&r);
	err_release(&e);
}

static void test_app_json(void)
{
	struct push_result r = {0};
	struct err e = ERR_INIT;

	CHECK_INT(
	    app_json("{\"name\": \"x\", \"env\": {\"A\": {}},"
		     " \"scripts\": {\"dokku\": {\"predeploy\": \"/app migrate\","
		     "   \"postdeploy\": \"/app warm\"}, \"postdeploy\": \"heroku's\"},"
		     " \"healthchecks\": {\"web\": ["
		     "   {\"type\": \"startup\", \"name\": \"no path\", \"command\": [\"x\"]},"
		     "   {\"type\": \"startup\", \"path\": \"/health\", \"attempts\": 5,"
		     "    \"wait\": 2, \"timeout\": 3, \"initialDelay\": 1, \"uptime\": 4},"
		     "   {\"path\": \"/second\"}],"
		     "  \"worker\": [{\"type\": \"liveness\"}]},"
		     " \"formation\": {\"worker\": {\"quantity\": 2}, \"web\": {}}}",
		     &r, &e),
	    0);
	CHECK_STR(r.predeploy, "/app migrate");
	CHECK_STR(r.postdeploy, "/app warm");
	CHECK_STR(r.check.path, "/health");
	CHECK_INT(r.check.attempts, 5);
	CHECK_INT(r.check.wait_s, 2);
	CHECK_INT(r.check.timeout_s, 3);
	CHECK_INT(r.check.uptime_s, 4);
	CHECK_INT(r.nformation, 2);
	CHECK_STR(r.formation[0].type, "worker");
	CHECK_INT(r.formation[0].scale, 2);
	CHECK_STR(r.formation[1].type, "web");
	CHECK_INT(r.formation[1].scale, 1);
	/* an empty one resets nothing it does not name, and is fine */
	CHECK_INT(app_json("{}", &r, &e), 0);
	CHECK(r.predeploy == NULL && r.check.path == NULL);
	push_result_release(&r);
	err_release(&e);
}

static void test_app_json_errors(void)
{
	struct push_result r = {0};
	struct err e = ERR_INIT;

	CHECK_INT(app_json("{\"healthchecks\": {\"web\": [{\"path\": \"/a\"},"
			   " {\"type\": \"liveness\"}]}}",
			   &r, &e),
		  -1);
	CHECK_STR(err_str(&e), "app.json: healthchecks.web[1].type: expected \"startup\", found "
			       "\"liveness\" (berth-proxy runs startup checks only)");
	CHECK(r.check.path == NULL); /* nothing taken from a bad file */
	CHECK_INT(app_json("{\"healthchecks\": {\"web\": [{\"attempts\": \"5\"}]}}", &r, &e), -1);
	CHECK_STR(
	    err_str(&e),
	    "app.json: healthchecks.web[0].attempts: expected a whole number, found a string");
	CHECK_INT(app_json("{\"healthchecks\": {\"web\": [{\"wait\": -1}]}}", &r, &e), -1);
	CHECK_STR(err_str(&e),
		  "app.json: healthchecks.web[0].wait: expected a number from 0 to 3600, found -1");
	CHECK_INT(app_json("{\"healthchecks\": {\"web\": [{\"path\": \"up\"}]}}", &r, &e), -1);
	CHECK_INT(app_json("{\"healthchecks\": {\"web\": [{\"paht\": \"/up\"}]}}", &r, &e), -1);
	CHECK_STR(err_str(&e), "app.json: healthchecks.web[0].paht: unknown healthcheck key");
	CHECK_INT(app_json("{\"healthchecks\": {\"web\": {}}}", &r, &e), -1);
	CHECK_STR(err_str(&e), "app.json: healthchecks.web: expected a list, found an object");
	CHECK_INT(app_json("{\"scripts\": {\"dokku\": {\"predeploy\": 1}}}", &r, &e), -1);
	CHECK_STR(err_str(&e),
		  "app.json: scripts.dokku.predeploy: expected a string, found an integer");
	CHECK_INT(app_json("{\"formation\": {\"web\": {\"quantity\": 101}}}", &r, &e), -1);
	CHECK_INT(app_json("{\"formation\": {\"a b\": {}}}", &r, &e), -1);
	CHECK_INT(app_json("[]", &r, &e), -1);
	CHECK_STR(err_str(&e), "app.json: expected an object at the top, found a list");
	CHECK_INT(app_json("{\"a\": 1, \"a\": 2}", &r, &e), -1);
	CHECK_INT(app_json("{\n  \"scripts\": ,\n}", &r, &e), -1);
	CHECK_INT(e.line, 2);
	push_result_release(&r);
	err_release(&e);
}

/* A repository with these files at one commit; its full hash in rev. */
static int make_repo(const char *dir, const char *const *files, struct sbuf *rev)
{
	struct sbuf path = SBUF_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	int ret = -1;
	size_t i;

	strvec_pushv(&c.argv, (const char *[]){"git", "init", "-q", dir, NULL});
	c.out = c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		goto out;
	}
	for (i = 0; files[i]; i += 2) {
		FILE *f;

		sbuf_reset(&path);
		sbuf_addf(&path, "%s/%s", dir, files[i]);
		f = fopen(path.buf, "w");
		if (!f) {
			goto out;
		}
		fputs(files[i + 1], f);
		fclose(f);
	}
	run_cmd_release(&c);
	strvec_pushv(&c.argv, (const char *[]){"git", "-C", dir, "add", "-A", NULL});
	c.out = c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		goto out;
	}
	run_cmd_release(&c);
	strvec_pushv(&c.argv, (const char *[]){"git", "-C", dir, "-c", "user.name=t", "-c",
					       "user.email=t@t", "commit", "-q", "-m", "x", NULL});
	c.out = c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		goto out;
	}
	run_cmd_release(&c);
	strvec_pushv(&c.argv, (const char *[]){"git", "-C", dir, "rev-parse", "HEAD", NULL});
	c.out = c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		goto out;
	}
	sbuf_rtrim(&c.outbuf);
	sbuf_reset(rev);
	sbuf_addstr(rev, c.outbuf.buf);
	ret = 0;
out:
	run_cmd_release(&c);
	sbuf_release(&path);
	return ret;
}

static void rm_rf(const char *dir)
{
	struct run_cmd c = RUN_CMD_INIT;

	strvec_pushv(&c.argv, (const char *[]){"rm", "-rf", dir, NULL});
	run_one(&c);
	run_cmd_release(&c);
}

static void test_read_revision(void)
{
	char dir[] = "/tmp/berth-test-push-XXXXXX";
	struct sbuf gd = SBUF_INIT, rev = SBUF_INIT;
	struct push_result r = {0};
	struct err e = ERR_INIT;
	struct push_opts o = {0};

	CHECK(mkdtemp(dir) != NULL);
	sbuf_addf(&gd, "%s/.git", dir);
	o.app = "shop";
	o.git_dir = gd.buf;
	/* no Procfile, no app.json: web alone, defaults */
	CHECK_INT(make_repo(dir, (const char *[]){"Dockerfile", "FROM scratch\n", NULL}, &rev), 0);
	o.rev = rev.buf;
	CHECK_INT(push_read(&o, &r, &e), 0);
	CHECK_INT(r.nprocs, 1);
	CHECK_STR(r.procs[0].type, "web");
	CHECK(r.procs[0].cmd == NULL);
	CHECK_INT(r.procs[0].scale, 1);
	CHECK_INT((int)strlen(r.version), 12);
	CHECK(!strncmp(r.version, rev.buf, 12));
	CHECK(!strncmp(r.image, "berthd/shop:", 12) && !strcmp(r.image + 12, r.version));
	push_result_release(&r);
	/* both files, formation scaling the worker */
	CHECK_INT(make_repo(dir,
			    (const char *[]){"Procfile", "web: /a\nworker: /b\n", "app.json",
					     "{\"formation\": {\"worker\": {\"quantity\": 1}},"
					     " \"scripts\": {\"dokku\": {\"predeploy\": \"/p\"}}}",
					     NULL},
			    &rev),
		  0);
	o.rev = rev.buf;
	CHECK_INT(push_read(&o, &r, &e), 0);
	CHECK_INT(r.nprocs, 2);
	CHECK_INT(r.procs[1].scale, 1);
	CHECK_STR(r.predeploy, "/p");
	push_result_release(&r);
	/* a bad app.json names itself */
	CHECK_INT(
	    make_repo(dir,
		      (const char *[]){"app.json",
				       "{\"formation\": {\"clock\": {\"quantity\": 1}}}", NULL},
		      &rev),
	    0);
	o.rev = rev.buf;
	CHECK_INT(push_read(&o, &r, &e), -1);
	CHECK_STR(err_str(&e), "app.json: formation.clock: no such process type in the Procfile");
	/* not a revision, not an app */
	o.rev = "0123456789abcdef0123456789abcdef01234567";
	CHECK_INT(push_read(&o, &r, &e), -1);
	CHECK(!strncmp(err_str(&e), "no commit 0123456789abcdef0123456789abcdef01234567 in", 53));
	o.rev = "HEAD";
	CHECK_INT(push_read(&o, &r, &e), -1);
	o.rev = rev.buf;
	o.app = "Shop";
	CHECK_INT(push_read(&o, &r, &e), -1);
	CHECK_STR(err_str(&e), "'Shop' is not an app name: [a-z][a-z0-9-]*, at most 63 characters");
	push_result_release(&r);
	rm_rf(dir);
	sbuf_release(&gd);
	sbuf_release(&rev);
	err_release(&e);
}

/* An upload: the files read from a directory, a link there refused. */
static void test_read_dir(void)
{
	char dir[] = "/tmp/berth-test-push-dir-XXXXXX";
	struct sbuf p = SBUF_INIT;
	struct push_result r = {0};
	struct err e = ERR_INIT;
	struct push_opts o = {0};
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	o.app = "shop";
	o.src_dir = dir;
	o.rev = "0123456789abcdef0123456789abcdef01234567";
	/* nothing but a Dockerfile: web alone; no git asked */
	CHECK_INT(push_read(&o, &r, &e), 0);
	CHECK_INT(r.nprocs, 1);
	CHECK_STR(r.version, "0123456789ab");
	CHECK_STR(r.image, "berthd/shop:0123456789ab");
	push_result_release(&r);
	sbuf_addf(&p, "%s/Procfile", dir);
	f = fopen(p.buf, "w");
	CHECK(f != NULL);
	fputs("web: /a\nworker: /b\n", f);
	fclose(f);
	CHECK_INT(push_read(&o, &r, &e), 0);
	CHECK_INT(r.nprocs, 2);
	CHECK_STR(r.procs[1].type, "worker");
	push_result_release(&r);
	/* a Procfile that is a link is not followed */
	unlink(p.buf);
	CHECK_INT(symlink("/etc/passwd", p.buf), 0);
	CHECK_INT(push_read(&o, &r, &e), -1);
	CHECK(strstr(err_str(&e), "Procfile") != NULL);
	push_result_release(&r);
	rm_rf(dir);
	sbuf_release(&p);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_procfile);
	UNIT_RUN(test_procfile_errors);
	UNIT_RUN(test_app_json);
	UNIT_RUN(test_app_json_errors);
	UNIT_RUN(test_read_revision);
	UNIT_RUN(test_read_dir);
	return unit_done();
}
