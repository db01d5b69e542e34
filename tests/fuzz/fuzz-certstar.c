/*
 * certs:add reads a tar from stdin (daemon/certs.h): whatever the bytes,
 * the reader finds a certificate and a key (both, each NUL-free and within
 * CERTS_FILE_MAX, with names) or says why not, keeping nothing; and the
 * pair found goes through the OpenSSL check without a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/certs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct certs_pair p;
	struct err e = ERR_INIT;
	int rc = certs_from_tar(data, size, &p, &e);

	if ((rc < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (rc < 0) {
		(void)err_str(&e);
		if (p.crt || p.key || p.crt_name || p.key_name) {
			__builtin_trap(); /* nothing kept from a bad archive */
		}
	} else {
		struct certs_info in;

		if (!p.crt || !p.key || !p.crt_name || !p.key_name ||
		    strlen(p.crt) > CERTS_FILE_MAX || strlen(p.key) > CERTS_FILE_MAX) {
			__builtin_trap();
		}
		if (certs_check(p.crt, p.key, &in, &e) == 0) {
			certs_info_release(&in);
		}
	}
	certs_pair_release(&p);
	err_release(&e);
	return 0;
}
