'use strict';
// Issue #26: the wire contract lives in the project, in docs/PROTOCOL.md.
// Its client → server event headings ("### `name`" inside the section
// "## Client → server events") name exactly the events the binary handles
// (`--list-events`), each token-checked one with the sender field and
// owner-only rule the binary reports; and no file of the project points to
// the contract's old home outside the repository.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const L = require('../harness.js');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DOC = path.join(ROOT, 'docs', 'PROTOCOL.md');
const SECTION = '## Client → server events';
const HEADING = /^### `([^`]+)`$/;

// The client → server section of the doc: {name -> its text}, and the
// `### ` lines that are not of the one heading shape.
function clientEvents() {
  const lines = fs.readFileSync(DOC, 'utf8').split(/\r?\n/);
  const start = lines.findIndex((l) => l.trim() === SECTION);
  assert.ok(start >= 0, `${DOC} has no "${SECTION}" section`);
  const events = new Map();
  const malformed = [];
  const duplicates = [];
  let current = null;
  for (const line of lines.slice(start + 1)) {
    if (/^##? /.test(line)) break;
    if (line.startsWith('### ')) {
      const m = HEADING.exec(line.trimEnd());
      if (!m) {
        malformed.push(line);
        current = null;
        continue;
      }
      if (events.has(m[1])) duplicates.push(m[1]);
      current = m[1];
      events.set(current, '');
    } else if (current !== null) {
      events.set(current, `${events.get(current)}${line}\n`);
    }
  }
  return { events, malformed, duplicates };
}

describe('docs/PROTOCOL.md', () => {
  it('names every event of --list-events under "## Client → server events", and no other', () => {
    const listed = L.listEvents().map((e) => e.name);
    const { events, malformed, duplicates } = clientEvents();
    assert.deepEqual(malformed, [], `headings in "${SECTION}" must be exactly "### \`name\`"`);
    assert.deepEqual(duplicates, [], 'an event has more than one heading');
    const documented = [...events.keys()];
    const missing = listed.filter((n) => !events.has(n));
    const extra = documented.filter((n) => !listed.includes(n));
    assert.deepEqual(
      { missing, extra }, { missing: [], extra: [] },
      `docs/PROTOCOL.md against --list-events: missing from the doc ${JSON.stringify(missing)}, ` +
      `in the doc but not handled by the server ${JSON.stringify(extra)}`,
    );
  });

  it('states for each event whether it is token-checked, its sender field and whether it is owner only', () => {
    const { events } = clientEvents();
    const wrong = [];
    for (const e of L.listEvents()) {
      const text = events.get(e.name);
      if (text === undefined) continue; // the test above names it
      if (!e.guarded) {
        if (!text.includes('Not token-checked')) wrong.push(`${e.name}: "Not token-checked"`);
        continue;
      }
      if (!text.includes(`Token-checked; sender \`${e.sender}\``)) wrong.push(`${e.name}: "Token-checked; sender \`${e.sender}\`"`);
      if (e.owner_only !== /\bowner only\b/.test(text)) wrong.push(`${e.name}: owner only is ${e.owner_only}`);
    }
    assert.deepEqual(wrong, [], 'sections that do not say what --list-events says');
  });

  it('is what the project points to: no file refers to the contract outside the repository', () => {
    // Built here, so that this file does not match itself.
    const outside = [['..', 'shared', ''].join('/'), ['', 'work', 'shared', ''].join('/')];
    const skipDirs = new Set(['node_modules', 'target', '.git', 'artifacts']);
    const skipExt = /\.(png|jpe?g|gif|ico|webp|woff2?|ttf|pdf|gz|zip|tar|wasm|rdb)$/i;
    const found = [];
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (!skipDirs.has(entry.name)) walk(p);
        } else if (entry.isFile() && !skipExt.test(entry.name) && fs.statSync(p).size < 4 << 20) {
          const text = fs.readFileSync(p, 'utf8');
          for (const needle of outside) {
            if (text.includes(needle)) found.push(`${path.relative(ROOT, p)}: ${needle}`);
          }
        }
      }
    };
    walk(ROOT);
    assert.deepEqual(found, [], 'files that point outside the project (the contract is docs/PROTOCOL.md)');
  });
});
