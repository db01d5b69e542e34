#!/usr/bin/env bash
# berth backup on the lab: an accessory (`db` on lab-h1, its data in a
# directory) backed up with restic into a directory of its host, verified by
# restoring it, restored after its data was destroyed; a damaged repository
# fails verify and restore refuses it; the password is in no argv and no
# output; keep prunes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

reg=$LAB_REGISTRY
acc=$reg/$T-bk:1
REPO=/var/tmp/berth-bk-$T
BK_PW="bkpw-$T-$RANDOM$RANDOM$RANDOM"

accessory_image "$acc"
test_cleanup "on $h1 'docker rm -f $T-db; docker ps -aq --filter label=berth.backup=$T-db | xargs -r docker rm -f; docker rmi -f $acc; rm -rf $T-db $REPO'"

write_config \
	"accessories:" \
	"  db:" \
	"    image: $acc" \
	"    host: $h1" \
	"    cmd: --version db-1" \
	"    directories:" \
	"      - data:/data" \
	"    x-backup:" \
	"      kind: volume" \
	"      schedule: \"0 3 * * *\"" \
	"      keep: {daily: 1}" \
	"      to: $REPO" \
	"      password: BACKUP_PASSWORD"
printf 'BACKUP_PASSWORD=%s\n' "$BK_PW" >>"$APP/.berth/secrets"

# sums HOST: every file of the accessory's data with its sha256, sorted
sums() { on "$1" "cd $T-db/data && find . -type f -exec sha256sum {} + | sort -k 2"; }

test_expect_success 'the backup image is built and the accessory runs with data in its directory' '
	"$TOP/scripts/make-backup-image" "$(cat "$TOP/VERSION")" >/dev/null &&
	berth accessory boot db >out 2>&1 || { cat out; exit 1; }
	on $h1 "mkdir -p $T-db/data/sub && printf one >$T-db/data/a.txt && head -c 300000 /dev/urandom >$T-db/data/sub/blob && printf \"x y\" >\"$T-db/data/sub/with space\"" &&
	sums $h1 >before && test "$(wc -l <before)" = 3
'

test_expect_success 'backup now: a snapshot, verified; the password in no argv on the host, in no output' '
	( for _ in $(seq 1 200); do on $h1 ps -eo args; sleep 0.05; done ) >ps 2>/dev/null &
	scan=$!
	rc=0 && berth backup now db -v >out 2>&1 || rc=$?
	kill $scan 2>/dev/null || true
	wait $scan 2>/dev/null || true
	cat out && test $rc = 0 &&
	grep -q "snapshot [0-9a-f]* of .db. taken" out && grep -q "of .db. verified" out &&
	grep -q "berth-backup" ps && ! grep -F -- "$BK_PW" ps && ! grep -F -- "$BK_PW" out &&
	test "$(on $h1 docker inspect -f {{.State.Running}}/{{.State.Paused}} $T-db)" = true/false &&
	on $h1 test -f $REPO/config &&
	on $h1 cat $RUN_DIR/apps/$T/backups/db.json >state && grep -q "\"verified\":true" state &&
	! grep -F -- "$BK_PW" state
'

test_expect_success 'list shows the snapshot with its size, verified' '
	berth backup list db >out 2>&1 && cat out &&
	test "$(grep -c "yes$" out)" = 1 && grep -q "^[0-9a-f]\{8\} " out
'

test_expect_success 'restore without -y off a terminal refuses and changes nothing' '
	on $h1 "rm -rf $T-db/data/* && printf broken >$T-db/data/a.txt" &&
	test_must_fail berth backup restore db </dev/null >out 2>&1 && cat out &&
	grep -q "overwriting:.*$T-db/data" out && grep -q "nothing restored" out &&
	test "$(on $h1 cat $T-db/data/a.txt)" = broken
'

test_expect_success 'restore -y: the data back byte for byte, the accessory running again' '
	berth backup restore -y db >out 2>&1 || { cat out; exit 1; }
	sums $h1 >after && diff before after &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}" $T-db)" = true &&
	berth audit -h $h1 >out && grep -q "backup restore db" out
'

test_expect_success 'verify passes; keep daily 1 leaves one snapshot after a second backup' '
	berth backup verify db >out 2>&1 || { cat out; exit 1; }
	on $h1 "printf two >$T-db/data/b.txt" &&
	berth backup now db >out 2>&1 || { cat out; exit 1; }
	berth backup list db >out 2>&1 && cat out &&
	test "$(grep -c "^[0-9a-f]\{8\} " out)" = 1
'

test_expect_success 'upgrade takes a verified backup first, and is refused when it fails' '
	id0=$(on $h1 docker inspect -f {{.Id}} $T-db) &&
	cp "$APP/.berth/secrets" secrets.good &&
	printf "BACKUP_PASSWORD=wrong-%s\n" "$T" >>"$APP/.berth/secrets" &&
	test_must_fail berth accessory upgrade -y db >out 2>&1 && cat out &&
	grep -q "not upgraded, the backup before it failed" out &&
	test "$(on $h1 docker inspect -f {{.Id}} $T-db)" = "$id0" &&
	cp secrets.good "$APP/.berth/secrets" &&
	berth accessory upgrade -y db >out 2>&1 || { cat out; exit 1; }
	grep -q "snapshot [0-9a-f]* of .db. taken" out && grep -q "of .db. verified" out &&
	id1=$(on $h1 docker inspect -f {{.Id}} $T-db) && test "$id1" != "$id0" &&
	berth accessory upgrade -y --no-backup db >out 2>&1 && ! grep -q "snapshot" out &&
	test "$(on $h1 docker inspect -f {{.Id}} $T-db)" != "$id1"
'

test_expect_success 'a damaged pack fails verify, and restore refuses it and changes nothing' '
	on $h1 "for f in \$(find $REPO/data -type f); do printf XXXXXXXXXXXXXXXX | dd of=\$f bs=1 seek=100 conv=notrunc 2>/dev/null; done" &&
	test_must_fail berth backup verify db >out 2>&1 && cat out &&
	grep -q "does not verify" out &&
	berth backup list db >out 2>&1; cat out; grep -q " no: " out &&
	on $h1 "printf marker >$T-db/data/marker" &&
	test_must_fail berth backup restore -y db >out 2>&1 && cat out &&
	grep -q "does not verify" out &&
	test "$(on $h1 cat $T-db/data/marker)" = marker &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}" $T-db)" = true
'

test_done
