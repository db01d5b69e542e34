#!/usr/bin/env bash
# The SSH executor gives the remote program the very bytes of argv, over
# real sshd, and says clearly why a host cannot be reached.
. "$(dirname "$0")/lib.sh"
lab_env

nasty=(plain 'two words' "it's" '"double"' '$HOME ${X} $(id) `id`' 'a;b && c || d | e > f'
	$'line1\nline2\n' $'tab\there' '' "'" '\back\slash\' '*?[a-z]{x,y}~!#%^' '=eq' '~root' -n
	$'\x01\x7f\xc3\xa9 utf-8')
ssh_opts=(--ssh-config "$LAB_SSH_CONFIG")

for host in "$LAB_LOCAL" ${LAB_HOSTS%% *}; do
	test_expect_success "arguments reach $host byte for byte" '
		printf "%s\0" "${nasty[@]}" >"$TEST_TMP/expect" &&
		"$BERTH" server exec -h "$host" "${ssh_opts[@]}" -- printf "%s\0" "${nasty[@]}" \
			>"$TEST_TMP/got-$host" &&
		cmp "$TEST_TMP/expect" "$TEST_TMP/got-$host"
	'
done

test_expect_success 'stdin is streamed to the remote program unchanged' '
	head -c 3000000 /dev/urandom >"$TEST_TMP/blob" &&
	sha256sum <"$TEST_TMP/blob" | cut -d" " -f1 >"$TEST_TMP/sum.expect" &&
	"$BERTH" server exec -i -h "$LAB_LOCAL" "${ssh_opts[@]}" -- sha256sum <"$TEST_TMP/blob" |
		cut -d" " -f1 >"$TEST_TMP/sum.got" &&
	cmp "$TEST_TMP/sum.expect" "$TEST_TMP/sum.got"
'

test_expect_success 'the remote exit status comes back' '
	set +e
	"$BERTH" server exec -h "$LAB_LOCAL" "${ssh_opts[@]}" -- sh -c "exit 7"
	rc=$?
	set -e
	test "$rc" = 7
'

test_expect_success 'a one-word shell line runs through sh -c, as in Kamal' '
	"$BERTH" server exec -h "$LAB_LOCAL" "${ssh_opts[@]}" "echo one; echo two | tr a-z A-Z" \
		>"$TEST_TMP/out" &&
	printf "one\nTWO\n" >"$TEST_TMP/expect" &&
	cmp "$TEST_TMP/expect" "$TEST_TMP/out"
'

test_expect_success 'an unreachable host names itself, the ssh error and what to check' '
	! "$BERTH" server exec -h 127.0.0.1:1 "${ssh_opts[@]}" -- true 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "host .127\.0\.0\.1:1.: cannot connect over ssh: .*Connection refused; is sshd running"
'

test_expect_success 'a key the host does not know is reported as such' '
	ssh-keygen -q -t ed25519 -N "" -f "$TEST_TMP/stranger" &&
	! "$BERTH" server exec -h "$LAB_LOCAL" --ssh-config "$LAB_SSH_CONFIG_NOKEY" \
		--ssh-key "$TEST_TMP/stranger" -- true 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "Permission denied.*authorized_keys"
'

test_expect_success 'a host that looks like an ssh option is refused before ssh runs' '
	! "$BERTH" server exec -h "-oProxyCommand=touch $TEST_TMP/pwned" "${ssh_opts[@]}" -- true \
		2>"$TEST_TMP/err" &&
	test ! -e "$TEST_TMP/pwned" &&
	grep_q "$TEST_TMP/err" "invalid host"
'

test_done
