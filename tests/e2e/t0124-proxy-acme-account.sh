#!/usr/bin/env bash
# The ACME account changed at run time (`berth-proxy acme`), against two
# pebbles (Let's Encrypt's test CA): a new email is a new account at the CA
# for the next order, a new directory orders the certificates again from the
# new CA, with no restart and no failed request; the settings survive a
# restart and win over the boot's flags until --reset; bad values change
# nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

read -r P1 M1 P2 M2 HTTP_PORT TLS_PORT DNS_PORT CTS_PORT < <(free_ports 8)

start_acme_dns 127.0.0.1 "$DNS_PORT" "$CTS_PORT" || exit 1

# start_pebble NAME ACME-PORT MGMT-PORT: a CA that validates on the proxy's ports; its root
# goes to NAME-root.pem.
start_pebble() {
	cat >"$1.json" <<-JSON
		{"pebble": {
		  "listenAddress": "127.0.0.1:$2",
		  "managementListenAddress": "127.0.0.1:$3",
		  "certificate": "$TEST_TMP/pebble-cert.pem",
		  "privateKey": "$TEST_TMP/pebble-key.pem",
		  "httpPort": $HTTP_PORT,
		  "tlsPort": $TLS_PORT,
		  "ocspResponderURL": "",
		  "externalAccountBindingRequired": false
		}}
	JSON
	PEBBLE_VA_NOSLEEP=1 pebble -config "$1.json" -dnsserver "127.0.0.1:$DNS_PORT" \
		>"$1.log" 2>&1 </dev/null &
	test_cleanup "kill $!"
	wait_for_line "$1.log" 'istening on' >/dev/null &&
		curl -sf --cacert pebble-cert.pem "https://127.0.0.1:$3/roots/0" >"$1-root.pem"
}
start_pebble one "$P1" "$M1" || exit 1
start_pebble two "$P2" "$M2" || exit 1

start_app v1 v1 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
boot_proxy() {
	start_proxy "$1" --workers 2 --http-port $HTTP_PORT --https-port $TLS_PORT \
		--state-dir "$TEST_TMP/state" --acme-directory "https://127.0.0.1:$P1/dir" \
		--acme-ca-file "$TEST_TMP/pebble-cert.pem" --acme-email ops@acme.test
}
boot_proxy px || exit 1

# tcurl ROOT NAME: the app over HTTPS for NAME, verified against ROOT.
tcurl() {
	curl -sf --max-time 5 --cacert "$TEST_TMP/$1" --resolve "$2:$TLS_PORT:127.0.0.1" \
		"https://$2:$TLS_PORT/"
}
# served_by ROOT NAME: within ~15 s, NAME's certificate verifies against ROOT.
served_by() {
	local i
	for ((i = 0; i < 150; i++)); do
		tcurl "$1" "$2" 2>/dev/null | grep -q version=v1 && return 0
		sleep 0.1
	done
	return 1
}
deploy_tls() {
	"$PROXY" deploy "$1" --target 127.0.0.1:$v1_port --host "$2" --tls \
		--health-check-interval 100ms
}
acme_json() { "$PROXY" acme --json; }
accounts() { grep -c "There are now [0-9]* accounts in memory" "$1.log" || true; }

test_expect_success 'at boot: the flags, and no account yet' '
	"$PROXY" acme >show.out && cat show.out &&
	grep -q "^email: *ops@acme.test (given at boot)" show.out &&
	grep -q "^directory: *https://127.0.0.1:$P1/dir (given at boot)" show.out &&
	acme_json | jq -e ".email_source == \"boot\" and .directory_source == \"boot\" and
		.account == null" &&
	test ! -e state/acme/settings.json
'

test_expect_success 'the first order registers the boot account' '
	deploy_tls a a.acme.test >out 2>&1 || { cat out; false; }
	! grep warning out &&
	served_by one-root.pem a.acme.test &&
	acme_json >a.json && cat a.json &&
	jq -e ".account | startswith(\"https://127.0.0.1:$P1/\")" a.json &&
	test "$(accounts one)" = 1 &&
	test -s state/acme/account.key
'

test_expect_success 'a new email: the next order uses a new account; nothing restarts' '
	load_loop load.1 --cacert "$TEST_TMP/one-root.pem" \
		--resolve "a.acme.test:$TLS_PORT:127.0.0.1" "https://a.acme.test:$TLS_PORT/" &
	sleep 0.3 &&
	"$PROXY" acme --email dev@acme.test >set.out 2>&1 && cat set.out &&
	grep -q "^email: *dev@acme.test (set with berth-proxy acme)" set.out &&
	test "$(stat -c %a state/acme/settings.json)" = 600 &&
	jq -e ".email == \"dev@acme.test\" and (has(\"directory\") | not)" \
		state/acme/settings.json &&
	deploy_tls b b.acme.test >out 2>&1 || { cat out; false; }
	! grep warning out &&
	served_by one-root.pem b.acme.test &&
	touch stop && wait &&
	rm stop &&
	check_load load.1 v1 &&
	kill -0 $px_pid &&
	acme_json >b.json && cat b.json &&
	test "$(accounts one)" = 2 &&
	jq -e ".account | startswith(\"https://127.0.0.1:$P1/\")" b.json &&
	test "$(jq -r .account a.json)" != "$(jq -r .account b.json)" &&
	ls state/acme/accounts/*.key
'

test_expect_success 'a new directory: the certificates come again from the new CA' '
	"$PROXY" acme --directory "https://127.0.0.1:$P2/dir" >set.out 2>&1 && cat set.out &&
	grep -q "^directory: *https://127.0.0.1:$P2/dir (set with berth-proxy acme)" set.out &&
	served_by two-root.pem a.acme.test &&
	served_by two-root.pem b.acme.test &&
	test "$(accounts two)" = 1 &&
	acme_json | jq -e ".account | startswith(\"https://127.0.0.1:$P2/\")"
'

test_expect_success 'bad values are refused and change nothing' '
	cp state/acme/settings.json before.json &&
	{ "$PROXY" acme --email nope 2>err.out; test $? = 1; } && cat err.out &&
	grep -q "expected an email address" err.out &&
	{ "$PROXY" acme --directory http://127.0.0.1:$P1/dir 2>err.out; test $? = 1; } &&
	grep -q "expected an https URL" err.out &&
	test_must_fail "$PROXY" acme --reset --email x@acme.test 2>err.out &&
	grep -q usage err.out &&
	cmp before.json state/acme/settings.json
'

stop_pid $px_pid || exit 1
boot_proxy px2 || exit 1

test_expect_success 'a restart keeps them: they win over the boot flags' '
	acme_json >r.json && cat r.json &&
	jq -e ".email == \"dev@acme.test\" and .email_source == \"runtime\" and
		.directory == \"https://127.0.0.1:$P2/dir\" and .directory_source == \"runtime\"" r.json &&
	deploy_tls c c.acme.test >out 2>&1 || { cat out; false; }
	served_by two-root.pem c.acme.test &&
	test "$(accounts two)" = 1
'

test_expect_success '--reset: the boot account again, its key and its account at the CA' '
	"$PROXY" acme --reset >reset.out 2>&1 && cat reset.out &&
	test ! -e state/acme/settings.json &&
	grep -q "^email: *ops@acme.test (given at boot)" reset.out &&
	served_by one-root.pem c.acme.test &&
	acme_json >d.json && cat d.json &&
	test "$(jq -r .account d.json)" = "$(jq -r .account a.json)" &&
	test "$(accounts one)" = 2
'

test_done
