#include "proxy/seal.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>

#include "lib/banned.h"

#define MAGIC	  "BPTS"
#define HDR_LEN	  13 /* magic, format, version */
#define NONCE_LEN 12
#define TAG_LEN	  16

static int derive_key(const uint8_t secret[SEAL_SECRET_LEN], const char *service, uint8_t key[32])
{
	static const char salt[] = "berth-proxy tls seal";
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t klen = 32;
	int rc = -1;

	if (!pc || EVP_PKEY_derive_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set1_hkdf_salt(pc, (const unsigned char *)salt, sizeof(salt) - 1) <= 0 ||
	    EVP_PKEY_CTX_set1_hkdf_key(pc, secret, SEAL_SECRET_LEN) <= 0 ||
	    EVP_PKEY_CTX_add1_hkdf_info(pc, (const unsigned char *)service, (int)strlen(service)) <=
		0 ||
	    EVP_PKEY_derive(pc, key, &klen) <= 0 || klen != 32) {
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(pc);
	return rc;
}

static void header(uint64_t version, uint8_t hdr[HDR_LEN])
{
	int i;

	memcpy(hdr, MAGIC, 4);
	hdr[4] = SEAL_FORMAT;
	for (i = 0; i < 8; i++) {
		hdr[5 + i] = (uint8_t)(version >> (56 - 8 * i));
	}
}

/* The authenticated data: a label, the service and the header. */
static void aad(const char *service, const uint8_t hdr[HDR_LEN], struct sbuf *out)
{
	static const char label[] = "berth-proxy tls";

	sbuf_add(out, label, sizeof(label)); /* with its NUL */
	sbuf_add(out, service, strlen(service) + 1);
	sbuf_add(out, hdr, HDR_LEN);
}

int seal_box(const uint8_t secret[SEAL_SECRET_LEN], const char *service, uint64_t version,
	     const void *plain, size_t len, struct sbuf *out, struct err *e)
{
	struct sbuf ad = SBUF_INIT;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t key[32], hdr[HDR_LEN], nonce[NONCE_LEN];
	size_t start = out->len;
	int n, rc = -1;

	if (len > SEAL_MAX) {
		err_set(e, "%zu bytes are too many to seal", len);
		goto out;
	}
	header(version, hdr);
	aad(service, hdr, &ad);
	if (!c || derive_key(secret, service, key) < 0 || RAND_bytes(nonce, NONCE_LEN) != 1) {
		err_set(e, "cannot seal: OpenSSL failed");
		goto out;
	}
	sbuf_add(out, hdr, HDR_LEN);
	sbuf_add(out, nonce, NONCE_LEN);
	sbuf_grow(out, len + TAG_LEN + 16);
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)ad.buf, (int)ad.len) != 1 ||
	    EVP_EncryptUpdate(c, (unsigned char *)out->buf + out->len, &n, plain, (int)len) != 1) {
		err_set(e, "cannot seal: OpenSSL failed");
		goto out;
	}
	sbuf_setlen(out, out->len + (size_t)n);
	if (EVP_EncryptFinal_ex(c, (unsigned char *)out->buf + out->len, &n) != 1) {
		err_set(e, "cannot seal: OpenSSL failed");
		goto out;
	}
	sbuf_setlen(out, out->len + (size_t)n);
	sbuf_grow(out, TAG_LEN);
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out->buf + out->len) != 1) {
		err_set(e, "cannot seal: OpenSSL failed");
		goto out;
	}
	sbuf_setlen(out, out->len + TAG_LEN);
	rc = 0;
out:
	if (rc) {
		sbuf_setlen(out, start);
	}
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(c);
	sbuf_release(&ad);
	return rc;
}

int seal_open(const uint8_t secret[SEAL_SECRET_LEN], const char *service, const void *box,
	      size_t len, uint64_t *version, struct sbuf *plain, struct err *e)
{
	const uint8_t *b = box;
	struct sbuf ad = SBUF_INIT;
	EVP_CIPHER_CTX *c = NULL;
	uint8_t key[32], tag[TAG_LEN];
	size_t start = plain->len, clen;
	uint64_t v = 0;
	int n, i, rc = -1;

	if (len < HDR_LEN + NONCE_LEN + TAG_LEN || len > SEAL_MAX + HDR_LEN + NONCE_LEN + TAG_LEN ||
	    memcmp(b, MAGIC, 4)) {
		err_set(e, "not a sealed certificate");
		goto out;
	}
	if (b[4] != SEAL_FORMAT) {
		err_set(e,
			"a sealed certificate of format %u, not %u: is the issuer's berth-proxy "
			"of another version?",
			(unsigned)b[4], SEAL_FORMAT);
		goto out;
	}
	for (i = 0; i < 8; i++) {
		v = v << 8 | b[5 + i];
	}
	clen = len - HDR_LEN - NONCE_LEN - TAG_LEN;
	memcpy(tag, b + len - TAG_LEN, TAG_LEN);
	aad(service, b, &ad);
	c = EVP_CIPHER_CTX_new();
	if (!c || derive_key(secret, service, key) < 0) {
		err_set(e, "cannot open: OpenSSL failed");
		goto out;
	}
	sbuf_grow(plain, clen + 16);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(c, NULL, NULL, key, b + HDR_LEN) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)ad.buf, (int)ad.len) != 1 ||
	    EVP_DecryptUpdate(c, (unsigned char *)plain->buf + plain->len, &n,
			      b + HDR_LEN + NONCE_LEN, (int)clen) != 1) {
		err_set(e, "does not open with this secret");
		goto out;
	}
	sbuf_setlen(plain, plain->len + (size_t)n);
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
	    EVP_DecryptFinal_ex(c, (unsigned char *)plain->buf + plain->len, &n) != 1) {
		err_set(e, "does not open with this secret");
		goto out;
	}
	sbuf_setlen(plain, plain->len + (size_t)n);
	*version = v;
	rc = 0;
out:
	if (rc) {
		/* nothing of an unauthenticated plaintext stays behind */
		if (plain->len > start) {
			OPENSSL_cleanse(plain->buf + start, plain->len - start);
		}
		sbuf_setlen(plain, start);
	}
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(c);
	sbuf_release(&ad);
	return rc;
}

void seal_secret_hex(const uint8_t secret[SEAL_SECRET_LEN], struct sbuf *out)
{
	int i;

	for (i = 0; i < SEAL_SECRET_LEN; i++) {
		sbuf_addf(out, "%02x", secret[i]);
	}
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9') {
		return ch - '0';
	}
	if (ch >= 'a' && ch <= 'f') {
		return ch - 'a' + 10;
	}
	if (ch >= 'A' && ch <= 'F') {
		return ch - 'A' + 10;
	}
	return -1;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

int seal_secret_parse(const char *s, size_t len, uint8_t secret[SEAL_SECRET_LEN], struct err *e)
{
	size_t i;

	while (len && is_space(s[len - 1])) {
		len--;
	}
	while (len && is_space(s[0])) {
		s++;
		len--;
	}
	if (len != 2 * SEAL_SECRET_LEN) {
		return err_set(e, "expected a secret of %d hex digits, got %zu bytes",
			       2 * SEAL_SECRET_LEN, len);
	}
	for (i = 0; i < SEAL_SECRET_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			return err_set(e, "expected a secret of %d hex digits, got another byte",
				       2 * SEAL_SECRET_LEN);
		}
		secret[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

enum seal_decision seal_decide(bool have, uint64_t have_version, uint64_t got_version)
{
	if (!have || got_version > have_version) {
		return SEAL_TAKE;
	}
	return got_version == have_version ? SEAL_SAME : SEAL_OLD;
}

uint64_t seal_next_fetch_ms(uint64_t now, bool have, uint64_t not_before, uint64_t not_after,
			    unsigned failures)
{
	uint64_t hour = 3600 * 1000, life, step;

	if (!have) {
		uint64_t wait = 1000;

		while (failures > 1 && wait < 60 * 1000) {
			wait *= 2;
			failures--;
		}
		return now + (wait > 60 * 1000 ? 60 * 1000 : wait);
	}
	life = not_after > not_before ? not_after - not_before : 0;
	if (now < not_after && not_after - now > life / 3) {
		/* not yet in the renewal window: hourly, or when it opens */
		uint64_t opens = not_after - life / 3;

		return opens - now < hour ? opens : now + hour;
	}
	step = life / 20;
	if (step < 1000) {
		step = 1000;
	}
	if (step > 10 * 60 * 1000) {
		step = 10 * 60 * 1000;
	}
	return now + step;
}
