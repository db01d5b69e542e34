#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/app.h"
#include "engine/doctor.h"
#include "engine/preflight.h"
#include "engine/proxyhost.h"
#include "engine/scripts.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define MIB ((uint64_t)1 << 20)

void preflight_host_init(struct preflight_host *h, const char *host)
{
	memset(h, 0, sizeof(*h));
	h->host = host;
	sbuf_init(&h->need_why, 0);
}

void preflight_host_release(struct preflight_host *h)
{
	free(h->disk_path);
	sbuf_release(&h->need_why);
	memset(h, 0, sizeof(*h));
}

/* "NAME:   123 kB" lines: the value of name in bytes, when the line is there. */
static bool meminfo_value(struct slice text, const char *name, uint64_t *out)
{
	size_t nlen = strlen(name);

	while (text.len) {
		struct slice line = slice_next(&text, '\n');

		if (line.len > nlen && !memcmp(line.ptr, name, nlen) && line.ptr[nlen] == ':') {
			struct slice v =
			    slice_trim(slice_make(line.ptr + nlen + 1, line.len - nlen - 1));
			uint64_t n = 0;
			size_t i;

			for (i = 0; i < v.len && isdigit((unsigned char)v.ptr[i]); i++) {
				if (n > UINT64_MAX / 10 / 1024) {
					return false;
				}
				n = n * 10 + (uint64_t)(v.ptr[i] - '0');
			}
			if (!i) {
				return false;
			}
			/* the kernel writes "kB" and means KiB */
			*out = n * 1024;
			return true;
		}
	}
	return false;
}

void preflight_parse_meminfo(struct slice text, uint64_t *total, uint64_t *avail)
{
	meminfo_value(text, "MemTotal", total);
	meminfo_value(text, "MemAvailable", avail);
}

int preflight_parse_mem(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s)) {
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s) {
		return -1;
	}
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'b':
		end++;
		break;
	case 'k':
		mult = 1024;
		end++;
		break;
	case 'm':
		mult = MIB;
		end++;
		break;
	case 'g':
		mult = MIB * 1024;
		end++;
		break;
	case 't':
		mult = MIB * MIB;
		end++;
		break;
	default:
		return -1;
	}
	/* "1g" and "1gb" alike, as docker takes them */
	if (mult > 1 && tolower((unsigned char)*end) == 'b') {
		end++;
	}
	if (*end || v * (double)mult >= 1.8e19) {
		return -1;
	}
	*out = (uint64_t)(v * (double)mult);
	return 0;
}

int preflight_cgroup_dir(struct slice text, struct sbuf *dir, bool *v2)
{
	struct slice v2path = {0};
	bool have_v2 = false;

	sbuf_reset(dir);
	while (text.len) {
		struct slice line = slice_next(&text, '\n'), id, ctrls;

		id = slice_next(&line, ':');
		ctrls = slice_next(&line, ':');
		if (!line.len || line.ptr[0] != '/' || memchr(line.ptr, '\0', line.len) ||
		    slice_find(line, "/..") >= 0) {
			continue;
		}
		if (slice_eq_cstr(id, "0") && !ctrls.len) {
			v2path = line;
			have_v2 = true;
			continue;
		}
		/* v1: "N:memory:/path", the controller maybe among others ("memory,foo") */
		while (ctrls.len) {
			if (slice_eq_cstr(slice_next(&ctrls, ','), "memory")) {
				sbuf_addstr(dir, "/sys/fs/cgroup/memory");
				sbuf_add(dir, line.ptr, line.len);
				*v2 = false;
				return 0;
			}
		}
	}
	if (have_v2) {
		sbuf_addstr(dir, "/sys/fs/cgroup");
		sbuf_add(dir, v2path.ptr, v2path.len);
		*v2 = true;
		return 0;
	}
	return -1;
}

/* A decimal number that is the whole of s (trimmed); -1 if not one. */
static int whole_number(struct slice s, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	s = slice_trim(s);
	if (!s.len) {
		return -1;
	}
	for (i = 0; i < s.len; i++) {
		if (!isdigit((unsigned char)s.ptr[i]) || n > (UINT64_MAX - 9) / 10) {
			return -1;
		}
		n = n * 10 + (uint64_t)(s.ptr[i] - '0');
	}
	*out = n;
	return 0;
}

int preflight_cgroup_usage(struct slice usage, struct slice stat, bool v2, uint64_t *out)
{
	const char *key = v2 ? "inactive_file" : "total_inactive_file";
	uint64_t u, inactive = 0;

	if (whole_number(usage, &u) < 0) {
		return -1;
	}
	while (stat.len) {
		struct slice line = slice_next(&stat, '\n'), name = slice_next(&line, ' ');

		if (slice_eq_cstr(name, key)) {
			if (whole_number(line, &inactive) < 0) {
				inactive = 0;
			}
			break;
		}
	}
	*out = inactive < u ? u - inactive : 0;
	return 0;
}

/* What container PID uses now, read through s; -1 when it cannot be. */
static int container_mem(struct sftp *s, const char *pid, uint64_t *out)
{
	struct sbuf path = SBUF_INIT, text = SBUF_INIT, dir = SBUF_INIT, usage = SBUF_INIT;
	struct err e = ERR_INIT;
	bool v2 = false;
	int ret = -1;

	sbuf_addf(&path, "/proc/%s/cgroup", pid);
	if (sftp_read_file(s, path.buf, 1 << 16, &text, &e) != 0 ||
	    preflight_cgroup_dir(slice_make(text.buf, text.len), &dir, &v2) < 0) {
		goto out;
	}
	sbuf_reset(&path);
	sbuf_addf(&path, "%s/%s", dir.buf, v2 ? "memory.current" : "memory.usage_in_bytes");
	if (sftp_read_file(s, path.buf, 64, &usage, &e) != 0) {
		goto out;
	}
	sbuf_reset(&path);
	sbuf_reset(&text);
	sbuf_addf(&path, "%s/memory.stat", dir.buf);
	if (sftp_read_file(s, path.buf, 1 << 16, &text, &e) != 0) {
		sbuf_reset(&text);
	}
	ret = preflight_cgroup_usage(slice_make(usage.buf, usage.len),
				     slice_make(text.buf, text.len), v2, out);
out:
	if (err_isset(&e)) {
		log_debug("preflight: %s", err_str(&e));
	}
	sbuf_release(&path);
	sbuf_release(&text);
	sbuf_release(&dir);
	sbuf_release(&usage);
	err_release(&e);
	return ret;
}

/* Asks Docker on host: its data root, then "PID ROLE LIMIT" lines, into out. */
static int ask_docker(struct exec *ex, const struct config *cfg, const char *host, struct sbuf *out,
		      struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	struct run_cmd cmd = RUN_CMD_INIT;
	int ret = -1;

	strvec_pushv(&argv, (const char *[]){"sh", "-c", script_deploy_preflight, "sh",
					     PROXYHOST_VOLUME, NULL});
	app_filter_argv(&argv, cfg, NULL);
	if (exec_prepare_docker(ex, host, (const char *const *)argv.v, &cmd, e) < 0) {
		goto out;
	}
	cmd.out = RUN_IO_CAPTURE;
	cmd.err = RUN_IO_CAPTURE;
	cmd.capture_max = 1 << 20;
	cmd.timeout_ms = 30000;
	if (run_one(&cmd) != 0) {
		exec_script_result(ex, host, &(const struct exec_script){0}, &cmd, e);
		goto out;
	}
	sbuf_add(out, cmd.outbuf.buf, cmd.outbuf.len);
	ret = 0;
out:
	strvec_clear(&argv);
	run_cmd_release(&cmd);
	return ret;
}

int preflight_read(struct exec *ex, preflight_sftp_fn sftp_of, void *data, const struct config *cfg,
		   const struct config_role *const *roles, size_t nroles, struct preflight_host *h,
		   struct err *e)
{
	struct sftp *s;
	struct sbuf out = SBUF_INIT, text = SBUF_INIT;
	struct slice rest, line;
	struct sftp_fs fs;
	struct err le = ERR_INIT;
	uint64_t *used = xcalloc(nroles ? nroles : 1, sizeof(*used));
	size_t i;
	int ret = -1;

	if (ask_docker(ex, cfg, h->host, &out, e) < 0) {
		goto out;
	}
	s = sftp_of(data, h->host);
	if (!s) {
		ret = 0;
		goto out;
	}
	h->read = true;
	rest = slice_make(out.buf, out.len);
	line = slice_trim(slice_next(&rest, '\n'));
	if (line.len && line.ptr[0] == '/') {
		/* a volume's mount point: ROOT/volumes/NAME/_data, where the ssh user may not look
		 */
		long v = slice_find(line, "/volumes/");

		h->disk_path = slice_dup(v > 0 ? slice_make(line.ptr, (size_t)v) : line);
		if (sftp_statvfs(s, h->disk_path, &fs, &le) == 0) {
			h->disk_size = fs.size;
			h->disk_avail = fs.avail;
		}
	}
	if (sftp_read_file(s, "/proc/meminfo", 1 << 16, &text, &le) == 0) {
		preflight_parse_meminfo(slice_make(text.buf, text.len), &h->mem_total,
					&h->mem_available);
	}
	/* what each role's running containers use: the most of any, the one it replaces */
	while (rest.len) {
		struct slice l = slice_trim(slice_next(&rest, '\n'));
		struct slice pid = slice_next(&l, ' '), role = slice_next(&l, ' ');
		char *p;
		uint64_t m;

		for (i = 0; i < nroles && !slice_eq_cstr(role, roles[i]->name); i++) {
		}
		if (i == nroles || !pid.len || pid.len > 10) {
			continue;
		}
		p = slice_dup(pid);
		if (strspn(p, "0123456789") == strlen(p) && strcmp(p, "0") &&
		    container_mem(s, p, &m) == 0 && m > used[i]) {
			used[i] = m;
		}
		free(p);
	}
	for (i = 0; i < nroles; i++) {
		const char *limit = config_map_get(&roles[i]->options, "memory");
		uint64_t need = 0;

		sbuf_addf(&h->need_why, "%s%s: ", h->need_why.len ? "; " : "", roles[i]->name);
		if (limit && preflight_parse_mem(limit, &need) == 0) {
			sbuf_addstr(&h->need_why, "its memory limit, ");
		} else if (used[i]) {
			need = used[i];
			sbuf_addstr(&h->need_why, "what its running container uses, ");
		} else {
			sbuf_addstr(&h->need_why, "not known (no limit, nothing running)");
			continue;
		}
		doctor_add_size(&h->need_why, need);
		h->need_mem += need;
	}
	ret = 0;
out:
	if (err_isset(&le)) {
		log_debug("preflight on %s: %s", h->host, err_str(&le));
	}
	sbuf_release(&out);
	sbuf_release(&text);
	err_release(&le);
	free(used);
	return ret;
}

int preflight_judge(const struct preflight_host *h, struct sbuf *why)
{
	uint64_t keep_mem = h->mem_total / 20 > 64 * MIB ? h->mem_total / 20 : 64 * MIB;
	uint64_t keep_disk = h->disk_size / 50 > 512 * MIB ? h->disk_size / 50 : 512 * MIB;
	int ret = 0;

	sbuf_reset(why);
	if (h->need_mem && h->mem_available && h->need_mem + keep_mem > h->mem_available) {
		sbuf_addf(why, "%s: not enough memory to run the new containers beside the old: ",
			  h->host);
		sbuf_addstr(why, "they need ");
		doctor_add_size(why, h->need_mem);
		sbuf_addf(why, " (%s), and ", h->need_why.buf);
		doctor_add_size(why, h->mem_available);
		sbuf_addstr(why, " is available of ");
		doctor_add_size(why, h->mem_total);
		sbuf_addstr(why, " (berth keeps ");
		doctor_add_size(why, keep_mem);
		sbuf_addstr(why, " free)");
		ret = 1;
	}
	if (h->disk_size && h->disk_avail < keep_disk) {
		sbuf_addf(why, "%s%s: Docker's data root %s has ", ret ? "\n" : "", h->host,
			  h->disk_path ? h->disk_path : "");
		doctor_add_size(why, h->disk_avail);
		sbuf_addstr(why, " free of ");
		doctor_add_size(why, h->disk_size);
		sbuf_addstr(why, "; a deploy wants ");
		doctor_add_size(why, keep_disk);
		sbuf_addstr(why, " free for the new containers and their logs");
		ret = 1;
	}
	return ret;
}
