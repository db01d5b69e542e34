/*
 * A captain-definition comes in an upload or in the API's JSON from
 * anyone holding a token. Any bytes must be read or refused cleanly; a
 * refusal keeps nothing; what is accepted is a build with a Dockerfile
 * path inside the upload (relative, no "..") or an image name no argv
 * could take for an option, and a Dockerfile written from lines or a
 * template goes to CAPDEF_DOCKERFILE.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/capdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *p)
{
	size_t n = strlen(p);

	if (!n || p[0] == '/' || !strcmp(p, "..") || !strncmp(p, "../", 3) || strstr(p, "/../") ||
	    (n >= 3 && !strcmp(p + n - 3, "/.."))) {
		__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capdef d = CAPDEF_INIT;
	struct err e = ERR_INIT;
	int rc = capdef_parse((const char *)data, size, &d, &e);

	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (rc < 0) {
		(void)err_str(&e);
		if (d.kind != CAPDEF_NONE || d.dockerfile || d.dockerfile_text || d.image) {
			__builtin_trap();
		}
	} else if (d.kind == CAPDEF_BUILD) {
		if (!d.dockerfile || d.image) {
			__builtin_trap();
		}
		inside(d.dockerfile);
		if (d.dockerfile_text && strcmp(d.dockerfile, CAPDEF_DOCKERFILE)) {
			__builtin_trap();
		}
	} else if (d.kind == CAPDEF_IMAGE) {
		if (!d.image || !d.image[0] || d.image[0] == '-' || d.dockerfile ||
		    strpbrk(d.image, " \t\r\n")) {
			__builtin_trap();
		}
	} else {
		__builtin_trap();
	}
	capdef_release(&d);
	err_release(&e);
	return 0;
}
