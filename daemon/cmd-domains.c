/*
 * domains:* — the hosts berth-proxy routes to an app's web process. An app
 * without domains of its own is reached as APP.<global domain> when a global
 * domain is set. A change deploys the current release again (the routes
 * are part of a release).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/sbuf.h"

#define DOMAIN_MAX 253

/* A host name ("*." allowed in front); lowercased in place. */
bool domains_valid_name(char *d)
{
	size_t n = strlen(d), label = 0;
	char *p = d;

	if (!n || n > DOMAIN_MAX) {
		return false;
	}
	if (!strncmp(p, "*.", 2)) {
		p += 2;
	}
	if (!*p || *p == '.' || *p == '-') {
		return false;
	}
	for (; *p; p++) {
		if (*p >= 'A' && *p <= 'Z') {
			*p = (char)(*p - 'A' + 'a');
		}
		if (*p == '.') {
			if (!label || p[-1] == '-') {
				return false;
			}
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') ||
		    ++label > 63) {
			return false;
		}
	}
	return label > 0 && p[-1] != '-';
}

/* The domains of argv[2..argc), checked, into v. 0, or 1 (printed). */
static int read_domains(int argc, const char **argv, struct strvec *v)
{
	for (int i = 2; i < argc; i++) {
		strvec_push(v, argv[i]);
		if (!domains_valid_name(v->v[v->nr - 1])) {
			return bd_fail("invalid domain '%s'", argv[i]);
		}
	}
	return 0;
}

static int redeploy(struct bd *bd, const char *app)
{
	struct err e = ERR_INIT;
	int rc = 0;

	if (appdeploy_redeploy(bd, app, &e) < 0) {
		rc = bd_fail_err(&e);
	}
	err_release(&e);
	return rc;
}

int cmd_domains_add(struct bd *bd, int argc, const char **argv)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc;

	if (argc < 3) {
		return bd_usage("domains:add APP DOMAIN...");
	}
	rc = read_domains(argc, argv, &v);
	for (size_t i = 0; !rc && i < v.nr; i++) {
		bd_step(bd, "Adding %s to %s", v.v[i], argv[1]);
		if (store_domain_add(&bd->store, argv[1], v.v[i], &e) < 0) {
			rc = bd_fail_err(&e);
		}
	}
	if (!rc) {
		bd_event_v(bd, argv[1], "domains:add", &v);
		rc = redeploy(bd, argv[1]);
	}
	strvec_clear(&v);
	err_release(&e);
	return rc;
}

int cmd_domains_remove(struct bd *bd, int argc, const char **argv)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc;

	if (argc < 3) {
		return bd_usage("domains:remove APP DOMAIN...");
	}
	rc = read_domains(argc, argv, &v);
	for (size_t i = 0; !rc && i < v.nr; i++) {
		int r = store_domain_remove(&bd->store, argv[1], v.v[i], &e);
		if (r < 0) {
			rc = bd_fail_err(&e);
		} else if (r == 0) {
			bd_info(bd, "%s was not a domain of %s", v.v[i], argv[1]);
		} else {
			bd_step(bd, "Removed %s from %s", v.v[i], argv[1]);
		}
	}
	if (!rc) {
		bd_event_v(bd, argv[1], "domains:remove", &v);
		rc = redeploy(bd, argv[1]);
	}
	strvec_clear(&v);
	err_release(&e);
	return rc;
}

int cmd_domains_set(struct bd *bd, int argc, const char **argv)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc;

	if (argc < 2) {
		return bd_usage("domains:set APP DOMAIN... (none: only the global domain)");
	}
	rc = read_domains(argc, argv, &v);
	if (!rc && store_domain_set(&bd->store, argv[1], &v, &e) < 0) {
		rc = bd_fail_err(&e);
	}
	if (!rc) {
		char *j = strvec_join(&v, " ");
		bd_step(bd, "Set %s for %s", v.nr ? j : "no domains", argv[1]);
		free(j);
		bd_event_v(bd, argv[1], "domains:set", &v);
		rc = redeploy(bd, argv[1]);
	}
	strvec_clear(&v);
	err_release(&e);
	return rc;
}

int cmd_domains_clear(struct bd *bd, int argc, const char **argv)
{
	if (argc != 2) {
		return bd_usage("domains:clear APP");
	}
	return cmd_domains_set(bd, argc, argv);
}

int cmd_domains_report(struct bd *bd, int argc, const char **argv)
{
	struct strvec v = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *global = NULL, *j = NULL;
	int rc = 0;

	if (argc < 2) {
		return bd_usage("domains:report APP");
	}
	if (store_domain_list(&bd->store, argv[1], &v, &e) < 0 ||
	    store_setting_get(&bd->store, "global-domain", &global, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	j = strvec_join(&v, " ");
	if (bd->json) {
		struct sbuf sb = SBUF_INIT;
		sbuf_addstr(&sb, "{\"app_vhosts\":[");
		for (size_t i = 0; i < v.nr; i++) {
			sbuf_addf(&sb, "%s\"%s\"", i ? "," : "", v.v[i]);
		}
		sbuf_addf(&sb, "],\"global_vhost\":\"%s\"}\n", global ? global : "");
		fputs(sb.buf, stdout);
		sbuf_release(&sb);
		goto out;
	}
	printf("=====> %s domains information\n", argv[1]);
	printf("       Domains app enabled:           %s\n", v.nr || global ? "true" : "false");
	printf("       Domains app vhosts:            %s\n",
	       v.nr ? j : (global ? "(APP.global domain)" : ""));
	printf("       Domains global enabled:        %s\n", global ? "true" : "false");
	printf("       Domains global vhosts:         %s\n", global ? global : "");
out:
	strvec_clear(&v);
	free(global);
	free(j);
	err_release(&e);
	return rc;
}

int bd_domains_set_global(struct store *s, char *domain, struct err *e)
{
	if (!domains_valid_name(domain) || domain[0] == '*') {
		return err_set(e, "invalid domain '%s' (a host name like example.com)", domain);
	}
	return store_setting_set(s, "global-domain", domain, e);
}

int cmd_domains_set_global(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	struct strvec v = STRVEC_INIT;
	int rc = 0;

	if (argc != 2) {
		return bd_usage("domains:set-global DOMAIN");
	}
	strvec_push(&v, argv[1]);
	if (bd_domains_set_global(&bd->store, v.v[0], &e) < 0) {
		rc = bd_fail_err(&e);
	} else {
		bd_step(bd, "Set global domain to %s", v.v[0]);
		bd_event(bd, NULL, "domains:set-global", v.v[0]);
		/* the panel follows the global domain; the domain is set all the same */
		if (bd_panel_route(bd, &e) < 0) {
			rc = bd_fail_err(&e);
		}
	}
	strvec_clear(&v);
	err_release(&e);
	return rc;
}
