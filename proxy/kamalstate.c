/* kamalstate — kamal-proxy's saved routes into berth-proxy's state (proxy/kamalstate.h). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "proxy/control.h"
#include "proxy/kamalstate.h"
#include "lib/banned.h"

#define NS_PER_MS 1000000

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : NULL;
}

/* A Go time.Duration (nanoseconds) as milliseconds; 0 when absent or not positive. */
static json_int_t ms(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		return 0;
	}
	return json_integer_value(v) / NS_PER_MS ? json_integer_value(v) / NS_PER_MS : 1;
}

/* The strings of an array, checked with check (which may be NULL); false at the first bad one. */
static bool strings(json_t *arr, json_t *out, int (*check)(const char *, struct err *),
		    struct err *e)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v)) {
			continue;
		}
		if (check && check(json_string_value(v), e) < 0) {
			return false;
		}
		json_array_append_new(out, json_string(json_string_value(v)));
	}
	return true;
}

static int check_target(const char *addr, struct err *e)
{
	return control_check_target("target", addr, e);
}

static int check_header(const char *name, struct err *e)
{
	return control_check_header_name("header", name, e);
}

/* One service, or NULL with e set (the caller notes it and goes on). */
static json_t *service(json_t *k, const char *name, struct strvec *notes, struct err *e)
{
	json_t *o = json_object_get(k, "options"), *t = json_object_get(k, "target_options");
	json_t *hc = json_object_get(t, "health_check_config");
	json_t *j = json_object(), *hosts = json_array(), *targets = json_array();
	json_t *readers = json_array(), *prefixes, *v, *pause;
	const char *p;

	if (control_check_service_name(name, e) < 0) {
		goto bad;
	}
	json_object_set_new(j, "name", json_string(name));
	/* Older kamal-proxy versions kept hosts and the target at the top. */
	if (!strings(json_object_get(o, "hosts") ? json_object_get(o, "hosts")
						 : json_object_get(k, "hosts"),
		     hosts, control_check_host, e)) {
		goto bad;
	}
	json_object_set(j, "hosts", hosts);
	prefixes = json_object_get(o, "path_prefixes") ? json_object_get(o, "path_prefixes")
						       : json_object_get(k, "path_prefixes");
	{
		/* every prefix (kamal-proxy routes all of them), normalized as deploy does */
		json_t *norms = json_array();
		size_t i;

		json_array_foreach(prefixes, i, v)
		{
			char *norm = NULL;

			if (!json_is_string(v)) {
				continue;
			}
			if (control_check_path_prefix(json_string_value(v), &norm, e) < 0) {
				json_decref(norms);
				goto bad;
			}
			json_array_append_new(norms, json_string(norm));
			free(norm);
		}
		if (json_array_size(norms)) {
			json_object_set_new(j, "path_prefix", json_copy(json_array_get(norms, 0)));
			json_object_set_new(j, "path_prefixes", norms);
		} else {
			json_decref(norms);
		}
	}
	if (!strings(json_object_get(k, "active_targets"), targets, check_target, e)) {
		goto bad;
	}
	if (!json_array_size(targets) && (p = str(k, "active_target"))) {
		if (check_target(p, e) < 0) {
			goto bad;
		}
		json_array_append_new(targets, json_string(p));
	}
	json_object_set(j, "targets", targets);
	if (!strings(json_object_get(k, "active_readers"), readers, check_target, e)) {
		goto bad;
	}
	json_object_set(j, "read_targets", readers);
	if (json_array_size(json_object_get(k, "rollout_targets")) || str(k, "rollout_target")) {
		strvec_pushf(notes,
			     "service '%s': its rollout in progress is dropped; the active targets "
			     "serve",
			     name);
	}
	if ((p = str(hc, "path"))) {
		if (control_check_health_path(p, e) < 0) {
			goto bad;
		}
		json_object_set_new(j, "health_check_path", json_string(p));
	}
	if ((p = str(hc, "host"))) {
		if (control_check_health_host(p, e) < 0) {
			goto bad;
		}
		json_object_set_new(j, "health_check_host", json_string(p));
	}
	v = json_object_get(hc, "port");
	if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 65535) {
		json_object_set_new(j, "health_check_port", json_integer(json_integer_value(v)));
	}
	if (ms(hc, "interval")) {
		json_object_set_new(j, "health_check_interval_ms",
				    json_integer(ms(hc, "interval")));
	}
	if (ms(hc, "timeout")) {
		json_object_set_new(j, "health_check_timeout_ms", json_integer(ms(hc, "timeout")));
	}
	if (ms(t, "response_timeout")) {
		json_object_set_new(j, "target_timeout_ms",
				    json_integer(ms(t, "response_timeout")));
	}
	if (ms(o, "writer_affinity_timeout")) {
		json_object_set_new(j, "writer_affinity_timeout_ms",
				    json_integer(ms(o, "writer_affinity_timeout")));
	}
#define COPY_BOOL(from, key, to)                                                                   \
	json_object_set_new(j, to, json_boolean(json_is_true(json_object_get(from, key))))
	COPY_BOOL(t, "buffer_requests", "buffer_requests");
	COPY_BOOL(t, "buffer_responses", "buffer_responses");
	COPY_BOOL(t, "forward_headers", "forward_headers");
	COPY_BOOL(t, "scope_cookie_paths", "scope_cookie_paths");
	COPY_BOOL(o, "strip_prefix", "strip_path_prefix");
	COPY_BOOL(o, "read_targets_accept_websockets", "read_target_websockets");
#undef COPY_BOOL
#define COPY_SIZE(key, to)                                                                         \
	v = json_object_get(t, key);                                                               \
	if (json_is_integer(v) && json_integer_value(v) > 0) {                                     \
		json_object_set_new(j, to, json_integer(json_integer_value(v)));                   \
	}
	COPY_SIZE("max_memory_buffer_size", "buffer_memory");
	COPY_SIZE("max_request_body_size", "max_request_body");
	COPY_SIZE("max_response_body_size", "max_response_body");
#undef COPY_SIZE
	v = json_array();
	if (!strings(json_object_get(t, "log_request_headers"), v, check_header, e)) {
		json_decref(v);
		goto bad;
	}
	json_object_set_new(j, "log_request_headers", v);
	v = json_array();
	if (!strings(json_object_get(t, "log_response_headers"), v, check_header, e)) {
		json_decref(v);
		goto bad;
	}
	json_object_set_new(j, "log_response_headers", v);
	v = json_array();
	if (!strings(json_object_get(o, "exclude_metrics_paths"), v, NULL, e)) {
		json_decref(v);
		goto bad;
	}
	json_object_set_new(j, "exclude_metrics_paths", v);
	if ((p = str(o, "canonical_host"))) {
		json_object_set_new(j, "canonical_host", json_string(p));
	}
	if ((p = str(o, "client_ip_header"))) {
		if (check_header(p, e) < 0) {
			goto bad;
		}
		json_object_set_new(j, "client_ip_header", json_string(p));
	}
	if (json_is_true(json_object_get(o, "tls_enabled"))) {
		json_object_set_new(j, "tls",
				    json_pack("{s:b, s:I}", "redirect",
					      json_is_true(json_object_get(o, "tls_redirect")),
					      "hsts_max_age", (json_int_t)0));
		if (str(o, "tls_certificate_path")) {
			strvec_pushf(notes,
				     "service '%s': its certificate files stay in kamal-proxy's "
				     "container; berth-proxy obtains one with ACME until a deploy "
				     "sends them",
				     name);
		}
		if (str(o, "tls_on_demand_url")) {
			strvec_pushf(
			    notes,
			    "service '%s': on-demand TLS is not carried over: only its hosts "
			    "get certificates",
			    name);
		}
	}
	if (str(o, "error_page_path")) {
		strvec_pushf(notes, "service '%s': its error pages stay in kamal-proxy's container",
			     name);
	}
	pause = json_object_get(k, "pause_controller");
	v = json_object_get(pause, "state");
	if (json_is_integer(v) && json_integer_value(v) == 1) {
		json_object_set_new(j, "state", json_string("paused"));
	} else if (json_is_integer(v) && json_integer_value(v) == 2) {
		json_object_set_new(j, "state", json_string("stopped"));
		if ((p = str(pause, "stop_message"))) {
			json_object_set_new(j, "stop_message", json_string(p));
		}
	} else {
		json_object_set_new(j, "state", json_string("running"));
	}
	json_decref(hosts);
	json_decref(targets);
	json_decref(readers);
	return j;
bad:
	json_decref(hosts);
	json_decref(targets);
	json_decref(readers);
	json_decref(j);
	return NULL;
}

int kamalstate_convert(const char *text, size_t len, struct sbuf *out, struct strvec *notes,
		       struct err *e)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	json_t *services, *k;
	char *dump = NULL;
	size_t i;
	int n = 0;

	if (!root) {
		return err_set(e, "not kamal-proxy's state: line %d: %s", je.line, je.text);
	}
	if (!json_is_array(root)) {
		json_decref(root);
		return err_set(e, "not kamal-proxy's state: expected a list of services");
	}
	services = json_array();
	json_array_foreach(root, i, k)
	{
		const char *name = str(k, "name");
		struct err se = ERR_INIT;
		json_t *s;

		if (!json_is_object(k) || !name) {
			strvec_pushf(notes, "service %zu: no name; left out", i + 1);
			continue;
		}
		s = service(k, name, notes, &se);
		if (!s) {
			strvec_pushf(notes, "service '%.64s': left out: %s", name, err_str(&se));
			err_release(&se);
			continue;
		}
		json_array_append_new(services, s);
		n++;
	}
	services = json_pack("{s:o}", "services", services);
	dump = services ? json_dumps(services, JSON_INDENT(2)) : NULL;
	json_decref(services);
	json_decref(root);
	if (!dump) {
		return err_set(e, "out of memory");
	}
	sbuf_addstr(out, dump);
	sbuf_addch(out, '\n');
	free(dump);
	return n;
}
