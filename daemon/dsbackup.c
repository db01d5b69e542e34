/* dsbackup — see dsbackup.h. */
#include "daemon/dsbackup.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"
#include "lib/yamldoc.h"
#include "lib/banned.h"

json_t *dsbackup_tree(const char *kind, const char *name, const char *image, const char *repo)
{
	struct sbuf acc = SBUF_INIT, container = SBUF_INIT;
	json_t *root;

	sbuf_addf(&acc, "%s-%s", kind, name);
	sbuf_addf(&container, "berthd-%s-%s", kind, name);
	/* service, image and servers: what every config has; nothing of them runs */
	root = json_pack("{s:s, s:s, s:{s:s}, s:[s], s:{s:{s:s, s:s, s:s, s:{s:s, s:s, s:s}}}}",
			 "service", "berthd", "image", "berthd", "builder", "arch", "amd64",
			 "servers", DSBACKUP_HOST, "accessories", acc.buf, "service", container.buf,
			 "image", image, "host", DSBACKUP_HOST, "backup", "kind", kind, "to", repo,
			 "password", DSBACKUP_SECRET);
	sbuf_release(&acc);
	sbuf_release(&container);
	return root;
}

int dsbackup_config(struct config *cfg, const char *kind, const char *name, const char *image,
		    const char *repo, struct err *e)
{
	struct sbuf yaml = SBUF_INIT, file = SBUF_INIT;
	struct yaml_node *root = NULL;
	json_t *tree = dsbackup_tree(kind, name, image, repo);
	int ret = -1;

	if (!tree) {
		err_set(e, "cannot make the backup settings of %s service '%s'", kind, name);
		goto out;
	}
	config_json_to_yaml(&yaml, tree);
	sbuf_addf(&file, "%s service %s", kind, name);
	if (yaml_load(file.buf, yaml.buf, yaml.len, &root, e) < 0 ||
	    config_from_yaml(cfg, root, file.buf, "/", NULL, NULL, e) < 0) {
		err_prefix(e, "cannot make the backup settings of %s service '%s'", kind, name);
		goto out;
	}
	if (cfg->nr_accessories != 1 || !cfg->accessories[0].has_backup) {
		err_set(e, "the backup settings of %s service '%s' have no backup", kind, name);
		goto out;
	}
	ret = 0;
out:
	yaml_node_free(root);
	json_decref(tree);
	sbuf_release(&yaml);
	sbuf_release(&file);
	return ret;
}

/* A host path that `-v P:P` and `--mount source=P` read as it is. */
static bool mount_path_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) > 1024) {
		return false;
	}
	for (; *p; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == ',' || *p == ':' || *p == '"' || *p == '\'' ||
		    *p == '\\') {
			return false;
		}
	}
	return true;
}

int dsbackup_host_paths(struct slice mounts_json, const char *state_dir, struct sbuf *state,
			struct sbuf *sock, struct err *e)
{
	json_error_t je;
	json_t *arr = json_loadb(mounts_json.ptr, mounts_json.len, JSON_REJECT_DUPLICATES, &je);
	const char *found = NULL;
	size_t i;
	int ret = -1;

	if (!json_is_array(arr)) {
		err_set(e, "cannot read berthd's container's mounts: %s",
			arr ? "not a list" : je.text);
		goto out;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *m = json_array_get(arr, i);
		const char *dst = json_string_value(json_object_get(m, "Destination"));
		const char *src = json_string_value(json_object_get(m, "Source"));

		if (!dst || !src) {
			continue;
		}
		if (!strcmp(dst, state_dir)) {
			found = src;
		} else if (!strcmp(dst, "/var/run/docker.sock") && mount_path_ok(src)) {
			sbuf_reset(sock);
			sbuf_addstr(sock, src);
		}
	}
	if (!found) {
		err_set(e,
			"berthd's state directory '%s' is not a mount of its container: the "
			"backups need it on the host (run berthd with -v berthd:%s)",
			state_dir, state_dir);
		goto out;
	}
	if (!mount_path_ok(found)) {
		err_set(e,
			"the host's path of berthd's state directory, '%s', cannot be mounted "
			"(expected an absolute path without ',', ':', quotes or spaces)",
			found);
		goto out;
	}
	sbuf_reset(state);
	sbuf_addstr(state, found);
	ret = 0;
out:
	json_decref(arr);
	return ret;
}

void dsbackup_wrap_argv(struct strvec *w, const char *image, const char *name, const char *dir,
			const char *sock)
{
	struct sbuf vsock = SBUF_INIT, vdir = SBUF_INIT, home = SBUF_INIT;

	sbuf_addf(&vsock, "%s:/var/run/docker.sock", sock);
	sbuf_addf(&vdir, "%s:%s", dir, dir);
	sbuf_addf(&home, "HOME=%s", dir);
	strvec_pushv(w, (const char *[]){"docker",	 "run",
					 "--rm",	 "-i",
					 "--pull",	 "never",
					 "--name",	 name,
					 "--label",	 "berthd.backup=1",
					 "--log-driver", "none",
					 "--network",	 "none",
					 "-v",		 vsock.buf,
					 "-v",		 vdir.buf,
					 "-e",		 home.buf,
					 "-e",		 "LC_ALL=C",
					 "-w",		 dir,
					 image,		 NULL});
	sbuf_release(&vsock);
	sbuf_release(&vdir);
	sbuf_release(&home);
}

void dsbackup_iso_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *verified_word(const struct backup_snapshot *s)
{
	return s->verified > 0 ? "yes" : s->verified == 0 ? "no" : "not tried";
}

void dsbackup_list_text(struct sbuf *out, const char *kind, const char *name,
			const struct backup_snapshots *s)
{
	size_t i;

	if (!s->nr) {
		sbuf_addf(out, "There are no backups of %s service %s\n", kind, name);
		return;
	}
	sbuf_addf(out, "=====> %s backups\n", name);
	sbuf_addf(out, "%-10s %-26s %12s  %s\n", "ID", "TIME", "SIZE", "VERIFIED");
	for (i = s->nr; i-- > 0;) {
		const struct backup_snapshot *b = &s->v[i];
		char size[32];

		if (b->size >= 0) {
			snprintf(size, sizeof(size), "%lld", b->size);
		} else {
			snprintf(size, sizeof(size), "-");
		}
		sbuf_addf(out, "%-10s %-26s %12s  %s", b->id, b->time ? b->time : "-", size,
			  verified_word(b));
		if (b->verified == 0 && b->why) {
			sbuf_addf(out, " (%s)", b->why);
		}
		sbuf_addch(out, '\n');
	}
}

json_t *dsbackup_list_json(const struct backup_snapshots *s)
{
	json_t *arr = json_array();
	size_t i;

	for (i = s->nr; i-- > 0;) {
		const struct backup_snapshot *b = &s->v[i];
		json_t *o = json_pack("{s:s, s:s?}", "id", b->id, "time", b->time);

		json_object_set_new(o, "size", b->size >= 0 ? json_integer(b->size) : json_null());
		json_object_set_new(o, "verified",
				    b->verified < 0 ? json_null() : json_boolean(b->verified > 0));
		json_object_set_new(o, "why", b->why ? json_string(b->why) : json_null());
		json_array_append_new(arr, o);
	}
	return json_pack("{s:o}", "snapshots", arr);
}
