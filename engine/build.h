/*
 * build — the app's image on this machine: which version the project's tree
 * is, and `docker build` of it.
 *
 *	struct sbuf v = SBUF_INIT;
 *	if (build_version(&v, ".", &e) == 0 && build_image(&cfg, v.buf, ".", &e) == 0)
 *		... the image app_image_ref(cfg, v) exists locally ...
 *
 * The version follows Kamal's rule: the SHA of git's HEAD, and when the
 * tree has uncommitted changes (anything `git status --porcelain` lists)
 * "<sha>_uncommitted_<hex>", so that a dirty build never takes a clean
 * version's name. Kamal puts random hex there; berth puts the first 12 hex
 * digits of the SHA-256 of `git diff HEAD`, so the same changes give the same
 * version again (untracked files are not in that diff: two trees that differ
 * only in untracked files get the same version).
 */
#ifndef BUILD_H
#define BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/config.h"
#include "engine/secrets.h"
#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

/* Limit on the bytes of `git diff HEAD` that are hashed for a dirty version. */
#define BUILD_DIFF_MAX (256u * 1024 * 1024)

/*
 * Appends the version of the git tree at project_dir (NULL: "."). Returns 0,
 * or -1 with e set: not a git repository or no commit yet ("... give the
 * version with --version"), git missing, or a diff past BUILD_DIFF_MAX.
 */
int build_version(struct sbuf *out, const char *project_dir, struct err *e);

/*
 * The pure part of build_version: appends head (trimmed of whitespace), and
 * when dirty "_uncommitted_" and the first 12 hex digits of the SHA-256 of
 * diff[0..diff_len).
 */
void build_version_string(struct sbuf *out, const char *head, bool dirty, const char *diff,
			  size_t diff_len);

/*
 * The argv of `docker build` for version (pure):
 *	docker build -t REF --label service=S [--platform linux/A,...] [--file DOCKERFILE]
 *	    [--build-arg K=V]... [--target T] [--secret id=NAME,env=NAME]... CONTEXT
 * REF is app_image_ref(cfg, version); CONTEXT is builder.context or ".", and
 * the dockerfile is relative to the project directory, where docker runs.
 * A secret's value is never in argv: docker reads it from the environment.
 */
void build_argv(struct strvec *argv, const struct config *cfg, const char *version);

/*
 * Builds the image of version in project_dir (NULL: ".") as the builder
 * section says (struct build_plan): by default with the local docker, from
 * the clean clone of build_clone when the project is in git and
 * builder.context is not set. When buildx pushes the image itself, the push
 * is noted (registry_push_local then has nothing to do). builder.secrets are read from the
 * project's secrets files (cfg->secrets_path and the destination's) only when the builder names
 * some, and reach docker in its environment (with DOCKER_BUILDKIT=1, which secrets need). docker's
 * output is shown as it comes at log level debug (-v); otherwise it is kept and its last lines are
 * in e when the build fails (secret values redacted). Returns 0, or -1 with
 * e set.
 */
int build_image(const struct config *cfg, const char *version, const char *project_dir,
		struct err *e);

/* ---- the builder: plain docker build, or docker buildx with a builder of berth's ---- */

/*
 * How config's builder section builds, decided before anything runs
 * (build_plan_make). berth builds with plain `docker build` — the docker
 * driver, which `docker build` is also when buildx is installed — unless
 * the config asks for what only buildx does: several platforms
 * (builder.arch), a cache (builder.cache), a builder.driver other than
 * docker, or a hybrid build (builder.remote for some arches, this machine
 * for the others). Then it is `docker buildx build` on a builder of berth's,
 * named as Kamal names its own with "berth" for "kamal"
 * (berth-local-DRIVER, berth-remote-REMOTE, berth-hybrid-DRIVER-REMOTE,
 * "-local-registry" after REMOTE with a local registry), so that Kamal's
 * and berth's builders live side by side.
 *
 * builder.remote takes the arches this machine is not (all of them with
 * `local: false`, or when builder.arch names none): a plain build runs on
 * the remote docker (DOCKER_HOST=ssh://...) and the image is brought back
 * here (`docker save | docker load`) to be pushed or sent as any other.
 */
struct build_plan {
	bool buildx;	 /* docker buildx build */
	struct sbuf why; /* buildx: what asks for it, for messages */
	char *driver;	 /* buildx: "docker-container" unless builder.driver says */
	char *builder;	 /* buildx: the builder's name */
	char *context;	 /* buildx with a remote: the docker context of the remote */
	char *remote;	 /* builder.remote when some arch is built there */
	bool local;	 /* some arch is built here (or no arch is named and no remote) */
	bool hybrid;	 /* buildx: here and on the remote */
	struct sbuf platforms, local_platforms, remote_platforms; /* "linux/amd64,..." */
	unsigned nplatforms;
	bool push;	     /* buildx: the build pushes to the registry itself */
	bool local_registry; /* builders get --driver-opt network=host to reach it */
};

void build_plan_init(struct build_plan *p);
void build_plan_release(struct build_plan *p);
/*
 * Decides p for cfg on a machine of local_arch ("amd64", "arm64": what
 * build_local_arch says). Returns 0, or -1 with e set for what cannot be
 * built: Kamal's refusals (the docker driver with a remote, a cache or
 * several arches; a local registry with a remote that is not ssh://) and
 * several platforms without a registry to hold them (a multi-platform image
 * cannot be loaded into this machine's docker to be sent over ssh).
 */
int build_plan_make(struct build_plan *p, const struct config *cfg, const char *local_arch,
		    struct err *e);
/* This machine's arch as docker names it: amd64, arm64, or uname's word. Static storage. */
const char *build_local_arch(void);

/*
 * `--cache-from` and `--cache-to` of builder.cache, as Kamal writes them:
 *	gha:      type=gha[,url=...,token=...,scope=...]  /  type=gha[,OPTIONS]
 *	registry: type=registry,ref=[SERVER/]IMAGE  /  type=registry,ref=...[,OPTIONS]
 * where IMAGE is cache.image, or the app's image with "-build-cache". Nothing
 * appended without a cache.
 */
void build_cache_from(struct sbuf *out, const struct config *cfg);
void build_cache_to(struct sbuf *out, const struct config *cfg);

/*
 * The argv of `docker buildx build` (pure):
 *	docker buildx build --output=type=OUTPUT [--platform P,...] --builder NAME -t TAG
 *	    --label service=S [--cache-to C --cache-from C] [--build-arg K=V]...
 *	    [--secret id=NAME,env=NAME]... [--file F] [--target T] [--ssh S]
 *	    [--provenance P] [--sbom S] [--no-cache] CONTEXT
 * OUTPUT is "registry" (pushed) or "docker" (loaded here).
 */
void build_buildx_argv(struct strvec *argv, const struct config *cfg, const struct build_plan *p,
		       const char *tag, const char *output, const char *context);

/* Steps of `build create` and `build remove`: each an argv run here, in order. */
#define BUILD_MAX_STEPS 3
/*
 * The argvs that create p's builder (pure): for a local one
 *	docker buildx create --name NAME --driver=DRIVER [--driver-opt network=host]
 * for a remote one, its docker context first
 *	docker context create NAME-context --description "NAME host" --docker host=REMOTE
 *	docker buildx create --name NAME [--driver-opt network=host] NAME-context
 * and for a hybrid one the local builder with the local platforms, then the
 * remote appended with the remote ones. Returns how many (0: nothing to create).
 */
size_t build_create_argvs(const struct build_plan *p, struct strvec argvs[BUILD_MAX_STEPS]);
/* `docker buildx rm NAME`, and `docker context rm NAME-context` with a remote. */
size_t build_remove_argvs(const struct build_plan *p, struct strvec argvs[BUILD_MAX_STEPS]);

/*
 * Whether this machine's docker has buildx: 0 with its version line in
 * version (may be NULL), or -1 with e naming what is missing and how to get it.
 * what says who asks ("builder.arch lists amd64 and arm64").
 */
int build_buildx_check(struct sbuf *version, const char *what, struct err *e);

/*
 * The clean clone Kamal builds from: with no builder.context, in a git work
 * tree, the build runs in a clone of the repository at HEAD's commit, kept
 * between builds in $TMPDIR/berth-clones/SERVICE-HASH (HASH: of the project
 * directory's path) and reset to the commit each time, so uncommitted and
 * untracked files never reach the image. Appends the directory to build in
 * (the project's place inside the clone) to build_dir and what `git status
 * --porcelain` lists in the project to uncommitted. Returns 0, 1 when the
 * project is not in a git work tree (build it as it is), or -1 with e set.
 */
int build_clone(struct sbuf *build_dir, struct sbuf *uncommitted, const struct config *cfg,
		const char *project_dir, struct err *e);

struct build_opts {
	const char *version;	 /* the app version the image is tagged with */
	const char *project_dir; /* NULL: "." */
	const char *tag_suffix;	 /* "-dirty" for build dev; NULL: none */
	bool working_tree;	 /* build the tree as it is (build dev), never a clone */
	/* NULL: "registry" when the config has one and buildx builds, else the local image */
	const char *output;
	bool pushed; /* out: the build pushed the image itself (buildx to a registry) */
};

/*
 * build_image with more to say: the tag's suffix, the working tree, where
 * the image goes. Warns (log_warn) about the uncommitted changes a clean
 * clone leaves out, or a working tree builds in.
 */
int build_image_opts(const struct config *cfg, struct build_opts *o, struct err *e);

#endif
