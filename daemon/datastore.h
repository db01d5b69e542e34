/*
 * datastore — berthd's records of its datastores (postgres:*, redis:*): one
 * service per kind and name, its image and password, and the apps it is
 * linked to. They live in the store's file (daemon/store.h), in tables of
 * their own, created by the first call when missing:
 *	datastores (kind, name, image, password, created)
 *	datastore_links (kind, name, app)
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

#endif
