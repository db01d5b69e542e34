#include "proxy/control.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/log.h"
#include "lib/opt.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "proxy/certs.h"
#include "proxy/dur.h"
#include "proxy/errpages.h"
#include "proxy/handoff.h"
#include "proxy/health.h"
#include "proxy/metrics.h"
#include "proxy/path.h"
#include "proxy/route.h"
#include "proxy/server.h"
#include "lib/banned.h"

#define MAX_REQUEST (256 * 1024)
/* The first byte of the request's part that is the client's standard input, not an argument. */

static pthread_mutex_t change_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Saved services that could not be restored yet, as they were saved (under
 * change_lock): a target's name does not resolve while its container is not
 * up, as after a server reboot. They stay in the state file and are tried
 * again every second until they restore, a deploy replaces them or a remove
 * drops them.
 */
static json_t *unrestored;
static char *state_file;
static atomic_bool restored;	 /* the restore thread is done (control_wait_restored) */
static atomic_bool handing_over; /* a handoff command runs: no more changes here */
static atomic_bool handed_over;	 /* another process serves the listeners now */
static _Atomic uint64_t handed_drain_ms;

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

/* s as messages show it: control bytes escaped (a value must not end or forge a line), cut. */
static void add_shown(struct sbuf *sb, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == max) {
			sbuf_addstr(sb, "...");
			break;
		}
		if (c == '\r') {
			sbuf_addstr(sb, "\\r");
		} else if (c == '\n') {
			sbuf_addstr(sb, "\\n");
		} else if (c < 0x20 || c == 0x7f) {
			sbuf_addf(sb, "\\x%02x", c);
		} else {
			sbuf_addch(sb, c);
		}
	}
}

/* The control client's connection: output, and the standard input it sent (or NULL). */
struct ctl_out {
	int fd;
	const char *input;
	size_t input_len;
};

static void ctl_line(struct ctl_out *o, char kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ctl_line(struct ctl_out *o, char kind, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT, text = SBUF_INIT;
	va_list ap;
	size_t off = 0;

	va_start(ap, fmt);
	sbuf_vaddf(&text, fmt, ap);
	va_end(ap);
	sbuf_addch(&sb, kind);
	sbuf_addch(&sb, ' ');
	/* a value with a newline in it must not end the line, or forge an "x 0" */
	add_shown(&sb, text.buf, SIZE_MAX);
	sbuf_addch(&sb, '\n');
	while (off < sb.len) {
		ssize_t n = send(o->fd, sb.buf + off, sb.len - off, MSG_NOSIGNAL);

		if (n <= 0) {
			break;
		}
		off += (size_t)n;
	}
	sbuf_release(&sb);
	sbuf_release(&text);
}

/* Health checks */

/* The i-th of s's main then read targets. */
static struct target *main_or_reader(const struct service *s, size_t i)
{
	return i < s->nr_targets ? s->targets[i] : s->readers[i - s->nr_targets];
}

/*
 * Checks every target (main and read) until all are healthy or the deploy
 * timeout passes. Returns 0, or -1 after printing what each unhealthy
 * target's last check saw.
 */
static int wait_healthy(struct service *s, struct ctl_out *o)
{
	uint64_t deadline = now_ms() + s->o.deploy_timeout_ms;
	size_t i, nr = s->nr_targets + s->nr_readers, left = nr;
	struct sbuf *why = xcalloc(nr, sizeof(*why));
	bool *ok = xcalloc(nr, sizeof(*ok));
	int rc = -1;

	for (i = 0; i < nr; i++) {
		sbuf_init(&why[i], 0);
	}
	for (;;) {
		uint64_t round = now_ms();

		for (i = 0; i < nr; i++) {
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
			if (!health_check(main_or_reader(s, i), s->o.health_path, s->o.health_host,
					  s->o.health_port, tmo, &why[i])) {
				ok[i] = true;
				left--;
			}
		}
		if (!left) {
			/* Proven: a target restored at start may serve now. */
			for (i = 0; i < nr; i++) {
				atomic_store(&main_or_reader(s, i)->healthy, true);
				atomic_store(&main_or_reader(s, i)->pending, false);
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

		for (i = 0; i < nr; i++) {
			if (!ok[i]) {
				ctl_line(
				    o, 'e',
				    "error: target '%s' of service '%s' did not become healthy "
				    "within %s: GET %s: %s",
				    main_or_reader(s, i)->addr, s->name,
				    dur_format(s->o.deploy_timeout_ms, d, sizeof(d)),
				    s->o.health_path, why[i].len ? why[i].buf : "not checked");
			}
		}
	}
	for (i = 0; i < nr; i++) {
		sbuf_release(&why[i]);
	}
	free(why);
	free(ok);
	return rc;
}

/* State */

static json_t *strvec_json(const struct strvec *v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < v->nr; i++) {
		json_array_append_new(a, json_string(v->v[i]));
	}
	return a;
}

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
		      s->name, "hosts", hosts, "path_prefix", s->path_prefixes.v[0], "targets",
		      targets, "health_check_path", s->o.health_path, "health_check_interval_ms",
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
	json_object_set_new(j, "client_timeout_ms",
			    json_integer((json_int_t)s->o.client_timeout_ms));
	json_object_set_new(j, "forward_headers", json_boolean(s->o.forward_headers));
	/* every prefix; path_prefix above is the first, for a berth-proxy that knows only one */
	json_object_set_new(j, "path_prefixes", strvec_json(&s->path_prefixes));
	json_object_set_new(j, "strip_path_prefix", json_boolean(s->o.strip_prefix));
	json_object_set_new(j, "buffer_requests", json_boolean(s->o.buffer_requests));
	json_object_set_new(j, "buffer_responses", json_boolean(s->o.buffer_responses));
	json_object_set_new(j, "buffer_memory", json_integer((json_int_t)s->o.buffer_memory));
	json_object_set_new(j, "max_response_body",
			    json_integer((json_int_t)s->o.max_response_body));
	json_object_set_new(j, "health_check_port", json_integer((json_int_t)s->o.health_port));
	if (s->o.health_host) {
		json_object_set_new(j, "health_check_host", json_string(s->o.health_host));
	}
	if (s->o.canonical_host) {
		json_object_set_new(j, "canonical_host", json_string(s->o.canonical_host));
	}
	if (s->o.client_ip_header) {
		json_object_set_new(j, "client_ip_header", json_string(s->o.client_ip_header));
	}
	json_object_set_new(j, "log_request_headers", strvec_json(&s->o.log_req_headers));
	json_object_set_new(j, "log_response_headers", strvec_json(&s->o.log_resp_headers));
	json_object_set_new(j, "exclude_metrics_paths", strvec_json(&s->o.exclude_metrics));
	json_object_set_new(j, "scope_cookie_paths", json_boolean(s->o.scope_cookies));
	{
		json_t *rt = json_array();

		for (i = 0; i < s->nr_readers; i++) {
			json_array_append_new(rt, json_string(s->readers[i]->addr));
		}
		json_object_set_new(j, "read_targets", rt);
	}
	json_object_set_new(j, "read_target_websockets", json_boolean(s->o.read_websockets));
	json_object_set_new(j, "writer_affinity_timeout_ms",
			    json_integer((json_int_t)s->o.writer_affinity_ms));
	if (s->o.tls) {
		json_t *tls = json_pack("{s:b, s:I}", "redirect", s->o.tls_redirect, "hsts_max_age",
					(json_int_t)s->o.hsts_max_age_s);

		if (s->o.tls_cert_path) {
			json_object_set_new(tls, "certificate_path",
					    json_string(s->o.tls_cert_path));
			json_object_set_new(tls, "private_key_path",
					    json_string(s->o.tls_key_path));
		}
		if (s->o.tls_issuer) {
			json_object_set_new(tls, "issuer", json_string(s->o.tls_issuer));
		}
		json_object_set_new(j, "tls", tls);
	}
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
	json_t *root;
	char *text;
	int rc;

	if (!state_file) {
		return 0;
	}
	root = json_pack("{s:i, s:o}", "version", 1, "services", table_json(t));
	if (unrestored) {
		json_t *v;
		size_t i;

		json_array_foreach(unrestored, i, v)
		{
			const char *name = json_string_value(json_object_get(v, "name"));

			if (name && !route_table_find(t, name)) {
				json_array_append(json_object_get(root, "services"), v);
			}
		}
	}
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	rc = file_write_atomic(state_file, text, strlen(text), 0600, e);
	free(text);
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
	/* what deploy would refuse is refused here too: the file may predate the checks */
	if (control_check_service_name(name, e) < 0) {
		return NULL;
	}
	s = service_new(name);
	json_array_foreach(json_object_get(j, "hosts"), i, v)
	{
		if (json_is_string(v)) {
			if (control_check_host(json_string_value(v), e) < 0) {
				goto bad;
			}
			strvec_push(&s->hosts, json_string_value(v));
		}
	}
	{
		/* path_prefixes, else the one path_prefix of a state written before them */
		json_t *pa = json_object_get(j, "path_prefixes");
		struct strvec prefixes = STRVEC_INIT;
		int rc;

		if (json_is_array(pa) && json_array_size(pa)) {
			json_array_foreach(pa, i, v)
			{
				if (json_is_string(v)) {
					strvec_push(&prefixes, json_string_value(v));
				}
			}
		} else if (json_is_string(json_object_get(j, "path_prefix"))) {
			strvec_push(&prefixes,
				    json_string_value(json_object_get(j, "path_prefix")));
		}
		rc = control_set_path_prefixes(s, &prefixes, e);
		strvec_clear(&prefixes);
		if (rc < 0) {
			goto bad;
		}
	}
	if (json_is_string(json_object_get(j, "health_check_path"))) {
		if (control_check_health_path(
			json_string_value(json_object_get(j, "health_check_path")), e) < 0) {
			goto bad;
		}
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
	GETMS("client_timeout_ms", s->o.client_timeout_ms);
	GETMS("max_request_body", s->o.max_body);
	GETMS("max_pause_ms", s->max_pause_ms);
	GETMS("buffer_memory", s->o.buffer_memory);
	GETMS("max_response_body", s->o.max_response_body);
	GETMS("writer_affinity_timeout_ms", s->o.writer_affinity_ms);
#undef GETMS
	s->o.scope_cookies = json_is_true(json_object_get(j, "scope_cookie_paths"));
	s->o.buffer_responses = json_is_true(json_object_get(j, "buffer_responses"));
	s->o.read_websockets = json_is_true(json_object_get(j, "read_target_websockets"));
	v = json_object_get(j, "health_check_port");
	if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 65535) {
		s->o.health_port = (unsigned)json_integer_value(v);
	}
	v = json_object_get(j, "health_check_host");
	if (json_is_string(v)) {
		if (control_check_health_host(json_string_value(v), e) < 0) {
			goto bad;
		}
		s->o.health_host = xstrdup(json_string_value(v));
	}
	v = json_object_get(j, "canonical_host");
	if (json_is_string(v)) {
		bool listed = !s->hosts.nr;

		for (i = 0; i < s->hosts.nr; i++) {
			listed |= !strcasecmp(s->hosts.v[i], json_string_value(v));
		}
		if (control_check_host(json_string_value(v), e) < 0) {
			goto bad;
		}
		if (!listed) {
			err_set(e, "canonical host '%s' is not one of its hosts",
				json_string_value(v));
			goto bad;
		}
		s->o.canonical_host = xstrdup(json_string_value(v));
	}
	v = json_object_get(j, "client_ip_header");
	if (json_is_string(v)) {
		if (control_check_header_name("client-ip-header", json_string_value(v), e) < 0) {
			goto bad;
		}
		s->o.client_ip_header = xstrdup(json_string_value(v));
	}
	json_array_foreach(json_object_get(j, "log_request_headers"), i, v)
	{
		if (json_is_string(v)) {
			if (control_check_header_name("log-request-header", json_string_value(v),
						      e) < 0) {
				goto bad;
			}
			strvec_push(&s->o.log_req_headers, json_string_value(v));
		}
	}
	json_array_foreach(json_object_get(j, "log_response_headers"), i, v)
	{
		if (json_is_string(v)) {
			if (control_check_header_name("log-response-header", json_string_value(v),
						      e) < 0) {
				goto bad;
			}
			strvec_push(&s->o.log_resp_headers, json_string_value(v));
		}
	}
	json_array_foreach(json_object_get(j, "exclude_metrics_paths"), i, v)
	{
		char *norm;

		if (!json_is_string(v)) {
			continue;
		}
		if (control_check_metrics_path(json_string_value(v), &norm, e) < 0) {
			goto bad;
		}
		strvec_push(&s->o.exclude_metrics, norm);
		free(norm);
	}
	json_array_foreach(json_object_get(j, "read_targets"), i, v)
	{
		struct target *t;

		if (!json_is_string(v)) {
			continue;
		}
		if (control_check_target("read-target", json_string_value(v), e) < 0) {
			goto bad;
		}
		t = target_new(json_string_value(v), e);
		if (!t) {
			goto bad;
		}
		service_add_reader(s, t);
	}
	s->o.forward_headers = json_is_true(json_object_get(j, "forward_headers"));
	s->o.buffer_requests = json_is_true(json_object_get(j, "buffer_requests"));
	v = json_object_get(j, "tls");
	if (json_is_object(v)) {
		json_t *cp = json_object_get(v, "certificate_path"),
		       *kp = json_object_get(v, "private_key_path");

		s->o.tls = true;
		s->o.tls_redirect = json_is_true(json_object_get(v, "redirect"));
		if (json_is_integer(json_object_get(v, "hsts_max_age"))) {
			s->o.hsts_max_age_s =
			    (uint64_t)json_integer_value(json_object_get(v, "hsts_max_age"));
		}
		if (json_is_string(cp) && json_is_string(kp)) {
			s->o.tls_cert_path = xstrdup(json_string_value(cp));
			s->o.tls_key_path = xstrdup(json_string_value(kp));
		}
		/* a follower: its files are the issuer's certificate, fetched */
		if (json_is_string(json_object_get(v, "issuer")) && s->o.tls_cert_path) {
			const char *url = json_string_value(json_object_get(v, "issuer"));

			s->o.tls_issuer = xstrdup(url);
			s->o.tls_issuer_target =
			    target_new(strncmp(url, "http://", 7) ? url : url + 7, e);
			if (!s->o.tls_issuer_target) {
				goto bad;
			}
		}
		if (!s->hosts.nr) {
			err_set(e, "TLS without a host");
			goto bad;
		}
	}
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
		if (control_check_target("target", json_string_value(v), e) < 0) {
			goto bad;
		}
		t = target_new(json_string_value(v), e);
		if (!t) {
			goto bad;
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
			if (control_check_target("target", json_string_value(x), e) < 0) {
				goto bad;
			}
			t = target_new(json_string_value(x), e);
			if (!t) {
				goto bad;
			}
			service_add_rollout_target(s, t);
		}
		json_array_foreach(json_object_get(v, "list"), i, x)
		{
			if (json_is_string(x)) {
				if (control_check_rollout_value(json_string_value(x), e) < 0) {
					goto bad;
				}
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

bad:
	err_prefix(e, "service '%s'", s->name);
	service_free(s);
	return NULL;
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
	certs_update(t, NULL);
}

/* Marks the targets of s pending: none serves before a health check passes. */
static void mark_pending(struct service *s)
{
	size_t i;

	for (i = 0; i < s->nr_targets + s->nr_rollout + s->nr_readers; i++) {
		struct target *t =
		    i < s->nr_targets + s->nr_rollout
			? (i < s->nr_targets ? s->targets[i] : s->rollout[i - s->nr_targets])
			: s->readers[i - s->nr_targets - s->nr_rollout];

		atomic_store(&t->healthy, false);
		atomic_store(&t->pending, true);
	}
}

/* The first target of s still pending, or NULL. */
static const struct target *first_pending(const struct service *s)
{
	size_t i;

	for (i = 0; i < s->nr_targets + s->nr_rollout + s->nr_readers; i++) {
		const struct target *t =
		    i < s->nr_targets + s->nr_rollout
			? (i < s->nr_targets ? s->targets[i] : s->rollout[i - s->nr_targets])
			: s->readers[i - s->nr_targets - s->nr_rollout];

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
	atomic_store(&restored, true);
	return NULL;
}

/* Tries the unrestored services again, every second, until none is left. */
/* One saved service read back: its targets' names are resolved meanwhile. */
struct restore_one {
	json_t *j;
	struct service *s;
	struct err e;
	pthread_t th;
	bool started;
};

static void *restore_one_thread(void *arg)
{
	struct restore_one *r = arg;

	r->s = service_from_json(r->j, &r->e);
	return NULL;
}

/*
 * Reads the saved services, each in a thread of its own: a target whose
 * name does not resolve (its container is gone) can take the resolver's
 * whole timeout, seconds, and the proxy serves nothing meanwhile; at once,
 * the slowest sets the pace, not their sum.
 */
static struct restore_one *restore_read(json_t *services, size_t *n)
{
	struct restore_one *v;
	size_t i, nr = json_array_size(services);

	*n = nr;
	v = xcalloc(nr ? nr : 1, sizeof(*v));
	for (i = 0; i < nr; i++) {
		v[i].j = json_array_get(services, i);
		err_init(&v[i].e);
		v[i].started = pthread_create(&v[i].th, NULL, restore_one_thread, &v[i]) == 0;
		if (!v[i].started) {
			restore_one_thread(&v[i]);
		}
	}
	for (i = 0; i < nr; i++) {
		if (v[i].started) {
			pthread_join(v[i].th, NULL);
		}
	}
	return v;
}

static void *retry_thread(void *arg)
{
	bool left = true;

	(void)arg;
	while (left) {
		struct route_table *cur;
		struct restore_one *read;
		json_t *batch;
		size_t i, n;

		sleep_ms(1000);
		/*
		 * The names are resolved with no lock held: a resolver that takes
		 * seconds per name must not hold up deploys meanwhile. Only this
		 * thread takes from unrestored, so batch[i] is unrestored[i] after.
		 */
		pthread_mutex_lock(&change_lock);
		batch = json_copy(unrestored);
		pthread_mutex_unlock(&change_lock);
		read = restore_read(batch, &n);
		pthread_mutex_lock(&change_lock);
		cur = route_current();
		for (i = n; i-- > 0;) {
			const char *name = json_string_value(json_object_get(read[i].j, "name"));
			struct service *s = read[i].s;

			err_release(&read[i].e);
			if (route_table_find(cur, name)) {
				json_array_remove(unrestored, i); /* a deploy made it anew */
				if (s) {
					service_free(s);
				}
				continue;
			}
			if (!s) {
				continue;
			}
			mark_pending(s);
			log_info("service '%s' restored at last", name);
			json_array_remove(unrestored, i);
			switch_to(replace_service(cur, s->name, s));
			route_table_unref(cur);
			cur = route_current();
		}
		left = json_array_size(unrestored) > 0;
		route_table_unref(cur);
		pthread_mutex_unlock(&change_lock);
		free(read);
		json_decref(batch);
	}
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
	struct restore_one *read;
	json_error_t je;
	json_t *root, *v;
	pthread_t th;
	size_t i, nread;

	if (access(state_file, F_OK) < 0) {
		atomic_store(&restored, true);
		return 0;
	}
	root = json_load_file(state_file, 0, &je);
	if (!root) {
		return err_setat(e, state_file, (unsigned)je.line, (unsigned)je.column, "%s",
				 je.text);
	}
	names = xcalloc(1, sizeof(*names));
	strvec_init(names);
	read = restore_read(json_object_get(root, "services"), &nread);
	pthread_mutex_lock(&change_lock);
	tbl = route_current();
	for (i = 0; i < nread; i++) {
		struct service *s = read[i].s;

		v = read[i].j;
		if (!s) {
			if (json_is_string(json_object_get(v, "name"))) {
				log_warn("state: %s; kept, and tried again every second",
					 err_str(&read[i].e));
				if (!unrestored) {
					unrestored = json_array();
				}
				json_array_append(unrestored, v);
			} else {
				log_error("state: %s", err_str(&read[i].e));
			}
			err_release(&read[i].e);
			continue;
		}
		err_release(&read[i].e);
		mark_pending(s);
		strvec_push(names, s->name);
		{
			struct route_table *next = replace_service(tbl, s->name, s);

			route_table_unref(tbl);
			tbl = next;
		}
	}
	free(read);
	json_decref(root);
	switch_to(tbl);
	pthread_mutex_unlock(&change_lock);
	if (unrestored && !pthread_create(&th, NULL, retry_thread, NULL)) {
		pthread_detach(th);
	}
	if (pthread_create(&th, NULL, restore_thread, names)) {
		strvec_clear(names);
		free(names);
		atomic_store(&restored, true);
	} else {
		pthread_detach(th);
	}
	return 0;
}

/* Checks of command values */

#define MAX_NAME      128
#define MAX_HOST      253
#define MAX_PATH      1024
#define MAX_SPLIT_VAL 256

static int bad_value(struct err *e, const char *what, const char *want, const char *got)
{
	struct sbuf sb = SBUF_INIT;

	add_shown(&sb, got, 100);
	err_set(e, "%s expects %s, got '%s'", what, want, sb.buf);
	sbuf_release(&sb);
	return -1;
}

/* ASCII only: the proxy's checks must not depend on a locale. */
static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static bool is_xdigit(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Labels of letters, digits, '-' and '_' (1 to 63 bytes, no '-' at either end), 253 bytes in all.
 */
static bool dns_name(const char *s, size_t len)
{
	size_t i, label = 0;

	if (!len || len > MAX_HOST) {
		return false;
	}
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (!label || s[i - 1] == '-') {
				return false;
			}
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_') {
			return false;
		}
		if ((c == '-' && !label) || ++label > 63) {
			return false;
		}
	}
	return true;
}

/* "[...]": hex digits, ':' and '.' (an embedded IPv4), with at least one ':'; "%zone" at the end.
 */
static bool bracketed_v6(const char *s, size_t len)
{
	size_t i;
	bool colon = false, zone = false;

	if (len < 4 || len > 64 || s[0] != '[' || s[len - 1] != ']') {
		return false;
	}
	for (i = 1; i < len - 1; i++) {
		unsigned char c = (unsigned char)s[i];

		if (zone ? !is_alnum(c) : !is_xdigit(c) && c != ':' && c != '.' && c != '%') {
			return false;
		}
		colon |= c == ':';
		if (c == '%') {
			zone = true;
		}
	}
	return colon && s[len - 2] != '%';
}

int control_check_service_name(const char *name, struct err *e)
{
	size_t i, len = strlen(name);

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
			break;
		}
	}
	if (!len || len > MAX_NAME || i < len) {
		return bad_value(e, "the service name",
				 "1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-'", name);
	}
	return 0;
}

int control_check_host(const char *host, struct err *e)
{
	size_t len = strlen(host);
	bool wild = len > 2 && host[0] == '*' && host[1] == '.';

	if (!dns_name(host + (wild ? 2 : 0), len - (wild ? 2 : 0)) && !bracketed_v6(host, len)) {
		return bad_value(e, "option '--host'",
				 "a host name (\"app.example.com\", no port), \"*.\" and one, or "
				 "an IPv6 address in brackets",
				 host);
	}
	return 0;
}

/* Whether path is 1 to MAX_PATH bytes from '/', visible ASCII but the bytes in `but`. */
static bool visible_path(const char *path, const char *but)
{
	size_t i, len = strlen(path);

	if (!len || len > MAX_PATH || path[0] != '/') {
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c <= ' ' || c >= 0x7f || strchr(but, c)) {
			return false;
		}
	}
	return true;
}

int control_check_path_prefix(const char *prefix, char **normalized, struct err *e)
{
	/* "api" is "/api", and "" is "/", as kamal-proxy takes them */
	struct sbuf abs = SBUF_INIT;
	size_t n;
	char *out = NULL;
	int ret = -1;

	*normalized = NULL;
	if (prefix[0] != '/') {
		sbuf_addch(&abs, '/');
	}
	sbuf_addstr(&abs, prefix);
	if (!visible_path(abs.buf, "?#")) {
		bad_value(e, "option '--path-prefix'",
			  "a path of visible ASCII characters but '?' and '#'", prefix);
		goto out;
	}
	out = xmalloc(abs.len + 1);
	if (path_normalize(abs.buf, abs.len, out, &n) < 0) {
		bad_value(e, "option '--path-prefix'",
			  "a path whose '%' escapes have two hex digits and whose \"..\" "
			  "stay below '/'",
			  prefix);
		goto out;
	}
	out[n] = '\0';
	*normalized = out;
	out = NULL;
	ret = 0;
out:
	free(out);
	sbuf_release(&abs);
	return ret;
}

int control_set_path_prefixes(struct service *s, const struct strvec *prefixes, struct err *e)
{
	struct strvec out = STRVEC_INIT;
	size_t i, j;

	for (i = 0; i < prefixes->nr; i++) {
		char *norm;

		if (control_check_path_prefix(prefixes->v[i], &norm, e) < 0) {
			strvec_clear(&out);
			return -1;
		}
		for (j = 0; j < out.nr && !route_same_prefix(out.v[j], norm); j++) {
		}
		if (j == out.nr) {
			strvec_push(&out, norm);
		}
		free(norm);
	}
	if (!out.nr) {
		strvec_push(&out, "/");
	}
	strvec_clear(&s->path_prefixes);
	s->path_prefixes = out;
	return 0;
}

int control_check_health_path(const char *path, struct err *e)
{
	if (!visible_path(path, "#")) {
		return bad_value(e, "option '--health-check-path'",
				 "a path from '/' of visible ASCII characters but '#' (\"/up\")",
				 path);
	}
	return 0;
}

int control_check_target(const char *flag, const char *addr, struct err *e)
{
	const char *colon = strrchr(addr, ':');
	uint64_t port = 0;
	size_t hlen;
	struct sbuf what = SBUF_INIT;
	int rc = 0;

	hlen = colon ? (size_t)(colon - addr) : 0;
	if (!colon || !slice_to_u64(slice_cstr(colon + 1), 65535, &port) || !port ||
	    strlen(colon + 1) > 5 ||
	    (addr[0] == '[' ? !bracketed_v6(addr, hlen) : !dns_name(addr, hlen))) {
		sbuf_addf(&what, "option '--%s'", flag);
		rc = bad_value(e, what.buf, "HOST:PORT or [IPv6]:PORT, with a port from 1 to 65535",
			       addr);
	}
	sbuf_release(&what);
	return rc;
}

int control_check_duration(const char *flag, const char *s, uint64_t min_ms, uint64_t *ms,
			   struct err *e)
{
	struct sbuf what = SBUF_INIT, want = SBUF_INIT;
	uint64_t v;
	int rc = 0;

	if (!s) {
		return 0;
	}
	if (dur_parse(s, &v) && v >= min_ms) {
		*ms = v;
		return 0;
	}
	sbuf_addf(&what, "option '--%s'", flag);
	sbuf_addstr(&want, "a duration like \"30s\"");
	if (min_ms) {
		sbuf_addf(&want, " of at least %llums", (unsigned long long)min_ms);
	}
	rc = bad_value(e, what.buf, want.buf, s);
	sbuf_release(&what);
	sbuf_release(&want);
	return rc;
}

int control_check_rollout_value(const char *v, struct err *e)
{
	size_t i, len = strlen(v);

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\') {
			break;
		}
	}
	if (!len || len > MAX_SPLIT_VAL || i < len) {
		return bad_value(e, "option '--list'",
				 "values a cookie can carry: visible ASCII but '\"', ',', ';' and "
				 "'\\'",
				 v);
	}
	return 0;
}

int control_check_error_pages(const char *dir, struct err *e)
{
	size_t i, len = strlen(dir);

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)dir[i];

		if (c < 0x20 || c == 0x7f) {
			break;
		}
	}
	if (dir[0] != '/' || len > MAX_PATH || i < len) {
		return bad_value(e, "option '--error-pages'",
				 "an absolute path with no control characters", dir);
	}
	return 0;
}

/* RFC 9110 tchar: a header name is a token. */
static bool is_tchar(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int control_check_header_name(const char *flag, const char *name, struct err *e)
{
	size_t i, len = strlen(name);
	struct sbuf what = SBUF_INIT;
	int rc = 0;

	for (i = 0; i < len && is_tchar((unsigned char)name[i]); i++) {
	}
	if (!len || len > MAX_NAME || i < len) {
		sbuf_addf(&what, "option '--%s'", flag);
		rc = bad_value(e, what.buf,
			       "a header name (letters, digits and '-', as \"X-Real-IP\")", name);
	}
	sbuf_release(&what);
	return rc;
}

int control_check_health_host(const char *host, struct err *e)
{
	const char *colon = strrchr(host, ':'), *close = strrchr(host, ']');
	size_t hlen = strlen(host);
	uint64_t port;

	/* ":PORT" at the end, unless the colon is inside an IPv6 address's brackets */
	if (colon && (host[0] != '[' || (close && colon > close))) {
		if (!slice_to_u64(slice_cstr(colon + 1), 65535, &port) || !port ||
		    strlen(colon + 1) > 5) {
			hlen = 0;
		} else {
			hlen = (size_t)(colon - host);
		}
	}
	if (host[0] == '[' ? !bracketed_v6(host, hlen) : !dns_name(host, hlen)) {
		return bad_value(e, "option '--health-check-host'",
				 "a host name or an IPv6 address in brackets, with \":PORT\" or "
				 "without",
				 host);
	}
	return 0;
}

int control_check_port(const char *flag, const char *s, unsigned *port, struct err *e)
{
	struct sbuf what = SBUF_INIT;
	uint64_t v;
	int rc = 0;

	if (slice_to_u64(slice_cstr(s), 65535, &v) && v && strlen(s) <= 5) {
		*port = (unsigned)v;
		return 0;
	}
	sbuf_addf(&what, "option '--%s'", flag);
	rc = bad_value(e, what.buf, "a port from 1 to 65535", s);
	sbuf_release(&what);
	return rc;
}

int control_check_metrics_path(const char *path, char **normalized, struct err *e)
{
	size_t len = strlen(path), n;
	char *out;

	*normalized = NULL;
	if (!visible_path(path, "?#")) {
		return bad_value(e, "option '--exclude-metrics-path'",
				 "a path from '/' of visible ASCII characters but '?' and '#'",
				 path);
	}
	out = xmalloc(len + 1);
	if (path_normalize(path, len, out, &n) < 0) {
		free(out);
		return bad_value(e, "option '--exclude-metrics-path'",
				 "a path whose '%' escapes have two hex digits and whose \"..\" "
				 "stay below '/'",
				 path);
	}
	out[n] = '\0';
	*normalized = out;
	return 0;
}

int control_check_size(const char *flag, const char *s, uint64_t *n, struct err *e)
{
	struct sbuf what = SBUF_INIT;
	int rc = 0;

	if (strlen(s) <= 20 && slice_to_u64(slice_cstr(s), UINT64_MAX, n)) {
		return 0;
	}
	sbuf_addf(&what, "option '--%s'", flag);
	rc = bad_value(e, what.buf, "a size in bytes, in digits", s);
	sbuf_release(&what);
	return rc;
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

/* Prints what is wrong with a value of a command: 0 when e holds nothing (rc 0), else -1. */
static int say_bad(struct ctl_out *o, int rc, struct err *e)
{
	if (rc < 0) {
		ctl_line(o, 'e', "error: %s", err_str(e));
	}
	err_release(e);
	return rc;
}

/* A duration option of at least min_ms (a zero health check interval would spin). */
static int set_dur_min(struct ctl_out *o, const char *flag, const char *s, uint64_t min_ms,
		       uint64_t *ms)
{
	struct err e = ERR_INIT;

	return say_bad(o, control_check_duration(flag, s, min_ms, ms, &e), &e);
}

static int set_dur(struct ctl_out *o, const char *flag, const char *s, uint64_t *ms)
{
	return set_dur_min(o, flag, s, 0, ms);
}

/* The values of deploy (and rollout deploy: targets only) that need no state. 0, or -1 after
 * saying. */
static int check_deploy_values(struct ctl_out *o, const char *name, const struct strvec *targets,
			       const struct strvec *hosts, const char *hc_path,
			       const char *pages_dir)
{
	struct err e = ERR_INIT;
	size_t i;
	int rc = control_check_service_name(name, &e);

	for (i = 0; rc == 0 && i < targets->nr; i++) {
		rc = control_check_target("target", targets->v[i], &e);
	}
	for (i = 0; rc == 0 && hosts && i < hosts->nr; i++) {
		rc = control_check_host(hosts->v[i], &e);
	}
	if (rc == 0 && hc_path) {
		rc = control_check_health_path(hc_path, &e);
	}
	if (rc == 0 && pages_dir) {
		rc = control_check_error_pages(pages_dir, &e);
	}
	return say_bad(o, rc, &e);
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

/* The read target of s that is nt again (as find_target). */
static struct target *find_reader(const struct service *s, const struct target *nt)
{
	size_t i;

	for (i = 0; s && i < s->nr_readers; i++) {
		const struct target *t = s->readers[i];

		if (!strcmp(t->addr, nt->addr) && t->salen == nt->salen &&
		    !memcmp(&t->sa, &nt->sa, nt->salen)) {
			return s->readers[i];
		}
	}
	return NULL;
}

/*
 * Checks deploy's options that follow kamal-proxy's later ones and sets
 * them in s (whose hosts are set). 0, or -1 after saying what is wrong.
 */
static int deploy_extra_values(struct ctl_out *o, struct service *s, const struct strvec *readers,
			       const char *canonical, const char *hc_port, const char *hc_host,
			       const char *buf_mem, const char *max_resp,
			       const struct strvec *log_req, const struct strvec *log_resp,
			       const char *ip_header, const struct strvec *excluded)
{
	struct err e = ERR_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < readers->nr; i++) {
		rc = control_check_target("read-target", readers->v[i], &e);
	}
	if (rc == 0 && canonical) {
		bool listed = !s->hosts.nr;

		for (i = 0; i < s->hosts.nr; i++) {
			listed |= !strcasecmp(s->hosts.v[i], canonical);
		}
		if (canonical[0] == '*' || control_check_host(canonical, &e) < 0) {
			err_release(&e);
			rc = bad_value(&e, "option '--canonical-host'",
				       "a host name (\"example.com\", no wildcard, no port)",
				       canonical);
		} else if (!listed) {
			char *all = strvec_join(&s->hosts, ", ");

			rc = err_set(&e,
				     "option '--canonical-host' expects one of the --host names "
				     "(%s), got '%s'",
				     all, canonical);
			free(all);
		} else {
			s->o.canonical_host = xstrdup(canonical);
		}
	}
	if (rc == 0 && hc_port) {
		rc = control_check_port("health-check-port", hc_port, &s->o.health_port, &e);
	}
	if (rc == 0 && hc_host) {
		rc = control_check_health_host(hc_host, &e);
		if (rc == 0) {
			s->o.health_host = xstrdup(hc_host);
		}
	}
	if (rc == 0 && buf_mem) {
		rc = control_check_size("buffer-memory", buf_mem, &s->o.buffer_memory, &e);
	}
	if (rc == 0 && max_resp && !s->o.buffer_responses) {
		rc = err_set(&e, "option '--max-response-body' needs '--buffer-responses'");
	}
	if (rc == 0 && max_resp) {
		rc = control_check_size("max-response-body", max_resp, &s->o.max_response_body, &e);
	}
	for (i = 0; rc == 0 && i < log_req->nr; i++) {
		rc = control_check_header_name("log-request-header", log_req->v[i], &e);
		if (rc == 0) {
			strvec_push(&s->o.log_req_headers, log_req->v[i]);
		}
	}
	for (i = 0; rc == 0 && i < log_resp->nr; i++) {
		rc = control_check_header_name("log-response-header", log_resp->v[i], &e);
		if (rc == 0) {
			strvec_push(&s->o.log_resp_headers, log_resp->v[i]);
		}
	}
	if (rc == 0 && ip_header) {
		rc = control_check_header_name("client-ip-header", ip_header, &e);
		if (rc == 0) {
			s->o.client_ip_header = xstrdup(ip_header);
		}
	}
	for (i = 0; rc == 0 && i < excluded->nr; i++) {
		char *norm;

		rc = control_check_metrics_path(excluded->v[i], &norm, &e);
		if (rc == 0) {
			strvec_push(&s->o.exclude_metrics, norm);
			free(norm);
		}
	}
	return say_bad(o, rc, &e);
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
		if (service_has_target(ns, old[i])) {
			continue;
		}
		draining++;
		while (atomic_load(&old[i]->inflight) > 0 && now_ms() < deadline) {
			sleep_ms(5);
		}
	}
	for (i = 0; i < n; i++) {
		struct target *t = old[i];

		if (service_has_target(ns, t)) {
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

/*
 * --take-over: the services of base that own a host and path prefix s wants
 * give them up: a service with hosts gives up the host (with all its
 * prefixes), a default service (no host) the prefix (on every host). A
 * service left without a host or a prefix that way has no routes left and
 * is dropped, its name added to dropped. Returns the new table (base is
 * unreferenced).
 */
static struct route_table *take_routes(struct ctl_out *o, struct route_table *base,
				       const struct service *s, struct strvec *dropped)
{
	const struct service *other;
	const char *host = NULL, *prefix = NULL;

	while ((other = route_table_conflict(base, s, &host, &prefix))) {
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
				 host, prefix, name);
			if (!kept->hosts.nr) {
				service_free(kept);
				kept = NULL;
			}
		} else {
			size_t i;

			ctl_line(o, 'o', "took every host with path prefix '%s' from service '%s'",
				 prefix, name);
			kept = service_dup(other);
			strvec_clear(&kept->path_prefixes);
			for (i = 0; i < other->path_prefixes.nr; i++) {
				if (!route_same_prefix(other->path_prefixes.v[i], prefix)) {
					strvec_push(&kept->path_prefixes,
						    other->path_prefixes.v[i]);
				}
			}
			if (!kept->path_prefixes.nr) {
				service_free(kept);
				kept = NULL;
			}
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

/*
 * deploy --tls-issuer and --tls-secret-stdin: checked, the issuer's URL
 * made "http://HOST:PORT" and the secret read from the standard input.
 */
static int check_follower(struct ctl_out *o, bool tls, const char *issuer, bool secret_stdin,
			  bool have_cert, struct sbuf *url, uint8_t secret[SEAL_SECRET_LEN])
{
	struct err e = ERR_INIT;
	const char *hp;
	int rc = -1;

	if (!tls || !issuer || !secret_stdin) {
		ctl_line(o, 'e',
			 "error: options '--tls-issuer' and '--tls-secret-stdin' go together, "
			 "with '--tls'");
		goto out;
	}
	if (have_cert) {
		ctl_line(o, 'e',
			 "error: option '--tls-issuer' takes the certificate from the issuer; "
			 "it cannot go with a certificate of its own");
		goto out;
	}
	hp = strncmp(issuer, "http://", 7) ? issuer : issuer + 7;
	if (!*hp || strpbrk(hp, "/?#@ ") || !strncmp(issuer, "https://", 8)) {
		ctl_line(o, 'e',
			 "error: option '--tls-issuer' expects http://HOST[:PORT] (the issuer's "
			 "plain-HTTP port), got '%s'",
			 issuer);
		goto out;
	}
	sbuf_addf(url, "http://%s", hp);
	/* no port: 80 */
	if (!strrchr(hp, ':') || (hp[0] == '[' && strrchr(hp, ']') > strrchr(hp, ':'))) {
		sbuf_addstr(url, ":80");
	}
	if (!o->input) {
		ctl_line(o, 'e',
			 "error: option '--tls-secret-stdin' expects the secret on the standard "
			 "input of 'berth-proxy deploy'");
		goto out;
	}
	if (seal_secret_parse(o->input, o->input_len, secret, &e) < 0) {
		ctl_line(o, 'e', "error: option '--tls-secret-stdin': %s", err_str(&e));
		goto out;
	}
	rc = 0;
out:
	err_release(&e);
	return rc;
}

/*
 * The text the metrics port serves (proxy/metrics.h), one output line per
 * line, whether or not a metrics port is configured: berthd samples it
 * through `docker exec` with no port to find or open.
 */
static int cmd_metrics(struct ctl_out *o, int argc, const char **argv)
{
	const struct opt opts[] = {OPT_END()};
	const char *names[ROUTE_MAX_SERVICE_INDEX];
	struct metrics *const *counters;
	unsigned nr = server_metrics(&counters);
	struct route_table *cur;
	struct sbuf text = SBUF_INIT;
	size_t off = 0;

	if (parse_cmd_opts(o, argc, argv, opts) != 0) {
		ctl_line(o, 'e', "usage: berth-proxy metrics");
		return 1;
	}
	cur = route_current();
	metrics_render(&text, cur, names, route_service_names(names), counters, nr);
	route_table_unref(cur);
	while (off < text.len) {
		const char *nl = memchr(text.buf + off, '\n', text.len - off);
		size_t len = nl ? (size_t)(nl - (text.buf + off)) : text.len - off;

		ctl_line(o, 'o', "%.*s", (int)len, text.buf + off);
		off += len + 1;
	}
	sbuf_release(&text);
	return 0;
}

static int cmd_tls_secret(struct ctl_out *o, int argc, const char **argv)
{
	const struct opt opts[] = {OPT_END()};
	struct sbuf hex = SBUF_INIT;
	struct err e = ERR_INIT;
	int rc = 1;

	if (parse_cmd_opts(o, argc, argv, opts) != 1) {
		ctl_line(o, 'e', "usage: berth-proxy tls-secret SERVICE");
		goto out;
	}
	if (certs_secret(argv[0], &hex, &e) < 0) {
		ctl_line(o, 'e', "error: %s", err_str(&e));
		goto out;
	}
	ctl_line(o, 'o', "%s", hex.buf);
	rc = 0;
out:
	if (hex.buf && hex.alloc) {
		OPENSSL_cleanse(hex.buf, hex.len);
	}
	sbuf_release(&hex);
	err_release(&e);
	return rc;
}

/*
 * acme: the ACME account's email and directory, shown, or changed at run
 * time (proxy/acmeset.h): the next order uses them, nothing restarts.
 */
static int cmd_acme(struct ctl_out *o, int argc, const char **argv)
{
	static const char usage[] =
	    "usage: berth-proxy acme [--json] | [--email ADDR] [--directory URL] | --reset";
	const char *email = NULL, *directory = NULL;
	bool json = false, reset = false;
	const struct opt opts[] = {
	    OPT_STRING(0, "email", &email, "ADDR", "the account's contact (\"\": the boot's)"),
	    OPT_STRING(0, "directory", &directory, "URL",
		       "the CA's directory URL (\"\": the boot's)"),
	    OPT_BOOL(0, "reset", &reset, "back to the boot's email and directory"),
	    OPT_BOOL(0, "json", &json, "print JSON"),
	    OPT_END(),
	};
	struct acmeset rt = ACMESET_INIT, boot = ACMESET_INIT;
	struct err e = ERR_INIT;
	const char *em, *dir, *em_src, *dir_src;
	char *account = NULL;
	int rc = 1;

	if (parse_cmd_opts(o, argc, argv, opts) != 0 || (reset && (email || directory)) ||
	    (json && (reset || email || directory))) {
		ctl_line(o, 'e', "%s", usage);
		goto out;
	}
	if (reset || email || directory) {
		if (certs_acme_set(email, directory, reset, &e) < 0) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			goto out;
		}
		log_info("acme: set at run time: email %s, directory %s",
			 reset || (email && !*email) ? "(the boot's)"
			 : email		     ? email
						     : "(as it was)",
			 reset || (directory && !*directory) ? "(the boot's)"
			 : directory			     ? directory
							     : "(as it was)");
	}
	certs_acme_get(&rt, &boot, &account);
	em = rt.email ? rt.email : boot.email;
	em_src = rt.email ? "runtime" : boot.email ? "boot" : "none";
	dir = rt.directory ? rt.directory : boot.directory;
	dir_src = rt.directory ? "runtime" : boot.directory ? "boot" : "default";
	if (!dir) {
		dir = ACME_LETSENCRYPT_URL;
	}
	if (json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s?}", "email", em ? em : "",
				      "email_source", em_src, "directory", dir, "directory_source",
				      dir_src, "account", account);
		char *text = json_dumps(j, JSON_COMPACT);

		ctl_line(o, 'o', "%s", text);
		free(text);
		json_decref(j);
	} else {
		ctl_line(o, 'o', "email:      %s (%s)", em ? em : "none",
			 rt.email     ? "set with berth-proxy acme"
			 : boot.email ? "given at boot"
				      : "none given");
		ctl_line(o, 'o', "directory:  %s (%s)", dir,
			 rt.directory	  ? "set with berth-proxy acme"
			 : boot.directory ? "given at boot"
					  : "Let's Encrypt, the default");
		ctl_line(o, 'o', "account:    %s",
			 account ? account : "registered at the next order");
	}
	rc = 0;
out:
	acmeset_release(&rt);
	acmeset_release(&boot);
	free(account);
	err_release(&e);
	return rc;
}

static int cmd_deploy(struct ctl_out *o, int argc, const char **argv)
{
	struct strvec targets = STRVEC_INIT, hosts = STRVEC_INIT, prefixes = STRVEC_INIT;
	const char *hc_path = NULL, *hc_int = NULL, *hc_tmo = NULL;
	const char *deploy_tmo = NULL, *drain_tmo = NULL, *target_tmo = NULL, *max_body = NULL;
	const char *client_tmo = NULL;
	const char *pages_dir = NULL, *canonical = NULL, *affinity = NULL, *hc_port = NULL;
	const char *hc_host = NULL, *buf_mem = NULL, *max_resp = NULL, *ip_header = NULL;
	struct strvec readers = STRVEC_INIT, log_req = STRVEC_INIT, log_resp = STRVEC_INIT;
	struct strvec excluded = STRVEC_INIT;
	bool read_ws = false, buffer_resp = false, scope_cookies = false, take_over = false;
	const char *cert_path = NULL, *key_path = NULL, *hsts = NULL;
	bool tls = false, tls_stdin = false, redirect = true, fwd_given = false,
	     acme_wanted = false, secret_stdin = false, follower = false;
	const char *issuer = NULL;
	struct sbuf issuer_url = SBUF_INIT;
	uint8_t secret[SEAL_SECRET_LEN];
	struct strvec dropped = STRVEC_INIT;
	struct route_table *cur = NULL, *base = NULL;
	struct service *s = NULL, *old;
	const struct service *other;
	const char *host = NULL, *prefix = NULL;
	struct err e = ERR_INIT;
	uint64_t start = now_ms(), drain_ms;
	size_t i, draining = 0, tunnels_closed = 0;
	int n, rc = 1;
	bool locked = false, fwd = false, strip = true, force = false, buffer = false;
	const struct opt opts[] = {
	    OPT_LIST(0, "target", &targets, "HOST:PORT", "where to send requests"),
	    OPT_LIST(0, "host", &hosts, "NAME", "host names to route (default: any)"),
	    OPT_LIST(0, "path-prefix", &prefixes, "P",
		     "route only paths under P (several: repeated or comma-separated)"),
	    OPT_STRING(0, "health-check-path", &hc_path, "PATH", "default /up"),
	    OPT_STRING(0, "health-check-interval", &hc_int, "DUR", "default 1s"),
	    OPT_STRING(0, "health-check-timeout", &hc_tmo, "DUR", "default 5s"),
	    OPT_STRING(0, "deploy-timeout", &deploy_tmo, "DUR", "default 30s"),
	    OPT_STRING(0, "drain-timeout", &drain_tmo, "DUR", "default 30s"),
	    OPT_STRING(0, "target-timeout", &target_tmo, "DUR", "default 30s"),
	    OPT_STRING(
		0, "client-timeout", &client_tmo, "DUR",
		"close a client that takes none of its response for this long (default 60s)"),
	    OPT_STRING(0, "max-request-body", &max_body, "BYTES", "default: no limit"),
	    OPT_BOOL(0, "forward-headers", &fwd,
		     "trust X-Forwarded-* from the client (another proxy is in front)"),
	    OPT_BOOL(0, "strip-path-prefix", &strip,
		     "send paths without the path prefix (default; =false keeps it)"),
	    OPT_BOOL(0, "buffer-requests", &buffer,
		     "read a request's body whole before the target is contacted"),
	    OPT_STRING(0, "error-pages", &pages_dir, "DIR",
		       "serve DIR/<status>.html for the proxy's own errors (an absolute path)"),
	    OPT_BOOL(0, "force", &force, "skip health checks and switch at once"),
	    OPT_BOOL(0, "take-over", &take_over,
		     "take the hosts and path prefix from the services that own them"),
	    OPT_STRING(0, "canonical-host", &canonical, "NAME",
		       "redirect (301) requests for the other hosts to this one"),
	    OPT_LIST(0, "read-target", &readers, "HOST:PORT",
		     "where read requests (GET, HEAD) may go"),
	    OPT_BOOL(0, "read-target-websockets", &read_ws,
		     "WebSocket requests may go to read targets too"),
	    OPT_STRING(0, "writer-affinity-timeout", &affinity, "DUR",
		       "after a write, a client's reads go to the writers for this long "
		       "(default 1s)"),
	    OPT_STRING(0, "health-check-port", &hc_port, "PORT",
		       "check health on this port (default: the target's)"),
	    OPT_STRING(0, "health-check-host", &hc_host, "NAME",
		       "the Host header of health checks (default: the target)"),
	    OPT_BOOL(0, "buffer-responses", &buffer_resp,
		     "read a response whole before it is sent to the client"),
	    OPT_STRING(0, "buffer-memory", &buf_mem, "BYTES",
		       "a buffered body beyond this goes to a temporary file (default 1 MiB)"),
	    OPT_STRING(0, "max-response-body", &max_resp, "BYTES",
		       "with --buffer-responses: a larger response gets 502 (default: no limit)"),
	    OPT_LIST(0, "log-request-header", &log_req, "NAME",
		     "add this request header to the access log"),
	    OPT_LIST(0, "log-response-header", &log_resp, "NAME",
		     "add this response header to the access log"),
	    OPT_STRING(0, "client-ip-header", &ip_header, "NAME",
		       "the header that holds the client's address (set by a proxy in front)"),
	    OPT_LIST(0, "exclude-metrics-path", &excluded, "PATH",
		     "requests under PATH are not counted in the metrics"),
	    OPT_BOOL(0, "scope-cookie-paths", &scope_cookies,
		     "with --path-prefix: the Path of the cookies responses set goes under it"),
	    OPT_BOOL(0, "tls", &tls, "serve the hosts over HTTPS (needs --host)"),
	    OPT_STRING(0, "tls-certificate-path", &cert_path, "PEM",
		       "the certificate chain to serve (default: one from ACME)"),
	    OPT_STRING(0, "tls-private-key-path", &key_path, "PEM", "its private key"),
	    OPT_BOOL(0, "tls-certificate-stdin", &tls_stdin,
		     "read the certificate chain then the key (PEM) from the standard input"),
	    OPT_BOOL(0, "tls-redirect", &redirect,
		     "answer plain HTTP with a redirect to HTTPS (default with --tls)"),
	    OPT_STRING(0, "hsts-max-age", &hsts, "DUR",
		       "HTTPS responses carry Strict-Transport-Security (default: none)"),
	    OPT_STRING(0, "tls-issuer", &issuer, "http://HOST[:PORT]",
		       "take the certificate from the proxy that issues it for the other hosts"),
	    OPT_BOOL(0, "tls-secret-stdin", &secret_stdin,
		     "with --tls-issuer: read the secret ('tls-secret' on the issuer) from the "
		     "standard input"),
	    OPT_END(),
	};

	/* Seen before parsing, which leaves only the operands in argv. */
	for (i = 0; i < (size_t)argc && strcmp(argv[i], "--"); i++) {
		if (!strncmp(argv[i], "--forward-headers", 17) ||
		    !strncmp(argv[i], "--no-forward-headers", 20)) {
			fwd_given = true;
		}
	}
	n = parse_cmd_opts(o, argc, argv, opts);
	if (n < 0) {
		goto out;
	}
	/* As in kamal-proxy: not given, X-Forwarded-* are trusted unless the proxy terminates TLS.
	 */
	if (!fwd_given) {
		fwd = !tls;
	}
	if (!tls && (cert_path || key_path || tls_stdin || hsts)) {
		ctl_line(o, 'e', "error: option '--%s' needs '--tls'",
			 cert_path  ? "tls-certificate-path"
			 : key_path ? "tls-private-key-path"
			 : hsts	    ? "hsts-max-age"
				    : "tls-certificate-stdin");
		goto out;
	}
	if (tls && !hosts.nr) {
		ctl_line(o, 'e',
			 "error: option '--tls' needs at least one '--host': a certificate is for "
			 "names");
		goto out;
	}
	if (issuer || secret_stdin) {
		if (check_follower(o, tls, issuer, secret_stdin, cert_path || tls_stdin,
				   &issuer_url, secret) < 0) {
			goto out;
		}
		follower = true;
	}
	if (!cert_path != !key_path) {
		ctl_line(o, 'e',
			 "error: options '--tls-certificate-path' and '--tls-private-key-path' go "
			 "together");
		goto out;
	}
	if (tls_stdin && cert_path) {
		ctl_line(o, 'e',
			 "error: option '--tls-certificate-stdin' replaces "
			 "'--tls-certificate-path' and '--tls-private-key-path'; give one or the "
			 "other");
		goto out;
	}
	if (tls_stdin && !o->input) {
		ctl_line(
		    o, 'e',
		    "error: option '--tls-certificate-stdin' expects the certificate chain and "
		    "the key on the standard input of 'berth-proxy deploy'");
		goto out;
	}
	if (cert_path && (cert_path[0] != '/' || key_path[0] != '/')) {
		ctl_line(o, 'e',
			 "error: options '--tls-certificate-path' and '--tls-private-key-path' "
			 "expect absolute paths (the proxy reads them), got '%s' and '%s'",
			 cert_path, key_path);
		goto out;
	}
	if (cert_path) {
		struct tls_cert *c = tls_cert_load_files(cert_path, key_path, &e);

		if (!c) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			goto out;
		}
		tls_cert_unref(c);
	}
	if (n != 1 || !targets.nr) {
		ctl_line(o, 'e', "usage: berth-proxy deploy SERVICE --target HOST:PORT [options]");
		goto out;
	}
	if (check_deploy_values(o, argv[0], &targets, &hosts, hc_path, pages_dir) < 0) {
		goto out;
	}
	s = service_new(argv[0]);
	strvec_pushv(&s->hosts, (const char *const *)hosts.v);
	s->o.forward_headers = fwd;
	s->o.strip_prefix = strip;
	s->o.buffer_requests = buffer;
	s->o.read_websockets = read_ws;
	s->o.buffer_responses = buffer_resp;
	s->o.scope_cookies = scope_cookies;
	if (deploy_extra_values(o, s, &readers, canonical, hc_port, hc_host, buf_mem, max_resp,
				&log_req, &log_resp, ip_header, &excluded) < 0 ||
	    set_dur(o, "writer-affinity-timeout", affinity, &s->o.writer_affinity_ms) < 0) {
		goto out;
	}
	s->o.tls = tls;
	s->o.tls_redirect = tls && redirect;
	if (cert_path) {
		s->o.tls_cert_path = xstrdup(cert_path);
		s->o.tls_key_path = xstrdup(key_path);
	}
	if (follower) {
		/* The CA's HTTP-01 requests for its hosts go to the issuer's plain port. */
		s->o.tls_issuer_target = target_new(issuer_url.buf + strlen("http://"), &e);
		if (!s->o.tls_issuer_target) {
			ctl_line(o, 'e', "error: option '--tls-issuer': %s", err_str(&e));
			goto out;
		}
		if (certs_follow(s, issuer_url.buf, secret, &e) < 0) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			goto out;
		}
	}
	if (hsts) {
		uint64_t ms = 0;

		if (set_dur(o, "hsts-max-age", hsts, &ms) < 0) {
			goto out;
		}
		s->o.hsts_max_age_s = ms / 1000;
	}
	if (say_bad(o, control_set_path_prefixes(s, &prefixes, &e), &e) < 0) {
		goto out;
	}
	if (hc_path) {
		free(s->o.health_path);
		s->o.health_path = xstrdup(hc_path);
	}
	if (set_dur_min(o, "health-check-interval", hc_int, 1, &s->o.health_interval_ms) < 0 ||
	    set_dur_min(o, "health-check-timeout", hc_tmo, 1, &s->o.health_timeout_ms) < 0 ||
	    set_dur_min(o, "deploy-timeout", deploy_tmo, 1, &s->o.deploy_timeout_ms) < 0 ||
	    set_dur(o, "drain-timeout", drain_tmo, &s->o.drain_timeout_ms) < 0 ||
	    set_dur(o, "target-timeout", target_tmo, &s->o.target_timeout_ms) < 0 ||
	    set_dur(o, "client-timeout", client_tmo, &s->o.client_timeout_ms) < 0) {
		goto out;
	}
	if (max_body && !slice_to_u64(slice_cstr(max_body), UINT64_MAX, &s->o.max_body)) {
		ctl_line(o, 'e', "error: option '--max-request-body' expects a number, got '%s'",
			 max_body);
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
	other = route_table_conflict(cur, s, &host, &prefix);
	if (other && !take_over) {
		if (host) {
			ctl_line(o, 'e',
				 "error: host '%s' with path prefix '%s' is used by service '%s'; "
				 "cannot give it to service '%s'",
				 host, prefix, other->name, s->name);
		} else {
			ctl_line(o, 'e',
				 "error: service '%s' already serves every host with path prefix "
				 "'%s'; cannot give it to service '%s'",
				 other->name, prefix, s->name);
		}
		ctl_line(o, 'e', "hint: 'deploy --take-over' takes it over");
		goto out;
	}
	/*
	 * ACME: the certificate is asked for while the targets are checked; a
	 * follower's first fetch from the issuer starts now too.
	 */
	if (tls && !cert_path && !tls_stdin) {
		certs_update(cur, s);
		acme_wanted = !follower;
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
	for (i = 0; i < readers.nr; i++) {
		struct target *t = target_new(readers.v[i], &e), *same;

		if (!t) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			goto out;
		}
		same = find_reader(old, t);
		if (same) {
			target_unref(t);
			t = target_ref(same);
		}
		service_add_reader(s, t);
	}
	/* A rollout in progress goes on with the new main targets. */
	if (old) {
		for (i = 0; i < old->nr_rollout; i++) {
			service_add_rollout_target(s, target_ref(old->rollout[i]));
		}
		s->rollout_percent = old->rollout_percent;
		strvec_pushv(&s->rollout_list, (const char *const *)old->rollout_list.v);
	}
	if (force) {
		/* kamal-proxy's --force: no health check; the targets serve at once. */
		for (i = 0; i < s->nr_targets + s->nr_readers; i++) {
			atomic_store(&main_or_reader(s, i)->healthy, true);
			atomic_store(&main_or_reader(s, i)->pending, false);
		}
	} else if (wait_healthy(s, o) < 0) {
		ctl_line(o, 'e', "error: deploy of '%s' failed; nothing was changed", s->name);
		goto out;
	}
	if (tls_stdin) {
		char *cp, *kp;

		if (certs_save_pem(s->name, o->input, o->input_len, &cp, &kp, &e) < 0) {
			ctl_line(o, 'e', "error: %s", err_str(&e));
			ctl_line(o, 'e', "error: deploy of '%s' failed; nothing was changed",
				 s->name);
			goto out;
		}
		s->o.tls_cert_path = cp;
		s->o.tls_key_path = kp;
	}
	if (acme_wanted) {
		struct sbuf why = SBUF_INIT;

		/* Plain HTTP is not held back by a CA that fails: the switch happens anyway. */
		if (certs_wait(s, start + s->o.deploy_timeout_ms, &why) < 0) {
			ctl_line(o, 'e',
				 "warning: no certificate for '%s' yet: %s; HTTPS for its hosts "
				 "fails until one is issued (it is retried; 'berth-proxy list "
				 "--json' shows its status)",
				 s->name, why.buf);
		}
		sbuf_release(&why);
	}
	drain_ms = s->o.drain_timeout_ms;
	base = route_current(); /* cur, as the change lock is held */
	base = take_routes(o, base, s, &dropped);
	switch_to(replace_service(base, s->name, s));
	old = route_table_find(cur, argv[0]);
	if (follower) {
		struct sbuf why = SBUF_INIT;
		struct route_table *now_tbl = route_current();

		/*
		 * A follower waits once it serves: the CA's check of the issuer's
		 * order may come here, and only the switched service relays it.
		 */
		if (certs_wait(route_table_find(now_tbl, argv[0]), start + s->o.deploy_timeout_ms,
			       &why) < 0) {
			ctl_line(o, 'e',
				 "warning: no certificate for '%s' from the issuer: %s; HTTPS for "
				 "its hosts serves what it had, or fails until one comes (it is "
				 "retried; 'berth-proxy list --json' shows its status)",
				 argv[0], why.buf);
		}
		sbuf_release(&why);
		route_table_unref(now_tbl);
	}
	s = NULL;
	/* A service that lost its last route: its tunnels end now, as with remove. */
	if (dropped.nr) {
		struct route_table *now_tbl = route_current();

		for (i = 0; i < dropped.nr; i++) {
			const struct service *d = route_table_find(cur, dropped.v[i]);
			size_t j;

			for (j = 0; d && j < d->nr_targets; j++) {
				if (!route_table_has_target(now_tbl, d->targets[j])) {
					server_close_tunnels(d->targets[j]);
				}
			}
		}
		route_table_unref(now_tbl);
	}

	/* Drain, for as long as this deploy's drain timeout says: writers and readers at once. */
	if (old) {
		struct target **was = xcalloc(old->nr_targets + old->nr_readers + 1, sizeof(*was));

		for (i = 0; i < old->nr_targets + old->nr_readers; i++) {
			was[i] = main_or_reader(old, i);
		}
		draining = drain_targets(o, was, old->nr_targets + old->nr_readers, argv[0],
					 drain_ms, &tunnels_closed);
		free(was);
	}
	ctl_line(o, 'o', "deployed '%s' to %s in %llums (%zu old target(s) drained)", argv[0],
		 targets.v[0], (unsigned long long)(now_ms() - start), draining);
	if (tunnels_closed) {
		ctl_line(o, 'o', "closed %zu tunnel(s) to old targets at the drain timeout",
			 tunnels_closed);
	}
	rc = 0;
out:
	if (rc && (acme_wanted || follower)) {
		/* The certificate of a deploy that failed is not wanted any more. */
		struct route_table *now_tbl = route_current();

		certs_update(now_tbl, NULL);
		route_table_unref(now_tbl);
	}
	if (locked) {
		pthread_mutex_unlock(&change_lock);
	}
	route_table_unref(cur);
	route_table_unref(base);
	service_free(s);
	strvec_clear(&targets);
	strvec_clear(&hosts);
	strvec_clear(&prefixes);
	strvec_clear(&dropped);
	strvec_clear(&readers);
	strvec_clear(&log_req);
	strvec_clear(&log_resp);
	strvec_clear(&excluded);
	sbuf_release(&issuer_url);
	OPENSSL_cleanse(secret, sizeof(secret));
	err_release(&e);
	return rc;
}

/* Drops the unrestored service name (under change_lock); whether there was one. */
static bool unrestored_drop(const char *name)
{
	size_t i;

	for (i = 0; i < json_array_size(unrestored); i++) {
		const char *n =
		    json_string_value(json_object_get(json_array_get(unrestored, i), "name"));

		if (n && !strcmp(n, name)) {
			json_array_remove(unrestored, i);
			return true;
		}
	}
	return false;
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
	if (!svc && unrestored_drop(argv[0])) {
		struct err se = ERR_INIT;

		if (save_state(cur, &se) < 0) {
			log_error("%s", err_str(&se));
		}
		err_release(&se);
		ctl_line(o, 'o', "removed '%s' (it was not restored yet)", argv[0]);
		rc = 0;
	} else if (!svc) {
		ctl_line(o, 'e', "error: no service '%s'", argv[0]);
	} else {
		size_t i;

		switch_to(replace_service(cur, argv[0], NULL));
		/* Requests in flight finish; tunnels would not, and nothing routes there now. */
		for (i = 0; i < svc->nr_targets + svc->nr_readers; i++) {
			server_close_tunnels(main_or_reader(svc, i));
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
	if (check_deploy_values(o, argv[0], &targets, NULL, NULL, NULL) < 0) {
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
	service_opts_release(&chk->o);
	service_opts_copy(&chk->o, &old->o);
	drain_ms = old->o.drain_timeout_ms;
	if (set_dur_min(o, "deploy-timeout", deploy_tmo, 1, &chk->o.deploy_timeout_ms) < 0 ||
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
	struct strvec lists = STRVEC_INIT, values = STRVEC_INIT;
	struct err e = ERR_INIT;
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
	for (i = 0; i < lists.nr; i++) {
		push_csv(&values, lists.v[i]);
	}
	for (i = 0; i < values.nr; i++) {
		if (say_bad(o, control_check_rollout_value(values.v[i], &e), &e) < 0) {
			strvec_clear(&lists);
			strvec_clear(&values);
			return 1;
		}
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
		strvec_pushv(&s->rollout_list, (const char *const *)values.v);
	}
	switch_to(replace_service(cur, argv[0], s));
	ctl_line(o, 'o', "rollout of '%s' at %u%%%s", argv[0], (unsigned)s->rollout_percent,
		 s->rollout_list.nr ? " and listed values" : "");
	rc = 0;
out:
	route_table_unref(cur);
	pthread_mutex_unlock(&change_lock);
	strvec_clear(&lists);
	strvec_clear(&values);
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
		char *text;

		/* the certificate's status: shown, not saved in the state file */
		for (i = 0; i < cur->nr_svcs; i++) {
			json_t *st = certs_status(cur->svcs[i]);

			if (st) {
				json_object_set_new(json_object_get(json_array_get(arr, i), "tls"),
						    "certificate", st);
			}
		}
		text = json_dumps(arr, JSON_COMPACT);

		ctl_line(o, 'o', "%s", text);
		free(text);
		json_decref(arr);
	} else {
		ctl_line(o, 'o', "%-20s %-30s %-12s %-8s %s", "SERVICE", "HOSTS", "PATH", "STATE",
			 "TARGETS");
		for (i = 0; i < cur->nr_svcs; i++) {
			const struct service *s = cur->svcs[i];
			char *h = s->hosts.nr ? strvec_join(&s->hosts, ",") : xstrdup("*");
			char *p = strvec_join(&s->path_prefixes, ",");
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
			ctl_line(o, 'o', "%-20s %-30s %-12s %-8s %s", s->name, h, p,
				 s->state == SERVICE_STOPPED  ? "stopped"
				 : s->state == SERVICE_PAUSED ? "paused"
							      : "running",
				 t.buf);
			free(h);
			free(p);
			sbuf_release(&t);
		}
	}
	route_table_unref(cur);
	return 0;
}

/*
 * The old side of a handover (proxy/handoff.h). No change may be made
 * from the moment the listeners leave until this process is gone (the new
 * one restores the state file as it is now), so the change lock is taken
 * and, once the new process has said "go", kept until the exit.
 */
static int cmd_handoff(struct ctl_out *o)
{
	struct server_listener ls[HANDOFF_MAX_FDS];
	struct err e = ERR_INIT;
	uint64_t drain_ms = 0;
	size_t n;
	int rc = 1;

	if (atomic_exchange(&handing_over, true)) {
		ctl_line(o, 'e', "error: a handover to another proxy is already under way");
		return 1;
	}
	pthread_mutex_lock(&change_lock);
	n = server_listeners(ls, HANDOFF_MAX_FDS);
	if (handoff_send(o->fd, ls, n, &e) < 0) {
		ctl_line(o, 'e', "error: %s", err_str(&e));
		goto abandon;
	}
	log_info("handing the listeners over to a new proxy");
	if (handoff_wait_go(o->fd, &drain_ms) <= 0) {
		log_warn("the new proxy went away before it took over; serving on");
		goto abandon;
	}
	server_stop_accepting();
	atomic_store(&handed_drain_ms, drain_ms);
	atomic_store(&handed_over, true);
	log_info("handed over: no longer accepting; draining for up to %llums",
		 (unsigned long long)drain_ms);
	/* The main thread waits for this signal to drain and exit. */
	kill(getpid(), SIGUSR2);
	rc = 0;
	goto out;
abandon:
	pthread_mutex_unlock(&change_lock);
	atomic_store(&handing_over, false);
out:
	err_release(&e);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(struct ctl_out *o, int argc, const char **argv);
} ctl_commands[] = {
    {"deploy", cmd_deploy},   {"remove", cmd_remove},
    {"rm", cmd_remove},	      {"list", cmd_list},
    {"ls", cmd_list},	      {"pause", cmd_pause},
    {"resume", cmd_resume},   {"stop", cmd_stop},
    {"rollout", cmd_rollout}, {"tls-secret", cmd_tls_secret},
    {"acme", cmd_acme},	      {"metrics", cmd_metrics},
};

static void *conn_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct ctl_out o = {.fd = fd};
	struct sbuf req = SBUF_INIT;
	struct strvec args = STRVEC_INIT;
	size_t i, off = 0;
	int rc = 2;

	while (req.len <= MAX_REQUEST) {
		ssize_t n = sbuf_read_once(&req, fd, 4096);

		if (n <= 0) {
			break;
		}
		/* A handoff keeps its connection open both ways: its request is the word alone. */
		if (req.len == sizeof("handoff") &&
		    !memcmp(req.buf, "handoff", sizeof("handoff"))) {
			rc = cmd_handoff(&o);
			goto out;
		}
	}
	while (off < req.len) {
		const char *s = req.buf + off;
		size_t len = strnlen(s, req.len - off);

		if (s[0] == CONTROL_STDIN_MARK) {
			/* the rest is the client's standard input (a certificate and its key) */
			o.input = s + 1;
			o.input_len = req.len - off - 1;
			break;
		}
		strvec_push(&args, s);
		off += len + 1;
	}
	if (!args.nr) {
		ctl_line(&o, 'e', "error: no command");
		goto out;
	}
	log_debug("control command '%s' with %zu argument(s)", args.v[0], args.nr - 1);
	if (atomic_load(&handing_over) && strcmp(args.v[0], "list") &&
	    strcmp(args.v[0], "metrics")) {
		ctl_line(&o, 'e',
			 "error: this proxy is handing over to a new one; run the command again "
			 "in a moment");
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

int control_restore(const char *state_dir, struct err *e)
{
	struct sbuf sb = SBUF_INIT;

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
	return 0;
}

bool control_wait_restored(uint64_t max_ms)
{
	uint64_t end = now_ms() + max_ms;

	while (!atomic_load(&restored)) {
		if (max_ms && now_ms() >= end) {
			return false;
		}
		sleep_ms(10);
	}
	return true;
}

bool control_proxy_answers(const char *socket_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool yes = false;
	int fd;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		return false;
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		yes = connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
	}
	return yes;
}

int control_listen(const char *socket_path, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX}, tmp = {.sun_family = AF_UNIX};
	pthread_t th;
	int fd, n;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		return err_set(e, "control socket path '%s' is too long", socket_path);
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld", socket_path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp.sun_path)) {
		return err_set(e, "control socket path '%s' is too long", socket_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return err_set(e, "socket: %s", strerror(errno));
	}
	/*
	 * Bound under a name of its own, then renamed over the path: a client
	 * finds either the old socket or the new one there, never no socket.
	 */
	unlink(tmp.sun_path);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0 || chmod(tmp.sun_path, 0600) < 0 ||
	    listen(fd, 64) < 0 || rename(tmp.sun_path, socket_path) < 0) {
		err_set(e, "cannot listen on '%s': %s", socket_path, strerror(errno));
		unlink(tmp.sun_path);
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

int control_start(const char *socket_path, const char *state_dir, struct err *e)
{
	if (control_restore(state_dir, e) < 0) {
		return -1;
	}
	return control_listen(socket_path, e);
}

bool control_handed_over(uint64_t *drain_ms)
{
	if (!atomic_load(&handed_over)) {
		return false;
	}
	*drain_ms = atomic_load(&handed_drain_ms);
	return true;
}
