import { UserFacingError } from "../../core/errors.js";
import { ImageBuildError, type BuildContextFile, type BuildProgress, type ImageBuilder } from "../../core/ports/image-builder.js";
import { buildFailureMessage, stepLine, waitingLine } from "../../core/projects/build-messages.js";
import { KeyedLock } from "../../support/keyed-lock.js";
import { Slots, SlotsFull } from "../../support/slots.js";
import type { Logger } from "../log.js";
import { BuildLog, pruneBuildLogs } from "./build-log.js";

/**
 * Makes sure an image exists, building it when it does not: one build per tag at a time (a keyed
 * lock), so concurrent first logins that need one image trigger one build and wait for it, and
 * see its progress; a login that waited through a failed build gets that failure instead of
 * starting the same build again. At most `slots` builds run at once on the node, and a bounded
 * number wait for a slot. Every build has a deadline and a full log for the admin.
 */

export interface ImageRequest {
  /** Shown to users: "building environment <environment>: ...". */
  readonly environment: string;
  /** The content tag: an image under it is the finished build (it never goes stale). */
  readonly tag: string;
  /** More names for the result (e.g. podspawn/default:bookworm beside its content tag). */
  readonly alsoTag?: readonly string[];
  /** Checked before building (nothing can be pulled); null when the Dockerfile picks it (ARG). */
  readonly base: string | null;
  readonly context: readonly BuildContextFile[];
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** Build even if the tag exists, with no layer cache. @default false */
  readonly force?: boolean;
}

export interface ImageOutcome {
  readonly built: boolean;
  /** The build's full log, when there was a build. */
  readonly logFile: string | null;
  readonly ms: number;
}

export interface ImageBuildsOptions {
  readonly builder: ImageBuilder;
  readonly logDir: string;
  readonly timeoutMs: () => number;
  readonly log: Logger;
  /** Builds running at once. @default 2 (a build is CPU- and disk-heavy) */
  readonly slots?: number;
  /** Builds waiting for a slot; more are refused with one line. @default 16 */
  readonly maxWaiting?: number;
  readonly now?: () => number;
}

/** Failures remembered for logins that waited through them; more distinct tags than this forget the oldest. */
const FAILURE_MEMORY = 256;

export class ImageBuilds {
  private readonly lock = new KeyedLock();
  private readonly slots: Slots;
  private readonly watchers = new Map<string, Set<(line: string) => void>>();
  private readonly failures = new Map<string, { readonly error: Error }>();
  private readonly now: () => number;

  constructor(private readonly opts: ImageBuildsOptions) {
    this.slots = new Slots(opts.slots ?? 2, opts.maxWaiting ?? 16);
    this.now = opts.now ?? Date.now;
  }

  /** Resolves once `req.tag` exists; `onProgress` gets the lines for the user (stderr). */
  async ensure(req: ImageRequest, onProgress: (line: string) => void): Promise<ImageOutcome> {
    if (!req.force && (await this.opts.builder.exists(req.tag))) return { built: false, logFile: null, ms: 0 };
    const seen = this.failures.get(req.tag);
    const unwatch = this.watch(req.tag, onProgress);
    try {
      if (this.watchers.get(req.tag)?.size !== 1) onProgress(waitingLine(req.environment, "build"));
      return await this.lock.run(req.tag, async () => {
        const failed = this.failures.get(req.tag);
        if (failed && failed !== seen) throw failed.error;
        if (!req.force && (await this.opts.builder.exists(req.tag))) return { built: false, logFile: null, ms: 0 };
        await this.checkBase(req);
        return await this.inSlot(req);
      });
    } finally {
      unwatch();
    }
  }

  private watch(tag: string, onProgress: (line: string) => void): () => void {
    const set = this.watchers.get(tag) ?? new Set();
    this.watchers.set(tag, set);
    set.add(onProgress);
    return () => {
      set.delete(onProgress);
      if (set.size === 0 && this.watchers.get(tag) === set) this.watchers.delete(tag);
    };
  }

  private tell(tag: string, line: string): void {
    for (const w of this.watchers.get(tag) ?? []) w(line);
  }

  private async checkBase(req: ImageRequest): Promise<void> {
    if (req.base === null || (await this.opts.builder.exists(req.base))) return;
    throw new UserFacingError("image-missing", `environment ${req.environment} is built on the image ${req.base}, which is not available on this node`, `build or load ${req.base} first (no registry is used)`);
  }

  private async inSlot(req: ImageRequest): Promise<ImageOutcome> {
    try {
      return await this.slots.run(() => this.build(req), () => this.tell(req.tag, waitingLine(req.environment, "slot")));
    } catch (err) {
      if (!(err instanceof SlotsFull)) throw err;
      throw new UserFacingError("build-busy", `this node is busy building other environments; try again in a few minutes (environment ${req.environment} needs a build)`, err.message);
    }
  }

  private async build(req: ImageRequest): Promise<ImageOutcome> {
    const t0 = this.now();
    const log = await BuildLog.open(this.opts.logDir, req.tag, new Date(t0));
    const timeoutMs = this.opts.timeoutMs();
    log.line(`# podspawn: building ${req.tag} for environment ${req.environment} (timeout ${timeoutMs} ms)`);
    const onProgress = (e: BuildProgress): void => {
      log.line(e.kind === "step" ? `Step ${e.step}/${e.total} : ${e.instruction}` : e.line);
      if (e.kind === "step") this.tell(req.tag, stepLine(req.environment, e));
    };
    try {
      const r = await this.opts.builder.build(req.context, { tags: [req.tag, ...(req.alsoTag ?? [])], buildArgs: req.buildArgs, labels: req.labels, noCache: req.force === true, timeoutMs, onProgress });
      const ms = this.now() - t0;
      this.failures.delete(req.tag);
      this.opts.log({ kind: "image-built", image: req.tag, environment: req.environment, ms, steps: r.steps, log: log.path });
      return { built: true, logFile: log.path, ms };
    } catch (err) {
      throw this.failed(req, err, log.path, timeoutMs);
    } finally {
      await log.close();
      await pruneBuildLogs(this.opts.logDir).catch(() => undefined);
    }
  }

  /** One message for the user, the detail and the log's path for the admin; remembered for waiters. */
  private failed(req: ImageRequest, err: unknown, logFile: string, timeoutMs: number): Error {
    const build = err instanceof ImageBuildError ? err : new ImageBuildError("engine", String(err), null, []);
    const error = new UserFacingError("build-failed", buildFailureMessage(req.environment, { reason: build.reason, failedStep: build.failedStep, tail: build.tail, timeoutMs }), `${build.message}; full log: ${logFile}`);
    this.opts.log({ kind: "image-build-failed", image: req.tag, environment: req.environment, reason: build.reason, log: logFile, detail: build.message });
    this.failures.delete(req.tag);
    this.failures.set(req.tag, { error });
    if (this.failures.size > FAILURE_MEMORY) this.failures.delete(this.failures.keys().next().value as string);
    return error;
  }
}
