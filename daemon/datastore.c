/* datastore — see datastore.h. */
#include "daemon/datastore.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

/*
 * Tables of their own, created when missing rather than by a schema
 * migration of the store: a store without them is a store without
 * datastores, and an older berthd reading the file leaves them alone.
 */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS datastores (kind TEXT NOT NULL, name TEXT NOT NULL,"
    " image TEXT NOT NULL, password TEXT NOT NULL, created INTEGER NOT NULL,"
    " PRIMARY KEY (kind, name));"
    "CREATE TABLE IF NOT EXISTS datastore_links (kind TEXT NOT NULL, name TEXT NOT NULL,"
    " app TEXT NOT NULL, PRIMARY KEY (kind, name, app));"
    "CREATE TABLE IF NOT EXISTS datastore_backups (kind TEXT NOT NULL, name TEXT NOT NULL,"
    " password TEXT NOT NULL, verified_time INTEGER, verified_snapshot TEXT,"
    " PRIMARY KEY (kind, name));";

static int db_err(struct store *s, struct err *e, const char *what)
{
	return err_set(e, "cannot %s in '%s': %s", what, s->path ? s->path : "berthd.db",
		       s->db ? sqlite3_errmsg(s->db) : "not open");
}

/* Prepares sql (the tables made first when missing) and binds n text parameters. */
static sqlite3_stmt *prep(struct store *s, struct err *e, const char *sql, int n,
			  const char *const *params)
{
	sqlite3_stmt *st = NULL;

	if (!s->db || sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(s, e, "read the records");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
	}
	return st;
}

/* Runs a statement; the rows changed, or -1. */
static int exec_p(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
	sqlite3_stmt *st = prep(s, e, sql, n, params);
	int r = -1;

	if (!st) {
		return -1;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_err(s, e, "write the records");
	} else {
		r = sqlite3_changes(s->db);
	}
	sqlite3_finalize(st);
	return r;
}

/* The first column of every row into v. */
static int list_p(struct store *s, struct err *e, struct strvec *v, const char *sql, int n,
		  const char *const *params)
{
	sqlite3_stmt *st = prep(s, e, sql, n, params);
	int rc, r = -1;

	if (!st) {
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strvec_push(v, (const char *)sqlite3_column_text(st, 0));
	}
	if (rc != SQLITE_DONE) {
		db_err(s, e, "read the records");
	} else {
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

void datastore_release(struct datastore *d)
{
	free(d->kind);
	free(d->name);
	free(d->image);
	free(d->password);
	d->kind = d->name = d->image = d->password = NULL;
}

int datastore_add(struct store *s, const char *kind, const char *name, const char *image,
		  const char *password, struct err *e)
{
	char created[32];
	int r;

	snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
	r = exec_p(s, e,
		   "INSERT INTO datastores (kind, name, image, password, created)"
		   " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		   5, (const char *const[]){kind, name, image, password, created});
	if (r == 0) {
		return err_set(e, "%s service '%s' already exists", kind, name);
	}
	return r < 0 ? -1 : 0;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

int datastore_get(struct store *s, const char *kind, const char *name, struct datastore *d,
		  struct err *e)
{
	sqlite3_stmt *st = prep(s, e,
				"SELECT kind, name, image, password, created FROM datastores"
				" WHERE kind = ? AND name = ?",
				2, (const char *const[]){kind, name});
	int rc, r = -1;

	if (!st) {
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (d) {
			d->kind = col_dup(st, 0);
			d->name = col_dup(st, 1);
			d->image = col_dup(st, 2);
			d->password = col_dup(st, 3);
			d->created = sqlite3_column_int64(st, 4);
		}
		r = 1;
	} else if (rc == SQLITE_DONE) {
		r = 0;
	} else {
		db_err(s, e, "read the records");
	}
	sqlite3_finalize(st);
	return r;
}

int datastore_remove(struct store *s, const char *kind, const char *name, struct err *e)
{
	const char *const p[] = {kind, name};
	int r = -1;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	if (exec_p(s, e, "DELETE FROM datastore_links WHERE kind = ? AND name = ?", 2, p) < 0 ||
	    exec_p(s, e, "DELETE FROM datastore_backups WHERE kind = ? AND name = ?", 2, p) < 0 ||
	    exec_p(s, e, "DELETE FROM datastores WHERE kind = ? AND name = ?", 2, p) < 0) {
		goto out;
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	return r;
}

int datastore_list(struct store *s, const char *kind, struct strvec *names, struct err *e)
{
	return list_p(s, e, names, "SELECT name FROM datastores WHERE kind = ? ORDER BY name", 1,
		      (const char *const[]){kind});
}

int datastore_link(struct store *s, const char *kind, const char *name, const char *app,
		   struct err *e)
{
	return exec_p(s, e,
		      "INSERT INTO datastore_links (kind, name, app) VALUES (?, ?, ?)"
		      " ON CONFLICT DO NOTHING",
		      3, (const char *const[]){kind, name, app});
}

int datastore_unlink(struct store *s, const char *kind, const char *name, const char *app,
		     struct err *e)
{
	return exec_p(s, e, "DELETE FROM datastore_links WHERE kind = ? AND name = ? AND app = ?",
		      3, (const char *const[]){kind, name, app});
}

int datastore_links(struct store *s, const char *kind, const char *name, struct strvec *apps,
		    struct err *e)
{
	return list_p(s, e, apps,
		      "SELECT app FROM datastore_links WHERE kind = ? AND name = ? ORDER BY app", 2,
		      (const char *const[]){kind, name});
}

int datastore_backup_password(struct store *s, const char *kind, const char *name,
			      const char *fresh, char **password, struct err *e)
{
	struct strvec v = STRVEC_INIT;
	const char *const p[] = {kind, name};
	int r = -1;

	*password = NULL;
	if (fresh && exec_p(s, e,
			    "INSERT INTO datastore_backups (kind, name, password) VALUES (?, ?, ?)"
			    " ON CONFLICT DO NOTHING",
			    3, (const char *const[]){kind, name, fresh}) < 0) {
		return -1;
	}
	if (list_p(s, e, &v, "SELECT password FROM datastore_backups WHERE kind = ? AND name = ?",
		   2, p) < 0) {
		goto out;
	}
	if (v.nr) {
		*password = xstrdup(v.v[0]);
		r = 1;
	} else {
		r = 0;
	}
out:
	for (size_t i = 0; i < v.nr; i++) {
		explicit_bzero(v.v[i], strlen(v.v[i]));
	}
	strvec_clear(&v);
	return r;
}

int datastore_backup_verified(struct store *s, const char *kind, const char *name, long long time,
			      const char *snapshot, struct err *e)
{
	char t[32];
	int r;

	snprintf(t, sizeof(t), "%lld", time);
	r = exec_p(s, e,
		   "UPDATE datastore_backups SET verified_time = ?, verified_snapshot = ?"
		   " WHERE kind = ? AND name = ?",
		   4, (const char *const[]){t, snapshot, kind, name});
	if (r == 0) {
		return err_set(e, "%s service '%s' has no backups", kind, name);
	}
	return r < 0 ? -1 : 0;
}

int datastore_backup_last(struct store *s, const char *kind, const char *name, long long *time,
			  char **snapshot, struct err *e)
{
	sqlite3_stmt *st = prep(s, e,
				"SELECT verified_time, verified_snapshot FROM datastore_backups"
				" WHERE kind = ? AND name = ? AND verified_time IS NOT NULL",
				2, (const char *const[]){kind, name});
	int rc, r = -1;

	*time = -1;
	*snapshot = NULL;
	if (!st) {
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*time = sqlite3_column_int64(st, 0);
		*snapshot = col_dup(st, 1);
		r = 1;
	} else if (rc == SQLITE_DONE) {
		r = 0;
	} else {
		db_err(s, e, "read the records");
	}
	sqlite3_finalize(st);
	return r;
}

int datastore_password(struct sbuf *pw, struct err *e)
{
	unsigned char raw[24];
	size_t got = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		return err_set(e, "cannot open '/dev/urandom': %s", strerror(errno));
	}
	while (got < sizeof(raw)) {
		ssize_t n = read(fd, raw + got, sizeof(raw) - got);
		if (n <= 0) {
			if (n < 0 && errno == EINTR) {
				continue;
			}
			close(fd);
			explicit_bzero(raw, sizeof(raw));
			return err_set(e, "cannot read '/dev/urandom': %s",
				       n < 0 ? strerror(errno) : "end of file");
		}
		got += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; i < sizeof(raw); i++) {
		sbuf_addf(pw, "%02x", raw[i]);
	}
	explicit_bzero(raw, sizeof(raw));
	return 0;
}
