#include "proxy/errpages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

/* What the proxy answers with on its own (proxy/server.h). */
static const unsigned statuses[] = {400, 404, 408, 413, 431, 500, 501, 502, 503, 504, 505};

/* The length of a placeholder "{{ .Message }}" at p, or 0. */
static size_t placeholder_at(struct slice s)
{
	size_t i = 0;

	if (s.len < 2 || s.ptr[0] != '{' || s.ptr[1] != '{') {
		return 0;
	}
	i = 2;
	while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t')) {
		i++;
	}
	if (!slice_starts_with(slice_from(s, i), ".Message")) {
		return 0;
	}
	i += strlen(".Message");
	while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t')) {
		i++;
	}
	if (i + 2 > s.len || s.ptr[i] != '}' || s.ptr[i + 1] != '}') {
		return 0;
	}
	return i + 2;
}

/* tmpl with every placeholder replaced by msg, HTML-escaped. */
static void render(struct sbuf *out, const char *tmpl, size_t len, const char *msg)
{
	struct slice rest = slice_make(tmpl, len);

	while (rest.len) {
		long brace = slice_find_char(rest, '{');
		size_t n;

		if (brace < 0) {
			sbuf_add(out, rest.ptr, rest.len);
			break;
		}
		sbuf_add(out, rest.ptr, (size_t)brace);
		rest = slice_from(rest, (size_t)brace);
		n = placeholder_at(rest);
		if (n) {
			sbuf_add_markup(out, msg);
		} else {
			sbuf_addch(out, '{');
			n = 1;
		}
		rest = slice_from(rest, n);
	}
}

/* Reads path into sb: 1 when read, 0 when there is no such file, -1 with e set. */
static int read_page(const char *path, struct sbuf *sb, struct err *e)
{
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		return 0;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		err_set(e, "cannot read error page '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "error page '%s' is not a regular file", path);
		goto out;
	}
	do {
		n = sbuf_read_once(sb, fd, 65536);
	} while (n > 0 && sb->len <= ERRPAGES_MAX_SIZE);
	if (n < 0) {
		err_set(e, "cannot read error page '%s': %s", path, strerror(errno));
		goto out;
	}
	if (sb->len > ERRPAGES_MAX_SIZE) {
		err_set(e, "error page '%s' is larger than %d KiB", path, ERRPAGES_MAX_SIZE / 1024);
		goto out;
	}
	rc = 1;
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

struct errpages *errpages_load(const char *dir, struct err *e)
{
	struct errpages *p = NULL;
	struct sbuf path = SBUF_INIT, body = SBUF_INIT;
	struct stat st;
	size_t i;

	if (stat(dir, &st) < 0) {
		err_set(e, "cannot read error pages in '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set(e, "error pages: '%s' is not a directory", dir);
		goto out;
	}
	p = xcalloc(1, sizeof(*p));
	atomic_init(&p->refs, 1);
	p->dir = xstrdup(dir);
	p->pages = xcalloc(sizeof(statuses) / sizeof(statuses[0]), sizeof(*p->pages));
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct errpage *pg = &p->pages[p->nr];
		struct sbuf plain = SBUF_INIT;
		int r;

		sbuf_reset(&path);
		sbuf_reset(&body);
		sbuf_addf(&path, "%s/%u.html", dir, statuses[i]);
		r = read_page(path.buf, &body, e);
		if (r < 0) {
			errpages_unref(p);
			p = NULL;
			goto out;
		}
		if (!r) {
			continue;
		}
		pg->status = statuses[i];
		render(&plain, body.buf, body.len, NULL);
		pg->body = sbuf_detach(&plain, &pg->len);
		pg->tmpl = sbuf_detach(&body, &pg->tmpl_len);
		p->nr++;
	}
out:
	sbuf_release(&path);
	sbuf_release(&body);
	return p;
}

struct errpages *errpages_ref(struct errpages *p)
{
	if (p) {
		atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	}
	return p;
}

void errpages_unref(struct errpages *p)
{
	size_t i;

	if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	for (i = 0; i < p->nr; i++) {
		free(p->pages[i].body);
		free(p->pages[i].tmpl);
	}
	free(p->pages);
	free(p->dir);
	free(p);
}

const struct errpage *errpages_find(const struct errpages *p, unsigned status)
{
	size_t i;

	for (i = 0; p && i < p->nr; i++) {
		if (p->pages[i].status == status) {
			return &p->pages[i];
		}
	}
	return NULL;
}

char *errpages_render(const struct errpages *p, unsigned status, const char *msg, size_t *len)
{
	const struct errpage *pg = errpages_find(p, status);
	struct sbuf sb = SBUF_INIT;

	if (!pg) {
		return NULL;
	}
	render(&sb, pg->tmpl, pg->tmpl_len, msg);
	return sbuf_detach(&sb, len);
}
