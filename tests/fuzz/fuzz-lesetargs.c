/*
 * letsencrypt:set's words come from an admin's SSH command line
 * (daemon/berthd.h letsencrypt_set_args): the input is split at NUL bytes
 * into words. Whatever they are: an error, or --global or a valid app
 * name, the key email or server, and a value that is none, an address that
 * passes the check, or an https directory URL that does; never a crash or
 * a leak.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/berthd.h"
#include "daemon/sshcmd.h"
#include "proxy/acmeset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	const char *argv[8] = {"letsencrypt:set"};
	const char *app, *key;
	char *value = NULL;
	struct err e = ERR_INIT;
	int argc = 1, r;
	size_t off = 0;

	memcpy(buf, data, size);
	buf[size] = '\0';
	while (off <= size && argc < 7) {
		argv[argc++] = buf + off;
		off += strlen(buf + off) + 1;
	}
	r = letsencrypt_set_args(argc, argv, &app, &key, &value, &e);
	if (r < 0) {
		if (!err_isset(&e) || value) {
			__builtin_trap();
		}
	} else {
		if (err_isset(&e) || (app && (!sshcmd_valid_app(app) || strcmp(app, argv[1]))) ||
		    (!app && strcmp(argv[1], "--global")) ||
		    (strcmp(key, "email") && strcmp(key, "server"))) {
			__builtin_trap();
		}
		if (value && (!strcmp(key, "email") ? acmeset_check_email(value, &e) < 0
						    : acmeset_check_directory(value, &e) < 0)) {
			__builtin_trap();
		}
	}
	free(value);
	err_release(&e);
	free(buf);
	return 0;
}
