// Jest setup: the interpreter's Node 22 API on Node 20, and no SDK notice in test output.
import '../../local/polyfills.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
