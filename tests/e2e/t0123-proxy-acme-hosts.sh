#!/usr/bin/env bash
# One certificate for a service on two hosts: the issuer orders it from ACME
# (pebble), the follower (deploy --tls-issuer) fetches it sealed from the
# issuer and serves the same one. DNS points the name at the follower only,
# so the CA's HTTP-01 check only passes if the follower relays it to the
# issuer. Renewal reaches the follower; a follower with the wrong secret says
# so and keeps serving what it had.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

read -r ACME_PORT MGMT_PORT F_HTTP F_TLS I_HTTP I_TLS DNS_PORT CTS_PORT < <(free_ports 8)

start_acme_dns 127.0.0.1 "$DNS_PORT" "$CTS_PORT" || exit 1

# The CA checks HTTP-01 on the follower's port only: the name "resolves" to the follower.
# Its certificates live 30 seconds, so they are renewed 10 seconds before the end.
cat >pebble.json <<-JSON
	{"pebble": {
	  "listenAddress": "127.0.0.1:$ACME_PORT",
	  "managementListenAddress": "127.0.0.1:$MGMT_PORT",
	  "certificate": "$TEST_TMP/pebble-cert.pem",
	  "privateKey": "$TEST_TMP/pebble-key.pem",
	  "httpPort": $F_HTTP,
	  "tlsPort": $F_TLS,
	  "ocspResponderURL": "",
	  "externalAccountBindingRequired": false,
	  "certificateValidityPeriod": 30
	}}
JSON
PEBBLE_VA_NOSLEEP=1 pebble -config pebble.json -dnsserver "127.0.0.1:$DNS_PORT" \
	>pebble.log 2>&1 </dev/null &
test_cleanup "kill $!"
wait_for_line pebble.log 'istening on' >/dev/null || exit 1
curl -sf --cacert pebble-cert.pem "https://127.0.0.1:$MGMT_PORT/roots/0" >root.pem || exit 1

start_app v1 v1 || exit 1
BERTH_PROXY_SOCKET=$TEST_TMP/issuer.sock start_proxy issuer --http-port $I_HTTP \
	--https-port $I_TLS --state-dir "$TEST_TMP/istate" \
	--acme-directory "https://127.0.0.1:$ACME_PORT/dir" \
	--acme-ca-file "$TEST_TMP/pebble-cert.pem" || exit 1
BERTH_PROXY_SOCKET=$TEST_TMP/follower.sock start_proxy follower --http-port $F_HTTP \
	--https-port $F_TLS --state-dir "$TEST_TMP/fstate" \
	--acme-directory "https://127.0.0.1:$ACME_PORT/dir" \
	--acme-ca-file "$TEST_TMP/pebble-cert.pem" || exit 1

on_issuer() { BERTH_PROXY_SOCKET=$TEST_TMP/issuer.sock "$PROXY" "$@"; }
on_follower() { BERTH_PROXY_SOCKET=$TEST_TMP/follower.sock "$PROXY" "$@"; }
# serial PORT: the serial of the certificate served for h.multi.test on PORT.
serial() {
	echo | openssl s_client -connect 127.0.0.1:$1 -servername h.multi.test 2>/dev/null |
		openssl x509 -noout -serial
}
follow() { # follow SECRET [ARGS]: deploys the follower with SECRET on its stdin
	echo "$1" | on_follower deploy web --target 127.0.0.1:$v1_port --host h.multi.test --tls \
		--tls-issuer "http://127.0.0.1:$I_HTTP" --tls-secret-stdin \
		--health-check-interval 100ms "${@:2}"
}

test_expect_success 'the issuer makes a secret once and keeps it, 0600' '
	on_issuer tls-secret web >secret &&
	grep -qE "^[0-9a-f]{64}$" secret &&
	on_issuer tls-secret web >secret2 &&
	cmp secret secret2 &&
	test "$(stat -c %a istate/tls-secrets/web)" = 600
'

test_expect_success 'a CA that reaches only the follower: one order, both hosts serve it' '
	follow "$(cat secret)" >fout 2>&1 &
	fpid=$! &&
	wait_for_line follower.log "deployed|certificate" >/dev/null;
	sleep 0.3 &&
	on_issuer deploy web --target 127.0.0.1:$v1_port --host h.multi.test --tls \
		--health-check-interval 100ms >iout 2>&1 &&
	cat iout && ! grep warning iout &&
	wait $fpid && cat fout && ! grep warning fout &&
	grep -q "validate w/ HTTP: http://h.multi.test:$F_HTTP/" pebble.log &&
	test "$(grep -c "Added order" pebble.log)" = 1 &&
	serial $I_TLS >s.issuer && serial $F_TLS >s.follower && cat s.issuer s.follower &&
	grep -q serial= s.issuer && cmp s.issuer s.follower &&
	curl -sf --cacert root.pem --resolve "h.multi.test:$F_TLS:127.0.0.1" \
		"https://h.multi.test:$F_TLS/" | grep version=v1 &&
	test "$(stat -c %a fstate/tls-follow/web/key.pem)" = 600 &&
	test "$(stat -c %a fstate/tls-follow/web/secret)" = 600 &&
	on_follower list --json | jq -e ".[] | select(.name == \"web\") | .tls.certificate |
		.source == \"issuer\" and .status == \"ok\" and .not_after > 0"
'

test_expect_success 'nobody without the secret learns anything from the answer' '
	curl -sf "http://127.0.0.1:$I_HTTP/.well-known/berth-proxy/tls/web" >box &&
	! grep -a -q "BEGIN" box &&
	! grep -a -q "h.multi.test" box &&
	test "$(curl -s -o /dev/null -w %{http_code} \
		"http://127.0.0.1:$I_HTTP/.well-known/berth-proxy/tls/other")" = 404
'

test_expect_success 'a renewed certificate reaches the follower' '
	for i in $(seq 400); do
		test "$(grep -c "certificate for h.multi.test ready" issuer.log)" -ge 2 && break
		sleep 0.1
	done &&
	serial $I_TLS >s2.issuer && ! cmp -s s.issuer s2.issuer &&
	for i in $(seq 100); do
		serial $F_TLS >s2.follower
		cmp -s s2.issuer s2.follower && break
		sleep 0.1
	done &&
	cat s2.issuer s2.follower && cmp s2.issuer s2.follower &&
	test "$(grep -c "Added order" pebble.log)" = 2
'

test_expect_success 'a wrong secret: the follower says so and keeps serving what it had' '
	serial $F_TLS >s3.before &&
	follow "$(printf "%064d" 7)" >wout 2>&1 &&
	cat wout &&
	grep "warning: no certificate for .web. from the issuer" wout &&
	grep "does not open with this secret: was the issuer.s proxy state reset?" wout &&
	serial $F_TLS >s3.after && grep -q serial= s3.after && cmp s3.before s3.after &&
	on_follower list --json | jq -e ".[] | select(.name == \"web\") | .tls.certificate |
		(.error | test(\"does not open\"))"
'

test_expect_success 'the follower never ordered a certificate' '
	! test -e fstate/acme/certs &&
	! grep -q "Added order" follower.log
'

test_expect_success 'a restarted follower serves its saved copy at once' '
	serial $F_TLS >s4.before &&
	stop_pid $follower_pid &&
	BERTH_PROXY_SOCKET=$TEST_TMP/follower.sock start_proxy follower2 --http-port $F_HTTP \
		--https-port $F_TLS --state-dir "$TEST_TMP/fstate" &&
	serial $F_TLS >s4.after && cat s4.after && cmp s4.before s4.after &&
	on_follower list --json | jq -e ".[] | select(.name == \"web\") | .tls.certificate |
		.source == \"issuer\""
'

start_app sick sick --never-ready || exit 1

test_expect_success 'the CA is relayed from the start of a follower deploy, before its switch' '
	on_issuer tls-secret slow >slow-secret &&
	(echo "$(cat slow-secret)" | on_follower deploy slow --target 127.0.0.1:$sick_port \
		--host s.multi.test --tls --tls-issuer "http://127.0.0.1:$I_HTTP" \
		--tls-secret-stdin --health-check-interval 100ms --deploy-timeout 15s \
		>sout 2>&1; echo $? >sout.rc) &
	wait_for_line follower2.log "for .slow.: the issuer" >/dev/null &&
	on_issuer deploy slow --target 127.0.0.1:$v1_port --host s.multi.test --tls \
		--health-check-interval 100ms >iout2 2>&1 &&
	cat iout2 && ! grep warning iout2 &&
	grep -q "validate w/ HTTP: http://s.multi.test:$F_HTTP/" pebble.log &&
	! test -e sout.rc &&
	on_follower list --json | jq -e "[.[] | select(.name == \"slow\")] | length == 0"
'
test_cleanup "on_follower remove slow"

test_done
