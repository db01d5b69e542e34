/*
 * A form's CSRF token and a request's Origin or Referer header come from
 * whoever sends the request: any bytes must be refused cleanly unless they
 * are the session's token, or name berthd's origin exactly (then followed
 * by nothing or by '/', '?' or '#').
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "daemon/csrf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char origin[] = "https://berth.example.com";
	static const unsigned char key[CSRF_KEY_MIN] = "0123456789abcdef0123456789abcdef";
	const char *s = (const char *)data;
	const size_t n = sizeof(origin) - 1;
	struct sbuf tok = SBUF_INIT;
	bool ok;

	if (csrf_token(&tok, key, sizeof(key), "session", "purpose") < 0 ||
	    tok.len != CSRF_TOKEN_LEN) {
		__builtin_trap();
	}
	ok = csrf_verify(key, sizeof(key), "session", "purpose", s, size);
	if (ok != (size == tok.len && !memcmp(s, tok.buf, size))) {
		__builtin_trap();
	}
	ok = csrf_origin_ok(s, size, origin);
	if (ok && (size < n || memchr(s, '\0', n) || strncasecmp(s, origin, n) ||
		   (size > n && !strchr("/?#", s[n])) || (size > n && !s[n]))) {
		__builtin_trap();
	}
	if (!ok && size >= n && !memchr(s, '\0', n) && !strncasecmp(s, origin, n) &&
	    (size == n || (s[n] && strchr("/?#", s[n])))) {
		__builtin_trap();
	}
	sbuf_release(&tok);
	return 0;
}
