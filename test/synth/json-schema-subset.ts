/**
 * A tiny JSON Schema evaluator for the keywords the published schemas use, written apart from
 * zod so a test can check that what editors are told (the JSON file) agrees with what the
 * validator does. An unknown keyword is an error, so a schema that grows new rules is noticed.
 */
type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(["$schema", "$id", "title", "description"]);

function typeOk(type: unknown, v: unknown): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "array":
      return Array.isArray(v);
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    default:
      throw new Error(`unsupported type ${String(type)}`);
  }
}

export function jsonSchemaAccepts(schema: Schema, v: unknown): boolean {
  for (const [k, rule] of Object.entries(schema)) {
    if (ANNOTATIONS.has(k)) continue;
    const ok = ((): boolean => {
      switch (k) {
        case "type":
          return typeOk(rule, v);
        case "const":
          return v === rule;
        case "pattern":
          return typeof v !== "string" || new RegExp(rule as string, "u").test(v);
        case "maxLength":
          return typeof v !== "string" || [...v].length <= (rule as number);
        case "minItems":
          return !Array.isArray(v) || v.length >= (rule as number);
        case "minimum":
          return typeof v !== "number" || v >= (rule as number);
        case "maximum":
          return typeof v !== "number" || v <= (rule as number);
        case "items":
          return !Array.isArray(v) || v.every((item) => jsonSchemaAccepts(rule as Schema, item));
        case "required":
          return !typeOk("object", v) || (rule as string[]).every((r) => Object.hasOwn(v as object, r));
        case "properties":
          return !typeOk("object", v) || Object.entries(rule as Record<string, Schema>).every(([p, s]) => !Object.hasOwn(v as object, p) || jsonSchemaAccepts(s, (v as Record<string, unknown>)[p]));
        case "additionalProperties":
          if (rule !== false) throw new Error("only additionalProperties: false is supported");
          return !typeOk("object", v) || Object.keys(v as object).every((p) => Object.hasOwn((schema["properties"] ?? {}) as object, p));
        default:
          throw new Error(`unsupported keyword ${k}`);
      }
    })();
    if (!ok) return false;
  }
  return true;
}
