import Docker from "dockerode";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { formatDurationMs } from "../../core/config/units.js";
import { ImageBuildError, type BuildContextFile, type FailedStep, type ImageBuilder, type ImageBuildOptions, type ImageBuildResult } from "../../core/ports/image-builder.js";
import { packTar } from "../../support/tar.js";
import { BuildStreamParser } from "./build-stream.js";
import { applyDeadlines, DEFAULT_ENGINE_TIMEOUTS, type DeadlineOptions } from "./engine-deadline.js";

/**
 * Builds through the Engine API's `/build` with the classic builder (`version=1`: engine 20.10
 * here has no BuildKit). The context is packed in memory (a Podfile's is one Dockerfile; the
 * node's own images a few files). A timeout or an abort closes the request, which makes the
 * engine stop the step and remove its container (`forcerm`).
 */

/** A build context is a Dockerfile and a few files; more than this is a mistake, not a context. */
export const MAX_CONTEXT_BYTES = 64 * 1024 * 1024;

function statusCode(err: unknown): number | undefined {
  return typeof err === "object" && err !== null ? (err as { statusCode?: number }).statusCode : undefined;
}

function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } }).json;
  if (json && typeof json.message === "string") return json.message;
  return err instanceof Error ? err.message : String(err);
}

function at(step: FailedStep | null): string {
  return step ? ` at step ${step.step}/${step.total} (${step.instruction})` : "";
}

/** Why the abort happened, for the error: our timer or the caller's signal. */
class BuildAbort {
  readonly controller = new AbortController();
  reason: "timeout" | "aborted" | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = (): void => this.stop("aborted");

  constructor(
    timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => this.stop("timeout"), timeoutMs);
    if (signal?.aborted) this.stop("aborted");
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  private stop(reason: "timeout" | "aborted"): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller.abort();
  }

  error(timeoutMs: number, step: FailedStep | null, tail: readonly string[]): ImageBuildError | null {
    if (this.reason === "timeout") return new ImageBuildError("timeout", `the build did not finish within ${formatDurationMs(timeoutMs)}${at(step)}`, step, tail);
    if (this.reason === "aborted") return new ImageBuildError("aborted", `the build was stopped${at(step)}`, step, tail);
    return null;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener("abort", this.onAbort);
  }
}

export class DockerImageBuilder implements ImageBuilder {
  private readonly docker: Docker;
  /** Inspects go through a client with the engine deadlines (a login checks its image with one). */
  private readonly inspector: Docker;

  /** The build itself runs under its own timeout (ImageBuildOptions.timeoutMs): minutes, not the engine call's seconds. */
  constructor(socketPath = "/var/run/docker.sock", deadlines: DeadlineOptions = { timeouts: () => DEFAULT_ENGINE_TIMEOUTS }) {
    this.docker = new Docker({ socketPath });
    this.inspector = new Docker({ socketPath });
    applyDeadlines(this.inspector.modem, deadlines);
  }

  private inspect(image: string): Promise<Docker.ImageInspectInfo> {
    return this.inspector.getImage(image).inspect();
  }

  async exists(image: string): Promise<boolean> {
    try {
      await this.inspect(image);
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }

  async build(context: readonly BuildContextFile[], opts: ImageBuildOptions): Promise<ImageBuildResult> {
    if (opts.tags.length === 0) throw new Error("a build needs at least one tag");
    const tarball = await packContext(context);
    const abort = new BuildAbort(opts.timeoutMs, opts.signal);
    const parser = new BuildStreamParser(opts.onProgress);
    try {
      const response = await this.start(tarball, opts, abort);
      await this.follow(response, parser);
    } catch (err) {
      throw abort.error(opts.timeoutMs, parser.step, parser.tail) ?? asBuildError(err, parser);
    } finally {
      abort.dispose();
    }
    parser.end();
    if (parser.error !== null) throw new ImageBuildError("step-failed", `${parser.step ? `step ${parser.step.step}/${parser.step.total} (${parser.step.instruction}) failed` : "the build failed"}: ${parser.error}`, parser.step, [...parser.tail, parser.error]);
    const tag = opts.tags[0] as string;
    const imageId = (await this.inspect(tag)).Id;
    return { imageId, steps: parser.step?.step ?? 0 };
  }

  private async start(tarball: Buffer, opts: ImageBuildOptions, abort: BuildAbort): Promise<IncomingMessage> {
    // @types/dockerode types `t` as one string; the API takes the parameter once per tag.
    const query = {
      t: [...opts.tags],
      dockerfile: opts.dockerfile ?? "Dockerfile",
      buildargs: { ...opts.buildArgs },
      labels: { ...opts.labels },
      nocache: opts.noCache === true,
      // The classic builder; rm + forcerm: no intermediate container stays, failed or not.
      version: "1",
      rm: true,
      forcerm: true,
      abortSignal: abort.controller.signal,
    } as unknown as Docker.ImageBuildOptions;
    // For a streamed answer docker-modem hands back the HTTP response itself.
    return (await this.docker.buildImage(Readable.from([tarball]), query)) as unknown as IncomingMessage;
  }

  private follow(response: IncomingMessage, parser: BuildStreamParser): Promise<void> {
    return new Promise((resolve, reject) => {
      response.on("data", (chunk: Buffer) => parser.push(chunk));
      response.once("end", () => resolve());
      response.once("error", reject);
      response.once("close", () => (response.complete ? resolve() : reject(new Error("the engine closed the build stream early"))));
    });
  }
}

async function packContext(context: readonly BuildContextFile[]): Promise<Buffer> {
  let total = 0;
  for (const f of context) {
    if (f.path.startsWith("/") || f.path.split("/").includes("..")) throw new Error(`build context path ${JSON.stringify(f.path)} is not relative`);
    total += f.data.length;
  }
  if (total > MAX_CONTEXT_BYTES) throw new Error(`the build context holds ${total} bytes, more than ${MAX_CONTEXT_BYTES}`);
  return packTar(context.map((f) => ({ path: f.path, type: "file" as const, mode: f.mode ?? 0o644, uid: 0, gid: 0, data: f.data })));
}

function asBuildError(err: unknown, parser: BuildStreamParser): ImageBuildError {
  if (err instanceof ImageBuildError) return err;
  const code = statusCode(err);
  // 400: the engine refused the Dockerfile itself (a parse error), before any step ran.
  if (code === 400) return new ImageBuildError("invalid", `the engine refused the build: ${engineMessage(err)}`, parser.step, [engineMessage(err)]);
  return new ImageBuildError("engine", `the container engine failed during the build${at(parser.step)}: ${engineMessage(err)}`, parser.step, [...parser.tail]);
}
