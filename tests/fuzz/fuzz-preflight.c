/*
 * A deploy's capacity check reads a host's /proc/meminfo, /proc/PID/cgroup
 * and memory cgroup files, and the config's memory limits: any bytes must
 * read or be refused, and a cgroup directory found is always under
 * /sys/fs/cgroup with no way up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/preflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = slice_make((const char *)data, size);
	struct sbuf dir = SBUF_INIT;
	uint64_t total = 0, avail = 0, v;
	bool v2 = false;
	char *text = malloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	preflight_parse_meminfo(in, &total, &avail);
	if (preflight_cgroup_dir(in, &dir, &v2) == 0 &&
	    (strncmp(dir.buf, "/sys/fs/cgroup/", 15) || strstr(dir.buf, "/..") ||
	     strlen(dir.buf) != dir.len)) {
		__builtin_trap();
	}
	if (preflight_cgroup_usage(in, in, v2, &v) == 0 && size == 0) {
		__builtin_trap(); /* no usage in no bytes */
	}
	if (preflight_parse_mem(text, &v) == 0 && !size) {
		__builtin_trap();
	}
	sbuf_release(&dir);
	free(text);
	return 0;
}
