#include "lib/tar.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/banned.h"

#define BLOCK 512

/* One header block: name, mode, size, type ('0' file, '5' directory). */
static int header(struct sbuf *out, const char *name, unsigned mode, size_t size, char type)
{
	unsigned char h[BLOCK];
	unsigned sum = 0;
	size_t i, n = strlen(name);

	if (!n || n > TAR_NAME_MAX) {
		return -1;
	}
	memset(h, 0, sizeof(h));
	memcpy(h, name, n);
	snprintf((char *)h + 100, 8, "%07o", mode & 07777);
	snprintf((char *)h + 108, 8, "%07o", 0u);
	snprintf((char *)h + 116, 8, "%07o", 0u);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011llo", (unsigned long long)time(NULL));
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	/* the checksum counts its own field as eight spaces */
	memset(h + 148, ' ', 8);
	for (i = 0; i < BLOCK; i++) {
		sum += h[i];
	}
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	sbuf_add(out, h, BLOCK);
	return 0;
}

int tar_add_dir(struct sbuf *out, const char *name, unsigned mode)
{
	return header(out, name, mode, 0, '5');
}

int tar_add_file(struct sbuf *out, const char *name, const void *data, size_t len, unsigned mode)
{
	static const char zeros[BLOCK];

	if (header(out, name, mode, len, '0') < 0) {
		return -1;
	}
	sbuf_add(out, data, len);
	if (len % BLOCK) {
		sbuf_add(out, zeros, BLOCK - len % BLOCK);
	}
	return 0;
}

void tar_finish(struct sbuf *out)
{
	static const char zeros[2 * BLOCK];

	sbuf_add(out, zeros, sizeof(zeros));
}
