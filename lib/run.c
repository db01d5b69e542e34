#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "xalloc.h"

#define KILL_GRACE_MS 2000
#define REAP_POLL_MS  20

unsigned long long run_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

void run_cmd_init(struct run_cmd *cmd)
{
	*cmd = (struct run_cmd)RUN_CMD_INIT;
}

void run_cmd_release(struct run_cmd *cmd)
{
	strvec_clear(&cmd->argv);
	strvec_clear(&cmd->env);
	sbuf_release(&cmd->outbuf);
	sbuf_release(&cmd->errbuf);
	sbuf_release(&cmd->line_out);
	sbuf_release(&cmd->line_err);
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0) {
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
}

static int open_null(int flags)
{
	return open("/dev/null", flags | O_CLOEXEC);
}

/* Only async-signal-safe-ish work between fork and exec: we are single-threaded. */
static void child_exec(struct run_cmd *cmd, int in, int out, int err, int report)
{
	size_t i;
	int e;

	if (cmd->flags & RUN_F_NEW_PGRP || cmd->timeout_ms) {
		setpgid(0, 0);
	}
	if (in >= 0 && dup2(in, 0) < 0) {
		goto fail;
	}
	if (out >= 0 && dup2(out, 1) < 0) {
		goto fail;
	}
	if (err >= 0 && dup2(err, 2) < 0) {
		goto fail;
	}
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < cmd->env.nr; i++) {
		char *eq = strchr(cmd->env.v[i], '=');
		if (eq) {
			*eq = '\0';
			setenv(cmd->env.v[i], eq + 1, 1);
			*eq = '=';
		} else {
			unsetenv(cmd->env.v[i]);
		}
	}
	if (cmd->dir && chdir(cmd->dir) < 0) {
		goto fail;
	}
	execvp(cmd->argv.v[0], cmd->argv.v);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0) {
		/* nothing left to tell anyone */
	}
	_exit(127);
}

/* The child's end of one output: a pipe to us, /dev/null, or inherited (-1). */
static int output_end(unsigned mode, int *ours)
{
	int p[2];

	*ours = -1;
	if (mode & RUN_IO_NULL) {
		return open_null(O_WRONLY);
	}
	if (!(mode & (RUN_IO_CAPTURE | RUN_IO_STREAM))) {
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		return -2;
	}
	*ours = p[0];
	set_nonblock(p[0]);
	return p[1];
}

static void start_failed(struct run_cmd *cmd, int e)
{
	cmd->status = 127;
	cmd->started = false;
	sbuf_addf(&cmd->errbuf, "cannot run '%s': %s\n", cmd->argv.nr ? cmd->argv.v[0] : "",
		  strerror(e));
}

static int start(struct run_cmd *cmd)
{
	int in = -1, out = -1, err = -1, report[2] = {-1, -1}, p[2];
	int e = 0, ret = -1;
	ssize_t n;

	cmd->started = true;
	cmd->timed_out = false;
	cmd->truncated = false;
	cmd->status = -1;
	cmd->in_off = 0;
	cmd->kill_stage = 0;
	cmd->start_ms = run_now_ms();
	cmd->kill_at_ms = cmd->timeout_ms ? cmd->start_ms + cmd->timeout_ms : 0;
	if (!cmd->argv.nr) {
		start_failed(cmd, EINVAL);
		return -1;
	}

	if (cmd->in_mem.ptr) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			e = errno;
			goto out;
		}
		in = p[0];
		cmd->fd_in = p[1];
		set_nonblock(cmd->fd_in);
		if (!cmd->in_mem.len) {
			close_fd(&cmd->fd_in);
		}
	} else if (cmd->in_file) {
		in = open(cmd->in_file, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			e = errno;
			sbuf_addf(&cmd->errbuf, "cannot open '%s': %s\n", cmd->in_file,
				  strerror(e));
			cmd->status = 127;
			cmd->started = false;
			goto out_nomsg;
		}
	} else if (!(cmd->flags & RUN_F_STDIN_INHERIT)) {
		in = open_null(O_RDONLY);
	}
	out = output_end(cmd->out, &cmd->fd_out);
	err = output_end(cmd->err, &cmd->fd_err);
	if (out == -2 || err == -2 || pipe2(report, O_CLOEXEC) < 0) {
		e = errno;
		goto out;
	}

	fflush(NULL);
	cmd->pid = fork();
	if (cmd->pid < 0) {
		e = errno;
		goto out;
	}
	if (cmd->pid == 0) {
		child_exec(cmd, in, out, err, report[1]);
	}
	if (cmd->flags & RUN_F_NEW_PGRP || cmd->timeout_ms) {
		setpgid(cmd->pid, cmd->pid); /* also here, so a kill right away reaches the group */
	}
	close_fd(&report[1]);
	do {
		n = read(report[0], &e, sizeof(e));
	} while (n < 0 && errno == EINTR);
	if (n == sizeof(e)) {
		/* exec failed: reap the child now and report why */
		int st;
		waitpid(cmd->pid, &st, 0);
		cmd->pid = -1;
		goto out;
	}
	e = 0;
	ret = 0;
out:
	if (e) {
		start_failed(cmd, e);
	}
out_nomsg:
	if (ret < 0) {
		close_fd(&cmd->fd_in);
		close_fd(&cmd->fd_out);
		close_fd(&cmd->fd_err);
	}
	if (in >= 0) {
		close(in);
	}
	if (out >= 0) {
		close(out);
	}
	if (err >= 0) {
		close(err);
	}
	close_fd(&report[0]);
	close_fd(&report[1]);
	return ret;
}

static void emit_line(struct run_cmd *cmd, int fd, const char *p, size_t len)
{
	struct sbuf sb = SBUF_INIT;

	if (cmd->on_line) {
		cmd->on_line(cmd, fd, slice_make(p, len), cmd->on_line_data);
		return;
	}
	if (cmd->prefix) {
		sbuf_addstr(&sb, cmd->prefix);
	}
	sbuf_add(&sb, p, len);
	sbuf_addch(&sb, '\n');
	/* one write per line, so lines of parallel children never interleave */
	if (write(fd, sb.buf, sb.len) < 0) {
		/* the reader is gone; the command's own result still counts */
	}
	sbuf_release(&sb);
}

/* Passes on the complete lines of a streamed output; at eof also the unfinished last one. */
static void stream_lines(struct run_cmd *cmd, int fd, struct sbuf *pending, bool eof)
{
	size_t start = 0, i;

	for (i = 0; i < pending->len; i++) {
		if (pending->buf[i] == '\n') {
			size_t end = i;
			if (end > start && pending->buf[end - 1] == '\r') {
				end--;
			}
			emit_line(cmd, fd, pending->buf + start, end - start);
			start = i + 1;
		}
	}
	if (eof && start < pending->len) {
		emit_line(cmd, fd, pending->buf + start, pending->len - start);
		start = pending->len;
	}
	if (start) {
		memmove(pending->buf, pending->buf + start, pending->len - start);
		sbuf_setlen(pending, pending->len - start);
	}
}

/* Reads what is there on one of the child's outputs. */
static void drain_output(struct run_cmd *cmd, int which)
{
	int *fd = which == 1 ? &cmd->fd_out : &cmd->fd_err;
	unsigned mode = which == 1 ? cmd->out : cmd->err;
	struct sbuf *keep = which == 1 ? &cmd->outbuf : &cmd->errbuf;
	struct sbuf *pending = which == 1 ? &cmd->line_out : &cmd->line_err;
	char buf[16384];

	for (;;) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		}
		if (n <= 0) {
			close_fd(fd);
			if (mode & RUN_IO_STREAM) {
				stream_lines(cmd, which, pending, true);
			}
			return;
		}
		if ((mode & RUN_IO_CAPTURE) && cmd->capture_max &&
		    keep->len + (size_t)n > cmd->capture_max) {
			sbuf_add(keep, buf, cmd->capture_max - keep->len);
			cmd->truncated = true;
			close_fd(fd);
			return;
		}
		if (mode & RUN_IO_CAPTURE) {
			sbuf_add(keep, buf, (size_t)n);
		}
		if (mode & RUN_IO_STREAM) {
			sbuf_add(pending, buf, (size_t)n);
			stream_lines(cmd, which, pending, false);
		}
	}
}

static void feed_input(struct run_cmd *cmd)
{
	while (cmd->fd_in >= 0 && cmd->in_off < cmd->in_mem.len) {
		ssize_t n =
		    write(cmd->fd_in, cmd->in_mem.ptr + cmd->in_off, cmd->in_mem.len - cmd->in_off);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		}
		if (n < 0) {
			/* EPIPE: the child does not want the rest */
			close_fd(&cmd->fd_in);
			return;
		}
		cmd->in_off += (size_t)n;
	}
	close_fd(&cmd->fd_in);
}

static bool is_running(const struct run_cmd *cmd)
{
	return cmd->pid > 0 || cmd->fd_in >= 0 || cmd->fd_out >= 0 || cmd->fd_err >= 0;
}

static void kill_group(struct run_cmd *cmd, int sig)
{
	if (cmd->pid > 0) {
		if (kill(-cmd->pid, sig) < 0) {
			kill(cmd->pid, sig);
		}
	}
}

static void check_timeout(struct run_cmd *cmd, unsigned long long now)
{
	if (!cmd->kill_at_ms || now < cmd->kill_at_ms || cmd->pid <= 0) {
		return;
	}
	cmd->timed_out = true;
	if (cmd->kill_stage == 0) {
		kill_group(cmd, SIGTERM);
		cmd->kill_stage = 1;
		cmd->kill_at_ms = now + KILL_GRACE_MS;
	} else {
		kill_group(cmd, SIGKILL);
		cmd->kill_stage = 2;
		cmd->kill_at_ms = 0;
		/* a grandchild may hold the pipes open: stop waiting for them */
		close_fd(&cmd->fd_in);
		close_fd(&cmd->fd_out);
		close_fd(&cmd->fd_err);
	}
}

static void try_reap(struct run_cmd *cmd)
{
	int st;
	pid_t r;

	if (cmd->pid <= 0) {
		return;
	}
	r = waitpid(cmd->pid, &st, WNOHANG);
	if (r != cmd->pid) {
		return;
	}
	cmd->pid = -1;
	if (WIFEXITED(st)) {
		cmd->status = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		cmd->status = 128 + WTERMSIG(st);
	}
	cmd->elapsed_ms = (unsigned long)(run_now_ms() - cmd->start_ms);
	/* a timed-out child has been killed: its output pipes may be held by orphans */
	if (cmd->timed_out) {
		if (cmd->fd_out >= 0) {
			drain_output(cmd, 1);
		}
		if (cmd->fd_err >= 0) {
			drain_output(cmd, 2);
		}
		close_fd(&cmd->fd_out);
		close_fd(&cmd->fd_err);
	}
	close_fd(&cmd->fd_in);
}

int run_all(struct run_cmd **cmds, size_t n, size_t max_parallel)
{
	struct pollfd *pfds = xcalloc(3 * (n ? n : 1), sizeof(*pfds));
	struct run_cmd **owner = xcalloc(3 * (n ? n : 1), sizeof(*owner));
	int *which = xcalloc(3 * (n ? n : 1), sizeof(*which));
	struct sigaction ign = {0}, old;
	size_t next = 0, running = 0, i;
	int ret = 0;

	if (!max_parallel || max_parallel > n) {
		max_parallel = n;
	}
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);

	for (;;) {
		unsigned long long now = run_now_ms();
		int timeout = -1;
		size_t np = 0;

		while (running < max_parallel && next < n) {
			struct run_cmd *c = cmds[next++];
			if (start(c) == 0) {
				running++;
				feed_input(c);
			} else {
				c->elapsed_ms = 0;
			}
		}
		running = 0;
		for (i = 0; i < next; i++) {
			struct run_cmd *c = cmds[i];
			if (!c->started || !is_running(c)) {
				continue;
			}
			check_timeout(c, now);
			try_reap(c);
			if (!is_running(c)) {
				continue;
			}
			running++;
			if (c->fd_in >= 0) {
				pfds[np] = (struct pollfd){.fd = c->fd_in, .events = POLLOUT};
				owner[np] = c;
				which[np++] = 0;
			}
			if (c->fd_out >= 0) {
				pfds[np] = (struct pollfd){.fd = c->fd_out, .events = POLLIN};
				owner[np] = c;
				which[np++] = 1;
			}
			if (c->fd_err >= 0) {
				pfds[np] = (struct pollfd){.fd = c->fd_err, .events = POLLIN};
				owner[np] = c;
				which[np++] = 2;
			}
			if (c->pid > 0 && c->fd_in < 0 && c->fd_out < 0 && c->fd_err < 0) {
				/* only the exit is left to see */
				timeout =
				    timeout < 0 || timeout > REAP_POLL_MS ? REAP_POLL_MS : timeout;
			}
			if (c->kill_at_ms) {
				long long left =
				    (long long)(c->kill_at_ms -
						(c->kill_at_ms > now ? now : c->kill_at_ms));
				if (timeout < 0 || left < timeout) {
					timeout = (int)left;
				}
			}
			if (c->pid > 0 && (c->fd_out >= 0 || c->fd_err >= 0 || c->fd_in >= 0)) {
				/* pipes may stay open after the exit (a daemonized grandchild) */
				if (timeout < 0 || timeout > 200) {
					timeout = 200;
				}
			}
		}
		if (!running && next >= n) {
			break;
		}
		if (!running) {
			continue;
		}
		if (np == 0) {
			struct timespec ts = {0, (long)(timeout > 0 ? timeout : 1) * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		if (poll(pfds, np, timeout) < 0 && errno != EINTR) {
			xdie("poll: %s", strerror(errno));
		}
		for (i = 0; i < np; i++) {
			if (!pfds[i].revents) {
				continue;
			}
			if (which[i] == 0) {
				if (pfds[i].revents & (POLLERR | POLLHUP)) {
					close_fd(&owner[i]->fd_in);
				} else {
					feed_input(owner[i]);
				}
			} else {
				drain_output(owner[i], which[i]);
			}
		}
	}

	for (i = 0; i < n; i++) {
		if (cmds[i]->status != 0) {
			ret = -1;
		}
	}
	sigaction(SIGPIPE, &old, NULL);
	free(pfds);
	free(owner);
	free(which);
	return ret;
}

int run_one(struct run_cmd *cmd)
{
	return run_all(&cmd, 1, 1);
}

void run_describe_status(const struct run_cmd *cmd, struct sbuf *out)
{
	if (!cmd->started) {
		struct slice t = slice_trim(slice_make(cmd->errbuf.buf, cmd->errbuf.len));
		sbuf_addstr(out, "could not be started");
		if (t.len) {
			sbuf_addstr(out, ": ");
			sbuf_add(out, t.ptr, t.len);
		}
	} else if (cmd->timed_out) {
		sbuf_addf(out, "timed out after %u ms", cmd->timeout_ms);
	} else if (cmd->status > 128) {
		sbuf_addf(out, "was killed by signal %d", cmd->status - 128);
	} else {
		sbuf_addf(out, "exited with status %d", cmd->status);
	}
}

struct slice run_tail_lines(const struct sbuf *sb, unsigned n)
{
	size_t end = sb->len, i;

	while (end && (sb->buf[end - 1] == '\n' || sb->buf[end - 1] == '\r')) {
		end--;
	}
	i = end;
	while (i && n) {
		if (sb->buf[i - 1] == '\n' && --n == 0) {
			break;
		}
		i--;
	}
	return slice_make(sb->buf + i, end - i);
}
