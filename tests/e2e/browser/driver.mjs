// A real browser for the end-to-end tests: Debian's chromium driven by the
// npm package playwright-core (never a browser playwright downloads). One
// call of run() is one step of a test: it starts chromium with a fresh
// profile, puts back the cookies of the test's named session, runs the
// step's function, and keeps the cookies for the next step.
//
// Everything the step does is recorded, appended across the steps of a test
// to files in the output folder ($BROWSER_OUT):
//   traffic.jsonl  every request and every response, headers and bodies, one
//                  JSON object a line (so a test can look for a secret in all of it;
//                  the bodies are taken as they arrive, so that none is lost when
//                  a page moves on; a redirect's body chromium does not give)
//   console.log    every console message and page error, with its step
//   NN-STEP-NAME.png  a full-page screenshot per shot(NAME)
// A step fails (exit 1, what went wrong on stdout) when its function throws,
// when a page logs a console error or throws an uncaught error, or when a
// navigation by goto() answers with an error status. Console errors not
// counted: those the step announced with expectConsoleError(), and a missing
// /favicon.ico, which chromium asks for by itself.
//
// Environment: BROWSER_OUT (the output folder), BROWSER_PROFILE (a folder for
// the fresh profiles), BROWSER_SESSION_FILE (the kept cookies),
// BROWSER_ARGS (more chromium flags, one a line), BROWSER_STEP (the step's
// name), BROWSER_PLAYWRIGHT_DIR (where playwright-core is installed),
// BROWSER_CHROMIUM (default /usr/bin/chromium).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const env = process.env;
const need = (name) => {
	if (!env[name]) {
		throw new Error(`${name} is not set`);
	}
	return env[name];
};

// Flags without which chromium on a closed network hangs on look-ups and
// background fetches.
const BASE_ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
];

// Body as text when it is text, else base64 (marked so).
const TEXTUAL = /^(text\/|application\/(json|javascript|x-www-form-urlencoded|xml)|image\/svg)/;
function bodyText(buf, type) {
	if (!buf) {
		return null;
	}
	if (!type || TEXTUAL.test(type)) {
		return buf.toString('utf8');
	}
	return 'base64:' + buf.toString('base64');
}

export async function run(stepFn) {
	const out = need('BROWSER_OUT');
	const step = need('BROWSER_STEP');
	const sessionFile = need('BROWSER_SESSION_FILE');
	const profileRoot = need('BROWSER_PROFILE');
	const require = createRequire(path.join(need('BROWSER_PLAYWRIGHT_DIR'), 'node_modules') + '/');
	const { chromium } = require('playwright-core');

	fs.mkdirSync(out, { recursive: true });
	fs.mkdirSync(profileRoot, { recursive: true });
	const trafficFd = fs.openSync(path.join(out, 'traffic.jsonl'), 'a');
	const consoleFd = fs.openSync(path.join(out, 'console.log'), 'a');
	const problems = [];
	const allowed = [];
	const pending = new Set();
	const ids = new WeakMap();
	let nextId = 0;
	const record = (o) => fs.writeSync(trafficFd, JSON.stringify({ step, ...o }) + '\n');
	const say = (line) => fs.writeSync(consoleFd, `[${step}] ${line}\n`);
	// the recording of one request or response: awaited before the files close
	const track = (p) => {
		const q = p.catch((e) => say(`not recorded: ${String(e.message || e).split('\n')[0]}`));
		pending.add(q);
		q.finally(() => pending.delete(q));
	};

	const extra = (env.BROWSER_ARGS || '').split('\n').filter((a) => a);
	// a fresh --user-data-dir for every step (the cookies come from the session file)
	const profile = fs.mkdtempSync(path.join(profileRoot, 'profile-'));
	const ctx = await chromium.launchPersistentContext(profile, {
		executablePath: env.BROWSER_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: [...BASE_ARGS, ...extra],
		timeout: 30000,
	});
	ctx.setDefaultTimeout(10000);

	ctx.on('request', (req) => {
		const id = ++nextId;
		ids.set(req, id);
		track(
			req.allHeaders().then((headers) => {
				const b = req.postDataBuffer();
				record({
					kind: 'request',
					id,
					method: req.method(),
					url: req.url(),
					headers,
					body: bodyText(b, headers['content-type']),
				});
			})
		);
	});
	ctx.on('response', (resp) => {
		const id = ids.get(resp.request());
		track(
			(async () => {
				const headers = await resp.allHeaders();
				const key = `${resp.request().method()} ${resp.url()}`;
				const kept = held.get(key);
				let body = null, error;
				try {
					body = bodyText(kept && kept.length ? kept.shift() : await resp.body(), headers['content-type']);
				} catch (e) {
					// redirects and aborted loads have no body
					error = String(e.message || e).split('\n')[0];
				}
				record({ kind: 'response', id, status: resp.status(), url: resp.url(), headers, body, error });
			})()
		);
	});
	ctx.on('requestfailed', (req) => {
		record({ kind: 'failed', id: ids.get(req), url: req.url(), error: req.failure()?.errorText });
	});
	// Bodies held as they arrive, before the page gets them: chromium forgets the
	// body of a fetch once its page navigates away (a login's answer, say), before
	// the response event could ask for it. Keyed "METHOD URL", in arrival order.
	const held = new Map();
	const hold = async (page) => {
		const cdp = await ctx.newCDPSession(page);
		cdp.on('Fetch.requestPaused', async (ev) => {
			const key = `${ev.request.method} ${ev.request.url}`;
			try {
				if (ev.responseStatusCode < 300 || ev.responseStatusCode >= 400) {
					const r = await cdp.send('Fetch.getResponseBody', { requestId: ev.requestId });
					const list = held.get(key) || [];
					list.push(Buffer.from(r.body, r.base64Encoded ? 'base64' : 'utf8'));
					held.set(key, list);
				}
			} catch (e) {
				say(`body not held: ${key}: ${String(e.message || e).split('\n')[0]}`);
			}
			await cdp.send('Fetch.continueRequest', { requestId: ev.requestId }).catch(() => {});
		});
		await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*', requestStage: 'Response' }] });
	};
	const holding = new WeakMap();
	const watch = (page) => {
		const h = hold(page);
		holding.set(page, h);
		track(h);
		page.on('console', (m) => {
			const loc = m.location();
			const line = `console.${m.type()}: ${m.text()}` + (loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : '');
			if (m.type() !== 'error') {
				say(line);
				return;
			}
			// chromium asks for /favicon.ico by itself; the pages name no icon
			if (loc && loc.url && new URL(loc.url).pathname === '/favicon.ico') {
				say(line + ' (not counted: the icon chromium asks for)');
				return;
			}
			const a = allowed.find((a) => a.re.test(line));
			if (a) {
				a.seen++;
				say(`${line} (expected: ${a.why})`);
				return;
			}
			say(line);
			problems.push(line);
		});
		page.on('pageerror', (err) => {
			const line = `page error: ${err.message}`;
			say(line);
			problems.push(line);
		});
		page.on('dialog', (d) => {
			say(`dialog ${d.type()}: ${d.message()} (accepted)`);
			d.accept().catch(() => {});
		});
	};
	ctx.on('page', watch);

	if (fs.existsSync(sessionFile)) {
		await ctx.addCookies(JSON.parse(fs.readFileSync(sessionFile, 'utf8')));
	}
	// the page chromium opens with came before the 'page' listener
	for (const p of ctx.pages()) {
		watch(p);
	}
	const page = ctx.pages()[0] || (await ctx.newPage());
	await holding.get(page);

	const b = {
		page,
		ctx,
		env,
		step,
		// shot(NAME): a full-page screenshot, numbered in the order taken.
		async shot(name) {
			const n = fs.readdirSync(out).filter((f) => f.endsWith('.png')).length + 1;
			const file = path.join(out, `${String(n).padStart(2, '0')}-${step}-${name}.png`);
			await page.screenshot({ path: file, fullPage: true });
			say(`screenshot ${path.basename(file)} of ${page.url()}`);
		},
		// goto(URL): navigates, and fails on an error status (4xx, 5xx) or no answer.
		async goto(url) {
			const resp = await page.goto(url, { waitUntil: 'load' });
			if (!resp) {
				throw new Error(`no answer for ${url}`);
			}
			if (resp.status() >= 400) {
				throw new Error(`${url} answered ${resp.status()} ${resp.statusText()}`);
			}
			return resp;
		},
		// expectConsoleError(REGEX, WHY): a console error the step causes on purpose
		// (chromium logs every 4xx answer to a fetch, e.g. a refused login): it must
		// come, and does not fail the step.
		expectConsoleError(re, why) {
			allowed.push({ re, why, seen: 0 });
		},
		// expect(COND, WHAT): throws WHAT unless COND.
		expect(cond, what) {
			if (!cond) {
				throw new Error(`expected: ${what}`);
			}
		},
		// waitUrl(PATHNAME): waits until the page's location has that path.
		async waitPath(p) {
			await page.waitForURL((u) => u.pathname === p);
		},
		log: say,
	};

	let failed = false;
	try {
		await stepFn(b);
	} catch (e) {
		failed = true;
		console.log(`step ${step} failed: ${e.stack || e}`);
		try {
			await b.shot('failed');
		} catch (e2) {
			console.log(`(no screenshot: ${e2.message})`);
		}
	}
	try {
		// let late console messages and bodies in
		await page.waitForTimeout(100);
		fs.writeFileSync(sessionFile, JSON.stringify(await ctx.cookies()), { mode: 0o600 });
		await Promise.allSettled([...pending]);
	} finally {
		await ctx.close();
		await Promise.allSettled([...pending]);
		fs.closeSync(trafficFd);
		fs.closeSync(consoleFd);
		fs.rmSync(profile, { recursive: true, force: true });
	}
	for (const a of allowed.filter((a) => !a.seen)) {
		problems.push(`no console error ${a.re} came (${a.why})`);
	}
	for (const p of problems) {
		console.log(`step ${step}: ${p}`);
	}
	if (failed || problems.length) {
		process.exitCode = 1;
	}
}
