/*
 * kamal-proxy's state file, as a server hands it over, becomes berth-proxy's
 * state. Whatever the bytes: an error, or a JSON document that parses with a
 * "services" list (berth-proxy's own reader then checks each one); never a
 * crash or a leak.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/kamalstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf out = SBUF_INIT;
	struct strvec notes = STRVEC_INIT;
	struct err e = ERR_INIT;
	int n = kamalstate_convert((const char *)data, size, &out, &notes, &e);

	if (n < 0) {
		if (!err_isset(&e) || out.len) {
			__builtin_trap();
		}
	} else {
		json_t *j = json_loadb(out.buf, out.len, 0, NULL);

		if (!j || json_array_size(json_object_get(j, "services")) != (size_t)n) {
			__builtin_trap();
		}
		json_decref(j);
	}
	sbuf_release(&out);
	strvec_clear(&notes);
	err_release(&e);
	return 0;
}
