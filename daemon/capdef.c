/* capdef — see capdef.h. */
#include "daemon/capdef.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/banned.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

#define WHERE CAPDEF_FILE ": "

void capdef_release(struct capdef *d)
{
	free(d->dockerfile);
	free(d->dockerfile_text);
	free(d->image);
	memset(d, 0, sizeof(*d));
}

/* A relative path inside the upload, normalised into out; false when it is not one. */
static bool inside_path(const char *p, struct sbuf *out)
{
	sbuf_reset(out);
	if (!*p || *p == '/') {
		return false;
	}
	while (*p) {
		const char *s = strchr(p, '/');
		size_t n = s ? (size_t)(s - p) : strlen(p);

		if (n == 2 && !memcmp(p, "..", 2)) {
			return false;
		}
		if (n && !(n == 1 && *p == '.')) {
			if (out->len) {
				sbuf_addch(out, '/');
			}
			sbuf_add(out, p, n);
		}
		p += n + (s ? 1 : 0);
	}
	return out->len > 0;
}

/* An image reference docker accepts, which no argv can mistake for an option. */
static bool image_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 255 || s[0] == '-' || s[0] == '.' || s[0] == '/' || s[0] == ':') {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._-/:@", c))) {
			return false;
		}
	}
	return true;
}

/* A version tag as CapRover's templates take it ("18", "8.7.0", "lts"). */
static bool version_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 64 || s[0] == '.' || s[0] == '-') {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_')) {
			return false;
		}
	}
	return true;
}

/* CapRover's node template, as its documentation spells out the equivalent Dockerfile. */
static void node_template(struct sbuf *out, const char *version)
{
	sbuf_addf(out, "FROM node:%s-alpine\n", version);
	sbuf_addstr(out, "RUN mkdir -p /usr/src/app\n"
			 "WORKDIR /usr/src/app\n"
			 "COPY ./package.json /usr/src/app/\n"
			 "RUN npm install && npm cache clean --force\n"
			 "COPY ./ /usr/src/app\n"
			 "ENV NODE_ENV production\n"
			 "ENV PORT 80\n"
			 "EXPOSE 80\n"
			 "CMD [ \"npm\", \"start\" ]\n");
}

static int template(const char *id, struct capdef *d, struct err *e)
{
	const char *slash = strchr(id, '/');
	struct sbuf text = SBUF_INIT;

	if (!slash || slash == id || !version_ok(slash + 1)) {
		return err_set(e,
			       WHERE "templateId: expected LANGUAGE/VERSION like \"node/18\", got "
				     "'%s'",
			       id);
	}
	if ((size_t)(slash - id) != 4 || memcmp(id, "node", 4)) {
		return err_set(e,
			       WHERE "templateId '%s': berth does not build from CapRover's "
				     "language templates (only node/VERSION is translated); write "
				     "the Dockerfile as \"dockerfileLines\" or ship a Dockerfile "
				     "and set \"dockerfilePath\"",
			       id);
	}
	node_template(&text, slash + 1);
	d->dockerfile_text = sbuf_detach(&text, NULL);
	d->dockerfile = xstrdup(CAPDEF_DOCKERFILE);
	d->kind = CAPDEF_BUILD;
	return 0;
}

static int lines(json_t *v, struct capdef *d, struct err *e)
{
	struct sbuf text = SBUF_INIT;
	size_t i;
	json_t *l;
	int ret = -1;

	if (!json_array_size(v)) {
		err_set(e, WHERE "dockerfileLines: expected a non-empty array of strings");
		goto out;
	}
	json_array_foreach(v, i, l)
	{
		if (!json_is_string(l)) {
			err_set(e, WHERE "dockerfileLines[%zu]: expected a string", i);
			goto out;
		}
		if (strlen(json_string_value(l)) != json_string_length(l)) {
			err_set(e, WHERE "dockerfileLines[%zu]: holds a NUL character", i);
			goto out;
		}
		sbuf_add(&text, json_string_value(l), json_string_length(l));
		sbuf_addch(&text, '\n');
	}
	d->dockerfile_text = sbuf_detach(&text, NULL);
	d->dockerfile = xstrdup(CAPDEF_DOCKERFILE);
	d->kind = CAPDEF_BUILD;
	ret = 0;
out:
	sbuf_release(&text);
	return ret;
}

int capdef_parse(const char *text, size_t len, struct capdef *d, struct err *e)
{
	static const char *const keys[] = {"dockerfilePath", "dockerfileLines", "imageName",
					   "templateId"};
	json_error_t je;
	json_t *root = NULL, *v, *sel = NULL;
	const char *sel_key = NULL;
	struct sbuf path = SBUF_INIT;
	int ret = -1;

	memset(d, 0, sizeof(*d));
	if (len > CAPDEF_SIZE_MAX) {
		err_set(e, WHERE "larger than %d bytes", CAPDEF_SIZE_MAX);
		goto out;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(e, WHERE "not valid JSON: %s (line %d)", je.text, je.line);
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(e, WHERE "expected a JSON object like {\"schemaVersion\": 2, "
				 "\"dockerfilePath\": \"./Dockerfile\"}");
		goto out;
	}
	v = json_object_get(root, "schemaVersion");
	if (!v) {
		err_set(e, WHERE "schemaVersion is missing (expected 2)");
		goto out;
	}
	if (!json_is_integer(v)) {
		err_set(e, WHERE "schemaVersion: expected the number 2");
		goto out;
	}
	if (json_integer_value(v) != 2) {
		err_set(e,
			WHERE
			"schemaVersion %lld is not supported: expected 2 (version 1 is "
			"CapRover's old format; the keys are the same, set \"schemaVersion\": 2)",
			(long long)json_integer_value(v));
		goto out;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *k = json_object_get(root, keys[i]);

		if (!k || json_is_null(k)) {
			continue; /* CapRover's clients may send unused keys as null */
		}
		if (sel) {
			err_set(e,
				WHERE "both %s and %s are set: expected exactly one of "
				      "dockerfilePath, dockerfileLines, imageName, templateId",
				sel_key, keys[i]);
			goto out;
		}
		sel = k;
		sel_key = keys[i];
	}
	if (!sel) {
		err_set(e, WHERE "expected one of dockerfilePath, dockerfileLines, imageName, "
				 "templateId");
		goto out;
	}
	if (!strcmp(sel_key, "dockerfileLines")) {
		if (!json_is_array(sel)) {
			err_set(e, WHERE "dockerfileLines: expected an array of strings");
			goto out;
		}
		ret = lines(sel, d, e);
		goto out;
	}
	if (!json_is_string(sel)) {
		err_set(e, WHERE "%s: expected a string", sel_key);
		goto out;
	}
	if (strlen(json_string_value(sel)) != json_string_length(sel)) {
		err_set(e, WHERE "%s: holds a NUL character", sel_key);
		goto out;
	}
	if (!strcmp(sel_key, "dockerfilePath")) {
		if (!inside_path(json_string_value(sel), &path)) {
			err_set(e,
				WHERE "dockerfilePath '%s': expected a path inside the upload, "
				      "relative and without '..', like \"./Dockerfile\"",
				json_string_value(sel));
			goto out;
		}
		d->dockerfile = sbuf_detach(&path, NULL);
		d->kind = CAPDEF_BUILD;
	} else if (!strcmp(sel_key, "imageName")) {
		if (!image_ok(json_string_value(sel))) {
			err_set(e,
				WHERE "imageName '%s': expected an image name like "
				      "\"nginx:stable-alpine\" or \"registry.example.com/app:1.2\"",
				json_string_value(sel));
			goto out;
		}
		d->image = xstrdup(json_string_value(sel));
		d->kind = CAPDEF_IMAGE;
	} else if (template(json_string_value(sel), d, e) < 0) {
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		capdef_release(d);
	}
	sbuf_release(&path);
	json_decref(root);
	return ret;
}

/* Reads the regular file name (relative to dirfd, no link followed) into sb. 1, 0 if missing, -1.
 */
static int read_at(int dirfd, const char *name, struct sbuf *sb, struct err *e)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int ret = -1;

	if (fd < 0) {
		if (errno == ENOENT) {
			return 0;
		}
		return err_set(e, "cannot open '%s': %s", name,
			       strerror(errno == ELOOP ? EPERM : errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "'%s' is not a regular file", name);
		goto out;
	}
	if (st.st_size > CAPDEF_SIZE_MAX) {
		err_set(e, "'%s' is larger than %d bytes", name, CAPDEF_SIZE_MAX);
		goto out;
	}
	if (sbuf_read_fd(sb, fd) < 0) {
		err_set(e, "cannot read '%s': %s", name, strerror(errno));
		goto out;
	}
	ret = 1;
out:
	close(fd);
	return ret;
}

/* Whether path names a regular file under dirfd, no component a link. */
static bool regular_at(int dirfd, const char *path)
{
	struct sbuf comp = SBUF_INIT;
	int at = dirfd;
	bool ok = false;
	struct stat st;

	for (const char *p = path;;) {
		const char *s = strchr(p, '/');

		if (!s) {
			ok = !fstatat(at, p, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode);
			break;
		}
		sbuf_reset(&comp);
		sbuf_add(&comp, p, (size_t)(s - p));
		int fd = openat(at, comp.buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (at != dirfd) {
			close(at);
		}
		at = fd;
		if (at < 0) {
			break;
		}
		p = s + 1;
	}
	if (at >= 0 && at != dirfd) {
		close(at);
	}
	sbuf_release(&comp);
	return ok;
}

int capdef_load(const char *dir, const char *defpath, struct capdef *d, struct err *e)
{
	struct sbuf text = SBUF_INIT, rel = SBUF_INIT;
	int dirfd, fd = -1, r, ret = -1;

	memset(d, 0, sizeof(*d));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		return err_set(e, "cannot open the directory '%s': %s", dir, strerror(errno));
	}
	if (!defpath) {
		defpath = CAPDEF_FILE;
	}
	if (!inside_path(defpath, &rel) || strchr(rel.buf, '/')) {
		err_set(e, "the captain-definition path '%s' must name a file at the upload's root",
			defpath);
		goto out;
	}
	r = read_at(dirfd, rel.buf, &text, e);
	if (r < 0) {
		goto out;
	}
	if (r == 0) {
		if (!regular_at(dirfd, "Dockerfile")) {
			err_set(e, "the upload holds neither a %s nor a Dockerfile at its root",
				rel.buf);
			goto out;
		}
		d->kind = CAPDEF_BUILD;
		d->dockerfile = xstrdup("Dockerfile");
		ret = 0;
		goto out;
	}
	if (capdef_parse(text.buf, text.len, d, e) < 0) {
		goto out;
	}
	if (d->dockerfile_text) {
		size_t n = strlen(d->dockerfile_text);

		if (unlinkat(dirfd, d->dockerfile, 0) < 0 && errno != ENOENT) {
			err_set(e, "cannot replace '%s': %s", d->dockerfile, strerror(errno));
			goto out;
		}
		fd = openat(dirfd, d->dockerfile,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 || fchmod(fd, 0644) < 0 ||
		    write(fd, d->dockerfile_text, n) != (ssize_t)n) {
			err_set(e, "cannot write '%s': %s", d->dockerfile, strerror(errno));
			goto out;
		}
		r = close(fd);
		fd = -1;
		if (r < 0) {
			err_set(e, "cannot write '%s': %s", d->dockerfile, strerror(errno));
			goto out;
		}
	} else if (d->kind == CAPDEF_BUILD && !regular_at(dirfd, d->dockerfile)) {
		err_set(e, WHERE "dockerfilePath '%s' names no file in the upload", d->dockerfile);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		capdef_release(d);
	}
	if (fd >= 0) {
		close(fd);
	}
	close(dirfd);
	sbuf_release(&text);
	sbuf_release(&rel);
	return ret;
}
