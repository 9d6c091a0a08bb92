import { chmod, lstat, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { CONTENT_TYPE } from "../../support/prometheus-text.js";
import type { MetricsListen } from "../../core/config/node-config.js";

export function describeListen(listen: MetricsListen): string {
  return "path" in listen ? listen.path : listen.host === "::1" ? `[::1]:${listen.port}` : `${listen.host}:${listen.port}`;
}

export interface MetricsServer {
  /** Stop serving (open connections too) and remove the socket file, if any. */
  close(): Promise<void>;
}

/**
 * `GET /metrics` for a Prometheus scraper (config `metrics_listen`), 404 for anything else. The
 * address is loopback or a unix socket (checked by the config parser); a socket is root-only (0600)
 * like the control socket, since metrics reveal activity.
 */
export async function listenMetrics(listen: MetricsListen, render: () => string): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found; try GET /metrics\n");
      return;
    }
    const body = render();
    res.writeHead(200, { "content-type": CONTENT_TYPE, "content-length": Buffer.byteLength(body) }).end(body);
  });
  const isPath = "path" in listen;
  // A stale socket from a previous run goes; anything else at that path is not ours to delete.
  if (isPath && (await lstat(listen.path).catch(() => null))?.isSocket()) await rm(listen.path);
  const oldUmask = isPath ? process.umask(0o177) : null;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (isPath) server.listen(listen.path, resolve);
      else server.listen(listen.port, listen.host, resolve);
    });
  } finally {
    if (oldUmask !== null) process.umask(oldUmask);
  }
  if (isPath) await chmod(listen.path, 0o600);
  return {
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (isPath) await rm(listen.path, { force: true });
    },
  };
}
