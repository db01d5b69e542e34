/*
 * scripts — the shell scripts berth runs on hosts, embedded at build time.
 *
 * Each lives in engine/scripts/NAME.sh, POSIX sh checked by shellcheck
 * (`make test`), with a header comment that says its positional arguments,
 * stdin, output and exit codes. scripts/gen-scripts turns every file into
 * `script_NAME` ("-" becomes "_"): the file's bytes after that header, which
 * stays here rather than travelling to every host. Nothing from the user or
 * the config is ever part of a script's text: it arrives as an argument
 * (quoted by exec) or on stdin. Scripts run as `sh -c SCRIPT NAME ARGS...`
 * (exec_script), the doctor's probe as `sh -s` with the text on stdin.
 */
#ifndef SCRIPTS_H
#define SCRIPTS_H

struct script_file {
	const char *name; /* the file's name without .sh or .yml (web/ assets: the whole name) */
	const char *text;
};

/* Every embedded script, by name; ends with {NULL, NULL}. */
extern const struct script_file script_files[];

/* berthd on a host (daemonhost.c); daemon-ssh is the forced command written there */
extern const char script_daemon_domain[];
extern const char script_daemon_ensure[];
extern const char script_daemon_host[];
extern const char script_daemon_key[];
extern const char script_daemon_ssh[];
/* accessories (accessory.c) */
extern const char script_accessory_dirs[];
extern const char script_accessory_file[];
extern const char script_accessory_remove[];
extern const char script_accessory_run[];
/* backups (backup.c): on the host, and inside the berth-backup container */
extern const char script_backup_db[];
extern const char script_backup_db_in[];
extern const char script_backup_restic[];
extern const char script_backup_run[];
/* scheduled backups: the job's end, the scheduler's main process, the scheduler on the host */
extern const char script_backup_job[];
extern const char script_backup_cron[];
extern const char script_backup_schedule[];
/* app (appctl.c): `berth app` commands' docker work on a host */
extern const char script_app_logs_grep[];
extern const char script_app_prune_containers[];
extern const char script_app_prune_tagged[];
extern const char script_app_remove_containers[];
extern const char script_app_remove_images[];
extern const char script_app_stale[];
/* `berth prune builder|volumes` (cli/cmd-prune.c) */
extern const char script_prune_builder[];
extern const char script_prune_volumes[];
/* deploy (deploy.c; deploy-assets also appctl.c, for `berth prune`) */
extern const char script_deploy_assets[];
extern const char script_deploy_boot[];
extern const char script_deploy_env[];
extern const char script_deploy_fail[];
extern const char script_deploy_finish[];
extern const char script_deploy_list[];
extern const char script_deploy_preflight[];
extern const char script_deploy_wait[];
/* `berth details`, `berth remove`, `berth server bootstrap` (cli/) */
extern const char script_details[];
extern const char script_remove[];
extern const char script_server_bootstrap[];
/* doctor (doctor.c) */
extern const char script_doctor_probe[];
/* berth-proxy on hosts (proxyhost.c, cli/cmd-proxy.c) */
extern const char script_proxy_boot_config_get[];
extern const char script_proxy_boot_config_reset[];
extern const char script_proxy_boot_config_set[];
extern const char script_proxy_containers[];
extern const char script_proxy_ensure[];
extern const char script_proxy_logs[];
extern const char script_proxy_remove[];
extern const char script_proxy_services[];
extern const char script_proxy_start[];
extern const char script_proxy_stop[];
/* the local registry (registry.c) */
extern const char script_registry_remove[];
extern const char script_registry_setup[];
/* the lock, audit log and release journal (hoststate.c) */
extern const char script_state_acquire[];
extern const char script_state_audit_append[];
extern const char script_state_audit_read[];
extern const char script_state_journal_append[];
extern const char script_state_journal_read[];
extern const char script_state_remove[];
extern const char script_state_status[];
/* image transfer (transfer.c) */
extern const char script_transfer_load[];
extern const char script_transfer_probe[];
extern const char script_transfer_receive[];

#endif
