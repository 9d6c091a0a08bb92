/**
 * Docker image references, by the grammar of the distribution spec: `[registry[:port]/]path[:tag][@sha256:hex]`,
 * path components lowercase. One word: nothing with a blank can pass, so `alpine --privileged`
 * never reaches the engine as a reference, let alone as an option.
 */
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const HOST_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const REGISTRY = `${HOST_LABEL}(?:\\.${HOST_LABEL})*(?::[0-9]{1,5})?`;
const TAG = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST = "sha256:[a-f0-9]{64}";

/** The whole reference, as a RegExp source (also the JSON Schema `pattern`). */
export const IMAGE_REF_PATTERN = `^(?:${REGISTRY}/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`;
export const IMAGE_REF = new RegExp(IMAGE_REF_PATTERN);
export const IMAGE_REF_MAX = 512;

export const IMAGE_REF_ALLOWED = "one word [registry/]name[:tag][@sha256:digest], lowercase name, e.g. podspawn/default:bookworm; no blanks, no options";

export function isImageRef(value: string): boolean {
  return value.length <= IMAGE_REF_MAX && IMAGE_REF.test(value);
}
