/*
 * hoststate — the state berth keeps on the hosts: the deploy lock, the
 * audit log and the release journal.
 *
 * Every front door (the CLI, push to deploy, the panel) reads and writes the
 * same files on the servers, so none has a private truth. On a host they
 * live in one directory per app:
 *
 *	~/.berth/apps/<service>[-<destination>]/
 *	    lock/              the deploy lock: it exists while the lock is held
 *	    lock/holder.json   who holds it (one JSON object, see below)
 *	    audit.log          one JSON object per line, appended on every host
 *	    releases.jsonl     the release journal, one JSON object per line
 *
 * "~/.berth" is the run directory: config's `run_directory` when set
 * (relative to the ssh user's home, or absolute), else ".berth". It is not
 * Kamal's ".kamal", so that berth and Kamal never read each other's files
 * as their own. Files are created with umask 077.
 *
 * With an SFTP session to the host (sftp_of, set by a deploy, which holds
 * one per host), taking and releasing the lock, and appending to the audit
 * log and the journal, are SFTP requests instead: no shell and no process
 * on the host beyond the session's sftp-server (engine/sftp.h). The files
 * and their forms are the same, so both ways work side by side. A held lock
 * is looked at, waited for and broken by the scripts.
 *
 * Every other remote operation is one fixed shell script
 * (engine/scripts/state-*.sh) run by exec_script as
 * `sh -c SCRIPT berth-state APPDIR [ARG...]`: the script text is a constant,
 * only the arguments vary (exec quotes them), and the data — holder.json,
 * audit and journal lines — travels on stdin. What comes back is untrusted:
 * it is read with limits (HOSTSTATE_*_MAX) and parsed strictly.
 *
 * The lock is taken with mkdir(2), which is atomic: of two berths only one
 * creates lock/. A lock is tied to a process (deploys: pid recorded, the lock
 * is stale once that process is gone) or not (`berth lock acquire`: held
 * until `berth lock release`). The age of a lock is measured on the host's
 * own clock (now minus the mtime of lock/), so clock skew between the
 * machine running berth and the host does not matter.
 *
 * Lines stored (compact JSON, one per line; unknown keys are ignored on
 * reading, so later versions may add some):
 *
 *	holder.json    {"id":"9f..","holder":"user@machine","machine":"laptop","host":"web-1",
 *	                "pid":4242,"time":"2024-05-01T12:00:00Z","epoch":1714564800,
 *	                "message":"...","berth":"0.1.0"}
 *	audit.log      {"time":"...","epoch":...,"performer":"user@machine",
 *	                "destination":"staging","host":"web-1","message":"..."}
 *	releases.jsonl {"time":"...","epoch":...,"service":"app","destination":null,
 *	                "role":"web","version":"abc123","container":"app-web-abc123",
 *	                "status":"ok","performer":"user@machine"}
 *
 * "pid" is left out for a lock not tied to a process; "destination" is null
 * without one. A message is any bytes: valid UTF-8 is stored as "message",
 * anything else as "message_base64", so it always comes back exactly.
 *
 * Return conventions: 0 success, -1 error with e set; lock operations also
 * return 1 for "held by someone else" / "not held".
 */
#ifndef HOSTSTATE_H
#define HOSTSTATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "engine/exec.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/slice.h"

#define HOSTSTATE_RUN_DIR	  ".berth"
#define HOSTSTATE_MESSAGE_MAX	  8192	     /* bytes of a lock or audit message */
#define HOSTSTATE_LINE_MAX	  65536	     /* longest line read back from a host */
#define HOSTSTATE_OUTPUT_MAX	  (8u << 20) /* most bytes read back from one command */
#define HOSTSTATE_ENTRIES_MAX	  20000	     /* most lines parsed from one log */
#define HOSTSTATE_NAME_MAX	  128	     /* service, destination */
#define HOSTSTATE_AUDIT_LINES_MAX 10000	     /* most audit lines asked for at once */
#define HOSTSTATE_JOURNAL_KEEP	  1000	     /* the journal is cut to this many lines ... */
#define HOSTSTATE_JOURNAL_TRIM	  2000	     /* ... once it is longer than this */

struct hoststate {
	struct exec *ex;	     /* not owned */
	char *service, *destination; /* destination NULL: none */
	char *app;		     /* "service" or "service-destination" */
	char *dir;		     /* "<run dir>/apps/<app>", relative to the host's $HOME */
	char *performer;	     /* "user@machine" */
	char *machine;		     /* this machine's name */
	unsigned timeout_ms;	     /* per remote command; 0: 30 s */
	/*
	 * Optional: the open SFTP session to host, or NULL (then the scripts
	 * run). Called from any thread; the session must outlive hs's use.
	 */
	struct sftp *(*sftp_of)(void *data, const char *host);
	void *sftp_data;
};

/*
 * Sets hs up for service (and destination, may be NULL) on hosts reached
 * through ex. run_dir NULL: HOSTSTATE_RUN_DIR. Names must be 1 to
 * HOSTSTATE_NAME_MAX of [A-Za-z0-9_.-], not starting with '.' or '-'.
 * Returns 0, or -1 with e set (hs is then released).
 */
int hoststate_init(struct hoststate *hs, struct exec *ex, const char *run_dir, const char *service,
		   const char *destination, struct err *e);
void hoststate_release(struct hoststate *hs);
/* Whether s is a valid service or destination name. */
bool hoststate_name_ok(const char *s);

/* ---- the lock ---- */

enum hoststate_holder_state {
	HOSTSTATE_HOLDER_UNKNOWN = 0, /* tied to a process on another machine */
	HOSTSTATE_HOLDER_ALIVE = 1,   /* tied to a process on this machine that runs */
	HOSTSTATE_HOLDER_GONE = 2,    /* tied to a process on this machine that is gone */
	HOSTSTATE_HOLDER_MANUAL = 3,  /* taken by `lock acquire`: held until released */
	HOSTSTATE_HOLDER_BROKEN = 4,  /* lock/ without a readable holder.json */
};

struct hoststate_lock {
	bool held;
	/* from holder.json; strings owned, NULL when missing */
	char *id, *holder, *machine, *host, *time, *berth_version;
	char *message; /* may hold any bytes, NUL included: message_len says how many */
	size_t message_len;
	long long pid;	 /* 0: not tied to a process */
	long long epoch; /* holder's clock; 0 unknown */
	/* measured on the host */
	long long host_now;		   /* host's clock; 0 unknown */
	long long age;			   /* seconds since the lock was taken; -1 unknown */
	enum hoststate_holder_state state; /* set by hoststate_lock_judge */
};

void hoststate_lock_init(struct hoststate_lock *l);
void hoststate_lock_release(struct hoststate_lock *l);

/*
 * Decides l->state from what this machine can see: a pid on machine
 * (this machine's name) is looked up with kill(pid, 0).
 */
void hoststate_lock_judge(struct hoststate_lock *l, const char *machine);
/* Whether l may be broken without asking: its process is gone, or holder.json is missing
 * for longer than a minute. */
bool hoststate_lock_stale(const struct hoststate_lock *l);

/* One line for people: "held by u@m on web-1 for 5m 3s (pid 42, gone): MESSAGE". */
void hoststate_lock_describe(struct sbuf *out, const struct hoststate_lock *l);
/* l as a JSON object (a new reference), for --json. */
json_t *hoststate_lock_json(const struct hoststate_lock *l);

/* holder.json for l (compact, no newline). */
void hoststate_holder_format(struct sbuf *out, const struct hoststate_lock *l);
/* Parses holder.json. Returns 0, or -1 with e set; l's earlier fields are replaced. */
int hoststate_holder_parse(struct slice in, struct hoststate_lock *l, struct err *e);
/*
 * Parses what the status part of the lock scripts prints:
 * "now N\n" ["mtime M\n" "holder\n" HOLDER-JSON]. Fills l (held, host_now,
 * age and holder fields). A held lock whose holder.json does not parse is
 * held with no holder. Returns 0, or -1 with e set on output that is not of
 * that form.
 */
int hoststate_lock_parse_status(struct slice in, struct hoststate_lock *l, struct err *e);

struct hoststate_lock_opts {
	const char *message; /* any bytes; may be NULL */
	size_t message_len;
	bool tie_to_process; /* record this process's pid: a deploy */
	bool break_stale;    /* a stale lock (hoststate_lock_stale) is broken first */
	unsigned wait_s;     /* while held, try again until this many seconds passed */
	void (*on_wait)(const struct hoststate_lock *held, void *data); /* called once */
	void *on_wait_data;
};

/*
 * Takes the lock on host. Returns 0 when taken (*mine, may be NULL, gets the
 * holder written: keep its id to release it), 1 when someone else holds it
 * (*other, may be NULL, says who; e says it in words), -1 on an error.
 */
int hoststate_lock_acquire(struct hoststate *hs, const char *host,
			   const struct hoststate_lock_opts *o, struct hoststate_lock *mine,
			   struct hoststate_lock *other, struct err *e);
/* Reads the lock on host into *l (judged). Returns 0 or -1. */
int hoststate_lock_status(struct hoststate *hs, const char *host, struct hoststate_lock *l,
			  struct err *e);
/*
 * Removes the lock on host. With id set, only a lock with that id (ours):
 * returns 1 when another holds it. Without, whatever lock is there (breaking
 * it). *was (may be NULL) gets the holder removed. Returns 0 when a lock was
 * removed, 1 when there was none (or not ours), -1 on an error.
 */
int hoststate_lock_remove(struct hoststate *hs, const char *host, const char *id,
			  struct hoststate_lock *was, struct err *e);

/* ---- the audit log ---- */

struct hoststate_audit_entry {
	char *time, *performer, *destination, *host; /* owned; NULL when missing */
	long long epoch;
	char *message; /* any bytes */
	size_t message_len;
	char *raw; /* a line that did not parse, as it was (then the rest is NULL) */
};

struct hoststate_audit {
	struct hoststate_audit_entry *v; /* oldest first */
	size_t nr, alloc;
	size_t skipped; /* lines over HOSTSTATE_LINE_MAX or past HOSTSTATE_ENTRIES_MAX */
};

void hoststate_audit_init(struct hoststate_audit *a);
void hoststate_audit_release(struct hoststate_audit *a);

/* The audit line (with its newline) for message, as hs->performer, about host. */
void hoststate_audit_format(struct sbuf *out, const struct hoststate *hs, const char *host,
			    long long epoch, const char *message, size_t message_len);
/* Parses audit.log lines, appending to a. Never fails: bad lines are kept raw. */
void hoststate_audit_parse(struct slice in, struct hoststate_audit *a);
/* One line for people: "2024-05-01T12:00:00Z u@m [dest] message" with control bytes escaped. */
void hoststate_audit_describe(struct sbuf *out, const struct hoststate_audit_entry *en);
json_t *hoststate_audit_json(const struct hoststate_audit_entry *en);

/*
 * Appends a line about message to the audit log of every host, in
 * parallel. Returns 0 when every host has it, else -1 with e naming the
 * hosts that failed.
 */
int hoststate_audit_append(struct hoststate *hs, const char *const *hosts, size_t nhosts,
			   const char *message, size_t message_len, struct err *e);
/* Reads the last n (at most HOSTSTATE_AUDIT_LINES_MAX) lines of host's audit log into a. */
int hoststate_audit_read(struct hoststate *hs, const char *host, unsigned n,
			 struct hoststate_audit *a, struct err *e);

/* ---- the release journal ---- */

struct hoststate_release {
	char *time, *service, *destination, *role, *version, *container, *status, *performer;
	long long epoch;
};

struct hoststate_releases {
	struct hoststate_release *v;
	size_t nr, alloc;
	size_t skipped; /* lines that did not parse, or lacked a version */
};

void hoststate_releases_init(struct hoststate_releases *r);
void hoststate_releases_release(struct hoststate_releases *r);
void hoststate_release_clear(struct hoststate_release *r);

/* The journal line (with its newline) for r; NULL fields are written as null. */
void hoststate_release_format(struct sbuf *out, const struct hoststate_release *r);
/*
 * Parses journal lines (oldest first, as the file has them) into out,
 * newest first, one entry per version (its newest line). With ok_only,
 * lines whose status is not "ok" are left out first. Never fails.
 */
void hoststate_journal_parse(struct slice in, bool ok_only, struct hoststate_releases *out);
json_t *hoststate_release_json(const struct hoststate_release *r);

/* Appends r to host's journal (time, epoch, service, destination, performer filled when NULL/0). */
int hoststate_journal_append(struct hoststate *hs, const char *host,
			     const struct hoststate_release *r, struct err *e);
/* Lists host's releases, newest first, one per version. */
int hoststate_journal_list(struct hoststate *hs, const char *host, bool ok_only,
			   struct hoststate_releases *out, struct err *e);

#endif
