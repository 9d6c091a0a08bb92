import { Container, type ContainerUpload } from "@cdktf/provider-docker/lib/container/index.js";
import { Image } from "@cdktf/provider-docker/lib/image/index.js";
import { Network } from "@cdktf/provider-docker/lib/network/index.js";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider/index.js";
import { AssetType, LocalBackend, TerraformAsset, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { renderBootstrapScript } from "../bootstrap/bootstrap-script.js";
import { sha256Hex } from "../bootstrap/agent-bundle.js";
import { LOCAL_NODE_PATHS } from "../bootstrap/local-node-image.js";
import type { GitConfig } from "../config/git-config.js";
import type { LocalTarget } from "../config/types.js";
import { validateLocalTarget } from "../config/validate.js";
import { FleetManifestPublisher } from "../constructs/fleet-manifest.js";
import { HostKeys } from "../constructs/host-keys.js";

export interface LocalFleetStackProps {
  readonly env: LocalTarget;
  readonly git: GitConfig;
  readonly agent: { readonly sha256: string };
  /** Packed projects bundle (see writeProjectsBundle), uploaded beside the users file. @default - no projects: nodes sync users only */
  readonly projects?: { readonly path: string; readonly sha256: string };
  /** Docker build context with the Dockerfile and agent.tar.gz (see writeNodeImageContext). */
  readonly imageContext: string;
}

/**
 * A laptop fleet on the Docker provider: one network and N privileged node containers, each running
 * sshd, its own dockerd and the node daemon, set up by the same bootstrap script as a cloud node
 * (sources are files in the container instead of S3/SSM). Node i listens on 127.0.0.1:basePort+i.
 */
export class LocalFleetStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: LocalFleetStackProps) {
    super(scope, id);
    const { env, git } = props;
    validateLocalTarget(env);
    const count = env.nodeCount ?? 2;
    const basePort = env.basePort ?? 2201;
    const prefix = `podspawn-${env.fleet}-${env.environment}`;

    new DockerProvider(this, "docker", {});
    new LocalBackend(this, { path: `terraform.${id}.tfstate` });
    const image = new Image(this, "node-image", {
      name: `${prefix}-node:${props.agent.sha256.slice(0, 12)}`,
      buildAttribute: { context: props.imageContext, dockerfile: "Dockerfile" },
      keepLocally: false,
    });
    const network = new Network(this, "network", { name: `${prefix}-net`, driver: "bridge" });
    const names = Array.from({ length: count }, (_, i) => `node-${i + 1}`);
    const hostKeys = new HostKeys(this, "host-keys", { nodes: names.map((name) => ({ name })) });
    const users = JSON.stringify(git.users, null, 2) + "\n";
    const usersSha = sha256Hex(users);
    const projects = props.projects ? this.projectsUpload(props.projects) : null;
    names.forEach((name, i) => {
      const key = hostKeys.keys.get(name);
      if (!key?.privateKeyOpenssh) throw new Error(`host key for ${name} was not created`);
      const bootstrap = renderBootstrapScript({
        instance: "podspawn",
        node: name,
        agentPointerUrl: `file://${LOCAL_NODE_PATHS.agentPointer}`,
        agentBaseUrl: `file://${LOCAL_NODE_PATHS.agentDir}`,
        usersPointerUrl: `file://${LOCAL_NODE_PATHS.usersPointer}`,
        usersBaseUrl: `file://${LOCAL_NODE_PATHS.usersDir}`,
        ...(projects ? { projectsPointerUrl: `file://${LOCAL_NODE_PATHS.projectsPointer}`, projectsBaseUrl: `file://${LOCAL_NODE_PATHS.projectsDir}` } : {}),
        statusUrl: `file://${LOCAL_NODE_PATHS.status}`,
        hostKeyUrl: `file://${LOCAL_NODE_PATHS.hostKey}`,
        sshdPidFile: "/run/sshd.pid",
        syncIntervalSeconds: env.syncIntervalSeconds ?? 60,
        ...(env.acceptRuncAdvisories ? { acceptRuncAdvisories: env.acceptRuncAdvisories } : {}),
        // No metadata service on a laptop, but the rule is harmless and keeps one code path.
        blockMetadata: true,
      });
      new Container(this, name, {
        name: `${prefix}-${name}`,
        hostname: name,
        image: image.imageId,
        privileged: true,
        restart: "unless-stopped",
        networksAdvanced: [{ name: network.name }],
        ports: [{ internal: 22, external: basePort + i, ip: "127.0.0.1" }],
        upload: [
          { file: LOCAL_NODE_PATHS.bootstrap, content: bootstrap, executable: true },
          { file: `${LOCAL_NODE_PATHS.usersDir}${usersSha}.json`, content: users, permissions: "0600" },
          { file: LOCAL_NODE_PATHS.usersPointer, content: `${usersSha}\n`, permissions: "0600" },
          ...(projects ?? []),
          { file: LOCAL_NODE_PATHS.hostKey, content: key.privateKeyOpenssh, permissions: "0600" },
        ],
      });
    });
    new FleetManifestPublisher(this, "manifest", {
      fleet: env.fleet,
      domain: env.clientDomain ?? "pod",
      nodes: names.map((name, i) => ({ name, address: "127.0.0.1", port: basePort + i, hostKeys: [hostKeys.keys.get(name)?.publicKey as string] })),
    });
  }

  /** The bundle as an asset of the stack (binary, so a file rather than content) and its pointer, the way the users file ships. */
  private projectsUpload(bundle: { readonly path: string; readonly sha256: string }): ContainerUpload[] {
    const asset = new TerraformAsset(this, "projects-bundle", { path: bundle.path, type: AssetType.FILE, assetHash: bundle.sha256 });
    return [
      { file: `${LOCAL_NODE_PATHS.projectsDir}${bundle.sha256}.tar`, source: asset.path, sourceHash: bundle.sha256, permissions: "0600" },
      { file: LOCAL_NODE_PATHS.projectsPointer, content: `${bundle.sha256}\n`, permissions: "0600" },
    ];
  }
}
