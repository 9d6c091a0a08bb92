import type { ContainerSpec } from "../../core/container/container-spec.js";
import { AccountIdTaken, planAccount, type AccountFiles } from "../../core/container/account-plan.js";
import { UserFacingError } from "../../core/errors.js";
import type { ContainerAccount } from "../../core/container/exec-plan.js";
import { parseClaimMarker, parseReadyMarker, READY_MARKER_DIR, READY_MARKER_PATH, renderReadyMarker, type PoolClaim } from "../../core/container/ready-marker.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { TarEntry } from "../../support/tar.js";

const SKELETON_FILES = [".bashrc", ".profile", ".bash_logout"];
/** Images seen by one daemon are few; the bound only keeps a long-lived daemon's memory flat. */
const IMAGE_FACTS_LIMIT = 64;

/** What the account plan needs from an image. */
interface ImageFacts {
  readonly passwd: string;
  readonly group: string;
  readonly hasBash: boolean;
  /** Skeleton dotfiles by file name. */
  readonly skel: ReadonlyMap<string, Buffer>;
}

function rootFile(path: string, data: string): TarEntry {
  return { path, type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from(data) };
}

/**
 * Writes the pod user's account into a created, not yet started container, and reads back the
 * proof that it did (the ready marker). The engine writes the files from outside, so nothing
 * inside the container needs CAP_CHOWN, CAP_SETUID or a useradd run as root.
 */
export class AccountProvisioner {
  private readonly imageFactsCache = new Map<string, ImageFacts>();

  constructor(
    private readonly runtime: ContainerRuntime,
    /** The user's host-unique container id (core/container/account-plan.ts podAccountId), or null without a host account. */
    private readonly podIdOf: (user: string) => number | null,
  ) {}

  /**
   * passwd, group, home, skeleton and the ready marker in one archive call. Returns the account
   * the sessions run as. `claim`: the container comes from the pool, and the marker records for
   * which project (its labels cannot say). `shell`: the Podfile's, which the image must have.
   */
  async provision(containerId: string, imageId: string, user: string, spec: Pick<ContainerSpec, "homeVolume">, claim: PoolClaim | null = null, shell: string | null = null): Promise<ContainerAccount> {
    const facts = await this.imageFacts(containerId, imageId);
    if (shell !== null && !(await this.runtime.pathExists(containerId, shell))) throw new UserFacingError("project-unfit", `this environment's shell ${shell} (the Podfile's shell) is not in its image`, "install it through packages, or change shell");
    const plan = this.plan(user, facts, shell);
    // The image's skeleton dotfiles (prompt, PATH, aliases), unless a persistent home has its own.
    const keepHome = spec.homeVolume !== null && (await this.runtime.pathExists(containerId, `${plan.account.home}/.profile`));
    await this.runtime.writeFiles(containerId, [...accountArchive(plan, keepHome ? new Map() : facts.skel), ...markerEntries(containerId, plan.account, claim)]);
    return plan.account;
  }

  private plan(user: string, facts: ImageFacts, shell: string | null): AccountFiles {
    const id = this.podIdOf(user);
    if (id === null) throw new UserFacingError("account-id", `${user} has no host account on this node; tell the node's admin`);
    try {
      return planAccount(user, facts.passwd, facts.group, facts.hasBash, id, shell);
    } catch (err) {
      if (err instanceof AccountIdTaken) throw new UserFacingError("account-id", `this environment's image gives your id ${err.id} to its ${err.holder}; ask the admin to change the image`, err.message);
      throw err;
    }
  }

  /** Read the image's account facts from a pooled container ahead of its claim, so the claim pays no reads. */
  async warm(containerId: string, imageId: string): Promise<void> {
    await this.imageFacts(containerId, imageId);
  }

  /**
   * The account recorded by the ready marker of this very container, or null if it has none. With
   * `project` (a pooled container), only a marker that records its claim for that project counts.
   */
  async readMarker(containerId: string, user: string, project?: string): Promise<ContainerAccount | null> {
    const text = await this.markerText(containerId);
    return text === null ? null : parseReadyMarker(text, containerId, user, project);
  }

  /** The account and claim of a claimed pooled container (after a restart), or null. */
  async readClaim(containerId: string, user: string): Promise<ReturnType<typeof parseClaimMarker>> {
    const text = await this.markerText(containerId);
    return text === null ? null : parseClaimMarker(text, containerId, user);
  }

  /** Whether a container has a ready marker at all (an unclaimed pooled one must not). */
  async hasMarker(containerId: string): Promise<boolean> {
    return (await this.markerText(containerId)) !== null;
  }

  private async markerText(containerId: string): Promise<string | null> {
    const files = await this.runtime.readFiles(containerId, [READY_MARKER_PATH]);
    return files.get(READY_MARKER_PATH)?.toString("utf8") ?? null;
  }

  /**
   * Read once per image id: every archive call makes the engine mount the container's filesystem
   * (~30 ms), and a cold login should pay as few as possible.
   */
  private async imageFacts(containerId: string, imageId: string): Promise<ImageFacts> {
    const cached = this.imageFactsCache.get(imageId);
    if (cached) return cached;
    const files = await this.runtime.readFiles(containerId, ["/etc/passwd", "/etc/group", ...SKELETON_FILES.map((f) => `/etc/skel/${f}`)]);
    const facts: ImageFacts = {
      passwd: files.get("/etc/passwd")?.toString("utf8") ?? "root:x:0:0:root:/root:/bin/sh\n",
      group: files.get("/etc/group")?.toString("utf8") ?? "root:x:0:\n",
      hasBash: await this.runtime.pathExists(containerId, "/bin/bash"),
      skel: new Map([...files].filter(([p]) => p.startsWith("/etc/skel/")).map(([p, data]) => [p.slice("/etc/skel/".length), data])),
    };
    if (this.imageFactsCache.size >= IMAGE_FACTS_LIMIT) this.imageFactsCache.delete(this.imageFactsCache.keys().next().value as string);
    this.imageFactsCache.set(imageId, facts);
    return facts;
  }
}

function accountArchive(plan: AccountFiles, skel: ReadonlyMap<string, Buffer>): TarEntry[] {
  const a = plan.account;
  const home = a.home.replace(/^\//, "");
  return [
    ...(plan.passwd !== null ? [rootFile("etc/passwd", plan.passwd)] : []),
    ...(plan.group !== null ? [rootFile("etc/group", plan.group)] : []),
    { path: home, type: "dir", mode: 0o750, uid: a.uid, gid: a.gid },
    ...[...skel].map(([name, data]): TarEntry => ({ path: `${home}/${name}`, type: "file", mode: 0o644, uid: a.uid, gid: a.gid, data })),
  ];
}

/** The marker comes last in its archive: if the engine stopped half-way through, it is absent. */
function markerEntries(containerId: string, account: ContainerAccount, claim: PoolClaim | null): TarEntry[] {
  return [{ path: READY_MARKER_DIR.slice(1), type: "dir", mode: 0o755, uid: 0, gid: 0 }, rootFile(READY_MARKER_PATH.slice(1), renderReadyMarker(containerId, account, claim))];
}
