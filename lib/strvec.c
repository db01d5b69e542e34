#include "strvec.h"

#include <stdarg.h>
#include <stdlib.h>

#include "banned.h"
#include "sbuf.h"
#include "xalloc.h"

const char *strvec_empty_array[] = {NULL};

void strvec_init(struct strvec *sv)
{
	sv->v = (char **)strvec_empty_array;
	sv->nr = 0;
	sv->alloc = 0;
}

static void push_owned(struct strvec *sv, char *s)
{
	if (!sv->alloc) {
		sv->v = NULL;
	}
	XGROW(sv->v, sv->alloc, sv->nr + 2);
	sv->v[sv->nr++] = s;
	sv->v[sv->nr] = NULL;
}

void strvec_push(struct strvec *sv, const char *s)
{
	push_owned(sv, xstrdup(s));
}

void strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	push_owned(sv, sbuf_detach(&sb, NULL));
}

void strvec_pushv(struct strvec *sv, const char *const *v)
{
	for (; *v; v++) {
		strvec_push(sv, *v);
	}
}

void strvec_clear(struct strvec *sv)
{
	size_t i;

	if (sv->alloc) {
		for (i = 0; i < sv->nr; i++) {
			free(sv->v[i]);
		}
		free(sv->v);
	}
	strvec_init(sv);
}

char *strvec_join(const struct strvec *sv, const char *sep)
{
	struct sbuf sb = SBUF_INIT;
	size_t i;

	for (i = 0; i < sv->nr; i++) {
		if (i) {
			sbuf_addstr(&sb, sep);
		}
		sbuf_addstr(&sb, sv->v[i]);
	}
	return sbuf_detach(&sb, NULL);
}
