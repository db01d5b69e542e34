/*
 * resource:* — an app's memory and CPU limits, for every process type.
 * Stored as app properties "resource.memory" and "resource.cpu"
 * (daemon/store.h); the next deploy passes them to each role as docker's
 * --memory and --cpus (daemon/release.h).
 *
 * SIZE as Docker reads it: a number, an optional fraction, then an optional
 * unit b, k, m, g, t or p (any case, "kb"/"KiB" alike, powers of 1024), at
 * least 6 MiB (Docker's own minimum). N: CPUs, a positive decimal such as
 * 0.5 or 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/berthd.h"
#include "lib/banned.h"
#include "lib/opt.h"
#include "lib/xalloc.h"

#define MEMORY_MIN (6.0 * 1024 * 1024)
#define CPUS_MAX   1024.0

static const char limit_usage[] = "resource:limit [--memory SIZE] [--cpu N] APP";

/* A positive decimal "D[.D]" at the start of s: its end, or NULL. */
static const char *decimal(const char *s, double *v)
{
	const char *p = s;
	double x = 0, scale = 0.1;

	if (!(*p >= '0' && *p <= '9')) {
		return NULL;
	}
	for (; *p >= '0' && *p <= '9' && p - s < 12; p++) {
		x = x * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9')) {
			return NULL;
		}
		for (; *p >= '0' && *p <= '9'; p++) {
			x += (*p - '0') * scale;
			scale /= 10;
		}
	}
	*v = x;
	return p;
}

bool resource_valid_memory(const char *s)
{
	static const char units[] = "bkmgtp";
	double v, mult = 1;
	const char *p = decimal(s, &v), *u;
	char c;

	if (!p) {
		return false;
	}
	if (*p == ' ') {
		p++;
	}
	c = (char)(*p | 0x20);
	if (*p && (u = strchr(units, c)) && c != 'b') {
		for (long i = u - units; i > 0; i--) {
			mult *= 1024;
		}
		p++;
		if ((*p | 0x20) == 'i') {
			p++;
		}
	}
	if ((*p | 0x20) == 'b') {
		p++;
	}
	return !*p && v * mult >= MEMORY_MIN;
}

bool resource_valid_cpus(const char *s)
{
	double v;
	const char *p = decimal(s, &v);

	return p && !*p && v > 0 && v <= CPUS_MAX;
}

int cmd_resource_limit(struct bd *bd, int argc, const char **argv)
{
	const char *memory = NULL, *cpu = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "memory", &memory, "SIZE", "the memory limit (docker's --memory)"),
	    OPT_STRING(0, "cpu", &cpu, "N", "how many CPUs (docker's --cpus)"),
	    OPT_END(),
	};
	struct err e = ERR_INIT;
	int n = bd_opts(argc - 1, argv + 1, opts, limit_usage), rc = 1;

	if (n < 0) {
		goto out;
	}
	if (n != 1 || (!memory && !cpu)) {
		rc = bd_usage(limit_usage);
		goto out;
	}
	if (memory && !resource_valid_memory(memory)) {
		rc = bd_fail("invalid memory size '%s': expected a size such as 512m or 1g (at "
			     "least 6m)",
			     memory);
		goto out;
	}
	if (cpu && !resource_valid_cpus(cpu)) {
		rc = bd_fail("invalid cpu count '%s': expected a positive number such as 0.5 or 2",
			     cpu);
		goto out;
	}
	if (store_begin(&bd->store, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if ((memory && store_prop_set(&bd->store, argv[1], "resource.memory", memory, &e) < 0) ||
	    (cpu && store_prop_set(&bd->store, argv[1], "resource.cpu", cpu, &e) < 0)) {
		store_rollback(&bd->store);
		rc = bd_fail_err(&e);
		goto out;
	}
	if (store_commit(&bd->store, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Setting resource limits for %s", argv[1]);
	if (memory) {
		bd_info(bd, "memory: %s", memory);
	}
	if (cpu) {
		bd_info(bd, "cpu: %s", cpu);
	}
	bd_info(bd, "takes effect at the next deploy (ps:restart %s)", argv[1]);
	bd_event(bd, argv[1], "resource:limit",
		 memory && cpu ? "memory,cpu"
		 : memory      ? "memory"
			       : "cpu");
	rc = 0;
out:
	err_release(&e);
	return rc;
}

int cmd_resource_reset(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	int rc = 1;

	if (argc != 2) {
		return bd_usage("resource:reset APP");
	}
	if (store_prop_set(&bd->store, argv[1], "resource.memory", NULL, &e) < 0 ||
	    store_prop_set(&bd->store, argv[1], "resource.cpu", NULL, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_step(bd, "Resetting resource limits for %s", argv[1]);
	bd_info(bd, "takes effect at the next deploy (ps:restart %s)", argv[1]);
	bd_event(bd, argv[1], "resource:reset", NULL);
	rc = 0;
out:
	err_release(&e);
	return rc;
}

int cmd_resource_report(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	char *memory = NULL, *cpu = NULL;
	int rc = 1;

	if (argc != 2) {
		return bd_usage("resource:report APP");
	}
	if (store_prop_get(&bd->store, argv[1], "resource.memory", &memory, &e) < 0 ||
	    store_prop_get(&bd->store, argv[1], "resource.cpu", &cpu, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (bd->json) {
		/* both were checked when set: digits, '.', ' ' and unit letters */
		printf("{\"memory\":\"%s\",\"cpu\":\"%s\"}\n", memory ? memory : "",
		       cpu ? cpu : "");
		rc = 0;
		goto out;
	}
	printf("=====> %s resource information\n", argv[1]);
	printf("       Limits memory:                 %s\n", memory ? memory : "none");
	printf("       Limits cpu:                    %s\n", cpu ? cpu : "none");
	rc = 0;
out:
	free(memory);
	free(cpu);
	err_release(&e);
	return rc;
}
