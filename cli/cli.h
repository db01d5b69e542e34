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

/* A row of the command table (cli/main.c). */
struct cli_cmd {
	const char *name;
	int (*fn)(int argc, const char **argv);
	unsigned flags;
	const char *help;
};

/*
 * Runs alias name (words: its definition, such as `app exec -i --reuse
 * "bin/rails console"`) with argv[0..argc) appended, as the command of cmds
 * its first word names. Returns that command's exit status, or 2 after
 * printing an error.
 */
int cli_alias_run(const struct cli_cmd *cmds, size_t ncmds, const char *name, const char *words,
		  int argc, const char **argv);

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
	bool primary;		 /* -p: only the primary host */
	bool skip_hooks;	 /* -H */
	const char *version;	 /* --version: the app version to act on */
	unsigned lock_wait;	 /* --lock-wait[=S]: seconds to wait for a held lock; 0: none */
	unsigned lock_wait_timeout, lock_wait_interval; /* Kamal's spellings of the wait */
};

extern struct cli_globals cli_g;
/*
 * The flags every command accepts (Kamal's): -c -d -h -r -p -v -q -H --json
 * -y --version --lock-wait --help.
 */
extern const struct opt cli_global_opts[];

/*
 * What every command does with a config it has loaded (after
 * config_exec_setup(cfg, ex)): shows the config's warnings; -p narrows the
 * hosts (cli_g.hosts) to the primary host, the first host of the first role
 * -r picks, or of the primary role; ssh.key_data starts an ssh-agent for the
 * run (cli_ssh_agent_setup). Returns -1 after printing an error.
 */
int cli_config_loaded(const struct config *cfg, struct exec *ex);
/*
 * When cfg has ssh.key_data: starts an ssh-agent that lives as long as
 * berth, adds the keys (from secrets) on ssh-add's stdin, and points
 * SSH_AUTH_SOCK at it; adds the public halves to ex->ssh.keys so that ssh
 * offers them also under IdentitiesOnly (ssh.keys_only). Returns -1 after printing an error.
 */
int cli_ssh_agent_setup(const struct config *cfg, struct exec *ex);

/*
 * Parses a command's argv (after the command word) against its own tables
 * (NULL-terminated; own may be NULL) and the global one, then applies the globals (log level, JSON
 * mode). Returns the number of operands left in argv, or -1 after printing the error. When --help
 * was given, prints usage and returns -2.
 */
int cli_parse(int argc, const char **argv, const struct opt *const *own, unsigned flags,
	      const char *usage);

/*
 * The subcommand of `berth GROUP SUB ...` (argv[0]), one of subs
 * (NULL-terminated); what names the group in the error ("an accessory").
 * Returns 1 with *sub set; 0 after printing usage for --help; 2 after
 * printing the error (none given, an option first, or not one of subs).
 */
int cli_subcommand(int argc, const char **argv, const char *const *subs, const char *what,
		   const char *usage, const char **sub);

/*
 * The words of a command given as operands (`app exec`, `accessory exec`):
 * one operand is split as a shell would split plain words, several are taken
 * as they are; line gets the command as one line for a shell (a one-off
 * container's cmd). 0, or 2 after printing the error (none given, or a quote
 * left open).
 */
int cli_command_words(const char **ops, int nops, const char *usage, struct sbuf *line,
		      struct strvec *words);

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
 * The hosts a command about servers acts on, as Kamal's commands take them:
 * with a config (config/deploy.yml, or -c) its hosts narrowed by -r/-h/-p
 * and its ssh settings (the --ssh-* flags win over them); without one (or
 * with --local) the -h hosts (-p: the first) and the flags. Fills ex (exec_init'ed or not),
 * cfg (config_init'ed; loaded when there is a config) and hosts. Returns
 * -1 after printing an error.
 */
int cli_hosts_setup(struct exec *ex, struct config *cfg, struct strvec *hosts);

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

/*
 * The accessories (cli/cmd-accessory.c) for setup, details and remove, on
 * the hosts -h/-r leave: every one booted where none runs (deploy lock
 * taken), shown, removed with its directory (lock taken; ask first with
 * cli_accessories_question, which appends a line per accessory naming
 * what goes). Return 0, or -1 after printing errors.
 */
int cli_accessories_boot(const struct config *cfg, const struct secrets *sec, struct exec *ex);
int cli_accessories_details(const struct config *cfg, struct exec *ex);
void cli_accessories_question(struct sbuf *q, const struct config *cfg);
int cli_accessories_remove(const struct config *cfg, struct exec *ex);

/*
 * Brings a's backup scheduler on its hosts (c's -h/-r filters) in line with
 * the config (cli/cmd-backup.c): installed or refreshed when a has a
 * schedule, else (and with remove) taken away with its job and secret.
 * c->sec must hold the secrets to install. Says what changed on stdout.
 * Returns 0, or -1 after printing errors.
 */
struct accessory_ctx;
int cli_backup_schedule(struct accessory_ctx *c, const struct config_accessory *a, bool remove);
/*
 * `berth backup now` of a on its hosts (c's -h/-r filters), each verified,
 * when a has a backup section; nothing without one. accessory upgrade runs
 * it first. Returns 0, or -1 with e set (secrets redacted).
 */
int cli_backup_before(struct accessory_ctx *c, const struct config_accessory *a, struct err *e);

int cmd_accessory(int argc, const char **argv);
int cmd_backup(int argc, const char **argv);
int cmd_app(int argc, const char **argv);
int cmd_app_boot(int argc, const char **argv);
int cmd_audit(int argc, const char **argv);
int cmd_build(int argc, const char **argv);
int cmd_config(int argc, const char **argv);
int cmd_deploy(int argc, const char **argv);
int cmd_details(int argc, const char **argv);
int cmd_docs(int argc, const char **argv);
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
int cmd_secrets(int argc, const char **argv);
int cmd_server(int argc, const char **argv);
int cmd_setup(int argc, const char **argv);
int cmd_version(int argc, const char **argv);

#endif
