/*
 * SSH_ORIGINAL_COMMAND comes from anyone holding a key: any bytes must
 * parse or fail cleanly, a result is never empty, a word is never longer
 * than the line, and a git command always names a valid app.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/sshcmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshcmd c = SSHCMD_INIT;
	struct err e = ERR_INIT;
	int r = sshcmd_parse((const char *)data, size, &c, &e);

	if ((r < 0) != err_isset(&e) || (r == 0 && !c.argv.nr) || (r < 0 && c.argv.nr)) {
		__builtin_trap();
	}
	for (size_t i = 0; r == 0 && i < c.argv.nr; i++) {
		if (strlen(c.argv.v[i]) > size) {
			__builtin_trap();
		}
	}
	if (r == 0 && c.kind != SSHCMD_COMMAND && !sshcmd_valid_app(c.app)) {
		__builtin_trap();
	}
	sshcmd_release(&c);
	err_release(&e);
	return 0;
}
