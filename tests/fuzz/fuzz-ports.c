/*
 * A port mapping comes from anyone with deploy on an app (ports:set
 * SCHEME:HOST:CONTAINER) and an image's EXPOSE from its Dockerfile: any
 * bytes must parse or fail cleanly; what parses has ports 1-65535 and a
 * scheme of [a-z0-9], formats back to the same text, and reads back the
 * same; ports_from_exposed gives 0 or a valid port.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/ports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct port_map m, back[PORTS_MAX];
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t n = 0, ntcp = 0;
	unsigned p;
	int r;

	memcpy(s, data, size);
	s[size] = '\0';
	r = ports_parse(s, &m, &e);
	if ((r < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	err_release(&e);
	if (r == 0) {
		if (!m.host || m.host > 65535 || !m.container || m.container > 65535 ||
		    !m.scheme[0] || m.scheme[sizeof(m.scheme) - 1]) {
			__builtin_trap();
		}
		ports_format(&sb, &m, 1);
		if (strcmp(sb.buf, s) || ports_read(sb.buf, back, PORTS_MAX, &n, NULL) < 0 ||
		    n != 1 || back[0].host != m.host || back[0].container != m.container ||
		    strcmp(back[0].scheme, m.scheme)) {
			__builtin_trap();
		}
		ports_check(&m, 1, NULL);
	}
	if (ports_read(s, back, PORTS_MAX, &n, NULL) == 0) {
		if (n > PORTS_MAX) {
			__builtin_trap();
		}
		ports_check(back, n, NULL);
	}
	p = ports_from_exposed((const char *)data, size, &ntcp);
	if (p > 65535 || (p && !ntcp)) {
		__builtin_trap();
	}
	sbuf_release(&sb);
	free(s);
	return 0;
}
