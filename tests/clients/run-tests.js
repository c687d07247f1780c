'use strict';
// Runs test files with node:test, N files at a time, each test bounded, on
// every Node the project supports (README: 20 or newer): `node --test` reads
// a folder argument as a file name from Node 21 on. Usage (the shell expands the globs):
//   node run-tests.js [--concurrency=N] [--timeout=MS] file.test.js...
// Exit code 1 when any test fails, and in CI (CI set, as .ci/run does) when
// any test was skipped: there every tool a test needs is installed, so a
// test that cannot run is a failure, never a silent pass. TAP output (spec
// on a terminal).

const { run } = require('node:test');
const reporters = require('node:test/reporters');

const args = process.argv.slice(2);
const option = (name, dflt) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  console.error('run-tests.js: no test files given');
  process.exit(2);
}
const stream = run({ files, concurrency: option('concurrency', 1), timeout: option('timeout', 300000) });
stream.on('test:fail', () => { process.exitCode = 1; });
// A skipped test says why (`t.skip('skipped: why')`); the reasons are listed
// again after the run, so that a skip never scrolls by unnoticed.
const skips = [];
stream.on('test:pass', (data) => {
  if (data.skip !== undefined) skips.push(`${data.name}: ${data.skip === true ? 'skipped (no reason given)' : data.skip}`);
});
stream.on('end', () => {
  if (skips.length) console.error(`\n${skips.length} test(s) skipped:\n${skips.map((s) => `  - ${s}`).join('\n')}`);
  if (skips.length && process.env.CI) {
    console.error('CI is set: a skipped test fails the run (install what it names)');
    process.exitCode = 1;
  }
});
const reporter = process.stdout.isTTY ? new reporters.spec() : reporters.tap;
stream.compose(reporter).pipe(process.stdout);
