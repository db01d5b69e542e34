/*
 * panel — berthd's web panel: HTML pages rendered on the server from the
 * store, and their assets, web/panel.css, web/panel.js and web/favicon.svg,
 * embedded into berthd at build time (scripts/gen-scripts, GEN_KEEP_HEADER=1).
 *
 *	GET /login		the login form (a session already: 303 to /)
 *	GET /			the dashboard: the apps the user may read
 *	GET /apps/NAME		an app: its versions, env var names, domains, the
 *				deploy form and the job log (no change control at
 *				all for a viewer); 404 when it does not exist or the
 *				user may not read it
 *	GET /settings		two-factor login, password, API tokens, and the
 *				users for an admin
 *	GET /assets/NAME	panel.css, panel.js, favicon.svg
 *
 * The pages only read. Every change is a fetch of panel.js to the JSON
 * API (daemon/api.h) with the session's CSRF token, which each page
 * carries in <meta name="csrf-token">; the ids the script and the browser
 * tests rely on are the panel contract's. A config value is never read
 * for a page: the env section lists names only.
 *
 * Pages need the session cookie: without one (an API token is not a page
 * session) they answer 303 Location: /login. Until berthd is set up they
 * answer 403 as every route does (APICTX_NOT_SET_UP); "/" then keeps
 * doing so, and any other unknown path answers 404 {"error"}.
 *
 * Every page answers with Content-Security-Policy: default-src 'self';
 * frame-ancestors 'none' (the pages have no inline script or style),
 * X-Content-Type-Options: nosniff, Referrer-Policy: same-origin and
 * Cache-Control: no-store. Assets are served with their type and
 * Cache-Control: public, max-age=31536000, immutable: pages link them as
 * /assets/NAME?v=HASH, HASH changing with their text. The handlers' data
 * is the struct api. Internal to daemon/.
 */
#ifndef PANEL_H
#define PANEL_H

#include <stddef.h>

#include "daemon/http.h"

/* Route handlers (api_routes[]); panel_h_root is the catch-all GET "/". */
void panel_h_login(const struct http_request *req, struct http_response *resp, void *data);
void panel_h_root(const struct http_request *req, struct http_response *resp, void *data);
void panel_h_app(const struct http_request *req, struct http_response *resp, void *data);
void panel_h_settings(const struct http_request *req, struct http_response *resp, void *data);
void panel_h_assets(const struct http_request *req, struct http_response *resp, void *data);

/*
 * The embedded asset name ("panel.css"): its text, with *type set to its
 * Content-Type; NULL when there is none of that name.
 */
const char *panel_asset(const char *name, const char **type);

/* The version of an asset's text for its ?v= query: 16 hex digits (FNV-1a, 64 bits). */
void panel_asset_version(const char *text, char out[17]);

#endif
