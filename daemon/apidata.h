/*
 * apidata — the JSON API's view of berthd's datastores (postgres:*,
 * redis:*; daemon/datastore.h), for admins:
 *
 *	GET /api/v1/datastores	200 {"datastores": [{"kind", "name", "image",
 *				"links": [APP...], "last_backup": {"time",
 *				"snapshot", "verified"} or null}]}
 *
 * by kind, then name. links are the apps linked that still exist;
 * last_backup is the last backup that verified (KIND:backup,
 * daemon/dsbackup.h), as the store keeps it: nothing runs restic to answer.
 * A service's password, and its backups', are never in the answer. Others
 * than admins get 403, an app token too (daemon/apictx.h).
 */
#ifndef APIDATA_H
#define APIDATA_H

#include <jansson.h>

#include "daemon/http.h"
#include "daemon/store.h"
#include "lib/err.h"

void apidata_h_datastores(const struct http_request *req, struct http_response *resp, void *data);

/* The answer's document (the panel shows the same); NULL with e set. */
json_t *apidata_datastores_json(struct store *s, struct err *e);

#endif
