// The one error family, at the lowest layer so that every layer (sys included) can use it.
// Errors are meant for people: each says which task and object, what went wrong, what to try.
// criu/src/errors.ts re-exports these; code outside criu/src/sys imports them from there.

/** Where an error happened and what to try: every field optional. */
export interface ErrorDetails {
  /** the task (pid or tid) the error is about */
  task?: number;
  /** what it is about: "fd 5", "VMA 7f00..-7f01..", a path, an image file, entry or field */
  object?: string;
  /** what the user can try, printed after the message by describe() */
  hint?: string;
}

/** Every error the tool raises extends this. The second argument is a hint or the details. */
export class CriuError extends Error {
  readonly task?: number;
  readonly object?: string;
  readonly hint?: string;
  constructor(message: string, details?: string | ErrorDetails) {
    super(message);
    const d: ErrorDetails = typeof details === 'string' ? { hint: details } : (details ?? {});
    if (d.task !== undefined) this.task = d.task;
    if (d.object !== undefined) this.object = d.object;
    if (d.hint !== undefined) this.hint = d.hint;
  }
}

/** State the tool cannot checkpoint or restore yet: the operation stops before touching anything. */
export class NotSupportedError extends CriuError {
  constructor(what: string, details?: string | ErrorDetails) {
    super(`not supported yet: ${what}`, details);
  }
}

/** Details merged: the later ones win where they say something. */
export function details(...ds: (ErrorDetails | string | undefined)[]): ErrorDetails {
  const out: ErrorDetails = {};
  for (const d of ds) {
    const x = typeof d === 'string' ? { hint: d } : d;
    if (!x) continue;
    if (x.task !== undefined) out.task = x.task;
    if (x.object !== undefined) out.object = x.object;
    if (x.hint !== undefined) out.hint = x.hint;
  }
  return out;
}
