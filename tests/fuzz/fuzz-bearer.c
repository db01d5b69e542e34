/*
 * An Authorization header comes from whoever sends the request: any bytes
 * must be refused cleanly unless they are "Bearer" and one of our tokens
 * (64 lowercase hex digits), and then the token read is exactly those.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char token[USERS_TOKEN_HEX + 1];
	char *s = malloc(size + 1);
	bool ok;

	memcpy(s, data, size);
	s[size] = 0;
	ok = users_bearer(s, size, token);
	if (ok) {
		if (strlen(token) != USERS_TOKEN_HEX ||
		    strspn(token, "0123456789abcdef") != USERS_TOKEN_HEX || !strstr(s, token) ||
		    strncasecmp(s, "bearer", 6)) {
			__builtin_trap();
		}
	} else if (token[0]) {
		__builtin_trap();
	}
	free(s);
	return 0;
}
