#include "vault.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jtext.h"
#include "lib/opt.h"
#include "lib/run.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

#define MAX_FOLDER_DEPTH 64

static void wipe_sbuf(struct sbuf *sb)
{
	if (sb->alloc) {
		explicit_bzero(sb->buf, sb->alloc);
	}
	sbuf_release(sb);
}

/* Ruby's String#split("/"): trailing empty parts dropped, leading ones kept. */
static void split_slash(const char *s, struct strvec *out)
{
	const char *p = s, *slash;
	size_t keep;

	while ((slash = strchr(p, '/'))) {
		strvec_pushf(out, "%.*s", (int)(slash - p), p);
		p = slash + 1;
	}
	strvec_push(out, p);
	keep = out->nr;
	while (keep && !*out->v[keep - 1]) {
		keep--;
	}
	while (out->nr > keep) {
		free(out->v[--out->nr]);
		out->v[out->nr] = NULL;
	}
}

/* Puts a copy of s first in sv. */
static void push_front(struct strvec *sv, const char *s)
{
	char *first;

	strvec_push(sv, s);
	first = sv->v[sv->nr - 1];
	memmove(sv->v + 1, sv->v, (sv->nr - 1) * sizeof(*sv->v));
	sv->v[0] = first;
}

/* FROM/NAME for each name, or NAME without --from (Kamal's prefixed_secrets). */
static void prefixed(const char *from, const char *const *names, size_t n, struct strvec *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (from) {
			strvec_pushf(out, "%s/%s", from, names[i]);
		} else {
			strvec_push(out, names[i]);
		}
	}
}

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* --- running the vendor's CLI --- */

enum vrun_flags {
	VR_QUIET = 1 << 0,   /* stderr to /dev/null (Kamal's "2> /dev/null") */
	VR_NO_STDIN = 1 << 1 /* nothing to prompt for */
};

/*
 * Runs argv (NULL-terminated) with env ("NAME=value", may be NULL) added, its
 * stdout captured into out (may be NULL: dropped). Returns the exit status;
 * -1 when it printed more than VAULT_MAX_OUTPUT.
 */
static int vrun(const char *const *argv, const char *env, unsigned flags, struct sbuf *out)
{
	struct run_cmd c = RUN_CMD_INIT;
	int status;

	strvec_pushv(&c.argv, argv);
	if (env) {
		strvec_push(&c.env, env);
	}
	c.flags = flags & VR_NO_STDIN ? 0 : RUN_F_STDIN_INHERIT;
	c.out = RUN_IO_CAPTURE;
	c.err = flags & VR_QUIET ? RUN_IO_NULL : RUN_IO_INHERIT;
	c.capture_max = VAULT_MAX_OUTPUT;
	run_one(&c);
	status = c.truncated ? -1 : c.status;
	if (out) {
		sbuf_add(out, c.outbuf.buf, c.outbuf.len);
	}
	wipe_sbuf(&c.outbuf);
	if (env) {
		explicit_bzero(c.env.v[0], strlen(c.env.v[0]));
	}
	run_cmd_release(&c);
	return status;
}

/* Ruby's String#strip, in place. */
static void strip(struct sbuf *sb)
{
	size_t start = 0;

	while (sb->len && isspace((unsigned char)sb->buf[sb->len - 1])) {
		sb->len--;
	}
	sb->buf[sb->len] = '\0';
	while (start < sb->len && isspace((unsigned char)sb->buf[start])) {
		start++;
	}
	if (start) {
		memmove(sb->buf, sb->buf + start, sb->len - start + 1);
		sb->len -= start;
	}
}

static int check_cli(const char *cli, const char *version_word, const char *what, struct err *e)
{
	const char *argv[] = {cli, version_word, NULL};

	if (vrun(argv, NULL, VR_QUIET | VR_NO_STDIN, NULL) != 0) {
		return err_set(e, "%s is not installed ('%s %s' failed)", what, cli, version_word);
	}
	return 0;
}

/* --- JSON helpers --- */

static json_t *load_json(const char *text, size_t len, const char *what, struct err *e)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &je);

	if (!j) {
		/* je.text may quote the input: say where only */
		err_set(e, "%s: expected JSON, found something else (line %d, column %d)", what,
			je.line, je.column);
	}
	return j;
}

static const char *jstr_member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A copy of v for the results (a JSON null stays null). */
static void set_result(json_t *results, const char *key, json_t *v)
{
	json_object_set(results, key, v ? v : json_null());
}

/* --- 1Password --- */

static int op_fields_map(json_t *fields, json_t *results, struct err *e)
{
	size_t i;
	json_t *f;

	json_array_foreach(fields, i, f)
	{
		const char *ref = jstr_member(f, "reference");
		struct sbuf key = SBUF_INIT;
		size_t n;

		if (!ref) {
			return err_set(e, "op: a field without a \"reference\"");
		}
		if (has_prefix(ref, "op://")) {
			ref += 5;
		}
		sbuf_addstr(&key, ref);
		n = strlen("/password");
		if (key.len >= n && !strcmp(key.buf + key.len - n, "/password")) {
			sbuf_setlen(&key, key.len - n);
		}
		set_result(results, key.buf, json_object_get(f, "value"));
		sbuf_release(&key);
	}
	return 0;
}

int vault_parse_op(const char *text, size_t len, bool single, bool whole_item, json_t *results,
		   struct err *e)
{
	json_t *j = load_json(text, len, "op item get", e), *fields;
	int ret = -1;

	if (!j) {
		return -1;
	}
	if (whole_item) {
		fields = json_object_get(j, "fields");
		if (!json_is_array(fields)) {
			err_set(e, "op item get: expected an item with \"fields\"");
			goto out;
		}
		json_incref(fields);
	} else if (single) {
		if (!json_is_object(j)) {
			err_set(e, "op item get: expected a field object");
			goto out;
		}
		fields = json_array();
		json_array_append(fields, j);
	} else {
		if (!json_is_array(j)) {
			err_set(e, "op item get: expected an array of fields");
			goto out;
		}
		fields = json_incref(j);
	}
	ret = op_fields_map(fields, results, e);
	json_decref(fields);
out:
	json_decref(j);
	return ret;
}

/* One item of one vault, and the fields asked of it. */
struct op_item {
	char *vault, *item;
	struct strvec fields;
};

static int op_item_get(const char *vault, const char *item, const struct strvec *fields,
		       const char *account, const char *session, json_t *results, struct err *e)
{
	struct strvec argv = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, labels = SBUF_INIT;
	size_t i;
	int ret = -1;

	strvec_pushv(&argv, (const char *[]){"op", "item", "get", item, "--vault", vault,
					     "--format", "json", "--account", account, NULL});
	if (session) {
		strvec_pushv(&argv, (const char *[]){"--session", session, NULL});
	}
	if (fields) {
		for (i = 0; i < fields->nr; i++) {
			sbuf_addf(&labels, "%slabel=%s", i ? "," : "", fields->v[i]);
		}
		strvec_pushv(&argv, (const char *[]){"--fields", labels.buf, NULL});
	}
	if (vrun((const char *const *)argv.v, NULL, 0, &out) != 0) {
		if (fields) {
			sbuf_reset(&labels);
			for (i = 0; i < fields->nr; i++) {
				sbuf_addf(&labels, "%s%s", i ? ", " : "", fields->v[i]);
			}
			err_set(e, "could not read %s from %s in the %s 1Password vault",
				labels.buf, item, vault);
		} else {
			err_set(e, "could not read from %s in the %s 1Password vault", item, vault);
		}
		goto out;
	}
	ret = vault_parse_op(out.buf, out.len, fields && fields->nr == 1, !fields, results, e);
out:
	if (session) {
		explicit_bzero(argv.v[11], strlen(argv.v[11]));
	}
	strvec_clear(&argv);
	wipe_sbuf(&out);
	sbuf_release(&labels);
	return ret;
}

static int fetch_op(const char *account, const char *from, const char *const *names, size_t n,
		    json_t *results, struct err *e)
{
	struct strvec secrets = STRVEC_INIT, parts = STRVEC_INIT;
	struct op_item *items = NULL;
	size_t nitems = 0, alloc = 0, i, j;
	struct sbuf session = SBUF_INIT;
	const char *sess = NULL;
	int ret = -1;

	if (vrun((const char *[]){"op", "account", "get", "--account", account, NULL}, NULL,
		 VR_QUIET, NULL) != 0) {
		if (vrun((const char *[]){"op", "signin", "--account", account, "--force", "--raw",
					  NULL},
			 NULL, 0, &session) != 0) {
			err_set(e, "failed to login to 1Password");
			goto out;
		}
		strip(&session);
		sess = session.len ? session.buf : NULL;
	}
	if (!n) {
		if (!from) {
			err_set(e,
				"1password: name the item with --from VAULT/ITEM, or name secrets");
			goto out;
		}
		split_slash(has_prefix(from, "op://") ? from + 5 : from, &parts);
		if (parts.nr < 2) {
			err_set(e, "1password: expected --from VAULT/ITEM, found '%s'", from);
			goto out;
		}
		ret = op_item_get(parts.v[0], parts.v[1], NULL, account, sess, results, e);
		goto out;
	}
	prefixed(from, names, n, &secrets);
	for (i = 0; i < secrets.nr; i++) {
		const char *s = secrets.v[i];
		struct sbuf field = SBUF_INIT;

		strvec_clear(&parts);
		split_slash(has_prefix(s, "op://") ? s + 5 : s, &parts);
		if (parts.nr < 2) {
			err_set(e, "1password: expected VAULT/ITEM[/FIELD], found '%s'", s);
			goto out;
		}
		for (j = 2; j < parts.nr; j++) {
			sbuf_addf(&field, "%s%s", j > 2 ? "." : "", parts.v[j]);
		}
		if (parts.nr == 2) {
			sbuf_addstr(&field, "password");
		}
		for (j = 0; j < nitems; j++) {
			if (!strcmp(items[j].vault, parts.v[0]) &&
			    !strcmp(items[j].item, parts.v[1])) {
				break;
			}
		}
		if (j == nitems) {
			XGROW(items, alloc, nitems + 1);
			items[nitems].vault = xstrdup(parts.v[0]);
			items[nitems].item = xstrdup(parts.v[1]);
			strvec_init(&items[nitems].fields);
			nitems++;
		}
		strvec_push(&items[j].fields, field.buf);
		sbuf_release(&field);
	}
	for (i = 0; i < nitems; i++) {
		if (op_item_get(items[i].vault, items[i].item, &items[i].fields, account, sess,
				results, e) < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; i < nitems; i++) {
		free(items[i].vault);
		free(items[i].item);
		strvec_clear(&items[i].fields);
	}
	free(items);
	strvec_clear(&secrets);
	strvec_clear(&parts);
	wipe_sbuf(&session);
	return ret;
}

/* --- Bitwarden --- */

int vault_parse_bw_status(const char *text, size_t len, struct sbuf *status, struct err *e)
{
	json_t *j = load_json(text, len, "bw status", e);
	const char *s;

	if (!j) {
		return -1;
	}
	s = jstr_member(j, "status");
	sbuf_addstr(status, s ? s : "");
	json_decref(j);
	return 0;
}

static int bw_fields(const json_t *item_json, const char *item, const struct strvec *fields,
		     bool field_missing, json_t *results, struct err *e)
{
	json_t *list = json_object_get(item_json, "fields"), *f;
	struct sbuf key = SBUF_INIT;
	size_t i, k;

	if (field_missing) {
		return err_set(e, "could not find field '' in item %s in Bitwarden", item);
	}
	for (i = 0; i < fields->nr; i++) {
		json_t *found = NULL;

		json_array_foreach(list, k, f)
		{
			const char *name = jstr_member(f, "name");
			if (name && !strcmp(name, fields->v[i])) {
				found = f;
				break;
			}
		}
		if (!found) {
			sbuf_release(&key);
			return err_set(e, "could not find field %s in item %s in Bitwarden",
				       fields->v[i], item);
		}
		sbuf_reset(&key);
		sbuf_addf(&key, "%s/%s", item, fields->v[i]);
		set_result(results, key.buf, json_object_get(found, "value"));
	}
	sbuf_release(&key);
	return 0;
}

int vault_parse_bw_item(const char *text, size_t len, const char *item, const struct strvec *fields,
			bool field_missing, json_t *results, struct err *e)
{
	json_t *j = load_json(text, len, "bw get item", e), *pw, *list, *f;
	struct strvec names = STRVEC_INIT;
	size_t i;
	int ret = -1;

	if (!j) {
		return -1;
	}
	pw = json_object_get(json_object_get(j, "login"), "password");
	list = json_object_get(j, "fields");
	if (fields->nr || field_missing) {
		ret = bw_fields(j, item, fields, field_missing, results, e);
	} else if (pw && !json_is_null(pw) && !json_is_false(pw)) {
		set_result(results, item, pw);
		ret = 0;
	} else if (json_array_size(list)) {
		json_array_foreach(list, i, f)
		{
			const char *name = jstr_member(f, "name");
			strvec_push(&names, name ? name : "");
		}
		ret = bw_fields(j, item, &names, false, results, e);
	} else {
		err_set(e, "item %s is not a login type item and no fields were specified", item);
	}
	strvec_clear(&names);
	json_decref(j);
	return ret;
}

static int bw_status(const char *env, struct sbuf *status, struct err *e)
{
	struct sbuf out = SBUF_INIT;
	int ret;

	sbuf_reset(status);
	vrun((const char *[]){"bw", "status", NULL}, env, 0, &out);
	strip(&out);
	ret = vault_parse_bw_status(out.buf, out.len, status, e);
	sbuf_release(&out);
	return ret;
}

static int fetch_bw(const char *account, const char *from, const char *const *names, size_t n,
		    json_t *results, struct err *e)
{
	struct sbuf status = SBUF_INIT, session = SBUF_INIT, env = SBUF_INIT, out = SBUF_INIT;
	struct strvec secrets = STRVEC_INIT, items = STRVEC_INIT, parts = STRVEC_INIT;
	struct strvec *fields = NULL;
	bool *missing = NULL;
	const char *envp = NULL;
	size_t i, j;
	int ret = -1;

	if (bw_status(NULL, &status, e) < 0) {
		goto out;
	}
	if (!strcmp(status.buf, "unauthenticated")) {
		vrun((const char *[]){"bw", "login", account, NULL}, NULL, 0, NULL);
		if (bw_status(NULL, &status, e) < 0) {
			goto out;
		}
	}
	if (!strcmp(status.buf, "locked")) {
		vrun((const char *[]){"bw", "unlock", "--raw", NULL}, NULL, 0, &session);
		strip(&session);
		if (session.len) {
			sbuf_addf(&env, "BW_SESSION=%s", session.buf);
			envp = env.buf;
		}
		if (bw_status(envp, &status, e) < 0) {
			goto out;
		}
	}
	if (strcmp(status.buf, "unlocked")) {
		err_set(e, "failed to login to and unlock Bitwarden");
		goto out;
	}
	if (vrun((const char *[]){"bw", "sync", NULL}, envp, 0, NULL) != 0) {
		err_set(e, "failed to sync Bitwarden");
		goto out;
	}
	/* items in order, each with the fields asked of it */
	prefixed(from, names, n, &secrets);
	fields = xcalloc(secrets.nr ? secrets.nr : 1, sizeof(*fields));
	missing = xcalloc(secrets.nr ? secrets.nr : 1, sizeof(*missing));
	for (i = 0; i < secrets.nr; i++) {
		strvec_clear(&parts);
		split_slash(secrets.v[i], &parts);
		if (!parts.nr) {
			err_set(e, "bitwarden: an empty secret name");
			goto out;
		}
		for (j = 0; j < items.nr && strcmp(items.v[j], parts.v[0]); j++) {
		}
		if (j == items.nr) {
			strvec_push(&items, parts.v[0]);
			strvec_init(&fields[j]);
		}
		if (parts.nr > 1) {
			strvec_push(&fields[j], parts.v[1]);
		} else {
			missing[j] = true;
		}
	}
	for (i = 0; i < items.nr; i++) {
		sbuf_reset(&out);
		if (vrun((const char *[]){"bw", "get", "item", items.v[i], NULL}, envp, 0, &out) !=
		    0) {
			err_set(e, "could not read %s from Bitwarden", items.v[i]);
			goto out;
		}
		strip(&out);
		/* Kamal asks for fields when any is named; a bare ITEM beside them finds none */
		if (vault_parse_bw_item(out.buf, out.len, items.v[i], &fields[i],
					missing[i] && fields[i].nr, results, e) < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; fields && i < items.nr; i++) {
		strvec_clear(&fields[i]);
	}
	free(fields);
	free(missing);
	strvec_clear(&secrets);
	strvec_clear(&items);
	strvec_clear(&parts);
	sbuf_release(&status);
	wipe_sbuf(&session);
	wipe_sbuf(&env);
	wipe_sbuf(&out);
	return ret;
}

/* --- Bitwarden Secrets Manager --- */

static int bws_pair(const json_t *o, json_t *results, struct err *e)
{
	const char *key = jstr_member(o, "key");

	if (!key) {
		return err_set(e, "bws: expected secrets with a \"key\"");
	}
	set_result(results, key, json_object_get(o, "value"));
	return 0;
}

int vault_parse_bws(const char *text, size_t len, bool list, json_t *results, struct err *e)
{
	json_t *j = load_json(text, len, list ? "bws secret list" : "bws secret get", e), *o;
	size_t i;
	int ret = -1;

	if (!j) {
		return -1;
	}
	if (!list) {
		ret = bws_pair(j, results, e);
	} else if (!json_is_array(j)) {
		err_set(e, "bws secret list: expected an array");
	} else {
		ret = 0;
		json_array_foreach(j, i, o)
		{
			if (bws_pair(o, results, e) < 0) {
				ret = -1;
				break;
			}
		}
	}
	json_decref(j);
	return ret;
}

static int fetch_bws(const char *from, const char *const *names, size_t n, json_t *results,
		     struct err *e)
{
	struct strvec secrets = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, project = SBUF_INIT;
	const char *suffix;
	size_t i;
	int ret = -1;

	if (vrun((const char *[]){"bws", "project", "list", NULL}, NULL, 0, NULL) != 0) {
		err_set(e, "could not authenticate to Bitwarden Secrets Manager: is a valid access "
			   "token set (BWS_ACCESS_TOKEN)?");
		goto out;
	}
	if (!n) {
		err_set(e, "name what to read from Bitwarden Secrets Manager");
		goto out;
	}
	prefixed(from, names, n, &secrets);
	if (secrets.nr == 1 && !strcmp(secrets.v[0], "all")) {
		if (vrun((const char *[]){"bws", "secret", "list", NULL}, NULL, 0, &out) != 0) {
			err_set(e, "could not read secrets from Bitwarden Secrets Manager");
			goto out;
		}
		ret = vault_parse_bws(out.buf, out.len, true, results, e);
		goto out;
	}
	if (secrets.nr == 1 && (suffix = strstr(secrets.v[0], "/all")) &&
	    !strcmp(secrets.v[0] + strlen(secrets.v[0]) - 4, "/all")) {
		/* Ruby's split("/all").first: up to the first "/all" */
		sbuf_add(&project, secrets.v[0], (size_t)(suffix - secrets.v[0]));
		if (!project.len) {
			err_set(e, "bitwarden-sm: expected PROJECT/all, found no project");
			goto out;
		}
		if (vrun((const char *[]){"bws", "secret", "list", project.buf, NULL}, NULL, 0,
			 &out) != 0) {
			err_set(e, "could not read secrets from Bitwarden Secrets Manager");
			goto out;
		}
		ret = vault_parse_bws(out.buf, out.len, true, results, e);
		goto out;
	}
	for (i = 0; i < secrets.nr; i++) {
		sbuf_reset(&out);
		if (vrun((const char *[]){"bws", "secret", "get", secrets.v[i], NULL}, NULL, 0,
			 &out) != 0) {
			err_set(e, "could not read %s from Bitwarden Secrets Manager",
				secrets.v[i]);
			goto out;
		}
		if (vault_parse_bws(out.buf, out.len, false, results, e) < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	strvec_clear(&secrets);
	wipe_sbuf(&out);
	sbuf_release(&project);
	return ret;
}

/* --- LastPass --- */

int vault_parse_lpass(const char *text, size_t len, json_t *results, struct err *e)
{
	json_t *j = load_json(text, len, "lpass show", e), *o;
	size_t i;

	if (!j) {
		return -1;
	}
	if (!json_is_array(j)) {
		json_decref(j);
		return err_set(e, "lpass show: expected an array");
	}
	json_array_foreach(j, i, o)
	{
		const char *name = jstr_member(o, "fullname");
		if (name) {
			set_result(results, name, json_object_get(o, "password"));
		}
	}
	json_decref(j);
	return 0;
}

static void join_missing(struct sbuf *sb, const struct strvec *want, const json_t *results)
{
	size_t i;

	for (i = 0; i < want->nr; i++) {
		if (!json_object_get(results, want->v[i])) {
			sbuf_addf(sb, "%s%s", sb->len ? ", " : "", want->v[i]);
		}
	}
}

static int fetch_lpass(const char *account, const char *from, const char *const *names, size_t n,
		       json_t *results, struct err *e)
{
	struct strvec secrets = STRVEC_INIT, argv = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, want = SBUF_INIT, missing = SBUF_INIT;
	size_t i;
	int ret = -1;

	vrun((const char *[]){"lpass", "status", "--color", "never", NULL}, NULL, 0, &out);
	strip(&out);
	sbuf_addf(&want, "Logged in as %s.", account);
	if (strcmp(out.buf, want.buf) &&
	    vrun((const char *[]){"lpass", "login", account, NULL}, NULL, 0, NULL) != 0) {
		err_set(e, "failed to login to LastPass");
		goto out;
	}
	prefixed(from, names, n, &secrets);
	strvec_pushv(&argv, (const char *[]){"lpass", "show", NULL});
	for (i = 0; i < secrets.nr; i++) {
		strvec_push(&argv, secrets.v[i]);
	}
	strvec_push(&argv, "--json");
	sbuf_reset(&out);
	if (vrun((const char *const *)argv.v, NULL, 0, &out) != 0) {
		err_set(e, "could not read secrets from LastPass");
		goto out;
	}
	if (vault_parse_lpass(out.buf, out.len, results, e) < 0) {
		goto out;
	}
	join_missing(&missing, &secrets, results);
	if (missing.len) {
		err_set(e, "could not find %s in LastPass", missing.buf);
		goto out;
	}
	ret = 0;
out:
	strvec_clear(&secrets);
	strvec_clear(&argv);
	wipe_sbuf(&out);
	sbuf_release(&want);
	sbuf_release(&missing);
	return ret;
}

/* --- AWS Secrets Manager --- */

/* A value as a string: strings as they are, anything else as compact JSON. */
static json_t *stringify(json_t *v)
{
	char *text;
	json_t *s;

	if (json_is_string(v)) {
		return json_incref(v);
	}
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	s = json_string(text ? text : "null");
	free(text);
	return s;
}

int vault_parse_aws(const char *text, size_t len, json_t *results, struct err *e)
{
	json_t *j = load_json(text, len, "aws secretsmanager", e), *errors, *values, *v;
	struct sbuf msg = SBUF_INIT, key = SBUF_INIT;
	size_t i;
	int ret = -1;

	if (!j) {
		return -1;
	}
	errors = json_object_get(j, "Errors");
	if (json_array_size(errors)) {
		json_array_foreach(errors, i, v)
		{
			const char *id = jstr_member(v, "SecretId"), *m = jstr_member(v, "Message");
			sbuf_addf(&msg, "%s%s: %s", i ? " " : "", id ? id : "", m ? m : "");
		}
		err_set(e, "%s", msg.buf);
		goto out;
	}
	values = json_object_get(j, "SecretValues");
	json_array_foreach(values, i, v)
	{
		const char *name = jstr_member(v, "Name");
		const char *str = jstr_member(v, "SecretString");
		json_t *parsed, *member;
		const char *k;

		if (!name || !str) {
			err_set(e, "aws secretsmanager: expected secrets with a Name and a "
				   "SecretString");
			goto out;
		}
		parsed = json_loads(str, JSON_DECODE_ANY, NULL);
		if (!parsed) {
			json_object_set_new(results, name, json_string(str));
		} else if (json_is_object(parsed)) {
			json_object_foreach(parsed, k, member)
			{
				sbuf_reset(&key);
				sbuf_addf(&key, "%s/%s", name, k);
				json_object_set_new(results, key.buf, stringify(member));
			}
		} else {
			json_object_set_new(results, name, stringify(parsed));
		}
		json_decref(parsed);
	}
	ret = 0;
out:
	sbuf_release(&msg);
	sbuf_release(&key);
	json_decref(j);
	return ret;
}

static int fetch_aws(const char *account, const char *from, const char *const *names, size_t n,
		     json_t *results, struct err *e)
{
	struct strvec secrets = STRVEC_INIT, argv = STRVEC_INIT;
	struct sbuf out = SBUF_INIT;
	size_t i;
	int ret = -1;

	prefixed(from, names, n, &secrets);
	strvec_pushv(&argv, (const char *[]){"aws", "secretsmanager", "batch-get-secret-value",
					     "--secret-id-list", NULL});
	for (i = 0; i < secrets.nr; i++) {
		strvec_push(&argv, secrets.v[i]);
	}
	if (account) {
		strvec_pushv(&argv, (const char *[]){"--profile", account, NULL});
	}
	strvec_pushv(&argv, (const char *[]){"--output", "json", NULL});
	if (vrun((const char *const *)argv.v, NULL, 0, &out) != 0) {
		err_set(e, "could not read secrets from AWS Secrets Manager");
		goto out;
	}
	ret = vault_parse_aws(out.buf, out.len, results, e);
out:
	strvec_clear(&secrets);
	strvec_clear(&argv);
	wipe_sbuf(&out);
	return ret;
}

/* --- GCP Secret Manager --- */

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+' || c == '-') {
		return 62;
	}
	if (c == '/' || c == '_') {
		return 63;
	}
	return -1;
}

/* Base64 as Ruby's decode64 reads it: other bytes are skipped, '=' ends it. */
static void b64_decode(const char *s, size_t len, struct sbuf *out)
{
	unsigned acc = 0, bits = 0;
	size_t i;

	for (i = 0; i < len && s[i] != '='; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			continue;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			sbuf_addch(out, (char)((acc >> bits) & 0xff));
		}
	}
	explicit_bzero(&acc, sizeof(acc));
}

int vault_parse_gcloud(const char *text, size_t len, struct sbuf *value, struct err *e)
{
	json_t *j = load_json(text, len, "gcloud secrets versions access", e), *data;

	if (!j) {
		return -1;
	}
	data = json_object_get(json_object_get(j, "payload"), "data");
	if (!json_is_string(data)) {
		json_decref(j);
		return err_set(e, "gcloud secrets versions access: expected payload.data");
	}
	b64_decode(json_string_value(data), json_string_length(data), value);
	json_decref(j);
	return 0;
}

static int gcloud_logged_in(void)
{
	struct sbuf out = SBUF_INIT;
	json_t *j;
	int ret;

	vrun((const char *[]){"gcloud", "auth", "list", "--format=json", NULL}, NULL, 0, &out);
	j = json_loadb(out.buf, out.len, JSON_DECODE_ANY, NULL);
	ret = json_array_size(j) > 0;
	json_decref(j);
	sbuf_release(&out);
	return ret;
}

static int fetch_gcloud(const char *account, const char *from, const char *const *names, size_t n,
			json_t *results, struct err *e)
{
	struct strvec secrets = STRVEC_INIT, parts = STRVEC_INIT, argv = STRVEC_INIT;
	struct sbuf out = SBUF_INIT, value = SBUF_INIT, key = SBUF_INIT, user = SBUF_INIT;
	const char *bar = strchr(account, '|'), *sa = bar ? bar + 1 : NULL;
	size_t i;
	int ret = -1;

	if (!gcloud_logged_in()) {
		vrun((const char *[]){"gcloud", "auth", "login", NULL}, NULL, 0, NULL);
		if (!gcloud_logged_in()) {
			err_set(e, "could not login to gcloud");
			goto out;
		}
	}
	sbuf_add(&user, account, bar ? (size_t)(bar - account) : strlen(account));
	prefixed(from, names, n, &secrets);
	for (i = 0; i < secrets.nr; i++) {
		const char *project, *name, *version;

		strvec_clear(&parts);
		split_slash(secrets.v[i], &parts);
		if (parts.nr == 1) {
			push_front(&parts, "default");
		}
		if (parts.nr < 2) {
			err_set(e, "gcp: expected [PROJECT/]NAME[/VERSION], found '%s'",
				secrets.v[i]);
			goto out;
		}
		project = parts.v[0];
		name = parts.v[1];
		version = parts.nr > 2 ? parts.v[2] : "latest";
		strvec_clear(&argv);
		strvec_pushv(&argv, (const char *[]){"gcloud", "secrets", "versions", "access",
						     version, NULL});
		strvec_pushf(&argv, "--secret=%s", name);
		if (strcmp(project, "default")) {
			strvec_pushf(&argv, "--project=%s", project);
		}
		if (strcmp(user.buf, "default")) {
			strvec_pushf(&argv, "--account=%s", user.buf);
		}
		if (sa && *sa) {
			strvec_pushf(&argv, "--impersonate-service-account=%s", sa);
		}
		strvec_push(&argv, "--format=json");
		sbuf_reset(&key);
		sbuf_addf(&key, "%s/%s", project, name);
		sbuf_reset(&out);
		if (vrun((const char *const *)argv.v, NULL, 0, &out) != 0) {
			err_set(e, "could not read %s from Google Secret Manager", key.buf);
			goto out;
		}
		sbuf_reset(&value);
		if (vault_parse_gcloud(out.buf, out.len, &value, e) < 0) {
			goto out;
		}
		if (memchr(value.buf, '\0', value.len)) {
			err_set(e, "%s: the secret holds a NUL byte", key.buf);
			goto out;
		}
		json_object_set_new(results, key.buf, json_stringn(value.buf, value.len));
		if (!json_object_get(results, key.buf)) {
			err_set(e, "%s: the secret is not UTF-8 text", key.buf);
			goto out;
		}
	}
	ret = 0;
out:
	strvec_clear(&secrets);
	strvec_clear(&parts);
	strvec_clear(&argv);
	wipe_sbuf(&out);
	wipe_sbuf(&value);
	sbuf_release(&key);
	sbuf_release(&user);
	return ret;
}

/* --- Doppler --- */

int vault_parse_doppler(const char *text, size_t len, json_t *results, struct err *e)
{
	json_t *j = load_json(text, len, "doppler secrets get", e), *v;
	const char *k;

	if (!j) {
		return -1;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(e, "doppler secrets get: expected an object");
	}
	json_object_foreach(j, k, v)
	{
		set_result(results, k, json_object_get(v, "computed"));
	}
	json_decref(j);
	return 0;
}

static int fetch_doppler(const char *from, const char *const *names, size_t n, json_t *results,
			 struct err *e)
{
	struct strvec secrets = STRVEC_INIT, parts = STRVEC_INIT, argv = STRVEC_INIT;
	struct sbuf out = SBUF_INIT;
	const char *token = getenv("DOPPLER_TOKEN");
	size_t i;
	int ret = -1;

	if (vrun((const char *[]){"doppler", "me", "--json", NULL}, NULL, VR_QUIET, NULL) != 0 &&
	    vrun((const char *[]){"doppler", "login", "-y", NULL}, NULL, 0, NULL) != 0) {
		err_set(e, "failed to login to Doppler");
		goto out;
	}
	prefixed(from, names, n, &secrets);
	if (!secrets.nr) {
		err_set(e, "name the secrets to read from Doppler");
		goto out;
	}
	strvec_pushv(&argv, (const char *[]){"doppler", "secrets", "get", NULL});
	for (i = 0; i < secrets.nr; i++) {
		const char *slash = strrchr(secrets.v[i], '/');
		strvec_push(&argv, slash ? slash + 1 : secrets.v[i]);
	}
	strvec_push(&argv, "--json");
	if (!token || strncmp(token, "dp.st", 5)) {
		split_slash(secrets.v[0], &parts);
		if (parts.nr < 2) {
			err_set(e, "missing project or config from '--from=project/config' option");
			goto out;
		}
		strvec_pushv(&argv, (const char *[]){"-p", parts.v[0], "-c", parts.v[1], NULL});
	}
	if (vrun((const char *const *)argv.v, NULL, 0, &out) != 0) {
		err_set(e, "could not read secrets from Doppler");
		goto out;
	}
	ret = vault_parse_doppler(out.buf, out.len, results, e);
out:
	strvec_clear(&secrets);
	strvec_clear(&parts);
	strvec_clear(&argv);
	wipe_sbuf(&out);
	return ret;
}

/* --- Enpass --- */

static bool has(const struct strvec *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->nr; i++) {
		if (!strcmp(sv->v[i], s)) {
			return true;
		}
	}
	return false;
}

/* Ruby's present?: not empty, not only whitespace. */
static bool present(const char *s)
{
	for (; s && *s; s++) {
		if (!isspace((unsigned char)*s)) {
			return true;
		}
	}
	return false;
}

int vault_parse_enpass(const char *text, size_t len, const struct strvec *secrets, json_t *results,
		       struct err *e)
{
	json_t *j = load_json(text, len, "enpass-cli show", e), *o;
	struct sbuf key = SBUF_INIT;
	size_t i;
	int ret = -1;

	if (!j) {
		return -1;
	}
	if (!json_is_array(j)) {
		err_set(e, "enpass-cli show: expected an array");
		goto out;
	}
	json_array_foreach(j, i, o)
	{
		const char *title = jstr_member(o, "title"), *label = jstr_member(o, "label");
		json_t *pw = json_object_get(o, "password");

		if (!title || !json_is_string(pw) || !present(json_string_value(pw))) {
			continue;
		}
		sbuf_reset(&key);
		sbuf_addstr(&key, title);
		if (label && *label) {
			sbuf_addf(&key, "%s%s", key.len ? "/" : "", label);
		}
		if (has(secrets, title) || has(secrets, key.buf)) {
			if (json_object_get(results, key.buf)) {
				err_set(e, "%s is present more than once", key.buf);
				goto out;
			}
			set_result(results, key.buf, pw);
		}
	}
	ret = 0;
out:
	sbuf_release(&key);
	json_decref(j);
	return ret;
}

static int fetch_enpass(const char *from, const char *const *names, size_t n, json_t *results,
			struct err *e)
{
	struct strvec argv = STRVEC_INIT, titles = STRVEC_INIT, secrets = STRVEC_INIT;
	struct sbuf out = SBUF_INIT;
	size_t i;
	int ret = -1;

	if (!from) {
		return err_set(e, "enpass: name the vault with --from PATH");
	}
	for (i = 0; i < n; i++) {
		const char *slash = strrchr(names[i], '/');
		struct sbuf t = SBUF_INIT;

		strvec_push(&secrets, names[i]);
		if (slash && slash > names[i]) {
			sbuf_add(&t, names[i], (size_t)(slash - names[i]));
		} else {
			sbuf_addstr(&t, slash ? slash + 1 : names[i]);
		}
		if (!has(&titles, t.buf)) {
			strvec_push(&titles, t.buf);
		}
		sbuf_release(&t);
	}
	strvec_pushv(&argv, (const char *[]){"enpass-cli", "-json", "-vault", from, "show", NULL});
	for (i = 0; i < titles.nr; i++) {
		strvec_push(&argv, titles.v[i]);
	}
	vrun((const char *const *)argv.v, NULL, 0, &out);
	strip(&out);
	ret = vault_parse_enpass(out.buf, out.len, &secrets, results, e);
	strvec_clear(&argv);
	strvec_clear(&titles);
	strvec_clear(&secrets);
	wipe_sbuf(&out);
	return ret;
}

/* --- Passbolt --- */

int vault_parse_passbolt_folders(const char *text, size_t len, json_t *folders, struct err *e)
{
	json_t *j = load_json(text, len, "passbolt list folders", e), *o;
	size_t i;

	if (!j) {
		return -1;
	}
	if (!json_is_array(j)) {
		json_decref(j);
		return err_set(e, "passbolt list folders: expected an array");
	}
	json_array_foreach(j, i, o)
	{
		if (json_is_object(o)) {
			json_array_append(folders, o);
		}
	}
	json_decref(j);
	return 0;
}

int vault_parse_passbolt_resources(const char *text, size_t len, json_t *results, struct err *e)
{
	json_t *j = load_json(text, len, "passbolt list resources", e), *o;
	size_t i;

	if (!j) {
		return -1;
	}
	if (!json_is_array(j)) {
		json_decref(j);
		return err_set(e, "passbolt list resources: expected an array");
	}
	json_array_foreach(j, i, o)
	{
		const char *name = jstr_member(o, "name");
		if (name) {
			set_result(results, name, json_object_get(o, "password"));
		}
	}
	json_decref(j);
	return 0;
}

/* An id as text: ids are strings, but Kamal reads them with to_s. */
static void id_text(const json_t *v, struct sbuf *out)
{
	if (json_is_string(v)) {
		sbuf_addstr(out, json_string_value(v));
	} else if (json_is_integer(v)) {
		sbuf_addf(out, "%lld", (long long)json_integer_value(v));
	}
}

void vault_passbolt_folder_path(const json_t *folder, const json_t *folders, struct sbuf *out)
{
	struct strvec names = STRVEC_INIT;
	struct sbuf parent = SBUF_INIT, id = SBUF_INIT;
	unsigned depth;
	size_t i, k;

	/* a parent chain that loops (untrusted output) ends after MAX_FOLDER_DEPTH */
	for (depth = 0; folder && depth < MAX_FOLDER_DEPTH; depth++) {
		const json_t *next = NULL, *f;
		const char *name = jstr_member(folder, "name");

		push_front(&names, name ? name : "");
		sbuf_reset(&parent);
		id_text(json_object_get(folder, "folder_parent_id"), &parent);
		if (!parent.len) {
			break;
		}
		json_array_foreach(folders, k, f)
		{
			sbuf_reset(&id);
			id_text(json_object_get(f, "id"), &id);
			if (!strcmp(id.buf, parent.buf)) {
				next = f;
				break;
			}
		}
		folder = next;
	}
	for (i = 0; i < names.nr; i++) {
		sbuf_addf(out, "%s%s", i ? "/" : "", names.v[i]);
	}
	strvec_clear(&names);
	sbuf_release(&parent);
	sbuf_release(&id);
}

/* A string in passbolt's filter language: "..." with \ and " escaped. */
static void expr_quote(struct sbuf *sb, const char *s)
{
	sbuf_addch(sb, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			sbuf_addch(sb, '\\');
		}
		sbuf_addch(sb, *s);
	}
	sbuf_addch(sb, '"');
}

static int passbolt_list_folders(const char *filter, json_t *folders, struct err *e)
{
	struct sbuf out = SBUF_INIT;
	int ret = -1;

	if (vrun(
		(const char *[]){"passbolt", "list", "folders", "--filter", filter, "--json", NULL},
		NULL, 0, &out) == 0) {
		ret = vault_parse_passbolt_folders(out.buf, out.len, folders, e);
	}
	sbuf_release(&out);
	return ret;
}

/* The folders the secrets live in, parents first (Kamal's secrets_get_folders). */
static int passbolt_folders(const struct strvec *secrets, json_t *all, struct err *e)
{
	struct strvec paths = STRVEC_INIT, parents = STRVEC_INIT, parts = STRVEC_INIT;
	struct sbuf filter = SBUF_INIT, path = SBUF_INIT, missing = SBUF_INIT, id = SBUF_INIT;
	json_t *top = json_array(), *f;
	size_t i, j, k;
	int ret = -1;

	for (i = 0; i < secrets->nr; i++) {
		const char *slash = strrchr(secrets->v[i], '/');
		if (slash) {
			sbuf_reset(&path);
			sbuf_add(&path, secrets->v[i], (size_t)(slash - secrets->v[i]));
			if (!has(&paths, path.buf)) {
				strvec_push(&paths, path.buf);
			}
		}
	}
	if (!paths.nr) {
		ret = 0;
		goto out;
	}
	for (i = 0; i < paths.nr; i++) {
		const char *slash = strchr(paths.v[i], '/');
		sbuf_reset(&path);
		sbuf_add(&path, paths.v[i],
			 slash ? (size_t)(slash - paths.v[i]) : strlen(paths.v[i]));
		if (!has(&parents, path.buf)) {
			strvec_push(&parents, path.buf);
		}
	}
	for (i = 0; i < parents.nr; i++) {
		sbuf_addstr(&filter, i ? " || Name == " : "Name == ");
		expr_quote(&filter, parents.v[i]);
	}
	if (passbolt_list_folders(filter.buf, top, e) < 0) {
		if (!err_isset(e)) {
			err_set(e, "could not read folders from Passbolt");
		}
		goto out;
	}
	json_array_extend(all, top);
	for (i = 0; i < paths.nr; i++) {
		const json_t *parent = NULL;

		strvec_clear(&parts);
		split_slash(paths.v[i], &parts);
		if (parts.nr <= 1) {
			continue;
		}
		json_array_foreach(top, k, f)
		{
			const char *name = jstr_member(f, "name");
			if (name && !strcmp(name, parts.v[0])) {
				parent = f;
				break;
			}
		}
		for (j = 1; parent && j < parts.nr; j++) {
			json_t *nested = json_array();
			struct err ignore = ERR_INIT;

			sbuf_reset(&filter);
			sbuf_reset(&id);
			id_text(json_object_get(parent, "id"), &id);
			sbuf_addstr(&filter, "Name == ");
			expr_quote(&filter, parts.v[j]);
			sbuf_addstr(&filter, " && FolderParentID == ");
			expr_quote(&filter, id.buf);
			/* a level that cannot be listed is skipped, as Kamal does */
			if (passbolt_list_folders(filter.buf, nested, &ignore) == 0) {
				if (!json_array_size(nested)) {
					json_decref(nested);
					err_release(&ignore);
					break;
				}
				json_array_extend(all, nested);
				parent = json_array_get(all, json_array_size(all) -
								 json_array_size(nested));
			}
			json_decref(nested);
			err_release(&ignore);
		}
	}
	for (i = 0; i < paths.nr; i++) {
		bool found = false;
		json_array_foreach(all, k, f)
		{
			sbuf_reset(&path);
			vault_passbolt_folder_path(f, all, &path);
			if (!strcmp(path.buf, paths.v[i])) {
				found = true;
				break;
			}
		}
		if (!found) {
			sbuf_addf(&missing, "%s%s", missing.len ? ", " : "", paths.v[i]);
		}
	}
	if (missing.len) {
		err_set(e, "could not find the following folders in Passbolt: %s", missing.buf);
		goto out;
	}
	ret = 0;
out:
	json_decref(top);
	strvec_clear(&paths);
	strvec_clear(&parents);
	strvec_clear(&parts);
	sbuf_release(&filter);
	sbuf_release(&path);
	sbuf_release(&missing);
	sbuf_release(&id);
	return ret;
}

static int fetch_passbolt(const char *from, const char *const *names, size_t n, json_t *results,
			  struct err *e)
{
	struct strvec secrets = STRVEC_INIT, argv = STRVEC_INIT, bare = STRVEC_INIT;
	struct sbuf filter = SBUF_INIT, path = SBUF_INIT, out = SBUF_INIT, id = SBUF_INIT,
		    missing = SBUF_INIT;
	json_t *folders = json_array(), *f;
	size_t i, k, nconds = 0;
	int ret = -1;

	if (vrun((const char *[]){"passbolt", "verify", NULL}, NULL, 0, NULL) != 0) {
		err_set(e, "failed to login to Passbolt");
		goto out;
	}
	prefixed(from, names, n, &secrets);
	if (!secrets.nr) {
		err_set(e, "no secrets given to fetch");
		goto out;
	}
	if (passbolt_folders(&secrets, folders, e) < 0) {
		goto out;
	}
	for (i = 0; i < secrets.nr; i++) {
		const char *slash = strrchr(secrets.v[i], '/');
		const char *name = slash ? slash + 1 : secrets.v[i];
		const json_t *folder = NULL;

		strvec_push(&bare, name);
		if (slash) {
			/* the folder whose whole path is the secret's (Kamal tries each prefix) */
			const char *p = secrets.v[i];
			for (;;) {
				const char *end = strchr(p, '/');
				if (!end || end > slash) {
					break;
				}
				sbuf_reset(&path);
				sbuf_add(&path, secrets.v[i], (size_t)(end - secrets.v[i]));
				json_array_foreach(folders, k, f)
				{
					struct sbuf fp = SBUF_INIT;
					vault_passbolt_folder_path(f, folders, &fp);
					if (!strcmp(fp.buf, path.buf)) {
						folder = f;
						sbuf_release(&fp);
						break;
					}
					sbuf_release(&fp);
				}
				p = end + 1;
			}
			if (!folder) {
				continue;
			}
			sbuf_reset(&id);
			id_text(json_object_get(folder, "id"), &id);
			sbuf_addstr(&filter, nconds++ ? " || (Name == " : "(Name == ");
			expr_quote(&filter, name);
			sbuf_addstr(&filter, " && FolderParentID == ");
			expr_quote(&filter, id.buf);
			sbuf_addch(&filter, ')');
		} else {
			sbuf_addstr(&filter, nconds++ ? " || Name == " : "Name == ");
			expr_quote(&filter, name);
		}
	}
	strvec_pushv(&argv, (const char *[]){"passbolt", "list", "resources", NULL});
	if (nconds) {
		strvec_pushv(&argv, (const char *[]){"--filter", filter.buf, NULL});
	}
	json_array_foreach(folders, k, f)
	{
		sbuf_reset(&id);
		id_text(json_object_get(f, "id"), &id);
		strvec_pushv(&argv, (const char *[]){"--folder", id.buf, NULL});
	}
	strvec_pushv(&argv,
		     (const char *[]){"--column", "name", "--column", "password", "--json", NULL});
	if (vrun((const char *const *)argv.v, NULL, 0, &out) != 0) {
		err_set(e, "could not read secrets from Passbolt");
		goto out;
	}
	if (vault_parse_passbolt_resources(out.buf, out.len, results, e) < 0) {
		goto out;
	}
	join_missing(&missing, &bare, results);
	if (missing.len) {
		err_set(e, "could not find the following secrets in Passbolt: %s", missing.buf);
		goto out;
	}
	ret = 0;
out:
	json_decref(folders);
	strvec_clear(&secrets);
	strvec_clear(&argv);
	strvec_clear(&bare);
	sbuf_release(&filter);
	sbuf_release(&path);
	wipe_sbuf(&out);
	sbuf_release(&id);
	sbuf_release(&missing);
	return ret;
}

/* --- the test adapter --- */

static void replace_all(struct sbuf *sb, const char *from, char to)
{
	char *p;
	size_t n = strlen(from);

	while ((p = strstr(sb->buf, from))) {
		*p = to;
		memmove(p + 1, p + n, strlen(p + n) + 1);
		sb->len -= n - 1;
	}
}

static int fetch_test(const char *from, const char *const *names, size_t n, json_t *results)
{
	struct strvec secrets = STRVEC_INIT;
	struct sbuf v = SBUF_INIT, r = SBUF_INIT;
	size_t i, k;

	prefixed(from, names, n, &secrets);
	for (i = 0; i < secrets.nr; i++) {
		sbuf_reset(&v);
		sbuf_addstr(&v, secrets.v[i]);
		replace_all(&v, "LPAREN", '(');
		replace_all(&v, "RPAREN", ')');
		/* Ruby reverses characters, not bytes: a UTF-8 sequence stays whole */
		sbuf_reset(&r);
		for (k = v.len; k > 0;) {
			size_t start = k - 1;
			while (start > 0 && ((unsigned char)v.buf[start] & 0xc0) == 0x80) {
				start--;
			}
			sbuf_add(&r, v.buf + start, k - start);
			k = start;
		}
		json_object_set_new(results, secrets.v[i], jtext_string(r.buf));
	}
	strvec_clear(&secrets);
	sbuf_release(&v);
	sbuf_release(&r);
	return 0;
}

/* --- dispatch --- */

enum adapter {
	AD_OP,
	AD_BW,
	AD_BWS,
	AD_LPASS,
	AD_AWS,
	AD_GCP,
	AD_DOPPLER,
	AD_ENPASS,
	AD_PASSBOLT,
	AD_TEST,
};

static const struct {
	const char *name;
	enum adapter ad;
} adapter_names[] = {
    {"1password", AD_OP},
    {"one_password", AD_OP},
    {"bitwarden", AD_BW},
    {"bitwarden-sm", AD_BWS},
    {"bitwarden_secrets_manager", AD_BWS},
    {"lastpass", AD_LPASS},
    {"last_pass", AD_LPASS},
    {"aws_secrets_manager", AD_AWS},
    {"gcp", AD_GCP},
    {"gcp_secret_manager", AD_GCP},
    {"doppler", AD_DOPPLER},
    {"enpass", AD_ENPASS},
    {"passbolt", AD_PASSBOLT},
    {"test", AD_TEST},
};

static const struct {
	const char *cli, *version_word, *what;
	bool needs_account;
} adapters[] = {
    [AD_OP] = {"op", "--version", "the 1Password CLI", true},
    [AD_BW] = {"bw", "--version", "the Bitwarden CLI", true},
    [AD_BWS] = {"bws", "--version", "the Bitwarden Secrets Manager CLI", false},
    [AD_LPASS] = {"lpass", "--version", "the LastPass CLI", true},
    [AD_AWS] = {"aws", "--version", "the AWS CLI", false},
    [AD_GCP] = {"gcloud", "--version", "the gcloud CLI", true},
    [AD_DOPPLER] = {"doppler", "--version", "the Doppler CLI", false},
    [AD_ENPASS] = {"enpass-cli", "version", "the Enpass CLI", false},
    [AD_PASSBOLT] = {"passbolt", "--version", "the Passbolt CLI", false},
    [AD_TEST] = {NULL, NULL, NULL, true},
};

int vault_fetch(const char *adapter, const char *account, const char *from,
		const char *const *names, size_t n, json_t **out, struct err *e)
{
	json_t *results;
	size_t i;
	int ret = -1;
	enum adapter ad;

	*out = NULL;
	for (i = 0; i < sizeof(adapter_names) / sizeof(adapter_names[0]); i++) {
		if (!strcasecmp(adapter, adapter_names[i].name)) {
			break;
		}
	}
	if (i == sizeof(adapter_names) / sizeof(adapter_names[0])) {
		return err_set(e,
			       "unknown secrets adapter '%s': expected 1password, bitwarden, "
			       "bitwarden-sm, lastpass, aws_secrets_manager, gcp, doppler, enpass "
			       "or passbolt",
			       adapter);
	}
	ad = adapter_names[i].ad;
	if (adapters[ad].needs_account && (!account || !*account)) {
		return err_set(e, "missing required option '--account'");
	}
	if (adapters[ad].cli &&
	    check_cli(adapters[ad].cli, adapters[ad].version_word, adapters[ad].what, e) < 0) {
		return -1;
	}
	results = json_object();
	switch (ad) {
	case AD_OP:
		ret = fetch_op(account, from, names, n, results, e);
		break;
	case AD_BW:
		ret = fetch_bw(account, from, names, n, results, e);
		break;
	case AD_BWS:
		ret = fetch_bws(from, names, n, results, e);
		break;
	case AD_LPASS:
		ret = fetch_lpass(account, from, names, n, results, e);
		break;
	case AD_AWS:
		ret = fetch_aws(account, from, names, n, results, e);
		break;
	case AD_GCP:
		ret = fetch_gcloud(account, from, names, n, results, e);
		break;
	case AD_DOPPLER:
		ret = fetch_doppler(from, names, n, results, e);
		break;
	case AD_ENPASS:
		ret = fetch_enpass(from, names, n, results, e);
		break;
	case AD_PASSBOLT:
		ret = fetch_passbolt(from, names, n, results, e);
		break;
	case AD_TEST:
		ret = fetch_test(from, names, n, results);
		break;
	}
	if (ret < 0) {
		json_decref(results);
		return -1;
	}
	*out = results;
	return 0;
}

int vault_extract(const char *name, const char *json, size_t len, struct sbuf *out, struct err *e)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL), *v, *found = NULL;
	struct sbuf suffix = SBUF_INIT;
	const char *k;
	char *text;

	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(e, "extract: expected the JSON object that fetch prints");
	}
	found = json_object_get(j, name);
	if (!found || json_is_null(found) || json_is_false(found)) {
		found = NULL;
		sbuf_addf(&suffix, "/%s", name);
		json_object_foreach(j, k, v)
		{
			size_t kl = strlen(k);
			if (kl >= suffix.len && !strcmp(k + kl - suffix.len, suffix.buf)) {
				found = v;
				break;
			}
		}
	}
	sbuf_release(&suffix);
	if (!found || json_is_null(found)) {
		json_decref(j);
		return err_set(e, "could not find secret %s", name);
	}
	if (json_is_string(found)) {
		sbuf_add(out, json_string_value(found), json_string_length(found));
	} else {
		text = json_dumps(found, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
		sbuf_addstr(out, text ? text : "");
		free(text);
	}
	json_decref(j);
	return 0;
}

/* --- shell words --- */

static bool shell_safe(unsigned char c)
{
	return isalnum(c) || strchr("_-.,:+/@", c);
}

void vault_shell_escape(struct sbuf *out, const char *s, size_t len)
{
	size_t i;

	if (!len) {
		sbuf_addstr(out, "''");
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n') {
			sbuf_addstr(out, "'\n'");
			continue;
		}
		/* one backslash per character: none before a UTF-8 continuation byte */
		if (c && !shell_safe(c) && (c & 0xc0) != 0x80) {
			sbuf_addch(out, '\\');
		}
		sbuf_addch(out, (char)c);
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int vault_shell_split(const char *s, struct strvec *out, struct err *e)
{
	struct sbuf w = SBUF_INIT;
	bool in_word = false;
	int ret = -1;

	while (*s) {
		if (is_space(*s)) {
			if (in_word) {
				strvec_push(out, w.buf);
				sbuf_reset(&w);
				in_word = false;
			}
			s++;
			continue;
		}
		in_word = true;
		if (*s == '\'') {
			const char *end = strchr(s + 1, '\'');
			if (!end) {
				err_set(e, "unmatched single quote");
				goto out;
			}
			sbuf_add(&w, s + 1, (size_t)(end - s - 1));
			s = end + 1;
		} else if (*s == '"') {
			for (s++; *s && *s != '"'; s++) {
				if (*s == '\\' && s[1]) {
					if (!strchr("$`\"\\\n", s[1])) {
						sbuf_addch(&w, '\\');
					}
					s++;
				}
				sbuf_addch(&w, *s);
			}
			if (!*s) {
				err_set(e, "unmatched double quote");
				goto out;
			}
			s++;
		} else if (*s == '\\') {
			if (s[1]) {
				s++;
				sbuf_addch(&w, *s);
			}
			s++;
		} else {
			sbuf_addch(&w, *s++);
		}
	}
	if (in_word) {
		strvec_push(out, w.buf);
	}
	ret = 0;
out:
	wipe_sbuf(&w);
	return ret;
}

/* --- $(kamal secrets ...) in a secrets file --- */

int vault_run_inline(const struct strvec *args, struct sbuf *out, struct err *e)
{
	const char *adapter = NULL, *account = NULL, *from = NULL;
	bool inl = false;
	const struct opt fetch_opts[] = {
	    OPT_STRING('a', "adapter", &adapter, "NAME", NULL),
	    OPT_STRING(0, "account", &account, "ACCOUNT", NULL),
	    OPT_STRING(0, "from", &from, "FROM", NULL),
	    OPT_BOOL(0, "inline", &inl, NULL),
	    OPT_END(),
	};
	const struct opt extract_opts[] = {
	    OPT_BOOL(0, "inline", &inl, NULL),
	    OPT_END(),
	};
	const struct opt *tables[2] = {NULL, NULL};
	const char **argv = NULL;
	json_t *j = NULL;
	char *text;
	int argc, ret = -1;

	if (args->nr < 2 || strcmp(args->v[0], "secrets") ||
	    (strcmp(args->v[1], "fetch") && strcmp(args->v[1], "extract"))) {
		return err_set(e, "only 'secrets fetch' and 'secrets extract' run inside a secrets "
				  "file");
	}
	tables[0] = strcmp(args->v[1], "fetch") ? extract_opts : fetch_opts;
	/* opt_parse moves operands forward: it works on a copy of the pointers */
	argv = xcalloc(args->nr, sizeof(*argv));
	memcpy(argv, args->v + 2, (args->nr - 2) * sizeof(*argv));
	argc = opt_parse((int)args->nr - 2, argv, tables, 0, e);
	if (argc < 0) {
		goto out;
	}
	if (tables[0] == extract_opts) {
		if (argc != 2) {
			err_set(e, "usage: secrets extract NAME JSON");
			goto out;
		}
		ret = vault_extract(argv[0], argv[1], strlen(argv[1]), out, e);
		goto out;
	}
	if (!adapter) {
		err_set(e, "missing required option '--adapter'");
		goto out;
	}
	if (vault_fetch(adapter, account, from, argv, (size_t)argc, &j, e) < 0) {
		goto out;
	}
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text) {
		vault_shell_escape(out, text, strlen(text));
		explicit_bzero(text, strlen(text));
		free(text);
		ret = 0;
	} else {
		err_set(e, "cannot write the secrets as JSON");
	}
out:
	json_decref(j);
	free(argv);
	return ret;
}
