/*
 * sftp — a client of the SFTP protocol, version 3, for the files berth keeps
 * on hosts (the deploy lock, audit log, release journal, env files).
 *
 * Why: every ssh command starts the user's login shell (whose ~/.bashrc may
 * cost half a second) and then shell tools. One SFTP session per host runs
 * OpenSSH's sftp-server once, as an ssh subsystem over the multiplexed
 * connection (exec_prepare_subsystem), and every file operation after that
 * is one request and its reply: no shell, no tools, no quoting.
 *
 * The protocol is draft-ietf-secsh-filexfer-02 (version 3, what OpenSSH
 * speaks), plus two of OpenSSH's extensions when the server announces them
 * in SSH_FXP_VERSION (OpenSSH's PROTOCOL file): posix-rename@openssh.com
 * (rename over an existing file, atomically), fsync@openssh.com and
 * statvfs@openssh.com (a file system's size and free space).
 *
 *	struct sftp s;
 *	if (sftp_open(&s, ex, "10.0.0.5", &e) < 0)
 *		return -1;	(e says why: ssh's own error, with what to check)
 *	sftp_realpath(&s, ".", &home, &e);			the home, absolute
 *	r = sftp_mkdir(&s, ".berth/apps/x/lock", 0700, &e);	SFTP_EXISTS: taken
 *	sftp_write_file(&s, ".berth/apps/x/lock/holder.json", buf, len, 0600,
 *			SFTP_WRITE_ATOMIC, &e);
 *	sftp_append(&s, ".berth/apps/x/audit.log", line, n, 0600, &e);
 *	sftp_close(&s);
 *
 * Paths are the server's: relative ones start from the directory the server
 * started in, which for sshd is the user's home (and, locally, ex->local_dir).
 *
 * Return values: 0 success; -1 an error; for the operations that say so, a
 * positive SFTP_NOENT, SFTP_EXISTS or SFTP_TOOBIG. e is set on every
 * non-zero return: "sftp mkdir .berth/apps/x/lock: File exists". Messages
 * from the server are untrusted and shown cut and with control bytes escaped.
 *
 * Threads: operations on one session may be called from several threads at
 * once (a mutex makes them take turns; a compound one, such as an atomic
 * write, keeps the session until it is done). sftp_open and sftp_close
 * are not: no other thread may use the session meanwhile.
 *
 * Deadlines: each request and its reply must be done within s->timeout_ms
 * (default 30 s, the handshake too). A session that misses one, or whose
 * server sends something that is not SFTP, or whose ssh dies, is broken:
 * its child is ended, and every later operation fails at once with why.
 *
 * Untrusted input: everything the server sends is parsed with bounds: a
 * packet is at most SFTP_MAX_PACKET bytes, every length and count is checked
 * against the bytes there, reply ids must match the request's, a handle is
 * at most 256 bytes. The parser (sftp_parse_*) is pure, apart from the I/O,
 * and fuzzed (tests/fuzz/fuzz-sftp.c).
 *
 * Limits: one request in flight per session (files here are small; a big
 * file costs a round trip per SFTP_CHUNK bytes); paths at most
 * SFTP_PATH_MAX bytes; reads are bounded by the caller's max.
 */
#ifndef SFTP_H
#define SFTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/exec.h"
#include "lib/err.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/slice.h"

#define SFTP_VERSION	   3
#define SFTP_MAX_PACKET	   (256 * 1024) /* longest packet read, as OpenSSH's own limit */
#define SFTP_CHUNK	   (64 * 1024)	/* bytes per READ or WRITE request */
#define SFTP_PATH_MAX	   4096
#define SFTP_HANDLE_MAX	   256 /* the draft's limit on a handle */
#define SFTP_TIMEOUT_MS	   30000
#define SFTP_CLOSE_WAIT_MS 5000 /* how long sftp_close waits for the child to exit */

/* Positive results some operations give (e is set too). */
#define SFTP_NOENT  1 /* no such file or directory (SSH_FX_NO_SUCH_FILE) */
#define SFTP_EXISTS 2 /* the path exists already (mkdir, exclusive create, rename) */
#define SFTP_TOOBIG 3 /* the file holds more than the max asked for */

/* Packet types (draft-ietf-secsh-filexfer-02, 3) */
enum sftp_type {
	SFTP_FXP_INIT = 1,
	SFTP_FXP_VERSION = 2,
	SFTP_FXP_OPEN = 3,
	SFTP_FXP_CLOSE = 4,
	SFTP_FXP_READ = 5,
	SFTP_FXP_WRITE = 6,
	SFTP_FXP_LSTAT = 7,
	SFTP_FXP_FSTAT = 8,
	SFTP_FXP_SETSTAT = 9,
	SFTP_FXP_FSETSTAT = 10,
	SFTP_FXP_OPENDIR = 11,
	SFTP_FXP_READDIR = 12,
	SFTP_FXP_REMOVE = 13,
	SFTP_FXP_MKDIR = 14,
	SFTP_FXP_RMDIR = 15,
	SFTP_FXP_REALPATH = 16,
	SFTP_FXP_STAT = 17,
	SFTP_FXP_RENAME = 18,
	SFTP_FXP_READLINK = 19,
	SFTP_FXP_SYMLINK = 20,
	SFTP_FXP_STATUS = 101,
	SFTP_FXP_HANDLE = 102,
	SFTP_FXP_DATA = 103,
	SFTP_FXP_NAME = 104,
	SFTP_FXP_ATTRS = 105,
	SFTP_FXP_EXTENDED = 200,
	SFTP_FXP_EXTENDED_REPLY = 201,
};

/* Status codes (7) */
enum sftp_status {
	SFTP_FX_OK = 0,
	SFTP_FX_EOF = 1,
	SFTP_FX_NO_SUCH_FILE = 2,
	SFTP_FX_PERMISSION_DENIED = 3,
	SFTP_FX_FAILURE = 4,
	SFTP_FX_BAD_MESSAGE = 5,
	SFTP_FX_NO_CONNECTION = 6,
	SFTP_FX_CONNECTION_LOST = 7,
	SFTP_FX_OP_UNSUPPORTED = 8,
};

/* Open flags (6.3) */
#define SFTP_FXF_READ	0x01
#define SFTP_FXF_WRITE	0x02
#define SFTP_FXF_APPEND 0x04
#define SFTP_FXF_CREAT	0x08
#define SFTP_FXF_TRUNC	0x10
#define SFTP_FXF_EXCL	0x20

/* Attribute flags (5) */
#define SFTP_ATTR_SIZE	      0x00000001u
#define SFTP_ATTR_UIDGID      0x00000002u
#define SFTP_ATTR_PERMISSIONS 0x00000004u
#define SFTP_ATTR_ACMODTIME   0x00000008u
#define SFTP_ATTR_EXTENDED    0x80000000u

/* Extensions the server announced that berth uses */
#define SFTP_EXT_POSIX_RENAME 0x1u /* posix-rename@openssh.com "1" */
#define SFTP_EXT_FSYNC	      0x2u /* fsync@openssh.com "1" */
#define SFTP_EXT_STATVFS      0x4u /* statvfs@openssh.com "2" */

struct sftp_attrs {
	uint32_t flags; /* SFTP_ATTR_*: which fields below the server gave */
	uint64_t size;
	uint32_t uid, gid;
	uint32_t mode; /* permissions and file type, as st_mode (S_ISDIR works) */
	uint32_t atime, mtime;
};

/* ---- the pure parser: bytes from the server to values ---- */

/* What SSH_FXP_VERSION said. */
struct sftp_version {
	uint32_t version;
	unsigned exts;	/* SFTP_EXT_* */
	size_t nr_exts; /* extensions announced, known or not */
};

/* One reply; the slices point into the packet parsed. */
struct sftp_reply {
	uint8_t type; /* SFTP_FXP_STATUS ... SFTP_FXP_EXTENDED_REPLY */
	uint32_t id;
	uint32_t code;		 /* STATUS: SFTP_FX_* (or any other number the server sent) */
	struct slice msg;	 /* STATUS: the server's message, untrusted (may be empty) */
	struct slice data;	 /* HANDLE: the handle; DATA: the data; NAME: the first name;
				  * EXTENDED_REPLY: the rest of the packet */
	uint32_t count;		 /* NAME: how many names */
	struct sftp_attrs attrs; /* ATTRS; NAME: the first name's */
};

/*
 * Parses one packet as it came after its length: the type byte and what
 * follows (pkt.len is the length field's value). sftp_parse_version wants
 * SSH_FXP_VERSION; sftp_parse_reply any reply to a request (types 101 to
 * 105 and 201). Returns 0, or -1 with e set for bytes that are not such a
 * packet. Bytes after a complete reply are ignored.
 */
int sftp_parse_version(struct slice pkt, struct sftp_version *v, struct err *e);
int sftp_parse_reply(struct slice pkt, struct sftp_reply *r, struct err *e);
/* Parses ATTRS at the start of in; *used gets the bytes it took. Returns 0 or -1. */
int sftp_parse_attrs(struct slice in, struct sftp_attrs *a, size_t *used, struct err *e);
/* The length of the packet whose first 4 bytes are hdr, or -1 when out of bounds. */
long sftp_packet_len(const unsigned char hdr[4]);

/* ---- the session ---- */

struct sftp {
	/* may be changed after sftp_open, before other threads use the session */
	unsigned timeout_ms; /* per request and reply; SFTP_TIMEOUT_MS */
	/* read-only after sftp_open */
	uint32_t version; /* the server's protocol version (3) */
	unsigned exts;	  /* SFTP_EXT_* the server offers */
	char *label;	  /* "host 'web-1'" or "the local sftp-server": for messages */

	/* private to sftp.c */
	pthread_mutex_t lock;
	bool open;   /* the child runs and has not been finished */
	bool broken; /* no more requests: why says why */
	struct sbuf why;
	struct run_cmd cmd;
	int to, from;
	uint32_t next_id;
	struct sbuf out, in;
	unsigned tmp_counter;
};

/*
 * Starts the sftp subsystem on host through ex (exec_prepare_subsystem) and
 * does the INIT/VERSION handshake. Returns 0, or -1 with e set (ssh could
 * not connect, the host has no sftp subsystem, the login shell printed text
 * in the way, the server speaks another version). Whatever it returns,
 * sftp_close(s) may follow (it does nothing after a failure).
 */
int sftp_open(struct sftp *s, struct exec *ex, const char *host, struct err *e);
/*
 * The same over a command already prepared: cmd's argv starts a server that
 * speaks SFTP on its stdin and stdout (moved into s: cmd is left empty).
 * label names the other end in messages. For tests and other transports.
 */
int sftp_start(struct sftp *s, struct run_cmd *cmd, const char *label, struct err *e);
/* Closes the server's stdin, waits for it to exit (SFTP_CLOSE_WAIT_MS), frees s. */
void sftp_close(struct sftp *s);

/* The canonical absolute form of path (".": the home directory), into out (replaced). */
int sftp_realpath(struct sftp *s, const char *path, struct sbuf *out, struct err *e);
/* Attributes of path, following (stat) or not (lstat) a last symlink. 0, SFTP_NOENT or -1. */
int sftp_stat(struct sftp *s, const char *path, struct sftp_attrs *a, struct err *e);
int sftp_lstat(struct sftp *s, const char *path, struct sftp_attrs *a, struct err *e);

/*
 * Creates the directory path with mode (0: 0700; the server's umask applies),
 * atomically: of two callers only one succeeds; the other gets SFTP_EXISTS
 * (whatever exists there). SFTP_NOENT when the parent is missing.
 */
int sftp_mkdir(struct sftp *s, const char *path, unsigned mode, struct err *e);
/* Creates path and the parents it lacks (mode for each; 0: 0700). 0 also when it exists as
 * a directory; -1 when it or a parent is something else. */
int sftp_mkdir_p(struct sftp *s, const char *path, unsigned mode, struct err *e);
/* Removes an empty directory / a file (not a directory). 0, SFTP_NOENT or -1. */
int sftp_rmdir(struct sftp *s, const char *path, struct err *e);
int sftp_remove(struct sftp *s, const char *path, struct err *e);

/*
 * Reads the whole file into out (appended). Returns 0, SFTP_NOENT, or
 * SFTP_TOOBIG when it holds more than max bytes (out then has the first max).
 */
int sftp_read_file(struct sftp *s, const char *path, size_t max, struct sbuf *out, struct err *e);
/*
 * Reads the last max bytes of the file (all of it when it is smaller) into
 * out (appended); *whole (may be NULL) says whether that was the whole file,
 * so that a caller wanting lines drops a first partial one. 0, SFTP_NOENT or -1.
 */
int sftp_read_tail(struct sftp *s, const char *path, size_t max, struct sbuf *out, bool *whole,
		   struct err *e);

enum sftp_write_flags {
	/* create the file; SFTP_EXISTS when path exists (O_EXCL) */
	SFTP_WRITE_EXCL = 1 << 0,
	/*
	 * the content appears whole or not at all: written to a temporary name in
	 * the same directory, fsync'd (when the server offers fsync@openssh.com),
	 * then renamed over path (posix-rename@openssh.com; without it, removed
	 * and renamed, which is not atomic). With SFTP_WRITE_EXCL the rename is
	 * the draft's, which never replaces: SFTP_EXISTS when path exists.
	 */
	SFTP_WRITE_ATOMIC = 1 << 1,
};

/*
 * Writes data as the file path. A new file gets mode (0: 0600) when it is
 * created, through the open's attributes: it is never readable by others,
 * not even for a moment (the server's umask applies on top). Without flags
 * an existing file is truncated and keeps its mode. Returns 0, SFTP_EXISTS
 * (with SFTP_WRITE_EXCL), SFTP_NOENT (the directory is missing) or -1; on
 * failure an atomic write leaves path as it was and removes its temporary.
 */
int sftp_write_file(struct sftp *s, const char *path, const void *data, size_t len, unsigned mode,
		    unsigned flags, struct err *e);
/*
 * Appends data to path, created with mode (0: 0600) when missing
 * (SSH_FXF_APPEND|SSH_FXF_CREAT: OpenSSH's server opens it O_APPEND). Data of
 * at most SFTP_CHUNK bytes goes in one write(2), so that lines appended by
 * several berths at once do not interleave. 0, SFTP_NOENT or -1.
 */
int sftp_append(struct sftp *s, const char *path, const void *data, size_t len, unsigned mode,
		struct err *e);
/*
 * Renames from to to, replacing to when it exists (posix-rename@openssh.com).
 * A server without the extension has only the draft's rename, which never
 * replaces: SFTP_EXISTS then. 0, SFTP_NOENT (from is missing) or -1.
 */
int sftp_rename(struct sftp *s, const char *from, const char *to, struct err *e);

/* What statvfs@openssh.com says of the file system holding a path, in bytes. */
struct sftp_fs {
	uint64_t size;	/* f_blocks * f_frsize */
	uint64_t avail; /* f_bavail * f_frsize: free to an unprivileged user */
};

/*
 * The size and free space of the file system path is on; SFTP_NOENT when
 * path does not exist; -1 also when the server does not offer the extension.
 */
int sftp_statvfs(struct sftp *s, const char *path, struct sftp_fs *fs, struct err *e);
/* Parses statvfs@openssh.com's reply data (eleven uint64). 0, or -1 when cut short. */
int sftp_parse_statvfs(struct slice data, struct sftp_fs *fs);

#endif
