/*
 * log — messages for people, events for machines.
 *
 * People get lines like "error: cannot open 'x': No such file" on stderr,
 * coloured only when stderr is a terminal and NO_COLOR is not set. With
 * LOG_F_JSON every message becomes one JSON object per line instead
 * ({"time":"...","level":"error","msg":"..."}), and log_event() adds
 * structured fields, so a CI system can follow what berth does.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

enum log_flags {
	LOG_F_JSON = 1 << 0,	 /* JSON lines instead of text */
	LOG_F_NO_COLOR = 1 << 1, /* never colour, even on a terminal */
};

/*
 * Sets the level (messages above it are dropped), flags, and the stream
 * (NULL = stderr). Colour is decided here, from the stream being a terminal
 * and NO_COLOR being unset or empty.
 */
void log_setup(enum log_level level, unsigned flags, FILE *out);
enum log_level log_get_level(void);
bool log_is_json(void);
/* Whether output to a terminal should be coloured (also for tables on stdout). */
bool log_color_for(FILE *f);
/* An ANSI colour sequence when colour is on for f, else "". */
const char *log_color(FILE *f, const char *ansi);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * A structured event: name plus NULL-terminated key/value string pairs. In
 * JSON mode it is one object {"time","level","event",key:value...}; in text
 * mode "event key=value ...", shown only at LOG_DEBUG.
 */
void log_event(enum log_level level, const char *event, ...) __attribute__((sentinel));

#endif
