/* berthd — the helpers every command shares; see berthd.h. */
#include "daemon/berthd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/sbuf.h"

static void vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_vaddf(&sb, fmt, ap);
	fprintf(f, "%s%s\n", prefix, sb.buf);
	fflush(f);
	sbuf_release(&sb);
}

void bd_step(struct bd *bd, const char *fmt, ...)
{
	va_list ap;
	if (bd->quiet) {
		return;
	}
	va_start(ap, fmt);
	vline(stdout, "-----> ", fmt, ap);
	va_end(ap);
}

void bd_heading(struct bd *bd, const char *fmt, ...)
{
	va_list ap;
	if (bd->quiet) {
		return;
	}
	va_start(ap, fmt);
	vline(stdout, "=====> ", fmt, ap);
	va_end(ap);
}

void bd_info(struct bd *bd, const char *fmt, ...)
{
	va_list ap;
	if (bd->quiet) {
		return;
	}
	va_start(ap, fmt);
	vline(stdout, "       ", fmt, ap);
	va_end(ap);
}

int bd_fail(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	va_start(ap, fmt);
	vline(stderr, " !     ", fmt, ap);
	va_end(ap);
	return 1;
}

int bd_fail_err(struct err *e)
{
	const char *s = err_str(e);
	const char *nl;

	/* Every line of a long error (a build's last lines) as an error line. */
	fflush(stdout);
	while ((nl = strchr(s, '\n'))) {
		fprintf(stderr, " !     %.*s\n", (int)(nl - s), s);
		s = nl + 1;
	}
	fprintf(stderr, " !     %s\n", s);
	return 1;
}

int bd_usage(const char *usage)
{
	return bd_fail("usage: %s", usage);
}

void bd_event(struct bd *bd, const char *app, const char *action, const char *names)
{
	struct err e = ERR_INIT;

	/* An event that cannot be written does not undo what was done. */
	if (store_event_add(&bd->store, bd->key, app, action, names, &e) < 0) {
		fprintf(stderr, "warning: %s\n", err_str(&e));
	}
	err_release(&e);
}

void bd_event_v(struct bd *bd, const char *app, const char *action, const struct strvec *names)
{
	char *j = strvec_join(names, ",");
	bd_event(bd, app, action, j);
	free(j);
}

bool bd_can(struct bd *bd, const char *app, unsigned right)
{
	char *have = NULL;
	bool ok = false;

	if (bd->admin) {
		return true;
	}
	if (!bd->key || !app) {
		return false;
	}
	if (store_right_get(&bd->store, bd->key, app, &have, NULL) == 1) {
		ok = !strcmp(have, "deploy") || (right == BD_READ && !strcmp(have, "read"));
	}
	free(have);
	return ok;
}

char *bd_path(struct bd *bd, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	sbuf_addf(&sb, "%s/", bd->state_dir);
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	return sbuf_detach(&sb, NULL);
}

int bd_opts(int argc, const char **argv, const struct opt *opts, const char *usage)
{
	const struct opt *tables[] = {opts, NULL};
	struct err e = ERR_INIT;
	int n = opt_parse(argc, argv, tables, 0, &e);

	if (n < 0) {
		bd_fail_err(&e);
		bd_usage(usage);
	}
	err_release(&e);
	return n;
}
