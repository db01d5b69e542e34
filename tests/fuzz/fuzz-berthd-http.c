/*
 * berthd's HTTP requests come from anyone who reaches the panel: any bytes
 * must parse or be refused with a status, a head is never longer than its
 * input, and what follows (routing, cookies, forms, a JSON body) takes any
 * bytes; a JSON body read as POST /api/v1/oneclick reads it keeps its
 * promises (one of template and yaml, every value a string). Input: a
 * request head and what follows it (the body, a form).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api.h"
#include "daemon/apioneclick.h"
#include "daemon/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	struct http_request req;
	int n, st;

	memcpy(buf, data, size);
	buf[size] = 0;
	n = http_request_parse(buf, size, &req);
	if (n > (int)size || (n < 0 && (-n < 400 || -n > 599))) {
		__builtin_trap();
	}
	if (n > 0) {
		const struct http_route *r =
		    http_route_find(api_routes, api_nroutes, req.method, req.path, &st);
		char *v;
		json_t *j;

		if (!r && st != 404 && st != 405) {
			__builtin_trap();
		}
		if (r) {
			(void)http_body_check(r, &req);
		}
		free(http_cookie_get(&req, "berth_session"));
		free(http_header_get(&req, "x-forwarded-for"));
		v = http_form_get(req.query, strlen(req.query), "token");
		if (v && strlen(v) > strlen(req.query)) {
			__builtin_trap();
		}
		free(v);
		req.body = buf + n;
		req.body_len = size - (size_t)n;
		free(http_form_get(req.body, req.body_len, "password"));
		j = http_body_json(&req);
		if (j && !json_is_object(j)) {
			__builtin_trap();
		}
		if (j) {
			struct apioneclick_req oc;
			struct err e = ERR_INIT;

			if (apioneclick_parse(j, &oc, &e) == 0) {
				if (!oc.template == !oc.yaml || oc.nvalues > ONECLICK_MAX_VARS) {
					__builtin_trap();
				}
				for (size_t i = 0; i < oc.nvalues; i++) {
					if (!oc.values[i].id || !oc.values[i].value) {
						__builtin_trap();
					}
				}
			} else if (!err_isset(&e) || oc.values || oc.nvalues) {
				__builtin_trap();
			}
			apioneclick_req_release(&oc);
			err_release(&e);
		}
		json_decref(j);
		(void)http_is_type(&req, "application/json");
	}
	http_request_release(&req);
	free(buf);
	return 0;
}
