/**
 * Shared limits on a real Sentinel setup: a primary, its replica and three sentinels (started
 * here), darkroom's limiter through ioredis' Sentinel support, the primary killed under load. The
 * assertions are the failover contract's.
 */
import { describeRedisFailoverContract } from '../contract/redis-failover.contract.js';
import { startRedisSentinel } from '../support/redis-sentinel.js';

describeRedisFailoverContract({
  name: 'Redis Sentinel (primary, replica, 3 sentinels)',
  async start() {
    const sentinel = await startRedisSentinel();
    let killed: number | undefined;
    return {
      env: { REDIS_SENTINELS: sentinel.sentinels, REDIS_SENTINEL_NAME: sentinel.name },
      async killPrimaryOf() {
        // One primary holds every key.
        killed = await sentinel.killPrimary();
      },
      async waitForFailover() {
        if (killed === undefined) throw new Error('no primary was killed');
        await sentinel.waitForFailover(killed);
      },
      onEveryDataNode: (command, ...args) => sentinel.onEveryDataNode(command, ...args),
      stop: () => sentinel.stop(),
    };
  },
});
