import { startSshHost } from "../peers/sshd.ts";
import { datasetSuite } from "./dataset-suite.ts";

// The same journey against a second host: sshd in its own network namespace.
datasetSuite("host over SSH", async () => {
  const ssh = await startSshHost();
  return {
    connection: `address: "${ssh.address}", ${ssh.connectConfig}`,
    stop: () => ssh.stop(),
  };
});
