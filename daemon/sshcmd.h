/*
 * sshcmd — what a client asked for over SSH, from SSH_ORIGINAL_COMMAND.
 *
 * The line is split into words as a shell would split plain words, and
 * nothing more: blanks (space, tab, newline) separate words; '...' keeps
 * everything inside as it is; "..." keeps everything but a backslash before
 * '"' or '\\', which stands for that character; outside quotes a backslash
 * keeps the next character (a backslash-newline is dropped). Nothing is ever
 * expanded ($, `, *, ~, ; are bytes like any other) and no shell is ever
 * run. Refused: an unterminated quote, a trailing backslash, a NUL byte, a
 * line longer than SSHCMD_MAX_LEN bytes or with more than SSHCMD_MAX_WORDS
 * words, and an empty line.
 *
 * Then both of Dokku's forms become one, "CMD APP ARGS...":
 *	CMD APP ARGS...
 *	--app APP CMD ARGS...		(also --app=APP; APP goes right after CMD,
 *					but after the service for a datastore's
 *					link and unlink: SERVICE APP)
 * and the global flags --quiet and --format json|text (also --format=...),
 * given before the command, are taken out.
 *
 * git's own commands name the repository of an app:
 *	git-receive-pack 'APP'		(also APP, '/APP', 'APP.git', '/APP.git/')
 *	git-upload-pack 'APP'
 * and give SSHCMD_RECEIVE_PACK / SSHCMD_UPLOAD_PACK with app set; an
 * invalid app name there is refused.
 */
#ifndef SSHCMD_H
#define SSHCMD_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/strvec.h"

#define SSHCMD_MAX_LEN	 (128 * 1024)
#define SSHCMD_MAX_WORDS 1024
#define SSHCMD_APP_MAX	 63

enum sshcmd_kind {
	SSHCMD_COMMAND = 0,
	SSHCMD_RECEIVE_PACK,
	SSHCMD_UPLOAD_PACK,
};

struct sshcmd {
	enum sshcmd_kind kind;
	struct strvec argv; /* SSHCMD_COMMAND: CMD [APP] ARGS... (never empty) */
	char *app;	    /* git commands: the app; else NULL */
	bool quiet;	    /* --quiet */
	bool json;	    /* --format json */
};

#define SSHCMD_INIT                                                                                \
	{                                                                                          \
		SSHCMD_COMMAND, STRVEC_INIT, NULL, false, false                                    \
	}

void sshcmd_release(struct sshcmd *c);

/* Splits line (len bytes) into words. 0, or -1 with e set and words empty. */
int sshcmd_split(const char *line, size_t len, struct strvec *words, struct err *e);

/* Splits and reads line into c. 0, or -1 with e set. */
int sshcmd_parse(const char *line, size_t len, struct sshcmd *c, struct err *e);

/* Reads words already split (a direct argv) into c, as sshcmd_parse does. */
int sshcmd_from_argv(size_t argc, const char *const *argv, struct sshcmd *c, struct err *e);

/* Whether name is a valid app name: ^[a-z][a-z0-9-]{0,62}$ (Dokku's). */
bool sshcmd_valid_app(const char *name);

#endif
