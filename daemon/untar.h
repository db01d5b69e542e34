/*
 * untar — reading tar archives from untrusted senders: a streaming reader
 * (struct untar) and, on top of it, a safe extraction into an empty
 * directory (struct untar_dir) for the sources an app is built from.
 *
 * The reader takes the archive in chunks of any size, plain or
 * gzip-compressed (told apart by gzip's magic bytes; zlib inflates it), in
 * the formats tar(1) and `git archive` write: ustar (name with its prefix),
 * GNU long names and long link names ('L', 'K'), pax extended headers
 * ('x': path, linkpath and size are applied; global 'g' headers are read
 * and dropped). Each header's checksum is verified (POSIX's unsigned sum or
 * the signed one old tars wrote). The archive ends at its first zero block
 * or, as some writers leave it, at the end of the input between entries;
 * an entry cut short or a header that is not one is an error. Every entry
 * but the extended headers goes to ops: its header, its data in pieces,
 * its end.
 *
 *	struct untar u;
 *	untar_init(&u, &ops, ctx, NULL);
 *	while (more input)
 *		if (untar_feed(&u, buf, n, &e) < 0) ...
 *	if (untar_finish(&u, &e) < 0) ...
 *	untar_release(&u);
 *
 * Extraction (untar_dir_*) writes into an existing, empty directory, only
 * through file descriptors: every path component is opened with openat()
 * and O_NOFOLLOW relative to the directory above it, files are created with
 * O_EXCL, so nothing the archive says (nor a concurrent change of the tree)
 * can make it write outside the directory. It refuses, naming the entry:
 * an absolute path, a ".." component, a symbolic or hard link, a device,
 * a FIFO or any other special entry, a name given twice, a path longer than
 * the limit, and more files or bytes than the limits. Directories are
 * created 0755; files 0644, or 0755 when the archive marks them executable
 * by their owner (scripts a Dockerfile runs); ownership, times and other
 * mode bits are not restored. On an error the directory holds a part of
 * the archive: the caller removes it (file_remove_tree() in lib/file.h).
 */
#ifndef UNTAR_H
#define UNTAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sbuf.h"

enum untar_type {
	UNTAR_FILE,	/* '0', '\0' and '7' (contiguous) */
	UNTAR_DIR,	/* '5' */
	UNTAR_HARDLINK, /* '1' */
	UNTAR_SYMLINK,	/* '2' */
	UNTAR_CHAR,	/* '3' */
	UNTAR_BLOCK,	/* '4' */
	UNTAR_FIFO,	/* '6' */
	UNTAR_OTHER,	/* anything else (GNU sparse files, volume labels, ...) */
};

/* One entry, valid from ops->entry to ops->end. */
struct untar_entry {
	const char *path; /* as the archive names it: pax path, long name or prefix/name */
	const char *link; /* the target of a link, "" for other entries */
	enum untar_type type;
	char typeflag; /* the header's byte, for messages */
	uint64_t size; /* bytes of data that follow */
	unsigned mode; /* the header's permission bits */
};

/* What the reader calls; each returns 0 to go on or -1 (with e set) to stop. NULL: nothing. */
struct untar_ops {
	int (*entry)(void *ctx, const struct untar_entry *en, struct err *e);
	int (*data)(void *ctx, const struct untar_entry *en, const void *buf, size_t len,
		    struct err *e);
	int (*end)(void *ctx, const struct untar_entry *en, struct err *e);
};

/* Limits; a zero field takes its default. */
struct untar_limits {
	uint64_t bytes_max; /* the archive as read, after gzip; default 512 MiB */
	unsigned files_max; /* entries; default 20000 */
	size_t path_max;    /* bytes of a path or link target; default 1024 */
};

#define UNTAR_BYTES_MAX_DEFAULT (512ULL * 1024 * 1024)
#define UNTAR_FILES_MAX_DEFAULT 20000
#define UNTAR_PATH_MAX_DEFAULT	1024

struct untar {
	const struct untar_ops *ops;
	void *ctx;
	struct untar_limits lim;
	int state;
	unsigned char block[512];
	size_t have;	    /* bytes of block filled */
	uint64_t left, pad; /* data and padding bytes still to come for this entry */
	uint64_t bytes;	    /* read so far, after gzip */
	unsigned files;
	char kind;	 /* what the data in progress is: 'x', 'g', 'L', 'K' or 0 for an entry's */
	struct sbuf ext; /* an extended header's data being read */
	struct sbuf path, link; /* the current entry's */
	struct sbuf pax_path, pax_link, gnu_path, gnu_link;
	bool has_pax_path, has_pax_link, has_pax_size, has_gnu_path, has_gnu_link;
	uint64_t pax_size;
	struct untar_entry en;
	unsigned char magic[2]; /* the first bytes, to tell gzip */
	size_t nmagic;
	bool gzip, zdone; /* gzip-compressed; its stream ended */
	uint64_t inflated;
	void *z; /* zlib's stream while inflating */
	bool failed;
};

/* Prepares u; lim may be NULL for the defaults. */
void untar_init(struct untar *u, const struct untar_ops *ops, void *ctx,
		const struct untar_limits *lim);
/* Reads the next len bytes of the archive. 0, or -1 with e set; after -1 every call fails. */
int untar_feed(struct untar *u, const void *buf, size_t len, struct err *e);
/* The input ended: 0 when the archive was whole, else -1 with e set. */
int untar_finish(struct untar *u, struct err *e);
void untar_release(struct untar *u);

/* Extraction into a directory. */
struct untar_dir {
	struct untar u;
	int dirfd; /* the target directory */
	int fd;	   /* the file being written, or -1 */
	uint64_t written;
};

/*
 * Opens dir, which must exist, be a directory (not a symbolic link) and be
 * empty, for an extraction with these limits (NULL: the defaults).
 * 0, or -1 with e set (d then needs no release).
 */
int untar_dir_open(struct untar_dir *d, const char *dir, const struct untar_limits *lim,
		   struct err *e);
/* Extracts the next len bytes of the archive. 0, or -1 with e set. */
int untar_dir_feed(struct untar_dir *d, const void *buf, size_t len, struct err *e);
/* The archive ended. 0 when it was whole and every file is written, else -1 with e set. */
int untar_dir_finish(struct untar_dir *d, struct err *e);
void untar_dir_release(struct untar_dir *d);

/* Extracts the whole archive read from fd into dir (untar_dir_open's rules). 0, or -1. */
int untar_extract_fd(int fd, const char *dir, const struct untar_limits *lim, struct err *e);

#endif
