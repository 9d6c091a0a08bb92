/**
 * The daemon's port to an image builder, in our own types (shaped like testcontainers'
 * ImageClient: `build(context, opts)`, `exists(name)`). The Docker adapter (the Engine API's
 * classic `/build`: engine 20.10 has no BuildKit here) and the in-memory fake both pass
 * test/conformance/image-builder-conformance.ts.
 */

/** One file of a build context. Paths are relative, `/`-separated, without `..`. */
export interface BuildContextFile {
  readonly path: string;
  readonly data: Buffer;
  /** @default 0o644 */
  readonly mode?: number;
}

/** What a build reports while it runs, in order. */
export type BuildProgress =
  /** An instruction starts: `Step 3/7 : RUN ...` from the engine. */
  | { readonly kind: "step"; readonly step: number; readonly total: number; readonly instruction: string }
  /** One line of output (of a RUN, or the builder's own), without its newline or colour codes. */
  | { readonly kind: "output"; readonly line: string };

export interface ImageBuildOptions {
  /** Every tag the result gets; at least one. */
  readonly tags: readonly string[];
  /** @default "Dockerfile" */
  readonly dockerfile?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** Rebuild every step (no layer cache). @default false */
  readonly noCache?: boolean;
  /** The build is stopped (and rejects with reason `timeout`) after this long. */
  readonly timeoutMs: number;
  /** Stops the build (reason `aborted`). */
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: BuildProgress) => void;
}

export interface ImageBuildResult {
  /** The engine's id of the image the tags now name. */
  readonly imageId: string;
  /** Instructions the engine ran (the last `Step N/M` seen). */
  readonly steps: number;
}

/**
 * step-failed: an instruction failed (a RUN's exit status, a base image that is not there);
 * invalid: the engine refused the Dockerfile before running anything; timeout / aborted: stopped
 * by the deadline or the caller; engine: the engine itself failed or went away.
 */
export type BuildFailureReason = "step-failed" | "invalid" | "timeout" | "aborted" | "engine";

/** How far a build got when it failed. */
export interface FailedStep {
  readonly step: number;
  readonly total: number;
  readonly instruction: string;
}

/**
 * A build that did not produce its image. `tail` is the last lines of output of the step that
 * failed (bounded), then the engine's own error; no tag was moved.
 */
export class ImageBuildError extends Error {
  override readonly name = "ImageBuildError";
  constructor(
    readonly reason: BuildFailureReason,
    message: string,
    readonly failedStep: FailedStep | null,
    readonly tail: readonly string[],
  ) {
    super(message);
  }
}

/** Lines of the failing step kept for the error; the whole log goes to onProgress. */
export const BUILD_ERROR_TAIL_LINES = 20;

export interface ImageBuilder {
  /** Builds `context` and tags the result with every `opts.tags`; rejects with ImageBuildError. */
  build(context: readonly BuildContextFile[], opts: ImageBuildOptions): Promise<ImageBuildResult>;
  /** Whether the engine has an image of that name (tag or id). */
  exists(image: string): Promise<boolean>;
}
