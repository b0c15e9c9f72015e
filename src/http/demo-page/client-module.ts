/**
 * The upload client (`src/client/`) as browser modules, for the try-it page: served from
 * `/demo-page/client/{name}.js`, no bundle committed and no build step of its own.
 *
 * From `dist/` (`npm run build`, production) the files are tsc's JavaScript output and are served
 * as they are. From `src/` (`npm run dev`, tests) they are TypeScript, and Node's own type
 * stripping (`module.stripTypeScriptTypes`, Node ≥ 22.13) turns them into the same JavaScript:
 * the client is written in erasable TypeScript only (no enums, namespaces or parameter
 * properties), so removing the types is the whole compilation (Node 24 prints one
 * ExperimentalWarning for it under `npm run dev`). Read once, at start.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';

const clientDirectory = new URL('../../client/', import.meta.url);

/** `{name}.js` → module source, for every module of the client. */
export function loadClientModules(directory: URL = clientDirectory): ReadonlyMap<string, string> {
  const files = readdirSync(directory);
  const compiled = files.filter((file) => file.endsWith('.js'));
  const modules = new Map<string, string>();
  if (compiled.length > 0) {
    for (const file of compiled) modules.set(file, readFileSync(new URL(file, directory), 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/, '\n'));
  } else {
    for (const file of files.filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))) {
      modules.set(file.replace(/\.ts$/, '.js'), stripTypeScriptTypes(readFileSync(new URL(file, directory), 'utf8'), { mode: 'strip' }));
    }
  }
  return modules;
}
