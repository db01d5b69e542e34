/*
 * berthd reads its own container's mounts from `docker inspect` to find the
 * host's path of its state directory (dsbackup_host_paths): any bytes must
 * parse or fail cleanly, and a path it hands back is absolute and holds
 * nothing that `-v P:P` or `--mount source=P` would read otherwise.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/dsbackup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int bad_path(const struct sbuf *p)
{
	if (!p->len || p->buf[0] != '/' || strlen(p->buf) != p->len) {
		return 1;
	}
	for (size_t i = 0; i < p->len; i++) {
		unsigned char c = (unsigned char)p->buf[i];
		if (c <= ' ' || c == 0x7f || c == ',' || c == ':' || c == '"' || c == '\'' ||
		    c == '\\') {
			return 1;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf state = SBUF_INIT, sock = SBUF_INIT;
	struct err e = ERR_INIT;
	int r;

	sbuf_addstr(&sock, "/var/run/docker.sock");
	r = dsbackup_host_paths(slice_make((const char *)data, size), "/var/lib/berthd", &state,
				&sock, &e);
	if ((r < 0) != err_isset(&e) || (r == 0 && bad_path(&state)) || bad_path(&sock)) {
		__builtin_trap();
	}
	sbuf_release(&state);
	sbuf_release(&sock);
	err_release(&e);
	return 0;
}
