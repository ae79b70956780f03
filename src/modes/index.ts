import type { Config } from "../config/config";
import type { GateDeps } from "../http/context";
import { hostedMode } from "./hosted";
import type { SessionMode } from "./mode";
import { selfHostedMode } from "./self-hosted";

export type { SessionMode } from "./mode";

/**
 * The mode of a configuration, built once per configuration and set of
 * dependencies: a parsed configuration lives as long as its environment, so
 * each isolate builds its mode (clients, keyring, routes) once.
 */
export function modes(deps: GateDeps): (config: Config) => SessionMode {
  const built = new WeakMap<Config, SessionMode>();
  return (config) => {
    let mode = built.get(config);
    if (mode === undefined) {
      mode =
        config.mode.kind === "hosted"
          ? hostedMode(config, config.mode, deps)
          : selfHostedMode(config, config.mode, deps);
      built.set(config, mode);
    }
    return mode;
  };
}
