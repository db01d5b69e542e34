/*
 * The config loader: ERB, YAML, destination merge, then keyword tables.
 *
 * Each section has a table of {key, parser, offset}: the generic parsers
 * (string, integer, list, map...) write the field at that offset of the
 * section's struct, and the few keys with a shape of their own get a parser
 * of their own. A key is added by adding a line to its section's table.
 */
#include "engine/config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "engine/erb.h"
#include "engine/exec.h"
#include "lib/cron.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "lib/yamldoc.h"
#include "lib/banned.h"

#define CONFIG_MAX_FILE (1u << 20)
#define REDACTED	"[REDACTED]"

/* ---- small containers ---- */

void config_map_add(struct config_map *m, const char *key, const char *value)
{
	XGROW(m->v, m->alloc, m->nr + 1);
	m->v[m->nr].key = xstrdup(key);
	m->v[m->nr].value = value ? xstrdup(value) : NULL;
	m->nr++;
}

void config_map_set(struct config_map *m, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < m->nr; i++) {
		if (!strcmp(m->v[i].key, key)) {
			free(m->v[i].value);
			m->v[i].value = value ? xstrdup(value) : NULL;
			return;
		}
	}
	config_map_add(m, key, value);
}

const char *config_map_get(const struct config_map *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->nr; i++) {
		if (!strcmp(m->v[i].key, key)) {
			return m->v[i].value;
		}
	}
	return NULL;
}

void config_map_clear(struct config_map *m)
{
	size_t i;

	for (i = 0; i < m->nr; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static void map_copy(struct config_map *dst, const struct config_map *src)
{
	size_t i;

	for (i = 0; i < src->nr; i++) {
		config_map_add(dst, src->v[i].key, src->v[i].value);
	}
}

static char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void config_proxy_run_copy(struct config_proxy_run *dst, const struct config_proxy_run *src)
{
	*dst = *src;
	strvec_init(&dst->bind_ips);
	strvec_pushv(&dst->bind_ips, (const char *const *)src->bind_ips.v);
	dst->log_max_size = xstrdup_or_null(src->log_max_size);
	dst->version = xstrdup_or_null(src->version);
	dst->registry = xstrdup_or_null(src->registry);
	dst->repository = xstrdup_or_null(src->repository);
	memset(&dst->options, 0, sizeof(dst->options));
	map_copy(&dst->options, &src->options);
}

void config_proxy_run_release(struct config_proxy_run *r)
{
	strvec_clear(&r->bind_ips);
	free(r->log_max_size);
	free(r->version);
	free(r->registry);
	free(r->repository);
	config_map_clear(&r->options);
}

static bool strvec_has(const struct strvec *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->nr; i++) {
		if (!strcmp(sv->v[i], s)) {
			return true;
		}
	}
	return false;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

static void env_init(struct config_env *env)
{
	memset(env, 0, sizeof(*env));
	strvec_init(&env->secret_names);
	strvec_init(&env->secret_keys);
}

static void env_release(struct config_env *env)
{
	config_map_clear(&env->clear);
	strvec_clear(&env->secret_names);
	strvec_clear(&env->secret_keys);
}

static void env_add_secret(struct config_env *env, const char *name, const char *key)
{
	size_t i;

	for (i = 0; i < env->secret_names.nr; i++) {
		if (!strcmp(env->secret_names.v[i], name)) {
			free(env->secret_keys.v[i]);
			env->secret_keys.v[i] = xstrdup(key);
			return;
		}
	}
	strvec_push(&env->secret_names, name);
	strvec_push(&env->secret_keys, key);
}

static void env_copy(struct config_env *dst, const struct config_env *src)
{
	size_t i;

	map_copy(&dst->clear, &src->clear);
	for (i = 0; i < src->secret_names.nr; i++) {
		env_add_secret(dst, src->secret_names.v[i], src->secret_keys.v[i]);
	}
}

static void proxy_init(struct config_proxy *p)
{
	memset(p, 0, sizeof(*p));
	strvec_init(&p->hosts);
	strvec_init(&p->path_prefixes);
	strvec_init(&p->log_request_headers);
	strvec_init(&p->log_response_headers);
	p->app_port = 80;
	p->strip_path_prefix = -1;
	p->ssl_redirect = -1;
	p->forward_headers = -1;
	p->response_timeout = CONFIG_DEFAULT_RESPONSE_TIMEOUT;
	p->healthcheck_path = xstrdup(CONFIG_DEFAULT_HEALTHCHECK_PATH);
	p->healthcheck_interval = CONFIG_DEFAULT_HEALTHCHECK_INTERVAL;
	p->healthcheck_timeout = CONFIG_DEFAULT_HEALTHCHECK_TIMEOUT;
	p->buffer_requests = -1;
	p->buffer_responses = -1;
	p->max_request_body = -1;
	p->max_response_body = -1;
	p->buffer_memory = -1;
}

static void proxy_release(struct config_proxy *p)
{
	strvec_clear(&p->hosts);
	strvec_clear(&p->path_prefixes);
	strvec_clear(&p->log_request_headers);
	strvec_clear(&p->log_response_headers);
	free(p->ssl_certificate_pem);
	free(p->ssl_private_key_pem);
	free(p->healthcheck_path);
	memset(p, 0, sizeof(*p));
}

static void logging_release(struct config_logging *l)
{
	free(l->driver);
	config_map_clear(&l->options);
}

static void registry_release(struct config_registry *r)
{
	free(r->server);
	free(r->username);
	free(r->password);
	memset(r, 0, sizeof(*r));
}

static void role_release(struct config_role *r)
{
	size_t i;

	free(r->name);
	for (i = 0; i < r->nr_hosts; i++) {
		free(r->hosts[i].name);
		strvec_clear(&r->hosts[i].tags);
	}
	free(r->hosts);
	free(r->cmd);
	config_map_clear(&r->options);
	config_map_clear(&r->labels);
	env_release(&r->env);
	proxy_release(&r->proxy);
	logging_release(&r->logging);
	free(r->asset_path);
}

static void paths_release(struct config_accessory_paths *ps)
{
	size_t i;

	for (i = 0; i < ps->nr; i++) {
		free(ps->v[i].local);
		free(ps->v[i].remote);
		free(ps->v[i].options);
		free(ps->v[i].mode);
		free(ps->v[i].owner);
	}
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

static void accessory_release(struct config_accessory *a)
{
	free(a->name);
	free(a->service);
	free(a->image);
	registry_release(&a->registry);
	strvec_clear(&a->hosts);
	strvec_clear(&a->roles);
	strvec_clear(&a->tags);
	free(a->port);
	free(a->cmd);
	free(a->network);
	env_release(&a->env);
	strvec_clear(&a->volumes);
	paths_release(&a->files);
	paths_release(&a->directories);
	config_map_clear(&a->options);
	config_map_clear(&a->labels);
	free(a->backup.kind);
	free(a->backup.schedule);
	free(a->backup.to);
	free(a->backup.user);
	free(a->backup.host);
	free(a->backup.path);
	free(a->backup.bucket);
	free(a->backup.prefix);
	free(a->backup.endpoint);
	free(a->backup.password);
	free(a->backup.ssh_key);
	free(a->backup.access_key_id);
	free(a->backup.secret_access_key);
	proxy_release(&a->proxy);
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	proxy_init(&cfg->proxy);
	cfg->proxy.enabled = true; /* the settings roles start from, even when unwritten */
	strvec_pushv(&cfg->proxy.log_request_headers,
		     (const char *const[]){"Cache-Control", "Last-Modified", "User-Agent", NULL});
	env_init(&cfg->env);
	strvec_init(&cfg->volumes);
	strvec_init(&cfg->builder.arch);
	strvec_init(&cfg->builder.secrets);
	strvec_init(&cfg->ssh.keys);
	strvec_init(&cfg->ssh.configs);
	strvec_init(&cfg->ssh.key_data);
	strvec_init(&cfg->warnings);
	strvec_init(&cfg->proxy_run.bind_ips);
	cfg->builder.local = -1;
	cfg->proxy_run.debug = -1;
	cfg->proxy_run.publish = -1;
	cfg->proxy_run.http_port = 80;
	cfg->proxy_run.https_port = 443;
	cfg->proxy_run.metrics_port = -1;
	cfg->proxy_run.log_max_size = xstrdup("10m");
	cfg->ssh.port = -1;
	cfg->ssh.use_config = true;
	cfg->primary_role = xstrdup("web");
	cfg->retain_containers = CONFIG_DEFAULT_RETAIN_CONTAINERS;
	cfg->readiness_delay = CONFIG_DEFAULT_READINESS_DELAY;
	cfg->deploy_timeout = CONFIG_DEFAULT_DEPLOY_TIMEOUT;
	cfg->drain_timeout = CONFIG_DEFAULT_DRAIN_TIMEOUT;
	cfg->boot_limit = -1;
	cfg->boot_wait = -1;
	cfg->stop_timeout = -1;
}

void config_release(struct config *cfg)
{
	size_t i;

	free(cfg->file);
	free(cfg->destination);
	free(cfg->service);
	free(cfg->image);
	for (i = 0; i < cfg->nr_roles; i++) {
		role_release(&cfg->roles[i]);
	}
	free(cfg->roles);
	free(cfg->primary_role);
	proxy_release(&cfg->proxy);
	config_proxy_run_release(&cfg->proxy_run);
	registry_release(&cfg->registry);
	strvec_clear(&cfg->builder.arch);
	free(cfg->builder.remote);
	free(cfg->builder.context);
	free(cfg->builder.dockerfile);
	free(cfg->builder.target);
	config_map_clear(&cfg->builder.args);
	strvec_clear(&cfg->builder.secrets);
	free(cfg->builder.cache_type);
	free(cfg->builder.cache_options);
	free(cfg->builder.cache_image);
	free(cfg->builder.driver);
	free(cfg->builder.ssh);
	free(cfg->builder.provenance);
	free(cfg->builder.sbom);
	env_release(&cfg->env);
	for (i = 0; i < cfg->nr_env_tags; i++) {
		free(cfg->env_tags[i].name);
		env_release(&cfg->env_tags[i].env);
	}
	free(cfg->env_tags);
	for (i = 0; i < cfg->nr_accessories; i++) {
		accessory_release(&cfg->accessories[i]);
	}
	free(cfg->accessories);
	strvec_clear(&cfg->volumes);
	config_map_clear(&cfg->labels);
	config_map_clear(&cfg->aliases);
	logging_release(&cfg->logging);
	free(cfg->ssh.user);
	free(cfg->ssh.proxy);
	free(cfg->ssh.proxy_command);
	strvec_clear(&cfg->ssh.keys);
	strvec_clear(&cfg->ssh.configs);
	free(cfg->ssh.log_level);
	strvec_clear(&cfg->ssh.key_data);
	config_map_clear(&cfg->hooks_output);
	strvec_clear(&cfg->warnings);
	free(cfg->asset_path);
	free(cfg->hooks_path);
	free(cfg->secrets_path);
	free(cfg->error_pages_path);
	free(cfg->run_directory);
	free(cfg->minimum_version);
	free(cfg->release_command);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- the parsing context: where we are, for errors ---- */

struct cctx {
	struct config *cfg;
	struct err *e;
	struct sbuf path; /* "proxy.healthcheck.interval", "servers.web.hosts[1]" */
	const struct secrets *sec;
	const char *secrets_files; /* for "not set" errors */
	const struct yaml_node *servers, *proxy, *env, *logging, *accessories;
	const struct yaml_node *role_proxy; /* of the role being read */
	bool role_proxy_set;
	bool env_tags_allowed;
	bool proxy_run_allowed;
};

struct kw {
	const char *key;
	int (*parse)(struct cctx *c, const struct yaml_node *n, void *obj, size_t off);
	size_t off;
};

#define KW(key, fn, type, field)                                                                   \
	{                                                                                          \
		(key), (fn), offsetof(type, field)                                                 \
	}
#define KW_FN(key, fn)                                                                             \
	{                                                                                          \
		(key), (fn), 0                                                                     \
	}
#define KW_END                                                                                     \
	{                                                                                          \
		NULL, NULL, 0                                                                      \
	}

#define FIELD(obj, off, type) ((type *)((char *)(obj) + (off)))

static size_t path_push(struct cctx *c, const char *key)
{
	size_t old = c->path.len;

	if (c->path.len) {
		sbuf_addch(&c->path, '.');
	}
	sbuf_addstr(&c->path, key);
	return old;
}

static size_t path_push_index(struct cctx *c, size_t i)
{
	size_t old = c->path.len;

	sbuf_addf(&c->path, "[%zu]", i);
	return old;
}

static void path_pop(struct cctx *c, size_t old)
{
	sbuf_setlen(&c->path, old);
}

static void describe(struct sbuf *sb, const struct yaml_node *n)
{
	const char *t;
	size_t len;

	switch (n->kind) {
	case YAML_NULL:
		sbuf_addstr(sb, "nothing");
		return;
	case YAML_SEQ:
		sbuf_addstr(sb, "a list");
		return;
	case YAML_MAP:
		sbuf_addstr(sb, "a map");
		return;
	case YAML_BOOL:
		sbuf_addstr(sb, "a boolean ");
		break;
	case YAML_INT:
		sbuf_addstr(sb, "an integer ");
		break;
	case YAML_FLOAT:
		sbuf_addstr(sb, "a number ");
		break;
	case YAML_STR:
		sbuf_addstr(sb, "a string ");
		break;
	}
	t = n->kind == YAML_STR ? n->str : yaml_text(n);
	t = t ? t : "";
	len = strlen(t);
	if (n->kind != YAML_STR) {
		sbuf_addstr(sb, t);
		return;
	}
	sbuf_addch(sb, '"');
	if (len > 40) {
		sbuf_add_json_escaped(sb, t, 37);
		sbuf_addstr(sb, "...");
	} else {
		sbuf_add_json_escaped(sb, t, len);
	}
	sbuf_addch(sb, '"');
}

/* "FILE:L:C: path: MSG" */
static int fail_at(struct cctx *c, const struct yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct cctx *c, const struct yaml_node *n, const char *fmt, ...)
{
	struct sbuf msg = SBUF_INIT;
	va_list ap;

	if (c->path.len) {
		sbuf_addf(&msg, "%s: ", c->path.buf);
	}
	va_start(ap, fmt);
	sbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	err_setat(c->e, n ? n->file : c->cfg->file, n ? n->line : 0, n ? n->col : 0, "%s", msg.buf);
	sbuf_release(&msg);
	return -1;
}

/* "path: expected WHAT, found <n>" */
static int expected(struct cctx *c, const struct yaml_node *n, const char *what)
{
	struct sbuf found = SBUF_INIT;
	int ret;

	describe(&found, n);
	ret = fail_at(c, n, "expected %s, found %s", what, found.buf);
	sbuf_release(&found);
	return ret;
}

static bool is_scalar(const struct yaml_node *n)
{
	return n->kind == YAML_STR || n->kind == YAML_INT || n->kind == YAML_FLOAT ||
	       n->kind == YAML_BOOL;
}

/* A string where Kamal takes one: any scalar but null, as Ruby's to_s gives it. */
static const char *scalar_text(const struct yaml_node *n)
{
	if (n->kind == YAML_STR) {
		return n->str;
	}
	return yaml_text(n);
}

/* ---- suggestions ---- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[64], prev, tmp;

	if (lb >= 64 || la >= 64) {
		return SIZE_MAX;
	}
	for (j = 0; j <= lb; j++) {
		row[j] = j;
	}
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best) {
				best = row[j] + 1;
			}
			if (row[j - 1] + 1 < best) {
				best = row[j - 1] + 1;
			}
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

const char *config_suggest(const char *key, const char *const *keys)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, limit = 1 + strlen(key) / 3, d;

	for (; *keys; keys++) {
		d = edit_distance(key, *keys);
		if (d < best_d) {
			best_d = d;
			best = *keys;
		}
	}
	if (limit > 3) {
		limit = 3;
	}
	return best_d <= limit ? best : NULL;
}

/* ---- walking a map through a keyword table ---- */

static int walk_map(struct cctx *c, const struct yaml_node *n, const struct kw *kws, void *obj)
{
	const char *keys[64];
	size_t i, k, nk, old;
	int ret = 0;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map");
	}
	for (i = 0; i < n->nr_pairs && !ret; i++) {
		const struct yaml_node *key = n->pairs[i].key;
		const char *name = is_scalar(key) ? scalar_text(key) : NULL;

		if (!name) {
			return expected(c, key, "a key");
		}
		if (!strncmp(name, "x-", 2)) {
			continue;
		}
		for (k = 0; kws[k].key && strcmp(kws[k].key, name); k++) {
		}
		old = path_push(c, name);
		if (!kws[k].key) {
			const char *s;

			for (nk = 0; kws[nk].key && nk < 63; nk++) {
				keys[nk] = kws[nk].key;
			}
			keys[nk] = NULL;
			s = config_suggest(name, keys);
			if (s) {
				ret = fail_at(c, key, "unknown key, did you mean '%s'?", s);
			} else {
				struct sbuf all = SBUF_INIT;

				for (k = 0; k < nk; k++) {
					sbuf_addf(&all, "%s%s", k ? ", " : "", keys[k]);
				}
				ret = fail_at(c, key, "unknown key (known keys: %s)", all.buf);
				sbuf_release(&all);
			}
		} else {
			ret = kws[k].parse(c, n->pairs[i].value, obj, kws[k].off);
		}
		path_pop(c, old);
	}
	return ret;
}

/* ---- generic parsers ---- */

static int p_str(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (!is_scalar(n)) {
		return expected(c, n, "a string");
	}
	set_str(FIELD(obj, off, char *), scalar_text(n));
	return 0;
}

/*
 * asset_path, at the root or in a role: "PATH[:OPTIONS]", PATH absolute in the
 * container, OPTIONS the mount's (Kamal's `ro`, `z`); "" none (a role's ""
 * turns the root's off), nothing: unset (a role keeps the root's).
 */
static int p_asset_path(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	const char *s;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (!is_scalar(n)) {
		return expected(c, n, "a path in the container");
	}
	s = scalar_text(n);
	if (*s && *s != '/') {
		return expected(c, n, "an absolute path in the container (/app/public/assets)");
	}
	set_str(FIELD(obj, off, char *), s);
	return 0;
}

static int get_int(struct cctx *c, const struct yaml_node *n, long long min, long long max,
		   const char *what, long long *out)
{
	if (n->kind != YAML_INT || n->i < min || n->i > max) {
		return expected(c, n, what);
	}
	*out = n->i;
	return 0;
}

static int p_secs(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return get_int(c, n, 0, INT_MAX, "a number of seconds", FIELD(obj, off, long long));
}

static int p_count(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return get_int(c, n, 0, LLONG_MAX, "a non-negative integer", FIELD(obj, off, long long));
}

static int p_port(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return get_int(c, n, 1, 65535, "a port number (1-65535)", FIELD(obj, off, long long));
}

static int p_bool(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (n->kind != YAML_BOOL) {
		return expected(c, n, "a boolean (true or false)");
	}
	*FIELD(obj, off, bool) = n->b;
	return 0;
}

static int p_tri(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (n->kind != YAML_BOOL) {
		return expected(c, n, "a boolean (true or false)");
	}
	*FIELD(obj, off, int) = n->b;
	return 0;
}

static int strlist(struct cctx *c, const struct yaml_node *n, struct strvec *out)
{
	size_t i, old;

	if (n->kind != YAML_SEQ) {
		return expected(c, n, "a list of strings");
	}
	strvec_clear(out);
	for (i = 0; i < n->nr_items; i++) {
		if (!is_scalar(n->items[i])) {
			old = path_push_index(c, i);
			expected(c, n->items[i], "a string");
			path_pop(c, old);
			return -1;
		}
		strvec_push(out, scalar_text(n->items[i]));
	}
	return 0;
}

static int p_strlist(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return strlist(c, n, FIELD(obj, off, struct strvec));
}

/* A string or a list of strings. */
static int p_str_or_list(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct strvec *sv = FIELD(obj, off, struct strvec);

	if (is_scalar(n)) {
		strvec_clear(sv);
		strvec_push(sv, scalar_text(n));
		return 0;
	}
	if (n->kind != YAML_SEQ) {
		return expected(c, n, "a string or a list of strings");
	}
	return strlist(c, n, sv);
}

/* A map of strings (labels, build args, clear env): values are any scalar. */
static int p_map(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_map *m = FIELD(obj, off, struct config_map);
	size_t i, old;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of strings");
	}
	for (i = 0; i < n->nr_pairs; i++) {
		const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;

		if (!is_scalar(k)) {
			return expected(c, k, "a key");
		}
		old = path_push(c, scalar_text(k));
		if (!is_scalar(v)) {
			expected(c, v, "a string");
			path_pop(c, old);
			return -1;
		}
		path_pop(c, old);
		config_map_set(m, scalar_text(k), scalar_text(v));
	}
	return 0;
}

/*
 * Docker options, as Kamal's optionize reads them: "name: value" gives
 * --name value, "name: true" gives --name, a list repeats the option.
 */
static int p_options(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_map *m = FIELD(obj, off, struct config_map);
	size_t i, j, old;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of options");
	}
	for (i = 0; i < n->nr_pairs; i++) {
		const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;
		const char *name;

		if (!is_scalar(k)) {
			return expected(c, k, "a key");
		}
		name = scalar_text(k);
		old = path_push(c, name);
		if (v->kind == YAML_BOOL && v->b) {
			config_map_add(m, name, NULL);
		} else if (is_scalar(v)) {
			config_map_add(m, name, scalar_text(v));
		} else if (v->kind == YAML_SEQ) {
			for (j = 0; j < v->nr_items; j++) {
				if (!is_scalar(v->items[j])) {
					path_push_index(c, j);
					expected(c, v->items[j], "a string");
					path_pop(c, old);
					return -1;
				}
				config_map_add(m, name, scalar_text(v->items[j]));
			}
		} else {
			expected(c, v, "a string, true or a list of strings");
			path_pop(c, old);
			return -1;
		}
		path_pop(c, old);
	}
	return 0;
}

/* ---- secrets ---- */

static int need_secret(struct cctx *c, const struct yaml_node *n, const char *name)
{
	if (!c->sec || secrets_get(c->sec, name)) {
		return 0;
	}
	return fail_at(c, n, "expected a secret set in %s, found '%s', which is not set there",
		       c->secrets_files, name);
}

/* ---- env ---- */

static bool valid_env_name(const char *s)
{
	if (!*s) {
		return false;
	}
	for (; *s; s++) {
		if (*s == '=' || *s == '\n' || *s == '\0') {
			return false;
		}
	}
	return true;
}

static int env_clear(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_env *env = obj;
	size_t i, old;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of variables");
	}
	for (i = 0; i < n->nr_pairs; i++) {
		const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;

		if (!is_scalar(k) || !valid_env_name(scalar_text(k))) {
			return expected(c, k, "a variable name");
		}
		old = path_push(c, scalar_text(k));
		if (!is_scalar(v)) {
			expected(c, v, "a string");
			path_pop(c, old);
			return -1;
		}
		path_pop(c, old);
		config_map_set(&env->clear, scalar_text(k), scalar_text(v));
	}
	return 0;
}

static int env_secret(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_env *env = obj;
	size_t i, old;
	int ret = 0;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_SEQ) {
		return expected(c, n, "a list of secret names");
	}
	for (i = 0; i < n->nr_items && !ret; i++) {
		const struct yaml_node *it = n->items[i];
		char *name, *colon;
		const char *key;

		old = path_push_index(c, i);
		if (!is_scalar(it) || !valid_env_name(scalar_text(it))) {
			ret = expected(c, it, "a secret name, or NAME:SECRET");
			path_pop(c, old);
			break;
		}
		name = xstrdup(scalar_text(it));
		colon = strchr(name, ':');
		key = name;
		if (colon) {
			*colon = '\0';
			key = colon + 1;
		}
		if (!*name || !*key) {
			ret = expected(c, it, "a secret name, or NAME:SECRET");
		} else {
			ret = need_secret(c, it, key);
		}
		if (!ret) {
			env_add_secret(env, name, key);
		}
		free(name);
		path_pop(c, old);
	}
	return ret;
}

static int env_parse(struct cctx *c, const struct yaml_node *n, struct config_env *env,
		     struct config *tags_into);

static int env_tags(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config *cfg = c->cfg;
	size_t i, j, old;
	int ret = 0;

	if (!c->env_tags_allowed) {
		return fail_at(c, n, "expected tags only in the top-level env, found them here");
	}
	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of tags to env");
	}
	for (i = 0; i < n->nr_pairs && !ret; i++) {
		const struct yaml_node *k = n->pairs[i].key;
		struct config_env_tag *t = NULL;

		if (!is_scalar(k)) {
			return expected(c, k, "a tag name");
		}
		for (j = 0; j < cfg->nr_env_tags; j++) {
			if (!strcmp(cfg->env_tags[j].name, scalar_text(k))) {
				t = &cfg->env_tags[j];
			}
		}
		if (!t) {
			XGROW(cfg->env_tags, cfg->alloc_env_tags, cfg->nr_env_tags + 1);
			t = &cfg->env_tags[cfg->nr_env_tags++];
			t->name = xstrdup(scalar_text(k));
			env_init(&t->env);
		}
		old = path_push(c, scalar_text(k));
		ret = env_parse(c, n->pairs[i].value, &t->env, NULL);
		path_pop(c, old);
	}
	return ret;
}

static const struct kw env_kws[] = {
    KW_FN("clear", env_clear),
    KW_FN("secret", env_secret),
    KW_FN("tags", env_tags),
    KW_END,
};

/*
 * env: a plain map is all clear; with clear, secret or tags it is the
 * structured form. tags_into is the config when tags are allowed here.
 */
static int env_parse(struct cctx *c, const struct yaml_node *n, struct config_env *env,
		     struct config *tags_into)
{
	bool saved = c->env_tags_allowed;
	int ret;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of variables, or clear/secret");
	}
	if (!yaml_get(n, "clear") && !yaml_get(n, "secret") && !yaml_get(n, "tags")) {
		return env_clear(c, n, env, 0);
	}
	c->env_tags_allowed = tags_into != NULL;
	ret = walk_map(c, n, env_kws, env);
	c->env_tags_allowed = saved;
	return ret;
}

static int p_env(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return env_parse(c, n, FIELD(obj, off, struct config_env), NULL);
}

/* ---- logging ---- */

static const struct kw logging_kws[] = {
    KW("driver", p_str, struct config_logging, driver),
    KW("options", p_map, struct config_logging, options),
    KW_END,
};

static int p_logging(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, logging_kws, FIELD(obj, off, struct config_logging));
}

/* ---- proxy ---- */

/* Notes a key berth reads but does not act on, once per key. */
static void warn_ignored(struct cctx *c, const char *why)
{
	size_t i;

	for (i = 0; i < c->cfg->warnings.nr; i++) {
		if (!strncmp(c->cfg->warnings.v[i], c->path.buf, c->path.len) &&
		    c->cfg->warnings.v[i][c->path.len] == ':') {
			return;
		}
	}
	strvec_pushf(&c->cfg->warnings, "%s: %s", c->path.buf, why);
}

/*
 * The proxy keys of n (a proxy map as written) that have no effect, as in
 * Kamal; m and p are what it gave (for a role, merged over the top-level
 * proxy; else n itself): a path_prefix where path_prefixes is set too (a
 * role's path_prefix loses to a top-level path_prefixes, as Kamal's merge
 * keeps both), a body limit without its buffering.
 */
static void warn_proxy_keys(struct cctx *c, const struct yaml_node *n, const struct yaml_node *m,
			    const struct config_proxy *p)
{
	size_t old;

	if (!n || n->kind != YAML_MAP) {
		return;
	}
	if (yaml_get(n, "path_prefix") && m && yaml_get(m, "path_prefixes")) {
		old = path_push(c, "path_prefix");
		warn_ignored(c,
			     yaml_get(n, "path_prefixes")
				 ? "path_prefixes is set too and wins, as in Kamal; ignored"
				 : "the top-level proxy.path_prefixes wins over it, as in Kamal's "
				   "merge; ignored");
		path_pop(c, old);
	}
	if (!yaml_get(n, "buffering")) {
		return;
	}
	if (p->buffer_requests == 0 && p->max_request_body >= 0) {
		old = path_push(c, "buffering.max_request_body");
		warn_ignored(c, "requests are not buffered (requests: false), and kamal-proxy "
				"applies the limit only to buffered ones; ignored");
		path_pop(c, old);
	}
	if (p->buffer_responses == 0 && p->max_response_body >= 0) {
		old = path_push(c, "buffering.max_response_body");
		warn_ignored(c, "responses are not buffered (responses: false), and kamal-proxy "
				"applies the limit only to buffered ones; ignored");
		path_pop(c, old);
	}
}

static int proxy_host(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_proxy *p = obj;
	struct slice rest, h;

	if (!is_scalar(n)) {
		return expected(c, n, "a host name");
	}
	strvec_clear(&p->hosts);
	rest = slice_cstr(scalar_text(n));
	while (rest.ptr) {
		h = slice_trim(slice_next(&rest, ','));
		if (h.len) {
			char *s = slice_dup(h);

			strvec_push(&p->hosts, s);
			free(s);
		}
	}
	return 0;
}

/*
 * path_prefix: one path, or several separated by commas, as Kamal splits it
 * ("/api,/oauth_callback"); a list is path_prefixes (Kamal refuses one here).
 */
static int proxy_path_prefix(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_proxy *p = obj;
	struct slice rest, one;
	char *d;

	if (n->kind == YAML_SEQ) {
		return expected(c, n,
				"a path starting with '/', or several separated by commas (a list "
				"goes in path_prefixes)");
	}
	if (n->kind != YAML_STR) {
		return expected(c, n, "a path starting with '/'");
	}
	strvec_clear(&p->path_prefixes);
	rest = slice_cstr(n->str);
	while (rest.ptr) {
		one = slice_trim(slice_next(&rest, ','));
		if (!one.len) {
			continue;
		}
		if (one.ptr[0] != '/' && !strchr(n->str, ',')) {
			return expected(c, n, "a path starting with '/'");
		}
		d = slice_dup(one);
		if (one.ptr[0] != '/') {
			fail_at(c, n, "expected paths starting with '/', found '%s' in \"%s\"", d,
				n->str);
			free(d);
			return -1;
		}
		strvec_push(&p->path_prefixes, d);
		free(d);
	}
	/* "" is no prefix, as Kamal's split gives none */
	return 0;
}

static int proxy_path_prefixes(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_proxy *p = obj;
	size_t i, old;

	if (strlist(c, n, &p->path_prefixes) < 0) {
		return -1;
	}
	for (i = 0; i < p->path_prefixes.nr; i++) {
		if (p->path_prefixes.v[i][0] != '/') {
			old = path_push_index(c, i);
			expected(c, n->items[i], "a path starting with '/'");
			path_pop(c, old);
			return -1;
		}
	}
	return 0;
}

static int ssl_cert_secret(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	char **dst = FIELD(obj, off, char *);

	if (n->kind != YAML_STR || !n->len) {
		return expected(c, n, "the name of a secret");
	}
	if (need_secret(c, n, n->str) < 0) {
		return -1;
	}
	set_str(dst, n->str);
	return 0;
}

static const struct kw ssl_kws[] = {
    KW("certificate_pem", ssl_cert_secret, struct config_proxy, ssl_certificate_pem),
    KW("private_key_pem", ssl_cert_secret, struct config_proxy, ssl_private_key_pem),
    KW_END,
};

static int proxy_ssl(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_proxy *p = obj;

	if (n->kind == YAML_BOOL) {
		p->ssl = n->b;
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n,
				"true, false or a map with certificate_pem and private_key_pem");
	}
	if (walk_map(c, n, ssl_kws, p) < 0) {
		return -1;
	}
	if (!p->ssl_certificate_pem || !p->ssl_private_key_pem) {
		return fail_at(c, n, "expected both certificate_pem and private_key_pem, found %s",
			       p->ssl_certificate_pem	? "only certificate_pem"
			       : p->ssl_private_key_pem ? "only private_key_pem"
							: "neither");
	}
	p->ssl = true;
	return 0;
}

static const struct kw healthcheck_kws[] = {
    KW("path", p_str, struct config_proxy, healthcheck_path),
    KW("interval", p_secs, struct config_proxy, healthcheck_interval),
    KW("timeout", p_secs, struct config_proxy, healthcheck_timeout),
    KW_END,
};

static int proxy_healthcheck(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_proxy *p = obj;
	const struct yaml_node *path = n->kind == YAML_MAP ? yaml_get(n, "path") : NULL;

	if (walk_map(c, n, healthcheck_kws, p) < 0) {
		return -1;
	}
	if (path && p->healthcheck_path[0] != '/') {
		size_t old = path_push(c, "path");

		expected(c, path, "a path starting with '/'");
		path_pop(c, old);
		return -1;
	}
	return 0;
}

static const struct kw buffering_kws[] = {
    KW("requests", p_tri, struct config_proxy, buffer_requests),
    KW("responses", p_tri, struct config_proxy, buffer_responses),
    KW("max_request_body", p_count, struct config_proxy, max_request_body),
    KW("max_response_body", p_count, struct config_proxy, max_response_body),
    KW("memory", p_count, struct config_proxy, buffer_memory),
    KW_END,
};

static int proxy_buffering(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, buffering_kws, obj);
}

static const struct kw proxy_logging_kws[] = {
    KW("request_headers", p_strlist, struct config_proxy, log_request_headers),
    KW("response_headers", p_strlist, struct config_proxy, log_response_headers),
    KW_END,
};

static int proxy_logging(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, proxy_logging_kws, obj);
}

static const struct kw proxy_run_kws[] = {
    KW("debug", p_tri, struct config_proxy_run, debug),
    KW("publish", p_tri, struct config_proxy_run, publish),
    KW("http_port", p_port, struct config_proxy_run, http_port),
    KW("https_port", p_port, struct config_proxy_run, https_port),
    KW("metrics_port", p_port, struct config_proxy_run, metrics_port),
    KW("bind_ips", p_strlist, struct config_proxy_run, bind_ips),
    KW("log_max_size", p_str, struct config_proxy_run, log_max_size),
    KW("version", p_str, struct config_proxy_run, version),
    KW("registry", p_str, struct config_proxy_run, registry),
    KW("repository", p_str, struct config_proxy_run, repository),
    KW("options", p_options, struct config_proxy_run, options),
    KW_END,
};

static int proxy_run(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	/* roles see the top-level proxy merged in, run included: it was read there */
	if (!c->proxy_run_allowed) {
		return 0;
	}
	return walk_map(c, n, proxy_run_kws, &c->cfg->proxy_run);
}

static const struct kw proxy_kws[] = {
    KW_FN("host", proxy_host),
    KW("hosts", p_strlist, struct config_proxy, hosts),
    KW("app_port", p_port, struct config_proxy, app_port),
    KW_FN("path_prefix", proxy_path_prefix),
    KW_FN("path_prefixes", proxy_path_prefixes),
    KW("strip_path_prefix", p_tri, struct config_proxy, strip_path_prefix),
    KW_FN("ssl", proxy_ssl),
    KW("ssl_redirect", p_tri, struct config_proxy, ssl_redirect),
    KW("forward_headers", p_tri, struct config_proxy, forward_headers),
    KW("response_timeout", p_secs, struct config_proxy, response_timeout),
    KW_FN("healthcheck", proxy_healthcheck),
    KW_FN("buffering", proxy_buffering),
    KW_FN("logging", proxy_logging),
    KW_FN("run", proxy_run),
    KW_END,
};

static int one_of(struct cctx *c, const struct yaml_node *n, const char *a, const char *b)
{
	const struct yaml_node *nb = yaml_get(n, b);

	if (yaml_get(n, a) && nb) {
		size_t old = path_push(c, b);

		fail_at(c, nb, "expected one of '%s' or '%s', found both", a, b);
		path_pop(c, old);
		return -1;
	}
	return 0;
}

/* Reads a proxy map (NULL: defaults) into p and enables it. */
static int proxy_parse(struct cctx *c, const struct yaml_node *n, struct config_proxy *p)
{
	p->enabled = true;
	if (!n || n->kind == YAML_NULL) {
		goto defaults;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of proxy settings");
	}
	if (walk_map(c, n, proxy_kws, p) < 0 || one_of(c, n, "host", "hosts") < 0) {
		return -1;
	}
	/* both: path_prefixes wins, as in Kamal, whichever comes first */
	if (yaml_get(n, "path_prefix") && yaml_get(n, "path_prefixes")) {
		size_t old = path_push(c, "path_prefixes");
		int r = proxy_path_prefixes(c, yaml_get(n, "path_prefixes"), p, 0);

		path_pop(c, old);
		if (r < 0) {
			return -1;
		}
	}
	if (p->ssl && !p->hosts.nr) {
		size_t old = path_push(c, "ssl");

		fail_at(c, yaml_get(n, "ssl"),
			"expected a host to enable TLS (set proxy.host), found none");
		path_pop(c, old);
		return -1;
	}
defaults:
	if (!p->log_request_headers.nr && !(n && n->kind == YAML_MAP && yaml_get(n, "logging") &&
					    yaml_get(yaml_get(n, "logging"), "request_headers"))) {
		strvec_pushv(
		    &p->log_request_headers,
		    (const char *const[]){"Cache-Control", "Last-Modified", "User-Agent", NULL});
	}
	return 0;
}

/* ---- registry ---- */

static int registry_cred(struct cctx *c, const struct yaml_node *n, char **dst, bool *secret)
{
	if (is_scalar(n)) {
		set_str(dst, scalar_text(n));
		*secret = false;
		return 0;
	}
	if (n->kind != YAML_SEQ || n->nr_items != 1 || n->items[0]->kind != YAML_STR) {
		return expected(c, n, "a string, or a list with one secret name");
	}
	if (need_secret(c, n->items[0], n->items[0]->str) < 0) {
		return -1;
	}
	set_str(dst, n->items[0]->str);
	*secret = true;
	return 0;
}

static int registry_username(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_registry *r = obj;

	return registry_cred(c, n, &r->username, &r->username_secret);
}

static int registry_password(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_registry *r = obj;

	return registry_cred(c, n, &r->password, &r->password_secret);
}

static const struct kw registry_kws[] = {
    KW("server", p_str, struct config_registry, server),
    KW_FN("username", registry_username),
    KW_FN("password", registry_password),
    KW_END,
};

static int p_registry(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, registry_kws, FIELD(obj, off, struct config_registry));
}

/* ---- builder ---- */

static int builder_arch(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_builder *b = obj;
	const struct yaml_node *bad = NULL;
	size_t i;

	if (p_str_or_list(c, n, &b->arch, 0) < 0) {
		return -1;
	}
	for (i = 0; i < b->arch.nr; i++) {
		if (strcmp(b->arch.v[i], "amd64") && strcmp(b->arch.v[i], "arm64")) {
			bad = n->kind == YAML_SEQ ? n->items[i] : n;
			break;
		}
	}
	if (bad) {
		return expected(c, bad, "amd64 or arm64");
	}
	return 0;
}

static int builder_remote(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_builder *b = obj;

	if (n->kind == YAML_BOOL && !n->b) {
		set_str(&b->remote, NULL);
		return 0;
	}
	if (n->kind != YAML_STR) {
		return expected(c, n, "a builder URL like ssh://user@host, or false");
	}
	set_str(&b->remote, n->str);
	return 0;
}

static int builder_secrets(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_builder *b = obj;
	size_t i, old;

	if (strlist(c, n, &b->secrets) < 0) {
		return -1;
	}
	for (i = 0; i < b->secrets.nr; i++) {
		old = path_push_index(c, i);
		if (need_secret(c, n->items[i], b->secrets.v[i]) < 0) {
			path_pop(c, old);
			return -1;
		}
		path_pop(c, old);
	}
	return 0;
}

static int cache_type(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (n->kind != YAML_STR || (strcmp(n->str, "gha") && strcmp(n->str, "registry"))) {
		return expected(c, n, "gha or registry");
	}
	return p_str(c, n, obj, off);
}

static const struct kw cache_kws[] = {
    KW("type", cache_type, struct config_builder, cache_type),
    KW("options", p_str, struct config_builder, cache_options),
    KW("image", p_str, struct config_builder, cache_image),
    KW_END,
};

static int builder_cache(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_builder *b = obj;

	if (walk_map(c, n, cache_kws, b) < 0) {
		return -1;
	}
	if (!b->cache_type) {
		return fail_at(c, n, "expected a cache type (gha or registry), found none");
	}
	return 0;
}

/* builder.pack: Cloud Native Buildpacks, which berth does not run */
static int p_ignore_str(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return is_scalar(n) ? 0 : expected(c, n, "a string");
}

static int p_ignore_strlist(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct strvec sv = STRVEC_INIT;
	int r = strlist(c, n, &sv);

	strvec_clear(&sv);
	return r;
}

static const struct kw pack_kws[] = {
    KW_FN("builder", p_ignore_str),
    KW_FN("buildpacks", p_ignore_strlist),
    KW_END,
};

static int builder_pack(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (walk_map(c, n, pack_kws, NULL) < 0) {
		return -1;
	}
	warn_ignored(c, "berth builds with docker build (the Dockerfile), not buildpacks; ignored");
	return 0;
}

/*
 * builder.args: as a map of strings, but a key may have no value (FOO: or
 * FOO: ""): Kamal accepts it and passes --build-arg FOO, docker's "from the
 * environment, else the Dockerfile's default".
 */
static int builder_args(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_builder *b = obj;
	size_t i, old;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of build arguments");
	}
	for (i = 0; i < n->nr_pairs; i++) {
		const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;

		if (!is_scalar(k)) {
			return expected(c, k, "a key");
		}
		if (v->kind != YAML_NULL && !is_scalar(v)) {
			old = path_push(c, scalar_text(k));
			expected(c, v, "a string");
			path_pop(c, old);
			return -1;
		}
		config_map_set(&b->args, scalar_text(k),
			       v->kind == YAML_NULL ? NULL : scalar_text(v));
	}
	return 0;
}

static const struct kw builder_kws[] = {
    KW_FN("pack", builder_pack),
    KW_FN("arch", builder_arch),
    KW_FN("remote", builder_remote),
    KW("local", p_tri, struct config_builder, local),
    KW("context", p_str, struct config_builder, context),
    KW("dockerfile", p_str, struct config_builder, dockerfile),
    KW("target", p_str, struct config_builder, target),
    KW_FN("args", builder_args),
    KW_FN("secrets", builder_secrets),
    KW_FN("cache", builder_cache),
    KW("driver", p_str, struct config_builder, driver),
    KW("ssh", p_str, struct config_builder, ssh),
    KW("provenance", p_str, struct config_builder, provenance),
    KW("sbom", p_str, struct config_builder, sbom),
    KW_END,
};

/* ---- ssh ---- */

static int ssh_port(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_ssh *s = obj;
	uint64_t v;

	/* Kamal's own example writes the port as a string: port: "2222" */
	if (n->kind == YAML_STR && slice_to_u64(slice_cstr(n->str), 65535, &v) && v > 0) {
		s->port = (long long)v;
		return 0;
	}
	return p_port(c, n, obj, off);
}

static int ssh_config(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_ssh *s = obj;

	strvec_clear(&s->configs);
	if (n->kind == YAML_BOOL) {
		s->use_config = n->b;
		return 0;
	}
	if (n->kind == YAML_STR || n->kind == YAML_SEQ) {
		s->use_config = true;
		return p_str_or_list(c, n, &s->configs, 0);
	}
	return expected(c, n, "true, false, or a path or list of paths to ssh config files");
}

static const struct kw ssh_kws[] = {
    KW("user", p_str, struct config_ssh, user),
    KW("port", ssh_port, struct config_ssh, port),
    KW("proxy", p_str, struct config_ssh, proxy),
    KW("proxy_command", p_str, struct config_ssh, proxy_command),
    KW("keys", p_strlist, struct config_ssh, keys),
    KW("keys_only", p_bool, struct config_ssh, keys_only),
    KW("config", ssh_config, struct config_ssh, configs),
    KW("log_level", p_str, struct config_ssh, log_level),
    KW("key_data", p_strlist, struct config_ssh, key_data),
    KW("forward_agent", p_bool, struct config_ssh, forward_agent),
    KW_END,
};

/* ---- boot ---- */

static int boot_limit(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config *cfg = obj;
	uint64_t v;

	if (n->kind == YAML_INT && n->i > 0 && n->i <= INT_MAX) {
		cfg->boot_limit = n->i;
		cfg->boot_limit_percent = false;
		return 0;
	}
	if (n->kind == YAML_STR && n->len > 1 && n->str[n->len - 1] == '%' &&
	    slice_to_u64(slice_make(n->str, n->len - 1), 100, &v) && v > 0) {
		cfg->boot_limit = (long long)v;
		cfg->boot_limit_percent = true;
		return 0;
	}
	return expected(c, n, "a number of hosts or a percentage like \"25%\"");
}

static const struct kw boot_kws[] = {
    KW_FN("limit", boot_limit),
    KW("wait", p_secs, struct config, boot_wait),
    KW("parallel_roles", p_bool, struct config, boot_parallel_roles),
    KW_END,
};

/* ---- sshkit: accepted for compatibility, the executor has its own limits ---- */

static int p_ignore_int(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	long long v;

	return get_int(c, n, 0, INT_MAX, "a non-negative integer", &v);
}

static const struct kw sshkit_kws[] = {
    KW_FN("max_concurrent_starts", p_ignore_int),
    KW_FN("pool_idle_timeout", p_ignore_int),
    KW_FN("dns_retries", p_ignore_int),
    KW_END,
};

/* ---- the root ---- */

static int root_service(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	const char *s;

	if (!is_scalar(n)) {
		return expected(c, n, "a service name");
	}
	s = scalar_text(n);
	if (!*s || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		       strlen(s)) {
		return expected(c, n, "a service name of letters, digits, '-' and '_'");
	}
	set_str(&c->cfg->service, s);
	return 0;
}

static int root_save(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	*FIELD(c, off, const struct yaml_node *) = n;
	return 0;
}

#define KW_SAVE(key, field)                                                                        \
	{                                                                                          \
		(key), root_save, offsetof(struct cctx, field)                                     \
	}

static int root_section(struct cctx *c, const struct yaml_node *n, const struct kw *kws)
{
	return walk_map(c, n, kws, c->cfg);
}

static int root_ssh(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, ssh_kws, &c->cfg->ssh);
}

static int root_builder(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, builder_kws, &c->cfg->builder);
}

static int root_boot(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return root_section(c, n, boot_kws);
}

static int root_sshkit(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return root_section(c, n, sshkit_kws);
}

static int root_aliases(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	size_t i;

	if (p_map(c, n, obj, off) < 0) {
		return -1;
	}
	for (i = 0; i < n->nr_pairs; i++) {
		const char *name = scalar_text(n->pairs[i].key);

		if (!*name ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(name)) {
			return expected(c, n->pairs[i].key,
					"an alias name of lowercase letters, digits, '-' and '_'");
		}
	}
	return 0;
}

/* output: where Kamal ships deploy logs (OpenTelemetry, a file) */
static const struct kw output_otel_kws[] = {
    KW_FN("endpoint", p_ignore_str),
    KW_END,
};
static const struct kw output_file_kws[] = {
    KW_FN("path", p_ignore_str),
    KW_END,
};

static int output_otel(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, output_otel_kws, NULL);
}

static int output_file(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return walk_map(c, n, output_file_kws, NULL);
}

static const struct kw output_kws[] = {
    KW_FN("otel", output_otel),
    KW_FN("file", output_file),
    KW_END,
};

static int root_output(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (walk_map(c, n, output_kws, NULL) < 0) {
		return -1;
	}
	warn_ignored(c, "berth prints its output and keeps the audit log on the hosts; ignored");
	return 0;
}

/* ":quiet" or ":verbose" (Kamal writes Ruby symbols), with or without the colon. */
static int hooks_output_level(struct cctx *c, const struct yaml_node *n, const char **out)
{
	const char *s = is_scalar(n) ? scalar_text(n) : NULL;

	if (s && *s == ':') {
		s++;
	}
	if (!s || (strcmp(s, "quiet") && strcmp(s, "verbose"))) {
		return expected(c, n, "quiet or verbose (:quiet, :verbose)");
	}
	*out = s;
	return 0;
}

static int root_hooks_output(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_map *m = &c->cfg->hooks_output;
	const char *level;
	size_t i, old;

	config_map_clear(m);
	if (is_scalar(n)) {
		if (hooks_output_level(c, n, &level) < 0) {
			return -1;
		}
		config_map_set(m, "*", level);
		return 0;
	}
	if (n->kind != YAML_MAP) {
		return expected(c, n, "quiet or verbose, or a map of hook names to one of them");
	}
	for (i = 0; i < n->nr_pairs; i++) {
		const struct yaml_node *k = n->pairs[i].key;
		int r;

		if (!is_scalar(k)) {
			return expected(c, k, "a hook name");
		}
		old = path_push(c, scalar_text(k));
		r = hooks_output_level(c, n->pairs[i].value, &level);
		path_pop(c, old);
		if (r < 0) {
			return -1;
		}
		config_map_set(m, scalar_text(k), level);
	}
	return 0;
}

/*
 * Compares dotted versions ("2.10.1" > "2.9"): numbers as numbers, a
 * missing part as 0 ("2" is "2.0"), other parts as text.
 */
static int version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		int d;

		if (strspn(a, "0123456789") >= la && strspn(b, "0123456789") >= lb) {
			unsigned long long x = la ? strtoull(a, NULL, 10) : 0;
			unsigned long long y = lb ? strtoull(b, NULL, 10) : 0;

			d = x < y ? -1 : x > y;
		} else {
			d = strncmp(a, b, la < lb ? la : lb);
			if (!d) {
				d = la < lb ? -1 : la > lb;
			}
		}
		if (d) {
			return d;
		}
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
	}
	return 0;
}

static int root_minimum_version(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	const char *v;

	if (!is_scalar(n) || !*(v = scalar_text(n))) {
		return expected(c, n, "a version such as 1.2.0");
	}
	/* Kamal's key names a Kamal release: berth answers for the one it reads configs as. */
	if (version_cmp(CONFIG_KAMAL_VERSION, v) < 0) {
		return fail_at(c, n,
			       "this config needs Kamal %s or newer, and berth %s reads configs as "
			       "Kamal " CONFIG_KAMAL_VERSION " does",
			       v, BERTH_VERSION);
	}
	set_str(&c->cfg->minimum_version, v);
	return 0;
}

static int root_retain(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return get_int(c, n, 1, INT_MAX, "a positive integer", &c->cfg->retain_containers);
}

static const struct kw root_kws[] = {
    KW_FN("service", root_service),
    KW("image", p_str, struct config, image),
    KW_SAVE("servers", servers),
    KW_SAVE("proxy", proxy),
    KW("registry", p_registry, struct config, registry),
    KW_FN("builder", root_builder),
    KW_SAVE("env", env),
    KW_SAVE("accessories", accessories),
    KW("volumes", p_strlist, struct config, volumes),
    KW("labels", p_map, struct config, labels),
    KW_SAVE("logging", logging),
    KW_FN("ssh", root_ssh),
    KW_FN("boot", root_boot),
    KW("aliases", root_aliases, struct config, aliases),
    KW("asset_path", p_asset_path, struct config, asset_path),
    KW("hooks_path", p_str, struct config, hooks_path),
    KW("secrets_path", p_str, struct config, secrets_path),
    KW("error_pages_path", p_str, struct config, error_pages_path),
    KW("run_directory", p_str, struct config, run_directory),
    KW("primary_role", p_str, struct config, primary_role),
    KW("allow_empty_roles", p_bool, struct config, allow_empty_roles),
    KW_FN("retain_containers", root_retain),
    KW("readiness_delay", p_secs, struct config, readiness_delay),
    KW("deploy_timeout", p_secs, struct config, deploy_timeout),
    KW("drain_timeout", p_secs, struct config, drain_timeout),
    KW("require_destination", p_bool, struct config, require_destination),
    KW_FN("minimum_version", root_minimum_version),
    KW("stop_timeout", p_secs, struct config, stop_timeout),
    KW_FN("hooks_output", root_hooks_output),
    KW_FN("output", root_output),
    KW("release_command", p_str, struct config, release_command),
    KW_FN("sshkit", root_sshkit),
    KW_END,
};

/* ---- servers and roles ---- */

static struct config_role *role_add(struct config *cfg, const char *name)
{
	struct config_role *r;

	XGROW(cfg->roles, cfg->alloc_roles, cfg->nr_roles + 1);
	r = &cfg->roles[cfg->nr_roles++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	env_init(&r->env);
	proxy_init(&r->proxy);
	r->stop_timeout = cfg->stop_timeout;
	r->instances = 1;
	set_str(&r->asset_path, cfg->asset_path);
	env_copy(&r->env, &cfg->env);
	set_str(&r->logging.driver, cfg->logging.driver);
	map_copy(&r->logging.options, &cfg->logging.options);
	return r;
}

static int role_hosts(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_role *r = obj;
	size_t i, old;
	int ret = 0;

	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind != YAML_SEQ) {
		return expected(c, n, "a list of hosts");
	}
	for (i = 0; i < n->nr_items && !ret; i++) {
		const struct yaml_node *it = n->items[i], *host = it, *tags = NULL;
		struct config_host *h;

		old = path_push_index(c, i);
		if (it->kind == YAML_MAP && it->nr_pairs == 1) {
			host = it->pairs[0].key;
			tags = it->pairs[0].value;
		}
		if (!is_scalar(host) || !*scalar_text(host) || scalar_text(host)[0] == '-') {
			ret = expected(c, it, "a host, or a host with its tags (host: tag)");
			path_pop(c, old);
			break;
		}
		XGROW(r->hosts, r->alloc_hosts, r->nr_hosts + 1);
		h = &r->hosts[r->nr_hosts++];
		h->name = xstrdup(scalar_text(host));
		strvec_init(&h->tags);
		if (tags) {
			size_t o2 = path_push(c, h->name);

			ret = p_str_or_list(c, tags, &h->tags, 0);
			path_pop(c, o2);
		}
		path_pop(c, old);
	}
	return ret;
}

static int role_env(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_role *r = obj;

	return env_parse(c, n, &r->env, NULL);
}

static int role_proxy(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (n->kind != YAML_BOOL && n->kind != YAML_MAP && n->kind != YAML_NULL) {
		return expected(c, n, "true, false or a map of proxy settings");
	}
	c->role_proxy = n;
	c->role_proxy_set = true;
	return 0;
}

static int role_instances(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_role *r = obj;

	(void)off;
	return get_int(c, n, 1, CONFIG_INSTANCES_MAX, "a number of containers per host (1-100)",
		       &r->instances);
}

static const struct kw role_kws[] = {
    KW_FN("hosts", role_hosts),
    KW("cmd", p_str, struct config_role, cmd),
    KW("options", p_options, struct config_role, options),
    KW_FN("env", role_env),
    KW("labels", p_map, struct config_role, labels),
    KW_FN("proxy", role_proxy),
    KW("logging", p_logging, struct config_role, logging),
    KW("asset_path", p_asset_path, struct config_role, asset_path),
    KW("stop_timeout", p_secs, struct config_role, stop_timeout),
    KW_FN("instances", role_instances),
    KW_END,
};

static int role_finish(struct cctx *c, struct config_role *r)
{
	bool primary = !strcmp(r->name, c->cfg->primary_role);
	const struct yaml_node *n = c->role_proxy;
	struct yaml_node *merged = NULL;
	size_t old;
	int ret = 0;

	if (!c->role_proxy_set) {
		if (primary) {
			ret = proxy_parse(c, c->proxy, &r->proxy);
		}
		return ret;
	}
	old = path_push(c, "proxy");
	if (n->kind == YAML_MAP && yaml_get(n, "run")) {
		path_push(c, "run");
		ret = fail_at(c, yaml_get(n, "run"),
			      "expected run only in the top-level proxy, found it here");
		path_pop(c, old);
		return ret;
	}
	if (n->kind == YAML_BOOL && !n->b) {
		r->proxy.enabled = false;
	} else if (n->kind == YAML_BOOL || n->kind == YAML_NULL) {
		ret = proxy_parse(c, c->proxy, &r->proxy);
	} else {
		merged = c->proxy ? yaml_merge(c->proxy, n) : NULL;
		ret = proxy_parse(c, merged ? merged : n, &r->proxy);
		if (!ret) {
			warn_proxy_keys(c, n, merged ? merged : n, &r->proxy);
		}
	}
	path_pop(c, old);
	yaml_node_free(merged);
	return ret;
}

static int servers_parse(struct cctx *c, const struct yaml_node *root)
{
	struct config *cfg = c->cfg;
	const struct yaml_node *n = c->servers;
	size_t i, old;
	int ret = 0;

	old = path_push(c, "servers");
	if (!n || n->kind == YAML_NULL) {
		ret = fail_at(c, n ? n : root,
			      "expected a list of hosts or a map of roles, found nothing");
		goto out;
	}
	if (n->kind == YAML_SEQ) {
		struct config_role *r = role_add(cfg, "web");

		c->role_proxy_set = false;
		ret = role_hosts(c, n, r, 0);
		if (!ret) {
			ret = role_finish(c, r);
		}
		goto out;
	}
	if (n->kind != YAML_MAP) {
		ret = expected(c, n, "a list of hosts or a map of roles");
		goto out;
	}
	for (i = 0; i < n->nr_pairs && !ret; i++) {
		const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;
		struct config_role *r;
		const char *name;
		size_t o2;

		if (!is_scalar(k)) {
			ret = expected(c, k, "a role name");
			break;
		}
		name = scalar_text(k);
		if (!strncmp(name, "x-", 2)) {
			continue;
		}
		o2 = path_push(c, name);
		if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789_-") != strlen(name)) {
			ret = expected(c, k, "a role name of letters, digits, '-' and '_'");
			path_pop(c, o2);
			break;
		}
		r = role_add(cfg, name);
		c->role_proxy = NULL;
		c->role_proxy_set = false;
		if (v->kind == YAML_SEQ) {
			ret = role_hosts(c, v, r, 0);
		} else if (v->kind == YAML_MAP || v->kind == YAML_NULL) {
			ret = walk_map(c, v, role_kws, r);
		} else {
			ret = expected(c, v, "a list of hosts or a map of role settings");
		}
		if (!ret) {
			ret = role_finish(c, r);
		}
		if (!ret && !r->nr_hosts && !cfg->allow_empty_roles) {
			ret = fail_at(c, v->kind == YAML_NULL ? k : v,
				      "expected at least one host (or allow_empty_roles: true), "
				      "found none");
		}
		path_pop(c, o2);
	}
	if (!ret && !cfg->nr_roles) {
		ret = fail_at(c, n, "expected at least one role, found none");
	}
out:
	path_pop(c, old);
	return ret;
}

/* ---- accessories ---- */

static int acc_one(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct strvec *sv = FIELD(obj, off, struct strvec);

	if (!is_scalar(n)) {
		return expected(c, n, "a string");
	}
	strvec_clear(sv);
	strvec_push(sv, scalar_text(n));
	return 0;
}

static int acc_registry(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_accessory *a = obj;

	a->has_registry = true;
	return walk_map(c, n, registry_kws, &a->registry);
}

static int acc_proxy(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_accessory *a = obj;

	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of proxy settings");
	}
	if (yaml_get(n, "run")) {
		path_push(c, "run");
		return fail_at(c, yaml_get(n, "run"),
			       "expected run only in the top-level proxy, found it here");
	}
	if (proxy_parse(c, n, &a->proxy) < 0) {
		return -1;
	}
	warn_proxy_keys(c, n, n, &a->proxy);
	return 0;
}

/* One path of an accessory, appended: local and remote set, remote a path in the container. */
static int path_add(struct cctx *c, const struct yaml_node *n, struct config_accessory_paths *ps,
		    const char *local, const char *remote, const char *options)
{
	struct config_accessory_path *p;

	if (!local || !*local) {
		return expected(c, n, "a local path (local:remote[:options])");
	}
	if (!remote || remote[0] != '/') {
		return expected(c, n, "an absolute path in the container (local:remote[:options])");
	}
	XGROW(ps->v, ps->alloc, ps->nr + 1);
	p = &ps->v[ps->nr++];
	memset(p, 0, sizeof(*p));
	p->local = xstrdup(local);
	p->remote = xstrdup(remote);
	p->options = options && *options ? xstrdup(options) : NULL;
	return 0;
}

/* "local:remote[:options]", split as Kamal splits it (on the first two colons). */
static int path_string(struct cctx *c, const struct yaml_node *n, struct config_accessory_paths *ps)
{
	const char *s = scalar_text(n), *c1 = strchr(s, ':'), *c2;
	char *local, *remote;
	int ret;

	if (!c1) {
		return expected(c, n, "local:remote[:options]");
	}
	c2 = strchr(c1 + 1, ':');
	local = xstrndup(s, (size_t)(c1 - s));
	remote = c2 ? xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1);
	ret = path_add(c, n, ps, local, remote, c2 ? c2 + 1 : NULL);
	free(local);
	free(remote);
	return ret;
}

static bool mode_ok(const char *m)
{
	size_t n = strlen(m);

	return n >= 3 && n <= 4 && strspn(m, "01234567") == n;
}

/* Kamal's map form: {local, remote, mode, owner, options}. */
static int path_map(struct cctx *c, const struct yaml_node *n, struct config_accessory_paths *ps)
{
	static const char *const keys[] = {"local", "remote", "mode", "owner", "options", NULL};
	const char *v[5] = {NULL};
	size_t i, k, old;
	struct config_accessory_path *p;

	for (i = 0; i < n->nr_pairs; i++) {
		const struct yaml_node *key = n->pairs[i].key, *val = n->pairs[i].value;
		const char *name = is_scalar(key) ? scalar_text(key) : NULL;

		if (!name) {
			return expected(c, key, "a key");
		}
		for (k = 0; keys[k] && strcmp(keys[k], name); k++) {
		}
		old = path_push(c, name);
		if (!keys[k]) {
			const char *s = config_suggest(name, keys);

			return s ? fail_at(c, key, "unknown key, did you mean '%s'?", s)
				 : fail_at(c, key,
					   "unknown key (known keys: local, remote, mode, "
					   "owner, options)");
		}
		if (!is_scalar(val)) {
			return expected(c, val, "a string");
		}
		v[k] = scalar_text(val);
		if (k == 2 && !mode_ok(v[k])) {
			return expected(c, val, "a mode in octal digits (\"0600\")");
		}
		path_pop(c, old);
	}
	if (path_add(c, n, ps, v[0], v[1], v[4]) < 0) {
		return -1;
	}
	p = &ps->v[ps->nr - 1];
	p->mode = v[2] ? xstrdup(v[2]) : NULL;
	p->owner = v[3] && *v[3] ? xstrdup(v[3]) : NULL;
	return 0;
}

/* `local: remote` pairs. */
static int path_pairs(struct cctx *c, const struct yaml_node *n, struct config_accessory_paths *ps)
{
	size_t i, old;
	int ret = 0;

	for (i = 0; i < n->nr_pairs && !ret; i++) {
		const struct yaml_node *key = n->pairs[i].key, *val = n->pairs[i].value;

		if (!is_scalar(key)) {
			return expected(c, key, "a local path");
		}
		old = path_push(c, scalar_text(key));
		ret = is_scalar(val)
			  ? path_add(c, val, ps, scalar_text(key), scalar_text(val), NULL)
			  : expected(c, val, "a path in the container");
		path_pop(c, old);
	}
	return ret;
}

/*
 * files and directories: a list of "local:remote[:options]" strings or of
 * Kamal's maps ({local, remote, mode, owner, options}), or `local: remote`
 * pairs (a map, or list items of one pair each).
 */
static int p_paths(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_accessory_paths *ps = FIELD(obj, off, struct config_accessory_paths);
	size_t i, old;
	int ret = 0;

	paths_release(ps);
	if (n->kind == YAML_NULL) {
		return 0;
	}
	if (n->kind == YAML_MAP) {
		return path_pairs(c, n, ps);
	}
	if (n->kind != YAML_SEQ) {
		return expected(c, n, "a list of local:remote paths, or a map of local: remote");
	}
	for (i = 0; i < n->nr_items && !ret; i++) {
		const struct yaml_node *it = n->items[i];

		old = path_push_index(c, i);
		if (is_scalar(it)) {
			ret = path_string(c, it, ps);
		} else if (it->kind == YAML_MAP &&
			   (yaml_get(it, "local") || yaml_get(it, "remote"))) {
			ret = path_map(c, it, ps);
		} else if (it->kind == YAML_MAP) {
			ret = path_pairs(c, it, ps);
		} else {
			ret =
			    expected(c, it, "local:remote[:options], or a map of local and remote");
		}
		path_pop(c, old);
	}
	return ret;
}

int config_backup_kind_parse(const char *s)
{
	static const char *const names[] = {"volume", "postgres", "mysql", "redis"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			return (int)i;
		}
	}
	return -1;
}

/*
 * backup: (or x-backup:) — what berth backs up of an accessory, when, how
 * many it keeps and where. Only the kinds and targets berth can act on are
 * taken; any other is refused, so a config never looks covered when it is
 * not.
 */
static int backup_kind(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_backup *b = obj;
	const char *s = is_scalar(n) ? scalar_text(n) : NULL;
	int k = s ? config_backup_kind_parse(s) : -1;

	if (k < 0) {
		return expected(c, n, "volume, postgres, mysql or redis");
	}
	set_str(&b->kind, s);
	b->kind_id = (enum config_backup_kind)k;
	return 0;
}

static int backup_schedule(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_backup *b = obj;
	struct err e = ERR_INIT;
	struct cron cr;
	int ret = 0;

	if (n->kind != YAML_STR) {
		return expected(c, n, "a cron schedule such as \"0 3 * * *\"");
	}
	if (cron_parse(&cr, n->str, &e) < 0) {
		ret = fail_at(c, n, "%s (cron's five fields, read in UTC)", e.msg.buf);
	} else {
		set_str(&b->schedule, n->str);
	}
	err_release(&e);
	return ret;
}

static int backup_keep_n(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return get_int(c, n, 0, 100000, "a number of snapshots (0 or more)",
		       FIELD(obj, off, long long));
}

static const struct kw backup_keep_kws[] = {
    KW("daily", backup_keep_n, struct config_backup, keep_daily),
    KW("weekly", backup_keep_n, struct config_backup, keep_weekly),
    KW("monthly", backup_keep_n, struct config_backup, keep_monthly),
    KW_END,
};

static int backup_keep(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	if (n->kind != YAML_MAP) {
		return expected(c, n, "a map of daily, weekly and monthly counts");
	}
	return walk_map(c, n, backup_keep_kws, obj);
}

#define BACKUP_TO_WHAT                                                                             \
	"an absolute directory on the accessory's host, ssh://[user@]host[:port]/path or "         \
	"s3://bucket[/prefix]"

/* ASCII only, whatever the locale says */
static bool ascii_lower_digit(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool ascii_alnum(char ch)
{
	return ascii_lower_digit(ch) || (ch >= 'A' && ch <= 'Z');
}

/* A printable character that needs no quoting anywhere a target's part goes (argv, URLs). */
static bool url_char(char ch)
{
	return ch > ' ' && ch < 0x7f && !strchr("\"'\\`$%?#;&|<>()*{}[]^!", ch);
}

/* An absolute path: url_char only, no "." or ".." component, no empty one inside. */
static bool target_path_ok(const char *p, size_t n)
{
	size_t i, seg = 0;

	if (n < 2 || p[0] != '/') {
		return false;
	}
	for (i = 0; i <= n; i++) {
		if (i == n || p[i] == '/') {
			size_t len = i - seg;

			if (seg && ((len == 1 && p[seg] == '.') ||
				    (len == 2 && p[seg] == '.' && p[seg + 1] == '.') ||
				    (len == 0 && i != n))) {
				return false;
			}
			seg = i + 1;
		} else if (!url_char(p[i]) || p[i] == ':') {
			return false;
		}
	}
	return true;
}

/*
 * "HOST[:PORT]" or "[IPV6][:PORT]" of n bytes at s: *host (brackets
 * dropped) and *port (def when not given). A host name is letters, digits,
 * '-', '.' and '_', not starting with '-'. Returns 0, or -1.
 */
static int split_host_port(const char *s, size_t n, char **host, long long *port, long long def)
{
	const char *h = s, *end = s + n, *hend;
	long long p = def;

	if (n && s[0] == '[') {
		hend = memchr(s, ']', n);
		if (!hend || hend == s + 1) {
			return -1;
		}
		h = s + 1;
		for (const char *q = h; q < hend; q++) {
			if (!strchr("0123456789abcdefABCDEF:.", *q)) {
				return -1;
			}
		}
		s = hend + 1;
	} else {
		hend = memchr(s, ':', n);
		if (!hend) {
			hend = end;
		}
		if (hend == s || s[0] == '-') {
			return -1;
		}
		for (const char *q = s; q < hend; q++) {
			if (!ascii_alnum(*q) && !strchr("-._", *q)) {
				return -1;
			}
		}
		s = hend;
	}
	if (s < end) {
		if (*s != ':' || s + 1 == end || end - s > 6) {
			return -1;
		}
		p = 0;
		for (s++; s < end; s++) {
			if (*s < '0' || *s > '9') {
				return -1;
			}
			p = p * 10 + (*s - '0');
		}
		if (p < 1 || p > 65535) {
			return -1;
		}
	}
	*host = xstrndup(h, (size_t)(hend - h));
	*port = p;
	return 0;
}

/* ssh://[USER@]HOST[:PORT]/PATH into b; the problem into why. */
static int parse_ssh_target(struct config_backup *b, const char *s, const char **why)
{
	const char *auth = s + 6, *slash = strchr(auth, '/'), *at, *hp;
	char *host = NULL;
	long long port;

	if (!slash) {
		*why = "ssh://[user@]host[:port]/path, with an absolute path on that host";
		return -1;
	}
	at = memchr(auth, '@', (size_t)(slash - auth));
	hp = at ? at + 1 : auth;
	if (at) {
		size_t i, n = (size_t)(at - auth);

		for (i = 0; i < n; i++) {
			if (!ascii_alnum(auth[i]) && !strchr("-._", auth[i])) {
				break;
			}
		}
		if (!n || i < n || auth[0] == '-') {
			*why =
			    "ssh://[user@]host[:port]/path, with a user name of letters, digits, "
			    "'-', '.' and '_'";
			return -1;
		}
	}
	if (split_host_port(hp, (size_t)(slash - hp), &host, &port, 22) < 0) {
		*why = "ssh://[user@]host[:port]/path, with a host name or address and a port "
		       "from 1 to 65535";
		return -1;
	}
	if (!target_path_ok(slash, strlen(slash))) {
		free(host);
		*why = "ssh://[user@]host[:port]/path, with an absolute path on that host (no "
		       "spaces, quotes, ':', '.' or '..')";
		return -1;
	}
	b->host = host;
	b->port = port;
	b->user = at ? xstrndup(auth, (size_t)(at - auth)) : xstrdup("root");
	b->path = xstrdup(slash);
	return 0;
}

/* s3://BUCKET[/PREFIX] into b; the problem into why. */
static int parse_s3_target(struct config_backup *b, const char *s, const char **why)
{
	const char *bucket = s + 5, *slash = strchr(bucket, '/');
	size_t i, n = slash ? (size_t)(slash - bucket) : strlen(bucket), plen;
	const char *prefix = slash ? slash + 1 : "";

	for (i = 0; i < n; i++) {
		if (!ascii_lower_digit(bucket[i]) && !strchr("-.", bucket[i])) {
			break;
		}
	}
	if (n < 3 || n > 63 || i < n || !ascii_lower_digit(bucket[0]) ||
	    !ascii_lower_digit(bucket[n - 1])) {
		*why = "s3://bucket[/prefix], with a bucket name of 3 to 63 lowercase letters, "
		       "digits, '-' and '.'";
		return -1;
	}
	plen = strlen(prefix);
	while (plen && prefix[plen - 1] == '/') {
		plen--;
	}
	if (plen && !target_path_ok(prefix - 1, plen + 1)) {
		*why = "s3://bucket[/prefix], with a prefix of path components (no spaces, quotes, "
		       "':', '.' or '..')";
		return -1;
	}
	b->bucket = xstrndup(bucket, n);
	b->prefix = xstrndup(prefix, plen);
	return 0;
}

static int backup_to(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_backup *b = obj;
	const char *s = n->kind == YAML_STR ? n->str : NULL, *why = NULL;
	int r;

	if (!s) {
		return expected(c, n, BACKUP_TO_WHAT);
	}
	set_str(&b->user, NULL);
	set_str(&b->host, NULL);
	set_str(&b->path, NULL);
	set_str(&b->bucket, NULL);
	set_str(&b->prefix, NULL);
	if (!strncmp(s, "ssh://", 6)) {
		b->target = CONFIG_BACKUP_SSH;
		r = parse_ssh_target(b, s, &why);
	} else if (!strncmp(s, "s3://", 5)) {
		b->target = CONFIG_BACKUP_S3;
		r = parse_s3_target(b, s, &why);
	} else if (s[0] == '/') {
		b->target = CONFIG_BACKUP_DIR;
		r = target_path_ok(s, strlen(s)) ? 0 : -1;
		why = "an absolute directory on the accessory's host (no spaces, quotes, ':', '.' "
		      "or '..')";
	} else {
		return expected(c, n, BACKUP_TO_WHAT);
	}
	if (r < 0) {
		return expected(c, n, why);
	}
	set_str(&b->to, s);
	return 0;
}

/* endpoint: an S3-compatible service, "http(s)://HOST[:PORT]" (a trailing '/' dropped). */
static int backup_endpoint(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	static const char what[] = "an S3-compatible service's URL, http(s)://host[:port]";
	struct config_backup *b = obj;
	const char *s = n->kind == YAML_STR ? n->str : NULL, *hp;
	char *host = NULL;
	long long port;
	size_t len;

	if (!s || (strncmp(s, "http://", 7) && strncmp(s, "https://", 8))) {
		return expected(c, n, what);
	}
	hp = strstr(s, "://") + 3;
	len = strlen(hp);
	if (len && hp[len - 1] == '/') {
		len--;
	}
	if (split_host_port(hp, len, &host, &port, 0) < 0) {
		return expected(c, n, what);
	}
	free(host);
	free(b->endpoint);
	b->endpoint = xstrndup(s, (size_t)(hp - s) + len);
	return 0;
}

/* A secret's name (letters, digits, _), never its value. */
static int backup_secret_name(struct cctx *c, const struct yaml_node *n, char **out,
			      const char *what)
{
	const char *s = n->kind == YAML_STR ? n->str : NULL;

	if (!s || !*s || (*s >= '0' && *s <= '9') ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
		strlen(s)) {
		return expected(c, n, what);
	}
	set_str(out, s);
	return 0;
}

static int backup_password(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return backup_secret_name(
	    c, n, FIELD(obj, off, char *),
	    "the name of a secret (letters, digits, _), not the password itself");
}

static int backup_cred(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	return backup_secret_name(c, n, FIELD(obj, off, char *),
				  "the name of a secret (letters, digits, _), not the key itself");
}

static const struct kw backup_kws[] = {
    KW_FN("kind", backup_kind),
    KW_FN("schedule", backup_schedule),
    KW_FN("keep", backup_keep),
    KW_FN("to", backup_to),
    KW_FN("endpoint", backup_endpoint),
    KW("password", backup_password, struct config_backup, password),
    KW("ssh_key", backup_cred, struct config_backup, ssh_key),
    KW("access_key_id", backup_cred, struct config_backup, access_key_id),
    KW("secret_access_key", backup_cred, struct config_backup, secret_access_key),
    KW_END,
};

/* The keys of one target only where it is that target; the credentials' default names. */
static int backup_target_keys(struct cctx *c, const struct yaml_node *n, struct config_backup *b)
{
	static const char *const s3_keys[] = {"endpoint", "access_key_id", "secret_access_key"};
	const struct yaml_node *k;
	size_t i;

	if (b->target != CONFIG_BACKUP_SSH && (k = yaml_get(n, "ssh_key"))) {
		return fail_at(c, k, "ssh_key is for a backup to ssh://host/path, not to \"%s\"",
			       b->to);
	}
	for (i = 0; b->target != CONFIG_BACKUP_S3 && i < 3; i++) {
		if ((k = yaml_get(n, s3_keys[i]))) {
			return fail_at(c, k, "%s is for a backup to s3://bucket, not to \"%s\"",
				       s3_keys[i], b->to);
		}
	}
	if (b->target == CONFIG_BACKUP_SSH && !b->ssh_key) {
		return fail_at(c, n,
			       "expected ssh_key (the name of the secret that holds the private "
			       "key for %s@%s), found none",
			       b->user, b->host);
	}
	if (b->target == CONFIG_BACKUP_S3) {
		if (!b->access_key_id) {
			set_str(&b->access_key_id, "AWS_ACCESS_KEY_ID");
		}
		if (!b->secret_access_key) {
			set_str(&b->secret_access_key, "AWS_SECRET_ACCESS_KEY");
		}
	}
	return 0;
}

static int acc_backup(struct cctx *c, const struct yaml_node *n, void *obj, size_t off)
{
	struct config_accessory *a = obj;
	struct config_backup *b = &a->backup;

	if (n->kind != YAML_MAP) {
		return expected(
		    c, n, "a map of backup settings (kind, schedule, keep, to, password, ...)");
	}
	b->keep_daily = b->keep_weekly = b->keep_monthly = 0;
	if (walk_map(c, n, backup_kws, b) < 0) {
		return -1;
	}
	if (!b->kind) {
		set_str(&b->kind, "volume");
		b->kind_id = CONFIG_BACKUP_VOLUME;
	}
	if (!b->to) {
		return fail_at(c, n, "expected to (" BACKUP_TO_WHAT "), found none");
	}
	if (!b->password) {
		return fail_at(c, n,
			       "expected password (the name of the secret that encrypts the "
			       "backups), found none");
	}
	if (backup_target_keys(c, n, b) < 0) {
		return -1;
	}
	a->has_backup = true;
	return 0;
}

static const struct kw accessory_kws[] = {
    KW("service", p_str, struct config_accessory, service),
    KW("image", p_str, struct config_accessory, image),
    KW_FN("registry", acc_registry),
    KW("host", acc_one, struct config_accessory, hosts),
    KW("hosts", p_strlist, struct config_accessory, hosts),
    KW("role", acc_one, struct config_accessory, roles),
    KW("roles", p_strlist, struct config_accessory, roles),
    KW("tag", acc_one, struct config_accessory, tags),
    KW("tags", p_strlist, struct config_accessory, tags),
    KW("port", p_str, struct config_accessory, port),
    KW("cmd", p_str, struct config_accessory, cmd),
    KW("env", p_env, struct config_accessory, env),
    KW("volumes", p_strlist, struct config_accessory, volumes),
    KW("files", p_paths, struct config_accessory, files),
    KW("directories", p_paths, struct config_accessory, directories),
    KW("options", p_options, struct config_accessory, options),
    KW("labels", p_map, struct config_accessory, labels),
    KW("network", p_str, struct config_accessory, network),
    KW_FN("proxy", acc_proxy),
    KW_FN("backup", acc_backup),
    KW_END,
};

/* ---- the keys, for `berth docs` ---- */

static const struct {
	const char *name, *about;
	const struct kw *kws;
} doc_sections[] = {
    {"configuration", "the top level of config/deploy.yml", root_kws},
    {"role", "servers.ROLE: a role's hosts and how its containers run", role_kws},
    {"env", "env, at the top or in a role: clear, secret, tags", env_kws},
    {"logging", "logging: the containers' docker log driver", logging_kws},
    {"proxy", "proxy: how berth-proxy routes to a role", proxy_kws},
    {"proxy.ssl", "proxy.ssl: a certificate from secrets", ssl_kws},
    {"proxy.healthcheck", "proxy.healthcheck", healthcheck_kws},
    {"proxy.buffering", "proxy.buffering", buffering_kws},
    {"proxy.logging", "proxy.logging: headers in the access log", proxy_logging_kws},
    {"proxy.run", "proxy.run: how the berth-proxy container starts (top level only)",
     proxy_run_kws},
    {"registry", "registry: where images are pushed and pulled", registry_kws},
    {"builder", "builder: how the image is built", builder_kws},
    {"builder.cache", "builder.cache", cache_kws},
    {"builder.pack", "builder.pack: read, not acted on (berth builds with docker build)", pack_kws},
    {"ssh", "ssh: how berth reaches the hosts", ssh_kws},
    {"boot", "boot: hosts at a time", boot_kws},
    {"sshkit", "sshkit: read for compatibility", sshkit_kws},
    {"output", "output: read, not acted on", output_kws},
    {"accessory", "accessories.NAME: a service beside the app", accessory_kws},
    {"accessory.backup",
     "accessories.NAME.backup (or x-backup): backups verified by restoring them", backup_kws},
    {"accessory.backup.keep", "accessories.NAME.backup.keep: snapshots kept", backup_keep_kws},
};

int config_docs(struct sbuf *out, const char *section)
{
	size_t i, k, len = section ? strlen(section) : 0;
	int found = 0;

	for (i = 0; i < sizeof(doc_sections) / sizeof(doc_sections[0]); i++) {
		const char *name = doc_sections[i].name;

		/* "proxy" also shows proxy.ssl, proxy.run, ... */
		if (section && strcmp(name, section) &&
		    !(strncmp(name, section, len) == 0 && name[len] == '.')) {
			continue;
		}
		sbuf_addf(out, "%s%s  # %s\n", found++ ? "\n" : "", name, doc_sections[i].about);
		for (k = 0; doc_sections[i].kws[k].key; k++) {
			sbuf_addf(out, "  %s\n", doc_sections[i].kws[k].key);
		}
	}
	return found ? 0 : -1;
}

void config_docs_sections(struct sbuf *out)
{
	size_t i;

	for (i = 0; i < sizeof(doc_sections) / sizeof(doc_sections[0]); i++) {
		sbuf_addf(out, "%s%s", i ? ", " : "", doc_sections[i].name);
	}
}

/*
 * port, as Kamal reads it: without a ':' the port is published as itself
 * ("3000" is "3000:3000"); with one it is docker's --publish as written
 * ("3000:3001", "127.0.0.1:3000:3000"). "IP:PORT" is kept too, as Kamal
 * keeps it, but docker refuses it (it reads HOST_PORT:CONTAINER_PORT): a
 * warning says so.
 */
static int accessory_port(struct cctx *c, const struct yaml_node *n, struct config_accessory *a)
{
	const char *colon = strchr(a->port, ':');
	size_t old = path_push(c, "port");
	int ret = 0;

	if (!*a->port) {
		ret = expected(c, n, "a port, or docker's [IP:]HOST_PORT:CONTAINER_PORT");
	} else if (!colon) {
		struct sbuf both = SBUF_INIT;

		sbuf_addf(&both, "%s:%s", a->port, a->port);
		free(a->port);
		a->port = sbuf_detach(&both, NULL);
	} else if (!strchr(colon + 1, ':') &&
		   strspn(a->port, "0123456789-") != (size_t)(colon - a->port)) {
		warn_ignored(c, "docker reads it as HOST_PORT:CONTAINER_PORT and refuses it (Kamal "
				"passes it as it is); write IP:HOST_PORT:CONTAINER_PORT");
	}
	path_pop(c, old);
	return ret;
}

static int accessory_finish(struct cctx *c, const struct yaml_node *n, struct config_accessory *a)
{
	static const char *const where[] = {"host", "hosts", "role", "roles", "tag", "tags", NULL};
	const char *const *w;
	size_t i, found = 0;

	if (!a->image) {
		return fail_at(c, n, "expected an image, found none");
	}
	for (w = where; *w; w++) {
		found += yaml_get(n, *w) != NULL;
	}
	if (found != 1) {
		return fail_at(c, n,
			       "expected one of host, hosts, role, roles, tag or tags, found %s",
			       found ? "several" : "none");
	}
	for (i = 0; i < a->roles.nr; i++) {
		const struct config_role *role = config_role(c->cfg, a->roles.v[i]);
		size_t h;

		if (!role) {
			const struct yaml_node *r = yaml_get(n, "roles");

			path_push(c, r ? "roles" : "role");
			r = r ? r : yaml_get(n, "role");
			return fail_at(c, r, "expected the name of a role, found '%s'",
				       a->roles.v[i]);
		}
		/* role or roles: the accessory runs on those roles' hosts (each once) */
		for (h = 0; h < role->nr_hosts; h++) {
			if (!strvec_has(&a->hosts, role->hosts[h].name)) {
				strvec_push(&a->hosts, role->hosts[h].name);
			}
		}
	}
	/* tag or tags: the hosts of servers that carry one of them, as Kamal finds them */
	for (i = 0; i < a->tags.nr; i++) {
		size_t r, h;

		for (r = 0; r < c->cfg->nr_roles; r++) {
			const struct config_role *role = &c->cfg->roles[r];

			for (h = 0; h < role->nr_hosts; h++) {
				const struct config_host *ho = &role->hosts[h];

				if (strvec_has(&ho->tags, a->tags.v[i]) &&
				    !strvec_has(&a->hosts, ho->name)) {
					strvec_push(&a->hosts, ho->name);
				}
			}
		}
	}
	if (!a->hosts.nr) {
		const char *key = a->tags.nr		 ? (yaml_get(n, "tags") ? "tags" : "tag")
				  : yaml_get(n, "hosts") ? "hosts"
				  : yaml_get(n, "roles") ? "roles"
							 : "role";

		path_push(c, key);
		return fail_at(c, yaml_get(n, key),
			       a->tags.nr ? "expected a tag that a host of servers carries, found "
					    "none that does"
					  : "expected at least one host, found none");
	}
	if (a->port && accessory_port(c, yaml_get(n, "port"), a) < 0) {
		return -1;
	}
	if (!a->service) {
		struct sbuf s = SBUF_INIT;

		sbuf_addf(&s, "%s-%s", c->cfg->service, a->name);
		a->service = sbuf_detach(&s, NULL);
	}
	return 0;
}

/* x-backup: the same section under a key Kamal skips, so the config stays Kamal's. */
static int accessory_xbackup(struct cctx *c, const struct yaml_node *n, struct config_accessory *a)
{
	const struct yaml_node *x = yaml_get(n, "x-backup");
	size_t old;
	int ret;

	if (!x) {
		return 0;
	}
	old = path_push(c, "x-backup");
	ret = yaml_get(n, "backup") ? fail_at(c, x, "expected backup or x-backup, found both")
				    : acc_backup(c, x, a, 0);
	path_pop(c, old);
	return ret;
}

static int accessories_parse(struct cctx *c)
{
	struct config *cfg = c->cfg;
	const struct yaml_node *n = c->accessories;
	size_t i, old, o2;
	int ret = 0;

	if (!n || n->kind == YAML_NULL) {
		return 0;
	}
	old = path_push(c, "accessories");
	if (n->kind != YAML_MAP) {
		ret = expected(c, n, "a map of accessories");
		goto out;
	}
	for (i = 0; i < n->nr_pairs && !ret; i++) {
		const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;
		struct config_accessory *a;

		if (!is_scalar(k)) {
			ret = expected(c, k, "an accessory name");
			break;
		}
		if (!strncmp(scalar_text(k), "x-", 2)) {
			continue;
		}
		o2 = path_push(c, scalar_text(k));
		if (v->kind != YAML_MAP) {
			ret = expected(c, v, "a map of accessory settings");
			path_pop(c, o2);
			break;
		}
		XGROW(cfg->accessories, cfg->alloc_accessories, cfg->nr_accessories + 1);
		a = &cfg->accessories[cfg->nr_accessories++];
		memset(a, 0, sizeof(*a));
		a->name = xstrdup(scalar_text(k));
		env_init(&a->env);
		strvec_init(&a->hosts);
		strvec_init(&a->roles);
		strvec_init(&a->tags);
		strvec_init(&a->volumes);
		proxy_init(&a->proxy);
		ret = walk_map(c, v, accessory_kws, a);
		if (!ret) {
			ret = accessory_xbackup(c, v, a);
		}
		if (!ret) {
			ret = accessory_finish(c, v, a);
		}
		path_pop(c, o2);
	}
out:
	path_pop(c, old);
	return ret;
}

/* ---- putting it together ---- */

static bool is_dir(const char *dir, const char *sub)
{
	struct sbuf p = SBUF_INIT;
	struct stat st;
	bool ret;

	sbuf_addf(&p, "%s/%s", dir ? dir : ".", sub);
	ret = stat(p.buf, &st) == 0 && S_ISDIR(st.st_mode);
	sbuf_release(&p);
	return ret;
}

static int section(struct cctx *c, const char *key, const struct yaml_node *n,
		   int (*fn)(struct cctx *c, const struct yaml_node *n))
{
	size_t old;
	int ret;

	if (!n) {
		return 0;
	}
	old = path_push(c, key);
	ret = fn(c, n);
	path_pop(c, old);
	return ret;
}

static int root_env_parse(struct cctx *c, const struct yaml_node *n)
{
	return env_parse(c, n, &c->cfg->env, c->cfg);
}

static int root_logging_parse(struct cctx *c, const struct yaml_node *n)
{
	return walk_map(c, n, logging_kws, &c->cfg->logging);
}

static int root_proxy_parse(struct cctx *c, const struct yaml_node *n)
{
	int ret;

	if (n->kind == YAML_BOOL || (n->kind != YAML_MAP && n->kind != YAML_NULL)) {
		return expected(c, n, "a map of proxy settings");
	}
	c->proxy_run_allowed = true;
	ret = proxy_parse(c, n, &c->cfg->proxy);
	c->proxy_run_allowed = false;
	if (!ret) {
		warn_proxy_keys(c, n, n, &c->cfg->proxy);
	}
	return ret;
}

int config_from_yaml(struct config *cfg, const struct yaml_node *root, const char *file,
		     const char *project_dir, const char *destination, const struct secrets *sec,
		     struct err *e)
{
	struct cctx c = {.cfg = cfg, .e = e, .path = SBUF_INIT, .sec = sec};
	struct sbuf files = SBUF_INIT;
	const char *base = is_dir(project_dir, ".berth") ? ".berth" : ".kamal";
	const struct yaml_node *rd, *pr;
	int ret = -1;

	set_str(&cfg->file, file);
	set_str(&cfg->destination, destination);
	{
		const struct yaml_node *sp =
		    root->kind == YAML_MAP ? yaml_get(root, "secrets_path") : NULL;
		struct sbuf sp_base = SBUF_INIT;

		if (sp && sp->kind == YAML_STR && sp->len) {
			sbuf_addstr(&sp_base, sp->str);
		} else {
			sbuf_addf(&sp_base, "%s/secrets", base);
		}
		sbuf_addf(&files, "%s-common or %s", sp_base.buf, sp_base.buf);
		if (destination) {
			sbuf_addf(&files, ".%s", destination);
		}
		sbuf_release(&sp_base);
	}
	c.secrets_files = files.buf;

	if (root->kind != YAML_MAP) {
		expected(&c, root, "a map of settings");
		goto out;
	}
	if (walk_map(&c, root, root_kws, cfg) < 0) {
		goto out;
	}
	rd = yaml_get(root, "require_destination");
	if (cfg->require_destination && !destination) {
		path_push(&c, "require_destination");
		fail_at(&c, rd, "expected a destination (-d NAME), found none");
		goto out;
	}
	if (!cfg->service) {
		path_push(&c, "service");
		fail_at(&c, root, "expected the service name, found nothing");
		goto out;
	}
	/* with a local registry (localhost:PORT) the image is named after the service, as Kamal
	 * does */
	if (!cfg->image && cfg->registry.server &&
	    !strncmp(cfg->registry.server, "localhost:", strlen("localhost:"))) {
		set_str(&cfg->image, cfg->service);
	}
	if (!cfg->image) {
		path_push(&c, "image");
		fail_at(&c, root, "expected the image name, found nothing");
		goto out;
	}
	if (section(&c, "env", c.env, root_env_parse) < 0 ||
	    section(&c, "logging", c.logging, root_logging_parse) < 0 ||
	    section(&c, "proxy", c.proxy, root_proxy_parse) < 0) {
		goto out;
	}
	if (c.proxy && c.proxy->kind != YAML_MAP) {
		c.proxy = NULL;
	}
	if (servers_parse(&c, root) < 0) {
		goto out;
	}
	if (!config_role(cfg, cfg->primary_role)) {
		pr = yaml_get(root, "primary_role");
		path_push(&c, "primary_role");
		fail_at(&c, pr ? pr : c.servers, "expected the name of a role, found '%s'",
			cfg->primary_role);
		goto out;
	}
	if (accessories_parse(&c) < 0) {
		goto out;
	}
	if (!cfg->builder.arch.nr) {
		/* Kamal's "Builder arch not set": every config names it, building or not */
		const struct yaml_node *b = yaml_get(root, "builder"), *a;

		a = b && b->kind == YAML_MAP ? yaml_get(b, "arch") : NULL;
		path_push(&c, "builder");
		path_push(&c, "arch");
		fail_at(&c,
			a   ? a
			: b ? b
			    : root,
			"expected amd64, arm64 or a list of them (Kamal requires it too), found %s",
			a ? "an empty list" : "none");
		goto out;
	}
	if (!cfg->hooks_path) {
		sbuf_reset(&files);
		sbuf_addf(&files, "%s/hooks", base);
		cfg->hooks_path = xstrdup(files.buf);
	}
	if (!cfg->secrets_path) {
		sbuf_reset(&files);
		sbuf_addf(&files, "%s/secrets", base);
		cfg->secrets_path = xstrdup(files.buf);
	}
	ret = 0;
out:
	sbuf_release(&c.path);
	sbuf_release(&files);
	return ret;
}

/* ---- loading files ---- */

static const char *env_getenv(const char *name, void *data)
{
	return getenv(name);
}

static bool valid_destination(const char *d)
{
	return *d && *d != '.' && *d != '-' &&
	       strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		   strlen(d);
}

/* Reads, renders and parses one file of the project. */
static int load_one(const struct config_opts *o, const char *dir, const char *file,
		    struct erb_env *env, struct yaml_node **out, struct err *e)
{
	struct sbuf path = SBUF_INIT, src = SBUF_INIT, text = SBUF_INIT;
	struct erb_ctx ctx = {0};
	int ret = -1;

	if (file[0] == '/') {
		sbuf_addstr(&path, file);
	} else {
		sbuf_addf(&path, "%s/%s", dir, file);
	}
	if (sbuf_read_file(&src, path.buf) < 0) {
		if (errno == ENOENT && !o->config_file && !strcmp(file, "config/deploy.yml")) {
			err_set(e, "cannot read '%s': %s; 'berth init' writes one", file,
				strerror(errno));
		} else {
			err_set(e, "cannot read '%s': %s", file, strerror(errno));
		}
		goto out;
	}
	if (src.len > CONFIG_MAX_FILE) {
		err_set(e, "'%s' is larger than %u bytes", file, CONFIG_MAX_FILE);
		goto out;
	}
	ctx.dir = dir;
	ctx.getenv = o->getenv ? o->getenv : env_getenv;
	ctx.data = o->getenv_data;
	ctx.cmd_timeout_ms = 60000;
	ctx.no_commands = o->no_commands;
	ctx.destination = o->destination;
	ctx.env = env;
	if (erb_render(file, src.buf, src.len, &ctx, &text, e) < 0) {
		goto out;
	}
	ret = yaml_load(file, text.buf, text.len, out, e);
out:
	sbuf_release(&path);
	sbuf_release(&src);
	sbuf_release(&text);
	return ret;
}

/*
 * The secrets files, where the config's secrets_path says (relative to the
 * project), or in .berth/ or .kamal/: they are read before the rest of the
 * config, which takes values from them.
 */
static int load_secrets(struct secrets *sec, const struct yaml_node *root, const char *dir,
			const char *destination, struct err *e)
{
	const struct yaml_node *sp = yaml_get(root, "secrets_path");
	bool here = !strcmp(dir, ".");
	struct sbuf path = SBUF_INIT;
	int ret;

	if (!sp || sp->kind != YAML_STR || !sp->len) {
		return secrets_load(sec, dir, destination, e);
	}
	if (sp->str[0] != '/' && !here) {
		sbuf_addf(&path, "%s/", dir);
	}
	sbuf_addstr(&path, sp->str);
	ret = secrets_load_path(sec, path.buf, destination, here ? NULL : dir, e);
	sbuf_release(&path);
	return ret;
}

int config_load(struct config *cfg, const struct config_opts *o, struct secrets *sec, struct err *e)
{
	const char *dir = o->project_dir ? o->project_dir : ".";
	const char *file = o->config_file ? o->config_file : "config/deploy.yml";
	struct yaml_node *base = NULL, *over = NULL, *merged = NULL;
	struct sbuf dfile = SBUF_INIT;
	/* what deploy.yml sets in ENV (Dotenv.load) its destination file sees, as in Kamal */
	struct erb_env *env = erb_env_new();
	const struct yaml_node *root;
	int ret = -1;

	if (load_one(o, dir, file, env, &base, e) < 0) {
		goto out;
	}
	root = base;
	if (o->destination) {
		const char *slash = strrchr(file, '/'), *dot;

		if (!valid_destination(o->destination)) {
			err_set(e, "destination '%s': expected letters, digits, '_', '-' and '.'",
				o->destination);
			goto out;
		}
		dot = strrchr(slash ? slash : file, '.');
		if (dot && dot > (slash ? slash + 1 : file)) {
			sbuf_add(&dfile, file, (size_t)(dot - file));
		} else {
			sbuf_addstr(&dfile, file);
		}
		sbuf_addf(&dfile, ".%s.yml", o->destination);
		if (load_one(o, dir, dfile.buf, env, &over, e) < 0) {
			goto out;
		}
		/* an empty destination file changes nothing */
		if (over->kind != YAML_NULL) {
			merged = yaml_merge(base, over);
			root = merged;
		}
	}
	if (o->load_secrets && sec && load_secrets(sec, root, dir, o->destination, e) < 0) {
		goto out;
	}
	ret =
	    config_from_yaml(cfg, root, file, dir, o->destination, o->load_secrets ? sec : NULL, e);
out:
	if (ret < 0) {
		config_release(cfg);
		config_init(cfg);
	}
	/* the trees go last: nodes of merged point at the file names of base and over */
	yaml_node_free(merged);
	yaml_node_free(over);
	yaml_node_free(base);
	sbuf_release(&dfile);
	erb_env_free(env);
	return ret;
}

/* ---- queries ---- */

const struct config_role *config_role(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nr_roles; i++) {
		if (!strcmp(cfg->roles[i].name, name)) {
			return &cfg->roles[i];
		}
	}
	return NULL;
}

const struct config_accessory *config_accessory(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nr_accessories; i++) {
		if (!strcmp(cfg->accessories[i].name, name)) {
			return &cfg->accessories[i];
		}
	}
	return NULL;
}

bool config_match(const char *p, const char *s)
{
	while (*p) {
		if (*p == '*') {
			while (*p == '*') {
				p++;
			}
			if (!*p) {
				return true;
			}
			for (; *s; s++) {
				if (config_match(p, s)) {
					return true;
				}
			}
			return false;
		}
		if (*p != *s) {
			return false;
		}
		p++;
		s++;
	}
	return !*s;
}

bool config_match_any(const struct strvec *filters, const char *s)
{
	size_t i;

	if (!filters || !filters->nr) {
		return true;
	}
	for (i = 0; i < filters->nr; i++) {
		if (config_match(filters->v[i], s)) {
			return true;
		}
	}
	return false;
}

size_t config_role_hosts(const struct config *cfg, const struct strvec *role_filters,
			 const struct strvec *host_filters, struct strvec *out)
{
	size_t i, j, n = 0;

	for (i = 0; i < cfg->nr_roles; i++) {
		const struct config_role *r = &cfg->roles[i];

		if (!config_match_any(role_filters, r->name)) {
			continue;
		}
		for (j = 0; j < r->nr_hosts; j++) {
			if (config_match_any(host_filters, r->hosts[j].name) &&
			    !strvec_has(out, r->hosts[j].name)) {
				strvec_push(out, r->hosts[j].name);
				n++;
			}
		}
	}
	return n;
}

void config_exec_setup(const struct config *cfg, struct exec *ex)
{
	const struct config_ssh *s = &cfg->ssh;

	if (s->user) {
		set_str(&ex->ssh.user, s->user);
	}
	if (s->port > 0) {
		ex->ssh.port = (unsigned)s->port;
	}
	if (s->proxy) {
		set_str(&ex->ssh.proxy, s->proxy);
	}
	if (s->proxy_command) {
		set_str(&ex->ssh.proxy_command, s->proxy_command);
	}
	strvec_pushv(&ex->ssh.keys, (const char *const *)s->keys.v);
	ex->ssh.keys_only = s->keys_only;
	ex->ssh.forward_agent = s->forward_agent;
	ex->ssh.use_config = s->use_config;
	strvec_pushv(&ex->ssh.configs, (const char *const *)s->configs.v);
	if (s->log_level && (!strcmp(s->log_level, "debug") || !strcmp(s->log_level, "verbose") ||
			     !strcmp(s->log_level, "info"))) {
		ex->ssh.log_level = 1;
	}
}

/* ---- JSON ---- */

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jint(long long v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *jtri(int v)
{
	return v < 0 ? json_null() : json_boolean(v);
}

static json_t *jlist(const struct strvec *sv)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sv->nr; i++) {
		json_array_append_new(a, json_string(sv->v[i]));
	}
	return a;
}

static json_t *jmap(const struct config_map *m)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < m->nr; i++) {
		json_object_set_new(o, m->v[i].key, jstr(m->v[i].value));
	}
	return o;
}

/* Docker options: a flag is true, a repeated option a list. */
static json_t *joptions(const struct config_map *m)
{
	json_t *o = json_object(), *old, *v;
	size_t i;

	for (i = 0; i < m->nr; i++) {
		v = m->v[i].value ? json_string(m->v[i].value) : json_true();
		old = json_object_get(o, m->v[i].key);
		if (!old) {
			json_object_set_new(o, m->v[i].key, v);
		} else if (json_is_array(old)) {
			json_array_append_new(old, v);
		} else {
			json_t *a = json_array();

			json_array_append(a, old);
			json_array_append_new(a, v);
			json_object_set_new(o, m->v[i].key, a);
		}
	}
	return o;
}

static json_t *jenv(const struct config_env *env)
{
	json_t *o = json_object(), *sec = json_array();
	size_t i;

	json_object_set_new(o, "clear", jmap(&env->clear));
	for (i = 0; i < env->secret_names.nr; i++) {
		if (strcmp(env->secret_names.v[i], env->secret_keys.v[i])) {
			json_array_append_new(sec, json_sprintf("%s:%s", env->secret_names.v[i],
								env->secret_keys.v[i]));
		} else {
			json_array_append_new(sec, json_string(env->secret_names.v[i]));
		}
	}
	json_object_set_new(o, "secret", sec);
	return o;
}

static json_t *jlogging(const struct config_logging *l)
{
	json_t *o = json_object();

	json_object_set_new(o, "driver", jstr(l->driver));
	json_object_set_new(o, "options", jmap(&l->options));
	return o;
}

static json_t *jproxy(const struct config_proxy *p)
{
	json_t *o, *x;

	if (!p->enabled) {
		return json_false();
	}
	o = json_object();
	json_object_set_new(o, "hosts", jlist(&p->hosts));
	json_object_set_new(o, "app_port", json_integer(p->app_port));
	json_object_set_new(o, "path_prefixes", jlist(&p->path_prefixes));
	json_object_set_new(o, "strip_path_prefix", jtri(p->strip_path_prefix));
	json_object_set_new(o, "ssl", json_boolean(p->ssl));
	json_object_set_new(o, "ssl_certificate_pem", jstr(p->ssl_certificate_pem));
	json_object_set_new(o, "ssl_private_key_pem", jstr(p->ssl_private_key_pem));
	json_object_set_new(o, "ssl_redirect", jtri(p->ssl_redirect));
	json_object_set_new(o, "forward_headers", jtri(p->forward_headers));
	json_object_set_new(o, "response_timeout", json_integer(p->response_timeout));
	x = json_object();
	json_object_set_new(x, "path", jstr(p->healthcheck_path));
	json_object_set_new(x, "interval", json_integer(p->healthcheck_interval));
	json_object_set_new(x, "timeout", json_integer(p->healthcheck_timeout));
	json_object_set_new(o, "healthcheck", x);
	x = json_object();
	json_object_set_new(x, "requests", json_boolean(p->buffer_requests != 0));
	json_object_set_new(x, "responses", json_boolean(p->buffer_responses != 0));
	json_object_set_new(x, "max_request_body", jint(p->max_request_body));
	json_object_set_new(x, "max_response_body", jint(p->max_response_body));
	json_object_set_new(x, "memory", jint(p->buffer_memory));
	json_object_set_new(o, "buffering", x);
	x = json_object();
	json_object_set_new(x, "request_headers", jlist(&p->log_request_headers));
	json_object_set_new(x, "response_headers", jlist(&p->log_response_headers));
	json_object_set_new(o, "logging", x);
	return o;
}

static json_t *jregistry(const struct config_registry *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "server", jstr(r->server));
	json_object_set_new(o, "username",
			    r->username_secret ? json_string(REDACTED) : jstr(r->username));
	json_object_set_new(o, "username_secret",
			    r->username_secret ? jstr(r->username) : json_null());
	json_object_set_new(o, "password", r->password ? json_string(REDACTED) : json_null());
	json_object_set_new(o, "password_secret",
			    r->password_secret ? jstr(r->password) : json_null());
	return o;
}

static json_t *jrole(const struct config_role *r)
{
	json_t *o = json_object(), *hosts = json_array(), *tags = json_object();
	size_t i;

	for (i = 0; i < r->nr_hosts; i++) {
		json_array_append_new(hosts, json_string(r->hosts[i].name));
		if (r->hosts[i].tags.nr) {
			json_object_set_new(tags, r->hosts[i].name, jlist(&r->hosts[i].tags));
		}
	}
	json_object_set_new(o, "hosts", hosts);
	json_object_set_new(o, "tags", tags);
	json_object_set_new(o, "cmd", jstr(r->cmd));
	json_object_set_new(o, "options", joptions(&r->options));
	json_object_set_new(o, "labels", jmap(&r->labels));
	json_object_set_new(o, "env", jenv(&r->env));
	json_object_set_new(o, "proxy", jproxy(&r->proxy));
	json_object_set_new(o, "logging", jlogging(&r->logging));
	json_object_set_new(o, "asset_path", jstr(r->asset_path));
	json_object_set_new(o, "stop_timeout", jint(r->stop_timeout));
	/* berth's own key: shown when set, so a Kamal config's output stays as it was */
	if (r->instances > 1) {
		json_object_set_new(o, "instances", json_integer(r->instances));
	}
	return o;
}

/* "local:remote[:options]" for a path without mode or owner, else Kamal's map. */
static json_t *jpaths(const struct config_accessory_paths *ps)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < ps->nr; i++) {
		const struct config_accessory_path *p = &ps->v[i];

		if (p->mode || p->owner) {
			json_t *o = json_object();

			json_object_set_new(o, "local", json_string(p->local));
			json_object_set_new(o, "remote", json_string(p->remote));
			json_object_set_new(o, "mode", jstr(p->mode));
			json_object_set_new(o, "owner", jstr(p->owner));
			json_object_set_new(o, "options", jstr(p->options));
			json_array_append_new(arr, o);
		} else {
			struct sbuf sb = SBUF_INIT;

			sbuf_addf(&sb, "%s:%s%s%s", p->local, p->remote, p->options ? ":" : "",
				  p->options ? p->options : "");
			json_array_append_new(arr, json_string(sb.buf));
			sbuf_release(&sb);
		}
	}
	return arr;
}

static json_t *jaccessory(const struct config_accessory *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "service", jstr(a->service));
	json_object_set_new(o, "image", jstr(a->image));
	json_object_set_new(o, "registry", a->has_registry ? jregistry(&a->registry) : json_null());
	json_object_set_new(o, "hosts", jlist(&a->hosts));
	json_object_set_new(o, "roles", jlist(&a->roles));
	json_object_set_new(o, "tags", jlist(&a->tags));
	json_object_set_new(o, "port", jstr(a->port));
	json_object_set_new(o, "cmd", jstr(a->cmd));
	json_object_set_new(o, "network", jstr(a->network));
	json_object_set_new(o, "env", jenv(&a->env));
	json_object_set_new(o, "volumes", jlist(&a->volumes));
	json_object_set_new(o, "files", jpaths(&a->files));
	json_object_set_new(o, "directories", jpaths(&a->directories));
	json_object_set_new(o, "options", joptions(&a->options));
	json_object_set_new(o, "labels", jmap(&a->labels));
	json_object_set_new(o, "proxy", jproxy(&a->proxy));
	if (a->has_backup) {
		const struct config_backup *b = &a->backup;
		json_t *x = json_object(), *keep = json_object();

		json_object_set_new(x, "kind", jstr(b->kind));
		json_object_set_new(x, "schedule", jstr(b->schedule));
		json_object_set_new(keep, "daily", json_integer(b->keep_daily));
		json_object_set_new(keep, "weekly", json_integer(b->keep_weekly));
		json_object_set_new(keep, "monthly", json_integer(b->keep_monthly));
		json_object_set_new(x, "keep", keep);
		json_object_set_new(x, "to", jstr(b->to));
		if (b->target == CONFIG_BACKUP_SSH) {
			json_object_set_new(x, "user", jstr(b->user));
			json_object_set_new(x, "host", jstr(b->host));
			json_object_set_new(x, "port", json_integer(b->port));
			json_object_set_new(x, "path", jstr(b->path));
			json_object_set_new(x, "ssh_key", jstr(b->ssh_key));
		} else if (b->target == CONFIG_BACKUP_S3) {
			json_object_set_new(x, "bucket", jstr(b->bucket));
			json_object_set_new(x, "prefix", jstr(b->prefix));
			json_object_set_new(x, "endpoint", jstr(b->endpoint));
			json_object_set_new(x, "access_key_id", jstr(b->access_key_id));
			json_object_set_new(x, "secret_access_key", jstr(b->secret_access_key));
		}
		/* the secret's name: config never reads a secret */
		json_object_set_new(x, "password", jstr(b->password));
		json_object_set_new(o, "backup", x);
	}
	return o;
}

static json_t *jbuilder(const struct config_builder *b)
{
	json_t *o = json_object(), *cache = json_null();

	json_object_set_new(o, "arch", jlist(&b->arch));
	json_object_set_new(o, "remote", b->remote ? json_string(b->remote) : json_false());
	json_object_set_new(o, "local", json_boolean(b->local != 0));
	json_object_set_new(o, "context", jstr(b->context));
	json_object_set_new(o, "dockerfile",
			    json_string(b->dockerfile ? b->dockerfile : "Dockerfile"));
	json_object_set_new(o, "target", jstr(b->target));
	json_object_set_new(o, "args", jmap(&b->args));
	json_object_set_new(o, "secrets", jlist(&b->secrets));
	if (b->cache_type) {
		cache = json_object();
		json_object_set_new(cache, "type", jstr(b->cache_type));
		json_object_set_new(cache, "options", jstr(b->cache_options));
		json_object_set_new(cache, "image", jstr(b->cache_image));
	}
	json_object_set_new(o, "cache", cache);
	json_object_set_new(o, "driver", jstr(b->driver));
	json_object_set_new(o, "ssh", jstr(b->ssh));
	json_object_set_new(o, "provenance", jstr(b->provenance));
	json_object_set_new(o, "sbom", jstr(b->sbom));
	return o;
}

json_t *config_to_json(const struct config *cfg)
{
	json_t *o = json_object(), *x;
	size_t i;

	json_object_set_new(o, "service", jstr(cfg->service));
	json_object_set_new(o, "image", jstr(cfg->image));
	json_object_set_new(o, "destination", jstr(cfg->destination));
	x = json_object();
	for (i = 0; i < cfg->nr_roles; i++) {
		json_object_set_new(x, cfg->roles[i].name, jrole(&cfg->roles[i]));
	}
	json_object_set_new(o, "servers", x);
	json_object_set_new(o, "primary_role", jstr(cfg->primary_role));
	json_object_set_new(o, "allow_empty_roles", json_boolean(cfg->allow_empty_roles));
	json_object_set_new(o, "proxy", jproxy(&cfg->proxy));
	x = json_object();
	json_object_set_new(x, "debug", json_boolean(cfg->proxy_run.debug > 0));
	json_object_set_new(x, "publish", json_boolean(cfg->proxy_run.publish != 0));
	json_object_set_new(x, "http_port", json_integer(cfg->proxy_run.http_port));
	json_object_set_new(x, "https_port", json_integer(cfg->proxy_run.https_port));
	json_object_set_new(x, "metrics_port", jint(cfg->proxy_run.metrics_port));
	json_object_set_new(x, "bind_ips", jlist(&cfg->proxy_run.bind_ips));
	json_object_set_new(x, "log_max_size", jstr(cfg->proxy_run.log_max_size));
	json_object_set_new(x, "version", jstr(cfg->proxy_run.version));
	json_object_set_new(x, "registry", jstr(cfg->proxy_run.registry));
	json_object_set_new(x, "repository", jstr(cfg->proxy_run.repository));
	json_object_set_new(x, "options", joptions(&cfg->proxy_run.options));
	json_object_set_new(o, "proxy_run", x);
	json_object_set_new(o, "registry", jregistry(&cfg->registry));
	json_object_set_new(o, "builder", jbuilder(&cfg->builder));
	x = jenv(&cfg->env);
	{
		json_t *tags = json_object();

		for (i = 0; i < cfg->nr_env_tags; i++) {
			json_object_set_new(tags, cfg->env_tags[i].name,
					    jenv(&cfg->env_tags[i].env));
		}
		json_object_set_new(x, "tags", tags);
	}
	json_object_set_new(o, "env", x);
	x = json_object();
	for (i = 0; i < cfg->nr_accessories; i++) {
		json_object_set_new(x, cfg->accessories[i].name, jaccessory(&cfg->accessories[i]));
	}
	json_object_set_new(o, "accessories", x);
	json_object_set_new(o, "volumes", jlist(&cfg->volumes));
	json_object_set_new(o, "labels", jmap(&cfg->labels));
	json_object_set_new(o, "aliases", jmap(&cfg->aliases));
	json_object_set_new(o, "logging", jlogging(&cfg->logging));
	x = json_object();
	json_object_set_new(x, "user", json_string(cfg->ssh.user ? cfg->ssh.user : "root"));
	json_object_set_new(x, "port", jint(cfg->ssh.port));
	json_object_set_new(x, "proxy", jstr(cfg->ssh.proxy));
	json_object_set_new(x, "proxy_command", jstr(cfg->ssh.proxy_command));
	json_object_set_new(x, "keys", jlist(&cfg->ssh.keys));
	json_object_set_new(x, "keys_only", json_boolean(cfg->ssh.keys_only));
	json_object_set_new(x, "config",
			    cfg->ssh.configs.nr ? jlist(&cfg->ssh.configs)
						: json_boolean(cfg->ssh.use_config));
	json_object_set_new(x, "log_level", jstr(cfg->ssh.log_level));
	/* keys set only: the names of key_data's secrets, never a key */
	if (cfg->ssh.key_data.nr) {
		json_t *kd = json_array();

		for (size_t ki = 0; ki < cfg->ssh.key_data.nr; ki++) {
			const char *k = cfg->ssh.key_data.v[ki];
			json_array_append_new(
			    kd, json_string(strchr(k, '\n') || strchr(k, ' ') ? "[REDACTED]" : k));
		}
		json_object_set_new(x, "key_data", kd);
	}
	if (cfg->ssh.forward_agent) {
		json_object_set_new(x, "forward_agent", json_true());
	}
	json_object_set_new(o, "ssh", x);
	x = json_object();
	if (cfg->boot_limit < 0) {
		json_object_set_new(x, "limit", json_null());
	} else if (cfg->boot_limit_percent) {
		json_object_set_new(x, "limit", json_sprintf("%lld%%", cfg->boot_limit));
	} else {
		json_object_set_new(x, "limit", json_integer(cfg->boot_limit));
	}
	json_object_set_new(x, "wait", jint(cfg->boot_wait));
	json_object_set_new(x, "parallel_roles", json_boolean(cfg->boot_parallel_roles));
	json_object_set_new(o, "boot", x);
	json_object_set_new(o, "asset_path", jstr(cfg->asset_path));
	json_object_set_new(o, "hooks_path", jstr(cfg->hooks_path));
	json_object_set_new(o, "secrets_path", jstr(cfg->secrets_path));
	json_object_set_new(o, "error_pages_path", jstr(cfg->error_pages_path));
	json_object_set_new(o, "run_directory", jstr(cfg->run_directory));
	json_object_set_new(o, "retain_containers", json_integer(cfg->retain_containers));
	json_object_set_new(o, "readiness_delay", json_integer(cfg->readiness_delay));
	json_object_set_new(o, "deploy_timeout", json_integer(cfg->deploy_timeout));
	json_object_set_new(o, "drain_timeout", json_integer(cfg->drain_timeout));
	json_object_set_new(o, "require_destination", json_boolean(cfg->require_destination));
	json_object_set_new(o, "minimum_version", jstr(cfg->minimum_version));
	json_object_set_new(o, "release_command", jstr(cfg->release_command));
	if (cfg->stop_timeout >= 0) {
		json_object_set_new(o, "stop_timeout", json_integer(cfg->stop_timeout));
	}
	if (cfg->hooks_output.nr) {
		json_t *h = json_object();

		for (size_t hi = 0; hi < cfg->hooks_output.nr; hi++) {
			json_object_set_new(h, cfg->hooks_output.v[hi].key,
					    json_string(cfg->hooks_output.v[hi].value));
		}
		json_object_set_new(o, "hooks_output", h);
	}
	if (cfg->warnings.nr) {
		json_object_set_new(o, "warnings", jlist(&cfg->warnings));
	}
	return o;
}

/* ---- YAML text from JSON ---- */

static bool plain_safe(const char *s)
{
	static const char *const words[] = {"y",    "n",     "yes",  "no", "on", "off",
					    "true", "false", "null", "~",  NULL};
	const char *const *w;
	const char *p;

	if (!*s ||
	    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '/' || *s == '_')) {
		return false;
	}
	for (w = words; *w; w++) {
		if (!strcasecmp(s, *w)) {
			return false;
		}
	}
	for (p = s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_./@=+-", *p))) {
			return false;
		}
	}
	return true;
}

static void yaml_scalar(struct sbuf *out, const json_t *j)
{
	if (json_is_string(j)) {
		if (plain_safe(json_string_value(j))) {
			sbuf_addstr(out, json_string_value(j));
		} else {
			sbuf_addch(out, '"');
			sbuf_add_json_escaped(out, json_string_value(j), json_string_length(j));
			sbuf_addch(out, '"');
		}
	} else if (json_is_integer(j)) {
		sbuf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
	} else if (json_is_real(j)) {
		sbuf_addf(out, "%.17g", json_real_value(j));
	} else if (json_is_boolean(j)) {
		sbuf_addstr(out, json_is_true(j) ? "true" : "false");
	} else {
		sbuf_addstr(out, "null");
	}
}

static bool is_empty_coll(const json_t *j)
{
	return (json_is_object(j) && !json_object_size(j)) ||
	       (json_is_array(j) && !json_array_size(j));
}

static void yaml_node_out(struct sbuf *out, const json_t *j, int indent)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, key, v)
		{
			json_t *k = json_string(key);

			sbuf_addf(out, "%*s", indent, "");
			yaml_scalar(out, k);
			json_decref(k);
			sbuf_addch(out, ':');
			if (is_empty_coll(v)) {
				sbuf_addstr(out, json_is_object(v) ? " {}\n" : " []\n");
			} else if (json_is_object(v)) {
				sbuf_addch(out, '\n');
				yaml_node_out(out, v, indent + 2);
			} else if (json_is_array(v)) {
				sbuf_addch(out, '\n');
				yaml_node_out(out, v, indent);
			} else {
				sbuf_addch(out, ' ');
				yaml_scalar(out, v);
				sbuf_addch(out, '\n');
			}
		}
	} else if (json_is_array(j)) {
		json_array_foreach((json_t *)j, i, v)
		{
			sbuf_addf(out, "%*s- ", indent, "");
			if (is_empty_coll(v)) {
				sbuf_addstr(out, json_is_object(v) ? "{}\n" : "[]\n");
			} else if (json_is_object(v) || json_is_array(v)) {
				struct sbuf sub = SBUF_INIT;

				/* the first line goes after "- ", the rest indented under it */
				yaml_node_out(&sub, v, indent + 2);
				sbuf_add(out, sub.buf + indent + 2, sub.len - (size_t)(indent + 2));
				sbuf_release(&sub);
			} else {
				yaml_scalar(out, v);
				sbuf_addch(out, '\n');
			}
		}
	} else {
		sbuf_addf(out, "%*s", indent, "");
		yaml_scalar(out, j);
		sbuf_addch(out, '\n');
	}
}

void config_json_to_yaml(struct sbuf *out, const json_t *j)
{
	yaml_node_out(out, j, 0);
}
