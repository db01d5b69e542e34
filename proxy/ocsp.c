/*
 * tls's OCSP stapling that goes to the network: fetching a certificate's
 * OCSP response over HTTP (libcurl) and the thread that keeps the responses
 * of the published store fresh (proxy/tls.h declares them). Apart from
 * proxy/tls.c so that a program that only reads and checks certificates
 * (berthd's certs:add) links no HTTP client.
 */
#include "proxy/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define OCSP_MAX (64 * 1024)

static size_t ocsp_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sbuf *sb = arg;

	if (sb->len + size * nmemb > OCSP_MAX) {
		return 0; /* too large for an OCSP response: abort the transfer */
	}
	sbuf_add(sb, p, size * nmemb);
	return size * nmemb;
}

int tls_cert_ocsp_update(struct tls_cert *c, struct err *e)
{
	X509 *issuer = tls_cert_issuer(c);
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id;
	unsigned char *der = NULL;
	int der_len, ret = -1;
	CURL *curl = NULL;
	struct curl_slist *hdr = NULL;
	struct sbuf body = SBUF_INIT;
	char cerr[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	long code = 0;

	if (!c->ocsp_url) {
		err_set(e, "the certificate names no OCSP responder");
		goto out;
	}
	if (!issuer) {
		err_set(e, "the certificate's chain does not hold its issuer");
		goto out;
	}
	req = OCSP_REQUEST_new();
	id = OCSP_cert_to_id(NULL, c->x509, issuer);
	if (!req || !id || !OCSP_request_add0_id(req, id)) {
		OCSP_CERTID_free(id);
		err_set(e, "cannot make an OCSP request");
		ERR_clear_error();
		goto out;
	}
	der_len = i2d_OCSP_REQUEST(req, &der);
	if (der_len <= 0) {
		err_set(e, "cannot make an OCSP request");
		ERR_clear_error();
		goto out;
	}
	curl = curl_easy_init();
	if (!curl) {
		err_set(e, "cannot start an HTTP client");
		goto out;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/ocsp-request");
	curl_easy_setopt(curl, CURLOPT_URL, c->ocsp_url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, der);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)der_len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ocsp_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		err_set(e, "cannot reach OCSP responder '%s': %s", c->ocsp_url,
			*cerr ? cerr : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		err_set(e, "OCSP responder '%s' answered HTTP %ld", c->ocsp_url, code);
		goto out;
	}
	if (tls_cert_set_ocsp(c, (const unsigned char *)body.buf, body.len, e) < 0) {
		err_prefix(e, "OCSP responder '%s'", c->ocsp_url);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(hdr);
	if (curl) {
		curl_easy_cleanup(curl);
	}
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	sbuf_release(&body);
	return ret;
}

struct tls_ocsp {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, kick;
	struct tls_server *srv;
};

/* How long to wait after a failed fetch before trying again. */
#define OCSP_RETRY_S 300

static void ocsp_refresh(struct tls_cert *c, time_t now, time_t *next)
{
	struct err e = ERR_INIT;
	time_t due;

	if (!c || !c->ocsp_url) {
		return;
	}
	pthread_mutex_lock(c->ocsp_lock);
	due = c->ocsp_next;
	pthread_mutex_unlock(c->ocsp_lock);
	if (due <= now && tls_cert_ocsp_update(c, &e) < 0) {
		log_warn("cannot staple OCSP for '%s': %s", c->names.nr ? c->names.v[0] : "",
			 err_str(&e));
		pthread_mutex_lock(c->ocsp_lock);
		c->ocsp_next = now + OCSP_RETRY_S;
		pthread_mutex_unlock(c->ocsp_lock);
	}
	err_release(&e);
	pthread_mutex_lock(c->ocsp_lock);
	if (c->ocsp_next < *next) {
		*next = c->ocsp_next;
	}
	pthread_mutex_unlock(c->ocsp_lock);
}

static void *ocsp_main(void *arg)
{
	struct tls_ocsp *o = arg;

	pthread_mutex_lock(&o->mu);
	while (!o->stop) {
		struct tls_store *s;
		time_t now = time(NULL), next = now + 3600;
		struct timespec ts = {0, 0};
		size_t i;

		o->kick = false;
		pthread_mutex_unlock(&o->mu);
		s = tls_server_store(o->srv);
		for (i = 0; i < s->nr; i++) {
			ocsp_refresh(s->v[i].cert[0], now, &next);
			ocsp_refresh(s->v[i].cert[1], now, &next);
		}
		ocsp_refresh(s->def.cert[0], now, &next);
		ocsp_refresh(s->def.cert[1], now, &next);
		tls_store_unref(s);
		pthread_mutex_lock(&o->mu);
		ts.tv_sec = next;
		while (!o->stop && !o->kick) {
			if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT) {
				break;
			}
		}
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

int tls_ocsp_start(struct tls_server *srv, struct err *e)
{
	struct tls_ocsp *o;
	int r;

	if (srv->ocsp) {
		return 0;
	}
	/* libcurl's global state is set up once, before any other thread uses it */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		return err_set(e, "cannot start libcurl");
	}
	o = xcalloc(1, sizeof(*o));
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	o->srv = srv;
	r = pthread_create(&o->th, NULL, ocsp_main, o);
	if (r) {
		pthread_cond_destroy(&o->cv);
		pthread_mutex_destroy(&o->mu);
		free(o);
		curl_global_cleanup();
		return err_set(e, "cannot start the OCSP thread: %s", strerror(r));
	}
	srv->ocsp = o;
	srv->ocsp_stop = tls_ocsp_stop;
	return 0;
}

void tls_ocsp_kick(struct tls_server *srv)
{
	struct tls_ocsp *o = srv->ocsp;

	if (o) {
		pthread_mutex_lock(&o->mu);
		o->kick = true;
		pthread_cond_signal(&o->cv);
		pthread_mutex_unlock(&o->mu);
	}
}

void tls_ocsp_stop(struct tls_server *srv)
{
	struct tls_ocsp *o = srv->ocsp;

	if (!o) {
		return;
	}
	pthread_mutex_lock(&o->mu);
	o->stop = true;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->th, NULL);
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->mu);
	free(o);
	srv->ocsp = NULL;
	srv->ocsp_stop = NULL;
	curl_global_cleanup();
}
