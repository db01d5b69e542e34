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

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/run.h"
#include "lib/slice.h"
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
	bool forward_agent;	  /* ssh.forward_agent: ForwardAgent yes (hooks on hosts use it) */
	int use_config;		  /* ssh.config: 1 = the user's ssh config (default), 0 = none */
	struct strvec configs;	  /* ssh.config as path(s): read instead of the user's */
	unsigned connect_timeout; /* seconds; 0: 10 */
	unsigned persist;	  /* ControlPersist seconds; 0: 60 */
	char *control_dir;	  /* where master sockets live; NULL: a private dir in /tmp */
	int log_level;		  /* 0 = quiet (LogLevel ERROR); 1 = ssh's own default */
};

/* A host's Docker socket, forwarded (exec_prepare_docker); private to exec.c. */
struct exec_docker_fwd {
	char *host;
	pthread_mutex_t mu;	 /* held while the forward is made: hosts are made at once */
	pthread_mutex_t conn_mu; /* held while the connection is opened (exec_connect) */
	int state;	   /* 0 not tried yet, 1 forwarded, -1 not: commands run on the host */
	char *docker_host; /* "unix://LOCAL" */
};

struct exec {
	enum exec_kind kind;
	struct exec_ssh ssh;
	char *tmp_config; /* generated config that includes several ssh.config paths */
	bool tty;	  /* ssh asks for a terminal (-t) instead of none (-T): interactive use */
	char *local_dir;  /* EXEC_LOCAL: the working directory of what runs (owned); NULL: ours.
			   * It stands for the host's home: a subsystem starts there. */
	/*
	 * EXEC_LOCAL: every argv runs as WRAP... ARGV... when set (a program that
	 * runs its arguments elsewhere, such as `docker run ... IMAGE chroot /host`:
	 * berthd's doctor probes its host so). Empty: argv runs as it is.
	 */
	struct strvec local_wrap;
	/*
	 * exec_prepare_docker runs Docker-only commands here, against a host's
	 * dockerd through its forwarded socket. Off by default; deploys turn it
	 * on. Set before any thread uses ex.
	 */
	bool docker_here;
	char *docker_socket; /* the host's Docker socket; NULL: /var/run/docker.sock */
	/* the forwards made so far; the list guarded by mu (exec is shared by deploy threads) */
	pthread_mutex_t mu;
	struct exec_docker_fwd **fwds;
	size_t nfwds;
	int docker_cli; /* whether a docker CLI is on PATH here: -1 not looked yet */
};

void exec_init(struct exec *ex, enum exec_kind kind);
void exec_release(struct exec *ex);

/*
 * Sets cmd->argv so that it runs argv on host: for SSH the ssh client's
 * argv, ending with one remote command line; for local, argv itself (after
 * ex->local_wrap's words, and cmd->dir set to ex->local_dir when there is one). host
 * is "[user@]name[:port]" (an IPv6 address in brackets when a port is
 * given); a user or port in it wins over ex->ssh's. Returns 0, or -1 with e
 * set for a host that is not a plain name (one starting with '-', say).
 */
int exec_prepare(struct exec *ex, const char *host, const char *const *argv, struct run_cmd *cmd,
		 struct err *e);

/*
 * Sets cmd->argv so that it starts the SSH subsystem name ("sftp") on host:
 * the same ssh argv as exec_prepare (multiplexed connection, every ssh
 * setting) with -s and the name in place of a remote command line, and no
 * forwarding of X11, the agent or ports for it. sshd starts a subsystem
 * through the user's login shell too (unless it is internal-sftp), but once,
 * however long the session runs.
 * For EXEC_LOCAL, "sftp" is OpenSSH's sftp-server on this machine (looked
 * for in /usr/lib/openssh, /usr/libexec/openssh, /usr/libexec and
 * /usr/lib/ssh), started in ex->local_dir. Returns 0, or -1 with e set (an
 * invalid host or name, no local sftp-server).
 */
int exec_prepare_subsystem(struct exec *ex, const char *host, const char *name, struct run_cmd *cmd,
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

/*
 * Opens the multiplexed connection to host when none is open, with no
 * session (no process on the host), one at a time per host: call it
 * before starting, from several threads, ssh commands that could each
 * become the connection's master. Returns 0, or -1 with e set.
 */
int exec_connect(struct exec *ex, const char *host, struct err *e);

/*
 * Makes the unix socket remote_path on host (Docker's /var/run/docker.sock,
 * berth-proxy's control socket) reachable at a local socket, through the
 * multiplexed connection to host: OpenSSH's stream-local forwarding, so no
 * process starts on the host, and every connection to the local socket is
 * one channel of the connection already open. Opens the connection when
 * none is (no remote command either). *local gets the local socket's path,
 * in the private control directory. Forwarding the same remote_path again
 * while the connection lives reuses the forward. For EXEC_LOCAL, *local is
 * remote_path itself. Returns 0, or -1 with e set (ssh's own words).
 *
 * Whether anything answers on the far end is not checked here: a connection
 * to the local socket is accepted, and closed at once when the host cannot
 * connect to remote_path (sshd refused, or no such socket).
 */
int exec_forward(struct exec *ex, const char *host, const char *remote_path, struct sbuf *local,
		 struct err *e);

/*
 * Like exec_prepare, for an argv that only talks to Docker on host: the
 * docker CLI, with the shell and POSIX tools around it, touching no file of
 * the host (its stdin may carry secrets: `docker run --env-file /dev/stdin`
 * sends them in the API request's body). With ex->docker_here set, a docker
 * CLI on PATH here and an SSH executor, argv runs here with DOCKER_HOST set
 * to host's Docker socket forwarded over the multiplexed connection
 * (exec_forward): no session and no process on the host, where each
 * command over ssh starts the user's login shell and a docker CLI. The
 * first use per host checks that dockerd answers through the forward (GET
 * /_ping); when it cannot be forwarded, or does not answer, argv runs on
 * the host as exec_prepare runs it, for the rest of ex's life (with -v, said
 * once). Safe from several threads at once.
 */
int exec_prepare_docker(struct exec *ex, const char *host, const char *const *argv,
			struct run_cmd *cmd, struct err *e);
/* Whether exec_prepare_docker runs commands for host here (forwarding it first when needed). */
bool exec_docker_here(struct exec *ex, const char *host);

/*
 * The one way to run a script (engine/scripts.h) on a host: as
 * `sh -c TEXT NAME ARGS...`, its output captured up to a limit, with a
 * timeout, and a failure said the same way whatever the module:
 * ssh's own words and what to check when the host was not reached
 * (exec_explain), otherwise
 *	host 'H': WHAT: exited with status N: LAST LINES OF STDERR
 * (the last lines on lines of their own when there are several). Modules
 * put their own prefix in front with err_prefix.
 */
enum exec_script_flags {
	/* talks only to Docker: may run here, through the forwarded socket (exec_prepare_docker) */
	EXEC_SCRIPT_DOCKER = 1 << 0,
	/* an exit status below 128 is an answer (exec_script returns it), not a failure */
	EXEC_SCRIPT_STATUS = 1 << 1,
};

#define EXEC_SCRIPT_TIMEOUT_MS (120u * 1000)
/* timeout_ms of a script that runs as long as it likes (a follower) */
#define EXEC_SCRIPT_NO_TIMEOUT	UINT_MAX
#define EXEC_SCRIPT_CAPTURE_MAX (1u << 20)
#define EXEC_SCRIPT_TAIL_LINES	5

struct exec_script {
	const char *text;	 /* the script */
	const char *name;	 /* its $0, which sh's own messages start with; NULL: "berth" */
	const char *const *args; /* $1...; NULL: none */
	struct slice in;	 /* its stdin */
	unsigned timeout_ms;	 /* 0: EXEC_SCRIPT_TIMEOUT_MS; EXEC_SCRIPT_NO_TIMEOUT: none */
	size_t
	    capture_max;  /* most bytes kept of stdout and of stderr; 0: EXEC_SCRIPT_CAPTURE_MAX */
	unsigned flags;	  /* enum exec_script_flags */
	const char *what; /* what was being done, for errors ("cannot start 'x'"); NULL: none */
};

/*
 * Runs s on host. cmd is the caller's (RUN_CMD_INIT; it may set out, e.g.
 * RUN_IO_CAPTURE | RUN_IO_STREAM with on_line, and in_file, prefix): argv,
 * stdin (when s->in has one), stderr capture and the limits are set here,
 * and out is RUN_IO_CAPTURE when the caller left it 0; stdout is in
 * cmd->outbuf afterwards, and the caller releases cmd. Returns 0 when the script exited 0; with
 * EXEC_SCRIPT_STATUS, its exit status when below 128; else -1 with e set.
 */
int exec_script(struct exec *ex, const char *host, const struct exec_script *s, struct run_cmd *cmd,
		struct err *e);

/* exec_script in two halves, for a caller that shows the command before it runs (run_one between).
 */
int exec_script_prepare(struct exec *ex, const char *host, const struct exec_script *s,
			struct run_cmd *cmd, struct err *e);
int exec_script_result(const struct exec *ex, const char *host, const struct exec_script *s,
		       const struct run_cmd *cmd, struct err *e);

/*
 * Runs s on every host, at most max_parallel at once (0: all); cmds[i] is
 * initialized here for hosts[i] (release each with run_cmd_release), and
 * exec_script_result(ex, hosts[i], s, &cmds[i], e) says how it went. A host
 * that cannot be named is not started, and its result says why.
 */
void exec_script_hosts(struct exec *ex, const char *const *hosts, size_t nhosts,
		       const struct exec_script *s, size_t max_parallel, struct run_cmd *cmds);

/* Closes the multiplexed connection to host, if there is one. */
void exec_disconnect(struct exec *ex, const char *host);

#endif
