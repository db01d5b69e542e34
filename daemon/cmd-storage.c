/*
 * storage:* — host directories mounted into every container of an app
 * (Dokku's bind mounts), stored in the store's mounts (daemon/store.h) as
 * "HOST_PATH:CONTAINER_PATH" and given to every role as a volume at the next
 * deploy (daemon/release.h).
 *
 * Both paths must be absolute, without ':' (no volume options slipped in),
 * ',', blanks, control bytes, or a "." or ".." component. A host directory
 * reaches the host's root filesystem, so mounting is for admin keys alone
 * (the command table says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/xalloc.h"

static bool valid_path(const char *p, size_t n)
{
	if (!n || p[0] != '/' || n > 1024) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= ' ' || c == 0x7f || c == ':' || c == ',' || c == '"' || c == '\\') {
			return false;
		}
		if (c == '/') {
			size_t k = i + 1;
			while (k < n && p[k] == '.') {
				k++;
			}
			if (k > i + 1 && k - i - 1 <= 2 && (k == n || p[k] == '/')) {
				return false;
			}
		}
	}
	return true;
}

/* "HOST:CONTAINER" with both valid. */
bool storage_valid_mount(const char *m)
{
	const char *colon = strchr(m, ':');

	return colon && valid_path(m, (size_t)(colon - m)) &&
	       valid_path(colon + 1, strlen(colon + 1));
}

static int check(const char *usage, int argc, const char **argv)
{
	if (argc != 3) {
		return bd_usage(usage);
	}
	if (!storage_valid_mount(argv[2])) {
		return bd_fail("invalid mount '%s': expected /HOST_PATH:/CONTAINER_PATH (absolute "
			       "paths, no ':', ',', blanks, '.' or '..')",
			       argv[2]);
	}
	return 0;
}

int cmd_storage_mount(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	int rc = check("storage:mount APP /HOST_PATH:/CONTAINER_PATH", argc, argv), r;

	if (rc) {
		return rc;
	}
	r = store_mount_add(&bd->store, argv[1], argv[2], &e);
	if (r <= 0) {
		rc = r < 0 ? bd_fail_err(&e) : bd_fail("Mount path already exists.");
		goto out;
	}
	bd_step(bd, "Mounting %s for %s", argv[2], argv[1]);
	bd_info(bd, "takes effect at the next deploy (ps:restart %s)", argv[1]);
	bd_event(bd, argv[1], "storage:mount", NULL);
out:
	err_release(&e);
	return rc;
}

int cmd_storage_unmount(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	int rc = check("storage:unmount APP /HOST_PATH:/CONTAINER_PATH", argc, argv), r;

	if (rc) {
		return rc;
	}
	r = store_mount_remove(&bd->store, argv[1], argv[2], &e);
	if (r <= 0) {
		rc = r < 0 ? bd_fail_err(&e) : bd_fail("Mount path does not exist.");
		goto out;
	}
	bd_step(bd, "Unmounting %s for %s", argv[2], argv[1]);
	bd_info(bd, "takes effect at the next deploy (ps:restart %s)", argv[1]);
	bd_event(bd, argv[1], "storage:unmount", NULL);
out:
	err_release(&e);
	return rc;
}

int cmd_storage_list(struct bd *bd, int argc, const char **argv)
{
	struct strvec mounts = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc = 0;

	if (argc != 2) {
		return bd_usage("storage:list APP");
	}
	if (store_mount_list(&bd->store, argv[1], &mounts, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		/* mounts were checked when added: no byte needs escaping */
		printf("[");
		for (size_t i = 0; i < mounts.nr; i++) {
			const char *colon = strchr(mounts.v[i], ':');
			printf("%s{\"host_path\":\"%.*s\",\"container_path\":\"%s\"}", i ? "," : "",
			       (int)(colon - mounts.v[i]), mounts.v[i], colon + 1);
		}
		printf("]\n");
		goto out;
	}
	bd_heading(bd, "%s volume bind-mounts:", argv[1]);
	for (size_t i = 0; i < mounts.nr; i++) {
		printf("     %s\n", mounts.v[i]);
	}
out:
	strvec_clear(&mounts);
	err_release(&e);
	return rc;
}
