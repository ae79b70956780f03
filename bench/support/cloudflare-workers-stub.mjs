// What the bundle imports from `cloudflare:workers`, for running it in Node.
// workerd provides that module; Node has no such scheme, so the in-process
// sections resolve it here (see worker-instance.mjs). The classes only need
// to be extendable: no in-process benchmark binds a Durable Object.
export class DurableObject {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export class WorkerEntrypoint {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export class RpcTarget {}
