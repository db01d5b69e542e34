#!/usr/bin/env bash
# proxy.ssl on a role with two hosts: one ACME certificate (pebble, reached
# from the proxies on the lab's hosts), issued once by the role's first host
# and served by both, DNS pointing the name at the second host only, and the
# secret that seals it in no argv and no output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

a1=$(addr_of $h1) a2=$(addr_of $h2)
# This machine's address on the lab's network: the CA listens there.
HERE=$(ip -4 -o addr show | awk -v a1="$a1" '
	{ split($4, p, "/"); split(p[1], x, "."); split(a1, y, ".") }
	x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && p[1] != a1 { print p[1]; exit }')
[[ -n $HERE ]] || { echo "no address of this machine on the lab's network" >&2; exit 1; }

# The hosts by address (as on real servers), so the issuer's address works from the
# followers' proxies: an ssh config for the addresses, with the lab's key.
{
	cat "$LAB_SSH_CONFIG"
	printf 'Host %s %s\n\tUser root\n\tIdentityFile %s\n\tIdentitiesOnly yes\n' "$a1" "$a2" "$LAB_KEY"
	printf '\tUserKnownHostsFile %s\n\tGlobalKnownHostsFile /dev/null\n' "$LAB_KNOWN_HOSTS"
	printf '\tStrictHostKeyChecking yes\n\tBatchMode yes\n\tConnectTimeout 5\n\tLogLevel ERROR\n'
} >"$TEST_TMP/ssh_config"

read -r ACME_PORT MGMT_PORT DNS_PORT CTS_PORT < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=pebble \
	-addext "subjectAltName=IP:$HERE,IP:127.0.0.1" -keyout pebble-key.pem \
	-out pebble-cert.pem 2>/dev/null || exit 1
chmod 644 pebble-cert.pem
# The name resolves to the second host only: the CA's check must be relayed to the first.
pebble-challtestsrv -defaultIPv4 "$a2" -defaultIPv6 "" -dns01 "127.0.0.1:$DNS_PORT" \
	-management "127.0.0.1:$CTS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
	>challtestsrv.log 2>&1 </dev/null &
test_cleanup "kill $!"
wait_for_line challtestsrv.log 'management' >/dev/null || exit 1
cat >pebble.json <<-JSON
	{"pebble": {
	  "listenAddress": "$HERE:$ACME_PORT",
	  "managementListenAddress": "127.0.0.1:$MGMT_PORT",
	  "certificate": "$TEST_TMP/pebble-cert.pem",
	  "privateKey": "$TEST_TMP/pebble-key.pem",
	  "httpPort": 80,
	  "tlsPort": 443,
	  "ocspResponderURL": "",
	  "externalAccountBindingRequired": false
	}}
JSON
PEBBLE_VA_NOSLEEP=1 pebble -config pebble.json -dnsserver "127.0.0.1:$DNS_PORT" \
	>pebble.log 2>&1 </dev/null &
test_cleanup "kill $!"
wait_for_line pebble.log 'istening on' >/dev/null || exit 1
curl -sf --cacert pebble-cert.pem "https://127.0.0.1:$MGMT_PORT/roots/0" >root.pem || exit 1

make_version v1

# tls_config [YAML...]: the web role on both hosts, ssl from ACME, the proxies pointed at pebble.
tls_config() {
	cat >"$APP/config/deploy.yml" <<-YML
		service: $T
		image: $T
		builder:
		  arch: amd64
		servers:
		  web:
		    hosts: [$a1, $a2]
		readiness_delay: 1
		deploy_timeout: 30
		drain_timeout: 1
		run_directory: $RUN_DIR
		ssh:
		  config: $TEST_TMP/ssh_config
		env:
		  secret: [SECRET_TOKEN]
		proxy:
		  host: $T.test
		  app_port: 80
		  ssl: true
		  healthcheck:
		    path: /up
		    interval: 1
	YML
	printf '%s\n' "$@" >>"$APP/config/deploy.yml"
}
PEBBLE_OPTS=(
	"  run:"
	"    options:"
	"      env: [BERTH_PROXY_ACME_DIRECTORY=https://$HERE:$ACME_PORT/dir, BERTH_PROXY_ACME_CA_FILE=/pebble-ca.pem]"
	"      volume: $TEST_TMP/pebble-cert.pem:/pebble-ca.pem:ro"
)
# The proxies go back to the lab's usual options afterwards.
test_cleanup "tls_config && berth proxy reboot -y"
for _h in "$h1" "$h2"; do
	test_cleanup "on $_h docker exec berth-proxy berth-proxy remove $T-web"
done

# tcurl ADDR: the app over HTTPS at ADDR for the name, verified against pebble's root.
tcurl() {
	curl -s --max-time 10 --cacert "$TEST_TMP/root.pem" --resolve "$T.test:443:$1" \
		"https://$T.test/"
}
# serial ADDR: the serial of the certificate ADDR serves for the name.
serial() {
	echo | timeout 10 openssl s_client -connect "$1:443" -servername "$T.test" 2>/dev/null |
		openssl x509 -noout -serial
}

# What every process on this machine and the lab's hosts runs.
cc -O2 -o sampler "$TOP/tests/fixtures/argv-sampler.c" || exit 1

test_expect_success 'the proxies run with the CA of the test' '
	tls_config "${PEBBLE_OPTS[@]}" &&
	berth proxy reboot -y >out 2>&1 || { cat out; false; }
'

test_expect_success 'two hosts, one certificate: issued once, served by both' '
	./sampler >argv &
	spid=$!
	sleep 0.3
	berth deploy -v --version v1 -P >out 2>&1 && rc=0 || rc=$?
	kill $spid && wait $spid || true
	cat out && test $rc = 0 &&
	tcurl $a1 | grep "version=v1" &&
	tcurl $a2 | grep "version=v1" &&
	serial $a1 >s1 && serial $a2 >s2 && cat s1 s2 &&
	grep -q serial= s1 && cmp s1 s2 &&
	test "$(grep -c "Issued certificate serial" pebble.log)" = 1 &&
	grep -q "validate w/ HTTP: http://$T.test:80/" pebble.log &&
	# the second host follows the first, with the secret in the request to its
	# proxy'"'"'s control socket (forwarded over ssh), never in an argv
	grep -F "$a2 \$ (here, berth-proxy'"'"'s control socket of the host) deploy $T-web" out |
		grep -F -- "--tls-issuer=http://$a1:80 --tls-secret-stdin" &&
	grep -aF "docker exec berth-proxy berth-proxy tls-secret $T-web" argv &&
	on $h1 docker exec berth-proxy berth-proxy tls-secret $T-web >secret &&
	grep -qE "^[0-9a-f]{64}$" secret &&
	! grep -a -F -f secret argv &&
	! grep -a -F -f secret out &&
	on $h2 docker exec berth-proxy berth-proxy list --json |
		jq -e ".[] | select(.name == \"$T-web\") | .tls.certificate |
			.source == \"issuer\" and .status == \"ok\""
'

test_done
