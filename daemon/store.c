/* store — see store.h. */
#include "daemon/store.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

/* Each entry brings the schema from version i to i + 1. */
static const char *const migrations[] = {
    "CREATE TABLE apps (name TEXT PRIMARY KEY, created INTEGER NOT NULL,"
    " branch TEXT, dockerfile TEXT, image_source TEXT);"
    "CREATE TABLE config (app TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (app, name));"
    "CREATE TABLE domains (app TEXT NOT NULL, domain TEXT NOT NULL, PRIMARY KEY (app, domain));"
    "CREATE TABLE scale (app TEXT NOT NULL, type TEXT NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY (app, type));"
    "CREATE TABLE releases (id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL,"
    " version TEXT NOT NULL, image TEXT NOT NULL, rev TEXT, time INTEGER NOT NULL,"
    " status TEXT NOT NULL);"
    "CREATE INDEX releases_app ON releases (app, id);"
    "CREATE TABLE keys (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE,"
    " line TEXT NOT NULL, admin INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE rights (keyname TEXT NOT NULL, app TEXT NOT NULL, kind TEXT NOT NULL,"
    " PRIMARY KEY (keyname, app));"
    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " keyname TEXT, app TEXT, action TEXT NOT NULL, names TEXT);"
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
    /* 2: how an app runs (ps, checks, resource, storage) */
    "CREATE TABLE app_props (app TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (app, name));"
    "CREATE TABLE mounts (app TEXT NOT NULL, mount TEXT NOT NULL, PRIMARY KEY (app, mount));",
    /* 3: the panel's users, their sessions and the one-time set-up tokens */
    "CREATE TABLE users (name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL,"
    " totp_secret TEXT, created INTEGER NOT NULL, last_login INTEGER);"
    "CREATE TABLE user_apps (user TEXT NOT NULL, app TEXT NOT NULL, role TEXT NOT NULL,"
    " PRIMARY KEY (user, app));"
    "CREATE TABLE sessions (hash TEXT PRIMARY KEY, user TEXT NOT NULL,"
    " created INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
    "CREATE TABLE setup_tokens (hash TEXT PRIMARY KEY, created INTEGER NOT NULL, used INTEGER);",
    /* 4: second factors and API tokens */
    "ALTER TABLE users ADD COLUMN totp_pending TEXT;"
    "ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN totp_recovery TEXT;"
    "CREATE TABLE api_tokens (hash TEXT PRIMARY KEY, user TEXT NOT NULL, name TEXT NOT NULL,"
    " app TEXT, role TEXT, created INTEGER NOT NULL, last_used INTEGER, UNIQUE (user, name));",
};

static int db_err(struct store *s, struct err *e, const char *what)
{
	return err_set(e, "cannot %s in '%s': %s", what, s->path ? s->path : "berthd.db",
		       s->db ? sqlite3_errmsg(s->db) : "not open");
}

/*
 * A connection keeps the statements it prepared (up to STORE_KEPT_STMTS,
 * by their SQL's text) and runs them again after a reset: parsing SQL is
 * most of what a small query costs. One in use is not handed out twice
 * (a query inside another's loop prepares its own).
 */
struct store_stmt {
	char *sql;
	sqlite3_stmt *st;
	bool busy;
};

static int prep(struct store *s, sqlite3_stmt **st, const char *sql, struct err *e)
{
	*st = NULL;
	if (!s->db) {
		return db_err(s, e, "read the records");
	}
	for (size_t i = 0; i < s->nkept; i++) {
		if (!s->kept[i].busy && !strcmp(s->kept[i].sql, sql)) {
			s->kept[i].busy = true;
			*st = s->kept[i].st;
			return 0;
		}
	}
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return db_err(s, e, "read the records");
	}
	if (s->nkept < STORE_KEPT_STMTS) {
		if (!s->kept) {
			s->kept = xcalloc(STORE_KEPT_STMTS, sizeof(*s->kept));
		}
		s->kept[s->nkept++] = (struct store_stmt){xstrdup(sql), *st, true};
	}
	return 0;
}

/* The end of a statement from prep(): reset for its next use when kept, else finalized. */
static void done(struct store *s, sqlite3_stmt *st)
{
	if (!st) {
		return;
	}
	for (size_t i = 0; i < s->nkept; i++) {
		if (s->kept[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->kept[i].busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

/* Binds n text parameters (a NULL binds SQL NULL). */
static void bind_v(sqlite3_stmt *st, int n, va_list ap)
{
	for (int i = 1; i <= n; i++) {
		const char *v = va_arg(ap, const char *);
		if (v) {
			sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
		} else {
			sqlite3_bind_null(st, i);
		}
	}
}

/* Runs a statement with n text parameters; returns the rows changed, or -1. */
static int exec_n(struct store *s, struct err *e, const char *sql, int n, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int r = -1;

	if (prep(s, &st, sql, e) < 0) {
		return -1;
	}
	va_start(ap, n);
	bind_v(st, n, ap);
	va_end(ap);
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_err(s, e, "write the records");
		goto out;
	}
	r = sqlite3_changes(s->db);
out:
	done(s, st);
	return r;
}

/* A query with n text parameters, for reading rows: NULL with e set on error. */
static sqlite3_stmt *query_n(struct store *s, struct err *e, const char *sql, int n, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	if (prep(s, &st, sql, e) < 0) {
		return NULL;
	}
	va_start(ap, n);
	bind_v(st, n, ap);
	va_end(ap);
	return st;
}

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

/* Steps a query to its end, or -1 (e set). 1 while a row is there. */
static int step(struct store *s, sqlite3_stmt *st, struct err *e)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		return 1;
	}
	if (rc == SQLITE_DONE) {
		return 0;
	}
	return db_err(s, e, "read the records");
}

/* A one-value lookup: 1 with *out set, 0 no row, -1 error. */
static int lookup_str(struct store *s, struct err *e, char **out, const char *sql, int n, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int r;

	if (prep(s, &st, sql, e) < 0) {
		return -1;
	}
	va_start(ap, n);
	bind_v(st, n, ap);
	va_end(ap);
	r = step(s, st, e);
	if (r == 1 && out) {
		*out = col_str(st, 0);
	}
	done(s, st);
	return r;
}

static int migrate(struct store *s, struct err *e)
{
	sqlite3_stmt *st;
	int version = 0, r = -1;
	const int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));

	if (store_begin(s, e) < 0) {
		return -1;
	}
	if (prep(s, &st, "PRAGMA user_version", e) < 0) {
		goto out;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
	}
	done(s, st);
	if (version > latest) {
		err_set(e, "'%s' has schema version %d, newer than this berthd knows (%d)", s->path,
			version, latest);
		goto out;
	}
	for (; version < latest; version++) {
		struct sbuf sql = SBUF_INIT;
		char *msg = NULL;
		int rc;

		sbuf_addf(&sql, "%s; PRAGMA user_version = %d;", migrations[version], version + 1);
		rc = sqlite3_exec(s->db, sql.buf, NULL, NULL, &msg);
		sbuf_release(&sql);
		if (rc != SQLITE_OK) {
			err_set(e, "cannot update the schema of '%s' to version %d: %s", s->path,
				version + 1, msg ? msg : "unknown error");
			sqlite3_free(msg);
			goto out;
		}
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	return r;
}

/*
 * Once per process, before SQLite's first use: no memory statistics, whose
 * global mutex every allocation of every connection would take (berthd
 * serve's threads each have a connection of their own).
 */
static void sqlite_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(struct store *s, const char *dir, struct err *e)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	struct sbuf path = SBUF_INIT;
	char *msg = NULL;
	int fd, r = -1;

	pthread_once(&once, sqlite_setup);
	*s = (struct store)STORE_INIT;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	sbuf_addf(&path, "%s/berthd.db", dir);
	s->path = sbuf_detach(&path, NULL);
	/*
	 * Created 0600 before SQLite sees it, whatever the umask. Only when it
	 * is missing: closing a descriptor of the file drops every POSIX lock
	 * this process holds on it, so with other connections open here (berthd
	 * serve's HTTP threads) another process would take itself for the last
	 * user of the file, checkpoint and delete the WAL under them.
	 */
	fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST) {
		err_set(e, "cannot open '%s': %s", s->path, strerror(errno));
		goto out;
	}
	if (fd >= 0 && fchmod(fd, 0600) < 0) {
		err_set(e, "cannot chmod '%s': %s", s->path, strerror(errno));
		close(fd);
		goto out;
	}
	if (fd >= 0) {
		close(fd);
	}
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		db_err(s, e, "open the database");
		goto out;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	if (sqlite3_exec(s->db,
			 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 " PRAGMA foreign_keys = ON;"
			 /* a removed config value or TLS key is zeroed, not left in free pages */
			 " PRAGMA secure_delete = ON;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, "cannot set up '%s': %s", s->path, msg ? msg : "unknown error");
		sqlite3_free(msg);
		goto out;
	}
	r = migrate(s, e);
out:
	if (r < 0) {
		store_close(s);
	}
	return r;
}

void store_close(struct store *s)
{
	for (size_t i = 0; i < s->nkept; i++) {
		sqlite3_finalize(s->kept[i].st);
		free(s->kept[i].sql);
	}
	free(s->kept);
	s->kept = NULL;
	s->nkept = 0;
	if (s->db) {
		sqlite3_close(s->db);
	}
	s->db = NULL;
	free(s->path);
	s->path = NULL;
}

int store_read_begin(struct store *s, struct err *e)
{
	if (!s->db || sqlite3_exec(s->db, "BEGIN DEFERRED", NULL, NULL, NULL) != SQLITE_OK) {
		return db_err(s, e, "start a transaction");
	}
	return 0;
}

bool store_in_transaction(const struct store *s)
{
	return s->db && !sqlite3_get_autocommit(s->db);
}

int store_begin(struct store *s, struct err *e)
{
	if (!s->db || sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		return db_err(s, e, "start a transaction");
	}
	return 0;
}

int store_commit(struct store *s, struct err *e)
{
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_err(s, e, "commit");
		store_rollback(s);
		return -1;
	}
	return 0;
}

void store_rollback(struct store *s)
{
	if (s->db && !sqlite3_get_autocommit(s->db)) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

static char *now_str(void)
{
	struct sbuf sb = SBUF_INIT;
	sbuf_addf(&sb, "%lld", (long long)time(NULL));
	return sbuf_detach(&sb, NULL);
}

/* apps */

void store_app_release(struct store_app *a)
{
	free(a->name);
	free(a->branch);
	free(a->dockerfile);
	free(a->image_source);
	memset(a, 0, sizeof(*a));
}

int store_app_get(struct store *s, const char *name, struct store_app *a, struct err *e)
{
	sqlite3_stmt *st =
	    query_n(s, e,
		    "SELECT name, created, branch, dockerfile, image_source FROM apps"
		    " WHERE name = ?",
		    1, name);
	int r;

	if (!st) {
		return -1;
	}
	r = step(s, st, e);
	if (r == 1 && a) {
		a->name = col_str(st, 0);
		a->created = sqlite3_column_int64(st, 1);
		a->branch = col_str(st, 2);
		a->dockerfile = col_str(st, 3);
		a->image_source = col_str(st, 4);
	}
	done(s, st);
	return r;
}

bool store_app_exists(struct store *s, const char *name)
{
	return store_app_get(s, name, NULL, NULL) == 1;
}

int store_app_create(struct store *s, const char *name, struct err *e)
{
	char *now = now_str();
	int r;

	/* One statement: two creators at once cannot both succeed. */
	r = exec_n(s, e,
		   "INSERT OR IGNORE INTO apps (name, created) VALUES (?, CAST(? AS INTEGER))", 2,
		   name, now);
	free(now);
	if (r == 0) {
		return err_set(e, "app '%s' already exists", name);
	}
	return r < 0 ? -1 : 0;
}

static const char *const app_tables[] = {"config", "domains",	"scale",  "releases",
					 "rights", "app_props", "mounts", "user_apps"};

int store_app_destroy(struct store *s, const char *name, struct err *e)
{
	struct sbuf sql = SBUF_INIT;
	int r = -1;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	for (size_t i = 0; i < sizeof(app_tables) / sizeof(app_tables[0]); i++) {
		sbuf_reset(&sql);
		sbuf_addf(&sql, "DELETE FROM %s WHERE app = ?", app_tables[i]);
		if (exec_n(s, e, sql.buf, 1, name) < 0) {
			goto out;
		}
	}
	if (exec_n(s, e, "DELETE FROM apps WHERE name = ?", 1, name) < 0) {
		goto out;
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	sbuf_release(&sql);
	return r;
}

int store_app_rename(struct store *s, const char *from, const char *to, struct err *e)
{
	struct sbuf sql = SBUF_INIT;
	int r = -1;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	if (store_app_exists(s, to)) {
		err_set(e, "app '%s' already exists", to);
		goto out;
	}
	if (exec_n(s, e, "UPDATE apps SET name = ? WHERE name = ?", 2, to, from) <= 0) {
		if (!err_isset(e)) {
			err_set(e, "app '%s' does not exist", from);
		}
		goto out;
	}
	for (size_t i = 0; i < sizeof(app_tables) / sizeof(app_tables[0]); i++) {
		sbuf_reset(&sql);
		sbuf_addf(&sql, "UPDATE %s SET app = ? WHERE app = ?", app_tables[i]);
		if (exec_n(s, e, sql.buf, 2, to, from) < 0) {
			goto out;
		}
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	sbuf_release(&sql);
	return r;
}

/* Appends column 0 (and 1 into v2 when given) of every row. */
static int list_cols(struct store *s, struct err *e, struct strvec *v1, struct strvec *v2,
		     sqlite3_stmt *st)
{
	int r;

	if (!st) {
		return -1;
	}
	while ((r = step(s, st, e)) == 1) {
		const unsigned char *a = sqlite3_column_text(st, 0);
		strvec_push(v1, a ? (const char *)a : "");
		if (v2) {
			const unsigned char *b = sqlite3_column_text(st, 1);
			strvec_push(v2, b ? (const char *)b : "");
		}
	}
	done(s, st);
	return r;
}

int store_app_list(struct store *s, struct strvec *names, struct err *e)
{
	return list_cols(s, e, names, NULL,
			 query_n(s, e, "SELECT name FROM apps ORDER BY name", 0));
}

int store_app_set(struct store *s, const char *app, enum store_app_field f, const char *value,
		  struct err *e)
{
	static const char *const sql[] = {
	    [STORE_APP_BRANCH] = "UPDATE apps SET branch = ? WHERE name = ?",
	    [STORE_APP_DOCKERFILE] = "UPDATE apps SET dockerfile = ? WHERE name = ?",
	    [STORE_APP_IMAGE_SOURCE] = "UPDATE apps SET image_source = ? WHERE name = ?",
	};
	int r = exec_n(s, e, sql[f], 2, value, app);

	if (r == 0) {
		return err_set(e, "app '%s' does not exist", app);
	}
	return r < 0 ? -1 : 0;
}

/* config */

int store_config_set(struct store *s, const char *app, const struct strvec *names,
		     const struct strvec *values, struct err *e)
{
	int r = -1;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	for (size_t i = 0; i < names->nr && i < values->nr; i++) {
		if (exec_n(s, e,
			   "INSERT INTO config (app, name, value) VALUES (?, ?, ?)"
			   " ON CONFLICT (app, name) DO UPDATE SET value = excluded.value",
			   3, app, names->v[i], values->v[i]) < 0) {
			goto out;
		}
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	return r;
}

int store_config_unset(struct store *s, const char *app, const struct strvec *names, struct err *e)
{
	int r = -1;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	for (size_t i = 0; i < names->nr; i++) {
		if (exec_n(s, e, "DELETE FROM config WHERE app = ? AND name = ?", 2, app,
			   names->v[i]) < 0) {
			goto out;
		}
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	return r;
}

int store_config_get(struct store *s, const char *app, const char *name, char **value,
		     struct err *e)
{
	return lookup_str(s, e, value, "SELECT value FROM config WHERE app = ? AND name = ?", 2,
			  app, name);
}

int store_config_list(struct store *s, const char *app, struct strvec *names, struct strvec *values,
		      struct err *e)
{
	return list_cols(
	    s, e, names, values,
	    query_n(s, e, "SELECT name, value FROM config WHERE app = ? ORDER BY name", 1, app));
}

/* domains */

int store_domain_add(struct store *s, const char *app, const char *domain, struct err *e)
{
	return exec_n(s, e, "INSERT OR IGNORE INTO domains (app, domain) VALUES (?, ?)", 2, app,
		      domain) < 0
		   ? -1
		   : 0;
}

int store_domain_remove(struct store *s, const char *app, const char *domain, struct err *e)
{
	int r = exec_n(s, e, "DELETE FROM domains WHERE app = ? AND domain = ?", 2, app, domain);
	return r < 0 ? -1 : r > 0;
}

int store_domain_set(struct store *s, const char *app, const struct strvec *domains, struct err *e)
{
	int r = -1;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	if (exec_n(s, e, "DELETE FROM domains WHERE app = ?", 1, app) < 0) {
		goto out;
	}
	for (size_t i = 0; i < domains->nr; i++) {
		if (store_domain_add(s, app, domains->v[i], e) < 0) {
			goto out;
		}
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	return r;
}

int store_domain_list(struct store *s, const char *app, struct strvec *domains, struct err *e)
{
	return list_cols(
	    s, e, domains, NULL,
	    query_n(s, e, "SELECT domain FROM domains WHERE app = ? ORDER BY domain", 1, app));
}

/* scale */

int store_scale_set(struct store *s, const char *app, const char *type, unsigned count,
		    struct err *e)
{
	struct sbuf n = SBUF_INIT;
	int r;

	sbuf_addf(&n, "%u", count);
	r = exec_n(s, e,
		   "INSERT INTO scale (app, type, count) VALUES (?, ?, CAST(? AS INTEGER))"
		   " ON CONFLICT (app, type) DO UPDATE SET count = excluded.count",
		   3, app, type, n.buf);
	sbuf_release(&n);
	return r < 0 ? -1 : 0;
}

int store_scale_list(struct store *s, const char *app, struct strvec *types, struct strvec *counts,
		     struct err *e)
{
	return list_cols(
	    s, e, types, counts,
	    query_n(s, e, "SELECT type, count FROM scale WHERE app = ? ORDER BY type", 1, app));
}

/* releases */

void store_release_release(struct store_release *r)
{
	free(r->app);
	free(r->version);
	free(r->image);
	free(r->status);
	free(r->rev);
	memset(r, 0, sizeof(*r));
}

void store_releases_free(struct store_release *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		store_release_release(&rs[i]);
	}
	free(rs);
}

int store_release_add(struct store *s, const char *app, const char *version, const char *image,
		      const char *rev, const char *status, long long *id, struct err *e)
{
	char *now = now_str();
	int r = exec_n(s, e,
		       "INSERT INTO releases (app, version, image, rev, time, status)"
		       " VALUES (?, ?, ?, ?, CAST(? AS INTEGER), ?)",
		       6, app, version, image, rev, now, status);

	free(now);
	if (r < 0) {
		return -1;
	}
	if (id) {
		*id = sqlite3_last_insert_rowid(s->db);
	}
	return 0;
}

int store_release_set_status(struct store *s, long long id, const char *status, struct err *e)
{
	struct sbuf n = SBUF_INIT;
	int r;

	sbuf_addf(&n, "%lld", id);
	r = exec_n(s, e, "UPDATE releases SET status = ? WHERE id = CAST(? AS INTEGER)", 2, status,
		   n.buf);
	sbuf_release(&n);
	return r < 0 ? -1 : 0;
}

#define RELEASE_COLS "SELECT id, app, version, image, time, status, rev FROM releases "

static void release_row(sqlite3_stmt *st, struct store_release *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->app = col_str(st, 1);
	r->version = col_str(st, 2);
	r->image = col_str(st, 3);
	r->time = sqlite3_column_int64(st, 4);
	r->status = col_str(st, 5);
	r->rev = col_str(st, 6);
}

int store_release_list(struct store *s, const char *app, struct store_release **rs, size_t *n,
		       struct err *e)
{
	sqlite3_stmt *st = query_n(s, e, RELEASE_COLS "WHERE app = ? ORDER BY id DESC", 1, app);
	size_t alloc = 0;
	int r;

	*rs = NULL;
	*n = 0;
	if (!st) {
		return -1;
	}
	while ((r = step(s, st, e)) == 1) {
		XGROW(*rs, alloc, *n + 1);
		memset(&(*rs)[*n], 0, sizeof(**rs));
		release_row(st, &(*rs)[(*n)++]);
	}
	done(s, st);
	return r;
}

static int release_one(struct store *s, struct store_release *r, struct err *e, sqlite3_stmt *st)
{
	int found;

	if (!st) {
		return -1;
	}
	found = step(s, st, e);
	if (found == 1 && r) {
		release_row(st, r);
	}
	done(s, st);
	return found;
}

int store_release_current(struct store *s, const char *app, struct store_release *r, struct err *e)
{
	return release_one(s, r, e,
			   query_n(s, e,
				   RELEASE_COLS
				   "WHERE app = ? AND status = 'deployed' ORDER BY id DESC LIMIT 1",
				   1, app));
}

int store_release_find(struct store *s, const char *app, const char *version,
		       struct store_release *r, struct err *e)
{
	return release_one(
	    s, r, e,
	    query_n(s, e, RELEASE_COLS "WHERE app = ? AND version = ? ORDER BY id DESC LIMIT 1", 2,
		    app, version));
}

/* keys and rights */

void store_key_release(struct store_key *k)
{
	free(k->name);
	free(k->fingerprint);
	free(k->line);
	memset(k, 0, sizeof(*k));
}

void store_keys_free(struct store_key *ks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		store_key_release(&ks[i]);
	}
	free(ks);
}

int store_key_add(struct store *s, const char *name, const char *fingerprint, const char *line,
		  bool admin, struct err *e)
{
	char *now = NULL, *other = NULL;
	int r = -1;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	if (store_key_get(s, name, NULL, e) != 0) {
		if (!err_isset(e)) {
			err_set(e, "key name '%s' is already in use", name);
		}
		goto out;
	}
	if (store_key_by_fingerprint(s, fingerprint, &other, e) != 0) {
		if (!err_isset(e)) {
			err_set(e, "this key is already added as '%s'", other);
		}
		goto out;
	}
	now = now_str();
	if (exec_n(s, e,
		   "INSERT INTO keys (name, fingerprint, line, admin, created)"
		   " VALUES (?, ?, ?, CAST(? AS INTEGER), CAST(? AS INTEGER))",
		   5, name, fingerprint, line, admin ? "1" : "0", now) < 0) {
		goto out;
	}
	r = store_commit(s, e);
out:
	if (r < 0) {
		store_rollback(s);
	}
	free(now);
	free(other);
	return r;
}

static void key_row(sqlite3_stmt *st, struct store_key *k)
{
	k->name = col_str(st, 0);
	k->fingerprint = col_str(st, 1);
	k->line = col_str(st, 2);
	k->admin = sqlite3_column_int(st, 3) != 0;
	k->created = sqlite3_column_int64(st, 4);
}

int store_key_get(struct store *s, const char *name, struct store_key *k, struct err *e)
{
	sqlite3_stmt *st =
	    query_n(s, e, "SELECT name, fingerprint, line, admin, created FROM keys WHERE name = ?",
		    1, name);
	int r;

	if (!st) {
		return -1;
	}
	r = step(s, st, e);
	if (r == 1 && k) {
		key_row(st, k);
	}
	done(s, st);
	return r;
}

int store_key_by_fingerprint(struct store *s, const char *fp, char **name, struct err *e)
{
	return lookup_str(s, e, name, "SELECT name FROM keys WHERE fingerprint = ?", 1, fp);
}

int store_key_remove(struct store *s, const char *name, struct err *e)
{
	int r = -1, n;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	if (exec_n(s, e, "DELETE FROM rights WHERE keyname = ?", 1, name) < 0) {
		goto out;
	}
	n = exec_n(s, e, "DELETE FROM keys WHERE name = ?", 1, name);
	if (n < 0 || store_commit(s, e) < 0) {
		goto out;
	}
	r = n > 0;
out:
	if (r < 0) {
		store_rollback(s);
	}
	return r;
}

int store_key_set_admin(struct store *s, const char *name, bool admin, struct err *e)
{
	int r = exec_n(s, e, "UPDATE keys SET admin = CAST(? AS INTEGER) WHERE name = ?", 2,
		       admin ? "1" : "0", name);
	if (r == 0) {
		return err_set(e, "no key named '%s'", name);
	}
	return r < 0 ? -1 : 0;
}

int store_key_list(struct store *s, struct store_key **ks, size_t *n, struct err *e)
{
	sqlite3_stmt *st = query_n(
	    s, e, "SELECT name, fingerprint, line, admin, created FROM keys ORDER BY name", 0);
	size_t alloc = 0;
	int r;

	*ks = NULL;
	*n = 0;
	if (!st) {
		return -1;
	}
	while ((r = step(s, st, e)) == 1) {
		XGROW(*ks, alloc, *n + 1);
		memset(&(*ks)[*n], 0, sizeof(**ks));
		key_row(st, &(*ks)[(*n)++]);
	}
	done(s, st);
	return r;
}

int store_right_grant(struct store *s, const char *key, const char *app, const char *right,
		      struct err *e)
{
	return exec_n(s, e,
		      "INSERT INTO rights (keyname, app, kind) VALUES (?, ?, ?)"
		      " ON CONFLICT (keyname, app) DO UPDATE SET kind = excluded.kind",
		      3, key, app, right) < 0
		   ? -1
		   : 0;
}

int store_right_revoke(struct store *s, const char *key, const char *app, struct err *e)
{
	return exec_n(s, e, "DELETE FROM rights WHERE keyname = ? AND app = ?", 2, key, app) < 0
		   ? -1
		   : 0;
}

int store_right_get(struct store *s, const char *key, const char *app, char **right, struct err *e)
{
	return lookup_str(s, e, right, "SELECT kind FROM rights WHERE keyname = ? AND app = ?", 2,
			  key, app);
}

int store_right_list(struct store *s, const char *key, struct strvec *apps, struct strvec *rights,
		     struct err *e)
{
	return list_cols(
	    s, e, apps, rights,
	    query_n(s, e, "SELECT app, kind FROM rights WHERE keyname = ? ORDER BY app", 1, key));
}

/* events */

int store_event_add(struct store *s, const char *key, const char *app, const char *action,
		    const char *names, struct err *e)
{
	char *now = now_str();
	int r = exec_n(s, e,
		       "INSERT INTO events (time, keyname, app, action, names)"
		       " VALUES (CAST(? AS INTEGER), ?, ?, ?, ?)",
		       5, now, key, app, action, names);
	free(now);
	return r < 0 ? -1 : 0;
}

int store_event_list(struct store *s, long long after_id, size_t limit, struct store_event **evs,
		     size_t *n, struct err *e)
{
	struct sbuf a = SBUF_INIT, l = SBUF_INIT;
	sqlite3_stmt *st;
	size_t alloc = 0;
	int r;

	*evs = NULL;
	*n = 0;
	sbuf_addf(&a, "%lld", after_id);
	/* The newest `limit` events, given oldest first. */
	sbuf_addf(&l, "%lld", limit ? (long long)limit : -1LL);
	st = query_n(s, e,
		     "SELECT * FROM (SELECT id, time, keyname, app, action, names FROM events"
		     " WHERE id > CAST(? AS INTEGER) ORDER BY id DESC LIMIT CAST(? AS INTEGER))"
		     " ORDER BY id",
		     2, a.buf, l.buf);
	sbuf_release(&a);
	sbuf_release(&l);
	if (!st) {
		return -1;
	}
	while ((r = step(s, st, e)) == 1) {
		struct store_event *ev;
		XGROW(*evs, alloc, *n + 1);
		ev = &(*evs)[(*n)++];
		ev->id = sqlite3_column_int64(st, 0);
		ev->time = sqlite3_column_int64(st, 1);
		ev->key = col_str(st, 2);
		ev->app = col_str(st, 3);
		ev->action = col_str(st, 4);
		ev->names = col_str(st, 5);
	}
	done(s, st);
	return r;
}

void store_events_free(struct store_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(evs[i].key);
		free(evs[i].app);
		free(evs[i].action);
		free(evs[i].names);
	}
	free(evs);
}

/* settings */

int store_setting_set(struct store *s, const char *name, const char *value, struct err *e)
{
	int r;
	if (!value) {
		r = exec_n(s, e, "DELETE FROM settings WHERE name = ?", 1, name);
	} else {
		r = exec_n(s, e,
			   "INSERT INTO settings (name, value) VALUES (?, ?)"
			   " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			   2, name, value);
	}
	return r < 0 ? -1 : 0;
}

int store_setting_get(struct store *s, const char *name, char **value, struct err *e)
{
	return lookup_str(s, e, value, "SELECT value FROM settings WHERE name = ?", 1, name);
}

/* app properties */

int store_prop_set(struct store *s, const char *app, const char *name, const char *value,
		   struct err *e)
{
	int r;

	if (!value) {
		r = exec_n(s, e, "DELETE FROM app_props WHERE app = ? AND name = ?", 2, app, name);
	} else {
		r = exec_n(s, e,
			   "INSERT INTO app_props (app, name, value) VALUES (?, ?, ?)"
			   " ON CONFLICT (app, name) DO UPDATE SET value = excluded.value",
			   3, app, name, value);
	}
	return r < 0 ? -1 : 0;
}

int store_prop_get(struct store *s, const char *app, const char *name, char **value, struct err *e)
{
	*value = NULL;
	return lookup_str(s, e, value, "SELECT value FROM app_props WHERE app = ? AND name = ?", 2,
			  app, name);
}

/* mounts */

int store_mount_add(struct store *s, const char *app, const char *mount, struct err *e)
{
	int r =
	    exec_n(s, e, "INSERT OR IGNORE INTO mounts (app, mount) VALUES (?, ?)", 2, app, mount);
	return r < 0 ? -1 : r > 0;
}

int store_mount_remove(struct store *s, const char *app, const char *mount, struct err *e)
{
	int r = exec_n(s, e, "DELETE FROM mounts WHERE app = ? AND mount = ?", 2, app, mount);
	return r < 0 ? -1 : r > 0;
}

int store_mount_list(struct store *s, const char *app, struct strvec *mounts, struct err *e)
{
	return list_cols(
	    s, e, mounts, NULL,
	    query_n(s, e, "SELECT mount FROM mounts WHERE app = ? ORDER BY mount", 1, app));
}

/* users */

void store_user_release(struct store_user *u)
{
	free(u->name);
	free(u->hash);
	free(u->role);
	free(u->totp_secret);
	free(u->totp_pending);
	free(u->totp_recovery);
	memset(u, 0, sizeof(*u));
}

static bool valid_role(const char *role)
{
	return !strcmp(role, "admin") || !strcmp(role, "user");
}

int store_user_add(struct store *s, const char *name, const char *hash, const char *role,
		   long long now, struct err *e)
{
	struct sbuf t = SBUF_INIT;
	int r;

	if (!valid_role(role)) {
		return err_set(e, "invalid role '%s' (expected admin or user)", role);
	}
	sbuf_addf(&t, "%lld", now);
	r = exec_n(s, e,
		   "INSERT OR IGNORE INTO users (name, hash, role, created)"
		   " VALUES (?, ?, ?, CAST(? AS INTEGER))",
		   4, name, hash, role, t.buf);
	sbuf_release(&t);
	if (r == 0) {
		return err_set(e, "user '%s' already exists", name);
	}
	return r < 0 ? -1 : 0;
}

static int user_one(struct store *s, struct store_user *u, struct err *e, sqlite3_stmt *st)
{
	int r;

	memset(u, 0, sizeof(*u));
	if (!st) {
		return -1;
	}
	r = step(s, st, e);
	if (r == 1) {
		u->name = col_str(st, 0);
		u->hash = col_str(st, 1);
		u->role = col_str(st, 2);
		u->totp_secret = col_str(st, 3);
		u->created = sqlite3_column_int64(st, 4);
		u->last_login = sqlite3_column_int64(st, 5);
		u->totp_pending = col_str(st, 6);
		u->totp_last_step = (unsigned long long)sqlite3_column_int64(st, 7);
		u->totp_recovery = col_str(st, 8);
	}
	done(s, st);
	return r;
}

#define USER_COLS                                                                                  \
	"name, hash, role, totp_secret, created, COALESCE(last_login, 0), totp_pending,"           \
	" totp_last_step, totp_recovery"

int store_user_get(struct store *s, const char *name, struct store_user *u, struct err *e)
{
	return user_one(s, u, e,
			query_n(s, e, "SELECT " USER_COLS " FROM users WHERE name = ?", 1, name));
}

int store_user_first_admin(struct store *s, struct store_user *u, struct err *e)
{
	return user_one(s, u, e,
			query_n(s, e,
				"SELECT " USER_COLS " FROM users WHERE role = 'admin'"
				" ORDER BY created, rowid LIMIT 1",
				0));
}

int store_user_list(struct store *s, struct strvec *names, struct strvec *roles, struct err *e)
{
	return list_cols(s, e, names, roles,
			 query_n(s, e, "SELECT name, role FROM users ORDER BY name", 0));
}

int store_user_logged_in(struct store *s, const char *name, long long now, struct err *e)
{
	struct sbuf t = SBUF_INIT;
	int r;

	sbuf_addf(&t, "%lld", now);
	r = exec_n(s, e, "UPDATE users SET last_login = CAST(? AS INTEGER) WHERE name = ?", 2,
		   t.buf, name);
	sbuf_release(&t);
	return r < 0 ? -1 : 0;
}

int store_user_app_set(struct store *s, const char *user, const char *app, const char *role,
		       struct err *e)
{
	int r;

	if (!role) {
		r = exec_n(s, e, "DELETE FROM user_apps WHERE user = ? AND app = ?", 2, user, app);
	} else if (strcmp(role, "deployer") && strcmp(role, "viewer")) {
		return err_set(e, "invalid app role '%s' (expected deployer or viewer)", role);
	} else {
		r = exec_n(s, e,
			   "INSERT INTO user_apps (user, app, role) VALUES (?, ?, ?)"
			   " ON CONFLICT (user, app) DO UPDATE SET role = excluded.role",
			   3, user, app, role);
	}
	return r < 0 ? -1 : 0;
}

int store_user_app_get(struct store *s, const char *user, const char *app, char **role,
		       struct err *e)
{
	*role = NULL;
	return lookup_str(s, e, role, "SELECT role FROM user_apps WHERE user = ? AND app = ?", 2,
			  user, app);
}

int store_user_totp_set(struct store *s, const char *name, const char *pending, const char *secret,
			const char *recovery, struct err *e)
{
	int r = exec_n(s, e,
		       "UPDATE users SET totp_pending = ?, totp_secret = ?, totp_recovery = ?,"
		       " totp_last_step = 0 WHERE name = ?",
		       4, pending, secret, recovery, name);
	return r < 0 ? -1 : r > 0;
}

int store_user_totp_step(struct store *s, const char *name, unsigned long long step, struct err *e)
{
	struct sbuf t = SBUF_INIT;
	int r;

	sbuf_addf(&t, "%llu", step);
	r = exec_n(s, e,
		   "UPDATE users SET totp_last_step = CAST(?1 AS INTEGER)"
		   " WHERE name = ?2 AND totp_last_step < CAST(?1 AS INTEGER)",
		   2, t.buf, name);
	sbuf_release(&t);
	return r < 0 ? -1 : r > 0;
}

int store_user_recovery_set(struct store *s, const char *name, const char *old,
			    const char *recovery, struct err *e)
{
	int r =
	    exec_n(s, e, "UPDATE users SET totp_recovery = ? WHERE name = ? AND totp_recovery = ?",
		   3, recovery, name, old);
	return r < 0 ? -1 : r > 0;
}

int store_user_set(struct store *s, const char *name, enum store_user_field f, const char *value,
		   struct err *e)
{
	static const char *const sql[] = {
	    [STORE_USER_HASH] = "UPDATE users SET hash = ? WHERE name = ?",
	    [STORE_USER_ROLE] = "UPDATE users SET role = ? WHERE name = ?",
	};
	int r;

	if (f == STORE_USER_ROLE && !valid_role(value)) {
		return err_set(e, "invalid role '%s' (expected admin or user)", value);
	}
	r = exec_n(s, e, sql[f], 2, value, name);
	return r < 0 ? -1 : r > 0;
}

int store_user_remove(struct store *s, const char *name, struct err *e)
{
	int r;

	if (store_begin(s, e) < 0) {
		return -1;
	}
	if (exec_n(s, e, "DELETE FROM user_apps WHERE user = ?", 1, name) < 0 ||
	    exec_n(s, e, "DELETE FROM sessions WHERE user = ?", 1, name) < 0 ||
	    exec_n(s, e, "DELETE FROM api_tokens WHERE user = ?", 1, name) < 0 ||
	    (r = exec_n(s, e, "DELETE FROM users WHERE name = ?", 1, name)) < 0 ||
	    store_commit(s, e) < 0) {
		store_rollback(s);
		return -1;
	}
	return r > 0;
}

int store_user_apps_clear(struct store *s, const char *name, struct err *e)
{
	return exec_n(s, e, "DELETE FROM user_apps WHERE user = ?", 1, name) < 0 ? -1 : 0;
}

int store_user_admins(struct store *s, struct err *e)
{
	char *n = NULL;
	int r = lookup_str(s, e, &n, "SELECT COUNT(*) FROM users WHERE role = 'admin'", 0);

	if (r == 1) {
		r = atoi(n);
	}
	free(n);
	return r;
}

/* sessions */

int store_session_add(struct store *s, const char *hash, const char *user, long long now,
		      struct err *e)
{
	struct sbuf t = SBUF_INIT;
	int r;

	sbuf_addf(&t, "%lld", now);
	r = exec_n(s, e,
		   "INSERT INTO sessions (hash, user, created, last_seen)"
		   " VALUES (?, ?, CAST(?3 AS INTEGER), CAST(?3 AS INTEGER))",
		   3, hash, user, t.buf);
	sbuf_release(&t);
	return r < 0 ? -1 : 0;
}

int store_session_get(struct store *s, const char *hash, long long now, char **user, struct err *e)
{
	struct sbuf t = SBUF_INIT, idle = SBUF_INIT, max = SBUF_INIT;
	int r;

	*user = NULL;
	sbuf_addf(&t, "%lld", now);
	sbuf_addf(&idle, "%lld", now - STORE_SESSION_IDLE_S);
	sbuf_addf(&max, "%lld", now - STORE_SESSION_MAX_S);
	/* Expired sessions go: a stolen old token is worth nothing, and the table stays small. */
	if (exec_n(s, e,
		   "DELETE FROM sessions WHERE last_seen < CAST(? AS INTEGER)"
		   " OR created < CAST(? AS INTEGER)",
		   2, idle.buf, max.buf) < 0) {
		r = -1;
		goto out;
	}
	r = lookup_str(s, e, user, "SELECT user FROM sessions WHERE hash = ?", 1, hash);
	if (r == 1 &&
	    exec_n(s, e, "UPDATE sessions SET last_seen = CAST(? AS INTEGER) WHERE hash = ?", 2,
		   t.buf, hash) < 0) {
		free(*user);
		*user = NULL;
		r = -1;
	}
out:
	sbuf_release(&t);
	sbuf_release(&idle);
	sbuf_release(&max);
	return r;
}

int store_session_remove(struct store *s, const char *hash, struct err *e)
{
	int r = exec_n(s, e, "DELETE FROM sessions WHERE hash = ?", 1, hash);
	return r < 0 ? -1 : r > 0;
}

int store_session_remove_user(struct store *s, const char *user, const char *except, struct err *e)
{
	int r =
	    exec_n(s, e, "DELETE FROM sessions WHERE user = ? AND hash IS NOT ?", 2, user, except);
	return r < 0 ? -1 : 0;
}

/* API tokens */

void store_token_release(struct store_token *t)
{
	free(t->user);
	free(t->name);
	free(t->app);
	free(t->role);
	memset(t, 0, sizeof(*t));
}

int store_token_add(struct store *s, const char *hash, const struct store_token *t, struct err *e)
{
	struct sbuf c = SBUF_INIT;
	int r;

	sbuf_addf(&c, "%lld", t->created);
	r = exec_n(s, e,
		   "INSERT OR IGNORE INTO api_tokens (hash, user, name, app, role, created)"
		   " VALUES (?, ?, ?, ?, ?, CAST(? AS INTEGER))",
		   6, hash, t->user, t->name, t->app, t->role, c.buf);
	sbuf_release(&c);
	if (r == 0) {
		return err_set(e, "token '%s' already exists", t->name);
	}
	return r < 0 ? -1 : 0;
}

static void token_row(sqlite3_stmt *st, struct store_token *t)
{
	t->user = col_str(st, 0);
	t->name = col_str(st, 1);
	t->app = col_str(st, 2);
	t->role = col_str(st, 3);
	t->created = sqlite3_column_int64(st, 4);
	t->last_used = sqlite3_column_int64(st, 5);
}

#define TOKEN_COLS "user, name, app, role, created, COALESCE(last_used, 0)"

int store_token_get(struct store *s, const char *hash, long long now, struct store_token *t,
		    struct err *e)
{
	struct sbuf n = SBUF_INIT;
	sqlite3_stmt *st =
	    query_n(s, e, "SELECT " TOKEN_COLS " FROM api_tokens WHERE hash = ?", 1, hash);
	int r = -1;

	memset(t, 0, sizeof(*t));
	if (!st) {
		goto out;
	}
	r = step(s, st, e);
	if (r == 1) {
		token_row(st, t);
	}
	done(s, st);
	sbuf_addf(&n, "%lld", now);
	/* to the minute: a write per request would queue the requests of a busy token */
	if (r == 1 && (now - t->last_used >= STORE_TOKEN_USED_S || now < t->last_used) &&
	    exec_n(s, e, "UPDATE api_tokens SET last_used = CAST(? AS INTEGER) WHERE hash = ?", 2,
		   n.buf, hash) < 0) {
		store_token_release(t);
		r = -1;
	}
out:
	sbuf_release(&n);
	return r;
}

int store_token_list(struct store *s, const char *user, struct store_token **v, size_t *n,
		     struct err *e)
{
	sqlite3_stmt *st = query_n(
	    s, e, "SELECT " TOKEN_COLS " FROM api_tokens WHERE user = ? ORDER BY name", 1, user);
	size_t alloc = 0;
	int r;

	*v = NULL;
	*n = 0;
	if (!st) {
		return -1;
	}
	while ((r = step(s, st, e)) == 1) {
		xgrow((void **)v, &alloc, *n + 1, sizeof(**v));
		memset(&(*v)[*n], 0, sizeof(**v));
		token_row(st, &(*v)[(*n)++]);
	}
	done(s, st);
	return r;
}

int store_token_remove(struct store *s, const char *user, const char *name, struct err *e)
{
	int r = exec_n(s, e, "DELETE FROM api_tokens WHERE user = ? AND name = ?", 2, user, name);
	return r < 0 ? -1 : r > 0;
}

/* one-time set-up tokens */

int store_setup_token_add(struct store *s, const char *hash, long long now, struct err *e)
{
	struct sbuf t = SBUF_INIT;
	int r = -1;

	sbuf_addf(&t, "%lld", now);
	if (store_begin(s, e) < 0) {
		goto out;
	}
	/* A new link revokes the earlier unused ones. */
	if (exec_n(s, e, "DELETE FROM setup_tokens WHERE used IS NULL", 0) < 0 ||
	    exec_n(s, e, "INSERT INTO setup_tokens (hash, created) VALUES (?, CAST(? AS INTEGER))",
		   2, hash, t.buf) < 0) {
		store_rollback(s);
		goto out;
	}
	r = store_commit(s, e);
out:
	sbuf_release(&t);
	return r;
}

int store_setup_token_use(struct store *s, const char *hash, long long now, struct err *e)
{
	struct sbuf t = SBUF_INIT, oldest = SBUF_INIT;
	int r;

	sbuf_addf(&t, "%lld", now);
	sbuf_addf(&oldest, "%lld", now - STORE_SETUP_TOKEN_TTL_S);
	r = exec_n(s, e,
		   "UPDATE setup_tokens SET used = CAST(? AS INTEGER)"
		   " WHERE hash = ? AND used IS NULL AND created >= CAST(? AS INTEGER)",
		   3, t.buf, hash, oldest.buf);
	sbuf_release(&t);
	sbuf_release(&oldest);
	return r < 0 ? -1 : r > 0;
}
