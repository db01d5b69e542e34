/*
 * acmeset — the ACME account's email and directory as changed at run time
 * (`berth-proxy acme`), kept in STATE/acme/settings.json so that a restart
 * or a handover keeps them.
 *
 *	berth-proxy acme [--json]			what is in effect, and from where
 *	berth-proxy acme --email ADDR --directory URL	set one or both
 *	berth-proxy acme --email "" | --directory ""	clear one (the boot's value again)
 *	berth-proxy acme --reset			clear both
 *
 * Which wins: a value set at run time wins over the one given at boot
 * (--acme-email / BERTH_PROXY_ACME_EMAIL, --acme-directory /
 * BERTH_PROXY_ACME_DIRECTORY), field by field, until it is cleared; then
 * the boot's value applies again (for the directory, Let's Encrypt when
 * none was given). --acme-ca-file stays a boot setting: a CA the proxy is
 * to trust is a file in its container.
 *
 * A change takes effect at the next certificate order, with no restart: an
 * order in progress finishes with the account it started with. Each
 * (directory, email) pair is an account of its own (proxy/acme.h: its key
 * in STATE/acme/accounts/, the boot's pair keeps STATE/acme/account.key),
 * and a new directory orders every wanted certificate again from the new
 * CA; the certificates in use serve until their replacements are there.
 *
 * The file: {"email":"ADDR","directory":"URL"}, either key absent when not
 * set; mode 0600, written atomically (temporary file, fsync, rename);
 * removed when nothing is set. A file that does not parse is an error at
 * start (logged; the boot's values are used) and is left alone.
 */
#ifndef ACMESET_H
#define ACMESET_H

#include <stddef.h>

#include "lib/err.h"
#include "lib/sbuf.h"

#define ACMESET_EMAIL_MAX     254
#define ACMESET_DIRECTORY_MAX 1024
#define ACMESET_FILE_MAX      4096 /* the biggest settings file read */

/* Run-time settings: NULL when not set (the boot's value applies). */
struct acmeset {
	char *email;
	char *directory;
};

#define ACMESET_INIT                                                                               \
	{                                                                                          \
		NULL, NULL                                                                         \
	}

void acmeset_release(struct acmeset *s);
/* A copy of src into dst (dst's old strings are freed). */
void acmeset_copy(struct acmeset *dst, const struct acmeset *src);

/*
 * A plausible email address: LOCAL@DOMAIN, at most 254 bytes; LOCAL 1 to 64
 * of letters, digits and !#$%&'*+-/=?^_`{|}~. (no dot at either end, no
 * two in a row); DOMAIN two or more labels of letters, digits and '-'.
 * 0, or -1 with e saying what was expected.
 */
int acmeset_check_email(const char *email, struct err *e);
/*
 * An ACME directory URL: "https://" then a host (name, IPv4, or [IPv6]),
 * an optional ":PORT" and an optional path; visible ASCII, no '#', at most
 * 1024 bytes. 0, or -1 with e.
 */
int acmeset_check_directory(const char *url, struct err *e);

/* Parses the file's bytes (values checked as above). 0 with out set, or -1 with e. */
int acmeset_parse(const char *buf, size_t len, struct acmeset *out, struct err *e);
/* The file's bytes for s, appended to out (a JSON object and a newline). */
void acmeset_format(const struct acmeset *s, struct sbuf *out);

/* Reads STATE/acme/settings.json into out (left empty when there is none). 0, or -1 with e. */
int acmeset_load(const char *state_dir, struct acmeset *out, struct err *e);
/* Writes s to STATE/acme/settings.json (removes it when s is empty). 0, or -1 with e. */
int acmeset_save(const char *state_dir, const struct acmeset *s, struct err *e);

#endif
