/*
 * ssh-keys:* — the keys that may reach berthd, their rights, and the
 * authorized_keys file sshd reads for the berth user.
 *
 * Each key's line forces the command BERTHD_SSH_COMMAND with the key's name
 * (sshd runs it through the user's shell, so a name is limited to bytes that
 * need no quoting) and turns off forwarding and ~/.ssh/rc.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/berthd.h"
#include "daemon/sshcmd.h"
#include "lib/banned.h"
#include "lib/file.h"
#include "lib/opt.h"
#include "lib/sbuf.h"
#include "lib/slice.h"
#include "lib/xalloc.h"

#define KEY_NAME_MAX 64
#define KEY_MAX	     16384

static const char *const key_types[] = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

static bool valid_key_name(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > KEY_NAME_MAX || n[0] == '-' || n[0] == '.') {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '@')) {
			return false;
		}
	}
	return true;
}

int bd_key_parse(const char *text, size_t len, char **line, char **fp, struct err *e)
{
	struct slice rest = slice_make(text, len), l = SLICE_NULL, type, b64;
	unsigned char *blob = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct sbuf sb = SBUF_INIT;
	size_t nkeys = 0, i;
	int n, r = -1;

	if (len > KEY_MAX) {
		return err_set(e, "the key is too long (%zu bytes)", len);
	}
	while (rest.ptr) {
		struct slice x = slice_trim(slice_next(&rest, '\n'));
		if (x.len && x.ptr[0] != '#') {
			l = x;
			nkeys++;
		}
	}
	if (nkeys != 1) {
		return err_set(e,
			       nkeys ? "expected one public key, got %zu lines"
				     : "no public key given (on stdin, or as a file)",
			       nkeys);
	}
	type = slice_next_word(&l);
	b64 = slice_next_word(&l);
	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		if (slice_eq_cstr(type, key_types[i])) {
			break;
		}
	}
	if (i == sizeof(key_types) / sizeof(key_types[0])) {
		return err_set(e, "not a public key of a known type (such as ssh-ed25519 AAAA...)");
	}
	for (i = 0; i < b64.len; i++) {
		char c = b64.ptr[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '=')) {
			break;
		}
	}
	if (!b64.len || b64.len % 4 || i != b64.len) {
		return err_set(e, "the key's data is not base64");
	}
	blob = xmalloc(b64.len);
	n = EVP_DecodeBlock(blob, (const unsigned char *)b64.ptr, (int)b64.len);
	if (n < 0) {
		err_set(e, "the key's data is not base64");
		goto out;
	}
	n -= (b64.ptr[b64.len - 1] == '=') + (b64.ptr[b64.len - 2] == '=');
	/* The blob starts with its own type, as a length-prefixed string. */
	if (n < 4 || (size_t)n < 4 + type.len || blob[0] || blob[1] ||
	    ((size_t)blob[2] << 8 | blob[3]) != type.len || memcmp(blob + 4, type.ptr, type.len)) {
		err_set(e, "the key's data does not match its type '%.*s'", (int)type.len,
			type.ptr);
		goto out;
	}
	if (!EVP_Digest(blob, (size_t)n, md, &mdlen, EVP_sha256(), NULL)) {
		err_set(e, "cannot compute the key's fingerprint");
		goto out;
	}
	sbuf_addf(&sb, "%.*s %.*s", (int)type.len, type.ptr, (int)b64.len, b64.ptr);
	*line = sbuf_detach(&sb, NULL);
	sbuf_addstr(&sb, "SHA256:");
	sbuf_grow(&sb, 4 * ((mdlen + 2) / 3) + 1);
	n = EVP_EncodeBlock((unsigned char *)sb.buf + sb.len, md, (int)mdlen);
	while (n > 0 && sb.buf[sb.len + (size_t)n - 1] == '=') {
		n--;
	}
	sbuf_setlen(&sb, sb.len + (size_t)n);
	*fp = sbuf_detach(&sb, NULL);
	r = 0;
out:
	free(blob);
	sbuf_release(&sb);
	return r;
}

static const char *ssh_command(void)
{
	const char *c = getenv("BERTHD_SSH_COMMAND");
	return c && *c ? c : "/home/berth/berthd-ssh";
}

/* Reads BERTHD_SSH_UID / _GID: -1 when unset. */
static long env_id(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v) {
		return -1;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	return errno || *end || n < 0 ? -1 : n;
}

int bd_keys_write(struct store *s, const char *state_dir, struct err *e)
{
	struct store_key *ks = NULL;
	struct sbuf text = SBUF_INIT, dirb = SBUF_INIT, pathb = SBUF_INIT;
	char *dir, *path;
	long uid = env_id("BERTHD_SSH_UID"), gid = env_id("BERTHD_SSH_GID");
	size_t n = 0;
	int r = -1;

	sbuf_addf(&dirb, "%s/ssh", state_dir);
	sbuf_addf(&pathb, "%s/ssh/authorized_keys", state_dir);
	dir = dirb.buf;
	path = pathb.buf;
	if (strpbrk(ssh_command(), "\"\n")) {
		err_set(e, "BERTHD_SSH_COMMAND must not hold a quote or a newline");
		goto out;
	}
	if (store_key_list(s, &ks, &n, e) < 0) {
		goto out;
	}
	sbuf_addstr(&text, "# written by berthd: ssh-keys:add / ssh-keys:remove change it\n");
	for (size_t i = 0; i < n; i++) {
		sbuf_addf(&text,
			  "command=\"%s %s\",no-port-forwarding,no-agent-forwarding,"
			  "no-X11-forwarding,no-user-rc %s %s\n",
			  ssh_command(), ks[i].name, ks[i].line, ks[i].name);
	}
	if (mkdir(dir, 0700) == 0) {
		/* sshd reads the folder as the berth user (StrictModes) */
		if ((uid >= 0 || gid >= 0) && chown(dir, (uid_t)uid, (gid_t)gid) < 0) {
			err_set(e, "cannot chown '%s': %s", dir, strerror(errno));
			goto out;
		}
	} else if (errno != EEXIST) {
		err_set(e, "cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (file_write_atomic(path, text.buf, text.len, 0600, e) < 0) {
		goto out;
	}
	if ((uid >= 0 || gid >= 0) && chown(path, (uid_t)uid, (gid_t)gid) < 0) {
		err_set(e, "cannot chown '%s': %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	store_keys_free(ks, n);
	sbuf_release(&text);
	sbuf_release(&dirb);
	sbuf_release(&pathb);
	return r;
}

int bd_keys_sync(struct bd *bd, struct err *e)
{
	return bd_keys_write(&bd->store, bd->state_dir, e);
}

int bd_key_add(struct store *s, const char *state_dir, const char *name, const char *text,
	       size_t len, bool admin, char **fp, struct err *e)
{
	char *line = NULL;
	int r = -1;

	*fp = NULL;
	if (!valid_key_name(name)) {
		err_set(e,
			"invalid key name '%s' (letters, digits, '_', '-', '.', '@'; at most %d)",
			name, KEY_NAME_MAX);
		goto out;
	}
	if (bd_key_parse(text, len, &line, fp, e) < 0 ||
	    store_key_add(s, name, *fp, line, admin, e) < 0) {
		goto out;
	}
	if (bd_keys_write(s, state_dir, e) < 0) {
		/* not half added: the records go back to what authorized_keys still says */
		store_key_remove(s, name, NULL);
		r = -2;
		goto out;
	}
	r = 0;
out:
	if (r < 0) {
		free(*fp);
		*fp = NULL;
	}
	free(line);
	return r;
}

int bd_key_remove(struct store *s, const char *state_dir, const char *name, struct err *e)
{
	int r = store_key_remove(s, name, e);

	if (r > 0 && bd_keys_write(s, state_dir, e) < 0) {
		return -1;
	}
	return r;
}

int bd_key_grant(struct store *s, const char *name, const char *app, const char *right,
		 struct err *e)
{
	int r;

	if (!app) {
		r = store_key_get(s, name, NULL, e);
		return r > 0 && store_key_set_admin(s, name, true, e) < 0 ? -1 : r;
	}
	if (!right || (strcmp(right, "deploy") && strcmp(right, "read"))) {
		return err_set(e, "invalid right '%s' (deploy or read)", right ? right : "");
	}
	if (!sshcmd_valid_app(app)) {
		return err_set(e, "invalid app name '%s'", app);
	}
	r = store_key_get(s, name, NULL, e);
	return r > 0 && store_right_grant(s, name, app, right, e) < 0 ? -1 : r;
}

int bd_key_revoke(struct store *s, const char *name, const char *app, struct err *e)
{
	int r = store_key_get(s, name, NULL, e);

	if (r <= 0) {
		return r;
	}
	if (!app) {
		return store_key_set_admin(s, name, false, e) < 0 ? -1 : 1;
	}
	return store_right_revoke(s, name, app, e) < 0 ? -1 : 1;
}

static const char add_usage[] =
    "ssh-keys:add [--limited] NAME [FILE] (the key on stdin without FILE)";

int cmd_keys_add(struct bd *bd, int argc, const char **argv)
{
	bool limited = false;
	struct opt opts[] = {
	    OPT_BOOL(0, "limited", &limited, "no rights but those granted"),
	    OPT_END(),
	};
	struct sbuf text = SBUF_INIT;
	struct err e = ERR_INIT;
	char *fp = NULL;
	int n = bd_opts(argc - 1, argv + 1, opts, add_usage), rc = 1;

	if (n < 0) {
		goto out;
	}
	if (n < 1 || n > 2) {
		rc = bd_usage(add_usage);
		goto out;
	}
	if (!valid_key_name(argv[1])) {
		/* before stdin is read: bd_key_add says it again */
		rc = bd_fail("invalid key name '%s' (letters, digits, '_', '-', '.', '@'; at most "
			     "%d)",
			     argv[1], KEY_NAME_MAX);
		goto out;
	}
	if (n == 2 ? sbuf_read_file(&text, argv[2]) < 0 : sbuf_read_fd(&text, 0) < 0) {
		rc = bd_fail("cannot read '%s': %s", n == 2 ? argv[2] : "stdin", strerror(errno));
		goto out;
	}
	if (bd_key_add(&bd->store, bd->state_dir, argv[1], text.buf, text.len, !limited, &fp, &e) <
	    0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, NULL, "ssh-keys:add", argv[1]);
	bd_step(bd, "Added key '%s' (%s)%s", argv[1], fp, limited ? ", with no rights yet" : "");
	rc = 0;
out:
	sbuf_release(&text);
	err_release(&e);
	free(fp);
	return rc;
}

static const char list_usage[] = "ssh-keys:list [--format json] [NAME]";

int cmd_keys_list(struct bd *bd, int argc, const char **argv)
{
	const char *format = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "format", &format, "FORMAT", "json or text"),
	    OPT_END(),
	};
	struct store_key *ks = NULL;
	struct err e = ERR_INIT;
	size_t nk = 0, shown = 0;
	int n = bd_opts(argc - 1, argv + 1, opts, list_usage), rc = 1;
	bool json = bd->json || (format && !strcmp(format, "json"));

	if (n < 0) {
		goto out;
	}
	if (n > 1 || (format && strcmp(format, "json") && strcmp(format, "text"))) {
		rc = bd_usage(list_usage);
		goto out;
	}
	if (store_key_list(&bd->store, &ks, &nk, &e) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (json) {
		putchar('[');
	}
	for (size_t i = 0; i < nk; i++) {
		struct strvec apps = STRVEC_INIT, rights = STRVEC_INIT;
		struct sbuf sb = SBUF_INIT;

		if (n == 1 && strcmp(ks[i].name, argv[1])) {
			continue;
		}
		store_right_list(&bd->store, ks[i].name, &apps, &rights, NULL);
		if (json) {
			sbuf_addstr(&sb, shown ? ",{\"name\":\"" : "{\"name\":\"");
			sbuf_add_json_escaped(&sb, ks[i].name, strlen(ks[i].name));
			sbuf_addf(&sb, "\",\"fingerprint\":\"%s\",\"admin\":%s,\"rights\":{",
				  ks[i].fingerprint, ks[i].admin ? "true" : "false");
			for (size_t j = 0; j < apps.nr; j++) {
				sbuf_addf(&sb, "%s\"%s\":\"%s\"", j ? "," : "", apps.v[j],
					  rights.v[j]);
			}
			sbuf_addstr(&sb, "}}");
		} else {
			/* Dokku's shape; RIGHTS: "admin", else APP:RIGHT,... (empty: none) */
			sbuf_addf(&sb, "%s NAME=\"%s\" RIGHTS=\"%s", ks[i].fingerprint, ks[i].name,
				  ks[i].admin ? "admin" : "");
			for (size_t j = 0; j < apps.nr; j++) {
				sbuf_addf(&sb, "%s%s:%s", j || ks[i].admin ? "," : "", apps.v[j],
					  rights.v[j]);
			}
			sbuf_addstr(&sb, "\"\n");
		}
		fputs(sb.buf, stdout);
		shown++;
		sbuf_release(&sb);
		strvec_clear(&apps);
		strvec_clear(&rights);
	}
	if (json) {
		puts("]");
	} else if (!nk) {
		rc = bd_fail("no public keys found");
		goto out;
	}
	if (n == 1 && !shown) {
		rc = bd_fail("no key named '%s'", argv[1]);
		goto out;
	}
	rc = 0;
out:
	store_keys_free(ks, nk);
	err_release(&e);
	return rc;
}

static const char remove_usage[] = "ssh-keys:remove NAME | --fingerprint FINGERPRINT";

int cmd_keys_remove(struct bd *bd, int argc, const char **argv)
{
	const char *fp = NULL;
	struct opt opts[] = {
	    OPT_STRING(0, "fingerprint", &fp, "FP", "the key with this fingerprint"),
	    OPT_END(),
	};
	struct err e = ERR_INIT;
	char *name = NULL;
	int n = bd_opts(argc - 1, argv + 1, opts, remove_usage), rc = 1, r;

	if (n < 0) {
		goto out;
	}
	if ((fp && n != 0) || (!fp && n != 1)) {
		rc = bd_usage(remove_usage);
		goto out;
	}
	if (fp) {
		r = store_key_by_fingerprint(&bd->store, fp, &name, &e);
		if (r == 0) {
			rc = bd_fail("no key with fingerprint '%s'", fp);
			goto out;
		}
	} else {
		name = xstrdup(argv[1]);
		r = 1;
	}
	if (r < 0 || (r = bd_key_remove(&bd->store, bd->state_dir, name, &e)) < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	if (r == 0) {
		rc = bd_fail("no key named '%s'", name);
		goto out;
	}
	bd_event(bd, NULL, "ssh-keys:remove", name);
	bd_step(bd, "Removed key '%s'", name);
	rc = 0;
out:
	free(name);
	err_release(&e);
	return rc;
}

static const char grant_usage[] =
    "ssh-keys:grant NAME APP deploy|read  |  ssh-keys:grant NAME admin";

int cmd_keys_grant(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	struct sbuf names = SBUF_INIT;
	int rc = 1, r;

	if (argc == 3 && !strcmp(argv[2], "admin")) {
		r = bd_key_grant(&bd->store, argv[1], NULL, NULL, &e);
		sbuf_addf(&names, "%s,admin", argv[1]);
	} else if (argc == 4 && (!strcmp(argv[3], "deploy") || !strcmp(argv[3], "read"))) {
		r = bd_key_grant(&bd->store, argv[1], argv[2], argv[3], &e);
		sbuf_addf(&names, "%s,%s,%s", argv[1], argv[2], argv[3]);
	} else {
		rc = bd_usage(grant_usage);
		goto out;
	}
	if (r == 0) {
		rc = bd_fail("no key named '%s'", argv[1]);
		goto out;
	}
	if (r < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	bd_event(bd, argc == 4 ? argv[2] : NULL, "ssh-keys:grant", names.buf);
	bd_step(bd, "Granted %s to '%s'%s%s", argv[argc - 1], argv[1], argc == 4 ? " on " : "",
		argc == 4 ? argv[2] : "");
	rc = 0;
out:
	sbuf_release(&names);
	err_release(&e);
	return rc;
}

static const char revoke_usage[] = "ssh-keys:revoke NAME APP  |  ssh-keys:revoke NAME admin";

int cmd_keys_revoke(struct bd *bd, int argc, const char **argv)
{
	struct err e = ERR_INIT;
	struct sbuf names = SBUF_INIT;
	int rc = 1, r;

	if (argc != 3) {
		rc = bd_usage(revoke_usage);
		goto out;
	}
	r = bd_key_revoke(&bd->store, argv[1], strcmp(argv[2], "admin") ? argv[2] : NULL, &e);
	if (r == 0) {
		rc = bd_fail("no key named '%s'", argv[1]);
		goto out;
	}
	if (r < 0) {
		rc = bd_fail_err(&e);
		goto out;
	}
	sbuf_addf(&names, "%s,%s", argv[1], argv[2]);
	bd_event(bd, strcmp(argv[2], "admin") ? argv[2] : NULL, "ssh-keys:revoke", names.buf);
	bd_step(bd, "Revoked %s from '%s'", argv[2], argv[1]);
	rc = 0;
out:
	sbuf_release(&names);
	err_release(&e);
	return rc;
}
