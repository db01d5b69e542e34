/*
 * What a host sends back about its backups — restic's snapshot list and the
 * state file — is untrusted. The input is split at its first NUL byte into
 * the two; both are parsed as `berth backup list` parses them, and the
 * state is updated as a backup records a result; the whole input is also
 * read as a database snapshot's record and its answer (expect/got lines)
 * are compared. The first part is also read as a scheduled job's runs file
 * and merged into the state, and the whole input as what
 * backup-schedule.sh status prints; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nul = memchr(p, 0, size);
	struct slice snaps = slice_make(p, nul ? (size_t)(nul - p) : size);
	struct slice state =
	    nul ? slice_make(nul + 1, size - (size_t)(nul - p) - 1) : slice_make(NULL, 0);
	struct backup_result r = {"now", 1767236400, "1a2b3c4d", 10, true, NULL};
	struct backup_snapshots l = {0};
	struct err e = ERR_INIT;
	struct sbuf why = SBUF_INIT;
	struct backup_run_lines rl = {0};
	struct backup_status st;
	struct backup_last last;
	size_t bad = 0;
	char *text;

	(void)backup_parse_snapshots(snaps, state, &l, &e);
	backup_snapshots_release(&l);
	backup_parse_runs(snaps, &rl, &bad);
	if (rl.nr > BACKUP_RUNS_KEEP) {
		__builtin_trap();
	}
	backup_run_lines_release(&rl);
	text = backup_state_merge_runs(state, snaps, "db");
	backup_state_last(slice_make(text, strlen(text)), &last);
	free(text);
	if (backup_parse_status(slice_make(p, size), &st, &e) == 0) {
		if (st.state.len > size || st.runs.len > size) {
			__builtin_trap();
		}
		text = backup_state_merge_runs(st.state, st.runs, "db");
		free(text);
	}
	err_release(&e);
	text = backup_state_update(state, "db", &r);
	if (!text) {
		__builtin_trap();
	}
	free(text);
	(void)backup_record_diff(slice_make(p, size), &why);
	sbuf_release(&why);
	err_release(&e);
	return 0;
}
