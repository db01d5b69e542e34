/*
 * backup — an accessory's data backed up with restic, run on its own host,
 * and every backup verified by restoring it.
 *
 * An accessory with a backup: section (engine/config.h, struct
 * config_backup) has a restic repository (encrypted with the secret
 * `password` names, deduplicated) where the section's `to` says: a
 * directory on each of its hosts, a directory on another host over SFTP, or
 * S3 (AWS, or an S3-compatible endpoint). restic runs on the accessory's
 * host in a container of the image berth-backup:VERSION (`make image`:
 * restic, an OpenSSH client and a static busybox, FROM scratch), sent to the
 * host as berth-proxy's image is (engine/transfer.h) when it lacks it:
 *
 *	docker run --rm -i --network none|host --tmpfs /run/berth (mode 0700)
 *	    [-v TO:/repo] -e BERTH_REPOSITORY=<restic's repository>
 *	    [-e BERTH_HOST=HOST] [-e BERTH_SFTP_COMMAND=<ssh ... -s sftp>]
 *	    -v SOURCE:/data<path in the accessory>[:ro] ...
 *	    berth-backup:VERSION sh -c <backup-restic.sh> berth-backup OP ARGS
 *
 * A directory on the host is mounted at /repo and the container has no
 * network. The other targets are reached with the host's network (the
 * host's routes, DNS and firewall: the target answers the container as it
 * answers the host, and nothing is published). For SFTP, the host's known
 * hosts for backups, <run dir>/apps/<app>/backups/known_hosts, is mounted
 * at /run/known_hosts (engine/scripts/backup-run.sh): a host key is pinned
 * on first use, and a changed one fails. Such a repository is shared by the
 * accessory's hosts, each of which sees only its own snapshots (tagged
 * host=HOST, struct backup_run's host).
 *
 * The secrets (the password; the SSH key or the S3 keys) are the stdin of
 * the host's script, in the format of backup_secrets_stdin(), handed on to
 * that container's stdin and written there to files of mode 0600 on the
 * tmpfs: restic reads the password's (RESTIC_PASSWORD_FILE), ssh the key's
 * (-i); the S3 keys are exported to restic only, inside the container. They
 * are in no argv, here or on the host, and in no output or log.
 *
 * kind volume: the accessory's directories (relative ones under the ssh
 * user's home, as accessory.h puts them) and volumes (a host path or a
 * named Docker volume) are mounted read-only while its container is paused
 * (`docker pause`, undone on every way out: engine/scripts/backup-run.sh).
 * Before the snapshot a manifest of every file's sha256 is written at the
 * snapshot's root (.berth-manifest.sha256).
 *
 * kinds postgres, mysql, redis: a consistent dump made with the database's
 * own tools inside the accessory's running container (`docker exec`: the
 * host needs no client), with the credentials of that container's
 * environment, used in there (engine/scripts/backup-db-in.sh):
 * PostgreSQL's pg_dumpall (roles and every database, one file that
 * recreates them: what verify and restore load whole), MySQL/MariaDB's
 * mysqldump --single-transaction --all-databases with routines, events and
 * triggers, Redis's BGSAVE and then its RDB file once LASTSAVE moved. With
 * the dump goes a record of what verify checks: for postgres and mysql the
 * rows of every table of every database, counted from the dump itself as
 * it streams to disk (so it matches the dump while clients write); for
 * redis the keys without expiry of each database and a digest of the type
 * and value of a sample of them, taken while writes are paused
 * (CLIENT PAUSE WRITE) up to BGSAVE's fork. Dump and record are staged in
 * a directory of mode 0700 in the ssh user's home (never a tmpfs: dumps
 * are large), removed on every way out (engine/scripts/backup-db.sh), and
 * snapshotted by the same berth-backup container, mounted at /data/db.
 * Verifying one restores it into such a directory (restic authenticates
 * every blob; the manifest checks every file), starts a scratch container
 * of the accessory's image (no network; postgres trusting local users,
 * mysql with an empty root password, redis with the RDB file in /data; its
 * data directory, at the official images' path, in the staging directory),
 * loads the dump and compares its answer with the record; the scratch
 * container goes on every way out. Restoring verifies so, then loads the
 * dump into the running accessory: postgres drops every database but
 * postgres and the templates (their sessions ended) and loads the dump
 * (pg_dumpall --clean --if-exists recreates the databases and roles and
 * cleans postgres); mysql drops every non-system database and loads the
 * dump (the mysql schema, accounts included, is replaced table by table);
 * redis is stopped, its RDB file replaced, and started again (refused when
 * it keeps append-only files, which it would load instead).
 *
 * Verifying a snapshot restores it into the scratch space of a throwaway
 * container, checks every file against the manifest and that no file is
 * missing or extra; a damaged repository fails restic's restore (every blob
 * is authenticated). Restoring stops the accessory, verifies the snapshot
 * into scratch, and only then replaces each directory's content with it,
 * then starts the accessory again (also when something failed).
 *
 * Each result is recorded on the host in a small JSON file per accessory,
 * <run dir>/apps/<app>/backups/<accessory>.json (written whole, to a
 * temporary file renamed over it, umask 077):
 *
 *	{"accessory":"db",
 *	 "last":{"op":"now","time":"2026-01-01T03:00:00Z","epoch":1767236400,
 *	         "snapshot":"1a2b3c4d","verified":true,"why":null},
 *	 "last_verified":{"time":"...","epoch":...,"snapshot":"1a2b3c4d"},
 *	 "snapshots":{"1a2b3c4d":{"time":"...","epoch":...,"size":1234,
 *	              "verified":true,"why":null}}}
 *
 * Scheduled backups. An accessory whose section has a schedule gets on each
 * of its hosts a scheduler: a container named <container name>-backup, of
 * the same image, --restart unless-stopped (it outlives reboots and
 * restarts of dockerd), running busybox crond with one crontab line, in
 * UTC. It reaches the host's dockerd through /var/run/docker.sock, and has
 * the backups directory, <run dir>/apps/<app>/backups, mounted at the same
 * path (absolute: under the ssh user's home when the run dir is relative).
 * There, per accessory:
 *
 *	<accessory>.job     the job crond runs (sh), mode 0600: the very steps
 *	                    `berth backup now` runs (backup_now_steps), each an
 *	                    argv quoted for sh, then engine/scripts/backup-job.sh
 *	<accessory>.secret  the stdin `berth backup now` gives every docker step
 *	                    (backup_secrets_stdin), mode 0600: unattended backups need
 *	                    the repository's key on the host
 *	<accessory>.runs    what each scheduled run did, one line appended per
 *	                    run (backup_parse_runs has the format); readers of
 *	                    the state merge these lines into it
 *	                    (backup_state_merge_runs)
 *
 * The directory is mode 0700. The scheduler carries labels
 * berth.backup=<container name> (as every container of a step does),
 * berth.backup.scheduler=<container name>, berth.backup.config=<a hash of
 * its image and crontab line> (installing again with the same hash changes
 * nothing) and berth.backup.installed=<epoch of its creation, the host's
 * clock>. `berth doctor` judges the age of the last verified backup
 * against the schedule (backup_judge).
 *
 * The pure parts (argv, flags, state, steps, job, runs, judging) are
 * unit-tested; the rest runs through exec on the hosts.
 */
#ifndef BACKUP_H
#define BACKUP_H

#include <stdbool.h>

#include "engine/config.h"
#include "engine/exec.h"
#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/strvec.h"

#define BACKUP_STATE_MAX     (1u << 20) /* bytes of a state file read back */
#define BACKUP_STATE_KEEP    1000	/* snapshots remembered in it */
#define BACKUP_SNAPSHOTS_MAX (8u << 20) /* bytes of restic's snapshot list */

/* "berth-backup:VERSION". Static storage. */
const char *backup_image(void);

/* ---- pure ---- */

/* restic forget's flags for b's keep ("--keep-daily", "7", ...); none when nothing is kept. */
void backup_forget_flags(struct strvec *out, const struct config_backup *b);

/* The state file's path: "<app_dir>/backups/<accessory>.json". */
void backup_state_path(struct sbuf *out, const char *app_dir, const char *accessory);

/*
 * What a backup of a covers, in the same order: sources[i] (an absolute
 * path on the host, or a named Docker volume) seen in the accessory at
 * targets[i] (an absolute path). home is the ssh user's home (absolute):
 * relative directories are under it.
 */
void backup_sources(const struct config_accessory *a, const char *home, struct strvec *sources,
		    struct strvec *targets);

/*
 * restic's repository for b: "/repo" (a directory, mounted there),
 * "sftp://USER@HOST:PORT//PATH", or "s3:ENDPOINT/BUCKET[/PREFIX]" (AWS's
 * endpoint s3.amazonaws.com when b has none).
 */
void backup_repository(struct sbuf *out, const struct config_backup *b);

/*
 * The ssh command restic's SFTP backend runs for b (an SSH target): the key
 * /run/berth/ssh_key, host keys pinned in /run/known_hosts (accept-new),
 * batch mode, no config file read; words without spaces or quotes.
 */
void backup_sftp_command(struct sbuf *out, const struct config_backup *b);

/*
 * The stdin of the berth-backup container: every secret a's backup needs,
 * read from sec, in this format (lengths in bytes, decimal; a secret may
 * hold any bytes, newlines included):
 *
 *	berth-backup-secrets 1\n
 *	NAME LENGTH\n            one line per secret
 *	\n
 *	the secrets' bytes, back to back, in the lines' order
 *
 * NAME is password, then ssh_key (an SSH target) or aws_access_key_id and
 * aws_secret_access_key (S3). It is the only way secrets reach a backup,
 * so it can be kept (0600) to replay a backup later. Returns 0, or -1 with
 * e set naming the secret that is not set.
 */
int backup_secrets_stdin(struct sbuf *out, const struct config_accessory *a,
			 const struct secrets *sec, struct err *e);

/* Whether a's backups are a database's dumps (kinds postgres, mysql, redis). */
bool backup_is_db(const struct config_accessory *a);

enum backup_op {
	BACKUP_OP_BACKUP = 0,
	BACKUP_OP_VERIFY = 1,
	BACKUP_OP_RESTORE = 2,
	BACKUP_OP_FORGET = 3,
	BACKUP_OP_SNAPSHOTS = 4,
};

/* "backup", "verify", ... */
const char *backup_op_name(enum backup_op op);

struct backup_run {
	enum backup_op op;
	const char *home;     /* BACKUP, RESTORE: the ssh user's home */
	const char *snapshot; /* VERIFY, RESTORE: an ID, or NULL: the newest */
	/*
	 * The host it runs on. A repository elsewhere (SSH, S3) may be shared
	 * by the accessory's hosts: there each snapshot is tagged host=HOST
	 * too, and each step looks at its host's snapshots only.
	 */
	const char *host;
};

/*
 * The `docker run` argv of one step (see the top of this file): the
 * sources mounted read-only for BACKUP, read-write for RESTORE, none
 * otherwise. A database kind mounts none (backup-db.sh adds its staging
 * directory), and its VERIFY and RESTORE are restic's extract. Returns 0,
 * or -1 with e set (a snapshot that is not a restic ID, a source docker
 * cannot mount).
 */
int backup_docker_argv(struct strvec *argv, const struct config_accessory *a,
		       const struct backup_run *r, struct err *e);

/*
 * A database kind's step on its host (BACKUP, VERIFY, RESTORE): the words
 * that follow backup-run.sh's own, `sh -c <backup-db.sh> berth-backup-db
 * OP KIND CONTAINER IMAGE <backup-db-in.sh>` and the step's docker argv.
 * Returns 0, or -1 with e set.
 */
int backup_db_argv(struct strvec *argv, const struct config_accessory *a,
		   const struct backup_run *r, struct err *e);

/*
 * Why a database snapshot did not verify, from backup-db.sh's output on a
 * mismatch (untrusted: "expect LINE" and "got LINE", LINE a record's line):
 * the first table, database or key whose answer differs from the record,
 * said for people into why. Returns 1 when it found one, else 0.
 */
int backup_record_diff(struct slice out, struct sbuf *why);

/*
 * What restoring a changes on a host, for the question restore asks: the
 * paths it overwrites (volume: sources, as backup_sources gives them for
 * home) or what the dump's load replaces.
 */
void backup_restore_effect(struct sbuf *out, const struct config_accessory *a, const char *home);

/* One outcome, as recorded. */
struct backup_result {
	const char *op;	      /* "now", "verify", "restore" */
	long long epoch;      /* when */
	const char *snapshot; /* NULL: none was made or found */
	long long size;	      /* bytes backed up; -1: unknown */
	bool verified;
	const char *why; /* NULL, or why it did not verify */
};

/*
 * The state file's new text (compact JSON, one line, no newline): old (the
 * file's text; empty or not JSON: none) with r recorded. Keeps at most
 * BACKUP_STATE_KEEP snapshots, the oldest dropped. A malloc'd string.
 */
char *backup_state_update(struct slice old, const char *accessory, const struct backup_result *r);

/* One snapshot as `berth backup list` shows it. */
struct backup_snapshot {
	char *id;	/* short ID */
	char *time;	/* restic's time */
	long long size; /* -1 unknown */
	int verified;	/* 1 yes, 0 no, -1 never tried */
	char *why;	/* NULL */
};
struct backup_snapshots {
	struct backup_snapshot *v;
	size_t nr, alloc;
	/* backup_list: the scheduler's state ("none"), the host's clock, its creation (-1) */
	char scheduler[17];
	long long now, installed;
};
void backup_snapshots_release(struct backup_snapshots *s);
/*
 * Reads restic's `snapshots --json` (untrusted: limits, types checked) and
 * the state file's text into out, oldest first. Returns 0, or -1 with e set.
 */
int backup_parse_snapshots(struct slice restic_json, struct slice state,
			   struct backup_snapshots *out, struct err *e);

/* ---- the steps of a backup, and the scheduled job (pure) ---- */

/*
 * One step: a host script (today backup-run.sh, engine/scripts/backup-run.sh)
 * run on the host with args as its $1..., the stdin backup_secrets_stdin gives.
 */
struct backup_step {
	enum backup_op op;
	const char *script; /* its text: script_backup_run */
	struct strvec args; /* OP CONTAINER REPO STATE docker run ... */
	/*
	 * The index in args of the snapshot ID an earlier step reports (the
	 * backup's "snapshot ID SIZE"): filled in before the step runs; -1: none.
	 */
	int snapshot_arg;
};
struct backup_steps {
	struct backup_step *v;
	size_t nr, alloc;
};
void backup_steps_release(struct backup_steps *s);

/*
 * The steps of `berth backup now`, in order: BACKUP; VERIFY of the
 * snapshot it reports; FORGET when keep forgets anything. state is the
 * state file's path as the steps see it, home the ssh user's home, host
 * the host they run on (struct backup_run's).
 * Returns 0, or -1 with e set (as backup_docker_argv).
 */
int backup_now_steps(struct backup_steps *out, const struct config_accessory *a, const char *home,
		     const char *host, const char *state, struct err *e);

/* The scheduler's container name: "<container name>-backup". */
void backup_scheduler_name(struct sbuf *out, const struct config_accessory *a);

/*
 * The crontab line of schedule (cron's five fields, lib/cron.h) running
 * job (an absolute path): the fields written out as lists busybox crond
 * reads as lib/cron does, then "sh 'JOB'". Returns 0, or -1 with e set
 * for a schedule crond would read otherwise: a day of month or of week
 * that starts with '*' but does not name every day, with the other field
 * restricted (Vixie's rule and busybox's differ there), or a job path
 * with a '%' or a newline.
 */
int backup_crontab_line(struct sbuf *out, const char *schedule, const char *job, struct err *e);

/* Paths the job uses; all absolute. */
struct backup_job_paths {
	const char *home;   /* the ssh user's home: the steps run there */
	const char *secret; /* <accessory>.secret */
	const char *runs;   /* <accessory>.runs */
};

/*
 * The job's text (sh, run by crond): steps as shell functions, each
 * `sh -c SCRIPT berth-backup ARGS`, every argument single-quoted
 * (exec_quote_arg; backup-run.sh's text once, in a variable), the snapshot argument read from
 * the variable the backup step sets, then backup-job.sh, which runs them
 * in order with the secret file on stdin and appends the run's line to
 * the runs file. Returns 0, or -1 with e set.
 */
int backup_job_text(struct sbuf *out, const struct backup_steps *steps,
		    const struct backup_job_paths *p, struct err *e);

/*
 * The runs file: one line per scheduled run, fields separated by one
 * space, the last running to the end of the line:
 *
 *	EPOCH OP SNAPSHOT SIZE VERIFIED WHY
 *	1767236400 schedule 1a2b3c4d 1234 1 -
 *	1767240000 schedule - -1 0 cannot pause 'shop-db'
 *
 * EPOCH: seconds (1-12 digits), the host's clock at the run's end; OP:
 * 1-16 of a-z ("schedule"); SNAPSHOT: 8-64 hex digits, or "-": none;
 * SIZE: bytes (1-19 digits) or -1: unknown; VERIFIED: 1 or 0; WHY: 1-300
 * printable ASCII bytes, "-": none. It is untrusted: a line that is not
 * so is skipped (counted in *bad, may be NULL), as is anything past
 * BACKUP_STATE_MAX bytes; only the last BACKUP_RUNS_KEEP lines are kept.
 */
#define BACKUP_RUNS_KEEP 1000
struct backup_run_line {
	long long epoch;
	char op[17];
	char snapshot[65]; /* "" none */
	long long size;
	bool verified;
	char why[301]; /* "" none */
};
struct backup_run_lines {
	struct backup_run_line *v;
	size_t nr, alloc;
};
void backup_run_lines_release(struct backup_run_lines *l);
void backup_parse_runs(struct slice text, struct backup_run_lines *out, size_t *bad);

/*
 * The state file's text (as backup_state_update takes it) with runs
 * merged in: each run recorded as backup_state_update records a result,
 * except that "last" and "last_verified" only move forward in time. A
 * malloc'd string.
 */
char *backup_state_merge_runs(struct slice state, struct slice runs, const char *accessory);

/* What the state says about the last verified backup. */
struct backup_last {
	long long verified_epoch; /* -1: none */
	char snapshot[65];	  /* of it; "" */
	long long last_epoch;	  /* the last result's; -1: none */
	bool last_ok;		  /* whether that one verified */
	char why[301];		  /* why not, when it did not */
};
/* Reads state (merged or not; untrusted: anything unreadable stays unknown). */
void backup_state_last(struct slice state, struct backup_last *out);

/*
 * Whether the last verified backup is as new as schedule allows at now:
 * the run at the second-most-recent scheduled time must have verified
 * (the most recent one may still run), so verified_epoch must be at or
 * after it. No verification at all is not a failure while that time is
 * before installed (the scheduler's creation; <= 0: unknown, taken as
 * long ago). Returns 0 when fine, 1 when too old; *due (may be NULL) gets
 * the time the verified backup should be at least as new as (-1: none
 * yet), *next (may be NULL) the next scheduled run (-1: none). -1 for a
 * schedule that does not parse.
 */
int backup_judge(const char *schedule, long long now, long long installed, long long verified_epoch,
		 long long *due, long long *next);

/*
 * What backup-schedule.sh status prints about an accessory on a host:
 *
 *	berth-backup-status 1
 *	now EPOCH
 *	scheduler STATE INSTALLED     STATE: docker's (running, exited, ...) or none;
 *	                              INSTALLED: epoch or -
 *	state LENGTH                  then LENGTH bytes: the state file
 *	runs LENGTH                   then LENGTH bytes: the runs file's last lines
 *
 * Untrusted: read strictly, lengths bounded by BACKUP_STATE_MAX.
 */
struct backup_status {
	long long now;
	char scheduler[17];	  /* "none" */
	long long installed;	  /* -1 unknown */
	struct slice state, runs; /* into the text parsed */
};
int backup_parse_status(struct slice text, struct backup_status *out, struct err *e);

/*
 * How a's backups on a host stand, for `berth doctor`, from what
 * backup_status read there: the age of the last verified backup (state
 * and runs merged), and with a schedule the next run; a sentence in out.
 * Returns 0 (fine) or 2 (failed: with a schedule, the scheduler is not
 * running, or the last verified backup is older than backup_judge allows),
 * as doctor's statuses count.
 */
int backup_health(const struct config_accessory *a, const struct backup_status *st,
		  struct sbuf *out);

/* ---- on the hosts ---- */

struct backup_ctx {
	const struct config *cfg;
	const struct secrets *sec;
	struct exec *ex;
	const char *app_dir; /* hoststate's "<run dir>/apps/<app>" */
	const char *home;    /* the ssh user's home on the host acted on (backup, restore) */
	void (*say)(const char *line); /* progress for people; NULL: none */
};

/*
 * backup now on host: the image sent when missing, a snapshot taken while
 * the accessory is paused, verified, old ones forgotten per keep; the
 * result recorded. *snapshot (may be NULL) gets the new ID (malloc'd).
 * Returns 0, or -1 with e set.
 */
int backup_now(struct backup_ctx *c, const struct config_accessory *a, const char *host,
	       char **snapshot, struct err *e);
/* Verifies snapshot (NULL: the newest) on host, recording the result. 0, or -1 with e set. */
int backup_verify(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		  const char *snapshot, struct err *e);
/*
 * Restores snapshot (NULL: the newest) on host: the accessory stopped, the
 * snapshot verified, the data replaced, the accessory started again; a
 * snapshot that does not verify changes nothing. 0, or -1 with e set.
 */
int backup_restore(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		   const char *snapshot, struct err *e);
/* The snapshots on host (the state and the scheduled runs merged). 0, or -1 with e set. */
int backup_list(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		struct backup_snapshots *out, struct err *e);

/*
 * Installs or refreshes a's scheduler on host (c->home set): the image sent
 * when missing, the job, the secret and the repository's directory
 * written, the container (re)created when its config changed and started
 * when stopped. *what (may be NULL) gets what was done: "installed",
 * "updated", "started", "unchanged". Without a schedule, as
 * backup_schedule_remove. 0, or -1 with e set.
 */
int backup_schedule_install(struct backup_ctx *c, const struct config_accessory *a,
			    const char *host, struct sbuf *what, struct err *e);
/* Removes a's scheduler, job and secret from host. *what: "removed" or "none". */
int backup_schedule_remove(struct backup_ctx *c, const struct config_accessory *a, const char *host,
			   struct sbuf *what, struct err *e);
/*
 * What host says of a's backups (backup_parse_status); *raw holds the
 * text out points into. 0, or -1 with e set.
 */
int backup_status(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		  struct sbuf *raw, struct backup_status *out, struct err *e);

#endif
