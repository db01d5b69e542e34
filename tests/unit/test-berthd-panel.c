/*
 * Tests for berthd's panel pages (daemon/panel.c) over a real socket, with
 * a store in a temporary directory: 403 before set-up, 303 to /login
 * without a session (an API token is not one), names and versions
 * escaped, no config value on any page, a viewer's app page without a
 * change control, the security headers, and the assets with their types.
 * tests/e2e/t0320-berthd-panel-pages.sh runs berthd serve itself.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/csrf.h"
#include "daemon/datastore.h"
#include "daemon/oneclick.h"
#include "daemon/panel.h"
#include "daemon/paneloneclick.h"
#include "daemon/store.h"
#include "daemon/users.h"
#include "lib/file.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-panel-XXXXXX";
static int port;
static struct api api;

#define SECRET	"hunter2-never-on-a-page"
#define ODD_APP "x<b>&\"'y"
#define ODD_VER "v1<script>alert(1)</script>"

struct answer {
	int status;
	struct sbuf head, body;
};

static void answer_release(struct answer *a)
{
	sbuf_release(&a->head);
	sbuf_release(&a->body);
}

/*
 * One request on a new connection (closed after it); the answer's status,
 * head and body. body: a JSON body (NULL: none).
 */
static void reqm(const char *method, const char *path, const char *headers, const char *body,
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
		sbuf_addf(&s, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			  strlen(body), body);
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

static void req(const char *path, const char *headers, struct answer *a)
{
	reqm("GET", path, headers, NULL, a);
}

static bool has(const struct sbuf *sb, const char *s)
{
	return strstr(sb->buf, s) != NULL;
}

/* Whether html has an inline event handler attribute (on...="). */
static bool has_handler(const struct sbuf *html)
{
	for (const char *p = strstr(html->buf, " on"); p; p = strstr(p + 1, " on")) {
		const char *q = p + 3;

		while (*q >= 'a' && *q <= 'z') {
			q++;
		}
		if (q > p + 3 && *q == '=') {
			return true;
		}
	}
	return false;
}

/* A session of user, as a "Cookie: ...\r\n" line in out; token gets the session id. */
static void session(struct store *s, const char *user, struct sbuf *out, char *token)
{
	CHECK(users_session_start(s, user, (long long)time(NULL), token, NULL) == 0);
	sbuf_reset(out);
	sbuf_addf(out, "Cookie: berth_session=%s\r\n", token);
}

static struct sbuf admin = SBUF_INIT, viewer = SBUF_INIT, bearer = SBUF_INIT;
static char admin_session[USERS_TOKEN_HEX + 1];

static void test_before_setup(void)
{
	struct answer a;
	const char *pages[] = {"/", "/login", "/apps/shop", "/settings"};

	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		req(pages[i], NULL, &a);
		CHECK_INT(a.status, 403);
		CHECK(has(&a.body, "panel:setup-link"));
		answer_release(&a);
	}
	/* the assets need no set-up: they are the same for everyone */
	req("/assets/panel.css", NULL, &a);
	CHECK_INT(a.status, 200);
	answer_release(&a);
}

/* An admin, a viewer of shop, apps with odd names and versions, a secret, a token. */
/* A self-signed P-256 certificate for name ending in days, and its key, as PEM (malloc'd). */
static void make_cert(const char *name, long days, char **crt, char **key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ex;
	BIO *b = BIO_new(BIO_s_mem());
	char san[128], *data;
	long n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400 + 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", name);
	ex = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	X509_sign(x, k, EVP_sha256());
	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &data);
	*crt = strndup(data, (size_t)n);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &data);
	*key = strndup(data, (size_t)n);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_setup(void)
{
	struct store s = STORE_INIT;
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct store_token t = {0};
	char tok[USERS_TOKEN_HEX + 1], h[USERS_TOKEN_HEX + 1];
	long long id;

	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(store_setting_set(&s, "global-domain", "example.test", NULL) == 0);
	CHECK(store_user_add(&s, "admin", "x", "admin", 1, NULL) == 0);
	CHECK(store_user_add(&s, "vic", "x", "user", 1, NULL) == 0);
	CHECK(store_app_create(&s, "shop", NULL) == 0);
	CHECK(store_app_create(&s, "blog", NULL) == 0);
	CHECK(store_app_create(&s, ODD_APP, NULL) == 0);
	CHECK(store_user_app_set(&s, "vic", "shop", "viewer", NULL) == 0);
	{
		char *crt, *key;

		make_cert("shop.test", 3, &crt, &key);
		CHECK(store_prop_set(&s, "shop", "certs.crt", crt, NULL) == 0);
		CHECK(store_prop_set(&s, "shop", "certs.key", key, NULL) == 0);
		free(crt);
		free(key);
		CHECK(store_prop_set(&s, "blog", "letsencrypt.enabled", "1", NULL) == 0);
	}
	CHECK(store_key_add(&s, "laptop", "SHA256:abc", "ssh-ed25519 AAAAKEYLINE", false, NULL) ==
	      0);
	CHECK(store_right_grant(&s, "laptop", "shop", "deploy", NULL) == 0);
	strvec_push(&names, "SECRET_KEY");
	strvec_push(&values, SECRET);
	CHECK(store_config_set(&s, "shop", &names, &values, NULL) == 0);
	CHECK(store_config_set(&s, ODD_APP, &names, &values, NULL) == 0);
	CHECK(store_release_add(&s, "shop", "v1", "shop:v1", NULL, "deployed", &id, NULL) == 0);
	CHECK(store_release_add(&s, "shop", "v2", "shop:v2", NULL, "deployed", &id, NULL) == 0);
	CHECK(store_release_add(&s, ODD_APP, ODD_VER, "img<i>", NULL, "deployed", &id, NULL) == 0);
	CHECK(store_domain_add(&s, "shop", "shop.example.test", NULL) == 0);
	session(&s, "admin", &admin, admin_session);
	session(&s, "vic", &viewer, tok);
	/* an API token of the admin's: not a page session */
	CHECK(users_token(tok, NULL) == 0);
	users_token_hash(tok, h);
	t.user = "admin";
	t.name = "ci";
	t.created = 1;
	CHECK(store_token_add(&s, h, &t, NULL) == 0);
	sbuf_addf(&bearer, "Authorization: Bearer %s\r\n", tok);
	store_close(&s);
	strvec_clear(&names);
	strvec_clear(&values);
}

static void test_no_session(void)
{
	struct answer a;
	const char *pages[] = {"/", "/apps/shop", "/apps/nope", "/settings"};
	const char *creds[] = {NULL, "Cookie: berth_session=0123abcd\r\n", bearer.buf};

	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		for (size_t k = 0; k < sizeof(creds) / sizeof(creds[0]); k++) {
			req(pages[i], creds[k], &a);
			CHECK_INT(a.status, 303);
			CHECK(has(&a.head, "\r\nLocation: /login\r\n"));
			CHECK(!has(&a.body, "SECRET_KEY"));
			answer_release(&a);
		}
	}
	req("/login", NULL, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<form id=\"login\""));
	CHECK(has(&a.body, "<p class=\"field\" id=\"otp-row\" hidden>"));
	CHECK(has(&a.body, "<p id=\"login-error\" class=\"error\" role=\"alert\">"));
	answer_release(&a);
	/* logged in already: on to the apps */
	req("/login", admin.buf, &a);
	CHECK_INT(a.status, 303);
	CHECK(has(&a.head, "\r\nLocation: /\r\n"));
	answer_release(&a);
	/* a path no route has is still 404, not a page */
	req("/nothing-here", admin.buf, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
}

static void test_escaping(void)
{
	struct answer a;
	const char *pages[] = {"/", "/apps/shop", "/apps/x%3Cb%3E", "/settings", "/login"};

	req("/", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<tr data-app=\"shop\">"));
	CHECK(has(&a.body, "<tr data-app=\"x&lt;b&gt;&amp;&quot;&#39;y\">"));
	CHECK(!has(&a.body, "<b>"));
	CHECK(has(&a.body, "v1&lt;script&gt;alert(1)&lt;/script&gt;"));
	CHECK(!has(&a.body, "<script>alert"));
	CHECK(has(&a.body, "<a href=\"/apps/shop\">shop</a>"));
	answer_release(&a);
	req("/apps/shop", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<main id=\"app\" data-app=\"shop\">"));
	CHECK(has(&a.body, "<tr data-version=\"v2\" class=\"current\">"));
	CHECK(has(&a.body, "<tr data-version=\"v1\">"));
	CHECK(has(&a.body, "<li data-key=\"SECRET_KEY\">"));
	CHECK(has(&a.body, "<li data-domain=\"shop.example.test\">"));
	answer_release(&a);
	/* no page ever shows a config value */
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		req(pages[i], admin.buf, &a);
		CHECK(!has(&a.body, SECRET));
		answer_release(&a);
		req(pages[i], viewer.buf, &a);
		CHECK(!has(&a.body, SECRET));
		answer_release(&a);
	}
}

/* The page's change controls, all of which a viewer must not get. */
static const char *controls[] = {
    "id=\"env-form\"",	  "id=\"env-key\"",	 "id=\"env-value\"",	    "id=\"env-save\"",
    "id=\"domain-form\"", "id=\"domain\"",	 "id=\"domain-add\"",	    "id=\"https\"",
    "id=\"deploy-form\"", "id=\"deploy-file\"",	 "id=\"deploy-image\"",	    "id=\"deploy-submit\"",
    "class=\"rollback\"", "class=\"env-unset\"", "class=\"domain-remove\"", "id=\"scale-form\"",
};

static void test_viewer(void)
{
	struct answer a, missing;

	req("/apps/shop", admin.buf, &a);
	CHECK_INT(a.status, 200);
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++) {
		CHECK(has(&a.body, controls[i]));
	}
	CHECK(has(&a.body, "<button type=\"button\" class=\"rollback\" data-version=\"v1\">"));
	CHECK(!has(&a.body, "class=\"rollback\" data-version=\"v2\""));
	CHECK(has(&a.body, "<pre id=\"job-log\" aria-live=\"polite\""));
	CHECK(has(&a.body, "<p id=\"job-state\">"));
	answer_release(&a);
	req("/apps/shop", viewer.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<section id=\"versions\""));
	CHECK(has(&a.body, "<section id=\"resources\""));
	CHECK(has(&a.body, "<dt>Memory</dt><dd>no limit</dd>"));
	CHECK(has(&a.body, "<li data-key=\"SECRET_KEY\">"));
	CHECK(has(&a.body, "<tr data-version=\"v1\">"));
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++) {
		if (has(&a.body, controls[i])) {
			printf("#   a viewer's page has %s\n", controls[i]);
		}
		CHECK(!has(&a.body, controls[i]));
	}
	/* the one form a viewer gets searches the logs; it changes nothing */
	CHECK(has(&a.body, "<form id=\"logs-form\""));
	{
		const char *f = strstr(a.body.buf, "<form");
		CHECK(f && !strncmp(f, "<form id=\"logs-form\"", 20) && !strstr(f + 1, "<form"));
	}
	answer_release(&a);
	/* an app the viewer may not read looks like one that does not exist */
	req("/apps/blog", viewer.buf, &a);
	req("/apps/nope", viewer.buf, &missing);
	CHECK_INT(a.status, 404);
	CHECK_INT(missing.status, 404);
	CHECK(!has(&a.body, "blog"));
	answer_release(&a);
	answer_release(&missing);
	/* the dashboard lists what the user may read; the users section is an admin's */
	req("/", viewer.buf, &a);
	CHECK(has(&a.body, "data-app=\"shop\""));
	CHECK(!has(&a.body, "data-app=\"blog\""));
	CHECK(!has(&a.body, "id=\"app-create\""));
	/* the certificates of the apps the user may see: shop's ends in 3 days, flagged */
	CHECK(has(&a.body, "<tr data-cert-app=\"shop\">"));
	CHECK(has(&a.body, "<td data-label=\"Names\">shop.test</td><td data-label=\"Ends\" "
			   "class=\"warn\">"));
	CHECK(has(&a.body, "(in 3 days)</td>"));
	CHECK(!has(&a.body, "data-cert-app=\"blog\""));
	CHECK(!has(&a.body, "PRIVATE KEY"));
	answer_release(&a);
	req("/", admin.buf, &a);
	CHECK(has(&a.body, "<tr data-cert-app=\"blog\">"));
	CHECK(has(&a.body, "Let's Encrypt (ACME)"));
	CHECK(!has(&a.body, "PRIVATE KEY"));
	answer_release(&a);
	req("/settings", viewer.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<section id=\"twofa\""));
	CHECK(has(&a.body, "<section id=\"tokens\""));
	CHECK(!has(&a.body, "<section id=\"users\""));
	answer_release(&a);
	req("/settings", admin.buf, &a);
	CHECK(has(&a.body, "<section id=\"users\""));
	CHECK(has(&a.body, "<tr data-user=\"vic\">"));
	CHECK(has(&a.body, "<tr data-token=\"ci\">"));
	CHECK(has(&a.body, "id=\"totp-begin\""));
	CHECK(has(&a.body, "<ul id=\"recovery-codes\""));
	/* the server: its root domain and the SSH keys with their rights, never a key's line */
	CHECK(has(&a.body, "<section id=\"server\""));
	CHECK(has(&a.body, "<code>berth.example.test</code>"));
	CHECK(has(&a.body, "<tr data-key-name=\"laptop\"><td data-label=\"Name\">laptop</td>"
			   "<td data-label=\"Fingerprint\"><code>SHA256:abc</code></td>"
			   "<td data-label=\"Rights\">shop: deploy <button type=\"button\" "
			   "class=\"grant-revoke\" data-key-name=\"laptop\" data-app=\"shop\">"));
	CHECK(has(&a.body, "<button type=\"button\" class=\"key-remove\" "
			   "data-key-name=\"laptop\">Remove"));
	/* editable: the root domain and the keys, through /api/v1/server */
	CHECK(has(&a.body, "<form id=\"root-domain-form\">"));
	CHECK(has(&a.body, "value=\"example.test\">"));
	CHECK(has(&a.body, "reached as APP.DOMAIN from their next deploy"));
	CHECK(has(&a.body, "<form id=\"key-form\">"));
	CHECK(has(&a.body, "<textarea id=\"key-text\""));
	CHECK(has(&a.body, "<form id=\"grant-form\">"));
	CHECK(!has(&a.body, "AAAAKEYLINE"));
	answer_release(&a);
	req("/settings", viewer.buf, &a);
	CHECK(!has(&a.body, "<section id=\"server\""));
	answer_release(&a);
}

/* The dashboard's datastores, for admins: the last verified backup, flagged when old or none. */
static void test_datastores(void)
{
	struct store s = STORE_INIT;
	struct answer a;
	char *pw = NULL;

	req("/", admin.buf, &a);
	CHECK(has(&a.body, "<section id=\"datastores\""));
	CHECK(has(&a.body, "<p id=\"datastores-empty\">"));
	answer_release(&a);
	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(datastore_add(&s, "postgres", "fresh", "postgres:16", "pw-never-shown-1", NULL) == 0);
	CHECK(datastore_add(&s, "postgres", "old", "postgres:16", "pw-never-shown-2", NULL) == 0);
	CHECK(datastore_add(&s, "redis", "c<b>", "redis:7", "pw-never-shown-3", NULL) == 0);
	CHECK(datastore_link(&s, "postgres", "fresh", "shop", NULL) == 1);
	CHECK(datastore_backup_password(&s, "postgres", "fresh", "restic-never-shown", &pw, NULL) ==
	      1);
	free(pw);
	CHECK(datastore_backup_verified(&s, "postgres", "fresh", (long long)time(NULL) - 3600,
					"1a2b3c4d", NULL) == 0);
	CHECK(datastore_backup_password(&s, "postgres", "old", "restic-never-shown", &pw, NULL) ==
	      1);
	free(pw);
	CHECK(datastore_backup_verified(&s, "postgres", "old", (long long)time(NULL) - 3 * 86400,
					"5e6f7a8b", NULL) == 0);
	store_close(&s);

	req("/", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<table id=\"datastores-table\" class=\"stack\">\n<caption>"));
	CHECK(has(&a.body, "<th scope=\"col\">Last verified backup</th>"));
	/* a day old: not flagged; three days: flagged; never: flagged */
	CHECK(has(&a.body, "<tr data-datastore=\"postgres:fresh\"><td data-label=\"Datastore\">"
			   "postgres fresh</td><td data-label=\"Image\">postgres:16</td>"
			   "<td data-label=\"Linked apps\">shop</td>"
			   "<td data-label=\"Last verified backup\">"));
	CHECK(has(&a.body, " (snapshot 1a2b3c4d)</td></tr>"));
	CHECK(has(&a.body, "<td data-label=\"Linked apps\">none</td><td data-label=\"Last "
			   "verified backup\" class=\"warn\">"));
	CHECK(has(&a.body, "(snapshot 5e6f7a8b), older than 2 days</td>"));
	CHECK(has(&a.body, "<tr data-datastore=\"redis:c&lt;b&gt;\">"));
	CHECK(has(&a.body, "class=\"warn\">never backed up</td>"));
	CHECK(!has(&a.body, "<b>"));
	CHECK(!has(&a.body, "pw-never-shown") && !has(&a.body, "restic-never-shown"));
	answer_release(&a);
	/* not a viewer's */
	req("/", viewer.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(!has(&a.body, "id=\"datastores\"") && !has(&a.body, "postgres"));
	answer_release(&a);
	CHECK(store_open(&s, dir, NULL) == 0);
	CHECK(datastore_remove(&s, "postgres", "fresh", NULL) == 0);
	CHECK(datastore_remove(&s, "postgres", "old", NULL) == 0);
	CHECK(datastore_remove(&s, "redis", "c<b>", NULL) == 0);
	store_close(&s);
}

/* The dashboard's Host section: doctor's cached verdicts, for admins, details escaped. */
static void test_host(void)
{
	struct answer a;
	struct sbuf path = SBUF_INIT;
	const char *doc =
	    "{\"checked_at\": \"2026-01-02T03:04:05Z\", \"host\": \"h\", \"status\": \"fail\",\n"
	    " \"checks\": [{\"name\": \"disk\", \"status\": \"fail\", \"detail\": \"<b>3%</b> & "
	    "\\\"low\\\"\"},\n"
	    " {\"name\": \"memory\", \"status\": \"warn\", \"detail\": \"tight\"},\n"
	    " {\"name\": \"load<i>\", \"status\": \"ok\", \"detail\": \"0.1\"},\n"
	    " {\"name\": \"odd\", \"status\": \"<script>\", \"detail\": \"x\"},\n"
	    " {\"status\": \"ok\"}]}\n";

	req("/", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<section id=\"host\" aria-labelledby=\"host-h\">"));
	CHECK(has(&a.body, "<p id=\"host-checked\">Not checked yet.</p>"));
	CHECK(has(&a.body, "<button type=\"button\" id=\"host-check\">Check now</button>"));
	answer_release(&a);
	sbuf_addf(&path, "%s/doctor.json", dir);
	CHECK(file_write_atomic(path.buf, doc, strlen(doc), 0644, NULL) == 0);
	req("/", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "Checked at <time datetime=\"2026-01-02T03:04:05Z\">"
			   "2026-01-02T03:04:05Z</time>: fail</p>"));
	CHECK(has(&a.body,
		  "<tr data-check=\"disk\"><td data-label=\"Check\">disk</td>"
		  "<td data-label=\"Verdict\" class=\"verdict-fail\">fail</td>"
		  "<td data-label=\"Detail\">&lt;b&gt;3%&lt;/b&gt; &amp; &quot;low&quot;</td>"));
	CHECK(has(&a.body, "class=\"verdict-warn\">warn</td>"));
	CHECK(has(&a.body, "<tr data-check=\"load&lt;i&gt;\">"));
	CHECK(!has(&a.body, "<b>3%"));
	CHECK(!has(&a.body, "data-check=\"odd\""));
	CHECK(!has(&a.body, "<script>"));
	answer_release(&a);
	/* not a viewer's */
	req("/", viewer.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(!has(&a.body, "id=\"host\""));
	CHECK(!has(&a.body, "disk"));
	answer_release(&a);
	/* a file that is not a report: said so, the page still served */
	CHECK(file_write_atomic(path.buf, "{\"x\":1}", 7, 0644, NULL) == 0);
	req("/", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "The last check of the host cannot be read."));
	answer_release(&a);
	unlink(path.buf);
	sbuf_release(&path);
}

static void test_headers(void)
{
	const char *pages[] = {"/",	    "/apps/shop", "/apps/nope",
			       "/settings", "/login",	  "/oneclick?template=redis"};
	struct sbuf meta = SBUF_INIT;
	struct answer a;

	sbuf_addstr(&meta, "<meta name=\"csrf-token\" content=\"");
	CHECK(csrf_token(&meta, api.csrf_key, sizeof(api.csrf_key), admin_session, "api") == 0);
	sbuf_addstr(&meta, "\">");
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		const char *p;

		req(pages[i], admin.buf, &a);
		CHECK(a.status == 200 || a.status == 404 || a.status == 303);
		CHECK(has(&a.head, "\r\nContent-Security-Policy: default-src 'self'; "
				   "frame-ancestors 'none'\r\n"));
		CHECK(has(&a.head, "\r\nX-Content-Type-Options: nosniff\r\n"));
		CHECK(has(&a.head, "\r\nReferrer-Policy: same-origin\r\n"));
		CHECK(has(&a.head, "\r\nCache-Control: no-store\r\n"));
		if (a.status == 303) {
			answer_release(&a);
			continue;
		}
		CHECK(has(&a.head, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
		CHECK(has(&a.body, "<html lang=\"en\">"));
		CHECK(has(&a.body, "<title>"));
		if (i < 4 || i == 5) {
			CHECK(has(&a.body, meta.buf));
			CHECK(has(&a.body, "<a id=\"nav-settings\" href=\"/settings\">"));
			CHECK(has(&a.body, "<button id=\"logout\" type=\"button\">"));
		}
		/* no inline script or style: every script has a src */
		for (p = strstr(a.body.buf, "<script"); p; p = strstr(p + 1, "<script")) {
			CHECK(!strncmp(p, "<script src=\"/assets/panel.js?v=", 32));
		}
		CHECK(!has(&a.body, " style="));
		CHECK(!has(&a.body, "<style"));
		CHECK(!has_handler(&a.body));
		answer_release(&a);
	}
	sbuf_release(&meta);
}

static void test_assets(void)
{
	struct answer a;
	struct sbuf link = SBUF_INIT;
	const char *names[] = {"panel.css", "panel.js", "favicon.svg"};
	const char *types[] = {"text/css; charset=utf-8", "text/javascript; charset=utf-8",
			       "image/svg+xml"};

	for (size_t i = 0; i < 3; i++) {
		const char *type = NULL, *text = panel_asset(names[i], &type);
		char v[17];

		CHECK(text != NULL && strlen(text) > 100);
		CHECK_STR(type, types[i]);
		panel_asset_version(text, v);
		CHECK_INT(strlen(v), 16);
		sbuf_reset(&link);
		sbuf_addf(&link, "/assets/%s?v=%s", names[i], v);
		req(link.buf, NULL, &a);
		CHECK_INT(a.status, 200);
		CHECK(has(&a.head, types[i]));
		CHECK(has(&a.head, "\r\nCache-Control: public, max-age=31536000, immutable\r\n"));
		CHECK(!has(&a.head, "no-store"));
		CHECK(has(&a.head, "\r\nX-Content-Type-Options: nosniff\r\n"));
		CHECK_STR(a.body.buf, text);
		answer_release(&a);
		/* the pages link this very version */
		req("/", admin.buf, &a);
		CHECK(has(&a.body, link.buf));
		answer_release(&a);
	}
	CHECK(panel_asset("nope.js", &names[0]) == NULL);
	req("/assets/nope.js", NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	req("/assets/", NULL, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	sbuf_release(&link);
}

/* ---- one-click apps (daemon/paneloneclick.c) ---- */

static void test_oneclick_page(void)
{
	struct answer a;
	const char *creds[] = {NULL, "Cookie: berth_session=0123abcd\r\n", bearer.buf};

	req("/", admin.buf, &a);
	CHECK(has(&a.body, "<a id=\"nav-oneclick\" href=\"/oneclick\">One-click apps</a>"));
	answer_release(&a);
	req("/", viewer.buf, &a);
	CHECK(!has(&a.body, "nav-oneclick"));
	answer_release(&a);
	req("/oneclick", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<main id=\"oneclick\">"));
	CHECK(has(&a.body, "<li data-template=\"redis\"><span><a href=\"/oneclick?template=redis\">"
			   "Redis</a>"));
	CHECK(has(&a.body, "<li data-template=\"postgres\">"));
	CHECK(has(&a.body, "<label for=\"oneclick-yaml\">"));
	CHECK(has(&a.body, "<textarea id=\"oneclick-yaml\""));
	CHECK(has(&a.body, "<label for=\"oneclick-file\">"));
	CHECK(has(&a.body, "<input id=\"oneclick-file\" type=\"file\""));
	CHECK(has(&a.body, "<div id=\"oneclick-chosen\" hidden></div>"));
	CHECK(has(&a.body, "<pre id=\"job-log\" aria-live=\"polite\""));
	CHECK(!has(&a.body, "<form id=\"oneclick-form\""));
	answer_release(&a);
	req("/oneclick?template=redis", admin.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.body, "<form id=\"oneclick-form\" data-template=\"redis\">"));
	CHECK(has(&a.body, "<label for=\"oc-var-0\">App name</label>"));
	CHECK(has(&a.body, "<label for=\"oc-var-1\">Redis version</label>"));
	CHECK(has(&a.body, "data-var=\"$$cap_redis_version\" aria-describedby=\"oc-var-1-hint\" "
			   "autocomplete=\"off\" autocapitalize=\"none\" spellcheck=\"false\" "
			   "value=\"7\">"));
	/* the random default is made at deploy, never here, and a secret is not prefilled */
	CHECK(has(&a.body, "<input id=\"oc-var-2\" data-var=\"$$cap_redis_password\" "
			   "aria-describedby=\"oc-var-2-hint\" type=\"password\" "
			   "autocomplete=\"new-password\">"));
	CHECK(has(&a.body, "Empty: generated at deploy."));
	CHECK(!has(&a.body, "value=\"$$cap_gen"));
	CHECK(!has(&a.body, " pattern=")); /* redis' regexes are not the browser's */
	CHECK(has(&a.body,
		  "<p id=\"oneclick-error\" class=\"error\" role=\"alert\" tabindex=\"-1\">"));
	answer_release(&a);
	req("/oneclick?template=postgres", admin.buf, &a);
	CHECK(has(&a.body, " pattern=\"^[a-z_][a-z0-9_]{0,62}$\" value=\"app\">"));
	CHECK(has(&a.body, " pattern=\"^\\S{12,}$\">"));
	answer_release(&a);
	req("/oneclick?template=nope", admin.buf, &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	/* a non-admin gets a 403 page, without the form */
	req("/oneclick?template=redis", viewer.buf, &a);
	CHECK_INT(a.status, 403);
	CHECK(has(&a.body, "Only an admin may deploy one-click apps."));
	CHECK(!has(&a.body, "oneclick-form"));
	CHECK(!has(&a.body, "oneclick-yaml"));
	answer_release(&a);
	for (size_t k = 0; k < sizeof(creds) / sizeof(creds[0]); k++) {
		req("/oneclick", creds[k], &a);
		CHECK_INT(a.status, 303);
		CHECK(has(&a.head, "\r\nLocation: /login\r\n"));
		answer_release(&a);
	}
}

#define ODD_TEMPLATE                                                                               \
	"captainVersion: 4\n"                                                                      \
	"services:\n"                                                                              \
	"  $$cap_appname:\n"                                                                       \
	"    image: nginx\n"                                                                       \
	"caproverOneClickApp:\n"                                                                   \
	"  displayName: \"<script>alert(1)</script>\"\n"                                           \
	"  description: \"<img src=x onerror=alert(2)>\"\n"                                        \
	"  instructions:\n"                                                                        \
	"    start: \"</p><script>alert(3)</script>\"\n"                                           \
	"  variables:\n"                                                                           \
	"    - id: $$cap_greeting\n"                                                               \
	"      label: \"<script>alert(4)</script>\"\n"                                             \
	"      description: \"</span><script>alert(5)</script>\"\n"                                \
	"      defaultValue: '\"><script>alert(6)</script>'\n"

static void test_oneclick_escaping(void)
{
	struct oneclick t = ONECLICK_INIT;
	struct err e = ERR_INIT;
	struct sbuf html = SBUF_INIT, body = SBUF_INIT;
	struct answer a;
	json_t *j, *v;

	CHECK(oneclick_parse(&t, "odd", ODD_TEMPLATE, strlen(ODD_TEMPLATE), &e) == 0);
	paneloneclick_form_html(&html, &t, "x\"<y>");
	CHECK(!has(&html, "<script"));
	CHECK(!has(&html, "<img"));
	CHECK(!has(&html, "</p><"));
	CHECK(has(&html, "<h2 id=\"oneclick-chosen-h\" tabindex=\"-1\">&lt;script&gt;alert(1)&lt;/"
			 "script&gt;</h2>"));
	CHECK(has(&html, "&lt;img src=x onerror=alert(2)&gt;"));
	CHECK(has(&html, "&lt;/p&gt;&lt;script&gt;alert(3)"));
	CHECK(has(&html, "<label for=\"oc-var-1\">&lt;script&gt;alert(4)&lt;/script&gt;</label>"));
	CHECK(has(&html, "&lt;/span&gt;&lt;script&gt;alert(5)"));
	CHECK(has(&html, " value=\"&quot;&gt;&lt;script&gt;alert(6)&lt;/script&gt;\">"));
	CHECK(has(&html, "data-template=\"x&quot;&lt;y&gt;\""));
	/* the API gives the same texts as JSON, as written */
	v = json_pack("{s:s}", "yaml", ODD_TEMPLATE);
	{
		char *d = json_dumps(v, 0);
		sbuf_addstr(&body, d);
		free(d);
	}
	json_decref(v);
	reqm("POST", "/api/v1/oneclick/form", admin.buf, body.buf, &a);
	CHECK_INT(a.status, 200);
	CHECK(has(&a.head, "\r\nContent-Type: application/json"));
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "displayName")),
		  "<script>alert(1)</script>");
	v = json_array_get(json_object_get(j, "variables"), 1);
	CHECK_STR(json_string_value(json_object_get(v, "id")), "$$cap_greeting");
	CHECK_STR(json_string_value(json_object_get(v, "label")), "<script>alert(4)</script>");
	CHECK_STR(json_string_value(json_object_get(v, "prefill")), "\"><script>alert(6)</script>");
	CHECK(json_is_false(json_object_get(v, "secret")));
	CHECK(json_is_null(json_object_get(v, "regex")));
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "instructions"), "start")),
		  "</p><script>alert(3)</script>");
	json_decref(j);
	answer_release(&a);
	sbuf_release(&html);
	sbuf_release(&body);
	oneclick_release(&t);
	err_release(&e);
}

static void test_oneclick_api(void)
{
	struct answer a;
	json_t *j;

	reqm("GET", "/api/v1/oneclick/templates", viewer.buf, NULL, &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(j != NULL);
	{
		json_t *list = json_object_get(j, "templates"), *x;
		size_t i, found = 0;

		CHECK_INT(json_array_size(list), 4);
		json_array_foreach(list, i, x)
		{
			if (!strcmp(json_string_value(json_object_get(x, "name")), "redis")) {
				CHECK_STR(json_string_value(json_object_get(x, "displayName")),
					  "Redis");
				CHECK(strstr(json_string_value(json_object_get(x, "description")),
					     "key-value") != NULL);
				found++;
			}
		}
		CHECK_INT(found, 1);
	}
	json_decref(j);
	answer_release(&a);
	reqm("GET", "/api/v1/oneclick/templates", NULL, NULL, &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
	reqm("POST", "/api/v1/oneclick/form", viewer.buf, "{\"template\": \"redis\"}", &a);
	CHECK_INT(a.status, 200);
	j = json_loads(a.body.buf, 0, NULL);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "displayName")), "Redis");
	CHECK_STR(json_string_value(json_array_get(json_object_get(j, "services"), 0)),
		  "$$cap_appname");
	CHECK_INT(json_array_size(json_object_get(j, "variables")), 3);
	CHECK(json_is_true(
	    json_object_get(json_array_get(json_object_get(j, "variables"), 2), "secret")));
	CHECK_STR(json_string_value(json_object_get(
		      json_array_get(json_object_get(j, "variables"), 2), "default")),
		  "$$cap_gen_random_hex(32)");
	json_decref(j);
	answer_release(&a);
	/* a template that does not parse: 400 naming its line */
	reqm("POST", "/api/v1/oneclick/form", admin.buf,
	     "{\"yaml\": \"captainVersion: 4\\nservices:\\n  web:\\n    imagee: x\\n\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(has(&a.body, "the template, line 4, column 5: "));
	answer_release(&a);
	reqm("POST", "/api/v1/oneclick/form", admin.buf, "{\"yaml\": \"captainVersion: 3\"}", &a);
	CHECK_INT(a.status, 400);
	CHECK(has(&a.body, "line 1"));
	answer_release(&a);
	{
		const char *bad[] = {"{}", "{\"template\": 1}", "{\"yaml\": null}",
				     "{\"template\": \"redis\", \"yaml\": \"x\"}", "[]"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			reqm("POST", "/api/v1/oneclick/form", admin.buf, bad[i], &a);
			CHECK_INT(a.status, 400);
			CHECK(has(&a.body, "\"error\""));
			answer_release(&a);
		}
	}
	reqm("POST", "/api/v1/oneclick/form", admin.buf, "{\"template\": \"nope\"}", &a);
	CHECK_INT(a.status, 404);
	answer_release(&a);
	reqm("POST", "/api/v1/oneclick/form", NULL, "{\"template\": \"redis\"}", &a);
	CHECK_INT(a.status, 401);
	answer_release(&a);
}

static void test_oneclick_pattern(void)
{
	static const struct {
		const char *js, *pattern; /* NULL: none */
	} cases[] = {
	    {"/^[a-z_][a-z0-9_]{0,62}$/", "^[a-z_][a-z0-9_]{0,62}$"},
	    {"/^\\S{12,}$/", "^\\S{12,}$"},
	    {"/^\\d+$/", "^\\d+$"},
	    {"/^(\\w+\\.)*\\w+$/", "^(\\w+\\.)*\\w+$"},
	    {"/^[A-Za-z0-9.\\-]+$/", "^[A-Za-z0-9.\\-]+$"},
	    {"/^$/", "^$"},
	    {"/^x-y:z@1=2,3$/", "^x-y:z@1=2,3$"},
	    /* not the same in a browser's pattern (the v flag), or not sure: none */
	    {"/^([^\\s^\\/])+$/", NULL}, /* '^' inside a class */
	    {"/^[\\w.~-]{12,}$/", NULL}, /* a '-' at a class' end: a v-flag error */
	    {"/.{1,}/i", NULL},		 /* a flag */
	    {"/^a$/g", NULL},
	    {"/abc$/", NULL}, /* not anchored */
	    {"/^abc/", NULL},
	    {"/^a|b$/", NULL}, /* alternation */
	    {"/^a\\$/", NULL}, /* the end is an escaped $ */
	    {"/^(?:a)$/", NULL},
	    {"/^a+?$/", NULL},
	    {"/^*$/", NULL},
	    {"/^a**$/", NULL},
	    {"/^a{2}{3}$/", NULL},
	    {"/^a{x}$/", NULL},
	    {"/^a{5,2}$/", NULL},
	    {"/^a{1000}$/", NULL},
	    {"/^a{2,999}$/", "^a{2,999}$"},
	    {"/^(a$/", NULL},
	    {"/^a)$/", NULL},
	    {"/^[]$/", NULL},
	    {"/^[a-]$/", NULL},
	    {"/^[z-a]$/", NULL},
	    {"/^[A-z]$/", NULL},
	    {"/^[a--]$/", NULL},
	    {"/^[..]$/", NULL},
	    {"/^\\-$/", NULL}, /* an identity escape the u and v flags refuse */
	    {"/^\\b$/", NULL},
	    {"/^ $/", NULL},
	    {"/^\"$/", NULL},
	    {"^a$", NULL},
	    {"/", NULL},
	    {"", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = paneloneclick_pattern(cases[i].js);

		if (!cases[i].pattern) {
			if (p) {
				printf("#   %s gave %s\n", cases[i].js, p);
			}
			CHECK(p == NULL);
		} else {
			CHECK(p != NULL);
			CHECK_STR(p ? p : "(none)", cases[i].pattern);
		}
		free(p);
	}
	CHECK(paneloneclick_pattern(NULL) == NULL);
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
	UNIT_RUN(test_setup);
	UNIT_RUN(test_no_session);
	UNIT_RUN(test_escaping);
	UNIT_RUN(test_viewer);
	UNIT_RUN(test_datastores);
	UNIT_RUN(test_host);
	UNIT_RUN(test_headers);
	UNIT_RUN(test_assets);
	UNIT_RUN(test_oneclick_page);
	UNIT_RUN(test_oneclick_escaping);
	UNIT_RUN(test_oneclick_api);
	UNIT_RUN(test_oneclick_pattern);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	sbuf_release(&admin);
	sbuf_release(&viewer);
	sbuf_release(&bearer);
	return unit_done();
}
