#include <stdlib.h>

#include "engine/preflight.h"

#include "unit.h"

#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)

static void test_meminfo(void)
{
	const char *text = "MemTotal:        2048000 kB\n"
			   "MemFree:          100000 kB\n"
			   "MemAvailable:     512000 kB\n"
			   "Buffers:            1000 kB\n";
	uint64_t total = 0, avail = 0;

	preflight_parse_meminfo(slice_cstr(text), &total, &avail);
	CHECK(total == 2048000ull * 1024);
	CHECK(avail == 512000ull * 1024);
	/* missing or bad lines leave the values alone */
	total = avail = 7;
	preflight_parse_meminfo(slice_cstr("MemTotal: lots\nMemAvailableX: 5 kB\n"), &total,
				&avail);
	CHECK(total == 7 && avail == 7);
}

static void test_docker_memory_values(void)
{
	static const struct {
		const char *in;
		uint64_t want;
	} good[] = {{"512m", 512 * MIB}, {"1g", GIB},	   {"1.5G", 3 * GIB / 2}, {"1048576", MIB},
		    {"100k", 102400},	 {"2gb", 2 * GIB}, {"64MB", 64 * MIB},	  {"10b", 10}};
	static const char *const bad[] = {"", "m", "-1g", "1x", "1gg", "1 g", "99999999999t"};
	size_t i;
	uint64_t v;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(preflight_parse_mem(good[i].in, &v) == 0 && v == good[i].want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (preflight_parse_mem(bad[i], &v) == 0) {
			printf("#   '%s' read as %llu\n", bad[i], (unsigned long long)v);
			CHECK(0);
		}
	}
}

static void test_cgroup_dir(void)
{
	struct sbuf dir = SBUF_INIT;
	bool v2 = false;

	/* v1, with the memory controller on its own line among others */
	CHECK(preflight_cgroup_dir(slice_cstr("12:pids:/docker/abc\n"
					      "9:memory:/docker/abc\n"
					      "1:name=systemd:/docker/abc\n"),
				   &dir, &v2) == 0);
	CHECK_STR(dir.buf, "/sys/fs/cgroup/memory/docker/abc");
	CHECK(!v2);
	CHECK(preflight_cgroup_dir(slice_cstr("4:cpu,memory:/lab/h1/abc\n"), &dir, &v2) == 0);
	CHECK_STR(dir.buf, "/sys/fs/cgroup/memory/lab/h1/abc");
	/* v2 */
	CHECK(preflight_cgroup_dir(slice_cstr("0::/system.slice/docker-abc.scope\n"), &dir, &v2) ==
	      0);
	CHECK_STR(dir.buf, "/sys/fs/cgroup/system.slice/docker-abc.scope");
	CHECK(v2);
	/* none, or a path that climbs out */
	CHECK(preflight_cgroup_dir(slice_cstr("3:cpu:/docker/abc\n"), &dir, &v2) == -1);
	CHECK(preflight_cgroup_dir(slice_cstr("0::/../../etc\n"), &dir, &v2) == -1);
	CHECK(preflight_cgroup_dir(slice_cstr(""), &dir, &v2) == -1);
	sbuf_release(&dir);
}

static void test_cgroup_usage(void)
{
	uint64_t v = 0;

	CHECK(preflight_cgroup_usage(slice_cstr("1000000\n"),
				     slice_cstr("anon 5\ninactive_file 400000\nactive_file 1\n"),
				     true, &v) == 0);
	CHECK(v == 600000);
	CHECK(preflight_cgroup_usage(slice_cstr("1000000\n"),
				     slice_cstr("cache 5\ntotal_inactive_file 250000\n"), false,
				     &v) == 0);
	CHECK(v == 750000);
	/* v1's inactive_file is the cgroup's own, not the total docker stats counts */
	CHECK(preflight_cgroup_usage(slice_cstr("1000"), slice_cstr("inactive_file 999\n"), false,
				     &v) == 0);
	CHECK(v == 1000);
	CHECK(preflight_cgroup_usage(slice_cstr("10"), slice_cstr("inactive_file 99\n"), true,
				     &v) == 0);
	CHECK(v == 0);
	CHECK(preflight_cgroup_usage(slice_cstr("max"), slice_cstr(""), true, &v) == -1);
}

static void test_judge(void)
{
	struct preflight_host h;
	struct sbuf why = SBUF_INIT;

	preflight_host_init(&h, "10.0.0.5");
	/* nothing known: no judgement */
	CHECK(preflight_judge(&h, &why) == 0);
	h.mem_total = 4 * GIB;
	h.mem_available = GIB;
	h.need_mem = 900 * MIB;
	sbuf_addstr(&h.need_why, "web: its memory limit, 900 MiB");
	h.disk_size = 100 * GIB;
	h.disk_avail = 50 * GIB;
	h.disk_path = strdup("/var/lib/docker");
	/* 900 MiB + 5% of 4 GiB kept free > 1 GiB */
	CHECK(preflight_judge(&h, &why) == 1);
	CHECK(strstr(why.buf,
		     "10.0.0.5: not enough memory to run the new containers beside the "
		     "old: they need 900 MiB (web: its memory limit, 900 MiB), and 1.0 GiB "
		     "is available of 4.0 GiB (berth keeps 205 MiB free)") != NULL);
	h.need_mem = 700 * MIB;
	CHECK(preflight_judge(&h, &why) == 0);
	CHECK(why.len == 0);
	/* disk: 2% of 100 GiB wanted free */
	h.disk_avail = GIB;
	CHECK(preflight_judge(&h, &why) == 1);
	CHECK(strstr(why.buf, "Docker's data root /var/lib/docker has 1.0 GiB free of 100 GiB") !=
	      NULL);
	/* a small disk: 512 MiB wanted */
	h.disk_size = 10 * GIB;
	CHECK(preflight_judge(&h, &why) == 0);
	preflight_host_release(&h);
	sbuf_release(&why);
}

int main(void)
{
	UNIT_RUN(test_meminfo);
	UNIT_RUN(test_docker_memory_values);
	UNIT_RUN(test_cgroup_dir);
	UNIT_RUN(test_cgroup_usage);
	UNIT_RUN(test_judge);
	return unit_done();
}
