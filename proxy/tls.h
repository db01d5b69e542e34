/*
 * tls — TLS for berth-proxy's client connections (OpenSSL): a server
 * context, a certificate store chosen by SNI, non-blocking connection I/O
 * behind proxy/conn.h's conn_io table, session resumption with rotating
 * ticket keys, and OCSP stapling fed by a background thread.
 *
 * Protocol: TLS 1.2 and 1.3 only. For 1.2 only ECDHE key exchange with
 * AES-GCM or ChaCha20-Poly1305 (no CBC, no RSA key exchange, no SHA-1 MAC),
 * the server's cipher order (but ChaCha20 for a client that puts it
 * first); no compression, no renegotiation; groups
 * X25519, P-256, P-384. ALPN picks, in the server's order, "h2" (only when
 * struct tls_server_opts.http2 is set) then "http/1.1"; a client whose
 * protocols do not overlap gets no ALPN answer (it speaks HTTP/1.1).
 *
 * Certificates: a struct tls_cert is a leaf, its chain and key, and the DNS
 * names it covers (its subjectAltName DNS entries, lowercase, wildcards
 * like "*.example.com" included). A struct tls_store maps names to
 * certificates and is never edited once published: a change builds a new
 * store and publishes it with tls_server_publish() (one atomic pointer
 * store). The SNI name picks the certificate: the exact name, else the
 * wildcard one label up ("*.w.test" covers "a.w.test", not "a.b.w.test"),
 * else the store's default certificate, else the handshake fails with an
 * unrecognized_name alert. A name may have an ECDSA and an RSA certificate;
 * each client gets one it accepts. A handshake references the certificates
 * it picked, so a renewed certificate is served to new handshakes while
 * those in progress finish with the old one. A malformed server name gets
 * a decode_error alert.
 *
 * Resumption: TLS 1.3 and 1.2 session tickets sealed with keys the proxy
 * makes (never written anywhere), rotated by tls_server_rotate_tickets()
 * with the previous key kept to open older tickets; TLS 1.2 clients without
 * tickets resume from the server's session cache. Sessions live 12 hours.
 *
 * ACME TLS-ALPN-01 (RFC 8737): a client that offers exactly "acme-tls/1"
 * gets the certificate that the challenge hook returns for its SNI name,
 * never one from the store; when the hook has none, the handshake fails.
 * tls_conn_alpn() then says "acme-tls/1": the caller closes the connection
 * (the protocol carries no application data).
 *
 * Threads:
 *  - Control thread (or any one thread at a time): tls_server_new/free,
 *    tls_server_publish, tls_server_rotate_tickets, tls_ocsp_start/stop,
 *    tls_cert_* constructors, tls_store_* building. tls_server_publish and
 *    tls_server_rotate_tickets are safe while workers handshake.
 *  - Workers (any number at once, each on its own connections):
 *    tls_conn_attach, tls_handshake, conn_io_tls's functions, tls_conn_*
 *    getters. Nothing here blocks: no disk, no DNS, no network but the
 *    connection's own non-blocking socket.
 *  - The OCSP thread (tls_ocsp_start) does the fetching; a worker only
 *    copies the response stored with the certificate.
 *  - tls_cert_set_ocsp / tls_cert_ocsp_update may run on any thread but a
 *    worker (the second one blocks on the network).
 *
 * In an event loop, per accepted socket:
 *
 *	tls_conn_attach(srv, &cl->c);		// c->io is now &conn_io_tls
 *	// on each readiness event until the handshake is done:
 *	switch (tls_handshake(&cl->c)) {
 *	case TLS_HS_DONE:	// tls_conn_alpn(), tls_conn_sni(); then HTTP through c->io
 *	case TLS_HS_WANT_READ:	// wait for input (CONN_F_CAN_READ)
 *	case TLS_HS_WANT_WRITE: // wait for output (CONN_F_CAN_WRITE)
 *	case TLS_HS_FAILED:	// log tls_conn_error(), then c->io->close()
 *	}
 *	// after EAGAIN from c->io->read or ->writev: retry on tls_conn_waits()
 *	// after c->io->shutdown: tls_conn_flush() on tls_conn_waits() until it gives 0
 *
 * The socket layer writes with write(): SIGPIPE must be ignored (berth-proxy
 * does).
 *
 * Memory: OpenSSL's record buffers are released while a connection is
 * idle (SSL_MODE_RELEASE_BUFFERS); an idle TLS 1.3 connection costs about
 * 15 KB of heap, most of it OpenSSL's session state.
 *
 * Errors follow lib/err.h; messages name the files involved.
 */
#ifndef TLS_H
#define TLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/err.h"
#include "lib/strvec.h"
#include "proxy/conn.h"

/* ---- certificates ---- */

struct tls_cert {
	atomic_long refs;
	X509 *x509;
	EVP_PKEY *pkey;
	STACK_OF(X509) * chain; /* intermediates, leaf excluded; may be empty */
	struct strvec names;	/* SAN DNS names, lowercase */
	time_t not_after;
	char *ocsp_url; /* the AIA OCSP responder, or NULL */
	/* The stapled OCSP response (DER) and when to fetch the next. Under ocsp_lock. */
	void *ocsp_lock; /* pthread_mutex_t, kept out of the header */
	unsigned char *ocsp_der;
	size_t ocsp_len;
	time_t ocsp_expires; /* its nextUpdate: never stapled after */
	time_t ocsp_next;    /* when to fetch the next one; 0: none yet */
};

/*
 * Reads a certificate (leaf first, then its chain) and a private key from PEM
 * files: --tls-certificate-path and --tls-private-key-path. A key that does
 * not belong to the certificate is an error naming both files. One reference.
 */
struct tls_cert *tls_cert_load_files(const char *cert_path, const char *key_path, struct err *e);
/* The same from PEM bytes (a renewed certificate); label names them in errors. */
struct tls_cert *tls_cert_from_pem(const char *cert_pem, size_t cert_len, const char *key_pem,
				   size_t key_len, const char *label, struct err *e);
/* From objects the caller made (each referenced again); chain may be NULL. */
struct tls_cert *tls_cert_new(X509 *x509, EVP_PKEY *pkey, STACK_OF(X509) * chain, struct err *e);
struct tls_cert *tls_cert_ref(struct tls_cert *c);
void tls_cert_unref(struct tls_cert *c);
/* Whether c covers name (exactly or by a wildcard one label up). */
bool tls_cert_covers(const struct tls_cert *c, const char *name);

/* ---- the certificate store ---- */

/*
 * A name can have two certificates, one with an RSA key and one with
 * another (ECDSA) key; the handshake then serves the ECDSA one to clients
 * that accept it and the RSA one to the others (OpenSSL chooses by the
 * client's signature algorithms and, in TLS 1.2, its cipher suites).
 */
enum tls_key_slot {
	TLS_KEY_EC = 0, /* ECDSA, or any key but RSA */
	TLS_KEY_RSA = 1,
};

struct tls_store_entry {
	char *name;		  /* lowercase, "*.x" for a wildcard */
	struct tls_cert *cert[2]; /* by enum tls_key_slot; either may be NULL */
};

struct tls_store {
	atomic_long refs;
	struct tls_store_entry *v; /* sorted by name */
	size_t nr, alloc;
	struct tls_store_entry def; /* for clients without SNI or with an unknown name */
};

/* An empty store with one reference. */
struct tls_store *tls_store_new(void);
void tls_store_unref(struct tls_store *s);
/*
 * Adds c under every name it covers, in the slot of its key type (a later
 * certificate with the same key type for a name wins).
 */
void tls_store_add(struct tls_store *s, struct tls_cert *c);
/* Sets a default certificate (referenced) in the slot of its key type; NULL clears both. */
void tls_store_set_default(struct tls_store *s, struct tls_cert *c);
/*
 * The certificates for an SNI name by the rules above (the default when none
 * matches), or NULL; not referenced. tls_store_lookup gives the one most
 * clients get: ECDSA when there is one.
 */
const struct tls_store_entry *tls_store_find(const struct tls_store *s, const char *sni);
struct tls_cert *tls_store_lookup(const struct tls_store *s, const char *sni);

/* ---- the server context ---- */

/*
 * The ACME TLS-ALPN-01 hook: for name (lowercase), returns the challenge
 * certificate and key (owned references the caller hands over), or false.
 * Called on worker threads, during handshakes: it must not block.
 */
typedef bool tls_challenge_fn(void *arg, const char *name, X509 **x509, EVP_PKEY **pkey);

struct tls_server_opts {
	bool http2; /* offer "h2" in ALPN */
	tls_challenge_fn *challenge;
	void *challenge_arg;
	/* Seconds between ticket key rotations that tls_server_ticket_due() reports; 12 h if 0. */
	unsigned ticket_rotate_s;
};

struct tls_ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

struct tls_server {
	SSL_CTX *ctx;
	struct tls_server_opts o;
	_Atomic(struct tls_store *) store;
	void *lock; /* pthread_mutex_t: publishing, and the ticket keys */
	/* keys[0] encrypts new tickets; keys[1] (the previous one) still decrypts */
	struct tls_ticket_key keys[2];
	int nr_keys;
	time_t keys_rotated;
	struct tls_ocsp *ocsp; /* the OCSP thread, or NULL */
	void (*ocsp_stop)(
	    struct tls_server *srv); /* set by tls_ocsp_start: tls_server_free stops it */
};

/* A server context with fresh ticket keys and an empty store. NULL on error. */
struct tls_server *tls_server_new(const struct tls_server_opts *o, struct err *e);
void tls_server_free(struct tls_server *srv);
/* Publishes s as the store new handshakes use (takes the caller's reference). */
void tls_server_publish(struct tls_server *srv, struct tls_store *s);
/* The current store, referenced (release with tls_store_unref). */
struct tls_store *tls_server_store(struct tls_server *srv);
/*
 * Makes a new ticket key the one that encrypts; the previous one still
 * decrypts (tickets it made are renewed on use), the one before is dropped.
 * For a timer on the control thread: tls_server_ticket_due() says when.
 */
void tls_server_rotate_tickets(struct tls_server *srv);
bool tls_server_ticket_due(struct tls_server *srv, time_t now);

/* ---- connections ---- */

enum tls_hs {
	TLS_HS_DONE = 0,
	TLS_HS_WANT_READ = 1,  /* call again when the socket is readable */
	TLS_HS_WANT_WRITE = 2, /* call again when the socket is writable */
	TLS_HS_FAILED = -1,    /* close the connection */
};

/*
 * The conn_io table for a TLS connection (proxy/conn.h's conventions:
 * read/writev return >0 bytes, 0 end of stream (close_notify or the peer's
 * FIN), <0 with errno; EAGAIN means not now, and tls_conn_waits() says for
 * which readiness: SSL_read may need the socket writable and SSL_write
 * readable). read fills buf until the session has nothing more, so a short
 * read with tls_conn_waits() == CONN_F_CAN_READ means the socket is drained,
 * as a short read on plain TCP does: the read that would only say EAGAIN
 * can be skipped. read itself stops without that read() when the socket's
 * last one came back short and OpenSSL holds no byte back. writev gathers
 * small slices into records of up to 16 KB.
 * shutdown sends close_notify then the FIN, once writev has taken every
 * byte (after an EAGAIN from writev OpenSSL holds part of a record that
 * only the same writev can finish; a shutdown then sends the FIN alone);
 * close frees the session and closes the socket.
 */
extern const struct conn_io conn_io_tls;

/*
 * Puts a server-side TLS session on c (a non-blocking, accepted socket):
 * c->io becomes &conn_io_tls. Returns 0, or -1 (c unchanged).
 */
int tls_conn_attach(struct tls_server *srv, struct conn *c);
/* One step of the handshake; never blocks. Call on each readiness event until DONE. */
enum tls_hs tls_handshake(struct conn *c);
/*
 * After EAGAIN from read, writev or a pending shutdown: CONN_F_CAN_READ or
 * CONN_F_CAN_WRITE, the readiness that lets the operation go on.
 */
unsigned tls_conn_waits(const struct conn *c);
/* Retries a close_notify that the socket could not take at shutdown. 0 done, <0 EAGAIN/error. */
int tls_conn_flush(struct conn *c);
/* After the handshake: the ALPN protocol chosen ("" when none) and the SNI name (or NULL). */
const char *tls_conn_alpn(const struct conn *c);
const char *tls_conn_sni(const struct conn *c);
/* The OpenSSL session, for tests and logging. */
SSL *tls_conn_ssl(const struct conn *c);
/*
 * Why the handshake or the last operation failed, for the log ("" when
 * unknown); valid until the next call on this thread.
 */
const char *tls_conn_error(const struct conn *c);

/* ---- ClientHello parsing (untrusted bytes; exposed for the fuzz target) ---- */

/*
 * The host_name of a server_name extension's body, lowercase without a final
 * dot, into out. Returns 1, 0 when there is none, -1 when malformed.
 */
int tls_hello_sni(const unsigned char *ext, size_t len, char *out, size_t outsz);
/* Whether an ALPN extension's body offers exactly one protocol, "acme-tls/1". */
bool tls_hello_acme_only(const unsigned char *ext, size_t len);

/* ---- OCSP stapling ---- */

/*
 * Verifies a DER OCSP response for c against its issuer (the first
 * certificate of its chain that issued it) and stores it for stapling, to be
 * fetched again halfway to its nextUpdate. -1 with a message when it is not
 * a good, current answer for c.
 */
int tls_cert_set_ocsp(struct tls_cert *c, const unsigned char *der, size_t len, struct err *e);
/* The certificate of c's chain that issued c's leaf, or NULL. */
X509 *tls_cert_issuer(const struct tls_cert *c);
/*
 * These four are in proxy/ocsp.c, apart so that what only reads
 * certificates links no HTTP client.
 *
 * Fetches c's OCSP response from c->ocsp_url (blocking, libcurl: call
 * curl_global_init first, as tls_ocsp_start does) and stores it as above.
 */
int tls_cert_ocsp_update(struct tls_cert *c, struct err *e);
/*
 * Starts the thread that keeps the OCSP responses of the published store's
 * certificates fresh. tls_ocsp_kick() wakes it after a publish.
 */
int tls_ocsp_start(struct tls_server *srv, struct err *e);
void tls_ocsp_kick(struct tls_server *srv);
void tls_ocsp_stop(struct tls_server *srv);

#endif
