/*
 * run — the one way berth starts child processes.
 *
 * A command is an argv vector (never a shell string), with its stdin fed
 * from memory, a file or nothing, and its stdout/stderr captured, streamed
 * line by line with a prefix (for many hosts at once), both, or inherited.
 * A timeout ends the child (SIGTERM to its process group, SIGKILL two seconds
 * later). run_all() runs many commands at once, at most max_parallel at a
 * time, in one poll loop, without threads.
 *
 *	struct run_cmd c = RUN_CMD_INIT;
 *	strvec_pushv(&c.argv, (const char *[]){"docker", "ps", NULL});
 *	c.out = RUN_IO_CAPTURE;
 *	if (run_one(&c) < 0)
 *		... c.status, c.errbuf ...
 *	run_cmd_release(&c);
 *
 * A long-lived child that berth talks to (a protocol over its stdin and
 * stdout, such as an sftp-server) is started with run_start() and ended with
 * run_finish():
 *
 *	int to, from;
 *	c.timeout_ms = 5000;	(how long run_finish waits for it to exit)
 *	if (run_start(&c, &to, &from) == 0) {
 *		... write requests to `to`, read answers from `from` (both non-blocking) ...
 *		run_finish(&c);
 *	}
 *
 * Threads. Every function here may be called from several threads at once,
 * each on its own struct run_cmd (one command is never used by two threads at
 * once). This holds because:
 *   - the child's environment and the program's path (the PATH search) are
 *     worked out in the parent before fork(); between fork() and exec the
 *     child makes async-signal-safe calls only (no setenv, no malloc);
 *   - every descriptor run opens is close-on-exec (pipe2 O_CLOEXEC), so a
 *     child started by one thread never inherits the pipe ends of another's
 *     child (an inherited write end would keep that child's stdin open);
 *   - children are reaped by pid, never with wait(-1);
 *   - SIGPIPE stays ignored for the whole process: a child that exits early
 *     must not kill berth while berth writes to its stdin. main() ignores it
 *     first thing (cli/main.c, proxy/main.c); as a safety net the first
 *     command started ignores it too when it is still SIG_DFL, and nothing
 *     ever restores it (a save-and-restore per call would race between
 *     threads). Children get SIGPIPE back at its default, and an empty
 *     signal mask, whatever the starting thread had blocked.
 * What is not thread-safe: changing berth's own environment (setenv) while
 * another thread starts a command, since the child's environment is a copy
 * of environ taken then.
 */
#ifndef RUN_H
#define RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sbuf.h"
#include "slice.h"
#include "strvec.h"

enum run_io {
	RUN_IO_INHERIT = 0,	 /* the child writes to berth's own stdout/stderr */
	RUN_IO_CAPTURE = 1 << 0, /* kept in outbuf / errbuf */
	RUN_IO_STREAM = 1 << 1,	 /* passed on line by line with the prefix (or to on_line) */
	RUN_IO_NULL = 1 << 2,	 /* /dev/null */
};
/* RUN_IO_CAPTURE | RUN_IO_STREAM does both: shown as it comes, and kept. */

enum run_flags {
	RUN_F_STDIN_INHERIT = 1 << 0, /* the child reads berth's stdin (interactive commands) */
	RUN_F_NEW_PGRP = 1 << 1,      /* own process group (implied by a timeout) */
};

struct run_live; /* private to run.c: a child started by run_start */

struct run_cmd;
/* Called for each complete line (without its newline) of a streamed output; fd is 1 or 2. */
typedef void (*run_line_fn)(struct run_cmd *cmd, int fd, struct slice line, void *data);

struct run_cmd {
	/* what to run */
	struct strvec argv;
	struct strvec env; /* "NAME=value" to set, or "NAME" to unset, in the child */
	const char *dir;   /* working directory, or NULL */
	unsigned flags;	   /* enum run_flags */
	/* stdin: in_mem (not owned, may hold secrets: it is never logged), else in_file, else
	 * /dev/null */
	struct slice in_mem;
	const char *in_file;
	/* stdout and stderr */
	unsigned out, err;   /* enum run_io */
	const char *prefix;  /* put before every streamed line, e.g. "  10.0.0.1 | " */
	run_line_fn on_line; /* instead of writing streamed lines to berth's stdout/stderr */
	void *on_line_data;
	unsigned timeout_ms; /* 0: none */
	/* 0: no limit. Past capture_max bytes of one captured output, the rest is not read:
	 * that pipe is closed (the child gets EPIPE or SIGPIPE) and truncated is set. */
	size_t capture_max;

	/* results, valid after run_one/run_all/run_finish */
	struct sbuf outbuf, errbuf;
	int status; /* exit code; 128 + N when killed by signal N; 127 when it could not start */
	bool timed_out;
	bool truncated; /* an output went past capture_max */
	bool started;
	unsigned long elapsed_ms;

	/* private to run.c */
	pid_t pid;
	int fd_in, fd_out, fd_err;
	size_t in_off;
	struct sbuf line_out, line_err;
	unsigned long long start_ms, kill_at_ms;
	int kill_stage;
	struct run_live *live;
};

#define RUN_CMD_INIT                                                                               \
	{                                                                                          \
		.argv = STRVEC_INIT, .env = STRVEC_INIT, .outbuf = SBUF_INIT, .errbuf = SBUF_INIT, \
		.line_out = SBUF_INIT, .line_err = SBUF_INIT, .pid = -1, .fd_in = -1,              \
		.fd_out = -1, .fd_err = -1                                                         \
	}

void run_cmd_init(struct run_cmd *cmd);
/* Frees argv, env and the buffers. */
void run_cmd_release(struct run_cmd *cmd);

/* Runs one command to its end. Returns 0 when it exited with status 0, else -1. */
int run_one(struct run_cmd *cmd);
/*
 * Runs every command, at most max_parallel at once (0 = all at once), in the
 * order given. Returns 0 when every one exited 0, else -1; each command's own
 * fields say how it ended.
 */
int run_all(struct run_cmd **cmds, size_t n, size_t max_parallel);

/*
 * Starts cmd and keeps talking to it: the child's stdin and stdout are pipes
 * whose other ends berth gets, *to_child (write) and *from_child (read), both
 * non-blocking and close-on-exec; they stay cmd's (do not close them:
 * run_finish does). in_mem, in_file, RUN_F_STDIN_INHERIT and cmd->out are not
 * used. stderr is kept in cmd->errbuf by a small reader thread, so the child
 * never blocks on it however much it writes: at most capture_max bytes (0:
 * 64 KiB), the newest kept when there are more (truncated is then set);
 * cmd->err = RUN_IO_NULL sends it to /dev/null instead. errbuf is the
 * reader's until run_finish returns: do not look at it before.
 * Returns 0, or -1 when the child could not be started (status 127, errbuf
 * says why; nothing to finish).
 */
int run_start(struct run_cmd *cmd, int *to_child, int *from_child);
/*
 * Ends a child started by run_start: closes its stdin (the child sees end of
 * file), reads and discards what it still writes to stdout, and waits for it
 * to exit. After cmd->timeout_ms (counted from this call; 0: no limit) it is
 * ended as a timeout is (SIGTERM to its process group, SIGKILL 2 s later),
 * and timed_out is set. Then status, elapsed_ms and errbuf are final.
 * Returns 0 when it exited with status 0, else -1. Calling it again, or for a
 * command whose start failed, only returns that again.
 */
int run_finish(struct run_cmd *cmd);

/*
 * Describes how a finished command failed, for messages: "exited with status
 * 2", "was killed by signal 9", "timed out after 5000 ms", "could not be started: ...".
 */
void run_describe_status(const struct run_cmd *cmd, struct sbuf *out);
/* The last n lines of a buffer, for error reports. */
struct slice run_tail_lines(const struct sbuf *sb, unsigned n);

/* Milliseconds on a monotonic clock. */
unsigned long long run_now_ms(void);

#endif
