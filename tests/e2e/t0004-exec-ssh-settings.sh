#!/usr/bin/env bash
# The ssh settings of deploy.yml (user, port, keys, proxy, config), given as
# flags, reach a real sshd the way the OpenSSH client reads them.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"

# Only what every server needs in any config: which host keys to trust.
cat >"$TEST_TMP/known_only" <<EOC
UserKnownHostsFile $LAB_KNOWN_HOSTS
GlobalKnownHostsFile /dev/null
StrictHostKeyChecking yes
EOC
plain=(--ssh-config "$TEST_TMP/known_only")

test_expect_success 'user, port and key as settings, not from an ssh config' '
	"$BERTH" server exec -h 127.0.0.1 "${plain[@]}" --ssh-user root --ssh-port "$LAB_LOCAL_PORT" \
		--ssh-key "$LAB_KEY" -- id -un >"$TEST_TMP/out" &&
	test "$(cat "$TEST_TMP/out")" = root
'

test_expect_success 'user and port written in the host win over the settings' '
	"$BERTH" server exec -h "root@127.0.0.1:$LAB_LOCAL_PORT" "${plain[@]}" --ssh-user nobody \
		--ssh-port 1 --ssh-key "$LAB_KEY" -- id -un >"$TEST_TMP/out" &&
	test "$(cat "$TEST_TMP/out")" = root
'

test_expect_success 'without the key the host refuses us' '
	ssh-keygen -q -t ed25519 -N "" -f "$TEST_TMP/other" &&
	! "$BERTH" server exec -h "root@127.0.0.1:$LAB_LOCAL_PORT" "${plain[@]}" \
		--ssh-key "$TEST_TMP/other" -- true 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "Permission denied"
'

test_expect_success 'an unknown host key is refused, with what to do' '
	printf "UserKnownHostsFile /dev/null\nGlobalKnownHostsFile /dev/null\nStrictHostKeyChecking yes\n" \
		>"$TEST_TMP/no_known" &&
	! "$BERTH" server exec -h "root@127.0.0.1:$LAB_LOCAL_PORT" --ssh-config "$TEST_TMP/no_known" \
		--ssh-key "$LAB_KEY" -- true 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "Host key verification failed.*known_hosts"
'

test_expect_success 'a jump host (ssh.proxy): the target sees the jump host as its client' '
	test ${#hosts[@]} -ge 2 &&
	"$BERTH" server exec -h "${hosts[1]}" --ssh-config "$LAB_SSH_CONFIG" --ssh-proxy "${hosts[0]}" \
		-- sh -c "echo \$SSH_CLIENT" >"$TEST_TMP/out" &&
	read -r client _ <"$TEST_TMP/out" &&
	test "$client" = "$LAB_H1_ADDR"
'

test_expect_success 'without the jump host the same command comes straight from here' '
	"$BERTH" server exec -h "${hosts[1]}" --ssh-config "$LAB_SSH_CONFIG" \
		-- sh -c "echo \$SSH_CLIENT" >"$TEST_TMP/out" &&
	read -r client _ <"$TEST_TMP/out" &&
	test "$client" != "$LAB_H1_ADDR"
'

test_expect_success 'connections are reused: one ssh connection stays open for many commands' '
	for i in 1 2 3; do
		"$BERTH" server exec -h "${hosts[2]}" --ssh-config "$LAB_SSH_CONFIG" -- true || exit 1
	done
	# without multiplexing each command would have closed its own connection
	n=$(ss -Htn state established dst "$LAB_H3_ADDR:22" | wc -l) &&
	test "$n" = 1
'

test_done
