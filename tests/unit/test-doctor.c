#include "engine/doctor.h"

#include <stdlib.h>

#include "engine/daemonhost.h"
#include "lib/sbuf.h"
#include "lib/xalloc.h"
#include "unit.h"

static struct sbuf load(const char *name)
{
	struct sbuf sb = SBUF_INIT, path = SBUF_INIT;

	sbuf_addf(&path, "tests/fuzz/corpus/doctor/%s", name);
	if (sbuf_read_file(&sb, path.buf) < 0) {
		printf("#   cannot read %s (run from the top of the tree)\n", path.buf);
	}
	sbuf_release(&path);
	return sb;
}

static const struct doctor_check *find(const struct doctor_report *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nr_checks; i++) {
		if (!strcmp(r->checks[i].name, name)) {
			return &r->checks[i];
		}
	}
	printf("#   no check '%s'\n", name);
	return &r->checks[0];
}

#define CHECK_HAS(check, text)                                                                     \
	do {                                                                                       \
		if (!strstr((check)->detail.buf, (text))) {                                        \
			printf("#   %s: '%s' not in \"%s\"\n", (check)->name, (text),              \
			       (check)->detail.buf);                                               \
			CHECK(0);                                                                  \
		}                                                                                  \
	} while (0)

static void test_parse_busy_host(void)
{
	struct sbuf out = load("probe-busy-host.txt");
	struct doctor_facts f;

	doctor_facts_init(&f);
	doctor_parse(slice_make(out.buf, out.len), &f);
	CHECK(f.probe_complete);
	CHECK_INT((long long)f.remote_time, 1764140000);
	CHECK_INT(f.ncpu, 2);
	CHECK_INT(f.mem_available, 500000ull * 1024);
	CHECK_STR(f.docker_version, "20.10.24");
	CHECK_STR(f.docker_root, "/data/docker");
	CHECK(f.docker_error == NULL);
	CHECK_INT(f.nr_ctrs, 4);
	CHECK_INT(f.ctrs[0].mem, 400ull << 20);
	CHECK_STR(f.ctrs[0].log_max_size, "10m");
	CHECK(f.ctrs[1].log_max_size == NULL);
	CHECK_STR(f.ctrs[2].log_driver, "local");
	CHECK_INT(f.nr_mounts, 2);
	CHECK_STR(f.mounts[1].path, "/data/docker");
	CHECK_INT(f.mounts[0].avail, 1000000ull * 1024);
	CHECK_INT(f.nr_listeners, 4);
	CHECK_STR(f.listeners[0].process, "nginx");
	CHECK_INT(f.listeners[0].pid, 812);
	CHECK_INT(f.listeners[3].port, 443);
	CHECK_STR(f.listeners[3].addr, "[::]");
	CHECK_STR(f.daemon_max_size, "10m");
	CHECK_INT(f.nr_df, 2);
	doctor_facts_release(&f);
	sbuf_release(&out);
}

static void test_judge_busy_host(void)
{
	struct sbuf out = load("probe-busy-host.txt");
	struct doctor_opts o = {0};
	struct doctor_report r;
	struct doctor_facts f;

	doctor_facts_init(&f);
	doctor_parse(slice_make(out.buf, out.len), &f);
	doctor_report_init(&r, "web-1");
	r.have_skew = true;
	r.skew = 4.2;
	r.skew_error = 0.05;
	doctor_evaluate(&f, &o, &r);
	CHECK_INT(r.worst, DOCTOR_FAIL);
	/* nginx holds port 80; 443 belongs to berth-proxy's container */
	CHECK_INT(find(&r, "ports")->status, DOCTOR_FAIL);
	CHECK_HAS(find(&r, "ports"), "80: taken by 'nginx' (pid 812)");
	CHECK_HAS(find(&r, "ports"), "443: berth-proxy");
	/* / is 5% free: below 10% */
	CHECK_INT(find(&r, "disk")->status, DOCTOR_FAIL);
	CHECK_HAS(find(&r, "disk"), "/: 5% free");
	CHECK_HAS(find(&r, "disk"), "below 10%");
	CHECK_HAS(find(&r, "disk"), "/data/docker: 80% free");
	/* 488 MiB available, the largest app uses 400 MiB: 520 MiB needed */
	CHECK_INT(find(&r, "memory")->status, DOCTOR_WARN);
	CHECK_HAS(find(&r, "memory"), "the largest 'shop-web-abc' 400 MiB");
	CHECK_HAS(find(&r, "memory"), "a rollout needs 520 MiB");
	CHECK_INT(find(&r, "docker")->status, DOCTOR_WARN);
	CHECK_HAS(find(&r, "docker"), "'shop-job-abc' is Restarting");
	CHECK_INT(find(&r, "clock")->status, DOCTOR_WARN);
	CHECK_INT(find(&r, "logs")->status, DOCTOR_WARN);
	CHECK_HAS(find(&r, "logs"), "running without rotation: 'berth-proxy'");
	CHECK_INT(find(&r, "load")->status, DOCTOR_OK);
	CHECK_HAS(find(&r, "containers"),
		  "shop-web-abc (shop:abc, Up 3 hours (healthy)), berth-proxy");
	CHECK_HAS(find(&r, "load"), "up 2 days");

	/* with a lower threshold the disk passes */
	doctor_report_release(&r);
	doctor_report_init(&r, "web-1");
	o.min_free_disk_pct = 4;
	doctor_evaluate(&f, &o, &r);
	CHECK_INT(find(&r, "disk")->status, DOCTOR_OK);
	doctor_report_release(&r);
	doctor_facts_release(&f);
	sbuf_release(&out);
}

static void test_judge_no_docker(void)
{
	struct sbuf out = load("probe-no-docker.txt");
	struct doctor_opts o = {0};
	struct doctor_report r;
	struct doctor_facts f;

	doctor_facts_init(&f);
	doctor_parse(slice_make(out.buf, out.len), &f);
	CHECK_INT(f.docker_rc, 127);
	CHECK(f.listeners_unnamed);
	doctor_report_init(&r, "h");
	doctor_evaluate(&f, &o, &r);
	CHECK_INT(find(&r, "docker")->status, DOCTOR_FAIL);
	CHECK_HAS(find(&r, "docker"), "docker: not found");
	CHECK_INT(find(&r, "ports")->status, DOCTOR_FAIL);
	CHECK_HAS(find(&r, "ports"), "80: taken by a process on 00000000");
	CHECK_HAS(find(&r, "ports"), "443: free");
	CHECK_INT(find(&r, "load")->status, DOCTOR_WARN);
	CHECK_INT(find(&r, "clock")->status, DOCTOR_WARN);
	doctor_report_release(&r);
	doctor_facts_release(&f);
	sbuf_release(&out);
}

static void test_truncated_and_spoofed_output(void)
{
	static const char out[] = "@@berth time\n1764140000.5\n@@berth meminfo\nMemTotal: 100 kB\n"
				  "@@berth time\n1\n@@berth df\n@@path /\n/dev/x 10 9 1 90% /";
	struct doctor_facts f;
	struct doctor_report r;
	struct doctor_opts o = {0};

	doctor_facts_init(&f);
	doctor_parse(slice_make(out, sizeof(out) - 1), &f);
	CHECK(!f.probe_complete);
	/* a second "time" section (say, printed by a hostile command) is ignored */
	CHECK((long long)f.remote_time == 1764140000);
	CHECK_INT(f.nr_mounts, 1);
	doctor_report_init(&r, "h");
	doctor_evaluate(&f, &o, &r);
	CHECK_INT(find(&r, "probe")->status, DOCTOR_WARN);
	CHECK_INT(find(&r, "memory")->status, DOCTOR_WARN);
	doctor_report_release(&r);
	doctor_facts_release(&f);
}

static void test_sizes(void)
{
	struct sbuf sb = SBUF_INIT;
	uint64_t b = 0;

	CHECK(doctor_parse_size(SLICE_LIT("12.5MiB"), &b));
	CHECK_INT(b, 13107200);
	CHECK(doctor_parse_size(SLICE_LIT(" 1.2GB "), &b));
	CHECK_INT(b, 1200000000);
	CHECK(doctor_parse_size(SLICE_LIT("0B"), &b));
	CHECK_INT(b, 0);
	CHECK(!doctor_parse_size(SLICE_LIT("12 parsecs"), &b));
	CHECK(!doctor_parse_size(SLICE_LIT("MiB"), &b));
	doctor_add_size(&sb, 1536);
	sbuf_addch(&sb, '|');
	doctor_add_size(&sb, 5ull << 30);
	sbuf_addch(&sb, '|');
	doctor_add_size(&sb, 20);
	CHECK_STR(sb.buf, "1.5 KiB|5.0 GiB|20 B");
	sbuf_release(&sb);
}

static void test_json(void)
{
	struct doctor_report r;
	json_t *j;
	char *s;

	doctor_report_init(&r, "h\xff");
	sbuf_addstr(doctor_add(&r, "ports", DOCTOR_FAIL), "80: taken by 'ng\xc3' (pid 1)");
	j = doctor_report_json(&r);
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	CHECK_STR(s, "{\"host\":\"h?\",\"status\":\"fail\",\"checks\":[{\"name\":\"ports\","
		     "\"status\":\"fail\",\"detail\":\"80: taken by 'ng?' (pid 1)\"}]}");
	free(s);
	json_decref(j);
	doctor_report_release(&r);
}

/* berthd is berth's own container, as berth-proxy is: not the largest app. */
static void test_berthd_is_not_an_app(void)
{
	struct sbuf out = load("probe-busy-host.txt");
	struct doctor_opts o = {0};
	struct doctor_report r;
	struct doctor_facts f;

	doctor_facts_init(&f);
	doctor_parse(slice_make(out.buf, out.len), &f);
	CHECK(f.nr_ctrs > 1);
	free(f.ctrs[1].name);
	f.ctrs[1].name = xstrdup("berthd");
	f.ctrs[1].mem = 900ull << 20;
	doctor_report_init(&r, "web-1");
	doctor_evaluate(&f, &o, &r);
	CHECK_HAS(find(&r, "memory"), "the largest 'shop-web-abc' 400 MiB");
	doctor_report_release(&r);
	/* nor is the helper berthd's doctor probes its host from */
	free(f.ctrs[1].name);
	f.ctrs[1].name = xstrdup(DAEMONHOST_DOCTOR_PREFIX "42");
	doctor_report_init(&r, "web-1");
	doctor_evaluate(&f, &o, &r);
	CHECK_HAS(find(&r, "memory"), "the largest 'shop-web-abc' 400 MiB");
	{
		/* printed as berth doctor prints it (no colours off a terminal) */
		char *text = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&text, &len);
		doctor_print(mem, &r, 1);
		fclose(mem);
		CHECK(!strncmp(text, "web-1  ", 7));
		CHECK(strstr(text, "  memory     ") != NULL);
		CHECK(strstr(text, "\n  ok    docker ") != NULL ||
		      strstr(text, "\n  WARN  docker ") != NULL);
		CHECK(!strchr(text, '\033'));
		free(text);
	}
	doctor_report_release(&r);
	doctor_facts_release(&f);
	sbuf_release(&out);
}

int main(void)
{
	UNIT_RUN(test_parse_busy_host);
	UNIT_RUN(test_judge_busy_host);
	UNIT_RUN(test_berthd_is_not_an_app);
	UNIT_RUN(test_judge_no_docker);
	UNIT_RUN(test_truncated_and_spoofed_output);
	UNIT_RUN(test_sizes);
	UNIT_RUN(test_json);
	return unit_done();
}
