import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { blockOf, blockSize, cidrEnd, contains, firstHost, formatAddress, formatCidr, overlaps, readAddress, readCidr, type Cidr } from "../../agent/src/core/net/cidr.js";
import { freeSubnets, nextFreeSubnet, poolCapacity, type SubnetPool } from "../../agent/src/core/container/subnet-pool.js";

function cidr(text: string): Cidr {
  const r = readCidr(text);
  if (!r.ok) throw new Error(r.problem);
  return r.value;
}

/** Any aligned IPv4 block with a prefix in [min, max]. */
const block = (min: number, max: number): fc.Arbitrary<Cidr> =>
  fc.integer({ min, max }).chain((prefix) => fc.integer({ min: 0, max: 2 ** prefix - 1 }).map((i) => ({ base: i * blockSize(prefix), prefix })));

/** A pool of at most 2^10 blocks (so every block can be checked by brute force) and blocks used near and inside it. */
const poolAndUsed: fc.Arbitrary<{ pool: SubnetPool; used: Cidr[] }> = block(8, 26)
  .chain((pool) => fc.integer({ min: pool.prefix, max: Math.min(30, pool.prefix + 10) }).map((subnetPrefix) => ({ pool, subnetPrefix })))
  .chain((p) => {
    const inside = fc.integer({ min: p.pool.prefix, max: 32 }).chain((prefix) => fc.integer({ min: 0, max: 2 ** (prefix - p.pool.prefix) - 1 }).map((i) => ({ base: p.pool.base + i * blockSize(prefix), prefix })));
    return fc.array(fc.oneof({ weight: 4, arbitrary: inside }, { weight: 1, arbitrary: block(0, 32) }), { maxLength: 40 }).map((used) => ({ pool: p, used }));
  });

/** Every block of the pool, lowest first. */
function blocks(p: SubnetPool): Cidr[] {
  return Array.from({ length: poolCapacity(p) }, (_, i) => ({ base: p.pool.base + i * blockSize(p.subnetPrefix), prefix: p.subnetPrefix }));
}

describe("CIDR text", () => {
  it("reads and writes blocks, one spelling each", () => {
    assert.deepEqual(cidr("198.18.0.0/15"), { base: 3323068416, prefix: 15 });
    assert.equal(formatCidr(cidr("10.200.0.0/14")), "10.200.0.0/14");
    assert.equal(formatCidr(cidr("0.0.0.0/0")), "0.0.0.0/0");
    assert.equal(formatCidr(cidr("255.255.255.255/32")), "255.255.255.255/32");
  });

  it("refuses leading zeros, out-of-range octets and prefixes, missing parts and host bits", () => {
    for (const bad of ["10.0.0.0", "10.0.0/8", "010.0.0.0/8", "10.0.0.0/08", "256.0.0.0/8", "10.0.0.0/33", "10.0.0.0/-1", "1.2.3.4.5/32", "a.b.c.d/8", "", "10.0.0.0/", "/8", " 10.0.0.0/8"]) {
      assert.equal(readCidr(bad).ok, false, bad);
    }
    const r = readCidr("10.1.2.3/16");
    assert.equal(r.ok ? "read" : r.problem, '"10.1.2.3/16" has host bits set; did you mean 10.1.0.0/16?');
  });

  it("reads an engine's block with host bits cleared, and nothing from IPv6 or empty text", () => {
    assert.equal(formatCidr(blockOf("10.1.2.3/24") ?? cidr("0.0.0.0/32")), "10.1.2.0/24");
    assert.equal(blockOf("fd00:dead::/64"), null);
    assert.equal(blockOf(""), null);
  });

  it("round-trips every address and every aligned block", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (a) => readAddress(formatAddress(a)).ok && (readAddress(formatAddress(a)) as { value: number }).value === a));
    fc.assert(fc.property(block(0, 32), (c) => assert.deepEqual(cidr(formatCidr(c)), c)));
  });

  it("says two blocks overlap exactly when they share an address", () => {
    fc.assert(
      fc.property(block(20, 32), block(20, 32), (a, b) => {
        const share = a.base < cidrEnd(b) && b.base < cidrEnd(a);
        assert.equal(overlaps(a, b), share);
        assert.equal(overlaps(a, b), contains(a, b) || contains(b, a), "aligned blocks either nest or are apart");
      }),
    );
  });

  it("puts the gateway on the block's first usable address", () => {
    assert.equal(firstHost(cidr("198.18.0.16/28")), "198.18.0.17");
  });
});

describe("nextFreeSubnet", () => {
  it("hands out the pool's blocks lowest first", () => {
    const p = { pool: cidr("198.18.0.0/15"), subnetPrefix: 28 };
    assert.equal(formatCidr(nextFreeSubnet(p, []) ?? cidr("0.0.0.0/32")), "198.18.0.0/28");
    assert.equal(formatCidr(nextFreeSubnet(p, [cidr("198.18.0.0/28")]) ?? cidr("0.0.0.0/32")), "198.18.0.16/28");
    assert.equal(formatCidr(nextFreeSubnet(p, [cidr("198.18.0.0/28"), cidr("198.18.0.32/28")]) ?? cidr("0.0.0.0/32")), "198.18.0.16/28", "fills a gap first");
    assert.equal(formatCidr(nextFreeSubnet(p, [cidr("198.18.0.4/30")]) ?? cidr("0.0.0.0/32")), "198.18.0.16/28", "a small network inside a block takes the whole block");
    assert.equal(nextFreeSubnet(p, [cidr("198.16.0.0/14")]), null, "a network over the whole pool leaves nothing");
  });

  it("holds 8192 user networks in the default pool", () => {
    assert.equal(poolCapacity({ pool: cidr("198.18.0.0/15"), subnetPrefix: 28 }), 8192);
  });

  it("never returns a block outside the pool, misaligned, or overlapping a used one", () => {
    fc.assert(
      fc.property(poolAndUsed, ({ pool, used }) => {
        const got = nextFreeSubnet(pool, used);
        if (got === null) return;
        assert.equal(got.prefix, pool.subnetPrefix);
        assert.ok(contains(pool.pool, got), `${formatCidr(got)} outside ${formatCidr(pool.pool)}`);
        assert.equal((got.base - pool.pool.base) % blockSize(pool.subnetPrefix), 0);
        for (const u of used) assert.ok(!overlaps(got, u), `${formatCidr(got)} overlaps ${formatCidr(u)}`);
      }),
      { numRuns: 500 },
    );
  });

  it("returns the lowest free block, and null only when every block of the pool overlaps something", () => {
    fc.assert(
      fc.property(poolAndUsed, ({ pool, used }) => {
        const free = blocks(pool).find((b) => !used.some((u) => overlaps(b, u))) ?? null;
        assert.deepEqual(nextFreeSubnet(pool, used), free);
      }),
      { numRuns: 500 },
    );
  });

  it("does not depend on the order of the used blocks", () => {
    fc.assert(fc.property(poolAndUsed, fc.integer(), ({ pool, used }, seed) => {
      const shuffled = [...used].sort((a, b) => ((a.base * 31 + seed) % 97) - ((b.base * 31 + seed) % 97));
      assert.deepEqual(nextFreeSubnet(pool, shuffled), nextFreeSubnet(pool, used));
    }));
  });

  it("allocated one after another, gives disjoint blocks until exactly the free ones are used up", () => {
    fc.assert(
      fc.property(poolAndUsed, ({ pool, used }) => {
        const taken = [...used];
        const mine: Cidr[] = [];
        const expected = freeSubnets(pool, used);
        for (let next = nextFreeSubnet(pool, taken); next !== null; next = nextFreeSubnet(pool, taken)) {
          for (const m of mine) assert.ok(!overlaps(m, next));
          mine.push(next);
          taken.push(next);
        }
        assert.equal(mine.length, expected);
        assert.equal(freeSubnets(pool, taken), 0);
      }),
      { numRuns: 200 },
    );
  });

  it("counts free blocks as the brute force does", () => {
    fc.assert(fc.property(poolAndUsed, ({ pool, used }) => assert.equal(freeSubnets(pool, used), blocks(pool).filter((b) => !used.some((u) => overlaps(b, u))).length)), { numRuns: 500 });
  });
});
