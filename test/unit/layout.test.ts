import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../agent/src/core/errors.js";
import { DEFAULT_INSTANCE, layoutFor, layoutFromEnv, userSocketDir, userSocketPath } from "../../agent/src/core/host/layout.js";

describe("layoutFor", () => {
  it("derives every path, account and unit from the instance name", () => {
    assert.deepEqual(layoutFor("podspawn-e2e"), {
      instance: "podspawn-e2e",
      libDir: "/usr/local/lib/podspawn-e2e",
      command: "/usr/local/lib/podspawn-e2e/bin/podspawn",
      etcDir: "/etc/podspawn-e2e",
      configFile: "/etc/podspawn-e2e/config.yaml",
      usersDir: "/etc/podspawn-e2e/users",
      authorizedKeysDir: "/etc/podspawn-e2e/authorized_keys",
      projectsDir: "/etc/podspawn-e2e/projects",
      stateDir: "/var/lib/podspawn-e2e",
      buildLogsDir: "/var/lib/podspawn-e2e/builds",
      projectReposDir: "/var/lib/podspawn-e2e/projects",
      runDir: "/run/podspawn-e2e",
      controlSocket: "/run/podspawn-e2e/control.sock",
      pidFile: "/run/podspawn-e2e/daemon.pid",
      keysUser: "podspawn-keys",
      usersGroup: "podspawn-users",
      systemdUnit: "podspawn-e2ed.service",
    });
  });

  it("is the default instance 'podspawn' when none is named", () => {
    assert.equal(DEFAULT_INSTANCE, "podspawn");
    assert.equal(layoutFor().command, "/usr/local/lib/podspawn/bin/podspawn");
  });

  it("accepts podspawn and podspawn-<1 to 16 lowercase letters or digits>", () => {
    for (const ok of ["podspawn", "podspawn-a", "podspawn-e2e", `podspawn-${"x".repeat(16)}`]) assert.equal(layoutFor(ok).instance, ok);
  });

  it("refuses any other instance name, naming the field and what is allowed (names become paths)", () => {
    for (const bad of ["", "pod", "podspawnx", "xpodspawn", "podspawn-", "podspawn-UP", "podspawn-a!", "podspawn-a/../b", "podspawn-a\n", `podspawn-${"x".repeat(17)}`, "evil/podspawn"]) {
      assert.throws(
        () => layoutFor(bad),
        (e: unknown) => e instanceof InputError && e.field === "instance" && e.message === `instance: ${JSON.stringify(bad)} is not a valid instance name (allowed: 'podspawn' or 'podspawn-<1-16 lowercase letters/digits>')`,
        JSON.stringify(bad),
      );
    }
  });
});

describe("per-user sockets", () => {
  it("live under <runDir>/u/<user>/", () => {
    const layout = layoutFor("podspawn-unit");
    assert.equal(userSocketDir(layout, "alice"), "/run/podspawn-unit/u/alice");
    assert.equal(userSocketPath(layout, "alice"), "/run/podspawn-unit/u/alice/spawn.sock");
  });
});

describe("layoutFromEnv", () => {
  it("takes the instance the wrapper pins in PODSPAWN_INSTANCE, else the default", () => {
    assert.equal(layoutFromEnv({ PODSPAWN_INSTANCE: "podspawn-e2e" }).instance, "podspawn-e2e");
    assert.equal(layoutFromEnv({}).instance, "podspawn");
    assert.equal(layoutFromEnv({ PODSPAWN_INSTANCE: "" }).instance, "podspawn");
  });

  it("refuses an invalid instance from the environment instead of inventing paths", () => {
    assert.throws(() => layoutFromEnv({ PODSPAWN_INSTANCE: "../etc" }), InputError);
  });
});
