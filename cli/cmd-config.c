/* berth config: the resolved config, as berth reads it, with secrets redacted. */
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
	struct secrets sec;
	struct config cfg;
	json_t *j = NULL;
	char *text;
	int ret = 2, nops;

	config_init(&cfg);
	secrets_init(&sec);
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
	o.load_secrets = true;
	if (config_load(&cfg, &o, &sec, &e) < 0) {
		log_error("%s", err_str(&e));
		ret = 1;
		goto out;
	}
	j = config_to_json(&cfg, &sec);
	if (cli_g.json) {
		text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		sbuf_addstr(&out, text);
		sbuf_addch(&out, '\n');
		free(text);
	} else {
		config_json_to_yaml(&out, j);
	}
	/* config_to_json redacted every string; this catches values split across them */
	secrets_redact(&sec, &out);
	fwrite(out.buf, 1, out.len, stdout);
	ret = fflush(stdout) ? 1 : 0;
out:
	json_decref(j);
	sbuf_release(&out);
	config_release(&cfg);
	secrets_release(&sec);
	err_release(&e);
	return ret;
}
