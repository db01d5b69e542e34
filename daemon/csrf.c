/* csrf — see csrf.h. */
#include "daemon/csrf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "proxy/acme.h"

#include "lib/banned.h"

int csrf_key_new(unsigned char key[CSRF_KEY_LEN])
{
	size_t got = 0;

	while (got < CSRF_KEY_LEN) {
		ssize_t n = getrandom(key + got, CSRF_KEY_LEN - got, 0);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int csrf_token(struct sbuf *out, const unsigned char *key, size_t keylen, const char *session_id,
	       const char *purpose)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	struct sbuf msg = SBUF_INIT;
	int r = -1;

	if (keylen < CSRF_KEY_MIN) {
		goto out;
	}
	sbuf_addstr(&msg, session_id);
	sbuf_addch(&msg, '\0');
	sbuf_addstr(&msg, purpose);
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg.buf, msg.len, mac,
		  &maclen)) {
		goto out;
	}
	acme_b64url(mac, maclen, out);
	r = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(msg.buf, msg.len);
	sbuf_release(&msg);
	return r;
}

bool csrf_verify(const unsigned char *key, size_t keylen, const char *session_id,
		 const char *purpose, const char *token, size_t len)
{
	struct sbuf want = SBUF_INIT;
	bool ok = false;

	if (!session_id || !*session_id || !token ||
	    csrf_token(&want, key, keylen, session_id, purpose) < 0) {
		goto out;
	}
	/* the length is no secret: every token has the same */
	ok = len == want.len && !CRYPTO_memcmp(want.buf, token, len);
out:
	sbuf_release(&want);
	return ok;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

bool csrf_origin_ok(const char *value, size_t len, const char *origin)
{
	size_t n = strlen(origin);

	if (!value || !n || len < n) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (lower((unsigned char)value[i]) != lower((unsigned char)origin[i])) {
			return false;
		}
	}
	return len == n || value[n] == '/' || value[n] == '?' || value[n] == '#';
}
