export { XdsServer, ADS_SERVER_OPTIONS } from './server.js';
export { SOTW_PATH, DELTA_PATH, ADS_SERVICE } from './service.js';
export { structToJson, proxyInfoOf, nodeInfoOf, isProxyless } from './node.js';
export type * from './types.js';
