/*
 * Renewed certificates arrive as PEM bytes (from ACME, later over the
 * control socket): a certificate with its chain, then, after a NUL, its
 * key. Whatever the bytes, loading gives a certificate whose names are
 * well-formed DNS names, or an error; never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *nul = memchr(buf, '\0', size);
	size_t cert_len = nul ? (size_t)(nul - buf) : size;
	struct err e = ERR_INIT;
	struct tls_cert *c;
	size_t i, j;

	c = tls_cert_from_pem(buf, cert_len, nul ? nul + 1 : "", nul ? size - cert_len - 1 : 0,
			      "the input", &e);
	if (!c) {
		if (!err_isset(&e)) {
			__builtin_trap();
		}
		err_release(&e);
		return 0;
	}
	for (i = 0; i < c->names.nr; i++) {
		const char *n = c->names.v[i];
		size_t len = strlen(n);

		if (!len || len > 253 || (strchr(n, '*') && (n[0] != '*' || n[1] != '.'))) {
			__builtin_trap();
		}
		for (j = 0; j < len; j++) {
			if (n[j] >= 'A' && n[j] <= 'Z') {
				__builtin_trap();
			}
		}
		if (!tls_cert_covers(c, n)) {
			__builtin_trap();
		}
	}
	tls_cert_unref(c);
	err_release(&e);
	return 0;
}
