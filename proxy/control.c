#include "proxy/control.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/opt.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "proxy/dur.h"
#include "proxy/errpages.h"
#include "proxy/health.h"
#include "proxy/route.h"
#include "proxy/server.h"
#include "lib/banned.h"

#define MAX_REQUEST (64 * 1024)

static pthread_mutex_t change_lock = PTHREAD_MUTEX_INITIALIZER;
static char *state_file;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

char *control_default_state_dir(void)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	struct sbuf sb = SBUF_INIT;

	if (x && *x) {
		sbuf_addf(&sb, "%s/berth-proxy", x);
	} else if (home && *home && getuid() != 0) {
		sbuf_addf(&sb, "%s/.local/state/berth-proxy", home);
	} else {
		sbuf_addstr(&sb, "/var/lib/berth-proxy");
	}
	return sbuf_detach(&sb, NULL);
}

/* Output to the control client. */
struct ctl_out {
	int fd;
};

static void ctl_line(struct ctl_out *o, char kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ctl_line(struct ctl_out *o, char kind, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;
	size_t off = 0;

	sbuf_addch(&sb, kind);
	sbuf_addch(&sb, ' ');
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	sbuf_addch(&sb, '\n');
	while (off < sb.len) {
		ssize_t n = send(o->fd, sb.buf + off, sb.len - off, MSG_NOSIGNAL);

		if (n <= 0) {
			break;
		}
		off += (size_t)n;
	}
	sbuf_release(&sb);
}

/* Health checks */

/*
 * Checks every target until all are healthy or the deploy timeout passes.
 * Returns 0, or -1 after printing what each unhealthy target's last check saw.
 */
static int wait_healthy(struct service *s, struct ctl_out *o)
{
	uint64_t deadline = now_ms() + s->o.deploy_timeout_ms;
	struct sbuf *why = xcalloc(s->nr_targets, sizeof(*why));
	bool *ok = xcalloc(s->nr_targets, sizeof(*ok));
	size_t i, left = s->nr_targets;
	int rc = -1;

	for (i = 0; i < s->nr_targets; i++) {
		sbuf_init(&why[i], 0);
	}
	for (;;) {
		uint64_t round = now_ms();

		for (i = 0; i < s->nr_targets; i++) {
			uint64_t tmo = s->o.health_timeout_ms, now = now_ms();

			if (ok[i]) {
				continue;
			}
			if (now >= deadline) {
				break;
			}
			if (deadline - now < tmo) {
				tmo = deadline - now;
			}
			if (!health_check(s->targets[i], s->o.health_path, tmo, &why[i])) {
				ok[i] = true;
				left--;
			}
		}
		if (!left) {
			/* Proven: a target restored at start may serve now. */
			for (i = 0; i < s->nr_targets; i++) {
				atomic_store(&s->targets[i]->healthy, true);
				atomic_store(&s->targets[i]->pending, false);
			}
			rc = 0;
			break;
		}
		if (now_ms() + 1 >= deadline) {
			break;
		}
		if (now_ms() - round < s->o.health_interval_ms) {
			uint64_t wait = s->o.health_interval_ms - (now_ms() - round);

			if (now_ms() + wait > deadline) {
				wait = deadline - now_ms();
			}
			sleep_ms(wait);
		}
	}
	if (rc && o) {
		char d[32];

		for (i = 0; i < s->nr_targets; i++) {
			if (!ok[i]) {
				ctl_line(
				    o, 'e',
				    "error: target '%s' of service '%s' did not become healthy "
				    "within %s: GET %s: %s",
				    s->targets[i]->addr, s->name,
				    dur_format(s->o.deploy_timeout_ms, d, sizeof(d)),
				    s->o.health_path, why[i].len ? why[i].buf : "not checked");
			}
		}
	}
	for (i = 0; i < s->nr_targets; i++) {
		sbuf_release(&why[i]);
	}
	free(why);
	free(ok);
	return rc;
}

/* State */

static json_t *service_json(const struct service *s)
{
	json_t *hosts = json_array(), *targets = json_array(), *j;
	size_t i;

	for (i = 0; i < s->hosts.nr; i++) {
		json_array_append_new(hosts, json_string(s->hosts.v[i]));
	}
	for (i = 0; i < s->nr_targets; i++) {
		json_array_append_new(targets, json_string(s->targets[i]->addr));
	}
	j = json_pack("{s:s, s:o, s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "name",
		      s->name, "hosts", hosts, "path_prefix", s->path_prefix, "targets", targets,
		      "health_check_path", s->o.health_path, "health_check_interval_ms",
		      (json_int_t)s->o.health_interval_ms, "health_check_timeout_ms",
		      (json_int_t)s->o.health_timeout_ms, "deploy_timeout_ms",
		      (json_int_t)s->o.deploy_timeout_ms, "drain_timeout_ms",
		      (json_int_t)s->o.drain_timeout_ms, "target_timeout_ms",
		      (json_int_t)s->o.target_timeout_ms, "max_request_body",
		      (json_int_t)s->o.max_body, "state",
		      s->state == SERVICE_STOPPED  ? "stopped"
		      : s->state == SERVICE_PAUSED ? "paused"
						   : "running",
		      "max_pause_ms", (json_int_t)s->max_pause_ms);
	json_object_set_new(j, "forward_headers", json_boolean(s->o.forward_headers));
	json_object_set_new(j, "strip_path_prefix", json_boolean(s->o.strip_prefix));
	json_object_set_new(j, "buffer_requests", json_boolean(s->o.buffer_requests));
	if (s->pages) {
		json_t *st = json_array();

		for (i = 0; i < s->pages->nr; i++) {
			json_array_append_new(st, json_integer(s->pages->pages[i].status));
		}
		json_object_set_new(j, "error_pages", json_string(s->pages->dir));
		json_object_set_new(j, "error_pages_loaded", st);
	}
	if (s->stop_message) {
		json_object_set_new(j, "stop_message", json_string(s->stop_message));
	}
	if (s->nr_rollout) {
		json_t *rt = json_array(), *rl = json_array();

		for (i = 0; i < s->nr_rollout; i++) {
			json_array_append_new(rt, json_string(s->rollout[i]->addr));
		}
		for (i = 0; i < s->rollout_list.nr; i++) {
			json_array_append_new(rl, json_string(s->rollout_list.v[i]));
		}
		json_object_set_new(j, "rollout",
				    json_pack("{s:o, s:i, s:o}", "targets", rt, "percent",
					      (int)s->rollout_percent, "list", rl));
	}
	return j;
}

static json_t *table_json(const struct route_table *t)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < t->nr_svcs; i++) {
		json_array_append_new(arr, service_json(t->svcs[i]));
	}
	return arr;
}

static int save_state(const struct route_table *t, struct err *e)
{
	struct sbuf tmp = SBUF_INIT;
	json_t *root;
	char *text = NULL;
	int fd = -1, rc = -1;
	size_t off = 0, len;

	if (!state_file) {
		return 0;
	}
	root = json_pack("{s:i, s:o}", "version", 1, "services", table_json(t));
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	len = strlen(text);
	sbuf_addf(&tmp, "%s.tmp", state_file);
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(e, "cannot write '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			err_set(e, "cannot write '%s': %s", tmp.buf, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		err_set(e, "cannot write '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, state_file) < 0) {
		err_set(e, "cannot rename '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	{
		char *dir = xstrdup(state_file), *slash = strrchr(dir, '/');
		int dfd;

		if (slash) {
			*slash = '\0';
		}
		dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp.buf);
	}
	free(text);
	sbuf_release(&tmp);
	return rc;
}

static struct service *service_from_json(json_t *j, struct err *e)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	struct service *s;
	json_t *v;
	size_t i;

	if (!name) {
		err_set(e, "a service without a name");
		return NULL;
	}
	s = service_new(name);
	json_array_foreach(json_object_get(j, "hosts"), i, v)
	{
		if (json_is_string(v)) {
			strvec_push(&s->hosts, json_string_value(v));
		}
	}
	if (json_is_string(json_object_get(j, "path_prefix"))) {
		free(s->path_prefix);
		s->path_prefix = xstrdup(json_string_value(json_object_get(j, "path_prefix")));
	}
	if (json_is_string(json_object_get(j, "health_check_path"))) {
		free(s->o.health_path);
		s->o.health_path =
		    xstrdup(json_string_value(json_object_get(j, "health_check_path")));
	}
#define GETMS(key, field)                                                                          \
	if (json_is_integer(json_object_get(j, key))) {                                            \
		field = (uint64_t)json_integer_value(json_object_get(j, key));                     \
	}
	GETMS("health_check_interval_ms", s->o.health_interval_ms);
	GETMS("health_check_timeout_ms", s->o.health_timeout_ms);
	GETMS("deploy_timeout_ms", s->o.deploy_timeout_ms);
	GETMS("drain_timeout_ms", s->o.drain_timeout_ms);
	GETMS("target_timeout_ms", s->o.target_timeout_ms);
	GETMS("max_request_body", s->o.max_body);
	GETMS("max_pause_ms", s->max_pause_ms);
#undef GETMS
	s->o.forward_headers = json_is_true(json_object_get(j, "forward_headers"));
	s->o.buffer_requests = json_is_true(json_object_get(j, "buffer_requests"));
	/* A state written before the option existed: the prefix was not stripped. */
	s->o.strip_prefix = json_is_true(json_object_get(j, "strip_path_prefix"));
	v = json_object_get(j, "state");
	if (json_is_string(v) && !strcmp(json_string_value(v), "paused")) {
		s->state = SERVICE_PAUSED;
	} else if (json_is_string(v) && !strcmp(json_string_value(v), "stopped")) {
		s->state = SERVICE_STOPPED;
	}
	v = json_object_get(j, "stop_message");
	if (json_is_string(v)) {
		s->stop_message = xstrdup(json_string_value(v));
	}
	v = json_object_get(j, "error_pages");
	if (json_is_string(v)) {
		struct err pe = ERR_INIT;

		/* Pages that cannot be read now: the proxy's own are better than no service. */
		s->pages = errpages_load(json_string_value(v), &pe);
		if (!s->pages) {
			log_warn("service '%s': %s; serving the proxy's own error pages", name,
				 err_str(&pe));
		}
		err_release(&pe);
	}
	service_render_stop_page(s);
	json_array_foreach(json_object_get(j, "targets"), i, v)
	{
		struct target *t;

		if (!json_is_string(v)) {
			continue;
		}
		t = target_new(json_string_value(v), e);
		if (!t) {
			service_free(s);
			return NULL;
		}
		service_add_target(s, t);
	}
	v = json_object_get(j, "rollout");
	if (json_is_object(v)) {
		json_t *x;

		json_array_foreach(json_object_get(v, "targets"), i, x)
		{
			struct target *t;

			if (!json_is_string(x)) {
				continue;
			}
			t = target_new(json_string_value(x), e);
			if (!t) {
				service_free(s);
				return NULL;
			}
			service_add_rollout_target(s, t);
		}
		json_array_foreach(json_object_get(v, "list"), i, x)
		{
			if (json_is_string(x)) {
				strvec_push(&s->rollout_list, json_string_value(x));
			}
		}
		x = json_object_get(v, "percent");
		if (json_is_integer(x) && json_integer_value(x) >= 0 &&
		    json_integer_value(x) <= 100) {
			s->rollout_percent = (unsigned)json_integer_value(x);
		}
	}
	return s;
}

/* Publishes a table made of cur's services, without `drop`, plus `add` (may be NULL). */
static struct route_table *replace_service(const struct route_table *cur, const char *drop,
					   struct service *add)
{
	struct service **svcs = xcalloc(cur->nr_svcs + 1, sizeof(*svcs));
	struct route_table *t;
	size_t i, n = 0;

	for (i = 0; i < cur->nr_svcs; i++) {
		if (!drop || strcmp(cur->svcs[i]->name, drop)) {
			svcs[n++] = service_dup(cur->svcs[i]);
		}
	}
	if (add) {
		svcs[n++] = add;
	}
	t = route_table_new(svcs, n);
	free(svcs);
	return t;
}

/* Publishes t and waits until every worker uses it. */
static void switch_to(struct route_table *t)
{
	struct err e = ERR_INIT;

	if (save_state(t, &e) < 0) {
		log_error("%s", err_str(&e));
	}
	err_release(&e);
	route_publish(t);
	server_sync();
	health_watch(t);
}

/* Marks the targets of s pending: none serves before a health check passes. */
static void mark_pending(struct service *s)
{
	size_t i;

	for (i = 0; i < s->nr_targets + s->nr_rollout; i++) {
		struct target *t =
		    i < s->nr_targets ? s->targets[i] : s->rollout[i - s->nr_targets];

		atomic_store(&t->healthy, false);
		atomic_store(&t->pending, true);
	}
}

/* The first target of s still pending, or NULL. */
static const struct target *first_pending(const struct service *s)
{
	size_t i;

	for (i = 0; i < s->nr_targets + s->nr_rollout; i++) {
		const struct target *t =
		    i < s->nr_targets ? s->targets[i] : s->rollout[i - s->nr_targets];

		if (atomic_load(&t->pending)) {
			return t;
		}
	}
	return NULL;
}

/*
 * Says when each restored service is whole again: when every target has
 * passed a health check (the checkers started for pending targets do
 * them), or, with a warning, when its deploy timeout passes first.
 */
static void *restore_thread(void *arg)
{
	struct strvec *names = arg;
	struct route_table *tbl = route_current();
	uint64_t start = now_ms();
	size_t i;

	for (i = 0; i < names->nr; i++) {
		const struct service *s = route_table_find(tbl, names->v[i]);
		const struct target *t;

		if (!s) {
			continue;
		}
		while ((t = first_pending(s)) && now_ms() < start + s->o.deploy_timeout_ms) {
			sleep_ms(10);
		}
		if (t) {
			log_warn(
			    "service '%s' restored, but target '%s' is not healthy yet; it gets "
			    "no requests until it is",
			    s->name, t->addr);
		} else {
			log_info("service '%s' restored", s->name);
		}
	}
	route_table_unref(tbl);
	strvec_clear(names);
	free(names);
	return NULL;
}

/*
 * Publishes the saved services at once, their targets pending: requests
 * find every route from the start, and go to a target only once it has
 * passed a health check (a service with none yet answers 503).
 */
static int restore_state(struct err *e)
{
	struct strvec *names;
	struct route_table *tbl;
	json_error_t je;
	json_t *root, *v;
	pthread_t th;
	size_t i;

	if (access(state_file, F_OK) < 0) {
		return 0;
	}
	root = json_load_file(state_file, 0, &je);
	if (!root) {
		return err_setat(e, state_file, (unsigned)je.line, (unsigned)je.column, "%s",
				 je.text);
	}
	names = xcalloc(1, sizeof(*names));
	strvec_init(names);
	pthread_mutex_lock(&change_lock);
	tbl = route_current();
	json_array_foreach(json_object_get(root, "services"), i, v)
	{
		struct err se = ERR_INIT;
		struct service *s = service_from_json(v, &se);

		if (!s) {
			log_error("state: %s", err_str(&se));
			err_release(&se);
			continue;
		}
		mark_pending(s);
		strvec_push(names, s->name);
		{
			struct route_table *next = replace_service(tbl, s->name, s);

			route_table_unref(tbl);
			tbl = next;
		}
	}
	json_decref(root);
	switch_to(tbl);
	pthread_mutex_unlock(&change_lock);
	if (pthread_create(&th, NULL, restore_thread, names)) {
		strvec_clear(names);
		free(names);
	} else {
		pthread_detach(th);
	}
	return 0;
}

/* Commands */

static int parse_cmd_opts(struct ctl_out *o, int argc, const char **argv, const struct opt *opts)
{
	const struct opt *tables[] = {opts, NULL};
	struct err e = ERR_INIT;
	int n = opt_parse(argc, argv, tables, 0, &e);

	if (n < 0) {
		ctl_line(o, 'e', "error: %s", err_str(&e));
	}
	err_release(&e);
	return n;
}

static int set_dur(struct ctl_out *o, const char *flag, const char *s, uint64_t *ms)
{
	if (s && !dur_parse(s, ms)) {
		ctl_line(o, 'e', "error: option '--%s' expects a duration like \"30s\", got '%s'",
			 flag, s);
		return -1;
	}
	return 0;
}

/*
 * The target of s that is nt again: the same name resolving to the same
 * address. A name that now resolves elsewhere (a container replaced by one
 * of the same name) is a new target, health-checked before it serves.
 */
static struct target *find_target(const struct service *s, const struct target *nt)
{
	size_t i;

	for (i = 0; s && i < s->nr_targets; i++) {
		const struct target *t = s->targets[i];

		if (!strcmp(t->addr, nt->addr) && t->salen == nt->salen &&
		    !memcmp(&t->sa, &nt->sa, nt->salen)) {
			return s->targets[i];
		}
	}
	return NULL;
}

/*
 * Closes the tunnels to t (a target that left the table) and waits, up to
 * 2 s, until they are gone. Returns how many there were.
 */
static size_t retire_target(struct target *t)
{
	long n = atomic_load(&t->tunnels);
	uint64_t deadline = now_ms() + 2000;

	server_close_tunnels(t);
	while (atomic_load(&t->tunnels) > 0 && now_ms() < deadline) {
		sleep_ms(5);
	}
	return n > 0 ? (size_t)n : 0;
}

static bool service_has(const struct service *s, const struct target *t)
{
	size_t i;

	for (i = 0; s && i < s->nr_targets; i++) {
		if (s->targets[i] == t) {
			return true;
		}
	}
	for (i = 0; s && i < s->nr_rollout; i++) {
		if (s->rollout[i] == t) {
			return true;
		}
	}
	return false;
}

/*
 * Drains the targets of old[] that the service `name` of the current table
 * no longer has, for up to drain_ms: requests they took finish there;
 * tunnels to them (which would never end by themselves) are closed when the
 * drain timeout ends. Returns how many were drained; *tunnels counts the
 * tunnels closed.
 */
static size_t drain_targets(struct ctl_out *o, struct target *const *old, size_t n,
			    const char *name, uint64_t drain_ms, size_t *tunnels)
{
	struct route_table *now_tbl = route_current();
	const struct service *ns = route_table_find(now_tbl, name);
	uint64_t deadline = now_ms() + drain_ms;
	size_t i, draining = 0;

	for (i = 0; i < n; i++) {
		if (service_has(ns, old[i])) {
			continue;
		}
		draining++;
		while (atomic_load(&old[i]->inflight) > 0 && now_ms() < deadline) {
			sleep_ms(5);
		}
	}
	for (i = 0; i < n; i++) {
		struct target *t = old[i];

		if (service_has(ns, t)) {
			continue;
		}
		if (atomic_load(&t->inflight) > 0) {
			*tunnels += retire_target(t);
		}
		if (atomic_load(&t->inflight) > 0) {
			ctl_line(o, 'e',
				 "warning: target '%s' still had %ld request(s) in flight when the "
				 "drain timeout ended",
				 t->addr, (long)atomic_load(&t->inflight));
		}
	}
	route_table_unref(now_tbl);
	return draining;
}

static bool table_has(const struct route_table *t, const struct target *tg)
{
	size_t i;

	for (i = 0; i < t->nr_svcs; i++) {
		if (service_has(t->svcs[i], tg)) {
			return true;
		}
	}
	return false;
}

/*
 * --force: the services of base that own a host and path prefix s wants
 * give them up. A service left without a host that way (or a default
 * service whose every host s takes) has no routes left and is dropped,
 * its name added to dropped. Returns the new table (base is unreferenced).
 */
static struct route_table *take_routes(struct ctl_out *o, struct route_table *base,
				       const struct service *s, struct strvec *dropped)
{
	const struct service *other;
	const char *host = NULL;

	while ((other = route_table_conflict(base, s, &host))) {
		struct service *kept = NULL;
		struct route_table *next;
		char *name = xstrdup(other->name);

		if (host) {
			size_t i;

			kept = service_dup(other);
			strvec_clear(&kept->hosts);
			for (i = 0; i < other->hosts.nr; i++) {
				if (strcasecmp(other->hosts.v[i], host)) {
					strvec_push(&kept->hosts, other->hosts.v[i]);
				}
			}
			ctl_line(o, 'o', "took host '%s' with path prefix '%s' from service '%s'",
				 host, s->path_prefix, name);
			if (!kept->hosts.nr) {
				service_free(kept);
				kept = NULL;
			}
		} else {
			ctl_line(o, 'o', "took every host with path prefix '%s' from service '%s'",
				 s->path_prefix, name);
		}
		if (!kept) {
			ctl_line(o, 'o', "removed service '%s': it has no routes left", name);
			strvec_push(dropped, name);
		}
		next = replace_service(base, name, kept);
		route_table_unref(base);
		base = next;
		free(name);
	}
	return base;
}

static int cmd_deploy(struct ctl_out *o, int argc, const char **argv)
{
	struct strvec targets = STRVEC_INIT, hosts = STRVEC_INIT;
	const char *prefix = NULL, *hc_path = NULL, *hc_int = NULL, *hc_tmo = NULL;
	const char *deploy_tmo = NULL, *drain_tmo = NULL, *target_tmo = NULL, *max_body = NULL;
	const char *pages_dir = NULL;
	struct strvec dropped = STRVEC_INIT;
	struct route_table *cur = NULL, *base = NULL;
	struct service *s = NULL, *old;
	const struct service *other;
	const char *host = NULL;
	struct err e = ERR_INIT;
	uint64_t start = now_ms(), drain_ms;
	size_t i, draining = 0, tunnels_closed = 0;
	int n, rc = 1;
	bool locked = false, fwd = false, strip = true, force = false, buffer = false;
	const struct opt opts[] = {
	    OPT_LIST(0, "target", &targets, "HOST:PORT", "where to send requests"),
	    OPT_LIST(0, "host", &hosts, "NAME", "host names to route (default: any)"),
	    OPT_STRING(0, "path-prefix", &prefix, "P", "route only paths under P"),
	    OPT_STRING(0, "health-check-path", &hc_path, "PATH", "default /up"),
	    OPT_STRING(0, "health-check-interval", &hc_int, "DUR", "default 1s"),
	    OPT_STRING(0, "health-check-timeout", &hc_tmo, "DUR", "default 5s"),
	    OPT_STRING(0, "deploy-timeout", &deploy_tmo, "DUR", "default 30s"),
	    OPT_STRING(0, "drain-timeout", &drain_tmo, "DUR", "default 30s"),
	    OPT_STRING(0, "target-timeout", &target_tmo, "DUR", "default 30s"),
	    OPT_STRING(0, "max-request-body", &max_body, "BYTES", "default: no limit"),
	    OPT_BOOL(0, "forward-headers", &fwd,
		     "trust X-Forwarded-* from the client (another proxy is in front)"),
	    OPT_BOOL(0, "strip-path-prefix", &strip,
		     "send paths without the path prefix (default; =false keeps it)"),
	    OPT_BOOL(0, "buffer-requests", &buffer,
		     "read a request's body whole before the target is contacted"),
	    OPT_STRING(0, "error-pages", &pages_dir, "DIR",
		       "serve DIR/<status>.html for the proxy's own errors (an absolute path)"),
	    OPT_BOOL(0, "force", &force,
		     "take the hosts and path prefix from the services that own them"),
	    OPT_END(),
	};

	n = parse_cmd_opts(o, argc, argv, opts);
	if (n < 0) {
		goto out;
	}
	if (n != 1 || !targets.nr) {
		ctl_line(o, 'e', "usage: berth-proxy deploy SERVICE --target HOST:PORT [options]");
		goto out;
	}
	s = service_new(argv[0]);
	strvec_pushv(&s->hosts, (const char *const *)hosts.v);
	s->o.forward_headers = fwd;
	s->o.strip_prefix = strip;
	s->o.buffer_requests = buffer;
	if (prefix) {
		if (prefix[0] != '/') {
			ctl_line(o, 'e', "error: --path-prefix must start with '/', got '%s'",
				 prefix);
			goto out;
		}
		free(s->path_prefix);
		s->path_prefix = xstrdup(prefix);
	}
	if (hc_path) {
		free(s->o.health_path);
		s->o.health_path = xstrdup(hc_path);
	}
	if (set_dur(o, "health-check-interval", hc_int, &s->o.health_interval_ms) < 0 ||
	    set_dur(o, "health-check-timeout", hc_tmo, &s->o.health_timeout_ms) < 0 ||
	    set_dur(o, "deploy-timeout", deploy_tmo, &s->o.deploy_timeout_ms) < 0 ||
	    set_dur(o, "drain-timeout", drain_tmo, &s->o.drain_timeout_ms) < 0 ||
	    set_dur(o, "target-timeout", target_tmo, &s->o.target_timeout_ms) < 0) {
		goto out;
	}
	if (max_body && !slice_to_u64(slice_cstr(max_body), UINT64_MAX, &s->o.max_body)) {
		ctl_line(o, 'e', "error: option '--max-request-body' expects a number, got '%s'",
			 max_body);
		goto out;
	}
	if (pages_dir && pages_dir[0] != '/') {
		ctl_line(o, 'e', "error: --error-pages expects an absolute path, got '%s'",
			 pages_dir);
		goto out;
	}
	if (pages_dir) {
		s->pages = errpages_load(pages_dir, &e);
		if (!s->pages) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			goto out;
		}
	}

	pthread_mutex_lock(&change_lock);
	locked = true;
	cur = route_current();
	old = route_table_find(cur, s->name);
	other = route_table_conflict(cur, s, &host);
	if (other && !force) {
		if (host) {
			ctl_line(o, 'e',
				 "error: host '%s' with path prefix '%s' is used by service '%s'; "
				 "cannot give it to service '%s'",
				 host, s->path_prefix, other->name, s->name);
		} else {
			ctl_line(o, 'e',
				 "error: service '%s' already serves every host with path prefix "
				 "'%s'; cannot give it to service '%s'",
				 other->name, s->path_prefix, s->name);
		}
		ctl_line(o, 'e', "hint: 'deploy --force' takes it over");
		goto out;
	}
	for (i = 0; i < targets.nr; i++) {
		struct target *t = target_new(targets.v[i], &e), *same;

		if (!t) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			goto out;
		}
		same = find_target(old, t);
		if (same) {
			target_unref(t);
			t = target_ref(same);
		}
		service_add_target(s, t);
	}
	/* A rollout in progress goes on with the new main targets. */
	if (old) {
		for (i = 0; i < old->nr_rollout; i++) {
			service_add_rollout_target(s, target_ref(old->rollout[i]));
		}
		s->rollout_percent = old->rollout_percent;
		strvec_pushv(&s->rollout_list, (const char *const *)old->rollout_list.v);
	}
	if (wait_healthy(s, o) < 0) {
		ctl_line(o, 'e', "error: deploy of '%s' failed; nothing was changed", s->name);
		goto out;
	}
	drain_ms = s->o.drain_timeout_ms;
	base = route_current(); /* cur, as the change lock is held */
	base = take_routes(o, base, s, &dropped);
	switch_to(replace_service(base, s->name, s));
	old = route_table_find(cur, argv[0]);
	s = NULL;
	/* A service that lost its last route: its tunnels end now, as with remove. */
	if (dropped.nr) {
		struct route_table *now_tbl = route_current();

		for (i = 0; i < dropped.nr; i++) {
			const struct service *d = route_table_find(cur, dropped.v[i]);
			size_t j;

			for (j = 0; d && j < d->nr_targets; j++) {
				if (!table_has(now_tbl, d->targets[j])) {
					server_close_tunnels(d->targets[j]);
				}
			}
		}
		route_table_unref(now_tbl);
	}

	/* Drain, for as long as this deploy's drain timeout says. */
	if (old) {
		draining = drain_targets(o, old->targets, old->nr_targets, argv[0], drain_ms,
					 &tunnels_closed);
	}
	ctl_line(o, 'o', "deployed '%s' to %s in %llums (%zu old target(s) drained)", argv[0],
		 targets.v[0], (unsigned long long)(now_ms() - start), draining);
	if (tunnels_closed) {
		ctl_line(o, 'o', "closed %zu tunnel(s) to old targets at the drain timeout",
			 tunnels_closed);
	}
	rc = 0;
out:
	if (locked) {
		pthread_mutex_unlock(&change_lock);
	}
	route_table_unref(cur);
	route_table_unref(base);
	service_free(s);
	strvec_clear(&targets);
	strvec_clear(&hosts);
	strvec_clear(&dropped);
	err_release(&e);
	return rc;
}

static int cmd_remove(struct ctl_out *o, int argc, const char **argv)
{
	const struct opt opts[] = {OPT_END()};
	struct route_table *cur;
	struct service *svc;
	int rc = 1;

	if (parse_cmd_opts(o, argc, argv, opts) != 1) {
		ctl_line(o, 'e', "usage: berth-proxy remove SERVICE");
		return 1;
	}
	pthread_mutex_lock(&change_lock);
	cur = route_current();
	svc = route_table_find(cur, argv[0]);
	if (!svc) {
		ctl_line(o, 'e', "error: no service '%s'", argv[0]);
	} else {
		size_t i;

		switch_to(replace_service(cur, argv[0], NULL));
		/* Requests in flight finish; tunnels would not, and nothing routes there now. */
		for (i = 0; i < svc->nr_targets; i++) {
			server_close_tunnels(svc->targets[i]);
		}
		ctl_line(o, 'o', "removed '%s'", argv[0]);
		rc = 0;
	}
	route_table_unref(cur);
	pthread_mutex_unlock(&change_lock);
	return rc;
}

#define MAX_STOP_MESSAGE 4096

/*
 * Publishes service `name` in state st (with the stop message or max pause
 * that go with it). Pausing and stopping then wait, up to drain_ms, for the
 * requests in flight to finish (tunnels go on). 0, or 1 after saying why.
 */
static int set_state(struct ctl_out *o, const char *name, enum service_state st,
		     const char *message, uint64_t max_pause_ms, uint64_t drain_ms)
{
	struct route_table *cur;
	struct service *old, *s;
	uint64_t deadline;
	size_t i;
	int rc = 1;

	pthread_mutex_lock(&change_lock);
	cur = route_current();
	old = route_table_find(cur, name);
	if (!old) {
		ctl_line(o, 'e', "error: no service '%s'", name);
		goto out;
	}
	s = service_dup(old);
	s->state = st;
	free(s->stop_message);
	s->stop_message = message ? xstrdup(message) : NULL;
	if (st == SERVICE_PAUSED) {
		s->max_pause_ms = max_pause_ms;
	}
	service_render_stop_page(s);
	switch_to(replace_service(cur, name, s));
	deadline = now_ms() + (st == SERVICE_RUNNING ? 0 : drain_ms);
	for (i = 0; i < old->nr_targets; i++) {
		struct target *t = old->targets[i];

		while (atomic_load(&t->inflight) - atomic_load(&t->tunnels) > 0 &&
		       now_ms() < deadline) {
			sleep_ms(5);
		}
	}
	rc = 0;
out:
	route_table_unref(cur);
	pthread_mutex_unlock(&change_lock);
	return rc;
}

static int cmd_pause(struct ctl_out *o, int argc, const char **argv)
{
	const char *drain = NULL, *max_pause = NULL;
	uint64_t drain_ms = 30000, max_pause_ms = 30000;
	char d[32];
	const struct opt opts[] = {
	    OPT_STRING(0, "drain-timeout", &drain, "DUR",
		       "how long requests in flight may take to finish (default 30s)"),
	    OPT_STRING(0, "max-pause", &max_pause, "DUR",
		       "how long a request is held before it gets 504 (default 30s)"),
	    OPT_END(),
	};

	if (parse_cmd_opts(o, argc, argv, opts) != 1) {
		ctl_line(
		    o, 'e',
		    "usage: berth-proxy pause SERVICE [--drain-timeout DUR] [--max-pause DUR]");
		return 1;
	}
	if (set_dur(o, "drain-timeout", drain, &drain_ms) < 0 ||
	    set_dur(o, "max-pause", max_pause, &max_pause_ms) < 0) {
		return 1;
	}
	if (set_state(o, argv[0], SERVICE_PAUSED, NULL, max_pause_ms, drain_ms)) {
		return 1;
	}
	ctl_line(o, 'o', "paused '%s': requests are held for up to %s", argv[0],
		 dur_format(max_pause_ms, d, sizeof(d)));
	return 0;
}

static int cmd_stop(struct ctl_out *o, int argc, const char **argv)
{
	const char *drain = NULL, *message = NULL;
	uint64_t drain_ms = 30000;
	const struct opt opts[] = {
	    OPT_STRING(0, "drain-timeout", &drain, "DUR",
		       "how long requests in flight may take to finish (default 30s)"),
	    OPT_STRING(0, "message", &message, "TEXT", "what requests are answered (with 503)"),
	    OPT_END(),
	};

	if (parse_cmd_opts(o, argc, argv, opts) != 1) {
		ctl_line(o, 'e',
			 "usage: berth-proxy stop SERVICE [--drain-timeout DUR] [--message TEXT]");
		return 1;
	}
	if (set_dur(o, "drain-timeout", drain, &drain_ms) < 0) {
		return 1;
	}
	if (message && strlen(message) > MAX_STOP_MESSAGE) {
		ctl_line(o, 'e', "error: --message is longer than %d bytes", MAX_STOP_MESSAGE);
		return 1;
	}
	if (set_state(o, argv[0], SERVICE_STOPPED, message, 0, drain_ms)) {
		return 1;
	}
	ctl_line(o, 'o', "stopped '%s': requests are answered with 503", argv[0]);
	return 0;
}

static int cmd_resume(struct ctl_out *o, int argc, const char **argv)
{
	const struct opt opts[] = {OPT_END()};

	if (parse_cmd_opts(o, argc, argv, opts) != 1) {
		ctl_line(o, 'e', "usage: berth-proxy resume SERVICE");
		return 1;
	}
	if (set_state(o, argv[0], SERVICE_RUNNING, NULL, 0, 0)) {
		return 1;
	}
	ctl_line(o, 'o', "resumed '%s'", argv[0]);
	return 0;
}

static int rollout_deploy(struct ctl_out *o, int argc, const char **argv)
{
	struct strvec targets = STRVEC_INIT;
	const char *deploy_tmo = NULL, *drain_tmo = NULL;
	struct route_table *cur = NULL;
	struct service *s = NULL, *chk = NULL, *old;
	struct err e = ERR_INIT;
	size_t i, tunnels = 0, draining;
	uint64_t drain_ms;
	int rc = 1;
	const struct opt opts[] = {
	    OPT_LIST(0, "target", &targets, "HOST:PORT", "the rollout's targets"),
	    OPT_STRING(0, "deploy-timeout", &deploy_tmo, "DUR", "default: the service's"),
	    OPT_STRING(0, "drain-timeout", &drain_tmo, "DUR", "default: the service's"),
	    OPT_END(),
	};

	if (parse_cmd_opts(o, argc, argv, opts) != 1 || !targets.nr) {
		ctl_line(o, 'e',
			 "usage: berth-proxy rollout deploy SERVICE --target HOST:PORT [...]");
		strvec_clear(&targets);
		return 1;
	}
	pthread_mutex_lock(&change_lock);
	cur = route_current();
	old = route_table_find(cur, argv[0]);
	if (!old) {
		ctl_line(o, 'e', "error: no service '%s'; deploy it first", argv[0]);
		goto out;
	}
	chk = service_new(argv[0]);
	free(chk->o.health_path);
	chk->o = old->o;
	chk->o.health_path = xstrdup(old->o.health_path);
	drain_ms = old->o.drain_timeout_ms;
	if (set_dur(o, "deploy-timeout", deploy_tmo, &chk->o.deploy_timeout_ms) < 0 ||
	    set_dur(o, "drain-timeout", drain_tmo, &drain_ms) < 0) {
		goto out;
	}
	for (i = 0; i < targets.nr; i++) {
		struct target *t = NULL;
		size_t j;

		for (j = 0; j < old->nr_rollout && !t; j++) {
			if (!strcmp(old->rollout[j]->addr, targets.v[i])) {
				t = target_ref(old->rollout[j]);
			}
		}
		if (!t) {
			t = target_new(targets.v[i], &e);
		}
		if (!t) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			goto out;
		}
		service_add_target(chk, t);
	}
	if (wait_healthy(chk, o) < 0) {
		ctl_line(o, 'e', "error: rollout deploy of '%s' failed; nothing was changed",
			 argv[0]);
		goto out;
	}
	s = service_dup(old);
	service_clear_rollout(s);
	s->rollout_percent = old->rollout_percent;
	strvec_pushv(&s->rollout_list, (const char *const *)old->rollout_list.v);
	for (i = 0; i < chk->nr_targets; i++) {
		service_add_rollout_target(s, target_ref(chk->targets[i]));
	}
	switch_to(replace_service(cur, argv[0], s));
	draining = drain_targets(o, old->rollout, old->nr_rollout, argv[0], drain_ms, &tunnels);
	ctl_line(o, 'o', "rollout of '%s' to %s at %u%% (%zu old rollout target(s) drained)",
		 argv[0], targets.v[0], old->rollout_percent, draining);
	rc = 0;
out:
	route_table_unref(cur);
	pthread_mutex_unlock(&change_lock);
	service_free(chk);
	strvec_clear(&targets);
	err_release(&e);
	return rc;
}

/* Appends the comma-separated values of s to v. */
static void push_csv(struct strvec *v, const char *s)
{
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (len) {
			char *one = xstrndup(s, len);

			strvec_push(v, one);
			free(one);
		}
		s += len + (comma ? 1 : 0);
	}
}

static int rollout_set(struct ctl_out *o, int argc, const char **argv)
{
	struct strvec lists = STRVEC_INIT;
	const char *percent = NULL;
	struct route_table *cur;
	struct service *old, *s;
	uint64_t pct = 0;
	size_t i;
	int rc = 1;
	const struct opt opts[] = {
	    OPT_STRING(0, "percent", &percent, "N", "share of split values for the rollout"),
	    OPT_LIST(0, "list", &lists, "VALUE[,VALUE...]", "split values always in the rollout"),
	    OPT_END(),
	};

	if (parse_cmd_opts(o, argc, argv, opts) != 1 || (!percent && !lists.nr)) {
		ctl_line(o, 'e',
			 "usage: berth-proxy rollout set SERVICE --percent N [--list VALUE,...]");
		strvec_clear(&lists);
		return 1;
	}
	if (percent && !slice_to_u64(slice_cstr(percent), 100, &pct)) {
		ctl_line(o, 'e', "error: --percent expects a number from 0 to 100, got '%s'",
			 percent);
		strvec_clear(&lists);
		return 1;
	}
	pthread_mutex_lock(&change_lock);
	cur = route_current();
	old = route_table_find(cur, argv[0]);
	if (!old || !old->nr_rollout) {
		ctl_line(o, 'e', "error: service '%s' has no rollout; run 'rollout deploy' first",
			 argv[0]);
		goto out;
	}
	s = service_dup(old);
	if (percent) {
		s->rollout_percent = (unsigned)pct;
	}
	if (lists.nr) {
		strvec_clear(&s->rollout_list);
		for (i = 0; i < lists.nr; i++) {
			push_csv(&s->rollout_list, lists.v[i]);
		}
	}
	switch_to(replace_service(cur, argv[0], s));
	ctl_line(o, 'o', "rollout of '%s' at %u%%%s", argv[0], (unsigned)s->rollout_percent,
		 s->rollout_list.nr ? " and listed values" : "");
	rc = 0;
out:
	route_table_unref(cur);
	pthread_mutex_unlock(&change_lock);
	strvec_clear(&lists);
	return rc;
}

static int rollout_stop(struct ctl_out *o, int argc, const char **argv)
{
	const struct opt opts[] = {OPT_END()};
	struct route_table *cur;
	struct service *old, *s;
	size_t tunnels = 0;
	int rc = 1;

	if (parse_cmd_opts(o, argc, argv, opts) != 1) {
		ctl_line(o, 'e', "usage: berth-proxy rollout stop SERVICE");
		return 1;
	}
	pthread_mutex_lock(&change_lock);
	cur = route_current();
	old = route_table_find(cur, argv[0]);
	if (!old || !old->nr_rollout) {
		ctl_line(o, 'e', "error: service '%s' has no rollout", argv[0]);
		goto out;
	}
	s = service_dup(old);
	service_clear_rollout(s);
	switch_to(replace_service(cur, argv[0], s));
	drain_targets(o, old->rollout, old->nr_rollout, argv[0], old->o.drain_timeout_ms, &tunnels);
	ctl_line(o, 'o', "rollout of '%s' stopped", argv[0]);
	rc = 0;
out:
	route_table_unref(cur);
	pthread_mutex_unlock(&change_lock);
	return rc;
}

static int cmd_rollout(struct ctl_out *o, int argc, const char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "deploy")) {
		return rollout_deploy(o, argc - 1, argv + 1);
	}
	if (argc >= 1 && !strcmp(argv[0], "set")) {
		return rollout_set(o, argc - 1, argv + 1);
	}
	if (argc >= 1 && !strcmp(argv[0], "stop")) {
		return rollout_stop(o, argc - 1, argv + 1);
	}
	ctl_line(o, 'e', "usage: berth-proxy rollout deploy|set|stop SERVICE [options]");
	return 1;
}

static int cmd_list(struct ctl_out *o, int argc, const char **argv)
{
	bool json = false;
	const struct opt opts[] = {OPT_BOOL(0, "json", &json, "print JSON"), OPT_END()};
	struct route_table *cur;
	size_t i, j;

	if (parse_cmd_opts(o, argc, argv, opts) != 0) {
		ctl_line(o, 'e', "usage: berth-proxy list [--json]");
		return 1;
	}
	cur = route_current();
	if (json) {
		json_t *arr = table_json(cur);
		char *text = json_dumps(arr, JSON_COMPACT);

		ctl_line(o, 'o', "%s", text);
		free(text);
		json_decref(arr);
	} else {
		ctl_line(o, 'o', "%-20s %-30s %-12s %-8s %s", "SERVICE", "HOSTS", "PATH", "STATE",
			 "TARGETS");
		for (i = 0; i < cur->nr_svcs; i++) {
			const struct service *s = cur->svcs[i];
			char *h = s->hosts.nr ? strvec_join(&s->hosts, ",") : xstrdup("*");
			struct sbuf t = SBUF_INIT;

			for (j = 0; j < s->nr_targets; j++) {
				sbuf_addf(&t, "%s%s", j ? "," : "", s->targets[j]->addr);
			}
			if (s->nr_rollout) {
				sbuf_addf(&t, " rollout %u%%:", s->rollout_percent);
				for (j = 0; j < s->nr_rollout; j++) {
					sbuf_addf(&t, "%s%s", j ? "," : "", s->rollout[j]->addr);
				}
			}
			ctl_line(o, 'o', "%-20s %-30s %-12s %-8s %s", s->name, h, s->path_prefix,
				 s->state == SERVICE_STOPPED  ? "stopped"
				 : s->state == SERVICE_PAUSED ? "paused"
							      : "running",
				 t.buf);
			free(h);
			sbuf_release(&t);
		}
	}
	route_table_unref(cur);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct ctl_out *o, int argc, const char **argv);
} ctl_commands[] = {
    {"deploy", cmd_deploy}, {"remove", cmd_remove}, {"list", cmd_list},	      {"pause", cmd_pause},
    {"resume", cmd_resume}, {"stop", cmd_stop},	    {"rollout", cmd_rollout},
};

static void *conn_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct ctl_out o = {fd};
	struct sbuf req = SBUF_INIT;
	struct strvec args = STRVEC_INIT;
	size_t i, off = 0;
	int rc = 2;

	while (req.len <= MAX_REQUEST) {
		ssize_t n = sbuf_read_once(&req, fd, 4096);

		if (n <= 0) {
			break;
		}
	}
	while (off < req.len) {
		const char *s = req.buf + off;
		size_t len = strnlen(s, req.len - off);

		strvec_push(&args, s);
		off += len + 1;
	}
	if (!args.nr) {
		ctl_line(&o, 'e', "error: no command");
		goto out;
	}
	for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
		if (!strcmp(args.v[0], ctl_commands[i].name)) {
			rc = ctl_commands[i].fn(&o, (int)args.nr - 1, (const char **)args.v + 1);
			goto out;
		}
	}
	ctl_line(&o, 'e', "error: '%s' is not a control command", args.v[0]);
out:
	ctl_line(&o, 'x', "%d", rc);
	close(fd);
	strvec_clear(&args);
	sbuf_release(&req);
	return NULL;
}

static void *accept_thread(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		pthread_t th;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			log_error("control socket: %s", strerror(errno));
			sleep_ms(100);
			continue;
		}
		if (pthread_create(&th, NULL, conn_thread, (void *)(intptr_t)fd)) {
			close(fd);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

int control_start(const char *socket_path, const char *state_dir, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sbuf sb = SBUF_INIT;
	pthread_t th;
	int fd;

	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		return err_set(e, "cannot create '%s': %s", state_dir, strerror(errno));
	}
	sbuf_addf(&sb, "%s/berth-proxy.json", state_dir);
	state_file = sbuf_detach(&sb, NULL);
	if (restore_state(e) < 0) {
		return -1;
	}
	{
		struct route_table *cur = route_current();

		health_watch(cur);
		route_table_unref(cur);
	}
	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		return err_set(e, "control socket path '%s' is too long", socket_path);
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return err_set(e, "socket: %s", strerror(errno));
	}
	unlink(socket_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(socket_path, 0600) < 0 ||
	    listen(fd, 64) < 0) {
		err_set(e, "cannot listen on '%s': %s", socket_path, strerror(errno));
		close(fd);
		return -1;
	}
	if (pthread_create(&th, NULL, accept_thread, (void *)(intptr_t)fd)) {
		close(fd);
		return err_set(e, "cannot start a thread");
	}
	pthread_detach(th);
	return 0;
}

int control_client(const char *socket_path, int argc, const char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sbuf req = SBUF_INIT, resp = SBUF_INIT;
	struct slice rest, line;
	int fd = -1, i, rc = 1;
	bool ended = false;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		log_error("control socket path '%s' is too long", socket_path);
		goto out;
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_error("cannot reach berth-proxy at '%s': %s; is 'berth-proxy run' running?",
			  socket_path, strerror(errno));
		goto out;
	}
	for (i = 0; i < argc; i++) {
		sbuf_add(&req, argv[i], strlen(argv[i]) + 1);
	}
	if (send(fd, req.buf, req.len, MSG_NOSIGNAL) != (ssize_t)req.len) {
		log_error("cannot talk to berth-proxy: %s", strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	/* Print lines as they come. */
	for (;;) {
		ssize_t n = sbuf_read_once(&resp, fd, 4096);
		long nl;

		while ((nl = slice_find_char(slice_make(resp.buf, resp.len), '\n')) >= 0) {
			line = slice_make(resp.buf, (size_t)nl);
			if (line.len >= 2 && line.ptr[0] == 'o') {
				printf("%.*s\n", (int)line.len - 2, line.ptr + 2);
				fflush(stdout);
			} else if (line.len >= 2 && line.ptr[0] == 'e') {
				fprintf(stderr, "%.*s\n", (int)line.len - 2, line.ptr + 2);
			} else if (line.len >= 2 && line.ptr[0] == 'x') {
				uint64_t v = 1;

				rest = slice_from(line, 2);
				slice_to_u64(rest, 255, &v);
				rc = (int)v;
				ended = true;
			}
			memmove(resp.buf, resp.buf + nl + 1, resp.len - (size_t)nl - 1);
			sbuf_setlen(&resp, resp.len - (size_t)nl - 1);
		}
		if (n <= 0) {
			break;
		}
	}
	if (!ended) {
		log_error("berth-proxy closed the control connection without an answer");
		rc = 1;
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	sbuf_release(&req);
	sbuf_release(&resp);
	return rc;
}
