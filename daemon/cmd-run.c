/*
 * run and enter — a command in an app's image, and a shell in its running
 * container.
 *
 * run: a one-off container of the current release's image, on network
 * berth, removed when it ends (docker run --rm), with the app's config vars
 * and the -e ones over them in an env file written 0600 under
 * $BERTHD_STATE_DIR/run/oneoff (engine/app.h's format; no value ever in an
 * argv), removed after. stdin and stdout pass through (-i; -t when berthd's
 * stdin is a terminal, as the forced command gives it when the ssh session
 * has one), and the command's exit code is berthd's, so ssh's. It has the
 * app's resource limits and mounts, as the app's containers do. Its
 * container is labelled berthd.run=APP, not service=APP: ps:stop, logs and
 * the engine's pruning leave it alone.
 *
 * enter: docker exec -i [-t] into the running container of a process type
 * (web by default) with sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "engine/app.h"
#include "engine/config.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

static const char run_usage[] = "run [-e KEY=VALUE]... APP COMMAND [ARGS...]";

/* Runs argv with berthd's stdin, stdout and stderr; its exit code. */
static int run_through(struct strvec *argv)
{
	struct run_cmd c = RUN_CMD_INIT;
	int status;

	strvec_pushv(&c.argv, (const char *const *)argv->v);
	c.flags = RUN_F_STDIN_INHERIT;
	c.out = RUN_IO_INHERIT;
	c.err = RUN_IO_INHERIT;
	fflush(stdout);
	run_one(&c);
	status = c.status;
	run_cmd_release(&c);
	return status;
}

/* The env file's text: config vars, then -e pairs over them. 0, or -1 printed. */
static int env_text(struct bd *bd, const char *app, const struct strvec *pairs, struct sbuf *out)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct config_env env;
	struct err e = ERR_INIT;
	int r = -1;

	memset(&env, 0, sizeof(env));
	strvec_init(&env.secret_names);
	strvec_init(&env.secret_keys);
	if (store_config_list(&bd->store, app, &names, &values, &e) < 0) {
		bd_fail_err(&e);
		goto out;
	}
	for (size_t i = 0; i < names.nr; i++) {
		config_map_set(&env.clear, names.v[i], values.v[i]);
	}
	for (size_t i = 0; i < pairs->nr; i++) {
		const char *eq = strchr(pairs->v[i], '=');
		char *name = xstrndup(pairs->v[i], (size_t)(eq - pairs->v[i]));

		config_map_set(&env.clear, name, eq + 1);
		free(name);
	}
	if (app_env_text(out, &env, NULL, &e) < 0) {
		bd_fail_err(&e);
		goto out;
	}
	r = 0;
out:
	config_map_clear(&env.clear);
	strvec_clear(&env.secret_names);
	strvec_clear(&env.secret_keys);
	strvec_clear(&names);
	strvec_clear(&values);
	err_release(&e);
	return r;
}

/* resource:limit and storage:mount, as the app's containers have them. 0, or -1 printed. */
static int limits_and_mounts(struct bd *bd, const char *app, struct strvec *argv)
{
	struct strvec mounts = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *memory = NULL, *cpu = NULL;
	int r = -1;

	if (store_prop_get(&bd->store, app, "resource.memory", &memory, &e) < 0 ||
	    store_prop_get(&bd->store, app, "resource.cpu", &cpu, &e) < 0 ||
	    store_mount_list(&bd->store, app, &mounts, &e) < 0) {
		bd_fail_err(&e);
		goto out;
	}
	if (memory) {
		strvec_pushf(argv, "--memory=%s", memory);
	}
	if (cpu) {
		strvec_pushf(argv, "--cpus=%s", cpu);
	}
	for (size_t i = 0; i < mounts.nr; i++) {
		strvec_pushf(argv, "--volume=%s", mounts.v[i]);
	}
	r = 0;
out:
	free(memory);
	free(cpu);
	strvec_clear(&mounts);
	err_release(&e);
	return r;
}

int cmd_run(struct bd *bd, int argc, const char **argv)
{
	struct strvec pairs = STRVEC_INIT, dargv = STRVEC_INIT;
	struct store_release cur = {0};
	struct sbuf env = SBUF_INIT;
	struct err e = ERR_INIT;
	char *dir = NULL, *file = NULL;
	const char *app;
	int i = 1, rc = 1, has;

	/* options before APP only: everything after it is the command's own */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *v = NULL;

		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if ((!strcmp(argv[i], "-e") || !strcmp(argv[i], "--env")) && i + 1 < argc) {
			v = argv[++i];
		} else if (!strncmp(argv[i], "--env=", 6)) {
			v = argv[i] + 6;
		} else if (!strncmp(argv[i], "-e", 2) && argv[i][2]) {
			v = argv[i] + 2;
		} else {
			rc = bd_usage(run_usage);
			goto out;
		}
		if (!strchr(v, '=') || v[0] == '=') {
			rc = bd_fail("invalid env '%s': expected KEY=VALUE", v);
			goto out;
		}
		strvec_push(&pairs, v);
	}
	if (argc - i < 2) {
		rc = bd_usage(run_usage);
		goto out;
	}
	app = argv[i++];
	has = store_release_current(&bd->store, app, &cur, &e);
	if (has <= 0) {
		rc = has < 0 ? bd_fail_err(&e) : bd_fail("%s has not been deployed", app);
		goto out;
	}
	if (env_text(bd, app, &pairs, &env) < 0) {
		goto out;
	}
	for (int k = 0; k < 2; k++) {
		free(dir);
		dir = bd_path(bd, k ? "run/oneoff" : "run");
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			rc = bd_fail("cannot create '%s': %s", dir, strerror(errno));
			goto out;
		}
	}
	file = bd_path(bd, "run/oneoff/%s-%ld.env", app, (long)getpid());
	if (file_write_atomic(file, env.buf, env.len, 0600, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	strvec_pushv(&dargv, (const char *[]){"docker", "run", "--rm", "-i", NULL});
	if (isatty(0)) {
		strvec_push(&dargv, "-t");
	}
	strvec_pushv(&dargv, (const char *[]){"--network", APP_NETWORK, "--env-file", file,
					      "--label", NULL});
	strvec_pushf(&dargv, "berthd.run=%s", app);
	if (limits_and_mounts(bd, app, &dargv) < 0) {
		goto out;
	}
	strvec_pushf(&dargv, "--name=%s-run-%ld", app, (long)getpid());
	strvec_push(&dargv, cur.image);
	for (; i < argc; i++) {
		strvec_push(&dargv, argv[i]);
	}
	bd_event(bd, app, "run", NULL);
	rc = run_through(&dargv);
out:
	if (file) {
		unlink(file);
	}
	/* the values are in env's buffer: clear it before it goes */
	if (env.len) {
		memset(env.buf, 0, env.len);
	}
	sbuf_release(&env);
	store_release_release(&cur);
	strvec_clear(&pairs);
	strvec_clear(&dargv);
	free(dir);
	free(file);
	err_release(&e);
	return rc;
}

int cmd_enter(struct bd *bd, int argc, const char **argv)
{
	struct strvec dargv = STRVEC_INIT, ids = STRVEC_INIT;
	struct err e = ERR_INIT;
	const char *arg = argc > 2 ? argv[2] : "web";
	const char *dot = strrchr(arg, '.');
	char *type = dot ? xstrndup(arg, (size_t)(dot - arg)) : xstrdup(arg);
	uint64_t instance = 0;
	int rc = 1;

	(void)bd;
	if (argc < 2 || argc > 3) {
		rc = bd_usage("enter APP [TYPE[.N]]");
		goto out;
	}
	if (dot && !slice_to_u64(slice_cstr(dot + 1), 1000, &instance)) {
		rc = bd_fail("invalid process '%s': expected TYPE or TYPE.N (web, web.1)", arg);
		goto out;
	}
	/* without .N, the first instance: the role named after the type */
	if (appdeploy_containers(argv[1], type, instance ? (unsigned)instance : 1, &ids, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!ids.nr) {
		rc = bd_fail("%s has no running container of type %s", argv[1], arg);
		goto out;
	}
	strvec_pushv(&dargv, (const char *[]){"docker", "exec", "-i", NULL});
	if (isatty(0)) {
		strvec_push(&dargv, "-t");
	}
	strvec_push(&dargv, ids.v[0]);
	strvec_push(&dargv, "sh");
	rc = run_through(&dargv);
out:
	free(type);
	strvec_clear(&ids);
	strvec_clear(&dargv);
	err_release(&e);
	return rc;
}
