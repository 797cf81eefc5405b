/**
 * DestinationRule traffic policies: load balancing (simple, consistent hash, locality),
 * connection pools, outlier detection and upstream TLS, at the top, per port and per subset.
 */
import type {
  ClientTlsSettings, ConnectionPoolSettings, HashKey, LoadBalancerSettings, LocalityLbSetting, OutlierDetection, PortTrafficPolicy, SimpleLb, TrafficPolicy,
} from '../../model/traffic.js';
import { type Checker, join } from '../fields.js';
import { istioDuration } from './durations.js';
import { bool, int, num, oneOf, type Raw, record, records, str, strictKeys, strings, unsupported } from './read.js';

const INT32 = 2147483647;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let f = 2; f * f <= n; f++) if (n % f === 0) return false;
  return true;
}

function consistentHash(c: Checker, h: Raw, at: string): LoadBalancerSettings['consistentHash'] {
  strictKeys(c, h, ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'ringHash', 'maglev', 'minimumRingSize'], at);
  const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => h[k] !== undefined && h[k] !== null);
  if (keys.length !== 1) c.error(at, keys.length === 0 ? 'must set one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName' : `set only one of ${keys.join(', ')}`);
  let key: HashKey | undefined;
  const header = str(c, h, 'httpHeaderName', at);
  if (header !== undefined) key = { kind: 'header', name: header.toLowerCase() };
  const qp = str(c, h, 'httpQueryParameterName', at);
  if (qp !== undefined) key = { kind: 'query-param', name: qp };
  if (bool(c, h, 'useSourceIp', at) === true) key = { kind: 'source-ip' };
  else if (h.useSourceIp === false && keys.length === 1 && keys[0] === 'useSourceIp') c.error(join(at, 'useSourceIp'), 'false selects no hash key; set a key or remove consistentHash');
  const ck = record(c, h, 'httpCookie', at);
  if (ck) {
    const cp = join(at, 'httpCookie');
    strictKeys(c, ck, ['name', 'path', 'ttl', 'attributes'], cp);
    const name = str(c, ck, 'name', cp, true);
    const path = str(c, ck, 'path', cp);
    const ttl = istioDuration(c, ck, 'ttl', cp, { allowZero: true });
    unsupported(c, ck, ['attributes'], cp);
    if (name !== undefined) key = { kind: 'cookie', name, ...(path !== undefined ? { path } : {}), ...(ttl !== undefined ? { ttlMs: ttl } : {}) };
  }
  const ring = record(c, h, 'ringHash', at);
  const maglev = record(c, h, 'maglev', at);
  const legacyRing = int(c, h, 'minimumRingSize', at, 0);
  if (legacyRing !== undefined) c.warn(join(at, 'minimumRingSize'), 'deprecated: use ringHash.minimumRingSize');
  if ([ring, maglev, legacyRing].filter((x) => x !== undefined).length > 1) c.error(at, 'set only one of ringHash, maglev, minimumRingSize');
  let algorithm: NonNullable<LoadBalancerSettings['consistentHash']>['algorithm'] = { kind: 'ring-hash', ...(legacyRing ? { minimumRingSize: legacyRing } : {}) };
  if (ring) {
    strictKeys(c, ring, ['minimumRingSize'], join(at, 'ringHash'));
    const m = int(c, ring, 'minimumRingSize', join(at, 'ringHash'), 0);
    algorithm = { kind: 'ring-hash', ...(m ? { minimumRingSize: m } : {}) };
  }
  if (maglev) {
    const mp = join(at, 'maglev');
    strictKeys(c, maglev, ['tableSize'], mp);
    const t = int(c, maglev, 'tableSize', mp, 0, 5000010);
    if (t !== undefined && t !== 0 && !isPrime(t)) c.error(join(mp, 'tableSize'), 'must be a prime number');
    algorithm = { kind: 'maglev', ...(t ? { tableSize: t } : {}) };
  }
  return key ? { key, algorithm } : undefined;
}

const LOCALITY = /^[^/*]+(\/[^/*]+){0,2}(\/\*)?$|^\*$|^[^/*]+(\/[^/*]+)?\/\*$/;

function localityLb(c: Checker, l: Raw, at: string, hasOutlier: boolean): LocalityLbSetting {
  strictKeys(c, l, ['distribute', 'failover', 'failoverPriority', 'enabled'], at);
  const distribute: { from: string; to: [string, number][] }[] = [];
  for (const { item, path } of records(c, l, 'distribute', at)) {
    strictKeys(c, item, ['from', 'to'], path);
    const from = str(c, item, 'from', path, true);
    if (from !== undefined && !LOCALITY.test(from)) c.error(join(path, 'from'), `${JSON.stringify(from)} is not a locality ("region/zone/subzone", a trailing "/*" or "*")`);
    const to = c.record(item, 'to', path) ?? {};
    const pairs: [string, number][] = [];
    let sum = 0;
    for (const k of Object.keys(to).sort()) {
      const w = int(c, to, k, join(path, 'to'), 1, 100);
      if (!LOCALITY.test(k)) c.error(join(join(path, 'to'), k), `${JSON.stringify(k)} is not a locality`);
      if (w !== undefined) { pairs.push([k, w]); sum += w; }
    }
    if (pairs.length > 0 && sum !== 100) c.error(join(path, 'to'), `weights must sum to 100 (they sum to ${sum})`);
    if (from !== undefined) distribute.push({ from, to: pairs });
  }
  const failover: { from: string; to: string }[] = [];
  for (const { item, path } of records(c, l, 'failover', at)) {
    strictKeys(c, item, ['from', 'to'], path);
    const from = str(c, item, 'from', path, true);
    const to = str(c, item, 'to', path, true);
    for (const [k, v] of [['from', from], ['to', to]] as const) {
      if (v !== undefined && (v.includes('/') || v.includes('*'))) c.error(join(path, k), 'failover names a region only (no "/" or "*")');
    }
    if (from !== undefined && from === to) c.error(path, 'from and to must be different regions');
    if (from !== undefined && to !== undefined) failover.push({ from, to });
  }
  const failoverPriority = strings(c, l, 'failoverPriority', at) ?? [];
  if (distribute.length > 0 && failover.length > 0) c.error(at, 'set only one of distribute and failover');
  if ((failover.length > 0 || failoverPriority.length > 0) && !hasOutlier) c.warn(at, 'failover needs outlierDetection to take effect (Envoy fails over only from ejected endpoints)');
  const enabled = bool(c, l, 'enabled', at);
  return { distribute, failover, failoverPriority, ...(enabled !== undefined ? { enabled } : {}) };
}

function loadBalancer(c: Checker, lb: Raw, at: string, hasOutlier: boolean): LoadBalancerSettings {
  strictKeys(c, lb, ['simple', 'consistentHash', 'localityLbSetting', 'warmupDurationSecs', 'warmup', 'zoneAwareLbSetting'], at);
  const simple = oneOf<SimpleLb | 'UNSPECIFIED'>(c, lb, 'simple', at, ['UNSPECIFIED', 'ROUND_ROBIN', 'LEAST_REQUEST', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH']);
  const ch = record(c, lb, 'consistentHash', at);
  if (simple !== undefined && ch) c.error(at, 'set only one of simple and consistentHash');
  const hash = ch ? consistentHash(c, ch, join(at, 'consistentHash')) : undefined;
  const loc = record(c, lb, 'localityLbSetting', at);
  const locality = loc ? localityLb(c, loc, join(at, 'localityLbSetting'), hasOutlier) : undefined;
  let warmup = istioDuration(c, lb, 'warmupDurationSecs', at);
  if (warmup !== undefined) c.warn(join(at, 'warmupDurationSecs'), 'deprecated: use warmup.duration');
  const w = record(c, lb, 'warmup', at);
  if (w) {
    const wp = join(at, 'warmup');
    strictKeys(c, w, ['duration', 'minimumPercent', 'aggression'], wp);
    warmup = istioDuration(c, w, 'duration', wp);
    if (w.duration === undefined) c.error(join(wp, 'duration'), 'is required');
    num(c, w, 'minimumPercent', wp, 0, 100);
    num(c, w, 'aggression', wp, 0, Number.MAX_VALUE);
    unsupported(c, w, ['minimumPercent', 'aggression'], wp);
  }
  unsupported(c, lb, ['zoneAwareLbSetting'], at, 'use localityLbSetting');
  return {
    ...(simple !== undefined && simple !== 'UNSPECIFIED' ? { simple } : {}),
    ...(hash ? { consistentHash: hash } : {}),
    ...(locality ? { localityLbSetting: locality } : {}),
    ...(warmup !== undefined ? { warmupDurationMs: warmup } : {}),
  };
}

function connectionPool(c: Checker, p: Raw, at: string): ConnectionPoolSettings {
  strictKeys(c, p, ['tcp', 'http'], at);
  const t = record(c, p, 'tcp', at);
  const h = record(c, p, 'http', at);
  if (!t && !h) c.error(at, 'must set tcp, http or both');
  let tcp: ConnectionPoolSettings['tcp'];
  if (t) {
    const tp = join(at, 'tcp');
    strictKeys(c, t, ['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout'], tp);
    const ka = record(c, t, 'tcpKeepalive', tp);
    let tcpKeepalive: NonNullable<ConnectionPoolSettings['tcp']>['tcpKeepalive'];
    if (ka) {
      const kp = join(tp, 'tcpKeepalive');
      strictKeys(c, ka, ['probes', 'time', 'interval'], kp);
      const probes = int(c, ka, 'probes', kp, 0, INT32);
      const time = istioDuration(c, ka, 'time', kp);
      const interval = istioDuration(c, ka, 'interval', kp);
      tcpKeepalive = { ...(probes !== undefined ? { probes } : {}), ...(time !== undefined ? { timeMs: time } : {}), ...(interval !== undefined ? { intervalMs: interval } : {}) };
    }
    const entries = {
      maxConnections: int(c, t, 'maxConnections', tp, 0, INT32),
      connectTimeoutMs: istioDuration(c, t, 'connectTimeout', tp),
      tcpKeepalive,
      maxConnectionDurationMs: istioDuration(c, t, 'maxConnectionDuration', tp),
      idleTimeoutMs: istioDuration(c, t, 'idleTimeout', tp, { allowZero: true }),
    };
    tcp = defined(entries);
  }
  let http: ConnectionPoolSettings['http'];
  if (h) {
    const hp = join(at, 'http');
    strictKeys(c, h, ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout',
      'h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams', 'http2KeepAlive'], hp);
    const entries = {
      http1MaxPendingRequests: int(c, h, 'http1MaxPendingRequests', hp, 0, INT32),
      http2MaxRequests: int(c, h, 'http2MaxRequests', hp, 0, INT32),
      maxRequestsPerConnection: int(c, h, 'maxRequestsPerConnection', hp, 0, INT32),
      maxRetries: int(c, h, 'maxRetries', hp, 0, INT32),
      idleTimeoutMs: istioDuration(c, h, 'idleTimeout', hp),
      h2UpgradePolicy: oneOf(c, h, 'h2UpgradePolicy', hp, ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']),
      useClientProtocol: bool(c, h, 'useClientProtocol', hp),
      maxConcurrentStreams: int(c, h, 'maxConcurrentStreams', hp, 0, INT32),
    };
    if (entries.h2UpgradePolicy === 'UPGRADE' && entries.useClientProtocol === true) c.error(hp, 'useClientProtocol must not be true with h2UpgradePolicy UPGRADE');
    unsupported(c, h, ['http2KeepAlive'], hp);
    http = defined(entries);
  }
  return { ...(tcp ? { tcp } : {}), ...(http ? { http } : {}) };
}

/** Drops the undefined entries of a record of optional fields. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function outlier(c: Checker, o: Raw, at: string): OutlierDetection {
  strictKeys(c, o, ['consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures', 'splitExternalLocalOriginErrors',
    'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent', 'consecutiveErrors', 'outlierDetectionHttpErrorCodes'], at);
  const v = defined({
    consecutive5xxErrors: int(c, o, 'consecutive5xxErrors', at, 0, INT32),
    consecutiveGatewayErrors: int(c, o, 'consecutiveGatewayErrors', at, 0, INT32),
    consecutiveLocalOriginFailures: int(c, o, 'consecutiveLocalOriginFailures', at, 0, INT32),
    splitExternalLocalOriginErrors: bool(c, o, 'splitExternalLocalOriginErrors', at),
    intervalMs: istioDuration(c, o, 'interval', at),
    baseEjectionTimeMs: istioDuration(c, o, 'baseEjectionTime', at),
    maxEjectionPercent: int(c, o, 'maxEjectionPercent', at, 0, 100),
    minHealthPercent: int(c, o, 'minHealthPercent', at, 0, 100),
  });
  if ((v.consecutiveLocalOriginFailures ?? 0) > 0 && v.splitExternalLocalOriginErrors !== true) {
    c.error(join(at, 'consecutiveLocalOriginFailures'), 'requires splitExternalLocalOriginErrors: true');
  }
  if (o.consecutiveErrors !== undefined) {
    int(c, o, 'consecutiveErrors', at, 0, INT32);
    c.warn(join(at, 'consecutiveErrors'), 'deprecated and not supported by meshd; ignored (use consecutive5xxErrors or consecutiveGatewayErrors)');
  }
  unsupported(c, o, ['outlierDetectionHttpErrorCodes'], at);
  return v;
}

function tls(c: Checker, t: Raw, at: string): ClientTlsSettings | undefined {
  strictKeys(c, t, ['mode', 'clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify', 'caCrl'], at);
  const mode = oneOf(c, t, 'mode', at, ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']) ?? (t.mode === undefined ? 'DISABLE' : undefined);
  const v = {
    clientCertificate: str(c, t, 'clientCertificate', at),
    privateKey: str(c, t, 'privateKey', at),
    caCertificates: str(c, t, 'caCertificates', at),
    credentialName: str(c, t, 'credentialName', at),
    sni: str(c, t, 'sni', at),
    insecureSkipVerify: bool(c, t, 'insecureSkipVerify', at),
  };
  const sans = strings(c, t, 'subjectAltNames', at) ?? [];
  unsupported(c, t, ['caCrl'], at);
  if (v.credentialName !== undefined) c.warn(join(at, 'credentialName'), 'not supported by meshd (it reads no Kubernetes Secrets for sidecars); use clientCertificate/privateKey/caCertificates file paths');
  if (mode === 'MUTUAL' && v.credentialName === undefined) {
    if (v.clientCertificate === undefined) c.error(join(at, 'clientCertificate'), 'is required for MUTUAL');
    if (v.privateKey === undefined) c.error(join(at, 'privateKey'), 'is required for MUTUAL');
  }
  if (v.credentialName !== undefined && (v.clientCertificate ?? v.privateKey ?? v.caCertificates) !== undefined) c.error(at, 'set either credentialName or the certificate files, not both');
  if (v.insecureSkipVerify === true && (v.caCertificates !== undefined || sans.length > 0)) c.error(join(at, 'insecureSkipVerify'), 'cannot be combined with caCertificates or subjectAltNames');
  if ((mode === 'ISTIO_MUTUAL' || mode === 'DISABLE') && (v.clientCertificate ?? v.privateKey ?? v.caCertificates) !== undefined) {
    c.warn(at, `certificate files are ignored with mode ${mode}${mode === 'ISTIO_MUTUAL' ? ' (the mesh identity is used)' : ''}`);
  }
  if (mode === undefined) return undefined;
  return { mode, ...defined(v), subjectAltNames: [...sans].sort() };
}

/** One level of policy (top, port or subset) without portLevelSettings. */
export function portPolicy(c: Checker, p: Raw, at: string, extra: readonly string[]): PortTrafficPolicy {
  strictKeys(c, p, ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', ...extra], at);
  const od = record(c, p, 'outlierDetection', at);
  const lb = record(c, p, 'loadBalancer', at);
  const cp = record(c, p, 'connectionPool', at);
  const t = record(c, p, 'tls', at);
  const tv = t ? tls(c, t, join(at, 'tls')) : undefined;
  return {
    ...(lb ? { loadBalancer: loadBalancer(c, lb, join(at, 'loadBalancer'), od !== undefined) } : {}),
    ...(cp ? { connectionPool: connectionPool(c, cp, join(at, 'connectionPool')) } : {}),
    ...(od ? { outlierDetection: outlier(c, od, join(at, 'outlierDetection')) } : {}),
    ...(tv ? { tls: tv } : {}),
  };
}

/** A TrafficPolicy with its portLevelSettings (sorted by port, ports unique). */
export function trafficPolicy(c: Checker, p: Raw, at: string): TrafficPolicy {
  const top = portPolicy(c, p, at, ['portLevelSettings', 'proxyProtocol', 'tunnel', 'retryBudget']);
  unsupported(c, p, ['proxyProtocol', 'tunnel', 'retryBudget'], at);
  if (Object.keys(p).length === 0) c.error(at, 'must set at least one field');
  const ports: { port: number; policy: PortTrafficPolicy }[] = [];
  for (const { item, path } of records(c, p, 'portLevelSettings', at)) {
    const pol = portPolicy(c, item, path, ['port']);
    const pr = record(c, item, 'port', path, true);
    let n: number | undefined;
    if (pr) {
      strictKeys(c, pr, ['number'], join(path, 'port'));
      n = c.port(pr.number, join(join(path, 'port'), 'number'));
      if (pr.number === undefined) c.error(join(join(path, 'port'), 'number'), 'is required');
    }
    if (Object.keys(item).filter((k) => k !== 'port').length === 0) c.error(path, 'must set at least one of loadBalancer, connectionPool, outlierDetection, tls');
    if (n !== undefined && ports.some((x) => x.port === n)) c.error(join(join(path, 'port'), 'number'), `port ${n} has settings twice`);
    else if (n !== undefined) ports.push({ port: n, policy: pol });
  }
  return { ...top, portLevelSettings: ports.sort((a, b) => a.port - b.port) };
}
