/*
 * seal — a service's certificate and key, sealed for the other hosts of
 * its role, and the follower's decisions about them.
 *
 * One host of a role (the issuer) obtains a service's certificate from
 * ACME; the others (followers) fetch it from the issuer over plain HTTP
 * (GET /.well-known/berth-proxy/tls/SERVICE), so the answer must tell
 * nothing to whoever sees or asks for it. Both sides share a secret per
 * service: 32 random bytes made by the issuer (SEAL_SECRET_LEN), handed to
 * followers by the deploy tool.
 *
 * A sealed box is, byte by byte:
 *	"BPTS"			magic
 *	1 byte			format (SEAL_FORMAT)
 *	8 bytes, big endian	version: increases with every certificate
 *				(the issuer uses its not-before time in ms)
 *	12 bytes		nonce, random per box
 *	N bytes			ciphertext
 *	16 bytes		GCM tag
 * sealed with AES-256-GCM under HKDF-SHA256(secret, salt "berth-proxy tls
 * seal", info SERVICE). The authenticated data is "berth-proxy tls\0"
 * SERVICE "\0" and the 13 header bytes (magic, format, version), so a box
 * opens only for its own service, with its own version, and any changed
 * byte makes it fail. The plaintext is the chain (PEM, leaf first) and then
 * the key (PEM).
 *
 * Replays: a box is valid forever, so a follower accepts only a version
 * newer than the one it serves (seal_decide()); an attacker who replays an
 * older answer cannot roll it back to an older certificate.
 *
 * All functions are pure (no I/O, no clock) and thread-safe; seal_open()
 * takes any bytes (fuzz target tests/fuzz/fuzz-seal.c).
 */
#ifndef SEAL_H
#define SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sbuf.h"

#define SEAL_SECRET_LEN 32
#define SEAL_FORMAT	1
/* A box bigger than this is not one (a chain and a key are a few KiB). */
#define SEAL_MAX (256 * 1024)

/* Seals plaintext for service into out (appended). 0, or -1 with e set (OpenSSL failed). */
int seal_box(const uint8_t secret[SEAL_SECRET_LEN], const char *service, uint64_t version,
	     const void *plain, size_t len, struct sbuf *out, struct err *e);
/*
 * Opens a box of service: 0 with the plaintext appended to plain and its
 * version in *version, or -1 with e set ("not a sealed certificate", "does
 * not open with this secret"). Nothing is appended on failure.
 */
int seal_open(const uint8_t secret[SEAL_SECRET_LEN], const char *service, const void *box,
	      size_t len, uint64_t *version, struct sbuf *plain, struct err *e);

/* A secret as 64 lowercase hex digits, appended to out. */
void seal_secret_hex(const uint8_t secret[SEAL_SECRET_LEN], struct sbuf *out);
/* Reads 64 hex digits (surrounding white space allowed). 0, or -1 with e set. */
int seal_secret_parse(const char *s, size_t len, uint8_t secret[SEAL_SECRET_LEN], struct err *e);

/* What a follower does with a box it opened. */
enum seal_decision {
	SEAL_TAKE = 0, /* newer than what it serves: check it and publish it */
	SEAL_SAME = 1, /* the certificate it serves already */
	SEAL_OLD = 2,  /* older than what it serves: a replay or an issuer gone back; refused */
};
/* have: whether the follower serves a certificate, of version have_version. */
enum seal_decision seal_decide(bool have, uint64_t have_version, uint64_t got_version);

/*
 * When a follower fetches next, at now (ms, wall clock): with no
 * certificate, after the backoff of failures (1 s doubled, at most a
 * minute); with one, hourly, and, within the last third of its lifetime
 * (when the issuer renews), every twentieth of the lifetime (1 s to 10 min)
 * so the renewed one arrives well before the end.
 */
uint64_t seal_next_fetch_ms(uint64_t now, bool have, uint64_t not_before, uint64_t not_after,
			    unsigned failures);

#endif
