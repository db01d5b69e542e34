/* Tests for daemon/totp.c: HOTP, TOTP, base32, the otpauth URI and recovery codes. */
#include <stdlib.h>
#include <string.h>

#include "daemon/totp.h"
#include "unit.h"

static const unsigned char rfc_key[] = "12345678901234567890";
#define RFC_KEYLEN 20

/* RFC 4226 Appendix D: the truncated values and the 6-digit codes. */
static void test_hotp_rfc4226(void)
{
	static const uint32_t value[] = {1284755224, 1094287082, 137359152, 1726969429, 1640338314,
					 868254676,  1918287922, 82162583,  673399871,	645520489};
	static const uint32_t code[] = {755224, 287082, 359152, 969429, 338314,
					254676, 287922, 162583, 399871, 520489};

	for (uint64_t c = 0; c < 10; c++) {
		CHECK_INT(totp_hotp_value(rfc_key, RFC_KEYLEN, c), value[c]);
		CHECK_INT(totp_hotp(rfc_key, RFC_KEYLEN, c), code[c]);
	}
}

/* RFC 6238 Appendix B, the SHA-1 rows (8 digits there; 6 are its last six). */
static void test_totp_rfc6238(void)
{
	static const struct {
		int64_t t;
		uint64_t step;
		uint32_t code8;
	} v[] = {
	    {59, 0x1, 94287082},
	    {1111111109, 0x23523EC, 7081804},
	    {1111111111, 0x23523ED, 14050471},
	    {1234567890, 0x273EF07, 89005924},
	    {2000000000, 0x3F940AA, 69279037},
	    {20000000000, 0x27BC86AA, 65353130},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_INT(totp_step(v[i].t), v[i].step);
		CHECK_INT(totp_hotp_value(rfc_key, RFC_KEYLEN, v[i].step) % 100000000u, v[i].code8);
		CHECK_INT(totp_at(rfc_key, RFC_KEYLEN, v[i].t), v[i].code8 % 1000000u);
	}
	CHECK_INT(totp_step(-5), 0);
}

/* RFC 4648 section 10, and what a user may paste. */
static void test_base32(void)
{
	static const char *const v[][2] = {
	    {"", ""},
	    {"f", "MY"},
	    {"fo", "MZXQ"},
	    {"foo", "MZXW6"},
	    {"foob", "MZXW6YQ"},
	    {"fooba", "MZXW6YTB"},
	    {"foobar", "MZXW6YTBOI"},
	};
	static const char *const padded[] = {
	    "", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
	/* 1, 3, 6 symbols; a symbol after padding; not in the alphabet; unused bits set */
	static const char *const bad[] = {"M",	  "MZX",   "MZXW6Y", "MZ=XQ", "MZ1Q",
					  "MZ!Q", "MZ\nQ", "MZ",     "MZXR"};
	struct sbuf sb = SBUF_INIT;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sbuf_reset(&sb);
		totp_base32_encode(&sb, (const unsigned char *)v[i][0], strlen(v[i][0]));
		CHECK_STR(sb.buf, v[i][1]);
		sbuf_reset(&sb);
		CHECK(totp_base32_decode(&sb, v[i][1], strlen(v[i][1])) == 0);
		CHECK_STR(sb.buf, v[i][0]);
		sbuf_reset(&sb);
		CHECK(totp_base32_decode(&sb, padded[i], strlen(padded[i])) == 0);
		CHECK_STR(sb.buf, v[i][0]);
	}
	/* lower case, spaces and dashes as apps and people write it */
	sbuf_reset(&sb);
	CHECK(totp_base32_decode(&sb, "mzxw 6ytb-oi", 12) == 0);
	CHECK_STR(sb.buf, "foobar");
	/* refused, and nothing appended */
	sbuf_reset(&sb);
	sbuf_addstr(&sb, "keep");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(totp_base32_decode(&sb, bad[i], strlen(bad[i])) < 0);
		CHECK_STR(sb.buf, "keep");
	}
	sbuf_release(&sb);
}

static void test_secret_and_uri(void)
{
	unsigned char a[TOTP_SECRET_LEN], b[TOTP_SECRET_LEN];
	struct sbuf sb = SBUF_INIT, dec = SBUF_INIT;
	const char *q;

	CHECK(totp_secret_new(a) == 0);
	CHECK(totp_secret_new(b) == 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	totp_base32_encode(&sb, a, sizeof(a));
	CHECK_INT(sb.len, 32);
	CHECK(totp_base32_decode(&dec, sb.buf, sb.len) == 0);
	CHECK(dec.len == sizeof(a) && !memcmp(dec.buf, a, sizeof(a)));

	sbuf_reset(&sb);
	totp_uri(&sb, "berth example.com", "ana+ops@x.org", rfc_key, RFC_KEYLEN);
	CHECK_STR(sb.buf, "otpauth://totp/berth%20example.com:ana%2Bops%40x.org"
			  "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=berth%20example.com");
	sbuf_reset(&sb);
	totp_uri(&sb, "a:b&c", "d?e/f\xc3\xa9", rfc_key, 1);
	CHECK_STR(sb.buf, "otpauth://totp/a%3Ab%26c:d%3Fe%2Ff%C3%A9?secret=GE&issuer=a%3Ab%26c");
	q = strchr(sb.buf, '?');
	CHECK(q && !strchr(q + 1, '?'));
	sbuf_release(&sb);
	sbuf_release(&dec);
}

static void test_code_parse(void)
{
	static const char with_nul[] = {'1', '2', '3', '\0', '4', '5', '6'};
	uint32_t c = 7;

	CHECK(totp_code_parse("123456", 6, &c) && c == 123456);
	CHECK(totp_code_parse(" 012 345\t", 9, &c) && c == 12345);
	CHECK(totp_code_parse("000000", 6, &c) && c == 0);
	c = 7;
	CHECK(!totp_code_parse("12345", 5, &c));
	CHECK(!totp_code_parse("1234567", 7, &c));
	CHECK(!totp_code_parse("12345a", 6, &c));
	CHECK(!totp_code_parse("-12345", 6, &c));
	CHECK(!totp_code_parse("123-456", 7, &c));
	CHECK(!totp_code_parse("123456\n", 7, &c));
	CHECK(!totp_code_parse(with_nul, sizeof(with_nul), &c));
	CHECK(!totp_code_parse("", 0, &c));
	CHECK(c == 7);
}

/* Formats code as the 6 digits a user types. */
static const char *code_str(uint32_t code, char buf[8])
{
	snprintf(buf, 8, "%06u", code);
	return buf;
}

static void test_verify_window_and_replay(void)
{
	const int64_t now = 1111111111; /* step 0x23523ED, 1 s into it */
	uint64_t step = totp_step(now), last = 0;
	char buf[8];
	const char *c;

	/* the current code; then it again: a replay */
	c = code_str(totp_at(rfc_key, RFC_KEYLEN, now), buf);
	CHECK_STR(c, "050471");
	CHECK(totp_verify(rfc_key, RFC_KEYLEN, c, 6, now, &last));
	CHECK_INT(last, step);
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, c, 6, now, &last));
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, c, 6, now + 29, &last));
	CHECK_INT(last, step);
	/* the previous step's code, after the current one was used: refused */
	c = code_str(totp_hotp(rfc_key, RFC_KEYLEN, step - 1), buf);
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, c, 6, now, &last));
	/* the next step's code (a phone clock ahead) is accepted once */
	c = code_str(totp_hotp(rfc_key, RFC_KEYLEN, step + 1), buf);
	CHECK(totp_verify(rfc_key, RFC_KEYLEN, c, 6, now, &last));
	CHECK_INT(last, step + 1);
	/* ... and not again when its step comes */
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, c, 6, now + 30, &last));
	CHECK_INT(last, step + 1);

	/* a fresh user: the window is one step either way, no more */
	last = 0;
	c = code_str(totp_hotp(rfc_key, RFC_KEYLEN, step - 1), buf);
	CHECK(totp_verify(rfc_key, RFC_KEYLEN, c, 6, now, &last));
	CHECK_INT(last, step - 1);
	last = 0;
	c = code_str(totp_hotp(rfc_key, RFC_KEYLEN, step - 2), buf);
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, c, 6, now, &last));
	c = code_str(totp_hotp(rfc_key, RFC_KEYLEN, step + 2), buf);
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, c, 6, now, &last));
	CHECK_INT(last, 0);
	/* typed with a space; a wrong code; a malformed one */
	CHECK(totp_verify(rfc_key, RFC_KEYLEN, "050 471", 7, now, &last));
	last = 0;
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, "050472", 6, now, &last));
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, "05047", 5, now, &last));
	CHECK(!totp_verify(rfc_key, RFC_KEYLEN, "0504711", 7, now, &last));
	CHECK_INT(last, 0);
	/* RFC 6238's first row: step 1, so step 0 is in the window and never replayable */
	CHECK(totp_verify(rfc_key, RFC_KEYLEN, "287082", 6, 59, &last));
	CHECK_INT(last, 1);
}

static void test_recovery(void)
{
	struct totp_recovery r;
	struct strvec hashes = STRVEC_INIT;
	char canon[TOTP_RECOVERY_LEN + 1], typed[64];

	CHECK(totp_recovery_new(&r) == 0);
	for (size_t i = 0; i < TOTP_RECOVERY_N; i++) {
		CHECK_INT(strlen(r.code[i]), TOTP_RECOVERY_LEN);
		CHECK(r.code[i][4] == '-' && r.code[i][9] == '-' && r.code[i][14] == '-');
		CHECK(totp_recovery_parse(r.code[i], strlen(r.code[i]), canon));
		CHECK_STR(canon, r.code[i]);
		CHECK_INT(strlen(r.hash[i]), TOTP_RECOVERY_HASH);
		CHECK(!strstr(r.hash[i], r.code[i]));
		for (size_t k = 0; k < i; k++) {
			CHECK(strcmp(r.code[i], r.code[k]) != 0);
		}
		strvec_push(&hashes, r.hash[i]);
	}
	/* upper case, no dashes, spaces: the same code; used once */
	for (size_t i = 0, o = 0; r.code[3][i]; i++) {
		if (r.code[3][i] != '-') {
			char ch = r.code[3][i];

			typed[o++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
			if (o % 5 == 4) {
				typed[o++] = ' ';
			}
			typed[o] = '\0';
		}
	}
	CHECK(totp_recovery_use(&hashes, typed, strlen(typed)));
	CHECK_INT(hashes.nr, TOTP_RECOVERY_N - 1);
	CHECK(hashes.v[hashes.nr] == NULL);
	CHECK_STR(hashes.v[3], r.hash[4]);
	CHECK(!totp_recovery_use(&hashes, typed, strlen(typed)));
	CHECK(!totp_recovery_use(&hashes, r.code[3], strlen(r.code[3])));
	CHECK_INT(hashes.nr, TOTP_RECOVERY_N - 1);
	/* the last one and the first one */
	CHECK(totp_recovery_use(&hashes, r.code[9], strlen(r.code[9])));
	CHECK(totp_recovery_use(&hashes, r.code[0], strlen(r.code[0])));
	CHECK_INT(hashes.nr, TOTP_RECOVERY_N - 3);
	CHECK_STR(hashes.v[0], r.hash[1]);
	/* not codes */
	CHECK(!totp_recovery_use(&hashes, "", 0));
	CHECK(!totp_recovery_use(&hashes, "0000-0000-0000-000", 18));
	CHECK(!totp_recovery_use(&hashes, "0000-0000-0000-0000", 19));
	CHECK(!totp_recovery_use(&hashes, "0000-0000-0000-0000-0", 21));
	CHECK_INT(hashes.nr, TOTP_RECOVERY_N - 3);
	/* Crockford's look-alikes, and a letter outside the alphabet */
	CHECK(totp_recovery_parse("OILo-0000-abcd-efgh", 19, canon));
	CHECK_STR(canon, "0110-0000-abcd-efgh");
	CHECK(!totp_recovery_parse("u000-0000-0000-0000", 19, canon));
	CHECK(!totp_recovery_parse("0000\0-000-0000-0000", 19, canon));
	/* a known hash: SHA-256 of the canonical text */
	totp_recovery_hash("abc", r.hash[0]);
	CHECK_STR(r.hash[0], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	strvec_clear(&hashes);
}

int main(void)
{
	UNIT_RUN(test_hotp_rfc4226);
	UNIT_RUN(test_totp_rfc6238);
	UNIT_RUN(test_base32);
	UNIT_RUN(test_secret_and_uri);
	UNIT_RUN(test_code_parse);
	UNIT_RUN(test_verify_window_and_replay);
	UNIT_RUN(test_recovery);
	return unit_done();
}
