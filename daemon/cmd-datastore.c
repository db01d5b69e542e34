/*
 * postgres:*, redis:* — datastores as Dokku's postgres and redis plugins
 * make them: a container berthd-KIND-NAME on the network `berth` (where the
 * apps run), its data in the named volume berthd-KIND-NAME, restarted with
 * the host, and a password made here from /dev/urandom.
 *
 * The password is a secret: it reaches the container through an env file of
 * mode 0600 (docker run --env-file, removed at once), never an argv, and is
 * printed only by `KIND:info NAME --dsn`. Linking an app sets its config var
 * (DATABASE_URL, REDIS_URL) and deploys it again with zero downtime, as
 * config:set does. postgres:export and import are pg_dump -Fc and pg_restore
 * in the container, on berthd's stdout and stdin.
 *
 * Rights: admin for every command but link and unlink, which need deploy on
 * the app (checked here: the app is the second operand). A link of an app
 * destroyed or renamed since is dropped by destroy and info. Destroy removes
 * the service's backups too (daemon/cmd-dsbackup.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/appdeploy.h"
#include "daemon/berthd.h"
#include "daemon/datastore.h"
#include "daemon/sshcmd.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"

/* How long create waits for the server to accept connections. */
#define DS_READY_TRIES 120 /* half a second apart: a minute */

struct ds_kind {
	const char *kind;     /* the commands' prefix, the records' kind */
	const char *title;    /* in headings */
	const char *image;    /* the default image */
	const char *env;      /* the config var link sets */
	const char *user;     /* in the URL; NULL: none (redis://:PASSWORD@...) */
	const char *data_dir; /* the volume's mount point */
	unsigned port;
	const char *pw_var; /* the container's variable for the password */
	const char *db_var; /* ... for the service's name (the database); NULL: none */
	/* the container's command (no user data in it); NULL: the image's own */
	const char *const *command;
	/* the readiness check run in the container, after "sh -c", $1 the service's name */
	const char *ready;
};

/*
 * Redis reads its password from no variable: the command writes it (from
 * the container's environment, by the shell's builtin printf, so in no
 * argv) into a config file of mode 0600, then starts the server on it.
 */
static const char *const redis_command[] = {
    "sh", "-c",
    "umask 077 && printf 'dir /data\nappendonly yes\nprotected-mode no\nrequirepass "
    "\"%s\"\n' \"$REDIS_PASSWORD\" >/tmp/berthd-redis.conf && exec redis-server "
    "/tmp/berthd-redis.conf",
    NULL};

static const struct ds_kind kinds[] = {
    {"postgres", "Postgres", "postgres:16", "DATABASE_URL", "postgres", "/var/lib/postgresql/data",
     5432, "POSTGRES_PASSWORD", "POSTGRES_DB", NULL,
     /* over TCP: the first start's setup runs a server on the socket alone */
     "pg_isready -q -h 127.0.0.1 -U postgres -d \"$1\""},
    {"redis", "Redis", "redis:7", "REDIS_URL", NULL, "/data", 6379, "REDIS_PASSWORD", NULL,
     redis_command, "REDISCLI_AUTH=$REDIS_PASSWORD redis-cli ping 2>/dev/null | grep -q PONG"},
};

/* The kind of a command by its prefix ("postgres:link"). */
static const struct ds_kind *kind_of(const char *cmd)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].kind);
		if (!strncmp(cmd, kinds[i].kind, n) && cmd[n] == ':') {
			return &kinds[i];
		}
	}
	abort(); /* the table in main.c names only these */
}

static void container_name(struct sbuf *sb, const struct ds_kind *k, const char *name)
{
	sbuf_addf(sb, "berthd-%s-%s", k->kind, name);
}

/* The URL an app connects with; password NULL: without it (for reports). */
static void ds_url(struct sbuf *sb, const struct ds_kind *k, const char *name, const char *password)
{
	if (!k->user) {
		sbuf_addf(sb, "%s://%s%s%sberthd-%s-%s:%u", k->kind, password ? ":" : "",
			  password ? password : "", password ? "@" : "", k->kind, name, k->port);
		return;
	}
	sbuf_addf(sb, "%s://%s%s%s@berthd-%s-%s:%u/%s", k->kind, k->user, password ? ":" : "",
		  password ? password : "", k->kind, name, k->port, name);
}

/* Looks the service up; prints Dokku's error when it is not there. 0, or 1 (an exit code). */
static int ds_find(struct bd *bd, const struct ds_kind *k, const char *name, struct datastore *d)
{
	struct err e = ERR_INIT;
	int r, rc = 0;

	(void)bd;
	if (!sshcmd_valid_app(name)) {
		return bd_fail("invalid %s service name '%s' (lowercase letters, digits and '-', "
			       "starting with a letter)",
			       k->kind, name);
	}
	r = datastore_get(&bd->store, k->kind, name, d, &e);
	if (r < 0) {
		rc = bd_fail_err(&e);
	} else if (r == 0) {
		rc = bd_fail("%s service %s does not exist", k->title, name);
	}
	err_release(&e);
	return rc;
}

/* Runs argv, output captured: 0, or -1 with e saying how it failed. */
static int run_captured(const char *const *argv, struct sbuf *out, struct err *e)
{
	struct run_cmd c = RUN_CMD_INIT;
	int r;

	strvec_pushv(&c.argv, argv);
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	r = run_one(&c);
	if (r < 0 && e) {
		struct sbuf how = SBUF_INIT;
		struct slice tail = run_tail_lines(&c.errbuf, 3);
		run_describe_status(&c, &how);
		err_set(e, "%s %s %s: %.*s", argv[0], argv[1], how.buf, (int)tail.len, tail.ptr);
		sbuf_release(&how);
	}
	if (out) {
		sbuf_add(out, c.outbuf.buf, c.outbuf.len);
	}
	run_cmd_release(&c);
	return r;
}

/* The image in the host's dockerd, pulled when it is not there yet. */
static int ensure_image(struct bd *bd, const char *image, struct err *e)
{
	if (run_captured((const char *[]){"docker", "image", "inspect", "--format", "{{.Id}}", "--",
					  image, NULL},
			 NULL, NULL) == 0) {
		return 0;
	}
	bd_info(bd, "pulling %s", image);
	if (run_captured((const char *[]){"docker", "pull", "-q", "--", image, NULL}, NULL, e) <
	    0) {
		err_prefix(e, "cannot pull image '%s'", image);
		return -1;
	}
	return 0;
}

/* Removes the container and its volume (whatever is there of them). */
static void remove_service(struct bd *bd, const char *cname)
{
	if (run_captured((const char *[]){"docker", "rm", "-f", "-v", cname, NULL}, NULL, NULL) ==
	    0) {
		bd_info(bd, "removed container %s", cname);
	}
	if (run_captured((const char *[]){"docker", "volume", "rm", "-f", cname, NULL}, NULL,
			 NULL) == 0) {
		bd_info(bd, "removed volume %s", cname);
	}
}

/*
 * Removes the service's backups (KIND:backup, daemon/dsbackup.h): its
 * repository and the engine's record of it. Their password goes with the
 * service's record, so nothing could read them any more.
 */
static void remove_backups(struct bd *bd, const struct ds_kind *k, const char *name)
{
	char *repo = bd_path(bd, "backups/%s-%s", k->kind, name);
	char *state = bd_path(bd, "backups/%s-%s.json", k->kind, name);
	struct stat st;

	if (stat(repo, &st) == 0 &&
	    run_captured((const char *[]){"rm", "-rf", "--", repo, state, NULL}, NULL, NULL) == 0) {
		bd_info(bd, "removed its backups");
	}
	free(repo);
	free(state);
}

/*
 * Starts the container. The secrets go in an env file of mode 0600 in the
 * state directory, read by the docker CLI and removed at once.
 */
static int start_container(struct bd *bd, const struct ds_kind *k, const char *name,
			   const char *image, const char *password, struct err *e)
{
	struct sbuf env = SBUF_INIT, cname = SBUF_INIT, vol = SBUF_INIT, label = SBUF_INIT;
	struct strvec av = STRVEC_INIT;
	char *dir = bd_path(bd, "datastores"), *path = NULL;
	int r = -1;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	path = bd_path(bd, "datastores/%s-%s.env", k->kind, name);
	sbuf_addf(&env, "%s=%s\n", k->pw_var, password);
	if (k->db_var) {
		sbuf_addf(&env, "%s=%s\n", k->db_var, name);
	}
	if (file_write_atomic(path, env.buf, env.len, 0600, e) < 0) {
		goto out;
	}
	container_name(&cname, k, name);
	sbuf_addf(&vol, "%s:%s", cname.buf, k->data_dir);
	sbuf_addf(&label, "berthd.datastore=%s/%s", k->kind, name);
	strvec_pushv(&av,
		     (const char *[]){"docker", "run", "-d", "--name", cname.buf, "--network",
				      "berth", "--restart", "unless-stopped", "-v", vol.buf,
				      "--env-file", path, "--label", label.buf, "--", image, NULL});
	if (k->command) {
		strvec_pushv(&av, k->command);
	}
	r = run_captured((const char *const *)av.v, NULL, e);
	unlink(path);
out:
	sbuf_release(&env);
	sbuf_release(&cname);
	sbuf_release(&vol);
	sbuf_release(&label);
	strvec_clear(&av);
	free(dir);
	free(path);
	return r;
}

/* Waits until the server accepts connections over TCP (not the setup's socket-only start). */
static int wait_ready(const struct ds_kind *k, const char *cname, const char *name, struct err *e)
{
	struct timespec half = {0, 500 * 1000 * 1000};

	for (int i = 0; i < DS_READY_TRIES; i++) {
		struct sbuf st = SBUF_INIT;
		bool running;

		if (run_captured((const char *[]){"docker", "exec", cname, "sh", "-c", k->ready,
						  "ready", name, NULL},
				 NULL, NULL) == 0) {
			return 0;
		}
		run_captured((const char *[]){"docker", "inspect", "--format", "{{.State.Running}}",
					      cname, NULL},
			     &st, NULL);
		running = !strncmp(st.buf, "true", 4);
		sbuf_release(&st);
		if (!running) {
			return err_set(e, "container %s stopped (see: docker logs %s)", cname,
				       cname);
		}
		nanosleep(&half, NULL);
	}
	return err_set(e, "container %s does not accept connections after %d s", cname,
		       DS_READY_TRIES / 2);
}

int cmd_datastore_create(struct bd *bd, int argc, const char **argv)
{
	const struct ds_kind *k = kind_of(argv[0]);
	const char *image = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "image", &image, "IMAGE", "the image to run"),
	    OPT_END(),
	};
	struct sbuf pw = SBUF_INIT, cname = SBUF_INIT, usage = SBUF_INIT;
	struct err e = ERR_INIT;
	int n, rc = 1;
	bool recorded = false;
	const char *name = argv[1];

	sbuf_addf(&usage, "%s NAME [--image IMAGE]", argv[0]);
	n = bd_opts(argc - 1, argv + 1, opts, usage.buf);
	if (n < 0) {
		goto out;
	}
	if (n != 1) {
		rc = bd_usage(usage.buf);
		goto out;
	}
	if (!sshcmd_valid_app(name)) {
		rc = bd_fail("invalid %s service name '%s' (lowercase letters, digits and '-', "
			     "starting with a letter)",
			     k->kind, name);
		goto out;
	}
	if (!image || !*image) {
		image = k->image;
	}
	if (image[0] == '-' || strchr(image, ' ')) {
		rc = bd_fail("invalid image '%s'", image);
		goto out;
	}
	if (datastore_password(&pw, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	/* The record first: it claims the name against a second create. */
	if (datastore_add(&bd->store, k->kind, name, image, pw.buf, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	recorded = true;
	container_name(&cname, k, name);
	bd_step(bd, "Creating %s service %s from %s", k->kind, name, image);
	if (ensure_image(bd, image, &e) < 0 ||
	    start_container(bd, k, name, image, pw.buf, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Waiting for %s to accept connections", cname.buf);
	if (wait_ready(k, cname.buf, name, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, argv[0], name);
	bd_step(bd, "%s container created: %s", k->title, name);
	rc = 0;
out:
	if (rc && recorded) {
		remove_service(bd, cname.buf);
		datastore_remove(&bd->store, k->kind, name, NULL);
	}
	sbuf_release(&pw);
	sbuf_release(&cname);
	sbuf_release(&usage);
	err_release(&e);
	return rc;
}

/*
 * The apps a service is linked to that still exist: a link of an app
 * destroyed or renamed since is dropped here, so that it never keeps the
 * service from being destroyed.
 */
static int live_links(struct bd *bd, const struct ds_kind *k, const char *name, struct strvec *apps,
		      struct err *e)
{
	struct strvec all = STRVEC_INIT;
	int r = datastore_links(&bd->store, k->kind, name, &all, e);

	for (size_t i = 0; r == 0 && i < all.nr; i++) {
		if (store_app_exists(&bd->store, all.v[i])) {
			strvec_push(apps, all.v[i]);
		} else if (datastore_unlink(&bd->store, k->kind, name, all.v[i], e) < 0) {
			r = -1;
		}
	}
	strvec_clear(&all);
	return r;
}

int cmd_datastore_destroy(struct bd *bd, int argc, const char **argv)
{
	const struct ds_kind *k = kind_of(argv[0]);
	bool force = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "force", &force, "do not ask for the service's name"),
	    OPT_END(),
	};
	struct datastore d = {0};
	struct strvec apps = STRVEC_INIT;
	struct sbuf answer = SBUF_INIT, cname = SBUF_INIT, usage = SBUF_INIT;
	struct err e = ERR_INIT;
	int n, rc = 1;
	const char *name = argv[1];

	sbuf_addf(&usage, "%s NAME [--force]", argv[0]);
	n = bd_opts(argc - 1, argv + 1, opts, usage.buf);
	if (n < 0) {
		goto out;
	}
	if (n != 1) {
		rc = bd_usage(usage.buf);
		goto out;
	}
	if ((rc = ds_find(bd, k, name, &d))) {
		goto out;
	}
	rc = 1;
	if (live_links(bd, k, name, &apps, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (apps.nr) {
		rc = bd_fail("cannot destroy %s service %s: linked to %s (unlink it first: "
			     "%s:unlink %s APP)",
			     k->kind, name, apps.v[0], k->kind, name);
		goto out;
	}
	if (!force) {
		char buf[256];
		fprintf(stderr,
			" !     WARNING: Potentially Destructive Action\n"
			" !     This command will destroy %s service %s and its data.\n"
			" !     To proceed, type \"%s\"\n\n> ",
			k->kind, name, name);
		fflush(stderr);
		if (fgets(buf, sizeof(buf), stdin)) {
			sbuf_addstr(&answer, buf);
		}
		sbuf_trim(&answer);
		if (strcmp(answer.buf, name)) {
			rc = bd_fail("Confirmation did not match %s. Aborted.", name);
			goto out;
		}
	}
	bd_step(bd, "Deleting %s", name);
	container_name(&cname, k, name);
	remove_service(bd, cname.buf);
	remove_backups(bd, k, name);
	if (datastore_remove(&bd->store, k->kind, name, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, argv[0], name);
	bd_step(bd, "%s container deleted: %s", k->title, name);
	rc = 0;
out:
	datastore_release(&d);
	strvec_clear(&apps);
	sbuf_release(&answer);
	sbuf_release(&cname);
	sbuf_release(&usage);
	err_release(&e);
	return rc;
}

int cmd_datastore_list(struct bd *bd, int argc, const char **argv)
{
	const struct ds_kind *k = kind_of(argv[0]);
	struct strvec names = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc = 0;

	if (argc != 1) {
		return bd_usage(argv[0]);
	}
	if (datastore_list(&bd->store, k->kind, &names, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!names.nr) {
		printf("There are no %s services\n", k->title);
		goto out;
	}
	bd_heading(bd, "%s services", k->title);
	for (size_t i = 0; i < names.nr; i++) {
		printf("%s\n", names.v[i]);
	}
out:
	strvec_clear(&names);
	err_release(&e);
	return rc;
}

int cmd_datastore_info(struct bd *bd, int argc, const char **argv)
{
	const struct ds_kind *k = kind_of(argv[0]);
	bool dsn_only = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "dsn", &dsn_only, "print the DSN, password included, and nothing else"),
	    OPT_END(),
	};
	struct datastore d = {0};
	struct strvec apps = STRVEC_INIT;
	struct sbuf url = SBUF_INIT, cname = SBUF_INIT, status = SBUF_INIT, usage = SBUF_INIT;
	struct err e = ERR_INIT;
	int n, rc = 1;
	const char *name = argv[1];
	char created[32];
	time_t t;
	struct tm tm;

	sbuf_addf(&usage, "%s NAME [--dsn]", argv[0]);
	n = bd_opts(argc - 1, argv + 1, opts, usage.buf);
	if (n < 0) {
		goto out;
	}
	if (n != 1) {
		rc = bd_usage(usage.buf);
		goto out;
	}
	if ((rc = ds_find(bd, k, name, &d))) {
		goto out;
	}
	rc = 1;
	if (dsn_only) {
		ds_url(&url, k, name, d.password);
		printf("%s\n", url.buf);
		rc = 0;
		goto out;
	}
	if (live_links(bd, k, name, &apps, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	container_name(&cname, k, name);
	if (run_captured((const char *[]){"docker", "inspect", "--format", "{{.State.Status}}",
					  cname.buf, NULL},
			 &status, NULL) < 0) {
		sbuf_reset(&status);
		sbuf_addstr(&status, "missing");
	}
	sbuf_trim(&status);
	ds_url(&url, k, name, NULL);
	t = (time_t)d.created;
	gmtime_r(&t, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("=====> %s %s service information\n", name, k->kind);
	printf("       Container:           %s\n", cname.buf);
	printf("       Created:             %s\n", created);
	printf("       Data volume:         %s\n", cname.buf);
	printf("       Dsn:                 %s (the password with --dsn)\n", url.buf);
	printf("       Links:               ");
	for (size_t i = 0; i < apps.nr; i++) {
		printf("%s%s", i ? " " : "", apps.v[i]);
	}
	printf("%s\n", apps.nr ? "" : "-");
	printf("       Status:              %s\n", status.buf);
	printf("       Version:             %s\n", d.image);
	rc = 0;
out:
	datastore_release(&d);
	strvec_clear(&apps);
	sbuf_release(&url);
	sbuf_release(&cname);
	sbuf_release(&status);
	sbuf_release(&usage);
	err_release(&e);
	return rc;
}

/* pg_dump / pg_restore in the container, with berthd's own stdin and stdout. */
static int dump_or_restore(struct bd *bd, int argc, const char **argv, bool restore)
{
	const struct ds_kind *k = kind_of(argv[0]);
	struct datastore d = {0};
	struct run_cmd c = RUN_CMD_INIT;
	struct sbuf cname = SBUF_INIT, how = SBUF_INIT;
	int rc;

	if (argc != 2) {
		return bd_usage(restore ? "postgres:import NAME < DUMP" : "postgres:export NAME");
	}
	if ((rc = ds_find(bd, k, argv[1], &d))) {
		goto out;
	}
	container_name(&cname, k, argv[1]);
	strvec_pushv(&c.argv, (const char *[]){"docker", "exec", "-i", cname.buf, NULL});
	if (restore) {
		strvec_pushv(&c.argv, (const char *[]){"pg_restore", "--clean", "--if-exists",
						       "--no-owner", "--exit-on-error", "-U",
						       "postgres", "-d", argv[1], NULL});
		c.flags = RUN_F_STDIN_INHERIT;
		c.out = RUN_IO_NULL;
	} else {
		strvec_pushv(&c.argv, (const char *[]){"pg_dump", "-Fc", "--no-owner", "-U",
						       "postgres", "-d", argv[1], NULL});
		fflush(stdout);
	}
	c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		struct slice tail = run_tail_lines(&c.errbuf, 3);
		run_describe_status(&c, &how);
		rc = bd_fail("%s in %s %s: %.*s", restore ? "pg_restore" : "pg_dump", cname.buf,
			     how.buf, (int)tail.len, tail.ptr);
		goto out;
	}
	bd_event(bd, NULL, argv[0], argv[1]);
	if (restore) {
		bd_step(bd, "Importing data into %s... done", argv[1]);
	}
	rc = 0;
out:
	datastore_release(&d);
	run_cmd_release(&c);
	sbuf_release(&cname);
	sbuf_release(&how);
	return rc;
}

int cmd_datastore_export(struct bd *bd, int argc, const char **argv)
{
	return dump_or_restore(bd, argc, argv, false);
}

int cmd_datastore_import(struct bd *bd, int argc, const char **argv)
{
	return dump_or_restore(bd, argc, argv, true);
}

/*
 * NAME and APP of link and unlink, checked as main checks a command's app:
 * deploy on APP (else "permission denied"), APP exists (else exit 20), then
 * the service exists. 0, or the exit code.
 */
static int link_args(struct bd *bd, const struct ds_kind *k, int argc, const char **argv,
		     struct datastore *d)
{
	if (argc != 3) {
		char u[64];
		snprintf(u, sizeof(u), "%s NAME APP", argv[0]);
		return bd_usage(u);
	}
	if (!sshcmd_valid_app(argv[2])) {
		return bd_fail("invalid app name '%s'", argv[2]);
	}
	if (!bd_can(bd, argv[2], BD_DEPLOY)) {
		return bd_fail("permission denied");
	}
	if (!store_app_exists(&bd->store, argv[2])) {
		bd_fail("App %s does not exist", argv[2]);
		return BD_EXIT_NO_APP;
	}
	return ds_find(bd, k, argv[1], d);
}

static bool has_str(const struct strvec *v, const char *s)
{
	for (size_t i = 0; i < v->nr; i++) {
		if (!strcmp(v->v[i], s)) {
			return true;
		}
	}
	return false;
}

/* Deploys app again after its config changed (nothing deployed yet: nothing to do). */
static int redeploy(struct bd *bd, const char *app)
{
	struct err e = ERR_INIT;
	int rc = 0;

	if (appdeploy_redeploy(bd, app, &e) < 0) {
		rc = bd_fail_err(&e);
	}
	err_release(&e);
	return rc;
}

int cmd_datastore_link(struct bd *bd, int argc, const char **argv)
{
	const struct ds_kind *k = kind_of(argv[0]);
	struct datastore d = {0};
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	struct sbuf url = SBUF_INIT;
	struct err e = ERR_INIT;
	int rc, r;

	if ((rc = link_args(bd, k, argc, argv, &d))) {
		goto out;
	}
	rc = 1;
	ds_url(&url, k, argv[1], d.password);
	strvec_push(&names, k->env);
	strvec_push(&values, url.buf);
	/* The link first: a service is never destroyed while an app may still use it. */
	r = datastore_link(&bd->store, k->kind, argv[1], argv[2], &e);
	if (r < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_config_set(&bd->store, argv[2], &names, &values, &e) < 0) {
		if (r == 1) {
			datastore_unlink(&bd->store, k->kind, argv[1], argv[2], NULL);
		}
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, argv[2], argv[0], k->env);
	bd_step(bd, "Setting config vars");
	bd_info(bd, "%s", k->env);
	rc = redeploy(bd, argv[2]);
out:
	datastore_release(&d);
	strvec_clear(&names);
	strvec_clear(&values);
	sbuf_release(&url);
	err_release(&e);
	return rc;
}

int cmd_datastore_unlink(struct bd *bd, int argc, const char **argv)
{
	const struct ds_kind *k = kind_of(argv[0]);
	struct datastore d = {0};
	struct strvec names = STRVEC_INIT, apps = STRVEC_INIT;
	struct err e = ERR_INIT;
	int rc;

	if ((rc = link_args(bd, k, argc, argv, &d))) {
		goto out;
	}
	rc = 1;
	strvec_push(&names, k->env);
	/* The config var first: the link goes only once the app no longer names the service. */
	if (datastore_links(&bd->store, k->kind, argv[1], &apps, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (!has_str(&apps, argv[2])) {
		rc = bd_fail("%s is not linked to %s service %s", argv[2], k->kind, argv[1]);
		goto out;
	}
	if (store_config_unset(&bd->store, argv[2], &names, &e) < 0 ||
	    datastore_unlink(&bd->store, k->kind, argv[1], argv[2], &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, argv[2], argv[0], k->env);
	bd_step(bd, "Unsetting %s", k->env);
	rc = redeploy(bd, argv[2]);
out:
	datastore_release(&d);
	strvec_clear(&names);
	strvec_clear(&apps);
	err_release(&e);
	return rc;
}
