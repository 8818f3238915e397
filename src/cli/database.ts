import { homedir } from 'node:os';
import { CorruptDatabaseError, InvalidStoredEntry, TuningDatabase, defaultDatabasePath } from '../autotune/db.js';

/**
 * Opens the tuning database a command names (or the default one), reporting a corrupt file and
 * skipped entries. Opening and reading write nothing; only recording moves a corrupt file aside.
 */
export async function openDatabase(path: string | undefined): Promise<TuningDatabase> {
  const file = path ?? defaultDatabasePath(process.env, homedir(), process.platform);
  return TuningDatabase.open(file, {
    onCorrupt: (e: CorruptDatabaseError) => console.error(`autotune: ${e.message}`),
    onInvalidEntry: (e: InvalidStoredEntry) => console.error(`autotune: ${e.message}`),
  });
}
