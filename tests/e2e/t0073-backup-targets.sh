#!/usr/bin/env bash
# berth backup to other places than the accessory's host: `db` on lab-h1
# backed up over SSH into a directory of lab-h2 (a key the test authorizes
# for lab-h1's address only), `files` on lab-h1 and lab-h3 backed up to one
# S3 repository (s3rver on the lab's bridge address), each host's snapshots
# its own. Each is backed up, listed, verified, restored after its data was
# destroyed; a changed SSH host key and a wrong password fail loudly without
# a second repository; a missing S3 secret is named; no secret is in an argv
# on the hosts or in any output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

reg=$LAB_REGISTRY
acc=$reg/$T-bkt:1
H2_ADDR=$(addr_of "$h2")
SSH_REPO=/var/tmp/berth-bkt-$T
BRIDGE_ADDR=${LAB_H1_ADDR%.*}.1
S3_DATA=$TEST_TMP/s3
NPM_DIR=${BERTH_E2E_NPM_DIR:-/var/tmp/berth-e2e-npm}
DB_PW="dbpw-$T-$RANDOM$RANDOM$RANDOM"
FILES_PW="filespw-$T-$RANDOM$RANDOM$RANDOM"
S3_SECRET="s3secret-$T-$RANDOM$RANDOM$RANDOM"
KH=$RUN_DIR/apps/$T/backups/known_hosts
# files's data is under /run, which each lab host has of its own (homes are shared)
FILES_DIR=/run/$T-files/data

# s3rver, a real S3 endpoint, kept in a test-only node_modules across runs
if [[ ! -f $NPM_DIR/node_modules/s3rver/package.json ]]; then
	mkdir -p "$NPM_DIR"
	npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" s3rver@3.7.1 >/dev/null 2>&1 ||
		{ echo "Bail out! npm cannot install s3rver"; exit 1; }
fi
mkdir -p "$S3_DATA"
NODE_PATH=$NPM_DIR/node_modules node "$TOP/tests/e2e/s3-server.js" "$BRIDGE_ADDR" 0 "$S3_DATA" \
	>"$TEST_TMP/s3.out" 2>"$TEST_TMP/s3.err" &
s3_pid=$!
test_cleanup "kill $s3_pid"
for _ in $(seq 1 100); do
	grep -q '^listening' "$TEST_TMP/s3.out" && break
	sleep 0.1
done
S3_PORT=$(sed -n 's/^listening //p' "$TEST_TMP/s3.out")
[[ -n $S3_PORT ]] || { cat "$TEST_TMP/s3.err"; echo "Bail out! s3rver did not start"; exit 1; }

# the backup key: authorized on lab-h2 (every lab host reads one file) for lab-h1's address only
ssh-keygen -q -t ed25519 -N '' -C "berth-bkt-$T" -f "$TEST_TMP/bk_key"
printf 'from="%s" %s\n' "$LAB_H1_ADDR" "$(cat "$TEST_TMP/bk_key.pub")" >>"$LAB_DIR/authorized_keys"
test_cleanup "sed -i '/ berth-bkt-$T\$/d' $LAB_DIR/authorized_keys"
KEY_LINE=$(sed -n 2p "$TEST_TMP/bk_key")

accessory_image "$acc"
test_cleanup "on $h1 'docker rm -f $T-db $T-files; docker ps -aq --filter label=berth.backup=$T-db --filter label=berth.backup=$T-files | xargs -r docker rm -f; docker rmi -f $acc; rm -rf $T-db /run/$T-files'"
test_cleanup "on $h3 'docker rm -f $T-files; docker ps -aq --filter label=berth.backup=$T-files | xargs -r docker rm -f; docker rmi -f $acc; rm -rf /run/$T-files'"
test_cleanup "rm -rf $SSH_REPO"

write_config \
	"accessories:" \
	"  db:" \
	"    image: $acc" \
	"    host: $h1" \
	"    cmd: --version db-1" \
	"    directories:" \
	"      - data:/data" \
	"    x-backup:" \
	"      to: ssh://root@$H2_ADDR$SSH_REPO" \
	"      ssh_key: BACKUP_SSH_KEY" \
	"      password: DB_BACKUP_PASSWORD" \
	"  files:" \
	"    image: $acc" \
	"    hosts: [$h1, $h3]" \
	"    cmd: --version files-1" \
	"    directories:" \
	"      - $FILES_DIR:/data" \
	"    x-backup:" \
	"      to: s3://berth-$T/files" \
	"      endpoint: http://$BRIDGE_ADDR:$S3_PORT" \
	"      keep: {daily: 1}" \
	"      password: FILES_BACKUP_PASSWORD"
# the key as Kamal users keep one: read from its file (its last newline dropped)
{
	printf 'BACKUP_SSH_KEY=$(cat %s)\n' "$TEST_TMP/bk_key"
	printf 'DB_BACKUP_PASSWORD=%s\nFILES_BACKUP_PASSWORD=%s\n' "$DB_PW" "$FILES_PW"
	printf 'AWS_ACCESS_KEY_ID=S3RVER\nAWS_SECRET_ACCESS_KEY=%s\n' "$S3_SECRET"
} >>"$APP/.berth/secrets"

# data NAME: where accessory NAME keeps its data
data() { if [[ $1 == files ]]; then echo "$FILES_DIR"; else echo "$T-$1/data"; fi; }
# sums NAME: every file of accessory NAME's data on lab-h1 with its sha256, sorted
sums() { on "$h1" "cd $(data "$1") && find . -type f -exec sha256sum {} + | sort -k 2"; }
# fill NAME: some files in accessory NAME's data on lab-h1
fill() {
	local d
	d=$(data "$1")
	on "$h1" "mkdir -p $d/sub && printf one >$d/a.txt && head -c 300000 /dev/urandom >$d/sub/blob && printf \"x y\" >\"$d/sub/with space\""
}
# scanned CMD...: CMD while the host's processes' argv are sampled into ps
scanned() {
	local scan rc=0
	(for _ in $(seq 1 400); do on "$h1" ps -eo args; sleep 0.05; done) >ps 2>/dev/null &
	scan=$!
	"$@" || rc=$?
	kill $scan 2>/dev/null || true
	wait $scan 2>/dev/null || true
	return $rc
}
# no_secret FILE...: none of the secrets in these files
no_secret() {
	! grep -F -e "$DB_PW" -e "$FILES_PW" -e "$S3_SECRET" -e "$KEY_LINE" "$@"
}
# s3_objects: the objects s3rver holds, with their sizes
s3_objects() { (cd "$S3_DATA" && find . -type f -name '*._S3rver_object' -printf '%p %s\n' | sort); }

test_expect_success 'the backup image is built and both accessories run with data' '
	"$TOP/scripts/make-backup-image" "$(cat "$TOP/VERSION")" >/dev/null &&
	berth accessory boot db >out 2>&1 || { cat out; exit 1; }
	berth accessory boot files >out 2>&1 || { cat out; exit 1; }
	fill db && fill files && on $h3 "printf three >$FILES_DIR/c.txt" &&
	sums db >db.before && test "$(wc -l <db.before)" = 3 &&
	sums files >files.before && test "$(wc -l <files.before)" = 3
'

test_expect_success 'ssh: backup now makes the repository on lab-h2 and pins its host key; no secret in argv or output' '
	rc=0 && scanned berth backup now db -v >out 2>&1 || rc=$?
	cat out && test $rc = 0 &&
	grep -q "snapshot [0-9a-f]* of .db. taken" out && grep -q "of .db. verified" out &&
	grep -q "berth-backup" ps && no_secret ps out &&
	on $h2 test -f $SSH_REPO/config &&
	on $h1 cat $KH >kh && grep -q "^$H2_ADDR ssh-ed25519 " kh &&
	test "$(on $h1 stat -c %a $KH)" = 600 &&
	test "$(on $h1 docker inspect -f {{.State.Running}}/{{.State.Paused}} $T-db)" = true/false
'

test_expect_success 'ssh: list shows the snapshot verified; restore -y brings the data back byte for byte' '
	berth backup list db >out 2>&1 && cat out &&
	test "$(grep -c "yes$" out)" = 1 &&
	on $h1 "rm -rf $T-db/data/* && printf broken >$T-db/data/a.txt" &&
	scanned berth backup restore -y db >out 2>&1 || { cat out; exit 1; }
	no_secret ps out &&
	sums db >db.after && diff db.before db.after &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}" $T-db)" = true
'

test_expect_success 'ssh: a changed host key fails loudly and touches nothing' '
	ssh-keygen -q -t ed25519 -N "" -f other &&
	on $h1 cp $KH $KH.good &&
	printf "%s %s\n" "$H2_ADDR" "$(cut -d" " -f1,2 other.pub)" | on $h1 "cat >$KH" &&
	rc=0 && test_must_fail berth backup verify db >out 2>&1 || rc=1
	on $h1 mv -f $KH.good $KH &&
	cat out && test $rc = 0 &&
	grep -q "cannot open the repository at sftp://root@$H2_ADDR:22/$SSH_REPO: the SSH host key changed" out &&
	on $h2 test -f $SSH_REPO/config && test "$(on $h2 ls $SSH_REPO/keys | wc -l)" = 1 &&
	berth backup verify db >out 2>&1 || { cat out; exit 1; }
'

test_expect_success 's3: backup now creates the bucket and the repository; no secret in argv or output' '
	rc=0 && scanned berth backup now files -v >out 2>&1 || rc=$?
	cat out && test $rc = 0 &&
	grep -q "snapshot [0-9a-f]* of .files. taken" out && grep -q "of .files. verified" out &&
	no_secret ps out &&
	test -f "$S3_DATA/berth-$T/files/config._S3rver_object" &&
	on $h1 cat $RUN_DIR/apps/$T/backups/files.json >state && grep -q "\"verified\":true" state &&
	no_secret state
'

test_expect_success 's3: keep daily 1 leaves one snapshot per host after a second backup; list and verify' '
	on $h1 "printf two >$FILES_DIR/b.txt" &&
	berth backup now files >out 2>&1 || { cat out; exit 1; }
	berth backup list files >out 2>&1 && cat out &&
	test "$(grep -c "^[0-9a-f]\{8\} .*yes$" out)" = 2 &&
	test "$(grep -A2 "^$h1:" out | grep -c "^[0-9a-f]\{8\} ")" = 1 &&
	test "$(grep -A2 "^$h3:" out | grep -c "^[0-9a-f]\{8\} ")" = 1 &&
	berth backup verify files >out 2>&1 || { cat out; exit 1; }
	sums files >files.before
'

test_expect_success 's3: restore -y brings each host its own data back byte for byte' '
	on $h1 "rm -rf $FILES_DIR/*" && on $h3 "rm -rf $FILES_DIR/*" &&
	berth backup restore -y files >out 2>&1 || { cat out; exit 1; }
	sums files >files.after && diff files.before files.after &&
	test "$(on $h3 ls $FILES_DIR)" = c.txt && test "$(on $h3 cat $FILES_DIR/c.txt)" = three &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}" $T-files)" = true
'

test_expect_success 's3: a wrong password fails loudly and makes no second repository' '
	s3_objects >objs.before &&
	sed -i "s/^FILES_BACKUP_PASSWORD=.*/FILES_BACKUP_PASSWORD=wrong-$T/" "$APP/.berth/secrets" &&
	rc=0 && test_must_fail berth backup now files >out 2>&1 || rc=1
	test_must_fail berth backup list files >>out 2>&1 || rc=1
	sed -i "s/^FILES_BACKUP_PASSWORD=.*/FILES_BACKUP_PASSWORD=$FILES_PW/" "$APP/.berth/secrets" &&
	cat out && test $rc = 0 &&
	grep -q "cannot open the repository at s3:http://$BRIDGE_ADDR:$S3_PORT/berth-$T/files: wrong password" out &&
	s3_objects >objs.after && diff objs.before objs.after &&
	test "$(on $h1 docker inspect -f {{.State.Running}}/{{.State.Paused}} $T-files)" = true/false &&
	berth backup verify files >out 2>&1 || { cat out; exit 1; }
'

test_expect_success 's3: a missing key secret is named, and nothing runs' '
	sed -i "/^AWS_SECRET_ACCESS_KEY=/d" "$APP/.berth/secrets" &&
	test_must_fail berth backup now files >out 2>&1 && cat out &&
	grep -q "secret .AWS_SECRET_ACCESS_KEY. is not set" out &&
	test "$(on $h1 docker inspect -f {{.State.Running}}/{{.State.Paused}} $T-files)" = true/false
'

test_done
