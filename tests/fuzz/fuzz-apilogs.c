/*
 * A container prints anything: apilogs_events must turn any bytes into
 * well-formed Server-Sent Events (every event one "data: " line with no
 * control byte, ended by an empty line), use only whole lines (or cut
 * ones of APILOGS_LINE_MAX bytes) and never read past the input. The first
 * byte chooses the search (none, "e", or "ERR").
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/apilogs.h"
#include "lib/sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const qs[] = {NULL, "e", "ERR"};
	struct sbuf out = SBUF_INIT;
	const char *q;
	size_t used, i = 0;

	if (!size) {
		return 0;
	}
	q = qs[data[0] % 3];
	used = apilogs_events((const char *)data + 1, size - 1, q, &out);
	if (used > size - 1) {
		__builtin_trap();
	}
	/* what is left is one line not complete yet, shorter than a cut */
	if (memchr(data + 1 + used, '\n', size - 1 - used) || size - 1 - used >= APILOGS_LINE_MAX) {
		__builtin_trap();
	}
	while (i < out.len) {
		const char *nl = memchr(out.buf + i, '\n', out.len - i);

		if (out.len - i < 8 || memcmp(out.buf + i, "data: ", 6) || !nl ||
		    nl + 1 >= out.buf + out.len || nl[1] != '\n') {
			__builtin_trap();
		}
		for (const char *p = out.buf + i; p < nl; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				__builtin_trap();
			}
		}
		i = (size_t)(nl - out.buf) + 2;
	}
	sbuf_release(&out);
	return 0;
}
