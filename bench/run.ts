/** `npm run bench`: every benchmark, each printing its own figures. */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { benchFoundation } = await import('./foundation.js');

await benchFoundation();
