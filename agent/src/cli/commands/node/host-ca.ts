import { hostCaDir, openHostCa } from "../../../adapters/ssh/host-ca.js";
import { INNER_HOST_PRINCIPAL } from "../../../core/ide/host-cert.js";
import { defineCommand, type Command } from "../../command.js";

export const hostCaCommand: Command = defineCommand(
  {
    name: "host-ca",
    summary: "print the node's host CA public key (IDE mode), generating it if missing",
    flags: {
      "known-hosts": { type: "boolean", description: `print it as the client's known_hosts line (@cert-authority ${INNER_HOST_PRINCIPAL} ...)` },
    },
    description: `The node daemon signs each container's inner sshd host key (the IDE mode, podspawn-sshd) with
this CA, kept under the state dir (root 0700, the key 0600; the daemon makes it at start). Publish the
public key in the fleet manifest (nodes[].hostCa) so 'podspawn client-setup --ide' writes it as
'@cert-authority ${INNER_HOST_PRINCIPAL} <key>'; clients then verify inner host keys, never trust on first use.`,
  },
  async ({ flags }, io) => {
    const ca = await openHostCa(hostCaDir(io.layout.stateDir), `podspawn host CA (${io.layout.instance})`);
    io.stdout.write(flags["known-hosts"] ? `@cert-authority ${INNER_HOST_PRINCIPAL} ${ca.publicKey}\n` : `${ca.publicKey}\n`);
    return 0;
  },
);
