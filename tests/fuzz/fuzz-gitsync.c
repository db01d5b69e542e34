/*
 * git:sync's REPOSITORY and GIT_REF come from anyone holding a deploy key.
 * The input is "URL\nREF" (no newline: the URL alone). Any bytes must be
 * checked without a crash; whatever is taken is never an option (no '-'
 * first), has an allowed scheme and no byte a shell or git's transport
 * syntax could read otherwise; a redacted URL or text never holds the
 * URL's credentials nor a control byte; the fetch argv always ends with
 * "--", the URL, the ref.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/gitsync.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_control(const struct sbuf *sb, bool newlines)
{
	for (size_t i = 0; i < sb->len; i++) {
		unsigned char c = (unsigned char)sb->buf[i];
		if ((c < 0x20 && !(newlines && c == '\n')) || c >= 0x7f) {
			__builtin_trap();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t ulen = nl ? (size_t)(nl - (const char *)data) : size;
	char *url = xstrndup((const char *)data, ulen);
	char *ref = nl ? xstrndup(nl + 1, size - ulen - 1) : NULL;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	bool url_ok = strlen(url) == ulen && gitsync_check_url(url, &e) == 0;
	bool ref_ok = false;

	if (!url_ok && strlen(url) == ulen && !err_isset(&e)) {
		__builtin_trap();
	}
	err_release(&e);
	if (url_ok) {
		if (url[0] == '-' || strlen(url) > GITSYNC_URL_MAX ||
		    (strncmp(url, "https://", 8) && strncmp(url, "http://", 7) &&
		     strncmp(url, "git://", 6))) {
			__builtin_trap();
		}
		for (const char *p = url; *p; p++) {
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '\\') {
				__builtin_trap();
			}
		}
	}
	if (ref && strlen(ref) == size - ulen - 1) {
		ref_ok = gitsync_check_ref(ref, &e) == 0;
		if (!ref_ok && !err_isset(&e)) {
			__builtin_trap();
		}
		err_release(&e);
		if (ref_ok && (ref[0] == '-' || strstr(ref, "..") || strchr(ref, ':') ||
			       strlen(ref) > GITSYNC_REF_MAX)) {
			__builtin_trap();
		}
	}
	/* redaction: no control bytes, and never the credentials of a URL that has some */
	gitsync_redact_url(&sb, url);
	no_control(&sb, false);
	sbuf_reset(&sb);
	gitsync_redact_text(&sb, (const char *)data, size, url);
	no_control(&sb, true);
	if (url_ok) {
		const char *host = strstr(url, "://") + 3, *at = NULL;
		size_t alen = strcspn(host, "/?#");
		for (size_t i = 0; i < alen; i++) {
			if (host[i] == '@') {
				at = host + i; /* the last '@' of the authority */
			}
		}
		if (at) {
			/* the credentials, when long enough not to appear by chance */
			char *cred = xstrndup(host, (size_t)(at - host));
			if (strlen(cred) >= 4 && memmem(sb.buf, sb.len, cred, strlen(cred))) {
				__builtin_trap();
			}
			free(cred);
		}
	}
	if (url_ok && (!ref || ref_ok)) {
		gitsync_fetch_cmd(&c, "/r.git", url, ref, false);
		if (c.argv.nr < 3 || strcmp(c.argv.v[c.argv.nr - 3], "--") ||
		    strcmp(c.argv.v[c.argv.nr - 2], url) ||
		    strcmp(c.argv.v[c.argv.nr - 1], ref ? ref : "HEAD")) {
			__builtin_trap();
		}
	}
	run_cmd_release(&c);
	sbuf_release(&sb);
	free(url);
	free(ref);
	return 0;
}
