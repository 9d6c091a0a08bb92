import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { escapeLabelValue, formatValue, MetricsRegistry } from "../../agent/src/support/prometheus-text.js";

describe("MetricsRegistry.render", () => {
  it("renders a small registry exactly: HELP, TYPE, families in registration order, series sorted", () => {
    const r = new MetricsRegistry();
    const started = r.counter("app_started_total", "Things started.", ["kind"]);
    const up = r.gauge("app_up", "Whether it is up.");
    started.inc({ kind: "shell" });
    started.inc({ kind: "command" }, 2);
    started.inc({ kind: "shell" });
    up.set(1);
    assert.equal(
      r.render(),
      [
        "# HELP app_started_total Things started.",
        "# TYPE app_started_total counter",
        'app_started_total{kind="command"} 2',
        'app_started_total{kind="shell"} 2',
        "# HELP app_up Whether it is up.",
        "# TYPE app_up gauge",
        "app_up 1",
        "",
      ].join("\n"),
    );
  });

  it("renders a family with no series as its HELP and TYPE lines only", () => {
    const r = new MetricsRegistry();
    r.counter("app_errors_total", "Errors.", ["reason"]);
    assert.equal(r.render(), "# HELP app_errors_total Errors.\n# TYPE app_errors_total counter\n");
  });

  it("escapes backslash, double quote and newline in label values, and backslash and newline in HELP", () => {
    const r = new MetricsRegistry();
    r.gauge("app_info", "Line one\nback\\slash \"quoted\".", ["v"]).set(1, { v: 'a\\b"c\nd' });
    assert.equal(r.render(), ['# HELP app_info Line one\\nback\\\\slash "quoted".', "# TYPE app_info gauge", 'app_info{v="a\\\\b\\"c\\nd"} 1', ""].join("\n"));
    assert.equal(escapeLabelValue("plain"), "plain");
  });

  it("renders histogram buckets cumulatively with +Inf, _sum and _count", () => {
    const r = new MetricsRegistry();
    const h = r.histogram("app_seconds", "Durations.", [0.1, 0.5, 1]);
    for (const v of [0.05, 0.1, 0.3, 0.7, 3]) h.observe(v);
    assert.equal(
      r.render(),
      [
        "# HELP app_seconds Durations.",
        "# TYPE app_seconds histogram",
        'app_seconds_bucket{le="0.1"} 2',
        'app_seconds_bucket{le="0.5"} 3',
        'app_seconds_bucket{le="1"} 4',
        'app_seconds_bucket{le="+Inf"} 5',
        "app_seconds_sum 4.15",
        "app_seconds_count 5",
        "",
      ].join("\n"),
    );
  });

  it("puts le after a histogram's own labels", () => {
    const r = new MetricsRegistry();
    r.histogram("app_seconds", "D.", [1], ["op"]).observe(2, { op: "x" });
    assert.match(r.render(), /^app_seconds_bucket\{op="x",le="1"\} 0\napp_seconds_bucket\{op="x",le="\+Inf"\} 1\napp_seconds_sum\{op="x"\} 2\napp_seconds_count\{op="x"\} 1$/m);
  });

  it("formats special values as the format spells them", () => {
    assert.equal(formatValue(Number.NaN), "NaN");
    assert.equal(formatValue(Infinity), "+Inf");
    assert.equal(formatValue(-Infinity), "-Inf");
    assert.equal(formatValue(1.5e-7), "1.5e-7");
  });
});

describe("MetricsRegistry refusals (bugs in our code, not input)", () => {
  it("refuses wrong label sets, bad names, duplicates, decreasing counters and unsorted buckets", () => {
    const r = new MetricsRegistry();
    const c = r.counter("app_total", "C.", ["kind"]);
    assert.throws(() => c.inc(), /takes labels \{kind\}/);
    assert.throws(() => c.inc({ kind: "a", extra: "b" }), /takes labels/);
    assert.throws(() => c.inc({ kind: "a" }, -1), /only goes up/);
    assert.throws(() => r.counter("app_total", "again"), /registered twice/);
    assert.throws(() => r.gauge("1bad", "x"), /invalid metric name/);
    assert.throws(() => r.gauge("app_g", "x", ["le"]), /invalid label name/);
    assert.throws(() => r.histogram("app_h", "x", [1, 1]), /strictly increasing/);
  });
});
