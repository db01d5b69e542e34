#include "lib/file.h"

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
