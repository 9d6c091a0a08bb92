import type { DeployTarget } from "./config/types.js";

/**
 * The one file a platform team edits: one entry per deploy target (an environment of one kind), each becoming a stack named
 * `<kind>-<environment>` (`aws-prod`, `local-dev`). Users and projects are not here: they live in
 * infra/config/users.yaml and projects.yaml so that access changes are reviewed like code but do
 * not replace nodes.
 */
export const TARGETS: readonly DeployTarget[] = [
  {
    kind: "aws",
    environment: "prod",
    fleet: "example",
    region: "eu-central-1",
    state: { bucket: "example-podspawn-tfstate", region: "eu-central-1" },
    network: { kind: "create", vpcCidr: "10.42.0.0/16", azCount: 2 },
    sshIngressCidrs: ["0.0.0.0/0"],
    nodes: [{ name: "node-1" }, { name: "node-2" }],
    instanceType: "t3.medium",
    // Debian 12 amd64 in eu-central-1; bump deliberately (docs/infrastructure.md "Rolling a change").
    amiId: "ami-0e04bcbe83a83792e",
    deployRoleArn: "arn:aws:iam::123456789012:role/podspawn-deploy",
    terminationProtection: true,
    dns: { zoneId: "Z0000000EXAMPLE", name: "fleet.example.com" },
    artifactBucket: "example-podspawn-prod-artifacts",
    clientDomain: "pod",
    syncIntervalSeconds: 300,
    // Debian 12's newest runc has four escapes open that reach only through images: until you
    // accept them (after weighing them: docs/operations.md "runc advisories") the nodes serve
    // only the default environment, not the projects of infra/config/projects.yaml.
    // acceptRuncAdvisories: ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"],
  },
  {
    kind: "local",
    environment: "dev",
    fleet: "laptop",
    nodeCount: 2,
    basePort: 2201,
  },
];
