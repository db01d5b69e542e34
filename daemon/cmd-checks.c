/*
 * checks:* — how a new release is found ready before it takes over
 * (Dokku's names). Stored as app properties (daemon/store.h), read by
 * appdeploy_spec at the next deploy:
 *	checks.path.web	checks:set APP web PATH: berth-proxy's health-check path
 *			(over app.json's)
 *	checks.disabled	checks:disable APP TYPES: the process types, comma
 *			separated, that count as started once they run (no
 *			readiness delay)
 * web is behind berth-proxy, which health-checks every new web container
 * before it switches traffic to it: that gate is what makes a deploy
 * zero-downtime, and the engine has no switch without it. So web's checks
 * cannot be disabled; checks:disable refuses it and says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

#define NO_WEB_MSG                                                                                 \
	"web's checks cannot be disabled: berth-proxy health-checks every new web container "      \
	"before it switches traffic to it (checks:set APP web PATH checks another path)"

static bool valid_type(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63 || !(s[0] >= 'a' && s[0] <= 'z')) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return false;
		}
	}
	return true;
}

/* Splits a comma-separated list into v (empty items dropped). */
static void split(struct strvec *v, const char *list)
{
	while (list && *list) {
		const char *comma = strchr(list, ',');
		size_t len = comma ? (size_t)(comma - list) : strlen(list);

		if (len) {
			strvec_pushf(v, "%.*s", (int)len, list);
		}
		list += len + (comma ? 1 : 0);
	}
}

static bool has(const struct strvec *v, const char *s)
{
	for (size_t i = 0; i < v->nr; i++) {
		if (!strcmp(v->v[i], s)) {
			return true;
		}
	}
	return false;
}

static void hint(struct bd *bd, const char *app)
{
	bd_info(bd, "takes effect at the next deploy (ps:restart %s)", app);
}

/* checks:disable and checks:enable: the stored list with types added or taken out. */
static int change(struct bd *bd, int argc, const char **argv, bool disable)
{
	const char *usage = disable ? "checks:disable APP [TYPES]" : "checks:enable APP [TYPES]";
	struct strvec cur = STRVEC_INIT, given = STRVEC_INIT, next = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *stored = NULL, *joined = NULL;
	int rc = 1;

	if (argc < 2 || argc > 3) {
		return bd_usage(usage);
	}
	split(&given, argc == 3 ? argv[2] : NULL);
	for (size_t i = 0; i < given.nr; i++) {
		if (!valid_type(given.v[i])) {
			rc = bd_fail("invalid process type '%s'", given.v[i]);
			goto out;
		}
	}
	if (disable && (!given.nr || has(&given, "web"))) {
		rc = bd_fail("%s", NO_WEB_MSG);
		goto out;
	}
	if (store_prop_get(&bd->store, argv[1], "checks.disabled", &stored, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	split(&cur, stored);
	for (size_t i = 0; i < cur.nr; i++) {
		if (disable || (given.nr && !has(&given, cur.v[i]))) {
			strvec_push(&next, cur.v[i]);
		}
	}
	for (size_t i = 0; disable && i < given.nr; i++) {
		if (!has(&next, given.v[i])) {
			strvec_push(&next, given.v[i]);
		}
	}
	joined = next.nr ? strvec_join(&next, ",") : NULL;
	if (store_prop_set(&bd->store, argv[1], "checks.disabled", joined, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (disable) {
		bd_step(bd, "Zero downtime checks disabled for %s: %s", argv[1], argv[2]);
	} else {
		bd_step(bd, "Zero downtime checks enabled for %s: %s", argv[1],
			argc == 3 ? argv[2] : "all process types");
	}
	hint(bd, argv[1]);
	if (given.nr) {
		bd_event_v(bd, argv[1], disable ? "checks:disable" : "checks:enable", &given);
	} else {
		bd_event(bd, argv[1], "checks:enable", NULL);
	}
	rc = 0;
out:
	strvec_clear(&cur);
	strvec_clear(&given);
	strvec_clear(&next);
	free(stored);
	free(joined);
	err_release(&e);
	return rc;
}

int cmd_checks_disable(struct bd *bd, int argc, const char **argv)
{
	return change(bd, argc, argv, true);
}

int cmd_checks_enable(struct bd *bd, int argc, const char **argv)
{
	return change(bd, argc, argv, false);
}

/* A path berth-proxy can ask for: "/" then printable bytes, no blanks, quotes or backslashes. */
static bool valid_path(const char *p)
{
	if (p[0] != '/' || strlen(p) > 1024) {
		return false;
	}
	for (; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '"' ||
		    *p == '\\') {
			return false;
		}
	}
	return true;
}

int cmd_checks_set(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	int rc = 1;

	if (argc != 4) {
		return bd_usage("checks:set APP web PATH");
	}
	if (strcmp(argv[2], "web")) {
		return bd_fail("only web has an HTTP check (berth-proxy's): checks:set %s web PATH",
			       argv[1]);
	}
	if (!valid_path(argv[3])) {
		return bd_fail("invalid check path '%s': expected a path starting with '/'",
			       argv[3]);
	}
	if (store_prop_set(&bd->store, argv[1], "checks.path.web", argv[3], &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Setting %s's web check path to %s", argv[1], argv[3]);
	hint(bd, argv[1]);
	bd_event(bd, argv[1], "checks:set", "web");
	rc = 0;
out:
	err_release(&e);
	return rc;
}

int cmd_checks_report(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	char *disabled = NULL, *path = NULL;
	int rc = 1;

	if (argc != 2) {
		return bd_usage("checks:report APP");
	}
	if (store_prop_get(&bd->store, argv[1], "checks.disabled", &disabled, &e) < 0 ||
	    store_prop_get(&bd->store, argv[1], "checks.path.web", &path, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		struct sbuf sb = SBUF_INIT;

		/* types and paths are checked when set: no byte needs escaping */
		sbuf_addf(&sb, "{\"disabled\":\"%s\",\"web_path\":\"%s\"}",
			  disabled ? disabled : "", path ? path : "");
		printf("%s\n", sb.buf);
		sbuf_release(&sb);
		rc = 0;
		goto out;
	}
	printf("=====> %s checks information\n", argv[1]);
	printf("       Checks disabled list:          %s\n", disabled ? disabled : "none");
	printf("       Checks web path:               %s\n", path ? path : "app.json's, else /");
	rc = 0;
out:
	free(disabled);
	free(path);
	err_release(&e);
	return rc;
}
