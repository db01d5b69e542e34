/*
 * datastore — berthd's records of its datastores (postgres:*, redis:*): one
 * service per kind and name, its image and password, and the apps it is
 * linked to. They live in the store's file (daemon/store.h), in tables of
 * their own, created by the first call when missing:
 *	datastores (kind, name, image, password, created)
 *	datastore_links (kind, name, app)
 *	datastore_backups (kind, name, password, verified_time, verified_snapshot)
 *
 * datastore_backups holds what KIND:backup needs kept (daemon/dsbackup.h):
 * the password of the service's restic repository, made once, and the
 * last backup that verified (when, its snapshot). Removing a service
 * removes it too.
 *
 * The password is a secret: it is never printed but by the commands that
 * exist to show it (postgres:info --dsn) and never recorded in an event.
 *
 * Every function returns as the store does: 0 or -1 with e set, lookups 1
 * (found), 0 (not found) or -1. Strings handed back are the caller's.
 */
#ifndef DATASTORE_H
#define DATASTORE_H

#include "daemon/store.h"
#include "lib/err.h"
#include "lib/strvec.h"

struct datastore {
	char *kind; /* "postgres", "redis" */
	char *name;
	char *image;
	char *password;
	long long created; /* unix time */
};
void datastore_release(struct datastore *d);

/*
 * A password of 48 hex digits from /dev/urandom (safe in a URL as it is),
 * appended to pw: a datastore's, or its backups' repository's. 0, or -1
 * with e set.
 */
struct sbuf;
int datastore_password(struct sbuf *pw, struct err *e);

/* -1 with "postgres service 'x' already exists" when it does. */
int datastore_add(struct store *s, const char *kind, const char *name, const char *image,
		  const char *password, struct err *e);
int datastore_get(struct store *s, const char *kind, const char *name, struct datastore *d,
		  struct err *e);
/* Removes the record and its links. */
int datastore_remove(struct store *s, const char *kind, const char *name, struct err *e);
/* The names of kind's services, sorted. */
int datastore_list(struct store *s, const char *kind, struct strvec *names, struct err *e);

/* 1 linked now, 0 it was already, -1 error. */
int datastore_link(struct store *s, const char *kind, const char *name, const char *app,
		   struct err *e);
/* 1 unlinked, 0 it was not linked, -1 error. */
int datastore_unlink(struct store *s, const char *kind, const char *name, const char *app,
		     struct err *e);
/* The apps a service is linked to, sorted. */
int datastore_links(struct store *s, const char *kind, const char *name, struct strvec *apps,
		    struct err *e);

/*
 * The password of the service's backups: the one kept, else fresh (not
 * NULL) is kept and returned. *password (malloc'd) NULL when there is
 * none and fresh is NULL. 1 found or made, 0 none, -1 error.
 */
int datastore_backup_password(struct store *s, const char *kind, const char *name,
			      const char *fresh, char **password, struct err *e);
/* Records the last verified backup (time: unix time; snapshot: its ID); the password first. */
int datastore_backup_verified(struct store *s, const char *kind, const char *name, long long time,
			      const char *snapshot, struct err *e);
/* The last verified backup: 1 (*time, *snapshot malloc'd), 0 none (*time -1), -1 error. */
int datastore_backup_last(struct store *s, const char *kind, const char *name, long long *time,
			  char **snapshot, struct err *e);

#endif
