/* users — see users.h. */
#include "daemon/users.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "daemon/totp.h"
#include "lib/banned.h"
#include "lib/xalloc.h"

#define SALT_LEN 16
#define HASH_LEN 32

/* How many hashes may run now (USERS_HASH_PARALLEL at most). */
static pthread_mutex_t hash_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hash_cv = PTHREAD_COND_INITIALIZER;
static int hash_running;
static unsigned long hash_runs;

static void hash_enter(void)
{
	pthread_mutex_lock(&hash_mu);
	while (hash_running >= USERS_HASH_PARALLEL) {
		pthread_cond_wait(&hash_cv, &hash_mu);
	}
	hash_running++;
	hash_runs++;
	pthread_mutex_unlock(&hash_mu);
}

static void hash_leave(void)
{
	pthread_mutex_lock(&hash_mu);
	hash_running--;
	pthread_cond_signal(&hash_cv);
	pthread_mutex_unlock(&hash_mu);
}

unsigned long users_hash_runs(void)
{
	unsigned long n;

	pthread_mutex_lock(&hash_mu);
	n = hash_runs;
	pthread_mutex_unlock(&hash_mu);
	return n;
}

bool users_valid_name(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > USERS_NAME_MAX ||
	    !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '-')) {
			return false;
		}
	}
	return true;
}

static int random_bytes(void *buf, size_t n, struct err *e)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			return err_set(e, "cannot get random bytes: %s", strerror(errno));
		}
		got += (size_t)r;
	}
	return 0;
}

int users_hash(const char *password, char **encoded, struct err *e)
{
	unsigned char salt[SALT_LEN];
	size_t len =
	    argon2_encodedlen(USERS_ARGON2_T, USERS_ARGON2_M_KIB, 1, SALT_LEN, HASH_LEN, Argon2_id);
	char *out = xmalloc(len);
	int r;

	*encoded = NULL;
	if (random_bytes(salt, sizeof(salt), e) < 0) {
		free(out);
		return -1;
	}
	hash_enter();
	r = argon2id_hash_encoded(USERS_ARGON2_T, USERS_ARGON2_M_KIB, 1, password, strlen(password),
				  salt, SALT_LEN, HASH_LEN, out, len);
	hash_leave();
	if (r != ARGON2_OK) {
		free(out);
		return err_set(e, "cannot hash the password: %s", argon2_error_message(r));
	}
	*encoded = out;
	return 0;
}

bool users_verify(const char *encoded, const char *password)
{
	int r;

	if (strncmp(encoded, "$argon2id$", 10)) {
		return false;
	}
	hash_enter();
	r = argon2id_verify(encoded, password, strlen(password));
	hash_leave();
	return r == ARGON2_OK;
}

/* A hash of the current parameters, made once, so that checking it costs what a real check does. */
static char dummy_hash[160];

static void dummy_init(void)
{
	static const unsigned char salt[SALT_LEN] = "berth-no-user!!";

	if (argon2id_hash_encoded(USERS_ARGON2_T, USERS_ARGON2_M_KIB, 1, "", 0, salt, SALT_LEN,
				  HASH_LEN, dummy_hash, sizeof(dummy_hash)) != ARGON2_OK) {
		dummy_hash[0] = 0;
	}
}

void users_verify_dummy(const char *password)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, dummy_init);
	if (dummy_hash[0]) {
		(void)users_verify(dummy_hash, password);
	}
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = 0;
}

int users_token(char out[USERS_TOKEN_HEX + 1], struct err *e)
{
	unsigned char b[USERS_TOKEN_HEX / 2];

	out[0] = 0;
	if (random_bytes(b, sizeof(b), e) < 0) {
		return -1;
	}
	to_hex(b, sizeof(b), out);
	return 0;
}

void users_token_hash(const char *token, char out[USERS_TOKEN_HEX + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)token, strlen(token), md);
	to_hex(md, sizeof(md), out);
}

/* Whether token looks like one of ours: USERS_TOKEN_HEX lowercase hex digits. */
static bool token_ok(const char *token)
{
	size_t n = 0;

	for (; token[n]; n++) {
		if (!((token[n] >= '0' && token[n] <= '9') ||
		      (token[n] >= 'a' && token[n] <= 'f'))) {
			return false;
		}
	}
	return n == USERS_TOKEN_HEX;
}

bool users_bearer(const char *value, size_t len, char token[USERS_TOKEN_HEX + 1])
{
	static const char scheme[] = "bearer";
	size_t i = sizeof(scheme) - 1, start, end = len;

	token[0] = 0;
	if (len <= i || strncasecmp(value, scheme, i) || (value[i] != ' ' && value[i] != '\t')) {
		return false;
	}
	while (i < len && (value[i] == ' ' || value[i] == '\t')) {
		i++;
	}
	while (end > i && (value[end - 1] == ' ' || value[end - 1] == '\t')) {
		end--;
	}
	start = i;
	if (end - start != USERS_TOKEN_HEX) {
		return false;
	}
	for (i = start; i < end; i++) {
		if (!((value[i] >= '0' && value[i] <= '9') ||
		      (value[i] >= 'a' && value[i] <= 'f'))) {
			return false;
		}
	}
	memcpy(token, value + start, USERS_TOKEN_HEX);
	token[USERS_TOKEN_HEX] = 0;
	return true;
}

int users_login(struct store *s, const char *name, const char *password, const char *otp,
		long long now, struct store_user *u, struct err *e)
{
	int r = store_user_get(s, name, u, e);

	if (r < 0) {
		return -1;
	}
	if (r == 0) {
		users_verify_dummy(password);
		return 0;
	}
	if (!users_verify(u->hash, password)) {
		store_user_release(u);
		return 0;
	}
	/* not a login (nor its last_login) until the second factor is right too */
	r = users_second_factor(s, u, otp, now, e);
	if (r == 0) {
		return USERS_LOGIN_OTP;
	}
	if (r < 0 || store_user_logged_in(s, u->name, now, e) < 0) {
		store_user_release(u);
		return -1;
	}
	u->last_login = now;
	return 1;
}

int users_session_start(struct store *s, const char *user, long long now,
			char token[USERS_TOKEN_HEX + 1], struct err *e)
{
	char h[USERS_TOKEN_HEX + 1];

	if (users_token(token, e) < 0) {
		return -1;
	}
	users_token_hash(token, h);
	return store_session_add(s, h, user, now, e);
}

int users_session_user(struct store *s, const char *token, long long now, struct store_user *u,
		       struct err *e)
{
	char h[USERS_TOKEN_HEX + 1], *name = NULL;
	int r;

	memset(u, 0, sizeof(*u));
	if (!token || !token_ok(token)) {
		return 0;
	}
	users_token_hash(token, h);
	r = store_session_get(s, h, now, &name, e);
	if (r == 1) {
		r = store_user_get(s, name, u, e);
	}
	free(name);
	return r;
}

int users_session_end(struct store *s, const char *token, struct err *e)
{
	char h[USERS_TOKEN_HEX + 1];

	if (!token || !token_ok(token)) {
		return 0;
	}
	users_token_hash(token, h);
	return store_session_remove(s, h, e);
}

int users_have_admin(struct store *s, struct err *e)
{
	struct store_user u;
	int r = store_user_first_admin(s, &u, e);

	store_user_release(&u);
	return r;
}

int users_setup_link(struct store *s, long long now, struct sbuf *url, struct err *e)
{
	char token[USERS_TOKEN_HEX + 1], h[USERS_TOKEN_HEX + 1];
	char *root = NULL;
	int r = -1, have;

	if (store_setting_get(s, "global-domain", &root, e) < 0) {
		goto out;
	}
	if (!root) {
		err_set(e, "no global domain: set one first (domains:set-global DOMAIN); the panel "
			   "is at berth.DOMAIN");
		goto out;
	}
	have = users_have_admin(s, e);
	if (have < 0) {
		goto out;
	}
	if (have) {
		err_set(e, "the first admin exists already: log in at https://berth.%s/", root);
		goto out;
	}
	if (users_token(token, e) < 0) {
		goto out;
	}
	users_token_hash(token, h);
	if (store_setup_token_add(s, h, now, e) < 0) {
		goto out;
	}
	sbuf_addf(url, "https://berth.%s/setup?token=%s", root, token);
	r = 0;
out:
	free(root);
	return r;
}

/* The raw bytes of a stored base32 secret: 0, or -1 (e set) when it is damaged. */
static int secret_bytes(const char *b32, struct sbuf *key, struct err *e)
{
	if (totp_base32_decode(key, b32, strlen(b32)) < 0 || !key->len) {
		return err_set(e, "a stored TOTP secret is damaged");
	}
	return 0;
}

int users_second_factor(struct store *s, const struct store_user *u, const char *otp, long long now,
			struct err *e)
{
	struct sbuf key = SBUF_INIT, left = SBUF_INIT;
	struct strvec hashes = STRVEC_INIT;
	uint64_t step = u->totp_last_step;
	int r = 0;

	if (!u->totp_secret) {
		return 1;
	}
	if (!otp || !*otp) {
		return 0;
	}
	if (secret_bytes(u->totp_secret, &key, e) < 0) {
		r = -1;
		goto out;
	}
	if (totp_verify((const unsigned char *)key.buf, key.len, otp, strlen(otp), (int64_t)now,
			&step)) {
		/* stored before the login goes through; a race lost is a replay */
		r = store_user_totp_step(s, u->name, step, e);
		goto out;
	}
	if (!u->totp_recovery) {
		goto out;
	}
	for (const char *p = u->totp_recovery; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *h = xstrndup(p, n);
		strvec_push(&hashes, h);
		free(h);
		p += n + (nl != NULL);
	}
	if (totp_recovery_use(&hashes, otp, strlen(otp))) {
		for (size_t i = 0; i < hashes.nr; i++) {
			sbuf_addf(&left, "%s%s", i ? "\n" : "", hashes.v[i]);
		}
		r = store_user_recovery_set(s, u->name, u->totp_recovery, left.buf, e);
	}
out:
	if (key.len) {
		memset(key.buf, 0, key.len);
	}
	sbuf_release(&key);
	sbuf_release(&left);
	strvec_clear(&hashes);
	return r;
}

int users_totp_begin(struct store *s, const char *name, const char *issuer, const char *account,
		     struct sbuf *secret, struct sbuf *uri, struct err *e)
{
	unsigned char raw[TOTP_SECRET_LEN];
	int r = -1;

	if (totp_secret_new(raw) < 0) {
		err_set(e, "cannot get random bytes: %s", strerror(errno));
		goto out;
	}
	totp_base32_encode(secret, raw, sizeof(raw));
	totp_uri(uri, issuer, account, raw, sizeof(raw));
	r = store_user_totp_set(s, name, secret->buf, NULL, NULL, e);
	if (r == 0) {
		r = err_set(e, "no user '%s'", name);
	} else if (r > 0) {
		r = 0;
	}
out:
	memset(raw, 0, sizeof(raw));
	return r;
}

int users_totp_confirm(struct store *s, const struct store_user *u, const char *code, long long now,
		       struct totp_recovery *rec, struct err *e)
{
	struct sbuf key = SBUF_INIT, hashes = SBUF_INIT;
	uint64_t step = 0;
	int r = 0;

	if (!u->totp_pending || !code) {
		goto out;
	}
	if (secret_bytes(u->totp_pending, &key, e) < 0) {
		r = -1;
		goto out;
	}
	if (!totp_verify((const unsigned char *)key.buf, key.len, code, strlen(code), (int64_t)now,
			 &step)) {
		goto out;
	}
	if (totp_recovery_new(rec) < 0) {
		r = err_set(e, "cannot get random bytes: %s", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < TOTP_RECOVERY_N; i++) {
		sbuf_addf(&hashes, "%s%s", i ? "\n" : "", rec->hash[i]);
	}
	r = store_user_totp_set(s, u->name, NULL, u->totp_pending, hashes.buf, e);
	if (r > 0 && (r = store_user_totp_step(s, u->name, step, e)) >= 0) {
		r = 1;
	}
out:
	if (key.len) {
		memset(key.buf, 0, key.len);
	}
	sbuf_release(&key);
	sbuf_release(&hashes);
	return r;
}
