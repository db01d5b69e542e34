/*
 * proxyhost — berth-proxy on the servers: one container `berth-proxy` per
 * host, on the Docker network `berth`, with its routing state in the volume
 * `berth-proxy` (so that routes survive a new container).
 *
 * Its ports are held by a second container, `berth-proxy-ports`, on the
 * host's network: `berth-proxy hold` (proxy/hold.h) binds them and hands the
 * listening sockets to the proxy over a unix socket in the volume. So a
 * reboot drops nothing (the new proxy container takes the sockets over from
 * the old one, proxy/handoff.h), the two containers come back in any order
 * after dockerd or the server restarts (the proxy waits for the holder), and
 * connections wait instead of being refused while no proxy runs. Without
 * published ports (proxy.run.publish: false), or with more than one
 * bind_ips address, the proxy publishes its own ports as Kamal's does, and
 * a reboot replaces it with a moment of refused connections.
 *
 * The image is berth-proxy:VERSION, built here by `make image` and sent to
 * the hosts with engine/transfer.h (only the layers a host lacks), or, when
 * proxy.run.repository is set, whatever that names, pulled by `docker run`.
 *
 * Every function works on many hosts in parallel, one command per host for
 * each step: over ssh, or here against the host's forwarded Docker socket
 * when the executor allows it (exec_prepare_docker: deploys). Remote commands are the scripts
 * engine/scripts/proxy-*.sh, run through exec_script; they take everything variable as positional
 * arguments.
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
#define PROXYHOST_PORTS	    "berth-proxy-ports"
#define PROXYHOST_NETWORK   "berth"
#define PROXYHOST_VOLUME    "berth-proxy"
#define PROXYHOST_STATE_DIR "/var/lib/berth-proxy"
#define PROXYHOST_LABEL	    "berth.proxy=1"
#define PROXYHOST_HOLDER    PROXYHOST_STATE_DIR "/listeners.sock"
/* berth-proxy's control socket, in its state directory (the volume) */
#define PROXYHOST_CONTROL "berth-proxy.sock"

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
 *     --state-dir /var/lib/berth-proxy [--metrics-port N] [--debug]
 *     [--takeover-if-running --listeners-from /var/lib/berth-proxy/listeners.sock]
 *
 * When the ports are held (proxyhost_held), nothing is published and the
 * last two options take the sockets from the holder, or from the running
 * proxy on a reboot. Otherwise ports are published for every bind_ips entry
 * (IPv6 in brackets), or on every address when there is none, and not at
 * all with publish: false. proxy.run.options become docker options, in
 * order: "--KEY VALUE", or "--KEY" alone for a value-less one. The metrics
 * port is not published. proxy.run.debug: true logs at debug level.
 */
void proxyhost_run_argv(const struct config *cfg, struct strvec *argv);

/* Whether berth-proxy-ports holds the ports: published, on at most one bind_ips address. */
bool proxyhost_held(const struct config *cfg);

/*
 * Appends to argv the `docker run` of the holder (when proxyhost_held):
 *
 *   docker run -d --name berth-proxy-ports --network host --restart unless-stopped
 *     --user 0:0 --cap-drop ALL --cap-add NET_BIND_SERVICE --cap-add SETUID
 *     --cap-add SETGID --log-opt max-size=10m -v berth-proxy:/var/lib/berth-proxy
 *     --label berth.proxy=1 --label berth.proxy.ports=PORTS IMAGE
 *     berth-proxy hold --socket /var/lib/berth-proxy/listeners.sock
 *     --http-port 80 --https-port 443 [--listen BIND_IP]
 *
 * PORTS ("80,443" or "80,443,BIND_IP") tells a reboot whether the holder
 * still holds what the config asks for.
 */
void proxyhost_ports_argv(const struct config *cfg, struct strvec *argv);

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
 * proxyhost_boot as `berth proxy boot` does it: a host that keeps a
 * boot_config (`berth proxy boot_config set`, below) gets the config's
 * proxy.run with it laid over, the others the config's own. One more round
 * trip, only where no proxy ran as the config would boot it.
 */
int proxyhost_boot_as_kept(struct exec *ex, const char *const *hosts, size_t n,
			   const struct config *cfg, proxyhost_progress_fn progress, void *data,
			   struct err *e);

/*
 * Replaces the proxy container on every host with a new one from the
 * current image and options: the network and image as boot makes sure of
 * them, then, where the ports are held as the config asks, a handover: the
 * old container is renamed berth-proxy-old (and told not to restart), the
 * new one takes its listeners and serves, and the old one drains and exits
 * (the call returns then); a new one that fails first leaves the old one
 * serving, with its name back. Anywhere else (the ports move, or are not
 * held): stop, remove, run, with a moment of refused connections, which
 * the progress line says. Routes survive in the volume, which the new
 * container restores. Hosts go all at once; call it per host for a rolling
 * reboot.
 */
int proxyhost_reboot(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		     proxyhost_progress_fn progress, void *data, struct err *e);

/*
 * What a host answers to boot's check (untrusted bytes): "image ok|missing"
 * and "container STATE [IMAGE]", where STATE is started, rebooted (handed
 * over), replaced (stopped, then a new one started), restarted, unpaused,
 * running, running-other (with the image it runs), restarting or pending
 * (it waits for the image). Only the first
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

/* `docker container start` of berth-proxy-ports (if there is one), then berth-proxy. */
int proxyhost_start(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		    proxyhost_progress_fn progress, void *data, struct err *e);

/* `docker container stop` of berth-proxy (SIGTERM, then the grace time), then berth-proxy-ports. */
int proxyhost_stop(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		   proxyhost_progress_fn progress, void *data, struct err *e);

enum proxyhost_remove_flags {
	PROXYHOST_F_IMAGE = 1 << 0,  /* also every berth-proxy image no container uses */
	PROXYHOST_F_VOLUME = 1 << 1, /* also the volume: the routes are lost */
};

/*
 * The services berth-proxy routes on every host: names[i] (n strvecs, each
 * strvec_init'ed by the caller) gets those of hosts[i], from `berth-proxy
 * list --json` when the proxy runs, else from the routes it saved in its
 * volume; nothing when there is no proxy. Returns 0, or -1 with e set for
 * the hosts that could not say (their names[] stay empty).
 */
int proxyhost_services(struct exec *ex, const char *const *hosts, size_t n, struct strvec *names,
		       struct err *e);
/*
 * Reads a host's answer (untrusted bytes) into names: a JSON array of
 * services (list --json), or the saved state {"services": [...]}; each
 * service's "name". Empty output: none. Returns 0, or -1 with e set.
 */
int proxyhost_parse_services(struct slice out, struct strvec *names, struct err *e);

/*
 * Stops and removes the containers on every host — berth-proxy,
 * berth-proxy-ports and a berth-proxy-old left by a reboot (gone already is
 * fine); flags add more. It does not look at what the proxy serves: the
 * caller asks proxyhost_services first.
 */
int proxyhost_remove(struct exec *ex, const char *const *hosts, size_t n, const struct config *cfg,
		     unsigned flags, proxyhost_progress_fn progress, void *data, struct err *e);

/*
 * One progress line per host and container: "HOST: NAME IMAGE STATUS PORTS"
 * of berth-proxy and berth-proxy-ports, or "HOST: no berth-proxy container".
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

/*
 * boot_config (Kamal 2's `proxy boot_config`): proxy.run options kept on
 * each host, as JSON in RUN_DIR/proxy/boot_config.json, laid over the
 * config's proxy.run whenever the proxy boots there (`proxy boot|reboot`,
 * and a deploy that finds no proxy running).
 */

/* The file's path on a host (relative to the ssh user's home unless run_directory is absolute). */
void proxyhost_boot_config_path(struct sbuf *out, const struct config *cfg);

/*
 * The boot_config each host keeps into stored[i]: an empty string where
 * none, and where the host did not answer (the boot that follows then says
 * why for that host). Returns how many hosts keep one.
 */
int proxyhost_boot_config_fetch(struct exec *ex, const struct config *cfg, const char *const *hosts,
				size_t n, struct strvec *stored);

/* Lays a stored boot_config's text over r; -1 (r partly changed) when the text is not one. */
int proxyhost_boot_config_apply(struct config_proxy_run *r, const char *text, size_t len);

#endif
