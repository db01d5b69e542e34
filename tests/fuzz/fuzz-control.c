/*
 * The checks of control command values stand between a caller and the
 * requests the proxy writes (health checks) and its routes: whatever the
 * bytes, a value they pass has no byte that could end a line or a request
 * target, a path prefix comes back normalized, and a refusal says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/control.h"
#include "proxy/path.h"

#include "fuzz-http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s has a byte a request line or a header could be split at. */
static bool has_separator(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f) {
			return true;
		}
	}
	return false;
}

static void checked(int rc, struct err *e, const char *s, bool any_byte)
{
	if (rc < 0) {
		/* the message shows the value with its control bytes escaped */
		FUZZ_CHECK(rc == -1 && err_isset(e));
		FUZZ_CHECK(!strchr(err_str(e), '\n') && !strchr(err_str(e), '\r'));
	} else {
		FUZZ_CHECK(rc == 0 && (any_byte || !has_separator(s)));
	}
	err_release(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	char *s = malloc(size + 1), *norm = NULL;
	uint64_t ms = 0, n64 = 0;
	unsigned port = 0;
	int rc;

	memcpy(s, data, size);
	s[size] = '\0';
	checked(control_check_service_name(s, &e), &e, s, false);
	checked(control_check_host(s, &e), &e, s, false);
	checked(control_check_health_path(s, &e), &e, s, false);
	checked(control_check_target("target", s, &e), &e, s, false);
	checked(control_check_rollout_value(s, &e), &e, s, false);
	checked(control_check_duration("drain-timeout", s, 1, &ms, &e), &e, s, true);
	checked(control_check_error_pages(s, &e), &e, s, true);
	checked(control_check_header_name("client-ip-header", s, &e), &e, s, false);
	checked(control_check_health_host(s, &e), &e, s, false);
	checked(control_check_size("buffer-memory", s, &n64, &e), &e, s, false);
	rc = control_check_port("health-check-port", s, &port, &e);
	checked(rc, &e, s, false);
	FUZZ_CHECK(rc < 0 || (port >= 1 && port <= 65535));
	rc = control_check_metrics_path(s, &norm, &e);
	checked(rc, &e, s, false);
	if (rc == 0) {
		FUZZ_CHECK(norm[0] == '/' && strlen(norm) <= strlen(s));
		free(norm);
		norm = NULL;
	}
	rc = control_check_path_prefix(s, &norm, &e);
	checked(rc, &e, s, false);
	if (rc == 0) {
		size_t n = strlen(norm);

		/* one longer at most: a prefix without its leading '/' gets one, as kamal-proxy's
		 */
		FUZZ_CHECK(n <= strlen(s) + (s[0] != '/') && norm[0] == '/');
		FUZZ_CHECK(path_is_normal(norm, n) || memchr(norm, '%', n));
		free(norm);
	} else {
		FUZZ_CHECK(!norm);
	}
	free(s);
	return 0;
}
