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

  it('bounds variant transforms, leaving two libuv threads free for the proxying of originals', () => {
    expect(loadSettings({}).transforms).toEqual({ concurrency: 2, maxQueued: 64, timeoutSeconds: 10, threadsPerTransform: 1 });
    expect(() => loadSettings({ DARKROOM_TRANSFORM_CONCURRENCY: '3' })).toThrow(/DARKROOM_TRANSFORM_CONCURRENCY: must leave two libuv threads free: at most UV_THREADPOOL_SIZE - 2 \(2\)/);
    expect(loadSettings({ DARKROOM_TRANSFORM_CONCURRENCY: '6', UV_THREADPOOL_SIZE: '8' }).transforms.concurrency).toBe(6);
    expect(() => loadSettings({ DARKROOM_TRANSFORM_QUEUE: '-1' })).toThrow(/DARKROOM_TRANSFORM_QUEUE: must be from 0 to 10000/);
    expect(() => loadSettings({ DARKROOM_TRANSFORM_TIMEOUT_SECONDS: '1.5' })).toThrow(/DARKROOM_TRANSFORM_TIMEOUT_SECONDS: must be a whole number/);
  });

  it('treats empty values as unset', () => {
    expect(loadSettings({ DARKROOM_APPS_FILE: '', DARKROOM_PUBLIC_BASE_URL: 'https://img.example.com/' })).toMatchObject({
      appsFile: undefined,
      defaultPublicBaseURL: 'https://img.example.com',
    });
  });
});
