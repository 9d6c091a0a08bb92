/**
 * The OpenSSH the node needs: sk- (FIDO) user keys and `restrict` need 8.2; `Include` drop-ins,
 * `DisableForwarding` and `ExposeAuthInfo` are older still.
 */
export const MIN_OPENSSH = { major: 8, minor: 2 } as const;

export interface OpenSshVersion {
  readonly major: number;
  readonly minor: number;
  readonly text: string;
}

/** From `sshd -V` / `ssh -V` output: `OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL ...`. */
export function parseOpenSshVersion(output: string): OpenSshVersion | null {
  const m = /OpenSSH_(\d+)\.(\d+)(p\d+)?/.exec(output);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), text: m[0] };
}

export function isSupportedOpenSsh(v: OpenSshVersion): boolean {
  return v.major > MIN_OPENSSH.major || (v.major === MIN_OPENSSH.major && v.minor >= MIN_OPENSSH.minor);
}
