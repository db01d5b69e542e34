/* certs — see certs.h. */
#include "daemon/certs.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "lib/banned.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "daemon/untar.h"
#include "proxy/tls.h"

void certs_pair_release(struct certs_pair *p)
{
	if (p->key) {
		OPENSSL_cleanse(p->key, strlen(p->key));
	}
	free(p->crt);
	free(p->key);
	free(p->crt_name);
	free(p->key_name);
	memset(p, 0, sizeof(*p));
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* What the tar reader's callbacks fill. */
struct pair_reader {
	struct certs_pair *p;
	char **dst, **dst_name; /* where the entry being read goes; NULL: skipped */
	struct sbuf data;
};

static int pair_entry(void *ctx, const struct untar_entry *en, struct err *e)
{
	struct pair_reader *r = ctx;
	struct certs_pair *p = r->p;
	struct sbuf name = SBUF_INIT;
	const char *base;
	int ret = -1;

	r->dst = r->dst_name = NULL;
	if (en->type != UNTAR_FILE) {
		return 0; /* directories, links, devices: not ours */
	}
	sbuf_addstr(&name, en->path);
	sbuf_rtrim(&name);
	base = strrchr(name.buf, '/');
	base = base ? base + 1 : name.buf;
	if (!strncmp(base, "._", 2)) {
		ret = 0; /* macOS's resource forks */
		goto out;
	}
	if (ends_with(base, ".crt") || ends_with(base, ".pem")) {
		r->dst = &p->crt;
		r->dst_name = &p->crt_name;
	} else if (ends_with(base, ".key")) {
		r->dst = &p->key;
		r->dst_name = &p->key_name;
	} else {
		ret = 0;
		goto out;
	}
	if (*r->dst) {
		err_set(e, "the tar holds two %s: '%s' and '%s' (one of each expected)",
			r->dst == &p->crt ? "certificates" : "keys", *r->dst_name, name.buf);
		goto out;
	}
	if (en->size > CERTS_FILE_MAX) {
		err_set(e, "'%s' is larger than %d bytes: not a PEM file", name.buf,
			CERTS_FILE_MAX);
		goto out;
	}
	*r->dst_name = sbuf_detach(&name, NULL);
	sbuf_reset(&r->data);
	ret = 0;
out:
	sbuf_release(&name);
	return ret;
}

static int pair_data(void *ctx, const struct untar_entry *en, const void *buf, size_t len,
		     struct err *e)
{
	struct pair_reader *r = ctx;

	if (r->dst) {
		sbuf_add(&r->data, buf, len);
	}
	return 0;
}

static int pair_end(void *ctx, const struct untar_entry *en, struct err *e)
{
	struct pair_reader *r = ctx;

	if (!r->dst) {
		return 0;
	}
	if (memchr(r->data.buf, '\0', r->data.len)) {
		return err_set(e, "'%s' is not a PEM file (it holds a NUL byte)", *r->dst_name);
	}
	*r->dst = sbuf_detach(&r->data, NULL);
	r->dst = r->dst_name = NULL;
	return 0;
}

int certs_from_tar(const void *buf, size_t len, struct certs_pair *p, struct err *e)
{
	static const struct untar_ops ops = {pair_entry, pair_data, pair_end};
	const struct untar_limits lim = {.bytes_max = CERTS_TAR_MAX, .path_max = 4096};
	struct pair_reader r = {p, NULL, NULL, SBUF_INIT};
	struct untar u;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	if (!len) {
		err_set(e, "nothing on stdin: expected a tar with a certificate (*.crt or *.pem) "
			   "and its key (*.key)");
		return -1;
	}
	untar_init(&u, &ops, &r, &lim);
	if (untar_feed(&u, buf, len, e) < 0 || untar_finish(&u, e) < 0) {
		goto out;
	}
	if (!p->crt || !p->key) {
		err_set(e,
			"the tar holds no %s: expected a certificate (*.crt or *.pem) and its "
			"key (*.key), as `tar cf - server.crt server.key`",
			!p->crt && !p->key ? "certificate and no key"
			: !p->crt	   ? "certificate"
					   : "key");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		certs_pair_release(p);
	}
	if (r.data.len) {
		OPENSSL_cleanse(r.data.buf, r.data.len);
	}
	sbuf_release(&r.data);
	untar_release(&u);
	return ret;
}

void certs_info_release(struct certs_info *info)
{
	free(info->subject);
	free(info->issuer);
	strvec_clear(&info->names);
	memset(info, 0, sizeof(*info));
}

static char *name_line(const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *s;
	long len;

	X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	len = BIO_get_mem_data(b, &data);
	s = xstrndup(data ? data : "", len > 0 ? (size_t)len : 0);
	BIO_free(b);
	return s;
}

static time_t asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm)) {
		return 0;
	}
	return timegm(&tm);
}

/* Whether the leaf chains to a CA of this host's trust store. */
static bool verify(struct tls_cert *c)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;

	if (st && ctx && X509_STORE_set_default_paths(st) == 1 &&
	    X509_STORE_CTX_init(ctx, st, c->x509, c->chain) == 1) {
		ok = X509_verify_cert(ctx) == 1;
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return ok;
}

int certs_check(const char *crt, const char *key, struct certs_info *info, struct err *e)
{
	struct tls_cert *c;

	if (!crt || !key) {
		return err_set(e, "a certificate and its key are needed");
	}
	c = tls_cert_from_pem(crt, strlen(crt), key, strlen(key), "the tar", e);
	ERR_clear_error();
	if (!c) {
		return -1;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		strvec_init(&info->names);
		info->subject = name_line(X509_get_subject_name(c->x509));
		info->issuer = name_line(X509_get_issuer_name(c->x509));
		for (size_t i = 0; i < c->names.nr; i++) {
			strvec_push(&info->names, c->names.v[i]);
		}
		info->not_before = asn1_time_t(X509_get0_notBefore(c->x509));
		info->not_after = c->not_after;
		info->self_signed = X509_check_issued(c->x509, c->x509) == X509_V_OK;
		info->verified = !info->self_signed && verify(c);
	}
	tls_cert_unref(c);
	return 0;
}

bool certs_covers(const struct certs_info *info, const char *host)
{
	for (size_t i = 0; i < info->names.nr; i++) {
		const char *n = info->names.v[i];

		if (!strcasecmp(n, host)) {
			return true;
		}
		if (!strncmp(n, "*.", 2)) {
			const char *dot = strchr(host, '.');
			if (dot && dot != host && !strcasecmp(dot + 1, n + 2)) {
				return true;
			}
		}
	}
	return false;
}

void certs_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
