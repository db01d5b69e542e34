#!/usr/bin/env bash
# engine/sftp over real ssh: one SFTP session to lab-h1 through the lab's ssh
# config (the sftp subsystem over the multiplexed connection) creates, writes,
# reads, renames and appends files, and the host sees exactly that.
. "$(dirname "$0")/lib.sh"
lab_env

DRIVER=$TOP/build/sftp-driver
sftp_h1() { "$DRIVER" -F "$LAB_SSH_CONFIG" lab-h1 "$@"; }
d=.berth-e2e-sftp-$T # relative: from the home, where the session starts
test_cleanup "\"$LAB\" exec h1 rm -rf \"/root/$d\""

test_expect_success 'the session starts in the home and offers posix-rename and fsync' '
	sftp_h1 realpath . exts >"$TEST_TMP/out" &&
	home=$("$LAB" exec h1 getent passwd root | cut -d: -f6) &&
	printf "%s\nposix-rename fsync\n" "$home" >"$TEST_TMP/want" &&
	diff "$TEST_TMP/want" "$TEST_TMP/out"
'

test_expect_success 'mkdir is exclusive: the second one is told it exists' '
	sftp_h1 mkdir-p "$d/apps/web" mkdir "$d/apps/web/lock" mkdir "$d/apps/web/lock" \
		>"$TEST_TMP/out" &&
	printf "ok\ncreated\nexists\n" >"$TEST_TMP/want" &&
	diff "$TEST_TMP/want" "$TEST_TMP/out" &&
	test "$("$LAB" exec h1 stat -c %a "/root/$d/apps/web/lock")" = 700
'

test_expect_success 'a file written atomically, read, renamed: the host has it, mode 0600' '
	sftp_h1 write "$d/f" "hello world" read "$d/f" rename "$d/f" "$d/g" stat "$d/f" stat "$d/g" \
		>"$TEST_TMP/out" &&
	printf "ok\nhello world\nok\nmissing\nfile 0600 11\n" >"$TEST_TMP/want" &&
	diff "$TEST_TMP/want" "$TEST_TMP/out" &&
	test "$("$LAB" exec h1 cat "/root/$d/g")" = "hello world" &&
	test "$("$LAB" exec h1 stat -c %a "/root/$d/g")" = 600 &&
	"$LAB" exec h1 test ! -e "/root/$d/f" &&
	test -z "$("$LAB" exec h1 find "/root/$d" -name "*.tmp")"
'

test_expect_success 'a rename replaces the file there; a new write replaces it whole' '
	sftp_h1 write "$d/a" one write "$d/b" two rename "$d/a" "$d/b" write "$d/b" three \
		>"$TEST_TMP/out" &&
	test "$("$LAB" exec h1 cat "/root/$d/b")" = three &&
	"$LAB" exec h1 test ! -e "/root/$d/a"
'

test_expect_success 'appends from two sessions, and bytes no shell would leave alone' '
	sftp_h1 append "$d/audit.log" "first
" &&
	sftp_h1 append "$d/audit.log" "it'"'"'s \$HOME \`id\` \"x\" ;|&
" &&
	"$LAB" exec h1 cat "/root/$d/audit.log" >"$TEST_TMP/out" &&
	printf "%s\n" "first" "it'"'"'s \$HOME \`id\` \"x\" ;|&" >"$TEST_TMP/want" &&
	diff "$TEST_TMP/want" "$TEST_TMP/out" &&
	test "$("$LAB" exec h1 stat -c %a "/root/$d/audit.log")" = 600
'

test_expect_success 'an exclusive write does not touch an existing file' '
	sftp_h1 write-excl "$d/x" first write-excl "$d/x" second read "$d/x" >"$TEST_TMP/out" &&
	printf "ok\nexists\nfirst\n" >"$TEST_TMP/want" &&
	diff "$TEST_TMP/want" "$TEST_TMP/out"
'

test_expect_success 'the host'"'"'s refusal comes back with the operation and the path' '
	! sftp_h1 remove "$d/apps" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^error: sftp remove $d/apps: " &&
	sftp_h1 remove "$d/g" remove "$d/g" rmdir "$d/apps/web/lock" >"$TEST_TMP/out" &&
	printf "ok\nmissing\nok\n" >"$TEST_TMP/want" &&
	diff "$TEST_TMP/want" "$TEST_TMP/out" &&
	"$LAB" exec h1 test ! -e "/root/$d/apps/web/lock"
'

test_expect_success 'a host that does not answer is an error naming it, not a hang' '
	! timeout 60 "$DRIVER" -F "$LAB_SSH_CONFIG" root@10.213.0.250 realpath . 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "host .root@10.213.0.250.: cannot connect over ssh"
'

test_done
