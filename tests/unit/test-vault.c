/*
 * The parsers of each vendor's output, in the formats their CLIs document,
 * Kamal's extract, and Ruby's shell escaping and splitting.
 */
#include "engine/vault.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* The results as compact JSON (static), for comparing. */
static const char *dump(const json_t *j)
{
	static char buf[4096];
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	snprintf(buf, sizeof(buf), "%s", s ? s : "(null)");
	free(s);
	return buf;
}

#define PARSE_OK(call, want)                                                                       \
	do {                                                                                       \
		struct err e_ = ERR_INIT;                                                          \
		json_t *results = json_object();                                                   \
		(void)results;                                                                     \
		CHECK_INT(call, 0);                                                                \
		if (err_isset(&e_)) {                                                              \
			printf("#   %s\n", err_str(&e_));                                          \
		}                                                                                  \
		CHECK_STR(dump(results), want);                                                    \
		json_decref(results);                                                              \
		err_release(&e_);                                                                  \
	} while (0)

#define PARSE_FAILS(call, msg)                                                                     \
	do {                                                                                       \
		struct err e_ = ERR_INIT;                                                          \
		json_t *results = json_object();                                                   \
		(void)results;                                                                     \
		CHECK_INT(call, -1);                                                               \
		CHECK(strstr(err_str(&e_), msg) != NULL);                                          \
		if (!strstr(err_str(&e_), msg)) {                                                  \
			printf("#   got: %s\n", err_str(&e_));                                     \
		}                                                                                  \
		json_decref(results);                                                              \
		err_release(&e_);                                                                  \
	} while (0)

#define T(s) s, strlen(s)

static void test_op(void)
{
	const char *field = "{\"id\":\"password\",\"type\":\"CONCEALED\",\"purpose\":\"PASSWORD\","
			    "\"label\":\"password\",\"value\":\"pw-1\","
			    "\"reference\":\"op://Vault/Item/password\"}";
	const char *fields =
	    "[{\"id\":\"a\",\"label\":\"DB_PASSWORD\",\"value\":\"db-1\","
	    "\"reference\":\"op://Vault/Item/DB_PASSWORD\"},"
	    "{\"id\":\"b\",\"section\":{\"id\":\"s\",\"label\":\"Section\"},\"label\":\"KEY\","
	    "\"value\":\"k-2\",\"reference\":\"op://Vault/Item/Section/KEY\"}]";
	const char *item = "{\"id\":\"x\",\"title\":\"Item\",\"vault\":{\"name\":\"Vault\"},"
			   "\"fields\":[{\"id\":\"username\",\"label\":\"username\","
			   "\"reference\":\"op://Vault/Item/username\",\"value\":\"me\"},"
			   "{\"id\":\"notes\",\"label\":\"notes\",\"reference\":\"op://Vault/Item/"
			   "notesPlain\"}]}";

	PARSE_OK(vault_parse_op(T(field), true, false, results, &e_), "{\"Vault/Item\":\"pw-1\"}");
	PARSE_OK(vault_parse_op(T(fields), false, false, results, &e_),
		 "{\"Vault/Item/DB_PASSWORD\":\"db-1\",\"Vault/Item/Section/KEY\":\"k-2\"}");
	/* a field without a value gives null, as Kamal's JSON does */
	PARSE_OK(vault_parse_op(T(item), false, true, results, &e_),
		 "{\"Vault/Item/username\":\"me\",\"Vault/Item/notesPlain\":null}");
	PARSE_FAILS(vault_parse_op(T("[{\"value\":\"v\"}]"), false, false, results, &e_),
		    "without a \"reference\"");
	PARSE_FAILS(vault_parse_op(T("not json secret-123"), true, false, results, &e_),
		    "expected JSON");
	PARSE_FAILS(vault_parse_op(T("{}"), false, true, results, &e_), "\"fields\"");
}

static void test_bw(void)
{
	struct sbuf status = SBUF_INIT;
	struct strvec fields = STRVEC_INIT;
	struct err e = ERR_INIT;
	const char *login = "{\"object\":\"item\",\"id\":\"1\",\"name\":\"Item\",\"type\":1,"
			    "\"login\":{\"username\":\"u\",\"password\":\"pw-3\"},"
			    "\"fields\":[{\"name\":\"A\",\"value\":\"a-1\",\"type\":0},"
			    "{\"name\":\"B\",\"value\":\"b-2\",\"type\":1}]}";
	const char *note = "{\"object\":\"item\",\"name\":\"Note\",\"type\":2,\"login\":null,"
			   "\"fields\":[{\"name\":\"X\",\"value\":\"x-1\"}]}";

	CHECK_INT(vault_parse_bw_status(T("{\"serverUrl\":null,\"userEmail\":\"me@example.com\","
					  "\"status\":\"locked\"}"),
					&status, &e),
		  0);
	CHECK_STR(status.buf, "locked");
	sbuf_release(&status);

	PARSE_OK(vault_parse_bw_item(T(login), "Item", &fields, false, results, &e_),
		 "{\"Item\":\"pw-3\"}");
	strvec_push(&fields, "B");
	PARSE_OK(vault_parse_bw_item(T(login), "Item", &fields, false, results, &e_),
		 "{\"Item/B\":\"b-2\"}");
	PARSE_FAILS(vault_parse_bw_item(T(login), "Item", &fields, true, results, &e_),
		    "could not find field '' in item Item");
	strvec_push(&fields, "C");
	PARSE_FAILS(vault_parse_bw_item(T(login), "Item", &fields, false, results, &e_),
		    "could not find field C in item Item in Bitwarden");
	strvec_clear(&fields);
	/* not a login: every custom field */
	PARSE_OK(vault_parse_bw_item(T(note), "Note", &fields, false, results, &e_),
		 "{\"Note/X\":\"x-1\"}");
	PARSE_FAILS(
	    vault_parse_bw_item(T("{\"login\":null}"), "Card", &fields, false, results, &e_),
	    "not a login type item and no fields were specified");
	err_release(&e);
}

static void test_bws(void)
{
	PARSE_OK(vault_parse_bws(T("{\"object\":\"secret\",\"id\":\"uuid-1\",\"key\":\"KEY_A\","
				   "\"value\":\"va\",\"note\":\"\"}"),
				 false, results, &e_),
		 "{\"KEY_A\":\"va\"}");
	PARSE_OK(
	    vault_parse_bws(T("[{\"key\":\"A\",\"value\":\"1\"},{\"key\":\"B\",\"value\":\"2\"}]"),
			    true, results, &e_),
	    "{\"A\":\"1\",\"B\":\"2\"}");
	PARSE_FAILS(vault_parse_bws(T("{\"value\":\"v\"}"), false, results, &e_), "\"key\"");
	PARSE_FAILS(vault_parse_bws(T("{}"), true, results, &e_), "expected an array");
}

static void test_lpass(void)
{
	PARSE_OK(vault_parse_lpass(T("[{\"id\":\"1\",\"name\":\"A\",\"fullname\":\"Folder/A\","
				     "\"username\":\"\",\"password\":\"pa\",\"group\":\"Folder\"},"
				     "{\"id\":\"2\",\"name\":\"B\",\"fullname\":\"B\",\"password\":"
				     "\"pb\"}]"),
				   results, &e_),
		 "{\"Folder/A\":\"pa\",\"B\":\"pb\"}");
	PARSE_FAILS(vault_parse_lpass(T("{}"), results, &e_), "expected an array");
}

static void test_aws(void)
{
	PARSE_OK(
	    vault_parse_aws(
		T("{\"SecretValues\":[{\"ARN\":\"arn:1\",\"Name\":\"app/db\",\"SecretString\":"
		  "\"{\\\"user\\\":\\\"u\\\",\\\"port\\\":5432,\\\"opts\\\":{\\\"a\\\":[1,2]}}\"},"
		  "{\"Name\":\"plain\",\"SecretString\":\"not json\"},"
		  "{\"Name\":\"quoted\",\"SecretString\":\"\\\"q\\\"\"},"
		  "{\"Name\":\"number\",\"SecretString\":\"12\"}],\"Errors\":[]}"),
		results, &e_),
	    "{\"app/db/user\":\"u\",\"app/db/port\":\"5432\",\"app/db/opts\":\"{\\\"a\\\":[1,2]}\","
	    "\"plain\":\"not json\",\"quoted\":\"q\",\"number\":\"12\"}");
	PARSE_FAILS(vault_parse_aws(T("{\"SecretValues\":[],\"Errors\":[{\"SecretId\":\"x\","
				      "\"ErrorCode\":\"ResourceNotFoundException\",\"Message\":"
				      "\"Secrets Manager can't find the specified secret.\"}]}"),
				    results, &e_),
		    "x: Secrets Manager can't find the specified secret.");
	PARSE_FAILS(vault_parse_aws(T("{\"SecretValues\":[{\"Name\":\"bin\",\"SecretBinary\":\"AA"
				      "==\"}]}"),
				    results, &e_),
		    "SecretString");
}

static void test_gcloud(void)
{
	struct sbuf v = SBUF_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(vault_parse_gcloud(T("{\"name\":\"projects/1/secrets/db/versions/3\",\"payload\":"
				       "{\"data\":\"c2VjcmV0LXZhbHVlCg==\",\"dataCrc32c\":\"1\"}}"),
				     &v, &e),
		  0);
	CHECK_STR(v.buf, "secret-value\n");
	sbuf_reset(&v);
	/* decode64 skips what is not base64, as Ruby's does */
	CHECK_INT(vault_parse_gcloud(T("{\"payload\":{\"data\":\"YW\\nJj\"}}"), &v, &e), 0);
	CHECK_STR(v.buf, "abc");
	CHECK_INT(vault_parse_gcloud(T("{\"payload\":{}}"), &v, &e), -1);
	CHECK(strstr(err_str(&e), "payload.data") != NULL);
	sbuf_release(&v);
	err_release(&e);
}

static void test_doppler(void)
{
	PARSE_OK(
	    vault_parse_doppler(T("{\"SECRET1\":{\"computed\":\"s1\",\"computedVisibility\":"
				  "\"unmasked\",\"note\":\"\"},\"SECRET2\":{\"computed\":\"s2\"}}"),
				results, &e_),
	    "{\"SECRET1\":\"s1\",\"SECRET2\":\"s2\"}");
	PARSE_FAILS(vault_parse_doppler(T("[]"), results, &e_), "expected an object");
}

static void test_enpass(void)
{
	struct strvec want = STRVEC_INIT;
	const char *out =
	    "[{\"category\":\"computer\",\"label\":\"SECRET_1\",\"login\":\"\",\"password\":\"p1\","
	    "\"title\":\"FooBar\",\"type\":\"password\"},"
	    "{\"category\":\"computer\",\"label\":\"SECRET_2\",\"password\":\"p2\",\"title\":"
	    "\"FooBar\"},"
	    "{\"label\":\"SECRET_3\",\"password\":\"p3\",\"title\":\"Hello\"},"
	    "{\"label\":\"\",\"password\":\"p4\",\"title\":\"FooBar\"},"
	    "{\"label\":\"BLANK\",\"password\":\"  \",\"title\":\"FooBar\"}]";

	strvec_push(&want, "FooBar/SECRET_1");
	strvec_push(&want, "Hello");
	PARSE_OK(vault_parse_enpass(T(out), &want, results, &e_),
		 "{\"FooBar/SECRET_1\":\"p1\",\"Hello/SECRET_3\":\"p3\"}");
	strvec_clear(&want);
	strvec_push(&want, "FooBar");
	PARSE_OK(vault_parse_enpass(T(out), &want, results, &e_),
		 "{\"FooBar/SECRET_1\":\"p1\",\"FooBar/SECRET_2\":\"p2\",\"FooBar\":\"p4\"}");
	PARSE_FAILS(
	    vault_parse_enpass(T("[{\"title\":\"FooBar\",\"label\":\"A\",\"password\":\"x\"},"
				 "{\"title\":\"FooBar\",\"label\":\"A\",\"password\":\"y\"}]"),
			       &want, results, &e_),
	    "FooBar/A is present more than once");
	strvec_clear(&want);
}

static void test_passbolt(void)
{
	struct err e = ERR_INIT;
	struct sbuf path = SBUF_INIT;
	json_t *folders = json_array();

	CHECK_INT(vault_parse_passbolt_folders(
		      T("[{\"id\":\"p-1\",\"folder_parent_id\":\"\",\"name\":\"my-project\"},"
			"{\"id\":\"s-2\",\"folder_parent_id\":\"p-1\",\"name\":\"subfolder\"},"
			"{\"id\":\"l-3\",\"folder_parent_id\":\"l-4\",\"name\":\"loop-a\"},"
			"{\"id\":\"l-4\",\"folder_parent_id\":\"l-3\",\"name\":\"loop-b\"}]"),
		      folders, &e),
		  0);
	CHECK_INT(json_array_size(folders), 4);
	vault_passbolt_folder_path(json_array_get(folders, 1), folders, &path);
	CHECK_STR(path.buf, "my-project/subfolder");
	sbuf_reset(&path);
	/* parents that loop end somewhere */
	vault_passbolt_folder_path(json_array_get(folders, 2), folders, &path);
	CHECK(path.len > 0);
	sbuf_release(&path);
	json_decref(folders);
	err_release(&e);

	PARSE_OK(
	    vault_parse_passbolt_resources(
		T("[{\"id\":\"4c\",\"folder_parent_id\":\"\",\"name\":\"FSECRET1\",\"username\":"
		  "\"\",\"uri\":\"\",\"password\":\"fsecret1\",\"description\":\"\"},"
		  "{\"name\":\"SECRET1\",\"password\":\"secret1\"}]"),
		results, &e_),
	    "{\"FSECRET1\":\"fsecret1\",\"SECRET1\":\"secret1\"}");
	PARSE_FAILS(vault_parse_passbolt_resources(T("{}"), results, &e_), "expected an array");
}

static void extract_is(const char *name, const char *json, const char *want)
{
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	CHECK_INT(vault_extract(name, json, strlen(json), &out, &e), 0);
	CHECK_STR(out.buf, want);
	sbuf_release(&out);
	err_release(&e);
}

static void test_extract(void)
{
	struct sbuf out = SBUF_INIT;
	struct err e = ERR_INIT;

	extract_is("A", "{\"A\":\"a\",\"x/A\":\"no\"}", "a");
	extract_is("A", "{\"Vault/Item/A\":\"va\",\"B\":\"b\"}", "va");
	extract_is("PORT", "{\"PORT\":5432}", "5432");
	extract_is("A", "{\"A\":null,\"x/A\":\"by suffix\"}", "by suffix");
	CHECK_INT(vault_extract("C", T("{\"A\":\"a\",\"xC\":\"no\"}"), &out, &e), -1);
	CHECK_STR(err_str(&e), "could not find secret C");
	CHECK_INT(vault_extract("C", T("[\"secret-in-array\"]"), &out, &e), -1);
	CHECK(strstr(err_str(&e), "secret-in-array") == NULL);
	sbuf_release(&out);
	err_release(&e);
}

static void escape_is(const char *in, const char *want)
{
	struct sbuf out = SBUF_INIT;
	struct strvec words = STRVEC_INIT;
	struct err e = ERR_INIT;

	vault_shell_escape(&out, in, strlen(in));
	CHECK_STR(out.buf, want);
	/* and back: one word, the same bytes */
	CHECK_INT(vault_shell_split(out.buf, &words, &e), 0);
	CHECK_INT(words.nr, 1);
	if (words.nr == 1) {
		CHECK_STR(words.v[0], in);
	}
	strvec_clear(&words);
	sbuf_release(&out);
	err_release(&e);
}

static void test_shell_words(void)
{
	struct strvec w = STRVEC_INIT;
	struct err e = ERR_INIT;

	escape_is("{\"A\":\"x y\"}", "\\{\\\"A\\\":\\\"x\\ y\\\"\\}");
	escape_is("a-b_c.d,e:f+g/h@i", "a-b_c.d,e:f+g/h@i");
	escape_is("", "''");
	escape_is("two\nlines", "two'\n'lines");
	escape_is("caf\xc3\xa9 $x `y` 'z'", "caf\\\xc3\xa9\\ \\$x\\ \\`y\\`\\ \\'z\\'");

	CHECK_INT(vault_shell_split("secrets  extract A 'b c' \"d \\\"e\\\" \\x\" f\\ g\n", &w, &e),
		  0);
	CHECK_INT(w.nr, 6);
	if (w.nr == 6) {
		CHECK_STR(w.v[3], "b c");
		CHECK_STR(w.v[4], "d \"e\" \\x");
		CHECK_STR(w.v[5], "f g");
	}
	strvec_clear(&w);
	CHECK_INT(vault_shell_split("a 'secret-value", &w, &e), -1);
	CHECK_STR(err_str(&e), "unmatched single quote");
	CHECK_INT(vault_shell_split("a \"secret-value", &w, &e), -1);
	CHECK_STR(err_str(&e), "unmatched double quote");
	strvec_clear(&w);
	err_release(&e);
}

static void test_fetch_test_adapter(void)
{
	const char *names[] = {"A", "LPARENbRPAREN"};
	struct err e = ERR_INIT;
	json_t *j = NULL;

	CHECK_INT(vault_fetch("test", "acct", "Vault/Item", names, 2, &j, &e), 0);
	CHECK_STR(dump(j), "{\"Vault/Item/A\":\"A/metI/tluaV\",\"Vault/Item/LPARENbRPAREN\":"
			   "\")b(/metI/tluaV\"}");
	json_decref(j);
	CHECK_INT(vault_fetch("Test", NULL, NULL, names, 1, &j, &e), -1);
	CHECK_STR(err_str(&e), "missing required option '--account'");
	CHECK_INT(vault_fetch("keepass", "a", NULL, names, 1, &j, &e), -1);
	CHECK(strstr(err_str(&e), "unknown secrets adapter 'keepass'") != NULL);
	err_release(&e);
}

int main(void)
{
	UNIT_RUN(test_op);
	UNIT_RUN(test_bw);
	UNIT_RUN(test_bws);
	UNIT_RUN(test_lpass);
	UNIT_RUN(test_aws);
	UNIT_RUN(test_gcloud);
	UNIT_RUN(test_doppler);
	UNIT_RUN(test_enpass);
	UNIT_RUN(test_passbolt);
	UNIT_RUN(test_extract);
	UNIT_RUN(test_shell_words);
	UNIT_RUN(test_fetch_test_adapter);
	return unit_done();
}
