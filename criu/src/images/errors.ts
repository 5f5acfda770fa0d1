import { CriuError, details, type ErrorDetails } from '../errors.js';

/**
 * The one error type of the image layer. Its message is a single line meant for
 * users ("pstree.img: offset 12: entry length 900 goes past the end of the file (40 bytes)"),
 * so front ends such as crit print it as is, without a stack trace.
 */
export class ImageError extends CriuError {
  /** File name (or "<stdin>") the problem was found in, when known. */
  readonly file?: string;
  /** Byte offset in that file, when known. */
  readonly offset?: number;

  constructor(message: string, file?: string, offset?: number, more?: ErrorDetails) {
    const where = [file, offset !== undefined ? `offset ${offset}` : undefined].filter(Boolean).join(': ');
    super(where ? `${where}: ${message}` : message, details({ object: where || undefined }, more));
    this.name = 'ImageError';
    this.file = file;
    this.offset = offset;
  }
}

/** Raised by the protobuf codec; the image reader turns it into an ImageError. */
export class ProtoError extends CriuError {
  /** Where in the message: field names from the outermost in ("thread_info", "fpregs", "xsave"). */
  readonly path: string[] = [];
  constructor(
    message: string,
    readonly pos?: number,
    more?: ErrorDetails,
  ) {
    super(message, more);
    this.name = 'ProtoError';
  }
  /** "thread_info.fpregs.xsave", or undefined at the top of the message. */
  get field(): string | undefined {
    return this.path.length ? this.path.join('.') : undefined;
  }
}
