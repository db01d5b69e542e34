#include <ctype.h>
#include <string.h>

#include "engine/app.h"
#include "engine/hoststate.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

bool app_version_ok(const char *v)
{
	size_t i, n = strlen(v);

	if (!n || n > APP_VERSION_MAX || v[0] == '.' || v[0] == '-') {
		return false;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '-') {
			return false;
		}
	}
	return true;
}

void app_role_name(struct sbuf *out, const struct config *cfg, const char *role)
{
	sbuf_addf(out, "%s-%s", cfg->service, role);
	if (cfg->destination) {
		sbuf_addf(out, "-%s", cfg->destination);
	}
}

void app_container_name(struct sbuf *out, const struct config *cfg, const char *role,
			const char *version)
{
	app_role_name(out, cfg, role);
	sbuf_addf(out, "-%s", version);
}

void app_image_repo(struct sbuf *out, const struct config *cfg)
{
	const char *img = cfg->image ? cfg->image : cfg->service;

	if (cfg->registry.server && *cfg->registry.server) {
		sbuf_addf(out, "%s/", cfg->registry.server);
	}
	sbuf_addstr(out, img);
}

void app_image_ref(struct sbuf *out, const struct config *cfg, const char *version)
{
	app_image_repo(out, cfg);
	sbuf_addf(out, ":%s", version);
}

void app_env_path(struct sbuf *out, const struct config *cfg, const char *role)
{
	const char *run_dir = cfg->run_directory ? cfg->run_directory : HOSTSTATE_RUN_DIR;
	size_t len = strlen(run_dir);

	while (len > 1 && run_dir[len - 1] == '/') {
		len--;
	}
	sbuf_add(out, run_dir, len);
	sbuf_addf(out, "%sapps/%s", run_dir[len - 1] == '/' ? "" : "/", cfg->service);
	if (cfg->destination) {
		sbuf_addf(out, "-%s", cfg->destination);
	}
	sbuf_addf(out, "/env/%s.env", role);
}

static bool env_name_ok(const char *s)
{
	if (!*s || isdigit((unsigned char)*s)) {
		return false;
	}
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_') {
			return false;
		}
	}
	return true;
}

static void env_line(struct sbuf *out, const char *name, const char *value)
{
	sbuf_addf(out, "%s=", name);
	for (; *value; value++) {
		if (*value == '\n') {
			sbuf_addstr(out, "\\n");
		} else if (*value != '\r') {
			sbuf_addch(out, *value);
		}
	}
	sbuf_addch(out, '\n');
}

int app_env_file(struct sbuf *out, const struct config_role *role, const struct secrets *sec,
		 struct err *e)
{
	size_t i;

	for (i = 0; i < role->env.clear.nr; i++) {
		const struct config_pair *p = &role->env.clear.v[i];

		if (!env_name_ok(p->key)) {
			return err_set(e, "env: '%s' is not a valid environment variable name",
				       p->key);
		}
		env_line(out, p->key, p->value ? p->value : "");
	}
	for (i = 0; i < role->env.secret_names.nr; i++) {
		const char *name = role->env.secret_names.v[i];
		const char *key = role->env.secret_keys.v[i];
		const char *v = sec ? secrets_get(sec, key) : NULL;

		if (!env_name_ok(name)) {
			return err_set(
			    e, "env.secret: '%s' is not a valid environment variable name", name);
		}
		if (!v) {
			return err_set(e, "env.secret: secret '%s' is not set in the secrets files",
				       key);
		}
		env_line(out, name, v);
	}
	return 0;
}

void app_filter_argv(struct strvec *argv, const struct config *cfg, const char *role)
{
	strvec_push(argv, "--filter");
	strvec_pushf(argv, "label=service=%s", cfg->service);
	if (role) {
		strvec_push(argv, "--filter");
		strvec_pushf(argv, "label=role=%s", role);
	}
	/* always: a deploy without a destination must not take a destination's containers */
	strvec_push(argv, "--filter");
	strvec_pushf(argv, "label=destination=%s", cfg->destination ? cfg->destination : "");
}

int app_split_words(const char *line, struct strvec *out, struct err *e)
{
	struct sbuf w = SBUF_INIT;
	const char *p = line;
	bool in_word = false;
	size_t before = out->nr;
	int ret = -1;

	while (*p) {
		char c = *p;

		if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word) {
				strvec_push(out, w.buf);
				sbuf_reset(&w);
				in_word = false;
			}
			p++;
		} else if (c == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (!end) {
				err_set(e, "unterminated single quote in '%s'", line);
				goto out;
			}
			sbuf_add(&w, p + 1, (size_t)(end - p - 1));
			in_word = true;
			p = end + 1;
		} else if (c == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1] && strchr("\\\"$`\n", p[1])) {
					if (p[1] != '\n') {
						sbuf_addch(&w, p[1]);
					}
					p += 2;
				} else {
					sbuf_addch(&w, *p++);
				}
			}
			if (!*p) {
				err_set(e, "unterminated double quote in '%s'", line);
				goto out;
			}
			p++;
			in_word = true;
		} else if (c == '\\') {
			if (!p[1]) {
				err_set(e, "a backslash ends '%s'", line);
				goto out;
			}
			if (p[1] != '\n') {
				sbuf_addch(&w, p[1]);
				in_word = true;
			}
			p += 2;
		} else {
			sbuf_addch(&w, c);
			in_word = true;
			p++;
		}
	}
	if (in_word) {
		strvec_push(out, w.buf);
	}
	if (out->nr == before) {
		err_set(e, "the command is empty");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		while (out->nr > before) {
			free(out->v[--out->nr]);
			out->v[out->nr] = NULL;
		}
	}
	sbuf_release(&w);
	return ret;
}

static void push_option(struct strvec *argv, const struct config_pair *p)
{
	if (p->value) {
		strvec_pushf(argv, "--%s=%s", p->key, p->value);
	} else {
		strvec_pushf(argv, "--%s", p->key);
	}
}

int app_run_argv(struct strvec *argv, const struct config *cfg, const struct config_role *role,
		 const struct app_run *r, struct err *e)
{
	struct sbuf sb = SBUF_INIT;
	const struct config_logging *lg = &role->logging;
	const char *cmd = r->cmd ? r->cmd : role->cmd;
	size_t i;
	int ret = -1;

	strvec_pushv(argv, (const char *[]){"docker", "run", NULL});
	if (r->detach) {
		strvec_pushv(argv,
			     (const char *[]){"--detach", "--restart", "unless-stopped", NULL});
	} else {
		strvec_push(argv, "--rm");
	}
	strvec_push(argv, "--name");
	if (r->name) {
		strvec_push(argv, r->name);
	} else {
		app_container_name(&sb, cfg, role->name, r->version);
		strvec_push(argv, sb.buf);
		sbuf_reset(&sb);
	}
	strvec_pushv(argv, (const char *[]){"--network", APP_NETWORK, NULL});
	strvec_pushf(argv, "--env=BERTH_VERSION=%s", r->version);
	if (r->host) {
		strvec_pushf(argv, "--env=BERTH_HOST=%s", r->host);
	}
	if (r->env_file) {
		strvec_pushf(argv, "--env-file=%s", r->env_file);
	}
	if (r->detach) {
		if (lg->driver) {
			strvec_pushf(argv, "--log-driver=%s", lg->driver);
		}
		if (lg->options.nr) {
			for (i = 0; i < lg->options.nr; i++) {
				strvec_pushf(argv, "--log-opt=%s=%s", lg->options.v[i].key,
					     lg->options.v[i].value ? lg->options.v[i].value : "");
			}
		} else if (!lg->driver || !strcmp(lg->driver, "json-file") ||
			   !strcmp(lg->driver, "local")) {
			strvec_push(argv, "--log-opt=max-size=10m");
		}
	}
	for (i = 0; i < cfg->volumes.nr; i++) {
		strvec_pushf(argv, "--volume=%s", cfg->volumes.v[i]);
	}
	strvec_pushf(argv, "--label=service=%s", cfg->service);
	strvec_pushf(argv, "--label=role=%s", role->name);
	strvec_pushf(argv, "--label=destination=%s", cfg->destination ? cfg->destination : "");
	strvec_pushf(argv, "--label=version=%s", r->version);
	for (i = 0; i < cfg->labels.nr; i++) {
		strvec_pushf(argv, "--label=%s=%s", cfg->labels.v[i].key,
			     cfg->labels.v[i].value ? cfg->labels.v[i].value : "");
	}
	for (i = 0; i < role->labels.nr; i++) {
		strvec_pushf(argv, "--label=%s=%s", role->labels.v[i].key,
			     role->labels.v[i].value ? role->labels.v[i].value : "");
	}
	for (i = 0; i < role->options.nr; i++) {
		push_option(argv, &role->options.v[i]);
	}
	app_image_ref(&sb, cfg, r->version);
	strvec_push(argv, sb.buf);
	if (cmd && app_split_words(cmd, argv, e) < 0) {
		goto out;
	}
	ret = 0;
out:
	sbuf_release(&sb);
	return ret;
}

void app_proxy_deploy_argv(struct strvec *argv, const struct config *cfg,
			   const struct config_role *role, const char *target)
{
	const struct config_proxy *p = &role->proxy;
	struct sbuf sb = SBUF_INIT;
	size_t i;

	strvec_pushv(argv, (const char *[]){"docker", "exec", APP_PROXY_CONTAINER, "berth-proxy",
					    "deploy", NULL});
	app_role_name(&sb, cfg, role->name);
	strvec_push(argv, sb.buf);
	strvec_pushf(argv, "--target=%s", target);
	for (i = 0; i < p->hosts.nr; i++) {
		strvec_pushf(argv, "--host=%s", p->hosts.v[i]);
	}
	if (p->path_prefixes.nr) {
		strvec_pushf(argv, "--path-prefix=%s", p->path_prefixes.v[0]);
	}
	if (p->strip_path_prefix == 0) {
		strvec_push(argv, "--strip-path-prefix=false");
	}
	strvec_pushf(argv, "--health-check-path=%s",
		     p->healthcheck_path ? p->healthcheck_path : "/up");
	strvec_pushf(argv, "--health-check-interval=%llds",
		     p->healthcheck_interval > 0 ? p->healthcheck_interval : 1);
	strvec_pushf(argv, "--health-check-timeout=%llds",
		     p->healthcheck_timeout > 0 ? p->healthcheck_timeout : 5);
	strvec_pushf(argv, "--deploy-timeout=%llds",
		     cfg->deploy_timeout > 0 ? cfg->deploy_timeout : 30);
	strvec_pushf(argv, "--drain-timeout=%llds",
		     cfg->drain_timeout >= 0 ? cfg->drain_timeout : 30);
	strvec_pushf(argv, "--target-timeout=%llds",
		     p->response_timeout > 0 ? p->response_timeout : 30);
	if (p->forward_headers == 1) {
		strvec_push(argv, "--forward-headers");
	}
	if (p->buffer_requests == 1) {
		strvec_push(argv, "--buffer-requests");
	}
	if (p->max_request_body > 0) {
		strvec_pushf(argv, "--max-request-body=%lld", p->max_request_body);
	}
	sbuf_release(&sb);
}
