/**
 * Property tests for the parsers of what a client or peer sends the daemon: control requests,
 * tunnel requests, window sizes and signals (frames and session requests have theirs in
 * frames.test.ts and session-request.test.ts), and for the fleet's outside input: the manifest,
 * discovery TXT records and ssh flags.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CONTROL_OPS, formatControlLine, parseControlRequest, type ControlRequest } from "../../agent/src/core/protocol/control-protocol.js";
import { parseTunnelRequest, tunnelCommand } from "../../agent/src/core/protocol/tunnel-request.js";
import { FORWARDED_SIGNALS, parseResize, parseSignal } from "../../agent/src/core/protocol/session-request.js";
import { formatFleetManifest, validateFleetManifest } from "../../agent/src/core/fleet/fleet-manifest.js";
import { discoveryName, parseDiscoveryRecords } from "../../agent/src/core/fleet/discovery-record.js";
import { checkSshFlags } from "../../agent/src/core/fleet/ssh-argv.js";
import { freshEd25519 } from "./helpers/test-keys.js";
import { onlyInputError, RUNS } from "./helpers/input-errors.js";

const name = fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/).filter((n) => !["root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "list", "irc", "gnats", "nobody", "sshd", "docker", "admin", "ubuntu", "debian", "centos", "fedora", "opc", "core", "rocky", "alma", "alpine", "arch", "freebsd", "bitnami", "vagrant", "podspawn", "podspawnd", "halt", "shutdown", "ftp", "postgres", "mysql", "syslog", "operator", "administrator", "backup", "nogroup", "messagebus", "almalinux", "azureuser"].includes(n));
const project = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);

describe("control requests (property)", () => {
  const valid: fc.Arbitrary<ControlRequest> = fc.oneof(
    fc.constantFrom<ControlRequest>({ op: "reload" }, { op: "status" }, { op: "metrics" }, { op: "list" }, { op: "capacity" }),
    name.map((user): ControlRequest => ({ op: "evict", user })),
    fc.record({ user: name, project: fc.option(project), purge: fc.boolean() }).map((f): ControlRequest => ({ op: "stop", ...f })),
  );

  it("every well-formed request of every op round-trips through its line", () => {
    fc.assert(fc.property(valid, (req) => assert.deepEqual(parseControlRequest(formatControlLine(req).trimEnd()), req)), RUNS);
  });

  it("never throws anything but an InputError naming the control request, for any line or any JSON object", () => {
    const ops = Object.keys(CONTROL_OPS);
    const line = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.json({ maxDepth: 3 }),
      fc.record({ op: fc.oneof(fc.constantFrom(...ops), fc.anything()), user: fc.anything(), project: fc.anything(), purge: fc.anything(), drain: fc.anything(), reason: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(line, (l) => {
        const err = onlyInputError(() => parseControlRequest(l));
        if (err) assert.match(err.field, /^control request/);
      }),
      RUNS,
    );
  });
});

describe("tunnel requests, window sizes and signals (property)", () => {
  it("a tunnel command for any port 1-65535 reads back as that port", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 65535 }), (p) => parseTunnelRequest(tunnelCommand(p)) === p), RUNS);
  });

  it("any other command is no tunnel request or a valid port, never a throw", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ maxLength: 20 }).map((s) => `podspawn-tunnel ${s}`), fc.constant(null)), (cmd) => {
        const port = parseTunnelRequest(cmd);
        assert.ok(port === null || (Number.isInteger(port) && port >= 1 && port <= 65535), String(port));
      }),
      RUNS,
    );
  });

  it("a resize of anything gives integer sizes within 1-10000, or throws an InputError", () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ cols: fc.anything(), rows: fc.anything() }), fc.record({ cols: fc.integer(), rows: fc.double() })), (raw) => {
        let size: { cols: number; rows: number } | null = null;
        onlyInputError(() => (size = parseResize(raw)));
        if (size !== null) for (const v of Object.values(size as { cols: number; rows: number })) assert.ok(Number.isInteger(v) && v >= 1 && v <= 10000, String(v));
      }),
      RUNS,
    );
  });

  it("only the allow-listed signals pass, whatever the name", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...FORWARDED_SIGNALS, "SIGKILL", "SIGSTOP")), (s) => {
      const got = parseSignal(s);
      assert.equal(got, (FORWARDED_SIGNALS as readonly string[]).includes(s) ? s : null);
    }), RUNS);
  });
});

describe("fleet manifest, discovery records and ssh flags (property)", () => {
  const HOST_KEYS = Array.from({ length: 3 }, () => freshEd25519().split(" ").slice(0, 2).join(" "));
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
  const node = fc.record({
    name: label,
    address: fc.oneof(fc.ipV4(), fc.stringMatching(/^[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,2}$/)),
    port: fc.integer({ min: 1, max: 65535 }),
    hostKeys: fc.uniqueArray(fc.constantFrom(...HOST_KEYS), { minLength: 1, maxLength: 3 }),
    drained: fc.option(fc.boolean(), { nil: undefined }),
  }).map((n) => (n.drained === undefined ? { name: n.name, address: n.address, port: n.port, hostKeys: n.hostKeys } : n));
  // Plain objects (fast-check's records have no prototype), as JSON.parse gives them.
  const manifest = fc.record({ version: fc.constant(1 as const), fleet: label, domain: fc.constantFrom("pod", "dev.example"), nodes: fc.uniqueArray(node, { selector: (n) => n.name, minLength: 1, maxLength: 4 }) }).map((m) => JSON.parse(JSON.stringify(m)) as { version: 1; fleet: string; domain: string; nodes: { name: string }[] });

  it("any valid manifest validates to itself and its canonical text reads back the same", () => {
    fc.assert(
      fc.property(manifest, (m) => {
        assert.deepEqual(validateFleetManifest(m), m);
        assert.deepEqual(validateFleetManifest(JSON.parse(formatFleetManifest(validateFleetManifest(m)))), m);
      }),
      RUNS,
    );
  });

  it("any damaged manifest is refused with an InputError, never another throw", () => {
    const damaged = fc.oneof(
      fc.anything(),
      fc.json({ maxDepth: 4 }).map((j) => JSON.parse(j) as unknown),
      fc.tuple(manifest, fc.constantFrom("version", "fleet", "domain", "nodes", "extra"), fc.anything()).map(([m, k, v]) => ({ ...m, [k]: v })),
      fc.tuple(manifest, fc.constantFrom("name", "address", "port", "hostKeys", "drained", "hostCa", "extra"), fc.anything()).map(([m, k, v]) => ({ ...m, nodes: [{ ...m.nodes[0], [k]: v }] })),
    );
    fc.assert(fc.property(damaged, (v) => void onlyInputError(() => validateFleetManifest(v))), RUNS);
  });

  it("a valid manifest with any one field made invalid is refused, naming that field", () => {
    const top = fc.constantFrom<[string, unknown]>(["version", 2], ["fleet", "Bad_Label"], ["domain", "a b"], ["nodes", []], ["extra", 1]);
    const inNode = fc.constantFrom<[string, unknown]>(["name", "-x"], ["address", "a b"], ["port", 0], ["port", 70000], ["port", "22"], ["hostKeys", []], ["hostKeys", ["ssh-ed25519 AAAA"]], ["drained", "yes"], ["extra", 1]);
    fc.assert(
      fc.property(manifest, fc.oneof(top.map((f) => ({ at: "top", f })), inNode.map((f) => ({ at: "node", f }))), (m, { at, f: [key, bad] }) => {
        const v = at === "top" ? { ...m, [key]: bad } : { ...m, nodes: [{ ...m.nodes[0], [key]: bad }, ...m.nodes.slice(1)] };
        const err = onlyInputError(() => validateFleetManifest(v));
        assert.ok(err !== null, `accepted ${at} ${key}: ${JSON.stringify(bad)}`);
        assert.ok(err.message.includes(at === "top" ? key : `nodes[0].${key}`) || (key === "extra" && /extra/.test(err.message)), err.message);
      }),
      RUNS,
    );
  });

  it("discovery: a record with an https manifest is found among any others; nothing else throws but an InputError naming the DNS name", () => {
    const url = fc.webUrl({ validSchemes: ["https"] });
    const noise = fc.array(fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 3 }), { maxLength: 3 }).map((rs) => rs.filter((r) => !r.join("").split(/\s+/).includes("v=podspawn1")));
    fc.assert(
      fc.property(url, label, noise, fc.nat(), (u, fleet, others, at) => {
        const records = [...others];
        records.splice(at % (others.length + 1), 0, [`v=podspawn1 fleet=${fleet} `, `manifest=${u}`]);
        const found = parseDiscoveryRecords(records, "_podspawn.example.com");
        assert.equal(found.fleet, fleet);
        assert.equal(found.manifestUrl, new URL(u).href);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.array(fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("v=podspawn1 ", "manifest=http://x ", "manifest=https:// ", "manifest=:: ", "fleet=a ")), { maxLength: 3 }), { maxLength: 3 }), (records) => {
        const err = onlyInputError(() => parseDiscoveryRecords(records, "_podspawn.example.com"));
        if (err) assert.equal(err.field, "_podspawn.example.com");
      }),
      RUNS,
    );
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (d) => void onlyInputError(() => discoveryName(d))), RUNS);
  });

  it("ssh flags: any sequence of known options with values passes unchanged; anything else is an InputError naming the ssh flags", () => {
    const flag = fc.oneof(fc.constantFrom("-v", "-4", "-A", "-N", "-T", "-q").map((f) => [f]), fc.tuple(fc.constantFrom("-L", "-p", "-i", "-o", "-J"), fc.string({ minLength: 1, maxLength: 12 })).map(([f, v]) => [f, v]));
    fc.assert(fc.property(fc.array(flag, { maxLength: 5 }), (groups) => {
      const flags = groups.flat();
      assert.deepEqual(checkSshFlags(flags), flags);
    }), RUNS);
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }), (flags) => {
        const err = onlyInputError(() => checkSshFlags(flags));
        if (err) assert.equal(err.field, "ssh flags");
      }),
      RUNS,
    );
  });
});
