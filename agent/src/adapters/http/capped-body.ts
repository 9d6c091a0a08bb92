/**
 * Reading an HTTP response body from someone else's server (GitHub keys, a published fleet
 * manifest) with a hard size cap: a hostile or broken server must not fill our memory. The
 * declared Content-Length is checked first, then the bytes as they arrive.
 */
export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  constructor(
    readonly maxBytes: number,
    readonly declared?: number,
  ) {
    super(declared !== undefined ? `the response is ${declared} bytes, more than the ${maxBytes}-byte limit` : `the response is more than the ${maxBytes}-byte limit`);
  }
}

export async function readCappedText(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new BodyTooLargeError(maxBytes, declared);
  }
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
