/*
 * vault — `secrets fetch` and `secrets extract`: secrets read from a password
 * manager or a cloud secret store through its vendor's CLI, as Kamal's
 * adapters read them, so that a Kamal project's secrets file works unchanged:
 *
 *	SECRETS=$(kamal secrets fetch --adapter 1password --account ACME --from Vault/Item A B)
 *	A=$(kamal secrets extract A ${SECRETS})
 *
 * fetch gives a JSON object of name -> value; extract picks one value out of
 * it (by its name, else by the first name ending in "/NAME").
 *
 * Adapters (--adapter), each driving its CLI with argv vectors (never a shell
 * string), its stdin and stderr berth's own so that it can prompt:
 *
 *	1password (one_password)  op item get ITEM --vault V --format json --account A
 *	                          [--session S] [--fields label=F,...]; "op://" is optional;
 *	                          SECRETS are VAULT/ITEM[/SECTION]/FIELD after --from;
 *	                          no SECRETS: every field of the item --from VAULT/ITEM
 *	bitwarden                 bw status|login|unlock --raw|sync|get item ITEM (BW_SESSION
 *	                          in the environment); ITEM gives the login's password,
 *	                          ITEM/FIELD a custom field; keys ITEM and ITEM/FIELD
 *	bitwarden-sm              bws secret get ID | bws secret list [PROJECT] ("all",
 *	(bitwarden_secrets_manager) "PROJECT/all"); keys are the secrets' own keys
 *	lastpass (last_pass)      lpass status|login|show NAMES... --json; keys are fullnames
 *	aws_secrets_manager       aws secretsmanager batch-get-secret-value --secret-id-list
 *	                          NAMES... [--profile ACCOUNT] --output json; a JSON object
 *	                          value gives one key per member, NAME/KEY
 *	gcp (gcp_secret_manager)  gcloud secrets versions access VERSION --secret=NAME
 *	                          [--project=P] [--account=U] [--impersonate-service-account=SA]
 *	                          --format=json; SECRETS are [PROJECT/]NAME[/VERSION];
 *	                          --account is USER[|SA[,SA...]] ("default" for gcloud's own)
 *	doppler                   doppler secrets get NAMES... --json [-p PROJECT -c CONFIG]
 *	                          (--from PROJECT/CONFIG, unless DOPPLER_TOKEN is a service
 *	                          token)
 *	enpass                    enpass-cli -json -vault FROM show TITLES...; TITLE or
 *	                          TITLE/LABEL
 *	passbolt                  passbolt verify | list folders --filter ... --json |
 *	                          list resources [--filter ...] [--folder ID...] --column name
 *	                          --column password --json; SECRETS are [FOLDER/...]NAME
 *	test                      no CLI: each NAME gives NAME reversed (for tests)
 *
 * 1password, bitwarden, lastpass, gcp and test need --account. Before its
 * first call each adapter checks that the CLI answers `--version` (enpass:
 * `version`) and logs in when the CLI says it is not, as Kamal's do.
 *
 * Values are secret: errors name items, fields and commands, never a value
 * or the vendor's output. (jansson's memory that held values is not wiped.)
 *
 * Where berth differs from Kamal, on purpose: passbolt filter strings quote
 * a name as passbolt's filter language reads it (Kamal shell-escapes it
 * first, so a name with a space never matched); output that is not the JSON
 * expected, a missing --from or --account is an error with a message where
 * Kamal raised a Ruby exception (or, for a missing --account on the command
 * line, printed a line and exited 0).
 */
#ifndef ENGINE_VAULT_H
#define ENGINE_VAULT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/sbuf.h"
#include "lib/strvec.h"

/* The most a vendor's CLI may print before berth gives up on it. */
#define VAULT_MAX_OUTPUT (16 * 1024 * 1024)

/*
 * Fetches names (n of them) with adapter. account and from may be NULL.
 * Returns 0 and a new JSON object in *out, or -1 with e set.
 */
int vault_fetch(const char *adapter, const char *account, const char *from,
		const char *const *names, size_t n, json_t **out, struct err *e);

/*
 * Kamal's extract: the value of name in json (an object), else of the first
 * key ending in "/name". Appends it to out (a string as it is, anything else
 * as JSON text). Returns 0, or -1 with e set.
 */
int vault_extract(const char *name, const char *json, size_t len, struct sbuf *out, struct err *e);

/*
 * Runs a `secrets ...` command line given as words (args[0] is "secrets")
 * as a secrets file's $(kamal secrets ...) does: the result goes to out with
 * no newline, and fetch's JSON is shell-escaped (as Kamal's --inline gives
 * it, so that a later `extract NAME ${SECRETS}` reads it back as one word).
 * Only fetch and extract may run there. Returns 0, or -1 with e set.
 */
int vault_run_inline(const struct strvec *args, struct sbuf *out, struct err *e);

/*
 * Shell escaping and splitting, as Ruby's Shellwords does them: escape puts a
 * backslash before every byte that is not [A-Za-z0-9_-.,:+/@] (once per
 * UTF-8 character), quotes newlines as '\n' and gives '' for "". split
 * understands '...', "..." (\$ \` \" \\ and \newline escapes) and \c; it
 * fails on an unmatched quote without quoting the text (it may hold secrets).
 */
void vault_shell_escape(struct sbuf *out, const char *s, size_t len);
int vault_shell_split(const char *s, struct strvec *out, struct err *e);

/*
 * The parsers of each vendor's output: text (len bytes, untrusted) in, pairs
 * into results (a JSON object), or -1 with e set. They run no command.
 */
/* op item get --format json: one field object (single) or an array of them; with
 * whole_item, an item object whose "fields" are used. Keys come from "reference". */
int vault_parse_op(const char *text, size_t len, bool single, bool whole_item, json_t *results,
		   struct err *e);
/* bw status: the "status" member, into status. */
int vault_parse_bw_status(const char *text, size_t len, struct sbuf *status, struct err *e);
/* bw get item: fields (may be empty: the login's password, else every custom field). */
int vault_parse_bw_item(const char *text, size_t len, const char *item, const struct strvec *fields,
			bool field_missing, json_t *results, struct err *e);
/* bws secret get (list: false; one object) or bws secret list (list: true; an array). */
int vault_parse_bws(const char *text, size_t len, bool list, json_t *results, struct err *e);
/* lpass show --json: an array of {fullname, password}. */
int vault_parse_lpass(const char *text, size_t len, json_t *results, struct err *e);
/* aws secretsmanager batch-get-secret-value --output json. */
int vault_parse_aws(const char *text, size_t len, json_t *results, struct err *e);
/* gcloud secrets versions access --format=json: payload.data, base64-decoded, into value. */
int vault_parse_gcloud(const char *text, size_t len, struct sbuf *value, struct err *e);
/* doppler secrets get --json: an object of name -> {computed}. */
int vault_parse_doppler(const char *text, size_t len, json_t *results, struct err *e);
/* enpass-cli -json show: an array of {title, label, password}; keeps what secrets ask for. */
int vault_parse_enpass(const char *text, size_t len, const struct strvec *secrets, json_t *results,
		       struct err *e);
/* passbolt list folders --json: appends the array's objects to folders (an array). */
int vault_parse_passbolt_folders(const char *text, size_t len, json_t *folders, struct err *e);
/* passbolt list resources --json: an array of {name, password}. */
int vault_parse_passbolt_resources(const char *text, size_t len, json_t *results, struct err *e);
/* A passbolt folder's path ("a/b/c") from the folders known, following folder_parent_id. */
void vault_passbolt_folder_path(const json_t *folder, const json_t *folders, struct sbuf *out);

#endif
