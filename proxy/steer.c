#include "proxy/steer.h"

#include <string.h>
#include <strings.h>

#include "lib/banned.h"

/* host without its port and a final '.'; *port gets the port (empty when none). */
static struct slice host_only(struct slice host, struct slice *port)
{
	long colon = -1;

	*port = slice_make("", 0);
	if (host.len && host.ptr[0] == '[') {
		long end = slice_find_char(host, ']');

		if (end > 0 && (size_t)end + 1 < host.len && host.ptr[end + 1] == ':') {
			colon = end + 1;
		}
	} else {
		colon = slice_find_char(host, ':');
	}
	if (colon >= 0) {
		*port = slice_from(host, (size_t)colon + 1);
		host.len = (size_t)colon;
	}
	if (host.len && host.ptr[host.len - 1] == '.') {
		host.len--;
	}
	return host;
}

static bool same_host(struct slice a, struct slice b)
{
	return a.len == b.len && (!a.len || !strncasecmp(a.ptr, b.ptr, a.len));
}

bool steer_redirect(bool https, bool tls_redirect, const char *canonical, struct slice host,
		    struct steer_redirect *to)
{
	struct slice port, name = host_only(host, &port);
	bool move = false;

	to->https = https;
	to->host = name;
	to->port = port;
	to->keep_port = true;
	if (tls_redirect && !https) {
		/* The client's port was the HTTP one: the HTTPS port is the default. */
		to->https = true;
		to->keep_port = false;
		move = true;
	}
	if (canonical && *canonical && name.len) {
		struct slice c = slice_cstr(canonical);

		if (!same_host(name, c)) {
			to->host = c;
			move = true;
		}
	}
	return move;
}

bool steer_is_read(struct slice method, bool websocket, bool websockets_ok)
{
	if (!slice_eq_cstr(method, "GET") && !slice_eq_cstr(method, "HEAD")) {
		return false;
	}
	return !websocket || websockets_ok;
}

bool steer_cookie(struct slice header, const char *name, struct slice *v)
{
	struct slice rest = header;

	while (rest.len) {
		long semi = slice_find_char(rest, ';');
		struct slice pair = semi < 0 ? rest : slice_make(rest.ptr, (size_t)semi);
		long eq;

		rest = semi < 0 ? slice_make(rest.ptr + rest.len, 0)
				: slice_from(rest, (size_t)semi + 1);
		pair = slice_trim(pair);
		eq = slice_find_char(pair, '=');
		if (eq < 0 || !slice_eq_cstr(slice_trim(slice_make(pair.ptr, (size_t)eq)), name)) {
			continue;
		}
		*v = slice_trim(slice_from(pair, (size_t)eq + 1));
		if (v->len >= 2 && v->ptr[0] == '"' && v->ptr[v->len - 1] == '"') {
			*v = slice_make(v->ptr + 1, v->len - 2);
		}
		return true;
	}
	return false;
}

bool steer_writer_live(struct slice v, uint64_t now_ms)
{
	uint64_t until;

	/* 19 digits fit in 64 bits; a longer value is not one of ours */
	if (!v.len || v.len > 19 || !slice_to_u64(v, UINT64_MAX, &until)) {
		return false;
	}
	return now_ms < until;
}

/* The attribute at a (after its ';'), trimmed, split at '='. */
static void attr_split(struct slice a, struct slice *name, struct slice *val)
{
	long eq;

	a = slice_trim(a);
	eq = slice_find_char(a, '=');
	if (eq < 0) {
		*name = a;
		*val = slice_make(a.ptr + a.len, 0);
		return;
	}
	*name = slice_trim(slice_make(a.ptr, (size_t)eq));
	*val = slice_trim(slice_from(a, (size_t)eq + 1));
}

bool steer_scope_cookie(struct slice value, const char *prefix, struct slice host, struct sbuf *out)
{
	struct slice rest = value, pair, port, req_host = host_only(host, &port);
	struct slice path = SLICE_NULL;
	size_t plen = strlen(prefix);
	long semi = slice_find_char(value, ';'), eq;
	bool first = true;

	while (plen > 1 && prefix[plen - 1] == '/') {
		plen--;
	}
	if (plen <= 1) {
		return false;
	}
	pair = semi < 0 ? value : slice_make(value.ptr, (size_t)semi);
	eq = slice_find_char(pair, '=');
	if (eq <= 0 || !slice_trim(slice_make(pair.ptr, (size_t)eq)).len) {
		return false;
	}
	/* The attributes: a Domain that is not the request's host leaves the cookie alone. */
	while (rest.len) {
		long s = slice_find_char(rest, ';');
		struct slice a = s < 0 ? rest : slice_make(rest.ptr, (size_t)s), n, v;

		rest = s < 0 ? slice_make(rest.ptr + rest.len, 0) : slice_from(rest, (size_t)s + 1);
		if (first) {
			first = false;
			continue;
		}
		attr_split(a, &n, &v);
		if (slice_caseeq_cstr(n, "domain")) {
			if (v.len && v.ptr[0] == '.') {
				v = slice_from(v, 1);
			}
			if (v.len && !same_host(v, req_host)) {
				return false;
			}
		} else if (slice_caseeq_cstr(n, "path")) {
			path = v;
		}
	}
	/* Rebuild: the name=value, every attribute but Path, then ours. */
	sbuf_reset(out);
	sbuf_add(out, pair.ptr, pair.len);
	rest =
	    semi < 0 ? slice_make(value.ptr + value.len, 0) : slice_from(value, (size_t)semi + 1);
	while (rest.len) {
		long s = slice_find_char(rest, ';');
		struct slice a = s < 0 ? rest : slice_make(rest.ptr, (size_t)s), n, v;

		rest = s < 0 ? slice_make(rest.ptr + rest.len, 0) : slice_from(rest, (size_t)s + 1);
		attr_split(a, &n, &v);
		if (!n.len || slice_caseeq_cstr(n, "path")) {
			continue;
		}
		sbuf_addstr(out, "; ");
		a = slice_trim(a);
		sbuf_add(out, a.ptr, a.len);
	}
	while (path.len && path.ptr[0] == '/') {
		path = slice_from(path, 1);
	}
	while (path.len && path.ptr[path.len - 1] == '/') {
		path.len--;
	}
	sbuf_addstr(out, "; Path=");
	sbuf_add(out, prefix, plen);
	if (path.len) {
		sbuf_addch(out, '/');
		sbuf_add(out, path.ptr, path.len);
	}
	return true;
}

bool steer_buffers_response(struct slice content_type)
{
	long semi = slice_find_char(content_type, ';');
	struct slice type = semi < 0 ? content_type : slice_make(content_type.ptr, (size_t)semi);

	return !slice_caseeq_cstr(slice_trim(type), "text/event-stream");
}

bool steer_path_excluded(struct slice path, const struct strvec *paths)
{
	size_t i;

	for (i = 0; i < paths->nr; i++) {
		const char *p = paths->v[i];
		size_t n = strlen(p);

		while (n > 1 && p[n - 1] == '/') {
			n--;
		}
		if (n == 1 && p[0] == '/') {
			return true;
		}
		if (path.len >= n && !memcmp(path.ptr, p, n) &&
		    (path.len == n || path.ptr[n] == '/')) {
			return true;
		}
	}
	return false;
}
