import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { ImageBuildError, type BuildContextFile, type BuildProgress, type ImageBuilder, type ImageBuildOptions } from "../../agent/src/core/ports/image-builder.js";

/**
 * One behavioural contract for every ImageBuilder: the Docker adapter (integration, real engine)
 * and the in-memory fake (unit) both run it, which keeps the fake honest.
 */
export interface BuilderTarget {
  readonly builder: ImageBuilder;
  /** An existing image with /bin/sh, echo, test and sleep. */
  readonly base: string;
  /** Remove images the suite made (the fake forgets them). */
  readonly removeImage: (tag: string) => Promise<void>;
}

const file = (path: string, text: string): BuildContextFile => ({ path, data: Buffer.from(text) });

async function rejection(p: Promise<unknown>): Promise<ImageBuildError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ImageBuildError, `expected an ImageBuildError, got ${String(err)}`);
    return err;
  }
  assert.fail("the build succeeded");
}

export function imageBuilderConformance(name: string, target: () => BuilderTarget): void {
  describe(`ImageBuilder conformance: ${name}`, () => {
    const run = randomBytes(4).toString("hex");
    let seq = 0;
    const made: string[] = [];
    const tag = (): string => {
      const t = `podspawn-cf/build-${run}:t${++seq}`;
      made.push(t);
      return t;
    };
    const opts = (tags: string[], over: Partial<ImageBuildOptions> = {}): ImageBuildOptions => ({ tags, timeoutMs: 120_000, ...over });

    after(async () => {
      for (const t of made) await target().removeImage(t);
    });

    it("builds a context and gives the image every tag; exists() is false for a name nobody built", async () => {
      const { builder, base } = target();
      const [a, b] = [tag(), tag()];
      assert.equal(await builder.exists(a), false);
      const result = await builder.build([file("Dockerfile", `FROM ${base}\nRUN echo built\n`)], opts([a, b]));
      assert.match(result.imageId, /^sha256:/);
      assert.equal(await builder.exists(a), true);
      assert.equal(await builder.exists(b), true);
      assert.equal(await builder.exists(`podspawn-cf/build-${run}:never`), false);
    });

    it("reports every step in order with its number and the total, and the output of RUN", async () => {
      const { builder, base } = target();
      const events: BuildProgress[] = [];
      const r = await builder.build([file("Dockerfile", `FROM ${base}\nRUN echo one-${run}\nRUN echo two-${run} >&2\n`)], opts([tag()], { onProgress: (e) => events.push(e) }));
      const steps = events.flatMap((e) => (e.kind === "step" ? [`${e.step}/${e.total} ${e.instruction}`] : []));
      assert.deepEqual(steps, [`1/3 FROM ${base}`, `2/3 RUN echo one-${run}`, `3/3 RUN echo two-${run} >&2`]);
      assert.equal(r.steps, 3);
      const lines = events.flatMap((e) => (e.kind === "output" ? [e.line] : []));
      assert.ok(lines.includes(`one-${run}`), JSON.stringify(lines));
      assert.ok(lines.includes(`two-${run}`), "stderr of a RUN is output too, without colour codes");
      const one = events.findIndex((e) => e.kind === "output" && e.line === `one-${run}`);
      const second = events.findIndex((e) => e.kind === "step" && e.step === 3);
      assert.ok(one < second, "a step's output comes before the next step");
    });

    it("counts the labels step in the total when labels are given", async () => {
      const { builder, base } = target();
      const events: BuildProgress[] = [];
      await builder.build([file("Dockerfile", `FROM ${base}\nRUN true\n`)], opts([tag()], { labels: { "podspawn.test": run }, onProgress: (e) => events.push(e) }));
      assert.deepEqual(events.flatMap((e) => (e.kind === "step" ? [e.total] : [])), [3, 3, 3]);
    });

    it("a failing RUN rejects naming the step, with its last output lines and the exit status, and tags nothing", async () => {
      const { builder, base } = target();
      const t = tag();
      const err = await rejection(builder.build([file("Dockerfile", `FROM ${base}\nRUN echo fine\nRUN echo about-to-fail-${run}; exit 7\nRUN echo never\n`)], opts([t])));
      assert.equal(err.reason, "step-failed");
      assert.deepEqual([err.failedStep?.step, err.failedStep?.total], [3, 4]);
      assert.match(err.failedStep?.instruction ?? "", /^RUN echo about-to-fail/);
      assert.match(err.message, /^step 3\/4 \(RUN echo about-to-fail-\w+; exit 7\) failed: .*non-zero code: 7$/);
      assert.ok(err.tail.includes(`about-to-fail-${run}`), JSON.stringify(err.tail));
      assert.ok(!err.tail.includes("fine"), "only the failing step's lines");
      assert.match(err.tail[err.tail.length - 1] ?? "", /non-zero code: 7/);
      assert.equal(await builder.exists(t), false);
    });

    it("copies files of the context into the image, and fails a COPY of a file the context lacks", async () => {
      const { builder, base } = target();
      await builder.build([file("Dockerfile", `FROM ${base}\nCOPY hello.txt /hello.txt\nRUN test -f /hello.txt\n`), file("hello.txt", "hi\n")], opts([tag()]));
      const err = await rejection(builder.build([file("Dockerfile", `FROM ${base}\nCOPY absent.txt /x\n`)], opts([tag()])));
      assert.equal(err.reason, "step-failed");
      assert.equal(err.failedStep?.step, 2);
      assert.match(err.message, /absent\.txt/);
    });

    it("takes the base from a build argument (ARG before FROM), as the node's own images do", async () => {
      const { builder, base } = target();
      const t = tag();
      await builder.build([file("Dockerfile", "ARG BASE_IMAGE=podspawn-cf/absent:x\nFROM ${BASE_IMAGE}\nRUN true\n")], opts([t], { buildArgs: { BASE_IMAGE: base } }));
      assert.equal(await builder.exists(t), true);
    });

    it("fails at step 1 when the base image is not on the node (nothing can be pulled)", async () => {
      const { builder } = target();
      const err = await rejection(builder.build([file("Dockerfile", `FROM podspawn-cf/absent-${run}:x\nRUN true\n`)], opts([tag()])));
      assert.equal(err.reason, "step-failed");
      assert.equal(err.failedStep?.step, 1);
      assert.match(err.message, new RegExp(`FROM podspawn-cf/absent-${run}:x`));
    });

    it("refuses a Dockerfile the engine cannot read, before any step", async () => {
      const { builder, base } = target();
      const err = await rejection(builder.build([file("Dockerfile", `FROM ${base}\nNOSUCHINSTRUCTION x\n`)], opts([tag()])));
      assert.equal(err.reason, "invalid");
      assert.equal(err.failedStep, null);
      assert.match(err.message, /unknown instruction/i);
    });

    it("stops a build at its timeout, naming the step it was at; nothing is tagged", async () => {
      const { builder, base } = target();
      const t = tag();
      const err = await rejection(builder.build([file("Dockerfile", `FROM ${base}\nRUN echo waiting; sleep 600\n`)], opts([t], { timeoutMs: 1500 })));
      assert.equal(err.reason, "timeout");
      assert.equal(err.failedStep?.step, 2);
      assert.match(err.message, /did not finish within 1500ms at step 2\/2 \(RUN echo waiting; sleep 600\)/);
      assert.equal(await builder.exists(t), false);
    });

    it("stops a build when its signal aborts", async () => {
      const { builder, base } = target();
      const ac = new AbortController();
      const t = tag();
      const onProgress = (e: BuildProgress): void => {
        if (e.kind === "output" && e.line === `sleeping-${run}`) ac.abort();
      };
      const err = await rejection(builder.build([file("Dockerfile", `FROM ${base}\nRUN echo sleeping-${run}; sleep 600\n`)], opts([t], { signal: ac.signal, onProgress })));
      assert.equal(err.reason, "aborted");
      assert.equal(err.failedStep?.step, 2);
      assert.equal(await builder.exists(t), false);
    });
  });
}
