#!/usr/bin/env bash
# Certificates from ACME, end to end: berth-proxy run against pebble (Let's
# Encrypt's test CA, resolving names through pebble-challtestsrv), deploy
# --tls without certificate files. HTTP-01 on the proxy's HTTP port,
# TLS-ALPN-01 on its HTTPS port, DNS-01 for a wildcard through a command,
# renewal under load, a CA's refusal shown to the deployer, and no order for
# a name that no service has.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

read -r ACME_PORT MGMT_PORT SHORT_PORT SHORT_MGMT_PORT HTTP_PORT TLS_PORT DNS_PORT CTS_PORT \
	< <(free_ports 8)

start_acme_dns 127.0.0.1 "$DNS_PORT" "$CTS_PORT" || exit 1
# It says so before it listens: the DNS command must find it there.
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$CTS_PORT/" && break
	sleep 0.05
done

# start_pebble NAME ACME-PORT MGMT-PORT [VALIDITY-SECONDS]: a CA that validates on the
# proxy's ports; its root goes to NAME-root.pem.
start_pebble() {
	local validity=
	[[ -n ${4:-} ]] && validity=", \"certificateValidityPeriod\": $4"
	cat >"$1.json" <<-JSON
		{"pebble": {
		  "listenAddress": "127.0.0.1:$2",
		  "managementListenAddress": "127.0.0.1:$3",
		  "certificate": "$TEST_TMP/pebble-cert.pem",
		  "privateKey": "$TEST_TMP/pebble-key.pem",
		  "httpPort": $HTTP_PORT,
		  "tlsPort": $TLS_PORT,
		  "ocspResponderURL": "",
		  "externalAccountBindingRequired": false,
		  "domainBlocklist": ["blocked.acme.test"]$validity
		}}
	JSON
	PEBBLE_VA_NOSLEEP=1 pebble -config "$1.json" -dnsserver "127.0.0.1:$DNS_PORT" \
		>"$1.log" 2>&1 </dev/null &
	test_cleanup "kill $!"
	wait_for_line "$1.log" 'istening on' >/dev/null &&
		curl -sf --cacert pebble-cert.pem "https://127.0.0.1:$3/roots/0" >"$1-root.pem"
}
start_pebble pebble "$ACME_PORT" "$MGMT_PORT" || exit 1
# Certificates that live 9 seconds: renewed a third before the end.
start_pebble short "$SHORT_PORT" "$SHORT_MGMT_PORT" 9 || exit 1

cat >dns-cmd <<-SH
	#!/bin/sh
	echo "\$*" >>"$TEST_TMP/dns-cmd.log"
	case \$1 in
	set) exec curl -sf --retry 5 --retry-connrefused -d "{\"host\":\"\$2.\",\"value\":\"\$3\"}" http://127.0.0.1:$CTS_PORT/set-txt ;;
	clear) exec curl -sf -d "{\"host\":\"\$2.\"}" http://127.0.0.1:$CTS_PORT/clear-txt ;;
	esac
	exit 2
SH
chmod +x dns-cmd

start_app v1 v1 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
# The proxy on the ports pebble validates on; --acme-* as flags here, from the environment later.
start_proxy px --workers 2 --http-port $HTTP_PORT --https-port $TLS_PORT \
	--state-dir "$TEST_TMP/state" --acme-directory "https://127.0.0.1:$ACME_PORT/dir" \
	--acme-ca-file "$TEST_TMP/pebble-cert.pem" --acme-email ops@acme.test \
	--acme-dns-command "$TEST_TMP/dns-cmd" || exit 1

# tcurl ROOT NAME [CURL ARGS] PATH: curl over HTTPS to NAME (the proxy), verified against ROOT.
tcurl() {
	local root=$1 name=$2
	shift 2
	curl -s --cacert "$TEST_TMP/$root" --resolve "$name:$TLS_PORT:127.0.0.1" \
		"${@:1:$#-1}" "https://$name:$TLS_PORT${*: -1}"
}
deploy_tls() {
	"$PROXY" deploy "$1" --target 127.0.0.1:$v1_port --host "$2" --tls \
		--health-check-interval 100ms "${@:3}"
}
svc_json() {
	"$PROXY" list --json | jq -e ".[] | select(.name == \"$1\")"
}

test_expect_success 'HTTP-01: deploy --tls gets a certificate the CA signed' '
	deploy_tls web h.acme.test >out 2>&1 &&
	cat out &&
	! grep warning out &&
	tcurl pebble-root.pem h.acme.test -f / | grep version=v1 &&
	grep -q "validate w/ HTTP: http://h.acme.test:$HTTP_PORT/" pebble.log &&
	svc_json web | jq -e ".tls.certificate.source == \"acme\" and
		.tls.certificate.status == \"ok\" and .tls.certificate.not_after > 0" &&
	test "$(stat -c %a state/acme/certs/h.acme.test/key.pem)" = 600
'

test_expect_success 'a name no service has gets no certificate and starts no order' '
	orders=$(grep -c "Added order" pebble.log) &&
	test_must_fail tcurl pebble-root.pem other.acme.test -f / &&
	test_must_fail curl -sk --resolve "other.acme.test:$TLS_PORT:127.0.0.1" \
		"https://other.acme.test:$TLS_PORT/" &&
	sleep 0.5 &&
	test "$(grep -c "Added order" pebble.log)" = $orders &&
	! grep -q other.acme.test pebble.log &&
	! ls state/acme/certs | grep other
'

test_expect_success 'DNS-01: a wildcard host through the DNS command' '
	deploy_tls wild "*.w.acme.test" >out 2>&1 &&
	cat out &&
	! grep warning out &&
	tcurl pebble-root.pem x.w.acme.test -f / | grep version=v1 &&
	grep -q "^set _acme-challenge.w.acme.test " dns-cmd.log &&
	grep -q "^clear _acme-challenge.w.acme.test" dns-cmd.log
'

test_expect_success 'a CA that refuses: deploy switches, warns, list --json says why' '
	deploy_tls bad blocked.acme.test --tls-redirect=false >out 2>&1 &&
	cat out &&
	grep "warning: no certificate for .bad." out &&
	grep -i "refused\|blocked\|policy" out &&
	curl -sf -H "Host: blocked.acme.test" http://127.0.0.1:$HTTP_PORT/ | grep version=v1 &&
	svc_json bad >bad.json && cat bad.json &&
	jq -e ".tls.certificate.status == \"error\" and (.tls.certificate.error | length > 0)" \
		bad.json
'

# The same ports, another proxy: configured through the environment this time.
stop_pid $px_pid || exit 1
BERTH_PROXY_ACME_DIRECTORY=https://127.0.0.1:$ACME_PORT/dir \
	BERTH_PROXY_ACME_CA_FILE=$TEST_TMP/pebble-cert.pem BERTH_PROXY_ACME_CHALLENGE=tls-alpn-01 \
	start_proxy px2 --workers 2 --http-port $HTTP_PORT --https-port $TLS_PORT \
	--state-dir "$TEST_TMP/state2" || exit 1

test_expect_success 'TLS-ALPN-01, configured through the environment' '
	deploy_tls alpn t.acme.test >out 2>&1 &&
	cat out &&
	! grep warning out &&
	tcurl pebble-root.pem t.acme.test -f / | grep version=v1 &&
	# validated (pebble does not log how), not over HTTP, and px2 has no DNS command
	grep -q "Value:\"t.acme.test\"" pebble.log &&
	! grep -q "validate w/ HTTP: http://t.acme.test" pebble.log
'

# A CA whose certificates live 9 seconds.
stop_pid $px2_pid || exit 1
start_proxy px3 --workers 2 --http-port $HTTP_PORT --https-port $TLS_PORT \
	--state-dir "$TEST_TMP/state3" --acme-directory "https://127.0.0.1:$SHORT_PORT/dir" \
	--acme-ca-file "$TEST_TMP/pebble-cert.pem" || exit 1

test_expect_success 'short-lived certificates are renewed under load, no request fails' '
	deploy_tls renew r.acme.test >out 2>&1 &&
	cat out && ! grep warning out &&
	echo | openssl s_client -connect 127.0.0.1:$TLS_PORT -servername r.acme.test 2>/dev/null |
		openssl x509 -noout -serial >serial1 &&
	for i in 1 2 3 4; do
		load_loop load.$i --cacert "$TEST_TMP/short-root.pem" \
			--resolve "r.acme.test:$TLS_PORT:127.0.0.1" "https://r.acme.test:$TLS_PORT/" &
	done &&
	for i in $(seq 300); do
		test "$(grep -c "certificate for r.acme.test ready" px3.log)" -ge 2 && break
		sleep 0.1
	done &&
	sleep 1 &&
	touch stop && wait &&
	echo | openssl s_client -connect 127.0.0.1:$TLS_PORT -servername r.acme.test 2>/dev/null |
		openssl x509 -noout -serial >serial2 &&
	cat serial1 serial2 &&
	! cmp -s serial1 serial2 &&
	for i in 1 2 3 4; do check_load load.$i v1 || return 1; done
'

test_done
