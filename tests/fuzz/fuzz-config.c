/*
 * deploy.yml is untrusted text: the bytes go through the YAML loader and the
 * schema (no ERB, no secrets, no file reads), and a config that loads must
 * render as JSON and as YAML text. Nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/config.h"
#include "lib/yamldoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yaml_node *root = NULL;
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT;
	struct config cfg;
	json_t *j;

	config_init(&cfg);
	if (yaml_load("deploy.yml", (const char *)data, size, &root, &e) == 0) {
		if (config_from_yaml(&cfg, root, "deploy.yml", "/nonexistent", NULL, NULL, &e) ==
		    0) {
			j = config_to_json(&cfg);
			if (!j) {
				__builtin_trap();
			}
			config_json_to_yaml(&sb, j);
			json_decref(j);
		} else if (!err_isset(&e)) {
			__builtin_trap(); /* every failure says why */
		}
	}
	yaml_node_free(root);
	config_release(&cfg);
	sbuf_release(&sb);
	err_release(&e);
	return 0;
}
