/*
 * What a host answers to berthd's set-up is read as untrusted: the user's
 * IDs and home (daemon-host.sh) and the container check (daemon-ensure.sh).
 * The first byte picks the parser. Whatever the bytes, a parse either fails
 * with a message, or gives a home that docker's -v and an authorized_keys
 * command take as it is, lines without control bytes, and an answer that
 * says one thing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/daemonhost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_controls(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			__builtin_trap();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in;
	struct err e = ERR_INIT;

	if (!size) {
		return 0;
	}
	in = slice_make((const char *)data + 1, size - 1);
	if (data[0] & 1) {
		struct daemonhost_user u;
		struct strvec lines = STRVEC_INIT;

		daemonhost_user_init(&u);
		if (daemonhost_parse_user(in, &u, &lines, &e) < 0) {
			if (!err_isset(&e) || u.home.len) {
				__builtin_trap();
			}
		} else {
			if (u.home.buf[0] != '/' || u.home.len > DAEMONHOST_HOME_MAX ||
			    strpbrk(u.home.buf, " \t\":,'\\$`;")) {
				__builtin_trap();
			}
		}
		for (size_t i = 0; i < lines.nr; i++) {
			no_controls(lines.v[i]);
		}
		strvec_clear(&lines);
		daemonhost_user_release(&u);
	} else {
		struct daemonhost_answer a;

		if (daemonhost_parse_answer(in, &a, &e) < 0) {
			if (!err_isset(&e) || a.what || a.pending || a.image_ok) {
				__builtin_trap();
			}
		} else if (a.pending == (a.what != NULL) || (a.pending && a.image_ok) ||
			   (a.changed && !a.what)) {
			__builtin_trap();
		}
	}
	err_release(&e);
	return 0;
}
