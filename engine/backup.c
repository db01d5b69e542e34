/*
 * backup — see backup.h.
 */
#include "engine/backup.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "engine/accessory.h"
#include "engine/scripts.h"
#include "engine/transfer.h"
#include "lib/cron.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/banned.h"

const char *backup_image(void)
{
	return "berth-backup:" BERTH_VERSION;
}

/* ---- pure ---- */

void backup_forget_flags(struct strvec *out, const struct config_backup *b)
{
	static const char *const flags[] = {"--keep-daily", "--keep-weekly", "--keep-monthly"};
	const long long n[] = {b->keep_daily, b->keep_weekly, b->keep_monthly};
	char num[32];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (n[i] > 0) {
			snprintf(num, sizeof(num), "%lld", n[i]);
			strvec_push(out, flags[i]);
			strvec_push(out, num);
		}
	}
}

void backup_state_path(struct sbuf *out, const char *app_dir, const char *accessory)
{
	sbuf_addf(out, "%s/backups/%s.json", app_dir, accessory);
}

void backup_sources(const struct config_accessory *a, const char *home, struct strvec *sources,
		    struct strvec *targets)
{
	struct sbuf p = SBUF_INIT;
	size_t i;

	for (i = 0; i < a->directories.nr; i++) {
		const struct config_accessory_path *d = &a->directories.v[i];

		sbuf_reset(&p);
		if (d->local[0] != '/') {
			sbuf_addf(&p, "%s/", home);
		}
		accessory_dir_path(&p, a, d);
		strvec_push(sources, p.buf);
		strvec_push(targets, d->remote);
	}
	/* volumes: "SOURCE:TARGET[:OPTIONS]", SOURCE a host path or a volume's name */
	for (i = 0; i < a->volumes.nr; i++) {
		const char *v = a->volumes.v[i], *c1 = strchr(v, ':'), *c2;

		if (!c1 || c1 == v || c1[1] != '/') {
			continue;
		}
		c2 = strchr(c1 + 1, ':');
		strvec_pushf(sources, "%.*s", (int)(c1 - v), v);
		if (c2) {
			strvec_pushf(targets, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
		} else {
			strvec_push(targets, c1 + 1);
		}
	}
	sbuf_release(&p);
}

const char *backup_op_name(enum backup_op op)
{
	switch (op) {
	case BACKUP_OP_BACKUP:
		return "backup";
	case BACKUP_OP_VERIFY:
		return "verify";
	case BACKUP_OP_RESTORE:
		return "restore";
	case BACKUP_OP_FORGET:
		return "forget";
	case BACKUP_OP_SNAPSHOTS:
		return "snapshots";
	}
	return "?";
}

void backup_repository(struct sbuf *out, const struct config_backup *b)
{
	switch (b->target) {
	case CONFIG_BACKUP_DIR:
		sbuf_addstr(out, "/repo");
		return;
	case CONFIG_BACKUP_SSH:
		/* restic's URL form: a "//" before an absolute path, brackets around IPv6 */
		sbuf_addf(out,
			  strchr(b->host, ':') ? "sftp://%s@[%s]:%lld/%s" : "sftp://%s@%s:%lld/%s",
			  b->user, b->host, b->port, b->path);
		return;
	case CONFIG_BACKUP_S3:
		sbuf_addf(out, "s3:%s/%s%s%s", b->endpoint ? b->endpoint : "s3.amazonaws.com",
			  b->bucket, *b->prefix ? "/" : "", b->prefix);
		return;
	}
}

void backup_sftp_command(struct sbuf *out, const struct config_backup *b)
{
	/*
	 * restic splits this into words itself; config.c lets no space or
	 * quote into user and host. No config file: only these options count.
	 */
	sbuf_addf(
	    out,
	    "ssh -F /dev/null -i /run/berth/ssh_key -o IdentitiesOnly=yes -o BatchMode=yes "
	    "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/run/known_hosts "
	    "-o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=30 -o ServerAliveInterval=30 "
	    "-p %lld -l %s %s "
	    "-s sftp",
	    b->port, b->user, b->host);
}

/* One secret's line and bytes; -1 with e set when it is not set. */
static int add_secret(struct sbuf *head, struct sbuf *body, const struct config_accessory *a,
		      const struct secrets *sec, const char *key, const char *secret,
		      const char *name, struct err *e)
{
	const char *v = sec ? secrets_get(sec, secret) : NULL;

	if (!v || !*v) {
		return err_set(e,
			       "accessory '%s': the backup's %s secret '%s' is not set (add it "
			       "to the secrets file)",
			       a->name, key, secret);
	}
	sbuf_addf(head, "%s %zu\n", name, strlen(v));
	sbuf_addstr(body, v);
	return 0;
}

int backup_secrets_stdin(struct sbuf *out, const struct config_accessory *a,
			 const struct secrets *sec, struct err *e)
{
	const struct config_backup *b = &a->backup;
	struct sbuf head = SBUF_INIT, body = SBUF_INIT;
	int ret = -1;

	sbuf_addstr(&head, "berth-backup-secrets 1\n");
	if (add_secret(&head, &body, a, sec, "password", b->password, "password", e) < 0) {
		goto out;
	}
	if (b->target == CONFIG_BACKUP_SSH &&
	    add_secret(&head, &body, a, sec, "ssh_key", b->ssh_key, "ssh_key", e) < 0) {
		goto out;
	}
	if (b->target == CONFIG_BACKUP_S3 &&
	    (add_secret(&head, &body, a, sec, "access_key_id", b->access_key_id,
			"aws_access_key_id", e) < 0 ||
	     add_secret(&head, &body, a, sec, "secret_access_key", b->secret_access_key,
			"aws_secret_access_key", e) < 0)) {
		goto out;
	}
	sbuf_addstr(&head, "\n");
	sbuf_add(out, head.buf, head.len);
	sbuf_add(out, body.buf, body.len);
	ret = 0;
out:
	if (body.buf) {
		explicit_bzero(body.buf, body.len);
	}
	sbuf_release(&head);
	sbuf_release(&body);
	return ret;
}

bool backup_is_db(const struct config_accessory *a)
{
	return a->backup.kind_id != CONFIG_BACKUP_VOLUME;
}

/* A restic snapshot ID, short or long: hex only, so it can never be an option. */
static bool snapshot_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 8 && n <= 64 && strspn(s, "0123456789abcdef") == n;
}

int backup_docker_argv(struct strvec *argv, const struct config_accessory *a,
		       const struct backup_run *r, struct err *e)
{
	struct strvec sources = STRVEC_INIT, targets = STRVEC_INIT;
	struct sbuf s = SBUF_INIT;
	size_t i;
	int ret = 0;

	if (r->snapshot && !snapshot_ok(r->snapshot)) {
		return err_set(e,
			       "'%s' is not a snapshot ID (hex digits, as berth backup list shows)",
			       r->snapshot);
	}
	/* a local directory needs no network; another host or S3 is reached as the host reaches it
	 */
	strvec_pushv(argv, (const char *[]){"docker", "run", "--rm", "-i", "--network",
					    a->backup.target == CONFIG_BACKUP_DIR ? "none" : "host",
					    "--log-driver", "none", NULL});
	sbuf_addf(&s, "berth.backup=%s", a->service);
	strvec_pushv(argv, (const char *[]){"--label", s.buf, NULL});
	/* the secrets' files: in memory, for root in the container only */
	strvec_pushv(argv,
		     (const char *[]){"--tmpfs",
				      "/run/berth:rw,nosuid,nodev,noexec,size=1m,mode=0700", NULL});
	if (a->backup.target == CONFIG_BACKUP_DIR) {
		sbuf_reset(&s);
		sbuf_addf(&s, "%s:/repo", a->backup.to);
		strvec_pushv(argv, (const char *[]){"--volume", s.buf, NULL});
	}
	sbuf_reset(&s);
	sbuf_addstr(&s, "BERTH_REPOSITORY=");
	backup_repository(&s, &a->backup);
	strvec_pushv(argv, (const char *[]){"--env", s.buf, NULL});
	if (a->backup.target != CONFIG_BACKUP_DIR && r->host) {
		/* a tag list is comma-separated */
		if (strchr(r->host, ',')) {
			ret = err_set(e, "host '%s' cannot tag a snapshot (a comma)", r->host);
			goto out;
		}
		sbuf_reset(&s);
		sbuf_addf(&s, "BERTH_HOST=%s", r->host);
		strvec_pushv(argv, (const char *[]){"--env", s.buf, NULL});
	}
	if (a->backup.target == CONFIG_BACKUP_SSH) {
		sbuf_reset(&s);
		sbuf_addstr(&s, "BERTH_SFTP_COMMAND=");
		backup_sftp_command(&s, &a->backup);
		strvec_pushv(argv, (const char *[]){"--env", s.buf, NULL});
	}
	if (!backup_is_db(a) && (r->op == BACKUP_OP_BACKUP || r->op == BACKUP_OP_RESTORE)) {
		backup_sources(a, r->home ? r->home : "", &sources, &targets);
		if (!sources.nr) {
			ret = err_set(
			    e,
			    "accessory '%s' has no directories or volumes to back up (kind: "
			    "volume covers those)",
			    a->name);
			goto out;
		}
		for (i = 0; i < sources.nr; i++) {
			if (strchr(sources.v[i], ',') || strchr(targets.v[i], ',')) {
				ret = err_set(e, "accessory '%s': '%s' cannot be mounted (a comma)",
					      a->name, sources.v[i]);
				goto out;
			}
			sbuf_reset(&s);
			sbuf_addf(&s, "type=%s,source=%s,target=/data%s%s",
				  sources.v[i][0] == '/' ? "bind" : "volume", sources.v[i],
				  targets.v[i], r->op == BACKUP_OP_BACKUP ? ",readonly" : "");
			strvec_pushv(argv, (const char *[]){"--mount", s.buf, NULL});
		}
	}
	/* a database's dump is checked by loading it: restic only extracts it */
	strvec_pushv(
	    argv, (const char *[]){backup_image(), "sh", "-c", script_backup_restic, "berth-backup",
				   backup_is_db(a) &&
					   (r->op == BACKUP_OP_VERIFY || r->op == BACKUP_OP_RESTORE)
				       ? "extract"
				       : backup_op_name(r->op),
				   NULL});
	switch (r->op) {
	case BACKUP_OP_BACKUP:
		strvec_push(argv, a->name);
		break;
	case BACKUP_OP_VERIFY:
		strvec_push(argv, r->snapshot ? r->snapshot : "latest");
		break;
	case BACKUP_OP_RESTORE:
		strvec_push(argv, r->snapshot ? r->snapshot : "latest");
		/* targets is empty for a database kind */
		for (i = 0; i < targets.nr; i++) {
			strvec_push(argv, targets.v[i] + 1);
		}
		break;
	case BACKUP_OP_FORGET:
		backup_forget_flags(argv, &a->backup);
		break;
	case BACKUP_OP_SNAPSHOTS:
		break;
	}
out:
	strvec_clear(&sources);
	strvec_clear(&targets);
	sbuf_release(&s);
	return ret;
}

int backup_db_argv(struct strvec *argv, const struct config_accessory *a,
		   const struct backup_run *r, struct err *e)
{
	struct strvec docker = STRVEC_INIT;
	int ret = 0;

	if (!backup_is_db(a) || (r->op != BACKUP_OP_BACKUP && r->op != BACKUP_OP_VERIFY &&
				 r->op != BACKUP_OP_RESTORE)) {
		return err_set(e, "accessory '%s': no database step '%s' for kind %s", a->name,
			       backup_op_name(r->op), a->backup.kind);
	}
	if (backup_docker_argv(&docker, a, r, e) < 0) {
		ret = -1;
		goto out;
	}
	strvec_pushv(argv, (const char *[]){"sh", "-c", script_backup_db, "berth-backup-db",
					    backup_op_name(r->op), a->backup.kind, a->service,
					    a->image, script_backup_db_in, NULL});
	strvec_pushv(argv, (const char *const *)docker.v);
out:
	strvec_clear(&docker);
	return ret;
}

/* One line of a record: "table DB TABLE ROWS", "keys dbN N" or "value DIGEST KEY". */
struct rec {
	struct slice type, name, val;
};

#define RECORD_LINES_MAX 200000

static bool rec_split(struct slice line, struct rec *r)
{
	long t;

	r->type = slice_next(&line, '\t');
	if (!line.ptr) {
		return false;
	}
	if (slice_eq_cstr(r->type, "value")) {
		r->val = slice_next(&line, '\t');
		r->name = line;
		return line.ptr != NULL;
	}
	/* the name is everything up to the last field, tabs and all */
	for (t = (long)line.len - 1; t >= 0 && line.ptr[t] != '\t'; t--) {
	}
	if (t < 0) {
		return false;
	}
	r->name = slice_make(line.ptr, (size_t)t);
	r->val = slice_from(line, (size_t)t + 1);
	return true;
}

static int rec_cmp(const void *x, const void *y)
{
	const struct rec *a = x, *b = y;
	size_t n = a->type.len < b->type.len ? a->type.len : b->type.len;
	int c = memcmp(a->type.ptr, b->type.ptr, n);

	if (c || a->type.len != b->type.len) {
		return c ? c : a->type.len < b->type.len ? -1 : 1;
	}
	n = a->name.len < b->name.len ? a->name.len : b->name.len;
	c = n ? memcmp(a->name.ptr, b->name.ptr, n) : 0;
	if (c || a->name.len == b->name.len) {
		return c;
	}
	return a->name.len < b->name.len ? -1 : 1;
}

/* A name from the database, fit for a terminal: printable, tabs as dots, cut at 200 bytes. */
static void add_name(struct sbuf *out, struct slice s)
{
	size_t i;

	for (i = 0; i < s.len && i < 200; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];

		sbuf_addch(out, ch == '\t' ? '.' : ch < 0x20 || ch == 0x7f ? '?' : (char)ch);
	}
	if (s.len > 200) {
		sbuf_addstr(out, "...");
	}
}

/* why for r (from the record) and g (what loading answered, NULL: nothing) */
static void rec_why(struct sbuf *why, const struct rec *r, const struct rec *g, bool recorded)
{
	struct slice none = SLICE_LIT("no");

	sbuf_reset(why);
	if (slice_eq_cstr(r->type, "table")) {
		sbuf_addstr(why, "table ");
		add_name(why, r->name);
		if (!recorded) {
			sbuf_addstr(why, " answered after loading the dump is not in its record");
		} else if (!g) {
			sbuf_addf(why, " (%.*s rows when dumped) is missing after loading the dump",
				  (int)r->val.len, r->val.ptr);
		} else {
			sbuf_addf(why, " has %.*s rows after loading the dump, %.*s when dumped",
				  (int)g->val.len, g->val.ptr, (int)r->val.len, r->val.ptr);
		}
	} else if (slice_eq_cstr(r->type, "keys")) {
		const struct slice now = g ? g->val : none, then = recorded ? r->val : none;

		sbuf_addstr(why, "database ");
		add_name(why, r->name);
		sbuf_addf(why, " has %.*s keys without expiry after loading, %.*s when saved",
			  (int)now.len, now.ptr, (int)then.len, then.ptr);
	} else {
		sbuf_addstr(why, "key '");
		add_name(why, r->name);
		sbuf_addstr(why,
			    !g ? "' is missing after loading" : "' differs from when it was saved");
	}
}

int backup_record_diff(struct slice out, struct sbuf *why)
{
	struct rec *want = NULL, *got = NULL, r;
	size_t nwant = 0, awant = 0, ngot = 0, agot = 0, i;
	struct slice rest = out, l;
	int ret = 0;

	while (rest.ptr && nwant + ngot < RECORD_LINES_MAX) {
		struct slice w;

		l = slice_next(&rest, '\n');
		w = slice_next(&l, '\t');
		if (!l.ptr || !rec_split(l, &r)) {
			continue;
		}
		if (slice_eq_cstr(w, "expect")) {
			XGROW(want, awant, nwant + 1);
			want[nwant++] = r;
		} else if (slice_eq_cstr(w, "got")) {
			XGROW(got, agot, ngot + 1);
			got[ngot++] = r;
		}
	}
	if (ngot) {
		qsort(got, ngot, sizeof(*got), rec_cmp);
	}
	for (i = 0; i < nwant; i++) {
		const struct rec *g =
		    ngot ? bsearch(&want[i], got, ngot, sizeof(*got), rec_cmp) : NULL;

		if (!g || !slice_eq(g->val, want[i].val)) {
			rec_why(why, &want[i], g, true);
			ret = 1;
			goto out;
		}
	}
	if (nwant) {
		qsort(want, nwant, sizeof(*want), rec_cmp);
	}
	for (i = 0; i < ngot; i++) {
		if (!nwant || !bsearch(&got[i], want, nwant, sizeof(*want), rec_cmp)) {
			rec_why(why, &got[i], &got[i], false);
			ret = 1;
			goto out;
		}
	}
out:
	free(want);
	free(got);
	return ret;
}

void backup_restore_effect(struct sbuf *out, const struct config_accessory *a, const char *home)
{
	struct strvec sources = STRVEC_INIT, targets = STRVEC_INIT;
	size_t k;

	switch (a->backup.kind_id) {
	case CONFIG_BACKUP_POSTGRES:
		sbuf_addf(out,
			  "in container %s, every database but postgres and the templates is "
			  "dropped (its sessions ended) and the dump loaded, roles included",
			  a->service);
		break;
	case CONFIG_BACKUP_MYSQL:
		sbuf_addf(out,
			  "in container %s, every database but the system ones is dropped and "
			  "the dump loaded, the mysql schema's accounts included",
			  a->service);
		break;
	case CONFIG_BACKUP_REDIS:
		sbuf_addf(out,
			  "container %s is stopped, its RDB file replaced and started again: "
			  "every key is the snapshot's",
			  a->service);
		break;
	case CONFIG_BACKUP_VOLUME:
		backup_sources(a, home, &sources, &targets);
		sbuf_addstr(out, "overwriting:");
		for (k = 0; k < sources.nr; k++) {
			sbuf_addf(out, "%s%s", k ? ", " : " ", sources.v[k]);
		}
		break;
	}
	strvec_clear(&sources);
	strvec_clear(&targets);
}

static void iso_time(char *buf, size_t size, long long epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(buf, size, "%lld", epoch);
	}
}

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* epoch of o's member key (an object), or -1 */
static long long epoch_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(json_object_get(o, key), "epoch");

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/*
 * r recorded in o (an object). forward: "last", "last_verified" and a
 * snapshot's entry only replaced by a result at least as new (merging
 * scheduled runs into what berth recorded itself, in any order).
 */
static void state_apply(json_t *o, const char *accessory, const struct backup_result *r,
			bool forward)
{
	json_t *last, *snaps;
	char when[40];

	json_object_set_new(o, "accessory", json_string(accessory));
	iso_time(when, sizeof(when), r->epoch);
	if (!forward || r->epoch >= epoch_of(o, "last")) {
		last = json_object();
		json_object_set_new(last, "op", json_string(r->op));
		json_object_set_new(last, "time", json_string(when));
		json_object_set_new(last, "epoch", json_integer(r->epoch));
		json_object_set_new(last, "snapshot", jstr_or_null(r->snapshot));
		json_object_set_new(last, "verified", json_boolean(r->verified));
		json_object_set_new(last, "why", jstr_or_null(r->why));
		json_object_set_new(o, "last", last);
	}
	if (r->verified && r->snapshot && (!forward || r->epoch >= epoch_of(o, "last_verified"))) {
		json_t *lv = json_object();

		json_object_set_new(lv, "time", json_string(when));
		json_object_set_new(lv, "epoch", json_integer(r->epoch));
		json_object_set_new(lv, "snapshot", json_string(r->snapshot));
		json_object_set_new(o, "last_verified", lv);
	}
	snaps = json_object_get(o, "snapshots");
	if (!json_is_object(snaps)) {
		snaps = json_object();
		json_object_set_new(o, "snapshots", snaps);
	}
	if (r->snapshot && (!forward || r->epoch >= epoch_of(snaps, r->snapshot))) {
		json_t *s = json_object_get(snaps, r->snapshot);

		if (!json_is_object(s)) {
			s = json_object();
			json_object_set_new(snaps, r->snapshot, s);
		}
		if (r->size >= 0) {
			json_object_set_new(s, "size", json_integer(r->size));
		}
		json_object_set_new(s, "time", json_string(when));
		json_object_set_new(s, "epoch", json_integer(r->epoch));
		json_object_set_new(s, "verified", json_boolean(r->verified));
		json_object_set_new(s, "why", jstr_or_null(r->why));
	}
	/* the oldest entries go first (objects keep insertion order) */
	while (json_object_size(snaps) > BACKUP_STATE_KEEP) {
		void *it = json_object_iter(snaps);

		json_object_del(snaps, json_object_iter_key(it));
	}
}

static json_t *state_load(struct slice old)
{
	json_t *o = NULL;

	if (old.len) {
		o = json_loadb(old.ptr, old.len, 0, NULL);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	return o;
}

static char *state_dump(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(o);
	return text ? text : xstrdup("{}");
}

char *backup_state_update(struct slice old, const char *accessory, const struct backup_result *r)
{
	json_t *o = state_load(old);

	state_apply(o, accessory, r, false);
	return state_dump(o);
}

void backup_snapshots_release(struct backup_snapshots *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		free(s->v[i].id);
		free(s->v[i].time);
		free(s->v[i].why);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int backup_parse_snapshots(struct slice restic_json, struct slice state,
			   struct backup_snapshots *out, struct err *e)
{
	json_t *arr = NULL, *st = NULL, *snaps;
	json_error_t je;
	size_t i;
	int ret = 0;

	if (restic_json.len > BACKUP_SNAPSHOTS_MAX) {
		return err_set(e, "restic's snapshot list is too long");
	}
	arr = json_loadb(restic_json.ptr, restic_json.len, JSON_DISABLE_EOF_CHECK, &je);
	if (!json_is_array(arr)) {
		ret = err_set(e, "restic's snapshot list is not a JSON list: %s", je.text);
		goto out;
	}
	if (state.len && state.len <= BACKUP_STATE_MAX) {
		st = json_loadb(state.ptr, state.len, 0, NULL);
	}
	snaps = json_object_get(st, "snapshots");
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *s = json_array_get(arr, i), *mine;
		const char *id = json_string_value(json_object_get(s, "short_id"));
		const char *t = json_string_value(json_object_get(s, "time"));
		struct backup_snapshot *b;

		if (!id || !snapshot_ok(id) || !t || strlen(t) > 64) {
			ret = err_set(
			    e, "restic's snapshot list: entry %zu has no short_id or time", i);
			goto out;
		}
		XGROW(out->v, out->alloc, out->nr + 1);
		b = &out->v[out->nr++];
		memset(b, 0, sizeof(*b));
		b->id = xstrdup(id);
		b->time = xstrdup(t);
		b->size = -1;
		b->verified = -1;
		mine = json_object_get(snaps, id);
		if (json_is_object(mine)) {
			json_t *v = json_object_get(mine, "verified");
			const char *why = json_string_value(json_object_get(mine, "why"));

			if (json_is_integer(json_object_get(mine, "size"))) {
				b->size = json_integer_value(json_object_get(mine, "size"));
			}
			if (json_is_boolean(v)) {
				b->verified = json_is_true(v);
			}
			b->why = why ? xstrdup(why) : NULL;
		}
	}
out:
	json_decref(arr);
	json_decref(st);
	return ret;
}

/* ---- the steps of a backup, and the scheduled job (pure) ---- */

void backup_steps_release(struct backup_steps *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		strvec_clear(&s->v[i].args);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* backup-run.sh's argv for r: OP CONTAINER REPO STATE, then the docker run. */
static int step_add(struct backup_steps *s, const struct config_accessory *a, const char *state,
		    const struct backup_run *r, struct err *e)
{
	struct backup_step *st;

	XGROW(s->v, s->alloc, s->nr + 1);
	st = &s->v[s->nr++];
	memset(st, 0, sizeof(*st));
	strvec_init(&st->args);
	st->op = r->op;
	st->script = script_backup_run;
	st->snapshot_arg = -1;
	/* a database kind's backup, verify and restore run backup-db.sh around the container */
	if (backup_is_db(a) && (r->op == BACKUP_OP_BACKUP || r->op == BACKUP_OP_VERIFY ||
				r->op == BACKUP_OP_RESTORE)) {
		strvec_pushf(&st->args, "db-%s", backup_op_name(r->op));
		strvec_pushv(&st->args, (const char *[]){a->service, a->backup.to, state, NULL});
		return backup_db_argv(&st->args, a, r, e);
	}
	strvec_pushv(&st->args, (const char *[]){backup_op_name(r->op), a->service, a->backup.to,
						 state, NULL});
	return backup_docker_argv(&st->args, a, r, e);
}

int backup_now_steps(struct backup_steps *out, const struct config_accessory *a, const char *home,
		     const char *host, const char *state, struct err *e)
{
	struct backup_run r = {0};
	struct strvec flags = STRVEC_INIT;
	int ret = -1;

	r.op = BACKUP_OP_BACKUP;
	r.home = home;
	r.host = host;
	if (step_add(out, a, state, &r, e) < 0) {
		goto out;
	}
	/* the snapshot is the backup's, whatever "latest" would name by then */
	r.op = BACKUP_OP_VERIFY;
	if (step_add(out, a, state, &r, e) < 0) {
		goto out;
	}
	out->v[out->nr - 1].snapshot_arg = (int)out->v[out->nr - 1].args.nr - 1;
	backup_forget_flags(&flags, &a->backup);
	if (flags.nr) {
		r.op = BACKUP_OP_FORGET;
		if (step_add(out, a, state, &r, e) < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	strvec_clear(&flags);
	return ret;
}

void backup_scheduler_name(struct sbuf *out, const struct config_accessory *a)
{
	sbuf_addf(out, "%s-backup", a->service);
}

/* bits lo..hi of v as crond reads a field: "*" when all are set, else a list */
static void cron_field(struct sbuf *out, uint64_t v, unsigned lo, unsigned hi)
{
	const char *sep = "";
	unsigned i;

	for (i = lo; i <= hi && (v >> i & 1); i++) {
	}
	if (i > hi) {
		sbuf_addch(out, '*');
		return;
	}
	for (i = lo; i <= hi; i++) {
		if (v >> i & 1) {
			sbuf_addf(out, "%s%u", sep, i);
			sep = ",";
		}
	}
}

int backup_crontab_line(struct sbuf *out, const char *schedule, const char *job, struct err *e)
{
	struct cron c;
	bool mfull, wfull;

	if (cron_parse(&c, schedule, e) < 0) {
		return -1;
	}
	if (strpbrk(job, "%\n")) {
		/* cron reads a % as the end of the command, whatever the quotes */
		return err_set(e, "the job's path '%s' cannot be in a crontab (a %% or a newline)",
			       job);
	}
	mfull = (c.mdays & 0xfffffffeu) == 0xfffffffeu;
	wfull = (c.wdays & 0x7f) == 0x7f;
	/*
	 * lib/cron (Vixie) takes a day matching both fields when either starts
	 * with '*', else one matching either; busybox crond takes either when
	 * neither field names every day, else the one that does not. Agreeing
	 * lines can be written for all but both fields restricted with a '*'.
	 */
	if ((c.mday_star || c.wday_star) && !mfull && !wfull) {
		return err_set(e,
			       "schedule '%s': a day of month and a day of week both restricted, "
			       "one starting with '*', cannot be run by the host's scheduler; name "
			       "the days without '*'",
			       schedule);
	}
	if (!c.mday_star && !c.wday_star && (mfull || wfull)) {
		/* either field matching every day: every day */
		c.mdays = 0xfffffffeu;
		c.wdays = 0x7f;
	}
	cron_field(out, c.minutes, 0, 59);
	sbuf_addch(out, ' ');
	cron_field(out, c.hours, 0, 23);
	sbuf_addch(out, ' ');
	cron_field(out, c.mdays, 1, 31);
	sbuf_addch(out, ' ');
	cron_field(out, c.months, 1, 12);
	sbuf_addch(out, ' ');
	cron_field(out, c.wdays, 0, 6);
	sbuf_addstr(out, " sh ");
	exec_quote_arg(out, job);
	return 0;
}

static const struct backup_step *step_of(const struct backup_steps *s, enum backup_op op)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		if (s->v[i].op == op) {
			return &s->v[i];
		}
	}
	return NULL;
}

int backup_job_text(struct sbuf *out, const struct backup_steps *steps,
		    const struct backup_job_paths *p, struct err *e)
{
	static const enum backup_op ops[] = {BACKUP_OP_BACKUP, BACKUP_OP_VERIFY, BACKUP_OP_FORGET};
	size_t i, k;

	if (!step_of(steps, BACKUP_OP_BACKUP) || !step_of(steps, BACKUP_OP_VERIFY)) {
		return err_set(e, "a scheduled backup needs a backup and a verify step");
	}
	sbuf_addstr(out, "#!/bin/sh\n"
			 "# berth: an accessory's scheduled backup (written by berth backup "
			 "schedule; it is written again there)\n");
	/* every value single-quoted: the shell gives the steps these very bytes */
	sbuf_addstr(out, "HOME=");
	exec_quote_arg(out, p->home);
	sbuf_addstr(out, "\nsecret=");
	exec_quote_arg(out, p->secret);
	sbuf_addstr(out, "\nruns=");
	exec_quote_arg(out, p->runs);
	sbuf_addstr(out, "\nrun=");
	exec_quote_arg(out, script_backup_run);
	sbuf_addch(out, '\n');
	for (i = 0; i < 3; i++) {
		const struct backup_step *st = step_of(steps, ops[i]);

		sbuf_addf(out, "step_%s() {\n\t", backup_op_name(ops[i]));
		if (!st) {
			sbuf_addstr(out, ":\n}\n");
			continue;
		}
		if (st->script == script_backup_run) {
			sbuf_addstr(out, "sh -c \"$run\" berth-backup");
		} else {
			sbuf_addstr(out, "sh -c ");
			exec_quote_arg(out, st->script);
			sbuf_addstr(out, " berth-backup");
		}
		for (k = 0; k < st->args.nr; k++) {
			sbuf_addch(out, ' ');
			if ((int)k == st->snapshot_arg) {
				sbuf_addstr(out, "\"$snap\"");
			} else {
				exec_quote_arg(out, st->args.v[k]);
			}
		}
		sbuf_addstr(out, "\n}\n");
	}
	sbuf_addstr(out, script_backup_job);
	return 0;
}

void backup_run_lines_release(struct backup_run_lines *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* the next field of line, up to one space (the last one: the rest) */
static bool runs_field(struct slice *line, struct slice *f, bool last)
{
	long sp = last ? -1 : slice_find_char(*line, ' ');

	if (last) {
		*f = *line;
		line->len = 0;
		return f->len > 0;
	}
	if (sp <= 0) {
		return false;
	}
	*f = slice_make(line->ptr, (size_t)sp);
	*line = slice_from(*line, (size_t)sp + 1);
	return true;
}

static bool all_of(struct slice s, const char *set, size_t min, size_t max)
{
	size_t i;

	if (s.len < min || s.len > max) {
		return false;
	}
	for (i = 0; i < s.len; i++) {
		if (!s.ptr[i] || !strchr(set, s.ptr[i])) {
			return false;
		}
	}
	return true;
}

static bool parse_run_line(struct slice line, struct backup_run_line *r)
{
	struct slice f[6];
	uint64_t v;
	size_t i;

	for (i = 0; i < 6; i++) {
		if (!runs_field(&line, &f[i], i == 5)) {
			return false;
		}
	}
	memset(r, 0, sizeof(*r));
	if (!all_of(f[0], "0123456789", 1, 12) || !slice_to_u64(f[0], 999999999999ull, &v)) {
		return false;
	}
	r->epoch = (long long)v;
	if (!all_of(f[1], "abcdefghijklmnopqrstuvwxyz", 1, 16)) {
		return false;
	}
	memcpy(r->op, f[1].ptr, f[1].len);
	if (!slice_eq_cstr(f[2], "-")) {
		if (!all_of(f[2], "0123456789abcdef", 8, 64)) {
			return false;
		}
		memcpy(r->snapshot, f[2].ptr, f[2].len);
	}
	if (slice_eq_cstr(f[3], "-1")) {
		r->size = -1;
	} else if (all_of(f[3], "0123456789", 1, 18) && slice_to_u64(f[3], INT64_MAX, &v)) {
		r->size = (long long)v;
	} else {
		return false;
	}
	if (!slice_eq_cstr(f[4], "0") && !slice_eq_cstr(f[4], "1")) {
		return false;
	}
	r->verified = f[4].ptr[0] == '1';
	if (f[5].len > 300) {
		return false;
	}
	for (i = 0; i < f[5].len; i++) {
		if (f[5].ptr[i] < ' ' || f[5].ptr[i] > '~') {
			return false;
		}
	}
	if (!slice_eq_cstr(f[5], "-")) {
		memcpy(r->why, f[5].ptr, f[5].len);
	}
	/* a verified run names what it verified */
	return !r->verified || r->snapshot[0];
}

void backup_parse_runs(struct slice text, struct backup_run_lines *out, size_t *bad)
{
	size_t nbad = 0;

	if (text.len > BACKUP_STATE_MAX) {
		/* the newest lines are at the end: start at a line there */
		struct slice tail = slice_from(text, text.len - BACKUP_STATE_MAX);

		slice_next(&tail, '\n');
		text = tail;
		nbad++;
	}
	while (text.len) {
		struct slice line = slice_next(&text, '\n');
		struct backup_run_line r;

		if (!line.len) {
			continue;
		}
		if (!parse_run_line(line, &r)) {
			nbad++;
			continue;
		}
		if (out->nr == BACKUP_RUNS_KEEP) {
			memmove(out->v, out->v + 1, (out->nr - 1) * sizeof(*out->v));
			out->nr--;
		}
		XGROW(out->v, out->alloc, out->nr + 1);
		out->v[out->nr++] = r;
	}
	if (bad) {
		*bad = nbad;
	}
}

char *backup_state_merge_runs(struct slice state, struct slice runs, const char *accessory)
{
	struct backup_run_lines l = {0};
	json_t *o = state_load(state);
	size_t i;

	backup_parse_runs(runs, &l, NULL);
	for (i = 0; i < l.nr; i++) {
		const struct backup_run_line *rl = &l.v[i];
		struct backup_result r = {0};

		r.op = rl->op;
		r.epoch = rl->epoch;
		r.snapshot = rl->snapshot[0] ? rl->snapshot : NULL;
		r.size = rl->size;
		r.verified = rl->verified;
		r.why = rl->why[0] ? rl->why : NULL;
		state_apply(o, accessory, &r, true);
	}
	backup_run_lines_release(&l);
	return state_dump(o);
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size) {
		n = size - 1;
	}
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

void backup_state_last(struct slice state, struct backup_last *out)
{
	json_t *o = NULL, *lv, *last, *v;

	memset(out, 0, sizeof(*out));
	out->verified_epoch = -1;
	out->last_epoch = -1;
	if (state.len && state.len <= BACKUP_STATE_MAX) {
		o = json_loadb(state.ptr, state.len, 0, NULL);
	}
	lv = json_object_get(o, "last_verified");
	v = json_object_get(lv, "epoch");
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		out->verified_epoch = (long long)json_integer_value(v);
		copy_str(out->snapshot, sizeof(out->snapshot),
			 json_string_value(json_object_get(lv, "snapshot")));
	}
	last = json_object_get(o, "last");
	v = json_object_get(last, "epoch");
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		out->last_epoch = (long long)json_integer_value(v);
		out->last_ok = json_is_true(json_object_get(last, "verified"));
		copy_str(out->why, sizeof(out->why),
			 json_string_value(json_object_get(last, "why")));
	}
	json_decref(o);
}

int backup_judge(const char *schedule, long long now, long long installed, long long verified_epoch,
		 long long *due, long long *next)
{
	struct err e = ERR_INIT;
	struct cron c;
	int64_t p1, p2 = -1;
	int ret;

	if (!schedule || cron_parse(&c, schedule, &e) < 0) {
		err_release(&e);
		return -1;
	}
	if (next) {
		*next = cron_next(&c, now);
	}
	/* the most recent scheduled run may still be going: the one before it must be done */
	p1 = cron_prev(&c, now);
	if (p1 >= 60) {
		p2 = cron_prev(&c, p1 - 1);
	}
	if (p2 >= 0 && installed > 0 && p2 < installed) {
		/* the scheduler has not had a whole interval yet */
		p2 = -1;
	}
	ret = p2 >= 0 && verified_epoch < p2 ? 1 : 0;
	if (due) {
		*due = p2;
	}
	return ret;
}

/* "KEY VALUE" as the next line of rest: VALUE */
static bool status_line(struct slice *rest, const char *key, struct slice *value)
{
	struct slice line = slice_next(rest, '\n'), k = slice_next_word(&line);

	if (!slice_eq_cstr(k, key)) {
		return false;
	}
	*value = slice_trim(line);
	return true;
}

static bool status_number(struct slice s, long long *out)
{
	uint64_t v;

	if (!all_of(s, "0123456789", 1, 12) || !slice_to_u64(s, 999999999999ull, &v)) {
		return false;
	}
	*out = (long long)v;
	return true;
}

/* "NAME LENGTH" and then LENGTH bytes */
static bool status_blob(struct slice *rest, const char *key, struct slice *out)
{
	struct slice v;
	long long n;

	if (!status_line(rest, key, &v) || !status_number(v, &n) || (size_t)n > rest->len ||
	    (size_t)n > BACKUP_STATE_MAX) {
		return false;
	}
	*out = slice_make(rest->ptr, (size_t)n);
	*rest = slice_from(*rest, (size_t)n);
	return true;
}

int backup_parse_status(struct slice text, struct backup_status *out, struct err *e)
{
	struct slice rest = text, v, w;

	memset(out, 0, sizeof(*out));
	out->installed = -1;
	if (!status_line(&rest, "berth-backup-status", &v) || !slice_eq_cstr(v, "1")) {
		return err_set(e, "the backup status is not berth-backup-status 1");
	}
	if (!status_line(&rest, "now", &v) || !status_number(v, &out->now)) {
		return err_set(e, "the backup status has no time");
	}
	if (!status_line(&rest, "scheduler", &v)) {
		return err_set(e, "the backup status has no scheduler line");
	}
	w = slice_next_word(&v);
	if (!all_of(w, "abcdefghijklmnopqrstuvwxyz", 1, 16)) {
		return err_set(e, "the backup status has no scheduler state");
	}
	memcpy(out->scheduler, w.ptr, w.len);
	w = slice_next_word(&v);
	if (!slice_eq_cstr(w, "-") && w.len && !status_number(w, &out->installed)) {
		return err_set(e, "the backup status's scheduler has a bad creation time");
	}
	if (!status_blob(&rest, "state", &out->state) || !status_blob(&rest, "runs", &out->runs)) {
		return err_set(e, "the backup status's state or runs are cut short");
	}
	return 0;
}

/* "3m", "2h", "5d": how long ago */
static void add_age(struct sbuf *out, long long secs)
{
	if (secs < 0) {
		secs = 0;
	}
	if (secs < 120) {
		sbuf_addf(out, "%llds", secs);
	} else if (secs < 2 * 3600) {
		sbuf_addf(out, "%lldm", secs / 60);
	} else if (secs < 2 * 86400) {
		sbuf_addf(out, "%lldh", secs / 3600);
	} else {
		sbuf_addf(out, "%lldd", secs / 86400);
	}
}

static void add_utc(struct sbuf *out, long long epoch)
{
	char buf[40];

	iso_time(buf, sizeof(buf), epoch);
	sbuf_addstr(out, buf);
}

int backup_health(const struct config_accessory *a, const struct backup_status *st,
		  struct sbuf *out)
{
	struct backup_last last;
	long long due = -1, next = -1;
	char *state = backup_state_merge_runs(st->state, st->runs, a->name);
	int ret = 0, late = 0;

	backup_state_last(slice_make(state, strlen(state)), &last);
	free(state);
	sbuf_addf(out, "%s: ", a->name);
	if (last.verified_epoch >= 0) {
		sbuf_addstr(out, "last verified backup ");
		add_age(out, st->now - last.verified_epoch);
		sbuf_addf(out, " ago (snapshot %s)", last.snapshot);
	} else {
		sbuf_addstr(out, "no verified backup yet");
	}
	if (!a->backup.schedule) {
		sbuf_addstr(out, "; not scheduled");
		return 0;
	}
	late = backup_judge(a->backup.schedule, st->now, st->installed, last.verified_epoch, &due,
			    &next);
	if (late > 0) {
		sbuf_addstr(out, ", older than the schedule allows: the run at ");
		add_utc(out, due);
		sbuf_addstr(out, " should have verified");
		if (last.last_epoch >= 0 && !last.last_ok && last.why[0]) {
			sbuf_addf(out, " (last run: %s)", last.why);
		}
		ret = 2;
	}
	if (strcmp(st->scheduler, "running")) {
		sbuf_addf(out, "; the backup scheduler is %s (berth backup schedule %s starts it)",
			  strcmp(st->scheduler, "none") ? st->scheduler : "missing", a->name);
		ret = 2;
	} else if (next >= 0) {
		sbuf_addstr(out, "; next run ");
		add_utc(out, next);
		sbuf_addstr(out, ", in ");
		add_age(out, next - st->now);
	}
	return ret;
}

/* ---- on the hosts ---- */

static void say(struct backup_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct backup_ctx *c, const char *fmt, ...)
{
	struct sbuf line = SBUF_INIT;
	va_list ap;

	if (!c->say) {
		return;
	}
	va_start(ap, fmt);
	sbuf_vaddf(&line, fmt, ap);
	va_end(ap);
	c->say(line.buf);
	sbuf_release(&line);
}

/*
 * Runs script on host with args and stdin in; stdout into out (may be
 * NULL). The "berth-backup: ..." line of a failure, when there is one, into
 * why (may be NULL). Returns the script's status (0 ok) or -1 when it could
 * not run, e set when not 0.
 */
static int run_script(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		      const char *script, const char *what, const struct strvec *args,
		      struct slice in, struct sbuf *out, struct sbuf *why, struct err *e)
{
	struct run_cmd cmd = RUN_CMD_INIT;
	struct exec_script s = {0};
	int ret;

	s.text = script;
	s.name = "berth-backup";
	s.args = (const char *const *)args->v;
	s.in = in;
	s.timeout_ms = EXEC_SCRIPT_NO_TIMEOUT;
	s.capture_max = BACKUP_SNAPSHOTS_MAX;
	s.flags = EXEC_SCRIPT_STATUS;
	s.what = what;
	log_debug("run on %s: sh -c '<%s>' %s %s ...", host,
		  script == script_backup_schedule ? "backup-schedule" : "backup-run", args->v[0],
		  args->nr > 1 ? args->v[1] : "");
	ret = exec_script(c->ex, host, &s, &cmd, e);
	if (ret > 0) {
		struct slice rest = slice_make(cmd.errbuf.buf, cmd.errbuf.len), l;
		struct sbuf tail = SBUF_INIT;

		while (rest.len) {
			l = slice_trim(slice_next(&rest, '\n'));
			if (slice_starts_with(l, "berth-backup: ") && why) {
				sbuf_reset(why);
				sbuf_add(why, l.ptr + 14, l.len - 14);
			}
			if (l.len) {
				sbuf_reset(&tail);
				sbuf_add(&tail, l.ptr, l.len);
			}
		}
		err_set(e, "host '%s': %s %s: %s", host, strncmp(what, "db-", 3) ? what : what + 3,
			a->name,
			why && why->len ? why->buf
			: tail.len	? tail.buf
					: "failed");
		sbuf_release(&tail);
	}
	if (ret >= 0 && out) {
		sbuf_add(out, cmd.outbuf.buf, cmd.outbuf.len);
	}
	run_cmd_release(&cmd);
	return ret;
}

/* A state step of backup-run.sh (state-read, state-write) with stdin in. */
static int state_step(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		      const char *op, struct slice in, struct sbuf *out, struct err *e)
{
	struct strvec args = STRVEC_INIT;
	struct sbuf state = SBUF_INIT;
	int ret;

	backup_state_path(&state, c->app_dir, a->name);
	strvec_pushv(&args, (const char *[]){op, a->service, a->backup.to, state.buf, NULL});
	ret = run_script(c, a, host, script_backup_run, op, &args, in, out, NULL, e);
	strvec_clear(&args);
	sbuf_release(&state);
	return ret;
}

/*
 * Runs step s on host with the secrets (backup_secrets_stdin) on its stdin:
 * the berth-backup container's, or for a database kind's backup, verify and
 * restore, backup-db.sh's around it (backup-run.sh's ops db-*, which leave
 * the accessory running).
 */
static int run_step(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		    const struct backup_step *s, struct sbuf *out, struct sbuf *why, struct err *e)
{
	struct sbuf in = SBUF_INIT;
	int ret = -1;

	if (backup_secrets_stdin(&in, a, c->sec, e) == 0) {
		ret = run_script(c, a, host, s->script, s->args.v[0], &s->args,
				 slice_make(in.buf, in.len), out, why, e);
	}
	/* the secrets leave no copy in freed memory */
	if (in.buf) {
		explicit_bzero(in.buf, in.len);
	}
	sbuf_release(&in);
	return ret;
}

/* The one step of r, into s. 0, or -1 with e set. */
static int one_step(struct backup_ctx *c, const struct config_accessory *a,
		    const struct backup_run *r, struct backup_steps *s, struct err *e)
{
	struct sbuf state = SBUF_INIT;
	int ret;

	backup_state_path(&state, c->app_dir, a->name);
	ret = step_add(s, a, state.buf, r, e);
	sbuf_release(&state);
	return ret;
}

static int record(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		  const struct backup_result *r)
{
	struct sbuf old = SBUF_INIT;
	struct err e = ERR_INIT;
	char *text = NULL;
	int ret = -1;

	if (state_step(c, a, host, "state-read", slice_make(NULL, 0), &old, &e) != 0) {
		goto out;
	}
	text = backup_state_update(slice_make(old.buf, old.len), a->name, r);
	if (state_step(c, a, host, "state-write", slice_make(text, strlen(text)), NULL, &e) != 0) {
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		log_warn("cannot record the backup's result on '%s': %s", host, err_str(&e));
	}
	free(text);
	sbuf_release(&old);
	err_release(&e);
	return ret;
}

/* The image on host, sent from here when it lacks it. */
static int ensure_image(struct backup_ctx *c, const char *host, struct err *e)
{
	struct transfer_opts to = {0};
	struct transfer_result tr = {0};
	const char *hosts[] = {host};
	int ret;

	to.image = backup_image();
	ret = transfer_image(c->ex, hosts, 1, &to, &tr, e);
	if (ret < 0 && tr.nhosts == 0) {
		err_prefix(e,
			   "host '%s': the image '%s' cannot be sent (build it with 'make image')",
			   host, backup_image());
	} else if (ret < 0 && tr.nhosts == 1 && tr.hosts[0].failed) {
		err_set(e, "%s", err_str(&tr.hosts[0].err));
	}
	transfer_result_release(&tr);
	return ret;
}

/* "verified ID" in out: the ID, malloc'd, or NULL. */
static char *word_after(const struct sbuf *out, const char *key)
{
	struct slice rest = slice_make(out->buf, out->len), l, w;

	while (rest.len) {
		l = slice_next(&rest, '\n');
		w = slice_next_word(&l);
		if (slice_eq_cstr(w, key)) {
			w = slice_next_word(&l);
			return w.len ? slice_dup(w) : NULL;
		}
	}
	return NULL;
}

/* Runs s (a VERIFY or RESTORE of snapshot, NULL: the newest) and records its result as what. */
static int verify_step(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		       const struct backup_step *s, const char *snapshot, const char *what,
		       long long size, struct err *e)
{
	struct backup_result res = {0};
	struct sbuf out = SBUF_INIT, why = SBUF_INIT;
	char *id = NULL, *checked = NULL;
	int st, ret = -1;

	st = run_step(c, a, host, s, &out, &why, e);
	id = word_after(&out, "verified");
	checked = word_after(&out, "checking");
	if (st == 4 && backup_is_db(a)) {
		struct sbuf diff = SBUF_INIT;

		if (backup_record_diff(slice_make(out.buf, out.len), &diff)) {
			sbuf_reset(&why);
			sbuf_addf(&why, "snapshot %s does not verify: %s", checked ? checked : "?",
				  diff.buf);
			err_set(e, "host '%s': %s %s: %s", host, what, a->name, why.buf);
		}
		sbuf_release(&diff);
	}
	res.op = what;
	res.epoch = (long long)time(NULL);
	res.snapshot = id ? id : checked ? checked : snapshot;
	res.size = size;
	res.verified = id != NULL && st != 4;
	res.why = st == 0 ? NULL : why.len ? why.buf : err_str(e);
	if (st == 0 && id) {
		ret = 0;
	} else if (st == 0) {
		err_set(e, "host '%s': %s %s: no verified snapshot reported", host, what, a->name);
	}
	if (st >= 0 && (res.snapshot || st == 0)) {
		record(c, a, host, &res);
	}
	if (ret == 0) {
		say(c, "%s: snapshot %s of '%s' verified", host, id, a->name);
	}
	free(id);
	free(checked);
	sbuf_release(&out);
	sbuf_release(&why);
	return ret;
}

/* verify or restore of snapshot on host */
static int check_one(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		     const char *snapshot, enum backup_op op, const char *what, struct err *e)
{
	struct backup_steps steps = {0};
	struct backup_run r = {0};
	int ret = -1;

	r.op = op;
	r.snapshot = snapshot;
	r.home = c->home;
	r.host = host;
	if (one_step(c, a, &r, &steps, e) == 0 && ensure_image(c, host, e) == 0) {
		ret = verify_step(c, a, host, &steps.v[0], snapshot, what, -1, e);
	}
	backup_steps_release(&steps);
	return ret;
}

int backup_verify(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		  const char *snapshot, struct err *e)
{
	return check_one(c, a, host, snapshot, BACKUP_OP_VERIFY, "verify", e);
}

int backup_now(struct backup_ctx *c, const struct config_accessory *a, const char *host,
	       char **snapshot, struct err *e)
{
	struct backup_steps steps = {0};
	struct backup_step *verify;
	struct sbuf out = SBUF_INIT, why = SBUF_INIT, state = SBUF_INIT;
	struct slice rest, l;
	char *id = NULL;
	long long size = -1;
	size_t i;
	int st, ret = -1;

	backup_state_path(&state, c->app_dir, a->name);
	if (backup_now_steps(&steps, a, c->home, host, state.buf, e) < 0 ||
	    ensure_image(c, host, e) < 0) {
		goto out;
	}
	st = run_step(c, a, host, &steps.v[0], &out, &why, e);
	if (st != 0) {
		if (st > 0) {
			struct backup_result res = {"now", (long long)time(NULL),	  NULL, -1,
						    false, why.len ? why.buf : err_str(e)};

			record(c, a, host, &res);
		}
		goto out;
	}
	rest = slice_make(out.buf, out.len);
	while (rest.len) {
		struct slice w;

		l = slice_next(&rest, '\n');
		w = slice_next_word(&l);
		if (slice_eq_cstr(w, "snapshot")) {
			char *sz;

			free(id);
			id = slice_dup(slice_next_word(&l));
			sz = slice_dup(slice_next_word(&l));
			size = strtoll(sz, NULL, 10);
			free(sz);
		}
	}
	if (!id || !snapshot_ok(id)) {
		err_set(e, "host '%s': backup %s: restic reported no snapshot", host, a->name);
		goto out;
	}
	say(c, "%s: snapshot %s of '%s' taken (%lld bytes)", host, id, a->name, size);
	verify = &steps.v[1];
	free(verify->args.v[verify->snapshot_arg]);
	verify->args.v[verify->snapshot_arg] = xstrdup(id);
	if (verify_step(c, a, host, verify, id, "now", size, e) < 0) {
		goto out;
	}
	for (i = 2; i < steps.nr; i++) {
		sbuf_reset(&out);
		if (run_step(c, a, host, &steps.v[i], &out, NULL, e) != 0) {
			goto out;
		}
		say(c, "%s: old snapshots of '%s' forgotten and pruned", host, a->name);
	}
	if (snapshot) {
		*snapshot = id;
		id = NULL;
	}
	ret = 0;
out:
	free(id);
	backup_steps_release(&steps);
	sbuf_release(&out);
	sbuf_release(&why);
	sbuf_release(&state);
	return ret;
}

int backup_restore(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		   const char *snapshot, struct err *e)
{
	if (check_one(c, a, host, snapshot, BACKUP_OP_RESTORE, "restore", e) < 0) {
		return -1;
	}
	say(c,
	    backup_is_db(a) ? "%s: '%s' restored, its dump loaded"
			    : "%s: '%s' restored and started again",
	    host, a->name);
	return 0;
}

/* "<app dir>/backups/<accessory><suffix>", absolute when abs_home is given */
static void backups_path(struct sbuf *out, const struct backup_ctx *c, const char *abs_home,
			 const struct config_accessory *a, const char *suffix)
{
	if (abs_home && c->app_dir[0] != '/') {
		sbuf_addf(out, "%s/", abs_home);
	}
	sbuf_addf(out, "%s/backups", c->app_dir);
	if (a) {
		sbuf_addf(out, "/%s%s", a->name, suffix);
	}
}

int backup_status(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		  struct sbuf *raw, struct backup_status *out, struct err *e)
{
	struct strvec args = STRVEC_INIT;
	struct sbuf name = SBUF_INIT, state = SBUF_INIT, runs = SBUF_INIT;
	int ret = -1;

	backup_scheduler_name(&name, a);
	backups_path(&state, c, NULL, a, ".json");
	backups_path(&runs, c, NULL, a, ".runs");
	strvec_pushv(&args, (const char *[]){"status", name.buf, state.buf, runs.buf, NULL});
	if (run_script(c, a, host, script_backup_schedule, "status", &args, slice_make(NULL, 0),
		       raw, NULL, e) != 0) {
		goto out;
	}
	if (backup_parse_status(slice_make(raw->buf, raw->len), out, e) < 0) {
		err_prefix(e, "host '%s'", host);
		goto out;
	}
	ret = 0;
out:
	strvec_clear(&args);
	sbuf_release(&name);
	sbuf_release(&state);
	sbuf_release(&runs);
	return ret;
}

int backup_list(struct backup_ctx *c, const struct config_accessory *a, const char *host,
		struct backup_snapshots *out, struct err *e)
{
	struct backup_steps steps = {0};
	struct backup_run r = {0};
	struct backup_status bs;
	struct sbuf snaps = SBUF_INIT, raw = SBUF_INIT;
	char *state = NULL;
	int ret = -1;

	r.op = BACKUP_OP_SNAPSHOTS;
	r.host = host;
	if (one_step(c, a, &r, &steps, e) < 0 || ensure_image(c, host, e) < 0) {
		goto out;
	}
	if (run_step(c, a, host, &steps.v[0], &snaps, NULL, e) != 0 ||
	    backup_status(c, a, host, &raw, &bs, e) < 0) {
		goto out;
	}
	state = backup_state_merge_runs(bs.state, bs.runs, a->name);
	if (backup_parse_snapshots(slice_make(snaps.buf, snaps.len),
				   slice_make(state, strlen(state)), out, e) < 0) {
		err_prefix(e, "host '%s'", host);
		goto out;
	}
	memcpy(out->scheduler, bs.scheduler, sizeof(out->scheduler));
	out->now = bs.now;
	out->installed = bs.installed;
	ret = 0;
out:
	free(state);
	backup_steps_release(&steps);
	sbuf_release(&snaps);
	sbuf_release(&raw);
	return ret;
}

/* A 64-bit FNV-1a of s, continued from h: what the scheduler's config label compares. */
static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h * 1099511628211ull; /* a separator between the parts */
}

int backup_schedule_install(struct backup_ctx *c, const struct config_accessory *a,
			    const char *host, struct sbuf *what, struct err *e)
{
	struct backup_steps steps = {0};
	struct backup_job_paths jp = {0};
	struct strvec args = STRVEC_INIT;
	struct sbuf name = SBUF_INIT, dir = SBUF_INIT, job = SBUF_INIT, secret = SBUF_INIT;
	struct sbuf runs = SBUF_INIT, state = SBUF_INIT, line = SBUF_INIT, text = SBUF_INIT;
	struct sbuf in = SBUF_INIT, out = SBUF_INIT, config = SBUF_INIT;
	uint64_t h = 14695981039346656037ull;
	int ret = -1;

	if (!a->has_backup || !a->backup.schedule) {
		return backup_schedule_remove(c, a, host, what, e);
	}
	if (!c->home || c->home[0] != '/') {
		return err_set(e, "host '%s': the ssh user's home is not known", host);
	}
	backup_scheduler_name(&name, a);
	backups_path(&dir, c, c->home, NULL, NULL);
	backups_path(&job, c, c->home, a, ".job");
	backups_path(&secret, c, c->home, a, ".secret");
	backups_path(&runs, c, c->home, a, ".runs");
	backups_path(&state, c, c->home, a, ".json");
	jp.home = c->home;
	jp.secret = secret.buf;
	jp.runs = runs.buf;
	if (backup_now_steps(&steps, a, c->home, host, state.buf, e) < 0 ||
	    backup_job_text(&text, &steps, &jp, e) < 0 ||
	    backup_crontab_line(&line, a->backup.schedule, job.buf, e) < 0 ||
	    backup_secrets_stdin(&in, a, c->sec, e) < 0) {
		err_prefix(e, "accessory '%s'", a->name);
		goto out;
	}
	/* what the container is made of: the job and the secret are files it reads at each run */
	h = fnv(h, backup_image());
	h = fnv(h, line.buf);
	h = fnv(h, dir.buf);
	h = fnv(h, script_backup_cron);
	sbuf_addf(&config, "%016llx", (unsigned long long)h);
	if (ensure_image(c, host, e) < 0) {
		goto out;
	}
	strvec_pushv(&args, (const char *[]){"install", name.buf, backup_image(), dir.buf, job.buf,
					     secret.buf, a->backup.to, config.buf, line.buf,
					     script_backup_cron, text.buf, NULL});
	if (run_script(c, a, host, script_backup_schedule, "schedule", &args,
		       slice_make(in.buf, in.len), &out, NULL, e) != 0) {
		goto out;
	}
	if (what) {
		struct slice o = slice_trim(slice_make(out.buf, out.len));

		sbuf_add(what, o.ptr, o.len);
	}
	ret = 0;
out:
	backup_steps_release(&steps);
	strvec_clear(&args);
	sbuf_release(&name);
	sbuf_release(&dir);
	sbuf_release(&job);
	sbuf_release(&secret);
	sbuf_release(&runs);
	sbuf_release(&state);
	sbuf_release(&line);
	sbuf_release(&text);
	if (in.buf) {
		explicit_bzero(in.buf, in.len);
	}
	sbuf_release(&in);
	sbuf_release(&out);
	sbuf_release(&config);
	return ret;
}

int backup_schedule_remove(struct backup_ctx *c, const struct config_accessory *a, const char *host,
			   struct sbuf *what, struct err *e)
{
	struct strvec args = STRVEC_INIT;
	struct sbuf name = SBUF_INIT, job = SBUF_INIT, secret = SBUF_INIT, out = SBUF_INIT;
	int ret = -1;

	backup_scheduler_name(&name, a);
	backups_path(&job, c, NULL, a, ".job");
	backups_path(&secret, c, NULL, a, ".secret");
	strvec_pushv(&args, (const char *[]){"remove", name.buf, job.buf, secret.buf, NULL});
	if (run_script(c, a, host, script_backup_schedule, "unschedule", &args, slice_make(NULL, 0),
		       &out, NULL, e) == 0) {
		if (what) {
			struct slice o = slice_trim(slice_make(out.buf, out.len));

			sbuf_add(what, o.ptr, o.len);
		}
		ret = 0;
	}
	strvec_clear(&args);
	sbuf_release(&name);
	sbuf_release(&job);
	sbuf_release(&secret);
	sbuf_release(&out);
	return ret;
}
