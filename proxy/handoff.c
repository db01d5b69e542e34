#include "proxy/handoff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define MAX_LINE 4096 /* the longest line either side reads */

void handoff_init(struct handoff *h)
{
	h->fd = -1;
	h->ls = NULL;
	h->nr = 0;
}

void handoff_release(struct handoff *h)
{
	size_t i;

	for (i = 0; i < h->nr; i++) {
		if (h->ls[i].fd >= 0) {
			close(h->ls[i].fd);
		}
	}
	free(h->ls);
	if (h->fd >= 0) {
		close(h->fd);
	}
	handoff_init(h);
}

/* Reads into sb until it holds a '\n'. Returns the line's length (without it), or -1. */
static long read_line(int fd, struct sbuf *sb)
{
	long nl;

	while ((nl = slice_find_char(slice_make(sb->buf, sb->len), '\n')) < 0) {
		ssize_t n;

		if (sb->len > MAX_LINE) {
			return -1;
		}
		n = sbuf_read_once(sb, fd, 512);
		if (n <= 0) {
			return -1;
		}
	}
	return nl;
}

/* Drops the first line (and its '\n') from sb. */
static void drop_line(struct sbuf *sb, long nl)
{
	memmove(sb->buf, sb->buf + nl + 1, sb->len - (size_t)nl - 1);
	sbuf_setlen(sb, sb->len - (size_t)nl - 1);
}

/* A refusal: "e WHY" lines up to "x STATUS"; e gets the reasons. */
static int refused(int fd, struct sbuf *sb, struct err *e)
{
	struct sbuf why = SBUF_INIT;
	long nl;

	while ((nl = read_line(fd, sb)) >= 0) {
		if (nl >= 2 && sb->buf[0] == 'e') {
			sbuf_addf(&why, "%s%.*s", why.len ? "; " : "", (int)nl - 2, sb->buf + 2);
		}
		if (sb->buf[0] == 'x') {
			break;
		}
		drop_line(sb, nl);
	}
	err_set(e, "the running proxy refused: %s", why.len ? why.buf : "no reason given");
	sbuf_release(&why);
	return -1;
}

int handoff_take(struct handoff *h, const char *socket_path, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * HANDOFF_MAX_FDS)];
	} ctl;
	struct sbuf sb = SBUF_INIT;
	struct cmsghdr *c;
	struct slice rest, word;
	int *fds = NULL;
	size_t nfds = 0, i;
	long nl;
	int rc = -1;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		return err_set(e, "control socket path '%s' is too long", socket_path);
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err_set(e, "no berth-proxy answers at '%s': %s", socket_path, strerror(errno));
		goto out;
	}
	if (send(h->fd, "handoff", sizeof("handoff"), MSG_NOSIGNAL) != sizeof("handoff")) {
		err_set(e, "cannot talk to the proxy at '%s': %s", socket_path, strerror(errno));
		goto out;
	}
	/* The fds come with the first byte of the "L" line, in one message. */
	for (;;) {
		struct iovec iov;
		struct msghdr mh = {0};
		ssize_t n;

		sbuf_grow(&sb, 512);
		iov.iov_base = sb.buf + sb.len;
		iov.iov_len = 512;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(h->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0) {
			err_set(e, "the proxy at '%s' closed the connection without its listeners",
				socket_path);
			goto out;
		}
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t k;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
				continue;
			}
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			fds = xrealloc(fds, (nfds + k) * sizeof(int));
			memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
			nfds += k;
		}
		if (mh.msg_flags & MSG_CTRUNC) {
			err_set(e, "the proxy at '%s' sent more listeners than can be taken",
				socket_path);
			goto out;
		}
		sbuf_setlen(&sb, sb.len + (size_t)n);
		if (sb.buf[0] != 'L') {
			rc = refused(h->fd, &sb, e);
			goto out;
		}
		if (slice_find_char(slice_make(sb.buf, sb.len), '\n') >= 0) {
			break;
		}
		if (sb.len > MAX_LINE) {
			err_set(e, "the proxy at '%s' sent a line too long", socket_path);
			goto out;
		}
	}
	nl = slice_find_char(slice_make(sb.buf, sb.len), '\n');
	rest = slice_make(sb.buf + 1, (size_t)nl - 1);
	h->ls = xcalloc(nfds ? nfds : 1, sizeof(*h->ls));
	for (i = 0; i < nfds; i++) {
		h->ls[i].fd = fds[i];
	}
	h->nr = nfds;
	for (i = 0; i < nfds; i++) {
		word = slice_next_word(&rest);
		if (!word.len || word.len >= sizeof(h->ls[i].kind)) {
			err_set(e, "the proxy at '%s' sent %zu listeners but not their kinds",
				socket_path, nfds);
			goto out;
		}
		memcpy(h->ls[i].kind, word.ptr, word.len);
		h->ls[i].kind[word.len] = '\0';
	}
	if (slice_trim(rest).len) {
		err_set(e, "the proxy at '%s' named more listeners than it sent", socket_path);
		goto out;
	}
	nfds = 0; /* h owns them now */
	rc = 0;
out:
	/* Once in h->ls the fds are h's to close (handoff_release); before, they are ours. */
	for (i = 0; i < nfds && !h->nr; i++) {
		close(fds[i]);
	}
	free(fds);
	sbuf_release(&sb);
	return rc;
}

int handoff_finish(struct handoff *h, uint64_t drain_ms, struct err *e)
{
	struct sbuf sb = SBUF_INIT;
	char go[64];
	int len = snprintf(go, sizeof(go), "go %llu\n", (unsigned long long)drain_ms);
	long nl;
	int rc = -1;

	if (send(h->fd, go, (size_t)len, MSG_NOSIGNAL) != len) {
		err_set(e, "cannot tell the old proxy to stop: %s", strerror(errno));
		goto out;
	}
	while ((nl = read_line(h->fd, &sb)) >= 0) {
		if (sb.buf[0] == 'x') {
			rc = nl == 3 && sb.buf[2] == '0'
				 ? 0
				 : err_set(e, "the old proxy answered '%.*s'", (int)nl, sb.buf);
			goto out;
		}
		drop_line(&sb, nl);
	}
	err_set(e, "the old proxy closed the connection before it stopped accepting");
out:
	sbuf_release(&sb);
	return rc;
}

int handoff_send(int fd, const struct server_listener *ls, size_t n, struct err *e)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * HANDOFF_MAX_FDS)];
	} ctl;
	struct sbuf line = SBUF_INIT;
	struct msghdr mh = {0};
	struct iovec iov;
	struct cmsghdr *c;
	size_t i;
	int rc = 0;

	if (!n || n > HANDOFF_MAX_FDS) {
		return err_set(e, "%zu listeners cannot be handed over (1 to %d can)", n,
			       HANDOFF_MAX_FDS);
	}
	memset(&ctl, 0, sizeof(ctl));
	sbuf_addch(&line, 'L');
	for (i = 0; i < n; i++) {
		sbuf_addf(&line, " %s", ls[i].kind);
	}
	sbuf_addch(&line, '\n');
	iov.iov_base = line.buf;
	iov.iov_len = line.len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	for (i = 0; i < n; i++) {
		memcpy(CMSG_DATA(c) + i * sizeof(int), &ls[i].fd, sizeof(int));
	}
	/* A unix stream socket takes the whole of a line this short, or nothing. */
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)line.len) {
		rc = err_set(e, "cannot send the listeners: %s", strerror(errno));
	}
	sbuf_release(&line);
	return rc;
}

int handoff_wait_go(int fd, uint64_t *drain_ms)
{
	struct sbuf sb = SBUF_INIT;
	long nl = read_line(fd, &sb);
	int rc = 0;

	if (nl > 3 && !memcmp(sb.buf, "go ", 3) &&
	    slice_to_u64(slice_make(sb.buf + 3, (size_t)nl - 3), UINT64_MAX, drain_ms)) {
		rc = 1;
	}
	sbuf_release(&sb);
	return rc;
}
