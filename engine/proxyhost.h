/*
 * proxyhost — berth-proxy on the servers: one container `berth-proxy` per
 * host, on the Docker network `berth`, with its routing state in the volume
 * `berth-proxy` (so that routes survive a new container).
 *
 * The image is berth-proxy:VERSION, built here by `make image` and sent to
 * the hosts with engine/transfer.h (only the layers a host lacks), or, when
 * proxy.run.repository is set, whatever that names, pulled by `docker run`.
 *
 * Every function works on many hosts in parallel, one ssh command per host
 * for each step. Remote commands are argv vectors through engine/exec.h;
 * the scripts are constant strings that take everything variable as
 * positional arguments.
 *
 * Progress goes to the progress callback (may be NULL) as lines for people,
 * without a newline, each starting with the host: "lab-h1: berth-proxy
 * started (berth-proxy:0.1.0)". When hosts fail, the others still get done;
 * e then says "host 'x': why" for one host, or "2 of 3 hosts failed: host
 * 'x': why; host 'y': why" for several, and the function returns -1.
 */
#ifndef PROXYHOST_H
#define PROXYHOST_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/config.h"
#include "engine/exec.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/strvec.h"

#define PROXYHOST_CONTAINER "berth-proxy"
#define PROXYHOST_NETWORK   "berth"
#define PROXYHOST_VOLUME    "berth-proxy"
#define PROXYHOST_STATE_DIR "/var/lib/berth-proxy"
#define PROXYHOST_LABEL	    "berth.proxy=1"

#define PROXYHOST_ANSWER_MAX_LINES 16  /* lines read of a host's answer */
#define PROXYHOST_MAX_IMAGE	   255 /* bytes of an image name a host reports */

typedef void (*proxyhost_progress_fn)(const char *line, void *data);

/* "berth-proxy:VERSION", the image `make image` builds. Static storage. */
const char *proxyhost_image(void);

/*
 * The image the config runs: with proxy.run.repository,
 * "[registry/]repository:version" (version defaulting to berth's), else
 * proxyhost_image(). A malloc'd string.
 */
char *proxyhost_image_for(const struct config *cfg);

/*
 * Appends to argv the `docker run` that starts the proxy container from
 * cfg->proxy_run (a config_init'ed config gives the defaults):
 *
 *   docker run -d --name berth-proxy --network berth --restart unless-stopped
 *     --log-opt max-size=10m [-p [BIND_IP:]80:80 -p [BIND_IP:]443:443 ...]
 *     -v berth-proxy:/var/lib/berth-proxy --label berth.proxy=1 [--KEY VALUE ...]
 *     IMAGE berth-proxy run --http-port 80 --https-port 443
 *     --state-dir /var/lib/berth-proxy [--metrics-port N]
 *
 * Ports are published for every bind_ips entry (IPv6 in brackets), or on
 * every address when there is none, and not at all with publish: false.
 * proxy.run.options become docker options, in order: "--KEY VALUE", or
 * "--KEY" alone for a value-less one. The metrics port is not published.
 */
void proxyhost_run_argv(const struct config *cfg, struct strvec *argv);

/*
 * Makes sure berth-proxy runs on every host: creates the network `berth`
 * when it is missing; sends the image when the host does not have it (as
 * the local image's ID: an image rebuilt under the same tag is sent again);
 * then runs the container when there is none, starts it when it is stopped,
 * and leaves a running one alone, also one that runs another image
 * (progress says so; proxyhost_reboot replaces it). One ssh command per host
 * when all is there, three when the image has to travel.
 */
int proxyhost_boot(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   proxyhost_progress_fn progress, void *data, struct err *e);

/*
 * Replaces the container on every host with a new one from the current
 * image and options: the network and image as boot makes sure of them, then
 * stop, remove, run. Routes survive in the volume, which the new container
 * restores. Hosts go all at once; call it per host for a rolling reboot.
 */
int proxyhost_reboot(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		     proxyhost_progress_fn progress, void *data, struct err *e);

/*
 * What a host answers to boot's check (untrusted bytes): "image ok|missing"
 * and "container STATE [IMAGE]", where STATE is started, rebooted,
 * restarted, unpaused, running, running-other (with the image it runs),
 * restarting or pending (it waits for the image). Only the first
 * PROXYHOST_ANSWER_MAX_LINES lines are read; other lines are ignored.
 */
struct proxyhost_answer {
	bool image_ok;	  /* the host has the image, as the ID that was asked for */
	bool pending;	  /* the container waits for the image */
	struct sbuf what; /* unless pending, for people: "berth-proxy started (IMAGE)" */
};
void proxyhost_answer_init(struct proxyhost_answer *a);
void proxyhost_answer_release(struct proxyhost_answer *a);
/*
 * Reads an answer; image is the name to show. Returns 0, or -1 with e set
 * ("unexpected answer from the proxy check: '...'", control bytes shown as
 * '?') when an image or container line is missing or unknown.
 */
int proxyhost_parse_answer(struct slice out, const char *image, struct proxyhost_answer *a,
			   struct err *e);

/* `docker container start berth-proxy` on every host. */
int proxyhost_start(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		    proxyhost_progress_fn progress, void *data, struct err *e);

/* `docker container stop berth-proxy` on every host (SIGTERM, then the grace time). */
int proxyhost_stop(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   proxyhost_progress_fn progress, void *data, struct err *e);

enum proxyhost_remove_flags {
	PROXYHOST_F_IMAGE = 1 << 0,  /* also every berth-proxy image no container uses */
	PROXYHOST_F_VOLUME = 1 << 1, /* also the volume: the routes are lost */
};

/* Stops and removes the container on every host (gone already is fine); flags add more. */
int proxyhost_remove(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		     unsigned flags, proxyhost_progress_fn progress, void *data, struct err *e);

/*
 * One progress line per host: "HOST: NAME IMAGE STATUS PORTS" of the
 * container, or "HOST: no berth-proxy container".
 */
int proxyhost_details(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		      proxyhost_progress_fn progress, void *data, struct err *e);

/* What proxyhost_logs shows, as Kamal's `proxy logs` options. */
struct proxyhost_logs_opts {
	const char *since;   /* --since: a time or duration docker understands; NULL: all */
	unsigned lines;	     /* --tail; 0: all (or 100 when following with no since) */
	const char *grep;    /* only lines matching this basic regular expression; NULL: all */
	bool follow;	     /* keep streaming until interrupted */
	bool timestamps;     /* docker's own timestamps in front of each line */
	unsigned timeout_ms; /* 0: none */
};

/*
 * The container's log (stdout and stderr), each line given to progress as
 * "HOST: LINE", as it comes, hosts in parallel. Following, it runs until
 * interrupted (or timeout_ms); the follower on a host ends within seconds
 * of the ssh connection closing (with multiplexing, that is when the master
 * connection ends, ControlPersist after the last command), even when the
 * log is quiet.
 */
int proxyhost_logs(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   const struct proxyhost_logs_opts *o, proxyhost_progress_fn progress, void *data,
		   struct err *e);

#endif
