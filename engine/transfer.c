#include "transfer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/scripts.h"
#include "lib/banned.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

/* ------------------------------------------------------------ parsing */

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool valid_hex64(struct slice s)
{
	size_t i;

	if (s.len != 64) {
		return false;
	}
	for (i = 0; i < s.len; i++) {
		if (!is_hex_lower(s.ptr[i])) {
			return false;
		}
	}
	return true;
}

bool transfer_valid_digest(struct slice s)
{
	return s.len == TRANSFER_DIGEST_LEN && slice_starts_with(s, "sha256:") &&
	       valid_hex64(slice_from(s, 7));
}

/* A relative path inside the saved image: plain characters, no "." or ".." parts. */
static bool valid_rel_path(const char *p)
{
	struct slice rest = slice_cstr(p), part;
	size_t i;

	if (!rest.len || rest.len > TRANSFER_MAX_PATH) {
		return false;
	}
	for (i = 0; i < rest.len; i++) {
		char c = rest.ptr[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '/')) {
			return false;
		}
	}
	while (rest.len) {
		part = slice_next(&rest, '/');
		if (!part.len || slice_eq_cstr(part, ".") || slice_eq_cstr(part, "..")) {
			return false;
		}
	}
	return p[strlen(p) - 1] != '/';
}

/* A tag as Docker prints it: registry/name:tag, or name@digest. */
static bool valid_tag(const char *t)
{
	size_t i, n = strlen(t);

	if (!n || n > TRANSFER_MAX_TAG || t[0] == '-') {
		return false;
	}
	for (i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@')) {
			return false;
		}
	}
	return true;
}

void transfer_manifest_init(struct transfer_manifest *m)
{
	m->config = NULL;
	strvec_init(&m->tags);
	strvec_init(&m->layers);
}

void transfer_manifest_release(struct transfer_manifest *m)
{
	free(m->config);
	strvec_clear(&m->tags);
	strvec_clear(&m->layers);
	transfer_manifest_init(m);
}

/* Quotes a short, printable excerpt of an untrusted string for a message. */
static void excerpt(struct sbuf *out, const char *s)
{
	size_t i;

	sbuf_addch(out, '\'');
	for (i = 0; s[i] && i < 60; i++) {
		unsigned char c = (unsigned char)s[i];
		sbuf_addch(out, c >= 0x20 && c < 0x7f ? c : '?');
	}
	sbuf_addstr(out, s[i] ? "...'" : "'");
}

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static json_t *load_json(const char *buf, size_t len, size_t max, const char *what, struct err *e)
{
	json_error_t jerr;
	json_t *j;

	if (len > max) {
		err_set(e, "%s: too large (%zu bytes; at most %zu)", what, len, max);
		return NULL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		err_set(e, "%s:%d:%d: %s", what, jerr.line, jerr.column, jerr.text);
	}
	return j;
}

int transfer_parse_manifest(const char *buf, size_t len, struct transfer_manifest *m, struct err *e)
{
	json_t *root, *ent, *cfg, *tags, *layers, *v;
	struct sbuf tmp = SBUF_INIT;
	size_t i;
	int ret = -1;

	root = load_json(buf, len, TRANSFER_MAX_MANIFEST, "manifest.json", e);
	if (!root) {
		return -1;
	}
	if (!json_is_array(root) || json_array_size(root) != 1) {
		if (json_is_array(root)) {
			err_set(e, "manifest.json: expected one image, found %zu",
				json_array_size(root));
		} else {
			err_set(e, "manifest.json: expected an array, found %s", json_kind(root));
		}
		goto out;
	}
	ent = json_array_get(root, 0);
	if (!json_is_object(ent)) {
		err_set(e, "manifest.json: [0]: expected an object, found %s", json_kind(ent));
		goto out;
	}
	cfg = json_object_get(ent, "Config");
	if (!json_is_string(cfg) || !valid_rel_path(json_string_value(cfg))) {
		if (json_is_string(cfg)) {
			excerpt(&tmp, json_string_value(cfg));
		}
		err_set(e, "manifest.json: Config: expected a relative path, found %s",
			!cfg		      ? "nothing"
			: json_is_string(cfg) ? tmp.buf
					      : json_kind(cfg));
		goto out;
	}
	m->config = xstrdup(json_string_value(cfg));
	tags = json_object_get(ent, "RepoTags");
	if (tags && !json_is_null(tags)) {
		if (!json_is_array(tags) || json_array_size(tags) > TRANSFER_MAX_TAGS) {
			err_set(e, "manifest.json: RepoTags: expected a list of at most %d tags",
				TRANSFER_MAX_TAGS);
			goto out;
		}
		json_array_foreach(tags, i, v)
		{
			if (!json_is_string(v) || !valid_tag(json_string_value(v))) {
				sbuf_reset(&tmp);
				if (json_is_string(v)) {
					excerpt(&tmp, json_string_value(v));
				}
				err_set(
				    e,
				    "manifest.json: RepoTags[%zu]: expected an image tag, found %s",
				    i, json_is_string(v) ? tmp.buf : json_kind(v));
				goto out;
			}
			strvec_push(&m->tags, json_string_value(v));
		}
	}
	layers = json_object_get(ent, "Layers");
	if (!json_is_array(layers) || json_array_size(layers) > TRANSFER_MAX_LAYERS) {
		err_set(e, "manifest.json: Layers: expected a list of at most %d paths, found %s",
			TRANSFER_MAX_LAYERS,
			!layers			? "nothing"
			: json_is_array(layers) ? "more"
						: json_kind(layers));
		goto out;
	}
	json_array_foreach(layers, i, v)
	{
		if (!json_is_string(v) || !valid_rel_path(json_string_value(v))) {
			sbuf_reset(&tmp);
			if (json_is_string(v)) {
				excerpt(&tmp, json_string_value(v));
			}
			err_set(e, "manifest.json: Layers[%zu]: expected a relative path, found %s",
				i, json_is_string(v) ? tmp.buf : json_kind(v));
			goto out;
		}
		strvec_push(&m->layers, json_string_value(v));
	}
	ret = 0;
out:
	if (ret < 0) {
		transfer_manifest_release(m);
	}
	sbuf_release(&tmp);
	json_decref(root);
	return ret;
}

int transfer_parse_config(const char *buf, size_t len, struct strvec *diff_ids, struct err *e)
{
	json_t *root, *rootfs, *ids, *v;
	size_t i;
	int ret = -1;

	root = load_json(buf, len, TRANSFER_MAX_CONFIG, "image config", e);
	if (!root) {
		return -1;
	}
	rootfs = json_object_get(root, "rootfs");
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_object(root) || !json_is_object(rootfs) ||
	    !(json_is_array(ids) || json_is_null(ids) || !ids)) {
		err_set(e, "image config: rootfs.diff_ids: expected a list of digests");
		goto out;
	}
	if (json_array_size(ids) > TRANSFER_MAX_LAYERS) {
		err_set(e, "image config: rootfs.diff_ids: more than %d layers",
			TRANSFER_MAX_LAYERS);
		goto out;
	}
	json_array_foreach(ids, i, v)
	{
		if (!json_is_string(v) || !transfer_valid_digest(slice_make(
					      json_string_value(v), json_string_length(v)))) {
			err_set(e, "image config: rootfs.diff_ids[%zu]: expected a sha256 digest",
				i);
			goto out;
		}
		strvec_push(diff_ids, json_string_value(v));
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

static void push_slice(struct strvec *sv, struct slice s)
{
	char *d = slice_dup(s);

	strvec_push(sv, d);
	free(d);
}

void transfer_image_init(struct transfer_image *img)
{
	img->id = NULL;
	img->size = 0;
	strvec_init(&img->diff_ids);
}

void transfer_image_release(struct transfer_image *img)
{
	free(img->id);
	strvec_clear(&img->diff_ids);
	transfer_image_init(img);
}

int transfer_parse_inspect(struct slice out, struct transfer_image *img, struct err *e)
{
	struct slice rest = slice_trim(out), w;

	w = slice_next_word(&rest);
	if (!transfer_valid_digest(w)) {
		return err_set(e, "docker image inspect: expected an image ID, found '%.*s'",
			       (int)(w.len > 80 ? 80 : w.len), w.ptr);
	}
	img->id = slice_dup(w);
	w = slice_next_word(&rest);
	if (!slice_to_u64(w, UINT64_MAX, &img->size)) {
		err_set(e, "docker image inspect: expected the image size, found '%.*s'",
			(int)(w.len > 80 ? 80 : w.len), w.ptr);
		goto fail;
	}
	while ((w = slice_next_word(&rest)).len) {
		if (!transfer_valid_digest(w) || img->diff_ids.nr >= TRANSFER_MAX_LAYERS) {
			err_set(e, "docker image inspect: expected at most %d layer digests",
				TRANSFER_MAX_LAYERS);
			goto fail;
		}
		push_slice(&img->diff_ids, w);
	}
	return 0;
fail:
	transfer_image_release(img);
	return -1;
}

void transfer_probe_init(struct transfer_probe *p)
{
	p->dir = NULL;
	p->tagged = p->has_id = p->layers_unknown = false;
	strvec_init(&p->cached);
}

void transfer_probe_release(struct transfer_probe *p)
{
	free(p->dir);
	strvec_clear(&p->cached);
	transfer_probe_init(p);
}

static bool valid_abs_dir(struct slice s)
{
	size_t i;

	if (s.len < 2 || s.len > 4096 || s.ptr[0] != '/') {
		return false;
	}
	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (c < 0x20 || c == 0x7f) {
			return false;
		}
	}
	return true;
}

int transfer_parse_probe(struct slice out, struct transfer_probe *p, struct err *e)
{
	struct slice rest = out, line;

	while (rest.len) {
		line = slice_next(&rest, '\n');
		if (line.len && line.ptr[line.len - 1] == '\r') {
			line.len--;
		}
		if (slice_starts_with(line, "dir ")) {
			struct slice d = slice_from(line, 4);
			if (!valid_abs_dir(d)) {
				return err_set(e, "the layer cache must be an absolute path");
			}
			free(p->dir);
			p->dir = slice_dup(d);
		} else if (slice_eq_cstr(line, "tagged")) {
			p->tagged = true;
		} else if (slice_eq_cstr(line, "has-id")) {
			p->has_id = true;
		} else if (slice_eq_cstr(line, "layers unknown")) {
			p->layers_unknown = true;
		} else if (slice_starts_with(line, "layer ")) {
			struct slice h = slice_from(line, 6);
			if (!valid_hex64(h)) {
				return err_set(e, "the probe named a layer that is not a digest");
			}
			if (p->cached.nr >= TRANSFER_MAX_LAYERS) {
				return err_set(e, "the probe named more than %d layers",
					       TRANSFER_MAX_LAYERS);
			}
			push_slice(&p->cached, h);
		}
	}
	/* the cache matters only to a host that lacks the image */
	if (!p->dir && !p->tagged && !p->has_id && !p->layers_unknown) {
		return err_set(e, "the probe did not name the layer cache");
	}
	return 0;
}

void transfer_human_size(struct sbuf *out, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		sbuf_addf(out, "%" PRIu64 " B", bytes);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	sbuf_addf(out, "%.1f %s", v, units[u]);
}

void transfer_result_release(struct transfer_result *r)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++) {
		err_release(&r->hosts[i].err);
	}
	free(r->hosts);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ remote scripts */

/*
 * Fixed scripts; the image name, digests and paths come in as positional
 * arguments, so nothing a user wrote is ever parsed by the remote shell.
 */

/* ------------------------------------------------------------ the transfer */

#define PROBE_TIMEOUT_MS 120000
#define CAPTURE_MAX	 (256u << 10)

struct host_state {
	const char *name;
	struct transfer_probe probe;
	bool probed;
	struct strvec need; /* hex digests to send, unique */
	bool *have;	    /* per unique layer: in the cache already */
};

struct send_job {
	struct transfer_host *res;
	struct host_state *hs;
	const char *hex;
	uint64_t size;
	const struct transfer_opts *opts;
	bool done;
};

struct local_image {
	char *tmp;	/* our temporary directory */
	char *unpacked; /* tmp/x */
	struct transfer_manifest man;
	struct strvec layer_files; /* absolute, per unique layer */
	uint64_t *layer_sizes;
	char *skel_tar; /* tmp/skel.tar */
	uint64_t skel_size;
};

static void progress(const struct transfer_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const struct transfer_opts *o, const char *fmt, ...)
{
	struct sbuf sb = SBUF_INIT;
	va_list ap;

	if (!o->progress) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	o->progress(sb.buf, o->progress_data);
	sbuf_release(&sb);
}

static void host_fail(struct transfer_result *r, size_t i, const struct exec *ex, const char *host,
		      const struct run_cmd *c, const char *doing)
{
	struct transfer_host *h = &r->hosts[i];
	struct sbuf how = SBUF_INIT;

	if (h->failed) {
		return;
	}
	h->failed = true;
	r->nfailed++;
	if (exec_script_result(ex, host, &(const struct exec_script){.what = doing}, c, &h->err) ==
	    0) {
		/* it exited 0 without the answer it owes */
		run_describe_status(c, &how);
		err_set(&h->err, "host '%s': %s: %s without an answer", host, doing, how.buf);
	}
	sbuf_release(&how);
}

static int run_local(struct run_cmd *c, const char *const *argv, struct err *e)
{
	strvec_pushv(&c->argv, argv);
	c->out = RUN_IO_CAPTURE;
	c->err = RUN_IO_CAPTURE;
	c->capture_max = CAPTURE_MAX;
	if (run_one(c) < 0) {
		struct sbuf how = SBUF_INIT;
		struct slice tail = slice_trim(run_tail_lines(&c->errbuf, 3));
		run_describe_status(c, &how);
		err_set(e, "'%s %s' %s%s%.*s", argv[0], argv[1], how.buf, tail.len ? ": " : "",
			(int)tail.len, tail.ptr);
		sbuf_release(&how);
		return -1;
	}
	return 0;
}

static void short_digest(struct sbuf *out, const char *hex)
{
	sbuf_addf(out, "sha256:%.12s\xe2\x80\xa6", hex);
}

/* Reads a file of at most max bytes. */
static int read_bounded(const char *path, size_t max, struct sbuf *out, const char *what,
			struct err *e)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		return err_set(e, "cannot read the saved image's %s: %s", what, strerror(errno));
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		return err_set(e, "the saved image's %s is not a file of at most %zu bytes", what,
			       max);
	}
	if (sbuf_read_file(out, path) < 0) {
		return err_set(e, "cannot read the saved image's %s: %s", what, strerror(errno));
	}
	return 0;
}

static void local_image_release(struct local_image *li)
{
	if (li->tmp) {
		struct run_cmd c = RUN_CMD_INIT;
		strvec_pushv(&c.argv, (const char *[]){"rm", "-rf", "--", li->tmp, NULL});
		c.out = RUN_IO_NULL;
		c.err = RUN_IO_NULL;
		run_one(&c);
		run_cmd_release(&c);
	}
	free(li->tmp);
	free(li->unpacked);
	free(li->skel_tar);
	free(li->layer_sizes);
	strvec_clear(&li->layer_files);
	transfer_manifest_release(&li->man);
}

/*
 * `docker save` into a temporary directory, unpacked; finds each unique
 * layer's file and writes the small tar that goes with every load.
 */
static int save_image(const struct transfer_opts *o, const struct transfer_image *img,
		      const struct strvec *uniq, struct local_image *li, struct err *e)
{
	const char *base = o->tmp_dir ? o->tmp_dir : getenv("TMPDIR");
	struct sbuf path = SBUF_INIT, buf = SBUF_INIT;
	struct strvec ids = STRVEC_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	json_t *man = NULL, *ent, *tags, *layers;
	char *tar = NULL, *skel = NULL, *dumped = NULL;
	struct stat st;
	size_t i, j;
	int ret = -1;

	sbuf_addf(&path, "%s/berth-image.XXXXXX", base && *base ? base : "/var/tmp");
	if (!mkdtemp(path.buf)) {
		err_set(e, "cannot make a temporary directory in '%s': %s",
			base && *base ? base : "/var/tmp", strerror(errno));
		goto out;
	}
	li->tmp = xstrdup(path.buf);
	sbuf_addstr(&path, "/image.tar");
	tar = xstrdup(path.buf);
	if (run_local(&c, (const char *[]){"docker", "save", "-o", tar, "--", o->image, NULL}, e) <
	    0) {
		goto out;
	}
	run_cmd_release(&c);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/x", li->tmp);
	li->unpacked = xstrdup(path.buf);
	if (mkdir(li->unpacked, 0700) < 0) {
		err_set(e, "cannot make '%s': %s", li->unpacked, strerror(errno));
		goto out;
	}
	run_cmd_init(&c);
	if (run_local(
		&c,
		(const char *[]){"tar", "--no-same-owner", "-xf", tar, "-C", li->unpacked, NULL},
		e) < 0) {
		goto out;
	}
	unlink(tar);

	sbuf_reset(&path);
	sbuf_addf(&path, "%s/manifest.json", li->unpacked);
	if (read_bounded(path.buf, TRANSFER_MAX_MANIFEST, &buf, "manifest.json", e) < 0 ||
	    transfer_parse_manifest(buf.buf, buf.len, &li->man, e) < 0) {
		goto out;
	}
	sbuf_reset(&path);
	sbuf_reset(&buf);
	sbuf_addf(&path, "%s/%s", li->unpacked, li->man.config);
	if (read_bounded(path.buf, TRANSFER_MAX_CONFIG, &buf, "config", e) < 0 ||
	    transfer_parse_config(buf.buf, buf.len, &ids, e) < 0) {
		goto out;
	}
	if (ids.nr != img->diff_ids.nr || ids.nr != li->man.layers.nr) {
		err_set(e, "image '%s' changed while it was being saved; try again", o->image);
		goto out;
	}
	for (i = 0; i < ids.nr; i++) {
		if (strcmp(ids.v[i], img->diff_ids.v[i])) {
			err_set(e, "image '%s' changed while it was being saved; try again",
				o->image);
			goto out;
		}
	}
	/* the file of each unique layer */
	li->layer_sizes = xcalloc(uniq->nr ? uniq->nr : 1, sizeof(*li->layer_sizes));
	for (i = 0; i < uniq->nr; i++) {
		for (j = 0; j < ids.nr && strcmp(ids.v[j] + 7, uniq->v[i]); j++) {
		}
		sbuf_reset(&path);
		sbuf_addf(&path, "%s/%s", li->unpacked, li->man.layers.v[j]);
		if (lstat(path.buf, &st) < 0 || !S_ISREG(st.st_mode)) {
			err_set(e, "the saved image has no file for layer sha256:%s", uniq->v[i]);
			goto out;
		}
		strvec_push(&li->layer_files, path.buf);
		li->layer_sizes[i] = (uint64_t)st.st_size;
	}

	/* the small tar every load starts from: our manifest and the config */
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/skel", li->tmp);
	skel = xstrdup(path.buf);
	if (mkdir(skel, 0700) < 0) {
		err_set(e, "cannot make '%s': %s", skel, strerror(errno));
		goto out;
	}
	man = json_array();
	ent = json_object();
	tags = json_array();
	layers = json_array();
	json_array_append_new(man, ent);
	json_object_set_new(ent, "Config", json_string("config.json"));
	for (i = 0; i < li->man.tags.nr; i++) {
		json_array_append_new(tags, json_string(li->man.tags.v[i]));
	}
	json_object_set_new(ent, "RepoTags", tags);
	for (i = 0; i < ids.nr; i++) {
		sbuf_reset(&path);
		sbuf_addf(&path, "layers/%s.tar", ids.v[i] + 7);
		json_array_append_new(layers, json_string(path.buf));
	}
	json_object_set_new(ent, "Layers", layers);
	dumped = json_dumps(man, JSON_COMPACT);
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/manifest.json", skel);
	{
		FILE *f = fopen(path.buf, "w");
		bool ok = f && fputs(dumped, f) >= 0;
		if (f && fclose(f) != 0) {
			ok = false;
		}
		sbuf_reset(&path);
		sbuf_addf(&path, "%s/config.json", skel);
		f = ok ? fopen(path.buf, "w") : NULL;
		ok = f && fwrite(buf.buf, 1, buf.len, f) == buf.len;
		if (f && fclose(f) != 0) {
			ok = false;
		}
		if (!ok) {
			err_set(e, "cannot write in '%s': %s", skel, strerror(errno));
			goto out;
		}
	}
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/skel.tar", li->tmp);
	li->skel_tar = xstrdup(path.buf);
	run_cmd_release(&c);
	run_cmd_init(&c);
	if (run_local(&c,
		      (const char *[]){"tar", "-b", "1", "-cf", li->skel_tar, "-C", skel,
				       "manifest.json", "config.json", NULL},
		      e) < 0) {
		goto out;
	}
	if (stat(li->skel_tar, &st) < 0) {
		err_set(e, "cannot read '%s': %s", li->skel_tar, strerror(errno));
		goto out;
	}
	li->skel_size = (uint64_t)st.st_size;
	ret = 0;
out:
	json_decref(man);
	free(dumped);
	free(tar);
	free(skel);
	run_cmd_release(&c);
	strvec_clear(&ids);
	sbuf_release(&path);
	sbuf_release(&buf);
	return ret;
}

static void on_received(struct run_cmd *cmd, int fd, struct slice line, void *data)
{
	struct send_job *job = data;
	struct sbuf msg = SBUF_INIT, size = SBUF_INIT;

	(void)cmd;
	if (fd != 1 || !slice_starts_with(line, "ok ") ||
	    !slice_eq_cstr(slice_from(line, 3), job->hex) || job->done) {
		return;
	}
	job->done = true;
	job->res->layers_sent++;
	job->res->bytes_sent += job->size;
	short_digest(&msg, job->hex);
	transfer_human_size(&size, job->size);
	progress(job->opts, "%s: layer %s %s sent", job->hs->name, msg.buf, size.buf);
	sbuf_release(&msg);
	sbuf_release(&size);
}

static bool has_str(const struct strvec *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->nr; i++) {
		if (!strcmp(sv->v[i], s)) {
			return true;
		}
	}
	return false;
}

/* A script of the transfer (engine/scripts/transfer-*.sh) with args. */
static struct exec_script script_of(const char *text, const struct strvec *args,
				    unsigned timeout_ms, unsigned flags)
{
	return (struct exec_script){
	    .text = text,
	    .name = "sh",
	    .args = (const char *const *)args->v,
	    .timeout_ms = timeout_ms,
	    .capture_max = CAPTURE_MAX,
	    .flags = flags,
	};
}

int transfer_image(struct exec *ex, const char *const *hosts, size_t nhosts,
		   const struct transfer_opts *o, struct transfer_result *r, struct err *e)
{
	size_t par = o->max_parallel ? o->max_parallel : 8;
	struct transfer_image img;
	struct local_image li;
	struct host_state *hs = NULL;
	struct run_cmd *cmds = NULL, **ptrs = NULL;
	struct send_job *jobs = NULL;
	struct strvec uniq = STRVEC_INIT, argv = STRVEC_INIT;
	struct run_cmd c = RUN_CMD_INIT;
	struct exec_script sc;
	struct sbuf sb = SBUF_INIT, sz = SBUF_INIT;
	size_t i, j, n, njobs = 0;
	bool need_save = false;
	int pass, prep;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	memset(&li, 0, sizeof(li));
	transfer_manifest_init(&li.man);
	strvec_init(&li.layer_files);
	transfer_image_init(&img);
	if (!o->image || !*o->image || o->image[0] == '-') {
		err_set(e, "no image to send");
		goto out;
	}

	/* 1. the image here */
	if (run_local(&c,
		      (const char *[]){"docker", "image", "inspect", "--format",
				       TRANSFER_INSPECT_FORMAT, "--", o->image, NULL},
		      e) < 0) {
		err_set(e, "no image '%s' here: build it first, or check the name (docker images)",
			o->image);
		goto out;
	}
	if (transfer_parse_inspect(slice_make(c.outbuf.buf, c.outbuf.len), &img, e) < 0) {
		goto out;
	}
	for (i = 0; i < img.diff_ids.nr; i++) {
		if (!has_str(&uniq, img.diff_ids.v[i] + 7)) {
			strvec_push(&uniq, img.diff_ids.v[i] + 7);
		}
	}
	r->nhosts = nhosts;
	r->hosts = xcalloc(nhosts ? nhosts : 1, sizeof(*r->hosts));
	r->image_size = img.size;
	r->nlayers = img.diff_ids.nr;
	for (i = 0; i < nhosts; i++) {
		err_init(&r->hosts[i].err);
	}
	hs = xcalloc(nhosts ? nhosts : 1, sizeof(*hs));
	cmds = xcalloc(nhosts ? nhosts : 1, sizeof(*cmds));
	ptrs = xcalloc(nhosts ? nhosts : 1, sizeof(*ptrs));

	/*
	 * 2. probe every host: first what Docker has, from here when it can
	 * be (no process on the host), then the layer cache of the hosts that
	 * lack the image, on the host
	 */
	for (i = 0; i < nhosts; i++) {
		hs[i].name = hosts[i];
		transfer_probe_init(&hs[i].probe);
		strvec_init(&hs[i].need);
		run_cmd_init(&cmds[i]);
	}
	for (pass = 0; pass < 2; pass++) {
		strvec_clear(&argv);
		strvec_pushv(&argv,
			     (const char *[]){o->image, img.id, o->cache_dir ? o->cache_dir : "",
					      pass ? "all" : "docker", NULL});
		strvec_pushv(&argv, (const char *const *)uniq.v);
		for (i = 0, n = 0; i < nhosts; i++) {
			if (r->hosts[i].failed || (pass && !hs[i].probe.layers_unknown)) {
				continue;
			}
			run_cmd_release(&cmds[i]);
			run_cmd_init(&cmds[i]);
			transfer_probe_release(&hs[i].probe);
			transfer_probe_init(&hs[i].probe);
			/* on the host already (no forward): everything in one go */
			free(argv.v[3]);
			argv.v[3] =
			    xstrdup(pass || !exec_docker_here(ex, hosts[i]) ? "all" : "docker");
			sc = script_of(script_transfer_probe, &argv, PROBE_TIMEOUT_MS,
				       pass ? 0 : EXEC_SCRIPT_DOCKER);
			if (exec_script_prepare(ex, hosts[i], &sc, &cmds[i], &r->hosts[i].err) <
			    0) {
				r->hosts[i].failed = true;
				r->nfailed++;
				continue;
			}
			ptrs[n++] = &cmds[i];
		}
		run_all(ptrs, n, par);
		for (j = 0; j < n; j++) {
			i = (size_t)(ptrs[j] - cmds);
			struct transfer_host *h = &r->hosts[i];

			if (cmds[i].status != 0) {
				host_fail(r, i, ex, hosts[i], &cmds[i],
					  "cannot look at its images");
				continue;
			}
			if (transfer_parse_probe(slice_make(cmds[i].outbuf.buf, cmds[i].outbuf.len),
						 &hs[i].probe, &h->err) < 0) {
				err_prefix(&h->err, "host '%s': ", hosts[i]);
				h->failed = true;
				r->nfailed++;
				continue;
			}
		}
	}
	for (i = 0; i < nhosts; i++) {
		struct transfer_host *h = &r->hosts[i];

		if (h->failed) {
			continue;
		}
		hs[i].probed = true;
		if (hs[i].probe.tagged || hs[i].probe.has_id) {
			continue;
		}
		for (j = 0; j < uniq.nr; j++) {
			if (has_str(&hs[i].probe.cached, uniq.v[j])) {
				sbuf_reset(&sb);
				short_digest(&sb, uniq.v[j]);
				progress(o, "%s: layer %s cached", hosts[i], sb.buf);
				h->layers_cached++;
			} else {
				strvec_push(&hs[i].need, uniq.v[j]);
			}
		}
		need_save = true; /* even with every layer cached, the load needs the config */
	}
	for (i = 0; i < nhosts; i++) {
		run_cmd_release(&cmds[i]);
	}

	/* 3. the image, unpacked here, only when a host needs it */
	if (need_save && save_image(o, &img, &uniq, &li, e) < 0) {
		goto out;
	}

	/* 4. the missing layers, bottom first, hosts interleaved */
	for (i = 0; i < nhosts; i++) {
		njobs += hs[i].need.nr;
	}
	jobs = xcalloc(njobs ? njobs : 1, sizeof(*jobs));
	free(cmds);
	free(ptrs);
	cmds = xcalloc(njobs + nhosts + 1, sizeof(*cmds));
	ptrs = xcalloc(njobs + nhosts + 1, sizeof(*ptrs));
	n = 0;
	for (j = 0; j < uniq.nr; j++) {
		for (i = 0; i < nhosts; i++) {
			struct send_job *job;
			if (r->hosts[i].failed || !has_str(&hs[i].need, uniq.v[j])) {
				continue;
			}
			job = &jobs[n];
			job->res = &r->hosts[i];
			job->hs = &hs[i];
			job->hex = uniq.v[j];
			job->size = li.layer_sizes[j];
			job->opts = o;
			strvec_clear(&argv);
			strvec_pushv(&argv, (const char *[]){hs[i].probe.dir, uniq.v[j], NULL});
			run_cmd_init(&cmds[n]);
			cmds[n].in_file = li.layer_files.v[j];
			cmds[n].out = RUN_IO_CAPTURE | RUN_IO_STREAM;
			cmds[n].on_line = on_received;
			cmds[n].on_line_data = job;
			/* a layer takes as long as the link needs */
			sc = script_of(script_transfer_receive, &argv, EXEC_SCRIPT_NO_TIMEOUT, 0);
			if (exec_script_prepare(ex, hosts[i], &sc, &cmds[n], &r->hosts[i].err) <
			    0) {
				r->hosts[i].failed = true;
				r->nfailed++;
				continue;
			}
			ptrs[n] = &cmds[n];
			n++;
		}
	}
	run_all(ptrs, n, par);
	for (j = 0; j < n; j++) {
		size_t hi = (size_t)(jobs[j].hs - hs);
		if (cmds[j].status != 0 || !jobs[j].done) {
			sbuf_reset(&sb);
			sbuf_addstr(&sb, "cannot send layer ");
			short_digest(&sb, jobs[j].hex);
			host_fail(r, hi, ex, hosts[hi], &cmds[j], sb.buf);
		}
		run_cmd_release(&cmds[j]);
	}

	/* 5. load (or tag) where the image is not yet under its name */
	n = 0;
	for (i = 0; i < nhosts; i++) {
		struct run_cmd *lc = &cmds[i];
		run_cmd_init(lc);
		if (r->hosts[i].failed || hs[i].probe.tagged) {
			continue;
		}
		strvec_clear(&argv);
		if (hs[i].probe.has_id) {
			/* one docker command, no script */
			strvec_pushv(&argv,
				     (const char *[]){"docker", "tag", img.id, o->image, NULL});
			lc->out = lc->err = RUN_IO_CAPTURE;
			lc->capture_max = CAPTURE_MAX;
			prep = exec_prepare(ex, hosts[i], (const char *const *)argv.v, lc,
					    &r->hosts[i].err);
		} else {
			strvec_push(&argv, hs[i].probe.dir);
			strvec_pushv(&argv, (const char *const *)uniq.v);
			sc = script_of(script_transfer_load, &argv, EXEC_SCRIPT_NO_TIMEOUT, 0);
			lc->in_file = li.skel_tar;
			prep = exec_script_prepare(ex, hosts[i], &sc, lc, &r->hosts[i].err);
		}
		if (prep < 0) {
			r->hosts[i].failed = true;
			r->nfailed++;
			continue;
		}
		ptrs[n++] = lc;
	}
	run_all(ptrs, n, par);
	for (i = 0; i < nhosts; i++) {
		struct transfer_host *h = &r->hosts[i];
		if (h->failed) {
			continue;
		}
		if (!hs[i].probe.tagged && cmds[i].status != 0) {
			host_fail(r, i, ex, hosts[i], &cmds[i],
				  hs[i].probe.has_id ? "cannot tag the image"
						     : "cannot load the image");
			continue;
		}
		if (hs[i].probe.tagged || hs[i].probe.has_id) {
			h->present = true;
			progress(o, "%s: image present, nothing to send%s", hosts[i],
				 hs[i].probe.has_id ? " (tagged it)" : "");
			continue;
		}
		h->bytes_sent += li.skel_size;
		sbuf_reset(&sz);
		transfer_human_size(&sz, h->bytes_sent);
		progress(o, "%s: loaded %s: %zu of %zu layers sent, %s", hosts[i], o->image,
			 h->layers_sent, uniq.nr, sz.buf);
	}
	for (i = 0; i < nhosts; i++) {
		r->bytes_sent += r->hosts[i].bytes_sent;
	}
	if (r->nfailed) {
		err_set(e, "%zu of %zu hosts did not get image '%s'", r->nfailed, nhosts, o->image);
		goto out;
	}
	ret = 0;
out:
	for (i = 0; cmds && i < nhosts; i++) {
		run_cmd_release(&cmds[i]);
	}
	for (i = 0; hs && i < nhosts; i++) {
		transfer_probe_release(&hs[i].probe);
		strvec_clear(&hs[i].need);
	}
	free(hs);
	free(cmds);
	free(ptrs);
	free(jobs);
	local_image_release(&li);
	transfer_image_release(&img);
	run_cmd_release(&c);
	strvec_clear(&uniq);
	strvec_clear(&argv);
	sbuf_release(&sb);
	sbuf_release(&sz);
	return ret;
}

void transfer_local_image_id(const char *image, struct sbuf *id)
{
	struct run_cmd c = RUN_CMD_INIT;

	strvec_pushv(&c.argv, (const char *const[]){"docker", "image", "inspect", "--format",
						    "{{.Id}}", image, NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_NULL;
	c.capture_max = 4096;
	c.timeout_ms = 60000;
	sbuf_reset(id);
	if (run_one(&c) == 0) {
		struct slice s = slice_trim(slice_make(c.outbuf.buf, c.outbuf.len));

		if (transfer_valid_digest(s)) {
			sbuf_add(id, s.ptr, s.len);
		}
	}
	run_cmd_release(&c);
}
