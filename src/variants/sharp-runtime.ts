/**
 * Process-wide sharp (libvips) settings, applied once at start.
 *
 * Why these values: every sharp call runs on a libuv thread-pool thread, the same pool that
 * `dns.lookup` (each new connection to S3, GCS or the CDN), `fs` and `zlib` use. The pool has
 * UV_THREADPOOL_SIZE threads (Node's default 4). If transforms could take every thread, the
 * proxying of originals would wait behind them for a DNS lookup. So the transform gate lets at
 * most DARKROOM_TRANSFORM_CONCURRENCY transforms run, and the settings check refuses a value that
 * leaves fewer than two pool threads free. Each transform uses `threadsPerTransform` libvips
 * threads (default 1: one core per transform, so the gate's number is also the number of cores
 * transforms may take; sharp picks 1 itself on glibc, whose allocator fragments under many
 * threads). libvips' operation cache is off: it keeps recent images' pixels for reuse, which a
 * gateway that sees each original once on a miss never profits from, and it would hold memory.
 */
import sharp from 'sharp';

export interface SharpRuntimeOptions {
  /** libvips worker threads per transform (`sharp.concurrency`). */
  readonly threadsPerTransform: number;
}

export function configureSharp(options: SharpRuntimeOptions): void {
  sharp.cache(false);
  sharp.concurrency(options.threadsPerTransform);
}
