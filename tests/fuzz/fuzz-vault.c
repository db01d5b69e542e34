/*
 * What a vendor's CLI prints is untrusted: the first byte picks a parser of
 * engine/vault.h, the rest is its input. Every parser either fills the
 * results or says why not; extract and shell splitting get the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct sbuf sb = SBUF_INIT, text = SBUF_INIT;
	struct strvec sv = STRVEC_INIT;
	json_t *results = json_object(), *folders = json_array();
	const char *p;
	size_t n, i;
	int r = 0;

	if (size < 1) {
		goto out;
	}
	p = (const char *)data + 1;
	n = size - 1;
	strvec_push(&sv, "FooBar");
	strvec_push(&sv, "FooBar/SECRET_1");
	switch (data[0] % 16) {
	case 0:
		r = vault_parse_op(p, n, true, false, results, &e);
		break;
	case 1:
		r = vault_parse_op(p, n, false, false, results, &e);
		break;
	case 2:
		r = vault_parse_op(p, n, false, true, results, &e);
		break;
	case 3:
		r = vault_parse_bw_status(p, n, &sb, &e);
		break;
	case 4:
		r = vault_parse_bw_item(p, n, "Item", &sv, false, results, &e);
		break;
	case 5:
		strvec_clear(&sv);
		r = vault_parse_bw_item(p, n, "Item", &sv, false, results, &e);
		break;
	case 6:
		r = vault_parse_bws(p, n, data[0] & 0x10, results, &e);
		break;
	case 7:
		r = vault_parse_lpass(p, n, results, &e);
		break;
	case 8:
		r = vault_parse_aws(p, n, results, &e);
		break;
	case 9:
		r = vault_parse_gcloud(p, n, &sb, &e);
		break;
	case 10:
		r = vault_parse_doppler(p, n, results, &e);
		break;
	case 11:
		r = vault_parse_enpass(p, n, &sv, results, &e);
		break;
	case 12:
		r = vault_parse_passbolt_folders(p, n, folders, &e);
		for (i = 0; r == 0 && i < json_array_size(folders); i++) {
			sbuf_reset(&sb);
			vault_passbolt_folder_path(json_array_get(folders, i), folders, &sb);
		}
		break;
	case 13:
		r = vault_parse_passbolt_resources(p, n, results, &e);
		break;
	case 14:
		r = vault_extract("A", p, n, &sb, &e);
		break;
	default:
		/* escaping then splitting gives the text back as one word */
		sbuf_add(&text, p, n);
		if (memchr(p, '\0', n)) {
			break;
		}
		vault_shell_escape(&sb, text.buf, text.len);
		strvec_clear(&sv);
		if (vault_shell_split(sb.buf, &sv, &e) < 0 || sv.nr != (text.len ? 1 : 1) ||
		    strcmp(sv.v[0], text.buf)) {
			__builtin_trap();
		}
		strvec_clear(&sv);
		(void)vault_shell_split(text.buf, &sv, &e);
		err_release(&e);
		goto out;
	}
	if ((r < 0) != err_isset(&e)) {
		__builtin_trap();
	}
	if (!json_is_object(results)) {
		__builtin_trap();
	}
out:
	err_release(&e);
	json_decref(results);
	json_decref(folders);
	sbuf_release(&sb);
	sbuf_release(&text);
	strvec_clear(&sv);
	return 0;
}
