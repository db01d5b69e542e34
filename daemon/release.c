/* release — see release.h. */
#include "daemon/release.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "engine/app.h"
#include "engine/config.h"
#include "engine/deploy.h"
#include "engine/exec.h"
#include "engine/scripts.h"
#include "engine/secrets.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "lib/yamldoc.h"

/* berthd's apps listen on PORT, 5000 as on Dokku unless the spec says otherwise */
#define APP_PORT 5000
/* the engine's name for this machine */
#define HOST "localhost"

static void say(const struct release_spec *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct release_spec *s, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	if (!s->progress) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	s->progress(sb.buf, s->progress_data);
	sbuf_release(&sb);
}

/* The engine's lines, under this step's heading as Dokku indents them. */
static void engine_line(const char *line, void *data)
{
	const struct release_spec *s = data;

	say(s, "       %s", line);
}

static bool has_name(const struct strvec *names, const char *name)
{
	size_t i;

	for (i = 0; names && i < names->nr; i++) {
		if (!strcmp(names->v[i], name)) {
			return true;
		}
	}
	return false;
}

unsigned release_instances(const struct release_proc *p)
{
	return p->scale;
}

/* Whether p's instances are roles of their own (TYPE-N): all but web's, one role behind the proxy.
 */
static bool own_roles(const struct release_proc *p)
{
	return strcmp(p->type, "web") != 0;
}

char *release_role_name(const char *type, unsigned instance)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_addstr(&sb, type);
	if (instance > 1) {
		sbuf_addf(&sb, "-%u", instance);
	}
	return sbuf_detach(&sb, NULL);
}

bool release_role_is(const char *role, const char *type)
{
	size_t n = strlen(type);
	const char *p;

	if (strncmp(role, type, n)) {
		return false;
	}
	if (!role[n]) {
		return true;
	}
	/* TYPE-N, N a number from 2 without leading zeros */
	if (role[n] != '-' || role[n + 1] < '1' || role[n + 1] > '9' || !strcmp(role + n, "-1")) {
		return false;
	}
	for (p = role + n + 1; *p; p++) {
		if (*p < '0' || *p > '9') {
			return false;
		}
	}
	return true;
}

/* The role that runs spec's one-off jobs: web when it runs, else the first that does. */
static const struct release_proc *first_proc(const struct release_spec *s)
{
	const struct release_proc *first = NULL;
	size_t i;

	for (i = 0; i < s->nprocs; i++) {
		if (!s->procs[i].scale) {
			continue;
		}
		if (!strcmp(s->procs[i].type, "web")) {
			return &s->procs[i];
		}
		if (!first) {
			first = &s->procs[i];
		}
	}
	return first;
}

/*
 * The engine's config for spec, as the tree config/deploy.yml would give:
 * made as JSON, written as YAML and read back by the engine's own loader,
 * so that every default and every check is the one `berth deploy` has.
 */
static json_t *spec_tree(const struct release_spec *s, const char *repo, const char *run_dir)
{
	const struct release_proc *primary = first_proc(s);
	json_t *root = json_object(), *servers = json_object(), *env = json_object();
	json_t *secret = json_array();
	const struct release_check *ck = &s->check;
	unsigned port = s->port && s->port <= 65535 ? s->port : APP_PORT;
	unsigned inst;
	size_t i;

	json_object_set_new(root, "service", json_string(s->app));
	json_object_set_new(root, "image", json_string(repo));
	/* nothing is built by the engine, but every config names its arch */
	json_object_set_new(root, "builder", json_pack("{s:s}", "arch", "amd64"));
	json_object_set_new(root, "primary_role", json_string(primary->type));
	json_object_set_new(root, "run_directory", json_string(run_dir));
	for (i = 0; i < s->nprocs; i++) {
		const struct release_proc *p = &s->procs[i];
		json_t *role;

		if (!release_instances(p)) {
			continue;
		}
		role = json_pack("{s:[s]}", "hosts", HOST);
		if (p->cmd) {
			json_object_set_new(role, "cmd", json_string(p->cmd));
		}
		if (s->memory || s->cpus || (s->aliases && s->aliases->nr)) {
			json_t *opts = json_object();

			if (s->memory) {
				json_object_set_new(opts, "memory", json_string(s->memory));
			}
			if (s->cpus) {
				json_object_set_new(opts, "cpus", json_string(s->cpus));
			}
			if (s->aliases && s->aliases->nr) {
				json_t *names = json_array();

				for (size_t k = 0; k < s->aliases->nr; k++) {
					json_array_append_new(names, json_string(s->aliases->v[k]));
				}
				json_object_set_new(opts, "network-alias", names);
			}
			json_object_set_new(role, "options", opts);
		}
		if (!strcmp(p->type, "web")) {
			json_t *proxy = json_object(), *hc = json_object(), *hosts = json_array();
			size_t k;

			for (k = 0; s->domains && k < s->domains->nr; k++) {
				json_array_append_new(hosts, json_string(s->domains->v[k]));
			}
			if (json_array_size(hosts)) {
				json_object_set_new(proxy, "hosts", hosts);
			} else {
				json_decref(hosts);
			}
			json_object_set_new(proxy, "app_port", json_integer(port));
			json_object_set_new(hc, "path", json_string(ck->path ? ck->path : "/"));
			if (ck->wait_s) {
				json_object_set_new(hc, "interval", json_integer(ck->wait_s));
			}
			if (ck->timeout_s) {
				json_object_set_new(hc, "timeout", json_integer(ck->timeout_s));
			}
			json_object_set_new(proxy, "healthcheck", hc);
			if (s->ssl_acme) {
				json_object_set_new(proxy, "ssl", json_true());
			} else if (s->ssl_certificate_pem && s->ssl_private_key_pem) {
				json_object_set_new(proxy, "ssl",
						    json_pack("{s:s, s:s}", "certificate_pem",
							      RELEASE_TLS_CERT, "private_key_pem",
							      RELEASE_TLS_KEY));
			}
			json_object_set_new(role, "proxy", proxy);
			if (!has_name(s->env_names, "PORT")) {
				char num[16];

				snprintf(num, sizeof(num), "%u", port);
				json_object_set_new(role, "env",
						    json_pack("{s:{s:s}}", "clear", "PORT", num));
			}
		} else {
			json_object_set_new(role, "proxy", json_false());
		}
		if (!own_roles(p) && release_instances(p) > 1) {
			/* berth-proxy balances over them: the engine's instances, one switch */
			json_object_set_new(role, "instances", json_integer(release_instances(p)));
		}
		json_object_set_new(servers, p->type, role);
		for (inst = 2; own_roles(p) && inst <= release_instances(p); inst++) {
			/* the type's other instances: the same role under their own names */
			char *name = release_role_name(p->type, inst);

			json_object_set(servers, name, role);
			free(name);
		}
	}
	json_object_set_new(root, "servers", servers);
	for (i = 0; s->env_names && i < s->env_names->nr; i++) {
		json_array_append_new(secret, json_string(s->env_names->v[i]));
	}
	json_object_set_new(env, "secret", secret);
	json_object_set_new(root, "env", env);
	if (s->mounts && s->mounts->nr) {
		json_t *vols = json_array();

		for (i = 0; i < s->mounts->nr; i++) {
			json_array_append_new(vols, json_string(s->mounts->v[i]));
		}
		json_object_set_new(root, "volumes", vols);
	}
	/*
	 * Dokku's check: attempts tries, wait seconds apart, is how long the
	 * new version has to become healthy; uptime, how long a process
	 * without the proxy must stay up to count as started
	 */
	if (ck->attempts) {
		unsigned every =
		    (ck->wait_s ? ck->wait_s : 1) + (ck->timeout_s ? ck->timeout_s : 0);

		json_object_set_new(root, "deploy_timeout", json_integer(ck->attempts * every));
	}
	if (s->no_uptime) {
		json_object_set_new(root, "readiness_delay", json_integer(0));
	} else if (ck->uptime_s) {
		json_object_set_new(root, "readiness_delay", json_integer(ck->uptime_s));
	}
	if (s->release_cmd) {
		json_object_set_new(root, "release_command", json_string(s->release_cmd));
	}
	return root;
}

/* The config and secrets of spec (image repo: the image without its tag). */
static int spec_config(const struct release_spec *s, struct config *cfg, struct secrets *sec,
		       struct err *e)
{
	struct sbuf repo = SBUF_INIT, run_dir = SBUF_INIT, yaml = SBUF_INIT, file = SBUF_INIT;
	struct yaml_node *root = NULL;
	json_t *tree = NULL;
	size_t n, vl, i;
	int ret = -1;

	if (!s->app || !s->image || !s->version || !s->state_dir) {
		err_set(e, "a release needs an app, an image, a version and a state directory");
		goto out;
	}
	if (s->state_dir[0] != '/') {
		err_set(e, "state directory '%s' is not an absolute path", s->state_dir);
		goto out;
	}
	n = strlen(s->image);
	vl = strlen(s->version);
	if (n <= vl + 1 || strcmp(s->image + n - vl, s->version) || s->image[n - vl - 1] != ':') {
		err_set(e, "image '%s' is not tagged with the version '%s'", s->image, s->version);
		goto out;
	}
	if (!first_proc(s)) {
		err_set(e, "no process type of %s runs: scale one of them up (ps:scale web=1)",
			s->app);
		goto out;
	}
	for (i = 0; i < s->nprocs; i++) {
		for (size_t j = 0; j < s->nprocs; j++) {
			if (i != j && release_instances(&s->procs[j]) > 1 &&
			    release_role_is(s->procs[i].type, s->procs[j].type)) {
				err_set(e,
					"process type '%s' has the name of an instance of '%s': "
					"scale '%s' to 1 or rename the type",
					s->procs[i].type, s->procs[j].type, s->procs[j].type);
				goto out;
			}
		}
	}
	if ((s->env_names ? s->env_names->nr : 0) != (s->env_values ? s->env_values->nr : 0)) {
		err_set(e, "config vars: as many names as values expected");
		goto out;
	}
	for (i = 0; s->env_names && i < s->env_names->nr; i++) {
		if (!strcmp(s->env_names->v[i], RELEASE_TLS_CERT) ||
		    !strcmp(s->env_names->v[i], RELEASE_TLS_KEY)) {
			err_set(e, "config var %s: the name is berthd's own (certs:add)",
				s->env_names->v[i]);
			goto out;
		}
		secrets_set(sec, s->env_names->v[i], s->env_values->v[i], NULL);
	}
	if (!s->ssl_acme && s->ssl_certificate_pem && s->ssl_private_key_pem) {
		secrets_set(sec, RELEASE_TLS_CERT, s->ssl_certificate_pem, NULL);
		secrets_set(sec, RELEASE_TLS_KEY, s->ssl_private_key_pem, NULL);
	}
	sbuf_add(&repo, s->image, n - vl - 1);
	sbuf_addf(&run_dir, "%s/run", s->state_dir);
	tree = spec_tree(s, repo.buf, run_dir.buf);
	config_json_to_yaml(&yaml, tree);
	sbuf_addf(&file, "app %s", s->app);
	if (yaml_load(file.buf, yaml.buf, yaml.len, &root, e) < 0 ||
	    config_from_yaml(cfg, root, file.buf, s->state_dir, NULL, sec, e) < 0) {
		err_prefix(e, "cannot make the release of %s", s->app);
		goto out;
	}
	ret = 0;
out:
	yaml_node_free(root);
	json_decref(tree);
	sbuf_release(&repo);
	sbuf_release(&run_dir);
	sbuf_release(&yaml);
	sbuf_release(&file);
	return ret;
}

/*
 * Runs an app.json script (predeploy, postdeploy) once in a one-off
 * container of the new image, with the role's env as its env file (written
 * 0600 from stdin), the way the engine runs release_command: the script
 * engine/scripts/deploy-boot.sh, with no switch after it.
 */
static int one_off(const struct release_spec *s, struct exec *ex, const struct config *cfg,
		   const struct secrets *sec, const char *what, const char *cmdline, struct err *e)
{
	const struct config_role *role = config_role(cfg, cfg->primary_role);
	struct sbuf envp = SBUF_INIT, env = SBUF_INIT, name = SBUF_INIT, out = SBUF_INIT;
	struct strvec run = STRVEC_INIT, args = STRVEC_INIT;
	struct run_cmd cmd = RUN_CMD_INIT;
	struct exec_script sc = {0};
	struct app_run ar = {0};
	int ret = -1;

	say(s, "-----> Running %s (%s)", what, cmdline);
	app_env_path(&envp, cfg, role->name);
	if (app_env_file(&env, cfg, role, HOST, sec, e) < 0) {
		goto out;
	}
	sbuf_addf(&name, "%s-%s-%s", cfg->service, what, s->version);
	ar.version = s->version;
	ar.env_file = envp.buf;
	ar.host = HOST;
	ar.name = name.buf;
	ar.cmd = cmdline;
	if (app_run_argv(&run, cfg, role, &ar, e) < 0) {
		goto out;
	}
	strvec_pushv(&args, (const char *[]){envp.buf, name.buf, APP_NETWORK, "", NULL});
	strvec_pushf(&args, "%zu", run.nr);
	strvec_pushv(&args, (const char *const *)run.v);
	sc.text = script_deploy_boot;
	sc.name = "berthd";
	sc.args = (const char *const *)args.v;
	sc.in = slice_make(env.buf, env.len);
	sc.timeout_ms = EXEC_SCRIPT_TIMEOUT_MS * 10;
	sc.what = "its container";
	if (exec_script(ex, HOST, &sc, &cmd, e) < 0) {
		/* its last lines are the job's own output: it may print a config var */
		sbuf_addstr(&out, err_str(e));
		secrets_redact(sec, &out);
		err_release(e);
		err_set(e, "%s failed: %s", what, out.buf);
		goto out;
	}
	sbuf_add(&out, cmd.outbuf.buf, cmd.outbuf.len);
	sbuf_rtrim(&out);
	if (out.len >= 13 && !strcmp(out.buf + out.len - 13, "berth-started")) {
		sbuf_setlen(&out, out.len - 13);
		sbuf_rtrim(&out);
	}
	secrets_redact(sec, &out);
	if (out.len) {
		struct slice rest = slice_make(out.buf, out.len);

		while (rest.ptr) {
			struct slice l = slice_next(&rest, '\n');

			say(s, "       %.*s", (int)l.len, l.ptr);
		}
	}
	ret = 0;
out:
	sbuf_release(&envp);
	sbuf_release(&env);
	sbuf_release(&name);
	sbuf_release(&out);
	strvec_clear(&run);
	strvec_clear(&args);
	run_cmd_release(&cmd);
	return ret;
}

/*
 * Removes the containers of cfg's service whose role is no longer in cfg, or
 * whose instance (label instance=N) is past its role's instances: the
 * instances and types scaled down to fewer or none, of every version (a
 * rollback runs the current scale). A container that will not go is
 * reported, and the release stands.
 */
static void drop_scaled_down(const struct release_spec *s, const struct config *cfg)
{
	struct run_cmd ps = RUN_CMD_INIT;
	struct slice rest;

	strvec_pushv(&ps.argv,
		     (const char *[]){"docker", "ps", "-a", "--format",
				      "{{.ID}} {{.Label \"role\"}} {{.Label \"instance\"}}",
				      "--filter", NULL});
	strvec_pushf(&ps.argv, "label=service=%s", cfg->service);
	ps.out = RUN_IO_CAPTURE;
	ps.err = RUN_IO_CAPTURE;
	if (run_one(&ps) < 0) {
		struct slice t = run_tail_lines(&ps.errbuf, 3);

		say(s, " !     cannot list the containers of %s: %.*s", s->app, (int)t.len, t.ptr);
		goto out;
	}
	rest = slice_make(ps.outbuf.buf, ps.outbuf.len);
	while (rest.ptr) {
		struct slice line = slice_trim(slice_next(&rest, '\n'));
		struct slice id = slice_next(&line, ' ');
		struct run_cmd rm = RUN_CMD_INIT;
		const struct config_role *r;
		uint64_t inst = 0;
		char *role;

		if (!id.len || !line.ptr) {
			continue;
		}
		role = slice_dup(slice_trim(slice_next(&line, ' ')));
		if (line.ptr && !slice_to_u64(slice_trim(line), UINT32_MAX, &inst)) {
			inst = 0;
		}
		r = *role ? config_role(cfg, role) : NULL;
		if (*role && (!r || (long long)inst > r->instances)) {
			if (r) {
				say(s, "-----> Removing %s's %s.%u container (scaled down)", s->app,
				    role, (unsigned)inst);
			} else {
				say(s, "-----> Removing %s's %s container (scaled down)", s->app,
				    role);
			}
			strvec_pushv(&rm.argv, (const char *[]){"docker", "rm", "-f", NULL});
			strvec_pushf(&rm.argv, "%.*s", (int)id.len, id.ptr);
			rm.out = RUN_IO_CAPTURE;
			rm.err = RUN_IO_CAPTURE;
			if (run_one(&rm) < 0) {
				struct slice t = run_tail_lines(&rm.errbuf, 3);

				say(s, " !     cannot remove it: %.*s", (int)t.len, t.ptr);
			}
		}
		free(role);
		run_cmd_release(&rm);
	}
out:
	run_cmd_release(&ps);
}

static int release_run(const struct release_spec *s, enum deploy_mode mode, struct err *e)
{
	struct config cfg;
	struct secrets sec;
	struct exec ex;
	struct deploy_opts o = {0};
	int ret = -1;

	config_init(&cfg);
	secrets_init(&sec);
	exec_init(&ex, EXEC_LOCAL);
	if (spec_config(s, &cfg, &sec, e) < 0) {
		goto out;
	}
	if (mode == DEPLOY_NEW && s->predeploy &&
	    one_off(s, &ex, &cfg, &sec, "predeploy", s->predeploy, e) < 0) {
		goto out;
	}
	o.mode = mode;
	o.project_dir = s->state_dir;
	o.version = s->version;
	o.skip_push = true;
	o.skip_hooks = true;
	o.lock_wait_s = 60;
	o.command = mode == DEPLOY_ROLLBACK ? "rollback" : "deploy";
	o.progress = engine_line;
	o.progress_data = (void *)s;
	say(s, "=====> %s %s %s", mode == DEPLOY_ROLLBACK ? "Rolling back" : "Deploying", s->app,
	    s->version);
	if (deploy_run(&cfg, &sec, &ex, &o, e) < 0) {
		goto out;
	}
	drop_scaled_down(s, &cfg);
	if (mode == DEPLOY_NEW && s->postdeploy &&
	    one_off(s, &ex, &cfg, &sec, "postdeploy", s->postdeploy, e) < 0) {
		err_prefix(e, "%s %s serves", s->app, s->version);
		goto out;
	}
	say(s, "=====> %s %s %s",
	    mode == DEPLOY_ROLLBACK ? "Rolled back" : "Application deployed:", s->app, s->version);
	ret = 0;
out:
	exec_release(&ex);
	secrets_release(&sec);
	config_release(&cfg);
	return ret;
}

int release_deploy(const struct release_spec *spec, struct err *e)
{
	return release_run(spec, DEPLOY_NEW, e);
}

int release_rollback(const struct release_spec *spec, struct err *e)
{
	return release_run(spec, DEPLOY_ROLLBACK, e);
}
