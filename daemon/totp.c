/* totp — see totp.h. */
#include "daemon/totp.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/banned.h"

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/* Crockford's base32: no i, l, o, u, so no code reads as another or as a word. */
static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* Fills p with len random bytes. 0, or -1 (errno set). */
static int random_bytes(void *p, size_t len)
{
	unsigned char *b = p;

	while (len) {
		ssize_t n = getrandom(b, len, 0);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int totp_secret_new(unsigned char secret[TOTP_SECRET_LEN])
{
	return random_bytes(secret, TOTP_SECRET_LEN);
}

void totp_base32_encode(struct sbuf *out, const unsigned char *p, size_t len)
{
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			sbuf_addch(out, b32_alphabet[(acc >> bits) & 31]);
		}
	}
	if (bits) {
		sbuf_addch(out, b32_alphabet[(acc << (5 - bits)) & 31]);
	}
}

/* The value of a base32 symbol, either case; -1 when it is none. */
static int b32_value(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a';
	}
	if (c >= '2' && c <= '7') {
		return c - '2' + 26;
	}
	return -1;
}

int totp_base32_decode(struct sbuf *out, const char *s, size_t len)
{
	size_t start = out->len, nsym = 0;
	uint32_t acc = 0;
	int bits = 0, r = -1;
	bool padding = false;

	for (size_t i = 0; i < len; i++) {
		int v;

		if (s[i] == ' ' || s[i] == '-') {
			continue;
		}
		if (s[i] == '=') {
			padding = true;
			continue;
		}
		v = b32_value(s[i]);
		if (v < 0 || padding) {
			goto out;
		}
		nsym++;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			sbuf_addch(out, (int)((acc >> bits) & 0xff));
		}
	}
	/* 1, 3 or 6 symbols in the last group of 8 encode no whole bytes */
	switch (nsym % 8) {
	case 1:
	case 3:
	case 6:
		goto out;
	default:
		break;
	}
	if (acc & ((1u << bits) - 1)) {
		goto out; /* unused bits set: not what an encoder writes */
	}
	r = 0;
out:
	if (r < 0) {
		OPENSSL_cleanse(out->buf + start, out->len - start);
		sbuf_setlen(out, start);
	}
	return r;
}

uint32_t totp_hotp_value(const unsigned char *key, size_t keylen, uint64_t counter)
{
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	unsigned off;
	uint32_t v;

	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), mac, &maclen) ||
	    maclen != SHA_DIGEST_LENGTH) {
		abort(); /* SHA-1 HMAC cannot fail short of a broken libcrypto */
	}
	off = mac[maclen - 1] & 0xf;
	v = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	    ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
	OPENSSL_cleanse(mac, sizeof(mac));
	return v;
}

uint32_t totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter)
{
	return totp_hotp_value(key, keylen, counter) % 1000000u;
}

uint64_t totp_step(int64_t now)
{
	return now < 0 ? 0 : (uint64_t)now / TOTP_STEP;
}

uint32_t totp_at(const unsigned char *key, size_t keylen, int64_t now)
{
	return totp_hotp(key, keylen, totp_step(now));
}

bool totp_code_parse(const char *s, size_t len, uint32_t *code)
{
	uint32_t v = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ' || s[i] == '\t') {
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || ++n > TOTP_DIGITS) {
			return false;
		}
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (n != TOTP_DIGITS) {
		return false;
	}
	*code = v;
	return true;
}

/* a == b, in time that does not depend on where they differ */
static bool u32_equal(uint32_t a, uint32_t b)
{
	return CRYPTO_memcmp(&a, &b, sizeof(a)) == 0;
}

bool totp_verify(const unsigned char *key, size_t keylen, const char *code, size_t len, int64_t now,
		 uint64_t *last_step)
{
	uint64_t step = totp_step(now), found = 0;
	uint32_t want;

	if (!totp_code_parse(code, len, &want)) {
		return false;
	}
	/* every step of the window is computed and compared: no early exit */
	for (int d = -TOTP_WINDOW; d <= TOTP_WINDOW; d++) {
		uint64_t t;
		bool match;

		if (d < 0 && step < (uint64_t)-d) {
			continue;
		}
		t = step + (uint64_t)(int64_t)d;
		match = u32_equal(totp_hotp(key, keylen, t), want);
		if (match && t > *last_step) {
			found = t;
		}
	}
	if (!found) {
		return false;
	}
	*last_step = found;
	return true;
}

/* Appends s with every byte but RFC 3986's unreserved ones as %XX. */
static void add_percent_encoded(struct sbuf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			sbuf_addch(out, c);
		} else {
			sbuf_addch(out, '%');
			sbuf_addch(out, hex[c >> 4]);
			sbuf_addch(out, hex[c & 15]);
		}
	}
}

void totp_uri(struct sbuf *out, const char *issuer, const char *account,
	      const unsigned char *secret, size_t len)
{
	sbuf_addstr(out, "otpauth://totp/");
	add_percent_encoded(out, issuer);
	sbuf_addch(out, ':');
	add_percent_encoded(out, account);
	sbuf_addstr(out, "?secret=");
	totp_base32_encode(out, secret, len);
	sbuf_addstr(out, "&issuer=");
	add_percent_encoded(out, issuer);
}

/* The value of a recovery code's symbol, Crockford's way; -1 when it is none. */
static int crockford_value(char c)
{
	const char *p;

	if (c >= 'A' && c <= 'Z') {
		c = (char)(c - 'A' + 'a');
	}
	if (c == 'o') {
		c = '0';
	} else if (c == 'i' || c == 'l') {
		c = '1';
	}
	if (!c || !(p = strchr(crockford, c))) {
		return -1;
	}
	return (int)(p - crockford);
}

bool totp_recovery_parse(const char *s, size_t len, char canon[TOTP_RECOVERY_LEN + 1])
{
	size_t n = 0, o = 0;

	for (size_t i = 0; i < len; i++) {
		int v;

		if (s[i] == ' ' || s[i] == '\t' || s[i] == '-') {
			continue;
		}
		if ((v = crockford_value(s[i])) < 0 || n == 16) {
			return false;
		}
		if (n && n % 4 == 0) {
			canon[o++] = '-';
		}
		canon[o++] = crockford[v];
		n++;
	}
	canon[o] = '\0';
	return n == 16;
}

void totp_recovery_hash(const char *canon, char hash[TOTP_RECOVERY_HASH + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)canon, strlen(canon), md);
	for (size_t i = 0; i < sizeof(md); i++) {
		hash[2 * i] = hex[md[i] >> 4];
		hash[2 * i + 1] = hex[md[i] & 15];
	}
	hash[TOTP_RECOVERY_HASH] = '\0';
}

int totp_recovery_new(struct totp_recovery *r)
{
	unsigned char rnd[TOTP_RECOVERY_N][10]; /* 80 bits: 16 symbols of 5 */
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (random_bytes(rnd, sizeof(rnd)) < 0) {
		goto out;
	}
	for (size_t i = 0; i < TOTP_RECOVERY_N; i++) {
		size_t o = 0;

		for (size_t k = 0; k < 16; k++) {
			size_t bit = k * 5;
			unsigned v = ((unsigned)rnd[i][bit / 8] << 8 |
				      (bit / 8 + 1 < 10 ? rnd[i][bit / 8 + 1] : 0)) >>
				     (11 - bit % 8);

			if (k && k % 4 == 0) {
				r->code[i][o++] = '-';
			}
			r->code[i][o++] = crockford[v & 31];
		}
		r->code[i][o] = '\0';
		totp_recovery_hash(r->code[i], r->hash[i]);
	}
	ret = 0;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return ret;
}

bool totp_recovery_use(struct strvec *hashes, const char *code, size_t len)
{
	char canon[TOTP_RECOVERY_LEN + 1], hash[TOTP_RECOVERY_HASH + 1];
	size_t hit = hashes->nr;

	if (!totp_recovery_parse(code, len, canon)) {
		return false;
	}
	totp_recovery_hash(canon, hash);
	OPENSSL_cleanse(canon, sizeof(canon));
	for (size_t i = 0; i < hashes->nr; i++) {
		const char *h = hashes->v[i];

		if (strlen(h) == TOTP_RECOVERY_HASH &&
		    !CRYPTO_memcmp(h, hash, TOTP_RECOVERY_HASH) && hit == hashes->nr) {
			hit = i;
		}
	}
	if (hit == hashes->nr) {
		return false;
	}
	free(hashes->v[hit]);
	memmove(hashes->v + hit, hashes->v + hit + 1, (hashes->nr - hit) * sizeof(char *));
	hashes->nr--;
	return true;
}
