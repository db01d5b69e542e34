/*
 * daemon/untar: archives written header by header (ustar, a prefix, GNU
 * long names, pax paths, gzip) extracted into an empty directory, fed
 * whole and byte by byte; every unsafe entry refused by name with nothing
 * written outside; limits, broken archives; and lib/file's
 * file_remove_tree, which never follows a link.
 */
#include "daemon/untar.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/file.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char root[64]; /* a temporary folder; the archives go into root/out */
static char out[80];

/* One header (and its data, padded) with a checksum tar(1) would write. */
static void hdr(struct sbuf *t, const char *name, char type, const char *link, const void *data,
		size_t size, unsigned mode, const char *prefix)
{
	unsigned char h[512] = {0};
	unsigned sum = 0;
	char num[16];

	memcpy(h, name, strlen(name) > 100 ? 100 : strlen(name));
	snprintf((char *)h + 100, 8, "%07o", mode);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	snprintf(num, sizeof(num), "%011zo", size);
	memcpy(h + 124, num, 12);
	memcpy(h + 136, "00000000000", 12);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	if (link) {
		memcpy(h + 157, link, strlen(link) > 100 ? 100 : strlen(link));
	}
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	if (prefix) {
		memcpy(h + 345, prefix, strlen(prefix));
	}
	for (size_t i = 0; i < 512; i++) {
		sum += h[i];
	}
	snprintf((char *)h + 148, 8, "%06o", sum);
	sbuf_add(t, h, 512);
	if (size) {
		sbuf_add(t, data, size);
		while (t->len % 512) {
			sbuf_addch(t, '\0');
		}
	}
}

static void file(struct sbuf *t, const char *name, const char *text)
{
	hdr(t, name, '0', NULL, text, strlen(text), 0644, NULL);
}

/* A pax header saying key=value for the next entry. */
static void pax(struct sbuf *t, const char *key, const char *value)
{
	struct sbuf r = SBUF_INIT;
	size_t n = strlen(key) + strlen(value) + 3, digits = 1;

	for (size_t m = n + 1; m >= 10; m /= 10) {
		digits++;
	}
	sbuf_addf(&r, "%zu %s=%s\n", n + digits, key, value);
	hdr(t, "PaxHeaders.0/x", 'x', NULL, r.buf, r.len, 0644, NULL);
	sbuf_release(&r);
}

static void finish(struct sbuf *t)
{
	char z[1024] = {0};

	sbuf_add(t, z, sizeof(z));
}

static void gzip(const struct sbuf *in, struct sbuf *gz)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	sbuf_reset(gz);
	sbuf_grow(gz, deflateBound(&z, in->len) + 64);
	z.next_in = (unsigned char *)in->buf;
	z.avail_in = (uInt)in->len;
	z.next_out = (unsigned char *)gz->buf;
	z.avail_out = (uInt)(gz->alloc - 1);
	deflate(&z, Z_FINISH);
	sbuf_setlen(gz, z.total_out);
	deflateEnd(&z);
}

static void fresh_out(void)
{
	struct err e = ERR_INIT;
	char path[96];

	CHECK_INT(file_remove_tree(out, &e), 0);
	CHECK_INT(mkdir(out, 0700), 0);
	snprintf(path, sizeof(path), "%s/x", root);
	unlink(path);
	err_release(&e);
}

/* Extracts t into out, fed in pieces of step bytes (0: whole). 0, or -1 with e set. */
static int extract(const struct sbuf *t, size_t step, const struct untar_limits *lim, struct err *e)
{
	struct untar_dir d;
	size_t off = 0;
	int r = -1;

	fresh_out();
	if (untar_dir_open(&d, out, lim, e) < 0) {
		return -1;
	}
	while (off < t->len) {
		size_t n = step && step < t->len - off ? step : t->len - off;

		if (untar_dir_feed(&d, t->buf + off, n, e) < 0) {
			goto done;
		}
		off += n;
	}
	r = untar_dir_finish(&d, e);
done:
	untar_dir_release(&d);
	return r;
}

/* The text of out/rel, or "(none)"; its mode into *mode. */
static const char *read_out(const char *rel, unsigned *mode)
{
	static struct sbuf sb = SBUF_INIT;
	char path[2048];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", out, rel);
	sbuf_reset(&sb);
	if (lstat(path, &st) < 0) {
		return "(none)";
	}
	*mode = st.st_mode & 07777;
	if (S_ISDIR(st.st_mode)) {
		return "(dir)";
	}
	if (!S_ISREG(st.st_mode) || sbuf_read_file(&sb, path) < 0) {
		return "(other)";
	}
	return sb.buf;
}

static void good_archive(struct sbuf *t, char *long_name, char *pax_name)
{
	memset(long_name, 'l', 150);
	long_name[150] = '\0';
	memcpy(long_name, "deep/", 5);
	memset(pax_name, 'p', 300);
	pax_name[300] = '\0';
	memcpy(pax_name, "pax/", 4);
	pax_name[154] = '/';
	sbuf_reset(t);
	hdr(t, "./", '5', NULL, NULL, 0, 0755, NULL);
	file(t, "./Dockerfile", "FROM scratch\n");
	hdr(t, "src", '5', NULL, NULL, 0, 0700, NULL);
	hdr(t, "src/run.sh", '0', NULL, "#!/bin/sh\n", 10, 0775, NULL);
	file(t, "src//./empty", "");
	hdr(t, "file-in-prefix", '0', NULL, "P", 1, 0600, "a/b");
	hdr(t, "././@LongLink", 'L', NULL, long_name, strlen(long_name) + 1, 0644, NULL);
	file(t, "deep/llllllll-cut-at-100", "long");
	pax(t, "path", pax_name);
	file(t, "pax/ignored", "pax");
	file(t, "implicit/parent/x", "x");
	finish(t);
}

static void check_good(void)
{
	char long_name[151], pax_name[301];
	unsigned mode = 0;

	memset(long_name, 'l', 150);
	long_name[150] = '\0';
	memcpy(long_name, "deep/", 5);
	memset(pax_name, 'p', 300);
	pax_name[300] = '\0';
	memcpy(pax_name, "pax/", 4);
	pax_name[154] = '/';
	CHECK_STR(read_out("Dockerfile", &mode), "FROM scratch\n");
	CHECK_INT(mode, 0644);
	CHECK_STR(read_out("src", &mode), "(dir)");
	CHECK_INT(mode, 0755);
	CHECK_STR(read_out("src/run.sh", &mode), "#!/bin/sh\n");
	CHECK_INT(mode, 0755);
	CHECK_STR(read_out("src/empty", &mode), "");
	CHECK_STR(read_out("a/b/file-in-prefix", &mode), "P");
	CHECK_INT(mode, 0644);
	CHECK_STR(read_out(long_name, &mode), "long");
	CHECK_STR(read_out(pax_name, &mode), "pax");
	CHECK_STR(read_out("pax/ignored", &mode), "(none)");
	CHECK_STR(read_out("implicit/parent/x", &mode), "x");
	CHECK_STR(read_out("implicit/parent", &mode), "(dir)");
	CHECK_INT(mode, 0755);
}

static void test_extracts(void)
{
	struct sbuf t = SBUF_INIT, gz = SBUF_INIT;
	struct err e = ERR_INIT;
	char long_name[151], pax_name[301];

	good_archive(&t, long_name, pax_name);
	gzip(&t, &gz);
	for (size_t step = 0; step <= 3; step++) {
		CHECK_INT(extract(&t, step ? step * 97 - 96 : 0, NULL, &e), 0);
		check_good();
		CHECK_INT(extract(&gz, step ? step * 97 - 96 : 0, NULL, &e), 0);
		check_good();
	}
	/* no end-of-archive blocks, as some writers leave it; garbage after them */
	sbuf_setlen(&t, t.len - 1024);
	CHECK_INT(extract(&t, 0, NULL, &e), 0);
	check_good();
	finish(&t);
	sbuf_addstr(&t, "trailing bytes after the end are not read");
	CHECK_INT(extract(&t, 0, NULL, &e), 0);
	check_good();
	sbuf_release(&t);
	sbuf_release(&gz);
	err_release(&e);
}

/* Extracting t fails with want in the message, fed whole and byte by byte. */
static void refused(const struct sbuf *t, const char *want, const struct untar_limits *lim)
{
	struct err e = ERR_INIT;
	char path[96];

	for (size_t step = 0; step < 2; step++) {
		CHECK_INT(extract(t, step, lim, &e), -1);
		if (!strstr(err_str(&e), want)) {
			printf("#   got:  %s\n#   want: %s\n", err_str(&e), want);
			CHECK(0);
		}
		snprintf(path, sizeof(path), "%s/x", root);
		CHECK(access(path, F_OK) < 0); /* nothing outside out */
	}
	err_release(&e);
}

static void test_refuses_unsafe_entries(void)
{
	struct sbuf t = SBUF_INIT;
	struct err e = ERR_INIT;
	unsigned mode = 0;

	file(&t, "ok", "fine");
	file(&t, "../x", "escape");
	finish(&t);
	refused(&t, "'../x': a '..' component is refused", NULL);

	sbuf_reset(&t);
	file(&t, "a/b/../../../x", "escape");
	refused(&t, "'a/b/../../../x': a '..' component is refused", NULL);

	sbuf_reset(&t);
	file(&t, "/etc/x", "escape");
	refused(&t, "'/etc/x': an absolute path is refused", NULL);

	sbuf_reset(&t);
	hdr(&t, "link", '2', "/etc", NULL, 0, 0777, NULL);
	file(&t, "link/x", "escape");
	refused(&t, "'link': a symbolic link (to '/etc'): links are refused", NULL);

	sbuf_reset(&t);
	file(&t, "a", "a");
	hdr(&t, "b", '1', "a", NULL, 0, 0644, NULL);
	refused(&t, "'b': a hard link (to 'a'): links are refused", NULL);

	sbuf_reset(&t);
	pax(&t, "path", "../x");
	file(&t, "innocent", "escape");
	refused(&t, "'../x': a '..' component", NULL);

	sbuf_reset(&t);
	pax(&t, "linkpath", "/etc/passwd");
	hdr(&t, "l", '2', "short", NULL, 0, 0777, NULL);
	refused(&t, "'l': a symbolic link (to '/etc/passwd')", NULL);

	sbuf_reset(&t);
	hdr(&t, "p", '6', NULL, NULL, 0, 0644, NULL);
	refused(&t, "'p': a FIFO: refused", NULL);
	sbuf_reset(&t);
	hdr(&t, "dev/null", '3', NULL, NULL, 0, 0644, NULL);
	refused(&t, "'dev/null': a device: refused", NULL);
	sbuf_reset(&t);
	hdr(&t, "sparse", 'S', NULL, NULL, 0, 0644, NULL);
	refused(&t, "'sparse': an entry of type 'S' is not supported", NULL);

	sbuf_reset(&t);
	file(&t, "twice", "1");
	file(&t, "twice", "2");
	refused(&t, "'twice': the name is given twice", NULL);
	sbuf_reset(&t);
	file(&t, "f", "1");
	file(&t, "f/g", "2");
	refused(&t, "'f/g': 'f' is not a directory", NULL);
	sbuf_reset(&t);
	file(&t, "./", "data");
	refused(&t, "'./': a file without a name", NULL);
	/* old tars: an empty regular entry ending in '/' is a directory */
	sbuf_reset(&t);
	file(&t, "old/", "");
	file(&t, "old/f", "f");
	CHECK_INT(extract(&t, 0, NULL, &e), 0);
	CHECK_STR(read_out("old", &mode), "(dir)");
	sbuf_release(&t);
	err_release(&e);
}

static void test_limits(void)
{
	struct sbuf t = SBUF_INIT;
	struct untar_limits lim = {.files_max = 2};
	struct err e = ERR_INIT;
	char name[300];

	file(&t, "a", "1");
	file(&t, "b", "2");
	file(&t, "c", "3");
	finish(&t);
	refused(&t, "more than 2 entries", &lim);
	lim = (struct untar_limits){.bytes_max = 2048};
	refused(&t, "the tar archive is larger than 2048 bytes", &lim);
	/* an archive that ends at the limit is whole, whatever padding follows */
	lim = (struct untar_limits){.bytes_max = t.len - 512};
	sbuf_addstr(&t, "padding");
	CHECK_INT(extract(&t, 0, &lim, &e), 0);
	CHECK_INT(extract(&t, 1, &lim, &e), 0);
	lim = (struct untar_limits){.path_max = 120};
	memset(name, 'n', sizeof(name));
	name[121] = '\0';
	sbuf_reset(&t);
	hdr(&t, "././@LongLink", 'L', NULL, name, 122, 0644, NULL);
	file(&t, "n", "x");
	refused(&t, "a long name in the tar archive is longer than 121 bytes", &lim);
	name[299] = '\0';
	sbuf_reset(&t);
	pax(&t, "path", name);
	file(&t, "n", "x");
	refused(&t, "a pax header's path is longer than 120 bytes", &lim);
	sbuf_reset(&t);
	memset(name, 'q', 150);
	name[150] = '\0';
	hdr(&t, "short", '0', NULL, "x", 1, 0644, name);
	refused(&t, "the path is longer than 120 bytes", &lim);
	sbuf_release(&t);
	err_release(&e);
}

static void test_broken_archives(void)
{
	struct sbuf t = SBUF_INIT, gz = SBUF_INIT;
	struct err e = ERR_INIT;
	char big[2000];

	refused(&t, "the tar archive is empty", NULL);
	sbuf_addstr(&t, "x");
	refused(&t, "not a tar archive: it ends inside a header", NULL);
	sbuf_reset(&t);
	file(&t, "a", "aaaa");
	t.buf[10] ^= 1;
	refused(&t, "a header's checksum is wrong", NULL);
	memset(big, 'b', sizeof(big));
	sbuf_reset(&t);
	hdr(&t, "big", '0', NULL, big, sizeof(big), 0644, NULL);
	sbuf_setlen(&t, 1000);
	refused(&t, "'big': the tar archive is cut short", NULL);
	sbuf_setlen(&t, 300);
	refused(&t, "not a tar archive: it ends inside a header", NULL);
	sbuf_reset(&t);
	pax(&t, "path", "x");
	refused(&t, "ends after an extended header", NULL);
	sbuf_reset(&t);
	hdr(&t, "PaxHeaders/x", 'x', NULL, "9 path\n", 7, 0644, NULL);
	refused(&t, "a pax extended header is malformed", NULL);
	sbuf_reset(&t);
	hdr(&t, "PaxHeaders/x", 'x', NULL, "11 size=1x\n", 11, 0644, NULL);
	refused(&t, "a pax header's size is not a number", NULL);

	/* gzip: cut short, corrupt */
	sbuf_reset(&t);
	hdr(&t, "big", '0', NULL, big, sizeof(big), 0644, NULL);
	finish(&t);
	gzip(&t, &gz);
	sbuf_setlen(&gz, gz.len / 2);
	refused(&gz, "cut short", NULL);
	gzip(&t, &gz);
	gz.buf[12] ^= 0x55;
	gz.buf[13] ^= 0x55;
	CHECK_INT(extract(&gz, 0, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "gzip") || strstr(err_str(&e), "tar"));
	sbuf_release(&t);
	sbuf_release(&gz);
	err_release(&e);
}

/* Runs argv (NULL-terminated) in dir; its stdout into stdout_buf. */
static int capture(const char *dir, struct sbuf *stdout_buf, const char **argv)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, argv);
	c.dir = dir;
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	r = run_one(&c);
	if (r < 0) {
		printf("# %s: %s\n", argv[0], c.errbuf.buf);
	}
	sbuf_reset(stdout_buf);
	sbuf_add(stdout_buf, c.outbuf.buf, c.outbuf.len);
	run_cmd_release(&c);
	return r;
}

/* What tar(1) and git archive write, in their formats, plain and gzip. */
static void test_real_tar_and_git(void)
{
	static const char *const formats[][8] = {
	    {"tar", "-cf", "-", ".", NULL},
	    {"tar", "--format=pax", "-czf", "-", ".", NULL},
	    {"tar", "--format=ustar", "-cf", "-", "Dockerfile", "src", "deep", NULL},
	    {"tar", "--format=v7", "-cf", "-", "Dockerfile", "src", NULL},
	    {"git", "archive", "--format=tar", "HEAD", NULL},
	    {"git", "archive", "--format=tar.gz", "HEAD", NULL},
	};
	const char *deep = "deep/ddddddddddddddddddddddddddddddddddddddddddddddddddddddd/"
			   "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/f";
	struct sbuf t = SBUF_INIT;
	struct err e = ERR_INIT;
	char src[96], path[256];
	unsigned mode = 0;
	int fd;

	snprintf(src, sizeof(src), "%s/src", root);
	CHECK_INT(mkdir(src, 0755), 0);
	snprintf(path, sizeof(path), "%s/src", src);
	CHECK_INT(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path),
		 "%s/deep/ddddddddddddddddddddddddddddddddddddddddddddddddddddddd/"
		 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
		 src);
	CHECK_INT(capture(src, &t, (const char *[]){"mkdir", "-p", path, NULL}), 0);
	snprintf(path, sizeof(path), "%s/%s", src, deep);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(write(fd, "deep\n", 5) == 5);
	close(fd);
	snprintf(path, sizeof(path), "%s/Dockerfile", src);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(write(fd, "FROM scratch\n", 13) == 13);
	close(fd);
	snprintf(path, sizeof(path), "%s/src/run.sh", src);
	fd = open(path, O_CREAT | O_WRONLY, 0755);
	CHECK(write(fd, "#!/bin/sh\n", 10) == 10);
	fchmod(fd, 0755);
	close(fd);
	CHECK_INT(capture(src, &t, (const char *[]){"git", "init", "-q", ".", NULL}), 0);
	CHECK_INT(capture(src, &t, (const char *[]){"git", "add", "-A", NULL}), 0);
	CHECK_INT(capture(src, &t,
			  (const char *[]){"git", "-c", "user.name=t", "-c", "user.email=t@t.test",
					   "commit", "-q", "-m", "x", NULL}),
		  0);
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		bool has_deep = i != 3;

		CHECK_INT(capture(src, &t, (const char **)formats[i]), 0);
		if (extract(&t, 0, NULL, &e) < 0) {
			printf("# %s %s: %s\n", formats[i][0], formats[i][1], err_str(&e));
			CHECK(0);
			continue;
		}
		CHECK_STR(read_out("Dockerfile", &mode), "FROM scratch\n");
		CHECK_INT(mode, 0644);
		CHECK_STR(read_out("src/run.sh", &mode), "#!/bin/sh\n");
		CHECK_INT(mode, 0755);
		CHECK_STR(read_out(deep, &mode), has_deep ? "deep\n" : "(none)");
	}
	/* a link in the tree: tar(1) writes it, extraction refuses it by name */
	snprintf(path, sizeof(path), "%s/src/etc", src);
	CHECK_INT(symlink("/etc", path), 0);
	CHECK_INT(capture(src, &t, (const char *[]){"tar", "-cf", "-", ".", NULL}), 0);
	CHECK_INT(extract(&t, 0, NULL, &e), -1);
	CHECK_STR(err_str(&e), "'./src/etc': a symbolic link (to '/etc'): links are refused, an "
			       "app's archive holds plain files and directories");
	sbuf_release(&t);
	err_release(&e);
}

static void test_target_directory(void)
{
	struct untar_dir d;
	struct err e = ERR_INIT;
	char path[128];
	int fd;

	fresh_out();
	snprintf(path, sizeof(path), "%s/there", out);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_INT(untar_dir_open(&d, out, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "is not empty") != NULL);
	snprintf(path, sizeof(path), "%s/link", root);
	unlink(path);
	CHECK_INT(symlink(out, path), 0);
	CHECK_INT(untar_dir_open(&d, path, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "cannot open the directory") != NULL);
	unlink(path);
	err_release(&e);
}

static void test_remove_tree_keeps_what_links_name(void)
{
	struct err e = ERR_INIT;
	char keep[96], path[160];
	int fd;

	snprintf(keep, sizeof(keep), "%s/keep", root);
	CHECK_INT(mkdir(keep, 0700), 0);
	snprintf(path, sizeof(path), "%s/file", keep);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	fresh_out();
	snprintf(path, sizeof(path), "%s/a", out);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/a/b", out);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/a/b/c", out);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	snprintf(path, sizeof(path), "%s/a/link", out);
	CHECK_INT(symlink(keep, path), 0);
	CHECK_INT(file_remove_tree(out, &e), 0);
	CHECK(access(out, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/file", keep);
	CHECK_INT(access(path, F_OK), 0);
	CHECK_INT(file_remove_tree(out, &e), 0); /* gone already: fine */
	/* a link itself is refused */
	snprintf(path, sizeof(path), "%s/link", root);
	CHECK_INT(symlink(keep, path), 0);
	CHECK_INT(file_remove_tree(path, &e), -1);
	CHECK(strstr(err_str(&e), "symbolic link") != NULL);
	unlink(path);
	CHECK_INT(file_remove_tree(keep, &e), 0);
	err_release(&e);
}

int main(void)
{
	struct err e = ERR_INIT;

	snprintf(root, sizeof(root), "/tmp/berth-untar-XXXXXX");
	if (!mkdtemp(root)) {
		return 1;
	}
	snprintf(out, sizeof(out), "%s/out", root);
	UNIT_RUN(test_extracts);
	UNIT_RUN(test_refuses_unsafe_entries);
	UNIT_RUN(test_limits);
	UNIT_RUN(test_broken_archives);
	UNIT_RUN(test_real_tar_and_git);
	UNIT_RUN(test_target_directory);
	UNIT_RUN(test_remove_tree_keeps_what_links_name);
	if (file_remove_tree(root, &e) < 0) {
		printf("# %s\n", err_str(&e));
	}
	err_release(&e);
	return unit_done();
}
