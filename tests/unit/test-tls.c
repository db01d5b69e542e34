#include "proxy/tls.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "unit.h"
#include "lib/banned.h"

/* ---- keys and certificates made here ---- */

static EVP_PKEY *ca_key, *ec_key, *ec_key2, *rsa_key, *other_key;
static X509 *ca, *leaf, *leaf2, *rsa_leaf, *rsa_a, *def_leaf, *expired, *chal;
static char tmpdir[64];

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	if (!ex) {
		abort();
	}
	X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
}

/* A certificate for key signed by issuer (self-signed when issuer is NULL: a CA). */
static X509 *mk_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
		     EVP_PKEY *issuer_key, long from_s, long to_s, long serial, const char *ocsp)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX v3;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	if (issuer) {
		add_ext(x, &v3, NID_basic_constraints, "CA:FALSE");
		add_ext(x, &v3, NID_authority_key_identifier, "keyid");
		add_ext(x, &v3, NID_ext_key_usage, "serverAuth");
	} else {
		add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
	}
	if (san) {
		add_ext(x, &v3, NID_subject_alt_name, san);
	}
	if (ocsp) {
		add_ext(x, &v3, NID_info_access, ocsp);
	}
	if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
		abort();
	}
	return x;
}

static STACK_OF(X509) * ca_chain(void)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	X509_up_ref(ca);
	sk_X509_push(sk, ca);
	return sk;
}

static struct tls_cert *cert_of(X509 *x, EVP_PKEY *k)
{
	STACK_OF(X509) *chain = ca_chain();
	struct err e = ERR_INIT;
	struct tls_cert *c = tls_cert_new(x, k, chain, &e);

	if (!c) {
		printf("# tls_cert_new: %s\n", err_str(&e));
		abort();
	}
	sk_X509_pop_free(chain, X509_free);
	err_release(&e);
	return c;
}

static void setup(void)
{
	ca_key = EVP_EC_gen("P-256");
	ec_key = EVP_EC_gen("P-256");
	ec_key2 = EVP_EC_gen("P-384");
	other_key = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	ca = mk_cert(ca_key, "test CA", NULL, NULL, NULL, -3600, 86400, 1, NULL);
	leaf =
	    mk_cert(ec_key, "a.test", "DNS:a.test,DNS:*.w.test", ca, ca_key, -3600, 86400, 2, NULL);
	leaf2 = mk_cert(ec_key2, "a.test", "DNS:a.test", ca, ca_key, -3600, 86400, 3, NULL);
	rsa_leaf = mk_cert(rsa_key, "r.test", "DNS:r.test", ca, ca_key, -3600, 86400, 4, NULL);
	rsa_a = mk_cert(rsa_key, "a.test", "DNS:a.test", ca, ca_key, -3600, 86400, 8, NULL);
	def_leaf =
	    mk_cert(ec_key, "default.test", "DNS:default.test", ca, ca_key, -3600, 86400, 5, NULL);
	expired = mk_cert(ec_key, "old.test", "DNS:old.test", ca, ca_key, -7200, -3600, 6, NULL);
	chal = mk_cert(other_key, "a.test", "DNS:a.test", NULL, NULL, -3600, 86400, 7, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-tls.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		abort();
	}
}

static void teardown(void)
{
	X509 *xs[] = {ca, leaf, leaf2, rsa_leaf, rsa_a, def_leaf, expired, chal};
	EVP_PKEY *ks[] = {ca_key, ec_key, ec_key2, rsa_key, other_key};
	size_t i;
	pid_t pid;

	for (i = 0; i < sizeof(xs) / sizeof(*xs); i++) {
		X509_free(xs[i]);
	}
	for (i = 0; i < sizeof(ks) / sizeof(*ks); i++) {
		EVP_PKEY_free(ks[i]);
	}
	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", tmpdir, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

/*
 * A server whose store has leaf (a.test, *.w.test), rsa_leaf (r.test) and
 * expired (old.test), and optionally def_leaf as the default.
 */
static struct tls_server *server(bool http2, bool with_default, tls_challenge_fn *hook)
{
	struct tls_server_opts o = {.http2 = http2, .challenge = hook};
	struct err e = ERR_INIT;
	struct tls_server *srv = tls_server_new(&o, &e);
	struct tls_store *s = tls_store_new();
	struct tls_cert *c;

	if (!srv) {
		printf("# tls_server_new: %s\n", err_str(&e));
		abort();
	}
	c = cert_of(leaf, ec_key);
	tls_store_add(s, c);
	tls_cert_unref(c);
	c = cert_of(rsa_leaf, rsa_key);
	tls_store_add(s, c);
	tls_cert_unref(c);
	c = cert_of(expired, ec_key);
	tls_store_add(s, c);
	tls_cert_unref(c);
	if (with_default) {
		c = cert_of(def_leaf, ec_key);
		tls_store_set_default(s, c);
		tls_cert_unref(c);
	}
	tls_server_publish(srv, s);
	err_release(&e);
	return srv;
}

/* ---- a client on one end of a socketpair, conn_io_tls on the other ---- */

struct pair {
	struct conn c;
	SSL *cl;
	int cfd;
	bool client_failed;
	unsigned long client_err;
};

static SSL_CTX *client_ctx(int minv, int maxv, const char *ciphers)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	SSL_CTX_set_min_proto_version(ctx, minv);
	SSL_CTX_set_max_proto_version(ctx, maxv);
	if (ciphers) {
		SSL_CTX_set_cipher_list(ctx, ciphers);
	}
	/* no client cache: it would retire a TLS 1.3 session once used */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static void pair_open(struct pair *p, struct tls_server *srv, SSL_CTX *cctx, const char *sni,
		      const char *alpn_wire, SSL_SESSION *sess)
{
	int fds[2];

	memset(p, 0, sizeof(*p));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0) {
		abort();
	}
	p->c.fd = fds[0];
	p->cfd = fds[1];
	if (tls_conn_attach(srv, &p->c) < 0) {
		abort();
	}
	p->cl = SSL_new(cctx);
	SSL_set_fd(p->cl, fds[1]);
	SSL_set_connect_state(p->cl);
	if (sni) {
		SSL_set_tlsext_host_name(p->cl, sni);
	}
	if (alpn_wire) {
		SSL_set_alpn_protos(p->cl, (const unsigned char *)alpn_wire,
				    (unsigned)strlen(alpn_wire));
	}
	if (sess) {
		SSL_set_session(p->cl, sess);
	}
}

static void pair_close(struct pair *p)
{
	conn_io_tls.close(&p->c);
	/* as a browser does: close without close_notify, the session kept */
	SSL_set_shutdown(p->cl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(p->cl);
	close(p->cfd);
}

static bool client_step(struct pair *p)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(p->cl);
	if (r == 1) {
		return true;
	}
	r = SSL_get_error(p->cl, r);
	if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE) {
		p->client_failed = true;
		p->client_err = ERR_peek_error();
	}
	ERR_clear_error();
	return false;
}

/* Runs both sides until both are done (0) or one failed (-1). */
static int pair_handshake(struct pair *p)
{
	bool cdone = false, sdone = false;
	int i;

	for (i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone) {
			cdone = client_step(p);
			if (p->client_failed) {
				return -1;
			}
		}
		if (!sdone) {
			enum tls_hs h = tls_handshake(&p->c);

			if (h == TLS_HS_FAILED) {
				client_step(p); /* reads the alert */
				return -1;
			}
			sdone = h == TLS_HS_DONE;
		}
	}
	return cdone && sdone ? 0 : -1;
}

/* Reads what the client has now into sb; returns SSL_read's last result. */
static int client_drain(struct pair *p, struct sbuf *sb)
{
	char buf[8192];
	int n;

	while ((n = SSL_read(p->cl, buf, sizeof(buf))) > 0) {
		sbuf_add(sb, buf, (size_t)n);
	}
	return n;
}

static bool served(struct pair *p, X509 *want)
{
	X509 *got = SSL_get0_peer_certificate(p->cl);

	return got && !X509_cmp(got, want);
}

/* A handshake with these settings; returns the pair, ready or failed (*ok). */
static bool try_handshake(struct tls_server *srv, SSL_CTX *cctx, const char *sni, const char *alpn,
			  X509 *want)
{
	struct pair p;
	bool ok;

	pair_open(&p, srv, cctx, sni, alpn, NULL);
	ok = pair_handshake(&p) == 0 && (!want || served(&p, want));
	pair_close(&p);
	return ok;
}

/* ---- tests ---- */

static void test_handshake_and_data(void)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct pair p;
	struct sbuf got = SBUF_INIT;
	char *big = xmalloc(100000), buf[256];
	size_t sent = 0, i, total = 0;
	int eagain = 0, rounds;
	ssize_t n;
	int small = 4096;

	for (i = 0; i < 100000; i++) {
		big[i] = (char)('a' + i % 26);
	}
	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK(served(&p, leaf));
	CHECK_INT(SSL_get_verify_result(p.cl), X509_V_OK);
	CHECK_INT(SSL_version(p.cl), TLS1_3_VERSION);
	CHECK_STR(tls_conn_sni(&p.c), "a.test");
	CHECK_STR(tls_conn_alpn(&p.c), "");

	/* client to server */
	CHECK_INT(SSL_write(p.cl, "hello", 5), 5);
	n = conn_io_tls.read(&p.c, buf, sizeof(buf));
	CHECK_INT(n, 5);
	CHECK(!memcmp(buf, "hello", 5));
	n = conn_io_tls.read(&p.c, buf, sizeof(buf));
	CHECK(n < 0 && errno == EAGAIN);
	CHECK_INT(tls_conn_waits(&p.c), CONN_F_CAN_READ);

	/*
	 * Server to client, more than 64 KB through small socket buffers, so
	 * writev meets EAGAIN and is called again with the same bytes plus a
	 * new slice, as the event loop does.
	 */
	setsockopt(p.c.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(p.cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	{
		/* the stream is: 10 bytes, 70000, 7, the rest of big, then "tail" once queued */
		size_t cuts[] = {0, 10, 70010, 70017, 100000};
		bool tail = false, tail_done = false;

		for (rounds = 0; rounds < 10000 && !tail_done; rounds++) {
			struct iovec iov[5];
			int nr = 0;
			size_t k;

			for (k = 0; k + 1 < sizeof(cuts) / sizeof(*cuts); k++) {
				if (sent < cuts[k + 1]) {
					size_t from = sent > cuts[k] ? sent : cuts[k];

					iov[nr].iov_base = big + from;
					iov[nr].iov_len = cuts[k + 1] - from;
					nr++;
				}
			}
			if (tail) {
				size_t from = sent > 100000 ? sent - 100000 : 0;

				iov[nr].iov_base = (char *)"tail" + from;
				iov[nr].iov_len = 4 - from;
				nr++;
			}
			n = nr ? conn_io_tls.writev(&p.c, iov, nr) : 0;
			if (n > 0) {
				sent += (size_t)n;
				total += (size_t)n;
			} else if (n < 0) {
				CHECK_INT(errno, EAGAIN);
				CHECK_INT(tls_conn_waits(&p.c), CONN_F_CAN_WRITE);
				eagain++;
				tail = true;
			}
			if (sent == 100004) {
				tail_done = true;
			}
			client_drain(&p, &got);
		}
		for (rounds = 0; rounds < 100 && got.len < 100004; rounds++) {
			client_drain(&p, &got);
		}
	}
	CHECK(eagain > 0);
	CHECK_INT(got.len, 100004);
	CHECK(got.len == 100004 && !memcmp(got.buf, big, 100000) &&
	      !memcmp(got.buf + 100000, "tail", 4));

	/* the client's close_notify is the end of the stream */
	SSL_shutdown(p.cl);
	n = conn_io_tls.read(&p.c, buf, sizeof(buf));
	CHECK_INT(n, 0);
	/* and the server's reaches the client */
	conn_io_tls.shutdown(&p.c);
	CHECK_INT(tls_conn_flush(&p.c), 0);
	CHECK_INT(SSL_read(p.cl, buf, sizeof(buf)), 0);
	CHECK_INT(SSL_get_error(p.cl, 0), SSL_ERROR_ZERO_RETURN);

	pair_close(&p);
	sbuf_release(&got);
	free(big);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

static long bio_reads;
static long count_reads(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
			int ret, size_t *processed)
{
	if (oper == BIO_CB_READ) {
		bio_reads++;
	}
	return ret;
}

/*
 * Records that came together cost one read(), and a short read means the
 * socket is drained: no read() that could only say EAGAIN.
 */
static void test_read_syscalls(void)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct pair p;
	char buf[4096], big[100];
	ssize_t n;

	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	BIO_set_callback_ex(SSL_get_rbio(tls_conn_ssl(&p.c)), count_reads);
	/* three records at once */
	CHECK_INT(SSL_write(p.cl, "GET / HTTP/1.1\r\n", 16), 16);
	CHECK_INT(SSL_write(p.cl, "Host: a\r\n", 9), 9);
	CHECK_INT(SSL_write(p.cl, "\r\n", 2), 2);
	bio_reads = 0;
	n = conn_io_tls.read(&p.c, buf, sizeof(buf));
	CHECK_INT(n, 27);
	CHECK_INT(tls_conn_waits(&p.c), CONN_F_CAN_READ);
	/* one read() took the three records and left the socket empty */
	CHECK_INT(bio_reads, 1);
	/* nothing more: EAGAIN, waiting for input */
	bio_reads = 0;
	n = conn_io_tls.read(&p.c, buf, sizeof(buf));
	CHECK_INT(n, -1);
	CHECK_INT(errno, EAGAIN);
	CHECK_INT(tls_conn_waits(&p.c), CONN_F_CAN_READ);
	CHECK_INT(bio_reads, 1);

	/*
	 * A read that fills its buffer leaves bytes in the session; bytes that
	 * reach the socket meanwhile are read with them, not left behind.
	 */
	memset(big, 'b', sizeof(big));
	CHECK_INT(SSL_write(p.cl, big, sizeof(big)), (int)sizeof(big));
	CHECK_INT(conn_io_tls.read(&p.c, buf, 10), 10);
	CHECK_INT(SSL_write(p.cl, "tail!", 5), 5);
	bio_reads = 0;
	n = conn_io_tls.read(&p.c, buf, sizeof(buf));
	CHECK_INT(n, 95);
	CHECK_INT(memcmp(buf + 90, "tail!", 5), 0);
	CHECK_INT(tls_conn_waits(&p.c), CONN_F_CAN_READ);
	CHECK_INT(bio_reads, 1);
	pair_close(&p);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/*
 * A client that ends the connection with a bare FIN, no close_notify (as
 * many do), ends the stream: read gives what came and then 0, not an
 * error; a reset is an error with its errno.
 */
static void test_fin_and_reset(void)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct linger lg = {1, 0};
	struct pair p;
	char buf[256];

	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK_INT(SSL_write(p.cl, "last words", 10), 10);
	CHECK_INT(shutdown(p.cfd, SHUT_WR), 0);
	CHECK_INT(conn_io_tls.read(&p.c, buf, sizeof(buf)), 10);
	CHECK_INT(conn_io_tls.read(&p.c, buf, sizeof(buf)), 0);
	pair_close(&p);

	/* TCP this time: an abortive close gives the server ECONNRESET */
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t alen = sizeof(a);
		int l = socket(AF_INET, SOCK_STREAM, 0), cfd, sfd;
		ssize_t n;

		CHECK_INT(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
		CHECK_INT(listen(l, 1), 0);
		CHECK_INT(getsockname(l, (struct sockaddr *)&a, &alen), 0);
		cfd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK_INT(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
		sfd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
		CHECK(sfd >= 0);
		memset(&p, 0, sizeof(p));
		p.c.fd = sfd;
		p.cfd = cfd;
		CHECK_INT(tls_conn_attach(srv, &p.c), 0);
		p.cl = SSL_new(cctx);
		SSL_set_fd(p.cl, cfd);
		SSL_set_connect_state(p.cl);
		SSL_set_tlsext_host_name(p.cl, "a.test");
		CHECK(fcntl(cfd, F_SETFL, O_NONBLOCK) == 0);
		CHECK_INT(pair_handshake(&p), 0);
		CHECK_INT(setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
		close(cfd);
		p.cfd = -1;
		SSL_free(p.cl);
		p.cl = NULL;
		n = conn_io_tls.read(&p.c, buf, sizeof(buf));
		CHECK_INT(n, -1);
		CHECK_INT(errno, ECONNRESET);
		conn_io_tls.close(&p.c);
		close(l);
	}
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/* Small slices go out gathered in one record, not one record each. */
static void test_writev_gathers_records(void)
{
	struct tls_server *srv = server(false, false, NULL);
	/* TLS 1.2 with AES-GCM: a record costs 5 + 8 + 16 bytes, nothing follows the handshake */
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
	struct iovec iov[100];
	char payload[1000], wire[8192];
	struct pair p;
	ssize_t n;
	int i;

	memset(payload, 'p', sizeof(payload));
	for (i = 0; i < 100; i++) {
		iov[i].iov_base = payload + i * 10;
		iov[i].iov_len = 10;
	}
	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK_INT(conn_io_tls.writev(&p.c, iov, 100), 1000);
	n = read(p.cfd, wire, sizeof(wire));
	CHECK_INT(n, 1000 + 29);
	/* an empty slice without a base (an absent header block) among others */
	iov[0] = (struct iovec){payload, 10};
	iov[1] = (struct iovec){NULL, 0};
	iov[2] = (struct iovec){payload, 10};
	CHECK_INT(conn_io_tls.writev(&p.c, iov, 3), 20);
	n = read(p.cfd, wire, sizeof(wire));
	CHECK_INT(n, 20 + 29);
	for (i = 0; i < 100; i++) {
		iov[i].iov_base = payload + i * 10;
		iov[i].iov_len = 10;
	}
	/* 40000 bytes in slices of 4000: records of 16384, 16384 and 7232 bytes */
	{
		static char big[40000];
		char *all = xmalloc(65536);
		ssize_t m;

		for (i = 0; i < 10; i++) {
			iov[i].iov_base = big + i * 4000;
			iov[i].iov_len = 4000;
		}
		CHECK_INT(conn_io_tls.writev(&p.c, iov, 10), 40000);
		n = 0;
		while ((m = read(p.cfd, all + n, (size_t)(65536 - n))) > 0) {
			n += m;
		}
		CHECK_INT(n, 40000 + 3 * 29);
		free(all);
	}
	pair_close(&p);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

static void test_sni(void)
{
	struct tls_server *srv = server(false, true, NULL);
	struct tls_server *nodef = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct pair p;

	CHECK(try_handshake(srv, cctx, "a.test", NULL, leaf));
	CHECK(try_handshake(srv, cctx, "A.Test", NULL, leaf));
	CHECK(try_handshake(srv, cctx, "x.w.test", NULL, leaf));
	CHECK(try_handshake(srv, cctx, "r.test", NULL, rsa_leaf));
	/* a wildcard covers one label only */
	CHECK(try_handshake(srv, cctx, "a.b.w.test", NULL, def_leaf));
	CHECK(try_handshake(srv, cctx, "other.test", NULL, def_leaf));
	CHECK(try_handshake(srv, cctx, NULL, NULL, def_leaf));

	/* without a default, an unknown name gets unrecognized_name */
	CHECK(try_handshake(nodef, cctx, "a.test", NULL, leaf));
	pair_open(&p, nodef, cctx, "other.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), -1);
	CHECK(p.client_failed);
	CHECK_INT(ERR_GET_REASON(p.client_err), SSL_R_TLSV1_UNRECOGNIZED_NAME);
	CHECK_STR(tls_conn_error(&p.c),
		  "no certificate for the server name (server name 'other.test')");
	pair_close(&p);
	CHECK(!try_handshake(nodef, cctx, NULL, NULL, NULL));

	SSL_CTX_free(cctx);
	tls_server_free(srv);
	tls_server_free(nodef);
}

static void test_tls12_ecdsa_and_rsa(void)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	struct pair p;

	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK_INT(SSL_version(p.cl), TLS1_2_VERSION);
	CHECK_STR(SSL_get_cipher_name(p.cl), "ECDHE-ECDSA-AES128-GCM-SHA256");
	pair_close(&p);

	pair_open(&p, srv, cctx, "r.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK(served(&p, rsa_leaf));
	CHECK_STR(SSL_get_cipher_name(p.cl), "ECDHE-RSA-AES128-GCM-SHA256");
	pair_close(&p);
	SSL_CTX_free(cctx);

	/* the server's order, but a client that puts ChaCha20 first gets it */
	cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION,
			  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256");
	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK_STR(SSL_get_cipher_name(p.cl), "ECDHE-ECDSA-AES128-GCM-SHA256");
	pair_close(&p);
	SSL_CTX_free(cctx);
	cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION,
			  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256");
	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK_STR(SSL_get_cipher_name(p.cl), "ECDHE-ECDSA-CHACHA20-POLY1305");
	pair_close(&p);

	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

static void test_alpn(void)
{
	struct tls_server *h1 = server(false, false, NULL), *h2 = server(true, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct {
		struct tls_server *srv;
		const char *offer, *want;
	} cases[] = {
	    {h1, "\x02h2\x08http/1.1", "http/1.1"},
	    {h2, "\x02h2\x08http/1.1", "h2"},
	    {h2, "\x08http/1.1\x02h2", "h2"}, /* the server's order wins */
	    {h2, "\x08http/1.1", "http/1.1"},
	    {h1, "\x02h2", ""}, /* no overlap: no ALPN, the client speaks HTTP/1.1 */
	    {h2, NULL, ""},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct pair p;
		const unsigned char *sel;
		unsigned len;

		pair_open(&p, cases[i].srv, cctx, "a.test", cases[i].offer, NULL);
		CHECK_INT(pair_handshake(&p), 0);
		CHECK_STR(tls_conn_alpn(&p.c), cases[i].want);
		SSL_get0_alpn_selected(p.cl, &sel, &len);
		CHECK_INT(len, strlen(cases[i].want));
		pair_close(&p);
	}
	SSL_CTX_free(cctx);
	tls_server_free(h1);
	tls_server_free(h2);
}

static void test_old_versions_and_weak_ciphers_refused(void)
{
	struct tls_server *srv = server(false, true, NULL);
	const char *weak[] = {
	    "AES128-SHA",		 /* RSA key exchange, CBC, SHA-1 */
	    "AES128-GCM-SHA256",	 /* RSA key exchange */
	    "ECDHE-ECDSA-AES128-SHA",	 /* CBC, SHA-1 */
	    "ECDHE-ECDSA-AES128-SHA256", /* CBC */
	    "ECDHE-RSA-AES256-SHA384",	 /* CBC */
	    "DHE-RSA-AES128-GCM-SHA256", /* finite-field DH */
	};
	SSL_CTX *cctx;
	size_t i;

	/* the client is willing (security level 0): the refusal is the server's */
	cctx = client_ctx(TLS1_VERSION, TLS1_VERSION, "DEFAULT:@SECLEVEL=0");
	CHECK(!try_handshake(srv, cctx, "a.test", NULL, NULL));
	SSL_CTX_free(cctx);
	cctx = client_ctx(TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
	CHECK(!try_handshake(srv, cctx, "a.test", NULL, NULL));
	SSL_CTX_free(cctx);
	for (i = 0; i < sizeof(weak) / sizeof(*weak); i++) {
		cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, weak[i]);
		CHECK(!try_handshake(srv, cctx, "a.test", NULL, NULL));
		CHECK(!try_handshake(srv, cctx, "r.test", NULL, NULL));
		SSL_CTX_free(cctx);
	}
	/* and a strong one still works, for both key types */
	cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION,
			  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384");
	CHECK(try_handshake(srv, cctx, "a.test", NULL, leaf));
	CHECK(try_handshake(srv, cctx, "r.test", NULL, rsa_leaf));
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/* A TLS 1.2 client that asks to renegotiate is told no, and gives up. */
static void test_no_renegotiation(void)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	struct pair p;
	char buf[64];
	int i, r = 1;
	unsigned long err = 0;

	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK_INT(SSL_renegotiate(p.cl), 1);
	for (i = 0; i < 20 && r != -1; i++) {
		ERR_clear_error();
		r = SSL_do_handshake(p.cl);
		if (r <= 0 && SSL_get_error(p.cl, r) == SSL_ERROR_SSL) {
			err = ERR_peek_error();
			r = -1;
		} else {
			r = 0;
		}
		conn_io_tls.read(&p.c, buf, sizeof(buf));
	}
	CHECK_INT(ERR_GET_REASON(err), SSL_R_NO_RENEGOTIATION);
	ERR_clear_error();
	pair_close(&p);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/* A full handshake that reads a byte, so TLS 1.3 tickets arrive; returns the session. */
static SSL_SESSION *connect_once(struct tls_server *srv, SSL_CTX *cctx, SSL_SESSION *sess,
				 bool *reused)
{
	struct pair p;
	SSL_SESSION *out = NULL;
	struct iovec iov = {(char *)"x", 1};
	struct sbuf sb = SBUF_INIT;

	pair_open(&p, srv, cctx, "a.test", NULL, sess);
	if (pair_handshake(&p) == 0) {
		*reused = SSL_session_reused(p.cl);
		conn_io_tls.writev(&p.c, &iov, 1);
		client_drain(&p, &sb);
		out = SSL_get1_session(p.cl);
	}
	pair_close(&p);
	sbuf_release(&sb);
	return out;
}

static void check_resumption(int version, bool tickets)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(version, version, NULL);
	SSL_SESSION *s0, *s1, *s2;
	bool reused = true;

	if (!tickets) {
		SSL_CTX_set_options(cctx, SSL_OP_NO_TICKET);
	}
	s0 = connect_once(srv, cctx, NULL, &reused);
	CHECK(s0 && !reused);
	s1 = connect_once(srv, cctx, s0, &reused);
	CHECK(s1 && reused);
	if (tickets) {
		/*
		 * A resumed connection gets a ticket of its own: a TLS 1.3
		 * client uses a ticket once (RFC 8446 C.4), and without a
		 * new one its next connection would be a full handshake.
		 */
		const unsigned char *t0 = NULL, *t1 = NULL;
		size_t l0 = 0, l1 = 0;

		SSL_SESSION_get0_ticket(s0, &t0, &l0);
		SSL_SESSION_get0_ticket(s1, &t1, &l1);
		CHECK(l0 && l1 && (l0 != l1 || memcmp(t0, t1, l0)));
		s2 = connect_once(srv, cctx, s1, &reused);
		CHECK(s2 && reused);
		SSL_SESSION_free(s2);
	}
	if (tickets) {
		/* one rotation: the previous key still opens the ticket */
		tls_server_rotate_tickets(srv);
		s2 = connect_once(srv, cctx, s0, &reused);
		CHECK(s2 && reused);
		SSL_SESSION_free(s2);
		/* two: the key left the ring, a full handshake follows */
		tls_server_rotate_tickets(srv);
		s2 = connect_once(srv, cctx, s0, &reused);
		CHECK(s2 && !reused);
		SSL_SESSION_free(s2);
	}
	SSL_SESSION_free(s0);
	SSL_SESSION_free(s1);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

static void test_resumption(void)
{
	struct tls_server *srv = server(false, false, NULL);
	time_t now = time(NULL);

	check_resumption(TLS1_3_VERSION, true);
	check_resumption(TLS1_2_VERSION, true);
	check_resumption(TLS1_2_VERSION, false); /* the server's session cache */
	CHECK(!tls_server_ticket_due(srv, now));
	CHECK(tls_server_ticket_due(srv, now + 12 * 3600));
	tls_server_rotate_tickets(srv);
	CHECK(!tls_server_ticket_due(srv, now + 3600));
	tls_server_free(srv);
}

static int hook_calls;
static bool challenge_hook(void *arg, const char *name, X509 **x, EVP_PKEY **k)
{
	hook_calls++;
	if (strcmp(name, "a.test")) {
		return false;
	}
	X509_up_ref(chal);
	EVP_PKEY_up_ref(other_key);
	*x = chal;
	*k = other_key;
	return true;
}

static void test_acme_tls_alpn(void)
{
	struct tls_server *srv = server(true, true, challenge_hook);
	struct tls_server *nohook = server(true, true, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct pair p;

	pair_open(&p, srv, cctx, "a.test",
		  "\x0a"
		  "acme-tls/1",
		  NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK(served(&p, chal));
	CHECK_STR(tls_conn_alpn(&p.c), "acme-tls/1");
	CHECK_INT(hook_calls, 1);
	pair_close(&p);

	/* the hook has nothing for this name: no certificate from the store instead */
	CHECK(!try_handshake(srv, cctx, "x.w.test",
			     "\x0a"
			     "acme-tls/1",
			     NULL));
	CHECK(!try_handshake(nohook, cctx, "a.test",
			     "\x0a"
			     "acme-tls/1",
			     NULL));
	/* acme-tls/1 among other protocols is an ordinary client */
	CHECK(try_handshake(srv, cctx, "a.test",
			    "\x0a"
			    "acme-tls/1\x08http/1.1",
			    leaf));
	CHECK_INT(hook_calls, 2);

	SSL_CTX_free(cctx);
	tls_server_free(srv);
	tls_server_free(nohook);
}

static void test_renewal(void)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct tls_store *s = tls_store_new();
	struct tls_cert *c = cert_of(leaf2, ec_key2);
	struct pair p;

	/* a handshake that has picked its certificate */
	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	client_step(&p);
	CHECK_INT(tls_handshake(&p.c), TLS_HS_WANT_READ);

	tls_store_add(s, c);
	tls_cert_unref(c);
	tls_server_publish(srv, s);

	CHECK_INT(pair_handshake(&p), 0);
	CHECK(served(&p, leaf));
	pair_close(&p);
	/* new handshakes get the renewed one; the old store's other names are gone */
	CHECK(try_handshake(srv, cctx, "a.test", NULL, leaf2));
	CHECK(!try_handshake(srv, cctx, "x.w.test", NULL, NULL));

	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

struct hs_worker {
	struct tls_server *srv;
	int done, wrong;
};

static void *handshakes(void *arg)
{
	struct hs_worker *w = arg;
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	int i;

	for (i = 0; i < 60; i++) {
		struct pair p;

		pair_open(&p, w->srv, cctx, "a.test", NULL, NULL);
		if (pair_handshake(&p) == 0) {
			w->done++;
			if (!served(&p, leaf) && !served(&p, leaf2)) {
				w->wrong++;
			}
		}
		pair_close(&p);
	}
	SSL_CTX_free(cctx);
	return NULL;
}

/*
 * Workers handshake while the control thread swaps stores and ticket keys:
 * every handshake completes with one of the two certificates, and ASan sees
 * no store or certificate used after it was freed.
 */
static void test_publish_while_handshaking(void)
{
	struct tls_server *srv = server(false, false, NULL);
	struct hs_worker w[2] = {{srv, 0, 0}, {srv, 0, 0}};
	pthread_t th[2];
	int i;

	for (i = 0; i < 2; i++) {
		pthread_create(&th[i], NULL, handshakes, &w[i]);
	}
	for (i = 0; i < 200; i++) {
		struct tls_store *s = tls_store_new();
		struct tls_cert *c = i % 2 ? cert_of(leaf, ec_key) : cert_of(leaf2, ec_key2);

		tls_store_add(s, c);
		tls_cert_unref(c);
		tls_server_publish(srv, s);
		if (i % 10 == 0) {
			tls_server_rotate_tickets(srv);
		}
		usleep(500);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].done, 60);
		CHECK_INT(w[i].wrong, 0);
	}
	tls_server_free(srv);
}

static void write_pem(const char *path, X509 *x1, X509 *x2, EVP_PKEY *k)
{
	BIO *b = BIO_new_file(path, "w");

	if (x1) {
		PEM_write_bio_X509(b, x1);
	}
	if (x2) {
		PEM_write_bio_X509(b, x2);
	}
	if (k) {
		PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	}
	BIO_free(b);
}

static void test_load_files(void)
{
	struct sbuf crt = SBUF_INIT, key = SBUF_INIT, key2 = SBUF_INIT, pem = SBUF_INIT,
		    kpem = SBUF_INIT;
	struct err e = ERR_INIT;
	struct tls_cert *c;

	sbuf_addf(&crt, "%s/cert.pem", tmpdir);
	sbuf_addf(&key, "%s/key.pem", tmpdir);
	sbuf_addf(&key2, "%s/other.pem", tmpdir);
	write_pem(crt.buf, leaf, ca, NULL);
	write_pem(key.buf, NULL, NULL, ec_key);
	write_pem(key2.buf, NULL, NULL, rsa_key);

	c = tls_cert_load_files(crt.buf, key.buf, &e);
	CHECK(c != NULL);
	if (c) {
		CHECK_INT(sk_X509_num(c->chain), 1);
		CHECK_INT(c->names.nr, 2);
		CHECK_STR(c->names.v[0], "a.test");
		CHECK_STR(c->names.v[1], "*.w.test");
		CHECK(tls_cert_covers(c, "b.w.test"));
		CHECK(!tls_cert_covers(c, "b.c.w.test"));
		CHECK(c->not_after > time(NULL));
		CHECK(c->ocsp_url == NULL);
		tls_cert_unref(c);
	}

	/* a key of another certificate: both files are named */
	c = tls_cert_load_files(crt.buf, key2.buf, &e);
	CHECK(c == NULL);
	CHECK(strstr(err_str(&e), crt.buf) && strstr(err_str(&e), key2.buf) &&
	      strstr(err_str(&e), "does not match"));
	c = tls_cert_load_files(key.buf, key.buf, &e);
	CHECK(c == NULL && strstr(err_str(&e), "cannot read a certificate"));
	c = tls_cert_load_files("/nonexistent/cert.pem", key.buf, &e);
	CHECK(c == NULL && strstr(err_str(&e), "/nonexistent/cert.pem"));

	/* the same from bytes */
	sbuf_read_file(&pem, crt.buf);
	sbuf_read_file(&kpem, key.buf);
	c = tls_cert_from_pem(pem.buf, pem.len, kpem.buf, kpem.len, "the renewal", &e);
	CHECK(c != NULL && c->names.nr == 2);
	tls_cert_unref(c);
	c = tls_cert_from_pem(pem.buf, pem.len, "junk", 4, "the renewal", &e);
	CHECK(c == NULL && strstr(err_str(&e), "private key of the renewal"));

	sbuf_release(&crt);
	sbuf_release(&key);
	sbuf_release(&key2);
	sbuf_release(&pem);
	sbuf_release(&kpem);
	err_release(&e);
}

static void test_expired_is_served_as_is(void)
{
	struct tls_server *srv = server(false, false, NULL);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct tls_cert *c = cert_of(expired, ec_key);
	struct pair p;

	CHECK(c->not_after < time(NULL));
	pair_open(&p, srv, cctx, "old.test", NULL, NULL);
	CHECK_INT(pair_handshake(&p), 0);
	CHECK(served(&p, expired));
	CHECK_INT(SSL_get_verify_result(p.cl), X509_V_ERR_CERT_HAS_EXPIRED);
	pair_close(&p);
	tls_cert_unref(c);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

static void test_hello_parsers(void)
{
	char out[256];
	static const unsigned char sni[] = "\x00\x09\x00\x00\x06"
					   "A.Test";
	static const unsigned char sni_dot[] = "\x00\x0a\x00\x00\x07"
					       "a.test.";
	static const unsigned char bad_len[] = "\x00\x09\x00\x00\x07"
					       "A.Test";
	static const unsigned char bad_list[] = "\x00\x0a\x00\x00\x06"
						"A.Test";
	static const unsigned char bad_char[] = "\x00\x09\x00\x00\x06"
						"a/test";
	static const unsigned char empty_label[] = "\x00\x09\x00\x00\x06"
						   "a..tes";
	static const unsigned char two_dots[] = "\x00\x0a\x00\x00\x07"
						"atest..";
	static const unsigned char other_type[] = "\x00\x05\x01\x00\x02"
						  "ab";
	static const unsigned char acme[] = "\x00\x0b\x0a"
					    "acme-tls/1";
	static const unsigned char acme_h1[] = "\x00\x14\x0a"
					       "acme-tls/1\x08http/1.1";

	CHECK_INT(tls_hello_sni(sni, sizeof(sni) - 1, out, sizeof(out)), 1);
	CHECK_STR(out, "a.test");
	CHECK_INT(tls_hello_sni(sni_dot, sizeof(sni_dot) - 1, out, sizeof(out)), 1);
	CHECK_STR(out, "a.test");
	CHECK_INT(tls_hello_sni(bad_len, sizeof(bad_len) - 1, out, sizeof(out)), -1);
	CHECK_INT(tls_hello_sni(bad_list, sizeof(bad_list) - 1, out, sizeof(out)), -1);
	CHECK_INT(tls_hello_sni(bad_char, sizeof(bad_char) - 1, out, sizeof(out)), -1);
	CHECK_INT(tls_hello_sni(empty_label, sizeof(empty_label) - 1, out, sizeof(out)), -1);
	CHECK_INT(tls_hello_sni(two_dots, sizeof(two_dots) - 1, out, sizeof(out)), -1);
	CHECK_INT(tls_hello_sni(other_type, sizeof(other_type) - 1, out, sizeof(out)), 0);
	CHECK_INT(tls_hello_sni(sni, 1, out, sizeof(out)), -1);
	CHECK_INT(tls_hello_sni(sni, sizeof(sni) - 1, out, 4), -1);
	CHECK(tls_hello_acme_only(acme, sizeof(acme) - 1));
	CHECK(!tls_hello_acme_only(acme_h1, sizeof(acme_h1) - 1));
	CHECK(!tls_hello_acme_only(acme, sizeof(acme) - 2));
}

/* ---- OCSP ---- */

static unsigned char *make_ocsp(X509 *subject, X509 *signer, EVP_PKEY *signer_key, int status,
				long next_s, int *len)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, subject, ca);
	ASN1_TIME *thisupd = X509_gmtime_adj(NULL, -60), *nextupd = X509_gmtime_adj(NULL, next_s);
	OCSP_RESPONSE *r;
	unsigned char *der = NULL;

	OCSP_basic_add1_status(bs, id, status, 0, NULL, thisupd, nextupd);
	OCSP_basic_sign(bs, signer, signer_key, EVP_sha256(), NULL, 0);
	r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	*len = i2d_OCSP_RESPONSE(r, &der);
	OCSP_RESPONSE_free(r);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	return der;
}

/* The OCSP response a client of cctx got stapled (-1: none), compared with want. */
static long stapled_with(struct tls_server *srv, SSL_CTX *cctx, const unsigned char *want,
			 int want_len)
{
	const unsigned char *got = NULL;
	struct pair p;
	long len = -2;

	pair_open(&p, srv, cctx, "a.test", NULL, NULL);
	SSL_set_tlsext_status_type(p.cl, TLSEXT_STATUSTYPE_ocsp);
	if (pair_handshake(&p) == 0) {
		len = SSL_get_tlsext_status_ocsp_resp(p.cl, &got);
		if (len > 0 && want && (len != want_len || memcmp(got, want, (size_t)len))) {
			len = -3;
		}
	}
	pair_close(&p);
	return len;
}

static long stapled(struct tls_server *srv, const unsigned char *want, int want_len)
{
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	long len = stapled_with(srv, cctx, want, want_len);

	SSL_CTX_free(cctx);
	return len;
}

/* One name with an ECDSA and an RSA certificate: each client gets one it accepts. */
static void test_ecdsa_and_rsa_for_one_name(void)
{
	struct tls_server *srv = server(false, false, NULL);
	struct tls_store *s = tls_store_new();
	struct tls_cert *ec = cert_of(leaf, ec_key), *rsa = cert_of(rsa_a, rsa_key);
	SSL_CTX *modern = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	SSL_CTX *rsa13 = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL);
	SSL_CTX *rsa12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256");
	unsigned char *der;
	int len;

	SSL_CTX_set1_sigalgs_list(rsa13, "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384");
	tls_store_add(s, rsa);
	tls_store_add(s, ec);
	tls_server_publish(srv, s);
	CHECK(tls_store_lookup(s, "a.test") == ec);
	CHECK(tls_store_find(s, "a.test")->cert[TLS_KEY_RSA] == rsa);
	CHECK(try_handshake(srv, modern, "a.test", NULL, leaf));
	CHECK(try_handshake(srv, rsa13, "a.test", NULL, rsa_a));
	CHECK(try_handshake(srv, rsa12, "a.test", NULL, rsa_a));
	/* the wildcard name has only the ECDSA certificate */
	CHECK(try_handshake(srv, modern, "b.w.test", NULL, leaf));
	CHECK(!try_handshake(srv, rsa12, "b.w.test", NULL, NULL));

	/* the staple is the served certificate's */
	der = make_ocsp(rsa_a, ca, ca_key, V_OCSP_CERTSTATUS_GOOD, 86400, &len);
	CHECK_INT(tls_cert_set_ocsp(rsa, der, (size_t)len, NULL), 0);
	CHECK_INT(stapled_with(srv, rsa12, der, len), len);
	CHECK_INT(stapled_with(srv, modern, NULL, 0), -1);
	OPENSSL_free(der);

	tls_cert_unref(ec);
	tls_cert_unref(rsa);
	SSL_CTX_free(modern);
	SSL_CTX_free(rsa13);
	SSL_CTX_free(rsa12);
	tls_server_free(srv);
}

/* A server with only c in its store. */
static struct tls_server *server_with(struct tls_cert *c)
{
	struct tls_server *srv = tls_server_new(NULL, NULL);
	struct tls_store *s = tls_store_new();

	tls_store_add(s, c);
	tls_server_publish(srv, s);
	return srv;
}

static void test_ocsp_stapling(void)
{
	struct tls_cert *c = cert_of(leaf, ec_key);
	struct tls_server *srv = server_with(c);
	struct err e = ERR_INIT;
	unsigned char *good, *der;
	int good_len, len;
	time_t now = time(NULL);

	/* nothing to staple yet */
	CHECK_INT(stapled(srv, NULL, 0), -1);

	good = make_ocsp(leaf, ca, ca_key, V_OCSP_CERTSTATUS_GOOD, 4 * 86400, &good_len);
	CHECK_INT(tls_cert_set_ocsp(c, good, (size_t)good_len, &e), 0);
	CHECK(c->ocsp_expires > now + 3 * 86400);
	CHECK(c->ocsp_next > now + 86400 && c->ocsp_next < now + 3 * 86400);
	CHECK_INT(stapled(srv, good, good_len), good_len);

	/* answers that are not stored: the good one stays */
	der = make_ocsp(leaf, chal, other_key, V_OCSP_CERTSTATUS_GOOD, 86400, &len);
	CHECK_INT(tls_cert_set_ocsp(c, der, (size_t)len, &e), -1);
	CHECK(strstr(err_str(&e), "not signed by the certificate's issuer") != NULL);
	OPENSSL_free(der);
	der = make_ocsp(rsa_leaf, ca, ca_key, V_OCSP_CERTSTATUS_GOOD, 86400, &len);
	CHECK_INT(tls_cert_set_ocsp(c, der, (size_t)len, &e), -1);
	CHECK(strstr(err_str(&e), "does not answer for this certificate") != NULL);
	OPENSSL_free(der);
	der = make_ocsp(leaf, ca, ca_key, V_OCSP_CERTSTATUS_GOOD, -3600, &len);
	CHECK_INT(tls_cert_set_ocsp(c, der, (size_t)len, &e), -1);
	CHECK(strstr(err_str(&e), "not current") != NULL);
	OPENSSL_free(der);
	der = make_ocsp(leaf, ca, ca_key, V_OCSP_CERTSTATUS_UNKNOWN, 86400, &len);
	CHECK_INT(tls_cert_set_ocsp(c, der, (size_t)len, &e), -1);
	CHECK(strstr(err_str(&e), "does not know") != NULL);
	OPENSSL_free(der);
	CHECK_INT(tls_cert_set_ocsp(c, (const unsigned char *)"junk", 4, &e), -1);
	CHECK(strstr(err_str(&e), "not an OCSP response") != NULL);
	{
		OCSP_RESPONSE *r = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, NULL);

		der = NULL;
		len = i2d_OCSP_RESPONSE(r, &der);
		CHECK_INT(tls_cert_set_ocsp(c, der, (size_t)len, &e), -1);
		CHECK(strstr(err_str(&e), "trylater") != NULL);
		OPENSSL_free(der);
		OCSP_RESPONSE_free(r);
	}
	CHECK_INT(stapled(srv, good, good_len), good_len);

	/* a response past its nextUpdate is no longer stapled */
	c->ocsp_expires = now - 1;
	CHECK_INT(stapled(srv, NULL, 0), -1);

	OPENSSL_free(good);
	err_release(&e);
	tls_cert_unref(c);
	tls_server_free(srv);
}

/*
 * Starts Debian's `openssl ocsp` responder for the test CA on a port the
 * kernel picks; returns its pid and sets *port, or -1.
 */
static pid_t start_responder(const char *index, const char *ca_pem, const char *ca_key_pem,
			     int *port)
{
	int out[2];
	pid_t pid;
	FILE *f;
	char line[256];

	if (pipe(out) < 0) {
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(out[0]);
		close(out[1]);
		execlp("openssl", "openssl", "ocsp", "-index", index, "-port", "0", "-rsigner",
		       ca_pem, "-rkey", ca_key_pem, "-CA", ca_pem, "-ndays", "2", "-nrequest", "5",
		       (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	*port = 0;
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strstr(line, "]:");

		if (!strncmp(line, "ACCEPT", 6) && colon) {
			*port = atoi(colon + 2);
			break;
		}
	}
	if (f) {
		fclose(f);
	}
	if (!*port) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static bool has_ocsp(struct tls_cert *c)
{
	bool has;

	pthread_mutex_lock(c->ocsp_lock);
	has = c->ocsp_der != NULL;
	pthread_mutex_unlock(c->ocsp_lock);
	return has;
}

static void test_ocsp_responder(void)
{
	struct sbuf index = SBUF_INIT, ca_pem = SBUF_INIT, ca_key_pem = SBUF_INIT, url = SBUF_INIT;
	struct err e = ERR_INIT;
	struct tls_cert *c, *c2, *dead;
	struct tls_server *srv;
	X509 *x, *xdead;
	FILE *f;
	pid_t pid;
	int port, i;

	sbuf_addf(&index, "%s/index.txt", tmpdir);
	sbuf_addf(&ca_pem, "%s/ca.pem", tmpdir);
	sbuf_addf(&ca_key_pem, "%s/ca.key", tmpdir);
	write_pem(ca_pem.buf, ca, NULL, NULL);
	write_pem(ca_key_pem.buf, NULL, NULL, ca_key);
	/* the responder's database: serial 0x42 is valid */
	f = fopen(index.buf, "w");
	fputs("V\t491231235959Z\t\t42\tunknown\t/CN=a.test\n", f);
	fclose(f);
	pid = start_responder(index.buf, ca_pem.buf, ca_key_pem.buf, &port);
	CHECK(pid > 0);
	if (pid <= 0) {
		goto out;
	}
	sbuf_addf(&url, "OCSP;URI:http://127.0.0.1:%d/", port);
	x = mk_cert(ec_key, "a.test", "DNS:a.test", ca, ca_key, -3600, 86400, 0x42, url.buf);
	c = cert_of(x, ec_key);
	c2 = cert_of(x, ec_key);
	sbuf_reset(&url);
	sbuf_addf(&url, "http://127.0.0.1:%d/", port);
	CHECK_STR(c->ocsp_url, url.buf);

	/* one fetch, by hand */
	CHECK_INT(tls_cert_ocsp_update(c, &e), 0);
	if (err_isset(&e)) {
		printf("# %s\n", err_str(&e));
	}
	CHECK(has_ocsp(c));
	CHECK(c->ocsp_expires > time(NULL) + 86400);

	/* the background thread staples a published certificate */
	srv = server_with(c2);
	CHECK_INT(tls_ocsp_start(srv, &e), 0);
	tls_ocsp_kick(srv);
	for (i = 0; i < 1000 && !has_ocsp(c2); i++) {
		usleep(10 * 1000);
	}
	CHECK(has_ocsp(c2));
	CHECK(stapled(srv, NULL, 0) > 0);
	tls_ocsp_stop(srv);
	tls_server_free(srv);

	/* a responder that is not there */
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	sbuf_reset(&url);
	sbuf_addf(&url, "OCSP;URI:http://127.0.0.1:%d/", port);
	xdead = mk_cert(ec_key, "a.test", "DNS:a.test", ca, ca_key, -3600, 86400, 0x43, url.buf);
	dead = cert_of(xdead, ec_key);
	CHECK_INT(tls_cert_ocsp_update(dead, &e), -1);
	CHECK(strstr(err_str(&e), "cannot reach OCSP responder") != NULL);

	tls_cert_unref(dead);
	tls_cert_unref(c);
	tls_cert_unref(c2);
	X509_free(x);
	X509_free(xdead);
out:
	sbuf_release(&index);
	sbuf_release(&ca_pem);
	sbuf_release(&ca_key_pem);
	sbuf_release(&url);
	err_release(&e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setup();
	UNIT_RUN(test_hello_parsers);
	UNIT_RUN(test_handshake_and_data);
	UNIT_RUN(test_writev_gathers_records);
	UNIT_RUN(test_read_syscalls);
	UNIT_RUN(test_fin_and_reset);
	UNIT_RUN(test_sni);
	UNIT_RUN(test_tls12_ecdsa_and_rsa);
	UNIT_RUN(test_ecdsa_and_rsa_for_one_name);
	UNIT_RUN(test_alpn);
	UNIT_RUN(test_old_versions_and_weak_ciphers_refused);
	UNIT_RUN(test_no_renegotiation);
	UNIT_RUN(test_resumption);
	UNIT_RUN(test_acme_tls_alpn);
	UNIT_RUN(test_renewal);
	UNIT_RUN(test_publish_while_handshaking);
	UNIT_RUN(test_load_files);
	UNIT_RUN(test_expired_is_served_as_is);
	UNIT_RUN(test_ocsp_stapling);
	UNIT_RUN(test_ocsp_responder);
	teardown();
	return unit_done();
}
