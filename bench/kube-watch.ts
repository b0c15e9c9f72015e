/**
 * darkroom's DarkroomApp watch against a real kube-apiserver 1.20.2 (etcd, RBAC, the chart's
 * ServiceAccount), with the production build (`dist/main.js`) and production timings:
 *
 * - propagation, from `kubectl apply` returning to darkroom serving the change, after 0 s (the
 *   baseline, measured in the same run), 90 s and 150 s of quiet;
 * - watch restarts while idle (the quiet periods together), extrapolated to an hour;
 * - recovery after the API server is killed and started again;
 * - Lease failover after SIGTERM (released) and after SIGKILL (expiry);
 * - status patches by a fresh replica on a cluster whose statuses are already right.
 *
 *   npm run build && npx tsx bench/kube-watch.ts        (about six minutes, mostly waiting)
 *
 * DARKROOM_BENCH_MAIN=/path/to/other/dist/main.js measures another build instead (a baseline from
 * an older commit, built with its own `npm run build`). Writes test-artifacts/bench-kube-watch.json
 * (or bench-kube-watch-baseline.json). Run it under the shared heavy lock.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmbeddedS3 } from '../src/devstorage/embedded-s3.js';
import { startDarkroomProcess, type DarkroomProcess } from '../test/support/darkroom-process.js';
import { presign, waitFor } from '../test/support/kube-darkroom.js';
import { RealKubeCluster, repositoryRoot } from '../test/support/real-kube.js';
import { applyObjects, darkroomApp, darkroomNamespace, installDarkroom } from '../test/support/real-kube-darkroom.js';

const quietPeriodsSeconds = [0, 90, 150];
const baselineMain = process.env.DARKROOM_BENCH_MAIN;
const credentials = { accessKeyId: 'AKIABENCHKUBEWATCH', secretAccessKey: 'bench-kube-watch-secret-access-key-0123' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function timeUntil(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  await waitFor(check, what, timeoutMs);
  return Math.round(performance.now() - started);
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { kubernetes: 'v1.20.2', darkroom: `${baselineMain ?? 'dist/main.js'}, production timings` };
  const cluster = await RealKubeCluster.start();
  const storage = await startEmbeddedS3({ buckets: ['test-bucket'], credentials, host: '127.0.0.1', port: 0 });
  const replicas: DarkroomProcess[] = [];
  try {
    const kubeconfigPath = await installDarkroom(cluster, { secretNames: [] });
    const apply = (...objects: Record<string, unknown>[]) => applyObjects(cluster, ...objects);
    apply(...Array.from({ length: 10 }, (_, index) => darkroomApp(`app-${index}`)), darkroomApp('bad', { prefix: 'a/../b/' }));
    const start = async (podName: string) => {
      const replica = await startDarkroomProcess({
        podName,
        namespace: darkroomNamespace,
        kubeconfigPath,
        s3Endpoint: storage.endpoint,
        credentials,
        entry: 'dist',
        ...(baselineMain ? { mainScript: baselineMain } : {}),
      });
      replicas.push(replica);
      await waitFor(async () => (await fetch(`${replica.url}/readyz`)).status === 200, `${podName} ready`, 30_000);
      return replica;
    };
    const a = await start('darkroom-a');
    const b = await start('darkroom-b');
    await waitFor(async () => (await a.metric('darkroom_leader')) === 1 || (await b.metric('darkroom_leader')) === 1, 'a leader');

    // Propagation after quiet periods; restarts counted over them.
    const restartsBefore = (await a.metric('darkroom_config_watch_restarts_total')) ?? 0;
    const propagation: Record<string, number> = {};
    let quietSeconds = 0;
    for (const seconds of quietPeriodsSeconds) {
      await sleep(seconds * 1000);
      quietSeconds += seconds;
      const name = `after-${seconds}s`;
      apply(darkroomApp(name));
      propagation[`${seconds} s quiet`] = await timeUntil(async () => (await presign(a.url, name)).status === 200, name);
      console.log(`change after ${seconds} s of quiet served in ${propagation[`${seconds} s quiet`]} ms`);
    }
    const baseline = propagation['0 s quiet']!;
    results.propagationMs = propagation;
    results.propagationRatioToBaseline = Object.fromEntries(Object.entries(propagation).map(([key, ms]) => [key, Math.round((ms / baseline) * 100) / 100]));
    const restarts = ((await a.metric('darkroom_config_watch_restarts_total')) ?? 0) - restartsBefore;
    results.idle = {
      quietSeconds,
      watchRestarts: restarts,
      restartsPerHourExtrapolated: Math.round((restarts / quietSeconds) * 3600 * 10) / 10,
      watchConnected: await a.metric('darkroom_config_watch_connected'),
    };
    console.log(`watch restarts in ${quietSeconds} s idle: ${restarts}`);

    // API server killed and started again.
    await cluster.killApiServer();
    const killedAt = performance.now();
    await waitFor(async () => (await a.metric('darkroom_config_watch_connected')) === 0, 'watch disconnected', 30_000);
    await cluster.startApiServer();
    const apiServerDownMs = Math.round(performance.now() - killedAt);
    const reconnectMs = await timeUntil(async () => (await a.metric('darkroom_config_watch_connected')) === 1, 'watch reconnected');
    apply(darkroomApp('after-restart'));
    const afterRestartMs = await timeUntil(async () => (await presign(a.url, 'after-restart')).status === 200, 'change after restart');
    results.apiServerRestart = { apiServerDownMs, readyToWatchReconnectedMs: reconnectMs, changeAfterRestartServedMs: afterRestartMs };
    console.log(`API server restart: down ${apiServerDownMs} ms, watch back ${reconnectMs} ms after ready, a change then served in ${afterRestartMs} ms`);

    // Failover: SIGTERM the leader, then SIGKILL the next one; c has never led.
    const c = await start('darkroom-c');
    const alive = () => replicas.filter((replica) => replica.child.exitCode === null && replica.child.signalCode === null);
    const leader = async () => {
      for (const replica of alive()) if ((await replica.metric('darkroom_leader')) === 1) return replica;
      return undefined;
    };
    const first = (await leader())!;
    await first.stop('SIGTERM');
    const sigtermMs = await timeUntil(async () => (await leader()) !== undefined, 'leader after SIGTERM');
    const second = (await leader())!;
    const survivor = second === c ? alive().find((replica) => replica !== c)! : c;
    const writesBefore = (await survivor.metric('darkroom_config_status_writes_total', 'outcome="ok"')) ?? 0;
    await second.stop('SIGKILL');
    const sigkillMs = await timeUntil(async () => (await survivor.metric('darkroom_leader')) === 1, 'leader after SIGKILL');
    results.failoverMs = { afterSigterm: sigtermMs, afterSigkill: sigkillMs, leaseDurationSeconds: 15 };
    console.log(`failover: SIGTERM ${sigtermMs} ms, SIGKILL ${sigkillMs} ms`);

    // The survivor took over with every status right: a new marker app shows it has reconciled.
    const { body: list } = await cluster.request('GET', `/apis/darkroom.dev/v1alpha1/namespaces/${darkroomNamespace}/darkroomapps`);
    const appsWithCorrectStatus = (list.items as unknown[]).length;
    apply(darkroomApp('marker'));
    await waitFor(async () => {
      const { body } = await cluster.request('GET', `/apis/darkroom.dev/v1alpha1/namespaces/${darkroomNamespace}/darkroomapps/marker`);
      return (body.status as { conditions?: unknown[] } | undefined)?.conditions?.length;
    }, 'marker status', 30_000);
    const writes = ((await survivor.metric('darkroom_config_status_writes_total', 'outcome="ok"')) ?? 0) - writesBefore;
    results.freshLeaderStatusPatches = { appsWithCorrectStatus, patches: writes, ofWhichTheNewMarkerApp: 1 };
    console.log(`fresh leader: ${writes} status patches (1 is the new marker app)`);
  } finally {
    await Promise.all(replicas.map((replica) => replica.stop('SIGKILL')));
    await storage.close();
    await cluster.close();
  }
  await mkdir(join(repositoryRoot, 'test-artifacts'), { recursive: true });
  await writeFile(join(repositoryRoot, `test-artifacts/bench-kube-watch${baselineMain ? '-baseline' : ''}.json`), `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
}

await main();
