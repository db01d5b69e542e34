/*
 * Tests for git:sync's checks of a client's URL and ref, the redaction of
 * credentials, the git argv it runs (daemon/gitsync.h), doctor's helper
 * argv, and git:sync called as a function: refusals change nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/berthd.h"
#include "daemon/gitsync.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char dir[] = "/tmp/berth-test-gitsync-XXXXXX";

static void test_urls(void)
{
	static const char *const ok[] = {
	    "https://github.com/dokku/smoke-test-app.git",
	    "http://10.213.0.1:9418/repo",
	    "git://10.213.0.1:9418/repo",
	    "git://host/repo",
	    "https://user:tok%40en@git.example.com/a/b.git",
	    "https://[::1]:8443/repo",
	    "https://example.com",
	    "https://example.com/a?b=c#d",
	};
	static const char *const bad[] = {
	    "",
	    "-uhttps://x/y",
	    "--upload-pack=touch /tmp/x",
	    "ext::sh -c touch% /tmp/pwned",
	    "ext::sh",
	    "file:///etc",
	    "/srv/repo.git",
	    "../other.git",
	    "ssh://git@github.com/a/b",
	    "git@github.com:a/b.git",
	    "fd::17",
	    "HTTPS://example.com/x",
	    "https://",
	    "https:///path",
	    "https://-oProxyCommand=x/y",
	    "git://-x/repo",
	    "https://.example.com/",
	    "https://exa mple.com/",
	    "https://example.com/a b",
	    "https://example.com/\n",
	    "https://example.com/\t",
	    "https://example.com/a\\b",
	    "https://example.com:99999999/",
	    "https://example.com:/",
	    "https://[::1/",
	    "https://[]/",
	    "https://ex\x01ample.com/",
	    "https://example.com/\x7f",
	    "https://example.com/\xc3\xa9",
	};
	struct err e = ERR_INIT;
	struct sbuf long_url = SBUF_INIT;

	for (size_t i = 0; i < N(ok); i++) {
		if (gitsync_check_url(ok[i], &e) < 0) {
			printf("# refused '%s': %s\n", ok[i], err_str(&e));
			CHECK(0);
		}
		err_release(&e);
	}
	for (size_t i = 0; i < N(bad); i++) {
		if (gitsync_check_url(bad[i], &e) == 0) {
			printf("# taken '%s'\n", bad[i]);
			CHECK(0);
		}
		CHECK(err_isset(&e) || gitsync_check_url(bad[i], NULL) == 0);
		err_release(&e);
	}
	sbuf_addstr(&long_url, "https://example.com/");
	while (long_url.len <= GITSYNC_URL_MAX) {
		sbuf_addch(&long_url, 'a');
	}
	CHECK(gitsync_check_url(long_url.buf, &e) < 0);
	err_release(&e);
	/* the reasons say what is wrong */
	CHECK(gitsync_check_url("file:///etc", &e) < 0);
	CHECK(strstr(err_str(&e), "only https://, http:// and git://") != NULL);
	err_release(&e);
	CHECK(gitsync_check_url("-x", &e) < 0);
	CHECK(strstr(err_str(&e), "cannot start with '-'") != NULL);
	err_release(&e);
	sbuf_release(&long_url);
}

static void test_refs(void)
{
	static const char *const ok[] = {"main",
					 "master",
					 "v1.2.3",
					 "release/2024-01",
					 "feature_x",
					 "HEAD",
					 "6f8b75c",
					 "refs/tags/v1",
					 "a/b/c",
					 "1.0-rc.1",
					 "deadbeef0123456789abcdef0123456789abcdef"};
	static const char *const bad[] = {"",	      "-b",	     "--upload-pack=x",
					  "a..b",     "..",	     "/main",
					  "main/",    "a//b",	     "main.",
					  ".hidden",  "a/.b",	     "main.lock",
					  "a.lock/b", "a b",	     "a:b",
					  "a~1",      "a^",	     "a?",
					  "a*",	      "a[",	     "@{-1}",
					  "a@{0}",    "+main",	     "main\n",
					  "a\\b",     "HEAD:refs/x", "\xc3\xa9"};
	struct err e = ERR_INIT;
	struct sbuf long_ref = SBUF_INIT;

	for (size_t i = 0; i < N(ok); i++) {
		if (gitsync_check_ref(ok[i], &e) < 0) {
			printf("# refused '%s': %s\n", ok[i], err_str(&e));
			CHECK(0);
		}
		err_release(&e);
	}
	for (size_t i = 0; i < N(bad); i++) {
		if (gitsync_check_ref(bad[i], &e) == 0) {
			printf("# taken '%s'\n", bad[i]);
			CHECK(0);
		}
		err_release(&e);
	}
	while (long_ref.len <= GITSYNC_REF_MAX) {
		sbuf_addch(&long_ref, 'a');
	}
	CHECK(gitsync_check_ref(long_ref.buf, NULL) < 0);
	sbuf_release(&long_ref);
	CHECK(gitsync_is_hex("6f8b75c"));
	CHECK(gitsync_is_hex("6F8B75C048BA9C506E4BDD901FA3CAD44248B118"));
	CHECK(!gitsync_is_hex("6f8b75"));
	CHECK(!gitsync_is_hex("main"));
	CHECK(!gitsync_is_hex("6f8b75g"));
}

static void test_redaction(void)
{
	struct sbuf sb = SBUF_INIT;
	const char *url = "https://alice:s3cret@git.example.com/a.git";
	const char *git_err = "fatal: Authentication failed for 'https://alice:s3cret@git.example."
			      "com/a.git/'\n\x1b[31mred";

	gitsync_redact_url(&sb, url);
	CHECK_STR(sb.buf, "https://***@git.example.com/a.git");
	sbuf_reset(&sb);
	gitsync_redact_url(&sb, "git://host/repo");
	CHECK_STR(sb.buf, "git://host/repo");
	sbuf_reset(&sb);
	gitsync_redact_url(&sb, "https://token@host/x?a=b@c");
	CHECK_STR(sb.buf, "https://***@host/x?a=b@c");
	sbuf_reset(&sb);
	gitsync_redact_url(&sb, "bad\x1b[2Jurl\n");
	CHECK_STR(sb.buf, "bad?[2Jurl?");
	sbuf_reset(&sb);
	gitsync_redact_text(&sb, git_err, strlen(git_err), url);
	CHECK(!strstr(sb.buf, "s3cret"));
	CHECK(strstr(sb.buf, "https://***@git.example.com/a.git/'\n?[31mred") != NULL);
	sbuf_release(&sb);
}

static void test_fetch_argv(void)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf all = SBUF_INIT;
	size_t dd = 0;

	gitsync_fetch_cmd(&c, "/var/lib/berthd/repos/app.git", "git://h/r", "v1", false);
	CHECK_STR(c.argv.v[0], "git");
	for (size_t i = 0; i < c.argv.nr; i++) {
		sbuf_addf(&all, "%s|", c.argv.v[i]);
		if (!strcmp(c.argv.v[i], "--")) {
			dd = i;
		}
	}
	/* "--" right before the URL, the ref last: neither can be read as an option */
	CHECK(dd > 0);
	CHECK_INT(c.argv.nr, dd + 3);
	CHECK_STR(c.argv.v[dd + 1], "git://h/r");
	CHECK_STR(c.argv.v[dd + 2], "v1");
	CHECK(strstr(all.buf, "|--git-dir|/var/lib/berthd/repos/app.git|fetch|") != NULL);
	CHECK(strstr(all.buf, "|--no-recurse-submodules|") != NULL);
	CHECK(strstr(all.buf, "|protocol.allow=never|") != NULL);
	CHECK(strstr(all.buf, "|credential.helper=|") != NULL);
	CHECK(!strstr(all.buf, "protocol.file") && !strstr(all.buf, "protocol.ext"));
	sbuf_reset(&all);
	for (size_t i = 0; i < c.env.nr; i++) {
		sbuf_addf(&all, "%s|", c.env.v[i]);
	}
	CHECK(strstr(all.buf, "GIT_ALLOW_PROTOCOL=http:https:git|") != NULL);
	CHECK(strstr(all.buf, "GIT_TERMINAL_PROMPT=0|") != NULL);
	CHECK(strstr(all.buf, "|GIT_SSH_COMMAND|") != NULL); /* unset */

	gitsync_fetch_cmd(&c, "/r.git", "https://x/y", NULL, false);
	CHECK_STR(c.argv.v[c.argv.nr - 1], "HEAD");
	CHECK_STR(c.argv.v[c.argv.nr - 2], "https://x/y");
	CHECK_STR(c.argv.v[c.argv.nr - 3], "--");
	gitsync_fetch_cmd(&c, "/r.git", "https://x/y", "abc1234", true);
	CHECK_STR(c.argv.v[c.argv.nr - 2], "+refs/heads/*:" GITSYNC_NAMESPACE "heads/*");
	CHECK_STR(c.argv.v[c.argv.nr - 1], "+refs/tags/*:" GITSYNC_NAMESPACE "tags/*");
	CHECK_STR(c.argv.v[c.argv.nr - 3], "https://x/y");
	sbuf_release(&all);
	run_cmd_release(&c);
}

static void test_doctor_wrap(void)
{
	struct strvec w = STRVEC_INIT;
	char *j;

	bd_doctor_wrap(&w, "sha256:abc", "berthd-doctor-7");
	j = strvec_join(&w, " ");
	CHECK(!strncmp(j, "docker run --rm -i ", 19));
	CHECK(strstr(j, " --name berthd-doctor-7 ") != NULL);
	CHECK(strstr(j, " --pid host ") != NULL);
	CHECK(strstr(j, " --network host ") != NULL);
	CHECK(strstr(j, " -v /:/host:ro ") != NULL);
	CHECK(strstr(j, " --log-driver none ") != NULL);
	CHECK(!strstr(j, "--privileged"));
	CHECK(strstr(j, " sha256:abc chroot /host /usr/bin/env") != NULL);
	CHECK_STR(w.v[w.nr - 1], "/usr/bin/env");
	free(j);
	strvec_clear(&w);
}

static void bd_open(struct bd *bd)
{
	memset(bd, 0, sizeof(*bd));
	bd->state_dir = dir;
	bd->admin = true;
	bd->quiet = true;
	CHECK(store_open(&bd->store, dir, NULL) == 0);
}

static void test_sync_refuses_and_changes_nothing(void)
{
	static const char *const calls[][6] = {
	    {"git:sync", "web", "file:///etc", NULL},
	    {"git:sync", "web", "ext::sh -c id", NULL},
	    {"git:sync", "web", "--", "--upload-pack=touch /tmp/x", NULL},
	    {"git:sync", "web", "git://h/r", "--", "-b", NULL},
	    {"git:sync", "web", "git://h/r", "a..b", NULL},
	    {"git:sync", "--build", "web", "https://x/y", "main", "extra"},
	    {"git:sync", "--bogus", "web", "https://x/y", NULL},
	    {"git:sync", "web", NULL},
	    {"git:sync", "--build", "new", "ssh://git@h/r", NULL},
	};
	struct store_event *evs = NULL;
	struct bd bd;
	size_t nev = 0;
	char *repos;

	bd_open(&bd);
	for (size_t i = 0; i < N(calls); i++) {
		int argc = 0;
		const char *argv[7] = {0};
		while (argc < 6 && calls[i][argc]) {
			argv[argc] = calls[i][argc];
			argc++;
		}
		CHECK_INT(cmd_git_sync(&bd, argc, argv), 1);
	}
	/* no app, no --build: Dokku's exit code for a missing app, and no app made */
	{
		const char *argv[] = {"git:sync", "ghost", "git://127.0.0.1:1/r", NULL};
		CHECK_INT(cmd_git_sync(&bd, 3, argv), BD_EXIT_NO_APP);
	}
	CHECK(!store_app_exists(&bd.store, "web"));
	CHECK(!store_app_exists(&bd.store, "new"));
	CHECK(!store_app_exists(&bd.store, "ghost"));
	repos = bd_path(&bd, "repos");
	CHECK(access(repos, F_OK) < 0);
	free(repos);
	CHECK(store_event_list(&bd.store, 0, 100, &evs, &nev, NULL) == 0);
	CHECK_INT(nev, 0);
	store_events_free(evs, nev);
	store_close(&bd.store);
}

static void test_sync_needs_deploy(void)
{
	struct bd bd;

	bd_open(&bd);
	store_app_create(&bd.store, "web", NULL);
	store_key_add(&bd.store, "r", "SHA256:r", "ssh-ed25519 AAAA", false, NULL);
	store_right_grant(&bd.store, "r", "web", "read", NULL);
	bd.admin = false;
	bd.key = "r";
	/* git:sync is BD_NEW_APP: the deploy right on the name, which a read grant is not */
	CHECK(!bd_can(&bd, "web", BD_DEPLOY));
	CHECK(!bd_can(&bd, "other", BD_DEPLOY));
	store_right_grant(&bd.store, "r", "web", "deploy", NULL);
	CHECK(bd_can(&bd, "web", BD_DEPLOY));
	store_key_remove(&bd.store, "r", NULL);
	store_app_destroy(&bd.store, "web", NULL);
	store_close(&bd.store);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_urls);
	UNIT_RUN(test_refs);
	UNIT_RUN(test_redaction);
	UNIT_RUN(test_fetch_argv);
	UNIT_RUN(test_doctor_wrap);
	UNIT_RUN(test_sync_refuses_and_changes_nothing);
	UNIT_RUN(test_sync_needs_deploy);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
