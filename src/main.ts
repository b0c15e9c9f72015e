/**
 * Production entry point: the only place that reads darkroom's settings from `process.env` (the
 * cloud SDKs read their own `AWS_*` / `GOOGLE_*` variables) and handles signals.
 * Run as `node dist/main.js` directly (not through npm) so SIGTERM reaches this process.
 */
import { SettingsError, loadSettings } from './config/settings.js';
import { startDarkroom } from './darkroom.js';

async function main(): Promise<void> {
  let settings;
  try {
    settings = loadSettings(process.env);
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(`darkroom: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const darkroom = await startDarkroom(settings);
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      // A second signal (an impatient operator's Ctrl-C) skips the drain.
      if (stopping) {
        darkroom.logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
        process.exit(1);
      }
      stopping = true;
      darkroom.logger.info({ signal }, 'shutting down');
      darkroom.close().then(
        () => process.exit(0),
        (error: unknown) => {
          darkroom.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`darkroom: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
