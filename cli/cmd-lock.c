/*
 * berth lock status|acquire|release: the deploy lock on the primary host,
 * and the setup every command about the hosts' state shares.
 *
 *	berth lock acquire -m "migrating the database by hand" [--lock-wait[=S]]
 *	berth lock status
 *	berth lock release
 *
 * With a config/deploy.yml the app is its service (and -d destination), the
 * lock lives on the first host of the primary role, and the audit log is
 * written on every host. Without one, --service names the app and -h the
 * hosts (the first holds the lock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/config.h"
#include "engine/hoststate.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char *opt_service, *opt_run_dir;

const struct opt cli_state_opts[] = {
    OPT_STRING(0, "service", &opt_service, "NAME",
	       "the app, when there is no config/deploy.yml (with -h HOSTS)"),
    OPT_STRING(0, "run-directory", &opt_run_dir, "DIR",
	       "where state lives on the hosts (default ~/.berth)"),
    OPT_END(),
};

int cli_state_setup(struct cli_state *st)
{
	const char *file = cli_g.config_file ? cli_g.config_file : "config/deploy.yml";
	const char *service = opt_service, *run_dir = opt_run_dir;
	struct err e = ERR_INIT;
	int ret = -1;

	memset(st, 0, sizeof(*st));
	strvec_init(&st->hosts);
	config_init(&st->cfg);
	exec_init(&st->ex, EXEC_SSH);
	if (!opt_service && (cli_g.config_file || access(file, F_OK) == 0)) {
		struct config_opts o = {0};
		const struct config_role *pr;

		o.config_file = cli_g.config_file;
		o.destination = cli_g.destination;
		if (config_load(&st->cfg, &o, NULL, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		st->have_cfg = true;
		config_exec_setup(&st->cfg, &st->ex);
		if (cli_config_loaded(&st->cfg, &st->ex) < 0) {
			goto out;
		}
		service = st->cfg.service;
		if (!run_dir) {
			run_dir = st->cfg.run_directory;
		}
		config_role_hosts(&st->cfg, &cli_g.roles, &cli_g.hosts, &st->hosts);
		pr = config_role(&st->cfg, st->cfg.primary_role);
		if (pr && pr->nr_hosts) {
			st->primary = pr->hosts[0].name;
		} else if (st->hosts.nr) {
			st->primary = st->hosts.v[0];
		}
		if (!st->hosts.nr || !st->primary) {
			log_error("no hosts in '%s' match -h/-r", file);
			goto out;
		}
	} else {
		if (!opt_service) {
			log_error("no config/deploy.yml here: name the app with --service NAME and "
				  "the hosts with -h HOST[,HOST...]");
			goto out;
		}
		exec_release(&st->ex);
		if (cli_exec_setup(&st->ex) < 0) {
			goto out;
		}
		strvec_pushv(&st->hosts, (const char *const *)cli_g.hosts.v);
		st->primary = st->hosts.v[0];
	}
	if (hoststate_init(&st->hs, &st->ex, run_dir, service,
			   st->have_cfg ? st->cfg.destination : cli_g.destination, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	st->have_hs = true;
	ret = 0;
out:
	err_release(&e);
	return ret;
}

void cli_state_release(struct cli_state *st)
{
	if (st->have_hs) {
		hoststate_release(&st->hs);
	}
	strvec_clear(&st->hosts);
	config_release(&st->cfg);
	exec_release(&st->ex);
}

/* Prints a JSON value on stdout, one line. */
void cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	if (s) {
		printf("%s\n", s);
	}
	free(s);
	json_decref(j);
}

static const char usage[] =
    "berth lock status | acquire -m MESSAGE [--lock-wait[=SECONDS]] | release\n"
    "       [--service NAME -h HOSTS] [--run-directory DIR] [-d DEST] [-c FILE] [--json]\n"
    "\n"
    "    status       who holds the deploy lock, since when, why; stale when its process is gone\n"
    "    acquire      take it, with a message (-m); held until released. --lock-wait waits for\n"
    "                 a held one as deploy does (900 s, or SECONDS; a stale one is broken)\n"
    "    release      let it go; also breaks a stale lock";

static void audit(struct cli_state *st, const char *what, const char *msg, size_t len)
{
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;

	sbuf_addstr(&sb, what);
	if (msg) {
		sbuf_addstr(&sb, ": ");
		sbuf_add(&sb, msg, len);
	}
	if (hoststate_audit_append(&st->hs, (const char *const *)st->hosts.v, st->hosts.nr, sb.buf,
				   sb.len, &e) < 0) {
		log_warn("%s", err_str(&e));
	}
	sbuf_release(&sb);
	err_release(&e);
}

static void on_wait(const struct hoststate_lock *held, void *data)
{
	struct sbuf sb = SBUF_INIT;

	hoststate_lock_describe(&sb, held);
	log_info("the deploy lock is %s; waiting up to %u s", sb.buf, *(unsigned *)data);
	sbuf_release(&sb);
}

static json_t *lock_json(struct cli_state *st, const struct hoststate_lock *l)
{
	json_t *j = hoststate_lock_json(l);

	json_object_set_new(j, "app", json_string(st->hs.app));
	json_object_set_new(j, "lock_host", json_string(st->primary));
	return j;
}

int cmd_lock(int argc, const char **argv)
{
	static const char *message;
	const struct opt own[] = {
	    OPT_STRING('m', "message", &message, "MESSAGE", "why the lock is taken (acquire)"),
	    OPT_END(),
	};
	struct hoststate_lock l;
	struct sbuf sb = SBUF_INIT;
	struct err e = ERR_INIT;
	struct cli_state st;
	const char *sub;
	int nops, ret = 2, r;
	bool setup = false;

	hoststate_lock_init(&l);
	nops = cli_parse(argc, argv,
			 (const struct opt *const[]){own, cli_state_opts, cli_exec_opts, NULL}, 0,
			 usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops != 1 || (strcmp(argv[0], "status") && strcmp(argv[0], "acquire") &&
			  strcmp(argv[0], "release"))) {
		log_error("usage: %s", usage);
		goto out;
	}
	sub = argv[0];
	if (!strcmp(sub, "acquire") && !message) {
		log_error("say why with -m MESSAGE: others see it while the lock is held");
		goto out;
	}
	if (cli_state_setup(&st) < 0) {
		cli_state_release(&st);
		goto out;
	}
	setup = true;
	ret = 1;
	if (!strcmp(sub, "status")) {
		if (hoststate_lock_status(&st.hs, st.primary, &l, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		if (cli_g.json) {
			cli_print_json(lock_json(&st, &l));
		} else {
			hoststate_lock_describe(&sb, &l);
			printf("deploy lock of '%s' on '%s': %s\n", st.hs.app, st.primary, sb.buf);
			if (hoststate_lock_stale(&l)) {
				printf("its holder is gone: 'berth lock release' breaks it\n");
			}
		}
		ret = 0;
	} else if (!strcmp(sub, "acquire")) {
		struct hoststate_lock_opts o = {0};

		o.message = message;
		o.message_len = strlen(message);
		o.wait_s = cli_g.lock_wait;
		/* waiting, as deploy waits: a lock whose process is gone would never come free */
		o.break_stale = cli_g.lock_wait > 0;
		o.on_wait = on_wait;
		o.on_wait_data = &cli_g.lock_wait;
		r = hoststate_lock_acquire(&st.hs, st.primary, &o, &l, NULL, &e);
		if (r > 0 && cli_g.lock_wait) {
			err_prefix(&e, "waited %u s", cli_g.lock_wait);
		}
		if (r != 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		if (cli_g.json) {
			cli_print_json(lock_json(&st, &l));
		} else {
			log_info("acquired the deploy lock of '%s' on '%s'", st.hs.app, st.primary);
		}
		audit(&st, "acquired the deploy lock", message, strlen(message));
		ret = 0;
	} else {
		r = hoststate_lock_remove(&st.hs, st.primary, NULL, &l, &e);
		if (r < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		if (cli_g.json) {
			json_t *j = lock_json(&st, &l);
			json_object_set_new(j, "released", json_boolean(r == 0));
			cli_print_json(j);
		} else if (r == 1) {
			log_info("there is no deploy lock of '%s' on '%s'", st.hs.app, st.primary);
		} else {
			hoststate_lock_describe(&sb, &l);
			log_info("released the deploy lock of '%s' on '%s' (it was %s)", st.hs.app,
				 st.primary, sb.buf);
		}
		if (r == 0) {
			sbuf_reset(&sb);
			sbuf_addstr(&sb, "released the deploy lock");
			if (l.holder) {
				sbuf_addf(&sb, " held by %s", l.holder);
			}
			audit(&st, sb.buf, NULL, 0);
		}
		ret = 0;
	}
out:
	if (setup) {
		cli_state_release(&st);
	}
	hoststate_lock_release(&l);
	sbuf_release(&sb);
	err_release(&e);
	return ret;
}
