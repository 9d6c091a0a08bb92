import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../../agent/src/core/errors.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { renderSystemdUnit } from "../../agent/src/core/host/systemd-unit.js";
import { renderWrapper } from "../../agent/src/core/host/wrapper-script.js";

const layout = layoutFor("podspawn-unit");

describe("renderWrapper", () => {
  it("pins the instance and the absolute node path, dispatching spawn and auth-keys to their bundles", () => {
    const text = renderWrapper(layout, "/usr/bin/node");
    assert.ok(text.startsWith("#!/bin/sh\n"));
    assert.match(text, /^export PODSPAWN_INSTANCE=podspawn-unit$/m);
    assert.match(text, /^ {2}spawn\) shift; HOME=\/ exec \/usr\/bin\/node \/usr\/local\/lib\/podspawn-unit\/spawn\.cjs "\$@" ;;$/m);
    assert.match(text, /^ {2}auth-keys\) shift; HOME=\/ exec \/usr\/bin\/node \/usr\/local\/lib\/podspawn-unit\/auth-keys\.cjs "\$@" ;;$/m);
    assert.match(text, /^ {2}\*\) exec \/usr\/bin\/node \/usr\/local\/lib\/podspawn-unit\/podspawn\.cjs "\$@" ;;$/m);
  });

  it("dispatches as described when run by sh (with a stand-in node)", () => {
    const dir = mkdtempSync(join(tmpdir(), "pst-wrap-"));
    try {
      const fakeNode = join(dir, "node");
      writeFileSync(fakeNode, '#!/bin/sh\nprintf "%s|" "$PODSPAWN_INSTANCE" "$@"\n');
      chmodSync(fakeNode, 0o755);
      const script = join(dir, "podspawn");
      writeFileSync(script, renderWrapper(layout, fakeNode));
      const run = (...args: string[]): string => execFileSync("/bin/sh", [script, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
      assert.equal(run("spawn", "--user", "alice"), "podspawn-unit|/usr/local/lib/podspawn-unit/spawn.cjs|--user|alice|");
      assert.equal(run("auth-keys", "alice", "ssh-ed25519", "AAAA"), "podspawn-unit|/usr/local/lib/podspawn-unit/auth-keys.cjs|alice|ssh-ed25519|AAAA|");
      assert.equal(run("list-users", "--json"), "podspawn-unit|/usr/local/lib/podspawn-unit/podspawn.cjs|list-users|--json|");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is exactly this script (what sshd runs for every login)", () => {
    assert.equal(
      renderWrapper(layout, "/usr/bin/node"),
      [
        "#!/bin/sh",
        "# Written by `podspawn install`; re-run it instead of editing this file.",
        "export PODSPAWN_INSTANCE=podspawn-unit",
        "export NODE_PATH=",
        'case "$1" in',
        '  spawn) shift; HOME=/ exec /usr/bin/node /usr/local/lib/podspawn-unit/spawn.cjs "$@" ;;',
        '  auth-keys) shift; HOME=/ exec /usr/bin/node /usr/local/lib/podspawn-unit/auth-keys.cjs "$@" ;;',
        '  daemon) HOME=/ exec /usr/bin/node /usr/local/lib/podspawn-unit/podspawn.cjs "$@" ;;',
        '  *) exec /usr/bin/node /usr/local/lib/podspawn-unit/podspawn.cjs "$@" ;;',
        "esac",
        "",
      ].join("\n"),
    );
  });

  it("gives node an empty NODE_PATH everywhere and HOME=/ for spawn, auth-keys and the daemon, whatever the caller's environment", () => {
    const dir = mkdtempSync(join(tmpdir(), "pst-wrap-"));
    try {
      const fakeNode = join(dir, "node");
      writeFileSync(fakeNode, '#!/bin/sh\nprintf "%s|%s|%s" "$HOME" "${NODE_PATH-unset}" "$2"\n');
      chmodSync(fakeNode, 0o755);
      const script = join(dir, "podspawn");
      writeFileSync(script, renderWrapper(layout, fakeNode));
      const env = { PATH: "/usr/bin:/bin", HOME: "/home/planted", NODE_PATH: "/home/planted/node_modules" };
      const run = (...args: string[]): string => execFileSync("/bin/sh", [script, ...args], { encoding: "utf8", env });
      assert.equal(run("spawn", "--user", "alice"), "/||--user");
      assert.equal(run("auth-keys", "alice"), "/||alice");
      assert.equal(run("daemon"), "/||daemon");
      assert.equal(run("client-setup", "x"), "/home/planted||client-setup");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a relative, shell-unsafe or parent-climbing node path, saying what is allowed", () => {
    for (const bad of ["node", "usr/bin/node", "x/usr/bin/node", "/usr/bin/no de", "/usr/bin/node\n", "/x;rm -rf /", "/a/$(id)", "/a/../b", "/a/..", "/../usr/bin/node"]) {
      assert.throws(
        () => renderWrapper(layout, bad),
        (e: unknown) => e instanceof InputError && e.message === `--node: ${JSON.stringify(bad)} must be an absolute path of letters, digits and ._/+- (allowed: e.g. /usr/bin/node)`,
        JSON.stringify(bad),
      );
    }
  });

  it("accepts the paths node is usually installed at", () => {
    for (const ok of ["/usr/bin/node", "/usr/local/bin/node", "/opt/node-v20.20.2/bin/node", "/a/..b/node"]) assert.ok(renderWrapper(layout, ok).includes(`exec ${ok} `), ok);
  });
});

describe("renderSystemdUnit", () => {
  it("is exactly this unit", () => {
    assert.equal(
      renderSystemdUnit(layout),
      `# Written by \`podspawn install\`; re-run it instead of editing this file.
[Unit]
Description=podspawn node daemon (podspawn-unit)
After=network-online.target docker.service
Wants=docker.service

[Service]
Type=simple
ExecStart=/usr/local/lib/podspawn-unit/bin/podspawn daemon
Environment=PODSPAWN_INSTANCE=podspawn-unit
Environment=HOME=/ NODE_PATH=
Restart=always
RestartSec=1
RuntimeDirectory=podspawn-unit
RuntimeDirectoryMode=0755
RuntimeDirectoryPreserve=yes
StateDirectory=podspawn-unit
StateDirectoryMode=0700
UMask=0022
NoNewPrivileges=yes
ProtectSystem=full
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelTunables=yes
ProtectKernelLogs=yes
ProtectClock=yes
ProtectHostname=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`,
    );
  });

  it("runs the wrapper's daemon command, restarts always, and keeps the hardening", () => {
    const unit = renderSystemdUnit(layout);
    assert.match(unit, /^ExecStart=\/usr\/local\/lib\/podspawn-unit\/bin\/podspawn daemon$/m);
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^RuntimeDirectory=podspawn-unit$/m);
    assert.match(unit, /^StateDirectory=podspawn-unit$/m);
    assert.match(unit, /^NoNewPrivileges=yes$/m);
    assert.match(unit, /^RestrictAddressFamilies=.*AF_UNIX/m);
    // Hardening that would cut the daemon off from /run/docker.sock or the bridge must not appear.
    assert.doesNotMatch(unit, /PrivateNetwork|PrivateDevices|ProtectSystem=strict|InaccessiblePaths/);
  });
});
