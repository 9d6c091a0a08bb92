import { formatDurationMs } from "../../core/config/units.js";
import { BUILD_ERROR_TAIL_LINES, ImageBuildError, type BuildContextFile, type BuildProgress, type FailedStep, type ImageBuilder, type ImageBuildOptions, type ImageBuildResult } from "../../core/ports/image-builder.js";

/**
 * In-memory image builder for unit tests; it passes the same conformance suite as
 * DockerImageBuilder. Images are file maps shared with a FakeRuntime (`new FakeRuntime(images)`),
 * so what it builds can be run. Its Dockerfile reader knows the instructions podspawn writes;
 * RUN understands a deliberately tiny shell: `;`/`&&`-separated `echo WORDS [>&2]`, `exit N`,
 * `true`, `false`, `test -e|-f PATH`, `find` (a no-op: the compiled Dockerfile's setuid sweep) and
 * `sleep N` (which lasts until the build is stopped).
 */

const KNOWN = new Set(["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "LABEL", "USER", "WORKDIR", "CMD", "ENTRYPOINT", "EXPOSE", "SHELL", "STOPSIGNAL", "VOLUME", "HEALTHCHECK", "ONBUILD"]);

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly text: string;
}

/** Continuation lines joined, comments and blanks dropped; unknown keywords refused like the engine does (400). */
function instructions(dockerfile: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  const lines = dockerfile.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (pending === "" && /^\s*#/.test(line)) return;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      return;
    }
    const whole = (pending + line).trim();
    pending = "";
    if (whole === "") return;
    const m = /^(\S+)\s*(.*)$/.exec(whole) as RegExpExecArray;
    const keyword = (m[1] as string).toUpperCase();
    if (!KNOWN.has(keyword)) throw new ImageBuildError("invalid", `the engine refused the build: dockerfile parse error line ${i + 1}: unknown instruction: ${m[1]}`, null, []);
    out.push({ keyword, args: m[2] ?? "", text: whole });
  });
  return out;
}

function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => vars.get((a ?? b) as string) ?? "");
}

/** The script a RUN runs: the shell form as written, or the `-c` argument of an exec-form shell. */
function scriptOf(args: string): string {
  if (!args.startsWith("[")) return args;
  const argv = JSON.parse(args) as string[];
  return argv[1] === "-c" || argv[1] === "-euo" ? (argv[argv.length - 1] ?? "") : argv.join(" ");
}

function words(s: string): string[] {
  return s.trim().split(/\s+/).filter((w) => w !== "").map((w) => w.replace(/^(["'])(.*)\1$/, "$2"));
}

interface Build {
  readonly files: Map<string, Buffer>;
  readonly context: ReadonlyMap<string, Buffer>;
  readonly progress: (e: BuildProgress) => void;
  readonly stopped: Promise<never>;
  step: FailedStep | null;
  readonly tail: string[];
}

export class FakeImageBuilder implements ImageBuilder {
  /** Builds started (what "exactly one build" tests count), and the tags each asked for. */
  readonly builds: { tags: readonly string[]; dockerfile: string }[] = [];
  /** Make every build wait here before it starts (a test holds builds to race them). */
  gate: Promise<void> | null = null;
  down = false;

  constructor(readonly images: Map<string, Map<string, Buffer>> = new Map()) {}

  async exists(image: string): Promise<boolean> {
    if (this.down) throw new Error("connect ENOENT /var/run/docker.sock");
    await new Promise((r) => setImmediate(r));
    return this.images.has(image);
  }

  async build(context: readonly BuildContextFile[], opts: ImageBuildOptions): Promise<ImageBuildResult> {
    if (opts.tags.length === 0) throw new Error("a build needs at least one tag");
    if (this.down) throw new ImageBuildError("engine", "the container engine failed during the build: connect ENOENT", null, []);
    const name = opts.dockerfile ?? "Dockerfile";
    const ctx = new Map(context.map((f) => [f.path, f.data]));
    const dockerfile = ctx.get(name)?.toString("utf8");
    if (dockerfile === undefined) throw new ImageBuildError("invalid", `the engine refused the build: Cannot locate specified Dockerfile: ${name}`, null, []);
    this.builds.push({ tags: [...opts.tags], dockerfile });
    const steps = instructions(dockerfile);
    const total = steps.length + (Object.keys(opts.labels ?? {}).length > 0 ? 1 : 0);
    const stop = stopper(opts);
    let build: Build | null = null;
    try {
      if (this.gate) await Promise.race([this.gate, stop.promise]);
      build = { files: new Map(), context: ctx, progress: opts.onProgress ?? (() => undefined), stopped: stop.promise, step: null, tail: [] };
      await this.runAll(build, steps, total, opts);
      for (const tag of opts.tags) this.images.set(tag, new Map(build.files));
      return { imageId: `sha256:fake-build-${this.builds.length}`, steps: build.step?.step ?? 0 };
    } catch (err) {
      throw err instanceof Stopped ? stoppedError(err, opts, build) : err;
    } finally {
      stop.dispose();
    }
  }

  private async runAll(build: Build, steps: readonly Instruction[], total: number, opts: ImageBuildOptions): Promise<void> {
    const vars = new Map(Object.entries(opts.buildArgs ?? {}));
    let n = 0;
    for (const ins of [...steps, ...(total > steps.length ? [{ keyword: "LABEL", args: "", text: "LABEL (the build's labels)" }] : [])]) {
      build.step = { step: ++n, total, instruction: ins.text };
      build.tail.length = 0;
      build.progress({ kind: "step", ...build.step });
      await Promise.race([new Promise((r) => setImmediate(r)), build.stopped]);
      await this.apply(build, ins, vars);
    }
  }

  private async apply(build: Build, ins: Instruction, vars: Map<string, string>): Promise<void> {
    switch (ins.keyword) {
      case "ARG": {
        const [k, v] = ins.args.split("=", 2) as [string, string | undefined];
        if (!vars.has(k) && v !== undefined) vars.set(k, v);
        return;
      }
      case "FROM": {
        const image = substitute(words(ins.args)[0] ?? "", vars);
        const base = this.images.get(image);
        if (!base) this.fail(build, `pull access denied for ${image}: no registry is reachable from this node`);
        for (const [p, d] of base) build.files.set(p, d);
        return;
      }
      case "COPY":
      case "ADD": {
        const [src, dst] = words(ins.args) as [string, string];
        const data = build.context.get(src);
        if (!data) this.fail(build, `COPY failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
        build.files.set(dst.endsWith("/") ? `${dst}${src.split("/").pop() ?? src}` : dst, data);
        return;
      }
      case "RUN":
        return this.run(build, scriptOf(ins.args));
      default:
        return;
    }
  }

  private async run(build: Build, script: string): Promise<void> {
    for (const cmd of script.split(/&&|;|\n/).map((c) => c.trim()).filter((c) => c !== "")) {
      const [verb, ...rest] = words(cmd);
      const status = await this.command(build, verb ?? "", rest, cmd);
      if (status !== 0) this.fail(build, `The command '/bin/sh -c ${script}' returned a non-zero code: ${status}`);
    }
  }

  private async command(build: Build, verb: string, args: string[], cmd: string): Promise<number> {
    switch (verb) {
      case "echo":
        this.output(build, cmd.replace(/^echo\s*/, "").replace(/\s*>&2$/, "").replace(/^(["'])(.*)\1$/, "$2"));
        return 0;
      case "true":
        return 0;
      case "false":
        return 1;
      case "exit":
        return Number(args[0] ?? 0);
      case "test":
        return build.files.has(args[1] ?? "") ? 0 : 1;
      case "sleep":
        return build.stopped;
      case "find":
        // The compiled Dockerfile's last step strips setuid bits; the fake's images have none.
        return 0;
      default:
        this.output(build, `/bin/sh: ${verb}: not found (the fake builder's shell runs only echo, exit, true, false, test, find, sleep: ${cmd})`);
        return 127;
    }
  }

  private output(build: Build, line: string): void {
    build.progress({ kind: "output", line });
    build.tail.push(line);
    if (build.tail.length > BUILD_ERROR_TAIL_LINES) build.tail.shift();
  }

  private fail(build: Build, error: string): never {
    build.progress({ kind: "output", line: error });
    const s = build.step;
    throw new ImageBuildError("step-failed", `${s ? `step ${s.step}/${s.total} (${s.instruction}) failed` : "the build failed"}: ${error}`, s, [...build.tail, error]);
  }
}

/** Why a build stopped early: turned into the ImageBuildError with the step it was at. */
class Stopped {
  constructor(readonly reason: "timeout" | "aborted") {}
}

/** Rejects with a Stopped when the deadline passes or the caller aborts. */
function stopper(opts: ImageBuildOptions): { promise: Promise<never>; dispose(): void } {
  let reject: (err: Stopped) => void = () => undefined;
  const promise = new Promise<never>((_, r) => (reject = r));
  promise.catch(() => undefined);
  const timer = setTimeout(() => reject(new Stopped("timeout")), opts.timeoutMs);
  const onAbort = (): void => reject(new Stopped("aborted"));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  return {
    promise,
    dispose: () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    },
  };
}

function stoppedError(err: Stopped, opts: ImageBuildOptions, build: Build | null): ImageBuildError {
  const s = build?.step ?? null;
  const where = s ? ` at step ${s.step}/${s.total} (${s.instruction})` : "";
  const message = err.reason === "timeout" ? `the build did not finish within ${formatDurationMs(opts.timeoutMs)}${where}` : `the build was stopped${where}`;
  return new ImageBuildError(err.reason, message, s, [...(build?.tail ?? [])]);
}
