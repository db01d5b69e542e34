/* Tests for daemon/sshcmd.c: SSH_ORIGINAL_COMMAND into an argv, without a shell. */
#include <stdlib.h>
#include <string.h>

#include "daemon/sshcmd.h"
#include "lib/sbuf.h"
#include "unit.h"

/* Splits line and joins the words with '|' (or "ERR: message"). */
static char *split(const char *line)
{
	struct strvec w = STRVEC_INIT;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;

	if (sshcmd_split(line, strlen(line), &w, &e) < 0) {
		sbuf_addf(&sb, "ERR: %s", err_str(&e));
	} else {
		for (size_t i = 0; i < w.nr; i++) {
			sbuf_addf(&sb, "%s%s", i ? "|" : "", w.v[i]);
		}
	}
	strvec_clear(&w);
	err_release(&e);
	return sbuf_detach(&sb, NULL);
}

#define CHECK_SPLIT(line, want)                                                                    \
	do {                                                                                       \
		char *got_ = split(line);                                                          \
		CHECK_STR(got_, want);                                                             \
		free(got_);                                                                        \
	} while (0)

static void test_split_words(void)
{
	CHECK_SPLIT("apps:list", "apps:list");
	CHECK_SPLIT("  config:set   web\tA=1  ", "config:set|web|A=1");
	CHECK_SPLIT("config:set web 'A=hello world'", "config:set|web|A=hello world");
	CHECK_SPLIT("config:set web A='x y'z", "config:set|web|A=x yz");
	CHECK_SPLIT("a \"b \\\" \\\\ \\n c\"", "a|b \" \\ \\n c");
	CHECK_SPLIT("a b\\ c", "a|b c");
	CHECK_SPLIT("a '' b", "a||b");
	CHECK_SPLIT("a \\\n b", "a|b");
}

static void test_split_no_expansion(void)
{
	CHECK_SPLIT("config:set web A=$(id) B=`id` C=${HOME} D=*",
		    "config:set|web|A=$(id)|B=`id`|C=${HOME}|D=*");
	CHECK_SPLIT("config:set web A=1;id B=2|cat C=3&&x", "config:set|web|A=1;id|B=2|cat|C=3&&x");
	CHECK_SPLIT("a ~ > x < y", "a|~|>|x|<|y");
	CHECK_SPLIT("a '$HOME \\n'", "a|$HOME \\n");
}

static void test_split_refused(void)
{
	CHECK_SPLIT("a 'b", "ERR: unterminated quote (') at byte 3");
	CHECK_SPLIT("a \"b", "ERR: unterminated quote (\") at byte 3");
	CHECK_SPLIT("a \\", "ERR: command ends with a backslash");
	CHECK_SPLIT("", "ERR: no command given");
	CHECK_SPLIT("   \t ", "ERR: no command given");
	{
		struct strvec w = STRVEC_INIT;
		struct err e = ERR_INIT;
		CHECK(sshcmd_split("a\0b", 3, &w, &e) < 0);
		CHECK_STR(err_str(&e), "command holds a NUL byte");
		err_release(&e);
	}
	{
		struct sbuf big = SBUF_INIT;
		char *got;
		for (int i = 0; i <= SSHCMD_MAX_WORDS; i++) {
			sbuf_addstr(&big, "w ");
		}
		got = split(big.buf);
		CHECK_STR(got, "ERR: command has too many words (at most 1024)");
		free(got);
		sbuf_reset(&big);
		sbuf_addstr(&big, "config:set web A=");
		while (big.len <= SSHCMD_MAX_LEN) {
			sbuf_addstr(&big, "xxxxxxxxxxxxxxxx");
		}
		got = split(big.buf);
		CHECK(!strncmp(got, "ERR: command is too long", 24));
		free(got);
		sbuf_release(&big);
	}
}

static char *parse(const char *line)
{
	struct sshcmd c = SSHCMD_INIT;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;

	if (sshcmd_parse(line, strlen(line), &c, &e) < 0) {
		sbuf_addf(&sb, "ERR: %s", err_str(&e));
	} else {
		static const char *const kinds[] = {"cmd", "receive", "upload"};
		sbuf_addf(&sb, "%s%s%s:", kinds[c.kind], c.quiet ? ",quiet" : "",
			  c.json ? ",json" : "");
		for (size_t i = 0; i < c.argv.nr; i++) {
			sbuf_addf(&sb, "%s%s", i ? "|" : "", c.argv.v[i]);
		}
		if (c.app) {
			sbuf_addf(&sb, " app=%s", c.app);
		}
	}
	sshcmd_release(&c);
	err_release(&e);
	return sbuf_detach(&sb, NULL);
}

#define CHECK_PARSE(line, want)                                                                    \
	do {                                                                                       \
		char *got_ = parse(line);                                                          \
		CHECK_STR(got_, want);                                                             \
		free(got_);                                                                        \
	} while (0)

static void test_parse_forms(void)
{
	CHECK_PARSE("config:set web A=1", "cmd:config:set|web|A=1");
	CHECK_PARSE("--app web config:set A=1", "cmd:config:set|web|A=1");
	CHECK_PARSE("--app=web config:show", "cmd:config:show|web");
	CHECK_PARSE("--quiet --app web ps:report", "cmd,quiet:ps:report|web");
	CHECK_PARSE("--app web postgres:link db", "cmd:postgres:link|db|web");
	CHECK_PARSE("--app web redis:unlink cache", "cmd:redis:unlink|cache|web");
	CHECK_PARSE("--app web postgres:link", "cmd:postgres:link|web");
	CHECK_PARSE("--format json ssh-keys:list", "cmd,json:ssh-keys:list");
	CHECK_PARSE("--format=text apps:list", "cmd:apps:list");
	CHECK_PARSE("--format xml apps:list", "ERR: unknown format 'xml' (json or text)");
	CHECK_PARSE("--app", "ERR: option '--app' expects a value");
	CHECK_PARSE("--quiet", "ERR: no command given");
	/* a command's own options stay with it */
	CHECK_PARSE("apps:destroy web --force", "cmd:apps:destroy|web|--force");
	CHECK_PARSE("--help", "cmd:--help");
}

static void test_parse_git(void)
{
	CHECK_PARSE("git-receive-pack 'web'", "receive:git-receive-pack|web app=web");
	CHECK_PARSE("git-receive-pack '/web'", "receive:git-receive-pack|web app=web");
	CHECK_PARSE("git-receive-pack 'web.git'", "receive:git-receive-pack|web app=web");
	CHECK_PARSE("git-receive-pack '/web.git/'", "receive:git-receive-pack|web app=web");
	CHECK_PARSE("git-upload-pack web", "upload:git-upload-pack|web app=web");
	CHECK_PARSE("git-receive-pack '../etc'", "ERR: invalid app name '../etc'");
	CHECK_PARSE("git-receive-pack 'a/b'", "ERR: invalid app name 'a/b'");
	CHECK_PARSE("git-receive-pack 'Web'", "ERR: invalid app name 'Web'");
	CHECK_PARSE("git-receive-pack", "ERR: git-receive-pack takes one repository");
	CHECK_PARSE("git-receive-pack a b", "ERR: git-receive-pack takes one repository");
}

static void test_valid_app(void)
{
	CHECK(sshcmd_valid_app("a"));
	CHECK(sshcmd_valid_app("my-app-2"));
	CHECK(!sshcmd_valid_app(""));
	CHECK(!sshcmd_valid_app("2app"));
	CHECK(!sshcmd_valid_app("-app"));
	CHECK(!sshcmd_valid_app("app_1"));
	CHECK(!sshcmd_valid_app("App"));
	CHECK(!sshcmd_valid_app("a.b"));
	CHECK(sshcmd_valid_app("a23456789012345678901234567890123456789012345678901234567890123"));
	CHECK(
	    !sshcmd_valid_app("a234567890123456789012345678901234567890123456789012345678901234"));
}

int main(void)
{
	UNIT_RUN(test_split_words);
	UNIT_RUN(test_split_no_expansion);
	UNIT_RUN(test_split_refused);
	UNIT_RUN(test_parse_forms);
	UNIT_RUN(test_parse_git);
	UNIT_RUN(test_valid_app);
	return unit_done();
}
