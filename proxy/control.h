/*
 * control — the control socket, and the switch behind `berth-proxy deploy`.
 *
 * The proxy listens on a unix socket (mode 0600). A client sends its
 * arguments as NUL-terminated strings and shuts down its side; the proxy
 * answers with lines "o TEXT" (for stdout), "e TEXT" (for stderr) and a
 * last line "x STATUS" (the exit status). Each connection is served by its
 * own thread, never by a worker's event loop; changes to the routing table
 * are made one at a time.
 *
 * deploy: health-checks every new target, main and read (GET of the health
 * path until a 200, within the deploy timeout; --force skips this), then
 * publishes the new table, then waits
 * until the old targets' requests in flight are done (up to the drain
 * timeout). A target that does not become healthy changes nothing, and the
 * answer says what its checks saw. Every change is written to the state
 * file atomically (temp file, fsync, rename) and restored at start: every
 * saved service is published at once, its targets pending (proxy/route.h)
 * until a health check passes, so a target that is down at restart gets
 * no request until it is healthy (a service with no target proven yet
 * answers 503).
 *
 * pause/stop publish the service in that state (a deploy or resume ends
 * it), then wait up to their drain timeout for the requests in flight.
 * deploy closes the tunnels to the old targets at the end of its drain
 * timeout; remove closes the removed service's tunnels at once.
 *
 * rollout deploy health-checks a second set of targets (and returns once
 * they are healthy; they are checked on, and an unhealthy one is passed
 * over for the main targets) and adds them to a
 * service (at the percentage it had, 0 at first); rollout set changes the
 * percentage and the list of split values; rollout stop drops them. A
 * deploy of the main targets keeps the rollout. Dropped rollout targets are
 * drained like old targets.
 *
 * deploy --tls (proxy/certs.h) needs a --host; --tls-certificate-path and
 * --tls-private-key-path are read and checked to match before anything
 * changes; --tls-certificate-stdin's PEM comes after the arguments, in the
 * part of the request that starts with the byte 0x01 (the client's standard
 * input; no argument may start with it), and is written under
 * STATE/tls/SERVICE once the targets are healthy. A service with an ACME
 * certificate is switched once it has one, or with a warning when the CA
 * failed or the deploy timeout passed. --forward-headers, when not given, is
 * true for a service without TLS (kamal-proxy's default).
 *
 * deploy --tls --tls-issuer http://HOST[:PORT] --tls-secret-stdin makes the
 * service a follower of another host's certificate (proxy/certs.h): the
 * secret (64 hex digits) comes on the standard input like a PEM above; the
 * service switches at once (the CA's check may come through it) and the
 * deploy then waits for the first certificate from the issuer, or warns.
 * tls-secret SERVICE prints the issuer's secret of a service, made when
 * missing.
 *
 * acme [--json] | [--email ADDR] [--directory URL] | --reset shows the ACME
 * account's email and directory in effect and where each comes from, or
 * changes them at run time (proxy/acmeset.h, proxy/certs.h): saved, then
 * used from the next order, with no restart.
 *
 * metrics prints the Prometheus text of proxy/metrics.h, one line of output
 * per line of text, whether or not the proxy serves a metrics port.
 *
 * Every value a command is given is checked before anything changes (the
 * control_check_* functions below, also applied to a restored state): a
 * value that would reach a request the proxy writes (a health check path
 * with CR LF in it), a route no request can take (a host with a space, a
 * prefix "/a/../b") or a name nothing else can use is refused with an
 * error that names the flag and says what was expected. Output lines never
 * carry a control byte of a value: they are shown escaped ("\r\n").
 *
 * handoff: a new process takes this one's listeners (proxy/handoff.h).
 * From the moment it asks, commands that change something are refused
 * ("run the command again in a moment"; list and metrics still answer), and a change
 * in progress is finished first; once the new process has taken over, the
 * control socket's path is the new process's (it renames its own socket
 * over it) and this one drains and exits (control_handed_over).
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/slice.h"
#include "lib/strvec.h"

struct service;

/* The state directory to use when none is given: $XDG_STATE_HOME/berth-proxy, ~/.local/state/...,
 * or /var/lib/berth-proxy. A malloc'd string. */
char *control_default_state_dir(void);

/*
 * Restores the state in state_dir (creating the directory), then serves the
 * control socket at socket_path from a thread of its own: control_restore
 * then control_listen. Returns 0, or -1 with e set.
 */
int control_start(const char *socket_path, const char *state_dir, struct err *e);
/*
 * Restores the state in state_dir (creating the directory) and starts the
 * health checks. Returns 0, or -1 with e set.
 */
int control_restore(const char *state_dir, struct err *e);
/*
 * Waits until every restored service is whole: each of its targets has
 * passed a health check, or its deploy timeout passed first, or max_ms
 * passed (0: no limit). Returns whether they are whole.
 */
bool control_wait_restored(uint64_t max_ms);
/* Whether a proxy answers on socket_path (a file left by one that is gone does not). */
bool control_proxy_answers(const char *socket_path);
/*
 * Serves the control socket at socket_path from a thread of its own. The
 * socket is bound under a temporary name and renamed over the path, so a
 * client always finds one there (a proxy that had the path before is no
 * longer reached through it). Returns 0, or -1 with e set.
 */
int control_listen(const char *socket_path, struct err *e);
/*
 * Whether this process has handed its listeners over (and so should drain
 * and exit): true, with *drain_ms the time the new process allows for it.
 * The handover raises SIGUSR2 in the process when it happens.
 */
bool control_handed_over(uint64_t *drain_ms);

/*
 * Checks of command values: 0, or -1 with e saying which flag expected what
 * and what it got (control bytes escaped). Limits: names 128 bytes, host
 * names 253, paths 1024.
 */
/* A service name: 1 to 128 of A-Z a-z 0-9 . _ - */
int control_check_service_name(const char *name, struct err *e);
/*
 * --host: a DNS name (labels of letters, digits, '-' and '_', 1 to 63 bytes,
 * no '-' at either end; no empty label, so no final '.'), the same after
 * "*." (a wildcard), or an IPv6 address in brackets. No port.
 */
int control_check_host(const char *host, struct err *e);
/*
 * --path-prefix: starts with '/', visible ASCII but '?' and '#', and
 * normalizes (proxy/path.h). *normalized gets it normalized (malloc'd), as
 * requests' paths are before they are matched against it.
 */
int control_check_path_prefix(const char *prefix, char **normalized, struct err *e);
/*
 * The path prefixes of s from prefixes (deploy takes --path-prefix several
 * times, or comma-separated, as kamal-proxy does): each checked and
 * normalized as above, one kept of those that are the same but for trailing
 * '/'s, "/" when there is none. s is left as it was on an error.
 */
int control_set_path_prefixes(struct service *s, const struct strvec *prefixes, struct err *e);
/* --health-check-path: starts with '/', visible ASCII but '#' (it goes into a request line). */
int control_check_health_path(const char *path, struct err *e);
/*
 * A target option (flag names it): HOST:PORT or [IPv6]:PORT, HOST a name or
 * IPv4 address as for --host (no wildcard), PORT 1 to 65535 in digits.
 */
int control_check_target(const char *flag, const char *addr, struct err *e);
/*
 * A duration option (proxy/dur.h) of at least min_ms; *ms gets it. s NULL:
 * not given, *ms untouched.
 */
int control_check_duration(const char *flag, const char *s, uint64_t min_ms, uint64_t *ms,
			   struct err *e);
/* rollout set --list: a value a cookie can carry (RFC 6265 cookie-octets), 1 to 256 bytes. */
int control_check_rollout_value(const char *v, struct err *e);
/* --error-pages: an absolute path with no control bytes, 1024 bytes at most. */
int control_check_error_pages(const char *dir, struct err *e);

/*
 * A header name option (flag names it: --log-request-header,
 * --client-ip-header): 1 to 128 bytes of an RFC 9110 token.
 */
int control_check_header_name(const char *flag, const char *name, struct err *e);
/* --health-check-host: a host name or IPv4 address as for --host (no wildcard), or a bracketed
 * IPv6 address; either with ":PORT". */
int control_check_health_host(const char *host, struct err *e);
/* A port option (flag names it): 1 to 65535 in digits; *port gets it. */
int control_check_port(const char *flag, const char *s, unsigned *port, struct err *e);
/* --exclude-metrics-path: as --path-prefix, normalized into *normalized (malloc'd). */
int control_check_metrics_path(const char *path, char **normalized, struct err *e);
/* A size option in bytes (flag names it): digits; *n gets it. */
int control_check_size(const char *flag, const char *s, uint64_t *n, struct err *e);

/* Runs a control command (argv[0] is its name) against the proxy. Returns the exit status. */
int control_client(const char *socket_path, int argc, const char **argv);

/* One line of an answer: kind 'o' (for stdout) or 'e' (for stderr), without its newline. */
typedef void (*control_line_fn)(char kind, struct slice line, void *data);
/*
 * The client's half of the protocol above (proxy/ctlclient.c, apart from
 * the proxy's own so that berth and berthd link none of the proxy), for other programs (berth runs
 * the switch through a forward of the host's control socket): sends argv
 * (argv[0] is the command) and, when in.ptr is set, in as the standard
 * input; each line of the answer goes to on_line as it comes. Returns the
 * command's exit status (0 to 255), or -1 with e set when there was no
 * answer (no proxy on the socket, or the connection ended before "x"), or
 * none within timeout_ms of the request (0: no limit). A socket that is
 * not there yet, or refuses (a proxy starting: it listens once its
 * restored routes are healthy), is tried again every 100 ms for up to
 * CONTROL_CONNECT_WAIT_MS (or timeout_ms, when shorter).
 */
#define CONTROL_CONNECT_WAIT_MS 12000
/* A request's standard input follows this byte (no argument starts with it), up to this size. */
#define CONTROL_STDIN_MARK '\x01'
#define CONTROL_MAX_STDIN  (128 * 1024)
int control_call(const char *socket_path, int argc, const char **argv, struct slice in,
		 unsigned timeout_ms, control_line_fn on_line, void *data, struct err *e);

#endif
