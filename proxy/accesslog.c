#include "proxy/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/strvec.h"
#include "proxy/http1.h"
#include "proxy/metrics.h"
#include "proxy/route.h"
#include "lib/banned.h"

#define LOG_MAX (4 << 20) /* access log bytes a worker keeps when the reader lags */

/* The headers to log: their names, and the JSON text before each value
 * (",\"req_user_agent\":\""). */
static struct strvec log_req_names = STRVEC_INIT, log_req_keys = STRVEC_INIT;
static struct strvec log_resp_names = STRVEC_INIT, log_resp_keys = STRVEC_INIT;

/* JSON string content: quotes, backslashes and control bytes escaped, bytes above 0x7e as
 * \u00XX (header values may carry obs-text, which is not UTF-8). */
static void json_add(struct sbuf *sb, const char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			continue;
		}
		sbuf_add(sb, p + run, i - run);
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};

			sbuf_add(sb, e, 2);
		} else {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			sbuf_add(sb, u, 6);
		}
		run = i + 1;
	}
	sbuf_add(sb, p + run, len - run);
}

/* key is the text before the value: ",\"name\":\"". */
static void json_field(struct sbuf *sb, const char *key, struct slice v)
{
	sbuf_addstr(sb, key);
	json_add(sb, v.ptr, v.len);
	sbuf_addch(sb, '"');
}

/* Whether name is one of the run's headers (names), which are logged already. */
static bool run_logs(const struct strvec *names, const char *name)
{
	size_t i;

	for (i = 0; i < names->nr; i++) {
		if (!strcasecmp(names->v[i], name)) {
			return true;
		}
	}
	return false;
}

/* A service's header: its key built as the run's are ("req_x_real_ip"), then its value. */
static void service_field(struct sbuf *sb, const char *kind, const char *name, struct slice v)
{
	const char *p;

	sbuf_addstr(sb, ",\"");
	sbuf_addstr(sb, kind);
	for (p = name; *p; p++) {
		char c = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p == '-' ? '_' : *p;

		/* a name is a token (proxy/control.h): only '"' and '\\' would need escaping */
		json_add(sb, &c, 1);
	}
	sbuf_addstr(sb, "\":\"");
	json_add(sb, v.ptr, v.len);
	sbuf_addch(sb, '"');
}

/* The request's fields of a log line, from m, into sb (reset first). */
void accesslog_request(struct sbuf *sb, const struct http1_msg *m, const struct service *svc,
		       struct slice rid, const char *ip, bool tls)
{
	size_t i;

	sbuf_reset(sb);
	json_field(sb, "\"request_id\":\"", rid);
	json_field(sb, ",\"service\":\"", slice_cstr(svc ? svc->name : ""));
	json_field(sb, ",\"method\":\"", m->method);
	json_field(sb, ",\"host\":\"", m->host);
	json_field(sb, ",\"path\":\"", m->path);
	json_field(sb, ",\"query\":\"", m->query);
	json_field(sb, ",\"client_addr\":\"", slice_cstr(ip));
	json_field(sb, ",\"scheme\":\"", slice_cstr(tls ? "https" : "http"));
	for (i = 0; i < log_req_keys.nr; i++) {
		struct slice v = http1_header(m, log_req_names.v[i]);

		if (v.ptr) {
			json_field(sb, log_req_keys.v[i], v);
		}
	}
	for (i = 0; svc && i < svc->o.log_req_headers.nr; i++) {
		const char *name = svc->o.log_req_headers.v[i];
		struct slice v = http1_header(m, name);

		if (v.ptr && !run_logs(&log_req_names, name)) {
			service_field(sb, "req_", name, v);
		}
	}
}

void accesslog_response_names(struct sbuf *names, const struct service *svc)
{
	size_t i;

	sbuf_reset(names);
	for (i = 0; svc && i < svc->o.log_resp_headers.nr; i++) {
		if (!run_logs(&log_resp_names, svc->o.log_resp_headers.v[i])) {
			sbuf_add(names, svc->o.log_resp_headers.v[i],
				 strlen(svc->o.log_resp_headers.v[i]) + 1);
		}
	}
}

/* The response's headers to log, from m, appended to sb. */
void accesslog_response(struct sbuf *sb, const struct http1_msg *m, const struct sbuf *names)
{
	size_t i;

	for (i = 0; i < log_resp_keys.nr; i++) {
		struct slice v = http1_header(m, log_resp_names.v[i]);

		if (v.ptr) {
			json_field(sb, log_resp_keys.v[i], v);
		}
	}
	for (i = 0; names && i < names->len; i += strlen(names->buf + i) + 1) {
		struct slice v = http1_header(m, names->buf + i);

		if (v.ptr) {
			service_field(sb, "resp_", names->buf + i, v);
		}
	}
}

static const char *log_now(struct accesslog *lg, uint64_t ms)
{
	if (ms != lg->time_ms || !lg->time[0]) {
		time_t secs = (time_t)(ms / 1000);
		struct tm tm;

		gmtime_r(&secs, &tm);
		snprintf(lg->time, sizeof(lg->time), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (unsigned)(ms % 1000));
		lg->time_ms = ms;
	}
	return lg->time;
}

void accesslog_line(struct accesslog *lg, uint64_t wall_ms, const struct sbuf *fields,
		    const struct target *t, unsigned status, uint64_t in, uint64_t out,
		    uint64_t dur)
{
	struct sbuf *l = &lg->buf;

	if (l->len > LOG_MAX) {
		METRICS_ADD(*lg->dropped, 1);
		return;
	}
	sbuf_addstr(l, "{\"time\":\"");
	sbuf_addstr(l, log_now(lg, wall_ms));
	sbuf_addstr(l, "\",");
	sbuf_add(l, fields->buf, fields->len);
	json_field(l, ",\"target\":\"", slice_cstr(t ? t->addr : ""));
	sbuf_addf(l, ",\"status\":%u,\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_ms\":%llu}\n",
		  status, (unsigned long long)in, (unsigned long long)out, (unsigned long long)dur);
}

/* One write per loop iteration; what the log cannot take now stays for the next. */
void accesslog_flush(struct accesslog *lg)
{
	ssize_t n = write(lg->fd, lg->buf.buf, lg->buf.len);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			return;
		}
		n = (ssize_t)lg->buf.len; /* a log that cannot be written is dropped */
	}
	if ((size_t)n >= lg->buf.len) {
		sbuf_reset(&lg->buf);
		return;
	}
	memmove(lg->buf.buf, lg->buf.buf + n, lg->buf.len - (size_t)n);
	sbuf_setlen(&lg->buf, lg->buf.len - (size_t)n);
}

static void log_keys(struct strvec *keys, struct strvec *out_names, const char *prefix,
		     const char *const *names)
{
	/* set up again (a test does): the lists are replaced, not extended */
	strvec_clear(keys);
	strvec_clear(out_names);
	for (; names && *names; names++) {
		struct sbuf sb = SBUF_INIT;
		const char *p;

		sbuf_addf(&sb, ",\"%s", prefix);
		for (p = *names; *p; p++) {
			unsigned char c = (unsigned char)*p;

			if (c == '-') {
				sbuf_addch(&sb, '_');
			} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
				sbuf_addch(&sb, c);
			} else if (c >= 'A' && c <= 'Z') {
				sbuf_addch(&sb, c + 32);
			}
		}
		sbuf_addstr(&sb, "\":\"");
		strvec_push(keys, sb.buf);
		strvec_push(out_names, *names);
		sbuf_release(&sb);
	}
}

void accesslog_setup(int fd, const char *const *req_headers, const char *const *resp_headers)
{
	log_keys(&log_req_keys, &log_req_names, "req_", req_headers);
	log_keys(&log_resp_keys, &log_resp_names, "resp_", resp_headers);
	if (fd >= 0) {
		struct stat st;

		/* A pipe or socket must not stall a worker: what it cannot take waits. */
		if (!fstat(fd, &st) && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
			int fl = fcntl(fd, F_GETFL);

			if (fl >= 0) {
				fcntl(fd, F_SETFL, fl | O_NONBLOCK);
			}
		}
	}
}

void accesslog_init(struct accesslog *lg, int fd, atomic_uint_fast64_t *dropped)
{
	sbuf_init(&lg->buf, 0);
	lg->fd = fd;
	lg->dropped = dropped;
	lg->time_ms = 0;
	lg->time[0] = '\0';
}

void accesslog_release(struct accesslog *lg)
{
	sbuf_release(&lg->buf);
}
