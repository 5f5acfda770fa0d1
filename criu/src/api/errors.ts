// The errors the Node API rejects with: the tool's own (CriuError, NotSupportedError, made again
// on the caller's side with the message, hint, task and object the CLI would print), and one of
// its own for an aborted call.
import { CriuError, NotSupportedError } from '../errors.js';
import type { WireError } from './protocol.js';

/** The caller's AbortSignal fired before the operation's last step: nothing was changed. */
export class AbortError extends CriuError {
  override readonly name = 'AbortError';
}

/** An error thrown in the worker, as it goes over postMessage. */
export function toWire(e: unknown): WireError {
  if (!(e instanceof Error)) return { kind: 'Error', message: String(e) };
  const kind = e instanceof AbortError ? 'AbortError' : e instanceof NotSupportedError ? 'NotSupportedError' : e instanceof CriuError ? 'CriuError' : 'Error';
  const w: WireError = { kind, message: e.message, stack: e.stack };
  if (e instanceof CriuError) {
    if (e.hint !== undefined) w.hint = e.hint;
    if (e.task !== undefined) w.task = e.task;
    if (e.object !== undefined) w.object = e.object;
  }
  return w;
}

/** The same error again, on the caller's side: the same class, message and details. */
export function fromWire(w: WireError, cause?: unknown): Error {
  const d = { hint: w.hint, task: w.task, object: w.object };
  let e: Error;
  if (w.kind === 'AbortError') e = new AbortError(w.message, d);
  else if (w.kind === 'NotSupportedError') {
    e = new NotSupportedError('', d);
    e.message = w.message;
  } else if (w.kind === 'CriuError') e = new CriuError(w.message, d);
  else e = new Error(w.message);
  if (cause !== undefined) (e as { cause?: unknown }).cause = cause;
  if (w.stack) e.stack = `${e.name}: ${w.message}\n    (in the criu-ts worker thread)\n${w.stack.split('\n').slice(1).join('\n')}`;
  return e;
}
