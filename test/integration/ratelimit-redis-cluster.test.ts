/**
 * Shared limits on a real Redis Cluster: three primaries with a replica each (six redis-server
 * processes started here), darkroom's limiter through ioredis' Cluster client, one primary killed
 * under load. The assertions are the failover contract's.
 */
import { expect } from 'vitest';
import { describeRedisFailoverContract } from '../contract/redis-failover.contract.js';
import { startRedisCluster } from '../support/redis-cluster.js';

describeRedisFailoverContract({
  name: 'Redis Cluster (3 primaries, 1 replica each)',
  async start() {
    const cluster = await startRedisCluster();
    return {
      env: { REDIS_CLUSTER_NODES: cluster.seeds },
      async killPrimaryOf(key) {
        await cluster.kill(await cluster.primaryPortFor(key));
      },
      waitForFailover: () => cluster.waitUntilHealthy(),
      async assertSpread(keys) {
        const holders = new Set(await Promise.all(keys.map((key) => cluster.primaryPortFor(key))));
        expect([...holders].sort()).toEqual((await cluster.primaryPorts()).sort());
        expect(holders.size).toBe(3);
      },
      onEveryDataNode: (command, ...args) => cluster.onEveryNode(command, ...args),
      stop: () => cluster.stop(),
    };
  },
});
