/*
 * acme — certificates from an ACME CA (RFC 8555), obtained and renewed on
 * threads of their own.
 *
 * Three layers, each usable alone:
 *
 * - The challenge store (struct acme_store) is the only thing the data
 *   plane touches. The ACME side puts in what a challenge needs while the
 *   CA validates it and takes it out afterwards: for HTTP-01 a token and
 *   its key authorization (the data plane answers GET
 *   /.well-known/acme-challenge/TOKEN on port 80 with it, see
 *   acme_store_http_answer()), for TLS-ALPN-01 (RFC 8737) a self-signed
 *   certificate and key per name (the TLS layer's acme-tls/1 hook asks
 *   acme_store_alpn() by SNI name). Every function of the store is
 *   thread-safe; its lock is held only to copy a few bytes or take a
 *   reference, never across I/O, so an event loop may call it.
 *
 * - The client (struct acme_client) speaks the protocol: directory,
 *   nonces (badNonce retried, 4 tries in all), the account (an EC P-256 key, ES256
 *   JWS with "jwk" for newAccount and "kid" afterwards), newOrder for a
 *   list of names, one challenge per authorization, polling with
 *   Retry-After, a CSR with a fresh P-256 key per certificate, finalize
 *   and the PEM chain. It blocks (HTTP with libcurl, DNS commands through
 *   lib/run.h) and is used by one thread at a time. DNS-01 runs the user's
 *   command as argv [CMD, "set"|"clear", "_acme-challenge.NAME", VALUE],
 *   never through a shell; "set" is to return once the TXT record is
 *   served (the CA looks it up right after), and a failure of "clear" is
 *   only logged. A wildcard's record is that of the name without "*.".
 *
 * - The manager (struct acme_manager) knows which certificates are wanted
 *   (acme_manager_want(); a certificate is a set of names, and names that
 *   were not set are never requested), loads what the state directory
 *   has, issues what is missing, renews when a third of the lifetime is
 *   left, retries failures with capped exponential backoff, and hands every
 *   certificate it loads or obtains to on_cert. The certificate in use is
 *   only replaced once the new one is on disk, so a failed renewal leaves
 *   the old one serving. It runs on its own thread (acme_manager_start),
 *   or is stepped by the caller with acme_manager_step() and an injected
 *   clock (tests). Callbacks run on the manager's thread with no lock held.
 *
 * Files, all under STATE/acme (directories 0700, files 0600, each written
 * to a temporary file, fsync'ed and renamed into place):
 *	account.key			the account's key (PEM), made on first use
 *	accounts/HASH.key		the key of an account set at run time
 *					(acme_manager_set_account)
 *	certs/NAMES/cert.pem		the chain, leaf first
 *	certs/NAMES/key.pem		the certificate's key
 * where NAMES is the certificate's names, lowercased, sorted and joined by
 * "+", with "*" written as "_" ("_.example.com+example.com").
 *
 * Errors are sentences a person can act on: the CA's problem documents
 * become "example.com does not resolve to this host", "port 80 is not
 * reachable from the CA (...)", "the CA refused: DETAIL", and an
 * unreachable CA is "cannot reach the CA at URL: curl's message".
 */
#ifndef ACME_H
#define ACME_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/strvec.h"

#define ACME_FIRST_RETRY_MS  3000 /* the first retry of a name that never had a certificate */
#define ACME_LETSENCRYPT_URL "https://acme-v02.api.letsencrypt.org/directory"

enum acme_challenge {
	ACME_HTTP01 = 0,
	ACME_TLSALPN01 = 1,
	ACME_DNS01 = 2,
};

/* "http-01", "tls-alpn-01", "dns-01". */
const char *acme_challenge_name(enum acme_challenge c);
/* Parses one of those names. Returns 0, or -1 with e set. */
int acme_challenge_parse(const char *s, enum acme_challenge *out, struct err *e);

/* ---- the challenge store ---------------------------------------------------------------- */

struct acme_store_http {
	char *token, *keyauth;
};
struct acme_store_alpn {
	char *name;
	X509 *cert;
	EVP_PKEY *key;
};

struct acme_store {
	pthread_mutex_t lock;
	struct acme_store_http *http;
	size_t nr_http, alloc_http;
	struct acme_store_alpn *alpn;
	size_t nr_alpn, alloc_alpn;
};

void acme_store_init(struct acme_store *s);
/* Drops every entry. */
void acme_store_release(struct acme_store *s);

/* Adds (or replaces) the answer to an HTTP-01 token. */
void acme_store_set_http(struct acme_store *s, const char *token, const char *keyauth);
void acme_store_del_http(struct acme_store *s, const char *token);
/*
 * For a request path: when it is /.well-known/acme-challenge/TOKEN and the
 * token is in the store, appends the key authorization (the whole body to
 * answer with, as text/plain) to out and returns true.
 */
bool acme_store_http_answer(struct acme_store *s, struct slice path, struct sbuf *out);

/* Adds (or replaces) the TLS-ALPN-01 certificate of a name; takes references of its own. */
void acme_store_set_alpn(struct acme_store *s, const char *name, X509 *cert, EVP_PKEY *key);
void acme_store_del_alpn(struct acme_store *s, const char *name);
/*
 * The TLS-ALPN-01 certificate and key for an SNI name (case-insensitive),
 * each with a reference the caller drops (X509_free, EVP_PKEY_free); false
 * when there is none.
 */
bool acme_store_alpn(struct acme_store *s, const char *name, X509 **cert, EVP_PKEY **key);

/* ---- pure parts: encodings, keys, JWS, certificates ------------------------------------- */

/* Base64url without padding (RFC 7515). */
void acme_b64url(const void *data, size_t len, struct sbuf *out);
/* Decodes base64url; returns 0, or -1 on a bad character. */
int acme_b64url_decode(const char *s, size_t len, struct sbuf *out);

/* Whether name is a DNS name we may ask for: letters, digits, '-', dots, an optional "*." */
bool acme_name_valid(const char *name);

/* A new EC P-256 key; NULL when OpenSSL fails. */
EVP_PKEY *acme_key_new(void);
/* A key's private PEM (PKCS#8), appended to out. Returns 0 or -1. */
int acme_key_pem(EVP_PKEY *key, struct sbuf *out);
/* Reads a private key from PEM. NULL when it is not one. */
EVP_PKEY *acme_key_from_pem(const char *pem, size_t len);

/* The public JWK of a P-256 key in RFC 7638's canonical form {"crv","kty","x","y"}. */
int acme_jwk(EVP_PKEY *key, struct sbuf *out);
/*
 * RFC 7638 thumbprint (SHA-256, base64url) of any JWK given as JSON: EC
 * (crv, kty, x, y), RSA (e, kty, n) or oct (k, kty). 0, or -1 with e set.
 */
int acme_jwk_thumbprint(const char *jwk_json, struct sbuf *out, struct err *e);
/* "TOKEN.THUMBPRINT" (RFC 8555 8.1). */
void acme_key_authorization(const char *token, const char *thumbprint, struct sbuf *out);
/* The DNS-01 TXT value: base64url(SHA-256(keyauth)). */
void acme_dns01_value(const char *keyauth, struct sbuf *out);

/*
 * A flattened JWS (RFC 7515) signed with ES256: protected header
 * {"alg":"ES256","nonce","url"} plus "kid" when kid is given, else "jwk".
 * payload NULL makes a POST-as-GET (empty payload). Returns 0 or -1.
 */
int acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
	     const char *payload, struct sbuf *out);

/*
 * The TLS-ALPN-01 certificate (RFC 8737) for name: self-signed with a
 * fresh P-256 key, name as its only SAN, and the critical
 * id-pe-acmeIdentifier extension holding SHA-256(keyauth). 0 or -1.
 */
int acme_alpn_cert(const char *name, const char *keyauth, X509 **cert, EVP_PKEY **key);
/* A CSR for key with every name as a SAN (and the first as CN when it fits). */
X509_REQ *acme_csr_new(const struct strvec *names, EVP_PKEY *key);

/* ---- pure parts: the CA's documents ------------------------------------------------------ */

struct acme_directory {
	char *new_nonce, *new_account, *new_order, *terms;
};
void acme_directory_release(struct acme_directory *d);
int acme_directory_parse(const char *json, size_t len, struct acme_directory *d, struct err *e);

struct acme_order {
	char *status; /* "pending", "ready", "processing", "valid", "invalid" */
	struct strvec authorizations;
	char *finalize, *certificate; /* certificate: NULL until valid */
	char *error;		      /* the problem document (JSON) of an invalid order, or NULL */
};
void acme_order_release(struct acme_order *o);
int acme_order_parse(const char *json, size_t len, struct acme_order *o, struct err *e);

struct acme_chall {
	char *type, *url, *token, *status;
	char *error; /* problem document (JSON), or NULL */
};
struct acme_authz {
	char *status;
	char *name; /* identifier value, "*." put back in front for a wildcard */
	bool wildcard;
	struct acme_chall *chall;
	size_t nr_chall;
};
void acme_authz_release(struct acme_authz *a);
int acme_authz_parse(const char *json, size_t len, struct acme_authz *a, struct err *e);
/*
 * Which challenge to answer: dns-01 for a wildcard (it is the only one
 * allowed), else want. Returns its index, or -1 with e set (the CA does
 * not offer it, or a wildcard without a DNS command).
 */
int acme_authz_pick(const struct acme_authz *a, enum acme_challenge want, bool have_dns,
		    struct err *e);

/*
 * A problem document (RFC 7807 JSON, with RFC 8555 subproblems) as a
 * sentence for a person, appended to out. names says what was asked for
 * (used when the document names no identifier); chall is the challenge that
 * was being validated (ports and record names depend on it).
 */
void acme_problem_describe(const char *json, size_t len, const char *names,
			   enum acme_challenge chall, struct sbuf *out);
/* Whether the problem document has the given type suffix ("badNonce", ...). */
bool acme_problem_is(const char *json, size_t len, const char *type);

/* Retry-After (seconds, or an HTTP date relative to now_s) in milliseconds; false if unusable. */
bool acme_retry_after_ms(const char *value, int64_t now_s, uint64_t *ms);

/* ---- pure parts: timing and state --------------------------------------------------------- */

/* When a certificate valid from not_before to not_after (ms) is renewed: a third before the end. */
uint64_t acme_renew_at(uint64_t not_before_ms, uint64_t not_after_ms);
/* The wait after the n-th failure in a row (n >= 1): min_ms doubled each time, at most max_ms. */
uint64_t acme_backoff_ms(unsigned failures, uint64_t min_ms, uint64_t max_ms);
/* The directory name of a certificate (see the top of this file). */
void acme_cert_dirname(const struct strvec *names, struct sbuf *out);

/* A certificate: the chain (leaf first) and its key, both PEM, and when it is valid. */
struct acme_cert {
	char *cert_pem, *key_pem;
	uint64_t not_before_ms, not_after_ms; /* wall clock */
};
void acme_cert_release(struct acme_cert *c);
/*
 * Fills not_before/not_after from cert_pem and checks that the leaf covers
 * every name and matches key_pem. 0, or -1 with e set.
 */
int acme_cert_check(struct acme_cert *c, const struct strvec *names, struct err *e);

/* ---- the client ----------------------------------------------------------------------------- */

struct acme_config {
	char *directory_url; /* NULL: Let's Encrypt */
	char *email;	     /* NULL: no contact */
	char *ca_file; /* NULL, or a PEM of CAs trusted for the CA's own HTTPS, besides the system's
			*/
	char *state_dir;   /* the proxy's state directory; files go to STATE/acme */
	char *account_key; /* the account key's file under STATE/acme; NULL: "account.key" */
	enum acme_challenge challenge;
	char *dns_command;	  /* NULL: no DNS-01 (and so no wildcards) */
	uint64_t dns_timeout_ms;  /* 0: 60 s */
	uint64_t poll_timeout_ms; /* how long a challenge or order may stay pending; 0: 5 min */
	uint64_t retry_min_ms, retry_max_ms; /* backoff after failures; 0: 1 min and 6 h */
	/* (a name that never had a certificate is tried again after ACME_FIRST_RETRY_MS once) */
};
/* Frees the strings. */
void acme_config_release(struct acme_config *c);

struct acme_client {
	const struct acme_config *cfg;
	struct acme_store *store;
	const atomic_bool *stop; /* when set, waits end early and the issue fails; may be NULL */
	void *curl;		 /* CURL * */
	EVP_PKEY *account_key;
	char *kid, *nonce, *thumbprint;
	struct acme_directory dir;
	bool have_dir;
	/* the last response */
	long status;
	struct sbuf body;
	char *location, *retry_after, *content_type;
	char curl_errbuf[256]; /* CURL_ERROR_SIZE */
};

/* cfg and store must outlive the client. Does no I/O. */
void acme_client_init(struct acme_client *c, const struct acme_config *cfg,
		      struct acme_store *store);
void acme_client_release(struct acme_client *c);
/*
 * Obtains a certificate for names (all valid per acme_name_valid). Blocks
 * for as long as the CA takes. 0 with out filled (release it), or -1 with
 * a sentence in e.
 */
int acme_issue(struct acme_client *c, const struct strvec *names, struct acme_cert *out,
	       struct err *e);

/* ---- the manager ---------------------------------------------------------------------------- */

struct acme_manager;
typedef void (*acme_cert_fn)(void *data, const struct strvec *names, const char *cert_pem,
			     const char *key_pem);
typedef void (*acme_error_fn)(void *data, const struct strvec *names, const char *message);
/* Obtains a certificate (acme_issue() by default; tests put in their own). */
typedef int (*acme_issue_fn)(struct acme_manager *m, const struct strvec *names,
			     struct acme_cert *out, struct err *e);
/* Wall clock in milliseconds (tests put in their own). */
typedef uint64_t (*acme_clock_fn)(void *data);

struct acme_managed {
	struct strvec names; /* sorted, lowercase */
	char *dir;	     /* STATE/acme/certs/NAMES */
	bool loaded;	     /* the state directory was looked at */
	bool have;	     /* a certificate was handed to on_cert */
	uint64_t not_before_ms, not_after_ms;
	unsigned failures;
	uint64_t due_ms; /* when something is to be done next */
	bool busy;	 /* being issued right now, off the lock */
	bool again;	 /* ordered again once loaded or issued: the CA changed meanwhile */
};

struct acme_manager {
	/* set by the caller before acme_manager_start() or the first step */
	acme_cert_fn on_cert;
	acme_error_fn on_error;
	void *cb_data;
	acme_clock_fn clock;
	void *clock_data;
	acme_issue_fn issue;

	/* private */
	struct acme_config cfg;
	struct acme_store *store;
	struct acme_client client;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	struct acme_managed **certs;
	size_t nr_certs, alloc_certs;
	bool changed;
	/* the account as set at boot, and the one asked for by acme_manager_set_account() */
	char *boot_email, *boot_directory;
	char *next_email, *next_directory;
	bool next_account;
	char *account_url; /* the account's URL at the CA once registered (lock held) */
};

/*
 * Takes over cfg's strings (cfg is left empty); store must outlive the
 * manager. Does no I/O.
 */
void acme_manager_init(struct acme_manager *m, struct acme_config *cfg, struct acme_store *store);
/*
 * Sets the wanted certificates: n sets of names. Sets that stay keep their
 * state; sets that go are forgotten (their files stay). Invalid names are
 * refused (-1 with e set, nothing changed). Thread-safe; does no I/O.
 */
int acme_manager_want(struct acme_manager *m, const struct strvec *sets, size_t n, struct err *e);
/*
 * Changes the account: its contact email (NULL: none) and the CA's
 * directory URL (NULL: Let's Encrypt). Taken by the manager before its next
 * order (an order under way finishes with the old account); the client
 * starts afresh (directory, nonce, registration). The boot's pair uses
 * STATE/acme/account.key, any other pair its own key,
 * accounts/HASH.key with HASH from the directory and the email (so each
 * pair is an account of its own at the CA, and going back to a pair uses
 * its account again). A new directory makes every wanted certificate due
 * at once (ordered from the new CA; the ones in use serve until then).
 * Thread-safe; does no I/O.
 */
void acme_manager_set_account(struct acme_manager *m, const char *email, const char *directory_url);
/* The account's URL at the CA once registered, else NULL. Malloc'd; thread-safe. */
char *acme_manager_account_url(struct acme_manager *m);
/* The key file (under STATE/acme) of an account: "account.key" for the boot's, else
 * "accounts/HASH.key" (16 hex digits of SHA-256 of "DIRECTORY\nEMAIL"). Malloc'd. */
char *acme_account_key_name(const char *email, const char *directory_url, const char *boot_email,
			    const char *boot_directory);

/*
 * Does everything that is due at the clock's now (loading, issuing,
 * renewing, one certificate after the other) and returns when the next
 * thing is due (UINT64_MAX: nothing).
 */
uint64_t acme_manager_step(struct acme_manager *m);
/* Runs acme_manager_step() on a thread of its own, waking when due or when want() changed. */
int acme_manager_start(struct acme_manager *m, struct err *e);
/*
 * Stops and joins the thread. An issue in progress ends at its next wait or
 * transfer; a DNS command that runs is waited for (it has its own timeout).
 */
void acme_manager_stop(struct acme_manager *m);
/* Stops, then frees everything. */
void acme_manager_release(struct acme_manager *m);

#endif
