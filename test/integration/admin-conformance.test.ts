import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { hostAccounts } from "../../agent/src/adapters/accounts/host-accounts.js";
import { fsUserRegistry } from "../../agent/src/admin/deps.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { accountsConformance } from "../conformance/host-accounts-conformance.js";
import { registryConformance } from "../conformance/user-registry-conformance.js";
import { requireRoot } from "./admin-helpers.js";

// The real adapters under the contracts their unit-test fakes also pass (as root: real accounts,
// chowned files).
before(requireRoot);

accountsConformance("shadow-utils hostAccounts", () => ({
  accounts: hostAccounts(),
  prefix: "pst-cf",
  cleanup: async (users, groups) => {
    for (const u of users) if (spawnSync("getent", ["passwd", u]).status === 0) execFileSync("userdel", [u]);
    for (const g of [...users, ...groups]) if (spawnSync("getent", ["group", g]).status === 0) execFileSync("groupdel", [g]);
  },
}));

const root = mkdtempSync(join(tmpdir(), "pst-registry-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

registryConformance("files on disk (fsUserRegistry)", () => ({
  fresh: async () => {
    const dir = join(root, String(n++));
    const layout = { ...layoutFor("podspawn-cf"), usersDir: join(dir, "users"), authorizedKeysDir: join(dir, "authorized_keys") };
    mkdirSync(layout.usersDir, { recursive: true });
    mkdirSync(layout.authorizedKeysDir, { recursive: true });
    return fsUserRegistry(layout);
  },
  uninstalled: async () => {
    const dir = join(root, String(n++));
    const layout = { ...layoutFor("podspawn-cf"), usersDir: join(dir, "users"), authorizedKeysDir: join(dir, "authorized_keys") };
    mkdirSync(layout.usersDir, { recursive: true });
    return { registry: fsUserRegistry(layout), missing: [layout.authorizedKeysDir] };
  },
}));
