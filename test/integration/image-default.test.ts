// The images scripts/build-image.ts makes without a registry, checked against the real engine.
// Runs the real script: the first run may be cold (debootstrap, ~35 s here), later ones are no-ops.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFile, cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runCommand, type CommandResult } from "../../scripts/local-node.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BUILD_SCRIPT = join(REPO_ROOT, "dist", "scripts", "build-image.js");
const DEFAULT = "podspawn/default:bookworm";
const BUSYBOX = "podspawn/busybox:test";
const POSTGRES = "podspawn/postgres:15-bookworm";

function buildImage(args: readonly string[] = []): Promise<CommandResult> {
  return runCommand(process.execPath, [BUILD_SCRIPT, ...args], { timeoutMs: 600_000 });
}

async function imageId(ref: string): Promise<string> {
  const r = await runCommand("docker", ["image", "inspect", "--format", "{{.Id}}", ref]);
  assert.equal(r.code, 0, `${ref} missing: ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs a /bin/sh script in a throwaway container of `image`. */
function inImage(image: string, script: string): Promise<CommandResult> {
  return runCommand("docker", ["run", "--rm", "--network", "none", image, "/bin/sh", "-c", script], { timeoutMs: 60_000 });
}

// A cold first build (debootstrap) takes ~50 s here; the bound stays inside the per-file --test-timeout (180 s).
void describe("podspawn images built without a registry", { timeout: 170_000 }, () => {
  before(async () => {
    const r = await buildImage();
    assert.equal(r.code, 0, `build-image failed:\n${r.stderr}`);
  });

  void it("the default image has bash, git and the sftp-server, and no sudo", async () => {
    const r = await inImage(
      DEFAULT,
      [
        "test -x /bin/bash && echo bash=yes",
        "git --version >/dev/null && echo git=yes",
        "test -x /usr/lib/openssh/sftp-server && echo sftp=yes",
        "test -e /usr/bin/sudo || echo sudo=absent",
        "dpkg-query -W sudo >/dev/null 2>&1 || echo sudo-pkg=absent",
        "ps -o pid= -p 1 >/dev/null && echo procps=yes",
        "test -r /etc/ssl/certs/ca-certificates.crt && echo ca=yes",
      ].join("; "),
    );
    assert.equal(r.code, 0, r.stderr);
    for (const want of ["bash=yes", "git=yes", "sftp=yes", "sudo=absent", "sudo-pkg=absent", "procps=yes", "ca=yes"]) {
      assert.match(r.stdout, new RegExp(`^${want}$`, "m"), `missing ${want} in:\n${r.stdout}`);
    }
  });

  void it("the default image carries what users expect over ssh, and sshd without host keys or a service", async () => {
    const r = await inImage(
      DEFAULT,
      [
        "for p in rsync ssh curl less vi ps git; do command -v $p >/dev/null && echo $p=yes; done",
        "test -x /usr/sbin/sshd && echo sshd=yes",
        "ls /etc/ssh/ssh_host_* >/dev/null 2>&1 || echo hostkeys=absent",
        "test -e /etc/init.d/ssh || test -e /lib/systemd/system/ssh.service || echo service=absent",
        'echo "lang=$LANG"',
      ].join("; "),
    );
    assert.equal(r.code, 0, r.stderr);
    for (const want of ["rsync=yes", "ssh=yes", "curl=yes", "less=yes", "vi=yes", "ps=yes", "git=yes", "sshd=yes", "hostkeys=absent", "service=absent", "lang=C.UTF-8"]) {
      assert.match(r.stdout, new RegExp(`^${want}$`, "m"), `missing ${want} in:\n${r.stdout}`);
    }
  });

  void it("the default image is its Podfile's build: also tagged with the Podfile's content tag", async () => {
    const r = await runCommand("docker", ["image", "ls", "--format", "{{.Tag}} {{.ID}}", "podspawn/default"]);
    const tags = new Map(r.stdout.trim().split("\n").map((l) => l.split(" ") as [string, string]));
    const podfileTags = [...tags.keys()].filter((t) => /^podfile-[0-9a-f]{12}$/.test(t));
    assert.equal(podfileTags.length, 1, r.stdout);
    assert.equal(tags.get(podfileTags[0] as string), tags.get("bookworm"));
  });

  void it("the postgres service image runs as postgres, has the server and no setuid programs", async () => {
    const user = await runCommand("docker", ["image", "inspect", "--format", "{{.Config.User}}", POSTGRES]);
    assert.equal(user.stdout.trim(), "postgres");
    // Its entrypoint starts the server; look inside with a root shell instead (find reads everything).
    const r = await runCommand("docker", ["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", "--user", "0", POSTGRES, "-c", "test -x /usr/lib/postgresql/15/bin/postgres && echo server=yes; find / -xdev -type f -perm /6000"], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["server=yes"]);
  });

  void it("the default image creates nothing user-specific and has no setuid programs", async () => {
    const r = await inImage(DEFAULT, "awk -F: '$3 >= 1000 && $3 < 65534' /etc/passwd; ls -A /home; find / -xdev -type f -perm /6000");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "", `expected no users, homes or setuid files, got:\n${r.stdout}`);
  });

  void it("the busybox test image has a shell but neither bash nor an sftp-server", async () => {
    const r = await inImage(BUSYBOX, "echo sh=yes; test -e /bin/bash || echo bash=absent; test -e /usr/lib/openssh/sftp-server || echo sftp=absent; id -u");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["sh=yes", "bash=absent", "sftp=absent", "0"]);
  });

  void it("a second build with unchanged inputs rebuilds nothing", async () => {
    const before = [await imageId(DEFAULT), await imageId(POSTGRES), await imageId(BUSYBOX)];
    const t0 = performance.now();
    const r = await buildImage();
    const ms = performance.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^podspawn\/default:bookworm image up to date/m);
    assert.match(r.stdout, /^podspawn\/postgres:15-bookworm image up to date/m);
    assert.match(r.stdout, /^podspawn\/busybox:test image up to date/m);
    assert.doesNotMatch(r.stderr, /debootstrap|building environment|docker import/);
    assert.deepEqual([await imageId(DEFAULT), await imageId(POSTGRES), await imageId(BUSYBOX)], before);
    assert.ok(ms < 10_000, `a no-op build took ${Math.round(ms)} ms`);
  });

  void describe("a changed build context", () => {
    const tag = "podspawn/imagetest-changed:test";
    let context = "";
    after(async () => {
      const refs = await runCommand("docker", ["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "podspawn/imagetest-changed"]);
      const list = refs.stdout.split("\n").filter((s) => s !== "");
      if (list.length > 0) await runCommand("docker", ["rmi", ...list]);
      if (context) await rm(context, { recursive: true, force: true });
    });

    void it("rebuilds under a new content tag, then is up to date again", async () => {
      context = await mkdtemp(join(tmpdir(), "podspawn-imagetest-"));
      await cp(join(REPO_ROOT, "podfiles", "busybox-test"), context, { recursive: true });
      // A nonce, so this run's inputs differ from every earlier run's.
      await appendFile(join(context, "Dockerfile"), `LABEL podspawn.test.nonce=${randomBytes(6).toString("hex")}\n`);
      const args = ["--only", "busybox", "--busybox-context", context, "--busybox-tag", tag];

      const first = await buildImage(args);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, new RegExp(`^${tag} built in .* \\(podspawn/imagetest-changed:([0-9a-f]{12})\\)$`, "m"));
      const contentTag = /\((podspawn\/imagetest-changed:[0-9a-f]{12})\)/.exec(first.stdout)?.[1] ?? "";
      assert.equal(await imageId(contentTag), await imageId(tag));
      const unchanged = /\((podspawn\/busybox:[0-9a-f]{12})/.exec((await buildImage(["--only", "busybox"])).stdout)?.[1] ?? "";
      assert.notEqual(contentTag.split(":")[1], unchanged.split(":")[1], "the edited Dockerfile must change the content tag");

      const second = await buildImage(args);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, new RegExp(`^${tag} image up to date \\(${contentTag},`, "m"));
    });
  });
});
