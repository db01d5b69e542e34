#include "proxy/tunnel.h"

#include <stdatomic.h>

#include "proxy/worker.h"
#include "lib/banned.h"

/* Bumped when targets were retired: workers then close the tunnels to them. */
static atomic_uint tunnel_close_gen;

/*
 * Moves bytes one way through a tunnel: from src into buf[*pos, *len), then
 * to dst. On the end of src's stream (once buf is empty) dst is shut down
 * for writing. 1 on progress, 0 when blocked, -1 on an error.
 */
static int tunnel_pump(struct worker *w, struct conn *src, struct conn *dst, char **buf,
		       size_t *cap, size_t *pos, size_t *len, bool *eof, bool *shut,
		       uint64_t *count)
{
	ssize_t n;

	if (*pos < *len) {
		if (!(dst->flags & CONN_F_CAN_WRITE)) {
			return 0;
		}
		n = conn_write(dst, *buf + *pos, *len - *pos);
		if (n < 0) {
			return -1;
		}
		*pos += (size_t)n;
		*count += (uint64_t)n;
		return n > 0;
	}
	if (*eof) {
		if (!*shut) {
			dst->io->shutdown(dst);
			*shut = true;
			return 1;
		}
		return 0;
	}
	if (!(src->flags & CONN_F_CAN_READ)) {
		return 0;
	}
	if (!*buf) {
		*buf = buf_get(w);
		*cap = BUF_SIZE;
	}
	*pos = *len = 0;
	n = conn_read(src, *buf, *cap);
	if (n == -2) {
		return 0;
	}
	if (n < 0) {
		return -1;
	}
	if (!n) {
		*eof = true;
	}
	*len = (size_t)n;
	return 1;
}

int tunnel_step(struct exch *x)
{
	struct client *cl = x->cl;
	struct worker *w = cl->w;
	int a, b;

	a = tunnel_pump(w, &cl->c, &x->up->c, &cl->buf, &cl->cap, &cl->pos, &cl->len, &x->tn_cl_eof,
			&x->tn_up_shut, &x->bytes_in);
	b = a < 0 ? -1
		  : tunnel_pump(w, &x->up->c, &cl->c, &x->ubuf, &x->ucap, &x->upos, &x->ulen,
				&x->tn_up_eof, &x->tn_cl_shut, &x->bytes_out);
	if (a < 0 || b < 0 || (x->tn_up_shut && x->tn_cl_shut)) {
		return exch_fail(x, 0);
	}
	if (a || b) {
		x->tn_active = w->now;
	}
	return a || b;
}

void tunnel_retire(struct target *t)
{
	atomic_store(&t->retired, true);
	atomic_fetch_add(&tunnel_close_gen, 1);
}

void tunnel_close_retired(struct worker *w)
{
	struct dlist *l, *next;

	if (atomic_load_explicit(&tunnel_close_gen, memory_order_acquire) == w->tunnel_gen) {
		return;
	}
	w->tunnel_gen = atomic_load_explicit(&tunnel_close_gen, memory_order_acquire);
	for (l = w->tunnels.next; l != &w->tunnels; l = next) {
		struct exch *x = container_of(l, struct exch, tlink);

		next = l->next;
		if (atomic_load_explicit(&x->t->retired, memory_order_relaxed)) {
			exch_fail(x, 0);
		}
	}
}
