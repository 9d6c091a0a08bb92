import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { InputError } from "../../agent/src/core/errors.js";
import { formatBytes, formatDurationMs, parseBytes, parseDurationMs, parsePort, readBytes, readDurationMs, readPort } from "../../agent/src/core/config/units.js";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

function refused(field: string, problem: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, String(err));
    assert.equal(err.field, field);
    assert.match(err.problem, problem);
    return true;
  };
}

describe("durations", () => {
  it("reads every unit; a bare number, as text or as a number, is seconds", () => {
    assert.equal(parseDurationMs("0", "d"), 0);
    assert.equal(parseDurationMs(0, "d"), 0);
    assert.equal(parseDurationMs("250ms", "d"), 250);
    assert.equal(parseDurationMs("30s", "d"), 30_000);
    assert.equal(parseDurationMs("5m", "d"), 300_000);
    assert.equal(parseDurationMs("8h", "d"), 8 * 3_600_000);
    assert.equal(parseDurationMs("1d", "d"), 86_400_000);
    assert.equal(parseDurationMs("45", "d"), 45_000);
    assert.equal(parseDurationMs(90, "d"), 90_000);
    assert.equal(parseDurationMs(" 10s ", "d"), 10_000);
  });

  it("refuses what is not a whole, non-negative amount of one unit, naming the field", () => {
    for (const bad of ["soon", "1.5h", "-5s", "5 minutes", "5S", "1h30m", "", "ms", -1, 1.5, Number.NaN, Infinity, null, true, [], {}]) {
      assert.throws(() => parseDurationMs(bad, "session.grace_period"), refused("session.grace_period", /duration/), JSON.stringify(bad));
    }
  });

  it("refuses amounts that do not fit in a safe integer of milliseconds", () => {
    assert.throws(() => parseDurationMs("999999999999999d", "t"), refused("t", /too long/));
    assert.equal(readDurationMs(`${Math.floor(Number.MAX_SAFE_INTEGER / 86_400_000)}d`).ok, true);
  });

  it("round-trips: every whole number of milliseconds formats to text that reads back to it (property)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.nat({ max: 10_000 }).map((n) => n * 60_000), fc.nat({ max: 1000 }).map((n) => n * 86_400_000)), (ms) => {
        const text = formatDurationMs(ms);
        assert.match(text, /^(0|\d+(ms|s|m|h|d))$/);
        assert.equal(parseDurationMs(text, "d"), ms);
      }),
    );
  });

  it("reads any amount with any unit as amount times the unit (property)", () => {
    const per = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
    fc.assert(
      fc.property(fc.nat({ max: 100_000_000 }), fc.constantFrom("ms", "s", "m", "h", "d", ""), (n, unit) => {
        assert.equal(parseDurationMs(`${n}${unit}`, "d"), n * per[(unit || "s") as keyof typeof per]);
      }),
    );
  });
});

describe("byte sizes", () => {
  it("reads k, m, g, t with optional i and b, in any case; a bare number is bytes", () => {
    assert.equal(parseBytes("1k", "m"), 1024);
    assert.equal(parseBytes("1KB", "m"), 1024);
    assert.equal(parseBytes("3MiB", "m"), 3 * MiB);
    assert.equal(parseBytes("512m", "m"), 512 * MiB);
    assert.equal(parseBytes("2g", "m"), 2 * GiB);
    assert.equal(parseBytes("1t", "m"), 1024 ** 4);
    assert.equal(parseBytes("4096", "m"), 4096);
    assert.equal(parseBytes(128 * MiB, "m"), 128 * MiB);
  });

  it("refuses what is not a size, naming the field", () => {
    for (const bad of ["lots", "1.5g", "2x", "2b", "2ib", "g", "-1", " ", true, -1, 1.5, Infinity, Number.NaN, null, ["1g"]]) {
      assert.throws(() => parseBytes(bad, "resources.memory"), refused("resources.memory", /size|whole number of bytes/), JSON.stringify(bad));
    }
    assert.throws(() => parseBytes("9999999999999999t", "m"), refused("m", /too large/));
  });

  it("round-trips: every safe byte count formats to text that reads back to it (property)", () => {
    const sized = fc.tuple(fc.nat({ max: 8000 }), fc.constantFrom(1, 1024, MiB, GiB, 1024 ** 4)).map(([n, f]) => n * f);
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeNat(), sized), (bytes) => {
        const text = formatBytes(bytes);
        assert.match(text, /^\d+[kmgt]?$/);
        assert.equal(parseBytes(text, "m"), bytes);
      }),
    );
  });

  it("reads every spelling of a unit the same (property)", () => {
    fc.assert(
      fc.property(fc.nat({ max: 8000 }), fc.constantFrom("k", "K", "m", "M", "g", "G", "t", "T"), fc.constantFrom("", "b", "B", "i", "ib", "iB", "IB"), (n, unit, tail) => {
        const factor = { k: 1024, m: MiB, g: GiB, t: 1024 ** 4 }[unit.toLowerCase() as "k"];
        assert.deepEqual(readBytes(`${n}${unit}${tail}`), { ok: true, value: n * factor });
      }),
    );
  });
});

describe("ports", () => {
  it("reads 1-65535 as a number or as canonical decimal text", () => {
    assert.equal(parsePort("1", "PORT"), 1);
    assert.equal(parsePort("22", "PORT"), 22);
    assert.equal(parsePort("65535", "PORT"), 65535);
    assert.equal(parsePort(2222, "port"), 2222);
  });

  it("refuses 0 unless allowed, out-of-range, leading zeros, signs, blanks and other text", () => {
    for (const bad of ["0", "65536", "022", "00", "+22", "-1", " 22", "22 ", "0x16", "1e3", "22.0", "", 0, 65536, 22.5, -1, null, undefined]) {
      assert.throws(() => parsePort(bad, "PORT"), refused("PORT", /is not a port/), JSON.stringify(bad));
    }
    assert.equal(parsePort("0", "LOCALPORT", { allowZero: true }), 0);
    assert.throws(() => parsePort("00", "LOCALPORT", { allowZero: true }), refused("LOCALPORT", /is not a port/));
    assert.throws(() => parsePort("0", "X"), (err: unknown) => err instanceof InputError && err.allowed === "1-65535");
    assert.throws(() => parsePort("x", "X", { allowZero: true }), (err: unknown) => err instanceof InputError && err.allowed === "0-65535 (0: any free port)");
  });

  it("round-trips every port through its text, and refuses every other number (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), (port) => {
        assert.deepEqual(readPort(String(port)), { ok: true, value: port });
        assert.equal(readPort(`0${port}`).ok, false);
      }),
    );
    fc.assert(fc.property(fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65536 })), (n) => assert.equal(readPort(String(n)).ok, false)));
  });
});
