import { accountsConformance } from "../conformance/host-accounts-conformance.js";
import { registryConformance } from "../conformance/user-registry-conformance.js";
import { FakeAccounts } from "./helpers/fake-accounts.js";
import { FakeRegistry } from "./helpers/fake-registry.js";

// The fakes the admin use-case tests rely on, held to the real adapters' contracts.
const accounts = new FakeAccounts();
accountsConformance("FakeAccounts", () => ({ accounts, prefix: "pst-cf", cleanup: async () => undefined }));

registryConformance("FakeRegistry", () => ({
  fresh: async () => new FakeRegistry(),
  uninstalled: async () => {
    const registry = new FakeRegistry();
    registry.missing = ["/etc/podspawn/users", "/etc/podspawn/authorized_keys"];
    return { registry, missing: registry.missing };
  },
}));
