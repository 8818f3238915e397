/**
 * A tuner stand-in for the database chaos test, run as its own process (and killed at random):
 *   node --import tsx test/property/db-chaos-writer.ts <database> <writer id> <entries>
 * It opens the database, prints `ready`, waits for a line on stdin (so the writers of a round
 * start together), then records `chaosEntry(writer, i)` one call each, printing `ok <i>` as soon as
 * each call has returned, and `done` at the end.
 */
import { TuningDatabase } from '../../src/autotune/db.js';
import { chaosEntry } from './db-chaos-entries.js';

const [path, writer, count] = process.argv.slice(2);
if (path === undefined || writer === undefined || count === undefined) {
  throw new Error('usage: db-chaos-writer.ts <database> <writer id> <entries>');
}

// Bad entries injected by the test are expected: skipped, kept, not worth a warning per process.
const db = await TuningDatabase.open(path, { lock: { timeoutMs: 100_000 }, onInvalidEntry: () => undefined });
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();

for (let i = 0; i < Number(count); i++) {
  await db.record(chaosEntry(writer, i));
  process.stdout.write(`ok ${i}\n`);
}
process.stdout.write('done\n');
