/**
 * The Redis settings: REDIS_URL forms (TLS, auth, db), Cluster seeds and Sentinel addresses with
 * their auth and TLS, the settings that exclude or need each other, the failure mode and the
 * timeout, and that a wrong value is reported without echoing a password.
 */
import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError } from '../../src/config/settings.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('Redis settings', () => {
  it('default to in-memory limits, the memory failure mode and a 30 ms timeout', () => {
    const settings = loadSettings({});
    expect(settings.redis).toBeUndefined();
    expect(settings.rateLimitRedisFailureMode).toBe('memory');
    expect(settings.rateLimitRedisTimeoutMs).toBe(30);
  });

  it('accept redis:// and rediss:// URLs with auth and a database', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://default:s3cret@redis.example:6380/2', 'redis://:pw@redis', 'redis://[::1]:6379']) {
      expect(loadSettings({ REDIS_URL: url }).redis).toEqual({ kind: 'standalone', url });
    }
    expect(loadSettings({ REDIS_URL: '  ' }).redis).toBeUndefined();
  });

  it('refuse other URLs without echoing a password', () => {
    const problems = problemsOf({ REDIS_URL: 'http://user:hunter2@redis:6379' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(problems.join('\n')).not.toContain('hunter2');
    expect(problemsOf({ REDIS_URL: 'not a url' })).toHaveLength(1);
  });

  it('take the failure mode and timeout, and refuse bad values', () => {
    const settings = loadSettings({ DARKROOM_RATELIMIT_REDIS_FAILURE_MODE: 'closed', DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS: '50' });
    expect(settings.rateLimitRedisFailureMode).toBe('closed');
    expect(settings.rateLimitRedisTimeoutMs).toBe(50);
    expect(problemsOf({ DARKROOM_RATELIMIT_REDIS_FAILURE_MODE: 'open' })[0]).toMatch(/^DARKROOM_RATELIMIT_REDIS_FAILURE_MODE: must be "memory" or "closed"/);
    expect(problemsOf({ DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS: '0' })[0]).toMatch(/must be from 1 to 5000/);
    expect(problemsOf({ DARKROOM_RATELIMIT_REDIS_TIMEOUT_MS: 'fast' })[0]).toMatch(/must be a number of milliseconds/);
  });

  it('take Cluster seeds, with auth and TLS', () => {
    expect(loadSettings({ REDIS_CLUSTER_NODES: 'redis-0.redis:6379, 10.0.0.7:7001,[fd00::1]:6380' }).redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'redis-0.redis', port: 6379 },
        { host: '10.0.0.7', port: 7001 },
        { host: 'fd00::1', port: 6380 },
      ],
      auth: { username: undefined, password: undefined },
      tls: false,
    });
    const withAuth = loadSettings({ REDIS_CLUSTER_NODES: 'clustercfg.example:6379', REDIS_USERNAME: 'darkroom', REDIS_PASSWORD: 's3cret', REDIS_TLS: 'on' });
    expect(withAuth.redis).toMatchObject({ kind: 'cluster', auth: { username: 'darkroom', password: 's3cret' }, tls: true });
  });

  it('take sentinels and the primary name, with the sentinels\' own password', () => {
    expect(
      loadSettings({ REDIS_SENTINELS: 's-0:26379,s-1:26379,s-2:26379', REDIS_SENTINEL_NAME: 'darkroom', REDIS_PASSWORD: 'pw', REDIS_SENTINEL_PASSWORD: 'spw' }).redis,
    ).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's-0', port: 26379 },
        { host: 's-1', port: 26379 },
        { host: 's-2', port: 26379 },
      ],
      name: 'darkroom',
      auth: { username: undefined, password: 'pw' },
      sentinelPassword: 'spw',
      tls: false,
    });
  });

  it('refuse address lists that are not host:port pairs', () => {
    for (const value of ['redis-0', 'redis-0:', 'redis-0:0', 'redis-0:70000', 'a:1,,b:2', 'redis://a:1', 'fd00::1:6379', ',']) {
      const problems = problemsOf({ REDIS_CLUSTER_NODES: value });
      expect(problems, value).toHaveLength(1);
      expect(problems[0]).toMatch(/^REDIS_CLUSTER_NODES: must be comma-separated host:port pairs such as /);
      expect(problems[0]).toContain(JSON.stringify(value));
    }
    expect(problemsOf({ REDIS_SENTINELS: 'sentinel', REDIS_SENTINEL_NAME: 'x' })[0]).toMatch(/^REDIS_SENTINELS: must be comma-separated host:port pairs/);
    expect(problemsOf({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'my primary' })[0]).toMatch(/^REDIS_SENTINEL_NAME: must be a Sentinel primary name/);
  });

  it('refuse more than one topology, naming the settings that clash', () => {
    const problems = problemsOf({ REDIS_URL: 'redis://:hunter2@r:6379', REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'p' });
    expect(problems).toEqual([
      'REDIS_CLUSTER_NODES: set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS (REDIS_URL is set too) (got "a:1")',
      'REDIS_SENTINELS: set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS (REDIS_URL is set too) (got "s:26379")',
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('refuse settings that belong to another topology', () => {
    expect(problemsOf({ REDIS_SENTINELS: 's:26379' })).toEqual([
      'REDIS_SENTINEL_NAME: is required with REDIS_SENTINELS: the primary\'s name in the sentinels\' configuration',
    ]);
    expect(problemsOf({ REDIS_SENTINEL_NAME: 'p', REDIS_CLUSTER_NODES: 'a:1' })).toEqual(['REDIS_SENTINEL_NAME: is only used with REDIS_SENTINELS (got "p")']);
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINEL_PASSWORD: 'hunter2' })).toEqual(['REDIS_SENTINEL_PASSWORD: is only used with REDIS_SENTINELS']);
    const withUrl = problemsOf({ REDIS_URL: 'redis://r:6379', REDIS_USERNAME: 'u', REDIS_PASSWORD: 'hunter2', REDIS_TLS: 'on' });
    expect(withUrl).toEqual([
      'REDIS_USERNAME: is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS: with REDIS_URL put the user in the URL (got "u")',
      'REDIS_PASSWORD: is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS: with REDIS_URL put the password in the URL',
      'REDIS_TLS: is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS: with REDIS_URL use rediss:// (got "on")',
    ]);
    expect(problemsOf({ REDIS_PASSWORD: 'hunter2' })).toEqual(['REDIS_PASSWORD: is only used with REDIS_CLUSTER_NODES or REDIS_SENTINELS']);
    expect(problemsOf({ REDIS_TLS: 'yes' })[0]).toMatch(/^REDIS_TLS: must be "on" or "off"/);
  });
});
