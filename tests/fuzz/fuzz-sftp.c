/*
 * What an sftp server sends is read as untrusted: the packet length, the
 * SSH_FXP_VERSION hello and every reply. Whatever the bytes, a parse either
 * fails with a message and leaves nothing behind, or gives values within
 * the packet and within the limits: slices inside the input, a handle of 1
 * to 256 bytes, a count of names the bytes can hold.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/sftp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(struct slice s, const uint8_t *data, size_t size)
{
	if (!s.len) {
		return;
	}
	if ((const uint8_t *)s.ptr < data || (const uint8_t *)s.ptr + s.len > data + size) {
		__builtin_trap();
	}
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (c[i]) {
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = slice_make((const char *)data, size);
	struct sftp_version v;
	struct sftp_reply r;
	struct sftp_attrs a;
	struct err e = ERR_INIT;
	size_t used;
	long len;
	int rc;

	if (size >= 4) {
		len = sftp_packet_len(data);
		if (len != -1 && (len < 1 || len > SFTP_MAX_PACKET)) {
			__builtin_trap();
		}
	}

	rc = sftp_parse_version(in, &v, &e);
	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (rc == 0 && (v.exts & ~(SFTP_EXT_POSIX_RENAME | SFTP_EXT_FSYNC | SFTP_EXT_STATVFS))) {
		__builtin_trap();
	}
	if (rc == 0 && v.nr_exts > size / 8) {
		__builtin_trap(); /* each extension takes two lengths at least */
	}
	if (rc < 0 && !all_zero(&v, sizeof(v))) {
		__builtin_trap();
	}
	err_release(&e);

	rc = sftp_parse_reply(in, &r, &e);
	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (rc == 0) {
		check_inside(r.msg, data, size);
		check_inside(r.data, data, size);
		switch (r.type) {
		case SFTP_FXP_STATUS:
		case SFTP_FXP_DATA:
		case SFTP_FXP_ATTRS:
		case SFTP_FXP_EXTENDED_REPLY:
			break;
		case SFTP_FXP_HANDLE:
			if (!r.data.len || r.data.len > SFTP_HANDLE_MAX) {
				__builtin_trap();
			}
			break;
		case SFTP_FXP_NAME:
			if (r.count > size / 12 || (r.count && !r.data.ptr && r.data.len)) {
				__builtin_trap();
			}
			break;
		default:
			__builtin_trap();
		}
	} else if (r.type || r.id || r.msg.len || r.data.len || r.count) {
		__builtin_trap(); /* nothing half-filled on failure */
	}
	err_release(&e);

	rc = sftp_parse_attrs(in, &a, &used, &e);
	if ((rc < 0) != err_isset(&e) || (rc == 0 && used > size)) {
		__builtin_trap();
	}
	err_release(&e);

	/* statvfs's reply: eleven uint64, or refused when shorter */
	{
		struct sftp_fs fs;

		if ((sftp_parse_statvfs(in, &fs) < 0) != (size < 88)) {
			__builtin_trap();
		}
	}
	return 0;
}
