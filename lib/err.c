#include "err.h"

#include <stdarg.h>
#include <stdlib.h>

#include "banned.h"
#include "xalloc.h"

void err_init(struct err *e)
{
	e->file = NULL;
	e->line = e->col = 0;
	sbuf_init(&e->msg, 0);
	sbuf_init(&e->full, 0);
	e->set = false;
}

void err_release(struct err *e)
{
	free(e->file);
	sbuf_release(&e->msg);
	sbuf_release(&e->full);
	err_init(e);
}

static void vset(struct err *e, const char *fmt, va_list ap)
{
	sbuf_reset(&e->msg);
	sbuf_vaddf(&e->msg, fmt, ap);
	e->set = true;
}

int err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e) {
		return -1;
	}
	free(e->file);
	e->file = NULL;
	e->line = e->col = 0;
	va_start(ap, fmt);
	vset(e, fmt, ap);
	va_end(ap);
	return -1;
}

int err_setat(struct err *e, const char *file, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	if (!e) {
		return -1;
	}
	free(e->file);
	e->file = file ? xstrdup(file) : NULL;
	e->line = line;
	e->col = col;
	va_start(ap, fmt);
	vset(e, fmt, ap);
	va_end(ap);
	return -1;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	if (!e) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	sbuf_addstr(&sb, ": ");
	sbuf_add(&sb, e->msg.buf, e->msg.len);
	sbuf_release(&e->msg);
	e->msg = sb;
	e->set = true;
}

const char *err_str(struct err *e)
{
	sbuf_reset(&e->full);
	if (e->file) {
		sbuf_addf(&e->full, "%s:", e->file);
		if (e->line) {
			sbuf_addf(&e->full, "%u:", e->line);
			if (e->col) {
				sbuf_addf(&e->full, "%u:", e->col);
			}
		}
		sbuf_addch(&e->full, ' ');
	}
	sbuf_add(&e->full, e->msg.buf, e->msg.len);
	return e->full.buf;
}
