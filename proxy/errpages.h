/*
 * errpages — a service's own error pages (`berth-proxy deploy --error-pages DIR`).
 *
 * When the proxy answers for a service itself (502, 503, 504, the 503 of
 * `stop`, 413, ...) it serves DIR/<status>.html as text/html when the
 * directory has one, else its own short text. The files are read when the
 * service is deployed (and again when the state is restored at start),
 * each at most ERRPAGES_MAX_SIZE bytes, for the statuses the proxy can
 * answer with: the data plane never touches the disk.
 *
 * A page may hold kamal-proxy's template placeholder "{{ .Message }}"
 * (spaces inside the braces optional): errpages_render() puts a message
 * there, HTML-escaped (the stop message of `stop --message`); the bodies
 * errpages_find() returns have it replaced by nothing.
 *
 * A set of pages is immutable once loaded, and shared by reference between
 * the copies of a service (every routing table has its own) and the
 * requests that may still answer with it.
 */
#ifndef ERRPAGES_H
#define ERRPAGES_H

#include <stdatomic.h>
#include <stddef.h>

#include "lib/err.h"

#define ERRPAGES_MAX_SIZE (256 * 1024)

struct errpage {
	unsigned status;
	char *body; /* placeholders replaced by nothing */
	size_t len;
	char *tmpl; /* as read */
	size_t tmpl_len;
};

struct errpages {
	atomic_long refs;
	char *dir;
	struct errpage *pages;
	size_t nr;
};

/*
 * Reads DIR/<status>.html for every status the proxy answers with. Returns
 * a set with one reference (it may hold no page), or NULL with e set when
 * dir is not a readable directory or a page cannot be read or is larger
 * than ERRPAGES_MAX_SIZE.
 */
struct errpages *errpages_load(const char *dir, struct err *e);
struct errpages *errpages_ref(struct errpages *p);
/* Drops a reference (p may be NULL); the last one frees the set. */
void errpages_unref(struct errpages *p);
/* The page for status, or NULL (also when p is NULL). */
const struct errpage *errpages_find(const struct errpages *p, unsigned status);
/*
 * The page for status with msg (HTML-escaped; NULL: nothing) in place of
 * every placeholder: a malloc'd string, its length in *len. NULL when there
 * is no such page.
 */
char *errpages_render(const struct errpages *p, unsigned status, const char *msg, size_t *len);

#endif
