// Worker-thread entry for the load peers: starts them, reports where they
// listen, answers count requests, changes their delays and closes on demand.
import { parentPort, workerData } from "node:worker_threads";
import { startLoadPeers } from "./load-peers.mjs";

const peers = await startLoadPeers(workerData);
const { issuer, jwksUrl, chatkitBaseUrl, chatkitServerUrl, tokens } = peers;
parentPort.postMessage({ type: "ready", issuer, jwksUrl, chatkitBaseUrl, chatkitServerUrl, tokens });
parentPort.on("message", async (message) => {
  if (message === "counts") parentPort.postMessage({ type: "counts", counts: { ...peers.counts } });
  if (message?.type === "delays") {
    peers.setDelays(message.delays);
    parentPort.postMessage({ type: "delays-set" });
  }
  if (message === "close") {
    await peers.close();
    parentPort.close();
  }
});
