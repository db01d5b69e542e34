/*
 * A Procfile comes with every push: parse it, and check that what came out
 * keeps the parser's promises (types of [A-Za-z0-9_-], each once, commands
 * non-empty; a failure says where).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/push.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct push_result r = {0};
	struct err e = ERR_INIT;
	size_t i, k;
	int rc;

	rc = push_parse_procfile("Procfile", (const char *)data, size, &r, &e);
	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (rc < 0) {
		(void)err_str(&e);
		if (r.nprocs || r.release_cmd) {
			__builtin_trap(); /* nothing kept from a bad file */
		}
	}
	for (i = 0; i < r.nprocs; i++) {
		size_t n = strlen(r.procs[i].type);

		if (!n || n > PUSH_MAX_TYPE ||
		    strspn(r.procs[i].type, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
					    "QRSTUVWXYZ0123456789_-") != n ||
		    !strcmp(r.procs[i].type, "release") || !r.procs[i].cmd || !*r.procs[i].cmd) {
			__builtin_trap();
		}
		for (k = 0; k < i; k++) {
			if (!strcmp(r.procs[i].type, r.procs[k].type)) {
				__builtin_trap();
			}
		}
	}
	if (r.nprocs > PUSH_MAX_TYPES || (r.release_cmd && !*r.release_cmd)) {
		__builtin_trap();
	}
	push_result_release(&r);
	err_release(&e);
	return 0;
}
