/*
 * file — writing a file so that a crash never leaves half of it.
 *
 * file_write_atomic() writes the bytes to a temporary file beside path (a
 * unique name per call, created with the given mode whatever the umask, so
 * a key is never readable by others even for a moment), syncs it, renames
 * it over path and syncs the folder, so after a crash path holds either
 * the old contents or the new ones. Two writers of one path never share a
 * temporary file; the last rename wins. Safe from any thread.
 */
#ifndef FILE_H
#define FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* Returns 0, or -1 with e set (naming the file); the temporary file is removed on failure. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e);

/*
 * Removes path and everything under it; a missing path is no error. A
 * symbolic link at path itself is refused. 0, or -1 with e set (naming what
 * could not be removed).
 */
int file_remove_tree(const char *path, struct err *e);

#endif
