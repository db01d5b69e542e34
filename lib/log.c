#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "sbuf.h"

static enum log_level cur_level = LOG_INFO;
static unsigned cur_flags;
static FILE *cur_out;
static bool cur_color;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const char *const level_colors[] = {"\033[1;31m", "\033[1;33m", "", "\033[2m"};

bool log_color_for(FILE *f)
{
	const char *nc = getenv("NO_COLOR");

	if (cur_flags & (LOG_F_NO_COLOR | LOG_F_JSON)) {
		return false;
	}
	if (nc && *nc) {
		return false;
	}
	return isatty(fileno(f)) == 1;
}

const char *log_color(FILE *f, const char *ansi)
{
	return log_color_for(f) ? ansi : "";
}

void log_setup(enum log_level level, unsigned flags, FILE *out)
{
	cur_level = level;
	cur_flags = flags;
	cur_out = out;
	cur_color = log_color_for(out ? out : stderr);
}

enum log_level log_get_level(void)
{
	return cur_level;
}

bool log_is_json(void)
{
	return cur_flags & LOG_F_JSON;
}

static FILE *out_stream(void)
{
	return cur_out ? cur_out : stderr;
}

static void add_time(struct sbuf *sb)
{
	struct timeval tv;
	struct tm tm;
	char buf[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	sbuf_addf(sb, "%s.%03ldZ", buf, (long)(tv.tv_usec / 1000));
}

static void json_head(struct sbuf *sb, enum log_level level)
{
	sbuf_addstr(sb, "{\"time\":\"");
	add_time(sb);
	sbuf_addf(sb, "\",\"level\":\"%s\"", level_names[level]);
}

static void json_field(struct sbuf *sb, const char *k, const char *v)
{
	sbuf_addstr(sb, ",\"");
	sbuf_add_json_escaped(sb, k, strlen(k));
	sbuf_addstr(sb, "\":\"");
	sbuf_add_json_escaped(sb, v, strlen(v));
	sbuf_addch(sb, '"');
}

static void emit(struct sbuf *sb)
{
	FILE *f = out_stream();

	fwrite(sb->buf, 1, sb->len, f);
	fflush(f);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT, msg = SBUF_INIT;
	va_list ap;

	if (level > cur_level) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (cur_flags & LOG_F_JSON) {
		json_head(&sb, level);
		json_field(&sb, "msg", msg.buf);
		sbuf_addstr(&sb, "}\n");
	} else if (level == LOG_INFO) {
		sbuf_addf(&sb, "%s\n", msg.buf);
	} else {
		sbuf_addf(&sb, "%s%s:%s %s\n", cur_color ? level_colors[level] : "",
			  level_names[level], cur_color ? "\033[0m" : "", msg.buf);
	}
	emit(&sb);
	sbuf_release(&sb);
	sbuf_release(&msg);
}

void log_event(enum log_level level, const char *event, ...)
{
	struct sbuf sb = SBUF_INIT;
	const char *k, *v;
	va_list ap;

	if (!(cur_flags & LOG_F_JSON) && cur_level < LOG_DEBUG) {
		return;
	}
	if ((cur_flags & LOG_F_JSON) && level > cur_level) {
		return;
	}
	va_start(ap, event);
	if (cur_flags & LOG_F_JSON) {
		json_head(&sb, level);
		json_field(&sb, "event", event);
		while ((k = va_arg(ap, const char *)) && (v = va_arg(ap, const char *))) {
			json_field(&sb, k, v);
		}
		sbuf_addstr(&sb, "}\n");
	} else {
		sbuf_addf(&sb, "%sevent: %s", cur_color ? level_colors[LOG_DEBUG] : "", event);
		while ((k = va_arg(ap, const char *)) && (v = va_arg(ap, const char *))) {
			sbuf_addf(&sb, " %s=%s", k, v);
		}
		sbuf_addf(&sb, "%s\n", cur_color ? "\033[0m" : "");
	}
	va_end(ap);
	emit(&sb);
	sbuf_release(&sb);
}
