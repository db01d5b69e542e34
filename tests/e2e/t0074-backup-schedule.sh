#!/usr/bin/env bash
# Scheduled backups on the lab: an accessory (`db` on lab-h1) with a backup
# schedule of every minute gets a scheduler container at boot, which backs
# it up and verifies the snapshot by itself, with no berth command in
# between and the password in no argv on the host; the scheduler runs again
# after its process was killed and after the host's dockerd restarted;
# `berth doctor` reports the last verified backup's age, and fails once the
# scheduler is stopped and that backup looks old; boot again changes
# nothing; `accessory remove` takes the scheduler, its job and secret away.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

reg=$LAB_REGISTRY
acc=$reg/$T-bks:1
REPO=/var/tmp/berth-bks-$T
BK_PW="bkpw-$T-$RANDOM$RANDOM$RANDOM"
BK=$RUN_DIR/apps/$T/backups
SCHED=$T-db-backup

accessory_image "$acc"
test_cleanup "on $h1 'docker rm -f $SCHED $T-db; docker ps -aq --filter label=berth.backup=$T-db | xargs -r docker rm -f; docker rmi -f $acc; rm -rf $T-db $REPO $RUN_DIR'"

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
	"      schedule: \"* * * * *\"" \
	"      keep: {daily: 3}" \
	"      to: $REPO" \
	"      password: BACKUP_PASSWORD"
printf 'BACKUP_PASSWORD=%s\n' "$BK_PW" >>"$APP/.berth/secrets"

# verified_runs: how many runs verified, by the runs file on h1
verified_runs() { on $h1 "grep -c ' 1 -\$' $BK/db.runs"; }
# runs_wait N: on h1, until the runs file has N verified lines (at most
# ~150 s), every process's argv is listed (into ps here); fails when none came
runs_wait() {
	on $h1 "for i in \$(seq 1 1500); do ps -eo args; if [ \"\$(grep -c ' 1 -\$' $BK/db.runs 2>/dev/null)\" -ge $1 ]; then echo @@done; exit 0; fi; sleep 0.1; done; exit 1" >ps 2>&1
}

test_expect_success 'boot installs the scheduler: running, restarting unless stopped; job and secret 0600 on the host' '
	"$TOP/scripts/make-backup-image" "$(cat "$TOP/VERSION")" >/dev/null &&
	berth accessory boot db >out 2>&1 || { cat out; exit 1; }
	cat out && grep -q "backup scheduler of .db. installed" out &&
	on $h1 "mkdir -p $T-db/data/sub && printf one >$T-db/data/a.txt && head -c 100000 /dev/urandom >$T-db/data/sub/blob" &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}/{{.HostConfig.RestartPolicy.Name}}" $SCHED)" = true/unless-stopped &&
	test "$(on $h1 stat -c %a $BK $BK/db.secret $BK/db.job | tr "\n" " ")" = "700 600 600 " &&
	printf "berth-backup-secrets 1\npassword %s\n\n%s" "${#BK_PW}" "$BK_PW" >want &&
	on $h1 cat $BK/db.secret >got && cmp want got &&
	! on $h1 grep -F -- "$BK_PW" $BK/db.job
'

test_expect_success 'a scheduled backup runs and verifies by itself; the password is in no argv' '
	runs_wait 1 || { tail -n 5 ps; on $h1 docker logs $SCHED; exit 1; }
	grep -q "^@@done" ps && grep -q "berth-backup" ps && ! grep -F -- "$BK_PW" ps &&
	on $h1 cat $BK/db.runs >runs && cat runs &&
	grep -q "^[0-9]* schedule [0-9a-f]\{8\} [0-9]* 1 -$" runs &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}/{{.State.Paused}}" $T-db)" = true/false &&
	berth backup list db >out 2>&1 && cat out &&
	grep -q "scheduler running, next run" out && grep -q " yes$" out
'

test_expect_success 'doctor reports the age of the last verified backup and the next run' '
	berth doctor -h $h1 >out 2>&1; cat out &&
	grep -E -q "^ +ok +backup +db: last verified backup [0-9]+s ago \(snapshot [0-9a-f]{8}\); next run" out
'

test_expect_success 'the scheduler runs again after it was killed and after dockerd restarted' '
	n=$(verified_runs) &&
	pid=$(on $h1 docker inspect -f "{{.State.Pid}}" $SCHED) &&
	on $h1 kill -9 "$pid" &&
	runs_wait $((n + 1)) || { tail -n 5 ps; on $h1 docker logs $SCHED; exit 1; }
	test "$(on $h1 docker inspect -f "{{.RestartCount}}" $SCHED)" -ge 1 &&
	n=$(verified_runs) &&
	dpid=$(cat "$LAB_DIR/h1/docker.pid") &&
	kill "$dpid" &&
	for i in $(seq 300); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done &&
	test_must_fail kill -0 "$dpid" 2>/dev/null &&
	"$TOP/tests/e2e/lab/lab" up >lab.out 2>&1 &&
	runs_wait $((n + 1)) || { tail -n 5 ps; on $h1 docker logs $SCHED; exit 1; }
	test "$(on $h1 docker inspect -f "{{.State.Running}}" $SCHED)" = true &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}/{{.State.Paused}}" $T-db)" = true/false
'

test_expect_success 'boot again changes nothing' '
	id=$(on $h1 docker inspect -f "{{.Id}}" $SCHED) &&
	berth accessory boot db >out 2>&1 || { cat out; exit 1; }
	cat out && grep -q "backup scheduler of .db. unchanged" out &&
	! grep -q "backup scheduler of .db. \(installed\|updated\|started\)" out &&
	test "$(on $h1 docker inspect -f "{{.Id}}" $SCHED)" = "$id"
'

# (by now two scheduled runs were due since the scheduler came: none is excused)
test_expect_success 'doctor fails once the scheduler is stopped and the last verified backup looks old' '
	on $h1 docker stop $SCHED >/dev/null &&
	on $h1 "sed -i \"s/^[0-9]* /1700000000 /\" $BK/db.runs" &&
	test_must_fail berth doctor -h $h1 >out 2>&1; cat out &&
	grep -E -q "^ +FAIL +backup +db: .*older than the schedule allows.*the backup scheduler is exited" out &&
	berth backup schedule db >out 2>&1 && cat out &&
	grep -q "backup scheduler of .db. started" out &&
	test "$(on $h1 docker inspect -f "{{.State.Running}}" $SCHED)" = true
'

test_expect_success 'accessory remove takes the scheduler, its job and its secret away; list says so' '
	berth accessory remove -y db >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test_must_fail on $h1 docker inspect $SCHED >/dev/null 2>&1 &&
	test_must_fail on $h1 test -e $BK/db.secret &&
	test_must_fail on $h1 test -e $BK/db.job &&
	berth backup list db >out 2>&1 && cat out && grep -q "scheduler none" out
'

test_done
