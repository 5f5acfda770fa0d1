// Staged opens, as CRIU orders them: an open may wait for other objects (a tty slave for its
// master, a unix connect for its peer's listen). Each kind says what an entry waits for
// (FileKind.waitsFor); this orders the opens so that each comes after everything it waits for,
// depth first from the ids asked for, and refuses a cycle or a wait for an object the images
// do not have, naming the objects.
import { FileError } from './kind.js';

export interface StagedGraph {
  /** the ids `id` waits for */
  waitsFor(id: number): number[];
  /** whether the images hold `id` */
  has(id: number): boolean;
  /** whether `id` is open already (it and what it waited for are skipped) */
  done(id: number): boolean;
  /** "file id 4 (unix)" for messages */
  describe(id: number): string;
}

/** The ids to open, in order, for `want` and whatever it waits for (those already open left out). */
export function stagedOrder(want: readonly number[], g: StagedGraph, who: string): number[] {
  const out: number[] = [];
  const state = new Map<number, 'open' | 'placed'>();
  const path: number[] = [];
  const visit = (id: number, by: number | undefined): void => {
    if (g.done(id) || state.get(id) === 'placed') return;
    if (!g.has(id)) {
      if (by === undefined)
        throw new FileError(who, `file id ${id} is not in files.img`, { object: `file id ${id}`, hint: 'the image is damaged or incomplete' });
      throw new FileError(who, `${g.describe(by)} waits for file id ${id}, which is not in files.img`, {
        object: `file id ${id}`,
        hint: 'the image is damaged or incomplete',
      });
    }
    if (state.get(id) === 'open') {
      const cycle = [...path.slice(path.indexOf(id)), id].map((x) => g.describe(x));
      throw new FileError(who, `the opens wait for each other in a cycle: ${cycle.join(' waits for ')}`, {
        object: g.describe(id),
        hint: 'the image is damaged',
      });
    }
    state.set(id, 'open');
    path.push(id);
    for (const dep of g.waitsFor(id)) visit(dep, id);
    path.pop();
    state.set(id, 'placed');
    out.push(id);
  };
  for (const id of want) visit(id, undefined);
  return out;
}
