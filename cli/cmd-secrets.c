/*
 * berth secrets fetch|extract|print: Kamal's helpers for secrets files.
 *
 * fetch reads secrets from a password manager through its CLI and prints a
 * JSON object of name -> value; extract prints one value of such an object;
 * print shows every secret the secrets files give, values included (as
 * `kamal secrets print` does: it is for looking at them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/config.h"
#include "engine/secrets.h"
#include "engine/vault.h"
#include "lib/banned.h"
#include "lib/log.h"

static const char usage[] =
    "berth secrets fetch --adapter NAME [--account A] [--from F] [SECRETS...]\n"
    "   or: berth secrets extract NAME JSON\n"
    "   or: berth secrets print [-c FILE] [-d DEST]";

/* Writes text and, unless it ends with one, a newline (Ruby's puts). */
static int put(const char *text, size_t len)
{
	fwrite(text, 1, len, stdout);
	if (!len || text[len - 1] != '\n') {
		fputc('\n', stdout);
	}
	return fflush(stdout) ? 1 : 0;
}

static int secrets_fetch(int argc, const char **argv)
{
	const char *adapter = NULL, *account = NULL, *from = NULL;
	bool inl = false;
	const struct opt opts[] = {
	    OPT_STRING('a', "adapter", &adapter, "NAME",
		       "1password, bitwarden, bitwarden-sm, lastpass, aws_secrets_manager, gcp, "
		       "doppler, enpass, passbolt"),
	    OPT_STRING(0, "account", &account, "ACCOUNT", "the account or user name"),
	    OPT_STRING(0, "from", &from, "FROM", "a vault, folder or item to read from"),
	    OPT_BOOL(0, "inline", &inl, "print the JSON shell-escaped, as one word"),
	    OPT_END(),
	};
	const struct opt *const own[] = {opts, NULL};
	struct err e = ERR_INIT;
	struct sbuf out = SBUF_INIT;
	json_t *j = NULL;
	char *text = NULL;
	int n, ret = 2;

	n = cli_parse(argc, argv, own, 0, usage);
	if (n < 0) {
		return n == -2 ? 0 : 2;
	}
	if (!adapter) {
		log_error("secrets fetch: missing required option '--adapter'");
		goto out;
	}
	if (vault_fetch(adapter, account, from, argv, (size_t)n, &j, &e) < 0) {
		log_error("secrets fetch: %s", err_str(&e));
		ret = 1;
		goto out;
	}
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (inl) {
		vault_shell_escape(&out, text, strlen(text));
		fwrite(out.buf, 1, out.len, stdout);
		ret = fflush(stdout) ? 1 : 0;
	} else {
		ret = put(text, strlen(text));
	}
out:
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (out.alloc) {
		explicit_bzero(out.buf, out.alloc);
	}
	sbuf_release(&out);
	json_decref(j);
	err_release(&e);
	return ret;
}

static int secrets_extract(int argc, const char **argv)
{
	bool inl = false;
	const struct opt opts[] = {
	    OPT_BOOL(0, "inline", &inl, "print the value without a newline"),
	    OPT_END(),
	};
	const struct opt *const own[] = {opts, NULL};
	struct err e = ERR_INIT;
	struct sbuf out = SBUF_INIT;
	int n, ret = 2;

	n = cli_parse(argc, argv, own, 0, usage);
	if (n < 0) {
		return n == -2 ? 0 : 2;
	}
	if (n != 2) {
		log_error("secrets extract: expected NAME and the JSON that fetch printed");
		goto out;
	}
	if (vault_extract(argv[0], argv[1], strlen(argv[1]), &out, &e) < 0) {
		log_error("secrets extract: %s", err_str(&e));
		ret = 1;
		goto out;
	}
	if (inl) {
		fwrite(out.buf, 1, out.len, stdout);
		ret = fflush(stdout) ? 1 : 0;
	} else {
		ret = put(out.buf, out.len);
	}
out:
	if (out.alloc) {
		explicit_bzero(out.buf, out.alloc);
	}
	sbuf_release(&out);
	err_release(&e);
	return ret;
}

static int secrets_print(int argc, const char **argv)
{
	struct config_opts o = {0};
	struct err e = ERR_INIT;
	struct secrets sec;
	struct config cfg;
	size_t i;
	int n, ret = 2;

	config_init(&cfg);
	secrets_init(&sec);
	n = cli_parse(argc, argv, NULL, 0, usage);
	if (n < 0) {
		ret = n == -2 ? 0 : 2;
		goto out;
	}
	if (n > 0) {
		log_error("secrets print takes no arguments, got '%s'", argv[0]);
		goto out;
	}
	o.config_file = cli_g.config_file;
	o.destination = cli_g.destination;
	ret = 1;
	/* the config says where the secrets are (secrets_path); the files are read after it */
	if (config_load(&cfg, &o, NULL, &e) < 0 ||
	    secrets_load_path(&sec, cfg.secrets_path, cfg.destination, NULL, &e) < 0) {
		log_error("%s", err_str(&e));
		goto out;
	}
	for (i = 0; i < sec.names.nr; i++) {
		printf("%s=%s\n", sec.names.v[i], sec.values.v[i]);
	}
	ret = fflush(stdout) ? 1 : 0;
out:
	config_release(&cfg);
	secrets_release(&sec);
	err_release(&e);
	return ret;
}

int cmd_secrets(int argc, const char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "--help")) {
		fprintf(argc < 1 ? stderr : stdout, "usage: %s\n", usage);
		return argc < 1 ? 2 : 0;
	}
	if (!strcmp(argv[0], "fetch")) {
		return secrets_fetch(argc - 1, argv + 1);
	}
	if (!strcmp(argv[0], "extract")) {
		return secrets_extract(argc - 1, argv + 1);
	}
	if (!strcmp(argv[0], "print")) {
		return secrets_print(argc - 1, argv + 1);
	}
	log_error("'secrets %s' is not a command: use fetch, extract or print", argv[0]);
	fprintf(stderr, "usage: %s\n", usage);
	return 2;
}
