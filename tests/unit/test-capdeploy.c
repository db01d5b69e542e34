/*
 * daemon/capdeploy: the upload pipeline on a body as `caprover deploy`
 * sends it (multipart -> untar into a directory), fed whole and in small
 * pieces; unsafe tars refused with nothing written outside; the build log's
 * window in CapRover's shape; and, over a real socket, who may call the
 * appData routes (admin, deployer, viewer, app token), a missing app, and
 * refused uploads leaving nothing behind.
 */
#include "daemon/capdeploy.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/store.h"
#include "daemon/users.h"
#include "lib/file.h"
#include "lib/sbuf.h"
#include "unit.h"

#define BOUNDARY "--------------------------berthtest0123"

static char root[] = "/tmp/berth-test-capdeploy-XXXXXX";
static int port;

/* One tar header (and its data, padded) with its checksum. */
static void hdr(struct sbuf *t, const char *name, char type, const char *link, const char *data)
{
	unsigned char h[512] = {0};
	size_t size = data ? strlen(data) : 0;
	unsigned sum = 0;
	char num[24];

	memcpy(h, name, strlen(name));
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	snprintf(num, sizeof(num), "%011zo", size);
	memcpy(h + 124, num, 12);
	memcpy(h + 136, "00000000000", 12);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	if (link) {
		memcpy(h + 157, link, strlen(link));
	}
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < 512; i++) {
		sum += h[i];
	}
	snprintf((char *)h + 148, 8, "%06o", sum);
	sbuf_add(t, h, 512);
	if (size) {
		sbuf_add(t, data, size);
		while (t->len % 512) {
			sbuf_addch(t, '\0');
		}
	}
}

static void tar_end(struct sbuf *t)
{
	char z[1024] = {0};
	sbuf_add(t, z, sizeof(z));
}

/* A body as the CLI's form-data writes it: sourceFile (the tar), then gitHash. */
static void body_of(const struct sbuf *tar, const char *git_hash, struct sbuf *b)
{
	sbuf_addstr(b, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"sourceFile\"; "
		       "filename=\"app.tar\"\r\nContent-Type: application/x-tar\r\n\r\n");
	sbuf_add(b, tar->buf, tar->len);
	sbuf_addf(b,
		  "\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"gitHash\"\r\n\r\n"
		  "%s\r\n--" BOUNDARY "--\r\n",
		  git_hash);
}

static const char *ct = "multipart/form-data; boundary=" BOUNDARY;

/* Feeds b into a fresh dir in pieces of step bytes: 0, or -1 with e set. */
static int run_upload(const struct sbuf *b, const char *dir, size_t step, struct sbuf *hash,
		      struct err *e)
{
	struct capdeploy_upload u;
	int r = -1;

	if (capdeploy_upload_init(&u, ct, dir, e) < 0) {
		return -1;
	}
	for (size_t off = 0; off < b->len; off += step) {
		size_t n = b->len - off < step ? b->len - off : step;
		if (capdeploy_upload_feed(&u, b->buf + off, n, e) < 0) {
			goto out;
		}
	}
	if (capdeploy_upload_finish(&u, e) < 0) {
		goto out;
	}
	if (hash) {
		sbuf_addstr(hash, u.git_hash.buf);
	}
	r = 0;
out:
	capdeploy_upload_release(&u);
	return r;
}

static void fresh(const char *dir)
{
	struct err e = ERR_INIT;
	(void)file_remove_tree(dir, &e);
	CHECK_INT(mkdir(dir, 0700), 0);
	err_release(&e);
}

static void test_pipeline(void)
{
	struct sbuf tar = SBUF_INIT, b = SBUF_INIT, got = SBUF_INIT, hash = SBUF_INIT,
		    path = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *sha = "0123456789abcdef0123456789abcdef01234567";
	char dir[128];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/src", root);
	hdr(&tar, "Dockerfile", '0', NULL, "FROM scratch\nCOPY app /app\n");
	hdr(&tar, "app/", '5', NULL, NULL);
	hdr(&tar, "app/hello.txt", '0', NULL, "hello\n");
	tar_end(&tar);
	body_of(&tar, sha, &b);
	/* whole, then a byte at a time, then in pieces of 7 */
	for (size_t step = b.len; step; step = step == b.len ? 1 : step == 1 ? 7 : 0) {
		fresh(dir);
		sbuf_reset(&hash);
		CHECK_INT(run_upload(&b, dir, step, &hash, &e), 0);
		CHECK_STR(hash.buf, sha);
		sbuf_reset(&path);
		sbuf_addf(&path, "%s/app/hello.txt", dir);
		sbuf_reset(&got);
		CHECK_INT(sbuf_read_file(&got, path.buf), 0);
		CHECK_STR(got.buf, "hello\n");
	}
	/* a "../x" entry: refused by name, nothing outside */
	sbuf_reset(&tar);
	sbuf_reset(&b);
	hdr(&tar, "../x", '0', NULL, "owned\n");
	tar_end(&tar);
	body_of(&tar, "", &b);
	fresh(dir);
	err_release(&e);
	CHECK_INT(run_upload(&b, dir, 5, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "sourceFile: ") != NULL);
	CHECK(strstr(err_str(&e), "../x") != NULL);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/x", root);
	CHECK(stat(path.buf, &st) < 0);
	/* a symbolic link: refused */
	sbuf_reset(&tar);
	sbuf_reset(&b);
	hdr(&tar, "link", '2', "/etc", NULL);
	tar_end(&tar);
	body_of(&tar, "", &b);
	fresh(dir);
	err_release(&e);
	CHECK_INT(run_upload(&b, dir, 4096, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "link") != NULL);
	/* no sourceFile part */
	sbuf_reset(&b);
	sbuf_addstr(&b, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"gitHash\"\r\n\r\n"
			"\r\n--" BOUNDARY "--\r\n");
	fresh(dir);
	err_release(&e);
	CHECK_INT(run_upload(&b, dir, 4096, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "no sourceFile") != NULL);
	/* a gitHash too long */
	sbuf_reset(&tar);
	sbuf_reset(&b);
	tar_end(&tar);
	body_of(&tar,
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		&b);
	fresh(dir);
	err_release(&e);
	CHECK_INT(run_upload(&b, dir, 4096, NULL, &e), -1);
	CHECK(strstr(err_str(&e), "gitHash") != NULL);
	sbuf_release(&tar);
	sbuf_release(&b);
	sbuf_release(&got);
	sbuf_release(&hash);
	sbuf_release(&path);
	err_release(&e);
}

static void test_log_window(void)
{
	struct strvec lines = STRVEC_INIT;
	struct err e = ERR_INIT;
	long long first = 0;
	char path[128];

	snprintf(path, sizeof(path), "%s/log", root);
	/* no log yet: an empty window */
	CHECK_INT(capdeploy_log_window(path, 4, &first, &lines, &e), 0);
	CHECK_INT(first, -4);
	CHECK_INT(lines.nr, 4);
	CHECK_STR(lines.v[3], "");
	strvec_clear(&lines);
	CHECK_INT(file_write_atomic(path, "a\nb\nc", 5, 0600, &e), 0);
	CHECK_INT(capdeploy_log_window(path, 4, &first, &lines, &e), 0);
	CHECK_INT(first, -1);
	CHECK_INT(lines.nr, 4);
	CHECK_STR(lines.v[0], "");
	CHECK_STR(lines.v[1], "a");
	CHECK_STR(lines.v[3], "c");
	strvec_clear(&lines);
	CHECK_INT(file_write_atomic(path, "1\n2\n3\n4\n5\n6\n", 12, 0600, &e), 0);
	CHECK_INT(capdeploy_log_window(path, 4, &first, &lines, &e), 0);
	CHECK_INT(first, 2);
	CHECK_STR(lines.v[0], "3");
	CHECK_STR(lines.v[3], "6");
	strvec_clear(&lines);
	err_release(&e);
}

/* ---- over a socket -------------------------------------------------------------------- */

struct answer {
	int status;	  /* HTTP */
	long long cap;	  /* CapRover's status */
	struct sbuf body; /* the envelope */
};

static void req(const char *method, const char *path, const char *headers, const char *body,
		size_t body_len, struct answer *a)
{
	struct sockaddr_in sa = {0};
	struct sbuf s = SBUF_INIT, in = SBUF_INIT;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	const char *end;
	json_t *j;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	sbuf_addf(&s, "%s %s HTTP/1.1\r\nHost: captain.example.test\r\nConnection: close\r\n%s",
		  method, path, headers ? headers : "");
	if (body) {
		sbuf_addf(&s, "Content-Length: %zu\r\n\r\n", body_len);
		sbuf_add(&s, body, body_len);
	} else {
		sbuf_addstr(&s, "\r\n");
	}
	CHECK(write(fd, s.buf, s.len) == (ssize_t)s.len);
	while (sbuf_read_once(&in, fd, 4096) > 0) {
	}
	close(fd);
	sbuf_init(&a->body, 0);
	a->status = in.len > 12 ? atoi(in.buf + 9) : 0;
	end = strstr(in.buf, "\r\n\r\n");
	if (end) {
		sbuf_addstr(&a->body, end + 4);
	}
	j = json_loads(a->body.buf, 0, NULL);
	a->cap = json_integer_value(json_object_get(j, "status"));
	json_decref(j);
	sbuf_release(&s);
	sbuf_release(&in);
}

/* A user with a session: its "x-captain-auth: TOKEN\r\n" line in h. */
static void user(struct store *s, const char *name, const char *role, const char *app_role,
		 struct sbuf *h)
{
	char tok[USERS_TOKEN_HEX + 1];
	struct err e = ERR_INIT;
	long long now = (long long)time(NULL);

	/* the hash is not checked here: a session is all the routes look at */
	CHECK_INT(
	    store_user_add(s, name, "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", role, now, &e),
	    0);
	if (app_role) {
		CHECK_INT(store_user_app_set(s, name, "shop", app_role, &e), 0);
	}
	CHECK_INT(users_session_start(s, name, now, tok, &e), 0);
	sbuf_addf(h, "x-captain-auth: %s\r\n", tok);
	err_release(&e);
}

static int count_src_dirs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		n += !strncmp(de->d_name, "src-", 4);
	}
	if (d) {
		closedir(d);
	}
	return n;
}

static void test_routes(void)
{
	struct store s = STORE_INIT;
	struct err e = ERR_INIT;
	struct sbuf admin = SBUF_INIT, deployer = SBUF_INIT, viewer = SBUF_INIT, h = SBUF_INIT,
		    tar = SBUF_INIT, b = SBUF_INIT, path = SBUF_INIT;
	char tok[USERS_TOKEN_HEX + 1], hash[USERS_TOKEN_HEX + 1];
	struct answer a;
	struct stat st;
	json_t *j;

	CHECK_INT(store_open(&s, root, &e), 0);
	CHECK_INT(store_app_create(&s, "shop", &e), 0);
	CHECK_INT(store_app_create(&s, "other", &e), 0);
	user(&s, "admin", "admin", NULL, &admin);
	user(&s, "dev", "user", "deployer", &deployer);
	user(&s, "eve", "user", "viewer", &viewer);
	CHECK_INT(users_token(tok, &e), 0);
	users_token_hash(tok, hash);
	CHECK_INT(store_prop_set(&s, "shop", CAPDEPLOY_TOKEN_PROP, hash, &e), 0);
	store_close(&s);

	/* the build's state: none yet */
	req("GET", "/api/v2/user/apps/appData/shop", admin.buf, NULL, 0, &a);
	CHECK_INT(a.status, 200);
	CHECK_INT(a.cap, 100);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(json_is_false(json_object_get(json_object_get(j, "data"), "isAppBuilding")));
	CHECK(json_is_false(json_object_get(json_object_get(j, "data"), "isBuildFailed")));
	CHECK_INT(json_integer_value(json_object_get(
		      json_object_get(json_object_get(j, "data"), "logs"), "firstLineNumber")),
		  -CAPDEPLOY_LOG_LINES);
	json_decref(j);
	sbuf_release(&a.body);
	/* who may: the deployer and the app's token; not the viewer, not the token elsewhere */
	req("GET", "/api/v2/user/apps/appData/shop", deployer.buf, NULL, 0, &a);
	CHECK_INT(a.cap, 100);
	sbuf_release(&a.body);
	req("GET", "/api/v2/user/apps/appData/shop", viewer.buf, NULL, 0, &a);
	CHECK_INT(a.cap, 1102);
	sbuf_release(&a.body);
	sbuf_addf(&h, "x-captain-app-token: %s\r\n", tok);
	req("GET", "/api/v2/user/apps/appData/shop", h.buf, NULL, 0, &a);
	CHECK_INT(a.cap, 100);
	sbuf_release(&a.body);
	req("GET", "/api/v2/user/apps/appData/other", h.buf, NULL, 0, &a);
	CHECK_INT(a.cap, 1102);
	sbuf_release(&a.body);
	req("GET", "/api/v2/user/apps/appData/shop", "x-captain-app-token: 1234\r\n", NULL, 0, &a);
	CHECK_INT(a.cap, 1102);
	sbuf_release(&a.body);
	req("GET", "/api/v2/user/apps/appData/shop", "x-captain-auth: 1234\r\n", NULL, 0, &a);
	CHECK_INT(a.cap, 1106);
	sbuf_release(&a.body);
	/* an app that does not exist */
	req("GET", "/api/v2/user/apps/appData/nope", admin.buf, NULL, 0, &a);
	CHECK_INT(a.cap, 1000);
	CHECK(strstr(a.body.buf, "App not found") != NULL);
	sbuf_release(&a.body);
	/* uploads refused: a "../x" tar, nothing written, no directory left */
	hdr(&tar, "../x", '0', NULL, "owned\n");
	tar_end(&tar);
	body_of(&tar, "", &b);
	sbuf_reset(&h);
	sbuf_addf(&h, "%sContent-Type: %s\r\n", admin.buf, ct);
	req("POST", "/api/v2/user/apps/appData/shop?detached=1", h.buf, b.buf, b.len, &a);
	CHECK_INT(a.cap, 1110);
	CHECK(strstr(a.body.buf, "../x") != NULL);
	sbuf_release(&a.body);
	sbuf_addf(&path, "%s/uploads/shop", root);
	CHECK_INT(count_src_dirs(path.buf), 0);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/uploads/x", root);
	CHECK(stat(path.buf, &st) < 0);
	/* a tar without a Dockerfile or captain-definition */
	sbuf_reset(&tar);
	sbuf_reset(&b);
	hdr(&tar, "README", '0', NULL, "hi\n");
	tar_end(&tar);
	body_of(&tar, "", &b);
	req("POST", "/api/v2/user/apps/appData/shop?detached=1", h.buf, b.buf, b.len, &a);
	CHECK_INT(a.cap, 1110);
	sbuf_release(&a.body);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/uploads/shop", root);
	CHECK_INT(count_src_dirs(path.buf), 0);
	/* the viewer may not upload; JSON without a definition; a body of another kind */
	sbuf_reset(&h);
	sbuf_addf(&h, "%sContent-Type: %s\r\n", viewer.buf, ct);
	req("POST", "/api/v2/user/apps/appData/shop?detached=1", h.buf, b.buf, b.len, &a);
	CHECK_INT(a.cap, 1102);
	sbuf_release(&a.body);
	sbuf_reset(&h);
	sbuf_addf(&h, "%sContent-Type: application/json\r\n", admin.buf);
	req("POST", "/api/v2/user/apps/appData/shop?detached=1", h.buf, "{\"gitHash\":\"\"}", 14,
	    &a);
	CHECK_INT(a.cap, 1110);
	CHECK(strstr(a.body.buf, "captainDefinitionContent") != NULL);
	sbuf_release(&a.body);
	req("POST", "/api/v2/user/apps/appData/shop?detached=1", h.buf,
	    "{\"captainDefinitionContent\":\"{\\\"schemaVersion\\\":2,\\\"imageName\\\":\\\"-x\\\"}"
	    "\"}",
	    strlen("{\"captainDefinitionContent\":\"{\\\"schemaVersion\\\":2,\\\"imageName\\\":"
		   "\\\"-x\\\"}\"}"),
	    &a);
	CHECK_INT(a.cap, 1110);
	CHECK(strstr(a.body.buf, "imageName") != NULL);
	sbuf_release(&a.body);
	sbuf_reset(&h);
	sbuf_addf(&h, "%sContent-Type: text/plain\r\n", admin.buf);
	req("POST", "/api/v2/user/apps/appData/shop", h.buf, "x", 1, &a);
	CHECK_INT(a.cap, 1110);
	sbuf_release(&a.body);
	/* register: admins create apps, once, with a valid name */
	sbuf_reset(&h);
	sbuf_addf(&h, "%sContent-Type: application/json\r\n", admin.buf);
	req("POST", "/api/v2/user/apps/appDefinitions/register", h.buf,
	    "{\"appName\":\"fresh\",\"hasPersistentData\":false}", 45, &a);
	CHECK_INT(a.cap, 100);
	sbuf_release(&a.body);
	req("POST", "/api/v2/user/apps/appDefinitions/register", h.buf,
	    "{\"appName\":\"fresh\",\"hasPersistentData\":false}", 45, &a);
	CHECK_INT(a.cap, 1103);
	sbuf_release(&a.body);
	req("POST", "/api/v2/user/apps/appDefinitions/register", h.buf, "{\"appName\":\"Fresh\"}",
	    19, &a);
	CHECK_INT(a.cap, 1104);
	sbuf_release(&a.body);
	req("GET", "/api/v2/user/apps/appData/fresh", admin.buf, NULL, 0, &a);
	CHECK_INT(a.cap, 100);
	sbuf_release(&a.body);
	sbuf_reset(&h);
	sbuf_addf(&h, "%sContent-Type: application/json\r\n", deployer.buf);
	req("POST", "/api/v2/user/apps/appDefinitions/register", h.buf, "{\"appName\":\"dev\"}", 17,
	    &a);
	CHECK_INT(a.cap, 1102);
	sbuf_release(&a.body);
	/* over the limit: 413 before a byte of the body */
	sbuf_reset(&h);
	sbuf_addf(&h, "%sContent-Type: %s\r\nContent-Length: 536870913\r\n\r\n", admin.buf, ct);
	req("POST", "/api/v2/user/apps/appData/shop", h.buf, NULL, 0, &a);
	CHECK_INT(a.status, 413);
	sbuf_release(&a.body);
	sbuf_release(&admin);
	sbuf_release(&deployer);
	sbuf_release(&viewer);
	sbuf_release(&h);
	sbuf_release(&tar);
	sbuf_release(&b);
	sbuf_release(&path);
	err_release(&e);
}

int main(void)
{
	static struct api api;
	static struct http_server srv;
	struct err e = ERR_INIT;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (!mkdtemp(root)) {
		return 1;
	}
	api.state_dir = root;
	srv.routes = api_routes;
	srv.nroutes = api_nroutes;
	srv.streams = capdeploy_stream_routes;
	srv.nstreams = capdeploy_nstream_routes;
	srv.data = &api;
	if (http_server_start(&srv, "127.0.0.1:0", &e) < 0) {
		printf("Bail out! %s\n", err_str(&e));
		return 1;
	}
	getsockname(srv.fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	UNIT_RUN(test_pipeline);
	UNIT_RUN(test_log_window);
	UNIT_RUN(test_routes);
	(void)file_remove_tree(root, &e);
	err_release(&e);
	return unit_done();
}
