/* sshcmd — see sshcmd.h. */
#include "daemon/sshcmd.h"

#include <stdlib.h>
#include <string.h>

#include "lib/banned.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

void sshcmd_release(struct sshcmd *c)
{
	strvec_clear(&c->argv);
	free(c->app);
	c->app = NULL;
	c->kind = SSHCMD_COMMAND;
	c->quiet = false;
	c->json = false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int sshcmd_split(const char *line, size_t len, struct strvec *words, struct err *e)
{
	struct sbuf w = SBUF_INIT;
	bool in_word = false;
	size_t i = 0;
	int r = -1;

	strvec_clear(words);
	if (len > SSHCMD_MAX_LEN) {
		err_set(e, "command is too long (%zu bytes; at most %d)", len, SSHCMD_MAX_LEN);
		goto out;
	}
	if (memchr(line, '\0', len)) {
		err_set(e, "command holds a NUL byte");
		goto out;
	}
	while (i < len) {
		char c = line[i];

		if (is_blank(c)) {
			if (in_word) {
				if (words->nr >= SSHCMD_MAX_WORDS) {
					err_set(e, "command has too many words (at most %d)",
						SSHCMD_MAX_WORDS);
					goto out;
				}
				strvec_push(words, w.buf);
				sbuf_reset(&w);
				in_word = false;
			}
			i++;
			continue;
		}
		in_word = true;
		if (c == '\'') {
			const char *end = memchr(line + i + 1, '\'', len - i - 1);
			if (!end) {
				err_set(e, "unterminated quote (') at byte %zu", i + 1);
				goto out;
			}
			sbuf_add(&w, line + i + 1, (size_t)(end - (line + i + 1)));
			i = (size_t)(end - line) + 1;
		} else if (c == '"') {
			size_t start = i++;
			for (;;) {
				if (i >= len) {
					err_set(e, "unterminated quote (\") at byte %zu",
						start + 1);
					goto out;
				}
				if (line[i] == '"') {
					i++;
					break;
				}
				if (line[i] == '\\' && i + 1 < len &&
				    (line[i + 1] == '"' || line[i + 1] == '\\')) {
					i++;
				}
				sbuf_addch(&w, line[i++]);
			}
		} else if (c == '\\') {
			if (i + 1 >= len) {
				err_set(e, "command ends with a backslash");
				goto out;
			}
			if (line[i + 1] != '\n') {
				sbuf_addch(&w, line[i + 1]);
			} else if (!w.len) {
				in_word = false; /* a line continuation alone is no word */
			}
			i += 2;
		} else {
			sbuf_addch(&w, c);
			i++;
		}
	}
	if (in_word) {
		if (words->nr >= SSHCMD_MAX_WORDS) {
			err_set(e, "command has too many words (at most %d)", SSHCMD_MAX_WORDS);
			goto out;
		}
		strvec_push(words, w.buf);
	}
	if (!words->nr) {
		err_set(e, "no command given");
		goto out;
	}
	r = 0;
out:
	if (r < 0) {
		strvec_clear(words);
	}
	sbuf_release(&w);
	return r;
}

bool sshcmd_valid_app(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > SSHCMD_APP_MAX || name[0] < 'a' || name[0] > 'z') {
		return false;
	}
	for (size_t i = 1; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
	}
	return true;
}

/* The app of a git command's path: APP, /APP, APP.git, /APP.git/, ~/APP. */
static char *git_path_app(const char *path)
{
	size_t n;

	if (!strncmp(path, "~/", 2)) {
		path += 2;
	}
	while (*path == '/') {
		path++;
	}
	n = strlen(path);
	while (n && path[n - 1] == '/') {
		n--;
	}
	if (n >= 4 && !memcmp(path + n - 4, ".git", 4)) {
		n -= 4;
	}
	return xstrndup(path, n);
}

/* Whether cmd is a datastore's link or unlink, whose app comes second. */
static bool service_first(const char *cmd)
{
	const char *colon = strchr(cmd, ':');

	return colon && (!strcmp(colon, ":link") || !strcmp(colon, ":unlink"));
}

int sshcmd_from_argv(size_t argc, const char *const *argv, struct sshcmd *c, struct err *e)
{
	const char *app = NULL;
	size_t i = 0;
	int r = -1;

	sshcmd_release(c);
	/* global flags, before the command */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--quiet")) {
			c->quiet = true;
		} else if (!strcmp(a, "--app") || !strcmp(a, "--format")) {
			if (i + 1 >= argc) {
				err_set(e, "option '%s' expects a value", a);
				goto out;
			}
			if (a[2] == 'a') {
				app = argv[++i];
			} else if (!strcmp(argv[++i], "json")) {
				c->json = true;
			} else if (strcmp(argv[i], "text")) {
				err_set(e, "unknown format '%s' (json or text)", argv[i]);
				goto out;
			}
		} else if (!strncmp(a, "--app=", 6)) {
			app = a + 6;
		} else if (!strncmp(a, "--format=", 9)) {
			if (!strcmp(a + 9, "json")) {
				c->json = true;
			} else if (strcmp(a + 9, "text")) {
				err_set(e, "unknown format '%s' (json or text)", a + 9);
				goto out;
			}
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else {
			break; /* the command's own (--help, --version, ...) */
		}
	}
	if (i >= argc) {
		err_set(e, "no command given");
		goto out;
	}
	if (!strcmp(argv[i], "git-receive-pack") || !strcmp(argv[i], "git-upload-pack")) {
		c->kind = argv[i][4] == 'r' ? SSHCMD_RECEIVE_PACK : SSHCMD_UPLOAD_PACK;
		if (argc - i != 2) {
			err_set(e, "%s takes one repository", argv[i]);
			goto out;
		}
		c->app = git_path_app(argv[i + 1]);
		if (!sshcmd_valid_app(c->app)) {
			err_set(e, "invalid app name '%s'", argv[i + 1]);
			goto out;
		}
		strvec_push(&c->argv, argv[i]);
		strvec_push(&c->argv, c->app);
		r = 0;
		goto out;
	}
	strvec_push(&c->argv, argv[i++]);
	/* a datastore's link and unlink name the service first: SERVICE APP */
	if (app && service_first(c->argv.v[0]) && i < argc) {
		strvec_push(&c->argv, argv[i++]);
	}
	if (app) {
		strvec_push(&c->argv, app);
	}
	for (; i < argc; i++) {
		strvec_push(&c->argv, argv[i]);
	}
	r = 0;
out:
	if (r < 0) {
		sshcmd_release(c);
	}
	return r;
}

int sshcmd_parse(const char *line, size_t len, struct sshcmd *c, struct err *e)
{
	struct strvec words = STRVEC_INIT;
	int r;

	sshcmd_release(c);
	if (sshcmd_split(line, len, &words, e) < 0) {
		return -1;
	}
	r = sshcmd_from_argv(words.nr, (const char *const *)words.v, c, e);
	strvec_clear(&words);
	return r;
}
