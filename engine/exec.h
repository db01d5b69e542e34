/*
 * exec — runs an argv on a host: over SSH with the OpenSSH client, or on
 * this machine. Every front door reaches servers through this.
 *
 * The SSH executor uses the user's own OpenSSH client, so ~/.ssh/config,
 * agents, jump hosts and known_hosts work as they do for `ssh`. Connections
 * to a host are multiplexed (ControlMaster/ControlPersist): the first command
 * pays for the handshake, the next ones reuse it.
 *
 * The remote side gets one command line, which sshd hands to the login
 * shell; exec quotes every argument so that the shell gives the remote
 * program the very bytes of argv (quotes, spaces, $, backticks, ;, newlines).
 * Data — files, secrets — travels on stdin, never in argv.
 *
 *	struct exec ex;
 *	exec_init(&ex, EXEC_SSH);
 *	ex.ssh.user = xstrdup("deploy");
 *	struct run_cmd c = RUN_CMD_INIT;
 *	if (exec_prepare(&ex, "10.0.0.5", argv, &c, &err) == 0 && run_one(&c) < 0)
 *		exec_explain(&ex, "10.0.0.5", &c, &err);
 */
#ifndef EXEC_H
#define EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/run.h"
#include "lib/strvec.h"

enum exec_kind {
	EXEC_SSH = 0,
	EXEC_LOCAL = 1,
};

/* The ssh settings of config/deploy.yml (Kamal's `ssh:` section). Strings are owned. */
struct exec_ssh {
	char *user;		  /* ssh.user; NULL: "root", as Kamal does */
	unsigned port;		  /* ssh.port; 0: the ssh config's or 22 */
	char *proxy;		  /* ssh.proxy: a jump host, [user@]host[:port] (ProxyJump) */
	char *proxy_command;	  /* ssh.proxy_command (ProxyCommand) */
	struct strvec keys;	  /* ssh.keys: identity files (-i) */
	bool keys_only;		  /* ssh.keys_only: IdentitiesOnly yes */
	int use_config;		  /* ssh.config: 1 = the user's ssh config (default), 0 = none */
	struct strvec configs;	  /* ssh.config as path(s): read instead of the user's */
	unsigned connect_timeout; /* seconds; 0: 10 */
	unsigned persist;	  /* ControlPersist seconds; 0: 60 */
	char *control_dir;	  /* where master sockets live; NULL: a private dir in /tmp */
	int log_level;		  /* 0 = quiet (LogLevel ERROR); 1 = ssh's own default */
};

struct exec {
	enum exec_kind kind;
	struct exec_ssh ssh;
	char *tmp_config; /* generated config that includes several ssh.config paths */
	bool tty;	  /* ssh asks for a terminal (-t) instead of none (-T): interactive use */
};

void exec_init(struct exec *ex, enum exec_kind kind);
void exec_release(struct exec *ex);

/*
 * Sets cmd->argv so that it runs argv on host: for SSH the ssh client's
 * argv, ending with one remote command line; for local, argv itself. host
 * is "[user@]name[:port]" (an IPv6 address in brackets when a port is
 * given); a user or port in it wins over ex->ssh's. Returns 0, or -1 with e
 * set for a host that is not a plain name (one starting with '-', say).
 */
int exec_prepare(struct exec *ex, const char *host, const char *const *argv, struct run_cmd *cmd,
		 struct err *e);

/*
 * Runs argv on every host, at most max_parallel at once (0: all). cmds[i]
 * is initialized here for hosts[i] with out/err modes, prefix and stdin taken
 * from tmpl (argv and env of tmpl are ignored); release each with
 * run_cmd_release. Returns 0 when every host succeeded, else -1.
 */
int exec_run_hosts(struct exec *ex, const char *const *hosts, size_t nhosts,
		   const char *const *argv, const struct run_cmd *tmpl, size_t max_parallel,
		   struct run_cmd *cmds);

/*
 * Sets e to why a command on host failed, in words a user can act on: for
 * an SSH connection failure the ssh error and what to check; otherwise the
 * command's exit and the last lines of its stderr.
 */
void exec_explain(const struct exec *ex, const char *host, const struct run_cmd *cmd,
		  struct err *e);
/* Whether cmd failed to reach the host at all (ssh's own exit status 255). */
bool exec_unreachable(const struct exec *ex, const struct run_cmd *cmd);

/*
 * Appends argv as one POSIX shell command line that gives the program back
 * exactly these bytes: safe words bare, the rest in single quotes.
 */
void exec_quote_argv(struct sbuf *out, const char *const *argv);
void exec_quote_arg(struct sbuf *out, const char *arg);

/* Closes the multiplexed connection to host, if there is one. */
void exec_disconnect(struct exec *ex, const char *host);

#endif
