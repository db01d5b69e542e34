/*
 * ocinstall — what oneclick:deploy decides about a filled one-click plan
 * (daemon/oneclick.h) before it creates anything, and the names it gives
 * what an install of a template shares. Pure: no I/O.
 *
 * An install is the apps of one plan, named by the form's $$cap_appname
 * (the install's name). Its apps share:
 *	a network	"oneclick-INSTALL" (ocinstall_network), a bridge network of
 *			berthd's that every container of every app joins after each
 *			deploy (network:set attach-post-deploy)
 *	their names	on that network each app answers to CapRover's
 *			"srv-captain--APP" and to "APP" itself (ocinstall_aliases),
 *			besides Dokku's APP.TYPE, so a template's
 *			srv-captain--$$cap_appname-db and $$cap_appname-db both reach
 *			the database (the same names on the network berth from each
 *			container's start: a web app finds its database before its
 *			first health check, when it has not joined the install's
 *			network yet)
 *	volumes		a template's named volume NAME is the Docker volume
 *			"INSTALL_NAME" (ocinstall_volume): two installs never share
 *			one; two services of one install naming one volume do, as in
 *			CapRover. App names hold no '_', so the name says which
 *			install owns it.
 *
 * ocinstall_check refuses, before anything is created, what a deploy could
 * not carry through or could only carry by showing a secret: an environment
 * key config:set would refuse, a value with a newline or longer than
 * CONFIG_VALUE_MAX, a command that does not split into words (engine/app.h),
 * and a secret (a password variable or a random value) in a command, an
 * image or a Dockerfile line — these reach a process's arguments or the
 * build's output, where secrets never go; a template passes them in its
 * environment instead.
 *
 * ocinstall_prepare, the one part that reads (the store), does every check
 * a deploy makes before it creates anything: the template parses, the
 * values fill it (each variable's validRegex), ocinstall_check, and no app
 * of the plan exists yet.
 */
#ifndef OCINSTALL_H
#define OCINSTALL_H

#include "daemon/oneclick.h"
#include "daemon/store.h"
#include "lib/err.h"
#include "lib/sbuf.h"

#define OCINSTALL_NET_PREFIX "oneclick-"
#define OCINSTALL_WORKER     "worker" /* the process type of a service not exposed as a web app */

/* The install's network into out. 0, or -1 with e set (the name would be too long). */
int ocinstall_network(struct sbuf *out, const char *install, struct err *e);

/* The aliases of app on the install's network, space-separated, into out. */
void ocinstall_aliases(struct sbuf *out, const char *app);

/* The Docker volume of the install's volume vol (a valid volume name) into out. */
void ocinstall_volume(struct sbuf *out, const char *install, const char *vol);

/*
 * The mount of volume spec "NAME:/PATH" (as the plan has it) for the
 * install: "INSTALL_NAME:/PATH" into out (the app's storage, daemon/store.h).
 */
void ocinstall_mount(struct sbuf *out, const char *install, const char *spec);

/* Checks plan p as the header says. 0, or -1 with e naming the service (app) and what. */
int ocinstall_check(const struct oneclick_plan *p, struct err *e);

/* A template filled and checked, ready to deploy. */
struct ocinstall {
	struct oneclick t;	/* the template (its warnings) */
	struct oneclick_plan p; /* the apps, in deploy order */
	char *install;		/* the install's name ($$cap_appname) */
	struct sbuf network;	/* the install's network */
};

#define OCINSTALL_INIT                                                                             \
	{                                                                                          \
		ONECLICK_INIT, {0}, NULL, SBUF_INIT                                                \
	}

/*
 * Parses the template (len bytes of text; file names it in errors), fills
 * it with vals and the global domain of s, and checks it as the header
 * says. 0, or -1 with e set: naming the line, the variable, the service or
 * the app that exists already.
 */
int ocinstall_prepare(struct ocinstall *in, struct store *s, const char *file, const char *text,
		      size_t len, const struct oneclick_value *vals, size_t nvals, struct err *e);
void ocinstall_release(struct ocinstall *in);

#endif
