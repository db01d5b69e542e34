/*
 * transfer — sends a local Docker image to hosts over SSH, without a
 * registry, sending only the layers a host does not have yet.
 *
 * Design. A layer is named by its diff ID: the sha256 of the uncompressed
 * layer tar that `docker save` writes and `docker load` checks. Every host
 * keeps a cache of the layer tars berth sent it, one file per layer,
 * <cache>/<hex>.tar, where <cache> is by default <parent of Docker's data
 * root>/berth/layers (/var/lib/berth/layers on a stock server): next to the
 * daemon it feeds, on the disk sized for images, one cache per daemon.
 *
 *   1. Here: `docker image inspect` gives the image ID and its diff IDs.
 *   2. Probe, every host in parallel: is the image there under this name
 *      (nothing to do), there by ID only (tag it), or which layers does the
 *      cache hold. Also resolves the cache directory and checks the tools.
 *   3. Only when some host needs layers: `docker save -o` into a private
 *      temporary directory on disk (never in memory), unpacked with tar; its
 *      manifest.json and image config are read here (untrusted: limits, and
 *      the diff IDs must match what inspect said).
 *   4. Send, at most max_parallel at once across hosts: each missing layer
 *      file is the stdin of one ssh command that writes it to a temporary
 *      file in the cache, checks its sha256 against the name with sha256sum,
 *      and only then renames it into place. A cut connection or a damaged
 *      byte never leaves a cache entry behind.
 *   5. Load, per host: a small tar with the config and a manifest.json that
 *      berth writes (layers named layers/<hex>.tar) goes on stdin; the host
 *      links the cached layers next to it and pipes the whole image tar into
 *      `docker load`, which checks every diff ID again.
 *
 * Every command is an argv vector through exec: the fixed scripts
 * engine/scripts/transfer-*.sh (exec_script), with the image name, digests
 * and paths as positional arguments, data only on
 * stdin. The cache only grows here; pruning it belongs to `berth prune`
 * (entries in use are touched on every load, so age tells what is stale).
 *
 * Progress goes to opts->progress, one line per host per layer:
 *   "lab-h1: layer sha256:0123456789ab… 12.3 MiB sent" or "... cached",
 * then one line per host when it is done.
 */
#ifndef TRANSFER_H
#define TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/exec.h"
#include "lib/err.h"
#include "lib/slice.h"
#include "lib/strvec.h"

#define TRANSFER_MAX_LAYERS   256 /* Docker itself stops at 127 */
#define TRANSFER_MAX_TAGS     64
#define TRANSFER_MAX_MANIFEST (1u << 20) /* manifest.json */
#define TRANSFER_MAX_CONFIG   (8u << 20) /* the image config */
#define TRANSFER_MAX_PATH     512	 /* a path inside the saved image */
#define TRANSFER_MAX_TAG      255
#define TRANSFER_DIGEST_LEN   (7 + 64) /* "sha256:" + 64 hex */

/* An entry of `docker save`'s manifest.json (exactly one image). Strings owned. */
struct transfer_manifest {
	char *config;	      /* relative path of the image config */
	struct strvec tags;   /* RepoTags; may be empty */
	struct strvec layers; /* relative paths of the layer tars, bottom layer first */
};

void transfer_manifest_init(struct transfer_manifest *m);
void transfer_manifest_release(struct transfer_manifest *m);

/*
 * Reads manifest.json as `docker save` writes it (the legacy layout, or the
 * OCI one of Docker 25+: both list Config, RepoTags and Layers). Paths must
 * be relative, without "." or ".." parts; tags plain. Returns 0, or -1 with e
 * set ("manifest.json: Layers[2]: expected a relative path, found ...").
 */
int transfer_parse_manifest(const char *buf, size_t len, struct transfer_manifest *m,
			    struct err *e);

/* Appends the image config's rootfs.diff_ids ("sha256:<hex>") to diff_ids. 0 or -1 with e. */
int transfer_parse_config(const char *buf, size_t len, struct strvec *diff_ids, struct err *e);

/* Whether s is "sha256:" and 64 lowercase hex digits. */
bool transfer_valid_digest(struct slice s);

/* The ID ("sha256:...") of image in the local dockerd into id, or "" when it has none. */
void transfer_local_image_id(const char *image, struct sbuf *id);

/* What `docker image inspect --format TRANSFER_INSPECT_FORMAT` says of the local image. */
#define TRANSFER_INSPECT_FORMAT "{{.Id}} {{.Size}}{{range .RootFS.Layers}} {{.}}{{end}}"
struct transfer_image {
	char *id;		/* "sha256:<hex>" */
	uint64_t size;		/* bytes, as docker reports the image's size */
	struct strvec diff_ids; /* bottom first */
};
void transfer_image_init(struct transfer_image *img);
void transfer_image_release(struct transfer_image *img);
int transfer_parse_inspect(struct slice out, struct transfer_image *img, struct err *e);

/* What a host answered to the probe. */
struct transfer_probe {
	char *dir;	      /* the layer cache, an absolute path */
	bool tagged;	      /* the image is there under the name asked for */
	bool has_id;	      /* the image is there, under another name or none */
	struct strvec cached; /* hex digests (no "sha256:") the cache holds */
	bool layers_unknown;  /* asked of Docker only: the cache was not looked at */
};
void transfer_probe_init(struct transfer_probe *p);
void transfer_probe_release(struct transfer_probe *p);
/*
 * Lines "dir PATH", "tagged", "has-id", "layer HEX", "layers unknown"; others
 * are ignored. "dir" may be missing only with "tagged", "has-id" or "layers
 * unknown". 0 or -1 with e.
 */
int transfer_parse_probe(struct slice out, struct transfer_probe *p, struct err *e);

/* Called with one line of progress (no newline), for people. */
typedef void (*transfer_progress_fn)(const char *line, void *data);

struct transfer_opts {
	const char *image;     /* a name[:tag] or an ID of a local image */
	const char *cache_dir; /* NULL: next to Docker's data root on each host */
	const char *tmp_dir;   /* where to unpack the image here; NULL: $TMPDIR or /var/tmp */
	size_t max_parallel;   /* transfers at once, across hosts; 0: 8 */
	transfer_progress_fn progress; /* NULL: silent */
	void *progress_data;
};

struct transfer_host {
	bool failed;
	struct err err; /* why, when failed: "host 'x': ..." */
	bool present;	/* nothing had to be sent */
	size_t layers_sent, layers_cached;
	uint64_t bytes_sent; /* layers and metadata */
};

struct transfer_result {
	size_t nhosts;
	struct transfer_host *hosts; /* one per host, in the order given */
	size_t nfailed;
	uint64_t image_size; /* docker's size of the image */
	size_t nlayers;
	uint64_t bytes_sent; /* over all hosts */
};
void transfer_result_release(struct transfer_result *r);

/*
 * Delivers opts->image to every host. Returns 0 when every host has it; -1
 * with e set when it could not start (no such image here, docker save
 * failed: then r->nhosts is 0) or when some host failed (e says how many;
 * each failed host's reason is in r->hosts[i].err, and the other hosts
 * still got the image). Release r with transfer_result_release either way.
 */
int transfer_image(struct exec *ex, const char *const *hosts, size_t nhosts,
		   const struct transfer_opts *opts, struct transfer_result *r, struct err *e);

/* "12.3 MiB", for progress lines. */
void transfer_human_size(struct sbuf *out, uint64_t bytes);

#endif
