import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ensureDirectory } from '../autotune/file-lock.js';
import { homedir } from 'node:os';
import { UsageError } from './sizes.js';
import { CorruptDatabaseError, InvalidStoredEntry, TuningDatabase, defaultDatabasePath } from '../autotune/db.js';

/**
 * Opens the tuning database a command names (or the default one), reporting a corrupt file and
 * skipped entries. Opening and reading write nothing; only recording moves a corrupt file aside.
 */
export async function openDatabase(path: string | undefined, options: { forWriting?: boolean } = {}): Promise<TuningDatabase> {
  const file = path ?? defaultDatabasePath(process.env, homedir(), process.platform);
  const what = path === undefined ? 'the tuning database' : '--db';
  await checkDatabasePath(file, what);
  if (options.forWriting) await checkWritable(file, what);
  return TuningDatabase.open(file, {
    onCorrupt: (e: CorruptDatabaseError) => console.error(`autotune: ${e.message}`),
    onInvalidEntry: (e: InvalidStoredEntry) => console.error(`autotune: ${e.message}`),
  });
}

/** A database path that names a directory (or runs through a file) is the user's mistake, named here. */
async function checkDatabasePath(file: string, what: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(file)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // created on the first record
    if (code === 'ENOTDIR') throw new UsageError(`${what} ${file}: part of the path is a file, not a directory`, { cause: e });
    throw e;
  }
  if (isDirectory) throw new UsageError(`${what} ${file} is a directory; give the path of a file (it is created if missing)`);
}

/**
 * For a command that will record results: the database's directory exists (created now if
 * missing) and can be written, found before any work whose results would then be lost.
 */
async function checkWritable(file: string, what: string): Promise<void> {
  const dir = dirname(file);
  try {
    await ensureDirectory(dir);
    await access(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOENT' || code === 'ENOTDIR' ? 'it cannot be created there' : code === 'EROFS' ? 'read-only file system' : (e as Error).message;
    throw new UsageError(`${what} ${file}: its directory ${dir} cannot be written (${why}); give another path with --db, or --no-save`, { cause: e });
  }
}
