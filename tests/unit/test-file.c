#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/sbuf.h"
#include "unit.h"

static char tmpdir[] = "/tmp/berth-test-file.XXXXXX";

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		n += de->d_name[0] != '.';
	}
	if (d) {
		closedir(d);
	}
	return n;
}

static void test_write_atomic(void)
{
	struct sbuf path = SBUF_INIT, got = SBUF_INIT;
	struct err e = ERR_INIT;
	struct stat st;
	int fd;

	sbuf_addf(&path, "%s/acme.key", tmpdir);
	/* an older file, readable by all, is replaced by one only its owner reads */
	fd = open(path.buf, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "old", 3) == 3);
	close(fd);
	chmod(path.buf, 0644);
	CHECK_INT(file_write_atomic(path.buf, "secret", 6, 0600, &e), 0);
	CHECK_INT(stat(path.buf, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	sbuf_read_file(&got, path.buf);
	CHECK_STR(got.buf, "secret");
	/* another mode is given as asked; nothing is left beside the file */
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/state.json", tmpdir);
	CHECK_INT(file_write_atomic(path.buf, "{}", 2, 0644, &e), 0);
	CHECK_INT(stat(path.buf, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0644);
	CHECK_INT(count_files(tmpdir), 2);
	/* an empty file is a file */
	CHECK_INT(file_write_atomic(path.buf, "", 0, 0600, &e), 0);
	CHECK_INT(stat(path.buf, &st), 0);
	CHECK_INT((int)st.st_size, 0);
	/* a folder that is not there: the error names the file, nothing is left */
	CHECK_INT(file_write_atomic("/nonexistent/dir/k.pem", "x", 1, 0600, &e), -1);
	CHECK(strstr(err_str(&e), "/nonexistent/dir/k.pem") != NULL);
	err_release(&e);
	unlink(path.buf);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/acme.key", tmpdir);
	unlink(path.buf);
	sbuf_release(&path);
	sbuf_release(&got);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		return 1;
	}
	UNIT_RUN(test_write_atomic);
	rmdir(tmpdir);
	return unit_done();
}
