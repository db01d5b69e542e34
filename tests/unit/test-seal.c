#include "proxy/seal.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "lib/banned.h"

static const char plain[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
			    "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
static uint8_t secret[SEAL_SECRET_LEN], other[SEAL_SECRET_LEN];

static void setup(void)
{
	int i;

	for (i = 0; i < SEAL_SECRET_LEN; i++) {
		secret[i] = (uint8_t)i;
		other[i] = (uint8_t)(i + 1);
	}
}

static void test_round_trip(void)
{
	struct sbuf box = SBUF_INIT, box2 = SBUF_INIT, out = SBUF_INIT;
	struct err e = ERR_INIT;
	uint64_t v = 0;

	CHECK(seal_box(secret, "web", 1700000000000ULL, plain, strlen(plain), &box, &e) == 0);
	CHECK(seal_open(secret, "web", box.buf, box.len, &v, &out, &e) == 0);
	CHECK_INT(v, 1700000000000ULL);
	CHECK_INT(out.len, strlen(plain));
	CHECK(out.len == strlen(plain) && !memcmp(out.buf, plain, out.len));
	/* a fresh nonce per box: the same input seals to other bytes */
	CHECK(seal_box(secret, "web", 1700000000000ULL, plain, strlen(plain), &box2, &e) == 0);
	CHECK(box.len == box2.len && memcmp(box.buf, box2.buf, box.len));
	/* nothing of the plaintext shows */
	CHECK(!memmem(box.buf, box.len, "BEGIN", 5));
	sbuf_release(&box);
	sbuf_release(&box2);
	sbuf_release(&out);
	err_release(&e);
}

static void test_refused(void)
{
	struct sbuf box = SBUF_INIT, out = SBUF_INIT;
	struct err e = ERR_INIT;
	uint64_t v = 7;
	size_t i;

	CHECK(seal_box(secret, "web", 42, plain, strlen(plain), &box, &e) == 0);
	/* the wrong secret */
	CHECK(seal_open(other, "web", box.buf, box.len, &v, &out, &e) < 0);
	CHECK_STR(err_str(&e), "does not open with this secret");
	CHECK_INT(out.len, 0);
	CHECK_INT(v, 7);
	/* another service's box */
	CHECK(seal_open(secret, "api", box.buf, box.len, &v, &out, &e) < 0);
	CHECK_INT(out.len, 0);
	/* any changed byte: header (version), nonce, ciphertext, tag */
	for (i = 0; i < box.len; i++) {
		box.buf[i] ^= 1;
		if (!seal_open(secret, "web", box.buf, box.len, &v, &out, &e)) {
			printf("#   byte %zu changed and it still opened\n", i);
			CHECK(0);
		}
		box.buf[i] ^= 1;
	}
	CHECK_INT(out.len, 0);
	/* cut short, or nothing at all */
	CHECK(seal_open(secret, "web", box.buf, box.len - 1, &v, &out, &e) < 0);
	CHECK(seal_open(secret, "web", box.buf, 20, &v, &out, &e) < 0);
	CHECK_STR(err_str(&e), "not a sealed certificate");
	CHECK(seal_open(secret, "web", "", 0, &v, &out, &e) < 0);
	/* another format */
	box.buf[4] = 2;
	CHECK(seal_open(secret, "web", box.buf, box.len, &v, &out, &e) < 0);
	CHECK(strstr(err_str(&e), "format 2"));
	CHECK_INT(v, 7);
	CHECK(seal_open(secret, "web", box.buf, box.len, &v, &out, &e) < 0);
	sbuf_release(&box);
	sbuf_release(&out);
	err_release(&e);
}

static void test_replayed_old_version(void)
{
	struct sbuf old = SBUF_INIT, cur = SBUF_INIT, out = SBUF_INIT;
	struct err e = ERR_INIT;
	uint64_t v_old = 0, v_cur = 0;

	CHECK(seal_box(secret, "web", 1000, plain, strlen(plain), &old, &e) == 0);
	CHECK(seal_box(secret, "web", 2000, plain, strlen(plain), &cur, &e) == 0);
	CHECK(seal_open(secret, "web", cur.buf, cur.len, &v_cur, &out, &e) == 0);
	CHECK(seal_open(secret, "web", old.buf, old.len, &v_old, &out, &e) == 0);
	/* a follower that serves the newer one refuses the older, even though it opens */
	CHECK_INT(seal_decide(true, v_cur, v_old), SEAL_OLD);
	CHECK_INT(seal_decide(true, v_cur, v_cur), SEAL_SAME);
	CHECK_INT(seal_decide(true, v_old, v_cur), SEAL_TAKE);
	CHECK_INT(seal_decide(false, 0, v_old), SEAL_TAKE);
	/* the version cannot be moved forward without the secret: it is authenticated */
	old.buf[12] ^= 0x80;
	CHECK(seal_open(secret, "web", old.buf, old.len, &v_old, &out, &e) < 0);
	sbuf_release(&old);
	sbuf_release(&cur);
	sbuf_release(&out);
	err_release(&e);
}

static void test_secret_text(void)
{
	struct sbuf hex = SBUF_INIT;
	struct err e = ERR_INIT;
	uint8_t back[SEAL_SECRET_LEN];

	seal_secret_hex(secret, &hex);
	CHECK_INT(hex.len, 64);
	CHECK(!strncmp(hex.buf, "000102030405", 12));
	sbuf_addch(&hex, '\n');
	CHECK(seal_secret_parse(hex.buf, hex.len, back, &e) == 0);
	CHECK(!memcmp(back, secret, sizeof(back)));
	CHECK(seal_secret_parse(hex.buf, 10, back, &e) < 0);
	hex.buf[3] = 'g';
	CHECK(seal_secret_parse(hex.buf, hex.len, back, &e) < 0);
	CHECK(seal_secret_parse("", 0, back, &e) < 0);
	sbuf_release(&hex);
	err_release(&e);
}

static void test_next_fetch(void)
{
	uint64_t hour = 3600 * 1000, day = 24 * hour, now = 1000 * day;

	/* none yet: soon, backing off to a minute */
	CHECK_INT(seal_next_fetch_ms(now, false, 0, 0, 0), now + 1000);
	CHECK_INT(seal_next_fetch_ms(now, false, 0, 0, 1), now + 1000);
	CHECK_INT(seal_next_fetch_ms(now, false, 0, 0, 3), now + 4000);
	CHECK_INT(seal_next_fetch_ms(now, false, 0, 0, 30), now + 60000);
	/* a 90-day certificate, fresh: hourly */
	CHECK_INT(seal_next_fetch_ms(now, true, now - day, now + 89 * day, 0), now + hour);
	/* half an hour before the renewal window opens: then */
	CHECK_INT(
	    seal_next_fetch_ms(now, true, now - 60 * day + hour / 2, now + 30 * day + hour / 2, 0),
	    now + hour / 2);
	/* inside the window: every twentieth of the lifetime, at most 10 minutes */
	CHECK_INT(seal_next_fetch_ms(now, true, now - 70 * day, now + 20 * day, 0),
		  now + 10 * 60 * 1000);
	/* a 9-second certificate in its last third: every second */
	CHECK_INT(seal_next_fetch_ms(now, true, now - 7000, now + 2000, 0), now + 1000);
	/* expired: keeps asking */
	CHECK_INT(seal_next_fetch_ms(now, true, now - 20000, now - 1000, 0), now + 1000);
}

int main(void)
{
	setup();
	UNIT_RUN(test_round_trip);
	UNIT_RUN(test_refused);
	UNIT_RUN(test_replayed_old_version);
	UNIT_RUN(test_secret_text);
	UNIT_RUN(test_next_fetch);
	return unit_done();
}
