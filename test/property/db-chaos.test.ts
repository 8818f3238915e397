/**
 * Database chaos: concurrent writer processes recording in a loop, SIGKILLed at random points,
 * with malformed entries injected into the file between rounds. After every round (and in every
 * snapshot read while writers run) the database must hold up:
 *
 * - the file is always a whole database (JSON of the tilecraft-tuning format): writes replace it
 *   atomically, so a writer killed mid-write leaves the previous version;
 * - every entry whose `record` call returned before the kills is present and intact (lost = 0);
 * - injected bad entries (an unknown dtype, a string medianMs) stay in the file but no lookup or
 *   listing returns them;
 * - temporaries left by killed writers are removed by a later writer once they are older than the
 *   orphan age (aged here with utimes) and their writer is dead; a live writer's are left alone.
 *
 * Randomness (which writers die, after how many records, after what delay) is seeded:
 * TILECRAFT_PROPERTY_SEED picks the seed, TILECRAFT_PROPERTY_RUNS the number of rounds (nightly:
 * e.g. 30). Process scheduling is not seeded, so a seed narrows a failure down rather than
 * replaying it exactly.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { DATABASE_FORMAT, DATABASE_VERSION, type InvalidStoredEntry, type NewTuningEntry, TuningDatabase, tuningKey } from '../../src/autotune/db.js';
import { CHAOS_FINGERPRINT, CHAOS_VERSION, chaosEntry } from './db-chaos-entries.js';
import { rng } from '../../src/ir/host.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const writerScript = fileURLToPath(new URL('./db-chaos-writer.ts', import.meta.url));

const SEED = Number(process.env.TILECRAFT_PROPERTY_SEED ?? 20240611);
const ROUNDS = Number(process.env.TILECRAFT_PROPERTY_RUNS ?? 4);
const WRITERS = 3;
const PER_WRITER = 12;
/** Chance a writer is killed during its round. */
const KILL_CHANCE = 0.7;
/** Older than the database's orphan age for temporaries (five minutes). */
const AGED_MS = 10 * 60_000;


type DatabaseFile = { format: string; version: number; entries: Record<string, unknown>; stale?: Record<string, unknown> };

/** Why `text` is not a whole database of the current format, or undefined when it is. */
function notADatabase(text: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  const f = v as Partial<DatabaseFile>;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  if (f.format !== DATABASE_FORMAT || f.version !== DATABASE_VERSION) return `format ${String(f.format)} version ${String(f.version)}`;
  if (typeof f.entries !== 'object' || f.entries === null) return 'no entries';
  return undefined;
}

/** The stored entry matches what was recorded (its time is filled in by `record`). */
function intact(stored: unknown, recorded: NewTuningEntry): boolean {
  if (typeof stored !== 'object' || stored === null) return false;
  const { recordedAt, ...rest } = stored as Record<string, unknown>;
  return typeof recordedAt === 'string' && !Number.isNaN(Date.parse(recordedAt)) && isDeepStrictEqual(rest, recorded);
}

const encodeHost = (host: string) => encodeURIComponent(host).replace(/\./g, '%2E');

let dir: string | undefined;
afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

it(
  `database chaos: ${ROUNDS} rounds of ${WRITERS} writers killed at random, with bad entries injected (seed ${SEED})`,
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'tilecraft-chaos-'));
    const file = join(dir, 'tuning.json');
    const random = rng(SEED);
    const temporaries = () => readdirSync(dir!).filter((n) => n.startsWith('.tuning.json.') && n.endsWith('.tmp'));

    /** Entries whose record call returned, by key, in the order they did. */
    const acked = new Map<string, NewTuningEntry>();
    /** Injected bad entries by stored key, as injected. */
    const bad = new Map<string, unknown>();
    const badKeysValid: { programHash: string }[] = [];
    const problems: string[] = [];
    let kills = 0;
    let spawned = 0;
    let polls = 0;
    let lost = 0;
    let orphansLeft = 0;
    let unacknowledged = 0;
    let slowestRoundMs = 0;
    let orphansRemoved = 0;

    // A temporary of a live writer (this process), aged past the orphan age: never to be removed.
    const liveTemp = `.tuning.json.${encodeHost(hostname())}.${process.pid}.deadbeef.tmp`;

    for (let round = 0; round < ROUNDS; round++) {
      const where = `seed ${SEED}, round ${round}`;

      // Between rounds: inject bad entries (nothing writes now, so a plain replace will do).
      if (existsSync(file)) {
        const db = JSON.parse(readFileSync(file, 'utf8')) as DatabaseFile;
        const programHash = `chaos-bad-${round}`;
        const base = { ...chaosEntry(`bad-${round}`, 6), programHash, recordedAt: new Date().toISOString() };
        // keyed as a good entry would be, so an exact lookup would find it were it not skipped
        const stringMedian = { ...base, medianMs: '1.5' };
        const unknownDtype = { ...base, dtype: 'f13' };
        const k1 = tuningKey(base);
        const k2 = k1.replace('|f32|', '|f13|');
        db.entries[k1] = stringMedian;
        db.entries[k2] = unknownDtype;
        bad.set(k1, stringMedian);
        bad.set(k2, unknownDtype);
        badKeysValid.push({ programHash });
        writeFileSync(`${file}.inject`, `${JSON.stringify(db, null, 2)}\n`);
        renameSync(`${file}.inject`, file);
      }
      if (round === 1) {
        writeFileSync(join(dir, liveTemp), '{"half": ');
      }

      // Temporaries left by the last round's killed writers: age them past the orphan age.
      const aged = new Set(temporaries());
      const old = new Date(Date.now() - AGED_MS);
      for (const t of aged) utimesSync(join(dir, t), old, old);

      // Writers: each killed (or not) after a seeded number of records and a seeded delay.
      const plan = Array.from({ length: WRITERS }, () => ({
        killAfter: random() < KILL_CHANCE ? Math.floor(random() * PER_WRITER) : undefined,
        delayMs: Math.floor(random() * 8),
      }));
      const children = plan.map((_, w) => {
        spawned++;
        return spawn(process.execPath, ['--import', 'tsx', writerScript, file, `r${round}w${w}`, String(PER_WRITER)], { cwd: repoRoot });
      });
      const exits = children.map(
        (c) =>
          new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
            let stderr = '';
            c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
            c.on('exit', (code, signal) => resolve({ code, signal, stderr }));
          }),
      );
      let ackedThisRound = 0;
      const ready = children.map(
        (c, w) =>
          new Promise<void>((resolve) => {
            let buffered = '';
            let count = 0;
            const kill = () => setTimeout(() => c.kill('SIGKILL'), plan[w]!.delayMs);
            c.stdout.on('data', (d: Buffer) => {
              buffered += d.toString();
              let nl: number;
              while ((nl = buffered.indexOf('\n')) >= 0) {
                const line = buffered.slice(0, nl);
                buffered = buffered.slice(nl + 1);
                if (line === 'ready') resolve();
                const ok = /^ok (\d+)$/.exec(line);
                if (ok) {
                  const e = chaosEntry(`r${round}w${w}`, Number(ok[1]));
                  acked.set(tuningKey(e), e);
                  ackedThisRound++;
                  count++;
                  if (count === plan[w]!.killAfter) kill();
                }
              }
            });
            (c as ChildProcessWithoutNullStreams & { startKill?: () => void }).startKill = () => {
              if (plan[w]!.killAfter === 0) kill();
            };
          }),
      );
      await Promise.all(ready);
      const roundStarted = Date.now();
      for (const c of children) {
        c.stdin.write('go\n');
        (c as ChildProcessWithoutNullStreams & { startKill?: () => void }).startKill?.();
      }

      // While they run: every snapshot is a whole database holding every entry acknowledged before it was read.
      let running = true;
      const ended = Promise.all(exits).finally(() => (running = false));
      while (running) {
        const ackedBefore = [...acked.keys()];
        let text: string | undefined;
        try {
          text = await readFile(file, 'utf8');
        } catch {
          // not written yet
        }
        if (text !== undefined) {
          polls++;
          const problem = notADatabase(text);
          if (problem !== undefined) problems.push(`${where}: snapshot ${problem}`);
          else {
            const entries = (JSON.parse(text) as DatabaseFile).entries;
            const missing = ackedBefore.filter((k) => !(k in entries));
            if (missing.length > 0) problems.push(`${where}: snapshot lacks ${missing.length} acknowledged entries, e.g. ${missing[0]}`);
          }
        }
        await new Promise((r) => setTimeout(r, 3));
      }
      const results = await ended;
      slowestRoundMs = Math.max(slowestRoundMs, Date.now() - roundStarted);
      results.forEach((r, w) => {
        if (r.signal === 'SIGKILL') kills++;
        else if (r.code !== 0) problems.push(`${where}: writer ${w} failed (${String(r.code ?? r.signal)}): ${r.stderr.slice(-2000)}`);
      });

      // After the round: the file, the entries, the bad entries, the temporaries.
      if (!existsSync(file)) {
        expect(acked.size, where).toBe(0);
        continue;
      }
      const text = readFileSync(file, 'utf8');
      const problem = notADatabase(text);
      expect(problem, where).toBeUndefined();
      const stored = JSON.parse(text) as DatabaseFile;
      for (const [k, e] of acked) {
        if (!intact(stored.entries[k], e)) {
          lost++;
          problems.push(`${where}: entry ${k} ${k in stored.entries ? 'changed' : 'lost'}`);
        }
      }
      for (const [k, v] of bad) {
        if (!isDeepStrictEqual(stored.entries[k], v)) problems.push(`${where}: bad entry ${k} was not kept as it was`);
      }
      const reported: InvalidStoredEntry[] = [];
      const db = await TuningDatabase.open(file, { onInvalidEntry: (p) => reported.push(p) });
      expect(new Set(reported.map((p) => p.key)), where).toEqual(new Set(bad.keys()));
      for (const { programHash } of badKeysValid) {
        for (const N of [7, 8]) {
          const key = { fingerprint: CHAOS_FINGERPRINT, programHash, dtype: 'f32' as const, shape: { N }, tilecraftVersion: CHAOS_VERSION };
          expect(await db.lookup(key, { allowBucket: true }), `${where}: lookup of bad ${programHash}`).toBeUndefined();
        }
        expect(await db.list({ programHash }), where).toEqual([]);
      }
      const listed = await db.list();
      // A writer killed between its write and its acknowledgement leaves an entry nobody counted: fine, if intact.
      expect(listed.length, where).toBeGreaterThanOrEqual(acked.size);
      for (const { key, entry } of listed) {
        if (key === tuningKey(chaosEntry('final', 0))) continue;
        const expected = chaosEntry(entry.program.replace(/^chaos-/, ''), (entry.shape.N ?? 0) - 1);
        if (!intact(entry, expected)) problems.push(`${where}: listed entry ${key} is not one that was recorded`);
      }
      unacknowledged = listed.length - acked.size;
      for (const [k, e] of acked) {
        const found = await db.lookup(e);
        if (found?.match !== 'exact' || found.key !== k || !intact(found.entry, e)) problems.push(`${where}: lookup of ${k} did not return it intact`);
      }

      const left = temporaries();
      if (ackedThisRound > 0) {
        // a writer took the lock after the aging: the aged orphans are gone, the live writer's is not
        const survivors = left.filter((t) => aged.has(t) && t !== liveTemp);
        if (survivors.length > 0) problems.push(`${where}: aged orphaned temporaries survived a writer: ${survivors.join(', ')}`);
        orphansRemoved += [...aged].filter((t) => t !== liveTemp && !left.includes(t)).length;
      }
      if (round >= 1 && !left.includes(liveTemp)) problems.push(`${where}: a live writer's temporary was removed`);
      expect(readdirSync(dir).filter((n) => n.includes('.corrupt-')), `${where}: file moved aside as corrupt`).toEqual([]);
      expect(problems.slice(0, 5), where).toEqual([]);
    }

    // Last: a writer that is not killed takes the lock after every orphan has aged; none remains.
    const beforeFinal = temporaries().filter((t) => t !== liveTemp);
    orphansLeft = beforeFinal.length;
    const old = new Date(Date.now() - AGED_MS);
    for (const t of temporaries()) utimesSync(join(dir, t), old, old);
    const final = chaosEntry('final', 0);
    await (await TuningDatabase.open(file, { onInvalidEntry: () => undefined })).record(final);
    acked.set(tuningKey(final), final);
    orphansRemoved += beforeFinal.filter((t) => !temporaries().includes(t)).length;
    const leftAtEnd = temporaries();
    const staleLocks = readdirSync(dir).filter((n) => n.startsWith('tuning.json.lock'));
    const stored = JSON.parse(readFileSync(file, 'utf8')) as DatabaseFile;
    for (const [k, e] of acked) if (!intact(stored.entries[k], e)) lost++;

    console.log(
      `db chaos: seed=${SEED} rounds=${ROUNDS} writers=${spawned} kills=${kills} writes=${acked.size} (+${unacknowledged} unacknowledged) entries lost=${lost} ` +
        `bad entries kept=${bad.size} snapshots=${polls} orphaned temporaries removed=${orphansRemoved} (left by last round: ${orphansLeft}) ` +
        `lock leftovers=${staleLocks.length} slowest round=${slowestRoundMs} ms`,
    );
    expect(problems.slice(0, 5)).toEqual([]);
    expect(lost).toBe(0);
    expect(leftAtEnd, 'only the live writer’s temporary remains').toEqual(ROUNDS >= 2 ? [liveTemp] : []);
    expect(staleLocks, 'no lock or broken-lock file remains').toEqual([]);
    expect(Object.keys(stored.entries).length).toBeGreaterThanOrEqual(acked.size + bad.size);
  },
  60_000 + ROUNDS * 15_000,
);
