/* apioneclick — see apioneclick.h. */
#include "daemon/apioneclick.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/api.h"
#include "daemon/apiapps.h"
#include "daemon/apictx.h"
#include "daemon/ocinstall.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

void apioneclick_req_release(struct apioneclick_req *r)
{
	free(r->values);
	memset(r, 0, sizeof(*r));
}

int apioneclick_parse(json_t *body, struct apioneclick_req *r, struct err *e)
{
	json_t *tpl = json_object_get(body, "template"), *yaml = json_object_get(body, "yaml");
	json_t *vals = json_object_get(body, "values"), *v;
	const char *key;
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(body)) {
		return err_set(e, "expected a JSON object as the body");
	}
	if (!!tpl == !!yaml) {
		return err_set(e, "expected one of template (a template's name, see oneclick:list) "
				  "and yaml (a template's text)");
	}
	if (tpl && !json_is_string(tpl)) {
		return err_set(e, "template: expected a template's name (a string)");
	}
	if (yaml && !json_is_string(yaml)) {
		return err_set(e, "yaml: expected a template's text (a string)");
	}
	if (yaml && json_string_length(yaml) > ONECLICK_MAX_SIZE) {
		return err_set(e, "yaml: the template is larger than %u bytes", ONECLICK_MAX_SIZE);
	}
	if (!json_is_object(vals)) {
		return err_set(e, "values: expected an object {\"$$cap_appname\": NAME, ...}");
	}
	if (json_object_size(vals) > ONECLICK_MAX_VARS) {
		return err_set(e, "values: more than %d variables", ONECLICK_MAX_VARS);
	}
	r->values = xcalloc(json_object_size(vals) + 1, sizeof(*r->values));
	json_object_foreach(vals, key, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			err_set(e, "values.%.80s: expected a string", key);
			apioneclick_req_release(r);
			return -1;
		}
		r->values[i].id = key;
		r->values[i].value = json_string_value(v);
		i++;
	}
	r->nvalues = i;
	r->template = tpl ? json_string_value(tpl) : NULL;
	r->yaml = yaml ? json_string_value(yaml) : NULL;
	return 0;
}

/* The job's command: oneclick:deploy with the template and every value, as argv words. */
static json_t *job_cmds(const struct apioneclick_req *r)
{
	json_t *cmd = json_array();

	json_array_append_new(cmd, json_string("oneclick:deploy"));
	if (r->yaml) {
		json_array_append_new(cmd, json_string("--yaml"));
		json_array_append_new(cmd, json_string(r->yaml));
	}
	json_array_append_new(cmd, json_string(r->yaml ? "-" : r->template));
	for (size_t i = 0; i < r->nvalues; i++) {
		struct sbuf sb = SBUF_INIT;

		const char *id = r->values[i].id;

		/* the form oneclick:deploy's arguments take, and the job's check of its app reads
		 */
		if (!strncmp(id, "$$cap_", 6)) {
			id += 6;
		}
		sbuf_addf(&sb, "%s=%s", id, r->values[i].value);
		json_array_append_new(cmd, json_stringn(sb.buf, sb.len));
		memset(sb.buf, 0, sb.len);
		sbuf_release(&sb);
	}
	return json_pack("[o]", cmd);
}

void apioneclick_h_deploy(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u;
	struct apioneclick_req r = {0};
	struct ocinstall in = OCINSTALL_INIT;
	struct err e = ERR_INIT;
	struct sbuf what = SBUF_INIT;
	char id[APIAPPS_JOB_ID_HEX + 1];
	const char *text;
	json_t *b = NULL, *cmds = NULL, *apps;

	if (apictx_open_setup(&c, req, resp, data) < 0) {
		return;
	}
	if (apictx_auth(&c, req, resp, &u, APICTX_CHANGE | APICTX_NO_APP_TOKEN) <= 0) {
		goto out_close;
	}
	if (strcmp(u.role, "admin")) {
		apictx_fail(resp, 403, "permission denied: only an admin deploys one-click apps");
		goto out;
	}
	if (!(b = apictx_json_body(req, resp))) {
		goto out;
	}
	if (apioneclick_parse(b, &r, &e) < 0) {
		apictx_fail(resp, 400, err_str(&e));
		goto out;
	}
	text = r.yaml ? r.yaml : oneclick_builtin(r.template);
	if (!text) {
		apictx_fail(resp, 400,
			    "template: no such template (see GET /api/v1/oneclick/templates)");
		goto out;
	}
	if (ocinstall_prepare(&in, &c.store, r.yaml ? "yaml" : r.template, text, strlen(text),
			      r.values, r.nvalues, &e) < 0) {
		apictx_fail(resp, 400, err_str(&e));
		goto out;
	}
	cmds = job_cmds(&r);
	if (apiapps_job_start(c.api, in.install, "oneclick", cmds, -1, id, &c.e) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot start the job");
		goto out;
	}
	sbuf_addf(&what, "%s job %s", r.yaml ? "(yaml)" : r.template, id);
	apictx_event(&c, u.name, in.install, "oneclick:deploy", what.buf);
	apps = json_array();
	for (size_t i = 0; i < in.p.napps; i++) {
		json_array_append_new(apps, json_string(in.p.apps[i].name));
	}
	http_reply_json(resp, 202, json_pack("{ss so}", "job", id, "apps", apps));
out:
	json_decref(cmds); /* its strings: copies of the values, freed with it */
	json_decref(b);
	apioneclick_req_release(&r);
	ocinstall_release(&in);
	sbuf_release(&what);
	err_release(&e);
	store_user_release(&u);
out_close:
	apictx_close(&c);
}
