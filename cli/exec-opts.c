/* The flags that say how to reach servers, shared by the commands that do. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/exec.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char *ssh_user, *ssh_proxy, *ssh_config;
static unsigned ssh_port;
static struct strvec ssh_keys = STRVEC_INIT;
static bool local;

const struct opt cli_exec_opts[] = {
    OPT_STRING(0, "ssh-user", &ssh_user, "USER", "ssh user (default root)"),
    OPT_UINT(0, "ssh-port", &ssh_port, "PORT", "ssh port"),
    OPT_LIST(0, "ssh-key", &ssh_keys, "FILE", "identity file (repeatable; only these keys)"),
    OPT_STRING(0, "ssh-proxy", &ssh_proxy, "HOST", "jump host, [user@]host[:port]"),
    OPT_STRING(0, "ssh-config", &ssh_config, "FILE",
	       "ssh config file instead of ~/.ssh/config ('false': none)"),
    OPT_BOOL(0, "local", &local, "act on this machine, without ssh"),
    OPT_END(),
};

int cli_exec_setup(struct exec *ex)
{
	exec_init(ex, local ? EXEC_LOCAL : EXEC_SSH);
	if (ssh_user) {
		ex->ssh.user = xstrdup(ssh_user);
	}
	ex->ssh.port = ssh_port;
	if (ssh_proxy) {
		ex->ssh.proxy = xstrdup(ssh_proxy);
	}
	strvec_pushv(&ex->ssh.keys, (const char *const *)ssh_keys.v);
	ex->ssh.keys_only = ssh_keys.nr > 0;
	if (ssh_config && !strcmp(ssh_config, "false")) {
		ex->ssh.use_config = 0;
	} else if (ssh_config) {
		strvec_push(&ex->ssh.configs, ssh_config);
	}
	ex->ssh.log_level = cli_g.verbose > 1;
	if (local && cli_g.hosts.nr) {
		log_error("--local and -h exclude each other: --local acts on this machine");
		return -1;
	}
	if (local) {
		strvec_push(&cli_g.hosts, "local");
	}
	if (!cli_g.hosts.nr) {
		log_error(
		    "no hosts: give them with -h HOST[,HOST...], or --local for this machine");
		return -1;
	}
	return 0;
}
