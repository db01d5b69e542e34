/*
 * The client address and the user name of a login reach the guard from
 * the request: any bytes must key cleanly (a family of 4, 6 or 0), and a
 * run of failures and a success must leave the key waiting no longer
 * than the longest wait. The input is "ADDRESS\nUSER".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/loginguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *user;
	unsigned char key[17];
	struct loginguard g;
	unsigned w = 0;

	memcpy(s, data, size);
	s[size] = '\0';
	user = strchr(s, '\n');
	if (user) {
		*user++ = '\0';
	}
	loginguard_ip_key(s, key);
	if (key[0] != 0 && key[0] != 4 && key[0] != 6) {
		__builtin_trap();
	}
	loginguard_init(&g, 2);
	for (int i = 0; i < LOGINGUARD_FREE_FAILS; i++) {
		if (!loginguard_check(&g, s, user, 1000, &w)) {
			__builtin_trap();
		}
		loginguard_fail(&g, s, user, 1000);
	}
	if (loginguard_check(&g, s, user, 1000, &w) || w != 1) {
		__builtin_trap();
	}
	loginguard_ok(&g, s, user, 1000);
	if (loginguard_check(&g, NULL, user, 1000, &w) != true) {
		__builtin_trap();
	}
	loginguard_release(&g);
	free(s);
	return 0;
}
