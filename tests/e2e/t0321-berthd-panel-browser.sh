#!/usr/bin/env bash
# berthd's panel in a real browser (chromium, tests/e2e/browser-lib.sh), no
# lab: berthd serves HTTP on loopback behind berth-proxy, which terminates TLS
# for berth.example.test with a certificate of a CA made here (chromium maps
# the name to the proxy and trusts that one key). First the harness itself
# must catch a console error, an uncaught one and a value in the traffic.
# Then: the first admin through the one-time set-up link; log out, log in on
# /login; two-factor enrolment on /settings (codes from oathtool); log in
# with a code; the dashboard lists an app; on the app's page an env var set
# through the form, whose value the browser sends once and no answer ever
# holds; one-click apps: the redis template's form from the dashboard, a
# value failing its regex refused, a pasted template's form with its texts as
# text, a bad one's error naming its line, a file read into the text; the
# pages fit 375 px; a viewer sees the app's page without the form; last, as
# the admin: the host checked from the dashboard's "Check now" (no
# matter whether berthd finds a dockerd here: the check says), an SSH key added, granted,
# revoked and removed in Settings, and a new root domain set there.
# Screenshots of every page, the console and every request and response of
# the run are kept in build/test-results/browser/t0321-berthd-panel-browser/.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/browser-lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
export BERTHD_SSH_COMMAND=/home/berth/berthd-ssh
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND BERTHD_PANEL_ROUTE
bd() { "$BERTHD" "$@"; }

ROOT=example.test
PANEL=https://berth.$ROOT
APP=$T-shop
export PANEL APP ADMIN=admin-$T ADMIN_PW="correct horse $T battery" \
	VIEWER=viewer-$T VIEWER_PW="viewer horse $T battery" \
	ENV_KEY=GREETING_$T ENV_VALUE=v4lue${T}$RANDOM$RANDOM

# berth.ROOT's certificate, from a CA of this test; chromium trusts its key alone
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=berth test CA" -keyout ca.key -out ca.pem 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=berth.$ROOT" \
		-keyout panel.key -out panel.csr 2>/dev/null &&
	openssl x509 -req -in panel.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
		-extfile <(echo "subjectAltName=DNS:berth.$ROOT") -out panel.pem 2>/dev/null ||
	exit 1
SPKI=$(openssl x509 -in panel.pem -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64)
start_proxy px --https-port 0 --state-dir "$TEST_TMP/proxy-state" || exit 1
HS=$(wait_for_line px.log 'HTTPS [0-9]+' | sed 's/.* //') || exit 1
BROWSER_ARGS="--host-resolver-rules=MAP berth.$ROOT 127.0.0.1:$HS
--ignore-certificate-errors-spki-list=$SPKI"
BERTHD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# api METHOD PATH [curl args...]: HTTPS to the panel through berth-proxy, the body in
# api.out, the status printed.
api() {
	local m=$1 p=$2
	shift 2
	curl -s --max-time 10 --cacert "$TEST_TMP/ca.pem" --resolve "berth.$ROOT:$HS:127.0.0.1" \
		-o "$TEST_TMP/api.out" -w '%{http_code}' -X "$m" "$@" "https://berth.$ROOT:$HS$p"
}

# ---- the browser steps (JavaScript; b is the driver's handle, page its page) ----

harness_good() {
	browser_run harness-good <<-'JS'
		await b.goto(b.env.SITE + '/good.html');
		b.expect(await page.textContent('#said') === 'fine', 'the page script ran');
		await b.shot('good');
	JS
}
harness_bad() {
	browser_run harness-bad <<-'JS'
		await b.goto(b.env.SITE + '/bad.html');
		await page.waitForSelector('#said');
	JS
}
harness_uncaught() {
	browser_run harness-uncaught <<-'JS'
		await b.goto(b.env.SITE + '/uncaught.html');
		await page.waitForSelector('#said');
	JS
}
harness_expected() {
	browser_run harness-expected <<-'JS'
		b.expectConsoleError(/planted console error/, 'the page says so');
		await b.goto(b.env.SITE + '/bad.html');
		await page.waitForSelector('#said');
	JS
}
harness_unmet() {
	browser_run harness-unmet <<-'JS'
		b.expectConsoleError(/an error that never comes/, 'none will');
		await b.goto(b.env.SITE + '/good.html');
	JS
}
harness_navaway() {
	browser_run harness-navaway <<-'JS'
		await b.goto(b.env.SITE + '/navaway.html');
		await page.waitForURL(b.env.SITE + '/good.html');
	JS
}
harness_404() {
	browser_run harness-404 <<-'JS'
		await b.goto(b.env.SITE + '/missing.html');
	JS
}

step_setup_page() {
	browser_run setup-page <<-'JS'
		await b.goto(b.env.SETUP_LINK);
		for (const id of ['name', 'password']) {
			b.expect(await page.$(`label[for="${id}"]`), `a label for #${id}`);
		}
		b.expect(await page.getAttribute('#password', 'type') === 'password', 'a password field');
		await b.shot('setup');
	JS
}
# the set-up's answer sends the admin, signed in, to the dashboard
step_setup() {
	browser_run setup <<-'JS'
		await b.goto(b.env.SETUP_LINK);
		await page.fill('#name', b.env.ADMIN);
		await page.fill('#password', b.env.ADMIN_PW);
		const answer = page.waitForResponse((r) =>
			r.url().endsWith('/setup') && r.request().method() === 'POST');
		await page.click('button[type=submit]');
		const r = await answer;
		b.expect(r.status() === 303, `POST /setup answers 303 (got ${r.status()})`);
		b.expect(r.headers()['location'] === '/', 'the set-up sends the admin to /');
		const c = (await b.ctx.cookies(b.env.PANEL)).find((c) => c.name === 'berth_session');
		b.expect(c && c.secure && c.httpOnly, 'a Secure, HttpOnly berth_session cookie');
		await b.waitPath('/');
		await page.waitForSelector('main#dashboard');
		await page.waitForSelector(`#apps tr[data-app="${b.env.APP}"]`);
		await b.shot('dashboard');
	JS
}

step_relogin() {
	browser_run relogin <<-'JS'
		await b.goto(b.env.PANEL + '/');
		await page.waitForSelector('main#dashboard');
		await page.click('#logout');
		await b.waitPath('/login');
		await b.shot('login');
		b.expect(await page.isHidden('#otp-row'), 'no code asked before the API asks for one');
		await page.fill('#name', b.env.ADMIN);
		b.expect(await page.$('#otp-row #otp'), 'the code field, hidden');
		await page.fill('#password', 'not the password at all');
		b.expectConsoleError(/status of 401 .*\/api\/v1\/login:/, 'the wrong password refused');
		await page.click('#login-submit');
		await page.waitForSelector('#login-error:not(:empty)');
		await b.shot('login-refused');
		await page.fill('#password', b.env.ADMIN_PW);
		await page.click('#login-submit');
		await b.waitPath('/');
		await page.waitForSelector('main#dashboard');
		await b.shot('dashboard');
	JS
}

step_totp() {
	browser_run totp <<-'JS'
		const { execFileSync } = await import('node:child_process');
		const fs = await import('node:fs');
		await b.goto(b.env.PANEL + '/');
		await page.click('#nav-settings');
		await b.waitPath('/settings');
		await page.waitForSelector('section#twofa');
		await b.shot('settings');
		// the API asks for the current password to begin: a password field there, if any
		const pw = await page.$('#twofa input[type=password]');
		if (pw) {
			await pw.fill(b.env.ADMIN_PW);
		}
		await page.click('#totp-begin');
		await page.waitForFunction(() =>
			/otpauth:\/\/totp\/\S*secret=[A-Z2-7]+/.test(document.querySelector('#twofa').innerText));
		const text = await page.innerText('#twofa');
		const uri = text.match(/otpauth:\/\/totp\/\S*[?&]secret=([A-Z2-7]+)\S*/);
		const secret = uri[1];
		b.expect(text.replace(uri[0], '').replace(/\s+/g, '').includes(secret),
			'the secret shown as text besides the URI');
		fs.writeFileSync(b.env.TOTP_FILE, secret, { mode: 0o600 });
		await b.shot('totp-secret');
		const code = execFileSync('oathtool', ['--totp', '-b', secret]).toString().trim();
		await page.fill('#totp-code', code);
		await page.click('#totp-confirm');
		await page.waitForSelector('#recovery-codes li');
		b.expect((await page.$$('#recovery-codes li')).length >= 5, 'recovery codes listed');
		await b.shot('recovery-codes');
	JS
}

step_login_otp() {
	browser_run login-otp <<-'JS'
		const { execFileSync } = await import('node:child_process');
		const fs = await import('node:fs');
		await b.goto(b.env.PANEL + '/');
		await page.click('#logout');
		await b.waitPath('/login');
		await page.fill('#name', b.env.ADMIN);
		await page.fill('#password', b.env.ADMIN_PW);
		b.expectConsoleError(/status of 401 .*\/api\/v1\/login:/, 'the API asks for a code');
		await page.click('#login-submit');
		await page.waitForSelector('#otp-row #otp', { state: 'visible' });
		await b.shot('login-otp');
		// the code of the next 30 s step: the one of this step went to the enrolment,
		// and a code is good once
		const secret = fs.readFileSync(b.env.TOTP_FILE, 'utf8');
		const at = '@' + (Math.floor(Date.now() / 1000) + 30);
		const code = execFileSync('oathtool', ['--totp', '-b', '-N', at, secret]).toString().trim();
		await page.fill('#otp', code);
		await page.click('#login-submit');
		await b.waitPath('/');
		await page.waitForSelector(`#apps tr[data-app="${b.env.APP}"]`);
		await b.shot('dashboard');
	JS
}

step_env() {
	browser_run app-env <<-'JS'
		const app = b.env.APP, key = b.env.ENV_KEY;
		await b.goto(b.env.PANEL + '/');
		await page.click(`#apps tr[data-app="${app}"] a[href="/apps/${app}"]`);
		await b.waitPath('/apps/' + app);
		await page.waitForSelector(`main#app[data-app="${app}"]`);
		await b.shot('app');
		await page.fill('#env-key', key);
		await page.fill('#env-value', b.env.ENV_VALUE);
		const sent = page.waitForResponse((r) =>
			r.url().endsWith(`/api/v1/apps/${app}/env`) && r.request().method() === 'POST');
		await page.click('#env-save');
		const r = await sent;
		b.expect(r.status() === 202, `POST .../env answers 202 (got ${r.status()})`);
		// the job's lines come as it runs; it may fail here (no docker), the key
		// stored all the same
		await page.waitForFunction(() =>
			/^(succeeded|failed)$/.test(document.querySelector('#job-state')?.textContent.trim()),
			null, { timeout: 60000 });
		b.log(`job ${await page.textContent('#job-state')}:\n${await page.textContent('#job-log')}`);
		await b.shot('env-job');
		await b.goto(b.env.PANEL + '/apps/' + app);
		await page.waitForSelector(`#env li[data-key="${key}"]`);
		await b.shot('env-listed');
	JS
}

step_viewer() {
	browser_run viewer --session viewer <<-'JS'
		const app = b.env.APP;
		await b.goto(b.env.PANEL + '/login');
		await page.fill('#name', b.env.VIEWER);
		await page.fill('#password', b.env.VIEWER_PW);
		await page.click('#login-submit');
		await b.waitPath('/');
		await page.waitForSelector(`#apps tr[data-app="${app}"]`);
		await b.goto(b.env.PANEL + '/apps/' + app);
		await page.waitForSelector(`main#app[data-app="${app}"]`);
		await b.shot('viewer-app');
		for (const sel of ['#env-form', '#domain-form', '#deploy-form', 'button.rollback', '#https']) {
			b.expect(await page.$(sel) === null, `no ${sel} for a viewer`);
		}
		// the key set by the admin, listed for the viewer too
		await page.waitForSelector(`#env li[data-key="${b.env.ENV_KEY}"]`);
		// the traffic charts are drawn by berthd: three images that loaded
		await page.locator('#charts img').last().scrollIntoViewIfNeeded();
		await page.waitForFunction(() => {
			const imgs = [...document.querySelectorAll('#charts img')];
			return imgs.length === 3 && imgs.every((i) => i.complete && i.naturalWidth > 0);
		});
		// live logs for a reader too: this app has no container here, and the stream says so
		await page.click('#logs-follow');
		await page.waitForFunction(() => /gone/.test(document.getElementById('logs-state').textContent));
		b.expect(/no running containers/.test(await page.textContent('#logs-out')),
			'the logs say the app has no running containers');
		await b.shot('viewer-logs');
	JS
}

# one-click apps: the redis template's form from the dashboard's link; a
# value failing its validRegex is refused next to the form, the error focused and the field marked; a pasted
# template's form (its <script> only text), a bad one's error, a file read
step_oneclick() {
	browser_run oneclick <<-'JS'
		await b.goto(b.env.PANEL + '/');
		await page.click('#nav-oneclick');
		await b.waitPath('/oneclick');
		await page.waitForSelector('main#oneclick');
		await b.shot('oneclick');
		await page.click('#template-list li[data-template="redis"] a');
		await page.waitForSelector('#oneclick-form[data-template="redis"]');
		const ids = await page.$$eval('#oneclick-form input', (l) => l.map((i) => i.id));
		b.expect(ids.length === 3, `three fields (got ${ids.length})`);
		for (const id of ids) {
			b.expect(await page.$(`label[for="${id}"]`), `a label for #${id}`);
		}
		b.expect(await page.getByLabel('Redis version').inputValue() === '7', 'the version prefilled');
		const pw = page.getByLabel('Password', { exact: true });
		b.expect(await pw.getAttribute('type') === 'password', 'the password field is one');
		b.expect(await pw.inputValue() === '', 'the random default is not made here');
		b.expect(/generated at deploy/.test(await page.textContent('#oc-var-2-hint')),
			'the hint says it is generated at deploy');
		b.expect(await page.$eval('#oc-var-2', (i) => i.getAttribute('aria-describedby')) === 'oc-var-2-hint',
			'the hint describes the field');
		await b.shot('redis-form');
		await page.getByLabel('App name').fill(b.env.ONECLICK_APP);
		await page.getByLabel('Redis version').fill('7 x');
		b.expectConsoleError(/status of 400 .*\/api\/v1\/oneclick:/, 'the version refused');
		await page.click('#oneclick-submit');
		await page.waitForSelector('#oneclick-error:not(:empty)');
		const err = await page.textContent('#oneclick-error');
		b.expect(/redis_version/.test(err), `the error names the variable: ${err}`);
		b.expect(await page.evaluate(() => document.activeElement.id) === 'oneclick-error',
			'the error has the focus');
		b.expect(await page.getAttribute('#oc-var-1', 'aria-invalid') === 'true', 'the field marked');
		await b.shot('redis-refused');

		// a pasted template: its form built from the API's answer, every text as text
		await b.goto(b.env.PANEL + '/oneclick');
		await page.fill('#oneclick-yaml', [
			'captainVersion: 4',
			'services:',
			'  $$cap_appname:',
			'    image: nginx',
			'caproverOneClickApp:',
			'  displayName: "<script>window.pwned = 1</script>Pasted"',
			'  description: "<img src=x id=pwned-img>"',
			'  variables:',
			'    - id: $$cap_db_name',
			'      label: "<b>Database</b> name"',
			'      defaultValue: app',
			'      validRegex: /^[a-z_][a-z0-9_]{0,62}$/',
		].join('\n'));
		await page.click('#oneclick-load');
		await page.waitForSelector('#oneclick-form:not([data-template])');
		b.expect(await page.textContent('#oneclick-chosen-h') === '<script>window.pwned = 1</script>Pasted',
			'the name shown as text');
		b.expect(await page.evaluate(() => document.activeElement.id) === 'oneclick-chosen-h',
			'the new form\'s heading has the focus');
		b.expect(await page.$('#oneclick-chosen script, #oneclick-chosen img, #oneclick-chosen b') === null,
			'no element made of the template\'s texts');
		b.expect(await page.evaluate(() => window.pwned === undefined), 'no script of the template ran');
		const db = page.getByLabel('<b>Database</b> name');
		b.expect(await db.inputValue() === 'app', 'the default prefilled');
		b.expect(await db.getAttribute('pattern') === '^[a-z_][a-z0-9_]{0,62}$', 'the regex as a pattern');
		await db.fill('Not-Valid');
		b.expect(await db.evaluate((i) => !i.checkValidity()), 'the browser checks the pattern');
		await b.shot('pasted-form');

		// a template that does not parse: the error, naming its line, gets the focus
		await page.fill('#oneclick-yaml', 'captainVersion: 4\nservices: 3\n');
		b.expectConsoleError(/status of 400 .*\/api\/v1\/oneclick\/form:/, 'the bad template refused');
		await page.click('#oneclick-load');
		await page.waitForSelector('#oneclick-yaml-error:not(:empty)');
		b.expect(/line 2/.test(await page.textContent('#oneclick-yaml-error')), 'the error names line 2');
		b.expect(await page.evaluate(() => document.activeElement.id) === 'oneclick-yaml-error',
			'the error has the focus');
		await b.shot('pasted-refused');

		// a file is read into the text
		await page.setInputFiles('#oneclick-file', {
			name: 'app.yml', mimeType: 'text/yaml',
			buffer: Buffer.from('captainVersion: 4\nservices:\n  $$cap_appname:\n    image: nginx\n'),
		});
		await page.waitForFunction(() => /image: nginx/.test(document.getElementById('oneclick-yaml').value));
		await page.click('#oneclick-load');
		await page.waitForSelector('#oneclick-form #oc-var-0');
		b.expect((await page.$$('#oneclick-form input')).length === 1, 'the uploaded template asks only the name');
		await b.shot('uploaded-form');
	JS
}

step_narrow() {
	browser_run narrow <<-'JS'
		await page.setViewportSize({ width: 375, height: 800 });
		for (const [name, p] of [['dashboard', '/'], ['app', '/apps/' + b.env.APP], ['settings', '/settings'],
			['oneclick', '/oneclick?template=postgres']]) {
			await b.goto(b.env.PANEL + p);
			const w = await page.evaluate(() => document.documentElement.scrollWidth);
			b.expect(w <= 375, `${p} fits 375 px (it is ${w} px wide)`);
			await b.shot(name);
		}
	JS
}

# the server (admins): the host's check on the dashboard, then Settings' keys and root domain
step_server() {
	browser_run server <<-'JS'
		const name = b.env.KEY_NAME, app = b.env.APP;
		await b.goto(b.env.PANEL + '/');
		await page.waitForSelector('section#host');
		b.expect(/Not checked yet/.test(await page.textContent('#host-checked')),
			'the host not checked yet (berthd serve checks it on no schedule here)');
		await page.click('#host-check');
		await page.waitForSelector('#host-checks tbody tr', { timeout: 60000 });
		b.expect(/^Checked at \S+Z: (ok|warn|fail)$/.test((await page.textContent('#host-checked')).trim()),
			'when the host was checked, and its verdict in words');
		for (const v of await page.$$eval('#host-checks td[data-label="Verdict"]', (ts) => ts.map((t) => t.textContent))) {
			b.expect(/^(ok|warn|fail)$/.test(v), `a verdict in words (${v})`);
		}
		await b.shot('host');
		await page.click('#nav-settings');
		await b.waitPath('/settings');
		await page.waitForSelector('section#server');
		await page.fill('#key-name', name);
		await page.fill('#key-text', b.env.KEY_PUB);
		await page.click('#key-add');
		await page.waitForSelector(`#ssh-keys tr[data-key-name="${name}"]`);
		b.expect((await page.textContent('#keys-note')).includes(name), 'the key said added');
		b.expect(/SHA256:/.test(await page.textContent(`#ssh-keys tr[data-key-name="${name}"]`)),
			'the key listed with its fingerprint');
		b.expect(/none/.test(await page.textContent(`#ssh-keys tr[data-key-name="${name}"] td[data-label="Rights"]`)),
			'a key that is not an admin has no rights yet');
		await b.shot('key-added');
		await page.fill('#grant-key', name);
		await page.fill('#grant-app', app);
		await page.selectOption('#grant-right', 'deploy');
		await page.click('#grant-add');
		const revoke = `button.grant-revoke[data-key-name="${name}"][data-app="${app}"]`;
		await page.waitForSelector(revoke);
		await b.shot('key-granted');
		await page.click(revoke);
		await page.waitForSelector(revoke, { state: 'detached' });
		// confirm() is accepted by the driver
		await page.click(`button.key-remove[data-key-name="${name}"]`);
		await page.waitForSelector(`#ssh-keys tr[data-key-name="${name}"]`, { state: 'detached' });
		await b.shot('key-removed');
		await page.fill('#root-domain', b.env.ROOT2);
		await page.click('#root-domain-save');
		await page.waitForFunction((d) => document.getElementById('server-domain').textContent.includes(d),
			b.env.ROOT2);
		b.expect((await page.textContent('#domain-note')).includes(`APP.${b.env.ROOT2} from their next deploy`),
			'the page says what the new root domain changes');
		await b.shot('root-domain');
	JS
}

# ---- the harness proves itself on a tiny local site ----

mkdir -p site &&
	echo '<!doctype html><html lang="en"><title>good</title><p id="said"></p><script src="good.js"></script>' >site/good.html &&
	echo 'document.getElementById("said").textContent = "fine"; console.log("good-marker-'"$T"'");' >site/good.js &&
	echo '<!doctype html><html lang="en"><title>bad</title><p id="said"></p><script src="bad.js"></script>' >site/bad.html &&
	echo 'console.error("planted console error"); document.getElementById("said").textContent = "x";' >site/bad.js &&
	echo '<!doctype html><html lang="en"><title>uncaught</title><p id="said"></p><script src="uncaught.js"></script>' >site/uncaught.html &&
	echo 'document.getElementById("said").textContent = "x"; null.planted;' >site/uncaught.js &&
	echo '<!doctype html><html lang="en"><title>away</title><script src="navaway.js"></script>' >site/navaway.html &&
	echo 'fetch("data.json").then((r) => r.json()).then(() => { location = "good.html"; });' >site/navaway.js &&
	echo '{"said": "held-marker-'"$T"'"}' >site/data.json &&
	: >site/favicon.ico || exit 1

test_expect_success 'the browser harness passes a clean page, keeps every body, fails console errors, page errors and 404s, finds a value in the traffic' '
	{ python3 -u -m http.server --bind 127.0.0.1 --directory site 0 >site.log 2>&1 </dev/null &
	  echo "kill $!" >>"$TEST_TMP/.cleanups"; } &&
	port=$(wait_for_line site.log "port [0-9]+" | sed "s/port //") &&
	export SITE=http://127.0.0.1:$port &&
	harness_good >out 2>&1 || { cat out; exit 1; }
	grep -q "good-marker-$T" "$BROWSER_OUT/console.log" &&
	test "$(browser_traffic_count "good-marker-$T")" -ge 1 &&
	ls "$BROWSER_OUT"/*-harness-good-good.png &&
	# the body of a fetch whose page went on at once is kept too
	harness_navaway >out 2>&1 || { cat out; exit 1; }
	jq -s -e "map(select(.kind == \"response\" and .url == \"$SITE/data.json\")) |
		length == 1 and (.[0].body | contains(\"held-marker-$T\"))" "$BROWSER_TRAFFIC" &&
	test_must_fail harness_bad >out 2>&1 && cat out &&
	grep -q "console.error: planted console error" out &&
	test_must_fail harness_uncaught >out 2>&1 && cat out &&
	grep -q "page error: .*planted" out &&
	harness_expected >out 2>&1 || { cat out; exit 1; }
	test_must_fail harness_unmet >out 2>&1 && cat out &&
	grep -q "no console error /an error that never comes/" out &&
	test_must_fail harness_404 >out 2>&1 && cat out &&
	grep -q "missing.html answered 404" out &&
	# a value the site sends back is found
	test_must_fail browser_sent_once "good-marker-$T" GET /good.js >out && cat out &&
	grep -q "ELSEWHERE: harness-good: response 200 $SITE/good.js" out
'

test_expect_success 'berthd behind berth-proxy serves https://berth.example.test' '
	bd domains:set-global $ROOT >/dev/null &&
	bd apps:create $APP >/dev/null &&
	# the host checked only when asked (the probe runs where berthd does: a dockerd, or none)
	{ "$BERTHD" serve --http 127.0.0.1:$BERTHD_PORT --doctor-interval off \
		>berthd.log 2>&1 </dev/null &
	  echo "kill $!" >>"$TEST_TMP/.cleanups"; } &&
	wait_for_line berthd.log "panel and API on" &&
	"$PROXY" deploy berthd --target 127.0.0.1:$BERTHD_PORT --host berth.$ROOT --tls \
		--tls-certificate-path "$TEST_TMP/panel.pem" --tls-private-key-path "$TEST_TMP/panel.key" \
		--health-check-path /up --health-check-interval 100ms --forward-headers=false &&
	test "$(api GET /up)" = 200
'

test_expect_success 'the one-time set-up link opens the set-up page' '
	bd panel:setup-link >link &&
	grep -x "$PANEL/setup?token=[0-9a-f]*" link >"$TEST_TMP/setup-link" &&
	SETUP_LINK=$(cat "$TEST_TMP/setup-link") step_setup_page
'

test_expect_success 'the set-up makes the admin, signed in, and lands on the dashboard listing the app' '
	SETUP_LINK=$(cat "$TEST_TMP/setup-link") step_setup; rc=$?
	bd panel:users >users && grep_q users "^$ADMIN +admin +2fa:off" && exit $rc
'

test_expect_success 'a viewer of the app, made through the API' '
	test "$(api POST /api/v1/login -c jar -H "Content-Type: application/json" \
		-d "{\"name\":\"$ADMIN\",\"password\":\"$ADMIN_PW\"}")" = 200 &&
	test "$(api GET /api/v1/me -b jar)" = 200 &&
	tok=$(jq -r .csrf_token api.out) &&
	api POST /api/v1/users -b jar -H "X-CSRF-Token: $tok" -H "Origin: $PANEL" \
		-H "Content-Type: application/json" \
		-d "{\"name\":\"$VIEWER\",\"password\":\"$VIEWER_PW\",\"role\":\"user\",\"apps\":{\"$APP\":\"viewer\"}}" >code &&
	cat api.out && test "$(cat code)" = 201
'

test_expect_success 'log out, then in again on /login (a wrong password said so)' '
	step_relogin
'

export TOTP_FILE=$TEST_TMP/totp-secret
test_expect_success 'two-factor enrolment on /settings' '
	step_totp &&
	bd panel:users >users && grep_q users "^$ADMIN +admin +2fa:on"
'

test_expect_success 'log out; log in with a code; the dashboard lists the app' '
	step_login_otp
'

test_expect_success 'an env var through the app page: the key listed' '
	step_env &&
	bd config:show $APP >config 2>&1 && cat config && grep_q config "$ENV_KEY"
'

test_expect_success 'the value went once, in the request that set it, and came back in no answer' '
	browser_sent_once "$ENV_VALUE" POST "/api/v1/apps/$APP/env" &&
	! grep -rF "$ENV_VALUE" "$BROWSER_OUT/console.log" berthd.log
'

test_expect_success 'one-click apps: the redis form, a pasted template, a bad one, a file' '
	ONECLICK_APP=$T-redis step_oneclick &&
	! bd apps:list 2>&1 | grep -q "$T-redis"
'

test_expect_success 'the pages fit a phone, 375 px wide' '
	step_narrow
'

test_expect_success 'a viewer sees the app page without #env-form or any other change; charts and logs' '
	step_viewer
'

export KEY_NAME=laptop-$T ROOT2=$T.example.test
test_expect_success 'the host checked from the dashboard; an SSH key and the root domain in Settings' '
	ssh-keygen -q -t ed25519 -N "" -C "$KEY_NAME" -f "$TEST_TMP/key" </dev/null &&
	KEY_PUB=$(cat "$TEST_TMP/key.pub") step_server &&
	jq -e ".checks | length > 0" "$BERTHD_STATE_DIR/doctor.json" &&
	bd ssh-keys:list --format json >keys && ! grep -q "$KEY_NAME" keys &&
	bd --format json domains:report $APP | jq -e ".global_vhost == \"$ROOT2\"" &&
	bd events >events && grep -q "panel:ssh-keys:remove" events &&
	grep "panel:domains:set-global" events | grep -q "$ROOT2"
'

test_done
