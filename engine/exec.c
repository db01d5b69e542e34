#include "exec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/banned.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

#define DEFAULT_CONNECT_TIMEOUT 10
#define DEFAULT_PERSIST		60

void exec_init(struct exec *ex, enum exec_kind kind)
{
	memset(ex, 0, sizeof(*ex));
	ex->kind = kind;
	ex->ssh.use_config = 1;
	strvec_init(&ex->ssh.keys);
	strvec_init(&ex->ssh.configs);
}

void exec_release(struct exec *ex)
{
	free(ex->ssh.user);
	free(ex->ssh.proxy);
	free(ex->ssh.proxy_command);
	free(ex->ssh.control_dir);
	strvec_clear(&ex->ssh.keys);
	strvec_clear(&ex->ssh.configs);
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
	fd = mkstemp(path);
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
	return h;
}

/* The options every ssh invocation for a host shares, up to and including the host. */
static int ssh_base_argv(struct exec *ex, const struct host_parts *h, struct strvec *av,
			 struct err *e)
{
	const char *cfg;
	size_t i;

	if (control_dir(ex, e) < 0) {
		return -1;
	}
	cfg = config_file(ex, e);
	if (err_isset(e)) {
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
		strvec_pushv(&cmd->argv, argv);
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
