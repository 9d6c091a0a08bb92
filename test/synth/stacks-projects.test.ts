import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { Testing } from "cdktf";
import { InputError } from "../../agent/src/core/errors.js";
import { readTarFiles } from "../../agent/src/support/tar.js";
import { buildApp } from "../../infra/src/app.js";
import { AwsFleetStack } from "../../infra/src/stacks/aws-fleet.js";
import { LocalFleetStack } from "../../infra/src/stacks/local-fleet.js";
import { ALICE_KEY, awsEnv, fakeAgent, fakeProjects, GIT, localEnv, resources, synth, type Synthesized } from "./fixtures.js";

const here = dirname(fileURLToPath(import.meta.url));
const agent = await fakeAgent();
const projects = await fakeProjects();
const env = awsEnv({ nodes: [{ name: "node-1" }, { name: "node-2" }] });

function aws(bundle: typeof projects | null = projects): Synthesized {
  return synth(new AwsFleetStack(Testing.app(), "aws-test", { env, git: GIT, agent, ...(bundle ? { projects: bundle } : {}) })).json;
}

const objects = (j: Synthesized) => resources(j, "aws_s3_object");
const scripts = (j: Synthesized) => resources(j, "aws_instance").map((i) => gunzipSync(Buffer.from(String(i["user_data_base64"]), "base64")).toString());

describe("aws-fleet stack with a projects bundle", () => {
  const json = aws();

  it("ships the bundle as an object named by its sha256, behind a pointer written after it", () => {
    const bundle = objects(json).find((o) => o["key"] === `config/projects-${projects.sha256}.tar`);
    assert.ok(bundle, "the bundle object");
    assert.match(String(bundle["source"]), new RegExp(`^assets/projects_bundle_\\w+/${projects.sha256}/projects-${projects.sha256}\\.tar$`));
    assert.equal(bundle["content_type"], "application/x-tar");
    const pointer = objects(json).find((o) => o["key"] === "config/projects.sha256");
    assert.equal(pointer?.["content"], `${projects.sha256}\n`);
    assert.match((pointer?.["depends_on"] as string[]).join(","), /^aws_s3_object\.projects_object_\w+$/);
  });

  it("points every node at the projects pointer, and lets it read the bundles and that pointer", () => {
    for (const script of scripts(json)) {
      assert.ok(script.includes("PROJECTS_POINTER_URL='s3://acme-podspawn-test/config/projects.sha256'"));
      assert.ok(script.includes("PROJECTS_BASE_URL='s3://acme-podspawn-test/config/projects-'"));
      assert.ok(!script.includes(projects.sha256), "no bundle hash in user-data");
    }
    const reads = Object.entries(json.data["aws_iam_policy_document"] ?? {}).filter(([k]) => k.includes("_reads_")).map(([, v]) => v as { statement: Record<string, unknown>[] });
    assert.equal(reads.length, 2);
    for (const d of reads) {
      const get = d.statement.find((s) => (s["actions"] as string[]).includes("s3:GetObject"));
      assert.deepEqual(get?.["resources"], ["arn:aws:s3:::acme-podspawn-test/agent/*", "arn:aws:s3:::acme-podspawn-test/config/users-*", "arn:aws:s3:::acme-podspawn-test/config/users.sha256", "arn:aws:s3:::acme-podspawn-test/config/projects-*", "arn:aws:s3:::acme-podspawn-test/config/projects.sha256"]);
    }
  });

  it("orders every instance after the bundle and its pointer", () => {
    for (const inst of resources(json, "aws_instance")) {
      const deps = (inst["depends_on"] as string[]).join(" ");
      assert.match(deps, /aws_s3_object\.projects_object_\w+/);
      assert.match(deps, /aws_s3_object\.projects_pointer_\w+/);
    }
  });

  it("keeps user-data byte-identical when the projects change: the pointer is followed at run time", async () => {
    const other = await fakeProjects("2");
    assert.notEqual(other.sha256, projects.sha256);
    const after = aws(other);
    assert.deepEqual(resources(after, "aws_instance").map((i) => i["user_data_base64"]), resources(json, "aws_instance").map((i) => i["user_data_base64"]));
    assert.equal(objects(after).find((o) => o["key"] === "config/projects.sha256")?.["content"], `${other.sha256}\n`);
  });

  it("without a bundle: no projects object, pointer, permission or script line (the users-only node of before)", () => {
    const none = aws(null);
    assert.ok(objects(none).every((o) => !String(o["key"]).includes("projects")));
    assert.ok(!JSON.stringify(none.data).includes("projects"));
    for (const script of scripts(none)) assert.doesNotMatch(script, /projects/i);
  });
});

describe("local-fleet stack with a projects bundle", () => {
  const json = synth(new LocalFleetStack(Testing.app(), "local-test", { env: localEnv({ nodeCount: 2 }), git: GIT, agent, imageContext: "/ctx", projects })).json;

  it("uploads the bundle and its pointer into every node, beside the users file, and the script follows that pointer", () => {
    for (const c of resources(json, "docker_container")) {
      const upload = c["upload"] as Record<string, unknown>[];
      const bundle = upload.find((u) => u["file"] === `/etc/podspawn-fleet/projects/${projects.sha256}.tar`);
      assert.match(String(bundle?.["source"]), new RegExp(`^assets/projects-bundle/${projects.sha256}/projects-${projects.sha256}\\.tar$`));
      assert.equal(bundle?.["source_hash"], projects.sha256);
      assert.equal(bundle?.["permissions"], "0600");
      assert.equal(upload.find((u) => u["file"] === "/etc/podspawn-fleet/projects/current.sha256")?.["content"], `${projects.sha256}\n`);
      const script = String(upload.find((u) => u["file"] === "/etc/podspawn-fleet/bootstrap.sh")?.["content"]);
      assert.ok(script.includes("PROJECTS_POINTER_URL='file:///etc/podspawn-fleet/projects/current.sha256'"));
      assert.ok(script.includes("PROJECTS_BASE_URL='file:///etc/podspawn-fleet/projects/'"));
    }
  });
});

describe("the app and projects.yaml", () => {
  const bundleDir = dirname(agent.path).replace(/\/out$/, "");

  function configRepo(projectsYaml: string | null, podfiles: Record<string, string> = {}): string {
    const root = mkdtempSync(join(tmpdir(), "podspawn-app-projects-"));
    mkdirSync(join(root, "infra", "config"), { recursive: true });
    writeFileSync(join(root, "infra", "config", "users.yaml"), `version: 1\nusers:\n  - name: alice\n    keys:\n      - ${ALICE_KEY}\n`);
    if (projectsYaml !== null) writeFileSync(join(root, "infra", "config", "projects.yaml"), projectsYaml);
    for (const [path, text] of Object.entries(podfiles)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  async function stackOf(root: string): Promise<Synthesized> {
    const outdir = join(root, "cdktf.out");
    (await buildApp({ targets: [awsEnv()], root, bundleDir, outdir, imageKit: false })).synth();
    return JSON.parse(readFileSync(join(outdir, "stacks", "aws-test", "cdk.tf.json"), "utf8")) as Synthesized;
  }

  it("ships the repository's own projects.yaml with the Podfiles it names", async () => {
    const root = join(here, "..", "..", "..");
    const dir = mkdtempSync(join(tmpdir(), "podspawn-app-real-"));
    (await buildApp({ targets: [awsEnv()], root, bundleDir, outdir: dir, imageKit: false })).synth();
    const json = JSON.parse(readFileSync(join(dir, "stacks", "aws-test", "cdk.tf.json"), "utf8")) as Synthesized;
    const bundle = objects(json).find((o) => /^config\/projects-[0-9a-f]{64}\.tar$/.test(String(o["key"])));
    assert.ok(bundle, "a projects bundle object");
    const tar = readFileSync(join(dir, "stacks", "aws-test", String(bundle["source"])));
    assert.deepEqual([...(await readTarFiles(tar)).keys()], ["podfiles/minimal.yaml", "podfiles/node.yaml", "projects.yaml"]);
  });

  it("without a projects.yaml, ships no bundle", async () => {
    const json = await stackOf(configRepo(null));
    assert.ok(objects(json).every((o) => !String(o["key"]).includes("projects")));
  });

  it("fails synth of the whole app when projects.yaml names a Podfile that does not exist, with the agent's message", async () => {
    const root = configRepo("version: 1\nprojects:\n  - name: web\n    podfile: podfiles/webapp.yaml\n");
    await assert.rejects(() => stackOf(root), (err: unknown) => err instanceof InputError && err.message === `${join(root, "podfiles/webapp.yaml")}: does not exist (allowed: a Podfile (YAML))`);
  });

  it("fails synth when a Podfile is invalid, naming its file, line and field", async () => {
    const root = configRepo("version: 1\nprojects:\n  - name: web\n    podfile: podfiles/web.yaml\n", { "podfiles/web.yaml": "name: web\nbase: podspawn/default:bookworm\nresources:\n  memory: 1T\n" });
    await assert.rejects(() => stackOf(root), (err: unknown) => err instanceof InputError && err.message.startsWith(`${join(root, "podfiles/web.yaml")}:4: resources.memory:`));
  });
});
