#include "proxy/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

/* The largest TLS record's payload: what writev gathers small slices into. */
#define TLS_RECORD 16384

/*
 * TLS 1.2: forward secrecy (ECDHE) and AEAD ciphers only, strongest key
 * exchange for each certificate type first; the server's order wins.
 */
#define CIPHERS_12                                                                                 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define CIPHERS_13 "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define GROUPS	   "X25519:P-256:P-384"

/* ALPN lists in wire format, in the server's order of preference. */
static const unsigned char alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";
static const unsigned char acme_proto[] = "acme-tls/1";

/* ---- certificates ---- */

static void ssl_err(struct sbuf *sb)
{
	unsigned long code = ERR_get_error();
	char buf[256];

	if (code) {
		ERR_error_string_n(code, buf, sizeof(buf));
		sbuf_addf(sb, ": %s", buf);
	}
	ERR_clear_error();
}

/* Sets e to the message and the first queued OpenSSL error. Returns -1. */
static int err_ssl(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int err_ssl(struct err *e, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	ssl_err(&sb);
	err_set(e, "%s", sb.buf);
	sbuf_release(&sb);
	return -1;
}

/*
 * A DNS name as a certificate or a client may spell it: labels of 1 to 63
 * letters, digits, '-', '_' or '*', joined by single dots (no empty label,
 * so no leading, trailing or doubled dot).
 */
static bool name_ok(const unsigned char *p, size_t len)
{
	size_t i, label = 0;

	if (!len || len > 253) {
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = p[i];

		if (ch == '.') {
			if (!label) {
				return false;
			}
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '*') ||
		    ++label > 63) {
			return false;
		}
	}
	return label > 0;
}

static char *lower_dup(const unsigned char *p, size_t len)
{
	char *s = xmalloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++) {
		s[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] - 'A' + 'a') : (char)p[i];
	}
	s[len] = '\0';
	return s;
}

static void read_names(struct tls_cert *c)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(c->x509, NID_subject_alt_name, NULL, NULL);
	int i;

	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *p;
		size_t len;
		char *name;

		if (g->type != GEN_DNS) {
			continue;
		}
		p = ASN1_STRING_get0_data(g->d.dNSName);
		len = (size_t)ASN1_STRING_length(g->d.dNSName);
		/* A wildcard is only ever the whole first label. */
		if (!name_ok(p, len) ||
		    (memchr(p, '*', len) &&
		     (len < 3 || p[0] != '*' || p[1] != '.' || memchr(p + 1, '*', len - 1)))) {
			continue;
		}
		name = lower_dup(p, len);
		strvec_push(&c->names, name);
		free(name);
	}
	GENERAL_NAMES_free(gens);
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm)) {
		return 0;
	}
	return timegm(&tm);
}

struct tls_cert *tls_cert_new(X509 *x509, EVP_PKEY *pkey, STACK_OF(X509) * chain, struct err *e)
{
	struct tls_cert *c;
	STACK_OF(OPENSSL_STRING) * ocsp;
	pthread_mutex_t *mu;

	if (!x509 || !pkey) {
		err_set(e, "a certificate and its private key are needed");
		return NULL;
	}
	if (X509_check_private_key(x509, pkey) != 1) {
		err_ssl(e, "the private key does not match the certificate");
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	atomic_init(&c->refs, 1);
	X509_up_ref(x509);
	c->x509 = x509;
	EVP_PKEY_up_ref(pkey);
	c->pkey = pkey;
	c->chain = chain ? X509_chain_up_ref(chain) : sk_X509_new_null();
	strvec_init(&c->names);
	read_names(c);
	c->not_after = asn1_time(X509_get0_notAfter(x509));
	ocsp = X509_get1_ocsp(x509);
	if (ocsp && sk_OPENSSL_STRING_num(ocsp) > 0) {
		c->ocsp_url = xstrdup(sk_OPENSSL_STRING_value(ocsp, 0));
	}
	X509_email_free(ocsp);
	mu = xmalloc(sizeof(*mu));
	pthread_mutex_init(mu, NULL);
	c->ocsp_lock = mu;
	return c;
}

/* Reads the leaf, then any chain certificates, then the key. */
static struct tls_cert *cert_from_bios(BIO *cb, BIO *kb, const char *cert_label,
				       const char *key_label, struct err *e)
{
	X509 *leaf = NULL, *x;
	EVP_PKEY *pkey = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct tls_cert *c = NULL;
	unsigned long code;

	ERR_clear_error();
	leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	if (!leaf) {
		err_ssl(e, "cannot read a certificate from %s", cert_label);
		goto out;
	}
	while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL))) {
		sk_X509_push(chain, x);
	}
	code = ERR_peek_last_error();
	if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
		ERR_clear_error(); /* the end of the file */
	} else if (code) {
		err_ssl(e, "cannot read the certificate chain in %s", cert_label);
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"");
	if (!pkey) {
		err_ssl(e, "cannot read a private key from %s", key_label);
		goto out;
	}
	if (X509_check_private_key(leaf, pkey) != 1) {
		ERR_clear_error();
		err_set(e, "the private key in %s does not match the certificate in %s", key_label,
			cert_label);
		goto out;
	}
	c = tls_cert_new(leaf, pkey, chain, e);
out:
	X509_free(leaf);
	EVP_PKEY_free(pkey);
	sk_X509_pop_free(chain, X509_free);
	return c;
}

struct tls_cert *tls_cert_load_files(const char *cert_path, const char *key_path, struct err *e)
{
	BIO *cb = NULL, *kb = NULL;
	struct tls_cert *c = NULL;
	struct sbuf cl = SBUF_INIT, kl = SBUF_INIT;

	cb = BIO_new_file(cert_path, "r");
	if (!cb) {
		err_ssl(e, "cannot open certificate '%s'", cert_path);
		goto out;
	}
	kb = BIO_new_file(key_path, "r");
	if (!kb) {
		err_ssl(e, "cannot open private key '%s'", key_path);
		goto out;
	}
	sbuf_addf(&cl, "'%s'", cert_path);
	sbuf_addf(&kl, "'%s'", key_path);
	c = cert_from_bios(cb, kb, cl.buf, kl.buf, e);
out:
	BIO_free(cb);
	BIO_free(kb);
	sbuf_release(&cl);
	sbuf_release(&kl);
	return c;
}

struct tls_cert *tls_cert_from_pem(const char *cert_pem, size_t cert_len, const char *key_pem,
				   size_t key_len, const char *label, struct err *e)
{
	BIO *cb, *kb;
	struct tls_cert *c;
	struct sbuf cl = SBUF_INIT, kl = SBUF_INIT;

	if (cert_len > INT_MAX || key_len > INT_MAX) {
		err_set(e, "%s: PEM too large", label);
		return NULL;
	}
	cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
	kb = BIO_new_mem_buf(key_pem, (int)key_len);
	sbuf_addf(&cl, "the certificate of %s", label);
	sbuf_addf(&kl, "the private key of %s", label);
	c = cert_from_bios(cb, kb, cl.buf, kl.buf, e);
	BIO_free(cb);
	BIO_free(kb);
	sbuf_release(&cl);
	sbuf_release(&kl);
	return c;
}

struct tls_cert *tls_cert_ref(struct tls_cert *c)
{
	if (c) {
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	}
	return c;
}

void tls_cert_unref(struct tls_cert *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	X509_free(c->x509);
	EVP_PKEY_free(c->pkey);
	sk_X509_pop_free(c->chain, X509_free);
	strvec_clear(&c->names);
	free(c->ocsp_url);
	pthread_mutex_destroy(c->ocsp_lock);
	free(c->ocsp_lock);
	free(c->ocsp_der);
	free(c);
}

/* "a.w.test" -> "*.w.test"; false when name has a single label. */
static bool wildcard_of(const char *name, char *out, size_t outsz)
{
	const char *dot = strchr(name, '.');

	if (!dot || dot == name || !dot[1] || strlen(dot) + 2 > outsz) {
		return false;
	}
	out[0] = '*';
	memcpy(out + 1, dot, strlen(dot) + 1);
	return true;
}

bool tls_cert_covers(const struct tls_cert *c, const char *name)
{
	char wild[300];
	bool has_wild = wildcard_of(name, wild, sizeof(wild));
	size_t i;

	for (i = 0; i < c->names.nr; i++) {
		if (!strcasecmp(c->names.v[i], name) ||
		    (has_wild && !strcasecmp(c->names.v[i], wild))) {
			return true;
		}
	}
	return false;
}

/* ---- the certificate store ---- */

struct tls_store *tls_store_new(void)
{
	struct tls_store *s = xcalloc(1, sizeof(*s));

	atomic_init(&s->refs, 1);
	return s;
}

void tls_store_unref(struct tls_store *s)
{
	size_t i;

	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	for (i = 0; i < s->nr; i++) {
		free(s->v[i].name);
		tls_cert_unref(s->v[i].cert[0]);
		tls_cert_unref(s->v[i].cert[1]);
	}
	free(s->v);
	tls_cert_unref(s->def.cert[0]);
	tls_cert_unref(s->def.cert[1]);
	free(s);
}

static enum tls_key_slot key_slot(const struct tls_cert *c)
{
	return EVP_PKEY_get_base_id(c->pkey) == EVP_PKEY_RSA ? TLS_KEY_RSA : TLS_KEY_EC;
}

static void slot_set(struct tls_store_entry *en, struct tls_cert *c)
{
	enum tls_key_slot k = key_slot(c);

	tls_cert_ref(c);
	tls_cert_unref(en->cert[k]);
	en->cert[k] = c;
}

/* The index of name, or where it would go (*found false). */
static size_t store_find(const struct tls_store *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->nr;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(s->v[mid].name, name);

		if (!cmp) {
			*found = true;
			return mid;
		}
		if (cmp < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

void tls_store_add(struct tls_store *s, struct tls_cert *c)
{
	size_t i;

	for (i = 0; i < c->names.nr; i++) {
		bool found;
		size_t at = store_find(s, c->names.v[i], &found);

		if (!found) {
			XGROW(s->v, s->alloc, s->nr + 1);
			memmove(&s->v[at + 1], &s->v[at], (s->nr - at) * sizeof(*s->v));
			memset(&s->v[at], 0, sizeof(s->v[at]));
			s->v[at].name = xstrdup(c->names.v[i]);
			s->nr++;
		}
		slot_set(&s->v[at], c);
	}
}

void tls_store_set_default(struct tls_store *s, struct tls_cert *c)
{
	if (c) {
		slot_set(&s->def, c);
		return;
	}
	tls_cert_unref(s->def.cert[0]);
	tls_cert_unref(s->def.cert[1]);
	s->def.cert[0] = s->def.cert[1] = NULL;
}

const struct tls_store_entry *tls_store_find(const struct tls_store *s, const char *sni)
{
	char wild[300];
	bool found;
	size_t at;

	if (sni && *sni) {
		at = store_find(s, sni, &found);
		if (found) {
			return &s->v[at];
		}
		if (wildcard_of(sni, wild, sizeof(wild))) {
			at = store_find(s, wild, &found);
			if (found) {
				return &s->v[at];
			}
		}
	}
	return s->def.cert[0] || s->def.cert[1] ? &s->def : NULL;
}

struct tls_cert *tls_store_lookup(const struct tls_store *s, const char *sni)
{
	const struct tls_store_entry *en = tls_store_find(s, sni);

	if (!en) {
		return NULL;
	}
	return en->cert[TLS_KEY_EC] ? en->cert[TLS_KEY_EC] : en->cert[TLS_KEY_RSA];
}

/* ---- ClientHello parsing ---- */

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int tls_hello_sni(const unsigned char *ext, size_t len, char *out, size_t outsz)
{
	size_t list, off = 2;

	if (len < 2) {
		return -1;
	}
	list = get16(ext);
	if (list != len - 2) {
		return -1;
	}
	while (off < len) {
		unsigned type;
		size_t nlen;

		if (len - off < 3) {
			return -1;
		}
		type = ext[off];
		nlen = get16(ext + off + 1);
		off += 3;
		if (nlen > len - off) {
			return -1;
		}
		if (type == 0) { /* host_name; there is at most one (RFC 6066) */
			const unsigned char *p = ext + off;

			if (nlen && p[nlen - 1] == '.') {
				nlen--;
			}
			if (!name_ok(p, nlen) || memchr(p, '*', nlen) || nlen + 1 > outsz) {
				return -1;
			}
			for (size_t i = 0; i < nlen; i++) {
				out[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] - 'A' + 'a')
								      : (char)p[i];
			}
			out[nlen] = '\0';
			return 1;
		}
		off += nlen;
	}
	return 0;
}

bool tls_hello_acme_only(const unsigned char *ext, size_t len)
{
	const size_t plen = sizeof(acme_proto) - 1;

	return len == 3 + plen && get16(ext) == 1 + plen && ext[2] == plen &&
	       !memcmp(ext + 3, acme_proto, plen);
}

/* ---- the server context ---- */

struct tls_conn {
	SSL *ssl;
	struct tls_server *srv;
	int fd;
	/*
	 * The socket's last read since tls_read began left its receive queue
	 * empty (a short read, or EAGAIN): OpenSSL's buffer holds all there is.
	 */
	bool drained;
	bool eof;		  /* the socket's read said end of stream */
	struct tls_cert *cert[2]; /* the certificates this handshake may serve, referenced */
	char *sni;
	const char *alpn;
	unsigned waits;
	bool acme;
	bool shutting; /* close_notify not written yet */
	/* why the last operation failed: a fixed phrase and OpenSSL's code, formatted on demand */
	const char *why;
	unsigned long code;
};

/*
 * Empties this thread's OpenSSL error queue before an I/O call, as
 * SSL_get_error needs: a look first, as emptying costs several times more
 * and the queue is nearly always empty already.
 */
static inline void err_clear(void)
{
	if (ERR_peek_error()) {
		ERR_clear_error();
	}
}

static void conn_err(struct tls_conn *tc, const char *why)
{
	tc->why = why;
	tc->code = ERR_peek_last_error();
	ERR_clear_error();
}

static bool use_cert(SSL *ssl, X509 *x, EVP_PKEY *k, STACK_OF(X509) * chain)
{
	return SSL_use_cert_and_key(ssl, x, k, chain, 1) == 1;
}

/*
 * The first look at a ClientHello: the certificate is chosen here, before
 * the cipher (which depends on the key type) and before ALPN, since an ACME
 * challenge is told apart by the protocols offered.
 */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
	struct tls_server *srv = arg;
	struct tls_conn *tc = SSL_get_app_data(ssl);
	const unsigned char *ext;
	size_t len;
	char name[256] = "";
	int r = 0;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len)) {
		r = tls_hello_sni(ext, len, name, sizeof(name));
		if (r < 0) {
			*al = SSL_AD_DECODE_ERROR;
			tc->why = "malformed server name";
			return SSL_CLIENT_HELLO_ERROR;
		}
	}
	free(tc->sni);
	tc->sni = r ? xstrdup(name) : NULL;
	/* A HelloRetryRequest brings a second ClientHello: choose again. */
	tls_cert_unref(tc->cert[0]);
	tls_cert_unref(tc->cert[1]);
	tc->cert[0] = tc->cert[1] = NULL;
	tc->acme = SSL_client_hello_get0_ext(
		       ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &len) &&
		   tls_hello_acme_only(ext, len);
	if (tc->acme) {
		X509 *x = NULL;
		EVP_PKEY *k = NULL;
		bool ok = tc->sni && srv->o.challenge &&
			  srv->o.challenge(srv->o.challenge_arg, tc->sni, &x, &k) && x && k &&
			  use_cert(ssl, x, k, NULL);

		X509_free(x);
		EVP_PKEY_free(k);
		if (!ok) {
			*al = SSL_AD_UNRECOGNIZED_NAME;
			tc->why = "no acme-tls/1 challenge certificate";
			return SSL_CLIENT_HELLO_ERROR;
		}
		return SSL_CLIENT_HELLO_SUCCESS;
	} else {
		struct tls_store *s = tls_server_store(srv);
		const struct tls_store_entry *en = tls_store_find(s, tc->sni);
		bool ok = en != NULL;
		int i;

		/* both slots when both are there: OpenSSL serves what the client accepts */
		for (i = 0; ok && i < 2; i++) {
			struct tls_cert *c = en->cert[i];

			if (c) {
				tc->cert[i] = tls_cert_ref(c);
				ok = use_cert(ssl, c->x509, c->pkey, c->chain);
			}
		}
		tls_store_unref(s);
		if (!ok) {
			*al = SSL_AD_UNRECOGNIZED_NAME;
			tc->why = "no certificate for the server name";
			return SSL_CLIENT_HELLO_ERROR;
		}
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_server *srv = arg;
	struct tls_conn *tc = SSL_get_app_data(ssl);
	const unsigned char *list = srv->o.http2 ? alpn_h2 : alpn_h1;
	unsigned list_len = srv->o.http2 ? sizeof(alpn_h2) - 1 : sizeof(alpn_h1) - 1;
	unsigned char *sel;

	if (tc->acme) {
		*out = acme_proto;
		*outlen = sizeof(acme_proto) - 1;
		return SSL_TLSEXT_ERR_OK;
	}
	if (SSL_select_next_proto(&sel, outlen, list, list_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED) {
		return SSL_TLSEXT_ERR_NOACK;
	}
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int status_cb(SSL *ssl, void *arg)
{
	struct tls_conn *tc = SSL_get_app_data(ssl);
	X509 *served = SSL_get_certificate(ssl); /* the one OpenSSL chose for this client */
	struct tls_cert *c = NULL;
	unsigned char *copy = NULL;
	size_t len = 0;
	int i;

	for (i = 0; tc && i < 2; i++) {
		if (tc->cert[i] && tc->cert[i]->x509 == served) {
			c = tc->cert[i];
		}
	}
	if (!c) {
		return SSL_TLSEXT_ERR_NOACK;
	}
	pthread_mutex_lock(c->ocsp_lock);
	if (c->ocsp_der && c->ocsp_expires > time(NULL)) {
		copy = OPENSSL_malloc(c->ocsp_len);
		if (copy) {
			memcpy(copy, c->ocsp_der, c->ocsp_len);
			len = c->ocsp_len;
		}
	}
	pthread_mutex_unlock(c->ocsp_lock);
	if (!copy || len > LONG_MAX) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)len);
	return SSL_TLSEXT_ERR_OK;
}

static void new_ticket_key(struct tls_ticket_key *k)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
		abort(); /* no randomness: nothing safe can be done */
	}
}

/*
 * Session tickets sealed with the proxy's own keys (AES-256-CBC + HMAC-SHA256,
 * OpenSSL's ticket format). Returns 1 (or 2: decrypted with the previous key,
 * issue a new ticket), 0 for a key no longer in the ring, -1 on error.
 */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server *srv = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct tls_ticket_key k;
	OSSL_PARAM params[3];
	int i, ret = 1;

	pthread_mutex_lock(srv->lock);
	if (enc) {
		k = srv->keys[0];
	} else {
		for (i = 0; i < srv->nr_keys; i++) {
			if (!memcmp(srv->keys[i].name, name, 16)) {
				break;
			}
		}
		if (i == srv->nr_keys) {
			pthread_mutex_unlock(srv->lock);
			return 0;
		}
		k = srv->keys[i];
		/*
		 * 2: a new ticket goes out on every resumption. A TLS 1.3
		 * client uses a ticket once (RFC 8446 C.4), so without one
		 * every other connection would be a full handshake.
		 */
		ret = 2;
	}
	pthread_mutex_unlock(srv->lock);

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
			ret = -1;
		}
	} else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
		ret = -1;
	}
	if (ret > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1) {
		ret = -1;
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

struct tls_server *tls_server_new(const struct tls_server_opts *o, struct err *e)
{
	struct tls_server *srv = xcalloc(1, sizeof(*srv));
	pthread_mutex_t *mu = xmalloc(sizeof(*mu));
	SSL_CTX *ctx;
	static const unsigned char sid_ctx[] = "berth-proxy";

	pthread_mutex_init(mu, NULL);
	srv->lock = mu;
	if (o) {
		srv->o = *o;
	}
	if (!srv->o.ticket_rotate_s) {
		srv->o.ticket_rotate_s = 12 * 3600;
	}
	atomic_init(&srv->store, tls_store_new());
	new_ticket_key(&srv->keys[0]);
	srv->nr_keys = 1;
	srv->keys_rotated = time(NULL);

	ctx = srv->ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		err_ssl(e, "cannot make a TLS context");
		goto fail;
	}
	SSL_CTX_set_app_data(ctx, srv);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, CIPHERS_13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, GROUPS) != 1) {
		err_ssl(e, "cannot set the TLS protocols and ciphers");
		goto fail;
	}
	/*
	 * PRIORITIZE_CHACHA: the server's order, except that a client that puts
	 * ChaCha20 first (no AES hardware, as on many phones) gets it.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_RENEGOTIATION |
				     /* a client that closes without close_notify just ends its
				      * stream: HTTP framing tells a cut-off request apart */
				     SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	/*
	 * Read ahead: one read() takes a whole record (and whatever follows)
	 * instead of one for the 5-byte header and one for the body.
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, srv);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, srv);
	SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
	SSL_CTX_set_tlsext_status_arg(ctx, srv);
	/* TLS 1.2 clients without tickets resume from the server's cache */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_timeout(ctx, 12 * 3600);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	return srv;
fail:
	tls_server_free(srv);
	return NULL;
}

void tls_server_free(struct tls_server *srv)
{
	if (!srv) {
		return;
	}
	if (srv->ocsp_stop) {
		srv->ocsp_stop(srv);
	}
	SSL_CTX_free(srv->ctx);
	tls_store_unref(atomic_load(&srv->store));
	OPENSSL_cleanse(srv->keys, sizeof(srv->keys));
	pthread_mutex_destroy(srv->lock);
	free(srv->lock);
	free(srv);
}

void tls_server_publish(struct tls_server *srv, struct tls_store *s)
{
	struct tls_store *old;

	pthread_mutex_lock(srv->lock);
	old = atomic_exchange_explicit(&srv->store, s, memory_order_acq_rel);
	pthread_mutex_unlock(srv->lock);
	tls_store_unref(old);
}

struct tls_store *tls_server_store(struct tls_server *srv)
{
	struct tls_store *s;

	/* under the lock, so the store cannot be freed between the load and the reference */
	pthread_mutex_lock(srv->lock);
	s = atomic_load_explicit(&srv->store, memory_order_acquire);
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(srv->lock);
	return s;
}

void tls_server_rotate_tickets(struct tls_server *srv)
{
	struct tls_ticket_key k;

	new_ticket_key(&k);
	pthread_mutex_lock(srv->lock);
	srv->keys[1] = srv->keys[0];
	srv->keys[0] = k;
	srv->nr_keys = 2;
	srv->keys_rotated = time(NULL);
	pthread_mutex_unlock(srv->lock);
	OPENSSL_cleanse(&k, sizeof(k));
}

bool tls_server_ticket_due(struct tls_server *srv, time_t now)
{
	bool due;

	pthread_mutex_lock(srv->lock);
	due = now - srv->keys_rotated >= (time_t)srv->o.ticket_rotate_s;
	pthread_mutex_unlock(srv->lock);
	return due;
}

/* ---- connections ---- */

/*
 * The socket under a session: OpenSSL's socket BIO, less the generic
 * control calls it makes several of per record, and telling tls_read
 * whether a read drained the socket (what lets it skip the SSL_read that
 * would only meet EAGAIN).
 */
static int sock_bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
	struct tls_conn *tc = BIO_get_data(b);
	ssize_t n = read(tc->fd, buf, len);

	BIO_clear_retry_flags(b);
	if (n > 0) {
		tc->drained = (size_t)n < len;
		*got = (size_t)n;
		return 1;
	}
	*got = 0;
	if (n == 0) {
		tc->eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EINTR) {
		tc->drained = errno == EAGAIN;
		BIO_set_retry_read(b);
	}
	return -1;
}

static int sock_bio_write(BIO *b, const char *buf, size_t len, size_t *put)
{
	struct tls_conn *tc = BIO_get_data(b);
	ssize_t n = write(tc->fd, buf, len);

	BIO_clear_retry_flags(b);
	if (n >= 0) {
		*put = (size_t)n;
		return 1;
	}
	*put = 0;
	if (errno == EAGAIN || errno == EINTR) {
		BIO_set_retry_write(b);
	}
	return -1;
}

/* Called several times per record, mostly to ask about kTLS: the answers come first. */
static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	const struct tls_conn *tc;

	switch (cmd) {
	case BIO_CTRL_FLUSH: /* write() buffers nothing */
		return 1;
	case BIO_CTRL_EOF:
		tc = BIO_get_data(b);
		return tc->eof;
	case BIO_C_GET_FD:
		tc = BIO_get_data(b);
		if (ptr) {
			*(int *)ptr = tc->fd;
		}
		return tc->fd;
	default: /* no kTLS, nothing pending, no duplicate */
		return 0;
	}
}

static BIO_METHOD *sock_bio_method;

static void sock_bio_setup(void)
{
	BIO_METHOD *m = BIO_meth_new(
	    BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "berth socket");

	if (!m || BIO_meth_set_read_ex(m, sock_bio_read) != 1 ||
	    BIO_meth_set_write_ex(m, sock_bio_write) != 1 ||
	    BIO_meth_set_ctrl(m, sock_bio_ctrl) != 1) {
		xdie("cannot make the TLS socket layer");
	}
	sock_bio_method = m;
}

int tls_conn_attach(struct tls_server *srv, struct conn *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct tls_conn *tc = xcalloc(1, sizeof(*tc));
	BIO *bio;

	pthread_once(&once, sock_bio_setup);
	tc->srv = srv;
	tc->alpn = "";
	tc->fd = c->fd;
	tc->ssl = SSL_new(srv->ctx);
	bio = tc->ssl ? BIO_new(sock_bio_method) : NULL;
	if (!bio) {
		ERR_clear_error();
		SSL_free(tc->ssl);
		free(tc);
		return -1;
	}
	BIO_set_data(bio, tc);
	BIO_set_init(bio, 1);
	SSL_set_bio(tc->ssl, bio, bio); /* the session owns it */
	SSL_set_app_data(tc->ssl, tc);
	SSL_set_accept_state(tc->ssl);
	c->io = &conn_io_tls;
	c->io_data = tc;
	return 0;
}

/* EAGAIN for a retry (noting which readiness it waits for), else an error or the end. */
static ssize_t io_fail(struct tls_conn *tc, int ret, const char *what)
{
	int saved = errno;

	switch (SSL_get_error(tc->ssl, ret)) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
		tc->waits = CONN_F_CAN_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		tc->waits = CONN_F_CAN_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_SYSCALL:
		conn_err(tc, what);
		errno = saved ? saved : ECONNRESET;
		return -1;
	default:
		conn_err(tc, what);
		errno = EPROTO;
		return -1;
	}
}

enum tls_hs tls_handshake(struct conn *c)
{
	struct tls_conn *tc = c->io_data;
	const unsigned char *p;
	unsigned len;
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(tc->ssl);
	if (r == 1) {
		SSL_get0_alpn_selected(tc->ssl, &p, &len);
		tc->alpn = "";
		if (len == 2 && !memcmp(p, "h2", 2)) {
			tc->alpn = "h2";
		} else if (len == 8 && !memcmp(p, "http/1.1", 8)) {
			tc->alpn = "http/1.1";
		} else if (len == sizeof(acme_proto) - 1 && !memcmp(p, acme_proto, len)) {
			tc->alpn = (const char *)acme_proto;
		}
		return TLS_HS_DONE;
	}
	switch (SSL_get_error(tc->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		tc->waits = CONN_F_CAN_READ;
		return TLS_HS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		tc->waits = CONN_F_CAN_WRITE;
		return TLS_HS_WANT_WRITE;
	default:
		if (!tc->why) {
			conn_err(tc, "handshake");
		}
		ERR_clear_error();
		return TLS_HS_FAILED;
	}
}

/*
 * Reads until buf is full or the session has nothing more now, so a short
 * read means what it means on TCP: the socket is drained (or the stream
 * ended, or failed: the next call says so).
 */
static ssize_t tls_read(struct conn *c, void *buf, size_t len)
{
	struct tls_conn *tc = c->io_data;
	size_t got = 0;

	/* a drain seen before this call says nothing of what came since */
	tc->drained = false;
	while (got < len) {
		size_t want = len - got > INT_MAX ? INT_MAX : len - got;
		int n;

		err_clear();
		n = SSL_read(tc->ssl, (char *)buf + got, (int)want);
		if (n > 0) {
			got += (size_t)n;
			/*
			 * The socket said it had no more and OpenSSL holds no
			 * byte of it back: the next SSL_read would only meet
			 * EAGAIN. A short read, as on TCP.
			 */
			if (got < len && tc->drained && !SSL_has_pending(tc->ssl)) {
				tc->waits = CONN_F_CAN_READ;
				break;
			}
			continue;
		}
		if (got) {
			if (SSL_get_error(tc->ssl, n) == SSL_ERROR_WANT_WRITE) {
				tc->waits = CONN_F_CAN_WRITE;
			} else {
				tc->waits = CONN_F_CAN_READ;
			}
			ERR_clear_error();
			break;
		}
		return io_fail(tc, n, "read");
	}
	return (ssize_t)got;
}

/*
 * Writes iov as records of up to 16 KB: a slice of 16 KB or more (or the last
 * one) goes straight to SSL_write, smaller ones are gathered first. After
 * EAGAIN the caller comes back with the same bytes (and maybe more); the
 * first SSL_write is then at least as long as the one that was cut short,
 * which OpenSSL requires (the buffer may move: ACCEPT_MOVING_WRITE_BUFFER).
 */
static ssize_t tls_writev(struct conn *c, const struct iovec *iov, int nr)
{
	struct tls_conn *tc = c->io_data;
	unsigned char gather[TLS_RECORD];
	size_t total = 0, off = 0;
	int i = 0;

	while (i < nr) {
		const unsigned char *p;
		size_t len, rest = iov[i].iov_len - off;
		int n;

		if (!rest) {
			i++;
			off = 0;
			continue;
		}
		if (rest >= TLS_RECORD || i == nr - 1) {
			p = (const unsigned char *)iov[i].iov_base + off;
			len = rest > INT_MAX ? INT_MAX : rest;
		} else {
			size_t o = off;
			int j = i;

			len = 0;
			while (j < nr && len < TLS_RECORD) {
				size_t take = iov[j].iov_len - o;

				if (take > TLS_RECORD - len) {
					take = TLS_RECORD - len;
				}
				if (take) { /* an empty slice may have no base at all */
					memcpy(gather + len,
					       (const unsigned char *)iov[j].iov_base + o, take);
				}
				len += take;
				j++;
				o = 0;
			}
			p = gather;
		}
		err_clear();
		n = SSL_write(tc->ssl, p, (int)len);
		if (n <= 0) {
			if (total) {
				int err = SSL_get_error(tc->ssl, n);

				tc->waits =
				    err == SSL_ERROR_WANT_READ ? CONN_F_CAN_READ : CONN_F_CAN_WRITE;
				ERR_clear_error();
				break;
			}
			return io_fail(tc, n, "write");
		}
		total += (size_t)n;
		/* step over n bytes of iov */
		while (n > 0) {
			size_t step = iov[i].iov_len - off;

			if ((size_t)n < step) {
				off += (size_t)n;
				n = 0;
			} else {
				n -= (int)step;
				i++;
				off = 0;
			}
		}
	}
	return (ssize_t)total;
}

int tls_conn_flush(struct conn *c)
{
	struct tls_conn *tc = c->io_data;
	int r;

	if (!tc || !tc->shutting) {
		return 0;
	}
	ERR_clear_error();
	r = SSL_shutdown(tc->ssl);
	if (r < 0) {
		int err = SSL_get_error(tc->ssl, r);

		if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
			tc->waits = err == SSL_ERROR_WANT_READ ? CONN_F_CAN_READ : CONN_F_CAN_WRITE;
			errno = EAGAIN;
			return -1;
		}
		/* before the handshake ended there is no close_notify to send */
		ERR_clear_error();
	}
	tc->shutting = false;
	shutdown(c->fd, SHUT_WR);
	return r < 0 ? -1 : 0;
}

static void tls_shutdown_io(struct conn *c)
{
	struct tls_conn *tc = c->io_data;

	tc->shutting = true;
	tls_conn_flush(c);
}

static void tls_close(struct conn *c)
{
	struct tls_conn *tc = c->io_data;

	if (tc) {
		/*
		 * Clients often just close. OpenSSL would then drop the session
		 * from the cache; marking the shutdown done keeps it resumable
		 * (as nginx does): a cut-off request is HTTP's to notice.
		 */
		if (SSL_is_init_finished(tc->ssl)) {
			SSL_set_shutdown(tc->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		}
		SSL_free(tc->ssl);
		tls_cert_unref(tc->cert[0]);
		tls_cert_unref(tc->cert[1]);
		free(tc->sni);
		free(tc);
		c->io_data = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
}

const struct conn_io conn_io_tls = {tls_read, tls_writev, tls_shutdown_io, tls_close,
				    tls_conn_waits};

unsigned tls_conn_waits(const struct conn *c)
{
	const struct tls_conn *tc = c->io_data;

	return tc ? tc->waits : 0;
}

const char *tls_conn_alpn(const struct conn *c)
{
	const struct tls_conn *tc = c->io_data;

	return tc ? tc->alpn : "";
}

const char *tls_conn_sni(const struct conn *c)
{
	const struct tls_conn *tc = c->io_data;

	return tc ? tc->sni : NULL;
}

SSL *tls_conn_ssl(const struct conn *c)
{
	const struct tls_conn *tc = c->io_data;

	return tc ? tc->ssl : NULL;
}

const char *tls_conn_error(const struct conn *c)
{
	static _Thread_local char buf[320];
	const struct tls_conn *tc = c->io_data;
	char reason[128] = "";

	if (!tc || !tc->why) {
		return "";
	}
	if (tc->code) {
		ERR_error_string_n(tc->code, reason, sizeof(reason));
	}
	snprintf(buf, sizeof(buf), "%s%s%s%s%s%s", tc->why, tc->sni ? " (server name '" : "",
		 tc->sni ? tc->sni : "", tc->sni ? "')" : "", *reason ? ": " : "", reason);
	return buf;
}

/* ---- OCSP stapling ---- */

X509 *tls_cert_issuer(const struct tls_cert *c)
{
	int i;

	for (i = 0; i < sk_X509_num(c->chain); i++) {
		X509 *ca = sk_X509_value(c->chain, i);

		if (X509_check_issued(ca, c->x509) == X509_V_OK) {
			return ca;
		}
	}
	return NULL;
}

int tls_cert_set_ocsp(struct tls_cert *c, const unsigned char *der, size_t len, struct err *e)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	X509_STORE *st = NULL;
	X509 *issuer = tls_cert_issuer(c);
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	int status, reason, ret = -1;
	time_t now = time(NULL), t0, t1;

	ERR_clear_error();
	if (!issuer) {
		err_set(e, "the certificate's chain does not hold its issuer");
		goto out;
	}
	if (len > LONG_MAX || !(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) || p != der + len) {
		err_ssl(e, "not an OCSP response");
		goto out;
	}
	status = OCSP_response_status(resp);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		err_set(e, "the OCSP responder answered '%s'", OCSP_response_status_str(status));
		goto out;
	}
	bs = OCSP_response_get1_basic(resp);
	st = X509_STORE_new();
	if (!bs || !st || X509_STORE_add_cert(st, issuer) != 1) {
		err_ssl(e, "cannot read the OCSP response");
		goto out;
	}
	/* the issuer may be an intermediate: it is the anchor here */
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	if (OCSP_basic_verify(bs, c->chain, st, 0) <= 0) {
		err_ssl(e, "the OCSP response is not signed by the certificate's issuer");
		goto out;
	}
	id = OCSP_cert_to_id(NULL, c->x509, issuer);
	if (!id || OCSP_resp_find_status(bs, id, &status, &reason, NULL, &thisupd, &nextupd) != 1) {
		err_set(e, "the OCSP response does not answer for this certificate");
		goto out;
	}
	if (status != V_OCSP_CERTSTATUS_GOOD && status != V_OCSP_CERTSTATUS_REVOKED) {
		err_set(e, "the OCSP responder does not know the certificate");
		goto out;
	}
	if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
		err_ssl(e, "the OCSP response is not current");
		goto out;
	}
	t0 = asn1_time(thisupd);
	t1 = nextupd ? asn1_time(nextupd) : now + 3600;
	pthread_mutex_lock(c->ocsp_lock);
	free(c->ocsp_der);
	c->ocsp_der = xmalloc(len);
	memcpy(c->ocsp_der, der, len);
	c->ocsp_len = len;
	c->ocsp_expires = t1;
	/* halfway to nextUpdate, as CAs publish new answers well before */
	c->ocsp_next = t0 + (t1 - t0) / 2;
	if (c->ocsp_next < now + 60) {
		c->ocsp_next = now + 60;
	}
	pthread_mutex_unlock(c->ocsp_lock);
	ret = 0;
out:
	OCSP_CERTID_free(id);
	X509_STORE_free(st);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return ret;
}
