#include "proxy/acme.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/run.h"
#include "lib/xalloc.h"
#include "unit.h"

static char *b64(const void *p, size_t n)
{
	struct sbuf sb = SBUF_INIT;

	acme_b64url(p, n, &sb);
	return sbuf_detach(&sb, NULL);
}

static char *unb64(const char *s)
{
	struct sbuf sb = SBUF_INIT;

	if (acme_b64url_decode(s, strlen(s), &sb) < 0) {
		sbuf_release(&sb);
		return NULL;
	}
	return sbuf_detach(&sb, NULL);
}

static void test_b64url(void)
{
	static const unsigned char bin[] = {0xfb, 0xff, 0xfe};
	char *s;

	s = b64("", 0);
	CHECK_STR(s, "");
	free(s);
	s = b64("f", 1);
	CHECK_STR(s, "Zg");
	free(s);
	s = b64("fo", 2);
	CHECK_STR(s, "Zm8");
	free(s);
	s = b64("foob", 4);
	CHECK_STR(s, "Zm9vYg");
	free(s);
	s = b64(bin, 3);
	CHECK_STR(s, "-__-");
	free(s);
	s = unb64("Zm9vYg");
	CHECK_STR(s, "foob");
	free(s);
	CHECK(unb64("Zm9=") == NULL);
	CHECK(unb64("Z") == NULL);
}

static const char rfc7638_jwk[] =
    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1"
    "RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6C"
    "f0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD"
    "08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz"
    "KnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";

static void test_thumbprint_rfc7638(void)
{
	struct sbuf tp = SBUF_INIT, ka = SBUF_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(acme_jwk_thumbprint(rfc7638_jwk, &tp, &e), 0);
	CHECK_STR(tp.buf, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	acme_key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", tp.buf, &ka);
	CHECK_STR(ka.buf, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_"
			  "7noWXFZAfHkxZsRGC9Xs");
	sbuf_reset(&tp);
	CHECK_INT(acme_jwk_thumbprint("{\"kty\":\"RSA\",\"e\":\"AQAB\"}", &tp, &e), -1);
	CHECK_STR(err_str(&e), "JWK of type 'RSA' has no \"n\"");
	CHECK_INT(acme_jwk_thumbprint("{\"kty\":\"OKP\"}", &tp, &e), -1);
	sbuf_release(&tp);
	sbuf_release(&ka);
	err_release(&e);
}

static void test_jwk_of_key(void)
{
	EVP_PKEY *k = acme_key_new();
	struct sbuf jwk = SBUF_INIT, tp = SBUF_INIT, pem = SBUF_INIT, jwk2 = SBUF_INIT;
	json_t *j;
	char *x, *y;
	EVP_PKEY *back;

	CHECK(k != NULL);
	CHECK_INT(acme_jwk(k, &jwk), 0);
	j = json_loads(jwk.buf, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(j, "kty")), "EC");
	CHECK_STR(json_string_value(json_object_get(j, "crv")), "P-256");
	x = unb64(json_string_value(json_object_get(j, "x")));
	y = unb64(json_string_value(json_object_get(j, "y")));
	CHECK(x && y);
	CHECK_INT(strlen(json_string_value(json_object_get(j, "x"))), 43);
	CHECK_INT(acme_jwk_thumbprint(jwk.buf, &tp, NULL), 0);
	CHECK_INT(tp.len, 43);
	/* The key read back from its PEM is the same key. */
	CHECK_INT(acme_key_pem(k, &pem), 0);
	back = acme_key_from_pem(pem.buf, pem.len);
	CHECK(back != NULL);
	CHECK_INT(acme_jwk(back, &jwk2), 0);
	CHECK_STR(jwk2.buf, jwk.buf);
	CHECK(acme_key_from_pem("nope", 4) == NULL);
	json_decref(j);
	free(x);
	free(y);
	EVP_PKEY_free(k);
	EVP_PKEY_free(back);
	sbuf_release(&jwk);
	sbuf_release(&jwk2);
	sbuf_release(&tp);
	sbuf_release(&pem);
}

/* Verifies a flattened ES256 JWS with OpenSSL; returns its protected header. */
static json_t *verify_jws(const char *jws, EVP_PKEY *key, char **payload)
{
	json_t *j = json_loads(jws, 0, NULL), *hdr = NULL;
	const char *prot = json_string_value(json_object_get(j, "protected"));
	const char *pay = json_string_value(json_object_get(j, "payload"));
	const char *sig64 = json_string_value(json_object_get(j, "signature"));
	struct sbuf input = SBUF_INIT, sig = SBUF_INIT;
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *der = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *h;
	int dlen;

	CHECK(prot && pay && sig64);
	if (!prot || !pay || !sig64) {
		goto out;
	}
	sbuf_addf(&input, "%s.%s", prot, pay);
	CHECK_INT(acme_b64url_decode(sig64, strlen(sig64), &sig), 0);
	CHECK_INT(sig.len, 64);
	ECDSA_SIG_set0(es, BN_bin2bn((unsigned char *)sig.buf, 32, NULL),
		       BN_bin2bn((unsigned char *)sig.buf + 32, 32, NULL));
	dlen = i2d_ECDSA_SIG(es, &der);
	CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1);
	CHECK(EVP_DigestVerify(md, der, (size_t)dlen, (unsigned char *)input.buf, input.len) == 1);
	h = unb64(prot);
	hdr = json_loads(h, 0, NULL);
	free(h);
	*payload = unb64(pay);
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	sbuf_release(&input);
	sbuf_release(&sig);
	json_decref(j);
	return hdr;
}

static void test_jws(void)
{
	EVP_PKEY *k = acme_key_new();
	struct sbuf jws = SBUF_INIT, jwk = SBUF_INIT;
	json_t *hdr;
	char *payload = NULL, *got;

	acme_jwk(k, &jwk);
	CHECK_INT(acme_jws(k, NULL, "n0nce", "https://ca/new-acct", "{\"a\":1}", &jws), 0);
	hdr = verify_jws(jws.buf, k, &payload);
	CHECK_STR(json_string_value(json_object_get(hdr, "alg")), "ES256");
	CHECK_STR(json_string_value(json_object_get(hdr, "nonce")), "n0nce");
	CHECK_STR(json_string_value(json_object_get(hdr, "url")), "https://ca/new-acct");
	CHECK(json_object_get(hdr, "kid") == NULL);
	got = json_dumps(json_object_get(hdr, "jwk"), JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(got, jwk.buf);
	free(got);
	CHECK_STR(payload, "{\"a\":1}");
	json_decref(hdr);
	free(payload);

	/* After newAccount: "kid", no "jwk"; POST-as-GET has an empty payload. */
	sbuf_reset(&jws);
	CHECK_INT(acme_jws(k, "https://ca/acct/1", "n2", "https://ca/order/1", NULL, &jws), 0);
	hdr = verify_jws(jws.buf, k, &payload);
	CHECK_STR(json_string_value(json_object_get(hdr, "kid")), "https://ca/acct/1");
	CHECK(json_object_get(hdr, "jwk") == NULL);
	CHECK_STR(payload, "");
	json_decref(hdr);
	free(payload);
	EVP_PKEY_free(k);
	sbuf_release(&jws);
	sbuf_release(&jwk);
}

static void test_dns01_value(void)
{
	struct sbuf v = SBUF_INIT;
	unsigned char md[32];
	char *want;
	const char *ka = "tok.thumb";

	acme_dns01_value(ka, &v);
	EVP_Digest(ka, strlen(ka), md, NULL, EVP_sha256(), NULL);
	want = b64(md, 32);
	CHECK_STR(v.buf, want);
	CHECK_INT(v.len, 43);
	free(want);
	sbuf_release(&v);
}

static void test_alpn_cert(void)
{
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *data;
	GENERAL_NAMES *gens;
	unsigned char md[32];
	int idx;

	CHECK_INT(acme_alpn_cert("a.example.com", "tok.thumb", &x, &k), 0);
	CHECK(X509_verify(x, k) == 1);
	CHECK(X509_check_private_key(x, k) == 1);
	idx = X509_get_ext_by_OBJ(x, oid, -1);
	CHECK(idx >= 0);
	ext = X509_get_ext(x, idx);
	CHECK(X509_EXTENSION_get_critical(ext) == 1);
	data = X509_EXTENSION_get_data(ext);
	EVP_Digest("tok.thumb", 9, md, NULL, EVP_sha256(), NULL);
	CHECK_INT(ASN1_STRING_length(data), 34);
	CHECK(ASN1_STRING_get0_data(data)[0] == 0x04 && ASN1_STRING_get0_data(data)[1] == 32);
	CHECK(!memcmp(ASN1_STRING_get0_data(data) + 2, md, 32));
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	CHECK_INT(sk_GENERAL_NAME_num(gens), 1);
	CHECK_STR((const char *)ASN1_STRING_get0_data(sk_GENERAL_NAME_value(gens, 0)->d.dNSName),
		  "a.example.com");
	GENERAL_NAMES_free(gens);
	ASN1_OBJECT_free(oid);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_csr(void)
{
	struct strvec names = STRVEC_INIT;
	EVP_PKEY *k = acme_key_new();
	X509_REQ *req;
	STACK_OF(X509_EXTENSION) * exts;
	GENERAL_NAMES *gens = NULL;
	char cn[128] = "";
	int i;

	strvec_pushv(&names, (const char *[]){"www.example.com", "*.example.com", NULL});
	req = acme_csr_new(&names, k);
	CHECK(req != NULL);
	CHECK(X509_REQ_verify(req, k) == 1);
	X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn));
	CHECK_STR(cn, "www.example.com");
	exts = X509_REQ_get_extensions(req);
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *x = sk_X509_EXTENSION_value(exts, i);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(x)) == NID_subject_alt_name) {
			gens = X509V3_EXT_d2i(x);
		}
	}
	CHECK(gens != NULL);
	CHECK_INT(sk_GENERAL_NAME_num(gens), 2);
	for (i = 0; gens && i < 2; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		CHECK_INT(g->type, GEN_DNS);
		CHECK_STR((const char *)ASN1_STRING_get0_data(g->d.dNSName), names.v[i]);
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	strvec_clear(&names);
}

static void check_problem(const char *json, const char *names, enum acme_challenge c,
			  const char *want)
{
	struct sbuf sb = SBUF_INIT;

	acme_problem_describe(json, strlen(json), names, c, &sb);
	CHECK_STR(sb.buf, want);
	sbuf_release(&sb);
}

static void test_problem_messages(void)
{
	check_problem("{\"type\":\"urn:ietf:params:acme:error:connection\",\"detail\":\"127.0.0.1: "
		      "connection refused\"}",
		      "example.com", ACME_HTTP01,
		      "port 80 is not reachable from the CA (example.com: 127.0.0.1: connection "
		      "refused)");
	check_problem("{\"type\":\"urn:ietf:params:acme:error:connection\",\"detail\":\"timeout\"}",
		      "example.com", ACME_TLSALPN01,
		      "port 443 is not reachable from the CA (example.com: timeout)");
	check_problem("{\"type\":\"urn:ietf:params:acme:error:dns\",\"detail\":\"NXDOMAIN\"}",
		      "example.com", ACME_HTTP01,
		      "example.com does not resolve to this host (the CA's DNS lookup failed: "
		      "NXDOMAIN)");
	check_problem("{\"type\":\"urn:ietf:params:acme:error:unauthorized\",\"detail\":\"got "
		      "404\"}",
		      "example.com", ACME_HTTP01,
		      "example.com does not resolve to this host: the CA got another answer to the "
		      "challenge (got 404)");
	check_problem("{\"type\":\"urn:ietf:params:acme:error:incorrectResponse\",\"detail\":\"no "
		      "TXT\"}",
		      "example.com", ACME_DNS01,
		      "the CA did not find the expected TXT record at _acme-challenge.example.com "
		      "(no TXT)");
	check_problem("{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"detail\":\"too many "
		      "certificates\"}",
		      "example.com", ACME_HTTP01,
		      "the CA's rate limit was reached, retrying later: too many certificates");
	check_problem("{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":"
		      "\"blocked\"}",
		      "bad.example.com", ACME_HTTP01,
		      "the CA refuses to issue for bad.example.com: blocked");
	check_problem("{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"bad "
		      "CSR\"}",
		      "example.com", ACME_HTTP01, "the CA refused: bad CSR");
	check_problem("{\"type\":\"about:blank\"}", NULL, ACME_HTTP01,
		      "the CA refused: about:blank");
	/* Subproblems name their identifiers: each becomes its own sentence. */
	check_problem(
	    "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"some\","
	    "\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:caa\",\"detail\":\"CAA "
	    "forbids\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example.com\"}},{\"type\":"
	    "\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"no\",\"identifier\":{"
	    "\"type\":\"dns\",\"value\":\"b.example.com\"}}]}",
	    "a.example.com, b.example.com", ACME_HTTP01,
	    "the CAA records of a.example.com do not allow this CA to issue (CAA forbids); the CA "
	    "refuses to issue for b.example.com: no");
	check_problem("<html>", NULL, ACME_HTTP01, "the CA refused: <html>");
	CHECK(
	    acme_problem_is("{\"type\":\"urn:ietf:params:acme:error:badNonce\"}", 46, "badNonce"));
	CHECK(!acme_problem_is("{\"type\":\"urn:ietf:params:acme:error:malformed\"}", 47,
			       "badNonce"));
	CHECK(!acme_problem_is("x", 1, "badNonce"));
}

static void test_timing(void)
{
	const uint64_t day = 86400000ull;
	uint64_t ms = 0;

	CHECK_INT(acme_renew_at(0, 90 * day), 60 * day);
	CHECK_INT(acme_renew_at(1000, 7000), 5000);
	CHECK_INT(acme_renew_at(5000, 5000), 5000);
	CHECK_INT(acme_backoff_ms(1, 60000, 3600000), 60000);
	CHECK_INT(acme_backoff_ms(2, 60000, 3600000), 120000);
	CHECK_INT(acme_backoff_ms(4, 60000, 3600000), 480000);
	CHECK_INT(acme_backoff_ms(7, 60000, 3600000), 3600000);
	CHECK_INT(acme_backoff_ms(1000, 60000, 3600000), 3600000);
	CHECK(acme_retry_after_ms("5", 0, &ms));
	CHECK_INT(ms, 5000);
	CHECK(acme_retry_after_ms("Thu, 01 Jan 1970 00:01:40 GMT", 90, &ms));
	CHECK_INT(ms, 10000);
	CHECK(acme_retry_after_ms("Thu, 01 Jan 1970 00:01:40 GMT", 200, &ms));
	CHECK_INT(ms, 0);
	CHECK(!acme_retry_after_ms("soon", 0, &ms));
	CHECK(!acme_retry_after_ms("", 0, &ms));
}

static void test_documents(void)
{
	static const char dir[] =
	    "{\"newNonce\":\"https://ca/nonce\",\"newAccount\":\"https://ca/acct\",\"newOrder\":"
	    "\"https://ca/order\",\"meta\":{\"termsOfService\":\"https://ca/tos\"}}";
	static const char order[] =
	    "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example."
	    "com\"}"
	    "],\"authorizations\":[\"https://ca/authz/1\",\"https://ca/authz/2\"],\"finalize\":"
	    "\"https://ca/fin/1\"}";
	static const char authz[] =
	    "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"example.com\"},"
	    "\"wildcard\":true,\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://ca/ch/1\","
	    "\"token\":\"tok\",\"status\":\"pending\"}]}";
	static const char authz2[] =
	    "{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example.com\"},"
	    "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca/ch/2\",\"token\":\"t2\","
	    "\"status\":\"invalid\",\"error\":{\"type\":\"urn:ietf:params:acme:error:connection\"}}"
	    ","
	    "{\"type\":\"tls-alpn-01\",\"url\":\"https://ca/ch/3\",\"token\":\"t3\"}]}";
	struct acme_directory d = {0};
	struct acme_order o = {0};
	struct acme_authz a = {0};
	struct err e = ERR_INIT;

	CHECK_INT(acme_directory_parse(dir, strlen(dir), &d, &e), 0);
	CHECK_STR(d.new_nonce, "https://ca/nonce");
	CHECK_STR(d.new_order, "https://ca/order");
	CHECK_STR(d.terms, "https://ca/tos");
	acme_directory_release(&d);
	CHECK_INT(acme_directory_parse("{\"a\":1}", 7, &d, &e), -1);
	CHECK(strstr(err_str(&e), "is the URL an ACME directory?") != NULL);
	CHECK_INT(acme_directory_parse("<html>", 6, &d, &e), -1);
	CHECK(strstr(err_str(&e), "the CA's directory is not JSON") != NULL);

	CHECK_INT(acme_order_parse(order, strlen(order), &o, &e), 0);
	CHECK_STR(o.status, "pending");
	CHECK_INT(o.authorizations.nr, 2);
	CHECK_STR(o.authorizations.v[1], "https://ca/authz/2");
	CHECK_STR(o.finalize, "https://ca/fin/1");
	CHECK(o.certificate == NULL && o.error == NULL);
	acme_order_release(&o);

	CHECK_INT(acme_authz_parse(authz, strlen(authz), &a, &e), 0);
	CHECK(a.wildcard);
	CHECK_STR(a.name, "*.example.com");
	CHECK_INT(acme_authz_pick(&a, ACME_HTTP01, true, &e), 0);
	CHECK_INT(acme_authz_pick(&a, ACME_HTTP01, false, &e), -1);
	CHECK_STR(err_str(&e), "*.example.com is a wildcard name: it needs the dns-01 challenge, "
			       "set --acme-dns-command");
	acme_authz_release(&a);

	CHECK_INT(acme_authz_parse(authz2, strlen(authz2), &a, &e), 0);
	CHECK(!a.wildcard);
	CHECK_INT(acme_authz_pick(&a, ACME_TLSALPN01, false, &e), 1);
	CHECK_INT(acme_authz_pick(&a, ACME_HTTP01, false, &e), 0);
	CHECK(a.chall[0].error && strstr(a.chall[0].error, "connection"));
	CHECK_INT(acme_authz_pick(&a, ACME_DNS01, true, &e), -1);
	CHECK_STR(err_str(&e), "the CA offers no dns-01 challenge for a.example.com");
	acme_authz_release(&a);
	err_release(&e);
}

static void test_names(void)
{
	struct strvec v = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;
	enum acme_challenge c;

	CHECK(acme_name_valid("example.com"));
	CHECK(acme_name_valid("*.example.com"));
	CHECK(acme_name_valid("a-b.c0.example"));
	CHECK(!acme_name_valid("localhost"));
	CHECK(!acme_name_valid("a..b"));
	CHECK(!acme_name_valid("-a.b"));
	CHECK(!acme_name_valid("a-.b"));
	CHECK(!acme_name_valid("a.b."));
	CHECK(!acme_name_valid("a.*.b"));
	CHECK(!acme_name_valid("a b.c"));
	CHECK(!acme_name_valid("a/b.c"));
	CHECK(!acme_name_valid(""));
	strvec_pushv(&v, (const char *[]){"www.B.com", "*.a.com", "b.com", NULL});
	acme_cert_dirname(&v, &sb);
	CHECK_STR(sb.buf, "_.a.com+b.com+www.b.com");
	CHECK_INT(acme_challenge_parse("tls-alpn-01", &c, NULL), 0);
	CHECK_INT(c, ACME_TLSALPN01);
	CHECK_INT(acme_challenge_parse("http-02", &c, NULL), -1);
	strvec_clear(&v);
	sbuf_release(&sb);
}

static void test_store(void)
{
	struct acme_store s;
	struct sbuf sb = SBUF_INIT;
	X509 *x, *got_x = NULL;
	EVP_PKEY *k, *got_k = NULL;

	acme_store_init(&s);
	acme_store_set_http(&s, "tok1", "tok1.th");
	acme_store_set_http(&s, "tok2", "tok2.th");
	acme_store_set_http(&s, "tok1", "tok1.again");
	CHECK(acme_store_http_answer(&s, slice_cstr("/.well-known/acme-challenge/tok1"), &sb));
	CHECK_STR(sb.buf, "tok1.again");
	sbuf_reset(&sb);
	CHECK(!acme_store_http_answer(&s, slice_cstr("/.well-known/acme-challenge/tok"), &sb));
	CHECK(!acme_store_http_answer(&s, slice_cstr("/.well-known/acme-challenge/"), &sb));
	CHECK(!acme_store_http_answer(&s, slice_cstr("/tok1"), &sb));
	acme_store_del_http(&s, "tok1");
	CHECK(!acme_store_http_answer(&s, slice_cstr("/.well-known/acme-challenge/tok1"), &sb));
	CHECK(acme_store_http_answer(&s, slice_cstr("/.well-known/acme-challenge/tok2"), &sb));

	CHECK_INT(acme_alpn_cert("a.example.com", "k", &x, &k), 0);
	acme_store_set_alpn(&s, "a.example.com", x, k);
	X509_free(x);
	EVP_PKEY_free(k);
	CHECK(!acme_store_alpn(&s, "b.example.com", &got_x, &got_k));
	CHECK(acme_store_alpn(&s, "A.Example.com", &got_x, &got_k));
	CHECK(got_x == x && got_k == k);
	acme_store_del_alpn(&s, "a.example.com");
	/* The caller's references outlive the entry. */
	CHECK(X509_check_private_key(got_x, got_k) == 1);
	X509_free(got_x);
	EVP_PKEY_free(got_k);
	CHECK(!acme_store_alpn(&s, "a.example.com", &got_x, &got_k));
	acme_store_release(&s);
	sbuf_release(&sb);
}

/* ---- the manager, with an injected clock and issuer ---- */

static uint64_t fake_now;
static int issued, fail_issue, certs_seen, errors_seen;
static char last_error[512];
static char last_names[256];

static uint64_t fake_clock(void *data)
{
	return fake_now;
}

/* A self-signed certificate valid from now for 90 days of the fake clock. */
static int fake_issue(struct acme_manager *m, const struct strvec *names, struct acme_cert *out,
		      struct err *e)
{
	EVP_PKEY *k = acme_key_new();
	X509 *x = X509_new();
	X509_REQ *req = acme_csr_new(names, k);
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	struct sbuf key = SBUF_INIT;
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *joined = strvec_join(names, ",");
	long n;

	snprintf(last_names, sizeof(last_names), "%s", joined);
	free(joined);
	issued++;
	if (fail_issue) {
		err_set(e, "the CA refused: no");
	} else {
		ASN1_INTEGER_set(X509_get_serialNumber(x), issued);
		X509_set_version(x, 2);
		ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(fake_now / 1000));
		ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(fake_now / 1000 + 90 * 86400));
		X509_set_pubkey(x, k);
		X509_add_ext(x, sk_X509_EXTENSION_value(exts, 0), -1);
		X509_sign(x, k, EVP_sha256());
		PEM_write_bio_X509(b, x);
		n = BIO_get_mem_data(b, &p);
		out->cert_pem = xstrndup(p, (size_t)n);
		acme_key_pem(k, &key);
		out->key_pem = sbuf_detach(&key, NULL);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	BIO_free(b);
	X509_REQ_free(req);
	X509_free(x);
	EVP_PKEY_free(k);
	return fail_issue ? -1 : 0;
}

static void on_cert(void *data, const struct strvec *names, const char *cert, const char *key)
{
	__atomic_add_fetch(&certs_seen, 1, __ATOMIC_SEQ_CST);
	CHECK(strstr(cert, "BEGIN CERTIFICATE") != NULL);
	CHECK(strstr(key, "PRIVATE KEY") != NULL);
}

static void on_error(void *data, const struct strvec *names, const char *msg)
{
	errors_seen++;
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

static void manager_setup(struct acme_manager *m, struct acme_store *s, const char *dir)
{
	struct acme_config cfg = {0};

	cfg.state_dir = xstrdup(dir);
	cfg.retry_min_ms = 60000;
	cfg.retry_max_ms = 600000;
	acme_manager_init(m, &cfg, s);
	m->clock = fake_clock;
	m->issue = fake_issue;
	m->on_cert = on_cert;
	m->on_error = on_error;
}

static void test_manager(void)
{
	const uint64_t day = 86400000ull, t0 = 1700000000000ull;
	char tmpl[] = "/tmp/test-acme-XXXXXX";
	char *dir = mkdtemp(tmpl);
	struct acme_store s;
	struct acme_manager m;
	struct strvec want[2] = {STRVEC_INIT, STRVEC_INIT};
	struct sbuf path = SBUF_INIT, before = SBUF_INIT, after = SBUF_INIT;
	struct err e = ERR_INIT;
	struct stat st;
	uint64_t next;

	CHECK(dir != NULL);
	acme_store_init(&s);
	manager_setup(&m, &s, dir);
	fake_now = t0;
	issued = certs_seen = errors_seen = fail_issue = 0;

	/* Nothing wanted: nothing asked for. */
	CHECK(acme_manager_step(&m) == UINT64_MAX);
	CHECK_INT(issued, 0);

	strvec_pushv(&want[0], (const char *[]){"www.example.com", "Example.com", NULL});
	CHECK_INT(acme_manager_want(&m, want, 1, &e), 0);
	next = acme_manager_step(&m);
	CHECK_INT(issued, 1);
	CHECK_INT(certs_seen, 1);
	CHECK_STR(last_names, "example.com,www.example.com");
	CHECK_INT(next, t0 + 60 * day);
	sbuf_addf(&path, "%s/acme/certs/example.com+www.example.com/key.pem", dir);
	CHECK_INT(stat(path.buf, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/acme/certs/example.com+www.example.com/cert.pem", dir);
	CHECK_INT(stat(path.buf, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	/* Not yet due: nothing happens. */
	fake_now = t0 + 59 * day;
	CHECK_INT(acme_manager_step(&m), t0 + 60 * day);
	CHECK_INT(issued, 1);

	/* A third of the lifetime left: renewed. */
	fake_now = t0 + 60 * day + 1000;
	CHECK_INT(acme_manager_step(&m), fake_now + 60 * day);
	CHECK_INT(issued, 2);
	CHECK_INT(certs_seen, 2);

	/* A failing renewal backs off, doubling, and keeps the certificate in place. */
	sbuf_read_file(&before, path.buf);
	fail_issue = 1;
	fake_now += 60 * day;
	CHECK_INT(acme_manager_step(&m), fake_now + 60000);
	CHECK_INT(issued, 3);
	CHECK_INT(errors_seen, 1);
	CHECK_STR(last_error, "the CA refused: no");
	fake_now += 30000;
	CHECK_INT(acme_manager_step(&m), fake_now + 30000);
	CHECK_INT(issued, 3);
	fake_now += 30000;
	CHECK_INT(acme_manager_step(&m), fake_now + 120000);
	fake_now += 120000;
	CHECK_INT(acme_manager_step(&m), fake_now + 240000);
	fake_now += 240000;
	CHECK_INT(acme_manager_step(&m), fake_now + 480000);
	fake_now += 480000;
	CHECK_INT(acme_manager_step(&m), fake_now + 600000); /* the cap */
	CHECK_INT(issued, 7);
	CHECK_INT(certs_seen, 2);
	sbuf_read_file(&after, path.buf);
	CHECK_STR(after.buf, before.buf);

	/* Success again resets the backoff. */
	fail_issue = 0;
	fake_now += 600000;
	CHECK_INT(acme_manager_step(&m), fake_now + 60 * day);
	CHECK_INT(certs_seen, 3);
	acme_manager_release(&m);

	/* A new manager finds the certificate on disk and hands it over without asking. */
	manager_setup(&m, &s, dir);
	issued = certs_seen = 0;
	CHECK_INT(acme_manager_want(&m, want, 1, &e), 0);
	CHECK_INT(acme_manager_step(&m), fake_now + 60 * day);
	CHECK_INT(issued, 0);
	CHECK_INT(certs_seen, 1);

	/* A second set is added; a set that goes is no longer renewed. */
	strvec_pushv(&want[1], (const char *[]){"api.example.com", NULL});
	CHECK_INT(acme_manager_want(&m, want + 1, 1, &e), 0);
	acme_manager_step(&m);
	CHECK_INT(issued, 1);
	CHECK_STR(last_names, "api.example.com");
	/* Both again, in the order that keeps the first before the second is looked up. */
	CHECK_INT(acme_manager_want(&m, want, 2, &e), 0);
	CHECK_INT(acme_manager_want(&m, want, 2, &e), 0);
	acme_manager_step(&m);
	CHECK_INT(issued, 1);
	fake_now += 365 * day;
	CHECK_INT(acme_manager_want(&m, NULL, 0, &e), 0);
	CHECK(acme_manager_step(&m) == UINT64_MAX);
	CHECK_INT(issued, 1);

	/* A bad name is refused up front. */
	strvec_push(&want[1], "bad name.example.com");
	CHECK_INT(acme_manager_want(&m, want, 2, &e), -1);
	CHECK_STR(err_str(&e), "'bad name.example.com' is not a DNS name a certificate can be "
			       "issued for");
	acme_manager_release(&m);
	acme_store_release(&s);

	{
		struct run_cmd rm = RUN_CMD_INIT;

		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	strvec_clear(&want[0]);
	strvec_clear(&want[1]);
	sbuf_release(&path);
	sbuf_release(&before);
	sbuf_release(&after);
	err_release(&e);
}

/* The manager's own thread: wakes when the wanted set changes, stops when asked. */
/* acme_manager_set_account: a new email is a new account; a new directory orders again. */
static void test_manager_set_account(void)
{
	const uint64_t day = 86400000ull, t0 = 1700000000000ull;
	char tmpl[] = "/tmp/test-acme-XXXXXX";
	char *dir = mkdtemp(tmpl);
	struct acme_store s;
	struct acme_manager m;
	struct strvec want = STRVEC_INIT;
	struct err e = ERR_INIT;

	CHECK(dir != NULL);
	acme_store_init(&s);
	manager_setup(&m, &s, dir);
	fake_now = t0;
	issued = certs_seen = errors_seen = fail_issue = 0;
	strvec_push(&want, "a.example.com");
	CHECK_INT(acme_manager_want(&m, &want, 1, &e), 0);
	CHECK_INT(acme_manager_step(&m), t0 + 60 * day);
	CHECK_INT(issued, 1);
	CHECK(m.cfg.account_key == NULL); /* the boot's: account.key */

	/* Another email, the same CA: the next order's account; nothing ordered now. */
	fake_now = t0 + day;
	acme_manager_set_account(&m, "dev@example.com", NULL);
	CHECK_INT(acme_manager_step(&m), t0 + 60 * day);
	CHECK_INT(issued, 1);
	CHECK_STR(m.cfg.email, "dev@example.com");
	CHECK_STR(m.cfg.directory_url, ACME_LETSENCRYPT_URL);
	CHECK(!strncmp(m.cfg.account_key, "accounts/", 9));

	/* Another CA: the certificate is ordered again from it, at once. */
	acme_manager_set_account(&m, "dev@example.com", "https://ca.example.com/dir");
	CHECK_INT(acme_manager_step(&m), t0 + 61 * day);
	CHECK_INT(issued, 2);
	CHECK_INT(certs_seen, 2);
	CHECK_STR(m.cfg.directory_url, "https://ca.example.com/dir");

	/* Back to the boot's pair: its key file, and the first CA again. */
	fake_now = t0 + 2 * day;
	acme_manager_set_account(&m, NULL, NULL);
	acme_manager_step(&m);
	CHECK_INT(issued, 3);
	CHECK(m.cfg.email == NULL);
	CHECK_STR(m.cfg.account_key, "account.key");

	acme_manager_release(&m);
	acme_store_release(&s);
	strvec_clear(&want);
	{
		struct run_cmd rm = RUN_CMD_INIT;

		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
}

static void test_manager_thread(void)
{
	char tmpl[] = "/tmp/test-acme-XXXXXX";
	char *dir = mkdtemp(tmpl);
	struct acme_store s;
	struct acme_manager m;
	struct strvec want = STRVEC_INIT;
	struct err e = ERR_INIT;
	int i;

	CHECK(dir != NULL);
	acme_store_init(&s);
	manager_setup(&m, &s, dir);
	fake_now = 1700000000000ull;
	issued = certs_seen = errors_seen = fail_issue = 0;
	CHECK_INT(acme_manager_start(&m, &e), 0);
	strvec_push(&want, "thread.example.com");
	CHECK_INT(acme_manager_want(&m, &want, 1, &e), 0);
	/* Bounded: the thread has nothing else to do than this issuance. */
	for (i = 0; i < 500 && __atomic_load_n(&certs_seen, __ATOMIC_SEQ_CST) < 1; i++) {
		usleep(10000);
	}
	CHECK_INT(__atomic_load_n(&certs_seen, __ATOMIC_SEQ_CST), 1);
	acme_manager_stop(&m);
	CHECK_INT(issued, 1);
	acme_manager_release(&m);
	acme_store_release(&s);
	{
		struct run_cmd rm = RUN_CMD_INIT;

		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	strvec_clear(&want);
	err_release(&e);
}

/* A stop cuts a transfer short: a CA that never answers does not hold the thread. */
static void test_client_stop(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct acme_config cfg = {0};
	struct acme_store s;
	struct acme_client c;
	struct acme_cert cert;
	struct strvec names = STRVEC_INIT;
	struct err e = ERR_INIT;
	struct sbuf url = SBUF_INIT;
	atomic_bool stop;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Listening but never accepting: the connection is made, no answer ever comes. */
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0 &&
	      getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	sbuf_addf(&url, "http://127.0.0.1:%d/dir", ntohs(sa.sin_port));
	cfg.directory_url = url.buf;
	cfg.state_dir = "/nonexistent";
	atomic_init(&stop, true);
	acme_store_init(&s);
	acme_client_init(&c, &cfg, &s);
	c.stop = &stop;
	strvec_push(&names, "stop.example.com");
	CHECK_INT(acme_issue(&c, &names, &cert, &e), -1);
	CHECK_STR(err_str(&e), "stopped");
	acme_client_release(&c);
	acme_store_release(&s);
	strvec_clear(&names);
	sbuf_release(&url);
	err_release(&e);
	close(fd);
}

int main(void)
{
	UNIT_RUN(test_b64url);
	UNIT_RUN(test_thumbprint_rfc7638);
	UNIT_RUN(test_jwk_of_key);
	UNIT_RUN(test_jws);
	UNIT_RUN(test_dns01_value);
	UNIT_RUN(test_alpn_cert);
	UNIT_RUN(test_csr);
	UNIT_RUN(test_problem_messages);
	UNIT_RUN(test_timing);
	UNIT_RUN(test_documents);
	UNIT_RUN(test_names);
	UNIT_RUN(test_store);
	UNIT_RUN(test_manager);
	UNIT_RUN(test_manager_set_account);
	UNIT_RUN(test_manager_thread);
	UNIT_RUN(test_client_stop);
	return unit_done();
}
