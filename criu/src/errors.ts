// Errors meant for people: each says which task and object, what went wrong, what to try.
export class CriuError extends Error {
  constructor(message: string, readonly hint?: string) { super(message); }
}
/** State the tool cannot checkpoint or restore yet: the operation stops before touching anything. */
export class NotSupportedError extends CriuError {
  constructor(what: string, hint?: string) { super(`not supported yet: ${what}`, hint); }
}
export function describe(e: unknown): string {
  if (e instanceof CriuError) return e.hint ? `${e.message} (${e.hint})` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
