/**
 * Config from a YAML file of DarkroomApp documents (`DARKROOM_APPS_FILE`): configuration without a
 * cluster, in the very format `kubectl apply` takes. The file is re-read when it changes (a
 * mounted ConfigMap is replaced atomically through a symlink swap, so the directory is watched);
 * a change that cannot be read or parsed keeps the last good snapshot and is logged.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Logger } from 'pino';
import type { AppSnapshot } from '../app-registry.js';
import type { ConfigSource } from '../config-source.js';
import { parseDarkroomApp } from '../darkroom-app.js';
import { buildSnapshot, type LocatedParseResult } from '../snapshot.js';
import type { StoragePolicy } from '../storage-policy.js';

/** Options of the file source. */
export interface FileConfigSourceOptions {
  readonly path: string;
  readonly logger: Logger;
  /** Quiet time after a change before re-reading, in ms (editors write in bursts). Default 200. */
  readonly debounceMs?: number;
  /**
   * Buckets each namespace may use with darkroom's own identity. A document's namespace is its
   * `metadata.namespace`, or `default` (Kubernetes' default namespace) when it names none.
   */
  readonly storagePolicy?: StoragePolicy | undefined;
}

export class FileConfigSource implements ConfigSource {
  readonly description: string;
  readonly #path: string;
  readonly #options: FileConfigSourceOptions;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: FileConfigSourceOptions) {
    this.#options = options;
    this.#path = resolve(options.path);
    this.description = `file ${options.path}`;
  }

  async start(deliver: (snapshot: AppSnapshot) => void): Promise<void> {
    deliver(await this.#read());
    this.#watcher = watch(dirname(this.#path), (_event, file) => {
      if (file !== null && file !== basename(this.#path) && !file.startsWith('..')) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.#reload(deliver), this.#options.debounceMs ?? 200);
    });
    this.#watcher.on('error', (error) => this.#options.logger.error({ err: error }, 'apps file watch failed'));
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  async #reload(deliver: (snapshot: AppSnapshot) => void): Promise<void> {
    if (!this.#watcher) return;
    try {
      const snapshot = await this.#read();
      if (this.#watcher) deliver(snapshot);
    } catch (error) {
      this.#options.logger.error({ err: error }, 'apps file changed but could not be read; keeping the last good apps');
    }
  }

  async #read(): Promise<AppSnapshot> {
    const text = await readFile(this.#path, 'utf8');
    return buildSnapshot(parseAppsYaml(text, this.#options.path), { storagePolicy: this.#options.storagePolicy });
  }
}

/** Parses a multi-document YAML text into per-document verdicts. Pure. */
export function parseAppsYaml(text: string, sourceName: string): LocatedParseResult[] {
  const results: LocatedParseResult[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    const where = `${sourceName} document ${index + 1}`;
    if (document.errors.length > 0) {
      results.push({
        where,
        result: {
          ok: false,
          name: undefined,
          problems: document.errors.map((error) => ({ path: '(yaml)', message: error.message })),
        },
      });
      return;
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return; // an empty document between two `---`
    results.push({ where, result: parseDarkroomApp(value) });
  });
  return results;
}
