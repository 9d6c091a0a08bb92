import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { addKeys } from "../../agent/src/admin/add-keys.js";
import { InputError, UserFacingError } from "../../agent/src/core/errors.js";
import { adminWorld, keyLines, parsed } from "./helpers/admin-world.js";

const none = { keys: [], keyFiles: [], github: [] };
const fingerprints = (keys: readonly { fingerprint: string }[] | undefined): string[] => (keys ?? []).map((k) => k.fingerprint);

describe("addKeys (add-user)", () => {
  it("creates the account, writes every key from every source, then tells the daemon", async () => {
    const w = adminWorld();
    const [a, b, c] = keyLines(3) as [string, string, string];
    w.files.set("/tmp/b.pub", `# laptop\n${b}\n`);
    w.github.set("octocat", `${c}\n`);
    await addKeys({ name: "alice", keys: [a], keyFiles: ["/tmp/b.pub"], github: ["octocat"] }, w.deps);
    assert.deepEqual(w.log, ["createPodUser alice", "writeKeys alice", "writeAuthorized alice", "writeGithubIds", "control reload"]);
    assert.deepEqual(fingerprints(w.registry.keys.get("alice")?.keys), fingerprints(parsed([a, b, c])));
    assert.equal(w.registry.authorized.get("alice")?.gid, w.accounts.users.get("alice")?.gid, "the rendered file belongs to the user's group");
    assert.equal(w.registry.keys.get("alice")?.gid, w.accounts.groups.get(w.deps.layout.keysUser)?.gid, "the registry belongs to the keys group");
    assert.deepEqual(w.out, ["created pod user alice with 3 key(s)"]);
  });

  it("a bad key anywhere changes nothing and asks no daemon", async () => {
    const w = adminWorld();
    const [good] = keyLines(1) as [string];
    await assert.rejects(addKeys({ ...none, name: "alice", keys: [good, "ssh-ed25519 AAAA"] }, w.deps), (e: unknown) => e instanceof InputError && e.field === "--key #2");
    assert.deepEqual(w.log, []);
    assert.equal(w.accounts.users.has("alice"), false);
  });

  it("checks every GitHub login before fetching any", async () => {
    const w = adminWorld();
    w.github.set("octocat", keyLines(1)[0] as string);
    await assert.rejects(addKeys({ ...none, name: "alice", github: ["octocat", "-bad-"] }, w.deps), /not a GitHub login/);
    assert.deepEqual(w.fetched, []);
    assert.deepEqual(w.log, []);
  });

  it("names an unreadable or empty key file and changes nothing", async () => {
    const w = adminWorld();
    await assert.rejects(addKeys({ ...none, name: "alice", keyFiles: ["/nope.pub"] }, w.deps), /--key-file: cannot read \/nope\.pub: ENOENT/);
    w.files.set("/empty.pub", "# nothing\n");
    await assert.rejects(addKeys({ ...none, name: "alice", keyFiles: ["/empty.pub"] }, w.deps), /\/empty\.pub contains no keys/);
    assert.deepEqual(w.log, []);
  });

  it("refuses a bad name and an empty key list before touching anything", async () => {
    const w = adminWorld();
    await assert.rejects(addKeys({ ...none, name: "Bad-Name", keys: keyLines(1) }, w.deps), /NAME: "Bad-Name" is not a valid username/);
    await assert.rejects(addKeys({ ...none, name: "alice" }, w.deps), /no keys given/);
    assert.deepEqual(w.log, []);
  });

  it("refuses a key past 100 per user and changes nothing, so the registry stays readable and a later revocation still works", async () => {
    const w = adminWorld();
    const lines = keyLines(101);
    await addKeys({ ...none, name: "alice", keys: lines.slice(0, 100) }, w.deps);
    w.log.length = 0;
    await assert.rejects(
      addKeys({ ...none, name: "alice", keys: [lines[100] as string] }, w.deps),
      (e: unknown) => e instanceof InputError && e.message === "add-user: alice: with the 100 registered, 101 keys is more than 100 per user (allowed: at most 100 keys per user; remove some first (sync with a users file))",
    );
    assert.deepEqual(w.log, []);
    assert.equal(w.registry.keys.get("alice")?.keys.length, 100);
    const w2 = adminWorld();
    await assert.rejects(addKeys({ ...none, name: "bob", keys: keyLines(150) }, w2.deps), /add-user: bob: 150 keys is more than 100 per user/);
    assert.equal(w2.accounts.users.has("bob"), false, "no account made");
  });

  it("records each GitHub login's numeric account id at its first import; a later import of the same account works", async () => {
    const w = adminWorld();
    const [a, b] = keyLines(2) as [string, string];
    w.github.set("octocat", `${a}\n`);
    w.githubAccounts.set("octocat", 583231);
    await addKeys({ ...none, name: "alice", github: ["octocat"] }, w.deps);
    assert.deepEqual([...w.githubIds], [["octocat", 583231]]);
    w.github.set("octocat", `${a}\n${b}\n`);
    await addKeys({ ...none, name: "alice", github: ["OctoCat"] }, w.deps);
    assert.equal(w.registry.keys.get("alice")?.keys.length, 2);
  });

  it("refuses a GitHub login that is now another account (renamed and re-registered), fetching and changing nothing", async () => {
    const w = adminWorld();
    const [mine, stranger] = keyLines(2) as [string, string];
    w.github.set("octocat", `${mine}\n`);
    w.githubAccounts.set("octocat", 583231);
    await addKeys({ ...none, name: "alice", github: ["octocat"] }, w.deps);
    w.log.length = 0;
    w.fetched.length = 0;
    w.github.set("octocat", `${stranger}\n`);
    w.githubAccounts.set("octocat", 99_000_001);
    await assert.rejects(
      addKeys({ ...none, name: "alice", github: ["octocat"] }, w.deps),
      (e: unknown) => e instanceof UserFacingError && e.code === "github-account-changed" && e.message.startsWith("GitHub login octocat is now account 99000001, not account 583231 whose keys were imported before"),
    );
    assert.deepEqual(w.fetched, [], "the stranger's keys were not even fetched");
    assert.deepEqual(w.log, []);
    assert.deepEqual(fingerprints(w.registry.keys.get("alice")?.keys), fingerprints(parsed([mine])));
    assert.deepEqual([...w.githubIds], [["octocat", 583231]]);
  });

  it("refuses to adopt an existing pod account whose primary group another account shares, writing nothing", async () => {
    const w = adminWorld();
    const [a, b] = keyLines(2) as [string, string];
    await addKeys({ ...none, name: "alice", keys: [a] }, w.deps);
    w.accounts.addAccountOnGroupOf("alice", "mallory");
    w.log.length = 0;
    await assert.rejects(addKeys({ ...none, name: "alice", keys: [b] }, w.deps), /host account "alice"'s primary group also holds "mallory"/);
    assert.deepEqual(w.log, []);
  });

  it("refuses a key that belongs to another pod user, naming them, and changes nothing", async () => {
    const w = adminWorld();
    const [shared, mine] = keyLines(2) as [string, string];
    await addKeys({ ...none, name: "bob", keys: [shared] }, w.deps);
    w.log.length = 0;
    await assert.rejects(addKeys({ ...none, name: "alice", keys: [mine, shared] }, w.deps), /already belongs to pod user "bob"/);
    assert.deepEqual(w.log, []);
  });

  it("refuses a host account that is not a pod user, or one in docker, before writing", async () => {
    const w = adminWorld();
    w.accounts.addForeignUser("carol");
    w.accounts.addForeignUser("dan", [w.deps.layout.usersGroup, "docker"]);
    await assert.rejects(addKeys({ ...none, name: "carol", keys: keyLines(1) }, w.deps), (e: unknown) => e instanceof UserFacingError && /exists and is not a pod user/.test(e.message));
    await assert.rejects(addKeys({ ...none, name: "dan", keys: keyLines(1) }, w.deps), /docker group, which is root-equivalent/);
    assert.deepEqual(w.log, []);
  });

  it("removes the new account again when writing its files fails", async () => {
    const w = adminWorld();
    w.registry.failNext = { method: "writeAuthorized", message: "EIO: disk on fire" };
    await assert.rejects(addKeys({ ...none, name: "alice", keys: keyLines(1) }, w.deps), /disk on fire/);
    assert.deepEqual(w.log, ["createPodUser alice", "writeKeys alice", "writeAuthorized alice", "remove alice", "deleteUser alice"]);
    assert.equal(w.accounts.users.has("alice"), false);
    assert.equal(w.registry.keys.has("alice"), false);
  });

  it("removes a new account that the host's useradd put into docker", async () => {
    const w = adminWorld();
    w.accounts.extraGroups = ["docker"];
    await assert.rejects(addKeys({ ...none, name: "alice", keys: keyLines(1) }, w.deps), /docker group/);
    assert.equal(w.accounts.users.has("alice"), false);
    assert.deepEqual(w.log, ["createPodUser alice", "remove alice", "deleteUser alice"]);
  });

  it("keeps an existing account when writing fails", async () => {
    const w = adminWorld();
    await addKeys({ ...none, name: "alice", keys: keyLines(1) }, w.deps);
    w.registry.failNext = { method: "writeKeys", message: "EROFS" };
    await assert.rejects(addKeys({ ...none, name: "alice", keys: keyLines(1) }, w.deps), /EROFS/);
    assert.equal(w.accounts.users.has("alice"), true);
  });

  it("adds new keys to an existing user; known keys change nothing and wake no daemon", async () => {
    const w = adminWorld();
    const [a, b] = keyLines(2) as [string, string];
    await addKeys({ ...none, name: "alice", keys: [a] }, w.deps);
    await addKeys({ ...none, name: "alice", keys: [b] }, w.deps);
    assert.equal(w.out[1], "alice: added 1 key(s), now 2");
    w.daemon.requests.length = 0;
    await addKeys({ ...none, name: "alice", keys: [a, b] }, w.deps);
    assert.equal(w.out[2], "alice: nothing to change (2 key(s) already registered)");
    assert.deepEqual(w.daemon.requests, []);
  });

  it("refuses on a node that is not installed, naming what is missing, before anything", async () => {
    const w = adminWorld();
    w.registry.missing = ["/etc/podspawn/users"];
    w.accounts.groups.delete(w.deps.layout.usersGroup);
    await assert.rejects(addKeys({ ...none, name: "alice", keys: keyLines(1) }, w.deps), /podspawn is not installed \(missing group podspawn-users, \/etc\/podspawn\/users\); run 'podspawn install' first/);
    assert.deepEqual(w.log, []);
  });

  it("succeeds without a daemon, and only warns when the daemon refuses the reload", async () => {
    const w = adminWorld();
    w.daemon.down = true;
    await addKeys({ ...none, name: "alice", keys: keyLines(1) }, w.deps);
    assert.equal(w.out.at(-1), "daemon not running; it reads the registry when it starts");
    w.daemon.down = false;
    w.daemon.refuse = "busy";
    await addKeys({ ...none, name: "bob", keys: keyLines(1) }, w.deps);
    assert.deepEqual(w.err, ["warning: the daemon refused to reload: busy"]);
    assert.ok(w.accounts.users.has("bob"));
  });
});
