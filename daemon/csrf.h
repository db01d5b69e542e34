/*
 * csrf — tokens that prove a state-changing request comes from a page
 * berthd served to the session sending it, and the Origin check behind
 * them.
 *
 * A token is base64url(HMAC-SHA256(key, session_id || 0 || purpose)),
 * unpadded, CSRF_TOKEN_LEN characters. The zero byte between the two
 * keeps ("ab", "c") and ("a", "bc") apart. It needs no storage: the
 * server recomputes it from the session's id and the purpose of the form
 * ("app:env", "logout", ...); a token leaked from one form does not work
 * for another, and one from another session or an earlier key does not
 * work at all. The key is the caller's: random per process (tokens die
 * with it) or stored (they survive a restart); at least CSRF_KEY_MIN
 * bytes, else no token is made or accepted.
 *
 * The second line of defence: a browser sends Origin (or at least Referer)
 * with a cross-site POST; csrf_origin_ok tells whether such a header value
 * names berthd's own https origin, e.g. "https://berth.example.com".
 */
#ifndef CSRF_H
#define CSRF_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/sbuf.h"

#define CSRF_KEY_MIN   32 /* bytes */
#define CSRF_KEY_LEN   32 /* bytes of csrf_key_new's keys */
#define CSRF_TOKEN_LEN 43 /* base64url of 32 bytes, unpadded */

/* A new random key from getrandom(2). 0, or -1 (errno set). */
int csrf_key_new(unsigned char key[CSRF_KEY_LEN]);

/*
 * Appends the token of session_id and purpose (C strings; purpose may be
 * "") under key. 0, or -1 with nothing appended when the key is shorter
 * than CSRF_KEY_MIN.
 */
int csrf_token(struct sbuf *out, const unsigned char *key, size_t keylen, const char *session_id,
	       const char *purpose);

/*
 * Whether token (len bytes, untrusted) is the token of session_id and
 * purpose under key; compared in constant time. false for a short key or
 * an empty session id.
 */
bool csrf_verify(const unsigned char *key, size_t keylen, const char *session_id,
		 const char *purpose, const char *token, size_t len);

/*
 * Whether an Origin or Referer header value (len bytes, untrusted) is
 * from origin ("https://berth.example.com": scheme and host, and a port
 * when not the default, no slash at the end). The value must be origin
 * itself (scheme and host compared case-insensitively), or origin
 * followed by '/', '?' or '#' and anything (a Referer's path). So
 * "https://berth.example.com.evil.net", "...@evil.net", another port,
 * plain http and "null" are refused. A missing header is the caller's
 * call: pass NULL and get false.
 */
bool csrf_origin_ok(const char *value, size_t len, const char *origin);

#endif
