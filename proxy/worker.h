/*
 * worker — internal to berth-proxy's data plane: the structs that server.c
 * (workers, listener, clients, exchanges) shares with pool (upstream
 * connections), spool (buffered request bodies) and tunnel (upgraded
 * connections), and the few functions of server.c they call back. Nothing
 * else includes it; the data plane's contract is proxy/server.h.
 *
 * It includes only headers below it (conn, http1, route, metrics, timer,
 * accesslog), never server.h or the headers of the files that include it,
 * so the includes form no circle: server.c on top, then pool, spool,
 * tunnel and h2, then this header.
 *
 * Every object here belongs to one worker thread and is touched only by it;
 * the routing table and the targets' counters are the shared exceptions
 * (proxy/route.h). An object closed during a loop iteration is marked
 * CONN_F_DEAD and freed at the end of the iteration, so an event handler
 * never meets freed memory.
 */
#ifndef WORKER_H
#define WORKER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/sbuf.h"
#include "proxy/accesslog.h"
#include "proxy/conn.h"
#include "proxy/http1.h"
#include "proxy/metrics.h"
#include "proxy/route.h"
#include "proxy/timer.h"

#define BUF_SIZE 16384 /* a connection's read buffer, from the worker's free list */

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* An intrusive circular list; an unlinked node points to itself. */
struct dlist {
	struct dlist *prev, *next;
};
static inline void dlist_init(struct dlist *l)
{
	l->prev = l->next = l;
}
static inline void dlist_add(struct dlist *head, struct dlist *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}
static inline void dlist_del(struct dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

enum tmode {
	TM_NONE = 0,
	TM_IDLE,   /* between requests */
	TM_HEAD,   /* a request head is arriving */
	TM_RELAY,  /* an exchange with an upstream: its inactivity timeouts (relay_expire) */
	TM_LINGER, /* after an error response, until the client goes away */
	TM_PAUSE,  /* a request held while its service is paused (max pause) */
	TM_TUNNEL, /* a tunnel: closed when no byte moved either way for the idle timeout */
	TM_BODY,   /* a buffered request body is arriving: the next bytes within the read timeout */
	TM_HANDSHAKE, /* a TLS handshake: done within the read timeout, or the connection closes */
};

struct worker;
struct exch;
struct h2_conn;

struct client {
	struct conn c;
	struct worker *w;
	struct timer tm;
	unsigned char tmode;
	bool closing, lingering;
	bool unread;	     /* closing with the request's body still coming: linger, then close */
	bool tls;	     /* accepted on the HTTPS listener: c.io is TLS (proxy/tls.h) */
	bool handshaking;    /* its TLS handshake is not done yet */
	unsigned char retry; /* enum retry_flags: the request starts again, after these */
	/* with RETRY_OTHER: the target that failed, passed over by the next pick (never used) */
	const struct target *avoid;
	bool parked; /* its request is held (service paused), in worker->parked */
	struct dlist plink;
	char *buf; /* NULL while idle */
	size_t cap, pos, len;
	char *out; /* the rest of an error response the socket did not take at once */
	size_t out_pos, out_len;
	struct exch *x;
	struct h2_conn *h2; /* the connection speaks HTTP/2 (proxy/h2.h) */
	bool used;	    /* a request came: too late for an HTTP/2 preface */
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} peer;
	struct dlist clink; /* in worker->clients */
	struct client *next_dead;
};

struct upstream {
	struct conn c;
	struct worker *w;
	struct target *t; /* referenced */
	struct exch *x;	  /* NULL while pooled */
	struct timer tm;  /* idle in the pool */
	struct dlist link;
	bool connecting, reused, pooled;
	struct upstream *next_dead;
};

enum retry_flags {
	RETRY_STALE = 1 << 0, /* again on a new connection: the pooled one was closed */
	RETRY_OTHER = 1 << 1, /* again on another target */
};

enum rq_state { RQ_CONNECT, RQ_HEAD, RQ_BODY, RQ_BUFFER, RQ_FILE, RQ_DONE };

struct spool;

/* RS_SPOOL: a buffered response's body is arriving; RS_FILE: its file goes to the client. */
enum rs_state { RS_HEAD, RS_INTERIM, RS_HEADW, RS_BODY, RS_DONE, RS_TUNNEL, RS_SPOOL, RS_FILE };

struct exch {
	struct client *cl;
	struct upstream *up;
	struct target *t;
	struct errpages *pages; /* the service's, referenced: for an error of ours */
	struct spool *rb;	/* a buffered request, or NULL */
	struct spool *rsb;	/* a buffered response, or NULL */
	bool buffer_resp;	/* the service buffers responses */
	uint64_t resp_max;	/* its max response body (0: none) */
	uint64_t buf_mem;	/* its buffer memory */
	uint64_t target_timeout, client_timeout, max_body;
	uint64_t active; /* when the relay last made progress either way (its timeouts) */
	enum rq_state rq;
	enum rs_state rs;
	size_t req_start;
	unsigned char retry; /* enum retry_flags already used */
	bool retryable, is_head, client_ka, client_10, resp_ka, resp_started;
	bool rq_complete, rs_complete, rs_need_more, close_client, up_eof;
	bool dechunk; /* a chunked response to an HTTP/1.0 client: data only, then close */
	/* Upgrade: the request asked for one; tunnel: the upstream agreed (101) and the
	 * connections now carry bytes both ways; *_eof: that side has finished sending,
	 * *_shut: the other side was told so. */
	bool upgrade, tunnel, tn_cl_eof, tn_up_eof, tn_cl_shut, tn_up_shut;
	uint64_t tn_active;	 /* when bytes last moved through the tunnel */
	bool multi;		 /* the service has other targets to retry on */
	bool idempotent;	 /* GET, HEAD, OPTIONS, PUT, DELETE or TRACE without a body */
	struct dlist tlink;	 /* in worker->tunnels while tunnel */
	bool restarting;	 /* ended to start again (a retry): not counted */
	bool no_metrics;	 /* under an --exclude-metrics-path: logged, not counted */
	bool set_writer;	 /* a write to a service with read targets: set the writer cookie */
	bool scope;		 /* --scope-cookie-paths: ctx holds the prefix and the host */
	uint64_t writer_ms;	 /* the service's writer affinity */
	uint64_t hsts_max_age_s; /* a response over TLS carries Strict-Transport-Security */
	unsigned svc_idx;	 /* route_service_index of its service */
	unsigned status, log_status; /* the upstream's; ours when we answered */
	uint64_t start_ms, bytes_in, bytes_out;
	enum http1_body rq_body, rs_body;
	uint64_t rq_left, rs_left;
	struct http1_chunked rq_ch, rs_ch;
	size_t rq_bpos, rq_bend; /* request body bytes in the client's buffer, to write */
	char *ubuf;		 /* the upstream's bytes */
	size_t ucap, upos, ulen;
	size_t rs_bpos, rs_bend; /* response body bytes in ubuf, to write */
	struct iovq q_up, q_cl;
	char add[256];
	char radd[160];
	struct sbuf lg;	 /* the access log fields known before the end (when logging) */
	struct sbuf xff; /* the X-Forwarded-For line, with --forward-headers */
	struct sbuf lgr; /* the service's response headers to log (accesslog_response_names) */
	struct sbuf ctx; /* with scope: the path prefix, NUL, the request's host, NUL */
	struct sbuf ck;	 /* the response's Set-Cookie lines of ours (scoped, writer) */
	struct exch *next_free;
};

struct server_config;

struct worker {
	struct handler lh, tlh, eh;
	struct timer accept_tm; /* accept again: descriptors ran out (accept_full) */
	bool accept_full;
	unsigned id;
	int epfd, lfd, tlfd, efd; /* tlfd: the HTTPS listener, or -1 */
	pthread_t th;
	uint64_t now, wall_off;
	struct timer_heap timers;
	struct route_table *tbl;
	struct dlist idle;    /* pooled upstream connections, most recent first */
	unsigned nr_idle;     /* how many (at most POOL_MAX_IDLE: proxy/pool.h) */
	struct dlist tunnels; /* exchanges that became tunnels */
	struct dlist parked;  /* clients whose request waits for a paused service */
	struct dlist clients; /* every open client connection (for a drain) */
	_Atomic unsigned nr_clients;
	struct dlist h2_conns; /* HTTP/2 connections (proxy/h2.h) */
	struct dlist h2_dirty; /* those with something to read, drive or send */
	unsigned tunnel_gen;   /* the last retirement acted on (proxy/tunnel.c) */
	void *free_bufs;
	unsigned nr_free_bufs;
	struct exch *free_exch;
	unsigned nr_free_exch;
	/* In use now, and at most since the last trim (lists_trim): what the lists should hold. */
	unsigned bufs_used, bufs_peak, exch_used, exch_peak;
	unsigned long conns, conns_peak; /* client and upstream connections open */
	struct timer trim_tm;
	struct client *dead_clients;
	struct upstream *dead_ups;
	struct http1_msg msg;
	struct http1_limits lim;
	const struct server_config *cfg;
	_Atomic(struct route_table *) using; /* the table of the last iteration */
	uint64_t rid_hi, rid_ctr;
	struct metrics *mt;
	struct accesslog log;
	struct sbuf scratch; /* for the log lines of requests without an exchange */
	atomic_bool stop;
	/*
	 * A handover (server_stop_accepting): stop_accept asks the worker to
	 * drop its listener; draining is the worker's own view of it, set in
	 * its loop once the listener is out of its epoll set. From then on a
	 * response ends its connection and an idle connection is closed.
	 */
	atomic_bool stop_accept;
	_Atomic bool draining;
};

/* What server.c lends the modules of the data plane. */

/* A read buffer of BUF_SIZE bytes from w's free list (or a new one, mapped). */
char *buf_get(struct worker *w);
/*
 * Gives b back to w's free list (unmapped when the list is full; freed when
 * not BUF_SIZE, a long request head's malloc'd buffer); NULL: nothing.
 */
void buf_put(struct worker *w, char *b, size_t cap);
/* Runs cl's state machine as far as it goes without blocking. */
void client_drive(struct client *cl);
/*
 * A new client of w on fd, through io (not watched by epoll: the caller
 * does that for a socket); for HTTP/2, a stream with fd -1.
 */
struct client *client_new(struct worker *w, int fd, const struct conn_io *io);
/* Closes cl (its exchange ends); freed at the end of the loop iteration. Idempotent. */
void client_close(struct client *cl);
/*
 * Ends cl gently: its write side is shut (over TLS with close_notify), then
 * what it still sends is read and dropped until it closes or LINGER_MS pass,
 * so that bytes of its in flight do not turn the close into a reset that
 * overtakes what was written last. cl must have no exchange.
 */
void client_linger(struct client *cl);
/* Ends x with an error: ours (status) when nothing was sent yet, else a close. Returns -1. */
int exch_fail(struct exch *x, unsigned status);
/*
 * Takes a connection to x->t, pooled or new, for x, whose request is ready
 * to go. 1, or what a failed connection makes of the exchange: 2 it
 * restarts, -1 the client was closed.
 */
int exch_connect(struct exch *x);

#endif
