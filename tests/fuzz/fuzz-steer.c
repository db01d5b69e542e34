/*
 * The Set-Cookie values and Cookie headers an app or a client sends are
 * read by proxy/steer.c: whatever the bytes, scoping never reads past the
 * value, keeps the name=value it started with, ends with exactly one Path
 * under the prefix, and adds no CR, LF or NUL (the result goes into a
 * response head; the parser lets none of them into a header value, so
 * inputs with one are skipped); a cookie found by name is a slice of the
 * header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/steer.h"

#include "fuzz-http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = slice_make((const char *)data, size), v;
	struct sbuf out = SBUF_INIT;
	const char *semi;
	size_t i;

	if (memchr(data, '\0', size) || memchr(data, '\r', size) || memchr(data, '\n', size)) {
		return 0;
	}
	if (steer_scope_cookie(in, "/app", SLICE_LIT("a.test"), &out)) {
		const char *path = strstr(out.buf, "; Path=/app");
		size_t pair =
		    (semi = memchr(data, ';', size)) ? (size_t)(semi - (const char *)data) : size;

		FUZZ_CHECK(out.len >= pair && !memcmp(out.buf, data, pair));
		FUZZ_CHECK(path && !strstr(path + 1, "; Path="));
		for (i = 0; i < out.len; i++) {
			FUZZ_CHECK(out.buf[i] != '\r' && out.buf[i] != '\n' && out.buf[i] != '\0');
		}
	}
	if (steer_cookie(in, STEER_WRITER_COOKIE, &v)) {
		FUZZ_CHECK(v.ptr >= in.ptr && v.ptr + v.len <= in.ptr + in.len);
		steer_writer_live(v, 0);
	}
	sbuf_release(&out);
	return 0;
}
