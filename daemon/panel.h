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
 *	GET /oneclick		one-click apps, for admins (daemon/paneloneclick.h)
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

/*
 * For the panel's pages in other files (daemon/paneloneclick.c), the same
 * frame as the pages here.
 *
 * panel_page_user: the page's user, from the session cookie only: 1 with u
 * filled and csrf the session's CSRF token; 0 answered (303 to /login); -1
 * answered (500).
 * panel_page_begin: the head and the top bar (u NULL: none); main_id names
 * the page's <main>, the skip link's target. panel_page_end closes the
 * page, panel_page_reply answers it with the pages' headers.
 * panel_message_page: a page that only says msg (u NULL: no top bar).
 * panel_server_error: 500, c->e logged, never shown.
 */
struct apictx;
struct sbuf;
struct store_user;
int panel_page_user(struct apictx *c, const struct http_request *req, struct http_response *resp,
		    struct store_user *u, struct sbuf *csrf);
void panel_page_begin(struct sbuf *sb, const char *title, const char *csrf, const char *main_id,
		      const struct store_user *u);
void panel_page_end(struct sbuf *sb);
void panel_page_reply(struct http_response *resp, int status, struct sbuf *sb);
void panel_message_page(struct http_response *resp, int status, const char *title, const char *msg,
			const struct store_user *u, const char *csrf);
void panel_server_error(struct apictx *c, struct http_response *resp);

#endif
