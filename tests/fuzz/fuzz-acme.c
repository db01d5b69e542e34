/*
 * Everything an ACME CA sends back is untrusted: the directory, orders,
 * authorizations, problem documents, Retry-After. Parse it every way
 * proxy/acme.c does and describe it for a person; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct acme_directory d = {0};
	struct acme_order o = {0};
	struct acme_authz a = {0};
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	uint64_t ms;
	char *s;
	size_t i;

	if (acme_directory_parse(in, size, &d, &e) == 0) {
		acme_directory_release(&d);
	}
	if (acme_order_parse(in, size, &o, &e) == 0) {
		if (o.error) {
			acme_problem_describe(o.error, strlen(o.error), NULL, ACME_HTTP01, &sb);
		}
		acme_order_release(&o);
	}
	if (acme_authz_parse(in, size, &a, &e) == 0) {
		acme_authz_pick(&a, ACME_HTTP01, true, &e);
		acme_authz_pick(&a, ACME_TLSALPN01, false, &e);
		for (i = 0; i < a.nr_chall; i++) {
			if (a.chall[i].error) {
				acme_problem_describe(a.chall[i].error, strlen(a.chall[i].error),
						      a.name, ACME_DNS01, &sb);
			}
		}
		acme_authz_release(&a);
	}
	acme_problem_describe(in, size, "example.com", ACME_TLSALPN01, &sb);
	acme_problem_is(in, size, "badNonce");
	s = malloc(size + 1);
	memcpy(s, in, size);
	s[size] = '\0';
	acme_retry_after_ms(s, 1700000000, &ms);
	acme_jwk_thumbprint(s, &sb, &e);
	acme_b64url_decode(in, size, &sb);
	free(s);
	sbuf_release(&sb);
	err_release(&e);
	return 0;
}
