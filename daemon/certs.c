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
#include "proxy/tls.h"

#define BLOCK 512

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

/* An octal field of a header (NUL- or space-terminated); -1 when it is not one. */
static long long octal(const unsigned char *f, size_t n)
{
	long long v = 0;
	size_t i = 0;

	while (i < n && f[i] == ' ') {
		i++;
	}
	if (i == n || f[i] < '0' || f[i] > '7') {
		return -1;
	}
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (1LL << 40)) {
			return -1;
		}
		v = v * 8 + (f[i] - '0');
	}
	for (; i < n; i++) {
		if (f[i] != ' ' && f[i] != '\0') {
			return -1;
		}
	}
	return v;
}

static bool zero_block(const unsigned char *h)
{
	for (size_t i = 0; i < BLOCK; i++) {
		if (h[i]) {
			return false;
		}
	}
	return true;
}

/* The checksum, as POSIX (unsigned bytes) or old tars (signed) count it. */
static bool checksum_ok(const unsigned char *h)
{
	long long want = octal(h + 148, 8);
	long long u = 0, s = 0;

	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];
		u += c;
		s += (signed char)c;
	}
	return want >= 0 && (want == u || want == s);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

int certs_from_tar(const void *buf, size_t len, struct certs_pair *p, struct err *e)
{
	const unsigned char *b = buf;
	struct sbuf longname = SBUF_INIT, name = SBUF_INIT;
	bool have_long = false;
	size_t off = 0;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	if (!len) {
		err_set(e, "nothing on stdin: expected a tar with a certificate (*.crt or *.pem) "
			   "and its key (*.key)");
		goto out;
	}
	while (off < len) {
		const unsigned char *h = b + off;
		long long size;
		size_t padded;
		char type;
		const char *base, *data;
		char **dst = NULL, **dst_name = NULL;

		if (len - off < BLOCK) {
			err_set(e, "not a tar archive: it ends inside a header");
			goto out;
		}
		if (zero_block(h)) {
			break;
		}
		if (!checksum_ok(h)) {
			err_set(e, "not a tar archive (a header's checksum is wrong)");
			goto out;
		}
		size = octal(h + 124, 12);
		if (size < 0) {
			err_set(e, "not a tar archive (a header's size is not a number)");
			goto out;
		}
		type = (char)h[156];
		off += BLOCK;
		if ((unsigned long long)size > len - off) {
			err_set(e, "the tar archive is cut short");
			goto out;
		}
		data = (const char *)b + off;
		padded = ((size_t)size + BLOCK - 1) / BLOCK * BLOCK;
		off += padded > len - off ? len - off : padded;
		if (type == 'L') {
			/* GNU: the next entry's long name */
			if (size > 4096) {
				err_set(e, "a name in the tar archive is too long");
				goto out;
			}
			sbuf_reset(&longname);
			sbuf_add(&longname, data, strnlen(data, (size_t)size));
			have_long = true;
			continue;
		}
		sbuf_reset(&name);
		if (have_long) {
			sbuf_addstr(&name, longname.buf);
			have_long = false;
		} else {
			if (!memcmp(h + 257, "ustar", 5) && h[345]) {
				sbuf_add(&name, h + 345, strnlen((const char *)h + 345, 155));
				sbuf_addch(&name, '/');
			}
			sbuf_add(&name, h, strnlen((const char *)h, 100));
		}
		if (type != '0' && type != '\0' && type != '7') {
			continue; /* directories, pax headers, links... */
		}
		sbuf_rtrim(&name);
		base = strrchr(name.buf, '/');
		base = base ? base + 1 : name.buf;
		if (!strncmp(base, "._", 2)) {
			continue; /* macOS's resource forks */
		}
		if (ends_with(base, ".crt") || ends_with(base, ".pem")) {
			dst = &p->crt;
			dst_name = &p->crt_name;
		} else if (ends_with(base, ".key")) {
			dst = &p->key;
			dst_name = &p->key_name;
		} else {
			continue;
		}
		if (*dst) {
			err_set(e, "the tar holds two %s: '%s' and '%s' (one of each expected)",
				dst == &p->crt ? "certificates" : "keys", *dst_name, name.buf);
			goto out;
		}
		if (size > CERTS_FILE_MAX) {
			err_set(e, "'%s' is larger than %d bytes: not a PEM file", name.buf,
				CERTS_FILE_MAX);
			goto out;
		}
		if (memchr(data, '\0', (size_t)size)) {
			err_set(e, "'%s' is not a PEM file (it holds a NUL byte)", name.buf);
			goto out;
		}
		*dst = xstrndup(data, (size_t)size);
		*dst_name = xstrdup(name.buf);
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
	sbuf_release(&longname);
	sbuf_release(&name);
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
