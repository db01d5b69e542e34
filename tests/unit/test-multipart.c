/*
 * daemon/multipart: the body `caprover deploy -t app.tar` sends (the
 * form-data library's bytes), fed whole, byte by byte and split at every
 * position; boundaries quoted or not; parts with and without files; what
 * is refused and the limits.
 */
#include "daemon/multipart.h"

#include <stdlib.h>
#include <string.h>

#include "lib/sbuf.h"
#include "unit.h"

/* The form-data library's boundary: 26 dashes and 24 digits. */
#define BOUNDARY "--------------------------840563170521846297123456"
#define CTYPE	 "multipart/form-data; boundary=" BOUNDARY
/* The boundary but its last digit: data that starts like a delimiter. */
#define NEARLY "--------------------------84056317052184629712345"

/* What a caprover 2.4 CLI sends for `deploy -t app.tar` (a body with CRLFs inside). */
static const char cli_body[] = "--" BOUNDARY "\r\n"
			       "Content-Disposition: form-data; name=\"sourceFile\"; "
			       "filename=\"app.tar\"\r\n"
			       "Content-Type: application/x-tar\r\n"
			       "\r\n"
			       "TAR\r\n--" NEARLY "7\r\n\r\r\n-\r\n--\r\n"
			       "\r\n"
			       "--" BOUNDARY "\r\n"
			       "Content-Disposition: form-data; name=\"gitHash\"\r\n"
			       "\r\n"
			       "0123456789abcdef0123456789abcdef01234567\r\n"
			       "--" BOUNDARY "--\r\n";

static const char cli_want[] = "begin sourceFile app.tar application/x-tar\n"
			       "TAR\r\n--" NEARLY "7\r\n\r\r\n-\r\n--\r\n"
			       "end\n"
			       "begin gitHash - -\n"
			       "0123456789abcdef0123456789abcdef01234567"
			       "end\n";

/* The parts seen, as text. */
struct rec {
	struct sbuf log;
	int fail_at; /* 'b', 'd' or 'e': a callback that refuses */
};

static int rec_begin(void *ctx, const struct multipart_part *p, struct err *e)
{
	struct rec *r = ctx;

	sbuf_addf(&r->log, "begin %s %s %s\n", p->name, p->filename ? p->filename : "-",
		  p->content_type ? p->content_type : "-");
	return r->fail_at == 'b' ? err_set(e, "no thanks") : 0;
}

static int rec_data(void *ctx, const struct multipart_part *p, const void *buf, size_t len,
		    struct err *e)
{
	struct rec *r = ctx;

	sbuf_add(&r->log, buf, len);
	return r->fail_at == 'd' ? -1 : 0;
}

static int rec_end(void *ctx, const struct multipart_part *p, struct err *e)
{
	struct rec *r = ctx;

	sbuf_addstr(&r->log, "end\n");
	return r->fail_at == 'e' ? -1 : 0;
}

static const struct multipart_ops ops = {rec_begin, rec_data, rec_end};

/* Feeds body in pieces of step bytes (0: whole); the log, or NULL on an error (in e). */
static char *run(const char *ctype, const char *body, size_t len, size_t step,
		 const struct multipart_limits *lim, struct err *e)
{
	struct multipart m;
	struct rec r = {SBUF_INIT, 0};
	size_t off = 0;
	char *out = NULL;

	if (multipart_init(&m, ctype, &ops, &r, lim, e) < 0) {
		sbuf_release(&r.log);
		return NULL;
	}
	while (off < len) {
		size_t n = step && step < len - off ? step : len - off;

		if (multipart_feed(&m, body + off, n, e) < 0) {
			goto out;
		}
		off += n;
	}
	if (multipart_finish(&m, e) < 0) {
		goto out;
	}
	out = sbuf_detach(&r.log, NULL);
out:
	multipart_release(&m);
	sbuf_release(&r.log);
	return out;
}

static void test_the_cli_body(void)
{
	struct err e = ERR_INIT;
	char *got;

	for (size_t step = 0; step <= 7; step++) {
		got = run(CTYPE, cli_body, sizeof(cli_body) - 1, step, NULL, &e);
		CHECK_STR(got, cli_want);
		if (!got) {
			printf("#   step %zu: %s\n", step, err_str(&e));
		}
		free(got);
	}
	err_release(&e);
}

/* Two pieces, split at every position: the delimiter split anywhere is still found. */
static void test_split_at_every_byte(void)
{
	struct err e = ERR_INIT;
	size_t len = sizeof(cli_body) - 1;

	for (size_t cut = 0; cut <= len; cut++) {
		struct multipart m;
		struct rec r = {SBUF_INIT, 0};

		CHECK_INT(multipart_init(&m, CTYPE, &ops, &r, NULL, &e), 0);
		CHECK_INT(multipart_feed(&m, cli_body, cut, &e), 0);
		CHECK_INT(multipart_feed(&m, cli_body + cut, len - cut, &e), 0);
		CHECK_INT(multipart_finish(&m, &e), 0);
		if (strcmp(r.log.buf, cli_want)) {
			printf("#   split at %zu: got \"%s\"\n", cut, r.log.buf);
			CHECK(0);
		}
		multipart_release(&m);
		sbuf_release(&r.log);
	}
	err_release(&e);
}

static void test_boundaries(void)
{
	char b[MULTIPART_BOUNDARY_MAX + 1];
	struct err e = ERR_INIT;
	char long_b[200];

	CHECK_INT(multipart_boundary("multipart/form-data; boundary=abc", b, &e), 0);
	CHECK_STR(b, "abc");
	CHECK_INT(
	    multipart_boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"", b, &e), 0);
	CHECK_STR(b, "a b:c");
	CHECK_INT(multipart_boundary("multipart/form-data ; boundary = \"x\\\"y\" ", b, &e), -1);
	CHECK(strstr(err_str(&e), "does not allow") != NULL); /* '"' is no bchar */
	CHECK_INT(multipart_boundary("application/json", b, &e), -1);
	CHECK_STR(err_str(&e), "expected a Content-Type of multipart/form-data, got "
			       "'application/json'");
	CHECK_INT(multipart_boundary("multipart/form-data", b, &e), -1);
	CHECK(strstr(err_str(&e), "without a boundary") != NULL);
	CHECK_INT(multipart_boundary("multipart/form-data; boundary=", b, &e), -1);
	CHECK(strstr(err_str(&e), "1 to 70") != NULL);
	CHECK_INT(multipart_boundary("multipart/form-data; boundary=\"ab ", b, &e), -1);
	CHECK(strstr(err_str(&e), "no closing quote") != NULL);
	CHECK_INT(multipart_boundary("multipart/form-data; boundary=a; boundary=b", b, &e), -1);
	CHECK(strstr(err_str(&e), "two boundaries") != NULL);
	memset(long_b, 'a', sizeof(long_b));
	memcpy(long_b, "multipart/form-data; boundary=", 30);
	long_b[30 + 70] = '\0';
	CHECK_INT(multipart_boundary(long_b, b, &e), 0);
	CHECK_INT((long)strlen(b), 70);
	long_b[30 + 70] = 'a';
	long_b[30 + 71] = '\0';
	CHECK_INT(multipart_boundary(long_b, b, &e), -1);
	CHECK(strstr(err_str(&e), "1 to 70") != NULL);
	err_release(&e);
}

static void test_preamble_padding_epilogue(void)
{
	struct err e = ERR_INIT;
	static const char body[] = "this is a preamble\r\n--xyz \t\r\n"
				   "content-disposition: form-data; name=a\r\n"
				   "X-Other: 1\r\n"
				   "\r\n"
				   "1\r\n"
				   "--xyz\r\n"
				   "Content-Disposition: form-data; name=\"q\\\"uote\"; "
				   "filename=\"\"; filename*=utf-8''x\r\n"
				   "\r\n"
				   "\r\n--xyz--and then an epilogue\r\n--xyz\r\n";
	char *got = run("multipart/form-data; boundary=xyz", body, sizeof(body) - 1, 0, NULL, &e);

	CHECK_STR(got, "begin a - -\n1end\nbegin q\"uote  -\nend\n");
	free(got);
	/* no parts at all */
	got = run("multipart/form-data; boundary=xyz", "--xyz--\r\n", 9, 0, NULL, &e);
	CHECK_STR(got, "");
	free(got);
	err_release(&e);
}

static void expect_error(const char *body, const char *want)
{
	struct err e = ERR_INIT;
	char *got = run("multipart/form-data; boundary=b", body, strlen(body), 0, NULL, &e);

	CHECK(got == NULL);
	CHECK(err_isset(&e) && strstr(err_str(&e), want) != NULL);
	if (!got && !strstr(err_str(&e), want)) {
		printf("#   got error: %s\n#   want: %s\n", err_str(&e), want);
	}
	free(got);
	err_release(&e);
}

static void test_refused(void)
{
	expect_error("", "holds no boundary line");
	expect_error("hello", "holds no boundary line");
	expect_error("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nxx",
		     "ends inside part 'a'");
	expect_error("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nxx\r\n--b",
		     "ends before its closing boundary");
	expect_error("--b\r\nContent-Disposition: form-data; name=a\r\n", "ends before");
	expect_error("--bx\r\n", "expected '--' or a line end");
	expect_error("--b-x", "expected '--' or a line end");
	expect_error("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "no Content-Disposition");
	expect_error("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "without a name");
	expect_error("--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--",
		     "expected Content-Disposition: form-data, got 'attachment'");
	expect_error("--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n--b--",
		     "two 'name' parameters");
	expect_error("--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\n--b--",
		     "no closing quote");
	expect_error("--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n--b--", "folded");
	expect_error("--b\r\nContent-Disposition form-data\r\n\r\n--b--", "'Name: value'");
	expect_error("--b\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n--b--",
		     "NUL, CR or LF");
}

static void test_limits_and_callbacks(void)
{
	struct err e = ERR_INIT;
	struct multipart_limits lim = {.header_max = 40};
	struct multipart m;
	struct rec r = {SBUF_INIT, 0};
	char *got;

	got = run(CTYPE, cli_body, sizeof(cli_body) - 1, 0, &lim, &e);
	CHECK(!got);
	CHECK_STR(err_str(&e), "part 1: its headers are longer than 40 bytes");
	lim = (struct multipart_limits){.parts_max = 1};
	got = run(CTYPE, cli_body, sizeof(cli_body) - 1, 3, &lim, &e);
	CHECK(!got);
	CHECK_STR(err_str(&e), "more than 1 parts");
	lim = (struct multipart_limits){.total_max = 100};
	got = run(CTYPE, cli_body, sizeof(cli_body) - 1, 64, &lim, &e);
	CHECK(!got);
	CHECK_STR(err_str(&e), "the body is larger than 100 bytes");

	/* a callback that refuses stops the reader, and it stays stopped */
	for (const char *f = "bde"; *f; f++) {
		CHECK_INT(multipart_init(&m, CTYPE, &ops, &r, NULL, &e), 0);
		r.fail_at = *f;
		err_release(&e);
		CHECK_INT(multipart_feed(&m, cli_body, sizeof(cli_body) - 1, &e), -1);
		CHECK(
		    strstr(err_str(&e), *f == 'b' ? "no thanks" : "part 'sourceFile' was refused"));
		CHECK_INT(multipart_feed(&m, "x", 1, &e), -1);
		CHECK_INT(multipart_finish(&m, &e), -1);
		multipart_release(&m);
		sbuf_reset(&r.log);
	}
	sbuf_release(&r.log);
	CHECK_INT(multipart_init(&m, "text/plain", &ops, &r, NULL, &e), -1);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_the_cli_body);
	UNIT_RUN(test_split_at_every_byte);
	UNIT_RUN(test_boundaries);
	UNIT_RUN(test_preamble_padding_epilogue);
	UNIT_RUN(test_refused);
	UNIT_RUN(test_limits_and_callbacks);
	return unit_done();
}
