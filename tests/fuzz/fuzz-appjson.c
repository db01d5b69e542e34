/*
 * app.json comes with every push: parse it, and check that what came out
 * keeps the parser's promises (a check's path starts with '/', numbers
 * within their limits, formation types named as process types are).
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
	size_t i;
	int rc;

	rc = push_parse_app_json("app.json", (const char *)data, size, &r, &e);
	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (rc < 0) {
		(void)err_str(&e);
		if (r.predeploy || r.postdeploy || r.check.path || r.nformation) {
			__builtin_trap(); /* nothing kept from a bad file */
		}
	}
	if (r.check.path && r.check.path[0] != '/') {
		__builtin_trap();
	}
	if (r.check.wait_s > 3600 || r.check.timeout_s > 3600 || r.check.uptime_s > 3600 ||
	    r.check.attempts > 1000) {
		__builtin_trap();
	}
	for (i = 0; i < r.nformation; i++) {
		size_t n = strlen(r.formation[i].type);

		if (!n || n > PUSH_MAX_TYPE || r.formation[i].scale > 100) {
			__builtin_trap();
		}
	}
	push_result_release(&r);
	err_release(&e);
	return 0;
}
