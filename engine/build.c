#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "engine/app.h"
#include "engine/build.h"
#include "engine/secrets.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

void build_version_string(struct sbuf *out, const char *head, bool dirty, const char *diff,
			  size_t diff_len)
{
	struct slice h = slice_trim(slice_cstr(head));

	sbuf_add(out, h.ptr, h.len);
	if (dirty) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0, i;

		if (!EVP_Digest(diff, diff_len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 6) {
			xdie("sha256 failed");
		}
		sbuf_addstr(out, "_uncommitted_");
		for (i = 0; i < 6; i++) {
			sbuf_addf(out, "%02x", md[i]);
		}
	}
}

/* Runs `git -C dir ARGS...` and keeps its output; returns run_one's result. */
static int git_capture(struct run_cmd *c, const char *dir, const char *const *args)
{
	strvec_pushv(&c->argv, (const char *[]){"git", "-C", dir, NULL});
	strvec_pushv(&c->argv, args);
	c->out = RUN_IO_CAPTURE;
	c->err = RUN_IO_CAPTURE;
	return run_one(c);
}

int build_version(struct sbuf *out, const char *project_dir, struct err *e)
{
	const char *dir = project_dir && *project_dir ? project_dir : ".";
	struct run_cmd head = RUN_CMD_INIT, status = RUN_CMD_INIT, diff = RUN_CMD_INIT;
	int ret = -1;

	if (git_capture(&head, dir, (const char *[]){"rev-parse", "--verify", "HEAD", NULL}) < 0) {
		if (head.status == 127) {
			err_set(e, "cannot run git to find the version: give it with --version");
		} else {
			err_set(e,
				"'%s' is not a git repository with a commit: give the version with "
				"--version",
				dir);
		}
		goto out;
	}
	sbuf_trim(&head.outbuf);
	if (!head.outbuf.len || strspn(head.outbuf.buf, "0123456789abcdef") != head.outbuf.len) {
		err_set(e, "git rev-parse HEAD in '%s' did not print a commit", dir);
		goto out;
	}
	if (git_capture(&status, dir, (const char *[]){"status", "--porcelain", NULL}) < 0) {
		err_set(e, "git status failed in '%s'", dir);
		goto out;
	}
	if (status.outbuf.len) {
		diff.capture_max = BUILD_DIFF_MAX;
		if (git_capture(
			&diff, dir,
			(const char *[]){"diff", "--no-ext-diff", "--binary", "HEAD", NULL}) < 0) {
			err_set(e,
				diff.truncated ? "the uncommitted changes in '%s' are too large "
						 "to hash: commit them or give --version"
					       : "git diff failed in '%s'",
				dir);
			goto out;
		}
	}
	build_version_string(out, head.outbuf.buf, status.outbuf.len > 0, diff.outbuf.buf,
			     diff.outbuf.len);
	ret = 0;
out:
	run_cmd_release(&head);
	run_cmd_release(&status);
	run_cmd_release(&diff);
	return ret;
}

void build_argv(struct strvec *argv, const struct config *cfg, const char *version)
{
	const struct config_builder *b = &cfg->builder;
	struct sbuf sb = SBUF_INIT;
	size_t i;

	strvec_pushv(argv, (const char *[]){"docker", "build", "-t", NULL});
	app_image_ref(&sb, cfg, version);
	strvec_push(argv, sb.buf);
	strvec_push(argv, "--label");
	strvec_pushf(argv, "service=%s", cfg->service);
	if (b->arch.nr) {
		sbuf_reset(&sb);
		for (i = 0; i < b->arch.nr; i++) {
			sbuf_addf(&sb, "%slinux/%s", i ? "," : "", b->arch.v[i]);
		}
		strvec_pushv(argv, (const char *[]){"--platform", sb.buf, NULL});
	}
	if (b->dockerfile) {
		strvec_pushv(argv, (const char *[]){"--file", b->dockerfile, NULL});
	}
	for (i = 0; i < b->args.nr; i++) {
		strvec_push(argv, "--build-arg");
		strvec_pushf(argv, "%s=%s", b->args.v[i].key,
			     b->args.v[i].value ? b->args.v[i].value : "");
	}
	if (b->target) {
		strvec_pushv(argv, (const char *[]){"--target", b->target, NULL});
	}
	for (i = 0; i < b->secrets.nr; i++) {
		strvec_push(argv, "--secret");
		strvec_pushf(argv, "id=%s,env=%s", b->secrets.v[i], b->secrets.v[i]);
	}
	strvec_push(argv, b->context ? b->context : ".");
	sbuf_release(&sb);
}

/* Reads the builder's secrets into env as NAME=value; keeps them in kept for redaction. */
static int build_secrets(const struct config *cfg, const char *dir, struct strvec *env,
			 struct secrets *kept, struct err *e)
{
	struct secrets all;
	struct sbuf path = SBUF_INIT;
	size_t i;
	int ret = -1;

	secrets_init(&all);
	if (cfg->secrets_path && cfg->secrets_path[0] != '/' && strcmp(dir, ".")) {
		sbuf_addf(&path, "%s/%s", dir, cfg->secrets_path);
	} else {
		sbuf_addstr(&path, cfg->secrets_path ? cfg->secrets_path : ".kamal/secrets");
	}
	if (secrets_load_path(&all, path.buf, cfg->destination, dir, e) < 0) {
		goto out;
	}
	for (i = 0; i < cfg->builder.secrets.nr; i++) {
		const char *name = cfg->builder.secrets.v[i];
		const char *v = secrets_get(&all, name);

		if (!v) {
			err_set(e, "builder.secrets: secret '%s' is not set in the secrets files",
				name);
			goto out;
		}
		strvec_pushf(env, "%s=%s", name, v);
		secrets_set(kept, name, v, NULL);
	}
	ret = 0;
out:
	secrets_release(&all);
	sbuf_release(&path);
	return ret;
}

int build_image(const struct config *cfg, const char *version, const char *project_dir,
		struct err *e)
{
	const char *dir = project_dir && *project_dir ? project_dir : ".";
	struct run_cmd c = RUN_CMD_INIT;
	struct secrets kept;
	struct sbuf how = SBUF_INIT;
	bool verbose = log_get_level() >= LOG_DEBUG;
	size_t i;
	int ret = -1;

	secrets_init(&kept);
	if (!app_version_ok(version)) {
		err_set(e, "'%s' cannot be a version: use letters, digits, '_', '.' and '-'",
			version);
		goto out;
	}
	if (cfg->builder.secrets.nr) {
		/* build secrets need BuildKit; otherwise docker's own default stands */
		if (build_secrets(cfg, dir, &c.env, &kept, e) < 0) {
			goto out;
		}
		strvec_push(&c.env, "DOCKER_BUILDKIT=1");
	}
	build_argv(&c.argv, cfg, version);
	c.dir = dir;
	if (verbose) {
		char *line = strvec_join(&c.argv, " ");

		log_debug("run: %s", line);
		free(line);
		c.out = RUN_IO_INHERIT;
		c.err = RUN_IO_INHERIT;
	} else {
		c.out = RUN_IO_CAPTURE;
		c.err = RUN_IO_CAPTURE;
		c.capture_max = 16 * 1024 * 1024;
	}
	if (run_one(&c) < 0) {
		struct slice tail;

		secrets_redact(&kept, &c.errbuf);
		secrets_redact(&kept, &c.outbuf);
		tail = run_tail_lines(c.errbuf.len ? &c.errbuf : &c.outbuf, 20);
		run_describe_status(&c, &how);
		if (!c.started) {
			err_set(e, "cannot run docker to build the image: %s", how.buf);
		} else if (tail.len) {
			err_set(e, "docker build of '%s' %s:\n%.*s", c.argv.v[3], how.buf,
				(int)tail.len, tail.ptr);
		} else {
			err_set(e, "docker build of '%s' %s", c.argv.v[3], how.buf);
		}
		goto out;
	}
	ret = 0;
out:
	for (i = 0; i < c.env.nr; i++) {
		explicit_bzero(c.env.v[i], strlen(c.env.v[i]));
	}
	run_cmd_release(&c);
	secrets_release(&kept);
	sbuf_release(&how);
	return ret;
}
