/**
 * Fleet discovery over real DNS: a tiny UDP DNS responder on 127.0.0.1 (written here: it answers
 * TXT queries for one name from a table, NXDOMAIN otherwise) and Node's own resolver (c-ares)
 * pointed at it, the way `client-setup --discover` uses the system's. No traffic leaves loopback.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { promises as dns } from "node:dns";
import { discoverFleet } from "../../agent/src/adapters/fleet/discovery.js";

const TABLE: Record<string, string[][]> = {
  "_podspawn.fleet.acme.test": [["v=podspawn1 fleet=acme manifest=https://acme-manifest.s3.eu-central-1.amazonaws.com/fleet.json"], ["unrelated=1"]],
};

/** QNAME at offset 12 of a query, as dotted lowercase, and the offset after QTYPE/QCLASS. */
function question(msg: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let i = 12;
  while (msg[i] !== 0) {
    const len = msg[i] as number;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString("latin1").toLowerCase());
    i += 1 + len;
  }
  return { name: labels.join("."), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

function answer(query: Buffer): Buffer {
  const q = question(query);
  const records = q.type === 16 ? TABLE[q.name] : undefined;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  header.writeUInt16BE(0x8180 | (records ? 0 : 3), 2); // response, RD+RA, NOERROR or NXDOMAIN
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records?.length ?? 0, 6);
  const rrs = (records ?? []).map((strings) => {
    const rdata = Buffer.concat(strings.map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
    rr.writeUInt16BE(16, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...rrs]);
}

let server: Socket;
let port = 0;
const queries: string[] = [];

before(async () => {
  server = createSocket("udp4");
  server.on("message", (msg, rinfo) => {
    queries.push(question(msg).name);
    server.send(answer(msg), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, "127.0.0.1", r));
  port = server.address().port;
});

after(() => server.close());

function resolver(): (name: string) => Promise<string[][]> {
  const r = new dns.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return (name) => r.resolveTxt(name);
}

describe("discovery through a DNS server", () => {
  it("finds the manifest URL from the _podspawn TXT record", async () => {
    const found = await discoverFleet("fleet.acme.test", resolver());
    assert.deepEqual(found, { fleet: "acme", manifestUrl: "https://acme-manifest.s3.eu-central-1.amazonaws.com/fleet.json" });
    assert.ok(queries.includes("_podspawn.fleet.acme.test"));
  });

  it("says which name had no record", async () => {
    await assert.rejects(discoverFleet("nothing.acme.test", resolver()), /cannot discover a fleet at nothing\.acme\.test: looking up TXT _podspawn\.nothing\.acme\.test failed \(ENOTFOUND\)/);
  });
});
