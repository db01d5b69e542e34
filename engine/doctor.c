#include "doctor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "lib/jtext.h"
#include "engine/daemonhost.h"
#include "engine/scripts.h"
#include "lib/banned.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define MAX_CONTAINERS 4096
#define MAX_LISTENERS  4096

void doctor_facts_init(struct doctor_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->docker_rc = -1;
}

void doctor_facts_release(struct doctor_facts *f)
{
	size_t i;

	free(f->docker_error);
	free(f->docker_version);
	free(f->docker_root);
	free(f->logging_driver);
	free(f->storage_driver);
	for (i = 0; i < f->nr_ctrs; i++) {
		struct doctor_container *c = &f->ctrs[i];
		free(c->name);
		free(c->image);
		free(c->state);
		free(c->status);
		free(c->ports);
		free(c->log_driver);
		free(c->log_max_size);
	}
	free(f->ctrs);
	for (i = 0; i < f->nr_mounts; i++) {
		free(f->mounts[i].path);
		free(f->mounts[i].mounted_on);
		free(f->mounts[i].filesystem);
	}
	for (i = 0; i < f->nr_listeners; i++) {
		free(f->listeners[i].addr);
		free(f->listeners[i].process);
	}
	free(f->listeners);
	for (i = 0; i < f->nr_df; i++) {
		free(f->df[i].type);
		free(f->df[i].size);
		free(f->df[i].reclaimable);
	}
	free(f->daemon_log_driver);
	free(f->daemon_max_size);
	doctor_facts_init(f);
}

/* ---- sizes ---- */

bool doctor_parse_size(struct slice s, uint64_t *bytes)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {
	    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
	    {"kB", 1e3},     {"KB", 1e3},	 {"MB", 1e6},		{"GB", 1e9},
	    {"TB", 1e12},    {"B", 1.0},
	};
	size_t i, n = 0;
	double v;

	s = slice_trim(s);
	while (n < s.len && ((s.ptr[n] >= '0' && s.ptr[n] <= '9') || s.ptr[n] == '.')) {
		n++;
	}
	if (!slice_to_double(slice_make(s.ptr, n), &v)) {
		return false;
	}
	s = slice_trim(slice_from(s, n));
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (slice_eq_cstr(s, units[i].unit)) {
			double b = v * units[i].mult;
			if (b >= 1.8e19) {
				return false;
			}
			*bytes = (uint64_t)b;
			return true;
		}
	}
	return false;
}

void doctor_add_size(struct sbuf *sb, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0) {
		sbuf_addf(sb, "%llu B", (unsigned long long)bytes);
	} else {
		sbuf_addf(sb, "%.*f %s", v < 10 ? 1 : 0, v, units[u]);
	}
}

/* ---- parsing ---- */

static char *json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static json_t *json_line(struct slice line)
{
	line = slice_trim(line);
	if (!line.len || line.ptr[0] != '{') {
		return NULL;
	}
	return json_loadb(line.ptr, line.len, JSON_DECODE_ANY, NULL);
}

static void parse_docker_info(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body, line;
	struct sbuf text = SBUF_INIT;
	json_t *j = NULL;

	while (rest.ptr) {
		line = slice_next(&rest, '\n');
		if (slice_starts_with(line, "@@rc ")) {
			uint64_t rc;
			if (slice_to_u64(slice_trim(slice_from(line, 5)), 255, &rc)) {
				f->docker_rc = (int)rc;
			}
			continue;
		}
		if (!j && (j = json_line(line))) {
			continue;
		}
		line = slice_trim(line);
		if (line.len) {
			if (text.len) {
				sbuf_addch(&text, ' ');
			}
			sbuf_add(&text, line.ptr, line.len);
		}
	}
	if (j) {
		json_t *errs = json_object_get(j, "ServerErrors");
		json_t *v;
		f->docker_version = json_str(j, "ServerVersion");
		f->docker_root = json_str(j, "DockerRootDir");
		f->logging_driver = json_str(j, "LoggingDriver");
		f->storage_driver = json_str(j, "Driver");
		if (json_is_integer(v = json_object_get(j, "Containers"))) {
			f->containers_total = (unsigned)json_integer_value(v);
		}
		if (json_is_integer(v = json_object_get(j, "ContainersRunning"))) {
			f->containers_running = (unsigned)json_integer_value(v);
		}
		if (json_is_array(errs) && json_array_size(errs) &&
		    json_is_string(json_array_get(errs, 0))) {
			f->docker_error = xstrdup(json_string_value(json_array_get(errs, 0)));
		}
		if (f->docker_version && !*f->docker_version) {
			free(f->docker_version);
			f->docker_version = NULL;
		}
	}
	if (!f->docker_error && (f->docker_rc != 0 || !f->docker_version) && text.len) {
		f->docker_error = sbuf_detach(&text, NULL);
	}
	if (!f->docker_error && !f->docker_version) {
		f->docker_error = xstrdup("docker did not answer");
	}
	json_decref(j);
	sbuf_release(&text);
}

static struct doctor_container *find_ctr(struct doctor_facts *f, const char *name)
{
	size_t i;

	for (i = 0; name && i < f->nr_ctrs; i++) {
		if (f->ctrs[i].name && !strcmp(f->ctrs[i].name, name)) {
			return &f->ctrs[i];
		}
	}
	return NULL;
}

static void parse_docker_ps(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body;

	while (rest.ptr && f->nr_ctrs < MAX_CONTAINERS) {
		json_t *j = json_line(slice_next(&rest, '\n'));
		struct doctor_container *c;
		char *name;

		if (!j) {
			continue;
		}
		name = json_str(j, "Names");
		if (!name || find_ctr(f, name)) {
			free(name);
			json_decref(j);
			continue;
		}
		XGROW(f->ctrs, f->alloc_ctrs, f->nr_ctrs + 1);
		c = &f->ctrs[f->nr_ctrs++];
		memset(c, 0, sizeof(*c));
		c->name = name;
		c->image = json_str(j, "Image");
		c->state = json_str(j, "State");
		c->status = json_str(j, "Status");
		c->ports = json_str(j, "Ports");
		if (!c->state && c->status) {
			c->state = xstrdup(!strncmp(c->status, "Up", 2) ? "running" : "exited");
		}
		json_decref(j);
	}
}

static void parse_docker_stats(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body;

	while (rest.ptr) {
		json_t *j = json_line(slice_next(&rest, '\n'));
		struct doctor_container *c;
		const char *usage;

		if (!j) {
			continue;
		}
		usage = json_string_value(json_object_get(j, "MemUsage"));
		c = find_ctr(f, json_string_value(json_object_get(j, "Name")));
		if (c && usage) {
			struct slice u = slice_cstr(usage);
			long slash = slice_find_char(u, '/');
			if (slash >= 0) {
				u.len = (size_t)slash;
			}
			doctor_parse_size(u, &c->mem);
		}
		json_decref(j);
	}
}

static void parse_docker_df(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body;

	while (rest.ptr && f->nr_df < sizeof(f->df) / sizeof(f->df[0])) {
		json_t *j = json_line(slice_next(&rest, '\n'));
		struct doctor_df_row *r;

		if (!j) {
			continue;
		}
		r = &f->df[f->nr_df];
		r->type = json_str(j, "Type");
		r->size = json_str(j, "Size");
		r->reclaimable = json_str(j, "Reclaimable");
		if (r->type) {
			f->nr_df++;
		} else {
			free(r->size);
			free(r->reclaimable);
		}
		json_decref(j);
	}
}

static void parse_log_config(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body;

	while (rest.ptr) {
		struct slice line = slice_next(&rest, '\n'), name, type, max;
		struct doctor_container *c;
		char *n;

		name = slice_next(&line, '\t');
		type = slice_next(&line, '\t');
		max = slice_trim(line);
		if (!type.ptr) {
			continue;
		}
		if (name.len && name.ptr[0] == '/') {
			name = slice_from(name, 1);
		}
		n = slice_dup(name);
		c = find_ctr(f, n);
		free(n);
		if (!c) {
			continue;
		}
		free(c->log_driver);
		free(c->log_max_size);
		c->log_driver = slice_dup(type);
		c->log_max_size =
		    max.len && !slice_eq_cstr(max, "<no value>") ? slice_dup(max) : NULL;
	}
}

static void parse_df(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body;
	char *path = NULL;

	while (rest.ptr) {
		struct slice line = slice_next(&rest, '\n'), w[5];
		uint64_t size, avail;
		size_t i;

		if (slice_starts_with(line, "@@path ")) {
			free(path);
			path = slice_dup(slice_trim(slice_from(line, 7)));
			continue;
		}
		/* Filesystem 1024-blocks Used Available Capacity Mounted-on (may hold spaces) */
		for (i = 0; i < 5; i++) {
			w[i] = slice_next_word(&line);
		}
		line = slice_trim(line);
		if (!path || !w[4].ptr || !line.len || f->nr_mounts >= 2) {
			continue;
		}
		if (!slice_to_u64(w[1], UINT64_MAX / 1024, &size) ||
		    !slice_to_u64(w[3], UINT64_MAX / 1024, &avail)) {
			continue;
		}
		f->mounts[f->nr_mounts].path = path;
		f->mounts[f->nr_mounts].filesystem = slice_dup(w[0]);
		f->mounts[f->nr_mounts].mounted_on = slice_dup(line);
		f->mounts[f->nr_mounts].size = size * 1024;
		f->mounts[f->nr_mounts].avail = avail * 1024;
		f->nr_mounts++;
		path = NULL;
	}
	free(path);
}

static void add_listener(struct doctor_facts *f, unsigned port, struct slice addr,
			 struct slice process, long pid)
{
	struct doctor_listener *l;

	if (f->nr_listeners >= MAX_LISTENERS) {
		return;
	}
	XGROW(f->listeners, f->alloc_listeners, f->nr_listeners + 1);
	l = &f->listeners[f->nr_listeners++];
	l->port = port;
	l->addr = slice_dup(addr);
	l->process = process.len ? slice_dup(process) : NULL;
	l->pid = pid;
}

/* ss -Hltnp: "LISTEN 0 4096 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=12,fd=6),...)" */
static void parse_ss_line(struct slice line, struct doctor_facts *f)
{
	struct slice w[5], local, proc = SLICE_NULL, users;
	long colon = -1, q, p;
	uint64_t port, pid = 0;
	size_t i;

	for (i = 0; i < 5; i++) {
		w[i] = slice_next_word(&line);
	}
	if (!w[4].ptr || !slice_eq_cstr(w[0], "LISTEN")) {
		return;
	}
	local = w[3];
	for (i = local.len; i > 0; i--) {
		if (local.ptr[i - 1] == ':') {
			colon = (long)i - 1;
			break;
		}
	}
	if (colon < 0 || !slice_to_u64(slice_from(local, (size_t)colon + 1), 65535, &port)) {
		return;
	}
	users = slice_trim(line);
	q = slice_find(users, "((\"");
	if (q >= 0) {
		struct slice name = slice_from(users, (size_t)q + 3);
		long end = slice_find_char(name, '"');
		if (end > 0) {
			proc = slice_make(name.ptr, (size_t)end);
			p = slice_find(name, "pid=");
			if (p >= 0) {
				struct slice digits = slice_from(name, (size_t)p + 4);
				size_t n = 0;
				while (n < digits.len && digits.ptr[n] >= '0' &&
				       digits.ptr[n] <= '9') {
					n++;
				}
				if (!slice_to_u64(slice_make(digits.ptr, n), 0x7fffffff, &pid)) {
					pid = 0;
				}
			}
		}
	}
	add_listener(f, (unsigned)port, slice_make(local.ptr, (size_t)colon), proc, (long)pid);
}

/* /proc/net/tcp: "  0: 00000000:0050 00000000:0000 0A ..." (state 0A is LISTEN) */
static void parse_proc_tcp_line(struct slice line, struct doctor_facts *f)
{
	struct slice idx = slice_next_word(&line), local = slice_next_word(&line);
	struct slice remote = slice_next_word(&line), st = slice_next_word(&line);
	long colon;
	unsigned port = 0;
	size_t i;

	(void)remote;
	if (!idx.ptr || !st.ptr || !slice_eq_cstr(st, "0A")) {
		return;
	}
	colon = slice_find_char(local, ':');
	if (colon < 0 || local.len - (size_t)colon - 1 != 4) {
		return;
	}
	for (i = (size_t)colon + 1; i < local.len; i++) {
		char c = local.ptr[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 99;
		if (d == 99) {
			return;
		}
		port = port * 16 + d;
	}
	add_listener(f, port, slice_make(local.ptr, (size_t)colon), SLICE_NULL, 0);
}

static void parse_listeners(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body;

	while (rest.ptr) {
		struct slice line = slice_next(&rest, '\n');
		if (slice_eq_cstr(slice_trim(line), "@@nss")) {
			f->listeners_unnamed = true;
			continue;
		}
		if (f->listeners_unnamed) {
			parse_proc_tcp_line(line, f);
		} else {
			parse_ss_line(line, f);
		}
	}
}

static void parse_daemon_json(struct slice body, struct doctor_facts *f)
{
	json_t *j;

	body = slice_trim(body);
	if (!body.len) {
		return;
	}
	j = json_loadb(body.ptr, body.len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	f->daemon_log_driver = json_str(j, "log-driver");
	f->daemon_max_size = json_str(json_object_get(j, "log-opts"), "max-size");
	json_decref(j);
}

static void parse_meminfo(struct slice body, struct doctor_facts *f)
{
	struct slice rest = body;

	while (rest.ptr) {
		struct slice line = slice_next(&rest, '\n');
		struct slice key = slice_next(&line, ':');
		struct slice num = slice_next_word(&line);
		uint64_t kb;

		if (!num.ptr || !slice_to_u64(num, UINT64_MAX / 1024, &kb)) {
			continue;
		}
		if (slice_eq_cstr(key, "MemTotal")) {
			f->mem_total = kb * 1024;
		} else if (slice_eq_cstr(key, "MemAvailable")) {
			f->mem_available = kb * 1024;
		}
	}
}

static double first_number(struct slice body)
{
	struct slice rest = slice_trim(body);
	struct slice w = slice_next_word(&rest);
	double v = 0;

	if (w.ptr && !slice_to_double(w, &v)) {
		/* "1700000000.%N" from a date without %N: the integer part will do */
		long dot = slice_find_char(w, '.');
		if (dot < 0 || !slice_to_double(slice_make(w.ptr, (size_t)dot), &v)) {
			v = 0;
		}
	}
	return v;
}

static void parse_section(struct slice name, struct slice body, struct doctor_facts *f)
{
	if (slice_eq_cstr(name, "time")) {
		f->remote_time = first_number(body);
	} else if (slice_eq_cstr(name, "uptime")) {
		f->uptime = first_number(body);
	} else if (slice_eq_cstr(name, "loadavg")) {
		struct slice rest = slice_trim(body);
		int i;
		f->have_load = true;
		for (i = 0; i < 3; i++) {
			struct slice w = slice_next_word(&rest);
			if (!w.ptr || !slice_to_double(w, &f->load[i])) {
				f->have_load = false;
			}
		}
	} else if (slice_eq_cstr(name, "ncpu")) {
		uint64_t n;
		if (slice_to_u64(slice_trim(body), 1 << 20, &n)) {
			f->ncpu = (unsigned)n;
		}
	} else if (slice_eq_cstr(name, "meminfo")) {
		parse_meminfo(body, f);
	} else if (slice_eq_cstr(name, "docker_info")) {
		parse_docker_info(body, f);
	} else if (slice_eq_cstr(name, "docker_ps")) {
		parse_docker_ps(body, f);
	} else if (slice_eq_cstr(name, "docker_stats")) {
		parse_docker_stats(body, f);
	} else if (slice_eq_cstr(name, "docker_df")) {
		parse_docker_df(body, f);
	} else if (slice_eq_cstr(name, "log_config")) {
		parse_log_config(body, f);
	} else if (slice_eq_cstr(name, "df")) {
		parse_df(body, f);
	} else if (slice_eq_cstr(name, "listeners")) {
		parse_listeners(body, f);
	} else if (slice_eq_cstr(name, "daemon_json")) {
		parse_daemon_json(body, f);
	} else if (slice_eq_cstr(name, "end")) {
		f->probe_complete = true;
	}
}

void doctor_parse(struct slice out, struct doctor_facts *f)
{
	static const char marker[] = "@@berth ";
	struct slice rest = out, name = SLICE_NULL;
	const char *body_start = NULL;
	bool seen[16] = {false};
	static const char *const once[] = {
	    "time",	   "uptime",	"loadavg",	"ncpu",	     "meminfo",
	    "docker_info", "docker_ps", "docker_stats", "docker_df", "log_config",
	    "df",	   "listeners", "daemon_json",	"end",	     NULL};

	while (true) {
		const char *line_start = rest.ptr;
		struct slice line = rest.ptr ? slice_next(&rest, '\n') : SLICE_NULL;
		bool at_end = !line.ptr;

		if (!at_end && !slice_starts_with(line, marker)) {
			continue;
		}
		if (body_start && name.ptr) {
			const char *end = at_end ? out.ptr + out.len : line_start;
			size_t i;
			/* a section is read once: output that mimics a marker cannot override it */
			for (i = 0; once[i]; i++) {
				if (slice_eq_cstr(name, once[i])) {
					break;
				}
			}
			if (once[i] && !seen[i]) {
				seen[i] = true;
				parse_section(
				    name, slice_make(body_start, (size_t)(end - body_start)), f);
			}
		}
		if (at_end) {
			break;
		}
		name = slice_trim(slice_from(line, sizeof(marker) - 1));
		body_start = rest.ptr ? rest.ptr : out.ptr + out.len;
	}
}

/* ---- judging ---- */

const char *doctor_status_name(enum doctor_status st)
{
	return st == DOCTOR_OK ? "ok" : st == DOCTOR_WARN ? "warn" : "fail";
}

void doctor_report_init(struct doctor_report *r, const char *host)
{
	memset(r, 0, sizeof(*r));
	r->host = xstrdup(host);
}

void doctor_report_release(struct doctor_report *r)
{
	size_t i;

	for (i = 0; i < r->nr_checks; i++) {
		sbuf_release(&r->checks[i].detail);
	}
	free(r->host);
	memset(r, 0, sizeof(*r));
}

struct sbuf *doctor_add(struct doctor_report *r, const char *name, enum doctor_status st)
{
	struct doctor_check *c;

	if (r->nr_checks >= DOCTOR_MAX_CHECKS) {
		xdie("doctor: too many checks");
	}
	c = &r->checks[r->nr_checks++];
	c->name = name;
	c->status = st;
	sbuf_init(&c->detail, 0);
	if (st > r->worst) {
		r->worst = st;
	}
	return &c->detail;
}

/*
 * berth's own containers, not apps: the proxy, berth-proxy-ports that holds
 * its ports (engine/proxyhost.h), berthd and the helper its doctor probes the
 * host from (engine/daemonhost.h).
 */
static bool is_proxy_name(const char *name)
{
	return name && (!strcmp(name, "berth-proxy") || !strcmp(name, "berth-proxy-ports") ||
			!strcmp(name, "kamal-proxy") || !strcmp(name, DAEMONHOST_CONTAINER) ||
			!strncmp(name, DAEMONHOST_DOCTOR_PREFIX, strlen(DAEMONHOST_DOCTOR_PREFIX)));
}

static void check_docker(const struct doctor_facts *f, struct doctor_report *r)
{
	struct sbuf *d;
	size_t i, unhealthy = 0, restarting = 0;

	if (!f->docker_version) {
		d = doctor_add(r, "docker", DOCTOR_FAIL);
		sbuf_addf(d,
			  "not running: %s; start it (systemctl start docker) or install it "
			  "(berth server bootstrap)",
			  f->docker_error ? f->docker_error : "no answer");
		return;
	}
	for (i = 0; i < f->nr_ctrs; i++) {
		const struct doctor_container *c = &f->ctrs[i];
		if (c->status && strstr(c->status, "(unhealthy)")) {
			unhealthy++;
		}
		if (c->state && !strcmp(c->state, "restarting")) {
			restarting++;
		}
	}
	d = doctor_add(r, "docker", unhealthy || restarting ? DOCTOR_WARN : DOCTOR_OK);
	sbuf_addf(d, "%s running, %u of %u containers up", f->docker_version, f->containers_running,
		  f->containers_total);
	if (f->storage_driver && *f->storage_driver) {
		sbuf_addf(d, ", storage %s", f->storage_driver);
	}
	for (i = 0; i < f->nr_ctrs; i++) {
		const struct doctor_container *c = &f->ctrs[i];
		bool bad = (c->status && strstr(c->status, "(unhealthy)")) ||
			   (c->state && !strcmp(c->state, "restarting"));
		if (bad) {
			sbuf_addf(d, "; '%s' is %s", c->name, c->status ? c->status : c->state);
		}
	}
	if (f->containers_running) {
		size_t shown = 0;
		d = doctor_add(r, "containers", DOCTOR_OK);
		for (i = 0; i < f->nr_ctrs; i++) {
			const struct doctor_container *c = &f->ctrs[i];
			if (!c->state || strcmp(c->state, "running")) {
				continue;
			}
			if (shown++ == 8) {
				sbuf_addf(d, ", and %u more", f->containers_running - 8);
				break;
			}
			sbuf_addf(d, "%s%s (%s, %s)", shown > 1 ? ", " : "", c->name,
				  c->image ? c->image : "?", c->status ? c->status : "running");
		}
	}
	if (f->nr_df) {
		d = doctor_add(r, "docker-df", DOCTOR_OK);
		for (i = 0; i < f->nr_df; i++) {
			sbuf_addf(d, "%s%s %s, %s reclaimable", i ? "; " : "", f->df[i].type,
				  f->df[i].size ? f->df[i].size : "?",
				  f->df[i].reclaimable ? f->df[i].reclaimable : "?");
		}
	}
}

static void check_disk(const struct doctor_facts *f, const struct doctor_opts *o,
		       struct doctor_report *r)
{
	unsigned min = o->min_free_disk_pct ? o->min_free_disk_pct : 10;
	enum doctor_status st = DOCTOR_OK;
	struct sbuf text = SBUF_INIT, *d;
	size_t i, j;

	if (!f->nr_mounts) {
		d = doctor_add(r, "disk", DOCTOR_WARN);
		sbuf_addstr(d, "df gave no answer: free space is unknown");
		return;
	}
	for (i = 0; i < f->nr_mounts; i++) {
		const struct doctor_mount *m = &f->mounts[i];
		double pct = m->size ? 100.0 * (double)m->avail / (double)m->size : 0;
		bool dup = false;

		for (j = 0; j < i; j++) {
			/* the same filesystem seen twice (a bind mount, or one disk) */
			if (!strcmp(f->mounts[j].mounted_on, m->mounted_on) ||
			    (!strcmp(f->mounts[j].filesystem, m->filesystem) &&
			     f->mounts[j].size == m->size)) {
				dup = true;
			}
		}
		if (dup) {
			continue;
		}
		if (text.len) {
			sbuf_addstr(&text, "; ");
		}
		sbuf_addstr(&text, m->path);
		for (j = i + 1; j < f->nr_mounts; j++) {
			if (!strcmp(f->mounts[j].mounted_on, m->mounted_on) ||
			    (!strcmp(f->mounts[j].filesystem, m->filesystem) &&
			     f->mounts[j].size == m->size)) {
				sbuf_addf(&text, " and %s", f->mounts[j].path);
			}
		}
		sbuf_addf(&text, ": %.0f%% free (", floor(pct));
		doctor_add_size(&text, m->avail);
		sbuf_addstr(&text, " of ");
		doctor_add_size(&text, m->size);
		sbuf_addch(&text, ')');
		if (pct < min) {
			st = DOCTOR_FAIL;
			sbuf_addf(&text, ", below %u%%", min);
		}
	}
	if (st == DOCTOR_FAIL) {
		sbuf_addstr(&text, "; free space: 'docker system prune' removes what no container "
				   "uses");
	}
	d = doctor_add(r, "disk", st);
	sbuf_add(d, text.buf, text.len);
	sbuf_release(&text);
}

static void check_memory(const struct doctor_facts *f, struct doctor_report *r)
{
	const struct doctor_container *big = NULL;
	uint64_t need, used = 0;
	struct sbuf *d;
	size_t i;

	if (!f->mem_total || !f->mem_available) {
		d = doctor_add(r, "memory", DOCTOR_WARN);
		sbuf_addstr(d, "/proc/meminfo gave no answer: headroom is unknown");
		return;
	}
	for (i = 0; i < f->nr_ctrs; i++) {
		const struct doctor_container *c = &f->ctrs[i];
		if (is_proxy_name(c->name) || !c->mem) {
			continue;
		}
		used += c->mem;
		if (!big || c->mem > big->mem) {
			big = c;
		}
	}
	/* a rollout runs the new container beside the old one: the largest must fit again, with
	 * room */
	need = big ? big->mem + big->mem * 3 / 10 : 0;
	d = doctor_add(r, "memory", f->mem_available < need ? DOCTOR_WARN : DOCTOR_OK);
	doctor_add_size(d, f->mem_available);
	sbuf_addstr(d, " available of ");
	doctor_add_size(d, f->mem_total);
	if (!big) {
		sbuf_addstr(d, "; no app containers running yet");
		return;
	}
	sbuf_addstr(d, "; app containers use ");
	doctor_add_size(d, used);
	sbuf_addf(d, ", the largest '%s' ", big->name);
	doctor_add_size(d, big->mem);
	if (f->mem_available < need) {
		sbuf_addstr(d, ": a rollout needs ");
		doctor_add_size(d, need);
		sbuf_addstr(d, " free to start its new version beside it; free memory, or add a "
			       "memory limit, swap or a bigger server");
	}
}

static void check_load(const struct doctor_facts *f, struct doctor_report *r)
{
	struct sbuf *d;
	bool high = f->have_load && f->ncpu && f->load[1] > 2.0 * f->ncpu;

	d = doctor_add(r, "load", high ? DOCTOR_WARN : DOCTOR_OK);
	if (f->have_load) {
		sbuf_addf(d, "%.2f %.2f %.2f", f->load[0], f->load[1], f->load[2]);
	} else {
		sbuf_addstr(d, "unknown");
	}
	if (f->ncpu) {
		sbuf_addf(d, " on %u CPU%s", f->ncpu, f->ncpu == 1 ? "" : "s");
	}
	if (f->uptime > 0) {
		unsigned long s = (unsigned long)f->uptime;
		if (s >= 86400) {
			sbuf_addf(d, ", up %lu day%s", s / 86400, s / 86400 == 1 ? "" : "s");
		} else {
			sbuf_addf(d, ", up %lu h %lu min", s / 3600, s / 60 % 60);
		}
	}
	if (high) {
		sbuf_addstr(d, "; the host is busy: health checks may time out during a rollout");
	}
}

static void check_clock(const struct doctor_opts *o, struct doctor_report *r)
{
	double max = o->max_skew > 0 ? o->max_skew : 1.0;
	double off = fabs(r->skew) - r->skew_error;
	struct sbuf *d;

	if (!r->have_skew) {
		d = doctor_add(r, "clock", DOCTOR_WARN);
		sbuf_addstr(d, "the host's time could not be read");
		return;
	}
	d = doctor_add(r, "clock", off > max ? DOCTOR_WARN : DOCTOR_OK);
	sbuf_addf(d, "%+.3f s from this machine (±%.3f s)", r->skew, r->skew_error);
	if (off > max) {
		sbuf_addstr(d, "; run NTP (chrony or systemd-timesyncd): TLS certificates and "
			       "logs need the right time");
	}
}

static const struct doctor_container *publisher(const struct doctor_facts *f, unsigned port)
{
	char needle[16];
	size_t i;

	snprintf(needle, sizeof(needle), ":%u->", port);
	for (i = 0; i < f->nr_ctrs; i++) {
		const struct doctor_container *c = &f->ctrs[i];
		if (c->ports && strstr(c->ports, needle) && c->state &&
		    !strcmp(c->state, "running")) {
			return c;
		}
	}
	return NULL;
}

static void check_ports(const struct doctor_facts *f, struct doctor_report *r)
{
	static const unsigned ports[] = {80, 443};
	enum doctor_status st = DOCTOR_OK;
	struct sbuf text = SBUF_INIT, *d;
	size_t i, j;

	for (i = 0; i < 2; i++) {
		const struct doctor_container *pub = publisher(f, ports[i]);
		const struct doctor_listener *l = NULL;

		for (j = 0; j < f->nr_listeners && !l; j++) {
			if (f->listeners[j].port == ports[i]) {
				l = &f->listeners[j];
			}
		}
		if (text.len) {
			sbuf_addstr(&text, "; ");
		}
		if (pub) {
			if (is_proxy_name(pub->name)) {
				sbuf_addf(&text, "%u: %s", ports[i], pub->name);
			} else {
				st = DOCTOR_FAIL;
				sbuf_addf(&text, "%u: taken by container '%s' (%s)", ports[i],
					  pub->name, pub->image ? pub->image : "?");
			}
		} else if (l && l->process && is_proxy_name(l->process)) {
			sbuf_addf(&text, "%u: %s", ports[i], l->process);
		} else if (l) {
			st = DOCTOR_FAIL;
			if (l->process) {
				sbuf_addf(&text, "%u: taken by '%s' (pid %ld) on %s", ports[i],
					  l->process, l->pid, l->addr);
			} else {
				sbuf_addf(&text,
					  "%u: taken by a process on %s (install iproute2's "
					  "ss on the host to name it)",
					  ports[i], l->addr);
			}
		} else {
			sbuf_addf(&text, "%u: free", ports[i]);
		}
	}
	if (st == DOCTOR_FAIL) {
		sbuf_addstr(&text, "; berth-proxy needs ports 80 and 443: stop what holds them, "
				   "or move it behind berth-proxy");
	}
	d = doctor_add(r, "ports", st);
	sbuf_add(d, text.buf, text.len);
	sbuf_release(&text);
}

static void check_logs(const struct doctor_facts *f, struct doctor_report *r)
{
	const char *drv = f->logging_driver ? f->logging_driver : f->daemon_log_driver;
	struct sbuf bare = SBUF_INIT, *d;
	size_t i, n = 0;

	for (i = 0; i < f->nr_ctrs; i++) {
		const struct doctor_container *c = &f->ctrs[i];
		if (c->log_driver && !strcmp(c->log_driver, "json-file") && !c->log_max_size) {
			sbuf_addf(&bare, "%s'%s'", n++ ? ", " : "", c->name);
		}
	}
	if (!drv) {
		d = doctor_add(r, "logs", DOCTOR_WARN);
		sbuf_addstr(d, "Docker's logging driver is unknown");
	} else if (!strcmp(drv, "json-file") && !f->daemon_max_size) {
		d = doctor_add(r, "logs", DOCTOR_WARN);
		sbuf_addstr(d,
			    "json-file logs are not rotated by default: set \"log-opts\": "
			    "{\"max-size\": \"10m\", \"max-file\": \"5\"} in "
			    "/etc/docker/daemon.json (containers berth starts rotate their own)");
	} else if (!strcmp(drv, "json-file")) {
		d = doctor_add(r, "logs", n ? DOCTOR_WARN : DOCTOR_OK);
		sbuf_addf(d, "json-file, rotated at %s", f->daemon_max_size);
	} else if (!strcmp(drv, "local")) {
		d = doctor_add(r, "logs", n ? DOCTOR_WARN : DOCTOR_OK);
		sbuf_addstr(d, "local driver, rotated by Docker");
	} else {
		d = doctor_add(r, "logs", n ? DOCTOR_WARN : DOCTOR_OK);
		sbuf_addf(d, "%s: rotation is that system's", drv);
	}
	if (n) {
		sbuf_addf(d, "; running without rotation: %s", bare.buf);
	}
	sbuf_release(&bare);
}

void doctor_evaluate(const struct doctor_facts *f, const struct doctor_opts *o,
		     struct doctor_report *r)
{
	check_docker(f, r);
	check_disk(f, o, r);
	check_memory(f, r);
	check_load(f, r);
	check_clock(o, r);
	check_ports(f, r);
	check_logs(f, r);
	if (!f->probe_complete) {
		struct sbuf *d = doctor_add(r, "probe", DOCTOR_WARN);
		sbuf_addstr(d, "the probe did not run to its end: some facts are missing");
	}
}

/* ---- running ---- */

static double now_real(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

enum doctor_status doctor_run(struct exec *ex, const char *const *hosts, size_t nhosts,
			      const struct doctor_opts *o, struct doctor_report *reports)
{
	struct run_cmd *probes = xcalloc(nhosts ? nhosts : 1, sizeof(*probes));
	struct run_cmd *clocks = xcalloc(nhosts ? nhosts : 1, sizeof(*clocks));
	struct run_cmd tmpl = RUN_CMD_INIT;
	size_t par = o->max_parallel ? o->max_parallel : 16, i;
	enum doctor_status worst = DOCTOR_OK;
	double *t0 = xcalloc(nhosts ? nhosts : 1, sizeof(*t0));

	tmpl.in_mem = slice_cstr(script_doctor_probe);
	tmpl.out = RUN_IO_CAPTURE;
	tmpl.err = RUN_IO_CAPTURE;
	tmpl.timeout_ms = 60000;
	exec_run_hosts(ex, hosts, nhosts, (const char *[]){"sh", "-s", NULL}, &tmpl, par, probes);

	/*
	 * The clock is read on its own, over the connection the probe opened, so
	 * the round trip is short and known: the skew is good to half of it.
	 */
	for (i = 0; i < nhosts; i++) {
		struct run_cmd *c = &clocks[i];
		struct err e = ERR_INIT;
		double t1;

		doctor_report_init(&reports[i], hosts[i]);
		reports[i].connect_ms = probes[i].elapsed_ms;
		if (probes[i].status != 0) {
			continue;
		}
		run_cmd_init(c);
		c->out = RUN_IO_CAPTURE;
		c->err = RUN_IO_NULL;
		c->timeout_ms = 10000;
		if (exec_prepare(ex, hosts[i], (const char *[]){"date", "+%s.%N", NULL}, c, &e) ==
		    0) {
			t0[i] = now_real();
			if (run_one(c) == 0) {
				double remote =
				    first_number(slice_make(c->outbuf.buf, c->outbuf.len));
				t1 = now_real();
				if (remote > 0) {
					reports[i].have_skew = true;
					reports[i].skew = remote - (t0[i] + t1) / 2;
					reports[i].skew_error = (t1 - t0[i]) / 2;
				}
			}
		}
		err_release(&e);
	}

	for (i = 0; i < nhosts; i++) {
		struct doctor_report *r = &reports[i];
		struct doctor_facts f;

		if (probes[i].status != 0) {
			struct err e = ERR_INIT;
			exec_explain(ex, hosts[i], &probes[i], &e);
			sbuf_addstr(doctor_add(r,
					       exec_unreachable(ex, &probes[i]) ? "ssh" : "probe",
					       DOCTOR_FAIL),
				    err_str(&e));
			err_release(&e);
		} else {
			doctor_facts_init(&f);
			doctor_parse(slice_make(probes[i].outbuf.buf, probes[i].outbuf.len), &f);
			if (ex->kind == EXEC_SSH) {
				sbuf_addf(doctor_add(r, "ssh", DOCTOR_OK),
					  "connected, probe took %lu ms", probes[i].elapsed_ms);
			}
			doctor_evaluate(&f, o, r);
			doctor_facts_release(&f);
		}
		if (r->worst > worst) {
			worst = r->worst;
		}
		run_cmd_release(&probes[i]);
		run_cmd_release(&clocks[i]);
	}
	free(probes);
	free(clocks);
	free(t0);
	return worst;
}

void doctor_print(FILE *out, const struct doctor_report *reports, size_t n)
{
	const char *bold = log_color(out, "\033[1m"), *reset = log_color(out, "\033[0m");
	const char *colors[] = {log_color(out, "\033[32m"), log_color(out, "\033[33m"),
				log_color(out, "\033[31m")};
	static const char *const words[] = {"ok", "WARN", "FAIL"};
	size_t i, j;

	for (i = 0; i < n; i++) {
		const struct doctor_report *r = &reports[i];
		fprintf(out, "%s%s%s  %s%s%s\n", bold, r->host, reset, colors[r->worst],
			r->worst == DOCTOR_OK	  ? "ready"
			: r->worst == DOCTOR_WARN ? "ready, with warnings"
						  : "NOT READY",
			reset);
		for (j = 0; j < r->nr_checks; j++) {
			const struct doctor_check *c = &r->checks[j];
			fprintf(out, "  %s%-4s%s  %-9s  %s\n", colors[c->status], words[c->status],
				reset, c->name, c->detail.buf);
		}
		if (i + 1 < n) {
			fprintf(out, "\n");
		}
	}
}

json_t *doctor_report_json(const struct doctor_report *r)
{
	json_t *checks = json_array(), *o;
	size_t i;

	for (i = 0; i < r->nr_checks; i++) {
		json_array_append_new(checks,
				      json_pack("{s:s, s:s, s:o}", "name", r->checks[i].name,
						"status", doctor_status_name(r->checks[i].status),
						"detail", jtext_string(r->checks[i].detail.buf)));
	}
	o = json_pack("{s:o, s:s, s:o}", "host", jtext_string(r->host), "status",
		      doctor_status_name(r->worst), "checks", checks);
	if (r->have_skew) {
		json_object_set_new(o, "clock_skew_seconds", json_real(r->skew));
	}
	return o;
}
