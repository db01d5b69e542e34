/*
 * Tests for the panel's accounts (daemon/users.c and their tables in
 * daemon/store.c): Argon2id hashes, sessions and their expiry, one-time
 * set-up tokens, and what the store keeps (hashes, never tokens).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/store.h"
#include "daemon/totp.h"
#include "daemon/users.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-users-XXXXXX";

static void test_hash_and_verify(void)
{
	char *h = NULL;
	struct err e = ERR_INIT;

	CHECK(users_hash("correct horse battery", &h, &e) == 0);
	CHECK(h && !strncmp(h, "$argon2id$v=19$m=65536,t=3,p=1$", 31));
	CHECK(users_verify(h, "correct horse battery"));
	CHECK(!users_verify(h, "correct horse batterY"));
	CHECK(!users_verify(h, ""));
	CHECK(!users_verify("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "x"));
	CHECK(!users_verify("plain", "plain"));
	users_verify_dummy("anything");
	free(h);
	err_release(&e);
}

static void test_bearer(void)
{
	const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char tok[USERS_TOKEN_HEX + 1], buf[128];

	snprintf(buf, sizeof(buf), "Bearer %s", hex);
	CHECK(users_bearer(buf, strlen(buf), tok));
	CHECK_STR(tok, hex);
	snprintf(buf, sizeof(buf), "bearer \t%s  ", hex);
	CHECK(users_bearer(buf, strlen(buf), tok));
	CHECK_STR(tok, hex);
	snprintf(buf, sizeof(buf), "Bearer%s", hex);
	CHECK(!users_bearer(buf, strlen(buf), tok));
	CHECK_STR(tok, "");
	snprintf(buf, sizeof(buf), "Bearer %sa", hex);
	CHECK(!users_bearer(buf, strlen(buf), tok));
	snprintf(buf, sizeof(buf), "Bearer %.63sA", hex);
	CHECK(!users_bearer(buf, strlen(buf), tok));
	snprintf(buf, sizeof(buf), "Basic %s", hex);
	CHECK(!users_bearer(buf, strlen(buf), tok));
	CHECK(!users_bearer("Bearer ", 7, tok));
	CHECK(!users_bearer("", 0, tok));
}

static void test_names(void)
{
	CHECK(users_valid_name("alice"));
	CHECK(users_valid_name("ops@example.com"));
	CHECK(users_valid_name("a.b_c-d9"));
	CHECK(!users_valid_name(""));
	CHECK(!users_valid_name("Alice"));
	CHECK(!users_valid_name("-x"));
	CHECK(!users_valid_name("a b"));
	CHECK(!users_valid_name("a/b"));
	CHECK(
	    !users_valid_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_users_and_logins(void)
{
	struct store s = STORE_INIT;
	struct store_user u = {0};
	struct err e = ERR_INIT;
	char *h = NULL, *role = NULL;
	struct strvec names = STRVEC_INIT, roles = STRVEC_INIT;

	CHECK(store_open(&s, dir, &e) == 0);
	CHECK_INT(users_have_admin(&s, &e), 0);
	CHECK(users_hash("correct horse battery", &h, &e) == 0);
	CHECK(store_user_add(&s, "bob", h, "user", 200, &e) == 0);
	CHECK_INT(users_have_admin(&s, &e), 0);
	CHECK(store_user_add(&s, "alice", h, "admin", 300, &e) == 0);
	CHECK(store_user_add(&s, "zed", h, "admin", 400, &e) == 0);
	CHECK(store_user_add(&s, "alice", h, "admin", 500, &e) < 0);
	CHECK(strstr(err_str(&e), "already exists") != NULL);
	err_release(&e);
	CHECK(store_user_add(&s, "carol", h, "root", 500, &e) < 0);
	err_release(&e);
	CHECK_INT(store_user_first_admin(&s, &u, &e), 1);
	CHECK_STR(u.name, "alice");
	CHECK(u.totp_secret == NULL);
	CHECK_INT(u.last_login, 0);
	store_user_release(&u);
	CHECK(store_user_list(&s, &names, &roles, &e) == 0);
	CHECK_INT(names.nr, 3);
	CHECK_STR(names.v[0], "alice");
	CHECK_STR(roles.v[1], "user");

	CHECK_INT(users_login(&s, "alice", "correct horse battery", NULL, 1000, &u, &e), 1);
	CHECK_INT(u.last_login, 1000);
	store_user_release(&u);
	CHECK_INT(users_login(&s, "alice", "wrong horse battery", NULL, 1000, &u, &e), 0);
	CHECK(u.name == NULL);
	CHECK_INT(users_login(&s, "nobody", "correct horse battery", NULL, 1000, &u, &e), 0);

	/* per-app roles, and an app's destruction takes them */
	CHECK(store_app_create(&s, "shop", &e) == 0);
	CHECK(store_user_app_set(&s, "bob", "shop", "deployer", &e) == 0);
	CHECK(store_user_app_set(&s, "bob", "shop", "owner", &e) < 0);
	err_release(&e);
	CHECK_INT(store_user_app_get(&s, "bob", "shop", &role, &e), 1);
	CHECK_STR(role, "deployer");
	free(role);
	CHECK(store_app_destroy(&s, "shop", &e) == 0);
	CHECK_INT(store_user_app_get(&s, "bob", "shop", &role, &e), 0);

	strvec_clear(&names);
	strvec_clear(&roles);
	free(h);
	store_close(&s);
	err_release(&e);
}

static int count(struct store *s, const char *table, const char *col, const char *value)
{
	struct sbuf sql = SBUF_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	int n;

	/* read the file as another program does: what is stored, not what the API says */
	sbuf_addf(&sql, "SELECT count(*) FROM %s WHERE %s = '%s'", table, col, value);
	strvec_pushv(&c.argv, (const char *[]){"sqlite3", s->path, sql.buf, NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	n = run_one(&c) == 0 ? atoi(c.outbuf.buf) : -1;
	run_cmd_release(&c);
	sbuf_release(&sql);
	return n;
}

static void test_sessions(void)
{
	struct store s = STORE_INIT;
	struct store_user u = {0};
	struct err e = ERR_INIT;
	char tok[USERS_TOKEN_HEX + 1], tok2[USERS_TOKEN_HEX + 1], h[USERS_TOKEN_HEX + 1];
	const long long t0 = 1000000;

	CHECK(store_open(&s, dir, &e) == 0);
	CHECK(users_session_start(&s, "alice", t0, tok, &e) == 0);
	CHECK_INT(strlen(tok), USERS_TOKEN_HEX);
	users_token_hash(tok, h);
	if (access("/usr/bin/sqlite3", X_OK) == 0) {
		CHECK_INT(count(&s, "sessions", "hash", tok), 0);
		CHECK_INT(count(&s, "sessions", "hash", h), 1);
	}
	CHECK_INT(users_session_user(&s, tok, t0 + 60, &u, &e), 1);
	CHECK_STR(u.name, "alice");
	store_user_release(&u);
	/* used within 12 h keeps it alive, up to 7 days */
	for (long long t = t0; t < t0 + STORE_SESSION_MAX_S - 3600;
	     t += STORE_SESSION_IDLE_S - 60) {
		CHECK_INT(users_session_user(&s, tok, t, &u, &e), 1);
		store_user_release(&u);
	}
	CHECK_INT(users_session_user(&s, tok, t0 + STORE_SESSION_MAX_S + 1, &u, &e), 0);
	CHECK_INT(users_session_user(&s, tok, t0 + 10, &u, &e), 0); /* deleted, not just expired */
	/* idle for more than 12 h */
	CHECK(users_session_start(&s, "alice", t0, tok2, &e) == 0);
	CHECK_INT(users_session_user(&s, tok2, t0 + STORE_SESSION_IDLE_S + 1, &u, &e), 0);
	/* malformed tokens, and logout */
	CHECK_INT(users_session_user(&s, "", t0, &u, &e), 0);
	CHECK_INT(users_session_user(&s, NULL, t0, &u, &e), 0);
	CHECK_INT(users_session_user(&s, "' OR 1=1 --", t0, &u, &e), 0);
	CHECK(users_session_start(&s, "alice", t0, tok, &e) == 0);
	CHECK_INT(users_session_end(&s, tok, &e), 1);
	CHECK_INT(users_session_user(&s, tok, t0, &u, &e), 0);
	CHECK_INT(users_session_end(&s, tok, &e), 0);
	store_close(&s);
	err_release(&e);
}

static void test_setup_tokens(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct sbuf url = SBUF_INIT, url2 = SBUF_INIT;
	char h[USERS_TOKEN_HEX + 1], h2[USERS_TOKEN_HEX + 1], d[] = "/tmp/berth-test-setup-XXXXXX";
	const char *tok, *prefix = "https://berth.example.test/setup?token=";
	const size_t pl = strlen(prefix);

	CHECK(mkdtemp(d) != NULL);
	CHECK(store_open(&s, d, &e) == 0);
	/* no global domain: no link */
	CHECK(users_setup_link(&s, 1000, &url, &e) < 0);
	CHECK(strstr(err_str(&e), "domains:set-global") != NULL);
	err_release(&e);
	CHECK(store_setting_set(&s, "global-domain", "example.test", &e) == 0);
	CHECK(users_setup_link(&s, 1000, &url, &e) == 0);
	CHECK(!strncmp(url.buf, prefix, pl));
	tok = url.buf + pl;
	CHECK_INT(strlen(tok), USERS_TOKEN_HEX);
	users_token_hash(tok, h);
	/* a second link revokes the first */
	CHECK(users_setup_link(&s, 1000, &url2, &e) == 0);
	users_token_hash(url2.buf + pl, h2);
	CHECK_INT(store_setup_token_use(&s, h, 1001, &e), 0);
	/* expired after an hour */
	CHECK_INT(store_setup_token_use(&s, h2, 1000 + STORE_SETUP_TOKEN_TTL_S + 1, &e), 0);
	/* single use */
	CHECK_INT(store_setup_token_use(&s, h2, 1000 + STORE_SETUP_TOKEN_TTL_S, &e), 1);
	CHECK_INT(store_setup_token_use(&s, h2, 1000 + STORE_SETUP_TOKEN_TTL_S, &e), 0);
	/* once an admin exists, no more links */
	CHECK(store_user_add(&s, "root", "$argon2id$x", "admin", 1000, &e) == 0);
	sbuf_reset(&url);
	CHECK(users_setup_link(&s, 2000, &url, &e) < 0);
	CHECK(strstr(err_str(&e), "exists already") != NULL);
	store_close(&s);
	err_release(&e);
	sbuf_release(&url);
	sbuf_release(&url2);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", d, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
}

/* The code of a stored base32 secret at time t. */
static char *code_at(const char *b32, long long t)
{
	static char buf[8];
	struct sbuf key = SBUF_INIT;

	CHECK(totp_base32_decode(&key, b32, strlen(b32)) == 0);
	snprintf(buf, sizeof(buf), "%06u",
		 (unsigned)totp_at((const unsigned char *)key.buf, key.len, (int64_t)t));
	sbuf_release(&key);
	return buf;
}

static void test_second_factor(void)
{
	struct store s = STORE_INIT;
	struct store_user u = {0};
	struct sbuf secret = SBUF_INIT, uri = SBUF_INIT;
	struct totp_recovery rec;
	struct err e = ERR_INIT;
	char *h = NULL, code[8];
	const long long t = 1700000000;

	CHECK(store_open(&s, dir, &e) == 0);
	CHECK(users_hash("correct horse battery", &h, &e) == 0);
	CHECK(store_user_add(&s, "tina", h, "user", 100, &e) == 0);
	/* no second factor: anything goes through */
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	CHECK_INT(users_second_factor(&s, &u, NULL, t, &e), 1);
	store_user_release(&u);

	CHECK(users_totp_begin(&s, "tina", "berth", "tina@example.test", &secret, &uri, &e) == 0);
	CHECK_INT(secret.len, 32);
	CHECK(!strncmp(uri.buf, "otpauth://totp/berth:tina%40example.test?secret=", 48));
	/* pending only: logins do not need it yet */
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	CHECK(u.totp_secret == NULL);
	CHECK_STR(u.totp_pending, secret.buf);
	CHECK_INT(users_second_factor(&s, &u, NULL, t, &e), 1);
	/* a wrong code confirms nothing */
	snprintf(code, sizeof(code), "%s", code_at(secret.buf, t - 600));
	CHECK_INT(users_totp_confirm(&s, &u, code, t, &rec, &e), 0);
	snprintf(code, sizeof(code), "%s", code_at(secret.buf, t));
	CHECK_INT(users_totp_confirm(&s, &u, code, t, &rec, &e), 1);
	store_user_release(&u);
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	CHECK_STR(u.totp_secret, secret.buf);
	CHECK(u.totp_pending == NULL);
	CHECK(strstr(u.totp_recovery, rec.hash[3]) != NULL);
	CHECK(strstr(u.totp_recovery, rec.code[3]) == NULL);

	/* a right password alone is not a login: nothing recorded */
	store_user_release(&u);
	CHECK_INT(users_login(&s, "tina", "correct horse battery", NULL, t, &u, &e),
		  USERS_LOGIN_OTP);
	CHECK_INT(u.last_login, 0);
	store_user_release(&u);
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	CHECK_INT(u.last_login, 0);
	store_user_release(&u);
	CHECK_INT(users_login(&s, "tina", "wrong horse battery", code, t, &u, &e), 0);
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);

	/* required, wrong, replayed */
	CHECK_INT(users_second_factor(&s, &u, NULL, t, &e), 0);
	CHECK_INT(users_second_factor(&s, &u, "", t, &e), 0);
	CHECK_INT(users_second_factor(&s, &u, code_at(secret.buf, t - 600), t, &e), 0);
	CHECK_INT(users_second_factor(&s, &u, code, t, &e), 0); /* confirm used it */
	store_user_release(&u);
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	snprintf(code, sizeof(code), "%s", code_at(secret.buf, t + 30));
	CHECK_INT(users_second_factor(&s, &u, code, t + 30, &e), 1);
	/* the same user record read before: the store still refuses the step */
	CHECK_INT(users_second_factor(&s, &u, code, t + 30, &e), 0);
	store_user_release(&u);
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	CHECK_INT(users_second_factor(&s, &u, code, t + 30, &e), 0);

	/* a recovery code works once */
	CHECK_INT(users_second_factor(&s, &u, rec.code[0], t + 30, &e), 1);
	store_user_release(&u);
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	CHECK(strstr(u.totp_recovery, rec.hash[0]) == NULL);
	CHECK(strstr(u.totp_recovery, rec.hash[1]) != NULL);
	CHECK_INT(users_second_factor(&s, &u, rec.code[0], t + 30, &e), 0);
	CHECK_INT(users_second_factor(&s, &u, rec.code[9], t + 30, &e), 1);
	store_user_release(&u);

	/* off again */
	CHECK_INT(store_user_totp_set(&s, "tina", NULL, NULL, NULL, &e), 1);
	CHECK_INT(store_user_get(&s, "tina", &u, &e), 1);
	CHECK(u.totp_secret == NULL && u.totp_recovery == NULL);
	CHECK_INT(users_second_factor(&s, &u, NULL, t, &e), 1);
	store_user_release(&u);
	CHECK_INT(store_user_totp_set(&s, "nobody", NULL, NULL, NULL, &e), 0);

	memset(&rec, 0, sizeof(rec));
	sbuf_release(&secret);
	sbuf_release(&uri);
	free(h);
	store_close(&s);
	err_release(&e);
}

static void test_tokens_and_removal(void)
{
	struct store s = STORE_INIT;
	struct store_token t = {0}, *v = NULL;
	struct store_user u = {0};
	struct err e = ERR_INIT;
	size_t n = 0;
	char *h = NULL;

	CHECK(store_open(&s, dir, &e) == 0);
	CHECK(users_hash("correct horse battery", &h, &e) == 0);
	CHECK(store_user_add(&s, "rita", h, "user", 100, &e) == 0);
	t.user = (char *)"rita";
	t.name = (char *)"ci";
	t.app = (char *)"shop";
	t.role = (char *)"viewer";
	t.created = 100;
	CHECK(store_token_add(&s, "aaaa", &t, &e) == 0);
	CHECK(store_token_add(&s, "bbbb", &t, &e) < 0);
	CHECK(strstr(err_str(&e), "already exists") != NULL);
	err_release(&e);
	t.name = (char *)"all";
	t.app = t.role = NULL;
	CHECK(store_token_add(&s, "cccc", &t, &e) == 0);
	memset(&t, 0, sizeof(t));
	CHECK_INT(store_token_get(&s, "aaaa", 200, &t, &e), 1);
	CHECK_STR(t.user, "rita");
	CHECK_STR(t.app, "shop");
	CHECK_STR(t.role, "viewer");
	store_token_release(&t);
	CHECK_INT(store_token_get(&s, "dddd", 200, &t, &e), 0);
	CHECK(store_token_list(&s, "rita", &v, &n, &e) == 0);
	CHECK_INT(n, 2);
	CHECK_STR(v[0].name, "all");
	CHECK_INT(v[0].last_used, 0);
	CHECK_INT(v[1].last_used, 200);
	for (size_t i = 0; i < n; i++) {
		store_token_release(&v[i]);
	}
	free(v);
	CHECK_INT(store_token_remove(&s, "rita", "all", &e), 1);
	CHECK_INT(store_token_remove(&s, "rita", "all", &e), 0);

	/* sessions of a user but one end */
	CHECK(store_session_add(&s, "s1", "rita", 100, &e) == 0);
	CHECK(store_session_add(&s, "s2", "rita", 100, &e) == 0);
	CHECK(store_session_remove_user(&s, "rita", "s1", &e) == 0);
	CHECK_INT(count(&s, "sessions", "user", "rita"), 1);
	CHECK_INT(count(&s, "sessions", "hash", "s1"), 1);

	/* a removed user takes its sessions, tokens and grants along */
	CHECK(store_user_app_set(&s, "rita", "shop", "viewer", &e) == 0);
	CHECK_INT(store_user_remove(&s, "rita", &e), 1);
	CHECK_INT(store_user_remove(&s, "rita", &e), 0);
	CHECK_INT(store_user_get(&s, "rita", &u, &e), 0);
	CHECK_INT(count(&s, "sessions", "user", "rita"), 0);
	CHECK_INT(count(&s, "api_tokens", "user", "rita"), 0);
	CHECK_INT(count(&s, "user_apps", "user", "rita"), 0);
	CHECK(store_user_admins(&s, &e) >= 1);
	CHECK_INT(store_user_set(&s, "nobody", STORE_USER_ROLE, "user", &e), 0);
	CHECK(store_user_set(&s, "alice", STORE_USER_ROLE, "root", &e) < 0);
	err_release(&e);
	free(h);
	store_close(&s);
	err_release(&e);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_hash_and_verify);
	UNIT_RUN(test_names);
	UNIT_RUN(test_bearer);
	UNIT_RUN(test_users_and_logins);
	UNIT_RUN(test_sessions);
	UNIT_RUN(test_setup_tokens);
	UNIT_RUN(test_second_factor);
	UNIT_RUN(test_tokens_and_removal);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
