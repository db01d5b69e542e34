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
 * Builds the image of version in project_dir (NULL: ".") with the local
 * docker. builder.secrets are read from the project's secrets
 * files (cfg->secrets_path and the destination's) only when the builder names
 * some, and reach docker in its environment (with DOCKER_BUILDKIT=1, which secrets need). docker's
 * output is shown as it comes at log level debug (-v); otherwise it is kept and its last lines are
 * in e when the build fails (secret values redacted). Returns 0, or -1 with
 * e set.
 */
int build_image(const struct config *cfg, const char *version, const char *project_dir,
		struct err *e);

#endif
