/* untar — see untar.h. */
#include "daemon/untar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/banned.h"
#include "lib/xalloc.h"

#define BLOCK	    512
#define EXT_MAX	    (64 * 1024) /* a pax extended header's data */
#define INFLATE_BUF (32 * 1024)
/* inflated bytes allowed past the archive's end (tar pads to its record size) */
#define TRAILER_MAX (1024 * 1024)

enum {
	ST_HEADER, /* filling u->block */
	ST_DATA,   /* u->left bytes of data to come */
	ST_PAD,	   /* u->pad bytes of padding to come */
	ST_END,	   /* after the end-of-archive block: the rest is dropped */
};

void untar_init(struct untar *u, const struct untar_ops *ops, void *ctx,
		const struct untar_limits *lim)
{
	static const struct untar_ops none;

	memset(u, 0, sizeof(*u));
	u->ops = ops ? ops : &none;
	u->ctx = ctx;
	if (lim) {
		u->lim = *lim;
	}
	if (!u->lim.bytes_max) {
		u->lim.bytes_max = UNTAR_BYTES_MAX_DEFAULT;
	}
	if (!u->lim.files_max) {
		u->lim.files_max = UNTAR_FILES_MAX_DEFAULT;
	}
	if (!u->lim.path_max) {
		u->lim.path_max = UNTAR_PATH_MAX_DEFAULT;
	}
	u->state = ST_HEADER;
	sbuf_init(&u->ext, 0);
	sbuf_init(&u->path, 0);
	sbuf_init(&u->link, 0);
	sbuf_init(&u->pax_path, 0);
	sbuf_init(&u->pax_link, 0);
	sbuf_init(&u->gnu_path, 0);
	sbuf_init(&u->gnu_link, 0);
	u->en.path = u->path.buf;
	u->en.link = u->link.buf;
}

void untar_release(struct untar *u)
{
	if (u->z) {
		inflateEnd(u->z);
		free(u->z);
		u->z = NULL;
	}
	sbuf_release(&u->ext);
	sbuf_release(&u->path);
	sbuf_release(&u->link);
	sbuf_release(&u->pax_path);
	sbuf_release(&u->pax_link);
	sbuf_release(&u->gnu_path);
	sbuf_release(&u->gnu_link);
}

/* A numeric field: octal (NUL- or space-terminated) or GNU's base-256. -1 when it is not one. */
static long long number(const unsigned char *f, size_t n)
{
	long long v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80) {
			return -1; /* negative, or too large to matter */
		}
		for (i = 1; i < n; i++) {
			if (v > (1LL << 40)) {
				return -1;
			}
			v = v * 256 + f[i];
		}
		return v;
	}
	while (i < n && f[i] == ' ') {
		i++;
	}
	if (i == n || f[i] < '0' || f[i] > '7') {
		return -1;
	}
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (1LL << 40)) {
			return -1;
		}
		v = v * 8 + (f[i] - '0');
	}
	for (; i < n; i++) {
		if (f[i] != ' ' && f[i] != '\0') {
			return -1;
		}
	}
	return v;
}

static bool zero_block(const unsigned char *h)
{
	for (size_t i = 0; i < BLOCK; i++) {
		if (h[i]) {
			return false;
		}
	}
	return true;
}

/* The checksum, as POSIX (unsigned bytes) or old tars (signed) count it. */
static bool checksum_ok(const unsigned char *h)
{
	long long want = number(h + 148, 8);
	long long us = 0, s = 0;

	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];
		us += c;
		s += (signed char)c;
	}
	return want >= 0 && (want == us || want == s);
}

static enum untar_type type_of(char t)
{
	switch (t) {
	case '0':
	case '\0':
	case '7':
		return UNTAR_FILE;
	case '5':
		return UNTAR_DIR;
	case '1':
		return UNTAR_HARDLINK;
	case '2':
		return UNTAR_SYMLINK;
	case '3':
		return UNTAR_CHAR;
	case '4':
		return UNTAR_BLOCK;
	case '6':
		return UNTAR_FIFO;
	default:
		return UNTAR_OTHER;
	}
}

/* A pax extended header's records ("LEN key=value\n"); applied unless global. */
static int pax_parse(struct untar *u, bool global, struct err *e)
{
	const char *p = u->ext.buf, *end = u->ext.buf + u->ext.len;

	while (p < end) {
		size_t len = 0;
		const char *q = p, *rec_end, *eq;

		while (q < end && *q >= '0' && *q <= '9' && len < EXT_MAX) {
			len = len * 10 + (size_t)(*q++ - '0');
		}
		if (q == p || q == end || *q != ' ' || len > (size_t)(end - p) || len < 5 ||
		    p[len - 1] != '\n') {
			return err_set(e, "a pax extended header is malformed");
		}
		rec_end = p + len - 1;
		q++;
		eq = memchr(q, '=', (size_t)(rec_end - q));
		if (!eq || eq == q) {
			return err_set(e, "a pax extended header is malformed");
		}
		if (!global) {
			size_t klen = (size_t)(eq - q), vlen = (size_t)(rec_end - eq - 1);
			const char *v = eq + 1;
			struct sbuf *dst = NULL;
			bool *has = NULL;

			if (klen == 4 && !memcmp(q, "path", 4)) {
				dst = &u->pax_path;
				has = &u->has_pax_path;
			} else if (klen == 8 && !memcmp(q, "linkpath", 8)) {
				dst = &u->pax_link;
				has = &u->has_pax_link;
			} else if (klen == 4 && !memcmp(q, "size", 4)) {
				uint64_t n = 0;

				if (!vlen || vlen > 15) {
					return err_set(e, "a pax header's size is not a number");
				}
				for (size_t i = 0; i < vlen; i++) {
					if (v[i] < '0' || v[i] > '9') {
						return err_set(
						    e, "a pax header's size is not a number");
					}
					n = n * 10 + (uint64_t)(v[i] - '0');
				}
				u->pax_size = n;
				u->has_pax_size = true;
			}
			if (dst) {
				if (memchr(v, '\0', vlen)) {
					return err_set(e, "a pax header's %s holds a NUL byte",
						       dst == &u->pax_path ? "path" : "linkpath");
				}
				if (vlen > u->lim.path_max) {
					return err_set(e,
						       "a pax header's %s is longer than %zu bytes",
						       dst == &u->pax_path ? "path" : "linkpath",
						       u->lim.path_max);
				}
				sbuf_reset(dst);
				sbuf_add(dst, v, vlen);
				*has = true;
			}
		}
		p += len;
	}
	return 0;
}

/* The end of an extended header's data: applied to the next entry. */
static int ext_done(struct untar *u, struct err *e)
{
	switch (u->kind) {
	case 'x':
		return pax_parse(u, false, e);
	case 'g':
		return pax_parse(u, true, e);
	case 'L':
	case 'K': {
		struct sbuf *dst = u->kind == 'L' ? &u->gnu_path : &u->gnu_link;

		sbuf_reset(dst);
		sbuf_add(dst, u->ext.buf, strnlen(u->ext.buf, u->ext.len));
		if (u->kind == 'L') {
			u->has_gnu_path = true;
		} else {
			u->has_gnu_link = true;
		}
		return 0;
	}
	}
	return 0;
}

static int entry_end(struct untar *u, struct err *e)
{
	if (u->kind) {
		return ext_done(u, e);
	}
	if (u->ops->end && u->ops->end(u->ctx, &u->en, e) < 0) {
		return err_isset(e) ? -1 : err_set(e, "'%s' was refused", u->en.path);
	}
	return 0;
}

/* A whole header block. 0, or -1 with e set. */
static int header(struct untar *u, struct err *e)
{
	const unsigned char *h = u->block;
	long long size;
	char t;
	uint64_t data;

	if (zero_block(h)) {
		u->state = ST_END;
		return 0;
	}
	if (!checksum_ok(h)) {
		return err_set(e, "not a tar archive (a header's checksum is wrong, at byte %llu)",
			       (unsigned long long)(u->bytes - BLOCK));
	}
	size = number(h + 124, 12);
	if (size < 0) {
		return err_set(e, "not a tar archive (a header's size is not a number)");
	}
	t = (char)h[156];
	if (t == 'x' || t == 'g' || t == 'L' || t == 'K') {
		size_t max = t == 'x' || t == 'g' ? EXT_MAX : u->lim.path_max + 1;

		if ((unsigned long long)size > max) {
			return err_set(e, "%s is longer than %zu bytes",
				       t == 'L'	  ? "a long name in the tar archive"
				       : t == 'K' ? "a long link target in the tar archive"
						  : "a pax extended header",
				       max);
		}
		u->kind = t;
		sbuf_reset(&u->ext);
		data = (uint64_t)size;
	} else {
		u->kind = 0;
		sbuf_reset(&u->path);
		if (u->has_pax_path) {
			sbuf_addstr(&u->path, u->pax_path.buf);
		} else if (u->has_gnu_path) {
			sbuf_addstr(&u->path, u->gnu_path.buf);
		} else {
			if (!memcmp(h + 257, "ustar", 5) && h[345]) {
				sbuf_add(&u->path, h + 345, strnlen((const char *)h + 345, 155));
				sbuf_addch(&u->path, '/');
			}
			sbuf_add(&u->path, h, strnlen((const char *)h, 100));
		}
		sbuf_reset(&u->link);
		if (u->has_pax_link) {
			sbuf_addstr(&u->link, u->pax_link.buf);
		} else if (u->has_gnu_link) {
			sbuf_addstr(&u->link, u->gnu_link.buf);
		} else {
			sbuf_add(&u->link, h + 157, strnlen((const char *)h + 157, 100));
		}
		if (u->has_pax_size) {
			size = (long long)u->pax_size;
		}
		u->has_pax_path = u->has_pax_link = u->has_pax_size = false;
		u->has_gnu_path = u->has_gnu_link = false;
		u->en.path = u->path.buf;
		u->en.link = u->link.buf;
		u->en.typeflag = t;
		u->en.type = type_of(t);
		u->en.mode = (unsigned)(number(h + 100, 8) & 07777);
		/* POSIX: the size of devices, FIFOs and directories is no data */
		if (t == '3' || t == '4' || t == '5' || t == '6') {
			size = 0;
		}
		u->en.size = (uint64_t)size;
		if (u->path.len > u->lim.path_max) {
			return err_set(e, "'%.40s...': the path is longer than %zu bytes",
				       u->path.buf, u->lim.path_max);
		}
		if (u->link.len > u->lim.path_max) {
			return err_set(e, "'%s': the link target is longer than %zu bytes",
				       u->path.buf, u->lim.path_max);
		}
		if (++u->files > u->lim.files_max) {
			return err_set(e, "the tar archive holds more than %u entries",
				       u->lim.files_max);
		}
		if (u->ops->entry && u->ops->entry(u->ctx, &u->en, e) < 0) {
			return err_isset(e) ? -1 : err_set(e, "'%s' was refused", u->en.path);
		}
		data = u->en.size;
	}
	u->left = data;
	u->pad = (BLOCK - data % BLOCK) % BLOCK;
	if (data) {
		u->state = ST_DATA;
		return 0;
	}
	u->state = ST_HEADER;
	return entry_end(u, e);
}

/* Bytes of the tar stream (after gzip). */
static int tar_bytes(struct untar *u, const unsigned char *p, size_t len, struct err *e)
{
	bool over = len > u->lim.bytes_max - u->bytes;

	if (u->state == ST_END) {
		return 0;
	}
	if (over) { /* up to the limit: an archive that ends there is whole */
		len = (size_t)(u->lim.bytes_max - u->bytes);
	}
	while (len && u->state != ST_END) {
		size_t n;

		switch (u->state) {
		case ST_HEADER:
			n = BLOCK - u->have < len ? BLOCK - u->have : len;
			memcpy(u->block + u->have, p, n);
			u->have += n;
			u->bytes += n;
			if (u->have == BLOCK) {
				u->have = 0;
				if (header(u, e) < 0) {
					return -1;
				}
			}
			break;
		case ST_DATA:
			n = u->left < len ? (size_t)u->left : len;
			if (u->kind) {
				sbuf_add(&u->ext, p, n);
			} else if (u->ops->data && u->ops->data(u->ctx, &u->en, p, n, e) < 0) {
				return err_isset(e) ? -1
						    : err_set(e, "'%s' was refused", u->en.path);
			}
			u->left -= n;
			u->bytes += n;
			if (!u->left) {
				u->state = u->pad ? ST_PAD : ST_HEADER;
				if (entry_end(u, e) < 0) {
					return -1;
				}
			}
			break;
		case ST_PAD:
			n = u->pad < len ? (size_t)u->pad : len;
			u->pad -= n;
			u->bytes += n;
			if (!u->pad) {
				u->state = ST_HEADER;
			}
			break;
		default:
			n = len;
			break;
		}
		p += n;
		len -= n;
	}
	if (over && u->state != ST_END) {
		return err_set(e, "the tar archive is larger than %llu bytes",
			       (unsigned long long)u->lim.bytes_max);
	}
	return 0;
}

static int inflate_bytes(struct untar *u, const unsigned char *p, size_t len, struct err *e)
{
	z_stream *z = u->z;
	unsigned char out[INFLATE_BUF];

	if (!z) { /* the gzip stream ended: what follows is dropped */
		return 0;
	}
	z->next_in = (unsigned char *)p;
	z->avail_in = (uInt)len;
	do {
		int r;
		size_t n;

		z->next_out = out;
		z->avail_out = sizeof(out);
		r = inflate(z, Z_NO_FLUSH);
		n = sizeof(out) - z->avail_out;
		/* what inflated before a corruption counts, whatever the pieces fed */
		if (n && tar_bytes(u, out, n, e) < 0) {
			return -1;
		}
		u->inflated += n;
		if (u->inflated > u->lim.bytes_max + TRAILER_MAX) {
			return err_set(e, "the gzip data inflates to more than %llu bytes",
				       (unsigned long long)(u->lim.bytes_max + TRAILER_MAX));
		}
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			return err_set(e, "the gzip data is corrupt: %s",
				       z->msg ? z->msg : "inflate failed");
		}
		if (r == Z_STREAM_END) {
			inflateEnd(z);
			free(z);
			u->z = NULL;
			u->zdone = true;
			return 0;
		}
		if (r == Z_BUF_ERROR && !n) {
			break;
		}
	} while (z->avail_in || !z->avail_out);
	return 0;
}

/* Bytes of the input, past the sniffing of gzip's magic. */
static int input_bytes(struct untar *u, const unsigned char *p, size_t len, struct err *e)
{
	if (!u->gzip) {
		return tar_bytes(u, p, len, e);
	}
	while (len) { /* zlib counts in uInt */
		size_t n = len < (1U << 30) ? len : (1U << 30);

		if (inflate_bytes(u, p, n, e) < 0) {
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int untar_feed(struct untar *u, const void *buf, size_t len, struct err *e)
{
	const unsigned char *p = buf;

	if (u->failed) {
		return err_set(e, "the tar archive was refused already");
	}
	if (u->nmagic < 2) {
		size_t n = 2 - u->nmagic < len ? 2 - u->nmagic : len;

		memcpy(u->magic + u->nmagic, p, n);
		u->nmagic += n;
		p += n;
		len -= n;
		if (u->nmagic < 2) {
			return 0;
		}
		if (u->magic[0] == 0x1f && u->magic[1] == 0x8b) {
			u->z = xcalloc(1, sizeof(z_stream));
			if (inflateInit2(u->z, 15 + 16) != Z_OK) {
				free(u->z);
				u->z = NULL;
				err_set(e, "cannot start zlib's inflate");
				goto fail;
			}
			u->gzip = true;
		}
		if (input_bytes(u, u->magic, 2, e) < 0) {
			goto fail;
		}
	}
	if (len && input_bytes(u, p, len, e) < 0) {
		goto fail;
	}
	return 0;
fail:
	u->failed = true;
	return -1;
}

int untar_finish(struct untar *u, struct err *e)
{
	if (u->failed) {
		return err_set(e, "the tar archive was refused already");
	}
	u->failed = true;
	if (!u->nmagic) {
		return err_set(e, "the tar archive is empty");
	}
	if (u->nmagic == 1) {
		return err_set(e, "not a tar archive: it ends inside a header");
	}
	if (u->gzip && !u->zdone && u->state != ST_END) {
		return err_set(e, "the gzip data is cut short");
	}
	if (u->state == ST_HEADER && u->have) {
		return err_set(e, "not a tar archive: it ends inside a header");
	}
	if (u->state == ST_DATA || u->state == ST_PAD) {
		return err_set(e, "the tar archive is cut short");
	}
	if (u->state == ST_HEADER && u->kind) {
		return err_set(e, "the tar archive ends after an extended header");
	}
	u->failed = false;
	return 0;
}

/* Extraction. */

static int entry_fail(struct err *e, const struct untar_entry *en, const char *why)
{
	return err_set(e, "'%s': %s", en->path, why);
}

/*
 * Opens (creating when missing) the directory component c under at, never
 * following a link. The new fd, or -1 with e set.
 */
static int open_dir(int at, const char *c, const struct untar_entry *en, struct err *e)
{
	int fd = openat(at, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(at, c, 0755) < 0 && errno != EEXIST) {
			err_set(e, "'%s': cannot create the directory '%s': %s", en->path, c,
				strerror(errno));
			return -1;
		}
		fd = openat(at, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && fchmod(fd, 0755) < 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		err_set(e, "'%s': '%s' is not a directory it can be put in: %s", en->path, c,
			strerror(errno == ELOOP ? ENOTDIR : errno));
	}
	return fd;
}

static int dir_entry(void *ctx, const struct untar_entry *en, struct err *e)
{
	struct untar_dir *d = ctx;
	struct sbuf comps = SBUF_INIT;
	const char *p = en->path, *last = NULL;
	int at = d->dirfd, ret = -1;
	enum untar_type type = en->type;
	size_t plen = strlen(p);

	/* old tars mark a directory by a final '/' on a regular entry */
	if (type == UNTAR_FILE && plen && p[plen - 1] == '/' && !en->size) {
		type = UNTAR_DIR;
	}
	switch (type) {
	case UNTAR_FILE:
	case UNTAR_DIR:
		break;
	case UNTAR_SYMLINK:
		err_set(e,
			"'%s': a symbolic link (to '%s'): links are refused, an app's archive "
			"holds plain files and directories",
			en->path, en->link);
		goto out;
	case UNTAR_HARDLINK:
		err_set(e,
			"'%s': a hard link (to '%s'): links are refused, an app's archive "
			"holds plain files and directories",
			en->path, en->link);
		goto out;
	case UNTAR_CHAR:
	case UNTAR_BLOCK:
	case UNTAR_FIFO:
		err_set(e,
			"'%s': a %s: refused, an app's archive holds plain files and directories",
			en->path, en->type == UNTAR_FIFO ? "FIFO" : "device");
		goto out;
	default:
		err_set(e,
			"'%s': an entry of type '%c' is not supported (plain files and "
			"directories only)",
			en->path, en->typeflag >= 0x21 && en->typeflag < 0x7f ? en->typeflag : '?');
		goto out;
	}
	if (p[0] == '/') {
		entry_fail(e, en, "an absolute path is refused");
		goto out;
	}
	/* the components, each NUL-terminated, "" and "." dropped */
	while (*p) {
		const char *s = strchr(p, '/');
		size_t n = s ? (size_t)(s - p) : strlen(p);

		if (n == 2 && !memcmp(p, "..", 2)) {
			entry_fail(e, en, "a '..' component is refused");
			goto out;
		}
		if (n && !(n == 1 && p[0] == '.')) {
			sbuf_add(&comps, p, n);
			sbuf_addch(&comps, '\0');
		}
		p += n + (s ? 1 : 0);
	}
	if (!comps.len) {
		if (type == UNTAR_DIR) {
			ret = 0; /* "./": the directory itself */
			goto out;
		}
		entry_fail(e, en, "a file without a name");
		goto out;
	}
	for (const char *c = comps.buf; c < comps.buf + comps.len; c += strlen(c) + 1) {
		if (c + strlen(c) + 1 == comps.buf + comps.len) {
			last = c;
			break;
		}
		int fd = open_dir(at, c, en, e);

		if (fd < 0) {
			goto out;
		}
		if (at != d->dirfd) {
			close(at);
		}
		at = fd;
	}
	if (type == UNTAR_DIR) {
		int fd = open_dir(at, last, en, e);

		if (fd < 0) {
			goto out;
		}
		close(fd);
	} else {
		d->fd =
		    openat(at, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d->fd < 0) {
			if (errno == EEXIST) {
				entry_fail(e, en, "the name is given twice in the archive");
			} else {
				err_set(e, "'%s': cannot create the file: %s", en->path,
					strerror(errno));
			}
			goto out;
		}
		if (fchmod(d->fd, en->mode & 0100 ? 0755 : 0644) < 0) {
			err_set(e, "'%s': cannot set its mode: %s", en->path, strerror(errno));
			goto out;
		}
	}
	ret = 0;
out:
	if (at != d->dirfd) {
		close(at);
	}
	sbuf_release(&comps);
	return ret;
}

static int dir_data(void *ctx, const struct untar_entry *en, const void *buf, size_t len,
		    struct err *e)
{
	struct untar_dir *d = ctx;
	const char *p = buf;

	if (d->fd < 0) {
		return entry_fail(e, en, "data for an entry that holds none");
	}
	while (len) {
		ssize_t n = write(d->fd, p, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return err_set(e, "'%s': cannot write: %s", en->path,
				       n < 0 ? strerror(errno) : "no progress");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int dir_end(void *ctx, const struct untar_entry *en, struct err *e)
{
	struct untar_dir *d = ctx;

	if (d->fd >= 0) {
		int r = close(d->fd);

		d->fd = -1;
		if (r < 0) {
			return err_set(e, "'%s': cannot write: %s", en->path, strerror(errno));
		}
	}
	return 0;
}

static const struct untar_ops dir_ops = {dir_entry, dir_data, dir_end};

int untar_dir_open(struct untar_dir *d, const char *dir, const struct untar_limits *lim,
		   struct err *e)
{
	DIR *dh;
	struct dirent *de;
	int fd;
	bool empty = true;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->dirfd < 0) {
		return err_set(e, "cannot open the directory '%s': %s", dir, strerror(errno));
	}
	fd = dup(d->dirfd);
	dh = fd < 0 ? NULL : fdopendir(fd);
	if (!dh) {
		if (fd >= 0) {
			close(fd);
		}
		close(d->dirfd);
		return err_set(e, "cannot read the directory '%s': %s", dir, strerror(errno));
	}
	while ((de = readdir(dh))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	}
	closedir(dh);
	if (!empty) {
		close(d->dirfd);
		return err_set(e, "the directory '%s' is not empty", dir);
	}
	untar_init(&d->u, &dir_ops, d, lim);
	return 0;
}

int untar_dir_feed(struct untar_dir *d, const void *buf, size_t len, struct err *e)
{
	return untar_feed(&d->u, buf, len, e);
}

int untar_dir_finish(struct untar_dir *d, struct err *e)
{
	if (untar_finish(&d->u, e) < 0) {
		if (d->fd >= 0) {
			err_prefix(e, "'%s'", d->u.en.path);
		}
		return -1;
	}
	return 0;
}

void untar_dir_release(struct untar_dir *d)
{
	if (d->fd >= 0) {
		close(d->fd);
	}
	if (d->dirfd >= 0) {
		close(d->dirfd);
	}
	untar_release(&d->u);
	d->fd = d->dirfd = -1;
}

int untar_extract_fd(int fd, const char *dir, const struct untar_limits *lim, struct err *e)
{
	struct untar_dir d;
	char *buf;
	int ret = -1;

	if (untar_dir_open(&d, dir, lim, e) < 0) {
		return -1;
	}
	buf = xmalloc(64 * 1024);
	for (;;) {
		ssize_t n = read(fd, buf, 64 * 1024);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			err_set(e, "cannot read the tar archive: %s", strerror(errno));
			goto out;
		}
		if (!n) {
			break;
		}
		if (untar_dir_feed(&d, buf, (size_t)n, e) < 0) {
			goto out;
		}
	}
	ret = untar_dir_finish(&d, e);
out:
	free(buf);
	untar_dir_release(&d);
	return ret;
}
