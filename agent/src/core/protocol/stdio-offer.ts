/** What spawn offers in HELLO: its pid and its start time (field 22 of /proc/self/stat). */
export interface StdioOffer {
  readonly pid: number;
  readonly startTime: string;
}

/** HELLO's `stdio`: a plausible pid and start time, or null (anything else is no offer, never an error). */
export function stdioOfferOf(raw: unknown): StdioOffer | null {
  if (typeof raw !== "object" || raw === null) return null;
  const { pid, start } = raw as { pid?: unknown; start?: unknown };
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 1 || pid > 4_194_304) return null;
  return typeof start === "string" && /^\d{1,20}$/.test(start) ? { pid, startTime: start } : null;
}
