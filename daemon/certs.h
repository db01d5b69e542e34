/*
 * certs — the certificate and key of Dokku's `certs:add APP < tar`: read
 * from a tar archive on stdin, checked with OpenSSL the way berth-proxy
 * loads them (proxy/tls.h: the leaf, its chain, a key that matches the
 * leaf), and described for certs:report. The key is never part of a
 * description.
 *
 * The tar (ustar, GNU or pax, as tar(1) writes them): regular files only
 * count, by the name's last component: one "*.crt" or "*.pem" (the
 * certificate, then its chain) and one "*.key" (its private key, not
 * encrypted). Directories, pax headers, macOS "._*" files and other names
 * are skipped; links, devices and the like are ignored too. Two
 * certificates or two keys, a file over CERTS_FILE_MAX, a bad checksum, an
 * entry cut short or a NUL inside a PEM are errors.
 */
#ifndef CERTS_H
#define CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/err.h"
#include "lib/strvec.h"

#define CERTS_FILE_MAX (256 * 1024)	 /* one PEM file */
#define CERTS_TAR_MAX  (4 * 1024 * 1024) /* the whole archive on stdin */

struct certs_pair {
	char *crt, *key;	   /* malloc'd PEM text; NULL: not found */
	char *crt_name, *key_name; /* the names in the archive */
};

/* Reads the pair from an archive. 0, or -1 with e set (p released). */
int certs_from_tar(const void *buf, size_t len, struct certs_pair *p, struct err *e);
void certs_pair_release(struct certs_pair *p);

/* What certs:report says of a certificate. */
struct certs_info {
	char *subject, *issuer; /* one line each, RFC 2253 */
	struct strvec names;	/* its DNS names (subjectAltName) */
	time_t not_before, not_after;
	bool self_signed;
	bool verified; /* chains to a CA of this host's trust store */
};

/*
 * Checks crt (leaf then chain) and key as berth-proxy would load them, the
 * key matching the leaf; fills info when not NULL. 0, or -1 with e set.
 */
int certs_check(const char *crt, const char *key, struct certs_info *info, struct err *e);
void certs_info_release(struct certs_info *info);

/* Whether info's names cover host (one "*." label matches one label). */
bool certs_covers(const struct certs_info *info, const char *host);

/* "2026-12-06T08:00:00Z" into buf (at least 21 bytes). */
void certs_time(char *buf, size_t size, time_t t);

#endif
