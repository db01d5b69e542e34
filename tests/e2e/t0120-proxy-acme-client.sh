#!/usr/bin/env bash
# berth-proxy's ACME client against a real CA: pebble (Let's Encrypt's test
# server) with pebble-challtestsrv as its DNS. tests/fixtures/acme-driver runs
# the ACME manager and answers the challenges from the challenge store as the
# data plane does: HTTP-01 on pebble's httpPort, TLS-ALPN-01 on its tlsPort,
# DNS-01 through a command that sets TXT records in challtestsrv.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
DRIVER=$TOP/build/acme-driver

read -r ACME_PORT MGMT_PORT SHORT_PORT SHORT_MGMT_PORT NONCE_PORT NONCE_MGMT_PORT HTTP_PORT \
	TLS_PORT DNS_PORT CTS_PORT DEAD_PORT < <(free_ports 11)

start_acme_dns 127.0.0.1 "$DNS_PORT" "$CTS_PORT" || exit 1

# start_pebble NAME ACME-PORT MGMT-PORT [VALIDITY-SECONDS]: a CA that validates on the
# driver's ports and resolves names through challtestsrv; its root goes to NAME-root.pem.
# It rejects $NONCE_REJECT percent of good nonces (default none).
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
		  "domainBlocklist": ["blocked.example.test"]$validity
		}}
	JSON
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=${NONCE_REJECT:-0} \
		pebble -config "$1.json" -dnsserver "127.0.0.1:$DNS_PORT" >"$1.log" 2>&1 </dev/null &
	test_cleanup "kill $!"
	wait_for_line "$1.log" 'istening on' >/dev/null &&
		curl -sf --cacert pebble-cert.pem "https://127.0.0.1:$3/roots/0" >"$1-root.pem"
}
start_pebble pebble "$ACME_PORT" "$MGMT_PORT" || exit 1
# A second CA whose certificates live 8 seconds: renewal (a third before the end) comes soon.
start_pebble short "$SHORT_PORT" "$SHORT_MGMT_PORT" 8 || exit 1
# And one that rejects every nonce.
NONCE_REJECT=100 start_pebble nonce "$NONCE_PORT" "$NONCE_MGMT_PORT" || exit 1
DIR=https://127.0.0.1:$ACME_PORT/dir

# The DNS-01 command: argv [CMD, set|clear, _acme-challenge.NAME, VALUE], as berth-proxy runs it.
cat >dns-cmd <<-SH
	#!/bin/sh
	echo "\$*" >>"$TEST_TMP/dns-cmd.log"
	case \$1 in
	set) exec curl -sf -d "{\"host\":\"\$2.\",\"value\":\"\$3\"}" http://127.0.0.1:$CTS_PORT/set-txt ;;
	clear) exec curl -sf -d "{\"host\":\"\$2.\"}" http://127.0.0.1:$CTS_PORT/clear-txt ;;
	esac
	exit 2
SH
chmod +x dns-cmd

# drive RUN ARGS...: runs the driver with RUN's own state and output directories, against
# $CA_DIR (default: the first CA).
drive() {
	local run=$1 rc
	shift
	mkdir -p "$TEST_TMP/$run"
	"$DRIVER" --directory "${CA_DIR:-$DIR}" --ca-file "$TEST_TMP/pebble-cert.pem" \
		--state "$TEST_TMP/$run/state" --out "$TEST_TMP/$run" --timeout 30 "$@" \
		>"$TEST_TMP/$run/log" 2>&1
	rc=$?
	cat "$TEST_TMP/$run/log"
	return $rc
}

# verified RUN K NAME...: certificate K of RUN chains to the CA's root ($CA_ROOT, default the
# first CA's) and names every NAME.
verified() {
	local run=$1 k=$2 n
	shift 2
	openssl verify -CAfile "${CA_ROOT:-pebble-root.pem}" -untrusted "$run/cert-$k.pem" \
		"$run/cert-$k.pem" &&
		openssl x509 -in "$run/cert-$k.pem" -noout -ext subjectAltName >"$run/san-$k" &&
		for n in "$@"; do
			n=${n//./\\.}
			grep_q "$run/san-$k" "DNS:${n//\*/\\*}(,|$)" || return 1
		done
}

test_expect_success 'HTTP-01: a certificate for two names, answered from the challenge store' '
	drive h --http-port $HTTP_PORT --email ops@example.test \
		www.h.example.test h.example.test &&
	grep -qx "certificate 1" h/log &&
	verified h 1 www.h.example.test h.example.test &&
	grep -q "answering the http-01 challenge" h/log &&
	openssl pkey -in h/key-1.pem -noout -text | grep -q "NIST CURVE: P-256" &&
	test "$(stat -c %a h/state/acme/account.key)" = 600 &&
	test "$(stat -c %a h/state/acme/certs/h.example.test+www.h.example.test/key.pem)" = 600 &&
	cmp h/cert-1.pem h/state/acme/certs/h.example.test+www.h.example.test/cert.pem
'

test_expect_success 'TLS-ALPN-01: the acme-tls/1 answer is the store'"'"'s certificate' '
	drive t --challenge tls-alpn-01 --tls-port $TLS_PORT t.example.test &&
	grep -q "answering the tls-alpn-01 challenge for t.example.test" t/log &&
	verified t 1 t.example.test
'

test_expect_success 'DNS-01: a wildcard through the DNS command, records set and cleared' '
	drive d --challenge dns-01 --dns-command "$TEST_TMP/dns-cmd" \
		"*.d.example.test" d.example.test &&
	verified d 1 "*.d.example.test" d.example.test &&
	grep -q "^set _acme-challenge.d.example.test [A-Za-z0-9_-]\{43\}$" dns-cmd.log &&
	grep -q "^clear _acme-challenge.d.example.test " dns-cmd.log
'

test_expect_success 'a wildcard without a DNS command says what to set' '
	test_must_fail drive w --http-port $HTTP_PORT "*.w.example.test" &&
	grep -q "^error: \*.w.example.test is a wildcard name: it needs the dns-01 challenge, set --acme-dns-command$" w/log
'

test_expect_success 'a name the CA refuses gives the CA'"'"'s reason' '
	test_must_fail drive b --http-port $HTTP_PORT blocked.example.test &&
	grep -q "^error: the CA refuses to issue for blocked.example.test: " b/log
'

test_expect_success 'nobody answering on the HTTP-01 port is named as such' '
	test_must_fail drive n nobody.example.test &&
	grep -q "^error: port 80 is not reachable from the CA (nobody.example.test: " n/log &&
	test_must_fail ls n/state/acme/certs/nobody.example.test/cert.pem
'

test_expect_success 'a CA that cannot be reached, and one not trusted, say so' '
	mkdir -p u &&
	test_must_fail "$DRIVER" --directory https://127.0.0.1:$DEAD_PORT/dir --state u/state \
		--out u u.example.test >u/log &&
	cat u/log &&
	grep -q "^error: cannot reach the CA at https://127.0.0.1:$DEAD_PORT/dir: .*onnect" u/log &&
	test_must_fail "$DRIVER" --directory "$DIR" --state u/state --out u u.example.test >u/log &&
	cat u/log &&
	grep -q "^error: cannot reach the CA at $DIR: .*certificate" u/log
'

test_expect_success 'a rejected nonce is retried, with the nonce the rejection brought, 4 times in all' '
	CA_DIR=https://127.0.0.1:$NONCE_PORT/dir test_must_fail drive bn --retry-ms 60000 \
		bn.example.test &&
	grep -q "^error: cannot register the ACME account: the CA refused: .*nonce" bn/log &&
	test "$(grep -c "POST /sign-me-up" nonce.log)" = 4
'

test_expect_success 'a short-lived certificate is renewed before it ends' '
	CA_DIR=https://127.0.0.1:$SHORT_PORT/dir drive r --http-port $HTTP_PORT --certs 2 \
		r.example.test &&
	grep -qx "certificate 2" r/log &&
	CA_ROOT=short-root.pem verified r 2 r.example.test &&
	test "$(openssl x509 -in r/cert-1.pem -noout -serial)" != \
		"$(openssl x509 -in r/cert-2.pem -noout -serial)" &&
	! cmp -s r/key-1.pem r/key-2.pem &&
	cmp r/cert-2.pem r/state/acme/certs/r.example.test/cert.pem
'

test_expect_success 'a restart finds the certificate on disk and does not ask again' '
	cp h/state/acme/account.key account-before &&
	cp h/cert-1.pem cert-before &&
	drive h --http-port $HTTP_PORT www.h.example.test h.example.test &&
	cmp cert-before h/cert-1.pem &&
	! grep -q "asking the CA" h/log &&
	cmp account-before h/state/acme/account.key
'

test_done
