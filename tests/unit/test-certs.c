/*
 * daemon/certs: certs:add's tar on stdin (the certificate and key found by
 * their names, whatever else the archive holds, and every malformed
 * archive refused) and the OpenSSL checks of the pair (the key matching the
 * leaf, the chain read, the description certs:report gives).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/certs.h"
#include "lib/sbuf.h"
#include "lib/tar.h"
#include "unit.h"

static EVP_PKEY *key1, *key2, *ca_key;
static X509 *leaf, *ca, *inter_leaf;
static char *leaf_pem, *key1_pem, *key2_pem, *ca_pem, *inter_leaf_pem;

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	if (!ex) {
		abort();
	}
	X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
}

static X509 *mk_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
		     EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX v3;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_basic_constraints, issuer || san ? "CA:FALSE" : "critical,CA:TRUE");
	if (san) {
		add_ext(x, &v3, NID_subject_alt_name, san);
	}
	if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
		abort();
	}
	return x;
}

static char *x509_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	char *s;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

static char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	char *s;

	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

static void setup(void)
{
	key1 = EVP_EC_gen("P-256");
	key2 = EVP_EC_gen("P-256");
	ca_key = EVP_EC_gen("P-256");
	leaf = mk_cert(key1, "shop.test", "DNS:shop.test,DNS:*.shop.test", NULL, NULL);
	ca = mk_cert(ca_key, "Test CA", NULL, NULL, NULL);
	inter_leaf = mk_cert(key1, "api.test", "DNS:api.test", ca, ca_key);
	leaf_pem = x509_pem(leaf);
	ca_pem = x509_pem(ca);
	inter_leaf_pem = x509_pem(inter_leaf);
	key1_pem = key_pem(key1);
	key2_pem = key_pem(key2);
}

/* A tar of the files named (name, text, name, text, ..., NULL). */
static void mk_tar(struct sbuf *t, ...)
{
	va_list ap;
	const char *name;

	sbuf_reset(t);
	va_start(ap, t);
	while ((name = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);
		if (!text) {
			tar_add_dir(t, name, 0755);
		} else {
			tar_add_file(t, name, text, strlen(text), 0600);
		}
	}
	va_end(ap);
	tar_finish(t);
}

static void test_tar_finds_the_pair(void)
{
	struct sbuf t = SBUF_INIT;
	struct certs_pair p;
	struct err e = ERR_INIT;

	mk_tar(&t, "server.crt", leaf_pem, "server.key", key1_pem, NULL);
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), 0);
	CHECK_STR(p.crt, leaf_pem);
	CHECK_STR(p.key, key1_pem);
	CHECK_STR(p.crt_name, "server.crt");
	certs_pair_release(&p);

	/* a directory, a .pem chain, other files and macOS's ._ files are fine */
	mk_tar(&t, "tls", NULL, "tls/README", "hello", "tls/._server.pem", "junk", "tls/server.pem",
	       leaf_pem, "tls/server.key", key1_pem, NULL);
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), 0);
	CHECK_STR(p.crt_name, "tls/server.pem");
	CHECK_STR(p.key_name, "tls/server.key");
	certs_pair_release(&p);

	/* no end-of-archive blocks: still read */
	mk_tar(&t, "a.crt", leaf_pem, "a.key", key1_pem, NULL);
	CHECK_INT(certs_from_tar(t.buf, t.len - 1024, &p, &e), 0);
	certs_pair_release(&p);
	err_release(&e);
	sbuf_release(&t);
}

static void test_tar_refuses(void)
{
	struct sbuf t = SBUF_INIT, big = SBUF_INIT;
	struct certs_pair p;
	struct err e = ERR_INIT;

	CHECK_INT(certs_from_tar("", 0, &p, &e), -1);
	CHECK(strstr(err_str(&e), "nothing on stdin") != NULL);
	err_release(&e);

	mk_tar(&t, "server.crt", leaf_pem, NULL);
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), -1);
	CHECK(strstr(err_str(&e), "the tar holds no key") != NULL);
	CHECK(p.crt == NULL);
	err_release(&e);

	mk_tar(&t, "server.key", key1_pem, NULL);
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), -1);
	CHECK(strstr(err_str(&e), "the tar holds no certificate:") != NULL);
	err_release(&e);

	mk_tar(&t, "a.crt", leaf_pem, "b.pem", leaf_pem, "a.key", key1_pem, NULL);
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), -1);
	CHECK_STR(err_str(&e), "the tar holds two certificates: 'a.crt' and 'b.pem' (one of each "
			       "expected)");
	err_release(&e);

	/* a PEM file with a NUL */
	sbuf_reset(&t);
	tar_add_file(&t, "a.crt", "AB\0CD", 5, 0600);
	tar_add_file(&t, "a.key", key1_pem, strlen(key1_pem), 0600);
	tar_finish(&t);
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), -1);
	CHECK(strstr(err_str(&e), "NUL") != NULL);
	err_release(&e);

	/* too large */
	for (size_t i = 0; i <= CERTS_FILE_MAX; i += 16) {
		sbuf_addstr(&big, "0123456789abcdef");
	}
	mk_tar(&t, "a.crt", big.buf, "a.key", key1_pem, NULL);
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), -1);
	CHECK(strstr(err_str(&e), "is larger than") != NULL);
	err_release(&e);

	/* not a tar: a PEM as is, a broken checksum, an archive cut short */
	CHECK_INT(certs_from_tar(leaf_pem, strlen(leaf_pem), &p, &e), -1);
	CHECK(strstr(err_str(&e), "not a tar archive") != NULL);
	err_release(&e);
	mk_tar(&t, "server.crt", leaf_pem, "server.key", key1_pem, NULL);
	t.buf[3] ^= 1;
	CHECK_INT(certs_from_tar(t.buf, t.len, &p, &e), -1);
	CHECK(strstr(err_str(&e), "checksum") != NULL);
	err_release(&e);
	t.buf[3] ^= 1;
	CHECK_INT(certs_from_tar(t.buf, 700, &p, &e), -1);
	CHECK_STR(err_str(&e), "the tar archive is cut short");
	err_release(&e);
	sbuf_release(&t);
	sbuf_release(&big);
}

static void test_check(void)
{
	struct certs_info in;
	struct err e = ERR_INIT;
	struct sbuf chain = SBUF_INIT;

	CHECK_INT(certs_check(leaf_pem, key1_pem, &in, &e), 0);
	CHECK_STR(in.subject, "CN=shop.test");
	CHECK_STR(in.issuer, "CN=shop.test");
	CHECK(in.self_signed);
	CHECK(!in.verified);
	CHECK_INT(in.names.nr, 2);
	CHECK(in.not_after > in.not_before);
	CHECK(certs_covers(&in, "shop.test"));
	CHECK(certs_covers(&in, "WWW.shop.test"));
	CHECK(!certs_covers(&in, "a.b.shop.test"));
	CHECK(!certs_covers(&in, "other.test"));
	certs_info_release(&in);

	/* the key of another certificate */
	CHECK_INT(certs_check(leaf_pem, key2_pem, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "does not match") != NULL);
	/* the error never quotes the key */
	CHECK(strstr(err_str(&e), "PRIVATE") == NULL);
	err_release(&e);

	/* garbage */
	CHECK_INT(certs_check("not a pem", key1_pem, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "cannot read a certificate") != NULL);
	err_release(&e);
	CHECK_INT(certs_check(leaf_pem,
			      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
			      "KEY-----\n",
			      NULL, &e),
		  -1);
	CHECK(strstr(err_str(&e), "cannot read a private key") != NULL);
	err_release(&e);

	/* a leaf with its chain: issuer from the CA, not self-signed, not in the trust store */
	sbuf_addstr(&chain, inter_leaf_pem);
	sbuf_addstr(&chain, ca_pem);
	CHECK_INT(certs_check(chain.buf, key1_pem, &in, &e), 0);
	CHECK_STR(in.subject, "CN=api.test");
	CHECK_STR(in.issuer, "CN=Test CA");
	CHECK(!in.self_signed);
	CHECK(!in.verified);
	certs_info_release(&in);
	/* a broken certificate in the chain */
	sbuf_addstr(&chain, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	CHECK_INT(certs_check(chain.buf, key1_pem, NULL, &e), -1);
	err_release(&e);
	sbuf_release(&chain);
}

static void test_time(void)
{
	char buf[32];

	certs_time(buf, sizeof(buf), 0);
	CHECK_STR(buf, "1970-01-01T00:00:00Z");
}

int main(void)
{
	setup();
	UNIT_RUN(test_tar_finds_the_pair);
	UNIT_RUN(test_tar_refuses);
	UNIT_RUN(test_check);
	UNIT_RUN(test_time);
	return unit_done();
}
