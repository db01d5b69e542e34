/*
 * An app's points file (daemon/apicharts.h) is read back strictly: any
 * bytes must be read or refused cleanly, a refusal must leave no point, and
 * what is read must hold the reader's promises (times ascending, inside the
 * window, values not negative or NaN) and draw as an SVG chart whose JSON
 * reads back the same number of points.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/apicharts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const charts[] = {"requests", "latency", "errors"};
	const int64_t now = 1700003600;
	struct series_point *p = NULL, *q = NULL;
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t n, m;

	if (apicharts_points_parse((const char *)data, size, now, &p, &n, &e) < 0) {
		if (p || n || !err_isset(&e)) {
			__builtin_trap();
		}
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i].t <= now - APICHARTS_WINDOW || (i && p[i].t <= p[i - 1].t) ||
		    p[i].rps < 0 || p[i].p99_ms < 0) {
			__builtin_trap();
		}
	}
	for (size_t i = 0; i < 3; i++) {
		sbuf_reset(&sb);
		if (apicharts_svg(&sb, "app", charts[i], p, n) < 0 || strncmp(sb.buf, "<svg ", 5)) {
			__builtin_trap();
		}
	}
	sbuf_reset(&sb);
	apicharts_points_json(&sb, p, n);
	if (apicharts_points_parse(sb.buf, sb.len, now, &q, &m, &e) < 0 || m != n) {
		__builtin_trap();
	}
out:
	free(p);
	free(q);
	sbuf_release(&sb);
	err_release(&e);
	return 0;
}
