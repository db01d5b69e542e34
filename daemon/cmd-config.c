/*
 * config:* — an app's config vars: the env of its containers, secrets
 * included. A value is printed only by the commands that exist to show it
 * (get, show, export) and is never in an event or a log line; a change
 * deploys the current release again unless --no-restart.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

#define CONFIG_NAME_MAX 256

bool config_valid_name(const char *s, size_t n)
{
	if (!n || n > CONFIG_NAME_MAX || (s[0] >= '0' && s[0] <= '9')) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_')) {
			return false;
		}
	}
	return true;
}

/* Decodes base64 (--encoded) into out. 0, or -1. */
static int decode64(const char *in, size_t len, struct sbuf *out)
{
	int n;

	if (len % 4) {
		return -1;
	}
	sbuf_grow(out, len);
	n = len ? EVP_DecodeBlock((unsigned char *)out->buf, (const unsigned char *)in, (int)len)
		: 0;
	if (n < 0) {
		return -1;
	}
	if (len) {
		n -= (in[len - 1] == '=') + (in[len - 2] == '=');
	}
	sbuf_setlen(out, (size_t)n);
	return memchr(out->buf, '\0', out->len) ? -1 : 0;
}

/* Deploys again after a change, unless asked not to or nothing is deployed. */
static int after_change(struct bd *bd, const char *app, bool no_restart)
{
	struct err e = ERR_INIT;
	int rc = 0;

	if (no_restart) {
		return 0;
	}
	if (appdeploy_redeploy(bd, app, &e) < 0) {
		rc = bd_fail_err(&e);
	}
	err_release(&e);
	return rc;
}

static const char set_usage[] = "config:set [--encoded] [--no-restart] APP KEY=VALUE...";

int cmd_config_set(struct bd *bd, int argc, const char **argv)
{
	bool encoded = false, no_restart = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "encoded", &encoded, "values are base64"),
	    OPT_BOOL(0, "no-restart", &no_restart, "do not deploy again"),
	    OPT_END(),
	};
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct sbuf v = SBUF_INIT;
	struct err e = ERR_INIT;
	int n = bd_opts(argc - 1, argv + 1, opts, set_usage), rc = 1;
	const char *app = argv[1];

	if (n < 0) {
		goto out;
	}
	if (n < 2) {
		rc = bd_usage(set_usage);
		goto out;
	}
	/* Every pair is checked before anything changes. */
	for (int i = 2; i <= n; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t nl;

		if (!eq) {
			rc = bd_fail("invalid env pair '%s': expected KEY=VALUE", argv[i]);
			goto out;
		}
		nl = (size_t)(eq - argv[i]);
		if (!config_valid_name(argv[i], nl)) {
			rc = bd_fail("invalid config name '%.*s' (letters, digits and '_', not "
				     "starting with a digit)",
				     (int)(nl > 64 ? 64 : nl), argv[i]);
			goto out;
		}
		sbuf_reset(&v);
		if (encoded ? decode64(eq + 1, strlen(eq + 1), &v) < 0
			    : (sbuf_addstr(&v, eq + 1), 0)) {
			rc = bd_fail("value of '%.*s' is not base64 (--encoded)", (int)nl, argv[i]);
			goto out;
		}
		if (v.len > CONFIG_VALUE_MAX) {
			rc = bd_fail("value of '%.*s' is too long (%zu bytes; at most %d)", (int)nl,
				     argv[i], v.len, CONFIG_VALUE_MAX);
			goto out;
		}
		if (memchr(v.buf, '\n', v.len)) {
			rc = bd_fail("value of '%.*s' holds a newline, which an env file cannot "
				     "carry",
				     (int)nl, argv[i]);
			goto out;
		}
		{
			char *name = xstrndup(argv[i], nl);
			strvec_push(&names, name);
			free(name);
		}
		strvec_push(&values, v.buf);
	}
	if (store_config_set(&bd->store, app, &names, &values, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event_v(bd, app, "config:set", &names);
	bd_step(bd, "Setting config vars");
	for (size_t i = 0; i < names.nr; i++) {
		bd_info(bd, "%s", names.v[i]);
	}
	rc = after_change(bd, app, no_restart);
out:
	strvec_clear(&names);
	strvec_clear(&values);
	sbuf_release(&v);
	err_release(&e);
	return rc;
}

int cmd_config_keys(struct bd *bd, int argc, const char **argv)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc = 0;

	if (argc != 2) {
		return bd_usage("config:keys APP");
	}
	if (store_config_list(&bd->store, argv[1], &names, &values, &e) < 0) {
		rc = bd_fail_err(&e);
	}
	for (size_t i = 0; i < names.nr; i++) {
		printf("%s\n", names.v[i]);
	}
	strvec_clear(&names);
	strvec_clear(&values);
	err_release(&e);
	return rc;
}

int cmd_config_get(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	char *value = NULL;
	int r, rc = 1;

	if (argc != 3) {
		return bd_usage("config:get APP KEY");
	}
	r = store_config_get(&bd->store, argv[1], argv[2], &value, &e);
	if (r < 0) {
		rc = bd_fail_err(&e);
	} else if (r == 1) {
		printf("%s\n", value);
		rc = 0;
	}
	free(value);
	err_release(&e);
	return rc;
}

static const char unset_usage[] = "config:unset [--no-restart] APP KEY...";

int cmd_config_unset(struct bd *bd, int argc, const char **argv)
{
	bool no_restart = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "no-restart", &no_restart, "do not deploy again"),
	    OPT_END(),
	};
	struct strvec names = STRVEC_INIT;
	struct err e = ERR_INIT;
	int n = bd_opts(argc - 1, argv + 1, opts, unset_usage), rc = 1;

	if (n < 0) {
		goto out;
	}
	if (n < 2) {
		rc = bd_usage(unset_usage);
		goto out;
	}
	for (int i = 2; i <= n; i++) {
		strvec_push(&names, argv[i]);
	}
	if (store_config_unset(&bd->store, argv[1], &names, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event_v(bd, argv[1], "config:unset", &names);
	for (size_t i = 0; i < names.nr; i++) {
		bd_step(bd, "Unsetting %s", names.v[i]);
	}
	rc = after_change(bd, argv[1], no_restart);
out:
	strvec_clear(&names);
	err_release(&e);
	return rc;
}

static void json_str(struct sbuf *sb, const char *s)
{
	sbuf_addch(sb, '"');
	sbuf_add_json_escaped(sb, s, strlen(s));
	sbuf_addch(sb, '"');
}

static void shell_quote(struct sbuf *sb, const char *s)
{
	sbuf_addch(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'') {
			sbuf_addstr(sb, "'\\''");
		} else {
			sbuf_addch(sb, *s);
		}
	}
	sbuf_addch(sb, '\'');
}

int cmd_config_show(struct bd *bd, int argc, const char **argv)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;
	size_t w = 0;
	int rc = 0;

	if (argc != 2) {
		return bd_usage("config:show APP");
	}
	if (store_config_list(&bd->store, argv[1], &names, &values, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		sbuf_addch(&out, '{');
		for (size_t i = 0; i < names.nr; i++) {
			sbuf_addstr(&out, i ? "," : "");
			json_str(&out, names.v[i]);
			sbuf_addch(&out, ':');
			json_str(&out, values.v[i]);
		}
		sbuf_addstr(&out, "}\n");
	} else {
		sbuf_addf(&out, "=====> %s env vars\n", argv[1]);
		for (size_t i = 0; i < names.nr; i++) {
			w = strlen(names.v[i]) > w ? strlen(names.v[i]) : w;
		}
		for (size_t i = 0; i < names.nr; i++) {
			sbuf_addf(&out, "%s:%*s%s\n", names.v[i], (int)(w - strlen(names.v[i]) + 2),
				  "", values.v[i]);
		}
	}
	fputs(out.buf, stdout);
out:
	strvec_clear(&names);
	strvec_clear(&values);
	sbuf_release(&out);
	err_release(&e);
	return rc;
}

static const char export_usage[] =
    "config:export [--format exports|envfile|docker-args|shell|json] APP";

int cmd_config_export(struct bd *bd, int argc, const char **argv)
{
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT",
		       "exports, envfile, docker-args, shell, json"),
	    OPT_END(),
	};
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;
	int n = bd_opts(argc - 1, argv + 1, opts, export_usage), rc = 1;

	if (n < 0) {
		goto out;
	}
	if (!format) {
		format = bd->json ? "json" : "exports";
	}
	if (n != 1 ||
	    (strcmp(format, "exports") && strcmp(format, "envfile") &&
	     strcmp(format, "docker-args") && strcmp(format, "shell") && strcmp(format, "json"))) {
		rc = bd_usage(export_usage);
		goto out;
	}
	if (store_config_list(&bd->store, argv[1], &names, &values, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!strcmp(format, "json")) {
		sbuf_addch(&out, '{');
	}
	for (size_t i = 0; i < names.nr; i++) {
		if (!strcmp(format, "exports")) {
			sbuf_addf(&out, "export %s=", names.v[i]);
			shell_quote(&out, values.v[i]);
			sbuf_addch(&out, '\n');
		} else if (!strcmp(format, "envfile")) {
			sbuf_addf(&out, "%s=%s\n", names.v[i], values.v[i]);
		} else if (!strcmp(format, "docker-args")) {
			sbuf_addf(&out, "%s--env=%s=", i ? " " : "", names.v[i]);
			shell_quote(&out, values.v[i]);
		} else if (!strcmp(format, "shell")) {
			sbuf_addf(&out, "%s%s=", i ? " " : "", names.v[i]);
			shell_quote(&out, values.v[i]);
		} else {
			sbuf_addstr(&out, i ? "," : "");
			json_str(&out, names.v[i]);
			sbuf_addch(&out, ':');
			json_str(&out, values.v[i]);
		}
	}
	if (!strcmp(format, "json")) {
		sbuf_addch(&out, '}');
	}
	if (out.len && out.buf[out.len - 1] != '\n') {
		sbuf_addch(&out, '\n');
	}
	fputs(out.buf, stdout);
	rc = 0;
out:
	strvec_clear(&names);
	strvec_clear(&values);
	sbuf_release(&out);
	err_release(&e);
	return rc;
}
