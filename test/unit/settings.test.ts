import { describe, expect, it } from 'vitest';
import { SettingsError, loadSettings } from '../../src/config/settings.js';

describe('loadSettings', () => {
  it('has defaults and freezes the result', () => {
    const settings = loadSettings({});
    expect(settings).toMatchObject({ port: 8080, adminPort: 9090, host: '0.0.0.0', logLevel: 'info', appsFile: undefined });
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('reports every wrong value at once, by name, with what it got', () => {
    let error: unknown;
    try {
      loadSettings({ PORT: 'abc', ADMIN_PORT: '70000', LOG_LEVEL: 'loud', DARKROOM_S3_ENDPOINT: 'ftp://x' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SettingsError);
    const problems = (error as SettingsError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('PORT:'))).toContain('"abc"');
    expect(problems.find((p) => p.startsWith('ADMIN_PORT:'))).toContain('65535');
    expect(problems.find((p) => p.startsWith('LOG_LEVEL:'))).toContain('"loud"');
    expect(problems.find((p) => p.startsWith('DARKROOM_S3_ENDPOINT:'))).toContain('http(s) URL');
  });

  it('refuses the same port twice', () => {
    expect(() => loadSettings({ PORT: '8000', ADMIN_PORT: '8000' })).toThrow(/ADMIN_PORT: must differ from PORT/);
  });

  it('treats empty values as unset', () => {
    expect(loadSettings({ DARKROOM_APPS_FILE: '', DARKROOM_PUBLIC_BASE_URL: 'https://img.example.com/' })).toMatchObject({
      appsFile: undefined,
      defaultPublicBaseURL: 'https://img.example.com',
    });
  });
});
