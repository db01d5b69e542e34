/*
 * push — what a `git push` to berthd turns into before the engine runs it:
 * the pushed revision's image, built on this host from the Dockerfile at the
 * repository's root (or the app's dockerfile-path), and what the revision
 * says about how it runs — its Procfile and app.json.
 *
 * Build output streams to the progress callback as it happens, in Dokku's
 * shape: "-----> " for steps, "=====> " for headings, " !     " for errors;
 * a push shows these lines to the pusher.
 *
 * The build: `git --git-dir DIR archive REV` piped into `docker build -f
 * DOCKERFILE -t berthd/APP:VERSION -` (the legacy builder, DOCKER_BUILDKIT=0,
 * as the rest of berth builds), the image labelled berthd.app and
 * berthd.revision; every line of docker's output is passed on indented by
 * seven spaces as it comes. Files of the revision are read with `git show
 * REV:PATH`. An upload (src_dir) is built the same way with the directory as
 * the context, its files read from it. Everything runs with berthd's own environment, so inside a
 * pre-receive hook the pushed objects are found in git's quarantine.
 */
#ifndef PUSH_H
#define PUSH_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/release.h"
#include "lib/err.h"

struct push_opts {
	const char *app;	/* the app's name */
	const char *git_dir;	/* the app's bare repository (objects of the push reachable) */
	const char *rev;	/* the pushed revision (40 hex digits) */
	const char *dockerfile; /* path of the Dockerfile in the revision; NULL: "Dockerfile" */
	/*
	 * How long push_read waits for a revision the repository lacks: a
	 * push's objects arrive when its pre-receive hook has ended, after it
	 * gave up the app's lock. 0: no wait (the hook itself, tests).
	 */
	int wait_ms;
	/*
	 * Instead of git_dir: the revision's files as a directory (an upload);
	 * rev (hex digits) then only names the version, and the directory is
	 * the build's context
	 */
	const char *src_dir;
	void (*progress)(const char *line, void *data);
	void *progress_data;
};

/* What a revision says: owned strings, freed by push_result_release. */
struct push_result {
	char *image;		    /* "berthd/<app>:<version>" in the host's dockerd */
	char *version;		    /* the revision's first 12 hex digits */
	struct release_proc *procs; /* Procfile's process types ("web" alone without one) */
	size_t nprocs;
	char *release_cmd;	      /* Procfile's release; NULL none */
	struct release_check check;   /* app.json healthchecks.web (the first) */
	char *predeploy, *postdeploy; /* app.json scripts.dokku */
	/*
	 * app.json formation: {"TYPE": {"quantity": N}}, as read (type and
	 * scale; cmd NULL). push_read applies it to procs; a type the
	 * Procfile does not name is an error there.
	 */
	struct release_proc *formation;
	size_t nformation;
};

void push_result_release(struct push_result *r);

/*
 * Reads the revision's Procfile and app.json (an invalid one: -1 with e
 * naming the file, line and key) and builds its image. Returns 0, or -1
 * with e set (a failed build: its last lines).
 */
int push_build(const struct push_opts *o, struct push_result *r, struct err *e);

/* Reads only the Procfile and app.json of a revision (no build); as push_build. */
int push_read(const struct push_opts *o, struct push_result *r, struct err *e);

/*
 * The Procfile, as Heroku and Dokku read it: one "TYPE: COMMAND" per line,
 * TYPE made of [A-Za-z0-9_-] (at most PUSH_MAX_TYPE bytes), the command
 * non-empty; blank lines and lines starting with '#' are skipped, spaces
 * around a line are not part of it. A line of any other shape, or a type
 * named twice, is an error naming the file and the line. "release" is not a
 * process: it becomes release_cmd. "web" gets scale 1, the others 0 (Dokku
 * starts only web until told otherwise). Commands are split into words as
 * the engine splits `cmd:` (engine/app.h): no shell reads them, so a
 * command that needs one says so ("sh -c '...'").
 */
#define PUSH_MAX_PROCFILE (64 * 1024)
#define PUSH_MAX_APP_JSON (1024 * 1024)
#define PUSH_MAX_TYPE	  63
#define PUSH_MAX_TYPES	  64
/* Parses a Procfile's text: name of the file for errors. 0, or -1 with e set. */
int push_parse_procfile(const char *file, const char *text, size_t len, struct push_result *r,
			struct err *e);
/*
 * app.json, with Dokku's keys: scripts.dokku.predeploy and .postdeploy
 * (strings, split into words as Procfile commands are), healthchecks.web (a
 * list of checks: type "startup" (the default; the only kind berth-proxy
 * runs), path (starting with '/'), attempts, wait, timeout, uptime (whole
 * seconds), and name, initialDelay, content, port, scheme, warn, listening,
 * command accepted and not used); the first check with a path becomes
 * r->check. formation.TYPE.quantity sets a type's scale. Other keys are
 * Dokku's or Heroku's business and are skipped. A value of the wrong kind is
 * an error naming the key ("app.json: healthchecks.web[0].type: ...").
 */
/* Parses an app.json's text into r (scripts.dokku, healthchecks.web). 0, or -1 with e set. */
int push_parse_app_json(const char *file, const char *text, size_t len, struct push_result *r,
			struct err *e);

#endif
