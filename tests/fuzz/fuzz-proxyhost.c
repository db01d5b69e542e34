/*
 * What a host answers to berth-proxy's boot check is read as untrusted.
 * Whatever the bytes, the parse either fails with a message or gives a
 * progress line of bounded length without control bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/proxyhost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyhost_answer a;
	struct err e = ERR_INIT;
	size_t i;

	proxyhost_answer_init(&a);
	if (proxyhost_parse_answer(slice_make((const char *)data, size), "berth-proxy:1", &a, &e) <
	    0) {
		if (!err_isset(&e) || a.pending || a.what.len) {
			__builtin_trap();
		}
	} else {
		if (a.pending == (a.what.len > 0) || a.what.len > 2 * PROXYHOST_MAX_IMAGE) {
			__builtin_trap();
		}
		for (i = 0; i < a.what.len; i++) {
			unsigned char c = (unsigned char)a.what.buf[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				__builtin_trap();
			}
		}
	}
	proxyhost_answer_release(&a);
	err_release(&e);
	return 0;
}
