/*
 * berth-proxy — the reverse proxy and zero-downtime switch.
 *
 *	berth-proxy run [--http-port 80] [--https-port 443] [--state-dir DIR] [--workers N]
 *	                [--socket PATH]
 *	berth-proxy deploy SERVICE --target HOST:PORT [...]
 *	berth-proxy remove SERVICE
 *	berth-proxy list [--json]
 *	berth-proxy pause SERVICE [--drain-timeout D] [--max-pause D]
 *	berth-proxy resume SERVICE
 *	berth-proxy stop SERVICE [--drain-timeout D] [--message TEXT]
 *	berth-proxy rollout deploy SERVICE --target HOST:PORT [...]
 *	berth-proxy rollout set SERVICE --percent N [--list VALUE,...]
 *	berth-proxy rollout stop SERVICE
 *
 * One table of subcommands, as in berth's own main.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/opt.h"
#include "lib/strvec.h"
#include "lib/xalloc.h"
#include "proxy/control.h"
#include "proxy/dur.h"
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

static int cmd_run(int argc, const char **argv)
{
	static const char usage[] =
	    "berth-proxy run [--http-port 80] [--https-port 443] [--state-dir DIR] [--workers N]\n"
	    "                [--socket PATH]\n"
	    "                [--access-log FILE|-] [--log-request-header NAME]\n"
	    "                [--log-response-header NAME] [--metrics-port PORT]\n"
	    "(--https-port is accepted but not bound: TLS is not built yet)";
	unsigned http_port = 80, workers = 0, max_head_kb = 64;
	const char *listen = NULL, *state_dir = NULL, *socket_path = NULL;
	const char *read_timeout = NULL, *idle_timeout = NULL, *target_timeout = NULL;
	const char *max_body = NULL, *access_log = NULL;
	const char *metrics_port = NULL, *https_port = NULL;
	struct strvec targets = STRVEC_INIT, log_req = STRVEC_INIT, log_resp = STRVEC_INIT;
	struct server_config cfg = {0};
	struct err e = ERR_INIT;
	sigset_t sigs;
	int sig, rc = 1;
	const struct opt opts[] = {
	    OPT_UINT(0, "http-port", &http_port, "PORT", "port for HTTP (default 80; 0: any)"),
	    OPT_STRING(0, "https-port", &https_port, "PORT",
		       "port for HTTPS (default 443); TLS is not built yet: accepted, not bound"),
	    OPT_STRING(0, "listen", &listen, "ADDR", "address to listen on (default 0.0.0.0)"),
	    OPT_UINT(0, "workers", &workers, "N", "worker threads (default: the number of cores)"),
	    OPT_STRING(0, "state-dir", &state_dir, "DIR", "where routing state is kept"),
	    OPT_STRING(0, "socket", &socket_path, "PATH", "control socket"),
	    OPT_STRING(0, "http-read-timeout", &read_timeout, "DUR",
		       "time to receive a request head (default 30s)"),
	    OPT_STRING(0, "http-idle-timeout", &idle_timeout, "DUR",
		       "idle time of keep-alive connections and tunnels (default 60s)"),
	    OPT_UINT(0, "max-header-kb", &max_head_kb, "KB", "largest request head (default 64)"),
	    OPT_LIST(0, "target", &targets, "HOST:PORT",
		     "serve every host from these targets (a default service named 'default')"),
	    OPT_STRING(0, "target-timeout", &target_timeout, "DUR",
		       "with --target: time to wait for a response (default 30s)"),
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
	    OPT_END(),
	};

	cfg.access_log_fd = -1;
	if (parse_opts(argc, argv, opts, usage) < 0) {
		goto out;
	}
	if (https_port) {
		uint64_t port;

		if (!slice_to_u64(slice_cstr(https_port), 65535, &port)) {
			log_error("option '--https-port' expects a port number, got '%s'",
				  https_port);
			goto out;
		}
		/* Accepted so that kamal-proxy's command lines work; said once, at start. */
		log_warn("TLS is not built yet: HTTPS port %u is not bound", (unsigned)port);
	}
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

		if (parse_dur("target-timeout", target_timeout, &s->o.target_timeout_ms) < 0) {
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
			struct target *t = target_new(targets.v[i], &e);

			if (!t) {
				log_error("%s", err_str(&e));
				service_free(s);
				goto out;
			}
			service_add_target(s, t);
		}
		route_publish(route_table_new(&s, 1));
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (server_start(&cfg, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	{
		char *dir = state_dir ? xstrdup(state_dir) : control_default_state_dir();
		char *sock = socket_path_for(socket_path, dir);
		int crc = control_start(sock, dir, &e);

		free(dir);
		free(sock);
		if (crc < 0) {
			log_error("%s", err_str(&e));
			server_stop();
			goto out;
		}
	}
	if (metrics_port) {
		uint64_t port;
		int bound;

		if (!slice_to_u64(slice_cstr(metrics_port), 65535, &port)) {
			log_error("option '--metrics-port' expects a port number, got '%s'",
				  metrics_port);
			server_stop();
			goto out;
		}
		bound = metrics_start((unsigned)port, &e);
		if (bound < 0) {
			log_error("%s", err_str(&e));
			server_stop();
			goto out;
		}
		log_info("metrics on 127.0.0.1:%d", bound);
	}
	log_info("berth-proxy listening on port %u with %u worker(s)", cfg.http_port, cfg.workers);
	sigwait(&sigs, &sig);
	log_info("berth-proxy: signal %d, stopping", sig);
	server_stop();
	rc = 0;
out:
	strvec_clear(&targets);
	strvec_clear(&log_req);
	strvec_clear(&log_resp);
	err_release(&e);
	return rc;
}

static const struct cmd commands[] = {
    {"run", cmd_run, "run the proxy"},
    {"deploy", cmd_deploy, "switch a service to new targets once they are healthy"},
    {"remove", cmd_remove, "remove a service"},
    {"list", cmd_list, "list the services"},
    {"pause", cmd_pause, "hold a service's new requests until resume or the next deploy"},
    {"resume", cmd_resume, "serve a paused or stopped service again"},
    {"stop", cmd_stop, "answer a service's requests with 503 (maintenance)"},
    {"rollout", cmd_rollout, "send a share of a service's traffic to other targets"},
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
