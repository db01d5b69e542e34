/* loginguard — see loginguard.h. */
#include "daemon/loginguard.h"

#include <arpa/inet.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sbuf.h"
#include "lib/xalloc.h"

#include "lib/banned.h"

#define MAX_FAILS 1000 /* counting further changes nothing */

void loginguard_init(struct loginguard *g, size_t slots)
{
	if (!slots) {
		slots = 1;
	}
	if (pthread_mutex_init(&g->lock, NULL)) {
		xdie("cannot create the login guard's mutex");
	}
	g->ip.e = xcalloc(slots, sizeof(*g->ip.e));
	g->ip.n = slots;
	g->user.e = xcalloc(slots, sizeof(*g->user.e));
	g->user.n = slots;
}

void loginguard_release(struct loginguard *g)
{
	pthread_mutex_destroy(&g->lock);
	free(g->ip.e);
	free(g->user.e);
	memset(g, 0, sizeof(*g));
}

/* The 128-bit table key of bytes: never all zero, which marks a free slot. */
static void digest(const void *p, size_t len, unsigned char out[16])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned char any = 0;

	SHA256(p, len, md);
	memcpy(out, md, 16);
	for (size_t i = 0; i < 16; i++) {
		any |= out[i];
	}
	if (!any) {
		out[0] = 1;
	}
}

void loginguard_ip_key(const char *ip, unsigned char key[17])
{
	unsigned char a[16];

	memset(key, 0, 17);
	if (inet_pton(AF_INET, ip, a) == 1) {
		key[0] = 4;
		memcpy(key + 1, a, 4);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0,    0,
							   0, 0, 0, 0, 0xff, 0xff};

		if (!memcmp(a, v4mapped, sizeof(v4mapped))) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 8); /* the /64 */
		}
	} else {
		unsigned char md[SHA256_DIGEST_LENGTH];

		SHA256((const unsigned char *)ip, strlen(ip), md);
		memcpy(key + 1, md, 16);
	}
}

static void ip_digest(const char *ip, unsigned char out[16])
{
	unsigned char key[17];

	loginguard_ip_key(ip, key);
	digest(key, sizeof(key), out);
}

static void user_digest(const char *user, unsigned char out[16])
{
	struct sbuf sb = SBUF_INIT;

	for (const char *p = user; *p; p++) {
		sbuf_addch(&sb, *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	}
	digest(sb.buf, sb.len, out);
	sbuf_release(&sb);
}

/* When the entry last had something going on: its last failure or the end of its wait. */
static int64_t quiet_since(const struct loginguard_entry *e)
{
	return e->until > e->last_fail ? e->until : e->last_fail;
}

static bool is_free(const struct loginguard_entry *e, int64_t now)
{
	static const unsigned char zero[16];

	return !memcmp(e->key, zero, sizeof(zero)) || now - quiet_since(e) >= LOGINGUARD_WINDOW;
}

/* The slot holding key, live or not, or NULL. */
static struct loginguard_entry *slot_of(struct loginguard_table *t, const unsigned char key[16])
{
	for (size_t i = 0; i < t->n; i++) {
		if (!memcmp(t->e[i].key, key, 16)) {
			return &t->e[i];
		}
	}
	return NULL;
}

/* The live entry of key, or NULL. */
static struct loginguard_entry *find(struct loginguard_table *t, const unsigned char key[16],
				     int64_t now)
{
	struct loginguard_entry *e = slot_of(t, key);

	return e && !is_free(e, now) ? e : NULL;
}

/*
 * The live entry of key; else a fresh one in key's old slot, a free slot,
 * or the slot quiet the longest.
 */
static struct loginguard_entry *take(struct loginguard_table *t, const unsigned char key[16],
				     int64_t now)
{
	struct loginguard_entry *e = slot_of(t, key);

	if (e && !is_free(e, now)) {
		return e;
	}
	if (!e) {
		for (size_t i = 0; i < t->n; i++) {
			if (is_free(&t->e[i], now)) {
				e = &t->e[i];
				break;
			}
			if (!e || quiet_since(&t->e[i]) < quiet_since(e)) {
				e = &t->e[i];
			}
		}
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, 16);
	return e;
}

/* Seconds e must still wait at now (0: none), at most LOGINGUARD_MAX_WAIT. */
static unsigned wait_of(const struct loginguard_entry *e, int64_t now)
{
	int64_t w;

	if (!e || e->until <= now) {
		return 0;
	}
	w = e->until - now;
	return w > LOGINGUARD_MAX_WAIT ? LOGINGUARD_MAX_WAIT : (unsigned)w;
}

static void count_failure(struct loginguard_entry *e, int64_t now)
{
	uint32_t over;
	int64_t wait;

	if (e->fails < MAX_FAILS) {
		e->fails++;
	}
	e->last_fail = now;
	if (e->fails < LOGINGUARD_FREE_FAILS) {
		return;
	}
	over = e->fails - LOGINGUARD_FREE_FAILS;
	wait = over >= 20 ? LOGINGUARD_MAX_WAIT : (int64_t)1 << over;
	if (wait > LOGINGUARD_MAX_WAIT) {
		wait = LOGINGUARD_MAX_WAIT;
	}
	e->until = now + wait;
}

bool loginguard_check(struct loginguard *g, const char *ip, const char *user, int64_t now,
		      unsigned *retry_after)
{
	unsigned char k[16];
	unsigned w = 0, u;

	pthread_mutex_lock(&g->lock);
	if (ip) {
		ip_digest(ip, k);
		w = wait_of(find(&g->ip, k, now), now);
	}
	if (user) {
		user_digest(user, k);
		u = wait_of(find(&g->user, k, now), now);
		w = u > w ? u : w;
	}
	pthread_mutex_unlock(&g->lock);
	if (w) {
		*retry_after = w;
	}
	return w == 0;
}

void loginguard_fail(struct loginguard *g, const char *ip, const char *user, int64_t now)
{
	unsigned char k[16];

	pthread_mutex_lock(&g->lock);
	if (ip) {
		ip_digest(ip, k);
		count_failure(take(&g->ip, k, now), now);
	}
	if (user) {
		user_digest(user, k);
		count_failure(take(&g->user, k, now), now);
	}
	pthread_mutex_unlock(&g->lock);
}

void loginguard_ok(struct loginguard *g, const char *ip, const char *user, int64_t now)
{
	unsigned char k[16];
	struct loginguard_entry *e;

	if (!user) {
		return;
	}
	pthread_mutex_lock(&g->lock);
	user_digest(user, k);
	if ((e = find(&g->user, k, now))) {
		memset(e, 0, sizeof(*e));
	}
	pthread_mutex_unlock(&g->lock);
}
