/*
 * Aliases of the config (`aliases: {console: app exec -i --reuse "bin/rails
 * console"}`): the alias's words, then the rest of the command line, run as
 * the command the first word names.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/app.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

int cli_alias_run(const struct cli_cmd *cmds, size_t ncmds, const char *name, const char *words,
		  int argc, const char **argv)
{
	struct strvec nargv = STRVEC_INIT;
	struct err e = ERR_INIT;
	const char **args = NULL;
	size_t i;
	int k, ret = 2;

	if (app_split_words(words, &nargv, &e) < 0) {
		log_error("alias '%s': %s", name, err_str(&e));
		goto out;
	}
	if (!nargv.nr) {
		log_error("alias '%s' names no command", name);
		goto out;
	}
	for (k = 0; k < argc; k++) {
		strvec_push(&nargv, argv[k]);
	}
	for (i = 0; i < ncmds; i++) {
		if (strcmp(nargv.v[0], cmds[i].name)) {
			continue;
		}
		/*
		 * The command parses its options in place (opt_parse moves
		 * operands to the front and leaves stale pointers behind), so
		 * it gets its own array of pointers: nargv keeps the one
		 * pointer to each string it frees.
		 */
		args = xcalloc(nargv.nr + 1, sizeof(*args));
		memcpy(args, nargv.v, nargv.nr * sizeof(*args));
		ret = cmds[i].fn((int)nargv.nr - 1, args + 1);
		goto out;
	}
	log_error("alias '%s' runs '%s', which is not a berth command", name, nargv.v[0]);
out:
	free(args);
	strvec_clear(&nargv);
	err_release(&e);
	return ret;
}
