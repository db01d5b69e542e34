/* gitsync — git:sync's checks of a client's URL and ref, and its git argv; see gitsync.h. */
#include "daemon/gitsync.h"

#include <string.h>

#include "lib/banned.h"

static const char *const schemes[] = {"https://", "http://", "git://", NULL};

/* A byte that may stand in a URL as it is: printable ASCII but blanks and a few delimiters. */
static bool url_byte(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\\\"<>`{}|^", c);
}

/* The scheme's length when url starts with an allowed one, else 0. */
static size_t scheme_len(const char *url)
{
	for (size_t i = 0; schemes[i]; i++) {
		size_t n = strlen(schemes[i]);
		if (!strncmp(url, schemes[i], n)) {
			return n;
		}
	}
	return 0;
}

/* The authority of a URL with scheme length s: [start, *end), and where the host starts. */
static void authority(const char *url, size_t s, size_t *end, size_t *host)
{
	size_t a = strcspn(url + s, "/?#");

	*end = s + a;
	*host = s;
	for (size_t i = s; i < *end; i++) {
		if (url[i] == '@') {
			*host = i + 1;
		}
	}
}

static bool host_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* HOST[:PORT] or [IPV6][:PORT], in [p, end). */
static bool valid_hostport(const char *p, const char *end)
{
	const char *q = p;

	if (q < end && *q == '[') {
		for (q++; q < end && *q != ']'; q++) {
			if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
			      (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.')) {
				return false;
			}
		}
		if (q >= end || q == p + 1) {
			return false;
		}
		q++;
	} else {
		if (q >= end || *q == '-' || *q == '.') {
			return false;
		}
		while (q < end && host_byte(*q)) {
			q++;
		}
		if (q == p) {
			return false;
		}
	}
	if (q < end && *q == ':') {
		const char *d = ++q;
		while (q < end && *q >= '0' && *q <= '9') {
			q++;
		}
		if (q == d || q - d > 5) {
			return false;
		}
	}
	return q == end;
}

int gitsync_check_url(const char *url, struct err *e)
{
	size_t n = strlen(url), s, end, host;

	if (!n) {
		return err_set(e, "an empty repository URL");
	}
	if (url[0] == '-') {
		return err_set(e, "a repository URL cannot start with '-'");
	}
	if (n > GITSYNC_URL_MAX) {
		return err_set(e, "a repository URL is at most %d bytes", GITSYNC_URL_MAX);
	}
	for (size_t i = 0; i < n; i++) {
		if (!url_byte((unsigned char)url[i])) {
			return err_set(e, "a repository URL holds no blanks, control bytes or "
					  "any of \\\"<>`{}|^ (percent-encode them)");
		}
	}
	s = scheme_len(url);
	if (!s) {
		return err_set(e, "only https://, http:// and git:// repositories can be synced "
				  "(no ssh, file:// or local paths, no TRANSPORT::ADDRESS)");
	}
	authority(url, s, &end, &host);
	if (!valid_hostport(url + host, url + end)) {
		return err_set(e, "the repository URL has no valid host");
	}
	return 0;
}

bool gitsync_is_hex(const char *ref)
{
	size_t n = strlen(ref);

	if (n < 7 || n > 64) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = ref[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return true;
}

int gitsync_check_ref(const char *ref, struct err *e)
{
	size_t n = strlen(ref);
	const char *comp = ref;

	if (!n) {
		return err_set(e, "an empty git ref");
	}
	if (ref[0] == '-') {
		return err_set(e, "a git ref cannot start with '-'");
	}
	if (n > GITSYNC_REF_MAX) {
		return err_set(e, "a git ref is at most %d bytes", GITSYNC_REF_MAX);
	}
	for (size_t i = 0; i < n; i++) {
		char c = ref[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '/' || c == '-')) {
			return err_set(e, "a git ref is a branch, tag or commit of letters, digits "
					  "and ._/- only");
		}
	}
	if (strstr(ref, "..") || ref[0] == '/' || ref[n - 1] == '/' || ref[n - 1] == '.' ||
	    strstr(ref, "//")) {
		return err_set(e, "no '..' or '//' in a git ref, and no '/' or '.' at either end");
	}
	/* each component: not starting with '.', not ending with ".lock" */
	while (comp) {
		const char *slash = strchr(comp, '/');
		size_t len = slash ? (size_t)(slash - comp) : strlen(comp);
		if (comp[0] == '.' || (len >= 5 && !strncmp(comp + len - 5, ".lock", 5))) {
			return err_set(e, "no part of a git ref starts with '.' or ends with "
					  "'.lock'");
		}
		comp = slash ? slash + 1 : NULL;
	}
	return 0;
}

/* [start, end) of url's credentials ("user:pass" before the host's '@'); 0 length: none. */
static void credentials(const char *url, size_t *start, size_t *len)
{
	const char *sep = strstr(url, "://");
	size_t s, end, host;

	*start = 0;
	*len = 0;
	if (!sep) {
		return;
	}
	s = (size_t)(sep - url) + 3;
	authority(url, s, &end, &host);
	if (host > s) {
		*start = s;
		*len = host - 1 - s;
	}
}

static void add_printable(struct sbuf *out, const char *p, size_t n, bool newlines)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		sbuf_addch(out, (c >= 0x20 && c < 0x7f) || (newlines && c == '\n') ? (char)c : '?');
	}
}

void gitsync_redact_url(struct sbuf *out, const char *url)
{
	size_t start, len, n = strlen(url);
	size_t shown = n > 200 ? 200 : n;

	credentials(url, &start, &len);
	if (len && start + len < shown) {
		add_printable(out, url, start, false);
		sbuf_addstr(out, GITSYNC_REDACTED);
		add_printable(out, url + start + len, shown - start - len, false);
	} else {
		add_printable(out, url, shown, false);
	}
	if (shown < n) {
		sbuf_addstr(out, "...");
	}
}

void gitsync_redact_text(struct sbuf *out, const char *text, size_t n, const char *url)
{
	size_t start, len, i = 0, from = out->len;

	credentials(url, &start, &len);
	while (i < n) {
		if (len && n - i >= len && !memcmp(text + i, url + start, len)) {
			sbuf_addstr(out, GITSYNC_REDACTED);
			i += len;
			continue;
		}
		add_printable(out, text + i, 1, true);
		i++;
	}
	/* credentials that the marker or a '?' made again with their neighbours: none of it */
	if (len && memmem(out->buf + from, out->len - from, url + start, len)) {
		sbuf_setlen(out, from);
		sbuf_addstr(out, GITSYNC_REDACTED);
	}
}

void gitsync_fetch_cmd(struct run_cmd *c, const char *git_dir, const char *url, const char *ref,
		       bool all)
{
	strvec_clear(&c->argv);
	strvec_clear(&c->env);
	strvec_pushv(&c->argv, (const char *[]){"git",
						"-c",
						"credential.helper=",
						"-c",
						"transfer.fsckObjects=true",
						"-c",
						"fetch.recurseSubmodules=false",
						"-c",
						"protocol.allow=never",
						"-c",
						"protocol.https.allow=always",
						"-c",
						"protocol.http.allow=always",
						"-c",
						"protocol.git.allow=always",
						"--git-dir",
						git_dir,
						"fetch",
						"--quiet",
						"--no-tags",
						"--no-recurse-submodules",
						"--",
						url,
						NULL});
	if (all) {
		strvec_pushv(&c->argv,
			     (const char *[]){"+refs/heads/*:" GITSYNC_NAMESPACE "heads/*",
					      "+refs/tags/*:" GITSYNC_NAMESPACE "tags/*", NULL});
	} else {
		strvec_push(&c->argv, ref ? ref : "HEAD");
	}
	strvec_pushv(&c->env, (const char *[]){"GIT_ALLOW_PROTOCOL=" GITSYNC_ALLOW_PROTOCOL,
					       "GIT_TERMINAL_PROMPT=0", "GIT_PROTOCOL_FROM_USER=0",
					       "GIT_ASKPASS", "SSH_ASKPASS", "GIT_SSH",
					       "GIT_SSH_COMMAND", "GIT_PROXY_COMMAND", "GIT_DIR",
					       "GIT_WORK_TREE", "GIT_CONFIG_PARAMETERS", NULL});
}
