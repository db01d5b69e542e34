/*
 * panel:* — the way into berthd's panel and API (daemon/api.h): the route
 * of berth-proxy to berthd's HTTP port, the first admin's one-time
 * set-up link, and the panel's users for admin keys (list, remove, reset
 * a lost second factor).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/berthd.h"
#include "daemon/users.h"
#include "lib/banned.h"
#include "lib/run.h"
#include "lib/sbuf.h"

void bd_panel_route_argv(const char *root, struct strvec *argv)
{
	strvec_pushv(argv,
		     (const char *[]){"docker", "exec", "berth-proxy", "berth-proxy", "deploy",
				      BD_PANEL_SERVICE, "--target=berthd:3000", NULL});
	strvec_pushf(argv, "--host=berth.%s", root);
	strvec_pushf(argv, "--host=captain.%s", root);
	/* ACME by berth-proxy, HTTP redirected to HTTPS: the panel is never served in clear */
	strvec_pushv(argv, (const char *[]){"--tls", "--health-check-path=/up",
					    "--health-check-interval=1s", "--deploy-timeout=30s",
					    "--forward-headers=false", NULL});
}

int bd_panel_route(struct bd *bd, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	const char *in_container = getenv("BERTHD_PANEL_ROUTE");
	char *root = NULL;
	int r = -1;

	if (!in_container || strcmp(in_container, "1")) {
		return 0;
	}
	if (store_setting_get(&bd->store, "global-domain", &root, e) < 0) {
		goto out;
	}
	if (!root) {
		err_set(e, "no global domain: set one first (domains:set-global DOMAIN)");
		goto out;
	}
	bd_panel_route_argv(root, &c.argv);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	c.timeout_ms = 60 * 1000;
	if (run_one(&c) != 0) {
		struct slice tail = run_tail_lines(&c.errbuf, 3);
		err_set(e, "cannot route berth.%s to berthd through berth-proxy: %.*s", root,
			(int)tail.len, tail.ptr);
		goto out;
	}
	bd_step(bd, "Panel routed: https://berth.%s/ and https://captain.%s/", root, root);
	r = 0;
out:
	free(root);
	run_cmd_release(&c);
	return r;
}

int cmd_panel_setup_link(struct bd *bd, int argc, const char **argv)
{
	struct sbuf url = SBUF_INIT;
	struct err e = ERR_INIT;
	int rc = 0, have;

	(void)argv;
	if (argc != 1) {
		rc = bd_usage("panel:setup-link");
		goto out;
	}
	/* no link once there is an admin: say so before touching the route */
	if ((have = users_have_admin(&bd->store, &e)) != 0) {
		rc = have < 0 ? bd_fail_err(&e)
			      : bd_fail("the first admin exists already: log in to the panel");
		goto out;
	}
	if (bd_panel_route(bd, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (users_setup_link(&bd->store, (long long)time(NULL), &url, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, "panel:setup-link", NULL);
	bd_step(bd, "Set-up link of the first admin (valid for an hour, once; earlier links "
		    "revoked):");
	/* the link itself on stdout even with --quiet: it is what the command is for */
	printf("%s\n", url.buf);
out:
	sbuf_release(&url);
	err_release(&e);
	return rc;
}

int cmd_panel_users(struct bd *bd, int argc, const char **argv)
{
	struct strvec names = STRVEC_INIT, roles = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc = 0;

	(void)argv;
	if (argc != 1) {
		return bd_usage("panel:users");
	}
	if (store_user_list(&bd->store, &names, &roles, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!names.nr) {
		printf("There are no panel users (panel:setup-link makes the first admin)\n");
		goto out;
	}
	bd_heading(bd, "Panel users");
	for (size_t i = 0; i < names.nr; i++) {
		struct store_user u = {0};
		int r = store_user_get(&bd->store, names.v[i], &u, &e);
		if (r < 0) {
			rc = bd_fail_err(&e);
			goto out;
		}
		if (r > 0) {
			printf("%-24s %-6s 2fa:%s\n", u.name, u.role, u.totp_secret ? "on" : "off");
		}
		store_user_release(&u);
	}
out:
	strvec_clear(&names);
	strvec_clear(&roles);
	err_release(&e);
	return rc;
}

/* The user argv[1] names: 1 (u filled), or 0 with the error printed and *rc set. */
static int named_user(struct bd *bd, int argc, const char **argv, const char *usage,
		      struct store_user *u, int *rc)
{
	struct err e = ERR_INIT;
	int r;

	memset(u, 0, sizeof(*u));
	if (argc != 2) {
		*rc = bd_usage(usage);
		return 0;
	}
	if (!users_valid_name(argv[1])) {
		*rc = bd_fail(
		    "invalid user name '%s': expected lowercase letters, digits and . _ @ -",
		    argv[1]);
		return 0;
	}
	r = store_user_get(&bd->store, argv[1], u, &e);
	if (r <= 0) {
		*rc = r < 0 ? bd_fail_err(&e)
			    : bd_fail("no panel user '%s' (panel:users lists them)", argv[1]);
	}
	err_release(&e);
	return r > 0;
}

int cmd_panel_user_remove(struct bd *bd, int argc, const char **argv)
{
	struct store_user u;
	struct err e = ERR_INIT;
	int rc = 1, r;

	if (!named_user(bd, argc, argv, "panel:user-remove NAME", &u, &rc)) {
		goto out;
	}
	if (!strcmp(u.role, "admin") && (r = store_user_admins(&bd->store, &e)) <= 1) {
		rc = r < 0 ? bd_fail_err(&e)
			   : bd_fail("cannot remove '%s': the last admin of the panel", u.name);
		goto out;
	}
	if (store_user_remove(&bd->store, u.name, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, "panel:user-remove", u.name);
	bd_step(bd, "Removed panel user %s (its sessions and API tokens too)", u.name);
	rc = 0;
out:
	store_user_release(&u);
	err_release(&e);
	return rc;
}

int cmd_panel_user_reset_2fa(struct bd *bd, int argc, const char **argv)
{
	struct store_user u;
	struct err e = ERR_INIT;
	int rc = 1;

	if (!named_user(bd, argc, argv, "panel:user-reset-2fa NAME", &u, &rc)) {
		goto out;
	}
	/* a lost phone: the factor goes, and so does every session it guarded */
	if (store_user_totp_set(&bd->store, u.name, NULL, NULL, NULL, &e) < 0 ||
	    store_session_remove_user(&bd->store, u.name, NULL, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, "panel:user-reset-2fa", u.name);
	bd_step(bd,
		"Two-factor login of %s turned off: they log in with the password and turn "
		"it on again",
		u.name);
	rc = 0;
out:
	store_user_release(&u);
	err_release(&e);
	return rc;
}
