/*
 * users — the panel's accounts: passwords hashed with Argon2id (libargon2),
 * random tokens for sessions and set-up links, and the steps that use the
 * store's users, sessions and setup_tokens (daemon/store.h).
 *
 * A token is 32 bytes from getrandom(2) written as 64 hex digits; the store
 * keeps only its SHA-256, so a copy of berthd.db opens no session. A
 * password is hashed with t=USERS_ARGON2_T, m=USERS_ARGON2_M_KIB, p=1;
 * verification reads the parameters from the encoded hash, so old hashes
 * still verify when these change. At most USERS_HASH_PARALLEL hashes run at
 * once (each takes m of memory): a burst of logins waits instead of
 * growing berthd by m each.
 *
 * Functions return 0 / -1 with e set, lookups 1 / 0 / -1, as the store does.
 */
#ifndef USERS_H
#define USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/store.h"
#include "daemon/totp.h"
#include "lib/err.h"
#include "lib/sbuf.h"

#define USERS_ARGON2_T	    3
#define USERS_ARGON2_M_KIB  (64 * 1024)
#define USERS_HASH_PARALLEL 2
#define USERS_TOKEN_HEX	    64 /* a token's length */
#define USERS_PASSWORD_MIN  12 /* characters */
#define USERS_NAME_MAX	    64

/* A user name: [a-z0-9][a-z0-9._@-]*, at most USERS_NAME_MAX bytes. */
bool users_valid_name(const char *name);

/* The Argon2id encoded hash of password (malloc'd): 0, or -1 with e set. */
int users_hash(const char *password, char **encoded, struct err *e);
/* Whether password matches encoded (false for a malformed hash). */
bool users_verify(const char *encoded, const char *password);
/* Hashes password against nothing: the same work as a real check, for unknown users. */
void users_verify_dummy(const char *password);

/* How many Argon2 hashes (made or checked) this process ran: tests count the work. */
unsigned long users_hash_runs(void);

/* A new random token: out gets USERS_TOKEN_HEX hex digits and a NUL. 0, or -1 with e set. */
int users_token(char out[USERS_TOKEN_HEX + 1], struct err *e);
/*
 * Reads an Authorization header's value (len bytes, untrusted): "Bearer"
 * (any case), spaces or tabs, a token of ours (USERS_TOKEN_HEX lowercase
 * hex digits), spaces or tabs. true with token set, else false.
 */
bool users_bearer(const char *value, size_t len, char token[USERS_TOKEN_HEX + 1]);
/* The SHA-256 of token in hex (what the store keeps). */
void users_token_hash(const char *token, char out[USERS_TOKEN_HEX + 1]);

/*
 * Checks name, password and the second factor (otp, may be NULL: see
 * users_second_factor) against the store: 1 with *u filled (and its last
 * login now) when they match; USERS_LOGIN_OTP with *u filled when the
 * password is right but the user's one-time code is missing or wrong
 * (nothing recorded); 0 when the name or password is not (the same work
 * whether the user exists or not); -1 on a store error.
 */
#define USERS_LOGIN_OTP 2
int users_login(struct store *s, const char *name, const char *password, const char *otp,
		long long now, struct store_user *u, struct err *e);
/* Starts a session of user: token gets its token. */
int users_session_start(struct store *s, const char *user, long long now,
			char token[USERS_TOKEN_HEX + 1], struct err *e);
/* The user of a session token: 1 with *u filled, 0 unknown/expired/malformed, -1. */
int users_session_user(struct store *s, const char *token, long long now, struct store_user *u,
		       struct err *e);
/* Ends a session: 1, 0 (no such session) or -1. */
int users_session_end(struct store *s, const char *token, struct err *e);

/*
 * A new one-time set-up link for the first admin (earlier unused ones
 * revoked): url gets "https://berth.ROOT/setup?token=TOKEN". -1 with e set
 * when no global domain is set, or an admin exists already.
 */
int users_setup_link(struct store *s, long long now, struct sbuf *url, struct err *e);
/* Whether the first admin exists: 1, 0 or -1. */
int users_have_admin(struct store *s, struct err *e);

/*
 * The second factor of u, whose password was right: 1 when u has no TOTP,
 * or otp (untrusted, may be NULL) is a TOTP code of a step later than the
 * last accepted one (that step is stored first), or one of u's recovery
 * codes (then consumed); 0 when not; -1 on a store error.
 */
int users_second_factor(struct store *s, const struct store_user *u, const char *otp, long long now,
			struct err *e);
/*
 * Starts turning on TOTP for name: a new secret stored as pending (it
 * counts only once confirmed); secret gets its base32, uri the otpauth://
 * URI of issuer and account (what the app shows). 0 or -1.
 */
int users_totp_begin(struct store *s, const char *name, const char *issuer, const char *account,
		     struct sbuf *secret, struct sbuf *uri, struct err *e);
/*
 * Confirms the pending secret of u with a code of it: the secret turns
 * on, with a new set of recovery codes in *rec (wipe after showing). 1, 0
 * (nothing pending or a wrong code: nothing changes) or -1.
 */
int users_totp_confirm(struct store *s, const struct store_user *u, const char *code, long long now,
		       struct totp_recovery *rec, struct err *e);

#endif
