#include <stdlib.h>
#include <string.h>

#include "engine/registry.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

bool registry_configured(const struct config *cfg)
{
	return cfg->registry.username && *cfg->registry.username;
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

/* Runs argv on every host with stdin from in (may be empty); failures, one per line, in e. */
static int run_hosts(struct exec *ex, const char *const *hosts, size_t n, const struct strvec *argv,
		     struct slice in, const char *password, struct err *e)
{
	struct run_cmd tmpl = RUN_CMD_INIT;
	struct run_cmd *cmds;
	struct sbuf msg = SBUF_INIT;
	struct err he = ERR_INIT;
	struct secrets red;
	size_t i;
	int ret = 0;

	if (!n) {
		return 0;
	}
	redactor(&red, password);
	if (log_get_level() >= LOG_DEBUG) {
		char *line = strvec_join(argv, " ");

		for (i = 0; i < n; i++) {
			log_debug("run on %s: %s", hosts[i], line);
		}
		free(line);
	}
	cmds = xcalloc(n, sizeof(*cmds));
	tmpl.in_mem = in;
	tmpl.out = RUN_IO_CAPTURE;
	tmpl.err = RUN_IO_CAPTURE;
	if (exec_run_hosts(ex, hosts, n, (const char *const *)argv->v, &tmpl, 0, cmds) < 0) {
		ret = -1;
	}
	for (i = 0; i < n; i++) {
		if (cmds[i].status == 0) {
			continue;
		}
		ret = -1;
		secrets_redact(&red, &cmds[i].errbuf);
		secrets_redact(&red, &cmds[i].outbuf);
		if (cmds[i].started) {
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
	run_cmd_release(&tmpl);
	secrets_release(&red);
	sbuf_release(&msg);
	err_release(&he);
	return ret;
}

int registry_login_local(const struct config *cfg, const struct secrets *sec, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	const char *user, *password;
	int ret = -1;

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
	struct strvec argv = STRVEC_INIT;
	const char *user, *password;
	int ret = -1;

	if (registry_credentials(&cfg->registry, sec, &user, &password, e) < 0) {
		goto out;
	}
	registry_login_argv(&argv, cfg->registry.server, user);
	ret = run_hosts(ex, hosts, n, &argv, slice_cstr(password), password, e);
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
	ret = run_hosts(ex, hosts, n, &argv, slice_make(NULL, 0), NULL, e);
	strvec_clear(&argv);
	return ret;
}

int registry_pull(struct exec *ex, const char *const *hosts, size_t n, const char *image_ref,
		  struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	int ret;

	strvec_pushv(&argv, (const char *[]){"docker", "pull", "--quiet", image_ref, NULL});
	ret = run_hosts(ex, hosts, n, &argv, slice_make(NULL, 0), NULL, e);
	strvec_clear(&argv);
	return ret;
}

int registry_push_local(const char *image_ref, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int ret;

	strvec_pushv(&c.argv, (const char *[]){"docker", "push", image_ref, NULL});
	ret = run_local(&c, "docker push", NULL, e);
	run_cmd_release(&c);
	return ret;
}
