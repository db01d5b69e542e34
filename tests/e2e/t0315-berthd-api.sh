#!/usr/bin/env bash
# berthd's HTTP side on a lab host set up by `berth server bootstrap --daemon
# --root-domain`: berth-proxy routes berth.ROOT and captain.ROOT to berthd
# with an ACME certificate (pebble, a real ACME test CA); before the first
# admin exists every API route answers 403 pointing at the set-up link; the
# one-time link from bootstrap creates the admin once; login with a cookie,
# the apps, a wrong password 401 whether the user exists or not; and the
# real `caprover` CLI from npm logs in and lists the apps through
# https://captain.ROOT, a wrong password failing as CapRover's does. Changes
# need the session's CSRF token and the panel's Origin; two-factor login
# (codes from oathtool) through berth-proxy and the CLI, a replayed code
# refused; an app's API token; and the panel:* user commands over SSH.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h3
. "$TOP/tests/e2e/berthd-lib.sh"
berthd_gone
caprover_cli

test_expect_success 'pebble, and berth-proxy on the host pointed at it' '
	pebble_up
'

test_expect_success 'bootstrap --root-domain routes the panel and prints a one-time set-up link' '
	berthd_bootstrap &&
	bd apps:create $T >/dev/null
'

test_expect_success 'HTTPS with an ACME certificate; plain HTTP redirects; before set-up: 403' '
	for i in $(seq 60); do
		st=$(api GET /api/v1/apps 2>/dev/null) && test "$st" = 403 && break
		sleep 1
	done
	test "$st" = 403 &&
	grep -q "panel:setup-link" api.out &&
	grep -q "Issued certificate serial" pebble.log &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: berth.$ROOT" "http://$ADDR/api/v1/apps")" = 301 &&
	test "$(api POST /api/v1/login -H "Content-Type: application/json" -d "{\"name\":\"x\",\"password\":\"y\"}")" = 403 &&
	test "$(api GET /up)" = 200
'

test_expect_success 'set-up: a wrong token or a short password change nothing; the link works once' '
	tok=$(sed "s/.*token=//" "$TEST_TMP/link") &&
	test "$(api GET "/setup?token=$tok")" = 200 && grep -q "<form" api.out &&
	test "$(api POST /setup -H "Content-Type: application/json" \
		-d "{\"token\":\"${tok}0\",\"name\":\"admin\",\"password\":\"$PW\"}")" = 403 &&
	test "$(api POST /setup -H "Content-Type: application/json" \
		-d "{\"token\":\"$tok\",\"name\":\"admin\",\"password\":\"short\"}")" = 400 &&
	grep -q "at least 12" api.out &&
	test "$(api POST /setup -c "$TEST_TMP/jar0" --data-urlencode "token=$tok" \
		--data-urlencode name=admin --data-urlencode "password=$PW")" = 303 &&
	grep -q "berth_session" "$TEST_TMP/jar0" &&
	test "$(api POST /setup -H "Content-Type: application/json" \
		-d "{\"token\":\"$tok\",\"name\":\"other\",\"password\":\"$PW\"}")" = 403 &&
	test_must_fail bd panel:setup-link 2>denied.out && grep -q "permission denied" denied.out &&
	test_must_fail on $H "docker exec berthd berthd panel:setup-link" >again.out 2>&1 &&
	grep -q "exists already" again.out
'

test_expect_success 'login: a session cookie, the apps; a wrong password 401, the same for nobody' '
	test "$(api POST /api/v1/login -D headers -c "$TEST_TMP/jar" -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\"}")" = 200 &&
	grep -qi "^set-cookie: berth_session=[0-9a-f]*; HttpOnly; Secure; SameSite=Strict; Path=/" headers &&
	jq -e ".user == \"admin\" and .role == \"admin\"" api.out &&
	test "$(api GET /api/v1/apps -b "$TEST_TMP/jar")" = 200 &&
	jq -e ".apps | map(select(.name == \"$T\" and .deployed == false and .version == \"\")) | length == 1" api.out &&
	test "$(api GET /api/v1/me -b "$TEST_TMP/jar")" = 200 && jq -e ".user == \"admin\"" api.out &&
	test "$(api POST /api/v1/login -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"wrong $PW\"}")" = 401 && cp api.out wrong.out &&
	test "$(api POST /api/v1/login -H "Content-Type: application/json" \
		-d "{\"name\":\"nobody\",\"password\":\"$PW\"}")" = 401 &&
	cmp wrong.out api.out &&
	test "$(api GET /api/v1/apps)" = 401 &&
	test "$(api POST /api/v1/logout -b "$TEST_TMP/jar")" = 403 &&
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	test "$(api POST /api/v1/logout -b "$TEST_TMP/jar" "${h[@]}")" = 200 &&
	test "$(api GET /api/v1/apps -b "$TEST_TMP/jar")" = 401
'

test_expect_success 'users: an admin creates one; who and from where is in the events' '
	api POST /api/v1/login -c "$TEST_TMP/jar" -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\"}" >/dev/null &&
	test "$(api POST /api/v1/users -b "$TEST_TMP/jar" -H "Content-Type: application/json" \
		-d "{\"name\":\"viewer\",\"password\":\"$PW\"}")" = 403 &&
	grep -q "X-CSRF-Token" api.out &&
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	test "$(api POST /api/v1/users -b "$TEST_TMP/jar" -H "X-CSRF-Token: ${h[1]#X-CSRF-Token: }" \
		-H "Origin: https://evil.example" -H "Content-Type: application/json" \
		-d "{\"name\":\"viewer\",\"password\":\"$PW\"}")" = 403 &&
	test "$(api POST /api/v1/users -b "$TEST_TMP/jar" "${h[@]}" \
		-d "{\"name\":\"viewer\",\"password\":\"$PW\",\"apps\":{\"$T\":\"viewer\"}}")" = 201 &&
	test "$(api POST /api/v1/users -b "$TEST_TMP/jar" "${h[@]}" \
		-d "{\"name\":\"viewer\",\"password\":\"$PW\"}")" = 409 &&
	api POST /api/v1/login -c "$TEST_TMP/jar2" -H "Content-Type: application/json" \
		-d "{\"name\":\"viewer\",\"password\":\"$PW\"}" >/dev/null &&
	test "$(api POST /api/v1/users -b "$TEST_TMP/jar2" -H "Content-Type: application/json" \
		-d "{\"name\":\"x\",\"password\":\"$PW\"}")" = 403 &&
	test "$(api GET /api/v1/apps -b "$TEST_TMP/jar2")" = 200 &&
	jq -e ".apps[0].name == \"$T\" and .apps[0].role == \"viewer\"" api.out &&
	bd events >events.out && cat events.out &&
	grep -q "user:admin - panel:setup from $HERE" events.out &&
	grep -q "user:admin - panel:users:create viewer (user) from $HERE" events.out &&
	! grep -q "$PW" events.out
'

test_expect_success 'an app token reaches its app only, without a session' '
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	test "$(api POST /api/v1/tokens -b "$TEST_TMP/jar" "${h[@]}" \
		-d "{\"name\":\"ci\",\"app\":\"$T\",\"role\":\"viewer\"}")" = 201 &&
	tok=$(jq -r .token api.out) &&
	test "$(api GET /api/v1/apps -H "Authorization: Bearer $tok")" = 200 &&
	jq -e ".apps | length == 1 and .[0].name == \"$T\" and .[0].role == \"viewer\"" api.out &&
	test "$(api GET /api/v1/users -H "Authorization: Bearer $tok")" = 403 &&
	test "$(api GET /api/v1/tokens -b "$TEST_TMP/jar")" = 200 &&
	jq -e ".tokens[0].name == \"ci\" and .tokens[0].last_used != null" api.out &&
	! grep -q "$tok" api.out &&
	test "$(api DELETE /api/v1/tokens/ci -b "$TEST_TMP/jar" "${h[@]}")" = 200 &&
	test "$(api GET /api/v1/apps -H "Authorization: Bearer $tok")" = 401
'

test_expect_success 'two-factor login through berth-proxy: required, then a code; a replay refused' '
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	test "$(api POST /api/v1/me/totp -b "$TEST_TMP/jar" "${h[@]}" -d "{\"password\":\"$PW\"}")" = 200 &&
	secret=$(jq -r .secret api.out) && echo "$secret" >"$TEST_TMP/secret" &&
	jq -e ".otpauth_uri | startswith(\"otpauth://totp/berth:admin%40$ROOT?secret=$secret\")" api.out &&
	test "$(api POST /api/v1/me/totp/confirm -b "$TEST_TMP/jar" "${h[@]}" \
		-d "{\"code\":\"$(oathtool --totp -b "$secret")\"}")" = 200 &&
	jq -e ".recovery_codes | length == 10" api.out &&
	test "$(api POST /api/v1/login -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\"}")" = 401 &&
	jq -e ".otp_required == true" api.out &&
	t=$(date +%s) && code=$(oathtool --totp -b -N "@$((t + 30))" "$secret") &&
	echo $(((t + 30) / 30)) >"$TEST_TMP/step" &&
	test "$(api POST /api/v1/login -c "$TEST_TMP/jar3" -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\",\"otp\":\"$code\"}")" = 200 &&
	test "$(api GET /api/v1/me -b "$TEST_TMP/jar3")" = 200 && jq -e ".totp == true" api.out &&
	test "$(api POST /api/v1/login -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\",\"otp\":\"$code\"}")" = 401 &&
	bd events >events.out &&
	grep -q "user:admin - panel:totp:enable from $HERE" events.out &&
	! grep -q "$secret" events.out &&
	! on $H "docker logs berthd 2>&1" | grep -q "$secret"
'

test_expect_success 'caprover login and api through https://captain.ROOT' '
	caprover login -u "https://captain.$ROOT" -p "$PW" -n "$T" >nootp.out 2>&1 || true
	cat nootp.out &&
	grep -q "CAPROVER_OTP_TOKEN" nootp.out && ! grep -q "Logged in successfully" nootp.out &&
	# the code of the next step: the one the browser login used must be in the past
	for i in $(seq 40); do
		test $(($(date +%s) / 30)) -ge "$(cat "$TEST_TMP/step")" && break
		sleep 1
	done
	code=$(oathtool --totp -b -N "@$(($(date +%s) + 30))" "$(cat "$TEST_TMP/secret")") &&
	CAPROVER_OTP_TOKEN=$code caprover login -u "https://captain.$ROOT" -p "$PW" -n "$T" >login.out 2>&1 || true
	cat login.out &&
	grep -q "Logged in successfully" login.out &&
	caprover api -n "$T" -t /user/apps/appDefinitions -m GET -d "{}" -o "$TEST_TMP/defs.json" >capi.out 2>&1 || true
	cat capi.out && jq -e ".appDefinitions | map(select(.appName == \"$T\" and .isAppBuilding == false)) | length == 1" "$TEST_TMP/defs.json" &&
	caprover api -n "$T" -t /user/system/info -m GET -d "{}" -o "$TEST_TMP/info.json" >/dev/null 2>&1 &&
	jq -e ".rootDomain == \"$ROOT\"" "$TEST_TMP/info.json" &&
	caprover list >list.out 2>&1 && grep -q "captain.$ROOT" list.out
'

test_expect_success 'caprover: a token that is not a session any more is refused as invalid' '
	cfg=$TEST_TMP/home/.config/configstore/caprover.json &&
	grep -qE "[0-9a-f]{64}" "$cfg" &&
	sed -i -E "s/[0-9a-f]{64}/$(printf "0%.0s" $(seq 64))/" "$cfg" &&
	caprover api -n "$T" -t /user/system/info -m GET -d "{}" -o true >expired.out 2>&1 || true
	cat expired.out &&
	grep -q "not valid anymore" expired.out &&
	! grep -q "rootDomain" expired.out
'

test_expect_success 'panel:* over SSH: users listed, a lost phone reset, a user removed' '
	bd panel:users >users.out && cat users.out &&
	grep -q "^admin  *admin  *2fa:on" users.out && grep -q "^viewer  *user  *2fa:off" users.out &&
	test_must_fail bd panel:user-remove admin 2>last.out && grep -q "last admin" last.out &&
	bd panel:user-reset-2fa admin &&
	st=$(api GET /api/v1/me -b "$TEST_TMP/jar3") && echo "the session after the reset: $st" &&
	test "$st" = 401 &&
	st=$(api POST /api/v1/login -D login.head -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\"}") &&
	echo "a login with the password alone: $st" && cat login.head api.out &&
	test "$st" = 200 &&
	bd panel:user-remove viewer &&
	test "$(api GET /api/v1/me -b "$TEST_TMP/jar2")" = 401 &&
	bd panel:users >users.out && ! grep -q "^viewer" users.out &&
	test_must_fail bd panel:user-remove nobody
'

test_expect_success 'caprover: a wrong password fails as CapRover'"'"'s does' '
	export CAP_HOME=home2 &&
	caprover login -u "https://captain.$ROOT" -p "wrong $PW" -n "$T-bad" >bad.out 2>&1 || true
	cat bad.out &&
	grep -q "Password is incorrect" bad.out &&
	! grep -q "Logged in successfully" bad.out &&
	caprover list >list.out 2>&1 && ! grep -q "$T-bad" list.out
'

test_done
