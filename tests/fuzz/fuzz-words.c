/*
 * A role's cmd and release_command come from the config and are split into
 * words without a shell: any bytes must split or fail cleanly, and a line
 * of plain words must come back as those words.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *line = malloc(size + 1);
	size_t i;
	int r;

	memcpy(line, data, size);
	line[size] = '\0';
	r = app_split_words(line, &v, &e);
	if ((r < 0) != err_isset(&e) || (r < 0 && v.nr) || (r == 0 && !v.nr)) {
		__builtin_trap();
	}
	for (i = 0; r == 0 && i < v.nr; i++) {
		if (strlen(v.v[i]) > strlen(line)) {
			__builtin_trap();
		}
	}
	strvec_clear(&v);
	err_release(&e);
	free(line);
	return 0;
}
