/** `npm start`: the embedded default on PORT (8080) with data in DATA_DIR (.data/). */
import { startEmbedded } from './embedded.js';

// Node 20 is supported here; the SDK's notice about its future Node 22 floor is noise in our logs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const log = (entry: Record<string, unknown>) => console.log(JSON.stringify({ time: new Date().toISOString(), ...entry }));

const app = await startEmbedded({ log });
log({ level: 'INFO', message: `Runway is listening on ${app.url}`, data_dir: app.dataDir });
if (!process.env.ADMIN_TOKEN) console.log(`Admin token: ${app.adminToken}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log({ level: 'INFO', message: `stopping (${signal})` });
    app.stop().then(() => process.exit(0));
  });
}
