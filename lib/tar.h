/*
 * tar — a POSIX ustar archive built in memory, for the few files berth hands
 * to `docker cp -` (a service's error pages): directories and regular files
 * only, owned by root, dated now. No process, no temporary file.
 *
 *	struct sbuf t = SBUF_INIT;
 *	tar_add_dir(&t, "pages", 0755);
 *	tar_add_file(&t, "pages/503.html", body, len, 0644);
 *	tar_finish(&t);
 *
 * Names are at most 99 bytes (ustar's name field; no prefix split): a longer
 * one is refused.
 */
#ifndef TAR_H
#define TAR_H

#include <stddef.h>

#include "lib/sbuf.h"

#define TAR_NAME_MAX 99

/* Appends a directory entry. Returns 0, or -1 for a name that does not fit. */
int tar_add_dir(struct sbuf *out, const char *name, unsigned mode);
/* Appends a regular file with its data. Returns 0, or -1 for a name that does not fit. */
int tar_add_file(struct sbuf *out, const char *name, const void *data, size_t len, unsigned mode);
/* Appends the two zero blocks that end an archive. */
void tar_finish(struct sbuf *out);

#endif
