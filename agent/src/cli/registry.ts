import type { Command } from "./command.js";
import { addUserCommand } from "./commands/users/add-user.js";
import { authKeysCommand } from "./commands/auth-keys.js";
import { clientSetupCommand } from "./commands/client/client-setup.js";
import { connectCommand } from "./commands/client/connect.js";
import { daemonCommand } from "./commands/daemon.js";
import { drainCommand } from "./commands/node/drain.js";
import { undrainCommand } from "./commands/node/undrain.js";
import { forwardCommand } from "./commands/client/forward.js";
import { installCommand } from "./commands/node/install.js";
import { hostCaCommand } from "./commands/node/host-ca.js";
import { listUsersCommand } from "./commands/users/list-users.js";
import { metricsCommand } from "./commands/ops/metrics.js";
import { removeUserCommand } from "./commands/users/remove-user.js";
import { serverSetupCommand } from "./commands/node/server-setup.js";
import { spawnCommand } from "./commands/spawn.js";
import { statusCommand } from "./commands/ops/status.js";
import { syncCommand } from "./commands/users/sync.js";
import { doctorCommand } from "./commands/ops/doctor.js";
import { listCommand } from "./commands/ops/list.js";
import { openCommand } from "./commands/client/open.js";
import { serversCommand } from "./commands/client/servers.js";
import { setupCommand } from "./commands/client/setup.js";
import { sshCommand } from "./commands/client/ssh.js";
import { stopCommand } from "./commands/ops/stop.js";
import { versionCommand } from "./commands/ops/version.js";
import { addProjectCommand } from "./commands/projects/add-project.js";
import { updateProjectCommand } from "./commands/projects/update-project.js";
import { removeProjectCommand } from "./commands/projects/remove-project.js";
import { listProjectsCommand } from "./commands/projects/list-projects.js";
import { podfileCommand } from "./commands/podfile/podfile.js";
import { prebuildCommand } from "./commands/podfile/prebuild.js";
import { initCommand } from "./commands/podfile/init.js";

/**
 * Every CLI command, one file each under ./commands. Imported eagerly: this is the full `podspawn`
 * bundle. The hot-path entries (`spawn`, `auth-keys`) have their own tiny bundles in ../bin.
 */
export const COMMANDS: readonly Command[] = [
  installCommand,
  serverSetupCommand,
  hostCaCommand,
  addUserCommand,
  removeUserCommand,
  listUsersCommand,
  syncCommand,
  addProjectCommand,
  updateProjectCommand,
  removeProjectCommand,
  listProjectsCommand,
  podfileCommand,
  prebuildCommand,
  initCommand,
  drainCommand,
  undrainCommand,
  statusCommand,
  listCommand,
  stopCommand,
  doctorCommand,
  metricsCommand,
  versionCommand,
  authKeysCommand,
  spawnCommand,
  daemonCommand,
  connectCommand,
  forwardCommand,
  clientSetupCommand,
  setupCommand,
  sshCommand,
  serversCommand,
  openCommand,
];
