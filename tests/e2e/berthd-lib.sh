# Sourced by the tests of berthd on a lab host behind berth-proxy (after
# lib.sh, proxy-lib.sh and deploy-lib.sh), with H set to the host: the
# panel at berth.ROOT with certificates from pebble, the ACME server run on
# this machine for the test.
#
# Sets ADDR (H's address), ROOT ($T.test unless set before), PW (the first
# admin's password), HERE (this machine's address on the lab's network,
# where pebble listens) and an SSH key $TEST_TMP/admin; defines
#   bd ARGS...            berthd's SSH commands as that key (admin-$T)
#   api METHOD PATH ...   HTTPS to berth.ROOT, verified against pebble's root
#   csrf JAR              the headers of a change by the session in JAR
#   proxy_config [YAML]   a config of berth-proxy on H alone, for `berth proxy reboot`
#   berthd_gone          removes berthd and its state from H, now and when the test ends
#   pebble_up [ENV...]    (a test's body) pebble, and berth-proxy on H trusting its CA, with
#                         these variables (by default: pebble as its ACME server, and an email)
#   berthd_bootstrap      (a test's body) `berth server bootstrap --daemon --root-domain`,
#                         the one-time set-up link in $TEST_TMP/link
#   caprover_cli          the real CapRover CLI from npm (kept across runs) as `caprover`

# shellcheck disable=SC2034 # PW and CAP_DIR are for the tests that source this
ADDR=$(addr_of "$H")
ROOT=${ROOT:-$T.test}
PW="correct horse $T battery"
HERE=$(ip -4 -o addr show | awk -v a1="$ADDR" '
	{ split($4, p, "/"); split(p[1], x, "."); split(a1, y, ".") }
	x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && p[1] != a1 { print p[1]; exit }')
[[ -n $HERE ]] || { echo "Bail out! no address of this machine on the lab's network"; exit 1; }

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin" || exit 1
bd() {
	ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"
}
# api METHOD PATH [curl args...]: the body in $TEST_TMP/api.out, the status printed.
api() {
	local m=$1 p=$2
	shift 2
	curl -s --max-time 10 --cacert "$TEST_TMP/root.pem" --resolve "berth.$ROOT:443:$ADDR" \
		-o "$TEST_TMP/api.out" -w '%{http_code}' -X "$m" "$@" "https://berth.$ROOT$p"
}
# csrf JAR: its CSRF token, the panel's origin and a JSON type, as curl arguments a line each.
csrf() {
	api GET /api/v1/me -b "$1" >/dev/null &&
		printf '%s\n' -H "X-CSRF-Token: $(jq -r .csrf_token "$TEST_TMP/api.out")" \
			-H "Origin: https://berth.$ROOT" -H "Content-Type: application/json"
}
proxy_config() {
	cat >"$APP/config/deploy.yml" <<-YML
		service: $T
		image: $T
		builder:
		  arch: amd64
		servers:
		  web:
		    hosts: [$H]
		run_directory: $RUN_DIR
		ssh:
		  config: $LAB_SSH_CONFIG
		proxy:
		  host: $T.test
		  app_port: 80
	YML
	printf '%s\n' "$@" >>"$APP/config/deploy.yml"
}
proxy_config
# The proxy goes back to the lab's usual options when the test ends.
test_cleanup "proxy_config && berth proxy reboot -y"

# berthd's state goes with the test (bootstrap made it, with its first admin).
berthd_gone() {
	local gone="docker exec berthd berthd ssh-keys:remove admin-$T; docker exec berth-proxy berth-proxy remove berthd; docker rm -f berthd; docker volume rm berthd"
	on "$H" "$gone" >/dev/null 2>&1 || true
	test_cleanup "on $H '$gone'"
}

read -r ACME_PORT MGMT_PORT DNS_PORT CTS_PORT < <(free_ports 4)

pebble_up() {
	local env="BERTH_PROXY_ACME_DIRECTORY=https://$HERE:$ACME_PORT/dir, BERTH_PROXY_ACME_CA_FILE=/pebble-ca.pem, BERTH_PROXY_ACME_EMAIL=ops@$ROOT"
	if (($#)); then
		env=$(printf '%s, ' "$@")
		env=${env%, }
	fi
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=pebble \
		-addext "subjectAltName=IP:$HERE,IP:127.0.0.1" -keyout pebble-key.pem \
		-out pebble-cert.pem 2>/dev/null &&
		chmod 644 pebble-cert.pem || return 1
	pebble-challtestsrv -defaultIPv4 "$ADDR" -defaultIPv6 "" -dns01 "127.0.0.1:$DNS_PORT" \
		-management "127.0.0.1:$CTS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
		>challtestsrv.log 2>&1 </dev/null &
	test_cleanup "kill $!"
	wait_for_line challtestsrv.log management >/dev/null || return 1
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
	wait_for_line pebble.log "istening on" >/dev/null &&
		curl -sf --cacert pebble-cert.pem "https://127.0.0.1:$MGMT_PORT/roots/0" >"$TEST_TMP/root.pem" &&
		proxy_config "  run:" "    options:" \
			"      env: [$env]" \
			"      volume: $TEST_TMP/pebble-cert.pem:/pebble-ca.pem:ro" &&
		{ berth proxy reboot -y >reboot.out 2>&1 || { cat reboot.out; false; }; }
}

berthd_bootstrap() {
	berth server bootstrap -h "$H" --daemon --key "$TEST_TMP/admin.pub" --key-name "admin-$T" \
		--root-domain "$ROOT" >boot.out 2>&1 || { cat boot.out; return 1; }
	cat boot.out &&
		sed -n "s|^.*$H: panel: \(https://berth.$ROOT/setup?token=[0-9a-f]*\)\$|\1|p" boot.out \
			>"$TEST_TMP/link" &&
		test "$(wc -c <"$TEST_TMP/link")" -gt 64 &&
		on "$H" "docker exec berth-proxy berth-proxy list" | grep -q "berth.$ROOT"
}

# caprover_cli: installs the CLI once into CAP_DIR; `caprover ARGS...` then runs it with
# captain.ROOT resolving to the lab host (a preloaded dns.lookup), pebble's root trusted, and
# its stored logins in $TEST_TMP/${CAP_HOME:-home}.
CAP_DIR=${BERTH_E2E_CAPROVER_DIR:-/var/tmp/berth-e2e-caprover}
caprover_cli() {
	if [[ ! -x $CAP_DIR/node_modules/.bin/caprover ]]; then
		mkdir -p "$CAP_DIR"
		npm install --silent --no-audit --no-fund --prefix "$CAP_DIR" caprover@2.4.4 >/dev/null 2>&1 ||
			{ echo "Bail out! npm cannot install caprover"; exit 1; }
	fi
	mkdir -p "$TEST_TMP/home" "$TEST_TMP/home2"
	cat >"$TEST_TMP/resolve.js" <<-'JS'
		const dns = require('dns');
		const lookup = dns.lookup;
		const root = process.env.E2E_ROOT, addr = process.env.E2E_ADDR;
		dns.lookup = function (host, opts, cb) {
			if (typeof opts === 'function') { cb = opts; opts = {}; }
			if (typeof opts === 'number') { opts = { family: opts }; }
			if (host === root || host.endsWith('.' + root)) {
				if (opts && opts.all) { return process.nextTick(cb, null, [{ address: addr, family: 4 }]); }
				return process.nextTick(cb, null, addr, 4);
			}
			return lookup.call(dns, host, opts, cb);
		};
	JS
}
caprover() {
	HOME=$TEST_TMP/${CAP_HOME:-home} XDG_CONFIG_HOME=$TEST_TMP/${CAP_HOME:-home}/.config \
		NODE_EXTRA_CA_CERTS=$TEST_TMP/root.pem E2E_ROOT=$ROOT E2E_ADDR=$ADDR \
		NODE_OPTIONS="--require $TEST_TMP/resolve.js" \
		"$CAP_DIR/node_modules/.bin/caprover" "$@" </dev/null
}
