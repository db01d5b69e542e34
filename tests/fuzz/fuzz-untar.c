/*
 * An uploaded tar (plain or gzip) comes from anyone holding a token. Any
 * bytes must be read or refused cleanly: every entry gets exactly its
 * size in data and paths stay within the limit; the result is the same
 * whether the archive comes whole or in pieces (the first byte chooses
 * their size); and extracting it into a directory never creates anything
 * beside that directory, nor a link, nor a special file inside it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/untar.h"
#include "lib/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct untar_limits lim = {.bytes_max = 1 << 20, .files_max = 64, .path_max = 200};

struct rec {
	struct sbuf log;
	bool open;
	uint64_t got;
};

static int rec_entry(void *ctx, const struct untar_entry *en, struct err *e)
{
	struct rec *r = ctx;

	if (r->open || strlen(en->path) > lim.path_max || strlen(en->link) > lim.path_max) {
		__builtin_trap();
	}
	r->open = true;
	r->got = 0;
	sbuf_addf(&r->log, "<%s|%s|%d|%llu>", en->path, en->link, (int)en->type,
		  (unsigned long long)en->size);
	return 0;
}

static int rec_data(void *ctx, const struct untar_entry *en, const void *buf, size_t len,
		    struct err *e)
{
	struct rec *r = ctx;

	if (!r->open || !len || r->got + len > en->size) {
		__builtin_trap();
	}
	r->got += len;
	sbuf_add(&r->log, buf, len);
	return 0;
}

static int rec_end(void *ctx, const struct untar_entry *en, struct err *e)
{
	struct rec *r = ctx;

	if (!r->open || r->got != en->size) {
		__builtin_trap();
	}
	r->open = false;
	return 0;
}

static const struct untar_ops ops = {rec_entry, rec_data, rec_end};

static void run(const uint8_t *data, size_t size, size_t step, struct sbuf *out)
{
	struct untar u;
	struct rec r = {SBUF_INIT, false, 0};
	struct err e = ERR_INIT;
	size_t off = 0;
	int rc = -1;

	untar_init(&u, &ops, &r, &lim);
	while (off < size) {
		size_t n = step < size - off ? step : size - off;

		if (untar_feed(&u, data + off, n, &e) < 0) {
			goto out;
		}
		off += n;
	}
	rc = untar_finish(&u, &e);
	if (rc == 0 && r.open) {
		__builtin_trap();
	}
out:
	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	sbuf_add(out, r.log.buf, r.log.len);
	sbuf_addf(out, "=%d %s", rc, rc < 0 ? err_str(&e) : "");
	untar_release(&u);
	sbuf_release(&r.log);
	err_release(&e);
}

/* Nothing but directories and regular files under fd (closed here). */
static void only_plain(int fd)
{
	DIR *dh = fdopendir(fd);
	struct dirent *de;

	if (!dh) {
		__builtin_trap();
	}
	while ((de = readdir(dh))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			continue;
		}
		if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			__builtin_trap();
		}
		if (S_ISDIR(st.st_mode)) {
			only_plain(
			    openat(dirfd(dh), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
		} else if (!S_ISREG(st.st_mode) || (st.st_mode & 07022)) {
			__builtin_trap();
		}
	}
	closedir(dh);
}

static char root[64], out[80];

/* The fuzzer exits through exit(): the folder goes with it. */
static void remove_root(void)
{
	struct err e = ERR_INIT;

	file_remove_tree(root, &e);
	err_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf whole = SBUF_INIT, pieces = SBUF_INIT;
	struct untar_dir d;
	struct err e = ERR_INIT;
	DIR *dh;
	struct dirent *de;

	run(data, size, size ? size : 1, &whole);
	run(data, size, size ? (size_t)data[0] % 700 + 1 : 1, &pieces);
	if (whole.len != pieces.len || memcmp(whole.buf, pieces.buf, whole.len)) {
		__builtin_trap();
	}
	sbuf_release(&whole);
	sbuf_release(&pieces);

	if (!root[0]) {
		snprintf(root, sizeof(root), "/tmp/berth-fuzz-untar-XXXXXX");
		if (!mkdtemp(root)) {
			__builtin_trap();
		}
		snprintf(out, sizeof(out), "%s/out", root);
		atexit(remove_root);
	}
	if (mkdir(out, 0700) < 0 || untar_dir_open(&d, out, &lim, &e) < 0) {
		__builtin_trap();
	}
	if (untar_dir_feed(&d, data, size, &e) == 0) {
		untar_dir_finish(&d, &e);
	}
	untar_dir_release(&d);
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
	only_plain(open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
	if (file_remove_tree(out, &e) < 0) {
		__builtin_trap();
	}
	err_release(&e);
	return 0;
}
