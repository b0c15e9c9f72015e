/**
 * Builds an AppSnapshot from validated documents. Pure, shared by every config source so that
 * they agree on what a duplicate or a broken document means.
 */
import type { AppSnapshot, InvalidAppReport, UnnamedInvalidDocument } from './app-registry.js';
import type { AppParseResult, DarkroomApp } from './darkroom-app.js';

/** One parsed document and where it came from (for messages). */
export interface LocatedParseResult {
  readonly where: string;
  readonly result: AppParseResult;
}

/**
 * Valid apps are served; invalid ones are reported by name. Two documents claiming one name (two
 * namespaces, or a copy-paste in a file) are both refused: serving either would be a guess.
 */
export function buildSnapshot(documents: readonly LocatedParseResult[]): AppSnapshot {
  const byName = new Map<string, DarkroomApp[]>();
  const invalid = new Map<string, InvalidAppReport>();
  const unnamedInvalid: UnnamedInvalidDocument[] = [];

  for (const { where, result } of documents) {
    if (result.ok) {
      const name = result.app.metadata.name;
      byName.set(name, [...(byName.get(name) ?? []), result.app]);
    } else if (result.name === undefined) {
      unnamedInvalid.push({ where, problems: result.problems });
    } else {
      invalid.set(result.name, { name: result.name, namespace: undefined, problems: result.problems });
    }
  }

  const apps = new Map<string, DarkroomApp>();
  for (const [name, candidates] of byName) {
    const [only, ...others] = candidates;
    if (only && others.length === 0 && !invalid.has(name)) {
      apps.set(name, only);
      continue;
    }
    invalid.set(name, {
      name,
      namespace: only?.metadata.namespace,
      problems: [
        {
          path: 'metadata.name',
          message: `${candidates.length + (invalid.has(name) ? 1 : 0)} documents claim the app name "${name}"; none is served`,
        },
      ],
    });
  }
  return Object.freeze({ apps, invalid, unnamedInvalid });
}
