/*
 * berth-proxy — the reverse proxy and zero-downtime switch.
 *
 *	berth-proxy run [--http-port 80] [--https-port 443] [--state-dir DIR] [--workers N]
 *	                [--socket PATH] [--debug] [--h2c] [--no-http2]
 *	                [--acme-directory URL] [--acme-email ADDR]
 *	                [--acme-ca-file PEM] [--acme-dns-command CMD]
 *	                [--acme-challenge http-01|tls-alpn-01]
 *	                [--takeover|--takeover-if-running [--drain-timeout D]]
 *	berth-proxy deploy SERVICE --target HOST:PORT [...]
 *	berth-proxy remove SERVICE            (or rm)
 *	berth-proxy list [--json]             (or ls)
 *	berth-proxy pause SERVICE [--drain-timeout D] [--max-pause D]
 *	berth-proxy resume SERVICE
 *	berth-proxy stop SERVICE [--drain-timeout D] [--message TEXT]
 *	berth-proxy rollout deploy SERVICE --target HOST:PORT [...]
 *	berth-proxy rollout set SERVICE --percent N [--list VALUE,...]
 *	berth-proxy rollout stop SERVICE
 *	berth-proxy tls-secret SERVICE
 *	berth-proxy acme [--json] | [--email ADDR] [--directory URL] | --reset
 *	berth-proxy import-kamal-state [--state-dir DIR] <STATE
 *	berth-proxy hold --socket PATH [--http-port 80] [--https-port 443] [--listen ADDR]
 *
 * One table of subcommands, as in berth's own main.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/opt.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "proxy/acme.h"
#include "proxy/certs.h"
#include "proxy/control.h"
#include "proxy/dur.h"
#include "proxy/handoff.h"
#include "proxy/hold.h"
#include "proxy/kamalstate.h"
#include "proxy/metrics.h"
#include "proxy/route.h"
#include "proxy/server.h"
#include "lib/banned.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, const char **argv);
	const char *help;
};

static int parse_opts(int argc, const char **argv, const struct opt *opts, const char *usage)
{
	const struct opt *tables[] = {opts, NULL};
	struct err e = ERR_INIT;
	int n = opt_parse(argc, argv, tables, 0, &e);

	if (n < 0) {
		log_error("%s", err_str(&e));
		fprintf(stderr, "usage: %s\n", usage);
		err_release(&e);
	}
	return n;
}

static int parse_dur(const char *flag, const char *s, uint64_t *ms)
{
	if (s && !dur_parse(s, ms)) {
		log_error("option '--%s' expects a duration like \"30s\", got '%s'", flag, s);
		return -1;
	}
	return 0;
}

/* --socket, else $BERTH_PROXY_SOCKET, else inside the state directory. */
static char *socket_path_for(const char *flag, const char *state_dir)
{
	const char *env = getenv("BERTH_PROXY_SOCKET");
	struct sbuf sb = SBUF_INIT;

	if (flag) {
		return xstrdup(flag);
	}
	if (env && *env) {
		return xstrdup(env);
	}
	sbuf_addf(&sb, "%s/berth-proxy.sock", state_dir);
	return sbuf_detach(&sb, NULL);
}

/*
 * A control command: --socket and --state-dir say where the proxy is; every
 * other argument goes to the proxy, which parses it.
 */
static int cmd_control(int argc, const char **argv, const char *name)
{
	const char *socket_path = NULL, *state_dir = NULL;
	struct strvec args = STRVEC_INIT;
	char *dir, *sock;
	int i, rc;

	strvec_push(&args, name);
	for (i = 0; i < argc; i++) {
		const char **want = NULL, *val = NULL;

		if (!strcmp(argv[i], "--socket") || !strcmp(argv[i], "--state-dir")) {
			want = argv[i][2] == 's' && argv[i][3] == 'o' ? &socket_path : &state_dir;
			if (i + 1 >= argc) {
				log_error("option '%s' expects a value", argv[i]);
				strvec_clear(&args);
				return 2;
			}
			val = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			want = &socket_path;
			val = argv[i] + 9;
		} else if (!strncmp(argv[i], "--state-dir=", 12)) {
			want = &state_dir;
			val = argv[i] + 12;
		}
		if (want) {
			*want = val;
		} else {
			strvec_push(&args, argv[i]);
		}
	}
	dir = state_dir ? xstrdup(state_dir) : control_default_state_dir();
	sock = socket_path_for(socket_path, dir);
	rc = control_client(sock, (int)args.nr, (const char **)args.v);
	free(dir);
	free(sock);
	strvec_clear(&args);
	return rc;
}

static int cmd_deploy(int argc, const char **argv)
{
	return cmd_control(argc, argv, "deploy");
}
static int cmd_remove(int argc, const char **argv)
{
	return cmd_control(argc, argv, "remove");
}
static int cmd_list(int argc, const char **argv)
{
	return cmd_control(argc, argv, "list");
}

static int cmd_metrics(int argc, const char **argv)
{
	return cmd_control(argc, argv, "metrics");
}

static int cmd_pause(int argc, const char **argv)
{
	return cmd_control(argc, argv, "pause");
}
static int cmd_resume(int argc, const char **argv)
{
	return cmd_control(argc, argv, "resume");
}
static int cmd_stop(int argc, const char **argv)
{
	return cmd_control(argc, argv, "stop");
}

static int cmd_rollout(int argc, const char **argv)
{
	return cmd_control(argc, argv, "rollout");
}

static int cmd_tls_secret(int argc, const char **argv)
{
	return cmd_control(argc, argv, "tls-secret");
}

static int cmd_acme(int argc, const char **argv)
{
	return cmd_control(argc, argv, "acme");
}

#define HOLDER_WAIT_MS	  60000 /* how long run --listeners-from waits for the holder */
#define HOLDER_RESTORE_MS 10000 /* and then for the restored targets' health */

/*
 * Takes the listeners of the proxy at sock into h and cfg: "http", and
 * "https" when this process serves HTTPS (cfg->tls). Kinds this process
 * does not serve are closed, said once: their clients get nothing from now
 * on.
 */
static void use_listeners(struct handoff *h, struct server_config *cfg)
{
	size_t i;

	for (i = 0; i < h->nr; i++) {
		if (strcmp(h->ls[i].kind, "http") &&
		    !(cfg->tls && !strcmp(h->ls[i].kind, "https"))) {
			log_warn("closing a listener of a kind this proxy does not serve: '%s'",
				 h->ls[i].kind);
			close(h->ls[i].fd);
			h->ls[i].fd = -1;
		}
	}
	cfg->inherit = h->ls;
	cfg->nr_inherit = h->nr;
}

static int take_over(const char *sock, struct handoff *h, struct server_config *cfg, struct err *e)
{
	if (handoff_take(h, sock, e) < 0) {
		return -1;
	}
	use_listeners(h, cfg);
	return 0;
}

/*
 * The listeners from the holder at path (proxy/hold.h), waiting up to
 * HOLDER_WAIT_MS for it to answer: after dockerd restarts, the proxy's
 * container may come up before the holder's.
 */
static int take_from_holder(const char *path, struct handoff *h, struct server_config *cfg,
			    struct err *e)
{
	struct timespec nap = {0, 200 * 1000000};
	unsigned tries = HOLDER_WAIT_MS / 200;

	for (;;) {
		if (handoff_take(h, path, e) == 0) {
			break;
		}
		handoff_release(h);
		if (!--tries || !strstr(err_str(e), "no berth-proxy answers")) {
			return -1;
		}
		if (tries == HOLDER_WAIT_MS / 200 - 1) {
			log_info("waiting for the listeners at '%s'", path);
		}
		nanosleep(&nap, NULL);
	}
	/* The holder answers at once (it never accepts), and goes on holding them. */
	if (handoff_finish(h, 0, e) < 0) {
		log_warn("the holder at '%s': %s", path, err_str(e));
	}
	close(h->fd);
	h->fd = -1;
	use_listeners(h, cfg);
	return 0;
}

/* After a handover: waits until the open connections are done, or the drain time is up. */
static void drain(uint64_t drain_ms)
{
	struct timespec ts;
	uint64_t now, end;
	unsigned open_now = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	end = now + drain_ms;
	while ((open_now = server_open_clients()) && now < end) {
		struct timespec nap = {0, 20 * 1000000};

		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	}
	if (open_now) {
		log_warn("drain time is up: closing %u connection(s)", open_now);
	} else {
		log_info("drained: every connection is done");
	}
}

static void *metrics_later_thread(void *arg)
{
	uint64_t *a = arg, port = a[0], tries = a[1] / 200 + 50;
	struct metrics *const *counters;
	unsigned nr = server_metrics(&counters);
	struct err e = ERR_INIT;
	int bound = -1;

	while (tries-- && bound < 0) {
		struct timespec nap = {0, 200 * 1000000};

		nanosleep(&nap, NULL);
		err_release(&e);
		bound = metrics_start((unsigned)port, counters, nr, &e);
	}
	if (bound < 0) {
		log_error("%s", err_str(&e));
	} else {
		log_info("metrics on 127.0.0.1:%d", bound);
	}
	err_release(&e);
	free(a);
	return NULL;
}

/*
 * After a takeover the old proxy holds the metrics port until it has
 * drained: it is bound once free (tried for the drain time and 10 s more).
 */
static void metrics_later(unsigned port, uint64_t drain_ms)
{
	uint64_t *a = xcalloc(2, sizeof(*a));
	pthread_t th;

	a[0] = port;
	a[1] = drain_ms;
	log_info("metrics port %u is the old proxy's until it exits; bound then", port);
	if (pthread_create(&th, NULL, metrics_later_thread, a)) {
		log_error("cannot start a thread for the metrics");
		free(a);
		return;
	}
	pthread_detach(th);
}

/* A flag's value, else the environment's (for `docker run --env`), else NULL. */
static const char *flag_or_env(const char *flag, const char *env)
{
	const char *v = getenv(env);

	return flag ? flag : v && *v ? v : NULL;
}

static int cmd_run(int argc, const char **argv)
{
	static const char usage[] =
	    "berth-proxy run [--http-port 80] [--https-port 443] [--state-dir DIR] [--workers N]\n"
	    "                [--socket PATH] [--debug] [--h2c] [--no-http2]\n"
	    "                [--takeover|--takeover-if-running] [--drain-timeout DUR]\n"
	    "                [--listeners-from PATH]\n"
	    "                [--access-log FILE|-] [--log-request-header NAME]\n"
	    "                [--log-response-header NAME] [--metrics-port PORT]\n"
	    "                [--acme-directory URL] [--acme-email ADDR] [--acme-ca-file PEM]\n"
	    "                [--acme-dns-command CMD] [--acme-challenge http-01|tls-alpn-01]";
	unsigned http_port = 80, workers = 0, max_head_kb = 64;
	bool h2c = false, http2 = true;
	const char *listen = NULL, *state_dir = NULL, *socket_path = NULL;
	const char *read_timeout = NULL, *idle_timeout = NULL, *target_timeout = NULL;
	const char *client_timeout = NULL;
	const char *max_body = NULL, *access_log = NULL, *drain_timeout = NULL;
	const char *metrics_port = NULL, *https_port = NULL, *holder = NULL;
	const char *acme_dir = NULL, *acme_email = NULL, *acme_ca = NULL, *acme_dns = NULL;
	const char *acme_chall = NULL;
	struct acme_config acme = {0};
	bool certs = false;
	struct strvec targets = STRVEC_INIT, log_req = STRVEC_INIT, log_resp = STRVEC_INIT;
	struct server_config cfg = {0};
	struct handoff h;
	struct err e = ERR_INIT;
	uint64_t drain_ms = 30000;
	char *dir = NULL, *sock = NULL;
	bool takeover = false, takeover_if = false;
	sigset_t sigs;
	int sig, rc = 1;
	bool debug = false;
	const struct opt opts[] = {
	    OPT_BOOL(0, "debug", &debug, "log at debug level"),
	    OPT_UINT(0, "http-port", &http_port, "PORT", "port for HTTP (default 80; 0: any)"),
	    OPT_STRING(0, "https-port", &https_port, "PORT",
		       "port for HTTPS (bound only when given; 0: any)"),
	    OPT_STRING(0, "listen", &listen, "ADDR", "address to listen on (default 0.0.0.0)"),
	    OPT_BOOL(0, "h2c", &h2c, "serve HTTP/2 with prior knowledge on the HTTP port too"),
	    OPT_BOOL(0, "http2", &http2,
		     "offer HTTP/2 over TLS (ALPN h2; default on, --no-http2 turns it off)"),
	    OPT_UINT(0, "workers", &workers, "N", "worker threads (default: the number of cores)"),
	    OPT_STRING(0, "state-dir", &state_dir, "DIR", "where routing state is kept"),
	    OPT_STRING(0, "socket", &socket_path, "PATH", "control socket"),
	    OPT_BOOL(0, "takeover", &takeover,
		     "take the listeners of the proxy running on the control socket, then let it "
		     "drain and exit"),
	    OPT_BOOL(0, "takeover-if-running", &takeover_if,
		     "--takeover when a proxy answers on the control socket, else start afresh "
		     "(for a command line that also serves a restart)"),
	    OPT_STRING(0, "listeners-from", &holder, "PATH",
		       "take the listening sockets from the holder at PATH (berth-proxy hold) "
		       "instead of binding them, unless taking over; waits up to 60s for it"),
	    OPT_STRING(0, "drain-timeout", &drain_timeout, "DUR",
		       "with --takeover: how long the old proxy may take to finish its requests "
		       "and streams (default 30s)"),
	    OPT_STRING(0, "http-read-timeout", &read_timeout, "DUR",
		       "time to receive a request head (default 30s)"),
	    OPT_STRING(0, "http-idle-timeout", &idle_timeout, "DUR",
		       "idle time of keep-alive connections and tunnels (default 60s)"),
	    OPT_UINT(0, "max-header-kb", &max_head_kb, "KB", "largest request head (default 64)"),
	    OPT_LIST(0, "target", &targets, "HOST:PORT",
		     "serve every host from these targets (a default service named 'default')"),
	    OPT_STRING(0, "target-timeout", &target_timeout, "DUR",
		       "with --target: time the target may send nothing while a response is "
		       "awaited or streamed (default 30s)"),
	    OPT_STRING(0, "client-timeout", &client_timeout, "DUR",
		       "with --target: time a client may take none of its response (default 60s)"),
	    OPT_STRING(0, "max-request-body", &max_body, "BYTES",
		       "with --target: largest request body (default: no limit)"),
	    OPT_STRING(0, "access-log", &access_log, "FILE",
		       "write a JSON line per request to FILE ('-': stdout; default: none)"),
	    OPT_LIST(0, "log-request-header", &log_req, "NAME",
		     "add this request header to the access log"),
	    OPT_LIST(0, "log-response-header", &log_resp, "NAME",
		     "add this response header to the access log"),
	    OPT_STRING(0, "metrics-port", &metrics_port, "PORT",
		       "serve Prometheus metrics on 127.0.0.1:PORT (0: any; default: none)"),
	    OPT_STRING(0, "acme-directory", &acme_dir, "URL",
		       "the ACME CA's directory (default Let's Encrypt; env "
		       "BERTH_PROXY_ACME_DIRECTORY; `berth-proxy acme --directory` wins)"),
	    OPT_STRING(
		0, "acme-email", &acme_email, "ADDR",
		"contact for the ACME account (env BERTH_PROXY_ACME_EMAIL; `berth-proxy acme "
		"--email` wins)"),
	    OPT_STRING(0, "acme-ca-file", &acme_ca, "PEM",
		       "CAs trusted for the ACME server's HTTPS (env BERTH_PROXY_ACME_CA_FILE)"),
	    OPT_STRING(0, "acme-dns-command", &acme_dns, "CMD",
		       "DNS-01 hook, run as CMD set|clear NAME VALUE; needed for wildcards (env "
		       "BERTH_PROXY_ACME_DNS_COMMAND)"),
	    OPT_STRING(0, "acme-challenge", &acme_chall, "TYPE",
		       "http-01 (default) or tls-alpn-01 (env BERTH_PROXY_ACME_CHALLENGE)"),
	    OPT_END(),
	};

	cfg.access_log_fd = -1;
	handoff_init(&h);
	if (parse_opts(argc, argv, opts, usage) < 0) {
		goto out;
	}
	if (debug) {
		log_setup(LOG_DEBUG, 0, NULL);
	}
	if (parse_dur("drain-timeout", drain_timeout, &drain_ms) < 0) {
		goto out;
	}
	dir = state_dir ? xstrdup(state_dir) : control_default_state_dir();
	sock = socket_path_for(socket_path, dir);
	if (takeover_if && control_proxy_answers(sock)) {
		takeover = true;
	}
	if (https_port) {
		uint64_t port;

		if (!slice_to_u64(slice_cstr(https_port), 65535, &port)) {
			log_error("option '--https-port' expects a port number, got '%s'",
				  https_port);
			goto out;
		}
		cfg.https_port = (unsigned)port;
	}
	acme_dir = flag_or_env(acme_dir, "BERTH_PROXY_ACME_DIRECTORY");
	acme_email = flag_or_env(acme_email, "BERTH_PROXY_ACME_EMAIL");
	acme_ca = flag_or_env(acme_ca, "BERTH_PROXY_ACME_CA_FILE");
	acme_dns = flag_or_env(acme_dns, "BERTH_PROXY_ACME_DNS_COMMAND");
	acme_chall = flag_or_env(acme_chall, "BERTH_PROXY_ACME_CHALLENGE");
	acme.challenge = ACME_HTTP01;
	if (acme_chall) {
		if (acme_challenge_parse(acme_chall, &acme.challenge, &e) < 0 ||
		    acme.challenge == ACME_DNS01) {
			log_error("option '--acme-challenge' expects http-01 or tls-alpn-01, got "
				  "'%s' (dns-01 is used for wildcards when --acme-dns-command is "
				  "given)",
				  acme_chall);
			goto out;
		}
	}
	if (acme_ca && access(acme_ca, R_OK) < 0) {
		log_error("cannot read '%s' (--acme-ca-file): %s", acme_ca, strerror(errno));
		goto out;
	}
	acme.directory_url = xstrdup(acme_dir ? acme_dir : ACME_LETSENCRYPT_URL);
	acme.email = acme_email ? xstrdup(acme_email) : NULL;
	acme.ca_file = acme_ca ? xstrdup(acme_ca) : NULL;
	acme.dns_command = acme_dns ? xstrdup(acme_dns) : NULL;
	if (access_log && !strcmp(access_log, "-")) {
		cfg.access_log_fd = STDOUT_FILENO;
	} else if (access_log) {
		cfg.access_log_fd =
		    open(access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (cfg.access_log_fd < 0) {
			log_error("cannot open access log '%s': %s", access_log, strerror(errno));
			goto out;
		}
	}
	cfg.log_req_headers = (const char *const *)log_req.v;
	cfg.log_resp_headers = (const char *const *)log_resp.v;
	cfg.listen_addr = listen;
	cfg.h2c = h2c;
	cfg.http_port = http_port;
	cfg.workers = workers ? workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	cfg.read_timeout_ms = 30000;
	cfg.idle_timeout_ms = 60000;
	cfg.max_head = (size_t)max_head_kb * 1024;
	if (parse_dur("http-read-timeout", read_timeout, &cfg.read_timeout_ms) < 0 ||
	    parse_dur("http-idle-timeout", idle_timeout, &cfg.idle_timeout_ms) < 0) {
		goto out;
	}
	if (targets.nr) {
		struct service *s = service_new("default");
		size_t i;

		if (parse_dur("target-timeout", target_timeout, &s->o.target_timeout_ms) < 0 ||
		    parse_dur("client-timeout", client_timeout, &s->o.client_timeout_ms) < 0) {
			service_free(s);
			goto out;
		}
		if (max_body && !slice_to_u64(slice_cstr(max_body), UINT64_MAX, &s->o.max_body)) {
			log_error("option '--max-request-body' expects a number, got '%s'",
				  max_body);
			service_free(s);
			goto out;
		}
		for (i = 0; i < targets.nr; i++) {
			struct target *t = control_check_target("target", targets.v[i], &e) < 0
					       ? NULL
					       : target_new(targets.v[i], &e);

			if (!t) {
				log_error("%s", err_str(&e));
				service_free(s);
				goto out;
			}
			service_add_target(s, t);
		}
		route_publish(route_table_new(&s, 1));
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR2);
	/* Every thread started from here on (workers, ACME, OCSP) inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (certs_start(dir, &acme, http2, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	certs = true;
	if (https_port) {
		cfg.tls = certs_tls();
	}
	cfg.acme = certs_acme_store();
	/*
	 * A takeover: the listeners first (the old proxy stops changing its
	 * routes from then on), then the routes restored and proven healthy,
	 * all while the old proxy serves; only then do our workers start on
	 * the listeners, our control socket replace the old one's, and the old
	 * proxy stop accepting. Until "go" any failure leaves the old proxy
	 * serving as before.
	 */
	if (takeover) {
		if (take_over(sock, &h, &cfg, &e) < 0) {
			log_error("cannot take over from the proxy at '%s': %s", sock, err_str(&e));
			goto out;
		}
		if (control_restore(dir, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		control_wait_restored(0);
	} else if (holder) {
		/*
		 * Connections wait in the holder's queue while no proxy runs: they
		 * are served once the routes are back and their targets proven
		 * healthy, or HOLDER_RESTORE_MS passed (then a service whose
		 * targets are still pending answers 503). The routes come first,
		 * so that their health checks run while the holder is awaited.
		 */
		if (control_restore(dir, &e) < 0) {
			log_error("%s", err_str(&e));
			goto out;
		}
		if (take_from_holder(holder, &h, &cfg, &e) < 0) {
			log_error("cannot take the listeners from '%s': %s", holder, err_str(&e));
			goto out;
		}
		if (!control_wait_restored(HOLDER_RESTORE_MS)) {
			log_warn("serving before every restored target is healthy");
		}
	} else if (server_port_busy(&cfg) && control_proxy_answers(sock)) {
		/* SO_REUSEPORT would let us join its listeners and split the traffic with it. */
		log_error("a berth-proxy already runs on port %u with the control socket '%s'; "
			  "'berth-proxy run --takeover' replaces it without dropping a connection",
			  cfg.http_port, sock);
		goto out;
	}
	if (server_start(&cfg, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	if (takeover) {
		size_t i;

		/* The workers own the listeners now: h must not close them. */
		for (i = 0; i < h.nr; i++) {
			h.ls[i].fd = -1;
		}
		if (control_listen(sock, &e) < 0) {
			log_error("%s", err_str(&e));
			server_stop();
			goto out;
		}
		/*
		 * The control socket's path is ours now, so the old proxy can no
		 * longer be reached through it: whatever it answers, we serve on.
		 */
		if (handoff_finish(&h, drain_ms, &e) < 0) {
			log_warn("%s; serving on (the old proxy may serve the same ports until it "
				 "is stopped)",
				 err_str(&e));
		}
		handoff_release(&h);
		log_info("took over the listeners; the old proxy drains for up to %llums",
			 (unsigned long long)drain_ms);
	} else {
		if (holder) {
			size_t i;

			for (i = 0; i < h.nr; i++) {
				h.ls[i].fd = -1;
			}
			handoff_release(&h);
			log_info("serving the listeners of the holder at '%s'", holder);
		}
		if ((holder ? control_listen(sock, &e) : control_start(sock, dir, &e)) < 0) {
			log_error("%s", err_str(&e));
			server_stop();
			goto out;
		}
	}
	if (metrics_port) {
		struct metrics *const *counters;
		unsigned nr = server_metrics(&counters);
		uint64_t port;
		int bound;

		if (!slice_to_u64(slice_cstr(metrics_port), 65535, &port)) {
			log_error("option '--metrics-port' expects a port number, got '%s'",
				  metrics_port);
			server_stop();
			goto out;
		}
		bound = metrics_start((unsigned)port, counters, nr, &e);
		if (bound < 0 && takeover && port) {
			/* Past "go" there is no way back: the old proxy has it until it exits. */
			metrics_later((unsigned)port, drain_ms);
		} else if (bound < 0) {
			log_error("%s", err_str(&e));
			server_stop();
			goto out;
		} else {
			log_info("metrics on 127.0.0.1:%d", bound);
		}
	}
	if (cfg.tls) {
		log_info("berth-proxy listening on port %u (HTTPS %u) with %u worker(s)",
			 cfg.http_port, cfg.https_port, cfg.workers);
	} else {
		log_info("berth-proxy listening on port %u with %u worker(s)", cfg.http_port,
			 cfg.workers);
	}
	for (;;) {
		sigwait(&sigs, &sig);
		if (sig != SIGUSR2) {
			log_info("berth-proxy: signal %d, stopping", sig);
			break;
		}
		/* SIGUSR2 from anyone but a handover changes nothing. */
		if (control_handed_over(&drain_ms)) {
			drain(drain_ms);
			break;
		}
	}
	server_stop();
	rc = 0;
out:
	handoff_release(&h);
	if (certs) {
		certs_stop();
	}
	acme_config_release(&acme);
	free(dir);
	free(sock);
	strvec_clear(&targets);
	strvec_clear(&log_req);
	strvec_clear(&log_resp);
	err_release(&e);
	return rc;
}

/*
 * kamal-proxy's state on stdin becomes this proxy's state file (proxy/
 * kamalstate.h), unless the state directory has routes already.
 */
static int cmd_import_kamal_state(int argc, const char **argv)
{
	static const char usage[] = "berth-proxy import-kamal-state [--state-dir DIR] <STATE";
	const char *state_dir = NULL;
	struct sbuf in = SBUF_INIT, out = SBUF_INIT, path = SBUF_INIT, have = SBUF_INIT;
	struct strvec notes = STRVEC_INIT;
	struct err e = ERR_INIT;
	char *dir = NULL;
	size_t i;
	int n, rc = 1;
	const struct opt opts[] = {
	    OPT_STRING(0, "state-dir", &state_dir, "DIR", "where routing state is kept"),
	    OPT_END(),
	};

	if (parse_opts(argc, argv, opts, usage) < 0) {
		return 2;
	}
	dir = state_dir ? xstrdup(state_dir) : control_default_state_dir();
	sbuf_addf(&path, "%s/berth-proxy.json", dir);
	if (sbuf_read_file(&have, path.buf) == 0 && strstr(have.buf, "\"name\"")) {
		log_error("'%s' has routes already: nothing imported", path.buf);
		goto out;
	}
	if (sbuf_read_fd(&in, STDIN_FILENO) < 0) {
		log_error("cannot read the state on stdin: %s", strerror(errno));
		goto out;
	}
	n = kamalstate_convert(in.buf ? in.buf : "", in.len, &out, &notes, &e);
	if (n < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	for (i = 0; i < notes.nr; i++) {
		log_warn("%s", notes.v[i]);
	}
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    file_write_atomic(path.buf, out.buf, out.len, 0600, &e) < 0) {
		log_error("%s", err_isset(&e) ? err_str(&e) : strerror(errno));
		goto out;
	}
	log_info("imported %d service(s) from kamal-proxy's state into '%s'", n, path.buf);
	rc = 0;
out:
	sbuf_release(&in);
	sbuf_release(&out);
	sbuf_release(&path);
	sbuf_release(&have);
	strvec_clear(&notes);
	err_release(&e);
	free(dir);
	return rc;
}

/* Holds the listening sockets for proxies in other network namespaces (proxy/hold.h). */
static int cmd_hold(int argc, const char **argv)
{
	static const char usage[] = "berth-proxy hold --socket PATH [--http-port 80] [--https-port "
				    "443] [--listen ADDR] [--workers N]";
	unsigned http_port = 80, https_port = 0, workers = 0;
	struct hold_opts o = {0};
	struct err e = ERR_INIT;
	sigset_t sigs;
	int rc = 1;
	const struct opt opts[] = {
	    OPT_STRING(0, "socket", &o.socket_path, "PATH", "where proxies take the listeners"),
	    OPT_UINT(0, "http-port", &http_port, "PORT", "port for HTTP (default 80; 0: none)"),
	    OPT_UINT(0, "https-port", &https_port, "PORT", "port for HTTPS (default: none)"),
	    OPT_STRING(0, "listen", &o.listen, "ADDR", "address to listen on (default 0.0.0.0)"),
	    OPT_UINT(0, "workers", &workers, "N",
		     "sockets per port, one per worker of the proxy (default: the number of "
		     "cores, as run's default)"),
	    OPT_END(),
	};

	if (parse_opts(argc, argv, opts, usage) < 0) {
		return 2;
	}
	if (!o.socket_path || http_port > 65535 || https_port > 65535) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	o.http_port = http_port;
	o.https_port = https_port;
	o.count = workers ? workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (hold_run(&o, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	rc = 0;
out:
	err_release(&e);
	return rc;
}

static const struct cmd commands[] = {
    {"run", cmd_run, "run the proxy"},
    {"deploy", cmd_deploy, "switch a service to new targets once they are healthy"},
    {"remove", cmd_remove, "remove a service"},
    {"rm", cmd_remove, "the same as remove"},
    {"list", cmd_list, "list the services"},
    {"ls", cmd_list, "the same as list"},
    {"metrics", cmd_metrics,
     "print the Prometheus metrics (as --metrics-port serves them, with or without it)"},
    {"pause", cmd_pause, "hold a service's new requests until resume or the next deploy"},
    {"resume", cmd_resume, "serve a paused or stopped service again"},
    {"stop", cmd_stop, "answer a service's requests with 503 (maintenance)"},
    {"rollout", cmd_rollout, "send a share of a service's traffic to other targets"},
    {"tls-secret", cmd_tls_secret,
     "print the secret that seals a service's certificate for the other hosts (made when "
     "missing)"},
    {"acme", cmd_acme,
     "show the ACME account's email and directory, or change them at run time (kept in the "
     "state directory; they win over the boot's flags and env until --reset)"},
    {"import-kamal-state", cmd_import_kamal_state,
     "make this proxy's state from kamal-proxy's (on stdin), when it has no routes yet"},
    {"hold", cmd_hold,
     "hold the listening sockets and hand them to the proxies that ask (for proxies in other "
     "network namespaces)"},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: berth-proxy COMMAND [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	}
}

int main(int argc, const char **argv)
{
	size_t i;

	/*
	 * Once, for the whole process and every thread: TLS writes to sockets with
	 * write() and lib/run feeds children's stdin, and a peer gone must be an
	 * error there, not a signal (see lib/run.h).
	 */
	signal(SIGPIPE, SIG_IGN);
	log_setup(LOG_INFO, 0, NULL);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			return commands[i].fn(argc - 2, argv + 2);
		}
	}
	log_error("'%s' is not a berth-proxy command", argv[1]);
	usage(stderr);
	return 2;
}
