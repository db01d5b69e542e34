/*
 * berthd — berth's server daemon: push to deploy, Dokku's SSH commands, and
 * (later) the panel, on the release engine that `berth deploy` uses.
 *
 *	berthd serve [--http ADDR:PORT|off] [--sample-interval SECONDS]
 *	             [--doctor-interval SECONDS|off]
 *					the long-running daemon (the container's main
 *					process), with the panel and API on HTTP (daemon/api.h;
 *					default 0.0.0.0:3000), the sampler of the charts
 *					(every 10 s by default) and doctor's check of the host
 *					(every 10 min by default)
 *	berthd ssh			the forced command of every key: the key's name in
 *					BERTHD_KEY, the command in SSH_ORIGINAL_COMMAND
 *	berthd hook pre-receive		run by git inside an app's repository
 *	berthd hook upload APP ...	the build of a CapRover upload (daemon/capdeploy.h),
 *					started by berthd serve
 *	berthd hook sampler [--interval SECONDS]
 *					the charts' sampler (daemon/sampler.h), started by
 *					berthd serve
 *	berthd hook job ID		a change of the JSON API (daemon/apiapps.h), started
 *					by berthd serve
 *	berthd hook doctor [--interval SECONDS | --once]
 *					doctor's check of the host into STATE/doctor.json
 *					(daemon/apiserver.h), started by berthd serve
 *	berthd hook panel-route		routes berth.ROOT to berthd again (the root domain
 *					changed in the panel), started by berthd serve
 *	berthd CMD ARGS...		a command for root on the server: every right
 *
 * One table of the commands a client may run (`berthd help` lists it), each
 * with the app and the right it needs (daemon/berthd.h); the entry points
 * above are not in it, so no key can reach them.
 */
#include <errno.h>
#include <spawn.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/apiapps.h"
#include "daemon/apiserver.h"
#include "daemon/berthd.h"
#include "daemon/capdeploy.h"
#include "daemon/http.h"
#include "daemon/reaper.h"
#include "daemon/sampler.h"
#include "daemon/sshcmd.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#ifndef BERTH_VERSION
#error "BERTH_VERSION comes from the file VERSION, through the Makefile"
#endif

static int cmd_version(struct bd *bd, int argc, const char **argv);
static int cmd_help(struct bd *bd, int argc, const char **argv);

static const struct bd_cmd commands[] = {
    {"apps:create", cmd_apps_create, BD_NEW_APP, "apps:create APP: create an app"},
    {"apps:destroy", cmd_apps_destroy, BD_APP | BD_DEPLOY,
     "apps:destroy APP [--force]: destroy an app (asks for its name without --force)"},
    {"apps:exists", cmd_apps_exists, BD_APP | BD_READ,
     "apps:exists APP: exit 0 when the app exists, 20 when not"},
    {"apps:info", cmd_apps_report, BD_APP | BD_READ, "apps:info APP: as apps:report"},
    {"apps:list", cmd_apps_list, 0, "apps:list: the apps this key may read"},
    {"apps:rename", cmd_apps_rename, BD_APP | BD_DEPLOY,
     "apps:rename OLD NEW: rename an app not deployed yet"},
    {"apps:report", cmd_apps_report, BD_APP | BD_READ, "apps:report APP: about an app"},
    {"builder-dockerfile:set", cmd_builder_set, BD_APP | BD_DEPLOY,
     "builder-dockerfile:set APP dockerfile-path [PATH]: as builder:set"},
    {"builder:set", cmd_builder_set, BD_APP | BD_DEPLOY,
     "builder:set APP dockerfile-path [PATH]: the Dockerfile a push builds"},
    {"certs:add", cmd_certs_add, BD_APP | BD_DEPLOY,
     "certs:add APP < tar: serve the app over HTTPS with the certificate (*.crt or *.pem) and "
     "key (*.key) of a tar on stdin"},
    {"certs:remove", cmd_certs_remove, BD_APP | BD_DEPLOY,
     "certs:remove APP: drop the app's certificate (plain HTTP again)"},
    {"certs:report", cmd_certs_report, BD_APP | BD_READ,
     "certs:report APP [--format json]: the app's certificate (never its key)"},
    {"certs:update", cmd_certs_add, BD_APP | BD_DEPLOY, "certs:update APP < tar: as certs:add"},
    {"config", cmd_config_show, BD_APP | BD_READ, "config APP: as config:show"},
    {"config:export", cmd_config_export, BD_APP | BD_READ,
     "config:export [--format F] APP: the config vars (F: exports, envfile, docker-args, "
     "shell, json)"},
    {"config:get", cmd_config_get, BD_APP | BD_READ, "config:get APP KEY: one value"},
    {"config:keys", cmd_config_keys, BD_APP | BD_READ, "config:keys APP: the names alone"},
    {"config:set", cmd_config_set, BD_APP | BD_DEPLOY,
     "config:set [--encoded] [--no-restart] APP KEY=VALUE...: set config vars, deploy again"},
    {"config:show", cmd_config_show, BD_APP | BD_READ, "config:show APP: the config vars"},
    {"config:unset", cmd_config_unset, BD_APP | BD_DEPLOY,
     "config:unset [--no-restart] APP KEY...: unset config vars, deploy again"},
    {"domains:add", cmd_domains_add, BD_APP | BD_DEPLOY,
     "domains:add APP DOMAIN...: route these domains to the app"},
    {"domains:clear", cmd_domains_clear, BD_APP | BD_DEPLOY,
     "domains:clear APP: no domains of its own (the global one only)"},
    {"domains:remove", cmd_domains_remove, BD_APP | BD_DEPLOY,
     "domains:remove APP DOMAIN...: stop routing these domains"},
    {"domains:report", cmd_domains_report, BD_APP | BD_READ,
     "domains:report APP: the app's domains"},
    {"domains:set", cmd_domains_set, BD_APP | BD_DEPLOY,
     "domains:set APP DOMAIN...: the app's domains, all at once"},
    {"doctor", cmd_doctor, BD_ADMIN,
     "doctor [--format json] [--min-free-disk PCT]: berth doctor's checks of this host (admin)"},
    {"domains:set-global", cmd_domains_set_global, BD_ADMIN,
     "domains:set-global DOMAIN: apps without domains are APP.DOMAIN"},
    {"events", cmd_events, 0, "events [-t] [APP]: what was done (-t: follow)"},
    {"git:from-image", cmd_git_from_image, BD_APP | BD_DEPLOY,
     "git:from-image APP IMAGE: deploy an image instead of a push"},
    {"git:set", cmd_git_set, BD_APP | BD_DEPLOY,
     "git:set APP deploy-branch [BRANCH]: the branch a push deploys"},
    {"git:sync", cmd_git_sync, BD_NEW_APP,
     "git:sync [--build|--build-if-changes] APP REPOSITORY [GIT_REF]: fetch a branch, tag or "
     "commit of an https/http/git URL into the app's repository (--build: and deploy it)"},
    {"help", cmd_help, 0, "help: the commands"},
    {"letsencrypt:cron-job", cmd_letsencrypt_cron_job, 0,
     "letsencrypt:cron-job: none is needed (berth-proxy renews by itself)"},
    {"letsencrypt:disable", cmd_letsencrypt_disable, BD_APP | BD_DEPLOY,
     "letsencrypt:disable APP: no ACME certificate (certs:add's, or plain HTTP)"},
    {"letsencrypt:enable", cmd_letsencrypt_enable, BD_APP | BD_DEPLOY,
     "letsencrypt:enable APP: HTTPS with berth-proxy's ACME certificate (replaces certs:add's)"},
    {"letsencrypt:list", cmd_letsencrypt_list, 0,
     "letsencrypt:list: the apps with letsencrypt and their certificates"},
    {"letsencrypt:report", cmd_letsencrypt_report, BD_APP | BD_READ,
     "letsencrypt:report APP [--format json]: letsencrypt of the app, berth-proxy's ACME account"},
    {"letsencrypt:set", cmd_letsencrypt_set, BD_ADMIN,
     LETSENCRYPT_SET_USAGE ": berth-proxy's ACME account email, or server (production, "
			   "staging or a URL), for the whole host; no VALUE unsets (admin)"},
    {"logs", cmd_logs, BD_APP | BD_READ,
     "logs APP [-n LINES] [-t] [-p TYPE]: the output of the app's containers (-t: follow)"},
    {"metrics:report", cmd_metrics_report, BD_APP | BD_READ,
     "metrics:report APP [--format json]: the app's requests, errors and latency as this "
     "host's berth-proxy counted them"},
    {"postgres:backup", cmd_datastore_backup, BD_ADMIN,
     "postgres:backup NAME: a backup of the server, verified by restoring it"},
    {"postgres:backup-list", cmd_datastore_backup_list, BD_ADMIN,
     "postgres:backup-list NAME [--format json]: the backups, whether each verified"},
    {"postgres:backup-restore", cmd_datastore_backup_restore, BD_ADMIN,
     "postgres:backup-restore NAME SNAPSHOT [--force]: load a verified backup into the server"},
    {"postgres:backup-verify", cmd_datastore_backup_verify, BD_ADMIN,
     "postgres:backup-verify NAME [SNAPSHOT]: restore a backup (the newest) into a scratch server, "
     "check it"},
    {"postgres:create", cmd_datastore_create, BD_ADMIN,
     "postgres:create NAME [--image IMAGE]: a Postgres server for apps (image: postgres:16)"},
    {"postgres:destroy", cmd_datastore_destroy, BD_ADMIN,
     "postgres:destroy NAME [--force]: remove an unlinked server and its data"},
    {"postgres:export", cmd_datastore_export, BD_ADMIN,
     "postgres:export NAME: the database as pg_dump -Fc, on stdout"},
    {"postgres:import", cmd_datastore_import, BD_ADMIN,
     "postgres:import NAME: restore a pg_dump -Fc read from stdin"},
    {"postgres:info", cmd_datastore_info, BD_ADMIN,
     "postgres:info NAME [--dsn]: about a server (--dsn: its URL, password included)"},
    {"postgres:link", cmd_datastore_link, 0,
     "postgres:link NAME APP: set the app's DATABASE_URL, deploy again"},
    {"postgres:list", cmd_datastore_list, BD_ADMIN, "postgres:list: the Postgres servers"},
    {"postgres:unlink", cmd_datastore_unlink, 0,
     "postgres:unlink NAME APP: unset the app's DATABASE_URL, deploy again"},
    {"redis:backup", cmd_datastore_backup, BD_ADMIN,
     "redis:backup NAME: a backup of the server, verified by restoring it"},
    {"redis:backup-list", cmd_datastore_backup_list, BD_ADMIN,
     "redis:backup-list NAME [--format json]: the backups, whether each verified"},
    {"redis:backup-restore", cmd_datastore_backup_restore, BD_ADMIN,
     "redis:backup-restore NAME SNAPSHOT [--force]: load a verified backup into the server"},
    {"redis:backup-verify", cmd_datastore_backup_verify, BD_ADMIN,
     "redis:backup-verify NAME [SNAPSHOT]: restore a backup (the newest) into a scratch server, "
     "check it"},
    {"redis:create", cmd_datastore_create, BD_ADMIN,
     "redis:create NAME [--image IMAGE]: a Redis server for apps (image: redis:7)"},
    {"redis:destroy", cmd_datastore_destroy, BD_ADMIN,
     "redis:destroy NAME [--force]: remove an unlinked server and its data"},
    {"redis:info", cmd_datastore_info, BD_ADMIN,
     "redis:info NAME [--dsn]: about a server (--dsn: its URL, password included)"},
    {"redis:link", cmd_datastore_link, 0,
     "redis:link NAME APP: set the app's REDIS_URL, deploy again"},
    {"redis:list", cmd_datastore_list, BD_ADMIN, "redis:list: the Redis servers"},
    {"redis:unlink", cmd_datastore_unlink, 0,
     "redis:unlink NAME APP: unset the app's REDIS_URL, deploy again"},
    {"panel:app-token", cmd_panel_app_token, BD_APP | BD_ADMIN,
     "panel:app-token APP [--revoke]: a token that deploys this app alone with `caprover deploy "
     "--appToken` (printed once), or revoke it"},
    {"panel:setup-link", cmd_panel_setup_link, BD_ROOT,
     "panel:setup-link: a one-time link (an hour) where the first admin of the panel chooses "
     "a password; routes https://berth.ROOT/ to berthd"},
    {"panel:user-remove", cmd_panel_user_remove, BD_ADMIN,
     "panel:user-remove NAME: remove a panel user, its sessions and API tokens (not the last "
     "admin)"},
    {"panel:user-reset-2fa", cmd_panel_user_reset_2fa, BD_ADMIN,
     "panel:user-reset-2fa NAME: turn off a user's two-factor login (a lost phone) and end "
     "their sessions"},
    {"panel:users", cmd_panel_users, BD_ADMIN, "panel:users: the panel's users, roles and 2FA"},
    {"ps:report", cmd_ps_report, BD_APP | BD_READ, "ps:report APP: processes and version"},
    {"ps:restart", cmd_ps_restart, BD_APP | BD_DEPLOY,
     "ps:restart APP: deploy the current release again"},
    {"ps:scale", cmd_ps_scale, BD_APP | BD_DEPLOY,
     "ps:scale APP [TYPE=N...]: how many of each process type (web=N: N behind "
     "berth-proxy), deploy again"},
    {"releases", cmd_releases, BD_APP | BD_READ, "releases APP: the app's deploys, newest first"},
    {"releases:rollback", cmd_releases_rollback, BD_APP | BD_DEPLOY,
     "releases:rollback APP [VERSION]: serve an earlier release again"},
    {"ssh-keys:add", cmd_keys_add, BD_ROOT,
     "ssh-keys:add [--limited] NAME [FILE]: add a key (an admin one unless --limited)"},
    {"ssh-keys:grant", cmd_keys_grant, BD_ROOT,
     "ssh-keys:grant NAME APP deploy|read, or NAME admin: give a key a right"},
    {"ssh-keys:list", cmd_keys_list, BD_ROOT,
     "ssh-keys:list [--format json] [NAME]: the keys and their rights"},
    {"ssh-keys:remove", cmd_keys_remove, BD_ROOT,
     "ssh-keys:remove NAME | --fingerprint FP: remove a key"},
    {"ssh-keys:revoke", cmd_keys_revoke, BD_ROOT,
     "ssh-keys:revoke NAME APP, or NAME admin: take a right back"},
    {"version", cmd_version, 0, "version: berthd's version"},
    /* processes and how they run (cmd-ps.c, cmd-run.c, cmd-checks.c, cmd-resource.c,
     * cmd-storage.c) */
    {"checks:disable", cmd_checks_disable, BD_APP | BD_DEPLOY,
     "checks:disable APP TYPES: these process types count as started once they run"},
    {"checks:enable", cmd_checks_enable, BD_APP | BD_DEPLOY,
     "checks:enable APP [TYPES]: check these process types again (all by default)"},
    {"checks:report", cmd_checks_report, BD_APP | BD_READ,
     "checks:report APP: how a new release is found ready"},
    {"checks:set", cmd_checks_set, BD_APP | BD_DEPLOY,
     "checks:set APP web PATH: the path berth-proxy health-checks"},
    {"enter", cmd_enter, BD_APP | BD_DEPLOY,
     "enter APP [TYPE]: a shell in the running container of TYPE (web by default)"},
    {"ps:rebuild", cmd_ps_rebuild, BD_APP | BD_DEPLOY,
     "ps:rebuild APP: build the current revision again and deploy it"},
    {"ps:start", cmd_ps_start, BD_APP | BD_DEPLOY, "ps:start APP: start a stopped app"},
    {"ps:stop", cmd_ps_stop, BD_APP | BD_DEPLOY,
     "ps:stop APP: stop the app's containers (its route answers 503)"},
    {"resource:limit", cmd_resource_limit, BD_APP | BD_DEPLOY,
     "resource:limit [--memory SIZE] [--cpu N] APP: limits of every process type"},
    {"resource:report", cmd_resource_report, BD_APP | BD_READ,
     "resource:report APP: the app's limits"},
    {"resource:reset", cmd_resource_reset, BD_APP | BD_DEPLOY, "resource:reset APP: no limits"},
    {"run", cmd_run, BD_APP | BD_DEPLOY,
     "run [-e KEY=VALUE]... APP COMMAND [ARGS...]: a one-off container of the app"},
    {"storage:list", cmd_storage_list, BD_APP | BD_READ,
     "storage:list APP: the host directories mounted into the app"},
    {"storage:mount", cmd_storage_mount, BD_APP | BD_ADMIN,
     "storage:mount APP /HOST_PATH:/CONTAINER_PATH: mount a host directory (admin)"},
    {"storage:unmount", cmd_storage_unmount, BD_APP | BD_ADMIN,
     "storage:unmount APP /HOST_PATH:/CONTAINER_PATH: stop mounting it"},
    /* ports and networks (cmd-ports.c, cmd-network.c) */
    {"ports:add", cmd_ports_add, BD_APP | BD_DEPLOY,
     "ports:add APP SCHEME:HOST:CONTAINER...: add mappings (http:80:C, https:443:C), deploy "
     "again"},
    {"ports:clear", cmd_ports_clear, BD_APP | BD_DEPLOY,
     "ports:clear APP: no mappings (the image's EXPOSE, else 5000), deploy again"},
    {"ports:list", cmd_ports_list, BD_APP | BD_READ, "ports:list APP: the app's port mappings"},
    {"ports:remove", cmd_ports_remove, BD_APP | BD_DEPLOY,
     "ports:remove APP HOST|SCHEME:HOST:CONTAINER...: remove mappings, deploy again"},
    {"ports:report", cmd_ports_report, BD_APP | BD_READ,
     "ports:report APP [--format json]: mappings, detected and in effect"},
    {"ports:set", cmd_ports_set, BD_APP | BD_DEPLOY,
     "ports:set APP SCHEME:HOST:CONTAINER...: the mappings, all at once, deploy again"},
    {"proxy:ports", cmd_ports_list, BD_APP | BD_READ, "proxy:ports APP: as ports:list"},
    {"proxy:ports-add", cmd_ports_add, BD_APP | BD_DEPLOY,
     "proxy:ports-add APP SCHEME:HOST:CONTAINER...: as ports:add"},
    {"proxy:ports-clear", cmd_ports_clear, BD_APP | BD_DEPLOY,
     "proxy:ports-clear APP: as ports:clear"},
    {"proxy:ports-remove", cmd_ports_remove, BD_APP | BD_DEPLOY,
     "proxy:ports-remove APP HOST|SCHEME:HOST:CONTAINER...: as ports:remove"},
    {"proxy:ports-set", cmd_ports_set, BD_APP | BD_DEPLOY,
     "proxy:ports-set APP SCHEME:HOST:CONTAINER...: as ports:set"},
    {"network:create", cmd_network_create, BD_ADMIN,
     "network:create NAME: a Docker network for apps to join (admin)"},
    {"network:destroy", cmd_network_destroy, BD_ADMIN,
     "network:destroy NAME [--force]: remove a network of berthd's nothing uses (admin)"},
    {"network:exists", cmd_network_exists, 0,
     "network:exists NAME: exit 0 when berthd has that network, 1 when not"},
    {"network:info", cmd_network_info, BD_ADMIN,
     "network:info NAME: a network's containers and the apps attaching to it (admin)"},
    {"network:list", cmd_network_list, 0, "network:list [--format json]: berthd's networks"},
    {"network:report", cmd_network_report, BD_APP | BD_READ,
     "network:report APP [--format json]: the app's network settings"},
    {"network:set", cmd_network_set, BD_APP | BD_DEPLOY,
     "network:set APP attach-post-deploy|tld [VALUE...]: networks the app's "
     "containers join after each deploy"},
    /* one-click app templates (cmd-oneclick.c, oneclick.c, ocinstall.c) */
    {"oneclick:deploy", cmd_oneclick_deploy, BD_ADMIN,
     "oneclick:deploy NAME|- appname=APP [VAR=VALUE...]: create and deploy a template's apps, "
     "in depends_on order, on a network of their own (admin)"},
    {"oneclick:list", cmd_oneclick_list, 0, "oneclick:list: the one-click app templates shipped"},
    {"oneclick:plan", cmd_oneclick_plan, 0,
     "oneclick:plan NAME|- appname=APP [VAR=VALUE...]: the apps a filled template gives "
     "(- reads the template from stdin; secrets shown as ***)"},
    {"oneclick:show", cmd_oneclick_show, 0,
     "oneclick:show NAME|-: a CapRover v4 template's variables and defaults (- reads it "
     "from stdin)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_version(struct bd *bd, int argc, const char **argv)
{
	(void)bd;
	(void)argc;
	(void)argv;
	printf("berthd %s\n", BERTH_VERSION);
	return 0;
}

static int cmd_help(struct bd *bd, int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: ssh berth@HOST COMMAND [APP] [ARGS...], or --app APP COMMAND [ARGS...]\n"
	       "       git push berth@HOST:APP main\n\nCommands:\n");
	int w = 0;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *u = commands[i].usage, *colon = strstr(u, ": ");
		int n = colon ? (int)(colon - u) : (int)strlen(u);
		w = n > w ? n : w;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *u = commands[i].usage, *colon = strstr(u, ": ");
		if ((commands[i].flags & BD_ROOT) && bd->key) {
			continue;
		}
		printf("    %-*.*s  %s\n", w, colon ? (int)(colon - u) : (int)strlen(u), u,
		       colon ? colon + 2 : "");
	}
	return 0;
}

static const struct bd_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!strcmp(commands[i].name, name)) {
			return &commands[i];
		}
	}
	return NULL;
}

/* Options of the commands that take a value as the next word. */
static const char *const value_opts[] = {"--format", "--fingerprint", "-n", "--num", "-p", "--ps",
					 /* run, resource:limit */
					 "-e", "--env", "--memory", "--cpu",
					 /* doctor */
					 "--min-free-disk"};

/*
 * The first operand: the first word after the command that is neither an
 * option nor an option's value (as the commands' own option tables read it).
 */
static const char *first_operand(int argc, const char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			return i + 1 < argc ? argv[i + 1] : NULL;
		}
		if (argv[i][0] != '-') {
			return argv[i];
		}
		for (size_t j = 0; j < sizeof(value_opts) / sizeof(value_opts[0]); j++) {
			if (!strcmp(argv[i], value_opts[j])) {
				i++;
				break;
			}
		}
	}
	return NULL;
}

/* Checks what the command needs, then runs it. */
static int dispatch(struct bd *bd, int argc, const char **argv)
{
	const struct bd_cmd *c =
	    find_command(!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") ? "help" : argv[0]);
	const char *app = NULL, **copy;
	unsigned f;
	int rc;

	if (!c) {
		return bd_fail("`%s` is not a berthd command (see: help)", argv[0]);
	}
	f = c->flags;
	if ((f & BD_ROOT) && bd->key) {
		return bd_fail("permission denied: %s is for root on the server", c->name);
	}
	if ((f & BD_ADMIN) && !bd->admin) {
		return bd_fail("permission denied");
	}
	if (f & (BD_APP | BD_NEW_APP)) {
		app = first_operand(argc, argv);
		if (!app) {
			return bd_usage(c->usage);
		}
		if (!sshcmd_valid_app(app)) {
			return bd_fail("invalid app name '%s' (lowercase letters, digits and '-', "
				       "starting with a letter)",
				       app);
		}
	}
	if ((f & BD_NEW_APP) && !bd_can(bd, app, BD_DEPLOY)) {
		return bd_fail("permission denied");
	}
	if ((f & (BD_READ | BD_DEPLOY)) && app &&
	    !bd_can(bd, app, (f & BD_DEPLOY) ? BD_DEPLOY : BD_READ)) {
		return bd_fail("permission denied");
	}
	if ((f & BD_APP) && !store_app_exists(&bd->store, app)) {
		bd_fail("App %s does not exist", app);
		return BD_EXIT_NO_APP;
	}
	/* The command's option parser reorders its argv: give it a copy of the pointers. */
	copy = xcalloc((size_t)argc + 1, sizeof(*copy));
	memcpy(copy, argv, (size_t)argc * sizeof(*copy));
	rc = c->fn(bd, argc, copy);
	free(copy);
	return rc;
}

static const char *state_dir(void)
{
	const char *d = getenv("BERTHD_STATE_DIR");
	return d && *d ? d : "/var/lib/berthd";
}

static int open_store(struct bd *bd)
{
	struct err e = ERR_INIT;
	int r = 0;

	if (store_open(&bd->store, bd->state_dir, &e) < 0) {
		r = bd_fail_err(&e);
	}
	err_release(&e);
	return r;
}

/* Runs a parsed command line: git's pack commands, or one of the table. */
static int run_parsed(struct bd *bd, const struct sshcmd *c)
{
	bd->quiet = c->quiet;
	bd->json = c->json;
	if (c->kind == SSHCMD_RECEIVE_PACK) {
		return cmd_git_receive_pack(bd, (int)c->argv.nr, (const char **)c->argv.v);
	}
	if (c->kind == SSHCMD_UPLOAD_PACK) {
		return cmd_git_upload_pack(bd, (int)c->argv.nr, (const char **)c->argv.v);
	}
	return dispatch(bd, (int)c->argv.nr, (const char **)c->argv.v);
}

/* berthd ssh: who is asking (BERTHD_KEY) and what (SSH_ORIGINAL_COMMAND). */
static int run_ssh(struct bd *bd)
{
	const char *key = getenv("BERTHD_KEY"), *line = getenv("SSH_ORIGINAL_COMMAND");
	struct sshcmd c = SSHCMD_INIT;
	struct store_key k = {0};
	struct err e = ERR_INIT;
	int rc = 1, r;

	if (!key || !*key) {
		rc = bd_fail("no key named in BERTHD_KEY (berthd ssh is the forced command of "
			     "the keys in authorized_keys)");
		goto out;
	}
	r = store_key_get(&bd->store, key, &k, &e);
	if (r <= 0) {
		rc = r < 0 ? bd_fail_err(&e) : bd_fail("permission denied: unknown key");
		goto out;
	}
	bd->key = key;
	bd->admin = k.admin;
	if (!line || !*line) {
		line = "help";
	}
	if (sshcmd_parse(line, strlen(line), &c, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	rc = run_parsed(bd, &c);
out:
	store_key_release(&k);
	sshcmd_release(&c);
	err_release(&e);
	return rc;
}

/* berthd CMD ARGS...: root on the server. */
static int run_direct(struct bd *bd, int argc, const char **argv)
{
	struct sshcmd c = SSHCMD_INIT;
	struct err e = ERR_INIT;
	int rc;

	bd->admin = true;
	if (sshcmd_from_argv((size_t)argc, argv, &c, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	rc = run_parsed(bd, &c);
out:
	sshcmd_release(&c);
	err_release(&e);
	return rc;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void on_child(int sig)
{
	(void)sig;
}

/* A child serve keeps running: the charts' sampler, doctor's check of the host. */
struct hook_proc {
	const char *what;  /* for the log: "the charts' sampler" */
	const char *word;  /* berthd hook WORD --interval N */
	unsigned interval; /* 0: not run at all */
	pid_t pid;	   /* -1: not running */
	time_t at;	   /* when to start it (again) */
	bool ended;	   /* reaping saw it end, with status */
	int status;
};

#define NHOOKS 2

static void on_ended(pid_t pid, int status, void *arg)
{
	struct hook_proc *h = arg;

	for (size_t i = 0; i < NHOOKS; i++) {
		if (h[i].pid > 0 && pid == h[i].pid) {
			h[i].ended = true;
			h[i].status = status;
		}
	}
}

#define SAMPLER_RESTART_PAUSE 5 /* seconds before a hook that exited is started again */

/* Starts `berthd hook WORD --interval N` with serve's output; its pid, or -1 (logged). */
static pid_t start_hook(const struct hook_proc *h)
{
	char self[4096], every[16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	pid_t pid = -1;
	int rc;

	if (n <= 0) {
		fprintf(stderr, "warning: cannot start %s: cannot find berthd's own program: %s\n",
			h->what, strerror(errno));
		return -1;
	}
	self[n] = 0;
	snprintf(every, sizeof(every), "%u", h->interval);
	/* serve blocks the signals it waits for: the child gets them back */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGALRM);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(
	    &pid, self, NULL, &attr,
	    (char *const[]){"berthd", "hook", (char *)h->word, "--interval", every, NULL}, environ);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		fprintf(stderr, "warning: cannot start %s: %s\n", h->what, strerror(rc));
		return -1;
	}
	return pid;
}

/*
 * berthd serve: keeps the store open and authorized_keys in step with it,
 * serves HTTP (the panel and the API) on http_addr unless it is "off", and
 * reaps the processes that end up as its children (it is the container's
 * first process), until SIGTERM or SIGINT. An address it cannot listen on
 * is a warning: the SSH side works without the panel. It keeps the charts'
 * sampler running (daemon/sampler.h), every sample_interval seconds, and
 * doctor's check of the host (daemon/apiserver.h), every doctor_interval
 * seconds (0: none): one that exits is started again SAMPLER_RESTART_PAUSE
 * seconds later.
 */
static int run_serve(struct bd *bd, const char *http_addr, unsigned sample_interval,
		     unsigned doctor_interval)
{
	static struct api api;
	static struct http_server srv;
	static struct loginguard guard;
	struct sigaction sa = {0};
	sigset_t block, wait_mask;
	struct err e = ERR_INIT;
	struct hook_proc hooks[NHOOKS] = {
	    {"the charts' sampler", "sampler", sample_interval, -1, 0, false, 0},
	    {"doctor's check of the host", "doctor", doctor_interval, -1, 0, false, 0},
	};

	if (bd_keys_sync(bd, &e) < 0) {
		fprintf(stderr, "warning: %s\n", err_str(&e));
	}
	err_release(&e);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGCHLD);
	sigdelset(&wait_mask, SIGALRM);
	/* the HTTP threads start with these signals blocked: the main thread takes them */
	reaper_start();
	if (strcmp(http_addr, "off")) {
		/* a few malloc arenas, not one per connection thread: berthd idles small */
		mallopt(M_ARENA_MAX, 2);
		api.state_dir = bd->state_dir;
		/* one backoff for every login route; the CSRF key dies with the process */
		loginguard_init(&guard, LOGINGUARD_SLOTS);
		api.guard = &guard;
		if (csrf_key_new(api.csrf_key) < 0) {
			fprintf(stderr, "fatal: cannot make a CSRF key: %s\n", strerror(errno));
			return 1;
		}
		srv.routes = api_routes;
		srv.nroutes = api_nroutes;
		srv.streams = capdeploy_stream_routes;
		srv.nstreams = capdeploy_nstream_routes;
		srv.data = &api;
		if (http_server_start(&srv, http_addr, &e) < 0) {
			fprintf(stderr, "warning: no panel or API: %s\n", err_str(&e));
		} else {
			printf("berthd: panel and API on http://%s\n", http_addr);
		}
		err_release(&e);
	}
	printf("berthd %s serving, state in %s\n", BERTH_VERSION, bd->state_dir);
	fflush(stdout);
	while (!stop_signal) {
		reaper_reap(on_ended, hooks);
		for (size_t i = 0; i < NHOOKS; i++) {
			struct hook_proc *h = &hooks[i];

			if (h->ended) {
				fprintf(stderr,
					"warning: %s ended (status %d); starting it again in %ds\n",
					h->what,
					WIFEXITED(h->status) ? WEXITSTATUS(h->status)
							     : 128 + WTERMSIG(h->status),
					SAMPLER_RESTART_PAUSE);
				h->ended = false;
				h->pid = -1;
				h->at = time(NULL) + SAMPLER_RESTART_PAUSE;
				alarm(SAMPLER_RESTART_PAUSE);
			}
			if (h->interval && h->pid < 0 && time(NULL) >= h->at) {
				h->pid = start_hook(h);
				if (h->pid < 0) {
					h->at = time(NULL) + SAMPLER_RESTART_PAUSE;
					alarm(SAMPLER_RESTART_PAUSE);
				}
			}
		}
		sigsuspend(&wait_mask);
	}
	printf("berthd stopping (signal %d)\n", (int)stop_signal);
	for (size_t i = 0; i < NHOOKS; i++) {
		if (hooks[i].pid > 0) {
			kill(hooks[i].pid, SIGTERM);
		}
	}
	return 0;
}

int main(int argc, const char **argv)
{
	struct bd bd = {.store = STORE_INIT};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	log_setup(LOG_INFO, 0, NULL);
	bd.state_dir = state_dir();
	if (argc < 2) {
		fprintf(stderr,
			"usage: berthd serve | ssh | hook pre-receive | COMMAND [ARGS...]\n");
		return 2;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		return cmd_version(&bd, argc - 1, argv + 1);
	}
	if (open_store(&bd)) {
		return 1;
	}
	if (!strcmp(argv[1], "serve")) {
		const char *http = "0.0.0.0:3000";
		unsigned every = SAMPLER_INTERVAL, doctor_every = APISERVER_DOCTOR_INTERVAL;
		struct err e = ERR_INIT;

		for (int i = 2; i < argc; i += 2) {
			if (i + 1 < argc && !strcmp(argv[i], "--http")) {
				http = argv[i + 1];
			} else if (i + 1 < argc && !strcmp(argv[i], "--sample-interval") &&
				   sampler_interval_parse(argv[i + 1], &every, &e) == 0) {
				continue;
			} else if (i + 1 < argc && !strcmp(argv[i], "--doctor-interval") &&
				   apiserver_doctor_interval_parse(argv[i + 1], &doctor_every,
								   &e) == 0) {
				continue;
			} else {
				if (err_isset(&e)) {
					fprintf(stderr, "error: %s: %s\n", argv[i], err_str(&e));
				}
				err_release(&e);
				store_close(&bd.store);
				fprintf(stderr, "usage: berthd serve [--http ADDR:PORT|off] "
						"[--sample-interval SECONDS] "
						"[--doctor-interval SECONDS|off]\n");
				return 2;
			}
		}
		rc = run_serve(&bd, http, every, doctor_every);
	} else if (!strcmp(argv[1], "ssh")) {
		rc = run_ssh(&bd);
	} else if (!strcmp(argv[1], "hook")) {
		unsigned every = SAMPLER_INTERVAL;
		struct err e = ERR_INIT;

		if (argc >= 3 && !strcmp(argv[2], "upload")) {
			rc = capdeploy_hook(&bd, argc - 3, argv + 3);
		} else if (argc >= 3 && !strcmp(argv[2], "sampler")) {
			if (argc == 3 || (argc == 5 && !strcmp(argv[3], "--interval") &&
					  sampler_interval_parse(argv[4], &every, &e) == 0)) {
				/* the store is not the sampler's business */
				store_close(&bd.store);
				return sampler_run(bd.state_dir, every);
			}
			rc = bd_fail("usage: berthd hook sampler [--interval SECONDS]%s%s",
				     err_isset(&e) ? ": " : "", err_isset(&e) ? err_str(&e) : "");
			err_release(&e);
		} else if (argc >= 3 && !strcmp(argv[2], "doctor")) {
			unsigned doctor_every = APISERVER_DOCTOR_INTERVAL;

			if ((argc == 4 && !strcmp(argv[3], "--once")) ||
			    (argc == 5 && !strcmp(argv[3], "--interval") &&
			     apiserver_doctor_interval_parse(argv[4], &doctor_every, &e) == 0 &&
			     doctor_every)) {
				/* the store is not the check's business */
				store_close(&bd.store);
				return apiserver_hook_doctor(bd.state_dir, doctor_every, argc == 4);
			}
			rc = bd_fail("usage: berthd hook doctor [--interval SECONDS | --once]%s%s",
				     err_isset(&e) ? ": " : "", err_isset(&e) ? err_str(&e) : "");
			err_release(&e);
		} else if (argc == 3 && !strcmp(argv[2], "panel-route")) {
			rc = bd_panel_route(&bd, &e) < 0 ? bd_fail_err(&e) : 0;
			err_release(&e);
		} else if (argc == 4 && !strcmp(argv[2], "job")) {
			rc = apiapps_hook_job(&bd, argv[3], dispatch);
		} else {
			rc = argc == 3 && !strcmp(argv[2], "pre-receive")
				 ? bd_hook_pre_receive(&bd)
				 : bd_fail("usage: berthd hook pre-receive");
		}
	} else {
		rc = run_direct(&bd, argc - 1, argv + 1);
	}
	store_close(&bd.store);
	return rc;
}
