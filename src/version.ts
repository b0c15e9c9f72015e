/**
 * darkroom's version, from the package.json beside `src/` and `dist/` (the image ships it), for
 * the OpenAPI document's `info.version`.
 */
import { readFileSync } from 'node:fs';

export const darkroomVersion: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
