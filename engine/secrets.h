/*
 * secrets — the secrets of a Kamal-compatible project: a dotenv parser and
 * the rules for which secrets files are read.
 *
 *	struct secrets s;
 *	struct err e = ERR_INIT;
 *	secrets_init(&s);
 *	if (secrets_load(&s, ".", destination, &e) < 0)
 *		fprintf(stderr, "error: %s\n", err_str(&e));
 *	use(secrets_get(&s, "DB_PASSWORD"));
 *	secrets_release(&s);
 *
 * Values are secret: nothing in this module logs them, and no error message
 * quotes a value or a line that may hold one (messages name the file, the
 * line and the key, or describe what was wrong). Callers must not log them
 * either; run text that may contain them through secrets_redact().
 *
 * Memory that held a value is wiped with explicit_bzero() before it is freed
 * (values in s, the file buffers, command output, child environments). This
 * is best effort: a buffer that grew by realloc() may leave an older copy
 * behind in freed memory.
 *
 * Dotenv syntax, as Kamal reads it with the dotenv gem:
 *
 *	# a comment line; blank lines are ignored
 *	KEY=value                 unquoted: trimmed at both ends
 *	export KEY=value          "export " in front is accepted and ignored
 *	KEY = value               spaces around '=' are fine; "KEY: value" works too
 *	KEY=value # comment       '#' after a space or tab ends an unquoted value
 *	KEY=a#b                   ...but '#' inside a word is kept: "a#b" (dotenv would cut
 *	                          the value at any '#'; quote values with '#' to be safe)
 *	KEY='literal $X \n'       single quotes: the bytes as they are, no expansion; may
 *	                          span lines; \' does not end the value (kept as is)
 *	KEY="a\nb\t\"\\\$"        double quotes: \n \t \r \" \\ \$ escapes (any other \c
 *	                          gives c); may span lines; expansion as below
 *	KEY="..." # comment       a comment may follow a closing quote, nothing else may
 *	export KEY OTHER          checks that KEY and OTHER are set (an error if not)
 *
 * Key names are [A-Za-z_][A-Za-z0-9_.]*. Line ends may be \n, \r\n or \r. In
 * unquoted values a backslash takes the next character literally (\$ gives
 * '$', "\x" gives "x"), as dotenv does.
 *
 * Expansion, in double-quoted and unquoted values, anywhere in the value:
 *
 *	$NAME, ${NAME}   NAME is [A-Za-z0-9_]+. The value of NAME from the keys
 *	                 already in s (earlier lines of the text) — else the process
 *	                 environment (getenv) — else "". This is what Kamal gets from
 *	                 dotenv with overwrite: true: the file's own keys win over the
 *	                 environment. secrets_load reads each file on its own, as Kamal
 *	                 does: a destination's file does not see secrets-common's keys.
 *	\$               a literal '$'; so are "$" followed by anything else and "\$(".
 *	$(command)       runs `sh -c command` in dir and puts its stdout in, with all
 *	                 trailing newlines removed (as a shell's $(...) does). The
 *	                 command text — everything up to the matching ')', with quotes
 *	                 and nested parentheses understood, e.g.
 *	                 $(op read "op://vault/x" | tr -d '\n') — is passed to sh as
 *	                 written (no dotenv unescaping). One trailing newline is
 *	                 removed (Ruby's chomp, as Kamal does). The exit status is not
 *	                 looked at, as in Kamal: files rely on
 *	                 $(op read ... 2>/dev/null) giving "" when the item is absent.
 *	                 Its stdin and stderr are berth's own, so a password manager
 *	                 can prompt and explain itself. Its stdout is never shown.
 *	$(kamal secrets fetch|extract ...), $(berth secrets ...)
 *	                 run berth's own implementation (engine/vault.h) in this
 *	                 process, as Kamal inlines them: $NAME and ${NAME} are pasted
 *	                 into the text (the value of NAME as above), the text is
 *	                 split into words as Ruby's shellsplit does, and fetch gives
 *	                 its JSON shell-escaped, so `extract A ${SECRETS}` reads it
 *	                 back as one word. A failure is an error naming the file,
 *	                 the line and the key. No Kamal needs to be installed.
 *
 * Secrets are never put in a child's argv. The text of a command run by sh is
 * the user's own (it is not expanded here); when it refers to an earlier
 * secret, as in $(printf %s "$TOKEN" | base64 -d), every key already in s is
 * passed to the child in its environment (run_cmd.env, "NAME=value") and sh
 * expands $TOKEN itself. (Kamal pastes values into the command text instead,
 * so the shell reads them again: a value is never run as shell code here.)
 *
 * When secrets_load reads a project's files, KAMAL_DESTINATION and
 * BERTH_DESTINATION are the destination (unset without one) for $NAME and in
 * commands' environments, as Kamal sets KAMAL_DESTINATION before it reads
 * them.
 *
 * Limits: a file of at most SECRETS_MAX_FILE bytes and SECRETS_MAX_LINES
 * lines, a value of at most SECRETS_MAX_VALUE bytes, at most SECRETS_MAX_TOTAL
 * bytes of values in one struct secrets. A NUL byte in a file or in a
 * command's output is an error.
 */
#ifndef ENGINE_SECRETS_H
#define ENGINE_SECRETS_H

#include <stddef.h>

#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

#define SECRETS_MAX_FILE  (1024 * 1024)
#define SECRETS_MAX_LINES 10000
#define SECRETS_MAX_VALUE (256 * 1024)
#define SECRETS_MAX_TOTAL (4 * 1024 * 1024)

/* Ordered name/value pairs; values are secret: never log them. */
struct secrets {
	struct strvec names;
	struct strvec values;
	struct strvec files; /* which file each pair came from (for messages) */
	size_t bytes;	     /* sum of the values' lengths, for SECRETS_MAX_TOTAL */
};

enum secrets_flags {
	SECRETS_F_NO_COMMANDS = 1 << 0, /* $(command) is an error instead of being run */
	SECRETS_F_NO_ENVIRON = 1 << 1,	/* $NAME does not fall back to the process environment */
};

void secrets_init(struct secrets *s);
/* Frees everything; values are wiped with explicit_bzero first. s is left empty and usable. */
void secrets_release(struct secrets *s);

/* The value of name (owned by s, valid until s changes), or NULL when it is not defined. */
const char *secrets_get(const struct secrets *s, const char *name);

/*
 * Sets name to value (copied), from file (for messages; may be NULL). A name
 * already defined keeps its place and gets the new value.
 */
void secrets_set(struct secrets *s, const char *name, const char *value, const char *file);

/*
 * Parses dotenv text (buf, len bytes; need not be NUL-terminated) into s:
 * later definitions override earlier ones. file names the text in messages.
 * dir is where $(command) runs (NULL: the current directory). Returns 0, or
 * -1 with e set to "file:line: ..." — then s holds the pairs of the lines
 * before the failing one (release it as usual).
 */
int secrets_parse_dotenv(struct secrets *s, const char *file, const char *buf, size_t len,
			 const char *dir, struct err *e);
/* The same, with enum secrets_flags (the fuzzer parses with SECRETS_F_NO_COMMANDS). */
int secrets_parse_dotenv_flags(struct secrets *s, const char *file, const char *buf, size_t len,
			       const char *dir, unsigned flags, struct err *e);

/*
 * Loads the project's secrets as Kamal does. The secrets directory is
 * <project>/.berth when it exists, else <project>/.kamal. Each file is parsed
 * on its own, then its keys are set in s in this order, later keys
 * overriding earlier ones:
 *	secrets-common
 *	secrets        without a destination, or
 *	secrets.DEST   with a destination (-d DEST), instead of secrets
 * Missing files are fine (no secrets). DEST must be made of letters, digits,
 * '_', '-' and '.' and not start with '.'. project_dir NULL, "" or "." means
 * the current directory (messages then say ".kamal/secrets"); $(command)s run
 * in project_dir. Returns 0, or -1 with e set.
 */
int secrets_load(struct secrets *s, const char *project_dir, const char *destination,
		 struct err *e);
/*
 * The same from an explicit base path (Kamal's secrets_path, e.g.
 * "config/secrets"): reads <secrets_path>-common, then <secrets_path> or
 * <secrets_path>.DEST. Commands run in dir (NULL: the current directory).
 */
int secrets_load_path(struct secrets *s, const char *secrets_path, const char *destination,
		      const char *dir, struct err *e);

/*
 * Replaces every occurrence of a secret value in text with "[REDACTED]",
 * longest first, in one left-to-right pass (a marker is never matched again).
 * A value of several lines is also redacted line by line, since output is
 * often shown a line at a time (the first 1024 such lines of all values). Values (and lines)
 * shorter than 4 bytes are not redacted: they would match all over ordinary text and say little
 * about the secret.
 */
void secrets_redact(const struct secrets *s, struct sbuf *text);

#endif
