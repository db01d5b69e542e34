/*
 * reaper — the children of berthd serve's connection threads.
 *
 * berthd serve's main thread reaps every child that ends (it is the
 * container's first process: orphans land on it too). A thread that starts
 * a child and wants to know when it ends starts it with reaper_spawn and
 * waits with reaper_wait: the pid is registered under the lock the main
 * thread reaps under, so its status is kept for the thread, never taken
 * from it. Before reaper_start (any process but berthd serve) reaper_wait
 * is waitpid.
 */
#ifndef REAPER_H
#define REAPER_H

#include <spawn.h>
#include <sys/types.h>

/* How many children the threads may have at once. */
#define REAPER_SLOTS 64

/* From now on reaper_reap does the waiting (berthd serve, before its threads start). */
void reaper_start(void);

/*
 * The main thread, at SIGCHLD: reaps every child that ended, keeping the
 * registered ones' status; other(pid, status, arg) (may be NULL) hears of
 * each of the others (it must not call reaper_*).
 */
void reaper_reap(void (*other)(pid_t pid, int status, void *arg), void *arg);

/*
 * posix_spawn(pid, path, fa, attr, argv, environ), registered: 0, or an
 * errno value (EAGAIN when REAPER_SLOTS children are running already).
 */
int reaper_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[]);

/* Waits until pid (of reaper_spawn) ends: its wait status, or -1 (errno set). */
int reaper_wait(pid_t pid);

#endif
