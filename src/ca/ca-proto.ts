/** The CA service's messages and a hand-written grpc-js service definition over protobufjs. */
import protobuf from 'protobufjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { MethodDefinition } from '@grpc/grpc-js';
import { projectProtoDir } from '../xds/protos.js';

export interface IstioCertificateRequest {
  readonly csr: string;
  readonly validity_duration: number;
  readonly metadata?: unknown;
}

export interface IstioCertificateResponse {
  readonly cert_chain: readonly string[];
  readonly trust_bundle: readonly string[];
}

let root: protobuf.Root | undefined;

function caRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_o: string, target: string): string => {
    const p = join(projectProtoDir, target);
    return existsSync(p) ? p : target; // google/protobuf/* are built into protobufjs
  };
  r.loadSync('ca.proto', { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

function codec<T extends object>(name: string): { encode(m: T): Buffer; decode(b: Buffer): T } {
  const t = caRoot().lookupType(name);
  return {
    encode: (m) => Buffer.from(t.encode(t.fromObject(m as Record<string, unknown>)).finish()),
    decode: (b) => t.toObject(t.decode(b), { longs: Number, defaults: true, arrays: true }) as T,
  };
}

export const CA_SERVICE_NAME = 'istio.v1.auth.IstioCertificateService';

/** The service definition for grpc-js servers and generic clients. */
export function caServiceDefinition(): { CreateCertificate: MethodDefinition<IstioCertificateRequest, IstioCertificateResponse> } {
  const req = codec<IstioCertificateRequest>('istio.v1.auth.IstioCertificateRequest');
  const res = codec<IstioCertificateResponse>('istio.v1.auth.IstioCertificateResponse');
  return {
    CreateCertificate: {
      path: `/${CA_SERVICE_NAME}/CreateCertificate`,
      requestStream: false,
      responseStream: false,
      requestSerialize: req.encode,
      requestDeserialize: req.decode,
      responseSerialize: res.encode,
      responseDeserialize: res.decode,
    },
  };
}
