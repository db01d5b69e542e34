/*
 * Tests for berthd's routes (daemon/api.c) over a real socket, with a store
 * in a temporary directory: nothing but /up and /setup before the first
 * admin, the set-up link once, logins, roles, and CapRover's envelope.
 * tests/e2e/t0315-berthd-api.sh runs them through berth-proxy and TLS.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/apicharts.h"
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
	CHECK(csrf_key_new(api.csrf_key) == 0);
	srv.routes = api_routes;
	srv.nroutes = api_nroutes;
	srv.data = &api;
	if (http_server_start(&srv, "127.0.0.1:0", &e) < 0) {
		printf("Bail out! %s\n", err_str(&e));
		return 1;
	}
	getsockname(srv.fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	UNIT_RUN(test_before_setup);
	UNIT_RUN(test_setup_once);
	UNIT_RUN(test_logins_and_roles);
	UNIT_RUN(test_charts);
	UNIT_RUN(test_caprover);
	UNIT_RUN(test_csrf);
	UNIT_RUN(test_fixation);
	UNIT_RUN(test_backoff);
	UNIT_RUN(test_totp);
	UNIT_RUN(test_tokens);
	UNIT_RUN(test_user_admin);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
