import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { hostAccounts } from "../../agent/src/adapters/accounts/host-accounts.js";
import { scriptedRunner, type Answer } from "./helpers/scripted-runner.js";

const noSleep = async (): Promise<void> => undefined;

const scripted = (answers: Answer[]): ReturnType<typeof scriptedRunner> => scriptedRunner(answers);

describe("hostAccounts", () => {
  it("creates a pod user with its own group, /bin/sh, home / and password '*'", async () => {
    const { run, calls } = scripted([]);
    await hostAccounts(run, noSleep).createPodUser("alice", "podspawn-users");
    assert.deepEqual(calls, [
      "useradd --user-group --groups podspawn-users --shell /bin/sh --home-dir / --no-create-home -- alice",
      "usermod -p * -- alice",
    ]);
  });

  it("removes the half-made account if setting the password fails", async () => {
    const { run, calls } = scripted([(f) => (f === "usermod" ? { code: 1, stdout: "", stderr: "usermod: boom" } : undefined)]);
    await assert.rejects(hostAccounts(run, noSleep).createPodUser("alice", "podspawn-users"), /usermod: boom/);
    assert.equal(calls.at(-1), "userdel -- alice");
  });

  it("retries while another tool holds the passwd lock", async () => {
    let n = 0;
    const { run, calls } = scripted([(f) => (f === "userdel" && n++ < 2 ? { code: 1, stdout: "", stderr: "userdel: cannot lock /etc/passwd; try again later." } : undefined)]);
    await hostAccounts(run, noSleep).deleteUser("alice");
    assert.equal(calls.length, 3);
  });

  it("reads an account, all its groups, and its primary group's name, members and other accounts on it", async () => {
    const { run } = scripted([
      (f, a) => (f === "getent" && a[0] === "passwd" && a[1] === "alice" ? { code: 0, stdout: "alice:x:1001:1002::/:/bin/sh\n", stderr: "" } : undefined),
      (f, a) => (f === "getent" && a[0] === "group" && a[1] === "1002" ? { code: 0, stdout: "alice:x:1002:mallory\n", stderr: "" } : undefined),
      (f, a) => (f === "getent" && a.length === 1 ? { code: 0, stdout: "root:x:0:0::/root:/bin/sh\nalice:x:1001:1002::/:/bin/sh\nbob:x:1003:1002::/:/bin/sh\n", stderr: "" } : undefined),
      (f) => (f === "id" ? { code: 0, stdout: "alice podspawn-users\n", stderr: "" } : undefined),
    ]);
    assert.deepEqual(await hostAccounts(run, noSleep).getUser("alice"), {
      name: "alice", uid: 1001, gid: 1002, home: "/", shell: "/bin/sh", groups: ["alice", "podspawn-users"],
      primaryGroup: { name: "alice", members: ["mallory"], sharedBy: ["bob"] },
    });
  });

  it("reports a missing account as null (getent exit 2)", async () => {
    const { run } = scripted([(f) => (f === "getent" ? { code: 2, stdout: "", stderr: "" } : undefined)]);
    assert.equal(await hostAccounts(run, noSleep).getUser("ghost"), null);
  });
});
