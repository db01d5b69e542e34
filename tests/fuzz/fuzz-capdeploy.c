/*
 * An upload of `caprover deploy` (a multipart body holding a tar) comes
 * from anyone holding a session or an app token. Any bytes must be
 * extracted or refused cleanly: an error is said exactly when the upload
 * fails, the gitHash kept stays within its limit, the result is the same
 * whether the body comes whole or in pieces (the first byte chooses their
 * size), and nothing is ever written beside the upload's directory.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/capdeploy.h"
#include "lib/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CT "multipart/form-data; boundary=b0undary"

static char root[64], out[80];

/* The fuzzer exits through exit(): the folder goes with it. */
static void remove_root(void)
{
	struct err e = ERR_INIT;

	file_remove_tree(root, &e);
	err_release(&e);
}

/* Uploads data in pieces of step bytes into out (made here, removed after). */
static void run(const uint8_t *data, size_t size, size_t step, struct sbuf *res)
{
	struct capdeploy_upload u;
	struct err e = ERR_INIT;
	size_t off = 0;
	int rc = -1;
	DIR *dh;
	struct dirent *de;

	if (mkdir(out, 0700) < 0 || capdeploy_upload_init(&u, CT, out, &e) < 0) {
		__builtin_trap();
	}
	while (off < size) {
		size_t n = step < size - off ? step : size - off;

		if (capdeploy_upload_feed(&u, data + off, n, &e) < 0) {
			goto done;
		}
		off += n;
	}
	rc = capdeploy_upload_finish(&u, &e);
done:
	if ((rc < 0) != err_isset(&e) || u.git_hash.len > CAPDEPLOY_GIT_HASH_MAX) {
		__builtin_trap();
	}
	sbuf_addf(res, "%d %s|%s", rc, rc < 0 ? err_str(&e) : "", rc == 0 ? u.git_hash.buf : "");
	capdeploy_upload_release(&u);
	dh = opendir(root);
	while (dh && (de = readdir(dh))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "out")) {
			__builtin_trap(); /* written beside the directory */
		}
	}
	if (dh) {
		closedir(dh);
	}
	if (file_remove_tree(out, &e) < 0) {
		__builtin_trap();
	}
	err_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf whole = SBUF_INIT, pieces = SBUF_INIT;

	if (!root[0]) {
		snprintf(root, sizeof(root), "/tmp/berth-fuzz-capdeploy-XXXXXX");
		if (!mkdtemp(root)) {
			__builtin_trap();
		}
		snprintf(out, sizeof(out), "%s/out", root);
		atexit(remove_root);
	}
	run(data, size, size ? size : 1, &whole);
	run(data, size, size ? (size_t)data[0] % 700 + 1 : 1, &pieces);
	if (whole.len != pieces.len || memcmp(whole.buf, pieces.buf, whole.len)) {
		__builtin_trap();
	}
	sbuf_release(&whole);
	sbuf_release(&pieces);
	return 0;
}
