import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { DEVCONTAINER_FILES, findDevcontainer, importDevcontainer, resolvePodfile, type PodfileLoader } from "../../agent/src/core/podfile/index.js";
import { InputError } from "../../agent/src/core/errors.js";
import { REPO_ROOT, says, saysLike } from "./helpers/podfile.js";

/** Real configs from the devcontainers CLI's tests (MIT, see test/fixtures/devcontainer/LICENSE.txt). */
const FIXTURES = join(REPO_ROOT, "test", "fixtures", "devcontainer");

/** Reads fixture files by their names relative to FIXTURES, so messages name them the same everywhere. */
const fixtureLoader: PodfileLoader = async (ref, fromDir) => {
  const file = posix.join(fromDir, ref);
  return { text: readFileSync(join(FIXTURES, file), "utf8"), file };
};

function fixtureFile(name: string): string {
  const found = DEVCONTAINER_FILES.map((f) => `${name}/${f}`).find((f) => existsSync(join(FIXTURES, f)));
  assert.ok(found, name);
  return found;
}

async function importFixture(name: string) {
  const file = fixtureFile(name);
  return importDevcontainer(readFileSync(join(FIXTURES, file), "utf8"), file, fixtureLoader);
}

const text = (...l: string[]): string => l.join("\n") + "\n";

describe("devcontainer.json import over real configs", () => {
  it("image: image, remoteEnv (devcontainer-only variables noted), postCreateCommand; runArgs noted", async () => {
    const r = await importFixture("image");
    assert.equal(
      r.text,
      text("# Imported by podspawn from .devcontainer.json; see docs/podfiles.md.", "base: ubuntu:latest", "env:", "  TEST: ENV", "  TEST_ESCAPING: |-", "    {", '      "fo$o": "ba\'r"', "    }", "on_create:", "  - 'echo \"Val: $TEST\" > /postCreateCommand.txt'"),
    );
    assert.deepEqual(r.notes, [
      "image/.devcontainer.json:4: runArgs: a Podfile cannot pass Docker options; left out",
      "image/.devcontainer.json:8: remoteEnv.LOCAL_PATH: ${localEnv:PATH} has no meaning on a podspawn node; left out",
      "image/.devcontainer.json:9: remoteEnv.CONTAINER_PATH: ${containerEnv:PATH} has no meaning on a podspawn node; left out",
      "image/.devcontainer.json:10: remoteEnv.TEST_RE: ${containerEnv:TEST_CE} has no meaning on a podspawn node; left out",
    ]);
    assert.deepEqual(r.podfile.layer.env?.items, { TEST: "ENV", TEST_ESCAPING: '{\n  "fo$o": "ba\'r"\n}' });
  });

  it("features are listed as not supported, never silently dropped", async () => {
    for (const name of ["image-with-features", "example", "poetry-example"]) {
      const r = await importFixture(name);
      assert.ok(r.notes.some((n) => /^[^:]+:\d+: features: not supported \(list what they install under packages\); left out$/.test(n)), name);
    }
  });

  it("a postStartCommand object of argv lists becomes on_start scripts, argv quoted for sh", async () => {
    const r = await importFixture("poetry-example");
    assert.deepEqual(r.podfile.layer.onStart?.items, ["/bin/bash -i -c 'python3 -m venv $HOME/.local && source $HOME/.local/bin/activate && poetry install'"]);
    assert.equal(r.podfile.layer.base, "mcr.microsoft.com/devcontainers/base:latest");
  });

  it("initializeCommand is never run (it would run on the host)", async () => {
    const r = await importFixture("image-with-parallel-initialize-command");
    assert.deepEqual(r.notes, ["image-with-parallel-initialize-command/.devcontainer.json:3: initializeCommand: runs on the host, which podspawn never does; left out"]);
    assert.equal(r.podfile.layer.onCreate, undefined);
  });

  it("mounts are refused with a note (a Podfile mounts no host path)", async () => {
    const r = await importFixture("image-with-mounts");
    assert.deepEqual(r.notes, ["image-with-mounts/.devcontainer/devcontainer.json:3: mounts: a Podfile cannot mount host paths; left out"]);
  });

  it("a Dockerfile build fails with a clear message", async () => {
    for (const name of ["updateUID", "dockerfile-with-parallel-commands"]) {
      await assert.rejects(importFixture(name), says(`${name}/.devcontainer.json:2: build: building from a Dockerfile is not supported (allowed: an "image", or "dockerComposeFile" with a "service" that has an image)`));
    }
  });

  it("compose: the main service's image, companion services with named volumes, the rest noted", async () => {
    const r = await importFixture("compose-image-without-features");
    assert.equal(
      r.text,
      text(
        "# Imported by podspawn from devcontainer.json; see docs/podfiles.md.",
        "name: Node.js & Mongo DB",
        "base: mcr.microsoft.com/vscode/devcontainers/javascript-node:0-16-bullseye",
        "services:",
        "  - name: db",
        "    image: mongo:latest",
        "    volumes:",
        "      - mongodb-data:/data/db",
      ),
    );
    const dc = "compose-image-without-features/.devcontainer/devcontainer.json";
    const compose = "compose-image-without-features/.devcontainer/docker-compose.yml";
    assert.deepEqual(r.notes, [
      `${dc}:5: workspaceFolder: not supported (a Podfile's workspace is relative to the user's home); left out`,
      `${dc}:7: settings: not supported; left out`,
      `${dc}:9: extensions: not supported; left out`,
      `${dc}:18: remoteUser: sessions always run as the pod user; left out`,
      `${compose}:6: services.app.volumes: the main container mounts nothing but the user's home; left out`,
      `${compose}:10: services.app.command: podspawn runs its own keep-alive and the image's own command for services; left out`,
      `${compose}:13: services.app.network_mode: a Podfile cannot choose a network mode (services share the environment's own network); left out`,
      `${compose}:22: services.db.restart: not supported; left out`,
    ]);
  });

  it("compose: environment mapping and containerEnv merge, containerEnv winning; odd values kept exactly", async () => {
    const r = await importFixture("image-containerEnv-issue");
    const env = r.podfile.layer.env?.items ?? {};
    assert.equal(env["Test_Message"], "H\"\n\ne\"'''llo M:;a/t?h&^iKa%#@!``ni,sk_a-");
    assert.equal(env["ROSCONSOLE_FORMAT"], "[$${severity}] [$${walltime:%Y-%m-%d %H:%M:%S}] [$${node}]: $${message}");
    assert.equal(env["FOO"], 'b"\\n\\ta"r');
    assert.equal(env["VAR_WITH_BACK_SLASH"], "value with \\back slash");
    assert.equal(env["ENV_WITH_COMMAND"], "bash -c 'echo -n \"Hello, World!\"'");
    assert.equal(r.podfile.layer.base, "mcr.microsoft.com/devcontainers/javascript-node:1-22-bookworm");
  });

  it("compose: a compose project name and anonymous volumes are noted", async () => {
    const named = await importFixture("compose-with-name");
    assert.ok(named.notes.includes("compose-with-name/.devcontainer/docker-compose.yml:3: name: not supported; left out"));
    const mounts = await importFixture("compose-image-with-mounts");
    assert.ok(mounts.notes.includes("compose-image-with-mounts/.devcontainer/docker-compose.yml:7: services.test.volumes: the main container mounts nothing but the user's home; left out"));
    assert.ok(mounts.notes.includes("compose-image-with-mounts/.devcontainer/devcontainer.json:5: mounts: a Podfile cannot mount host paths; left out"));
  });

  it("every fixture either imports into a Podfile that resolves, or fails with an InputError", async () => {
    const names = readdirSync(FIXTURES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    assert.equal(names.length, 12);
    for (const name of names) {
      try {
        const r = await importFixture(name);
        const resolved = await resolvePodfile(r.text, `${name}/podfile.yaml`, { load: fixtureLoader, bundledBaseImage: "x" });
        assert.ok(resolved.podfile.base.length > 0, name);
      } catch (err) {
        assert.ok(err instanceof InputError, `${name}: ${String(err)}`);
      }
    }
  });
});

describe("devcontainer.json mapping rules", () => {
  const none: PodfileLoader = async (ref, fromDir) => {
    throw new InputError(posix.join(fromDir, ref), "no such file");
  };
  const imp = (json: string, load: PodfileLoader = none) => importDevcontainer(json, ".devcontainer/devcontainer.json", load);

  it("finds .devcontainer/devcontainer.json before .devcontainer.json", () => {
    assert.equal(findDevcontainer(new Set([".devcontainer.json", ".devcontainer/devcontainer.json"])), ".devcontainer/devcontainer.json");
    assert.equal(findDevcontainer(new Set([".devcontainer.json"])), ".devcontainer.json");
    assert.equal(findDevcontainer(new Set(["package.json"])), null);
  });

  it("maps commands as a string, an argv list and an object, lifecycle order kept", async () => {
    const r = await imp(`{
      "image": "debian:bookworm",
      // comments and trailing commas are JSONC
      "onCreateCommand": ["echo", "it's", "a b"],
      "updateContentCommand": "echo update",
      "postCreateCommand": { "one": "echo 1", "two": ["touch", "/tmp/x y"] },
      "postStartCommand": "echo start",
      "postAttachCommand": "echo attach",
    }`);
    assert.deepEqual(r.podfile.layer.onCreate?.items, ["echo 'it'\\''s' 'a b'", "echo update", "echo 1", "touch '/tmp/x y'"]);
    assert.deepEqual(r.podfile.layer.onStart?.items, ["echo start"]);
    assert.deepEqual(r.notes, [".devcontainer/devcontainer.json:8: postAttachCommand: not supported (on_start runs at every session); left out"]);
  });

  it("maps forwardPorts: numbers and localhost:port to expose, service:port to that service", async () => {
    const compose = "services:\n  app:\n    image: debian:bookworm\n  db:\n    image: postgres:16\n    ports: ['5432']\n  cache:\n    image: redis:7\n";
    const load: PodfileLoader = async (ref, fromDir) => ({ text: compose, file: posix.join(fromDir, ref) });
    const r = await imp('{"dockerComposeFile": "compose.yml", "service": "app", "forwardPorts": [3000, "localhost:8080", "app:9000", "cache:6379", "db:5432", "nowhere:1", "x"]}', load);
    assert.deepEqual(r.podfile.layer.ports?.expose, [3000, 8080, 9000]);
    const svc = r.podfile.layer.services?.items.map((s) => (s.kind === "service" ? [s.name, s.ports] : [])) ?? [];
    assert.deepEqual(svc, [
      ["db", [5432]],
      ["cache", [6379]],
    ]);
    assert.deepEqual(r.notes, [
      '.devcontainer/devcontainer.json:1: forwardPorts[5]: "nowhere:1" names no service of this environment; left out',
      '.devcontainer/devcontainer.json:1: forwardPorts[6]: "x" is not a port; left out',
    ]);
  });

  it("maps compose environment lists, port forms and named volumes; host paths and host values are noted", async () => {
    const compose = [
      "services:",
      "  app:",
      "    image: debian:bookworm",
      "    environment: [A=1, 'B=two words', FROM_HOST]",
      "  db:",
      "    image: postgres:16",
      "    environment: {POSTGRES_PASSWORD: x, PASSTHROUGH: null}",
      "    ports: [5432, '127.0.0.1:15432:5433/tcp', {target: 5434}, '6000-6010']",
      "    volumes: ['data:/var/lib/data:ro', '/srv/host:/x', './rel:/y', '/anon', {type: volume, source: more, target: /more}, {type: bind, source: /h, target: /z}]",
      "    healthcheck: {test: [CMD, true]}",
      "  my_svc:",
      "    image: x:1",
      "  built:",
      "    build: .",
      "",
    ].join("\n");
    const load: PodfileLoader = async (ref, fromDir) => ({ text: compose, file: posix.join(fromDir, ref) });
    const r = await imp('{"dockerComposeFile": ["compose.yml"], "service": "app", "containerEnv": {"B": "from devcontainer"}}', load);
    assert.deepEqual(r.podfile.layer.env?.items, { A: "1", B: "from devcontainer" });
    const db = r.podfile.layer.services?.items[0];
    assert.ok(db?.kind === "service");
    assert.deepEqual([db.name, db.ports, db.env], ["db", [5432, 5433, 5434], { POSTGRES_PASSWORD: "x" }]);
    assert.deepEqual(db.volumes, [
      { name: "data", target: "/var/lib/data", readOnly: true },
      { name: "more", target: "/more", readOnly: false },
    ]);
    assert.equal(r.podfile.layer.services?.items.length, 1);
    const c = ".devcontainer/compose.yml";
    const expected = [
      `${c}:10: services.db.healthcheck: not supported; left out`,
      `${c}:8: services.db.ports[3]: "6000-6010" is not a single TCP port; left out`,
      `${c}:9: services.db.volumes[1]: "/srv/host:/x" is a host path or not a usable volume name: a Podfile allows named volumes only; left out`,
      `${c}:9: services.db.volumes[2]: "./rel:/y" is a host path or not a usable volume name: a Podfile allows named volumes only; left out`,
      `${c}:9: services.db.volumes[3]: "/anon" is not a named volume (anonymous, or a bind mount); left out`,
      `${c}:9: services.db.volumes[5]: {"type":"bind","source":"/h","target":"/z"} is not a named volume (anonymous, or a bind mount); left out`,
      `${c}:11: services.my_svc: is not a DNS label, so it cannot be a service name; left out`,
      `${c}:13: services.built: has no image reference (a build is not supported); left out`,
      `${c}:7: services.db.environment.PASSTHROUGH: takes its value from the host, which a Podfile cannot; left out`,
      `${c}:4: services.app.environment.FROM_HOST: takes its value from the host, which a Podfile cannot; left out`,
    ];
    assert.deepEqual([...r.notes].sort(), [...expected].sort());
  });

  it("honours runServices", async () => {
    const compose = "services:\n  app: {image: 'debian:bookworm'}\n  db: {image: 'pg:16'}\n  cache: {image: 'redis:7'}\n";
    const load: PodfileLoader = async (ref, fromDir) => ({ text: compose, file: posix.join(fromDir, ref) });
    const r = await imp('{"dockerComposeFile": "c.yml", "service": "app", "runServices": ["app", "cache"]}', load);
    assert.deepEqual(r.podfile.layer.services?.items.map((s) => s.kind === "service" && s.name), ["cache"]);
  });

  it("refuses what it cannot map at all, with the line", async () => {
    await assert.rejects(imp('{"image": "Ubuntu Latest"}'), says('.devcontainer/devcontainer.json:1: image: "Ubuntu Latest" is not an image reference (allowed: an image present on the node)'));
    await assert.rejects(imp('{"dockerComposeFile": "c.yml"}'), saysLike(/^\.devcontainer\/devcontainer\.json:1: service: is required with dockerComposeFile/));
    await assert.rejects(imp('{"dockerComposeFile": "c.yml", "service": "app"}'), says(".devcontainer/c.yml: no such file"));
    const load: PodfileLoader = async (ref, fromDir) => ({ text: "services:\n  db: {image: 'pg:16'}\n", file: posix.join(fromDir, ref) });
    await assert.rejects(imp('{"dockerComposeFile": "c.yml", "service": "app"}', load), saysLike(/^\.devcontainer\/c\.yml: services: has no service "app"/));
    await assert.rejects(imp("{}"), saysLike(/building from a Dockerfile is not supported/));
  });

  it("reads JSONC safely: syntax errors, duplicate keys, __proto__, depth and size are refused with the line", async () => {
    await assert.rejects(imp('{\n  "image": "x",\n  "image": "y"\n}'), says(".devcontainer/devcontainer.json:3: image: duplicate key (allowed: each key once per object)"));
    await assert.rejects(imp('{\n  "__proto__": {"polluted": 1}\n}'), says(".devcontainer/devcontainer.json:2: __proto__: is not allowed as a key (it would rewrite the object's prototype)"));
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
    await assert.rejects(imp('{\n  "image": "x" "name": 1\n}'), says(".devcontainer/devcontainer.json:2: not valid JSON: CommaExpected"));
    await assert.rejects(imp(`{"a": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`), says(".devcontainer/devcontainer.json:1: nested deeper than 64 levels"));
    await assert.rejects(imp(`{"image": "x", "pad": "${"a".repeat(2 * 1024 * 1024)}"}`), says(".devcontainer/devcontainer.json: is more than 1048576 bytes (allowed: at most 1048576 bytes)"));
    await assert.rejects(imp("[1]"), saysLike(/is not a JSON object/));
  });
});
