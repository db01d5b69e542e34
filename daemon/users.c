/* users — see users.h. */
#include "daemon/users.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/banned.h"
#include "lib/xalloc.h"

#define SALT_LEN 16
#define HASH_LEN 32

/* How many hashes may run now (USERS_HASH_PARALLEL at most). */
static pthread_mutex_t hash_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hash_cv = PTHREAD_COND_INITIALIZER;
static int hash_running;

static void hash_enter(void)
{
	pthread_mutex_lock(&hash_mu);
	while (hash_running >= USERS_HASH_PARALLEL) {
		pthread_cond_wait(&hash_cv, &hash_mu);
	}
	hash_running++;
	pthread_mutex_unlock(&hash_mu);
}

static void hash_leave(void)
{
	pthread_mutex_lock(&hash_mu);
	hash_running--;
	pthread_cond_signal(&hash_cv);
	pthread_mutex_unlock(&hash_mu);
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

int users_login(struct store *s, const char *name, const char *password, long long now,
		struct store_user *u, struct err *e)
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
	if (store_user_logged_in(s, u->name, now, e) < 0) {
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
