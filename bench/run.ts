/** `npm run bench`: every benchmark, each printing its own figures (ratios and percentiles). */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { benchFoundation } = await import('./foundation.js');
const { benchRunTasks } = await import('./run-tasks.js');
const { benchLiveLogs } = await import('./live-logs.js');

await benchFoundation();
await benchRunTasks();
await benchLiveLogs();
