/**
 * The smallest image the fake engine can make an environment of: root's passwd and group entries
 * (the account plan appends the user's) and a shell; with bash unless `bash: false` (the account
 * then gets /bin/sh).
 */
export function minimalImage(opts: { readonly bash?: boolean } = {}): Map<string, Buffer> {
  return new Map([
    ["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")],
    ["/etc/group", Buffer.from("root:x:0:\n")],
    ["/bin/sh", Buffer.alloc(0)],
    ...(opts.bash === false ? [] : ([["/bin/bash", Buffer.alloc(0)]] as const)),
  ]);
}
