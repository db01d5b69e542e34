/*
 * loginguard — login backoff per client address and per user name, so a
 * password cannot be guessed faster than a person types.
 *
 * Every key (a client address, a user name) counts its failed logins.
 * After LOGINGUARD_FREE_FAILS failures the key must wait before its next
 * try: 1 s after the 5th, 2 s after the 6th, doubling up to
 * LOGINGUARD_MAX_WAIT (15 min). A key's count is forgotten once it has been
 * quiet (no failure, no wait running) for LOGINGUARD_WINDOW (15 min).
 * A login is refused while either its address or its user name waits.
 *
 *	unsigned wait;
 *	if (!loginguard_check(g, ip, user, now, &wait))
 *		answer 429 with Retry-After: wait, without reading the hash;
 *	else if (password and second factor are right)
 *		loginguard_ok(g, ip, user, now);
 *	else
 *		loginguard_fail(g, ip, user, now);
 *
 * A success clears the user's count, not the address's: one right
 * password from an address does not buy it another round of guesses at
 * other users.
 *
 * Keys: an IPv4 address is its own key, an IPv6 address its /64 (one host
 * holds a whole /64 and can rotate through it); an IPv4-mapped IPv6
 * address is its IPv4 address. A string that is no address is a key of
 * its own (the caller passes the peer address as inet_ntop writes it).
 * User names are keyed case-insensitively (ASCII). Only a 128-bit digest
 * of a key is kept, never the name.
 *
 * Memory is bounded: addresses and users have a table each, of a fixed
 * number of slots set at init. When a table is full, a new key takes the
 * slot that has been quiet the longest, so a flood of new addresses
 * cannot push out the user names being guessed at, and a key under
 * attack is always the freshest in its table. A lookup scans its table:
 * cost grows with the slots, not with the traffic.
 *
 * Thread-safe: every call takes the guard's mutex. Time is the caller's
 * (now, Unix seconds), so tests set it.
 */
#ifndef LOGINGUARD_H
#define LOGINGUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGINGUARD_FREE_FAILS 5	   /* failures before the first wait */
#define LOGINGUARD_WINDOW     900  /* seconds of quiet that forget a key */
#define LOGINGUARD_MAX_WAIT   900  /* seconds, the longest wait */
#define LOGINGUARD_SLOTS      4096 /* per table, a sensible default */

struct loginguard_entry {
	unsigned char key[16]; /* digest of the key; all zero: free slot */
	uint32_t fails;	       /* failures counted */
	int64_t last_fail;     /* time of the last failure */
	int64_t until;	       /* no try before this time */
};

struct loginguard_table {
	struct loginguard_entry *e;
	size_t n;
};

struct loginguard {
	pthread_mutex_t lock;
	struct loginguard_table ip, user;
};

/* Sets up g with `slots` slots per table (at least 1). Allocation failure aborts. */
void loginguard_init(struct loginguard *g, size_t slots);
/* Frees what g holds; g can be inited again. */
void loginguard_release(struct loginguard *g);

/*
 * May this login be tried now? ip and user may each be NULL (not known
 * yet: that key is not checked). true, or false with *retry_after set to
 * the seconds until both keys may try again (at least 1).
 */
bool loginguard_check(struct loginguard *g, const char *ip, const char *user, int64_t now,
		      unsigned *retry_after);

/* Counts a failed login against ip and user (either may be NULL). */
void loginguard_fail(struct loginguard *g, const char *ip, const char *user, int64_t now);

/* A successful login: forgets the user's failures (the address's stay). */
void loginguard_ok(struct loginguard *g, const char *ip, const char *user, int64_t now);

/*
 * The key of an address: 17 bytes, a family byte (4, 6, or 0 for a
 * string that is no address) and the IPv4 address, the IPv6 /64, or the
 * start of a SHA-256 of the string, zero-padded. For tests and the fuzz
 * target; always succeeds.
 */
void loginguard_ip_key(const char *ip, unsigned char key[17]);

#endif
