/* apidata — see apidata.h. */
#include "daemon/apidata.h"

#include <stdlib.h>

#include "daemon/apictx.h"
#include "daemon/datastore.h"
#include "daemon/dsbackup.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/strvec.h"

static const char *const kinds[] = {"postgres", "redis"};

/* One service's entry, or NULL with e set. */
static json_t *one(struct store *s, const char *kind, const char *name, struct err *e)
{
	struct datastore d = {0};
	struct strvec apps = STRVEC_INIT;
	json_t *o = NULL, *links;
	char *snap = NULL;
	long long t;
	int r;

	if ((r = datastore_get(s, kind, name, &d, e)) <= 0 ||
	    datastore_links(s, kind, name, &apps, e) < 0 ||
	    datastore_backup_last(s, kind, name, &t, &snap, e) < 0) {
		if (r == 0) {
			err_set(e, "%s service '%s' went while it was read", kind, name);
		}
		goto out;
	}
	links = json_array();
	for (size_t i = 0; i < apps.nr; i++) {
		/* a link of an app destroyed since is no link (info and destroy drop it) */
		if (store_app_exists(s, apps.v[i])) {
			json_array_append_new(links, json_string(apps.v[i]));
		}
	}
	o = json_pack("{s:s, s:s, s:s, s:o}", "kind", kind, "name", name, "image", d.image, "links",
		      links);
	if (snap) {
		char when[32];

		dsbackup_iso_time(t, when, sizeof(when));
		json_object_set_new(
		    o, "last_backup",
		    json_pack("{s:s, s:s, s:b}", "time", when, "snapshot", snap, "verified", 1));
	} else {
		json_object_set_new(o, "last_backup", json_null());
	}
out:
	datastore_release(&d);
	strvec_clear(&apps);
	free(snap);
	return o;
}

json_t *apidata_datastores_json(struct store *s, struct err *e)
{
	json_t *arr = json_array();

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct strvec names = STRVEC_INIT;
		int r = datastore_list(s, kinds[k], &names, e);

		for (size_t i = 0; r == 0 && i < names.nr; i++) {
			json_t *o = one(s, kinds[k], names.v[i], e);

			if (!o) {
				r = -1;
			} else {
				json_array_append_new(arr, o);
			}
		}
		strvec_clear(&names);
		if (r < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return json_pack("{s:o}", "datastores", arr);
}

void apidata_h_datastores(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	json_t *j;

	if (apictx_open_setup(&c, req, resp, data) < 0 ||
	    apictx_auth_admin(&c, req, resp, &u, 0) <= 0) {
		goto out;
	}
	j = apidata_datastores_json(&c.store, &c.e);
	if (!j) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		goto out;
	}
	http_reply_json(resp, 200, j);
out:
	store_user_release(&u);
	apictx_close(&c);
}
