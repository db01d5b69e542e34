/*
 * berth-proxy's metrics text reaches berthd from another process: any
 * bytes must be read or refused cleanly, a refusal must leave nothing
 * behind, and what is read must hold the parser's promises (names, at most
 * PROMTEXT_MAX_LABELS labels each) and be safe to gather into an app's
 * totals and quantiles.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/promtext.h"
#include "daemon/series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct promtext p = PROMTEXT_INIT;
	struct err e = ERR_INIT;
	struct series_totals a, b;
	size_t i;

	if (promtext_parse(&p, (const char *)data, size, &e) < 0) {
		if (p.nr || p.samples || !err_isset(&e)) {
			__builtin_trap();
		}
		goto out;
	}
	for (i = 0; i < p.nr; i++) {
		const struct promtext_sample *s = &p.samples[i];

		if (!s->name[0] || s->nlabels > PROMTEXT_MAX_LABELS) {
			__builtin_trap();
		}
		if (s->nlabels && !promtext_label(s, s->labels[0].name)) {
			__builtin_trap();
		}
	}
	if (p.nr && p.samples[0].nlabels) {
		const char *svc = p.samples[0].labels[0].value;

		series_totals_of(&p, svc, &a);
		series_totals_of(&p, "web-web", &b);
		for (i = 0; i < a.nbuckets; i++) {
			if (i && !(a.le[i] > a.le[i - 1])) {
				__builtin_trap();
			}
		}
		(void)series_quantile(NULL, &a, 0.5);
		(void)series_quantile(&b, &a, 0.99);
		(void)series_quantile(&a, &a, 0.99);
	}
out:
	promtext_release(&p);
	err_release(&e);
	return 0;
}
