/**
 * pino JSON logs. Presigned URLs carry a signature that is as good as a credential until it
 * expires, so they, credentials and auth headers are redacted wherever they might appear.
 */
import { pino, type Logger } from 'pino';

/** Paths whose values never reach a log line. */
export const redactedPaths = [
  'uploadURL',
  '*.uploadURL',
  'data.uploadURL',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-amz-security-token"]',
  'credentials',
  '*.credentials',
  '*.secretAccessKey',
  '*.sessionToken',
  '*.privateKey',
  '*.private_key',
];

/**
 * Creates the process logger. `destination` is for tests that read the lines back; by default
 * lines go to stdout with a plain write each (pino's default). Asynchronous writes go through
 * libuv's thread pool, which shares darkroom's CPU: measured on the upload bench they cost 2–3 %
 * more throughput than they saved, and they lose buffered lines when the process dies. The price
 * of synchronous writes is that a log reader that stops draining stdout stalls the process;
 * container runtimes drain it continuously.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'darkroom' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
