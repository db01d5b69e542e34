/*
 * berth config: the resolved config, as berth reads it. As `kamal config`,
 * it reads no secrets file: no secret command runs (nothing prompts for a
 * password manager), a secret that no file sets is not an error, and no
 * value can show. Secret fields show the secret's name (see config_to_json).
 * berth docs: the keys it reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/config.h"
#include "lib/banned.h"
#include "lib/log.h"

static const char usage[] = "berth config [-c FILE] [-d DEST] [--json]";

int cmd_config(int argc, const char **argv)
{
	struct config_opts o = {0};
	struct err e = ERR_INIT;
	struct sbuf out = SBUF_INIT;
	struct config cfg;
	json_t *j = NULL;
	char *text;
	int ret = 2, nops;

	config_init(&cfg);
	nops = cli_parse(argc, argv, NULL, CMD_NEED_CONFIG, usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops > 0) {
		log_error("config takes no arguments, got '%s'", argv[0]);
		goto out;
	}
	o.config_file = cli_g.config_file;
	o.destination = cli_g.destination;
	if (config_load(&cfg, &o, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		ret = 1;
		goto out;
	}
	j = config_to_json(&cfg);
	if (cli_g.json) {
		text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		sbuf_addstr(&out, text);
		sbuf_addch(&out, '\n');
		free(text);
	} else {
		config_json_to_yaml(&out, j);
	}
	fwrite(out.buf, 1, out.len, stdout);
	ret = fflush(stdout) ? 1 : 0;
out:
	json_decref(j);
	sbuf_release(&out);
	config_release(&cfg);
	err_release(&e);
	return ret;
}

/* berth docs [SECTION]: the config keys berth reads, from the config loader's own tables. */
int cmd_docs(int argc, const char **argv)
{
	static const char docs_usage[] = "berth docs [SECTION]";
	struct sbuf out = SBUF_INIT;
	int ret = 2, nops;

	nops = cli_parse(argc, argv, NULL, 0, docs_usage);
	if (nops < 0) {
		ret = nops == -2 ? 0 : 2;
		goto out;
	}
	if (nops > 1) {
		log_error("usage: %s", docs_usage);
		goto out;
	}
	if (config_docs(&out, nops ? argv[0] : NULL) < 0) {
		sbuf_reset(&out);
		config_docs_sections(&out);
		log_error("no section '%s' in the config; sections: %s", argv[0], out.buf);
		goto out;
	}
	fwrite(out.buf, 1, out.len, stdout);
	ret = fflush(stdout) ? 1 : 0;
out:
	sbuf_release(&out);
	return ret;
}
