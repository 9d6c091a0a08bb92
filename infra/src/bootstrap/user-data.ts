import { gzipSync } from "node:zlib";

/** EC2 refuses user data over 16 KB (before base64); cloud-init unpacks gzip itself. */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export interface UserData {
  /** What goes into `user_data_base64`. */
  readonly base64: string;
  readonly gzipBytes: number;
  readonly rawBytes: number;
}

/** Gzips a rendered script for EC2 and fails synth, not the launch, when it is too big. */
export function renderUserData(script: string): UserData {
  const gz = gzipSync(Buffer.from(script, "utf8"), { level: 9 });
  if (gz.length > USER_DATA_LIMIT_BYTES) {
    throw new Error(`user data is ${gz.length} bytes gzipped, over the EC2 limit of ${USER_DATA_LIMIT_BYTES}`);
  }
  return { base64: gz.toString("base64"), gzipBytes: gz.length, rawBytes: Buffer.byteLength(script) };
}
