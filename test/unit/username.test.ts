import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { InputError } from "../../agent/src/core/errors.js";
import { isValidUsername, validateUsername } from "../../agent/src/core/users/username.js";

describe("validateUsername", () => {
  const refused: [string, string, RegExp][] = [
    ["path traversal", "../etc", /not a valid username/],
    ["shell metacharacters", "a;id", /not a valid username/],
    ["capitals", "Alice", /not a valid username/],
    ["a leading dash (option injection)", "-x", /not a valid username/],
    ["33 characters", "a".repeat(33), /33 characters long/],
    ["unicode", "alicé", /not a valid username/],
    ["the empty string", "", /must not be empty/],
    ["reserved root", "root", /reserved/],
    ["reserved docker", "docker", /reserved/],
    ["our keys user", "podspawn-keys", /reserved/],
    ["systemd- names", "systemd-foo", /reserved/],
    ["a slash", "a/b", /not a valid username/],
    ["a single dot", ".", /not a valid username/],
    ["a dot inside", "a.b", /not a valid username/],
    ["a command separator and spaces", "alice;rm -rf /", /not a valid username/],
    ["command substitution", "$(id)", /not a valid username/],
    ["backticks", "a`id`", /not a valid username/],
    ["a single quote", "a'b", /not a valid username/],
    ["a double quote", 'a"b', /not a valid username/],
    ["a newline", "alice\nroot", /not a valid username/],
    ["a NUL byte", "alice\0", /not a valid username/],
    ["300 characters", "a".repeat(300), /300 characters long/],
    ["a Cyrillic homoglyph (а for a)", "\u0430lice", /not a valid username/],
    ["a right-to-left override", "alice\u202e", /not a valid username/],
    ["a zero-width space", "ali\u200bce", /not a valid username/],
    ["a zero-width joiner", "al\u200dice", /not a valid username/],
    ["sshd's privilege separation user", "sshd", /reserved/],
    ["nobody", "nobody", /reserved/],
  ];
  for (const [what, name, problem] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      assert.throws(
        () => validateUsername(name, "NAME"),
        (e: unknown) => e instanceof InputError && e.field === "NAME" && e.message.startsWith("NAME: ") && problem.test(e.message),
      );
    });
  }

  // Written out here, not read from RESERVED_USERNAMES: the list is the thing under test.
  const cloudImageAccounts = ["ec2-user", "ssm-user", "admin", "ubuntu", "debian", "centos", "fedora", "cloud-user", "azureuser", "opc", "core", "rocky", "alma", "almalinux"];
  for (const name of cloudImageAccounts) {
    it(`refuses ${name}, a cloud image's own login account`, () => {
      assert.throws(() => validateUsername(name), (e: unknown) => e instanceof InputError && /is reserved for the system/.test(e.message));
    });
  }

  it("refuses every account Debian itself defines (base-passwd's passwd.master, read from this host)", () => {
    const master = readFileSync("/usr/share/base-passwd/passwd.master", "utf8").split("\n").filter(Boolean).map((l) => l.split(":")[0]!);
    assert.ok(master.includes("root") && master.length > 10, "read the Debian account list");
    for (const name of master) assert.equal(isValidUsername(name), false, name);
  });

  // The rest of the list, written out: service accounts packages add, and our own.
  const serviceAccounts = ["sshd", "messagebus", "syslog", "docker", "administrator", "operator", "halt", "shutdown", "ftp", "postgres", "mysql", "nogroup", "gnats"];
  const systemdAccounts = ["systemd-network", "systemd-resolve", "systemd-timesync", "systemd-journal", "systemd-coredump"];
  const otherImageAccounts = ["alpine", "arch", "freebsd", "bitnami", "vagrant"];
  const ours = ["podspawn", "podspawn-keys", "podspawn-users", "podspawnd"];
  for (const name of [...serviceAccounts, ...systemdAccounts, ...otherImageAccounts, ...ours]) {
    it(`refuses ${name}, with the reason and what is allowed instead`, () => {
      assert.throws(
        () => validateUsername(name),
        (e: unknown) => e instanceof InputError && e.message === `user: ${JSON.stringify(name)} is reserved for the system (allowed: any name not used by the host or podspawn itself)`,
      );
    });
  }

  it("names the field 'user' by default and says what is allowed", () => {
    assert.throws(
      () => validateUsername("Bob"),
      (e: unknown) => e instanceof InputError && e.message === `user: "Bob" is not a valid username (allowed: 1-32 chars: a lowercase letter, then lowercase letters, digits, '_' or '-')`,
    );
  });

  it("accepts names that only contain a reserved name or an underscore", () => {
    for (const name of ["rooted", "my-docker", "core2", "ubuntu-dev", "a_", "x_y", "adminx"]) assert.equal(validateUsername(name), name);
  });

  it("refuses non-strings", () => {
    assert.throws(() => validateUsername(42), /expected a string, got number/);
  });

  it("accepts ordinary names up to 32 characters", () => {
    for (const name of ["alice", "bob-2", "c_d", "a".repeat(32), "pst-u1"]) assert.equal(validateUsername(name), name);
  });

  it("isValidUsername agrees with validateUsername", () => {
    assert.equal(isValidUsername("alice"), true);
    assert.equal(isValidUsername("../etc"), false);
  });
});
