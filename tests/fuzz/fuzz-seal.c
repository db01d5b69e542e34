/*
 * A follower opens whatever the network hands it as the issuer's answer.
 * Whatever the bytes, opening either fails with nothing appended, or (for
 * the bytes of a real box, as in the corpus) gives the plaintext back;
 * never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t secret[SEAL_SECRET_LEN] = {0};
	struct sbuf plain = SBUF_INIT;
	struct err e = ERR_INIT;
	uint64_t v = 0;

	if (seal_open(secret, "web", data, size, &v, &plain, &e) < 0) {
		if (!err_isset(&e) || plain.len) {
			__builtin_trap();
		}
	} else if (plain.len + 41 != size) {
		__builtin_trap();
	}
	sbuf_release(&plain);
	err_release(&e);
	return 0;
}
