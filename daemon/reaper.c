/* reaper — see reaper.h. */
#include "daemon/reaper.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "lib/banned.h"

extern char **environ;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ended = PTHREAD_COND_INITIALIZER;
static bool active;
static struct slot {
	pid_t pid; /* 0: free */
	bool done;
	int status;
} slots[REAPER_SLOTS];

void reaper_start(void)
{
	pthread_mutex_lock(&mu);
	active = true;
	pthread_mutex_unlock(&mu);
}

void reaper_reap(void (*other)(pid_t pid, int status, void *arg), void *arg)
{
	pid_t p;
	int st;

	pthread_mutex_lock(&mu);
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		bool mine = false;

		for (size_t i = 0; i < REAPER_SLOTS; i++) {
			if (slots[i].pid == p) {
				slots[i].done = true;
				slots[i].status = st;
				pthread_cond_broadcast(&ended);
				mine = true;
				break;
			}
		}
		if (!mine && other) {
			other(p, st, arg);
		}
	}
	pthread_mutex_unlock(&mu);
}

int reaper_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[])
{
	struct slot *free_slot = NULL;
	int rc;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < REAPER_SLOTS && active; i++) {
		if (!slots[i].pid) {
			free_slot = &slots[i];
			break;
		}
	}
	if (active && !free_slot) {
		rc = EAGAIN;
		goto out;
	}
	/* under the lock: the main thread cannot reap it before it is registered */
	rc = posix_spawn(pid, path, fa, attr, argv, environ);
	if (rc == 0 && free_slot) {
		*free_slot = (struct slot){.pid = *pid};
	}
out:
	pthread_mutex_unlock(&mu);
	return rc;
}

int reaper_wait(pid_t pid)
{
	int st = -1;

	pthread_mutex_lock(&mu);
	if (!active) {
		pthread_mutex_unlock(&mu);
		while (waitpid(pid, &st, 0) < 0) {
			if (errno != EINTR) {
				return -1;
			}
		}
		return st;
	}
	for (size_t i = 0; i < REAPER_SLOTS; i++) {
		if (slots[i].pid != pid) {
			continue;
		}
		while (!slots[i].done) {
			pthread_cond_wait(&ended, &mu);
		}
		st = slots[i].status;
		slots[i] = (struct slot){0};
		pthread_mutex_unlock(&mu);
		return st;
	}
	pthread_mutex_unlock(&mu);
	errno = ECHILD;
	return -1;
}
