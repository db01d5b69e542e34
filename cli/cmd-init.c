/*
 * berth init: a starting config/deploy.yml, .berth/secrets and sample
 * hooks. Never overwrites a file: what exists is left alone and said so.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/sbuf.h"

static const char usage[] = "berth init";

static const char deploy_yml[] =
    "# berth reads this file as Kamal does: ERB first, then YAML (1.1).\n"
    "# `berth config` prints what it understood; -d NAME also reads config/deploy.NAME.yml.\n"
    "\n"
    "# Name of the application; containers are called <service>-<role>-<version>.\n"
    "service: %s\n"
    "\n"
    "# The image to build and run (add your registry's prefix when pushing to one).\n"
    "image: %s\n"
    "\n"
    "# Servers to deploy to. A plain list is the \"web\" role; use roles for more:\n"
    "#   servers:\n"
    "#     web:\n"
    "#       - 192.168.0.1\n"
    "#     workers:\n"
    "#       hosts:\n"
    "#         - 192.168.0.2\n"
    "#       cmd: bin/jobs\n"
    "servers:\n"
    "  - 192.168.0.1\n"
    "\n"
    "# The proxy routes requests to the app and switches traffic on deploy.\n"
    "proxy:\n"
    "  # host: app.example.com\n"
    "  # ssl: true            # a Let's Encrypt certificate for host\n"
    "  app_port: 3000\n"
    "  healthcheck:\n"
    "    path: /up\n"
    "\n"
    "# Where images go. Without a registry, berth sends images over SSH.\n"
    "# registry:\n"
    "#   server: ghcr.io\n"
    "#   username: my-user\n"
    "#   password:\n"
    "#     - BERTH_REGISTRY_PASSWORD   # a secret from .berth/secrets\n"
    "\n"
    "# Environment of the app. Secret values come from .berth/secrets, never from here.\n"
    "env:\n"
    "  clear:\n"
    "    PORT: 3000\n"
    "  # secret:\n"
    "  #   - DATABASE_URL\n"
    "\n"
    "# What deploy builds for: the servers' architecture (amd64, arm64 or both).\n"
    "builder:\n"
    "  arch: amd64\n"
    "\n"
    "# ssh:\n"
    "#   user: deploy\n"
    "\n"
    "# Run once per deploy in the new image, before traffic moves to it:\n"
    "# release_command: bin/migrate\n"
    "\n"
    "# Fingerprinted assets (JS, CSS) bridged between versions: while the old and the new\n"
    "# version both serve, each finds the other's files under this path.\n"
    "# asset_path: /app/public/assets\n"
    "\n"
    "# Services beside the app; berth setup boots them, `berth accessory` manages them:\n"
    "# accessories:\n"
    "#   db:\n"
    "#     image: postgres:16\n"
    "#     host: 192.168.0.1\n"
    "#     port: 5432   # on 127.0.0.1 only; \"0.0.0.0:5432:5432\" publishes it wider\n"
    "#     env:\n"
    "#       secret:\n"
    "#         - POSTGRES_PASSWORD\n"
    "#     directories:\n"
    "#       - data:/var/lib/postgresql/data\n";

static const char secrets_file[] =
    "# Secrets for berth (dotenv syntax). Keep this file out of version control.\n"
    "# Values may read the environment or run a command; write no secret here itself:\n"
    "#\n"
    "# BERTH_REGISTRY_PASSWORD=$BERTH_REGISTRY_PASSWORD\n"
    "# DATABASE_URL=$(op read \"op://vault/app/database-url\")\n"
    "# RAILS_MASTER_KEY=$(cat config/master.key)\n"
    "#\n"
    "# With -d NAME, .berth/secrets.NAME is read instead of this file;\n"
    "# .berth/secrets-common is read in both cases.\n";

static const char *const hooks[] = {
    "pre-connect",  "pre-build",     "pre-deploy",	 "post-deploy",
    "pre-app-boot", "post-app-boot", "pre-proxy-reboot", "post-proxy-reboot",
};

static const char hook_text[] =
    "#!/bin/sh\n"
    "# A sample %s hook: remove \".sample\" from the name to use it.\n"
    "# Hooks run on this machine; a non-zero exit stops the command that ran them.\n"
    "# They get KAMAL_SERVICE, KAMAL_VERSION, KAMAL_HOSTS, KAMAL_ROLES, KAMAL_DESTINATION,\n"
    "# KAMAL_PERFORMER and KAMAL_RECORDED_AT (and the same as BERTH_*).\n"
    "\n"
    "echo \"%s: $KAMAL_SERVICE $KAMAL_VERSION on $KAMAL_HOSTS\"\n";

/* 1 written, 0 existed, -1 error */
static int write_new(const char *path, const char *text, mode_t mode)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST) {
		log_info("%s exists, left alone", path);
		return 0;
	}
	if (fd < 0) {
		log_error("cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			log_error("cannot write '%s': %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		log_error("cannot write '%s': %s", path, strerror(errno));
		return -1;
	}
	printf("wrote %s\n", path);
	return 1;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		log_error("cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The current directory's name, made into a service name. */
static void service_name(struct sbuf *out)
{
	char cwd[PATH_MAX];
	const char *base = "app", *p;

	if (getcwd(cwd, sizeof(cwd))) {
		p = strrchr(cwd, '/');
		base = p && p[1] ? p + 1 : base;
	}
	for (p = base; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_') {
			sbuf_addch(out, *p);
		} else if (*p >= 'A' && *p <= 'Z') {
			sbuf_addch(out, *p - 'A' + 'a');
		} else {
			sbuf_addch(out, '-');
		}
	}
	if (!out->len) {
		sbuf_addstr(out, "app");
	}
}

int cmd_init(int argc, const char **argv)
{
	struct sbuf name = SBUF_INIT, text = SBUF_INIT, path = SBUF_INIT;
	int ret = 2, nops, r, wrote = 0;
	size_t i;

	nops = cli_parse(argc, argv, NULL, 0, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops > 0) {
		log_error("init takes no arguments, got '%s'", argv[0]);
		goto out;
	}
	ret = 1;
	service_name(&name);
	sbuf_addf(&text, deploy_yml, name.buf, name.buf);
	if (make_dir("config") < 0 || make_dir(".berth") < 0 || make_dir(".berth/hooks") < 0) {
		goto out;
	}
	if ((r = write_new("config/deploy.yml", text.buf, 0644)) < 0) {
		goto out;
	}
	wrote += r;
	if ((r = write_new(".berth/secrets", secrets_file, 0600)) < 0) {
		goto out;
	}
	wrote += r;
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		sbuf_reset(&path);
		sbuf_addf(&path, ".berth/hooks/%s.sample", hooks[i]);
		sbuf_reset(&text);
		sbuf_addf(&text, hook_text, hooks[i], hooks[i]);
		if ((r = write_new(path.buf, text.buf, 0755)) < 0) {
			goto out;
		}
		wrote += r;
	}
	if (!wrote) {
		log_error("nothing written: every file exists already");
		goto out;
	}
	printf("next: edit config/deploy.yml, then 'berth config' shows what berth reads\n");
	ret = 0;
out:
	sbuf_release(&name);
	sbuf_release(&text);
	sbuf_release(&path);
	return ret;
}
