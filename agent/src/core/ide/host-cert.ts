import { validateProject } from "../container/project.js";

/**
 * The inner sshd's host certificate. A certificate's principals are exact names (no patterns), and
 * OpenSSH 9.2 expands no tokens in HostKeyAlias, so every container's certificate carries one
 * fixed principal and clients check it under `HostKeyAlias podspawn-ide` with
 * `@cert-authority podspawn-ide <node CA>`. The inner hop only ever travels inside an outer
 * connection that the client verified against the fleet's pinned node keys and that the node
 * routed to the user's own container; the certificate proves the far end is an sshd a podspawn
 * node of this fleet set up, never a key learned on first use.
 */
export const INNER_HOST_PRINCIPAL = "podspawn-ide";

/** Each certificate lasts this long; the daemon issues a new key and certificate when less than a day is left. */
export const HOST_CERT_VALIDITY_MS = 7 * 24 * 3600_000;
export const HOST_CERT_RENEW_BEFORE_MS = 24 * 3600_000;
/** Clock skew between the node and a client: valid from a few minutes before issuing. */
const BACKDATE = "-5m";

export interface HostCertRequest {
  readonly instance: string;
  readonly user: string;
  readonly project: string;
  readonly containerId: string;
}

/** The certificate's key id (`-I`): what sshd logs show and `ssh-keygen -L` prints, nothing secret. */
export function hostCertIdentity(req: HostCertRequest): string {
  if (!/^[0-9A-Za-z]{1,64}$/.test(req.containerId)) throw new Error(`not a container id: ${JSON.stringify(req.containerId)}`);
  return `${req.instance}:${req.user}:${validateProject(req.project, "project")}:${req.containerId.slice(0, 12)}`;
}

/** `ssh-keygen` argv that makes the container's new host key (no passphrase) at `keyFile`. */
export function hostKeygenArgs(keyFile: string, identity: string): string[] {
  return ["-q", "-t", "ed25519", "-N", "", "-C", identity, "-f", keyFile];
}

/** `ssh-keygen` argv that signs `${keyFile}.pub` with the CA as a HOST certificate (`-h`). */
export function hostSignArgs(caKeyFile: string, keyFile: string, identity: string, validityMs = HOST_CERT_VALIDITY_MS): string[] {
  const minutes = Math.ceil(validityMs / 60_000);
  return ["-q", "-s", caKeyFile, "-h", "-I", identity, "-n", INNER_HOST_PRINCIPAL, "-V", `${BACKDATE}:+${minutes}m`, `${keyFile}.pub`];
}

/** The CA's own key: ed25519, no passphrase (the daemon signs unattended; the file is root 0600). */
export function caKeygenArgs(caKeyFile: string, comment: string): string[] {
  return ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", caKeyFile];
}
