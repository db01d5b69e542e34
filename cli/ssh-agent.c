/*
 * ssh.key_data: private keys from secrets, handed to OpenSSH without
 * touching the disk or any argv. An ssh-agent of our own serves them for
 * this run: it is started on a socket in a private directory, the keys go
 * to `ssh-add -` on its stdin, and SSH_AUTH_SOCK points every ssh berth
 * starts at it. The agent is ended when berth exits, and dies with berth
 * when berth is killed (PR_SET_PDEATHSIG), so the keys live in memory only
 * while berth runs. Only the public halves are written, next to the socket,
 * for ssh's IdentitiesOnly.
 *
 * The agent runs in the background for the whole run, which the runner
 * (lib/run.h) does not do: it waits for what it starts. Hence the fork here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/secrets.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/sbuf.h"
#include "lib/banned.h"

static pid_t agent_pid = -1;
static char agent_dir[64], agent_sock[96];

static void agent_stop(void)
{
	if (agent_pid > 0) {
		kill(agent_pid, SIGTERM);
		while (waitpid(agent_pid, NULL, 0) < 0 && errno == EINTR) {
		}
		agent_pid = -1;
	}
	if (agent_sock[0]) {
		unlink(agent_sock);
	}
	if (agent_dir[0]) {
		/* the public keys written for keys_only */
		for (int i = 0; i < 64; i++) {
			char p[128];

			snprintf(p, sizeof(p), "%s/key-%d.pub", agent_dir, i);
			if (unlink(p) < 0) {
				break;
			}
		}
		rmdir(agent_dir);
	}
}

static int agent_start(void)
{
	const char *tmp = getenv("TMPDIR");
	pid_t parent = getpid();
	struct stat st;
	int i;

	snprintf(agent_dir, sizeof(agent_dir), "%s/berth-agent-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(agent_dir)) {
		log_error("ssh.key_data: cannot make a directory for the ssh agent: %s",
			  strerror(errno));
		agent_dir[0] = '\0';
		return -1;
	}
	snprintf(agent_sock, sizeof(agent_sock), "%s/agent.sock", agent_dir);
	atexit(agent_stop);
	agent_pid = fork();
	if (agent_pid < 0) {
		log_error("ssh.key_data: cannot start ssh-agent: %s", strerror(errno));
		return -1;
	}
	if (agent_pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent) {
			_exit(1);
		}
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		setpgid(0, 0); /* a ^C for berth is berth's to handle, not the agent's */
		execlp("ssh-agent", "ssh-agent", "-D", "-a", agent_sock, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (stat(agent_sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			setenv("SSH_AUTH_SOCK", agent_sock, 1);
			return 0;
		}
		if (waitpid(agent_pid, NULL, WNOHANG) == agent_pid) {
			agent_pid = -1;
			break;
		}
		nanosleep(&ts, NULL);
	}
	log_error("ssh.key_data: ssh-agent did not start (is OpenSSH's client installed?)");
	return -1;
}

/*
 * With IdentitiesOnly (ssh.keys_only, or the user's ssh config) ssh offers
 * only agent keys it has files for: give it the public halves, which is
 * harmless without.
 */
static int add_public_keys(struct exec *ex)
{
	struct run_cmd c = RUN_CMD_INIT;
	struct slice rest, line;
	int i = 0, ret = -1;

	strvec_pushv(&c.argv, (const char *[]){"ssh-add", "-L", NULL});
	c.out = RUN_IO_CAPTURE;
	c.err = RUN_IO_CAPTURE;
	if (run_one(&c) < 0) {
		log_error("ssh.key_data: ssh-add -L failed: %s", c.errbuf.buf);
		goto out;
	}
	rest = slice_make(c.outbuf.buf, c.outbuf.len);
	while (rest.ptr && i < 64) {
		char p[128];
		FILE *f;

		line = slice_trim(slice_next(&rest, '\n'));
		if (!line.len) {
			continue;
		}
		snprintf(p, sizeof(p), "%s/key-%d.pub", agent_dir, i++);
		f = fopen(p, "w");
		if (!f) {
			log_error("ssh.key_data: cannot write '%s': %s", p, strerror(errno));
			goto out;
		}
		fprintf(f, "%.*s\n", (int)line.len, line.ptr);
		fclose(f);
		strvec_push(&ex->ssh.keys, p);
	}
	ret = 0;
out:
	run_cmd_release(&c);
	return ret;
}

int cli_ssh_agent_setup(const struct config *cfg, struct exec *ex)
{
	struct secrets sec;
	struct err e = ERR_INIT;
	struct sbuf key = SBUF_INIT;
	bool have_sec = false;
	size_t i;
	int ret = -1;

	secrets_init(&sec);
	if (!cfg->ssh.key_data.nr || ex->kind != EXEC_SSH || agent_pid > 0) {
		ret = 0;
		goto out;
	}
	for (i = 0; i < cfg->ssh.key_data.nr; i++) {
		const char *k = cfg->ssh.key_data.v[i], *v = k;

		if (!strstr(k, "-----BEGIN")) {
			if (!have_sec &&
			    (cfg->secrets_path
				 ? secrets_load_path(&sec, cfg->secrets_path, cfg->destination,
						     NULL, &e)
				 : secrets_load(&sec, NULL, cfg->destination, &e)) < 0) {
				log_error("ssh.key_data: %s", err_str(&e));
				goto out;
			}
			have_sec = true;
			v = secrets_get(&sec, k);
			if (!v) {
				log_error(
				    "ssh.key_data: secret '%s' is not set in the secrets files", k);
				goto out;
			}
		}
		if (agent_pid < 0 && agent_start() < 0) {
			goto out;
		}
		sbuf_reset(&key);
		sbuf_addstr(&key, v);
		if (!key.len || key.buf[key.len - 1] != '\n') {
			sbuf_addch(&key, '\n');
		}
		{
			struct run_cmd c = RUN_CMD_INIT;
			int r;

			strvec_pushv(&c.argv, (const char *[]){"ssh-add", "-q", "-", NULL});
			c.in_mem = slice_make(key.buf, key.len);
			c.out = RUN_IO_CAPTURE;
			c.err = RUN_IO_CAPTURE;
			r = run_one(&c);
			if (r < 0) {
				sbuf_trim(&c.errbuf);
				log_error("ssh.key_data: ssh-add refused key %zu%s%s%s: %s", i + 1,
					  v != k ? " (secret '" : "", v != k ? k : "",
					  v != k ? "')" : "", c.errbuf.buf);
			}
			run_cmd_release(&c);
			if (r < 0) {
				goto out;
			}
		}
	}
	if (add_public_keys(ex) < 0) {
		goto out;
	}
	ret = 0;
out:
	/* the key's bytes do not outlive their use */
	if (key.alloc) {
		memset(key.buf, 0, key.alloc);
	}
	sbuf_release(&key);
	secrets_release(&sec);
	err_release(&e);
	return ret;
}
