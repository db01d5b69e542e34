/*
 * berth-proxy's saved ACME account settings (proxy/acmeset.h): whatever the
 * bytes, an error or settings whose every value passes the checks, which
 * format back to bytes that parse to the same; never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proxy/acmeset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acmeset s = ACMESET_INIT, back = ACMESET_INIT;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	if (acmeset_parse((const char *)data, size, &s, &e) < 0) {
		if (!err_isset(&e) || s.email || s.directory) {
			__builtin_trap();
		}
	} else {
		if ((s.email && acmeset_check_email(s.email, &e) < 0) ||
		    (s.directory && acmeset_check_directory(s.directory, &e) < 0)) {
			__builtin_trap();
		}
		acmeset_format(&s, &out);
		if (acmeset_parse(out.buf, out.len, &back, &e) < 0 || !same(s.email, back.email) ||
		    !same(s.directory, back.directory)) {
			__builtin_trap();
		}
	}
	acmeset_release(&s);
	acmeset_release(&back);
	sbuf_release(&out);
	err_release(&e);
	return 0;
}
