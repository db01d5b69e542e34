#include "lib/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/sbuf.h"
#include "lib/banned.h"

/* Makes the rename in path's folder survive a crash. */
static void sync_folder(const char *path)
{
	const char *slash = strrchr(path, '/');
	struct sbuf dir = SBUF_INIT;
	int fd;

	if (!slash) {
		sbuf_addstr(&dir, ".");
	} else if (slash == path) {
		sbuf_addstr(&dir, "/");
	} else {
		sbuf_add(&dir, path, (size_t)(slash - path));
	}
	fd = open(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	sbuf_release(&dir);
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e)
{
	struct sbuf tmp = SBUF_INIT;
	const char *p = data;
	int fd = -1, ret = -1;

	sbuf_addf(&tmp, "%s.tmpXXXXXX", path);
	/* mkstemp creates it 0600; fchmod gives the mode asked for, never wider first */
	fd = mkostemp(tmp.buf, O_CLOEXEC);
	if (fd < 0) {
		err_set(e, "cannot create '%s': %s", tmp.buf, strerror(errno));
		sbuf_reset(&tmp);
		goto out;
	}
	if (fchmod(fd, mode) < 0) {
		err_set(e, "cannot chmod '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			err_set(e, "cannot write '%s': %s", tmp.buf,
				strerror(n < 0 ? errno : ENOSPC));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		err_set(e, "cannot write '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_set(e, "cannot write '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, path) < 0) {
		err_set(e, "cannot rename '%s' to '%s': %s", tmp.buf, path, strerror(errno));
		goto out;
	}
	sbuf_reset(&tmp);
	sync_folder(path);
	ret = 0;
out:
	if (fd >= 0) {
		close(fd);
	}
	if (tmp.len) {
		unlink(tmp.buf);
	}
	sbuf_release(&tmp);
	return ret;
}

#define REMOVE_DEPTH_MAX 256

/* Empties the directory fd (which this closes), depth levels below the top. */
static int remove_under(int fd, const char *top, unsigned depth, struct err *e)
{
	DIR *dh = fdopendir(fd);
	struct dirent *de;
	int ret = -1;

	if (!dh) {
		close(fd);
		return err_set(e, "cannot read '%s': %s", top, strerror(errno));
	}
	if (depth > REMOVE_DEPTH_MAX) {
		err_set(e, "cannot remove '%s': more than %d levels of directories", top,
			REMOVE_DEPTH_MAX);
		goto out;
	}
	while ((errno = 0, de = readdir(dh))) {
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			continue;
		}
		if (!unlinkat(dirfd(dh), de->d_name, 0)) {
			continue;
		}
		if (errno != EISDIR && errno != EPERM) {
			err_set(e, "cannot remove '%s' under '%s': %s", de->d_name, top,
				strerror(errno));
			goto out;
		}
		sub =
		    openat(dirfd(dh), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			err_set(e, "cannot open '%s' under '%s': %s", de->d_name, top,
				strerror(errno));
			goto out;
		}
		if (remove_under(sub, top, depth + 1, e) < 0) {
			goto out;
		}
		if (unlinkat(dirfd(dh), de->d_name, AT_REMOVEDIR) < 0) {
			err_set(e, "cannot remove '%s' under '%s': %s", de->d_name, top,
				strerror(errno));
			goto out;
		}
		/* entries were removed: read the directory again from its start */
		rewinddir(dh);
	}
	if (errno) {
		err_set(e, "cannot read '%s': %s", top, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	closedir(dh);
	return ret;
}

int file_remove_tree(const char *path, struct err *e)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0) {
		return errno == ENOENT
			   ? 0
			   : err_set(e, "cannot remove '%s': %s", path, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode)) {
		if (S_ISLNK(st.st_mode)) {
			return err_set(e, "'%s' is a symbolic link: not removing it", path);
		}
		return unlink(path) < 0
			   ? err_set(e, "cannot remove '%s': %s", path, strerror(errno))
			   : 0;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return err_set(e, "cannot open '%s': %s", path, strerror(errno));
	}
	if (remove_under(fd, path, 0, e) < 0) {
		return -1;
	}
	if (rmdir(path) < 0) {
		return err_set(e, "cannot remove '%s': %s", path, strerror(errno));
	}
	return 0;
}
