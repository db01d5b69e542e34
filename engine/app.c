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

void app_instance_name(struct sbuf *out, const struct config *cfg, const char *role,
		       const char *version, unsigned instance)
{
	if (instance <= 1) {
		app_container_name(out, cfg, role, version);
		return;
	}
	sbuf_addf(out, "%s-%s.%u", cfg->service, role, instance);
	if (cfg->destination) {
		sbuf_addf(out, "-%s", cfg->destination);
	}
	sbuf_addf(out, "-%s", version);
}

const char *app_instance_version(const struct config *cfg, const struct config_role *role,
				 const char *name, unsigned *instance)
{
	struct sbuf pre = SBUF_INIT;
	const char *v = NULL;
	unsigned k;

	for (k = 1; !v && k <= (role->instances > 1 ? (unsigned)role->instances : 1); k++) {
		/* the name of the version "": the prefix every version follows */
		sbuf_reset(&pre);
		app_instance_name(&pre, cfg, role->name, "", k);
		if (!strncmp(name, pre.buf, pre.len) && app_version_ok(name + pre.len)) {
			v = name + pre.len;
			*instance = k;
		}
	}
	sbuf_release(&pre);
	return v;
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

/* "<run dir>/apps/<service>[-<destination>]", as engine/hoststate.h keeps it */
static void app_dir(struct sbuf *out, const struct config *cfg)
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
}

void app_env_path(struct sbuf *out, const struct config *cfg, const char *role)
{
	app_dir(out, cfg);
	sbuf_addf(out, "/env/%s.env", role);
}

bool app_assets(const struct config_role *role)
{
	return role->asset_path && role->asset_path[0] == '/' && role->proxy.enabled;
}

void app_asset_path(const struct config_role *role, struct sbuf *path, struct sbuf *options)
{
	const char *s = role->asset_path ? role->asset_path : "";
	const char *colon = strchr(s, ':');

	sbuf_add(path, s, colon ? (size_t)(colon - s) : strlen(s));
	if (options && colon) {
		sbuf_addstr(options, colon + 1);
	}
}

void app_assets_dir(struct sbuf *out, const struct config *cfg, const char *role)
{
	app_dir(out, cfg);
	sbuf_addf(out, "/assets/%s", role);
}

void app_assets_container(struct sbuf *out, const struct config *cfg, const char *role)
{
	/* no version makes this a container name: versions follow a '-' */
	app_role_name(out, cfg, role);
	sbuf_addstr(out, "_assets");
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

/* Whether over sets name, clear or secret. */
static bool env_overridden(const struct config_env *over, const char *name)
{
	size_t i;

	for (i = 0; i < over->clear.nr; i++) {
		if (!strcmp(over->clear.v[i].key, name)) {
			return true;
		}
	}
	for (i = 0; i < over->secret_names.nr; i++) {
		if (!strcmp(over->secret_names.v[i], name)) {
			return true;
		}
	}
	return false;
}

/* Appends env's lines, leaving out the names that a later env (of tags) sets. */
static int env_lines(struct sbuf *out, const struct config_env *env,
		     const struct config_env *const *later, size_t nlater,
		     const struct secrets *sec, struct err *e)
{
	size_t i, k;

	for (i = 0; i < env->clear.nr; i++) {
		const struct config_pair *p = &env->clear.v[i];

		if (!env_name_ok(p->key)) {
			return err_set(e, "env: '%s' is not a valid environment variable name",
				       p->key);
		}
		for (k = 0; k < nlater && !env_overridden(later[k], p->key); k++) {
		}
		if (k == nlater) {
			env_line(out, p->key, p->value ? p->value : "");
		}
	}
	for (i = 0; i < env->secret_names.nr; i++) {
		const char *name = env->secret_names.v[i];
		const char *key = env->secret_keys.v[i];
		const char *v = sec ? secrets_get(sec, key) : NULL;

		if (!env_name_ok(name)) {
			return err_set(
			    e, "env.secret: '%s' is not a valid environment variable name", name);
		}
		if (!v) {
			return err_set(e, "env.secret: secret '%s' is not set in the secrets files",
				       key);
		}
		for (k = 0; k < nlater && !env_overridden(later[k], name); k++) {
		}
		if (k == nlater) {
			env_line(out, name, v);
		}
	}
	return 0;
}

int app_env_file(struct sbuf *out, const struct config *cfg, const struct config_role *role,
		 const char *host, const struct secrets *sec, struct err *e)
{
	const struct config_env *envs[17];
	const struct strvec *tags = NULL;
	size_t i, k, n = 0;

	/* the role's env, then the env of each of the host's tags that has one */
	envs[n++] = &role->env;
	for (i = 0; host && i < role->nr_hosts && !tags; i++) {
		if (!strcmp(role->hosts[i].name, host)) {
			tags = &role->hosts[i].tags;
		}
	}
	for (i = 0; tags && i < tags->nr && n < 17; i++) {
		for (k = 0; k < cfg->nr_env_tags; k++) {
			if (!strcmp(cfg->env_tags[k].name, tags->v[i])) {
				envs[n++] = &cfg->env_tags[k].env;
				break;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (env_lines(out, envs[i], envs + i + 1, n - i - 1, sec, e) < 0) {
			return -1;
		}
	}
	return 0;
}

int app_env_text(struct sbuf *out, const struct config_env *env, const struct secrets *sec,
		 struct err *e)
{
	return env_lines(out, env, NULL, 0, sec, e);
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
	} else if (r->background) {
		strvec_push(argv, "--detach");
	} else {
		strvec_push(argv, "--rm");
	}
	strvec_push(argv, "--name");
	if (r->name) {
		strvec_push(argv, r->name);
	} else {
		app_instance_name(&sb, cfg, role->name, r->version, r->instance);
		strvec_push(argv, sb.buf);
		sbuf_reset(&sb);
	}
	strvec_pushv(argv, (const char *[]){"--network", APP_NETWORK, NULL});
	strvec_pushf(argv, "--env=BERTH_VERSION=%s", r->version);
	if (r->host) {
		strvec_pushf(argv, "--env=BERTH_HOST=%s", r->host);
	}
	/* what Kamal sets, which apps written for Kamal read */
	strvec_pushf(argv, "--env=KAMAL_VERSION=%s", r->version);
	if (r->host) {
		strvec_pushf(argv, "--env=KAMAL_HOST=%s", r->host);
	}
	if (r->name) {
		strvec_pushf(argv, "--env=KAMAL_CONTAINER_NAME=%s", r->name);
	} else {
		app_instance_name(&sb, cfg, role->name, r->version, r->instance);
		strvec_pushf(argv, "--env=KAMAL_CONTAINER_NAME=%s", sb.buf);
		sbuf_reset(&sb);
	}
	if (cfg->destination) {
		strvec_pushf(argv, "--env=KAMAL_DESTINATION=%s", cfg->destination);
	}
	strvec_pushf(argv, "--env=KAMAL_SERVICE=%s", cfg->service);
	if (r->env_file) {
		strvec_pushf(argv, "--env-file=%s", r->env_file);
	}
	for (i = 0; r->env && i < r->env->nr; i++) {
		strvec_pushf(argv, "--env=%s", r->env->v[i]);
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
	if (r->assets_dir && app_assets(role)) {
		struct sbuf path = SBUF_INIT, opts = SBUF_INIT;

		app_asset_path(role, &path, &opts);
		strvec_pushf(argv, "--volume=%s:%s%s%s", r->assets_dir, path.buf,
			     opts.len ? ":" : "", opts.len ? opts.buf : "");
		sbuf_release(&path);
		sbuf_release(&opts);
	}
	strvec_pushf(argv, "--label=service=%s", cfg->service);
	strvec_pushf(argv, "--label=role=%s", role->name);
	strvec_pushf(argv, "--label=destination=%s", cfg->destination ? cfg->destination : "");
	strvec_pushf(argv, "--label=version=%s", r->version);
	if (r->instance > 1) {
		strvec_pushf(argv, "--label=instance=%u", r->instance);
	}
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

bool app_proxy_tls_pem_needed(const struct config_role *role)
{
	return role->proxy.enabled && role->proxy.ssl && role->proxy.ssl_certificate_pem &&
	       role->proxy.ssl_private_key_pem;
}

int app_proxy_tls_pem(struct sbuf *out, const struct config_role *role, const struct secrets *sec,
		      struct err *e)
{
	const char *names[2] = {role->proxy.ssl_certificate_pem, role->proxy.ssl_private_key_pem};
	size_t i;

	for (i = 0; i < 2; i++) {
		const char *v = sec ? secrets_get(sec, names[i]) : NULL;

		if (!v || !*v) {
			err_set(e, "proxy.ssl.%s: the secret '%s' is not set in any secrets file",
				i ? "private_key_pem" : "certificate_pem", names[i]);
			return -1;
		}
		sbuf_addstr(out, v);
		if (out->buf[out->len - 1] != '\n') {
			sbuf_addch(out, '\n');
		}
	}
	return 0;
}

bool app_proxy_tls_shared(const struct config_role *role)
{
	return role->proxy.enabled && role->proxy.ssl && !app_proxy_tls_pem_needed(role) &&
	       role->nr_hosts > 1;
}

void app_proxy_tls_issuer(struct sbuf *out, const struct config *cfg,
			  const struct config_role *role)
{
	const char *h = role->nr_hosts ? role->hosts[0].name : "";
	long long port = cfg->proxy_run.http_port > 0 ? cfg->proxy_run.http_port : 80;

	/* an IPv6 address goes in brackets, as berth-proxy's --tls-issuer takes HOST:PORT */
	if (strchr(h, ':') && h[0] != '[') {
		sbuf_addf(out, "[%s]:%lld", h, port);
	} else {
		sbuf_addf(out, "%s:%lld", h, port);
	}
}

void app_proxy_tls_secret_argv(struct strvec *argv, const struct config *cfg,
			       const struct config_role *role)
{
	struct sbuf sb = SBUF_INIT;

	app_role_name(&sb, cfg, role->name);
	strvec_pushv(argv, (const char *[]){"docker", "exec", APP_PROXY_CONTAINER, "berth-proxy",
					    "tls-secret", sb.buf, NULL});
	sbuf_release(&sb);
}

void app_proxy_deploy_argv(struct strvec *argv, const struct config *cfg,
			   const struct config_role *role, const char *target, const char *issuer)
{
	struct sbuf sb = SBUF_INIT;

	app_role_name(&sb, cfg, role->name);
	app_proxy_service_argv(argv, cfg, &role->proxy, sb.buf, target, issuer);
	sbuf_release(&sb);
}

void app_proxy_deploy_argv_targets(struct strvec *argv, const struct config *cfg,
				   const struct config_role *role, const struct strvec *targets,
				   const char *issuer)
{
	struct strvec one = STRVEC_INIT;
	size_t i, k;

	app_proxy_deploy_argv(&one, cfg, role, targets->v[0], issuer);
	for (i = 0; i < one.nr; i++) {
		strvec_push(argv, one.v[i]);
		if (!strncmp(one.v[i], "--target=", 9)) {
			/* the others right after the first, as kamal-proxy takes them */
			for (k = 1; k < targets->nr; k++) {
				strvec_pushf(argv, "--target=%s", targets->v[k]);
			}
		}
	}
	strvec_clear(&one);
}

void app_proxy_service_argv(struct strvec *argv, const struct config *cfg,
			    const struct config_proxy *p, const char *service, const char *target,
			    const char *issuer)
{
	bool pem = p->enabled && p->ssl && p->ssl_certificate_pem && p->ssl_private_key_pem;
	size_t i;

	if (!p->ssl || pem) {
		issuer = NULL;
	}
	strvec_pushv(argv, (const char *[]){"docker", "exec", NULL});
	if (pem || issuer) {
		strvec_push(argv, "-i");
	}
	strvec_pushv(argv, (const char *[]){APP_PROXY_CONTAINER, "berth-proxy", "deploy", NULL});
	strvec_push(argv, service);
	strvec_pushf(argv, "--target=%s", target);
	for (i = 0; i < p->hosts.nr; i++) {
		strvec_pushf(argv, "--host=%s", p->hosts.v[i]);
	}
	for (i = 0; i < p->path_prefixes.nr; i++) {
		strvec_pushf(argv, "--path-prefix=%s", p->path_prefixes.v[i]);
	}
	if (p->strip_path_prefix == 0) {
		strvec_push(argv, "--strip-path-prefix=false");
	}
	strvec_pushf(argv, "--health-check-path=%s",
		     p->healthcheck_path ? p->healthcheck_path : CONFIG_DEFAULT_HEALTHCHECK_PATH);
	strvec_pushf(argv, "--health-check-interval=%llds",
		     p->healthcheck_interval > 0 ? p->healthcheck_interval
						 : CONFIG_DEFAULT_HEALTHCHECK_INTERVAL);
	strvec_pushf(argv, "--health-check-timeout=%llds",
		     p->healthcheck_timeout > 0 ? p->healthcheck_timeout
						: CONFIG_DEFAULT_HEALTHCHECK_TIMEOUT);
	strvec_pushf(argv, "--deploy-timeout=%llds",
		     cfg->deploy_timeout > 0 ? cfg->deploy_timeout : CONFIG_DEFAULT_DEPLOY_TIMEOUT);
	strvec_pushf(argv, "--drain-timeout=%llds",
		     cfg->drain_timeout >= 0 ? cfg->drain_timeout : CONFIG_DEFAULT_DRAIN_TIMEOUT);
	strvec_pushf(argv, "--target-timeout=%llds",
		     p->response_timeout > 0 ? p->response_timeout
					     : CONFIG_DEFAULT_RESPONSE_TIMEOUT);
	if (p->ssl) {
		strvec_push(argv, "--tls");
		if (pem) {
			strvec_push(argv, "--tls-certificate-stdin");
		}
		if (issuer) {
			/* the secret comes on stdin, never in an argv */
			strvec_pushf(argv, "--tls-issuer=http://%s", issuer);
			strvec_push(argv, "--tls-secret-stdin");
		}
		if (p->ssl_redirect == 0) {
			strvec_push(argv, "--tls-redirect=false");
		}
	}
	/* Kamal's default: trust X-Forwarded-* without TLS (a TLS edge in front), not with it */
	strvec_pushf(argv, "--forward-headers=%s",
		     (p->forward_headers == -1 ? !p->ssl : p->forward_headers == 1) ? "true"
										    : "false");
	/*
	 * Kamal's buffering: requests and responses buffered unless the config
	 * says not; memory and the body limits only when set (berth-proxy's
	 * defaults are kamal-proxy's: 1 MiB in memory, no response limit). A
	 * body limit goes only with its buffering on: kamal-proxy applies it
	 * only then (the config warns that it is ignored).
	 */
	strvec_push(argv,
		    p->buffer_requests == 0 ? "--buffer-requests=false" : "--buffer-requests");
	strvec_push(argv,
		    p->buffer_responses == 0 ? "--buffer-responses=false" : "--buffer-responses");
	if (p->buffer_memory >= 0) {
		strvec_pushf(argv, "--buffer-memory=%lld", p->buffer_memory);
	}
	if (p->max_request_body >= 0 && p->buffer_requests != 0) {
		strvec_pushf(argv, "--max-request-body=%lld", p->max_request_body);
	}
	if (p->max_response_body >= 0 && p->buffer_responses != 0) {
		strvec_pushf(argv, "--max-response-body=%lld", p->max_response_body);
	}
	/* the headers Kamal logs: request_headers (Cache-Control, Last-Modified, User-Agent
	 * unless set), response_headers */
	for (i = 0; i < p->log_request_headers.nr; i++) {
		strvec_pushf(argv, "--log-request-header=%s", p->log_request_headers.v[i]);
	}
	for (i = 0; i < p->log_response_headers.nr; i++) {
		strvec_pushf(argv, "--log-response-header=%s", p->log_response_headers.v[i]);
	}
}
