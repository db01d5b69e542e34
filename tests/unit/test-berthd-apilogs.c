/*
 * Tests for the live logs' events (daemon/apilogs.c: lines cut into
 * Server-Sent Events, the search) and for daemon/reaper.c: a child started
 * by a thread while another thread reaps every child keeps its status.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/apilogs.h"
#include "daemon/reaper.h"
#include "lib/sbuf.h"
#include "unit.h"

static void test_events(void)
{
	struct sbuf out = SBUF_INIT;
	const char in[] = "one\r\ntwo ERROR here\nthr\x01" "ee\npartial";
	size_t used = apilogs_events(in, sizeof(in) - 1, NULL, &out);

	CHECK_INT(used, sizeof(in) - 1 - strlen("partial"));
	CHECK_STR(out.buf, "data: one\n\ndata: two ERROR here\n\ndata: thr ee\n\n");
	sbuf_reset(&out);
	used = apilogs_events(in, sizeof(in) - 1, "error", &out);
	CHECK_INT(used, sizeof(in) - 1 - strlen("partial"));
	CHECK_STR(out.buf, "data: two ERROR here\n\n");
	sbuf_reset(&out);
	/* nothing whole yet */
	CHECK_INT(apilogs_events("abc", 3, NULL, &out), 0);
	CHECK_INT(out.len, 0);
	sbuf_release(&out);
}

static void test_long_line(void)
{
	struct sbuf out = SBUF_INIT;
	size_t n = APILOGS_LINE_MAX + 10;
	char *in = malloc(n);

	memset(in, 'x', n);
	CHECK_INT(apilogs_events(in, n, NULL, &out), APILOGS_LINE_MAX);
	CHECK_INT(out.len, 6 + APILOGS_LINE_MAX + 2);
	free(in);
	sbuf_release(&out);
}

static atomic_bool stop;

static void *reap_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		reaper_reap(NULL, NULL);
		usleep(1000);
	}
	return NULL;
}

static void test_reaper(void)
{
	pthread_t th;
	pid_t pid, other;
	char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
	char *argv2[] = {"/bin/sh", "-c", "exit 0", NULL};
	int st;

	/* before reaper_start: a plain waitpid */
	CHECK_INT(reaper_spawn(&pid, "/bin/sh", NULL, NULL, argv), 0);
	st = reaper_wait(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);

	reaper_start();
	CHECK(pthread_create(&th, NULL, reap_loop, NULL) == 0);
	/* a child nobody waits for is reaped by the loop; the registered one keeps its status */
	CHECK_INT(posix_spawn(&other, "/bin/sh", NULL, NULL, argv2, NULL), 0);
	CHECK_INT(reaper_spawn(&pid, "/bin/sh", NULL, NULL, argv), 0);
	usleep(50 * 1000);
	st = reaper_wait(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	/* the loop took the other one */
	for (int i = 0; i < 1000 && waitpid(other, NULL, WNOHANG) == 0; i++) {
		usleep(1000);
	}
	CHECK(waitpid(other, NULL, WNOHANG) < 0);
	/* an unknown pid */
	CHECK_INT(reaper_wait(1), -1);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
}

int main(void)
{
	UNIT_RUN(test_events);
	UNIT_RUN(test_long_line);
	UNIT_RUN(test_reaper);
	return unit_done();
}
