/*
 * The server_name and ALPN extensions of a ClientHello are read by the
 * proxy's own code before OpenSSL has judged them: any bytes must give a
 * bounded, well-formed name or a refusal, never a read outside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees a read past the end */
	unsigned char *copy = malloc(size ? size : 1);
	char out[256], small[8];
	size_t i, len;
	int r;

	memcpy(copy, data, size);
	r = tls_hello_sni(copy, size, out, sizeof(out));
	if (r < -1 || r > 1) {
		__builtin_trap();
	}
	if (r == 1) {
		len = strlen(out);
		if (!len || len > 253 || out[len - 1] == '.') {
			__builtin_trap();
		}
		for (i = 0; i < len; i++) {
			if ((out[i] >= 'A' && out[i] <= 'Z') || out[i] == '*') {
				__builtin_trap();
			}
		}
		/* a buffer too small refuses, it does not truncate */
		r = tls_hello_sni(copy, size, small, sizeof(small));
		if (len + 1 > sizeof(small) ? r != -1 : (r != 1 || strcmp(small, out))) {
			__builtin_trap();
		}
	}
	if (tls_hello_acme_only(copy, size) && (size != 13 || memcmp(copy + 3, "acme-tls/1", 10))) {
		__builtin_trap();
	}
	free(copy);
	return 0;
}
