/* The ACME account's settings set at run time (proxy/acmeset.h), and which account they make. */
#include "proxy/acmeset.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "proxy/acme.h"
#include "unit.h"

static int email_ok(const char *s)
{
	struct err e = ERR_INIT;
	int r = acmeset_check_email(s, &e);

	err_release(&e);
	return r == 0;
}

static int dir_ok(const char *s)
{
	struct err e = ERR_INIT;
	int r = acmeset_check_directory(s, &e);

	err_release(&e);
	return r == 0;
}

static void test_email(void)
{
	struct err e = ERR_INIT;

	CHECK(email_ok("ops@example.com"));
	CHECK(email_ok("first.last+tag@mail.example.co.uk"));
	CHECK(email_ok("o_p-s@x-1.test"));
	CHECK(!email_ok(""));
	CHECK(!email_ok("ops"));
	CHECK(!email_ok("@example.com"));
	CHECK(!email_ok("ops@"));
	CHECK(!email_ok("ops@localhost"));
	CHECK(!email_ok("ops@example..com"));
	CHECK(!email_ok("ops@-example.com"));
	CHECK(!email_ok("a@b@example.com"));
	CHECK(!email_ok(".ops@example.com"));
	CHECK(!email_ok("o..ps@example.com"));
	CHECK(!email_ok("ops @example.com"));
	CHECK(!email_ok("ops@example.com\nX"));
	CHECK(!email_ok("\"ops\"@example.com"));
	CHECK(acmeset_check_email("ops@ex\rample", &e) < 0);
	CHECK_STR(
	    err_str(&e),
	    "email: expected an email address like 'ops@example.com', got 'ops@ex\\x0dample'");
	err_release(&e);
}

static void test_directory(void)
{
	struct err e = ERR_INIT;

	CHECK(dir_ok("https://acme-v02.api.letsencrypt.org/directory"));
	CHECK(dir_ok("https://acme-staging-v02.api.letsencrypt.org/directory"));
	CHECK(dir_ok("https://10.0.0.1:14000/dir"));
	CHECK(dir_ok("https://[::1]:14000/dir"));
	CHECK(dir_ok("https://ca.test"));
	CHECK(!dir_ok("http://ca.test/dir"));
	CHECK(!dir_ok("https://"));
	CHECK(!dir_ok("https://:443/dir"));
	CHECK(!dir_ok("https://ca.test:0/dir"));
	CHECK(!dir_ok("https://ca.test:99999/dir"));
	CHECK(!dir_ok("https://ca.test:44x/dir"));
	CHECK(!dir_ok("https://ca test/dir"));
	CHECK(!dir_ok("https://ca.test/dir#frag"));
	CHECK(!dir_ok("https://[]/dir"));
	CHECK(!dir_ok("https://user@ca.test/dir"));
	CHECK(!dir_ok("staging"));
	CHECK(acmeset_check_directory("ftp://x", &e) < 0);
	CHECK_STR(err_str(&e), "directory: expected an https URL like "
			       "'https://acme.example.com/directory', got 'ftp://x'");
	err_release(&e);
}

static void test_parse_format(void)
{
	struct acmeset s = ACMESET_INIT;
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"email\":1}",
	    "{\"email\":\"nope\"}",
	    "{\"directory\":\"http://x/\"}",
	    "{\"server\":\"https://x/\"}",
	    "{\"email\":\"a@b.c\",\"email\":\"d@e.f\"}",
	    "{\"email\":\"a\\u0000@b.c\"}",
	};
	size_t i;

	CHECK_INT(acmeset_parse("{}", 2, &s, &e), 0);
	CHECK(!s.email && !s.directory);
	s.email = strdup("ops@example.com");
	s.directory = strdup("https://ca.test:14000/dir");
	acmeset_format(&s, &sb);
	CHECK_STR(sb.buf,
		  "{\"email\":\"ops@example.com\",\"directory\":\"https://ca.test:14000/dir\"}\n");
	acmeset_release(&s);
	CHECK_INT(acmeset_parse(sb.buf, sb.len, &s, &e), 0);
	CHECK_STR(s.email, "ops@example.com");
	CHECK_STR(s.directory, "https://ca.test:14000/dir");
	acmeset_release(&s);
	sbuf_reset(&sb);
	s.directory = strdup("https://ca.test/dir");
	acmeset_format(&s, &sb);
	CHECK_STR(sb.buf, "{\"directory\":\"https://ca.test/dir\"}\n");
	acmeset_release(&s);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(acmeset_parse(bad[i], strlen(bad[i]), &s, &e), -1);
		CHECK(err_isset(&e));
		CHECK(!s.email && !s.directory);
		err_release(&e);
	}
	sbuf_release(&sb);
}

static void test_load_save(void)
{
	char tmpl[] = "/tmp/test-acmeset-XXXXXX";
	char *dir = mkdtemp(tmpl);
	struct acmeset s = ACMESET_INIT, back = ACMESET_INIT;
	struct sbuf path = SBUF_INIT;
	struct err e = ERR_INIT;
	struct stat st;

	CHECK(dir != NULL);
	CHECK_INT(acmeset_load(dir, &back, &e), 0); /* none yet */
	CHECK(!back.email && !back.directory);
	s.email = strdup("ops@example.com");
	CHECK_INT(acmeset_save(dir, &s, &e), 0);
	sbuf_addf(&path, "%s/acme/settings.json", dir);
	CHECK_INT(stat(path.buf, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(acmeset_load(dir, &back, &e), 0);
	CHECK_STR(back.email, "ops@example.com");
	CHECK(!back.directory);
	acmeset_release(&s);
	CHECK_INT(acmeset_save(dir, &s, &e), 0); /* nothing set: no file */
	CHECK(stat(path.buf, &st) < 0);
	CHECK_INT(acmeset_load(dir, &back, &e), 0);
	CHECK(!back.email && !back.directory);
	CHECK(file_write_atomic(path.buf, "{\"email\":\"x\"}", 13, 0600, &e) == 0);
	CHECK_INT(acmeset_load(dir, &back, &e), -1);
	CHECK(strstr(err_str(&e), "settings.json: email: expected") != NULL);
	err_release(&e);
	unlink(path.buf);
	sbuf_setlen(&path, strlen(dir) + 5);
	rmdir(path.buf);
	rmdir(dir);
	sbuf_release(&path);
	acmeset_release(&back);
}

static void test_account_key_name(void)
{
	char *a = acme_account_key_name("ops@x.test", NULL, "ops@x.test", ACME_LETSENCRYPT_URL);
	char *b = acme_account_key_name("dev@x.test", NULL, "ops@x.test", NULL);
	char *c = acme_account_key_name("dev@x.test", "https://ca.test/dir", "ops@x.test", NULL);
	char *d = acme_account_key_name("dev@x.test", "https://ca.test/dir", NULL, NULL);
	char *f = acme_account_key_name(NULL, NULL, NULL, NULL);

	CHECK_STR(a, "account.key");
	CHECK_STR(f, "account.key");
	CHECK(!strncmp(b, "accounts/", 9) && strlen(b) == 9 + 16 + 4);
	CHECK(strcmp(b, c) != 0);
	CHECK_STR(c, d); /* the same pair, the same account, whatever the boot's */
	free(a);
	free(b);
	free(c);
	free(d);
	free(f);
}

int main(void)
{
	UNIT_RUN(test_email);
	UNIT_RUN(test_directory);
	UNIT_RUN(test_parse_format);
	UNIT_RUN(test_load_save);
	UNIT_RUN(test_account_key_name);
	return unit_done();
}
