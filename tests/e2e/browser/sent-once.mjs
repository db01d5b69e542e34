// node sent-once.mjs TRAFFIC.jsonl VALUE METHOD PATH: whether the recorded
// traffic (driver.mjs) holds VALUE in exactly one place, the body of one
// METHOD request to PATH, and nowhere else: no URL, no header, no other
// request, no response. Prints where it is; exit 0 when so, 1 when not.
import fs from 'node:fs';

const [file, value, method, path] = process.argv.slice(2);
if (!path || !value) {
	console.log('usage: node sent-once.mjs TRAFFIC VALUE METHOD PATH');
	process.exit(2);
}
let sent = 0;
const elsewhere = [];
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
	if (!line || !line.includes(value)) {
		continue;
	}
	const r = JSON.parse(line);
	const where = `${r.step}: ${r.kind} ${r.method || r.status || ''} ${r.url}`;
	if (
		r.kind === 'request' &&
		r.method === method &&
		new URL(r.url).pathname === path &&
		!r.url.includes(value) &&
		!JSON.stringify(r.headers).includes(value) &&
		r.body && r.body.includes(value)
	) {
		sent++;
		console.log(`sent: ${where}`);
	} else {
		elsewhere.push(where);
		console.log(`ELSEWHERE: ${where}`);
	}
}
console.log(`${sent} request(s) sent it, found in ${elsewhere.length} other place(s)`);
process.exit(sent === 1 && !elsewhere.length ? 0 : 1);
