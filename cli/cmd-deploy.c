/*
 * berth deploy, redeploy, rollback and setup: the release engine
 * (engine/deploy.h) driven from config/deploy.yml.
 *
 *	berth setup                  first deploy: servers checked, proxy started
 *	berth deploy [--version V]   build, ship, switch host by host
 *	berth redeploy               the same without the proxy checks
 *	berth rollback [VERSION]     start a version still on the hosts again
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/app.h"
#include "engine/deploy.h"
#include "engine/hoststate.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "engine/scripts.h"
#include "lib/banned.h"

static bool opt_skip_push, opt_previous, opt_no_cache, opt_force;

static const struct opt deploy_opts[] = {
    OPT_BOOL('P', "skip-push", &opt_skip_push, "use the image already built for the version"),
    OPT_BOOL(0, "no-cache", &opt_no_cache, "build without docker's build cache"),
    OPT_BOOL(0, "force", &opt_force,
	     "deploy even where the capacity check says the new containers do not fit"),
    OPT_END(),
};

static const struct opt rollback_opts[] = {
    OPT_BOOL(0, "previous", &opt_previous,
	     "roll back to the newest version before the one serving (for scripts)"),
    OPT_END(),
};

struct loaded {
	struct config cfg;
	struct secrets sec;
	struct exec ex;
};

static int load(struct loaded *l)
{
	struct config_opts co = {0};
	struct err e = ERR_INIT;
	int ret = -1;

	config_init(&l->cfg);
	secrets_init(&l->sec);
	exec_init(&l->ex, EXEC_SSH);
	co.config_file = cli_g.config_file;
	co.destination = cli_g.destination;
	co.load_secrets = true;
	if (config_load(&l->cfg, &co, &l->sec, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	config_exec_setup(&l->cfg, &l->ex);
	if (cli_config_loaded(&l->cfg, &l->ex) < 0) {
		goto out;
	}
	l->cfg.builder.no_cache = opt_no_cache;
	ret = 0;
out:
	err_release(&e);
	return ret;
}

static void unload(struct loaded *l)
{
	exec_release(&l->ex);
	secrets_release(&l->sec);
	config_release(&l->cfg);
}

static void fill_opts(struct deploy_opts *o, const char *command)
{
	memset(o, 0, sizeof(*o));
	o->command = command;
	o->version = cli_g.version;
	o->skip_push = opt_skip_push;
	o->force = opt_force;
	o->lock_wait_s = cli_g.lock_wait;
	o->skip_hooks = cli_g.skip_hooks;
	o->roles = &cli_g.roles;
	o->hosts = &cli_g.hosts;
	o->verbose = cli_g.verbose;
	o->quiet = cli_g.quiet;
	o->json = cli_g.json;
}

/*
 * deploy, redeploy, setup and app boot: the same engine. app boot sends
 * nothing and takes, without --version, the version that serves now.
 */
static int run_deploy(int argc, const char **argv, const char *command, const char *usage)
{
	bool app_boot = !strcmp(command, "app boot");
	struct loaded l;
	struct deploy_opts o;
	struct deploy_versions vs = {0};
	struct err e = ERR_INIT;
	size_t i;
	int n, ret = 2;

	n = cli_parse(argc, argv, (const struct opt *const[]){deploy_opts, NULL}, 0, usage);
	if (n < 0) {
		return n == -2 ? 0 : 2;
	}
	if (n > 0) {
		log_error("unexpected argument '%s'\nusage: %s", argv[0], usage);
		return 2;
	}
	if (load(&l) < 0) {
		unload(&l);
		return 1;
	}
	ret = 1;
	fill_opts(&o, command);
	o.skip_proxy = !strcmp(command, "redeploy");
	if (app_boot) {
		o.skip_push = true;
	}
	if (app_boot && !o.version) {
		if (deploy_versions(&l.cfg, &l.ex, &o, &vs, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		for (i = 0; i < vs.nr && !vs.v[i].current; i++) {
		}
		if (i == vs.nr) {
			log_error(
			    "no version of the app runs on the hosts: give one with --version");
			goto out;
		}
		o.version = vs.v[i].version;
	}
	/* setup: the accessories first, as Kamal boots them before the first deploy */
	if (!strcmp(command, "setup") && cli_accessories_boot(&l.cfg, &l.sec, &l.ex) < 0) {
		goto out;
	}
	ret = deploy_run(&l.cfg, &l.sec, &l.ex, &o, &e) < 0 ? 1 : 0;
	if (ret) {
		log_error("%s", err_str(&e));
	}
out:
	deploy_versions_release(&vs);
	err_release(&e);
	unload(&l);
	return ret;
}

int cmd_deploy(int argc, const char **argv)
{
	return run_deploy(
	    argc, argv, "deploy",
	    "berth deploy [--version V] [-P|--skip-push] [--force] [--lock-wait S] [-r ROLES] "
	    "[-h HOSTS] [-d DEST] [-c FILE] [-v|-q|--json]");
}

int cmd_redeploy(int argc, const char **argv)
{
	return run_deploy(
	    argc, argv, "redeploy",
	    "berth redeploy [--version V] [-P|--skip-push] [--force] [--lock-wait S] [-r ROLES] "
	    "[-h HOSTS] [-d DEST] [-c FILE] [-v|-q|--json]");
}

int cmd_setup(int argc, const char **argv)
{
	return run_deploy(
	    argc, argv, "setup",
	    "berth setup [--version V] [-P|--skip-push] [--force] [-r ROLES] [-h HOSTS] "
	    "[-d DEST] [-c FILE] [-v|-q|--json]");
}

/* Asks which version to roll back to; NULL when the answer is not one. */
static const char *pick_version(const struct deploy_versions *vs)
{
	static char answer[64];
	size_t i;
	char *end;
	unsigned long k;

	printf("versions still on the hosts, newest first:\n");
	for (i = 0; i < vs->nr; i++) {
		printf("  %2zu) %-40s %-20s %s%s\n", i + 1, vs->v[i].version,
		       vs->v[i].time ? vs->v[i].time : "(no journal entry)",
		       vs->v[i].current ? "serving" : "",
		       vs->v[i].hosts_with < vs->hosts ? " (not on every host)" : "");
	}
	printf("roll back to which one? [1-%zu]: ", vs->nr);
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin)) {
		return NULL;
	}
	k = strtoul(answer, &end, 10);
	if (end == answer || k < 1 || k > vs->nr) {
		return NULL;
	}
	return vs->v[k - 1].version;
}

int cmd_rollback(int argc, const char **argv)
{
	static const char usage[] = "berth rollback [VERSION | --previous] [--lock-wait S] "
				    "[-r ROLES] [-h HOSTS] [-d DEST] [-c FILE] [-v|-q|--json]";
	struct loaded l;
	struct deploy_opts o;
	struct deploy_versions vs = {0};
	struct err e = ERR_INIT;
	const char *version = NULL;
	int n, ret = 2;
	size_t i;

	n = cli_parse(argc, argv, (const struct opt *const[]){rollback_opts, NULL}, 0, usage);
	if (n < 0) {
		return n == -2 ? 0 : 2;
	}
	if (n > 1 || (n == 1 && opt_previous)) {
		log_error("give one version, or --previous\nusage: %s", usage);
		return 2;
	}
	if (load(&l) < 0) {
		unload(&l);
		return 1;
	}
	ret = 1;
	fill_opts(&o, "rollback");
	o.mode = DEPLOY_ROLLBACK;
	if (deploy_versions(&l.cfg, &l.ex, &o, &vs, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (n == 1) {
		version = argv[0];
		for (i = 0; i < vs.nr && strcmp(vs.v[i].version, version); i++) {
		}
		if (i == vs.nr || vs.v[i].hosts_with < vs.hosts) {
			log_error("version '%s' is not on %s host of the primary role; versions "
				  "there: %s%s",
				  version, i == vs.nr ? "any" : "every", vs.nr ? "" : "none",
				  vs.nr ? "see `berth rollback` without a version" : "");
			goto out;
		}
	} else if (opt_previous) {
		for (i = 0; i < vs.nr; i++) {
			if (!vs.v[i].current && vs.v[i].hosts_with == vs.hosts) {
				version = vs.v[i].version;
				break;
			}
		}
		if (!version) {
			log_error("no earlier version is on every host of the primary role");
			goto out;
		}
	} else if (cli_g.json || !isatty(STDIN_FILENO)) {
		json_t *arr = json_array();

		for (i = 0; i < vs.nr; i++) {
			json_array_append_new(arr, json_pack("{s:s, s:s?, s:b, s:i}", "version",
							     vs.v[i].version, "time", vs.v[i].time,
							     "serving", vs.v[i].current, "hosts",
							     (int)vs.v[i].hosts_with));
		}
		if (cli_g.json) {
			cli_print_json(arr);
			ret = 0;
		} else {
			json_decref(arr);
			for (i = 0; i < vs.nr; i++) {
				printf("%s %s%s\n", vs.v[i].version,
				       vs.v[i].time ? vs.v[i].time : "-",
				       vs.v[i].current ? " serving" : "");
			}
			log_error("name the version to roll back to, or use --previous");
		}
		goto out;
	} else {
		if (!vs.nr) {
			log_error("no versions are on the hosts");
			goto out;
		}
		version = pick_version(&vs);
		if (!version) {
			log_error("no version chosen; nothing changed");
			goto out;
		}
	}
	o.version = version;
	ret = deploy_run(&l.cfg, &l.sec, &l.ex, &o, &e) < 0 ? 1 : 0;
	if (ret) {
		log_error("%s", err_str(&e));
	}
out:
	deploy_versions_release(&vs);
	err_release(&e);
	unload(&l);
	return ret;
}

/*
 * berth app boot: the app's containers of a version (by default the one
 * serving) started again on the hosts, each switched as a deploy does,
 * without building or sending anything.
 */
int cmd_app_boot(int argc, const char **argv)
{
	return run_deploy(argc, argv, "app boot",
			  "berth app boot [--version V] [-r ROLES] [-h HOSTS] [-d DEST] [-c FILE]");
}

/* berth remove: the app off its hosts — routes, containers, images, state. */
int cmd_remove(int argc, const char **argv)
{
	static const char usage[] = "berth remove [-y] [-d DEST] [-c FILE] [-h HOSTS]\n"
				    "(the accessories too: containers, images, directories)";
	struct loaded l;
	struct hoststate hs;
	struct strvec hosts = STRVEC_INIT, args = STRVEC_INIT, argv2 = STRVEC_INIT;
	struct sbuf sb = SBUF_INIT;
	struct run_cmd *cmds = NULL;
	struct run_cmd tmpl = RUN_CMD_INIT;
	struct err e = ERR_INIT;
	bool have_hs = false;
	size_t i;
	int n, ret = 2;

	n = cli_parse(argc, argv, NULL, 0, usage);
	if (n < 0) {
		return n == -2 ? 0 : 2;
	}
	if (n > 0) {
		log_error("unexpected argument '%s'\nusage: %s", argv[0], usage);
		return 2;
	}
	if (load(&l) < 0) {
		unload(&l);
		return 1;
	}
	ret = 1;
	config_role_hosts(&l.cfg, NULL, &cli_g.hosts, &hosts);
	if (!hosts.nr) {
		log_error("no hosts match -h");
		goto out;
	}
	sbuf_addf(&sb, "remove '%s'%s%s from %zu host(s): its routes, containers, images and state",
		  l.cfg.service, l.cfg.destination ? " -d " : "",
		  l.cfg.destination ? l.cfg.destination : "", hosts.nr);
	cli_accessories_question(&sb, &l.cfg);
	if (!cli_confirm(sb.buf)) {
		log_error("nothing removed");
		goto out;
	}
	/* the accessories first: they take the lock, which lives in the app's state */
	if (cli_accessories_remove(&l.cfg, &l.ex) < 0) {
		goto out;
	}
	if (hoststate_init(&hs, &l.ex, l.cfg.run_directory, l.cfg.service, l.cfg.destination, &e) <
	    0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	have_hs = true;
	strvec_push(&args, hs.dir);
	sbuf_reset(&sb);
	app_image_repo(&sb, &l.cfg);
	strvec_push(&args, sb.buf);
	strvec_pushf(&args, "%zu", l.cfg.nr_roles);
	for (i = 0; i < l.cfg.nr_roles; i++) {
		sbuf_reset(&sb);
		app_role_name(&sb, &l.cfg, l.cfg.roles[i].name);
		strvec_push(&args, sb.buf);
	}
	app_filter_argv(&args, &l.cfg, NULL);
	strvec_pushv(&argv2, (const char *[]){"sh", "-c", script_remove, "berth", NULL});
	strvec_pushv(&argv2, (const char *const *)args.v);
	cmds = xcalloc(hosts.nr, sizeof(*cmds));
	tmpl.out = RUN_IO_CAPTURE;
	tmpl.err = RUN_IO_CAPTURE;
	ret = exec_run_hosts(&l.ex, (const char *const *)hosts.v, hosts.nr,
			     (const char *const *)argv2.v, &tmpl, 0, cmds) < 0
		  ? 1
		  : 0;
	for (i = 0; i < hosts.nr; i++) {
		struct slice rest = slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len), line;

		while (!cli_g.quiet && rest.len) {
			line = slice_next(&rest, '\n');
			printf("%s: %.*s\n", hosts.v[i], (int)line.len, line.ptr);
		}
		if (cmds[i].status != 0) {
			exec_explain(&l.ex, hosts.v[i], &cmds[i], &e);
			log_error("%s", err_str(&e));
			err_release(&e);
		}
		run_cmd_release(&cmds[i]);
	}
	if (!ret) {
		log_info("removed '%s' from %zu host(s)", l.cfg.service, hosts.nr);
	}
out:
	free(cmds);
	run_cmd_release(&tmpl);
	if (have_hs) {
		hoststate_release(&hs);
	}
	strvec_clear(&hosts);
	strvec_clear(&args);
	strvec_clear(&argv2);
	sbuf_release(&sb);
	err_release(&e);
	unload(&l);
	return ret;
}
