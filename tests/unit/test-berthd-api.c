/*
 * Tests for berthd's routes (daemon/api.c) over a real socket, with a store
 * in a temporary directory: nothing but /up and /setup before the first
 * admin, the set-up link once, logins, roles, and CapRover's envelope.
 * tests/e2e/t0315-berthd-api.sh runs them through berth-proxy and TLS.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/apicharts.h"
#include "daemon/apiapps.h"
#include "daemon/apiserver.h"
#include "daemon/capdeploy.h"
#include "daemon/datastore.h"
#include "daemon/loginguard.h"
#include "daemon/store.h"
#include "daemon/totp.h"
#include "daemon/users.h"
#include "lib/file.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-api-XXXXXX";
static int port;
static struct api api;
static struct loginguard guard;

struct answer {
	int status;
	struct sbuf head, body;
};

static void answer_release(struct answer *a)
{
	sbuf_release(&a->head);
	sbuf_release(&a->body);
}

/* One request on a new connection (closed after it); the answer's status, head and body. */
static void req(const char *method, const char *path, const char *headers, const char *body,
		struct answer *a)
{
	struct sockaddr_in sa = {0};
	struct sbuf s = SBUF_INIT, in = SBUF_INIT;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *end;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	sbuf_addf(&s, "%s %s HTTP/1.1\r\nHost: berth.example.test\r\nConnection: close\r\n%s",
		  method, path, headers ? headers : "");
	if (body) {
		sbuf_addf(&s, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	} else {
		sbuf_addstr(&s, "\r\n");
	}
	CHECK(write(fd, s.buf, s.len) == (ssize_t)s.len);
	while (sbuf_read_once(&in, fd, 4096) > 0) {
	}
	close(fd);
	sbuf_init(&a->head, 0);
	sbuf_init(&a->body, 0);
	a->status = in.len > 12 ? atoi(in.buf + 9) : 0;
	end = strstr(in.buf, "\r\n\r\n");
	if (end) {
		sbuf_add(&a->head, in.buf, (size_t)(end - in.buf) + 2);
		sbuf_addstr(&a->body, end + 4);
	}
	sbuf_release(&s);
	sbuf_release(&in);
}

/* The session cookie a Set-Cookie of a's head carries, as a "Cookie: ...\r\n" line. */
static void cookie_of(const struct answer *a, struct sbuf *out)
{
	const char *c = strstr(a->head.buf, "Set-Cookie: berth_session=");
	const char *semi = c ? strchr(c, ';') : NULL;

	sbuf_reset(out);
	if (semi) {
		sbuf_addf(out, "Cookie: %.*s\r\n", (int)(semi - c - 12), c + 12);
	}
}

#define JSON   "Content-Type: application/json\r\n"
#define ORIGIN "Origin: https://berth.example.test\r\n"

/* The headers of a change by the session of cookie: JSON, the cookie, its CSRF token, Origin. */
static void change_headers(const struct sbuf *cookie, struct sbuf *out)
{
	struct answer a;
	json_t *j;

	req("GET", "/api/v1/me", cookie->buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	sbuf_reset(out);
	sbuf_addf(out, "%s%sX-CSRF-Token: %s\r\n%s", JSON, cookie->buf,
		  json_string_value(json_object_get(j, "csrf_token")), ORIGIN);
	json_decref(j);
	answer_release(&a);
}

/* Logs name in (with otp unless NULL): the status; cookie gets the session when given. */
static int login(const char *name, const char *otp, struct sbuf *cookie)
{
	struct answer a;
	struct sbuf b = SBUF_INIT;
	int st;

	sbuf_addf(&b, "{\"name\":\"%s\",\"password\":\"correct horse battery\"", name);
	if (otp) {
		sbuf_addf(&b, ",\"otp\":\"%s\"", otp);
	}
	sbuf_addch(&b, '}');
	req("POST", "/api/v1/login", JSON, b.buf, &a);
	st = a.status;
	if (cookie) {
		cookie_of(&a, cookie);
	}
	answer_release(&a);
	sbuf_release(&b);
	return st;
}

/* The login guard starts afresh: one test's failures do not lock out the next. */
static void guard_reset(void)
{
	loginguard_release(&guard);
	loginguard_init(&guard, 64);
}

static const char *token(void)
{
	static char tok[USERS_TOKEN_HEX + 1];
	struct store s = STORE_INIT;
	struct sbuf url = SBUF_INIT;
	struct err e = ERR_INIT;

	CHECK(store_open(&s, dir, &e) == 0);
	CHECK(store_setting_set(&s, "global-domain", "example.test", &e) == 0);
	CHECK(users_setup_link(&s, (long long)time(NULL), &url, &e) == 0);
	snprintf(tok, sizeof(tok), "%s", url.len > USERS_TOKEN_HEX ? strstr(url.buf, "=") + 1 : "");
	store_close(&s);
	sbuf_release(&url);
	err_release(&e);
	return tok;
}

static void test_before_setup(void)
{
	struct answer a;

	req("GET", "/api/v1/apps", NULL, NULL, &a);
	CHECK_INT(a.status, 403);
	CHECK(strstr(a.body.buf, "panel:setup-link") != NULL);
	answer_release(&a);
	req("POST", "/api/v2/login", JSON, "{\"password\":\"xxxxxxxxxxxx\"}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	req("GET", "/anything", NULL, NULL, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	req("GET", "/up", NULL, NULL, &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/setup", NULL, NULL, &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
}

static void test_setup_once(void)
{
	struct answer a;
	struct sbuf b = SBUF_INIT;
	const char *tok = token();

	req("GET", "/setup?token=abc", NULL, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.body.buf, "value=\"abc\"") != NULL);
	answer_release(&a);
	req("GET", "/setup?token=%22%3E%3Cscript%3E", NULL, NULL, &a);
	CHECK(strstr(a.body.buf, "<script>") == NULL);
	answer_release(&a);
	/* bad input burns nothing */
	sbuf_addf(&b, "{\"token\":\"%s\",\"name\":\"admin\",\"password\":\"short\"}", tok);
	req("POST", "/setup", JSON, b.buf, &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	sbuf_reset(&b);
	sbuf_addf(&b,
		  "{\"token\":\"%s\",\"name\":\"Bad Name\",\"password\":\"correct horse battery\"}",
		  tok);
	req("POST", "/setup", JSON, b.buf, &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("POST", "/setup", JSON,
	    "{\"token\":\"00\",\"name\":\"admin\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	/* a form, as the page sends it */
	sbuf_reset(&b);
	sbuf_addf(&b, "token=%s&name=admin&password=correct+horse+battery", tok);
	req("POST", "/setup", "Content-Type: application/x-www-form-urlencoded\r\n", b.buf, &a);
	CHECK_INT(a.status, 303);
	CHECK(strstr(a.head.buf, "Set-Cookie: berth_session=") != NULL);
	CHECK(strstr(a.head.buf, "; HttpOnly; Secure; SameSite=Strict; Path=/") != NULL);
	answer_release(&a);
	/* once */
	sbuf_reset(&b);
	sbuf_addf(&b, "{\"token\":\"%s\",\"name\":\"eve\",\"password\":\"correct horse battery\"}",
		  tok);
	req("POST", "/setup", JSON, b.buf, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	sbuf_release(&b);
}

static void test_logins_and_roles(void)
{
	struct answer a, wrong;
	struct sbuf admin = SBUF_INIT, viewer = SBUF_INIT, h = SBUF_INIT;
	json_t *j;

	req("POST", "/api/v1/login", JSON,
	    "{\"name\":\"admin\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 200);
	cookie_of(&a, &admin);
	answer_release(&a);
	req("POST", "/api/v1/login", JSON,
	    "{\"name\":\"admin\",\"password\":\"correct horse batterx\"}", &wrong);
	CHECK_INT(wrong.status, 401);
	req("POST", "/api/v1/login", JSON,
	    "{\"name\":\"nobody\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 401);
	CHECK_STR(a.body.buf, wrong.body.buf);
	answer_release(&a);
	answer_release(&wrong);
	/* a form cannot log in (no CSRF through another site's form) */
	req("POST", "/api/v1/login", "Content-Type: text/plain\r\n",
	    "{\"name\":\"admin\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 415);
	answer_release(&a);

	{
		struct store s = STORE_INIT;
		CHECK(store_open(&s, dir, NULL) == 0);
		CHECK(store_app_create(&s, "shop", NULL) == 0);
		CHECK(store_app_create(&s, "blog", NULL) == 0);
		store_close(&s);
	}
	change_headers(&admin, &h);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"vic\",\"password\":\"correct horse "
	    "battery\",\"apps\":{\"shop\":\"viewer\"}}",
	    &a);
	CHECK_INT(a.status, 201);
	answer_release(&a);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"vic\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 409);
	answer_release(&a);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"x\",\"password\":\"correct horse "
	    "battery\",\"apps\":{\"nope\":\"viewer\"}}",
	    &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);

	req("GET", "/api/v1/apps", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "apps")), 2);
	json_decref(j);
	answer_release(&a);

	req("POST", "/api/v1/login", JSON,
	    "{\"name\":\"vic\",\"password\":\"correct horse battery\"}", &a);
	cookie_of(&a, &viewer);
	answer_release(&a);
	req("GET", "/api/v1/apps", viewer.buf, NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "apps")), 1);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(json_object_get(j, "apps"), 0), "role")),
		  "viewer");
	json_decref(j);
	answer_release(&a);
	change_headers(&viewer, &h);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"y\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	/* logout ends the session */
	req("POST", "/api/v1/logout", viewer.buf, "", &a);
	CHECK_INT(a.status, 403); /* no CSRF token */
	answer_release(&a);
	req("POST", "/api/v1/logout", h.buf, "", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/api/v1/me", viewer.buf, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	sbuf_release(&admin);
	sbuf_release(&viewer);
	sbuf_release(&h);
}

/* GET /api/v1/datastores (daemon/apidata.h): admins only, never a password. */
static void test_datastores(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, viewer = SBUF_INIT;
	struct store s = STORE_INIT;
	json_t *j, *d;
	char *pw = NULL;

	guard_reset();
	CHECK_INT(login("admin", NULL, &admin), 200);
	CHECK_INT(login("vic", NULL, &viewer), 200);
	req("GET", "/api/v1/datastores", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK_STR(a.body.buf, "{\"datastores\":[]}\n");
	answer_release(&a);

	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(datastore_add(&s, "redis", "cache", "redis:7", "pw-of-cache-0123", NULL) == 0);
	CHECK(datastore_add(&s, "postgres", "db", "postgres:16", "pw-of-db-0123", NULL) == 0);
	CHECK(datastore_link(&s, "postgres", "db", "shop", NULL) == 1);
	CHECK(datastore_link(&s, "postgres", "db", "gone", NULL) == 1);
	CHECK(datastore_backup_password(&s, "postgres", "db", "restic-pw-0123", &pw, NULL) == 1);
	CHECK(datastore_backup_verified(&s, "postgres", "db", 1767236400, "1a2b3c4d", NULL) == 0);
	store_close(&s);
	free(pw);

	req("GET", "/api/v1/datastores", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(!strstr(a.body.buf, "pw-of-") && !strstr(a.body.buf, "restic-pw"));
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "datastores")), 2);
	d = json_array_get(json_object_get(j, "datastores"), 0);
	CHECK_STR(json_string_value(json_object_get(d, "kind")), "postgres");
	CHECK_STR(json_string_value(json_object_get(d, "name")), "db");
	CHECK_STR(json_string_value(json_object_get(d, "image")), "postgres:16");
	/* an app destroyed since is no link */
	CHECK_INT(json_array_size(json_object_get(d, "links")), 1);
	CHECK_STR(json_string_value(json_array_get(json_object_get(d, "links"), 0)), "shop");
	CHECK_STR(json_string_value(json_object_get(json_object_get(d, "last_backup"), "time")),
		  "2026-01-01T03:00:00Z");
	CHECK_STR(json_string_value(json_object_get(json_object_get(d, "last_backup"), "snapshot")),
		  "1a2b3c4d");
	CHECK(json_is_true(json_object_get(json_object_get(d, "last_backup"), "verified")));
	d = json_array_get(json_object_get(j, "datastores"), 1);
	CHECK_STR(json_string_value(json_object_get(d, "kind")), "redis");
	CHECK(json_is_null(json_object_get(d, "last_backup")));
	json_decref(j);
	answer_release(&a);

	/* a viewer, or nobody: refused */
	req("GET", "/api/v1/datastores", viewer.buf, NULL, &a);
	CHECK_INT(a.status, 403);
	CHECK(!strstr(a.body.buf, "cache"));
	answer_release(&a);
	req("GET", "/api/v1/datastores", NULL, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);

	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(datastore_remove(&s, "postgres", "db", NULL) == 0);
	CHECK(datastore_remove(&s, "redis", "cache", NULL) == 0);
	store_close(&s);
	sbuf_release(&admin);
	sbuf_release(&viewer);
}

/* The charts' routes (daemon/apicharts.h): who may read them, and what they answer. */
static void test_charts(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, viewer = SBUF_INIT, path = SBUF_INIT;
	int64_t now = (int64_t)time(NULL);
	struct series_point p[3] = {
	    {now - 7200, 9, 9, 9, 9, 9, 9}, /* older than an hour: not shown */
	    {now - 20, 2.5, 0.5, 0, 20, 12.5, 40},
	    {now - 10, 3, 0, 0.25, 0, NAN, NAN},
	};
	struct err e = ERR_INIT;
	json_t *j;

	req("GET", "/api/v1/apps/shop/metrics", NULL, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	req("GET", "/apps/shop/charts/requests.svg", NULL, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	CHECK_INT(login("admin", NULL, &admin), 200);
	CHECK_INT(login("vic", NULL, &viewer), 200);

	/* before the first sample */
	req("GET", "/api/v1/apps/shop/metrics", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK_STR(a.body.buf, "{\"points\":[]}\n");
	CHECK(strstr(a.head.buf, "Content-Type: application/json"));
	answer_release(&a);
	req("GET", "/apps/shop/charts/requests.svg", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.head.buf, "Content-Type: image/svg+xml\r\n"));
	CHECK(strstr(a.head.buf, "X-Content-Type-Options: nosniff\r\n"));
	CHECK(strstr(a.head.buf, "Cache-Control: no-store\r\n"));
	CHECK(!strncmp(a.body.buf, "<svg ", 5));
	CHECK(strstr(a.body.buf, "<title>shop: requests per second (no traffic recorded yet)"));
	answer_release(&a);

	/* with points: the last hour's, for a user who may read the app */
	CHECK_INT(apicharts_save(dir, "shop", p, 3, &e), 0);
	req("GET", "/api/v1/apps/shop/metrics", viewer.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "points")), 2);
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(j, "points"), 0),
						 "t")) == now - 20);
	CHECK(json_real_value(json_object_get(json_array_get(json_object_get(j, "points"), 0),
					      "errors_5xx")) == 0.5);
	CHECK(json_is_null(
	    json_object_get(json_array_get(json_object_get(j, "points"), 1), "p99_ms")));
	json_decref(j);
	answer_release(&a);
	for (const char *const *w = (const char *const[]){"requests", "latency", "errors", NULL};
	     *w; w++) {
		sbuf_reset(&path);
		sbuf_addf(&path, "/apps/shop/charts/%s.svg", *w);
		req("GET", path.buf, viewer.buf, NULL, &a);
		CHECK_INT(a.status, 200);
		CHECK(strstr(a.body.buf, "<path d=\"M"));
		CHECK(!strstr(a.body.buf, "no traffic recorded yet"));
		CHECK(strstr(a.body.buf, "</svg>"));
		answer_release(&a);
	}

	/* not the viewer's app, no such app, no such chart */
	req("GET", "/api/v1/apps/blog/metrics", viewer.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("GET", "/apps/blog/charts/requests.svg", viewer.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	CHECK(!strstr(a.body.buf, "<svg"));
	answer_release(&a);
	req("GET", "/api/v1/apps/nope/metrics", admin.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("GET", "/apps/shop/charts/cpu.svg", admin.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("GET", "/apps/shop/charts/requests", admin.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);

	/* a file that is not the format: 500, said in the log, not in the answer */
	sbuf_reset(&path);
	apicharts_path(&path, dir, "blog");
	CHECK(file_write_atomic(path.buf, "{\"points\":7}", 12, 0600, &e) == 0);
	req("GET", "/api/v1/apps/blog/metrics", admin.buf, NULL, &a);
	CHECK_INT(a.status, 500);
	CHECK(!strstr(a.body.buf, dir));
	answer_release(&a);
	unlink(path.buf);
	sbuf_reset(&path);
	apicharts_path(&path, dir, "shop");
	unlink(path.buf);
	sbuf_release(&admin);
	sbuf_release(&viewer);
	sbuf_release(&path);
	err_release(&e);
}

static void test_caprover(void)
{
	struct answer a;
	struct sbuf h = SBUF_INIT;
	json_t *j;

	req("POST", "/api/v2/login", JSON "x-namespace: captain\r\n",
	    "{\"password\":\"wrong horse battery\"}", &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 1105);
	json_decref(j);
	answer_release(&a);
	req("POST", "/api/v2/login", JSON "x-namespace: captain\r\n",
	    "{\"password\":\"correct horse battery\"}", &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 100);
	sbuf_addf(&h, "x-captain-auth: %s\r\n",
		  json_string_value(json_object_get(json_object_get(j, "data"), "token")));
	json_decref(j);
	answer_release(&a);
	req("GET", "/api/v2/user/apps/appDefinitions", h.buf, NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 100);
	CHECK_INT(json_array_size(json_object_get(json_object_get(j, "data"), "appDefinitions")),
		  2);
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "data"), "rootDomain")),
		  "example.test");
	{
		/* a build holding the app's lock: CapRover's isAppBuilding */
		json_t *defs = json_object_get(json_object_get(j, "data"), "appDefinitions");
		const char *name =
		    json_string_value(json_object_get(json_array_get(defs, 0), "appName"));
		struct err e = ERR_INIT;
		int lk;

		CHECK(json_is_false(json_object_get(json_array_get(defs, 0), "isAppBuilding")));
		lk = capdeploy_lock(dir, name, &e);
		CHECK(lk >= 0);
		answer_release(&a);
		req("GET", "/api/v2/user/apps/appDefinitions", h.buf, NULL, &a);
		json_decref(j);
		j = json_loads(a.body.buf, 0, NULL);
		defs = json_object_get(json_object_get(j, "data"), "appDefinitions");
		CHECK(json_is_true(json_object_get(json_array_get(defs, 0), "isAppBuilding")));
		CHECK(json_is_false(json_object_get(json_array_get(defs, 1), "isAppBuilding")));
		if (lk >= 0) {
			close(lk);
		}
		err_release(&e);
	}
	json_decref(j);
	answer_release(&a);
	req("GET", "/api/v2/user/system/info", "x-captain-auth: 1234\r\n", NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 1106);
	json_decref(j);
	answer_release(&a);
	req("GET", "/api/v2/user/system/nginxconfig", h.buf, NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 1111);
	json_decref(j);
	answer_release(&a);
	sbuf_release(&h);
}

static void test_csrf(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, other = SBUF_INIT, h = SBUF_INIT, h2 = SBUF_INIT;
	const char *body = "{\"name\":\"cora\",\"password\":\"correct horse battery\"}";

	CHECK_INT(login("admin", NULL, &admin), 200);
	CHECK_INT(login("admin", NULL, &other), 200);
	change_headers(&admin, &h);
	change_headers(&other, &h2);
	/* no token */
	sbuf_reset(&h2);
	sbuf_addf(&h2, "%s%s%s", JSON, admin.buf, ORIGIN);
	req("POST", "/api/v1/users", h2.buf, body, &a);
	CHECK_INT(a.status, 403);
	CHECK(strstr(a.body.buf, "X-CSRF-Token") != NULL);
	answer_release(&a);
	/* a wrong one */
	sbuf_reset(&h2);
	sbuf_addf(&h2, "%s%sX-CSRF-Token: AAAA\r\n%s", JSON, admin.buf, ORIGIN);
	req("POST", "/api/v1/users", h2.buf, body, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	/* the token of another session */
	change_headers(&other, &h2);
	sbuf_reset(&h2);
	{
		struct sbuf tmp = SBUF_INIT;
		change_headers(&other, &tmp);
		/* swap the cookie: other's token with admin's cookie */
		const char *x = strstr(tmp.buf, "X-CSRF-Token:");
		sbuf_addf(&h2, "%s%s%s", JSON, admin.buf, x);
		sbuf_release(&tmp);
	}
	req("POST", "/api/v1/users", h2.buf, body, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	/* the right token from another origin, and with none */
	sbuf_reset(&h2);
	sbuf_add(&h2, h.buf, h.len);
	{
		char *o = strstr(h2.buf, ORIGIN);
		sbuf_setlen(&h2, (size_t)(o - h2.buf));
	}
	req("POST", "/api/v1/users", h2.buf, body, &a);
	CHECK_INT(a.status, 403);
	CHECK(strstr(a.body.buf, "Origin") != NULL);
	answer_release(&a);
	sbuf_addstr(&h2, "Origin: https://berth.example.test.evil.net\r\n");
	req("POST", "/api/v1/users", h2.buf, body, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	/* a Referer of captain.ROOT will do, and the right token */
	sbuf_reset(&h2);
	sbuf_add(&h2, h.buf, h.len);
	sbuf_setlen(&h2, (size_t)(strstr(h2.buf, ORIGIN) - h2.buf));
	sbuf_addstr(&h2, "Referer: https://captain.example.test/users\r\n");
	req("POST", "/api/v1/users", h2.buf, body, &a);
	CHECK_INT(a.status, 201);
	answer_release(&a);
	sbuf_release(&admin);
	sbuf_release(&other);
	sbuf_release(&h);
	sbuf_release(&h2);
}

static void test_fixation(void)
{
	struct answer a;
	struct sbuf first = SBUF_INIT, second = SBUF_INIT, h = SBUF_INIT;

	CHECK_INT(login("admin", NULL, &first), 200);
	/* logging in again with the old cookie: a new id, and the old one ends */
	sbuf_addf(&h, "%s%s", JSON, first.buf);
	req("POST", "/api/v1/login", h.buf,
	    "{\"name\":\"admin\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 200);
	cookie_of(&a, &second);
	answer_release(&a);
	CHECK(second.len > 0);
	CHECK(strcmp(first.buf, second.buf) != 0);
	req("GET", "/api/v1/me", first.buf, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	req("GET", "/api/v1/me", second.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	sbuf_release(&first);
	sbuf_release(&second);
	sbuf_release(&h);
}

static void test_backoff(void)
{
	struct answer a;
	unsigned long runs;
	json_t *j;
	const char *wrong = "{\"name\":\"admin\",\"password\":\"wrong horse battery\"}";

	guard_reset();
	for (int i = 0; i < LOGINGUARD_FREE_FAILS; i++) {
		req("POST", "/api/v1/login", JSON "X-Forwarded-For: 192.0.2.9\r\n", wrong, &a);
		CHECK_INT(a.status, 401);
		answer_release(&a);
	}
	runs = users_hash_runs();
	/* locked: the right password too, without hashing it */
	CHECK_INT(login("admin", NULL, NULL), 429);
	req("POST", "/api/v1/login", JSON "X-Forwarded-For: 192.0.2.9\r\n", wrong, &a);
	CHECK_INT(a.status, 429);
	CHECK(strstr(a.head.buf, "Retry-After: ") != NULL);
	answer_release(&a);
	/* CapRover's login of the first admin too, in its envelope */
	req("POST", "/api/v2/login", JSON, "{\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 429);
	CHECK(strstr(a.head.buf, "Retry-After: ") != NULL);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(strstr(json_string_value(json_object_get(j, "description")), "Too many") != NULL);
	json_decref(j);
	answer_release(&a);
	CHECK_INT(users_hash_runs(), runs);
	/* the address is locked for other users too */
	req("POST", "/api/v1/login", JSON "X-Forwarded-For: 10.0.0.1, 192.0.2.9\r\n",
	    "{\"name\":\"vic\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 429);
	answer_release(&a);
	/* and so is the set-up form's address */
	req("POST", "/setup", JSON "X-Forwarded-For: 192.0.2.9\r\n",
	    "{\"token\":\"00\",\"name\":\"x\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 429);
	answer_release(&a);
	CHECK_INT(users_hash_runs(), runs);
	/* another address, another user: free */
	req("POST", "/api/v1/login", JSON "X-Forwarded-For: 192.0.2.10\r\n",
	    "{\"name\":\"vic\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	guard_reset();
}

/* The code of the user's stored secret at now + dt. */
static void code_of(const char *b32, long long dt, char out[8])
{
	struct sbuf key = SBUF_INIT;

	CHECK(totp_base32_decode(&key, b32, strlen(b32)) == 0);
	snprintf(
	    out, 8, "%06u",
	    (unsigned)totp_at((const unsigned char *)key.buf, key.len, (int64_t)time(NULL) + dt));
	sbuf_release(&key);
}

static void test_totp(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, h = SBUF_INIT, b = SBUF_INIT, secret = SBUF_INIT;
	char code[8], later[8], recovery[2][TOTP_RECOVERY_LEN + 1];
	json_t *j;

	guard_reset();
	CHECK_INT(login("admin", NULL, &admin), 200);
	change_headers(&admin, &h);
	/* the password again */
	req("POST", "/api/v1/me/totp", h.buf, "{\"password\":\"wrong horse battery\"}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	req("POST", "/api/v1/me/totp", h.buf, "{\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	sbuf_addstr(&secret, json_string_value(json_object_get(j, "secret")));
	CHECK(strstr(json_string_value(json_object_get(j, "otpauth_uri")), secret.buf) != NULL);
	json_decref(j);
	answer_release(&a);
	/* pending: a login needs no code yet; the secret is not shown again */
	CHECK_INT(login("admin", NULL, NULL), 200);
	req("GET", "/api/v1/me", admin.buf, NULL, &a);
	CHECK(strstr(a.body.buf, secret.buf) == NULL);
	answer_release(&a);
	req("POST", "/api/v1/me/totp/confirm", h.buf, "{\"code\":\"000000x\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	code_of(secret.buf, 0, code);
	sbuf_addf(&b, "{\"code\":\"%s\"}", code);
	req("POST", "/api/v1/me/totp/confirm", h.buf, b.buf, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "recovery_codes")), TOTP_RECOVERY_N);
	for (int i = 0; i < 2; i++) {
		snprintf(recovery[i], sizeof(recovery[i]), "%s",
			 json_string_value(
			     json_array_get(json_object_get(j, "recovery_codes"), (size_t)i)));
	}
	json_decref(j);
	answer_release(&a);

	/* required */
	req("POST", "/api/v1/login", JSON,
	    "{\"name\":\"admin\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 401);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(json_is_true(json_object_get(j, "otp_required")));
	json_decref(j);
	answer_release(&a);
	/* wrong, and replayed (confirming used this step) */
	CHECK_INT(login("admin", "123456x", NULL), 401);
	CHECK_INT(login("admin", code, NULL), 401);
	/* CapRover's CLI: 1114 makes it ask for CAPROVER_OTP_TOKEN */
	req("POST", "/api/v2/login", JSON, "{\"password\":\"correct horse battery\"}", &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 1114);
	json_decref(j);
	answer_release(&a);
	code_of(secret.buf, 30, later);
	sbuf_reset(&b);
	sbuf_addf(&b, "{\"password\":\"correct horse battery\",\"otpToken\":\"%s\"}", later);
	req("POST", "/api/v2/login", JSON, b.buf, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 100);
	json_decref(j);
	answer_release(&a);
	/* that code is used now, on either API */
	CHECK_INT(login("admin", later, NULL), 401);
	req("POST", "/api/v2/login", JSON, b.buf, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "status")), 1105);
	json_decref(j);
	answer_release(&a);
	guard_reset();
	/* a recovery code, once */
	CHECK_INT(login("admin", recovery[0], &admin), 200);
	CHECK_INT(login("admin", recovery[0], NULL), 401);
	/* off: the password and a code */
	change_headers(&admin, &h);
	sbuf_reset(&b);
	sbuf_addf(&b, "{\"password\":\"correct horse battery\",\"code\":\"%s\"}", recovery[0]);
	req("DELETE", "/api/v1/me/totp", h.buf, b.buf, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	sbuf_reset(&b);
	sbuf_addf(&b, "{\"password\":\"correct horse battery\",\"code\":\"%s\"}", recovery[1]);
	req("DELETE", "/api/v1/me/totp", h.buf, b.buf, &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	CHECK_INT(login("admin", NULL, NULL), 200);
	guard_reset();
	sbuf_release(&admin);
	sbuf_release(&h);
	sbuf_release(&b);
	sbuf_release(&secret);
}

static void test_tokens(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, h = SBUF_INIT, app_tok = SBUF_INIT, user_tok = SBUF_INIT;
	json_t *j;

	CHECK_INT(login("admin", NULL, &admin), 200);
	change_headers(&admin, &h);
	req("POST", "/api/v1/tokens", h.buf,
	    "{\"name\":\"ci\",\"app\":\"shop\",\"role\":\"viewer\"}", &a);
	CHECK_INT(a.status, 201);
	j = json_loads(a.body.buf, 0, NULL);
	sbuf_addf(&app_tok, "Authorization: Bearer %s\r\n",
		  json_string_value(json_object_get(j, "token")));
	json_decref(j);
	answer_release(&a);
	req("POST", "/api/v1/tokens", h.buf, "{\"name\":\"ci\"}", &a);
	CHECK_INT(a.status, 409);
	answer_release(&a);
	req("POST", "/api/v1/tokens", h.buf, "{\"name\":\"x\",\"app\":\"nope\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("POST", "/api/v1/tokens", h.buf, "{\"name\":\"all\"}", &a);
	CHECK_INT(a.status, 201);
	j = json_loads(a.body.buf, 0, NULL);
	sbuf_addf(&user_tok, "Authorization: Bearer %s\r\n",
		  json_string_value(json_object_get(j, "token")));
	json_decref(j);
	answer_release(&a);

	/* the app token reaches its app only, as a viewer */
	req("GET", "/api/v1/apps", app_tok.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "apps")), 1);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(json_object_get(j, "apps"), 0), "name")),
		  "shop");
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(json_object_get(j, "apps"), 0), "role")),
		  "viewer");
	json_decref(j);
	answer_release(&a);
	req("GET", "/api/v1/me", app_tok.buf, NULL, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	req("GET", "/api/v1/users", app_tok.buf, NULL, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	/* the user token acts as the user, without a CSRF token; not on its password */
	req("GET", "/api/v1/apps", user_tok.buf, NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "apps")), 2);
	json_decref(j);
	answer_release(&a);
	sbuf_reset(&h);
	sbuf_addf(&h, "%s%s", JSON, user_tok.buf);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"tom\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 201);
	answer_release(&a);
	req("POST", "/api/v1/me/password", h.buf,
	    "{\"old\":\"correct horse battery\",\"new\":\"correct horse battery 2\"}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	req("GET", "/api/v1/apps", "Authorization: Bearer 0123\r\n", NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	/* listed without the token */
	req("GET", "/api/v1/tokens", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.body.buf, app_tok.buf + 22) == NULL);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_INT(json_array_size(json_object_get(j, "tokens")), 2);
	CHECK(json_is_string(
	    json_object_get(json_array_get(json_object_get(j, "tokens"), 1), "last_used")));
	json_decref(j);
	answer_release(&a);
	change_headers(&admin, &h);
	req("DELETE", "/api/v1/tokens/ci", h.buf, "", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/api/v1/apps", app_tok.buf, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	req("DELETE", "/api/v1/tokens/ci", h.buf, "", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	sbuf_release(&admin);
	sbuf_release(&h);
	sbuf_release(&app_tok);
	sbuf_release(&user_tok);
}

static void test_user_admin(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, vic = SBUF_INIT, vic2 = SBUF_INIT, h = SBUF_INIT;
	json_t *j;

	CHECK_INT(login("admin", NULL, &admin), 200);
	change_headers(&admin, &h);
	req("GET", "/api/v1/users", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(json_array_size(json_object_get(j, "users")) >= 3);
	json_decref(j);
	CHECK(strstr(a.body.buf, "$argon2") == NULL);
	answer_release(&a);
	/* the last admin stays */
	req("DELETE", "/api/v1/users/admin", h.buf, "", &a);
	CHECK_INT(a.status, 409);
	answer_release(&a);
	req("PUT", "/api/v1/users/admin", h.buf, "{\"role\":\"user\"}", &a);
	CHECK_INT(a.status, 409);
	answer_release(&a);
	req("PUT", "/api/v1/users/vic", h.buf, "{\"role\":\"boss\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("PUT", "/api/v1/users/nobody", h.buf, "{\"role\":\"user\"}", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("PUT", "/api/v1/users/vic", h.buf, "{\"apps\":{\"blog\":\"deployer\"}}", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	/* a password change ends the other sessions */
	CHECK_INT(login("vic", NULL, &vic), 200);
	CHECK_INT(login("vic", NULL, &vic2), 200);
	req("GET", "/api/v1/apps", vic.buf, NULL, &a);
	CHECK(strstr(a.body.buf, "\"blog\"") != NULL && strstr(a.body.buf, "\"shop\"") == NULL);
	answer_release(&a);
	req("GET", "/api/v1/users", vic.buf, NULL, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	change_headers(&vic, &h);
	req("POST", "/api/v1/me/password", h.buf,
	    "{\"old\":\"correct horse battery\",\"new\":\"short\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("POST", "/api/v1/me/password", h.buf,
	    "{\"old\":\"correct horse battery\",\"new\":\"correct horse battery 2\"}", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/api/v1/me", vic.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/api/v1/me", vic2.buf, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	CHECK_INT(login("vic", NULL, NULL), 401);
	/* removed: its sessions end */
	change_headers(&admin, &h);
	req("DELETE", "/api/v1/users/vic", h.buf, "", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/api/v1/me", vic.buf, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	req("DELETE", "/api/v1/users/vic", h.buf, "", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	guard_reset();
	sbuf_release(&admin);
	sbuf_release(&vic);
	sbuf_release(&vic2);
	sbuf_release(&h);
}

/* The number of job directories under STATE/jobs. */
static int jobs_count(void)
{
	struct sbuf p = SBUF_INIT;
	DIR *d;
	struct dirent *de;
	int n = 0;

	sbuf_addf(&p, "%s/jobs", dir);
	d = opendir(p.buf);
	while (d && (de = readdir(d))) {
		n += apiapps_valid_job_id(de->d_name);
	}
	if (d) {
		closedir(d);
	}
	sbuf_release(&p);
	return n;
}

/* The job ID of a 202 answer {job}, into id. */
static void job_of(const struct answer *a, char id[APIAPPS_JOB_ID_HEX + 1])
{
	json_t *j = json_loads(a->body.buf, 0, NULL);
	const char *s = json_string_value(json_object_get(j, "job"));

	CHECK_INT(a->status, 202);
	CHECK(s && apiapps_valid_job_id(s));
	snprintf(id, APIAPPS_JOB_ID_HEX + 1, "%s", s ? s : "");
	json_decref(j);
}

static struct strvec ran;

/* What the job hook runs, in place of berthd's dispatcher: it records the argv. */
static int record_run(struct bd *bd, int argc, const char **argv)
{
	struct sbuf line = SBUF_INIT;

	(void)bd;
	for (int i = 0; i < argc; i++) {
		sbuf_addf(&line, "%s%s", i ? " " : "", argv[i]);
	}
	strvec_push(&ran, line.buf);
	sbuf_release(&line);
	return strcmp(argv[0], "ps:scale") ? 0 : 1;
}

#define SECRET "s3cr3t-v4lue-xyzzy"

static void test_app_routes(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, dep = SBUF_INIT, view = SBUF_INIT, h = SBUF_INIT,
		    hv = SBUF_INIT, hd = SBUF_INIT, p = SBUF_INIT, body = SBUF_INIT;
	char id[APIAPPS_JOB_ID_HEX + 1], id2[APIAPPS_JOB_ID_HEX + 1];
	struct stat st;
	json_t *j;
	int before;

	guard_reset();
	CHECK_INT(login("admin", NULL, &admin), 200);
	change_headers(&admin, &h);
	req("POST", "/api/v1/apps", h.buf, "{\"name\":\"cafe\"}", &a);
	CHECK_INT(a.status, 201);
	answer_release(&a);
	req("POST", "/api/v1/apps", h.buf, "{\"name\":\"cafe\"}", &a);
	CHECK_INT(a.status, 409);
	answer_release(&a);
	req("POST", "/api/v1/apps", h.buf, "{\"name\":\"Bad Name\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "name: expected") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"dora\",\"password\":\"correct horse battery\",\"role\":\"user\","
	    "\"apps\":{\"cafe\":\"deployer\"}}",
	    &a);
	CHECK_INT(a.status, 201);
	answer_release(&a);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"vera\",\"password\":\"correct horse battery\",\"role\":\"user\","
	    "\"apps\":{\"cafe\":\"viewer\"}}",
	    &a);
	CHECK_INT(a.status, 201);
	answer_release(&a);
	CHECK_INT(login("dora", NULL, &dep), 200);
	CHECK_INT(login("vera", NULL, &view), 200);
	change_headers(&dep, &hd);
	change_headers(&view, &hv);

	/* the app, with its role; no release, no env, no job yet */
	req("GET", "/api/v1/apps/cafe", view.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(j, "role")), "viewer");
	CHECK_INT((int)json_array_size(json_object_get(j, "releases")), 0);
	CHECK(json_is_null(json_object_get(j, "job")));
	CHECK_INT((int)json_array_size(json_object_get(j, "volumes")), 0);
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "limits"), "memory")), "");
	json_decref(j);
	answer_release(&a);
	{
		/* a volume and a memory limit, as storage:mount and resource:limit keep them */
		struct store vs = STORE_INIT;
		struct err e = ERR_INIT;

		CHECK_INT(store_open(&vs, dir, &e), 0);
		CHECK(store_mount_add(&vs, "cafe", "/var/lib/cafe:/data", &e) >= 0);
		CHECK_INT(store_prop_set(&vs, "cafe", "resource.memory", "256m", &e), 0);
		store_close(&vs);
		err_release(&e);
	}
	req("GET", "/api/v1/apps/cafe", view.buf, NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(json_object_get(j, "volumes"), 0), "host")),
		  "/var/lib/cafe");
	CHECK_STR(json_string_value(json_object_get(
		      json_array_get(json_object_get(j, "volumes"), 0), "container")),
		  "/data");
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "limits"), "memory")),
		  "256m");
	json_decref(j);
	answer_release(&a);
	/* an app the user may not read is as one that does not exist */
	req("GET", "/api/v1/apps/shop", dep.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("GET", "/api/v1/apps/nope", admin.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("GET", "/api/v1/apps/cafe", NULL, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);

	/* refusals start no job */
	before = jobs_count();
	req("POST", "/api/v1/apps/cafe/env", hv.buf, "{\"set\":{\"K\":\"" SECRET "\"}}", &a);
	CHECK_INT(a.status, 403);
	CHECK(strstr(a.body.buf, SECRET) == NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/nope/env", h.buf, "{\"set\":{\"K\":\"v\"}}", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("POST", "/api/v1/apps/shop/scale", hd.buf, "{\"web\":2}", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/env", hd.buf, "{\"set\":{\"1BAD\":\"" SECRET "\"}}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "set: a KEY is not a config name") != NULL);
	CHECK(strstr(a.body.buf, SECRET) == NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/env", hd.buf, "{\"set\":{\"K\":\"a\\nb\"}}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "set.K: expected") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/env", hd.buf, "{\"set\":{\"K\":3}}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/env", hd.buf, "{\"unset\":[\"a-b\"]}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "unset: expected") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/env", hd.buf, "{}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/env", hd.buf, "not json", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/scale", hd.buf, "{\"web\":101}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "web: expected") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/scale", hd.buf, "{\"web\":\"2\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/letsencrypt", hd.buf, "{\"enabled\":\"yes\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "enabled: expected true or false") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/domains", hd.buf, "{\"domain\":\"no spaces.example\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "domain: expected") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/deploys", hd.buf, "{\"image\":\"--rm\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	/* a git repository: its URL and ref checked before any job; a token never in the audit */
	req("POST", "/api/v1/apps/cafe/deploys", hd.buf, "{\"git_url\":\"file:///etc\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "git_url: ") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/deploys", hd.buf,
	    "{\"git_url\":\"https://git.example.test/cafe.git\",\"ref\":\"--upload-pack=x\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "ref: ") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/rollback", hd.buf, "{\"version\":7}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "version: expected") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/frobnicate", hd.buf, "{}", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	/* a session's change without its CSRF token */
	sbuf_reset(&body);
	sbuf_addf(&body, "%s%s%s", JSON, dep.buf, ORIGIN);
	req("POST", "/api/v1/apps/cafe/scale", body.buf, "{\"web\":2}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	CHECK_INT(jobs_count(), before);
	/* a viewer is refused every change */
	{
		static const char *const changes[][2] = {
		    {"POST", "/api/v1/apps/cafe/rollback"},
		    {"POST", "/api/v1/apps/cafe/env"},
		    {"POST", "/api/v1/apps/cafe/domains"},
		    {"POST", "/api/v1/apps/cafe/letsencrypt"},
		    {"POST", "/api/v1/apps/cafe/scale"},
		    {"POST", "/api/v1/apps/cafe/deploys"},
		    {"DELETE", "/api/v1/apps/cafe/domains/a.example.test"},
		};
		for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
			req(changes[i][0], changes[i][1], hv.buf, "{}", &a);
			CHECK_INT(a.status, 403);
			answer_release(&a);
		}
	}
	CHECK_INT(jobs_count(), before);

	/* a change: the job's directory, the values only in its 0600 args */
	req("POST", "/api/v1/apps/cafe/env", hd.buf,
	    "{\"set\":{\"SECRET_KEY\":\"" SECRET "\"},\"unset\":[\"OLD\"]}", &a);
	job_of(&a, id);
	CHECK(strstr(a.body.buf, SECRET) == NULL);
	answer_release(&a);
	sbuf_reset(&p);
	sbuf_addf(&p, "%s/jobs/%s/args", dir, id);
	CHECK(stat(p.buf, &st) == 0 && (st.st_mode & 0777) == 0600);
	sbuf_reset(&p);
	sbuf_addf(&p, "%s/jobs/%s", dir, id);
	CHECK(stat(p.buf, &st) == 0 && (st.st_mode & 0777) == 0700);
	/* the job, as berthd serve's child runs it: args read and gone, each command in turn */
	{
		struct bd bd = {.store = STORE_INIT, .state_dir = dir};
		CHECK(store_open(&bd.store, dir, NULL) == 0);
		CHECK_INT(apiapps_hook_job(&bd, id, record_run), 0);
		CHECK_INT(apiapps_hook_job(&bd, "../../etc", record_run), 1);
		store_close(&bd.store);
		CHECK_INT((int)ran.nr, 2);
		CHECK_STR(ran.v[0], "config:unset --no-restart cafe OLD");
		CHECK_STR(ran.v[1], "config:set cafe SECRET_KEY=" SECRET);
		sbuf_reset(&p);
		sbuf_addf(&p, "%s/jobs/%s/args", dir, id);
		CHECK(stat(p.buf, &st) < 0);
	}
	/* its lines, from N */
	sbuf_reset(&p);
	sbuf_addf(&p, "%s/jobs/%s/log", dir, id);
	{
		FILE *f = fopen(p.buf, "w");
		CHECK(f != NULL);
		fputs("-----> Setting config vars\n       SECRET_KEY\n-----> Deploying", f);
		fclose(f);
	}
	sbuf_reset(&p);
	sbuf_addf(&p, "/api/v1/jobs/%s?from=1", id);
	req("GET", p.buf, view.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(j, "state")), "succeeded");
	CHECK_STR(json_string_value(json_object_get(j, "action")), "config:set");
	CHECK_STR(json_string_value(json_object_get(j, "app")), "cafe");
	CHECK_INT((int)json_array_size(json_object_get(j, "lines")), 1);
	CHECK_STR(json_string_value(json_array_get(json_object_get(j, "lines"), 0)),
		  "       SECRET_KEY");
	CHECK_INT((int)json_integer_value(json_object_get(j, "next")), 2);
	json_decref(j);
	answer_release(&a);
	req("GET", p.buf, NULL, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	sbuf_reset(&p);
	sbuf_addf(&p, "/api/v1/jobs/%s?from=x", id);
	req("GET", p.buf, view.buf, NULL, &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef", admin.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);

	/* a failing command fails the job; the app shows its last job and env keys alone */
	{
		struct store s = STORE_INIT;
		struct strvec n = STRVEC_INIT, v = STRVEC_INIT;
		CHECK(store_open(&s, dir, NULL) == 0);
		strvec_push(&n, "SECRET_KEY");
		strvec_push(&v, SECRET);
		CHECK(store_config_set(&s, "cafe", &n, &v, NULL) == 0);
		store_close(&s);
		strvec_clear(&n);
		strvec_clear(&v);
	}
	req("POST", "/api/v1/apps/cafe/scale", hd.buf, "{\"web\":2}", &a);
	job_of(&a, id2);
	answer_release(&a);
	{
		struct bd bd = {.store = STORE_INIT, .state_dir = dir};
		CHECK(store_open(&bd.store, dir, NULL) == 0);
		CHECK_INT(apiapps_hook_job(&bd, id2, record_run), 1);
		store_close(&bd.store);
		CHECK_STR(ran.v[ran.nr - 1], "ps:scale cafe web=2");
	}
	req("GET", "/api/v1/apps/cafe", dep.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.body.buf, SECRET) == NULL);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(j, "role")), "deployer");
	CHECK_STR(
	    json_string_value(json_object_get(json_array_get(json_object_get(j, "env"), 0), "key")),
	    "SECRET_KEY");
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "job"), "id")), id2);
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "job"), "state")), "failed");
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "job"), "action")),
		  "ps:scale");
	json_decref(j);
	answer_release(&a);
	/* the other routes answer 202 and plan the command a deploy key would type */
	req("DELETE", "/api/v1/apps/cafe/domains/A.Example.Test", hd.buf, "", &a);
	CHECK_INT(a.status, 202);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/letsencrypt", hd.buf, "{\"enabled\":false}", &a);
	CHECK_INT(a.status, 202);
	answer_release(&a);
	/* an admin's: an app token-less admin may change every app */
	req("POST", "/api/v1/apps/cafe/deploys", h.buf, "{\"image\":\"registry.test/cafe:1\"}", &a);
	CHECK_INT(a.status, 202);
	answer_release(&a);
	req("POST", "/api/v1/apps/cafe/deploys", hd.buf,
	    "{\"git_url\":\"https://ci:s3cret-tok@git.example.test/cafe.git\",\"ref\":\"main\"}",
	    &a);
	CHECK_INT(a.status, 202);
	CHECK(strstr(a.body.buf, "s3cret-tok") == NULL);
	answer_release(&a);
	{
		struct store evs = STORE_INIT;
		struct err e = ERR_INIT;
		struct sbuf ev = SBUF_INIT;
		sqlite3 *db;
		sqlite3_stmt *q;

		CHECK_INT(store_open(&evs, dir, &e), 0);
		db = evs.db;
		CHECK(sqlite3_prepare_v2(db, "SELECT group_concat(names, '|') FROM events", -1, &q,
					 NULL) == SQLITE_OK);
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0)) {
			sbuf_addstr(&ev, (const char *)sqlite3_column_text(q, 0));
		}
		sqlite3_finalize(q);
		CHECK(strstr(ev.buf ? ev.buf : "", "git.example.test/cafe.git main") != NULL);
		CHECK(ev.buf && !strstr(ev.buf, "s3cret-tok"));
		sbuf_release(&ev);
		store_close(&evs);
		err_release(&e);
	}
	/* only the newest APIAPPS_JOBS_KEPT jobs of an app stay */
	for (int i = 0; i < APIAPPS_JOBS_KEPT + 2; i++) {
		req("POST", "/api/v1/apps/cafe/rollback", hd.buf, "{\"version\":\"1\"}", &a);
		CHECK_INT(a.status, 202);
		answer_release(&a);
	}
	CHECK_INT(jobs_count(), APIAPPS_JOBS_KEPT);
	strvec_clear(&ran);
	guard_reset();
	sbuf_release(&admin);
	sbuf_release(&dep);
	sbuf_release(&view);
	sbuf_release(&h);
	sbuf_release(&hv);
	sbuf_release(&hd);
	sbuf_release(&p);
	sbuf_release(&body);
}

/* A request with a body of len bytes (NULs allowed), on a new connection; the status. */
static int req_bin(const char *path, const char *headers, const char *body, size_t len)
{
	struct sockaddr_in sa = {0};
	struct sbuf s = SBUF_INIT, in = SBUF_INIT;
	int fd = socket(AF_INET, SOCK_STREAM, 0), st;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	sbuf_addf(&s,
		  "POST %s HTTP/1.1\r\nHost: berth.example.test\r\nConnection: close\r\n%s"
		  "Content-Length: %zu\r\n\r\n",
		  path, headers, len);
	sbuf_add(&s, body, len);
	CHECK(write(fd, s.buf, s.len) == (ssize_t)s.len);
	while (sbuf_read_once(&in, fd, 4096) > 0) {
	}
	close(fd);
	st = in.len > 12 ? atoi(in.buf + 9) : 0;
	sbuf_release(&s);
	sbuf_release(&in);
	return st;
}

/* A tar of one file, Dockerfile, as tar(1) writes it; len its length. */
static char *dockerfile_tar(size_t *len)
{
	static const char df[] = "FROM scratch\n";
	char *t = calloc(1, 512 * 4);
	unsigned sum = 0;

	memcpy(t, "Dockerfile", 10);
	memcpy(t + 100, "0000644", 7);
	memcpy(t + 108, "0000000", 7);
	memcpy(t + 116, "0000000", 7);
	snprintf(t + 124, 12, "%011o", (unsigned)(sizeof(df) - 1));
	memcpy(t + 136, "00000000000", 11);
	memset(t + 148, ' ', 8);
	t[156] = '0';
	memcpy(t + 257, "ustar", 6);
	memcpy(t + 263, "00", 2);
	for (int i = 0; i < 512; i++) {
		sum += (unsigned char)t[i];
	}
	snprintf(t + 148, 8, "%06o", sum);
	memcpy(t + 512, df, sizeof(df) - 1);
	*len = 512 * 4;
	return t;
}

static void test_app_tarball(void)
{
	struct sbuf dep = SBUF_INIT, view = SBUF_INIT, hd = SBUF_INIT, hv = SBUF_INIT,
		    h = SBUF_INIT, p = SBUF_INIT;
	size_t len;
	char *tar = dockerfile_tar(&len);
	struct answer a;
	json_t *j;
	int before = jobs_count();

	guard_reset();
	CHECK_INT(login("dora", NULL, &dep), 200);
	CHECK_INT(login("vera", NULL, &view), 200);
	change_headers(&dep, &hd);
	change_headers(&view, &hv);
	sbuf_addstr(&h, hd.buf);
	/* a tar instead of JSON */
	sbuf_reset(&p);
	sbuf_addf(&p, "Content-Type: application/x-tar\r\n%s", strstr(hv.buf, "Cookie:"));
	CHECK_INT(req_bin("/api/v1/apps/cafe/deploys", p.buf, tar, len), 403);
	sbuf_reset(&p);
	sbuf_addf(&p, "Content-Type: application/x-tar\r\n%s", strstr(hd.buf, "Cookie:"));
	CHECK_INT(req_bin("/api/v1/apps/cafe/scale", p.buf, tar, len), 415);
	CHECK_INT(req_bin("/api/v1/apps/nope/deploys", p.buf, tar, len), 404);
	CHECK_INT(req_bin("/api/v1/apps/cafe/deploys", p.buf, "not a tar at all", 16), 400);
	CHECK_INT(jobs_count(), before);
	CHECK_INT(req_bin("/api/v1/apps/cafe/deploys", p.buf, tar, len), 202);
	req("GET", "/api/v1/apps/cafe", dep.buf, NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "job"), "action")),
		  "upload");
	json_decref(j);
	answer_release(&a);
	/* JSON changes come through the same streamed route */
	req("POST", "/api/v1/apps/cafe/scale", h.buf, "{\"web\":1}", &a);
	CHECK_INT(a.status, 202);
	answer_release(&a);
	free(tar);
	guard_reset();
	sbuf_release(&dep);
	sbuf_release(&view);
	sbuf_release(&hd);
	sbuf_release(&hv);
	sbuf_release(&h);
	sbuf_release(&p);
}

/* POST /api/v1/oneclick: checked first, then one job of the appname, its values in no argv. */
static void test_oneclick(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, dep = SBUF_INIT, h = SBUF_INIT, hd = SBUF_INIT,
		    p = SBUF_INIT, args = SBUF_INIT;
	char id[APIAPPS_JOB_ID_HEX + 1];
	struct stat st;
	json_t *j;
	int before;

	guard_reset();
	CHECK_INT(login("admin", NULL, &admin), 200);
	CHECK_INT(login("dora", NULL, &dep), 200);
	change_headers(&admin, &h);
	change_headers(&dep, &hd);
	before = jobs_count();
	/* a deployer of an app is no admin */
	req("POST", "/api/v1/oneclick", hd.buf,
	    "{\"template\":\"redis\",\"values\":{\"appname\":\"rd\"}}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	req("POST", "/api/v1/oneclick", h.buf, "{\"values\":{\"appname\":\"rd\"}}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "expected one of template") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/oneclick", h.buf,
	    "{\"template\":\"nope\",\"values\":{\"appname\":\"rd\"}}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "template: no such template") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/oneclick", h.buf,
	    "{\"template\":\"redis\",\"values\":{\"appname\":\"rd\",\"redis_password\":\"short\"}}",
	    &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "redis_password") != NULL);
	CHECK(strstr(a.body.buf, "short") == NULL);
	answer_release(&a);
	req("POST", "/api/v1/oneclick", h.buf,
	    "{\"yaml\":\"captainVersion: 4\\nservices:\\n  $$cap_appname:\\n    imag: x\\n\","
	    "\"values\":{\"appname\":\"rd\"}}",
	    &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "yaml:4") != NULL);
	answer_release(&a);
	/* an app of the plan exists */
	req("POST", "/api/v1/oneclick", h.buf,
	    "{\"template\":\"redis\",\"values\":{\"$$cap_appname\":\"cafe\"}}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "app cafe exists already") != NULL);
	answer_release(&a);
	CHECK_INT(jobs_count(), before);

	req("POST", "/api/v1/oneclick", h.buf,
	    "{\"template\":\"redis\",\"values\":{\"$$cap_appname\":\"rd\",\"redis_password\":"
	    "\"" SECRET "\"}}",
	    &a);
	job_of(&a, id);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK_STR(json_string_value(json_array_get(json_object_get(j, "apps"), 0)), "rd");
	CHECK_INT((int)json_array_size(json_object_get(j, "apps")), 1);
	json_decref(j);
	CHECK(strstr(a.body.buf, SECRET) == NULL);
	answer_release(&a);
	CHECK_INT(jobs_count(), before + 1);
	/* the values in the job's 0600 file, read and gone when it runs */
	sbuf_addf(&p, "%s/jobs/%s/args", dir, id);
	CHECK(stat(p.buf, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(sbuf_read_file(&args, p.buf) == 0);
	CHECK(strstr(args.buf, "redis_password=" SECRET) != NULL);
	/* an admin reads the job before its app exists; nobody else does */
	sbuf_reset(&p);
	sbuf_addf(&p, "/api/v1/jobs/%s", id);
	req("GET", p.buf, admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.body.buf, "\"app\": \"rd\"") || strstr(a.body.buf, "\"app\":\"rd\""));
	answer_release(&a);
	req("GET", p.buf, dep.buf, NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	{
		struct bd bd = {.store = STORE_INIT, .state_dir = dir};

		strvec_clear(&ran);
		CHECK_INT(apiapps_hook_job(&bd, id, record_run), 0);
		CHECK_INT((int)ran.nr, 1);
		CHECK_STR(ran.v[0], "oneclick:deploy redis appname=rd redis_password=" SECRET);
		strvec_clear(&ran);
	}
	/* a template's own text goes as --yaml */
	req("POST", "/api/v1/oneclick", h.buf,
	    "{\"yaml\":\"captainVersion: 4\\nservices:\\n  $$cap_appname:\\n    image: "
	    "busybox\\n\","
	    "\"values\":{\"appname\":\"bb\"}}",
	    &a);
	job_of(&a, id);
	answer_release(&a);
	{
		struct bd bd = {.store = STORE_INIT, .state_dir = dir};

		CHECK_INT(apiapps_hook_job(&bd, id, record_run), 0);
		CHECK_INT((int)ran.nr, 1);
		CHECK_STR(ran.v[0], "oneclick:deploy --yaml captainVersion: 4\nservices:\n  "
				    "$$cap_appname:\n    image: busybox\n - appname=bb");
		strvec_clear(&ran);
	}
	sbuf_release(&admin);
	sbuf_release(&dep);
	sbuf_release(&h);
	sbuf_release(&hd);
	sbuf_release(&p);
	sbuf_release(&args);
}

/* A public key line as ssh-keygen writes it. */
#define PUBKEY                                                                                     \
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP3pJ5a0h6dW2qEKcTnnZCPE3v2Xl2NOlNw3qJJSgOLx "        \
	"me@laptop"

/* /api/v1/server (daemon/apiserver.h): admins only, CSRF, each body's checks, events. */
static void test_server_routes(void)
{
	struct store s = STORE_INIT;
	struct answer a;
	struct sbuf admin = SBUF_INIT, nina = SBUF_INIT, h = SBUF_INIT, hn = SBUF_INIT,
		    nocsrf = SBUF_INIT, body = SBUF_INIT;
	char tok[USERS_TOKEN_HEX + 1];
	json_t *j;
	const char *bad[][2] = {
	    {"/api/v1/server/keys", "[]"},
	    {"/api/v1/server/keys", "{\"key\":\"" PUBKEY "\"}"},
	    {"/api/v1/server/keys", "{\"name\":\"k1\"}"},
	    {"/api/v1/server/keys", "{\"name\":\"k 1\",\"key\":\"" PUBKEY "\"}"},
	    {"/api/v1/server/keys", "{\"name\":\"-k\",\"key\":\"" PUBKEY "\"}"},
	    {"/api/v1/server/keys", "{\"name\":\"k1\",\"key\":\"ssh-ed25519 AAAA\"}"},
	    {"/api/v1/server/keys", "{\"name\":\"k1\",\"key\":\"ssh-dss AAAAB3NzaC1kc3M=\"}"},
	    {"/api/v1/server/keys", "{\"name\":\"k1\",\"key\":\"" PUBKEY "\\n" PUBKEY "\"}"},
	    {"/api/v1/server/keys", "{\"name\":\"k1\",\"key\":\"" PUBKEY "\",\"admin\":\"yes\"}"},
	    {"/api/v1/server/keys/k1/grants", "{\"app\":\"srv\"}"},
	    {"/api/v1/server/keys/k1/grants", "{\"app\":\"srv\",\"right\":\"admin\"}"},
	    {"/api/v1/server/keys/k1/grants", "{\"app\":\"Bad App\",\"right\":\"read\"}"},
	    {"/api/v1/server/keys/k1/grants", "{\"right\":\"read\"}"},
	};

	/* serve's --doctor-interval */
	{
		unsigned v = 1;
		const char *no[] = {"", "9", "86401", "1e3", "-60", "600s", "offf", "999999"};

		CHECK(apiserver_doctor_interval_parse("off", &v, NULL) == 0 && v == 0);
		CHECK(apiserver_doctor_interval_parse("10", &v, NULL) == 0 && v == 10);
		CHECK(apiserver_doctor_interval_parse("86400", &v, NULL) == 0 && v == 86400);
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
			struct err e = ERR_INIT;
			CHECK(apiserver_doctor_interval_parse(no[i], &v, &e) < 0);
			CHECK(strstr(err_str(&e), "from 10 to 86400") != NULL);
			err_release(&e);
		}
	}
	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(store_user_add(&s, "nina", "x", "user", 1, NULL) == 0);
	CHECK(store_app_create(&s, "srv", NULL) == 0);
	CHECK(users_session_start(&s, "nina", (long long)time(NULL), tok, NULL) == 0);
	sbuf_addf(&nina, "Cookie: berth_session=%s\r\n", tok);
	store_close(&s);
	CHECK_INT(login("admin", NULL, &admin), 200);
	change_headers(&admin, &h);
	change_headers(&nina, &hn);
	sbuf_addf(&nocsrf, "%s%s%s", JSON, admin.buf, ORIGIN);

	/* GET: admins; the doctor's check not run yet */
	req("GET", "/api/v1/server", nina.buf, NULL, &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	req("GET", "/api/v1/server", NULL, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	req("GET", "/api/v1/server", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(json_is_null(json_object_get(j, "doctor")));
	CHECK(!strcmp(json_string_value(json_object_get(j, "domain")), "example.test"));
	CHECK(json_is_array(json_object_get(j, "keys")));
	json_decref(j);
	answer_release(&a);

	/* every change: a non-admin 403, no CSRF token 403 */
	{
		const char *changes[][3] = {
		    {"POST", "/api/v1/server/doctor", "{}"},
		    {"PUT", "/api/v1/server/domain", "{\"domain\":\"x.test\"}"},
		    {"POST", "/api/v1/server/keys", "{\"name\":\"k9\",\"key\":\"" PUBKEY "\"}"},
		    {"POST", "/api/v1/server/keys/k1/grants",
		     "{\"app\":\"srv\",\"right\":\"read\"}"},
		    {"DELETE", "/api/v1/server/keys/k1", ""},
		    {"DELETE", "/api/v1/server/keys/k1/grants/srv", ""},
		};
		for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
			req(changes[i][0], changes[i][1], hn.buf, changes[i][2], &a);
			CHECK_INT(a.status, 403);
			answer_release(&a);
			req(changes[i][0], changes[i][1], nocsrf.buf, changes[i][2], &a);
			CHECK_INT(a.status, 403);
			CHECK(strstr(a.body.buf, "X-CSRF-Token") != NULL);
			answer_release(&a);
		}
	}
	CHECK(access(dir, F_OK) == 0);
	sbuf_addf(&body, "%s/ssh/authorized_keys", dir);
	CHECK(access(body.buf, F_OK) != 0); /* nothing was added */

	/* keys: the bodies refused, then one added, granted, revoked, removed */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (i == 9) {
			req("POST", "/api/v1/server/keys", h.buf,
			    "{\"name\":\"k1\",\"key\":\"" PUBKEY "\"}", &a);
			CHECK_INT(a.status, 201);
			j = json_loads(a.body.buf, 0, NULL);
			CHECK(!strncmp(json_string_value(json_object_get(j, "fingerprint")),
				       "SHA256:", 7));
			CHECK(json_is_false(json_object_get(j, "admin")));
			json_decref(j);
			answer_release(&a);
		}
		req("POST", bad[i][0], h.buf, bad[i][1], &a);
		if (a.status != 400) {
			printf("#   %s %s: %d %s\n", bad[i][0], bad[i][1], a.status, a.body.buf);
		}
		CHECK_INT(a.status, 400);
		CHECK(strstr(a.body.buf, "\"error\"") != NULL);
		answer_release(&a);
	}
	req("POST", "/api/v1/server/keys", h.buf, "{\"name\":\"k1\",\"key\":\"" PUBKEY "\"}", &a);
	CHECK_INT(a.status, 409);
	answer_release(&a);
	req("POST", "/api/v1/server/keys", h.buf, "{\"name\":\"k2\",\"key\":\"" PUBKEY "\"}", &a);
	CHECK_INT(a.status, 400); /* the same key under another name */
	CHECK(strstr(a.body.buf, "already") != NULL);
	answer_release(&a);
	req("POST", "/api/v1/server/keys", "Content-Type: text/plain\r\n", "x", &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	req("POST", "/api/v1/server/keys/nokey/grants", h.buf,
	    "{\"app\":\"srv\",\"right\":\"read\"}", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("POST", "/api/v1/server/keys/k1/grants", h.buf, "{\"app\":\"nope\",\"right\":\"read\"}",
	    &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("POST", "/api/v1/server/keys/k1/other", h.buf, "{}", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("POST", "/api/v1/server/keys/k%401/grants", h.buf,
	    "{\"app\":\"srv\",\"right\":\"read\"}", &a);
	CHECK_INT(a.status, 404); /* k@1: no such key; the escape is read */
	answer_release(&a);
	req("POST", "/api/v1/server/keys/k%2/grants", h.buf, "{\"app\":\"srv\",\"right\":\"read\"}",
	    &a);
	CHECK(a.status == 400 || a.status == 404);
	answer_release(&a);
	req("POST", "/api/v1/server/keys/k1/grants", h.buf,
	    "{\"app\":\"srv\",\"right\":\"deploy\"}", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/api/v1/server", admin.buf, NULL, &a);
	j = json_loads(a.body.buf, 0, NULL);
	{
		json_t *k = json_array_get(json_object_get(j, "keys"), 0);
		CHECK(!strcmp(json_string_value(json_object_get(k, "name")), "k1"));
		CHECK(
		    !strcmp(json_string_value(json_object_get(json_object_get(k, "rights"), "srv")),
			    "deploy"));
	}
	json_decref(j);
	CHECK(strstr(a.body.buf, "AAAAIP3pJ5a0h6dW2qEKcTnnZCPE") == NULL); /* never a key's line */
	answer_release(&a);
	CHECK(access(body.buf, F_OK) == 0);
	req("DELETE", "/api/v1/server/keys/k1/grants/srv", h.buf, "", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("DELETE", "/api/v1/server/keys/k1/grants", h.buf, "", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("DELETE", "/api/v1/server/keys/k1/extra/x", h.buf, "", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("DELETE", "/api/v1/server/keys/k1", h.buf, "", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("DELETE", "/api/v1/server/keys/k1", h.buf, "", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);

	/* the host's check: started in the background (here /bin/true), 202 */
	req("POST", "/api/v1/server/doctor", h.buf, "{}", &a);
	CHECK_INT(a.status, 202);
	CHECK(strstr(a.body.buf, "\"checked_at\": null") ||
	      strstr(a.body.buf, "\"checked_at\":null"));
	answer_release(&a);

	/* the domain: checked, lowercased; then a new one, whose panel the CSRF check wants */
	req("PUT", "/api/v1/server/domain", h.buf, "{\"domain\":\"bad_domain\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(strstr(a.body.buf, "invalid domain") != NULL);
	answer_release(&a);
	req("PUT", "/api/v1/server/domain", h.buf, "{\"domain\":\"*.example.test\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("PUT", "/api/v1/server/domain", h.buf, "{\"name\":\"example.test\"}", &a);
	CHECK_INT(a.status, 400);
	answer_release(&a);
	req("PUT", "/api/v1/server/domain", h.buf, "{\"domain\":\"Example.TEST\"}", &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.body.buf, "\"https://berth.example.test/\"") != NULL);
	answer_release(&a);
	req("PUT", "/api/v1/server/domain", h.buf, "{\"domain\":\"new.test\"}", &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.body.buf, "APP.new.test") != NULL);
	answer_release(&a);
	req("GET", "/api/v1/server", admin.buf, NULL, &a);
	CHECK(strstr(a.body.buf, "\"new.test\"") != NULL);
	answer_release(&a);
	/* a change from the old panel's origin is refused now */
	req("POST", "/api/v1/server/doctor", h.buf, "{}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);

	/* the events: who and from where, never a key's line */
	{
		sqlite3 *db;
		sqlite3_stmt *st;
		int n = 0;

		sbuf_reset(&body);
		sbuf_addf(&body, "%s/berthd.db", dir);
		CHECK(sqlite3_open(body.buf, &db) == SQLITE_OK);
		CHECK(sqlite3_prepare_v2(
			  db,
			  "SELECT action, names FROM events WHERE keyname = 'user:admin' "
			  "AND action LIKE 'panel:%' AND (action LIKE '%ssh-keys%' OR "
			  "action LIKE '%domains%' OR action = 'panel:doctor')",
			  -1, &st, NULL) == SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *names = (const char *)sqlite3_column_text(st, 1);
			CHECK(names && strstr(names, "from 127.0.0.1") != NULL);
			CHECK(!names || !strstr(names, "AAAAC3"));
			n++;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
		CHECK_INT(n, 7); /* add, grant, revoke, remove, doctor, the domain twice */
	}
	sbuf_release(&admin);
	sbuf_release(&nina);
	sbuf_release(&h);
	sbuf_release(&hn);
	sbuf_release(&nocsrf);
	sbuf_release(&body);
}

/* A key whose authorized_keys cannot be written: 500, and the key is not kept. */
static void test_key_add_unwritable(void)
{
	struct answer a;
	struct sbuf admin = SBUF_INIT, h = SBUF_INIT, ssh = SBUF_INIT, away = SBUF_INIT;
	int fd;

	CHECK_INT(login("admin", NULL, &admin), 200);
	change_headers(&admin, &h);
	sbuf_addf(&ssh, "%s/ssh", dir);
	sbuf_addf(&away, "%s/ssh.away", dir);
	CHECK(rename(ssh.buf, away.buf) == 0 || errno == ENOENT);
	fd = open(ssh.buf, O_WRONLY | O_CREAT | O_EXCL, 0600); /* a file where the folder goes */
	CHECK(fd >= 0);
	close(fd);
	req("POST", "/api/v1/server/keys", h.buf,
	    "{\"name\":\"k-unwritable\",\"key\":\"" PUBKEY "\"}", &a);
	CHECK_INT(a.status, 500);
	CHECK(strstr(a.body.buf, "not added") != NULL);
	answer_release(&a);
	req("GET", "/api/v1/server", admin.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(strstr(a.body.buf, "k-unwritable") == NULL);
	answer_release(&a);
	CHECK(unlink(ssh.buf) == 0);
	CHECK(rename(away.buf, ssh.buf) == 0 || errno == ENOENT);
	sbuf_release(&admin);
	sbuf_release(&h);
	sbuf_release(&ssh);
	sbuf_release(&away);
}

int main(void)
{
	static struct http_server srv;
	struct err e = ERR_INIT;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (!mkdtemp(dir)) {
		return 1;
	}
	api.state_dir = dir;
	loginguard_init(&guard, 64);
	api.guard = &guard;
	/* a job's child does nothing here: test_app_routes runs the hook itself */
	api.job_program = "/bin/true";
	CHECK(csrf_key_new(api.csrf_key) == 0);
	srv.routes = api_routes;
	srv.nroutes = api_nroutes;
	srv.data = &api;
	/* as berthd serve: the streamed routes first */
	srv.streams = capdeploy_stream_routes;
	srv.nstreams = capdeploy_nstream_routes;
	if (http_server_start(&srv, "127.0.0.1:0", &e) < 0) {
		printf("Bail out! %s\n", err_str(&e));
		return 1;
	}
	getsockname(srv.fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	UNIT_RUN(test_before_setup);
	UNIT_RUN(test_setup_once);
	UNIT_RUN(test_logins_and_roles);
	UNIT_RUN(test_datastores);
	UNIT_RUN(test_charts);
	UNIT_RUN(test_caprover);
	UNIT_RUN(test_csrf);
	UNIT_RUN(test_fixation);
	UNIT_RUN(test_backoff);
	UNIT_RUN(test_totp);
	UNIT_RUN(test_tokens);
	UNIT_RUN(test_user_admin);
	UNIT_RUN(test_app_routes);
	UNIT_RUN(test_oneclick);
	UNIT_RUN(test_app_tarball);
	UNIT_RUN(test_key_add_unwritable);
	UNIT_RUN(test_server_routes);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
