/* The flags that say how to reach servers, shared by the commands that do. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The --ssh-* flags given, over what ex has. */
static void apply_flags(struct exec *ex)
{
	if (ssh_user) {
		free(ex->ssh.user);
		ex->ssh.user = xstrdup(ssh_user);
	}
	if (ssh_port) {
		ex->ssh.port = ssh_port;
	}
	if (ssh_proxy) {
		free(ex->ssh.proxy);
		ex->ssh.proxy = xstrdup(ssh_proxy);
	}
	if (ssh_keys.nr) {
		strvec_clear(&ex->ssh.keys);
		strvec_pushv(&ex->ssh.keys, (const char *const *)ssh_keys.v);
		ex->ssh.keys_only = true;
	}
	if (ssh_config && !strcmp(ssh_config, "false")) {
		ex->ssh.use_config = 0;
	} else if (ssh_config) {
		strvec_clear(&ex->ssh.configs);
		strvec_push(&ex->ssh.configs, ssh_config);
	}
	if (cli_g.verbose > 1) {
		ex->ssh.log_level = 1;
	}
}

int cli_exec_setup(struct exec *ex)
{
	exec_init(ex, local ? EXEC_LOCAL : EXEC_SSH);
	apply_flags(ex);
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

int cli_hosts_setup(struct exec *ex, struct config *cfg, struct strvec *hosts)
{
	const char *file = cli_g.config_file ? cli_g.config_file : "config/deploy.yml";
	struct config_opts co = {0};
	struct err e = ERR_INIT;
	int ret = -1;

	exec_release(ex);
	if (local || (!cli_g.config_file && access(file, F_OK) != 0)) {
		if (cli_exec_setup(ex) < 0) {
			goto out;
		}
		/* -p without a config: the first host given is the primary one */
		for (size_t i = 0; i < cli_g.hosts.nr && (!cli_g.primary || !i); i++) {
			strvec_push(hosts, cli_g.hosts.v[i]);
		}
		ret = 0;
		goto out;
	}
	exec_init(ex, EXEC_SSH);
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	if (config_load(cfg, &co, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(cfg, ex);
	if (cli_config_loaded(cfg, ex) < 0) {
		goto out;
	}
	apply_flags(ex);
	if (!config_role_hosts(cfg, &cli_g.roles, &cli_g.hosts, hosts)) {
		log_error("no hosts of '%s' match -r/-h", file);
		goto out;
	}
	ret = 0;
out:
	err_release(&e);
	return ret;
}
