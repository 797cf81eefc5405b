/**
 * One watch on `certificates.k8s.io/v1` CertificateSigningRequests (optionally narrowed by a
 * label selector), shared by everything waiting on requests: each event goes to the listeners.
 * The watch opens on first use, reopens when it ends (a watch without resourceVersion starts
 * with every current object, so nothing signed in between is missed), and closes when stopped.
 */

/** The part of the Kubernetes client a watch needs. */
export interface WatchClient {
  stream(path: string, onLine: (line: string) => void, idleTimeoutMs: number): Promise<{ done: Promise<void>; abort: () => void; status: number }>;
}

export const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

export type CsrListener = (csr: Record<string, unknown>) => void;

export class CsrWatch {
  private readonly listeners = new Set<CsrListener>();
  private running = false;
  private stopped = false;
  private abort?: () => void;

  constructor(private readonly client: WatchClient, private readonly labelSelector?: string) {}

  /** Adds a listener (and opens the watch); the returned function removes it. */
  subscribe(fn: CsrListener): () => void {
    this.listeners.add(fn);
    if (!this.running && !this.stopped) void this.loop();
    return () => { this.listeners.delete(fn); };
  }

  stop(): void {
    this.stopped = true;
    this.abort?.();
  }

  private async loop(): Promise<void> {
    this.running = true;
    const q = `watch=true${this.labelSelector ? `&labelSelector=${encodeURIComponent(this.labelSelector)}` : ''}`;
    while (!this.stopped) {
      try {
        const s = await this.client.stream(`${CSR_PATH}?${q}`, (line) => {
          let ev: unknown;
          try { ev = JSON.parse(line); } catch { return; }
          const obj = (ev as { object?: unknown }).object;
          if (typeof obj === 'object' && obj !== null) for (const fn of [...this.listeners]) fn(obj as Record<string, unknown>);
        }, 60_000);
        this.abort = s.abort;
        if (s.status === 200) await s.done.catch(() => undefined);
        else await new Promise((r) => setTimeout(r, 1000));
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    this.running = false;
  }
}
