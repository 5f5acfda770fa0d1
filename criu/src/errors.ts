// Errors meant for people: each says which task and object, what went wrong, what to try.
// The classes live at the lowest layer (sys/errors.ts) so that sys/ can raise them too.
import { CriuError } from './sys/errors.js';
export { CriuError, NotSupportedError, details, type ErrorDetails } from './sys/errors.js';

export function describe(e: unknown): string {
  if (e instanceof CriuError) return e.hint ? `${e.message} (${e.hint})` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
