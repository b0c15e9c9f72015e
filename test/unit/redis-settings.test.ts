/**
 * The Redis settings: REDIS_URL forms (TLS, auth, db), the failure mode and the timeout, and that a
 * wrong REDIS_URL is reported without echoing its password.
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
    expect(settings.redisUrl).toBeUndefined();
    expect(settings.rateLimitRedisFailureMode).toBe('memory');
    expect(settings.rateLimitRedisTimeoutMs).toBe(30);
  });

  it('accept redis:// and rediss:// URLs with auth and a database', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://default:s3cret@redis.example:6380/2', 'redis://:pw@redis', 'redis://[::1]:6379']) {
      expect(loadSettings({ REDIS_URL: url }).redisUrl).toBe(url);
    }
    expect(loadSettings({ REDIS_URL: '  ' }).redisUrl).toBeUndefined();
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
});
