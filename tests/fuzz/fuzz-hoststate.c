/*
 * What a host sends back about its state — the lock's status and holder.json,
 * audit lines, journal lines — is untrusted. Parse it every way berth does,
 * describe it and render it as JSON; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/hoststate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = slice_make((const char *)data, size);
	struct hoststate_lock l;
	struct hoststate_audit a;
	struct hoststate_releases rs;
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t i;
	json_t *j;

	hoststate_lock_init(&l);
	if (hoststate_lock_parse_status(in, &l, &e) == 0) {
		hoststate_lock_judge(&l, "fuzz-machine-that-is-not-this-one");
		hoststate_lock_describe(&sb, &l);
		j = hoststate_lock_json(&l);
		if (!j) {
			__builtin_trap();
		}
		json_decref(j);
	}
	if (hoststate_holder_parse(in, &l, &e) == 0) {
		sbuf_reset(&sb);
		hoststate_holder_format(&sb, &l);
	}
	hoststate_lock_release(&l);

	hoststate_audit_init(&a);
	hoststate_audit_parse(in, &a);
	for (i = 0; i < a.nr; i++) {
		sbuf_reset(&sb);
		hoststate_audit_describe(&sb, &a.v[i]);
		json_decref(hoststate_audit_json(&a.v[i]));
	}
	hoststate_audit_release(&a);

	for (i = 0; i < 2; i++) {
		size_t k;
		hoststate_releases_init(&rs);
		hoststate_journal_parse(in, i == 1, &rs);
		for (k = 0; k < rs.nr; k++) {
			sbuf_reset(&sb);
			hoststate_release_format(&sb, &rs.v[k]);
		}
		hoststate_releases_release(&rs);
	}
	sbuf_release(&sb);
	err_release(&e);
	return 0;
}
