#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/banned.h"
#include "lib/log.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

#define DEFAULT_CONNECT_TIMEOUT 10
#define DEFAULT_PERSIST		60

void exec_init(struct exec *ex, enum exec_kind kind)
{
	memset(ex, 0, sizeof(*ex));
	ex->kind = kind;
	ex->ssh.use_config = 1;
	ex->docker_cli = -1;
	pthread_mutex_init(&ex->mu, NULL);
	strvec_init(&ex->ssh.keys);
	strvec_init(&ex->ssh.configs);
	strvec_init(&ex->local_wrap);
}

void exec_release(struct exec *ex)
{
	size_t i;

	for (i = 0; i < ex->nfwds; i++) {
		free(ex->fwds[i]->host);
		free(ex->fwds[i]->docker_host);
		pthread_mutex_destroy(&ex->fwds[i]->mu);
		pthread_mutex_destroy(&ex->fwds[i]->conn_mu);
		free(ex->fwds[i]);
	}
	free(ex->fwds);
	free(ex->docker_socket);
	pthread_mutex_destroy(&ex->mu);
	free(ex->ssh.user);
	free(ex->ssh.proxy);
	free(ex->ssh.proxy_command);
	free(ex->ssh.control_dir);
	free(ex->local_dir);
	strvec_clear(&ex->ssh.keys);
	strvec_clear(&ex->ssh.configs);
	strvec_clear(&ex->local_wrap);
	if (ex->tmp_config) {
		unlink(ex->tmp_config);
		free(ex->tmp_config);
	}
	exec_init(ex, ex->kind);
}

static bool is_safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("_@%+=:,./-", c) != NULL;
}

void exec_quote_arg(struct sbuf *out, const char *arg)
{
	const char *p;
	bool safe = *arg != '\0';

	for (p = arg; *p && safe; p++) {
		safe = is_safe_char((unsigned char)*p);
	}
	/* a leading '=' or '~' can mean something to some shells: quote it */
	if (safe && *arg != '=' && *arg != '~') {
		sbuf_addstr(out, arg);
		return;
	}
	sbuf_addch(out, '\'');
	for (p = arg; *p; p++) {
		if (*p == '\'') {
			sbuf_addstr(out, "'\\''");
		} else {
			sbuf_addch(out, *p);
		}
	}
	sbuf_addch(out, '\'');
}

void exec_quote_argv(struct sbuf *out, const char *const *argv)
{
	const char *const *a;

	for (a = argv; *a; a++) {
		if (a != argv) {
			sbuf_addch(out, ' ');
		}
		exec_quote_arg(out, *a);
	}
}

struct host_parts {
	char *user;
	char *name;
	unsigned port;
};

static void host_parts_release(struct host_parts *h)
{
	free(h->user);
	free(h->name);
}

static bool valid_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_' || c == ':' || c == '%';
}

static bool valid_user_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* Splits "[user@]name[:port]" / "[user@][v6]:port" / "[user@]v6"; refuses what ssh could read as an
 * option. */
static int parse_host(const char *host, struct host_parts *h, struct err *e)
{
	struct slice s = slice_cstr(host), name;
	long at = slice_find_char(s, '@');
	size_t i;

	memset(h, 0, sizeof(*h));
	if (at >= 0) {
		struct slice u = slice_make(s.ptr, (size_t)at);
		for (i = 0; i < u.len; i++) {
			if (!valid_user_char((unsigned char)u.ptr[i])) {
				return err_set(e, "invalid user in host '%s'", host);
			}
		}
		if (!u.len || u.ptr[0] == '-') {
			return err_set(e, "invalid user in host '%s'", host);
		}
		h->user = slice_dup(u);
		s = slice_from(s, (size_t)at + 1);
	}
	name = s;
	if (s.len && s.ptr[0] == '[') {
		long close = slice_find_char(s, ']');
		if (close < 0) {
			goto bad;
		}
		name = slice_make(s.ptr + 1, (size_t)close - 1);
		s = slice_from(s, (size_t)close + 1);
		if (s.len && s.ptr[0] != ':') {
			goto bad;
		}
	} else {
		long colon = slice_find_char(s, ':');
		/* more than one colon and no brackets: a bare IPv6 address */
		if (colon >= 0 && slice_find_char(slice_from(s, (size_t)colon + 1), ':') < 0) {
			name = slice_make(s.ptr, (size_t)colon);
			s = slice_from(s, (size_t)colon);
		} else {
			s = slice_from(s, s.len);
		}
	}
	if (s.len) {
		uint64_t port;
		if (!slice_to_u64(slice_from(s, 1), 65535, &port) || port == 0) {
			return err_set(e, "invalid port in host '%s'", host);
		}
		h->port = (unsigned)port;
	}
	if (!name.len || name.ptr[0] == '-') {
		goto bad;
	}
	for (i = 0; i < name.len; i++) {
		if (!valid_host_char((unsigned char)name.ptr[i])) {
			goto bad;
		}
	}
	h->name = slice_dup(name);
	return 0;
bad:
	host_parts_release(h);
	return err_set(e,
		       "invalid host '%s': expected a host name or address, like 10.0.0.5, "
		       "web-1.example.com or deploy@10.0.0.5:2222",
		       host);
}

static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;

static int control_dir(struct exec *ex, struct err *e)
{
	struct stat st;
	char buf[64];

	if (!ex->ssh.control_dir) {
		snprintf(buf, sizeof(buf), "/tmp/berth-ssh-%u", (unsigned)getuid());
		ex->ssh.control_dir = xstrdup(buf);
	}
	if (mkdir(ex->ssh.control_dir, 0700) < 0 && errno != EEXIST) {
		return err_set(e, "cannot create '%s': %s", ex->ssh.control_dir, strerror(errno));
	}
	/* another user's directory here could hijack our connections */
	if (lstat(ex->ssh.control_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077)) {
		return err_set(e,
			       "'%s' is not a private directory of ours; remove it or set another "
			       "control directory",
			       ex->ssh.control_dir);
	}
	return 0;
}

/* Several ssh.config paths become one file that includes each, since ssh takes one -F. */
static const char *config_file(struct exec *ex, struct err *e)
{
	struct sbuf sb = SBUF_INIT;
	char path[] = "/tmp/berth-ssh-config-XXXXXX";
	const char *ret = NULL;
	size_t i;
	int fd;

	if (!ex->ssh.use_config) {
		return "/dev/null";
	}
	if (!ex->ssh.configs.nr) {
		return NULL;
	}
	if (ex->ssh.configs.nr == 1) {
		return ex->ssh.configs.v[0];
	}
	if (ex->tmp_config) {
		return ex->tmp_config;
	}
	for (i = 0; i < ex->ssh.configs.nr; i++) {
		sbuf_addstr(&sb, "Include ");
		exec_quote_arg(&sb, ex->ssh.configs.v[i]);
		sbuf_addch(&sb, '\n');
	}
	fd = mkostemp(path, O_CLOEXEC); /* no child started meanwhile keeps it */
	if (fd < 0 || write(fd, sb.buf, sb.len) != (ssize_t)sb.len) {
		err_set(e, "cannot write an ssh config: %s", strerror(errno));
		goto out;
	}
	ex->tmp_config = xstrdup(path);
	ret = ex->tmp_config;
out:
	if (fd >= 0) {
		close(fd);
	}
	sbuf_release(&sb);
	return ret;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	}
	return (h ^ 0xff) * 0x100000001b3ull;
}

/*
 * ssh's %C names a connection by host, port and user only. Settings that
 * decide how we authenticate go into the name too, or a command meant to
 * run with other keys would ride an open connection made with ours.
 */
static uint64_t settings_hash(const struct exec *ex)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < ex->ssh.keys.nr; i++) {
		h = fnv1a(h, ex->ssh.keys.v[i]);
	}
	for (i = 0; i < ex->ssh.configs.nr; i++) {
		h = fnv1a(h, ex->ssh.configs.v[i]);
	}
	h = fnv1a(h, ex->ssh.proxy ? ex->ssh.proxy : "");
	h = fnv1a(h, ex->ssh.proxy_command ? ex->ssh.proxy_command : "");
	h = fnv1a(h, ex->ssh.use_config ? "config" : "noconfig");
	h = fnv1a(h, ex->ssh.keys_only ? "only" : "any");
	h = fnv1a(h, ex->ssh.forward_agent ? "agent" : "noagent");
	return h;
}

/* The options every ssh invocation for a host shares, up to and including the host. */
static int ssh_base_argv(struct exec *ex, const struct host_parts *h, struct strvec *av,
			 struct err *e)
{
	struct err ce = ERR_INIT;
	const char *cfg = NULL;
	size_t i;
	int bad;

	/* the control directory and a generated config are made on first use, maybe by
	 * several threads at once (one per host) */
	pthread_mutex_lock(&lazy_lock);
	bad = control_dir(ex, e) < 0;
	if (!bad) {
		/* its own err: e may still hold an earlier error of the caller's */
		cfg = config_file(ex, &ce);
		bad = err_isset(&ce);
	}
	pthread_mutex_unlock(&lazy_lock);
	if (bad && err_isset(&ce)) {
		err_set(e, "%s", err_str(&ce));
	}
	err_release(&ce);
	if (bad) {
		return -1;
	}
	strvec_push(av, "ssh");
	if (cfg) {
		strvec_pushv(av, (const char *[]){"-F", cfg, NULL});
	}
	strvec_pushv(av, (const char *[]){"-o", "ControlMaster=auto", NULL});
	strvec_push(av, "-o");
	strvec_pushf(av, "ControlPath=%s/%016llx-%%C", ex->ssh.control_dir,
		     (unsigned long long)settings_hash(ex));
	strvec_push(av, "-o");
	strvec_pushf(av, "ControlPersist=%u", ex->ssh.persist ? ex->ssh.persist : DEFAULT_PERSIST);
	strvec_pushv(av, (const char *[]){"-o", "BatchMode=yes", NULL});
	strvec_push(av, "-o");
	strvec_pushf(av, "ConnectTimeout=%u",
		     ex->ssh.connect_timeout ? ex->ssh.connect_timeout : DEFAULT_CONNECT_TIMEOUT);
	strvec_pushv(av, (const char *[]){"-o", "ServerAliveInterval=15", "-o",
					  "ServerAliveCountMax=3", NULL});
	if (!ex->ssh.log_level) {
		strvec_pushv(av, (const char *[]){"-o", "LogLevel=ERROR", NULL});
	}
	strvec_pushv(av, (const char *[]){"-l",
					  h->user	 ? h->user
					  : ex->ssh.user ? ex->ssh.user
							 : "root",
					  NULL});
	if (h->port || ex->ssh.port) {
		strvec_push(av, "-p");
		strvec_pushf(av, "%u", h->port ? h->port : ex->ssh.port);
	}
	if (ex->ssh.proxy) {
		strvec_pushv(av, (const char *[]){"-J", ex->ssh.proxy, NULL});
	}
	if (ex->ssh.proxy_command) {
		strvec_push(av, "-o");
		strvec_pushf(av, "ProxyCommand=%s", ex->ssh.proxy_command);
	}
	for (i = 0; i < ex->ssh.keys.nr; i++) {
		strvec_pushv(av, (const char *[]){"-i", ex->ssh.keys.v[i], NULL});
	}
	if (ex->ssh.keys_only) {
		strvec_pushv(av, (const char *[]){"-o", "IdentitiesOnly=yes", NULL});
	}
	if (ex->ssh.forward_agent) {
		strvec_pushv(av, (const char *[]){"-o", "ForwardAgent=yes", NULL});
	}
	return 0;
}

int exec_prepare(struct exec *ex, const char *host, const char *const *argv, struct run_cmd *cmd,
		 struct err *e)
{
	struct host_parts h;
	struct sbuf line = SBUF_INIT;
	int ret = -1;

	strvec_clear(&cmd->argv);
	if (!argv[0]) {
		return err_set(e, "no command to run on '%s'", host);
	}
	if (ex->kind == EXEC_LOCAL) {
		for (size_t i = 0; i < ex->local_wrap.nr; i++) {
			strvec_push(&cmd->argv, ex->local_wrap.v[i]);
		}
		strvec_pushv(&cmd->argv, argv);
		if (ex->local_dir) {
			cmd->dir = ex->local_dir;
		}
		return 0;
	}
	if (parse_host(host, &h, e) < 0) {
		return -1;
	}
	if (ssh_base_argv(ex, &h, &cmd->argv, e) < 0) {
		goto out;
	}
	exec_quote_argv(&line, argv);
	strvec_pushv(&cmd->argv,
		     (const char *[]){ex->tty ? "-t" : "-T", "--", h.name, line.buf, NULL});
	ret = 0;
out:
	host_parts_release(&h);
	sbuf_release(&line);
	return ret;
}

/* Where distributions put OpenSSH's sftp-server. */
static const char *const sftp_servers[] = {
    "/usr/lib/openssh/sftp-server",	/* Debian, Ubuntu */
    "/usr/libexec/openssh/sftp-server", /* Fedora, RHEL */
    "/usr/libexec/sftp-server",		/* macOS, the BSDs */
    "/usr/lib/ssh/sftp-server",		/* Arch, Alpine */
    NULL,
};

static bool subsystem_name_ok(const char *name)
{
	const char *p;

	if (!*name || *name == '-' || strlen(name) > 64) {
		return false;
	}
	for (p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@')) {
			return false;
		}
	}
	return true;
}

int exec_prepare_subsystem(struct exec *ex, const char *host, const char *name, struct run_cmd *cmd,
			   struct err *e)
{
	struct host_parts h;
	size_t i;
	int ret = -1;

	strvec_clear(&cmd->argv);
	if (!subsystem_name_ok(name)) {
		return err_set(e, "invalid ssh subsystem name '%s'", name);
	}
	if (ex->kind == EXEC_LOCAL) {
		if (strcmp(name, "sftp")) {
			return err_set(e, "no local subsystem '%s': only sftp", name);
		}
		for (i = 0; sftp_servers[i]; i++) {
			if (access(sftp_servers[i], X_OK) == 0) {
				strvec_push(&cmd->argv, sftp_servers[i]);
				cmd->dir = ex->local_dir;
				return 0;
			}
		}
		return err_set(e,
			       "no sftp-server on this machine (looked in /usr/lib/openssh, "
			       "/usr/libexec/openssh, /usr/libexec and /usr/lib/ssh): install "
			       "OpenSSH's server package (openssh-server / openssh-sftp-server)");
	}
	if (parse_host(host, &h, e) < 0) {
		return -1;
	}
	if (ssh_base_argv(ex, &h, &cmd->argv, e) < 0) {
		goto out;
	}
	strvec_pushv(&cmd->argv, (const char *[]){"-o", "ForwardX11=no", "-o", "ForwardAgent=no",
						  "-o", "ClearAllForwardings=yes", "-o",
						  "PermitLocalCommand=no", NULL});
	strvec_pushv(&cmd->argv, (const char *[]){"-T", "-s", "--", h.name, name, NULL});
	ret = 0;
out:
	host_parts_release(&h);
	return ret;
}

int exec_run_hosts(struct exec *ex, const char *const *hosts, size_t nhosts,
		   const char *const *argv, const struct run_cmd *tmpl, size_t max_parallel,
		   struct run_cmd *cmds)
{
	struct run_cmd **ptrs = xcalloc(nhosts ? nhosts : 1, sizeof(*ptrs));
	struct err e = ERR_INIT;
	size_t i, nrun = 0;
	int ret = 0;

	for (i = 0; i < nhosts; i++) {
		run_cmd_init(&cmds[i]);
		cmds[i].in_mem = tmpl->in_mem;
		cmds[i].in_file = tmpl->in_file;
		cmds[i].out = tmpl->out;
		cmds[i].err = tmpl->err;
		cmds[i].prefix = tmpl->prefix;
		cmds[i].on_line = tmpl->on_line;
		cmds[i].on_line_data = tmpl->on_line_data;
		cmds[i].timeout_ms = tmpl->timeout_ms;
		cmds[i].flags = tmpl->flags;
		if (exec_prepare(ex, hosts[i], argv, &cmds[i], &e) < 0) {
			/* a host we cannot even name fails on its own; the others still run */
			cmds[i].status = 127;
			sbuf_addf(&cmds[i].errbuf, "%s\n", err_str(&e));
			ret = -1;
			continue;
		}
		ptrs[nrun++] = &cmds[i];
	}
	if (run_all(ptrs, nrun, max_parallel) < 0) {
		ret = -1;
	}
	err_release(&e);
	free(ptrs);
	return ret;
}

bool exec_unreachable(const struct exec *ex, const struct run_cmd *cmd)
{
	return ex->kind == EXEC_SSH && cmd->started && !cmd->timed_out && cmd->status == 255;
}

/* What to check, for the errors OpenSSH prints most. */
static const char *ssh_advice(struct slice msg)
{
	static const struct {
		const char *needle, *advice;
	} table[] = {
	    {"Connection refused", "is sshd running on the host, and on this port (ssh.port)?"},
	    {"Connection timed out",
	     "is the host up, and does a firewall let port 22 (or ssh.port) through?"},
	    {"timed out", "is the host up, and does a firewall let port 22 (or ssh.port) through?"},
	    {"No route to host", "is the address right, and is the host up?"},
	    {"Could not resolve hostname", "is the host name right? it does not resolve"},
	    {"Permission denied", "is your key (ssh.keys, or the agent's) in the host's "
				  "authorized_keys for this user (ssh.user)?"},
	    {"Host key verification failed",
	     "the host's key is not in known_hosts, or changed: check it, then add it with "
	     "ssh-keyscan or one interactive ssh"},
	    {"REMOTE HOST IDENTIFICATION HAS CHANGED",
	     "the host's key changed: if that is expected, remove the old one with ssh-keygen -R "
	     "HOST"},
	    {"Connection closed",
	     "sshd closed the connection: check the host's sshd logs (MaxStartups, AllowUsers)"},
	    {"Too many authentication failures",
	     "too many keys were offered: set ssh.keys_only with ssh.keys"},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (slice_find(msg, table[i].needle) >= 0) {
			return table[i].advice;
		}
	}
	return "try 'ssh -v' to the host to see more";
}

void exec_explain(const struct exec *ex, const char *host, const struct run_cmd *cmd, struct err *e)
{
	struct sbuf how = SBUF_INIT;
	struct slice tail = run_tail_lines(&cmd->errbuf, 3);

	if (exec_unreachable(ex, cmd)) {
		struct slice last = slice_trim(run_tail_lines(&cmd->errbuf, 1));
		err_set(e, "host '%s': cannot connect over ssh: %.*s; %s", host,
			(int)(last.len ? last.len : 14), last.len ? last.ptr : "no ssh message",
			ssh_advice(tail));
		goto out;
	}
	run_describe_status(cmd, &how);
	if (tail.len && cmd->started) {
		err_set(e, "host '%s': '%s' %s:\n%.*s", host,
			cmd->argv.nr ? cmd->argv.v[cmd->argv.nr - 1] : "", how.buf, (int)tail.len,
			tail.ptr);
	} else {
		err_set(e, "host '%s': %s %s", host, cmd->argv.nr ? cmd->argv.v[0] : "command",
			how.buf);
	}
out:
	sbuf_release(&how);
}

int exec_script_prepare(struct exec *ex, const char *host, const struct exec_script *s,
			struct run_cmd *cmd, struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	int ret;

	strvec_pushv(&argv,
		     (const char *[]){"sh", "-c", s->text, s->name ? s->name : "berth", NULL});
	if (s->args) {
		strvec_pushv(&argv, s->args);
	}
	ret = (s->flags & EXEC_SCRIPT_DOCKER ? exec_prepare_docker : exec_prepare)(
	    ex, host, (const char *const *)argv.v, cmd, e);
	strvec_clear(&argv);
	if (ret < 0) {
		return -1;
	}
	if (s->in.ptr) {
		cmd->in_mem = s->in;
	}
	/* a follower streams only: capturing it would stop it at capture_max */
	cmd->out = cmd->out ? cmd->out : RUN_IO_CAPTURE;
	cmd->err = RUN_IO_CAPTURE;
	cmd->timeout_ms = s->timeout_ms == EXEC_SCRIPT_NO_TIMEOUT ? 0
			  : s->timeout_ms			  ? s->timeout_ms
								  : EXEC_SCRIPT_TIMEOUT_MS;
	cmd->capture_max = s->capture_max ? s->capture_max : EXEC_SCRIPT_CAPTURE_MAX;
	return 0;
}

int exec_script_result(const struct exec *ex, const char *host, const struct exec_script *s,
		       const struct run_cmd *cmd, struct err *e)
{
	struct sbuf how = SBUF_INIT;
	struct slice tail;

	if (!cmd->started || exec_unreachable(ex, cmd)) {
		exec_explain(ex, host, cmd, e);
		return -1;
	}
	if (!cmd->timed_out && cmd->status == 0) {
		return 0;
	}
	if ((s->flags & EXEC_SCRIPT_STATUS) && !cmd->timed_out && cmd->status < 128) {
		return cmd->status;
	}
	/* the script's text would say nothing to a user: what it did and what it said do */
	run_describe_status(cmd, &how);
	tail = slice_trim(run_tail_lines(&cmd->errbuf, EXEC_SCRIPT_TAIL_LINES));
	err_set(e, "host '%s': %s%s%s%s%.*s", host, s->what ? s->what : "", s->what ? ": " : "",
		how.buf,
		!tail.len			   ? ""
		: memchr(tail.ptr, '\n', tail.len) ? ":\n"
						   : ": ",
		(int)tail.len, tail.ptr);
	sbuf_release(&how);
	return -1;
}

int exec_script(struct exec *ex, const char *host, const struct exec_script *s, struct run_cmd *cmd,
		struct err *e)
{
	if (exec_script_prepare(ex, host, s, cmd, e) < 0) {
		return -1;
	}
	run_one(cmd);
	return exec_script_result(ex, host, s, cmd, e);
}

void exec_script_hosts(struct exec *ex, const char *const *hosts, size_t nhosts,
		       const struct exec_script *s, size_t max_parallel, struct run_cmd *cmds)
{
	struct run_cmd **ptrs = xcalloc(nhosts ? nhosts : 1, sizeof(*ptrs));
	struct err e = ERR_INIT;
	size_t i, nrun = 0;

	for (i = 0; i < nhosts; i++) {
		run_cmd_init(&cmds[i]);
		if (exec_script_prepare(ex, hosts[i], s, &cmds[i], &e) < 0) {
			/* a host we cannot even name fails on its own; the others still run */
			cmds[i].status = 127;
			sbuf_addf(&cmds[i].errbuf, "%s\n", err_str(&e));
			err_release(&e);
			continue;
		}
		ptrs[nrun++] = &cmds[i];
	}
	run_all(ptrs, nrun, max_parallel);
	err_release(&e);
	free(ptrs);
}

/* Whether something listens on the unix socket path: 1 yes, 0 nothing (a stale file or none). */
static int sock_listening(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return 0;
	}
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Runs one ssh of the forward's set-up; 0 when it exited 0, else -1 with its last words in why. */
static int forward_step(struct exec *ex, const struct host_parts *h, const char *const *opts,
			struct sbuf *why)
{
	struct run_cmd c = RUN_CMD_INIT;
	int ret = -1;

	if (ssh_base_argv(ex, h, &c.argv, NULL) < 0) {
		sbuf_addstr(why, "cannot prepare ssh");
		goto out;
	}
	strvec_pushv(&c.argv, opts);
	strvec_pushv(&c.argv, (const char *[]){"--", h->name, NULL});
	c.out = RUN_IO_NULL;
	c.err = RUN_IO_CAPTURE;
	c.capture_max = 1 << 16;
	c.timeout_ms =
	    1000u *
	    ((ex->ssh.connect_timeout ? ex->ssh.connect_timeout : DEFAULT_CONNECT_TIMEOUT) + 5);
	ret = run_one(&c);
	if (ret < 0) {
		struct slice last = slice_trim(run_tail_lines(&c.errbuf, 1));

		sbuf_reset(why);
		if (last.len) {
			sbuf_add(why, last.ptr, last.len);
		} else {
			run_describe_status(&c, why);
		}
	}
out:
	run_cmd_release(&c);
	return ret;
}

/* The host's entry in ex's list (made when missing); ex->mu must not be held. */
static struct exec_docker_fwd *host_entry(struct exec *ex, const char *host)
{
	struct exec_docker_fwd *f;
	size_t i;

	pthread_mutex_lock(&ex->mu);
	for (i = 0; i < ex->nfwds && strcmp(ex->fwds[i]->host, host); i++) {
	}
	if (i < ex->nfwds) {
		f = ex->fwds[i];
	} else {
		ex->fwds = xrealloc(ex->fwds, (ex->nfwds + 1) * sizeof(*ex->fwds));
		f = ex->fwds[ex->nfwds++] = xcalloc(1, sizeof(*f));
		f->host = xstrdup(host);
		pthread_mutex_init(&f->mu, NULL);
		pthread_mutex_init(&f->conn_mu, NULL);
	}
	pthread_mutex_unlock(&ex->mu);
	return f;
}

int exec_connect(struct exec *ex, const char *host, struct err *e)
{
	struct exec_docker_fwd *f;
	struct host_parts h;
	struct sbuf why = SBUF_INIT;
	int ret = -1;

	if (ex->kind != EXEC_SSH) {
		return 0;
	}
	if (parse_host(host, &h, e) < 0) {
		return -1;
	}
	f = host_entry(ex, host);
	/*
	 * One at a time per host: two ssh started at once with no connection
	 * open would both try to be its master, and the one that loses runs on
	 * unshared, which for a command-less one means for ever.
	 */
	pthread_mutex_lock(&f->conn_mu);
	if (forward_step(ex, &h, (const char *[]){"-O", "check", NULL}, &why) == 0 ||
	    forward_step(ex, &h, (const char *[]){"-f", "-N", NULL}, &why) == 0) {
		ret = 0;
	} else {
		err_set(e, "host '%s': cannot connect over ssh: %s", host,
			why.len ? why.buf : "no ssh message");
	}
	pthread_mutex_unlock(&f->conn_mu);
	host_parts_release(&h);
	sbuf_release(&why);
	return ret;
}

int exec_forward(struct exec *ex, const char *host, const char *remote_path, struct sbuf *local,
		 struct err *e)
{
	struct host_parts h;
	struct sbuf spec = SBUF_INIT, why = SBUF_INIT, port = SBUF_INIT;
	uint64_t id;
	int ret = -1, attempt;

	sbuf_reset(local);
	if (ex->kind == EXEC_LOCAL) {
		sbuf_addstr(local, remote_path);
		return 0;
	}
	if (remote_path[0] != '/') {
		return err_set(e, "cannot forward '%s': not an absolute path", remote_path);
	}
	if (parse_host(host, &h, e) < 0) {
		return -1;
	}
	if (control_dir(ex, e) < 0) {
		goto out;
	}
	/* one local socket per connection and far end */
	sbuf_addf(&port, "%u", h.port ? h.port : ex->ssh.port);
	id = fnv1a(settings_hash(ex), h.user ? h.user : ex->ssh.user ? ex->ssh.user : "root");
	id = fnv1a(fnv1a(fnv1a(id, h.name), port.buf), remote_path);
	sbuf_addf(local, "%s/%016llx.fwd", ex->ssh.control_dir, (unsigned long long)id);
	if (local->len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		err_set(e, "the control directory's path '%s' is too long for a socket",
			ex->ssh.control_dir);
		goto out;
	}
	if (sock_listening(local->buf)) {
		ret = 0;
		goto out;
	}
	/* a socket left by a connection that is gone */
	if (unlink(local->buf) < 0 && errno != ENOENT) {
		err_set(e, "cannot remove '%s': %s", local->buf, strerror(errno));
		goto out;
	}
	sbuf_addf(&spec, "%s:%s", local->buf, remote_path);
	for (attempt = 0; attempt < 2 && ret < 0; attempt++) {
		/* onto the connection, opened first when there is none */
		if (exec_connect(ex, host, e) < 0) {
			goto out;
		}
		if (forward_step(ex, &h, (const char *[]){"-O", "forward", "-L", spec.buf, NULL},
				 &why) == 0) {
			ret = sock_listening(local->buf) ? 0 : -1;
			if (ret < 0) {
				sbuf_reset(&why);
				sbuf_addstr(&why, "nothing listens on the local end");
			}
		}
	}
	if (ret < 0) {
		err_set(e, "host '%s': cannot forward %s over ssh: %s", host, remote_path,
			why.len ? why.buf : "no ssh message");
	}
out:
	host_parts_release(&h);
	sbuf_release(&spec);
	sbuf_release(&why);
	sbuf_release(&port);
	if (ret < 0) {
		sbuf_reset(local);
	}
	return ret;
}

/* Whether a docker CLI is on PATH. */
static bool docker_on_path(void)
{
	const char *path = getenv("PATH");
	struct sbuf sb = SBUF_INIT;
	bool found = false;

	while (path && *path && !found) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);

		sbuf_reset(&sb);
		sbuf_addf(&sb, "%.*s/docker", (int)n, n ? path : ".");
		found = access(sb.buf, X_OK) == 0;
		path = colon ? colon + 1 : NULL;
	}
	sbuf_release(&sb);
	return found;
}

/* Whether dockerd answers GET /_ping on the unix socket path within timeout_ms. */
static bool docker_ping(const char *path, int timeout_ms)
{
	static const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	unsigned long long end = run_now_ms() + (unsigned)timeout_ms;
	char buf[64];
	size_t got = 0;
	bool ok = false;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return false;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		goto out;
	}
	/* "HTTP/1.x 200 " is enough */
	while (got < 13) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		unsigned long long now = run_now_ms();
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0) {
			goto out;
		}
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0) {
			goto out;
		}
		got += (size_t)n;
	}
	ok = !strncmp(buf, "HTTP/1.", 7) && !strncmp(buf + 8, " 200 ", 5);
out:
	close(fd);
	return ok;
}

/* The forward of host's Docker socket: "unix://..." or NULL (none: run on the host). */
static const char *docker_fwd(struct exec *ex, const char *host)
{
	struct exec_docker_fwd *f;

	pthread_mutex_lock(&ex->mu);
	if (ex->docker_cli < 0) {
		ex->docker_cli = docker_on_path();
		if (!ex->docker_cli) {
			log_debug("no docker CLI here: Docker commands run on the hosts");
		}
	}
	pthread_mutex_unlock(&ex->mu);
	if (!ex->docker_cli) {
		return NULL;
	}
	f = host_entry(ex, host);
	/* one thread makes a host's forward (one ssh handshake); others wait for it */
	pthread_mutex_lock(&f->mu);
	if (!f->state) {
		struct sbuf local = SBUF_INIT, dh = SBUF_INIT;
		struct err e = ERR_INIT;
		const char *remote = ex->docker_socket ? ex->docker_socket : "/var/run/docker.sock";

		f->state = -1;
		if (exec_forward(ex, host, remote, &local, &e) < 0) {
			log_debug("%s; Docker commands run on the host", err_str(&e));
		} else if (!docker_ping(local.buf, 10000)) {
			log_debug("host '%s': dockerd does not answer on %s through ssh; Docker "
				  "commands run on the host",
				  host, remote);
		} else {
			sbuf_addf(&dh, "unix://%s", local.buf);
			f->docker_host = sbuf_detach(&dh, NULL);
			f->state = 1;
		}
		sbuf_release(&local);
		err_release(&e);
	}
	pthread_mutex_unlock(&f->mu);
	return f->state > 0 ? f->docker_host : NULL;
}

bool exec_docker_here(struct exec *ex, const char *host)
{
	return ex->kind == EXEC_SSH && ex->docker_here && docker_fwd(ex, host);
}

int exec_prepare_docker(struct exec *ex, const char *host, const char *const *argv,
			struct run_cmd *cmd, struct err *e)
{
	const char *dh;

	if (ex->kind != EXEC_SSH || !ex->docker_here || !argv[0] || !(dh = docker_fwd(ex, host))) {
		return exec_prepare(ex, host, argv, cmd, e);
	}
	strvec_clear(&cmd->argv);
	strvec_pushv(&cmd->argv, argv);
	/* the forward, whatever context or daemon this machine's docker is set to */
	strvec_pushf(&cmd->env, "DOCKER_HOST=%s", dh);
	strvec_pushv(&cmd->env, (const char *[]){"DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
						 "DOCKER_CERT_PATH", NULL});
	return 0;
}

void exec_disconnect(struct exec *ex, const char *host)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct host_parts h;

	if (ex->kind != EXEC_SSH || parse_host(host, &h, NULL) < 0) {
		return;
	}
	if (ssh_base_argv(ex, &h, &c.argv, NULL) == 0) {
		strvec_pushv(&c.argv, (const char *[]){"-O", "exit", "--", h.name, NULL});
		c.out = RUN_IO_NULL;
		c.err = RUN_IO_NULL;
		c.timeout_ms = 5000;
		run_one(&c);
	}
	host_parts_release(&h);
	run_cmd_release(&c);
}
