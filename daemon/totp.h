/*
 * totp — second factors for the panel's logins: time-based one-time
 * passwords (RFC 6238 over RFC 4226's HOTP) and one-time recovery codes.
 *
 * What authenticator apps expect, and nothing else: HMAC-SHA-1, 6 digits,
 * a 30 s step, a 20-byte secret shown as base32 (RFC 4648, unpadded) or
 * as an otpauth:// URI in a QR code.
 *
 * Verifying a code (totp_verify):
 *	- the code is exactly 6 ASCII digits; spaces around and between them
 *	  are dropped ("123 456", as apps show it), anything else is refused;
 *	- the steps now-1, now and now+1 are tried (clock skew of up to one
 *	  step either way), every one of them, compared in constant time;
 *	- replay: the caller keeps the step of the last code it accepted for
 *	  the user and passes it in; a code of that step or an earlier one is
 *	  refused, so a code seen over a shoulder or in a log cannot be used
 *	  again. On success the step is advanced; the caller stores it before
 *	  it lets the login through.
 * The clock is the caller's (now, in Unix seconds), so tests set it.
 *
 * Recovery codes: TOTP_RECOVERY_N random codes "xxxx-xxxx-xxxx-xxxx" in
 * Crockford's base32 alphabet (80 bits each). Only their SHA-256 hashes
 * are stored; with 80 random bits a fast hash is as safe as a slow one,
 * which a short code would need. On input, case, dashes and spaces do not
 * matter, and o/i/l are read as 0/1/1 as Crockford's alphabet does. A code
 * works once: totp_recovery_use removes its hash.
 *
 * Secrets never go to logs or errors: nothing here prints.
 */
#ifndef TOTP_H
#define TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sbuf.h"
#include "lib/strvec.h"

#define TOTP_SECRET_LEN 20 /* bytes of a new secret (RFC 4226's recommendation) */
#define TOTP_STEP	30 /* seconds */
#define TOTP_DIGITS	6
#define TOTP_WINDOW	1 /* steps accepted either side of now */

#define TOTP_RECOVERY_N	   10 /* codes per set */
#define TOTP_RECOVERY_LEN  19 /* "xxxx-xxxx-xxxx-xxxx" */
#define TOTP_RECOVERY_HASH 64 /* hex SHA-256 */

/* A new secret: TOTP_SECRET_LEN bytes from getrandom(2). 0, or -1 (errno set). */
int totp_secret_new(unsigned char secret[TOTP_SECRET_LEN]);

/* Appends the RFC 4648 base32 of p (upper case, no '=' padding). */
void totp_base32_encode(struct sbuf *out, const unsigned char *p, size_t len);

/*
 * Appends the bytes base32 s (len bytes, untrusted) stands for. Lower case,
 * spaces, dashes and trailing '=' padding are accepted; any other byte, a
 * '=' followed by anything but '=', or a length that no byte string
 * encodes to (1, 3 or 6 symbols in the last group, or nonzero unused
 * bits) is refused. 0, or -1 with out unchanged.
 */
int totp_base32_decode(struct sbuf *out, const char *s, size_t len);

/*
 * RFC 4226's dynamic truncation of HMAC-SHA-1(key, counter): a 31-bit value;
 * the code of d digits is this modulo 10^d.
 */
uint32_t totp_hotp_value(const unsigned char *key, size_t keylen, uint64_t counter);

/* The 6-digit HOTP code (0 to 999999) of key at counter. */
uint32_t totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter);

/* The step of a time: now / TOTP_STEP (0 before 1970). */
uint64_t totp_step(int64_t now);

/* The 6-digit TOTP code of key at time now (Unix seconds). */
uint32_t totp_at(const unsigned char *key, size_t keylen, int64_t now);

/*
 * Reads a code typed by a user (len bytes, untrusted): exactly 6 digits,
 * ASCII spaces and tabs anywhere dropped. true with *code set, or false.
 */
bool totp_code_parse(const char *s, size_t len, uint32_t *code);

/*
 * Checks a code typed by a user against key at time now, as the header
 * says. *last_step is the step of the last code accepted for this secret
 * (0 when none was); codes of steps <= *last_step are refused. true, with
 * *last_step set to the step the code belongs to; false leaves it as is.
 */
bool totp_verify(const unsigned char *key, size_t keylen, const char *code, size_t len, int64_t now,
		 uint64_t *last_step);

/*
 * Appends the URI an authenticator app reads from a QR code:
 * otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER, issuer and
 * account percent-encoded (all but RFC 3986's unreserved characters).
 */
void totp_uri(struct sbuf *out, const char *issuer, const char *account,
	      const unsigned char *secret, size_t len);

/* A new set of recovery codes: shown once to the user, only hash[] is kept. */
struct totp_recovery {
	char code[TOTP_RECOVERY_N][TOTP_RECOVERY_LEN + 1];
	char hash[TOTP_RECOVERY_N][TOTP_RECOVERY_HASH + 1];
};

/* Fills r from getrandom(2). 0, or -1 (errno set). Wipe r after use. */
int totp_recovery_new(struct totp_recovery *r);

/*
 * Reads a recovery code typed by a user (len bytes, untrusted) into its
 * canonical form "xxxx-xxxx-xxxx-xxxx" (as the header says what is
 * tolerated). true, or false when it is not one.
 */
bool totp_recovery_parse(const char *s, size_t len, char canon[TOTP_RECOVERY_LEN + 1]);

/* The stored hash of a canonical recovery code: hex SHA-256. */
void totp_recovery_hash(const char *canon, char hash[TOTP_RECOVERY_HASH + 1]);

/*
 * Verifies and consumes: when code (len bytes, untrusted) is one whose hash
 * is in hashes, that hash is removed from hashes (the caller stores what is
 * left) and true returned. Every stored hash is compared, in constant time.
 */
bool totp_recovery_use(struct strvec *hashes, const char *code, size_t len);

#endif
