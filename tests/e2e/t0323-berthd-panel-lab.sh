#!/usr/bin/env bash
# berthd's panel in a real browser (chromium, tests/e2e/browser-lib.sh)
# against a lab host set up by `berth server bootstrap --daemon
# --root-domain` (as t0318): berth-proxy serves https://berth.ROOT with a
# certificate from pebble. Chromium maps the name to the host's port 443
# (--host-resolver-rules) and trusts the leaf berth-proxy serves by its key
# alone (--ignore-certificate-errors-spki-list with the SPKI hash read with
# openssl s_client once the certificate is issued).
# In the browser: the first admin through the one-time set-up link, an app
# made with the dashboard's form; a tarball uploaded on the app's page
# (#deploy-file), its job's lines coming while it runs, then served; an env
# var set through #env-form; a second tarball deployed while a load loop
# runs against the app, no request failed (the count is printed); a
# rollback with the version's button (the confirm accepted); a domain
# added and HTTPS turned on, pebble issuing the certificate the app then
# answers with. The env value is in the browser's traffic once, in the
# request that set it. Screenshots of every step, the console and every
# request and response are kept in
# build/test-results/browser/t0323-berthd-panel-lab/.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"
. "$TOP/tests/e2e/browser-lib.sh"

H=$h3
ROOT=$T.test
PANEL=https://berth.$ROOT
# apps without domains of their own are APP.ROOT (bootstrap --root-domain sets the global domain)
HOST=$T.$ROOT
DOMAIN=www.$ROOT
export PANEL ADMIN=admin ADMIN_PW="correct horse $T battery" APP_NAME=$T DOMAIN \
	ENV_KEY=GREETING_$T ENV_VALUE=v4lue${T}$RANDOM$RANDOM \
	V1_FILE=$TEST_TMP/v1.version TARS=$TEST_TMP
. "$TOP/tests/e2e/berthd-lib.sh"
berthd_gone
test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web'"

# app_tar V: app-V.tar, a build context of the test app answering with version V
mkdir -p "$TEST_TMP/ctx" && cp "$TOP/build/testapp" "$TEST_TMP/ctx/testapp" || exit 1
app_tar() {
	printf 'FROM scratch\nCOPY testapp /testapp\nENV APP_VERSION=%s\nCMD ["/testapp"]\n' "$1" \
		>"$TEST_TMP/ctx/Dockerfile" &&
		tar -C "$TEST_TMP/ctx" -cf "$TEST_TMP/app-$1.tar" Dockerfile testapp
}
app_tar v1 && app_tar v2 || exit 1
# served: the version the app answers with over plain HTTP through the host's port 80
served() { curl -s --max-time 5 -H "Host: $HOST" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }

# ---- the browser steps (JavaScript; b is the driver's handle, page its page) ----

# steps: the JavaScript on stdin after job(), which the steps share. job(b, name, start,
# watch) clears #job-state, runs start() (which makes the page start a job) and waits until
# the job ended, returning its state and lines; with watch, #job-log must have filled while
# #job-state said "running" (a screenshot then).
steps() {
	cat <<-'JS'
		async function job(b, name, start, watch) {
			const page = b.page;
			await page.evaluate(() => {
				document.getElementById('job-state').textContent = '';
				document.getElementById('job-log').textContent = '';
			});
			await start();
			if (watch) {
				await page.waitForFunction(() =>
					document.getElementById('job-state').textContent.trim() === 'running' &&
					document.getElementById('job-log').textContent.trim() !== '',
					null, { polling: 100, timeout: 60000 });
				await page.locator('#job').scrollIntoViewIfNeeded();
				await b.shot(name + '-running');
			}
			await page.waitForFunction(() =>
				/^(succeeded|failed)$/.test(document.getElementById('job-state').textContent.trim()),
				null, { polling: 200, timeout: 100000 });
			const state = (await page.textContent('#job-state')).trim();
			const log = await page.textContent('#job-log');
			b.log(`job ${name}: ${state}\n${log}`);
			await page.locator('#job').scrollIntoViewIfNeeded();
			await b.shot(name + '-' + state);
			return { state, log };
		}
		// deploy(b, V): uploads app-V.tar with #deploy-file; the job's state and lines
		async function deploy(b, v) {
			const page = b.page, app = b.env.APP_NAME;
			await b.goto(b.env.PANEL + '/apps/' + app);
			await page.waitForSelector(`main#app[data-app="${app}"]`);
			await page.setInputFiles('#deploy-file', `${b.env.TARS}/app-${v}.tar`);
			await b.shot('deploy-' + v + '-chosen');
			return job(b, 'deploy-' + v, async () => {
				const sent = page.waitForResponse((r) =>
					r.url().endsWith(`/api/v1/apps/${app}/deploys`) && r.request().method() === 'POST');
				await page.click('#deploy-submit');
				const r = await sent;
				b.expect(r.status() === 202, `POST .../deploys answers 202 (got ${r.status()})`);
				b.expect(r.request().headers()['content-type'] === 'application/x-tar',
					'the tarball sent as application/x-tar');
			}, true);
		}
	JS
	cat
}

# the set-up's answer sends the admin, signed in, to the dashboard; the app made there
step_setup() {
	steps <<-'JS' | browser_run setup
		const app = b.env.APP_NAME;
		await b.goto(b.env.SETUP_LINK);
		await b.shot('setup');
		await page.fill('#name', b.env.ADMIN);
		await page.fill('#password', b.env.ADMIN_PW);
		const answer = page.waitForResponse((r) =>
			r.url().endsWith('/setup') && r.request().method() === 'POST');
		await page.click('button[type=submit]');
		const r = await answer;
		b.expect(r.status() === 303, `POST /setup answers 303 (got ${r.status()})`);
		await b.waitPath('/');
		await page.waitForSelector('main#dashboard');
		await b.shot('dashboard');
		await page.fill('#app-name', app);
		await page.click('#app-create-submit');
		await b.waitPath('/apps/' + app);
		await page.waitForSelector(`main#app[data-app="${app}"]`);
		b.expect((await page.textContent('#app-version')).trim() === 'none', 'no version yet');
		await b.shot('app-created');
		await b.goto(b.env.PANEL + '/');
		await page.waitForSelector(`#apps tr[data-app="${app}"]`);
		await b.shot('dashboard-app');
	JS
}

# the first tarball; the version it made kept in V1_FILE
step_deploy_v1() {
	steps <<-'JS' | browser_run deploy-v1
		const fs = await import('node:fs');
		const { state, log } = await deploy(b, 'v1');
		b.expect(state === 'succeeded', `the deploy succeeded (${state})`);
		b.expect(log.includes('-----> Building ' + b.env.APP_NAME), 'the build lines in #job-log');
		// the page's parts come again once the job ended: the version is the current one
		await page.waitForSelector('#versions tr.current');
		const v = (await page.textContent('#app-version')).trim();
		b.expect(v && v !== 'none', `a version (${v})`);
		fs.writeFileSync(b.env.V1_FILE, v);
		await b.shot('deployed-v1');
	JS
}

step_env() {
	steps <<-'JS' | browser_run env
		const app = b.env.APP_NAME, key = b.env.ENV_KEY;
		await b.goto(b.env.PANEL + '/apps/' + app);
		await page.fill('#env-key', key);
		await page.fill('#env-value', b.env.ENV_VALUE);
		await b.shot('env-filled');
		const { state } = await job(b, 'env', async () => {
			const sent = page.waitForResponse((r) =>
				r.url().endsWith(`/api/v1/apps/${app}/env`) && r.request().method() === 'POST');
			await page.click('#env-save');
			const r = await sent;
			b.expect(r.status() === 202, `POST .../env answers 202 (got ${r.status()})`);
		});
		b.expect(state === 'succeeded', `the env job succeeded (${state})`);
		await page.waitForSelector(`#env li[data-key="${key}"]`);
		await b.shot('env-listed');
	JS
}

step_deploy_v2() {
	steps <<-'JS' | browser_run deploy-v2
		const { state } = await deploy(b, 'v2');
		b.expect(state === 'succeeded', `the deploy succeeded (${state})`);
	JS
}

# the version's rollback button; the confirm() names the app and the version
step_rollback() {
	steps <<-'JS' | browser_run rollback
		const fs = await import('node:fs');
		const app = b.env.APP_NAME, v1 = fs.readFileSync(b.env.V1_FILE, 'utf8');
		await b.goto(b.env.PANEL + '/apps/' + app);
		const btn = `#versions button.rollback[data-version="${v1}"]`;
		await page.locator(btn).scrollIntoViewIfNeeded();
		await b.shot('versions');
		const { state } = await job(b, 'rollback', async () => {
			// the driver accepts the dialog; this only reads it
			const dialog = page.waitForEvent('dialog');
			const sent = page.waitForResponse((r) =>
				r.url().endsWith(`/api/v1/apps/${app}/rollback`) && r.request().method() === 'POST');
			await page.click(btn);
			const d = await dialog;
			b.expect(d.type() === 'confirm' && d.message().includes(`Roll ${app} back to version ${v1}?`),
				`a confirm naming the app and the version (${d.type()}: ${d.message()})`);
			const r = await sent;
			b.expect(r.status() === 202, `POST .../rollback answers 202 (got ${r.status()})`);
		});
		b.expect(state === 'succeeded', `the rollback succeeded (${state})`);
		await page.waitForFunction((v) =>
			document.getElementById('app-version').textContent.trim() === v, v1);
		await page.waitForSelector(`#versions tr.current[data-version="${v1}"]`);
		await b.shot('rolled-back');
	JS
}

# a domain through #domain-form, then HTTPS through the #https box
step_domain_https() {
	steps <<-'JS' | browser_run domain-https
		const app = b.env.APP_NAME, dom = b.env.DOMAIN;
		await b.goto(b.env.PANEL + '/apps/' + app);
		await page.fill('#domain', dom);
		await b.shot('domain-filled');
		let { state } = await job(b, 'domain', async () => {
			const sent = page.waitForResponse((r) =>
				r.url().endsWith(`/api/v1/apps/${app}/domains`) && r.request().method() === 'POST');
			await page.click('#domain-add');
			const r = await sent;
			b.expect(r.status() === 202, `POST .../domains answers 202 (got ${r.status()})`);
		});
		b.expect(state === 'succeeded', `the domain job succeeded (${state})`);
		await page.waitForSelector(`#domains li[data-domain="${dom}"]`);
		b.expect(!(await page.isChecked('#https')), 'HTTPS off before');
		({ state } = await job(b, 'https', async () => {
			const sent = page.waitForResponse((r) =>
				r.url().endsWith(`/api/v1/apps/${app}/letsencrypt`) && r.request().method() === 'POST');
			await page.check('#https');
			const r = await sent;
			b.expect(r.status() === 202, `POST .../letsencrypt answers 202 (got ${r.status()})`);
		}));
		b.expect(state === 'succeeded', `the letsencrypt job succeeded (${state})`);
		await b.goto(b.env.PANEL + '/apps/' + app);
		b.expect(await page.isChecked('#https'), 'HTTPS on, after a reload');
		await page.locator('#domains').scrollIntoViewIfNeeded();
		await b.shot('https-on');
	JS
}

test_expect_success 'pebble, and berth-proxy on the host pointed at it' '
	pebble_up
'

test_expect_success 'bootstrap --root-domain: the panel on https://berth.ROOT with an ACME certificate' '
	berthd_bootstrap &&
	for i in $(seq 60); do
		st=$(api GET /up 2>/dev/null) && test "$st" = 200 && break
		sleep 1
	done
	test "$st" = 200 &&
	grep -q "Issued certificate serial" pebble.log &&
	openssl s_client -connect "$ADDR:443" -servername "berth.$ROOT" </dev/null 2>/dev/null |
		openssl x509 -pubkey -noout >leaf.pub &&
	openssl pkey -pubin -in leaf.pub -outform der | openssl dgst -sha256 -binary | base64 >"$TEST_TMP/spki" &&
	cat "$TEST_TMP/spki" && test "$(wc -c <"$TEST_TMP/spki")" = 45
'
BROWSER_ARGS="--host-resolver-rules=MAP berth.$ROOT $ADDR:443
--ignore-certificate-errors-spki-list=$(cat "$TEST_TMP/spki" 2>/dev/null)"

test_expect_success 'in the browser: set-up through the one-time link, the dashboard; an app made there' '
	SETUP_LINK=$(cat "$TEST_TMP/link") step_setup &&
	bd apps:list >apps.out && grep -qx "$T" apps.out
'

test_expect_success 'a tarball uploaded on the app page: #job-log fills while running, then succeeded; v1 served' '
	step_deploy_v1 &&
	cat "$V1_FILE" &&
	test "$(served)" = v1
'

test_expect_success 'an env var set through #env-form reaches the app' '
	step_env &&
	bd config:show $T >config.out && grep -q "$ENV_KEY" config.out &&
	on $H "docker inspect -f \"{{range .Config.Env}}{{println .}}{{end}}\" \$(docker ps -q --filter label=service=$T --filter label=role=web)" >env.out &&
	grep -qxF "$ENV_KEY=$ENV_VALUE" env.out &&
	test "$(served)" = v1
'

test_expect_success 'a second tarball deployed from the panel under load: no request failed; v2 served' '
	rm -f "$TEST_TMP/stop" load.out && urls=() || exit 1
	for i in $(seq 100); do urls+=("http://$ADDR/"); done
	load_loop load.out -H "Host: $HOST" "${urls[@]}" &
	lpid=$!
	{ step_deploy_v2 || { touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	n=$(grep -c "^|" load.out) &&
	failed=$(($(grep -c "^curl-failed" load.out || true) + $(grep "^|" load.out | grep -vc "^|200$" || true))) &&
	echo "$n $failed" >"$TEST_TMP/load.count" &&
	check_load load.out "v1|v2" &&
	grep -q "version=v1 " load.out && grep -q "version=v2 " load.out &&
	test "$(served)" = v2
'
if [[ -s $TEST_TMP/load.count ]]; then
	read -r n failed <"$TEST_TMP/load.count"
	echo "# a deploy started from the panel under load: $n requests, $failed failed"
fi

test_expect_success 'rollback with the version button (confirm accepted): the job succeeded, v1 served' '
	step_rollback &&
	test "$(served)" = v1
'

test_expect_success 'a domain through #domain-form, HTTPS through #https: the ACME certificate serves v1' '
	issued=$(grep -c "Issued certificate serial" pebble.log) &&
	step_domain_https &&
	for i in $(seq 60); do
		curl -s --max-time 5 --cacert "$TEST_TMP/root.pem" --resolve "$DOMAIN:443:$ADDR" \
			"https://$DOMAIN/" >https.out 2>&1 && grep -q "^testapp version=v1 " https.out && break
		sleep 1
	done
	cat https.out && grep -q "^testapp version=v1 " https.out &&
	test "$(grep -c "Issued certificate serial" pebble.log)" -gt "$issued" &&
	bd domains:report $T >dom.out && grep -q "$DOMAIN" dom.out
'

test_expect_success 'the env value went once, in the request that set it, and in no other traffic' '
	browser_sent_once "$ENV_VALUE" POST "/api/v1/apps/$T/env" &&
	! grep -F "$ENV_VALUE" "$BROWSER_OUT/console.log" &&
	! on $H "docker logs berthd 2>&1" | grep -qF "$ENV_VALUE"
'

test_done
