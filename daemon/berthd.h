/*
 * berthd — what every command of berthd shares: who is asking, the store,
 * and Dokku's output shapes.
 *
 * A command runs for root on the server (`berthd CMD ...`: every right) or
 * for an SSH key (`berthd ssh`, the forced command of each key in
 * authorized_keys: the key's rights). Rights:
 *	admin	everything but ssh-keys:* (those are root's alone, as in Dokku)
 *	deploy	on an app: read, push, and every command that changes the app
 *	read	on an app: list, report, info, releases, events of the app
 * A command declares in the table (daemon/main.c) what it needs; main checks
 * it before the command runs, so no command repeats a rights check:
 *	BD_APP		the first operand names an app that exists (exit 20, as
 *			Dokku, when it does not)
 *	BD_READ, BD_DEPLOY, BD_ADMIN, BD_ROOT	the right needed (on that app)
 *	BD_NEW_APP	the first operand names an app to create: admin, or a
 *			deploy grant on that name
 * A key without the right gets "permission denied" and exit 1; nothing
 * changes.
 *
 * Output is Dokku's: "-----> " steps and "=====> " headings on stdout (none
 * with --quiet), " !     " errors on stderr. A config value is never
 * printed but by the commands that exist to show it (config:get, show,
 * export), and never recorded in an event.
 */
#ifndef BERTHD_H
#define BERTHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/store.h"
#include "lib/err.h"
#include "lib/strvec.h"

#define BD_EXIT_NO_APP 20 /* Dokku's exit code for a missing app */

struct bd {
	struct store store;
	const char *state_dir; /* $BERTHD_STATE_DIR, default /var/lib/berthd */
	const char *key;       /* the SSH key's name; NULL: root on the server */
	bool admin;	       /* root, or an admin key */
	bool quiet;	       /* --quiet */
	bool json;	       /* --format json */
};

enum bd_cmd_flags {
	BD_APP = 1 << 0,
	BD_READ = 1 << 1,
	BD_DEPLOY = 1 << 2,
	BD_ADMIN = 1 << 3,
	BD_ROOT = 1 << 4,
	BD_NEW_APP = 1 << 5,
};

struct bd_cmd {
	const char *name;
	/* argv[0] is the command's name; returns the exit code */
	int (*fn)(struct bd *bd, int argc, const char **argv);
	unsigned flags; /* enum bd_cmd_flags */
	const char *usage;
};

/* Output in Dokku's shapes. */
void bd_step(struct bd *bd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bd_heading(struct bd *bd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "       line" under a step (suppressed by --quiet). */
void bd_info(struct bd *bd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* " !     msg" on stderr; returns 1 (an exit code). */
int bd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* bd_fail with err's text; returns 1. */
int bd_fail_err(struct err *e);
/* A Dokku-style usage error: " !     usage: berthd USAGE"; returns 1. */
int bd_usage(const char *usage);

/* Records an event (who is bd->key); names: names only, never a value. */
void bd_event(struct bd *bd, const char *app, const char *action, const char *names);
/* Same with the names of a vector, joined by commas. */
void bd_event_v(struct bd *bd, const char *app, const char *action, const struct strvec *names);

/* Whether bd may act on app with right BD_READ / BD_DEPLOY (admin: always). */
bool bd_can(struct bd *bd, const char *app, unsigned right);

/* The path of something in the state directory (a malloc'd string). */
char *bd_path(struct bd *bd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a command's options; operands left in argv[0..return). -1: a usage error was printed. */
struct opt;
int bd_opts(int argc, const char **argv, const struct opt *opts, const char *usage);

/* Writes authorized_keys from the store (cmd-keys.c). 0, or -1 with e set. */
int bd_keys_sync(struct bd *bd, struct err *e);
/* The same for the store s of the state directory state_dir. */
int bd_keys_write(struct store *s, const char *state_dir, struct err *e);

/*
 * The work of ssh-keys:add/remove/grant/revoke, shared by the SSH commands
 * and the JSON API (daemon/apiserver.h); none prints or records an event.
 *
 * bd_key_add: a key named name (checked) from text, one public key line
 * (checked: a known type whose data matches it), admin or with no rights;
 * authorized_keys written again. *fp gets its SHA256 fingerprint
 * (malloc'd). 0, -1 with e set (refused: nothing added), or -2 with e set
 * (authorized_keys could not be written: the key is not kept).
 * bd_key_remove: 1 removed (authorized_keys written again), 0 no such key, -1.
 * bd_key_grant: right ("deploy" or "read", checked) on app (a valid name),
 * or with app NULL the key made an admin. 1, 0 no such key, -1 (e set).
 * bd_key_revoke: the key's right on app, or with app NULL its admin. 1, 0, -1.
 */
/*
 * Reads one public key ("type base64 [comment]", '#' lines and blank ones
 * aside) from the len bytes of text: *line becomes "type base64" and *fp
 * its SHA256 fingerprint as ssh-keygen -l shows it (both malloc'd). 0, or
 * -1 with e set (a type not known, data that is not base64 or does not
 * name the type, not exactly one key).
 */
int bd_key_parse(const char *text, size_t len, char **line, char **fp, struct err *e);
int bd_key_add(struct store *s, const char *state_dir, const char *name, const char *text,
	       size_t len, bool admin, char **fp, struct err *e);
int bd_key_remove(struct store *s, const char *state_dir, const char *name, struct err *e);
int bd_key_grant(struct store *s, const char *name, const char *app, const char *right,
		 struct err *e);
int bd_key_revoke(struct store *s, const char *name, const char *app, struct err *e);

/*
 * domains:set-global's work, shared with the JSON API: domain checked (a
 * host name, no "*."; lowercased in place) and stored as the global domain.
 * 0, or -1 with e set (nothing changed). The panel's route is the caller's.
 */
int bd_domains_set_global(struct store *s, char *domain, struct err *e);

/* The commands (daemon/cmd-*.c), listed in daemon/main.c's table. */
int cmd_apps_create(struct bd *bd, int argc, const char **argv);
int cmd_apps_destroy(struct bd *bd, int argc, const char **argv);
int cmd_apps_list(struct bd *bd, int argc, const char **argv);
int cmd_apps_rename(struct bd *bd, int argc, const char **argv);
int cmd_apps_report(struct bd *bd, int argc, const char **argv);
int cmd_config_set(struct bd *bd, int argc, const char **argv);
int cmd_config_get(struct bd *bd, int argc, const char **argv);
int cmd_config_unset(struct bd *bd, int argc, const char **argv);
int cmd_config_show(struct bd *bd, int argc, const char **argv);
int cmd_config_export(struct bd *bd, int argc, const char **argv);
int cmd_domains_add(struct bd *bd, int argc, const char **argv);
int cmd_domains_remove(struct bd *bd, int argc, const char **argv);
int cmd_domains_set(struct bd *bd, int argc, const char **argv);
int cmd_domains_report(struct bd *bd, int argc, const char **argv);
int cmd_domains_set_global(struct bd *bd, int argc, const char **argv);
int cmd_keys_add(struct bd *bd, int argc, const char **argv);
int cmd_keys_list(struct bd *bd, int argc, const char **argv);
int cmd_keys_remove(struct bd *bd, int argc, const char **argv);
int cmd_keys_grant(struct bd *bd, int argc, const char **argv);
int cmd_keys_revoke(struct bd *bd, int argc, const char **argv);
int cmd_events(struct bd *bd, int argc, const char **argv);
int cmd_ps_scale(struct bd *bd, int argc, const char **argv);
int cmd_ps_report(struct bd *bd, int argc, const char **argv);
int cmd_releases(struct bd *bd, int argc, const char **argv);
int cmd_releases_rollback(struct bd *bd, int argc, const char **argv);
int cmd_git_from_image(struct bd *bd, int argc, const char **argv);
int cmd_builder_set(struct bd *bd, int argc, const char **argv);
int cmd_git_set(struct bd *bd, int argc, const char **argv);
int cmd_logs(struct bd *bd, int argc, const char **argv);
int cmd_apps_exists(struct bd *bd, int argc, const char **argv);
int cmd_config_keys(struct bd *bd, int argc, const char **argv);
int cmd_domains_clear(struct bd *bd, int argc, const char **argv);
int cmd_ps_restart(struct bd *bd, int argc, const char **argv);
int cmd_ps_stop(struct bd *bd, int argc, const char **argv);
int cmd_ps_start(struct bd *bd, int argc, const char **argv);
int cmd_ps_rebuild(struct bd *bd, int argc, const char **argv);
int cmd_run(struct bd *bd, int argc, const char **argv);
int cmd_enter(struct bd *bd, int argc, const char **argv);
int cmd_checks_disable(struct bd *bd, int argc, const char **argv);
int cmd_checks_enable(struct bd *bd, int argc, const char **argv);
int cmd_checks_set(struct bd *bd, int argc, const char **argv);
int cmd_checks_report(struct bd *bd, int argc, const char **argv);
int cmd_resource_limit(struct bd *bd, int argc, const char **argv);
int cmd_resource_reset(struct bd *bd, int argc, const char **argv);
int cmd_resource_report(struct bd *bd, int argc, const char **argv);
int cmd_storage_mount(struct bd *bd, int argc, const char **argv);
int cmd_storage_unmount(struct bd *bd, int argc, const char **argv);
int cmd_storage_list(struct bd *bd, int argc, const char **argv);
/* config:set's check of a KEY (its first n bytes): letters, digits, '_', no digit first. */
bool config_valid_name(const char *s, size_t n);
#define CONFIG_VALUE_MAX (64 * 1024)
/* domains:add's check of a host name ("*." allowed in front); lowercases it in place. */
bool domains_valid_name(char *d);
/* resource:limit's checks of --memory SIZE (Docker's syntax, at least 6 MiB) and --cpu N. */
bool resource_valid_memory(const char *s);
bool resource_valid_cpus(const char *s);
/* storage:mount's check of "/HOST_PATH:/CONTAINER_PATH". */
bool storage_valid_mount(const char *m);
/* ports:* (cmd-ports.c) */
int cmd_ports_add(struct bd *bd, int argc, const char **argv);
int cmd_ports_clear(struct bd *bd, int argc, const char **argv);
int cmd_ports_list(struct bd *bd, int argc, const char **argv);
int cmd_ports_remove(struct bd *bd, int argc, const char **argv);
int cmd_ports_report(struct bd *bd, int argc, const char **argv);
int cmd_ports_set(struct bd *bd, int argc, const char **argv);
/* network:* (cmd-network.c) */
int cmd_network_create(struct bd *bd, int argc, const char **argv);
int cmd_network_destroy(struct bd *bd, int argc, const char **argv);
int cmd_network_exists(struct bd *bd, int argc, const char **argv);
int cmd_network_info(struct bd *bd, int argc, const char **argv);
int cmd_network_list(struct bd *bd, int argc, const char **argv);
int cmd_network_report(struct bd *bd, int argc, const char **argv);
int cmd_network_set(struct bd *bd, int argc, const char **argv);
/* network:create's check of a name, network:set tld's of a tld. */
bool network_valid_name(const char *s);
bool network_valid_tld(const char *s);
/* 1 a network of berthd's (labelled berthd.network=1), 2 a network not berthd's, 0 none. */
int network_kind(const char *name);
/* certs:* and letsencrypt:* (cmd-certs.c) */
int cmd_certs_add(struct bd *bd, int argc, const char **argv);
int cmd_certs_remove(struct bd *bd, int argc, const char **argv);
int cmd_certs_report(struct bd *bd, int argc, const char **argv);
int cmd_letsencrypt_enable(struct bd *bd, int argc, const char **argv);
int cmd_letsencrypt_disable(struct bd *bd, int argc, const char **argv);
int cmd_letsencrypt_list(struct bd *bd, int argc, const char **argv);
int cmd_letsencrypt_report(struct bd *bd, int argc, const char **argv);
int cmd_letsencrypt_set(struct bd *bd, int argc, const char **argv);
int cmd_letsencrypt_cron_job(struct bd *bd, int argc, const char **argv);
#define LETSENCRYPT_SET_USAGE "letsencrypt:set --global|APP email|server [VALUE]"
/*
 * letsencrypt:set's arguments (argv[0] the command): --global or an app's
 * name (*app, NULL for --global), the key (*key: "email" or "server"; any
 * other refused, naming those two) and VALUE, checked (an email address;
 * for server "production" or "default" and "staging" become Let's
 * Encrypt's directory URLs, else an https URL) into *value (malloc'd; NULL:
 * no VALUE, unset). 0, or -1 with e saying what was expected.
 */
int letsencrypt_set_args(int argc, const char **argv, const char **app, const char **key,
			 char **value, struct err *e);
int cmd_git_receive_pack(struct bd *bd, int argc, const char **argv);
int cmd_git_upload_pack(struct bd *bd, int argc, const char **argv);

/* Datastores (cmd-datastore.c): one function per verb, the kind from argv[0] ("postgres:"). */
int cmd_datastore_create(struct bd *bd, int argc, const char **argv);
int cmd_datastore_destroy(struct bd *bd, int argc, const char **argv);
int cmd_datastore_export(struct bd *bd, int argc, const char **argv);
int cmd_datastore_import(struct bd *bd, int argc, const char **argv);
int cmd_datastore_info(struct bd *bd, int argc, const char **argv);
int cmd_datastore_link(struct bd *bd, int argc, const char **argv);
int cmd_datastore_list(struct bd *bd, int argc, const char **argv);
int cmd_datastore_unlink(struct bd *bd, int argc, const char **argv);
/* Their backups (cmd-dsbackup.c, daemon/dsbackup.h). */
int cmd_datastore_backup(struct bd *bd, int argc, const char **argv);
int cmd_datastore_backup_list(struct bd *bd, int argc, const char **argv);
int cmd_datastore_backup_restore(struct bd *bd, int argc, const char **argv);
int cmd_datastore_backup_verify(struct bd *bd, int argc, const char **argv);

/* oneclick:* (cmd-oneclick.c): CapRover's one-click app templates; deploy creates apps. */
int cmd_oneclick_deploy(struct bd *bd, int argc, const char **argv);
int cmd_oneclick_list(struct bd *bd, int argc, const char **argv);
int cmd_oneclick_plan(struct bd *bd, int argc, const char **argv);
int cmd_oneclick_show(struct bd *bd, int argc, const char **argv);

/* git:sync (cmd-sync.c) and doctor (cmd-doctor.c). */
int cmd_git_sync(struct bd *bd, int argc, const char **argv);
int cmd_doctor(struct bd *bd, int argc, const char **argv);

/* The app's bare repository dir: created when missing, its pre-receive hook (re)written. 0, or -1
 * with e set (cmd-git.c). */
int bd_repo_ensure(struct bd *bd, const char *app, const char *dir, struct err *e);
/*
 * Builds revision rev of app's repository and deploys it, as a push does, the caller holding
 * the app's lock: "-----> " lines as it goes; 0, or 1 with " !     " lines printed (a failed
 * build or release leaves the old version serving).
 */
struct store_app;
int bd_build_deploy(struct bd *bd, const struct store_app *a, const char *rev);

/*
 * doctor's helper: appends to wrap the `docker run ... IMAGE chroot /host /usr/bin/env` that the
 * probe's argv runs under, in a container called name (cmd-doctor.c).
 */
void bd_doctor_wrap(struct strvec *wrap, const char *image, const char *name);
/*
 * doctor's probe of this host, in its helper container (bd_doctor_wrap),
 * judged into report (a struct doctor_report, engine/doctor.h; the caller
 * releases it); min_free_pct as --min-free-disk (0: the default). The
 * worst status (enum doctor_status). Takes seconds: never on a request.
 */
struct doctor_report;
int bd_doctor_probe(unsigned min_free_pct, struct doctor_report *report);
/*
 * The image of helper containers (doctor's, metrics:report's): the one berthd's own container
 * runs (its ID), else the berthd image of this version (cmd-doctor.c).
 */
struct sbuf;
void bd_helper_image(struct sbuf *image);
/*
 * A docker command's stdout, trimmed, into out (NULL: dropped; at most max
 * bytes read), its stderr dropped, 30 s at most (cmd-doctor.c). 0, or -1.
 */
int bd_docker_out(const char *const *argv, struct sbuf *out, size_t max);

/* metrics:report (cmd-metrics.c) */
int cmd_metrics_report(struct bd *bd, int argc, const char **argv);
struct series_totals;
/*
 * One sample for the panel's charts (daemon/sampler.h): reads this host's berth-proxy's metrics
 * as metrics:report does, within a few seconds, and records them in s at now
 * (series_add_scrape). 0, or -1 with e set (every app kept gets a gap). It runs `docker exec`:
 * call it from a process that reaps its children by pid (not berthd serve).
 */
struct series;
int metrics_sample(struct series *s, int64_t now, struct err *e);
/* metrics:report's output for app from t (found: the scrape had the app's service), into sb. */
void metrics_report_format(struct sbuf *sb, const char *app, const struct series_totals *t,
			   bool found, bool json);

/*
 * The panel (cmd-panel.c): berth-proxy's service BD_PANEL_SERVICE routes
 * berth.ROOT and captain.ROOT (ROOT: the global domain) to berthd:3000 with
 * an ACME certificate. bd_panel_route (re)registers it when berthd runs in
 * its container (BERTHD_PANEL_ROUTE=1, set by its image; elsewhere it does
 * nothing): 0, or -1 with e set.
 */
#define BD_PANEL_SERVICE "berthd"
void bd_panel_route_argv(const char *root, struct strvec *argv);
int bd_panel_route(struct bd *bd, struct err *e);
int cmd_panel_setup_link(struct bd *bd, int argc, const char **argv);
int cmd_panel_users(struct bd *bd, int argc, const char **argv);
int cmd_panel_user_remove(struct bd *bd, int argc, const char **argv);
int cmd_panel_user_reset_2fa(struct bd *bd, int argc, const char **argv);

/* `berthd hook pre-receive`, run by git in an app's repository. */
int bd_hook_pre_receive(struct bd *bd);

#endif
