import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parsePodfile, podfileJsonSchema } from "../../agent/src/core/podfile/index.js";
import { CAPS, says, saysLike } from "./helpers/podfile.js";

const parse = (text: string) => parsePodfile(text, "web.yaml", { caps: CAPS }).layer;
const lines = (...l: string[]): string => l.join("\n") + "\n";

describe("Podfile parsing: errors name file, line and path", () => {
  it("reports a wrong type with its line: services[1].image on line 14", () => {
    const text = lines("base: podspawn/default:bookworm", "packages:", "  - git", "  - curl", "env:", "  A: b", "services:", "  - name: db", "    image: podspawn/postgres:15-bookworm", "    ports: [5432]", "    env:", "      POSTGRES_PASSWORD: x", "  - name: cache", "    image: 42");
    assert.throws(() => parse(text), says("web.yaml:14: services[1].image: expected an image reference, got number 42 (allowed: one word [registry/]name[:tag][@sha256:digest], lowercase name, e.g. podspawn/default:bookworm; no blanks, no options)"));
  });

  it("refuses an unknown field with the nearest valid name", () => {
    assert.throws(() => parse(lines("base: x", "packges: [git]")), saysLike(/^web\.yaml:2: packges: unknown field; did you mean packages\? \(allowed: base, extends, name, packages, /));
    assert.throws(() => parse(lines("base: x", "services:", "  - name: db", "    image: pg", "    prots: [1]")), saysLike(/^web\.yaml:5: services\[0\]\.prots: unknown field; did you mean ports\?/));
  });

  it("refuses a duplicate key, naming the earlier line", () => {
    assert.throws(() => parse(lines("base: x", "env:", "  A: 1", "  A: 2")), says("web.yaml:4: env.A: duplicate key, already set on line 3 (allowed: each key once per mapping)"));
  });

  it("refuses __proto__ as a key, and leaves Object.prototype alone", () => {
    assert.throws(() => parse(lines("base: x", "env:", "  __proto__:", "    polluted: yes")), says("web.yaml:3: env.__proto__: is not allowed as a key (it would rewrite the object's prototype)"));
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
  });

  it("refuses a YAML bomb before expanding it", () => {
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 0; i < 8; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(",")}]`);
    assert.throws(() => parse(bomb.join("\n")), saysLike(/^web\.yaml(:\d+: [a-z]+)?: (its aliases expand to \d+ more nodes \(a YAML bomb\?\)|more than 100 aliases)/));
  });

  it("refuses a 10 MB file by its size, before parsing it", () => {
    const big = "base: x\nextra_commands:\n" + "  - echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n".repeat(200_000);
    assert.ok(big.length > 10_000_000);
    assert.throws(() => parse(big), says("web.yaml: is more than 262144 bytes (allowed: at most 262144 bytes)"));
  });

  it("refuses deep nesting (flow and block) with the line", () => {
    assert.throws(() => parse(`base: x\nenv: ${"[".repeat(5000)}${"]".repeat(5000)}\n`), says("web.yaml:2: nested deeper than 64 levels"));
    const block = ["base: x", "env:"];
    for (let i = 0; i < 70; i++) block.push(`${"  ".repeat(i + 1)}k${i}:`);
    assert.throws(() => parse(block.join("\n") + " v\n"), saysLike(/nested deeper than 64 levels/));
  });

  it("names the Podfile's first problem in document order", () => {
    assert.throws(() => parse(lines("base: x", "shell: bash", "mode: forever")), saysLike(/^web\.yaml:2: shell: "bash" is not an absolute path/));
  });
});

describe("Podfile parsing: nothing unsafe can be expressed", () => {
  it("refuses 'alpine --privileged' as an image (one word only)", () => {
    assert.throws(() => parse("base: alpine --privileged\n"), saysLike(/^web\.yaml:1: base: "alpine --privileged" is not an image reference \(allowed: one word /));
    assert.throws(() => parse(lines("base: x", "services:", "  - name: db", "    image: 'pg --cap-add=ALL'")), saysLike(/^web\.yaml:4: services\[0\]\.image: "pg --cap-add=ALL" is not an image reference/));
  });

  it("has no field for privileged mode, host network or PID, mounts, devices, sysctls or capabilities", () => {
    for (const key of ["privileged: true", "network_mode: host", "pid: host", "ipc: host", "cap_add: [SYS_ADMIN]", "devices: [/dev/kvm]", "sysctls: {a: 1}", "security_opt: [seccomp=unconfined]", "runtime: runc", "user: root"]) {
      assert.throws(() => parse(lines("base: x", key)), saysLike(/^web\.yaml:2: [a-z_]+: unknown field/), key);
      assert.throws(() => parse(lines("base: x", "services:", "  - name: db", "    image: pg", `    ${key}`)), saysLike(/^web\.yaml:5: services\[0\]\.[a-z_]+: unknown field/), key);
    }
    assert.throws(() => parse(lines("base: x", "volumes: ['/:/host']")), saysLike(/^web\.yaml:2: volumes: unknown field/));
    // By construction: no property anywhere in the schema is one of those options.
    const keys = new Set<string>();
    const walk = (s: unknown): void => {
      if (Array.isArray(s)) s.forEach(walk);
      else if (typeof s === "object" && s !== null) {
        for (const [k, v] of Object.entries(s)) {
          if (k === "properties") Object.keys(v as object).forEach((p) => keys.add(p));
          walk(v);
        }
      }
    };
    walk(podfileJsonSchema());
    for (const forbidden of ["privileged", "network_mode", "network", "pid", "ipc", "cap_add", "capabilities", "devices", "sysctls", "security_opt", "runtime", "user", "mounts", "binds", "host"]) assert.ok(!keys.has(forbidden), forbidden);
  });

  it("refuses a host-path service volume: only named volumes", () => {
    const svc = (v: string) => lines("base: x", "services:", "  - name: db", "    image: pg", `    volumes: [${JSON.stringify(v)}]`);
    assert.throws(() => parse(svc("/var/run/docker.sock:/x")), saysLike(/^web\.yaml:5: services\[0\]\.volumes\[0\]: "\/var\/run\/docker\.sock" is a host path: a service may only use named volumes \(allowed: name:\/absolute\/path/));
    assert.throws(() => parse(svc("./data:/x")), saysLike(/"\.\/data" is a host path/));
    assert.throws(() => parse(svc("~/data:/x")), saysLike(/"~\/data" is a host path/));
    assert.throws(() => parse(svc("home:/x")), saysLike(/"home" is reserved for the user's persistent home volume/));
    assert.throws(() => parse(svc("data:relative")), saysLike(/"relative" is not an absolute path inside the service/));
    assert.throws(() => parse(svc("data:/x:z")), saysLike(/"z" is not a volume mode/));
    assert.throws(() => parse(svc("data:/x/../etc")), saysLike(/is not an absolute path inside the service/));
    assert.throws(() => parse(svc("pgdata")), saysLike(/"pgdata" is not a named volume/));
    const ok = parse(svc("pgdata:/var/lib/postgresql/data:ro")).services?.items[0];
    assert.deepEqual(ok?.kind === "service" && ok.volumes, [{ name: "pgdata", target: "/var/lib/postgresql/data", readOnly: true }]);
  });

  it("refuses memory above the node's cap, naming the cap (1T)", () => {
    assert.throws(() => parse(lines("base: x", "resources:", "  memory: 1T")), says("web.yaml:3: resources.memory: 1t is above this node's cap of 8g (allowed: at most 8g)"));
    assert.throws(() => parse(lines("base: x", "resources:", "  cpus: 16")), says("web.yaml:3: resources.cpus: 16 CPUs is above this node's cap of 4 CPUs (allowed: at most 4)"));
    assert.deepEqual(parse(lines("base: x", "resources:", "  cpus: 4", "  memory: 8g")).resources, { cpus: 4, memoryBytes: 8 * 1024 ** 3 });
    // Off a node (no caps) the schema's own bounds still hold.
    assert.equal(parsePodfile(lines("base: x", "resources:", "  memory: 1T"), "web.yaml").layer.resources?.memoryBytes, 1024 ** 4);
    assert.throws(() => parse(lines("base: x", "resources:", "  memory: 1m")), saysLike(/resources\.memory: 1m is below 64m/));
    assert.throws(() => parse(lines("base: x", "resources:", "  memory: lots")), saysLike(/resources\.memory: "lots" is not a size/));
  });

  it("refuses sudo, which cannot work under no-new-privileges", () => {
    assert.throws(() => parse(lines("base: x", "packages: [git, sudo]")), says("web.yaml:2: packages[1]: sudo cannot work here: sessions run with no-new-privileges and podspawn images have no setuid programs (allowed: leave it out)"));
  });
});

describe("Podfile parsing: each field validates", () => {
  const bad: [string, RegExp][] = [
    ["packages: ['git; rm -rf /']", /packages\[0\]: "git; rm -rf \/" is not a package/],
    ["packages: [Git]", /packages\[0\]: "Git" is not a package/],
    ["packages: ['nodejs@22 && x']", /packages\[0\]: "nodejs@22 && x" is not a package/],
    ["packages: [nodejs@99]", /packages\[0\]: nodejs@99: unsupported version \(allowed: 18, 20, 22/],
    ["packages: [git, git]", /packages\[1\]: "git" is already listed at packages\[0\]/],
    ["packages: [nodejs@20, nodejs@22]", /packages\[1\]: "nodejs" is already listed at packages\[0\]/],
    ["env: {FOO-BAR: 1}", /env\.FOO-BAR: "FOO-BAR" is not an environment variable name/],
    ["env: {1X: a}", /env\["1X"\]: "1X" is not an environment variable name/],
    ["env: {HOME: /x}", /env\.HOME: HOME is set by podspawn for every session/],
    ["env: {PODSPAWN_PROJECT: x}", /env\.PODSPAWN_PROJECT: PODSPAWN_PROJECT is set by podspawn/],
    ["env: {A: 1.10}", /env\.A: expected a string, got number 1\.1 \(allowed: a string \(quote numbers with a decimal point/],
    ["env: {A: [1]}", /env\.A: expected a string, got a list/],
    ["shell: bash", /shell: "bash" is not an absolute path/],
    ["shell: /bin/../bash", /shell: "\/bin\/\.\.\/bash" is not an absolute path/],
    ["workspace: /abs", /workspace: "\/abs" is not a relative path/],
    ["workspace: a/../../etc", /workspace: "a\/\.\.\/\.\.\/etc" is not a relative path/],
    ["repos: [{url: https://x/r.git, path: ../up}]", /repos\[0\]\.path: "\.\.\/up" is not a relative path/],
    ["repos: [{url: https://x/r.git, path: /abs}]", /repos\[0\]\.path: "\/abs" is not a relative path/],
    ["repos: [{url: -uhttps://x}]", /repos\[0\]\.url: "-uhttps:\/\/x" is not a git repository URL/],
    ["repos: [{url: 'ext::sh -c touch% /tmp/x'}]", /repos\[0\]\.url: .* is not a git repository URL/],
    ["repos: [{url: '-u@host:repo'}]", /repos\[0\]\.url: "-u@host:repo" is not a git repository URL/],
    ["repos: [{url: \"https://x/a\\x7fb\"}]", /repos\[0\]\.url: "https:\/\/x\/a\u007fb" is not a git repository URL/],
    ["dotfiles: {repo: \"git@host:x\\x01y\"}", /dotfiles\.repo: "git@host:x\\u0001y" is not a git repository URL/],
    ["repos: [{url: https://x/r.git, branch: -b}]", /repos\[0\]\.branch: "-b" is not a branch name/],
    ["repos: [{url: https://x/r.git, branch: a..b}]", /repos\[0\]\.branch: "a\.\.b" is not a branch name/],
    ["repos: [{url: https://x/a.git}, {url: https://x/a.git}]", /repos\[1\]\.url: "https:\/\/x\/a\.git" is already listed at repos\[0\]/],
    ["repos: [{path: x}]", /repos\[0\]\.url: is required/],
    ["dotfiles: {repo: 'file:///x y'}", /dotfiles\.repo: "file:\/\/\/x y" is not a git repository URL/],
    ["dotfiles: {install: x}", /dotfiles\.repo: is required/],
    ["services: [{name: My_DB, image: pg}]", /services\[0\]\.name: "My_DB" is not a service name \(allowed: a DNS label/],
    ["services: [{name: db}]", /services\[0\]\.image: is required/],
    ["services: [{name: db, image: pg}, {name: db, image: pg}]", /services\[1\]\.name: "db" is already listed at services\[0\]/],
    ["services: [{name: db, image: pg, ports: [70000]}]", /services\[0\]\.ports\[0\]: number 70000 is not a port/],
    ["services: [{name: db, image: pg, ports: [5432], ready: {port: 1}}]", /services\[0\]\.ready\.port: 1 is not one of the service's ports \(allowed: one of ports: 5432\)/],
    ["services: [{name: db, image: pg, ports: [5432], ready: {port: 5432, timeout: 1h}}]", /services\[0\]\.ready\.timeout: 1h is longer than 10m/],
    ["services: [{name: db, image: pg, volumes: [a:/x, b:/x]}]", /services\[0\]\.volumes\[1\]: \/x is already mounted by volumes\[0\]/],
    ["ports: {expose: [0]}", /ports\.expose\[0\]: number 0 is not a port/],
    ["ports: {strategy: random}", /ports\.strategy: "random" is not one of the choices \(allowed: auto, manual, expose\)/],
    ["mode: forever", /mode: "forever" is not one of the choices \(allowed: grace-period, destroy-on-disconnect, persistent\)/],
    ["mount: bind", /mount: "bind" is not one of the choices \(allowed: none, copy \(no bind: a Podfile cannot mount host directories\)\)/],
    ["branch: '-x'", /branch: "-x" is not a branch name/],
    ["name: \"\\e[31mred\"", /name: .* is not a name \(allowed: 1-64 printable ASCII/],
    ["on_create: ''", /on_create: is empty|on_create: expected a shell script/],
    ["on_start: [echo, 3]", /on_start(\[1\])?: expected a shell script or a list of them|on_start\[1\]: expected a string/],
    ["extra_commands: echo", /extra_commands: expected a list, got "echo"/],
    ["extends: github.com/org/repo", /extends: "github\.com\/org\/repo" is not a Podfile to extend \(allowed: a Podfile path ending in \.yaml or \.yml/],
    ["extends: https://example.com/base.yaml", /extends: "https:\/\/example\.com\/base\.yaml" is a URL: extends reads local files only/],
    ["extends: golang", /extends: "golang" is not a bundled base \(allowed: .* minimal, ubuntu-dev, data-science\)/],
    ["extends: /etc/shadow", /extends: "\/etc\/shadow" is not a Podfile to extend/],
  ];
  for (const [line, re] of bad) {
    it(`refuses ${line}`, () => assert.throws(() => parse(lines("base: x", line)), saysLike(new RegExp(`^web\\.yaml:2: ${re.source}`))));
  }

  it("accepts a full Podfile and normalizes it (sizes in bytes, hooks as lists, env as text)", () => {
    const layer = parse(
      lines(
        "name: web app",
        "base: registry.example.com:5000/team/dev:2024-06@sha256:" + "a".repeat(64),
        "packages: [git, nodejs@22, libpq-dev@15.4, python@3.12, go@1.25, rust@stable]",
        "shell: /bin/bash",
        "env:",
        "  PORT: 8080",
        "  DEBUG: true",
        "  EMPTY: ''",
        "  DROPPED:",
        "  GREETING: hi ${PODSPAWN_USER}",
        "services: [{name: db, image: postgres:16, ports: [5432], env: {POSTGRES_PASSWORD: x, N: 1, E: null}, volumes: ['pgdata:/var/lib/postgresql/data'], ready: {port: 5432}}]",
        "dotfiles: {repo: 'git@github.com:me/dotfiles.git', install: ./install.sh}",
        "repos: [{url: 'https://github.com/me/app.git', path: src/app, branch: release/1.2}, {url: 'file:///srv/git/lib'}]",
        "ports: {expose: [3000, 3000, 5173], strategy: manual}",
        "resources: {cpus: 1.5, memory: 512m}",
        "on_create: echo once",
        "on_start: [echo a, echo b]",
        "extra_commands: ['echo built']",
        "mode: persistent",
        "workspace: src",
        "mount: copy",
        "branch: main",
      ),
    );
    assert.deepEqual(layer, {
      name: "web app",
      base: "registry.example.com:5000/team/dev:2024-06@sha256:" + "a".repeat(64),
      extends: undefined,
      packages: { replace: false, items: ["git", "nodejs@22", "libpq-dev@15.4", "python@3.12", "go@1.25", "rust@stable"] },
      shell: "/bin/bash",
      env: { replace: false, items: { PORT: "8080", DEBUG: "true", EMPTY: null, DROPPED: null, GREETING: "hi ${PODSPAWN_USER}" } },
      services: {
        replace: false,
        items: [{ kind: "service", name: "db", image: "postgres:16", ports: [5432], env: { POSTGRES_PASSWORD: "x", N: "1", E: "" }, volumes: [{ name: "pgdata", target: "/var/lib/postgresql/data", readOnly: false }], ready: { port: 5432, timeoutMs: 60_000 } }],
      },
      dotfiles: { repo: "git@github.com:me/dotfiles.git", install: "./install.sh" },
      repos: { replace: false, items: [{ kind: "repo", url: "https://github.com/me/app.git", path: "src/app", branch: "release/1.2" }, { kind: "repo", url: "file:///srv/git/lib", path: null, branch: null }] },
      ports: { expose: [3000, 3000, 5173], strategy: "manual" },
      resources: { cpus: 1.5, memoryBytes: 512 * 1024 ** 2 },
      onCreate: { replace: false, items: ["echo once"] },
      onStart: { replace: false, items: ["echo a", "echo b"] },
      extraCommands: { replace: false, items: ["echo built"] },
      mode: "persistent",
      workspace: "src",
      mount: "copy",
      branch: "main",
    });
  });

  it("reads an empty key as unset, and an empty replace key as an empty list", () => {
    const layer = parse(lines("extends: ./base.yaml", "packages:", "env!:", "on_start:"));
    assert.equal(layer.packages, undefined);
    assert.deepEqual(layer.env, { replace: true, items: {} });
    assert.equal(layer.onStart, undefined);
  });

  it("requires base or extends", () => {
    assert.throws(() => parse("packages: [git]\n"), says("web.yaml:1: base: is required (or extends, to inherit one) (allowed: an image present on the node, e.g. podspawn/default:bookworm)"));
    assert.throws(() => parse(""), saysLike(/^web\.yaml: \(top level\): expected a mapping, got null/));
  });
});

describe("Podfile parsing: replace keys and removals", () => {
  it("refuses key and key! together", () => {
    assert.throws(() => parse(lines("extends: ./b.yaml", "packages: [git]", "packages!: [curl]")), says("web.yaml:3: packages!: is set together with packages (allowed: packages (merge with the base) or packages! (replace it), not both)"));
    for (const key of ["env", "services", "repos", "on_create", "on_start", "extra_commands"]) {
      assert.throws(() => parse(lines("extends: ./b.yaml", `${key}:`, `${key}!:`)), saysLike(new RegExp(`^web\\.yaml:3: ${key}!: is set together with ${key}`)), key);
    }
  });

  it("refuses a removal or a replace key without extends", () => {
    assert.throws(() => parse(lines("base: x", "packages: [git, '!curl']")), says("web.yaml:2: packages[1]: \"!curl\" drops an inherited package, but this Podfile has no extends, so there is nothing to drop (allowed: a package name without '!')"));
    assert.throws(() => parse(lines("base: x", "services: [{name: '!db'}]")), saysLike(/^web\.yaml:2: services\[0\]\.name: "!db" drops an inherited service, but this Podfile has no extends/));
    assert.throws(() => parse(lines("base: x", "repos: [{url: '!https://x/r.git'}]")), saysLike(/^web\.yaml:2: repos\[0\]\.url: "!https:\/\/x\/r\.git" drops an inherited repo, but this Podfile has no extends/));
    assert.throws(() => parse(lines("base: x", "env!: {A: b}")), says("web.yaml:2: env!: replaces an inherited value, but this Podfile has no extends (allowed: env without '!')"));
  });

  it("refuses a removal inside a replace list, where there is nothing to drop", () => {
    assert.throws(() => parse(lines("extends: ./b.yaml", "packages!: ['!git']")), saysLike(/^web\.yaml:2: packages!\[0\]: "!git" drops an inherited package, but packages! replaces the inherited list/));
  });

  it("refuses a removal entry with other fields", () => {
    assert.throws(() => parse(lines("extends: ./b.yaml", "services: [{name: '!db', image: pg}]")), saysLike(/^web\.yaml:2: services\[0\]\.image: a removal \(!db\) takes no other fields/));
    assert.throws(() => parse(lines("extends: ./b.yaml", "repos: [{url: '!https://x/r', branch: main}]")), saysLike(/^web\.yaml:2: repos\[0\]\.branch: a removal \(!url\) takes no other fields/));
  });

  it("marks key! as a replacement and !x as a removal", () => {
    const layer = parse(lines("extends: ./b.yaml", "packages: ['!git', jq]", "services!: [{name: db, image: pg}]", "repos: [{url: '!https://x/r.git'}]", "on_create!: echo"));
    assert.deepEqual(layer.packages, { replace: false, items: ["!git", "jq"] });
    assert.equal(layer.services?.replace, true);
    assert.deepEqual(layer.repos, { replace: false, items: [{ kind: "remove", url: "https://x/r.git" }] });
    assert.deepEqual(layer.onCreate, { replace: true, items: ["echo"] });
  });
});

describe("image references", () => {
  it("accepts the reference grammar and refuses anything with blanks or options", () => {
    for (const ok of ["alpine", "podspawn/default:bookworm", "localhost:5000/a/b_c.d__e-f:1.0", "registry.example.com/x@sha256:" + "0".repeat(64), "ubuntu:24.04", "a/b/c/d:TAG_1"]) assert.doesNotThrow(() => parse(`base: ${JSON.stringify(ok)}\n`), ok);
    for (const bad of ["Alpine", "alpine:", ":tag", "-alpine", "alpine --privileged", "a b", "a\tb", "a/", "a//b", "a:b:c", "a@sha256:123", "../x", "a;b", "$(x)"]) assert.throws(() => parse(`base: ${JSON.stringify(bad)}\n`), saysLike(/base: .* is not an image reference/), bad);
  });

  it("never lets a blank, a newline or a leading '-' through (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        let accepted = true;
        try {
          parse(`base: ${JSON.stringify(s)}\n`);
        } catch {
          accepted = false;
        }
        if (accepted) assert.ok(!/[\s"'$;&|`\\]/.test(s) && !s.startsWith("-") && s.length > 0, s);
      }),
    );
  });
});
