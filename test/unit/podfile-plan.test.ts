import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseNodeConfig } from "../../agent/src/core/config/node-config.js";
import { decideAttach } from "../../agent/src/core/container/attach-decision.js";
import { containerSpec, LABEL } from "../../agent/src/core/container/container-spec.js";
import { nodeResourceCaps, planEnvironment, SERVICE_LABEL, SERVICES_NETWORK_LABEL, type EnvironmentPlan, type PlanContext, type ResolvedPodfile } from "../../agent/src/core/podfile/index.js";
import { CAPS, NODE, resolveText, says, saysLike } from "./helpers/podfile.js";

const lines = (...l: string[]): string => l.join("\n") + "\n";
const CTX: PlanContext = { instance: "podspawn", user: "alice", project: "web", nodeConfig: NODE, caps: CAPS };

async function plan(text: string, ctx: Partial<PlanContext> = {}): Promise<EnvironmentPlan> {
  return planEnvironment((await resolveText(text)).podfile, { ...CTX, ...ctx });
}

describe("environment plan", () => {
  it("uses the base as it is when there is nothing to build", async () => {
    const p = await plan(lines("base: podspawn/default:bookworm", "env: {A: b}", "on_start: echo hi"));
    assert.deepEqual(p.image, { kind: "existing", image: "podspawn/default:bookworm" });
    assert.equal(p.container.image, "podspawn/default:bookworm");
  });

  it("builds an image tagged by content and runs the container on it", async () => {
    const p = await plan(lines("base: podspawn/default:bookworm", "packages: [git]"));
    assert.equal(p.image.kind, "build");
    if (p.image.kind !== "build") return;
    assert.match(p.image.tag, /^podspawn\/web:podfile-[0-9a-f]{12}$/);
    assert.equal(p.image.base, "podspawn/default:bookworm");
    assert.match(p.image.dockerfile, /^FROM podspawn\/default:bookworm$/m);
    assert.equal(p.container.image, p.image.tag);
  });

  it("keeps today's container spec (name, network, hardening, limits) and stamps the whole-plan hash", async () => {
    const p = await plan(lines("base: x", "resources: {cpus: 1.5, memory: 1g}"));
    const today = containerSpec("podspawn", "alice", "web", NODE);
    assert.deepEqual({ ...p.container, labels: {} }, { ...today, image: "x", cpus: 1.5, memoryBytes: 1024 ** 3, labels: {} });
    assert.deepEqual(p.container.labels, { ...today.labels, [LABEL.specHash]: p.specHash });
    assert.deepEqual(p.container.capAdd, []);
  });

  it("takes resources from the node when the Podfile says nothing, and refuses a Podfile above the caps", async () => {
    const p = await plan("base: x\n");
    assert.deepEqual([p.container.cpus, p.container.memoryBytes], [NODE.resources.cpus, NODE.resources.memoryBytes]);
    const podfile: ResolvedPodfile = { ...(await resolveText("base: x\n")).podfile, resources: { cpus: 3, memoryBytes: 4 * 1024 ** 3 } };
    assert.throws(() => planEnvironment(podfile, { ...CTX, caps: nodeResourceCaps(NODE) }), says("resources.cpus: 3 is above this node's cap of 2 CPUs (allowed: at most 2)"));
    assert.throws(() => planEnvironment({ ...podfile, resources: { cpus: 1, memoryBytes: 4 * 1024 ** 3 } }, { ...CTX, caps: nodeResourceCaps(NODE) }), says("resources.memory: 4g is above this node's cap of 2g (allowed: at most 2g)"));
    const tight = await plan("base: x\n", { caps: { cpus: 1, memoryBytes: 1024 ** 3 } });
    assert.deepEqual([tight.container.cpus, tight.container.memoryBytes], [1, 1024 ** 3]);
  });

  it("expands ${PODSPAWN_USER} and ${PODSPAWN_PROJECT} in env, leaves anything else literal, and adds both", async () => {
    const p = await plan(lines("base: x", "env:", "  GREETING: hi ${PODSPAWN_USER} on ${PODSPAWN_PROJECT}, ${PODSPAWN_USER}!", "  OTHER: $HOME ${HOME} ${PODSPAWN_OTHER}", "  ZZ: z"));
    assert.deepEqual(p.session.env, ["GREETING=hi alice on web, alice!", "OTHER=$HOME ${HOME} ${PODSPAWN_OTHER}", "PODSPAWN_PROJECT=web", "PODSPAWN_USER=alice", "ZZ=z"]);
  });

  it("takes shell, workdir and mode from the Podfile, else leaves them to the node", async () => {
    const set = await plan(lines("base: x", "shell: /bin/zsh", "workspace: src/app", "mode: destroy-on-disconnect"));
    assert.deepEqual([set.session.shell, set.session.workdir, set.session.mode], ["/bin/zsh", "src/app", "destroy-on-disconnect"]);
    const unset = await plan("base: x\n", { nodeConfig: parseNodeConfig({ session: { mode: "persistent" } }) });
    assert.deepEqual([unset.session.shell, unset.session.workdir, unset.session.mode], [null, null, "persistent"]);
  });

  it("gives persistent mode a home volume, and keeps service volumes with it", async () => {
    const p = await plan(lines("base: x", "mode: persistent", "services: [{name: db, image: pg, volumes: ['pgdata:/data']}]"));
    assert.equal(p.container.homeVolume?.name, "podspawn.alice.web.home");
    assert.equal(p.services[0]?.volumes[0]?.persistent, true);
    const q = await plan(lines("base: x", "services: [{name: db, image: pg, volumes: ['pgdata:/data']}]"));
    assert.equal(q.container.homeVolume, null);
    assert.equal(q.services[0]?.volumes[0]?.persistent, false);
  });

  it("plans companion services: names, scoped volumes, labels, limits within the main container's, no capabilities, readiness", async () => {
    const p = await plan(lines("base: x", "resources: {cpus: 0.5, memory: 256m}", "services:", "  - name: postgres", "    image: podspawn/postgres:15-bookworm", "    ports: [5432]", "    env: {POSTGRES_DB: '${PODSPAWN_PROJECT}', B: b}", "    volumes: ['pgdata:/var/lib/postgresql/data', 'conf:/etc/x:ro']", "    ready: {port: 5432, timeout: 90s}"));
    assert.deepEqual(p.services, [
      {
        name: "postgres",
        containerName: "podspawn.alice.web.postgres",
        image: "podspawn/postgres:15-bookworm",
        env: ["B=b", "POSTGRES_DB=web"],
        ports: [5432],
        volumes: [
          { name: "podspawn.alice.web.pgdata", target: "/var/lib/postgresql/data", readOnly: false, persistent: false, labels: { "podspawn.managed": "true", "podspawn.instance": "podspawn", "podspawn.user": "alice", "podspawn.project": "web", [SERVICE_LABEL]: "postgres" } },
          { name: "podspawn.alice.web.conf", target: "/etc/x", readOnly: true, persistent: false, labels: { "podspawn.managed": "true", "podspawn.instance": "podspawn", "podspawn.user": "alice", "podspawn.project": "web", [SERVICE_LABEL]: "postgres" } },
        ],
        ready: { port: 5432, timeoutMs: 90_000 },
        ociRuntime: "runc",
        cpus: 0.5,
        memoryBytes: 256 * 1024 ** 2,
        pidsLimit: 256,
        capAdd: [],
        labels: { "podspawn.managed": "true", "podspawn.instance": "podspawn", "podspawn.user": "alice", "podspawn.project": "web", [SERVICE_LABEL]: "postgres", [LABEL.specHash]: p.specHash },
      },
    ]);
    assert.deepEqual(p.servicesNetwork, { name: "podspawn.alice.web.services", labels: { "podspawn.managed": "true", "podspawn.instance": "podspawn", "podspawn.user": "alice", "podspawn.project": "web", [SERVICES_NETWORK_LABEL]: "true" }, internal: true });
  });

  it("caps each service below the main container, and gives gVisor services the pids it needs", async () => {
    const p = await plan(lines("base: x", "services: [{name: db, image: pg}]"));
    assert.deepEqual([p.services[0]?.cpus, p.services[0]?.memoryBytes, p.services[0]?.pidsLimit], [1, 1024 ** 3, 256]);
    const g = await plan(lines("base: x", "services: [{name: db, image: pg}]"), { nodeConfig: parseNodeConfig({ oci_runtime: "runsc" }) });
    assert.deepEqual([g.services[0]?.ociRuntime, g.services[0]?.pidsLimit], ["runsc", 1024]);
  });

  it("has no services network without services", async () => {
    const p = await plan("base: x\n");
    assert.equal(p.servicesNetwork, null);
    assert.deepEqual(p.services, []);
  });

  it("plans the setup: dotfiles into ~/dotfiles, repos under the workspace, hooks in order", async () => {
    const p = await plan(lines("base: x", "workspace: src", "dotfiles: {repo: 'https://x/dot.git', install: ./install.sh}", "repos: [{url: 'https://x/app.git'}, {url: 'git@x:team/lib', path: vendor/lib, branch: v2}, {url: 'https://x/odd%20name.git/'}]", "on_create: [echo 1, echo 2]", "on_start: echo s"));
    assert.deepEqual(p.setup, {
      project: null,
      dotfiles: { repo: "https://x/dot.git", dir: "dotfiles", install: "./install.sh" },
      repos: [
        { url: "https://x/app.git", branch: null, path: "src/app" },
        { url: "git@x:team/lib", branch: "v2", path: "src/vendor/lib" },
        { url: "https://x/odd%20name.git/", branch: null, path: "src/odd-20name" },
      ],
      onCreate: ["echo 1", "echo 2"],
      onStart: ["echo s"],
    });
    const home = await plan(lines("base: x", "repos: [{url: 'https://x/app.git'}]"));
    assert.equal(home.setup.repos[0]?.path, "app");
  });

  it("carries ports", async () => {
    const p = await plan(lines("base: x", "ports: {expose: [3000, 8080], strategy: manual}"));
    assert.deepEqual(p.ports, { expose: [3000, 8080], strategy: "manual" });
  });

  describe("mount: copy", () => {
    const REPO = { url: "git://git.example/web.git", branch: null, commit: "a".repeat(40) };

    it("clones the project's repository at the commit the node read into ~/<project>, where sessions start and repos go", async () => {
      const p = await plan(lines("base: x", "mount: copy", "repos: [{url: 'https://x/lib.git'}]"), { repository: REPO });
      assert.deepEqual(p.setup.project, { url: REPO.url, branch: null, commit: REPO.commit, path: "web" });
      assert.equal(p.session.workdir, "web");
      assert.equal(p.setup.repos[0]?.path, "web/lib");
    });

    it("clones into the Podfile's workspace, on the admin's --branch, else the Podfile's branch", async () => {
      const podfile = lines("base: x", "mount: copy", "workspace: src/app", "branch: dev");
      const own = await plan(podfile, { repository: REPO });
      assert.deepEqual([own.setup.project?.path, own.setup.project?.branch, own.session.workdir], ["src/app", "dev", "src/app"]);
      const asked = await plan(podfile, { repository: { ...REPO, branch: "release" } });
      assert.equal(asked.setup.project?.branch, "release");
    });

    it("recreates containers when the commit moves (update-project), not otherwise", async () => {
      const a = await plan(lines("base: x", "mount: copy"), { repository: REPO });
      const same = await plan(lines("base: x", "mount: copy"), { repository: REPO });
      const moved = await plan(lines("base: x", "mount: copy"), { repository: { ...REPO, commit: "b".repeat(40) } });
      assert.equal(a.specHash, same.specHash);
      assert.notEqual(a.specHash, moved.specHash);
    });

    it("is refused, naming the field, for a project without a repository and for a repository that is a path on the node", async () => {
      const podfile = lines("base: x", "mount: copy");
      await assert.rejects(plan(podfile), saysLike(/^mount: copy clones the project's repository into the workspace, and this project has none .*\(allowed: none; or add the project from its repository: podspawn add-project NAME --repo URL/));
      await assert.rejects(plan(podfile, { repository: { ...REPO, url: "file:///srv/web.git" } }), saysLike(/^mount: copy clones file:\/\/\/srv\/web\.git inside the container, and that is a path on this node/));
      await assert.rejects(plan(podfile, { repository: { ...REPO, url: "/srv/web" } }), saysLike(/^mount: copy clones \/srv\/web inside the container/));
    });

    it("clones nothing with mount: none, repository or not", async () => {
      const p = await plan(lines("base: x", "branch: dev"), { repository: REPO });
      assert.deepEqual([p.setup.project, p.session.workdir], [null, null]);
    });
  });

  it("shows the Podfile's name, else the project's; a rename does not recreate", async () => {
    const named = await plan(lines("base: x", "name: Web app"));
    const unnamed = await plan("base: x\n");
    assert.equal(named.name, "Web app");
    assert.equal(unnamed.name, "web");
    assert.equal(named.specHash, unnamed.specHash);
  });

  it("differs per user and project in names and labels, never in the image tag", async () => {
    const text = lines("base: x", "packages: [git]", "services: [{name: db, image: pg, volumes: ['d:/d']}]");
    const a = await plan(text);
    const b = await plan(text, { user: "bob" });
    assert.notEqual(a.container.name, b.container.name);
    assert.notEqual(a.services[0]?.volumes[0]?.name, b.services[0]?.volumes[0]?.name);
    assert.deepEqual(a.image, b.image);
  });

  // The daemon's reattach decision already recreates an idle container whose spec hash differs:
  // a plan's hash is what makes an edited Podfile take effect at the next idle login.
  it("makes an edited Podfile recreate an idle container and leave a busy one alone", async () => {
    const before = await plan(lines("base: x", "on_start: echo a"));
    const after = await plan(lines("base: x", "on_start: echo b"));
    const found = { id: "c1", labels: before.container.labels, running: true, marker: true };
    assert.deepEqual(decideAttach({ containerId: "c1", sessions: 0, ready: true }, found, after.container.labels), { action: "recreate", reason: "config-changed" });
    assert.deepEqual(decideAttach({ containerId: "c1", sessions: 1, ready: true }, found, after.container.labels), { action: "reuse", adopt: false });
    assert.deepEqual(decideAttach({ containerId: "c1", sessions: 0, ready: true }, found, before.container.labels), { action: "reuse", adopt: false });
  });
});
