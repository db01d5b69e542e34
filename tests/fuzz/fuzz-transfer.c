/*
 * What `docker save` writes and what a host answers are read as untrusted:
 * the manifest, the image config, inspect's line and the probe's answer.
 * Whatever the bytes, a parse either fails with a message or gives values
 * within the limits: relative paths without "..", digests of the right form.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No empty, "." or ".." part, nothing absolute, within the limit. */
static void check_path(const char *p)
{
	const char *part = p, *slash;
	size_t n;

	if (!*p || *p == '/' || strlen(p) > TRANSFER_MAX_PATH) {
		__builtin_trap();
	}
	for (;;) {
		slash = strchr(part, '/');
		n = slash ? (size_t)(slash - part) : strlen(part);
		if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && !strncmp(part, "..", 2))) {
			__builtin_trap();
		}
		if (!slash) {
			break;
		}
		part = slash + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct transfer_manifest m;
	struct transfer_image img;
	struct transfer_probe p;
	struct strvec ids = STRVEC_INIT;
	struct err e = ERR_INIT;
	size_t i;
	int r;

	transfer_manifest_init(&m);
	r = transfer_parse_manifest(buf, size, &m, &e);
	if ((r < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (r == 0) {
		check_path(m.config);
		if (m.layers.nr > TRANSFER_MAX_LAYERS || m.tags.nr > TRANSFER_MAX_TAGS) {
			__builtin_trap();
		}
		for (i = 0; i < m.layers.nr; i++) {
			check_path(m.layers.v[i]);
		}
	} else if (m.config || m.layers.nr) {
		__builtin_trap(); /* nothing half-filled on failure */
	}
	transfer_manifest_release(&m);
	err_release(&e);

	if (transfer_parse_config(buf, size, &ids, &e) == 0) {
		for (i = 0; i < ids.nr; i++) {
			if (!transfer_valid_digest(slice_cstr(ids.v[i]))) {
				__builtin_trap();
			}
		}
	}
	strvec_clear(&ids);
	err_release(&e);

	transfer_image_init(&img);
	if (transfer_parse_inspect(slice_make(buf, size), &img, &e) == 0 &&
	    (!transfer_valid_digest(slice_cstr(img.id)) || img.diff_ids.nr > TRANSFER_MAX_LAYERS)) {
		__builtin_trap();
	}
	transfer_image_release(&img);
	err_release(&e);

	transfer_probe_init(&p);
	if (transfer_parse_probe(slice_make(buf, size), &p, &e) == 0) {
		/* the cache may go unnamed only by a host that has the image, or was asked Docker
		 * only */
		if ((p.dir ? p.dir[0] != '/' : !(p.tagged || p.has_id || p.layers_unknown)) ||
		    p.cached.nr > TRANSFER_MAX_LAYERS) {
			__builtin_trap();
		}
		for (i = 0; i < p.cached.nr; i++) {
			if (strlen(p.cached.v[i]) != 64) {
				__builtin_trap();
			}
		}
	}
	transfer_probe_release(&p);
	err_release(&e);
	return 0;
}
