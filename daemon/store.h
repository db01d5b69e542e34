/*
 * store — berthd's records, in one SQLite file: $BERTHD_STATE_DIR/berthd.db.
 *
 * The file is created with mode 0600 (config vars are secrets), in WAL mode
 * with a busy timeout, so that `berthd serve` and any number of `berthd ssh`
 * processes share it: a writer waits for another (up to STORE_BUSY_MS)
 * instead of failing. The schema is versioned with PRAGMA user_version and
 * brought up to date by store_open; a file from a newer berthd is refused.
 *
 * Tables: apps (name, created, deploy branch, dockerfile path, image source),
 * config (app, name, value), domains (app, domain), scale (app, type, count),
 * releases (app, id, version, image, git revision, time, status), keys (name, fingerprint,
 * public key line, admin), rights (key, app, right), events (time, key, app,
 * action, names: never a config value), settings (name, value), app_props (app,
 * name, value: how the app runs, e.g. "ps.stopped", "checks.disabled",
 * "resource.memory"), mounts (app, "HOST_PATH:CONTAINER_PATH"), and the
 * panel's: users (name, argon2id hash, role, totp_secret, created,
 * last_login), user_apps (user, app, role), sessions (SHA-256 of the token,
 * user, created, last_seen), setup_tokens (SHA-256 of the token, created,
 * used). Tokens themselves are never stored, only their hashes.
 *
 * Every function returns as the house convention says: 0 or -1 with e set
 * ("cannot ..."), and lookups 1 (found), 0 (not found) or -1. Strings handed
 * back are owned by the caller. Deleting or renaming an app takes its config,
 * domains, scale, releases, rights, properties and mounts with it, in one transaction.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/strvec.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_BUSY_MS	     30000

struct sqlite3;

struct store_stmt; /* private: a prepared statement kept for its SQL's next use */

struct store {
	struct sqlite3 *db;
	char *path;
	struct store_stmt *kept; /* at most STORE_KEPT_STMTS, each run again after a reset */
	size_t nkept;
};
#define STORE_KEPT_STMTS 64

#define STORE_INIT                                                                                 \
	{                                                                                          \
		NULL, NULL, NULL, 0                                                                \
	}

/* Opens (creating when missing) dir/berthd.db; dir is created 0700 when missing. */
int store_open(struct store *s, const char *dir, struct err *e);
void store_close(struct store *s);
/*
 * A read transaction (BEGIN DEFERRED: one snapshot for many reads, no write
 * lock taken), ended with store_rollback. 0, or -1 with e set.
 */
int store_read_begin(struct store *s, struct err *e);
/* Whether s is inside a transaction (store_begin without its commit or rollback). */
bool store_in_transaction(const struct store *s);

/* A transaction around several calls (BEGIN IMMEDIATE: the writer's lock at once). */
int store_begin(struct store *s, struct err *e);
int store_commit(struct store *s, struct err *e);
void store_rollback(struct store *s);

/* apps */
struct store_app {
	char *name;
	long long created;  /* unix time */
	char *branch;	    /* deploy branch; NULL: main or master */
	char *dockerfile;   /* dockerfile path; NULL: Dockerfile */
	char *image_source; /* git:from-image; NULL: built from git */
};
void store_app_release(struct store_app *a);
int store_app_get(struct store *s, const char *name, struct store_app *a, struct err *e);
bool store_app_exists(struct store *s, const char *name);
/* -1 with "app 'x' already exists" when it does. */
int store_app_create(struct store *s, const char *name, struct err *e);
int store_app_destroy(struct store *s, const char *name, struct err *e);
int store_app_rename(struct store *s, const char *from, const char *to, struct err *e);
int store_app_list(struct store *s, struct strvec *names, struct err *e);
enum store_app_field {
	STORE_APP_BRANCH,
	STORE_APP_DOCKERFILE,
	STORE_APP_IMAGE_SOURCE,
};
/* value NULL: back to the default. */
int store_app_set(struct store *s, const char *app, enum store_app_field f, const char *value,
		  struct err *e);

/* config vars: names[i] = values[i], set or unset all at once */
int store_config_set(struct store *s, const char *app, const struct strvec *names,
		     const struct strvec *values, struct err *e);
int store_config_unset(struct store *s, const char *app, const struct strvec *names, struct err *e);
int store_config_get(struct store *s, const char *app, const char *name, char **value,
		     struct err *e);
/* Sorted by name. */
int store_config_list(struct store *s, const char *app, struct strvec *names, struct strvec *values,
		      struct err *e);

/* domains */
int store_domain_add(struct store *s, const char *app, const char *domain, struct err *e);
/* 1 removed, 0 it was not there, -1 error. */
int store_domain_remove(struct store *s, const char *app, const char *domain, struct err *e);
/* Replaces all of the app's domains. */
int store_domain_set(struct store *s, const char *app, const struct strvec *domains, struct err *e);
int store_domain_list(struct store *s, const char *app, struct strvec *domains, struct err *e);

/* process scale */
int store_scale_set(struct store *s, const char *app, const char *type, unsigned count,
		    struct err *e);
/* types and their counts (as decimal strings), sorted by type. */
int store_scale_list(struct store *s, const char *app, struct strvec *types, struct strvec *counts,
		     struct err *e);

/* releases */
struct store_release {
	long long id; /* increasing per store */
	char *app;
	char *version;
	char *image;
	long long time;
	char *status; /* "deploying", "deployed", "failed" */
	char *rev;    /* the pushed git revision; NULL: an image (git:from-image) */
};
void store_release_release(struct store_release *r);
/* Records a release; *id its id. */
int store_release_add(struct store *s, const char *app, const char *version, const char *image,
		      const char *rev, const char *status, long long *id, struct err *e);
int store_release_set_status(struct store *s, long long id, const char *status, struct err *e);
/* Newest first; *n of them in *rs (free with store_releases_free). */
int store_release_list(struct store *s, const char *app, struct store_release **rs, size_t *n,
		       struct err *e);
void store_releases_free(struct store_release *rs, size_t n);
/* The current release: the newest "deployed" one. 1, 0 (none) or -1. */
int store_release_current(struct store *s, const char *app, struct store_release *r, struct err *e);
/* The newest release of app with this version. 1, 0 or -1. */
int store_release_find(struct store *s, const char *app, const char *version,
		       struct store_release *r, struct err *e);

/* keys and rights */
struct store_key {
	char *name;
	char *fingerprint; /* "SHA256:..." */
	char *line;	   /* "type base64" */
	bool admin;
	long long created;
};
void store_key_release(struct store_key *k);
/* -1 with "key name 'x' is already in use" / "this key is already added as 'y'". */
int store_key_add(struct store *s, const char *name, const char *fingerprint, const char *line,
		  bool admin, struct err *e);
int store_key_get(struct store *s, const char *name, struct store_key *k, struct err *e);
/* Finds the name of the key with this fingerprint: 1, 0 or -1. */
int store_key_by_fingerprint(struct store *s, const char *fp, char **name, struct err *e);
/* 1 removed (its rights too), 0 no such key, -1 error. */
int store_key_remove(struct store *s, const char *name, struct err *e);
int store_key_set_admin(struct store *s, const char *name, bool admin, struct err *e);
/* Sorted by name; free with store_keys_free. */
int store_key_list(struct store *s, struct store_key **ks, size_t *n, struct err *e);
void store_keys_free(struct store_key *ks, size_t n);

/* right: "deploy" or "read" (one per key and app; granting again replaces it). */
int store_right_grant(struct store *s, const char *key, const char *app, const char *right,
		      struct err *e);
int store_right_revoke(struct store *s, const char *key, const char *app, struct err *e);
/* The key's right on app: 1 with *right set ("deploy"/"read"), 0 none, -1 error. */
int store_right_get(struct store *s, const char *key, const char *app, char **right, struct err *e);
/* Every grant of key: apps[i] has rights[i]. */
int store_right_list(struct store *s, const char *key, struct strvec *apps, struct strvec *rights,
		     struct err *e);

/* events: names only (config var names, domains, types), never a value */
struct store_event {
	long long id, time;
	char *key; /* NULL: root on the server */
	char *app; /* NULL: not about one app */
	char *action;
	char *names;
};
int store_event_add(struct store *s, const char *key, const char *app, const char *action,
		    const char *names, struct err *e);
/* Events with id > after_id, oldest first, at most limit (0: all). */
int store_event_list(struct store *s, long long after_id, size_t limit, struct store_event **evs,
		     size_t *n, struct err *e);
void store_events_free(struct store_event *evs, size_t n);

/* settings: global values such as "global-domain" */
int store_setting_set(struct store *s, const char *name, const char *value, struct err *e);
int store_setting_get(struct store *s, const char *name, char **value, struct err *e);

/*
 * app properties: one value per (app, name); value NULL removes it. get: 1
 * with *value set (the caller frees it), 0 not set (*value NULL), -1.
 */
int store_prop_set(struct store *s, const char *app, const char *name, const char *value,
		   struct err *e);
int store_prop_get(struct store *s, const char *app, const char *name, char **value, struct err *e);

/* mounts "HOST:CONTAINER": add/remove give 1 changed, 0 already so, -1; list is sorted. */
int store_mount_add(struct store *s, const char *app, const char *mount, struct err *e);
int store_mount_remove(struct store *s, const char *app, const char *mount, struct err *e);
int store_mount_list(struct store *s, const char *app, struct strvec *mounts, struct err *e);

/*
 * users of the panel and API. role: "admin" (everything) or "user" (what
 * user_apps grants: "deployer" or "viewer" per app). totp_secret is NULL
 * until the user turns on two-factor login. Times are unix seconds; the
 * functions that take `now` are given it so that expiry can be tested.
 */
struct store_user {
	char *name;
	char *hash; /* argon2id, encoded */
	char *role;
	char *totp_secret;		   /* NULL: no second factor */
	long long created;		   /* unix time */
	long long last_login;		   /* 0: never */
	char *totp_pending;		   /* a secret being set up, not yet confirmed */
	unsigned long long totp_last_step; /* of the last code accepted (replay) */
	char *totp_recovery;		   /* the recovery codes' hashes, '\n'-separated */
};
void store_user_release(struct store_user *u);
/* -1 with "user 'x' already exists" when it does. */
int store_user_add(struct store *s, const char *name, const char *hash, const char *role,
		   long long now, struct err *e);
int store_user_get(struct store *s, const char *name, struct store_user *u, struct err *e);
/* The admin created first (whom CapRover's CLI logs in): 1, 0 (no admin yet) or -1. */
int store_user_first_admin(struct store *s, struct store_user *u, struct err *e);
/* Sorted by name. */
int store_user_list(struct store *s, struct strvec *names, struct strvec *roles, struct err *e);
int store_user_logged_in(struct store *s, const char *name, long long now, struct err *e);
/* role "deployer" or "viewer"; NULL takes the grant back. */
int store_user_app_set(struct store *s, const char *user, const char *app, const char *role,
		       struct err *e);
int store_user_app_get(struct store *s, const char *user, const char *app, char **role,
		       struct err *e);
/* Drops all of user's app grants. */
int store_user_apps_clear(struct store *s, const char *name, struct err *e);
/*
 * The second factor: sets totp_pending, totp_secret and totp_recovery
 * (each may be NULL) and the last step to 0. 1, 0 (no such user) or -1.
 */
int store_user_totp_set(struct store *s, const char *name, const char *pending, const char *secret,
			const char *recovery, struct err *e);
/*
 * Records the step of an accepted code, only when it is later than the
 * stored one: 1 done, 0 not (a replay that raced another login), -1.
 */
int store_user_totp_step(struct store *s, const char *name, unsigned long long step, struct err *e);
/* Replaces the recovery hashes when they are still old: 1, 0 (changed meanwhile) or -1. */
int store_user_recovery_set(struct store *s, const char *name, const char *old,
			    const char *recovery, struct err *e);
enum store_user_field { STORE_USER_HASH, STORE_USER_ROLE };
/* Sets a user's password hash or role: 1, 0 (no such user) or -1. */
int store_user_set(struct store *s, const char *name, enum store_user_field f, const char *value,
		   struct err *e);
/* Removes a user with its grants, sessions and API tokens: 1, 0 (no such user) or -1. */
int store_user_remove(struct store *s, const char *name, struct err *e);
/* How many admins there are, or -1. */
int store_user_admins(struct store *s, struct err *e);

/*
 * sessions, by the SHA-256 (hex) of their token: valid for
 * STORE_SESSION_IDLE_S after their last use and STORE_SESSION_MAX_S after
 * their start. get: 1 with *user set (and the session's last use now), 0
 * unknown or expired (expired ones are deleted), -1. remove: 1, 0 or -1.
 */
#define STORE_SESSION_IDLE_S (12 * 3600)
#define STORE_SESSION_MAX_S  (7 * 24 * 3600)
int store_session_add(struct store *s, const char *hash, const char *user, long long now,
		      struct err *e);
int store_session_get(struct store *s, const char *hash, long long now, char **user, struct err *e);
int store_session_remove(struct store *s, const char *hash, struct err *e);
/* Ends every session of user but the one of hash except (NULL: all). */
int store_session_remove_user(struct store *s, const char *user, const char *except, struct err *e);

/*
 * API tokens, by the SHA-256 (hex) of the token: a name unique per user,
 * and for an app token the app and the role on it ("deployer" or
 * "viewer"; NULL app: the user's own rights). get: 1 with *t filled (and
 * its last use now, to the minute), 0 unknown, -1. list: the user's, sorted by name
 * (free each with store_token_release, then the array). remove: 1, 0, -1.
 */
struct store_token {
	char *user, *name;
	char *app, *role;	      /* NULL: not limited to an app */
	long long created, last_used; /* last_used 0: never */
};
void store_token_release(struct store_token *t);
/* -1 with "token 'x' already exists" when the user has one of that name. */
int store_token_add(struct store *s, const char *hash, const struct store_token *t, struct err *e);
/* last_used is written again only STORE_TOKEN_USED_S after the last write. */
#define STORE_TOKEN_USED_S 60
int store_token_get(struct store *s, const char *hash, long long now, struct store_token *t,
		    struct err *e);
int store_token_list(struct store *s, const char *user, struct store_token **v, size_t *n,
		     struct err *e);
int store_token_remove(struct store *s, const char *user, const char *name, struct err *e);

/*
 * one-time set-up tokens, by SHA-256 (hex): adding one revokes the unused
 * ones before it; use burns it: 1 when it was valid (unused, younger than
 * STORE_SETUP_TOKEN_TTL_S), 0 when not, -1.
 */
#define STORE_SETUP_TOKEN_TTL_S 3600
int store_setup_token_add(struct store *s, const char *hash, long long now, struct err *e);
int store_setup_token_use(struct store *s, const char *hash, long long now, struct err *e);

#endif
