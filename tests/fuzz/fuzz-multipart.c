/*
 * An upload's multipart/form-data body and its Content-Type come from
 * anyone holding a token. The input is "CONTENT-TYPE\nBODY", the first
 * byte also choosing the size of the pieces the body is fed in. Any bytes
 * must parse or fail cleanly; parts open and close in order, data comes
 * only inside a part, never more bytes than the body holds; and the
 * result (what the parts say, or the error) is the same whether the body
 * comes whole or in pieces.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/multipart.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rec {
	struct sbuf log;
	bool open;
	size_t bytes;
};

static int rec_begin(void *ctx, const struct multipart_part *p, struct err *e)
{
	struct rec *r = ctx;

	if (r->open || !p->name) {
		__builtin_trap();
	}
	r->open = true;
	sbuf_addf(&r->log, "<%s|%s|%s>", p->name, p->filename ? p->filename : "-",
		  p->content_type ? p->content_type : "-");
	return 0;
}

static int rec_data(void *ctx, const struct multipart_part *p, const void *buf, size_t len,
		    struct err *e)
{
	struct rec *r = ctx;

	if (!r->open || !len) {
		__builtin_trap();
	}
	r->bytes += len;
	sbuf_add(&r->log, buf, len);
	return 0;
}

static int rec_end(void *ctx, const struct multipart_part *p, struct err *e)
{
	struct rec *r = ctx;

	if (!r->open) {
		__builtin_trap();
	}
	r->open = false;
	sbuf_addstr(&r->log, "</>");
	return 0;
}

static const struct multipart_ops ops = {rec_begin, rec_data, rec_end};

/* Runs the body in pieces of step bytes; the transcript (or error) into out. */
static int run(const char *ctype, const uint8_t *body, size_t len, size_t step, struct sbuf *out)
{
	/* no input reaches total_max: over it, the error would come earlier when whole */
	const struct multipart_limits lim = {
	    .header_max = 512, .parts_max = 8, .total_max = 1 << 24};
	struct multipart m;
	struct rec r = {SBUF_INIT, false, 0};
	struct err e = ERR_INIT;
	size_t off = 0;
	int rc = -1;

	if (multipart_init(&m, ctype, &ops, &r, &lim, &e) < 0) {
		if (!err_isset(&e)) {
			__builtin_trap();
		}
		sbuf_addf(out, "init error: %s", err_str(&e));
		err_release(&e);
		sbuf_release(&r.log);
		return -1;
	}
	while (off < len) {
		size_t n = step < len - off ? step : len - off;

		if (multipart_feed(&m, body + off, n, &e) < 0) {
			goto out;
		}
		off += n;
	}
	rc = multipart_finish(&m, &e);
	if (rc == 0 && r.open) {
		__builtin_trap();
	}
out:
	if ((rc < 0) != err_isset(&e) || r.bytes > len) {
		__builtin_trap();
	}
	sbuf_add(out, r.log.buf, r.log.len);
	if (rc < 0) {
		sbuf_addf(out, "error: %s", err_str(&e));
	}
	multipart_release(&m);
	sbuf_release(&r.log);
	err_release(&e);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	struct sbuf whole = SBUF_INIT, pieces = SBUF_INIT;
	size_t step;
	char *ctype;

	if (!nl) {
		return 0;
	}
	ctype = xstrndup((const char *)data, (size_t)(nl - data));
	step = size ? (size_t)(data[0] % 16) + 1 : 1;
	run(ctype, nl + 1, size - (size_t)(nl + 1 - data), size, &whole);
	run(ctype, nl + 1, size - (size_t)(nl + 1 - data), step, &pieces);
	if (whole.len != pieces.len || memcmp(whole.buf, pieces.buf, whole.len)) {
		__builtin_trap();
	}
	sbuf_release(&whole);
	sbuf_release(&pieces);
	free(ctype);
	return 0;
}
