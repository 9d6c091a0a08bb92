import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { githubAccountIdFetcher, githubFetcher, githubKeys, REDIRECT_REFUSED } from "../../agent/src/adapters/github/github-keys.js";
import { formatGithubIdRecord, githubKeysUrl, parseGithubAccountId, parseGithubIdRecord, validateGithubLogin } from "../../agent/src/core/users/github-login.js";
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

  it("names the --github flag by default and says what a login may be", () => {
    assert.throws(
      () => validateGithubLogin("a_b"),
      (e: unknown) => e instanceof InputError && e.message === `--github: "a_b" is not a GitHub login (allowed: 1-39 letters, digits or single hyphens, not starting or ending with '-')`,
    );
    assert.throws(() => validateGithubLogin("-x", "users[0].github"), (e: unknown) => e instanceof InputError && e.field === "users[0].github");
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

  it("gives up at its timeout, not before, and aborts the request", { timeout: 5000 }, async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    let signal!: AbortSignal;
    const hanging = ((_: unknown, init?: RequestInit) => {
      signal = init!.signal!;
      return new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(new Error("This operation was aborted"))));
    }) as typeof fetch;
    const fetching = githubFetcher(hanging, 100)("octocat");
    t.mock.timers.tick(99);
    assert.equal(signal.aborted, false, "not aborted 1 ms before the timeout");
    t.mock.timers.tick(1);
    assert.equal(signal.aborted, true);
    await assert.rejects(fetching, (e: unknown) => e instanceof UserFacingError && e.message === "cannot fetch https://github.com/octocat.keys: no answer within 100 ms");
  });

  it("keeps the deadline over the body: a response that stalls mid-body is abandoned too", { timeout: 5000 }, async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    let signal!: AbortSignal;
    let sent!: () => void;
    const headersSent = new Promise<void>((resolve) => (sent = resolve));
    const stalling = (async (_: unknown, init?: RequestInit) => {
      signal = init!.signal!;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("ssh-ed25519 "));
          signal.addEventListener("abort", () => c.error(new Error("This operation was aborted")));
          sent();
        },
      });
      return new Response(body, { status: 200 });
    }) as typeof fetch;
    const fetching = githubFetcher(stalling, 100)("octocat");
    await headersSent;
    t.mock.timers.tick(100);
    await assert.rejects(fetching, (e: unknown) => e instanceof UserFacingError && /^cannot read https:\/\/github\.com\/octocat\.keys: no answer within 100 ms$/.test(e.message));
  });

  it("clears its timer once the answer is in (nothing left to fire later)", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    let signal!: AbortSignal;
    const quick = (async (_: unknown, init?: RequestInit) => ((signal = init!.signal!), new Response(`${fixtureLine("ed25519")}\n`))) as typeof fetch;
    assert.equal((await githubKeys("octocat", githubFetcher(quick, 100))).length, 1);
    t.mock.timers.tick(1000);
    assert.equal(signal.aborted, false);
  });
});

describe("GitHub account ids", () => {
  it("fetches https://api.github.com/users/LOGIN and reads its numeric id", async () => {
    const seen: string[] = [];
    assert.equal(await githubAccountIdFetcher(fakeFetch(JSON.stringify({ login: "OctoCat", id: 583231, type: "User" }), 200, seen))("octocat"), 583231);
    assert.deepEqual(seen, ["https://api.github.com/users/octocat"]);
  });

  it("refuses HTML, an answer about another login, a missing or non-numeric id, an HTTP error, and an oversized body", async () => {
    await assert.rejects(githubAccountIdFetcher(fakeFetch("<html>rate limited</html>"))("octocat"), /api\.github\.com\/users\/octocat: the answer is not JSON/);
    await assert.rejects(githubAccountIdFetcher(fakeFetch(JSON.stringify({ login: "someone", id: 5 })))("octocat"), /the answer is about "someone", not octocat/);
    for (const id of [undefined, "583231", -1, 0, 1.5, 2 ** 60]) {
      await assert.rejects(githubAccountIdFetcher(fakeFetch(JSON.stringify({ login: "octocat", id })))("octocat"), /has no numeric account id/, String(id));
    }
    await assert.rejects(githubAccountIdFetcher(fakeFetch("{}", 404))("octocat"), (e: unknown) => e instanceof UserFacingError && /HTTP 404/.test(e.message));
    await assert.rejects(githubAccountIdFetcher(fakeFetch(new Uint8Array(2000).fill(65)), 5000, 1000)("octocat"), /larger than 1000 bytes/);
  });

  it("keeps the record as sorted 'login id' lines, lower-cased, ignoring anything else", () => {
    assert.equal(formatGithubIdRecord(new Map([["zed", 2], ["octocat", 583231]])), "octocat 583231\nzed 2\n");
    assert.deepEqual([...parseGithubIdRecord("OctoCat 583231\n# x\nbad line\nzed 2\nq 0\n")], [["octocat", 583231], ["zed", 2]]);
    assert.equal(parseGithubAccountId('{"login":"a","id":1}', "A"), 1);
  });
});

/**
 * Real HTTP servers on loopback: `github` stands in for github.com and api.github.com and answers
 * 301/302; `elsewhere` (another host, 127.0.0.2) and github's own /real paths would answer with
 * valid keys and a valid account, so only the refusal keeps them out.
 */
describe("GitHub redirects (real fetch against local servers)", () => {
  interface Site {
    readonly server: Server;
    readonly base: string;
    readonly paths: string[];
  }
  let github: Site;
  let elsewhere: Site;
  const validKeys = () => `${fixtureLine("ed25519")}\n`;
  const validAccount = JSON.stringify({ login: "octocat", id: 583231 });

  function site(host: string, answer: (path: string, res: import("node:http").ServerResponse) => void): Promise<Site> {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? "");
      answer(req.url ?? "", res);
    });
    return new Promise((resolve) => server.listen(0, host, () => resolve({ server, paths, base: `http://${host}:${(server.address() as AddressInfo).port}` })));
  }
  /** Answers what GitHub would for /real/...; everything else is a redirect chosen by the path. */
  function githubAnswer(path: string, res: import("node:http").ServerResponse): void {
    if (path.startsWith("/real/")) return void res.end(path.endsWith(".keys") ? validKeys() : validAccount);
    const m = /^\/(301|302)-(same|other)(\/.*)$/.exec(path);
    if (!m) return void res.writeHead(404).end();
    const target = m[2] === "same" ? `/real${m[3]}` : `${elsewhere.base}/real${m[3]}`;
    res.writeHead(Number(m[1]), { location: target }).end();
  }
  /** The adapter's own request (URL and init, redirect mode included), sent to the local server under `prefix`. */
  const toLocal = (prefix: string): typeof fetch =>
    ((url: string, init?: RequestInit) => fetch(String(url).replace(/^https:\/\/(api\.)?github\.com/, `${github.base}/${prefix}`), init)) as typeof fetch;

  before(async () => {
    elsewhere = await site("127.0.0.2", (path, res) => void res.end(path.endsWith(".keys") ? validKeys() : validAccount));
    github = await site("127.0.0.1", githubAnswer);
  });
  after(() => {
    github.server.close();
    elsewhere.server.close();
  });

  it("the stand-ins answer with valid keys and a valid account when asked directly (what a followed redirect would get)", async () => {
    assert.equal((await githubKeys("octocat", githubFetcher(toLocal("real")))).length, 1);
    assert.equal(await githubAccountIdFetcher(toLocal("real"))("octocat"), 583231);
    const direct = await fetch(`${elsewhere.base}/real/octocat.keys`);
    assert.equal(await direct.text(), validKeys());
  });

  for (const status of ["301", "302"]) {
    it(`refuses a ${status} to another host for the keys and for the account id, and never asks that host`, async () => {
      const before = elsewhere.paths.length;
      const refused = (e: unknown) => e instanceof UserFacingError && e.code === "github-fetch" && e.message.endsWith(REDIRECT_REFUSED);
      await assert.rejects(githubKeys("octocat", githubFetcher(toLocal(`${status}-other`))), refused);
      await assert.rejects(githubAccountIdFetcher(toLocal(`${status}-other`))("octocat"), refused);
      assert.equal(elsewhere.paths.length, before, "the other host saw no request");
    });

    it(`refuses a ${status} to another path on the same host, which is never requested`, async () => {
      const seen = github.paths.length;
      await assert.rejects(githubKeys("octocat", githubFetcher(toLocal(`${status}-same`))), (e: unknown) => e instanceof UserFacingError && e.message === `cannot fetch https://github.com/octocat.keys: ${REDIRECT_REFUSED}`);
      assert.deepEqual(github.paths.slice(seen), [`/${status}-same/octocat.keys`], "only the redirecting URL was requested");
    });
  }
});
