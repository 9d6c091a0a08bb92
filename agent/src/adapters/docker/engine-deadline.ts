import type Docker from "dockerode";
import { UserFacingError } from "../../core/errors.js";

/**
 * A deadline on every Docker Engine API call. dockerode sends every request through its modem's
 * `dial`, so one wrapper there covers each method, exec included, without touching the callers:
 * the deadline runs until the engine answers (the response, or the upgrade of a hijacked exec
 * stream), never over a stream that has been handed back. A hung engine (one that accepts
 * connections and never answers) then ends a session with one line instead of hanging it.
 */

export interface EngineTimeouts {
  /** Create, start, remove, networks, files, exec. */
  readonly callMs: number;
  /** Ping, inspect, list, resize: answers the engine has at hand. */
  readonly inspectMs: number;
}

export const DEFAULT_ENGINE_TIMEOUTS: EngineTimeouts = { callMs: 30_000, inspectMs: 10_000 };

type Budget = keyof EngineTimeouts;

/** Call names, a fixed set (metrics label them). Order matters: the first match wins. */
const CALLS = [
  { name: "ping", method: "GET", path: /^\/_ping$/, budget: "inspectMs" },
  { name: "container list", method: "GET", path: /^\/containers\/json$/, budget: "inspectMs" },
  { name: "container create", method: "POST", path: /^\/containers\/create$/, budget: "callMs" },
  { name: "container inspect", method: "GET", path: /^\/containers\/[^/]+\/json$/, budget: "inspectMs" },
  { name: "container start", method: "POST", path: /^\/containers\/[^/]+\/start$/, budget: "callMs" },
  { name: "container remove", method: "DELETE", path: /^\/containers\/[^/]+$/, budget: "callMs" },
  { name: "archive stat", method: "HEAD", path: /^\/containers\/[^/]+\/archive$/, budget: "inspectMs" },
  { name: "archive read", method: "GET", path: /^\/containers\/[^/]+\/archive$/, budget: "callMs" },
  { name: "archive write", method: "PUT", path: /^\/containers\/[^/]+\/archive$/, budget: "callMs" },
  { name: "exec create", method: "POST", path: /^\/containers\/[^/]+\/exec$/, budget: "callMs" },
  { name: "exec start", method: "POST", path: /^\/exec\/[^/]+\/start$/, budget: "callMs" },
  { name: "exec inspect", method: "GET", path: /^\/exec\/[^/]+\/json$/, budget: "inspectMs" },
  { name: "exec resize", method: "POST", path: /^\/exec\/[^/]+\/resize$/, budget: "inspectMs" },
  { name: "image inspect", method: "GET", path: /^\/images\/.+\/json$/, budget: "inspectMs" },
  { name: "network list", method: "GET", path: /^\/networks$/, budget: "inspectMs" },
  { name: "network create", method: "POST", path: /^\/networks\/create$/, budget: "callMs" },
  { name: "network remove", method: "DELETE", path: /^\/networks\/[^/]+$/, budget: "callMs" },
  { name: "volume list", method: "GET", path: /^\/volumes$/, budget: "inspectMs" },
  { name: "volume remove", method: "DELETE", path: /^\/volumes\/[^/]+$/, budget: "callMs" },
] as const satisfies readonly { name: string; method: string; path: RegExp; budget: Budget }[];

export const ENGINE_CALL_NAMES: readonly string[] = [...CALLS.map((c) => c.name), "other"];

export interface EngineCall {
  readonly name: string;
  readonly budget: Budget;
}

/** Which call a request is, from its method and path (`/v1.41/containers/x/json?...` or without the version). */
export function engineCallOf(method: string, path: string): EngineCall {
  const bare = path.split("?")[0]?.replace(/^\/v\d+\.\d+(?=\/)/, "") ?? "";
  const known = CALLS.find((c) => c.method === method.toUpperCase() && c.path.test(bare));
  // Anything new gets the longer budget: still a deadline, never none.
  return known ? { name: known.name, budget: known.budget } : { name: "other", budget: "callMs" };
}

function shownDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The engine took longer than the call's budget. The user reads the message, the admin the detail. */
export class EngineTimeout extends UserFacingError {
  constructor(
    readonly call: string,
    readonly ms: number,
    request: string,
  ) {
    super("engine-timeout", `the container engine on this node did not answer within ${shownDuration(ms)}`, `${call} (${request}) got no answer within ${ms} ms`);
  }
}

export interface DeadlineOptions {
  readonly timeouts: () => EngineTimeouts;
  /** Told about every call that ran out of time (the daemon logs and counts it). */
  readonly onTimeout?: (call: string, ms: number) => void;
}

/** Run `work` with an abort signal; past `ms` the signal fires and the promise rejects with EngineTimeout. */
export function withDeadline<T>(call: EngineCall, request: string, opts: DeadlineOptions, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ms = opts.timeouts()[call.budget];
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      opts.onTimeout?.(call.name, ms);
      reject(new EngineTimeout(call.name, ms, request));
    }, ms);
    work(controller.signal).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

type Modem = Docker["modem"];
type DialOptions = Parameters<Modem["dial"]>[0];
type DialCallback = NonNullable<Parameters<Modem["dial"]>[1]>;

/** Whatever arrives after the deadline (a hijacked socket, a response stream) is closed, not leaked. */
function discard(result: unknown): void {
  const stream = result as { destroy?: () => void } | null;
  if (stream && typeof stream.destroy === "function") stream.destroy();
}

/** Give every request of this modem a deadline (see the top of this file). */
export function applyDeadlines(modem: Modem, opts: DeadlineOptions): void {
  const dial = modem.dial.bind(modem);
  modem.dial = (options: DialOptions, callback?: DialCallback): void => {
    const method = options.method ?? "GET";
    const call = engineCallOf(method, options.path);
    let late = false;
    withDeadline(call, `${method} ${options.path.split("?")[0]}`, opts, (signal) => {
      signal.addEventListener("abort", () => (late = true), { once: true });
      const abortSignal = options.abortSignal ? AbortSignal.any([options.abortSignal, signal]) : signal;
      return new Promise<Parameters<DialCallback>[1]>((resolve, reject) => {
        dial({ ...options, abortSignal }, (err, result) => {
          if (late) return discard(result);
          if (err) reject(err);
          else resolve(result);
        });
      });
    }).then(
      (result) => callback?.(null, result),
      (err: Error) => callback?.(err, null),
    );
  };
}
