/*
 * daemonhost — berthd on the servers (`berth server bootstrap --daemon`):
 * one container `berthd` per host, from the image berthd:VERSION that
 * `make image` builds here, with its state in the volume `berthd`.
 *
 * What a host gets, each step safe to take again:
 *   1. the system user `berth` (its own group, home /home/berth, shell
 *      /bin/sh, in group docker, no password) with ~/.ssh (0700, its own)
 *      and the forced command ~berth/berthd-ssh (root's, 0755, the text of
 *      engine/scripts/daemon-ssh.sh): engine/scripts/daemon-host.sh, which
 *      answers the user's IDs and home;
 *   2. the image, sent with engine/transfer.h (only the layers the host
 *      lacks) when the host does not have it as the local image's ID;
 *   3. the container (daemonhost_run_argv), run when there is none,
 *      replaced when it runs another image ID or other options (its label
 *      berth.daemon.options), started when stopped, else left alone; a
 *      container of that name not from a berthd image is an error, never
 *      removed: engine/scripts/daemon-ensure.sh;
 *   4. when a key is given, that key as an admin key of berthd, unless it
 *      is there: engine/scripts/daemon-key.sh, the key on stdin;
 *   5. when a root domain is given, berthd's global domain (which routes
 *      the panel, berth.DOMAIN and captain.DOMAIN, through berth-proxy
 *      with TLS) and, while the panel has no admin, a new one-time set-up
 *      link, shown as "lab-h1: panel: https://berth.DOMAIN/setup?token=...":
 *      engine/scripts/daemon-domain.sh.
 * The network `berth` and berth-proxy are proxyhost_boot's (the caller's).
 *
 * Progress goes to the progress callback (may be NULL) as lines for
 * people, without a newline, each starting with the host: "lab-h1: user
 * berth: made", "lab-h1: berthd started (berthd:0.1.0)", and, when nothing
 * had to change on a host, "lab-h1: berthd: set up already, nothing
 * changed". When hosts fail, the others still get done; e then says
 * "host 'x': why" for one host, or "2 of 3 hosts failed: host 'x': why;
 * host 'y': why" for several, and the function returns -1.
 */
#ifndef DAEMONHOST_H
#define DAEMONHOST_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/exec.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/strvec.h"

#define DAEMONHOST_CONTAINER "berthd"
#define DAEMONHOST_VOLUME    "berthd"
#define DAEMONHOST_NETWORK   "berth"
#define DAEMONHOST_STATE_DIR "/var/lib/berthd"
#define DAEMONHOST_USER	     "berth"
#define DAEMONHOST_HOME	     "/home/berth"
#define DAEMONHOST_LABEL     "berth.daemon=1"
/* berthd's doctor (daemon/cmd-doctor.c) probes the host from containers named so */
#define DAEMONHOST_DOCTOR_PREFIX "berthd-doctor-"
/* the forced command, in the berth user's home */
#define DAEMONHOST_SSH_COMMAND "berthd-ssh"
#define DAEMONHOST_HOME_MAX    256 /* bytes of a home a host reports */

typedef void (*daemonhost_progress_fn)(const char *line, void *data);

/* "berthd:VERSION", the image `make image` builds. Static storage. */
const char *daemonhost_image(void);

/* The berth user on a host, as daemon-host.sh answers. */
struct daemonhost_user {
	unsigned long uid, gid;
	struct sbuf home; /* absolute; only letters, digits and "/._-" */
	bool changed;	  /* the script made or changed something */
};
void daemonhost_user_init(struct daemonhost_user *u);
void daemonhost_user_release(struct daemonhost_user *u);

/*
 * Reads daemon-host.sh's answer (untrusted bytes): the line "ids UID GID
 * HOME" into u, and whether any other line says something was made,
 * written, added or set (anything but "...: there" and "...: in group
 * docker"); those other lines, for people, are appended to lines (control
 * bytes shown as '?'). Returns 0, or -1 with e set when the ids line is
 * missing or wrong (a HOME that is not absolute, or holds bytes that a
 * docker -v or an authorized_keys command would read otherwise).
 */
int daemonhost_parse_user(struct slice out, struct daemonhost_user *u, struct strvec *lines,
			  struct err *e);

/* The options the container is run with, as its label keeps them: "UID:GID:HOME". */
void daemonhost_options(const struct daemonhost_user *u, struct sbuf *out);

/*
 * Appends to argv the `docker run` of the container:
 *
 *   docker run -d --name berthd --restart unless-stopped --network berth
 *     --log-opt max-size=10m -v berthd:/var/lib/berthd
 *     -v /var/run/docker.sock:/var/run/docker.sock -v HOME/.ssh:/var/lib/berthd/ssh
 *     -e BERTHD_SSH_UID=UID -e BERTHD_SSH_GID=GID -e BERTHD_SSH_COMMAND=HOME/berthd-ssh
 *     --label berth.daemon=1 --label berth.daemon.options=UID:GID:HOME IMAGE berthd serve
 */
void daemonhost_run_argv(const struct daemonhost_user *u, const char *image, struct strvec *argv);

/*
 * What a host answers to daemon-ensure.sh (untrusted bytes): "image ok" or
 * "image missing", then "container STATE" (started, replaced, running,
 * restarted, unpaused, restarting, pending). Only the first 16 lines are read.
 */
struct daemonhost_answer {
	bool image_ok;
	bool pending;	  /* the container waits for the image */
	bool changed;	  /* started, replaced, restarted or unpaused */
	const char *what; /* unless pending, for people (static): "started", "is running", ... */
};
/* 0, or -1 with e set ("unexpected answer from the berthd check: '...'"). */
int daemonhost_parse_answer(struct slice out, struct daemonhost_answer *a, struct err *e);

struct daemonhost_opts {
	const char *key_name;	 /* NULL: no key to add */
	struct slice key;	 /* the public key's text (one line), with key_name */
	const char *root_domain; /* NULL: leave berthd's global domain alone */
	daemonhost_progress_fn progress;
	void *data;
};

/* Steps 1 to 4 above on every host. */
int daemonhost_boot(struct exec *ex, const char *const *hosts, size_t n,
		    const struct daemonhost_opts *o, struct err *e);

#endif
