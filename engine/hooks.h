/*
 * hooks — the project's hook scripts, run on this machine around a deploy,
 * as Kamal runs them.
 *
 * A hook is an executable file named after the moment it runs at
 * (pre-connect, pre-build, pre-deploy, post-deploy, pre-app-boot,
 * post-app-boot, pre-proxy-reboot, post-proxy-reboot) in the hooks directory:
 * config's hooks_path, by default .berth/hooks (else .kamal/hooks), relative
 * to the project directory. `berth init` writes samples there.
 *
 *	struct hooks h;
 *	struct err e = ERR_INIT;
 *	hooks_init(&h, cfg, project_dir, sec);
 *	hooks_set(&h, "VERSION", version);
 *	hooks_set(&h, "HOSTS", "10.0.0.1,10.0.0.2");
 *	hooks_set(&h, "COMMAND", "deploy");
 *	if (hooks_run(&h, "pre-deploy", &e) < 0)
 *		... stop: err_str(&e) says which hook failed and its last lines ...
 *	hooks_release(&h);
 *
 * A hook runs with the project directory as its working directory, the
 * process environment, and these variables, each both as BERTH_<NAME> and
 * as Kamal's KAMAL_<NAME> so that hooks written for Kamal work unchanged:
 *
 *	RECORDED_AT      when the hook starts, UTC, "2024-05-01T12:00:00Z"
 *	PERFORMER        `git config user.email`, else the login name
 *	SERVICE          the service name
 *	DESTINATION      -d DEST (unset without one)
 *	VERSION          the version being deployed          (hooks_set)
 *	SERVICE_VERSION  "<service>@<version>", the version cut to 7 characters unless it
 *	                 holds a '_', as Kamal shortens it (follows VERSION)
 *	HOSTS, ROLES     comma-separated                      (hooks_set)
 *	COMMAND, SUBCOMMAND  e.g. "deploy", or "app" and "boot" (hooks_set)
 *	RUNTIME          seconds the command took, for post-deploy (hooks_set)
 *
 * Secrets are not passed to hooks (Kamal does not either). A hook may read
 * them itself, so whatever it prints is passed through secrets_redact()
 * line by line before anyone sees it: no secret value in a hook's output
 * reaches berth's output or an error message. Each line is shown as
 * "hook <name>: <line>".
 *
 * A hook that is absent is not an error; one that exists but is not
 * executable is skipped with a warning (as Kamal does). A hook that exits
 * non-zero stops the command that ran it.
 */
#ifndef HOOKS_H
#define HOOKS_H

#include <stdbool.h>

#include "engine/config.h"
#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/strvec.h"

/* Lines of a failing hook's output kept for its error message. */
#define HOOKS_TAIL_LINES 10
/* A longer line of hook output is cut (after redaction) to this many bytes. */
#define HOOKS_LINE_MAX 4096

struct hooks {
	char *dir;		   /* owned: the hooks directory, absolute */
	char *project_dir;	   /* owned: where hooks run, absolute */
	struct strvec env;	   /* "BERTH_X=value" and "KAMAL_X=value"; "BERTH_X" unsets */
	const struct secrets *sec; /* not owned, may be NULL: values redacted from the output */
	bool quiet;		   /* show neither "running ..." nor the hook's output */
	unsigned timeout_ms;	   /* 0 (the default): a hook may take as long as it likes */
	/*
	 * Where each (redacted, prefixed) line of output goes, without a newline;
	 * NULL: to berth's stdout, or stderr for what the hook wrote to its stderr.
	 */
	void (*out)(const char *line, void *data);
	void *out_data;
};

/*
 * Sets h up for cfg's hooks (cfg->hooks_path, relative to project_dir unless
 * absolute; project_dir NULL means the current directory) with SERVICE and
 * DESTINATION set. cfg may be NULL: then the directory is .berth/hooks if
 * the project has a .berth directory, else .kamal/hooks, and no variable is
 * set. sec (may be NULL) must outlive h. Nothing is run or read here.
 */
void hooks_init(struct hooks *h, const struct config *cfg, const char *project_dir,
		const struct secrets *sec);
/* Frees what h owns; h may be initialized again. */
void hooks_release(struct hooks *h);

/*
 * Sets BERTH_<name> and KAMAL_<name> to value (copied) for every later hook,
 * replacing an earlier value; value NULL unsets both (also when the process
 * environment has them). Setting VERSION also sets SERVICE_VERSION.
 * RECORDED_AT and PERFORMER are worked out when a hook runs unless set here.
 */
void hooks_set(struct hooks *h, const char *name, const char *value);

/* Whether the hooks directory has a file named hook (executable or not). */
bool hooks_exists(const struct hooks *h, const char *hook);

/*
 * Runs the hook named hook ("pre-deploy") when it exists and is executable,
 * streaming its output as described above, and waits for it. Returns 0 when
 * it is absent, skipped (not executable) or exited 0; -1 with e set to
 * "hook 'pre-deploy' failed (exit 1)" followed by its last output lines
 * (redacted), or why it could not run. A hook name holding '/' or starting
 * with '.' is an error.
 */
int hooks_run(struct hooks *h, const char *hook, struct err *e);

#endif
