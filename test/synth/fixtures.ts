import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TerraformStack as TerraformStackCtor, Testing, type TerraformStack } from "cdktf";
import { writeAgentArtifact } from "../../infra/src/bootstrap/agent-bundle.js";
import { writeProjectsBundle, type ProjectsBundle } from "../../infra/src/bootstrap/projects-bundle.js";
import type { GitConfig } from "../../infra/src/config/git-config.js";
import type { AwsTarget, LocalTarget } from "../../infra/src/config/types.js";
import { parseUsersConfig } from "../../agent/src/core/config/users-config.js";

/** Real key material (throwaway, generated for these tests). */
export const ALICE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ alice@laptop";
export const SAMPLE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

export const DEPLOY_ROLE = "arn:aws:iam::123456789012:role/acme-deploy";

export const GIT: GitConfig = {
  users: parseUsersConfig(`version: 1\nusers:\n  - name: alice\n    keys:\n      - ${ALICE_KEY}\n`, "users.yaml"),
};

/** A packed fake agent: the stacks only need its path and hash. `release` makes another build. */
export function fakeAgent(release = "1"): Promise<{ path: string; sha256: string }> {
  const dir = mkdtempSync(join(tmpdir(), "podspawn-synth-"));
  for (const f of ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"]) writeFileSync(join(dir, f), `// ${f} release ${release}\n`);
  return writeAgentArtifact(dir, join(dir, "out"));
}

/**
 * A packed projects bundle from a small repository: project `web` on podfiles/web.yaml, which
 * extends podfiles/base.yaml. `release` changes web's env, making another bundle.
 */
export function fakeProjects(release = "1"): Promise<ProjectsBundle> {
  const root = mkdtempSync(join(tmpdir(), "podspawn-synth-projects-"));
  mkdirSync(join(root, "podfiles"));
  writeFileSync(join(root, "projects.yaml"), "version: 1\nprojects:\n  - name: default\n  - name: web\n    podfile: podfiles/web.yaml\n");
  writeFileSync(join(root, "podfiles", "base.yaml"), "name: base\nbase: podspawn/default:bookworm\npackages: [curl]\n");
  writeFileSync(join(root, "podfiles", "web.yaml"), `name: web\nextends: ./base.yaml\nenv:\n  RELEASE: "${release}"\n`);
  return writeProjectsBundle({ projectsFile: join(root, "projects.yaml"), podfilesRoot: root }, join(root, "out"));
}

export function awsEnv(overrides: Partial<AwsTarget> = {}): AwsTarget {
  return {
    kind: "aws",
    environment: "test",
    fleet: "acme",
    region: "eu-central-1",
    state: { bucket: "acme-tfstate", region: "eu-central-1" },
    network: { kind: "create" },
    sshIngressCidrs: ["203.0.113.0/24"],
    nodes: [{ name: "node-1" }],
    dns: { zoneId: "Z123", name: "fleet.acme.test" },
    artifactBucket: "acme-podspawn-test",
    amiId: "ami-0123456789abcdef0",
    deployRoleArn: DEPLOY_ROLE,
    ...overrides,
  };
}

export function localEnv(overrides: Partial<LocalTarget> = {}): LocalTarget {
  return { kind: "local", environment: "test", fleet: "laptop", nodeCount: 2, ...overrides };
}

export interface Synthesized {
  readonly resource: Record<string, Record<string, Record<string, unknown>>>;
  readonly data: Record<string, Record<string, Record<string, unknown>>>;
  readonly output: Record<string, { value: unknown }>;
  readonly terraform: Record<string, unknown>;
  readonly provider: Record<string, unknown>;
}

export function synth(stack: TerraformStack): { text: string; json: Synthesized } {
  const text = Testing.synth(stack);
  const parsed = JSON.parse(text) as Partial<Synthesized>;
  return { text, json: { resource: {}, data: {}, output: {}, terraform: {}, provider: {}, ...parsed } };
}

/** All resources of one type, by logical id. */
export function resources(json: Synthesized, type: string): Record<string, unknown>[] {
  return Object.values(json.resource[type] ?? {});
}

/** A bare stack to place one construct in. */
export function bareStack(): TerraformStack {
  return new TerraformStackCtor(Testing.app(), "test");
}
