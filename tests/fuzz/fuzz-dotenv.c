/*
 * Secrets files are text a user (or a teammate) wrote: parse them with
 * commands turned off, redact with what came out, and check the invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secrets s;
	struct err e = ERR_INIT;
	struct sbuf text = SBUF_INIT;
	size_t i;
	int r;

	secrets_init(&s);
	r = secrets_parse_dotenv_flags(&s, "fuzz", (const char *)data, size, NULL,
				       SECRETS_F_NO_COMMANDS | SECRETS_F_NO_ENVIRON, &e);
	if ((r < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (s.names.nr != s.values.nr || s.names.nr != s.files.nr) {
		__builtin_trap();
	}
	for (i = 0; i < s.names.nr; i++) {
		if (strlen(s.values.v[i]) > SECRETS_MAX_VALUE) {
			__builtin_trap();
		}
		if (secrets_get(&s, s.names.v[i]) != s.values.v[i]) {
			__builtin_trap(); /* one pair per name */
		}
	}
	if (r < 0) {
		(void)err_str(&e);
	}
	sbuf_add(&text, data, size);
	secrets_redact(&s, &text);
	sbuf_release(&text);
	err_release(&e);
	secrets_release(&s);
	return 0;
}
