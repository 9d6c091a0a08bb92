import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatPublicKey, parseKeyFile, parsePublicKey, uniqueKeys } from "../../agent/src/core/users/keys.js";
import { InputError } from "../../agent/src/core/errors.js";
import { blobOf, FIXTURE_DIR, fixtureLine, freshEd25519, lineOf, sshString } from "./helpers/test-keys.js";

const ACCEPTED = [
  ["ed25519", "ssh-ed25519", 256],
  ["ecdsa256", "ecdsa-sha2-nistp256", 256],
  ["ecdsa384", "ecdsa-sha2-nistp384", 384],
  ["ecdsa521", "ecdsa-sha2-nistp521", 521],
  ["rsa2048", "ssh-rsa", 2048],
  ["rsa4096", "ssh-rsa", 4096],
  ["sk-ed25519", "sk-ssh-ed25519@openssh.com", 256],
  ["sk-ecdsa", "sk-ecdsa-sha2-nistp256@openssh.com", 256],
] as const;

function sshKeygenFingerprint(name: string): string {
  const out = execFileSync("ssh-keygen", ["-lf", join(FIXTURE_DIR, `${name}.pub`)], { encoding: "utf8" });
  return out.split(" ")[1] as string;
}

describe("parsePublicKey", () => {
  for (const [name, type, bits] of ACCEPTED) {
    it(`accepts a ${name} key with the fingerprint ssh-keygen -l prints`, () => {
      const key = parsePublicKey(fixtureLine(name));
      assert.equal(key.type, type);
      assert.equal(key.bits, bits);
      assert.equal(key.fingerprint, sshKeygenFingerprint(name));
    });
  }

  it("refuses a 1024-bit RSA key, naming the size", () => {
    assert.throws(() => parsePublicKey(fixtureLine("rsa1024")), (e: unknown) => e instanceof InputError && /1024 bits/.test(e.message));
  });

  it("refuses DSA keys as an unsupported type", () => {
    assert.throws(() => parsePublicKey(fixtureLine("dsa")), (e: unknown) => e instanceof InputError && /"ssh-dss" is not supported/.test(e.message));
  });

  it("drops the comment and options, keeping only the canonical type and base64", () => {
    const bare = fixtureLine("ed25519").split(" ").slice(0, 2).join(" ");
    const key = parsePublicKey(`restrict,command="/bin/sh -c 'evil thing'",from="10.0.0.1" ${fixtureLine("ed25519")}`);
    assert.equal(formatPublicKey(key), bare);
  });

  it("refuses a key with an embedded newline (one key per value)", () => {
    const line = fixtureLine("ed25519");
    assert.throws(() => parsePublicKey(`${line}\n${fixtureLine("ecdsa256")}`), /line break/);
    assert.throws(() => parsePublicKey(line.replace(" ", "\n")), /line break/);
  });

  it("refuses a truncated blob", () => {
    const blob = blobOf(fixtureLine("ed25519"));
    assert.throws(() => parsePublicKey(lineOf("ssh-ed25519", blob.subarray(0, blob.length - 5))), /malformed ssh-ed25519 key: truncated/);
  });

  it("refuses a blob whose inner type disagrees with the line's type", () => {
    const blob = blobOf(fixtureLine("ed25519"));
    assert.throws(() => parsePublicKey(lineOf("ecdsa-sha2-nistp256", blob)), /the blob says "ssh-ed25519"/);
  });

  it("refuses trailing bytes after the key", () => {
    const blob = Buffer.concat([blobOf(fixtureLine("ed25519")), Buffer.from([0, 0, 0, 0])]);
    assert.throws(() => parsePublicKey(lineOf("ssh-ed25519", blob)), /trailing bytes/);
  });

  it("refuses an ecdsa key whose curve name does not match its type", () => {
    const blob = blobOf(fixtureLine("ecdsa384"));
    const point = blob.subarray(4 + 19 + 4 + 8);
    const forged = Buffer.concat([sshString(Buffer.from("ecdsa-sha2-nistp256")), sshString(Buffer.from("nistp384")), point]);
    assert.throws(() => parsePublicKey(lineOf("ecdsa-sha2-nistp256", forged)), /curve "nistp384"/);
  });

  for (const [type, extra] of [["ssh-ed25519", []], ["sk-ssh-ed25519@openssh.com", [sshString(Buffer.from("ssh:"))]]] as const) {
    for (const length of [31, 33]) {
      it(`refuses a ${type} key of ${length} bytes (ed25519 keys are 32)`, () => {
        const blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.alloc(length, 7)), ...extra]);
        assert.throws(() => parsePublicKey(lineOf(type, blob)), (e: unknown) => e instanceof InputError && /ed25519 public key is not 32 bytes/.test(e.message));
      });
    }
  }

  /** The nistp256 fixture with its 65-byte uncompressed point replaced. */
  function withPoint(point: Buffer): string {
    return lineOf("ecdsa-sha2-nistp256", Buffer.concat([sshString(Buffer.from("ecdsa-sha2-nistp256")), sshString(Buffer.from("nistp256")), sshString(point)]));
  }
  const realPoint = (): Buffer => {
    const blob = blobOf(fixtureLine("ecdsa256"));
    return blob.subarray(blob.length - 65);
  };

  it("accepts the fixture's point when rebuilt by hand (the forgeries below differ only in the point)", () => {
    assert.equal(parsePublicKey(withPoint(realPoint())).fingerprint, sshKeygenFingerprint("ecdsa256"));
  });

  it("refuses an ecdsa point that is not in uncompressed form (first byte not 0x04)", () => {
    for (const prefix of [0x00, 0x02, 0x03]) {
      const point = Buffer.from(realPoint());
      point[0] = prefix;
      assert.throws(() => parsePublicKey(withPoint(point)), /public point is not an uncompressed point/, `prefix ${prefix}`);
    }
  });

  it("refuses an ecdsa point of the wrong size for its curve", () => {
    for (const point of [realPoint().subarray(0, 64), Buffer.concat([realPoint(), Buffer.from([1])]), realPoint().subarray(0, 33)]) {
      assert.throws(() => parsePublicKey(withPoint(point)), /public point is not an uncompressed point/, `${point.length} bytes`);
    }
  });

  it("refuses an sk key without its application string", () => {
    const blob = blobOf(fixtureLine("sk-ed25519"));
    assert.throws(() => parsePublicKey(lineOf("sk-ssh-ed25519@openssh.com", blob.subarray(0, blob.length - 8))), /security key application/);
  });

  const ALLOWED = " (allowed: one OpenSSH public key line of type ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com (RSA >= 2048 bits))";

  it("names the field 'key' by default and lists what is allowed", () => {
    assert.throws(() => parsePublicKey("ssh-dss AAAA"), (e: unknown) => e instanceof InputError && e.message === `key: key type "ssh-dss" is not supported${ALLOWED}`);
  });

  it("refuses base64 with anything before or after it", () => {
    const b64 = fixtureLine("ed25519").split(" ")[1]!;
    for (const data of [`*${b64}`, `${b64}*`, `${b64}=*`, `${b64.slice(0, 10)}-${b64.slice(10)}`]) {
      assert.throws(() => parsePublicKey(`ssh-ed25519 ${data}`, "k"), (e: unknown) => e instanceof InputError && e.message === `k: key data is not valid base64${ALLOWED}`, data);
    }
  });

  it("tells an unsupported key type from no key type at all", () => {
    assert.throws(() => parsePublicKey("ssh-foo AAAA"), /key type "ssh-foo" is not supported/);
    assert.throws(() => parsePublicKey("sk-foo AAAA"), /key type "sk-foo" is not supported/);
    assert.throws(() => parsePublicKey("my-ssh-key AAAA"), (e: unknown) => e instanceof InputError && e.message === `key: no key type found${ALLOWED}`);
  });

  it("accepts a line with surrounding blanks or a trailing newline (one key, as read from a file)", () => {
    const bare = fixtureLine("ed25519").split(" ").slice(0, 2).join(" ");
    for (const line of [`${fixtureLine("ed25519")}\n`, `  ${fixtureLine("ed25519")}\r\n`, `\t${bare}  `]) assert.equal(formatPublicKey(parsePublicKey(line)), bare, JSON.stringify(line));
  });

  it("takes a line of up to 16384 characters and refuses a longer one, saying how long it is", () => {
    const line = fixtureLine("ed25519");
    const padded = (n: number): string => `${line} ${"c".repeat(n - line.length - 1)}`;
    assert.equal(parsePublicKey(padded(16 * 1024)).type, "ssh-ed25519");
    assert.throws(() => parsePublicKey(padded(16 * 1024 + 1), "k"), (e: unknown) => e instanceof InputError && e.message === `k: is 16385 characters long, more than 16384${ALLOWED}`);
  });

  it("keeps quoted option values in one piece, escaped quotes included, so a key type inside them is not taken for the key", () => {
    const bare = fixtureLine("ed25519").split(" ").slice(0, 2).join(" ");
    for (const options of ['from="a, ssh-ed25519 AAAAbad"', 'command="echo \\"ssh-ed25519 AAAAbad\\""', 'environment="X=\\" ssh-ed25519 AAAAbad"']) {
      assert.equal(formatPublicKey(parsePublicKey(`${options} ${bare} comment`)), bare, options);
    }
  });

  it("says which part of a truncated blob is missing", () => {
    const cases: [string, Buffer, string][] = [
      ["ssh-ed25519", Buffer.from([0, 0]), "truncated before key type"],
      ["ssh-ed25519", sshString(Buffer.from("ssh-ed25519")), "truncated before ed25519 public key"],
      ["ecdsa-sha2-nistp256", sshString(Buffer.from("ecdsa-sha2-nistp256")), "truncated before curve name"],
      ["ecdsa-sha2-nistp256", Buffer.concat([sshString(Buffer.from("ecdsa-sha2-nistp256")), sshString(Buffer.from("nistp256"))]), "truncated before public point"],
      ["ssh-rsa", sshString(Buffer.from("ssh-rsa")), "truncated before RSA exponent"],
      ["ssh-rsa", Buffer.concat([sshString(Buffer.from("ssh-rsa")), sshString(Buffer.from([1, 0, 1]))]), "truncated before RSA modulus"],
      ["ssh-ed25519", Buffer.concat([sshString(Buffer.from("ssh-ed25519")), Buffer.from([0, 0, 0, 40]), Buffer.alloc(32)]), "truncated inside ed25519 public key"],
    ];
    for (const [type, blob, message] of cases) {
      assert.throws(() => parsePublicKey(lineOf(type, blob), "k"), (e: unknown) => e instanceof InputError && e.message === `k: malformed ${type} key: ${message}${ALLOWED}`, message);
    }
  });

  it("refuses an RSA key whose exponent is zero", () => {
    const blob = blobOf(fixtureLine("rsa2048"));
    const r = new DataView(blob.buffer, blob.byteOffset);
    const typeLen = r.getUint32(0);
    const eLen = r.getUint32(4 + typeLen);
    const modulus = blob.subarray(4 + typeLen + 4 + eLen);
    for (const e of [Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 0])]) {
      const forged = Buffer.concat([sshString(Buffer.from("ssh-rsa")), sshString(e), modulus]);
      assert.throws(() => parsePublicKey(lineOf("ssh-rsa", forged)), /malformed ssh-rsa key: RSA exponent is zero/, `exponent of ${e.length} bytes`);
    }
  });

  it("refuses non-base64 data, an empty value and a missing blob, naming the field", () => {
    assert.throws(() => parsePublicKey("ssh-ed25519 not*base64", "--key #1"), (e: unknown) => e instanceof InputError && e.message === `--key #1: key data is not valid base64${ALLOWED}`);
    assert.throws(() => parsePublicKey("   ", "--key #2"), (e: unknown) => e instanceof InputError && e.field === "--key #2" && /empty/.test(e.message));
    assert.throws(() => parsePublicKey("ssh-ed25519", "k"), /has no base64 data/);
  });

  it("never accepts random garbage (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        try {
          const key = parsePublicKey(s);
          // If it parsed, the canonical form must round-trip to the same key.
          assert.equal(parsePublicKey(formatPublicKey(key)).fingerprint, key.fingerprint);
        } catch (e) {
          assert.ok(e instanceof InputError);
        }
      }),
    );
  });

  it("round-trips every accepted fixture through its canonical form", () => {
    for (const [name] of ACCEPTED) {
      const key = parsePublicKey(fixtureLine(name));
      assert.deepEqual(parsePublicKey(formatPublicKey(key)), key);
    }
  });
});

describe("parseKeyFile", () => {
  it("skips blank lines and comments and reads every key", () => {
    const text = `# laptop\n${fixtureLine("ed25519")}\n\n${fixtureLine("ecdsa256")}\n`;
    assert.deepEqual(parseKeyFile(text, "f").map((k) => k.type), ["ssh-ed25519", "ecdsa-sha2-nistp256"]);
  });

  it("refuses the whole file if one line is bad, naming the line", () => {
    const text = `${fixtureLine("ed25519")}\n${fixtureLine("rsa1024")}\n`;
    assert.throws(() => parseKeyFile(text, "keys.txt"), (e: unknown) => e instanceof InputError && e.field === "keys.txt:2");
  });
});

describe("uniqueKeys", () => {
  it("drops repeats by fingerprint, keeping the first order", () => {
    const a = parsePublicKey(freshEd25519());
    const b = parsePublicKey(freshEd25519());
    assert.deepEqual(uniqueKeys([a, b, a, b]), [a, b]);
  });
});
