/*
 * certs:* and letsencrypt:* — HTTPS for an app's web process, in Dokku's
 * names, served by berth-proxy (daemon/release.h: proxy.ssl).
 *
 * certs:add APP < tar (certs:update alike): a certificate and its key, read
 * from a tar on stdin (daemon/certs.h) and checked with OpenSSL as
 * berth-proxy loads them; kept as the app's properties "certs.crt" and
 * "certs.key" in the store (a file of mode 0600, as the config vars), never
 * in an argv, an output or an event. letsencrypt:enable APP: the app's
 * property "letsencrypt.enabled"; berth-proxy gets and renews an ACME
 * certificate for the app's domains (proxy.ssl: true).
 *
 * One rule when both are set, Dokku's: letsencrypt replaces the custom
 * certificate. The certificate stays stored and serves again after
 * letsencrypt:disable.
 *
 * The ACME account's contact and directory are berth-proxy's, one for the
 * whole host (given at its boot: BERTH_PROXY_ACME_EMAIL,
 * BERTH_PROXY_ACME_DIRECTORY; Let's Encrypt by default).
 * letsencrypt:set [--global|APP] email|server [VALUE] changes them at run
 * time: kept as the settings "letsencrypt.email" and "letsencrypt.server"
 * in the store (no VALUE: unset), and handed to the running proxy with
 * `berth-proxy acme --email|--directory VALUE` (proxy/acmeset.h: it wins
 * over the boot's value, an unset one gives the boot's back; the next
 * order uses it, nothing restarts). The APP form sets the same, for the
 * whole host, and says so. letsencrypt:enable hands the stored ones to the
 * proxy again before it deploys (a proxy booted since with another state
 * gets them). The CA file the proxy trusts (BERTH_PROXY_ACME_CA_FILE)
 * stays a boot setting. letsencrypt:report shows what the running proxy
 * uses.
 *
 * Each change deploys the current release again (zero downtime); an app
 * not deployed yet gets it at its first deploy. When that deploy fails, the
 * setting goes back to what it was: the old version still serves, as it
 * did.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/certs.h"
#include "daemon/sshcmd.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "proxy/acmeset.h"

#define ACME_DEFAULT "https://acme-v02.api.letsencrypt.org/directory"
#define ACME_STAGING "https://acme-staging-v02.api.letsencrypt.org/directory"

/* The app's domains as a deploy routes them: its own, else APP.<global domain>. */
static int app_domains(struct bd *bd, const char *app, struct strvec *v, struct err *e)
{
	char *global = NULL;

	if (store_domain_list(&bd->store, app, v, e) < 0 ||
	    store_setting_get(&bd->store, "global-domain", &global, e) < 0) {
		return -1;
	}
	if (!v->nr && global) {
		strvec_pushf(v, "%s.%s", app, global);
	}
	free(global);
	return 0;
}

static int need_domains(struct bd *bd, const char *app, struct strvec *v, const char *what)
{
	struct err e = ERR_INIT;
	int rc = 0;

	if (app_domains(bd, app, v, &e) < 0) {
		rc = bd_fail_err(&e);
	} else if (!v->nr) {
		rc = bd_fail("%s has no domains: HTTPS is served per host name (domains:add %s "
			     "DOMAIN), so %s needs one",
			     app, app, what);
	}
	err_release(&e);
	return rc;
}

/* 1 when app's property name is set, 0 not, -1 with e set. */
static int prop_isset(struct bd *bd, const char *app, const char *name, struct err *e)
{
	char *v = NULL;
	int r = store_prop_get(&bd->store, app, name, &v, e);

	free(v);
	return r;
}

/*
 * Deploys app again for a TLS change. 0 done (or nothing deployed yet:
 * said), -1 with e set: the deploy failed, the old version serves.
 */
static int apply(struct bd *bd, const char *app, struct err *e)
{
	int r = appdeploy_redeploy(bd, app, e);

	if (r == 1) {
		bd_info(bd, "%s has not been deployed: this applies from its first deploy", app);
	}
	return r < 0 ? -1 : 0;
}

/* stdin, whole (at most CERTS_TAR_MAX bytes). 0, or 1 (printed). */
static int read_stdin(struct sbuf *in)
{
	char buf[65536];
	ssize_t n;

	if (isatty(0)) {
		return bd_fail("expected a tar on stdin: tar cf - server.crt server.key | ssh "
			       "berth@HOST certs:add APP");
	}
	while ((n = read(0, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return bd_fail("cannot read stdin: %s", strerror(errno));
		}
		if (in->len + (size_t)n > CERTS_TAR_MAX) {
			return bd_fail("stdin is larger than %d bytes: expected a tar with a "
				       "certificate and its key",
				       CERTS_TAR_MAX);
		}
		sbuf_add(in, buf, (size_t)n);
	}
	return 0;
}

/* Restores a property to its earlier value (NULL: unset); errors said, not returned. */
static void restore(struct bd *bd, const char *app, const char *name, const char *old)
{
	struct err e = ERR_INIT;

	if (store_prop_set(&bd->store, app, name, old, &e) < 0) {
		bd_fail_err(&e);
	}
	err_release(&e);
}

static void show_info(struct bd *bd, const struct certs_info *in)
{
	char when[32];
	char *names = strvec_join(&in->names, " ");

	certs_time(when, sizeof(when), in->not_after);
	bd_info(bd, "subject: %s", in->subject);
	bd_info(bd, "hostnames: %s", names);
	bd_info(bd, "expires at: %s", when);
	free(names);
}

int cmd_certs_add(struct bd *bd, int argc, const char **argv)
{
	const char *app = argv[1];
	struct sbuf in = SBUF_INIT;
	struct certs_pair p = {0};
	struct certs_info info = {0};
	struct strvec domains = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *old_crt = NULL, *old_key = NULL;
	int rc = 1, acme;

	if (argc != 2) {
		return bd_usage(!strcmp(argv[0], "certs:update") ? "certs:update APP < tar"
								 : "certs:add APP < tar");
	}
	if (need_domains(bd, app, &domains, argv[0]) || read_stdin(&in)) {
		goto out;
	}
	if (certs_from_tar(in.buf, in.len, &p, &e) < 0 ||
	    certs_check(p.crt, p.key, &info, &e) < 0) {
		err_prefix(&e, "%s: nothing changed", argv[0]);
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_prop_get(&bd->store, app, "certs.crt", &old_crt, &e) < 0 ||
	    store_prop_get(&bd->store, app, "certs.key", &old_key, &e) < 0 ||
	    (acme = prop_isset(bd, app, "letsencrypt.enabled", &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_begin(&bd->store, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_prop_set(&bd->store, app, "certs.crt", p.crt, &e) < 0 ||
	    store_prop_set(&bd->store, app, "certs.key", p.key, &e) < 0) {
		store_rollback(&bd->store);
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_commit(&bd->store, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "%s certificate of %s (%s, %s)", old_crt ? "Replacing the" : "Adding a", app,
		p.crt_name, p.key_name);
	show_info(bd, &info);
	for (size_t i = 0; i < domains.nr; i++) {
		if (!certs_covers(&info, domains.v[i])) {
			printf(" !     the certificate does not cover %s (a client checking it "
			       "refuses it there)\n",
			       domains.v[i]);
		}
	}
	if (info.not_after < time(NULL)) {
		printf(" !     the certificate has expired\n");
	}
	bd_event(bd, app, argv[0], NULL);
	if (acme > 0) {
		bd_info(bd,
			"letsencrypt is enabled for %s and replaces this certificate; it serves "
			"after letsencrypt:disable %s",
			app, app);
		rc = 0;
		goto out;
	}
	if (apply(bd, app, &e) < 0) {
		restore(bd, app, "certs.crt", old_crt);
		restore(bd, app, "certs.key", old_key);
		err_prefix(&e, "the certificate was not put in place (as before)");
		rc = bd_fail_err(&e);
		goto out;
	}
	rc = 0;
out:
	if (old_key) {
		OPENSSL_cleanse(old_key, strlen(old_key));
	}
	if (in.len) {
		OPENSSL_cleanse(in.buf, in.len);
	}
	free(old_crt);
	free(old_key);
	sbuf_release(&in);
	certs_pair_release(&p);
	certs_info_release(&info);
	strvec_clear(&domains);
	err_release(&e);
	return rc;
}

int cmd_certs_remove(struct bd *bd, int argc, const char **argv)
{
	const char *app = argv[1];
	struct err e = ERR_INIT;
	char *old_crt = NULL, *old_key = NULL;
	int rc = 1, acme;

	if (argc != 2) {
		return bd_usage("certs:remove APP");
	}
	if (store_prop_get(&bd->store, app, "certs.crt", &old_crt, &e) < 0 ||
	    store_prop_get(&bd->store, app, "certs.key", &old_key, &e) < 0 ||
	    (acme = prop_isset(bd, app, "letsencrypt.enabled", &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!old_crt) {
		rc = bd_fail("%s has no certificate (certs:add)", app);
		goto out;
	}
	if (store_prop_set(&bd->store, app, "certs.crt", NULL, &e) < 0 ||
	    store_prop_set(&bd->store, app, "certs.key", NULL, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Removing the certificate of %s", app);
	bd_event(bd, app, "certs:remove", NULL);
	if (acme > 0) {
		bd_info(bd, "letsencrypt serves %s: nothing else changes", app);
		rc = 0;
		goto out;
	}
	if (apply(bd, app, &e) < 0) {
		restore(bd, app, "certs.crt", old_crt);
		restore(bd, app, "certs.key", old_key);
		err_prefix(&e, "the certificate stays (as before)");
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_info(bd, "%s is served over plain HTTP", app);
	rc = 0;
out:
	if (old_key) {
		OPENSSL_cleanse(old_key, strlen(old_key));
	}
	free(old_crt);
	free(old_key);
	err_release(&e);
	return rc;
}

static void json_str(struct sbuf *sb, const char *name, const char *v, bool comma)
{
	sbuf_addf(sb, "%s\"%s\":\"", comma ? "," : "", name);
	sbuf_add_json_escaped(sb, v, strlen(v));
	sbuf_addch(sb, '"');
}

/* A command's own "--format json|text" (also taken before the command). 0, or 1 (printed). */
static int format_opt(struct bd *bd, int argc, const char **argv, const char *usage)
{
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json or text"),
	    OPT_END(),
	};
	int n = bd_opts(argc - 1, argv + 1, opts, usage);

	if (n < 0) {
		return 1;
	}
	if (n != 1 || (format && strcmp(format, "json") && strcmp(format, "text"))) {
		return bd_usage(usage);
	}
	if (format) {
		bd->json = !strcmp(format, "json");
	}
	return 0;
}

int cmd_certs_report(struct bd *bd, int argc, const char **argv)
{
	static const char usage[] = "certs:report APP [--format json]";
	struct certs_info info = {0};
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	char *crt = NULL, *key = NULL, *names = NULL;
	char starts[32] = "", expires[32] = "";
	const char *verified = "", *app;
	int rc = 1, acme = 0;
	bool have = false;

	if (format_opt(bd, argc, argv, usage)) {
		return 1;
	}
	app = argv[0 + 1];
	if (store_prop_get(&bd->store, app, "certs.crt", &crt, &e) < 0 ||
	    store_prop_get(&bd->store, app, "certs.key", &key, &e) < 0 ||
	    (acme = prop_isset(bd, app, "letsencrypt.enabled", &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (crt && key) {
		if (certs_check(crt, key, &info, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		have = true;
		names = strvec_join(&info.names, " ");
		certs_time(starts, sizeof(starts), info.not_before);
		certs_time(expires, sizeof(expires), info.not_after);
		verified = info.self_signed ? "self signed"
			   : info.verified  ? "verified by a certificate authority"
					    : "not verified (no CA of this host's trust store)";
	}
	if (bd->json) {
		sbuf_addf(&sb, "{\"enabled\":%s", have ? "true" : "false");
		json_str(&sb, "hostnames", names ? names : "", true);
		json_str(&sb, "expires_at", expires, true);
		json_str(&sb, "starts_at", starts, true);
		json_str(&sb, "issuer", have ? info.issuer : "", true);
		json_str(&sb, "subject", have ? info.subject : "", true);
		json_str(&sb, "verified", verified, true);
		json_str(&sb, "served",
			 acme > 0 ? "letsencrypt"
			 : have	  ? "certificate"
				  : "none",
			 true);
		sbuf_addstr(&sb, "}\n");
		fputs(sb.buf, stdout);
		rc = 0;
		goto out;
	}
	printf("=====> %s ssl information\n", app);
	printf("       Ssl enabled:                   %s\n", have ? "true" : "false");
	printf("       Ssl hostnames:                 %s\n", names ? names : "");
	printf("       Ssl expires at:                %s\n", expires);
	printf("       Ssl issuer:                    %s\n", have ? info.issuer : "");
	printf("       Ssl starts at:                 %s\n", starts);
	printf("       Ssl subject:                   %s\n", have ? info.subject : "");
	printf("       Ssl verified:                  %s\n", verified);
	printf("       Ssl served:                    %s\n",
	       acme > 0 ? "letsencrypt (it replaces the custom certificate)"
	       : have	? "this certificate"
			: "none (plain HTTP)");
	rc = 0;
out:
	if (key) {
		OPENSSL_cleanse(key, strlen(key));
	}
	free(crt);
	free(key);
	free(names);
	sbuf_release(&sb);
	certs_info_release(&info);
	err_release(&e);
	return rc;
}

/* ---- letsencrypt:* ---- */

/* Output of docker ARGS... (NULL when it failed). Malloc'd. */
static char *docker_out(const char *const *args)
{
	struct run_cmd c = RUN_CMD_INIT;
	char *s = NULL;

	strvec_push(&c.argv, "docker");
	strvec_pushv(&c.argv, args);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	if (run_one(&c) == 0) {
		s = sbuf_detach(&c.outbuf, NULL);
	}
	run_cmd_release(&c);
	return s;
}

/* The running berth-proxy's value of env NAME (NULL: not set or no proxy). Malloc'd. */
static char *proxy_env(const char *env, const char *name)
{
	size_t n = strlen(name);
	struct slice rest;

	if (!env) {
		return NULL;
	}
	rest = slice_make(env, strlen(env));
	while (rest.ptr) {
		struct slice l = slice_next(&rest, '\n');
		if (l.len > n && !memcmp(l.ptr, name, n) && l.ptr[n] == '=') {
			return xstrndup(l.ptr + n + 1, l.len - n - 1);
		}
	}
	return NULL;
}

/*
 * What berth-proxy says of app's certificate: status ("ok", "pending",
 * "error", ...) and expiry into the buffers; "unknown" when it cannot say.
 */
static void proxy_cert(json_t *list, const char *app, char *status, size_t ss, char *expires,
		       size_t es)
{
	struct sbuf svc = SBUF_INIT;
	size_t i;
	json_t *it;

	snprintf(status, ss, "%s", list ? "not served" : "unknown (berth-proxy did not answer)");
	expires[0] = '\0';
	sbuf_addf(&svc, "%s-web", app);
	json_array_foreach(list, i, it)
	{
		json_t *c = json_object_get(json_object_get(it, "tls"), "certificate");
		const char *name = json_string_value(json_object_get(it, "name"));

		if (!name || strcmp(name, svc.buf)) {
			continue;
		}
		if (!c) {
			snprintf(status, ss, "no TLS");
			break;
		}
		snprintf(status, ss, "%s",
			 json_string_value(json_object_get(c, "status"))
			     ? json_string_value(json_object_get(c, "status"))
			     : "unknown");
		if (json_integer_value(json_object_get(c, "not_after")) > 0) {
			certs_time(expires, es,
				   (time_t)json_integer_value(json_object_get(c, "not_after")));
		}
		break;
	}
	sbuf_release(&svc);
}

static json_t *proxy_list(void)
{
	char *out = docker_out(
	    (const char *[]){"exec", "berth-proxy", "berth-proxy", "list", "--json", NULL});
	json_t *j = out ? json_loads(out, 0, NULL) : NULL;

	free(out);
	if (j && !json_is_array(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* The store's setting of letsencrypt:set's key ("email" or "server"). */
static const char *acme_setting(const char *key)
{
	return !strcmp(key, "email") ? "letsencrypt.email" : "letsencrypt.server";
}

/* Dokku's letsencrypt keys that berth-proxy has no use for. */
static const char *const le_unsupported[] = {"dns-provider", "graceperiod", "lego-docker-args"};

int letsencrypt_set_args(int argc, const char **argv, const char **app, const char **key,
			 char **value, struct err *e)
{
	const char *v;

	*app = *key = NULL;
	*value = NULL;
	if (argc < 3 || argc > 4) {
		return err_set(e, "usage: berthd %s", LETSENCRYPT_SET_USAGE);
	}
	if (strcmp(argv[1], "--global")) {
		if (!sshcmd_valid_app(argv[1])) {
			return err_set(
			    e, "expected --global or an app name, got '%s' (usage: berthd %s)",
			    argv[1], LETSENCRYPT_SET_USAGE);
		}
		*app = argv[1];
	}
	*key = argv[2];
	v = argc == 4 ? argv[3] : NULL;
	if (strcmp(*key, "email") && strcmp(*key, "server")) {
		bool dokku = !strncmp(*key, "dns-provider-", 13);

		for (size_t i = 0; i < sizeof(le_unsupported) / sizeof(le_unsupported[0]); i++) {
			dokku = dokku || !strcmp(*key, le_unsupported[i]);
		}
		return err_set(e, "%s '%s': the supported keys are email and server%s",
			       dokku ? "berth-proxy has no use for" : "invalid key", *key,
			       dokku ? " (berth-proxy answers HTTP-01 itself and renews a third "
				       "before the end)"
				     : "");
	}
	if (!v) {
		return 0;
	}
	if (!strcmp(*key, "email")) {
		if (acmeset_check_email(v, e) < 0) {
			return -1;
		}
		*value = xstrdup(v);
		return 0;
	}
	if (!strcmp(v, "production") || !strcmp(v, "default")) {
		*value = xstrdup(ACME_DEFAULT);
	} else if (!strcmp(v, "staging")) {
		*value = xstrdup(ACME_STAGING);
	} else if (acmeset_check_directory(v, e) < 0) {
		err_prefix(e, "server (production, staging or a URL)");
		return -1;
	} else {
		*value = xstrdup(v);
	}
	return 0;
}

/*
 * Hands berthd's ACME settings to the running berth-proxy: each of email and
 * server that is stored, and "" (the boot's value again) for one that is
 * not, but only those in keys (NULL-terminated). 0, or -1 with e set.
 */
static int proxy_acme_apply(struct bd *bd, const char *const *keys, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int rc = -1;

	strvec_pushv(&c.argv, (const char *[]){"docker", "exec", "berth-proxy", "berth-proxy",
					       "acme", NULL});
	for (; *keys; keys++) {
		char *v = NULL;

		if (store_setting_get(&bd->store, acme_setting(*keys), &v, e) < 0) {
			goto out;
		}
		strvec_push(&c.argv, !strcmp(*keys, "email") ? "--email" : "--directory");
		strvec_push(&c.argv, v ? v : "");
		free(v);
	}
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0 || c.status) {
		sbuf_trim(&c.errbuf);
		err_set(e, "berth-proxy did not take it (%s)",
			c.errbuf.len ? c.errbuf.buf : "docker exec berth-proxy failed");
		goto out;
	}
	rc = 0;
out:
	run_cmd_release(&c);
	return rc;
}

/* The keys of berthd's ACME settings that are stored (at most 2, NULL-terminated). */
static int stored_acme_keys(struct bd *bd, const char *keys[3], struct err *e)
{
	static const char *const all[] = {"email", "server"};
	size_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		char *v = NULL;
		int r = store_setting_get(&bd->store, acme_setting(all[i]), &v, e);

		free(v);
		if (r < 0) {
			return -1;
		}
		if (r > 0) {
			keys[n++] = all[i];
		}
	}
	keys[n] = NULL;
	return 0;
}

int cmd_letsencrypt_enable(struct bd *bd, int argc, const char **argv)
{
	const char *app = argv[1];
	struct strvec domains = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc = 1, was, cert;

	if (argc != 2) {
		return bd_usage("letsencrypt:enable APP");
	}
	if (need_domains(bd, app, &domains, "letsencrypt:enable")) {
		goto out;
	}
	for (size_t i = 0; i < domains.nr; i++) {
		if (!strncmp(domains.v[i], "*.", 2)) {
			rc = bd_fail(
			    "%s: an ACME certificate of berth-proxy cannot cover a wildcard "
			    "domain (HTTP-01): use certs:add for it",
			    domains.v[i]);
			goto out;
		}
	}
	if ((was = prop_isset(bd, app, "letsencrypt.enabled", &e)) < 0 ||
	    (cert = prop_isset(bd, app, "certs.crt", &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_prop_set(&bd->store, app, "letsencrypt.enabled", "true", &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Enabling letsencrypt for %s", app);
	{
		char *j = strvec_join(&domains, " ");
		bd_info(bd, "berth-proxy gets and renews the certificate of %s (ACME, HTTP-01)", j);
		free(j);
	}
	if (cert > 0) {
		bd_info(bd, "it replaces the certificate of certs:add (kept: it serves again after "
			    "letsencrypt:disable)");
	}
	bd_event(bd, app, "letsencrypt:enable", NULL);
	{
		const char *keys[3];

		if (stored_acme_keys(bd, keys, &e) < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		if (keys[0] && proxy_acme_apply(bd, keys, &e) < 0) {
			fprintf(stderr, " !     letsencrypt:set's %s: %s\n", keys[0], err_str(&e));
			err_release(&e);
		}
	}
	if (apply(bd, app, &e) < 0) {
		if (!was) {
			restore(bd, app, "letsencrypt.enabled", NULL);
		}
		err_prefix(&e, "letsencrypt was not enabled");
		rc = bd_fail_err(&e);
		goto out;
	}
	rc = 0;
out:
	strvec_clear(&domains);
	err_release(&e);
	return rc;
}

int cmd_letsencrypt_disable(struct bd *bd, int argc, const char **argv)
{
	const char *app = argv[1];
	struct err e = ERR_INIT;
	int rc = 1, was, cert;

	if (argc != 2) {
		return bd_usage("letsencrypt:disable APP");
	}
	if ((was = prop_isset(bd, app, "letsencrypt.enabled", &e)) < 0 ||
	    (cert = prop_isset(bd, app, "certs.crt", &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!was) {
		bd_info(bd, "letsencrypt is not enabled for %s", app);
		rc = 0;
		goto out;
	}
	if (store_prop_set(&bd->store, app, "letsencrypt.enabled", NULL, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Disabling letsencrypt for %s", app);
	bd_event(bd, app, "letsencrypt:disable", NULL);
	if (apply(bd, app, &e) < 0) {
		restore(bd, app, "letsencrypt.enabled", "true");
		err_prefix(&e, "letsencrypt stays enabled");
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_info(bd, "%s is served %s", app,
		cert > 0 ? "with its certificate (certs:add)" : "over plain HTTP");
	rc = 0;
out:
	err_release(&e);
	return rc;
}

int cmd_letsencrypt_list(struct bd *bd, int argc, const char **argv)
{
	struct strvec names = STRVEC_INIT;
	struct err e = ERR_INIT;
	json_t *list = NULL;
	bool first = true;
	int rc = 1;

	if (argc != 1) {
		return bd_usage("letsencrypt:list");
	}
	if (store_app_list(&bd->store, &names, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	list = proxy_list();
	if (bd->json) {
		putchar('[');
	} else {
		printf("-----> App name           Certificate status   Expires at\n");
	}
	for (size_t i = 0; i < names.nr; i++) {
		char status[64], expires[32];
		int on;

		if (!bd_can(bd, names.v[i], BD_READ)) {
			continue;
		}
		on = prop_isset(bd, names.v[i], "letsencrypt.enabled", &e);
		if (on < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		if (!on) {
			continue;
		}
		proxy_cert(list, names.v[i], status, sizeof(status), expires, sizeof(expires));
		if (bd->json) {
			printf("%s{\"app\":\"%s\",\"status\":\"%s\",\"expires_at\":\"%s\"}",
			       first ? "" : ",", names.v[i], status, expires);
		} else {
			printf("%-24s %-20s %s\n", names.v[i], status, expires);
		}
		first = false;
	}
	if (bd->json) {
		puts("]");
	}
	rc = 0;
out:
	json_decref(list);
	strvec_clear(&names);
	err_release(&e);
	return rc;
}

int cmd_letsencrypt_report(struct bd *bd, int argc, const char **argv)
{
	static const char usage[] = "letsencrypt:report APP [--format json]";
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	char *env = NULL, *email = NULL, *dir = NULL, *acme_out = NULL;
	char status[64], expires[32];
	json_t *list = NULL, *acme = NULL;
	const char *app;
	int rc = 1, on;

	if (format_opt(bd, argc, argv, usage)) {
		return 1;
	}
	app = argv[1];
	if ((on = prop_isset(bd, app, "letsencrypt.enabled", &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	/* What the running proxy uses (berth-proxy acme), else its boot env (an older proxy). */
	acme_out = docker_out(
	    (const char *[]){"exec", "berth-proxy", "berth-proxy", "acme", "--json", NULL});
	acme = acme_out ? json_loads(acme_out, 0, NULL) : NULL;
	if (json_is_object(acme)) {
		const char *em = json_string_value(json_object_get(acme, "email"));
		const char *di = json_string_value(json_object_get(acme, "directory"));

		env = xstrdup("");
		email = em && *em ? xstrdup(em) : NULL;
		dir = di && *di ? xstrdup(di) : NULL;
	} else {
		env = docker_out((const char *[]){"inspect", "--format",
						  "{{range .Config.Env}}{{println .}}{{end}}",
						  "berth-proxy", NULL});
		email = proxy_env(env, "BERTH_PROXY_ACME_EMAIL");
		dir = proxy_env(env, "BERTH_PROXY_ACME_DIRECTORY");
	}
	if (on) {
		list = proxy_list();
		proxy_cert(list, app, status, sizeof(status), expires, sizeof(expires));
	} else {
		snprintf(status, sizeof(status), "%s", "");
		expires[0] = '\0';
	}
	if (bd->json) {
		sbuf_addf(&sb, "{\"active\":%s", on ? "true" : "false");
		json_str(&sb, "email", email ? email : "", true);
		json_str(&sb, "server", dir ? dir : (env ? ACME_DEFAULT : ""), true);
		json_str(&sb, "certificate_status", status, true);
		json_str(&sb, "expires_at", expires, true);
		sbuf_addstr(&sb, "}\n");
		fputs(sb.buf, stdout);
		rc = 0;
		goto out;
	}
	printf("=====> %s letsencrypt information\n", app);
	printf("       Letsencrypt active:            %s\n", on ? "true" : "false");
	printf("       Letsencrypt email:             %s\n",
	       email ? email
	       : env ? "none (letsencrypt:set --global email ADDR)"
		     : "unknown (no berth-proxy running)");
	printf("       Letsencrypt server:            %s\n",
	       dir ? dir : (env ? ACME_DEFAULT : "unknown (no berth-proxy running)"));
	printf("       Letsencrypt certificate:       %s\n", status);
	printf("       Letsencrypt expires at:        %s\n", expires);
	rc = 0;
out:
	json_decref(list);
	json_decref(acme);
	free(acme_out);
	free(env);
	free(email);
	free(dir);
	sbuf_release(&sb);
	err_release(&e);
	return rc;
}

int cmd_letsencrypt_set(struct bd *bd, int argc, const char **argv)
{
	const char *app, *key;
	char *value = NULL;
	struct err e = ERR_INIT;
	int rc = 1;

	if (letsencrypt_set_args(argc, argv, &app, &key, &value, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (app && !store_app_exists(&bd->store, app)) {
		bd_fail("App %s does not exist", app);
		rc = BD_EXIT_NO_APP;
		goto out;
	}
	if (store_setting_set(&bd->store, acme_setting(key), value, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (value) {
		bd_step(bd, "Setting %s to %s", key, value);
	} else {
		bd_step(bd, "Unsetting %s", key);
	}
	if (app) {
		fprintf(
		    stderr,
		    " !     berth-proxy has one ACME account for the whole host: this sets the %s "
		    "of every app's certificates, not only %s's\n",
		    key, app);
	}
	bd_event(bd, app, "letsencrypt:set", key);
	if (proxy_acme_apply(bd, (const char *[]){key, NULL}, &e) < 0) {
		fprintf(stderr,
			" !     %s: it is kept, and handed to berth-proxy at the next "
			"letsencrypt:enable\n",
			err_str(&e));
	} else {
		bd_info(bd, "berth-proxy uses it from its next certificate order");
	}
	rc = 0;
out:
	free(value);
	err_release(&e);
	return rc;
}

int cmd_letsencrypt_cron_job(struct bd *bd, int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	bd_step(bd, "No cron job needed: berth-proxy renews its ACME certificates by itself "
		    "(when a third of their lifetime is left)");
	return 0;
}
