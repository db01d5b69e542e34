/* The handover's conversation: listeners passed with SCM_RIGHTS, "go", the answer, a refusal. */
#include "proxy/handoff.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/err.h"
#include "unit.h"

enum role { OLD_HANDS_OVER, OLD_REFUSES, OLD_IS_LEFT };

struct old_side {
	int lfd;
	enum role role;
	int pipe_w[2]; /* the "listeners": write ends of two pipes */
	int go;	       /* handoff_wait_go's result */
	uint64_t drain_ms;
};

static void *old_proxy(void *arg)
{
	struct old_side *o = arg;
	char req[16] = {0};
	int fd = accept(o->lfd, NULL, NULL);
	struct server_listener ls[2] = {{"http", o->pipe_w[0]}, {"https", o->pipe_w[1]}};
	struct err e = ERR_INIT;

	if (fd < 0 || read(fd, req, sizeof(req)) != sizeof("handoff") ||
	    memcmp(req, "handoff", sizeof("handoff"))) {
		o->go = -1;
		goto out;
	}
	if (o->role == OLD_REFUSES) {
		if (write(fd, "e error: not now\nx 1\n", 21) != 21) {
			o->go = -1;
		}
		goto out;
	}
	if (handoff_send(fd, ls, 2, &e) < 0) {
		o->go = -1;
		goto out;
	}
	o->go = handoff_wait_go(fd, &o->drain_ms);
	if (o->go == 1 && write(fd, "x 0\n", 4) != 4) {
		o->go = -1;
	}
out:
	err_release(&e);
	if (fd >= 0) {
		close(fd);
	}
	return NULL;
}

/* Starts the old side on a socket at path. */
static void start_old(struct old_side *o, pthread_t *th, const char *path, enum role role)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int p[2];

	memset(o, 0, sizeof(*o));
	o->role = role;
	CHECK(pipe(p) == 0);
	o->pipe_w[0] = p[1];
	close(p[0]);
	CHECK(pipe(p) == 0);
	o->pipe_w[1] = p[1];
	close(p[0]);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	o->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(o->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(o->lfd, 1) == 0);
	CHECK(pthread_create(th, NULL, old_proxy, o) == 0);
}

static void stop_old(struct old_side *o, pthread_t th, const char *path)
{
	pthread_join(th, NULL);
	close(o->lfd);
	close(o->pipe_w[0]);
	close(o->pipe_w[1]);
	unlink(path);
}

static void sock_path(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "/tmp/test-handoff-%ld-%s.sock", (long)getpid(), what);
}

static void test_listeners_travel(void)
{
	struct old_side o;
	struct handoff h;
	struct err e = ERR_INIT;
	pthread_t th;
	char path[108];

	sock_path(path, sizeof(path), "ok");
	start_old(&o, &th, path, OLD_HANDS_OVER);
	handoff_init(&h);
	CHECK_INT(handoff_take(&h, path, &e), 0);
	CHECK_INT(h.nr, 2);
	CHECK_STR(h.ls[0].kind, "http");
	CHECK_STR(h.ls[1].kind, "https");
	/* new fds for the same objects */
	CHECK(h.ls[0].fd >= 0 && h.ls[0].fd != o.pipe_w[0]);
	CHECK(h.ls[1].fd >= 0 && h.ls[1].fd != o.pipe_w[1]);
	CHECK_INT(handoff_finish(&h, 1234, &e), 0);
	stop_old(&o, th, path);
	CHECK_INT(o.go, 1);
	CHECK_INT(o.drain_ms, 1234);
	handoff_release(&h);
	err_release(&e);
}

static void test_refusal_says_why(void)
{
	struct old_side o;
	struct handoff h;
	struct err e = ERR_INIT;
	pthread_t th;
	char path[108];

	sock_path(path, sizeof(path), "no");
	start_old(&o, &th, path, OLD_REFUSES);
	handoff_init(&h);
	CHECK_INT(handoff_take(&h, path, &e), -1);
	CHECK_STR(err_str(&e), "the running proxy refused: error: not now");
	CHECK_INT(h.nr, 0);
	handoff_release(&h);
	stop_old(&o, th, path);
	err_release(&e);
}

static void test_new_side_gone_before_go(void)
{
	struct old_side o;
	struct handoff h;
	struct err e = ERR_INIT;
	pthread_t th;
	char path[108];

	sock_path(path, sizeof(path), "gone");
	start_old(&o, &th, path, OLD_IS_LEFT);
	handoff_init(&h);
	CHECK_INT(handoff_take(&h, path, &e), 0);
	handoff_release(&h); /* no "go": the old side serves on */
	stop_old(&o, th, path);
	CHECK_INT(o.go, 0);
	err_release(&e);
}

static void test_nobody_there(void)
{
	struct handoff h;
	struct err e = ERR_INIT;
	char path[108];

	sock_path(path, sizeof(path), "none");
	unlink(path);
	handoff_init(&h);
	CHECK_INT(handoff_take(&h, path, &e), -1);
	CHECK(strstr(err_str(&e), "no berth-proxy answers at") != NULL);
	handoff_release(&h);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_listeners_travel);
	UNIT_RUN(test_refusal_says_why);
	UNIT_RUN(test_new_side_gone_before_go);
	UNIT_RUN(test_nobody_there);
	return unit_done();
}
