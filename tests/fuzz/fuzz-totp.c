/*
 * What a user types at a login's second step (a 6-digit code or a recovery
 * code) and a base32 secret pasted into a form: any bytes must parse or
 * fail cleanly. A decoded secret encodes back to the input without the
 * spaces, dashes, padding and lower case the decoder tolerates; a refused
 * one appends nothing. A parsed code is below 10^6 and is the input's
 * digits; a parsed recovery code is canonical and parses to itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/totp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct sbuf dec = SBUF_INIT, enc = SBUF_INIT, want = SBUF_INIT;
	char canon[TOTP_RECOVERY_LEN + 1], again[TOTP_RECOVERY_LEN + 1];
	uint32_t code;

	sbuf_addstr(&dec, "x");
	if (totp_base32_decode(&dec, s, size) == 0) {
		for (size_t i = 0; i < size; i++) {
			char c = s[i];

			if (c != ' ' && c != '-' && c != '=') {
				sbuf_addch(&want, c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
			}
		}
		totp_base32_encode(&enc, (const unsigned char *)dec.buf + 1, dec.len - 1);
		if (strcmp(enc.buf, want.buf)) {
			__builtin_trap();
		}
	} else if (dec.len != 1 || strcmp(dec.buf, "x")) {
		__builtin_trap();
	}
	if (totp_code_parse(s, size, &code)) {
		char digits[8];
		size_t n = 0;

		if (code > 999999) {
			__builtin_trap();
		}
		for (size_t i = 0; i < size; i++) {
			if (s[i] >= '0' && s[i] <= '9') {
				if (n == 6) {
					__builtin_trap();
				}
				digits[n++] = s[i];
			}
		}
		digits[n] = '\0';
		if (n != 6 || (uint32_t)atoi(digits) != code) {
			__builtin_trap();
		}
	}
	if (totp_recovery_parse(s, size, canon)) {
		if (strlen(canon) != TOTP_RECOVERY_LEN ||
		    !totp_recovery_parse(canon, strlen(canon), again) || strcmp(canon, again)) {
			__builtin_trap();
		}
	}
	sbuf_release(&dec);
	sbuf_release(&enc);
	sbuf_release(&want);
	return 0;
}
