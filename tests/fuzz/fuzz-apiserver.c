/*
 * The server's API reads two things an admin's browser sends: the path of
 * a key (/api/v1/server/keys/NAME[/grants[/APP]], %HH escapes decoded)
 * and a public key's text. Input: a path, a NUL byte, a key's text. A
 * path's name never holds '/' or a control byte; a key read is one line
 * "type base64" with a SHA256 fingerprint, and nothing is kept of one
 * refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/apiserver.h"
#include "daemon/berthd.h"
#include "lib/sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool clean(const struct sbuf *sb)
{
	for (size_t i = 0; i < sb->len; i++) {
		unsigned char c = (unsigned char)sb->buf[i];
		if (c < 0x20 || c == 0x7f || c == '/') {
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, 0, size);
	size_t plen = nul ? (size_t)(nul - (const char *)data) : size;
	char *path = strndup((const char *)data, plen);
	struct sbuf name = SBUF_INIT, app = SBUF_INIT;
	struct err e = ERR_INIT;
	char *line = NULL, *fp = NULL;

	for (int g = 0; g < 3; g++) {
		sbuf_reset(&name);
		sbuf_reset(&app);
		if (apiserver_key_path(path, g > 0, &name, g == 2 ? &app : NULL)) {
			if (!name.len || !clean(&name) || !clean(&app) || (g == 2 && !app.len)) {
				__builtin_trap();
			}
		}
	}
	if (nul) {
		const char *text = nul + 1;
		size_t tlen = size - plen - 1;

		if (bd_key_parse(text, tlen, &line, &fp, &e) == 0) {
			if (!line || !fp || strncmp(fp, "SHA256:", 7) || strchr(line, '\n') ||
			    !strchr(line, ' ') || err_isset(&e)) {
				__builtin_trap();
			}
		} else if (line || fp || !err_isset(&e)) {
			__builtin_trap();
		}
	}
	free(line);
	free(fp);
	free(path);
	sbuf_release(&name);
	sbuf_release(&app);
	err_release(&e);
	return 0;
}
