/*
 * certs — which certificate each TLS service serves, kept in the TLS
 * server's store (proxy/tls.h).
 *
 * A service deployed with --tls serves its hosts over HTTPS with the
 * certificate of its files (--tls-certificate-path and
 * --tls-private-key-path, or the copy of --tls-certificate-stdin under
 * STATE/tls/SERVICE), or else with one from ACME (proxy/acme.h): one
 * certificate per service, covering its hosts. Only the hosts of TLS
 * services are ever asked for; an SNI name that no service has gets no
 * certificate (the handshake fails) and starts no order.
 *
 * The store is rebuilt from every TLS service of the current routing table
 * and published whole on every change (certs_update, from the control
 * thread, after each switch) and whenever ACME hands over a new
 * certificate (from the ACME manager's thread): a renewed certificate
 * replaces the old one for new handshakes only once it is there.
 *
 * Threads: certs_start once, before the control socket; then any thread.
 * Reading certificate files happens on the calling thread (the control
 * thread), never on a worker.
 */
#ifndef CERTS_H
#define CERTS_H

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sbuf.h"
#include "proxy/acme.h"
#include "proxy/acmeset.h"
#include "proxy/route.h"
#include "proxy/seal.h"
#include "proxy/tls.h"

/*
 * Makes the TLS server (ALPN "h2" first when http2, then http/1.1;
 * TLS-ALPN-01 answered from the ACME challenge store), the ACME manager
 * (takes over acme's strings) and the threads that rotate ticket keys and
 * staple OCSP responses. state_dir is where ACME and --tls-certificate-stdin
 * keep their files. 0, or -1 with e.
 */
int certs_start(const char *state_dir, struct acme_config *acme, bool http2, struct err *e);
/*
 * The ACME account's settings changed at run time (proxy/acmeset.h), read
 * from the state directory by certs_start (a file that does not parse is
 * logged and the boot's values used). certs_acme_set: email or directory
 * NULL leaves it as it is, "" clears it (the boot's value again), reset
 * clears both; values are checked, then saved (nothing changes when that
 * fails), then the ACME manager uses them from its next order. Control
 * thread. 0, or -1 with e.
 */
int certs_acme_set(const char *email, const char *directory, bool reset, struct err *e);
/*
 * What is in effect: the run-time values into rt and the boot's into boot
 * (copies; boot's directory NULL means Let's Encrypt), and the account's URL
 * at the CA once one was registered since the last change (malloc'd, or
 * NULL).
 */
void certs_acme_get(struct acmeset *rt, struct acmeset *boot, char **account_url);
/* Stops the threads (at exit). */
void certs_stop(void);
/* The TLS server and the challenge store the data plane uses; NULL before certs_start. */
struct tls_server *certs_tls(void);
struct acme_store *certs_acme_store(void);

/*
 * Rebuilds and publishes the store from t's TLS services, and tells ACME
 * which certificates are wanted: those of t's TLS services without files,
 * plus extra's (a service being deployed, not in t yet; may be NULL), so
 * that its certificate is asked for while its targets are checked.
 */
void certs_update(const struct route_table *t, const struct service *extra);
/*
 * For deploy: waits until the ACME certificate of s's hosts is there
 * (0), or ACME failed (-1, why says what the CA said), or deadline_ms
 * (CLOCK_MONOTONIC) passes (-1). 0 at once for a service with files.
 */
int certs_wait(const struct service *s, uint64_t deadline_ms, struct sbuf *why);
/*
 * What `list --json` shows of s's certificate: {"source": "files"|"acme"|"issuer",
 * "status": "ok"|"pending"|"error"|"missing", "error", "not_after", and
 * "issuer" (its URL) for a follower}; never
 * key bytes. NULL for a service without TLS.
 */
json_t *certs_status(const struct service *s);

/*
 * --tls-certificate-stdin: pem is a certificate chain (leaf first) then a
 * private key, in PEM; checked to match, then written atomically, mode
 * 0600, to STATE/tls/SERVICE/cert.pem and key.pem, whose paths are set
 * (malloc'd). 0, or -1 with e.
 */
int certs_save_pem(const char *service, const char *pem, size_t len, char **cert_path,
		   char **key_path, struct err *e);

/*
 * Several hosts, one certificate. The role's first host (the issuer) runs
 * ACME as above; each service it issues for may have a secret (32 random
 * bytes, STATE/tls-secrets/SERVICE, 0600; loaded at start) and then it
 * answers GET /.well-known/berth-proxy/tls/SERVICE on its plain port with
 * the certificate and key sealed under it (proxy/seal.h). The other hosts
 * (followers, deploy --tls-issuer) never order: a thread of their own
 * fetches that answer with libcurl at deploy and then as
 * seal_next_fetch_ms() says, opens it, checks that the key matches and
 * that the certificate covers the service's hosts, writes it (0600) to
 * STATE/tls-follow/SERVICE/{cert,key}.pem, which the service names as its
 * files (restored at start with the routing table), and publishes it. The
 * secret is kept there too (secret, 0600). A follower relays the CA's
 * HTTP-01 requests for its hosts to the issuer (proxy/server.c, through
 * certs_relay_table()).
 */

/*
 * The issuer's secret of service as 64 hex digits (appended to hex), made
 * and saved when missing. Control thread. 0, or -1 with e.
 */
int certs_secret(const char *service, struct sbuf *hex, struct err *e);
/*
 * The answer to GET /.well-known/berth-proxy/tls/SERVICE: true with the
 * sealed certificate appended to out, false when this proxy has no secret
 * or no ACME certificate for that service. No I/O: a worker calls it.
 */
bool certs_sealed(struct slice service, struct sbuf *out);
/*
 * Deploy --tls-issuer: s follows the issuer at issuer ("http://HOST:PORT")
 * with secret, which is saved; s's certificate files are set to where the
 * fetched copy goes. A follower already known fetches again at once.
 * Control thread. 0, or -1 with e.
 */
int certs_follow(struct service *s, const char *issuer, const uint8_t secret[SEAL_SECRET_LEN],
		 struct err *e);
/*
 * The hosts this proxy follows an issuer for, from the start of their
 * deploy: a table of one service per follower whose tls_issuer_target is
 * where the CA's HTTP-01 requests for its hosts go. Referenced (release
 * with route_table_unref), or NULL when there is none. A worker calls it
 * (a mutex held for a pointer copy).
 */
struct route_table *certs_relay_table(void);

#endif
