import { connect } from "node:net";

/** Send `data` over a TCP connection to 127.0.0.1:port, half-close, and collect the answer until EOF. */
export function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => {
      s.end();
      resolve(Buffer.concat(chunks));
    });
    s.on("error", reject);
    s.end(data);
  });
}
