/* Tests for daemon/appdeploy.c: the release spec from the store, versions, the app lock. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/appdeploy.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "unit.h"

static char dir[] = "/tmp/berth-test-appdeploy-XXXXXX";

static void bd_open(struct bd *bd)
{
	memset(bd, 0, sizeof(*bd));
	bd->state_dir = dir;
	bd->admin = true;
	bd->quiet = true;
	CHECK(store_open(&bd->store, dir, NULL) == 0);
}

static void test_spec_from_store(void)
{
	struct bd bd;
	struct appdeploy d;
	struct strvec n = STRVEC_INIT, v = STRVEC_INIT;
	struct release_proc procs[] = {{"web", NULL, 1}, {"worker", "bin/work --hard", 0}};
	struct push_result pr = {0};

	bd_open(&bd);
	store_app_create(&bd.store, "web", NULL);
	strvec_push(&n, "SECRET");
	strvec_push(&v, "s3cr3t; $(x)");
	store_config_set(&bd.store, "web", &n, &v, NULL);
	store_setting_set(&bd.store, "global-domain", "example.com", NULL);
	store_scale_set(&bd.store, "web", "worker", 2, NULL);
	pr.procs = procs;
	pr.nprocs = 2;
	pr.check.path = "/health";
	CHECK(appdeploy_spec(&bd, "web", "berthd/web:abc", "abc", &pr, &d, NULL) == 0);
	CHECK_STR(d.spec.app, "web");
	CHECK_STR(d.spec.image, "berthd/web:abc");
	CHECK_STR(d.spec.version, "abc");
	CHECK_STR(d.spec.state_dir, dir);
	CHECK_INT(d.spec.env_names->nr, 1);
	CHECK_STR(d.spec.env_values->v[0], "s3cr3t; $(x)");
	/* no domains of its own: APP.<global domain> */
	CHECK_INT(d.spec.domains->nr, 1);
	CHECK_STR(d.spec.domains->v[0], "web.example.com");
	CHECK_INT(d.spec.nprocs, 2);
	CHECK_STR(d.spec.procs[0].type, "web");
	CHECK_INT(d.spec.procs[0].scale, 1);
	CHECK_STR(d.spec.procs[1].cmd, "bin/work --hard");
	CHECK_INT(d.spec.procs[1].scale, 2);
	CHECK_STR(d.spec.check.path, "/health");
	appdeploy_release(&d);

	/* its own domains replace the global one; an image runs as web alone */
	store_domain_add(&bd.store, "web", "www.example.org", NULL);
	store_scale_set(&bd.store, "web", "web", 3, NULL);
	CHECK(appdeploy_spec(&bd, "web", "nginx:1", "img", NULL, &d, NULL) == 0);
	CHECK_INT(d.spec.domains->nr, 1);
	CHECK_STR(d.spec.domains->v[0], "www.example.org");
	CHECK_INT(d.spec.nprocs, 1);
	CHECK_STR(d.spec.procs[0].type, "web");
	CHECK(d.spec.procs[0].cmd == NULL);
	CHECK_INT(d.spec.procs[0].scale, 3);
	appdeploy_release(&d);

	store_app_destroy(&bd.store, "web", NULL);
	store_setting_set(&bd.store, "global-domain", NULL, NULL);
	strvec_clear(&n);
	strvec_clear(&v);
	store_close(&bd.store);
}

static void test_versions_and_redeploy(void)
{
	struct bd bd;
	struct err e = ERR_INIT;
	long long id = 0;
	char *v;

	bd_open(&bd);
	store_app_create(&bd.store, "api", NULL);
	v = appdeploy_version(&bd, "api", "0123456789ab");
	CHECK_STR(v, "0123456789ab");
	free(v);
	store_release_add(&bd.store, "api", "0123456789ab", "berthd/api:0123456789ab", NULL,
			  "failed", &id, NULL);
	v = appdeploy_version(&bd, "api", "0123456789ab");
	{
		struct sbuf want = SBUF_INIT;
		sbuf_addf(&want, "0123456789ab-%lld", id + 1);
		CHECK_STR(v, want.buf);
		sbuf_release(&want);
	}
	free(v);
	/* nothing deployed: a config change has nothing to deploy again */
	CHECK_INT(appdeploy_redeploy(&bd, "api", &e), 1);
	CHECK(!err_isset(&e));
	store_app_destroy(&bd.store, "api", NULL);
	err_release(&e);
	store_close(&bd.store);
}

/* A second taker of an app's lock waits, saying who holds it, and gets it once it is free. */
static void test_lock_waits_and_names_holder(void)
{
	int held[2], release_it[2];
	struct sbuf out = SBUF_INIT, path = SBUF_INIT;
	pid_t a, b;
	char c;
	int st = 0;

	CHECK(pipe(held) == 0 && pipe(release_it) == 0);
	a = fork();
	if (a == 0) {
		struct bd bd;
		int fd;
		bd_open(&bd);
		bd.key = "alice";
		fd = appdeploy_lock(&bd, "web", "git push", NULL);
		if (write(held[1], "x", 1) != 1 || fd < 0) {
			_exit(1);
		}
		if (read(release_it[0], &c, 1) != 1) {
			_exit(1);
		}
		appdeploy_unlock(fd);
		_exit(0);
	}
	CHECK(read(held[0], &c, 1) == 1);
	sbuf_addf(&path, "%s/waiter.out", dir);
	b = fork();
	if (b == 0) {
		struct bd bd;
		int fd, out_fd = open(path.buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out_fd < 0 || dup2(out_fd, 1) < 0) {
			_exit(1);
		}
		bd_open(&bd);
		bd.quiet = false;
		bd.key = "bob";
		fd = appdeploy_lock(&bd, "web", "config:set", NULL);
		_exit(fd < 0 ? 1 : 0);
	}
	/* bounded: the waiter says so as soon as it finds the lock taken */
	for (int i = 0; i < 2000 && !strstr(out.buf, "Waiting"); i++) {
		sbuf_reset(&out);
		sbuf_read_file(&out, path.buf);
		usleep(5000);
	}
	CHECK(strstr(out.buf, "-----> Waiting for web's lock, held by alice (git push, pid ") !=
	      NULL);
	CHECK(waitpid(b, &st, WNOHANG) == 0); /* still waiting */
	CHECK(write(release_it[1], "x", 1) == 1);
	CHECK(waitpid(b, &st, 0) == b && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(waitpid(a, &st, 0) == a && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	sbuf_release(&out);
	sbuf_release(&path);
	close(held[0]);
	close(held[1]);
	close(release_it[0]);
	close(release_it[1]);
}

/* certs:add's pair and letsencrypt:enable reach the spec; letsencrypt wins; no domain: neither. */
static void test_tls_from_store(void)
{
	struct bd bd;
	struct appdeploy d;

	bd_open(&bd);
	store_app_create(&bd.store, "tls", NULL);
	store_domain_add(&bd.store, "tls", "tls.example.org", NULL);
	CHECK(appdeploy_spec(&bd, "tls", "nginx:1", "img", NULL, &d, NULL) == 0);
	CHECK(!d.spec.ssl_acme && !d.spec.ssl_certificate_pem && !d.spec.ssl_private_key_pem);
	appdeploy_release(&d);

	store_prop_set(&bd.store, "tls", "certs.crt", "CRT", NULL);
	store_prop_set(&bd.store, "tls", "certs.key", "KEY", NULL);
	CHECK(appdeploy_spec(&bd, "tls", "nginx:1", "img", NULL, &d, NULL) == 0);
	CHECK(!d.spec.ssl_acme);
	CHECK_STR(d.spec.ssl_certificate_pem, "CRT");
	CHECK_STR(d.spec.ssl_private_key_pem, "KEY");
	appdeploy_release(&d);

	store_prop_set(&bd.store, "tls", "letsencrypt.enabled", "true", NULL);
	CHECK(appdeploy_spec(&bd, "tls", "nginx:1", "img", NULL, &d, NULL) == 0);
	CHECK(d.spec.ssl_acme);
	CHECK(d.spec.ssl_certificate_pem == NULL);
	appdeploy_release(&d);

	/* no domains (and no global one): plain HTTP rather than a release the engine refuses */
	store_domain_remove(&bd.store, "tls", "tls.example.org", NULL);
	CHECK(appdeploy_spec(&bd, "tls", "nginx:1", "img", NULL, &d, NULL) == 0);
	CHECK(!d.spec.ssl_acme && !d.spec.ssl_certificate_pem);
	appdeploy_release(&d);
	store_app_destroy(&bd.store, "tls", NULL);
	store_close(&bd.store);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		return 1;
	}
	UNIT_RUN(test_spec_from_store);
	UNIT_RUN(test_tls_from_store);
	UNIT_RUN(test_versions_and_redeploy);
	UNIT_RUN(test_lock_waits_and_names_holder);
	{
		struct run_cmd rm = RUN_CMD_INIT;
		strvec_pushv(&rm.argv, (const char *[]){"rm", "-rf", dir, NULL});
		run_one(&rm);
		run_cmd_release(&rm);
	}
	return unit_done();
}
