/*
 * postgres:backup, backup-list, backup-verify, backup-restore (and
 * redis:'s) — backups of berthd's datastores verified by restoring them,
 * with the engine's backups (daemon/dsbackup.h has how, and where things
 * are on the host). Names as Dokku's plugins have them; admin only (the
 * table in daemon/main.c).
 *
 *	KIND:backup NAME            a dump snapshotted into the service's
 *	                            repository, then verified by loading it
 *	                            into a scratch server; the last verified
 *	                            backup recorded in the store
 *	KIND:backup-verify NAME [SNAPSHOT]
 *	                            the snapshot (the newest) restored into a
 *	                            scratch server and checked again, as when
 *	                            it was taken (a damaged repository fails)
 *	KIND:backup-list NAME [--format json]
 *	                            the snapshots: ID, time, size, verified
 *	KIND:backup-restore NAME SNAPSHOT [--force]
 *	                            the snapshot verified, then loaded into the
 *	                            running service (what it replaces said
 *	                            first; without --force the service's name
 *	                            must be typed, as destroy asks)
 *
 * Each needs the image berth-backup:VERSION in the host's dockerd, which
 * `berth server bootstrap --daemon` sends with berthd's own; without it
 * the error says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/berthd.h"
#include "daemon/datastore.h"
#include "daemon/dsbackup.h"
#include "daemon/sshcmd.h"
#include "engine/backup.h"
#include "engine/exec.h"
#include "engine/secrets.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

static const struct {
	const char *kind, *title;
} kinds[] = {{"postgres", "Postgres"}, {"redis", "Redis"}};

/* The kind of a command by its prefix ("postgres:backup"): its index in kinds. */
static size_t kind_of(const char *cmd)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].kind);
		if (!strncmp(cmd, kinds[i].kind, n) && cmd[n] == ':') {
			return i;
		}
	}
	abort(); /* the table in main.c names only these */
}

/* Everything one command needs to run the engine's backups of a service. */
struct dsb {
	const char *kind, *title, *name;
	struct datastore d;
	struct config cfg;
	struct secrets sec;
	struct exec ex;
	struct backup_ctx ctx;
	struct sbuf state, backups, repo, image, sock, helper;
	const struct config_accessory *a;
};

static bool say_quiet;

/* The engine's progress under the step, without the host's name (there is one). */
static void say_line(const char *line)
{
	size_t n = strlen(DSBACKUP_HOST);

	if (say_quiet) {
		return;
	}
	if (!strncmp(line, DSBACKUP_HOST, n) && line[n] == ':' && line[n + 1] == ' ') {
		line += n + 2;
	}
	printf("       %s\n", line);
	fflush(stdout);
}

/* e's text without the engine's "host 'localhost': " in front. */
static int fail_err(struct err *e)
{
	const char *msg = err_str(e);
	static const char pre[] = "host '" DSBACKUP_HOST "': ";

	if (!strncmp(msg, pre, sizeof(pre) - 1)) {
		msg += sizeof(pre) - 1;
	}
	return bd_fail("%s", msg);
}

/*
 * The host's path of berthd's state directory into b->state, and the wrap
 * of the steps (a helper container) when berthd runs in a container; else
 * the state directory itself, and no wrap. 0, or -1 with e set.
 */
static int host_paths(struct bd *bd, struct dsb *b, struct err *e)
{
	char self[256];
	struct sbuf mounts = SBUF_INIT;
	int ret = -1;

	sbuf_addstr(&b->sock, "/var/run/docker.sock");
	if (gethostname(self, sizeof(self)) < 0) {
		self[0] = '\0';
	}
	self[sizeof(self) - 1] = '\0';
	/* in a container, its host name is its ID's start (as bd_helper_image finds it) */
	if (self[0] && self[0] != '-' &&
	    bd_docker_out((const char *[]){"docker", "inspect", "--type", "container", "--format",
					   "{{json .Mounts}}", self, NULL},
			  &mounts, 1 << 20) == 0) {
		if (dsbackup_host_paths(slice_make(mounts.buf, mounts.len), bd->state_dir,
					&b->state, &b->sock, e) < 0) {
			goto out;
		}
		bd_helper_image(&b->image);
	} else {
		char *abs = realpath(bd->state_dir, NULL);

		if (!abs) {
			err_set(e, "cannot resolve '%s': %s", bd->state_dir, strerror(errno));
			goto out;
		}
		sbuf_addstr(&b->state, abs);
		free(abs);
	}
	ret = 0;
out:
	sbuf_release(&mounts);
	return ret;
}

static void dsb_release(struct dsb *b)
{
	datastore_release(&b->d);
	config_release(&b->cfg);
	secrets_release(&b->sec);
	exec_release(&b->ex);
	sbuf_release(&b->state);
	sbuf_release(&b->backups);
	sbuf_release(&b->repo);
	sbuf_release(&b->image);
	sbuf_release(&b->sock);
	sbuf_release(&b->helper);
}

/*
 * Sets b up for the service argv[0]'s kind, name: it exists, the
 * berth-backup image is here, the repository's password (made when create
 * and there is none), the engine's config and executor. 0, 1 (an exit
 * code, the error printed), or 2: create is false and the service has no
 * backups (nothing printed).
 */
static int dsb_open(struct bd *bd, const char *cmd, const char *name, bool create, struct dsb *b)
{
	size_t k = kind_of(cmd);
	struct sbuf fresh = SBUF_INIT;
	struct err e = ERR_INIT;
	char *pw = NULL, *dir = NULL;
	int r, rc = 1;

	memset(b, 0, sizeof(*b));
	config_init(&b->cfg);
	secrets_init(&b->sec);
	exec_init(&b->ex, EXEC_LOCAL);
	b->state = (struct sbuf)SBUF_INIT;
	b->backups = (struct sbuf)SBUF_INIT;
	b->repo = (struct sbuf)SBUF_INIT;
	b->image = (struct sbuf)SBUF_INIT;
	b->sock = (struct sbuf)SBUF_INIT;
	b->helper = (struct sbuf)SBUF_INIT;
	b->kind = kinds[k].kind;
	b->title = kinds[k].title;
	b->name = name;
	say_quiet = bd->quiet;
	if (!sshcmd_valid_app(name)) {
		rc = bd_fail("invalid %s service name '%s' (lowercase letters, digits and '-', "
			     "starting with a letter)",
			     b->kind, name);
		goto out;
	}
	r = datastore_get(&bd->store, b->kind, name, &b->d, &e);
	if (r <= 0) {
		rc = r < 0 ? bd_fail_err(&e)
			   : bd_fail("%s service %s does not exist", b->title, name);
		goto out;
	}
	if (bd_docker_out((const char *[]){"docker", "image", "inspect", "--format", "{{.Id}}",
					   "--", backup_image(), NULL},
			  NULL, 4096) < 0) {
		rc = bd_fail(
		    "the image %s is not on this host: send it with `berth server bootstrap "
		    "-h HOST --daemon` from a machine that has it (make image builds it)",
		    backup_image());
		goto out;
	}
	if (create && datastore_password(&fresh, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	r = datastore_backup_password(&bd->store, b->kind, name, create ? fresh.buf : NULL, &pw,
				      &e);
	if (r <= 0) {
		rc = r < 0 ? bd_fail_err(&e) : 2;
		goto out;
	}
	secrets_set(&b->sec, DSBACKUP_SECRET, pw, NULL);
	dir = bd_path(bd, "backups");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = bd_fail("cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (host_paths(bd, b, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	sbuf_addf(&b->backups, "%s/backups", b->state.buf);
	sbuf_addf(&b->repo, "%s/%s-%s", b->backups.buf, b->kind, name);
	if (dsbackup_config(&b->cfg, b->kind, name, b->d.image, b->repo.buf, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	b->a = &b->cfg.accessories[0];
	if (b->image.len) {
		sbuf_addf(&b->helper, "%s%ld", DSBACKUP_HELPER_PREFIX, (long)getpid());
		dsbackup_wrap_argv(&b->ex.local_wrap, b->image.buf, b->helper.buf, b->backups.buf,
				   b->sock.buf);
	} else {
		b->ex.local_dir = xstrdup(b->backups.buf);
	}
	b->ctx.cfg = &b->cfg;
	b->ctx.sec = &b->sec;
	b->ctx.ex = &b->ex;
	b->ctx.app_dir = b->state.buf;
	b->ctx.home = b->backups.buf;
	b->ctx.say = say_line;
	rc = 0;
out:
	if (pw) {
		explicit_bzero(pw, strlen(pw));
	}
	if (fresh.buf) {
		explicit_bzero(fresh.buf, fresh.len);
	}
	free(pw);
	free(dir);
	sbuf_release(&fresh);
	err_release(&e);
	return rc;
}

/* As dsb_open, for a service that must have backups already: 0, or 1 (printed). */
static int dsb_open_backups(struct bd *bd, const char *cmd, const char *name, struct dsb *b)
{
	int rc = dsb_open(bd, cmd, name, false, b);

	if (rc == 2) {
		rc = bd_fail("%s service %s has no backups (make one: %s:backup %s)", b->title,
			     b->name, b->kind, b->name);
	}
	return rc;
}

/*
 * After a failed backup: whether the repository still restores the last
 * verified backup. restic's own words for a damaged repository may be
 * about something else (a parent snapshot's tree it cannot read is "a
 * source file could not be read"), so this says it plainly, and what to do.
 */
static void check_repository(struct bd *bd, struct dsb *b)
{
	struct err e = ERR_INIT;
	char *snap = NULL;
	long long t;

	if (datastore_backup_last(&bd->store, b->kind, b->name, &t, &snap, &e) == 1) {
		bd_info(bd, "checking the repository: restoring the last verified backup, %s",
			snap);
		if (backup_verify(&b->ctx, b->a, DSBACKUP_HOST, snap, &e) < 0) {
			const char *msg = err_str(&e);
			const char *pre = strstr(msg, "snapshot ");

			bd_fail(
			    "the repository of %s service %s is damaged: %s (to start a new one, "
			    "move '%s' away on the host)",
			    b->kind, b->name, pre ? pre : msg, b->repo.buf);
		} else {
			bd_info(bd, "the last verified backup, %s, restores still", snap);
		}
	}
	free(snap);
	err_release(&e);
}

int cmd_datastore_backup(struct bd *bd, int argc, const char **argv)
{
	struct dsb b;
	struct sbuf usage = SBUF_INIT;
	struct err e = ERR_INIT;
	char *snap = NULL;
	int rc;

	memset(&b, 0, sizeof(b));
	sbuf_addf(&usage, "%s NAME", argv[0]);
	if (argc != 2 || argv[1][0] == '-') {
		rc = bd_usage(usage.buf);
		sbuf_release(&usage);
		return rc;
	}
	if ((rc = dsb_open(bd, argv[0], argv[1], true, &b))) {
		goto out;
	}
	rc = 1;
	bd_step(bd, "Backing up %s service %s", b.kind, b.name);
	if (backup_now(&b.ctx, b.a, DSBACKUP_HOST, &snap, &e) < 0) {
		rc = fail_err(&e);
		check_repository(bd, &b);
		goto out;
	}
	if (datastore_backup_verified(&bd->store, b.kind, b.name, (long long)time(NULL), snap, &e) <
	    0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, argv[0], b.name);
	bd_step(bd, "Backup %s of %s verified", snap, b.name);
	rc = 0;
out:
	free(snap);
	dsb_release(&b);
	sbuf_release(&usage);
	err_release(&e);
	return rc;
}

int cmd_datastore_backup_verify(struct bd *bd, int argc, const char **argv)
{
	struct dsb b;
	struct sbuf usage = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *snap = argc == 3 ? argv[2] : NULL;
	int rc = 1;

	memset(&b, 0, sizeof(b));
	sbuf_addf(&usage, "%s NAME [SNAPSHOT]", argv[0]);
	if (argc < 2 || argc > 3 || argv[1][0] == '-' || (snap && snap[0] == '-')) {
		rc = bd_usage(usage.buf);
		goto out_usage;
	}
	if ((rc = dsb_open_backups(bd, argv[0], argv[1], &b))) {
		goto out;
	}
	rc = 1;
	bd_step(bd, "Verifying %s of %s service %s", snap ? snap : "the newest backup", b.kind,
		b.name);
	if (backup_verify(&b.ctx, b.a, DSBACKUP_HOST, snap, &e) < 0) {
		rc = fail_err(&e);
		goto out;
	}
	bd_step(bd, "%s verified", snap ? snap : "The newest backup");
	rc = 0;
out:
	dsb_release(&b);
out_usage:
	sbuf_release(&usage);
	err_release(&e);
	return rc;
}

int cmd_datastore_backup_list(struct bd *bd, int argc, const char **argv)
{
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json, or text (the default)"),
	    OPT_END(),
	};
	struct dsb b;
	struct backup_snapshots s = {0};
	struct sbuf usage = SBUF_INIT, out = SBUF_INIT;
	struct err e = ERR_INIT;
	int n, rc = 1;

	memset(&b, 0, sizeof(b));
	sbuf_addf(&usage, "%s NAME [--format json]", argv[0]);
	n = bd_opts(argc - 1, argv + 1, opts, usage.buf);
	if (n < 0) {
		goto out_usage;
	}
	if (n != 1 || (format && strcmp(format, "json") && strcmp(format, "text"))) {
		rc = bd_usage(usage.buf);
		goto out_usage;
	}
	if (format) {
		bd->json = !strcmp(format, "json");
	}
	rc = dsb_open(bd, argv[0], argv[1], false, &b);
	if (rc == 1) {
		goto out;
	}
	if (rc == 0 && backup_list(&b.ctx, b.a, DSBACKUP_HOST, &s, &e) < 0) {
		rc = fail_err(&e);
		goto out;
	}
	/* rc 2: no password, so no backups yet; s stays empty */
	if (bd->json) {
		json_t *j = dsbackup_list_json(&s);
		char *text = json_dumps(j, JSON_INDENT(2));

		printf("%s\n", text);
		free(text);
		json_decref(j);
	} else {
		dsbackup_list_text(&out, b.kind, b.name, &s);
		fputs(out.buf, stdout);
	}
	rc = 0;
out:
	backup_snapshots_release(&s);
	dsb_release(&b);
out_usage:
	sbuf_release(&usage);
	sbuf_release(&out);
	err_release(&e);
	return rc;
}

int cmd_datastore_backup_restore(struct bd *bd, int argc, const char **argv)
{
	bool force = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "force", &force, "do not ask for the service's name"),
	    OPT_END(),
	};
	struct dsb b;
	struct sbuf usage = SBUF_INIT, effect = SBUF_INIT, answer = SBUF_INIT;
	struct err e = ERR_INIT;
	const char *snap;
	int n, rc = 1;

	memset(&b, 0, sizeof(b));
	sbuf_addf(&usage, "%s NAME SNAPSHOT [--force]", argv[0]);
	n = bd_opts(argc - 1, argv + 1, opts, usage.buf);
	if (n < 0) {
		goto out_usage;
	}
	if (n != 2) {
		rc = bd_usage(usage.buf);
		goto out_usage;
	}
	snap = argv[2];
	if (strlen(snap) < 8 || strlen(snap) > 64 ||
	    strspn(snap, "0123456789abcdef") != strlen(snap)) {
		rc = bd_fail("'%s' is not a snapshot ID (hex digits, as %s:backup-list %s shows)",
			     snap, kind_of(argv[0]) == 0 ? "postgres" : "redis", argv[1]);
		goto out_usage;
	}
	if ((rc = dsb_open_backups(bd, argv[0], argv[1], &b))) {
		goto out;
	}
	rc = 1;
	backup_restore_effect(&effect, b.a, b.backups.buf);
	if (!force) {
		char buf[256];

		fprintf(stderr,
			" !     WARNING: Potentially Destructive Action\n"
			" !     This command restores snapshot %s into %s service %s: %s.\n"
			" !     To proceed, type \"%s\"\n\n> ",
			snap, b.kind, b.name, effect.buf, b.name);
		fflush(stderr);
		if (fgets(buf, sizeof(buf), stdin)) {
			sbuf_addstr(&answer, buf);
		}
		sbuf_trim(&answer);
		if (strcmp(answer.buf, b.name)) {
			rc = bd_fail("Confirmation did not match %s. Aborted.", b.name);
			goto out;
		}
	}
	bd_step(bd, "Restoring %s service %s from snapshot %s", b.kind, b.name, snap);
	bd_info(bd, "%s", effect.buf);
	if (backup_restore(&b.ctx, b.a, DSBACKUP_HOST, snap, &e) < 0) {
		rc = fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, argv[0], b.name);
	bd_step(bd, "%s restored from snapshot %s", b.name, snap);
	rc = 0;
out:
	dsb_release(&b);
out_usage:
	sbuf_release(&usage);
	sbuf_release(&effect);
	sbuf_release(&answer);
	err_release(&e);
	return rc;
}
