/*
 * Request heads are the proxy's most exposed input. Parse one; check that
 * what the parser says stays inside the head and agrees with itself and with
 * a shorter read; then feed what follows a chunked head to the decoder in
 * pseudo-random pieces, which must give what one whole feed gives.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http1.h"

#include "fuzz-http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	static struct http1_msg m, again;
	int n, k;
	size_t cut;

	n = http1_parse_request(buf, size, NULL, &m);
	/* a shorter read gives 0 or the same answer (0 before a whole head) */
	cut = size ? fuzz_hash(data, size) % size : 0;
	k = http1_parse_request(buf, cut, NULL, &again);
	FUZZ_CHECK(k == 0 || k == n);
	if (n > 0 && cut < (size_t)n) {
		FUZZ_CHECK(k == 0);
	}
	if (n == 0) {
		return 0;
	}
	if (n < 0) {
		FUZZ_CHECK(n == -400 || n == -405 || n == -431 || n == -501 || n == -505);
		return 0;
	}
	FUZZ_CHECK((size_t)n <= size && m.head_len == (size_t)n);
	FUZZ_CHECK(http1_head_ready(buf, (size_t)n, 0));
	FUZZ_CHECK(n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4));
	fuzz_check_msg(&m, buf, (size_t)n);
	FUZZ_CHECK(m.method.ptr && m.target.ptr && m.path.ptr);
	FUZZ_CHECK(m.minor == 1 ? (m.flags & HTTP1_F_HAS_HOST) != 0 : m.minor == 0);
	FUZZ_CHECK(m.body != HTTP1_BODY_EOF);
	/* the same head alone, and one byte short of it */
	FUZZ_CHECK(http1_parse_request(buf, (size_t)n, NULL, &again) == n);
	FUZZ_CHECK(http1_parse_request(buf, (size_t)n - 1, NULL, &again) == 0);
	if (m.body == HTTP1_BODY_CHUNKED) {
		fuzz_chunked(buf + n, size - (size_t)n);
	}
	return 0;
}
