#include "proxy/certs.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/log.h"
#include "proxy/seal.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

/* An ACME certificate, by the names it covers. */
struct acme_entry {
	char *key; /* acme_cert_dirname() of its names */
	struct tls_cert *cert;
	char *cert_pem, *key_pem; /* cert's, for the followers */
	uint64_t version;	  /* its not-before time, ms */
	char *error;		  /* the last failure, until a certificate comes */
	unsigned errors;	  /* failures so far */
	struct acme_entry *next;
};

static struct tls_server *srv;
static struct acme_store challenges;
static struct acme_manager mgr;
static char *state_dir;
static bool started;
/* The ACME account's settings: the boot's, and those set at run time (acme_lock). */
static pthread_mutex_t acme_lock = PTHREAD_MUTEX_INITIALIZER;
static struct acmeset acme_boot, acme_rt;
/* Guards the entries; the condition tells certs_wait that one changed. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct acme_entry *entries;
/* One rebuild at a time: the control thread and the ACME thread both make them. */
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t ticket_thread;
static atomic_bool stopping;

/* The issuer's secret of a service (STATE/tls-secrets/SERVICE). Under lock. */
struct secret {
	char *service;
	uint8_t bytes[SEAL_SECRET_LEN];
	struct secret *next;
};
static struct secret *secrets;

/*
 * A service this host follows (deploy --tls-issuer): what the follower
 * thread fetches, and what came of it. Under follow_lock.
 */
struct follower {
	char *service, *url; /* url: "http://HOST:PORT" of the issuer */
	struct strvec hosts;
	char *cert_path, *key_path;
	uint8_t secret[SEAL_SECRET_LEN];
	bool have; /* a certificate is in the files */
	uint64_t version, not_before, not_after;
	uint64_t due; /* wall clock, ms */
	unsigned failures;
	char *error; /* the last fetch's failure, or NULL */
	bool soft;   /* ... the issuer has no certificate yet: wait for it */
	unsigned errors;
	unsigned want_gen, done_gen; /* a deploy asks for a fetch; the thread says it did one */
	bool seen;		     /* in the table of the last certs_update */
	struct target *issuer;	     /* the issuer's plain port, referenced */
	struct follower *next;
};
static pthread_mutex_t follow_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t follow_cond = PTHREAD_COND_INITIALIZER; /* wakes the thread */
static pthread_cond_t follow_done = PTHREAD_COND_INITIALIZER; /* a fetch ended */
static struct follower *followers;
static pthread_t follow_thread;
/* The followers' hosts, each routed to its issuer: what the data plane relays the CA's checks by.
 */
static pthread_mutex_t relay_lock = PTHREAD_MUTEX_INITIALIZER;
static struct route_table *relay_tbl;

static void secrets_load(void);
static void followers_update(const struct route_table *t, const struct service *extra);
static void *follow_main(void *arg);
static int follower_wait(const struct service *s, uint64_t deadline_ms, struct sbuf *why);
static json_t *follower_status(const struct service *s);

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct tls_server *certs_tls(void)
{
	return srv;
}

struct acme_store *certs_acme_store(void)
{
	return started ? &challenges : NULL;
}

static bool uses_acme(const struct service *s)
{
	return s->o.tls && !s->o.tls_cert_path && s->hosts.nr;
}

/* The key of s's certificate: its hosts as the ACME manager names their directory. */
static void names_key(const struct strvec *names, struct sbuf *out)
{
	acme_cert_dirname(names, out);
}

/* Under lock. */
static struct acme_entry *entry_find(const char *key, bool create)
{
	struct acme_entry *en;

	for (en = entries; en; en = en->next) {
		if (!strcmp(en->key, key)) {
			return en;
		}
	}
	if (!create) {
		return NULL;
	}
	en = xcalloc(1, sizeof(*en));
	en->key = xstrdup(key);
	en->next = entries;
	entries = en;
	return en;
}

/* Rebuilds the store from the current table and publishes it. */
static void rebuild(void)
{
	struct route_table *t;
	struct tls_store *st;
	size_t i;

	if (!srv) {
		return;
	}
	pthread_mutex_lock(&publish_lock);
	t = route_current();
	st = tls_store_new();
	for (i = 0; i < t->nr_svcs; i++) {
		const struct service *s = t->svcs[i];

		if (!s->o.tls) {
			continue;
		}
		if (s->o.tls_cert_path && s->o.tls_issuer && access(s->o.tls_cert_path, F_OK) < 0) {
			continue; /* nothing from the issuer yet */
		}
		if (s->o.tls_cert_path) {
			struct err e = ERR_INIT;
			struct tls_cert *c =
			    tls_cert_load_files(s->o.tls_cert_path, s->o.tls_key_path, &e);

			if (c) {
				tls_store_add(st, c);
				tls_cert_unref(c);
			} else {
				log_warn("service '%s': %s; its hosts get no certificate", s->name,
					 err_str(&e));
			}
			err_release(&e);
		} else if (s->hosts.nr) {
			struct sbuf key = SBUF_INIT;
			struct acme_entry *en;

			names_key(&s->hosts, &key);
			pthread_mutex_lock(&lock);
			en = entry_find(key.buf, false);
			if (en && en->cert) {
				tls_store_add(st, en->cert);
			}
			pthread_mutex_unlock(&lock);
			sbuf_release(&key);
		}
	}
	route_table_unref(t);
	tls_server_publish(srv, st);
	tls_ocsp_kick(srv);
	pthread_mutex_unlock(&publish_lock);
}

/* ACME callbacks, on the manager's thread. */
static void on_cert(void *data, const struct strvec *names, const char *cert_pem,
		    const char *key_pem)
{
	struct sbuf key = SBUF_INIT;
	struct err e = ERR_INIT;
	struct tls_cert *c;
	struct acme_entry *en;

	(void)data;
	names_key(names, &key);
	c = tls_cert_from_pem(cert_pem, strlen(cert_pem), key_pem, strlen(key_pem), key.buf, &e);
	if (!c) {
		log_error("ACME certificate for '%s': %s", key.buf, err_str(&e));
		goto out;
	}
	pthread_mutex_lock(&lock);
	en = entry_find(key.buf, true);
	tls_cert_unref(en->cert);
	en->cert = c;
	free(en->cert_pem);
	free(en->key_pem);
	en->cert_pem = xstrdup(cert_pem);
	en->key_pem = xstrdup(key_pem);
	{
		struct acme_cert ac = {.cert_pem = en->cert_pem, .key_pem = en->key_pem};
		struct err ce = ERR_INIT;

		/* only for its dates: the manager checked the rest */
		acme_cert_check(&ac, names, &ce);
		en->version = ac.not_before_ms;
		err_release(&ce);
	}
	free(en->error);
	en->error = NULL;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
	{
		char *shown = strvec_join(names, ", ");

		log_info("certificate for %s ready", shown);
		free(shown);
	}
	rebuild();
out:
	err_release(&e);
	sbuf_release(&key);
}

static void on_error(void *data, const struct strvec *names, const char *message)
{
	struct sbuf key = SBUF_INIT;
	struct acme_entry *en;

	(void)data;
	names_key(names, &key);
	{
		char *shown = strvec_join(names, ", ");

		log_warn("certificate for %s: %s", shown, message);
		free(shown);
	}
	pthread_mutex_lock(&lock);
	en = entry_find(key.buf, true);
	free(en->error);
	en->error = xstrdup(message);
	en->errors++;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
	sbuf_release(&key);
}

/* Rotates the ticket keys when due: a minute's precision is plenty for a 12-hour period. */
static void *ticket_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		struct timespec ts = {1, 0};
		int i;

		for (i = 0; i < 60 && !atomic_load(&stopping); i++) {
			nanosleep(&ts, NULL);
		}
		if (tls_server_ticket_due(srv, time(NULL))) {
			tls_server_rotate_tickets(srv);
		}
	}
	return NULL;
}

static bool challenge_cert(void *arg, const char *name, X509 **x509, EVP_PKEY **pkey)
{
	return acme_store_alpn(arg, name, x509, pkey);
}

/* Tells the manager the account in effect: each run-time value, else the boot's. acme_lock held
 * or at start. */
static void acme_apply(void)
{
	acme_manager_set_account(&mgr, acme_rt.email ? acme_rt.email : acme_boot.email,
				 acme_rt.directory ? acme_rt.directory : acme_boot.directory);
}

int certs_acme_set(const char *email, const char *directory, bool reset, struct err *e)
{
	struct acmeset next = ACMESET_INIT;
	int rc = -1;

	if ((email && *email && acmeset_check_email(email, e) < 0) ||
	    (directory && *directory && acmeset_check_directory(directory, e) < 0)) {
		return -1;
	}
	if (!started) {
		return err_set(e, "ACME is not running in this process");
	}
	pthread_mutex_lock(&acme_lock);
	if (!reset) {
		acmeset_copy(&next, &acme_rt);
	}
	if (email) {
		free(next.email);
		next.email = *email ? xstrdup(email) : NULL;
	}
	if (directory) {
		free(next.directory);
		next.directory = *directory ? xstrdup(directory) : NULL;
	}
	if (acmeset_save(state_dir, &next, e) < 0) {
		goto out;
	}
	acmeset_copy(&acme_rt, &next);
	acme_apply();
	rc = 0;
out:
	pthread_mutex_unlock(&acme_lock);
	acmeset_release(&next);
	return rc;
}

void certs_acme_get(struct acmeset *rt, struct acmeset *boot, char **account_url)
{
	pthread_mutex_lock(&acme_lock);
	acmeset_copy(rt, &acme_rt);
	acmeset_copy(boot, &acme_boot);
	pthread_mutex_unlock(&acme_lock);
	*account_url = started ? acme_manager_account_url(&mgr) : NULL;
}

int certs_start(const char *dir, struct acme_config *acme, bool http2, struct err *e)
{
	struct tls_server_opts o = {0};

	o.http2 = http2;
	acme_store_init(&challenges);
	o.challenge = challenge_cert;
	o.challenge_arg = &challenges;
	srv = tls_server_new(&o, e);
	if (!srv) {
		return -1;
	}
	state_dir = xstrdup(dir);
	free(acme->state_dir);
	acme->state_dir = xstrdup(dir);
	acme_boot.email = acme->email ? xstrdup(acme->email) : NULL;
	acme_boot.directory =
	    acme->directory_url && strcmp(acme->directory_url, ACME_LETSENCRYPT_URL)
		? xstrdup(acme->directory_url)
		: NULL;
	acme_manager_init(&mgr, acme, &challenges);
	mgr.on_cert = on_cert;
	mgr.on_error = on_error;
	{
		struct err le = ERR_INIT;

		if (acmeset_load(dir, &acme_rt, &le) < 0) {
			log_error("acme: %s: using the account given at boot", err_str(&le));
		} else if (acme_rt.email || acme_rt.directory) {
			log_info("acme: the account's settings of `berth-proxy acme`: email %s, "
				 "directory %s",
				 acme_rt.email ? acme_rt.email : "(boot's)",
				 acme_rt.directory ? acme_rt.directory : "(boot's)");
			acme_apply();
		}
		err_release(&le);
	}
	if (acme_manager_start(&mgr, e) < 0) {
		return -1;
	}
	if (tls_ocsp_start(srv, e) < 0) {
		return -1;
	}
	atomic_init(&stopping, false);
	if (pthread_create(&ticket_thread, NULL, ticket_main, NULL) ||
	    pthread_create(&follow_thread, NULL, follow_main, NULL)) {
		return err_set(e, "cannot start a thread");
	}
	secrets_load();
	started = true;
	return 0;
}

void certs_stop(void)
{
	if (!started) {
		return;
	}
	atomic_store(&stopping, true);
	pthread_mutex_lock(&follow_lock);
	pthread_cond_broadcast(&follow_cond);
	pthread_mutex_unlock(&follow_lock);
	/* a fetch in progress ends at its timeout */
	pthread_join(follow_thread, NULL);
	pthread_join(ticket_thread, NULL);
	acme_manager_stop(&mgr);
	tls_ocsp_stop(srv);
}

void certs_update(const struct route_table *t, const struct service *extra)
{
	struct strvec *sets = xcalloc(t->nr_svcs + 1, sizeof(*sets));
	struct err e = ERR_INIT;
	size_t i, n = 0;

	if (!started) {
		free(sets);
		return;
	}
	for (i = 0; i <= t->nr_svcs; i++) {
		const struct service *s = i < t->nr_svcs ? t->svcs[i] : extra;

		if (s && uses_acme(s)) {
			strvec_init(&sets[n]);
			strvec_pushv(&sets[n], (const char *const *)s->hosts.v);
			n++;
		}
	}
	if (acme_manager_want(&mgr, sets, n, &e) < 0) {
		log_error("ACME: %s", err_str(&e));
	}
	for (i = 0; i < n; i++) {
		strvec_clear(&sets[i]);
	}
	free(sets);
	err_release(&e);
	followers_update(t, extra);
	rebuild();
}

int certs_wait(const struct service *s, uint64_t deadline_ms, struct sbuf *why)
{
	struct sbuf key = SBUF_INIT;
	struct acme_entry *en;
	unsigned errors;
	int rc = -1;

	if (started && s->o.tls && s->o.tls_issuer) {
		return follower_wait(s, deadline_ms, why);
	}
	if (!started || !uses_acme(s)) {
		return 0;
	}
	names_key(&s->hosts, &key);
	pthread_mutex_lock(&lock);
	en = entry_find(key.buf, true);
	/* A failure seen before this deploy counts: the manager waits before trying again. */
	errors = en->error ? en->errors - 1 : en->errors;
	for (;;) {
		uint64_t now = mono_ms();
		struct timespec ts;

		if (en->cert) {
			rc = 0;
			break;
		}
		if (en->errors != errors) {
			sbuf_addstr(why, en->error);
			break;
		}
		if (now >= deadline_ms) {
			sbuf_addstr(why, "no certificate yet from the CA");
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)((deadline_ms - now) / 1000);
		ts.tv_nsec += (long)((deadline_ms - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&changed, &lock, &ts);
	}
	pthread_mutex_unlock(&lock);
	sbuf_release(&key);
	return rc;
}

json_t *certs_status(const struct service *s)
{
	json_t *j;

	if (!s->o.tls) {
		return NULL;
	}
	if (s->o.tls_issuer) {
		return follower_status(s);
	}
	if (s->o.tls_cert_path) {
		struct err e = ERR_INIT;
		struct tls_cert *c = tls_cert_load_files(s->o.tls_cert_path, s->o.tls_key_path, &e);

		j = json_pack("{s:s, s:s}", "source", "files", "status", c ? "ok" : "error");
		if (c) {
			json_object_set_new(j, "not_after", json_integer((json_int_t)c->not_after));
		} else {
			json_object_set_new(j, "error", json_string(err_str(&e)));
		}
		tls_cert_unref(c);
		err_release(&e);
		return j;
	}
	j = json_pack("{s:s}", "source", "acme");
	if (!s->hosts.nr || !started) {
		json_object_set_new(j, "status", json_string("missing"));
		return j;
	}
	{
		struct sbuf key = SBUF_INIT;
		struct acme_entry *en;

		names_key(&s->hosts, &key);
		pthread_mutex_lock(&lock);
		en = entry_find(key.buf, false);
		json_object_set_new(j, "status",
				    json_string(en && en->cert	  ? "ok"
						: en && en->error ? "error"
								  : "pending"));
		if (en && en->cert) {
			json_object_set_new(j, "not_after",
					    json_integer((json_int_t)en->cert->not_after));
		}
		if (en && en->error) {
			json_object_set_new(j, "error", json_string(en->error));
		}
		pthread_mutex_unlock(&lock);
		sbuf_release(&key);
	}
	return j;
}

/* The PEM blocks of text whose BEGIN line names a private key, or not, appended to out. */
static void pem_blocks(const char *pem, size_t len, bool keys, struct sbuf *out)
{
	static const char begin[] = "-----BEGIN ", end[] = "-----END ";
	const char *p = pem, *stop = pem + len;

	while (p < stop) {
		const char *b = memmem(p, (size_t)(stop - p), begin, sizeof(begin) - 1), *eol, *e,
			   *e_eol;
		bool is_key;

		if (!b) {
			break;
		}
		eol = memchr(b, '\n', (size_t)(stop - b));
		if (!eol) {
			break;
		}
		is_key = memmem(b, (size_t)(eol - b), "PRIVATE KEY", 11) != NULL;
		e = memmem(eol, (size_t)(stop - eol), end, sizeof(end) - 1);
		if (!e) {
			break;
		}
		e_eol = memchr(e, '\n', (size_t)(stop - e));
		e_eol = e_eol ? e_eol + 1 : stop;
		if (is_key == keys) {
			sbuf_add(out, b, (size_t)(e_eol - b));
			if (e_eol == stop && out->len && out->buf[out->len - 1] != '\n') {
				sbuf_addch(out, '\n');
			}
		}
		p = e_eol;
	}
}

int certs_save_pem(const char *service, const char *pem, size_t len, char **cert_path,
		   char **key_path, struct err *e)
{
	struct sbuf certs = SBUF_INIT, key = SBUF_INIT, dir = SBUF_INIT, cp = SBUF_INIT,
		    kp = SBUF_INIT;
	struct tls_cert *c = NULL;
	int rc = -1;

	*cert_path = *key_path = NULL;
	pem_blocks(pem, len, false, &certs);
	pem_blocks(pem, len, true, &key);
	if (!certs.len || !key.len) {
		err_set(e, "option '--tls-certificate-stdin' expects a certificate chain and a "
			   "private key in PEM on the standard input");
		goto out;
	}
	c = tls_cert_from_pem(certs.buf, certs.len, key.buf, key.len, "the standard input", e);
	if (!c) {
		goto out;
	}
	sbuf_addf(&dir, "%s/tls", state_dir);
	if (mkdir(dir.buf, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", dir.buf, strerror(errno));
		goto out;
	}
	sbuf_addf(&dir, "/%s", service);
	if (mkdir(dir.buf, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", dir.buf, strerror(errno));
		goto out;
	}
	sbuf_addf(&cp, "%s/cert.pem", dir.buf);
	sbuf_addf(&kp, "%s/key.pem", dir.buf);
	/* Both are in place before the service that names them is published. */
	if (file_write_atomic(kp.buf, key.buf, key.len, 0600, e) < 0 ||
	    file_write_atomic(cp.buf, certs.buf, certs.len, 0600, e) < 0) {
		goto out;
	}
	*cert_path = sbuf_detach(&cp, NULL);
	*key_path = sbuf_detach(&kp, NULL);
	rc = 0;
out:
	tls_cert_unref(c);
	/* the key's bytes do not stay in freed memory */
	if (key.buf && key.alloc) {
		memset(key.buf, 0, key.len);
	}
	sbuf_release(&certs);
	sbuf_release(&key);
	sbuf_release(&dir);
	sbuf_release(&cp);
	sbuf_release(&kp);
	return rc;
}

/* ---- the issuer: secrets and sealed answers ----------------------------------------------- */

/* Whether name can be a file name: a service name never has '/' and is not "." or "..". */
static bool name_ok(const char *name, size_t len)
{
	return len && len < 256 && !memchr(name, '/', len) && !memchr(name, '\0', len) &&
	       !(name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')));
}

/* Under lock. */
static struct secret *secret_find(const char *service, size_t len)
{
	struct secret *sc;

	for (sc = secrets; sc; sc = sc->next) {
		if (strlen(sc->service) == len && !memcmp(sc->service, service, len)) {
			return sc;
		}
	}
	return NULL;
}

static void secret_put(const char *service, const uint8_t bytes[SEAL_SECRET_LEN])
{
	struct secret *sc;

	pthread_mutex_lock(&lock);
	sc = secret_find(service, strlen(service));
	if (!sc) {
		sc = xcalloc(1, sizeof(*sc));
		sc->service = xstrdup(service);
		sc->next = secrets;
		secrets = sc;
	}
	memcpy(sc->bytes, bytes, SEAL_SECRET_LEN);
	pthread_mutex_unlock(&lock);
}

/* Reads a secret file (64 hex digits). 0, or -1 with e set. */
static int secret_read(const char *path, uint8_t out[SEAL_SECRET_LEN], struct err *e)
{
	struct sbuf sb = SBUF_INIT;
	int rc = -1;

	if (sbuf_read_file(&sb, path) < 0) {
		err_set(e, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (seal_secret_parse(sb.buf, sb.len, out, e) < 0) {
		err_set(e, "'%s' is not a secret", path);
		goto out;
	}
	rc = 0;
out:
	if (sb.buf && sb.alloc) {
		memset(sb.buf, 0, sb.len);
	}
	sbuf_release(&sb);
	return rc;
}

static int secret_write(const char *path, const uint8_t bytes[SEAL_SECRET_LEN], struct err *e)
{
	struct sbuf hex = SBUF_INIT;
	int rc;

	seal_secret_hex(bytes, &hex);
	sbuf_addch(&hex, '\n');
	rc = file_write_atomic(path, hex.buf, hex.len, 0600, e);
	memset(hex.buf, 0, hex.len);
	sbuf_release(&hex);
	return rc;
}

static int mkdir_state(const char *sub, struct sbuf *path, struct err *e)
{
	sbuf_addf(path, "%s/%s", state_dir, sub);
	if (mkdir(path->buf, 0700) < 0 && errno != EEXIST) {
		return err_set(e, "cannot create '%s': %s", path->buf, strerror(errno));
	}
	return 0;
}

/* At start: the secrets this host made as an issuer. */
static void secrets_load(void)
{
	struct sbuf dir = SBUF_INIT;
	struct dirent *de;
	DIR *d;

	sbuf_addf(&dir, "%s/tls-secrets", state_dir);
	d = opendir(dir.buf);
	while (d && (de = readdir(d))) {
		struct sbuf path = SBUF_INIT;
		struct err e = ERR_INIT;
		uint8_t bytes[SEAL_SECRET_LEN];

		if (de->d_name[0] != '.') {
			sbuf_addf(&path, "%s/%s", dir.buf, de->d_name);
			if (secret_read(path.buf, bytes, &e) < 0) {
				log_warn("%s", err_str(&e));
			} else {
				secret_put(de->d_name, bytes);
			}
			OPENSSL_cleanse(bytes, sizeof(bytes));
		}
		sbuf_release(&path);
		err_release(&e);
	}
	if (d) {
		closedir(d);
	}
	sbuf_release(&dir);
}

int certs_secret(const char *service, struct sbuf *hex, struct err *e)
{
	struct sbuf path = SBUF_INIT;
	struct secret *sc;
	uint8_t bytes[SEAL_SECRET_LEN];
	int rc = -1;

	if (!started) {
		return err_set(e, "TLS is not set up in this proxy");
	}
	if (!name_ok(service, strlen(service))) {
		return err_set(e, "'%s' is not a service name", service);
	}
	pthread_mutex_lock(&lock);
	sc = secret_find(service, strlen(service));
	if (sc) {
		memcpy(bytes, sc->bytes, sizeof(bytes));
	}
	pthread_mutex_unlock(&lock);
	if (!sc) {
		if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
			err_set(e, "cannot make a secret: OpenSSL has no randomness");
			goto out;
		}
		if (mkdir_state("tls-secrets", &path, e) < 0) {
			goto out;
		}
		sbuf_addf(&path, "/%s", service);
		if (secret_write(path.buf, bytes, e) < 0) {
			goto out;
		}
		secret_put(service, bytes);
	}
	seal_secret_hex(bytes, hex);
	rc = 0;
out:
	OPENSSL_cleanse(bytes, sizeof(bytes));
	sbuf_release(&path);
	return rc;
}

bool certs_sealed(struct slice service, struct sbuf *out)
{
	struct route_table *t;
	const struct service *s = NULL;
	struct sbuf key = SBUF_INIT, plain = SBUF_INIT, name = SBUF_INIT;
	struct acme_entry *en;
	struct secret *sc;
	uint8_t bytes[SEAL_SECRET_LEN];
	uint64_t version = 0;
	bool ok = false;
	size_t i;

	if (!started || !name_ok(service.ptr, service.len)) {
		return false;
	}
	sbuf_add(&name, service.ptr, service.len);
	t = route_current();
	for (i = 0; i < t->nr_svcs; i++) {
		if (!strcmp(t->svcs[i]->name, name.buf)) {
			s = t->svcs[i];
		}
	}
	if (!s || !uses_acme(s)) {
		goto out;
	}
	names_key(&s->hosts, &key);
	pthread_mutex_lock(&lock);
	sc = secret_find(name.buf, name.len);
	en = entry_find(key.buf, false);
	if (sc && en && en->cert_pem) {
		memcpy(bytes, sc->bytes, sizeof(bytes));
		sbuf_addstr(&plain, en->cert_pem);
		sbuf_addstr(&plain, en->key_pem);
		version = en->version;
		ok = true;
	}
	pthread_mutex_unlock(&lock);
	if (ok) {
		struct err e = ERR_INIT;

		ok = seal_box(bytes, name.buf, version, plain.buf, plain.len, out, &e) == 0;
		err_release(&e);
		OPENSSL_cleanse(bytes, sizeof(bytes));
	}
out:
	if (plain.buf && plain.alloc) {
		OPENSSL_cleanse(plain.buf, plain.len);
	}
	route_table_unref(t);
	sbuf_release(&key);
	sbuf_release(&plain);
	sbuf_release(&name);
	return ok;
}

static bool strvec_same(const struct strvec *a, const struct strvec *b)
{
	size_t i;

	if (a->nr != b->nr) {
		return false;
	}
	for (i = 0; i < a->nr; i++) {
		if (strcmp(a->v[i], b->v[i])) {
			return false;
		}
	}
	return true;
}

/* ---- the follower ------------------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void follow_dir(const char *service, struct sbuf *out)
{
	sbuf_addf(out, "%s/tls-follow/%s", state_dir, service);
}

int certs_follow(struct service *s, const char *issuer, const uint8_t secret[SEAL_SECRET_LEN],
		 struct err *e)
{
	struct sbuf dir = SBUF_INIT, path = SBUF_INIT;
	struct follower *f;
	int rc = -1;

	if (!started) {
		return err_set(e, "TLS is not set up in this proxy");
	}
	if (mkdir_state("tls-follow", &dir, e) < 0) {
		goto out;
	}
	sbuf_reset(&dir);
	follow_dir(s->name, &dir);
	if (mkdir(dir.buf, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", dir.buf, strerror(errno));
		goto out;
	}
	sbuf_addf(&path, "%s/secret", dir.buf);
	if (secret_write(path.buf, secret, e) < 0) {
		goto out;
	}
	free(s->o.tls_cert_path);
	free(s->o.tls_key_path);
	free(s->o.tls_issuer);
	s->o.tls_issuer = xstrdup(issuer);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/cert.pem", dir.buf);
	s->o.tls_cert_path = sbuf_detach(&path, NULL);
	sbuf_addf(&path, "%s/key.pem", dir.buf);
	s->o.tls_key_path = sbuf_detach(&path, NULL);
	/* A follower known already takes the new secret now; certs_update adds a new one. */
	pthread_mutex_lock(&follow_lock);
	for (f = followers; f; f = f->next) {
		if (!strcmp(f->service, s->name)) {
			memcpy(f->secret, secret, SEAL_SECRET_LEN);
			free(f->url);
			f->url = xstrdup(issuer);
			f->due = 0;
			f->want_gen++;
		}
	}
	pthread_cond_broadcast(&follow_cond);
	pthread_mutex_unlock(&follow_lock);
	rc = 0;
out:
	sbuf_release(&dir);
	sbuf_release(&path);
	return rc;
}

/* The dates of the certificate in a follower's files, if any (at start, after a deploy). */
static void follower_load(struct follower *f)
{
	struct sbuf cp = SBUF_INIT, kp = SBUF_INIT;
	struct acme_cert c = {0};
	struct err e = ERR_INIT;

	if (sbuf_read_file(&cp, f->cert_path) < 0 || sbuf_read_file(&kp, f->key_path) < 0) {
		goto out;
	}
	c.cert_pem = sbuf_detach(&cp, NULL);
	c.key_pem = sbuf_detach(&kp, NULL);
	if (acme_cert_check(&c, &f->hosts, &e) == 0) {
		f->have = true;
		f->version = f->not_before = c.not_before_ms;
		f->not_after = c.not_after_ms;
	}
out:
	acme_cert_release(&c);
	sbuf_release(&cp);
	sbuf_release(&kp);
	err_release(&e);
}

/*
 * Under follow_lock: publishes a table of one service per follower, its
 * hosts with the issuer as their only target (tls_issuer_target), so that
 * the CA's checks are relayed from the start of a follower's deploy, before
 * its own service is switched in.
 */
static void relay_publish(void)
{
	struct service **svcs;
	struct route_table *t = NULL, *old;
	struct follower *f;
	size_t n = 0;

	for (f = followers; f; f = f->next) {
		n++;
	}
	svcs = xcalloc(n + 1, sizeof(*svcs));
	n = 0;
	for (f = followers; f; f = f->next) {
		struct service *rs;

		if (!f->issuer || !f->hosts.nr) {
			continue;
		}
		rs = service_new(f->service);
		strvec_pushv(&rs->hosts, (const char *const *)f->hosts.v);
		rs->o.tls = true;
		rs->o.tls_issuer_target = target_ref(f->issuer);
		svcs[n++] = rs;
	}
	if (n) {
		t = route_table_new(svcs, n);
	}
	free(svcs);
	pthread_mutex_lock(&relay_lock);
	old = relay_tbl;
	relay_tbl = t;
	pthread_mutex_unlock(&relay_lock);
	route_table_unref(old);
}

struct route_table *certs_relay_table(void)
{
	struct route_table *t;

	pthread_mutex_lock(&relay_lock);
	t = relay_tbl;
	if (t) {
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&relay_lock);
	return t;
}

/* From certs_update: a follower for every service with an issuer; the others go. */
static void followers_update(const struct route_table *t, const struct service *extra)
{
	struct follower *f, **pp;
	size_t i;

	pthread_mutex_lock(&follow_lock);
	for (f = followers; f; f = f->next) {
		f->seen = false;
	}
	for (i = 0; i <= t->nr_svcs; i++) {
		const struct service *s = i < t->nr_svcs ? t->svcs[i] : extra;
		struct sbuf path = SBUF_INIT;
		struct err e = ERR_INIT;

		if (!s || !s->o.tls || !s->o.tls_issuer || !s->o.tls_cert_path) {
			continue;
		}
		for (f = followers; f && strcmp(f->service, s->name); f = f->next) {
		}
		if (f) {
			f->seen = true;
			if (s->o.tls_issuer_target && f->issuer != s->o.tls_issuer_target) {
				target_unref(f->issuer);
				f->issuer = target_ref(s->o.tls_issuer_target);
			}
			if (!strvec_same(&f->hosts, &s->hosts)) {
				strvec_clear(&f->hosts);
				strvec_pushv(&f->hosts, (const char *const *)s->hosts.v);
				f->due = 0;
			}
			continue;
		}
		f = xcalloc(1, sizeof(*f));
		f->service = xstrdup(s->name);
		f->url = xstrdup(s->o.tls_issuer);
		strvec_init(&f->hosts);
		strvec_pushv(&f->hosts, (const char *const *)s->hosts.v);
		f->cert_path = xstrdup(s->o.tls_cert_path);
		f->key_path = xstrdup(s->o.tls_key_path);
		f->issuer = s->o.tls_issuer_target ? target_ref(s->o.tls_issuer_target) : NULL;
		follow_dir(s->name, &path);
		sbuf_addstr(&path, "/secret");
		if (secret_read(path.buf, f->secret, &e) < 0) {
			f->error = xstrdup(err_str(&e));
			f->errors++;
		}
		follower_load(f);
		f->seen = true;
		f->want_gen = 1;
		f->next = followers;
		followers = f;
		sbuf_release(&path);
		err_release(&e);
	}
	for (pp = &followers; (f = *pp);) {
		if (f->seen) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		free(f->service);
		free(f->url);
		free(f->cert_path);
		free(f->key_path);
		free(f->error);
		strvec_clear(&f->hosts);
		target_unref(f->issuer);
		OPENSSL_cleanse(f->secret, sizeof(f->secret));
		free(f);
	}
	relay_publish();
	pthread_cond_broadcast(&follow_cond);
	pthread_mutex_unlock(&follow_lock);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sbuf *sb = arg;

	if (sb->len + size * n > SEAL_MAX + 64) {
		return 0; /* not a sealed certificate: stop reading */
	}
	sbuf_add(sb, p, size * n);
	return size * n;
}

/* "HOST" and "PORT" of "http://HOST:PORT", for messages. */
static void url_parts(const char *url, struct sbuf *host, struct sbuf *port)
{
	const char *h = strstr(url, "://"), *colon;

	h = h ? h + 3 : url;
	colon = strrchr(h, ':');
	if (colon && !strchr(colon, ']')) {
		sbuf_add(host, h, (size_t)(colon - h));
		sbuf_addstr(port, colon + 1);
	} else {
		sbuf_addstr(host, h);
		sbuf_addstr(port, "80");
	}
}

/* What one fetch found out, for the follower's record. */
struct fetch_result {
	bool ok, soft, taken;
	uint64_t version, not_before, not_after;
	struct sbuf error;
};

/*
 * One fetch, on the follower thread, with no lock held: GET the sealed
 * certificate, open it, check it and, when newer, write it to the files.
 */
static void fetch_one(const char *service, const char *url, const struct strvec *hosts,
		      const uint8_t secret[SEAL_SECRET_LEN], bool have, uint64_t have_version,
		      const char *cert_path, const char *key_path, struct fetch_result *r)
{
	struct sbuf full = SBUF_INIT, body = SBUF_INIT, plain = SBUF_INIT, host = SBUF_INIT,
		    port = SBUF_INIT, chain = SBUF_INIT, key = SBUF_INIT;
	struct acme_cert c = {0};
	struct err e = ERR_INIT;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	CURLcode cc;
	long status = 0;
	uint64_t version = 0;

	url_parts(url, &host, &port);
	sbuf_addf(&full, "%s/.well-known/berth-proxy/tls/%s", url, service);
	if (!h) {
		sbuf_addstr(&r->error, "cannot start libcurl");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, full.buf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "berth-proxy/" BERTH_VERSION " (tls follower)");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		sbuf_addf(&r->error, "the issuer %s did not answer on port %s: %s", host.buf,
			  port.buf, errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status == 404) {
		sbuf_addf(&r->error, "the issuer %s has no certificate for '%s' yet", host.buf,
			  service);
		r->soft = true;
		goto out;
	}
	if (status != 200) {
		sbuf_addf(&r->error, "the issuer %s answered with status %ld", host.buf, status);
		goto out;
	}
	if (seal_open(secret, service, body.buf, body.len, &version, &plain, &e) < 0) {
		if (!strcmp(err_str(&e), "does not open with this secret")) {
			sbuf_addstr(&r->error,
				    "the issuer's answer does not open with this secret: "
				    "was the issuer's proxy state reset?");
		} else {
			sbuf_addf(&r->error, "the issuer's answer: %s", err_str(&e));
		}
		goto out;
	}
	switch (seal_decide(have, have_version, version)) {
	case SEAL_SAME:
		r->ok = true;
		goto out;
	case SEAL_OLD:
		sbuf_addstr(&r->error, "the issuer's answer is older than the certificate served "
				       "here (replayed?); the one served stays");
		goto out;
	case SEAL_TAKE:
		break;
	}
	pem_blocks(plain.buf, plain.len, false, &chain);
	pem_blocks(plain.buf, plain.len, true, &key);
	c.cert_pem = xstrdup(chain.len ? chain.buf : "");
	c.key_pem = xstrdup(key.len ? key.buf : "");
	if (acme_cert_check(&c, hosts, &e) < 0) {
		sbuf_addf(&r->error, "the issuer's certificate does not fit: %s", err_str(&e));
		goto out;
	}
	/* The key first: the certificate file's arrival is what makes the pair complete. */
	if (file_write_atomic(key_path, key.buf, key.len, 0600, &e) < 0 ||
	    file_write_atomic(cert_path, chain.buf, chain.len, 0600, &e) < 0) {
		sbuf_addstr(&r->error, err_str(&e));
		goto out;
	}
	r->ok = r->taken = true;
	r->version = version;
	r->not_before = c.not_before_ms;
	r->not_after = c.not_after_ms;
out:
	if (c.key_pem) {
		OPENSSL_cleanse(c.key_pem, strlen(c.key_pem));
	}
	if (plain.buf && plain.alloc) {
		OPENSSL_cleanse(plain.buf, plain.len);
	}
	if (key.buf && key.alloc) {
		OPENSSL_cleanse(key.buf, key.len);
	}
	acme_cert_release(&c);
	if (h) {
		curl_easy_cleanup(h);
	}
	sbuf_release(&full);
	sbuf_release(&body);
	sbuf_release(&plain);
	sbuf_release(&host);
	sbuf_release(&port);
	sbuf_release(&chain);
	sbuf_release(&key);
	err_release(&e);
}

static void *follow_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&follow_lock);
	while (!atomic_load(&stopping)) {
		struct follower *f, *next = NULL;
		uint64_t now = wall_ms();

		for (f = followers; f; f = f->next) {
			if (!next || f->due < next->due) {
				next = f;
			}
		}
		if (!next || next->due > now) {
			uint64_t until = next ? next->due : now + 60 * 1000;
			struct timespec ts = {(time_t)(until / 1000),
					      (long)(until % 1000) * 1000000};

			pthread_cond_timedwait(&follow_cond, &follow_lock, &ts);
			continue;
		}
		{
			char *service = xstrdup(next->service), *url = xstrdup(next->url),
			     *cp = xstrdup(next->cert_path), *kp = xstrdup(next->key_path);
			struct strvec hosts = STRVEC_INIT;
			struct fetch_result r = {.error = SBUF_INIT};
			uint8_t secret[SEAL_SECRET_LEN];
			bool have = next->have;
			uint64_t have_version = next->version;
			unsigned gen = next->want_gen;

			strvec_pushv(&hosts, (const char *const *)next->hosts.v);
			memcpy(secret, next->secret, sizeof(secret));
			/* not fetched again before this one ends, whatever happens to the record */
			next->due = UINT64_MAX;
			pthread_mutex_unlock(&follow_lock);
			fetch_one(service, url, &hosts, secret, have, have_version, cp, kp, &r);
			OPENSSL_cleanse(secret, sizeof(secret));
			pthread_mutex_lock(&follow_lock);
			for (f = followers; f && strcmp(f->service, service); f = f->next) {
			}
			if (f) {
				if (r.taken) {
					f->have = true;
					f->version = r.version;
					f->not_before = r.not_before;
					f->not_after = r.not_after;
				}
				free(f->error);
				f->error = r.ok ? NULL : xstrdup(r.error.buf);
				f->soft = r.soft;
				if (r.ok) {
					f->failures = 0;
				} else {
					f->failures++;
					f->errors++;
				}
				if (f->done_gen < gen) {
					f->done_gen = gen;
				}
				f->due = f->due == UINT64_MAX
					     ? seal_next_fetch_ms(wall_ms(), f->have, f->not_before,
								  f->not_after, f->failures)
					     : f->due; /* a deploy asked again meanwhile */
			}
			pthread_cond_broadcast(&follow_done);
			pthread_mutex_unlock(&follow_lock);
			if (r.taken) {
				log_info("certificate for '%s' from the issuer %s ready", service,
					 url);
				rebuild();
			} else if (!r.ok) {
				log_warn("certificate for '%s': %s", service, r.error.buf);
			}
			pthread_mutex_lock(&follow_lock);
			free(service);
			free(url);
			free(cp);
			free(kp);
			strvec_clear(&hosts);
			sbuf_release(&r.error);
		}
	}
	pthread_mutex_unlock(&follow_lock);
	return NULL;
}

/* certs_wait for a follower: the first fetch after the deploy that has a certificate. */
static int follower_wait(const struct service *s, uint64_t deadline_ms, struct sbuf *why)
{
	struct follower *f;
	unsigned want;
	int rc = -1;

	pthread_mutex_lock(&follow_lock);
	for (f = followers; f && strcmp(f->service, s->name); f = f->next) {
	}
	if (!f) {
		sbuf_addstr(why, "not following an issuer");
		goto out;
	}
	want = f->want_gen;
	for (;;) {
		uint64_t now = mono_ms();
		struct timespec ts;

		if (f->done_gen >= want) {
			if (f->error && !f->soft) {
				sbuf_addstr(why, f->error);
				break;
			}
			if (f->have) {
				rc = 0;
				break;
			}
		}
		if (now >= deadline_ms) {
			sbuf_addf(why, "%s",
				  f->error ? f->error : "no certificate yet from the issuer");
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)((deadline_ms - now) / 1000);
		ts.tv_nsec += (long)((deadline_ms - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&follow_done, &follow_lock, &ts);
		/* the record may have gone with a certs_update meanwhile */
		for (f = followers; f && strcmp(f->service, s->name); f = f->next) {
		}
		if (!f) {
			sbuf_addstr(why, "not following an issuer any more");
			break;
		}
	}
out:
	pthread_mutex_unlock(&follow_lock);
	return rc;
}

/* certs_status for a follower. */
static json_t *follower_status(const struct service *s)
{
	json_t *j = json_pack("{s:s, s:s}", "source", "issuer", "issuer", s->o.tls_issuer);
	struct follower *f;

	pthread_mutex_lock(&follow_lock);
	for (f = followers; f && strcmp(f->service, s->name); f = f->next) {
	}
	json_object_set_new(j, "status",
			    json_string(f && f->have		    ? "ok"
					: f && f->error && !f->soft ? "error"
								    : "pending"));
	if (f && f->have) {
		json_object_set_new(j, "not_after",
				    json_integer((json_int_t)(f->not_after / 1000)));
	}
	if (f && f->error) {
		json_object_set_new(j, "error", json_string(f->error));
	}
	pthread_mutex_unlock(&follow_lock);
	return j;
}
