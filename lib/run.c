#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "xalloc.h"

#define KILL_GRACE_MS 2000
#define REAP_POLL_MS  20
#define ERR_KEEP      (64 * 1024) /* run_start's stderr kept by default */

extern char **environ;

/* A child started by run_start: its stderr reader. */
struct run_live {
	pthread_t th;
	int fd_err;  /* read end of the child's stderr; -1: none */
	int wake[2]; /* run_finish writes a byte: read what is left, then stop */
	struct sbuf *keep;
	size_t max;
	bool truncated;
};

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

/*
 * Everything the child needs, worked out in the parent before fork(): between
 * fork and exec the child may only make async-signal-safe calls, since
 * another thread may hold malloc's or stdio's locks at the moment of fork.
 */
struct spawn {
	const char *path;  /* the program, after the PATH search */
	char *const *argv; /* argv[0] as given */
	char **envp;	   /* the child's whole environment */
	char **sh_argv;	   /* "sh", path, argv[1..]: for a script without #! (ENOEXEC) */
	const char *dir;   /* chdir here, or NULL */
	bool pgrp;	   /* own process group */
	int fd[3];	   /* become the child's 0, 1, 2; -1: inherited */
	int report;	   /* write end: errno when exec fails */
	struct sigaction dfl;
	sigset_t nomask;
};

static void child_exec(const struct spawn *sp)
{
	int fd[3], i, e;

	sigaction(SIGPIPE, &sp->dfl, NULL); /* ignored in berth, not in what it runs */
	sigprocmask(SIG_SETMASK, &sp->nomask, NULL);
	if (sp->pgrp) {
		setpgid(0, 0);
	}
	/* an end that already is 0, 1 or 2 (berth's own were closed) is moved up first */
	for (i = 0; i < 3; i++) {
		fd[i] = sp->fd[i];
		if (fd[i] >= 0 && fd[i] < 3) {
			fd[i] = fcntl(fd[i], F_DUPFD_CLOEXEC, 3);
			if (fd[i] < 0) {
				goto fail;
			}
		}
	}
	for (i = 0; i < 3; i++) {
		/* dup2 clears close-on-exec on the copy, and only there */
		if (fd[i] >= 0 && dup2(fd[i], i) < 0) {
			goto fail;
		}
	}
	if (sp->dir && chdir(sp->dir) < 0) {
		goto fail;
	}
	execve(sp->path, sp->argv, sp->envp);
	if (errno == ENOEXEC) {
		/* as execvp does: a file without #! is a shell script */
		execve("/bin/sh", sp->sh_argv, sp->envp);
	}
fail:
	e = errno;
	if (write(sp->report, &e, sizeof(e)) < 0) {
		/* nothing left to tell anyone */
	}
	_exit(127);
}

static bool same_name(const char *entry, const char *name, size_t n)
{
	return !strncmp(entry, name, n) && entry[n] == '=';
}

/* environ with cmd->env applied in order ("N=v" sets, "N" unsets); the strings are not copied. */
static char **child_env(const struct strvec *env)
{
	size_t n = 0, i, j, k;
	char **v;

	while (environ && environ[n]) {
		n++;
	}
	v = xcalloc(n + env->nr + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i] = environ[i];
	}
	for (j = 0; j < env->nr; j++) {
		const char *eq = strchr(env->v[j], '=');
		size_t len = eq ? (size_t)(eq - env->v[j]) : strlen(env->v[j]);
		for (i = k = 0; i < n; i++) {
			if (!same_name(v[i], env->v[j], len)) {
				v[k++] = v[i];
			}
		}
		n = k;
		if (eq) {
			v[n++] = env->v[j];
		}
		v[n] = NULL;
	}
	return v;
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp; envp++) {
		if (same_name(*envp, name, n)) {
			return *envp + n + 1;
		}
	}
	return NULL;
}

/*
 * The PATH search execvp would do, in the parent and with the child's own
 * PATH: the first regular file that may be executed. A relative directory is
 * looked up from dir, where the child will be. Returns 0 with out set, or an
 * errno (ENOENT; EACCES when only files we may not run were found).
 */
static int find_program(const char *name, const char *path, const char *dir, struct sbuf *out)
{
	struct sbuf check = SBUF_INIT;
	int ret = ENOENT;

	if (!*name) {
		return ENOENT;
	}
	if (strchr(name, '/')) {
		sbuf_addstr(out, name);
		return 0;
	}
	if (!path) {
		path = "/bin:/usr/bin";
	}
	for (;;) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		struct stat st;

		sbuf_reset(out);
		sbuf_add(out, len ? path : ".", len ? len : 1);
		sbuf_addch(out, '/');
		sbuf_addstr(out, name);
		sbuf_reset(&check);
		if (dir && out->buf[0] != '/') {
			sbuf_addf(&check, "%s/", dir);
		}
		sbuf_addstr(&check, out->buf);
		if (stat(check.buf, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(check.buf, X_OK) == 0) {
				ret = 0;
				break;
			}
			ret = EACCES;
		}
		if (!colon) {
			break;
		}
		path = colon + 1;
	}
	sbuf_release(&check);
	return ret;
}

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

/* The safety net of run.h: SIGPIPE ignored for good, if main() has not done it. */
static void ignore_sigpipe(void)
{
	struct sigaction cur, ign;

	if (sigaction(SIGPIPE, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_handler == SIG_DFL) {
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &ign, NULL);
	}
}

static const char *errno_str(int e, char *buf, size_t size)
{
	/* the GNU strerror_r, which may or may not use buf */
	return strerror_r(e, buf, size);
}

static void start_failed(struct run_cmd *cmd, int e)
{
	char buf[128];

	cmd->status = 127;
	cmd->started = false;
	sbuf_addf(&cmd->errbuf, "cannot run '%s': %s\n", cmd->argv.nr ? cmd->argv.v[0] : "",
		  errno_str(e, buf, sizeof(buf)));
}

static void reset_results(struct run_cmd *cmd)
{
	cmd->started = true;
	cmd->timed_out = false;
	cmd->truncated = false;
	cmd->status = -1;
	cmd->in_off = 0;
	cmd->kill_stage = 0;
	cmd->start_ms = run_now_ms();
	cmd->kill_at_ms = cmd->timeout_ms ? cmd->start_ms + cmd->timeout_ms : 0;
}

/*
 * Forks and execs cmd with in, out and err (-1: inherited) as its 0, 1, 2.
 * The caller still closes its copies of them. Returns 0 with cmd->pid set,
 * else the errno of why it could not start (the child, if any, reaped).
 */
static int spawn(struct run_cmd *cmd, int in, int out, int err)
{
	struct spawn sp;
	struct sbuf path = SBUF_INIT;
	int report[2] = {-1, -1}, e;
	size_t i;
	ssize_t n;

	pthread_once(&sigpipe_once, ignore_sigpipe);
	memset(&sp, 0, sizeof(sp));
	sp.argv = cmd->argv.v;
	sp.envp = child_env(&cmd->env);
	sp.dir = cmd->dir;
	sp.pgrp = (cmd->flags & RUN_F_NEW_PGRP) || cmd->timeout_ms;
	sp.fd[0] = in;
	sp.fd[1] = out;
	sp.fd[2] = err;
	sp.dfl.sa_handler = SIG_DFL;
	sigemptyset(&sp.dfl.sa_mask);
	sigemptyset(&sp.nomask);
	e = find_program(cmd->argv.v[0], env_get(sp.envp, "PATH"), cmd->dir, &path);
	if (e) {
		goto out;
	}
	sp.path = path.buf;
	sp.sh_argv = xcalloc(cmd->argv.nr + 2, sizeof(*sp.sh_argv));
	sp.sh_argv[0] = "sh";
	sp.sh_argv[1] = path.buf;
	for (i = 1; i < cmd->argv.nr; i++) {
		sp.sh_argv[i + 1] = cmd->argv.v[i];
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		e = errno;
		goto out;
	}
	sp.report = report[1];

	fflush(NULL);
	cmd->pid = fork();
	if (cmd->pid < 0) {
		e = errno;
		goto out;
	}
	if (cmd->pid == 0) {
		child_exec(&sp);
	}
	if (sp.pgrp) {
		setpgid(cmd->pid, cmd->pid); /* also here, so a kill right away reaches the group */
	}
	close_fd(&report[1]);
	/* end of file: the exec closed the report pipe (it is close-on-exec) */
	do {
		n = read(report[0], &e, sizeof(e));
	} while (n < 0 && errno == EINTR);
	if (n == sizeof(e)) {
		/* exec failed: reap the child now and report why */
		int st;
		while (waitpid(cmd->pid, &st, 0) < 0 && errno == EINTR) {
		}
		cmd->pid = -1;
		goto out;
	}
	e = 0;
out:
	close_fd(&report[0]);
	close_fd(&report[1]);
	free(sp.envp);
	free(sp.sh_argv);
	sbuf_release(&path);
	return e;
}

static void close_end(int fd)
{
	if (fd >= 0) {
		close(fd);
	}
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

static int start(struct run_cmd *cmd)
{
	int in = -1, out = -1, err = -1, p[2];
	int e = 0, ret = -1;

	reset_results(cmd);
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
			char buf[128];
			e = errno;
			sbuf_addf(&cmd->errbuf, "cannot open '%s': %s\n", cmd->in_file,
				  errno_str(e, buf, sizeof(buf)));
			cmd->status = 127;
			cmd->started = false;
			e = 0;
			goto out;
		}
	} else if (!(cmd->flags & RUN_F_STDIN_INHERIT)) {
		in = open_null(O_RDONLY);
	}
	out = output_end(cmd->out, &cmd->fd_out);
	err = output_end(cmd->err, &cmd->fd_err);
	if (out == -2 || err == -2) {
		e = errno;
		goto out;
	}
	e = spawn(cmd, in, out, err);
	if (!e) {
		ret = 0;
	}
out:
	if (e) {
		start_failed(cmd, e);
	}
	if (ret < 0) {
		close_fd(&cmd->fd_in);
		close_fd(&cmd->fd_out);
		close_fd(&cmd->fd_err);
	}
	close_end(in);
	close_end(out);
	close_end(err);
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
	size_t next = 0, running = 0, i;
	int ret = 0;

	if (!max_parallel || max_parallel > n) {
		max_parallel = n;
	}

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
	free(pfds);
	free(owner);
	free(which);
	return ret;
}

int run_one(struct run_cmd *cmd)
{
	return run_all(&cmd, 1, 1);
}

/* Keeps what was read of a long-lived child's stderr, the newest max bytes at most. */
static void keep_err(struct run_live *l, const char *p, size_t n)
{
	struct sbuf *k = l->keep;

	if (k->len + n <= l->max) {
		sbuf_add(k, p, n);
		return;
	}
	l->truncated = true;
	if (n >= l->max) {
		sbuf_reset(k);
		sbuf_add(k, p + n - l->max, l->max);
		return;
	}
	memmove(k->buf, k->buf + (k->len + n - l->max), l->max - n);
	sbuf_setlen(k, l->max - n);
	sbuf_add(k, p, n);
}

/* Reads what is there; false at end of file or an error (the reader is done). */
static bool read_err(struct run_live *l, size_t budget)
{
	char buf[4096];

	while (budget) {
		ssize_t n = read(l->fd_err, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return true;
		}
		if (n <= 0) {
			return false;
		}
		keep_err(l, buf, (size_t)n);
		budget = budget > (size_t)n ? budget - (size_t)n : 0;
	}
	return true;
}

/*
 * The stderr reader of a run_start child. It stops at end of file, or when
 * run_finish wakes it after the child exited: then it takes what is in the
 * pipe (a grandchild may hold the pipe open forever) and stops.
 */
static void *err_reader(void *arg)
{
	struct run_live *l = arg;

	for (;;) {
		struct pollfd p[2] = {{l->fd_err, POLLIN, 0}, {l->wake[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		if (p[1].revents) {
			read_err(l, 1 << 20);
			break;
		}
		if (p[0].revents && !read_err(l, SIZE_MAX)) {
			break;
		}
	}
	return NULL;
}

static void live_free(struct run_cmd *cmd)
{
	struct run_live *l = cmd->live;

	close_end(l->fd_err);
	close_end(l->wake[0]);
	close_end(l->wake[1]);
	free(l);
	cmd->live = NULL;
}

int run_start(struct run_cmd *cmd, int *to_child, int *from_child)
{
	int inp[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, err_end = -1, e = 0;
	struct run_live *l;

	*to_child = *from_child = -1;
	reset_results(cmd);
	cmd->kill_at_ms = 0; /* the timeout is run_finish's */
	l = xcalloc(1, sizeof(*l));
	l->fd_err = l->wake[0] = l->wake[1] = -1;
	l->keep = &cmd->errbuf;
	l->max = cmd->capture_max ? cmd->capture_max : ERR_KEEP;
	cmd->live = l;
	if (!cmd->argv.nr) {
		e = EINVAL;
		goto fail;
	}
	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		e = errno;
		goto fail;
	}
	if (cmd->err & RUN_IO_NULL) {
		err_end = open_null(O_WRONLY);
	} else if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(l->wake, O_CLOEXEC) < 0) {
		e = errno;
		goto fail;
	} else {
		err_end = errp[1];
		errp[1] = -1;
		l->fd_err = errp[0];
		errp[0] = -1;
		set_nonblock(l->fd_err);
	}
	e = spawn(cmd, inp[0], outp[1], err_end);
	if (e) {
		goto fail;
	}
	close_fd(&inp[0]);
	close_fd(&outp[1]);
	close_fd(&err_end);
	cmd->fd_in = inp[1];
	cmd->fd_out = outp[0];
	set_nonblock(cmd->fd_in);
	set_nonblock(cmd->fd_out);
	if (l->fd_err >= 0) {
		e = pthread_create(&l->th, NULL, err_reader, l);
		if (e) {
			/* nobody would read its stderr: end it */
			kill(cmd->pid, SIGKILL);
			while (waitpid(cmd->pid, NULL, 0) < 0 && errno == EINTR) {
			}
			cmd->pid = -1;
			close_fd(&cmd->fd_in);
			close_fd(&cmd->fd_out);
			goto fail;
		}
	}
	*to_child = cmd->fd_in;
	*from_child = cmd->fd_out;
	return 0;
fail:
	close_fd(&inp[0]);
	close_fd(&inp[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&err_end);
	live_free(cmd);
	start_failed(cmd, e);
	return -1;
}

/* Reads and drops what the child writes to stdout, waiting at most ms for it. */
static void discard_output(struct run_cmd *cmd, int ms)
{
	struct pollfd p = {cmd->fd_out, POLLIN, 0};
	char buf[4096];

	if (poll(&p, 1, ms) <= 0) {
		return;
	}
	for (;;) {
		ssize_t n = read(cmd->fd_out, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		}
		if (n <= 0) {
			close_fd(&cmd->fd_out);
			return;
		}
	}
}

int run_finish(struct run_cmd *cmd)
{
	struct run_live *l = cmd->live;

	if (!l) {
		return cmd->started && cmd->status == 0 ? 0 : -1;
	}
	close_fd(&cmd->fd_in);
	cmd->kill_stage = 0;
	cmd->kill_at_ms = cmd->timeout_ms ? run_now_ms() + cmd->timeout_ms : 0;
	for (;;) {
		unsigned long long now = run_now_ms();
		int ms = REAP_POLL_MS;

		check_timeout(cmd, now);
		try_reap(cmd);
		if (cmd->pid <= 0) {
			break;
		}
		if (cmd->kill_at_ms && cmd->kill_at_ms > now &&
		    cmd->kill_at_ms - now < (unsigned)ms) {
			ms = (int)(cmd->kill_at_ms - now);
		}
		if (cmd->fd_out >= 0) {
			discard_output(cmd, ms);
		} else {
			struct timespec ts = {0, (long)ms * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	close_fd(&cmd->fd_out);
	if (l->fd_err >= 0) {
		char c = 0;
		if (write(l->wake[1], &c, 1) < 0) {
			/* cannot happen with an empty pipe; the reader then stops at end of file */
		}
		pthread_join(l->th, NULL);
		if (l->truncated) {
			cmd->truncated = true;
		}
	}
	live_free(cmd);
	return cmd->status == 0 ? 0 : -1;
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
