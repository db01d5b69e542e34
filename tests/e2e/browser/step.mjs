// node step.mjs FILE.mjs: runs one browser step of a test (driver.mjs); FILE's
// default export is an async function given the driver's handle.
import { pathToFileURL } from 'node:url';
import { run } from './driver.mjs';

const file = process.argv[2];
if (!file) {
	console.log('usage: node step.mjs STEP.mjs');
	process.exit(2);
}
const mod = await import(pathToFileURL(file).href);
await run(mod.default);
