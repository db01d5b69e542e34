#include "proxy/acme.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

/* No CA document is anywhere near this; a larger body is not an ACME answer. */
#define MAX_BODY	 (1u << 20)
#define PROBLEM_PREFIX	 "urn:ietf:params:acme:error:"
#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"

const char *acme_challenge_name(enum acme_challenge c)
{
	switch (c) {
	case ACME_HTTP01:
		return "http-01";
	case ACME_TLSALPN01:
		return "tls-alpn-01";
	case ACME_DNS01:
		return "dns-01";
	}
	return "?";
}

int acme_challenge_parse(const char *s, enum acme_challenge *out, struct err *e)
{
	static const enum acme_challenge all[] = {ACME_HTTP01, ACME_TLSALPN01, ACME_DNS01};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!strcmp(s, acme_challenge_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return err_set(e, "unknown ACME challenge '%s': use http-01, tls-alpn-01 or dns-01", s);
}

/* ---- the challenge store ---------------------------------------------------------------- */

/*
 * A mutex rather than a published snapshot: entries live for the few
 * seconds a validation takes, there are a handful at most, and a lookup
 * holds the lock only to compare and copy a few bytes.
 */
void acme_store_init(struct acme_store *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void acme_store_release(struct acme_store *s)
{
	size_t i;

	for (i = 0; i < s->nr_http; i++) {
		free(s->http[i].token);
		free(s->http[i].keyauth);
	}
	for (i = 0; i < s->nr_alpn; i++) {
		free(s->alpn[i].name);
		X509_free(s->alpn[i].cert);
		EVP_PKEY_free(s->alpn[i].key);
	}
	free(s->http);
	free(s->alpn);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
}

void acme_store_set_http(struct acme_store *s, const char *token, const char *keyauth)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr_http; i++) {
		if (!strcmp(s->http[i].token, token)) {
			break;
		}
	}
	if (i == s->nr_http) {
		XGROW(s->http, s->alloc_http, s->nr_http + 1);
		s->http[s->nr_http].token = xstrdup(token);
		s->http[s->nr_http].keyauth = NULL;
		s->nr_http++;
	}
	free(s->http[i].keyauth);
	s->http[i].keyauth = xstrdup(keyauth);
	pthread_mutex_unlock(&s->lock);
}

void acme_store_del_http(struct acme_store *s, const char *token)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr_http; i++) {
		if (!strcmp(s->http[i].token, token)) {
			free(s->http[i].token);
			free(s->http[i].keyauth);
			s->http[i] = s->http[--s->nr_http];
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

bool acme_store_http_answer(struct acme_store *s, struct slice path, struct sbuf *out)
{
	struct slice token;
	bool found = false;
	size_t i;

	if (!slice_starts_with(path, CHALLENGE_PREFIX)) {
		return false;
	}
	token = slice_from(path, strlen(CHALLENGE_PREFIX));
	if (!token.len) {
		return false;
	}
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr_http; i++) {
		if (slice_eq_cstr(token, s->http[i].token)) {
			sbuf_addstr(out, s->http[i].keyauth);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

void acme_store_set_alpn(struct acme_store *s, const char *name, X509 *cert, EVP_PKEY *key)
{
	size_t i;

	X509_up_ref(cert);
	EVP_PKEY_up_ref(key);
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr_alpn; i++) {
		if (!strcasecmp(s->alpn[i].name, name)) {
			break;
		}
	}
	if (i == s->nr_alpn) {
		XGROW(s->alpn, s->alloc_alpn, s->nr_alpn + 1);
		s->alpn[i].name = xstrdup(name);
		s->alpn[i].cert = NULL;
		s->alpn[i].key = NULL;
		s->nr_alpn++;
	}
	X509_free(s->alpn[i].cert);
	EVP_PKEY_free(s->alpn[i].key);
	s->alpn[i].cert = cert;
	s->alpn[i].key = key;
	pthread_mutex_unlock(&s->lock);
}

void acme_store_del_alpn(struct acme_store *s, const char *name)
{
	struct acme_store_alpn gone = {0};
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr_alpn; i++) {
		if (!strcasecmp(s->alpn[i].name, name)) {
			gone = s->alpn[i];
			s->alpn[i] = s->alpn[--s->nr_alpn];
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	free(gone.name);
	X509_free(gone.cert);
	EVP_PKEY_free(gone.key);
}

bool acme_store_alpn(struct acme_store *s, const char *name, X509 **cert, EVP_PKEY **key)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr_alpn; i++) {
		if (!strcasecmp(s->alpn[i].name, name)) {
			X509_up_ref(s->alpn[i].cert);
			EVP_PKEY_up_ref(s->alpn[i].key);
			*cert = s->alpn[i].cert;
			*key = s->alpn[i].key;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* ---- encodings ------------------------------------------------------------------------------ */

void acme_b64url(const void *data, size_t len, struct sbuf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		sbuf_addch(out, tab[v >> 18 & 63]);
		sbuf_addch(out, tab[v >> 12 & 63]);
		sbuf_addch(out, tab[v >> 6 & 63]);
		sbuf_addch(out, tab[v & 63]);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		sbuf_addch(out, tab[v >> 18 & 63]);
		sbuf_addch(out, tab[v >> 12 & 63]);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		sbuf_addch(out, tab[v >> 18 & 63]);
		sbuf_addch(out, tab[v >> 12 & 63]);
		sbuf_addch(out, tab[v >> 6 & 63]);
	}
}

static int b64url_val(int c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '-') {
		return 62;
	}
	if (c == '_') {
		return 63;
	}
	return -1;
}

int acme_b64url_decode(const char *s, size_t len, struct sbuf *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		int v = b64url_val((unsigned char)s[i]);

		if (v < 0) {
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			sbuf_addch(out, (int)(acc >> bits & 0xff));
		}
	}
	return len % 4 == 1 ? -1 : 0;
}

bool acme_name_valid(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (!strncmp(name, "*.", 2)) {
		name += 2;
		len -= 2;
	}
	if (!len || len > 253 || name[0] == '.' || name[len - 1] == '.' || !strchr(name, '.')) {
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (!label || name[i - 1] == '-') {
				return false;
			}
			label = 0;
			continue;
		}
		if (!isalnum(c) && !(c == '-' && label > 0)) {
			return false;
		}
		if (++label > 63) {
			return false;
		}
	}
	return name[len - 1] != '-';
}

static void sha256(const void *data, size_t len, unsigned char md[32])
{
	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
}

/* ---- keys and JWS -----------------------------------------------------------------------------
 */

EVP_PKEY *acme_key_new(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

int acme_key_pem(EVP_PKEY *key, struct sbuf *out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc = -1;

	if (!b || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		goto out;
	}
	n = BIO_get_mem_data(b, &p);
	sbuf_add(out, p, (size_t)n);
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

EVP_PKEY *acme_key_from_pem(const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = NULL;

	if (b) {
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	}
	BIO_free(b);
	return k;
}

int acme_jwk(EVP_PKEY *key, struct sbuf *out)
{
	unsigned char pt[65];
	size_t len = 0;

	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
					     sizeof(pt), &len) ||
	    len != 65 || pt[0] != 4) {
		return -1;
	}
	sbuf_addstr(out, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"");
	acme_b64url(pt + 1, 32, out);
	sbuf_addstr(out, "\",\"y\":\"");
	acme_b64url(pt + 33, 32, out);
	sbuf_addstr(out, "\"}");
	return 0;
}

int acme_jwk_thumbprint(const char *jwk_json, struct sbuf *out, struct err *e)
{
	/* RFC 7638 3.2: the required members only, in lexical order, no whitespace. */
	static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
	static const char *const rsa[] = {"e", "kty", "n", NULL};
	static const char *const oct[] = {"k", "kty", NULL};
	const char *const *members;
	struct sbuf canon = SBUF_INIT;
	json_t *j = json_loads(jwk_json, 0, NULL);
	const char *kty;
	unsigned char md[32];
	int rc = -1;
	size_t i;

	kty = json_string_value(json_object_get(j, "kty"));
	if (!kty) {
		err_set(e, "not a JWK: no \"kty\"");
		goto out;
	}
	if (!strcmp(kty, "EC")) {
		members = ec;
	} else if (!strcmp(kty, "RSA")) {
		members = rsa;
	} else if (!strcmp(kty, "oct")) {
		members = oct;
	} else {
		err_set(e, "unsupported JWK key type '%s'", kty);
		goto out;
	}
	sbuf_addch(&canon, '{');
	for (i = 0; members[i]; i++) {
		const char *v = json_string_value(json_object_get(j, members[i]));

		if (!v) {
			err_set(e, "JWK of type '%s' has no \"%s\"", kty, members[i]);
			goto out;
		}
		sbuf_addf(&canon, "%s\"%s\":\"", i ? "," : "", members[i]);
		sbuf_add_json_escaped(&canon, v, strlen(v));
		sbuf_addch(&canon, '"');
	}
	sbuf_addch(&canon, '}');
	sha256(canon.buf, canon.len, md);
	acme_b64url(md, sizeof(md), out);
	rc = 0;
out:
	json_decref(j);
	sbuf_release(&canon);
	return rc;
}

void acme_key_authorization(const char *token, const char *thumbprint, struct sbuf *out)
{
	sbuf_addf(out, "%s.%s", token, thumbprint);
}

void acme_dns01_value(const char *keyauth, struct sbuf *out)
{
	unsigned char md[32];

	sha256(keyauth, strlen(keyauth), md);
	acme_b64url(md, sizeof(md), out);
}

/* ES256: the DER signature OpenSSL makes, as JWS wants it, r and s as 32 bytes each. */
static int es256_sign(EVP_PKEY *key, const void *data, size_t len, unsigned char raw[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80];
	const unsigned char *p = der;
	size_t dlen = sizeof(der);
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	int rc = -1;

	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dlen, data, len) != 1) {
		goto out;
	}
	sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (!sig) {
		goto out;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32) {
		goto out;
	}
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

int acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
	     const char *payload, struct sbuf *out)
{
	struct sbuf prot = SBUF_INIT, input = SBUF_INIT;
	unsigned char sig[64];
	int rc = -1;

	sbuf_addstr(&prot, "{\"alg\":\"ES256\",");
	if (kid) {
		sbuf_addstr(&prot, "\"kid\":\"");
		sbuf_add_json_escaped(&prot, kid, strlen(kid));
		sbuf_addstr(&prot, "\",");
	} else {
		sbuf_addstr(&prot, "\"jwk\":");
		if (acme_jwk(key, &prot) < 0) {
			goto out;
		}
		sbuf_addch(&prot, ',');
	}
	sbuf_addstr(&prot, "\"nonce\":\"");
	sbuf_add_json_escaped(&prot, nonce, strlen(nonce));
	sbuf_addstr(&prot, "\",\"url\":\"");
	sbuf_add_json_escaped(&prot, url, strlen(url));
	sbuf_addstr(&prot, "\"}");

	acme_b64url(prot.buf, prot.len, &input);
	sbuf_addch(&input, '.');
	if (payload) {
		acme_b64url(payload, strlen(payload), &input);
	}
	if (es256_sign(key, input.buf, input.len, sig) < 0) {
		goto out;
	}
	sbuf_addstr(out, "{\"protected\":\"");
	acme_b64url(prot.buf, prot.len, out);
	sbuf_addstr(out, "\",\"payload\":\"");
	if (payload) {
		acme_b64url(payload, strlen(payload), out);
	}
	sbuf_addstr(out, "\",\"signature\":\"");
	acme_b64url(sig, sizeof(sig), out);
	sbuf_addstr(out, "\"}");
	rc = 0;
out:
	sbuf_release(&prot);
	sbuf_release(&input);
	return rc;
}

/* ---- certificates ------------------------------------------------------------------------------
 */

static int add_ext(X509 *x, X509_EXTENSION *ext)
{
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static GENERAL_NAMES *dns_names(const struct strvec *names)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	size_t i;

	for (i = 0; gens && i < names->nr; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		if (!g || !s || !ASN1_STRING_set(s, names->v[i], (int)strlen(names->v[i]))) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(s);
			GENERAL_NAMES_free(gens);
			return NULL;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		sk_GENERAL_NAME_push(gens, g);
	}
	return gens;
}

static int set_cn(X509_NAME *n, const char *name)
{
	/* A CN longer than 64 characters is not allowed; the SANs are what count. */
	if (strlen(name) > 64) {
		return 0;
	}
	return X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
					  -1, 0)
		   ? 0
		   : -1;
}

int acme_alpn_cert(const char *name, const char *keyauth, X509 **cert, EVP_PKEY **key)
{
	struct strvec one = STRVEC_INIT;
	X509 *x = X509_new();
	EVP_PKEY *k = acme_key_new();
	GENERAL_NAMES *gens = NULL;
	ASN1_OCTET_STRING *digest = ASN1_OCTET_STRING_new(), *wrapped = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	unsigned char md[32], *der = NULL;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int dlen, rc = -1;

	strvec_push(&one, name);
	if (!x || !k || !digest || !wrapped || !oid) {
		goto out;
	}
	sha256(keyauth, strlen(keyauth), md);
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 7 * 24 * 3600) ||
	    set_cn(X509_get_subject_name(x), name) < 0 ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) || !X509_set_pubkey(x, k)) {
		goto out;
	}
	gens = dns_names(&one);
	if (!gens || add_ext(x, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) < 0) {
		goto out;
	}
	/* RFC 8737 3: extnValue is the DER of an OCTET STRING holding the digest. */
	if (!ASN1_OCTET_STRING_set(digest, md, sizeof(md))) {
		goto out;
	}
	dlen = i2d_ASN1_OCTET_STRING(digest, &der);
	if (dlen <= 0 || !ASN1_OCTET_STRING_set(wrapped, der, dlen) ||
	    add_ext(x, X509_EXTENSION_create_by_OBJ(NULL, oid, 1, wrapped)) < 0) {
		goto out;
	}
	if (!X509_sign(x, k, EVP_sha256())) {
		goto out;
	}
	*cert = x;
	*key = k;
	x = NULL;
	k = NULL;
	rc = 0;
out:
	strvec_clear(&one);
	X509_free(x);
	EVP_PKEY_free(k);
	GENERAL_NAMES_free(gens);
	ASN1_OCTET_STRING_free(digest);
	ASN1_OCTET_STRING_free(wrapped);
	ASN1_OBJECT_free(oid);
	OPENSSL_free(der);
	BN_free(bn);
	return rc;
}

X509_REQ *acme_csr_new(const struct strvec *names, EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *gens = dns_names(names);
	X509_NAME *subj = X509_NAME_new();
	bool ok = false;

	if (!req || !exts || !gens || !subj || !names->nr || !X509_REQ_set_version(req, 0) ||
	    set_cn(subj, names->v[0]) < 0 || !X509_REQ_set_subject_name(req, subj) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    !X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) ||
	    !X509_REQ_add_extensions(req, exts) || !X509_REQ_sign(req, key, EVP_sha256())) {
		goto out;
	}
	ok = true;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	if (!ok) {
		X509_REQ_free(req);
		req = NULL;
	}
	return req;
}

/* ---- the CA's documents ------------------------------------------------------------------------
 */

static char *jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? xstrdup(v) : NULL;
}

static json_t *load(const char *json, size_t len, const char *what, struct err *e)
{
	json_error_t je;
	json_t *j = json_loadb(json, len, 0, &je);

	if (!j) {
		err_set(e, "the CA's %s is not JSON: %s", what, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(e, "the CA's %s is not a JSON object", what);
		return NULL;
	}
	return j;
}

void acme_directory_release(struct acme_directory *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->terms);
	memset(d, 0, sizeof(*d));
}

int acme_directory_parse(const char *json, size_t len, struct acme_directory *d, struct err *e)
{
	json_t *j = load(json, len, "directory", e);

	if (!j) {
		return -1;
	}
	d->new_nonce = jstr(j, "newNonce");
	d->new_account = jstr(j, "newAccount");
	d->new_order = jstr(j, "newOrder");
	d->terms = jstr(json_object_get(j, "meta"), "termsOfService");
	json_decref(j);
	if (!d->new_nonce || !d->new_account || !d->new_order) {
		acme_directory_release(d);
		return err_set(e, "the CA's directory lacks newNonce, newAccount or newOrder: is "
				  "the URL an ACME directory?");
	}
	return 0;
}

static char *jdump(json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT) : NULL;
}

void acme_order_release(struct acme_order *o)
{
	free(o->status);
	strvec_clear(&o->authorizations);
	free(o->finalize);
	free(o->certificate);
	free(o->error);
	memset(o, 0, sizeof(*o));
	strvec_init(&o->authorizations);
}

int acme_order_parse(const char *json, size_t len, struct acme_order *o, struct err *e)
{
	json_t *j = load(json, len, "order", e), *a, *v;
	size_t i;

	if (!j) {
		return -1;
	}
	strvec_init(&o->authorizations);
	o->status = jstr(j, "status");
	o->finalize = jstr(j, "finalize");
	o->certificate = jstr(j, "certificate");
	o->error = jdump(json_object_get(j, "error"));
	a = json_object_get(j, "authorizations");
	json_array_foreach(a, i, v)
	{
		if (json_is_string(v)) {
			strvec_push(&o->authorizations, json_string_value(v));
		}
	}
	json_decref(j);
	if (!o->status || !o->finalize) {
		acme_order_release(o);
		return err_set(e, "the CA's order has no status or finalize URL");
	}
	return 0;
}

void acme_authz_release(struct acme_authz *a)
{
	size_t i;

	for (i = 0; i < a->nr_chall; i++) {
		free(a->chall[i].type);
		free(a->chall[i].url);
		free(a->chall[i].token);
		free(a->chall[i].status);
		free(a->chall[i].error);
	}
	free(a->chall);
	free(a->status);
	free(a->name);
	memset(a, 0, sizeof(*a));
}

int acme_authz_parse(const char *json, size_t len, struct acme_authz *a, struct err *e)
{
	json_t *j = load(json, len, "authorization", e), *chs, *c;
	const char *value;
	size_t i;

	if (!j) {
		return -1;
	}
	memset(a, 0, sizeof(*a));
	a->status = jstr(j, "status");
	a->wildcard = json_is_true(json_object_get(j, "wildcard"));
	value = json_string_value(json_object_get(json_object_get(j, "identifier"), "value"));
	if (value) {
		struct sbuf n = SBUF_INIT;

		sbuf_addf(&n, "%s%s", a->wildcard && strncmp(value, "*.", 2) ? "*." : "", value);
		a->name = sbuf_detach(&n, NULL);
	}
	chs = json_object_get(j, "challenges");
	a->chall = xcalloc(json_array_size(chs) + 1, sizeof(*a->chall));
	json_array_foreach(chs, i, c)
	{
		struct acme_chall *ch = &a->chall[a->nr_chall];

		ch->type = jstr(c, "type");
		ch->url = jstr(c, "url");
		ch->token = jstr(c, "token");
		ch->status = jstr(c, "status");
		ch->error = jdump(json_object_get(c, "error"));
		a->nr_chall++;
		if (!ch->type || !ch->url) {
			json_decref(j);
			acme_authz_release(a);
			return err_set(
			    e, "the CA's authorization has a challenge without type or url");
		}
	}
	json_decref(j);
	if (!a->status || !a->name) {
		acme_authz_release(a);
		return err_set(e, "the CA's authorization has no status or identifier");
	}
	return 0;
}

int acme_authz_pick(const struct acme_authz *a, enum acme_challenge want, bool have_dns,
		    struct err *e)
{
	const char *type;
	size_t i;

	if (a->wildcard) {
		if (!have_dns) {
			return err_set(e,
				       "%s is a wildcard name: it needs the dns-01 challenge, "
				       "set --acme-dns-command",
				       a->name);
		}
		want = ACME_DNS01;
	}
	type = acme_challenge_name(want);
	for (i = 0; i < a->nr_chall; i++) {
		if (!strcmp(a->chall[i].type, type)) {
			if (!a->chall[i].token) {
				return err_set(e, "the CA's %s challenge for %s has no token", type,
					       a->name);
			}
			return (int)i;
		}
	}
	return err_set(e, "the CA offers no %s challenge for %s", type, a->name);
}

static void describe_one(json_t *p, const char *names, enum acme_challenge chall, struct sbuf *out)
{
	const char *type = json_string_value(json_object_get(p, "type"));
	const char *detail = json_string_value(json_object_get(p, "detail"));
	const char *ident =
	    json_string_value(json_object_get(json_object_get(p, "identifier"), "value"));
	const char *name = ident ? ident : names ? names : "the name";
	const char *t = type && !strncmp(type, PROBLEM_PREFIX, strlen(PROBLEM_PREFIX))
			    ? type + strlen(PROBLEM_PREFIX)
			    : "";

	if (!detail || !*detail) {
		detail = type ? type : "no detail given";
	}
	if (!strcmp(t, "dns")) {
		sbuf_addf(out, "%s does not resolve to this host (the CA's DNS lookup failed: %s)",
			  name, detail);
	} else if (!strcmp(t, "unauthorized") || !strcmp(t, "incorrectResponse")) {
		if (chall == ACME_DNS01) {
			sbuf_addf(
			    out,
			    "the CA did not find the expected TXT record at _acme-challenge.%s "
			    "(%s)",
			    name, detail);
		} else {
			sbuf_addf(
			    out,
			    "%s does not resolve to this host: the CA got another answer to the "
			    "challenge (%s)",
			    name, detail);
		}
	} else if (!strcmp(t, "connection")) {
		if (chall == ACME_DNS01) {
			sbuf_addf(out, "the CA cannot reach the DNS servers of %s (%s)", name,
				  detail);
		} else {
			sbuf_addf(out, "port %s is not reachable from the CA (%s: %s)",
				  chall == ACME_HTTP01 ? "80" : "443", name, detail);
		}
	} else if (!strcmp(t, "tls")) {
		sbuf_addf(out, "the CA's TLS connection to %s failed (%s)", name, detail);
	} else if (!strcmp(t, "caa")) {
		sbuf_addf(out, "the CAA records of %s do not allow this CA to issue (%s)", name,
			  detail);
	} else if (!strcmp(t, "rateLimited")) {
		sbuf_addf(out, "the CA's rate limit was reached, retrying later: %s", detail);
	} else if (!strcmp(t, "rejectedIdentifier")) {
		sbuf_addf(out, "the CA refuses to issue for %s: %s", name, detail);
	} else if (!strcmp(t, "serverInternal")) {
		sbuf_addf(out, "the CA failed, retrying later: %s", detail);
	} else {
		sbuf_addf(out, "the CA refused: %s", detail);
	}
}

void acme_problem_describe(const char *json, size_t len, const char *names,
			   enum acme_challenge chall, struct sbuf *out)
{
	json_t *j = json_loadb(json, len, 0, NULL), *subs, *s;
	size_t i;

	if (!json_is_object(j)) {
		sbuf_addf(out, "the CA refused: %.*s", (int)(len > 200 ? 200 : len), json);
		goto out;
	}
	subs = json_object_get(j, "subproblems");
	if (json_array_size(subs)) {
		json_array_foreach(subs, i, s)
		{
			if (i) {
				sbuf_addstr(out, "; ");
			}
			describe_one(s, names, chall, out);
		}
	} else {
		describe_one(j, names, chall, out);
	}
out:
	json_decref(j);
}

bool acme_problem_is(const char *json, size_t len, const char *type)
{
	json_t *j = json_loadb(json, len, 0, NULL);
	const char *t = json_string_value(json_object_get(j, "type"));
	bool is = t && !strncmp(t, PROBLEM_PREFIX, strlen(PROBLEM_PREFIX)) &&
		  !strcmp(t + strlen(PROBLEM_PREFIX), type);

	json_decref(j);
	return is;
}

bool acme_retry_after_ms(const char *value, int64_t now_s, uint64_t *ms)
{
	struct slice v = slice_trim(slice_cstr(value));
	uint64_t secs;
	struct tm tm;
	const char *end;
	char *copy;

	if (!v.len) {
		return false;
	}
	if (slice_to_u64(v, 86400 * 365, &secs)) {
		*ms = secs * 1000;
		return true;
	}
	memset(&tm, 0, sizeof(tm));
	copy = slice_dup(v);
	end = strptime(copy, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	free(copy);
	if (!end) {
		return false;
	}
	{
		int64_t at = (int64_t)timegm(&tm);

		*ms = at > now_s ? (uint64_t)(at - now_s) * 1000 : 0;
	}
	return true;
}

/* ---- timing and files -------------------------------------------------------------------------
 */

uint64_t acme_renew_at(uint64_t not_before_ms, uint64_t not_after_ms)
{
	if (not_after_ms <= not_before_ms) {
		return not_before_ms;
	}
	return not_after_ms - (not_after_ms - not_before_ms) / 3;
}

uint64_t acme_backoff_ms(unsigned failures, uint64_t min_ms, uint64_t max_ms)
{
	uint64_t d = min_ms;
	unsigned i;

	for (i = 1; i < failures && d < max_ms; i++) {
		d *= 2;
	}
	return d < max_ms ? d : max_ms;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and lowercases in place. */
static void normalize_names(struct strvec *names)
{
	size_t i;
	char *p;

	for (i = 0; i < names->nr; i++) {
		for (p = names->v[i]; *p; p++) {
			*p = (char)tolower((unsigned char)*p);
		}
	}
	qsort(names->v, names->nr, sizeof(*names->v), cmp_str);
}

void acme_cert_dirname(const struct strvec *names, struct sbuf *out)
{
	struct strvec sorted = STRVEC_INIT;
	size_t i, start;

	strvec_pushv(&sorted, (const char *const *)names->v);
	normalize_names(&sorted);
	for (i = 0; i < sorted.nr; i++) {
		if (i) {
			sbuf_addch(out, '+');
		}
		start = out->len;
		sbuf_addstr(out, sorted.v[i]);
		for (; start < out->len; start++) {
			if (out->buf[start] == '*') {
				out->buf[start] = '_';
			}
		}
	}
	strvec_clear(&sorted);
}

static int mkdir_p(const char *path, struct err *e)
{
	struct sbuf sb = SBUF_INIT;
	size_t i;
	int rc = 0;

	sbuf_addstr(&sb, path);
	for (i = 1; i <= sb.len && rc == 0; i++) {
		if (i == sb.len || sb.buf[i] == '/') {
			char c = sb.buf[i];

			sb.buf[i] = '\0';
			if (mkdir(sb.buf, 0700) < 0 && errno != EEXIST) {
				rc = err_set(e, "cannot create '%s': %s", sb.buf, strerror(errno));
			}
			sb.buf[i] = c;
		}
	}
	sbuf_release(&sb);
	return rc;
}

static uint64_t asn1_ms(const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm)) {
		return 0;
	}
	return (uint64_t)timegm(&tm) * 1000;
}

void acme_cert_release(struct acme_cert *c)
{
	free(c->cert_pem);
	free(c->key_pem);
	memset(c, 0, sizeof(*c));
}

int acme_cert_check(struct acme_cert *c, const struct strvec *names, struct err *e)
{
	BIO *b = BIO_new_mem_buf(c->cert_pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = acme_key_from_pem(c->key_pem, strlen(c->key_pem));
	GENERAL_NAMES *gens = NULL;
	int rc = -1, i;
	size_t n;

	if (!x) {
		err_set(e, "the certificate is not PEM");
		goto out;
	}
	if (!k || !X509_check_private_key(x, k)) {
		err_set(e, "the certificate does not match its key");
		goto out;
	}
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (n = 0; n < names->nr; n++) {
		bool found = false;

		for (i = 0; i < sk_GENERAL_NAME_num(gens) && !found; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == GEN_DNS) {
				const ASN1_IA5STRING *s = g->d.dNSName;

				found = (size_t)s->length == strlen(names->v[n]) &&
					!strncasecmp((const char *)s->data, names->v[n],
						     (size_t)s->length);
			}
		}
		if (!found) {
			err_set(e, "the certificate does not cover %s", names->v[n]);
			goto out;
		}
	}
	c->not_before_ms = asn1_ms(X509_get0_notBefore(x));
	c->not_after_ms = asn1_ms(X509_get0_notAfter(x));
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(b);
	return rc;
}

void acme_config_release(struct acme_config *c)
{
	free(c->directory_url);
	free(c->email);
	free(c->ca_file);
	free(c->state_dir);
	free(c->account_key);
	free(c->dns_command);
	memset(c, 0, sizeof(*c));
}

static bool same_str(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

char *acme_account_key_name(const char *email, const char *directory_url, const char *boot_email,
			    const char *boot_directory)
{
	const char *dir = directory_url ? directory_url : ACME_LETSENCRYPT_URL;
	const char *boot_dir = boot_directory ? boot_directory : ACME_LETSENCRYPT_URL;
	unsigned char md[EVP_MAX_MD_SIZE];
	struct sbuf in = SBUF_INIT, out = SBUF_INIT;
	size_t i;

	if (same_str(email, boot_email) && !strcmp(dir, boot_dir)) {
		return xstrdup("account.key");
	}
	sbuf_addf(&in, "%s\n%s", dir, email ? email : "");
	if (!EVP_Digest(in.buf, in.len, md, NULL, EVP_sha256(), NULL)) {
		abort(); /* OpenSSL without SHA-256 */
	}
	sbuf_addstr(&out, "accounts/");
	for (i = 0; i < 8; i++) {
		sbuf_addf(&out, "%02x", md[i]);
	}
	sbuf_addstr(&out, ".key");
	sbuf_release(&in);
	return sbuf_detach(&out, NULL);
}

/* ---- the client --------------------------------------------------------------------------------
 */

_Static_assert(sizeof(((struct acme_client *)0)->curl_errbuf) >= CURL_ERROR_SIZE,
	       "curl's error buffer");

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void acme_client_init(struct acme_client *c, const struct acme_config *cfg,
		      struct acme_store *store)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->store = store;
	sbuf_init(&c->body, 0);
}

static void reset_response(struct acme_client *c)
{
	c->status = 0;
	sbuf_reset(&c->body);
	free(c->location);
	free(c->retry_after);
	free(c->content_type);
	c->location = c->retry_after = c->content_type = NULL;
	c->curl_errbuf[0] = '\0';
}

void acme_client_release(struct acme_client *c)
{
	reset_response(c);
	if (c->curl) {
		curl_easy_cleanup(c->curl);
	}
	EVP_PKEY_free(c->account_key);
	free(c->kid);
	free(c->nonce);
	free(c->thumbprint);
	acme_directory_release(&c->dir);
	sbuf_release(&c->body);
	memset(c, 0, sizeof(*c));
}

static size_t on_body(char *p, size_t sz, size_t n, void *data)
{
	struct acme_client *c = data;

	if (c->body.len + sz * n > MAX_BODY) {
		return 0;
	}
	sbuf_add(&c->body, p, sz * n);
	return sz * n;
}

static void set_header(char **field, struct slice v)
{
	free(*field);
	*field = slice_dup(v);
}

static size_t on_header(char *p, size_t sz, size_t n, void *data)
{
	struct acme_client *c = data;
	struct slice line = slice_trim(slice_make(p, sz * n));
	long colon = slice_find_char(line, ':');
	struct slice name, value;

	if (colon <= 0) {
		return sz * n;
	}
	name = slice_make(line.ptr, (size_t)colon);
	value = slice_trim(slice_from(line, (size_t)colon + 1));
	if (slice_caseeq_cstr(name, "Replay-Nonce")) {
		set_header(&c->nonce, value);
	} else if (slice_caseeq_cstr(name, "Location")) {
		set_header(&c->location, value);
	} else if (slice_caseeq_cstr(name, "Retry-After")) {
		set_header(&c->retry_after, value);
	} else if (slice_caseeq_cstr(name, "Content-Type")) {
		set_header(&c->content_type, value);
	}
	return sz * n;
}

/* Trusts the extra CA file on top of the system's store, which curl has loaded already. */
static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *data)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ssl_ctx);

	if (!st || X509_STORE_load_file(st, data) != 1) {
		ERR_clear_error();
		return CURLE_SSL_CACERT_BADFILE;
	}
	return CURLE_OK;
}

/* Cuts a transfer short when the manager is stopping. */
static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const struct acme_client *c = data;

	return c->stop && atomic_load(c->stop) ? 1 : 0;
}

static const char *directory_url(const struct acme_client *c)
{
	return c->cfg->directory_url ? c->cfg->directory_url : ACME_LETSENCRYPT_URL;
}

enum method { GET, HEAD, POST };

static int http(struct acme_client *c, enum method m, const char *url, const struct sbuf *body,
		const char *accept, struct err *e)
{
	struct curl_slist *hdrs = NULL;
	CURL *h;
	CURLcode rc;
	int ret = -1;

	pthread_once(&curl_once, curl_setup);
	if (!c->curl) {
		c->curl = curl_easy_init();
		if (!c->curl) {
			return err_set(e, "cannot start an HTTP client (libcurl)");
		}
	}
	h = c->curl;
	reset_response(c);
	/* A reset keeps the connection cache: one TLS handshake for a whole issuance. */
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "berth-proxy/" BERTH_VERSION " (acme)");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (c->cfg->ca_file) {
		curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c->cfg->ca_file);
	}
	if (accept) {
		struct sbuf a = SBUF_INIT;

		sbuf_addf(&a, "Accept: %s", accept);
		hdrs = curl_slist_append(hdrs, a.buf);
		sbuf_release(&a);
	}
	if (m == POST) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->buf);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	} else if (m == HEAD) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		err_set(e, "stopped");
		goto out;
	}
	if (rc != CURLE_OK) {
		err_set(e, "cannot reach the CA at %s: %s", url,
			c->curl_errbuf[0] ? c->curl_errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	ret = 0;
out:
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return ret;
}

/* The CA's answer to a failed request as a sentence. */
static void describe_failure(struct acme_client *c, const char *url, const char *names,
			     enum acme_challenge chall, struct err *e)
{
	struct sbuf msg = SBUF_INIT;
	json_t *j = json_loadb(c->body.buf, c->body.len, 0, NULL);

	if (json_is_object(j) && json_object_get(j, "type")) {
		acme_problem_describe(c->body.buf, c->body.len, names, chall, &msg);
	} else {
		sbuf_addf(&msg, "the CA answered %s with HTTP status %ld", url, c->status);
	}
	json_decref(j);
	err_set(e, "%s", msg.buf);
	sbuf_release(&msg);
}

static int ensure_directory(struct acme_client *c, struct err *e)
{
	const char *url = directory_url(c);

	if (c->have_dir) {
		return 0;
	}
	if (http(c, GET, url, NULL, NULL, e) < 0) {
		return -1;
	}
	if (c->status != 200) {
		describe_failure(c, url, NULL, c->cfg->challenge, e);
		return -1;
	}
	if (acme_directory_parse(c->body.buf, c->body.len, &c->dir, e) < 0) {
		err_prefix(e, "%s", url);
		return -1;
	}
	c->have_dir = true;
	return 0;
}

/*
 * A signed POST (payload NULL: POST-as-GET), with "jwk" until the account
 * is known. A badNonce answer is retried with the nonce it brought, up to
 * NONCE_TRIES times in all: a CA may reject any nonce (RFC 8555 6.5;
 * pebble rejects 5% at random, as a real CA may after a restart), and one
 * retry still loses an order now and then.
 * Fails with the CA's problem as a sentence on any status >= 400.
 */
#define NONCE_TRIES 4

static int post(struct acme_client *c, const char *url, const char *payload, const char *accept,
		const char *names, enum acme_challenge chall, struct err *e)
{
	struct sbuf jws = SBUF_INIT;
	int attempt, rc = -1;

	for (attempt = 0; attempt < NONCE_TRIES; attempt++) {
		char *nonce;

		if (!c->nonce) {
			if (http(c, HEAD, c->dir.new_nonce, NULL, NULL, e) < 0) {
				goto out;
			}
			if (!c->nonce) {
				err_set(e, "the CA gave no nonce at %s (HTTP status %ld)",
					c->dir.new_nonce, c->status);
				goto out;
			}
		}
		nonce = c->nonce;
		c->nonce = NULL;
		sbuf_reset(&jws);
		if (acme_jws(c->account_key, c->kid, nonce, url, payload, &jws) < 0) {
			free(nonce);
			err_set(e, "cannot sign a request to the CA (OpenSSL)");
			goto out;
		}
		free(nonce);
		if (http(c, POST, url, &jws, accept, e) < 0) {
			goto out;
		}
		if (c->status < 400) {
			rc = 0;
			goto out;
		}
		if (attempt + 1 < NONCE_TRIES &&
		    acme_problem_is(c->body.buf, c->body.len, "badNonce")) {
			continue;
		}
		break;
	}
	describe_failure(c, url, names, chall, e);
	/* A CA that lost the account (a reset test CA, a deactivation): register again next time.
	 */
	if (acme_problem_is(c->body.buf, c->body.len, "accountDoesNotExist")) {
		free(c->kid);
		c->kid = NULL;
	}
out:
	sbuf_release(&jws);
	return rc;
}

static int load_account_key(struct acme_client *c, struct err *e)
{
	struct sbuf path = SBUF_INIT, pem = SBUF_INIT, jwk = SBUF_INIT, tp = SBUF_INIT;
	char *slash;
	int rc = -1;

	/* the key's folder first: STATE/acme, or STATE/acme/accounts */
	sbuf_addf(&path, "%s/acme/%s", c->cfg->state_dir,
		  c->cfg->account_key ? c->cfg->account_key : "account.key");
	slash = strrchr(path.buf, '/');
	*slash = '\0';
	if (mkdir_p(path.buf, e) < 0) {
		goto out;
	}
	*slash = '/';
	if (sbuf_read_file(&pem, path.buf) == 0) {
		c->account_key = acme_key_from_pem(pem.buf, pem.len);
		if (!c->account_key) {
			err_set(e, "'%s' holds no private key: move it away to make a new account",
				path.buf);
			goto out;
		}
	} else if (errno == ENOENT) {
		c->account_key = acme_key_new();
		sbuf_reset(&pem);
		if (!c->account_key || acme_key_pem(c->account_key, &pem) < 0) {
			err_set(e, "cannot make an account key (OpenSSL)");
			goto out;
		}
		if (file_write_atomic(path.buf, pem.buf, pem.len, 0600, e) < 0) {
			goto out;
		}
	} else {
		err_set(e, "cannot read '%s': %s", path.buf, strerror(errno));
		goto out;
	}
	if (acme_jwk(c->account_key, &jwk) < 0 || acme_jwk_thumbprint(jwk.buf, &tp, e) < 0) {
		err_set(e, "'%s' is not an EC P-256 key", path.buf);
		goto out;
	}
	c->thumbprint = sbuf_detach(&tp, NULL);
	rc = 0;
out:
	if (rc < 0) {
		EVP_PKEY_free(c->account_key);
		c->account_key = NULL;
	}
	sbuf_release(&path);
	sbuf_release(&pem);
	sbuf_release(&jwk);
	sbuf_release(&tp);
	return rc;
}

static int ensure_account(struct acme_client *c, struct err *e)
{
	json_t *p;
	char *payload;
	int rc;

	if (c->kid) {
		return 0;
	}
	if (!c->account_key && load_account_key(c, e) < 0) {
		return -1;
	}
	p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (c->cfg->email && *c->cfg->email) {
		struct sbuf m = SBUF_INIT;

		sbuf_addf(&m, "mailto:%s", c->cfg->email);
		json_object_set_new(p, "contact", json_pack("[s]", m.buf));
		sbuf_release(&m);
	}
	payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	rc = post(c, c->dir.new_account, payload, NULL, NULL, c->cfg->challenge, e);
	free(payload);
	if (rc < 0) {
		err_prefix(e, "cannot register the ACME account");
		return -1;
	}
	if (!c->location) {
		return err_set(e, "the CA's answer to newAccount has no Location");
	}
	c->kid = c->location;
	c->location = NULL;
	log_info("acme: account %s at %s (contact: %s)", c->kid, directory_url(c),
		 c->cfg->email && *c->cfg->email ? c->cfg->email : "none");
	return 0;
}

static bool stopped(const struct acme_client *c)
{
	return c->stop && atomic_load(c->stop);
}

/* Sleeps, in small steps so that a stop is noticed. -1 when stopped. */
static int nap(struct acme_client *c, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;

	for (;;) {
		uint64_t now = mono_ms(), step;
		struct timespec ts;

		if (stopped(c)) {
			return -1;
		}
		if (now >= end) {
			return 0;
		}
		step = end - now < 100 ? end - now : 100;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000;
		nanosleep(&ts, NULL);
	}
}

static char *status_of(const struct sbuf *body)
{
	json_t *j = json_loadb(body->buf, body->len, 0, NULL);
	char *s = jstr(j, "status");

	json_decref(j);
	return s;
}

static bool is_one_of(const char *s, const char *const *set)
{
	for (; *set; set++) {
		if (!strcmp(s, *set)) {
			return true;
		}
	}
	return false;
}

/*
 * Fetches url until its status leaves the waiting states, waiting as
 * Retry-After says (else 0.2 s doubling to 3 s). The body is left in c->body.
 */
static int poll_status(struct acme_client *c, const char *url, const char *const *waiting,
		       const char *what, const char *names, enum acme_challenge chall,
		       struct err *e)
{
	uint64_t limit = c->cfg->poll_timeout_ms ? c->cfg->poll_timeout_ms : 300000;
	uint64_t deadline = mono_ms() + limit, delay = 200;

	for (;;) {
		uint64_t wait = delay;
		char *status;
		bool waiting_still;

		if (post(c, url, NULL, NULL, names, chall, e) < 0) {
			return -1;
		}
		status = status_of(&c->body);
		if (!status) {
			return err_set(e, "the CA's %s at %s has no status", what, url);
		}
		waiting_still = is_one_of(status, waiting);
		free(status);
		if (!waiting_still) {
			return 0;
		}
		if (c->retry_after &&
		    acme_retry_after_ms(c->retry_after, (int64_t)time(NULL), &wait)) {
			wait = wait < 60000 ? wait : 60000;
		} else {
			delay = delay * 2 < 3000 ? delay * 2 : 3000;
		}
		if (mono_ms() + wait > deadline) {
			return err_set(e, "the CA left the %s for %s pending for more than %llus",
				       what, names, (unsigned long long)(limit / 1000));
		}
		if (nap(c, wait) < 0) {
			return err_set(e, "stopped");
		}
	}
}

static int run_dns(struct acme_client *c, const char *op, const char *name, const char *value,
		   struct err *e)
{
	struct run_cmd cmd = RUN_CMD_INIT;
	struct sbuf rec = SBUF_INIT, why = SBUF_INIT;
	int rc;

	sbuf_addf(&rec, "_acme-challenge.%s", strncmp(name, "*.", 2) ? name : name + 2);
	strvec_pushv(&cmd.argv,
		     (const char *[]){c->cfg->dns_command, op, rec.buf, value ? value : "", NULL});
	cmd.out = RUN_IO_CAPTURE;
	cmd.err = RUN_IO_CAPTURE;
	cmd.capture_max = 65536;
	cmd.timeout_ms = (unsigned)(c->cfg->dns_timeout_ms ? c->cfg->dns_timeout_ms : 60000);
	rc = run_one(&cmd);
	if (rc < 0) {
		struct slice tail = run_tail_lines(&cmd.errbuf, 3);

		run_describe_status(&cmd, &why);
		err_set(e, "the DNS command '%s %s %s' %s%s%.*s", c->cfg->dns_command, op, rec.buf,
			why.buf, tail.len ? ": " : "", (int)tail.len, tail.ptr);
	}
	run_cmd_release(&cmd);
	sbuf_release(&rec);
	sbuf_release(&why);
	return rc;
}

/* Answers one authorization: sets the challenge up, asks for validation, waits, cleans up. */
static int do_authz(struct acme_client *c, const char *url, struct err *e)
{
	static const char *const waiting[] = {"pending", NULL};
	struct acme_authz a = {0}, after = {0};
	struct sbuf keyauth = SBUF_INIT, value = SBUF_INIT;
	enum acme_challenge type = c->cfg->challenge;
	struct acme_chall *ch = NULL;
	bool set_up = false;
	int idx, rc = -1;
	size_t i;

	if (post(c, url, NULL, NULL, NULL, type, e) < 0 ||
	    acme_authz_parse(c->body.buf, c->body.len, &a, e) < 0) {
		goto out;
	}
	if (!strcmp(a.status, "valid")) {
		rc = 0;
		goto out;
	}
	if (strcmp(a.status, "pending")) {
		err_set(e, "the CA's authorization for %s is %s", a.name, a.status);
		goto out;
	}
	idx = acme_authz_pick(&a, type, c->cfg->dns_command != NULL, e);
	if (idx < 0) {
		goto out;
	}
	ch = &a.chall[idx];
	acme_challenge_parse(ch->type, &type, NULL);
	acme_key_authorization(ch->token, c->thumbprint, &keyauth);
	switch (type) {
	case ACME_HTTP01:
		acme_store_set_http(c->store, ch->token, keyauth.buf);
		break;
	case ACME_TLSALPN01: {
		X509 *x;
		EVP_PKEY *k;

		if (acme_alpn_cert(a.name, keyauth.buf, &x, &k) < 0) {
			err_set(e, "cannot make the tls-alpn-01 certificate for %s", a.name);
			goto out;
		}
		acme_store_set_alpn(c->store, a.name, x, k);
		X509_free(x);
		EVP_PKEY_free(k);
		break;
	}
	case ACME_DNS01:
		acme_dns01_value(keyauth.buf, &value);
		if (run_dns(c, "set", a.name, value.buf, e) < 0) {
			goto out;
		}
		break;
	}
	set_up = true;
	log_info("acme: answering the %s challenge for %s", ch->type, a.name);
	if (post(c, ch->url, "{}", NULL, a.name, type, e) < 0 ||
	    poll_status(c, url, waiting, "authorization", a.name, type, e) < 0 ||
	    acme_authz_parse(c->body.buf, c->body.len, &after, e) < 0) {
		goto out;
	}
	if (!strcmp(after.status, "valid")) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < after.nr_chall; i++) {
		if (after.chall[i].error && !strcmp(after.chall[i].type, ch->type)) {
			struct sbuf msg = SBUF_INIT;

			acme_problem_describe(after.chall[i].error, strlen(after.chall[i].error),
					      a.name, type, &msg);
			err_set(e, "%s", msg.buf);
			sbuf_release(&msg);
			goto out;
		}
	}
	err_set(e, "the CA did not validate %s (the authorization is %s)", a.name, after.status);
out:
	if (set_up) {
		struct err ce = ERR_INIT;

		switch (type) {
		case ACME_HTTP01:
			acme_store_del_http(c->store, ch->token);
			break;
		case ACME_TLSALPN01:
			acme_store_del_alpn(c->store, a.name);
			break;
		case ACME_DNS01:
			if (run_dns(c, "clear", a.name, value.buf, &ce) < 0) {
				log_warn("acme: %s", err_str(&ce));
			}
			break;
		}
		err_release(&ce);
	}
	acme_authz_release(&a);
	acme_authz_release(&after);
	sbuf_release(&keyauth);
	sbuf_release(&value);
	return rc;
}

/* Reads the order in c->body into o; it must have reached status want, else its problem is told. */
static int order_ready(struct acme_client *c, struct acme_order *o, const char *names,
		       const char *want, struct err *e)
{
	acme_order_release(o);
	if (acme_order_parse(c->body.buf, c->body.len, o, e) < 0) {
		return -1;
	}
	if (!strcmp(o->status, want)) {
		return 0;
	}
	if (o->error) {
		struct sbuf msg = SBUF_INIT;

		acme_problem_describe(o->error, strlen(o->error), names, c->cfg->challenge, &msg);
		err_set(e, "%s", msg.buf);
		sbuf_release(&msg);
	} else {
		err_set(e, "the CA's order for %s is %s, not %s", names, o->status, want);
	}
	return -1;
}

int acme_issue(struct acme_client *c, const struct strvec *names, struct acme_cert *out,
	       struct err *e)
{
	static const char *const before_finalize[] = {"pending", NULL};
	static const char *const after_finalize[] = {"ready", "processing", NULL};
	struct acme_order o = {0};
	struct sbuf payload = SBUF_INIT, pem = SBUF_INIT, csr64 = SBUF_INIT;
	char *joined = strvec_join(names, ", "), *order_url = NULL;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	json_t *ids = json_array(), *p;
	char *s;
	int dlen, rc = -1;
	size_t i;

	strvec_init(&o.authorizations);
	memset(out, 0, sizeof(*out));
	if (!names->nr) {
		err_set(e, "no names to ask a certificate for");
		goto out;
	}
	for (i = 0; i < names->nr; i++) {
		if (!acme_name_valid(names->v[i])) {
			err_set(e, "'%s' is not a DNS name a certificate can be issued for",
				names->v[i]);
			goto out;
		}
		json_array_append_new(ids,
				      json_pack("{s:s,s:s}", "type", "dns", "value", names->v[i]));
	}
	if (ensure_directory(c, e) < 0 || ensure_account(c, e) < 0) {
		goto out;
	}
	p = json_pack("{s:O}", "identifiers", ids);
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	rc = post(c, c->dir.new_order, s, NULL, joined, c->cfg->challenge, e);
	free(s);
	if (rc < 0) {
		goto out;
	}
	rc = -1;
	if (!c->location) {
		err_set(e, "the CA's answer to newOrder has no Location");
		goto out;
	}
	order_url = xstrdup(c->location);
	if (acme_order_parse(c->body.buf, c->body.len, &o, e) < 0) {
		goto out;
	}
	for (i = 0; i < o.authorizations.nr; i++) {
		if (do_authz(c, o.authorizations.v[i], e) < 0) {
			goto out;
		}
	}

	/* Every name is proven: wait for the order to be ready, then finalize with a CSR. */
	if (poll_status(c, order_url, before_finalize, "order", joined, c->cfg->challenge, e) < 0 ||
	    order_ready(c, &o, joined, "ready", e) < 0) {
		goto out;
	}
	key = acme_key_new();
	req = key ? acme_csr_new(names, key) : NULL;
	dlen = req ? i2d_X509_REQ(req, &der) : -1;
	if (dlen <= 0) {
		err_set(e, "cannot make the certificate's key and CSR (OpenSSL)");
		goto out;
	}
	acme_b64url(der, (size_t)dlen, &csr64);
	sbuf_addf(&payload, "{\"csr\":\"%s\"}", csr64.buf);
	if (post(c, o.finalize, payload.buf, NULL, joined, c->cfg->challenge, e) < 0 ||
	    poll_status(c, order_url, after_finalize, "order", joined, c->cfg->challenge, e) < 0) {
		goto out;
	}
	if (order_ready(c, &o, joined, "valid", e) < 0) {
		goto out;
	}
	if (!o.certificate) {
		err_set(e, "the CA's order for %s is valid but has no certificate URL", joined);
		goto out;
	}
	if (post(c, o.certificate, NULL, "application/pem-certificate-chain", joined,
		 c->cfg->challenge, e) < 0) {
		goto out;
	}
	if (acme_key_pem(key, &pem) < 0) {
		err_set(e, "cannot write the certificate's key (OpenSSL)");
		goto out;
	}
	out->cert_pem = xstrndup(c->body.buf, c->body.len);
	out->key_pem = sbuf_detach(&pem, NULL);
	if (acme_cert_check(out, names, e) < 0) {
		err_prefix(e, "the CA's certificate for %s", joined);
		acme_cert_release(out);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && !err_isset(e)) {
		err_set(e, "cannot obtain a certificate for %s", joined);
	}
	json_decref(ids);
	acme_order_release(&o);
	free(order_url);
	free(joined);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	OPENSSL_free(der);
	sbuf_release(&payload);
	sbuf_release(&pem);
	sbuf_release(&csr64);
	return rc;
}

/* ---- the manager -------------------------------------------------------------------------------
 */

static uint64_t real_clock(void *data)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int default_issue(struct acme_manager *m, const struct strvec *names, struct acme_cert *out,
			 struct err *e)
{
	return acme_issue(&m->client, names, out, e);
}

void acme_manager_init(struct acme_manager *m, struct acme_config *cfg, struct acme_store *store)
{
	pthread_condattr_t ca;

	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	if (!m->cfg.retry_min_ms) {
		m->cfg.retry_min_ms = 60 * 1000;
	}
	if (!m->cfg.retry_max_ms) {
		m->cfg.retry_max_ms = 6 * 3600 * 1000;
	}
	m->store = store;
	m->clock = real_clock;
	m->issue = default_issue;
	m->boot_email = m->cfg.email ? xstrdup(m->cfg.email) : NULL;
	m->boot_directory = m->cfg.directory_url ? xstrdup(m->cfg.directory_url) : NULL;
	acme_client_init(&m->client, &m->cfg, store);
	m->client.stop = &m->stop;
	atomic_init(&m->stop, false);
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
}

static void managed_free(struct acme_managed *c)
{
	if (c) {
		strvec_clear(&c->names);
		free(c->dir);
		free(c);
	}
}

static struct acme_managed *find_managed(struct acme_manager *m, const char *dir)
{
	size_t i;

	/* acme_manager_want() takes the kept ones out of the list (NULL) while it looks */
	for (i = 0; i < m->nr_certs; i++) {
		if (m->certs[i] && !strcmp(m->certs[i]->dir, dir)) {
			return m->certs[i];
		}
	}
	return NULL;
}

int acme_manager_want(struct acme_manager *m, const struct strvec *sets, size_t n, struct err *e)
{
	struct acme_managed **next = NULL, **old;
	size_t nr_next = 0, alloc_next = 0, nr_old, i, j;

	for (i = 0; i < n; i++) {
		if (!sets[i].nr) {
			return err_set(e, "a certificate needs at least one name");
		}
		for (j = 0; j < sets[i].nr; j++) {
			if (!acme_name_valid(sets[i].v[j])) {
				return err_set(e,
					       "'%s' is not a DNS name a certificate can be issued "
					       "for",
					       sets[i].v[j]);
			}
		}
	}
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < n; i++) {
		struct sbuf dir = SBUF_INIT;
		struct acme_managed *c;

		sbuf_addf(&dir, "%s/acme/certs/", m->cfg.state_dir);
		acme_cert_dirname(&sets[i], &dir);
		for (j = 0; j < nr_next && strcmp(next[j]->dir, dir.buf); j++) {
		}
		if (j < nr_next) { /* the same set twice */
			sbuf_release(&dir);
			continue;
		}
		c = find_managed(m, dir.buf);
		if (c) {
			/* Kept: out of the old list so that it is not freed below. */
			for (j = 0; j < m->nr_certs; j++) {
				if (m->certs[j] == c) {
					m->certs[j] = NULL;
				}
			}
			sbuf_release(&dir);
		} else {
			c = xcalloc(1, sizeof(*c));
			strvec_init(&c->names);
			strvec_pushv(&c->names, (const char *const *)sets[i].v);
			normalize_names(&c->names);
			c->dir = sbuf_detach(&dir, NULL);
		}
		XGROW(next, alloc_next, nr_next + 1);
		next[nr_next++] = c;
	}
	old = m->certs;
	nr_old = m->nr_certs;
	m->certs = next;
	m->nr_certs = nr_next;
	m->alloc_certs = alloc_next;
	m->changed = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < nr_old; i++) {
		managed_free(old[i]);
	}
	free(old);
	return 0;
}

/* Reads DIR/cert.pem and DIR/key.pem. 0 with c filled, -1 when absent or unusable. */
static int load_cert(const char *dir, const struct strvec *names, struct acme_cert *c)
{
	struct sbuf path = SBUF_INIT, cert = SBUF_INIT, key = SBUF_INIT;
	struct err e = ERR_INIT;
	int rc = -1;

	sbuf_addf(&path, "%s/cert.pem", dir);
	if (sbuf_read_file(&cert, path.buf) < 0) {
		goto out;
	}
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/key.pem", dir);
	if (sbuf_read_file(&key, path.buf) < 0) {
		goto out;
	}
	c->cert_pem = sbuf_detach(&cert, NULL);
	c->key_pem = sbuf_detach(&key, NULL);
	if (acme_cert_check(c, names, &e) < 0) {
		log_warn("acme: ignoring '%s': %s", dir, err_str(&e));
		acme_cert_release(c);
		goto out;
	}
	rc = 0;
out:
	sbuf_release(&path);
	sbuf_release(&cert);
	sbuf_release(&key);
	err_release(&e);
	return rc;
}

static int save_cert(const char *dir, const struct acme_cert *c, struct err *e)
{
	struct sbuf path = SBUF_INIT;
	int rc = -1;

	if (mkdir_p(dir, e) < 0) {
		goto out;
	}
	/* The key first: a crash in between leaves a pair that does not match, which is reissued.
	 */
	sbuf_addf(&path, "%s/key.pem", dir);
	if (file_write_atomic(path.buf, c->key_pem, strlen(c->key_pem), 0600, e) < 0) {
		goto out;
	}
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/cert.pem", dir);
	if (file_write_atomic(path.buf, c->cert_pem, strlen(c->cert_pem), 0600, e) < 0) {
		goto out;
	}
	rc = 0;
out:
	sbuf_release(&path);
	return rc;
}

/* After a certificate is in place: renew it a third before its end, and not in a loop. */
static uint64_t due_after_cert(const struct acme_manager *m, const struct acme_cert *c,
			       uint64_t now)
{
	uint64_t at = acme_renew_at(c->not_before_ms, c->not_after_ms);

	return at > now ? at : now + m->cfg.retry_min_ms;
}

void acme_manager_set_account(struct acme_manager *m, const char *email, const char *directory_url)
{
	const char *dir = directory_url ? directory_url : ACME_LETSENCRYPT_URL;
	const char *was;
	size_t i;

	pthread_mutex_lock(&m->lock);
	was = m->next_account ? m->next_directory : m->cfg.directory_url;
	if (strcmp(dir, was ? was : ACME_LETSENCRYPT_URL)) {
		/* A new CA: every certificate is ordered from it (the ones in use serve until
		 * then). */
		for (i = 0; i < m->nr_certs; i++) {
			struct acme_managed *c = m->certs[i];

			if (c->loaded && !c->busy) {
				c->due_ms = 0;
				c->failures = 0;
			} else {
				c->again = true;
			}
		}
	}
	free(m->next_email);
	free(m->next_directory);
	m->next_email = email && *email ? xstrdup(email) : NULL;
	m->next_directory = xstrdup(dir);
	m->next_account = true;
	m->changed = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

char *acme_manager_account_url(struct acme_manager *m)
{
	char *url;

	pthread_mutex_lock(&m->lock);
	url = m->account_url ? xstrdup(m->account_url) : NULL;
	pthread_mutex_unlock(&m->lock);
	return url;
}

/*
 * The manager's thread: takes the account that acme_manager_set_account()
 * asked for, if any, with a client that starts afresh. Only this thread
 * reads cfg's email, directory and key name, so they change without a lock.
 */
static void take_account(struct acme_manager *m)
{
	char *email, *dir;

	pthread_mutex_lock(&m->lock);
	if (!m->next_account) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	email = m->next_email;
	dir = m->next_directory;
	m->next_email = m->next_directory = NULL;
	m->next_account = false;
	free(m->account_url);
	m->account_url = NULL;
	pthread_mutex_unlock(&m->lock);

	free(m->cfg.email);
	free(m->cfg.directory_url);
	free(m->cfg.account_key);
	m->cfg.email = email;
	m->cfg.directory_url = dir;
	m->cfg.account_key = acme_account_key_name(email, dir, m->boot_email, m->boot_directory);
	acme_client_release(&m->client);
	acme_client_init(&m->client, &m->cfg, m->store);
	m->client.stop = &m->stop;
	log_info("acme: the next order uses the account of %s at %s", email ? email : "no email",
		 dir);
}

uint64_t acme_manager_step(struct acme_manager *m)
{
	for (;;) {
		struct acme_managed *c = NULL;
		struct strvec names = STRVEC_INIT;
		struct acme_cert cert = {0};
		struct err e = ERR_INIT;
		uint64_t now, next = UINT64_MAX;
		char *dir;
		bool loaded, ok = false, hand_over = false;
		size_t i;

		take_account(m);
		pthread_mutex_lock(&m->lock);
		now = m->clock(m->clock_data);
		for (i = 0; i < m->nr_certs; i++) {
			struct acme_managed *x = m->certs[i];

			if (x->busy) {
				continue;
			}
			if (x->due_ms <= now && !c) {
				c = x;
			} else if (x->due_ms < next) {
				next = x->due_ms;
			}
		}
		if (!c || atomic_load(&m->stop)) {
			pthread_mutex_unlock(&m->lock);
			return c ? now : next;
		}
		c->busy = true;
		strvec_pushv(&names, (const char *const *)c->names.v);
		dir = xstrdup(c->dir);
		loaded = c->loaded;
		pthread_mutex_unlock(&m->lock);

		if (!loaded) {
			ok = load_cert(dir, &names, &cert) == 0;
			/* An expired certificate is no better than none: it is not handed over. */
			hand_over = ok && cert.not_after_ms > now;
		} else {
			char *joined = strvec_join(&names, ", ");

			log_info("acme: asking the CA for a certificate for %s", joined);
			free(joined);
			/* Checked whoever issued it: the renewal time comes from the certificate.
			 */
			ok = m->issue(m, &names, &cert, &e) == 0 &&
			     acme_cert_check(&cert, &names, &e) == 0 &&
			     save_cert(dir, &cert, &e) == 0;
			hand_over = ok;
			if (m->client.kid) {
				pthread_mutex_lock(&m->lock);
				if (!m->account_url || strcmp(m->account_url, m->client.kid)) {
					free(m->account_url);
					m->account_url = xstrdup(m->client.kid);
				}
				pthread_mutex_unlock(&m->lock);
			}
		}

		pthread_mutex_lock(&m->lock);
		now = m->clock(m->clock_data);
		c = find_managed(m, dir);
		if (c) {
			c->busy = false;
			if (!c->loaded) {
				c->loaded = true;
				c->due_ms =
				    ok ? acme_renew_at(cert.not_before_ms, cert.not_after_ms) : now;
			} else if (ok) {
				c->failures = 0;
				c->due_ms = due_after_cert(m, &cert, now);
			} else {
				c->failures++;
				c->due_ms = now + acme_backoff_ms(c->failures, m->cfg.retry_min_ms,
								  m->cfg.retry_max_ms);
				/*
				 * A name that never had a certificate is tried again soon once:
				 * it was just deployed, and the host the CA reached may be
				 * getting its route at this very moment (the other hosts of a
				 * role relay challenges once their own deploy has run).
				 */
				if (!c->have && c->failures == 1 &&
				    m->cfg.retry_min_ms > ACME_FIRST_RETRY_MS) {
					c->due_ms = now + ACME_FIRST_RETRY_MS;
				}
			}
			if (ok) {
				c->have = c->have || hand_over;
				c->not_before_ms = cert.not_before_ms;
				c->not_after_ms = cert.not_after_ms;
			}
			if (c->again) {
				c->again = false;
				c->due_ms = now;
				c->failures = 0;
			}
		}
		pthread_mutex_unlock(&m->lock);

		if (hand_over && m->on_cert) {
			m->on_cert(m->cb_data, &names, cert.cert_pem, cert.key_pem);
		}
		if (loaded && !ok && !atomic_load(&m->stop)) {
			char *joined = strvec_join(&names, ", ");

			log_warn("acme: no certificate for %s: %s", joined, err_str(&e));
			free(joined);
			if (m->on_error) {
				m->on_error(m->cb_data, &names, err_str(&e));
			}
		}
		acme_cert_release(&cert);
		err_release(&e);
		strvec_clear(&names);
		free(dir);
	}
}

static void *manager_main(void *arg)
{
	struct acme_manager *m = arg;

	pthread_mutex_lock(&m->lock);
	while (!atomic_load(&m->stop)) {
		uint64_t next, now, wait;
		struct timespec ts;

		m->changed = false;
		pthread_mutex_unlock(&m->lock);
		next = acme_manager_step(m);
		pthread_mutex_lock(&m->lock);
		if (m->changed || atomic_load(&m->stop)) {
			continue;
		}
		now = m->clock(m->clock_data);
		if (next <= now) {
			continue;
		}
		/* Woken at least hourly: the wall clock may jump while we wait on a monotonic one.
		 */
		wait = next - now < 3600 * 1000 ? next - now : 3600 * 1000;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&m->cond, &m->lock, &ts);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int acme_manager_start(struct acme_manager *m, struct err *e)
{
	int rc;

	if (m->running) {
		return 0;
	}
	atomic_store(&m->stop, false);
	rc = pthread_create(&m->thread, NULL, manager_main, m);
	if (rc) {
		return err_set(e, "cannot start the ACME thread: %s", strerror(rc));
	}
	m->running = true;
	return 0;
}

void acme_manager_stop(struct acme_manager *m)
{
	if (!m->running) {
		return;
	}
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->stop, true);
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	m->running = false;
}

void acme_manager_release(struct acme_manager *m)
{
	size_t i;

	acme_manager_stop(m);
	for (i = 0; i < m->nr_certs; i++) {
		managed_free(m->certs[i]);
	}
	free(m->certs);
	acme_client_release(&m->client);
	acme_config_release(&m->cfg);
	free(m->boot_email);
	free(m->boot_directory);
	free(m->next_email);
	free(m->next_directory);
	free(m->account_url);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	memset(m, 0, sizeof(*m));
}
