/* apilogs — see apilogs.h. */
#include "daemon/apilogs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/apictx.h"
#include "daemon/reaper.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

#define LOGS_PREFIX "/api/v1/apps/"

struct tailer {
	pid_t pid; /* the `berthd logs` child, leader of its process group; 0: none */
	int out;   /* its output */
	char *q;   /* the search, or NULL */
};

/* Whether line[0, n) holds q, ASCII case ignored. */
static bool holds(const char *line, size_t n, const char *q)
{
	size_t m = strlen(q);

	if (!m) {
		return true;
	}
	for (size_t i = 0; i + m <= n; i++) {
		if (!strncasecmp(line + i, q, m)) {
			return true;
		}
	}
	return false;
}

size_t apilogs_events(const char *buf, size_t len, const char *q, struct sbuf *out)
{
	size_t used = 0;

	while (used < len) {
		const char *p = buf + used, *nl = memchr(p, '\n', len - used);
		size_t n, take;

		if (nl) {
			n = (size_t)(nl - p);
			take = n + 1;
		} else if (len - used >= APILOGS_LINE_MAX) {
			n = take = APILOGS_LINE_MAX;
		} else {
			break;
		}
		if (n > APILOGS_LINE_MAX) {
			n = APILOGS_LINE_MAX;
		}
		if (n && p[n - 1] == '\r') {
			n--;
		}
		if (!q || holds(p, n, q)) {
			sbuf_addstr(out, "data: ");
			for (size_t i = 0; i < n; i++) {
				unsigned char c = (unsigned char)p[i];
				sbuf_addch(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
			}
			sbuf_addstr(out, "\n\n");
		}
		used += take;
	}
	return used;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void tailer_free(void *arg)
{
	struct tailer *t = arg;

	if (t->pid > 0) {
		kill(-t->pid, SIGTERM);
		(void)reaper_wait(t->pid);
	}
	if (t->out >= 0) {
		close(t->out);
	}
	free(t->q);
	free(t);
}

/* Until the output ends or the client goes: the lines as events. */
static void tailer_stream(int fd, void *arg)
{
	struct tailer *t = arg;
	struct sbuf in = SBUF_INIT, ev = SBUF_INIT;
	char buf[16384];

	if (send_all(fd, ": berth logs\n\n", 14) < 0) {
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = t->out, .events = POLLIN},
				      {.fd = fd, .events = POLLIN | POLLRDHUP}};
		int r = poll(p, 2, APILOGS_KEEPALIVE_S * 1000);
		size_t used;

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			break;
		}
		if (r == 0) {
			if (send_all(fd, ": keep-alive\n\n", 14) < 0) {
				break;
			}
			continue;
		}
		if (p[1].revents) {
			/* a client of an event stream sends nothing: this is its end */
			break;
		}
		if (!p[0].revents) {
			continue;
		}
		ssize_t n = read(t->out, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			if (in.len) {
				sbuf_addch(&in, '\n');
				sbuf_reset(&ev);
				apilogs_events(in.buf, in.len, t->q, &ev);
				(void)send_all(fd, ev.buf, ev.len);
			}
			(void)send_all(fd, "event: end\ndata: \n\n", 19);
			break;
		}
		sbuf_add(&in, buf, (size_t)n);
		sbuf_reset(&ev);
		used = apilogs_events(in.buf, in.len, t->q, &ev);
		memmove(in.buf, in.buf + used, in.len - used);
		sbuf_setlen(&in, in.len - used);
		if (ev.len && send_all(fd, ev.buf, ev.len) < 0) {
			break;
		}
	}
out:
	sbuf_release(&in);
	sbuf_release(&ev);
}

/* Starts `berthd logs APP -n N -t` in a process group of its own, its output on a pipe. */
static int start_tail(struct tailer *t, const char *app, unsigned tail)
{
	char self[4096], n[16];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int pipefd[2], rc;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;

	if (len <= 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		return -1;
	}
	self[len] = 0;
	snprintf(n, sizeof(n), "%u", tail);
	char *argv[] = {self, "logs", (char *)app, "-n", n, "-t", NULL};
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	rc = reaper_spawn(&t->pid, self, &fa, &at, argv);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		t->pid = 0;
		errno = rc;
		return -1;
	}
	t->out = pipefd[0];
	return 0;
}

void apilogs_h_logs(const struct http_request *req, struct http_response *resp, void *data)
{
	struct apictx c;
	struct store_user u = {0};
	struct strvec apps = STRVEC_INIT, roles = STRVEC_INIT;
	struct tailer *t = NULL;
	char *app = NULL, *tail_s = NULL;
	const char *rest = req->path + strlen(LOGS_PREFIX), *slash = strchr(rest, '/');
	unsigned long tail = 100;
	bool readable = false;

	if (apictx_open_setup(&c, req, resp, data) < 0) {
		goto out;
	}
	if (strncmp(req->path, LOGS_PREFIX, strlen(LOGS_PREFIX)) || !slash || slash == rest ||
	    strcmp(slash, "/logs")) {
		apictx_fail(resp, 404, "not found");
		goto out;
	}
	if (apictx_auth(&c, req, resp, &u, 0) <= 0) {
		goto out;
	}
	app = xstrndup(rest, (size_t)(slash - rest));
	if (apictx_readable_apps(&c, &u, &apps, &roles) < 0) {
		log_error("http: %s", err_str(&c.e));
		apictx_fail(resp, 500, "cannot read berthd's records");
		goto out;
	}
	apictx_token_limit(&c, &apps, &roles);
	for (size_t i = 0; i < apps.nr; i++) {
		readable = readable || !strcmp(apps.v[i], app);
	}
	if (!readable) {
		apictx_fail(resp, 404, "no such app");
		goto out;
	}
	tail_s = http_form_get(req->query, strlen(req->query), "tail");
	if (tail_s) {
		char *end;
		errno = 0;
		tail = strtoul(tail_s, &end, 10);
		if (errno || end == tail_s || *end || tail > APILOGS_TAIL_MAX) {
			apictx_fail(resp, 400, "tail: expected a number of lines, 0 to 10000");
			goto out;
		}
	}
	t = xcalloc(1, sizeof(*t));
	t->out = -1;
	t->q = http_form_get(req->query, strlen(req->query), "q");
	if (start_tail(t, app, (unsigned)tail) < 0) {
		log_error("http: cannot start the logs of %s: %s", app, strerror(errno));
		apictx_fail(resp, 503, "cannot read the app's logs now: try again");
		goto out;
	}
	resp->status = 200;
	resp->type = "text/event-stream";
	http_add_header(resp, "X-Accel-Buffering: no");
	resp->stream = tailer_stream;
	resp->stream_free = tailer_free;
	resp->stream_arg = t;
	t = NULL;
out:
	if (t) {
		tailer_free(t);
	}
	free(app);
	free(tail_s);
	strvec_clear(&apps);
	strvec_clear(&roles);
	store_user_release(&u);
	apictx_close(&c);
}
