/**
 * The smallest Proxy-Wasm module Envoy accepts, built byte by byte here: it does nothing, but
 * loading it (as a bootstrap Wasm service) registers Envoy's `wasmcustom` stat namespace, so
 * that the stats access logger's `wasmcustom.istio_requests_total` is printed by
 * `/stats/prometheus` as `istio_requests_total`, the name Istio's dashboards query.
 */

const I32 = 0x7f;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

const vec = (items: readonly number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'latin1')];
const section = (id: number, body: readonly number[]): number[] => [id, ...uleb(body.length), ...body];
const body = (code: readonly number[]): number[] => { const b = [0, ...code, 0x0b]; return [...uleb(b.length), ...b]; };

/**
 * The module: memory, the ABI marker `proxy_abi_version_0_2_1`, an allocator that hands out a
 * fixed scratch area (the host only passes it the plugin's tiny configuration), and the
 * context/start/configure callbacks answering "ok".
 */
export function statsNamespaceWasm(): Buffer {
  // Types: 0 () -> (), 1 (i32) -> i32, 2 (i32, i32) -> (), 3 (i32, i32) -> i32
  const types = vec([[0x60, 0, 0], [0x60, 1, I32, 1, I32], [0x60, 2, I32, I32, 0], [0x60, 2, I32, I32, 1, I32]]);
  const funcs = vec([[0], [1], [2], [3], [3]]);
  const memory = vec([[0x00, 1]]);
  const exp = (n: string, kind: number, idx: number): number[] => [...name(n), kind, ...uleb(idx)];
  const exports = vec([
    exp('memory', 2, 0), exp('proxy_abi_version_0_2_1', 0, 0), exp('malloc', 0, 1), exp('proxy_on_memory_allocate', 0, 1),
    exp('proxy_on_context_create', 0, 2), exp('proxy_on_vm_start', 0, 3), exp('proxy_on_configure', 0, 4),
  ]);
  const i32const = (v: number): number[] => [0x41, ...uleb(v)]; // non-negative values below 2^6 or with bit 6 clear in the last byte
  const code = vec([body([]), body(i32const(1024)), body([]), body(i32const(1)), body(i32const(1))]);
  return Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...section(1, types), ...section(3, funcs), ...section(5, memory), ...section(7, exports), ...section(10, code)]);
}

/** The bootstrap extension that loads the module once per Envoy (a singleton Wasm service). */
export function statsNamespaceExtension(): Record<string, unknown> {
  return {
    name: 'envoy.bootstrap.wasm',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.wasm.v3.WasmService',
      singleton: true,
      config: {
        name: 'meshd.stats_namespace',
        vm_config: { runtime: 'envoy.wasm.runtime.v8', code: { local: { inline_bytes: statsNamespaceWasm().toString('base64') } } },
      },
    },
  };
}
