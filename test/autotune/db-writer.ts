/**
 * A tuner stand-in for the concurrent-writer test, run as its own process:
 *   node --import tsx test/autotune/db-writer.ts <database> <writer id> <entries>
 * It opens the database, prints `ready`, waits for a line on stdin (so every writer starts at
 * once), records its entries one call each, and prints `done`.
 */
import { TuningDatabase } from '../../src/autotune/db.js';

const [path, writer, count] = process.argv.slice(2);
if (path === undefined || writer === undefined || count === undefined) {
  throw new Error('usage: db-writer.ts <database> <writer id> <entries>');
}

const db = await TuningDatabase.open(path, { lock: { timeoutMs: 100_000 } });
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();

for (let i = 0; i < Number(count); i++) {
  await db.record({
    fingerprint: 'f00dfeedf00dfeed',
    program: `writer-${writer}`,
    programHash: `hash-${writer}`,
    dtype: 'f32',
    shape: { N: i + 1 },
    tilecraftVersion: '0.1.0',
    schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize: 64, vectorWidth: 4 } },
    medianMs: 1 + i / 100,
    spread: 0.01,
    candidates: 4,
    strategy: 'exhaustive',
    tieBreak: 'smallest-canonical-schedule',
    toleranceBand: 0.02,
    runnersUp: [],
  });
}
process.stdout.write('done\n');
