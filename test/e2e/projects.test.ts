/**
 * Projects over real ssh: a registered project's login lands in the image its Podfile builds, an
 * unknown one is refused before anything exists, a cold project's first login builds with its
 * progress on stderr while scp's bytes stay exact (over the legacy protocol and over sftp), and rsync works both ways in the default
 * environment (whose image, the default Podfile, carries rsync).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerLines, runCommand } from "../../scripts/local-node.js";
import { daemonLog, INSTANCE, PORT, startNode, type NodeHandle } from "./harness.js";

const USER = "e2e-proj";
let node: NodeHandle;
let work: string;
/** Makes the cold project's Podfile new on every run, so its first login really has to build. */
const nonce = randomBytes(6).toString("hex");
const COLD = "cold";

before(async () => {
  node = await startNode([USER]);
  work = await mkdtemp(join(tmpdir(), "podspawn-e2e-projects-"));
});
after(async () => {
  await node?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  // The cold image is unique to this run: leave no tag of it behind.
  for (const repo of [COLD, `${COLD}-sftp`]) for (const ref of dockerLines(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", `podspawn/${repo}`])) await runCommand("docker", ["rmi", ref]);
});

async function addPodfileProject(name: string, podfile: string): Promise<void> {
  const file = join(work, `${name}.yaml`);
  await writeFile(file, podfile);
  const r = await node.podspawn(["add-project", name, "--podfile", file]);
  assert.equal(r.code, 0, r.stderr);
}

/** The image a container was created from, by the docker CLI (an independent view). */
function imageOf(container: string): string {
  return dockerLines(["inspect", "--format", "{{.Config.Image}}", container])[0] ?? "";
}

/** scp/rsync take the port differently from ssh: everything else of node.sshArgs, as `-o` options. */
function transportArgs(): string[] {
  const args = node.sshArgs(USER);
  const port = args.indexOf("-p");
  return args.filter((_, i) => i !== port && i !== port + 1);
}

describe("project selection over ssh", () => {
  it("a project's login lands in the image its Podfile built (marker from extra_commands)", async () => {
    await addPodfileProject("marked", "base: podspawn/default:bookworm\nextra_commands:\n  - echo podfile-marker-ok > /etc/podspawn-marker\n");
    const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=marked", "cat /etc/podspawn-marker; hostname"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "podfile-marker-ok\nmarked\n");
    assert.match(imageOf(`${INSTANCE}.${USER}.marked`), /^podspawn\/marked:podfile-[0-9a-f]{12}$/);
    // The default environment of the same user is another container, without the marker.
    const d = await node.ssh(USER, ["cat /etc/podspawn-marker 2>/dev/null || echo no-marker"]);
    assert.equal(d.stdout, "no-marker\n", d.stderr);
    assert.equal(imageOf(`${INSTANCE}.${USER}.default`), "podspawn/default:bookworm");
  });

  it("an unknown project is refused with one line naming it, exit 255, and nothing is created", async () => {
    const containers = node.containers();
    const networks = node.networks();
    const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=ghost", "echo should-not-run"]);
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^podspawn: PODSPAWN_PROJECT: no project "ghost" on this node/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.deepEqual(node.containers(), containers);
    assert.deepEqual(node.networks(), networks);
    assert.ok(!node.containers().some((l) => l.startsWith(`${INSTANCE}.${USER}.ghost `)));
  });
});

describe("a cold project: the first login builds", () => {
  const projectImages = (project: string): string[] => dockerLines(["image", "ls", "--format", "{{.Tag}}", `podspawn/${project}`]);

  it("scp -O into it builds the image with progress on stderr while its stdout protocol carries the file exactly", async () => {
    await addPodfileProject(COLD, `base: podspawn/default:bookworm\nextra_commands:\n  - echo ${nonce} > /etc/podspawn-nonce\n`);
    assert.deepEqual(projectImages(COLD), [], "the project's image is not there before the login");
    const payload = randomBytes(300_000);
    const local = join(work, "payload.bin");
    await writeFile(local, payload);
    const opts = [...transportArgs(), "-P", String(PORT), "-o", `SetEnv=PODSPAWN_PROJECT=${COLD}`];
    // The legacy protocol runs over the session's stdout: one stray byte there breaks the copy.
    const up = await runCommand("scp", ["-O", ...opts, local, `${USER}@127.0.0.1:payload.bin`], { timeoutMs: 300_000 });
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, new RegExp(`^podspawn: building environment ${COLD}: step 1/\\d+ : FROM podspawn/default:bookworm$`, "m"), up.stderr);
    assert.ok(up.stderr.split("\n").filter((l) => l !== "").every((l) => l.startsWith(`podspawn: building environment ${COLD}: step `)), up.stderr);
    assert.equal(projectImages(COLD).length, 1, "one image built");
    const check = await node.ssh(USER, ["-o", `SetEnv=PODSPAWN_PROJECT=${COLD}`, "cat /etc/podspawn-nonce; sha256sum < payload.bin"]);
    const sha = (await runCommand("sha256sum", [local])).stdout.split(" ")[0];
    assert.equal(check.stdout, `${nonce}\n${sha}  -\n`, check.stderr);
    assert.equal(check.stderr, "", "a warm login shows no build lines");
    for (const legacy of [[], ["-O"]]) {
      const back = join(work, `back${legacy.join("")}.bin`);
      const down = await runCommand("scp", [...legacy, ...opts, `${USER}@127.0.0.1:payload.bin`, back], { timeoutMs: 60_000 });
      assert.equal(down.code, 0, down.stderr);
      assert.ok((await readFile(back)).equals(payload), `scp ${legacy.join(" ")} download differs`);
    }
  });

  it("scp over sftp into a cold project waits for the build and copies the bytes exactly", async () => {
    const project = `${COLD}-sftp`;
    await addPodfileProject(project, `base: podspawn/default:bookworm\nextra_commands:\n  - echo ${nonce} > /etc/podspawn-nonce-sftp\n`);
    assert.deepEqual(projectImages(project), []);
    const payload = randomBytes(200_000);
    const local = join(work, "payload-sftp.bin");
    await writeFile(local, payload);
    const opts = [...transportArgs(), "-P", String(PORT), "-o", `SetEnv=PODSPAWN_PROJECT=${project}`];
    // OpenSSH's sftp-mode clients (scp's default, sftp) do not show the server's stderr; the
    // progress lines are sent all the same, and nothing of them may reach the sftp stream.
    const up = await runCommand("scp", [...opts, local, `${USER}@127.0.0.1:payload.bin`], { timeoutMs: 300_000 });
    assert.equal(up.code, 0, up.stderr);
    assert.equal(projectImages(project).length, 1, "the login built the image");
    const back = join(work, "back-sftp.bin");
    const down = await runCommand("scp", [...opts, `${USER}@127.0.0.1:payload.bin`, back], { timeoutMs: 60_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.ok((await readFile(back)).equals(payload));
    assert.match(await readFile(daemonLog, "utf8"), new RegExp(`image-built image=podspawn/${project}:podfile-[0-9a-f]{12} environment=${project} `));
  });
});

describe("rsync in the default environment", () => {
  it("copies a tree up and back over ssh, byte for byte", async () => {
    const src = join(work, "tree");
    await mkdir(join(src, "sub"), { recursive: true });
    const files: Record<string, Buffer> = { "a.txt": Buffer.from("alpha\n"), "sub/b.bin": randomBytes(200_000), "sub/empty": Buffer.alloc(0) };
    for (const [p, data] of Object.entries(files)) await writeFile(join(src, p), data);
    const rsh = ["ssh", "-p", String(PORT), ...transportArgs()].join(" ");
    const up = await runCommand("rsync", ["-a", "-e", rsh, `${src}/`, `${USER}@127.0.0.1:tree/`], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, up.stderr);
    const listed = await node.ssh(USER, ["cd tree && find . -type f | sort && sha256sum sub/b.bin"]);
    const sha = (await runCommand("sha256sum", [join(src, "sub/b.bin")])).stdout.split(" ")[0];
    assert.equal(listed.stdout, `./a.txt\n./sub/b.bin\n./sub/empty\n${sha}  sub/b.bin\n`, listed.stderr);
    const dst = join(work, "tree-back");
    const down = await runCommand("rsync", ["-a", "-e", rsh, `${USER}@127.0.0.1:tree/`, `${dst}/`], { timeoutMs: 120_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual((await readdir(dst, { recursive: true })).sort(), ["a.txt", "sub", "sub/b.bin", "sub/empty"]);
    for (const [p, data] of Object.entries(files)) assert.ok((await readFile(join(dst, p))).equals(data), `${p} differs after the round trip`);
  });
});
