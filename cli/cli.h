/*
 * cli — the berth command: the one table of commands (cli/main.c) and what
 * every command gets from it.
 *
 * A command is a function in its group's file (cli/cmd-doctor.c, ...). What
 * it needs — a config, the deploy lock — is declared by flags in the table,
 * not repeated in its body. It parses its own options with opt_parse, using
 * cli_global_opts for the flags every command shares, and returns the exit
 * status.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "engine/config.h"
#include "engine/exec.h"
#include "engine/hoststate.h"
#include "lib/opt.h"
#include "lib/strvec.h"

enum cmd_flags {
	CMD_NEED_CONFIG = 1 << 0, /* reads config/deploy.yml */
	CMD_NEED_LOCK = 1 << 1,	  /* holds the deploy lock while it runs */
	CMD_HIDDEN = 1 << 2,	  /* not listed in help */
};

struct cli_globals {
	const char *config_file; /* -c; default config/deploy.yml */
	const char *destination; /* -d */
	struct strvec hosts;	 /* -h, comma-separated, repeatable */
	struct strvec roles;	 /* -r */
	int verbose;		 /* -v */
	bool quiet;		 /* -q */
	bool json;		 /* --json */
	bool yes;		 /* -y */
	bool help;		 /* --help */
};

extern struct cli_globals cli_g;
/* The flags every command accepts (Kamal's): -c -d -h -r -v -q --json -y --help. */
extern const struct opt cli_global_opts[];

/*
 * Parses a command's argv (after the command word) against its own tables
 * (NULL-terminated; own may be NULL) and the global one, then applies the globals (log level, JSON
 * mode). Returns the number of operands left in argv, or -1 after printing the error. When --help
 * was given, prints usage and returns -2.
 */
int cli_parse(int argc, const char **argv, const struct opt *const *own, unsigned flags,
	      const char *usage);

/*
 * How to reach servers until a config says so: the ssh settings of
 * config/deploy.yml as flags (--ssh-user, --ssh-port, --ssh-key,
 * --ssh-proxy, --ssh-config), and --local to act on this machine.
 */
struct exec;
extern const struct opt cli_exec_opts[];
/* Sets up ex from those flags; returns -1 after printing an error. */
int cli_exec_setup(struct exec *ex);

/*
 * What the commands about the hosts' state (lock, audit, releases) work on:
 * the app and its hosts from config/deploy.yml when there is one (and
 * --service is not given), else from --service and -h.
 */
struct cli_state {
	struct exec ex;
	struct config cfg;
	bool have_cfg, have_hs;
	struct hoststate hs;
	struct strvec hosts; /* every host the command is about */
	/* where the lock lives: the primary role's first host, or the first of -h */
	const char *primary;
};
/* --service and --run-directory. */
extern const struct opt cli_state_opts[];
/* Fills st; returns -1 after printing an error. Release st with cli_state_release either way. */
int cli_state_setup(struct cli_state *st);
void cli_state_release(struct cli_state *st);
/* Asks question on the terminal (yes with -y); false without a terminal or a yes. */
bool cli_confirm(const char *question);
/* Prints j (and drops the reference) as one line of JSON on stdout. */
void cli_print_json(json_t *j);

int cmd_app(int argc, const char **argv);
int cmd_app_boot(int argc, const char **argv);
int cmd_audit(int argc, const char **argv);
int cmd_build(int argc, const char **argv);
int cmd_config(int argc, const char **argv);
int cmd_deploy(int argc, const char **argv);
int cmd_details(int argc, const char **argv);
int cmd_doctor(int argc, const char **argv);
int cmd_init(int argc, const char **argv);
int cmd_lock(int argc, const char **argv);
int cmd_proxy(int argc, const char **argv);
int cmd_prune(int argc, const char **argv);
int cmd_redeploy(int argc, const char **argv);
int cmd_registry(int argc, const char **argv);
int cmd_releases(int argc, const char **argv);
int cmd_remove(int argc, const char **argv);
int cmd_rollback(int argc, const char **argv);
int cmd_server(int argc, const char **argv);
int cmd_setup(int argc, const char **argv);
int cmd_version(int argc, const char **argv);

#endif
