/*
 * Request heads are the proxy's most exposed input. Parse one; check that
 * what the parser says stays inside the head and agrees with itself and with
 * a shorter read; normalize its path in a copy of the head, which must leave
 * a head that parses to the same message with a normal path; then feed what
 * follows a chunked head to the decoder in pseudo-random pieces, which must
 * give what one whole feed gives.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http1.h"
#include "proxy/path.h"

#include "fuzz-http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Normalizes the path of the head buf[0, n) in a copy: only the path's bytes
 * change, the result is normal, and parsing and normalizing the copy again
 * gives the same bytes and path.
 */
static void check_normalized(const char *buf, int n, const struct http1_msg *m)
{
	static struct http1_msg nm, again;
	char *copy = malloc((size_t)n), *copy2 = malloc((size_t)n);
	size_t start = (size_t)(m->target.ptr - buf), end = start + m->path.len, i;
	int r;

	memcpy(copy, buf, (size_t)n);
	FUZZ_CHECK(http1_parse_request(copy, (size_t)n, NULL, &nm) == n);
	r = http1_normalize_path(copy, &nm);
	if (r < 0) {
		FUZZ_CHECK(r == -400 && m->path.ptr[0] == '/');
		goto out;
	}
	FUZZ_CHECK(r == 0);
	for (i = 0; i < (size_t)n; i++) {
		FUZZ_CHECK((i >= start && i < end) || copy[i] == buf[i]);
	}
	fuzz_check_msg(&nm, copy, (size_t)n);
	FUZZ_CHECK(nm.path.len <= m->path.len && nm.query.len == m->query.len);
	FUZZ_CHECK(nm.target.ptr == nm.path.ptr &&
		   nm.target.ptr + nm.target.len == copy + (m->target.ptr - buf) + m->target.len);
	if (nm.path.ptr[0] == '/') {
		FUZZ_CHECK(path_is_normal(nm.path.ptr, nm.path.len) ||
			   memchr(nm.path.ptr, '%', nm.path.len));
	}
	memcpy(copy2, copy, (size_t)n);
	FUZZ_CHECK(http1_parse_request(copy2, (size_t)n, NULL, &again) == n);
	FUZZ_CHECK(http1_normalize_path(copy2, &again) == 0);
	FUZZ_CHECK(!memcmp(copy, copy2, (size_t)n));
	FUZZ_CHECK(again.path.len == nm.path.len && again.path.ptr - copy2 == nm.path.ptr - copy);
out:
	free(copy);
	free(copy2);
}

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
		FUZZ_CHECK(n == -400 || n == -405 || n == -414 || n == -431 || n == -501 ||
			   n == -505);
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
	check_normalized(buf, n, &m);
	if (m.body == HTTP1_BODY_CHUNKED) {
		fuzz_chunked(buf + n, size - (size_t)n);
	}
	return 0;
}
