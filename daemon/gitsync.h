/*
 * gitsync — what `git:sync APP REPOSITORY [GIT_REF]` takes from a client,
 * checked, and the git commands it becomes (daemon/cmd-sync.c runs them).
 *
 * REPOSITORY and GIT_REF come from anyone with a deploy key, so:
 *   - REPOSITORY is an https://, http:// or git:// URL with a host, of
 *     printable ASCII only (no blank, no control byte, no backslash), at
 *     most GITSYNC_URL_MAX bytes; nothing else: no ssh, no local path, no
 *     file://, no ext:: or other "TRANSPORT::ADDRESS" helper, no value
 *     starting with '-'. git is told the same (GIT_ALLOW_PROTOCOL), so a
 *     redirect or a submodule cannot reach another transport either.
 *   - GIT_REF is a branch, a tag or a commit as `git check-ref-format`
 *     takes a name (letters, digits and "._/-" only; no "..", "//", "@{",
 *     component starting with '.', ".lock" at the end), never starting with
 *     '-', at most GITSYNC_REF_MAX bytes. A commit is 7 to 64 hex digits.
 * A URL's user and password (https://user:token@host/...) are used and
 * never printed back: messages and events show GITSYNC_REDACTED instead,
 * and git's own messages are passed on with them replaced the same way.
 *
 * git runs as an argv (no shell), with "--" before the URL, no terminal
 * prompt, no credential helper, no submodules, no tags but the one asked for.
 */
#ifndef GITSYNC_H
#define GITSYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/run.h"
#include "lib/sbuf.h"

#define GITSYNC_URL_MAX	       2048
#define GITSYNC_REF_MAX	       255
#define GITSYNC_ALLOW_PROTOCOL "http:https:git"
#define GITSYNC_REDACTED       "***"
/* Where a fetch of every branch and tag lands while a commit is looked for. */
#define GITSYNC_NAMESPACE "refs/berthd-sync/"

/* 0 when url may be fetched; else -1 with e saying why (without the URL's credentials). */
int gitsync_check_url(const char *url, struct err *e);
/* 0 when ref may be fetched; else -1 with e saying why. */
int gitsync_check_ref(const char *ref, struct err *e);
/* Whether ref looks like a commit: 7 to 64 hex digits. */
bool gitsync_is_hex(const char *ref);

/* Appends url with its user and password (if any) as GITSYNC_REDACTED. */
void gitsync_redact_url(struct sbuf *out, const char *url);
/* Appends text with every appearance of url's credentials replaced by GITSYNC_REDACTED. */
void gitsync_redact_text(struct sbuf *out, const char *text, size_t len, const char *url);

/*
 * Sets c's argv and env to fetch ref (NULL: the remote's HEAD) of url into
 * the bare repository git_dir (FETCH_HEAD), or, with all set, every branch
 * and tag of url under GITSYNC_NAMESPACE.
 */
void gitsync_fetch_cmd(struct run_cmd *c, const char *git_dir, const char *url, const char *ref,
		       bool all);

#endif
