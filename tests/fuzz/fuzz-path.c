/*
 * Path normalization decides which service a request reaches: whatever the
 * bytes, the result is never longer than the path, starts with '/', has no
 * empty or dot segment and no escaped unreserved character, is normalized
 * already (a second pass changes nothing), and is the same when written in
 * place over its input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/path.h"

#include "fuzz-http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool unreserved(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out, *again, *inplace;
	size_t n, n2, n3, i;
	int r;

	/* paths start with '/': the fuzzer's bytes follow one */
	in = malloc(size + 1);
	in[0] = '/';
	memcpy(in + 1, data, size);
	size++;
	out = malloc(size);
	again = malloc(size);
	inplace = malloc(size);

	r = path_normalize(in, size, out, &n);
	memcpy(inplace, in, size);
	FUZZ_CHECK(path_normalize(inplace, size, inplace, &n3) == r);
	if (r < 0) {
		FUZZ_CHECK(r == -1);
		goto out;
	}
	FUZZ_CHECK(r == 0 && n >= 1 && n <= size && out[0] == '/');
	FUZZ_CHECK(n3 == n && !memcmp(inplace, out, n));
	if (path_is_normal(in, size)) {
		FUZZ_CHECK(n == size && !memcmp(in, out, n));
	}
	for (i = 0; i < n; i++) {
		if (out[i] == '/' && i + 1 < n) {
			FUZZ_CHECK(out[i + 1] != '/');
			FUZZ_CHECK(!(out[i + 1] == '.' && (i + 2 == n || out[i + 2] == '/')));
			FUZZ_CHECK(!(out[i + 1] == '.' && i + 2 < n && out[i + 2] == '.' &&
				     (i + 3 == n || out[i + 3] == '/')));
		}
		if (out[i] == '%') {
			int hi, lo;

			FUZZ_CHECK(i + 2 < n);
			hi = hexval(out[i + 1]);
			lo = hexval(out[i + 2]);
			FUZZ_CHECK(hi >= 0 && lo >= 0 && !unreserved((uint8_t)(hi << 4 | lo)));
		}
	}
	FUZZ_CHECK(path_normalize(out, n, again, &n2) == 0);
	FUZZ_CHECK(n2 == n && !memcmp(again, out, n));
	if (!memchr(out, '%', n)) {
		FUZZ_CHECK(path_is_normal(out, n));
	}
out:
	free(in);
	free(out);
	free(again);
	free(inplace);
	return 0;
}
