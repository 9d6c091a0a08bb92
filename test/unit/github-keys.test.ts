import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { githubFetcher, githubKeys } from "../../agent/src/adapters/github/github-keys.js";
import { githubKeysUrl, validateGithubLogin } from "../../agent/src/core/users/github-login.js";
import { InputError, UserFacingError } from "../../agent/src/core/errors.js";
import { fixtureLine } from "./helpers/test-keys.js";

function fakeFetch(body: string | Uint8Array, status = 200, seen: string[] = []): typeof fetch {
  return (async (input: string | URL | Request) => {
    seen.push(String(input));
    return new Response(body, { status });
  }) as typeof fetch;
}

describe("GitHub logins", () => {
  it("accepts GitHub's login syntax and refuses anything else", () => {
    for (const ok of ["octocat", "a", "a-b-c", "A1", "x".repeat(39)]) assert.equal(validateGithubLogin(ok), ok);
    for (const bad of ["", "-a", "a-", "a--b", "a_b", "a/b", "../x", "x".repeat(40), "a.keys"]) assert.throws(() => validateGithubLogin(bad), InputError, bad);
  });

  it("builds the .keys URL", () => {
    assert.equal(githubKeysUrl("octocat"), "https://github.com/octocat.keys");
  });
});

describe("githubFetcher", () => {
  it("fetches https://github.com/LOGIN.keys and returns the keys", async () => {
    const seen: string[] = [];
    const keys = await githubKeys("octocat", githubFetcher(fakeFetch(`${fixtureLine("ed25519")}\n${fixtureLine("ecdsa256")}\n`, 200, seen)));
    assert.deepEqual(seen, ["https://github.com/octocat.keys"]);
    assert.equal(keys.length, 2);
  });

  it("refuses every key when one line is bad (all or nothing)", async () => {
    const fetcher = githubFetcher(fakeFetch(`${fixtureLine("ed25519")}\n${fixtureLine("rsa1024")}\n`));
    await assert.rejects(githubKeys("octocat", fetcher), (e: unknown) => e instanceof InputError && /--github octocat:2/.test(e.message));
  });

  it("refuses a response larger than the cap", async () => {
    const fetcher = githubFetcher(fakeFetch(new Uint8Array(2000).fill(65)), 5000, 1000);
    await assert.rejects(fetcher("octocat"), (e: unknown) => e instanceof UserFacingError && /larger than 1000 bytes/.test(e.message));
  });

  it("refuses an HTTP error and an account with no keys", async () => {
    await assert.rejects(githubFetcher(fakeFetch("Not Found", 404))("nobody"), /HTTP 404/);
    await assert.rejects(githubKeys("empty", githubFetcher(fakeFetch("\n"))), /has no public keys/);
  });

  it("gives up after its timeout", async () => {
    const hanging = ((_: unknown, init?: RequestInit) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(new Error("aborted by timeout"))))) as typeof fetch;
    // AbortSignal.timeout's timer is unref'd; a real fetch holds the loop open with its socket.
    const keepAlive = setTimeout(() => undefined, 5000);
    const started = Date.now();
    await assert.rejects(githubFetcher(hanging, 100)("octocat"), /aborted by timeout/);
    assert.ok(Date.now() - started < 2000);
    clearTimeout(keepAlive);
  });
});
