/**
 * The Kubernetes calls darkroom makes, behind one small interface, implemented with
 * @kubernetes/client-node. Everything else in this folder depends on {@link KubeApi}, never on the
 * generated clients, so the watch, status, Lease and Secret logic read as plain code and every
 * failure arrives as a {@link KubeApiError} with an HTTP status.
 */
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import type { Middleware } from '@kubernetes/client-node/dist/gen/middleware.js';
import { of } from '@kubernetes/client-node/dist/gen/rxjsStub.js';

/** API group, version and plural of the custom resource. */
export const darkroomAppResource = Object.freeze({ group: 'darkroom.dev', version: 'v1alpha1', plural: 'darkroomapps' });

/** The fields of an object darkroom reads; the rest is passed through untouched. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly generation?: number;
    readonly resourceVersion?: string;
    readonly [key: string]: unknown;
  };
  readonly status?: unknown;
  readonly [key: string]: unknown;
}

/** A list response: items and the resourceVersion to watch from. */
export interface KubeList {
  readonly items: readonly KubeObject[];
  readonly resourceVersion: string;
}

/** A `coordination.k8s.io/v1` Lease as the elector sees it. */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: Date | undefined;
  readonly renewTime: Date | undefined;
  readonly leaseTransitions: number;
  /** The resourceVersion an update must name (optimistic concurrency). */
  readonly resourceVersion?: string;
}

/** A Secret's data, base64-decoded. */
export interface SecretRecord {
  readonly data: Readonly<Record<string, string>>;
  readonly resourceVersion: string;
}

/** A failed API call: `status` is the HTTP status (0 when no response arrived). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeApiError';
  }
}

/** The calls the Kubernetes config source makes. */
export interface KubeApi {
  /** Lists DarkroomApps in one namespace, or in all when `namespace` is undefined. */
  listDarkroomApps(namespace: string | undefined): Promise<KubeList>;
  /** Merge-patches the `status` subresource of one DarkroomApp. */
  patchDarkroomAppStatus(namespace: string, name: string, status: unknown): Promise<void>;
  /** Reads a Secret; undefined when it does not exist. */
  readSecret(namespace: string, name: string): Promise<SecretRecord | undefined>;
  /** Reads a Lease; undefined when it does not exist. */
  readLease(namespace: string, name: string): Promise<LeaseRecord | undefined>;
  /** Creates a Lease; a KubeApiError with status 409 when it already exists. */
  createLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord>;
  /** Replaces a Lease if `lease.resourceVersion` is still current; else KubeApiError 409. */
  replaceLease(namespace: string, name: string, lease: LeaseRecord): Promise<LeaseRecord>;
}

/** Deadline of each call (list, patch, Lease, Secret), in ms. */
const requestTimeoutMs = 10_000;
/** Field manager recorded for status and Lease writes. */
const fieldManager = 'darkroom';

/** {@link KubeApi} over @kubernetes/client-node's generated clients. */
export class ClientNodeKubeApi implements KubeApi {
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #coordination: CoordinationV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.#custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  async listDarkroomApps(namespace: string | undefined): Promise<KubeList> {
    const { group, version, plural } = darkroomAppResource;
    const options = this.#options();
    const list = (await call(() =>
      namespace === undefined
        ? this.#custom.listClusterCustomObject({ group, version, plural }, options)
        : this.#custom.listNamespacedCustomObject({ group, version, namespace, plural }, options),
    )) as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
    return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async patchDarkroomAppStatus(namespace: string, name: string, status: unknown): Promise<void> {
    const { group, version, plural } = darkroomAppResource;
    // The generated client defaults to JSON Patch; status writes are merge patches
    // (kubernetes-client/javascript#2434), so the content type is set explicitly.
    const options = this.#options({ 'Content-Type': PatchStrategy.MergePatch });
    await call(() =>
      this.#custom.patchNamespacedCustomObjectStatus(
        { group, version, namespace, plural, name, body: { status }, fieldManager },
        options,
      ),
    );
  }

  async readSecret(namespace: string, name: string): Promise<SecretRecord | undefined> {
    const secret = await orUndefinedOn404(() => call(() => this.#core.readNamespacedSecret({ name, namespace }, this.#options())));
    if (!secret) return undefined;
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, 'base64').toString('utf8');
    return { data, resourceVersion: secret.metadata?.resourceVersion ?? '' };
  }

  async readLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    const lease = await orUndefinedOn404(() => call(() => this.#coordination.readNamespacedLease({ name, namespace }, this.#options())));
    return lease && fromLease(lease);
  }

  async createLease(namespace: string, name: string, record: LeaseRecord): Promise<LeaseRecord> {
    const lease = await call(() =>
      this.#coordination.createNamespacedLease(
        { namespace, body: toLease(namespace, name, record), fieldManager },
        this.#options(),
      ),
    );
    return fromLease(lease);
  }

  async replaceLease(namespace: string, name: string, record: LeaseRecord): Promise<LeaseRecord> {
    const lease = await call(() =>
      this.#coordination.replaceNamespacedLease(
        { name, namespace, body: toLease(namespace, name, record), fieldManager },
        this.#options(),
      ),
    );
    return fromLease(lease);
  }

  /** Per-call options: a deadline (the generated clients have none) and extra headers. */
  #options(headers: Record<string, string> = {}) {
    const middleware: Middleware = {
      pre: (context) => {
        context.setSignal(AbortSignal.timeout(requestTimeoutMs));
        for (const [key, value] of Object.entries(headers)) context.setHeaderParam(key, value);
        return of(context);
      },
      post: (context) => of(context),
    };
    return { middleware: [middleware], middlewareMergeStrategy: 'append' as const };
  }
}

function toLease(namespace: string, name: string, record: LeaseRecord): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(record.resourceVersion ? { resourceVersion: record.resourceVersion } : {}) },
    spec: {
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      leaseTransitions: record.leaseTransitions,
      ...(record.acquireTime ? { acquireTime: new V1MicroTime(record.acquireTime.getTime()) } : {}),
      ...(record.renewTime ? { renewTime: new V1MicroTime(record.renewTime.getTime()) } : {}),
    },
  };
}

function fromLease(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: spec.acquireTime ? new Date(spec.acquireTime) : undefined,
    renewTime: spec.renewTime ? new Date(spec.renewTime) : undefined,
    leaseTransitions: spec.leaseTransitions ?? 0,
    resourceVersion: lease.metadata?.resourceVersion,
  };
}

/** Runs a client call and turns every failure into a KubeApiError. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof KubeApiError) throw error;
    const code = (error as { code?: unknown }).code;
    const status = typeof code === 'number' ? code : 0;
    const reason = status > 0 ? `HTTP ${status}` : error instanceof Error ? error.message : String(error);
    throw new KubeApiError(status, `Kubernetes API call failed: ${reason}`, { cause: error });
  }
}

async function orUndefinedOn404<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}
