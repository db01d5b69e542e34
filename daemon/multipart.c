/* multipart — see multipart.h. */
#include "daemon/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/banned.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

enum {
	ST_PREAMBLE, /* before the first delimiter: bytes dropped */
	ST_AFTER,    /* just after a delimiter: "--", padding or CRLF next */
	ST_DASH,     /* after a delimiter and one '-' */
	ST_PAD,	     /* in transport padding after a delimiter */
	ST_LF,	     /* after a delimiter's CR: LF next */
	ST_HEAD,     /* in a part's header block */
	ST_DATA,     /* in a part's data */
	ST_EPILOGUE, /* after the closing delimiter: bytes dropped */
};

/* RFC 2046's bchars, but the space (allowed inside, not last). */
static bool bchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("'()+_,-./:=? ", c));
}

static bool lws(int c)
{
	return c == ' ' || c == '\t';
}

/*
 * The next `; key=value` of a header value: key and value into the buffers
 * (a quoted value unquoted). 1 for a parameter, 0 at the end, -1 with e set.
 */
static int next_param(struct slice *rest, struct sbuf *key, struct sbuf *val, const char *what,
		      struct err *e)
{
	const char *p = rest->ptr, *end = rest->ptr + rest->len;

	sbuf_reset(key);
	sbuf_reset(val);
	while (p < end && (lws(*p) || *p == ';')) {
		p++;
	}
	if (p == end) {
		*rest = slice_make(end, 0);
		return 0;
	}
	while (p < end && *p != '=' && *p != ';') {
		sbuf_addch(key, *p++);
	}
	sbuf_rtrim(key);
	if (p == end || *p != '=' || !key->len) {
		return err_set(e, "%s: expected a parameter like key=value, got '%s'", what,
			       key->buf);
	}
	p++;
	while (p < end && lws(*p)) {
		p++;
	}
	if (p < end && *p == '"') {
		p++;
		for (;;) {
			if (p == end) {
				return err_set(e, "%s: the value of '%s' has no closing quote",
					       what, key->buf);
			}
			if (*p == '"') {
				p++;
				break;
			}
			if (*p == '\\' && p + 1 < end) {
				p++;
			}
			sbuf_addch(val, *p++);
		}
		while (p < end && lws(*p)) {
			p++;
		}
		if (p < end && *p != ';') {
			return err_set(e, "%s: unexpected text after the quoted value of '%s'",
				       what, key->buf);
		}
	} else {
		while (p < end && *p != ';') {
			sbuf_addch(val, *p++);
		}
		sbuf_rtrim(val);
	}
	*rest = slice_make(p, (size_t)(end - p));
	return 1;
}

/* The media type of a header value (before any ';'), trimmed. */
static struct slice media_type(struct slice *v)
{
	long semi = slice_find_char(*v, ';');
	struct slice t = slice_trim(semi < 0 ? *v : slice_make(v->ptr, (size_t)semi));

	*v = semi < 0 ? slice_make(v->ptr + v->len, 0) : slice_from(*v, (size_t)semi);
	return t;
}

int multipart_boundary(const char *content_type, char *out, struct err *e)
{
	struct slice v = slice_cstr(content_type), t;
	struct sbuf key = SBUF_INIT, val = SBUF_INIT;
	bool found = false;
	int r, ret = -1;

	out[0] = '\0';
	t = media_type(&v);
	if (!slice_caseeq_cstr(t, "multipart/form-data")) {
		err_set(e, "expected a Content-Type of multipart/form-data, got '%.*s'",
			(int)(t.len > 100 ? 100 : t.len), t.ptr ? t.ptr : "");
		goto out;
	}
	while ((r = next_param(&v, &key, &val, "Content-Type", e)) > 0) {
		if (strcasecmp(key.buf, "boundary")) {
			continue;
		}
		if (found) {
			err_set(e, "Content-Type: two boundaries");
			goto out;
		}
		found = true;
		if (!val.len || val.len > MULTIPART_BOUNDARY_MAX || val.buf[val.len - 1] == ' ' ||
		    strlen(val.buf) != val.len) {
			err_set(e,
				"Content-Type: the boundary must be 1 to %d characters, not ending "
				"in a space",
				MULTIPART_BOUNDARY_MAX);
			goto out;
		}
		for (size_t i = 0; i < val.len; i++) {
			if (!bchar((unsigned char)val.buf[i])) {
				err_set(e,
					"Content-Type: the boundary holds a character RFC 2046 "
					"does not allow (0x%02x)",
					(unsigned char)val.buf[i]);
				goto out;
			}
		}
		memcpy(out, val.buf, val.len + 1);
	}
	if (r < 0) {
		goto out;
	}
	if (!found) {
		err_set(e, "Content-Type: multipart/form-data without a boundary parameter");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		out[0] = '\0';
	}
	sbuf_release(&key);
	sbuf_release(&val);
	return ret;
}

int multipart_init(struct multipart *m, const char *content_type, const struct multipart_ops *ops,
		   void *ctx, const struct multipart_limits *lim, struct err *e)
{
	char b[MULTIPART_BOUNDARY_MAX + 1];

	memset(m, 0, sizeof(*m));
	if (multipart_boundary(content_type, b, e) < 0) {
		return -1;
	}
	m->ops = ops;
	m->ctx = ctx;
	if (lim) {
		m->lim = *lim;
	}
	if (!m->lim.header_max) {
		m->lim.header_max = MULTIPART_HEADER_MAX_DEFAULT;
	}
	if (!m->lim.parts_max) {
		m->lim.parts_max = MULTIPART_PARTS_MAX_DEFAULT;
	}
	if (!m->lim.total_max) {
		m->lim.total_max = MULTIPART_TOTAL_MAX_DEFAULT;
	}
	m->delim_len = 4 + strlen(b);
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, b, strlen(b) + 1);
	/* the first delimiter may open the body: as if a CRLF came before it */
	m->matched = 2;
	m->state = ST_PREAMBLE;
	sbuf_init(&m->head, 256);
	return 0;
}

static void clear_part(struct multipart *m)
{
	free(m->name);
	free(m->filename);
	free(m->content_type);
	m->name = m->filename = m->content_type = NULL;
	m->part.name = m->part.filename = m->part.content_type = NULL;
	m->in_part = false;
}

void multipart_release(struct multipart *m)
{
	clear_part(m);
	sbuf_release(&m->head);
}

/* Bytes of the body that are data: the current part's, or dropped outside parts. */
static int emit(struct multipart *m, const void *p, size_t n, struct err *e)
{
	if (m->state != ST_DATA || !n || !m->ops->data) {
		return 0;
	}
	if (m->ops->data(m->ctx, &m->part, p, n, e) < 0) {
		if (!err_isset(e)) {
			err_set(e, "part '%s' was refused", m->part.name);
		}
		return -1;
	}
	return 0;
}

/*
 * Looks for the delimiter in p[0..len), passing the bytes before it on as
 * data. 1 when it was found (*used: bytes up to its end), 0 when all of p
 * was read without finding it, -1 with e set. The delimiter has its only
 * CR at its start (the boundary holds none), so when a match breaks, the
 * bytes held are all data and the search restarts at the breaking byte.
 */
static int scan(struct multipart *m, const unsigned char *p, size_t len, size_t *used,
		struct err *e)
{
	size_t i = 0;

	while (i < len) {
		if (!m->matched) {
			const unsigned char *cr = memchr(p + i, '\r', len - i);
			size_t stop = cr ? (size_t)(cr - p) : len;

			if (emit(m, p + i, stop - i, e) < 0) {
				return -1;
			}
			i = stop;
			if (cr) {
				m->matched = 1;
				i++;
			}
			continue;
		}
		if (p[i] == (unsigned char)m->delim[m->matched]) {
			i++;
			if (++m->matched == m->delim_len) {
				m->matched = 0;
				*used = i;
				return 1;
			}
			continue;
		}
		if (emit(m, m->delim, m->matched, e) < 0) {
			return -1;
		}
		m->matched = 0;
	}
	*used = len;
	return 0;
}

/* Reads the part's header block (without its final CRLF CRLF) into the part's fields. */
static int parse_head(struct multipart *m, struct err *e)
{
	struct slice rest = slice_make(m->head.buf, m->head.len), line;
	struct sbuf key = SBUF_INIT, val = SBUF_INIT;
	bool have_cd = false;
	int ret = -1;
	unsigned idx = m->part.index;

	while (rest.len) {
		long eol = slice_find(rest, "\r\n");
		struct slice name, value;
		long colon;

		line = eol < 0 ? rest : slice_make(rest.ptr, (size_t)eol);
		rest = eol < 0 ? slice_make(rest.ptr + rest.len, 0)
			       : slice_from(rest, (size_t)eol + 2);
		if (!line.len) {
			continue;
		}
		if (memchr(line.ptr, '\0', line.len) || memchr(line.ptr, '\r', line.len) ||
		    memchr(line.ptr, '\n', line.len)) {
			err_set(e, "part %u: a header line holds a NUL, CR or LF byte", idx + 1);
			goto out;
		}
		if (lws(line.ptr[0])) {
			err_set(e, "part %u: folded header lines are not supported", idx + 1);
			goto out;
		}
		colon = slice_find_char(line, ':');
		if (colon <= 0) {
			err_set(e, "part %u: expected a header line like 'Name: value', got '%.*s'",
				idx + 1, (int)(line.len > 80 ? 80 : line.len), line.ptr);
			goto out;
		}
		name = slice_trim(slice_make(line.ptr, (size_t)colon));
		value = slice_trim(slice_from(line, (size_t)colon + 1));
		if (slice_caseeq_cstr(name, "Content-Type")) {
			if (m->content_type) {
				err_set(e, "part %u: two Content-Type headers", idx + 1);
				goto out;
			}
			m->content_type = slice_dup(value);
		} else if (slice_caseeq_cstr(name, "Content-Disposition")) {
			struct slice type;
			char where[64];
			int r;

			if (have_cd) {
				err_set(e, "part %u: two Content-Disposition headers", idx + 1);
				goto out;
			}
			have_cd = true;
			type = media_type(&value);
			if (!slice_caseeq_cstr(type, "form-data")) {
				err_set(e,
					"part %u: expected Content-Disposition: form-data, got "
					"'%.*s'",
					idx + 1, (int)(type.len > 80 ? 80 : type.len),
					type.ptr ? type.ptr : "");
				goto out;
			}
			snprintf(where, sizeof(where), "part %u: Content-Disposition", idx + 1);
			while ((r = next_param(&value, &key, &val, where, e)) > 0) {
				char **dst = !strcasecmp(key.buf, "name")	? &m->name
					     : !strcasecmp(key.buf, "filename") ? &m->filename
										: NULL;
				if (!dst) {
					continue; /* filename*, size, ...: not used by form-data */
				}
				if (*dst) {
					err_set(e, "%s: two '%s' parameters", where, key.buf);
					goto out;
				}
				if (strlen(val.buf) != val.len) {
					err_set(e, "%s: '%s' holds a NUL byte", where, key.buf);
					goto out;
				}
				*dst = xstrdup(val.buf);
			}
			if (r < 0) {
				goto out;
			}
		}
	}
	if (!have_cd) {
		err_set(e,
			"part %u: no Content-Disposition header (expected form-data with a name)",
			idx + 1);
		goto out;
	}
	if (!m->name) {
		err_set(e, "part %u: Content-Disposition without a name", idx + 1);
		goto out;
	}
	m->part.name = m->name;
	m->part.filename = m->filename;
	m->part.content_type = m->content_type;
	ret = 0;
out:
	sbuf_release(&key);
	sbuf_release(&val);
	return ret;
}

static int part_end(struct multipart *m, struct err *e)
{
	int r = 0;

	if (m->ops->end && m->ops->end(m->ctx, &m->part, e) < 0) {
		if (!err_isset(e)) {
			err_set(e, "part '%s' was refused", m->part.name);
		}
		r = -1;
	}
	m->part.index++;
	clear_part(m);
	return r;
}

/* A header byte; a complete block starts the part. 0, or -1 with e set. */
static int head_byte(struct multipart *m, unsigned char c, struct err *e)
{
	struct sbuf *h = &m->head;

	sbuf_addch(h, c);
	if (h->len > m->lim.header_max) {
		return err_set(e, "part %u: its headers are longer than %zu bytes",
			       m->part.index + 1, m->lim.header_max);
	}
	if (!(h->len == 2 && !memcmp(h->buf, "\r\n", 2)) &&
	    !(h->len >= 4 && !memcmp(h->buf + h->len - 4, "\r\n\r\n", 4))) {
		return 0;
	}
	sbuf_setlen(h, h->len - 2);
	if (parse_head(m, e) < 0) {
		return -1;
	}
	m->in_part = true;
	m->state = ST_DATA;
	if (m->ops->begin && m->ops->begin(m->ctx, &m->part, e) < 0) {
		if (!err_isset(e)) {
			err_set(e, "part '%s' was refused", m->part.name);
		}
		return -1;
	}
	return 0;
}

int multipart_feed(struct multipart *m, const void *buf, size_t len, struct err *e)
{
	const unsigned char *p = buf;
	size_t i = 0, used;
	int r;

	if (m->failed) {
		return err_set(e, "the multipart body was refused already");
	}
	if (len > m->lim.total_max - m->total) {
		err_set(e, "the body is larger than %llu bytes",
			(unsigned long long)m->lim.total_max);
		goto fail;
	}
	m->total += len;
	while (i < len) {
		switch (m->state) {
		case ST_PREAMBLE:
		case ST_DATA:
			r = scan(m, p + i, len - i, &used, e);
			if (r < 0) {
				goto fail;
			}
			i += used;
			if (r == 1) {
				if (m->state == ST_DATA && part_end(m, e) < 0) {
					goto fail;
				}
				m->state = ST_AFTER;
			}
			break;
		case ST_AFTER:
		case ST_DASH:
		case ST_PAD:
		case ST_LF: {
			unsigned char c = p[i++];

			if (m->state == ST_AFTER && c == '-') {
				m->state = ST_DASH;
			} else if (m->state == ST_DASH) {
				if (c != '-') {
					err_set(e, "after a boundary: expected '--' or a line end");
					goto fail;
				}
				m->state = ST_EPILOGUE;
			} else if ((m->state == ST_AFTER || m->state == ST_PAD) && lws(c)) {
				m->state = ST_PAD;
			} else if ((m->state == ST_AFTER || m->state == ST_PAD) && c == '\r') {
				m->state = ST_LF;
			} else if (m->state == ST_LF && c == '\n') {
				if (m->part.index >= m->lim.parts_max) {
					err_set(e, "more than %u parts", m->lim.parts_max);
					goto fail;
				}
				sbuf_reset(&m->head);
				m->state = ST_HEAD;
			} else {
				err_set(e, "after a boundary: expected '--' or a line end");
				goto fail;
			}
			break;
		}
		case ST_HEAD:
			if (head_byte(m, p[i++], e) < 0) {
				goto fail;
			}
			break;
		case ST_EPILOGUE:
			i = len;
			break;
		}
	}
	return 0;
fail:
	m->failed = true;
	return -1;
}

int multipart_finish(struct multipart *m, struct err *e)
{
	if (m->failed) {
		return err_set(e, "the multipart body was refused already");
	}
	if (m->state == ST_EPILOGUE) {
		return 0;
	}
	m->failed = true;
	if (m->state == ST_DATA) {
		return err_set(e, "the body ends inside part '%s' (no closing boundary)",
			       m->part.name);
	}
	if (m->state == ST_PREAMBLE && !m->part.index) {
		return err_set(e, "the body holds no boundary line: not multipart/form-data");
	}
	return err_set(e, "the body ends before its closing boundary");
}
