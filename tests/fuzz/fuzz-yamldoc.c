/*
 * YAML config files are untrusted bytes. Load them, copy the tree, merge it
 * with itself and render it as JSON; nothing may crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>

#include "lib/yamldoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct yaml_node *n = NULL, *c, *m;
	json_t *j;

	if (yaml_load("fuzz.yml", (const char *)data, size, &n, &e) < 0) {
		if (n || !err_isset(&e)) {
			__builtin_trap();
		}
		err_str(&e);
		err_release(&e);
		return 0;
	}
	c = yaml_clone(n);
	m = yaml_merge(n, c);
	yaml_text(m);
	yaml_get(m, "service");
	j = yaml_to_json(m);
	if (!j) {
		__builtin_trap();
	}
	json_decref(j);
	yaml_node_free(m);
	yaml_node_free(c);
	yaml_node_free(n);
	err_release(&e);
	return 0;
}
