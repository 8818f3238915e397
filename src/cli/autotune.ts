#!/usr/bin/env node
import { VERSION } from '../version.js';
import { exportCommand } from './export.js';
import { reportCommand } from './report.js';
import { Command, InvalidArgumentError } from 'commander';
import { KnobError } from '../autotune/knobs.js';
import { TilecraftError } from '../ir/errors.js';
import { benchCommand } from './bench.js';
import { dbExportCommand, dbMergeCommand, dbPruneCommand } from './db-command.js';
import { devicesCommand } from './devices.js';
import { loadExamples } from './examples.js';
import { EXIT } from './exit-codes.js';
import { parseDeviceKind } from './open-device.js';
import { runCommand } from './run.js';
import { showCommand } from './show.js';
import { tuneCommand } from './tune.js';
import { UsageError } from './sizes.js';

const collect = (v: string, prev: string[]) => [...prev, v];
const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};
const deviceOption = (v: string) => {
  try {
    return parseDeviceKind(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

/** Where a command's exit code goes. */
type Done = (code: number) => void;

/** The commands that look: at the devices, the examples, the tuning database, a tuning run. */
function lookCommands(cli: Command, done: Done): void {
  cli
    .command('devices')
    .description('list the devices tilecraft can use here, and why any cannot be used')
    .option('--json', 'machine-readable output', false)
    .action(async (o: { json: boolean }) => {
      done(await devicesCommand(o));
    });

  cli
    .command('list')
    .description('list the built-in examples')
    .option('--json', 'machine-readable output', false)
    .action(async (o: { json: boolean }) => {
      const examples = await loadExamples();
      if (o.json) console.log(JSON.stringify(examples.map((e) => ({ name: e.name, description: e.description, dtypes: e.dtypes, sizes: e.sizes })), null, 2));
      else for (const e of examples) console.log(`${e.name.padEnd(12)} ${e.description} [${e.dtypes.join(', ')}] ${Object.entries(e.sizes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    });

  cli
    .command('show')
    .description('list the tuning database')
    .option('--program <name>', 'only this program')
    .option('--db <path>', 'tuning database file')
    .option('--json', 'machine-readable output', false)
    .action(async (o) => {
      done(await showCommand(o));
    });

  cli
    .command('report')
    .description('one self-contained HTML page for a tuning run (search progress, time against each knob, the winner and its kernels) or for a tuning database (every entry by device and program)')
    .argument('[tune.json]', 'what autotune tune --json printed, or a tuning database file')
    .option('--db <file>', 'report on this tuning database')
    .option('--out <file>', 'the page to write (default: the JSON file with .html)')
    .action(async (file: string | undefined, o) => {
      done(await reportCommand(file, o));
    });
}

/** The commands that compile and run: tune, bench, run, export. */
function workCommands(cli: Command, done: Done): void {
  cli
    .command('tune')
    .description('search the schedules of an example or a program file on this device and record the fastest')
    .argument('<program>', 'example name (see `autotune list`), a .tc text-language file (file.tc:name picks one) or a .json program')
    .option('--dtype <dtype>', "element type (default: the example's first)")
    .option('--shape <N=value>', 'sizes, e.g. --shape M=1024,N=1024,K=1024 (repeatable)', collect, [])
    .option('--device <kind>', 'webgpu or cuda', deviceOption, 'webgpu')
    .option('--budget <budget>', 'candidates (100), time (60s, 5m) or both (100,60s); the run stops at whichever comes first, a hanging candidate included (within about a second); 0 is an error', '64,120s')
    .option('--strategy <name>', 'auto (exhaustive when the space fits the budget), exhaustive or guided', 'auto')
    .option('--knob <knob=values>', 'restrict a knob, e.g. --knob blockK=8,16 (repeatable); an unknown knob or value is an error', collect, [])
    .option('--seed <n>', 'seed for the guided search and the random inputs', positiveInt, 1)
    .option('--repeat <n>', 'timed runs when the leaders are measured again', positiveInt, 10)
    .option('--db <path>', 'tuning database file (default: $TILECRAFT_TUNING_DB, else the user cache folder)')
    .option('--no-save', 'do not record the result (nor the measured kernels the cost model learns from)')
    .option('--no-model', 'measure candidates as the search draws them, not the fastest the cost model predicts among several')
    .option('--json', 'machine-readable output', false)
    .action(async (name: string, o) => {
      done(await tuneCommand(name, o));
    });

  cli
    .command('bench')
    .description('time programs with their default and their tuned schedules, side by side')
    .argument('<programs...>', 'example names or program files')
    .option('--dtype <dtype>', "element type (default: each example's first)")
    .option('--shape <N=value>', 'sizes (repeatable)', collect, [])
    .option('--device <kind>', 'webgpu or cuda', deviceOption, 'webgpu')
    .option('--rounds <n>', 'interleaved timed rounds', positiveInt, 7)
    .option('--db <path>', 'tuning database file')
    .option('--json', 'machine-readable output', false)
    .action(async (names: string[], o) => {
      done(await benchCommand(names, o));
    });

  cli
    .command('run')
    .description("compile a program with its tuned schedule (else the cost model's choice) or the one given, run it, time it and check it against the CPU reference")
    .argument('<program>', 'example name (see `autotune list`), a .tc file (file.tc:name picks one) or a .json program')
    .option('--dtype <dtype>', 'element type (default: the example\'s first)')
    .option('--shape <N=value>', 'override sizes, e.g. --shape N=1024,D=512 (repeatable)', collect, [])
    .option('--device <kind>', 'webgpu or cuda', deviceOption, 'webgpu')
    .option('--warmup <n>', 'untimed runs first', positiveInt, 2)
    .option('--repeat <n>', 'timed runs', positiveInt, 10)
    .option('--no-check', 'skip the comparison with the CPU reference')
    .option('--source', 'print the generated kernel source', false)
    .option('--db <path>', 'tuning database file to take a tuned schedule from')
    .option('--no-tuned', 'use the fixed default schedule even when a tuned one is recorded')
    .option('--no-model', "where nothing is tuned, use the fixed default schedule, not the cost model's choice")
    .option(
      '--schedule <json|file>',
      'replay exactly this schedule: knobs by group id, inline (\'{"contraction:C": {"blockK": 8}}\') or a JSON file; a database entry or the schedule printed by tune/run --json works too. Knobs left out take their defaults; a wrong group or knob is an error',
    )
    .option('--json', 'machine-readable output', false)
    .action(async (name: string, o) => {
      done(await runCommand(name, o));
    });

  cli
    .command('export')
    .description('write a program\'s kernels for another runtime: manifest.json, the WGSL, and a dependency-free loader that runs them on your GPUDevice')
    .argument('<program>', 'example name (see `autotune list`), a .tc file (file.tc:name picks one) or a .json program')
    .requiredOption('--out <dir>', 'folder to write (created if missing)')
    .option('--dtype <dtype>', 'element type (default: the example\'s first)')
    .option('--shape <N=value>', 'sizes, e.g. --shape N=1024,D=512 (repeatable); a dynamic size is exported at its bound', collect, [])
    .option('--dynamic <N<=bound>', 'make a size dynamic: compiled at the bound, run at any value up to it (e.g. --dynamic N<=8192; repeatable)', collect, [])
    .option('--db <path>', 'tuning database file to take a tuned schedule from')
    .option('--no-tuned', 'use the fixed default schedule even when a tuned one is recorded')
    .option('--no-model', "where nothing is tuned, use the fixed default schedule, not the cost model's choice")
    .option('--shader-f16', 'emit f16 as WGSL f16 (the device needs shader-f16); default: packed halves any device runs', false)
    .option('--cuda <sm>', 'also write a C header and CUDA source with a launch function, printed for this compute capability (80, 90)', positiveInt)
    .option('--json', 'machine-readable output', false)
    .action(async (name: string, o) => {
      done(await exportCommand(name, o));
    });
}

/** `autotune db merge|prune|export`: tuning database files moved between machines and shipped. */
function databaseCommands(cli: Command, done: Done): void {
  const db = cli.command('db').description('merge, prune and export tuning database files');
  db.command('merge')
    .description('merge databases from several machines into <out>: for a key in more than one, the lowest median, then spread, then schedule wins, whatever the order of the inputs')
    .argument('<out>', 'the database to write (name it among the inputs too to merge into it)')
    .argument('<in...>', 'the databases to merge')
    .option('--force', 'replace <out> when it exists and is not an input', false)
    .option('--json', 'machine-readable output', false)
    .action(async (out: string, inputs: string[], o) => {
      done(await dbMergeCommand(out, inputs, o));
    });
  db.command('prune')
    .description('drop the entries that meet any criterion given, printing each')
    .option('--db <path>', 'tuning database file (default: $TILECRAFT_TUNING_DB, else the user cache folder)')
    .option('--older-than <age|date>', 'entries recorded before this: 30d, 12h, 2w, or a date (2026-11-01)')
    .option('--version-mismatch', `entries recorded by a tilecraft other than this one (${VERSION}), which are never used`, false)
    .option('--device <fingerprint>', 'entries of this device (see autotune show --json)')
    .option('--dry-run', 'print what would be dropped, write nothing', false)
    .option('--json', 'machine-readable output', false)
    .action(async (o) => {
      done(await dbPruneCommand(o));
    });
  db.command('export')
    .description('write the entries matching every filter given as a database file to ship (read with tuningSourceFromJson or readTuningSourceFile)')
    .requiredOption('--out <file>', 'the database file to write')
    .option('--db <path>', 'tuning database file to export from')
    .option('--program <name>', 'only this program')
    .option('--device <fingerprint>', 'only this device')
    .option('--shape <N=value>', 'only these sizes, e.g. --shape M=1024,N=1024 (repeatable; sizes left out match any)', collect, [])
    .option('--force', 'replace --out when it exists', false)
    .option('--json', 'machine-readable output', false)
    .action(async (o) => {
      done(await dbExportCommand(o));
    });
}

async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const cli = new Command('autotune')
    .description('tilecraft: compile, run and tune kernels on your own device')
    .version(VERSION, '-V, --version', 'print the tilecraft version')
    .showHelpAfterError()
    .exitOverride();
  const done = (c: number) => (code = c);
  lookCommands(cli, done);
  workCommands(cli, done);
  databaseCommands(cli, done);

  try {
    await cli.parseAsync(argv);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    // a knob that does not exist or does not fit is a mistake on the command line
    if (e instanceof UsageError || e instanceof KnobError) {
      console.error(`autotune: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof TilecraftError) {
      console.error(`autotune: ${e.name}: ${e.message}`);
      return EXIT.failure;
    }
    throw e;
  }
  return code;
}

main(process.argv).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(EXIT.failure);
  },
);
