/* kamal-proxy's saved routes into berth-proxy's state (proxy/kamalstate.h). */
#include "proxy/kamalstate.h"

#include <jansson.h>
#include <string.h>

#include "unit.h"

/* Converts text; the services as JSON (NULL on an error), the notes joined with '|'. */
static json_t *convert(const char *text, int *n, struct sbuf *notes_out)
{
	struct sbuf out = SBUF_INIT;
	struct strvec notes = STRVEC_INIT;
	struct err e = ERR_INIT;
	json_t *j = NULL;
	size_t i;

	*n = kamalstate_convert(text, strlen(text), &out, &notes, &e);
	if (*n >= 0) {
		j = json_loadb(out.buf, out.len, 0, NULL);
	} else {
		sbuf_addstr(notes_out, err_str(&e));
	}
	for (i = 0; i < notes.nr; i++) {
		sbuf_addf(notes_out, "%s%s", notes_out->len ? "|" : "", notes.v[i]);
	}
	sbuf_release(&out);
	strvec_clear(&notes);
	err_release(&e);
	return j;
}

static void test_service(void)
{
	struct sbuf notes = SBUF_INIT;
	json_t *j, *s;
	int n;

	j = convert("[{\"name\":\"shop-web\",\"options\":{\"hosts\":[\"shop.test\"],"
		    "\"path_prefixes\":[\"/app\",\"/v2\"],\"tls_enabled\":true,"
		    "\"tls_redirect\":false,\"strip_prefix\":true,"
		    "\"writer_affinity_timeout\":3000000000},\"target_options\":{"
		    "\"health_check_config\":{\"path\":\"/up\",\"port\":3000,"
		    "\"interval\":1000000000,\"timeout\":5000000000,\"host\":\"\"},"
		    "\"response_timeout\":30000000000,\"buffer_requests\":true,"
		    "\"max_request_body_size\":1024,\"log_request_headers\":[\"X-A\"],"
		    "\"forward_headers\":true},\"active_targets\":[\"shop-web-1:80\"],"
		    "\"rollout_targets\":[\"shop-web-2:80\"],"
		    "\"pause_controller\":{\"state\":2,\"stop_message\":\"later\"}}]",
		    &n, &notes);
	CHECK_INT(n, 1);
	s = json_array_get(json_object_get(j, "services"), 0);
	CHECK_STR(json_string_value(json_object_get(s, "name")), "shop-web");
	CHECK_STR(json_string_value(json_array_get(json_object_get(s, "hosts"), 0)), "shop.test");
	/* every prefix is carried over; path_prefix is the first, for an older berth-proxy */
	CHECK_STR(json_string_value(json_object_get(s, "path_prefix")), "/app");
	CHECK_INT(json_array_size(json_object_get(s, "path_prefixes")), 2);
	CHECK_STR(json_string_value(json_array_get(json_object_get(s, "path_prefixes"), 0)),
		  "/app");
	CHECK_STR(json_string_value(json_array_get(json_object_get(s, "path_prefixes"), 1)), "/v2");
	CHECK_STR(json_string_value(json_array_get(json_object_get(s, "targets"), 0)),
		  "shop-web-1:80");
	CHECK_STR(json_string_value(json_object_get(s, "health_check_path")), "/up");
	CHECK_INT(json_integer_value(json_object_get(s, "health_check_port")), 3000);
	CHECK_INT(json_integer_value(json_object_get(s, "health_check_interval_ms")), 1000);
	CHECK_INT(json_integer_value(json_object_get(s, "health_check_timeout_ms")), 5000);
	CHECK_INT(json_integer_value(json_object_get(s, "target_timeout_ms")), 30000);
	CHECK_INT(json_integer_value(json_object_get(s, "max_request_body")), 1024);
	CHECK_INT(json_integer_value(json_object_get(s, "writer_affinity_timeout_ms")), 3000);
	CHECK(json_is_true(json_object_get(s, "buffer_requests")));
	CHECK(json_is_true(json_object_get(s, "strip_path_prefix")));
	CHECK(json_is_false(json_object_get(json_object_get(s, "tls"), "redirect")));
	CHECK_STR(json_string_value(json_object_get(s, "state")), "stopped");
	CHECK_STR(json_string_value(json_object_get(s, "stop_message")), "later");
	CHECK_STR(notes.buf, "service 'shop-web': its rollout in progress is dropped; the "
			     "active targets serve");
	json_decref(j);
	sbuf_release(&notes);
}

/* Older kamal-proxy versions kept hosts and the one target at the top. */
static void test_legacy(void)
{
	struct sbuf notes = SBUF_INIT;
	json_t *j, *s;
	int n;

	j = convert("[{\"name\":\"old\",\"active_target\":\"web-1:80\",\"hosts\":[\"a.test\"]}]",
		    &n, &notes);
	CHECK_INT(n, 1);
	s = json_array_get(json_object_get(j, "services"), 0);
	CHECK_STR(json_string_value(json_array_get(json_object_get(s, "targets"), 0)), "web-1:80");
	CHECK_STR(json_string_value(json_array_get(json_object_get(s, "hosts"), 0)), "a.test");
	CHECK_STR(json_string_value(json_object_get(s, "state")), "running");
	json_decref(j);
	sbuf_release(&notes);
}

/* A bad service is left out with its reason; the others are carried. */
static void test_bad_input(void)
{
	struct sbuf notes = SBUF_INIT;
	json_t *j;
	int n;

	j = convert("[{\"name\":\"ok\",\"active_targets\":[\"a:80\"]},"
		    "{\"name\":\"bad\",\"active_targets\":[\"a:80\\r\\nX: y\"]},{\"nameless\":1}]",
		    &n, &notes);
	CHECK_INT(n, 1);
	CHECK(strstr(notes.buf, "service 'bad': left out: ") != NULL);
	CHECK(strstr(notes.buf, "service 3: no name; left out") != NULL);
	json_decref(j);
	sbuf_reset(&notes);
	CHECK(convert("{\"services\":[]}", &n, &notes) == NULL);
	CHECK_INT(n, -1);
	CHECK_STR(notes.buf, "not kamal-proxy's state: expected a list of services");
	sbuf_reset(&notes);
	CHECK(convert("", &n, &notes) == NULL);
	CHECK(strncmp(notes.buf, "not kamal-proxy's state: ", 25) == 0);
	sbuf_release(&notes);
}

int main(void)
{
	UNIT_RUN(test_service);
	UNIT_RUN(test_legacy);
	UNIT_RUN(test_bad_input);
	return unit_done();
}
