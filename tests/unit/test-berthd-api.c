/*
 * Tests for berthd's routes (daemon/api.c) over a real socket, with a store
 * in a temporary directory: nothing but /up and /setup before the first
 * admin, the set-up link once, logins, roles, and CapRover's envelope.
 * tests/e2e/t0315-berthd-api.sh runs them through berth-proxy and TLS.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/store.h"
#include "daemon/users.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-api-XXXXXX";
static int port;

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

#define JSON "Content-Type: application/json\r\n"

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
	sbuf_addf(&h, "%s%s", JSON, admin.buf);
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
	sbuf_reset(&h);
	sbuf_addf(&h, "%s%s", JSON, viewer.buf);
	req("POST", "/api/v1/users", h.buf,
	    "{\"name\":\"y\",\"password\":\"correct horse battery\"}", &a);
	CHECK_INT(a.status, 403);
	answer_release(&a);
	/* logout ends the session */
	req("POST", "/api/v1/logout", viewer.buf, "", &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
	req("GET", "/api/v1/me", viewer.buf, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	sbuf_release(&admin);
	sbuf_release(&viewer);
	sbuf_release(&h);
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

int main(void)
{
	static struct api api;
	static struct http_server srv;
	struct err e = ERR_INIT;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (!mkdtemp(dir)) {
		return 1;
	}
	api.state_dir = dir;
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
	UNIT_RUN(test_caprover);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
