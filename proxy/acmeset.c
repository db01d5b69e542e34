/*
 * acmeset — the ACME account's settings changed at run time (see acmeset.h).
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/xalloc.h"
#include "proxy/acmeset.h"
#include "lib/banned.h"

void acmeset_release(struct acmeset *s)
{
	free(s->email);
	free(s->directory);
	s->email = s->directory = NULL;
}

void acmeset_copy(struct acmeset *dst, const struct acmeset *src)
{
	char *email = src->email ? xstrdup(src->email) : NULL;
	char *dir = src->directory ? xstrdup(src->directory) : NULL;

	acmeset_release(dst);
	dst->email = email;
	dst->directory = dir;
}

/* A value for an error message: at most 80 bytes, control and non-ASCII bytes as \xNN. */
static void shown(struct sbuf *sb, const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n && i < 80; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\') {
			sbuf_addf(sb, "\\x%02x", c);
		} else {
			sbuf_addch(sb, c);
		}
	}
	if (n > 80) {
		sbuf_addstr(sb, "...");
	}
}

static int bad(struct err *e, const char *what, const char *expected, const char *got)
{
	struct sbuf sb = SBUF_INIT;

	shown(&sb, got);
	err_set(e, "%s: expected %s, got '%s'", what, expected, sb.buf);
	sbuf_release(&sb);
	return -1;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Labels of letters, digits and '-' (none at either end), 1 to 63 bytes, at least min of them. */
static bool dns_name(const char *s, size_t len, size_t min)
{
	size_t i, label = 0, labels = 0;

	if (!len || len > 253) {
		return false;
	}
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (!label || s[i - 1] == '-' || label > 63) {
				return false;
			}
			labels++;
			label = 0;
		} else if (is_alnum(s[i]) || (s[i] == '-' && label)) {
			label++;
		} else {
			return false;
		}
	}
	return labels >= min;
}

int acmeset_check_email(const char *email, struct err *e)
{
	static const char expected[] = "an email address like 'ops@example.com'";
	const char *at = strchr(email, '@');
	size_t len = strlen(email), local, i;

	if (!at || len > ACMESET_EMAIL_MAX || strchr(at + 1, '@')) {
		return bad(e, "email", expected, email);
	}
	local = (size_t)(at - email);
	if (!local || local > 64 || email[0] == '.' || email[local - 1] == '.') {
		return bad(e, "email", expected, email);
	}
	for (i = 0; i < local; i++) {
		char c = email[i];

		if (c == '.' ? email[i + 1] == '.'
			     : !is_alnum(c) && !strchr("!#$%&'*+-/=?^_`{|}~", c)) {
			return bad(e, "email", expected, email);
		}
	}
	if (!dns_name(at + 1, len - local - 1, 2)) {
		return bad(e, "email", expected, email);
	}
	return 0;
}

int acmeset_check_directory(const char *url, struct err *e)
{
	static const char expected[] = "an https URL like 'https://acme.example.com/directory'";
	size_t len = strlen(url), i, host_end;
	const char *host;

	if (len > ACMESET_DIRECTORY_MAX || strncmp(url, "https://", 8)) {
		return bad(e, "directory", expected, url);
	}
	for (i = 0; i < len; i++) {
		if (url[i] <= 0x20 || url[i] >= 0x7f || url[i] == '#') {
			return bad(e, "directory", expected, url);
		}
	}
	host = url + 8;
	host_end = strcspn(host, ":/?");
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (!close || close == host + 1 ||
		    strspn(host + 1, "0123456789abcdefABCDEF:.") != (size_t)(close - host - 1)) {
			return bad(e, "directory", expected, url);
		}
		host_end = (size_t)(close - host) + 1;
	} else if (!dns_name(host, host_end, 1)) {
		return bad(e, "directory", expected, url);
	}
	if (host[host_end] == ':') {
		const char *p = host + host_end + 1;
		size_t digits = strspn(p, "0123456789");
		long port = digits && digits <= 5 ? strtol(p, NULL, 10) : 0;

		if (port < 1 || port > 65535 ||
		    (p[digits] && p[digits] != '/' && p[digits] != '?')) {
			return bad(e, "directory", expected, url);
		}
	} else if (host[host_end] && host[host_end] != '/' && host[host_end] != '?') {
		return bad(e, "directory", expected, url);
	}
	return 0;
}

int acmeset_parse(const char *buf, size_t len, struct acmeset *out, struct err *e)
{
	struct acmeset s = ACMESET_INIT;
	json_error_t je;
	json_t *j, *v;
	const char *key;
	int rc = -1;

	if (len > ACMESET_FILE_MAX) {
		return err_set(e, "larger than %d bytes", ACMESET_FILE_MAX);
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		return err_set(e, "line %d: %s", je.line, je.text);
	}
	if (!json_is_object(j)) {
		err_set(e, "expected a JSON object");
		goto out;
	}
	json_object_foreach(j, key, v)
	{
		const char *str = json_string_value(v);
		char **field = !strcmp(key, "email")	   ? &s.email
			       : !strcmp(key, "directory") ? &s.directory
							   : NULL;

		if (!field) {
			err_set(e, "unknown key (expected \"email\" and \"directory\")");
			goto out;
		}
		if (!str || strlen(str) != json_string_length(v)) {
			err_set(e, "%s: expected a string", key);
			goto out;
		}
		if (field == &s.email ? acmeset_check_email(str, e) < 0
				      : acmeset_check_directory(str, e) < 0) {
			goto out;
		}
		*field = xstrdup(str);
	}
	acmeset_release(out);
	*out = s;
	s.email = s.directory = NULL;
	rc = 0;
out:
	acmeset_release(&s);
	json_decref(j);
	return rc;
}

void acmeset_format(const struct acmeset *s, struct sbuf *out)
{
	sbuf_addch(out, '{');
	if (s->email) {
		sbuf_addstr(out, "\"email\":\"");
		sbuf_add_json_escaped(out, s->email, strlen(s->email));
		sbuf_addch(out, '"');
	}
	if (s->directory) {
		sbuf_addstr(out, s->email ? ",\"directory\":\"" : "\"directory\":\"");
		sbuf_add_json_escaped(out, s->directory, strlen(s->directory));
		sbuf_addch(out, '"');
	}
	sbuf_addstr(out, "}\n");
}

static void settings_path(const char *state_dir, struct sbuf *path)
{
	sbuf_addf(path, "%s/acme/settings.json", state_dir);
}

int acmeset_load(const char *state_dir, struct acmeset *out, struct err *e)
{
	struct sbuf path = SBUF_INIT, buf = SBUF_INIT;
	int rc = -1;

	settings_path(state_dir, &path);
	if (sbuf_read_file(&buf, path.buf) < 0) {
		if (errno == ENOENT) {
			acmeset_release(out);
			rc = 0;
		} else {
			err_set(e, "cannot read '%s': %s", path.buf, strerror(errno));
		}
		goto out;
	}
	if (acmeset_parse(buf.buf, buf.len, out, e) < 0) {
		err_prefix(e, "%s", path.buf);
		goto out;
	}
	rc = 0;
out:
	sbuf_release(&path);
	sbuf_release(&buf);
	return rc;
}

int acmeset_save(const char *state_dir, const struct acmeset *s, struct err *e)
{
	struct sbuf path = SBUF_INIT, buf = SBUF_INIT;
	int rc = -1;

	sbuf_addf(&path, "%s/acme", state_dir);
	if (mkdir(path.buf, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", path.buf, strerror(errno));
		goto out;
	}
	sbuf_reset(&path);
	settings_path(state_dir, &path);
	if (!s->email && !s->directory) {
		if (unlink(path.buf) < 0 && errno != ENOENT) {
			err_set(e, "cannot remove '%s': %s", path.buf, strerror(errno));
			goto out;
		}
		rc = 0;
		goto out;
	}
	acmeset_format(s, &buf);
	rc = file_write_atomic(path.buf, buf.buf, buf.len, 0600, e);
out:
	sbuf_release(&path);
	sbuf_release(&buf);
	return rc;
}
