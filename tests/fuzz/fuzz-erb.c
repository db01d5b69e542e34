/*
 * deploy.yml is rendered as ERB before anything else reads it: arbitrary
 * bytes. Parse and evaluate them with a fixed environment; commands are
 * refused and files are read from a directory that does not exist. Nothing
 * may crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/erb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_getenv(const char *name, void *unused)
{
	static const char *const env[][2] = {
	    {"HOST", "example.com"}, {"EMPTY", ""},	  {"PORT", "3000"},
	    {"LIST", "a,b,,c"},	     {"SPACED", " x \n"}, {"STAGE", "production"},
	};
	size_t i;

	(void)unused;
	for (i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		if (!strcmp(env[i][0], name)) {
			return env[i][1];
		}
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct erb_ctx ctx = {
	    .dir = "/nonexistent-berth-fuzz",
	    .getenv = fuzz_getenv,
	    .no_commands = true,
	};
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	if (erb_render("deploy.yml", (const char *)data, size, &ctx, &out, &e) < 0) {
		if (!err_isset(&e) || !*err_str(&e)) {
			__builtin_trap();
		}
	}
	sbuf_release(&out);
	err_release(&e);
	return 0;
}
