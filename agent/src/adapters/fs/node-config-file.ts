import { DEFAULT_NODE_CONFIG, NODE_CONFIG_MAX_BYTES, parseNodeConfigYaml, type NodeConfig } from "../../core/config/node-config.js";
import { readCappedTextFile } from "./capped-file.js";

/** The node's config.yaml: a missing file is all defaults; a bad one is an InputError naming file and line. */
export async function loadNodeConfig(file: string): Promise<NodeConfig> {
  const text = await readCappedTextFile(file, NODE_CONFIG_MAX_BYTES);
  return text === null ? DEFAULT_NODE_CONFIG : parseNodeConfigYaml(text, file);
}
