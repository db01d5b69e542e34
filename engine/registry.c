#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/registry.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "engine/scripts.h"
#include "lib/banned.h"

bool registry_configured(const struct config *cfg)
{
	return (cfg->registry.username && *cfg->registry.username) || registry_local(cfg);
}

/* "localhost:PORT" at the start of s, followed by end ('\0': nothing): the port, else 0. */
static unsigned localhost_port(const char *s, char end)
{
	static const char lh[] = "localhost:";
	size_t n;
	uint64_t port;

	if (!s || strncmp(s, lh, sizeof(lh) - 1)) {
		return 0;
	}
	s += sizeof(lh) - 1;
	n = strspn(s, "0123456789");
	if (!n || s[n] != end || !slice_to_u64(slice_make(s, n), 65535, &port) || !port) {
		return 0;
	}
	return (unsigned)port;
}

unsigned registry_local_port(const struct config_registry *r)
{
	return localhost_port(r->server, '\0');
}

unsigned registry_ref_local_port(const char *image_ref)
{
	return localhost_port(image_ref, '/');
}

const char *registry_local_image(void)
{
	const char *v = getenv("BERTH_REGISTRY_IMAGE");

	return v && *v ? v : REGISTRY_LOCAL_IMAGE;
}

void registry_setup_argv(struct strvec *argv, unsigned port, const char *image)
{
	strvec_pushv(argv, (const char *[]){"sh", "-c", script_registry_setup, "berth-registry",
					    REGISTRY_LOCAL_CONTAINER, image, NULL});
	strvec_pushf(argv, "%u", port);
}

void registry_remove_argv(struct strvec *argv)
{
	strvec_pushv(argv, (const char *[]){"sh", "-c", script_registry_remove, "berth-registry",
					    REGISTRY_LOCAL_CONTAINER, NULL});
}

void registry_forward_argv(struct strvec *argv, unsigned port)
{
	struct strvec out = STRVEC_INIT;
	size_t i;

	if (!argv->nr || strcmp(argv->v[0], "ssh")) {
		return;
	}
	strvec_pushv(&out,
		     (const char *[]){"ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none",
				      "-o", "ExitOnForwardFailure=yes", "-R", NULL});
	strvec_pushf(&out, "127.0.0.1:%u:127.0.0.1:%u", port, port);
	for (i = 1; i < argv->nr; i++) {
		strvec_push(&out, argv->v[i]);
	}
	strvec_clear(argv);
	*argv = out;
}

int registry_credentials(const struct config_registry *r, const struct secrets *sec,
			 const char **user, const char **password, struct err *e)
{
	if (!r->username || !*r->username) {
		return err_set(e, "registry.username is not set: name the registry's user in the "
				  "config's registry section");
	}
	if (!r->password || !*r->password) {
		return err_set(e, "registry.password is not set: name the secret that holds it, "
				  "as in password: [KAMAL_REGISTRY_PASSWORD]");
	}
	*user = r->username_secret ? (sec ? secrets_get(sec, r->username) : NULL) : r->username;
	if (!*user) {
		return err_set(e, "registry.username: secret '%s' is not set in the secrets files",
			       r->username);
	}
	*password = r->password_secret ? (sec ? secrets_get(sec, r->password) : NULL) : r->password;
	if (!*password) {
		return err_set(e, "registry.password: secret '%s' is not set in the secrets files",
			       r->password);
	}
	return 0;
}

void registry_login_argv(struct strvec *argv, const char *server, const char *user)
{
	strvec_pushv(argv, (const char *[]){"docker", "login", NULL});
	if (server && *server) {
		strvec_push(argv, server);
	}
	strvec_pushv(argv, (const char *[]){"-u", user, "--password-stdin", NULL});
}

void registry_logout_argv(struct strvec *argv, const char *server)
{
	strvec_pushv(argv, (const char *[]){"docker", "logout", NULL});
	if (server && *server) {
		strvec_push(argv, server);
	}
}

/* A struct secrets holding the password alone, to redact command output with. */
static void redactor(struct secrets *r, const char *password)
{
	secrets_init(r);
	if (password) {
		secrets_set(r, "password", password, NULL);
	}
}

/* Runs c here, output kept (or shown at -v); on failure sets e from what it printed. */
static int run_local(struct run_cmd *c, const char *what, const char *password, struct err *e)
{
	struct secrets red;
	struct sbuf how = SBUF_INIT;
	int ret = 0;

	if (log_get_level() >= LOG_DEBUG) {
		char *line = strvec_join(&c->argv, " ");

		log_debug("run: %s", line);
		free(line);
	}
	c->out = log_get_level() >= LOG_DEBUG && !password ? RUN_IO_INHERIT : RUN_IO_CAPTURE;
	c->err = RUN_IO_CAPTURE;
	c->capture_max = 4 * 1024 * 1024;
	if (run_one(c) == 0) {
		return 0;
	}
	redactor(&red, password);
	secrets_redact(&red, &c->errbuf);
	secrets_redact(&red, &c->outbuf);
	run_describe_status(c, &how);
	{
		struct slice tail = run_tail_lines(c->errbuf.len ? &c->errbuf : &c->outbuf, 5);

		if (tail.len && c->started) {
			err_set(e, "%s %s:\n%.*s", what, how.buf, (int)tail.len, tail.ptr);
		} else {
			err_set(e, "%s %s", what, how.buf);
		}
	}
	secrets_release(&red);
	sbuf_release(&how);
	ret = -1;
	return ret;
}

/*
 * Runs argv on every host with stdin from in (may be empty); failures, one
 * per line, in e. fwd_port: each ssh command also holds a remote forward of
 * the host's 127.0.0.1:fwd_port to this machine's (0: none).
 */
static int run_hosts(struct exec *ex, const char *const *hosts, size_t n, const struct strvec *argv,
		     struct slice in, const char *password, unsigned fwd_port, struct err *e)
{
	struct run_cmd **ptrs;
	struct run_cmd *cmds;
	struct sbuf msg = SBUF_INIT;
	struct err he = ERR_INIT;
	struct secrets red;
	size_t i, nrun = 0;
	int ret = 0;

	if (!n) {
		return 0;
	}
	redactor(&red, password);
	if (log_get_level() >= LOG_DEBUG) {
		char *line = strvec_join(argv, " ");

		for (i = 0; i < n; i++) {
			log_debug("run on %s%s: %s", hosts[i],
				  fwd_port ? " (registry port forwarded)" : "", line);
		}
		free(line);
	}
	cmds = xcalloc(n, sizeof(*cmds));
	ptrs = xcalloc(n, sizeof(*ptrs));
	for (i = 0; i < n; i++) {
		run_cmd_init(&cmds[i]);
		cmds[i].in_mem = in;
		cmds[i].out = RUN_IO_CAPTURE;
		cmds[i].err = RUN_IO_CAPTURE;
		if (exec_prepare(ex, hosts[i], (const char *const *)argv->v, &cmds[i], &he) < 0) {
			/* a host we cannot even name fails on its own; the others still run */
			cmds[i].status = 127;
			sbuf_addf(&cmds[i].errbuf, "%s\n", err_str(&he));
			continue;
		}
		if (fwd_port && ex->kind == EXEC_SSH) {
			registry_forward_argv(&cmds[i].argv, fwd_port);
		}
		ptrs[nrun++] = &cmds[i];
	}
	run_all(ptrs, nrun, 0);
	for (i = 0; i < n; i++) {
		if (cmds[i].status == 0) {
			continue;
		}
		ret = -1;
		secrets_redact(&red, &cmds[i].errbuf);
		secrets_redact(&red, &cmds[i].outbuf);
		if (fwd_port && slice_find(slice_make(cmds[i].errbuf.buf, cmds[i].errbuf.len),
					   "port forwarding failed") >= 0) {
			sbuf_addf(&msg,
				  "%shost '%s': cannot forward the local registry's port %u to it: "
				  "something there listens on 127.0.0.1:%u already (a pull from "
				  "another berth, or a service of the host's own); choose another "
				  "port in registry.server",
				  msg.len ? "\n" : "", hosts[i], fwd_port, fwd_port);
		} else if (cmds[i].started) {
			if (!cmds[i].errbuf.len) {
				sbuf_add(&cmds[i].errbuf, cmds[i].outbuf.buf, cmds[i].outbuf.len);
			}
			exec_explain(ex, hosts[i], &cmds[i], &he);
			sbuf_addf(&msg, "%s%s", msg.len ? "\n" : "", err_str(&he));
		} else {
			sbuf_addf(
			    &msg, "%shost '%s': %.*s", msg.len ? "\n" : "", hosts[i],
			    (int)slice_trim(slice_make(cmds[i].errbuf.buf, cmds[i].errbuf.len)).len,
			    cmds[i].errbuf.buf);
		}
	}
	if (ret < 0) {
		err_set(e, "%s", msg.len ? msg.buf : "a command failed on the hosts");
	}
	for (i = 0; i < n; i++) {
		run_cmd_release(&cmds[i]);
	}
	free(cmds);
	free(ptrs);
	secrets_release(&red);
	sbuf_release(&msg);
	err_release(&he);
	return ret;
}

int registry_setup_local(const struct config *cfg, const char **what, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	unsigned port = registry_local_port(&cfg->registry);
	const char *image = registry_local_image();
	struct slice out;
	int ret = -1;

	if (!port) {
		return err_set(e, "registry.server '%s' is not a local registry (localhost:PORT)",
			       cfg->registry.server ? cfg->registry.server : "");
	}
	registry_setup_argv(&c.argv, port, image);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	c.capture_max = 1024 * 1024;
	log_debug("run: docker run --detach --restart unless-stopped -p 127.0.0.1:%u:5000 --name "
		  "%s %s (unless it runs)",
		  port, REGISTRY_LOCAL_CONTAINER, image);
	if (run_one(&c) < 0) {
		struct sbuf how = SBUF_INIT;
		struct slice tail = run_tail_lines(c.errbuf.len ? &c.errbuf : &c.outbuf, 5);

		out = slice_trim(slice_make(c.outbuf.buf, c.outbuf.len));
		if (c.status == 3) {
			err_set(e,
				"the container '%s' here publishes %.*s, not %u as registry.server "
				"says: 'berth registry remove' it first (its images go with it)",
				REGISTRY_LOCAL_CONTAINER, (int)out.len, out.ptr, port);
		} else {
			run_describe_status(&c, &how);
			err_set(e,
				"cannot run the local registry '%s' (%s on 127.0.0.1:%u) %s%s%.*s",
				REGISTRY_LOCAL_CONTAINER, image, port, how.buf,
				tail.len ? ":\n" : "", (int)tail.len, tail.ptr);
		}
		sbuf_release(&how);
		goto out;
	}
	out = slice_trim(slice_make(c.outbuf.buf, c.outbuf.len));
	if (what) {
		*what = slice_eq_cstr(out, "running")	? "running"
			: slice_eq_cstr(out, "started") ? "started"
							: "created";
	}
	ret = 0;
out:
	run_cmd_release(&c);
	return ret;
}

int registry_remove_local(bool *removed, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int ret;

	registry_remove_argv(&c.argv);
	log_debug("run: docker container stop %s && docker container rm %s (if it is there)",
		  REGISTRY_LOCAL_CONTAINER, REGISTRY_LOCAL_CONTAINER);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	ret = run_one(&c);
	if (ret < 0) {
		struct sbuf how = SBUF_INIT;
		struct slice tail = run_tail_lines(&c.errbuf, 5);

		run_describe_status(&c, &how);
		err_set(e, "cannot remove the local registry '%s': %s%s%.*s",
			REGISTRY_LOCAL_CONTAINER, how.buf, tail.len ? ":\n" : "", (int)tail.len,
			tail.ptr);
		sbuf_release(&how);
	} else if (removed) {
		*removed =
		    slice_eq_cstr(slice_trim(slice_make(c.outbuf.buf, c.outbuf.len)), "removed");
	}
	run_cmd_release(&c);
	return ret;
}

int registry_login_local(const struct config *cfg, const struct secrets *sec, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	const char *user, *password;
	int ret = -1;

	if (registry_local(cfg)) {
		return registry_setup_local(cfg, NULL, e);
	}
	if (registry_credentials(&cfg->registry, sec, &user, &password, e) < 0) {
		goto out;
	}
	registry_login_argv(&c.argv, cfg->registry.server, user);
	c.in_mem = slice_cstr(password);
	ret = run_local(&c, "docker login", password, e);
out:
	run_cmd_release(&c);
	return ret;
}

int registry_login(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   const struct secrets *sec, struct err *e)
{
	if (registry_local(cfg)) {
		return 0;
	}
	return registry_login_hosts(ex, hosts, n, &cfg->registry, sec, e);
}

int registry_login_hosts(struct exec *ex, const char *const *hosts, size_t n,
			 const struct config_registry *r, const struct secrets *sec, struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	const char *user, *password;
	int ret = -1;

	if (registry_credentials(r, sec, &user, &password, e) < 0) {
		goto out;
	}
	registry_login_argv(&argv, r->server, user);
	ret = run_hosts(ex, hosts, n, &argv, slice_cstr(password), password, 0, e);
out:
	strvec_clear(&argv);
	return ret;
}

int registry_logout_local(const struct config *cfg, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int ret;

	registry_logout_argv(&c.argv, cfg->registry.server);
	ret = run_local(&c, "docker logout", NULL, e);
	run_cmd_release(&c);
	return ret;
}

int registry_logout(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		    struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	int ret;

	registry_logout_argv(&argv, cfg->registry.server);
	ret = run_hosts(ex, hosts, n, &argv, slice_make(NULL, 0), NULL, 0, e);
	strvec_clear(&argv);
	return ret;
}

int registry_pull(struct exec *ex, const char *const *hosts, size_t n, const char *image_ref,
		  struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	int ret;

	strvec_pushv(&argv, (const char *[]){"docker", "pull", "--quiet", image_ref, NULL});
	ret = run_hosts(ex, hosts, n, &argv, slice_make(NULL, 0), NULL,
			registry_ref_local_port(image_ref), e);
	strvec_clear(&argv);
	return ret;
}

/* the refs a buildx build pushed itself, in this process */
static struct strvec pushed = STRVEC_INIT;
static pthread_mutex_t pushed_mu = PTHREAD_MUTEX_INITIALIZER;

void registry_note_pushed(const char *image_ref)
{
	pthread_mutex_lock(&pushed_mu);
	strvec_push(&pushed, image_ref);
	pthread_mutex_unlock(&pushed_mu);
}

static bool was_pushed(const char *image_ref)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&pushed_mu);
	for (i = 0; i < pushed.nr && !found; i++) {
		found = !strcmp(pushed.v[i], image_ref);
	}
	pthread_mutex_unlock(&pushed_mu);
	return found;
}

int registry_push_local(const char *image_ref, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int ret;

	if (was_pushed(image_ref)) {
		log_debug("%s was pushed by the build", image_ref);
		return 0;
	}

	strvec_pushv(&c.argv, (const char *[]){"docker", "push", image_ref, NULL});
	ret = run_local(&c, "docker push", NULL, e);
	run_cmd_release(&c);
	return ret;
}
