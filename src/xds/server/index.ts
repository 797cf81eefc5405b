export { XdsServer, ADS_SERVER_OPTIONS, adsServerOptions } from './server.js';
export { DEFAULT_XDS_LIMITS, type XdsLimits } from './limits.js';
export { SOTW_PATH, DELTA_PATH, ADS_SERVICE } from './service.js';
export { structToJson, proxyInfoOf, nodeInfoOf, isProxyless } from './node.js';
export type * from './types.js';
