/*
 * Response heads come from apps: a proxy must not let a broken one
 * desynchronise the client connection. Same checks as for requests, for a
 * response to GET or to HEAD (chosen from the input's length).
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
	struct slice method = size % 7 == 3 ? SLICE_LIT("HEAD") : SLICE_LIT("GET");
	static struct http1_msg m, again;
	int n, k;
	size_t cut;

	n = http1_parse_response(buf, size, NULL, method, &m);
	/* a shorter read gives 0 or the same answer (0 before a whole head) */
	cut = size ? fuzz_hash(data, size) % size : 0;
	k = http1_parse_response(buf, cut, NULL, method, &again);
	FUZZ_CHECK(k == 0 || k == n);
	if (n > 0 && cut < (size_t)n) {
		FUZZ_CHECK(k == 0);
	}
	if (n == 0) {
		return 0;
	}
	if (n < 0) {
		FUZZ_CHECK(n == -502);
		return 0;
	}
	FUZZ_CHECK((size_t)n <= size && m.head_len == (size_t)n);
	FUZZ_CHECK(http1_head_ready(buf, (size_t)n, 0));
	FUZZ_CHECK(n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4));
	fuzz_check_msg(&m, buf, (size_t)n);
	FUZZ_CHECK(m.status >= 100 && m.status <= 599 && m.minor <= 1);
	FUZZ_CHECK(!m.method.ptr && !m.host.ptr);
	if (m.body == HTTP1_BODY_EOF) {
		FUZZ_CHECK(!(m.flags & HTTP1_F_KEEP_ALIVE));
	}
	FUZZ_CHECK(http1_parse_response(buf, (size_t)n, NULL, method, &again) == n);
	FUZZ_CHECK(http1_parse_response(buf, (size_t)n - 1, NULL, method, &again) == 0);
	if (m.body == HTTP1_BODY_CHUNKED) {
		fuzz_chunked(buf + n, size - (size_t)n);
	}
	return 0;
}
