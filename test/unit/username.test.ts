import { describe, it } from "node:test";
import assert from "node:assert/strict";
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
