/**
 * A real Kubernetes control plane on loopback for the test tier in test/kube and the benches: etcd
 * (Debian's etcd-server) and kube-apiserver v1.20.2 (built by scripts/kube-apiserver.sh, cached
 * outside the repository), with self-made certificates, RBAC authorization, and ServiceAccount
 * tokens from the TokenRequest API (no kube-controller-manager needed).
 *
 * Certificates carry fixed validity dates (2020 to 2099) instead of "now": the Go binaries read the
 * real clock while Node and openssl may run under faketime, and both must accept them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, fetch } from 'undici';
import { freePort } from './ports.js';

export const repositoryRoot = resolve(import.meta.dirname, '../..');

/** Runs scripts/kube-apiserver.sh (seconds when warm, about five minutes cold) and returns the binary. */
export function buildKubeApiServer(): string {
  const result = spawnSync('bash', [join(repositoryRoot, 'scripts/kube-apiserver.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) throw new Error(`scripts/kube-apiserver.sh failed with status ${result.status}`);
  return result.stdout.trim().split('\n').at(-1)!;
}

function run(command: string, args: readonly string[], options: { cwd?: string; input?: string } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: options.cwd, input: options.input, timeout: 60_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** The last lines of a log file, for an error message. */
function tail(path: string): string {
  return readFileSync(path, 'utf8').split('\n').slice(-15).join('\n');
}

const fixedValidity = ['-startdate', '20200101000000Z', '-enddate', '20991231235959Z'];

/** A CA, a serving certificate for 127.0.0.1 and a ServiceAccount signing key, made with openssl. */
async function makePki(dir: string): Promise<void> {
  await mkdir(join(dir, 'newcerts'));
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '1000\n');
  await writeFile(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir/newcerts',
      'serial = $dir/serial',
      'certificate = $dir/ca.crt',
      'private_key = $dir/ca.key',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '[v3_ca]',
      'basicConstraints = critical,CA:true',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '[server]',
      'basicConstraints = CA:false',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  ssl('genrsa', '-out', 'ca.key', '2048');
  ssl('req', '-new', '-key', 'ca.key', '-subj', '/CN=darkroom-test-ca', '-out', 'ca.csr');
  ssl('ca', '-batch', '-notext', '-selfsign', '-config', 'ca.cnf', '-keyfile', 'ca.key', '-in', 'ca.csr', '-out', 'ca.crt', '-extensions', 'v3_ca', ...fixedValidity);
  ssl('genrsa', '-out', 'server.key', '2048');
  ssl('req', '-new', '-key', 'server.key', '-subj', '/CN=kube-apiserver', '-out', 'server.csr');
  ssl('ca', '-batch', '-notext', '-config', 'ca.cnf', '-in', 'server.csr', '-out', 'server.crt', '-extensions', 'server', ...fixedValidity);
  ssl('genrsa', '-out', 'sa.key', '2048');
  ssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
}

/** A running etcd + kube-apiserver. */
export class RealKubeCluster {
  readonly url: string;
  readonly adminKubeconfig: string;
  readonly #dir: string;
  readonly #binary: string;
  readonly #apiPort: number;
  readonly #etcdPorts: { client: number; peer: number };
  readonly #adminToken: string;
  readonly #agent: Agent;
  readonly #caPem: string;
  #etcd: ChildProcess | undefined;
  #apiServer: ChildProcess | undefined;

  private constructor(dir: string, binary: string, apiPort: number, etcdPorts: { client: number; peer: number }, adminToken: string, ca: string) {
    this.#dir = dir;
    this.#binary = binary;
    this.#apiPort = apiPort;
    this.#etcdPorts = etcdPorts;
    this.#adminToken = adminToken;
    this.url = `https://127.0.0.1:${apiPort}`;
    this.adminKubeconfig = join(dir, 'admin.kubeconfig');
    this.#agent = new Agent({ connect: { ca } });
    this.#caPem = ca;
  }

  /** Builds (or finds) the binary, makes the PKI, starts etcd and the API server, waits for /readyz. */
  static async start(): Promise<RealKubeCluster> {
    const binary = buildKubeApiServer();
    const dir = await mkdtemp(join(tmpdir(), 'darkroom-kube-'));
    await makePki(dir);
    const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
    // A static token in system:masters for the test's own kubectl (the admin); darkroom never uses it.
    await writeFile(join(dir, 'tokens.csv'), `${adminToken},admin,admin,system:masters\n`);
    const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
    const cluster = new RealKubeCluster(dir, binary, await freePort(), { client: await freePort(), peer: await freePort() }, adminToken, ca);
    await writeFile(cluster.adminKubeconfig, cluster.kubeconfig({ token: adminToken, namespace: 'default' }));
    try {
      await cluster.#startEtcd();
      await cluster.startApiServer();
    } catch (error) {
      await cluster.close(); // no etcd or API server left behind by a failed start
      throw error;
    }
    return cluster;
  }

  /** A kubeconfig for this cluster with a bearer token. */
  kubeconfig({ token, namespace }: { token: string; namespace: string }): string {
    const ca = Buffer.from(this.#caPem).toString('base64');
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: real\n  cluster:\n    server: ${this.url}\n    certificate-authority-data: ${ca}`,
      'users:',
      `- name: user\n  user:\n    token: ${token}`,
      'contexts:',
      `- name: real\n  context:\n    cluster: real\n    user: user\n    namespace: ${namespace}`,
      'current-context: real',
      '',
    ].join('\n');
  }

  /** Runs kubectl as the admin; returns stdout. */
  kubectl(args: readonly string[], input?: string): string {
    return run('kubectl', ['--kubeconfig', this.adminKubeconfig, ...args], input === undefined ? {} : { input });
  }

  /** An API call as the admin. */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      dispatcher: this.#agent,
      headers: { authorization: `Bearer ${this.#adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const json = response.headers.get('content-type')?.startsWith('application/json') ?? false;
    return { status: response.status, body: json ? (JSON.parse(text) as Record<string, unknown>) : { text } };
  }

  /** A token for a ServiceAccount through the TokenRequest API (1.20: needs the issuer flags set below). */
  async serviceAccountToken(namespace: string, name: string): Promise<string> {
    const { status, body } = await this.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 86_400 },
    });
    if (status !== 201) throw new Error(`TokenRequest failed: ${status} ${JSON.stringify(body)}`);
    return (body.status as { token: string }).token;
  }

  /** Starts the API server (again, on the same port and etcd); resolves when /readyz answers 200. */
  async startApiServer(): Promise<void> {
    const file = (name: string) => join(this.#dir, name);
    this.#apiServer = spawn(
      this.#binary,
      [
        '--bind-address=127.0.0.1',
        // The 'kubernetes' Service's endpoints may not be a loopback address: there is no Service here.
        '--endpoint-reconciler-type=none',
        `--secure-port=${this.#apiPort}`,
        '--insecure-port=0',
        `--etcd-servers=http://127.0.0.1:${this.#etcdPorts.client}`,
        `--cert-dir=${file('certs')}`,
        `--tls-cert-file=${file('server.crt')}`,
        `--tls-private-key-file=${file('server.key')}`,
        `--client-ca-file=${file('ca.crt')}`,
        `--token-auth-file=${file('tokens.csv')}`,
        `--service-account-key-file=${file('sa.pub')}`,
        `--service-account-signing-key-file=${file('sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--authorization-mode=RBAC',
        '--service-cluster-ip-range=10.96.0.0/24',
        '--v=0',
      ],
      { stdio: ['ignore', 'ignore', openSync(file('kube-apiserver.log'), 'a')] },
    );
    const deadline = Date.now() + 60_000;
    let last: unknown;
    while (Date.now() < deadline) {
      if (this.#apiServer.exitCode !== null) throw new Error(`kube-apiserver exited with ${this.#apiServer.exitCode}: ${tail(file('kube-apiserver.log'))}`);
      try {
        last = await this.request('GET', '/readyz');
        if ((last as { status: number }).status === 200) return;
      } catch (error) {
        last = error; // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`kube-apiserver did not become ready within 60 s (${last instanceof Error ? `${last.message} ${String(last.cause)}` : JSON.stringify(last)}): ${tail(file('kube-apiserver.log'))}`);
  }

  /** Kills the API server (SIGKILL: no goodbye to its watchers); etcd keeps the data. */
  async killApiServer(): Promise<void> {
    const process = this.#apiServer;
    if (!process || process.exitCode !== null) return;
    const exited = once(process, 'exit');
    process.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    await this.killApiServer();
    if (this.#etcd && this.#etcd.exitCode === null) {
      const exited = once(this.#etcd, 'exit');
      this.#etcd.kill('SIGTERM');
      await exited;
    }
    await this.#agent.close();
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #startEtcd(): Promise<void> {
    const { client, peer } = this.#etcdPorts;
    this.#etcd = spawn(
      'etcd',
      [
        '--name=test',
        `--data-dir=${join(this.#dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${client}`,
        `--advertise-client-urls=http://127.0.0.1:${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=test=http://127.0.0.1:${peer}`,
        '--log-level=error',
        '--logger=zap',
      ],
      { stdio: ['ignore', 'ignore', openSync(join(this.#dir, 'etcd.log'), 'a')] },
    );
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.#etcd.exitCode !== null) throw new Error(`etcd exited with ${this.#etcd.exitCode}`);
      try {
        if ((await fetch(`http://127.0.0.1:${client}/health`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('etcd did not become healthy within 30 s');
  }
}
