// The main thread's handle on the load peers running in a worker thread.
import { once } from "node:events";
import { Worker } from "node:worker_threads";

/** Starts the load peers in a worker thread; `users` tokens are minted there, one per user. */
export async function startLoadPeersThread({ users }) {
  const worker = new Worker(new URL("./load-peers-thread.mjs", import.meta.url), { workerData: { users } });
  const [ready] = await once(worker, "message");
  const next = (type) =>
    new Promise((resolve) => {
      const listener = (message) => {
        if (message.type !== type) return;
        worker.off("message", listener);
        resolve(message);
      };
      worker.on("message", listener);
    });
  return {
    ...ready,
    counts: async () => {
      const answer = next("counts");
      worker.postMessage("counts");
      return (await answer).counts;
    },
    /** Switches the peers to another delay profile (see NO_DELAYS in load-peers.mjs); resolves once in force. */
    setDelays: async (delays) => {
      const answer = next("delays-set");
      worker.postMessage({ type: "delays", delays });
      await answer;
    },
    close: async () => {
      worker.postMessage("close");
      await Promise.race([once(worker, "exit"), new Promise((resolve) => setTimeout(resolve, 2_000))]);
      await worker.terminate();
    },
  };
}
