#include "engine/secrets.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "unit.h"

/* Parses text as file "f" (commands allowed, run in dir); returns parse's result. */
static int parse_in(struct secrets *s, const char *text, const char *dir, unsigned flags,
		    struct err *e)
{
	return secrets_parse_dotenv_flags(s, "f", text, strlen(text), dir, flags, e);
}

static int parse(struct secrets *s, const char *text, struct err *e)
{
	return parse_in(s, text, NULL, 0, e);
}

/* Parses text that must fail; returns the error message (static) for checks. */
static const char *parse_error(const char *text, unsigned flags)
{
	static char msg[1024];
	struct secrets s;
	struct err e = ERR_INIT;
	int r;

	secrets_init(&s);
	r = parse_in(&s, text, NULL, flags, &e);
	CHECK_INT(r, -1);
	snprintf(msg, sizeof(msg), "%s", err_str(&e));
	err_release(&e);
	secrets_release(&s);
	return msg;
}

#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (!strstr(h_, (needle))) {                                                       \
			printf("#   %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,  \
			       h_, (needle));                                                      \
			unit_failures_in_test++;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_LACKS(hay, needle)                                                                   \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (strstr(h_, (needle))) {                                                        \
			printf("#   %s:%d: \"%s\" contains \"%s\"\n", __FILE__, __LINE__, h_,      \
			       (needle));                                                          \
			unit_failures_in_test++;                                                   \
		}                                                                                  \
	} while (0)

static void test_unquoted_forms(void)
{
	struct secrets s;
	struct err e = ERR_INIT;

	secrets_init(&s);
	CHECK_INT(parse(&s,
			"# a comment\n"
			"\n"
			"   \t\n"
			"A=plain\n"
			"export B=exported\n"
			"  C = spaced out  \n"
			"D=value # comment\n"
			"E=a#b\n"
			"F=#x\n"
			"G=\n"
			"H= # only a comment\n"
			"I=with inner  spaces\t\n"
			"J: colon\n"
			"K.dotted_9=k\n"
			"_L=a\\ b\\\\c\\$d\\\\\n"
			"export=1\n"
			"  # indented comment\n"
			"M=last",
			&e),
		  0);
	CHECK_STR(secrets_get(&s, "A"), "plain");
	CHECK_STR(secrets_get(&s, "B"), "exported");
	CHECK_STR(secrets_get(&s, "C"), "spaced out");
	CHECK_STR(secrets_get(&s, "D"), "value");
	CHECK_STR(secrets_get(&s, "E"), "a#b");
	CHECK_STR(secrets_get(&s, "F"), "#x");
	CHECK_STR(secrets_get(&s, "G"), "");
	CHECK_STR(secrets_get(&s, "H"), "");
	CHECK_STR(secrets_get(&s, "I"), "with inner  spaces");
	CHECK_STR(secrets_get(&s, "J"), "colon");
	CHECK_STR(secrets_get(&s, "K.dotted_9"), "k");
	CHECK_STR(secrets_get(&s, "_L"), "a b\\c$d\\");
	CHECK_STR(secrets_get(&s, "export"), "1");
	CHECK_STR(secrets_get(&s, "M"), "last");
	CHECK(secrets_get(&s, "N") == NULL);
	CHECK_INT(s.names.nr, 14);
	CHECK_STR(s.names.v[0], "A");
	CHECK_STR(s.files.v[0], "f");
	secrets_release(&s);
	err_release(&e);
}

static void test_double_quoted(void)
{
	struct secrets s;
	struct err e = ERR_INIT;

	secrets_init(&s);
	CHECK_INT(parse(&s,
			"A=\"a\\nb\\tc\\\"d\\\\e\\$f\\rg\\qh\"\n"
			"B=\"  keeps spaces # not a comment  \" # a comment\n"
			"C=\"line one\n"
			"line two\"\n"
			"D=\"\"\n"
			"E=\"x\"#comment\n"
			"F=\"it's\"\n",
			&e),
		  0);
	CHECK_STR(secrets_get(&s, "A"), "a\nb\tc\"d\\e$f\rgqh");
	CHECK_STR(secrets_get(&s, "B"), "  keeps spaces # not a comment  ");
	CHECK_STR(secrets_get(&s, "C"), "line one\nline two");
	CHECK_STR(secrets_get(&s, "D"), "");
	CHECK_STR(secrets_get(&s, "E"), "x");
	CHECK_STR(secrets_get(&s, "F"), "it's");
	secrets_release(&s);
	err_release(&e);
}

static void test_single_quoted(void)
{
	struct secrets s;
	struct err e = ERR_INIT;

	setenv("SECRETS_TEST_ENV", "from-env", 1);
	secrets_init(&s);
	CHECK_INT(parse(&s,
			"X=x\n"
			"A='$X ${X} $(echo no) \\n \"q\" # kept'\n"
			"B='multi\n"
			"line' # comment\n"
			"C='it\\'s'\n"
			"D=''\n",
			&e),
		  0);
	CHECK_STR(secrets_get(&s, "A"), "$X ${X} $(echo no) \\n \"q\" # kept");
	CHECK_STR(secrets_get(&s, "B"), "multi\nline");
	CHECK_STR(secrets_get(&s, "C"), "it\\'s");
	CHECK_STR(secrets_get(&s, "D"), "");
	secrets_release(&s);
	err_release(&e);
}

static void test_line_ends(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	const char text[] = "\xef\xbb\xbf"
			    "A=1\r\nB=\"x\r\ny\"\rC=3\r\n";

	secrets_init(&s);
	CHECK_INT(secrets_parse_dotenv(&s, "f", text, sizeof(text) - 1, NULL, &e), 0);
	CHECK_STR(secrets_get(&s, "A"), "1");
	CHECK_STR(secrets_get(&s, "B"), "x\ny");
	CHECK_STR(secrets_get(&s, "C"), "3");
	CHECK_INT(s.names.nr, 3);
	secrets_release(&s);
	err_release(&e);
}

static void test_expansion(void)
{
	struct secrets s;
	struct err e = ERR_INIT;

	setenv("SECRETS_TEST_ENV", "from-env", 1);
	setenv("SECRETS_TEST_BOTH", "env-loses", 1);
	unsetenv("SECRETS_TEST_UNSET");
	secrets_init(&s);
	CHECK_INT(parse(&s,
			"DB_PASSWORD=pw\n"
			"SECRETS_TEST_BOTH=file-wins\n"
			"URL=postgres://u:${DB_PASSWORD}@db/app\n"
			"Q=\"$DB_PASSWORD-${DB_PASSWORD}x\"\n"
			"ENV=$SECRETS_TEST_ENV\n"
			"BOTH=$SECRETS_TEST_BOTH\n"
			"NONE=[$SECRETS_TEST_UNSET]\n"
			"ESC=\\$DB_PASSWORD \"\\$DB_PASSWORD\"\n"
			"ESC2=\"\\$DB_PASSWORD\"\n"
			"DOLLAR=a$ b$-c$\n"
			"LATER=$AFTER\n"
			"AFTER=after\n"
			"DB_PASSWORD=$DB_PASSWORD-2\n",
			&e),
		  0);
	CHECK_STR(secrets_get(&s, "URL"), "postgres://u:pw@db/app");
	CHECK_STR(secrets_get(&s, "Q"), "pw-pwx");
	CHECK_STR(secrets_get(&s, "ENV"), "from-env");
	CHECK_STR(secrets_get(&s, "BOTH"), "file-wins");
	CHECK_STR(secrets_get(&s, "NONE"), "[]");
	CHECK_STR(secrets_get(&s, "ESC"), "$DB_PASSWORD \"$DB_PASSWORD\"");
	CHECK_STR(secrets_get(&s, "ESC2"), "$DB_PASSWORD");
	CHECK_STR(secrets_get(&s, "DOLLAR"), "a$ b$-c$");
	CHECK_STR(secrets_get(&s, "LATER"), "");
	/* redefinition: keeps its place, uses the earlier value */
	CHECK_STR(secrets_get(&s, "DB_PASSWORD"), "pw-2");
	CHECK_STR(s.names.v[0], "DB_PASSWORD");
	secrets_release(&s);

	/* keys of an earlier file are visible; the environment can be turned off */
	secrets_init(&s);
	CHECK_INT(secrets_parse_dotenv(&s, "common", "SHARED=s", 8, NULL, &e), 0);
	CHECK_INT(
	    parse_in(&s, "A=$SHARED\nB=[$SECRETS_TEST_ENV]\n", NULL, SECRETS_F_NO_ENVIRON, &e), 0);
	CHECK_STR(secrets_get(&s, "A"), "s");
	CHECK_STR(secrets_get(&s, "B"), "[]");
	CHECK_STR(s.files.v[0], "common");
	CHECK_STR(s.files.v[1], "f");
	secrets_release(&s);
	err_release(&e);
}

static void test_commands(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	char tmpl[] = "/tmp/test-secrets-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char real[PATH_MAX];

	CHECK(dir != NULL);
	CHECK(realpath(dir, real) != NULL);
	secrets_init(&s);
	CHECK_INT(parse_in(&s,
			   "A=$(echo hello)\n"
			   "B=$(printf '%s\\n' \"op://vault/x\" | tr -d '\\n')\n"
			   "C=$(printf 'x\\n\\n\\n')\n"
			   "D=\"pre-$(echo \"a b\")-post\"\n"
			   "E=$(echo 'a#b') # comment\n"
			   "F=$(echo $(echo nested))\n"
			   "G=$(pwd)\n"
			   "H=\"$(printf 'two\\nlines'\n"
			   ")\"\n"
			   "I=\\$(echo literal)\n"
			   "J='$(echo literal)'\n"
			   "K=$(printf '%s' \"$A\" | tr a-z A-Z)\n"
			   "L=$(printf 'x)y')\n",
			   dir, 0, &e),
		  0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	CHECK_STR(secrets_get(&s, "A"), "hello");
	CHECK_STR(secrets_get(&s, "B"), "op://vault/x");
	CHECK_STR(secrets_get(&s, "C"), "x\n\n"); /* Ruby's chomp: one newline goes */
	CHECK_STR(secrets_get(&s, "D"), "pre-a b-post");
	CHECK_STR(secrets_get(&s, "E"), "a#b");
	CHECK_STR(secrets_get(&s, "F"), "nested");
	CHECK_STR(secrets_get(&s, "G"), real);
	CHECK_STR(secrets_get(&s, "H"), "two\nlines");
	CHECK_STR(secrets_get(&s, "I"), "$(echo literal)");
	CHECK_STR(secrets_get(&s, "J"), "$(echo literal)");
	CHECK_STR(secrets_get(&s, "K"), "HELLO");
	CHECK_STR(secrets_get(&s, "L"), "x)y");
	secrets_release(&s);
	rmdir(dir);
	err_release(&e);
}

/* An earlier secret reaches a command through its environment, never through argv. */
static void test_command_env_not_argv(void)
{
	struct secrets s;
	struct err e = ERR_INIT;

	secrets_init(&s);
	CHECK_INT(parse(&s,
			"TOKEN=s3cr3t-value\n"
			"SEEN=$(printf '%s' \"$TOKEN\")\n"
			"ARGV=$(tr '\\0' ' ' </proc/$$/cmdline)\n",
			&e),
		  0);
	CHECK_STR(secrets_get(&s, "SEEN"), "s3cr3t-value");
	CHECK_CONTAINS(secrets_get(&s, "ARGV"), "sh -c ");
	CHECK_CONTAINS(secrets_get(&s, "ARGV"), "/proc/$$/cmdline");
	CHECK_LACKS(secrets_get(&s, "ARGV"), "s3cr3t");
	secrets_release(&s);
	err_release(&e);
}

static void test_command_failure(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	const char *msg;

	/* as Kamal: the exit status is not looked at, the output is the value */
	secrets_init(&s);
	CHECK_INT(parse(&s,
			"A=1\n"
			"PASSWORD=$(printf 'top%s' secretvalue; exit 3)\n"
			"MISSING=$(sh -c 'echo no such item >&2; exit 1' 2>/dev/null)\n"
			"B=$(exit 1) # ok\n",
			&e),
		  0);
	CHECK_STR(secrets_get(&s, "PASSWORD"), "topsecretvalue");
	CHECK_STR(secrets_get(&s, "MISSING"), "");
	CHECK_STR(secrets_get(&s, "B"), "");
	secrets_release(&s);
	err_release(&e);

	msg = parse_error("A=$(printf 'a\\0b')\n", 0);
	CHECK_CONTAINS(msg, "f:1: A: command");
	CHECK_CONTAINS(msg, "NUL byte");

	/* a command that prints without end is stopped */
	msg = parse_error("A=$(yes)\n", 0);
	CHECK_STR(msg, "f:1: A: command 'yes' printed more than 262144 bytes");

	msg = parse_error("OK=1\nA=x$(echo hi)\n", SECRETS_F_NO_COMMANDS);
	CHECK_STR(msg, "f:2: A: command substitution \"$(...)\" is not allowed here");
	msg = parse_error("A=\"$(echo hi)\"\n", SECRETS_F_NO_COMMANDS);
	CHECK_CONTAINS(msg, "not allowed");
}

static void test_errors(void)
{
	const char *msg;

	msg = parse_error("A=1\n\njustapassword\n", 0);
	CHECK_STR(msg, "f:3: expected KEY=VALUE, found a line without '='");
	CHECK_LACKS(msg, "justapassword");

	msg = parse_error("MY-KEY=hidden\n", 0);
	CHECK_STR(msg, "f:1: expected KEY=VALUE, found '-' in the key name");

	msg = parse_error("1KEY=hidden\n", 0);
	CHECK_STR(msg, "f:1: expected KEY=VALUE, found a key name starting with '1'");

	msg = parse_error(" =hidden\n", 0);
	CHECK_STR(msg, "f:1: expected KEY=VALUE, found an empty key name");

	msg = parse_error("K\xc3\xa9=hidden\n", 0);
	CHECK_STR(msg, "f:1: expected KEY=VALUE, found a byte 0xc3 in the key name");

	msg = parse_error("MY KEY=hidden\n", 0);
	CHECK_STR(msg, "f:1: expected KEY=VALUE, found a space in the key name");

	msg = parse_error("A=1\nB=\"hidden\nstill hidden\n", 0);
	CHECK_STR(msg, "f:2: B: unterminated double-quoted value");
	CHECK_LACKS(msg, "hidden");

	msg = parse_error("B='hidden\n", 0);
	CHECK_STR(msg, "f:1: B: unterminated single-quoted value");

	msg = parse_error("A=\"x\ny\"\nB=\"hidden\" trailing\n", 0);
	CHECK_STR(msg, "f:3: B: expected the end of the line after the closing quote, found more "
		       "text");
	CHECK_LACKS(msg, "trailing");

	msg = parse_error("A='x\ny'\n\nC=${hidden\n", 0);
	CHECK_CONTAINS(msg, "f:4: C: expected \"${NAME}\"");
	CHECK_LACKS(msg, "hidden");

	msg = parse_error("C=${}\n", 0);
	CHECK_CONTAINS(msg, "f:1: C: expected \"${NAME}\"");

	msg = parse_error("C=$(echo hidden\n)\n", 0);
	CHECK_STR(msg, "f:1: C: unterminated \"$(\": no matching ')' on the line");

	msg = parse_error("C=\"$(echo 'hidden)\"\n", 0);
	CHECK_STR(msg, "f:1: C: unterminated quote in \"$(...)\"");

	msg = parse_error("export NOPE\n", 0);
	CHECK_STR(msg, "f:1: 'NOPE' is exported but not set");
}

static void test_export_check(void)
{
	struct secrets s;
	struct err e = ERR_INIT;

	secrets_init(&s);
	CHECK_INT(parse(&s, "A=1\nB=2\nexport A B # both set\nexport A\n", &e), 0);
	CHECK_INT(s.names.nr, 2);
	secrets_release(&s);
	CHECK_STR(parse_error("A=1\nexport A C\n", 0), "f:2: 'C' is exported but not set");
	err_release(&e);
}

static void test_limits(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	struct sbuf text = SBUF_INIT;
	const char nul[] = "A=1\nB=x\0y\n";
	int i;

	/* a NUL byte, with its line */
	secrets_init(&s);
	CHECK_INT(secrets_parse_dotenv(&s, "f", nul, sizeof(nul) - 1, NULL, &e), -1);
	CHECK_STR(err_str(&e), "f:2: found a NUL byte");
	secrets_release(&s);

	/* too many lines */
	for (i = 0; i <= SECRETS_MAX_LINES; i++) {
		sbuf_addstr(&text, "#\n");
	}
	secrets_init(&s);
	CHECK_INT(secrets_parse_dotenv(&s, "f", text.buf, text.len, NULL, &e), -1);
	CHECK_CONTAINS(err_str(&e), "more than 10000 lines");
	secrets_release(&s);

	/* a value too long, also when built by expansion */
	sbuf_reset(&text);
	sbuf_addstr(&text, "A=");
	for (i = 0; i < SECRETS_MAX_VALUE / 1024; i++) {
		int j;
		for (j = 0; j < 1024; j++) {
			sbuf_addch(&text, 'x');
		}
	}
	sbuf_addstr(&text, "\nB=$A$A\n");
	secrets_init(&s);
	CHECK_INT(secrets_parse_dotenv(&s, "f", text.buf, text.len, NULL, &e), -1);
	CHECK_STR(err_str(&e), "f:2: B: value longer than 262144 bytes");
	secrets_release(&s);

	/* a file too large */
	secrets_init(&s);
	CHECK_INT(secrets_parse_dotenv(&s, "f", text.buf, SECRETS_MAX_FILE + 1, NULL, &e), -1);
	secrets_release(&s);
	sbuf_release(&text);
	err_release(&e);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void remove_file(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK_INT(remove(path), 0);
}

static void test_load(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	char tmpl[] = "/tmp/test-secrets-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char path[4096];

	CHECK(dir != NULL);
	/* nothing there at all: fine, and empty */
	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, NULL, &e), 0);
	CHECK_INT(s.names.nr, 0);
	secrets_release(&s);

	snprintf(path, sizeof(path), "%s/.kamal", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	write_file(dir, "token.txt", "tok\n");
	write_file(dir, ".kamal/secrets-common", "COMMON=c\nOVER=common\n");
	write_file(dir, ".kamal/secrets",
		   "OVER=plain-$COMMON\nTOKEN=$(cat token.txt)\nSEEN=[$(printf %s \"$COMMON\")]\n");
	write_file(dir, ".kamal/secrets.staging", "OVER=staging\n");
	write_file(dir, ".kamal/secrets.eu-west.1", "OVER=eu\n");

	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, NULL, &e), 0);
	CHECK_STR(secrets_get(&s, "COMMON"), "c");
	/* each file is read on its own, as Kamal's dotenv reads it: COMMON is not seen */
	CHECK_STR(secrets_get(&s, "OVER"), "plain-");
	CHECK_STR(secrets_get(&s, "SEEN"), "[]");
	CHECK_STR(secrets_get(&s, "TOKEN"), "tok");
	snprintf(path, sizeof(path), "%s/.kamal/secrets", dir);
	CHECK_STR(s.files.v[1], path);
	CHECK_STR(s.names.v[1], "OVER");
	secrets_release(&s);

	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, "staging", &e), 0);
	CHECK_STR(secrets_get(&s, "OVER"), "staging");
	CHECK(secrets_get(&s, "TOKEN") == NULL);
	secrets_release(&s);

	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, "eu-west.1", &e), 0);
	CHECK_STR(secrets_get(&s, "OVER"), "eu");
	secrets_release(&s);

	/* a destination without its file: only the common secrets */
	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, "production", &e), 0);
	CHECK_STR(secrets_get(&s, "OVER"), "common");
	CHECK_INT(s.names.nr, 2);
	secrets_release(&s);

	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, "../etc", &e), -1);
	CHECK_CONTAINS(err_str(&e), "invalid destination '../etc'");
	secrets_release(&s);

	/* an error names the file */
	write_file(dir, ".kamal/secrets.bad", "A=1\nnot a pair\n");
	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, "bad", &e), -1);
	snprintf(path, sizeof(path), "%s/.kamal/secrets.bad:2: expected KEY=VALUE", dir);
	CHECK_CONTAINS(err_str(&e), path);
	secrets_release(&s);

	/* .berth wins over .kamal when it exists, even with no files in it */
	snprintf(path, sizeof(path), "%s/.berth", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, NULL, &e), 0);
	CHECK_INT(s.names.nr, 0);
	secrets_release(&s);
	write_file(dir, ".berth/secrets", "B=berth\n");
	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, NULL, &e), 0);
	CHECK_STR(secrets_get(&s, "B"), "berth");
	CHECK(secrets_get(&s, "COMMON") == NULL);
	secrets_release(&s);

	remove_file(dir, ".berth/secrets");
	remove_file(dir, ".berth");
	remove_file(dir, ".kamal/secrets-common");
	remove_file(dir, ".kamal/secrets");
	remove_file(dir, ".kamal/secrets.staging");
	remove_file(dir, ".kamal/secrets.eu-west.1");
	remove_file(dir, ".kamal/secrets.bad");
	remove_file(dir, ".kamal");
	remove_file(dir, "token.txt");
	CHECK_INT(rmdir(dir), 0);
	err_release(&e);
}

/* Kamal's secrets_path: <path>-common, then <path> or <path>.DEST. */
static void test_load_path(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	char tmpl[] = "/tmp/test-secrets-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char path[4096];

	CHECK(dir != NULL);
	write_file(dir, "sec-common", "A=common\nB=common\n");
	write_file(dir, "sec", "A=$(cat sec.prod)\n");
	write_file(dir, "sec.prod", "A=prod\n");
	snprintf(path, sizeof(path), "%s/sec", dir);
	secrets_init(&s);
	CHECK_INT(secrets_load_path(&s, path, NULL, dir, &e), 0);
	CHECK_STR(secrets_get(&s, "A"), "A=prod");
	CHECK_STR(secrets_get(&s, "B"), "common");
	secrets_release(&s);
	secrets_init(&s);
	CHECK_INT(secrets_load_path(&s, path, "prod", dir, &e), 0);
	CHECK_STR(secrets_get(&s, "A"), "prod");
	secrets_release(&s);
	secrets_init(&s);
	CHECK_INT(secrets_load_path(&s, path, "a/b", dir, &e), -1);
	CHECK_CONTAINS(err_str(&e), "invalid destination 'a/b'");
	secrets_release(&s);
	remove_file(dir, "sec-common");
	remove_file(dir, "sec");
	remove_file(dir, "sec.prod");
	CHECK_INT(rmdir(dir), 0);
	err_release(&e);
}

/* With no project dir the paths are relative, and commands run in the current directory. */
static void test_load_here(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	char tmpl[] = "/tmp/test-secrets-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char old[PATH_MAX], path[4096];

	CHECK(dir != NULL);
	CHECK(getcwd(old, sizeof(old)) != NULL);
	CHECK_INT(chdir(dir), 0);
	CHECK_INT(mkdir(".kamal", 0700), 0);
	write_file(".", ".kamal/secrets", "A=$(cat here.txt)\nB=\"unterminated\n");
	write_file(".", "here.txt", "here");
	secrets_init(&s);
	CHECK_INT(secrets_load(&s, ".", NULL, &e), -1);
	CHECK_STR(err_str(&e), ".kamal/secrets:2: B: unterminated double-quoted value");
	CHECK_STR(secrets_get(&s, "A"), "here");
	secrets_release(&s);
	remove(".kamal/secrets");
	remove(".kamal");
	remove("here.txt");
	CHECK_INT(chdir(old), 0);
	snprintf(path, sizeof(path), "%s", dir);
	CHECK_INT(rmdir(path), 0);
	err_release(&e);
}

static void redact(const struct secrets *s, const char *in, const char *want)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addstr(&sb, in);
	secrets_redact(s, &sb);
	CHECK_STR(sb.buf, want);
	sbuf_release(&sb);
}

static void test_redact(void)
{
	struct secrets s;

	secrets_init(&s);
	redact(&s, "nothing to hide", "nothing to hide");
	secrets_set(&s, "SHORT", "abc", NULL);
	secrets_set(&s, "PART", "pass", NULL);
	secrets_set(&s, "WHOLE", "password123", NULL);
	secrets_set(&s, "MARK", "DACT", NULL);
	secrets_set(&s, "EMPTY", "", NULL);
	redact(&s, "", "");
	redact(&s, "abc pass password123 passpass DACT pas",
	       "abc [REDACTED] [REDACTED] [REDACTED][REDACTED] [REDACTED] pas");
	redact(&s, "password123password1", "[REDACTED][REDACTED]word1");
	redact(&s, "x\npassword123\n", "x\n[REDACTED]\n");
	secrets_release(&s);

	/* a multi-line value: whole, and each of its lines when shown one at a time */
	secrets_init(&s);
	secrets_set(&s, "KEY", "-----BEGIN KEY-----\r\nMIIEvQIBADAN\nab\n-----END KEY-----\n",
		    NULL);
	redact(&s, "key: -----BEGIN KEY-----\r\nMIIEvQIBADAN\nab\n-----END KEY-----\n.",
	       "key: [REDACTED].");
	redact(&s, "line: MIIEvQIBADAN", "line: [REDACTED]");
	redact(&s, "ab -----END KEY-----", "ab [REDACTED]");
	/* the same value twice, and values that share a first byte */
	secrets_set(&s, "COPY", "MIIEvQIBADAN", NULL);
	secrets_set(&s, "M1", "MIIE", NULL);
	secrets_set(&s, "M2", "MIIEvQ", NULL);
	redact(&s, "MIIEvQIBADAN MIIEvQ MIIE MIIx", "[REDACTED] [REDACTED] [REDACTED] MIIx");
	secrets_release(&s);
}

static void test_set_keeps_order(void)
{
	struct secrets s;

	secrets_init(&s);
	secrets_set(&s, "A", "1", "one");
	secrets_set(&s, "B", "2", "one");
	secrets_set(&s, "A", "3", "two");
	CHECK_INT(s.names.nr, 2);
	CHECK_STR(s.names.v[0], "A");
	CHECK_STR(s.values.v[0], "3");
	CHECK_STR(s.files.v[0], "two");
	CHECK_INT(s.bytes, 2);
	secrets_release(&s);
	CHECK_INT(s.names.nr, 0);
	CHECK(secrets_get(&s, "A") == NULL);
	secrets_release(&s);
}

/* Kamal's rules for the files of a project: each on its own, the destination's last. */
static void test_load_rules(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	char tmpl[] = "/tmp/test-secrets-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char path[4096];

	CHECK(dir != NULL);
	snprintf(path, sizeof(path), "%s/.kamal", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	setenv("SECRETS_TEST_SHARED", "from-env", 1);
	setenv("KAMAL_DESTINATION", "stale", 1);
	setenv("BERTH_DESTINATION", "stale", 1);
	write_file(dir, ".kamal/secrets-common",
		   "SECRETS_TEST_SHARED=common\nBOTH=common\nONLY_COMMON=c\n");
	write_file(dir, ".kamal/secrets.staging",
		   "BOTH=staging\n"
		   "SEEN=$SECRETS_TEST_SHARED\n"
		   "DEST=$KAMAL_DESTINATION/${BERTH_DESTINATION}\n"
		   "CMD_DEST=$(printf '%s/%s' \"$KAMAL_DESTINATION\" \"$BERTH_DESTINATION\")\n"
		   "CMD_SHARED=$(printf %s \"$SECRETS_TEST_SHARED\")\n");
	write_file(dir, ".kamal/secrets",
		   "DEST=[$KAMAL_DESTINATION]\nCMD=[$(printf %s \"$BERTH_DESTINATION\")]\n");

	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, "staging", &e), 0);
	CHECK_STR(secrets_get(&s, "BOTH"), "staging");
	CHECK_STR(secrets_get(&s, "ONLY_COMMON"), "c");
	/* the destination's file does not see secrets-common: the environment instead */
	CHECK_STR(secrets_get(&s, "SEEN"), "from-env");
	CHECK_STR(secrets_get(&s, "CMD_SHARED"), "from-env");
	CHECK_STR(secrets_get(&s, "SECRETS_TEST_SHARED"), "common");
	CHECK_STR(secrets_get(&s, "DEST"), "staging/staging");
	CHECK_STR(secrets_get(&s, "CMD_DEST"), "staging/staging");
	secrets_release(&s);

	/* without a destination, Kamal unsets KAMAL_DESTINATION */
	secrets_init(&s);
	CHECK_INT(secrets_load(&s, dir, NULL, &e), 0);
	CHECK_STR(secrets_get(&s, "DEST"), "[]");
	CHECK_STR(secrets_get(&s, "CMD"), "[]");
	secrets_release(&s);

	unsetenv("KAMAL_DESTINATION");
	unsetenv("BERTH_DESTINATION");
	remove_file(dir, ".kamal/secrets-common");
	remove_file(dir, ".kamal/secrets.staging");
	remove_file(dir, ".kamal/secrets");
	remove_file(dir, ".kamal");
	CHECK_INT(rmdir(dir), 0);
	err_release(&e);
}

/* $(kamal secrets fetch|extract ...) runs berth's own implementation, as Kamal inlines it. */
static void test_inline_secrets_commands(void)
{
	struct secrets s;
	struct err e = ERR_INIT;
	const char *msg;

	secrets_init(&s);
	CHECK_INT(parse(&s,
			"SECRETS=$(kamal secrets fetch --adapter test --account acct --from "
			"Vault/Item A B LPARENxRPAREN)\n"
			"A=$(kamal secrets extract A ${SECRETS})\n"
			"B=$(berth   secrets extract B $SECRETS --inline)\n"
			"ONE=$(kamal secrets fetch -a test --account=acct \"two words\")\n"
			"W=$(kamal secrets extract 'two words' $ONE)\n",
			&e),
		  0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	/* the JSON shell-escaped, exactly as Kamal keeps it */
	CHECK_STR(secrets_get(&s, "SECRETS"),
		  "\\{\\\"Vault/Item/A\\\":\\\"A/metI/tluaV\\\",\\\"Vault/Item/B\\\":"
		  "\\\"B/metI/tluaV\\\",\\\"Vault/Item/LPARENxRPAREN\\\":\\\"\\)x\\(/metI/"
		  "tluaV\\\"\\}");
	CHECK_STR(secrets_get(&s, "A"), "A/metI/tluaV");
	CHECK_STR(secrets_get(&s, "B"), "B/metI/tluaV");
	CHECK_STR(secrets_get(&s, "W"), "sdrow owt");
	secrets_release(&s);
	err_release(&e);

	/* Kamal's own integration test file, unchanged */
	secrets_init(&s);
	CHECK_INT(
	    parse(&s,
		  "SECRETS=$(kamal secrets fetch --adapter test --account test "
		  "INTERPOLATED_SECRET1 INTERPOLATED_SECRET2 INTERPOLATED_\xe4\xb8\xad\xe6\x96\x87 "
		  "INTERPOLATED_LPARENRPAREN)\n"
		  "INTERPOLATED_SECRET1=$(kamal secrets extract INTERPOLATED_SECRET1 ${SECRETS})\n"
		  "INTERPOLATED_SECRET3=$(kamal secrets extract "
		  "INTERPOLATED_\xe4\xb8\xad\xe6\x96\x87 ${SECRETS})\n"
		  "INTERPOLATED_SECRET4=$(kamal secrets extract INTERPOLATED_LPARENRPAREN "
		  "${SECRETS})\n",
		  &e),
	    0);
	CHECK_STR(secrets_get(&s, "INTERPOLATED_SECRET1"), "1TERCES_DETALOPRETNI");
	CHECK_STR(secrets_get(&s, "INTERPOLATED_SECRET3"), "\xe6\x96\x87\xe4\xb8\xad_DETALOPRETNI");
	CHECK_STR(secrets_get(&s, "INTERPOLATED_SECRET4"), ")(_DETALOPRETNI");
	secrets_release(&s);
	err_release(&e);

	msg = parse_error("S=$(kamal secrets fetch --adapter test --account a X)\n"
			  "V=$(kamal secrets extract Y $S)\n",
			  0);
	CHECK_STR(msg, "f:2: V: command 'kamal secrets extract Y $S': could not find secret Y");
	msg = parse_error("V=$(kamal secrets fetch --adapter nope A)\n", 0);
	CHECK_CONTAINS(msg, "unknown secrets adapter 'nope'");
	msg = parse_error("V=$(kamal secrets fetch --adapter test A)\n", 0);
	CHECK_CONTAINS(msg, "missing required option '--account'");
	msg = parse_error("V=$(kamal secrets print)\n", 0);
	CHECK_CONTAINS(msg, "only 'secrets fetch' and 'secrets extract'");
	msg =
	    parse_error("V=$(kamal secrets fetch -a test --account a X)\n", SECRETS_F_NO_COMMANDS);
	CHECK_CONTAINS(msg, "not allowed");
}

int main(void)
{
	UNIT_RUN(test_unquoted_forms);
	UNIT_RUN(test_double_quoted);
	UNIT_RUN(test_single_quoted);
	UNIT_RUN(test_line_ends);
	UNIT_RUN(test_expansion);
	UNIT_RUN(test_commands);
	UNIT_RUN(test_command_env_not_argv);
	UNIT_RUN(test_command_failure);
	UNIT_RUN(test_errors);
	UNIT_RUN(test_export_check);
	UNIT_RUN(test_limits);
	UNIT_RUN(test_load);
	UNIT_RUN(test_load_path);
	UNIT_RUN(test_load_rules);
	UNIT_RUN(test_inline_secrets_commands);
	UNIT_RUN(test_load_here);
	UNIT_RUN(test_redact);
	UNIT_RUN(test_set_keeps_order);
	return unit_done();
}
