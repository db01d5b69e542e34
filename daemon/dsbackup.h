/*
 * dsbackup — backups of berthd's datastores (postgres:*, redis:*, see
 * daemon/cmd-datastore.c) with the engine's backups (engine/backup.h): a
 * dump made by the database's own tools in the service's container,
 * snapshotted with restic in a berth-backup:VERSION container, and verified
 * by restoring it into a scratch container of the service's image.
 *
 * A service is to the engine an accessory KIND-NAME of the service
 * "berthd", whose container is the service's own (berthd-KIND-NAME), on
 * the one host "localhost" (the local executor), with
 *	backup: {kind: KIND, to: REPO, password: DSBACKUP_SECRET}
 * made as the tree config/deploy.yml would give and read by the engine's
 * own loader (config_from_yaml), as daemon/release.h does for apps.
 *
 * Paths. berthd runs in a container with its state directory in a volume,
 * but the engine's steps hand paths to the host's dockerd (`docker run -v
 * REPO:/repo`, the dump's staging directory), which reads them on the
 * host. So the steps run in a helper container (dsbackup_wrap_argv) of
 * berthd's own image in which the host's directory of berthd's backups,
 * <state on the host>/backups, is mounted at its own host path: a path
 * means the same there and to dockerd. The state's host path is the source
 * of berthd's own mount of its state directory (dsbackup_host_paths);
 * berthd not in a container runs the steps as they are, in its state
 * directory. On the host, under <state>/backups (mode 0700):
 *	KIND-NAME/          the restic repository
 *	KIND-NAME.json      the engine's record of results (backup.h)
 *	.berth-backup.XXXX  a dump while it is staged (removed after)
 *
 * The repository's password is made once per service and kept in the
 * store (datastore_backup_password): it reaches restic only on the
 * steps' stdin, never an argv, an output or a log. The last backup that
 * verified is kept in the store too (datastore_backup_verified), so the
 * API and the panel show it without running restic.
 */
#ifndef DSBACKUP_H
#define DSBACKUP_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/backup.h"
#include "engine/config.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/strvec.h"

/* The secret the engine's config names for the repository's password. */
#define DSBACKUP_SECRET "BERTHD_BACKUP_PASSWORD"
/* The engine's name for this host. */
#define DSBACKUP_HOST "localhost"
/* The helper containers' name prefix (and label berthd.backup=1). */
#define DSBACKUP_HELPER_PREFIX "berthd-backup-"
/* A last verified backup older than this is flagged (the panel). */
#define DSBACKUP_STALE_S (2 * 86400)

/*
 * The engine's config tree (JSON) for the backups of service name of kind
 * ("postgres", "redis") running image, to the repository directory repo
 * (absolute, on the host). The caller owns it.
 */
json_t *dsbackup_tree(const char *kind, const char *name, const char *image, const char *repo);

/*
 * cfg (config_init'ed) from dsbackup_tree through config_from_yaml; its one
 * accessory is cfg->accessories[0]. 0, or -1 with e set.
 */
int dsbackup_config(struct config *cfg, const char *kind, const char *name, const char *image,
		    const char *repo, struct err *e);

/*
 * From `docker inspect --format '{{json .Mounts}}'` of berthd's container
 * (untrusted: types checked), the host's source of the mount at state_dir
 * into *state (a bind's path, or a volume's mountpoint) and of the one at
 * /var/run/docker.sock into *sock (unchanged when there is none). The
 * state's source must be absolute and hold no ',' ':' or whitespace (it
 * goes into `--mount` and `-v`). 0, or -1 with e set.
 */
int dsbackup_host_paths(struct slice mounts_json, const char *state_dir, struct sbuf *state,
			struct sbuf *sock, struct err *e);

/*
 * Appends to w the `docker run` the steps run under: a helper container
 * name of image, without network or logs, with sock mounted at
 * /var/run/docker.sock and dir at dir, HOME=dir and dir the working
 * directory.
 */
void dsbackup_wrap_argv(struct strvec *w, const char *image, const char *name, const char *dir,
			const char *sock);

/* t (unix time) as 2006-01-02T15:04:05Z into buf. */
void dsbackup_iso_time(long long t, char *buf, size_t len);

/*
 * backup-list's output: one line per snapshot, newest first, under a
 * header (ID, TIME, SIZE, VERIFIED: "yes", "no (why)", "not tried"), or
 * "There are no backups of KIND service NAME" when none.
 */
void dsbackup_list_text(struct sbuf *out, const char *kind, const char *name,
			const struct backup_snapshots *s);
/* The same as {"snapshots": [{"id","time","size","verified","why"}]}, newest first. */
json_t *dsbackup_list_json(const struct backup_snapshots *s);

#endif
