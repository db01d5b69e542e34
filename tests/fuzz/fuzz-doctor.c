/*
 * The doctor reads what a server printed: untrusted bytes. Parse them,
 * judge them and render the report as JSON; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/doctor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct doctor_opts o = {0};
	struct doctor_report r;
	struct doctor_facts f;
	json_t *j;

	doctor_facts_init(&f);
	doctor_parse(slice_make((const char *)data, size), &f);
	doctor_report_init(&r, "fuzz");
	doctor_evaluate(&f, &o, &r);
	j = doctor_report_json(&r);
	if (!j) {
		__builtin_trap();
	}
	json_decref(j);
	doctor_report_release(&r);
	doctor_facts_release(&f);
	return 0;
}
