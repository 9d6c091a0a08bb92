// Entry of the full CLI bundle. Only this file ends the process: once a command has returned
// (including the daemon after SIGTERM), lingering keep-alive sockets must not keep it running.
import { main } from "../cli/main.js";

function exit(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

main(process.argv.slice(2)).then(exit, (err: unknown) => {
  process.stderr.write(`podspawn: internal error: ${String(err)}\n`);
  exit(1);
});
